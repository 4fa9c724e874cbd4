/* SPDX-License-Identifier: MIT */
/* http-client-parse.c's URL and response parsers, http-client.c against hostile servers (a
 * forked child per case, that answers with scripted pieces at scripted times), and
 * curl-glue.c's choice between the two clients: plain http:// never loads libcurl. */

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "curl-glue.h"
#include "http-client.h"
#include "log.h"
#include "tests.h"
#include "time-util.h"

/* ---- URLs ---- */

TEST(url_parse) {
        static const struct {
                const char *url;
                int r;
                bool https;
                const char *host, *authority, *target;
                uint16_t port;
        } table[] = {
                { "http://127.0.0.1:9001", 0, false, "127.0.0.1", "127.0.0.1:9001", "/", 9001 },
                { "http://127.0.0.1:9001/api/v1/advertisements", 0, false, "127.0.0.1", "127.0.0.1:9001", "/api/v1/advertisements", 9001 },
                { "HTTP://Discovery.Example.ORG/a/b?c=d&e=%2F#top", 0, false, "Discovery.Example.ORG", "Discovery.Example.ORG", "/a/b?c=d&e=%2F", 80 },
                { "https://example.org.", 0, true, "example.org.", "example.org.", "/", 443 },
                { "http://[::1]:8080/x", 0, false, "::1", "[::1]:8080", "/x", 8080 },
                { "http://[2001:db8::1]", 0, false, "2001:db8::1", "[2001:db8::1]", "/", 80 },
                { "http://localhost?q", 0, false, "localhost", "localhost", "/?q", 80 },
                { "http://a-b.c0/~user/(x);y=1,z:@!$'*+", 0, false, "a-b.c0", "a-b.c0", "/~user/(x);y=1,z:@!$'*+", 80 },
                { "http://h:65535", 0, false, "h", "h:65535", "/", 65535 },
                { "ftp://example.org/", -EINVAL },
                { "http:/example.org/", -EINVAL },
                { "http://", -EINVAL },
                { "http:///x", -EINVAL },
                { "http://user:pw@example.org/", -EINVAL },
                { "http://example.org:/", -EINVAL },
                { "http://example.org:0/", -EINVAL },
                { "http://example.org:65536/", -EINVAL },
                { "http://example.org:123456/", -EINVAL },
                { "http://example.org:8o/", -EINVAL },
                { "http://exa mple.org/", -EINVAL },
                { "http://example.org/a b", -EINVAL },
                { "http://example.org/a\"b", -EINVAL },
                { "http://example.org/%zz", -EINVAL },
                { "http://example.org/%2", -EINVAL },
                { "http://example.org/\xc3\xa9", -EINVAL },
                { "http://example.org/a#b#c", -EINVAL },
                { "http://under_score.org/", -EINVAL },
                { "http://-a.org/", -EINVAL },
                { "http://a-.org/", -EINVAL },
                { "http://a..org/", -EINVAL },
                { "http://.", -EINVAL },
                { "http://1.2.3/", -EINVAL },
                { "http://0x7f.0.0.1/", -EINVAL },
                { "http://127.0.0.01/", -EINVAL },
                { "http://256.0.0.1/", -EINVAL },
                { "http://[::1/", -EINVAL },
                { "http://[::1]x/", -EINVAL },
                { "http://[fe80::1%25eth0]/", -EINVAL },
                { "http://[127.0.0.1]/", -EINVAL },
                { "http://[]/", -EINVAL },
                { "http://a:1:2/", -EINVAL },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                HttpUrl u = {};

                TEST_CONTEXT("%s", table[i].url);
                ASSERT_EQ_INT(http_url_parse(table[i].url, &u), table[i].r);
                if (table[i].r < 0) {
                        ASSERT_NULL(u.host);
                        continue;
                }
                ASSERT_TRUE(u.https == table[i].https);
                ASSERT_STREQ(u.host, table[i].host);
                ASSERT_STREQ(u.authority, table[i].authority);
                ASSERT_STREQ(u.target, table[i].target);
                ASSERT_EQ_UINT(u.port, table[i].port);
                http_url_done(&u);
        }

        /* Over HTTP_URL_MAX. */
        {
                _cleanup_free_ char *big = malloc(HTTP_URL_MAX + 2);
                HttpUrl u = {};

                ASSERT_NOT_NULL(big);
                memset(big, 'a', HTTP_URL_MAX + 1);
                memcpy(big, "http://a/", 9);
                big[HTTP_URL_MAX + 1] = 0;
                ASSERT_EQ_INT(http_url_parse(big, &u), -EINVAL);
                big[HTTP_URL_MAX] = 0;
                ASSERT_OK(http_url_parse(big, &u));
                http_url_done(&u);
        }
}

/* ---- the response parser ---- */

typedef struct ParseCase {
        const char *name;
        const char *input;
        size_t size;            /* 0: strlen(input) */
        bool head;
        bool close;             /* the connection closes after the input */
        int r;                  /* 1, or the error */
        int status;
        const char *body;
} ParseCase;

static int parse_run(const ParseCase *c, size_t body_max, size_t piece, int *ret_status, char **ret_body) {
        HttpResponseParser p;
        size_t size = c->size ?: strlen(c->input), i = 0;
        int r = 0;

        http_response_parser_init(&p, c->head, body_max);
        while (r == 0 && i < size) {
                size_t n = MIN(piece, size - i);

                r = http_response_parser_feed(&p, c->input + i, n);
                i += n;
        }
        if (r == 0 && c->close)
                r = http_response_parser_finish(&p);
        if (r == 1) {
                size_t body_size;
                const char *body = http_response_parser_body(&p, &body_size);

                ASSERT_TRUE(body[body_size] == 0);
                *ret_status = p.status;
                *ret_body = strndup(body, body_size);
        }
        http_response_parser_done(&p);
        return r;
}

#define NUL_HEADER "HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n"

TEST(response_parse) {
        static const ParseCase table[] = {
                { "length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", .r = 1, .status = 200, .body = "{}" },
                { "length, bytes after", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}garbage", .r = 1, .status = 200, .body = "{}" },
                { "zero length", "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", .r = 1, .status = 201, .body = "" },
                { "LF only", "HTTP/1.0 404 Not Found\nContent-Length: 3\n\nabc", .r = 1, .status = 404, .body = "abc" },
                { "no reason", "HTTP/1.1 503\r\nContent-Length: 1\r\n\r\nx", .r = 1, .status = 503, .body = "x" },
                { "empty reason", "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx", .r = 1, .status = 200, .body = "x" },
                { "OWS and case", "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:\t 3 \t\r\n\r\nabc", .r = 1, .status = 200, .body = "abc" },
                { "same length repeated", "HTTP/1.1 200 OK\r\nContent-Length: 3,3\r\nContent-Length: 3\r\n\r\nabc", .r = 1, .status = 200, .body = "abc" },
                { "to the close", "HTTP/1.1 200 OK\r\n\r\nall of it", .close = true, .r = 1, .status = 200, .body = "all of it" },
                { "to the close, empty", "HTTP/1.0 200 OK\r\n\r\n", .close = true, .r = 1, .status = 200, .body = "" },
                { "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", .head = true, .r = 1, .status = 200, .body = "" },
                { "204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", .r = 1, .status = 204, .body = "" },
                { "304", "HTTP/1.1 304 Not Modified\r\n\r\n", .r = 1, .status = 304, .body = "" },
                { "100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .r = 1, .status = 200, .body = "ok" },
                { "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n", .r = 1, .status = 200, .body = "Wikipedia" },
                { "chunked, ext, upper hex, trailers",
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\nA ; name=\"v\"\r\n0123456789\r\n00\r\nX-T: 1\r\n\r\n", .r = 1, .status = 200, .body = "0123456789" },
                { "chunked, LF only", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n1\na\n0\n\n", .r = 1, .status = 200, .body = "a" },

                { "HTTP/2", "HTTP/2 200\r\n\r\n", .r = -EBADMSG },
                { "HTTP/1.1 no space", "HTTP/1.1200 OK\r\n\r\n", .r = -EBADMSG },
                { "two digits", "HTTP/1.1 20 OK\r\n\r\n", .r = -EBADMSG },
                { "four digits", "HTTP/1.1 2000 OK\r\n\r\n", .r = -EBADMSG },
                { "status 600", "HTTP/1.1 600 X\r\n\r\n", .r = -EBADMSG },
                { "status 099", "HTTP/1.1 099 X\r\n\r\n", .r = -EBADMSG },
                { "101", "HTTP/1.1 101 Switching Protocols\r\n\r\n", .r = -EBADMSG },
                { "lower case", "http/1.1 200 OK\r\n\r\n", .r = -EBADMSG },
                { "leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n", .r = -EBADMSG },
                { "not HTTP", "SSH-2.0-OpenSSH_9.2\r\n", .r = -EBADMSG },
                { "control in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", .r = -EBADMSG },
                { "bare CR", "HTTP/1.1 200 OK\rX: y\r\n\r\n", .r = -EBADMSG },
                { "NUL in a header", NUL_HEADER, sizeof(NUL_HEADER) - 1, .r = -EBADMSG },
                { "obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", .r = -EBADMSG },
                { "space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", .r = -EBADMSG },
                { "no colon", "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n", .r = -EBADMSG },
                { "empty name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", .r = -EBADMSG },
                { "length conflict", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", .r = -EBADMSG },
                { "length list conflict", "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd", .r = -EBADMSG },
                { "length sign", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", .r = -EBADMSG },
                { "length hex", "HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\nabc", .r = -EBADMSG },
                { "length empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", .r = -EBADMSG },
                { "length overflow", "HTTP/1.1 200 OK\r\nContent-Length: 184467440737095516160\r\n\r\n", .r = -EBADMSG },
                { "length over the cap", "HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n", .r = -EFBIG },
                { "TE and length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n1\r\na\r\n0\r\n\r\n", .r = -EBADMSG },
                { "TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", .r = -EBADMSG },
                { "TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .r = -EBADMSG },
                { "HEAD, TE and length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", .head = true, .r = -EBADMSG },
                { "TE with HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .r = -EBADMSG },
                { "chunk size missing", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", .r = -EBADMSG },
                { "chunk size junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1x\r\na\r\n0\r\n\r\n", .r = -EBADMSG },
                { "chunk size negative", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", .r = -EBADMSG },
                { "chunk too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", .r = -EBADMSG },
                { "chunk over the cap", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n", .r = -EFBIG },
                { "chunks over the cap", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n", .r = 0 },
                { "chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000000\r\n", .r = -EFBIG },
                { "bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a header\r\n\r\n", .r = -EBADMSG },

                { "nothing", "", .close = true, .r = -EIO },
                { "cut in the status line", "HTTP/1.1 20", .close = true, .r = -EIO },
                { "cut in the headers", "HTTP/1.1 200 OK\r\nContent-Le", .close = true, .r = -EIO },
                { "cut in the body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", .close = true, .r = -EIO },
                { "cut in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", .close = true, .r = -EIO },
                { "cut before the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n", .close = true, .r = -EIO },
                { "cut in the trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n", .close = true, .r = -EIO },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (!table[i].input)
                        continue;

                /* Whole, and one byte at a time: the same. */
                for (size_t piece = 1; piece <= 4096; piece *= 4096) {
                        _cleanup_free_ char *body = NULL;
                        int status = 0, r;

                        TEST_CONTEXT("%s (pieces of %zu)", table[i].name, piece);
                        r = parse_run(&table[i], 1024, piece, &status, &body);
                        ASSERT_EQ_INT(r, table[i].r);
                        if (r == 1) {
                                ASSERT_EQ_INT(status, table[i].status);
                                ASSERT_STREQ(body, table[i].body);
                        }
                }
        }

        /* A body read to the close over the cap; many chunks over the cap. */
        {
                _cleanup_free_ char *in = NULL, *body = NULL;
                int status;
                FILE *f;
                size_t size;

                ASSERT_TRUE(asprintf(&in, "HTTP/1.1 200 OK\r\n\r\n%01100d", 0) > 0);
                ASSERT_EQ_INT(parse_run(&(ParseCase) { "close over", in, .close = true }, 1024, 7, &status, &body), -EFBIG);
                in = mfree(in);

                f = open_memstream(&in, &size);
                ASSERT_NOT_NULL(f);
                fputs("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", f);
                for (unsigned k = 0; k < 200; k++)
                        fputs("6\r\nabcdef\r\n", f);
                fputs("0\r\n\r\n", f);
                ASSERT_EQ_INT(fclose(f), 0);
                ASSERT_EQ_INT(parse_run(&(ParseCase) { "chunks over", in, size }, 1024, 13, &status, &body), -EFBIG);
                ASSERT_EQ_INT(parse_run(&(ParseCase) { "chunks within", in, size }, 1200, 13, &status, &body), 1);
                ASSERT_EQ_UINT(strlen(body), 1200);
        }

        /* Header sections: up to HTTP_RESPONSE_HEADERS_MAX, 1xx ones included. */
        {
                _cleanup_free_ char *in = NULL, *body = NULL;
                size_t pad = HTTP_RESPONSE_HEADERS_MAX - strlen("HTTP/1.1 200 OK\r\nX: \r\n\r\n");
                int status;

                in = malloc(HTTP_RESPONSE_HEADERS_MAX + 2);
                ASSERT_NOT_NULL(in);
                snprintf(in, HTTP_RESPONSE_HEADERS_MAX + 2, "HTTP/1.1 200 OK\r\nX: %0*d\r\n\r\n", (int) pad, 0);
                ASSERT_EQ_UINT(strlen(in), HTTP_RESPONSE_HEADERS_MAX);
                ASSERT_EQ_INT(parse_run(&(ParseCase) { "headers at the cap", in, .close = true }, 1024, 1000, &status, &body), 1);
                body = mfree(body);
                snprintf(in, HTTP_RESPONSE_HEADERS_MAX + 2, "HTTP/1.1 200 OK\r\nX: %0*d\r\n\r\n", (int) pad + 1, 0);
                ASSERT_EQ_INT(parse_run(&(ParseCase) { "headers over the cap", in, .close = true }, 1024, 1000, &status, &body), -EBADMSG);
                /* One endless header line, never ended: refused once over, not buffered on. */
                memset(in, 'a', HTTP_RESPONSE_HEADERS_MAX + 1);
                memcpy(in, "HTTP/1.1 200 OK\r\nX: ", 20);
                in[HTTP_RESPONSE_HEADERS_MAX + 1] = 0;
                ASSERT_EQ_INT(parse_run(&(ParseCase) { "endless line", in }, 1024, 1000, &status, &body), -EBADMSG);
                in = mfree(in);

                ASSERT_TRUE(asprintf(&in, "%s%s%s",
                                     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
                                     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
                                     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n") > 0);
                ASSERT_EQ_INT(parse_run(&(ParseCase) { "nine 100s", in }, 1024, 1000, &status, &body), -EBADMSG);
        }
}

/* ---- the client against scripted servers ---- */

typedef struct Piece {
        const char *data;
        size_t size;            /* 0: strlen(data) */
        usec_t delay;           /* before it is sent */
} Piece;

typedef struct Script {
        const Piece *pieces;
        size_t n_pieces;
        bool linger;            /* keep the connection open after the last piece */
        bool close_at_once;     /* close as soon as the request head is read */
} Script;

typedef struct Server {
        int fd;
        uint16_t port;
        pid_t pid;
        int report;             /* read end: the request as the server got it */
} Server;

static sd_event *event;

static void server_start(Server *s) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);

        *s = (Server) { .fd = -EBADF, .report = -EBADF };
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(s->fd >= 0);
        ASSERT_TRUE(bind(s->fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
        ASSERT_TRUE(listen(s->fd, 8) >= 0);
        ASSERT_TRUE(getsockname(s->fd, (struct sockaddr *) &sa, &l) >= 0);
        s->port = ntohs(sa.sin_port);
}

/* The child: one connection, the request read (head and Content-Length body), the pieces. */
_noreturn_ static void server_child(int fd, const Script *script, int report) {
        char buf[256 * 1024];
        size_t size = 0;
        int cfd;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
                _exit(1);

        for (;;) {
                char *end = memmem(buf, size, "\r\n\r\n", 4);
                ssize_t k;

                if (end) {
                        const char *cl = memmem(buf, (size_t) (end - buf), "Content-Length: ", 16);
                        size_t want = (size_t) (end - buf) + 4 + (cl ? strtoul(cl + 16, NULL, 10) : 0);

                        if (script->close_at_once || size >= want)
                                break;
                }
                if (size == sizeof(buf))
                        break;
                k = recv(cfd, buf + size, sizeof(buf) - size, 0);
                if (k <= 0)
                        break;
                size += (size_t) k;
        }
        (void) !write(report, buf, size);
        close(report);

        for (size_t i = 0; i < script->n_pieces; i++) {
                const Piece *p = script->pieces + i;

                if (p->delay > 0)
                        usleep((useconds_t) p->delay);
                if (send(cfd, p->data, p->size ?: strlen(p->data), MSG_NOSIGNAL) < 0)
                        break;
        }

        if (script->linger) {
                struct pollfd pfd = { .fd = cfd, .events = POLLIN };

                /* Until the client closes (or 10 s). */
                while (poll(&pfd, 1, 10000) > 0 && recv(cfd, buf, sizeof(buf), 0) > 0)
                        ;
        }
        close(cfd);
        _exit(0);
}

static void server_serve(Server *s, const Script *script) {
        int pipefd[2];

        ASSERT_TRUE(pipe2(pipefd, O_CLOEXEC) >= 0);
        s->pid = fork();
        ASSERT_TRUE(s->pid >= 0);
        if (s->pid == 0) {
                close(pipefd[0]);
                server_child(s->fd, script, pipefd[1]);
        }
        close(pipefd[1]);
        s->report = pipefd[0];
}

/* The request the server got (once it is done with it). */
static char *server_request(Server *s) {
        char *buf = malloc(256 * 1024 + 1);
        size_t size = 0;
        ssize_t k;

        ASSERT_NOT_NULL(buf);
        while ((k = read(s->report, buf + size, 256 * 1024 - size)) > 0)
                size += (size_t) k;
        buf[size] = 0;
        return buf;
}

static void server_stop(Server *s) {
        int status;

        if (s->pid > 0) {
                (void) kill(s->pid, SIGKILL);
                ASSERT_TRUE(waitpid(s->pid, &status, 0) == s->pid);
        }
        if (s->report >= 0)
                close(s->report);
        close(s->fd);
        *s = (Server) { .fd = -EBADF, .report = -EBADF };
}

typedef struct Result {
        bool called;
        int result;
        long status;
        char *body;
        size_t body_size;
        bool free_self;         /* the callback frees its own request (a no-op) */
} Result;

static void on_done(HttpClientRequest *req, int result, long status, const char *body, size_t body_size, void *userdata) {
        Result *res = userdata;

        ASSERT_FALSE(res->called);
        res->called = true;
        res->result = result;
        res->status = status;
        res->body_size = body_size;
        if (result < 0)
                ASSERT_TRUE(!body && status == 0 && body_size == 0);
        else {
                ASSERT_NOT_NULL(body);
                ASSERT_TRUE(body[body_size] == 0);
                res->body = strndup(body, body_size);
        }
        if (res->free_self)
                ASSERT_NULL(http_client_request_free(req));
}

static void run_until(const bool *flag, usec_t timeout) {
        usec_t until = now_monotonic() + timeout;

        while (!*flag) {
                usec_t n = now_monotonic();

                ASSERT_TRUE(n < until);
                ASSERT_OK(sd_event_run(event, MIN(until - n, 10 * USEC_PER_MSEC)));
        }
}

static void run_for(usec_t usec) {
        usec_t until = now_monotonic() + usec;

        for (usec_t n = now_monotonic(); n < until; n = now_monotonic())
                ASSERT_OK(sd_event_run(event, until - n));
}

/* One request from the client to a fresh server running script. */
static void request_run(const Script *script, const char *method, const char *path, const char *const *headers,
                        const char *body, size_t body_max, usec_t timeout, Result *res, char **ret_request) {
        _cleanup_free_ char *url = NULL;
        HttpUrl u = {};
        Server s;

        *res = (Result) { .free_self = res->free_self };
        server_start(&s);
        server_serve(&s, script);
        ASSERT_TRUE(asprintf(&url, "http://127.0.0.1:%u%s", s.port, path) > 0);
        ASSERT_OK(http_url_parse(url, &u));

        ASSERT_OK(http_client_request_start(event, method, &u, headers, body, body ? strlen(body) : 0,
                                            body_max, timeout, on_done, res, NULL));
        http_url_done(&u);
        ASSERT_FALSE(res->called); /* never from within the start */
        run_until(&res->called, 10 * USEC_PER_SEC);

        if (ret_request)
                *ret_request = server_request(&s);
        server_stop(&s);
}

#define PIECES(...) (const Piece[]) { __VA_ARGS__ }, ELEMENTSOF(((const Piece[]) { __VA_ARGS__ }))

static void result_clear(Result *r) {
        free(r->body);
        *r = (Result) {};
}

TEST(client_ok) {
        const char *headers[] = { "X-Provider-ID: p1", "Content-Type: application/json", "Accept:", NULL };
        _cleanup_free_ char *request = NULL;
        Result res = {};

        ASSERT_OK(sd_event_new(&event));

        /* What goes on the wire; the answer with Content-Length, the connection kept open. */
        request_run(&(Script) { PIECES({ "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}" }), .linger = true },
                    "POST", "/api/v1/advertisements?x=1", headers, "{\"a\":1}", 1024, 5 * USEC_PER_SEC, &res, &request);
        ASSERT_EQ_INT(res.result, 0);
        ASSERT_EQ_INT(res.status, 201);
        ASSERT_STREQ(res.body, "{}");
        ASSERT_TRUE(startswith(request, "POST /api/v1/advertisements?x=1 HTTP/1.1\r\nHost: 127.0.0.1:"));
        ASSERT_STR_CONTAINS(request, "\r\nUser-Agent: golem/");
        ASSERT_STR_CONTAINS(request, "\r\nX-Provider-ID: p1\r\n");
        ASSERT_STR_CONTAINS(request, "\r\nContent-Type: application/json\r\n");
        ASSERT_STR_CONTAINS(request, "\r\nContent-Length: 7\r\n");
        ASSERT_STR_CONTAINS(request, "\r\nConnection: close\r\n\r\n{\"a\":1}");
        ASSERT_NULL(strstr(request, "Accept"));
        request = mfree(request);
        result_clear(&res);

        /* A DELETE has no Content-Length; a POST without a body has 0. */
        request_run(&(Script) { PIECES({ "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" }) },
                    "DELETE", "/x", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, &request);
        ASSERT_TRUE(res.result == 0 && res.status == 404 && res.body_size == 0);
        ASSERT_NULL(strstr(request, "Content-Length"));
        ASSERT_STR_CONTAINS(request, "\r\nAccept: */*\r\n");
        request = mfree(request);
        result_clear(&res);
        request_run(&(Script) { PIECES({ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" }) },
                    "POST", "/x", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, &request);
        ASSERT_STR_CONTAINS(request, "\r\nContent-Length: 0\r\n");
        request = mfree(request);
        result_clear(&res);

        /* Chunked, cut at every awkward place, slowly. */
        request_run(&(Script) { PIECES({ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chu" },
                                       { "nked\r\n\r\n4\r", .delay = 20 * USEC_PER_MSEC },
                                       { "\nWi", .delay = 20 * USEC_PER_MSEC },
                                       { "ki\r\n", .delay = 20 * USEC_PER_MSEC },
                                       { "5\r\npedia\r\n0\r", .delay = 20 * USEC_PER_MSEC },
                                       { "\n\r\n", .delay = 20 * USEC_PER_MSEC }),
                                .linger = true },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_TRUE(res.result == 0 && res.status == 200);
        ASSERT_STREQ(res.body, "Wikipedia");
        result_clear(&res);

        /* Read to the close. */
        request_run(&(Script) { PIECES({ "HTTP/1.0 200 OK\r\n\r\nuntil" }, { " the end", .delay = 20 * USEC_PER_MSEC }) },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_TRUE(res.result == 0 && res.status == 200);
        ASSERT_STREQ(res.body, "until the end");
        result_clear(&res);

        /* An interim 100 first; the request freed from its own callback (nothing happens). */
        res.free_self = true;
        request_run(&(Script) { PIECES({ "HTTP/1.1 100 Continue\r\n\r\n" },
                                       { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .delay = 20 * USEC_PER_MSEC }) },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_TRUE(res.result == 0 && res.status == 200);
        ASSERT_STREQ(res.body, "ok");
        result_clear(&res);

        event = sd_event_unref(event);
}

TEST(client_hostile) {
        _cleanup_free_ char *huge_headers = NULL, *huge_body = NULL;
        Result res = {};
        usec_t t;

        ASSERT_OK(sd_event_new(&event));

        /* Bad status lines. */
        request_run(&(Script) { PIECES({ "HTTP/1.1 2000 OK\r\n\r\n" }), .linger = true },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EBADMSG);
        result_clear(&res);
        request_run(&(Script) { PIECES({ "SSH-2.0-OpenSSH_9.2\r\n" }), .linger = true },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EBADMSG);
        result_clear(&res);

        /* Headers without end: refused at the cap, not read forever. */
        huge_headers = malloc(HTTP_RESPONSE_HEADERS_MAX * 2);
        ASSERT_NOT_NULL(huge_headers);
        memset(huge_headers, 'a', HTTP_RESPONSE_HEADERS_MAX * 2 - 1);
        huge_headers[HTTP_RESPONSE_HEADERS_MAX * 2 - 1] = 0;
        memcpy(huge_headers, "HTTP/1.1 200 OK\r\nX: ", 20);
        request_run(&(Script) { PIECES({ huge_headers }), .linger = true },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EBADMSG);
        result_clear(&res);

        /* Bodies over the cap, with and without Content-Length. */
        request_run(&(Script) { PIECES({ "HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n" }), .linger = true },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EFBIG);
        result_clear(&res);
        huge_body = malloc(8192);
        ASSERT_NOT_NULL(huge_body);
        memset(huge_body, 'x', 8191);
        huge_body[8191] = 0;
        request_run(&(Script) { PIECES({ "HTTP/1.1 200 OK\r\n\r\n" }, { huge_body }), .linger = true },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EFBIG);
        result_clear(&res);

        /* Truncated: the body, a chunk, and nothing at all. */
        request_run(&(Script) { PIECES({ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc" }) },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EIO);
        result_clear(&res);
        request_run(&(Script) { PIECES({ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab" }) },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EIO);
        result_clear(&res);
        request_run(&(Script) { .close_at_once = true }, "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_TRUE(IN_SET(res.result, -EIO, -ECONNRESET));
        result_clear(&res);

        /* Chunked framing that lies. */
        request_run(&(Script) { PIECES({ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n" }), .linger = true },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EBADMSG);
        result_clear(&res);
        request_run(&(Script) { PIECES({ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" }), .linger = true },
                    "GET", "/", NULL, NULL, 1024, 5 * USEC_PER_SEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -EBADMSG);
        result_clear(&res);

        /* A slow server: a byte every 100 ms does not keep the request alive past its timeout. */
        t = now_monotonic();
        request_run(&(Script) { PIECES({ "H" }, { "T", .delay = 100 * USEC_PER_MSEC }, { "T", .delay = 100 * USEC_PER_MSEC },
                                       { "P", .delay = 100 * USEC_PER_MSEC }, { "/", .delay = 100 * USEC_PER_MSEC },
                                       { "1", .delay = 100 * USEC_PER_MSEC }, { ".", .delay = 100 * USEC_PER_MSEC },
                                       { "1", .delay = 100 * USEC_PER_MSEC }, { " ", .delay = 100 * USEC_PER_MSEC }),
                                .linger = true },
                    "GET", "/", NULL, NULL, 1024, 350 * USEC_PER_MSEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -ETIMEDOUT);
        t = now_monotonic() - t;
        ASSERT_TRUE(t >= 340 * USEC_PER_MSEC && t < 2 * USEC_PER_SEC);
        result_clear(&res);

        /* One that says nothing at all. */
        request_run(&(Script) { .linger = true }, "GET", "/", NULL, NULL, 1024, 200 * USEC_PER_MSEC, &res, NULL);
        ASSERT_EQ_INT(res.result, -ETIMEDOUT);
        result_clear(&res);

        event = sd_event_unref(event);
}

TEST(client_connect) {
        _cleanup_free_ char *url = NULL;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);
        HttpClientRequest *req = NULL;
        struct addrinfo *ai = NULL;
        char hostname[HOST_NAME_MAX + 1] = {};
        Result res = {};
        HttpUrl u = {};
        Server s;
        int fd;

        log_setup("test-http-client");
        ASSERT_OK(sd_event_new(&event));

        /* Refused: a port bound but not listening. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
        ASSERT_TRUE(getsockname(fd, (struct sockaddr *) &sa, &l) >= 0);
        ASSERT_TRUE(asprintf(&url, "http://127.0.0.1:%u/", ntohs(sa.sin_port)) > 0);
        ASSERT_OK(http_url_parse(url, &u));
        ASSERT_OK(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 5 * USEC_PER_SEC, on_done, &res, NULL));
        http_url_done(&u);
        ASSERT_FALSE(res.called);
        run_until(&res.called, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(res.result, -ECONNREFUSED);
        result_clear(&res);

        /* localhost: 127.0.0.1 then ::1, without a resolver; both refused here. */
        url = mfree(url);
        ASSERT_TRUE(asprintf(&url, "http://localhost:%u/", ntohs(sa.sin_port)) > 0);
        ASSERT_OK(http_url_parse(url, &u));
        ASSERT_OK(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 5 * USEC_PER_SEC, on_done, &res, NULL));
        http_url_done(&u);
        run_until(&res.called, 5 * USEC_PER_SEC);
        ASSERT_TRUE(res.result < 0);
        result_clear(&res);
        close(fd);

        /* Cancelled before it started, and while connected and waiting. */
        server_start(&s);
        server_serve(&s, &(Script) { .linger = true });
        url = mfree(url);
        ASSERT_TRUE(asprintf(&url, "http://127.0.0.1:%u/", s.port) > 0);
        ASSERT_OK(http_url_parse(url, &u));
        ASSERT_OK(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 5 * USEC_PER_SEC, on_done, &res, &req));
        ASSERT_NULL(http_client_request_free(req));
        ASSERT_OK(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 5 * USEC_PER_SEC, on_done, &res, &req));
        run_for(100 * USEC_PER_MSEC);
        free(server_request(&s)); /* the server got it */
        ASSERT_NULL(http_client_request_free(req));
        run_for(100 * USEC_PER_MSEC);
        ASSERT_FALSE(res.called);
        http_url_done(&u);
        server_stop(&s);

        /* Refused before anything is done. */
        ASSERT_OK(http_url_parse("https://127.0.0.1/", &u));
        ASSERT_EQ_INT(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 0, on_done, &res, NULL), -EPROTONOSUPPORT);
        http_url_done(&u);
        ASSERT_OK(http_url_parse("http://127.0.0.1/", &u));
        ASSERT_EQ_INT(http_client_request_start(event, "get", &u, NULL, NULL, 0, 1024, 0, on_done, &res, NULL), -EINVAL);
        ASSERT_EQ_INT(http_client_request_start(event, "GET", &u, (const char *[]) { "Host: evil", NULL }, NULL, 0, 1024, 0, on_done, &res, NULL), -EINVAL);
        ASSERT_EQ_INT(http_client_request_start(event, "GET", &u, (const char *[]) { "content-length: 5", NULL }, NULL, 0, 1024, 0, on_done, &res, NULL), -EINVAL);
        ASSERT_EQ_INT(http_client_request_start(event, "GET", &u, (const char *[]) { "X: a\r\nY: b", NULL }, NULL, 0, 1024, 0, on_done, &res, NULL), -EINVAL);
        ASSERT_EQ_INT(http_client_request_start(event, "GET", &u, (const char *[]) { "X : a", NULL }, NULL, 0, 1024, 0, on_done, &res, NULL), -EINVAL);
        ASSERT_EQ_INT(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 0, NULL, NULL, NULL), -EINVAL);
        http_url_done(&u);
        run_for(50 * USEC_PER_MSEC);
        ASSERT_FALSE(res.called);

        /* A name through the resolver thread: this machine's own name, when it is a loopback
         * address here (it is in most containers); also cancelled while being looked up. */
        ASSERT_TRUE(gethostname(hostname, sizeof(hostname) - 1) >= 0);
        if (getaddrinfo(hostname, NULL, &(struct addrinfo) { .ai_socktype = SOCK_STREAM, .ai_family = AF_INET }, &ai) == 0 &&
            ((struct sockaddr_in *) ai->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
                _cleanup_free_ char *named = NULL;

                server_start(&s);
                server_serve(&s, &(Script) { PIECES({ "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nname" }) });
                ASSERT_TRUE(asprintf(&named, "http://%s:%u/", hostname, s.port) > 0);
                if (http_url_parse(named, &u) >= 0) {
                        ASSERT_OK(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 5 * USEC_PER_SEC, on_done, &res, NULL));
                        run_until(&res.called, 5 * USEC_PER_SEC);
                        ASSERT_TRUE(res.result == 0 && res.status == 200);
                        ASSERT_STREQ(res.body, "name");
                        result_clear(&res);

                        for (unsigned i = 0; i < 20; i++) {
                                ASSERT_OK(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 5 * USEC_PER_SEC, on_done, &res, &req));
                                ASSERT_OK(sd_event_run(event, 0)); /* started: the lookup runs */
                                ASSERT_NULL(http_client_request_free(req));
                        }
                        run_for(200 * USEC_PER_MSEC);
                        ASSERT_FALSE(res.called);
                        http_url_done(&u);
                } else
                        log_info("%s is not a name the client takes, skipping the resolver.", hostname);
                server_stop(&s);
        } else
                log_info("This machine's name is not a loopback address, skipping the resolver.");
        if (ai)
                freeaddrinfo(ai);

        /* A name that does not resolve (RFC 6761: .invalid never does). */
        ASSERT_OK(http_url_parse("http://no-such-host.invalid/", &u));
        ASSERT_OK(http_client_request_start(event, "GET", &u, NULL, NULL, 0, 1024, 10 * USEC_PER_SEC, on_done, &res, NULL));
        http_url_done(&u);
        run_until(&res.called, 15 * USEC_PER_SEC);
        ASSERT_TRUE(IN_SET(res.result, -EHOSTUNREACH, -ETIMEDOUT));
        result_clear(&res);

        event = sd_event_unref(event);
}

/* ---- curl-glue.c: which client ---- */

typedef struct GlueResult {
        bool called;
        int result;
        long status;
} GlueResult;

static void on_glue_done(CurlRequest *req, int result, long status, const char *body, size_t body_size, void *userdata) {
        GlueResult *res = userdata;

        res->called = true;
        res->result = result;
        res->status = status;
}

static bool curl_loaded(void) {
        void *dl = dlopen("libcurl.so.4", RTLD_NOW | RTLD_NOLOAD);

        if (!dl)
                dl = dlopen("libcurl-gnutls.so.4", RTLD_NOW | RTLD_NOLOAD);
        if (!dl)
                return false;
        dlclose(dl);
        return true;
}

TEST(glue_choice) {
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        _cleanup_free_ char *url = NULL, *https_url = NULL, *proxy = NULL;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);
        GlueResult res = {};
        Server s;
        int fd, r;

        log_setup("test-http-client");
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(curl_glue_new(event, &g));
        ASSERT_FALSE(curl_loaded()); /* this program does not link it */

        /* http:// is the small client's: libcurl stays out. */
        server_start(&s);
        server_serve(&s, &(Script) { PIECES({ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" }) });
        ASSERT_TRUE(asprintf(&url, "http://127.0.0.1:%u/health", s.port) > 0);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_glue_done, &res, NULL));
        run_until(&res.called, 5 * USEC_PER_SEC);
        ASSERT_TRUE(res.result == 0 && res.status == 200);
        server_stop(&s);
        ASSERT_FALSE(curl_loaded());

        /* The framing headers are the client's. */
        ASSERT_EQ_INT(curl_glue_request(g, "GET", url, (const char *[]) { "Connection: keep-alive", NULL }, NULL, 0, 0, on_glue_done, &res, NULL), -EINVAL);
        ASSERT_EQ_INT(curl_glue_request(g, "GET", "ftp://127.0.0.1/", NULL, NULL, 0, 0, on_glue_done, &res, NULL), -EINVAL);
        ASSERT_FALSE(curl_loaded());

        /* https:// needs libcurl; a refused port answers the same as before. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0);
        ASSERT_TRUE(getsockname(fd, (struct sockaddr *) &sa, &l) >= 0);
        ASSERT_TRUE(asprintf(&https_url, "https://127.0.0.1:%u/", ntohs(sa.sin_port)) > 0);
        res = (GlueResult) {};
        r = curl_glue_request(g, "GET", https_url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_glue_done, &res, NULL);
        if (r == -ELIBACC) {
                log_info("libcurl cannot be loaded here, skipping the https:// case.");
                close(fd);
                g = curl_glue_free(g);
                event = sd_event_unref(event);
                return;
        }
        ASSERT_OK(r);
        ASSERT_TRUE(curl_loaded());
        run_until(&res.called, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(res.result, -ECONNREFUSED);

        /* http:// with a proxy in the environment: libcurl, through the (refused) proxy. */
        ASSERT_TRUE(asprintf(&proxy, "http://127.0.0.1:%u", ntohs(sa.sin_port)) > 0);
        ASSERT_OK(setenv("http_proxy", proxy, 1));
        res = (GlueResult) {};
        ASSERT_OK(curl_glue_request(g, "GET", "http://192.0.2.1/", NULL, NULL, 0, 5 * USEC_PER_SEC, on_glue_done, &res, NULL));
        run_until(&res.called, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(res.result, -ECONNREFUSED);
        ASSERT_OK(unsetenv("http_proxy"));
        close(fd);

        /* Freed with requests of both kinds in flight. */
        server_start(&s);
        server_serve(&s, &(Script) { .linger = true });
        res = (GlueResult) {};
        url = mfree(url);
        ASSERT_TRUE(asprintf(&url, "http://127.0.0.1:%u/", s.port) > 0);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_glue_done, &res, NULL));
        url = mfree(url);
        ASSERT_TRUE(asprintf(&url, "https://127.0.0.1:%u/", s.port) > 0);
        ASSERT_OK(curl_glue_request(g, "GET", url, NULL, NULL, 0, 5 * USEC_PER_SEC, on_glue_done, &res, NULL));
        run_for(50 * USEC_PER_MSEC);
        g = curl_glue_free(g);
        run_for(50 * USEC_PER_MSEC);
        ASSERT_FALSE(res.called);
        server_stop(&s);

        event = sd_event_unref(event);
}
