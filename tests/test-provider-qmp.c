/* SPDX-License-Identifier: MIT */
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "provider-qmp.h"
#include "tests.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": [\"oob\"]}}\r\n"

TEST(line_kinds) {
        static const struct {
                const char *line;
                QmpLineKind kind;
        } table[] = {
                { "{\"QMP\": {\"version\": {}, \"capabilities\": []}}", QMP_LINE_GREETING },
                { "{\"return\": {}}", QMP_LINE_RETURN },
                { "{\"return\": {}}\r", QMP_LINE_RETURN },
                { "  {\"return\": []}  ", QMP_LINE_RETURN },
                { "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}", QMP_LINE_ERROR },
                { "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"POWERDOWN\"}", QMP_LINE_EVENT },
                /* by key, not by text */
                { "{\"event\": \"x\", \"data\": {\"return\": 1}}", QMP_LINE_EVENT },
                { "{\"data\": \"\\\"return\\\"\"}", QMP_LINE_OTHER },
                { "\"return\"", QMP_LINE_OTHER },
                { "[{\"return\": {}}]", QMP_LINE_OTHER },
                { "{\"return\": {}} {\"error\": {}}", QMP_LINE_OTHER },
                { "{\"return\": {}", QMP_LINE_OTHER },
                { "{\"return\": {}}x", QMP_LINE_OTHER },
                { "", QMP_LINE_OTHER },
                { "   ", QMP_LINE_OTHER },
                { "null", QMP_LINE_OTHER },
                { "{}", QMP_LINE_OTHER },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                TEST_CONTEXT("row %zu: %s", i, table[i].line);
                ASSERT_EQ_INT(qmp_line_kind(table[i].line, strlen(table[i].line)), table[i].kind);
        }
        /* A NUL inside the line is not JSON text. */
        ASSERT_EQ_INT(qmp_line_kind("{\"return\": {}}\0x", 16), QMP_LINE_OTHER);
}

typedef struct Seen {
        QmpLineKind kinds[16];
        size_t n;
        int stop_after;
} Seen;

static int collect(QmpLineKind kind, void *userdata) {
        Seen *s = userdata;

        if (s->n < ELEMENTSOF(s->kinds))
                s->kinds[s->n++] = kind;
        return s->stop_after > 0 && (int) s->n >= s->stop_after ? 7 : 0;
}

TEST(reader_splits_lines) {
        const char *text = GREETING "{\"return\": {}}\n{\"event\": \"STOP\"}\n{\"error\": {}}\npartial";
        QmpReader r = {};
        Seen s = {};

        /* One byte at a time gives what all at once gives. */
        for (const char *p = text; *p; p++)
                ASSERT_OK(qmp_reader_feed(&r, p, 1, collect, &s));
        ASSERT_EQ_UINT(s.n, 4);
        ASSERT_EQ_INT(s.kinds[0], QMP_LINE_GREETING);
        ASSERT_EQ_INT(s.kinds[1], QMP_LINE_RETURN);
        ASSERT_EQ_INT(s.kinds[2], QMP_LINE_EVENT);
        ASSERT_EQ_INT(s.kinds[3], QMP_LINE_ERROR);
        ASSERT_EQ_UINT(r.n, strlen("partial"));

        /* The callback stops the feed and its value comes back. */
        r = (QmpReader) {};
        s = (Seen) { .stop_after = 2 };
        ASSERT_EQ_INT(qmp_reader_feed(&r, text, strlen(text), collect, &s), 7);
        ASSERT_EQ_UINT(s.n, 2);
}

TEST(reader_skips_overlong_lines) {
        size_t big = QMP_LINE_MAX + 100;
        char *text = malloc(big + 64);
        QmpReader r = {};
        Seen s = {};

        ASSERT_NOT_NULL(text);
        /* A huge line holding a valid object is skipped whole; the next line counts. */
        memset(text, ' ', big);
        memcpy(text, "{\"return\": {}}", 14);
        text[big] = '\n';
        strcpy(text + big + 1, "{\"return\": {}}\n");
        ASSERT_OK(qmp_reader_feed(&r, text, strlen(text), collect, &s));
        ASSERT_EQ_UINT(s.n, 1);
        ASSERT_EQ_INT(s.kinds[0], QMP_LINE_RETURN);
        /* exactly QMP_LINE_MAX bytes still fits */
        memset(text, ' ', QMP_LINE_MAX);
        memcpy(text, "{\"return\": {}}", 14);
        text[QMP_LINE_MAX] = '\n';
        s = (Seen) {};
        ASSERT_OK(qmp_reader_feed(&r, text, QMP_LINE_MAX + 1, collect, &s));
        ASSERT_EQ_UINT(s.n, 1);
        free(text);
}

/* ---- qmp_call() against a fake qemu on the same loop ---- */

typedef enum Behaviour {
        SERVE_OK,          /* greeting, events, returns */
        SERVE_ERROR,       /* the command fails */
        SERVE_SILENT,      /* no greeting */
        SERVE_HANG_UP,     /* closes after the greeting */
} Behaviour;

typedef struct Fake {
        sd_event *event;
        int listen_fd, conn_fd;
        sd_event_source *listen_source, *conn_source;
        Behaviour behaviour;
        char got[1024];
        size_t got_n;
        int result;
        bool done;
} Fake;

static void fake_send(Fake *f, const char *text) {
        ASSERT_EQ_INT(send(f->conn_fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t) strlen(text));
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Fake *f = userdata;
        ssize_t n = recv(fd, f->got + f->got_n, sizeof(f->got) - 1 - f->got_n, MSG_DONTWAIT);

        if (n <= 0) {
                f->conn_source = sd_event_source_disable_unref(f->conn_source);
                return 0;
        }
        f->got_n += (size_t) n;
        f->got[f->got_n] = 0;
        if (strstr(f->got, "qmp_capabilities") && !strstr(f->got, "system_powerdown") && f->got[f->got_n - 1] == '\n' &&
            !strstr(f->got, "\"quit\""))
                /* an event between the request and its answer, then the answer in two pieces */
                fake_send(f, "{\"timestamp\": {}, \"event\": \"NIC_RX_FILTER_CHANGED\"}\n{\"ret"), fake_send(f, "urn\": {}}\n");
        else if (strstr(f->got, "system_powerdown"))
                fake_send(f, f->behaviour == SERVE_ERROR ? "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\n"
                                                         : "{\"return\": {}}\n");
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Fake *f = userdata;

        f->conn_fd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        ASSERT_TRUE(f->conn_fd >= 0);
        if (f->behaviour == SERVE_SILENT)
                return 0;
        fake_send(f, GREETING);
        if (f->behaviour == SERVE_HANG_UP) {
                closep(&f->conn_fd);
                return 0;
        }
        ASSERT_OK(sd_event_add_io(f->event, &f->conn_source, f->conn_fd, EPOLLIN, on_conn, f));
        return 0;
}

static void on_done(int r, void *userdata) {
        Fake *f = userdata;

        f->result = r;
        f->done = true;
}

static int run_call(Behaviour behaviour, usec_t timeout, Fake *f) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *dir = test_mkdtemp();
        QmpCall *call = NULL;
        int r;

        *f = (Fake) { .behaviour = behaviour, .listen_fd = -EBADF, .conn_fd = -EBADF };
        ASSERT_OK(sd_event_new(&f->event));
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/qmp.sock", dir);
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT_OK(bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)));
        ASSERT_OK(listen(f->listen_fd, 4));
        ASSERT_OK(sd_event_add_io(f->event, &f->listen_source, f->listen_fd, EPOLLIN, on_accept, f));

        r = qmp_call(f->event, sa.sun_path, "system_powerdown", timeout, on_done, f, &call);
        ASSERT_OK(r);
        while (!f->done)
                ASSERT_OK(sd_event_run(f->event, UINT64_MAX));

        sd_event_source_disable_unref(f->listen_source);
        sd_event_source_disable_unref(f->conn_source);
        closep(&f->listen_fd);
        closep(&f->conn_fd);
        sd_event_unref(f->event);
        test_rm_rf(dir);
        free(dir);
        return f->result;
}

TEST(call_succeeds) {
        Fake f;

        ASSERT_OK(run_call(SERVE_OK, 5 * USEC_PER_SEC, &f));
        /* capabilities first, then the command, one JSON object per line */
        ASSERT_STREQ(f.got, "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"system_powerdown\"}\n");
}

TEST(call_fails) {
        Fake f;

        ASSERT_ERROR(run_call(SERVE_ERROR, 5 * USEC_PER_SEC, &f), EREMOTEIO);
        ASSERT_ERROR(run_call(SERVE_SILENT, 200 * USEC_PER_MSEC, &f), ETIMEDOUT);
        /* qemu gone mid-call: seen when sending (EPIPE) or when reading (ECONNRESET) */
        int r = run_call(SERVE_HANG_UP, 5 * USEC_PER_SEC, &f);
        ASSERT_TRUE(r == -EPIPE || r == -ECONNRESET);
}

TEST(call_refuses) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        QmpCall *c = NULL;
        char *dir = test_mkdtemp(), *path;

        ASSERT_OK(sd_event_new(&e));
        ASSERT_TRUE(asprintf(&path, "%s/none.sock", dir) > 0);
        ASSERT_ERROR(qmp_call(e, path, "quit", USEC_PER_SEC, on_done, NULL, &c), ENOENT);
        /* only plain command names go on the wire */
        ASSERT_ERROR(qmp_call(e, path, "quit\"}\n{\"execute\":\"x", USEC_PER_SEC, on_done, NULL, &c), EINVAL);
        ASSERT_ERROR(qmp_call(e, path, "", USEC_PER_SEC, on_done, NULL, &c), EINVAL);
        free(path);
        path = malloc(200);
        memset(path, 'a', 199);
        path[199] = 0;
        ASSERT_ERROR(qmp_call(e, path, "quit", USEC_PER_SEC, on_done, NULL, &c), ENAMETOOLONG);
        free(path);
        test_rm_rf(dir);
        free(dir);
}
