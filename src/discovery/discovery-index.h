/* SPDX-License-Identifier: MIT */
#pragma once

/* The live advertisements, in memory: what every GET is answered from. The store
 * (discovery-store.h) is the durable record behind it, read in full at start.
 *
 * Each advertisement is kept with its document as served (advertisement_to_json(), rendered
 * once by the writer); a list answer is those documents joined into one buffer, never
 * re-rendered. The order is the API's: verified ones first, then cpu, memory and storage
 * descending, then provider_id ascending (byte order, as SQLite's BINARY collation).
 *
 * Every write (put, remove, expire) starts a new generation; identical queries within one
 * generation are answered from a small cache of answers.
 *
 * An advertisement not refreshed since fresh_after is stale: never served, and removed by
 * discovery_index_expire() in bounded steps, oldest first. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "discovery-advertisement.h"
#include "discovery-store.h"
#include "macro.h"

typedef struct DiscoveryIndex DiscoveryIndex;

int discovery_index_new(DiscoveryIndex **ret);
DiscoveryIndex *discovery_index_free(DiscoveryIndex *x);
DEFINE_TRIVIAL_CLEANUP_FUNC(DiscoveryIndex *, discovery_index_free);

/* Inserts a, or replaces the advertisement of a->provider_id (everything is copied). A row
 * older than the one held (a->updated_at before its updated_at) is stale and ignored (0), and
 * so is the one held again (the same updated_at and document: an echo of this instance's write).
 * -EINVAL for a country that is not two letters A-Z; -ENOMEM. */
int discovery_index_put(DiscoveryIndex *x, const StoredAdvertisement *a);
/* -ENOENT when absent. */
int discovery_index_remove(DiscoveryIndex *x, const char *provider_id);
/* Removes it only if not written after removed_at (another instance's DELETE, told later than
 * a newer write may be): 1 removed, 0 kept, -ENOENT when absent. */
int discovery_index_remove_before(DiscoveryIndex *x, const char *provider_id, usec_t removed_at);

/* The advertisement's created_at when it is fresh (refreshed since fresh_after), else
 * -ENOENT: a new write keeps it, as the SQL store always did. */
int discovery_index_created_at(DiscoveryIndex *x, const char *provider_id, usec_t fresh_after, usec_t *ret);
/* The document of a fresh advertisement (valid until the next write), -ENOENT otherwise. */
int discovery_index_get(DiscoveryIndex *x, const char *provider_id, usec_t fresh_after,
                        const char **ret_document, size_t *ret_size);

/* The answer to q as a JSON array of the fresh advertisements that match, in order, limit
 * and offset applied. The buffer is the index's, valid until its next call. */
int discovery_index_query(DiscoveryIndex *x, const AdvertisementQuery *q, usec_t fresh_after,
                          const char **ret, size_t *ret_size);

/* Removes at most max of the stale advertisements, oldest first; how many went. */
size_t discovery_index_expire(DiscoveryIndex *x, usec_t fresh_after, size_t max);
/* Whether there are stale advertisements left to remove. */
bool discovery_index_has_stale(const DiscoveryIndex *x, usec_t fresh_after);

/* Held now (stale ones until they are removed), and the verified ones among them. */
uint64_t discovery_index_count(const DiscoveryIndex *x);
uint64_t discovery_index_count_verified(const DiscoveryIndex *x);
/* Bumped by every write. */
uint64_t discovery_index_generation(const DiscoveryIndex *x);

/* A self-check for the tests, linear in the size (not for the daemon): walks every tree and
 * checks its order and heap shape, and what each node keeps of its subtree (size, the largest
 * memory and storage, the platforms' mask) against a recount. 0, or -EUCLEAN for the first
 * inconsistency found. */
int discovery_index_verify(const DiscoveryIndex *x);
