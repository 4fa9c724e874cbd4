/* SPDX-License-Identifier: MIT */
/* bench-sign-requests: signed requests made ahead of a benchmark run, so that a load generator
 * can send each once (every request needs a nonce of its own) without signing in its loop.
 *
 *     bench-sign-requests COUNT METHOD TARGET AUDIENCE BODY KEY...
 *
 * Prints COUNT lines "ID<TAB>TIMESTAMP<TAB>NONCE<TAB>SIGNATURE", request i signed now with
 * KEY number i modulo the number of keys (OpenSSH private key files, unencrypted, as
 * ssh-keygen writes them), ID being that key's identity. The signing is signed_request_sign(),
 * what golem-providerd's advertiser does for each POST.
 *
 * Then it checks every request with signed_request_verify(), as golem-discoveryd does, and
 * prints on stderr "verify: COUNT in SECONDS s, MICROSECONDS us each": the cost of the check
 * alone, without HTTP or the database. */

#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "nonce-cache.h"
#include "parse-util.h"
#include "signed-request.h"
#include "ssh-key-file.h"
#include "time-util.h"

int main(int argc, char *argv[]) {
        _cleanup_(nonce_cache_freep) NonceCache *cache = NULL;
        SignedRequestHeaders *headers = NULL;
        SshKey **keys = NULL;
        char (*ids)[SSH_IDENTITY_SIZE] = NULL;
        size_t n_keys;
        uint64_t count, i;
        usec_t t0, t1;
        int64_t now;
        int r, ret = EXIT_FAILURE;

        if (argc < 7 || parse_uint_range(argv[1], 1, 10000000, &count) < 0) {
                fprintf(stderr, "Usage: %s COUNT METHOD TARGET AUDIENCE BODY KEY...\n", argv[0]);
                return EXIT_FAILURE;
        }

        n_keys = (size_t) argc - 6;
        keys = calloc(n_keys, sizeof(*keys));
        ids = calloc(n_keys, sizeof(*ids));
        headers = calloc(count, sizeof(*headers));
        if (!keys || !ids || !headers)
                goto finish;
        for (size_t k = 0; k < n_keys; k++) {
                r = ssh_key_load_private(argv[6 + k], &keys[k]);
                if (r < 0) {
                        fprintf(stderr, "Failed to load %s: %s\n", argv[6 + k], strerror(-r));
                        goto finish;
                }
                ssh_key_identity(keys[k], ids[k]);
        }

        now = (int64_t) (now_realtime() / USEC_PER_SEC);
        for (i = 0; i < count; i++) {
                SignedRequestHeaders *h = headers + i;
                size_t k = i % n_keys;

                r = signed_request_sign(keys[k], NULL, NULL, argv[2], argv[3], argv[4], argv[5], strlen(argv[5]),
                                        now, h);
                if (r < 0) {
                        fprintf(stderr, "Failed to sign: %s\n", strerror(-r));
                        goto finish;
                }
                printf("%s\t%s\t%s\t%s\n", ids[k], h->timestamp, h->nonce, h->signature);
        }
        if (fflush(stdout) != 0)
                goto finish;

        r = nonce_cache_new(count, SIGNED_REQUEST_WINDOW_SEC, &cache);
        if (r < 0)
                goto finish;
        t0 = now_monotonic();
        for (i = 0; i < count; i++) {
                char identity[SSH_IDENTITY_SIZE];

                r = signed_request_verify(&(SignedRequest) {
                                                  .method = argv[2],
                                                  .target = argv[3],
                                                  .audience = argv[4],
                                                  .timestamp = headers[i].timestamp,
                                                  .nonce = headers[i].nonce,
                                                  .signature = headers[i].signature,
                                                  .body = argv[5],
                                                  .body_size = strlen(argv[5]),
                                          },
                                          now, cache, identity);
                if (r < 0 || !streq(identity, ids[i % n_keys])) {
                        fprintf(stderr, "Request %" PRIu64 " does not verify: %s\n", i, strerror(-r));
                        goto finish;
                }
        }
        t1 = now_monotonic();
        fprintf(stderr, "verify: %" PRIu64 " in %.3f s, %.1f us each\n", count, (double) (t1 - t0) / USEC_PER_SEC,
                (double) (t1 - t0) / (double) count);
        ret = EXIT_SUCCESS;

finish:
        for (size_t k = 0; keys && k < n_keys; k++)
                ssh_key_free(keys[k]);
        for (i = 0; headers && i < count; i++)
                signed_request_headers_done(headers + i);
        free(headers);
        free(keys);
        free(ids);
        return ret;
}
