/* SPDX-License-Identifier: MIT */
/* bench-discovery-index: the index alone (no HTTP, no database), filled with N synthetic
 * advertisements (1,000,000 by default), then the time of each kind of query, a heartbeat
 * (an in-place rewrite, as most writes are) between any two so that no answer comes from the
 * cache, and of writes that move an advertisement in the trees.
 *
 *     bench-discovery-index [N [QUERIES]]
 *
 * The rare values: memory of 1024 or more on N / 20000 (50 of 10^6), the platform aarch64 on
 * N / 2000. Prints, per kind of query, how many matched (the answer's size), the mean and the
 * worst time in CPU time of the process (without the time other processes took the CPU). */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discovery-index.h"
#include "macro.h"
#include "parse-util.h"

#define T0 (UINT64_C(1700000000) * USEC_PER_SEC)

static const char *const countries[] = { "SE", "FI", "US", "DE", "PL", "FR", "GB", "NL", "CZ", "JP",
                                         "CN", "IN", "BR", "CA", "AU", "ES", "IT", "CH", "NO", "DK" };

static uint64_t rnd_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(uint64_t n) {
        rnd_state ^= rnd_state << 13;
        rnd_state ^= rnd_state >> 7;
        rnd_state ^= rnd_state << 17;
        return rnd_state % n;
}

static uint64_t cpu_nsec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

typedef struct Ad {
        char id[16], document[128];
        StoredAdvertisement a;
} Ad;

/* Provider i's advertisement with cpu, written at now. */
static void ad_make(Ad *ad, uint64_t i, int64_t cpu, usec_t now) {
        snprintf(ad->id, sizeof(ad->id), "p%07" PRIu64, i);
        ad->a = (StoredAdvertisement) {
                .provider_id = ad->id,
                .ip_address = "192.0.2.1",
                .country = countries[i % ELEMENTSOF(countries)],
                .platform = i % 2000 == 0 ? "aarch64" : i % 7 == 0 ? NULL : "x86_64",
                .cpu = cpu,
                .memory = i % 20000 == 0 ? 1024 + (int64_t) (i / 20000 % 64) : 1 + (int64_t) (i * 2654435761U % 256),
                .storage = 1 + (int64_t) (i * 40503U % 2000),
                .verified = i % 3 == 0,
                .created_at = T0,
                .updated_at = now,
        };
        ad->a.document = ad->document;
        ad->a.document_size = (size_t) snprintf(ad->document, sizeof(ad->document),
                                                "{\"provider_id\":\"%s\",\"cpu\":%" PRIi64 ",\"updated\":%" PRIu64 ",\"pad\":\"%.*s\"}",
                                                ad->id, cpu, now, 40, "........................................");
}

int main(int argc, char *argv[]) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        _cleanup_free_ uint8_t *cpus = NULL; /* each provider's */
        uint64_t n = 1000000, queries = 200, t0;
        usec_t now = T0;
        Ad ad;
        int r;
        static const struct {
                const char *name;
                AdvertisementQuery q;
                uint64_t offsets; /* offset = query number modulo this; 0: none */
        } kinds[] = {
                { "?memory=1024&limit=100&offset=0..49 (50 per 10^6 match)", { .memory = 1024, .limit = 100 }, 50 },
                { "?memory=1050&limit=100 (fewer)", { .memory = 1050, .limit = 100 }, 0 },
                { "?memory=100000&limit=100 (none)", { .memory = 100000, .limit = 100 }, 0 },
                { "?memory=250&storage=1999&limit=100 (rare together, ~30)", { .memory = 250, .storage = 1999, .limit = 100 }, 0 },
                { "?platform=aarch64&limit=100&offset=0..99 (1 in 2000)", { .platform = "aarch64", .limit = 100 }, 100 },
                { "?country=SE&memory=1024&limit=100", { .country = "SE", .memory = 1024, .limit = 100 }, 0 },
                { "?cpu=8&memory=32&country=SE&limit=100 (common)", { .cpu = 8, .memory = 32, .country = "SE", .limit = 100 }, 0 },
                { "?limit=100&offset=0..99 (no filter)", { .limit = 100 }, 100 },
        };

        if ((argc > 1 && parse_uint_range(argv[1], 1, 100000000, &n) < 0) ||
            (argc > 2 && parse_uint_range(argv[2], 1, 1000000, &queries) < 0)) {
                fprintf(stderr, "Usage: %s [N [QUERIES]]\n", argv[0]);
                return EXIT_FAILURE;
        }
        cpus = malloc(n);
        if (!cpus)
                return EXIT_FAILURE;
        r = discovery_index_new(&x);
        if (r < 0) {
                fprintf(stderr, "discovery_index_new: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        t0 = cpu_nsec();
        for (uint64_t i = 0; i < n; i++) {
                cpus[i] = (uint8_t) (1 + rnd(64));
                ad_make(&ad, i, cpus[i], ++now);
                r = discovery_index_put(x, &ad.a);
                if (r < 0) {
                        fprintf(stderr, "discovery_index_put: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        printf("filled %" PRIu64 " in %.2f s CPU (%.2f us each)\n", n, (cpu_nsec() - t0) / 1e9,
               (cpu_nsec() - t0) / 1e3 / (double) n);

        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                uint64_t sum = 0, worst = 0, size = 0;

                for (uint64_t j = 0; j < queries; j++) {
                        AdvertisementQuery q = kinds[k].q;
                        uint64_t i = rnd(n), c0, dt;
                        const char *answer;
                        size_t answer_size;

                        /* A heartbeat: a new generation, the cache does not answer. */
                        ad_make(&ad, i, cpus[i], ++now);
                        r = discovery_index_put(x, &ad.a);
                        if (r < 0) {
                                fprintf(stderr, "discovery_index_put: %s\n", strerror(-r));
                                return EXIT_FAILURE;
                        }
                        if (kinds[k].offsets > 0)
                                q.offset = j % kinds[k].offsets;
                        c0 = cpu_nsec();
                        r = discovery_index_query(x, &q, 0, &answer, &answer_size);
                        dt = cpu_nsec() - c0;
                        if (r < 0) {
                                fprintf(stderr, "discovery_index_query: %s\n", strerror(-r));
                                return EXIT_FAILURE;
                        }
                        sum += dt;
                        worst = MAX(worst, dt);
                        size += answer_size;
                }
                printf("%-66s %8.1f us mean %8.1f us worst, %7.0f bytes answered\n", kinds[k].name,
                       sum / 1e3 / (double) queries, worst / 1e3, (double) size / (double) queries);
        }

        /* Writes that move: another cpu, so out of the trees and back in. */
        t0 = cpu_nsec();
        for (uint64_t j = 0; j < queries * 10; j++) {
                uint64_t i = rnd(n);

                cpus[i] = (uint8_t) (1 + (cpus[i] + rnd(63)) % 64);
                ad_make(&ad, i, cpus[i], ++now);
                r = discovery_index_put(x, &ad.a);
                if (r < 0) {
                        fprintf(stderr, "discovery_index_put: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        printf("%-66s %8.2f us mean\n", "put that moves (another cpu)", (cpu_nsec() - t0) / 1e3 / (double) (queries * 10));
        return EXIT_SUCCESS;
}
