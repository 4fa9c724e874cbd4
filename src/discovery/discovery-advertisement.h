/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "time-util.h"
#include "validate.h"

#define RESOURCE_VALUE_MAX INT32_MAX
#define RESOURCE_EXTRA_MAX 16
#define PRICING_KEYS_MAX 16
#define QUERY_LIMIT_DEFAULT 1000
#define QUERY_LIMIT_MAX 10000
#define FIELD_ERROR_MAX 256

typedef struct Advertisement {
        char provider_id[129];
        char ip_address[IP_ADDRESS_MAX];
        char country[3];
        char platform[33];        /* "" when absent */
        int64_t cpu, memory, storage;
        json_object *resources;   /* every resource, cpu/memory/storage included */
        json_object *pricing;     /* NULL when absent */
        usec_t created_at, updated_at;
} Advertisement;

void advertisement_done(Advertisement *a);

/* Validates a POST body into a. provider_id must have been checked with provider_id_valid().
 * On invalid input returns -EINVAL with field_error naming the field and what is wrong. */
int advertisement_from_json(json_object *body, const char *provider_id, Advertisement *a,
                            char field_error[static FIELD_ERROR_MAX]);

/* The advertisement as served: provider_id, ip_address, country, platform, resources,
 * pricing, created_at, updated_at. */
int advertisement_to_json(const Advertisement *a, json_object **ret);

typedef struct AdvertisementQuery {
        int64_t cpu, memory, storage; /* minimums, 0: any */
        char country[3];              /* "": any */
        char platform[33];            /* "": any */
        uint64_t limit, offset;
} AdvertisementQuery;

/* Reads the query from a lookup function (NULL for absent parameters). -EINVAL (422) for a
 * malformed value, -ERANGE (400, ADV_002) for a minimum below 1; field_error says which. */
int advertisement_query_parse(const char *(*get)(void *userdata, const char *name), void *userdata,
                              AdvertisementQuery *q, char field_error[static FIELD_ERROR_MAX]);
