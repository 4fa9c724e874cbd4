/* SPDX-License-Identifier: MIT */
/* The validators for values from outside: the input is split on NUL and newline bytes and
 * every piece goes through ip_address_canonicalize(), country_code_canonicalize(),
 * parse_i64(), parse_u64() and their relatives, and the token, VM name, base64 and SSH key
 * checks, checking that what they accept is canonical (canonicalizing again changes
 * nothing), that the number parsers agree with each other and with printf(), and that
 * base64_decode() takes exactly what an encoder gives, and that what ssh_public_key_valid()
 * takes passes ssh-key-oracle.c. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "parse-util.h"
#include "ssh-key-oracle.h"
#include "validate.h"

#define INPUT_MAX (64 * 1024)

/* s without its leading zeros (keeping one digit), for comparing with printf(). */
static const char *skip_zeros(const char *s) {
        while (s[0] == '0' && s[1])
                s++;
        return s;
}

static void check_ip(const char *s) {
        char a[IP_ADDRESS_MAX], b[IP_ADDRESS_MAX];
        int r;

        memset(a, 'x', sizeof(a));
        r = ip_address_canonicalize(s, a);
        if (r < 0) {
                fuzz_check(r == -EINVAL);
                return;
        }
        fuzz_check(r == 0);
        fuzz_check(memchr(a, 0, sizeof(a)));
        fuzz_check(a[0]);
        fuzz_check(ip_address_canonicalize(a, b) == 0);
        fuzz_check(strcmp(a, b) == 0);
}

static void check_country(const char *s) {
        char a[3], b[3];
        int r;

        memset(a, 'x', sizeof(a));
        r = country_code_canonicalize(s, a);
        if (r < 0) {
                fuzz_check(r == -EINVAL);
                return;
        }
        fuzz_check(r == 0);
        fuzz_check(a[0] >= 'A' && a[0] <= 'Z' && a[1] >= 'A' && a[1] <= 'Z' && a[2] == 0);
        fuzz_check((a[0] | 0x20) == (s[0] | 0x20) && (a[1] | 0x20) == (s[1] | 0x20) && s[2] == 0);
        fuzz_check(country_code_canonicalize(a, b) == 0);
        fuzz_check(memcmp(a, b, 3) == 0);
}

static void check_numbers(const char *s) {
        char buf[32];
        uint64_t u = 0, u2 = 0;
        int64_t i = 0, i2 = 0;
        uint16_t port = 0;
        int ru, ri, r;

        ru = parse_u64(s, &u);
        fuzz_check(ru == 0 || ru == -EINVAL || ru == -ERANGE);
        if (ru == 0) {
                snprintf(buf, sizeof(buf), "%" PRIu64, u);
                fuzz_check(strcmp(buf, skip_zeros(s)) == 0);
                fuzz_check(parse_u64(buf, &u2) == 0 && u2 == u);
        }

        ri = parse_i64(s, &i);
        fuzz_check(ri == 0 || ri == -EINVAL || ri == -ERANGE);
        if (ri == 0) {
                snprintf(buf, sizeof(buf), "%" PRIi64, i);
                fuzz_check(parse_i64(buf, &i2) == 0 && i2 == i);
                if (s[0] == '-')
                        fuzz_check(i <= 0 && (i == 0 ? strcmp(skip_zeros(s + 1), "0") == 0
                                                      : strcmp(buf + 1, skip_zeros(s + 1)) == 0));
                else
                        fuzz_check(strcmp(buf, skip_zeros(s)) == 0);
        }

        /* Without a sign the two agree up to INT64_MAX. */
        if (s[0] != '-') {
                if (ru == 0)
                        fuzz_check(u <= INT64_MAX ? ri == 0 && (uint64_t) i == u : ri == -ERANGE);
                else
                        fuzz_check(ri == ru);
        }

        r = parse_uint_range(s, 10, 1000, &u2);
        fuzz_check(r == 0 ? ru == 0 && u2 == u && u >= 10 && u <= 1000
                          : r == ru || (ru == 0 && r == -ERANGE && (u < 10 || u > 1000)));

        r = parse_port(s, &port);
        fuzz_check(r == 0 ? ru == 0 && port == u && port >= 1
                          : r == ru || (ru == 0 && r == -ERANGE && (u < 1 || u > 65535)));

        r = parse_boolean(s);
        fuzz_check(r == 0 || r == 1 || r == -EINVAL);
}

static void check_base64(const char *s) {
        size_t n = strlen(s), size = 0, size2 = 0;
        uint8_t *d = NULL, *d2 = NULL;
        char *e;
        int r;

        r = base64_decode(s, n, &d, &size);
        if (r < 0) {
                fuzz_check(r == -EINVAL || r == -ENOMEM);
                return;
        }
        fuzz_check(d && (size_t) r == size);
        fuzz_check(n % 4 == 0 && size <= n / 4 * 3 && size + 2 >= n / 4 * 3);

        /* Only canonical base64 is taken: encoding gives the input back exactly, padding and
         * the unused (zero) bits of the last group included. */
        e = oracle_base64_encode(d, size);
        if (strcmp(e, s) != 0) {
                fprintf(stderr, "base64_decode() took non-canonical base64: %s (canonical: %s)\n", s, e);
                fuzz_check(!"base64_decode() takes only canonical base64");
        }
        fuzz_check(base64_decode(e, n, &d2, &size2) == (int) size && size2 == size && memcmp(d, d2, size) == 0);
        free(e);
        free(d);
        free(d2);
}

static void check_ssh_key(const char *s) {
        char why[128] = "";
        size_t n = strlen(s);

        if (!ssh_public_key_valid(s))
                return;
        /* One line, nothing that could break out of the cloud-init document it ends up in. */
        fuzz_check(n <= SSH_KEY_MAX);
        for (size_t i = 0; i < n; i++)
                fuzz_check((unsigned char) s[i] >= 0x20 && s[i] != 0x7f);
        fuzz_check(strchr(s, ' '));
        fuzz_check(strncmp(s, "ssh-", 4) == 0 || strncmp(s, "ecdsa-", 6) == 0 || strncmp(s, "sk-", 3) == 0);
        /* And passes the independent check of its encoding and structure. */
        if (!oracle_ssh_key_valid(s, why)) {
                fprintf(stderr, "ssh_public_key_valid() took a key the oracle refuses (%s):\n%s\n", why, s);
                fuzz_check(!"the accepted key passes ssh-key-oracle.c");
        }
}

static void check_tokens(const char *s) {
        size_t n = strlen(s);

        if (provider_id_valid(s))
                fuzz_check(n >= 1 && n <= 128);
        if (platform_valid(s))
                fuzz_check(n >= 1 && n <= 32 && provider_id_valid(s));
        if (resource_key_valid(s))
                fuzz_check(n >= 1 && n <= 32 && platform_valid(s));
        if (vm_name_valid(s))
                fuzz_check(n >= 3 && n <= 63 && s[0] != '-' && s[n - 1] != '-' && !strstr(s, "--") &&
                           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *copy;

        if (size > INPUT_MAX)
                return 0;

        /* One exact-size copy, every separator turned into a NUL. */
        copy = malloc(size + 1);
        fuzz_check(copy);
        memcpy(copy, data, size);
        copy[size] = 0;
        for (size_t i = 0; i < size; i++)
                if (copy[i] == '\n')
                        copy[i] = 0;

        for (size_t start = 0; start <= size;) {
                const char *s = copy + start;
                size_t n = strlen(s);

                check_ip(s);
                check_country(s);
                check_numbers(s);
                check_tokens(s);
                check_base64(s);
                check_ssh_key(s);
                start += n + 1;
        }

        free(copy);
        return 0;
}
