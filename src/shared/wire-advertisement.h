/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "time-util.h"
#include "validate.h"
#include "wire.h"

/* An advertisement, as the discovery service serves it (GET /api/v1/advertisements[/ID]):
 *
 *     {"provider_id","ip_address","country","platform","resources":{"cpu","memory","storage",...},
 *      "pricing","created_at","updated_at","api_port","verified"}
 *
 * and as a provider posts it (POST /api/v1/advertisements): the same without provider_id,
 * which its X-Provider-ID header names, and without the timestamps and "verified", which are
 * the service's. "api_port" is the provider's REST port (1-65535, null when not posted: 7466);
 * "verified" says whether the id is the fingerprint of the key that signed the POST.
 * golem-discoveryd reads what providers post and serves it; golemctl reads what it serves. */

#define RESOURCE_EXTRA_MAX 16
#define PRICING_KEYS_MAX 16

typedef enum AdvertisementSource {
        /* A provider's POST body. The provider_id is the header's; one in the body, and any
         * timestamps, are ignored. Resources are at least 1; extra resources (at most
         * RESOURCE_EXTRA_MAX, keys of resource_key_valid(), integers from 0) and pricing (at
         * most PRICING_KEYS_MAX such keys, non-negative numbers) are checked and kept. */
        ADVERTISEMENT_POSTED,
        /* What the service served. provider_id and updated_at are read from it; resources
         * are at least 0 (a provider may have nothing free); an empty platform reads as none;
         * extra resources, pricing and created_at are not read. "verified" (a boolean; absent
         * or null: false) says the provider signed it with the key its id names; "api_port"
         * (1-65535; absent or null: not known) is the provider's REST port. */
        ADVERTISEMENT_SERVED,
        _ADVERTISEMENT_SOURCE_MAX,
        _ADVERTISEMENT_SOURCE_INVALID = -EINVAL,
} AdvertisementSource;

typedef struct Advertisement {
        char provider_id[PROVIDER_ID_MAX + 1];
        char ip_address[IP_ADDRESS_MAX];        /* canonical */
        char country[3];                        /* upper case */
        char platform[PLATFORM_MAX + 1];        /* "" when absent */
        Resources resources;
        json_object *resources_json;            /* posted: every resource, cpu, memory and
                                                 * storage included, in the body's order;
                                                 * served: NULL */
        json_object *pricing;                   /* posted: NULL when absent; served: NULL */
        usec_t created_at;                      /* 0 as read: the service sets it */
        usec_t updated_at;                      /* served: 0 when absent; posted: 0 */
        uint16_t api_port;                      /* 0 when absent */
        bool verified;                          /* posted: false, the service sets it;
                                                 * served: false when absent */
} Advertisement;

/* Frees what a posted advertisement holds; one that was served holds nothing. */
void advertisement_done(Advertisement *a);

/* Reads an advertisement from source; provider_id is the X-Provider-ID header of a posted one
 * (checked with provider_id_valid() already), NULL for one served. Fields are checked in a
 * fixed order, so the error does not depend on the order of the keys. -EBADMSG with
 * *ret_error (when non-NULL) saying what is wrong; -ENOMEM. *ret is untouched on failure. */
int advertisement_from_json(json_object *o, AdvertisementSource source, const char *provider_id,
                            Advertisement *ret, WireError *ret_error);

/* The advertisement as the service serves it (the fields above, platform and pricing null
 * when absent). The document holds references to a's JSON: it may outlive a. */
int advertisement_to_json(const Advertisement *a, json_object **ret);
