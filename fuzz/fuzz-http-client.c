/* SPDX-License-Identifier: MIT */
/* http-client-parse.c: what an HTTP server sends the provider's advertiser (and golemctl),
 * and the URLs they are configured with. The first byte picks: bit 1 set, the rest is a URL
 * for http_url_parse(); otherwise the rest is a response for the response parser, to a HEAD
 * request when bit 0 is set.
 *
 * A response is fed whole, then again in pieces whose sizes come from the input itself; both
 * must end the same (the same error, or the same status and body), and a response taken must
 * be a final one (200-599), with a body within the cap, NUL-terminated, empty for HEAD, 204
 * and 304, and of exactly Content-Length bytes when that framed it. A URL taken must be
 * made of what the parser promises, and put back together it must parse to the same. */

#include <string.h>

#include "fuzz.h"
#include "http-client-parse.h"

/* Small, so that the cap is reached. */
#define BODY_MAX 4096U

typedef struct Outcome {
        int r;
        int status;
        size_t body_size;
        char body[BODY_MAX + 1];
} Outcome;

static void response_run(const uint8_t *data, size_t size, bool head, bool pieces, Outcome *o) {
        HttpResponseParser p;
        const char *body;
        size_t i = 0;
        int r = 0;

        http_response_parser_init(&p, head, BODY_MAX);

        if (!pieces)
                r = http_response_parser_feed(&p, data, size);
        else
                while (i < size && r == 0) {
                        size_t n = (size_t) (data[i] % 23) + 1;

                        n = MIN(n, size - i);
                        r = http_response_parser_feed(&p, data + i, n);
                        i += n;
                }
        if (r == 0)
                r = http_response_parser_finish(&p);

        fuzz_check(r == 1 || r == -EBADMSG || r == -EFBIG || r == -EIO || r == -ENOMEM);
        /* An error sticks. */
        if (r < 0) {
                fuzz_check(http_response_parser_feed(&p, "x", 1) == r);
                fuzz_check(http_response_parser_finish(&p) == r);
        }

        *o = (Outcome) { .r = r };
        if (r == 1) {
                fuzz_check(p.state == HTTP_RESPONSE_DONE);
                fuzz_check(p.status >= 200 && p.status <= 599);
                body = http_response_parser_body(&p, &o->body_size);
                fuzz_check(body);
                fuzz_check(o->body_size <= BODY_MAX);
                fuzz_check(body[o->body_size] == 0);
                if (head || p.status == 204 || p.status == 304)
                        fuzz_check(o->body_size == 0);
                else if (p.have_content_length && !p.chunked)
                        fuzz_check(o->body_size == p.content_length);
                if (p.chunked)
                        fuzz_check(!p.have_content_length && p.version_minor > 0);
                o->status = p.status;
                memcpy(o->body, body, o->body_size);
        }
        fuzz_check(p.header_bytes <= HTTP_RESPONSE_HEADERS_MAX);

        http_response_parser_done(&p);
}

static bool char_ok_in_target(char c) {
        return c > 0x20 && c < 0x7f && c != '#' && c != '"' && c != '<' && c != '>' && c != '\\' &&
                c != '^' && c != '`' && c != '{' && c != '|' && c != '}' && c != '[' && c != ']';
}

static void url_run(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL, *again = NULL;
        HttpUrl u = {}, v = {};
        size_t host_size;

        s = strndup((const char *) data, size);
        fuzz_check(s);

        if (http_url_parse(s, &u) < 0) {
                fuzz_check(!u.host && !u.authority && !u.target);
                if (fuzz_verbose())
                        fprintf(stderr, "URL: refused\n");
                return;
        }
        if (fuzz_verbose())
                fprintf(stderr, "URL: %s host %s port %u target %s\n",
                        u.https ? "https" : "http", u.host, u.port, u.target);

        host_size = strlen(u.host);
        fuzz_check(host_size > 0 && host_size <= HTTP_HOST_MAX + 1);
        fuzz_check(u.port > 0);
        fuzz_check(u.target[0] == '/');
        for (const char *p = u.target; *p; p++)
                fuzz_check(char_ok_in_target(*p));
        for (const char *p = u.authority; *p; p++)
                fuzz_check(char_ok_in_target(*p) || *p == '[' || *p == ']');
        fuzz_check(!strchr(u.authority, '@'));
        if (u.host_is_ipv6)
                fuzz_check(u.authority[0] == '[' && strncmp(u.authority + 1, u.host, host_size) == 0 &&
                           u.authority[host_size + 1] == ']');
        else
                fuzz_check(strncmp(u.authority, u.host, host_size) == 0 &&
                           IN_SET(u.authority[host_size], 0, ':'));

        fuzz_check(asprintf(&again, "%s://%s%s", u.https ? "https" : "http", u.authority, u.target) > 0);
        fuzz_check(http_url_parse(again, &v) >= 0);
        fuzz_check(v.https == u.https && v.port == u.port && v.host_is_ipv6 == u.host_is_ipv6);
        fuzz_check(streq(v.host, u.host) && streq(v.authority, u.authority) && streq(v.target, u.target));

        http_url_done(&u);
        http_url_done(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Outcome whole, pieces;
        bool head;

        if (size < 1 || size > 256 * 1024)
                return 0;

        if (data[0] & 2) {
                url_run(data + 1, size - 1);
                return 0;
        }

        head = data[0] & 1;
        response_run(data + 1, size - 1, head, false, &whole);
        response_run(data + 1, size - 1, head, true, &pieces);

        if (fuzz_verbose())
                fprintf(stderr, "%s: %d, status %d, %zu body bytes\n", head ? "HEAD" : "GET",
                        whole.r, whole.status, whole.body_size);

        fuzz_check(whole.r == pieces.r);
        if (whole.r == 1) {
                fuzz_check(whole.status == pieces.status);
                fuzz_check(whole.body_size == pieces.body_size);
                fuzz_check(memcmp(whole.body, pieces.body, whole.body_size) == 0);
        }
        return 0;
}
