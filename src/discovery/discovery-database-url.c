/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "discovery-database-url.h"
#include "macro.h"

/* Whether the parameter p[0..len) is "password=..." once percent-decoded, as libpq reads it. */
static bool param_is_password(const char *p, size_t len) {
        static const char keyword[] = "password";
        const char *eq = memchr(p, '=', len);
        size_t k = 0;

        if (!eq)
                return false;
        for (const char *q = p; q < eq; q++) {
                char c = *q;

                if (c == '%' && eq - q > 2) {
                        char hex[3] = { q[1], q[2], 0 }, *end;
                        unsigned long v = strtoul(hex, &end, 16);

                        if (*end == 0 && hex[0] != '+' && hex[0] != '-' && hex[0] != ' ') {
                                c = (char) v;
                                q += 2;
                        }
                }
                if (k >= strlen(keyword) || keyword[k] != c)
                        return false;
                k++;
        }
        return k == strlen(keyword);
}

/* Where the "?" of the parameters is, as libpq finds it after the user info: past
 * host[:port] (a host in brackets is taken whole) and its ','-separated list, then /dbname. */
static char *params_start(const char *p) {
        do {
                if (*p == ',')
                        p++;
                if (*p == '[') {
                        p = strchr(p, ']');
                        if (!p)
                                return NULL;
                        p++;
                } else
                        p += strcspn(p, ":/?,");
                if (*p == ':')
                        p += strcspn(p, "/?,");
        } while (*p == ',');
        if (*p == '/')
                p += strcspn(p, "?");
        return *p == '?' ? (char *) p : NULL;
}

static const char *url_rest(const char *url) {
        return startswith(url, "postgresql://") ?: startswith(url, "postgres://");
}

bool database_url_valid(const char *url) {
        PQconninfoOption *options;
        char *error = NULL;
        size_t n;

        if (!url || !url_rest(url))
                return false;
        n = strnlen(url, DATABASE_URL_MAX + 1);
        if (n > DATABASE_URL_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) url[i] <= ' ' || (unsigned char) url[i] >= 0x7f)
                        return false;

        options = PQconninfoParse(url, &error);
        PQfreemem(error);
        if (!options)
                return false;
        PQconninfoFree(options);
        return true;
}

int database_url_redact(const char *url, char **ret) {
        _cleanup_free_ char *d = NULL;
        const char *rest;
        char *at, *colon, *p;
        size_t k;

        if (!database_url_valid(url))
                return -EINVAL;

        /* Room for "***" in place of every password character (at least one each). */
        d = malloc(strlen(url) * 3 + 1);
        if (!d)
                return -ENOMEM;
        rest = url_rest(url);
        k = (size_t) (rest - url);
        memcpy(d, url, k);

        /* scheme://[user[:password]@]host...: as libpq reads it, user info is there when an '@'
         * comes before any '/', and ends at the first '@'. */
        at = (char *) rest + strcspn(rest, "@/");
        if (*at != '@')
                at = NULL;
        colon = at ? memchr(rest, ':', (size_t) (at - rest)) : NULL;
        if (colon) {
                memcpy(d + k, rest, (size_t) (colon - rest) + 1);
                k += (size_t) (colon - rest) + 1;
                memcpy(d + k, "***", 3);
                k += 3;
                rest = at;
        }

        /* ?...&password=secret&...: the parameter's value (libpq splits at '&' only). */
        p = params_start(at ? at + 1 : rest);
        if (!p) {
                strcpy(d + k, rest);
                *ret = TAKE_PTR(d);
                return 0;
        }
        memcpy(d + k, rest, (size_t) (p - rest) + 1);
        k += (size_t) (p - rest) + 1;
        p++;
        while (*p) {
                size_t len = strcspn(p, "&");

                if (param_is_password(p, len)) {
                        memcpy(d + k, "password=***", strlen("password=***"));
                        k += strlen("password=***");
                } else {
                        memcpy(d + k, p, len);
                        k += len;
                }
                p += len;
                if (*p)
                        d[k++] = *p++;
        }
        d[k] = 0;
        *ret = TAKE_PTR(d);
        return 0;
}
