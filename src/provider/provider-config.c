/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <stdio.h>

#include "conf-parser.h"
#include "macro.h"
#include "parse-util.h"
#include "provider-config.h"
#include "provider-vm-network.h"
#include "validate.h"
#include "vm-spec.h"

static int parse_country(const ConfigItem *item, const char *value, void *data) {
        char c[3];

        if (country_code_canonicalize(value, c) < 0)
                return -EINVAL;
        return free_and_strdup(data, c);
}

static int parse_provider_id(const ConfigItem *item, const char *value, void *data) {
        if (!provider_id_valid(value))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_display_name(const ConfigItem *item, const char *value, void *data) {
        if (isempty(value) || strlen(value) > 64)
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_url(const ConfigItem *item, const char *value, void *data) {
        if (isempty(value))
                return free_and_strdup(data, NULL);
        if ((!startswith(value, "http://") && !startswith(value, "https://")) || strlen(value) > 1024 ||
            strpbrk(value, " \t\"'<>\\"))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_image(const ConfigItem *item, const char *value, void *data) {
        /* What a create request may name, since the default is launched the same way. */
        if (!vm_image_valid(value))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_driver(const ConfigItem *item, const char *value, void *data) {
        if (!streq(value, "auto") && !streq(value, "multipass") && !streq(value, "qemu"))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_accel(const ConfigItem *item, const char *value, void *data) {
        if (!streq(value, "auto") && !streq(value, "kvm") && !streq(value, "tcg"))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_percent(const ConfigItem *item, const char *value, void *data) {
        uint64_t v;
        int r;

        r = parse_uint_range(value, 1, 100, &v);
        if (r < 0)
                return r;
        *(unsigned *) data = (unsigned) v;
        return 0;
}

/* CIDR lists, kept in their canonical form: what reaches the VMs' nftables ruleset. */
static int parse_networks(const ConfigItem *item, const char *value, void *data) {
        _cleanup_free_ char *list = NULL;
        int r;

        r = cidr_list_canonicalize(value, &list);
        if (r < 0)
                return r == -E2BIG ? -ERANGE : r;
        free(*(char **) data);
        *(char **) data = TAKE_PTR(list);
        return 0;
}

#define ITEM(key, env, parser, field, lo, hi) \
        { "Provider", key, "GOLEM_PROVIDER_" env, parser, offsetof(ProviderSettings, field), lo, hi }
/* One whose variable was renamed to follow the rule (conf-parser.h); the old name still works. */
#define ITEM_RENAMED(key, env, old, parser, field, lo, hi) \
        { "Provider", key, "GOLEM_PROVIDER_" env, parser, offsetof(ProviderSettings, field), lo, hi, \
          "GOLEM_PROVIDER_" old }

static const ConfigItem provider_items[] = {
        ITEM("ID",                    "ID",                     parse_provider_id, id, 0, 0),
        ITEM("Name",                  "NAME",                   parse_display_name, name, 0, 0),
        ITEM("Country",               "COUNTRY",                parse_country, country, 0, 0),
        ITEM("Host",                  "HOST",                   config_parse_ip_address, host, 0, 0),
        ITEM("Port",                  "PORT",                   config_parse_port, port, 0, 0),
        ITEM("PublicIP",              "PUBLIC_IP",              config_parse_ip_address, public_ip, 0, 0),
        ITEM("DiscoveryURL",          "DISCOVERY_URL",          parse_url, discovery_url, 0, 0),
        ITEM("AdvertisementInterval", "ADVERTISEMENT_INTERVAL", config_parse_uint64, advertisement_interval_sec, 1, 86400),
        ITEM("MaxVMs",                "MAX_VMS",                config_parse_unsigned, max_vms, 0, 1000),
        ITEM("MaxVMsPerOwner",        "MAX_VMS_PER_OWNER",      config_parse_unsigned, max_vms_per_owner, 0, 1000),
        ITEM("AllowUnsignedRequests", "ALLOW_UNSIGNED_REQUESTS", config_parse_bool, allow_unsigned_requests, 0, 0),
        ITEM("DefaultVMImage",        "DEFAULT_VM_IMAGE",       parse_image, default_vm_image, 0, 0),
        ITEM("VMDataDir",             "VM_DATA_DIR",            config_parse_path, vm_data_dir, 0, 0),
        ITEM("MultipassBinaryPath",   "MULTIPASS_BINARY_PATH",  config_parse_path, multipass_binary_path, 0, 0),
        ITEM("Driver",                "DRIVER",                 parse_driver, driver, 0, 0),
        ITEM("ImageDir",              "IMAGE_DIR",              config_parse_path, image_dir, 0, 0),
        ITEM("QemuBinaryPath",        "QEMU_BINARY_PATH",       config_parse_path, qemu_binary_path, 0, 0),
        ITEM("QemuAccel",             "QEMU_ACCEL",             parse_accel, qemu_accel, 0, 0),
        ITEM_RENAMED("LaunchTimeoutSec", "LAUNCH_TIMEOUT_SEC", "LAUNCH_TIMEOUT", config_parse_uint64, launch_timeout_sec, 1, 86400),
        ITEM("AutostartVMs",          "AUTOSTART_VMS",          config_parse_bool, autostart_vms, 0, 0),
        ITEM("PortRangeStart",        "PORT_RANGE_START",       config_parse_port, port_range_start, 0, 0),
        ITEM("PortRangeEnd",          "PORT_RANGE_END",         config_parse_port, port_range_end, 0, 0),
        ITEM("MinCPUCores",           "MIN_CPU_CORES",          config_parse_unsigned, min_cpu_cores, 0, 4096),
        ITEM("MinMemoryGB",           "MIN_MEMORY_GB",          config_parse_unsigned, min_memory_gb, 0, 1048576),
        ITEM("MinStorageGB",          "MIN_STORAGE_GB",         config_parse_unsigned, min_storage_gb, 0, 1048576),
        ITEM("CPUThreshold",          "CPU_THRESHOLD",          parse_percent, cpu_threshold, 0, 0),
        ITEM("MemoryThreshold",       "MEMORY_THRESHOLD",       parse_percent, memory_threshold, 0, 0),
        ITEM("StorageThreshold",      "STORAGE_THRESHOLD",      parse_percent, storage_threshold, 0, 0),
        ITEM("ReserveCPU",            "RESERVE_CPU",            config_parse_unsigned, reserve_cpu, 0, 4096),
        ITEM("ReserveMemoryGB",       "RESERVE_MEMORY_GB",      config_parse_unsigned, reserve_memory_gb, 0, 1048576),
        ITEM("ReserveStorageGB",      "RESERVE_STORAGE_GB",     config_parse_unsigned, reserve_storage_gb, 0, 1048576),
        ITEM("CapacityCPU",           "CAPACITY_CPU",           config_parse_unsigned, capacity_cpu, 0, 4096),
        ITEM("CapacityMemoryGB",      "CAPACITY_MEMORY_GB",     config_parse_unsigned, capacity_memory_gb, 0, 1048576),
        ITEM("CapacityStorageGB",     "CAPACITY_STORAGE_GB",    config_parse_unsigned, capacity_storage_gb, 0, 1048576),
        ITEM("RateLimitPerMinute",    "RATE_LIMIT_PER_MINUTE",  config_parse_unsigned, rate_limit_per_minute, 0, 1000000),
        ITEM("Metrics",               "METRICS",                config_parse_bool, metrics, 0, 0),
        ITEM("VMDeniedNetworks",      "VM_DENIED_NETWORKS",     parse_networks, vm_denied_networks, 0, 0),
        ITEM("VMAllowedNetworks",     "VM_ALLOWED_NETWORKS",    parse_networks, vm_allowed_networks, 0, 0),
};

/* The values of this file's own parsers. */
static const ConfigFormat provider_formats[] = {
        { parse_provider_id,  config_format_string },
        { parse_display_name, config_format_string },
        { parse_country,      config_format_string },
        { parse_url,          config_format_string },
        { parse_image,        config_format_string },
        { parse_driver,       config_format_string },
        { parse_accel,        config_format_string },
        { parse_percent,      config_format_unsigned },
        { parse_networks,     config_format_string },
};

const ConfigItem *provider_settings_items(size_t *ret_n) {
        *ret_n = ELEMENTSOF(provider_items);
        return provider_items;
}

int provider_settings_dump(const ProviderSettings *s, FILE *f) {
        return config_dump(provider_items, ELEMENTSOF(provider_items), s, provider_formats,
                           ELEMENTSOF(provider_formats), f);
}

int provider_settings_load(ProviderSettings *s, const char *path, char **ret_error) {
        const char *state_dir;
        int r;

        *s = (ProviderSettings) {
                .port = PROVIDER_DEFAULT_PORT,
                .advertisement_interval_sec = 240,
                .max_vms = 10,
                .max_vms_per_owner = 3,
                .launch_timeout_sec = 600,
                .autostart_vms = true,
                .port_range_start = 50800,
                .port_range_end = 50899,
                .min_cpu_cores = 1,
                .min_memory_gb = 1,
                .min_storage_gb = 10,
                .cpu_threshold = 90,
                .memory_threshold = 85,
                .storage_threshold = 90,
                .rate_limit_per_minute = 600,
                .metrics = true,
        };
        if (free_and_strdup(&s->host, "0.0.0.0") < 0 ||
            free_and_strdup(&s->default_vm_image, "ubuntu:24.04") < 0 ||
            free_and_strdup(&s->driver, "auto") < 0 ||
            free_and_strdup(&s->qemu_accel, "auto") < 0 ||
            cidr_list_canonicalize(VM_NETWORK_DENIED_DEFAULT, &s->vm_denied_networks) < 0 ||
            free_and_strdup(&s->vm_allowed_networks, "") < 0)
                return -ENOMEM;

        r = config_load(provider_items, ELEMENTSOF(provider_items), path, s, ret_error);
        if (r < 0)
                return r;

        if (s->port_range_start > s->port_range_end) {
                if (ret_error && asprintf(ret_error, "PORT_RANGE_START=%u is above PORT_RANGE_END=%u",
                                          s->port_range_start, s->port_range_end) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }

        if (!s->vm_data_dir) {
                state_dir = getenv("STATE_DIRECTORY");
                r = free_and_strdup(&s->vm_data_dir, state_dir && state_dir[0] == '/' ? state_dir : PROVIDER_DEFAULT_DATA_DIR);
                if (r < 0)
                        return r;
                s->vm_data_dir[strcspn(s->vm_data_dir, ":")] = 0;
        }
        return 0;
}

void provider_settings_done(ProviderSettings *s) {
        free(s->id);
        free(s->name);
        free(s->country);
        free(s->host);
        free(s->public_ip);
        free(s->discovery_url);
        free(s->default_vm_image);
        free(s->vm_data_dir);
        free(s->multipass_binary_path);
        free(s->driver);
        free(s->image_dir);
        free(s->qemu_binary_path);
        free(s->qemu_accel);
        free(s->vm_denied_networks);
        free(s->vm_allowed_networks);
        *s = (ProviderSettings) {};
}
