/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <stdio.h>

#include "conf-parser.h"
#include "discovery-config.h"
#include "discovery-database-url.h"
#include "macro.h"

#define ITEM(key, env, parser, field, lo, hi) \
        { "Discovery", key, "GOLEM_DISCOVERY_" env, parser, offsetof(DiscoverySettings, field), lo, hi }
/* One whose variable was renamed to follow the rule (conf-parser.h); the old name still works. */
#define ITEM_RENAMED(key, env, old, parser, field, lo, hi) \
        { "Discovery", key, "GOLEM_DISCOVERY_" env, parser, offsetof(DiscoverySettings, field), lo, hi, \
          "GOLEM_DISCOVERY_" old }

/* DatabaseURL=: empty for SQLite, else a PostgreSQL URL that libpq parses. */
static int parse_database_url(const ConfigItem *item, const char *value, void *data) {
        if (isempty(value))
                return free_and_strdup(data, NULL);
        if (!database_url_valid(value))
                return -EINVAL;
        return free_and_strdup(data, value);
}

/* --check-config shows it without its password. */
static int format_database_url(const void *data, char **ret) {
        const char *url = *(char *const *) data;

        *ret = NULL;
        return url ? database_url_redact(url, ret) : 0;
}

static const ConfigFormat discovery_formats[] = {
        { parse_database_url, format_database_url },
};

static const ConfigItem discovery_items[] = {
        ITEM("Host",               "HOST",                     config_parse_ip_address, host, 0, 0),
        ITEM("Port",               "PORT",                     config_parse_port, port, 0, 0),
        ITEM("DatabaseDir",        "DATABASE_DIR",             config_parse_path, database_dir, 0, 0),
        ITEM("DatabasePath",       "DATABASE_PATH",            config_parse_path, database_path, 0, 0),
        { "Discovery", "DatabaseURL", "GOLEM_DISCOVERY_DATABASE_URL", parse_database_url,
          offsetof(DiscoverySettings, database_url), .secret = true },
        ITEM("RateLimitPerMinute", "RATE_LIMIT_PER_MINUTE",    config_parse_unsigned, rate_limit_per_minute, 0, 1000000),
        ITEM("AdvertisementTTL",   "ADVERTISEMENT_TTL",        config_parse_uint64, advertisement_ttl_sec, 1, 86400 * 365),
        ITEM_RENAMED("CleanupIntervalSec", "CLEANUP_INTERVAL_SEC", "CLEANUP_INTERVAL_SECONDS", config_parse_uint64, cleanup_interval_sec, 1, 86400),
        ITEM("AllowUnsignedAdvertisements", "ALLOW_UNSIGNED_ADVERTISEMENTS", config_parse_bool, allow_unsigned_advertisements, 0, 0),
        ITEM("Metrics",            "METRICS",                  config_parse_bool, metrics, 0, 0),
};

int discovery_settings_load(DiscoverySettings *s, const char *path, char **ret_error) {
        const char *state_dir;
        int r;

        *s = (DiscoverySettings) {
                .port = DISCOVERY_DEFAULT_PORT,
                .rate_limit_per_minute = 100,
                .advertisement_ttl_sec = 300,
                .cleanup_interval_sec = 60,
                .allow_unsigned_advertisements = true,
                .metrics = true,
        };
        s->host = strdup("0.0.0.0");
        if (!s->host)
                return -ENOMEM;

        r = config_load(discovery_items, ELEMENTSOF(discovery_items), path, s, ret_error);
        if (r < 0)
                return r;

        if (!s->database_dir) {
                /* StateDirectory= hands us the place under systemd. */
                state_dir = getenv("STATE_DIRECTORY");
                r = free_and_strdup(&s->database_dir,
                                    state_dir && state_dir[0] == '/' ? state_dir : DISCOVERY_DEFAULT_DATABASE_DIR);
                if (r < 0)
                        return r;
                /* STATE_DIRECTORY may list several, separated by ':'; the first is ours. */
                s->database_dir[strcspn(s->database_dir, ":")] = 0;
        }
        if (!s->database_path && asprintf(&s->database_path, "%s/discovery.db", s->database_dir) < 0) {
                s->database_path = NULL;
                return -ENOMEM;
        }
        return 0;
}

const ConfigItem *discovery_settings_items(size_t *ret_n) {
        *ret_n = ELEMENTSOF(discovery_items);
        return discovery_items;
}

int discovery_settings_dump(const DiscoverySettings *s, FILE *f) {
        return config_dump(discovery_items, ELEMENTSOF(discovery_items), s, discovery_formats,
                           ELEMENTSOF(discovery_formats), f);
}

void discovery_settings_done(DiscoverySettings *s) {
        free(s->host);
        free(s->database_dir);
        free(s->database_path);
        free(s->database_url);
        *s = (DiscoverySettings) {};
}
