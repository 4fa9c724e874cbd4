/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "wire-advertisement.h"

#define QUERY_LIMIT_DEFAULT 1000
#define QUERY_LIMIT_MAX 10000

/* A provider's POST body (the advertisement of provider_id, its X-Provider-ID header, checked
 * with provider_id_valid()), read as wire-advertisement.h says. -EINVAL, for a 422, with
 * field_error naming the field and what is wrong. */
int advertisement_from_body(json_object *body, const char *provider_id, Advertisement *a,
                            char field_error[static FIELD_ERROR_MAX]);

typedef struct AdvertisementQuery {
        int64_t cpu, memory, storage;    /* minimums, 0: any */
        char country[3];                 /* "": any */
        char platform[PLATFORM_MAX + 1]; /* "": any */
        bool verified_only;
        uint64_t limit, offset;
} AdvertisementQuery;

/* Reads the query from a lookup function (NULL for absent parameters): the minimums, country,
 * platform, verified ("true": verified advertisements only; "false": all), limit and offset.
 * -EINVAL (422) for a malformed value, -ERANGE (400, ADV_002) for a minimum below 1; field_error says which. */
int advertisement_query_parse(const char *(*get)(void *userdata, const char *name), void *userdata,
                              AdvertisementQuery *q, char field_error[static FIELD_ERROR_MAX]);
