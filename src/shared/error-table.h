/* SPDX-License-Identifier: MIT */
#pragma once

/* The one mapping from an errno to every wire: the HTTP status and detail.code of a REST
 * answer and the D-Bus error name. The REST front ends, the D-Bus front end and the HTTP
 * server's fallback (a handler that returns -errno) all read it, so they cannot drift.
 * Codes that only make sense in one place (JOB_NOT_FOUND, the discovery service's ADV_*
 * and AUTH_*) are given there explicitly. */

#define GOLEM_BUS_ERROR_PREFIX "org.golem.Provider1.Error."

typedef struct ErrorInfo {
        int error;              /* positive errno; 0 ends the table */
        unsigned http_status;
        const char *code;       /* detail.code */
        const char *bus_error;  /* D-Bus error name */
        const char *message;    /* the message when the caller has none; NULL: strerror() */
} ErrorInfo;

/* The row of error (positive or negative); unknown ones map to 500 / INTERNAL_ERROR /
 * org.golem.Provider1.Error.Failed. Never NULL. */
const ErrorInfo *error_info(int error);
/* The row's message, or strerror() of error. */
const char *error_message(int error);

/* detail.code of an operation the hypervisor failed (a 500 of the table's default row). */
#define ERROR_CODE_VM_CREATE "VM_CREATE_ERROR"
#define ERROR_CODE_VM_OPERATION "VM_OPERATION_ERROR"
#define ERROR_CODE_JOB_NOT_FOUND "JOB_NOT_FOUND"

/* Names used beyond the errno rows: an operation that failed in the hypervisor. */
#define GOLEM_BUS_ERROR_FAILED GOLEM_BUS_ERROR_PREFIX "Failed"
