/* SPDX-License-Identifier: MIT */
#pragma once

/* Signed HTTP requests: who sent a request, proven with an SSH key.
 *
 * A signed request carries three headers:
 *     X-Golem-Timestamp   the time of signing, Unix seconds (decimal, no leading zeros)
 *     X-Golem-Nonce       16-64 characters of [A-Za-z0-9_-], new for every request
 *     X-Golem-Signature   (to a provider) or X-Provider-Signature (to discovery): the
 *                         standard base64 of an SSHSIG blob (sshsig.h), as between the armor
 *                         lines of `ssh-keygen -Y sign` output without the newlines
 * The SSHSIG namespace is "golem-request-v1" and the message signed is these lines, each
 * ending in "\n":
 *     golem-request-v1
 *     METHOD                     as sent ("POST")
 *     TARGET                     the path and query exactly as sent ("/api/v1/vms?async=true")
 *     AUDIENCE                   the provider's id, or "discovery" for a discovery service
 *     TIMESTAMP                  the header's value
 *     NONCE                      the header's value
 *     SHA-256 of the body        64 lowercase hex digits (of nothing when there is no body)
 * The sender's identity is its key's SHA-256 fingerprint in base64url (ssh-key.h).
 *
 * A request is taken when its timestamp is within SIGNED_REQUEST_WINDOW_SEC of the server's
 * clock (either way, the bound included), its nonce has not come with the same key within
 * that time (nonce-cache.h), and the signature is a good SSHSIG in that namespace over that
 * message by the key it carries (ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa with
 * rsa-sha2-256/512). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "nonce-cache.h"
#include "ssh-key.h"
#include "sshsig.h"

#define SIGNED_REQUEST_NAMESPACE "golem-request-v1"
#define SIGNED_REQUEST_WINDOW_SEC 300
#define SIGNED_REQUEST_AUDIENCE_DISCOVERY "discovery"

#define SIGNED_REQUEST_HEADER_TIMESTAMP "X-Golem-Timestamp"
#define SIGNED_REQUEST_HEADER_NONCE "X-Golem-Nonce"
#define SIGNED_REQUEST_HEADER_SIGNATURE "X-Golem-Signature"                /* to a provider */
#define SIGNED_REQUEST_HEADER_PROVIDER_SIGNATURE "X-Provider-Signature"    /* to discovery */

#define SIGNED_REQUEST_NONCE_MIN 16
#define SIGNED_REQUEST_NONCE_MAX 64
#define SIGNED_REQUEST_NONCE_GENERATED 32 /* what signed_request_sign() makes */
#define SIGNED_REQUEST_TIMESTAMP_MAX 19   /* digits: int64_t */

/* Why a request is refused, as the daemons answer it (401, with the code in detail.code).
 * signed_request_verify() returns a distinct errno for each:
 *     -ENOMSG                                  AUTH_001 signature required: a header is
 *                                              missing or empty
 *     -EBADMSG, -EPROTONOSUPPORT, -EKEYREJECTED AUTH_002 signature invalid: a malformed
 *                                              header or blob, a refused key type or
 *                                              algorithm, a wrong namespace, a signature
 *                                              that does not verify (another key, another
 *                                              method, target, audience, timestamp, nonce
 *                                              or body)
 *     -ETIME                                   AUTH_005 timestamp out of the window
 *     -EALREADY                                AUTH_006 nonce already used
 * Anything else is no verdict on the request: -EAGAIN (the nonce cache is full: 503 and
 * try again later), -ENOMEM. */
typedef enum AuthError {
        AUTH_ERROR_SIGNATURE_REQUIRED,
        AUTH_ERROR_SIGNATURE_INVALID,
        AUTH_ERROR_TIMESTAMP,
        AUTH_ERROR_NONCE_REUSED,
        _AUTH_ERROR_MAX,
        _AUTH_ERROR_INVALID = -EINVAL,
} AuthError;

/* "AUTH_001", "AUTH_002", "AUTH_005", "AUTH_006" */
DECLARE_STRING_TABLE_LOOKUP(auth_error, AuthError);
/* The refusal an error of signed_request_verify() stands for, or _AUTH_ERROR_INVALID. */
AuthError auth_error_from_errno(int r);

/* 16-64 of [A-Za-z0-9_-]. */
bool signed_request_nonce_valid(const char *s);
/* Unix seconds: 1-19 decimal digits, no sign, no leading zero, within int64_t. */
int signed_request_parse_timestamp(const char *s, int64_t *ret);

/* The message that is signed (see above). Method, target and audience must be non-empty
 * and free of whitespace and control characters, timestamp and nonce valid: -EINVAL. */
int signed_request_message(const char *method, const char *target, const char *audience,
                           const char *timestamp, const char *nonce, const void *body, size_t body_size,
                           char **ret);

typedef struct SignedRequest {
        const char *method;
        const char *target;    /* path and query, as the request line had them */
        const char *audience;  /* this provider's id, or SIGNED_REQUEST_AUDIENCE_DISCOVERY */
        const char *timestamp; /* the three headers' values; NULL when absent */
        const char *nonce;
        const char *signature;
        const void *body;
        size_t body_size;
} SignedRequest;

/* Checks a request against the server's clock now (Unix seconds) and remembers its nonce in
 * cache. Returns 0 and the signer's identity, or one of the errors above. */
int signed_request_verify(const SignedRequest *req, int64_t now, NonceCache *cache,
                          char ret_identity[static SSH_IDENTITY_SIZE]);

/* The headers of a request that our own clients sign. */
typedef struct SignedRequestHeaders {
        char timestamp[SIGNED_REQUEST_TIMESTAMP_MAX + 1];
        char nonce[SIGNED_REQUEST_NONCE_GENERATED + 1];
        char *signature; /* base64 SSHSIG */
} SignedRequestHeaders;

void signed_request_headers_done(SignedRequestHeaders *h);

/* Signs a request at now with key: through sign/userdata as in sshsig_sign() (NULL: the
 * key's private half). The nonce is random. */
int signed_request_sign(const SshKey *key, SshSignFunc sign, void *userdata, const char *method,
                        const char *target, const char *audience, const void *body, size_t body_size,
                        int64_t now, SignedRequestHeaders *ret);
