/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "discovery-config.h"
#include "discovery-index.h"
#include "discovery-metrics.h"
#include "discovery-store.h"
#include "http-server.h"
#include "nonce-cache.h"

typedef struct Manager {
        sd_event *event;
        DiscoverySettings settings;
        DiscoveryStore *store;   /* the durable record */
        DiscoveryIndex *index;   /* what is served; loaded from the store at start */
        HttpServer *http;
        sd_event_source *sweep_timer;  /* the store's expiry and STATUS=, CleanupIntervalSec= */
        sd_event_source *expire_timer; /* the index's expiry, every second, in bounded steps */
        NonceCache *nonces; /* of signed requests, SIGNED_REQUEST_WINDOW_SEC */
        usec_t last_write;  /* updated_at of the last write: never goes back with the clock */
        uint64_t expired;   /* by the index since the last sweep */
        uint64_t store_expired;
        bool store_sweeping;
        char *store_location; /* for messages: the file, or the URL without its password */
        bool store_unreachable; /* a shared store (PostgreSQL) lost: /health says degraded */
        usec_t store_expire_queued, load_queued; /* CLOCK_MONOTONIC, for the metrics */
        Metrics *metrics;   /* NULL: Metrics=no */
        DiscoveryMetrics *discovery_metrics;
} Manager;

/* Takes ownership of settings. */
int manager_new(DiscoverySettings *settings, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Opens the store and starts loading it into the index; once loaded, takes or binds the
 * listening sockets, arms the sweepers and says READY=1 (the daemon serves only then). */
int manager_start(Manager *m);
int manager_run(Manager *m);

/* False while a shared store (PostgreSQL) is unreachable: /health answers 503 "degraded",
 * writes fail with -ENOTCONN (503), reads are served from memory. */
bool manager_store_reachable(const Manager *m);

/* Everything older than this is expired. */
usec_t manager_fresh_after(const Manager *m);

/* A write's end: 0 once it is durable and served, with the document as served (POST's
 * answer; valid during the call), or a negative errno from the store (discovery-store.h). */
typedef void (*ManagerWriteDone)(int error, const char *document, size_t size, void *userdata);

/* Stores a (checked; a->verified is the caller's verdict) with created_at kept from a fresh
 * advertisement of the same provider, and serves it once the store committed it. */
int manager_store_advertisement(Manager *m, Advertisement *a, ManagerWriteDone done, void *userdata);
/* Removes provider_id's advertisement: -ENOENT (for a 404) when none is live. */
int manager_remove_advertisement(Manager *m, const char *provider_id, ManagerWriteDone done, void *userdata);

/* discovery-rest.c */
extern const HttpRoute discovery_routes[];
extern const size_t discovery_n_routes;
