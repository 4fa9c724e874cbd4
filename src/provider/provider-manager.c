/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "log.h"
#include "provider-auth.h"
#include "provider-forward.h"
#include "provider-manager-internal.h"

/* The VM state machine. Every operation reads top to bottom here: a request is checked,
 * its transition saved, the driver called; the driver's answer settles the VM and completes
 * the operation the caller watches. Recovery after a restart is in provider-reconcile.c. */

#define JOB_RETENTION_USEC (7 * 24 * 3600 * USEC_PER_SEC)
#define STORE_RETRY_USEC (5 * USEC_PER_SEC)

/* ---- what front ends may ask ---- */

void manager_emit(Manager *m, VM *vm, VMEvent event) {
        m->generation++; /* whatever changed, cached renderings are stale now */
        for (size_t i = 0; i < m->n_listeners; i++)
                m->listeners[i].fn(m, vm, event, m->listeners[i].userdata);
}

int manager_add_listener(Manager *m, VMListener fn, void *userdata) {
        if (m->n_listeners >= ELEMENTSOF(m->listeners))
                return -E2BIG;
        m->listeners[m->n_listeners].fn = fn;
        m->listeners[m->n_listeners].userdata = userdata;
        m->n_listeners++;
        return 0;
}

VM *manager_vms(Manager *m) {
        return m->vms;
}

size_t manager_n_vms(const Manager *m) {
        return m->n_vms;
}

VM *manager_get_vm(Manager *m, const char *name) {
        if (!name)
                return NULL;
        LIST_FOREACH(vms, vm, m->vms)
                if (streq(vm->record.name, name))
                        return vm;
        return NULL;
}

VM *manager_removing_vm(Manager *m) {
        return m->removing;
}

uint64_t manager_generation(const Manager *m) {
        return m->generation;
}

bool manager_caller_owns(const Caller *c, const VM *vm) {
        /* Callers the front end already authorized (D-Bus, after polkit) may act. Over REST
         * an unowned VM is the anonymous callers' (AllowUnsignedRequests=), and an owned one
         * its owner's alone: identity NULL matches owner NULL only. */
        if (!c || c->kind != CALLER_REST)
                return true;
        return streq_ptr(c->identity, vm->record.owner);
}

int manager_load_job(Manager *m, const char *job_id, Job *ret) {
        return provider_store_load_job(m->store, job_id, ret);
}

int manager_load_vm_jobs(Manager *m, VM *vm, Job **ret, size_t *ret_n) {
        return provider_store_load_jobs(m->store, vm->record.name, ret, ret_n);
}

Resources manager_capacity(const Manager *m) {
        return m->ledger.capacity;
}

Resources manager_available(const Manager *m) {
        return ledger_available(&m->ledger);
}

bool manager_can_offer(const Manager *m) {
        return ledger_can_offer(&m->ledger);
}

const char *manager_provider_id(const Manager *m) {
        return m->provider_id;
}

bool manager_provider_id_verifiable(const Manager *m) {
        return m->provider_id_verifiable;
}

const SshKey *manager_provider_key(const Manager *m) {
        return m->key;
}

const char *manager_public_key(const Manager *m) {
        return m->public_key;
}

const char *manager_provider_name(const Manager *m) {
        return m->provider_name;
}

const char *manager_platform(const Manager *m) {
        return m->platform[0] ? m->platform : NULL;
}

const char *manager_driver_name(const Manager *m) {
        return m->driver ? m->driver->ops->name : NULL;
}

int manager_store_error(const Manager *m) {
        return m->store_error;
}

void manager_set_store_watch(Manager *m, StoreWatchFn fn, void *userdata) {
        m->store_watch = fn;
        m->store_watch_userdata = userdata;
}

/* ---- the store's health ---- */

static int store_note(Manager *m, int r);

/* Writes what the store could not take before: the records of VMs that changed meanwhile,
 * the removal of deleted ones. Stops at the first failure, which it returns. */
static int store_flush(Manager *m) {
        int r;

        LIST_FOREACH(vms, vm, m->vms)
                if (vm->unsaved) {
                        r = provider_store_save_vm(m->store, &vm->record);
                        if (r < 0)
                                return r;
                        vm->unsaved = false;
                }
        while (m->n_unremoved > 0) {
                r = provider_store_remove_vm(m->store, m->unremoved[m->n_unremoved - 1]);
                if (r < 0 && r != -ENOENT)
                        return r;
                free(m->unremoved[--m->n_unremoved]);
        }
        return 0;
}

static int on_store_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        char now[32];

        m->store_retry = sd_event_source_disable_unref(m->store_retry);
        snprintf(now, sizeof(now), "%" PRIu64, now_realtime());
        (void) store_note(m, provider_store_set_meta(m->store, "checked_at", now));
        return 0;
}

/* Every write to the store reports here. The first failure is logged and announced, once,
 * not per request, and a write is tried every few seconds until one succeeds; then what was
 * left unwritten is written, and the recovery is told once too. Returns r. */
static int store_note(Manager *m, int r) {
        int k;

        if (r >= 0 || r == -ENOENT) {
                if (m->store_error == 0)
                        return r;
                m->store_error = 0;
                m->store_retry = sd_event_source_disable_unref(m->store_retry);
                log_struct(LOG_NOTICE,
                           "MESSAGE_ID=" GOLEM_MESSAGE_STORE_RECOVERED,
                           "MESSAGE=The state store takes writes again.");
                if (m->store_watch)
                        m->store_watch(m, 0, m->store_watch_userdata);
                (void) store_note(m, store_flush(m)); /* failing again: told again */
                return r;
        }

        if (m->store_error == 0) {
                log_struct_errno(LOG_ERR, r,
                                 "MESSAGE_ID=" GOLEM_MESSAGE_STORE_FAILED,
                                 "MESSAGE=The state store failed to save (%s): changes are refused until it works again.",
                                 r == -EDQUOT ? "its disk is full" : strerror(ERRNO_VALUE(r)));
                if (m->store_watch)
                        m->store_watch(m, r, m->store_watch_userdata);
        }
        m->store_error = r;
        if (!m->store_retry) {
                k = sd_event_add_time_relative(m->event, &m->store_retry, CLOCK_MONOTONIC, STORE_RETRY_USEC,
                                               USEC_PER_SEC, on_store_retry, m);
                if (k < 0)
                        log_warning_errno(k, "Failed to arm the state store's retry, it is tried with the next change: %m");
        }
        return r;
}

/* ---- a VM's record, state and forwarding ---- */

static void make_random_id(char ret[static JOB_ID_LEN + 1]) {
        uint8_t b[JOB_ID_LEN / 2];

        if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
                usec_t t = now_realtime() ^ now_monotonic();
                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (uint8_t) (t >> ((i % 8) * 8)) ^ (uint8_t) i;
        }
        for (size_t i = 0; i < sizeof(b); i++)
                sprintf(ret + 2 * i, "%02x", b[i]);
}

/* Changes state in memory and keeps the ledger in step: a state that holds resources takes
 * them, one that does not gives them back. */
static void vm_change_state(VM *vm, VMState state) {
        Manager *m = vm->manager;
        VMState old = vm->record.state;

        if (vm_state_reserves(old) && !vm_state_reserves(state))
                ledger_release(&m->ledger, &vm->record.resources);
        else if (!vm_state_reserves(old) && vm_state_reserves(state))
                ledger_adopt(&m->ledger, &vm->record.resources);

        vm->record.state = state;
        vm->record.updated_at = now_realtime();
        m->generation++;
}

/* Writes the VM's record; one the store did not take is written again once it works. */
static int vm_save(VM *vm) {
        int r = provider_store_save_vm(vm->manager->store, &vm->record);

        vm->unsaved = r < 0;
        if (r < 0)
                log_debug_errno(r, "Failed to save the state of VM %s, retrying later: %m", vm->record.name);
        return store_note(vm->manager, r);
}

/* A fact (what the hypervisor did): the VM is in state, whether or not the store takes it
 * now. */
int vm_set_state(VM *vm, VMState state, const char *error_message) {
        vm_change_state(vm, state);
        if (error_message || state != VM_ERROR)
                (void) free_and_strdup(&vm->record.error_message, error_message);
        return vm_save(vm);
}

/* An intent (what is about to be asked of the hypervisor): saved before it is acted on. When
 * the save fails nothing changed, not the VM in memory, nor the ledger, nor its record. */
static int vm_transition(VM *vm, VMState state, const char *error_message) {
        VMState old_state = vm->record.state;
        usec_t old_updated_at = vm->record.updated_at;
        bool unsaved = vm->unsaved;
        char *old_error = NULL;
        int r;

        if (vm->record.error_message) {
                old_error = strdup(vm->record.error_message);
                if (!old_error)
                        return -ENOMEM;
        }
        r = vm_set_state(vm, state, error_message);
        if (r >= 0) {
                free(old_error);
                return r;
        }
        vm_change_state(vm, old_state);
        vm->record.updated_at = old_updated_at;
        free(vm->record.error_message);
        vm->record.error_message = old_error;
        vm->unsaved = unsaved;
        return r;
}

static void job_save(VM *vm, const char *job_id, JobKind kind, usec_t created_at, JobStatus status, const char *error) {
        Job j = {
                .status = status,
                .kind = kind,
                .error = (char *) error,
                .created_at = created_at,
                .updated_at = now_realtime(),
        };
        int r;

        strcpy(j.job_id, job_id);
        strcpy(j.vm_name, vm->record.name);
        r = store_note(vm->manager, provider_store_save_job(vm->manager->store, &j));
        if (r < 0)
                log_debug_errno(r, "Failed to save job %s, ignoring: %m", j.job_id);
}

/* The VM's create job. */
static void job_update(VM *vm, JobStatus status, const char *error) {
        if (vm->record.job_id[0])
                job_save(vm, vm->record.job_id, JOB_KIND_CREATE, vm->record.created_at, status, error);
}

/* The job of the VM's restore, while there is one; done once it succeeded. */
static void restore_job_update(VM *vm, JobStatus status, const char *error) {
        if (!vm->restore_job[0])
                return;
        job_save(vm, vm->restore_job, JOB_KIND_RESTORE, vm->restore_since, status, error);
        if (status == JOB_READY)
                vm->restore_job[0] = 0;
}

bool vm_job_creating(VM *vm) {
        _cleanup_(job_done) Job j = {};

        return vm->record.job_id[0] && provider_store_load_job(vm->manager->store, vm->record.job_id, &j) >= 0 &&
               j.status == JOB_CREATING;
}

void vm_forwarder_update(VM *vm) {
        ssh_access_update(vm->manager->ssh, vm->record.name, vm->record.state == VM_RUNNING,
                          vm->record.ip_address, vm->record.ssh_port, &vm->forwarder);
}

static void vm_forwarder_close(VM *vm) {
        ssh_access_close(vm->manager->ssh, vm->record.name, &vm->forwarder);
}

void vm_log_event(VM *vm, int level, const char *message_id, const char *format, ...) {
        char message[512];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);

        log_struct(level,
                   "MESSAGE_ID=%s", message_id,
                   "GOLEM_VM=%s", vm->record.name,
                   "GOLEM_OWNER=%s", strempty(vm->record.owner),
                   "GOLEM_VM_STATE=%s", vm_state_to_string(vm->record.state),
                   "MESSAGE=%s", message);
}

/* ---- the list of VMs ---- */

/* Takes vm out of the manager's list (once). */
static void vm_unlink(VM *vm) {
        Manager *m = vm->manager;

        if (vm->unlinked)
                return;
        LIST_REMOVE(vms, m->vms, vm);
        m->n_vms--;
        m->generation++;
        vm->unlinked = true;
}

static VM *vm_free(VM *vm) {
        Manager *m;

        if (!vm)
                return NULL;
        m = vm->manager;
        vm_unlink(vm);

        if (vm->op && m->driver)
                m->driver->ops->cancel(vm->op);
        /* Unfinished (the daemon stops): whoever waits is let go without an answer. */
        operation_free(vm->operation);
        operation_free(vm->superseded);
        sd_event_source_disable_unref(vm->defer);
        sd_event_source_disable_unref(vm->poll_timer);
        forwarder_free(vm->forwarder);
        free(vm->failure_message);
        free(vm->pending_key_name);
        free(vm->pending_key);
        vm_record_done(&vm->record);
        free(vm);
        return NULL;
}

static VM *vm_add(Manager *m, const VMRecord *record) {
        VM *vm = calloc(1, sizeof(*vm));

        if (!vm)
                return NULL;
        vm->manager = m;
        vm->record = *record;

        /* Appended, so listings keep creation order. */
        LIST_APPEND(vms, m->vms, vm);
        m->n_vms++;
        m->generation++;
        return vm;
}

/* ---- operations ---- */

int vm_begin_operation(VM *vm, VMOperation kind) {
        assert(!vm->operation);
        vm->operation = operation_new(kind, vm->record.name);
        return vm->operation ? 0 : -ENOMEM;
}

/* Completes what the VM was doing. vm_gone: the VM no longer exists (the operation is told
 * NULL); its record may still be read for the name. */
static void vm_finish(VM *vm, Operation **which, int r, const char *message, bool vm_gone) {
        Operation *o = TAKE_PTR(*which);

        if (o)
                operation_complete(o, r, message, vm_gone ? NULL : vm);
}

static int on_deferred(sd_event_source *s, void *userdata) {
        VM *vm = userdata;

        vm->defer = sd_event_source_disable_unref(vm->defer);
        vm->deferred_done(vm->deferred_error, NULL, vm);
        return 0;
}

/* A driver call failed before it began: its callback runs as if the driver had answered,
 * on the next loop iteration. */
static void vm_driver_failed(VM *vm, int r, DriverDoneFn done) {
        vm->op = NULL;
        vm->deferred_error = r;
        vm->deferred_done = done;
        if (sd_event_add_defer(vm->manager->event, &vm->defer, on_deferred, vm) < 0) {
                log_oom();
                done(r, NULL, vm);
        }
}

/* The VM is gone but the store did not take the removal of its record: it is removed once
 * the store works again (or by the reconciliation at the next start, which finds a deleting
 * VM the hypervisor no longer has). */
static void vm_remember_unremoved(VM *vm) {
        Manager *m = vm->manager;
        char **a = reallocarray(m->unremoved, m->n_unremoved + 1, sizeof(char *));

        if (a)
                m->unremoved = a;
        if (!a || !(m->unremoved[m->n_unremoved] = strdup(vm->record.name))) {
                log_oom();
                return;
        }
        m->n_unremoved++;
}

/* Before a record of that name is written again: the left-over record of a deleted VM of that
 * name goes first, so that its late removal cannot take the new one with it. */
static int store_forget_unremoved(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_unremoved; i++) {
                int r;

                if (!streq(m->unremoved[i], name))
                        continue;
                r = store_note(m, provider_store_remove_vm(m->store, name));
                if (r < 0 && r != -ENOENT)
                        return r;
                free(m->unremoved[i]);
                m->unremoved[i] = m->unremoved[--m->n_unremoved];
                return 0;
        }
        return 0;
}

/* Forgets a VM whose record is gone: frees its port, and its resources unless it was in
 * error (which holds none). The removal is announced, then whoever waited is told. */
static void vm_remove(VM *vm, int error, const char *message) {
        Manager *m = vm->manager;
        int r;

        r = store_note(m, provider_store_remove_vm(m->store, vm->record.name));
        if (r < 0 && r != -ENOENT)
                vm_remember_unremoved(vm);
        if (vm_state_reserves(vm->record.state))
                ledger_release(&m->ledger, &vm->record.resources);
        ssh_access_release_port(m->ssh, vm->record.ssh_port);
        /* Gone from listings and counts before anyone hears of it; only the announcement
         * itself still sees it (m->removing). */
        vm_unlink(vm);

        m->removing = vm;
        /* A failure is told (the record's error) before the record goes. */
        if (error < 0 || vm->superseded)
                manager_emit(m, vm, VM_EVENT_CHANGED);
        manager_emit(m, vm, VM_EVENT_REMOVED);
        m->removing = NULL;

        /* A create given up by a delete fails; the delete itself is done. */
        vm_finish(vm, &vm->superseded, vm->failure, vm->failure_message, true);
        vm_finish(vm, &vm->operation, error, message, true);
        vm_free(vm);
}

/* ---- a VM came up: its address, then running ---- */

void vm_came_up(VM *vm, VMOperation op, const DriverVM *info) {
        /* The VM's state and its job in one commit: one fsync, not two, before the answer. */
        bool together = op == VM_OP_CREATE && vm->record.job_id[0] && provider_store_begin(vm->manager->store) >= 0;

        if (info && info->ip_address[0])
                strcpy(vm->record.ip_address, info->ip_address);
        (void) vm_set_state(vm, VM_RUNNING, NULL);
        if (op == VM_OP_CREATE)
                job_update(vm, JOB_READY, NULL);
        restore_job_update(vm, JOB_READY, NULL);
        if (together && store_note(vm->manager, provider_store_commit(vm->manager->store)) < 0)
                vm->unsaved = true; /* written again once the store works */
        vm_forwarder_update(vm);

        vm_log_event(vm, LOG_INFO, op == VM_OP_CREATE ? GOLEM_MESSAGE_VM_CREATED : GOLEM_MESSAGE_VM_STARTED,
                     "VM %s is running (%s, SSH on port %u).", vm->record.name,
                     vm->record.ip_address[0] ? vm->record.ip_address : "no address yet", vm->record.ssh_port);
        manager_emit(vm->manager, vm, VM_EVENT_CHANGED);
        vm_finish(vm, &vm->operation, 0, NULL, false);
}

static void on_info_after_up(int r, const char *message, const DriverVM *info, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r < 0)
                log_warning("Could not learn the address of VM %s, continuing without: %s", vm->record.name, message);
        vm_came_up(vm, vm->operation ? operation_kind(vm->operation) : VM_OP_START, r >= 0 ? info : NULL);
}

static void vm_query_address(VM *vm) {
        Manager *m = vm->manager;
        int r;

        r = m->driver->ops->info(m->driver, vm->record.name, on_info_after_up, vm, &vm->op);
        if (r < 0) {
                vm->op = NULL;
                vm_came_up(vm, vm->operation ? operation_kind(vm->operation) : VM_OP_START, NULL);
        }
}

/* ---- create ---- */

static void create_cleanup_done(int r, const char *message, void *userdata);

/* A create failed: the job says why, the instance is removed when it may exist, and so is
 * the record. The operation completes once that is done, so the name is free by then. */
void vm_create_failed(VM *vm, int error, const char *message) {
        Manager *m = vm->manager;
        char text[512];
        int r;

        snprintf(text, sizeof(text), "%s", message ?: strerror(ERRNO_VALUE(error)));
        log_struct_errno(LOG_ERR, error,
                         "MESSAGE_ID=" GOLEM_MESSAGE_VM_FAILED,
                         "GOLEM_VM=%s", vm->record.name,
                         "GOLEM_OWNER=%s", strempty(vm->record.owner),
                         "GOLEM_VM_OPERATION=create",
                         "MESSAGE=Creating VM %s failed: %s", vm->record.name, text);

        vm->failure = error;
        (void) free_and_strdup(&vm->failure_message, text);
        (void) free_and_strdup(&vm->record.error_message, text);

        /* Nothing was created when the hypervisor was unreachable; and an instance that
         * "already exists" is not ours to remove. */
        if (IN_SET(error, -EHOSTDOWN, -EEXIST)) {
                job_update(vm, JOB_FAILED, text);
                vm_remove(vm, error, text);
                return;
        }

        (void) vm_set_state(vm, VM_DELETING, text);
        r = m->driver ? m->driver->ops->remove(m->driver, vm->record.name, create_cleanup_done, vm, &vm->op) : -EHOSTDOWN;
        if (r < 0)
                vm_driver_failed(vm, r, create_cleanup_done);
}

static void create_cleanup_done(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r < 0 && r != -ENOENT) {
                /* The instance may still exist: keep the record in error so an admin sees it
                 * and a DELETE can try again. */
                char text[512];

                snprintf(text, sizeof(text), "Launch failed and cleaning up failed too: %s", message ?: strerror(ERRNO_VALUE(r)));
                (void) vm_set_state(vm, VM_ERROR, text);
                job_update(vm, JOB_FAILED, vm->failure_message);
                manager_emit(vm->manager, vm, VM_EVENT_CHANGED);
                vm_finish(vm, &vm->operation, vm->failure, vm->failure_message, false);
                return;
        }
        /* The job says "failed" once the name is free again. */
        job_update(vm, JOB_FAILED, vm->failure_message);
        vm_remove(vm, vm->failure, vm->failure_message);
}

static void on_launch_progress(int percent, const char *stage, void *userdata) {
        VM *vm = userdata;

        if (vm->operation)
                (void) operation_progress(vm->operation, percent, stage);
}

static void on_launched(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r < 0) {
                vm_create_failed(vm, r, message);
                return;
        }
        vm_query_address(vm);
}

static void on_launch_failed_at_once(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        /* The VM exists as a record; failing it runs the usual clean-up. */
        vm_create_failed(vm, r, message);
}

static unsigned owner_n_vms(Manager *m, const char *owner) {
        unsigned n = 0;

        LIST_FOREACH(vms, vm, m->vms)
                if (streq_ptr(vm->record.owner, owner))
                        n++;
        return n;
}

/* Checks what a create asks for against what this provider has and can run, and what the
 * caller may still own (MaxVMsPerOwner= bounds each key; anonymous callers share MaxVMs=). */
static int create_check(Manager *m, const Caller *c, const VMCreateRequest *req, const char *image,
                        char *reason, size_t reason_size) {
        unsigned max = m->settings->max_vms_per_owner;
        int r;

        if (!m->driver) {
                snprintf(reason, reason_size, "No VM driver is available on this provider");
                return -EHOSTDOWN;
        }
        if (manager_get_vm(m, req->name)) {
                snprintf(reason, reason_size, "A VM named %s exists already", req->name);
                return -EEXIST;
        }
        if (c && c->identity && max > 0 && owner_n_vms(m, c->identity) >= max) {
                snprintf(reason, reason_size, "Your key owns %u VM(s) here already, the most one owner may have (MaxVMsPerOwner=%u)",
                         max, max);
                return -ENOSPC;
        }
        if (m->driver->ops->image_check) {
                r = m->driver->ops->image_check(m->driver, image, reason, reason_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

int manager_create_vm(Manager *m, const Caller *c, const VMCreateRequest *req, VM **ret_vm, Operation **ret_op,
                      char *reason, size_t reason_size) {
        const char *address = c && c->address ? c->address : "local", *owner = c ? strempty(c->identity) : "";
        _cleanup_(vm_record_done) VMRecord record = {};
        VM *vm;
        int r;

        /* 1. Is it possible? A free name, an image the driver has, resources and a port. */
        snprintf(record.image, sizeof(record.image), "%s", req->image[0] ? req->image : m->settings->default_vm_image);
        r = create_check(m, c, req, record.image, reason, reason_size);
        if (r < 0)
                return r;

        r = ledger_reserve(&m->ledger, &req->resources, reason, reason_size);
        if (r < 0) {
                log_struct(LOG_NOTICE,
                           "MESSAGE_ID=" GOLEM_MESSAGE_VM_REFUSED,
                           "GOLEM_VM=%s", req->name,
                           "GOLEM_OWNER=%s", owner,
                           "GOLEM_REMOTE_ADDR=%s", address,
                           "MESSAGE=Refused to create VM %s: %s.", req->name, reason);
                return -ENOSPC;
        }

        strcpy(record.name, req->name);
        record.state = VM_CREATING;
        record.desired = VM_RUNNING;
        record.resources = req->resources;
        record.ssh_key = strdup(req->ssh_key);
        record.owner = c && c->identity ? strdup(c->identity) : NULL;
        record.created_at = record.updated_at = now_realtime();
        make_random_id(record.job_id);
        if (!record.ssh_key || (c && c->identity && !record.owner)) {
                ledger_release(&m->ledger, &req->resources);
                return -ENOMEM;
        }

        r = ssh_access_allocate_port(m->ssh, &record.ssh_port);
        if (r < 0) {
                ledger_release(&m->ledger, &req->resources);
                snprintf(reason, reason_size, "No free SSH port in %u-%u",
                         m->settings->port_range_start, m->settings->port_range_end);
                return -ENOSPC;
        }

        /* 2. Written before anything is launched, so a crash from here on is recovered. */
        r = store_forget_unremoved(m, record.name);
        if (r >= 0)
                r = store_note(m, provider_store_save_vm(m->store, &record));
        if (r < 0) {
                ledger_release(&m->ledger, &req->resources);
                ssh_access_release_port(m->ssh, record.ssh_port);
                snprintf(reason, reason_size, "The state store failed: %s",
                         r == -EDQUOT ? "its disk is full" : strerror(ERRNO_VALUE(r)));
                return r;
        }

        vm = vm_add(m, &record);
        if (vm)
                record = (VMRecord) {}; /* the VM owns its strings now */
        if (!vm || vm_begin_operation(vm, VM_OP_CREATE) < 0) {
                (void) provider_store_remove_vm(m->store, req->name);
                ledger_release(&m->ledger, &req->resources);
                if (vm) {
                        ssh_access_release_port(m->ssh, vm->record.ssh_port);
                        vm_free(vm);
                } else
                        ssh_access_release_port(m->ssh, record.ssh_port);
                return -ENOMEM;
        }
        job_update(vm, JOB_CREATING, NULL);
        manager_emit(m, vm, VM_EVENT_NEW);

        log_struct(LOG_INFO,
                   "GOLEM_VM=%s", vm->record.name,
                   "GOLEM_OWNER=%s", owner,
                   "GOLEM_REMOTE_ADDR=%s", address,
                   "GOLEM_REQUEST_ID=%s", c && c->request_id ? c->request_id : "",
                   "MESSAGE=Creating VM %s: %" PRIi64 " CPU, %" PRIi64 " GB memory, %" PRIi64 " GB storage, image %s.",
                   vm->record.name, vm->record.resources.cpu, vm->record.resources.memory,
                   vm->record.resources.storage, vm->record.image);

        /* 3. Launch; on_launched() takes it from there: the address, then running. */
        r = m->driver->ops->launch(m->driver, &(DriverLaunchParams) {
                        .name = vm->record.name,
                        .resources = vm->record.resources,
                        .image = vm->record.image,
                        .ssh_key = !isempty(vm->record.ssh_key) ? vm->record.ssh_key : NULL,
                        .ssh_port = vm->record.ssh_port,
                }, on_launch_progress, on_launched, vm, &vm->op);
        if (r < 0)
                vm_driver_failed(vm, r, on_launch_failed_at_once);

        if (ret_vm)
                *ret_vm = vm;
        if (ret_op)
                *ret_op = vm->operation;
        return 0;
}

/* ---- start, stop, delete ---- */

/* An operation the driver refused: the VM goes back to where it was (or to error when the
 * hypervisor no longer has it), and the caller hears why. */
static void op_failed(VM *vm, VMOperation op, VMState back_to, int error, const char *message) {
        char text[512];

        /* The hypervisor's own message already says what failed ("stop failed: ..."). */
        if (message)
                snprintf(text, sizeof(text), "%s", message);
        else
                snprintf(text, sizeof(text), "%s failed: %s", vm_operation_to_string(op), strerror(ERRNO_VALUE(error)));
        if (error == -ENOENT)
                (void) vm_set_state(vm, VM_ERROR, "The VM no longer exists in the hypervisor");
        else
                (void) vm_set_state(vm, back_to, text);
        vm_forwarder_update(vm);

        log_struct_errno(LOG_ERR, error,
                         "MESSAGE_ID=" GOLEM_MESSAGE_VM_FAILED,
                         "GOLEM_VM=%s", vm->record.name,
                         "GOLEM_OWNER=%s", strempty(vm->record.owner),
                         "GOLEM_VM_OPERATION=%s", vm_operation_to_string(op),
                         "MESSAGE=VM %s: %s", vm->record.name, text);
        manager_emit(vm->manager, vm, VM_EVENT_CHANGED);
        /* A VM gone from the hypervisor cannot be found for this operation. */
        vm_finish(vm, &vm->operation, error == -ENOENT ? -EIO : error, text, false);
}

static void on_started(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r < 0) {
                op_failed(vm, VM_OP_START, VM_STOPPED, r, message);
                return;
        }
        vm_query_address(vm);
}

static void on_stopped(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r < 0) {
                op_failed(vm, VM_OP_STOP, VM_RUNNING, r, message);
                return;
        }
        (void) vm_set_state(vm, VM_STOPPED, NULL);
        vm_forwarder_update(vm);
        vm_log_event(vm, LOG_INFO, GOLEM_MESSAGE_VM_STOPPED, "VM %s stopped.", vm->record.name);
        manager_emit(vm->manager, vm, VM_EVENT_CHANGED);
        vm_finish(vm, &vm->operation, 0, NULL, false);
}

static void on_deleted(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r < 0 && r != -ENOENT) {
                if (vm->superseded) {
                        /* The create that the delete interrupted fails with it. */
                        job_update(vm, JOB_FAILED, vm->failure_message);
                        vm_finish(vm, &vm->superseded, vm->failure, vm->failure_message, false);
                }
                op_failed(vm, VM_OP_DELETE, VM_ERROR, r, message);
                return;
        }
        if (vm->superseded)
                job_update(vm, JOB_FAILED, vm->failure_message);
        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_DELETED,
                   "GOLEM_VM=%s", vm->record.name,
                   "GOLEM_OWNER=%s", strempty(vm->record.owner),
                   "MESSAGE=VM %s deleted%s.", vm->record.name,
                   vm->superseded ? " while it was being created" : "");
        vm_remove(vm, 0, NULL);
}

/* Checks that c may do op on vm now. */
static int action_check(Manager *m, const Caller *c, VM *vm, bool state_ok) {
        if (!manager_caller_owns(c, vm))
                return -EPERM;
        if (!m->driver)
                return -EHOSTDOWN;
        if (!state_ok || vm->op || vm->operation)
                return -EBUSY;
        return 0;
}

/* Saves the transition, with what the renter now wants of the VM (desired: VM_RUNNING or
 * VM_STOPPED, or _VM_STATE_INVALID when that does not change), and begins the operation;
 * nothing changes on failure. */
static int action_begin(VM *vm, VMOperation kind, VMState state, VMState desired) {
        VMState old_desired = vm->record.desired;
        int r;

        r = vm_begin_operation(vm, kind);
        if (r < 0)
                return r;
        if (desired >= 0)
                vm->record.desired = desired;
        r = vm_transition(vm, state, NULL);
        if (r < 0) {
                vm->record.desired = old_desired;
                vm->operation = operation_free(vm->operation);
                return r;
        }
        return 0;
}

typedef int (*DriverActionFn)(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret);

/* The transition is saved and announced, then the driver is asked; done() takes it from
 * there. */
static void action_run(VM *vm, DriverActionFn call, DriverDoneFn done, Operation **ret_op) {
        Manager *m = vm->manager;
        int r;

        manager_emit(m, vm, VM_EVENT_CHANGED);
        if (ret_op)
                *ret_op = vm->operation;
        r = call(m->driver, vm->record.name, done, vm, &vm->op);
        if (r < 0)
                vm_driver_failed(vm, r, done);
}

int manager_start_vm(Manager *m, const Caller *c, VM *vm, Operation **ret_op) {
        int r;

        r = action_check(m, c, vm, vm->record.state == VM_STOPPED);
        if (r < 0)
                return r;
        r = action_begin(vm, VM_OP_START, VM_STARTING, VM_RUNNING);
        if (r < 0)
                return r;
        action_run(vm, m->driver->ops->start, on_started, ret_op);
        return 0;
}

static void on_restored(int r, const char *message, void *userdata) {
        VM *vm = userdata;
        char text[512];

        vm->op = NULL;
        if (r >= 0) {
                vm_query_address(vm);
                return;
        }
        snprintf(text, sizeof(text), VM_RESTORE_FAILED ": %s", message ?: strerror(ERRNO_VALUE(r)));
        restore_job_update(vm, JOB_FAILED, text);
        op_failed(vm, VM_OP_START, VM_ERROR, r, text);
}

int vm_restore(VM *vm, Operation **ret_op) {
        Manager *m = vm->manager;
        int r;

        r = action_check(m, NULL, vm, IN_SET(vm->record.state, VM_STOPPED, VM_ERROR));
        if (r < 0)
                return r;
        if (vm->record.state == VM_ERROR) {
                /* In error it held nothing: it comes back only into what is still free, never
                 * by overcommitting what creates took meanwhile. */
                Resources a = ledger_available(&m->ledger);

                if (vm->record.resources.cpu > a.cpu || vm->record.resources.memory > a.memory ||
                    vm->record.resources.storage > a.storage)
                        return -ENOSPC;
        }
        r = action_begin(vm, VM_OP_START, VM_STARTING, _VM_STATE_INVALID);
        if (r < 0)
                return r;
        if (!vm->restore_job[0]) {
                make_random_id(vm->restore_job);
                vm->restore_since = now_realtime();
        }
        restore_job_update(vm, JOB_STARTING, NULL);
        log_struct(LOG_NOTICE,
                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_RESTORING,
                   "GOLEM_VM=%s", vm->record.name,
                   "GOLEM_OWNER=%s", strempty(vm->record.owner),
                   "GOLEM_JOB=%s", vm->restore_job,
                   "MESSAGE=Starting VM %s again, as its renter left it running (job %s).",
                   vm->record.name, vm->restore_job);
        action_run(vm, m->driver->ops->start, on_restored, ret_op);
        return 0;
}

int manager_stop_vm(Manager *m, const Caller *c, VM *vm, Operation **ret_op) {
        int r;

        r = action_check(m, c, vm, vm->record.state == VM_RUNNING);
        if (r < 0)
                return r;
        r = action_begin(vm, VM_OP_STOP, VM_STOPPING, VM_STOPPED);
        if (r < 0)
                return r;
        /* Sessions end with the VM; new ones are refused from now on. */
        vm_forwarder_close(vm);
        action_run(vm, m->driver->ops->stop, on_stopped, ret_op);
        return 0;
}

/* A delete of a VM that is still being created: the launch is given up and what it made
 * removed, where the driver can promise that nothing is left behind. The create fails with
 * "Deleted while it was being created" once the delete is done. */
static bool delete_interrupts_create(Manager *m, VM *vm) {
        return vm->record.state == VM_CREATING && vm->op && vm->operation &&
               operation_kind(vm->operation) == VM_OP_CREATE && m->driver->ops->launch_cancellable;
}

int manager_delete_vm(Manager *m, const Caller *c, VM *vm, Operation **ret_op) {
        bool interrupt;
        int r;

        if (!manager_caller_owns(c, vm))
                return -EPERM;
        if (!m->driver)
                return -EHOSTDOWN;

        interrupt = delete_interrupts_create(m, vm);
        if (interrupt) {
                static const char why[] = "Deleted while it was being created";
                Operation *o = operation_new(VM_OP_DELETE, vm->record.name);

                if (!o)
                        return -ENOMEM;
                r = free_and_strdup(&vm->failure_message, why);
                if (r >= 0)
                        r = vm_transition(vm, VM_DELETING, why);
                if (r < 0) {
                        operation_free(o);
                        return r;
                }
                m->driver->ops->cancel(vm->op);
                vm->op = NULL;
                vm->superseded = TAKE_PTR(vm->operation);
                vm->operation = o;
                vm->failure = -ECANCELED;
        } else {
                r = action_check(m, c, vm, IN_SET(vm->record.state, VM_RUNNING, VM_STOPPED, VM_ERROR));
                if (r < 0)
                        return r;
                r = action_begin(vm, VM_OP_DELETE, VM_DELETING, _VM_STATE_INVALID);
                if (r < 0)
                        return r;
        }
        vm_forwarder_close(vm);
        action_run(vm, m->driver->ops->remove, on_deleted, ret_op);
        return 0;
}

/* ---- the owner's keys ---- */

int manager_load_vm_keys(Manager *m, VM *vm, VMKey **ret, size_t *ret_n) {
        return provider_store_load_keys(m->store, vm->record.name, ret, ret_n);
}

/* The authorized keys the guest gets: the create's key, then the added ones, with the
 * pending change applied. */
static int authorized_keys_text(Manager *m, VM *vm, char **ret) {
        _cleanup_free_ char *text = NULL;
        VMKey *keys = NULL;
        size_t n = 0, size = 0;
        bool found = false;
        FILE *f;
        int r;

        r = provider_store_load_keys(m->store, vm->record.name, &keys, &n);
        if (r < 0)
                return r;
        f = open_memstream(&text, &size);
        if (!f) {
                vm_keys_free(keys, n);
                return -ENOMEM;
        }
        if (!isempty(vm->record.ssh_key))
                fprintf(f, "%s\n", vm->record.ssh_key);
        for (size_t i = 0; i < n; i++) {
                if (streq(keys[i].name, vm->pending_key_name)) {
                        found = true;
                        continue;
                }
                fprintf(f, "%s\n", keys[i].key);
        }
        if (vm->pending_key)
                fprintf(f, "%s\n", vm->pending_key);
        vm_keys_free(keys, n);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (!vm->pending_key && !found)
                return -ENOENT;
        *ret = TAKE_PTR(text);
        return 0;
}

static void on_keys_set(int r, const char *message, void *userdata) {
        VM *vm = userdata;
        Manager *m = vm->manager;
        const char *name = vm->pending_key_name;

        vm->op = NULL;
        if (r >= 0) {
                r = store_note(m, vm->pending_key ? provider_store_save_key(m->store, vm->record.name, name, vm->pending_key)
                                                  : provider_store_remove_key(m->store, vm->record.name, name));
                if (r == -ENOENT)
                        r = 0; /* gone already */
                if (r < 0)
                        message = "The guest has the keys, but the state store failed to record them";
        }
        log_struct_errno(r < 0 ? LOG_ERR : LOG_INFO, r,
                         "GOLEM_VM=%s", vm->record.name,
                         "GOLEM_OWNER=%s", strempty(vm->record.owner),
                         "GOLEM_VM_OPERATION=keys",
                         "MESSAGE=%s SSH key %s %s VM %s%s%s.", r < 0 ? "Failed to change" : vm->pending_key ? "Added" : "Removed",
                         name, vm->pending_key || r < 0 ? "on" : "from", vm->record.name, r < 0 ? ": " : "", r < 0 ? strempty(message) : "");
        vm->pending_key_name = mfree(vm->pending_key_name);
        vm->pending_key = mfree(vm->pending_key);
        vm_finish(vm, &vm->operation, r, r < 0 ? message : NULL, false);
}

int manager_set_vm_key(Manager *m, const Caller *c, VM *vm, const char *name, const char *key, Operation **ret_op) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = action_check(m, c, vm, vm->record.state == VM_RUNNING);
        if (r < 0)
                return r;
        if (!m->driver->ops->set_keys)
                return -EOPNOTSUPP;

        vm->pending_key_name = strdup(name);
        vm->pending_key = key ? strdup(key) : NULL;
        if (!vm->pending_key_name || (key && !vm->pending_key))
                r = -ENOMEM;
        else
                r = authorized_keys_text(m, vm, &text);
        if (r >= 0)
                r = vm_begin_operation(vm, VM_OP_KEYS);
        if (r < 0) {
                vm->pending_key_name = mfree(vm->pending_key_name);
                vm->pending_key = mfree(vm->pending_key);
                return r;
        }
        if (ret_op)
                *ret_op = vm->operation;
        r = m->driver->ops->set_keys(m->driver, vm->record.name, text, on_keys_set, vm, &vm->op);
        if (r < 0)
                vm_driver_failed(vm, r, on_keys_set);
        return 0;
}

/* ---- set-up ---- */

/* The provider's key, made at first start; its identity is the provider id unless a legacy
 * ProviderID= is set. The random id earlier versions kept in the store gives way to it. */
static int setup_key(Manager *m, const char *host) {
        _cleanup_free_ char *path = NULL, *comment = NULL, *old_id = NULL;
        char identity[SSH_IDENTITY_SIZE];
        int r;

        if (asprintf(&path, "%s/identity", m->settings->vm_data_dir) < 0 ||
            asprintf(&comment, "golem-provider@%s", host) < 0)
                return log_oom();
        r = provider_key_load_or_make(path, comment, &m->key);
        if (r < 0)
                return log_error_errno(r, "Failed to load or make the provider key %s: %m", path);
        if (r > 0)
                log_info("Made the provider key %s.", path);
        r = ssh_key_to_public_line(m->key, &m->public_key);
        if (r < 0)
                return log_oom();
        ssh_key_identity(m->key, identity);

        if (m->settings->id) {
                log_notice("ProviderID=%s is set: a legacy id that nobody can verify; advertisements go unsigned.",
                           m->settings->id);
                return free_and_strdup(&m->provider_id, m->settings->id) < 0 ? log_oom() : 0;
        }

        r = provider_store_get_meta(m->store, "provider_id", &old_id);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read the stored provider id: %m");
        if (!streq_ptr(old_id, identity)) {
                if (old_id)
                        log_notice("The provider id is now %s, the identity of key %s (it was %s).", identity, path, old_id);
                r = provider_store_set_meta(m->store, "provider_id", identity);
                if (r < 0)
                        return log_error_errno(r, "Failed to store the provider id: %m");
        }
        m->provider_id_verifiable = true;
        return free_and_strdup(&m->provider_id, identity) < 0 ? log_oom() : 0;
}

static int setup_identity(Manager *m) {
        struct utsname u = {};
        int r;

        (void) uname(&u);
        r = setup_key(m, u.nodename[0] ? u.nodename : "localhost");
        if (r < 0)
                return r;

        snprintf(m->platform, sizeof(m->platform), "%.31s", u.machine);
        if (m->settings->name)
                r = free_and_strdup(&m->provider_name, m->settings->name);
        else
                r = free_and_strdup(&m->provider_name, u.nodename[0] ? u.nodename : "golem-provider");
        return r < 0 ? log_oom() : 0;
}

void manager_limits_changed(Manager *m) {
        const ProviderSettings *s = m->settings;

        m->ledger.max_vms = s->max_vms;
        m->ledger.minimum = (Resources) { s->min_cpu_cores, s->min_memory_gb, s->min_storage_gb };
        m->ledger.cpu_threshold = s->cpu_threshold;
        m->ledger.memory_threshold = s->memory_threshold;
        m->ledger.storage_threshold = s->storage_threshold;
}

static int setup_ledger(Manager *m) {
        const ProviderSettings *s = m->settings;
        HostCapacity host;
        int r;

        r = host_capacity_probe(s->vm_data_dir, &host);
        if (r < 0)
                return log_error_errno(r, "Failed to measure the host: %m");

        m->ledger = (Ledger) {
                .capacity = {
                        .cpu = MAX(host.cpu - (int64_t) s->reserve_cpu, (int64_t) 0),
                        .memory = MAX(host.memory_gb - (int64_t) s->reserve_memory_gb, (int64_t) 0),
                        .storage = MAX(host.storage_gb - (int64_t) s->reserve_storage_gb, (int64_t) 0),
                },
        };
        manager_limits_changed(m);

        /* An explicit capacity wins, and may promise more than the host has (overcommit). */
        if (s->capacity_cpu > 0)
                m->ledger.capacity.cpu = s->capacity_cpu;
        if (s->capacity_memory_gb > 0)
                m->ledger.capacity.memory = s->capacity_memory_gb;
        if (s->capacity_storage_gb > 0)
                m->ledger.capacity.storage = s->capacity_storage_gb;
        if (m->ledger.capacity.cpu > host.cpu)
                log_warning("Offering %" PRIi64 " CPUs on a host with %" PRIi64 ": overcommitting CPU.",
                            m->ledger.capacity.cpu, host.cpu);
        if (m->ledger.capacity.memory > host.memory_gb)
                log_warning("Offering %" PRIi64 " GB of memory on a host with %" PRIi64 " GB: overcommitting memory.",
                            m->ledger.capacity.memory, host.memory_gb);

        (void) ledger_sample_usage(&m->ledger, s->vm_data_dir);
        return 0;
}

static int load_records(Manager *m) {
        VMRecord *records = NULL;
        size_t n = 0;
        int r;

        r = provider_store_load_vms(m->store, &records, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to load the VM records: %m");

        for (size_t i = 0; i < n; i++) {
                VM *vm;

                /* Reservations are the records themselves: recompute them exactly. */
                if (vm_state_reserves(records[i].state))
                        ledger_adopt(&m->ledger, &records[i].resources);
                if (ssh_access_claim_port(m->ssh, records[i].ssh_port) < 0 && records[i].ssh_port != 0)
                        log_warning("VM %s has port %u, outside of the configured range; keeping it.",
                                    records[i].name, records[i].ssh_port);

                vm = vm_add(m, &records[i]);
                if (!vm) {
                        vm_record_done(&records[i]);
                        r = log_oom();
                        continue;
                }
                /* A create the restart interrupted goes on (provider-reconcile.c): a GET of its
                 * job may wait for it as for any other. */
                if (vm->record.state == VM_CREATING && vm_begin_operation(vm, VM_OP_CREATE) < 0)
                        r = log_oom();
        }
        free(records);
        log_debug("Loaded %zu VM record(s).", n);
        return r;
}

int manager_new(sd_event *event, const ProviderSettings *settings, Runner *runner, Driver *driver, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->settings = settings;
        m->driver = driver;

        r = ssh_access_new(&(SshAccessConfig) {
                        .event = event,
                        .listen_host = settings->host,
                        .port_start = settings->port_range_start,
                        .port_end = settings->port_range_end,
                        .units_bus = runner_units_bus(runner),
                        .driver_forwards = driver && driver->ops->forwards_ssh,
                }, &m->ssh);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        while (m->vms)
                vm_free(m->vms);
        sd_event_source_disable_unref(m->store_retry);
        for (size_t i = 0; i < m->n_unremoved; i++)
                free(m->unremoved[i]);
        free(m->unremoved);
        if (m->driver)
                m->driver->ops->free(m->driver);
        ssh_access_free(m->ssh);
        provider_store_closep(&m->store);
        sd_event_unref(m->event);
        free(m->provider_id);
        free(m->provider_name);
        ssh_key_free(m->key);
        free(m->public_key);
        free(m);
        return NULL;
}

int manager_start(Manager *m) {
        _cleanup_free_ char *db = NULL;
        const char *dir = m->settings->vm_data_dir;
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", dir);
        if (asprintf(&db, "%s/provider.db", dir) < 0)
                return log_oom();
        r = provider_store_open(db, &m->store);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "State %s was written by a newer golem-providerd.", db);
        if (r < 0)
                return log_error_errno(r, "Failed to open the state store %s: %m", db);
        (void) provider_store_prune_jobs(m->store, now_realtime() - JOB_RETENTION_USEC);

        r = setup_identity(m);
        if (r < 0)
                return r;
        r = setup_ledger(m);
        if (r < 0)
                return r;
        return load_records(m);
}
