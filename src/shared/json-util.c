/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <string.h>

#include "json-util.h"
#include "utf8.h"

/* Strict UTF-8 (RFC 3629) without NUL bytes. json-c's own check only looks at the shape of
 * each sequence, so overlong forms ("\xc0\xaf" for '/'), UTF-16 surrogates and code points
 * above U+10FFFF get through it; and a NUL byte is never part of a JSON text. */
static bool utf8_valid_no_nul(const char *buf, size_t size) {
        for (size_t i = 0, len; i < size; i += len) {
                len = utf8_char_len(buf + i, size - i);
                if (len == 0 || buf[i] == 0)
                        return false;
        }
        return true;
}

int json_parse(const char *buf, size_t size, json_object **ret) {
        json_tokener *tok;
        json_object *o;
        size_t end;

        if (size > INT32_MAX)
                return -E2BIG;
        if (!utf8_valid_no_nul(buf, size))
                return -EBADMSG;

        tok = json_tokener_new_ex(JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

        o = json_tokener_parse_ex(tok, buf, (int) size);
        if (!o && json_tokener_get_error(tok) == json_tokener_continue) {
                /* A value that ends with the buffer ("1", "true") waits for more input: say
                 * that there is none, as json_tokener_parse() does with the terminating NUL.
                 * Then the whole buffer has been consumed, so nothing is left after the value. */
                o = json_tokener_parse_ex(tok, "", 1);
                if (o && json_tokener_get_error(tok) == json_tokener_success) {
                        json_tokener_free(tok);
                        *ret = o;
                        return 0;
                }
        }
        if (!o || json_tokener_get_error(tok) != json_tokener_success) {
                /* An incomplete document ("{") leaves the tokener in json_tokener_continue. */
                json_object_put(o);
                json_tokener_free(tok);
                return -EBADMSG;
        }
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        for (; end < size; end++)
                if (!strchr(" \t\r\n", buf[end])) {
                        json_object_put(o);
                        return -EBADMSG;
                }

        *ret = o;
        return 0;
}

int json_get_string(json_object *o, size_t max, const char **ret) {
        const char *s;
        int n;

        if (!json_object_is_type(o, json_type_string))
                return -EINVAL;
        s = json_object_get_string(o);
        n = json_object_get_string_len(o);
        if (n < 0 || (size_t) n > max || strlen(s) != (size_t) n)
                return -EINVAL;
        for (int i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return -EINVAL;
        *ret = s;
        return 0;
}

int json_get_int(json_object *o, int64_t min, int64_t max, int64_t *ret) {
        int64_t v;

        if (!json_object_is_type(o, json_type_int))
                return -EINVAL;
        errno = 0;
        v = json_object_get_int64(o);
        if (v == INT64_MAX || v == INT64_MIN) {
                /* json-c saturates on overflow: a value this large is never meant. */
                return -ERANGE;
        }
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int json_get_number(json_object *o, double *ret) {
        double v;

        if (json_object_is_type(o, json_type_int)) {
                int64_t i = json_object_get_int64(o);
                if (i == INT64_MAX || i == INT64_MIN)
                        return -ERANGE;
                *ret = (double) i;
                return 0;
        }
        if (!json_object_is_type(o, json_type_double))
                return -EINVAL;
        v = json_object_get_double(o);
        if (!isfinite(v))
                return -ERANGE;
        *ret = v;
        return 0;
}

const char *json_to_string(json_object *o, bool pretty) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE;

        flags |= pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN;
        return json_object_to_json_string_ext(o, flags);
}

json_object *json_string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}
