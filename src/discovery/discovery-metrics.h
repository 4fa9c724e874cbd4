/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "time-util.h"

/* The golem_discovery_* metrics (golem-discoveryd(8), METRICS). The manager reports each
 * store operation when it completes (its time from being queued, so a group commit's wait
 * counts), each write the index took and the store's reachability; the live advertisements
 * are the index's counters, read at each scrape. Every report takes NULL (Metrics=no). */

typedef struct DiscoveryIndex DiscoveryIndex;
typedef struct DiscoveryMetrics DiscoveryMetrics;

typedef enum StoreCall {
        STORE_CALL_UPSERT,
        STORE_CALL_REMOVE,
        STORE_CALL_EXPIRE,
        STORE_CALL_LOAD,
        _STORE_CALL_MAX,
} StoreCall;

/* Declares the metrics in registry (which outlives the result) and reads index's live
 * advertisements at each scrape (index outlives the result). */
int discovery_metrics_new(Metrics *registry, const DiscoveryIndex *index, DiscoveryMetrics **ret);
DiscoveryMetrics *discovery_metrics_free(DiscoveryMetrics *dm);
DEFINE_TRIVIAL_CLEANUP_FUNC(DiscoveryMetrics *, discovery_metrics_free);

/* A store operation queued at started (CLOCK_MONOTONIC) ended with error. */
void discovery_metrics_store_call(DiscoveryMetrics *dm, StoreCall call, usec_t started, int error);
/* The store became reachable or not (golem_discovery_store_up). */
void discovery_metrics_store_reachable(DiscoveryMetrics *dm, bool reachable);
/* Taken and served: an upsert, a withdrawal, n expiries. */
void discovery_metrics_upserted(DiscoveryMetrics *dm, bool verified);
void discovery_metrics_deleted(DiscoveryMetrics *dm);
void discovery_metrics_expired(DiscoveryMetrics *dm, uint64_t n);
