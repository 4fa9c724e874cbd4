/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "json-util.h"
#include "log.h"
#include "provider-advertiser.h"
#include "signed-request.h"
#include "ssh-key-file.h"
#include "time-util.h"
#include "validate.h"
#include "wire.h"

#define ADVERTISEMENTS_PATH "/api/v1/advertisements"

typedef enum AdvertiserRequestKind {
        ADVERTISER_REQUEST_NONE,
        ADVERTISER_REQUEST_POST,        /* refresh the advertisement */
        ADVERTISER_REQUEST_DELETE,      /* below the minimums, or switched off */
        ADVERTISER_REQUEST_WITHDRAW,    /* advertiser_withdraw(): the final one */
} AdvertiserRequestKind;

struct Advertiser {
        sd_event *event;
        CurlGlue *curl;

        char *discovery_url, *provider_id, *public_ip, *country, *platform;
        char *post_url, *delete_url;
        uint16_t api_port;
        SshKey *key;            /* NULL: unsigned (a legacy id) */
        uint64_t interval_usec;
        int64_t min_cpu, min_memory_gb, min_storage_gb;

        AdvertiserGetFree get_free;
        void (*on_posted)(void *userdata);
        void (*on_changed)(void *userdata);
        char last_error[96];    /* "" while posts succeed */
        void *userdata;

        sd_event_source *timer;
        CurlRequest *request;
        AdvertiserRequestKind request_kind;

        bool started;
        bool enabled;
        bool change_pending;    /* resources changed while a request was in flight */
        bool standing;          /* the discovery service may hold an advertisement of ours */
        bool withdrawing;

        unsigned n_failures;
        uint64_t last_success;
        uint64_t n_posted_total, n_failed_total; /* since start */

        void (*withdraw_done)(void *userdata);
        void *withdraw_userdata;
};

static void strv_free(char **l) {
        for (char **p = l; p && *p; p++)
                free(*p);
        free(l);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);

/* A copy of a key pair, through its private key text (which is wiped after). */
static int key_copy(const SshKey *k, SshKey **ret) {
        char *text = NULL;
        int r;

        r = ssh_key_to_private_text(k, &text);
        if (r < 0)
                return r;
        r = ssh_key_from_private_text(text, strlen(text), ret);
        erase_and_free(text, strlen(text));
        return r;
}

/* The path and query of url, as curl sends them in the request line. */
static const char *url_target(const char *url) {
        const char *p = strstr(url, "://");

        p = p ? p + 3 : url;
        return p + strcspn(p, "/");
}

static int strv_push_printf(char **l, size_t *n, const char *format, ...) _printf_(3, 4);
static int strv_push_printf(char **l, size_t *n, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&l[*n], format, ap);
        va_end(ap);
        if (r < 0) {
                l[*n] = NULL;
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

/* The headers that identify this provider to the discovery service: its id and, when the id
 * is its key's identity, a signature of the request (method, target, body) by that key. */
static int advertiser_build_headers(Advertiser *a, const char *method, const char *url,
                                    const char *body, size_t body_size, char ***ret) {
        _cleanup_(signed_request_headers_done) SignedRequestHeaders h = {};
        _cleanup_(strv_freep) char **l = NULL;
        size_t n = 0;
        int r;

        l = calloc(6, sizeof(char *));
        if (!l)
                return -ENOMEM;

        if (body && strv_push_printf(l, &n, "Content-Type: application/json") < 0)
                return -ENOMEM;
        if (strv_push_printf(l, &n, "X-Provider-ID: %s", a->provider_id) < 0)
                return -ENOMEM;
        if (!a->key) {
                if (strv_push_printf(l, &n, SIGNED_REQUEST_HEADER_PROVIDER_SIGNATURE ": unsigned") < 0)
                        return -ENOMEM;
                *ret = TAKE_PTR(l);
                return 0;
        }

        r = signed_request_sign(a->key, NULL, NULL, method, url_target(url), SIGNED_REQUEST_AUDIENCE_DISCOVERY,
                                body, body_size, (int64_t) (now_realtime() / USEC_PER_SEC), &h);
        if (r < 0)
                return r;
        if (strv_push_printf(l, &n, SIGNED_REQUEST_HEADER_TIMESTAMP ": %s", h.timestamp) < 0 ||
            strv_push_printf(l, &n, SIGNED_REQUEST_HEADER_NONCE ": %s", h.nonce) < 0 ||
            strv_push_printf(l, &n, SIGNED_REQUEST_HEADER_PROVIDER_SIGNATURE ": %s", h.signature) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int advertiser_build_body(Advertiser *a, int64_t cpu, int64_t memory_gb, int64_t storage_gb, char **ret) {
        _cleanup_json_ json_object *o = NULL;
        json_object *resources;
        char *s;

        o = json_object_new_object();
        resources = resources_to_json(&(Resources) { cpu, memory_gb, storage_gb });
        if (!o || !resources ||
            json_object_object_add(o, "ip_address", json_object_new_string(a->public_ip)) < 0 ||
            json_object_object_add(o, "country", json_object_new_string(a->country)) < 0 ||
            (a->platform && json_object_object_add(o, "platform", json_object_new_string(a->platform)) < 0) ||
            json_object_object_add(o, "resources", resources) < 0) {
                json_object_put(resources);
                return -ENOMEM;
        }
        if (a->api_port > 0 && json_object_object_add(o, "api_port", json_object_new_int(a->api_port)) < 0)
                return -ENOMEM;

        s = strdup(json_to_string(o, false));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static void advertiser_schedule(Advertiser *a, uint64_t usec) {
        int r;

        r = sd_event_source_set_time_relative(a->timer, usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Failed to schedule the next advertisement, ignoring: %m");
}

/* Fires within usec: moves the timer earlier, never later. */
static void advertiser_schedule_within(Advertiser *a, uint64_t usec) {
        uint64_t next, now;
        int enabled = SD_EVENT_OFF;

        if (sd_event_source_get_enabled(a->timer, &enabled) >= 0 && enabled != SD_EVENT_OFF &&
            sd_event_source_get_time(a->timer, &next) >= 0 &&
            sd_event_now(a->event, CLOCK_BOOTTIME, &now) >= 0 &&
            next <= now + usec)
                return;

        advertiser_schedule(a, usec);
}

static uint64_t advertiser_backoff(unsigned n_failures) {
        unsigned shift = n_failures > 0 ? MIN(n_failures - 1, 16U) : 0;

        return MIN(ADVERTISER_BACKOFF_MIN_USEC << shift, ADVERTISER_BACKOFF_MAX_USEC);
}

static const char *request_kind_verb(AdvertiserRequestKind k) {
        return k == ADVERTISER_REQUEST_POST ? "advertise" : "withdraw the advertisement";
}

/* result < 0: transport or local error; otherwise the HTTP status was not a success. */
static void advertiser_failed(Advertiser *a, AdvertiserRequestKind kind, int result, long status) {
        uint64_t delay;

        a->n_failures++;
        a->n_failed_total++;
        a->change_pending = false; /* the retry reads the free resources afresh */
        delay = advertiser_backoff(a->n_failures);
        if (result < 0)
                snprintf(a->last_error, sizeof(a->last_error), "%s", strerror(ERRNO_VALUE(result)));
        else
                snprintf(a->last_error, sizeof(a->last_error), "HTTP status %ld", status);

        if (a->n_failures == 1) {
                if (result < 0)
                        log_struct_errno(LOG_WARNING, result,
                                         "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_FAILED,
                                         "GOLEM_DISCOVERY_URL=%s", a->discovery_url,
                                         "GOLEM_PROVIDER_ID=%s", a->provider_id,
                                         "MESSAGE=Failed to %s at %s: %m; retrying with back-off.",
                                         request_kind_verb(kind), a->discovery_url);
                else
                        log_struct(LOG_WARNING,
                                   "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_FAILED,
                                   "GOLEM_DISCOVERY_URL=%s", a->discovery_url,
                                   "GOLEM_PROVIDER_ID=%s", a->provider_id,
                                   "GOLEM_HTTP_STATUS=%ld", status,
                                   "MESSAGE=Failed to %s at %s: HTTP status %ld; retrying with back-off.",
                                   request_kind_verb(kind), a->discovery_url, status);
        } else if (result < 0)
                log_debug_errno(result, "Attempt %u to %s failed: %m; next in %" PRIu64 " s.",
                                a->n_failures, request_kind_verb(kind), delay / USEC_PER_SEC);
        else
                log_debug("Attempt %u to %s failed: HTTP status %ld; next in %" PRIu64 " s.",
                          a->n_failures, request_kind_verb(kind), status, delay / USEC_PER_SEC);

        advertiser_schedule(a, delay);
        if (kind == ADVERTISER_REQUEST_POST && a->on_changed)
                a->on_changed(a->userdata);
}

static void advertiser_succeeded(Advertiser *a) {
        if (a->n_failures > 0)
                log_struct(LOG_NOTICE,
                           "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_RECOVERED,
                           "GOLEM_DISCOVERY_URL=%s", a->discovery_url,
                           "GOLEM_PROVIDER_ID=%s", a->provider_id,
                           "GOLEM_FAILED_ATTEMPTS=%u", a->n_failures,
                           "MESSAGE=Discovery service %s reachable again after %u failed attempt(s).",
                           a->discovery_url, a->n_failures);
        a->n_failures = 0;
        a->last_error[0] = 0;
}

static void on_request_done(CurlRequest *req, int result, long status, const char *body, size_t body_size, void *userdata);

static int advertiser_send(Advertiser *a, AdvertiserRequestKind kind, const char *body, uint64_t timeout_usec) {
        _cleanup_(strv_freep) char **headers = NULL;
        const char *method, *url;
        int r;

        if (kind == ADVERTISER_REQUEST_POST) {
                method = "POST";
                url = a->post_url;
        } else {
                method = "DELETE";
                url = a->delete_url;
        }

        r = advertiser_build_headers(a, method, url, body, body ? strlen(body) : 0, &headers);
        if (r < 0)
                return r;

        r = curl_glue_request(a->curl, method, url, (const char *const *) headers,
                              body, body ? strlen(body) : 0, timeout_usec,
                              on_request_done, a, &a->request);
        if (r < 0)
                return r;

        a->request_kind = kind;
        log_debug("%s %s", method, url);
        return 0;
}

static void advertiser_tick(Advertiser *a) {
        _cleanup_free_ char *body = NULL;
        int64_t cpu = 0, memory_gb = 0, storage_gb = 0;
        int r;

        if (!a->started || a->withdrawing || a->request)
                return;

        if (!a->enabled) {
                if (!a->standing)
                        return;
                r = advertiser_send(a, ADVERTISER_REQUEST_DELETE, NULL, ADVERTISER_REQUEST_TIMEOUT_USEC);
                if (r < 0)
                        advertiser_failed(a, ADVERTISER_REQUEST_DELETE, r, 0);
                return;
        }

        r = a->get_free(a->userdata, &cpu, &memory_gb, &storage_gb);
        if (r < 0) {
                advertiser_failed(a, ADVERTISER_REQUEST_POST, r, 0);
                return;
        }

        /* The discovery service takes positive numbers only. */
        if (cpu < MAX(a->min_cpu, 1) || memory_gb < MAX(a->min_memory_gb, 1) || storage_gb < MAX(a->min_storage_gb, 1)) {
                log_debug("Free resources (%" PRIi64 " CPU, %" PRIi64 " GB memory, %" PRIi64 " GB storage) below the minimums, not advertising.",
                          cpu, memory_gb, storage_gb);
                if (!a->standing) {
                        advertiser_schedule(a, a->interval_usec);
                        return;
                }
                r = advertiser_send(a, ADVERTISER_REQUEST_DELETE, NULL, ADVERTISER_REQUEST_TIMEOUT_USEC);
                if (r < 0)
                        advertiser_failed(a, ADVERTISER_REQUEST_DELETE, r, 0);
                return;
        }

        r = advertiser_build_body(a, cpu, memory_gb, storage_gb, &body);
        if (r >= 0)
                r = advertiser_send(a, ADVERTISER_REQUEST_POST, body, ADVERTISER_REQUEST_TIMEOUT_USEC);
        if (r < 0)
                advertiser_failed(a, ADVERTISER_REQUEST_POST, r, 0);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        advertiser_tick(userdata);
        return 0;
}

static void on_request_done(CurlRequest *req, int result, long status, const char *body, size_t body_size, void *userdata) {
        Advertiser *a = userdata;
        AdvertiserRequestKind kind = a->request_kind;
        bool ok;

        a->request = NULL;
        a->request_kind = ADVERTISER_REQUEST_NONE;

        ok = result >= 0 &&
                ((status >= 200 && status < 300) ||
                 (kind != ADVERTISER_REQUEST_POST && status == 404)); /* nothing standing: fine too */

        if (kind == ADVERTISER_REQUEST_WITHDRAW) {
                void (*done)(void *) = a->withdraw_done;
                void *done_userdata = a->withdraw_userdata;

                if (!ok) {
                        if (result < 0)
                                log_warning_errno(result, "Failed to withdraw the advertisement from %s, it expires by itself: %m",
                                                  a->discovery_url);
                        else
                                log_warning("Failed to withdraw the advertisement from %s (HTTP status %ld), it expires by itself.",
                                            a->discovery_url, status);
                }

                a->standing = !ok;
                a->withdrawing = false;
                a->n_failures = 0;
                a->withdraw_done = NULL;
                a->withdraw_userdata = NULL;
                if (done)
                        done(done_userdata); /* may free the advertiser */
                return;
        }

        if (!ok) {
                advertiser_failed(a, kind, result, status);
                return;
        }

        if (kind == ADVERTISER_REQUEST_POST) {
                a->standing = true;
                a->n_posted_total++;
                a->last_success = now_realtime();
                a->last_error[0] = 0;
                log_debug("Advertisement stored by %s.", a->discovery_url);
                if (a->on_posted)
                        a->on_posted(a->userdata);
        } else {
                a->standing = false;
                log_debug("Advertisement withdrawn from %s.", a->discovery_url);
        }
        advertiser_succeeded(a);

        if (a->change_pending) {
                a->change_pending = false;
                advertiser_schedule(a, 0);
        } else if (a->enabled)
                advertiser_schedule(a, a->interval_usec);
        else
                (void) sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
}

static char *strip_trailing_slashes(char *s) {
        size_t n = strlen(s);

        while (n > 0 && s[n - 1] == '/')
                s[--n] = 0;
        return s;
}

int advertiser_new(sd_event *event, CurlGlue *curl, const AdvertiserConfig *config,
                   AdvertiserGetFree get_free, void *userdata, Advertiser **ret) {
        _cleanup_(advertiser_freep) Advertiser *a = NULL;
        char ip[IP_ADDRESS_MAX], country[3];
        int r;

        if (!event || !curl || !config || !get_free || !ret)
                return -EINVAL;
        if (isempty(config->discovery_url) ||
            !(startswith(config->discovery_url, "http://") || startswith(config->discovery_url, "https://")) ||
            strpbrk(config->discovery_url, "?#"))
                return -EINVAL;
        if (!config->provider_id || !provider_id_valid(config->provider_id))
                return -EINVAL;
        if (!config->public_ip || ip_address_canonicalize(config->public_ip, ip) < 0)
                return -EINVAL;
        if (!config->country || country_code_canonicalize(config->country, country) < 0)
                return -EINVAL;
        if (config->platform && !platform_valid(config->platform))
                return -EINVAL;
        if (config->min_cpu < 0 || config->min_memory_gb < 0 || config->min_storage_gb < 0)
                return -EINVAL;

        a = calloc(1, sizeof(Advertiser));
        if (!a)
                return -ENOMEM;

        a->event = sd_event_ref(event);
        a->curl = curl;
        a->get_free = get_free;
        a->on_posted = config->on_posted;
        a->on_changed = config->on_changed;
        a->userdata = userdata;
        a->enabled = true;
        a->interval_usec = config->interval_usec > 0 ? config->interval_usec : ADVERTISER_INTERVAL_DEFAULT_USEC;
        a->min_cpu = config->min_cpu;
        a->min_memory_gb = config->min_memory_gb;
        a->min_storage_gb = config->min_storage_gb;
        a->api_port = config->api_port;
        if (config->key) {
                char identity[SSH_IDENTITY_SIZE];

                ssh_key_identity(config->key, identity);
                if (!streq(identity, config->provider_id))
                        return -EINVAL;
                r = key_copy(config->key, &a->key);
                if (r < 0)
                        return r;
        }

        a->discovery_url = strdup(config->discovery_url);
        a->provider_id = strdup(config->provider_id);
        a->public_ip = strdup(ip);
        a->country = strdup(country);
        if (!a->discovery_url || !a->provider_id || !a->public_ip || !a->country)
                return -ENOMEM;
        if (config->platform && !(a->platform = strdup(config->platform)))
                return -ENOMEM;
        strip_trailing_slashes(a->discovery_url);

        /* provider_id_valid() admits nothing that needs escaping in a path. */
        if (asprintf(&a->post_url, "%s" ADVERTISEMENTS_PATH, a->discovery_url) < 0) {
                a->post_url = NULL;
                return -ENOMEM;
        }
        if (asprintf(&a->delete_url, "%s/%s", a->post_url, a->provider_id) < 0) {
                a->delete_url = NULL;
                return -ENOMEM;
        }

        /* CLOCK_BOOTTIME: after a suspend the advertisement is refreshed at once. */
        r = sd_event_add_time(event, &a->timer, CLOCK_BOOTTIME, 0,
                              USEC_PER_MSEC, on_timer, a);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(a->timer, "advertiser");

        *ret = TAKE_PTR(a);
        return 0;
}

Advertiser *advertiser_free(Advertiser *a) {
        if (!a)
                return NULL;

        curl_request_cancel(a->request);
        sd_event_source_disable_unref(a->timer);
        sd_event_unref(a->event);
        free(a->discovery_url);
        free(a->provider_id);
        free(a->public_ip);
        free(a->country);
        free(a->platform);
        free(a->post_url);
        free(a->delete_url);
        ssh_key_free(a->key);
        free(a);
        return NULL;
}

void advertiser_start(Advertiser *a) {
        if (!a || a->started || a->withdrawing)
                return;

        a->started = true;
        advertiser_schedule(a, 0);
}

void advertiser_changed(Advertiser *a) {
        if (!a || !a->started || a->withdrawing || !a->enabled)
                return;

        if (a->request) {
                a->change_pending = true;
                return;
        }

        /* While failing the back-off stands; the retry reads the new numbers anyway. */
        if (a->n_failures > 0)
                return;

        advertiser_schedule_within(a, ADVERTISER_CHANGE_DELAY_USEC);
}

void advertiser_set_enabled(Advertiser *a, bool enabled) {
        if (!a || a->enabled == enabled)
                return;

        a->enabled = enabled;
        if (a->on_changed)
                a->on_changed(a->userdata);
        if (!a->started || a->withdrawing)
                return;

        if (a->request) {
                if (enabled || a->request_kind != ADVERTISER_REQUEST_POST) {
                        /* Decide again once the request in flight is answered. */
                        a->change_pending = true;
                        return;
                }

                /* A post in flight may or may not have been stored: withdraw either way. */
                curl_request_cancel(a->request);
                a->request = NULL;
                a->request_kind = ADVERTISER_REQUEST_NONE;
                a->standing = true;
        }

        advertiser_schedule(a, 0);
}

int advertiser_set_minimums(Advertiser *a, int64_t min_cpu, int64_t min_memory_gb, int64_t min_storage_gb) {
        if (min_cpu < 0 || min_memory_gb < 0 || min_storage_gb < 0)
                return -EINVAL;
        a->min_cpu = min_cpu;
        a->min_memory_gb = min_memory_gb;
        a->min_storage_gb = min_storage_gb;
        advertiser_changed(a);
        return 0;
}

bool advertiser_get_enabled(const Advertiser *a) {
        return a && a->enabled;
}

uint64_t advertiser_last_success(const Advertiser *a) {
        return a ? a->last_success : 0;
}

void advertiser_counts(const Advertiser *a, uint64_t *ret_posted, uint64_t *ret_failed) {
        *ret_posted = a ? a->n_posted_total : 0;
        *ret_failed = a ? a->n_failed_total : 0;
}

const char *advertiser_last_error(const Advertiser *a) {
        return a && a->last_error[0] ? a->last_error : NULL;
}

int advertiser_withdraw(Advertiser *a, uint64_t timeout_usec, void (*done)(void *userdata), void *userdata) {
        int r;

        if (!a || !done)
                return -EINVAL;
        if (a->withdrawing)
                return -EBUSY;

        curl_request_cancel(a->request);
        a->request = NULL;
        a->request_kind = ADVERTISER_REQUEST_NONE;
        (void) sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
        a->started = false;
        a->change_pending = false;

        r = advertiser_send(a, ADVERTISER_REQUEST_WITHDRAW, NULL,
                            timeout_usec > 0 ? timeout_usec : ADVERTISER_REQUEST_TIMEOUT_USEC);
        if (r < 0)
                return r;

        a->withdrawing = true;
        a->withdraw_done = done;
        a->withdraw_userdata = userdata;
        return 0;
}
