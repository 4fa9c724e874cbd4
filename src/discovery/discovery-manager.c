/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>
#include <time.h>

#include "daemon-util.h"
#include "discovery-database-url.h"
#include "discovery-manager.h"
#include "json-util.h"
#include "log.h"
#include "signed-request.h"

#define DISCOVERY_BODY_MAX (64 * 1024)
/* Each nonce is held 2 × 300 s. The cache starts small and doubles as signed upserts come,
 * up to 4,200 a second sustained (the network's providers each re-advertising every
 * 240 s and on every change): 2,520,000 nonces, 90 MiB at full (24 bytes each of ring, and
 * a table of 2^23 4-byte slots); while the last doubling moves them over (a few per add) the
 * old table is held too (16 MiB more). No add stops the loop for long: the worst took 1.7 ms
 * of CPU time filling it (bench-nonce-cache; 110 ms when the doubling copied everything at
 * once). Beyond that rate a signed request is refused with 503 until nonces leave. */
#define DISCOVERY_NONCES_MAX (4200 * 2 * SIGNED_REQUEST_WINDOW_SEC)

/* The index drops stale advertisements every second, at most this many per loop iteration
 * (a few ms of work; more wait for the next iteration, after the requests that came). */
#define INDEX_EXPIRE_INTERVAL_USEC USEC_PER_SEC
#define INDEX_EXPIRE_STEP 500
/* The store deletes expired rows at most this many per transaction. */
#define STORE_EXPIRE_CHUNK 1000

int manager_new(DiscoverySettings *settings, Manager **ret) {
        Manager *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->settings = *settings;
        *settings = (DiscoverySettings) {};

        r = nonce_cache_new(DISCOVERY_NONCES_MAX, SIGNED_REQUEST_WINDOW_SEC, &m->nonces);
        if (r >= 0)
                r = discovery_index_new(&m->index);
        if (r >= 0)
                r = daemon_setup_event(&m->event, NULL, NULL);
        if (r < 0) {
                manager_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* The store first: writes it still holds complete into the index. */
        if (m->store)
                m->store->ops->close(m->store);
        http_server_free(m->http);
        sd_event_source_disable_unref(m->sweep_timer);
        sd_event_source_disable_unref(m->expire_timer);
        discovery_index_free(m->index);
        discovery_metrics_free(m->discovery_metrics);
        metrics_free(m->metrics);
        nonce_cache_free(m->nonces);
        sd_event_unref(m->event);
        discovery_settings_done(&m->settings);
        free(m->store_location);
        free(m);
        return NULL;
}

usec_t manager_fresh_after(const Manager *m) {
        usec_t now = now_realtime(), ttl = m->settings.advertisement_ttl_sec * USEC_PER_SEC;

        return now > ttl ? now - ttl : 0;
}

/* STATUS=: the live advertisements, from the index's counter, at start and at each sweep. */
static void update_status(Manager *m) {
        char status[128], when[32] = "";
        time_t t = time(NULL);
        uint64_t n = discovery_index_count(m->index);
        struct tm tm;

        if (gmtime_r(&t, &tm))
                (void) strftime(when, sizeof(when), "%H:%M:%S UTC", &tm);
        snprintf(status, sizeof(status), "%" PRIu64 " live advertisement%s (at %s).", n, n == 1 ? "" : "s", when);
        daemon_notify_status(status);
}

/* ---- writes: durable in the store first, then served from the index ---- */

typedef struct Write {
        Manager *m;
        Advertisement a;   /* OP upsert: without its JSON (in document) */
        char *document;
        size_t document_size;
        bool remove;
        usec_t queued; /* CLOCK_MONOTONIC */
        ManagerWriteDone done;
        void *userdata;
} Write;

static StoredAdvertisement write_stored(const Write *w) {
        return (StoredAdvertisement) {
                .provider_id = w->a.provider_id,
                .ip_address = w->a.ip_address,
                .country = w->a.country,
                .platform = w->a.platform[0] ? w->a.platform : NULL,
                .cpu = w->a.resources.cpu,
                .memory = w->a.resources.memory,
                .storage = w->a.resources.storage,
                .verified = w->a.verified,
                .created_at = w->a.created_at,
                .updated_at = w->a.updated_at,
                .document = w->document,
                .document_size = w->document_size,
        };
}

static void on_write_done(int error, void *userdata) {
        Write *w = userdata;
        Manager *m = w->m;
        int r = error;

        discovery_metrics_store_call(m->discovery_metrics, w->remove ? STORE_CALL_REMOVE : STORE_CALL_UPSERT,
                                     w->queued, error);
        if (r >= 0 && w->remove) {
                (void) discovery_index_remove(m->index, w->a.provider_id);
                discovery_metrics_deleted(m->discovery_metrics);
        } else if (r >= 0) {
                StoredAdvertisement a = write_stored(w);

                r = discovery_index_put(m->index, &a);
                if (r < 0)
                        log_error_errno(r, "Failed to serve the advertisement of %s stored: %m", w->a.provider_id);
                else
                        discovery_metrics_upserted(m->discovery_metrics, w->a.verified);
        }
        w->done(r, w->document, w->document_size, w->userdata);
        free(w->document);
        free(w);
}

/* updated_at of a write: the clock, but never before the last write's (a clock set back
 * would otherwise make the index take a new write for an older one). */
static usec_t write_time(Manager *m) {
        m->last_write = MAX(now_realtime(), m->last_write);
        return m->last_write;
}

int manager_store_advertisement(Manager *m, Advertisement *a, ManagerWriteDone done, void *userdata) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ Write *w = NULL;
        StoredAdvertisement st;
        const char *d;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;

        a->updated_at = write_time(m);
        if (discovery_index_created_at(m->index, a->provider_id, manager_fresh_after(m), &a->created_at) < 0)
                a->created_at = a->updated_at;

        /* Rendered once, here: stored and served as it is. */
        r = advertisement_to_json(a, &o);
        if (r < 0)
                return r;
        d = json_to_string(o, false);
        if (!d)
                return -ENOMEM;
        w->document_size = strlen(d);
        w->document = strndup(d, w->document_size);
        if (!w->document)
                return -ENOMEM;

        *w = (Write) {
                .m = m,
                .a = *a,
                .document = w->document,
                .document_size = w->document_size,
                .queued = now_monotonic(),
                .done = done,
                .userdata = userdata,
        };
        w->a.resources_json = w->a.pricing = NULL; /* a's, not ours: in the document */

        st = write_stored(w);
        r = m->store->ops->upsert(m->store, &st, on_write_done, w);
        if (r < 0) {
                free(w->document);
                return r;
        }
        TAKE_PTR(w);
        return 0;
}

int manager_remove_advertisement(Manager *m, const char *provider_id, ManagerWriteDone done, void *userdata) {
        _cleanup_free_ Write *w = NULL;
        const char *d;
        size_t size;
        int r;

        /* The index decides: only a live advertisement is removed. */
        r = discovery_index_get(m->index, provider_id, manager_fresh_after(m), &d, &size);
        if (r < 0)
                return r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (Write) {
                .m = m,
                .remove = true,
                .queued = now_monotonic(),
                .done = done,
                .userdata = userdata,
        };
        snprintf(w->a.provider_id, sizeof(w->a.provider_id), "%s", provider_id);

        r = m->store->ops->remove(m->store, w->a.provider_id, write_time(m), on_write_done, w);
        if (r < 0)
                return r;
        TAKE_PTR(w);
        return 0;
}

/* ---- expiry ---- */

/* The index: every second, at most INDEX_EXPIRE_STEP at a time; while more are stale, again
 * at the next loop iteration. */
static int on_expire_index(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        usec_t fresh_after = manager_fresh_after(m);

        size_t n = discovery_index_expire(m->index, fresh_after, INDEX_EXPIRE_STEP);

        m->expired += n;
        discovery_metrics_expired(m->discovery_metrics, n);
        (void) sd_event_source_set_time_relative(s, discovery_index_has_stale(m->index, fresh_after) ? 0 : INDEX_EXPIRE_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void store_expire_next(Manager *m);

static void on_store_expired(int error, void *userdata) {
        Manager *m = userdata;

        discovery_metrics_store_call(m->discovery_metrics, STORE_CALL_EXPIRE, m->store_expire_queued, error);
        if (error < 0) {
                log_warning_errno(error, "Failed to expire advertisements in the store, ignoring: %m");
                m->store_sweeping = false;
                return;
        }
        if (m->store_expired >= STORE_EXPIRE_CHUNK)
                store_expire_next(m); /* another chunk, in the next transaction */
        else
                m->store_sweeping = false;
}

static void store_expire_next(Manager *m) {
        int r;

        m->store_expire_queued = now_monotonic();
        r = m->store->ops->expire(m->store, manager_fresh_after(m), STORE_EXPIRE_CHUNK, &m->store_expired,
                                  on_store_expired, m);
        if (r < 0) {
                log_warning_errno(r, "Failed to expire advertisements in the store, ignoring: %m");
                m->store_sweeping = false;
        }
}

/* The store, in chunks of STORE_EXPIRE_CHUNK rows; what the index expired since the last
 * sweep goes to the journal, and the live count to STATUS=. */
static int on_sweep(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        /* (Not while a shared store is unreachable: said once already, when it went.) */
        if (!m->store_sweeping && !m->store_unreachable) {
                m->store_sweeping = true;
                store_expire_next(m);
        }

        if (m->expired > 0)
                log_struct(LOG_INFO,
                           "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_EXPIRED,
                           "GOLEM_EXPIRED=%" PRIu64, m->expired,
                           "MESSAGE=Expired %" PRIu64 " advertisement(s).", m->expired);
        m->expired = 0;

        update_status(m);
        (void) sd_event_source_set_time_relative(s, m->settings.cleanup_interval_sec * USEC_PER_SEC);
        return 0;
}

/* ---- a shared store: the other instances' writes, and whether it is reachable ---- */

static int on_followed_upsert(const StoredAdvertisement *a, void *userdata) {
        Manager *m = userdata;
        int r;

        /* Older than what is held: ignored by the index. */
        r = discovery_index_put(m->index, a);
        if (r < 0)
                log_debug_errno(r, "Failed to serve the advertisement of %s written by another instance, ignoring: %m",
                                a->provider_id);
        return 0;
}

static void on_followed_remove(const char *provider_id, usec_t removed_at, void *userdata) {
        Manager *m = userdata;

        (void) discovery_index_remove_before(m->index, provider_id, removed_at);
}

static void on_store_health(bool healthy, const char *reason, void *userdata) {
        Manager *m = userdata;

        if (m->store_unreachable == !healthy)
                return;
        m->store_unreachable = !healthy;
        discovery_metrics_store_reachable(m->discovery_metrics, healthy);
        if (healthy)
                log_info("Advertisement store %s reachable again: %s.", m->store_location, reason);
        else if (!m->sweep_timer) /* not serving yet: loading waits for it */
                log_warning("Advertisement store %s unreachable, waiting for it: %s.", m->store_location, reason);
        else
                log_warning("Advertisement store %s unreachable, answering writes and /health with 503 until it is back: %s.",
                            m->store_location, reason);
        daemon_notify_status(healthy ? "Serving advertisements." : "Degraded: the advertisement store is unreachable.");
}

bool manager_store_reachable(const Manager *m) {
        return !m->store_unreachable;
}

static int open_store_postgresql(Manager *m) {
        const DiscoveryStoreFollower follower = {
                .upserted = on_followed_upsert,
                .removed = on_followed_remove,
                .health = on_store_health,
                .userdata = m,
        };
        int r;

        /* Never the password in a message. */
        r = database_url_redact(m->settings.database_url, &m->store_location);
        if (r < 0)
                return log_error_errno(r, "Failed to parse DatabaseURL=: %m");

        /* Connects on the loop, from here on; load() waits for it. */
        r = discovery_store_postgresql_ops.open(m->event, m->settings.database_url, &m->store);
        if (r < 0)
                return log_error_errno(r, "Failed to open database %s: %m", m->store_location);
        r = m->store->ops->follow(m->store, &follower);
        if (r < 0)
                return log_error_errno(r, "Failed to follow database %s: %m", m->store_location);
        return 0;
}

static int open_store(Manager *m) {
        int r;

        if (m->settings.database_url)
                return open_store_postgresql(m);

        m->store_location = strdup(m->settings.database_path);
        if (!m->store_location)
                return log_oom();

        if (mkdir(m->settings.database_dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", m->settings.database_dir);

        r = discovery_store_sqlite_ops.open(m->event, m->settings.database_path, &m->store);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "Database %s was written by a newer golem-discoveryd.", m->settings.database_path);
        if (r < 0)
                return log_error_errno(r, "Failed to open database %s: %m", m->settings.database_path);
        return 0;
}

/* Metrics=yes: the registry GET /metrics serves. */
static int setup_metrics(Manager *m) {
        int r;

        if (!m->settings.metrics)
                return 0;
        r = metrics_new(&m->metrics);
        if (r >= 0)
                r = discovery_metrics_new(m->metrics, m->index, &m->discovery_metrics);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the metrics: %m");
        return 0;
}

static int open_listeners(Manager *m) {
        static const char *const names[] = { "http", NULL };
        int r;

        r = http_server_listen(m->http, names, m->settings.host, m->settings.port);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s port %u: %m", m->settings.host, m->settings.port);
        if (r > 0)
                log_debug("Serving %d socket(s) passed by the service manager.", r);
        else
                log_debug("Listening on %s port %u.", m->settings.host, m->settings.port);
        return 0;
}

/* Serving starts here, once the index holds what the store held. */
static int start_serving(Manager *m) {
        int r;

        r = open_listeners(m);
        if (r < 0)
                return r;

        r = sd_event_add_time_relative(m->event, &m->sweep_timer, CLOCK_MONOTONIC,
                                       m->settings.cleanup_interval_sec * USEC_PER_SEC, USEC_PER_SEC, on_sweep, m);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the expiry timer: %m");
        (void) sd_event_source_set_enabled(m->sweep_timer, SD_EVENT_ON);

        r = sd_event_add_time_relative(m->event, &m->expire_timer, CLOCK_MONOTONIC,
                                       INDEX_EXPIRE_INTERVAL_USEC, 10 * USEC_PER_MSEC, on_expire_index, m);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the expiry timer: %m");

        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_SERVICE_STARTED,
                   "MESSAGE=golem-discoveryd ready, database %s, %" PRIu64 " live advertisement(s), advertisements expire after %" PRIu64 " s.",
                   m->store_location, discovery_index_count(m->index), m->settings.advertisement_ttl_sec);
        daemon_notify_ready("Serving advertisements.");
        update_status(m);
        return 0;
}

static int on_load_row(const StoredAdvertisement *a, void *userdata) {
        Manager *m = userdata;
        int r;

        r = discovery_index_put(m->index, a);
        if (r == -EINVAL) {
                log_warning("Stored advertisement of %s has an invalid country, ignoring it.", a->provider_id);
                return 0;
        }
        return r;
}

static void on_loaded(int error, void *userdata) {
        Manager *m = userdata;
        int r = error;

        discovery_metrics_store_call(m->discovery_metrics, STORE_CALL_LOAD, m->load_queued, error);
        if (r == -ECANCELED)
                return; /* stopped before it was loaded */
        if (r == -EPROTONOSUPPORT)
                log_error_errno(r, "Database %s was written by a newer golem-discoveryd.", m->store_location);
        else if (r < 0)
                log_error_errno(r, "Failed to load the advertisements from %s: %m", m->store_location);
        else
                r = start_serving(m);
        if (r < 0)
                (void) sd_event_exit(m->event, r);
}

int manager_start(Manager *m) {
        HttpServerConfig config = {
                .routes = discovery_routes,
                .n_routes = discovery_n_routes,
                .userdata = m,
                .body_max = DISCOVERY_BODY_MAX,
                .rate_per_minute = m->settings.rate_limit_per_minute,
                .rate_limit_code = "RATE_001",
        };
        int r;

        r = open_store(m);
        if (r < 0)
                return r;
        r = setup_metrics(m);
        if (r < 0)
                return r;
        config.metrics = m->metrics;

        r = http_server_new(m->event, &config, &m->http);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the HTTP server: %m");

        m->load_queued = now_monotonic();
        r = m->store->ops->load(m->store, manager_fresh_after(m), on_load_row, on_loaded, m);
        if (r < 0)
                return log_error_errno(r, "Failed to load the advertisements from %s: %m", m->store_location);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_loop(m->event);
        http_server_shutdown(m->http);
        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_SERVICE_STOPPED,
                   "MESSAGE=golem-discoveryd stopped.");
        return r;
}
