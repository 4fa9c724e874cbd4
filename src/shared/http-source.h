/* SPDX-License-Identifier: MIT */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "macro.h"
#include "ratelimit.h"
#include "time-util.h"

/* The HTTP server's clients, counted per source address (an IPv6 address by its /64, as the
 * rate limiter does): how many connections each holds, which gets to keep one when the
 * server is full, and what was refused to each, summed up for the log. */

typedef enum HttpRefusal {
        HTTP_REFUSAL_OVER_SHARE,        /* a connection closed: its address held more than its share */
        HTTP_REFUSAL_TOO_SLOW,          /* a head or body not complete in time */
        HTTP_REFUSAL_MALFORMED,         /* a request refused for its framing or syntax */
        HTTP_REFUSAL_RATE_LIMITED,      /* answered 429 */
        HTTP_REFUSAL_UNAUTHORIZED,      /* answered 401 (a missing or invalid signature) */
        _HTTP_REFUSAL_MAX,
        _HTTP_REFUSAL_INVALID = -EINVAL,
} HttpRefusal;

DECLARE_STRING_TABLE_LOOKUP(http_refusal, HttpRefusal);

struct HttpConn;

typedef struct HttpSource {
        uint8_t key[CLIENT_KEY_MAX];
        uint8_t key_len;
        char name[INET6_ADDRSTRLEN + 4];        /* "192.0.2.7", "2001:db8::/64" */
        unsigned n_connections;
        /* The server's list of this address's connections, oldest first. */
        struct HttpConn *oldest, *newest;
        unsigned refused[_HTTP_REFUSAL_MAX];    /* not logged yet */
        usec_t quiet_until;                     /* no line for this address before then */
        struct HttpSource *hash_next;
} HttpSource;

typedef struct HttpSources HttpSources;

/* At most max addresses are tracked one by one; beyond that they share one entry. */
int http_sources_new(size_t max, HttpSources **ret);
HttpSources *http_sources_free(HttpSources *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpSources *, http_sources_free);

/* The entry of the address of sa, made when there is none; the shared one of "other
 * addresses" when the table is full. Never NULL. */
HttpSource *http_sources_get(HttpSources *t, const struct sockaddr *sa);
/* Forgets an entry that holds no connection and owes the log nothing. */
void http_sources_release(HttpSources *t, HttpSource *s, usec_t now);
size_t http_sources_size(const HttpSources *t);

/* The address holding the most connections (NULL: none holds any). */
HttpSource *http_sources_biggest(HttpSources *t);

/* Whether a new connection from s may stay, with total connections open of at most max and
 * at most per_source_max per address. Returns 1: yes; 0: yes, once one connection of
 * *ret_victim is closed (s itself when it is at its own limit, else the address holding the
 * most, when that is more than s holds); -EBUSY: no (s holds as many as anyone). So a new
 * address always gets in while anyone holds two connections more than it. */
int http_sources_admit(HttpSources *t, const HttpSource *s, size_t total, size_t max,
                       unsigned per_source_max, HttpSource **ret_victim);

/* The log of refusals: one line per address and interval at most, with counts. The first
 * refusal after a quiet interval is logged at once, later ones are summed up until the
 * interval is over; at most lines_max lines per interval in all, the rest in one line for
 * "other addresses". */
typedef void (*HttpRefusalLogFn)(const char *who, unsigned n_sources, const unsigned refused[static _HTTP_REFUSAL_MAX],
                                 usec_t interval, void *userdata);
void http_sources_set_log(HttpSources *t, usec_t interval, unsigned lines_max, HttpRefusalLogFn fn, void *userdata);
/* Counts a refusal. Returns when http_sources_flush() is to log it, or USEC_INFINITY when it
 * was logged now. */
usec_t http_source_refused(HttpSources *t, HttpSource *s, HttpRefusal what, usec_t now);
/* Logs what is due; returns when to call it next (USEC_INFINITY: nothing pending). */
usec_t http_sources_flush(HttpSources *t, usec_t now);
