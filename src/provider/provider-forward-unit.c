/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "provider-forward-unit.h"
#include "validate.h"

static const char *socket_proxyd(void) {
        static const char *const candidates[] = {
                "/usr/lib/systemd/systemd-socket-proxyd",
                "/lib/systemd/systemd-socket-proxyd",
        };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++)
                if (access(candidates[i], X_OK) >= 0)
                        return candidates[i];
        return NULL;
}

static int on_started(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        /* UnitExists: it kept running across our restart, which is the point. */
        if (e && !sd_bus_error_has_name(e, "org.freedesktop.systemd1.UnitExists"))
                log_warning("Failed to start the SSH forwarder unit: %s", e->message);
        return 1;
}

int forward_unit_start(sd_bus *bus, const char *vm, const char *listen_host, uint16_t port,
                       const char *target_ip, uint16_t target_port) {
        char socket_unit[128], service_unit[128], listen[IP_ADDRESS_MAX + 16], target[IP_ADDRESS_MAX + 16];
        const char *proxyd = socket_proxyd();
        sd_bus_message *m = NULL;
        int r;

        if (!proxyd)
                return -ENOENT;
        if (!vm_name_valid(vm))
                return -EINVAL;

        snprintf(socket_unit, sizeof(socket_unit), "golem-vm-%s-ssh.socket", vm);
        snprintf(service_unit, sizeof(service_unit), "golem-vm-%s-ssh.service", vm);
        snprintf(listen, sizeof(listen), strchr(listen_host, ':') ? "[%s]:%u" : "%s:%u", listen_host, port);
        snprintf(target, sizeof(target), strchr(target_ip, ':') ? "[%s]:%u" : "%s:%u", target_ip, target_port);

        r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", socket_unit, "fail");
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sv)", 3,
                                          "Description", "s", "SSH forwarding of a Golem VM",
                                          "Listen", "a(ss)", 1, "Stream", listen,
                                          "CollectMode", "s", "inactive-or-failed");
        /* The service the socket activates: the proxy to the VM's SSH port. */
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sa(sv))");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sa(sv)");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", service_unit);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "Description", "s", "SSH forwarding of a Golem VM");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "ExecStart");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(sasb)");
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sasb)", 1, proxyd, 2, proxyd, target, 0);
        for (int i = 0; r >= 0 && i < 5; i++)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call_async(bus, NULL, m, on_started, NULL, 0);
        sd_bus_message_unref(m);
        return r;
}

int forward_unit_stop(sd_bus *bus, const char *vm) {
        char unit[128];
        int r;

        if (!vm_name_valid(vm))
                return -EINVAL;
        /* The socket first, so nothing new connects; then the proxy, ending its sessions. */
        snprintf(unit, sizeof(unit), "golem-vm-%s-ssh.socket", vm);
        r = sd_bus_call_method_async(bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", "StopUnit", NULL, NULL, "ss", unit, "replace");
        if (r < 0)
                return r;
        snprintf(unit, sizeof(unit), "golem-vm-%s-ssh.service", vm);
        return sd_bus_call_method_async(bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                        "org.freedesktop.systemd1.Manager", "StopUnit", NULL, NULL, "ss", unit, "replace");
}
