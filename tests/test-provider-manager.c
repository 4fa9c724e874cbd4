/* SPDX-License-Identifier: MIT */
/* The VM manager's state machine against a fake driver. The driver's launch, start, stop and
 * remove stay pending until the test finishes them; info() and list() answer from a table in
 * the test on the next loop iteration. The manager runs on a real sd-event loop, stepped by the
 * test, with its store in a temporary directory and SSH ports from a private range, which the
 * driver forwards by itself (no forwarder is opened). What is checked is what a user sees: the
 * VM's state, how the operation completed, the records and jobs as a fresh connection to the
 * store reads them, the free resources, the listeners' events and the calls the driver got. */

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "list.h"
#include "provider-manager.h"
#include "provider-metrics.h"
#include "provider-reconcile.h"
#include "provider-store.h"
#include "tests.h"

#define TEST_SSH_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHGv2lwZbVrWDAQkNc4iGfXu8DmW0wQnKKzm9DqFgP3m test"
#define N_PORTS 8

static const Resources capacity = { .cpu = 8, .memory = 16, .storage = 100 };
static const Resources request_size = { .cpu = 1, .memory = 2, .storage = 10 };

static const Caller dbus_caller = { .kind = CALLER_DBUS, .address = ":1.42" };
static const Caller rest_a = { .kind = CALLER_REST, .identity = "SHA256:identity-a", .address = "192.0.2.1" };
static const Caller rest_b = { .kind = CALLER_REST, .identity = "SHA256:identity-b", .address = "192.0.2.2" };
static const Caller rest_anonymous = { .kind = CALLER_REST, .address = "192.0.2.3" };

/* ---- the fake driver ---- */

typedef enum FakeCall {
        FAKE_LAUNCH,
        FAKE_START,
        FAKE_STOP,
        FAKE_REMOVE,
        FAKE_INFO,
        FAKE_LIST,
        _FAKE_CALL_MAX,
} FakeCall;

static const char *const fake_call_names[_FAKE_CALL_MAX] = {
        [FAKE_LAUNCH] = "launch",
        [FAKE_START] = "start",
        [FAKE_STOP] = "stop",
        [FAKE_REMOVE] = "remove",
        [FAKE_INFO] = "info",
        [FAKE_LIST] = "list",
};

typedef struct FakeDriver FakeDriver;

struct DriverOp {
        FakeDriver *driver;
        FakeCall call;
        char name[VM_NAME_MAX + 1];
        DriverProgressFn progress;
        DriverDoneFn done;
        DriverInfoFn info_done;
        DriverListFn list_done;
        void *userdata;
        sd_event_source *answer;       /* info and list: answered from the table */
        LIST_FIELDS(DriverOp, ops);
};

struct FakeDriver {
        Driver driver;                 /* first: the manager's Driver * is ours */
        DriverOps ops;                 /* a copy the test may change (launch_cancellable) */
        sd_event *event;
        DriverOp *pending;
        int fail_at_once[_FAKE_CALL_MAX]; /* < 0: the call returns this error at once */
        DriverVM vms[8];               /* what list() and info() report */
        size_t n_vms;
        char calls[1024];              /* "launch web, info web, ...": every call and cancel */
};

static FakeDriver *fake_driver(Driver *d) {
        return (FakeDriver *) d;
}

static void fake_log(FakeDriver *f, const char *what, FakeCall call, const char *name) {
        size_t n = strlen(f->calls);

        snprintf(f->calls + n, sizeof(f->calls) - n, "%s%s%s%s%s", n > 0 ? ", " : "", what,
                 fake_call_names[call], name[0] ? " " : "", name);
}

/* The driver reports name in state (DRIVER_VM_DELETED: no longer at all). */
static void fake_set_vm(FakeDriver *f, const char *name, DriverVMState state, const char *ip) {
        DriverVM *v = NULL;

        for (size_t i = 0; i < f->n_vms && !v; i++)
                if (streq(f->vms[i].name, name))
                        v = f->vms + i;
        if (state == DRIVER_VM_DELETED) {
                if (v)
                        *v = f->vms[--f->n_vms];
                return;
        }
        if (!v) {
                ASSERT_TRUE(f->n_vms < ELEMENTSOF(f->vms));
                v = f->vms + f->n_vms++;
        }
        *v = (DriverVM) { .state = state };
        snprintf(v->name, sizeof(v->name), "%s", name);
        snprintf(v->ip_address, sizeof(v->ip_address), "%s", ip ?: "");
}

static const DriverVM *fake_get_vm(FakeDriver *f, const char *name) {
        for (size_t i = 0; i < f->n_vms; i++)
                if (streq(f->vms[i].name, name))
                        return f->vms + i;
        return NULL;
}

static void fake_op_free(DriverOp *op) {
        LIST_REMOVE(ops, op->driver->pending, op);
        sd_event_source_disable_unref(op->answer);
        free(op);
}

/* A call begins: logged, then refused at once when the test asked for that. */
static int fake_op_new(FakeDriver *f, FakeCall call, const char *name, void *userdata, DriverOp **ret) {
        DriverOp *op;

        fake_log(f, "", call, name ?: "");
        if (f->fail_at_once[call] < 0)
                return f->fail_at_once[call];
        op = calloc(1, sizeof(*op));
        ASSERT_NOT_NULL(op);
        *op = (DriverOp) { .driver = f, .call = call, .userdata = userdata };
        snprintf(op->name, sizeof(op->name), "%s", name ?: "");
        LIST_APPEND(ops, f->pending, op);
        *ret = op;
        return 0;
}

static DriverOp *fake_pending(FakeDriver *f, FakeCall call, const char *name) {
        LIST_FOREACH(ops, op, f->pending)
                if (op->call == call && streq(op->name, name))
                        return op;
        return NULL;
}

static int on_fake_answer(sd_event_source *s, void *userdata) {
        DriverOp *op = userdata;
        FakeDriver *f = op->driver;
        const DriverVM *v = fake_get_vm(f, op->name);

        op->answer = sd_event_source_disable_unref(op->answer);
        if (op->call == FAKE_INFO)
                op->info_done(v ? 0 : -ENOENT, v ? NULL : "instance does not exist", v, op->userdata);
        else
                op->list_done(0, NULL, f->vms, f->n_vms, op->userdata);
        fake_op_free(op);
        return 0;
}

static int fake_launch(Driver *d, const DriverLaunchParams *p, DriverProgressFn progress, DriverDoneFn done,
                       void *userdata, DriverOp **ret) {
        int r = fake_op_new(fake_driver(d), FAKE_LAUNCH, p->name, userdata, ret);

        if (r >= 0) {
                (*ret)->progress = progress;
                (*ret)->done = done;
        }
        return r;
}

static int fake_action(Driver *d, FakeCall call, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        int r = fake_op_new(fake_driver(d), call, name, userdata, ret);

        if (r >= 0)
                (*ret)->done = done;
        return r;
}

static int fake_start(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return fake_action(d, FAKE_START, name, done, userdata, ret);
}

static int fake_stop(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return fake_action(d, FAKE_STOP, name, done, userdata, ret);
}

static int fake_remove(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return fake_action(d, FAKE_REMOVE, name, done, userdata, ret);
}

/* info() and list() answer on the next loop iteration, from the table as it is then. */
static int fake_query(Driver *d, FakeCall call, const char *name, void *userdata, DriverOp **ret) {
        FakeDriver *f = fake_driver(d);
        int r = fake_op_new(f, call, name, userdata, ret);

        if (r >= 0)
                ASSERT_OK(sd_event_add_defer(f->event, &(*ret)->answer, on_fake_answer, *ret));
        return r;
}

static int fake_info(Driver *d, const char *name, DriverInfoFn done, void *userdata, DriverOp **ret) {
        int r = fake_query(d, FAKE_INFO, name, userdata, ret);

        if (r >= 0)
                (*ret)->info_done = done;
        return r;
}

static int fake_list(Driver *d, DriverListFn done, void *userdata, DriverOp **ret) {
        int r = fake_query(d, FAKE_LIST, NULL, userdata, ret);

        if (r >= 0)
                (*ret)->list_done = done;
        return r;
}

static void fake_cancel(DriverOp *op) {
        fake_log(op->driver, "cancel ", op->call, op->name);
        fake_op_free(op);
}

static void fake_free(Driver *d) {
        /* Whatever the manager had asked for, it cancelled before letting the driver go. */
        ASSERT_NULL(fake_driver(d)->pending);
}

static const DriverOps fake_ops = {
        .name = "fake",
        .launch = fake_launch,
        .start = fake_start,
        .stop = fake_stop,
        .remove = fake_remove,
        .info = fake_info,
        .list = fake_list,
        .cancel = fake_cancel,
        .free = fake_free,
        .forwards_ssh = true,
};

/* ---- the world: a state directory, a loop, a manager and what it told ---- */

typedef struct World {
        char *dir;
        char *db;
        ProviderSettings settings;
        sd_event *event;
        Runner *runner;
        FakeDriver driver;
        Manager *manager;
        Reconciler *reconciler;
        struct {
                char vm[VM_NAME_MAX + 1];
                char text[320];
        } events[64];
        size_t n_events;
} World;

static void on_vm_event(Manager *m, VM *vm, VMEvent event, void *userdata) {
        static const char *const names[] = { [VM_EVENT_NEW] = "new", [VM_EVENT_CHANGED] = "changed",
                                             [VM_EVENT_REMOVED] = "removed" };
        World *w = userdata;

        /* A VM whose removal is announced is out of the listings already; others are in them. */
        if (event == VM_EVENT_REMOVED)
                ASSERT_TRUE(manager_removing_vm(m) == vm);
        if (manager_removing_vm(m) == vm)
                ASSERT_NULL(manager_get_vm(m, vm->record.name));
        else
                ASSERT_TRUE(manager_get_vm(m, vm->record.name) == vm);

        ASSERT_TRUE(w->n_events < ELEMENTSOF(w->events));
        snprintf(w->events[w->n_events].vm, sizeof(w->events[w->n_events].vm), "%s", vm->record.name);
        snprintf(w->events[w->n_events].text, sizeof(w->events[w->n_events].text), "%s %s%s%s%s",
                 names[event], vm_state_to_string(vm->record.state), vm->record.error_message ? " (" : "",
                 vm->record.error_message ?: "", vm->record.error_message ? ")" : "");
        w->n_events++;
}

/* What the listeners heard of vm, in order: "new creating, changed running". */
static const char *world_events(World *w, const char *vm) {
        static char text[2048];
        size_t n = 0;

        text[0] = 0;
        for (size_t i = 0; i < w->n_events; i++)
                if (streq(w->events[i].vm, vm)) {
                        n += snprintf(text + n, sizeof(text) - n, "%s%s", n > 0 ? ", " : "", w->events[i].text);
                        ASSERT_TRUE(n < sizeof(text));
                }
        return text;
}

static void world_forget(World *w) {
        w->n_events = 0;
        w->driver.calls[0] = 0;
}

/* A manager over the state directory (again, after world_stop()); the driver's table, failures
 * and call log carry over. */
static void world_start(World *w) {
        w->driver.driver = (Driver) { .ops = &w->driver.ops };
        w->driver.event = w->event;
        ASSERT_OK(manager_new(w->event, &w->settings, w->runner, &w->driver.driver, &w->manager));
        ASSERT_OK(manager_add_listener(w->manager, on_vm_event, w));
        ASSERT_OK(manager_start(w->manager));
}

/* The provider stops, whatever is under way. */
static void world_stop(World *w) {
        w->reconciler = reconciler_free(w->reconciler);
        w->manager = manager_free(w->manager);
}

static char *test_strdup(const char *s) {
        char *p = strdup(s);

        ASSERT_NOT_NULL(p);
        return p;
}

/* A world not started yet: its directories, settings and loop. */
static void world_setup(World *w) {
        /* A private range per process, so that parallel runs do not skip each other's ports. */
        uint16_t port = (uint16_t) (20000 + (getpid() % 1000) * N_PORTS);

        *w = (World) {
                .dir = test_mkdtemp(),
                .settings = {
                        .id = test_strdup("test-provider"),
                        .name = test_strdup("test"),
                        .host = test_strdup("127.0.0.1"),
                        .default_vm_image = test_strdup("ubuntu-24.04"),
                        .launch_timeout_sec = 600,
                        .port_range_start = port,
                        .port_range_end = port + N_PORTS - 1,
                        .cpu_threshold = 100,
                        .memory_threshold = 100,
                        .storage_threshold = 100,
                        .capacity_cpu = capacity.cpu,
                        .capacity_memory_gb = capacity.memory,
                        .capacity_storage_gb = capacity.storage,
                },
                .driver.ops = fake_ops,
        };
        ASSERT_TRUE(asprintf(&w->settings.vm_data_dir, "%s/state", w->dir) >= 0);
        ASSERT_TRUE(asprintf(&w->db, "%s/provider.db", w->settings.vm_data_dir) >= 0);
        ASSERT_OK(sd_event_new(&w->event));
        ASSERT_OK(runner_new(w->event, &w->runner));
}

static void world_init(World *w) {
        world_setup(w);
        world_start(w);
}

static void world_done(World *w) {
        world_stop(w);
        (void) umount2(w->settings.vm_data_dir, MNT_DETACH); /* a small disk of its own */
        runner_free(w->runner);
        sd_event_unref(w->event);
        provider_settings_done(&w->settings);
        test_rm_rf(w->dir);
        free(w->dir);
        free(w->db);
}

/* One iteration of the loop, if anything is ready. */
static int world_step(World *w) {
        int r = sd_event_run(w->event, 0);

        ASSERT_OK(r);
        return r;
}

/* Runs the loop until nothing is left to do now. */
static void world_settle(World *w) {
        for (unsigned i = 0; world_step(w) > 0; i++)
                ASSERT_TRUE(i < 1000);
}

/* The driver answers the call pending for name, then the loop settles. */
static void finish(World *w, FakeCall call, const char *name, int r, const char *message) {
        DriverOp *op = fake_pending(&w->driver, call, name);

        if (!op)
                tests_fail(__FILE__, __LINE__, "no %s of %s is pending; calls: %s", fake_call_names[call], name,
                           w->driver.calls);
        LIST_REMOVE(ops, w->driver.pending, op);
        op->done(r, message, op->userdata);
        free(op);
        world_settle(w);
}

static void fake_progress(World *w, const char *name, int percent, const char *stage) {
        DriverOp *op = fake_pending(&w->driver, FAKE_LAUNCH, name);

        ASSERT_NOT_NULL(op);
        op->progress(percent, stage, op->userdata);
}

/* ---- what a user checks ---- */

static ProviderStore *store_open_fresh(World *w) {
        ProviderStore *s = NULL;

        ASSERT_OK(provider_store_open(w->db, &s));
        return s;
}

/* The record of vm as a fresh connection to the store reads it: false when there is none. */
static bool stored_record(World *w, const char *vm, VMRecord *ret) {
        ProviderStore *s = store_open_fresh(w);
        VMRecord *records = NULL;
        bool found = false;
        size_t n = 0;

        ASSERT_OK(provider_store_load_vms(s, &records, &n));
        for (size_t i = 0; i < n; i++) {
                if (!found && streq(records[i].name, vm)) {
                        *ret = records[i];
                        found = true;
                        continue;
                }
                vm_record_done(records + i);
        }
        free(records);
        provider_store_close(s);
        return found;
}

/* The same: "running", "error (why)" or "none". */
static const char *stored_vm(World *w, const char *vm) {
        static char text[320];
        _cleanup_(vm_record_done) VMRecord r = {};

        if (!stored_record(w, vm, &r))
                return "none";
        snprintf(text, sizeof(text), "%s%s%s%s", vm_state_to_string(r.state), r.error_message ? " (" : "",
                 strempty(r.error_message), r.error_message ? ")" : "");
        return text;
}

/* Every record's name and state: "a running, b stopped". */
static const char *stored_vms(World *w) {
        static char text[1024];
        ProviderStore *s = store_open_fresh(w);
        VMRecord *records = NULL;
        size_t n = 0, k = 0;

        ASSERT_OK(provider_store_load_vms(s, &records, &n));
        text[0] = 0;
        for (size_t i = 0; i < n; i++) {
                k += snprintf(text + k, sizeof(text) - k, "%s%s %s", i > 0 ? ", " : "", records[i].name,
                              vm_state_to_string(records[i].state));
                ASSERT_TRUE(k < sizeof(text));
                vm_record_done(records + i);
        }
        free(records);
        provider_store_close(s);
        return text;
}

/* What the renter last asked of vm, as the store has it: "running" or "stopped". */
static const char *stored_desired(World *w, const char *vm) {
        _cleanup_(vm_record_done) VMRecord r = {};

        ASSERT_TRUE(stored_record(w, vm, &r));
        return vm_state_to_string(r.desired);
}

/* The newest job of vm as the store has it: "restore starting", "create ready", "restore
 * failed (why)". */
static const char *stored_last_job(World *w, const char *vm) {
        static char text[320];
        ProviderStore *s = store_open_fresh(w);
        Job *jobs = NULL;
        size_t n = 0;

        ASSERT_OK(provider_store_load_jobs(s, vm, &jobs, &n));
        ASSERT_TRUE(n > 0);
        snprintf(text, sizeof(text), "%s %s%s%s%s", job_kind_to_string(jobs[0].kind), job_status_to_string(jobs[0].status),
                 jobs[0].error ? " (" : "", strempty(jobs[0].error), jobs[0].error ? ")" : "");
        jobs_free(jobs, n);
        provider_store_close(s);
        return text;
}

/* The job as a fresh connection to the store reads it: "ready", "failed (why)". */
static const char *stored_job(World *w, const char *job_id) {
        static char text[320];
        ProviderStore *s = store_open_fresh(w);
        _cleanup_(job_done) Job j = {};

        ASSERT_OK(provider_store_load_job(s, job_id, &j));
        snprintf(text, sizeof(text), "%s%s%s%s", job_status_to_string(j.status), j.error ? " (" : "",
                 j.error ?: "", j.error ? ")" : "");
        provider_store_close(s);
        return text;
}

/* What the ledger has free is what n VMs of request_size leave. */
#define ASSERT_VMS_HOLD(w, n)                                                           \
        do {                                                                            \
                Resources _free = manager_available((w)->manager);                      \
                ASSERT_EQ_INT(_free.cpu, capacity.cpu - (n) * request_size.cpu);        \
                ASSERT_EQ_INT(_free.memory, capacity.memory - (n) * request_size.memory); \
                ASSERT_EQ_INT(_free.storage, capacity.storage - (n) * request_size.storage); \
        } while (0)

/* An operation as its watcher saw it. */
typedef struct Watch {
        Operation *op;
        OperationWatcher *watcher;
        bool leave_on_progress;  /* answers its request on progress and goes (a job wait) */
        unsigned n_progress, n_done, n_freed;
        int percent;
        char stage[64];
        int r;
        char message[256];
        VM *vm;                  /* as done() was told; only compared */
        VMState vm_state;
} Watch;

#define NO_MESSAGE "(no message)"

/* Completed once, with error and message (NULL: none). */
#define ASSERT_DONE(watch, error, msg)                                          \
        do {                                                                    \
                ASSERT_EQ_UINT((watch).n_done, 1);                              \
                ASSERT_EQ_UINT((watch).n_freed, 1);                             \
                ASSERT_EQ_INT((watch).r, (error));                              \
                ASSERT_STREQ((watch).message, (msg) ?: NO_MESSAGE);             \
        } while (0)

static void on_watch_progress(Operation *o, int percent, const char *stage, void *userdata) {
        Watch *w = userdata;

        w->n_progress++;
        w->percent = percent;
        snprintf(w->stage, sizeof(w->stage), "%s", stage);
        if (w->leave_on_progress)
                operation_unwatch(w->op, w->watcher);
}

static void on_watch_done(Operation *o, int r, const char *message, VM *vm, void *userdata) {
        Watch *w = userdata;

        w->n_done++;
        w->r = r;
        snprintf(w->message, sizeof(w->message), "%s", message ?: NO_MESSAGE);
        w->vm = vm;
        w->vm_state = vm ? vm->record.state : _VM_STATE_INVALID;
}

static void on_watch_free(void *userdata) {
        Watch *w = userdata;

        w->n_freed++;
}

static const OperationWatcherOps watch_ops = {
        .done = on_watch_done,
        .progress = on_watch_progress,
        .free = on_watch_free,
};

static void watch_op(Operation *o, Watch *w) {
        *w = (Watch) { .op = o };
        ASSERT_NOT_NULL(o);
        ASSERT_OK(operation_watch(o, &watch_ops, w, &w->watcher));
}

static VMCreateRequest create_request(const char *name) {
        VMCreateRequest req = { .resources = request_size };

        snprintf(req.name, sizeof(req.name), "%s", name);
        snprintf(req.ssh_key, sizeof(req.ssh_key), "%s", TEST_SSH_KEY);
        return req;
}

/* c asks for VM name; watch (optional) watches the create. The launch is then pending. */
static VM *create(World *w, const Caller *c, const char *name, Watch *watch) {
        VMCreateRequest req = create_request(name);
        char reason[256] = "";
        Operation *op = NULL;
        VM *vm = NULL;

        ASSERT_OK(manager_create_vm(w->manager, c, &req, &vm, &op, reason, sizeof(reason)));
        ASSERT_NOT_NULL(vm);
        ASSERT_EQ_INT(vm->record.state, VM_CREATING);
        if (watch)
                watch_op(op, watch);
        return vm;
}

/* A VM that c created and that runs, the driver reporting it at ip. */
static VM *bring_up(World *w, const Caller *c, const char *name, const char *ip) {
        VM *vm;

        fake_set_vm(&w->driver, name, DRIVER_VM_RUNNING, ip);
        vm = create(w, c, name, NULL);
        finish(w, FAKE_LAUNCH, name, 0, NULL);
        ASSERT_EQ_INT(vm->record.state, VM_RUNNING);
        return vm;
}

/* A new world where VM web runs; what led there is forgotten. */
static VM *world_init_running(World *w) {
        VM *vm;

        world_init(w);
        vm = bring_up(w, &dbus_caller, "web", "10.0.0.5");
        world_forget(w);
        return vm;
}

typedef int (*ActionFn)(Manager *m, const Caller *c, VM *vm, Operation **ret_op);

/* A D-Bus caller starts, stops or deletes vm; watch watches it. */
static void act(World *w, ActionFn fn, VM *vm, Watch *watch) {
        Operation *op = NULL;

        ASSERT_OK(fn(w->manager, &dbus_caller, vm, &op));
        watch_op(op, watch);
}

/* ---- 1. create ---- */

TEST(create_reports_progress_then_runs) {
        _cleanup_(world_done) World w = {};
        VMCreateRequest again = create_request("web");
        char reason[256] = "", job[JOB_ID_LEN + 1];
        Watch watch;
        VM *vm;

        world_init(&w);
        fake_set_vm(&w.driver, "web", DRIVER_VM_RUNNING, "10.0.0.5");
        vm = create(&w, &dbus_caller, "web", &watch);
        strcpy(job, vm->record.job_id);
        ASSERT_STREQ(stored_vm(&w, "web"), "creating");
        ASSERT_STREQ(stored_job(&w, job), "creating");
        ASSERT_VMS_HOLD(&w, 1);

        fake_progress(&w, "web", 40, "Downloading image");
        fake_progress(&w, "web", 40, "Downloading image"); /* no news: not told again */
        ASSERT_EQ_UINT(watch.n_progress, 1);
        ASSERT_EQ_INT(watch.percent, 40);
        ASSERT_STREQ(watch.stage, "Downloading image");
        ASSERT_EQ_UINT(watch.n_done, 0);

        finish(&w, FAKE_LAUNCH, "web", 0, NULL);
        ASSERT_DONE(watch, 0, NULL);
        ASSERT_TRUE(watch.vm == vm);
        ASSERT_EQ_INT(watch.vm_state, VM_RUNNING);
        ASSERT_STREQ(vm->record.ip_address, "10.0.0.5");
        ASSERT_STREQ(w.driver.calls, "launch web, info web");
        ASSERT_STREQ(stored_vm(&w, "web"), "running");
        ASSERT_STREQ(stored_job(&w, job), "ready");
        ASSERT_STREQ(world_events(&w, "web"), "new creating, changed running");
        ASSERT_VMS_HOLD(&w, 1);

        ASSERT_ERROR(manager_create_vm(w.manager, &dbus_caller, &again, NULL, NULL, reason, sizeof(reason)), EEXIST);
        ASSERT_STR_CONTAINS(reason, "exists already");
        ASSERT_EQ_UINT(manager_n_vms(w.manager), 1);
        ASSERT_VMS_HOLD(&w, 1);
}

/* ---- 2., 3. a launch that fails ---- */

/* A new world where the launch of VM web (watched by watch, its job id in job) failed; the
 * clean-up is under way. */
static VM *world_init_failed_launch(World *w, Watch *watch, char job[static JOB_ID_LEN + 1]) {
        VM *vm;

        world_init(w);
        vm = create(w, &dbus_caller, "web", watch);
        strcpy(job, vm->record.job_id);
        finish(w, FAKE_LAUNCH, "web", -EIO, "launch failed: disk full");
        ASSERT_STREQ(w->driver.calls, "launch web, remove web");
        ASSERT_EQ_INT(vm->record.state, VM_DELETING);
        /* Not told before the clean-up is over: the name is not free yet. */
        ASSERT_EQ_UINT(watch->n_done, 0);
        return vm;
}

TEST(failed_launch_is_cleaned_up) {
        _cleanup_(world_done) World w = {};
        char job[JOB_ID_LEN + 1];
        uint16_t port;
        Watch watch;
        VM *vm;

        vm = world_init_failed_launch(&w, &watch, job);
        port = vm->record.ssh_port;
        finish(&w, FAKE_REMOVE, "web", 0, NULL);
        ASSERT_DONE(watch, -EIO, "launch failed: disk full");
        ASSERT_NULL(watch.vm);
        ASSERT_NULL(manager_get_vm(w.manager, "web"));
        ASSERT_STREQ(stored_vm(&w, "web"), "none");
        ASSERT_STREQ(stored_job(&w, job), "failed (launch failed: disk full)");
        ASSERT_STREQ(world_events(&w, "web"),
                     "new creating, changed deleting (launch failed: disk full), removed deleting (launch failed: disk full)");
        ASSERT_VMS_HOLD(&w, 0);

        /* The name and the port are free again. */
        vm = create(&w, &dbus_caller, "web", NULL);
        ASSERT_EQ_UINT(vm->record.ssh_port, port);
        finish(&w, FAKE_LAUNCH, "web", 0, NULL);
}

TEST(failed_cleanup_leaves_vm_in_error) {
        _cleanup_(world_done) World w = {};
        char job[JOB_ID_LEN + 1];
        uint16_t port;
        Watch watch, del;
        VM *vm;

        vm = world_init_failed_launch(&w, &watch, job);
        port = vm->record.ssh_port;
        finish(&w, FAKE_REMOVE, "web", -EIO, "remove failed: instance busy");
        ASSERT_DONE(watch, -EIO, "launch failed: disk full");
        ASSERT_TRUE(watch.vm == vm);
        ASSERT_EQ_INT(watch.vm_state, VM_ERROR);
        ASSERT_STREQ(stored_vm(&w, "web"), "error (Launch failed and cleaning up failed too: remove failed: instance busy)");
        ASSERT_STREQ(stored_job(&w, job), "failed (launch failed: disk full)");
        ASSERT_STREQ(world_events(&w, "web"),
                     "new creating, changed error (Launch failed and cleaning up failed too: remove failed: instance busy)");
        /* In error it holds no resources, but its port until it is deleted. */
        ASSERT_VMS_HOLD(&w, 0);
        ASSERT_TRUE(create(&w, &dbus_caller, "other", NULL)->record.ssh_port != port);
        finish(&w, FAKE_LAUNCH, "other", 0, NULL);

        /* An admin deletes it, and this time the driver manages. */
        act(&w, manager_delete_vm, vm, &del);
        finish(&w, FAKE_REMOVE, "web", 0, NULL);
        ASSERT_DONE(del, 0, NULL);
        ASSERT_STREQ(stored_vm(&w, "web"), "none");
        ASSERT_VMS_HOLD(&w, 1);
}

/* ---- 4. a launch refused at once ---- */

TEST(launch_refused_at_once_completes_later) {
        static const struct {
                int error;
                bool cleanup; /* whether something may have been made, so is removed */
                const char *calls;
        } rows[] = {
                { -EIO, true, "launch web, remove web" },
                { -EHOSTDOWN, false, "launch web" },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                _cleanup_(world_done) World w = {};
                char job[JOB_ID_LEN + 1];
                Watch watch;
                VM *vm;

                TEST_CONTEXT("launch fails with %s", strerror(-rows[i].error));
                world_init(&w);
                w.driver.fail_at_once[FAKE_LAUNCH] = rows[i].error;
                vm = create(&w, &dbus_caller, "web", &watch);
                strcpy(job, vm->record.job_id);
                /* The call returned with a live operation, which has not completed. */
                ASSERT_EQ_UINT(watch.n_done, 0);

                ASSERT_TRUE(world_step(&w) > 0);
                if (rows[i].cleanup) {
                        ASSERT_EQ_UINT(watch.n_done, 0);
                        finish(&w, FAKE_REMOVE, "web", 0, NULL);
                }
                ASSERT_DONE(watch, rows[i].error, strerror(-rows[i].error));
                ASSERT_NULL(watch.vm);
                ASSERT_STREQ(w.driver.calls, rows[i].calls);
                ASSERT_NULL(manager_get_vm(w.manager, "web"));
                ASSERT_STREQ(stored_vm(&w, "web"), "none");
                ASSERT_STR_CONTAINS(stored_job(&w, job), "failed");
                ASSERT_VMS_HOLD(&w, 0);
        }
}

/* ---- 5. delete while creating ---- */

TEST(delete_interrupts_cancellable_launch) {
        _cleanup_(world_done) World w = {};
        char job[JOB_ID_LEN + 1];
        Watch watch, del;
        VM *vm;

        world_init(&w);
        w.driver.ops.launch_cancellable = true;
        vm = create(&w, &dbus_caller, "web", &watch);
        strcpy(job, vm->record.job_id);

        act(&w, manager_delete_vm, vm, &del);
        ASSERT_EQ_INT(vm->record.state, VM_DELETING);
        ASSERT_STREQ(w.driver.calls, "launch web, cancel launch web, remove web");
        world_settle(&w);
        ASSERT_EQ_UINT(watch.n_done + del.n_done, 0);

        finish(&w, FAKE_REMOVE, "web", 0, NULL);
        ASSERT_DONE(watch, -ECANCELED, "Deleted while it was being created");
        ASSERT_NULL(watch.vm);
        ASSERT_DONE(del, 0, NULL);
        ASSERT_NULL(del.vm);
        ASSERT_STREQ(stored_vm(&w, "web"), "none");
        ASSERT_STREQ(stored_job(&w, job), "failed (Deleted while it was being created)");
        /* Told at once that it is being deleted, and why; at last that it is gone. */
        ASSERT_STR_CONTAINS(world_events(&w, "web"), "new creating, changed deleting (Deleted while it was being created), ");
        ASSERT_STR_CONTAINS(world_events(&w, "web"), ", removed deleting (Deleted while it was being created)");
        ASSERT_VMS_HOLD(&w, 0);
}

TEST(delete_waits_for_uncancellable_launch) {
        _cleanup_(world_done) World w = {};
        Watch watch;
        VM *vm;

        world_init(&w);
        fake_set_vm(&w.driver, "web", DRIVER_VM_RUNNING, "10.0.0.5");
        vm = create(&w, &dbus_caller, "web", &watch);

        ASSERT_ERROR(manager_delete_vm(w.manager, &dbus_caller, vm, NULL), EBUSY);
        ASSERT_EQ_INT(vm->record.state, VM_CREATING);
        ASSERT_STREQ(w.driver.calls, "launch web");

        finish(&w, FAKE_LAUNCH, "web", 0, NULL);
        ASSERT_DONE(watch, 0, NULL);
}

/* ---- 6. stop and start ---- */

TEST(stop_then_start) {
        _cleanup_(world_done) World w = {};
        Watch stop, start;
        VM *vm;

        vm = world_init_running(&w);

        act(&w, manager_stop_vm, vm, &stop);
        ASSERT_EQ_INT(vm->record.state, VM_STOPPING);
        ASSERT_STREQ(stored_vm(&w, "web"), "stopping");
        ASSERT_ERROR(manager_stop_vm(w.manager, &dbus_caller, vm, NULL), EBUSY);
        finish(&w, FAKE_STOP, "web", 0, NULL);
        ASSERT_DONE(stop, 0, NULL);
        ASSERT_EQ_INT(stop.vm_state, VM_STOPPED);
        ASSERT_STREQ(stored_vm(&w, "web"), "stopped");
        ASSERT_ERROR(manager_stop_vm(w.manager, &dbus_caller, vm, NULL), EBUSY);
        ASSERT_VMS_HOLD(&w, 1);

        act(&w, manager_start_vm, vm, &start);
        ASSERT_EQ_INT(vm->record.state, VM_STARTING);
        finish(&w, FAKE_START, "web", 0, NULL);
        ASSERT_DONE(start, 0, NULL);
        ASSERT_EQ_INT(start.vm_state, VM_RUNNING);
        ASSERT_STREQ(stored_vm(&w, "web"), "running");
        ASSERT_STREQ(w.driver.calls, "stop web, start web, info web");
        ASSERT_STREQ(world_events(&w, "web"), "changed stopping, changed stopped, changed starting, changed running");
        ASSERT_VMS_HOLD(&w, 1);
}

TEST(failed_stop_leaves_vm_running) {
        _cleanup_(world_done) World w = {};
        Watch stop;
        VM *vm;

        vm = world_init_running(&w);

        act(&w, manager_stop_vm, vm, &stop);
        finish(&w, FAKE_STOP, "web", -EIO, "stop failed: the guest did not shut down");
        ASSERT_DONE(stop, -EIO, "stop failed: the guest did not shut down");
        ASSERT_EQ_INT(stop.vm_state, VM_RUNNING);
        ASSERT_STREQ(stored_vm(&w, "web"), "running (stop failed: the guest did not shut down)");
        ASSERT_STREQ(world_events(&w, "web"), "changed stopping, changed running (stop failed: the guest did not shut down)");
        ASSERT_VMS_HOLD(&w, 1);

        /* A stop the driver refuses at once is told on a later iteration too. */
        w.driver.fail_at_once[FAKE_STOP] = -EIO;
        act(&w, manager_stop_vm, vm, &stop);
        ASSERT_EQ_UINT(stop.n_done, 0);
        world_settle(&w);
        ASSERT_DONE(stop, -EIO, "stop failed: Input/output error");
        ASSERT_EQ_INT(vm->record.state, VM_RUNNING);
}

TEST(start_of_vanished_vm_is_an_error) {
        _cleanup_(world_done) World w = {};
        Watch stop, start;
        VM *vm;

        vm = world_init_running(&w);
        act(&w, manager_stop_vm, vm, &stop);
        finish(&w, FAKE_STOP, "web", 0, NULL);

        act(&w, manager_start_vm, vm, &start);
        finish(&w, FAKE_START, "web", -ENOENT, "instance \"golem-web\" does not exist");
        ASSERT_DONE(start, -EIO, "instance \"golem-web\" does not exist");
        ASSERT_EQ_INT(start.vm_state, VM_ERROR);
        ASSERT_STREQ(stored_vm(&w, "web"), "error (The VM no longer exists in the hypervisor)");
        ASSERT_VMS_HOLD(&w, 0);
}

/* ---- 6b. the store full: nothing changes, nothing is acted on ---- */

/* A new world whose state directory is a small tmpfs of its own (in a private mount
 * namespace), so that it can be filled to the brim, where VM web runs and VM cache is
 * stopped; what led there is forgotten. False where that cannot be had (not root): the test
 * is skipped. */
static bool world_init_small_disk(World *w, VM **ret_web, VM **ret_cache) {
        Watch stop;

        world_setup(w);
        if (unshare(CLONE_NEWNS) < 0) {
                fprintf(stderr, "Skipped: no mount namespace (%m).\n");
                return false;
        }
        ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ? -errno : 0);
        ASSERT_OK(mkdir(w->settings.vm_data_dir, 0700) < 0 ? -errno : 0);
        ASSERT_OK(mount("tmpfs", w->settings.vm_data_dir, "tmpfs", 0, "size=2m,mode=0700") < 0 ? -errno : 0);
        world_start(w);

        *ret_web = bring_up(w, &dbus_caller, "web", "10.0.0.5");
        *ret_cache = bring_up(w, &dbus_caller, "cache", "10.0.0.6");
        act(w, manager_stop_vm, *ret_cache, &stop);
        finish(w, FAKE_STOP, "cache", 0, NULL);
        world_forget(w);
        return true;
}

/* Fills the state directory's disk to the last byte (full: true), or frees it again. */
static void disk_set_full(World *w, bool full) {
        _cleanup_free_ char *path = NULL;
        static const char block[4096];
        int fd;

        ASSERT_TRUE(asprintf(&path, "%s/filler", w->settings.vm_data_dir) >= 0);
        if (!full) {
                ASSERT_OK(unlink(path) < 0 ? -errno : 0);
                return;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_OK(fd < 0 ? -errno : 0);
        for (size_t size = sizeof(block); size > 0; size /= 2)
                while (write(fd, block, size) == (ssize_t) size)
                        ;
        ASSERT_EQ_INT(errno, ENOSPC);
        close(fd);
}

TEST(full_store_refuses_changes_and_recovers) {
        _cleanup_(world_done) World w = {};
        VMCreateRequest req = create_request("db");
        char reason[256] = "";
        Watch stop;
        VM *vm, *stopped;

        if (!world_init_small_disk(&w, &vm, &stopped))
                return;

        disk_set_full(&w, true);
        ASSERT_ERROR(manager_stop_vm(w.manager, &rest_anonymous, vm, NULL), EDQUOT);
        ASSERT_ERROR(manager_delete_vm(w.manager, &dbus_caller, vm, NULL), EDQUOT);
        ASSERT_ERROR(manager_start_vm(w.manager, &dbus_caller, stopped, NULL), EDQUOT);
        ASSERT_ERROR(manager_create_vm(w.manager, &dbus_caller, &req, NULL, NULL, reason, sizeof(reason)), EDQUOT);
        ASSERT_STREQ(reason, "The state store failed: its disk is full");
        world_settle(&w);

        /* Nothing was asked of the hypervisor, nothing changed, nobody heard of a change. */
        ASSERT_STREQ(w.driver.calls, "");
        ASSERT_EQ_UINT(w.n_events, 0);
        ASSERT_EQ_INT(vm->record.state, VM_RUNNING);
        ASSERT_EQ_INT(stopped->record.state, VM_STOPPED);
        ASSERT_NULL(manager_get_vm(w.manager, "db"));
        ASSERT_EQ_INT(manager_store_error(w.manager), -EDQUOT);
        ASSERT_VMS_HOLD(&w, 2);
        ASSERT_STREQ(stored_vm(&w, "web"), "running");
        ASSERT_STREQ(stored_vm(&w, "cache"), "stopped");
        ASSERT_STREQ(stored_vm(&w, "db"), "none");
        disk_set_full(&w, false);

        /* Space again: the same requests go through, no restart needed. */
        act(&w, manager_stop_vm, vm, &stop);
        ASSERT_EQ_INT(manager_store_error(w.manager), 0);
        ASSERT_STREQ(stored_vm(&w, "web"), "stopping");
        finish(&w, FAKE_STOP, "web", 0, NULL);
        ASSERT_DONE(stop, 0, NULL);
        ASSERT_STREQ(stored_vm(&w, "web"), "stopped");
        ASSERT_STREQ(w.driver.calls, "stop web");
}

/* What the hypervisor did is so whether or not the store takes it: a stop that completes while
 * the store is full leaves the VM stopped, and the record follows once the store works. */
TEST(full_store_keeps_facts_and_writes_them_later) {
        _cleanup_(world_done) World w = {};
        Watch stop, start;
        VM *vm, *other;

        if (!world_init_small_disk(&w, &vm, &other))
                return;

        act(&w, manager_stop_vm, vm, &stop);
        disk_set_full(&w, true);
        finish(&w, FAKE_STOP, "web", 0, NULL);
        ASSERT_DONE(stop, 0, NULL);
        ASSERT_EQ_INT(vm->record.state, VM_STOPPED);
        ASSERT_EQ_INT(manager_store_error(w.manager), -EDQUOT);
        ASSERT_STREQ(stored_vm(&w, "web"), "stopping");
        disk_set_full(&w, false);

        /* The next write that succeeds writes the rest too. */
        act(&w, manager_start_vm, other, &start);
        ASSERT_EQ_INT(manager_store_error(w.manager), 0);
        ASSERT_STREQ(stored_vm(&w, "web"), "stopped");
        ASSERT_STREQ(stored_vm(&w, "cache"), "starting");
        finish(&w, FAKE_START, "cache", 0, NULL);
        ASSERT_DONE(start, 0, NULL);
}

/* ---- 7. a restart: records compared with the driver's list ---- */

TEST(restart_adopts_and_finishes) {
        _cleanup_(world_done) World w = {};
        char job[JOB_ID_LEN + 1], failing_job[JOB_ID_LEN + 1];
        VM *vm;

        /* A first provider leaves: a create, a stop, a delete and the clean-up of a failed create
         * under way, and a VM running. */
        world_init(&w);
        strcpy(job, create(&w, &dbus_caller, "creating", NULL)->record.job_id);
        ASSERT_OK(manager_stop_vm(w.manager, NULL, bring_up(&w, &dbus_caller, "stopping", "10.0.0.2"), NULL));
        ASSERT_OK(manager_delete_vm(w.manager, NULL, bring_up(&w, &dbus_caller, "deleting", "10.0.0.3"), NULL));
        bring_up(&w, &dbus_caller, "lost", "10.0.0.4");
        strcpy(failing_job, create(&w, &dbus_caller, "failing", NULL)->record.job_id);
        finish(&w, FAKE_LAUNCH, "failing", -EIO, "launch failed: disk full");
        world_stop(&w);
        ASSERT_STREQ(stored_vm(&w, "creating"), "creating");
        ASSERT_STREQ(stored_vm(&w, "stopping"), "stopping");
        ASSERT_STREQ(stored_vm(&w, "deleting"), "deleting");
        ASSERT_STREQ(stored_vm(&w, "failing"), "deleting (launch failed: disk full)");
        ASSERT_STREQ(stored_job(&w, failing_job), "creating");

        /* Meanwhile the launch finished, a VM vanished and someone made one of their own. */
        fake_set_vm(&w.driver, "creating", DRIVER_VM_RUNNING, "10.0.0.1");
        fake_set_vm(&w.driver, "lost", DRIVER_VM_DELETED, NULL);
        fake_set_vm(&w.driver, "stranger", DRIVER_VM_RUNNING, "10.0.0.9");
        world_forget(&w);
        world_start(&w);
        ASSERT_VMS_HOLD(&w, 5);
        ASSERT_OK(reconciler_new(w.manager, &w.reconciler));
        world_settle(&w);

        /* One list; the stop and the delete are asked for again; nothing touches the stranger. */
        ASSERT_STREQ(w.driver.calls, "list, stop stopping, remove deleting, remove failing");
        vm = manager_get_vm(w.manager, "creating");
        ASSERT_EQ_INT(vm->record.state, VM_RUNNING);
        ASSERT_STREQ(vm->record.ip_address, "10.0.0.1");
        ASSERT_STREQ(stored_job(&w, job), "ready");
        ASSERT_STREQ(stored_vm(&w, "lost"), "error (The hypervisor lost this VM)");
        ASSERT_NULL(manager_get_vm(w.manager, "stranger"));

        finish(&w, FAKE_STOP, "stopping", 0, NULL);
        finish(&w, FAKE_REMOVE, "deleting", 0, NULL);
        finish(&w, FAKE_REMOVE, "failing", 0, NULL);
        ASSERT_STREQ(stored_vm(&w, "creating"), "running");
        ASSERT_STREQ(stored_vm(&w, "stopping"), "stopped");
        ASSERT_STREQ(stored_vm(&w, "deleting"), "none");
        ASSERT_STREQ(stored_vm(&w, "failing"), "none");
        /* Its job says why once the name is free, not "creating" for ever. */
        ASSERT_STREQ(stored_job(&w, failing_job), "failed (launch failed: disk full)");
        ASSERT_STREQ(world_events(&w, "creating"), "changed running");
        ASSERT_STREQ(world_events(&w, "stopping"), "changed stopping, changed stopped");
        ASSERT_STREQ(world_events(&w, "deleting"), "changed deleting, removed deleting");
        ASSERT_STREQ(world_events(&w, "failing"),
                     "changed deleting (launch failed: disk full), removed deleting (launch failed: disk full)");
        ASSERT_STREQ(world_events(&w, "lost"), "changed error (The hypervisor lost this VM)");
        ASSERT_EQ_UINT(manager_n_vms(w.manager), 3);
        ASSERT_VMS_HOLD(&w, 2);
}

/* ---- 7b. what the renter asked for comes back after a reboot ---- */

TEST(desired_state_follows_the_renter) {
        _cleanup_(world_done) World w = {};
        Watch stop, start;
        VM *vm;

        vm = world_init_running(&w);
        ASSERT_STREQ(stored_desired(&w, "web"), "running");
        act(&w, manager_stop_vm, vm, &stop);
        ASSERT_STREQ(stored_desired(&w, "web"), "stopped");
        finish(&w, FAKE_STOP, "web", 0, NULL);
        act(&w, manager_start_vm, vm, &start);
        ASSERT_STREQ(stored_desired(&w, "web"), "running");
        finish(&w, FAKE_START, "web", 0, NULL);
        ASSERT_STREQ(stored_desired(&w, "web"), "running");
}

/* The provider stops and starts again, and compares its records with the driver's list; what
 * led there is forgotten. */
static void world_restart(World *w) {
        world_stop(w);
        world_forget(w);
        world_start(w);
        ASSERT_OK(reconciler_new(w->manager, &w->reconciler));
        world_settle(w);
}

/* A provider with VMs a, b and c running and d stopped by its renter goes down with its host:
 * the hypervisor has all four stopped when it starts again (AutostartVMs=autostart). */
static void world_init_rebooted(World *w, bool autostart) {
        static const char *const names[] = { "a", "b", "c", "d" };
        Watch stop;

        world_init(w);
        w->settings.autostart_vms = autostart;
        bring_up(w, &dbus_caller, "a", "10.0.0.1");
        bring_up(w, &dbus_caller, "b", "10.0.0.2");
        bring_up(w, &dbus_caller, "c", "10.0.0.3");
        act(w, manager_stop_vm, bring_up(w, &dbus_caller, "d", "10.0.0.4"), &stop);
        finish(w, FAKE_STOP, "d", 0, NULL);
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                fake_set_vm(&w->driver, names[i], DRIVER_VM_STOPPED, NULL);
        world_restart(w);
}

TEST(restart_restores_running_vms_two_at_a_time) {
        _cleanup_(world_done) World w = {};

        world_init_rebooted(&w, true);
        /* Two at a time; the one its renter stopped stays stopped. */
        ASSERT_STREQ(w.driver.calls, "list, start a, start b");
        ASSERT_EQ_INT(manager_get_vm(w.manager, "a")->record.state, VM_STARTING);
        ASSERT_EQ_INT(manager_get_vm(w.manager, "c")->record.state, VM_STOPPED);
        ASSERT_STREQ(stored_last_job(&w, "a"), "restore starting");
        ASSERT_STREQ(stored_desired(&w, "c"), "running");

        fake_set_vm(&w.driver, "a", DRIVER_VM_RUNNING, "10.0.0.1");
        finish(&w, FAKE_START, "a", 0, NULL);
        ASSERT_STREQ(w.driver.calls, "list, start a, start b, info a, start c");
        ASSERT_STREQ(stored_vm(&w, "a"), "running");
        ASSERT_STREQ(stored_last_job(&w, "a"), "restore ready");

        finish(&w, FAKE_START, "b", 0, NULL);
        finish(&w, FAKE_START, "c", 0, NULL);
        ASSERT_STREQ(stored_vms(&w), "a running, b running, c running, d stopped");
        ASSERT_STREQ(stored_desired(&w, "d"), "stopped");
        ASSERT_STREQ(stored_last_job(&w, "d"), "create ready");
        ASSERT_NULL(fake_pending(&w.driver, FAKE_START, "d"));
        ASSERT_VMS_HOLD(&w, 4);
}

TEST(restart_without_autostart_leaves_vms_stopped) {
        _cleanup_(world_done) World w = {};

        world_init_rebooted(&w, false);
        ASSERT_STREQ(w.driver.calls, "list");
        ASSERT_STREQ(stored_vm(&w, "a"), "stopped");
        ASSERT_STREQ(stored_desired(&w, "a"), "running");
}

/* Runs the loop, waiting for timers, until the driver has a call of name pending or
 * timeout_sec passed; returns how long that took. */
static usec_t world_wait_for_call(World *w, FakeCall call, const char *name, unsigned timeout_sec) {
        usec_t start = now_monotonic();

        while (!fake_pending(&w->driver, call, name)) {
                ASSERT_TRUE(now_monotonic() < start + timeout_sec * USEC_PER_SEC);
                ASSERT_OK(sd_event_run(w->event, 100 * USEC_PER_MSEC));
        }
        return now_monotonic() - start;
}

TEST(failed_restore_is_error_and_tried_again) {
        _cleanup_(world_done) World w = {};
        usec_t waited;

        world_init_rebooted(&w, true);
        finish(&w, FAKE_START, "a", -EIO, "qemu: could not open the disk");
        ASSERT_STREQ(stored_vm(&w, "a"),
                     "error (Could not start the VM again after the provider restarted: qemu: could not open the disk)");
        ASSERT_STREQ(stored_last_job(&w, "a"),
                     "restore failed (Could not start the VM again after the provider restarted: qemu: could not open the disk)");
        /* The free slot goes to the next VM; a is tried again after 10 s. */
        ASSERT_STREQ(w.driver.calls, "list, start a, start b, start c");
        finish(&w, FAKE_START, "b", 0, NULL);
        finish(&w, FAKE_START, "c", 0, NULL);

        waited = world_wait_for_call(&w, FAKE_START, "a", 15);
        ASSERT_TRUE(waited >= 9 * USEC_PER_SEC);
        ASSERT_EQ_INT(manager_get_vm(w.manager, "a")->record.state, VM_STARTING);
        ASSERT_STREQ(stored_last_job(&w, "a"), "restore starting");
        finish(&w, FAKE_START, "a", 0, NULL);
        ASSERT_STREQ(stored_vm(&w, "a"), "running");
        ASSERT_STREQ(stored_last_job(&w, "a"), "restore ready");
        ASSERT_STREQ(stored_vm(&w, "d"), "stopped");
        ASSERT_VMS_HOLD(&w, 4);
}

/* A VM whose restore failed holds nothing; a create may take its resources meanwhile, and the
 * next restore does not overcommit them: it waits until they are free. */
TEST(failed_restore_does_not_overcommit) {
        _cleanup_(world_done) World w = {};
        VMCreateRequest big = create_request("big");
        char reason[256] = "";
        Watch del;

        world_init_rebooted(&w, true);
        finish(&w, FAKE_START, "a", -EIO, "qemu: could not open the disk");
        finish(&w, FAKE_START, "b", 0, NULL);
        finish(&w, FAKE_START, "c", 0, NULL);
        big.resources = manager_available(w.manager);
        fake_set_vm(&w.driver, "big", DRIVER_VM_RUNNING, "10.0.0.9");
        ASSERT_OK(manager_create_vm(w.manager, &dbus_caller, &big, NULL, NULL, reason, sizeof(reason)));
        finish(&w, FAKE_LAUNCH, "big", 0, NULL);

        /* A restart: a is due again at once, but there is no room for it. */
        fake_set_vm(&w.driver, "b", DRIVER_VM_RUNNING, "10.0.0.2");
        fake_set_vm(&w.driver, "c", DRIVER_VM_RUNNING, "10.0.0.3");
        world_restart(&w);
        ASSERT_STREQ(w.driver.calls, "list");
        ASSERT_EQ_INT(manager_get_vm(w.manager, "a")->record.state, VM_ERROR);
        ASSERT_EQ_INT(manager_available(w.manager).cpu, 0);

        /* Room again, and another restart: it comes back. */
        act(&w, manager_delete_vm, manager_get_vm(w.manager, "big"), &del);
        finish(&w, FAKE_REMOVE, "big", 0, NULL);
        world_restart(&w);
        ASSERT_STREQ(w.driver.calls, "list, start a");
}

/* ---- 8. watchers ---- */

TEST(unwatched_watcher_is_not_told) {
        _cleanup_(world_done) World w = {};
        Watch answered, gone, stays;
        Operation *op = NULL;
        VMCreateRequest req = create_request("web");
        char reason[256];

        world_init(&w);
        fake_set_vm(&w.driver, "web", DRIVER_VM_RUNNING, "10.0.0.5");
        ASSERT_OK(manager_create_vm(w.manager, &dbus_caller, &req, NULL, &op, reason, sizeof(reason)));
        watch_op(op, &answered);
        answered.leave_on_progress = true;
        watch_op(op, &gone);
        watch_op(op, &stays);

        /* Its request went away. */
        operation_unwatch(op, gone.watcher);
        ASSERT_EQ_UINT(gone.n_freed, 1);

        fake_progress(&w, "web", 10, "Preparing");
        ASSERT_EQ_UINT(answered.n_progress, 1);
        ASSERT_EQ_UINT(answered.n_freed, 1);
        ASSERT_EQ_UINT(stays.n_progress, 1);

        finish(&w, FAKE_LAUNCH, "web", 0, NULL);
        ASSERT_DONE(stays, 0, NULL);
        ASSERT_EQ_UINT(answered.n_done + gone.n_progress + gone.n_done, 0);
        ASSERT_EQ_UINT(answered.n_freed + gone.n_freed, 2);
}

TEST(freeing_manager_lets_watchers_go) {
        _cleanup_(world_done) World w = {};
        Watch create_watch, stop_watch;

        world_init(&w);
        create(&w, &dbus_caller, "creating", &create_watch);
        act(&w, manager_stop_vm, bring_up(&w, &dbus_caller, "stopping", "10.0.0.2"), &stop_watch);

        /* The driver's calls are cancelled (fake_free() checks) and nobody is answered. */
        world_stop(&w);
        ASSERT_EQ_UINT(create_watch.n_freed, 1);
        ASSERT_EQ_UINT(create_watch.n_done, 0);
        ASSERT_EQ_UINT(stop_watch.n_freed, 1);
        ASSERT_EQ_UINT(stop_watch.n_done, 0);
        ASSERT_STR_CONTAINS(w.driver.calls, "cancel launch creating");
        ASSERT_STR_CONTAINS(w.driver.calls, "cancel stop stopping");
}

/* ---- 9. who may act on a VM ---- */

TEST(callers_act_on_their_own_vms) {
        static const ActionFn actions[] = { manager_start_vm, manager_stop_vm, manager_delete_vm };
        _cleanup_(world_done) World w = {};
        Watch watch;
        VM *owned, *unowned;

        world_init(&w);
        owned = bring_up(&w, &rest_b, "owned", "10.0.0.2");
        unowned = bring_up(&w, &rest_anonymous, "unowned", "10.0.0.3");
        ASSERT_STREQ(owned->record.owner, rest_b.identity);
        ASSERT_NULL(unowned->record.owner);
        world_forget(&w);

        /* Refused before anything else is looked at (the start of a running VM, too). An
         * unowned VM is the anonymous callers' (AllowUnsignedRequests=): a signed caller owns
         * only what it signed. */
        for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
                TEST_CONTEXT("action %zu", i);
                ASSERT_ERROR(actions[i](w.manager, &rest_a, owned, NULL), EPERM);
                ASSERT_ERROR(actions[i](w.manager, &rest_anonymous, owned, NULL), EPERM);
                ASSERT_ERROR(actions[i](w.manager, &rest_a, unowned, NULL), EPERM);
        }
        ASSERT_STREQ(w.driver.calls, "");
        ASSERT_EQ_INT(owned->record.state, VM_RUNNING);

        /* The owner, an anonymous caller on an unowned VM and a D-Bus caller on any. */
        ASSERT_OK(manager_stop_vm(w.manager, &rest_b, owned, NULL));
        finish(&w, FAKE_STOP, "owned", 0, NULL);
        ASSERT_OK(manager_stop_vm(w.manager, &rest_anonymous, unowned, NULL));
        finish(&w, FAKE_STOP, "unowned", 0, NULL);
        ASSERT_OK(manager_delete_vm(w.manager, &rest_anonymous, unowned, NULL));
        finish(&w, FAKE_REMOVE, "unowned", 0, NULL);
        act(&w, manager_start_vm, owned, &watch);
        finish(&w, FAKE_START, "owned", 0, NULL);
        ASSERT_DONE(watch, 0, NULL);
        ASSERT_STREQ(w.driver.calls, "stop owned, stop unowned, remove unowned, start owned, info owned");
}

/* ---- the metrics (provider-metrics.c) over the same manager ---- */

/* The driver wrapped to count its failures, as the daemon runs it with Metrics=yes: calls,
 * answers and cancels pass through, failures are counted by operation, and creates by how they
 * ended. */
TEST(metrics_follow_creates_and_driver_failures) {
        _cleanup_(metrics_freep) Metrics *registry = NULL;
        _cleanup_(provider_metrics_freep) ProviderMetrics *pm = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_(world_done) World w = {};   /* last: done first, while pm lives */
        Driver *counted;
        Watch watch, del;
        VM *vm;

        world_setup(&w);
        ASSERT_OK(metrics_new(&registry));
        ASSERT_OK(provider_metrics_new(registry, &pm));
        w.driver.driver = (Driver) { .ops = &w.driver.ops };
        w.driver.event = w.event;
        w.driver.ops.launch_cancellable = true;
        ASSERT_OK(provider_metrics_wrap_driver(pm, &w.driver.driver, &counted));
        ASSERT_STREQ(counted->ops->name, "fake");
        ASSERT_TRUE(counted->ops->launch_cancellable && counted->ops->forwards_ssh);
        ASSERT_NULL(counted->ops->set_keys);
        ASSERT_OK(manager_new(w.event, &w.settings, w.runner, counted, &w.manager));
        ASSERT_OK(manager_add_listener(w.manager, on_vm_event, &w));
        ASSERT_OK(manager_start(w.manager));
        ASSERT_OK(provider_metrics_follow(pm, w.manager, NULL));

        /* A create that runs: its launch and its info answered through the wrapper. */
        bring_up(&w, &dbus_caller, "web", "10.0.0.5");
        ASSERT_STREQ(world_events(&w, "web"), "new creating, changed running");

        /* A launch that fails, one refused at once, and one a delete interrupts. */
        vm = create(&w, &dbus_caller, "bad", &watch);
        finish(&w, FAKE_LAUNCH, "bad", -EIO, "launch failed: disk full");
        finish(&w, FAKE_REMOVE, "bad", 0, NULL);
        ASSERT_DONE(watch, -EIO, "launch failed: disk full");
        w.driver.fail_at_once[FAKE_LAUNCH] = -EHOSTDOWN;
        create(&w, &dbus_caller, "down", &watch);
        world_settle(&w);
        ASSERT_DONE(watch, -EHOSTDOWN, strerror(EHOSTDOWN));
        w.driver.fail_at_once[FAKE_LAUNCH] = 0;
        world_forget(&w);
        vm = create(&w, &dbus_caller, "gone", &watch);
        act(&w, manager_delete_vm, vm, &del);
        ASSERT_STREQ(w.driver.calls, "launch gone, cancel launch gone, remove gone");
        finish(&w, FAKE_REMOVE, "gone", 0, NULL);
        ASSERT_DONE(del, 0, NULL);
        ASSERT_VMS_HOLD(&w, 1);

        ASSERT_OK(metrics_render(registry, &text, NULL));
        ASSERT_STR_CONTAINS(text, "golem_provider_driver_errors_total{driver=\"fake\",operation=\"launch\"} 2\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_driver_errors_total{driver=\"fake\",operation=\"remove\"} 0\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_driver_errors_total{driver=\"fake\",operation=\"info\"} 0\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_vm_create_duration_seconds_count 1\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_vm_create_failures_total 3\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_vms{state=\"running\"} 1\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_vms{state=\"creating\"} 0\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_free_cpus 7\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_free_memory_bytes 15032385536\n");   /* 14 GiB */
        ASSERT_STR_CONTAINS(text, "golem_provider_capacity_storage_bytes 107374182400\n");
        ASSERT_STR_CONTAINS(text, "golem_provider_advertiser_last_success_timestamp_seconds 0\n");
}
