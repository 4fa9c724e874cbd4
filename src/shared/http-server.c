/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>

#include "http-server.h"
#include "json-util.h"
#include "listen.h"
#include "log.h"
#include "ratelimit.h"
#include "time-util.h"

#define PATH_ARGS_MAX 4
#define EXTRA_HEADERS_MAX 4
#define REQUEST_ID_MAX 64
#define RATE_LIMIT_CLIENTS_MAX 65536

typedef struct HttpListener {
        HttpServer *server;
        struct MHD_Daemon *daemon;
        sd_event_source *io_source;
        sd_event_source *timer_source;
        int quiesced_fd; /* the listening socket once MHD stopped accepting on it */
} HttpListener;

struct HttpServer {
        sd_event *event;
        HttpServerConfig config;
        RateLimiter *rate_limiter;
        HttpListener **listeners;
        size_t n_listeners;
        HttpRequest *suspended; /* doubly linked list */
        uint64_t request_seed;
        uint64_t n_requests;
        bool shutting_down;
};

struct HttpRequest {
        HttpServer *server;
        HttpListener *listener;
        struct MHD_Connection *connection;
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

/* ---- the event loop glue ---- */

static void listener_schedule(HttpListener *l);

static int listener_run(HttpListener *l) {
        (void) MHD_run(l->daemon);
        listener_schedule(l);
        return 0;
}

static int on_listener_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        return listener_run(userdata);
}

static int on_listener_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        return listener_run(userdata);
}

/* Arms the timer from MHD's own idea of when it next needs to run (connection timeouts,
 * data already buffered, resumed connections). */
static void listener_schedule(HttpListener *l) {
        MHD_UNSIGNED_LONG_LONG ms;
        uint64_t now;

        if (MHD_get_timeout(l->daemon, &ms) != MHD_YES) {
                (void) sd_event_source_set_enabled(l->timer_source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_now(l->server->event, CLOCK_MONOTONIC, &now);
        (void) sd_event_source_set_time(l->timer_source, now + MIN(ms, (MHD_UNSIGNED_LONG_LONG) 3600000) * USEC_PER_MSEC);
        (void) sd_event_source_set_enabled(l->timer_source, SD_EVENT_ONESHOT);
}

static void listener_kick(HttpListener *l) {
        (void) sd_event_source_set_time(l->timer_source, 1); /* in the past: run at once */
        (void) sd_event_source_set_enabled(l->timer_source, SD_EVENT_ONESHOT);
}

/* ---- requests ---- */

static void request_add_suspended(HttpRequest *req) {
        HttpServer *s = req->server;

        req->suspended_prev = NULL;
        req->suspended_next = s->suspended;
        if (s->suspended)
                s->suspended->suspended_prev = req;
        s->suspended = req;
}

static void request_remove_suspended(HttpRequest *req) {
        HttpServer *s = req->server;

        if (req->suspended_prev)
                req->suspended_prev->suspended_next = req->suspended_next;
        else if (s->suspended == req)
                s->suspended = req->suspended_next;
        if (req->suspended_next)
                req->suspended_next->suspended_prev = req->suspended_prev;
        req->suspended_prev = req->suspended_next = NULL;
}

static void request_free(HttpRequest *req) {
        if (!req)
                return;
        if (req->destroy_cb)
                req->destroy_cb(req, req->destroy_data);
        if (req->suspended)
                request_remove_suspended(req);
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
        uint64_t x;

        given = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "X-Request-ID");
        if (request_id_valid(given)) {
                strcpy(req->request_id, given);
                return;
        }
        /* A counter scrambled with a per-process seed: unique in this process, not guessable
         * in sequence, and cheap. */
        x = ++req->server->n_requests * 0x9E3779B97F4A7C15ULL ^ req->server->request_seed;
        x ^= x >> 31;
        snprintf(req->request_id, sizeof(req->request_id), "%016" PRIx64, x);
}

HttpMethod http_request_method(const HttpRequest *req) {
        return req->method;
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

static int request_send(HttpRequest *req, unsigned status, const char *body, size_t size) {
        struct MHD_Response *resp;

        if (req->replied)
                return -EALREADY;
        req->replied = true;
        req->status = status;

        resp = MHD_create_response_from_buffer(size, (void *) body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return -ENOMEM;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        (void) MHD_add_response_header(resp, "X-Request-ID", req->request_id);
        for (size_t i = 0; i < req->n_extra_headers; i++)
                (void) MHD_add_response_header(resp, req->extra_headers[i].name, req->extra_headers[i].value);

        if (req->in_handler) {
                (void) MHD_queue_response(req->connection, status, resp);
                MHD_destroy_response(resp);
        } else if (req->suspended) {
                /* MHD calls the access handler again after the resume; it queues this there. */
                req->pending = resp;
                request_remove_suspended(req);
                req->suspended = false;
                MHD_resume_connection(req->connection);
                listener_kick(req->listener);
        } else
                MHD_destroy_response(resp); /* cannot happen: a request outside the handler is suspended */

        return 0;
}

int http_reply_json_text(HttpRequest *req, unsigned status, const char *body, size_t size) {
        return request_send(req, status, body, size);
}

int http_reply_json(HttpRequest *req, unsigned status, json_object *body) {
        const char *s;

        s = json_to_string(body, false);
        if (!s) {
                static const char oom[] = "{\"detail\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"Out of memory\"}}";
                (void) request_send(req, 500, oom, sizeof(oom) - 1);
                return -ENOMEM;
        }
        return request_send(req, status, s, strlen(s));
}

static int reply_error_va(HttpRequest *req, unsigned status, const char *code, const char *format, va_list ap) {
        _cleanup_json_ json_object *o = NULL, *detail = NULL;
        char message[512];

        vsnprintf(message, sizeof(message), format, ap);

        detail = json_object_new_object();
        o = json_object_new_object();
        if (!detail || !o ||
            json_object_object_add(detail, "code", json_object_new_string(code)) < 0 ||
            json_object_object_add(detail, "message", json_object_new_string(message)) < 0 ||
            json_object_object_add(o, "detail", TAKE_PTR(detail)) < 0)
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
        switch (ERRNO_VALUE(error)) {
        case ENOENT:
        case ENXIO:
                return 404;
        case EEXIST:
        case EBUSY:
                return 409;
        case EINVAL:
        case EBADMSG:
                return 422;
        case ERANGE:
                return 400;
        case EACCES:
        case EPERM:
                return 401;
        case E2BIG:
                return 413;
        case EAGAIN:
        case ENOSPC:
        case ENOMEM:
        case ECONNREFUSED:
        case EHOSTUNREACH:
                return 503;
        case EOPNOTSUPP:
                return 405;
        case ETIMEDOUT:
                return 504;
        default:
                return 500;
        }
}

int http_reply_errno(HttpRequest *req, int error, const char *code, const char *format, ...) {
        unsigned status = http_status_from_errno(error);
        va_list ap;
        int r;

        if (!code)
                code = status == 404 ? "NOT_FOUND" :
                       status == 409 ? "CONFLICT" :
                       status == 422 ? "VALIDATION_ERROR" :
                       status == 503 ? "SERVICE_UNAVAILABLE" :
                       status < 500 ? "BAD_REQUEST" : "INTERNAL_ERROR";

        va_start(ap, format);
        r = reply_error_va(req, status, code, format, ap);
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
                if (!strstr(allow, http_method_to_string(c->routes[i].method))) {
                        if (allow[0])
                                strncat(allow, ", ", allow_size - strlen(allow) - 1);
                        strncat(allow, http_method_to_string(c->routes[i].method), allow_size - strlen(allow) - 1);
                }
        }
        return path_known ? -EOPNOTSUPP : -ENOENT;
}

/* Runs on the first call for a request: route, rate limit and announced body size, so an
 * answer that needs no body goes out before the body is read. */
static void request_begin(HttpRequest *req) {
        HttpServer *s = req->server;
        char allow[64];
        const char *cl;
        unsigned retry;
        int r;

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
                log_struct(LOG_NOTICE,
                           "MESSAGE_ID=" GOLEM_MESSAGE_RATE_LIMITED,
                           "GOLEM_REMOTE_ADDR=%s", http_request_client_string(req),
                           "GOLEM_REQUEST_ID=%s", req->request_id,
                           "MESSAGE=Rate limit exceeded for %s, retry in %us.", http_request_client_string(req), retry);
                (void) http_reply_error(req, 429, s->config.rate_limit_code ?: "RATE_LIMITED",
                                        "Rate limit exceeded, retry in %u s", retry);
                return;
        }

        cl = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
                char *end;
                unsigned long long v;

                errno = 0;
                v = strtoull(cl, &end, 10);
                if (errno != 0 || *end || v > s->config.body_max) {
                        req->body_too_large = true;
                        (void) http_reply_error(req, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds %zu bytes", s->config.body_max);
                }
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
                request_add_suspended(req);
                MHD_suspend_connection(req->connection);
                return;
        }
        log_error("Handler for %s %s did not answer.", http_method_to_string(req->method), req->path);
        (void) http_reply_error(req, 500, "INTERNAL_ERROR", "The request was not answered");
}

/* The request line was read: the target as sent is kept (for signatures over it); the rest
 * of the request is set up in on_access(). */
static void *on_uri_log(void *cls, const char *uri, struct MHD_Connection *connection) {
        HttpRequest *req = calloc(1, sizeof(*req));

        if (req)
                req->target = strdup(uri ?: "");
        return req;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
        HttpListener *l = cls;
        HttpRequest *req = *con_cls;

        if (!req || !req->server) {
                size_t n;

                if (!req)
                        req = calloc(1, sizeof(*req));
                if (!req)
                        return MHD_NO;
                req->server = l->server;
                req->listener = l;
                req->connection = connection;
                req->started = now_monotonic();
                req->method = http_method_from_string(method);
                req->path = strdup(url && url[0] == '/' ? url : "/");
                if (!req->path) {
                        free(req);
                        return MHD_NO;
                }
                /* One trailing slash is forgiven: "/api/v1/vms/" is "/api/v1/vms". */
                n = strlen(req->path);
                if (n > 1 && req->path[n - 1] == '/')
                        req->path[n - 1] = 0;
                *con_cls = req;

                req->in_handler = true;
                request_set_id(req);
                request_begin(req);
                req->in_handler = false;
                return MHD_YES;
        }

        req->in_handler = true;
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
        HttpRequest *req = *con_cls;

        if (!req)
                return;
        if (!req->server) {
                /* Answered by libmicrohttpd itself before our handler saw it. */
                request_free(req);
                *con_cls = NULL;
                return;
        }
        log_debug("%s %s %s -> %u (%" PRIu64 " us, request %s%s)",
                  http_request_client_string(req), http_method_to_string(req->method) ?: "?",
                  req->path, req->status, now_monotonic() - req->started, req->request_id,
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ", aborted");
        request_free(req);
        *con_cls = NULL;
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

int http_server_new(sd_event *event, const HttpServerConfig *config, HttpServer **ret) {
        _cleanup_(http_server_freep) HttpServer *s = NULL;
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

        if (config->rate_per_minute > 0) {
                r = rate_limiter_new(config->rate_per_minute, RATE_LIMIT_CLIENTS_MAX, &s->rate_limiter);
                if (r < 0)
                        return r;
        }
        if (getrandom(&s->request_seed, sizeof(s->request_seed), GRND_NONBLOCK) != sizeof(s->request_seed))
                s->request_seed = now_realtime();

        *ret = TAKE_PTR(s);
        return 0;
}

static HttpListener *listener_free(HttpListener *l) {
        if (!l)
                return NULL;
        sd_event_source_disable_unref(l->io_source);
        sd_event_source_disable_unref(l->timer_source);
        if (l->daemon)
                MHD_stop_daemon(l->daemon);
        /* After MHD_quiesce_daemon() the socket is ours to close. */
        closep(&l->quiesced_fd);
        free(l);
        return NULL;
}

void http_server_shutdown(HttpServer *s) {
        if (!s)
                return;
        s->shutting_down = true;
        while (s->suspended)
                (void) http_reply_error(s->suspended, 503, "SHUTTING_DOWN", "The service is shutting down");
        for (size_t i = 0; i < s->n_listeners; i++) {
                /* Answer what the resumed connections have pending, then stop accepting. */
                HttpListener *l = s->listeners[i];

                (void) MHD_run(l->daemon);
                if (l->quiesced_fd < 0)
                        l->quiesced_fd = MHD_quiesce_daemon(l->daemon);
        }
}

HttpServer *http_server_free(HttpServer *s) {
        if (!s)
                return NULL;
        http_server_shutdown(s);
        for (size_t i = 0; i < s->n_listeners; i++)
                listener_free(s->listeners[i]);
        free(s->listeners);
        rate_limiter_free(s->rate_limiter);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int http_server_add_listener(HttpServer *s, int fd) {
        _cleanup_close_ int owned = fd;
        HttpListener *l, **a;
        const union MHD_DaemonInfo *info;
        int r;

        a = realloc(s->listeners, (s->n_listeners + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        s->listeners = a;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->server = s;
        l->quiesced_fd = -EBADF;

        l->daemon = MHD_start_daemon(
                MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                0, NULL, NULL, on_access, l,
                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, or MHD logs to stderr until it */
                MHD_OPTION_LISTEN_SOCKET, (MHD_socket) owned,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) s->config.connection_timeout_sec,
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) s->config.per_ip_connection_limit,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                MHD_OPTION_URI_LOG_CALLBACK, on_uri_log, NULL,
                MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL,
                MHD_OPTION_END);
        if (!l->daemon) {
                free(l);
                return -EINVAL;
        }
        TAKE_FD(owned); /* MHD closes it when the daemon stops */

        info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                listener_free(l);
                return -EIO;
        }

        r = sd_event_add_io(s->event, &l->io_source, info->epoll_fd, EPOLLIN, on_listener_io, l);
        if (r < 0)
                goto fail;
        r = sd_event_add_time(s->event, &l->timer_source, CLOCK_MONOTONIC, 0, 0, on_listener_timer, l);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(l->io_source, "http-io");
        (void) sd_event_source_set_description(l->timer_source, "http-timer");
        listener_schedule(l);

        s->listeners[s->n_listeners++] = l;
        return 0;

fail:
        listener_free(l);
        return r;
}

size_t http_server_n_listeners(const HttpServer *s) {
        return s->n_listeners;
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
