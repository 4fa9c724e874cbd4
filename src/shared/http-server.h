/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "metrics.h"

/* An HTTP/1.1 server on libmicrohttpd, driven from an sd-event loop: MHD's epoll fd is an
 * io source, and MHD runs again at once while it has buffered work, else at its timeout.
 * Routes come from a static table; bodies are capped; every answer carries an X-Request-ID;
 * errors use the JSON envelope {"detail": {"code": "...", "message": "..."}} in valid UTF-8.
 * A handler may suspend its request and reply later (the loop goes on meanwhile).
 *
 * Hostile clients: the server accepts connections itself and holds each until its first
 * request head is complete and passes http_head_scan() (refusals are JSON, and close the
 * connection); only then does MHD get it. Heads must be complete within
 * header_timeout_sec, bodies arrive at a minimum rate, idle connections close after
 * connection_timeout_sec. Connections are counted per source address (IPv6 by /64): at
 * most per_ip_connection_limit each, and at most connections_max in all, sized from
 * RLIMIT_NOFILE; when full, the address holding the most gives its oldest idle connection
 * up to a newcomer that holds fewer, so a new address is always served. Refusals are
 * logged as one summary line per address and minute. */

typedef struct HttpServer HttpServer;
typedef struct HttpRequest HttpRequest;

typedef enum HttpMethod {
        HTTP_GET,
        HTTP_HEAD,
        HTTP_POST,
        HTTP_PUT,
        HTTP_DELETE,
        HTTP_PATCH,
        HTTP_OPTIONS,
        _HTTP_METHOD_MAX,
        _HTTP_METHOD_INVALID = -EINVAL,
} HttpMethod;

DECLARE_STRING_TABLE_LOOKUP(http_method, HttpMethod);

/* A handler returns 0 once it has replied or suspended the request, or a negative errno,
 * which is answered with http_reply_errno(). */
typedef int (*HttpHandler)(HttpRequest *req, void *userdata);

enum {
        HTTP_ROUTE_RATE_LIMITED = 1 << 0, /* counts against the per-client rate limit */
};

typedef struct HttpRoute {
        HttpMethod method;
        /* Literal segments, "{}" for exactly one non-empty segment: "/api/v1/vms/{}/start". */
        const char *pattern;
        HttpHandler handler;
        unsigned flags;
} HttpRoute;

typedef struct HttpServerConfig {
        const HttpRoute *routes;
        size_t n_routes;
        void *userdata;
        size_t body_max;            /* bytes; larger bodies get 413 */
        unsigned rate_per_minute;   /* 0: no rate limit */
        unsigned connection_timeout_sec;
        unsigned per_ip_connection_limit;
        const char *rate_limit_code; /* detail.code of a 429 */
        unsigned header_timeout_sec; /* a request head is complete within (0: 5 s) */
        size_t connections_max;     /* 0: from RLIMIT_NOFILE */
        /* The golem_http_* metrics are declared there and followed (NULL: none), and
         * http_handler_metrics() serves it; it must outlive the server. */
        Metrics *metrics;
} HttpServerConfig;

int http_server_new(sd_event *event, const HttpServerConfig *config, HttpServer **ret);
HttpServer *http_server_free(HttpServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpServer *, http_server_free);

/* Serves an already bound and listening socket; takes ownership of fd. */
int http_server_add_listener(HttpServer *s, int fd);
size_t http_server_n_listeners(const HttpServer *s);
/* Connections open now, and the most there may be. */
size_t http_server_n_connections(const HttpServer *s);
size_t http_server_connections_max(const HttpServer *s);
/* Serves the sockets systemd passed whose FileDescriptorName= is one of fd_names, or, when
 * there are none, binds host:port itself. Returns how many sockets were passed (0: bound). */
int http_server_listen(HttpServer *s, const char *const *fd_names, const char *host, uint16_t port);
/* Answers every suspended request with 503, closes connections that have not sent a
 * request and stops accepting; used on shutdown. */
void http_server_shutdown(HttpServer *s);

/* Request accessors. Strings live as long as the request. */
HttpMethod http_request_method(const HttpRequest *req);
const char *http_request_path(const HttpRequest *req);
/* Counts a 401 against the client's address for the refusal log (one summary line per
 * address and interval), so that an attacker does not control the log volume. */
void http_request_refused_unauthorized(HttpRequest *req);
/* The request target exactly as the client sent it (path and query, still percent-encoded). */
const char *http_request_target(const HttpRequest *req);
const char *http_request_path_arg(const HttpRequest *req, size_t i); /* the i-th "{}" */
const char *http_request_header(const HttpRequest *req, const char *name);
const char *http_request_query(const HttpRequest *req, const char *name);
const char *http_request_body(const HttpRequest *req, size_t *ret_size);
const struct sockaddr *http_request_client(const HttpRequest *req);
const char *http_request_client_string(HttpRequest *req);
const char *http_request_id(const HttpRequest *req);
/* The address the client connected to, as text (for answers that name this host). */
int http_request_local_address(const HttpRequest *req, char ret[static 46]);

/* Adds a header to whatever response is sent next. */
int http_request_add_header(HttpRequest *req, const char *name, const char *value);

/* Replies. Each returns 0 (or -ENOMEM after replying 500 anyway); a request is answered once. */
int http_reply_json(HttpRequest *req, unsigned status, json_object *body);
/* body is JSON text that is already serialized (and trusted to be valid). */
int http_reply_json_text(HttpRequest *req, unsigned status, const char *body, size_t size);
/* A body that is not JSON, with its Content-Type. */
int http_reply_text(HttpRequest *req, unsigned status, const char *content_type, const char *body, size_t size);
int http_reply_error(HttpRequest *req, unsigned status, const char *code, const char *format, ...)
        _printf_(4, 5);
/* Status and code (unless given) follow the errno, as src/shared/error-table.c says:
 * ENOENT 404, EEXIST/EBUSY 409, EINVAL/EBADMSG 422, ERANGE 400, EACCES/EPERM 401, E2BIG 413,
 * EAGAIN/ENOSPC/EHOSTDOWN 503, EOPNOTSUPP 405, ETIMEDOUT 504, others 500. */
int http_reply_errno(HttpRequest *req, int error, const char *code, const char *format, ...)
        _printf_(4, 5);
unsigned http_status_from_errno(int error);

/* GET /metrics: the server's metrics registry in the Prometheus text format, or 404 with the
 * JSON envelope when it has none (Metrics=no). A route handler as it is. */
int http_handler_metrics(HttpRequest *req, void *userdata);

/* Keeps the connection open without an answer; a later http_reply_*() resumes it. The
 * destroy callback runs when the request goes away (answered, client gone or shutdown),
 * so whoever holds the pointer can drop it. */
int http_request_suspend(HttpRequest *req);
void http_request_set_destroy_callback(HttpRequest *req, void (*cb)(HttpRequest *req, void *data), void *data);
bool http_request_is_suspended(const HttpRequest *req);
