/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "list.h"
#include "macro.h"
#include "provider-operation.h"
#include "time-util.h"
#include "validate.h"
#include "vm-spec.h"
#include "wire.h"

typedef enum VMState {
        VM_CREATING,
        VM_RUNNING,
        VM_STOPPING,
        VM_STOPPED,
        VM_STARTING,
        VM_DELETING,
        VM_ERROR,
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -EINVAL,
} VMState;

/* Every state's name, by VMState (the metrics label them all). */
extern const char *const vm_state_table[_VM_STATE_MAX];
DECLARE_STRING_TABLE_LOOKUP(vm_state, VMState);

/* Resources, VMSize, vm_size_resources(), VM_*_MAX, vm_image_valid(): src/shared/vm-spec.h. */

#define VM_NAME_MAX 63
#define JOB_ID_LEN 32

/* What is persisted about a VM; the manager adds runtime state around it. */
typedef struct VMRecord {
        char name[VM_NAME_MAX + 1];
        VMState state;
        Resources resources;
        char image[VM_IMAGE_MAX + 1];
        char *ssh_key;
        uint16_t ssh_port;
        char ip_address[IP_ADDRESS_MAX];
        char *error_message;
        char *owner;                 /* the caller identity that created it; NULL: anyone */
        char job_id[JOB_ID_LEN + 1];
        usec_t created_at, updated_at;
        VMState desired;             /* as the renter last asked: VM_RUNNING or VM_STOPPED */
} VMRecord;

void vm_record_done(VMRecord *r);

/* Does this state hold a reservation in the ledger? Every state but error does. */
static inline bool vm_state_reserves(VMState s) {
        return s != VM_ERROR;
}

/* A create request, validated. */
typedef struct VMCreateRequest {
        char name[VM_NAME_MAX + 1];
        Resources resources;
        char image[VM_IMAGE_MAX + 1];   /* "" for the default */
        char ssh_key[SSH_KEY_MAX + 1];
} VMCreateRequest;

/* Parses the POST /api/v1/vms body: name, resources (or flat cpu/memory/storage, or size),
 * image, ssh_key. -EINVAL with field_error naming the field. */
int vm_create_request_from_json(json_object *body, VMCreateRequest *ret, char field_error[static FIELD_ERROR_MAX]);

/* The VM as the wire protocol shows it. */
int vm_record_to_json(const VMRecord *r, json_object **ret);

typedef struct Manager Manager;
typedef struct DriverOp DriverOp;
typedef struct Forwarder Forwarder;

/* A VM as the manager keeps it: its record and what is being done with it. Front ends read
 * the record; everything else belongs to the manager. */
struct VM {
        Manager *manager;
        LIST_FIELDS(VM, vms);
        VMRecord record;
        /* What the VM is doing for a caller (or for the recovery after a restart); NULL when
         * nothing is under way. Completed by the manager once, then gone. */
        Operation *operation;
        /* A create given up by a delete (delete while creating): completed with the delete. */
        Operation *superseded;
        DriverOp *op;            /* the driver's command in flight */
        /* A driver call that failed at once: its callback runs on the next loop iteration,
         * so that an operation never completes before its caller could watch it. */
        sd_event_source *defer;
        int deferred_error;
        void (*deferred_done)(int r, const char *message, void *userdata);
        Forwarder *forwarder;
        int failure;             /* why a create failed, told once the clean-up is over */
        char *failure_message;
        /* A change of the keys under way (VM_OP_KEYS): stored once the guest has it. */
        char *pending_key_name;
        char *pending_key;       /* NULL: the key of that name is removed */
        sd_event_source *poll_timer;
        bool unlinked;           /* out of the manager's list, about to be freed */
        bool unsaved;            /* the record changed and the store failed to take it */
        /* Started again after a restart (provider-reconcile.c): its job, while it is due and
         * when (CLOCK_MONOTONIC), and the wait after a failure, doubling. */
        char restore_job[JOB_ID_LEN + 1];
        usec_t restore_since;
        bool restore_pending;
        usec_t restore_at;
        usec_t restore_delay;
};
