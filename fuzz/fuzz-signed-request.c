/* SPDX-License-Identifier: MIT */
/* signed_request_verify() on what a request brings: the input is newline-separated
 *     X-Golem-Timestamp, X-Golem-Nonce, the signature header, method, target, audience
 * then the body (the rest, NULs and newlines included); an empty header line is a header
 * that is absent. The server's clock is 1700000000 and every input gets a new nonce cache.
 *
 * The verdict must be one that signed-request.h lists, and agree with checks written apart
 * here: a missing header is AUTH_001; a nonce or timestamp that the oracle below refuses is
 * AUTH_002; a timestamp more than 300 s off is AUTH_005. A request taken (a seed signed by
 * ssh-keygen) gives a valid identity, is refused as a replay the second time, and with its
 * body changed does not verify. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "signed-request.h"

#define INPUT_MAX (64 * 1024)
#define NOW INT64_C(1700000000)

/* The header rules, the long way. */
static bool oracle_nonce(const char *s) {
        size_t n = strlen(s);

        if (n < 16 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static bool oracle_timestamp(const char *s, int64_t *ret) {
        uint64_t v = 0;
        size_t n = strlen(s);

        if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (uint64_t) (s[i] - '0'); /* 19 digits fit in a uint64_t */
        }
        if (v > INT64_MAX)
                return false;
        *ret = (int64_t) v;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *copy, *fields[6] = {}, *p, identity[SSH_IDENTITY_SIZE];
        NonceCache *cache = NULL;
        SignedRequest req;
        int64_t t;
        int r;

        if (size > INPUT_MAX)
                return 0;
        copy = fuzz_string(data, size);

        p = copy;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                char *nl = memchr(p, '\n', (size_t) (copy + size - p));

                if (!nl) {
                        free(copy);
                        return 0;
                }
                *nl = 0;
                fields[i] = p;
                p = nl + 1;
        }
        req = (SignedRequest) {
                .timestamp = fields[0][0] ? fields[0] : NULL,
                .nonce = fields[1][0] ? fields[1] : NULL,
                .signature = fields[2][0] ? fields[2] : NULL,
                .method = fields[3],
                .target = fields[4],
                .audience = fields[5],
                .body = p,
                .body_size = (size_t) (copy + size - p),
        };

        fuzz_check(nonce_cache_new(16, SIGNED_REQUEST_WINDOW_SEC, &cache) == 0);
        memcpy(identity, "untouched", sizeof("untouched"));
        r = signed_request_verify(&req, NOW, cache, identity);
        if (fuzz_verbose())
                fprintf(stderr, "%s\n", r == 0 ? identity : strerror(-r));

        fuzz_check(r == 0 || auth_error_from_errno(r) >= 0);
        if (!req.timestamp || !req.nonce || !req.signature)
                fuzz_check(r == -ENOMSG);
        else if (!oracle_timestamp(req.timestamp, &t) || !oracle_nonce(req.nonce))
                fuzz_check(r == -EBADMSG);
        else if (t < NOW - SIGNED_REQUEST_WINDOW_SEC || t > NOW + SIGNED_REQUEST_WINDOW_SEC)
                fuzz_check(r == -ETIME);
        else
                fuzz_check(r != -ENOMSG && r != -ETIME);

        if (r < 0)
                fuzz_check(streq(identity, "untouched"));
        else {
                fuzz_check(ssh_identity_valid(identity));
                fuzz_check(signed_request_verify(&req, NOW, cache, identity) == -EALREADY);
                req.body_size = req.body_size > 0 ? req.body_size - 1 : 1;
                fuzz_check(signed_request_verify(&req, NOW, cache, identity) == -EKEYREJECTED);
        }

        nonce_cache_free(cache);
        free(copy);
        return 0;
}
