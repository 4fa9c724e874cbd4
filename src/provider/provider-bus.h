/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include "wire.h" /* GOLEM_BUS_* */

typedef struct Manager Manager;

#define GOLEM_POLKIT_MANAGE_VMS "org.golem.provider1.manage-vms"
#define GOLEM_POLKIT_CONFIGURE "org.golem.provider1.configure"

/* Connects to the system bus, publishes the objects and takes the name. Without a system
 * bus the daemon goes on without D-Bus, unless it was activated through D-Bus. */
int provider_bus_setup(Manager *m);
void provider_bus_free(Manager *m);

/* Announces that manager properties changed (NULL-terminated names). */
void provider_bus_manager_changed(Manager *m, const char *property, ...);

/* Writes the introspection data of both interfaces, as the daemon serves them. */
int provider_bus_introspect(FILE *f);
