/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http-head.h"
#include "macro.h"

/* Fields a request carries at most once: framing (RFC 9112 section 6), Host (section 3.2),
 * and those whose first copy a handler reads, so that two copies cannot mean two things to
 * two readers (a proxy and us, a signature check and a handler). */
static const char *const singletons[] = {
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Content-Type",
        "Expect",
        "Authorization",
        "X-Request-ID",
        "X-Provider-ID",
        "X-Provider-Signature",
        "X-Golem-Signature",
        "X-Golem-Timestamp",
        "X-Golem-Nonce",
};

enum {
        SINGLETON_HOST,
        SINGLETON_CONTENT_LENGTH,
        SINGLETON_TRANSFER_ENCODING,
};

_printf_(4, 5)
static int refuse(HttpHead *h, unsigned status, const char *code, const char *format, ...) {
        va_list ap;

        h->status = status;
        h->code = code;
        va_start(ap, format);
        vsnprintf(h->message, sizeof(h->message), format, ap);
        va_end(ap);
        return -EBADMSG;
}

void http_head_init(HttpHead *h, const HttpHeadLimits *limits) {
        *h = (HttpHead) {
                .limits = *limits,
                .version = 11,
        };
        if (h->limits.head_max == 0)
                h->limits.head_max = HTTP_HEAD_MAX_DEFAULT;
        if (h->limits.fields_max == 0)
                h->limits.fields_max = HTTP_HEAD_FIELDS_MAX_DEFAULT;
}

/* RFC 9110 section 5.6.2. */
static bool is_tchar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_tchar(s[i]))
                        return false;
        return true;
}

/* A field value: visible characters, obs-text, spaces and tabs; no other control byte. */
static bool is_field_byte(char c) {
        unsigned char u = (unsigned char) c;

        return u == '\t' || (u >= 0x20 && u != 0x7f);
}

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

/* uri-host [ ":" port ]: reg-name, IPv4 or a bracketed IP literal; empty is allowed. */
static bool host_valid(const char *s, size_t n) {
        static const char extra[] = "-._~%!$&'()*+,;=:[]";

        if (n > 255 + 1 + 5 + 2)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || (s[i] && strchr(extra, s[i]))))
                        return false;
        return true;
}

int http_head_version(HttpHead *h, const char *s, size_t n) {
        if (n == 8 && memcmp(s, "HTTP/1.", 7) == 0 && s[7] >= '0' && s[7] <= '9') {
                h->version = s[7] == '0' ? 10 : 11;
                return 0;
        }
        if (n >= 6 && memcmp(s, "HTTP/", 5) == 0 && s[5] >= '0' && s[5] <= '9' && s[5] != '1')
                return refuse(h, 505, "HTTP_VERSION_NOT_SUPPORTED", "Only HTTP/1.0 and HTTP/1.1 are supported");
        return refuse(h, 400, "BAD_REQUEST", "Malformed HTTP version");
}

static int field_content_length(HttpHead *h, const char *v, size_t n) {
        uint64_t x = 0;
        bool overflow = false;

        /* Digits only: no sign, no list, and nothing after them, not even the whitespace
         * RFC 9112 would allow, since libmicrohttpd reads the value with it. */
        if (n == 0)
                return refuse(h, 400, "BAD_REQUEST", "Malformed Content-Length");
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return refuse(h, 400, "BAD_REQUEST", "Malformed Content-Length");
                if (x > (UINT64_MAX - 9) / 10)
                        overflow = true;
                else
                        x = x * 10 + (uint64_t) (v[i] - '0');
        }
        h->has_content_length = true;
        h->content_length = overflow ? UINT64_MAX : x;
        return 0;
}

int http_head_field(HttpHead *h, const char *name, size_t name_len, const char *value, size_t value_len) {
        size_t trimmed;

        if (++h->n_fields > h->limits.fields_max)
                return refuse(h, 431, "HEADERS_TOO_LARGE", "More than %u header fields", h->limits.fields_max);
        if (!is_token(name, name_len))
                return refuse(h, 400, "BAD_REQUEST", "Malformed header field name");
        while (value_len > 0 && is_ows(value[0])) {
                value++;
                value_len--;
        }
        for (size_t i = 0; i < value_len; i++)
                if (!is_field_byte(value[i]))
                        return refuse(h, 400, "BAD_REQUEST", "Control character in a header field");
        trimmed = value_len;
        while (trimmed > 0 && is_ows(value[trimmed - 1]))
                trimmed--;

        for (size_t i = 0; i < ELEMENTSOF(singletons); i++) {
                if (strlen(singletons[i]) != name_len || strncasecmp(singletons[i], name, name_len) != 0)
                        continue;
                if (h->seen & (UINT32_C(1) << i))
                        return refuse(h, 400, "BAD_REQUEST", "Header field %s is repeated", singletons[i]);
                h->seen |= UINT32_C(1) << i;

                switch (i) {
                case SINGLETON_HOST:
                        if (!host_valid(value, trimmed))
                                return refuse(h, 400, "BAD_REQUEST", "Malformed Host");
                        break;
                case SINGLETON_CONTENT_LENGTH:
                        return field_content_length(h, value, value_len);
                case SINGLETON_TRANSFER_ENCODING:
                        h->has_transfer_encoding = true;
                        h->chunked = trimmed == 7 && strncasecmp(value, "chunked", 7) == 0;
                        break;
                }
                break;
        }
        return 0;
}

int http_head_end(HttpHead *h) {
        if (h->has_transfer_encoding) {
                if (h->has_content_length)
                        return refuse(h, 400, "BAD_REQUEST", "Content-Length and Transfer-Encoding together");
                if (h->version < 11)
                        return refuse(h, 400, "BAD_REQUEST", "Transfer-Encoding in an HTTP/1.0 request");
                if (h->chunked)
                        return refuse(h, 411, "LENGTH_REQUIRED", "Chunked request bodies are not accepted: send a Content-Length");
                return refuse(h, 501, "NOT_IMPLEMENTED", "Unknown Transfer-Encoding");
        }
        if (h->version >= 11 && !(h->seen & (UINT32_C(1) << SINGLETON_HOST)))
                return refuse(h, 400, "BAD_REQUEST", "HTTP/1.1 request without Host");
        if (h->has_content_length && h->content_length > h->limits.body_max)
                return refuse(h, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds %" PRIu64 " bytes", h->limits.body_max);
        return 0;
}

/* method SP request-target SP HTTP-version, each part strictly (RFC 9112 section 3). */
static int request_line(HttpHead *h, const char *line, size_t n) {
        const char *sp1, *sp2, *target;
        size_t target_len;

        sp1 = memchr(line, ' ', n);
        if (!sp1 || !is_token(line, (size_t) (sp1 - line)))
                return refuse(h, 400, "BAD_REQUEST", "Malformed request line");
        target = sp1 + 1;
        sp2 = memchr(target, ' ', n - (size_t) (target - line));
        target_len = (size_t) ((sp2 ?: line + n) - target);
        if (target_len == 0)
                return refuse(h, 400, "BAD_REQUEST", "Malformed request line");
        for (size_t i = 0; i < target_len; i++)
                if ((unsigned char) target[i] <= 0x20 || (unsigned char) target[i] >= 0x7f)
                        return refuse(h, 400, "BAD_REQUEST", "Malformed request target");
        if (!sp2)
                return refuse(h, 505, "HTTP_VERSION_NOT_SUPPORTED", "HTTP/0.9 is not supported");
        return http_head_version(h, sp2 + 1, n - (size_t) (sp2 + 1 - line));
}

/* A field line, its line end taken off. */
static int field_line(HttpHead *h, const char *line, size_t n) {
        const char *colon;

        if (is_ows(line[0]))
                return refuse(h, 400, "BAD_REQUEST", "Folded header field line");
        colon = memchr(line, ':', n);
        if (!colon)
                return refuse(h, 400, "BAD_REQUEST", "Header field line without a colon");
        return http_head_field(h, line, (size_t) (colon - line), colon + 1, n - (size_t) (colon + 1 - line));
}

/* Bytes that may not appear in a head at all, and the request line's narrower set, checked
 * as they come so that binary garbage (a TLS handshake, say) is refused at once. */
static bool byte_allowed(char c, bool in_request_line) {
        unsigned char u = (unsigned char) c;

        if (in_request_line)
                return u >= 0x20 && u < 0x7f;
        return is_field_byte(c);
}

int http_head_scan(HttpHead *h, const char *buf, size_t size) {
        HttpHeadLimits limits = h->limits;
        size_t pos = 0;
        bool in_request_line = true;

        http_head_init(h, &limits);

        /* Empty lines before the request line are allowed (RFC 9112 section 2.2). */
        for (;;) {
                if (pos + 1 < size && buf[pos] == '\r' && buf[pos + 1] == '\n')
                        pos += 2;
                else if (pos < size && buf[pos] == '\n')
                        pos++;
                else
                        break;
        }

        while (pos < size) {
                size_t start = pos, end, n;
                int r;

                /* Find the end of this line, checking each byte on the way. */
                for (end = start; end < size && buf[end] != '\n'; end++) {
                        if (buf[end] == '\r') {
                                if (end + 1 == size)
                                        break; /* the LF may come next */
                                if (buf[end + 1] != '\n')
                                        return refuse(h, 400, "BAD_REQUEST", "Bare CR in the request head");
                                continue;
                        }
                        if (!byte_allowed(buf[end], in_request_line))
                                return refuse(h, 400, "BAD_REQUEST", "Control character in the request head");
                }
                if (in_request_line) {
                        const char *sp = memchr(buf + start, ' ', end - start);
                        size_t method_len = (size_t) ((sp ?: buf + end) - (buf + start));

                        if (method_len > 0 && !is_token(buf + start, method_len))
                                return refuse(h, 400, "BAD_REQUEST", "Malformed request method");
                }
                if (end >= size || buf[end] != '\n')
                        break; /* incomplete */
                if (end + 1 > h->limits.head_max)
                        break; /* refused below */

                n = end - start;
                if (n > 0 && buf[end - 1] == '\r')
                        n--;
                pos = end + 1;

                if (in_request_line) {
                        r = request_line(h, buf + start, n);
                        in_request_line = false;
                } else if (n == 0) {
                        r = http_head_end(h);
                        if (r < 0)
                                return r;
                        h->size = pos;
                        return 1;
                } else
                        r = field_line(h, buf + start, n);
                if (r < 0)
                        return r;
        }

        if (size >= h->limits.head_max) {
                if (in_request_line)
                        return refuse(h, 414, "URI_TOO_LONG", "The request line exceeds %zu bytes", h->limits.head_max);
                return refuse(h, 431, "HEADERS_TOO_LARGE", "The request head exceeds %zu bytes", h->limits.head_max);
        }
        return 0;
}
