/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <sys/random.h>

#include "http-source.h"

struct HttpSources {
        size_t max, n;
        size_t n_buckets;               /* a power of two */
        uint64_t seed;
        HttpSource **buckets;
        HttpSource overflow;            /* every address that found the table full */

        usec_t interval;
        unsigned lines_max;
        HttpRefusalLogFn log_fn;
        void *log_userdata;
        usec_t window_end;              /* of the interval lines are counted in */
        unsigned lines;
        bool rest_logged;               /* the line for "other addresses", in this interval */
};

static const char *const http_refusal_table[_HTTP_REFUSAL_MAX] = {
        [HTTP_REFUSAL_OVER_SHARE] = "over-share",
        [HTTP_REFUSAL_TOO_SLOW] = "too-slow",
        [HTTP_REFUSAL_MALFORMED] = "malformed",
        [HTTP_REFUSAL_RATE_LIMITED] = "rate-limited",
        [HTTP_REFUSAL_UNAUTHORIZED] = "unauthorized",
};

DEFINE_STRING_TABLE_LOOKUP(http_refusal, HttpRefusal);

int http_sources_new(size_t max, HttpSources **ret) {
        HttpSources *t;
        size_t n = 16;

        if (max == 0 || max > SIZE_MAX / 4 / sizeof(HttpSource *))
                return -EINVAL;
        while (n < max * 2)
                n <<= 1;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->buckets = calloc(n, sizeof(HttpSource *));
        if (!t->buckets) {
                free(t);
                return -ENOMEM;
        }
        t->max = max;
        t->n_buckets = n;
        if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
                t->seed = now_monotonic() * 0x9E3779B97F4A7C15ULL;
        strcpy(t->overflow.name, "other addresses");
        t->interval = 60 * USEC_PER_SEC;
        t->lines_max = 16;
        *ret = t;
        return 0;
}

HttpSources *http_sources_free(HttpSources *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_buckets; i++)
                while (t->buckets[i]) {
                        HttpSource *s = t->buckets[i];

                        t->buckets[i] = s->hash_next;
                        free(s);
                }
        free(t->buckets);
        free(t);
        return NULL;
}

size_t http_sources_size(const HttpSources *t) {
        return t->n;
}

static void source_name(const struct sockaddr *sa, char *buf, size_t size) {
        if (sa && sa->sa_family == AF_INET)
                (void) inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, size);
        else if (sa && sa->sa_family == AF_INET6) {
                struct in6_addr a = ((const struct sockaddr_in6 *) sa)->sin6_addr;

                if (IN6_IS_ADDR_V4MAPPED(&a)) {
                        (void) inet_ntop(AF_INET, a.s6_addr + 12, buf, size);
                        return;
                }
                memset(a.s6_addr + 8, 0, 8);
                if (inet_ntop(AF_INET6, &a, buf, size - 3))
                        strcat(buf, "/64");
        } else
                snprintf(buf, size, "local");
}

HttpSource *http_sources_get(HttpSources *t, const struct sockaddr *sa) {
        uint8_t key[CLIENT_KEY_MAX];
        size_t len = client_key_from_sockaddr(sa, key);
        HttpSource **bucket = t->buckets + (client_key_hash(t->seed, key, len) & (t->n_buckets - 1)), *s;

        for (s = *bucket; s; s = s->hash_next)
                if (s->key_len == len && memcmp(s->key, key, len) == 0)
                        return s;

        if (t->n >= t->max)
                return &t->overflow;
        s = calloc(1, sizeof(*s));
        if (!s)
                return &t->overflow;
        memcpy(s->key, key, len);
        s->key_len = (uint8_t) len;
        source_name(sa, s->name, sizeof(s->name));
        s->hash_next = *bucket;
        *bucket = s;
        t->n++;
        return s;
}

static bool source_owes_log(const HttpSource *s) {
        for (size_t i = 0; i < _HTTP_REFUSAL_MAX; i++)
                if (s->refused[i] > 0)
                        return true;
        return false;
}

void http_sources_release(HttpSources *t, HttpSource *s, usec_t now) {
        HttpSource **p;

        if (s == &t->overflow || s->n_connections > 0 || source_owes_log(s) || now < s->quiet_until)
                return;
        for (p = t->buckets + (client_key_hash(t->seed, s->key, s->key_len) & (t->n_buckets - 1)); *p; p = &(*p)->hash_next)
                if (*p == s) {
                        *p = s->hash_next;
                        free(s);
                        t->n--;
                        return;
                }
}

HttpSource *http_sources_biggest(HttpSources *t) {
        HttpSource *biggest = &t->overflow;

        for (size_t i = 0; i < t->n_buckets; i++)
                for (HttpSource *x = t->buckets[i]; x; x = x->hash_next)
                        if (x->n_connections > biggest->n_connections)
                                biggest = x;
        return biggest->n_connections > 0 ? biggest : NULL;
}

int http_sources_admit(HttpSources *t, const HttpSource *s, size_t total, size_t max,
                       unsigned per_source_max, HttpSource **ret_victim) {
        HttpSource *biggest;

        /* The shared entry stands for many addresses: no limit of one applies to it. */
        if (s != &t->overflow && per_source_max > 0 && s->n_connections >= per_source_max) {
                *ret_victim = (HttpSource *) s;
                return 0;
        }
        if (total < max)
                return 1;

        biggest = http_sources_biggest(t);
        if (!biggest || biggest->n_connections < s->n_connections + 2)
                return -EBUSY;
        *ret_victim = biggest;
        return 0;
}

void http_sources_set_log(HttpSources *t, usec_t interval, unsigned lines_max, HttpRefusalLogFn fn, void *userdata) {
        t->interval = interval;
        t->lines_max = lines_max;
        t->log_fn = fn;
        t->log_userdata = userdata;
}

static void log_window(HttpSources *t, usec_t now) {
        if (now < t->window_end)
                return;
        t->window_end = now + t->interval;
        t->lines = 0;
        t->rest_logged = false;
}

/* Whether one more line fits the budget of the current interval (and takes it). */
static bool log_budget(HttpSources *t, usec_t now) {
        log_window(t, now);
        if (t->lines >= t->lines_max)
                return false;
        t->lines++;
        return true;
}

static void source_log(HttpSources *t, HttpSource *s, usec_t now) {
        if (t->log_fn)
                t->log_fn(s->name, 1, s->refused, t->interval, t->log_userdata);
        memset(s->refused, 0, sizeof(s->refused));
        s->quiet_until = now + t->interval;
}

usec_t http_source_refused(HttpSources *t, HttpSource *s, HttpRefusal what, usec_t now) {
        if (s->refused[what] < UINT_MAX)
                s->refused[what]++;
        if (now < s->quiet_until)
                return s->quiet_until;
        if (log_budget(t, now)) {
                source_log(t, s, now);
                return USEC_INFINITY;
        }
        /* Out of lines: in the one for "other addresses", now or in the next interval. */
        return t->rest_logged ? t->window_end : now;
}

usec_t http_sources_flush(HttpSources *t, usec_t now) {
        unsigned rest[_HTTP_REFUSAL_MAX] = {}, n_rest = 0;
        usec_t next = USEC_INFINITY;

        log_window(t, now);
        for (size_t i = 0; i <= t->n_buckets; i++) {
                HttpSource *s = i < t->n_buckets ? t->buckets[i] : &t->overflow, *s_next;

                for (; s; s = s_next) {
                        s_next = i < t->n_buckets ? s->hash_next : NULL;
                        if (!source_owes_log(s)) {
                                /* Kept while quiet, so that a comeback is not logged at once. */
                                if (s->n_connections == 0 && now < s->quiet_until)
                                        next = MIN(next, s->quiet_until);
                                http_sources_release(t, s, now);
                                continue;
                        }
                        if (now < s->quiet_until) {
                                next = MIN(next, s->quiet_until);
                                continue;
                        }
                        if (log_budget(t, now)) {
                                source_log(t, s, now);
                                continue;
                        }
                        if (t->rest_logged) {
                                next = MIN(next, t->window_end);
                                continue;
                        }
                        for (size_t k = 0; k < _HTTP_REFUSAL_MAX; k++)
                                rest[k] += s->refused[k];
                        n_rest++;
                        memset(s->refused, 0, sizeof(s->refused));
                        s->quiet_until = now + t->interval;
                }
        }
        if (n_rest > 0) {
                t->rest_logged = true;
                if (t->log_fn)
                        t->log_fn("other addresses", n_rest, rest, t->interval, t->log_userdata);
        }
        return next;
}
