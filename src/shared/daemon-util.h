/* SPDX-License-Identifier: MIT */
#pragma once

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
