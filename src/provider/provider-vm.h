/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "macro.h"
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
