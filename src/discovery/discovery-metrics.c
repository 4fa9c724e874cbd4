/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "discovery-manager.h"
#include "discovery-metrics.h"
#include "time-util.h"

typedef enum StoreCall {
        STORE_CALL_UPSERT,
        STORE_CALL_GET,
        STORE_CALL_QUERY,
        STORE_CALL_REMOVE,
        STORE_CALL_EXPIRE,
        STORE_CALL_COUNT,
        _STORE_CALL_MAX,
} StoreCall;

static const char *const store_call_values[_STORE_CALL_MAX] = {
        [STORE_CALL_UPSERT] = "upsert",
        [STORE_CALL_GET] = "get",
        [STORE_CALL_QUERY] = "query",
        [STORE_CALL_REMOVE] = "remove",
        [STORE_CALL_EXPIRE] = "expire",
        [STORE_CALL_COUNT] = "count",
};

static const char *const verified_values[] = { "false", "true" };

/* A store call is a statement on a local SQLite database: microseconds to milliseconds. */
static const double store_buckets[] = {
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
};

struct DiscoveryMetrics {
        Metrics *registry;
        Manager *manager;
        Metric *live, *upserts, *deletes, *expired, *store_seconds, *store_errors;
};

static void collect(Metrics *registry, void *userdata) {
        DiscoveryMetrics *dm = userdata;
        uint64_t verified, unverified;

        if (manager_count_live(dm->manager, &verified, &unverified) < 0)
                return; /* the last values stay */
        metric_set(dm->live, metric_series(dm->live, 0, 0, 0), (double) unverified);
        metric_set(dm->live, metric_series(dm->live, 1, 0, 0), (double) verified);
}

int discovery_metrics_new(Metrics *registry, Manager *m, DiscoveryMetrics **ret) {
        _cleanup_(discovery_metrics_freep) DiscoveryMetrics *dm = calloc(1, sizeof(*dm));
        const MetricLabel verified = { "verified", verified_values, ELEMENTSOF(verified_values) };
        const MetricLabel operation = { "operation", store_call_values, _STORE_CALL_MAX };
        int r;

        if (!dm)
                return -ENOMEM;
        dm->registry = registry;
        dm->manager = m;

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
                                .help = "Advertisements deleted by the sweep because they were not refreshed in time.",
                                .type = METRIC_COUNTER,
                        }, &dm->expired);
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_discovery_store_duration_seconds",
                                .help = "Time the advertisement store took per call, by operation.",
                                .type = METRIC_HISTOGRAM, .labels = { operation }, .n_labels = 1,
                                .buckets = store_buckets, .n_buckets = ELEMENTSOF(store_buckets),
                        }, &dm->store_seconds);
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_discovery_store_errors_total",
                                .help = "Store calls that failed (a missing advertisement is not a failure), by operation.",
                                .type = METRIC_COUNTER, .labels = { operation }, .n_labels = 1,
                        }, &dm->store_errors);
        if (r >= 0)
                r = metrics_add_collector(registry, collect, dm);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(dm);
        return 0;
}

DiscoveryMetrics *discovery_metrics_free(DiscoveryMetrics *dm) {
        free(dm);
        return NULL;
}

/* ---- the timed store ---- */

typedef struct TimedStore {
        DiscoveryStore base;    /* first: what the manager holds */
        DiscoveryStore *inner;
        DiscoveryMetrics *dm;
} TimedStore;

static TimedStore *timed(DiscoveryStore *s) {
        return (TimedStore *) s;
}

/* Ends a call begun at started: its time, and its failure. */
static int done(DiscoveryStore *s, StoreCall call, usec_t started, int r) {
        DiscoveryMetrics *dm = timed(s)->dm;

        metric_observe(dm->store_seconds, metric_series(dm->store_seconds, call, 0, 0),
                       (double) (now_monotonic() - started) / USEC_PER_SEC);
        if (r < 0 && r != -ENOENT)
                metric_inc(dm->store_errors, metric_series(dm->store_errors, call, 0, 0));
        return r;
}

static int timed_upsert(DiscoveryStore *s, Advertisement *a, usec_t now, usec_t fresh_after, char **ret_document) {
        DiscoveryStore *inner = timed(s)->inner;
        DiscoveryMetrics *dm = timed(s)->dm;
        usec_t started = now_monotonic();
        int r;

        r = done(s, STORE_CALL_UPSERT, started, inner->ops->upsert(inner, a, now, fresh_after, ret_document));
        if (r >= 0)
                metric_inc(dm->upserts, metric_series(dm->upserts, a->verified, 0, 0));
        return r;
}

static int timed_get(DiscoveryStore *s, const char *provider_id, usec_t fresh_after, char **ret_document) {
        DiscoveryStore *inner = timed(s)->inner;
        usec_t started = now_monotonic();

        return done(s, STORE_CALL_GET, started, inner->ops->get(inner, provider_id, fresh_after, ret_document));
}

static int timed_query(DiscoveryStore *s, const AdvertisementQuery *q, usec_t fresh_after,
                       DiscoveryStoreRowCallback cb, void *userdata) {
        DiscoveryStore *inner = timed(s)->inner;
        usec_t started = now_monotonic();

        return done(s, STORE_CALL_QUERY, started, inner->ops->query(inner, q, fresh_after, cb, userdata));
}

static int timed_remove(DiscoveryStore *s, const char *provider_id, usec_t fresh_after) {
        DiscoveryStore *inner = timed(s)->inner;
        usec_t started = now_monotonic();
        int r;

        r = done(s, STORE_CALL_REMOVE, started, inner->ops->remove(inner, provider_id, fresh_after));
        if (r >= 0)
                metric_inc(timed(s)->dm->deletes, 0);
        return r;
}

static int timed_expire(DiscoveryStore *s, usec_t fresh_after, uint64_t *ret_n) {
        DiscoveryStore *inner = timed(s)->inner;
        usec_t started = now_monotonic();
        uint64_t n = 0;
        int r;

        r = done(s, STORE_CALL_EXPIRE, started, inner->ops->expire(inner, fresh_after, &n));
        if (r >= 0) {
                metric_add(timed(s)->dm->expired, 0, (double) n);
                if (ret_n)
                        *ret_n = n;
        }
        return r;
}

static int timed_count(DiscoveryStore *s, usec_t fresh_after, uint64_t *ret_n) {
        DiscoveryStore *inner = timed(s)->inner;
        usec_t started = now_monotonic();

        return done(s, STORE_CALL_COUNT, started, inner->ops->count(inner, fresh_after, ret_n));
}

static int timed_count_verified(DiscoveryStore *s, usec_t fresh_after, uint64_t *ret_verified, uint64_t *ret_unverified) {
        DiscoveryStore *inner = timed(s)->inner;
        usec_t started = now_monotonic();

        return done(s, STORE_CALL_COUNT, started,
                    inner->ops->count_verified(inner, fresh_after, ret_verified, ret_unverified));
}

static void timed_close(DiscoveryStore *s) {
        DiscoveryStore *inner = timed(s)->inner;

        inner->ops->close(inner);
        free(s);
}

static const DiscoveryStoreOps timed_ops = {
        .name = "timed",
        .close = timed_close,
        .upsert = timed_upsert,
        .get = timed_get,
        .query = timed_query,
        .remove = timed_remove,
        .expire = timed_expire,
        .count = timed_count,
        .count_verified = timed_count_verified,
};

int discovery_metrics_wrap_store(DiscoveryMetrics *dm, DiscoveryStore *store, DiscoveryStore **ret) {
        TimedStore *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *t = (TimedStore) { .base.ops = &timed_ops, .inner = store, .dm = dm };
        *ret = &t->base;
        return 0;
}
