/* SPDX-License-Identifier: MIT */
#include <inttypes.h>

#include "log.h"
#include "provider-manager-internal.h"
#include "provider-reconcile.h"

/* Recovery and watching: at start the records are compared with the hypervisor's own list,
 * half-done operations resumed or failed, creates that were in flight adopted; while running,
 * VMs that stopped or vanished by themselves are noticed (a periodic list where the driver
 * asks for one, and at once when it tells us). */

#define USAGE_INTERVAL_USEC (5 * USEC_PER_SEC)
#define RECONCILE_RETRY_USEC (30 * USEC_PER_SEC)
#define ADOPT_POLL_USEC (2 * USEC_PER_SEC)

/* VMs started again after a restart: this many at a time (a host that boots is busy enough),
 * and one that does not come back is tried again after 10 s, then twice as long each time,
 * up to 10 min. */
#define RESTORE_PARALLEL 2
#define RESTORE_RETRY_MIN_USEC (10 * USEC_PER_SEC)
#define RESTORE_RETRY_MAX_USEC (10 * 60 * USEC_PER_SEC)

typedef struct Reconciler Reconciler;

/* A restore under way, watched until it completes. */
typedef struct RestoreSlot {
        Reconciler *rc;
        OperationWatcher *watcher;
        Operation *op;
} RestoreSlot;

struct Reconciler {
        Manager *manager;
        sd_event_source *usage_timer;
        sd_event_source *reconcile_timer;
        sd_event_source *poll_soon_timer;   /* the driver said a VM changed by itself */
        DriverOp *reconcile_op;  /* the hypervisor's list in flight */
        usec_t last_poll;
        RestoreSlot restoring[RESTORE_PARALLEL];
        sd_event_source *restore_timer;     /* the next restore that is due */
        sd_event_source *restore_defer;     /* a slot came free */
        bool freeing;
};

static void adopt_poll_schedule(VM *vm);

static void adopt_failed(VM *vm, const char *why) {
        log_struct(LOG_WARNING,
                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_FAILED,
                   "GOLEM_VM=%s", vm->record.name,
                   "GOLEM_OWNER=%s", strempty(vm->record.owner),
                   "MESSAGE=VM %s was being created when the provider stopped and %s; cleaning it up.",
                   vm->record.name, why);
        vm_create_failed(vm, -EIO, "The provider restarted while the VM was being created, and the launch did not complete");
}

static void reconcile_creating(VM *vm, const DriverVM *d) {
        usec_t deadline = vm->record.created_at + vm->manager->settings->launch_timeout_sec * USEC_PER_SEC;

        if (d && d->state == DRIVER_VM_RUNNING) {
                vm_log_event(vm, LOG_NOTICE, GOLEM_MESSAGE_VM_ADOPTED,
                             "VM %s finished launching while the provider was down; adopted.", vm->record.name);
                vm_came_up(vm, VM_OP_CREATE, d);
        } else if ((!d || d->state == DRIVER_VM_STARTING) && now_realtime() < deadline)
                /* Still booting, or still being prepared (an image download): such an
                 * instance is not listed at all yet. Ask again until the launch timeout. */
                adopt_poll_schedule(vm);
        else
                adopt_failed(vm, d ? "the hypervisor did not finish it" : "the hypervisor does not have it");
}

/* ---- VMs started again after a restart ---- */

/* At the first comparison after a start, a VM its renter left running that the hypervisor
 * has stopped (the host rebooted, or its process died with the provider) is started again,
 * unless AutostartVMs=no. Later, a VM that stops is the renter's doing (from inside). */
static bool restore_wanted(VM *vm) {
        Manager *m = vm->manager;

        return !m->reconciled && m->settings->autostart_vms && vm->record.desired == VM_RUNNING;
}

/* Marks vm for a restore after delay (0: as soon as a slot is free). */
static void restore_schedule(VM *vm, usec_t delay) {
        vm->restore_pending = true;
        vm->restore_at = now_monotonic() + delay;
}

static void restore_next(Reconciler *rc);

static void on_restore_done(Operation *o, int r, const char *message, VM *vm, void *userdata) {
        usec_t delay;

        if (r >= 0 || !vm) {
                if (vm)
                        vm->restore_delay = 0;
                return;
        }
        /* A VM the hypervisor no longer has is in error for that; nothing to try again. */
        if (o && !startswith(strempty(vm->record.error_message), VM_RESTORE_FAILED))
                return;
        /* Not forgotten: tried again later, waiting longer each time. */
        delay = vm->restore_delay > 0 ? MIN(vm->restore_delay * 2, RESTORE_RETRY_MAX_USEC) : RESTORE_RETRY_MIN_USEC;
        vm->restore_delay = delay;
        restore_schedule(vm, delay);
        log_struct(LOG_WARNING,
                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_RESTORING,
                   "GOLEM_VM=%s", vm->record.name,
                   "GOLEM_OWNER=%s", strempty(vm->record.owner),
                   "MESSAGE=VM %s did not come back (%s); trying again in %" PRIu64 " s.",
                   vm->record.name, strempty(message), delay / USEC_PER_SEC);
}

static int on_restore_defer(sd_event_source *s, void *userdata) {
        Reconciler *rc = userdata;

        rc->restore_defer = sd_event_source_disable_unref(rc->restore_defer);
        restore_next(rc);
        return 0;
}

/* The slot is free again: the next VM is started on the next iteration, outside of the
 * completion of this one. */
static void on_restore_free(void *userdata) {
        RestoreSlot *slot = userdata;
        Reconciler *rc = slot->rc;

        slot->op = NULL;
        slot->watcher = NULL;
        if (!rc->freeing && !rc->restore_defer)
                (void) sd_event_add_defer(rc->manager->event, &rc->restore_defer, on_restore_defer, rc);
}

static const OperationWatcherOps restore_watch_ops = {
        .done = on_restore_done,
        .free = on_restore_free,
};

static int on_restore_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Reconciler *rc = userdata;

        rc->restore_timer = sd_event_source_disable_unref(rc->restore_timer);
        restore_next(rc);
        return 0;
}

static RestoreSlot *restore_free_slot(Reconciler *rc) {
        for (size_t i = 0; i < RESTORE_PARALLEL; i++)
                if (!rc->restoring[i].op)
                        return rc->restoring + i;
        return NULL;
}

static void restore_begin(Reconciler *rc, RestoreSlot *slot, VM *vm) {
        Operation *op = NULL;
        int r;

        vm->restore_pending = false;
        r = vm_restore(vm, &op);
        if (r < 0) {
                /* Refused before it began (the state store failing, its resources taken by
                 * creates meanwhile): later. */
                on_restore_done(NULL, r, r == -ENOSPC ? "not enough free resources for it now" : strerror(ERRNO_VALUE(r)),
                                vm, NULL);
                return;
        }
        slot->rc = rc;
        slot->op = op;
        if (operation_watch(op, &restore_watch_ops, slot, &slot->watcher) < 0)
                slot->op = NULL; /* it goes on unwatched */
}

/* Starts the restores that are due, as many as there are free slots, and arms the timer for
 * the next one that is not due yet. A VM that no longer needs one (deleted, started or
 * stopped by its renter meanwhile) is let go. */
static void restore_next(Reconciler *rc) {
        Manager *m = rc->manager;
        usec_t now = now_monotonic(), next = USEC_INFINITY;

        LIST_FOREACH(vms, vm, m->vms) {
                RestoreSlot *slot;

                if (!vm->restore_pending)
                        continue;
                if (vm->record.desired != VM_RUNNING || !IN_SET(vm->record.state, VM_STOPPED, VM_ERROR)) {
                        vm->restore_pending = false;
                        continue;
                }
                if (vm->restore_at > now || vm->op || vm->operation) {
                        next = MIN(next, MAX(vm->restore_at, now + USEC_PER_SEC));
                        continue;
                }
                slot = restore_free_slot(rc);
                if (!slot)
                        return; /* a slot that comes free calls again */
                restore_begin(rc, slot, vm);
                if (vm->restore_pending) /* refused at once: due later */
                        next = MIN(next, vm->restore_at);
        }
        if (next == USEC_INFINITY)
                return;
        rc->restore_timer = sd_event_source_disable_unref(rc->restore_timer);
        if (sd_event_add_time(m->event, &rc->restore_timer, CLOCK_MONOTONIC, next, USEC_PER_SEC / 10,
                              on_restore_timer, rc) < 0)
                log_oom();
}

/* Settles a record against what the driver reports for it (NULL: the driver has no such VM). */
static void reconcile_vm(VM *vm, const DriverVM *d) {
        Manager *m = vm->manager;
        VMState s = vm->record.state;

        if (vm->op)
                return; /* something is already being done with it */

        switch (s) {
        case VM_CREATING:
                reconcile_creating(vm, d);
                return;

        case VM_DELETING:
                if (vm_job_creating(vm)) {
                        /* The clean-up of a create that failed or was deleted while it was
                         * created: it goes on as such, so the job fails (for the reason the
                         * record keeps) once the name is free, rather than say "creating". */
                        vm_create_failed(vm, -EIO, vm->record.error_message);
                        return;
                }
                (void) vm_set_state(vm, VM_RUNNING, NULL); /* any state delete accepts */
                (void) manager_delete_vm(m, NULL, vm, NULL);
                return;

        case VM_ERROR:
                /* A restore that failed before this restart is tried again. */
                if (d && IN_SET(d->state, DRIVER_VM_STOPPED, DRIVER_VM_SUSPENDED) && restore_wanted(vm) &&
                    startswith(strempty(vm->record.error_message), VM_RESTORE_FAILED))
                        restore_schedule(vm, 0);
                return;

        default:
                break;
        }

        if (!d) {
                (void) vm_set_state(vm, VM_ERROR, "The hypervisor lost this VM");
                vm_log_event(vm, LOG_ERR, GOLEM_MESSAGE_VM_FAILED, "VM %s is gone from the hypervisor.", vm->record.name);
                manager_emit(m, vm, VM_EVENT_CHANGED);
                return;
        }

        switch (d->state) {
        case DRIVER_VM_RUNNING:
                if (s == VM_RUNNING && (!d->ip_address[0] || streq(d->ip_address, vm->record.ip_address))) {
                        /* Nothing new; but after a restart the VM needs its forwarder back. */
                        if (!m->reconciled)
                                vm_forwarder_update(vm);
                        return;
                }
                if (d->ip_address[0])
                        strcpy(vm->record.ip_address, d->ip_address);
                (void) vm_set_state(vm, VM_RUNNING, NULL);
                if (s == VM_STOPPING) {
                        /* A stop was asked for and is not done: finish it. */
                        vm_forwarder_update(vm);
                        (void) manager_stop_vm(m, NULL, vm, NULL);
                        return;
                }
                break;
        case DRIVER_VM_STARTING:
                if (s == VM_STARTING)
                        return;
                (void) vm_set_state(vm, VM_STARTING, NULL);
                adopt_poll_schedule(vm);
                break;
        case DRIVER_VM_STOPPED:
        case DRIVER_VM_SUSPENDED:
                if (s == VM_STOPPED) {
                        if (restore_wanted(vm))
                                restore_schedule(vm, 0);
                        return;
                }
                if (s == VM_RUNNING)
                        vm_log_event(vm, LOG_NOTICE, GOLEM_MESSAGE_VM_STOPPED,
                                     m->reconciled ? "VM %s stopped by itself (shut down from inside)."
                                                   : "VM %s stopped while the provider was down.",
                                     vm->record.name);
                (void) vm_set_state(vm, VM_STOPPED, NULL);
                if (s == VM_STARTING) {
                        /* A start was asked for and did not happen: do it. */
                        (void) manager_start_vm(m, NULL, vm, NULL);
                        return;
                }
                if (restore_wanted(vm))
                        restore_schedule(vm, 0);
                break;
        case DRIVER_VM_DELETED:
                (void) vm_set_state(vm, VM_ERROR, "The VM was deleted outside of golem");
                break;
        default:
                (void) vm_set_state(vm, VM_ERROR, "The hypervisor reports the VM in an unknown state");
                break;
        }
        vm_forwarder_update(vm);
        manager_emit(m, vm, VM_EVENT_CHANGED);
}

static void on_adopt_info(int r, const char *message, const DriverVM *info, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r == -ENOENT) {
                reconcile_vm(vm, NULL);
                return;
        }
        if (r < 0) {
                adopt_poll_schedule(vm); /* the hypervisor is not answering: ask again */
                return;
        }
        if (vm->record.state == VM_STARTING && info->state != DRIVER_VM_STARTING) {
                /* A start that was in flight: it settled one way or the other. */
                (void) vm_set_state(vm, VM_STOPPED, NULL);
        }
        reconcile_vm(vm, info);
}

static int on_adopt_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        VM *vm = userdata;
        Manager *m = vm->manager;
        int r;

        vm->poll_timer = sd_event_source_disable_unref(vm->poll_timer);
        r = m->driver->ops->info(m->driver, vm->record.name, on_adopt_info, vm, &vm->op);
        if (r < 0) {
                vm->op = NULL;
                adopt_poll_schedule(vm);
        }
        return 0;
}

static void adopt_poll_schedule(VM *vm) {
        if (!vm->poll_timer)
                (void) sd_event_add_time_relative(vm->manager->event, &vm->poll_timer, CLOCK_MONOTONIC,
                                                  ADOPT_POLL_USEC, 0, on_adopt_poll, vm);
}

static void reconcile_schedule_retry(Reconciler *rc);

static void on_reconcile_list(int r, const char *message, const DriverVM *vms, size_t n, void *userdata) {
        Reconciler *rc = userdata;
        Manager *m = rc->manager;

        rc->reconcile_op = NULL;
        if (r < 0) {
                log_warning("Cannot list the hypervisor's VMs (%s); retrying in %" PRIu64 " s.",
                            message, RECONCILE_RETRY_USEC / USEC_PER_SEC);
                reconcile_schedule_retry(rc);
                return;
        }

        for (size_t i = 0; i < n && !m->reconciled; i++)
                if (!manager_get_vm(m, vms[i].name))
                        log_struct(LOG_WARNING,
                                   "GOLEM_VM=%s", vms[i].name,
                                   "MESSAGE=The hypervisor has a VM golem-%s that this provider has no record of; leaving it alone.",
                                   vms[i].name);

        /* reconcile_vm() may remove vm */
        LIST_FOREACH_SAFE(vms, vm, next, m->vms) {
                const DriverVM *d = NULL;

                for (size_t i = 0; i < n; i++)
                        if (streq(vms[i].name, vm->record.name))
                                d = vms + i;
                reconcile_vm(vm, d);
        }
        m->reconciled = true;
        restore_next(rc);
        log_debug("Reconciled %zu record(s) with %zu VM(s) of the hypervisor.", m->n_vms, n);
}

static int reconcile(Reconciler *rc) {
        Manager *m = rc->manager;
        int r;

        if (!m->driver)
                return 0;
        r = m->driver->ops->list(m->driver, on_reconcile_list, rc, &rc->reconcile_op);
        if (r < 0) {
                rc->reconcile_op = NULL;
                log_warning_errno(r, "Cannot run the hypervisor's list: %m");
                reconcile_schedule_retry(rc);
        }
        return 0;
}

static int on_reconcile_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Reconciler *rc = userdata;

        rc->reconcile_timer = sd_event_source_disable_unref(rc->reconcile_timer);
        return reconcile(rc);
}

static void reconcile_schedule_retry(Reconciler *rc) {
        if (!rc->reconcile_timer)
                (void) sd_event_add_time_relative(rc->manager->event, &rc->reconcile_timer, CLOCK_MONOTONIC,
                                                  RECONCILE_RETRY_USEC, USEC_PER_SEC, on_reconcile_timer, rc);
}

static int on_usage_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Reconciler *rc = userdata;
        Manager *m = rc->manager;
        int r;

        r = ledger_sample_usage(&m->ledger, m->settings->vm_data_dir);
        if (r < 0)
                log_debug_errno(r, "Failed to sample host usage, ignoring: %m");

        /* Notice VMs that stopped or vanished by themselves. */
        if (m->driver && m->reconciled && !rc->reconcile_op && m->driver->ops->poll_interval > 0 &&
            now_monotonic() >= rc->last_poll + m->driver->ops->poll_interval) {
                rc->last_poll = now_monotonic();
                (void) reconcile(rc);
        }
        (void) sd_event_source_set_time_relative(s, USAGE_INTERVAL_USEC);
        return 0;
}

/* The driver saw a VM change by itself (its qemu exited): compare records with its list now,
 * or as soon as the comparison under way is over. */
static int on_poll_soon(sd_event_source *s, uint64_t usec, void *userdata) {
        Reconciler *rc = userdata;

        if (!rc->manager->reconciled || rc->reconcile_op) {
                (void) sd_event_source_set_time_relative(s, 200 * USEC_PER_MSEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        rc->last_poll = now_monotonic();
        return reconcile(rc);
}

static void on_driver_changed(void *userdata) {
        Reconciler *rc = userdata;

        if (!rc->poll_soon_timer)
                (void) sd_event_add_time_relative(rc->manager->event, &rc->poll_soon_timer, CLOCK_MONOTONIC, 0, 0,
                                                  on_poll_soon, rc);
        else {
                (void) sd_event_source_set_time_relative(rc->poll_soon_timer, 0);
                (void) sd_event_source_set_enabled(rc->poll_soon_timer, SD_EVENT_ONESHOT);
        }
}

int reconciler_new(Manager *m, Reconciler **ret) {
        _cleanup_(reconciler_freep) Reconciler *rc = NULL;
        int r;

        rc = calloc(1, sizeof(*rc));
        if (!rc)
                return -ENOMEM;
        rc->manager = m;
        if (m->driver) {
                m->driver->changed = on_driver_changed;
                m->driver->changed_userdata = rc;
        }
        r = sd_event_add_time_relative(m->event, &rc->usage_timer, CLOCK_MONOTONIC, USAGE_INTERVAL_USEC,
                                       USEC_PER_SEC, on_usage_timer, rc);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(rc->usage_timer, SD_EVENT_ON);
        r = reconcile(rc);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(rc);
        return 0;
}

Reconciler *reconciler_free(Reconciler *rc) {
        if (!rc)
                return NULL;
        if (rc->manager->driver) {
                if (rc->reconcile_op)
                        rc->manager->driver->ops->cancel(rc->reconcile_op);
                rc->manager->driver->changed = NULL;
                rc->manager->driver->changed_userdata = NULL;
        }
        rc->freeing = true;
        for (size_t i = 0; i < RESTORE_PARALLEL; i++)
                if (rc->restoring[i].op)
                        operation_unwatch(rc->restoring[i].op, rc->restoring[i].watcher);
        sd_event_source_disable_unref(rc->usage_timer);
        sd_event_source_disable_unref(rc->reconcile_timer);
        sd_event_source_disable_unref(rc->poll_soon_timer);
        sd_event_source_disable_unref(rc->restore_timer);
        sd_event_source_disable_unref(rc->restore_defer);
        free(rc);
        return NULL;
}
