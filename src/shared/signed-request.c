/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/sha.h>

#include "parse-util.h"
#include "signed-request.h"
#include "ssh-wire.h"

static const char *const auth_error_table[_AUTH_ERROR_MAX] = {
        [AUTH_ERROR_SIGNATURE_REQUIRED] = "AUTH_001",
        [AUTH_ERROR_SIGNATURE_INVALID] = "AUTH_002",
        [AUTH_ERROR_TIMESTAMP] = "AUTH_005",
        [AUTH_ERROR_NONCE_REUSED] = "AUTH_006",
};

DEFINE_STRING_TABLE_LOOKUP(auth_error, AuthError);

AuthError auth_error_from_errno(int r) {
        switch (r) {
        case -ENOMSG:
                return AUTH_ERROR_SIGNATURE_REQUIRED;
        case -EBADMSG:
        case -EPROTONOSUPPORT:
        case -EKEYREJECTED:
                return AUTH_ERROR_SIGNATURE_INVALID;
        case -ETIME:
                return AUTH_ERROR_TIMESTAMP;
        case -EALREADY:
                return AUTH_ERROR_NONCE_REUSED;
        default:
                return _AUTH_ERROR_INVALID;
        }
}

#define NONCE_CHARSET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

bool signed_request_nonce_valid(const char *s) {
        size_t n = strnlen(s, SIGNED_REQUEST_NONCE_MAX + 1);

        return n >= SIGNED_REQUEST_NONCE_MIN && n <= SIGNED_REQUEST_NONCE_MAX && strspn(s, NONCE_CHARSET) == n;
}

int signed_request_parse_timestamp(const char *s, int64_t *ret) {
        size_t n = strnlen(s, SIGNED_REQUEST_TIMESTAMP_MAX + 1);
        int64_t v;

        /* One spelling per time: it is signed as written. */
        if (n == 0 || n > SIGNED_REQUEST_TIMESTAMP_MAX || strspn(s, "0123456789") != n || (s[0] == '0' && n > 1))
                return -EINVAL;
        if (parse_i64(s, &v) < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A line of the message that came from outside: something, and no whitespace or controls. */
static bool field_valid(const char *s) {
        if (isempty(s))
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

int signed_request_message(const char *method, const char *target, const char *audience,
                           const char *timestamp, const char *nonce, const void *body, size_t body_size,
                           char **ret) {
        uint8_t digest[SHA256_DIGEST_LENGTH];
        char hex[2 * SHA256_DIGEST_LENGTH + 1], *msg;
        int64_t t;

        if (!field_valid(method) || !field_valid(target) || !field_valid(audience) ||
            signed_request_parse_timestamp(timestamp, &t) < 0 || !signed_request_nonce_valid(nonce))
                return -EINVAL;

        SHA256(body_size > 0 ? body : (const void *) "", body_size, digest);
        for (size_t i = 0; i < sizeof(digest); i++)
                snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        if (asprintf(&msg, SIGNED_REQUEST_NAMESPACE "\n%s\n%s\n%s\n%s\n%s\n%s\n",
                     method, target, audience, timestamp, nonce, hex) < 0)
                return -ENOMEM;
        *ret = msg;
        return 0;
}

int signed_request_verify(const SignedRequest *req, int64_t now, NonceCache *cache,
                          char ret_identity[static SSH_IDENTITY_SIZE]) {
        _cleanup_(sshsig_freep) SshSig *sig = NULL;
        _cleanup_free_ char *msg = NULL;
        char identity[SSH_IDENTITY_SIZE];
        int64_t t, skew;
        int r;

        if (isempty(req->timestamp) || isempty(req->nonce) || isempty(req->signature))
                return -ENOMSG;
        if (signed_request_parse_timestamp(req->timestamp, &t) < 0 || !signed_request_nonce_valid(req->nonce))
                return -EBADMSG;
        if (__builtin_sub_overflow(now, t, &skew) || skew < -SIGNED_REQUEST_WINDOW_SEC ||
            skew > SIGNED_REQUEST_WINDOW_SEC)
                return -ETIME;

        r = sshsig_parse_base64(req->signature, &sig);
        if (r < 0)
                return r;
        r = signed_request_message(req->method, req->target, req->audience, req->timestamp, req->nonce,
                                   req->body, req->body_size, &msg);
        if (r == -EINVAL)
                return -EBADMSG; /* e.g. a target with a space: it cannot have been signed */
        if (r < 0)
                return r;
        r = sshsig_verify(sig, SIGNED_REQUEST_NAMESPACE, msg, strlen(msg));
        if (r < 0)
                return r;

        /* Only a good signature gets a nonce remembered: no one fills the cache for free. */
        ssh_key_identity(sshsig_key(sig), identity);
        r = nonce_cache_add(cache, identity, req->nonce, now);
        if (r < 0)
                return r;
        memcpy(ret_identity, identity, SSH_IDENTITY_SIZE);
        return 0;
}

void signed_request_headers_done(SignedRequestHeaders *h) {
        h->signature = mfree(h->signature);
}

int signed_request_sign(const SshKey *key, SshSignFunc sign, void *userdata, const char *method,
                        const char *target, const char *audience, const void *body, size_t body_size,
                        int64_t now, SignedRequestHeaders *ret) {
        SignedRequestHeaders h = {};
        _cleanup_free_ uint8_t *blob = NULL;
        _cleanup_free_ char *msg = NULL;
        uint8_t random[SIGNED_REQUEST_NONCE_GENERATED * 3 / 4];
        size_t blob_size;
        int r;

        if (now < 0)
                return -EINVAL;
        snprintf(h.timestamp, sizeof(h.timestamp), "%" PRIi64, now);
        if (getrandom(random, sizeof(random), 0) != sizeof(random))
                return -errno;
        base64url_encode_into(random, sizeof(random), h.nonce);

        r = signed_request_message(method, target, audience, h.timestamp, h.nonce, body, body_size, &msg);
        if (r < 0)
                return r;
        r = sshsig_sign(key, sign, userdata, SIGNED_REQUEST_NAMESPACE, msg, strlen(msg), &blob, &blob_size);
        if (r < 0)
                return r;
        r = base64_encode(blob, blob_size, false, 0, &h.signature);
        if (r < 0)
                return r;
        *ret = h;
        return 0;
}
