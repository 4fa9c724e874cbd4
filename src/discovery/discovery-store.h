/* SPDX-License-Identifier: MIT */
#pragma once

/* THE CONTRACT (session 5) between the in-memory index and the durable stores (SQLite, the
 * embedded default; PostgreSQL for several instances). (Written as discovery-store.h;
 * it replaced the synchronous store interface once the index landed.)
 *
 * Reads are served from the in-memory index (discovery-index.h); a store is the durable record
 * written behind it, read in full only at start (load) and, when shared by several instances,
 * followed for the other instances' writes (follow). Every operation is asynchronous on the
 * sd-event loop; every callback runs on the loop, never from inside the call that queued it
 * (so a caller may queue from a callback and hold no lock). No operation blocks the loop.
 *
 * Writes are group-committed: everything queued before a commit starts goes into one
 * transaction with one sync (SQLite: one fsync of the WAL; PostgreSQL: one COMMIT), and each
 * write's done callback runs only after that sync, with 0, or a negative errno for all of the
 * batch: -EDQUOT disk full, -ENOTCONN store unreachable (PostgreSQL down), -EIO others. A
 * caller acknowledges a POST only in done(0): a crash (kill -9) loses no acknowledged write.
 * Writes are applied in the order they were queued. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "time-util.h"

typedef struct DiscoveryStore DiscoveryStore;

/* One advertisement as stored. Strings are NUL-terminated; document is the advertisement as
 * served (advertisement_to_json(), rendered once by the caller), which carries ip_address,
 * created_at, updated_at and verified as well. A store keeps the filter columns beside it. */
typedef struct StoredAdvertisement {
        const char *provider_id;
        const char *ip_address;
        const char *country;  /* two upper-case letters */
        const char *platform; /* NULL when none */
        int64_t cpu, memory, storage;
        bool verified;
        usec_t created_at, updated_at; /* microseconds since the epoch (realtime) */
        const char *document;
        size_t document_size;
} StoredAdvertisement;

/* A write's or a load's end: 0 or a negative errno (see above). */
typedef void (*DiscoveryStoreDone)(int error, void *userdata);
/* A row: during load(), every stored row refreshed since fresh_after; from follow(), a row
 * another instance wrote (possibly also one this instance wrote: apply idempotently; a row
 * whose updated_at is older than the one the index holds is stale and ignored). The pointers
 * are valid during the call only. A negative return stops a load with that error. */
typedef int (*DiscoveryStoreRow)(const StoredAdvertisement *a, void *userdata);
/* From follow(): another instance removed provider_id (a DELETE; expiries are not reported:
 * every instance expires by updated_at itself). removed_at is when, to order it against
 * upserts of the same id (an upsert with updated_at > removed_at wins). */
typedef void (*DiscoveryStoreRemoved)(const char *provider_id, usec_t removed_at, void *userdata);
/* From follow(): the store's reachability changed (PostgreSQL connection lost or back).
 * While !healthy, /health answers 503 {"status":"degraded",...} and writes fail with
 * -ENOTCONN; reads are still served from the index. After a reconnection the store itself
 * catches up (changes since the last one it saw) before it reports healthy again. */
typedef void (*DiscoveryStoreHealth)(bool healthy, const char *reason, void *userdata);

typedef struct DiscoveryStoreFollower {
        DiscoveryStoreRow upserted;
        DiscoveryStoreRemoved removed;
        DiscoveryStoreHealth health;
        void *userdata;
} DiscoveryStoreFollower;

typedef struct DiscoveryStoreOps {
        const char *name; /* "sqlite", "postgresql" */
        /* location: a file path (SQLite) or a libpq URL ("postgresql://..."). Opens the file
         * and migrates its schema (SQLite), or starts connecting without blocking and migrates
         * once connected (PostgreSQL). -EPROTONOSUPPORT: written by a newer golem-discoveryd. */
        int (*open)(sd_event *event, const char *location, DiscoveryStore **ret);
        /* Writes still queued are completed first (SQLite: synchronously, at shutdown) or
         * fail with -ECANCELED; no callback runs after close returns. */
        void (*close)(DiscoveryStore *s);
        /* Streams every row refreshed since fresh_after to row(), then done(). Once, at start,
         * before any write; the daemon serves only after done(0) (PostgreSQL: after connecting). */
        int (*load)(DiscoveryStore *s, usec_t fresh_after, DiscoveryStoreRow row, DiscoveryStoreDone done,
                    void *userdata);
        /* Inserts or replaces a's row (copied before return). */
        int (*upsert)(DiscoveryStore *s, const StoredAdvertisement *a, DiscoveryStoreDone done, void *userdata);
        /* Deletes provider_id's row if present (absent is not an error: the index decides 404). */
        int (*remove)(DiscoveryStore *s, const char *provider_id, usec_t removed_at, DiscoveryStoreDone done,
                      void *userdata);
        /* Deletes rows not refreshed since fresh_after, at most limit per call (so no call
         * holds a transaction long); *n how many went. A shared store does it only on the
         * instance holding the sweeper lock (PostgreSQL: pg_try_advisory_lock) and reports
         * n = 0 elsewhere. done(error, userdata) with the count in *ret_n before done runs. */
        int (*expire)(DiscoveryStore *s, usec_t fresh_after, uint64_t limit, uint64_t *ret_n,
                      DiscoveryStoreDone done, void *userdata);
        /* Shared stores only (NULL for SQLite): report other instances' writes and health
         * changes until close. */
        int (*follow)(DiscoveryStore *s, const DiscoveryStoreFollower *follower);
} DiscoveryStoreOps;

struct DiscoveryStore {
        const DiscoveryStoreOps *ops;
};

extern const DiscoveryStoreOps discovery_store_sqlite_ops;
extern const DiscoveryStoreOps discovery_store_postgresql_ops;
