/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "discovery-advertisement.h"
#include "macro.h"
#include "parse-util.h"

static int field_error_set(char field_error[static FIELD_ERROR_MAX], const char *format, ...) _printf_(2, 3);
static int field_error_set(char field_error[static FIELD_ERROR_MAX], const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(field_error, FIELD_ERROR_MAX, format, ap);
        va_end(ap);
        return -EINVAL;
}

int advertisement_from_body(json_object *body, const char *provider_id, Advertisement *a,
                            char field_error[static FIELD_ERROR_MAX]) {
        WireError e = {};
        int r;

        r = advertisement_from_json(body, ADVERTISEMENT_POSTED, provider_id, a, &e);
        if (r == -EBADMSG)
                return field_error_set(field_error, "%s", e.message);
        return r;
}

static int query_minimum(const char *value, const char *name, int64_t *ret, char field_error[static FIELD_ERROR_MAX]) {
        int64_t v;

        if (!value)
                return 0;
        if (parse_i64(value, &v) < 0)
                return field_error_set(field_error, "%s: must be an integer", name);
        if (v < 1) {
                field_error_set(field_error, "%s: must be at least 1", name);
                return -ERANGE;
        }
        *ret = v;
        return 0;
}

int advertisement_query_parse(const char *(*get)(void *userdata, const char *name), void *userdata,
                              AdvertisementQuery *q, char field_error[static FIELD_ERROR_MAX]) {
        AdvertisementQuery t = { .limit = QUERY_LIMIT_DEFAULT };
        const char *v;
        int r;

        /* The 422s first, so that "cpu=abc&memory=0" names the malformed value. */
        r = query_minimum(get(userdata, "cpu"), "cpu", &t.cpu, field_error);
        if (r == -EINVAL)
                return r;
        r = query_minimum(get(userdata, "memory"), "memory", &t.memory, field_error);
        if (r == -EINVAL)
                return r;
        r = query_minimum(get(userdata, "storage"), "storage", &t.storage, field_error);
        if (r == -EINVAL)
                return r;

        v = get(userdata, "country");
        if (v && country_code_canonicalize(v, t.country) < 0)
                return field_error_set(field_error, "country: must be an ISO 3166-1 alpha-2 code");

        v = get(userdata, "platform");
        if (v) {
                if (!platform_valid(v))
                        return field_error_set(field_error, "platform: must be 1-32 of A-Z, a-z, 0-9, '.', '_', '-'");
                snprintf(t.platform, sizeof(t.platform), "%s", v);
        }

        v = get(userdata, "verified");
        if (v) {
                if (!streq(v, "true") && !streq(v, "false"))
                        return field_error_set(field_error, "verified: must be true or false");
                t.verified_only = streq(v, "true");
        }

        v = get(userdata, "limit");
        if (v && parse_uint_range(v, 1, QUERY_LIMIT_MAX, &t.limit) < 0)
                return field_error_set(field_error, "limit: must be an integer from 1 to %d", QUERY_LIMIT_MAX);

        v = get(userdata, "offset");
        if (v && parse_uint_range(v, 0, INT64_MAX, &t.offset) < 0)
                return field_error_set(field_error, "offset: must be a non-negative integer");

        /* Then the minimums below 1. */
        r = query_minimum(get(userdata, "cpu"), "cpu", &t.cpu, field_error);
        if (r >= 0)
                r = query_minimum(get(userdata, "memory"), "memory", &t.memory, field_error);
        if (r >= 0)
                r = query_minimum(get(userdata, "storage"), "storage", &t.storage, field_error);
        if (r < 0)
                return r;

        *q = t;
        return 0;
}
