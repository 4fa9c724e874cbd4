/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "golemctl-util.h"
#include "golemctl-wire.h"

/* Providers as the discovery service shows them, and the choice of one for a new VM.
 *
 * Best fit: among the advertisements whose free resources cover the request (and whose
 * country is the one asked for, if any), the one that would have the least left over,
 * leftover being measured in units of the request so that CPU, memory and storage weigh
 * the same: free.cpu/want.cpu + free.memory/want.memory + free.storage/want.storage, the
 * smallest wins. Equal scores go to the lowest provider id (strcmp), so the same board
 * always gives the same choice. The comparison is exact (integer arithmetic), so no
 * rounding decides a tie. */

bool advertisement_fits(const Advertisement *a, const Resources *want, const char *country);

/* < 0 when a is the better fit for want, > 0 when b is, 0 for the same score. */
int advertisement_fit_compare(const Advertisement *a, const Advertisement *b, const Resources *want);

typedef struct ProviderChoice {
        size_t index;   /* of the chosen advertisement */
        size_t n_fit;   /* how many fit */
        size_t n_tied;  /* how many others fit exactly as well (lost on the provider id) */
} ProviderChoice;

/* -ENOENT when none fits; -EINVAL when a wanted resource is below 1. */
int provider_choose(const Advertisement *ads, size_t n, const Resources *want, const char *country,
                    ProviderChoice *ret);

/* How many advertisements one query asks for (limit= of GET /api/v1/advertisements): the
 * discovery service's default, and the most golemctl asks for. The service sends up to 10000,
 * but an answer over CURL_GLUE_BODY_MAX (1 MiB) is refused, and 1000 advertisements are some
 * 300 KB (up to about 1 KB each with long ids and prices). */
#define DISCOVERY_LIMIT_DEFAULT 1000U
#define DISCOVERY_LIMIT_MAX 1000U

/* The first limit advertisements (best first) the discovery service has for these minimums
 * (zero: no minimum) and country ("" or NULL: any), verified ones only unless --unverified
 * (asked of the service with verified=true, and checked here for one that does not know
 * it), checked; invalid ones are left out with a warning. *ret_more (if non-NULL) tells whether the service sent limit of them, so that it
 * may have more. Prints a one-line error on failure. */
int discovery_list(const Context *c, const Resources *min, const char *country, unsigned limit,
                   Advertisement **ret, size_t *ret_n, bool *ret_more);
/* One provider's advertisement; -ENOENT (with the error printed) when it has none, -EPERM
 * when it is not verified (unless --unverified). */
int discovery_get(const Context *c, const char *provider_id, Advertisement *ret);

/* The provider's REST URL: http://IP:PORT with the advertisement's api_port, else the
 * configured port (ProviderPort=, 7466). */
int advertisement_url(const Context *c, const Advertisement *a, char **ret);

int verb_providers(int argc, char *argv[], void *userdata);
