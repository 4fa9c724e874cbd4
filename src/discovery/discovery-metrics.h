/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "time-util.h"

/* The golem_discovery_* metrics (golem-discoveryd(8), METRICS). The manager reports each
 * store operation when it completes (its time from being queued, so a group commit's wait
 * counts) and each write the index took; the live advertisements are the index's counters,
 * read at each scrape through manager_count_live(). Every report takes NULL (Metrics=no). */

typedef struct Manager Manager;
typedef struct DiscoveryMetrics DiscoveryMetrics;

typedef enum StoreCall {
        STORE_CALL_UPSERT,
        STORE_CALL_REMOVE,
        STORE_CALL_EXPIRE,
        STORE_CALL_LOAD,
        _STORE_CALL_MAX,
} StoreCall;

/* Declares the metrics in registry (which outlives the result) and reads m's live
 * advertisements at each scrape. */
int discovery_metrics_new(Metrics *registry, Manager *m, DiscoveryMetrics **ret);
DiscoveryMetrics *discovery_metrics_free(DiscoveryMetrics *dm);
DEFINE_TRIVIAL_CLEANUP_FUNC(DiscoveryMetrics *, discovery_metrics_free);

/* A store operation queued at started (CLOCK_MONOTONIC) ended with error. */
void discovery_metrics_store_call(DiscoveryMetrics *dm, StoreCall call, usec_t started, int error);
/* Taken and served: an upsert, a withdrawal, n expiries. */
void discovery_metrics_upserted(DiscoveryMetrics *dm, bool verified);
void discovery_metrics_deleted(DiscoveryMetrics *dm);
void discovery_metrics_expired(DiscoveryMetrics *dm, uint64_t n);
