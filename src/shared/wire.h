/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "macro.h"
#include "vm-spec.h"

/* What two of the programs say to each other, defined once: the D-Bus names golemctl and
 * golem-providerd share, the status of a provider's create job, and the resources object
 * {"cpu","memory","storage"} of VMs, create requests and advertisements. Advertisements are
 * in wire-advertisement.h. */

/* ---- D-Bus (DESIGN.md, "D-Bus API") ---- */

#define GOLEM_BUS_NAME "org.golem.Provider1"
#define GOLEM_BUS_PATH "/org/golem/Provider1"
#define GOLEM_BUS_VM_PREFIX "/org/golem/Provider1/vm"
#define GOLEM_BUS_MANAGER_INTERFACE "org.golem.Provider1.Manager"
#define GOLEM_BUS_VM_INTERFACE "org.golem.Provider1.VM"

/* ---- what was wrong with a document ---- */

#define FIELD_ERROR_MAX 256

/* The member that was wrong by its own name ("cpu": golemctl says "(field cpu)"), and a
 * sentence for the VALIDATION_ERROR of a 422 answer, which starts with the member's path
 * ("resources.cpu: must be an integer from 1 to 256"). */
typedef struct WireError {
        const char *field;
        char message[FIELD_ERROR_MAX];
} WireError;

/* Fills e (when non-NULL) and returns -EBADMSG, for "return wire_error(...)". */
int wire_error(WireError *e, const char *field, const char *format, ...) _printf_(3, 4);

/* ---- jobs: GET /api/v1/vms/jobs/{job_id} ---- */

typedef enum JobStatus {
        JOB_CREATING,
        JOB_READY,
        JOB_FAILED,
        JOB_STARTING,           /* a restore: the VM is being started again */
        _JOB_STATUS_MAX,
        _JOB_STATUS_INVALID = -EINVAL,
} JobStatus;

DECLARE_STRING_TABLE_LOOKUP(job_status, JobStatus);

/* What a job does: a renter's create, or the provider starting a VM again that was running
 * before the provider (or its host) went down. */
typedef enum JobKind {
        JOB_KIND_CREATE,
        JOB_KIND_RESTORE,
        _JOB_KIND_MAX,
        _JOB_KIND_INVALID = -EINVAL,
} JobKind;

DECLARE_STRING_TABLE_LOOKUP(job_kind, JobKind);

/* ---- resources ---- */

/* The most of any resource the wire carries. */
#define RESOURCE_VALUE_MAX INT32_MAX

/* {"cpu","memory","storage"}; NULL on OOM. */
json_object *resources_to_json(const Resources *r);

/* cpu, memory and storage of the object o (its other members are the caller's business),
 * each an integer from min to the same member of max (NULL: RESOURCE_VALUE_MAX). prefix is
 * the path of o in messages: "resources.", or "" for the flat fields of a create request.
 * -EBADMSG with "PREFIXcpu: field required" or "PREFIXcpu: must be an integer from MIN to
 * MAX"; *ret is untouched then. */
int resources_from_json(json_object *o, const char *prefix, int64_t min, const Resources *max,
                        Resources *ret, WireError *ret_error);
