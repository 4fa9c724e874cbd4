/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "time-util.h"

/* An in-process TCP port forwarder on the daemon's sd-event loop: it listens on one address and
 * relays every accepted connection to a target (a VM's SSH port). Everything is non-blocking,
 * one fixed buffer per direction with back-pressure, half-closes are passed on. */

/* Bytes buffered per direction of one connection. */
#define FORWARDER_BUFFER_SIZE (64U * 1024U)
/* Connections over this are accepted and closed at once. */
#define FORWARDER_CONNECTIONS_MAX 256U
/* How long a connection to the target may take before the client is dropped. */
#define FORWARDER_CONNECT_TIMEOUT_USEC (10 * USEC_PER_SEC)

typedef struct Forwarder Forwarder;

/* Listens on listen_host:listen_port (numeric IPv4/IPv6; port 0 = pick one) and relays each
 * accepted connection to target_host:target_port (numeric), on the given sd-event loop.
 * target_host may be NULL: connections are then accepted and closed until a target is set. */
int forwarder_new(sd_event *event, const char *listen_host, uint16_t listen_port,
                  const char *target_host, uint16_t target_port, Forwarder **ret);

/* Where new connections go from now on (a VM's address can change after a restart); open
 * connections stay where they are. NULL target_host: new connections are closed. */
int forwarder_set_target(Forwarder *f, const char *target_host, uint16_t target_port);

/* Overrides FORWARDER_CONNECT_TIMEOUT_USEC for new connections (tests). 0 = never time out. */
void forwarder_set_connect_timeout(Forwarder *f, usec_t usec);

/* The bound port. */
uint16_t forwarder_port(const Forwarder *f);

/* Open connections, including those still connecting to the target. */
size_t forwarder_n_connections(const Forwarder *f);

/* Closes the listener and every connection. */
Forwarder *forwarder_free(Forwarder *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(Forwarder *, forwarder_free);
