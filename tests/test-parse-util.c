/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "parse-util.h"
#include "tests.h"

#define SENTINEL_U64 ((uint64_t) 0xdeadbeefULL)
#define SENTINEL_I64 ((int64_t) -0xdeadbeefLL)

TEST(parse_u64) {
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } table[] = {
                { "0", 0, 0 },
                { "1", 0, 1 },
                { "007", 0, 7 },
                { "4294967296", 0, 4294967296ULL },
                { "18446744073709551615", 0, UINT64_MAX },
                /* Overflow, by one and by a lot. */
                { "18446744073709551616", -ERANGE, 0 },
                { "18446744073709551620", -ERANGE, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "999999999999999999999999999999", -ERANGE, 0 },
                /* Signs, spaces, other bases and formats. */
                { "", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "-0", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "1\n", -EINVAL, 0 },
                { "\t1", -EINVAL, 0 },
                { "1 2", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "0b1", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "1.0", -EINVAL, 0 },
                { "1,000", -EINVAL, 0 },
                { "1_000", -EINVAL, 0 },
                { "abc", -EINVAL, 0 },
                { "\xd9\xa1", -EINVAL, 0 }, /* ARABIC-INDIC DIGIT ONE */
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                uint64_t v = SENTINEL_U64;

                TEST_CONTEXT("parse_u64(\"%s\")", table[i].s);
                if (table[i].r == 0) {
                        ASSERT_OK(parse_u64(table[i].s, &v));
                        ASSERT_EQ_UINT(v, table[i].v);
                } else {
                        ASSERT_EQ_INT(parse_u64(table[i].s, &v), table[i].r);
                        ASSERT_EQ_UINT(v, SENTINEL_U64); /* untouched on failure */
                }
        }

        {
                uint64_t v = SENTINEL_U64;
                TEST_CONTEXT("parse_u64(NULL)");
                ASSERT_ERROR(parse_u64(NULL, &v), EINVAL);
                ASSERT_EQ_UINT(v, SENTINEL_U64);
        }
}

TEST(parse_i64) {
        static const struct {
                const char *s;
                int r;
                int64_t v;
        } table[] = {
                { "0", 0, 0 },
                { "-0", 0, 0 },
                { "42", 0, 42 },
                { "-42", 0, -42 },
                { "9223372036854775807", 0, INT64_MAX },
                { "-9223372036854775807", 0, -INT64_MAX },
                { "-9223372036854775808", 0, INT64_MIN },
                { "9223372036854775808", -ERANGE, 0 },
                { "-9223372036854775809", -ERANGE, 0 },
                { "18446744073709551615", -ERANGE, 0 },
                { "-18446744073709551616", -ERANGE, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "-", -EINVAL, 0 },
                { "--1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "+-1", -EINVAL, 0 },
                { "- 1", -EINVAL, 0 },
                { " -1", -EINVAL, 0 },
                { "-1 ", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "-0x10", -EINVAL, 0 },
                { "-abc", -EINVAL, 0 },
                { "1-", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                int64_t v = SENTINEL_I64;

                TEST_CONTEXT("parse_i64(\"%s\")", table[i].s);
                if (table[i].r == 0) {
                        ASSERT_OK(parse_i64(table[i].s, &v));
                        ASSERT_EQ_INT(v, table[i].v);
                } else {
                        ASSERT_EQ_INT(parse_i64(table[i].s, &v), table[i].r);
                        ASSERT_EQ_INT(v, SENTINEL_I64);
                }
        }

        {
                int64_t v = SENTINEL_I64;
                TEST_CONTEXT("parse_i64(NULL)");
                ASSERT_ERROR(parse_i64(NULL, &v), EINVAL);
                ASSERT_EQ_INT(v, SENTINEL_I64);
        }
}

TEST(parse_uint_range) {
        uint64_t v = SENTINEL_U64;

        ASSERT_OK(parse_uint_range("5", 5, 10, &v));
        ASSERT_EQ_UINT(v, 5);
        ASSERT_OK(parse_uint_range("10", 5, 10, &v));
        ASSERT_EQ_UINT(v, 10);
        v = SENTINEL_U64;
        ASSERT_ERROR(parse_uint_range("4", 5, 10, &v), ERANGE);
        ASSERT_ERROR(parse_uint_range("11", 5, 10, &v), ERANGE);
        ASSERT_ERROR(parse_uint_range("99999999999999999999", 5, 10, &v), ERANGE);
        ASSERT_ERROR(parse_uint_range("x", 5, 10, &v), EINVAL);
        ASSERT_ERROR(parse_uint_range("-5", 0, 10, &v), EINVAL);
        ASSERT_EQ_UINT(v, SENTINEL_U64);
}

TEST(parse_port) {
        static const struct {
                const char *s;
                int r;
                uint16_t port;
        } table[] = {
                { "1", 0, 1 },
                { "80", 0, 80 },
                { "9001", 0, 9001 },
                { "65535", 0, 65535 },
                { "0", -ERANGE, 0 },
                { "65536", -ERANGE, 0 },
                { "70000", -ERANGE, 0 },
                { "4294967377", -ERANGE, 0 }, /* 2^32 + 81: must not wrap to 81 */
                { "", -EINVAL, 0 },
                { "abc", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+80", -EINVAL, 0 },
                { " 80", -EINVAL, 0 },
                { "80 ", -EINVAL, 0 },
                { "0x50", -EINVAL, 0 },
                { "http", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                uint16_t port = 4242;

                TEST_CONTEXT("parse_port(\"%s\")", table[i].s);
                if (table[i].r == 0) {
                        ASSERT_OK(parse_port(table[i].s, &port));
                        ASSERT_EQ_INT(port, table[i].port);
                } else {
                        ASSERT_EQ_INT(parse_port(table[i].s, &port), table[i].r);
                        ASSERT_EQ_INT(port, 4242);
                }
        }
}

TEST(parse_boolean) {
        static const char *const yes[] = { "1", "yes", "YES", "Yes", "y", "Y", "true", "TRUE", "t", "on", "On" };
        static const char *const no[] = { "0", "no", "NO", "n", "false", "False", "f", "off", "OFF" };
        static const char *const bad[] = { "", "2", "-1", "yess", "ye", "tru", "of", "o", " yes", "yes ", "enable", "none", "00", "01" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                TEST_CONTEXT("parse_boolean(\"%s\")", yes[i]);
                ASSERT_EQ_INT(parse_boolean(yes[i]), 1);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                TEST_CONTEXT("parse_boolean(\"%s\")", no[i]);
                ASSERT_EQ_INT(parse_boolean(no[i]), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TEST_CONTEXT("parse_boolean(\"%s\")", bad[i]);
                ASSERT_ERROR(parse_boolean(bad[i]), EINVAL);
        }
        TEST_CONTEXT("parse_boolean(NULL)");
        ASSERT_ERROR(parse_boolean(NULL), EINVAL);
}

TEST(token_valid) {
        char s[130];

        ASSERT_TRUE(token_valid("a", 8, ""));
        ASSERT_TRUE(token_valid("Abc123", 8, ""));
        ASSERT_TRUE(token_valid("a-b.c", 8, "-."));
        ASSERT_FALSE(token_valid("a-b", 8, ""));
        ASSERT_FALSE(token_valid("a_b", 8, "-."));
        ASSERT_FALSE(token_valid("", 8, ""));
        ASSERT_FALSE(token_valid(NULL, 8, ""));
        ASSERT_FALSE(token_valid("a b", 8, "-"));
        ASSERT_FALSE(token_valid(" a", 8, ""));
        ASSERT_FALSE(token_valid("a\n", 8, ""));
        ASSERT_FALSE(token_valid("a\x01", 8, ""));
        ASSERT_FALSE(token_valid("\xc3\xa5", 8, ""));   /* "å" */
        ASSERT_FALSE(token_valid("a/b", 8, "-._:"));
        ASSERT_FALSE(token_valid("..", 8, "-_"));
        ASSERT_TRUE(token_valid("..", 8, "."));

        /* Exactly max is fine, one more is not. */
        memset(s, 'x', 128);
        s[128] = 0;
        ASSERT_TRUE(token_valid(s, 128, ""));
        s[128] = 'x';
        s[129] = 0;
        ASSERT_FALSE(token_valid(s, 128, ""));
        ASSERT_TRUE(token_valid("12345678", 8, ""));
        ASSERT_FALSE(token_valid("123456789", 8, ""));
}

TEST(string_in_charset) {
        ASSERT_TRUE(string_in_charset("abc", 3, "abc"));
        ASSERT_TRUE(string_in_charset("", 0, "abc"));
        ASSERT_FALSE(string_in_charset("abd", 3, "abc"));
        /* An embedded NUL within n is never in the set. */
        ASSERT_FALSE(string_in_charset("a\0b", 3, "ab"));
        /* Only the first n bytes count. */
        ASSERT_TRUE(string_in_charset("abX", 2, "ab"));
}

TEST(free_and_strdup) {
        char *p = NULL;

        ASSERT_OK(free_and_strdup(&p, "one"));
        ASSERT_STREQ(p, "one");
        ASSERT_OK(free_and_strdup(&p, "two"));
        ASSERT_STREQ(p, "two");
        ASSERT_OK(free_and_strdup(&p, NULL));
        ASSERT_NULL(p);
}
