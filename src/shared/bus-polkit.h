/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

/* Asynchronous polkit checks for sd-bus method handlers, the way systemd's daemons do it:
 * the first call asks polkit (CheckAuthorization, subject system-bus-name) and returns 0;
 * when the answer comes the original message is dispatched again, and this time the call
 * returns the answer. Callers with the daemon's own uid are not asked about. */

typedef struct PolkitRegistry PolkitRegistry;

PolkitRegistry *polkit_registry_free(PolkitRegistry *r);

/* details: NULL, or a NULL-terminated list of key, value, key, value... Returns 1 when
 * authorized, 0 when the question is pending (the handler returns 1 and sends nothing),
 * -EACCES (error set to org.freedesktop.DBus.Error.AccessDenied, or InteractiveAuthorization
 * Required) when not, or another negative errno. */
int bus_verify_polkit_async(sd_bus_message *m, const char *action, const char *const *details,
                            PolkitRegistry **registry, sd_bus_error *error);

/* The effective uid of the sender of m. */
int bus_message_sender_uid(sd_bus_message *m, uid_t *ret);
