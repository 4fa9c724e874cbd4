/* SPDX-License-Identifier: MIT */
/* http-head.c: the bytes a client sends the HTTP server before libmicrohttpd sees them. The
 * input is the start of a connection's byte stream; every prefix of it is scanned, as the
 * server does while the bytes come in, and the verdicts must add up:
 *
 *   - each is 0 (more bytes), 1 (a complete, acceptable head) or -EBADMSG (refused);
 *   - they go 0...0, then 1 or -EBADMSG for good: a head never becomes incomplete again,
 *     and a complete one always ends at the same byte;
 *   - a refusal names a status of the list in http-head.h, a code and an ASCII message;
 *   - an accepted head lies within head_max, ends in an empty line, and is what RFC 9112
 *     says it must be, checked here the long way: a request line "TOKEN SP TARGET SP
 *     HTTP/1.d", field lines "TOKEN:" with no control byte but tab, a Host in HTTP/1.1, a
 *     Content-Length of digits within body_max, no Transfer-Encoding. */

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "http-head.h"
#include "macro.h"

static const HttpHeadLimits limits = { .head_max = 2048, .fields_max = 32, .body_max = 65536 };

static bool tchar(uint8_t c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One line of an accepted head, its end taken off. */
static void check_line(const uint8_t *p, size_t n, bool request_line, bool *seen_host, bool *seen_cl) {
        size_t i = 0;

        for (size_t k = 0; k < n; k++)
                fuzz_check(p[k] == '\t' || (p[k] >= 0x20 && p[k] != 0x7f));
        for (; i < n && tchar(p[i]); i++)
                ;
        fuzz_check(i > 0);
        if (request_line) {
                size_t t;

                fuzz_check(i < n && p[i] == ' ');
                for (t = ++i; i < n && p[i] > 0x20 && p[i] < 0x7f; i++)
                        ;
                fuzz_check(i > t && i < n && p[i] == ' ');
                i++;
                fuzz_check(n - i == 8 && memcmp(p + i, "HTTP/1.", 7) == 0 && p[i + 7] >= '0' && p[i + 7] <= '9');
                return;
        }
        fuzz_check(i < n && p[i] == ':');
        if (i == 4 && strncasecmp((const char *) p, "Host", 4) == 0)
                *seen_host = true;
        fuzz_check(!(i == 17 && strncasecmp((const char *) p, "Transfer-Encoding", 17) == 0));
        if (i == 14 && strncasecmp((const char *) p, "Content-Length", 14) == 0) {
                uint64_t v = 0;
                size_t k = i + 1;

                fuzz_check(!*seen_cl);
                *seen_cl = true;
                while (k < n && (p[k] == ' ' || p[k] == '\t'))
                        k++;
                fuzz_check(k < n);
                for (; k < n; k++) {
                        fuzz_check(p[k] >= '0' && p[k] <= '9');
                        v = v > limits.body_max ? v : v * 10 + (uint64_t) (p[k] - '0');
                }
                fuzz_check(v <= limits.body_max);
        }
}

static void check_accepted(const uint8_t *p, const HttpHead *h) {
        bool request_line = true, seen_host = false, seen_cl = false;
        size_t i = 0;

        fuzz_check(h->status == 0);
        fuzz_check(h->size > 0 && h->size <= limits.head_max);
        fuzz_check(h->version == 10 || h->version == 11);
        fuzz_check(!h->has_transfer_encoding);
        fuzz_check(p[h->size - 1] == '\n');

        while (p[i] == '\n' || (p[i] == '\r' && p[i + 1] == '\n'))
                i += p[i] == '\r' ? 2 : 1;
        for (;;) {
                const uint8_t *nl = memchr(p + i, '\n', h->size - i);
                size_t n;

                fuzz_check(nl);
                n = (size_t) (nl - (p + i));
                if (n > 0 && p[i + n - 1] == '\r')
                        n--;
                if (n == 0 && !request_line)
                        break;
                check_line(p + i, n, request_line, &seen_host, &seen_cl);
                request_line = false;
                i = (size_t) (nl - p) + 1;
        }
        fuzz_check(i + (p[i] == '\r' ? 2 : 1) == h->size);
        fuzz_check(seen_host || h->version == 10);
        fuzz_check(seen_cl == h->has_content_length);
}

static void check_refused(const HttpHead *h) {
        static const unsigned statuses[] = { 400, 411, 413, 414, 431, 501, 505 };
        bool known = false;

        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
                known = known || h->status == statuses[i];
        fuzz_check(known);
        fuzz_check(h->code && h->code[0]);
        fuzz_check(h->message[0]);
        for (const char *c = h->message; *c; c++)
                fuzz_check(*c >= 0x20 && *c < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int last = 0;
        size_t complete = 0;

        if (size > 3 * limits.head_max)
                return 0;

        /* Every prefix of the first KiB, then a sample, and the whole input last. */
        for (size_t n = 0;; n = MIN(size, n + (n < 1024 ? 1 : 1 + size / 256))) {
                HttpHead h;
                int r;

                http_head_init(&h, &limits);
                r = http_head_scan(&h, (const char *) data, n);
                fuzz_check(r == 0 || r == 1 || r == -EBADMSG);
                if (last != 0)
                        fuzz_check(r == last);
                if (r == 1) {
                        if (last == 1)
                                fuzz_check(h.size == complete);
                        complete = h.size;
                        check_accepted(data, &h);
                } else if (r < 0)
                        check_refused(&h);
                else
                        fuzz_check(n < limits.head_max);
                if (fuzz_verbose() && n == size)
                        fprintf(stderr, "%s %u %s\n", r > 0 ? "accepted" : r < 0 ? "refused" : "incomplete",
                                h.status, h.message);
                last = r;
                if (n == size)
                        break;
        }
        return 0;
}
