/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "sshsig.h"
#include "ssh-wire.h"
#include "validate.h"

#define SSHSIG_MAGIC "SSHSIG"
#define SSHSIG_MAGIC_SIZE 6
#define SSHSIG_VERSION 1
#define SSHSIG_NAMESPACE_MAX 256
#define SSHSIG_ARMOR_LABEL "SSH SIGNATURE"

struct SshSig {
        SshKey *key;
        char *namespace;
        SshSigHash hash;
        uint8_t *signature;
        size_t signature_size;
};

static const char *const sshsig_hash_table[_SSHSIG_HASH_MAX] = {
        [SSHSIG_HASH_SHA256] = "sha256",
        [SSHSIG_HASH_SHA512] = "sha512",
};

DEFINE_STRING_TABLE_LOOKUP(sshsig_hash, SshSigHash);

SshSig *sshsig_free(SshSig *s) {
        if (!s)
                return NULL;
        ssh_key_free(s->key);
        free(s->namespace);
        free(s->signature);
        free(s);
        return NULL;
}

const SshKey *sshsig_key(const SshSig *s) {
        return s->key;
}

const char *sshsig_namespace(const SshSig *s) {
        return s->namespace;
}

SshSigHash sshsig_hash(const SshSig *s) {
        return s->hash;
}

int sshsig_parse(const uint8_t *blob, size_t size, SshSig **ret) {
        _cleanup_(sshsig_freep) SshSig *s = NULL;
        SshReader r = SSH_READER(blob, size);
        const uint8_t *magic, *key, *reserved, *hash, *sig;
        size_t key_size, reserved_size, hash_size, sig_size;
        uint32_t version;
        int k;

        if (size > SSHSIG_BLOB_MAX)
                return -EBADMSG;
        if (ssh_read_bytes(&r, SSHSIG_MAGIC_SIZE, &magic) < 0 || memcmp(magic, SSHSIG_MAGIC, SSHSIG_MAGIC_SIZE) != 0 ||
            ssh_read_u32(&r, &version) < 0 || version != SSHSIG_VERSION ||
            ssh_read_string(&r, &key, &key_size) < 0)
                return -EBADMSG;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        k = ssh_read_cstring(&r, &s->namespace);
        if (k < 0)
                return k;
        if (isempty(s->namespace) || strlen(s->namespace) > SSHSIG_NAMESPACE_MAX)
                return -EBADMSG;
        if (ssh_read_string(&r, &reserved, &reserved_size) < 0 || reserved_size != 0 ||
            ssh_read_string(&r, &hash, &hash_size) < 0 ||
            ssh_read_string(&r, &sig, &sig_size) < 0 || !ssh_reader_empty(&r))
                return -EBADMSG;

        s->hash = _SSHSIG_HASH_INVALID;
        for (SshSigHash h = 0; h < _SSHSIG_HASH_MAX; h++)
                if (strlen(sshsig_hash_table[h]) == hash_size && memcmp(hash, sshsig_hash_table[h], hash_size) == 0)
                        s->hash = h;
        if (s->hash < 0)
                return -EPROTONOSUPPORT;

        k = ssh_key_from_blob(key, key_size, &s->key);
        if (k < 0)
                return k;
        s->signature = malloc(sig_size ?: 1);
        if (!s->signature)
                return -ENOMEM;
        memcpy(s->signature, sig, sig_size);
        s->signature_size = sig_size;

        *ret = TAKE_PTR(s);
        return 0;
}

int sshsig_parse_base64(const char *s, SshSig **ret) {
        _cleanup_free_ uint8_t *blob = NULL;
        size_t n = strnlen(s, (SSHSIG_BLOB_MAX + 2) / 3 * 4 + 1), size;
        int r;

        if (n > (SSHSIG_BLOB_MAX + 2) / 3 * 4)
                return -EBADMSG;
        r = base64_decode(s, n, &blob, &size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -EBADMSG;
        return sshsig_parse(blob, size, ret);
}

/* The fields that the blob and what it signs share. */
static void put_namespace_and_hash(SshWriter *w, const char *namespace, SshSigHash hash) {
        ssh_put_cstring(w, namespace);
        ssh_put_string(w, NULL, 0); /* reserved */
        ssh_put_cstring(w, sshsig_hash_to_string(hash));
}

/* What the SSH signature inside the blob signs. */
static int signed_data(const char *namespace, SshSigHash hash, const void *msg, size_t size,
                       uint8_t **ret, size_t *ret_size) {
        _cleanup_(ssh_writer_done) SshWriter w = {};
        uint8_t digest[SHA512_DIGEST_LENGTH];
        size_t digest_size;

        if (hash == SSHSIG_HASH_SHA256) {
                SHA256(msg, size, digest);
                digest_size = SHA256_DIGEST_LENGTH;
        } else {
                SHA512(msg, size, digest);
                digest_size = SHA512_DIGEST_LENGTH;
        }
        ssh_put_bytes(&w, SSHSIG_MAGIC, SSHSIG_MAGIC_SIZE);
        put_namespace_and_hash(&w, namespace, hash);
        ssh_put_string(&w, digest, digest_size);
        return ssh_writer_steal(&w, ret, ret_size);
}

int sshsig_verify(const SshSig *s, const char *namespace, const void *msg, size_t size) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t data_size;
        int r;

        if (!streq(s->namespace, namespace))
                return -EKEYREJECTED;
        r = signed_data(s->namespace, s->hash, msg, size, &data, &data_size);
        if (r < 0)
                return r;
        return ssh_key_verify(s->key, s->signature, s->signature_size, data, data_size, NULL);
}

static int sign_with_key(const SshKey *key, const void *data, size_t size, uint8_t **ret, size_t *ret_size,
                         void *userdata) {
        return ssh_key_sign(key, data, size, ret, ret_size);
}

int sshsig_sign(const SshKey *key, SshSignFunc sign, void *userdata, const char *namespace,
                const void *msg, size_t size, uint8_t **ret, size_t *ret_size) {
        _cleanup_(ssh_writer_done) SshWriter w = {};
        _cleanup_free_ uint8_t *data = NULL, *sig = NULL;
        const uint8_t *blob;
        size_t data_size, sig_size, blob_size;
        int r;

        if (isempty(namespace) || strlen(namespace) > SSHSIG_NAMESPACE_MAX)
                return -EINVAL;
        r = signed_data(namespace, SSHSIG_HASH_SHA512, msg, size, &data, &data_size);
        if (r < 0)
                return r;
        r = (sign ?: sign_with_key)(key, data, data_size, &sig, &sig_size, userdata);
        if (r < 0)
                return r;
        r = ssh_key_verify(key, sig, sig_size, data, data_size, NULL);
        if (r == -EBADMSG)
                return -EKEYREJECTED;
        if (r < 0)
                return r;

        blob = ssh_key_blob(key, &blob_size);
        ssh_put_bytes(&w, SSHSIG_MAGIC, SSHSIG_MAGIC_SIZE);
        ssh_put_u32(&w, SSHSIG_VERSION);
        ssh_put_string(&w, blob, blob_size);
        put_namespace_and_hash(&w, namespace, SSHSIG_HASH_SHA512);
        ssh_put_string(&w, sig, sig_size);
        return ssh_writer_steal(&w, ret, ret_size);
}

int sshsig_armor(const uint8_t *blob, size_t size, char **ret) {
        return pem_armor_encode(blob, size, SSHSIG_ARMOR_LABEL, ret);
}

int sshsig_dearmor(const char *text, size_t size, uint8_t **ret, size_t *ret_size) {
        return pem_armor_decode(text, size, SSHSIG_ARMOR_LABEL, ret, ret_size);
}
