/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <systemd/sd-event.h>

#include "curl-glue.h"
#include "golemctl-http.h"
#include "json-util.h"
#include "parse-util.h"
#include "validate.h"

#define ERROR_CODE_MAX 64
#define ERROR_MESSAGE_MAX 1024

char *string_printable(const char *s, size_t max) {
        size_t n = strlen(strempty(s));
        char *copy;

        if (n > max) {
                n = max;
                /* Do not cut a multi-byte sequence in half. */
                while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                        n--;
        }
        copy = strndup(strempty(s), n);
        if (!copy)
                return NULL;

        for (unsigned char *p = (unsigned char *) copy; *p; p++) {
                if (*p < 0x20 || *p == 0x7f)
                        *p = ' ';
                else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
                        /* U+0080..U+009F, the C1 controls (CSI is U+009B). */
                        p[0] = ' ';
                        p[1] = ' ';
                        p++;
                }
        }
        return copy;
}

int http_call_init(HttpCall *c, const char *method, const char *url, json_object *body, usec_t timeout) {
        *c = (HttpCall) {
                .method = method,
                .timeout = timeout,
        };
        c->url = strdup(url);
        if (!c->url)
                return -ENOMEM;
        if (body) {
                const char *s = json_to_string(body, false);

                c->body = s ? strdup(s) : NULL;
                if (!c->body) {
                        c->url = mfree(c->url);
                        return -ENOMEM;
                }
        }
        return 0;
}

int http_call_add_header(HttpCall *c, const char *name, const char *value) {
        size_t n = 0;

        if (strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n"))
                return -EINVAL;
        while (n < HTTP_CALL_HEADERS_MAX && c->headers[n])
                n++;
        if (n >= HTTP_CALL_HEADERS_MAX)
                return -E2BIG;
        if (asprintf(&c->headers[n], "%s: %s", name, value) < 0) {
                c->headers[n] = NULL;
                return -ENOMEM;
        }
        return 0;
}

const char *http_call_target(const HttpCall *c) {
        const char *p = strstr(strempty(c->url), "://");

        if (!p)
                return NULL;
        p += 3;
        p += strcspn(p, "/?#");
        return *p == '/' ? p : NULL;
}

void http_call_done(HttpCall *c) {
        if (!c)
                return;
        free(c->url);
        free(c->body);
        for (size_t i = 0; i < HTTP_CALL_HEADERS_MAX; i++)
                free(c->headers[i]);
        json_object_put(c->json);
        free(c->text);
        free(c->error_code);
        free(c->error_message);
        *c = (HttpCall) {};
}

static char *detail_message(json_object *detail) {
        json_object *v;

        if (json_object_is_type(detail, json_type_string))
                return string_printable(json_object_get_string(detail), ERROR_MESSAGE_MAX);

        if (json_object_is_type(detail, json_type_object) &&
            json_object_object_get_ex(detail, "message", &v) &&
            json_object_is_type(v, json_type_string))
                return string_printable(json_object_get_string(v), ERROR_MESSAGE_MAX);

        if (json_object_is_type(detail, json_type_array) && json_object_array_length(detail) > 0) {
                json_object *first = json_object_array_get_idx(detail, 0);

                if (json_object_is_type(first, json_type_object) &&
                    json_object_object_get_ex(first, "msg", &v) &&
                    json_object_is_type(v, json_type_string))
                        return string_printable(json_object_get_string(v), ERROR_MESSAGE_MAX);
        }
        return NULL;
}

void http_error_from_json(json_object *o, char **ret_code, char **ret_message) {
        json_object *detail, *v;
        const char *s;

        *ret_code = *ret_message = NULL;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "detail", &detail))
                return;

        if (json_object_is_type(detail, json_type_object) &&
            json_object_object_get_ex(detail, "code", &v) &&
            json_get_string(v, ERROR_CODE_MAX, &s) >= 0 && token_valid(s, ERROR_CODE_MAX, "_.-"))
                *ret_code = strdup(s);

        *ret_message = detail_message(detail);
        if (*ret_message && isempty(*ret_message))
                *ret_message = mfree(*ret_message);
}

typedef struct Batch {
        sd_event *event;
        size_t pending;
} Batch;

typedef struct Slot {
        Batch *batch;
        HttpCall *call;
} Slot;

static void on_done(CurlRequest *req, int result, long status, const char *body, size_t size, void *userdata) {
        Slot *slot = userdata;
        HttpCall *c = slot->call;

        c->result = result;
        c->status = status;
        if (result >= 0 && size > 0 && c->keep_text && status == 200) {
                /* curl-glue frees the body when this returns. A failed copy is a transport
                 * failure, as running out of memory in curl-glue is. */
                c->text = malloc(size + 1);
                if (c->text) {
                        memcpy(c->text, body, size + 1);
                        c->text_size = size;
                } else
                        c->result = -ENOMEM;
        } else if (result >= 0 && size > 0) {
                if (json_parse(body, size, &c->json) < 0)
                        c->body_invalid = true;
        }
        if (result >= 0 && (status < 200 || status > 299) && c->json)
                http_error_from_json(c->json, &c->error_code, &c->error_message);

        if (--slot->batch->pending == 0)
                (void) sd_event_exit(slot->batch->event, 0);
}

int http_call_run_many(HttpCall *calls, size_t n) {
        _cleanup_free_ Slot *slots = NULL;
        sd_event *event = NULL;
        CurlGlue *glue = NULL;
        Batch batch = {};
        int r;

        if (n == 0)
                return 0;

        slots = calloc(n, sizeof(Slot));
        if (!slots)
                return -ENOMEM;

        r = sd_event_new(&event);
        if (r < 0)
                return r;
        r = curl_glue_new(event, &glue);
        if (r < 0) {
                sd_event_unref(event);
                return r;
        }
        batch.event = event;

        for (size_t i = 0; i < n; i++) {
                HttpCall *c = calls + i;
                const char *headers[2 + HTTP_CALL_HEADERS_MAX + 1] = { "Accept: application/json" };
                size_t k = 1;

                if (c->body)
                        headers[k++] = "Content-Type: application/json";
                for (size_t j = 0; j < HTTP_CALL_HEADERS_MAX && c->headers[j]; j++)
                        headers[k++] = c->headers[j];

                c->result = -EIO;
                c->status = 0;
                slots[i] = (Slot) { &batch, c };
                r = curl_glue_request(glue, c->method, c->url, headers,
                                      c->body, c->body ? strlen(c->body) : 0, c->timeout,
                                      on_done, slots + i, NULL);
                if (r < 0) {
                        c->result = r;
                        continue;
                }
                batch.pending++;
        }

        r = 0;
        if (batch.pending > 0)
                r = sd_event_loop(event);

        curl_glue_free(glue);
        sd_event_unref(event);
        return r < 0 ? r : 0;
}

int http_call_run(HttpCall *c) {
        return http_call_run_many(c, 1);
}

bool http_call_ok(const HttpCall *c, long status) {
        return c->result >= 0 && c->status == status && (c->json || c->text);
}

bool http_call_not_sent(const HttpCall *c) {
        return c->result < 0 &&
               IN_SET(-c->result, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, EINVAL);
}

/* Better words than strerror()'s for what goes wrong on the way. */
static const struct {
        int error;
        const char *text;
} transport_error_table[] = {
        { EHOSTUNREACH, "Host not found or unreachable" },
        { ETIMEDOUT,    "No answer (timed out)" },
        { EFBIG,        "Answer too large" },
        { EPROTO,       "TLS handshake failed (is it a plain http:// server?)" },
        { EKEYREJECTED, "Its TLS certificate is not trusted" },
        { ECONNRESET,   "The connection was closed without an answer" },
};

const char *http_call_reason(const HttpCall *c, char *buf, size_t size) {
        if (c->result < 0) {
                const char *text = strerror(-c->result);

                for (size_t i = 0; i < ELEMENTSOF(transport_error_table); i++)
                        if (transport_error_table[i].error == -c->result)
                                text = transport_error_table[i].text;
                snprintf(buf, size, "%s", text);
        } else if (c->error_message)
                snprintf(buf, size, "%s", c->error_message);
        else if (c->status >= 200 && c->status <= 299)
                snprintf(buf, size, "Invalid answer (HTTP %ld, %s)", c->status,
                         c->body_invalid ? "body is not JSON" : "unexpected body");
        else
                snprintf(buf, size, "HTTP %ld%s", c->status,
                         c->body_invalid ? " (body is not JSON)" : "");
        return buf;
}

/* What libcurl's URL parser refuses in a host name. */
#define HOST_BAD_CHARS " \r\n\t/:#?!@{}[]\\$'\"^`*<>=;,+&()%"

static bool ipv6_literal_valid(const char *s, size_t n) {
        char buf[IP_ADDRESS_MAX];
        struct in6_addr a;
        const char *zone = memchr(s, '%', n);

        /* A zone: "%25" and the interface as RFC 6874 writes it, or just "%" before it. */
        if (zone) {
                size_t k = n - (size_t) (zone - s);     /* with the '%' */
                size_t skip = k > 3 && strncmp(zone, "%25", 3) == 0 ? 3 : 1;

                if (k <= skip ||
                    !string_in_charset(zone + skip, k - skip,
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"))
                        return false;
                n = (size_t) (zone - s);
        }
        if (n == 0 || n >= sizeof(buf))
                return false;
        memcpy(buf, s, n);
        buf[n] = 0;
        return inet_pton(AF_INET6, buf, &a) == 1;
}

bool http_url_valid(const char *url) {
        const char *p, *end, *at, *host, *host_end;

        if (isempty(url) || strlen(url) > 2048)
                return false;
        for (p = url; *p; p++)
                if ((unsigned char) *p <= 0x20 || *p == 0x7f)
                        return false;

        if (strncasecmp(url, "http://", 7) == 0)
                p = url + 7;
        else if (strncasecmp(url, "https://", 8) == 0)
                p = url + 8;
        else
                return false;

        /* The authority ends where the path, the query or the fragment starts; user
         * information in it ends at the first '@' (a second one is no host). */
        end = p + strcspn(p, "/?#");
        at = memchr(p, '@', (size_t) (end - p));
        host = at ? at + 1 : p;

        if (*host == '[') {
                const char *close = memchr(host, ']', (size_t) (end - host));

                if (!close || !ipv6_literal_valid(host + 1, (size_t) (close - host - 1)))
                        return false;
                host_end = close + 1;
        } else {
                const char *colon = memchr(host, ':', (size_t) (end - host));

                host_end = colon ?: end;
                if (host_end == host)
                        return false;
                for (const char *h = host; h < host_end; h++)
                        if (strchr(HOST_BAD_CHARS, *h))
                                return false;
        }

        /* An optional port (its digits may be left out, as libcurl allows). */
        if (host_end < end) {
                unsigned port = 0;

                if (*host_end != ':' || end - host_end > 6)
                        return false;
                for (const char *d = host_end + 1; d < end; d++) {
                        if (*d < '0' || *d > '9')
                                return false;
                        port = port * 10 + (unsigned) (*d - '0');
                }
                if (port > 65535)
                        return false;
        }
        return true;
}

int url_joinv(char **ret, const char *base, const char *path_format, va_list ap) {
        _cleanup_free_ char *path = NULL;
        size_t n = strlen(base);

        if (vasprintf(&path, path_format, ap) < 0)
                return -ENOMEM;

        while (n > 0 && base[n - 1] == '/')
                n--;
        return asprintf(ret, "%.*s%s", (int) n, base, path) < 0 ? -ENOMEM : 0;
}

int url_join(char **ret, const char *base, const char *path_format, ...) {
        va_list ap;
        int r;

        va_start(ap, path_format);
        r = url_joinv(ret, base, path_format, ap);
        va_end(ap);
        return r;
}

int url_from_ip(const char *ip, uint16_t port, char **ret) {
        char canonical[IP_ADDRESS_MAX];
        int r;

        r = ip_address_canonicalize(ip, canonical);
        if (r < 0)
                return r;
        r = strchr(canonical, ':') ? asprintf(ret, "http://[%s]:%u", canonical, (unsigned) port)
                                   : asprintf(ret, "http://%s:%u", canonical, (unsigned) port);
        return r < 0 ? -ENOMEM : 0;
}
