/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* How requestors reach a VM's SSH: a port from the configured range per VM, and the
 * forwarder from that port to the VM's port 22. Under systemd (units_bus set) the forwarder
 * is a transient socket unit with systemd-socket-proxyd, so sessions outlive the provider;
 * otherwise it runs in-process on the loop. Drivers that forward by themselves (qemu's user
 * networking) need the port only. */

typedef struct SshAccess SshAccess;
typedef struct Forwarder Forwarder;

typedef struct SshAccessConfig {
        sd_event *event;
        const char *listen_host;      /* where the ports listen */
        uint16_t port_start, port_end;
        sd_bus *units_bus;            /* forward with units through this bus; NULL: in-process */
        bool driver_forwards;         /* the driver forwards the port itself */
} SshAccessConfig;

int ssh_access_new(const SshAccessConfig *c, SshAccess **ret);
SshAccess *ssh_access_free(SshAccess *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(SshAccess *, ssh_access_free);

/* A free port of the range that no other program holds. -EADDRNOTAVAIL when none. */
int ssh_access_allocate_port(SshAccess *a, uint16_t *ret);
/* A port a loaded record holds: marked used. -ERANGE outside the range (kept anyway). */
int ssh_access_claim_port(SshAccess *a, uint16_t port);
void ssh_access_release_port(SshAccess *a, uint16_t port);

/* Forwards port to ip:22 while the VM runs with an address (up is true), else stops forwarding
 * new connections. *forwarder is the in-process forwarder of the VM, if any. Idempotent: called
 * after every change of the VM, and after a restart to put back what a running VM needs. */
void ssh_access_update(SshAccess *a, const char *vm, bool up, const char *ip, uint16_t port, Forwarder **forwarder);
/* Ends forwarding to a VM that goes down, whichever way it was done. */
void ssh_access_close(SshAccess *a, const char *vm, Forwarder **forwarder);
