/* SPDX-License-Identifier: MIT */
/* The TCP forwarder against an echo server and hand-driven peers, all on one sd-event loop in
 * this process: the test's own sockets are non-blocking and it runs the loop while it waits. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <linux/sockios.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "log.h"
#include "provider-forward.h"
#include "time-util.h"

#define ASSERT(expr)                                                                    \
        do {                                                                            \
                if (!(expr)) {                                                          \
                        fprintf(stderr, "%s:%d: %s: assertion failed: %s\n",            \
                                __FILE__, __LINE__, __func__, #expr);                   \
                        abort();                                                        \
                }                                                                       \
        } while (0)
#define ASSERT_OK(expr)                                                                 \
        do {                                                                            \
                int _r_ = (expr);                                                       \
                if (_r_ < 0) {                                                          \
                        fprintf(stderr, "%s:%d: %s: %s failed: %s\n",                   \
                                __FILE__, __LINE__, __func__, #expr, strerror(-_r_));   \
                        abort();                                                        \
                }                                                                       \
        } while (0)

/* Generous: valgrind is slow. */
#define DEADLINE_USEC (60 * USEC_PER_SEC)

static sd_event *event;

static void pump(usec_t timeout) {
        ASSERT_OK(sd_event_run(event, timeout));
}

/* Runs the loop until cond holds. */
#define WAIT_FOR(cond)                                                                  \
        do {                                                                            \
                usec_t _deadline_ = now_monotonic() + DEADLINE_USEC;                    \
                while (!(cond)) {                                                       \
                        ASSERT(now_monotonic() < _deadline_);                           \
                        pump(10 * USEC_PER_MSEC);                                       \
                }                                                                       \
        } while (0)

/* The test data: a byte that depends on its position and a per-stream seed. */
static uint8_t pattern(uint64_t seed, uint64_t i) {
        uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL ^ (seed * 0xBF58476D1CE4E5B9ULL);
        x ^= x >> 31;
        return (uint8_t) (x ^ (x >> 17));
}

static void fill_pattern(uint8_t *buf, size_t n, uint64_t seed, uint64_t offset) {
        for (size_t i = 0; i < n; i++)
                buf[i] = pattern(seed, offset + i);
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static size_t count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        size_t n = 0;

        ASSERT(d);
        for (struct dirent *de; (de = readdir(d)); )
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static void set_nonblock(int fd) {
        int flags = fcntl(fd, F_GETFL);

        ASSERT(flags >= 0);
        ASSERT(fcntl(fd, F_SETFL, flags | O_NONBLOCK) >= 0);
}

/* A listening socket on 127.0.0.1, non-blocking. */
static int listen_local(int backlog, uint16_t *ret_port) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        socklen_t len = sizeof(sa);
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT(fd >= 0);
        ASSERT(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
        ASSERT(listen(fd, backlog) >= 0);
        ASSERT(getsockname(fd, (struct sockaddr *) &sa, &len) >= 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

/* A port on which nothing listens (bound and closed again). */
static uint16_t dead_port(void) {
        uint16_t port;
        int fd = listen_local(1, &port);

        close(fd);
        return port;
}

/* Connects to 127.0.0.1:port. On loopback the kernel completes the handshake without the
 * listener's accept(), so a blocking connect does not need the loop. rcvbuf > 0 sets SO_RCVBUF. */
static int connect_local(uint16_t port, int rcvbuf) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT(fd >= 0);
        if (rcvbuf > 0)
                ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) >= 0);
        ASSERT(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
        set_nonblock(fd);
        return fd;
}

static int accept_wait(int lfd) {
        int fd;

        WAIT_FOR((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0 || errno != EAGAIN);
        ASSERT(fd >= 0);
        return fd;
}

static void send_all(int fd, const void *data, size_t n) {
        const uint8_t *p = data;
        usec_t deadline = now_monotonic() + DEADLINE_USEC;

        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        ASSERT(errno == EAGAIN);
                        ASSERT(now_monotonic() < deadline);
                        pump(10 * USEC_PER_MSEC);
                        continue;
                }
                p += k;
                n -= (size_t) k;
        }
}

static void send_str(int fd, const char *s) {
        send_all(fd, s, strlen(s));
}

static void recv_exact(int fd, void *buf, size_t n) {
        uint8_t *p = buf;
        usec_t deadline = now_monotonic() + DEADLINE_USEC;

        while (n > 0) {
                ssize_t k = recv(fd, p, n, MSG_DONTWAIT);
                if (k < 0) {
                        ASSERT(errno == EAGAIN);
                        ASSERT(now_monotonic() < deadline);
                        pump(10 * USEC_PER_MSEC);
                        continue;
                }
                ASSERT(k > 0); /* no EOF before the data */
                p += k;
                n -= (size_t) k;
        }
}

static void recv_str(int fd, const char *expected) {
        size_t n = strlen(expected);
        char buf[256];

        ASSERT(n < sizeof(buf));
        recv_exact(fd, buf, n);
        buf[n] = 0;
        ASSERT(streq(buf, expected));
}

/* Waits for the end of the stream: returns 0 for an EOF, -ECONNRESET for a reset. No data may
 * come first. */
static int recv_eof(int fd) {
        usec_t deadline = now_monotonic() + DEADLINE_USEC;
        char c;

        for (;;) {
                ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
                if (k == 0)
                        return 0;
                if (k < 0 && errno == ECONNRESET)
                        return -ECONNRESET;
                ASSERT(k < 0 && errno == EAGAIN);
                ASSERT(now_monotonic() < deadline);
                pump(10 * USEC_PER_MSEC);
        }
}

/* Nothing arrives on fd while the loop runs for a while. */
static void assert_quiet(int fd, usec_t usec) {
        usec_t end = now_monotonic() + usec;
        char c;

        while (now_monotonic() < end)
                pump(10 * USEC_PER_MSEC);
        ASSERT(recv(fd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
}

/* ---- An echo server on the loop ---------------------------------------------------------- */

typedef struct EchoConn EchoConn;
typedef struct EchoServer {
        int fd;
        uint16_t port;
        sd_event_source *source;
        EchoConn *conns;
        size_t n_conns, n_accepted;
} EchoServer;

struct EchoConn {
        EchoServer *server;
        EchoConn *prev, *next;
        int fd;
        sd_event_source *source;
        uint8_t buf[16384];
        size_t start, end;
        bool eof;
};

static void echo_conn_free(EchoConn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                c->server->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->server->n_conns--;
        sd_event_source_disable_unref(c->source);
        close(c->fd);
        free(c);
}

static int on_echo_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        EchoConn *c = userdata;
        uint32_t events = 0;
        ssize_t k;

        if (!c->eof && c->end < sizeof(c->buf)) {
                k = recv(fd, c->buf + c->end, sizeof(c->buf) - c->end, MSG_DONTWAIT);
                if (k == 0)
                        c->eof = true;
                else if (k > 0)
                        c->end += (size_t) k;
                else if (errno != EAGAIN) {
                        echo_conn_free(c);
                        return 0;
                }
        }
        if (c->end > c->start) {
                k = send(fd, c->buf + c->start, c->end - c->start, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k > 0)
                        c->start += (size_t) k;
                else if (k < 0 && errno != EAGAIN) {
                        echo_conn_free(c);
                        return 0;
                }
                if (c->start == c->end)
                        c->start = c->end = 0;
        }
        if (c->eof && c->end == c->start) {
                echo_conn_free(c);
                return 0;
        }

        if (!c->eof && c->end < sizeof(c->buf))
                events |= EPOLLIN;
        if (c->end > c->start)
                events |= EPOLLOUT;
        ASSERT_OK(sd_event_source_set_io_events(s, events));
        return 0;
}

static int on_echo_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        EchoServer *e = userdata;

        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                EchoConn *c;

                if (cfd < 0) {
                        ASSERT(errno == EAGAIN);
                        return 0;
                }
                c = calloc(1, sizeof(*c));
                ASSERT(c);
                c->server = e;
                c->fd = cfd;
                c->next = e->conns;
                if (e->conns)
                        e->conns->prev = c;
                e->conns = c;
                e->n_conns++;
                e->n_accepted++;
                ASSERT_OK(sd_event_add_io(event, &c->source, cfd, EPOLLIN, on_echo_io, c));
        }
}

static EchoServer *echo_server_new(void) {
        EchoServer *e = calloc(1, sizeof(*e));

        ASSERT(e);
        e->fd = listen_local(SOMAXCONN, &e->port);
        ASSERT_OK(sd_event_add_io(event, &e->source, e->fd, EPOLLIN, on_echo_accept, e));
        return e;
}

static void echo_server_free(EchoServer *e) {
        while (e->conns)
                echo_conn_free(e->conns);
        sd_event_source_disable_unref(e->source);
        close(e->fd);
        free(e);
}

/* ---- The tests ----------------------------------------------------------------------------- */

static void test_api(void) {
        Forwarder *f = NULL;

        ASSERT(forwarder_new(NULL, "127.0.0.1", 0, "127.0.0.1", 22, &f) == -EINVAL);
        ASSERT(forwarder_new(event, NULL, 0, "127.0.0.1", 22, &f) == -EINVAL);
        ASSERT(forwarder_new(event, "127.0.0.1", 0, "localhost", 22, &f) == -EINVAL); /* not numeric */
        ASSERT(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", 0, &f) == -EINVAL);
        ASSERT(forwarder_new(event, "not-an-address", 0, "127.0.0.1", 22, &f) < 0);
        ASSERT(!f);

        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "::1", 22, &f));
        ASSERT(forwarder_port(f) > 0);
        ASSERT(forwarder_n_connections(f) == 0);
        ASSERT(forwarder_set_target(f, "10.0.0.1", 0) == -EINVAL);
        ASSERT(forwarder_set_target(f, "10.0.0.300", 22) == -EINVAL);
        ASSERT_OK(forwarder_set_target(f, "fe80::1", 22));
        ASSERT_OK(forwarder_set_target(f, NULL, 0));
        ASSERT(forwarder_free(f) == NULL);
        ASSERT(forwarder_free(NULL) == NULL);
        ASSERT(forwarder_port(NULL) == 0);
}

/* Bytes flow both ways, the server speaking first as sshd does. */
static void test_both_ways(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        uint16_t sport;
        int lfd, c, s;

        lfd = listen_local(16, &sport);
        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", sport, &f));

        c = connect_local(forwarder_port(f), 0);
        s = accept_wait(lfd);
        ASSERT(forwarder_n_connections(f) == 1);

        send_str(s, "SSH-2.0-OpenSSH_9.6\r\n");
        recv_str(c, "SSH-2.0-OpenSSH_9.6\r\n");
        send_str(c, "SSH-2.0-golem\r\n");
        recv_str(s, "SSH-2.0-golem\r\n");
        for (int i = 0; i < 50; i++) { /* keystrokes */
                char k[2] = { (char) ('a' + i % 26), 0 };
                send_str(c, k);
                recv_str(s, k);
                send_str(s, k);
                recv_str(c, k);
        }

        close(c);
        ASSERT(recv_eof(s) == 0);
        close(s);
        WAIT_FOR(forwarder_n_connections(f) == 0);
        close(lfd);
}

/* Listening on IPv6, target on IPv4. */
static void test_ipv6(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        EchoServer *e = echo_server_new();
        int r, c;

        r = forwarder_new(event, "::1", 0, "127.0.0.1", e->port, &f);
        if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT) {
                fprintf(stderr, "No IPv6 loopback, skipping %s.\n", __func__);
                echo_server_free(e);
                return;
        }
        ASSERT_OK(r);

        sa.sin6_port = htons(forwarder_port(f));
        c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT(c >= 0);
        ASSERT(connect(c, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
        set_nonblock(c);

        send_str(c, "over v6");
        recv_str(c, "over v6");
        close(c);
        WAIT_FOR(forwarder_n_connections(f) == 0 && e->n_conns == 0);
        echo_server_free(e);
}

/* Several MiB through one connection, both directions at once, checksummed. */
static void test_bulk(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        const size_t total = 4 * 1024 * 1024 + 12345;
        uint64_t sent_sum = FNV_INIT, recv_sum = FNV_INIT;
        size_t sent = 0, received = 0;
        usec_t deadline = now_monotonic() + DEADLINE_USEC;
        EchoServer *e = echo_server_new();
        static uint8_t out[100000], in[70000];
        int c;

        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", e->port, &f));
        c = connect_local(forwarder_port(f), 0);

        while (received < total) {
                bool progress = false;
                ssize_t k;

                ASSERT(now_monotonic() < deadline);

                if (sent < total) {
                        size_t n = MIN(sizeof(out), total - sent);

                        fill_pattern(out, n, 1, sent);
                        k = send(c, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (k > 0) {
                                sent_sum = fnv1a(sent_sum, out, (size_t) k);
                                sent += (size_t) k;
                                progress = true;
                        } else
                                ASSERT(errno == EAGAIN);
                }

                k = recv(c, in, sizeof(in), MSG_DONTWAIT);
                if (k > 0) {
                        for (ssize_t i = 0; i < k; i++)
                                ASSERT(in[i] == pattern(1, received + (size_t) i));
                        recv_sum = fnv1a(recv_sum, in, (size_t) k);
                        received += (size_t) k;
                        progress = true;
                } else
                        ASSERT(k < 0 && errno == EAGAIN);

                pump(progress ? 0 : 10 * USEC_PER_MSEC);
        }

        ASSERT(sent == total);
        ASSERT(received == total);
        ASSERT(sent_sum == recv_sum);

        ASSERT(shutdown(c, SHUT_WR) >= 0);
        ASSERT(recv_eof(c) == 0);
        close(c);
        WAIT_FOR(forwarder_n_connections(f) == 0 && e->n_conns == 0);
        echo_server_free(e);
}

/* 20 connections open and busy at the same time. */
static void test_concurrent(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        enum { N = 20, SIZE = 200 * 1000 };
        struct {
                int fd;
                size_t sent, received;
        } cl[N];
        usec_t deadline = now_monotonic() + DEADLINE_USEC;
        EchoServer *e = echo_server_new();
        static uint8_t buf[32768];
        size_t done = 0;

        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", e->port, &f));
        for (int i = 0; i < N; i++)
                cl[i] = (__typeof__(cl[0])) { .fd = connect_local(forwarder_port(f), 0) };

        WAIT_FOR(forwarder_n_connections(f) == N && e->n_conns == N);

        while (done < N) {
                ASSERT(now_monotonic() < deadline);
                done = 0;
                for (int i = 0; i < N; i++) {
                        ssize_t k;

                        if (cl[i].sent < SIZE) {
                                size_t n = MIN(sizeof(buf), (size_t) SIZE - cl[i].sent);

                                fill_pattern(buf, n, 100 + (uint64_t) i, cl[i].sent);
                                k = send(cl[i].fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                                if (k > 0)
                                        cl[i].sent += (size_t) k;
                                else
                                        ASSERT(errno == EAGAIN);
                        }
                        k = recv(cl[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
                        if (k > 0) {
                                for (ssize_t j = 0; j < k; j++)
                                        ASSERT(buf[j] == pattern(100 + (uint64_t) i, cl[i].received + (size_t) j));
                                cl[i].received += (size_t) k;
                        } else
                                ASSERT(k < 0 && errno == EAGAIN);
                        if (cl[i].received == SIZE)
                                done++;
                }
                ASSERT(forwarder_n_connections(f) == N);
                pump(1 * USEC_PER_MSEC);
        }

        for (int i = 0; i < N; i++)
                close(cl[i].fd);
        WAIT_FOR(forwarder_n_connections(f) == 0 && e->n_conns == 0);
        echo_server_free(e);
}

static uint64_t read_sysctl_max(const char *path) {
        uint64_t a, b, c;
        FILE *fp = fopen(path, "re");

        ASSERT(fp);
        ASSERT(fscanf(fp, "%" SCNu64 " %" SCNu64 " %" SCNu64, &a, &b, &c) == 3);
        fclose(fp);
        return c;
}

/* A client that does not read: the forwarder must stop reading from the server instead of
 * buffering without bound, and everything must still arrive once the client reads again. */
static void test_backpressure(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        static uint8_t buf[65536];
        size_t sent = 0, received = 0, bound, heap_before, heap_after;
        int lfd, c, s, outq = 0, stalls = 0;
        uint16_t sport;

        lfd = listen_local(16, &sport);
        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", sport, &f));
        c = connect_local(forwarder_port(f), 0);
        s = accept_wait(lfd);

        heap_before = mallinfo2().uordblks;

        /* The server writes until it has been stuck for a while. */
        while (stalls < 50) {
                ssize_t k;

                fill_pattern(buf, sizeof(buf), 7, sent);
                k = send(s, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k > 0) {
                        sent += (size_t) k;
                        stalls = 0;
                        pump(0);
                } else {
                        ASSERT(errno == EAGAIN);
                        stalls++;
                        pump(10 * USEC_PER_MSEC);
                }
                ASSERT(sent < 512 * 1024 * 1024);
        }

        /* What can be in flight: the server's send buffer, the forwarder's receive buffer
         * toward the server (it grows only while the forwarder reads), the forwarder's own
         * buffer, its send buffer toward the client and the client's receive buffer. */
        bound = (size_t) read_sysctl_max("/proc/sys/net/ipv4/tcp_rmem") * 2 +
                (size_t) read_sysctl_max("/proc/sys/net/ipv4/tcp_wmem") * 2 +
                FORWARDER_BUFFER_SIZE;
        ASSERT(ioctl(s, SIOCOUTQ, &outq) >= 0);
        fprintf(stderr, "Back-pressure: the server got %zu bytes out before it stalled (bound %zu), "
                "%d bytes wait in its send queue.\n", sent, bound, outq);
        ASSERT(sent <= bound);
        heap_after = mallinfo2().uordblks;
        fprintf(stderr, "Back-pressure: the heap grew by %zu bytes meanwhile.\n",
                heap_after > heap_before ? heap_after - heap_before : 0);
        ASSERT(heap_after <= heap_before + 2 * FORWARDER_BUFFER_SIZE + 16384);
        ASSERT(outq > 0); /* the forwarder is not reading from the server */
        ASSERT(forwarder_n_connections(f) == 1);

        /* The client reads everything, intact, while the server sends the last megabyte. */
        {
                size_t total = sent + 1024 * 1024;
                usec_t deadline = now_monotonic() + DEADLINE_USEC;

                while (received < total) {
                        ssize_t k;

                        ASSERT(now_monotonic() < deadline);
                        if (sent < total) {
                                size_t n = MIN(sizeof(buf), total - sent);

                                fill_pattern(buf, n, 7, sent);
                                k = send(s, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                                if (k > 0)
                                        sent += (size_t) k;
                                else
                                        ASSERT(errno == EAGAIN);
                        }
                        k = recv(c, buf, sizeof(buf), MSG_DONTWAIT);
                        if (k > 0) {
                                for (ssize_t j = 0; j < k; j++)
                                        ASSERT(buf[j] == pattern(7, received + (size_t) j));
                                received += (size_t) k;
                        } else
                                ASSERT(k < 0 && errno == EAGAIN);
                        pump(k > 0 ? 0 : 1 * USEC_PER_MSEC);
                }
        }

        close(s);
        ASSERT(recv_eof(c) == 0);
        close(c);
        WAIT_FOR(forwarder_n_connections(f) == 0);
        close(lfd);
}

/* The client half-closes: the server sees EOF, replies and closes, the client gets the reply
 * and EOF. Then the other way round: the server half-closes and still hears the client. */
static void test_half_close(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        uint16_t sport;
        int lfd, c, s;

        lfd = listen_local(16, &sport);
        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", sport, &f));

        c = connect_local(forwarder_port(f), 0);
        s = accept_wait(lfd);
        send_str(c, "request");
        ASSERT(shutdown(c, SHUT_WR) >= 0);
        recv_str(s, "request");
        ASSERT(recv_eof(s) == 0);
        ASSERT(forwarder_n_connections(f) == 1); /* the other direction is still open */
        send_str(s, "reply");
        close(s);
        recv_str(c, "reply");
        ASSERT(recv_eof(c) == 0);
        close(c);
        WAIT_FOR(forwarder_n_connections(f) == 0);

        c = connect_local(forwarder_port(f), 0);
        s = accept_wait(lfd);
        send_str(s, "banner");
        ASSERT(shutdown(s, SHUT_WR) >= 0);
        recv_str(c, "banner");
        ASSERT(recv_eof(c) == 0);
        send_str(c, "late words");
        recv_str(s, "late words");
        ASSERT(shutdown(c, SHUT_WR) >= 0);
        ASSERT(recv_eof(s) == 0);
        WAIT_FOR(forwarder_n_connections(f) == 0);
        close(c);
        close(s);

        /* Half-close of a client that sent nothing before the target answered. */
        c = connect_local(forwarder_port(f), 0);
        ASSERT(shutdown(c, SHUT_WR) >= 0);
        s = accept_wait(lfd);
        ASSERT(recv_eof(s) == 0);
        send_str(s, "bye");
        close(s);
        recv_str(c, "bye");
        ASSERT(recv_eof(c) == 0);
        close(c);
        WAIT_FOR(forwarder_n_connections(f) == 0);

        close(lfd);
}

/* A reset on one side closes the other. */
static void test_reset(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        struct linger l = { .l_onoff = 1, .l_linger = 0 };
        uint16_t sport;
        int lfd, c, s;

        lfd = listen_local(16, &sport);
        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", sport, &f));

        c = connect_local(forwarder_port(f), 0);
        s = accept_wait(lfd);
        send_str(c, "x");
        recv_str(s, "x");
        ASSERT(setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) >= 0);
        close(s); /* RST */
        ASSERT(recv_eof(c) <= 0);
        WAIT_FOR(forwarder_n_connections(f) == 0);
        close(c);

        c = connect_local(forwarder_port(f), 0);
        s = accept_wait(lfd);
        ASSERT(setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) >= 0);
        close(c);
        ASSERT(recv_eof(s) <= 0);
        WAIT_FOR(forwarder_n_connections(f) == 0);
        close(s);

        close(lfd);
}

static void test_refused(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        int c;

        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", dead_port(), &f));
        c = connect_local(forwarder_port(f), 0);
        send_str(c, "anyone?");
        ASSERT(recv_eof(c) <= 0);
        WAIT_FOR(forwarder_n_connections(f) == 0);
        close(c);

        /* No target at all: accepted and closed. */
        ASSERT_OK(forwarder_set_target(f, NULL, 0));
        c = connect_local(forwarder_port(f), 0);
        ASSERT(recv_eof(c) <= 0);
        ASSERT(forwarder_n_connections(f) == 0);
        close(c);
}

/* A target that never answers the SYN: the client is dropped after the connect timeout. */
static void test_connect_timeout(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        uint16_t sport;
        int lfd, filler, c;
        usec_t start;

        /* With a backlog of 0 one unaccepted connection fills the accept queue, and Linux
         * drops later SYNs, so connect() hangs. */
        lfd = listen_local(0, &sport);
        filler = connect_local(sport, 0);

        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", sport, &f));
        forwarder_set_connect_timeout(f, 300 * USEC_PER_MSEC);

        start = now_monotonic();
        c = connect_local(forwarder_port(f), 0);
        send_str(c, "hello?");
        WAIT_FOR(forwarder_n_connections(f) == 1);
        ASSERT(recv_eof(c) <= 0);
        ASSERT(now_monotonic() - start >= 300 * USEC_PER_MSEC);
        ASSERT(forwarder_n_connections(f) == 0);
        close(c);

        close(filler);
        close(lfd);
}

/* forwarder_free() with connections open, busy, connecting and half-closed closes them all. */
static void test_free_open(void) {
        Forwarder *f = NULL;
        EchoServer *e;
        size_t before;
        int c[6], filler, lfd;
        uint16_t sport;

        before = count_fds();
        e = echo_server_new();
        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", e->port, &f));
        for (int i = 0; i < 4; i++) {
                c[i] = connect_local(forwarder_port(f), 4096);
                send_str(c[i], "ping");
                recv_str(c[i], "ping");
        }
        /* one with data stuck in both buffers: it sends and never reads */
        {
                static uint8_t junk[65536];
                for (int i = 0; i < 64; i++) {
                        if (send(c[3], junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                                ASSERT(errno == EAGAIN);
                        pump(1 * USEC_PER_MSEC);
                }
        }
        ASSERT(shutdown(c[2], SHUT_WR) >= 0);

        /* one still connecting */
        lfd = listen_local(0, &sport);
        filler = connect_local(sport, 0);
        ASSERT_OK(forwarder_set_target(f, "127.0.0.1", sport));
        c[4] = connect_local(forwarder_port(f), 0);
        /* one the forwarder has not accepted yet */
        WAIT_FOR(forwarder_n_connections(f) == 5);
        c[5] = connect_local(forwarder_port(f), 0);

        f = forwarder_free(f);
        for (int i = 0; i < 6; i++) {
                if (i != 3) /* that one has echoed data to read first */
                        ASSERT(recv_eof(c[i]) <= 0);
                close(c[i]);
        }
        WAIT_FOR(e->n_conns == 0);
        echo_server_free(e);
        close(filler);
        close(lfd);
        ASSERT(count_fds() == before);
}

/* A new target applies to new connections; open ones keep theirs. */
static void test_set_target(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        EchoServer *e = echo_server_new();
        uint16_t sport;
        int lfd, a, b, s;

        lfd = listen_local(16, &sport);
        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", e->port, &f));

        a = connect_local(forwarder_port(f), 0);
        send_str(a, "one");
        recv_str(a, "one");

        ASSERT_OK(forwarder_set_target(f, "127.0.0.1", sport));
        send_str(a, "still echoed");
        recv_str(a, "still echoed");
        ASSERT(accept4(lfd, NULL, NULL, SOCK_CLOEXEC) < 0 && errno == EAGAIN);

        b = connect_local(forwarder_port(f), 0);
        s = accept_wait(lfd);
        send_str(b, "to the new target");
        recv_str(s, "to the new target");
        assert_quiet(b, 50 * USEC_PER_MSEC); /* not echoed */
        ASSERT(e->n_accepted == 1);

        send_str(a, "two");
        recv_str(a, "two");

        close(a);
        close(b);
        close(s);
        WAIT_FOR(forwarder_n_connections(f) == 0 && e->n_conns == 0);
        close(lfd);
        echo_server_free(e);
}

/* Over FORWARDER_CONNECTIONS_MAX a connection is accepted and closed at once. */
static void test_cap(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        enum { N = FORWARDER_CONNECTIONS_MAX };
        struct rlimit rl;
        EchoServer *e;
        int c[N + 1];

        ASSERT(getrlimit(RLIMIT_NOFILE, &rl) >= 0);
        if (rl.rlim_cur < 4 * N + 64) {
                rl.rlim_cur = MIN(rl.rlim_max, (rlim_t) 4 * N + 64);
                (void) setrlimit(RLIMIT_NOFILE, &rl);
                ASSERT(getrlimit(RLIMIT_NOFILE, &rl) >= 0);
                if (rl.rlim_cur < 4 * N + 64) {
                        fprintf(stderr, "RLIMIT_NOFILE too low, skipping %s.\n", __func__);
                        return;
                }
        }

        e = echo_server_new();
        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", e->port, &f));
        for (int i = 0; i < N; i++)
                c[i] = connect_local(forwarder_port(f), 0);
        WAIT_FOR(forwarder_n_connections(f) == N && e->n_conns == N);

        c[N] = connect_local(forwarder_port(f), 0);
        ASSERT(recv_eof(c[N]) <= 0);
        ASSERT(forwarder_n_connections(f) == N);
        close(c[N]);

        send_str(c[0], "alive");
        recv_str(c[0], "alive");
        send_str(c[N - 1], "alive");
        recv_str(c[N - 1], "alive");

        /* room again after one leaves */
        close(c[0]);
        WAIT_FOR(forwarder_n_connections(f) == N - 1);
        c[0] = connect_local(forwarder_port(f), 0);
        send_str(c[0], "back");
        recv_str(c[0], "back");

        for (int i = 0; i < N; i++)
                close(c[i]);
        WAIT_FOR(forwarder_n_connections(f) == 0 && e->n_conns == 0);
        echo_server_free(e);
}

/* accept() failing with EMFILE rests the listener instead of spinning, and recovers. */
static void test_emfile(void) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        EchoServer *e = echo_server_new();
        struct rlimit saved, rl;
        uint64_t it0, it1;
        usec_t end;
        int c, probe;

        ASSERT_OK(forwarder_new(event, "127.0.0.1", 0, "127.0.0.1", e->port, &f));
        c = connect_local(forwarder_port(f), 0);

        /* The lowest free descriptor becomes the limit: no new descriptor can be made. */
        probe = fcntl(0, F_DUPFD_CLOEXEC, 0);
        ASSERT(probe >= 0);
        close(probe);
        ASSERT(getrlimit(RLIMIT_NOFILE, &saved) >= 0);
        rl = saved;
        rl.rlim_cur = (rlim_t) probe;
        ASSERT(setrlimit(RLIMIT_NOFILE, &rl) >= 0);
        ASSERT(fcntl(0, F_DUPFD_CLOEXEC, 0) < 0 && errno == EMFILE);

        ASSERT_OK(sd_event_get_iteration(event, &it0));
        end = now_monotonic() + 600 * USEC_PER_MSEC;
        while (now_monotonic() < end)
                pump(100 * USEC_PER_MSEC);
        ASSERT_OK(sd_event_get_iteration(event, &it1));
        fprintf(stderr, "EMFILE: %" PRIu64 " loop iterations in 600 ms.\n", it1 - it0);
        ASSERT(it1 - it0 < 30);
        ASSERT(forwarder_n_connections(f) == 0);

        ASSERT(setrlimit(RLIMIT_NOFILE, &saved) >= 0);
        if (RUNNING_ON_VALGRIND) {
                /* valgrind emulates the limit after the fact: accept() took the connection
                 * and valgrind closed it. Without valgrind it waits in the backlog. */
                ASSERT(recv_eof(c) <= 0);
                close(c);
                c = connect_local(forwarder_port(f), 0);
        }
        WAIT_FOR(forwarder_n_connections(f) == 1);
        send_str(c, "recovered");
        recv_str(c, "recovered");
        close(c);
        WAIT_FOR(forwarder_n_connections(f) == 0 && e->n_conns == 0);
        echo_server_free(e);
}

#define RUN(test)                                                                       \
        do {                                                                            \
                usec_t _t_ = now_monotonic();                                           \
                test();                                                                 \
                fprintf(stderr, "%s: ok (%" PRIu64 " ms)\n", #test,                     \
                        (now_monotonic() - _t_) / USEC_PER_MSEC);                       \
        } while (0)

int main(int argc, char *argv[]) {
        size_t fds_before;

        log_setup("test-provider-forward");
        ASSERT_OK(sd_event_new(&event));
        /* sd-event makes its timerfd on the first timer and keeps it: make it now, so that
         * the count below stays comparable. */
        {
                sd_event_source *t = NULL;
                ASSERT_OK(sd_event_add_time_relative(event, &t, CLOCK_MONOTONIC, USEC_PER_SEC, 0, NULL, NULL));
                sd_event_source_disable_unref(t);
        }
        fds_before = count_fds();

        RUN(test_api);
        RUN(test_both_ways);
        RUN(test_ipv6);
        RUN(test_bulk);
        RUN(test_concurrent);
        RUN(test_backpressure);
        RUN(test_half_close);
        RUN(test_reset);
        RUN(test_refused);
        RUN(test_connect_timeout);
        RUN(test_free_open);
        RUN(test_set_target);
        RUN(test_cap);
        RUN(test_emfile);

        /* Nothing left behind by any test: no descriptor, no event source. */
        ASSERT(count_fds() == fds_before);
        event = sd_event_unref(event);
        fprintf(stderr, "All forwarder tests passed.\n");
        return 0;
}
