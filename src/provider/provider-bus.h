/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>
#include <systemd/sd-bus.h>

#include "provider-advertiser.h"
#include "provider-config.h"
#include "provider-manager.h"
#include "wire.h" /* GOLEM_BUS_* */

#define GOLEM_POLKIT_MANAGE_VMS "org.golem.provider1.manage-vms"
#define GOLEM_POLKIT_CONFIGURE "org.golem.provider1.configure"

/* org.golem.Provider1 on the system bus: the manager object, one object per VM (a fallback
 * vtable and a node enumerator), an ObjectManager, signals and PropertiesChanged driven by
 * the VM manager's events. Reads are open; changes are checked with polkit. */

typedef struct ProviderBus ProviderBus;

typedef struct ProviderBusConfig {
        Manager *manager;
        const ProviderSettings *settings;
        Advertiser *advertiser;          /* NULL: not advertising */
        /* Reload: re-reads the configuration; on failure *ret_error may say why. */
        int (*reload)(void *userdata, const char **ret_error);
        void *userdata;
} ProviderBusConfig;

/* Publishes the objects on bus (attached to the loop by the caller) and takes the name.
 * -EACCES/-EPERM: the bus policy does not let us own the name. Everything in c outlives it. */
int provider_bus_new(sd_bus *bus, const ProviderBusConfig *c, ProviderBus **ret);
ProviderBus *provider_bus_free(ProviderBus *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProviderBus *, provider_bus_free);

/* The advertiser stored an advertisement: LastAdvertisement changed. b may be NULL. */
void provider_bus_advertisement_posted(ProviderBus *b);
/* The advertiser failed or was turned on or off: AdvertisementError may have changed. */
void provider_bus_advertisement_changed(ProviderBus *b);

/* Writes the introspection data of both interfaces, as the daemon serves them. */
int provider_bus_introspect(FILE *f);
