/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

/* Under systemd a VM's SSH port is forwarded by a transient socket unit
 * golem-vm-<name>-ssh.socket plus systemd-socket-proxyd in golem-vm-<name>-ssh.service, so
 * sessions survive a restart of the provider. Both calls are asynchronous and idempotent. */

int forward_unit_start(sd_bus *bus, const char *vm, const char *listen_host, uint16_t port,
                       const char *target_ip, uint16_t target_port);
int forward_unit_stop(sd_bus *bus, const char *vm);
