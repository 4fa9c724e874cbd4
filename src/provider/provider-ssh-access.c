/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "provider-forward-unit.h"
#include "provider-forward.h"
#include "provider-ssh-access.h"

#define VM_SSH_PORT 22

struct SshAccess {
        SshAccessConfig config;
        char *listen_host;
        uint8_t *ports;               /* one byte per port of the range: in use */
};

int ssh_access_new(const SshAccessConfig *c, SshAccess **ret) {
        _cleanup_(ssh_access_freep) SshAccess *a = NULL;

        if (c->port_end < c->port_start)
                return -EINVAL;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->config = *c;
        a->listen_host = c->listen_host ? strdup(c->listen_host) : NULL;
        a->ports = calloc((size_t) (c->port_end - c->port_start) + 1, 1);
        if ((c->listen_host && !a->listen_host) || !a->ports)
                return -ENOMEM;
        a->config.listen_host = a->listen_host;
        if (c->units_bus)
                sd_bus_ref(c->units_bus);
        *ret = TAKE_PTR(a);
        return 0;
}

SshAccess *ssh_access_free(SshAccess *a) {
        if (!a)
                return NULL;
        sd_bus_unref(a->config.units_bus);
        free(a->listen_host);
        free(a->ports);
        free(a);
        return NULL;
}

static int port_index(const SshAccess *a, uint16_t port) {
        if (port < a->config.port_start || port > a->config.port_end)
                return -ERANGE;
        return port - a->config.port_start;
}

/* Whether something else on this host (another provider, a forwarder left from another
 * configuration, any program) listens on the port: then it is skipped, or the VM's forward
 * would fail at launch. */
static bool port_taken_elsewhere(const char *host, uint16_t port) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } addr = {};
        socklen_t len;
        _cleanup_close_ int fd = -EBADF;
        int one = 1;

        if (host && inet_pton(AF_INET6, host, &addr.in6.sin6_addr) == 1) {
                addr.in6.sin6_family = AF_INET6;
                addr.in6.sin6_port = htons(port);
                len = sizeof(addr.in6);
        } else {
                addr.in.sin_family = AF_INET;
                addr.in.sin_port = htons(port);
                if (!host || inet_pton(AF_INET, host, &addr.in.sin_addr) != 1)
                        addr.in.sin_addr.s_addr = htonl(INADDR_ANY);
                len = sizeof(addr.in);
        }
        fd = socket(addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        return bind(fd, &addr.sa, len) < 0 && errno == EADDRINUSE;
}

int ssh_access_allocate_port(SshAccess *a, uint16_t *ret) {
        size_t n = (size_t) (a->config.port_end - a->config.port_start) + 1;

        for (size_t i = 0; i < n; i++) {
                uint16_t port = (uint16_t) (a->config.port_start + i);

                if (a->ports[i])
                        continue;
                if (port_taken_elsewhere(a->config.listen_host, port)) {
                        log_debug("SSH port %u is in use by another program, skipped.", port);
                        continue;
                }
                a->ports[i] = 1;
                *ret = port;
                return 0;
        }
        return -EADDRNOTAVAIL;
}

int ssh_access_claim_port(SshAccess *a, uint16_t port) {
        int i = port_index(a, port);

        if (i < 0)
                return i;
        a->ports[i] = 1;
        return 0;
}

void ssh_access_release_port(SshAccess *a, uint16_t port) {
        int i = port_index(a, port);

        if (i >= 0)
                a->ports[i] = 0;
}

void ssh_access_update(SshAccess *a, const char *vm, bool up, const char *ip, uint16_t port, Forwarder **forwarder) {
        int r;

        if (a->config.driver_forwards)
                return;
        up = up && ip && ip[0] && port != 0;

        if (a->config.units_bus) {
                /* A socket unit and systemd-socket-proxyd: sessions outlive our restarts. */
                r = up ? forward_unit_start(a->config.units_bus, vm, a->config.listen_host, port, ip, VM_SSH_PORT)
                       : forward_unit_stop(a->config.units_bus, vm);
                if (r < 0)
                        log_warning_errno(r, "Failed to update the SSH forwarder unit of VM %s: %m", vm);
                return;
        }

        if (!up) {
                *forwarder = forwarder_free(*forwarder);
                return;
        }
        if (*forwarder) {
                (void) forwarder_set_target(*forwarder, ip, VM_SSH_PORT);
                return;
        }
        r = forwarder_new(a->config.event, a->config.listen_host, port, ip, VM_SSH_PORT, forwarder);
        if (r < 0)
                log_struct_errno(LOG_ERR, r,
                                 "GOLEM_VM=%s", vm,
                                 "MESSAGE=Failed to forward port %u to VM %s (%s): %m", port, vm, ip);
}

void ssh_access_close(SshAccess *a, const char *vm, Forwarder **forwarder) {
        *forwarder = forwarder_free(*forwarder);
        if (a->config.units_bus)
                (void) forward_unit_stop(a->config.units_bus, vm);
}
