/* SPDX-License-Identifier: MIT */
#pragma once

#include "discovery-store.h"
#include "metrics.h"

/* The golem_discovery_* metrics (golem-discoveryd(8), METRICS). The store's operations are
 * timed and counted by a store that wraps the real one, so the REST handlers carry no hooks;
 * the live advertisements are counted when asked, through manager_count_live(). */

typedef struct Manager Manager;
typedef struct DiscoveryMetrics DiscoveryMetrics;

/* Declares the metrics in registry (which outlives the result) and counts m's live
 * advertisements at each scrape. */
int discovery_metrics_new(Metrics *registry, Manager *m, DiscoveryMetrics **ret);
DiscoveryMetrics *discovery_metrics_free(DiscoveryMetrics *dm);
DEFINE_TRIVIAL_CLEANUP_FUNC(DiscoveryMetrics *, discovery_metrics_free);

/* A store that is store, timed and counted: takes store on success (closing the result closes
 * it); dm must outlive the result. */
int discovery_metrics_wrap_store(DiscoveryMetrics *dm, DiscoveryStore *store, DiscoveryStore **ret);
