/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

/* SIGTERM and SIGINT send STOPPING=1 and leave the loop; the watchdog is pinged from the
 * loop when WATCHDOG_USEC asks for it. */
int daemon_setup_event(sd_event **ret);

/* READY=1 with a STATUS= line. */
void daemon_notify_ready(const char *status);
void daemon_notify_stopping(void);
