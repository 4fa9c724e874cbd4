/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* golemctl's settings: $XDG_CONFIG_HOME/golem/golemctl.conf (section [Requestor]) and its
 * drop-ins, then GOLEM_REQUESTOR_* variables, each overriding what came before. */

#define DEFAULT_DISCOVERY_URL "http://localhost:9001"
#define DEFAULT_PROVIDER_PORT 7466

typedef struct Settings {
        char *discovery_url;    /* DiscoveryURL=, GOLEM_REQUESTOR_DISCOVERY_URL */
        char *ssh_key_path;     /* SSHKeyPath=, GOLEM_REQUESTOR_SSH_KEY_PATH: a private key */
        uint16_t provider_port; /* ProviderPort=, GOLEM_REQUESTOR_PROVIDER_PORT */
} Settings;

void settings_init(Settings *s);
void settings_done(Settings *s);

/* Loads path (a missing file is fine). On a bad value returns -EINVAL with *ret_error naming
 * the file and line, or the variable, and the key. */
int settings_load(Settings *s, const char *path, char **ret_error);

/* Where golemctl keeps things, from $HOME and the XDG base directory variables (which count
 * only when absolute): the configuration file, the state directory (the database and
 * known_hosts files) and the data directory (a generated SSH key). */
typedef struct Paths {
        char *home;
        char *config_file;      /* $XDG_CONFIG_HOME/golem/golemctl.conf (~/.config) */
        char *state_dir;        /* $XDG_STATE_HOME/golem (~/.local/state) */
        char *data_dir;         /* $XDG_DATA_HOME/golem (~/.local/share) */
} Paths;

int paths_init(Paths *p);
void paths_done(Paths *p);

/* mkdir -p with this mode for the directories it creates. */
int mkdir_parents(const char *path, mode_t mode);
