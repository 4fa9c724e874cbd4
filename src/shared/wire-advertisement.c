/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdio.h>

#include "json-util.h"
#include "wire-advertisement.h"

#define E_PROVIDER_ID "provider_id: must be 1-128 of A-Z, a-z, 0-9, '.', '_', ':', '-'"
#define E_IP "ip_address: must be a valid IPv4 or IPv6 address"
#define E_COUNTRY "country: must be an ISO 3166-1 alpha-2 code"
#define E_PLATFORM "platform: must be 1-32 of A-Z, a-z, 0-9, '.', '_', '-'"
#define E_KEY(object) object ": invalid key (1-32 of a-z, 0-9, _)"

void advertisement_done(Advertisement *a) {
        json_object_put(a->resources_json);
        json_object_put(a->pricing);
        *a = (Advertisement) {};
}

/* Every member of a posted resources object, cpu, memory and storage (checked already) among
 * them, in the body's order. */
static int copy_resources(json_object *o, json_object **ret, WireError *e) {
        _cleanup_json_ json_object *copy = json_object_new_object();
        size_t n_extra = 0;

        if (!copy)
                return -ENOMEM;

        json_object_object_foreach(o, key, value) {
                int64_t v;

                if (!streq(key, "cpu") && !streq(key, "memory") && !streq(key, "storage")) {
                        if (!resource_key_valid(key))
                                return wire_error(e, "resources", E_KEY("resources"));
                        if (++n_extra > RESOURCE_EXTRA_MAX)
                                return wire_error(e, "resources", "resources: more than %d extra resources",
                                                  RESOURCE_EXTRA_MAX);
                        if (json_get_int(value, 0, RESOURCE_VALUE_MAX, &v) < 0)
                                return wire_error(e, "resources", "resources.%s: must be an integer from 0 to %d",
                                                  key, RESOURCE_VALUE_MAX);
                } else
                        v = json_object_get_int64(value);

                if (json_object_object_add(copy, key, json_object_new_int64(v)) < 0)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(copy);
        return 0;
}

static int copy_pricing(json_object *o, json_object **ret, WireError *e) {
        _cleanup_json_ json_object *copy = NULL;
        size_t n = 0;

        if (!json_object_is_type(o, json_type_object))
                return wire_error(e, "pricing", "pricing: must be an object");

        copy = json_object_new_object();
        if (!copy)
                return -ENOMEM;

        json_object_object_foreach(o, key, value) {
                json_object *v;
                double d;

                if (!resource_key_valid(key))
                        return wire_error(e, "pricing", E_KEY("pricing"));
                if (++n > PRICING_KEYS_MAX)
                        return wire_error(e, "pricing", "pricing: more than %d keys", PRICING_KEYS_MAX);
                if (json_get_number(value, &d) < 0 || d < 0)
                        return wire_error(e, "pricing", "pricing.%s: must be a non-negative number", key);

                /* Integers stay integers, doubles stay doubles. */
                v = json_object_is_type(value, json_type_int) ? json_object_new_int64(json_object_get_int64(value))
                                                              : json_object_new_double(d);
                if (json_object_object_add(copy, key, v) < 0)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(copy);
        return 0;
}

/* A member's value; NULL when it is absent or null. */
static json_object *member(json_object *o, const char *key) {
        json_object *v = NULL;

        (void) json_object_object_get_ex(o, key, &v);
        return json_object_is_type(v, json_type_null) ? NULL : v;
}

static int parse(json_object *o, AdvertisementSource source, const char *provider_id, Advertisement *t, WireError *e) {
        bool posted = source == ADVERTISEMENT_POSTED;
        json_object *v, *resources;
        const char *s;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return posted ? wire_error(e, "body", "body: must be a JSON object")
                              : wire_error(e, "advertisement", "advertisement: must be a JSON object");

        if (posted)
                snprintf(t->provider_id, sizeof(t->provider_id), "%s", provider_id);
        else {
                v = member(o, "provider_id");
                if (!v)
                        return wire_error(e, "provider_id", "provider_id: field required");
                if (json_get_string(v, PROVIDER_ID_MAX, &s) < 0 || !provider_id_valid(s))
                        return wire_error(e, "provider_id", E_PROVIDER_ID);
                strcpy(t->provider_id, s);
        }

        /* Present but null is as wrong as any other value that is not an address. */
        if (!json_object_object_get_ex(o, "ip_address", &v))
                return wire_error(e, "ip_address", "ip_address: field required");
        if (json_get_string(v, IP_ADDRESS_MAX, &s) < 0 || ip_address_canonicalize(s, t->ip_address) < 0)
                return wire_error(e, "ip_address", E_IP);

        if (!json_object_object_get_ex(o, "country", &v))
                return wire_error(e, "country", "country: field required");
        if (json_get_string(v, 2, &s) < 0 || country_code_canonicalize(s, t->country) < 0)
                return wire_error(e, "country", E_COUNTRY);

        v = member(o, "platform");
        if (v) {
                /* An empty one, served, reads as none. */
                if (json_get_string(v, PLATFORM_MAX, &s) < 0 || (!platform_valid(s) && (posted || s[0])))
                        return wire_error(e, "platform", E_PLATFORM);
                strcpy(t->platform, s);
        }

        if (!json_object_object_get_ex(o, "resources", &resources))
                return wire_error(e, "resources", "resources: field required");
        if (!json_object_is_type(resources, json_type_object))
                return wire_error(e, "resources", "resources: must be an object");
        r = resources_from_json(resources, "resources.", posted ? 1 : 0, NULL, &t->resources, e);
        if (r < 0)
                return r;

        if (posted) {
                r = copy_resources(resources, &t->resources_json, e);
                if (r < 0)
                        return r;
                v = member(o, "pricing");
                return v ? copy_pricing(v, &t->pricing, e) : 0;
        }

        v = member(o, "updated_at");
        if (v && (json_get_string(v, 64, &s) < 0 || parse_rfc3339(s, &t->updated_at) < 0))
                return wire_error(e, "updated_at", "updated_at: must be an RFC 3339 time");

        v = member(o, "verified");
        if (v && !json_object_is_type(v, json_type_boolean))
                return wire_error(e, "verified", "verified: must be true or false");
        t->verified = v && json_object_get_boolean(v);

        v = member(o, "api_port");
        if (v) {
                int64_t port;

                if (json_get_int(v, 1, UINT16_MAX, &port) < 0)
                        return wire_error(e, "api_port", "api_port: must be an integer from 1 to 65535");
                t->api_port = (uint16_t) port;
        }
        return 0;
}

int advertisement_from_json(json_object *o, AdvertisementSource source, const char *provider_id,
                            Advertisement *ret, WireError *ret_error) {
        Advertisement t = {};
        int r;

        assert(source >= 0 && source < _ADVERTISEMENT_SOURCE_MAX);
        assert((source == ADVERTISEMENT_POSTED) == !!provider_id);

        r = parse(o, source, provider_id, &t, ret_error);
        if (r < 0) {
                advertisement_done(&t);
                return r;
        }
        *ret = t;
        return 0;
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
            json_object_object_add(o, "resources", json_object_get(a->resources_json)) < 0 ||
            json_object_object_add(o, "pricing", json_object_get(a->pricing)) < 0 ||
            json_object_object_add(o, "created_at", json_object_new_string(format_rfc3339(created, a->created_at))) < 0 ||
            json_object_object_add(o, "updated_at", json_object_new_string(format_rfc3339(updated, a->updated_at))) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(o);
        return 0;
}
