/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "provider-driver.h"

/* What every driver reports, and the choice of driver at start. */

static const char *const driver_vm_state_table[_DRIVER_VM_STATE_MAX] = {
        [DRIVER_VM_RUNNING] = "running",
        [DRIVER_VM_STARTING] = "starting",
        [DRIVER_VM_STOPPED] = "stopped",
        [DRIVER_VM_SUSPENDED] = "suspended",
        [DRIVER_VM_DELETED] = "deleted",
        [DRIVER_VM_UNKNOWN] = "unknown",
};

DEFINE_STRING_TABLE_LOOKUP(driver_vm_state, DriverVMState);

static const char *find_binary(const char *configured, const char *const *candidates) {
        if (configured)
                return access(configured, X_OK) >= 0 ? configured : NULL;
        for (const char *const *c = candidates; *c; c++)
                if (access(*c, X_OK) >= 0)
                        return *c;
        return NULL;
}

static int select_qemu(sd_event *event, Runner *runner, const ProviderSettings *s, const char *qemu, Driver **ret) {
        static const char *const img[] = { "/usr/bin/qemu-img", "/usr/local/bin/qemu-img", NULL };
        static const char *const iso[] = { "/usr/bin/genisoimage", "/usr/bin/mkisofs", NULL };
        _cleanup_free_ char *image_dir = NULL;
        const char *qemu_img = find_binary(NULL, img), *genisoimage = find_binary(NULL, iso);
        int r;

        if (!qemu_img || !genisoimage) {
                log_error("The qemu driver needs qemu-img and genisoimage; VMs cannot be created until they are installed.");
                return 0;
        }
        /* "auto" is left to qemu, which tries KVM and falls back to TCG: under systemd only
         * the VM's unit sees /dev/kvm, not this sandboxed daemon (PrivateDevices=yes). */
        if (s->image_dir)
                image_dir = strdup(s->image_dir);
        else if (asprintf(&image_dir, "%s/images", s->vm_data_dir) < 0)
                image_dir = NULL;
        if (!image_dir)
                return log_oom();

        r = driver_qemu_new(event, runner, &(QemuConfig) {
                        .binary = qemu,
                        .img_binary = qemu_img,
                        .iso_binary = genisoimage,
                        .image_dir = image_dir,
                        .data_dir = s->vm_data_dir,
                        .listen_host = s->host,
                        .accel = s->qemu_accel,
                        .launch_timeout = s->launch_timeout_sec * USEC_PER_SEC,
                }, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the qemu driver: %m");
        log_debug("Using the qemu driver with %s (%s), images in %s.", qemu, s->qemu_accel, image_dir);
        return 1;
}

int driver_select(sd_event *event, Runner *runner, const ProviderSettings *s, Driver **ret) {
        static const char *const multipass_candidates[] = {
                "/snap/bin/multipass", "/usr/local/bin/multipass", "/usr/bin/multipass", NULL,
        };
        static const char *const qemu_candidates[] = {
                "/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64", NULL,
        };
        const char *binary = find_binary(s->multipass_binary_path, multipass_candidates);
        const char *qemu = find_binary(s->qemu_binary_path, qemu_candidates);
        int r;

        /* auto: multipass when it is installed, else qemu when it is. */
        if (streq(s->driver, "qemu") || (streq(s->driver, "auto") && !binary && qemu)) {
                if (!qemu) {
                        log_error("No VM driver is available: qemu-system-x86_64 not found. VMs cannot be created until it is installed.");
                        return 0;
                }
                return select_qemu(event, runner, s, qemu, ret);
        }

        if (!binary) {
                log_struct(LOG_ERR,
                           "MESSAGE=No VM driver is available: multipass not found%s%s. VMs cannot be created until it is installed.",
                           s->multipass_binary_path ? " at " : "",
                           strempty(s->multipass_binary_path));
                return 0;
        }

        r = driver_multipass_new(runner, &(MultipassConfig) {
                        .binary = binary,
                        .data_dir = s->vm_data_dir,
                        .launch_timeout = s->launch_timeout_sec * USEC_PER_SEC,
                }, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the multipass driver: %m");
        log_debug("Using the multipass driver with %s.", binary);
        return 1;
}
