/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "discovery-advertisement.h"
#include "time-util.h"

/* Where advertisements live. A backend is a table of operations chosen at start; each keeps,
 * besides the columns it filters and sorts on, the advertisement as served (a JSON document),
 * so reads are copies, not re-rendering. Times come from the caller (an injectable clock). */

typedef struct DiscoveryStore DiscoveryStore;

/* Called once per result, in order; a negative return stops the query with that error. */
typedef int (*DiscoveryStoreRowCallback)(const char *document, size_t size, void *userdata);

typedef struct DiscoveryStoreOps {
        const char *name;
        int (*open)(const char *location, DiscoveryStore **ret);
        void (*close)(DiscoveryStore *s);
        /* Inserts or replaces a's advertisement; created_at is kept from a fresh existing one,
         * verified is a->verified (the caller's verdict). Sets a->created_at/updated_at and
         * returns the stored document (malloc'd). */
        int (*upsert)(DiscoveryStore *s, Advertisement *a, usec_t now, usec_t fresh_after, char **ret_document);
        /* -ENOENT when absent or not refreshed since fresh_after. */
        int (*get)(DiscoveryStore *s, const char *provider_id, usec_t fresh_after, char **ret_document);
        /* Best first: verified ones, then by cpu, memory and storage (descending), then id. */
        int (*query)(DiscoveryStore *s, const AdvertisementQuery *q, usec_t fresh_after,
                     DiscoveryStoreRowCallback cb, void *userdata);
        /* -ENOENT when absent or expired (an expired one is removed all the same). */
        int (*remove)(DiscoveryStore *s, const char *provider_id, usec_t fresh_after);
        /* Deletes what was not refreshed since fresh_after; returns how many. */
        int (*expire)(DiscoveryStore *s, usec_t fresh_after, uint64_t *ret_n);
        /* How many were refreshed since fresh_after (the live ones). */
        int (*count)(DiscoveryStore *s, usec_t fresh_after, uint64_t *ret_n);
        /* The same, split by the verified flag. */
        int (*count_verified)(DiscoveryStore *s, usec_t fresh_after, uint64_t *ret_verified, uint64_t *ret_unverified);
} DiscoveryStoreOps;

struct DiscoveryStore {
        const DiscoveryStoreOps *ops;
};

extern const DiscoveryStoreOps discovery_store_sqlite_ops;

static inline void discovery_store_closep(DiscoveryStore **s) {
        if (*s)
                (*s)->ops->close(*s);
}
