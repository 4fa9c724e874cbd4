/* SPDX-License-Identifier: MIT */
#include <netinet/in.h>
#include <stdint.h>
#include <sys/random.h>

#include "macro.h"
#include "ratelimit.h"

/* One request, in units of which a bucket gains exactly per_minute every microsecond, so
 * that refilling never rounds (a token takes 60 s / per_minute to come back). */
#define TOKEN ((uint64_t) 60 * USEC_PER_SEC)

typedef struct Bucket {
        uint8_t key[CLIENT_KEY_MAX];
        uint8_t key_len; /* 0: free slot */
        uint64_t tokens; /* in TOKEN units */
        usec_t last;
} Bucket;

struct RateLimiter {
        uint64_t per_minute;
        size_t max_clients;
        size_t n_buckets; /* a power of two, at least twice max_clients */
        size_t n_used;
        uint64_t seed;
        Bucket *buckets;
        Bucket overflow;
        usec_t last_prune;
};

int rate_limiter_new(unsigned per_minute, size_t max_clients, RateLimiter **ret) {
        RateLimiter *rl;
        size_t n = 16;

        if (per_minute == 0 || max_clients == 0 || max_clients > (SIZE_MAX / 4) / sizeof(Bucket))
                return -EINVAL;
        while (n < max_clients * 2)
                n <<= 1;

        rl = calloc(1, sizeof(*rl));
        if (!rl)
                return -ENOMEM;
        rl->buckets = calloc(n, sizeof(Bucket));
        if (!rl->buckets) {
                free(rl);
                return -ENOMEM;
        }
        rl->per_minute = per_minute;
        rl->max_clients = max_clients;
        rl->n_buckets = n;
        if (getrandom(&rl->seed, sizeof(rl->seed), GRND_NONBLOCK) != sizeof(rl->seed))
                rl->seed = (uint64_t) now_monotonic() * 0x9E3779B97F4A7C15ULL;
        rl->overflow.key_len = 1;
        *ret = rl;
        return 0;
}

RateLimiter *rate_limiter_free(RateLimiter *rl) {
        if (!rl)
                return NULL;
        free(rl->buckets);
        free(rl);
        return NULL;
}

size_t rate_limiter_size(const RateLimiter *rl) {
        return rl->n_used;
}

uint64_t client_key_hash(uint64_t seed, const uint8_t *key, size_t len) {
        uint64_t h = 0xcbf29ce484222325ULL ^ seed;

        for (size_t i = 0; i < len; i++) {
                h ^= key[i];
                h *= 0x100000001b3ULL;
        }
        /* Final mix, so that the low bits used for the index depend on every byte. */
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        return h;
}

size_t client_key_from_sockaddr(const struct sockaddr *sa, uint8_t key[static CLIENT_KEY_MAX]) {
        if (sa && sa->sa_family == AF_INET) {
                memcpy(key, &((const struct sockaddr_in *) sa)->sin_addr, 4);
                return 4;
        }
        if (sa && sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;

                if (IN6_IS_ADDR_V4MAPPED(a)) {
                        memcpy(key, a->s6_addr + 12, 4);
                        return 4;
                }
                memcpy(key, a->s6_addr, 8); /* the /64 */
                return 8;
        }
        /* AF_UNIX and anything else: all local callers count as one. */
        key[0] = 0;
        return 1;
}

static void refill(const RateLimiter *rl, Bucket *b, usec_t now) {
        uint64_t capacity = rl->per_minute * TOKEN, add;

        if (now <= b->last)
                return;
        /* per_minute units per microsecond; cap the interval to avoid overflow. */
        add = MIN(now - b->last, (usec_t) 120 * USEC_PER_SEC) * rl->per_minute;
        b->tokens = MIN(capacity, b->tokens + add);
        b->last = now;
}

static Bucket *lookup(RateLimiter *rl, const uint8_t *key, size_t len, bool *ret_found) {
        size_t mask = rl->n_buckets - 1, i = client_key_hash(rl->seed, key, len) & mask;

        for (;; i = (i + 1) & mask) {
                Bucket *b = rl->buckets + i;

                if (b->key_len == 0) {
                        *ret_found = false;
                        return b;
                }
                if (b->key_len == len && memcmp(b->key, key, len) == 0) {
                        *ret_found = true;
                        return b;
                }
        }
}

/* Drops every bucket that has refilled completely: it is the same as having none. */
static void prune(RateLimiter *rl, usec_t now) {
        Bucket *old = rl->buckets;
        Bucket *fresh = calloc(rl->n_buckets, sizeof(Bucket));

        if (!fresh)
                return;
        rl->buckets = fresh;
        rl->n_used = 0;
        for (size_t i = 0; i < rl->n_buckets; i++) {
                Bucket *b = old + i, *slot;
                bool found;

                if (b->key_len == 0)
                        continue;
                refill(rl, b, now);
                if (b->tokens >= rl->per_minute * TOKEN)
                        continue;
                slot = lookup(rl, b->key, b->key_len, &found);
                *slot = *b;
                rl->n_used++;
        }
        free(old);
}

int rate_limiter_take(RateLimiter *rl, const struct sockaddr *sa, usec_t now, unsigned *ret_retry_after_sec) {
        uint8_t key[CLIENT_KEY_MAX];
        size_t len = client_key_from_sockaddr(sa, key);
        bool found;
        Bucket *b;

        b = lookup(rl, key, len, &found);
        if (!found) {
                /* A full table is rebuilt at most once a second: a flood of new addresses
                 * shares the overflow bucket meanwhile instead of costing a rebuild each. */
                if (rl->n_used >= rl->max_clients && now >= rl->last_prune + USEC_PER_SEC) {
                        rl->last_prune = now;
                        prune(rl, now);
                        b = lookup(rl, key, len, &found);
                }
                if (rl->n_used >= rl->max_clients)
                        b = &rl->overflow;
                else {
                        memcpy(b->key, key, len);
                        b->key_len = (uint8_t) len;
                        b->tokens = rl->per_minute * TOKEN;
                        b->last = now;
                        rl->n_used++;
                }
        }

        refill(rl, b, now);
        if (b->tokens >= TOKEN) {
                b->tokens -= TOKEN;
                return 0;
        }

        if (ret_retry_after_sec) {
                /* Seconds until the missing part of one token has refilled, rounded up. */
                uint64_t missing = TOKEN - b->tokens;
                uint64_t usec = (missing + rl->per_minute - 1) / rl->per_minute;
                *ret_retry_after_sec = (unsigned) MAX((usec + USEC_PER_SEC - 1) / USEC_PER_SEC, 1);
        }
        return -EBUSY;
}
