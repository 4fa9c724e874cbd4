/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"
#include "provider-config.h"

/* golem-providerd as a whole: the loop, how children run (transient units under systemd,
 * else our own children), the VM manager, and the front ends wired to it: REST, D-Bus and
 * the advertiser. Also reload and a clean stop. */

typedef struct ProviderDaemon ProviderDaemon;

/* Takes the settings; config_path is read again on a reload. */
int provider_daemon_new(ProviderSettings *settings, const char *config_path, ProviderDaemon **ret);
ProviderDaemon *provider_daemon_free(ProviderDaemon *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProviderDaemon *, provider_daemon_free);

int provider_daemon_start(ProviderDaemon *d);
int provider_daemon_run(ProviderDaemon *d);
/* Re-reads the configuration and applies what can change at run time (thresholds, minimums,
 * MaxVMs, the advertisement's minimums). On a bad file nothing changes; *ret_error says why. */
int provider_daemon_reload(ProviderDaemon *d, const char **ret_error);
