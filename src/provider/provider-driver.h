/* SPDX-License-Identifier: MIT */
#pragma once

#include "provider-config.h"
#include "provider-runner.h"
#include "provider-vm.h"

/* A VM driver is a table of asynchronous operations, chosen at start. Results come back
 * through callbacks on the event loop with an errno-style code:
 *   0             done
 *   -ENOENT       the instance does not exist
 *   -EEXIST       an instance of that name exists already (not ours)
 *   -EHOSTDOWN    the hypervisor service is unavailable (503 DRIVER_UNAVAILABLE)
 *   -ETIMEDOUT    the operation timed out
 *   -EIO          the command failed; the message says why (its stderr)
 */

typedef struct Driver Driver;
typedef struct DriverOp DriverOp;

typedef enum DriverVMState {
        DRIVER_VM_RUNNING,
        DRIVER_VM_STARTING,
        DRIVER_VM_STOPPED,
        DRIVER_VM_SUSPENDED,
        DRIVER_VM_DELETED,
        DRIVER_VM_UNKNOWN,
        _DRIVER_VM_STATE_MAX,
        _DRIVER_VM_STATE_INVALID = -EINVAL,
} DriverVMState;

DECLARE_STRING_TABLE_LOOKUP(driver_vm_state, DriverVMState);

typedef struct DriverVM {
        char name[VM_NAME_MAX + 1];   /* the golem name, without the driver's prefix */
        DriverVMState state;
        char ip_address[IP_ADDRESS_MAX];
} DriverVM;

typedef struct DriverLaunchParams {
        const char *name;
        Resources resources;
        const char *image;
        const char *ssh_key;          /* NULL: none yet (the requestor adds one later) */
        uint16_t ssh_port;            /* the provider port allocated for the VM */
} DriverLaunchParams;

typedef void (*DriverDoneFn)(int r, const char *message, void *userdata);
typedef void (*DriverInfoFn)(int r, const char *message, const DriverVM *vm, void *userdata);
typedef void (*DriverListFn)(int r, const char *message, const DriverVM *vms, size_t n, void *userdata);
typedef void (*DriverProgressFn)(int percent, const char *stage, void *userdata);

typedef struct DriverOps {
        const char *name;
        int (*launch)(Driver *d, const DriverLaunchParams *p, DriverProgressFn progress, DriverDoneFn done, void *userdata, DriverOp **ret);
        int (*start)(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret);
        int (*stop)(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret);
        int (*remove)(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret);
        int (*info)(Driver *d, const char *name, DriverInfoFn done, void *userdata, DriverOp **ret);
        /* Every instance this driver manages (the golem- ones). */
        int (*list)(Driver *d, DriverListFn done, void *userdata, DriverOp **ret);
        /* Forgets an operation: no callback afterwards. */
        void (*cancel)(DriverOp *op);
        void (*free)(Driver *d);
        /* Optional (NULL: keys cannot be changed on a running VM): replaces the default user's
         * authorized keys in the running guest with authorized_keys (lines of public keys). */
        int (*set_keys)(Driver *d, const char *name, const char *authorized_keys, DriverDoneFn done, void *userdata,
                        DriverOp **ret);
        /* Optional: whether image can be run here; -EINVAL with reason (listing what can). */
        int (*image_check)(Driver *d, const char *image, char *reason, size_t reason_size);
        /* Whether SSH reaches the VM through the provider's own forwarder (multipass) or
         * the driver forwards the port itself (qemu user networking). */
        bool forwards_ssh;
        /* How often the manager compares its records with list() while running, to notice
         * VMs that stopped or vanished by themselves (a poweroff inside the guest). */
        usec_t poll_interval;
        /* Whether cancelling a launch and then removing the VM leaves nothing behind (qemu: the
         * launch is ours alone), so a delete may interrupt a launch. Not multipass, whose daemon
         * goes on creating the instance after its client is gone. */
        bool launch_cancellable;
} DriverOps;

struct Driver {
        const DriverOps *ops;
        /* Set by the manager: called when a VM may have changed by itself (its process
         * exited), so that it looks at once rather than at its next poll. */
        void (*changed)(void *userdata);
        void *changed_userdata;
};

typedef struct MultipassConfig {
        const char *binary;           /* absolute path of the multipass executable */
        const char *data_dir;         /* for the cloud-init files kept per VM */
        usec_t launch_timeout;
        usec_t command_timeout;
} MultipassConfig;

int driver_multipass_new(Runner *runner, const MultipassConfig *c, Driver **ret);

typedef struct QemuConfig {
        const char *binary;           /* qemu-system-x86_64 */
        const char *img_binary;       /* qemu-img */
        const char *iso_binary;       /* genisoimage, for the NoCloud seed */
        const char *image_dir;        /* NAME.qcow2 or NAME.img (+ NAME.vmlinux/.initrd/.cmdline) */
        const char *data_dir;         /* VMs live in DATA_DIR/qemu/NAME */
        const char *listen_host;      /* where the forwarded SSH ports listen */
        const char *accel;            /* "kvm" or "tcg" */
        usec_t launch_timeout;
} QemuConfig;

int driver_qemu_new(sd_event *event, Runner *runner, const QemuConfig *c, Driver **ret);

/* Picks the driver the settings ask for ("auto": multipass when installed, else qemu). Returns 1
 * with *ret set, 0 when none is available (logged: the daemon runs and refuses creates with
 * DRIVER_UNAVAILABLE), or a negative errno (logged). */
int driver_select(sd_event *event, Runner *runner, const ProviderSettings *s, Driver **ret);

/* Parsers of multipass' JSON, exported for the tests and fuzzers. Instances not named
 * golem-* are skipped. */
int multipass_parse_list(const char *json, size_t size, DriverVM **ret, size_t *ret_n);
int multipass_parse_info(const char *json, size_t size, const char *name, DriverVM *ret);
DriverVMState multipass_state_from_string(const char *s);

/* The cloud-init user-data that puts key in the default user's authorized keys (none when
 * NULL). JSON is YAML, so no value can break out of its string. */
int cloud_init_user_data(const char *name, const char *ssh_key, char **ret);
/* The same with the n keys of ssh_keys (NULL ones skipped). */
int cloud_init_user_data_keys(const char *name, const char *const *keys, size_t n, char **ret);
