/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "provider-vm.h"

/* The resource ledger: what this host offers (capacity), what VMs hold (reservations) and
 * the live host usage the thresholds are checked against. Everything runs on one loop, so a
 * reservation is atomic: check and take happen in one step, and concurrent creates can never
 * overcommit. Reservations are not stored separately: they are the resources of the VM
 * records, so a restart recomputes them exactly. */

typedef struct HostUsage {
        unsigned cpu_percent;     /* busy share of all CPUs since the previous sample */
        unsigned memory_percent;  /* 100 - MemAvailable/MemTotal */
        unsigned storage_percent; /* used share of the state directory's file system */
} HostUsage;

typedef struct Ledger {
        Resources capacity;
        Resources reserved;
        unsigned n_vms;
        unsigned max_vms;
        Resources minimum;            /* below this much free, nothing is offered */
        unsigned cpu_threshold, memory_threshold, storage_threshold;
        HostUsage usage;
        /* for the CPU usage sample */
        unsigned long long last_busy, last_total;
} Ledger;

typedef struct HostCapacity {
        int64_t cpu;
        int64_t memory_gb;
        int64_t storage_gb;
} HostCapacity;

/* CPUs online, MemTotal and the size of the file system holding dir. */
int host_capacity_probe(const char *dir, HostCapacity *ret);

/* Samples /proc/stat, /proc/meminfo and statvfs(dir) into l->usage. */
int ledger_sample_usage(Ledger *l, const char *dir);
/* The same from given file contents, for tests. */
int ledger_parse_usage(Ledger *l, const char *proc_stat, const char *meminfo, unsigned storage_percent);

/* Takes r for one more VM, or refuses with -ENOSPC (not enough free), -EUSERS (MAX_VMS) or
 * -EBUSY (a live threshold is exceeded), explaining in reason. */
int ledger_reserve(Ledger *l, const Resources *r, char *reason, size_t reason_size);
void ledger_release(Ledger *l, const Resources *r);
/* Takes r unconditionally: a record found at start is held whatever the capacity now. */
void ledger_adopt(Ledger *l, const Resources *r);

Resources ledger_available(const Ledger *l);
/* Whether what is free is at least the minimums, so worth advertising. */
bool ledger_can_offer(const Ledger *l);
