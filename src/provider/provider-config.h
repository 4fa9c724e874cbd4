/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf-parser.h"

#define PROVIDER_CONFIG_FILE "/etc/golem/provider.conf"
#define PROVIDER_DEFAULT_PORT 7466
#define PROVIDER_DEFAULT_DATA_DIR "/var/lib/golem-provider"

typedef struct ProviderSettings {
        char *id;                   /* NULL: the identity of the provider's key (legacy ids are unverifiable) */
        char *name;                 /* NULL: the host name */
        char *country;              /* ISO 3166 alpha-2, upper-case */
        char *host;
        uint16_t port;
        char *public_ip;            /* what /access and the advertisement say */
        char *discovery_url;        /* NULL: do not advertise */
        uint64_t advertisement_interval_sec;
        unsigned max_vms;
        unsigned max_vms_per_owner; /* VMs one requestor's key may own at a time; 0: no limit */
        bool allow_unsigned_requests; /* unsigned REST requests act as "anonymous" */
        char *default_vm_image;
        char *vm_data_dir;
        char *multipass_binary_path;
        char *driver;               /* "auto", "multipass" or "qemu" */
        char *image_dir;            /* qemu: where images are */
        char *qemu_binary_path;
        char *qemu_accel;           /* "auto", "kvm" or "tcg" */
        uint64_t launch_timeout_sec;
        bool autostart_vms;         /* VMs that were running are started again when the provider starts */
        uint16_t port_range_start, port_range_end;
        unsigned min_cpu_cores, min_memory_gb, min_storage_gb;
        unsigned cpu_threshold, memory_threshold, storage_threshold; /* percent of live host usage */
        unsigned reserve_cpu, reserve_memory_gb, reserve_storage_gb;
        unsigned capacity_cpu, capacity_memory_gb, capacity_storage_gb; /* 0: from the host */
        unsigned rate_limit_per_minute;
        bool metrics;               /* GET /metrics answers (else 404) */
        char *vm_denied_networks;   /* canonical CIDR lists (provider-vm-network.h) */
        char *vm_allowed_networks;
} ProviderSettings;

int provider_settings_load(ProviderSettings *s, const char *path, char **ret_error);
void provider_settings_done(ProviderSettings *s);
/* The effective settings as a config file (--check-config); -EOPNOTSUPP if a setting has no
 * formatter (provider_formats in provider-config.c). */
int provider_settings_dump(const ProviderSettings *s, FILE *f);
/* The settings' table (for the tests). */
const ConfigItem *provider_settings_items(size_t *ret_n);
