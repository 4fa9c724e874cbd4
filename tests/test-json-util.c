/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "json-util.h"
#include "macro.h"
#include "tests.h"

/* Parses a literal, NULs included (sizeof - 1). */
#define PARSE(lit, ret) json_parse((lit), sizeof(lit) - 1, (ret))

static json_object *parse_ok(const char *text) {
        json_object *o = NULL;

        TEST_CONTEXT("json_parse(%s)", text);
        ASSERT_OK(json_parse(text, strlen(text), &o));
        ASSERT_NOT_NULL(o);
        return o;
}

TEST(json_parse_valid) {
        static const struct {
                const char *in, *out; /* out: as re-serialized */
        } table[] = {
                { "{}", "{}" },
                { "[]", "[]" },
                { "{\"a\":1}", "{\"a\":1}" },
                { " \t\r\n{ \"a\" : [ 1 , 2 ] }", "{\"a\":[1,2]}" },
                { "{\"a\":1} ", "{\"a\":1}" },
                { "{\"a\":1}\n", "{\"a\":1}" },
                { "{\"a\":1} \t\r\n \n", "{\"a\":1}" },
                { "{\"s\":\"x/y\"}", "{\"s\":\"x/y\"}" },
                { "{\"a\":1,\"a\":2}", "{\"a\":2}" }, /* the last duplicate wins */
                { "[\"\\u00e5\"]", "[\"\xc3\xa5\"]" },
                { "[\"\xc3\xa5\"]", "[\"\xc3\xa5\"]" },                 /* U+00E5, 2 bytes */
                { "[\"\xe2\x82\xac\"]", "[\"\xe2\x82\xac\"]" },         /* U+20AC, 3 bytes */
                { "[\"\xef\xbf\xbf\"]", "[\"\xef\xbf\xbf\"]" },         /* U+FFFF */
                { "[\"\xf0\x9f\x98\x80\"]", "[\"\xf0\x9f\x98\x80\"]" }, /* U+1F600, 4 bytes */
                { "[\"\xf4\x8f\xbf\xbf\"]", "[\"\xf4\x8f\xbf\xbf\"]" }, /* U+10FFFF, the last */
                { "[\"\xed\x9f\xbf\"]", "[\"\xed\x9f\xbf\"]" },         /* U+D7FF, before the surrogates */
                /* A value that ends exactly at the end of the buffer. */
                { "1", "1" },
                { "-12", "-12" },
                { "2.5", "2.5" },
                { "true", "true" },
                { "false", "false" },
                { "\"x\"", "\"x\"" },
                { "[1]", "[1]" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = parse_ok(table[i].in);

                ASSERT_STREQ(json_to_string(o, false), table[i].out);
        }
}

TEST(json_parse_refused) {
        static const char *const table[] = {
                "",
                " ",
                "{",
                "[",
                "[1,",
                "{\"a\":",
                "{\"a\"",
                "\"abc",
                "}",
                "{}}",
                "{} x",
                "{}{}",
                "{} {}",
                "[1] ]",
                "[1],",
                "{}\x01",
                "{}\xff",
                "[1,]",
                "{\"a\":1,}",
                "{a:1}",
                "['a']",
                "[01]",
                "[+1]",
                "[.5]",
                "[0x10]",
                "[tru]",
                "[TRUE]",
                "[nul]",
                "/*c*/{}",
                "{}//c",
                "{}#c",
                "null",           /* valid JSON, but there is no object to return */
                "null ",
                /* Invalid UTF-8, in a string and outside one. */
                "[\"\xff\"]",
                "[\"\xfe\"]",
                "[\"\x80\"]",                 /* a lone continuation byte */
                "[\"\xc3\x28\"]",             /* a lead byte without its continuation */
                "[\"\xc3\"]",
                "[\"\xe2\x82\"]",             /* truncated 3-byte sequence */
                "[\"\xc0\xaf\"]",             /* overlong '/' */
                "[\"\xc1\xbf\"]",             /* overlong */
                "[\"\xc0\x80\"]",             /* overlong NUL */
                "[\"\xe0\x80\xaf\"]",         /* overlong '/', 3 bytes */
                "[\"\xf0\x80\x80\xaf\"]",     /* overlong '/', 4 bytes */
                "[\"\xed\xa0\x80\"]",         /* U+D800, a UTF-16 surrogate */
                "[\"\xed\xbf\xbf\"]",         /* U+DFFF */
                "[\"\xf4\x90\x80\x80\"]",     /* U+110000 */
                "[\"\xf5\x80\x80\x80\"]",
                "[\"\xf8\x88\x80\x80\x80\"]", /* 5-byte form */
                "\xef\xbb\xbf{}",            /* a byte order mark */
                "{\"\xff\":1}",
                "{}\xc3\xa5",
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                json_object *o = NULL;

                TEST_CONTEXT("json_parse(%s)", table[i]);
                ASSERT_ERROR(json_parse(table[i], strlen(table[i]), &o), EBADMSG);
                ASSERT_NULL(o);
        }
}

TEST(json_parse_nul) {
        json_object *o = NULL;

        /* A NUL byte is never part of a JSON text: not after the value, where it might pass
         * for the end of a C string, nor before or inside it. */
        ASSERT_ERROR(PARSE("{}\0", &o), EBADMSG);
        ASSERT_ERROR(PARSE("{}\0\0\0", &o), EBADMSG);
        ASSERT_ERROR(PARSE("{} \0", &o), EBADMSG);
        ASSERT_ERROR(PARSE("{}\0{}", &o), EBADMSG);
        ASSERT_ERROR(PARSE("\0{}", &o), EBADMSG);
        ASSERT_ERROR(PARSE("{\"a\":\0 1}", &o), EBADMSG);
        ASSERT_ERROR(PARSE("{\"a\":\"b\0c\"}", &o), EBADMSG);
        ASSERT_ERROR(PARSE("{\"a\0\":1}", &o), EBADMSG);
        ASSERT_ERROR(PARSE("1\0", &o), EBADMSG);
        ASSERT_ERROR(PARSE("\0", &o), EBADMSG);
        ASSERT_NULL(o);

        /* The length is what counts, not a terminating NUL: a prefix of a longer string. */
        ASSERT_OK(json_parse("{}garbage", 2, &o));
        ASSERT_STREQ(json_to_string(o, false), "{}");
        json_object_put(o);
        o = NULL;
        ASSERT_ERROR(json_parse("{}garbage", 3, &o), EBADMSG);
        ASSERT_ERROR(json_parse("[12]34", 3, &o), EBADMSG);
}

static char *nested(size_t depth, const char *open, const char *inner, const char *close) {
        char *s = malloc(depth * (strlen(open) + strlen(close)) + strlen(inner) + 1), *p = s;

        ASSERT_NOT_NULL(s);
        for (size_t i = 0; i < depth; i++)
                p = stpcpy(p, open);
        p = stpcpy(p, inner);
        for (size_t i = 0; i < depth; i++)
                p = stpcpy(p, close);
        return s;
}

TEST(json_parse_depth) {
        json_object *o = NULL;

        /* JSON_DEPTH_MAX (16) nested containers are fine, one more is refused. */
        ASSERT_EQ_INT(JSON_DEPTH_MAX, 16);
        for (size_t depth = 1; depth <= 200; depth++) {
                _cleanup_free_ char *arrays = nested(depth, "[", "", "]");
                _cleanup_free_ char *objects = nested(depth, "{\"a\":", "{}", "}");

                TEST_CONTEXT("depth %zu: %s", depth, arrays);
                if (depth <= JSON_DEPTH_MAX) {
                        ASSERT_OK(json_parse(arrays, strlen(arrays), &o));
                        json_object_put(o);
                } else
                        ASSERT_ERROR(json_parse(arrays, strlen(arrays), &o), EBADMSG);

                /* depth + 1 objects */
                TEST_CONTEXT("depth %zu: %s", depth + 1, objects);
                if (depth + 1 <= JSON_DEPTH_MAX) {
                        ASSERT_OK(json_parse(objects, strlen(objects), &o));
                        json_object_put(o);
                } else
                        ASSERT_ERROR(json_parse(objects, strlen(objects), &o), EBADMSG);
        }

        /* A deep document that is also unterminated. */
        {
                _cleanup_free_ char *s = nested(100000, "[", "", "");

                TEST_CONTEXT("100000 x [");
                ASSERT_ERROR(json_parse(s, strlen(s), &o), EBADMSG);
        }
}

TEST(json_get_string) {
        static const struct {
                const char *json;
                size_t max;
                int r;
                const char *value;
        } table[] = {
                { "\"abc\"", 3, 0, "abc" },
                { "\"abc\"", 100, 0, "abc" },
                { "\"abc\"", 2, -EINVAL, NULL },
                { "\"\"", 0, 0, "" },
                { "\"\"", 10, 0, "" },
                { "\"\xc3\xa5\"", 2, 0, "\xc3\xa5" },    /* the maximum is in bytes */
                { "\"\xc3\xa5\"", 1, -EINVAL, NULL },
                { "\"\\u00e5\"", 2, 0, "\xc3\xa5" },
                { "\"a/b\"", 10, 0, "a/b" },
                { "\"a\\\"b\"", 10, 0, "a\"b" },
                /* NUL and other control characters, escaped or raw. */
                { "\"a\\u0000b\"", 10, -EINVAL, NULL },
                { "\"\\u0000\"", 10, -EINVAL, NULL },
                { "\"a\\u0000\"", 10, -EINVAL, NULL },
                { "\"a\\u0001\"", 10, -EINVAL, NULL },
                { "\"a\\u001f\"", 10, -EINVAL, NULL },
                { "\"a\\u007f\"", 10, -EINVAL, NULL },
                { "\"a\\n\"", 10, -EINVAL, NULL },
                { "\"a\\r\"", 10, -EINVAL, NULL },
                { "\"a\\t\"", 10, -EINVAL, NULL },
                { "\"a\\b\"", 10, -EINVAL, NULL },
                { "\"a\tb\"", 10, -EINVAL, NULL },     /* a raw TAB, which json-c takes */
                { "\"a\\u0020\"", 10, 0, "a " },
                /* Not strings. */
                { "1", 10, -EINVAL, NULL },
                { "1.5", 10, -EINVAL, NULL },
                { "true", 10, -EINVAL, NULL },
                { "[\"a\"]", 10, -EINVAL, NULL },
                { "{\"a\":\"b\"}", 10, -EINVAL, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = parse_ok(table[i].json);
                const char *s = "untouched";

                TEST_CONTEXT("json_get_string(%s, max=%zu)", table[i].json, table[i].max);
                if (table[i].r == 0) {
                        ASSERT_OK(json_get_string(o, table[i].max, &s));
                        ASSERT_STREQ(s, table[i].value);
                } else {
                        ASSERT_EQ_INT(json_get_string(o, table[i].max, &s), table[i].r);
                        ASSERT_STREQ(s, "untouched");
                }
        }

        TEST_CONTEXT("json_get_string(NULL)");
        {
                const char *s = "untouched";
                ASSERT_ERROR(json_get_string(NULL, 10, &s), EINVAL);
        }
}

TEST(json_get_int) {
        static const struct {
                const char *json;
                int64_t min, max;
                int r;
                int64_t value;
        } table[] = {
                { "2", 1, 10, 0, 2 },
                { "1", 1, 10, 0, 1 },
                { "10", 1, 10, 0, 10 },
                { "-0", 0, 10, 0, 0 },
                { "-5", -10, 10, 0, -5 },
                { "2147483647", 1, INT32_MAX, 0, INT32_MAX },
                { "9223372036854775806", 0, INT64_MAX, 0, INT64_MAX - 1 },
                { "-9223372036854775807", INT64_MIN, 0, 0, -INT64_MAX },
                /* Out of range. */
                { "0", 1, 10, -ERANGE, 0 },
                { "11", 1, 10, -ERANGE, 0 },
                { "-1", 0, 10, -ERANGE, 0 },
                { "2147483648", 1, INT32_MAX, -ERANGE, 0 },
                { "4294967297", 1, INT32_MAX, -ERANGE, 0 }, /* must not wrap to 1 */
                /* json-c saturates what does not fit an int64: never a real value. */
                { "9223372036854775807", 0, INT64_MAX, -ERANGE, 0 },
                { "9223372036854775808", 0, INT64_MAX, -ERANGE, 0 },
                { "99999999999999999999", 0, INT64_MAX, -ERANGE, 0 },
                { "-9223372036854775808", INT64_MIN, 0, -ERANGE, 0 },
                { "-99999999999999999999", INT64_MIN, 0, -ERANGE, 0 },
                /* Not integers. */
                { "2.0", 1, 10, -EINVAL, 0 },
                { "2.5", 1, 10, -EINVAL, 0 },
                { "2e0", 1, 10, -EINVAL, 0 },
                { "1E2", 1, 1000, -EINVAL, 0 },
                { "-0.0", -1, 1, -EINVAL, 0 },
                { "\"2\"", 1, 10, -EINVAL, 0 },
                { "true", 0, 10, -EINVAL, 0 },
                { "false", 0, 10, -EINVAL, 0 },
                { "[2]", 1, 10, -EINVAL, 0 },
                { "{\"a\":2}", 1, 10, -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = parse_ok(table[i].json);
                int64_t x = 4242;

                TEST_CONTEXT("json_get_int(%s, %" PRIi64 ", %" PRIi64 ")", table[i].json, table[i].min, table[i].max);
                if (table[i].r == 0) {
                        ASSERT_OK(json_get_int(o, table[i].min, table[i].max, &x));
                        ASSERT_EQ_INT(x, table[i].value);
                } else {
                        ASSERT_EQ_INT(json_get_int(o, table[i].min, table[i].max, &x), table[i].r);
                        ASSERT_EQ_INT(x, 4242);
                }
        }

        {
                /* A JSON null: json-c has no object for it. */
                _cleanup_json_ json_object *o = parse_ok("[null]");
                int64_t x = 4242;

                TEST_CONTEXT("json_get_int(null)");
                ASSERT_ERROR(json_get_int(json_object_array_get_idx(o, 0), 0, 10, &x), EINVAL);
                ASSERT_ERROR(json_get_int(NULL, 0, 10, &x), EINVAL);
                ASSERT_EQ_INT(x, 4242);
        }
}

TEST(json_get_number) {
        static const struct {
                const char *json;
                int r;
                double value;
        } table[] = {
                { "2", 0, 2.0 },
                { "0", 0, 0.0 },
                { "-3", 0, -3.0 },
                { "2.5", 0, 2.5 },
                { "0.25", 0, 0.25 },
                { "-1.5", 0, -1.5 },
                { "1e3", 0, 1000.0 },
                { "1E-2", 0, 0.01 },
                { "2147483648", 0, 2147483648.0 },
                { "1e308", 0, 1e308 },
                { "99999999999999999999", -ERANGE, 0 },
                { "-99999999999999999999", -ERANGE, 0 },
                { "1e999", -ERANGE, 0 },  /* infinite */
                { "-1e999", -ERANGE, 0 },
                { "NaN", -ERANGE, 0 },    /* json-c takes NaN and Infinity even when strict */
                { "Infinity", -ERANGE, 0 },
                { "\"2\"", -EINVAL, 0 },
                { "true", -EINVAL, 0 },
                { "[1]", -EINVAL, 0 },
                { "{}", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = parse_ok(table[i].json);
                double d = 42.0;

                TEST_CONTEXT("json_get_number(%s)", table[i].json);
                if (table[i].r == 0) {
                        ASSERT_OK(json_get_number(o, &d));
                        ASSERT_TRUE(d == table[i].value);
                } else {
                        ASSERT_EQ_INT(json_get_number(o, &d), table[i].r);
                        ASSERT_TRUE(d == 42.0);
                }
        }

        {
                _cleanup_json_ json_object *nan = json_object_new_double(NAN);
                double d = 42.0;

                TEST_CONTEXT("json_get_number(NAN)");
                ASSERT_ERROR(json_get_number(nan, &d), ERANGE);
                ASSERT_ERROR(json_get_number(NULL, &d), EINVAL);
                ASSERT_TRUE(d == 42.0);
        }
}

TEST(json_to_string) {
        _cleanup_json_ json_object *o = parse_ok("{ \"path\" : \"/a/b\", \"n\" : [ 1, 2.5, null, true ] }");

        /* No escaped slashes, no spaces. */
        ASSERT_STREQ(json_to_string(o, false), "{\"path\":\"/a/b\",\"n\":[1,2.5,null,true]}");
        ASSERT_STR_CONTAINS(json_to_string(o, true), "\"path\": \"/a/b\"");
        ASSERT_STR_CONTAINS(json_to_string(o, true), "\n");
}

TEST(json_string_or_null) {
        _cleanup_json_ json_object *s = json_string_or_null("x");

        ASSERT_NULL(json_string_or_null(NULL));
        ASSERT_TRUE(json_object_is_type(s, json_type_string));
        ASSERT_STREQ(json_object_get_string(s), "x");
}
