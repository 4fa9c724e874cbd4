/* SPDX-License-Identifier: MIT */
#pragma once

/* For the manager's own files only (provider-manager.c, provider-reconcile.c): its fields
 * and the steps of the state machine that recovery shares. Recovery calls into the state
 * machine, never the other way round. Front ends use
 * provider-manager.h. */

#include "provider-ledger.h"
#include "provider-manager.h"
#include "provider-ssh-access.h"
#include "ssh-key.h"

struct Manager {
        sd_event *event;
        const ProviderSettings *settings;
        char *provider_id;
        char *provider_name;
        SshKey *key;             /* the provider's own key (provider-auth.h) */
        char *public_key;        /* its public key line */
        bool provider_id_verifiable; /* the id is the key's identity, not a legacy ProviderID= */
        char platform[32];
        ProviderStore *store;
        Driver *driver;
        Ledger ledger;
        SshAccess *ssh;
        VM *vms;
        size_t n_vms;
        VM *removing;            /* a VM whose removal is being announced */
        uint64_t generation;     /* bumped on every change of any VM record: for caches */
        struct {
                VMListener fn;
                void *userdata;
        } listeners[4];
        size_t n_listeners;

        /* The records were compared with the hypervisor's list once (provider-reconcile.c). */
        bool reconciled;

        /* The store's health: the error its last write failed with, 0 while writes succeed.
         * What could not be written (VM records marked unsaved, the records of deleted VMs in
         * unremoved) is written again once it works, tried every few seconds. */
        int store_error;
        sd_event_source *store_retry;
        char **unremoved;
        size_t n_unremoved;
        StoreWatchFn store_watch;
        void *store_watch_userdata;
};

/* provider-manager.c */
void manager_emit(Manager *m, VM *vm, VMEvent event);
int vm_set_state(VM *vm, VMState state, const char *error_message);
void vm_forwarder_update(VM *vm);
void vm_log_event(VM *vm, int level, const char *message_id, const char *format, ...) _printf_(4, 5);
/* A create that settled while the provider was down, or an internal one: the VM runs now. */
void vm_came_up(VM *vm, VMOperation op, const DriverVM *info);
void vm_create_failed(VM *vm, int error, const char *message);
/* Whether the VM's create job still says "creating" in the store. */
bool vm_job_creating(VM *vm);
/* The operation the VM's recovery stands for (a create interrupted by a restart), so that a
 * GET of its job can wait for it as for any other. */
int vm_begin_operation(VM *vm, VMOperation kind);

/* The error of a VM that did not start again after a restart; such a VM is tried again. */
#define VM_RESTORE_FAILED "Could not start the VM again after the provider restarted"
/* Starts vm again (stopped, or in error after a failed restore) as its renter last asked,
 * after the provider or its host went down; its job (kind restore) tells how it goes, and a
 * failure leaves it in error with the reason. Errors as manager_start_vm(), and -ENOSPC when a
 * VM in error (which holds no resources) would not fit into what is free now. */
int vm_restore(VM *vm, Operation **ret_op);
