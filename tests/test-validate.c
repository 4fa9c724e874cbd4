/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "tests.h"
#include "validate.h"

TEST(ip_address_canonicalize_valid) {
        static const struct {
                const char *in, *out;
        } table[] = {
                { "1.2.3.4", "1.2.3.4" },
                { "0.0.0.0", "0.0.0.0" },
                { "127.0.0.1", "127.0.0.1" },
                { "255.255.255.255", "255.255.255.255" },
                { "192.0.2.10", "192.0.2.10" },
                { "::", "::" },
                { "::1", "::1" },
                { "0:0:0:0:0:0:0:1", "::1" },
                { "0:0:0:0:0:0:0:0", "::" },
                { "2001:db8::1", "2001:db8::1" },
                { "2001:DB8:0:0::1", "2001:db8::1" },
                { "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
                { "2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1" },
                { "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
                { "FE80::ABCD", "fe80::abcd" },
                { "::ffff:1.2.3.4", "::ffff:1.2.3.4" },
                { "::FFFF:192.0.2.1", "::ffff:192.0.2.1" },
                /* 45 characters, the longest textual IPv6 address there is. */
                { "0000:0000:0000:0000:0000:ffff:255.255.255.255", "::ffff:255.255.255.255" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char out[IP_ADDRESS_MAX] = "untouched";

                TEST_CONTEXT("ip_address_canonicalize(\"%s\")", table[i].in);
                ASSERT_OK(ip_address_canonicalize(table[i].in, out));
                ASSERT_STREQ(out, table[i].out);
                /* The canonical form is a fixed point. */
                ASSERT_OK(ip_address_canonicalize(table[i].out, out));
                ASSERT_STREQ(out, table[i].out);
        }
}

TEST(ip_address_canonicalize_refused) {
        static const char *const table[] = {
                "",
                "999.2.3.4",
                "256.0.0.1",
                "1.2.3",
                "1.2.3.4.5",
                "1.2.3.",
                ".1.2.3",
                "01.2.3.4",
                "1.2.3.04",
                "0x1.2.3.4",
                "0177.0.0.1",
                "2130706433",      /* 127.0.0.1 as one number */
                "1.2.3.-4",
                "+1.2.3.4",
                " 1.2.3.4",
                "1.2.3.4 ",
                "1.2.3.4\n",
                "1.2.3.4/24",
                "1.2.3.4:80",
                "::g",
                ":::",
                "1::2::3",
                "2001:db8::1/64",
                "[::1]",
                "fe80::1%eth0",
                "12345::1",
                "1:2:3:4:5:6:7:8:9",
                "localhost",
                "example.com",
                "\xc2\xb9.2.3.4",  /* SUPERSCRIPT ONE */
                /* 46 characters and more: longer than any address. */
                "0000:0000:0000:0000:0000:ffff:255.255.255.2555",
                "00000:0000:0000:0000:0000:ffff:255.255.255.255",
                "1.2.3.4                                          ",
        };
        char long_input[1024];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char out[IP_ADDRESS_MAX] = "untouched";

                TEST_CONTEXT("ip_address_canonicalize(\"%s\")", table[i]);
                ASSERT_ERROR(ip_address_canonicalize(table[i], out), EINVAL);
                ASSERT_STREQ(out, "untouched");
        }

        /* Far too long. */
        memset(long_input, '1', sizeof(long_input) - 1);
        long_input[sizeof(long_input) - 1] = 0;
        {
                char out[IP_ADDRESS_MAX] = "untouched";

                TEST_CONTEXT("ip_address_canonicalize(1023 x '1')");
                ASSERT_ERROR(ip_address_canonicalize(long_input, out), EINVAL);
                TEST_CONTEXT("ip_address_canonicalize(NULL)");
                ASSERT_ERROR(ip_address_canonicalize(NULL, out), EINVAL);
                ASSERT_STREQ(out, "untouched");
        }
}

TEST(country_code_canonicalize) {
        static const struct {
                const char *in, *out;
        } valid[] = {
                { "SE", "SE" },
                { "se", "SE" },
                { "Us", "US" },
                { "uS", "US" },
                { "GB", "GB" },
                { "AD", "AD" }, /* first in the table */
                { "ZW", "ZW" }, /* last in the table */
                { "AX", "AX" },
                { "SS", "SS" }, /* South Sudan, 2011 */
                { "BQ", "BQ" }, /* assigned 2010 */
                { "CW", "CW" },
                { "SX", "SX" },
                { "PS", "PS" },
                { "TW", "TW" },
                { "AQ", "AQ" },
                { "UM", "UM" },
        };
        static const char *const refused[] = {
                "XX", "AA", "ZZ",
                "UK",             /* exceptionally reserved; the code is GB */
                "EU", "UN", "EZ", /* exceptionally reserved */
                "XK",             /* Kosovo: user-assigned, not in ISO 3166-1 */
                "AN", "YU", "CS", "TP", "ZR", "SU", "DD", /* deleted codes */
                "USA", "SWE", "U", "S", "",
                "u1", "1U", "12", "U ", " U", "U-", "U\n",
                "\xc3\x85\xc3\x84", /* "ÅÄ" in UTF-8 */
                "\xc5\xc4",         /* "ÅÄ" in Latin-1: two bytes, not ASCII */
        };

        for (size_t i = 0; i < ELEMENTSOF(valid); i++) {
                char out[3] = "?";

                TEST_CONTEXT("country_code_canonicalize(\"%s\")", valid[i].in);
                ASSERT_OK(country_code_canonicalize(valid[i].in, out));
                ASSERT_STREQ(out, valid[i].out);
        }
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                char out[3] = "?";

                TEST_CONTEXT("country_code_canonicalize(\"%s\")", refused[i]);
                ASSERT_ERROR(country_code_canonicalize(refused[i], out), EINVAL);
                ASSERT_STREQ(out, "?");
        }
        TEST_CONTEXT("country_code_canonicalize(NULL)");
        ASSERT_ERROR(country_code_canonicalize(NULL, (char[3]) {}), EINVAL);
}

TEST(country_code_table_complete) {
        /* The built-in table is searched by bisection: if it were unsorted or held duplicates,
         * some codes could not be found. ISO 3166-1 assigns exactly 249 alpha-2 codes. */
        unsigned n_upper = 0, n_lower = 0;

        for (char a = 'A'; a <= 'Z'; a++)
                for (char b = 'A'; b <= 'Z'; b++) {
                        char in[3] = { a, b, 0 }, lower[3] = { (char) (a + 32), (char) (b + 32), 0 };
                        char out[3], out_lower[3];
                        int r = country_code_canonicalize(in, out);

                        TEST_CONTEXT("country code %s", in);
                        if (r >= 0) {
                                ASSERT_STREQ(out, in);
                                n_upper++;
                        } else
                                ASSERT_ERROR(r, EINVAL);

                        /* Lower case finds the same code. */
                        r = country_code_canonicalize(lower, out_lower);
                        if (r >= 0) {
                                ASSERT_STREQ(out_lower, in);
                                n_lower++;
                        }
                }
        TEST_CONTEXT("all codes");
        ASSERT_EQ_INT(n_upper, 249);
        ASSERT_EQ_INT(n_lower, 249);
}

TEST(provider_id_valid) {
        char s[130];

        ASSERT_TRUE(provider_id_valid("p"));
        ASSERT_TRUE(provider_id_valid("provider-1"));
        ASSERT_TRUE(provider_id_valid("node.example.org:9001_A-b"));
        ASSERT_TRUE(provider_id_valid("0x1234abcd"));
        ASSERT_FALSE(provider_id_valid(""));
        ASSERT_FALSE(provider_id_valid(NULL));
        ASSERT_FALSE(provider_id_valid("a b"));
        ASSERT_FALSE(provider_id_valid("a/b"));
        ASSERT_FALSE(provider_id_valid("../etc"));
        ASSERT_FALSE(provider_id_valid("a\\b"));
        ASSERT_FALSE(provider_id_valid("a@b"));
        ASSERT_FALSE(provider_id_valid("a\"b"));
        ASSERT_FALSE(provider_id_valid("a\nb"));
        ASSERT_FALSE(provider_id_valid("caf\xc3\xa9"));

        memset(s, 'a', 128);
        s[128] = 0;
        ASSERT_TRUE(provider_id_valid(s));
        s[128] = 'a';
        s[129] = 0;
        ASSERT_FALSE(provider_id_valid(s));
}

TEST(platform_valid) {
        char s[34];

        ASSERT_TRUE(platform_valid("linux"));
        ASSERT_TRUE(platform_valid("linux-x86_64"));
        ASSERT_TRUE(platform_valid("Ubuntu_22.04"));
        ASSERT_FALSE(platform_valid(""));
        ASSERT_FALSE(platform_valid(NULL));
        ASSERT_FALSE(platform_valid("linux x86"));
        ASSERT_FALSE(platform_valid("linux:amd64")); /* ':' is for provider ids only */
        ASSERT_FALSE(platform_valid("linux/amd64"));
        ASSERT_FALSE(platform_valid("linux\t"));

        memset(s, 'p', 32);
        s[32] = 0;
        ASSERT_TRUE(platform_valid(s));
        s[32] = 'p';
        s[33] = 0;
        ASSERT_FALSE(platform_valid(s));
}

TEST(resource_key_valid) {
        char s[34];

        ASSERT_TRUE(resource_key_valid("gpu"));
        ASSERT_TRUE(resource_key_valid("gpu_count"));
        ASSERT_TRUE(resource_key_valid("per_cpu_hour"));
        ASSERT_TRUE(resource_key_valid("a1"));
        ASSERT_TRUE(resource_key_valid("_"));
        ASSERT_TRUE(resource_key_valid("9"));
        ASSERT_FALSE(resource_key_valid(""));
        ASSERT_FALSE(resource_key_valid(NULL));
        ASSERT_FALSE(resource_key_valid("GPU"));
        ASSERT_FALSE(resource_key_valid("Gpu"));
        ASSERT_FALSE(resource_key_valid("gpu-count"));
        ASSERT_FALSE(resource_key_valid("gpu.count"));
        ASSERT_FALSE(resource_key_valid("gpu count"));
        ASSERT_FALSE(resource_key_valid("gpu\n"));
        ASSERT_FALSE(resource_key_valid("gp\xc3\xbc"));

        memset(s, 'k', 32);
        s[32] = 0;
        ASSERT_TRUE(resource_key_valid(s));
        s[32] = 'k';
        s[33] = 0;
        ASSERT_FALSE(resource_key_valid(s));
}
