/* SPDX-License-Identifier: MIT */
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "curl-glue.h"
#include "daemon-util.h"
#include "http-server.h"
#include "log.h"
#include "provider-advertiser.h"
#include "provider-bus.h"
#include "provider-daemon.h"
#include "provider-manager.h"
#include "provider-metrics.h"
#include "provider-reconcile.h"
#include "provider-rest.h"
#include "provider-vm-network.h"
#include "provider-vm.h"

#define WITHDRAW_TIMEOUT_USEC (3 * USEC_PER_SEC)

struct ProviderDaemon {
        sd_event *event;
        ProviderSettings settings;
        const char *config_path;
        char *reload_error;
        bool bus_activated;      /* started by D-Bus activation: the bus is required */

        sd_bus *bus;             /* the system bus: our name, and systemd for the runner */
        Runner *runner;
        Manager *manager;
        Reconciler *reconciler;
        HttpServer *http;
        ProviderRest *rest;
        ProviderBus *bus_api;
        CurlGlue *curl;
        Advertiser *advertiser;
        Metrics *metrics;              /* NULL: Metrics=no */
        ProviderMetrics *provider_metrics;
        sd_bus_slot *vm_network_watch; /* failed jobs of the VMs' network filter */
        const char *not_advertising;  /* why there is no advertiser, or NULL */
        char *status;                 /* the last STATUS= sent */
        int store_error;              /* the state store's, as its watch last told */
};

/* ---- how children run ---- */

/* Under systemd, with its manager reachable on the system bus, hypervisor commands, VMs and
 * SSH forwarders become transient units (they outlive our restarts); otherwise they are our
 * own children. Whether we may own our D-Bus name has nothing to do with it. */
static bool systemd_reachable(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has = 0, r;

        if (!bus || sd_booted() <= 0)
                return false;
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &e, &reply, "s", "org.freedesktop.systemd1");
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &has);
        return r >= 0 && has;
}

static int setup_runner(ProviderDaemon *d) {
        int r;

        r = runner_new(d->event, &d->runner);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the command runner: %m");
        if (streq_ptr(getenv("GOLEM_PROVIDER_RUNNER"), "direct") || !systemd_reachable(d->bus))
                return 0;
        r = runner_use_units(d->runner, d->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to follow systemd jobs: %m");
        if (r > 0)
                log_debug("Running hypervisor commands, VMs and SSH forwarders as transient units.");
        return 0;
}

/* ---- tenant isolation ---- */

/* The VMs' network filter, for the driver in use: loaded at start when it changed, and again
 * on every reload. Under systemd only: without it VMs run as our children, with no group to
 * filter on, no slice and no limits, which is said once at start. Stopping the provider
 * leaves the filter in place: the VMs outlive us. */
static void setup_vm_network(ProviderDaemon *d, const char *driver, bool at_start) {
        _cleanup_free_ char *nameservers = NULL;
        sd_bus *bus = runner_units_bus(d->runner);
        bool qemu = streq_ptr(driver, "qemu");
        FILE *f;
        int r;

        if (!driver)
                return;
        if (!bus) {
                if (at_start)
                        log_struct(LOG_WARNING,
                                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_ISOLATION_OFF,
                                   "MESSAGE=VMs do not run as systemd units: they get no network filter, slice or "
                                   "resource limits (see golem-providerd(8)).");
                return;
        }
        if (qemu && !getgrnam(VM_NETWORK_GROUP))
                log_error("The group %s does not exist (systemd-sysusers makes it from golem.conf): VMs cannot "
                          "start until it does.", VM_NETWORK_GROUP);

        /* What a guest's DNS is forwarded to: the host's own nameservers. */
        f = fopen("/etc/resolv.conf", "re");
        if (f) {
                r = resolv_conf_nameservers(f, &nameservers);
                fclose(f);
                if (r < 0)
                        log_warning_errno(r, "Cannot read the nameservers of /etc/resolv.conf, VMs get no DNS: %m");
        }

        (void) mkdir("/run/golem-provider", 0700);
        r = vm_network_install(bus, VM_NETWORK_RULES_PATH, &(VMNetworkParams) {
                        .group = qemu ? VM_NETWORK_GROUP : NULL,
                        .denied = d->settings.vm_denied_networks,
                        .allowed = d->settings.vm_allowed_networks,
                        .nameservers = nameservers,
                        .bridge = streq(driver, "multipass") ? VM_NETWORK_MULTIPASS_BRIDGE : NULL,
                }, /* force= */ !at_start, &d->vm_network_watch);
        if (r < 0)
                log_struct_errno(LOG_ERR, r,
                                 "MESSAGE_ID=" GOLEM_MESSAGE_VM_NETWORK_FAILED,
                                 "MESSAGE=Failed to install the VMs' network filter %s: %m", VM_NETWORK_RULES_PATH);
}

static int connect_bus(ProviderDaemon *d) {
        int r;

        r = sd_bus_default_system(&d->bus);
        if (r < 0) {
                if (d->bus_activated)
                        return log_error_errno(r, "Failed to connect to the system bus: %m");
                log_notice_errno(r, "No system bus (%m): the D-Bus API is off.");
                return 0;
        }
        r = sd_bus_attach_event(d->bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        return 0;
}

/* ---- the front ends ---- */

/* Metrics=yes: the registry GET /metrics serves, and the driver wrapped to count its failures. */
static int setup_metrics(ProviderDaemon *d, Driver **driver) {
        Driver *counted;
        int r;

        if (!d->settings.metrics)
                return 0;
        r = metrics_new(&d->metrics);
        if (r >= 0)
                r = provider_metrics_new(d->metrics, &d->provider_metrics);
        if (r >= 0 && *driver) {
                r = provider_metrics_wrap_driver(d->provider_metrics, *driver, &counted);
                if (r >= 0)
                        *driver = counted;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to set up the metrics: %m");
        return 0;
}

static int on_reload(void *userdata, const char **ret_error) {
        return provider_daemon_reload(userdata, ret_error);
}

static int setup_bus_api(ProviderDaemon *d) {
        int r;

        if (!d->bus)
                return 0;
        r = provider_bus_new(d->bus, &(ProviderBusConfig) {
                        .manager = d->manager,
                        .settings = &d->settings,
                        .advertiser = d->advertiser,
                        .reload = on_reload,
                        .userdata = d,
                }, &d->bus_api);
        if (r >= 0) {
                log_debug("Serving %s on the system bus.", GOLEM_BUS_NAME);
                return 0;
        }
        /* Usually the bus policy is not installed (dbus reads /usr/share/dbus-1/system.d and
         * /etc/dbus-1/system.d only). The REST API works all the same, and so do units. */
        if (d->bus_activated || !IN_SET(r, -EACCES, -EPERM))
                return log_error_errno(r, "Failed to serve %s on the system bus: %m", GOLEM_BUS_NAME);
        log_warning_errno(r, "Cannot take the name %s on the system bus (%m); the D-Bus API is off. "
                          "Is dbus/org.golem.Provider1.conf installed where dbus-daemon reads it?", GOLEM_BUS_NAME);
        return 0;
}

static int setup_rest(ProviderDaemon *d) {
        static const char *const names[] = { "rest", "http", NULL };
        HttpServerConfig http;
        int r;

        r = provider_rest_new(d->event, d->manager, &d->settings, &d->rest);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the REST API: %m");
        provider_rest_server_config(d->rest, &http);
        http.metrics = d->metrics;
        r = http_server_new(d->event, &http, &d->http);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the HTTP server: %m");
        r = http_server_listen(d->http, names, d->settings.host, d->settings.port);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s port %u: %m", d->settings.host, d->settings.port);
        return 0;
}

/* ---- STATUS=: what systemctl status shows ---- */

typedef struct StatusText {
        char text[512];
        size_t n;
} StatusText;

static void status_append(StatusText *s, const char *format, ...) _printf_(2, 3);
static void status_append(StatusText *s, const char *format, ...) {
        va_list ap;
        int k;

        va_start(ap, format);
        k = vsnprintf(s->text + s->n, sizeof(s->text) - s->n, format, ap);
        va_end(ap);
        if (k > 0)
                s->n = MIN(s->n + (size_t) k, sizeof(s->text) - 1);
}

/* Sends text unless it is what systemd has already. */
static void notify_status(ProviderDaemon *d, const char *text) {
        if (streq_ptr(d->status, text))
                return;
        if (free_and_strdup(&d->status, text) < 0)
                return;
        daemon_notify_status(text);
}

/* "2 VMs running, 1 creating; advertised to http://d:9001 at 14:03:07 UTC", or the state store's
 * failure, which matters most. Sent on each change of the VMs, the advertiser or the store. */
static void update_status(ProviderDaemon *d) {
        static const char *const words[_VM_STATE_MAX] = {
                [VM_CREATING] = "creating", [VM_RUNNING] = "running", [VM_STOPPING] = "stopping",
                [VM_STOPPED] = "stopped", [VM_STARTING] = "starting", [VM_DELETING] = "deleting",
                [VM_ERROR] = "in error",
        };
        static const VMState order[] = { VM_RUNNING, VM_CREATING, VM_STARTING, VM_STOPPING, VM_STOPPED,
                                         VM_DELETING, VM_ERROR };
        unsigned count[_VM_STATE_MAX] = {};
        const char *error, *url = d->settings.discovery_url;
        StatusText s = {};
        uint64_t last;
        int store;

        if (!d->manager)
                return;
        store = d->store_error;
        if (store < 0) {
                status_append(&s, "The state store is failing (%s): changes to VMs are refused.",
                              store == -EDQUOT ? "its disk is full" : strerror(ERRNO_VALUE(store)));
                notify_status(d, s.text);
                return;
        }

        LIST_FOREACH(vms, vm, manager_vms(d->manager))
                if (vm->record.state >= 0 && vm->record.state < _VM_STATE_MAX)
                        count[vm->record.state]++;
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (count[order[i]] > 0 || (i == 0 && manager_n_vms(d->manager) == 0))
                        status_append(&s, "%s%u %s%s", s.n ? ", " : "", count[order[i]],
                                      s.n ? "" : count[order[i]] == 1 ? "VM " : "VMs ", words[order[i]]);

        if (!d->advertiser)
                status_append(&s, "; not advertising: %s", d->not_advertising);
        else if (!advertiser_get_enabled(d->advertiser))
                status_append(&s, "; advertising off (golemctl provider advertise on)");
        else if ((error = advertiser_last_error(d->advertiser)))
                status_append(&s, "; advertising to %s fails: %s", url, error);
        else if ((last = advertiser_last_success(d->advertiser)) > 0) {
                time_t t = (time_t) (last / USEC_PER_SEC);
                char when[32] = "";
                struct tm tm;

                if (gmtime_r(&t, &tm))
                        (void) strftime(when, sizeof(when), "%H:%M:%S UTC", &tm);
                status_append(&s, "; advertised to %s at %s", url, when);
        } else
                status_append(&s, "; advertising to %s", url);
        notify_status(d, s.text);
}

static void on_advertisement_posted(void *userdata) {
        ProviderDaemon *d = userdata;

        provider_bus_advertisement_posted(d->bus_api);
        update_status(d);
}

static void on_advertisement_changed(void *userdata) {
        ProviderDaemon *d = userdata;

        provider_bus_advertisement_changed(d->bus_api);
        update_status(d);
}

static int get_free(void *userdata, int64_t *ret_cpu, int64_t *ret_memory, int64_t *ret_storage) {
        ProviderDaemon *d = userdata;
        Resources a = manager_can_offer(d->manager) ? manager_available(d->manager) : (Resources) {};

        *ret_cpu = a.cpu;
        *ret_memory = a.memory;
        *ret_storage = a.storage;
        return 0;
}

/* Any change of a VM may change what is free: the advertiser gathers them into one post. */
static void on_vm_event(Manager *m, VM *vm, VMEvent event, void *userdata) {
        ProviderDaemon *d = userdata;

        advertiser_changed(d->advertiser);
        update_status(d);
}

static int setup_advertiser(ProviderDaemon *d) {
        const ProviderSettings *s = &d->settings;
        int r;

        if (!s->discovery_url) {
                d->not_advertising = "no DiscoveryURL=";
                log_info("No discovery URL configured: not advertising.");
                return 0;
        }
        if (!s->public_ip) {
                d->not_advertising = "no PublicIP= (requestors could not reach us)";
                log_warning("No public IP configured (PUBLIC_IP): not advertising, since requestors could not reach us.");
                return 0;
        }
        if (!s->country) {
                /* No default: a provider anywhere would otherwise claim one country, and
                 * requestors filter on it. */
                d->not_advertising = "no Country= (where this machine is, e.g. Country=DE)";
                log_warning("No country configured (Country= in provider.conf, or GOLEM_PROVIDER_COUNTRY): "
                            "not advertising, since requestors choose providers by country.");
                return 0;
        }
        d->not_advertising = NULL;

        r = curl_glue_new(d->event, &d->curl);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the HTTP client: %m");

        r = advertiser_new(d->event, d->curl, &(AdvertiserConfig) {
                        .discovery_url = s->discovery_url,
                        .provider_id = manager_provider_id(d->manager),
                        .public_ip = s->public_ip,
                        .country = s->country,
                        .platform = manager_platform(d->manager),
                        .api_port = s->port,
                        .key = manager_provider_id_verifiable(d->manager) ? manager_provider_key(d->manager) : NULL,
                        .interval_usec = s->advertisement_interval_sec * USEC_PER_SEC,
                        .min_cpu = s->min_cpu_cores,
                        .min_memory_gb = s->min_memory_gb,
                        .min_storage_gb = s->min_storage_gb,
                        .on_posted = on_advertisement_posted,
                        .on_changed = on_advertisement_changed,
                }, get_free, d, &d->advertiser);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the advertiser: %m");
        return 0;
}

/* The state store failing is the one thing an admin must hear of at once: systemctl status
 * says so until it works again. */
static void on_store_health(Manager *m, int error, void *userdata) {
        ProviderDaemon *d = userdata;

        d->store_error = error;
        update_status(d);
}

/* ---- reload and stop ---- */

int provider_daemon_reload(ProviderDaemon *d, const char **ret_error) {
        ProviderSettings s;
        int r;

        d->reload_error = mfree(d->reload_error);
        r = provider_settings_load(&s, d->config_path, &d->reload_error);
        if (r < 0) {
                log_warning("Reload refused, keeping the running configuration: %s", strempty(d->reload_error));
                provider_settings_done(&s);
                if (ret_error)
                        *ret_error = d->reload_error;
                return r;
        }

        d->settings.max_vms = s.max_vms;
        d->settings.max_vms_per_owner = s.max_vms_per_owner;
        d->settings.allow_unsigned_requests = s.allow_unsigned_requests;
        d->settings.min_cpu_cores = s.min_cpu_cores;
        d->settings.min_memory_gb = s.min_memory_gb;
        d->settings.min_storage_gb = s.min_storage_gb;
        d->settings.cpu_threshold = s.cpu_threshold;
        d->settings.memory_threshold = s.memory_threshold;
        d->settings.storage_threshold = s.storage_threshold;
        free(d->settings.vm_denied_networks);
        free(d->settings.vm_allowed_networks);
        d->settings.vm_denied_networks = TAKE_PTR(s.vm_denied_networks);
        d->settings.vm_allowed_networks = TAKE_PTR(s.vm_allowed_networks);
        provider_settings_done(&s);
        manager_limits_changed(d->manager);
        setup_vm_network(d, manager_driver_name(d->manager), false);

        log_info("Configuration reloaded.");
        if (d->advertiser) {
                (void) advertiser_set_minimums(d->advertiser, d->settings.min_cpu_cores, d->settings.min_memory_gb,
                                               d->settings.min_storage_gb);
                advertiser_changed(d->advertiser);
        }
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) provider_daemon_reload(userdata, NULL);
        return 0;
}

static void on_withdrawn(void *userdata) {
        ProviderDaemon *d = userdata;

        (void) sd_event_exit(d->event, 0);
}

/* The first SIGTERM: stop taking requests, take the advertisement down (waiting a little for
 * the discovery service), then leave. VMs keep running; the next start adopts them. */
static void on_stop(sd_event *e, void *userdata) {
        ProviderDaemon *d = userdata;

        http_server_shutdown(d->http);
        if (d->advertiser && advertiser_withdraw(d->advertiser, WITHDRAW_TIMEOUT_USEC, on_withdrawn, d) >= 0)
                return;
        (void) sd_event_exit(e, 0);
}

/* ---- life ---- */

int provider_daemon_new(ProviderSettings *settings, const char *config_path, ProviderDaemon **ret) {
        _cleanup_(provider_daemon_freep) ProviderDaemon *d = NULL;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->settings = *settings;
        *settings = (ProviderSettings) {};
        d->config_path = config_path;
        /* Started by dbus-daemon itself (not through systemd): without the bus we are useless. */
        d->bus_activated = getenv("DBUS_STARTER_BUS_TYPE");

        r = daemon_setup_event(&d->event, on_stop, d);
        if (r < 0)
                return r;
        r = sd_event_add_signal(d->event, NULL, SIGHUP, on_sighup, d);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

ProviderDaemon *provider_daemon_free(ProviderDaemon *d) {
        if (!d)
                return NULL;
        /* Units (a launch in flight) outlive us; the next start picks them up. */
        if (d->runner)
                runner_detach(d->runner);
        /* The manager first: operations still under way let their watchers (suspended requests,
         * method calls) go while the front ends exist. */
        d->reconciler = reconciler_free(d->reconciler);
        d->manager = manager_free(d->manager);
        http_server_free(d->http);
        provider_rest_free(d->rest);
        provider_bus_free(d->bus_api);
        advertiser_free(d->advertiser);
        curl_glue_free(d->curl);
        runner_free(d->runner);
        provider_metrics_free(d->provider_metrics);
        metrics_free(d->metrics);
        sd_bus_slot_unref(d->vm_network_watch);
        if (d->bus) {
                (void) sd_bus_flush(d->bus);
                sd_bus_flush_close_unref(d->bus);
        }
        sd_event_unref(d->event);
        free(d->reload_error);
        free(d->status);
        provider_settings_done(&d->settings);
        free(d);
        return NULL;
}

int provider_daemon_start(ProviderDaemon *d) {
        Driver *driver = NULL;
        int r;

        r = connect_bus(d);
        if (r < 0)
                return r;
        r = setup_runner(d);
        if (r < 0)
                return r;
        r = driver_select(d->event, d->runner, &d->settings, &driver);
        if (r < 0)
                return r;
        r = setup_metrics(d, &driver);
        if (r < 0) {
                if (driver)
                        driver->ops->free(driver);
                return r;
        }
        /* Before any VM can start. */
        setup_vm_network(d, driver ? driver->ops->name : NULL, true);
        r = manager_new(d->event, &d->settings, d->runner, driver, &d->manager);
        if (r < 0) {
                if (driver)
                        driver->ops->free(driver);
                return log_error_errno(r, "Failed to set up the VM manager: %m");
        }
        manager_set_store_watch(d->manager, on_store_health, d);
        r = manager_start(d->manager);
        if (r < 0)
                return r;
        r = reconciler_new(d->manager, &d->reconciler);
        if (r < 0)
                return log_error_errno(r, "Failed to start watching the hypervisor: %m");
        r = setup_advertiser(d);
        if (r < 0)
                return r;
        r = manager_add_listener(d->manager, on_vm_event, d);
        if (r < 0)
                return log_error_errno(r, "Failed to follow VM events: %m");
        if (d->provider_metrics) {
                r = provider_metrics_follow(d->provider_metrics, d->manager, d->advertiser);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the metrics: %m");
        }
        r = setup_rest(d);
        if (r < 0)
                return r;
        return setup_bus_api(d);
}

int provider_daemon_run(ProviderDaemon *d) {
        Resources a = manager_available(d->manager);
        int r;

        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_SERVICE_STARTED,
                   "GOLEM_PROVIDER=%s", manager_provider_id(d->manager),
                   "MESSAGE=golem-providerd %s ready: %zu VM(s), %" PRIi64 " CPU, %" PRIi64 " GB memory, %" PRIi64 " GB storage free, driver %s.",
                   manager_provider_id(d->manager), manager_n_vms(d->manager), a.cpu, a.memory, a.storage,
                   manager_driver_name(d->manager) ?: "none");
        daemon_notify_ready("Serving VMs.");
        update_status(d);
        if (d->advertiser)
                advertiser_start(d->advertiser);

        r = sd_event_loop(d->event);

        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_SERVICE_STOPPED,
                   "MESSAGE=golem-providerd stopped.");
        return r;
}
