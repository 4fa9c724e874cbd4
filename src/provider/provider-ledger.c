/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "provider-ledger.h"

#define GIB (1024ULL * 1024ULL * 1024ULL)

static int read_file(const char *path, char *buf, size_t size) {
        FILE *f;
        size_t n;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        n = fread(buf, 1, size - 1, f);
        fclose(f);
        buf[n] = 0;
        return 0;
}

static int meminfo_field(const char *meminfo, const char *field, unsigned long long *ret_kb) {
        const char *p = meminfo;
        size_t l = strlen(field);

        while (p && *p) {
                if (strncmp(p, field, l) == 0 && p[l] == ':')
                        return sscanf(p + l + 1, "%llu", ret_kb) == 1 ? 0 : -EBADMSG;
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return -ENOENT;
}

int host_capacity_probe(const char *dir, HostCapacity *ret) {
        char meminfo[8192];
        unsigned long long kb;
        struct statvfs sv;
        long cpus;
        int r;

        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus < 1)
                return -EIO;

        r = read_file("/proc/meminfo", meminfo, sizeof(meminfo));
        if (r < 0)
                return r;
        r = meminfo_field(meminfo, "MemTotal", &kb);
        if (r < 0)
                return r;

        if (statvfs(dir, &sv) < 0)
                return -errno;

        ret->cpu = cpus;
        ret->memory_gb = (int64_t) (kb * 1024ULL / GIB);
        ret->storage_gb = (int64_t) ((unsigned long long) sv.f_blocks * sv.f_frsize / GIB);
        return 0;
}

int ledger_parse_usage(Ledger *l, const char *proc_stat, const char *meminfo, unsigned storage_percent) {
        unsigned long long v[8] = {}, busy, total = 0, total_kb, avail_kb;
        int r;

        if (sscanf(proc_stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
                return -EBADMSG;
        for (size_t i = 0; i < 8; i++)
                total += v[i];
        busy = total - v[3] - v[4]; /* idle and iowait */

        if (l->last_total > 0 && total > l->last_total && busy >= l->last_busy)
                l->usage.cpu_percent = (unsigned) MIN(100ULL, (busy - l->last_busy) * 100 / (total - l->last_total));
        l->last_busy = busy;
        l->last_total = total;

        r = meminfo_field(meminfo, "MemTotal", &total_kb);
        if (r >= 0)
                r = meminfo_field(meminfo, "MemAvailable", &avail_kb);
        if (r < 0)
                return r;
        if (total_kb > 0 && avail_kb <= total_kb)
                l->usage.memory_percent = (unsigned) (100 - avail_kb * 100 / total_kb);

        l->usage.storage_percent = MIN(storage_percent, 100u);
        return 0;
}

int ledger_sample_usage(Ledger *l, const char *dir) {
        char stat[4096], meminfo[8192];
        struct statvfs sv;
        unsigned storage = 0;
        int r;

        r = read_file("/proc/stat", stat, sizeof(stat));
        if (r < 0)
                return r;
        r = read_file("/proc/meminfo", meminfo, sizeof(meminfo));
        if (r < 0)
                return r;
        if (statvfs(dir, &sv) >= 0 && sv.f_blocks > 0)
                storage = (unsigned) ((sv.f_blocks - sv.f_bavail) * 100ULL / sv.f_blocks);
        return ledger_parse_usage(l, stat, meminfo, storage);
}

Resources ledger_available(const Ledger *l) {
        return (Resources) {
                .cpu = MAX(l->capacity.cpu - l->reserved.cpu, (int64_t) 0),
                .memory = MAX(l->capacity.memory - l->reserved.memory, (int64_t) 0),
                .storage = MAX(l->capacity.storage - l->reserved.storage, (int64_t) 0),
        };
}

bool ledger_can_offer(const Ledger *l) {
        Resources a = ledger_available(l);

        return (l->max_vms == 0 || l->n_vms < l->max_vms) &&
               a.cpu >= MAX(l->minimum.cpu, (int64_t) 1) &&
               a.memory >= MAX(l->minimum.memory, (int64_t) 1) &&
               a.storage >= MAX(l->minimum.storage, (int64_t) 1);
}

int ledger_reserve(Ledger *l, const Resources *r, char *reason, size_t reason_size) {
        Resources a = ledger_available(l);

        if (l->max_vms > 0 && l->n_vms >= l->max_vms) {
                snprintf(reason, reason_size, "The provider already runs its maximum of %u VMs", l->max_vms);
                return -EUSERS;
        }
        if (r->cpu > a.cpu) {
                snprintf(reason, reason_size, "Not enough CPU: %" PRIi64 " cores requested, %" PRIi64 " available", r->cpu, a.cpu);
                return -ENOSPC;
        }
        if (r->memory > a.memory) {
                snprintf(reason, reason_size, "Not enough memory: %" PRIi64 " GB requested, %" PRIi64 " GB available", r->memory, a.memory);
                return -ENOSPC;
        }
        if (r->storage > a.storage) {
                snprintf(reason, reason_size, "Not enough storage: %" PRIi64 " GB requested, %" PRIi64 " GB available", r->storage, a.storage);
                return -ENOSPC;
        }
        if (l->usage.cpu_percent > l->cpu_threshold) {
                snprintf(reason, reason_size, "Host CPU usage is %u%%, above the %u%% threshold", l->usage.cpu_percent, l->cpu_threshold);
                return -EBUSY;
        }
        if (l->usage.memory_percent > l->memory_threshold) {
                snprintf(reason, reason_size, "Host memory usage is %u%%, above the %u%% threshold", l->usage.memory_percent, l->memory_threshold);
                return -EBUSY;
        }
        if (l->usage.storage_percent > l->storage_threshold) {
                snprintf(reason, reason_size, "Host storage usage is %u%%, above the %u%% threshold", l->usage.storage_percent, l->storage_threshold);
                return -EBUSY;
        }

        ledger_adopt(l, r);
        return 0;
}

void ledger_adopt(Ledger *l, const Resources *r) {
        l->reserved.cpu += r->cpu;
        l->reserved.memory += r->memory;
        l->reserved.storage += r->storage;
        l->n_vms++;
}

void ledger_release(Ledger *l, const Resources *r) {
        l->reserved.cpu -= r->cpu;
        l->reserved.memory -= r->memory;
        l->reserved.storage -= r->storage;
        if (l->n_vms > 0)
                l->n_vms--;
}
