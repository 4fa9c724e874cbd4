/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

/* Called on the first SIGTERM/SIGINT instead of leaving the loop at once: it winds down and
 * calls sd_event_exit() when done. A second signal leaves at once. */
typedef void (*DaemonStopFn)(sd_event *event, void *userdata);

/* SIGTERM and SIGINT send STOPPING=1 and leave the loop (or call on_stop); the watchdog is
 * pinged from the loop when WATCHDOG_USEC asks for it. */
int daemon_setup_event(sd_event **ret, DaemonStopFn on_stop, void *userdata);

/* READY=1 with a STATUS= line. */
void daemon_notify_ready(const char *status);
void daemon_notify_stopping(void);
/* A STATUS= line alone, for a change while running. */
void daemon_notify_status(const char *status);

/* The command line every golem daemon takes: --help, --version, --config=FILE,
 * --check-config, and --bus-introspect where the daemon has a D-Bus API. */
typedef struct DaemonArgs {
        const char *name;              /* for --version */
        void (*help)(void);
        const char *config;            /* in: the default file; out: the one to read */
        bool accept_bus_introspect;
        bool bus_introspect;           /* out */
        bool check_config;             /* out: load the settings, print them, exit */
} DaemonArgs;

/* Returns 1 to go on, 0 when done (help or version printed), -EINVAL on a bad command line
 * (already logged). A file named with --config must be readable; the default may be missing. */
int daemon_parse_argv(int argc, char *argv[], DaemonArgs *a);
