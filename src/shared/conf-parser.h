/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* systemd-style configuration: "[Section]" headers, "Key=Value" lines, '#' and ';'
 * comments; the main file, then PATH.d/ *.conf drop-ins in lexical order, then
 * environment variables, each overriding what came before. */

typedef struct ConfigItem ConfigItem;

/* Parses value into the field at data; -EINVAL or -ERANGE on a bad value. */
typedef int (*ConfigParser)(const ConfigItem *item, const char *value, void *data);

struct ConfigItem {
        const char *section;
        const char *key;
        const char *env;    /* full variable name, or NULL: GOLEM_DAEMON_ and the key in upper case
                             * with '_' between its words ("LaunchTimeoutSec": LAUNCH_TIMEOUT_SEC) */
        ConfigParser parse;
        size_t offset;      /* of the field in the settings struct */
        uint64_t min, max;  /* for the number parsers */
        const char *env_old; /* a name the variable had before, still read when env is unset */
        bool secret;         /* may hold a password: an error names the key, not the value */
};

/* Loads path (missing is fine), its drop-ins and the environment into settings.
 * On a bad value, an unknown key or a syntax error, returns -EINVAL with *ret_error set to
 * a one-line message naming the file and line (or the variable) and the key. */
int config_load(const ConfigItem *items, size_t n_items, const char *path, void *settings, char **ret_error);

/* Parses one file only (no drop-ins, no environment). */
int config_parse_file(const ConfigItem *items, size_t n_items, const char *path, void *settings, char **ret_error);

int config_parse_string(const ConfigItem *item, const char *value, void *data);  /* char * */
int config_parse_uint64(const ConfigItem *item, const char *value, void *data);  /* uint64_t in [min, max] */
int config_parse_unsigned(const ConfigItem *item, const char *value, void *data); /* unsigned in [min, max] */
int config_parse_port(const ConfigItem *item, const char *value, void *data);    /* uint16_t, 1-65535 */
int config_parse_bool(const ConfigItem *item, const char *value, void *data);    /* bool */
int config_parse_ip_address(const ConfigItem *item, const char *value, void *data); /* char *, numeric */
int config_parse_path(const ConfigItem *item, const char *value, void *data);    /* char *, absolute */

/* The variable for key by the rule (see ConfigItem.env): prefix, then the key's words in upper
 * case joined by '_', an acronym being one word ("MaxVMsPerOwner": MAX_VMS_PER_OWNER). */
int config_env_name(const char *prefix, const char *key, char **ret);

/* The value of a setting as a config file line would have it (NULL: unset). */
typedef int (*ConfigFormatter)(const void *data, char **ret);
int config_format_string(const void *data, char **ret);   /* char * */
int config_format_uint64(const void *data, char **ret);
int config_format_unsigned(const void *data, char **ret);
int config_format_port(const void *data, char **ret);     /* uint16_t */
int config_format_bool(const void *data, char **ret);

/* How the values of a daemon's own parsers are shown. */
typedef struct ConfigFormat {
        ConfigParser parser;
        ConfigFormatter format;
} ConfigFormat;

/* The formatter of item: the shared parsers' own, else the one formats has for its parser;
 * NULL when there is none (a test makes sure each daemon has one for every item). */
ConfigFormatter config_formatter(const ConfigItem *item, const ConfigFormat *formats, size_t n_formats);

/* The effective settings, as a config file: "[Section]" headers and "Key=value" lines (an unset
 * one as "#Key="), for --check-config. */
int config_dump(const ConfigItem *items, size_t n_items, const void *settings, const ConfigFormat *formats,
                size_t n_formats, FILE *f);
