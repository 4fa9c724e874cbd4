/* SPDX-License-Identifier: MIT */
/* ledger_parse_usage(): the input is the text of /proc/stat, a NUL byte, then the text of
 * /proc/meminfo (to the next NUL or the end). It is parsed as the first sample of a fresh
 * ledger, as the sample after a fixed one and as the sample before a fixed one, each with
 * a different storage share. The percentages must always be within 0-100, a refusal must
 * be -EBADMSG or -ENOENT and change neither the memory nor the storage share, and an
 * accepted memory share must be 100 - MemAvailable/MemTotal exactly (computed here in 128
 * bits) for any MemTotal a kernel could report. */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "provider-ledger.h"

/* ledger_sample_usage() reads at most 4095 and 8191 bytes; fuzz a little more. */
#define INPUT_MAX (16 * 1024)

#define STAT_BEFORE "cpu  1000 20 600 9000 450 50 150 30 0 0\ncpu0 1000 20 600 9000 450 50 150 30 0 0\n"
#define STAT_AFTER  "cpu  18446744073709551615 0 0 0 0 0 0 0\n"
#define MEMINFO     "MemTotal:       16000000 kB\nMemFree:         2000000 kB\nMemAvailable:    4000000 kB\n"

static void check_usage(const Ledger *l) {
        fuzz_check(l->usage.cpu_percent <= 100);
        fuzz_check(l->usage.memory_percent <= 100);
        fuzz_check(l->usage.storage_percent <= 100);
}

/* The value of "FIELD:" at the start of a line, as sscanf("%llu") reads it. */
static bool meminfo_value(const char *meminfo, const char *field, unsigned long long *ret) {
        size_t l = strlen(field);

        for (const char *p = meminfo; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, field, l) == 0 && p[l] == ':')
                        return sscanf(p + l + 1, "%llu", ret) == 1;
        return false;
}

static int parse(Ledger *l, const char *stat, const char *meminfo, unsigned storage) {
        unsigned long long total = 0, avail = 0;
        HostUsage before = l->usage;
        int r;

        r = ledger_parse_usage(l, stat, meminfo, storage);
        check_usage(l);
        if (r < 0) {
                fuzz_check(r == -EBADMSG || r == -ENOENT);
                /* A refused sample leaves the memory and storage shares alone. */
                fuzz_check(l->usage.memory_percent == before.memory_percent);
                fuzz_check(l->usage.storage_percent == before.storage_percent);
                return r;
        }
        fuzz_check(r == 0);
        fuzz_check(l->usage.storage_percent == (storage < 100 ? storage : 100));

        fuzz_check(meminfo_value(meminfo, "MemTotal", &total) && meminfo_value(meminfo, "MemAvailable", &avail));
        /* Beyond ULLONG_MAX / 100 kB (16 ZiB / 100) the product overflows and the share is
         * off; no kernel reports that much, so only there it may be. */
        if (total > 0 && avail <= total && total <= ULLONG_MAX / 100) {
                unsigned want = 100 - (unsigned) ((unsigned __int128) avail * 100 / total);

                if (l->usage.memory_percent != want) {
                        fprintf(stderr, "MemTotal %llu, MemAvailable %llu: memory at %u%%, not %u%%\n",
                                total, avail, l->usage.memory_percent, want);
                        fuzz_check(!"the memory share is exact");
                }
        } else if (total == 0 || avail > total)
                fuzz_check(l->usage.memory_percent == before.memory_percent);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul;
        char *stat, *meminfo;
        Ledger a = {}, b = {}, c = {};

        if (size > INPUT_MAX)
                return 0;

        nul = memchr(data, 0, size);
        stat = strndup((const char *) data, nul ? (size_t) (nul - data) : size);
        meminfo = nul ? strndup((const char *) nul + 1, size - (size_t) (nul - data) - 1) : strdup("");
        fuzz_check(stat && meminfo);

        /* The first sample: no CPU share yet. */
        (void) parse(&a, stat, meminfo, 0);
        fuzz_check(a.usage.cpu_percent == 0);

        /* After a fixed sample. */
        fuzz_check(parse(&b, STAT_BEFORE, MEMINFO, 50) == 0);
        fuzz_check(b.usage.memory_percent == 75 && b.usage.storage_percent == 50);
        (void) parse(&b, stat, meminfo, 100);

        /* Before one with the largest counter there is. */
        (void) parse(&c, stat, meminfo, UINT_MAX);
        (void) parse(&c, STAT_AFTER, MEMINFO, 7);
        (void) parse(&c, stat, meminfo, 101);

        free(stat);
        free(meminfo);
        return 0;
}
