/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "discovery-config.h"
#include "discovery-metrics.h"
#include "discovery-store.h"
#include "http-server.h"
#include "nonce-cache.h"

typedef struct Manager {
        sd_event *event;
        DiscoverySettings settings;
        DiscoveryStore *store;
        HttpServer *http;
        sd_event_source *sweep_timer;
        NonceCache *nonces; /* of signed requests, SIGNED_REQUEST_WINDOW_SEC */
        Metrics *metrics;   /* NULL: Metrics=no */
        DiscoveryMetrics *discovery_metrics;
} Manager;

/* Takes ownership of settings. */
int manager_new(DiscoverySettings *settings, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Opens the store, takes or binds the listening sockets, arms the sweeper. */
int manager_start(Manager *m);
int manager_run(Manager *m);

/* Everything older than this is expired. */
usec_t manager_fresh_after(const Manager *m);

/* The live advertisements, by whether they are verified (for the metrics). */
int manager_count_live(Manager *m, uint64_t *ret_verified, uint64_t *ret_unverified);

/* discovery-rest.c */
extern const HttpRoute discovery_routes[];
extern const size_t discovery_n_routes;
