/* SPDX-License-Identifier: MIT */
/* The validators the provider relies on before a value reaches an argv or a file: VM names,
 * SSH public keys and the strict base64 under them. */

#include "macro.h"
#include "test-provider-keys.h"
#include "tests.h"
#include "validate.h"

TEST(vm_name_valid) {
        static const char *const good[] = {
                "abc", "web", "web-1", "a-b", "a1b", "123", "0-0", "a-b-c-d-e",
                "a23456789012345678901234567890123456789012345678901234567890123", /* 63 */
        };
        static const char *const bad[] = {
                "", "a", "ab", "-ab", "ab-", "-a-", "a--b", "ab--", "--ab", "UPPER", "Web", "weB", "a_b", "a.b",
                "a b", " ab", "ab ", "ab\n", "a\tb", "../x", "a/b", "a:b", "a@b", "w\xc3\xa9" "b", "\xef\xbd\x81" "bc",
                "a234567890123456789012345678901234567890123456789012345678901234", /* 64 */
                "golem-web-1-but-much-too-long-for-a-vm-name-because-it-goes-on-and-on",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                TEST_CONTEXT("\"%s\"", good[i]);
                ASSERT_TRUE(vm_name_valid(good[i]));
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TEST_CONTEXT("\"%s\"", bad[i]);
                ASSERT_FALSE(vm_name_valid(bad[i]));
        }
        ASSERT_FALSE(vm_name_valid(NULL));

        /* Valid, and known when a VM has it, but no new VM may take it. */
        ASSERT_TRUE(vm_name_valid("jobs"));
        ASSERT_TRUE(vm_name_reserved("jobs"));
        ASSERT_FALSE(vm_name_reserved("jobs-1"));
        ASSERT_FALSE(vm_name_reserved(NULL));
}

TEST(ssh_public_key_valid) {
        static const char *const good[] = {
                KEY_ED25519,
                KEY_RSA,
                KEY_ECDSA256,
                KEY_ECDSA384,
                KEY_ECDSA521,
                KEY_SK_ED25519,
                KEY_SK_ECDSA,
                "ssh-ed25519 " KEY_ED25519_BLOB,
                "ssh-ed25519 " KEY_ED25519_BLOB " comment with spaces",
                "ssh-ed25519 " KEY_ED25519_BLOB " caf\xc3\xa9@host",      /* UTF-8 in the comment */
                "ssh-ed25519 " KEY_ED25519_BLOB " \"quoted\" \\back\\ # not: yaml",
                "ssh-ed25519 " KEY_ED25519_BLOB " \xc2\xa0\xc2\xa9\xef\xbf\xbd\xf0\x9f\x94\x91", /* NBSP, (c), U+FFFD, U+1F511 */
        };
        static const char *const bad[] = {
                "",
                " ",
                "ssh-ed25519",
                "ssh-ed25519 ",
                "ssh-ed25519  " KEY_ED25519_BLOB,
                " " KEY_ED25519,
                KEY_DSS,
                "ssh-ed448 " KEY_ED25519_BLOB,
                "SSH-ED25519 " KEY_ED25519_BLOB,
                "ssh-ed25519@openssh.com " KEY_ED25519_BLOB,
                "ssh-rsa " KEY_ED25519_BLOB,                         /* the blob says ssh-ed25519 */
                "ecdsa-sha2-nistp256 " KEY_ED25519_BLOB,
                "ssh-ed25519 not*base64!",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuOY8lOz/n3pevX7+CX2lxn6mD/vW3b",  /* length */
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",                  /* the type, nothing after it */
                /* Well-formed base64, but one byte short of an ed25519 key / one byte too many. */
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuOY8lOz/n3pevX7+CX2lxn6mD/vW3b=",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuOY8lOz/n3pevX7+CX2lxn6mD/vW3beAA==",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE4AAAAIEwo2DaHQbz4RuOY8lOz/n3pevX7+CX2lxn6mD/vW3be", /* "ssh-ed25518" */
                "ssh-ed25519 AAAAB3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuOY8lOz/n3pevX7+CX2lxn6mD/vW3be", /* length 7 */
                "ssh-ed25519\t" KEY_ED25519_BLOB,
                KEY_ED25519 "\n",
                KEY_ED25519 "\r",
                KEY_ED25519 "\r\n",
                KEY_ED25519 "\nruncmd: [\"rm -rf /\"]",
                KEY_ED25519 "\n" KEY_RSA,
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuOY8lOz/n3\npevX7+CX2lxn6mD/vW3be",
                KEY_ED25519 "\t",
                KEY_ED25519 "\x7f",
                KEY_ED25519 "\x1b[2J",
                "command=\"/bin/sh\" " KEY_ED25519,                 /* authorized_keys options */
                /* C1 controls and the non-characters YAML refuses. */
                KEY_ED25519 " \xc2\x80",
                KEY_ED25519 " \xc2\x85",                          /* NEL: a line break in YAML */
                KEY_ED25519 " \xc2\x9b" "2J",                     /* CSI */
                KEY_ED25519 " \xc2\x9f",
                KEY_ED25519 " \xe2\x80\xa8",                   /* LS and PS: line breaks to YAML 1.1 */
                KEY_ED25519 " \xe2\x80\xa9",
                KEY_ED25519 " \xef\xbf\xbe",
                KEY_ED25519 " \xef\xbf\xbf",
        };
        char *long_key;
        size_t prefix = strlen(KEY_ED25519);

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                TEST_CONTEXT("good[%zu] \"%s\"", i, good[i]);
                ASSERT_TRUE(ssh_public_key_valid(good[i]));
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TEST_CONTEXT("bad[%zu] \"%s\"", i, bad[i]);
                ASSERT_FALSE(ssh_public_key_valid(bad[i]));
        }
        TEST_CONTEXT("NULL");
        ASSERT_FALSE(ssh_public_key_valid(NULL));

        /* SSH_KEY_MAX bytes is the most. */
        long_key = malloc(SSH_KEY_MAX + 2);
        ASSERT_NOT_NULL(long_key);
        memcpy(long_key, KEY_ED25519, prefix);
        memset(long_key + prefix, 'x', SSH_KEY_MAX + 1 - prefix);
        long_key[SSH_KEY_MAX] = 0;
        TEST_CONTEXT("%d bytes", SSH_KEY_MAX);
        ASSERT_TRUE(ssh_public_key_valid(long_key));
        long_key[SSH_KEY_MAX] = 'x';
        long_key[SSH_KEY_MAX + 1] = 0;
        TEST_CONTEXT("%d bytes", SSH_KEY_MAX + 1);
        ASSERT_FALSE(ssh_public_key_valid(long_key));
        free(long_key);
}

TEST(base64_decode_valid) {
        static const struct {
                const char *in;
                const char *out;
                size_t size;
        } table[] = {
                { "QQ==", "A", 1 },
                { "QUI=", "AB", 2 },
                { "QUJD", "ABC", 3 },
                { "QUJDRA==", "ABCD", 4 },
                { "QUJDREU=", "ABCDE", 5 },
                { "QUJDREVG", "ABCDEF", 6 },
                { "AAECAw==", "\x00\x01\x02\x03", 4 },
                { "/+8=", "\xff\xef", 2 },
                { "+/+/", "\xfb\xff\xbf", 3 },
                { "AAAA", "\x00\x00\x00", 3 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                uint8_t *out = NULL;
                size_t size = 0;

                TEST_CONTEXT("\"%s\"", table[i].in);
                ASSERT_EQ_INT(base64_decode(table[i].in, strlen(table[i].in), &out, &size), (int) table[i].size);
                ASSERT_EQ_UINT(size, table[i].size);
                ASSERT_TRUE(memcmp(out, table[i].out, size) == 0);
                free(out);
        }
}

TEST(base64_decode_refused) {
        static const char *const table[] = {
                "",
                "Q",
                "QQ",
                "QQ=",
                "QUJ",
                "Q===",
                "====",
                "=QQQ",
                "Q=QQ",
                "QU=D",
                "QQ==QQ==",
                "QQ==QUJD",
                "QUJD=",
                "QUJDRA=",
                "QUJDRA===",
                "QQ== ",
                " QQ==",
                "QU JD",
                "QUJD\n",
                "QU\nJD",
                "QUJD\r\n",
                "QU\tD",
                "QU*D",
                "QU.D",
                "-_8=",           /* the URL-safe alphabet */
                "QR==",           /* non-zero unused bits: not the canonical "QQ==" */
                "QUJ=",
                "QU\xc3\xa9",
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                uint8_t *out = (uint8_t *) "untouched";
                size_t size = 4242;

                TEST_CONTEXT("\"%s\"", table[i]);
                ASSERT_ERROR(base64_decode(table[i], strlen(table[i]), &out, &size), EINVAL);
                ASSERT_STREQ((const char *) out, "untouched");
                ASSERT_EQ_UINT(size, 4242);
        }
}

TEST(base64_decode_length) {
        /* Only n bytes are looked at: the key parser hands over a blob inside a line. */
        static const char line[] = "QUJD QQ== trailing";
        uint8_t *out = NULL;
        size_t size = 0;

        ASSERT_EQ_INT(base64_decode(line, 4, &out, &size), 3);
        ASSERT_TRUE(memcmp(out, "ABC", 3) == 0);
        free(out);
        ASSERT_EQ_INT(base64_decode(line + 5, 4, &out, &size), 1);
        ASSERT_EQ_INT(out[0], 'A');
        free(out);
        ASSERT_ERROR(base64_decode(line, 8, &out, &size), EINVAL);
        ASSERT_ERROR(base64_decode(line, 0, &out, &size), EINVAL);
}
