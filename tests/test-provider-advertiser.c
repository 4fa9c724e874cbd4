/* SPDX-License-Identifier: MIT */
/* The curl-multi glue and the advertiser against a small scripted HTTP/1.1 server that
 * runs on the same sd-event loop. With GOLEM_TEST_DISCOVERY_URL set, the advertiser also
 * talks to a real golem-discoveryd there. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "curl-glue.h"
#include "json-util.h"
#include "log.h"
#include "provider-advertiser.h"
#include "signed-request.h"
#include "ssh-wire.h"
#include "tests.h"
#include "time-util.h"

/* ---- the scripted server ---- */

#define REPLY_HOLD  (-1)        /* do not answer until server_release() */
#define REPLY_HUGE  (-2)        /* 200 with a body over CURL_GLUE_BODY_MAX */
#define REPLY_HUGE_UNSIZED (-3) /* the same without a Content-Length */
#define MAX_RECORDED 128
#define MAX_HEADERS 32

typedef struct Recorded {
        char *method, *path, *body;
        char *headers[MAX_HEADERS];
        size_t n_headers, body_size;
        usec_t at;
} Recorded;

typedef struct Server Server;
typedef struct Conn Conn;

struct Conn {
        Server *server;
        int fd;
        sd_event_source *source;
        char *buf;
        size_t size, allocated;
        bool held;
        char *out;
        size_t out_size, out_done;
        Conn *next;
};

struct Server {
        sd_event *event;
        int fd;
        uint16_t port;
        sd_event_source *source;
        Conn *conns;

        Recorded recorded[MAX_RECORDED];
        size_t n_recorded;

        int script[32];
        size_t n_script;
        int default_status;
};

static void conn_free(Conn *c) {
        Server *s = c->server;

        for (Conn **p = &s->conns; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        sd_event_source_disable_unref(c->source);
        close(c->fd);
        free(c->buf);
        free(c->out);
        free(c);
}

static void recorded_clear(Recorded *r) {
        free(r->method);
        free(r->path);
        free(r->body);
        for (size_t i = 0; i < r->n_headers; i++)
                free(r->headers[i]);
        *r = (Recorded) {};
}

static void server_reset(Server *s, int default_status) {
        for (size_t i = 0; i < s->n_recorded; i++)
                recorded_clear(&s->recorded[i]);
        s->n_recorded = 0;
        s->n_script = 0;
        s->default_status = default_status;
}

static void server_script(Server *s, const int *statuses, size_t n) {
        ASSERT_TRUE(n <= ELEMENTSOF(s->script));
        memcpy(s->script, statuses, n * sizeof(int));
        s->n_script = n;
}

static int server_next_status(Server *s) {
        int status;

        if (s->n_script == 0)
                return s->default_status;
        status = s->script[0];
        memmove(s->script, s->script + 1, (s->n_script - 1) * sizeof(int));
        s->n_script--;
        return status;
}

#define IN_SET_HUGE(s) ((s) == REPLY_HUGE || (s) == REPLY_HUGE_UNSIZED)

static void conn_reply(Conn *c, int status) {
        _cleanup_free_ char *head = NULL, *huge = NULL;
        const char *body = "{}", *reason = "OK";
        bool sized = status != REPLY_HUGE_UNSIZED;
        size_t body_size;
        int n;

        if (IN_SET_HUGE(status)) {
                status = 200;
                huge = malloc(2 * CURL_GLUE_BODY_MAX);
                ASSERT_TRUE(huge);
                memset(huge, 'x', 2 * CURL_GLUE_BODY_MAX);
                body = huge;
                body_size = 2 * CURL_GLUE_BODY_MAX;
        } else {
                if (status == 503) {
                        reason = "Service Unavailable";
                        body = "{\"detail\":{\"code\":\"ADV_001\",\"message\":\"down\"}}";
                } else if (status == 404) {
                        reason = "Not Found";
                        body = "{\"detail\":{\"code\":\"ADV_004\",\"message\":\"none\"}}";
                }
                body_size = strlen(body);
        }

        if (sized)
                n = asprintf(&head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, reason, body_size);
        else
                n = asprintf(&head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                             "Connection: close\r\n\r\n", status, reason);
        ASSERT_TRUE(n > 0);

        /* Written as the socket takes it: the client runs on this very loop. */
        c->out = malloc((size_t) n + body_size);
        ASSERT_TRUE(c->out);
        memcpy(c->out, head, (size_t) n);
        memcpy(c->out + n, body, body_size);
        c->out_size = (size_t) n + body_size;
        c->held = false;
        ASSERT_OK(sd_event_source_set_io_events(c->source, EPOLLOUT));
}

/* Parses what arrived so far; records and answers a complete request. */
static void conn_process(Conn *c) {
        Server *s = c->server;
        Recorded *r;
        char *end, *line, *next, *sp1, *sp2;
        size_t head_size, content_length = 0;
        int status;

        if (c->held || c->out)
                return;

        end = memmem(c->buf, c->size, "\r\n\r\n", 4);
        if (!end)
                return;
        head_size = (size_t) (end - c->buf) + 4;

        for (line = strstr(c->buf, "\r\n") + 2; line < end; line = next + 2) {
                next = strstr(line, "\r\n");
                if (strncasecmp(line, "Content-Length:", 15) == 0)
                        content_length = strtoul(line + 15, NULL, 10);
        }
        if (c->size < head_size + content_length)
                return;

        ASSERT_TRUE(s->n_recorded < MAX_RECORDED);
        r = &s->recorded[s->n_recorded++];
        r->at = now_monotonic();

        next = strstr(c->buf, "\r\n");
        sp1 = memchr(c->buf, ' ', (size_t) (next - c->buf));
        ASSERT_TRUE(sp1);
        sp2 = memchr(sp1 + 1, ' ', (size_t) (next - sp1 - 1));
        ASSERT_TRUE(sp2);
        ASSERT_TRUE(strncmp(sp2 + 1, "HTTP/1.1", 8) == 0);
        r->method = strndup(c->buf, (size_t) (sp1 - c->buf));
        r->path = strndup(sp1 + 1, (size_t) (sp2 - sp1 - 1));
        for (line = next + 2; line < end; line = next + 2) {
                next = strstr(line, "\r\n");
                ASSERT_TRUE(r->n_headers < MAX_HEADERS);
                r->headers[r->n_headers++] = strndup(line, (size_t) (next - line));
        }
        r->body = strndup(c->buf + head_size, content_length);
        r->body_size = content_length;

        status = server_next_status(s);
        if (status == REPLY_HOLD) {
                c->held = true;
                return;
        }
        conn_reply(c, status);
}

static int on_conn_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Conn *c = userdata;
        ssize_t k;

        if (c->out) {
                k = send(fd, c->out + c->out_done, c->out_size - c->out_done, MSG_NOSIGNAL);
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (k > 0)
                        c->out_done += (size_t) k;
                if (k <= 0 || c->out_done == c->out_size)
                        conn_free(c); /* all sent (Connection: close), or the client went away */
                return 0;
        }

        if (c->allocated - c->size < 4096 + 1) {
                c->allocated = c->allocated * 2 + 8192;
                c->buf = realloc(c->buf, c->allocated);
                ASSERT_TRUE(c->buf);
        }

        k = recv(fd, c->buf + c->size, c->allocated - c->size - 1, 0);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                conn_free(c); /* the client closed (or reset) the connection */
                return 0;
        }
        c->size += (size_t) k;
        c->buf[c->size] = 0;

        conn_process(c);
        return 0;
}

static int on_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Server *s = userdata;
        Conn *c;
        int cfd;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;

        c = calloc(1, sizeof(Conn));
        ASSERT_TRUE(c);
        c->server = s;
        c->fd = cfd;
        ASSERT_OK(sd_event_add_io(s->event, &c->source, cfd, EPOLLIN, on_conn_io, c));
        c->next = s->conns;
        s->conns = c;
        return 0;
}

static void server_start(Server *s, sd_event *event) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);

        *s = (Server) { .event = event, .default_status = 200 };
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(s->fd >= 0);
        ASSERT_TRUE(bind(s->fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
        ASSERT_TRUE(listen(s->fd, 16) >= 0);
        ASSERT_TRUE(getsockname(s->fd, (struct sockaddr *) &sa, &l) >= 0);
        s->port = ntohs(sa.sin_port);
        ASSERT_OK(sd_event_add_io(event, &s->source, s->fd, EPOLLIN, on_accept, s));
}

/* Answers every held request. */
static void server_release(Server *s, int status) {
        Conn *c = s->conns;

        while (c) {
                Conn *next = c->next;
                if (c->held)
                        conn_reply(c, status);
                c = next;
        }
}

static size_t server_n_held(Server *s) {
        size_t n = 0;

        for (Conn *c = s->conns; c; c = c->next)
                n += c->held;
        return n;
}

static void server_stop(Server *s) {
        while (s->conns)
                conn_free(s->conns);
        server_reset(s, 200);
        sd_event_source_disable_unref(s->source);
        close(s->fd);
}

static const char *recorded_header(const Recorded *r, const char *name) {
        size_t l = strlen(name);

        for (size_t i = 0; i < r->n_headers; i++)
                if (strncasecmp(r->headers[i], name, l) == 0 && r->headers[i][l] == ':') {
                        const char *v = r->headers[i] + l + 1;
                        while (*v == ' ')
                                v++;
                        return v;
                }
        return NULL;
}

static size_t server_count(Server *s, const char *method) {
        size_t n = 0;

        for (size_t i = 0; i < s->n_recorded; i++)
                n += !method || streq(s->recorded[i].method, method);
        return n;
}

static const Recorded *server_last(Server *s) {
        ASSERT_TRUE(s->n_recorded > 0);
        return &s->recorded[s->n_recorded - 1];
}

/* ---- loop helpers ---- */

static sd_event *event;
static Server server;
static char base_url[64];

/* A fresh loop with the scripted server on it, per test. */
static void setup(void) {
        log_setup("test-provider-advertiser");
        ASSERT_OK(sd_event_new(&event));
        server_start(&server, event);
        snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", server.port);
}

static void teardown(void) {
        server_stop(&server);
        event = sd_event_unref(event);
}

static void run_for(usec_t usec) {
        usec_t until = now_monotonic() + usec;

        for (usec_t n = now_monotonic(); n < until; n = now_monotonic())
                ASSERT_OK(sd_event_run(event, until - n));
}

/* Runs the loop until the server saw want requests of method (NULL: any), or timeout passed. */
static bool run_until_count(Server *s, const char *method, size_t want, usec_t timeout) {
        usec_t until = now_monotonic() + timeout;

        while (server_count(s, method) < want) {
                usec_t n = now_monotonic();
                if (n >= until)
                        return false;
                ASSERT_OK(sd_event_run(event, MIN(until - n, 10 * USEC_PER_MSEC)));
        }
        return true;
}

static bool run_until_flag(const bool *flag, usec_t timeout) {
        usec_t until = now_monotonic() + timeout;

        while (!*flag) {
                usec_t n = now_monotonic();
                if (n >= until)
                        return false;
                ASSERT_OK(sd_event_run(event, MIN(until - n, 10 * USEC_PER_MSEC)));
        }
        return true;
}

/* ---- the glue ---- */

typedef struct Result {
        bool called;
        int result;
        long status;
        char *body;
        size_t body_size;
        unsigned n_calls;
        CurlGlue *free_glue;    /* freed from the callback */
} Result;

static void on_done(CurlRequest *req, int result, long status, const char *body, size_t body_size, void *userdata) {
        Result *res = userdata;

        res->called = true;
        res->n_calls++;
        res->result = result;
        res->status = status;
        free(res->body);
        res->body = body ? strndup(body, body_size) : NULL;
        res->body_size = body_size;
        if (body)
                ASSERT_TRUE(body[body_size] == 0);
        if (res->free_glue)
                res->free_glue = curl_glue_free(res->free_glue);
}

static void result_clear(Result *r) {
        free(r->body);
        *r = (Result) {};
}

TEST(glue) {
        setup();
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        const char *headers[] = { "X-Test: yes", "Content-Type: text/plain", NULL };
        const char *bad_headers[] = { "X-Test: a\r\nX-Injected: b", NULL };
        char url[128], refused_url[64];
        CurlRequest *req = NULL;
        Result res = {};
        int fd;

        server_reset(&server, 200);
        ASSERT_OK(curl_glue_new(event, &g));

        /* A GET and its answer. */
        snprintf(url, sizeof(url), "%s/health", base_url);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &res, &req));
        ASSERT_TRUE(req);
        ASSERT_TRUE(!res.called);
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        ASSERT_TRUE(res.result == 0 && res.status == 200);
        ASSERT_TRUE(streq(res.body, "{}") && res.body_size == 2);
        ASSERT_TRUE(streq(server_last(&server)->method, "GET"));
        ASSERT_TRUE(streq(server_last(&server)->path, "/health"));
        result_clear(&res);

        /* A POST with headers and a body; a 503 is a response, not a transport failure. */
        server_script(&server, (const int[]) { 503 }, 1);
        ASSERT_OK(curl_glue_request(g, "POST", url, headers, "hello", 5, 5 * USEC_PER_SEC, on_done, &res, NULL));
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        ASSERT_TRUE(res.result == 0 && res.status == 503);
        ASSERT_TRUE(strstr(res.body, "ADV_001"));
        ASSERT_TRUE(streq(server_last(&server)->method, "POST"));
        ASSERT_TRUE(streq(server_last(&server)->body, "hello"));
        ASSERT_TRUE(streq_ptr(recorded_header(server_last(&server), "X-Test"), "yes"));
        ASSERT_TRUE(streq_ptr(recorded_header(server_last(&server), "Content-Type"), "text/plain"));
        ASSERT_TRUE(!recorded_header(server_last(&server), "Expect"));
        result_clear(&res);

        /* A DELETE without a body. */
        ASSERT_OK(curl_glue_request(g, "DELETE", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &res, NULL));
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        ASSERT_TRUE(res.result == 0 && res.status == 200);
        ASSERT_TRUE(streq(server_last(&server)->method, "DELETE"));
        ASSERT_TRUE(server_last(&server)->body_size == 0);
        result_clear(&res);

        /* Refused: a port nobody listens on. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t l = sizeof(sa);
                ASSERT_TRUE(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
                ASSERT_TRUE(getsockname(fd, (struct sockaddr *) &sa, &l) >= 0);
                snprintf(refused_url, sizeof(refused_url), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
        }
        ASSERT_OK(curl_glue_request(g, "GET", refused_url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &res, NULL));
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        close(fd);
        ASSERT_TRUE(res.result == -ECONNREFUSED && res.status == 0 && !res.body);
        result_clear(&res);

        /* A server that does not answer: the timeout. */
        server_script(&server, (const int[]) { REPLY_HOLD }, 1);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 300 * USEC_PER_MSEC, on_done, &res, NULL));
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        ASSERT_TRUE(res.result == -ETIMEDOUT);
        result_clear(&res);
        run_for(50 * USEC_PER_MSEC);
        ASSERT_TRUE(server_n_held(&server) == 0); /* curl closed it */

        /* A body over the cap. */
        server_script(&server, (const int[]) { REPLY_HUGE }, 1);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &res, NULL));
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        ASSERT_TRUE(res.result == -EFBIG);
        result_clear(&res);
        server_script(&server, (const int[]) { REPLY_HUGE_UNSIZED }, 1);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &res, NULL));
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        ASSERT_TRUE(res.result == -EFBIG);
        result_clear(&res);

        /* Refused before anything is sent. */
        ASSERT_TRUE(curl_glue_request(g, "GET", "ftp://127.0.0.1/", NULL, NULL, 0, 0, on_done, &res, NULL) == -EINVAL);
        ASSERT_TRUE(curl_glue_request(g, "GET", "file:///etc/passwd", NULL, NULL, 0, 0, on_done, &res, NULL) == -EINVAL);
        ASSERT_TRUE(curl_glue_request(g, "GET", "not a url", NULL, NULL, 0, 0, on_done, &res, NULL) == -EINVAL);
        ASSERT_TRUE(curl_glue_request(g, "get", url, NULL, NULL, 0, 0, on_done, &res, NULL) == -EINVAL);
        ASSERT_TRUE(curl_glue_request(g, "GET", url, bad_headers, NULL, 0, 0, on_done, &res, NULL) == -EINVAL);
        ASSERT_TRUE(curl_glue_request(g, "GET", url, NULL, NULL, 0, 0, NULL, NULL, NULL) == -EINVAL);

        /* Cancelled: no callback. */
        server_script(&server, (const int[]) { REPLY_HOLD }, 1);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &res, &req));
        ASSERT_TRUE(run_until_count(&server, NULL, server.n_recorded + 1, 5 * USEC_PER_SEC));
        curl_request_cancel(req);
        run_for(200 * USEC_PER_MSEC);
        ASSERT_TRUE(!res.called);
        ASSERT_TRUE(server_n_held(&server) == 0);

        teardown();
}

TEST(glue_free_in_flight) {
        setup();
        CurlGlue *g = NULL;
        Result a = {}, b = {};
        char url[128];
        size_t n;

        server_reset(&server, 200);
        snprintf(url, sizeof(url), "%s/slow", base_url);

        /* Freed from outside with two requests in flight. */
        ASSERT_OK(curl_glue_new(event, &g));
        server_script(&server, (const int[]) { REPLY_HOLD, REPLY_HOLD }, 2);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &a, NULL));
        ASSERT_OK(curl_glue_request(g, "POST", url, NULL, "x", 1, 5 * USEC_PER_SEC, on_done, &b, NULL));
        ASSERT_TRUE(run_until_count(&server, NULL, 2, 5 * USEC_PER_SEC));
        g = curl_glue_free(g);
        run_for(200 * USEC_PER_MSEC);
        ASSERT_TRUE(!a.called && !b.called);
        ASSERT_TRUE(server_n_held(&server) == 0);

        /* Freed from a callback while another request is in flight. */
        ASSERT_OK(curl_glue_new(event, &g));
        n = server.n_recorded;
        server_script(&server, (const int[]) { REPLY_HOLD }, 1);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &b, NULL));
        ASSERT_TRUE(run_until_count(&server, NULL, n + 1, 5 * USEC_PER_SEC));
        a.free_glue = g;
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &a, NULL));
        ASSERT_TRUE(run_until_flag(&a.called, 5 * USEC_PER_SEC));
        ASSERT_TRUE(a.n_calls == 1 && a.status == 200 && !a.free_glue);
        run_for(200 * USEC_PER_MSEC);
        ASSERT_TRUE(!b.called);
        ASSERT_TRUE(server_n_held(&server) == 0);

        result_clear(&a);
        result_clear(&b);
        teardown();
}

/* ---- the advertiser ---- */

typedef struct Free {
        int64_t cpu, memory_gb, storage_gb;
        unsigned n_asked;
} Free;

static int get_free(void *userdata, int64_t *ret_cpu, int64_t *ret_memory_gb, int64_t *ret_storage_gb) {
        Free *f = userdata;

        f->n_asked++;
        *ret_cpu = f->cpu;
        *ret_memory_gb = f->memory_gb;
        *ret_storage_gb = f->storage_gb;
        return 0;
}

static void on_withdrawn(void *userdata) {
        *(bool *) userdata = true;
}

static AdvertiserConfig test_config(void) {
        return (AdvertiserConfig) {
                .discovery_url = base_url,
                .provider_id = "provider-0x1234",
                .public_ip = "192.0.2.10",
                .country = "pl",
                .platform = "x86_64",
                .interval_usec = 240 * USEC_PER_SEC,
                .min_cpu = 1,
                .min_memory_gb = 1,
                .min_storage_gb = 5,
        };
}

static void check_post(const Recorded *r, const Free *f) {
        _cleanup_json_ json_object *o = NULL;
        json_object *v, *res;
        const char *s;
        int64_t i;

        ASSERT_TRUE(streq(r->method, "POST"));
        ASSERT_TRUE(streq(r->path, "/api/v1/advertisements"));
        ASSERT_TRUE(streq_ptr(recorded_header(r, "Content-Type"), "application/json"));
        ASSERT_TRUE(streq_ptr(recorded_header(r, "X-Provider-ID"), "provider-0x1234"));
        ASSERT_TRUE(streq_ptr(recorded_header(r, "X-Provider-Signature"), "unsigned"));

        ASSERT_OK(json_parse(r->body, r->body_size, &o));
        ASSERT_TRUE(json_object_object_length(o) == 4);
        ASSERT_TRUE(json_object_object_get_ex(o, "ip_address", &v) && json_get_string(v, 64, &s) >= 0 && streq(s, "192.0.2.10"));
        ASSERT_TRUE(json_object_object_get_ex(o, "country", &v) && json_get_string(v, 64, &s) >= 0 && streq(s, "PL"));
        ASSERT_TRUE(json_object_object_get_ex(o, "platform", &v) && json_get_string(v, 64, &s) >= 0 && streq(s, "x86_64"));
        ASSERT_TRUE(json_object_object_get_ex(o, "resources", &res));
        ASSERT_TRUE(json_object_object_length(res) == 3);
        ASSERT_TRUE(json_object_object_get_ex(res, "cpu", &v) && json_get_int(v, 0, INT64_MAX, &i) >= 0 && i == f->cpu);
        ASSERT_TRUE(json_object_object_get_ex(res, "memory", &v) && json_get_int(v, 0, INT64_MAX, &i) >= 0 && i == f->memory_gb);
        ASSERT_TRUE(json_object_object_get_ex(res, "storage", &v) && json_get_int(v, 0, INT64_MAX, &i) >= 0 && i == f->storage_gb);
}

static void check_delete(const Recorded *r) {
        ASSERT_TRUE(streq(r->method, "DELETE"));
        ASSERT_TRUE(streq(r->path, "/api/v1/advertisements/provider-0x1234"));
        ASSERT_TRUE(streq_ptr(recorded_header(r, "X-Provider-ID"), "provider-0x1234"));
        ASSERT_TRUE(streq_ptr(recorded_header(r, "X-Provider-Signature"), "unsigned"));
        ASSERT_TRUE(r->body_size == 0);
}

TEST(advertiser_config) {
        setup();
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        Advertiser *a = NULL;
        AdvertiserConfig c;
        Free f = {};

        ASSERT_OK(curl_glue_new(event, &g));

        c = test_config();
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));
        ASSERT_TRUE(advertiser_get_enabled(a));
        ASSERT_TRUE(advertiser_last_success(a) == 0);
        a = advertiser_free(a);

        c = test_config(); c.discovery_url = "ftp://x";
        ASSERT_TRUE(advertiser_new(event, g, &c, get_free, &f, &a) == -EINVAL);
        c = test_config(); c.provider_id = "a/b";
        ASSERT_TRUE(advertiser_new(event, g, &c, get_free, &f, &a) == -EINVAL);
        c = test_config(); c.public_ip = "example.com";
        ASSERT_TRUE(advertiser_new(event, g, &c, get_free, &f, &a) == -EINVAL);
        c = test_config(); c.country = "XX";
        ASSERT_TRUE(advertiser_new(event, g, &c, get_free, &f, &a) == -EINVAL);
        c = test_config(); c.platform = "x 86";
        ASSERT_TRUE(advertiser_new(event, g, &c, get_free, &f, &a) == -EINVAL);
        c = test_config(); c.platform = NULL;
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));
        a = advertiser_free(a);
        ASSERT_TRUE(!a);

        teardown();
}

TEST(advertiser) {
        setup();
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        Advertiser *a = NULL;
        AdvertiserConfig c = test_config();
        Free f = { .cpu = 4, .memory_gb = 8, .storage_gb = 40 };
        bool withdrawn = false;
        usec_t t0;
        size_t n;

        server_reset(&server, 200);
        ASSERT_OK(curl_glue_new(event, &g));
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));

        /* Nothing before start. */
        advertiser_changed(a);
        run_for(500 * USEC_PER_MSEC);
        ASSERT_TRUE(server.n_recorded == 0);

        /* The first post comes at once. */
        t0 = now_monotonic();
        advertiser_start(a);
        ASSERT_TRUE(run_until_count(&server, "POST", 1, 2 * USEC_PER_SEC));
        ASSERT_TRUE(server.recorded[0].at - t0 < 500 * USEC_PER_MSEC);
        check_post(&server.recorded[0], &f);
        run_for(100 * USEC_PER_MSEC);
        ASSERT_TRUE(advertiser_last_success(a) > 0);
        ASSERT_TRUE(advertiser_last_success(a) <= now_realtime());

        /* Three changes within 100 ms: one post, within a second, with the latest numbers. */
        t0 = now_monotonic();
        f.cpu = 3;
        advertiser_changed(a);
        run_for(40 * USEC_PER_MSEC);
        f.cpu = 2;
        advertiser_changed(a);
        run_for(40 * USEC_PER_MSEC);
        f.memory_gb = 6;
        advertiser_changed(a);
        run_for(1500 * USEC_PER_MSEC);
        ASSERT_TRUE(server_count(&server, "POST") == 2);
        ASSERT_TRUE(server.recorded[1].at - t0 < USEC_PER_SEC);
        check_post(&server.recorded[1], &f);

        /* A change during a request: another post after it. */
        server_script(&server, (const int[]) { REPLY_HOLD }, 1);
        advertiser_changed(a);
        ASSERT_TRUE(run_until_count(&server, "POST", 3, 2 * USEC_PER_SEC));
        f.storage_gb = 30;
        advertiser_changed(a);
        advertiser_changed(a);
        run_for(100 * USEC_PER_MSEC);
        ASSERT_TRUE(server_count(&server, "POST") == 3);
        server_release(&server, 200);
        ASSERT_TRUE(run_until_count(&server, "POST", 4, 2 * USEC_PER_SEC));
        check_post(server_last(&server), &f);
        run_for(500 * USEC_PER_MSEC);
        ASSERT_TRUE(server_count(&server, "POST") == 4);

        /* Off: one DELETE, then silence. */
        n = server.n_recorded;
        advertiser_set_enabled(a, false);
        ASSERT_TRUE(!advertiser_get_enabled(a));
        ASSERT_TRUE(run_until_count(&server, "DELETE", 1, 2 * USEC_PER_SEC));
        check_delete(server_last(&server));
        advertiser_changed(a);
        run_for(800 * USEC_PER_MSEC);
        ASSERT_TRUE(server.n_recorded == n + 1);

        /* On again: a post at once. */
        advertiser_set_enabled(a, true);
        ASSERT_TRUE(run_until_count(&server, "POST", 5, 2 * USEC_PER_SEC));
        check_post(server_last(&server), &f);

        /* Off while a post is in flight: the post is abandoned and withdrawn. */
        server_script(&server, (const int[]) { REPLY_HOLD }, 1);
        advertiser_changed(a);
        ASSERT_TRUE(run_until_count(&server, "POST", 6, 2 * USEC_PER_SEC));
        advertiser_set_enabled(a, false);
        ASSERT_TRUE(run_until_count(&server, "DELETE", 2, 2 * USEC_PER_SEC));
        ASSERT_TRUE(server_n_held(&server) == 0);
        advertiser_set_enabled(a, true);
        ASSERT_TRUE(run_until_count(&server, "POST", 7, 2 * USEC_PER_SEC));
        run_for(100 * USEC_PER_MSEC);

        /* Withdraw: a DELETE, done called, nothing afterwards. */
        n = server.n_recorded;
        ASSERT_OK(advertiser_withdraw(a, 5 * USEC_PER_SEC, on_withdrawn, &withdrawn));
        ASSERT_TRUE(advertiser_withdraw(a, 5 * USEC_PER_SEC, on_withdrawn, &withdrawn) == -EBUSY);
        ASSERT_TRUE(!withdrawn);
        ASSERT_TRUE(run_until_flag(&withdrawn, 2 * USEC_PER_SEC));
        ASSERT_TRUE(server.n_recorded == n + 1);
        check_delete(server_last(&server));
        advertiser_changed(a);
        run_for(800 * USEC_PER_MSEC);
        ASSERT_TRUE(server.n_recorded == n + 1);

        a = advertiser_free(a);
        teardown();
}

TEST(advertiser_backoff) {
        setup();
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        Advertiser *a = NULL;
        AdvertiserConfig c = test_config();
        Free f = { .cpu = 4, .memory_gb = 8, .storage_gb = 40 };
        usec_t gap1, gap2, gap3;

        server_reset(&server, 200);
        server_script(&server, (const int[]) { 503, 503, 200 }, 3);
        c.interval_usec = 1500 * USEC_PER_MSEC;
        ASSERT_OK(curl_glue_new(event, &g));
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));

        advertiser_start(a);
        ASSERT_TRUE(run_until_count(&server, "POST", 4, 12 * USEC_PER_SEC));
        ASSERT_TRUE(advertiser_last_success(a) > 0);

        gap1 = server.recorded[1].at - server.recorded[0].at;   /* 1st retry: ~1 s */
        gap2 = server.recorded[2].at - server.recorded[1].at;   /* 2nd retry: ~2 s */
        gap3 = server.recorded[3].at - server.recorded[2].at;   /* success: back to the interval */
        fprintf(stderr, "gaps: %" PRIu64 " ms, %" PRIu64 " ms, %" PRIu64 " ms\n",
                gap1 / USEC_PER_MSEC, gap2 / USEC_PER_MSEC, gap3 / USEC_PER_MSEC);
        ASSERT_TRUE(gap1 >= 800 * USEC_PER_MSEC && gap1 < 3 * USEC_PER_SEC);
        ASSERT_TRUE(gap2 > gap1 + 500 * USEC_PER_MSEC);
        ASSERT_TRUE(gap2 >= 1600 * USEC_PER_MSEC && gap2 < 5 * USEC_PER_SEC);
        ASSERT_TRUE(gap3 >= 1200 * USEC_PER_MSEC && gap3 < 3 * USEC_PER_SEC);

        a = advertiser_free(a);
        g = curl_glue_free(g);

        teardown();
}

TEST(advertiser_minimums) {
        setup();
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        Advertiser *a = NULL;
        AdvertiserConfig c = test_config();
        Free f = { .cpu = 2, .memory_gb = 8, .storage_gb = 40 };

        server_reset(&server, 200);
        c.min_cpu = 4;
        ASSERT_OK(curl_glue_new(event, &g));
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));

        /* Below the minimums: nothing at all. */
        advertiser_start(a);
        run_for(1200 * USEC_PER_MSEC);
        ASSERT_TRUE(f.n_asked >= 1);
        ASSERT_TRUE(server.n_recorded == 0);
        ASSERT_TRUE(advertiser_last_success(a) == 0);

        /* Enough again: a post. */
        f.cpu = 8;
        advertiser_changed(a);
        ASSERT_TRUE(run_until_count(&server, "POST", 1, USEC_PER_SEC));
        check_post(server_last(&server), &f);

        /* Below again: the standing advertisement is withdrawn. */
        f.storage_gb = 4;
        advertiser_changed(a);
        ASSERT_TRUE(run_until_count(&server, "DELETE", 1, USEC_PER_SEC));
        check_delete(server_last(&server));
        run_for(800 * USEC_PER_MSEC);
        ASSERT_TRUE(server.n_recorded == 2);

        /* Zero free of something is never advertised, whatever the minimum. */
        a = advertiser_free(a);
        c = test_config();
        c.min_cpu = c.min_memory_gb = c.min_storage_gb = 0;
        f = (Free) { .cpu = 0, .memory_gb = 8, .storage_gb = 40 };
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));
        advertiser_start(a);
        run_for(500 * USEC_PER_MSEC);
        ASSERT_TRUE(server.n_recorded == 2);

        a = advertiser_free(a);
        teardown();
}

TEST(advertiser_unreachable) {
        setup();
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        Advertiser *a = NULL;
        AdvertiserConfig c = test_config();
        Free f = { .cpu = 4, .memory_gb = 8, .storage_gb = 40 };
        bool withdrawn = false;
        char url[64];
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t l = sizeof(sa);
                ASSERT_TRUE(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
                ASSERT_TRUE(getsockname(fd, (struct sockaddr *) &sa, &l) >= 0);
                snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
        }
        c.discovery_url = url;
        ASSERT_OK(curl_glue_new(event, &g));
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));

        /* Refused: retried with back-off, about 3 attempts in 2.5 s (0, 1, 3 s). */
        advertiser_start(a);
        run_for(2500 * USEC_PER_MSEC);
        ASSERT_TRUE(f.n_asked >= 2 && f.n_asked <= 3);
        ASSERT_TRUE(advertiser_last_success(a) == 0);

        /* The withdrawal on stop gives up and still calls done. */
        ASSERT_OK(advertiser_withdraw(a, USEC_PER_SEC, on_withdrawn, &withdrawn));
        ASSERT_TRUE(run_until_flag(&withdrawn, 3 * USEC_PER_SEC));

        close(fd);
        a = advertiser_free(a);
        teardown();
}

/* The real discovery service, when one is named. */
TEST(discoveryd) {
        const char *discovery_url = getenv("GOLEM_TEST_DISCOVERY_URL");

        if (isempty(discovery_url)) {
                fprintf(stderr, "GOLEM_TEST_DISCOVERY_URL not set, skipped.\n");
                return;
        }
        setup();
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        Advertiser *a = NULL;
        AdvertiserConfig c = test_config();
        Free f = { .cpu = 4, .memory_gb = 8, .storage_gb = 40 };
        bool withdrawn = false;
        Result res = {};
        char url[256];
        usec_t until;

        fprintf(stderr, "against %s\n", discovery_url);
        c.discovery_url = discovery_url;
        ASSERT_OK(curl_glue_new(event, &g));
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));
        advertiser_start(a);

        until = now_monotonic() + 5 * USEC_PER_SEC;
        while (advertiser_last_success(a) == 0 && now_monotonic() < until)
                ASSERT_OK(sd_event_run(event, 10 * USEC_PER_MSEC));
        ASSERT_TRUE(advertiser_last_success(a) > 0);

        snprintf(url, sizeof(url), "%s/api/v1/advertisements/provider-0x1234", discovery_url);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &res, NULL));
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        fprintf(stderr, "stored: %s\n", res.body);
        ASSERT_TRUE(res.result == 0 && res.status == 200);
        ASSERT_TRUE(strstr(res.body, "\"192.0.2.10\""));
        result_clear(&res);

        ASSERT_OK(advertiser_withdraw(a, 5 * USEC_PER_SEC, on_withdrawn, &withdrawn));
        ASSERT_TRUE(run_until_flag(&withdrawn, 6 * USEC_PER_SEC));

        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_done, &res, NULL));
        ASSERT_TRUE(run_until_flag(&res.called, 5 * USEC_PER_SEC));
        ASSERT_TRUE(res.result == 0 && res.status == 404);
        result_clear(&res);

        a = advertiser_free(a);
        teardown();
}

/* ---- signed advertisements ---- */

extern char **environ;

/* `ssh-keygen -Y check-novalidate -n golem-request-v1` of the request's signature over the
 * message it stands for: its exit status. */
static int ssh_keygen_check(const char *dir, const char *message, const char *signature) {
        _cleanup_free_ char *msg_path = NULL, *sig_path = NULL, *armored = NULL;
        posix_spawn_file_actions_t fa;
        size_t n = strlen(signature);
        FILE *f;
        pid_t pid;
        int status;

        ASSERT_TRUE(asprintf(&msg_path, "%s/message", dir) >= 0);
        ASSERT_TRUE(asprintf(&sig_path, "%s/message.sig", dir) >= 0);
        free(test_write_file(dir, "message", message, strlen(message)));

        /* The armor as ssh-keygen writes it: 70 columns. */
        f = fopen(sig_path, "we");
        ASSERT_NOT_NULL(f);
        fputs("-----BEGIN SSH SIGNATURE-----\n", f);
        for (size_t i = 0; i < n; i += 70)
                fprintf(f, "%.70s\n", signature + i);
        fputs("-----END SSH SIGNATURE-----\n", f);
        ASSERT_OK(fclose(f));

        const char *argv[] = { "ssh-keygen", "-q", "-Y", "check-novalidate", "-n", SIGNED_REQUEST_NAMESPACE,
                               "-s", sig_path, NULL };
        ASSERT_OK(-posix_spawn_file_actions_init(&fa));
        ASSERT_OK(-posix_spawn_file_actions_addopen(&fa, 0, msg_path, O_RDONLY, 0));
        ASSERT_OK(-posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0));
        ASSERT_OK(-posix_spawnp(&pid, "ssh-keygen", &fa, NULL, (char **) argv, environ));
        posix_spawn_file_actions_destroy(&fa);
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A recorded request verifies as signed by identity for the discovery service, and
 * ssh-keygen agrees. */
static void check_signed(const Recorded *r, const char *identity, NonceCache *nonces, const char *dir) {
        _cleanup_free_ char *message = NULL;
        const char *ts = recorded_header(r, SIGNED_REQUEST_HEADER_TIMESTAMP),
                   *nonce = recorded_header(r, SIGNED_REQUEST_HEADER_NONCE),
                   *sig = recorded_header(r, SIGNED_REQUEST_HEADER_PROVIDER_SIGNATURE);
        char who[SSH_IDENTITY_SIZE] = "";
        SignedRequest req = {
                .method = r->method,
                .target = r->path,
                .audience = SIGNED_REQUEST_AUDIENCE_DISCOVERY,
                .timestamp = ts,
                .nonce = nonce,
                .signature = sig,
                .body = r->body,
                .body_size = r->body_size,
        };

        ASSERT_NOT_NULL(ts);
        ASSERT_NOT_NULL(nonce);
        ASSERT_NOT_NULL(sig);
        ASSERT_TRUE(streq_ptr(recorded_header(r, "X-Provider-ID"), identity));
        ASSERT_OK(signed_request_verify(&req, (int64_t) (now_realtime() / USEC_PER_SEC), nonces, who));
        ASSERT_TRUE(streq(who, identity));

        /* Signed for discovery, not for anyone else. */
        req.audience = "provider";
        ASSERT_TRUE(signed_request_verify(&req, (int64_t) (now_realtime() / USEC_PER_SEC), NULL, who) == -EKEYREJECTED);

        ASSERT_OK(signed_request_message(r->method, r->path, SIGNED_REQUEST_AUDIENCE_DISCOVERY, ts, nonce,
                                         r->body, r->body_size, &message));
        ASSERT_TRUE(ssh_keygen_check(dir, message, sig) == 0);
        /* ... and refuses another message. */
        message[strlen(message) - 2] ^= 1;
        ASSERT_TRUE(ssh_keygen_check(dir, message, sig) != 0);
}

TEST(advertiser_signed) {
        setup();
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        _cleanup_(nonce_cache_freep) NonceCache *nonces = NULL;
        _cleanup_(ssh_key_freep) SshKey *k = NULL, *other = NULL;
        _cleanup_free_ char *url = NULL, *dir = test_mkdtemp();
        _cleanup_json_ json_object *o = NULL;
        char identity[SSH_IDENTITY_SIZE];
        AdvertiserConfig c = test_config();
        Free f = { .cpu = 4, .memory_gb = 8, .storage_gb = 40 };
        Advertiser *a = NULL;
        bool withdrawn = false;
        json_object *v;
        int64_t port;

        ASSERT_OK(ssh_key_generate_ed25519(&k));
        ASSERT_OK(ssh_key_generate_ed25519(&other));
        ssh_key_identity(k, identity);
        ASSERT_OK(nonce_cache_new(64, SIGNED_REQUEST_WINDOW_SEC, &nonces));
        server_reset(&server, 200);
        ASSERT_OK(curl_glue_new(event, &g));

        /* A key that is not the id's is a mistake. */
        c.key = other;
        c.provider_id = identity;
        ASSERT_TRUE(advertiser_new(event, g, &c, get_free, &f, &a) == -EINVAL);

        /* Behind a path prefix: the target signed is the whole path, as sent. */
        ASSERT_TRUE(asprintf(&url, "%s/discovery/", base_url) >= 0);
        c.discovery_url = url;
        c.key = k;
        c.api_port = 7466;
        ASSERT_OK(advertiser_new(event, g, &c, get_free, &f, &a));
        advertiser_start(a);
        ASSERT_TRUE(run_until_count(&server, "POST", 1, 2 * USEC_PER_SEC));
        ASSERT_TRUE(streq(server.recorded[0].path, "/discovery/api/v1/advertisements"));
        check_signed(&server.recorded[0], identity, nonces, dir);
        ASSERT_OK(json_parse(server.recorded[0].body, server.recorded[0].body_size, &o));
        ASSERT_TRUE(json_object_object_get_ex(o, "api_port", &v) && json_get_int(v, 1, 65535, &port) >= 0 &&
                    port == 7466);

        /* Every request anew: another nonce, never a replay. */
        f.cpu = 3;
        advertiser_changed(a);
        ASSERT_TRUE(run_until_count(&server, "POST", 2, 2 * USEC_PER_SEC));
        check_signed(server_last(&server), identity, nonces, dir);

        ASSERT_OK(advertiser_withdraw(a, 5 * USEC_PER_SEC, on_withdrawn, &withdrawn));
        ASSERT_TRUE(run_until_flag(&withdrawn, 2 * USEC_PER_SEC));
        ASSERT_TRUE(streq(server_last(&server)->method, "DELETE"));
        ASSERT_TRUE(streq(startswith(server_last(&server)->path, "/discovery/api/v1/advertisements/") ?: "", identity));
        check_signed(server_last(&server), identity, nonces, dir);

        a = advertiser_free(a);
        test_rm_rf(dir);
        teardown();
}
