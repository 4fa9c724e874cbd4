/* SPDX-License-Identifier: MIT */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "listen.h"
#include "list.h"
#include "log.h"
#include "provider-forward.h"

/* How long the listener rests after accept() ran out of file descriptors or memory. */
#define ACCEPT_RETRY_USEC (250 * USEC_PER_MSEC)
/* Per-connection accept() errors tolerated in a row before the listener rests too. */
#define ACCEPT_AGAIN_MAX 64U

typedef enum ForwardSide {
        SIDE_CLIENT,
        SIDE_TARGET,
        _SIDE_MAX,
} ForwardSide;

/* Bytes read from one side and not yet written to the other: data[start, end). Allocated on
 * first use, FORWARDER_BUFFER_SIZE bytes. */
typedef struct ForwardBuffer {
        uint8_t *data;
        size_t start, end;
} ForwardBuffer;

typedef struct ForwardConnection ForwardConnection;

struct ForwardConnection {
        Forwarder *forwarder;
        LIST_FIELDS(ForwardConnection, connections);
        uint64_t id;

        int fd[_SIDE_MAX];
        sd_event_source *io[_SIDE_MAX];
        sd_event_source *timeout;  /* while connecting to the target */
        bool connected;

        ForwardBuffer buffer[_SIDE_MAX]; /* buffer[s]: read from side s, goes to the other side */
        bool eof[_SIDE_MAX];             /* side s sent EOF */
        bool shut[_SIDE_MAX];            /* we sent EOF to side s */
};

struct Forwarder {
        sd_event *event;

        int listen_fd;
        uint16_t port;
        sd_event_source *listen_source;
        sd_event_source *retry_source; /* armed while the listener rests after EMFILE and friends */

        struct sockaddr_storage target;
        socklen_t target_len; /* 0: no target, connections are closed */
        usec_t connect_timeout;

        ForwardConnection *connections; /* doubly linked list */
        size_t n_connections;
        uint64_t n_accepted;
};

static size_t buffer_used(const ForwardBuffer *b) {
        return b->end - b->start;
}

static int parse_address(const char *host, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len) {
        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
        }, *ai = NULL;
        char service[8];
        int r;

        if (isempty(host) || port == 0)
                return -EINVAL;

        snprintf(service, sizeof(service), "%u", port);
        r = getaddrinfo(host, service, &hints, &ai);
        if (r != 0)
                return r == EAI_MEMORY ? -ENOMEM : -EINVAL;
        if (ai->ai_addrlen > sizeof(*ret)) {
                freeaddrinfo(ai);
                return -EINVAL;
        }

        memset(ret, 0, sizeof(*ret));
        memcpy(ret, ai->ai_addr, ai->ai_addrlen);
        *ret_len = ai->ai_addrlen;
        freeaddrinfo(ai);
        return 0;
}

static void connection_free(ForwardConnection *c) {
        Forwarder *f;

        if (!c)
                return;

        f = c->forwarder;
        LIST_REMOVE(connections, f->connections, c);
        f->n_connections--;

        /* Safe from within the connection's own callbacks: sd-event defers freeing a source
         * that is being dispatched. */
        c->timeout = sd_event_source_disable_unref(c->timeout);
        for (unsigned s = 0; s < _SIDE_MAX; s++) {
                c->io[s] = sd_event_source_disable_unref(c->io[s]);
                if (c->fd[s] >= 0)
                        close(c->fd[s]);
                free(c->buffer[s].data);
        }

        log_debug("Forward connection %" PRIu64 " on port %u closed, %zu left.",
                  c->id, f->port, f->n_connections);
        free(c);
}

static int connection_update_events(ForwardConnection *c) {
        int r;

        for (unsigned s = 0; s < _SIDE_MAX; s++) {
                const ForwardBuffer *in = &c->buffer[s], *out = &c->buffer[!s];
                uint32_t events = 0;

                if (s == SIDE_TARGET && !c->connected)
                        events = EPOLLOUT; /* the connect() result */
                else {
                        /* Back-pressure: a side is read only while its buffer has room. */
                        if (!c->eof[s] && buffer_used(in) < FORWARDER_BUFFER_SIZE)
                                events |= EPOLLIN;
                        /* Writability matters only while something waits for it. */
                        if (c->connected && buffer_used(out) > 0)
                                events |= EPOLLOUT;
                }

                /* With nothing to wait for the source is switched off, or EPOLLHUP would wake
                 * us in a loop on a socket whose both directions are closed. */
                if (events == 0) {
                        r = sd_event_source_set_enabled(c->io[s], SD_EVENT_OFF);
                        if (r < 0)
                                return r;
                        continue;
                }

                r = sd_event_source_set_io_events(c->io[s], events);
                if (r < 0)
                        return r;
                r = sd_event_source_set_enabled(c->io[s], SD_EVENT_ON);
                if (r < 0)
                        return r;
        }

        return 0;
}

/* Moves what it can from side "from" to the other side, and passes an EOF on once everything
 * before it is out. may_read: side "from" was reported readable. */
static int connection_transfer(ForwardConnection *c, ForwardSide from, bool may_read) {
        ForwardSide to = !from;
        ForwardBuffer *b = &c->buffer[from];
        ssize_t n;

        if (may_read && !c->eof[from] && buffer_used(b) < FORWARDER_BUFFER_SIZE) {
                if (!b->data) {
                        b->data = malloc(FORWARDER_BUFFER_SIZE);
                        if (!b->data)
                                return -ENOMEM;
                }
                if (b->end == FORWARDER_BUFFER_SIZE) {
                        memmove(b->data, b->data + b->start, buffer_used(b));
                        b->end -= b->start;
                        b->start = 0;
                }

                n = recv(c->fd[from], b->data + b->end, FORWARDER_BUFFER_SIZE - b->end, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                } else if (n == 0)
                        c->eof[from] = true;
                else
                        b->end += (size_t) n;
        }

        if (!c->connected)
                return 0;

        if (buffer_used(b) > 0) {
                n = send(c->fd[to], b->data + b->start, buffer_used(b), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                } else {
                        b->start += (size_t) n;
                        if (b->start == b->end)
                                b->start = b->end = 0;
                }
        }

        if (c->eof[from] && buffer_used(b) == 0 && !c->shut[to]) {
                if (shutdown(c->fd[to], SHUT_WR) < 0)
                        return -errno;
                c->shut[to] = true;
        }

        return 0;
}

static bool connection_done(const ForwardConnection *c) {
        for (unsigned s = 0; s < _SIDE_MAX; s++)
                if (!c->eof[s] || buffer_used(&c->buffer[s]) > 0 || !c->shut[!s])
                        return false;
        return true;
}

static int connection_finish_connect(ForwardConnection *c) {
        socklen_t len = sizeof(int);
        int error = 0;

        if (getsockopt(c->fd[SIDE_TARGET], SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                return -errno;
        if (error != 0)
                return -error;

        c->connected = true;
        c->timeout = sd_event_source_disable_unref(c->timeout);
        log_debug("Forward connection %" PRIu64 " on port %u connected to its target.",
                  c->id, c->forwarder->port);
        return 0;
}

static int on_connection_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ForwardConnection *c = userdata;
        ForwardSide side = s == c->io[SIDE_CLIENT] ? SIDE_CLIENT : SIDE_TARGET;
        int r;

        if (side == SIDE_TARGET && !c->connected) {
                r = connection_finish_connect(c);
                if (r < 0) {
                        log_debug_errno(r, "Forward connection %" PRIu64 " on port %u failed to connect: %m",
                                        c->id, c->forwarder->port);
                        connection_free(c);
                        return 0;
                }
        }

        /* Reads from this side, then writes what waits for this side. Errors (a reset, a
         * write to a closed peer) end the pair: both sockets are closed. */
        r = connection_transfer(c, side, revents & (EPOLLIN | EPOLLHUP | EPOLLERR));
        if (r >= 0)
                r = connection_transfer(c, !side, false);
        if (r >= 0 && connection_done(c)) {
                connection_free(c);
                return 0;
        }
        if (r >= 0)
                r = connection_update_events(c);
        if (r < 0) {
                log_debug_errno(r, "Forward connection %" PRIu64 " on port %u failed: %m",
                                c->id, c->forwarder->port);
                connection_free(c);
        }

        return 0;
}

static int on_connection_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ForwardConnection *c = userdata;

        log_debug("Forward connection %" PRIu64 " on port %u timed out connecting to its target.",
                  c->id, c->forwarder->port);
        connection_free(c);
        return 0;
}

static void socket_set_nodelay(int fd) {
        int one = 1;

        /* SSH is interactive: keystrokes should not wait for Nagle. */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Takes over client_fd, on failure too. */
static int connection_new(Forwarder *f, int client_fd) {
        _cleanup_close_ int cfd = client_fd, tfd = -EBADF;
        ForwardConnection *c;
        bool connected;
        int r;

        tfd = socket(f->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (tfd < 0)
                return -errno;

        socket_set_nodelay(cfd);
        socket_set_nodelay(tfd);

        r = connect(tfd, (const struct sockaddr *) &f->target, f->target_len);
        if (r < 0 && errno != EINPROGRESS && errno != EINTR)
                return -errno;
        connected = r >= 0;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (ForwardConnection) {
                .forwarder = f,
                .id = ++f->n_accepted,
                .fd = { TAKE_FD(cfd), TAKE_FD(tfd) },
                .connected = connected,
        };
        LIST_PREPEND(connections, f->connections, c);
        f->n_connections++;

        /* From here on connection_free() cleans up. */
        for (unsigned s = 0; s < _SIDE_MAX; s++) {
                r = sd_event_add_io(f->event, &c->io[s], c->fd[s], 0, on_connection_io, c);
                if (r < 0)
                        goto fail;
                (void) sd_event_source_set_description(c->io[s], s == SIDE_CLIENT ? "forward-client" : "forward-target");
        }

        if (!connected && f->connect_timeout > 0) {
                r = sd_event_add_time_relative(f->event, &c->timeout, CLOCK_MONOTONIC, f->connect_timeout, 0,
                                               on_connection_timeout, c);
                if (r < 0)
                        goto fail;
                (void) sd_event_source_set_description(c->timeout, "forward-connect-timeout");
        }

        r = connection_update_events(c);
        if (r < 0)
                goto fail;

        log_debug("Forward connection %" PRIu64 " on port %u accepted, %zu open.",
                  c->id, f->port, f->n_connections);
        return 0;

fail:
        connection_free(c);
        return r;
}

static int on_accept_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Forwarder *f = userdata;

        (void) sd_event_source_set_enabled(f->listen_source, SD_EVENT_ON);
        return 0;
}

/* Out of file descriptors or memory: accept() would fail at once again, so rest a moment rather
 * than spin on a listener that stays readable. The timer exists from the start, so pausing
 * needs neither memory nor a descriptor. */
static void forwarder_pause_accept(Forwarder *f) {
        int enabled = SD_EVENT_OFF;

        (void) sd_event_source_get_enabled(f->retry_source, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;

        if (sd_event_source_set_time_relative(f->retry_source, ACCEPT_RETRY_USEC) < 0 ||
            sd_event_source_set_enabled(f->retry_source, SD_EVENT_ONESHOT) < 0)
                return; /* keep listening: spinning beats never accepting again */

        (void) sd_event_source_set_enabled(f->listen_source, SD_EVENT_OFF);
}

static bool errno_is_resource(int e) {
        return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* The connection died before we got it, or the network did: the next one may be fine. */
static bool errno_is_accept_again(int e) {
        return e == EINTR || e == ECONNABORTED || e == EPROTO || e == ENETDOWN ||
               e == ENOPROTOOPT || e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH ||
               e == EOPNOTSUPP || e == ENETUNREACH || e == ETIMEDOUT;
}

static int on_listen_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Forwarder *f = userdata;
        unsigned n_again = 0;
        int r;

        for (;;) {
                _cleanup_close_ int cfd = -EBADF;

                cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EAGAIN)
                                return 0;
                        /* Try the next one, though not forever should such an error stick. */
                        if (errno_is_accept_again(errno) && ++n_again < ACCEPT_AGAIN_MAX)
                                continue;

                        log_debug_errno(errno, "Failed to accept a connection on port %u, pausing: %m", f->port);
                        forwarder_pause_accept(f);
                        return 0;
                }

                if (f->n_connections >= FORWARDER_CONNECTIONS_MAX) {
                        log_debug("Port %u has %zu forward connections already, refusing another.",
                                  f->port, f->n_connections);
                        continue;
                }
                if (f->target_len == 0) {
                        log_debug("Port %u has no forward target, refusing a connection.", f->port);
                        continue;
                }

                r = connection_new(f, TAKE_FD(cfd));
                if (r < 0) {
                        log_debug_errno(r, "Failed to set up a forward connection on port %u: %m", f->port);
                        if (errno_is_resource(-r)) {
                                forwarder_pause_accept(f);
                                return 0;
                        }
                }
        }
}

int forwarder_set_target(Forwarder *f, const char *target_host, uint16_t target_port) {
        struct sockaddr_storage sa;
        socklen_t len;
        int r;

        if (!f)
                return -EINVAL;

        if (!target_host) {
                f->target_len = 0;
                return 0;
        }

        r = parse_address(target_host, target_port, &sa, &len);
        if (r < 0)
                return r;

        f->target = sa;
        f->target_len = len;
        return 0;
}

void forwarder_set_connect_timeout(Forwarder *f, usec_t usec) {
        if (f)
                f->connect_timeout = usec;
}

int forwarder_new(sd_event *event, const char *listen_host, uint16_t listen_port,
                  const char *target_host, uint16_t target_port, Forwarder **ret) {
        _cleanup_(forwarder_freep) Forwarder *f = NULL;
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int r;

        if (!event || isempty(listen_host) || !ret)
                return -EINVAL;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->event = sd_event_ref(event);
        f->listen_fd = -EBADF;
        f->connect_timeout = FORWARDER_CONNECT_TIMEOUT_USEC;

        r = forwarder_set_target(f, target_host, target_port);
        if (r < 0)
                return r;

        r = listen_tcp(listen_host, listen_port, &f->listen_fd);
        if (r < 0)
                return r;

        if (getsockname(f->listen_fd, (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        if (sa.ss_family == AF_INET)
                f->port = ntohs(((const struct sockaddr_in *) &sa)->sin_port);
        else if (sa.ss_family == AF_INET6)
                f->port = ntohs(((const struct sockaddr_in6 *) &sa)->sin6_port);
        else
                return -EAFNOSUPPORT;

        r = sd_event_add_io(event, &f->listen_source, f->listen_fd, EPOLLIN, on_listen_io, f);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(f->listen_source, "forward-listen");

        r = sd_event_add_time_relative(event, &f->retry_source, CLOCK_MONOTONIC, ACCEPT_RETRY_USEC, 0,
                                       on_accept_retry, f);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(f->retry_source, SD_EVENT_OFF);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(f->retry_source, "forward-accept-retry");

        *ret = TAKE_PTR(f);
        return 0;
}

uint16_t forwarder_port(const Forwarder *f) {
        return f ? f->port : 0;
}

size_t forwarder_n_connections(const Forwarder *f) {
        return f ? f->n_connections : 0;
}

Forwarder *forwarder_free(Forwarder *f) {
        if (!f)
                return NULL;

        while (f->connections)
                connection_free(f->connections);

        f->retry_source = sd_event_source_disable_unref(f->retry_source);
        f->listen_source = sd_event_source_disable_unref(f->listen_source);
        if (f->listen_fd >= 0)
                close(f->listen_fd);
        sd_event_unref(f->event);
        free(f);
        return NULL;
}
