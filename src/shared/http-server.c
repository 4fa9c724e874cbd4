/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

#include "http-head.h"
#include "error-table.h"
#include "http-server.h"
#include "http-source.h"
#include "json-util.h"
#include "list.h"
#include "listen.h"
#include "log.h"
#include "ratelimit.h"
#include "time-util.h"
#include "utf8.h"

#define PATH_ARGS_MAX 4
#define EXTRA_HEADERS_MAX 4
#define REQUEST_ID_MAX 64
#define RATE_LIMIT_CLIENTS_MAX 65536
#define QUERY_ARGS_MAX 64
#define ERROR_MESSAGE_MAX 512

/* Connections: never more than this many, whatever RLIMIT_NOFILE allows; and descriptors
 * kept back for everything else the daemon opens (its store, the bus, children, forwarded
 * SSH connections). */
#define CONNECTIONS_CEILING 16384U
#define FDS_RESERVED_MIN 64U
/* A body comes at least this fast (after the head's grace period), or the connection goes. */
#define BODY_RATE_MIN 2048U
/* After a refusal, what the client still sends is read and dropped for this long (or up to
 * this much), so that closing does not reset the connection before the answer is read. */
#define LINGER_USEC (2 * USEC_PER_SEC)
#define LINGER_BYTES_MAX (256U * 1024U)
/* accept() at most this many in one go, and retry this soon when out of descriptors. */
#define ACCEPT_BATCH 64
#define ACCEPT_RETRY_USEC (50 * USEC_PER_MSEC)
#define DEADLINE_ACCURACY_USEC (100 * USEC_PER_MSEC)
/* An idle connection kept alive closes unless another request head is in within this many
 * head timeouts. */
#define KEEPALIVE_HEADER_TIMEOUTS 3
#define REFUSAL_LOG_INTERVAL_USEC (60 * USEC_PER_SEC)
#define REFUSAL_LOG_LINES_MAX 16

typedef struct HttpListener {
        HttpServer *server;
        int fd;
        sd_event_source *io_source;
} HttpListener;

typedef enum ConnPhase {
        CONN_HEAD,      /* ours: the first request head is not complete yet */
        CONN_LINGER,    /* ours: refused and answered, closing */
        CONN_MHD,       /* libmicrohttpd's */
} ConnPhase;

/* One client connection, from accept() to close(), whoever serves it. */
typedef struct HttpConn {
        HttpServer *server;
        HttpSource *source;
        struct HttpConn *source_prev, *source_next; /* the source's connections, oldest first */
        struct HttpConn *head_prev, *head_next;     /* the server's CONN_HEAD/LINGER ones */
        int fd;                 /* owned by libmicrohttpd once phase is CONN_MHD */
        struct sockaddr_storage address;
        socklen_t address_len;
        ConnPhase phase;
        bool suspended;         /* its request waits for the daemon: never evicted */
        bool shut_down;         /* by us; libmicrohttpd has yet to notice */
        bool idle;              /* between requests */
        size_t lingered;
        sd_event_source *io_source;
        sd_event_source *timer_source;
        struct MHD_Connection *connection;
} HttpConn;

struct HttpServer {
        sd_event *event;
        HttpServerConfig config;
        HttpHeadLimits head_limits;
        RateLimiter *rate_limiter;
        HttpSources *sources;

        struct MHD_Daemon *daemon;
        sd_event_source *mhd_io_source;
        sd_event_source *mhd_timer_source;
        sd_event_source *mhd_defer_source;

        HttpListener **listeners;
        size_t n_listeners;
        sd_event_source *accept_retry_source;
        sd_event_source *refusal_log_source;

        HttpConn *heads, *heads_last;   /* CONN_HEAD and CONN_LINGER connections */
        HttpConn *adopting;             /* inside MHD_add_connection() */
        size_t n_connections;
        size_t connections_max;
        char *scratch;                  /* head_max bytes, for peeking and dropping */

        HttpRequest *suspended, *suspended_last;
        uint64_t request_seed;

        /* golem_http_* (all NULL without a registry): series by index, so that counting a
         * request costs a few array stores. */
        Metric *m_requests, *m_duration, *m_rate_limited, *m_refused, *m_connections;
        size_t *route_label;            /* per route: the index of its pattern's label value */
        size_t route_other;             /* the label value of requests no route took */
        uint64_t n_requests;
        bool shutting_down;
};

struct HttpRequest {
        HttpServer *server;
        HttpConn *conn;
        struct MHD_Connection *connection;
        bool begun;             /* the access handler saw it: libmicrohttpd did not refuse it */
        HttpMethod method;
        char *target;            /* the request target as sent: path and query, still escaped */
        char *path;
        const HttpRoute *route;
        char *args[PATH_ARGS_MAX];
        size_t n_args;

        char *body;
        size_t body_size;
        bool body_too_large;

        char request_id[REQUEST_ID_MAX + 1];
        char client[INET6_ADDRSTRLEN + 8];
        struct {
                char *name, *value;
        } extra_headers[EXTRA_HEADERS_MAX];
        size_t n_extra_headers;

        usec_t started;
        unsigned status;
        bool in_handler;
        bool hold_reply;        /* an answer given before the request is complete waits for it */
        bool wants_suspend;
        bool suspended;
        bool replied;
        struct MHD_Response *pending;

        void (*destroy_cb)(HttpRequest *req, void *data);
        void *destroy_data;

        HttpRequest *suspended_prev, *suspended_next;
};

static const char *const http_method_table[_HTTP_METHOD_MAX] = {
        [HTTP_GET] = "GET",
        [HTTP_HEAD] = "HEAD",
        [HTTP_POST] = "POST",
        [HTTP_PUT] = "PUT",
        [HTTP_DELETE] = "DELETE",
        [HTTP_PATCH] = "PATCH",
        [HTTP_OPTIONS] = "OPTIONS",
};

DEFINE_STRING_TABLE_LOOKUP(http_method, HttpMethod);

/* ---- metrics ---- */

/* Why a connection or request was refused: golem_http_refused_total's reason label. (A 429 has
 * a counter of its own, by route.) */
typedef enum RefusedReason {
        REFUSED_PER_IP_LIMIT,   /* its address held PerIPConnectionLimit=: its oldest one closed */
        REFUSED_EVICTED,        /* the server was full: the address holding the most gave one up */
        REFUSED_FULL,           /* the server was full and no address held more: the newcomer closed */
        REFUSED_TOO_SLOW,
        REFUSED_MALFORMED,
        REFUSED_UNAUTHORIZED,
        _REFUSED_MAX,
} RefusedReason;

static const char *const refused_reason_values[_REFUSED_MAX] = {
        [REFUSED_PER_IP_LIMIT] = "per_ip_limit",
        [REFUSED_EVICTED] = "evicted",
        [REFUSED_FULL] = "full",
        [REFUSED_TOO_SLOW] = "too_slow",
        [REFUSED_MALFORMED] = "malformed",
        [REFUSED_UNAUTHORIZED] = "unauthorized",
};

/* The statuses the server answers with; anything else is "other". */
static const unsigned metric_statuses[] = {
        200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409, 411, 413, 414, 415, 422, 429, 431,
        500, 501, 502, 503, 504, 505,
};

static const char *const status_values[] = {
        "200", "201", "202", "204", "400", "401", "403", "404", "405", "408", "409", "411", "413", "414",
        "415", "422", "429", "431", "500", "501", "502", "503", "504", "505", "other",
};

static const char *const method_values[_HTTP_METHOD_MAX + 1] = {
        [HTTP_GET] = "GET",
        [HTTP_HEAD] = "HEAD",
        [HTTP_POST] = "POST",
        [HTTP_PUT] = "PUT",
        [HTTP_DELETE] = "DELETE",
        [HTTP_PATCH] = "PATCH",
        [HTTP_OPTIONS] = "OPTIONS",
        [_HTTP_METHOD_MAX] = "other",
};

static const double duration_buckets[] = {
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
};

static size_t status_index(unsigned status) {
        size_t i = 0;

        while (i < ELEMENTSOF(metric_statuses) && metric_statuses[i] != status)
                i++;
        return i; /* "other" when not listed */
}

static void count_refused(HttpServer *s, RefusedReason reason) {
        metric_inc(s->m_refused, metric_series(s->m_refused, reason, 0, 0));
}

static void count_connections(HttpServer *s) {
        metric_set(s->m_connections, 0, (double) s->n_connections);
}

/* The route label's values: each pattern of the table once, and "other". */
static int route_label_values(HttpServer *s, const char ***ret, size_t *ret_n) {
        const HttpServerConfig *c = &s->config;
        _cleanup_free_ const char **values = calloc(c->n_routes + 1, sizeof(char *));
        size_t n = 0;

        s->route_label = calloc(c->n_routes + 1, sizeof(size_t));
        if (!values || !s->route_label)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_routes; i++) {
                size_t k = 0;

                while (k < n && !streq(values[k], c->routes[i].pattern))
                        k++;
                if (k == n)
                        values[n++] = c->routes[i].pattern;
                s->route_label[i] = k;
        }
        s->route_other = n;
        values[n++] = "other";
        *ret = TAKE_PTR(values);
        *ret_n = n;
        return 0;
}

static int server_declare_metrics(HttpServer *s) {
        Metrics *m = s->config.metrics;
        _cleanup_free_ const char **routes = NULL;
        MetricLabel route;
        size_t n_routes;
        Metric *limit;
        int r;

        r = route_label_values(s, &routes, &n_routes);
        if (r < 0)
                return r;
        route = (MetricLabel) { "route", routes, n_routes };

        r = metrics_add(m, &(MetricDef) {
                        .name = "golem_http_requests_total",
                        .help = "HTTP requests answered, by route pattern (\"other\": no route), method and status.",
                        .type = METRIC_COUNTER,
                        .flags = METRIC_SPARSE,
                        .labels = { route, { "method", method_values, ELEMENTSOF(method_values) },
                                    { "status", status_values, ELEMENTSOF(status_values) } },
                        .n_labels = 3,
                }, &s->m_requests);
        if (r >= 0)
                r = metrics_add(m, &(MetricDef) {
                                .name = "golem_http_request_duration_seconds",
                                .help = "Time from a request's head to the end of its answer, by route pattern.",
                                .type = METRIC_HISTOGRAM,
                                .flags = METRIC_SPARSE,
                                .labels = { route },
                                .n_labels = 1,
                                .buckets = duration_buckets,
                                .n_buckets = ELEMENTSOF(duration_buckets),
                        }, &s->m_duration);
        if (r >= 0)
                r = metrics_add(m, &(MetricDef) {
                                .name = "golem_http_rate_limited_requests_total",
                                .help = "Requests answered 429 by the per-client rate limit, by route pattern.",
                                .type = METRIC_COUNTER,
                                .flags = METRIC_SPARSE,
                                .labels = { route },
                                .n_labels = 1,
                        }, &s->m_rate_limited);
        if (r >= 0)
                r = metrics_add(m, &(MetricDef) {
                                .name = "golem_http_refused_total",
                                .help = "Connections and requests refused or closed, by reason.",
                                .type = METRIC_COUNTER,
                                .labels = { { "reason", refused_reason_values, _REFUSED_MAX } },
                                .n_labels = 1,
                        }, &s->m_refused);
        if (r >= 0)
                r = metrics_add(m, &(MetricDef) {
                                .name = "golem_http_connections",
                                .help = "Client connections open.",
                                .type = METRIC_GAUGE,
                        }, &s->m_connections);
        if (r >= 0)
                r = metrics_add(m, &(MetricDef) {
                                .name = "golem_http_connections_max",
                                .help = "The most client connections there may be (from RLIMIT_NOFILE or the configuration).",
                                .type = METRIC_GAUGE,
                        }, &limit);
        if (r < 0)
                return r;
        metric_set(limit, 0, (double) s->connections_max);
        return 0;
}

/* A request's end: its route, method, status and time. */
static void count_request(HttpServer *s, const HttpRequest *req, usec_t duration) {
        size_t route, method;

        if (!s->m_requests)
                return;
        route = req->route ? s->route_label[req->route - s->config.routes] : s->route_other;
        method = req->method >= 0 && req->method < _HTTP_METHOD_MAX ? (size_t) req->method : _HTTP_METHOD_MAX;
        metric_inc(s->m_requests, metric_series(s->m_requests, route, method, status_index(req->status)));
        metric_observe(s->m_duration, metric_series(s->m_duration, route, 0, 0), (double) duration / USEC_PER_SEC);
}

/* ---- running libmicrohttpd ---- */

/* Runs MHD, then has it run again: at once (a defer source, so the rest of the loop gets its
 * turn first) while it holds work it can do without new bytes, such as pipelined requests
 * or a resumed connection; else when its next connection timeout is due. */
static void mhd_run(HttpServer *s) {
        MHD_UNSIGNED_LONG_LONG ms;
        uint64_t now;

        (void) MHD_run(s->daemon);

        if (MHD_get_timeout(s->daemon, &ms) != MHD_YES) {
                (void) sd_event_source_set_enabled(s->mhd_timer_source, SD_EVENT_OFF);
                return;
        }
        if (ms == 0) {
                (void) sd_event_source_set_enabled(s->mhd_defer_source, SD_EVENT_ONESHOT);
                return;
        }
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        (void) sd_event_source_set_time(s->mhd_timer_source, now + MIN(ms, (MHD_UNSIGNED_LONG_LONG) 3600000) * USEC_PER_MSEC);
        (void) sd_event_source_set_enabled(s->mhd_timer_source, SD_EVENT_ONESHOT);
}

static void mhd_kick(HttpServer *s) {
        (void) sd_event_source_set_enabled(s->mhd_defer_source, SD_EVENT_ONESHOT);
}

static int on_mhd_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        mhd_run(userdata);
        return 0;
}

static int on_mhd_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        mhd_run(userdata);
        return 0;
}

static int on_mhd_defer(sd_event_source *es, void *userdata) {
        mhd_run(userdata);
        return 0;
}

/* ---- the refusal log ---- */

static void on_refusal_line(const char *who, unsigned n_sources, const unsigned refused[static _HTTP_REFUSAL_MAX],
                            usec_t interval, void *userdata) {
        static const char *const what[_HTTP_REFUSAL_MAX] = {
                [HTTP_REFUSAL_OVER_SHARE] = "connection(s) closed over the address's share",
                [HTTP_REFUSAL_TOO_SLOW] = "connection(s) without a complete request in time",
                [HTTP_REFUSAL_MALFORMED] = "malformed request(s)",
                [HTTP_REFUSAL_RATE_LIMITED] = "request(s) over the rate limit",
                [HTTP_REFUSAL_UNAUTHORIZED] = "request(s) without a valid signature",
        };
        char text[256] = "", addresses[32] = "";

        for (HttpRefusal i = 0; i < _HTTP_REFUSAL_MAX; i++)
                if (refused[i] > 0)
                        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%u %s",
                                 text[0] ? ", " : "", refused[i], what[i]);
        if (n_sources > 1)
                snprintf(addresses, sizeof(addresses), " (%u addresses)", n_sources);

        log_struct(LOG_NOTICE,
                   "MESSAGE_ID=" GOLEM_MESSAGE_HTTP_REFUSED,
                   "GOLEM_REMOTE_ADDR=%s", who,
                   "GOLEM_REFUSED_OVER_SHARE=%u", refused[HTTP_REFUSAL_OVER_SHARE],
                   "GOLEM_REFUSED_TOO_SLOW=%u", refused[HTTP_REFUSAL_TOO_SLOW],
                   "GOLEM_REFUSED_MALFORMED=%u", refused[HTTP_REFUSAL_MALFORMED],
                   "GOLEM_REFUSED_RATE_LIMITED=%u", refused[HTTP_REFUSAL_RATE_LIMITED],
                   "GOLEM_REFUSED_UNAUTHORIZED=%u", refused[HTTP_REFUSAL_UNAUTHORIZED],
                   "MESSAGE=Refused %s%s: %s (further refusals summed up for %" PRIu64 " s).",
                   who, addresses, text, interval / USEC_PER_SEC);
}

static int on_refusal_log_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        HttpServer *s = userdata;
        usec_t next = http_sources_flush(s->sources, now_monotonic());

        if (next != USEC_INFINITY) {
                (void) sd_event_source_set_time(es, next);
                (void) sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
        }
        return 0;
}

static void server_refused(HttpServer *s, HttpSource *source, HttpRefusal what) {
        usec_t due, armed;
        int enabled = SD_EVENT_OFF;

        /* A connection over its address's share is counted by whoever closed it, who knows why. */
        if (what == HTTP_REFUSAL_TOO_SLOW)
                count_refused(s, REFUSED_TOO_SLOW);
        else if (what == HTTP_REFUSAL_MALFORMED)
                count_refused(s, REFUSED_MALFORMED);
        else if (what == HTTP_REFUSAL_UNAUTHORIZED)
                count_refused(s, REFUSED_UNAUTHORIZED);

        due = http_source_refused(s->sources, source, what, now_monotonic());
        if (due == USEC_INFINITY)
                return;
        (void) sd_event_source_get_enabled(s->refusal_log_source, &enabled);
        if (enabled != SD_EVENT_OFF && sd_event_source_get_time(s->refusal_log_source, &armed) >= 0 && armed <= due)
                return;
        (void) sd_event_source_set_time(s->refusal_log_source, due);
        (void) sd_event_source_set_enabled(s->refusal_log_source, SD_EVENT_ONESHOT);
}

/* ---- connections ---- */

static void conn_set_deadline(HttpConn *c, usec_t usec) {
        if (usec == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(c->timer_source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(c->timer_source, now_monotonic() + usec);
        (void) sd_event_source_set_enabled(c->timer_source, SD_EVENT_ONESHOT);
}

/* The same, unless the deadline set is sooner. */
static void conn_tighten_deadline(HttpConn *c, usec_t usec) {
        int enabled = SD_EVENT_OFF;
        uint64_t t;

        if (sd_event_source_get_enabled(c->timer_source, &enabled) >= 0 && enabled != SD_EVENT_OFF &&
            sd_event_source_get_time(c->timer_source, &t) >= 0 && t <= now_monotonic() + usec)
                return;
        conn_set_deadline(c, usec);
}

static void conn_link(HttpConn *c) {
        HttpServer *s = c->server;
        HttpSource *src = c->source;

        LIST_APPEND_TAIL(source, src->oldest, src->newest, c);
        src->n_connections++;
        LIST_APPEND_TAIL(head, s->heads, s->heads_last, c);
        s->n_connections++;
        count_connections(s);
}

static void conn_unlink_head(HttpConn *c) {
        HttpServer *s = c->server;

        if (c->phase != CONN_MHD)
                LIST_REMOVE_TAIL(head, s->heads, s->heads_last, c);
}

/* Forgets a connection whose descriptor is closed (by us, or by libmicrohttpd). */
static void conn_free(HttpConn *c) {
        HttpServer *s = c->server;
        HttpSource *src = c->source;

        conn_unlink_head(c);
        LIST_REMOVE_TAIL(source, src->oldest, src->newest, c);
        src->n_connections--;
        s->n_connections--;
        count_connections(s);
        http_sources_release(s->sources, src, now_monotonic());

        sd_event_source_disable_unref(c->io_source);
        sd_event_source_disable_unref(c->timer_source);
        free(c);
}

/* Ends a connection: ours are closed at once, libmicrohttpd's are shut down (it then
 * closes them and says so). */
static void conn_close(HttpConn *c) {
        if (c->phase == CONN_MHD) {
                if (!c->shut_down) {
                        c->shut_down = true;
                        (void) shutdown(c->fd, SHUT_RDWR);
                        mhd_kick(c->server);
                }
                return;
        }
        (void) close(c->fd);
        conn_free(c);
}

/* The oldest connection of the source that may be closed to make room: not one whose
 * request the daemon is working on. */
static bool source_evict(HttpServer *s, HttpSource *src, RefusedReason reason) {
        for (HttpConn *c = src->oldest; c; c = c->source_next) {
                bool mhd = c->phase == CONN_MHD;

                if (c->suspended || c->shut_down)
                        continue;
                server_refused(s, src, HTTP_REFUSAL_OVER_SHARE);
                count_refused(s, reason);
                conn_close(c);
                if (mhd)
                        mhd_run(s); /* so that it closes the connection now */
                return true;
        }
        return false;
}

/* ---- the first request head, before libmicrohttpd ---- */

static void request_id_new(HttpServer *s, char ret[static REQUEST_ID_MAX + 1]) {
        /* A counter scrambled with a per-process seed: unique in this process, not guessable
         * in sequence, and cheap. */
        uint64_t x = ++s->n_requests * 0x9E3779B97F4A7C15ULL ^ s->request_seed;

        x ^= x >> 31;
        snprintf(ret, REQUEST_ID_MAX + 1, "%016" PRIx64, x);
}

static json_object *error_envelope(const char *code, const char *message) {
        _cleanup_json_ json_object *o = json_object_new_object(), *detail = json_object_new_object();

        if (!o || !detail ||
            json_object_object_add(detail, "code", json_object_new_string(code)) < 0 ||
            json_object_object_add(detail, "message", json_object_new_string(message)) < 0 ||
            json_object_object_add(o, "detail", TAKE_PTR(detail)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* Drops what comes until the client closes, or enough came. */
static void conn_linger(HttpConn *c) {
        HttpServer *s = c->server;

        for (;;) {
                ssize_t n = recv(c->fd, s->scratch, s->head_limits.head_max, MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0 || (c->lingered += (size_t) n) > LINGER_BYTES_MAX)
                        break;
        }
        conn_close(c);
}

/* Answers a head that is refused (or too slow) and closes the connection: the answer is
 * sent, our side shut down, and what the client still sends dropped for a moment, so that
 * the close does not reset the connection before the client has read the answer. */
static void conn_refuse(HttpConn *c, unsigned status, const char *code, const char *message) {
        HttpServer *s = c->server;
        _cleanup_json_ json_object *o = error_envelope(code, message);
        char id[REQUEST_ID_MAX + 1], date[64] = "", *text = NULL;
        const char *body = o ? json_to_string(o, false) : NULL;
        time_t now = time(NULL);
        struct tm tm;
        int n;

        request_id_new(s, id);
        if (gmtime_r(&now, &tm))
                (void) strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        n = asprintf(&text,
                     "HTTP/1.1 %u %s\r\n"
                     "Date: %s\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: close\r\n"
                     "X-Request-ID: %s\r\n"
                     "\r\n"
                     "%s",
                     status, MHD_get_reason_phrase_for(status), date, strlen(strempty(body)), id, strempty(body));
        /* A new connection's send buffer is empty: the little answer fits. */
        if (n > 0)
                (void) send(c->fd, text, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL);
        free(text);
        log_debug("%s: refused %u %s: %s (request %s)", c->source->name, status, code, message, id);

        (void) shutdown(c->fd, SHUT_WR);
        c->phase = CONN_LINGER;
        conn_set_deadline(c, LINGER_USEC);
        conn_linger(c);
}

static void conn_hand_over(HttpConn *c) {
        HttpServer *s = c->server;
        enum MHD_Result r;

        /* From here on the descriptor is libmicrohttpd's; it reads the head again. */
        c->io_source = sd_event_source_disable_unref(c->io_source);
        conn_set_deadline(c, USEC_INFINITY);
        conn_unlink_head(c);
        c->phase = CONN_MHD;

        s->adopting = c;
        r = MHD_add_connection(s->daemon, c->fd, (const struct sockaddr *) &c->address, c->address_len);
        if (r != MHD_YES && s->adopting)
                /* Refused before it announced the connection; the descriptor is closed. */
                conn_free(c);
        s->adopting = NULL;
        mhd_kick(s);
}

/* The bytes of a new connection, peeked at (libmicrohttpd reads them later): handed over
 * once they hold a complete and acceptable head, refused as soon as they show a fault. */
static void conn_scan(HttpConn *c, uint32_t revents) {
        HttpServer *s = c->server;
        HttpHead h;
        ssize_t n;
        int r;

        do
                n = recv(c->fd, s->scratch, s->head_limits.head_max, MSG_PEEK | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
                return;
        if (n <= 0) {
                conn_close(c);
                return;
        }

        http_head_init(&h, &s->head_limits);
        r = http_head_scan(&h, s->scratch, (size_t) n);
        if (r > 0) {
                conn_hand_over(c);
                return;
        }
        if (r < 0) {
                server_refused(s, c->source, HTTP_REFUSAL_MALFORMED);
                conn_refuse(c, h.status, h.code, h.message);
                return;
        }
        /* Incomplete: wait for more, unless the client has stopped sending. */
        if (revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                conn_close(c);
}

static int on_conn_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        HttpConn *c = userdata;

        if (c->phase == CONN_HEAD)
                conn_scan(c, revents);
        else
                conn_linger(c);
        return 0;
}

static int on_conn_deadline(sd_event_source *es, uint64_t usec, void *userdata) {
        HttpConn *c = userdata;
        HttpServer *s = c->server;
        int n;

        switch (c->phase) {
        case CONN_HEAD:
                server_refused(s, c->source, HTTP_REFUSAL_TOO_SLOW);
                /* A connection that sent nothing is closed quietly (a client that opened it
                 * ahead of time would take a 408 for the answer to its next request). */
                if (ioctl(c->fd, FIONREAD, &n) >= 0 && n == 0) {
                        conn_close(c);
                        return 0;
                }
                conn_refuse(c, 408, "REQUEST_TIMEOUT", "The request head did not come in time");
                break;
        case CONN_LINGER:
                conn_close(c);
                break;
        case CONN_MHD:
                if (!c->idle)
                        server_refused(s, c->source, HTTP_REFUSAL_TOO_SLOW);
                conn_close(c);
                break;
        }
        return 0;
}

/* A new connection from address sa: kept when its address may have one more (or once an
 * address holding more gave one up), else closed at once. */
static void server_admit(HttpServer *s, int fd, const struct sockaddr_storage *sa, socklen_t sa_len) {
        HttpSource *src = http_sources_get(s->sources, (const struct sockaddr *) sa), *victim = NULL;
        HttpConn *c;
        int r;

        r = http_sources_admit(s->sources, src, s->n_connections, s->connections_max,
                               s->config.per_ip_connection_limit, &victim);
        if (r == 0 && !source_evict(s, victim, victim == src ? REFUSED_PER_IP_LIMIT : REFUSED_EVICTED))
                r = -EBUSY;
        if (r < 0 || s->n_connections >= s->connections_max + ACCEPT_BATCH)
                goto refuse;

        c = calloc(1, sizeof(*c));
        if (!c)
                goto refuse;
        *c = (HttpConn) {
                .server = s,
                .source = src,
                .fd = fd,
                .address = *sa,
                .address_len = sa_len,
                .phase = CONN_HEAD,
        };
        if (sd_event_add_io(s->event, &c->io_source, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, on_conn_io, c) < 0 ||
            sd_event_add_time(s->event, &c->timer_source, CLOCK_MONOTONIC, USEC_INFINITY, DEADLINE_ACCURACY_USEC,
                              on_conn_deadline, c) < 0) {
                sd_event_source_disable_unref(c->io_source);
                free(c);
                goto refuse;
        }
        conn_link(c);
        conn_set_deadline(c, s->config.header_timeout_sec * USEC_PER_SEC);
        return;

refuse:
        server_refused(s, src, HTTP_REFUSAL_OVER_SHARE);
        count_refused(s, REFUSED_FULL);
        (void) close(fd);
        http_sources_release(s->sources, src, now_monotonic());
}

static void listeners_pause(HttpServer *s, bool pause) {
        for (size_t i = 0; i < s->n_listeners; i++)
                (void) sd_event_source_set_enabled(s->listeners[i]->io_source, pause ? SD_EVENT_OFF : SD_EVENT_ON);
        if (pause)
                (void) sd_event_source_set_time_relative(s->accept_retry_source, ACCEPT_RETRY_USEC);
        (void) sd_event_source_set_enabled(s->accept_retry_source, pause ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
}

static int on_accept_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        HttpServer *s = userdata;

        if (!s->shutting_down)
                listeners_pause(s, false);
        return 0;
}

/* The address that holds the most connections gives one up. */
static bool server_evict_biggest(HttpServer *s) {
        HttpSource *victim = http_sources_biggest(s->sources);

        return victim && source_evict(s, victim, REFUSED_EVICTED);
}

static int on_listener_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        HttpListener *l = userdata;
        HttpServer *s = l->server;

        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                struct sockaddr_storage sa;
                socklen_t sa_len = sizeof(sa);
                int cfd;

                cfd = accept4(fd, (struct sockaddr *) &sa, &sa_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd >= 0) {
                        server_admit(s, cfd, &sa, sa_len);
                        continue;
                }
                if (errno == EAGAIN)
                        break;
                if (IN_SET(errno, EMFILE, ENFILE, ENOBUFS, ENOMEM)) {
                        /* Out of descriptors although under the cap (the daemon's other
                         * work holds them): make room, or wait a moment without spinning. */
                        if (server_evict_biggest(s))
                                continue;
                        log_debug_errno(errno, "Cannot accept a connection, pausing: %m");
                        listeners_pause(s, true);
                        break;
                }
                if (!IN_SET(errno, EINTR, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENONET, EHOSTUNREACH, ENETUNREACH)) {
                        log_debug_errno(errno, "Cannot accept a connection: %m");
                        break;
                }
        }
        return 0;
}

/* ---- requests ---- */

static void request_free(HttpRequest *req) {
        if (!req)
                return;
        if (req->destroy_cb)
                req->destroy_cb(req, req->destroy_data);
        if (req->suspended)
                LIST_REMOVE_TAIL(suspended, req->server->suspended, req->server->suspended_last, req);
        if (req->pending)
                MHD_destroy_response(req->pending);
        for (size_t i = 0; i < req->n_args; i++)
                free(req->args[i]);
        for (size_t i = 0; i < req->n_extra_headers; i++) {
                free(req->extra_headers[i].name);
                free(req->extra_headers[i].value);
        }
        free(req->body);
        free(req->target);
        free(req->path);
        free(req);
}

static bool request_id_valid(const char *s) {
        size_t n;

        if (isempty(s))
                return false;
        n = strlen(s);
        if (n > REQUEST_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
                        return false;
        return true;
}

static void request_set_id(HttpRequest *req) {
        const char *given;

        given = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "X-Request-ID");
        if (request_id_valid(given))
                strcpy(req->request_id, given);
        else
                request_id_new(req->server, req->request_id);
}

HttpMethod http_request_method(const HttpRequest *req) {
        return req->method;
}

void http_request_refused_unauthorized(HttpRequest *req) {
        if (req->conn)
                server_refused(req->server, req->conn->source, HTTP_REFUSAL_UNAUTHORIZED);
        else
                count_refused(req->server, REFUSED_UNAUTHORIZED);
}

const char *http_request_target(const HttpRequest *req) {
        return req->target ?: req->path;
}

const char *http_request_path(const HttpRequest *req) {
        return req->path;
}

const char *http_request_path_arg(const HttpRequest *req, size_t i) {
        return i < req->n_args ? req->args[i] : NULL;
}

static const char *lookup_value(const HttpRequest *req, enum MHD_ValueKind kind, const char *name) {
        const char *v = NULL;
        size_t n = 0;

        if (MHD_lookup_connection_value_n(req->connection, kind, name, strlen(name), &v, &n) != MHD_YES || !v)
                return NULL;
        /* Refuse embedded NULs and control characters rather than truncate. */
        if (strlen(v) != n)
                return "";
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) v[i] < 0x20 || v[i] == 0x7f)
                        return "";
        return v;
}

const char *http_request_header(const HttpRequest *req, const char *name) {
        return lookup_value(req, MHD_HEADER_KIND, name);
}

const char *http_request_query(const HttpRequest *req, const char *name) {
        return lookup_value(req, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_request_body(const HttpRequest *req, size_t *ret_size) {
        if (ret_size)
                *ret_size = req->body_size;
        return req->body ?: "";
}

const struct sockaddr *http_request_client(const HttpRequest *req) {
        const union MHD_ConnectionInfo *info;

        info = MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        return info ? info->client_addr : NULL;
}

const char *http_request_client_string(HttpRequest *req) {
        const struct sockaddr *sa;

        if (req->client[0])
                return req->client;

        sa = http_request_client(req);
        if (sa && sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, req->client, sizeof(req->client));
        else if (sa && sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, req->client, sizeof(req->client));
        else
                strcpy(req->client, "local");
        return req->client;
}

int http_request_local_address(const HttpRequest *req, char ret[static 46]) {
        const union MHD_ConnectionInfo *info;
        struct sockaddr_storage ss;
        socklen_t l = sizeof(ss);

        info = MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!info || getsockname(info->connect_fd, (struct sockaddr *) &ss, &l) < 0)
                return -EIO;
        if (ss.ss_family == AF_INET)
                return inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, ret, 46) ? 0 : -EIO;
        if (ss.ss_family == AF_INET6) {
                const struct in6_addr *a = &((struct sockaddr_in6 *) &ss)->sin6_addr;

                if (IN6_IS_ADDR_V4MAPPED(a))
                        return inet_ntop(AF_INET, a->s6_addr + 12, ret, 46) ? 0 : -EIO;
                return inet_ntop(AF_INET6, a, ret, 46) ? 0 : -EIO;
        }
        return -EAFNOSUPPORT;
}

const char *http_request_id(const HttpRequest *req) {
        return req->request_id;
}

int http_request_add_header(HttpRequest *req, const char *name, const char *value) {
        char *n, *v;

        if (req->n_extra_headers >= EXTRA_HEADERS_MAX)
                return -E2BIG;
        n = strdup(name);
        v = strdup(value);
        if (!n || !v) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        req->extra_headers[req->n_extra_headers].name = n;
        req->extra_headers[req->n_extra_headers].value = v;
        req->n_extra_headers++;
        return 0;
}

/* ---- replies ---- */

static int request_send(HttpRequest *req, unsigned status, const char *content_type, const char *body, size_t size) {
        struct MHD_Response *resp;

        if (req->replied)
                return -EALREADY;
        req->replied = true;
        req->status = status;

        resp = MHD_create_response_from_buffer(size, (void *) body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return -ENOMEM;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        (void) MHD_add_response_header(resp, "X-Request-ID", req->request_id);
        for (size_t i = 0; i < req->n_extra_headers; i++)
                (void) MHD_add_response_header(resp, req->extra_headers[i].name, req->extra_headers[i].value);

        if (req->in_handler && req->hold_reply)
                /* Queued once the request is complete, so the connection can stay open. */
                req->pending = resp;
        else if (req->in_handler) {
                (void) MHD_queue_response(req->connection, status, resp);
                MHD_destroy_response(resp);
        } else if (req->suspended) {
                /* MHD calls the access handler again after the resume; it queues this there. */
                req->pending = resp;
                LIST_REMOVE_TAIL(suspended, req->server->suspended, req->server->suspended_last, req);
                req->suspended = false;
                if (req->conn)
                        req->conn->suspended = false;
                MHD_resume_connection(req->connection);
                mhd_kick(req->server);
        } else
                MHD_destroy_response(resp); /* cannot happen: a request outside the handler is suspended */

        return 0;
}

int http_reply_json_text(HttpRequest *req, unsigned status, const char *body, size_t size) {
        return request_send(req, status, "application/json", body, size);
}

int http_reply_text(HttpRequest *req, unsigned status, const char *content_type, const char *body, size_t size) {
        return request_send(req, status, content_type, body, size);
}

int http_handler_metrics(HttpRequest *req, void *userdata) {
        Metrics *m = req->server->config.metrics;
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        if (!m)
                return http_reply_error(req, 404, "NOT_FOUND", "Metrics are off here (Metrics=no)");
        r = metrics_render(m, &text, &size);
        if (r < 0)
                return r;
        return http_reply_text(req, 200, METRICS_CONTENT_TYPE, text, size);
}

int http_reply_json(HttpRequest *req, unsigned status, json_object *body) {
        const char *s;

        s = json_to_string(body, false);
        if (!s) {
                static const char oom[] = "{\"detail\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"Out of memory\"}}";
                (void) request_send(req, 500, "application/json", oom, sizeof(oom) - 1);
                return -ENOMEM;
        }
        return request_send(req, status, "application/json", s, strlen(s));
}

static int reply_error_va(HttpRequest *req, unsigned status, const char *code, const char *format, va_list ap) {
        _cleanup_json_ json_object *o = NULL;
        char text[4 * ERROR_MESSAGE_MAX], message[ERROR_MESSAGE_MAX];

        /* What a handler puts in a message may come from the request (a name from the
         * path, say): valid UTF-8 it must be, and cut between characters. */
        vsnprintf(text, sizeof(text), format, ap);
        (void) utf8_sanitize(text, strlen(text), message, sizeof(message));

        o = error_envelope(code, message);
        if (!o)
                return http_reply_json(req, 500, NULL);
        return http_reply_json(req, status, o);
}

int http_reply_error(HttpRequest *req, unsigned status, const char *code, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = reply_error_va(req, status, code, format, ap);
        va_end(ap);
        return r;
}

unsigned http_status_from_errno(int error) {
        return error_info(error)->http_status;
}

int http_reply_errno(HttpRequest *req, int error, const char *code, const char *format, ...) {
        const ErrorInfo *e = error_info(error);
        va_list ap;
        int r;

        va_start(ap, format);
        r = reply_error_va(req, e->http_status, code ?: e->code, format, ap);
        va_end(ap);
        return r;
}

int http_request_suspend(HttpRequest *req) {
        if (req->replied || !req->in_handler)
                return -EINVAL;
        if (req->server->shutting_down)
                return -ESHUTDOWN;
        req->wants_suspend = true;
        return 0;
}

void http_request_set_destroy_callback(HttpRequest *req, void (*cb)(HttpRequest *req, void *data), void *data) {
        req->destroy_cb = cb;
        req->destroy_data = data;
}

bool http_request_is_suspended(const HttpRequest *req) {
        return req->suspended || req->wants_suspend;
}

/* ---- routing ---- */

/* Matches path against pattern segment by segment; "{}" captures one non-empty segment.
 * Returns true on a match and fills args. */
static bool route_match(const char *pattern, const char *path, char *args[static PATH_ARGS_MAX], size_t *ret_n) {
        size_t n = 0;

        for (;;) {
                const char *pe = strchrnul(pattern + 1, '/'), *se = strchrnul(path + 1, '/');
                size_t pl = (size_t) (pe - pattern), sl = (size_t) (se - path);

                if (*pattern != '/' || *path != '/')
                        goto fail;
                if (pl == 3 && memcmp(pattern, "/{}", 3) == 0) {
                        if (sl <= 1 || n >= PATH_ARGS_MAX)
                                goto fail;
                        args[n] = strndup(path + 1, sl - 1);
                        if (!args[n])
                                goto fail;
                        n++;
                } else if (pl != sl || memcmp(pattern, path, pl) != 0)
                        goto fail;

                pattern = pe;
                path = se;
                if (!*pattern && !*path)
                        break;
                if (!*pattern || !*path)
                        goto fail;
        }
        *ret_n = n;
        return true;

fail:
        for (size_t i = 0; i < n; i++)
                free(args[i]);
        return false;
}

static void allow_append(char *allow, size_t allow_size, HttpMethod method) {
        const char *name = http_method_to_string(method);

        if (strstr(allow, name))
                return;
        if (allow[0])
                strncat(allow, ", ", allow_size - strlen(allow) - 1);
        strncat(allow, name, allow_size - strlen(allow) - 1);
}

/* Finds the route; on a path match with the wrong method fills allow (for 405). */
static int request_route(HttpRequest *req, char *allow, size_t allow_size) {
        const HttpServerConfig *c = &req->server->config;
        HttpMethod m = req->method == HTTP_HEAD ? HTTP_GET : req->method;
        bool path_known = false;

        allow[0] = 0;
        for (size_t i = 0; i < c->n_routes; i++) {
                char *args[PATH_ARGS_MAX];
                size_t n;

                if (!route_match(c->routes[i].pattern, req->path, args, &n))
                        continue;
                if (c->routes[i].method == m) {
                        for (size_t k = 0; k < req->n_args; k++)
                                free(req->args[k]);
                        memcpy(req->args, args, sizeof(args[0]) * n);
                        req->n_args = n;
                        req->route = c->routes + i;
                        return 0;
                }
                for (size_t k = 0; k < n; k++)
                        free(args[k]);
                path_known = true;
                allow_append(allow, allow_size, c->routes[i].method);
                /* HEAD is served wherever GET is. */
                if (c->routes[i].method == HTTP_GET)
                        allow_append(allow, allow_size, HTTP_HEAD);
        }
        return path_known ? -EOPNOTSUPP : -ENOENT;
}

/* Runs on the first call for a request: route, rate limit and announced body size, so an
 * answer that needs no body goes out before the body is read. */
static enum MHD_Result on_head_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                     const char *value, size_t value_size) {
        return http_head_field(cls, key, key_size, strempty(value), value_size) < 0 ? MHD_NO : MHD_YES;
}

typedef struct QueryCheck {
        const char *keys[QUERY_ARGS_MAX];
        size_t n;
        const char *repeated;
        bool too_many;
} QueryCheck;

/* Each name once: a handler reads the first, and another reader might take the last. (An
 * empty name means nothing to anyone.) */
static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        QueryCheck *q = cls;

        if (isempty(key))
                return MHD_YES;
        for (size_t i = 0; i < q->n; i++)
                if (streq(q->keys[i], key)) {
                        q->repeated = key;
                        return MHD_NO;
                }
        if (q->n >= QUERY_ARGS_MAX) {
                q->too_many = true;
                return MHD_NO;
        }
        q->keys[q->n++] = key;
        return MHD_YES;
}

/* The checks of http_head_scan() on what libmicrohttpd parsed, for the requests after the
 * first on a connection (which libmicrohttpd read alone), and one query parameter of each
 * name. A refusal closes the connection. */
static bool request_check_head(HttpRequest *req, const char *version, uint64_t *ret_content_length) {
        HttpServer *s = req->server;
        QueryCheck q = {};
        HttpHead h;

        http_head_init(&h, &s->head_limits);
        if (http_head_version(&h, version, strlen(version)) < 0 ||
            MHD_get_connection_values_n(req->connection, MHD_HEADER_KIND, on_head_field, &h) < 0 ||
            h.status != 0 ||
            http_head_end(&h) < 0) {
                if (req->conn)
                        server_refused(s, req->conn->source, HTTP_REFUSAL_MALFORMED);
                (void) http_reply_error(req, h.status, h.code, "%s", h.message);
                return false;
        }
        *ret_content_length = h.has_content_length ? h.content_length : 0;

        (void) MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, on_query_arg, &q);
        if (q.repeated || q.too_many) {
                if (req->conn)
                        server_refused(s, req->conn->source, HTTP_REFUSAL_MALFORMED);
                if (q.too_many)
                        (void) http_reply_error(req, 400, "BAD_REQUEST", "More than %d query parameters", QUERY_ARGS_MAX);
                else
                        (void) http_reply_error(req, 400, "BAD_REQUEST", "Query parameter %s is repeated", q.repeated);
                return false;
        }
        return true;
}

/* Runs once the head of a request is complete: its checks, the route, the rate limit. An
 * answer that needs no body goes out before the body is read (and the connection closes);
 * for a request without a body it waits until the request is complete, so the connection
 * stays open for the next one. */
static void request_begin(HttpRequest *req, const char *version) {
        HttpServer *s = req->server;
        uint64_t content_length;
        char allow[64];
        unsigned retry;
        int r;

        if (!request_check_head(req, version, &content_length))
                return;

        if (req->conn)
                conn_set_deadline(req->conn, content_length == 0 ? USEC_INFINITY :
                                  s->config.header_timeout_sec * USEC_PER_SEC +
                                  content_length * USEC_PER_SEC / BODY_RATE_MIN);
        req->hold_reply = content_length == 0;

        r = request_route(req, allow, sizeof(allow));
        if (r == -EOPNOTSUPP) {
                (void) http_request_add_header(req, "Allow", allow);
                (void) http_reply_error(req, 405, "METHOD_NOT_ALLOWED", "Method %s is not allowed on %s",
                                        http_method_to_string(req->method) ?: "?", req->path);
                return;
        }
        if (r < 0) {
                (void) http_reply_error(req, 404, "NOT_FOUND", "No such resource: %s", req->path);
                return;
        }

        if (s->rate_limiter && (req->route->flags & HTTP_ROUTE_RATE_LIMITED) &&
            rate_limiter_take(s->rate_limiter, http_request_client(req), now_monotonic(), &retry) < 0) {
                char v[16];

                snprintf(v, sizeof(v), "%u", retry);
                (void) http_request_add_header(req, "Retry-After", v);
                if (req->conn)
                        server_refused(s, req->conn->source, HTTP_REFUSAL_RATE_LIMITED);
                metric_inc(s->m_rate_limited,
                           metric_series(s->m_rate_limited, s->route_label ? s->route_label[req->route - s->config.routes] : 0, 0, 0));
                (void) http_reply_error(req, 429, s->config.rate_limit_code ?: "RATE_LIMITED",
                                        "Rate limit exceeded, retry in %u s", retry);
                return;
        }
}

static int request_append_body(HttpRequest *req, const char *data, size_t size) {
        size_t cap = req->server->config.body_max;
        char *b;

        if (req->body_too_large || size > cap - req->body_size) {
                req->body_too_large = true;
                return -E2BIG;
        }
        b = realloc(req->body, req->body_size + size + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b + req->body_size, data, size);
        req->body = b;
        req->body_size += size;
        req->body[req->body_size] = 0;
        return 0;
}

static void request_dispatch(HttpRequest *req) {
        int r;

        if (req->body_too_large) {
                (void) http_reply_error(req, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds %zu bytes",
                                        req->server->config.body_max);
                return;
        }

        if (req->conn)
                conn_set_deadline(req->conn, USEC_INFINITY);
        r = req->route->handler(req, req->server->config.userdata);
        if (req->replied)
                return;
        if (r < 0) {
                (void) http_reply_errno(req, r, NULL, "%s", strerror(ERRNO_VALUE(r)));
                return;
        }
        if (req->wants_suspend) {
                req->wants_suspend = false;
                req->suspended = true;
                if (req->conn)
                        req->conn->suspended = true;
                LIST_APPEND_TAIL(suspended, req->server->suspended, req->server->suspended_last, req);
                MHD_suspend_connection(req->connection);
                return;
        }
        log_error("Handler for %s %s did not answer.", http_method_to_string(req->method), req->path);
        (void) http_reply_error(req, 500, "INTERNAL_ERROR", "The request was not answered");
}

/* A request line was read: the head, and then the body, have their deadlines. The request
 * starts here, so that one libmicrohttpd answers by itself is seen ending too; the target as
 * sent is kept (for signatures over it). */
static void *on_uri_log(void *cls, const char *uri, struct MHD_Connection *connection) {
        HttpServer *s = cls;
        const union MHD_ConnectionInfo *info;
        HttpRequest *req;

        req = calloc(1, sizeof(*req));
        if (!req)
                return NULL;
        req->target = strdup(uri ?: "");
        if (!req->target) {
                free(req);
                return NULL;
        }
        req->server = s;
        req->connection = connection;
        req->started = now_monotonic();
        info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        req->conn = info ? info->socket_context : NULL;
        if (req->conn) {
                /* A later request's head: in time for both its own deadline and the end of
                 * the connection's idle time. */
                req->conn->idle = false;
                conn_tighten_deadline(req->conn, s->config.header_timeout_sec * USEC_PER_SEC);
        }
        return req;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
        HttpServer *s = cls;
        HttpRequest *req = *con_cls;

        if (!req) {
                req = *con_cls = on_uri_log(s, url, connection);
                if (!req)
                        return MHD_NO;
        }

        if (!req->begun) {
                size_t n;

                req->begun = true;
                req->method = http_method_from_string(method);
                req->path = strdup(url && url[0] == '/' ? url : "/");
                if (!req->path)
                        return MHD_NO;
                /* One trailing slash is forgiven: "/api/v1/vms/" is "/api/v1/vms". */
                n = strlen(req->path);
                if (n > 1 && req->path[n - 1] == '/')
                        req->path[n - 1] = 0;

                req->in_handler = true;
                request_set_id(req);
                request_begin(req, strempty(version));
                req->in_handler = false;
                return MHD_YES;
        }

        req->in_handler = true;
        req->hold_reply = false;
        if (*upload_data_size > 0) {
                if (!req->replied)
                        (void) request_append_body(req, upload_data, *upload_data_size);
                *upload_data_size = 0;
        } else if (req->pending) {
                (void) MHD_queue_response(connection, req->status, req->pending);
                MHD_destroy_response(req->pending);
                req->pending = NULL;
        } else if (!req->replied && !req->suspended)
                request_dispatch(req);
        req->in_handler = false;

        return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        HttpServer *s = cls;
        HttpRequest *req = *con_cls;
        usec_t duration;
        HttpConn *c;

        if (!req)
                return;
        c = req->conn;
        if (!req->begun && c)
                /* libmicrohttpd refused the request by itself (a later one on the connection,
                 * which we did not scan): its HTML answer, and the connection closes. */
                server_refused(s, c->source, HTTP_REFUSAL_MALFORMED);
        duration = now_monotonic() - req->started;
        if (req->begun && req->replied)
                count_request(s, req, duration);
        log_debug("%s %s %s -> %u (%" PRIu64 " us, request %s%s)",
                  http_request_client_string(req), http_method_to_string(req->method) ?: "?",
                  req->path ?: "?", req->status, duration, req->request_id,
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ", aborted");
        request_free(req);
        *con_cls = NULL;

        /* Kept alive: the next request's head is in within this long. */
        if (c) {
                c->idle = true;
                c->suspended = false;
                conn_set_deadline(c, KEEPALIVE_HEADER_TIMEOUTS * s->config.header_timeout_sec * USEC_PER_SEC);
        }
}

static void on_connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                                 enum MHD_ConnectionNotificationCode code) {
        HttpServer *s = cls;
        HttpConn *c;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                c = s->adopting;
                *socket_context = c;
                if (c) {
                        c->connection = connection;
                        c->idle = true;
                }
                return;
        }

        c = *socket_context;
        *socket_context = NULL;
        if (!c)
                return;
        if (c == s->adopting)
                s->adopting = NULL;
        conn_free(c);
}

/* Decodes %XX, except bytes that would end or corrupt a C string (NUL and control
 * characters): those stay encoded, and the validators refuse the '%'. */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s) {
        char *w = s;

        for (const char *r = s; *r; ) {
                if (r[0] == '%' && isxdigit((unsigned char) r[1]) && isxdigit((unsigned char) r[2])) {
                        char hex[3] = { r[1], r[2], 0 };
                        unsigned long v = strtoul(hex, NULL, 16);

                        if (v >= 0x20 && v != 0x7f) {
                                *w++ = (char) v;
                                r += 3;
                                continue;
                        }
                }
                *w++ = *r++;
        }
        *w = 0;
        return (size_t) (w - s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[256];

        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        log_debug("microhttpd: %s", buf);
}


/* ---- the server ---- */

/* As many connections as descriptors allow, leaving some for everything else. */
static size_t connections_max_from_rlimit(void) {
        struct rlimit rl;
        size_t reserved;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return CONNECTIONS_CEILING;
        reserved = MAX((size_t) FDS_RESERVED_MIN, (size_t) rl.rlim_cur / 8);
        if (rl.rlim_cur < reserved + 16)
                return 16;
        return MIN((size_t) rl.rlim_cur - reserved, (size_t) CONNECTIONS_CEILING);
}

int http_server_new(sd_event *event, const HttpServerConfig *config, HttpServer **ret) {
        _cleanup_(http_server_freep) HttpServer *s = NULL;
        const union MHD_DaemonInfo *info;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->config = *config;
        if (s->config.body_max == 0)
                s->config.body_max = 64 * 1024;
        if (s->config.connection_timeout_sec == 0)
                s->config.connection_timeout_sec = 30;
        if (s->config.per_ip_connection_limit == 0)
                s->config.per_ip_connection_limit = 128;
        if (s->config.header_timeout_sec == 0)
                s->config.header_timeout_sec = 5;
        s->connections_max = s->config.connections_max ?: connections_max_from_rlimit();
        s->head_limits = (HttpHeadLimits) {
                .head_max = HTTP_HEAD_MAX_DEFAULT,
                .fields_max = HTTP_HEAD_FIELDS_MAX_DEFAULT,
                .body_max = s->config.body_max,
        };

        if (config->rate_per_minute > 0) {
                r = rate_limiter_new(config->rate_per_minute, RATE_LIMIT_CLIENTS_MAX, &s->rate_limiter);
                if (r < 0)
                        return r;
        }
        r = http_sources_new(2 * s->connections_max, &s->sources);
        if (r < 0)
                return r;
        http_sources_set_log(s->sources, REFUSAL_LOG_INTERVAL_USEC, REFUSAL_LOG_LINES_MAX, on_refusal_line, s);
        if (s->config.metrics) {
                r = server_declare_metrics(s);
                if (r < 0)
                        return r;
        }
        s->scratch = malloc(s->head_limits.head_max);
        if (!s->scratch)
                return -ENOMEM;
        if (getrandom(&s->request_seed, sizeof(s->request_seed), GRND_NONBLOCK) != sizeof(s->request_seed))
                s->request_seed = now_realtime();

        /* One daemon for every listener: the connections are accepted here, and handed to
         * it once their first head is in. The head is checked before libmicrohttpd reads
         * it, so its memory only needs to hold one that passed (and the body's pieces). */
        s->daemon = MHD_start_daemon(
                MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET,
                0, NULL, NULL, on_access, s,
                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, or MHD logs to stderr until it */
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) s->config.connection_timeout_sec,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned) (s->connections_max + ACCEPT_BATCH),
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (4 * s->head_limits.head_max),
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                MHD_OPTION_NOTIFY_CONNECTION, on_connection_notify, s,
                MHD_OPTION_URI_LOG_CALLBACK, on_uri_log, s,
                MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL,
                MHD_OPTION_END);
        if (!s->daemon)
                return -EINVAL;
        info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info)
                return -EIO;

        r = sd_event_add_io(event, &s->mhd_io_source, info->epoll_fd, EPOLLIN, on_mhd_io, s);
        if (r < 0)
                return r;
        r = sd_event_add_time(event, &s->mhd_timer_source, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_MSEC, on_mhd_timer, s);
        if (r < 0)
                return r;
        r = sd_event_add_defer(event, &s->mhd_defer_source, on_mhd_defer, s);
        if (r < 0)
                return r;
        r = sd_event_add_time(event, &s->accept_retry_source, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_MSEC, on_accept_retry, s);
        if (r < 0)
                return r;
        r = sd_event_add_time(event, &s->refusal_log_source, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_SEC,
                              on_refusal_log_timer, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s->mhd_timer_source, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(s->mhd_defer_source, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(s->accept_retry_source, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(s->refusal_log_source, SD_EVENT_OFF);
        (void) sd_event_source_set_description(s->mhd_io_source, "http-io");
        (void) sd_event_source_set_description(s->mhd_timer_source, "http-timer");
        (void) sd_event_source_set_description(s->mhd_defer_source, "http-run");

        *ret = TAKE_PTR(s);
        return 0;
}

static HttpListener *listener_free(HttpListener *l) {
        if (!l)
                return NULL;
        sd_event_source_disable_unref(l->io_source);
        closep(&l->fd);
        free(l);
        return NULL;
}

void http_server_shutdown(HttpServer *s) {
        if (!s)
                return;
        s->shutting_down = true;
        while (s->suspended)
                (void) http_reply_error(s->suspended, 503, "SHUTTING_DOWN", "The service is shutting down");
        /* Stop accepting (a socket systemd passed keeps what is queued for the next start),
         * drop connections that have not sent a request, and answer what was resumed. */
        for (size_t i = 0; i < s->n_listeners; i++)
                (void) sd_event_source_set_enabled(s->listeners[i]->io_source, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(s->accept_retry_source, SD_EVENT_OFF);
        while (s->heads)
                conn_close(s->heads);
        if (s->daemon)
                mhd_run(s);
}

HttpServer *http_server_free(HttpServer *s) {
        if (!s)
                return NULL;
        http_server_shutdown(s);
        sd_event_source_disable_unref(s->mhd_io_source);
        sd_event_source_disable_unref(s->mhd_timer_source);
        sd_event_source_disable_unref(s->mhd_defer_source);
        sd_event_source_disable_unref(s->accept_retry_source);
        sd_event_source_disable_unref(s->refusal_log_source);
        /* Closes its connections, and says so for each. */
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        for (size_t i = 0; i < s->n_listeners; i++)
                listener_free(s->listeners[i]);
        free(s->listeners);
        http_sources_free(s->sources);
        rate_limiter_free(s->rate_limiter);
        free(s->scratch);
        free(s->route_label);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int http_server_add_listener(HttpServer *s, int fd) {
        _cleanup_close_ int owned = fd;
        HttpListener *l, **a;
        int r;

        a = realloc(s->listeners, (s->n_listeners + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        s->listeners = a;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->server = s;
        l->fd = TAKE_FD(owned);
        /* accept4() must not block when another process took the connection first. */
        r = fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK) < 0 ? -errno : 0;
        if (r >= 0)
                r = sd_event_add_io(s->event, &l->io_source, l->fd, EPOLLIN, on_listener_io, l);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        (void) sd_event_source_set_description(l->io_source, "http-accept");
        if (s->shutting_down)
                (void) sd_event_source_set_enabled(l->io_source, SD_EVENT_OFF);

        s->listeners[s->n_listeners++] = l;
        return 0;
}

size_t http_server_n_listeners(const HttpServer *s) {
        return s->n_listeners;
}

size_t http_server_n_connections(const HttpServer *s) {
        return s->n_connections;
}

size_t http_server_connections_max(const HttpServer *s) {
        return s->connections_max;
}
int http_server_listen(HttpServer *s, const char *const *fd_names, const char *host, uint16_t port) {
        _cleanup_free_ int *fds = NULL;
        int n, fd, r;

        n = listen_fds_take(fd_names, &fds);
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++) {
                r = http_server_add_listener(s, fds[i]);
                if (r < 0) {
                        for (int k = i + 1; k < n; k++)
                                close(fds[k]);
                        return r;
                }
        }
        if (n > 0)
                return n;

        r = listen_tcp(host, port, &fd);
        if (r < 0)
                return r;
        r = http_server_add_listener(s, fd);
        return r < 0 ? r : 0;
}
