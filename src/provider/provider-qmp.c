/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "provider-qmp.h"

QmpLineKind qmp_line_kind(const char *line, size_t n) {
        struct json_tokener *tok;
        struct json_object *o;
        QmpLineKind kind = QMP_LINE_OTHER;

        if (n == 0 || n > QMP_LINE_MAX || memchr(line, 0, n))
                return QMP_LINE_OTHER;
        tok = json_tokener_new_ex(8);
        if (!tok)
                return QMP_LINE_OTHER;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, line, (int) n);
        /* One complete object and nothing after it but white space. */
        if (o && json_tokener_get_error(tok) == json_tokener_success && json_object_is_type(o, json_type_object)) {
                size_t end = json_tokener_get_parse_end(tok);

                while (end < n && strchr(" \t\r", line[end]))
                        end++;
                if (end == n) {
                        if (json_object_object_get_ex(o, "QMP", NULL))
                                kind = QMP_LINE_GREETING;
                        else if (json_object_object_get_ex(o, "return", NULL))
                                kind = QMP_LINE_RETURN;
                        else if (json_object_object_get_ex(o, "error", NULL))
                                kind = QMP_LINE_ERROR;
                        else if (json_object_object_get_ex(o, "event", NULL))
                                kind = QMP_LINE_EVENT;
                }
        }
        json_object_put(o);
        json_tokener_free(tok);
        return kind;
}

int qmp_reader_feed(QmpReader *r, const char *data, size_t n, int (*fn)(QmpLineKind kind, void *userdata),
                    void *userdata) {
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t k = nl ? (size_t) (nl - data) : n;

                if (!r->overlong) {
                        if (r->n + k > sizeof(r->line))
                                r->overlong = true;
                        else {
                                memcpy(r->line + r->n, data, k);
                                r->n += k;
                        }
                }
                if (!nl)
                        return 0;
                data += k + 1;
                n -= k + 1;

                bool skip = r->overlong;
                size_t len = r->n;

                r->n = 0;
                r->overlong = false;
                if (!skip) {
                        int q = fn(qmp_line_kind(r->line, len), userdata);
                        if (q != 0)
                                return q;
                }
        }
        return 0;
}

/* ---- one command on the event loop ---- */

typedef enum CallStage {
        STAGE_GREETING,      /* waiting for {"QMP": ...} */
        STAGE_CAPABILITIES,  /* qmp_capabilities sent */
        STAGE_COMMAND,       /* the command sent */
} CallStage;

struct QmpCall {
        int fd;
        sd_event_source *io, *timer;
        CallStage stage;
        char command[64];
        QmpReader reader;
        QmpDoneFn done;
        void *userdata;
};

void qmp_call_cancel(QmpCall *c) {
        if (!c)
                return;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        closep(&c->fd);
        free(c);
}

static void call_finish(QmpCall *c, int r) {
        QmpDoneFn done = c->done;
        void *userdata = c->userdata;

        qmp_call_cancel(c);
        done(r, userdata);
}

static int call_send(QmpCall *c, const char *command) {
        char msg[128];
        int n = snprintf(msg, sizeof(msg), "{\"execute\":\"%s\"}\n", command);

        /* A few bytes into an empty socket buffer: they go at once or not at all. */
        if (send(c->fd, msg, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

/* Returns 1 when the call is over (and c freed). */
static int on_line(QmpLineKind kind, void *userdata) {
        QmpCall *c = userdata;
        int r;

        if (kind == QMP_LINE_EVENT || kind == QMP_LINE_OTHER)
                return 0;
        switch (c->stage) {
        case STAGE_GREETING:
                if (kind != QMP_LINE_GREETING)
                        return 0;
                r = call_send(c, "qmp_capabilities");
                if (r < 0)
                        break;
                c->stage = STAGE_CAPABILITIES;
                return 0;
        case STAGE_CAPABILITIES:
                if (kind == QMP_LINE_GREETING)
                        return 0;
                if (kind == QMP_LINE_ERROR) {
                        r = -EREMOTEIO;
                        break;
                }
                r = call_send(c, c->command);
                if (r < 0)
                        break;
                c->stage = STAGE_COMMAND;
                return 0;
        case STAGE_COMMAND:
                if (kind == QMP_LINE_GREETING)
                        return 0;
                r = kind == QMP_LINE_RETURN ? 0 : -EREMOTEIO;
                break;
        default:
                r = -EINVAL;
        }
        call_finish(c, r);
        return 1;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        QmpCall *c = userdata;
        char buf[4096];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                /* qemu went away mid-call ("quit" does that before or after answering) */
                call_finish(c, n == 0 ? -ECONNRESET : -errno);
                return 0;
        }
        (void) qmp_reader_feed(&c->reader, buf, (size_t) n, on_line, c);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        call_finish(userdata, -ETIMEDOUT);
        return 0;
}

int qmp_call(sd_event *event, const char *socket_path, const char *command, usec_t timeout, QmpDoneFn done,
             void *userdata, QmpCall **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        QmpCall *c;
        int r;

        if (!done || !command[0] || strlen(command) >= sizeof(c->command) ||
            strspn(command, "abcdefghijklmnopqrstuvwxyz_-") != strlen(command))
                return -EINVAL;
        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->done = done;
        c->userdata = userdata;
        snprintf(c->command, sizeof(c->command), "%s", command);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
                r = -errno;
                goto fail;
        }
        /* A local stream socket connects at once, or says why not (EAGAIN: its backlog is full). */
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &c->io, c->fd, EPOLLIN | EPOLLRDHUP, on_io, c);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &c->timer, CLOCK_MONOTONIC, timeout, 0, on_timeout, c);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;

fail:
        qmp_call_cancel(c);
        return r;
}
