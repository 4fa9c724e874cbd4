/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "error-table.h"
#include "log.h"
#include "macro.h"

/* The D-Bus names are part of org.golem.Provider1's API: errors without a name of their own
 * are ...Error.Failed. */
static const ErrorInfo error_table[] = {
        { ENOENT,       404, "VM_NOT_FOUND",         GOLEM_BUS_ERROR_PREFIX "NotFound" },
        { ENXIO,        404, "NOT_FOUND",            GOLEM_BUS_ERROR_FAILED },
        { EEXIST,       409, "VM_NAME_TAKEN",        GOLEM_BUS_ERROR_PREFIX "NameTaken" },
        { EBUSY,        409, "VM_WRONG_STATE",       GOLEM_BUS_ERROR_PREFIX "WrongState" },
        { ECANCELED,    409, "VM_DELETED",           GOLEM_BUS_ERROR_FAILED,
          "Deleted while it was being created" },
        { EINVAL,       422, "VALIDATION_ERROR",     GOLEM_BUS_ERROR_PREFIX "InvalidArgument" },
        { EBADMSG,      422, "VALIDATION_ERROR",     GOLEM_BUS_ERROR_FAILED },
        { ERANGE,       400, "BAD_REQUEST",          GOLEM_BUS_ERROR_FAILED },
        { EACCES,       401, "UNAUTHORIZED",         GOLEM_BUS_ERROR_FAILED },
        { EPERM,        401, "UNAUTHORIZED",         GOLEM_BUS_ERROR_FAILED },
        { E2BIG,        413, "PAYLOAD_TOO_LARGE",    GOLEM_BUS_ERROR_FAILED },
        { EOPNOTSUPP,   405, "METHOD_NOT_ALLOWED",   GOLEM_BUS_ERROR_FAILED },
        { ENOSPC,       503, "RESOURCE_UNAVAILABLE", GOLEM_BUS_ERROR_PREFIX "ResourceUnavailable" },
        { EDQUOT,       507, "INSUFFICIENT_STORAGE", GOLEM_BUS_ERROR_PREFIX "StorageFull",
          "The provider's state store is full (no space left on its disk); nothing was changed" },
        { EHOSTDOWN,    503, "DRIVER_UNAVAILABLE",   GOLEM_BUS_ERROR_PREFIX "DriverUnavailable" },
        { EAGAIN,       503, "SERVICE_UNAVAILABLE",  GOLEM_BUS_ERROR_FAILED },
        { ENOMEM,       503, "SERVICE_UNAVAILABLE",  GOLEM_BUS_ERROR_FAILED },
        { ECONNREFUSED, 503, "SERVICE_UNAVAILABLE",  GOLEM_BUS_ERROR_FAILED },
        { EHOSTUNREACH, 503, "SERVICE_UNAVAILABLE",  GOLEM_BUS_ERROR_FAILED },
        { ESHUTDOWN,    503, "SERVICE_UNAVAILABLE",  GOLEM_BUS_ERROR_FAILED },
        { ETIMEDOUT,    504, "VM_TIMEOUT",           GOLEM_BUS_ERROR_PREFIX "Timeout" },
        { 0,            500, "INTERNAL_ERROR",       GOLEM_BUS_ERROR_FAILED },
};

const ErrorInfo *error_info(int error) {
        int e = ERRNO_VALUE(error);
        size_t i;

        for (i = 0; error_table[i].error != 0; i++)
                if (error_table[i].error == e)
                        break;
        return error_table + i;
}

const char *error_message(int error) {
        return error_info(error)->message ?: strerror(ERRNO_VALUE(error));
}
