/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "json-util.h"
#include "wire.h"

int wire_error(WireError *e, const char *field, const char *format, ...) {
        va_list ap;

        if (e) {
                e->field = field;
                va_start(ap, format);
                vsnprintf(e->message, sizeof(e->message), format, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

static const char *const job_status_table[_JOB_STATUS_MAX] = {
        [JOB_CREATING] = "creating",
        [JOB_READY] = "ready",
        [JOB_FAILED] = "failed",
        [JOB_STARTING] = "starting",
};

DEFINE_STRING_TABLE_LOOKUP(job_status, JobStatus);

static const char *const job_kind_table[_JOB_KIND_MAX] = {
        [JOB_KIND_CREATE] = "create",
        [JOB_KIND_RESTORE] = "restore",
};

DEFINE_STRING_TABLE_LOOKUP(job_kind, JobKind);

json_object *resources_to_json(const Resources *r) {
        json_object *o = json_object_new_object();

        if (o && (json_object_object_add(o, "cpu", json_object_new_int64(r->cpu)) < 0 ||
                  json_object_object_add(o, "memory", json_object_new_int64(r->memory)) < 0 ||
                  json_object_object_add(o, "storage", json_object_new_int64(r->storage)) < 0)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

int resources_from_json(json_object *o, const char *prefix, int64_t min, const Resources *max,
                        Resources *ret, WireError *ret_error) {
        static const char *const keys[] = { "cpu", "memory", "storage" };
        const int64_t maxima[] = {
                max ? max->cpu : RESOURCE_VALUE_MAX,
                max ? max->memory : RESOURCE_VALUE_MAX,
                max ? max->storage : RESOURCE_VALUE_MAX,
        };
        int64_t values[ELEMENTSOF(keys)];

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_object *v;

                if (!json_object_object_get_ex(o, keys[i], &v))
                        return wire_error(ret_error, keys[i], "%s%s: field required", prefix, keys[i]);
                if (json_get_int(v, min, maxima[i], values + i) < 0)
                        return wire_error(ret_error, keys[i], "%s%s: must be an integer from %" PRIi64 " to %" PRIi64,
                                          prefix, keys[i], min, maxima[i]);
        }

        *ret = (Resources) { values[0], values[1], values[2] };
        return 0;
}
