/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "http-head.h"
#include "http-server.h"
#include "http-source.h"
#include "macro.h"
#include "tests.h"
#include "utf8.h"

TEST(status_from_errno) {
        static const struct {
                int error;
                unsigned status;
        } table[] = {
                { ENOENT, 404 },
                { ENXIO, 404 },
                { EEXIST, 409 },
                { EBUSY, 409 },
                { EINVAL, 422 },
                { EBADMSG, 422 },
                { ERANGE, 400 },
                { EACCES, 401 },
                { EPERM, 401 },
                { E2BIG, 413 },
                { EAGAIN, 503 },
                { ENOSPC, 503 },
                { ENOMEM, 503 },
                { ECONNREFUSED, 503 },
                { EHOSTUNREACH, 503 },
                { EHOSTDOWN, 503 },  /* the hypervisor is down: as REST and D-Bus say it */
                { EDQUOT, 507 },     /* the state store's disk is full, not "no capacity" */
                { EOPNOTSUPP, 405 },
                { ETIMEDOUT, 504 },
                { EIO, 500 },
                { EPROTONOSUPPORT, 500 },
                { EROFS, 500 },
                { 0, 500 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                TEST_CONTEXT("errno %d (%s)", table[i].error, strerror(table[i].error));
                /* Either sign. */
                ASSERT_EQ_INT(http_status_from_errno(-table[i].error), table[i].status);
                ASSERT_EQ_INT(http_status_from_errno(table[i].error), table[i].status);
        }
}

TEST(method_table) {
        static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };

        ASSERT_EQ_INT(ELEMENTSOF(names), _HTTP_METHOD_MAX);
        for (HttpMethod m = 0; m < _HTTP_METHOD_MAX; m++) {
                TEST_CONTEXT("method %d", m);
                ASSERT_STREQ(http_method_to_string(m), names[m]);
                ASSERT_EQ_INT(http_method_from_string(names[m]), m);
        }
        ASSERT_EQ_INT(http_method_from_string("get"), _HTTP_METHOD_INVALID); /* methods are case-sensitive */
        ASSERT_EQ_INT(http_method_from_string("TRACE"), _HTTP_METHOD_INVALID);
        ASSERT_EQ_INT(http_method_from_string(""), _HTTP_METHOD_INVALID);
        ASSERT_EQ_INT(http_method_from_string(NULL), -EINVAL);
        ASSERT_NULL(http_method_to_string(_HTTP_METHOD_MAX));
        ASSERT_NULL(http_method_to_string(_HTTP_METHOD_INVALID));
}

/* ---- the request head scanner ---- */

#define OK 0

static const HttpHeadLimits limits = { .head_max = 1024, .fields_max = 8, .body_max = 65536 };

static int scan(const char *text, HttpHead *h) {
        http_head_init(h, &limits);
        return http_head_scan(h, text, strlen(text));
}

TEST(head_scan_table) {
        static const struct {
                const char *head;
                unsigned status; /* 0: accepted */
        } table[] = {
                { "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", OK },
                { "GET /health HTTP/1.0\r\n\r\n", OK },                         /* no Host in 1.0 */
                { "GET /health HTTP/1.1\nHost: x\n\n", OK },                    /* bare LF lines */
                { "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", OK },            /* empty lines first */
                { "GET / HTTP/1.9\r\nHost: x\r\n\r\n", OK },                    /* a later 1.x is 1.1 */
                { "GET / HTTP/1.1\r\nHost: \r\n\r\n", OK },                     /* empty Host */
                { "GET / HTTP/1.1\r\nHost: [::1]:7466\r\n\r\n", OK },
                { "GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9 \t \r\n\r\n", OK }, /* obs-text, OWS */
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 007\r\n\r\n", OK },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:  65536\r\n\r\n", OK },
                { "GET /%FF?a=b HTTP/1.1\r\nHost: x\r\n\r\n", OK },
                { "FOO * HTTP/1.1\r\nHost: x\r\n\r\n", OK },                    /* methods are routed later */
                { "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\n\r\n", OK }, /* not a singleton */
                /* framing */
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x2\r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2 \r\n\r\n", 400 }, /* libmicrohttpd would choke */
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551617\r\n\r\n", 413 },
                { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n", 413 },
                { "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411 },
                { "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501 },
                { "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 501 },
                { "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
                { "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
                /* Host and other singletons */
                { "GET / HTTP/1.1\r\n\r\n", 400 },
                { "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
                { "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400 },
                { "GET / HTTP/1.1\r\nHost: x\r\nX-Provider-ID: a\r\nx-provider-id: b\r\n\r\n", 400 },
                /* syntax */
                { "GET / HTTP/1.1\r\nHost: x\r\nfoo\r\n\r\n", 400 },
                { "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400 },
                { "GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", 400 },
                { "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400 },
                { "GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n", 400 },               /* bare CR */
                { "GET / HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", 400 },
                { "GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
                { "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
                { "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400 },
                { "GET / x HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
                { "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
                { "GET / http/1.1\r\nHost: x\r\n\r\n", 400 },
                { "GET / HTTP/x.y\r\nHost: x\r\n\r\n", 400 },
                { "GET / HTTP/1.1.1\r\nHost: x\r\n\r\n", 400 },
                /* versions */
                { "GET /\r\n", 505 },                                               /* HTTP/0.9 */
                { "GET / HTTP/0.9\r\n\r\n", 505 },
                { "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
                { "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505 },
                /* sizes */
                { "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\n\r\n", 431 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                HttpHead h;
                int r;

                TEST_CONTEXT("row %zu: %s", i, table[i].head);
                r = scan(table[i].head, &h);
                if (table[i].status == OK) {
                        ASSERT_EQ_INT(r, 1);
                        ASSERT_EQ_UINT(h.size, strlen(table[i].head));
                } else {
                        ASSERT_ERROR(r, EBADMSG);
                        ASSERT_EQ_INT(h.status, table[i].status);
                        ASSERT_NOT_NULL(h.code);
                        ASSERT_TRUE(h.message[0] != 0);
                }
        }
}

TEST(head_scan_pieces) {
        static const char head[] = "POST /api/v1/vms HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n";
        size_t end = strstr(head, "{}") - head;
        HttpHead h;

        /* Every prefix of a good head needs more; the whole of it is complete, whatever follows. */
        for (size_t n = 0; n < end; n++) {
                TEST_CONTEXT("prefix of %zu bytes", n);
                http_head_init(&h, &limits);
                ASSERT_EQ_INT(http_head_scan(&h, head, n), 0);
        }
        http_head_init(&h, &limits);
        ASSERT_EQ_INT(http_head_scan(&h, head, strlen(head)), 1);
        ASSERT_EQ_UINT(h.size, end);
        ASSERT_TRUE(h.has_content_length);
        ASSERT_EQ_UINT(h.content_length, 2);
        ASSERT_EQ_INT(h.version, 11);
}

TEST(head_scan_early) {
        HttpHead h;

        /* Refused before the head is complete: binary garbage, a bad line that ended. */
        ASSERT_ERROR(scan("\x16\x03\x01", &h), EBADMSG);
        ASSERT_EQ_INT(h.status, 400);
        ASSERT_ERROR(scan("GET / HTTP/1.1\r\nHost: x\r\nno colon\r\nX-A: 1", &h), EBADMSG);
        http_head_init(&h, &limits);
        ASSERT_ERROR(http_head_scan(&h, "GET / HTTP/1.1\r\nX-A: \0", 22), EBADMSG);
        ASSERT_ERROR(scan("PRI * HTTP/2.0\r\n", &h), EBADMSG);
        ASSERT_EQ_INT(h.status, 505);
        ASSERT_EQ_INT(scan("GET / HTTP/1.1\r", &h), 0);
}

TEST(head_scan_limits) {
        char buf[2048];
        size_t prefix;
        HttpHead h;

        /* A head of exactly head_max bytes passes; one more byte is 431. */
        prefix = (size_t) snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ");
        memset(buf + prefix, 'a', limits.head_max - prefix - 4);
        memcpy(buf + limits.head_max - 4, "\r\n\r\n", 5);
        ASSERT_EQ_UINT(strlen(buf), limits.head_max);
        ASSERT_EQ_INT(scan(buf, &h), 1);

        memset(buf + prefix, 'a', limits.head_max - prefix - 3);
        memcpy(buf + limits.head_max - 3, "\r\n\r\n", 5);
        ASSERT_ERROR(scan(buf, &h), EBADMSG);
        ASSERT_EQ_INT(h.status, 431);

        /* As soon as head_max bytes are in without an end: 414 in the request line. */
        memset(buf, 'a', sizeof(buf));
        memcpy(buf, "GET /", 5);
        http_head_init(&h, &limits);
        ASSERT_EQ_INT(http_head_scan(&h, buf, limits.head_max - 1), 0);
        ASSERT_ERROR(http_head_scan(&h, buf, limits.head_max), EBADMSG);
        ASSERT_EQ_INT(h.status, 414);
}

TEST(head_parsed) {
        HttpHead h;

        /* The checks on what libmicrohttpd parsed (later requests on a connection). */
        http_head_init(&h, &limits);
        ASSERT_OK(http_head_version(&h, "HTTP/1.1", 8));
        ASSERT_OK(http_head_field(&h, "Host", 4, "x", 1));
        ASSERT_OK(http_head_field(&h, "Content-Length", 14, "5", 1));
        ASSERT_OK(http_head_field(&h, "Transfer-Encoding", 17, "chunked", 7));
        ASSERT_ERROR(http_head_end(&h), EBADMSG);
        ASSERT_EQ_INT(h.status, 400);

        http_head_init(&h, &limits);
        ASSERT_OK(http_head_version(&h, "HTTP/1.1", 8));
        ASSERT_ERROR(http_head_end(&h), EBADMSG); /* no Host */

        http_head_init(&h, &limits);
        ASSERT_OK(http_head_version(&h, "HTTP/1.0", 8));
        ASSERT_OK(http_head_end(&h));
        ASSERT_EQ_INT(h.version, 10);

        http_head_init(&h, &limits);
        ASSERT_ERROR(http_head_version(&h, "HTTP/3.0", 8), EBADMSG);
        ASSERT_EQ_INT(h.status, 505);
}

/* ---- UTF-8 in messages ---- */

TEST(utf8_sanitize) {
        char buf[16];

        ASSERT_EQ_UINT(utf8_sanitize("plain", 5, buf, sizeof(buf)), 5);
        ASSERT_STREQ(buf, "plain");
        utf8_sanitize("a\xff" "b", 3, buf, sizeof(buf));
        ASSERT_STREQ(buf, "a\xef\xbf\xbd" "b");
        utf8_sanitize("\xc0\xaf\xed\xa0\x80", 5, buf, sizeof(buf)); /* overlong, surrogate */
        ASSERT_STREQ(buf, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        utf8_sanitize("\xe2\x82", 2, buf, sizeof(buf)); /* cut short */
        ASSERT_STREQ(buf, "\xef\xbf\xbd\xef\xbf\xbd");

        /* Too long: cut between characters, and an ellipsis says so. */
        utf8_sanitize("abcdefghij\xc3\xa9\xc3\xa9\xc3\xa9", 16, buf, sizeof(buf));
        ASSERT_STREQ(buf, "abcdefghij\xc3\xa9\xe2\x80\xa6");
        utf8_sanitize("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 16, buf, sizeof(buf));
        ASSERT_STREQ(buf, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xe2\x80\xa6");
        /* Exactly full: no ellipsis. */
        utf8_sanitize("abcdefghijklmno", 15, buf, sizeof(buf));
        ASSERT_STREQ(buf, "abcdefghijklmno");
        ASSERT_EQ_UINT(utf8_char_len("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
        ASSERT_EQ_UINT(utf8_char_len("\xf0\x9f\x98\x80", 4), 4);
}

/* ---- connections per address ---- */

static struct sockaddr_storage addr4(const char *ip) {
        struct sockaddr_storage ss = {};
        struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

        sin->sin_family = AF_INET;
        ASSERT_EQ_INT(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
        return ss;
}

static struct sockaddr_storage addr6(const char *ip) {
        struct sockaddr_storage ss = {};
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

        sin6->sin6_family = AF_INET6;
        ASSERT_EQ_INT(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
        return ss;
}

#define SA(ss) ((const struct sockaddr *) &(ss))

TEST(sources_keys) {
        _cleanup_(http_sources_freep) HttpSources *t = NULL;
        struct sockaddr_storage a = addr4("192.0.2.7"), mapped = addr6("::ffff:192.0.2.7"),
                b = addr6("2001:db8:1:2::1"), c = addr6("2001:db8:1:2:ffff::9"), d = addr6("2001:db8:1:3::1"),
                e = addr4("192.0.2.8"), f = addr4("192.0.2.9");
        HttpSource *s;

        ASSERT_OK(http_sources_new(3, &t));
        s = http_sources_get(t, SA(a));
        ASSERT_STREQ(s->name, "192.0.2.7");
        ASSERT_TRUE(http_sources_get(t, SA(mapped)) == s);
        s = http_sources_get(t, SA(b));
        ASSERT_STREQ(s->name, "2001:db8:1:2::/64");
        ASSERT_TRUE(http_sources_get(t, SA(c)) == s); /* the same /64 */
        ASSERT_TRUE(http_sources_get(t, SA(d)) != s);
        ASSERT_EQ_UINT(http_sources_size(t), 3);

        /* Full: the rest share one entry. */
        s = http_sources_get(t, SA(e));
        ASSERT_STREQ(s->name, "other addresses");
        ASSERT_TRUE(http_sources_get(t, SA(f)) == s);
        ASSERT_EQ_UINT(http_sources_size(t), 3);

        /* An entry without connections or debts is forgotten. */
        http_sources_release(t, http_sources_get(t, SA(d)), 0);
        ASSERT_EQ_UINT(http_sources_size(t), 2);
        ASSERT_STREQ(http_sources_get(t, SA(e))->name, "192.0.2.8");
}

TEST(sources_admit) {
        _cleanup_(http_sources_freep) HttpSources *t = NULL;
        struct sockaddr_storage a = addr4("192.0.2.1"), b = addr4("192.0.2.2"), c = addr4("192.0.2.3");
        HttpSource *sa, *sb, *sc, *victim = NULL;

        ASSERT_OK(http_sources_new(16, &t));
        sa = http_sources_get(t, SA(a));
        sb = http_sources_get(t, SA(b));
        sc = http_sources_get(t, SA(c));

        /* Under both limits. */
        ASSERT_EQ_INT(http_sources_admit(t, sa, 5, 10, 4, &victim), 1);
        /* At its own limit, an address makes room itself. */
        sa->n_connections = 4;
        ASSERT_EQ_INT(http_sources_admit(t, sa, 5, 10, 4, &victim), 0);
        ASSERT_TRUE(victim == sa);

        /* The server is full: the address holding the most gives one up to one holding at
         * least two fewer; between equals nobody moves. */
        sa->n_connections = 7;
        sb->n_connections = 3;
        ASSERT_EQ_INT(http_sources_admit(t, sc, 10, 10, 0, &victim), 0);
        ASSERT_TRUE(victim == sa);
        ASSERT_EQ_INT(http_sources_admit(t, sb, 10, 10, 0, &victim), 0);
        ASSERT_TRUE(victim == sa);
        ASSERT_ERROR(http_sources_admit(t, sa, 10, 10, 0, &victim), EBUSY);
        sb->n_connections = 6;
        ASSERT_ERROR(http_sources_admit(t, sb, 13, 13, 0, &victim), EBUSY);
        ASSERT_TRUE(http_sources_biggest(t) == sa);

        sa->n_connections = sb->n_connections = 0;
        ASSERT_NULL(http_sources_biggest(t));
}

static unsigned log_lines;
static unsigned log_counts[_HTTP_REFUSAL_MAX];
static char log_who[64];

static void on_log(const char *who, unsigned n_sources, const unsigned refused[static _HTTP_REFUSAL_MAX],
                   usec_t interval, void *userdata) {
        log_lines++;
        snprintf(log_who, sizeof(log_who), "%s", who);
        memcpy(log_counts, refused, sizeof(log_counts));
}

TEST(sources_log) {
        _cleanup_(http_sources_freep) HttpSources *t = NULL;
        struct sockaddr_storage a = addr4("192.0.2.1"), b = addr4("192.0.2.2"), c = addr4("192.0.2.3");
        const usec_t minute = 60 * USEC_PER_SEC;
        HttpSource *sa, *sb, *sc;
        usec_t now = 1000 * USEC_PER_SEC;

        ASSERT_OK(http_sources_new(16, &t));
        http_sources_set_log(t, minute, 2, on_log, NULL);
        sa = http_sources_get(t, SA(a));
        sb = http_sources_get(t, SA(b));
        sc = http_sources_get(t, SA(c));
        /* Each holds a connection, or a flush would forget it. */
        sa->n_connections = sb->n_connections = sc->n_connections = 1;

        /* The first refusal is logged at once, the next ones summed up for a minute. */
        ASSERT_EQ_UINT(http_source_refused(t, sa, HTTP_REFUSAL_RATE_LIMITED, now), USEC_INFINITY);
        ASSERT_EQ_INT(log_lines, 1);
        ASSERT_STREQ(log_who, "192.0.2.1");
        ASSERT_EQ_INT(log_counts[HTTP_REFUSAL_RATE_LIMITED], 1);
        for (unsigned i = 0; i < 1000; i++)
                ASSERT_EQ_UINT(http_source_refused(t, sa, i % 2 ? HTTP_REFUSAL_RATE_LIMITED : HTTP_REFUSAL_TOO_SLOW,
                                                   now + i), now + minute);
        ASSERT_EQ_INT(log_lines, 1);
        ASSERT_EQ_UINT(http_sources_flush(t, now + minute - 1), now + minute);
        ASSERT_EQ_INT(log_lines, 1);
        http_sources_flush(t, now + minute);
        ASSERT_EQ_INT(log_lines, 2);
        ASSERT_EQ_INT(log_counts[HTTP_REFUSAL_RATE_LIMITED], 500);
        ASSERT_EQ_INT(log_counts[HTTP_REFUSAL_TOO_SLOW], 500);

        /* Two lines per interval in all (the budget of this test): a third address waits
         * for the line of "other addresses". */
        now += 3 * minute;
        ASSERT_EQ_UINT(http_source_refused(t, sb, HTTP_REFUSAL_MALFORMED, now), USEC_INFINITY);
        ASSERT_EQ_UINT(http_source_refused(t, sa, HTTP_REFUSAL_MALFORMED, now), USEC_INFINITY);
        ASSERT_EQ_INT(log_lines, 4);
        ASSERT_EQ_UINT(http_source_refused(t, sc, HTTP_REFUSAL_MALFORMED, now), now);
        ASSERT_EQ_INT(log_lines, 4);
        http_sources_flush(t, now);
        ASSERT_EQ_INT(log_lines, 5);
        ASSERT_STREQ(log_who, "other addresses");
        ASSERT_EQ_INT(log_counts[HTTP_REFUSAL_MALFORMED], 1);
        /* Then nothing more until the interval is over. */
        ASSERT_EQ_UINT(http_source_refused(t, sc, HTTP_REFUSAL_MALFORMED, now + 1), now + minute);
        http_sources_flush(t, now + 2);
        ASSERT_EQ_INT(log_lines, 5);
}

/* ---- the server on a loopback port, driven without waiting ---- */

static int on_ok(HttpRequest *req, void *userdata) {
        return http_reply_json_text(req, 200, "{}", 2);
}

static int on_echo(HttpRequest *req, void *userdata) {
        size_t size;
        const char *body = http_request_body(req, &size);

        return http_reply_error(req, 422, "ECHO", "%zu %.*s", size, (int) MIN(size, (size_t) 16), body);
}

static int on_name(HttpRequest *req, void *userdata) {
        return http_reply_error(req, 404, "ECHO", "No VM %s", http_request_path_arg(req, 0));
}

static const HttpRoute test_routes[] = {
        { HTTP_GET, "/ok", on_ok, 0 },
        { HTTP_GET, "/name/{}", on_name, 0 },
        { HTTP_POST, "/echo", on_echo, 0 },
        { HTTP_GET, "/metrics", http_handler_metrics, 0 },
};

typedef struct TestServer {
        sd_event *event;
        HttpServer *server;
        uint16_t port;
        Metrics *metrics;       /* set before test_server_start(), or NULL */
} TestServer;

static void test_server_start(TestServer *t, size_t connections_max) {
        HttpServerConfig config = {
                .routes = test_routes,
                .n_routes = ELEMENTSOF(test_routes),
                .connections_max = connections_max,
                .metrics = t->metrics,
        };
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sin);
        int fd;

        ASSERT_OK(sd_event_new(&t->event));
        ASSERT_OK(http_server_new(t->event, &config, &t->server));
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(bind(fd, (struct sockaddr *) &sin, sizeof(sin)) >= 0);
        ASSERT_TRUE(listen(fd, 64) >= 0);
        ASSERT_TRUE(getsockname(fd, (struct sockaddr *) &sin, &len) >= 0);
        t->port = ntohs(sin.sin_port);
        ASSERT_OK(http_server_add_listener(t->server, fd));
}

static void test_server_stop(TestServer *t) {
        http_server_free(t->server);
        sd_event_unref(t->event);
}

/* A client connected from the loopback address source (the kernel completes the handshake
 * before the server accepts). */
static int test_client(TestServer *t, const char *source) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(t->port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_storage src = addr4(source);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(bind(fd, SA(src), sizeof(struct sockaddr_in)) >= 0);
        ASSERT_TRUE(connect(fd, (struct sockaddr *) &sin, sizeof(sin)) >= 0);
        return fd;
}

/* Sends all of text, letting the server read when the socket buffers are full. */
static void test_send(TestServer *t, int fd, const char *text) {
        size_t n = strlen(text);

        while (n > 0) {
                ssize_t k = send(fd, text, n, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (k < 0 && errno == EAGAIN) {
                        ASSERT_OK(sd_event_run(t->event, 0));
                        continue;
                }
                ASSERT_TRUE(k > 0);
                text += k;
                n -= (size_t) k;
        }
}

/* Runs the loop without waiting until the client has read `until` in all, or the server
 * closed; returns what came, and whether the server closed in *ret_closed. A few thousand
 * turns are plenty: each dispatches one event source. (That buffered work does not wait for
 * a timer tick cannot be seen here, where a due timer fires at once: the hostile
 * integration suite measures it against the daemons.) */
static char *test_exchange(TestServer *t, int fd, const char *until, bool *ret_closed) {
        static char buf[65536];
        size_t n = 0;

        *ret_closed = false;
        for (unsigned turn = 0; turn < 5000; turn++) {
                ssize_t k;

                ASSERT_OK(sd_event_run(t->event, 0));
                k = recv(fd, buf + n, sizeof(buf) - 1 - n, MSG_DONTWAIT);
                if (k == 0 || (k < 0 && errno == ECONNRESET)) {
                        *ret_closed = true;
                        break;
                }
                if (k > 0) {
                        n += (size_t) k;
                        buf[n] = 0;
                        if (until && strstr(buf, until))
                                break;
                }
        }
        buf[n] = 0;
        return buf;
}

static unsigned count(const char *s, const char *part) {
        unsigned n = 0;

        for (s = strstr(s, part); s; s = strstr(s + 1, part))
                n++;
        return n;
}

TEST(server_pipelining) {
        TestServer t = {};
        char text[4096] = "";
        bool closed;
        char *got;
        int fd;

        test_server_start(&t, 0);
        fd = test_client(&t, "127.0.0.1");
        /* Ten requests at once, a refused route (held until its request is complete) among them. */
        for (unsigned i = 0; i < 9; i++)
                strcat(text, i == 4 ? "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" : "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
        strcat(text, "GET /name/last HTTP/1.1\r\nHost: x\r\n\r\n");
        test_send(&t, fd, text);
        got = test_exchange(&t, fd, "No VM last\"}}", &closed);
        ASSERT_EQ_INT(count(got, "HTTP/1.1 200 OK\r\n"), 8);
        ASSERT_EQ_INT(count(got, "HTTP/1.1 404 Not Found\r\n"), 2);
        ASSERT_FALSE(closed);

        /* A body larger than one read, answered without waiting either. */
        {
                static char req[70000];
                int n = snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n");

                memset(req + n, 'b', 60000);
                req[n + 60000] = 0;
                test_send(&t, fd, req);
        }
        got = test_exchange(&t, fd, "\"}}", &closed);
        ASSERT_STR_CONTAINS(got, "HTTP/1.1 422");
        ASSERT_STR_CONTAINS(got, "\"60000 bbbbbbbbbbbbbbbb\"");
        close(fd);
        test_server_stop(&t);
}

TEST(server_refusals) {
        static const struct {
                const char *request;
                const char *status_line;
        } table[] = {
                { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                  "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n" },
                { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n" },
                { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\n", "HTTP/1.1 501 Not Implemented\r\n" },
                { "GET /ok\r\n", "HTTP/1.1 505 HTTP Version Not Supported\r\n" },
                /* the same checks on a later request of the connection */
                { "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                  "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n" },
                { "GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n" },
                { "GET /ok?a=1&a=2 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n" },
        };
        TestServer t = {};

        test_server_start(&t, 0);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                bool closed;
                char *got;
                int fd;

                TEST_CONTEXT("row %zu: %s", i, table[i].request);
                fd = test_client(&t, "127.0.0.1");
                test_send(&t, fd, table[i].request);
                got = test_exchange(&t, fd, NULL, &closed);
                /* One answer to the refused request, JSON, and the connection closed: the
                 * bytes after it are never a request. */
                ASSERT_TRUE(closed);
                ASSERT_STR_CONTAINS(got, table[i].status_line);
                ASSERT_EQ_INT(count(got, table[i].status_line), 1);
                ASSERT_STR_CONTAINS(got, "\r\n\r\n{\"detail\":{\"code\":\"");
                ASSERT_LE_UINT(count(got, "HTTP/1.1 200"), strncmp(table[i].request, "GET /ok HTTP", 12) == 0 ? 1 : 0);
                close(fd);
        }
        test_server_stop(&t);
}

TEST(server_utf8) {
        TestServer t = {};
        bool closed;
        char *got;
        int fd;

        test_server_start(&t, 0);
        fd = test_client(&t, "127.0.0.1");
        /* A percent-decoded byte that is not UTF-8 is replaced, a character is kept. */
        test_send(&t, fd, "GET /name/%FF%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n");
        got = test_exchange(&t, fd, "\"}}", &closed);
        ASSERT_STR_CONTAINS(got, "\"message\":\"No VM \xef\xbf\xbd\xc3\xa9\"");
        /* A long name is cut between characters. */
        {
                char req[4096] = "GET /name/";

                for (unsigned i = 0; i < 300; i++)
                        strcat(req, "%C3%A9");
                strcat(req, " HTTP/1.1\r\nHost: x\r\n\r\n");
                test_send(&t, fd, req);
        }
        got = test_exchange(&t, fd, "\"}}", &closed);
        ASSERT_STR_CONTAINS(got, "\xc3\xa9\xe2\x80\xa6\"}}");
        close(fd);
        test_server_stop(&t);
}

TEST(server_full) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        TestServer t = {};
        int slow[4], fresh;
        bool closed;
        char *got;

        /* Four connections from one address fill the server; a fifth from another address
         * is served, and the first address's oldest connection goes. */
        ASSERT_OK(metrics_new(&m));
        t.metrics = m;
        test_server_start(&t, 4);
        ASSERT_EQ_UINT(http_server_connections_max(t.server), 4);
        for (unsigned i = 0; i < ELEMENTSOF(slow); i++) {
                slow[i] = test_client(&t, "127.0.0.2");
                test_send(&t, slow[i], "GET /ok HTTP/1.1\r\n");
        }
        (void) test_exchange(&t, slow[3], NULL, &closed);
        ASSERT_EQ_UINT(http_server_n_connections(t.server), 4);

        fresh = test_client(&t, "127.0.0.3");
        test_send(&t, fresh, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
        got = test_exchange(&t, fresh, "{}", &closed);
        ASSERT_STR_CONTAINS(got, "HTTP/1.1 200 OK\r\n");
        ASSERT_LE_UINT(http_server_n_connections(t.server), 4);
        (void) test_exchange(&t, slow[0], NULL, &closed);
        ASSERT_TRUE(closed);
        ASSERT_OK(metrics_render(m, &text, NULL));
        ASSERT_STR_CONTAINS(text, "golem_http_refused_total{reason=\"evicted\"} 1\n");
        ASSERT_STR_CONTAINS(text, "golem_http_refused_total{reason=\"full\"} 0\n");

        for (unsigned i = 0; i < ELEMENTSOF(slow); i++)
                close(slow[i]);
        close(fresh);
        test_server_stop(&t);
}

/* golem_http_*: each request by its route's pattern (never its path), method and status. */
TEST(server_metrics) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        TestServer t = {};
        bool closed;
        char *got;
        int fd;

        ASSERT_OK(metrics_new(&m));
        t.metrics = m;
        test_server_start(&t, 4);
        fd = test_client(&t, "127.0.0.1");
        test_send(&t, fd,
                  "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                  "HEAD /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /name/someone-made-this-up HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /made/up/too HTTP/1.1\r\nHost: x\r\n\r\n"
                  "DELETE /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        got = test_exchange(&t, fd, "golem_http_connections_max 4\n", &closed);
        ASSERT_FALSE(closed);
        ASSERT_STR_CONTAINS(got, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
        ASSERT_STR_CONTAINS(got, "golem_http_requests_total{route=\"/ok\",method=\"GET\",status=\"200\"} 2\n");
        ASSERT_STR_CONTAINS(got, "golem_http_requests_total{route=\"/ok\",method=\"HEAD\",status=\"200\"} 1\n");
        ASSERT_STR_CONTAINS(got, "golem_http_requests_total{route=\"/name/{}\",method=\"GET\",status=\"404\"} 1\n");
        ASSERT_STR_CONTAINS(got, "golem_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1\n");
        ASSERT_STR_CONTAINS(got, "golem_http_requests_total{route=\"other\",method=\"DELETE\",status=\"405\"} 1\n");
        ASSERT_STR_CONTAINS(got, "golem_http_request_duration_seconds_count{route=\"/ok\"} 3\n");
        ASSERT_STR_CONTAINS(got, "golem_http_refused_total{reason=\"malformed\"} 0\n");
        ASSERT_STR_CONTAINS(got, "golem_http_connections 1\n");
        /* The scrape is counted once it is answered, and no path becomes a label. */
        got = strstr(got, "# HELP");
        ASSERT_NOT_NULL(got);
        ASSERT_TRUE(!strstr(got, "route=\"/metrics\""));
        ASSERT_TRUE(!strstr(got, "made"));
        ASSERT_TRUE(!strstr(got, "someone"));

        /* A malformed request is refused before routing: a refusal, and a request of no route. */
        test_send(&t, fd, "GET /ok?a=1&a=2 HTTP/1.1\r\nHost: x\r\n\r\n");
        (void) test_exchange(&t, fd, NULL, &closed);
        ASSERT_TRUE(closed);
        close(fd);
        /* A first head refused before libmicrohttpd sees it: a refusal only. */
        fd = test_client(&t, "127.0.0.1");
        test_send(&t, fd, "GET /ok\r\n");
        got = test_exchange(&t, fd, NULL, &closed);
        ASSERT_STR_CONTAINS(got, "HTTP/1.1 505 ");
        close(fd);
        fd = test_client(&t, "127.0.0.1");
        test_send(&t, fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        got = test_exchange(&t, fd, "golem_http_connections_max 4\n", &closed);
        ASSERT_TRUE(!strstr(got, "status=\"505\""));
        ASSERT_STR_CONTAINS(got, "golem_http_refused_total{reason=\"malformed\"} 2\n");
        ASSERT_STR_CONTAINS(got, "golem_http_requests_total{route=\"other\",method=\"GET\",status=\"400\"} 1\n");
        ASSERT_STR_CONTAINS(got, "golem_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"} 1\n");
        close(fd);
        test_server_stop(&t);
}

TEST(server_metrics_off) {
        TestServer t = {};
        bool closed;
        char *got;
        int fd;

        test_server_start(&t, 0);
        fd = test_client(&t, "127.0.0.1");
        test_send(&t, fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
        got = test_exchange(&t, fd, "{}", &closed);
        ASSERT_STR_CONTAINS(got, "HTTP/1.1 404 Not Found\r\n");
        ASSERT_STR_CONTAINS(got, "{\"detail\":{\"code\":\"NOT_FOUND\",");
        ASSERT_STR_CONTAINS(got, "HTTP/1.1 200 OK\r\n");
        close(fd);
        test_server_stop(&t);
}
