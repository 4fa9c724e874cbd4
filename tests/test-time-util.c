/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "tests.h"
#include "time-util.h"

#define SEC(s) ((usec_t) (s) * USEC_PER_SEC)

TEST(format_rfc3339) {
        static const struct {
                usec_t t;
                const char *s;
        } table[] = {
                { 0, "1970-01-01T00:00:00Z" },
                { 1, "1970-01-01T00:00:00Z" },                  /* sub-second parts are cut */
                { SEC(1) - 1, "1970-01-01T00:00:00Z" },
                { SEC(1), "1970-01-01T00:00:01Z" },
                { SEC(1700000000), "2023-11-14T22:13:20Z" },
                { SEC(1700000000) + 999999, "2023-11-14T22:13:20Z" },
                { SEC(951782400), "2000-02-29T00:00:00Z" },    /* a leap day */
                { SEC(2147483647), "2038-01-19T03:14:07Z" },
                { SEC(2147483648), "2038-01-19T03:14:08Z" },   /* past 32-bit time_t */
                { SEC(253402300799), "9999-12-31T23:59:59Z" }, /* the last that fits */
                { SEC(253402300800), "" },                     /* year 10000 */
                { USEC_INFINITY, "" },
        };

        ASSERT_EQ_INT(RFC3339_MAX, 21);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char buf[RFC3339_MAX];

                TEST_CONTEXT("format_rfc3339(%" PRIu64 ")", table[i].t);
                ASSERT_TRUE(format_rfc3339(buf, table[i].t) == buf);
                ASSERT_STREQ(buf, table[i].s);
        }
}

TEST(parse_rfc3339) {
        static const struct {
                const char *s;
                usec_t t;
        } table[] = {
                { "1970-01-01T00:00:00Z", 0 },
                { "1970-01-01T00:00:01Z", SEC(1) },
                { "2023-11-14T22:13:20Z", SEC(1700000000) },
                { "2000-02-29T00:00:00Z", SEC(951782400) },
                { "2024-12-31T23:59:59Z", SEC(1735689599) },
                { "2038-01-19T03:14:08Z", SEC(2147483648) },
                { "9999-12-31T23:59:59Z", SEC(253402300799) },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                usec_t t = 42;

                TEST_CONTEXT("parse_rfc3339(\"%s\")", table[i].s);
                ASSERT_OK(parse_rfc3339(table[i].s, &t));
                ASSERT_EQ_UINT(t, table[i].t);
        }
}

TEST(roundtrip) {
        /* Every whole second formats and parses back to itself; a spread of them. */
        for (uint64_t s = 0; s < UINT64_C(253402300800); s += UINT64_C(86399) * 97 + 13) {
                char buf[RFC3339_MAX];
                usec_t t = 42;

                format_rfc3339(buf, SEC(s));
                TEST_CONTEXT("%" PRIu64 " s: %s", s, buf);
                ASSERT_EQ_INT(strlen(buf), 20);
                ASSERT_OK(parse_rfc3339(buf, &t));
                ASSERT_EQ_UINT(t, SEC(s));
        }
}

TEST(parse_rfc3339_refused) {
        static const struct {
                const char *s;
                int r;
        } table[] = {
                { "", -EINVAL },
                { "2023-11-14", -EINVAL },
                { "2023-11-14T22:13:20", -EINVAL },            /* no Z */
                { "2023-11-14T22:13:20z", -EINVAL },
                { "2023-11-14t22:13:20Z", -EINVAL },
                { "2023-11-14 22:13:20Z", -EINVAL },
                { "2023-11-14T22:13:20+00:00", -EINVAL },      /* offsets are not taken */
                { "2023-11-14T22:13:20.5Z", -EINVAL },         /* nor fractions */
                { "2023-11-14T22:13:20Z ", -EINVAL },
                { " 2023-11-14T22:13:20Z", -EINVAL },
                { "2023-11-14T22:13Z", -EINVAL },
                { "23-11-14T22:13:20Z", -EINVAL },
                { "2023/11/14T22:13:20Z", -EINVAL },
                { "2023-1-14T22:13:20Z", -EINVAL },
                { "2023-13-01T00:00:00Z", -EINVAL },           /* month 13 */
                { "2023-00-10T00:00:00Z", -EINVAL },
                { "2023-01-00T00:00:00Z", -EINVAL },
                { "2023-01-32T00:00:00Z", -EINVAL },
                { "2023-02-29T00:00:00Z", -EINVAL },           /* not a leap year */
                { "2023-02-30T00:00:00Z", -EINVAL },
                { "2023-04-31T00:00:00Z", -EINVAL },
                { "2100-02-29T00:00:00Z", -EINVAL },
                { "2023-11-14T24:00:00Z", -EINVAL },
                { "2023-11-14T23:60:00Z", -EINVAL },
                { "2023-11-14T23:59:61Z", -EINVAL },
                { "2016-12-31T23:59:60Z", -EINVAL },           /* leap seconds do not fit a usec_t */
                /* Same length, but with spaces where digits belong. */
                { "2023-11-14T 2:13:20Z", -EINVAL },
                { "2023-11-14T22: 3:20Z", -EINVAL },
                { "1970-01-01T00:00: 0Z", -EINVAL },
                { "2023-11- 4T22:13:20Z", -EINVAL },
                { "2023- 1-14T22:13:20Z", -EINVAL },
                { "+023-11-14T22:13:20Z", -EINVAL },
                { "2023-11-14T2:013:20Z", -EINVAL },
                { "abcd-ef-ghTij:kl:mnZ", -EINVAL },
                /* Before the epoch: usec_t has no room. */
                { "1969-12-31T23:59:59Z", -ERANGE },
                { "0000-01-01T00:00:00Z", -ERANGE },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                usec_t t = 42;

                TEST_CONTEXT("parse_rfc3339(\"%s\")", table[i].s);
                ASSERT_EQ_INT(parse_rfc3339(table[i].s, &t), table[i].r);
                ASSERT_EQ_UINT(t, 42);
        }
        ASSERT_ERROR(parse_rfc3339(NULL, (usec_t[1]) {}), EINVAL);
}

TEST(clocks) {
        usec_t a = now_monotonic(), b = now_monotonic();
        usec_t r = now_realtime();

        ASSERT_TRUE(a > 0);
        ASSERT_TRUE(b >= a);
        /* After 2020-01-01 and before 2200-01-01. */
        ASSERT_TRUE(r > SEC(1577836800));
        ASSERT_TRUE(r < SEC(7258118400));
}
