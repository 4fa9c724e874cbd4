/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "discovery-index.h"
#include "discovery-metrics.h"
#include "time-util.h"

static const char *const store_call_values[_STORE_CALL_MAX] = {
        [STORE_CALL_UPSERT] = "upsert",
        [STORE_CALL_REMOVE] = "remove",
        [STORE_CALL_EXPIRE] = "expire",
        [STORE_CALL_LOAD] = "load",
};

static const char *const verified_values[] = { "false", "true" };

/* A write waits for its group's commit (a sync of the disk, or a round trip to PostgreSQL):
 * a fraction of a millisecond to some; a load of a million rows takes seconds. */
static const double store_buckets[] = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10,
};

struct DiscoveryMetrics {
        Metrics *registry;
        const DiscoveryIndex *index;
        Metric *live, *upserts, *deletes, *expired, *store_seconds, *store_errors, *store_up;
};

static void collect(Metrics *registry, void *userdata) {
        DiscoveryMetrics *dm = userdata;
        uint64_t verified = discovery_index_count_verified(dm->index);

        metric_set(dm->live, metric_series(dm->live, 0, 0, 0), (double) (discovery_index_count(dm->index) - verified));
        metric_set(dm->live, metric_series(dm->live, 1, 0, 0), (double) verified);
}

int discovery_metrics_new(Metrics *registry, const DiscoveryIndex *index, DiscoveryMetrics **ret) {
        _cleanup_(discovery_metrics_freep) DiscoveryMetrics *dm = calloc(1, sizeof(*dm));
        const MetricLabel verified = { "verified", verified_values, ELEMENTSOF(verified_values) };
        const MetricLabel operation = { "operation", store_call_values, _STORE_CALL_MAX };
        int r;

        if (!dm)
                return -ENOMEM;
        dm->registry = registry;
        dm->index = index;

        r = metrics_add(registry, &(MetricDef) {
                        .name = "golem_discovery_advertisements",
                        .help = "Live (not expired) advertisements, by whether the provider's signature was verified.",
                        .type = METRIC_GAUGE, .labels = { verified }, .n_labels = 1,
                }, &dm->live);
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_discovery_upserts_total",
                                .help = "Advertisements stored (POSTs taken), by whether they were verified.",
                                .type = METRIC_COUNTER, .labels = { verified }, .n_labels = 1,
                        }, &dm->upserts);
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_discovery_deletes_total",
                                .help = "Advertisements withdrawn by their provider (DELETEs taken).",
                                .type = METRIC_COUNTER,
                        }, &dm->deletes);
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_discovery_expired_total",
                                .help = "Advertisements that expired (not refreshed within AdvertisementTTLSec=).",
                                .type = METRIC_COUNTER,
                        }, &dm->expired);
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_discovery_store_duration_seconds",
                                .help = "Time from queueing a store operation to its completion (a write: to its group's commit), by operation.",
                                .type = METRIC_HISTOGRAM, .labels = { operation }, .n_labels = 1,
                                .buckets = store_buckets, .n_buckets = ELEMENTSOF(store_buckets),
                        }, &dm->store_seconds);
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_discovery_store_errors_total",
                                .help = "Store operations that failed, by operation.",
                                .type = METRIC_COUNTER, .labels = { operation }, .n_labels = 1,
                        }, &dm->store_errors);
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_discovery_store_up",
                                .help = "1 while the advertisement store is reachable, 0 while a shared store (PostgreSQL) is not (writes and /health answer 503).",
                                .type = METRIC_GAUGE,
                        }, &dm->store_up);
        if (r >= 0)
                r = metrics_add_collector(registry, collect, dm);
        if (r < 0)
                return r;
        discovery_metrics_store_reachable(dm, true); /* until the store says otherwise */

        *ret = TAKE_PTR(dm);
        return 0;
}

DiscoveryMetrics *discovery_metrics_free(DiscoveryMetrics *dm) {
        free(dm);
        return NULL;
}

void discovery_metrics_store_call(DiscoveryMetrics *dm, StoreCall call, usec_t started, int error) {
        if (!dm)
                return;
        metric_observe(dm->store_seconds, metric_series(dm->store_seconds, call, 0, 0),
                       (double) (now_monotonic() - started) / USEC_PER_SEC);
        if (error < 0)
                metric_inc(dm->store_errors, metric_series(dm->store_errors, call, 0, 0));
}

void discovery_metrics_store_reachable(DiscoveryMetrics *dm, bool reachable) {
        if (dm)
                metric_set(dm->store_up, metric_series(dm->store_up, 0, 0, 0), reachable ? 1 : 0);
}

void discovery_metrics_upserted(DiscoveryMetrics *dm, bool verified) {
        if (dm)
                metric_inc(dm->upserts, metric_series(dm->upserts, verified, 0, 0));
}

void discovery_metrics_deleted(DiscoveryMetrics *dm) {
        if (dm)
                metric_inc(dm->deletes, 0);
}

void discovery_metrics_expired(DiscoveryMetrics *dm, uint64_t n) {
        if (dm && n > 0)
                metric_add(dm->expired, 0, (double) n);
}
