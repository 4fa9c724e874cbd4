/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf-parser.h"

#define DISCOVERY_CONFIG_FILE "/etc/golem/discovery.conf"
#define DISCOVERY_DEFAULT_PORT 9001
#define DISCOVERY_DEFAULT_DATABASE_DIR "/var/lib/golem-discovery"

typedef struct DiscoverySettings {
        char *host;
        uint16_t port;
        char *database_dir;
        char *database_path;
        char *database_url; /* NULL: SQLite at database_path; else PostgreSQL (postgresql://...) */
        unsigned rate_limit_per_minute; /* 0: off */
        uint64_t advertisement_ttl_sec;
        uint64_t cleanup_interval_sec;
        bool allow_unsigned_advertisements; /* legacy ids, unsigned, stored as unverified */
        bool metrics;               /* GET /metrics answers (else 404) */
} DiscoverySettings;

/* Defaults, then the file and its drop-ins, then GOLEM_DISCOVERY_* variables. */
int discovery_settings_load(DiscoverySettings *s, const char *path, char **ret_error);
void discovery_settings_done(DiscoverySettings *s);
/* The effective settings as a config file (--check-config). */
int discovery_settings_dump(const DiscoverySettings *s, FILE *f);
/* The settings' table (for the tests). */
const ConfigItem *discovery_settings_items(size_t *ret_n);
