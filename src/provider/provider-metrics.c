/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "provider-metrics.h"
#include "time-util.h"

/* The ledger counts memory and storage in GB of 2^30 bytes (provider-ledger.c). */
#define GIB_BYTES 1073741824.0

typedef enum Resource {
        RESOURCE_CPU,
        RESOURCE_MEMORY,
        RESOURCE_STORAGE,
        _RESOURCE_MAX,
} Resource;

struct ProviderMetrics {
        Metrics *registry;
        Manager *manager;
        Advertiser *advertiser;

        Metric *vms;                            /* by state */
        Metric *capacity[_RESOURCE_MAX], *free[_RESOURCE_MAX];
        Metric *create_duration, *create_failures;
        Metric *posted, *post_failures, *last_posted;
        Metric *driver_errors;                  /* declared with the driver */
};

/* A create runs for seconds (multipass downloads an image the first time: minutes). */
static const double create_buckets[] = { 1, 2, 5, 10, 20, 30, 60, 90, 120, 180, 300, 600, 1200 };

static const struct {
        const char *capacity_name, *capacity_help, *free_name, *free_help;
} resource_metrics[_RESOURCE_MAX] = {
        [RESOURCE_CPU] = {
                "golem_provider_capacity_cpus", "CPUs this provider offers in all (the ledger's capacity).",
                "golem_provider_free_cpus", "CPUs not held by a VM.",
        },
        [RESOURCE_MEMORY] = {
                "golem_provider_capacity_memory_bytes",
                "Memory this provider offers in all, in bytes (the ledger counts whole GB of 2^30 bytes).",
                "golem_provider_free_memory_bytes", "Memory not held by a VM, in bytes (whole GB of 2^30 bytes).",
        },
        [RESOURCE_STORAGE] = {
                "golem_provider_capacity_storage_bytes",
                "Storage this provider offers in all, in bytes (the ledger counts whole GB of 2^30 bytes).",
                "golem_provider_free_storage_bytes", "Storage not held by a VM, in bytes (whole GB of 2^30 bytes).",
        },
};

static int add_plain(Metrics *r, const char *name, const char *help, MetricType type, Metric **ret) {
        return metrics_add(r, &(MetricDef) { .name = name, .help = help, .type = type }, ret);
}

int provider_metrics_new(Metrics *registry, ProviderMetrics **ret) {
        _cleanup_(provider_metrics_freep) ProviderMetrics *pm = calloc(1, sizeof(*pm));
        int r;

        if (!pm)
                return -ENOMEM;
        pm->registry = registry;

        r = metrics_add(registry, &(MetricDef) {
                        .name = "golem_provider_vms",
                        .help = "VMs by state (every state listed, 0 included).",
                        .type = METRIC_GAUGE,
                        .labels = { { "state", vm_state_table, _VM_STATE_MAX } },
                        .n_labels = 1,
                }, &pm->vms);
        for (Resource i = 0; r >= 0 && i < _RESOURCE_MAX; i++) {
                r = add_plain(registry, resource_metrics[i].capacity_name, resource_metrics[i].capacity_help,
                              METRIC_GAUGE, &pm->capacity[i]);
                if (r >= 0)
                        r = add_plain(registry, resource_metrics[i].free_name, resource_metrics[i].free_help,
                                      METRIC_GAUGE, &pm->free[i]);
        }
        if (r >= 0)
                r = metrics_add(registry, &(MetricDef) {
                                .name = "golem_provider_vm_create_duration_seconds",
                                .help = "Time from a create request to its VM running, for the creates that succeeded.",
                                .type = METRIC_HISTOGRAM,
                                .buckets = create_buckets,
                                .n_buckets = ELEMENTSOF(create_buckets),
                        }, &pm->create_duration);
        if (r >= 0)
                r = add_plain(registry, "golem_provider_vm_create_failures_total",
                              "Creates that failed after they were accepted (the VM never ran).", METRIC_COUNTER,
                              &pm->create_failures);
        if (r >= 0)
                r = add_plain(registry, "golem_provider_advertisements_posted_total",
                              "Advertisements the discovery service stored (2xx answers to POSTs).", METRIC_COUNTER,
                              &pm->posted);
        if (r >= 0)
                r = add_plain(registry, "golem_provider_advertiser_failures_total",
                              "Requests to the discovery service that failed (POSTs and DELETEs, each retry counted).",
                              METRIC_COUNTER, &pm->post_failures);
        if (r >= 0)
                r = add_plain(registry, "golem_provider_advertiser_last_success_timestamp_seconds",
                              "When the discovery service last stored our advertisement, in Unix seconds (0: never).",
                              METRIC_GAUGE, &pm->last_posted);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(pm);
        return 0;
}

ProviderMetrics *provider_metrics_free(ProviderMetrics *pm) {
        free(pm);
        return NULL;
}

/* ---- what is read at each scrape ---- */

static void collect(Metrics *registry, void *userdata) {
        ProviderMetrics *pm = userdata;
        unsigned count[_VM_STATE_MAX] = {};
        Resources c = manager_capacity(pm->manager), a = manager_available(pm->manager);
        uint64_t posted, failed;

        LIST_FOREACH(vms, vm, manager_vms(pm->manager))
                if (vm->record.state >= 0 && vm->record.state < _VM_STATE_MAX)
                        count[vm->record.state]++;
        for (VMState s = 0; s < _VM_STATE_MAX; s++)
                metric_set(pm->vms, metric_series(pm->vms, s, 0, 0), count[s]);

        metric_set(pm->capacity[RESOURCE_CPU], 0, (double) c.cpu);
        metric_set(pm->capacity[RESOURCE_MEMORY], 0, (double) c.memory * GIB_BYTES);
        metric_set(pm->capacity[RESOURCE_STORAGE], 0, (double) c.storage * GIB_BYTES);
        metric_set(pm->free[RESOURCE_CPU], 0, (double) a.cpu);
        metric_set(pm->free[RESOURCE_MEMORY], 0, (double) a.memory * GIB_BYTES);
        metric_set(pm->free[RESOURCE_STORAGE], 0, (double) a.storage * GIB_BYTES);

        /* Counters kept by the advertiser: the difference is added, so ours only grow. */
        advertiser_counts(pm->advertiser, &posted, &failed);
        metric_add(pm->posted, 0, (double) posted - metric_value(pm->posted, 0));
        metric_add(pm->post_failures, 0, (double) failed - metric_value(pm->post_failures, 0));
        metric_set(pm->last_posted, 0, (double) (advertiser_last_success(pm->advertiser) / USEC_PER_SEC));
}

/* ---- creates, through their operations ---- */

typedef struct CreateWatch {
        ProviderMetrics *pm;
        usec_t started;
} CreateWatch;

static void on_create_done(Operation *o, int r, const char *message, VM *vm, void *userdata) {
        CreateWatch *w = userdata;

        if (r < 0)
                metric_inc(w->pm->create_failures, 0);
        else
                metric_observe(w->pm->create_duration, 0, (double) (now_monotonic() - w->started) / USEC_PER_SEC);
}

static const OperationWatcherOps create_watch_ops = {
        .done = on_create_done,
        .free = free,
};

/* A VM appears with its create under way (manager_create_vm() emits VM_EVENT_NEW before it
 * launches): watched from here on. */
static void on_vm_event(Manager *m, VM *vm, VMEvent event, void *userdata) {
        ProviderMetrics *pm = userdata;
        CreateWatch *w;

        if (event != VM_EVENT_NEW || !vm->operation || operation_kind(vm->operation) != VM_OP_CREATE)
                return;
        w = malloc(sizeof(*w));
        if (!w)
                return;
        *w = (CreateWatch) { .pm = pm, .started = now_monotonic() };
        if (operation_watch(vm->operation, &create_watch_ops, w, NULL) < 0)
                free(w);
}

int provider_metrics_follow(ProviderMetrics *pm, Manager *m, Advertiser *a) {
        int r;

        pm->manager = m;
        pm->advertiser = a;
        r = manager_add_listener(m, on_vm_event, pm);
        if (r < 0)
                return r;
        return metrics_add_collector(pm->registry, collect, pm);
}

/* ---- the driver's failures ---- */

typedef enum DriverCall {
        DRIVER_CALL_LAUNCH,
        DRIVER_CALL_START,
        DRIVER_CALL_STOP,
        DRIVER_CALL_REMOVE,
        DRIVER_CALL_INFO,
        DRIVER_CALL_LIST,
        DRIVER_CALL_SET_KEYS,
        _DRIVER_CALL_MAX,
} DriverCall;

static const char *const driver_call_values[_DRIVER_CALL_MAX] = {
        [DRIVER_CALL_LAUNCH] = "launch",
        [DRIVER_CALL_START] = "start",
        [DRIVER_CALL_STOP] = "stop",
        [DRIVER_CALL_REMOVE] = "remove",
        [DRIVER_CALL_INFO] = "info",
        [DRIVER_CALL_LIST] = "list",
        [DRIVER_CALL_SET_KEYS] = "set_keys",
};

typedef struct CountingDriver {
        Driver driver;          /* first: what the manager holds */
        DriverOps ops;
        Driver *inner;
        Metric *errors;
} CountingDriver;

/* One call in flight: what the manager gave, and the inner driver's handle. */
typedef struct CountingOp {
        CountingDriver *d;
        DriverCall call;
        DriverOp *inner;
        DriverDoneFn done;
        DriverInfoFn info;
        DriverListFn list;
        DriverProgressFn progress;
        void *userdata;
} CountingOp;

static CountingDriver *counting(Driver *d) {
        return (CountingDriver *) d;
}

static void count_error(CountingDriver *d, DriverCall call, int r) {
        if (r < 0 && r != -ENOENT)
                metric_inc(d->errors, metric_series(d->errors, 0, call, 0));
}

static void on_done(int r, const char *message, void *userdata) {
        CountingOp o = *(CountingOp *) userdata;

        free(userdata);
        count_error(o.d, o.call, r);
        o.done(r, message, o.userdata);
}

static void on_info(int r, const char *message, const DriverVM *vm, void *userdata) {
        CountingOp o = *(CountingOp *) userdata;

        free(userdata);
        count_error(o.d, o.call, r);
        o.info(r, message, vm, o.userdata);
}

static void on_list(int r, const char *message, const DriverVM *vms, size_t n, void *userdata) {
        CountingOp o = *(CountingOp *) userdata;

        free(userdata);
        count_error(o.d, o.call, r);
        o.list(r, message, vms, n, o.userdata);
}

static void on_progress(int percent, const char *stage, void *userdata) {
        CountingOp *o = userdata;

        if (o->progress)
                o->progress(percent, stage, o->userdata);
}

static CountingOp *op_new(Driver *d, DriverCall call, void *userdata) {
        CountingOp *o = calloc(1, sizeof(*o));

        if (o)
                *o = (CountingOp) { .d = counting(d), .call = call, .userdata = userdata };
        return o;
}

/* The inner call has been made: on failure no callback comes. */
static int op_started(CountingOp *o, int r, DriverOp **ret) {
        if (r < 0) {
                count_error(o->d, o->call, r);
                free(o);
                return r;
        }
        if (ret)
                *ret = (DriverOp *) o;
        return r;
}

static int counting_launch(Driver *d, const DriverLaunchParams *p, DriverProgressFn progress, DriverDoneFn done,
                           void *userdata, DriverOp **ret) {
        CountingOp *o = op_new(d, DRIVER_CALL_LAUNCH, userdata);

        if (!o)
                return -ENOMEM;
        o->done = done;
        o->progress = progress;
        return op_started(o, counting(d)->inner->ops->launch(counting(d)->inner, p, on_progress, on_done, o, &o->inner), ret);
}

typedef int (*NameCall)(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret);

static int counting_name_call(Driver *d, DriverCall call, NameCall fn, const char *name, DriverDoneFn done,
                              void *userdata, DriverOp **ret) {
        CountingOp *o = op_new(d, call, userdata);

        if (!o)
                return -ENOMEM;
        o->done = done;
        return op_started(o, fn(counting(d)->inner, name, on_done, o, &o->inner), ret);
}

static int counting_start(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return counting_name_call(d, DRIVER_CALL_START, counting(d)->inner->ops->start, name, done, userdata, ret);
}

static int counting_stop(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return counting_name_call(d, DRIVER_CALL_STOP, counting(d)->inner->ops->stop, name, done, userdata, ret);
}

static int counting_remove(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return counting_name_call(d, DRIVER_CALL_REMOVE, counting(d)->inner->ops->remove, name, done, userdata, ret);
}

static int counting_info(Driver *d, const char *name, DriverInfoFn done, void *userdata, DriverOp **ret) {
        CountingOp *o = op_new(d, DRIVER_CALL_INFO, userdata);

        if (!o)
                return -ENOMEM;
        o->info = done;
        return op_started(o, counting(d)->inner->ops->info(counting(d)->inner, name, on_info, o, &o->inner), ret);
}

static int counting_list(Driver *d, DriverListFn done, void *userdata, DriverOp **ret) {
        CountingOp *o = op_new(d, DRIVER_CALL_LIST, userdata);

        if (!o)
                return -ENOMEM;
        o->list = done;
        return op_started(o, counting(d)->inner->ops->list(counting(d)->inner, on_list, o, &o->inner), ret);
}

static int counting_set_keys(Driver *d, const char *name, const char *authorized_keys, DriverDoneFn done,
                             void *userdata, DriverOp **ret) {
        CountingOp *o = op_new(d, DRIVER_CALL_SET_KEYS, userdata);

        if (!o)
                return -ENOMEM;
        o->done = done;
        return op_started(o, counting(d)->inner->ops->set_keys(counting(d)->inner, name, authorized_keys, on_done, o,
                                                               &o->inner), ret);
}

static int counting_image_check(Driver *d, const char *image, char *reason, size_t reason_size) {
        return counting(d)->inner->ops->image_check(counting(d)->inner, image, reason, reason_size);
}

static void counting_cancel(DriverOp *op) {
        CountingOp *o = (CountingOp *) op;

        if (!o)
                return;
        o->d->inner->ops->cancel(o->inner);
        free(o);
}

static void counting_free(Driver *d) {
        counting(d)->inner->ops->free(counting(d)->inner);
        free(d);
}

/* The inner driver says a VM may have changed by itself: passed on to whoever listens to us. */
static void on_inner_changed(void *userdata) {
        CountingDriver *d = userdata;

        if (d->driver.changed)
                d->driver.changed(d->driver.changed_userdata);
}

int provider_metrics_wrap_driver(ProviderMetrics *pm, Driver *driver, Driver **ret) {
        const char *const name[] = { driver->ops->name };
        CountingDriver *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        r = metrics_add(pm->registry, &(MetricDef) {
                        .name = "golem_provider_driver_errors_total",
                        .help = "VM driver operations that failed, by driver and operation.",
                        .type = METRIC_COUNTER,
                        .labels = { { "driver", name, 1 }, { "operation", driver_call_values, _DRIVER_CALL_MAX } },
                        .n_labels = 2,
                }, &d->errors);
        if (r < 0) {
                free(d);
                return r;
        }

        d->inner = driver;
        d->ops = *driver->ops;  /* name and properties */
        d->ops.launch = counting_launch;
        d->ops.start = counting_start;
        d->ops.stop = counting_stop;
        d->ops.remove = counting_remove;
        d->ops.info = counting_info;
        d->ops.list = counting_list;
        d->ops.cancel = counting_cancel;
        d->ops.free = counting_free;
        d->ops.set_keys = driver->ops->set_keys ? counting_set_keys : NULL;
        d->ops.image_check = driver->ops->image_check ? counting_image_check : NULL;
        d->driver.ops = &d->ops;
        driver->changed = on_inner_changed;
        driver->changed_userdata = d;

        *ret = &d->driver;
        return 0;
}
