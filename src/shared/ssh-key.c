/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#include "openssl-util.h"
#include "ssh-key.h"
#include "validate.h"

struct SshKey {
        SshKeyType type;
        EVP_PKEY *pkey;
        bool private;
        uint8_t *blob;
        size_t blob_size;
        char *comment;
};

static const char *const ssh_key_type_table[_SSH_KEY_TYPE_MAX] = {
        [SSH_KEY_ED25519] = "ssh-ed25519",
        [SSH_KEY_ECDSA_P256] = "ecdsa-sha2-nistp256",
        [SSH_KEY_ECDSA_P384] = "ecdsa-sha2-nistp384",
        [SSH_KEY_ECDSA_P521] = "ecdsa-sha2-nistp521",
        [SSH_KEY_RSA] = "ssh-rsa",
};

DEFINE_STRING_TABLE_LOOKUP(ssh_key_type, SshKeyType);

#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 16384
#define RSA_EXPONENT_MAX 8 /* bytes: OpenSSL refuses larger ones with large moduli */
#define ED25519_SIZE 32

typedef struct EcdsaCurve {
        const char *ssh_name;   /* in blobs */
        const char *group;      /* OpenSSL's */
        size_t field_size;      /* bytes of a coordinate, and at most of a scalar */
} EcdsaCurve;

static const EcdsaCurve *ecdsa_curve(SshKeyType t) {
        static const EcdsaCurve curves[_SSH_KEY_TYPE_MAX] = {
                [SSH_KEY_ECDSA_P256] = { "nistp256", "P-256", 32 },
                [SSH_KEY_ECDSA_P384] = { "nistp384", "P-384", 48 },
                [SSH_KEY_ECDSA_P521] = { "nistp521", "P-521", 66 },
        };

        if (t < 0 || t >= _SSH_KEY_TYPE_MAX || !curves[t].ssh_name)
                return NULL;
        return &curves[t];
}

/* The signature algorithms accepted for each key type, with the digest each signs; the
 * first of a type is the one ssh_key_sign() uses. */
static const struct {
        SshKeyType type;
        const char *name;
        const char *digest; /* NULL: the algorithm hashes by itself (Ed25519) */
} signature_algorithms[] = {
        { SSH_KEY_ED25519, "ssh-ed25519", NULL },
        { SSH_KEY_ECDSA_P256, "ecdsa-sha2-nistp256", "SHA256" },
        { SSH_KEY_ECDSA_P384, "ecdsa-sha2-nistp384", "SHA384" },
        { SSH_KEY_ECDSA_P521, "ecdsa-sha2-nistp521", "SHA512" },
        { SSH_KEY_RSA, "rsa-sha2-512", "SHA512" },
        { SSH_KEY_RSA, "rsa-sha2-256", "SHA256" },
};

static int key_type_from_wire(const uint8_t *p, size_t n, SshKeyType *ret) {
        for (SshKeyType t = 0; t < _SSH_KEY_TYPE_MAX; t++)
                if (strlen(ssh_key_type_table[t]) == n && memcmp(p, ssh_key_type_table[t], n) == 0) {
                        *ret = t;
                        return 0;
                }
        return -EPROTONOSUPPORT; /* ssh-dss, sk-*, certificates, anything else */
}

SshKey *ssh_key_free(SshKey *k) {
        if (!k)
                return NULL;
        EVP_PKEY_free(k->pkey);
        free(k->blob);
        free(k->comment);
        free(k);
        return NULL;
}

SshKeyType ssh_key_type(const SshKey *k) {
        return k->type;
}

const uint8_t *ssh_key_blob(const SshKey *k, size_t *ret_size) {
        *ret_size = k->blob_size;
        return k->blob;
}

const char *ssh_key_comment(const SshKey *k) {
        return strempty(k->comment);
}

int ssh_key_set_comment(SshKey *k, const char *comment) {
        return free_and_strdup(&k->comment, isempty(comment) ? NULL : comment);
}

bool ssh_key_has_private(const SshKey *k) {
        return k->private;
}

/* An mpint of a BIGNUM. Secret numbers go through a stack buffer that is wiped. */
static void put_bn(SshWriter *w, const BIGNUM *bn) {
        uint8_t buf[RSA_BITS_MAX / 8 + 1];
        int n = BN_num_bytes(bn);

        if (n < 0 || (size_t) n > sizeof(buf)) {
                if (w->error >= 0)
                        w->error = -E2BIG;
                return;
        }
        BN_bn2bin(bn, buf);
        ssh_put_mpint(w, buf, (size_t) n);
        explicit_bzero(buf, (size_t) n);
}

static void put_pkey_bn(SshWriter *w, const EVP_PKEY *pkey, const char *param) {
        _cleanup_(BN_clear_freep) BIGNUM *bn = NULL;

        if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1) {
                if (w->error >= 0)
                        w->error = -EIO;
                return;
        }
        put_bn(w, bn);
}

static void put_ecdsa_public(SshWriter *w, const EcdsaCurve *c, const EVP_PKEY *pkey) {
        uint8_t q[1 + 2 * 66];
        size_t n = 0;

        if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, q, sizeof(q), &n) != 1 ||
            n != 1 + 2 * c->field_size || q[0] != 0x04) {
                if (w->error >= 0)
                        w->error = -EIO;
                return;
        }
        ssh_put_cstring(w, c->ssh_name);
        ssh_put_string(w, q, n);
}

/* The public key blob of a key OpenSSL holds. */
static int public_blob_from_pkey(SshKeyType t, const EVP_PKEY *pkey, uint8_t **ret, size_t *ret_size) {
        _cleanup_(ssh_writer_done) SshWriter w = {};
        uint8_t pub[ED25519_SIZE];
        size_t n = sizeof(pub);

        ssh_put_cstring(&w, ssh_key_type_to_string(t));
        switch (t) {
        case SSH_KEY_ED25519:
                if (EVP_PKEY_get_raw_public_key(pkey, pub, &n) != 1 || n != sizeof(pub))
                        return -EIO;
                ssh_put_string(&w, pub, n);
                break;
        case SSH_KEY_ECDSA_P256:
        case SSH_KEY_ECDSA_P384:
        case SSH_KEY_ECDSA_P521:
                put_ecdsa_public(&w, ecdsa_curve(t), pkey);
                break;
        case SSH_KEY_RSA:
                put_pkey_bn(&w, pkey, OSSL_PKEY_PARAM_RSA_E);
                put_pkey_bn(&w, pkey, OSSL_PKEY_PARAM_RSA_N);
                break;
        default:
                return -EINVAL;
        }
        return ssh_writer_steal(&w, ret, ret_size);
}

/* Takes pkey. The blob is copied when given, made from pkey otherwise. */
static int ssh_key_new(SshKeyType t, EVP_PKEY *pkey, bool private, const uint8_t *blob, size_t blob_size, SshKey **ret) {
        SshKey *k;
        int r;

        k = calloc(1, sizeof(*k));
        if (!k) {
                EVP_PKEY_free(pkey);
                return -ENOMEM;
        }
        *k = (SshKey) { .type = t, .pkey = pkey, .private = private };
        if (blob) {
                k->blob = malloc(blob_size ?: 1);
                k->blob_size = blob_size;
                r = k->blob ? 0 : -ENOMEM;
                if (k->blob)
                        memcpy(k->blob, blob, blob_size);
        } else
                r = public_blob_from_pkey(t, pkey, &k->blob, &k->blob_size);
        if (r < 0) {
                ssh_key_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

static int pkey_check_pair(EVP_PKEY *pkey) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

        if (!ctx)
                return -ENOMEM;
        return EVP_PKEY_pairwise_check(ctx) == 1 ? 0 : -EBADMSG;
}

static int pkey_fromdata(const char *algorithm, OSSL_PARAM_BLD *bld, bool private, EVP_PKEY **ret) {
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, algorithm, NULL);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        int r;

        if (!params || !ctx)
                return -ENOMEM;
        /* This also decodes an ECDSA point, refusing one off its curve. */
        if (EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &pkey, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
                return -EBADMSG;
        if (private) {
                r = pkey_check_pair(pkey);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(pkey);
        return 0;
}

static int read_ed25519(SshReader *r, bool private, EVP_PKEY **ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        const uint8_t *pk, *sk;
        size_t pk_size, sk_size;

        if (ssh_read_string(r, &pk, &pk_size) < 0 || pk_size != ED25519_SIZE)
                return -EBADMSG;
        if (!private) {
                pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, pk_size);
                if (!pkey)
                        return -ENOMEM;
        } else {
                uint8_t derived[ED25519_SIZE];
                size_t n = sizeof(derived);

                /* OpenSSH's private half: the 32-byte seed, then the public key again. */
                if (ssh_read_string(r, &sk, &sk_size) < 0 || sk_size != 2 * ED25519_SIZE ||
                    memcmp(sk + ED25519_SIZE, pk, ED25519_SIZE) != 0)
                        return -EBADMSG;
                pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, ED25519_SIZE);
                if (!pkey)
                        return -ENOMEM;
                if (EVP_PKEY_get_raw_public_key(pkey, derived, &n) != 1 || n != ED25519_SIZE ||
                    memcmp(derived, pk, ED25519_SIZE) != 0)
                        return -EBADMSG;
        }
        *ret = TAKE_PTR(pkey);
        return 0;
}

static int read_ecdsa(SshReader *r, SshKeyType t, bool private, EVP_PKEY **ret) {
        const EcdsaCurve *c = ecdsa_curve(t);
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        _cleanup_(BN_clear_freep) BIGNUM *d = NULL;
        const uint8_t *q, *dp;
        size_t q_size, d_size;

        if (ssh_read_expect(r, c->ssh_name) < 0 || ssh_read_string(r, &q, &q_size) < 0)
                return -EBADMSG;
        /* Uncompressed points only, as OpenSSH writes them. */
        if (q_size != 1 + 2 * c->field_size || q[0] != 0x04)
                return -EBADMSG;
        if (private) {
                if (ssh_read_mpint(r, c->field_size, &dp, &d_size) < 0 || d_size == 0)
                        return -EBADMSG;
                d = BN_secure_new();
                if (!d || !BN_bin2bn(dp, (int) d_size, d))
                        return -ENOMEM;
        }

        bld = OSSL_PARAM_BLD_new();
        if (!bld ||
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q, q_size) != 1 ||
            (d && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1))
                return -ENOMEM;
        return pkey_fromdata("EC", bld, private, ret);
}

/* Reads an mpint into a new BIGNUM (a secure one for a secret). */
static int read_bn(SshReader *r, size_t max_size, bool secret, BIGNUM **ret) {
        const uint8_t *p;
        size_t n;
        BIGNUM *bn;

        if (ssh_read_mpint(r, max_size, &p, &n) < 0 || n == 0)
                return -EBADMSG;
        bn = secret ? BN_secure_new() : BN_new();
        if (!bn || !BN_bin2bn(p, (int) n, bn)) {
                BN_clear_free(bn);
                return -ENOMEM;
        }
        *ret = bn;
        return 0;
}

static int read_rsa(SshReader *r, bool private, EVP_PKEY **ret) {
        _cleanup_(BN_clear_freep) BIGNUM *n = NULL, *e = NULL, *d = NULL, *iqmp = NULL, *p = NULL, *q = NULL,
                *dmp1 = NULL, *dmq1 = NULL, *t = NULL;
        _cleanup_(BN_CTX_freep) BN_CTX *ctx = NULL;
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        const size_t nmax = RSA_BITS_MAX / 8;
        int k;

        /* The public blob has e then n; openssh-key-v1's private section n, e, d, iqmp, p, q. */
        if (private)
                k = read_bn(r, nmax, false, &n) ?: read_bn(r, RSA_EXPONENT_MAX, false, &e) ?:
                    read_bn(r, nmax, true, &d) ?: read_bn(r, nmax, true, &iqmp) ?:
                    read_bn(r, nmax, true, &p) ?: read_bn(r, nmax, true, &q);
        else
                k = read_bn(r, RSA_EXPONENT_MAX, false, &e) ?: read_bn(r, nmax, false, &n);
        if (k < 0)
                return k;
        if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e))
                return -EBADMSG;
        if (BN_num_bits(n) < RSA_BITS_MIN)
                return -EPROTONOSUPPORT; /* well-formed, but too weak */

        bld = OSSL_PARAM_BLD_new();
        if (!bld ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
                return -ENOMEM;
        if (private) {
                /* OpenSSH does not store d mod (p-1) and d mod (q-1); OpenSSL wants them. */
                ctx = BN_CTX_secure_new();
                dmp1 = BN_secure_new();
                dmq1 = BN_secure_new();
                t = BN_secure_new();
                if (!ctx || !dmp1 || !dmq1 || !t || !BN_mul(t, p, q, ctx))
                        return -ENOMEM;
                /* Cheap before OpenSSL's pair check, which tests p and q for primality. */
                if (BN_cmp(t, n) != 0)
                        return -EBADMSG;
                if (!BN_sub(t, p, BN_value_one()) || !BN_mod(dmp1, d, t, ctx) ||
                    !BN_sub(t, q, BN_value_one()) || !BN_mod(dmq1, d, t, ctx))
                        return -ENOMEM;
                if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1 ||
                    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) != 1 ||
                    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) != 1 ||
                    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1) != 1 ||
                    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1) != 1 ||
                    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp) != 1)
                        return -ENOMEM;
        }
        return pkey_fromdata("RSA", bld, private, ret);
}

/* The fields of a key of type t after its name: the public ones, with private also those
 * of openssh-key-v1's private section. */
static int read_key_fields(SshReader *r, SshKeyType t, bool private, EVP_PKEY **ret) {
        switch (t) {
        case SSH_KEY_ED25519:
                return read_ed25519(r, private, ret);
        case SSH_KEY_ECDSA_P256:
        case SSH_KEY_ECDSA_P384:
        case SSH_KEY_ECDSA_P521:
                return read_ecdsa(r, t, private, ret);
        case SSH_KEY_RSA:
                return read_rsa(r, private, ret);
        default:
                return -EINVAL;
        }
}

/* Reads "string type" and that type's fields. */
static int read_key(SshReader *r, bool private, SshKeyType *ret_type, EVP_PKEY **ret) {
        SshReader t = *r;
        const uint8_t *name;
        size_t name_size;
        SshKeyType type;
        int k;

        if (ssh_read_string(&t, &name, &name_size) < 0)
                return -EBADMSG;
        k = key_type_from_wire(name, name_size, &type);
        if (k < 0)
                return k;
        k = read_key_fields(&t, type, private, ret);
        if (k < 0)
                return k;
        *r = t;
        *ret_type = type;
        return 0;
}

int ssh_key_from_blob(const uint8_t *blob, size_t size, SshKey **ret) {
        SshReader r = SSH_READER(blob, size);
        EVP_PKEY *pkey = NULL;
        SshKeyType type;
        int k;

        if (size > SSH_KEY_BLOB_MAX)
                return -EBADMSG;
        k = read_key(&r, false, &type, &pkey);
        if (k >= 0 && !ssh_reader_empty(&r)) {
                EVP_PKEY_free(pkey);
                k = -EBADMSG;
        }
        if (k < 0) {
                ERR_clear_error();
                return k;
        }
        return ssh_key_new(type, pkey, false, blob, size, ret);
}

int ssh_key_read_private(SshReader *r, SshKey **ret) {
        EVP_PKEY *pkey = NULL;
        SshKeyType type;
        int k;

        k = read_key(r, true, &type, &pkey);
        if (k < 0) {
                ERR_clear_error();
                return k;
        }
        return ssh_key_new(type, pkey, true, NULL, 0, ret);
}

int ssh_key_write_private(const SshKey *k, SshWriter *w) {
        uint8_t seed[ED25519_SIZE], pub[ED25519_SIZE];
        size_t n = sizeof(seed), m = sizeof(pub);

        if (!k->private)
                return -ENOKEY;
        ssh_put_cstring(w, ssh_key_type_to_string(k->type));
        switch (k->type) {
        case SSH_KEY_ED25519:
                if (EVP_PKEY_get_raw_private_key(k->pkey, seed, &n) != 1 || n != sizeof(seed) ||
                    EVP_PKEY_get_raw_public_key(k->pkey, pub, &m) != 1 || m != sizeof(pub)) {
                        explicit_bzero(seed, sizeof(seed));
                        return -EIO;
                }
                ssh_put_string(w, pub, sizeof(pub));
                ssh_put_u32(w, sizeof(seed) + sizeof(pub));
                ssh_put_bytes(w, seed, sizeof(seed));
                ssh_put_bytes(w, pub, sizeof(pub));
                explicit_bzero(seed, sizeof(seed));
                break;
        case SSH_KEY_ECDSA_P256:
        case SSH_KEY_ECDSA_P384:
        case SSH_KEY_ECDSA_P521:
                put_ecdsa_public(w, ecdsa_curve(k->type), k->pkey);
                put_pkey_bn(w, k->pkey, OSSL_PKEY_PARAM_PRIV_KEY);
                break;
        case SSH_KEY_RSA:
                put_pkey_bn(w, k->pkey, OSSL_PKEY_PARAM_RSA_N);
                put_pkey_bn(w, k->pkey, OSSL_PKEY_PARAM_RSA_E);
                put_pkey_bn(w, k->pkey, OSSL_PKEY_PARAM_RSA_D);
                put_pkey_bn(w, k->pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
                put_pkey_bn(w, k->pkey, OSSL_PKEY_PARAM_RSA_FACTOR1);
                put_pkey_bn(w, k->pkey, OSSL_PKEY_PARAM_RSA_FACTOR2);
                break;
        default:
                return -EINVAL;
        }
        return w->error;
}

int ssh_key_generate_ed25519(SshKey **ret) {
        EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

        if (!pkey)
                return -ENOMEM;
        return ssh_key_new(SSH_KEY_ED25519, pkey, true, NULL, 0, ret);
}

#define PUBLIC_LINE_MAX 16384

int ssh_key_from_public_line(const char *line, SshKey **ret) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        _cleanup_free_ uint8_t *blob = NULL;
        const char *type, *type_end, *b64, *comment, *end;
        size_t n = strnlen(line, PUBLIC_LINE_MAX + 1), blob_size;
        int r;

        if (n > PUBLIC_LINE_MAX)
                return -EBADMSG;
        end = line + n;
        if (end > line && end[-1] == '\n')
                end--;
        for (const char *c = line; c < end; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        return -EBADMSG;

        type = line;
        type_end = memchr(type, ' ', (size_t) (end - type));
        if (!type_end || type_end == type)
                return -EBADMSG;
        b64 = type_end;
        while (b64 < end && *b64 == ' ')
                b64++;
        comment = memchr(b64, ' ', (size_t) (end - b64)) ?: end;
        r = base64_decode(b64, (size_t) (comment - b64), &blob, &blob_size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -EBADMSG;

        r = ssh_key_from_blob(blob, blob_size, &k);
        if (r < 0)
                return r;
        if (strlen(ssh_key_type_to_string(k->type)) != (size_t) (type_end - type) ||
            memcmp(type, ssh_key_type_to_string(k->type), (size_t) (type_end - type)) != 0)
                return -EBADMSG;

        while (comment < end && *comment == ' ')
                comment++;
        if (comment < end) {
                k->comment = strndup(comment, (size_t) (end - comment));
                if (!k->comment)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(k);
        return 0;
}

int ssh_key_to_public_line(const SshKey *k, char **ret) {
        _cleanup_free_ char *b64 = NULL;
        char *line;
        int r;

        r = base64_encode(k->blob, k->blob_size, false, 0, &b64);
        if (r < 0)
                return r;
        if (asprintf(&line, "%s %s%s%s", ssh_key_type_to_string(k->type), b64,
                     isempty(k->comment) ? "" : " ", strempty(k->comment)) < 0)
                return -ENOMEM;
        *ret = line;
        return 0;
}

void ssh_key_blob_identity(const uint8_t *blob, size_t size, char ret[static SSH_IDENTITY_SIZE]) {
        uint8_t digest[SHA256_DIGEST_LENGTH];

        SHA256(blob, size, digest);
        base64url_encode_into(digest, sizeof(digest), ret);
}

void ssh_key_identity(const SshKey *k, char ret[static SSH_IDENTITY_SIZE]) {
        ssh_key_blob_identity(k->blob, k->blob_size, ret);
}

int ssh_key_line_fingerprint(const char *line, char ret[static SSH_FINGERPRINT_SIZE]) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        char id[SSH_IDENTITY_SIZE];
        int r;

        r = ssh_key_from_public_line(line, &k);
        if (r < 0)
                return r;
        ssh_key_identity(k, id);
        /* The identity is the same digest in base64url. */
        for (char *p = id; *p; p++)
                *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
        snprintf(ret, SSH_FINGERPRINT_SIZE, "SHA256:%s", id);
        return 0;
}

bool ssh_identity_valid(const char *s) {
        static const char last[] = "AEIMQUYcgkosw048"; /* 4 bits left: the low 2 bits are 0 */
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

        if (!s || strlen(s) != SSH_IDENTITY_LEN || strspn(s, a) != SSH_IDENTITY_LEN)
                return false;
        return strchr(last, s[SSH_IDENTITY_LEN - 1]);
}

/* Signs or verifies with OpenSSL: Ed25519 over the data, the rest over its digest. */
static int evp_sign(EVP_PKEY *pkey, const char *digest, const void *data, size_t size, uint8_t **ret, size_t *ret_size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_free_ uint8_t *sig = NULL;
        size_t n = 0;

        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestSignInit_ex(ctx, NULL, digest, NULL, NULL, pkey, NULL) != 1 ||
            EVP_DigestSign(ctx, NULL, &n, data, size) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        sig = malloc(n ?: 1);
        if (!sig)
                return -ENOMEM;
        if (EVP_DigestSign(ctx, sig, &n, data, size) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        *ret = TAKE_PTR(sig);
        *ret_size = n;
        return 0;
}

static int evp_verify(EVP_PKEY *pkey, const char *digest, const uint8_t *sig, size_t sig_size, const void *data, size_t size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int r;

        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestVerifyInit_ex(ctx, NULL, digest, NULL, NULL, pkey, NULL) != 1) {
                ERR_clear_error();
                return -ENOMEM;
        }
        r = EVP_DigestVerify(ctx, sig, sig_size, data, size);
        ERR_clear_error();
        return r == 1 ? 0 : -EKEYREJECTED;
}

/* ECDSA signatures: OpenSSL's DER to SSH's "mpint r, mpint s" and back. */
static int ecdsa_sig_from_der(const uint8_t *der, size_t size, SshWriter *w) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        _cleanup_(ssh_writer_done) SshWriter inner = {};
        const uint8_t *p = der;
        const BIGNUM *r, *s;

        sig = d2i_ECDSA_SIG(NULL, &p, (long) size);
        if (!sig)
                return -EIO;
        ECDSA_SIG_get0(sig, &r, &s);
        put_bn(&inner, r);
        put_bn(&inner, s);
        if (inner.error < 0)
                return inner.error;
        ssh_put_string(w, inner.data, inner.size);
        return 0;
}

static int ecdsa_sig_to_der(const EcdsaCurve *c, const uint8_t *blob, size_t size, uint8_t **ret, size_t *ret_size) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        SshReader rd = SSH_READER(blob, size);
        const uint8_t *rp, *sp;
        size_t rn, sn;
        BIGNUM *r, *s;
        unsigned char *der = NULL;
        int n;

        if (ssh_read_mpint(&rd, c->field_size, &rp, &rn) < 0 || ssh_read_mpint(&rd, c->field_size, &sp, &sn) < 0 ||
            !ssh_reader_empty(&rd) || rn == 0 || sn == 0)
                return -EBADMSG;
        sig = ECDSA_SIG_new();
        r = BN_bin2bn(rp, (int) rn, NULL);
        s = BN_bin2bn(sp, (int) sn, NULL);
        if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
                BN_free(r);
                BN_free(s);
                return -ENOMEM;
        }
        n = i2d_ECDSA_SIG(sig, &der);
        if (n <= 0)
                return -ENOMEM;
        *ret = der; /* OPENSSL_free() */
        *ret_size = (size_t) n;
        return 0;
}

int ssh_key_sign(const SshKey *k, const void *data, size_t size, uint8_t **ret, size_t *ret_size) {
        _cleanup_(ssh_writer_done) SshWriter w = {};
        _cleanup_free_ uint8_t *raw = NULL;
        size_t raw_size, i = 0;
        int r;

        if (!k->private)
                return -ENOKEY;
        while (signature_algorithms[i].type != k->type)
                i++;
        r = evp_sign(k->pkey, signature_algorithms[i].digest, data, size, &raw, &raw_size);
        if (r < 0)
                return r;

        ssh_put_cstring(&w, signature_algorithms[i].name);
        if (ecdsa_curve(k->type)) {
                r = ecdsa_sig_from_der(raw, raw_size, &w);
                if (r < 0)
                        return r;
        } else
                ssh_put_string(&w, raw, raw_size);
        return ssh_writer_steal(&w, ret, ret_size);
}

int ssh_key_verify(const SshKey *k, const uint8_t *sig, size_t sig_size, const void *data, size_t size,
                   const char **ret_algorithm) {
        SshReader rd = SSH_READER(sig, sig_size);
        _cleanup_openssl_free_ uint8_t *der = NULL;
        _cleanup_free_ uint8_t *padded = NULL;
        const uint8_t *name, *blob;
        size_t name_size, blob_size, der_size, i;
        int r;

        if (ssh_read_string(&rd, &name, &name_size) < 0 || ssh_read_string(&rd, &blob, &blob_size) < 0 ||
            !ssh_reader_empty(&rd))
                return -EBADMSG;
        for (i = 0; i < ELEMENTSOF(signature_algorithms); i++)
                if (signature_algorithms[i].type == k->type &&
                    strlen(signature_algorithms[i].name) == name_size &&
                    memcmp(signature_algorithms[i].name, name, name_size) == 0)
                        break;
        if (i >= ELEMENTSOF(signature_algorithms))
                return -EPROTONOSUPPORT; /* SHA-1 "ssh-rsa", or another type's algorithm */

        switch (k->type) {
        case SSH_KEY_ED25519:
                if (blob_size != 2 * ED25519_SIZE)
                        return -EBADMSG;
                r = evp_verify(k->pkey, NULL, blob, blob_size, data, size);
                break;
        case SSH_KEY_ECDSA_P256:
        case SSH_KEY_ECDSA_P384:
        case SSH_KEY_ECDSA_P521:
                r = ecdsa_sig_to_der(ecdsa_curve(k->type), blob, blob_size, &der, &der_size);
                if (r < 0)
                        return r;
                r = evp_verify(k->pkey, signature_algorithms[i].digest, der, der_size, data, size);
                break;
        case SSH_KEY_RSA: {
                size_t modulus = (size_t) EVP_PKEY_get_size(k->pkey);

                if (blob_size == 0 || blob_size > modulus)
                        return -EBADMSG;
                if (blob_size < modulus) {
                        /* Some signers drop leading zero bytes; OpenSSH puts them back too. */
                        padded = calloc(1, modulus);
                        if (!padded)
                                return -ENOMEM;
                        memcpy(padded + modulus - blob_size, blob, blob_size);
                        blob = padded;
                        blob_size = modulus;
                }
                r = evp_verify(k->pkey, signature_algorithms[i].digest, blob, blob_size, data, size);
                break;
        }
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        if (ret_algorithm)
                *ret_algorithm = signature_algorithms[i].name;
        return 0;
}
