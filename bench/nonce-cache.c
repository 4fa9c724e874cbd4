/* SPDX-License-Identifier: MIT */
/* bench-nonce-cache: the cost of each nonce_cache_add() as the discovery service's cache fills
 * to its maximum (2,520,000 nonces: 4,200 signed requests a second held 2 × 300 s), and as
 * they then leave at the same rate.
 *
 *     bench-nonce-cache [MAX [PER_SECOND]]
 *
 * Prints the number of adds, their mean, the 99.99th percentile and the worst add (with
 * how many were held then), in wall-clock time, and the worst in CPU time (without the
 * time other processes took the CPU): the loop's longest stall from the cache. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "nonce-cache.h"
#include "parse-util.h"

static uint64_t now_nsec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

        return x < y ? -1 : x > y;
}

int main(int argc, char *argv[]) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        uint64_t max = 4200 * 2 * 300, per_second = 4200, total, worst = 0, worst_at = 0, sum = 0, worst_cpu = 0;
        _cleanup_free_ uint32_t *ns = NULL;
        int r;

        if ((argc > 1 && parse_uint_range(argv[1], 1, UINT32_MAX / 4, &max) < 0) ||
            (argc > 2 && parse_uint_range(argv[2], 1, 1000000, &per_second) < 0)) {
                fprintf(stderr, "Usage: %s [MAX [PER_SECOND]]\n", argv[0]);
                return EXIT_FAILURE;
        }
        r = nonce_cache_new(max, 300, &c);
        if (r < 0) {
                fprintf(stderr, "nonce_cache_new: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        /* Filled to max, then as many more: the first ones leave as these come. */
        total = 2 * max;
        ns = malloc(total * sizeof(uint32_t));
        if (!ns)
                return EXIT_FAILURE;
        for (uint64_t i = 0; i < total; i++) {
                char nonce[32];
                uint64_t t0, c0, dt;

                snprintf(nonce, sizeof(nonce), "nonce-%" PRIu64, i);
                c0 = now_nsec(CLOCK_THREAD_CPUTIME_ID);
                t0 = now_nsec(CLOCK_MONOTONIC);
                r = nonce_cache_add(c, "identity", nonce, 1000000 + (int64_t) (i / per_second));
                dt = now_nsec(CLOCK_MONOTONIC) - t0;
                worst_cpu = MAX(worst_cpu, now_nsec(CLOCK_THREAD_CPUTIME_ID) - c0);
                if (r < 0) {
                        fprintf(stderr, "nonce_cache_add #%" PRIu64 ": %s\n", i, strerror(-r));
                        return EXIT_FAILURE;
                }
                ns[i] = (uint32_t) MIN(dt, (uint64_t) UINT32_MAX);
                sum += dt;
                if (dt > worst) {
                        worst = dt;
                        worst_at = nonce_cache_size(c);
                }
        }
        qsort(ns, total, sizeof(uint32_t), cmp_u32);
        printf("adds: %" PRIu64 " (max %" PRIu64 ", %" PRIu64 "/s), mean %.2f us, p99.99 %.1f us, "
               "worst %.3f ms (at %" PRIu64 " held; %.3f ms of CPU time at worst: the rest is the machine's other work)\n",
               total, max, per_second, sum / 1000.0 / total, ns[total * 9999 / 10000] / 1000.0,
               worst / 1e6, worst_at, worst_cpu / 1e6);
        return EXIT_SUCCESS;
}
