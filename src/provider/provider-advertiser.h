/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "curl-glue.h"
#include "macro.h"
#include "ssh-key.h"

/* Keeps this provider's advertisement on the discovery service fresh: a POST at start,
 * every interval and shortly after every change of free resources; a DELETE when the free
 * resources fall below the minimums, when advertising is switched off and on a clean stop.
 * Failures back off (1 s, 2 s, 4 s ... 60 s) and retry forever. One request at a time. */

typedef struct Advertiser Advertiser;

#define ADVERTISER_INTERVAL_DEFAULT_USEC (240ULL * 1000000ULL)
/* How long changes are gathered into one post. */
#define ADVERTISER_CHANGE_DELAY_USEC (300ULL * 1000ULL)
#define ADVERTISER_BACKOFF_MIN_USEC (1ULL * 1000000ULL)
#define ADVERTISER_BACKOFF_MAX_USEC (60ULL * 1000000ULL)
#define ADVERTISER_REQUEST_TIMEOUT_USEC (30ULL * 1000000ULL)

typedef struct AdvertiserConfig {
        const char *discovery_url;   /* e.g. http://127.0.0.1:9001; POSTs go to URL/api/v1/advertisements */
        const char *provider_id, *public_ip, *country, *platform;   /* platform may be NULL */
        uint16_t api_port;           /* the REST API's port, advertised as "api_port"; 0: not said */
        /* The provider's key, whose identity provider_id must be: every POST and DELETE is
         * signed with it (signed-request.h, audience "discovery", X-Provider-Signature).
         * NULL: a legacy id, sent unsigned. Copied. */
        const SshKey *key;
        uint64_t interval_usec;      /* 0: ADVERTISER_INTERVAL_DEFAULT_USEC */
        int64_t min_cpu, min_memory_gb, min_storage_gb;   /* below any of these nothing is advertised */
        void (*on_posted)(void *userdata); /* after each stored advertisement; may be NULL */
        void (*on_changed)(void *userdata); /* after a failed post, when turned on or off; may be NULL */
} AdvertiserConfig;

/* Asked before every post: what is free right now (from the ledger). */
typedef int (*AdvertiserGetFree)(void *userdata, int64_t *ret_cpu, int64_t *ret_memory_gb, int64_t *ret_storage_gb);

/* The strings in config are copied. curl must outlive the advertiser. -EINVAL for a config
 * that could never be accepted (no URL, a malformed provider id or platform, ...). */
int advertiser_new(sd_event *event, CurlGlue *curl, const AdvertiserConfig *config,
                   AdvertiserGetFree get_free, void *userdata, Advertiser **ret);
/* Cancels what is in flight; no callback is called afterwards. */
Advertiser *advertiser_free(Advertiser *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(Advertiser *, advertiser_free);

/* Posts at once, then every interval. */
void advertiser_start(Advertiser *a);
/* Free resources changed: post within ADVERTISER_CHANGE_DELAY_USEC; changes in between
 * coalesce into one post, a change during a request triggers another post after it. While
 * failing, the back-off delay is kept. */
void advertiser_changed(Advertiser *a);
/* New minimums (a reload): applied at the next post, which comes as after a change.
 * -EINVAL for a negative one. */
int advertiser_set_minimums(Advertiser *a, int64_t min_cpu, int64_t min_memory_gb, int64_t min_storage_gb);
/* Off: withdraw (DELETE) a standing advertisement and stop posting. On: post at once. */
void advertiser_set_enabled(Advertiser *a, bool enabled);
bool advertiser_get_enabled(const Advertiser *a);
/* CLOCK_REALTIME usec of the last successful (2xx) post, 0 if none. */
uint64_t advertiser_last_success(const Advertiser *a);
/* Since start: advertisements stored (2xx to a POST), and requests that failed (POSTs and
 * DELETEs, each retry counted). */
void advertiser_counts(const Advertiser *a, uint64_t *ret_posted, uint64_t *ret_failed);
/* Why the posts fail ("Connection refused", "HTTP status 503"), NULL while they succeed. */
const char *advertiser_last_error(const Advertiser *a);

/* Stops posting and withdraws the advertisement (DELETE URL/api/v1/advertisements/{id});
 * done is called from the event loop once it finished, failed or timed out after
 * timeout_usec. Used on a clean stop. -EBUSY when a withdrawal is already under way; on any
 * error done is not called. advertiser_free() before then cancels it without calling done. */
int advertiser_withdraw(Advertiser *a, uint64_t timeout_usec, void (*done)(void *userdata), void *userdata);
