/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "discovery-advertisement.h"
#include "json-util.h"
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

void advertisement_done(Advertisement *a) {
        json_object_put(a->resources);
        json_object_put(a->pricing);
        *a = (Advertisement) {};
}

static int parse_resources(json_object *o, Advertisement *a, char field_error[static FIELD_ERROR_MAX]) {
        _cleanup_json_ json_object *copy = NULL;
        size_t n_extra = 0;
        int64_t *required[] = { &a->cpu, &a->memory, &a->storage };
        static const char *const required_keys[] = { "cpu", "memory", "storage" };

        if (!json_object_is_type(o, json_type_object))
                return field_error_set(field_error, "resources: must be an object");

        copy = json_object_new_object();
        if (!copy)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(required_keys); i++) {
                json_object *v;

                if (!json_object_object_get_ex(o, required_keys[i], &v))
                        return field_error_set(field_error, "resources.%s: field required", required_keys[i]);
                if (json_get_int(v, 1, RESOURCE_VALUE_MAX, required[i]) < 0)
                        return field_error_set(field_error, "resources.%s: must be an integer from 1 to %d",
                                               required_keys[i], RESOURCE_VALUE_MAX);
        }

        json_object_object_foreach(o, key, value) {
                int64_t v;
                bool is_required = streq(key, "cpu") || streq(key, "memory") || streq(key, "storage");

                if (!is_required) {
                        if (!resource_key_valid(key))
                                return field_error_set(field_error, "resources: invalid key (1-32 of a-z, 0-9, _)");
                        if (++n_extra > RESOURCE_EXTRA_MAX)
                                return field_error_set(field_error, "resources: more than %d extra resources", RESOURCE_EXTRA_MAX);
                        if (json_get_int(value, 0, RESOURCE_VALUE_MAX, &v) < 0)
                                return field_error_set(field_error, "resources.%s: must be an integer from 0 to %d",
                                                       key, RESOURCE_VALUE_MAX);
                } else
                        v = json_object_get_int64(value);

                if (json_object_object_add(copy, key, json_object_new_int64(v)) < 0)
                        return -ENOMEM;
        }

        a->resources = TAKE_PTR(copy);
        return 0;
}

static int parse_pricing(json_object *o, Advertisement *a, char field_error[static FIELD_ERROR_MAX]) {
        _cleanup_json_ json_object *copy = NULL;
        size_t n = 0;

        if (!json_object_is_type(o, json_type_object))
                return field_error_set(field_error, "pricing: must be an object");

        copy = json_object_new_object();
        if (!copy)
                return -ENOMEM;

        json_object_object_foreach(o, key, value) {
                json_object *v;
                double d;

                if (!resource_key_valid(key))
                        return field_error_set(field_error, "pricing: invalid key (1-32 of a-z, 0-9, _)");
                if (++n > PRICING_KEYS_MAX)
                        return field_error_set(field_error, "pricing: more than %d keys", PRICING_KEYS_MAX);
                if (json_get_number(value, &d) < 0 || d < 0)
                        return field_error_set(field_error, "pricing.%s: must be a non-negative number", key);

                v = json_object_is_type(value, json_type_int) ? json_object_new_int64(json_object_get_int64(value))
                                                              : json_object_new_double(d);
                if (json_object_object_add(copy, key, v) < 0)
                        return -ENOMEM;
        }

        a->pricing = TAKE_PTR(copy);
        return 0;
}

int advertisement_from_json(json_object *body, const char *provider_id, Advertisement *a,
                            char field_error[static FIELD_ERROR_MAX]) {
        Advertisement t = {};
        json_object *v;
        const char *s;
        int r;

        if (!json_object_is_type(body, json_type_object))
                return field_error_set(field_error, "body: must be a JSON object");

        snprintf(t.provider_id, sizeof(t.provider_id), "%s", provider_id);

        if (!json_object_object_get_ex(body, "ip_address", &v))
                return field_error_set(field_error, "ip_address: field required");
        if (json_get_string(v, IP_ADDRESS_MAX, &s) < 0 || ip_address_canonicalize(s, t.ip_address) < 0)
                return field_error_set(field_error, "ip_address: must be a valid IPv4 or IPv6 address");

        if (!json_object_object_get_ex(body, "country", &v))
                return field_error_set(field_error, "country: field required");
        if (json_get_string(v, 2, &s) < 0 || country_code_canonicalize(s, t.country) < 0)
                return field_error_set(field_error, "country: must be an ISO 3166-1 alpha-2 code");

        if (json_object_object_get_ex(body, "platform", &v) && !json_object_is_type(v, json_type_null)) {
                if (json_get_string(v, 32, &s) < 0 || !platform_valid(s))
                        return field_error_set(field_error, "platform: must be 1-32 of A-Z, a-z, 0-9, '.', '_', '-'");
                snprintf(t.platform, sizeof(t.platform), "%s", s);
        }

        if (!json_object_object_get_ex(body, "resources", &v))
                return field_error_set(field_error, "resources: field required");
        r = parse_resources(v, &t, field_error);
        if (r < 0)
                goto fail;

        if (json_object_object_get_ex(body, "pricing", &v) && !json_object_is_type(v, json_type_null)) {
                r = parse_pricing(v, &t, field_error);
                if (r < 0)
                        goto fail;
        }

        *a = t;
        return 0;

fail:
        advertisement_done(&t);
        return r;
}

int advertisement_to_json(const Advertisement *a, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        char created[RFC3339_MAX], updated[RFC3339_MAX];

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;

        if (json_object_object_add(o, "provider_id", json_object_new_string(a->provider_id)) < 0 ||
            json_object_object_add(o, "ip_address", json_object_new_string(a->ip_address)) < 0 ||
            json_object_object_add(o, "country", json_object_new_string(a->country)) < 0 ||
            json_object_object_add(o, "platform", a->platform[0] ? json_object_new_string(a->platform) : NULL) < 0 ||
            json_object_object_add(o, "resources", json_object_get(a->resources)) < 0 ||
            json_object_object_add(o, "pricing", json_object_get(a->pricing)) < 0 ||
            json_object_object_add(o, "created_at", json_object_new_string(format_rfc3339(created, a->created_at))) < 0 ||
            json_object_object_add(o, "updated_at", json_object_new_string(format_rfc3339(updated, a->updated_at))) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(o);
        return 0;
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
