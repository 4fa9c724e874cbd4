/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "macro.h"
#include "ratelimit.h"
#include "tests.h"

/* The injected clock: a realistic CLOCK_MONOTONIC-like start, well past zero. */
#define T0 ((usec_t) 1000 * USEC_PER_SEC)

typedef union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
        struct sockaddr_storage storage;
} Address;

static Address address(const char *s) {
        Address a = {};

        if (inet_pton(AF_INET, s, &a.in.sin_addr) == 1) {
                a.in.sin_family = AF_INET;
                a.in.sin_port = htons(40000);
        } else if (inet_pton(AF_INET6, s, &a.in6.sin6_addr) == 1) {
                a.in6.sin6_family = AF_INET6;
                a.in6.sin6_port = htons(40001);
        } else
                tests_fail(__FILE__, __LINE__, "bad address in test: %s", s);
        return a;
}

static RateLimiter *limiter(unsigned per_minute, size_t max_clients) {
        RateLimiter *rl = NULL;

        ASSERT_OK(rate_limiter_new(per_minute, max_clients, &rl));
        ASSERT_NOT_NULL(rl);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 0);
        return rl;
}

/* Takes n tokens that must all be granted. */
static void take_ok(RateLimiter *rl, const char *client, usec_t now, unsigned n) {
        Address a = address(client);

        for (unsigned i = 0; i < n; i++) {
                TEST_CONTEXT("%s, request %u at %.3fs", client, i + 1, (double) (now - T0) / USEC_PER_SEC);
                ASSERT_OK(rate_limiter_take(rl, &a.sa, now, NULL));
        }
}

/* The next request is refused; returns the Retry-After. */
static unsigned take_busy(RateLimiter *rl, const char *client, usec_t now) {
        Address a = address(client);
        unsigned retry = 0;

        TEST_CONTEXT("%s refused at %.3fs", client, (double) (now - T0) / USEC_PER_SEC);
        ASSERT_ERROR(rate_limiter_take(rl, &a.sa, now, &retry), EBUSY);
        ASSERT_TRUE(retry >= 1);
        return retry;
}

TEST(new_invalid) {
        RateLimiter *rl = NULL;

        ASSERT_ERROR(rate_limiter_new(0, 10, &rl), EINVAL);
        ASSERT_ERROR(rate_limiter_new(10, 0, &rl), EINVAL);
        ASSERT_ERROR(rate_limiter_new(10, SIZE_MAX, &rl), EINVAL);
        ASSERT_NULL(rl);
        ASSERT_NULL(rate_limiter_free(NULL));
}

TEST(burst_then_busy) {
        RateLimiter *rl = limiter(10, 100);

        /* A full bucket: 10 requests at once, then 429 for 60/10 = 6 seconds. */
        take_ok(rl, "192.0.2.1", T0, 10);
        ASSERT_EQ_INT(take_busy(rl, "192.0.2.1", T0), 6);
        ASSERT_EQ_INT(take_busy(rl, "192.0.2.1", T0), 6); /* a refusal costs nothing */
        ASSERT_EQ_INT(take_busy(rl, "192.0.2.1", T0 + 1 * USEC_PER_SEC), 5);
        ASSERT_EQ_INT(take_busy(rl, "192.0.2.1", T0 + 5 * USEC_PER_SEC), 1);
        ASSERT_EQ_INT(take_busy(rl, "192.0.2.1", T0 + 6 * USEC_PER_SEC - 1), 1);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 1);

        /* After 60/N seconds, exactly one more. */
        take_ok(rl, "192.0.2.1", T0 + 6 * USEC_PER_SEC, 1);
        ASSERT_EQ_INT(take_busy(rl, "192.0.2.1", T0 + 6 * USEC_PER_SEC), 6);

        /* After a minute the bucket is full again, but never holds more than N. */
        take_ok(rl, "192.0.2.1", T0 + 66 * USEC_PER_SEC, 10);
        take_busy(rl, "192.0.2.1", T0 + 66 * USEC_PER_SEC);
        take_ok(rl, "192.0.2.1", T0 + 3600 * USEC_PER_SEC, 10);
        take_busy(rl, "192.0.2.1", T0 + 3600 * USEC_PER_SEC);

        rate_limiter_free(rl);
}

TEST(steady_rate) {
        RateLimiter *rl = limiter(60, 100);
        usec_t t = T0;

        /* One per second forever is fine at 60 per minute, even with the bucket empty. */
        take_ok(rl, "192.0.2.1", t, 60);
        take_busy(rl, "192.0.2.1", t);
        for (unsigned i = 0; i < 600; i++) {
                t += USEC_PER_SEC;
                take_ok(rl, "192.0.2.1", t, 1);
                ASSERT_EQ_INT(take_busy(rl, "192.0.2.1", t), 1);
        }

        /* The clock going backwards grants nothing. */
        ASSERT_EQ_INT(take_busy(rl, "192.0.2.1", t - 30 * USEC_PER_SEC), 1);

        rate_limiter_free(rl);
}

TEST(retry_after_exact) {
        /* 7 per minute: a token every 8.571 s, which no whole second matches. Retry-After is
         * never too short (waiting it is enough) and never a second too long. */
        RateLimiter *rl = limiter(7, 100);
        usec_t t = T0;

        take_ok(rl, "192.0.2.1", t, 7);
        for (unsigned i = 0; i < 100; i++) {
                unsigned retry = take_busy(rl, "192.0.2.1", t);

                ASSERT_TRUE(retry >= 1 && retry <= 9);
                if (retry > 1)
                        take_busy(rl, "192.0.2.1", t + (retry - 1) * USEC_PER_SEC);
                t += retry * USEC_PER_SEC;
                take_ok(rl, "192.0.2.1", t, 1);
                t += (i * 37 % 1000) * USEC_PER_MSEC; /* come back at odd moments */
        }

        rate_limiter_free(rl);
}

TEST(default_rate) {
        /* The daemon's default: 100 per minute; Retry-After is rounded up to 1 s. */
        RateLimiter *rl = limiter(100, 1000);

        take_ok(rl, "198.51.100.7", T0, 100);
        ASSERT_EQ_INT(take_busy(rl, "198.51.100.7", T0), 1);
        take_busy(rl, "198.51.100.7", T0 + 599 * USEC_PER_MSEC);
        take_ok(rl, "198.51.100.7", T0 + 600 * USEC_PER_MSEC, 1);

        rate_limiter_free(rl);
}

TEST(separate_ipv4) {
        RateLimiter *rl = limiter(5, 100);

        take_ok(rl, "192.0.2.1", T0, 5);
        take_busy(rl, "192.0.2.1", T0);
        /* Neighbours, even in the same /24, have their own buckets. */
        take_ok(rl, "192.0.2.2", T0, 5);
        take_busy(rl, "192.0.2.2", T0);
        take_ok(rl, "192.0.3.1", T0, 5);
        take_ok(rl, "10.0.0.1", T0, 5);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 4);

        /* The port does not matter. */
        {
                Address a = address("192.0.2.1");

                a.in.sin_port = htons(1);
                ASSERT_ERROR(rate_limiter_take(rl, &a.sa, T0, NULL), EBUSY);
        }

        rate_limiter_free(rl);
}

TEST(ipv6_prefix) {
        RateLimiter *rl = limiter(5, 100);

        /* One host usually owns its whole /64. */
        take_ok(rl, "2001:db8:1:2::1", T0, 3);
        take_ok(rl, "2001:db8:1:2:ffff:ffff:ffff:ffff", T0, 2);
        take_busy(rl, "2001:db8:1:2::1234", T0);
        take_busy(rl, "2001:db8:1:2::1", T0);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 1);

        /* Another /64, even the next one, is another client. */
        take_ok(rl, "2001:db8:1:3::1", T0, 5);
        take_busy(rl, "2001:db8:1:3::1", T0);
        take_ok(rl, "2001:db8:1:1::1", T0, 5);
        take_ok(rl, "2001:db9:1:2::1", T0, 5);
        take_ok(rl, "::1", T0, 5);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 5);

        /* An IPv6 /64 whose first 4 bytes look like an IPv4 address is not that address. */
        take_ok(rl, "192.0.2.1", T0, 5);
        take_busy(rl, "192.0.2.1", T0);
        take_ok(rl, "c000:201::", T0, 5);

        rate_limiter_free(rl);
}

TEST(ipv4_mapped) {
        RateLimiter *rl = limiter(4, 100);

        /* A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d: the same client. */
        take_ok(rl, "192.0.2.1", T0, 2);
        take_ok(rl, "::ffff:192.0.2.1", T0, 2);
        take_busy(rl, "192.0.2.1", T0);
        take_busy(rl, "::ffff:192.0.2.1", T0);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 1);

        /* ...and not the same as its neighbour in the mapped /64. */
        take_ok(rl, "::ffff:192.0.2.2", T0, 4);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 2);

        rate_limiter_free(rl);
}

TEST(local_clients) {
        RateLimiter *rl = limiter(3, 100);
        Address u = { .un = { .sun_family = AF_UNIX } };

        /* Anything that is not IP (a unix socket, no address) shares one bucket. */
        for (unsigned i = 0; i < 2; i++)
                ASSERT_OK(rate_limiter_take(rl, &u.sa, T0, NULL));
        ASSERT_OK(rate_limiter_take(rl, NULL, T0, NULL));
        ASSERT_ERROR(rate_limiter_take(rl, NULL, T0, NULL), EBUSY);
        ASSERT_ERROR(rate_limiter_take(rl, &u.sa, T0, NULL), EBUSY);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 1);
        take_ok(rl, "127.0.0.1", T0, 3);

        rate_limiter_free(rl);
}

static void format_client(char buf[static INET6_ADDRSTRLEN], unsigned i, bool v6) {
        if (v6)
                snprintf(buf, INET6_ADDRSTRLEN, "2001:db8:%x::1", i);
        else
                snprintf(buf, INET6_ADDRSTRLEN, "198.18.%u.%u", i / 256, i % 256);
}

TEST(bounded_table) {
        RateLimiter *rl = limiter(10, 4);
        char client[INET6_ADDRSTRLEN];

        /* A flood of distinct addresses never grows the table beyond max_clients. */
        for (unsigned i = 0; i < 100; i++) {
                Address a;

                format_client(client, i, i % 2);
                a = address(client);
                TEST_CONTEXT("client %u: %s", i, client);
                (void) rate_limiter_take(rl, &a.sa, T0 + i, NULL);
                ASSERT_LE_UINT(rate_limiter_size(rl), 4);
        }
        ASSERT_EQ_UINT(rate_limiter_size(rl), 4);

        /* Those beyond the table share one overflow bucket of 10 per minute: of the 96,
         * at most 10 were let through in the same instant. */
        {
                unsigned allowed = 0;

                for (unsigned i = 100; i < 200; i++) {
                        Address a;

                        format_client(client, i, false);
                        a = address(client);
                        if (rate_limiter_take(rl, &a.sa, T0 + 100, NULL) >= 0)
                                allowed++;
                }
                ASSERT_EQ_INT(allowed, 0); /* the first 96 have already used it up */
        }

        /* The first four still have their own buckets: 9 tokens left each. */
        format_client(client, 0, false);
        take_ok(rl, client, T0 + 200, 9);
        take_busy(rl, client, T0 + 200);

        rate_limiter_free(rl);
}

TEST(overflow_shared) {
        RateLimiter *rl = limiter(10, 4);
        unsigned allowed = 0;
        char client[INET6_ADDRSTRLEN];

        take_ok(rl, "192.0.2.1", T0, 1);
        take_ok(rl, "192.0.2.2", T0, 1);
        take_ok(rl, "192.0.2.3", T0, 1);
        take_ok(rl, "192.0.2.4", T0, 1);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 4);

        for (unsigned i = 0; i < 50; i++) {
                Address a;

                format_client(client, i, false);
                a = address(client);
                if (rate_limiter_take(rl, &a.sa, T0, NULL) >= 0)
                        allowed++;
        }
        ASSERT_EQ_INT(allowed, 10);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 4);

        rate_limiter_free(rl);
}

TEST(pruning) {
        RateLimiter *rl = limiter(10, 4);

        /* A is used up; B, C, D each take one a little later. */
        take_ok(rl, "192.0.2.1", T0, 10);
        take_ok(rl, "192.0.2.2", T0 + 59 * USEC_PER_SEC, 1);
        take_ok(rl, "192.0.2.3", T0 + 59 * USEC_PER_SEC, 1);
        take_ok(rl, "192.0.2.4", T0 + 59 * USEC_PER_SEC, 1);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 4);

        /* At T0+59s nothing has refilled completely: a new client gets no bucket of its own. */
        take_ok(rl, "192.0.2.5", T0 + 59 * USEC_PER_SEC, 1);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 4);

        /* At T0+61s, A has refilled completely (it is as if A had never come) and is pruned
         * to make room; B, C and D are kept, with their state. */
        take_ok(rl, "192.0.2.6", T0 + 61 * USEC_PER_SEC, 1);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 4);
        take_ok(rl, "192.0.2.6", T0 + 61 * USEC_PER_SEC, 9);
        take_busy(rl, "192.0.2.6", T0 + 61 * USEC_PER_SEC);
        /* B had 9 tokens at 59 s, plus 2 s * 10/min = 1/3: 9 more, not 10, and the missing
         * 2/3 of a token come in 4 s. */
        take_ok(rl, "192.0.2.2", T0 + 61 * USEC_PER_SEC, 9);
        ASSERT_EQ_INT(take_busy(rl, "192.0.2.2", T0 + 61 * USEC_PER_SEC), 4);
        take_ok(rl, "192.0.2.3", T0 + 61 * USEC_PER_SEC, 9);
        take_busy(rl, "192.0.2.3", T0 + 61 * USEC_PER_SEC);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 4);

        /* Much later everything is idle: the next new client prunes all of them. */
        take_ok(rl, "192.0.2.7", T0 + 3600 * USEC_PER_SEC, 1);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 1);
        take_ok(rl, "192.0.2.8", T0 + 3600 * USEC_PER_SEC, 1);
        take_ok(rl, "2001:db8::1", T0 + 3600 * USEC_PER_SEC, 1);
        ASSERT_EQ_UINT(rate_limiter_size(rl), 3);

        rate_limiter_free(rl);
}

TEST(many_clients) {
        /* A large table: every client of 5000 keeps its own bucket. */
        RateLimiter *rl = limiter(2, 5000);
        char client[INET6_ADDRSTRLEN];

        for (unsigned i = 0; i < 5000; i++) {
                format_client(client, i, i % 3 == 0);
                take_ok(rl, client, T0, 2);
        }
        ASSERT_EQ_UINT(rate_limiter_size(rl), 5000);
        for (unsigned i = 0; i < 5000; i++) {
                format_client(client, i, i % 3 == 0);
                take_busy(rl, client, T0);
        }

        rate_limiter_free(rl);
}
