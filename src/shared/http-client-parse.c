/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "http-client-parse.h"

static const char *const http_response_state_table[_HTTP_RESPONSE_STATE_MAX] = {
        [HTTP_RESPONSE_STATUS_LINE]    = "status-line",
        [HTTP_RESPONSE_HEADERS]        = "headers",
        [HTTP_RESPONSE_BODY_LENGTH]    = "body",
        [HTTP_RESPONSE_CHUNK_SIZE]     = "chunk-size",
        [HTTP_RESPONSE_CHUNK_DATA]     = "chunk-data",
        [HTTP_RESPONSE_CHUNK_DATA_END] = "chunk-data-end",
        [HTTP_RESPONSE_TRAILERS]       = "trailers",
        [HTTP_RESPONSE_BODY_CLOSE]     = "body-until-close",
        [HTTP_RESPONSE_DONE]           = "done",
};

DEFINE_STRING_TABLE_LOOKUP(http_response_state, HttpResponseState);

/* ---- character classes, ASCII only whatever the locale ---- */

static bool ascii_isdigit(char c) {
        return c >= '0' && c <= '9';
}

static bool ascii_isalpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Makes room for need bytes: at least double, at least min, at most max (need <= max). */
static int grow(char **buf, size_t *allocated, size_t need, size_t min, size_t max) {
        size_t a;
        char *b;

        if (need <= *allocated)
                return 0;
        a = MIN(MAX(MAX(*allocated * 2, need), min), max);
        b = realloc(*buf, a);
        if (!b)
                return -ENOMEM;
        *buf = b;
        *allocated = a;
        return 0;
}

static char ascii_tolower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

static int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

static bool ascii_prefix_nocase(const char *s, const char *prefix) {
        for (; *prefix; s++, prefix++)
                if (ascii_tolower(*s) != *prefix)
                        return false;
        return true;
}

static bool ascii_strcaseeq_n(const char *s, size_t n, const char *t) {
        if (strlen(t) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (ascii_tolower(s[i]) != ascii_tolower(t[i]))
                        return false;
        return true;
}

/* RFC 9110 tchar. */
static bool token_char(char c) {
        return ascii_isalpha(c) || ascii_isdigit(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field value or reason phrase: anything but controls; HTAB and obs-text are fine. */
static bool field_text_valid(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
                        return false;
        return true;
}

/* RFC 3986 pchar, "/" and "?" (path and query), percent-encoding checked. */
static bool url_target_valid(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == '%') {
                        if (n - i < 3 || unhexchar(s[i + 1]) < 0 || unhexchar(s[i + 2]) < 0)
                                return false;
                        i += 2;
                        continue;
                }
                if (ascii_isalpha(c) || ascii_isdigit(c))
                        continue;
                if (c == 0 || !strchr("-._~!$&'()*+,;=:@/?", c))
                        return false;
        }
        return true;
}

/* ---- URLs ---- */

void http_url_done(HttpUrl *u) {
        if (!u)
                return;
        free(u->host);
        free(u->authority);
        free(u->target);
        *u = (HttpUrl) {};
}

/* A DNS name of letters, digits and '-' in labels of 1-63 characters that neither start nor
 * end with '-', an optional final dot; or, when the last label starts with a digit, exactly a
 * dotted-quad IPv4 address (so that "1.2.3" or "0x7f.1" never reach the resolver's
 * inet_aton()). */
static bool url_host_valid(const char *host, size_t n) {
        const char *last_label = host;
        size_t label = 0;
        char buf[INET_ADDRSTRLEN];
        struct in_addr a;

        if (n == 0 || n > HTTP_HOST_MAX)
                return false;
        if (host[n - 1] == '.') {
                if (n == 1)
                        return false;
                n--;
        }

        for (size_t i = 0; i < n; i++) {
                char c = host[i];

                if (c == '.') {
                        if (label == 0 || host[i - 1] == '-')
                                return false;
                        label = 0;
                        last_label = host + i + 1;
                        continue;
                }
                if (!ascii_isalpha(c) && !ascii_isdigit(c) && c != '-')
                        return false;
                if (c == '-' && label == 0)
                        return false;
                if (++label > 63)
                        return false;
        }
        if (label == 0 || host[n - 1] == '-')
                return false;

        if (!ascii_isdigit(*last_label))
                return true;
        if (n >= sizeof(buf))
                return false;
        memcpy(buf, host, n);
        buf[n] = 0;
        return inet_pton(AF_INET, buf, &a) == 1;
}

int http_url_parse(const char *url, HttpUrl *ret) {
        _cleanup_(http_url_done) HttpUrl u = {};
        const char *p, *host, *port = NULL, *rest, *fragment;
        size_t authority_size, host_size, n;

        if (!url || !ret)
                return -EINVAL;
        if (strnlen(url, HTTP_URL_MAX + 1) > HTTP_URL_MAX)
                return -EINVAL;

        if (ascii_prefix_nocase(url, "http://"))
                p = url + strlen("http://");
        else if (ascii_prefix_nocase(url, "https://")) {
                u.https = true;
                p = url + strlen("https://");
        } else
                return -EINVAL;

        authority_size = strcspn(p, "/?#");
        rest = p + authority_size;
        if (memchr(p, '@', authority_size))
                return -EINVAL; /* user information: libcurl's */

        if (*p == '[') {
                const char *close = memchr(p, ']', authority_size);
                char buf[INET6_ADDRSTRLEN];
                struct in6_addr a;

                if (!close)
                        return -EINVAL;
                host = p + 1;
                host_size = (size_t) (close - host);
                if (host_size == 0 || host_size >= sizeof(buf))
                        return -EINVAL;
                memcpy(buf, host, host_size);
                buf[host_size] = 0;
                if (inet_pton(AF_INET6, buf, &a) != 1)
                        return -EINVAL;
                u.host_is_ipv6 = true;
                if (close + 1 < rest) {
                        if (close[1] != ':')
                                return -EINVAL;
                        port = close + 2;
                }
        } else {
                const char *colon = memchr(p, ':', authority_size);

                host = p;
                host_size = colon ? (size_t) (colon - p) : authority_size;
                if (!url_host_valid(host, host_size))
                        return -EINVAL;
                if (colon)
                        port = colon + 1;
        }

        if (port) {
                unsigned v = 0;

                n = (size_t) (rest - port);
                if (n == 0 || n > 5)
                        return -EINVAL;
                for (size_t i = 0; i < n; i++) {
                        if (!ascii_isdigit(port[i]))
                                return -EINVAL;
                        v = v * 10 + (unsigned) (port[i] - '0');
                }
                if (v == 0 || v > 65535)
                        return -EINVAL;
                u.port = (uint16_t) v;
        } else
                u.port = u.https ? 443 : 80;

        fragment = strchr(rest, '#');
        n = fragment ? (size_t) (fragment - rest) : strlen(rest);
        if (!url_target_valid(rest, n))
                return -EINVAL;
        if (fragment && (strchr(fragment + 1, '#') || !url_target_valid(fragment + 1, strlen(fragment + 1))))
                return -EINVAL;

        u.host = strndup(host, host_size);
        u.authority = strndup(p, authority_size);
        if (n == 0)
                u.target = strdup("/");
        else if (*rest == '?') {
                u.target = malloc(n + 2);
                if (u.target) {
                        u.target[0] = '/';
                        memcpy(u.target + 1, rest, n);
                        u.target[n + 1] = 0;
                }
        } else
                u.target = strndup(rest, n);
        if (!u.host || !u.authority || !u.target)
                return -ENOMEM;

        *ret = u;
        u = (HttpUrl) {};
        return 0;
}

/* ---- responses ---- */

void http_response_parser_init(HttpResponseParser *p, bool head, size_t body_max) {
        *p = (HttpResponseParser) {
                .head = head,
                .body_max = body_max,
                .state = HTTP_RESPONSE_STATUS_LINE,
        };
}

void http_response_parser_done(HttpResponseParser *p) {
        if (!p)
                return;
        free(p->line);
        free(p->body);
        *p = (HttpResponseParser) {};
}

/* Takes bytes up to and including the next LF into p->line. Returns 1 when the line is
 * complete (p->line NUL-terminated without its CRLF or LF, p->line_size its length), 0 when
 * data ran out first, -EBADMSG when the line with its end would be longer than max, or holds
 * a bare CR or a NUL. *ret_consumed is what was taken. */
static int parser_gather_line(HttpResponseParser *p, const char *data, size_t size, size_t max,
                              size_t *ret_consumed) {
        const char *lf = memchr(data, '\n', size);
        size_t n = lf ? (size_t) (lf - data) + 1 : size, total;

        if (n > max || p->line_size > max - n)
                return -EBADMSG;
        total = p->line_size + n;

        if (grow(&p->line, &p->line_allocated, total + 1, 0, max + 1) < 0)
                return -ENOMEM;
        memcpy(p->line + p->line_size, data, n);
        p->line_size = total;
        *ret_consumed = n;
        if (!lf)
                return 0;

        total--;                                        /* the LF */
        if (total > 0 && p->line[total - 1] == '\r')
                total--;
        p->line[total] = 0;
        p->line_size = total;
        if (memchr(p->line, '\r', total) || memchr(p->line, 0, total))
                return -EBADMSG;
        return 1;
}

static int parser_body_append(HttpResponseParser *p, const char *data, size_t n) {
        if (n > p->body_max - p->body_size)
                return -EFBIG;

        if (grow(&p->body, &p->body_allocated, p->body_size + n + 1, 4096, p->body_max + 1) < 0)
                return -ENOMEM;
        memcpy(p->body + p->body_size, data, n);
        p->body_size += n;
        p->body[p->body_size] = 0;
        return 0;
}

/* HTTP/1.x SP 3DIGIT [SP reason-phrase]. */
static int parse_status_line(HttpResponseParser *p, const char *line) {
        const char *s;
        int status;

        s = startswith(line, "HTTP/1.");
        if (!s || !ascii_isdigit(s[0]) || s[1] != ' ')
                return -EBADMSG;
        p->version_minor = (unsigned) (s[0] - '0');
        s += 2;

        if (s[0] < '1' || s[0] > '5' || !ascii_isdigit(s[1]) || !ascii_isdigit(s[2]))
                return -EBADMSG;
        status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
        s += 3;
        if (*s != 0 && (*s != ' ' || !field_text_valid(s + 1)))
                return -EBADMSG;
        if (status == 101)
                return -EBADMSG; /* never asked to switch protocols */

        p->status = status;
        return 0;
}

/* The elements of a comma-separated list with optional white space around them; NULL when
 * none is left. An empty element is returned as one of size 0. */
static const char *list_next(const char **s, size_t *ret_size) {
        const char *start, *end;

        if (!*s)
                return NULL;
        start = *s + strspn(*s, " \t");
        end = strchr(start, ',');
        *s = end ? end + 1 : NULL;
        if (!end)
                end = start + strlen(start);
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *ret_size = (size_t) (end - start);
        return start;
}

/* 1*DIGIT, or a list of the same value repeated; the same as any Content-Length before. */
static int parse_content_length(HttpResponseParser *p, const char *value) {
        const char *e;
        size_t n;

        if (isempty(value))
                return -EBADMSG;

        while ((e = list_next(&value, &n))) {
                uint64_t v = 0;

                if (n == 0 || n > 19)
                        return -EBADMSG; /* empty, or more than fits (1e19 > UINT64_MAX / 10 * 10) */
                for (size_t i = 0; i < n; i++) {
                        if (!ascii_isdigit(e[i]))
                                return -EBADMSG;
                        v = v * 10 + (uint64_t) (e[i] - '0');
                }
                if (p->have_content_length && v != p->content_length)
                        return -EBADMSG;
                p->have_content_length = true;
                p->content_length = v;
        }
        return 0;
}

/* Only "chunked", once. */
static int parse_transfer_encoding(HttpResponseParser *p, const char *value) {
        const char *e;
        size_t n;

        if (isempty(value))
                return -EBADMSG;

        while ((e = list_next(&value, &n))) {
                if (!ascii_strcaseeq_n(e, n, "chunked") || p->chunked)
                        return -EBADMSG;
                p->chunked = true;
        }
        return 0;
}

/* field-name ":" OWS field-value OWS. With trailers, only the syntax counts. */
static int parse_header_line(HttpResponseParser *p, char *line, bool trailer) {
        char *value, *end;
        size_t n = 0;

        if (line[0] == ' ' || line[0] == '\t')
                return -EBADMSG; /* obs-fold */
        while (token_char(line[n]))
                n++;
        if (n == 0 || line[n] != ':')
                return -EBADMSG;

        value = line + n + 1;
        value += strspn(value, " \t");
        end = value + strlen(value);
        while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *end = 0;
        if (!field_text_valid(value))
                return -EBADMSG;
        if (trailer)
                return 0;

        if (ascii_strcaseeq_n(line, n, "Content-Length"))
                return parse_content_length(p, value);
        if (ascii_strcaseeq_n(line, n, "Transfer-Encoding"))
                return parse_transfer_encoding(p, value);
        return 0;
}

/* The empty line after the header fields: what comes next (RFC 9112, section 6.3). */
static int parser_headers_end(HttpResponseParser *p) {
        if (p->status < 200) {
                /* An interim response: the real one follows. */
                if (++p->n_interim > HTTP_RESPONSE_INTERIM_MAX)
                        return -EBADMSG;
                p->have_content_length = p->chunked = false;
                p->content_length = 0;
                p->state = HTTP_RESPONSE_STATUS_LINE;
                return 0;
        }

        /* Both framings at once is how responses get split; HTTP/1.0 has no chunks. Refused
         * even where no body follows. */
        if (p->chunked && (p->have_content_length || p->version_minor == 0))
                return -EBADMSG;

        if (p->head || p->status == 204 || p->status == 304) {
                p->state = HTTP_RESPONSE_DONE;
                return 0;
        }

        if (p->chunked) {
                p->state = HTTP_RESPONSE_CHUNK_SIZE;
                return 0;
        }

        if (p->have_content_length) {
                if (p->content_length > p->body_max)
                        return -EFBIG;
                p->remaining = p->content_length;
                p->state = p->remaining > 0 ? HTTP_RESPONSE_BODY_LENGTH : HTTP_RESPONSE_DONE;
                return 0;
        }

        p->state = HTTP_RESPONSE_BODY_CLOSE;
        return 0;
}

/* 1*HEXDIG [BWS ";" chunk-ext]; the extensions are ignored. */
static int parse_chunk_size(HttpResponseParser *p, const char *line) {
        uint64_t v = 0;
        size_t n = 0;
        const char *s;

        for (; unhexchar(line[n]) >= 0; n++) {
                if (v > (UINT64_MAX >> 4))
                        return -EFBIG;
                v = (v << 4) | (uint64_t) unhexchar(line[n]);
        }
        if (n == 0)
                return -EBADMSG;

        s = line + n + strspn(line + n, " \t");
        if (*s != 0 && (*s != ';' || !field_text_valid(s)))
                return -EBADMSG;

        if (v > p->body_max - p->body_size)
                return -EFBIG;
        p->remaining = v;
        p->state = v > 0 ? HTTP_RESPONSE_CHUNK_DATA : HTTP_RESPONSE_TRAILERS;
        return 0;
}

static int parser_feed_internal(HttpResponseParser *p, const char *data, size_t size) {
        int r;

        while (size > 0 && p->state != HTTP_RESPONSE_DONE) {
                size_t n = 0;

                switch (p->state) {

                case HTTP_RESPONSE_STATUS_LINE:
                case HTTP_RESPONSE_HEADERS:
                case HTTP_RESPONSE_TRAILERS: {
                        size_t before = p->line_size; /* kept as it came until the line is complete */

                        r = parser_gather_line(p, data, size, HTTP_RESPONSE_HEADERS_MAX - p->header_bytes, &n);
                        if (r < 0)
                                return r;
                        data += n;
                        size -= n;
                        if (r == 0)
                                break;
                        p->header_bytes += before + n;

                        if (p->state == HTTP_RESPONSE_STATUS_LINE) {
                                r = parse_status_line(p, p->line);
                                if (r >= 0)
                                        p->state = HTTP_RESPONSE_HEADERS;
                        } else if (p->line_size == 0) {
                                if (p->state == HTTP_RESPONSE_TRAILERS) {
                                        p->state = HTTP_RESPONSE_DONE;
                                        r = 0;
                                } else
                                        r = parser_headers_end(p);
                        } else
                                r = parse_header_line(p, p->line, p->state == HTTP_RESPONSE_TRAILERS);
                        p->line_size = 0;
                        if (r < 0)
                                return r;
                        break;
                }

                case HTTP_RESPONSE_CHUNK_SIZE:
                case HTTP_RESPONSE_CHUNK_DATA_END:
                        r = parser_gather_line(p, data, size,
                                               p->state == HTTP_RESPONSE_CHUNK_SIZE ? HTTP_RESPONSE_CHUNK_LINE_MAX : 2,
                                               &n);
                        if (r < 0)
                                return r;
                        data += n;
                        size -= n;
                        if (r == 0)
                                break;

                        if (p->state == HTTP_RESPONSE_CHUNK_SIZE)
                                r = parse_chunk_size(p, p->line);
                        else if (p->line_size != 0)
                                r = -EBADMSG;
                        else {
                                p->state = HTTP_RESPONSE_CHUNK_SIZE;
                                r = 0;
                        }
                        p->line_size = 0;
                        if (r < 0)
                                return r;
                        break;

                case HTTP_RESPONSE_BODY_LENGTH:
                case HTTP_RESPONSE_CHUNK_DATA:
                        n = (size_t) MIN((uint64_t) size, p->remaining);
                        r = parser_body_append(p, data, n);
                        if (r < 0)
                                return r;
                        data += n;
                        size -= n;
                        p->remaining -= n;
                        if (p->remaining == 0)
                                p->state = p->state == HTTP_RESPONSE_BODY_LENGTH ? HTTP_RESPONSE_DONE
                                                                                 : HTTP_RESPONSE_CHUNK_DATA_END;
                        break;

                case HTTP_RESPONSE_BODY_CLOSE:
                        r = parser_body_append(p, data, size);
                        if (r < 0)
                                return r;
                        size = 0;
                        break;

                default:
                        return -EINVAL;
                }
        }

        return p->state == HTTP_RESPONSE_DONE;
}

int http_response_parser_feed(HttpResponseParser *p, const void *data, size_t size) {
        int r;

        if (!p || (!data && size > 0))
                return -EINVAL;
        if (p->error < 0)
                return p->error;

        r = parser_feed_internal(p, data, size);
        if (r < 0)
                p->error = r;
        return r;
}

int http_response_parser_finish(HttpResponseParser *p) {
        if (!p)
                return -EINVAL;
        if (p->error < 0)
                return p->error;

        if (p->state == HTTP_RESPONSE_BODY_CLOSE)
                p->state = HTTP_RESPONSE_DONE;
        if (p->state != HTTP_RESPONSE_DONE)
                p->error = -EIO;
        return p->error < 0 ? p->error : 1;
}

const char *http_response_parser_body(const HttpResponseParser *p, size_t *ret_size) {
        if (ret_size)
                *ret_size = p->body ? p->body_size : 0;
        return p->body ?: "";
}
