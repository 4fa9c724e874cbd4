/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>
#include <time.h>

#include "daemon-util.h"
#include "discovery-manager.h"
#include "log.h"
#include "signed-request.h"

#define DISCOVERY_BODY_MAX (64 * 1024)
/* Each nonce is held 2 × 300 s. The cache starts small and doubles as signed upserts come,
 * up to 4,200 a second sustained (the network's providers each re-advertising every
 * 240 s and on every change): 2,520,000 nonces, 90 MiB at full (24 bytes each of ring, and
 * a table of 2^23 4-byte slots); while the last doubling copies them the old arrays are held
 * too (64 MiB more allocated; 117 MiB resident at the peak, measured). That doubling stops
 * the loop once for about 0.4 s (measured on a loaded 2-CPU machine). Beyond that rate a
 * signed request is refused with 503 until nonces leave. */
#define DISCOVERY_NONCES_MAX (4200 * 2 * SIGNED_REQUEST_WINDOW_SEC)

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
        http_server_free(m->http);
        sd_event_source_disable_unref(m->sweep_timer);
        discovery_store_closep(&m->store);
        discovery_metrics_free(m->discovery_metrics);
        metrics_free(m->metrics);
        nonce_cache_free(m->nonces);
        sd_event_unref(m->event);
        discovery_settings_done(&m->settings);
        free(m);
        return NULL;
}

usec_t manager_fresh_after(const Manager *m) {
        usec_t now = now_realtime(), ttl = m->settings.advertisement_ttl_sec * USEC_PER_SEC;

        return now > ttl ? now - ttl : 0;
}

int manager_count_live(Manager *m, uint64_t *ret_verified, uint64_t *ret_unverified) {
        return m->store->ops->count_verified(m->store, manager_fresh_after(m), ret_verified, ret_unverified);
}

/* STATUS=: the live advertisements, counted at start and at each sweep (the board's size moves
 * slowly; counting on every write would cost a scan each). */
static void update_status(Manager *m) {
        char status[128], when[32] = "";
        time_t t = time(NULL);
        uint64_t n;
        struct tm tm;

        if (m->store->ops->count(m->store, manager_fresh_after(m), &n) < 0)
                return;
        if (gmtime_r(&t, &tm))
                (void) strftime(when, sizeof(when), "%H:%M:%S UTC", &tm);
        snprintf(status, sizeof(status), "%" PRIu64 " live advertisement%s (at %s).", n, n == 1 ? "" : "s", when);
        daemon_notify_status(status);
}

static int on_sweep(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t n = 0;
        int r;

        r = m->store->ops->expire(m->store, manager_fresh_after(m), &n);
        if (r < 0)
                log_warning_errno(r, "Failed to expire advertisements, ignoring: %m");
        else if (n > 0)
                log_struct(LOG_INFO,
                           "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_EXPIRED,
                           "GOLEM_EXPIRED=%" PRIu64, n,
                           "MESSAGE=Expired %" PRIu64 " advertisement(s).", n);

        update_status(m);
        (void) sd_event_source_set_time_relative(s, m->settings.cleanup_interval_sec * USEC_PER_SEC);
        return 0;
}

static int open_store(Manager *m) {
        int r;

        if (mkdir(m->settings.database_dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", m->settings.database_dir);

        r = discovery_store_sqlite_ops.open(m->settings.database_path, &m->store);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "Database %s was written by a newer golem-discoveryd.", m->settings.database_path);
        if (r < 0)
                return log_error_errno(r, "Failed to open database %s: %m", m->settings.database_path);
        return 0;
}

/* Metrics=yes: the registry GET /metrics serves, and the store timed and counted. */
static int setup_metrics(Manager *m) {
        DiscoveryStore *timed;
        int r;

        if (!m->settings.metrics)
                return 0;
        r = metrics_new(&m->metrics);
        if (r >= 0)
                r = discovery_metrics_new(m->metrics, m, &m->discovery_metrics);
        if (r >= 0)
                r = discovery_metrics_wrap_store(m->discovery_metrics, m->store, &timed);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the metrics: %m");
        m->store = timed;
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
        r = open_listeners(m);
        if (r < 0)
                return r;

        r = sd_event_add_time_relative(m->event, &m->sweep_timer, CLOCK_MONOTONIC,
                                       m->settings.cleanup_interval_sec * USEC_PER_SEC, USEC_PER_SEC, on_sweep, m);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the expiry timer: %m");
        (void) sd_event_source_set_enabled(m->sweep_timer, SD_EVENT_ON);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_SERVICE_STARTED,
                   "MESSAGE=golem-discoveryd ready, database %s, advertisements expire after %" PRIu64 " s.",
                   m->settings.database_path, m->settings.advertisement_ttl_sec);
        daemon_notify_ready("Serving advertisements.");
        update_status(m);

        r = sd_event_loop(m->event);
        http_server_shutdown(m->http);
        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_SERVICE_STOPPED,
                   "MESSAGE=golem-discoveryd stopped.");
        return r;
}
