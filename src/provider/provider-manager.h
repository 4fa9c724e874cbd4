/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "provider-config.h"
#include "provider-driver.h"
#include "provider-operation.h"
#include "provider-runner.h"
#include "provider-store.h"
#include "provider-vm.h"
#include "ssh-key.h"
#include "vm-spec.h"

/* The VM manager: the VMs' state machine, their records in the store, the resource ledger
 * and SSH ports. It knows nothing of its front ends: a caller that waits gets an Operation,
 * and listeners hear of every change (to broadcast it). Opaque: front ends use functions. */

typedef struct Manager Manager;

/* Who asks: flows from the REST or D-Bus front end down to the VM manager, so that
 * ownership can be enforced in one place. */
typedef enum CallerKind {
        CALLER_REST,
        CALLER_DBUS,
        CALLER_INTERNAL,
} CallerKind;

typedef struct Caller {
        CallerKind kind;
        const char *identity;   /* the requestor's key fingerprint (REST), NULL: anonymous */
        const char *address;    /* remote address (REST) or bus name (D-Bus), for logs */
        uid_t uid;              /* D-Bus */
        const char *request_id;
} Caller;

typedef enum VMEvent {
        VM_EVENT_NEW,        /* a record appeared */
        VM_EVENT_CHANGED,    /* state or properties changed */
        VM_EVENT_REMOVED,    /* the record is gone (deleted, or a failed create cleaned up) */
} VMEvent;

/* Listeners broadcast state (signals, caches, the advertisement); they answer nobody. */
typedef void (*VMListener)(Manager *m, VM *vm, VMEvent event, void *userdata);

/* The manager takes driver (NULL: none available, creates are refused) and uses runner and
 * settings, which outlive it. */
int manager_new(sd_event *event, const ProviderSettings *settings, Runner *runner, Driver *driver, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Opens the store, sets up the identity and the ledger and loads the records; a Reconciler
 * (provider-reconcile.h) then compares them with the hypervisor. */
int manager_start(Manager *m);
/* The settings' limits changed (a reload): thresholds, minimums, MaxVMs. */
void manager_limits_changed(Manager *m);

int manager_add_listener(Manager *m, VMListener fn, void *userdata);

/* The state store's health: 0 while its writes succeed, else the error the last one failed
 * with (-EDQUOT: the disk under it is full). While it fails, changes are refused with that
 * error; the watch hears once when it begins failing and once when it recovers. */
typedef void (*StoreWatchFn)(Manager *m, int error, void *userdata);
int manager_store_error(const Manager *m);
void manager_set_store_watch(Manager *m, StoreWatchFn fn, void *userdata);

/* The VMs, in creation order (vm->vms_next), and their number. */
VM *manager_vms(Manager *m);
size_t manager_n_vms(const Manager *m);
VM *manager_get_vm(Manager *m, const char *name);
/* A VM whose removal is being announced right now (for VMRemoved's object), else NULL. */
VM *manager_removing_vm(Manager *m);
/* Bumped on every change of any VM record: for caches of renderings. */
uint64_t manager_generation(const Manager *m);

/* The operations; each checks state and writes the transition to the store, then acts.
 * On success *ret_op (may be NULL) is the operation to watch: it completes later, never
 * before the call returns. Errors (nothing was done): -EEXIST name taken, -EBUSY wrong state,
 * -ENOSPC resources or the owner's MaxVMsPerOwner= (reason set), -EHOSTDOWN no driver, -EPERM not the owner, -EINVAL an image
 * that cannot run here (reason set), or the store's error (-EDQUOT: its disk is full); the
 * VM is then as it was, in memory and in the hypervisor. */
int manager_create_vm(Manager *m, const Caller *c, const VMCreateRequest *req, VM **ret_vm, Operation **ret_op,
                      char *reason, size_t reason_size);
int manager_start_vm(Manager *m, const Caller *c, VM *vm, Operation **ret_op);
int manager_stop_vm(Manager *m, const Caller *c, VM *vm, Operation **ret_op);
int manager_delete_vm(Manager *m, const Caller *c, VM *vm, Operation **ret_op);

/* The keys the owner added to vm (provider-store.h), in the order added. */
int manager_load_vm_keys(Manager *m, VM *vm, VMKey **ret, size_t *ret_n);
/* Adds key (a valid public key line) under name to the running vm, replacing a key of that
 * name, or with key NULL removes the key called name (-ENOENT without one): the guest's
 * authorized keys are rewritten (the create's key and the added ones), then the store.
 * Errors as for start, and -EOPNOTSUPP when the driver cannot reach a running guest. */
int manager_set_vm_key(Manager *m, const Caller *c, VM *vm, const char *name, const char *key, Operation **ret_op);

/* Whether c may see and act on vm. A REST caller sees the VMs it owns only: a signed one
 * those its key created, an anonymous one (identity NULL) those without an owner. Other
 * callers were authorized by their front end (D-Bus: polkit). */
bool manager_caller_owns(const Caller *c, const VM *vm);

/* The create job, as stored. */
int manager_load_job(Manager *m, const char *job_id, Job *ret);
/* The jobs of vm (its create, restores after restarts), newest first; free with jobs_free(). */
int manager_load_vm_jobs(Manager *m, VM *vm, Job **ret, size_t *ret_n);

/* Resources: what is offered in total, what is free, and whether the free part may be
 * advertised (the host's live usage is under the thresholds and the minimums are met). */
Resources manager_capacity(const Manager *m);
Resources manager_available(const Manager *m);
bool manager_can_offer(const Manager *m);

/* The provider's id: its key's identity, or a legacy ProviderID= (then not verifiable). */
const char *manager_provider_id(const Manager *m);
bool manager_provider_id_verifiable(const Manager *m);
/* The provider's key (with its private half), and its public key line. */
const SshKey *manager_provider_key(const Manager *m);
const char *manager_public_key(const Manager *m);
const char *manager_provider_name(const Manager *m);
const char *manager_platform(const Manager *m);  /* NULL: unknown */
const char *manager_driver_name(const Manager *m); /* NULL: no driver */
