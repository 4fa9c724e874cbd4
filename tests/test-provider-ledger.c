/* SPDX-License-Identifier: MIT */
/* The resource ledger: reservations against capacity, MAX_VMS, the live-usage thresholds and
 * what is offered. */

#include <stdio.h>
#include <unistd.h>

#include "macro.h"
#include "provider-ledger.h"
#include "tests.h"

/* A provider sized like the spec's test setup: room for exactly five medium VMs. */
static Ledger ledger_new(void) {
        return (Ledger) {
                .capacity = { 10, 20, 500 },
                .max_vms = 10,
                .minimum = { 1, 1, 10 },
                .cpu_threshold = 90,
                .memory_threshold = 85,
                .storage_threshold = 90,
        };
}

static void assert_resources(Resources r, int64_t cpu, int64_t memory, int64_t storage) {
        ASSERT_EQ_INT(r.cpu, cpu);
        ASSERT_EQ_INT(r.memory, memory);
        ASSERT_EQ_INT(r.storage, storage);
}

static const Resources medium = { 2, 4, 20 };

TEST(reserve_release) {
        Ledger l = ledger_new();
        char reason[256] = "";

        assert_resources(ledger_available(&l), 10, 20, 500);
        for (unsigned i = 1; i <= 5; i++) {
                TEST_CONTEXT("medium VM %u", i);
                ASSERT_OK(ledger_reserve(&l, &medium, reason, sizeof(reason)));
                ASSERT_EQ_UINT(l.n_vms, i);
                assert_resources(l.reserved, 2 * i, 4 * i, 20 * i);
                assert_resources(ledger_available(&l), 10 - 2 * i, 20 - 4 * i, 500 - 20 * i);
        }
        TEST_CONTEXT("a sixth");

        /* The sixth does not fit: CPU is what runs out first, and the message says so. */
        ASSERT_ERROR(ledger_reserve(&l, &medium, reason, sizeof(reason)), ENOSPC);
        ASSERT_STREQ(reason, "Not enough CPU: 2 cores requested, 0 available");
        ASSERT_EQ_UINT(l.n_vms, 5);
        assert_resources(l.reserved, 10, 20, 100);

        /* Releasing one makes room for exactly one again. */
        ledger_release(&l, &medium);
        ASSERT_EQ_UINT(l.n_vms, 4);
        assert_resources(ledger_available(&l), 2, 4, 420);
        ASSERT_OK(ledger_reserve(&l, &medium, reason, sizeof(reason)));
        ASSERT_ERROR(ledger_reserve(&l, &medium, reason, sizeof(reason)), ENOSPC);

        /* Everything back. */
        for (unsigned i = 0; i < 5; i++)
                ledger_release(&l, &medium);
        ASSERT_EQ_UINT(l.n_vms, 0);
        assert_resources(l.reserved, 0, 0, 0);
        assert_resources(ledger_available(&l), 10, 20, 500);

        /* n_vms never wraps below zero. */
        ledger_release(&l, &(Resources) {});
        ASSERT_EQ_UINT(l.n_vms, 0);
}

TEST(reserve_exactly_all) {
        Ledger l = ledger_new();
        char reason[256];

        ASSERT_OK(ledger_reserve(&l, &(Resources) { 10, 20, 500 }, reason, sizeof(reason)));
        assert_resources(ledger_available(&l), 0, 0, 0);
        ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 1, 1, 1 }, reason, sizeof(reason)), ENOSPC);
        ASSERT_STREQ(reason, "Not enough CPU: 1 cores requested, 0 available");
}

TEST(refusal_messages) {
        static const struct {
                Resources request;
                const char *reason;
        } table[] = {
                { { 11, 1, 1 }, "Not enough CPU: 11 cores requested, 10 available" },
                { { 1, 21, 1 }, "Not enough memory: 21 GB requested, 20 GB available" },
                { { 1, 1, 501 }, "Not enough storage: 501 GB requested, 500 GB available" },
                /* Several short: the first in the order CPU, memory, storage. */
                { { 11, 21, 501 }, "Not enough CPU: 11 cores requested, 10 available" },
                { { 10, 21, 501 }, "Not enough memory: 21 GB requested, 20 GB available" },
                { { 256, 4096, 65536 }, "Not enough CPU: 256 cores requested, 10 available" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Ledger l = ledger_new();
                char reason[256] = "";

                TEST_CONTEXT("row %zu", i);
                ASSERT_ERROR(ledger_reserve(&l, &table[i].request, reason, sizeof(reason)), ENOSPC);
                ASSERT_STREQ(reason, table[i].reason);
                /* Nothing was taken. */
                ASSERT_EQ_UINT(l.n_vms, 0);
                assert_resources(l.reserved, 0, 0, 0);
        }

        /* After some reservations the numbers are what is left. */
        {
                Ledger l = ledger_new();
                char reason[256];

                ASSERT_OK(ledger_reserve(&l, &(Resources) { 3, 7, 123 }, reason, sizeof(reason)));
                ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 1, 14, 1 }, reason, sizeof(reason)), ENOSPC);
                ASSERT_STREQ(reason, "Not enough memory: 14 GB requested, 13 GB available");
                ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 1, 1, 378 }, reason, sizeof(reason)), ENOSPC);
                ASSERT_STREQ(reason, "Not enough storage: 378 GB requested, 377 GB available");
                ASSERT_OK(ledger_reserve(&l, &(Resources) { 7, 13, 377 }, reason, sizeof(reason)));
        }

        /* A short buffer truncates, never overflows. */
        {
                Ledger l = ledger_new();
                char reason[16];

                memset(reason, 'X', sizeof(reason));
                ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 11, 1, 1 }, reason, 8), ENOSPC);
                ASSERT_STREQ(reason, "Not eno");
                ASSERT_EQ_INT(reason[8], 'X');
        }
}

TEST(max_vms) {
        Ledger l = ledger_new();
        Resources tiny = { 1, 1, 1 };
        char reason[256];

        l.max_vms = 3;
        for (unsigned i = 0; i < 3; i++)
                ASSERT_OK(ledger_reserve(&l, &tiny, reason, sizeof(reason)));
        ASSERT_ERROR(ledger_reserve(&l, &tiny, reason, sizeof(reason)), EUSERS);
        ASSERT_STREQ(reason, "The provider already runs its maximum of 3 VMs");
        ASSERT_EQ_UINT(l.n_vms, 3);
        assert_resources(l.reserved, 3, 3, 3);
        ASSERT_FALSE(ledger_can_offer(&l));

        /* MAX_VMS is checked before the resources. */
        ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 1000, 1, 1 }, reason, sizeof(reason)), EUSERS);

        ledger_release(&l, &tiny);
        ASSERT_TRUE(ledger_can_offer(&l));
        ASSERT_OK(ledger_reserve(&l, &tiny, reason, sizeof(reason)));

        /* 0: no limit. */
        l.max_vms = 0;
        for (unsigned i = 0; i < 6; i++)
                ASSERT_OK(ledger_reserve(&l, &tiny, reason, sizeof(reason)));
        ASSERT_EQ_UINT(l.n_vms, 9);
        ASSERT_TRUE(ledger_can_offer(&l));
        ASSERT_OK(ledger_reserve(&l, &tiny, reason, sizeof(reason)));
        ASSERT_EQ_UINT(l.n_vms, 10);
        ASSERT_FALSE(ledger_can_offer(&l));
        ASSERT_ERROR(ledger_reserve(&l, &tiny, reason, sizeof(reason)), ENOSPC);
        ASSERT_STREQ(reason, "Not enough CPU: 1 cores requested, 0 available");
}

TEST(adopt) {
        Ledger l = ledger_new();
        char reason[256];

        /* Adopted records are held whatever the capacity and MAX_VMS say now. */
        l.max_vms = 1;
        ledger_adopt(&l, &(Resources) { 8, 16, 80 });
        ledger_adopt(&l, &(Resources) { 8, 16, 80 });
        ASSERT_EQ_UINT(l.n_vms, 2);
        assert_resources(l.reserved, 16, 32, 160);
        /* Overcommitted: nothing is available, never less than nothing. */
        assert_resources(ledger_available(&l), 0, 0, 340);
        ASSERT_FALSE(ledger_can_offer(&l));
        ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 1, 1, 1 }, reason, sizeof(reason)), EUSERS);
        l.max_vms = 10;
        ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 1, 1, 1 }, reason, sizeof(reason)), ENOSPC);
        ASSERT_STREQ(reason, "Not enough CPU: 1 cores requested, 0 available");

        ledger_release(&l, &(Resources) { 8, 16, 80 });
        assert_resources(ledger_available(&l), 2, 4, 420);
        ASSERT_TRUE(ledger_can_offer(&l));
}

TEST(available_never_negative) {
        Ledger l = ledger_new();

        l.capacity = (Resources) {};
        assert_resources(ledger_available(&l), 0, 0, 0);
        ledger_adopt(&l, &(Resources) { 1, 1, 1 });
        assert_resources(ledger_available(&l), 0, 0, 0);

        l = ledger_new();
        ledger_adopt(&l, &(Resources) { INT32_MAX, INT32_MAX, INT32_MAX });
        assert_resources(ledger_available(&l), 0, 0, 0);
        ASSERT_FALSE(ledger_can_offer(&l));
}

TEST(can_offer_minimums) {
        Ledger l = ledger_new();

        /* Free exactly the minimums (1 CPU, 1 GB, 10 GB): offered. */
        l.reserved = (Resources) { 9, 19, 490 };
        ASSERT_TRUE(ledger_can_offer(&l));
        /* One short in any of them: not. */
        l.reserved = (Resources) { 10, 19, 490 };
        ASSERT_FALSE(ledger_can_offer(&l));
        l.reserved = (Resources) { 9, 20, 490 };
        ASSERT_FALSE(ledger_can_offer(&l));
        l.reserved = (Resources) { 9, 19, 491 };
        ASSERT_FALSE(ledger_can_offer(&l));

        /* Higher minimums. */
        l = ledger_new();
        l.minimum = (Resources) { 4, 8, 100 };
        l.reserved = (Resources) { 6, 12, 400 };
        ASSERT_TRUE(ledger_can_offer(&l));
        l.reserved.cpu = 7;
        ASSERT_FALSE(ledger_can_offer(&l));

        /* Minimums of 0 still need something free. */
        l = ledger_new();
        l.minimum = (Resources) {};
        l.reserved = (Resources) { 9, 19, 499 };
        ASSERT_TRUE(ledger_can_offer(&l));
        l.reserved = (Resources) { 10, 19, 499 };
        ASSERT_FALSE(ledger_can_offer(&l));

        /* A host below the minimums offers nothing at all. */
        l = ledger_new();
        l.capacity = (Resources) { 1, 1, 9 };
        ASSERT_FALSE(ledger_can_offer(&l));
}

/* ---- live usage ---- */

static const char meminfo_75[] =
        "MemTotal:       16000000 kB\n"
        "MemFree:         1000000 kB\n"
        "MemAvailable:    4000000 kB\n"
        "Buffers:          200000 kB\n"
        "Cached:          2500000 kB\n"
        "SwapTotal:       2097148 kB\n";

/* The real files' shape: "cpu" and two spaces, ten fields, then per-CPU lines. */
static const char stat_1[] =
        "cpu  1000 10 500 8000 400 0 90 0 0 0\n"
        "cpu0 500 5 250 4000 200 0 45 0 0 0\n"
        "cpu1 500 5 250 4000 200 0 45 0 0 0\n"
        "intr 123456 0 0\n"
        "ctxt 987654\n";
/* +1000 jiffies: 200 idle, 50 iowait, 750 busy (user, nice, system, irq, softirq, steal). */
static const char stat_2[] =
        "cpu  1500 20 600 8200 450 50 150 30 0 0\n"
        "cpu0 750 10 300 4100 225 25 75 15 0 0\n"
        "cpu1 750 10 300 4100 225 25 75 15 0 0\n";

TEST(parse_usage) {
        Ledger l = ledger_new();

        ASSERT_OK(ledger_parse_usage(&l, stat_1, meminfo_75, 42));
        /* One sample says nothing about CPU yet. */
        ASSERT_EQ_UINT(l.usage.cpu_percent, 0);
        ASSERT_EQ_UINT(l.usage.memory_percent, 75);
        ASSERT_EQ_UINT(l.usage.storage_percent, 42);

        ASSERT_OK(ledger_parse_usage(&l, stat_2, meminfo_75, 43));
        ASSERT_EQ_UINT(l.usage.cpu_percent, 75);
        ASSERT_EQ_UINT(l.usage.storage_percent, 43);

        /* The same counters again: no time passed, the last value stays. */
        ASSERT_OK(ledger_parse_usage(&l, stat_2, meminfo_75, 43));
        ASSERT_EQ_UINT(l.usage.cpu_percent, 75);

        /* Idle since: 0%. */
        ASSERT_OK(ledger_parse_usage(&l, "cpu  1500 20 600 9200 450 50 150 30 0 0\n", meminfo_75, 43));
        ASSERT_EQ_UINT(l.usage.cpu_percent, 0);
        /* All busy since: 100%. */
        ASSERT_OK(ledger_parse_usage(&l, "cpu  2500 20 600 9200 450 50 150 30 0 0\n", meminfo_75, 43));
        ASSERT_EQ_UINT(l.usage.cpu_percent, 100);

        /* Storage is capped at 100. */
        ASSERT_OK(ledger_parse_usage(&l, stat_2, meminfo_75, 250));
        ASSERT_EQ_UINT(l.usage.storage_percent, 100);
}

TEST(parse_usage_old_kernel) {
        Ledger l = ledger_new();

        /* Four fields only (Linux 2.4): enough. */
        ASSERT_OK(ledger_parse_usage(&l, "cpu 100 0 100 800\n", meminfo_75, 0));
        ASSERT_OK(ledger_parse_usage(&l, "cpu 150 0 150 900\n", meminfo_75, 0));
        ASSERT_EQ_UINT(l.usage.cpu_percent, 50);
}

TEST(parse_usage_memory) {
        static const struct {
                const char *meminfo;
                unsigned percent;
        } table[] = {
                { "MemTotal: 1000 kB\nMemAvailable: 1000 kB\n", 0 },
                { "MemTotal: 1000 kB\nMemAvailable: 0 kB\n", 100 },
                { "MemTotal: 1000 kB\nMemAvailable: 150 kB\n", 85 },
                { "MemTotal: 1000 kB\nMemAvailable: 149 kB\n", 86 },   /* 85.1% used */
                /* MemAvailable before MemTotal, other lines that start alike. */
                { "MemAvailableX: 1 kB\nMemAvailable: 500 kB\nMemTotalish: 5 kB\nMemTotal: 1000 kB\n", 50 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Ledger l = ledger_new();

                TEST_CONTEXT("%s", table[i].meminfo);
                ASSERT_OK(ledger_parse_usage(&l, stat_1, table[i].meminfo, 0));
                ASSERT_EQ_UINT(l.usage.memory_percent, table[i].percent);
        }
}

TEST(parse_usage_malformed) {
        Ledger l = ledger_new();

        ASSERT_ERROR(ledger_parse_usage(&l, "", meminfo_75, 0), EBADMSG);
        ASSERT_ERROR(ledger_parse_usage(&l, "intr 1 2 3\n", meminfo_75, 0), EBADMSG);
        ASSERT_ERROR(ledger_parse_usage(&l, "cpu 1 2 3\n", meminfo_75, 0), EBADMSG);
        ASSERT_ERROR(ledger_parse_usage(&l, stat_1, "", 0), ENOENT);
        ASSERT_ERROR(ledger_parse_usage(&l, stat_1, "MemTotal: 1000 kB\n", 0), ENOENT);
        ASSERT_ERROR(ledger_parse_usage(&l, stat_1, "MemAvailable: 1000 kB\n", 0), ENOENT);
        ASSERT_ERROR(ledger_parse_usage(&l, stat_1, "MemTotal: lots\nMemAvailable: 1 kB\n", 0), EBADMSG);

        /* Nonsense numbers change nothing. */
        l = ledger_new();
        ASSERT_OK(ledger_parse_usage(&l, stat_1, meminfo_75, 0));
        ASSERT_OK(ledger_parse_usage(&l, stat_1, "MemTotal: 0 kB\nMemAvailable: 0 kB\n", 0));
        ASSERT_EQ_UINT(l.usage.memory_percent, 75);
        ASSERT_OK(ledger_parse_usage(&l, stat_1, "MemTotal: 100 kB\nMemAvailable: 200 kB\n", 0));
        ASSERT_EQ_UINT(l.usage.memory_percent, 75);
        /* Counters that went backwards (a wrap, another kernel): no CPU value from them. */
        ASSERT_OK(ledger_parse_usage(&l, stat_2, meminfo_75, 0));
        ASSERT_EQ_UINT(l.usage.cpu_percent, 75);
        ASSERT_OK(ledger_parse_usage(&l, stat_1, meminfo_75, 0));
        ASSERT_EQ_UINT(l.usage.cpu_percent, 75);
        ASSERT_TRUE(l.usage.cpu_percent <= 100);
}

TEST(thresholds) {
        Ledger l = ledger_new();
        char reason[256] = "";

        /* 75% CPU, 75% memory, 42% storage: under 90/85/90. */
        ASSERT_OK(ledger_parse_usage(&l, stat_1, meminfo_75, 42));
        ASSERT_OK(ledger_parse_usage(&l, stat_2, meminfo_75, 42));
        ASSERT_OK(ledger_reserve(&l, &medium, reason, sizeof(reason)));
        ledger_release(&l, &medium);

        /* At the threshold is fine; above it is not. */
        l.cpu_threshold = 75;
        ASSERT_OK(ledger_reserve(&l, &medium, reason, sizeof(reason)));
        ledger_release(&l, &medium);
        l.cpu_threshold = 74;
        ASSERT_ERROR(ledger_reserve(&l, &medium, reason, sizeof(reason)), EBUSY);
        ASSERT_STREQ(reason, "Host CPU usage is 75%, above the 74% threshold");
        ASSERT_EQ_UINT(l.n_vms, 0);
        assert_resources(l.reserved, 0, 0, 0);
        l.cpu_threshold = 100;

        ASSERT_OK(ledger_parse_usage(&l, stat_2, "MemTotal: 1000 kB\nMemAvailable: 100 kB\n", 42));
        ASSERT_EQ_UINT(l.usage.memory_percent, 90);
        ASSERT_ERROR(ledger_reserve(&l, &medium, reason, sizeof(reason)), EBUSY);
        ASSERT_STREQ(reason, "Host memory usage is 90%, above the 85% threshold");
        l.memory_threshold = 90;
        ASSERT_OK(ledger_reserve(&l, &medium, reason, sizeof(reason)));
        ledger_release(&l, &medium);

        ASSERT_OK(ledger_parse_usage(&l, stat_2, meminfo_75, 91));
        ASSERT_ERROR(ledger_reserve(&l, &medium, reason, sizeof(reason)), EBUSY);
        ASSERT_STREQ(reason, "Host storage usage is 91%, above the 90% threshold");
        ASSERT_EQ_UINT(l.n_vms, 0);

        /* Not enough resources is said before a busy host. */
        ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 11, 1, 1 }, reason, sizeof(reason)), ENOSPC);
        /* MAX_VMS before both. */
        l.max_vms = 1;
        ledger_adopt(&l, &medium);
        ASSERT_ERROR(ledger_reserve(&l, &(Resources) { 11, 1, 1 }, reason, sizeof(reason)), EUSERS);

        /* 100 lets everything through, as the tests' CPU_THRESHOLD=100 relies on. */
        l = ledger_new();
        l.cpu_threshold = l.memory_threshold = l.storage_threshold = 100;
        ASSERT_OK(ledger_parse_usage(&l, "cpu 1 0 0 1\n", "MemTotal: 1000 kB\nMemAvailable: 0 kB\n", 100));
        ASSERT_OK(ledger_parse_usage(&l, "cpu 101 0 0 1\n", "MemTotal: 1000 kB\nMemAvailable: 0 kB\n", 100));
        ASSERT_EQ_UINT(l.usage.cpu_percent, 100);
        ASSERT_OK(ledger_reserve(&l, &medium, reason, sizeof(reason)));
}

/* ---- the host ---- */

static long long meminfo_total_kb(void) {
        FILE *f = fopen("/proc/meminfo", "re");
        long long kb = -1;
        char line[256];

        ASSERT_NOT_NULL(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

TEST(host_capacity) {
        HostCapacity c = { -1, -1, -1 };
        char *dir = test_mkdtemp();
        long long kb = meminfo_total_kb();

        ASSERT_OK(host_capacity_probe(dir, &c));
        ASSERT_EQ_INT(c.cpu, sysconf(_SC_NPROCESSORS_ONLN));
        ASSERT_TRUE(c.cpu >= 1 && c.cpu <= 65536);
        ASSERT_TRUE(kb > 0);
        /* Whole GiB, rounded down. */
        ASSERT_EQ_INT(c.memory_gb, kb / (1024 * 1024));
        ASSERT_TRUE(c.memory_gb >= 0 && c.memory_gb < 1024 * 1024);
        ASSERT_TRUE(c.storage_gb >= 0 && c.storage_gb < 1024LL * 1024 * 1024);
        fprintf(stderr, "This host: %" PRIi64 " CPUs, %" PRIi64 " GB memory, %" PRIi64 " GB storage at %s.\n",
                c.cpu, c.memory_gb, c.storage_gb, dir);

        {
                HostCapacity d = { -1, -1, -1 };
                char *missing;

                ASSERT_TRUE(asprintf(&missing, "%s/missing", dir) >= 0);
                ASSERT_ERROR(host_capacity_probe(missing, &d), ENOENT);
                ASSERT_EQ_INT(d.cpu, -1);
                free(missing);
        }
        test_rm_rf(dir);
        free(dir);
}

TEST(sample_usage) {
        Ledger l = ledger_new();
        char *dir = test_mkdtemp();

        ASSERT_OK(ledger_sample_usage(&l, dir));
        usleep(50 * 1000);
        ASSERT_OK(ledger_sample_usage(&l, dir));
        ASSERT_TRUE(l.usage.cpu_percent <= 100);
        ASSERT_TRUE(l.usage.memory_percent <= 100);
        ASSERT_TRUE(l.usage.storage_percent <= 100);
        /* Something is in use on any real host. */
        ASSERT_TRUE(l.usage.memory_percent > 0);
        ASSERT_TRUE(l.last_total > 0);
        test_rm_rf(dir);
        free(dir);
}
