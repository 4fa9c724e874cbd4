/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <stdlib.h>
#include <strings.h>

#include "macro.h"
#include "parse-util.h"

int parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (isempty(s))
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        *ret = v;
        return 0;
}

int parse_i64(const char *s, int64_t *ret) {
        bool negative = false;
        uint64_t u;
        int r;

        if (!s)
                return -EINVAL;
        if (*s == '-') {
                negative = true;
                s++;
        }
        r = parse_u64(s, &u);
        if (r < 0)
                return r;
        if (negative) {
                if (u > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                *ret = u == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) u;
        } else {
                if (u > INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t) u;
        }
        return 0;
}

int parse_uint_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        uint64_t v;
        int r;

        r = parse_u64(s, &v);
        if (r < 0)
                return r;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_port(const char *s, uint16_t *ret) {
        uint64_t v;
        int r;

        r = parse_uint_range(s, 1, 65535, &v);
        if (r < 0)
                return r;
        *ret = (uint16_t) v;
        return 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

bool string_in_charset(const char *s, size_t n, const char *charset) {
        for (size_t i = 0; i < n; i++)
                if (s[i] == 0 || !strchr(charset, s[i]))
                        return false;
        return true;
}

bool token_valid(const char *s, size_t max, const char *extra) {
        static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        size_t n;

        if (isempty(s))
                return false;
        n = strlen(s);
        if (n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr(alnum, s[i]) && !strchr(extra, s[i]))
                        return false;
        return true;
}

int free_and_strdup(char **p, const char *s) {
        char *t = NULL;

        if (s) {
                t = strdup(s);
                if (!t)
                        return -ENOMEM;
        }
        free(*p);
        *p = t;
        return 0;
}
