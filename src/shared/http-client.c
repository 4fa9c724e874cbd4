/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "http-client.h"
#include "time-util.h"

#ifndef GOLEM_VERSION
#define GOLEM_VERSION "0"
#endif

#define HTTP_CLIENT_TIMER_ACCURACY_USEC 1000ULL
/* What one wake-up reads at most; the loop comes back while there is more. */
#define HTTP_CLIENT_READ_SIZE (16U * 1024U)

typedef union SockaddrUnion {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
} SockaddrUnion;

typedef enum HttpClientState {
        HTTP_CLIENT_START,
        HTTP_CLIENT_RESOLVE,
        HTTP_CLIENT_CONNECT,
        HTTP_CLIENT_SEND,
        HTTP_CLIENT_RECEIVE,
} HttpClientState;

/* One getaddrinfo() in a thread. Two references: the request's and the thread's; whoever
 * drops the last frees it, so a request may go away while its lookup still runs. */
typedef struct HttpResolve {
        unsigned n_ref;
        int fd;                         /* eventfd, written when the lookup is done */
        bool done;
        char *host;
        char service[sizeof("65535")];
        int error;                      /* EAI_* */
        struct addrinfo *result;
} HttpResolve;

struct HttpClientRequest {
        sd_event *event;
        HttpClientState state;

        char *host;
        uint16_t port;
        bool numeric_host, ipv6_host;

        char *out;                      /* the request head and body */
        size_t out_size, out_done;
        int send_error;                 /* sending failed: what to report if no response comes */

        HttpResponseParser parser;

        SockaddrUnion addresses[HTTP_CLIENT_ADDRESSES_MAX];
        socklen_t address_sizes[HTTP_CLIENT_ADDRESSES_MAX];
        size_t n_addresses, next_address;
        int connect_error;

        int fd;
        sd_event_source *defer, *io, *timer;
        HttpResolve *resolve;
        sd_event_source *resolve_source;

        usec_t deadline;                /* CLOCK_MONOTONIC, USEC_INFINITY: none */
        bool connect_deadline;          /* the timer is the connect timeout, not the deadline */

        HttpClientDone done;
        void *userdata;
        bool dispatching;
};

/* ---- header lines ---- */

static bool token_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t header_name_size(const char *h) {
        size_t n = 0;

        while (token_char(h[n]))
                n++;
        return h[n] == ':' ? n : 0;
}

static const char *header_value(const char *h) {
        const char *v = h + header_name_size(h) + 1;

        return v + strspn(v, " \t");
}

bool http_header_line_valid(const char *h) {
        if (!h || header_name_size(h) == 0)
                return false;
        for (const unsigned char *p = (const unsigned char *) header_value(h); *p; p++)
                if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
                        return false;
        return true;
}

static bool header_is(const char *h, const char *name) {
        size_t n = header_name_size(h);

        return n == strlen(name) && strncasecmp(h, name, n) == 0;
}

static bool headers_name(const char *const *headers, const char *name) {
        for (const char *const *h = headers; h && *h; h++)
                if (header_is(*h, name))
                        return true;
        return false;
}

static bool method_has_body(const char *method) {
        return streq(method, "POST") || streq(method, "PUT") || streq(method, "PATCH");
}

/* The request head and body as they go on the wire. */
static int request_build(HttpClientRequest *req, const char *method, const HttpUrl *url,
                         const char *const *headers, const char *body, size_t body_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fprintf(f, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, url->target, url->authority);
        if (!headers_name(headers, "User-Agent"))
                fputs("User-Agent: golem/" GOLEM_VERSION "\r\n", f);
        if (!headers_name(headers, "Accept"))
                fputs("Accept: */*\r\n", f);
        for (const char *const *h = headers; h && *h; h++) {
                const char *v = header_value(*h);
                size_t n = strlen(v);

                while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                        n--;
                if (n == 0)
                        continue; /* "Name:" only drops the default */
                fprintf(f, "%.*s: %.*s\r\n", (int) header_name_size(*h), *h, (int) n, v);
        }
        if (body || method_has_body(method))
                fprintf(f, "Content-Length: %zu\r\n", body ? body_size : 0);
        fputs("Connection: close\r\n\r\n", f);
        if (body_size > 0)
                fwrite(body, 1, body_size, f);

        if (fflush(f) != 0 || ferror(f)) {
                fclose(f);
                return -ENOMEM;
        }
        fclose(f);

        req->out = TAKE_PTR(buf);
        req->out_size = size;
        return 0;
}

/* ---- the resolver thread ---- */

static HttpResolve *resolve_unref(HttpResolve *r) {
        if (!r)
                return NULL;
        if (__atomic_sub_fetch(&r->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;

        if (r->fd >= 0)
                close(r->fd);
        if (r->result)
                freeaddrinfo(r->result);
        free(r->host);
        free(r);
        return NULL;
}

static void *resolve_thread(void *userdata) {
        HttpResolve *r = userdata;
        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_protocol = IPPROTO_TCP,
                .ai_flags = AI_NUMERICSERV,
        };

        r->error = getaddrinfo(r->host, r->service, &hints, &r->result);
        __atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
        (void) eventfd_write(r->fd, 1);
        resolve_unref(r);
        return NULL;
}

static int resolve_start(const char *host, uint16_t port, HttpResolve **ret) {
        HttpResolve *r;
        pthread_attr_t attr;
        sigset_t all, saved;
        pthread_t thread;
        int k;

        r = calloc(1, sizeof(HttpResolve));
        if (!r)
                return -ENOMEM;
        r->n_ref = 1;
        r->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        r->host = strdup(host);
        if (r->fd < 0 || !r->host) {
                k = r->fd < 0 ? -errno : -ENOMEM;
                resolve_unref(r);
                return k;
        }
        snprintf(r->service, sizeof(r->service), "%u", port);

        k = pthread_attr_init(&attr);
        if (k != 0) {
                resolve_unref(r);
                return -k;
        }
        k = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (k == 0) {
                /* The thread takes no signals: they stay with the event loop. */
                sigfillset(&all);
                (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
                r->n_ref++;
                k = pthread_create(&thread, &attr, resolve_thread, r);
                if (k != 0)
                        r->n_ref--;
                (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        }
        (void) pthread_attr_destroy(&attr);
        if (k != 0) {
                resolve_unref(r);
                return -k;
        }

        *ret = r;
        return 0;
}

/* ---- the request ---- */

static void request_close(HttpClientRequest *req) {
        req->defer = sd_event_source_disable_unref(req->defer);
        req->io = sd_event_source_disable_unref(req->io);
        req->timer = sd_event_source_disable_unref(req->timer);
        req->resolve_source = sd_event_source_disable_unref(req->resolve_source);
        req->resolve = resolve_unref(req->resolve);
        if (req->fd >= 0) {
                close(req->fd);
                req->fd = -EBADF;
        }
}

static void request_destroy(HttpClientRequest *req) {
        request_close(req);
        http_response_parser_done(&req->parser);
        sd_event_unref(req->event);
        free(req->host);
        free(req->out);
        free(req);
}

HttpClientRequest *http_client_request_free(HttpClientRequest *req) {
        if (!req)
                return NULL;

        if (req->dispatching) {
                req->done = NULL;
                return NULL;
        }
        request_destroy(req);
        return NULL;
}

/* The end of the request: the callback, then the request goes. */
static void request_complete(HttpClientRequest *req, int result) {
        const char *body = NULL;
        size_t body_size = 0;
        long status = 0;

        request_close(req);
        if (result >= 0) {
                result = 0;
                status = req->parser.status;
                body = http_response_parser_body(&req->parser, &body_size);
        }

        req->dispatching = true;
        if (req->done)
                req->done(req, result, status, body, body_size, req->userdata);
        request_destroy(req);
}

static int timer_set(HttpClientRequest *req, usec_t until) {
        int r;

        if (until == USEC_INFINITY)
                return sd_event_source_set_enabled(req->timer, SD_EVENT_OFF);
        r = sd_event_source_set_time(req->timer, until);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(req->timer, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static void request_connect_next(HttpClientRequest *req) {
        int r;

        req->io = sd_event_source_disable_unref(req->io);
        if (req->fd >= 0) {
                close(req->fd);
                req->fd = -EBADF;
        }

        while (req->next_address < req->n_addresses) {
                size_t i = req->next_address++;
                int fd;

                fd = socket(req->addresses[i].sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
                if (fd < 0) {
                        req->connect_error = -errno;
                        continue;
                }
                if (connect(fd, &req->addresses[i].sa, req->address_sizes[i]) < 0 && errno != EINPROGRESS) {
                        req->connect_error = -errno;
                        close(fd);
                        continue;
                }

                req->fd = fd;
                r = sd_event_add_io(req->event, &req->io, fd, EPOLLOUT, on_io, req);
                if (r < 0) {
                        request_complete(req, r);
                        return;
                }
                (void) sd_event_source_set_description(req->io, "http-client-io");
                req->state = HTTP_CLIENT_CONNECT;
                return;
        }

        request_complete(req, req->connect_error < 0 ? req->connect_error : -EHOSTUNREACH);
}

static int request_add_address(HttpClientRequest *req, int family, const void *addr, size_t size) {
        SockaddrUnion *u;

        if (req->n_addresses >= HTTP_CLIENT_ADDRESSES_MAX)
                return 0;
        u = &req->addresses[req->n_addresses];
        *u = (SockaddrUnion) {};

        if (family == AF_INET && size == sizeof(struct sockaddr_in)) {
                memcpy(&u->in, addr, size);
                u->in.sin_port = htons(req->port);
        } else if (family == AF_INET6 && size == sizeof(struct sockaddr_in6)) {
                memcpy(&u->in6, addr, size);
                u->in6.sin6_port = htons(req->port);
        } else
                return 0;

        req->address_sizes[req->n_addresses++] = (socklen_t) size;
        return 1;
}

static int on_resolved(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpClientRequest *req = userdata;
        HttpResolve *res = req->resolve;
        eventfd_t v;

        (void) eventfd_read(fd, &v);
        if (!__atomic_load_n(&res->done, __ATOMIC_ACQUIRE))
                return 0;

        req->resolve_source = sd_event_source_disable_unref(req->resolve_source);
        if (res->error != 0) {
                int r = res->error == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;

                req->resolve = resolve_unref(req->resolve);
                request_complete(req, r);
                return 0;
        }

        for (struct addrinfo *ai = res->result; ai; ai = ai->ai_next)
                (void) request_add_address(req, ai->ai_family, ai->ai_addr, ai->ai_addrlen);
        req->resolve = resolve_unref(req->resolve);
        request_connect_next(req);
        return 0;
}

static bool host_is_localhost(const char *host) {
        return strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0;
}

static int on_start(sd_event_source *s, void *userdata) {
        HttpClientRequest *req = userdata;
        struct sockaddr_in in = { .sin_family = AF_INET };
        struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
        int r;

        req->defer = sd_event_source_disable_unref(req->defer);

        if (req->ipv6_host) {
                if (inet_pton(AF_INET6, req->host, &in6.sin6_addr) != 1) {
                        request_complete(req, -EINVAL);
                        return 0;
                }
                (void) request_add_address(req, AF_INET6, &in6, sizeof(in6));
        } else if (inet_pton(AF_INET, req->host, &in.sin_addr) == 1)
                (void) request_add_address(req, AF_INET, &in, sizeof(in));
        else if (host_is_localhost(req->host)) {
                /* RFC 6761: never asked of a resolver. */
                in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                in6.sin6_addr = in6addr_loopback;
                (void) request_add_address(req, AF_INET, &in, sizeof(in));
                (void) request_add_address(req, AF_INET6, &in6, sizeof(in6));
        } else {
                req->state = HTTP_CLIENT_RESOLVE;
                r = resolve_start(req->host, req->port, &req->resolve);
                if (r >= 0)
                        r = sd_event_add_io(req->event, &req->resolve_source, req->resolve->fd, EPOLLIN, on_resolved, req);
                if (r < 0) {
                        request_complete(req, r);
                        return 0;
                }
                (void) sd_event_source_set_description(req->resolve_source, "http-client-resolve");
                return 0;
        }

        request_connect_next(req);
        return 0;
}

/* Reads what is there. Returns 1 when the request ended (completed or failed), 0 to wait. */
static int request_receive(HttpClientRequest *req) {
        char buf[HTTP_CLIENT_READ_SIZE];
        ssize_t k;
        int r;

        k = recv(req->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                request_complete(req, -errno);
                return 1;
        }
        if (k == 0) {
                r = http_response_parser_finish(&req->parser);
                if (r == -EIO && req->send_error < 0)
                        r = req->send_error;
                request_complete(req, r);
                return 1;
        }

        r = http_response_parser_feed(&req->parser, buf, (size_t) k);
        if (r == 0)
                return 0;
        request_complete(req, r);
        return 1;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpClientRequest *req = userdata;
        int r;

        if (req->state == HTTP_CLIENT_CONNECT) {
                int error = 0;
                socklen_t l = sizeof(error);

                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &l) < 0)
                        error = errno;
                if (error != 0) {
                        req->connect_error = -error;
                        request_connect_next(req);
                        return 0;
                }

                /* Connected: the connect timeout no longer counts. */
                if (req->connect_deadline) {
                        req->connect_deadline = false;
                        r = timer_set(req, req->deadline);
                        if (r < 0) {
                                request_complete(req, r);
                                return 0;
                        }
                }
                req->state = HTTP_CLIENT_SEND;
                r = sd_event_source_set_io_events(req->io, EPOLLIN | EPOLLOUT);
                if (r < 0) {
                        request_complete(req, r);
                        return 0;
                }
                revents = EPOLLOUT;
        }

        if (req->state == HTTP_CLIENT_SEND && (revents & EPOLLIN)) {
                /* An answer before the request was all sent (a 413, say): that is the answer. */
                if (request_receive(req) > 0)
                        return 0;
        }

        if (req->state == HTTP_CLIENT_SEND && (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                ssize_t k;

                k = send(fd, req->out + req->out_done, req->out_size - req->out_done, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0 && errno != EAGAIN && errno != EINTR) {
                        /* The server may have answered and closed: read what it said. */
                        req->send_error = -errno;
                        req->out_done = req->out_size;
                } else if (k > 0)
                        req->out_done += (size_t) k;

                if (req->out_done >= req->out_size) {
                        req->state = HTTP_CLIENT_RECEIVE;
                        r = sd_event_source_set_io_events(req->io, EPOLLIN);
                        if (r < 0) {
                                request_complete(req, r);
                                return 0;
                        }
                }
                return 0;
        }

        if (req->state == HTTP_CLIENT_RECEIVE)
                (void) request_receive(req);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        request_complete(userdata, -ETIMEDOUT);
        return 0;
}

int http_client_request_start(sd_event *event, const char *method, const HttpUrl *url,
                              const char *const *headers,
                              const char *body, size_t body_size,
                              size_t body_max, uint64_t timeout_usec,
                              HttpClientDone done, void *userdata, HttpClientRequest **ret) {
        HttpClientRequest *req;
        usec_t now, until;
        int r;

        if (!event || !method || !url || !url->host || !url->authority || !url->target || !done)
                return -EINVAL;
        if (url->https)
                return -EPROTONOSUPPORT;
        if (isempty(method) || strlen(method) > 16)
                return -EINVAL;
        for (const char *p = method; *p; p++)
                if (*p < 'A' || *p > 'Z')
                        return -EINVAL;
        if (!body && body_size > 0)
                return -EINVAL;
        for (const char *const *h = headers; h && *h; h++)
                if (!http_header_line_valid(*h) ||
                    header_is(*h, "Host") || header_is(*h, "Content-Length") ||
                    header_is(*h, "Transfer-Encoding") || header_is(*h, "Connection"))
                        return -EINVAL;

        req = calloc(1, sizeof(HttpClientRequest));
        if (!req)
                return -ENOMEM;
        req->fd = -EBADF;
        req->event = sd_event_ref(event);
        req->done = done;
        req->userdata = userdata;
        req->port = url->port;
        req->ipv6_host = url->host_is_ipv6;
        http_response_parser_init(&req->parser, streq(method, "HEAD"), body_max);

        req->host = strdup(url->host);
        if (!req->host) {
                request_destroy(req);
                return -ENOMEM;
        }

        r = request_build(req, method, url, headers, body, body_size);
        if (r < 0) {
                request_destroy(req);
                return r;
        }

        /* Started from the loop, so that even an immediate failure is reported from there. */
        r = sd_event_add_defer(event, &req->defer, on_start, req);
        if (r >= 0)
                r = sd_event_source_set_enabled(req->defer, SD_EVENT_ONESHOT);
        if (r < 0) {
                request_destroy(req);
                return r;
        }
        (void) sd_event_source_set_description(req->defer, "http-client-start");

        /* The clock itself, not the loop's cached time: that may be old. */
        now = now_monotonic();
        req->deadline = timeout_usec > 0 && timeout_usec < USEC_INFINITY - now ? now + timeout_usec : USEC_INFINITY;
        req->connect_deadline = req->deadline == USEC_INFINITY || timeout_usec > HTTP_CLIENT_CONNECT_TIMEOUT_USEC;
        until = req->connect_deadline ? now + HTTP_CLIENT_CONNECT_TIMEOUT_USEC : req->deadline;

        r = sd_event_add_time(event, &req->timer, CLOCK_MONOTONIC, until, HTTP_CLIENT_TIMER_ACCURACY_USEC,
                              on_timeout, req);
        if (r < 0) {
                request_destroy(req);
                return r;
        }
        (void) sd_event_source_set_description(req->timer, "http-client-timeout");

        if (ret)
                *ret = req;
        return 0;
}
