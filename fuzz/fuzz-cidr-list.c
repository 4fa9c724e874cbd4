/* SPDX-License-Identifier: MIT */
/* The CIDR lists of VMDeniedNetworks= and VMAllowedNetworks=, and the nameservers of a
 * resolv.conf: the input (to its first NUL byte) is canonicalized as a list and read as a
 * resolv.conf. A refusal must be -EINVAL or -E2BIG; what is accepted must be canonical
 * (canonicalizing again changes nothing), made only of the characters of numeric addresses,
 * prefixes and spaces, and must make a ruleset as the denied and the allowed list alike, in
 * which it adds nothing but elements; the nameservers of any text are single addresses. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"
#include "provider-vm-network.h"

#define INPUT_MAX (64 * 1024)

static void check_canonical(const char *list) {
        _cleanup_free_ char *again = NULL;

        fuzz_check(strspn(list, "0123456789abcdef.:/ ") == strlen(list));
        fuzz_check(cidr_list_canonicalize(list, &again) == 0);
        fuzz_check(strcmp(list, again) == 0);
}

static void check_ruleset(const char *list) {
        _cleanup_free_ char *text = NULL;

        fuzz_check(vm_network_ruleset(&(VMNetworkParams) {
                        .group = "golem-vm", .denied = list, .allowed = list, .nameservers = list,
                        .bridge = "mpqemubr0",
                }, &text) == 0);
        /* Only the elements lines can hold what came from the input. */
        for (const char *line = text; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t n = end ? (size_t) (end - line) : strlen(line);
                const char *e = memmem(line, n, "elements = { ", 13);

                if (e) {
                        const char *p = e + 13;
                        size_t m = n - (size_t) (p - line);

                        fuzz_check(m >= 2 && line[n - 1] == '}' && line[n - 2] == ' ');
                        for (size_t i = 0; i < m - 2; i++)
                                fuzz_check(strchr("0123456789abcdef.:/, ", p[i]));
                }
                line = end ? end + 1 : NULL;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL, *list = NULL, *nameservers = NULL;
        FILE *f;
        int r;

        if (size > INPUT_MAX)
                return 0;
        text = strndup((const char *) data, size);
        if (!text)
                return 0;

        r = cidr_list_canonicalize(text, &list);
        if (r < 0) {
                fuzz_check(r == -EINVAL || r == -E2BIG);
                fuzz_check(!list);
        } else {
                check_canonical(list);
                check_ruleset(list);
        }
        if (fuzz_verbose())
                fprintf(stderr, "list: %s\n", r < 0 ? strerror(-r) : list);

        f = fmemopen(text, strlen(text) ?: 1, "r");
        if (!f)
                return 0;
        r = resolv_conf_nameservers(f, &nameservers);
        fclose(f);
        fuzz_check(r == 0);
        check_canonical(nameservers);
        for (const char *p = nameservers; *p; p += strcspn(p, " "), p += strspn(p, " ")) {
                size_t n = strcspn(p, " ");

                fuzz_check((n > 3 && memcmp(p + n - 3, "/32", 3) == 0) || (n > 4 && memcmp(p + n - 4, "/128", 4) == 0));
        }
        return 0;
}
