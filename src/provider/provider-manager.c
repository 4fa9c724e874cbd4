/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "daemon-util.h"
#include "log.h"
#include "provider-bus.h"
#include "provider-forward-unit.h"
#include "provider-manager.h"

#define USAGE_INTERVAL_USEC (5 * USEC_PER_SEC)
#define RECONCILE_RETRY_USEC (30 * USEC_PER_SEC)
#define ADOPT_POLL_USEC (2 * USEC_PER_SEC)
#define JOB_RETENTION_USEC (7 * 24 * 3600 * USEC_PER_SEC)
#define WITHDRAW_TIMEOUT_USEC (3 * USEC_PER_SEC)
#define VM_SSH_PORT 22

static const char *const vm_operation_table[_VM_OP_MAX] = {
        [VM_OP_CREATE] = "create",
        [VM_OP_START] = "start",
        [VM_OP_STOP] = "stop",
        [VM_OP_DELETE] = "delete",
};

DEFINE_STRING_TABLE_LOOKUP(vm_operation, VMOperation);

/* ---- small helpers ---- */

static void emit(Manager *m, VM *vm, VMEvent event, VMOperation op, int error, const char *message) {
        m->generation++; /* whatever changed, cached renderings are stale now */
        for (size_t i = 0; i < m->n_listeners; i++)
                m->listeners[i].fn(m, vm, event, op, error, message, m->listeners[i].userdata);
}

int manager_add_listener(Manager *m, VMListener fn, void *userdata) {
        if (m->n_listeners >= ELEMENTSOF(m->listeners))
                return -E2BIG;
        m->listeners[m->n_listeners].fn = fn;
        m->listeners[m->n_listeners].userdata = userdata;
        m->n_listeners++;
        return 0;
}

VM *manager_get_vm(Manager *m, const char *name) {
        if (!name)
                return NULL;
        for (VM *vm = m->vms; vm; vm = vm->next)
                if (streq(vm->record.name, name))
                        return vm;
        return NULL;
}

bool manager_caller_owns(const Caller *c, const VM *vm) {
        /* VMs without an owner, and callers the front end already authorized (D-Bus, after
         * polkit), may act; a REST caller must be the owner once there is one. */
        if (!vm->record.owner || !c || c->kind != CALLER_REST)
                return true;
        return streq_ptr(c->identity, vm->record.owner);
}

Resources manager_available(Manager *m) {
        return ledger_available(&m->ledger);
}

static void advertise_changed(Manager *m) {
        if (m->advertiser)
                advertiser_changed(m->advertiser);
}

static int port_index(Manager *m, uint16_t port) {
        if (port < m->settings.port_range_start || port > m->settings.port_range_end)
                return -ERANGE;
        return port - m->settings.port_range_start;
}

/* Whether something else on this host (another provider, a forwarder left from another
 * configuration, any program) listens on the port: then it is skipped, or the VM's forward
 * would fail at launch. */
static bool port_taken_elsewhere(const char *host, uint16_t port) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } a = {};
        socklen_t len;
        _cleanup_close_ int fd = -EBADF;
        int one = 1;

        if (host && inet_pton(AF_INET6, host, &a.in6.sin6_addr) == 1) {
                a.in6.sin6_family = AF_INET6;
                a.in6.sin6_port = htons(port);
                len = sizeof(a.in6);
        } else {
                a.in.sin_family = AF_INET;
                a.in.sin_port = htons(port);
                if (!host || inet_pton(AF_INET, host, &a.in.sin_addr) != 1)
                        a.in.sin_addr.s_addr = htonl(INADDR_ANY);
                len = sizeof(a.in);
        }
        fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        return bind(fd, &a.sa, len) < 0 && errno == EADDRINUSE;
}

static int port_allocate(Manager *m, uint16_t *ret) {
        size_t n = (size_t) (m->settings.port_range_end - m->settings.port_range_start) + 1;

        for (size_t i = 0; i < n; i++)
                if (!m->ports[i]) {
                        if (port_taken_elsewhere(m->settings.host, (uint16_t) (m->settings.port_range_start + i))) {
                                log_debug("SSH port %zu is in use by another program, skipped.",
                                          m->settings.port_range_start + i);
                                continue;
                        }
                        m->ports[i] = 1;
                        *ret = (uint16_t) (m->settings.port_range_start + i);
                        return 0;
                }
        return -EADDRNOTAVAIL;
}

static void port_release(Manager *m, uint16_t port) {
        int i = port_index(m, port);

        if (i >= 0)
                m->ports[i] = 0;
}

static void make_job_id(char ret[static JOB_ID_LEN + 1]) {
        uint8_t b[JOB_ID_LEN / 2];

        if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
                usec_t t = now_realtime() ^ now_monotonic();
                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (uint8_t) (t >> ((i % 8) * 8)) ^ (uint8_t) i;
        }
        for (size_t i = 0; i < sizeof(b); i++)
                sprintf(ret + 2 * i, "%02x", b[i]);
}

/* Changes state and keeps the ledger in step: a state that holds resources takes them, one
 * that does not gives them back. Then persists. */
static int vm_set_state(VM *vm, VMState state, const char *error_message) {
        Manager *m = vm->manager;
        VMState old = vm->record.state;
        int r;

        if (vm_state_reserves(old) && !vm_state_reserves(state)) {
                ledger_release(&m->ledger, &vm->record.resources);
                advertise_changed(m);
        } else if (!vm_state_reserves(old) && vm_state_reserves(state)) {
                ledger_adopt(&m->ledger, &vm->record.resources);
                advertise_changed(m);
        }

        vm->record.state = state;
        vm->record.updated_at = now_realtime();
        m->generation++;
        if (error_message || state != VM_ERROR)
                (void) free_and_strdup(&vm->record.error_message, error_message);

        r = provider_store_save_vm(m->store, &vm->record);
        if (r < 0)
                log_error_errno(r, "Failed to save the state of VM %s, continuing: %m", vm->record.name);
        return r;
}

static void job_update(Manager *m, VM *vm, JobStatus status, const char *error) {
        Job j = {
                .status = status,
                .error = (char *) error,
                .created_at = vm->record.created_at,
                .updated_at = now_realtime(),
        };
        int r;

        if (!vm->record.job_id[0])
                return;
        strcpy(j.job_id, vm->record.job_id);
        strcpy(j.vm_name, vm->record.name);
        r = provider_store_save_job(m->store, &j);
        if (r < 0)
                log_warning_errno(r, "Failed to save job %s, ignoring: %m", j.job_id);
}

static void vm_forwarder_update(VM *vm) {
        Manager *m = vm->manager;
        sd_bus *units = runner_units_bus(m->runner);
        int r;

        if (m->driver && m->driver->ops->forwards_ssh)
                return;

        if (units) {
                /* A socket unit and systemd-socket-proxyd: sessions outlive our restarts. */
                if (vm->record.state != VM_RUNNING || !vm->record.ip_address[0] || vm->record.ssh_port == 0)
                        r = forward_unit_stop(units, vm->record.name);
                else
                        r = forward_unit_start(units, vm->record.name, m->settings.host, vm->record.ssh_port,
                                               vm->record.ip_address, VM_SSH_PORT);
                if (r < 0)
                        log_warning_errno(r, "Failed to update the SSH forwarder unit of VM %s: %m", vm->record.name);
                return;
        }

        if (vm->record.state != VM_RUNNING || !vm->record.ip_address[0] || vm->record.ssh_port == 0) {
                vm->forwarder = forwarder_free(vm->forwarder);
                return;
        }
        if (vm->forwarder) {
                (void) forwarder_set_target(vm->forwarder, vm->record.ip_address, VM_SSH_PORT);
                return;
        }
        r = forwarder_new(m->event, m->settings.host, vm->record.ssh_port, vm->record.ip_address, VM_SSH_PORT, &vm->forwarder);
        if (r < 0)
                log_struct_errno(LOG_ERR, r,
                                 "GOLEM_VM=%s", vm->record.name,
                                 "MESSAGE=Failed to forward port %u to VM %s (%s): %m",
                                 vm->record.ssh_port, vm->record.name, vm->record.ip_address);
}

/* Ends SSH forwarding to a VM that goes down, whichever way it is done. */
static void vm_forwarder_close(VM *vm) {
        sd_bus *units = runner_units_bus(vm->manager->runner);

        vm->forwarder = forwarder_free(vm->forwarder);
        if (units)
                (void) forward_unit_stop(units, vm->record.name);
}

/* Takes vm out of the manager's list (once). */
static void vm_unlink(VM *vm) {
        Manager *m = vm->manager;

        if (vm->unlinked)
                return;
        if (vm->prev)
                vm->prev->next = vm->next;
        else if (m->vms == vm)
                m->vms = vm->next;
        if (vm->next)
                vm->next->prev = vm->prev;
        vm->prev = vm->next = NULL;
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
        sd_event_source_disable_unref(vm->poll_timer);
        forwarder_free(vm->forwarder);
        free(vm->failure_message);
        vm_record_done(&vm->record);
        free(vm);
        return NULL;
}

static VM *vm_add(Manager *m, const VMRecord *record) {
        VM *vm = calloc(1, sizeof(*vm)), *last;

        if (!vm)
                return NULL;
        vm->manager = m;
        vm->record = *record;
        vm->progress = -1;

        /* Appended, so listings keep creation order. */
        for (last = m->vms; last && last->next; last = last->next)
                ;
        if (last) {
                last->next = vm;
                vm->prev = last;
        } else
                m->vms = vm;
        m->n_vms++;
        m->generation++;
        return vm;
}

/* Forgets a VM whose record is gone: frees its port, and its resources unless it was in
 * error (which holds none). */
static void vm_remove(VM *vm, VMOperation op, int error, const char *message) {
        Manager *m = vm->manager;
        int r;

        r = provider_store_remove_vm(m->store, vm->record.name);
        if (r < 0)
                log_error_errno(r, "Failed to remove the record of VM %s: %m", vm->record.name);
        if (vm_state_reserves(vm->record.state))
                ledger_release(&m->ledger, &vm->record.resources);
        port_release(m, vm->record.ssh_port);
        advertise_changed(m);
        /* Gone from listings and counts before anyone hears of it; only the announcement
         * itself still sees it (m->removing). */
        vm_unlink(vm);

        m->removing = vm;
        emit(m, vm, error < 0 ? VM_EVENT_FAILED : VM_EVENT_REMOVED, op, error, message);
        if (error < 0)
                emit(m, vm, VM_EVENT_REMOVED, op, 0, NULL);
        m->removing = NULL;
        vm_free(vm);
}

static void log_vm_event(VM *vm, int level, const char *message_id, const char *format, ...) _printf_(4, 5);
static void log_vm_event(VM *vm, int level, const char *message_id, const char *format, ...) {
        char message[512];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);

        log_struct(level,
                   "MESSAGE_ID=%s", message_id,
                   "GOLEM_VM=%s", vm->record.name,
                   "GOLEM_VM_STATE=%s", vm_state_to_string(vm->record.state),
                   "MESSAGE=%s", message);
}

/* ---- getting a VM's address after it came up ---- */

static void vm_came_up(VM *vm, VMOperation op, const DriverVM *info) {
        /* The VM's state and its job in one commit: one fsync, not two, before the answer. */
        bool together = op == VM_OP_CREATE && vm->record.job_id[0] && provider_store_begin(vm->manager->store) >= 0;

        if (info && info->ip_address[0])
                strcpy(vm->record.ip_address, info->ip_address);
        vm->progress = 100;
        (void) vm_set_state(vm, VM_RUNNING, NULL);
        if (op == VM_OP_CREATE)
                job_update(vm->manager, vm, JOB_READY, NULL);
        if (together && provider_store_commit(vm->manager->store) < 0)
                log_error("Failed to save that VM %s runs, continuing.", vm->record.name);
        vm_forwarder_update(vm);

        log_vm_event(vm, LOG_INFO, op == VM_OP_CREATE ? GOLEM_MESSAGE_VM_CREATED : GOLEM_MESSAGE_VM_STARTED,
                     "VM %s is running (%s, SSH on port %u).", vm->record.name,
                     vm->record.ip_address[0] ? vm->record.ip_address : "no address yet", vm->record.ssh_port);
        emit(vm->manager, vm, VM_EVENT_CHANGED, op, 0, NULL);
}

static void on_info_after_up(int r, const char *message, const DriverVM *info, void *userdata) {
        VM *vm = userdata;
        VMOperation op = vm->op_kind;

        vm->op = NULL;
        if (r < 0)
                log_warning("Could not learn the address of VM %s, continuing without: %s", vm->record.name, message);
        vm_came_up(vm, op, r >= 0 ? info : NULL);
}

static void vm_query_address(VM *vm) {
        Manager *m = vm->manager;
        int r;

        r = m->driver->ops->info(m->driver, vm->record.name, on_info_after_up, vm, &vm->op);
        if (r < 0) {
                vm->op = NULL;
                vm_came_up(vm, vm->op_kind, NULL);
        }
}

/* ---- create ---- */

static void create_cleanup_done(int r, const char *message, void *userdata);

/* A create failed: the job says why, the instance is removed when it may exist, and so is
 * the record. Waiters hear of the failure once that is done, so the name is free by then. */
static void create_failed(VM *vm, int error, const char *message) {
        Manager *m = vm->manager;
        char text[512];
        int r;

        snprintf(text, sizeof(text), "%s", message ?: strerror(ERRNO_VALUE(error)));
        log_struct_errno(LOG_ERR, error,
                         "MESSAGE_ID=" GOLEM_MESSAGE_VM_FAILED,
                         "GOLEM_VM=%s", vm->record.name,
                         "GOLEM_VM_OPERATION=create",
                         "MESSAGE=Creating VM %s failed: %s", vm->record.name, text);

        vm->failure = error;
        (void) free_and_strdup(&vm->failure_message, text);
        (void) free_and_strdup(&vm->record.error_message, text);

        /* Nothing was created when the hypervisor was unreachable; and an instance that
         * "already exists" is not ours to remove. */
        if (IN_SET(error, -EHOSTDOWN, -EEXIST)) {
                job_update(m, vm, JOB_FAILED, text);
                vm_remove(vm, VM_OP_CREATE, error, text);
                return;
        }

        (void) vm_set_state(vm, VM_DELETING, text);
        vm->op_kind = VM_OP_DELETE;
        r = m->driver ? m->driver->ops->remove(m->driver, vm->record.name, create_cleanup_done, vm, &vm->op) : -EHOSTDOWN;
        if (r < 0) {
                vm->op = NULL;
                create_cleanup_done(r, NULL, vm);
        }
}

static void create_cleanup_done(int r, const char *message, void *userdata) {
        VM *vm = userdata;
        Manager *m = vm->manager;

        vm->op = NULL;
        if (r < 0 && r != -ENOENT) {
                /* The instance may still exist: keep the record in error so an admin sees it
                 * and a DELETE can try again. */
                char text[512];

                snprintf(text, sizeof(text), "Launch failed and cleaning up failed too: %s", message ?: strerror(ERRNO_VALUE(r)));
                (void) vm_set_state(vm, VM_ERROR, text);
                job_update(m, vm, JOB_FAILED, vm->failure_message);
                emit(m, vm, VM_EVENT_FAILED, VM_OP_CREATE, vm->failure, vm->failure_message);
                emit(m, vm, VM_EVENT_CHANGED, VM_OP_DELETE, 0, NULL);
                return;
        }
        /* The job says "failed" once the name is free again. */
        job_update(m, vm, JOB_FAILED, vm->failure_message);
        vm_remove(vm, VM_OP_CREATE, vm->failure, vm->failure_message);
}

static void on_launch_progress(int percent, const char *stage, void *userdata) {
        VM *vm = userdata;

        int progress = percent >= 0 ? percent : -1;
        bool changed = progress != vm->progress || strncmp(vm->stage, stage, sizeof(vm->stage) - 1) != 0;

        /* A stage without a figure of its own has none: the last one would be stale. */
        vm->progress = progress;
        snprintf(vm->stage, sizeof(vm->stage), "%s", stage);
        if (changed)
                provider_rest_job_changed(vm->manager, vm);
}

static void on_launched(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r < 0) {
                create_failed(vm, r, message);
                return;
        }
        vm_query_address(vm);
}

static int driver_error(Manager *m) {
        return m->driver ? 0 : -EHOSTDOWN;
}

int manager_create_vm(Manager *m, const Caller *c, const VMCreateRequest *req, VM **ret,
                      char *reason, size_t reason_size) {
        VMRecord record = {};
        VM *vm;
        int r;

        if (driver_error(m) < 0) {
                snprintf(reason, reason_size, "No VM driver is available on this provider");
                return -EHOSTDOWN;
        }
        if (manager_get_vm(m, req->name)) {
                snprintf(reason, reason_size, "A VM named %s exists already", req->name);
                return -EEXIST;
        }
        if (m->driver->ops->image_check) {
                r = m->driver->ops->image_check(m->driver, req->image[0] ? req->image : m->settings.default_vm_image,
                                                reason, reason_size);
                if (r < 0)
                        return r;
        }

        r = ledger_reserve(&m->ledger, &req->resources, reason, reason_size);
        if (r < 0) {
                log_struct(LOG_NOTICE,
                           "MESSAGE_ID=" GOLEM_MESSAGE_VM_REFUSED,
                           "GOLEM_VM=%s", req->name,
                           "GOLEM_REMOTE_ADDR=%s", c && c->address ? c->address : "local",
                           "MESSAGE=Refused to create VM %s: %s.", req->name, reason);
                return -ENOSPC;
        }

        strcpy(record.name, req->name);
        record.state = VM_CREATING;
        record.resources = req->resources;
        snprintf(record.image, sizeof(record.image), "%s", req->image[0] ? req->image : m->settings.default_vm_image);
        record.ssh_key = strdup(req->ssh_key);
        record.owner = c && c->identity ? strdup(c->identity) : NULL;
        record.created_at = record.updated_at = now_realtime();
        make_job_id(record.job_id);
        if (!record.ssh_key || (c && c->identity && !record.owner)) {
                ledger_release(&m->ledger, &req->resources);
                vm_record_done(&record);
                return -ENOMEM;
        }

        r = port_allocate(m, &record.ssh_port);
        if (r < 0) {
                ledger_release(&m->ledger, &req->resources);
                vm_record_done(&record);
                snprintf(reason, reason_size, "No free SSH port in %u-%u", m->settings.port_range_start, m->settings.port_range_end);
                return -ENOSPC;
        }

        /* Written before anything is launched, so a crash from here on is recovered. */
        r = provider_store_save_vm(m->store, &record);
        if (r < 0) {
                ledger_release(&m->ledger, &req->resources);
                port_release(m, record.ssh_port);
                vm_record_done(&record);
                snprintf(reason, reason_size, "The state store failed: %s", strerror(ERRNO_VALUE(r)));
                return r;
        }

        vm = vm_add(m, &record);
        if (!vm) {
                (void) provider_store_remove_vm(m->store, record.name);
                ledger_release(&m->ledger, &req->resources);
                port_release(m, record.ssh_port);
                vm_record_done(&record);
                return -ENOMEM;
        }
        job_update(m, vm, JOB_CREATING, NULL);
        advertise_changed(m);
        emit(m, vm, VM_EVENT_NEW, VM_OP_CREATE, 0, NULL);

        log_struct(LOG_INFO,
                   "GOLEM_VM=%s", vm->record.name,
                   "GOLEM_REMOTE_ADDR=%s", c && c->address ? c->address : "local",
                   "GOLEM_REQUEST_ID=%s", c && c->request_id ? c->request_id : "",
                   "MESSAGE=Creating VM %s: %" PRIi64 " CPU, %" PRIi64 " GB memory, %" PRIi64 " GB storage, image %s.",
                   vm->record.name, vm->record.resources.cpu, vm->record.resources.memory,
                   vm->record.resources.storage, vm->record.image);

        vm->op_kind = VM_OP_CREATE;
        r = m->driver->ops->launch(m->driver, &(DriverLaunchParams) {
                        .name = vm->record.name,
                        .resources = vm->record.resources,
                        .image = vm->record.image,
                        .ssh_key = vm->record.ssh_key,
                        .ssh_port = vm->record.ssh_port,
                }, on_launch_progress, on_launched, vm, &vm->op);
        if (r < 0) {
                vm->op = NULL;
                /* The VM exists as a record; failing it runs the usual clean-up. */
                create_failed(vm, r, NULL);
                return -EIO;
        }

        if (ret)
                *ret = vm;
        return 0;
}

/* ---- start, stop, delete ---- */

static void op_failed(VM *vm, VMOperation op, VMState back_to, int error, const char *message) {
        char text[512];

        /* The hypervisor's own message already says what failed ("stop failed: ..."). */
        if (message)
                snprintf(text, sizeof(text), "%s", message);
        else
                snprintf(text, sizeof(text), "%s failed: %s", vm_operation_to_string(op), strerror(ERRNO_VALUE(error)));
        if (error == -ENOENT) {
                /* The driver does not know the VM any more. */
                (void) vm_set_state(vm, VM_ERROR, "The VM no longer exists in the hypervisor");
        } else
                (void) vm_set_state(vm, back_to, text);
        vm_forwarder_update(vm);

        log_struct_errno(LOG_ERR, error,
                         "MESSAGE_ID=" GOLEM_MESSAGE_VM_FAILED,
                         "GOLEM_VM=%s", vm->record.name,
                         "GOLEM_VM_OPERATION=%s", vm_operation_to_string(op),
                         "MESSAGE=VM %s: %s", vm->record.name, text);
        emit(vm->manager, vm, VM_EVENT_FAILED, op, error, text);
        emit(vm->manager, vm, VM_EVENT_CHANGED, op, 0, NULL);
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
        log_vm_event(vm, LOG_INFO, GOLEM_MESSAGE_VM_STOPPED, "VM %s stopped.", vm->record.name);
        emit(vm->manager, vm, VM_EVENT_CHANGED, VM_OP_STOP, 0, NULL);
}

static void on_deleted(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        if (r < 0 && r != -ENOENT) {
                op_failed(vm, VM_OP_DELETE, VM_ERROR, r, message);
                return;
        }
        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_DELETED,
                   "GOLEM_VM=%s", vm->record.name,
                   "MESSAGE=VM %s deleted.", vm->record.name);
        vm_remove(vm, VM_OP_DELETE, 0, NULL);
}

int manager_start_vm(Manager *m, const Caller *c, VM *vm) {
        int r;

        if (!manager_caller_owns(c, vm))
                return -EPERM;
        if (driver_error(m) < 0)
                return -EHOSTDOWN;
        if (vm->record.state != VM_STOPPED || vm->op)
                return -EBUSY;

        r = vm_set_state(vm, VM_STARTING, NULL);
        if (r < 0)
                return r;
        emit(m, vm, VM_EVENT_CHANGED, VM_OP_START, 0, NULL);

        vm->op_kind = VM_OP_START;
        r = m->driver->ops->start(m->driver, vm->record.name, on_started, vm, &vm->op);
        if (r < 0) {
                vm->op = NULL;
                op_failed(vm, VM_OP_START, VM_STOPPED, r, NULL);
        }
        return 0;
}

int manager_stop_vm(Manager *m, const Caller *c, VM *vm) {
        int r;

        if (!manager_caller_owns(c, vm))
                return -EPERM;
        if (driver_error(m) < 0)
                return -EHOSTDOWN;
        if (vm->record.state != VM_RUNNING || vm->op)
                return -EBUSY;

        r = vm_set_state(vm, VM_STOPPING, NULL);
        if (r < 0)
                return r;
        /* Sessions end with the VM; new ones are refused from now on. */
        vm_forwarder_close(vm);
        emit(m, vm, VM_EVENT_CHANGED, VM_OP_STOP, 0, NULL);

        vm->op_kind = VM_OP_STOP;
        r = m->driver->ops->stop(m->driver, vm->record.name, on_stopped, vm, &vm->op);
        if (r < 0) {
                vm->op = NULL;
                op_failed(vm, VM_OP_STOP, VM_RUNNING, r, NULL);
        }
        return 0;
}

static void on_create_deleted(int r, const char *message, void *userdata) {
        VM *vm = userdata;

        vm->op = NULL;
        job_update(vm->manager, vm, JOB_FAILED, vm->failure_message);
        if (r < 0 && r != -ENOENT) {
                emit(vm->manager, vm, VM_EVENT_FAILED, VM_OP_CREATE, vm->failure, vm->failure_message);
                op_failed(vm, VM_OP_DELETE, VM_ERROR, r, message);
                return;
        }
        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_DELETED,
                   "GOLEM_VM=%s", vm->record.name,
                   "MESSAGE=VM %s deleted while it was being created.", vm->record.name);
        vm_remove(vm, VM_OP_CREATE, vm->failure, vm->failure_message);
}

/* A delete of a VM that is still being created: the launch is given up and what it made
 * removed, where the driver can promise that nothing is left behind. */
static int delete_while_creating(Manager *m, VM *vm) {
        int r;

        m->driver->ops->cancel(vm->op);
        vm->op = NULL;
        vm->failure = -ECANCELED;
        (void) free_and_strdup(&vm->failure_message, "Deleted while it was being created");
        r = vm_set_state(vm, VM_DELETING, vm->failure_message);
        if (r < 0)
                log_warning_errno(r, "Deleting VM %s while it is created, without saving that first: %m",
                                  vm->record.name);
        vm_forwarder_close(vm);
        emit(m, vm, VM_EVENT_CHANGED, VM_OP_DELETE, 0, NULL);

        vm->op_kind = VM_OP_DELETE;
        r = m->driver->ops->remove(m->driver, vm->record.name, on_create_deleted, vm, &vm->op);
        if (r < 0) {
                vm->op = NULL;
                on_create_deleted(r, NULL, vm);
        }
        return 0;
}

int manager_delete_vm(Manager *m, const Caller *c, VM *vm) {
        int r;

        if (!manager_caller_owns(c, vm))
                return -EPERM;
        if (driver_error(m) < 0)
                return -EHOSTDOWN;
        if (vm->record.state == VM_CREATING && vm->op && vm->op_kind == VM_OP_CREATE && m->driver->ops->launch_cancellable)
                return delete_while_creating(m, vm);
        if (!IN_SET(vm->record.state, VM_RUNNING, VM_STOPPED, VM_ERROR) || vm->op)
                return -EBUSY;

        r = vm_set_state(vm, VM_DELETING, NULL);
        if (r < 0)
                return r;
        vm_forwarder_close(vm);
        emit(m, vm, VM_EVENT_CHANGED, VM_OP_DELETE, 0, NULL);

        vm->op_kind = VM_OP_DELETE;
        r = m->driver->ops->remove(m->driver, vm->record.name, on_deleted, vm, &vm->op);
        if (r < 0) {
                vm->op = NULL;
                op_failed(vm, VM_OP_DELETE, VM_ERROR, r, NULL);
        }
        return 0;
}

/* ---- recovery at start: our records against the driver's list ---- */

static void adopt_poll_schedule(VM *vm);

static void adopt_failed(VM *vm, const char *why) {
        log_struct(LOG_WARNING,
                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_FAILED,
                   "GOLEM_VM=%s", vm->record.name,
                   "MESSAGE=VM %s was being created when the provider stopped and %s; cleaning it up.",
                   vm->record.name, why);
        create_failed(vm, -EIO, "The provider restarted while the VM was being created, and the launch did not complete");
}

/* Settles a record against what the driver reports for it (NULL: the driver has no such VM). */
static void reconcile_vm(VM *vm, const DriverVM *d) {
        VMState s = vm->record.state;

        if (vm->op)
                return; /* something is already being done with it */

        switch (s) {
        case VM_CREATING: {
                usec_t deadline = vm->record.created_at + vm->manager->settings.launch_timeout_sec * USEC_PER_SEC;

                if (d && d->state == DRIVER_VM_RUNNING) {
                        log_vm_event(vm, LOG_NOTICE, GOLEM_MESSAGE_VM_ADOPTED,
                                     "VM %s finished launching while the provider was down; adopted.", vm->record.name);
                        vm->op_kind = VM_OP_CREATE;
                        vm_came_up(vm, VM_OP_CREATE, d);
                } else if ((!d || d->state == DRIVER_VM_STARTING) && now_realtime() < deadline)
                        /* Still booting, or still being prepared (an image download): such an
                         * instance is not listed at all yet. Ask again until the launch timeout. */
                        adopt_poll_schedule(vm);
                else
                        adopt_failed(vm, d ? "the hypervisor did not finish it" : "the hypervisor does not have it");
                return;
        }

        case VM_DELETING:
                (void) vm_set_state(vm, VM_RUNNING, NULL); /* any state delete accepts */
                (void) manager_delete_vm(vm->manager, NULL, vm);
                return;

        case VM_ERROR:
                return;

        default:
                break;
        }

        if (!d) {
                (void) vm_set_state(vm, VM_ERROR, "The hypervisor lost this VM");
                log_vm_event(vm, LOG_ERR, GOLEM_MESSAGE_VM_FAILED, "VM %s is gone from the hypervisor.", vm->record.name);
                emit(vm->manager, vm, VM_EVENT_CHANGED, VM_OP_START, 0, NULL);
                return;
        }

        switch (d->state) {
        case DRIVER_VM_RUNNING:
                if (s == VM_RUNNING && (!d->ip_address[0] || streq(d->ip_address, vm->record.ip_address)))
                        return; /* nothing new */
                if (d->ip_address[0])
                        strcpy(vm->record.ip_address, d->ip_address);
                (void) vm_set_state(vm, VM_RUNNING, NULL);
                if (s == VM_STOPPING) {
                        /* A stop was asked for and is not done: finish it. */
                        vm_forwarder_update(vm);
                        (void) manager_stop_vm(vm->manager, NULL, vm);
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
                if (s == VM_STOPPED)
                        return;
                if (s == VM_RUNNING)
                        log_vm_event(vm, LOG_NOTICE, GOLEM_MESSAGE_VM_STOPPED,
                                     "VM %s stopped by itself (shut down from inside).", vm->record.name);
                (void) vm_set_state(vm, VM_STOPPED, NULL);
                if (s == VM_STARTING) {
                        /* A start was asked for and did not happen: do it. */
                        (void) manager_start_vm(vm->manager, NULL, vm);
                        return;
                }
                break;
        case DRIVER_VM_DELETED:
                (void) vm_set_state(vm, VM_ERROR, "The VM was deleted outside of golem");
                break;
        default:
                (void) vm_set_state(vm, VM_ERROR, "The hypervisor reports the VM in an unknown state");
                break;
        }
        vm_forwarder_update(vm);
        emit(vm->manager, vm, VM_EVENT_CHANGED, VM_OP_START, 0, NULL);
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
        vm->adopt_polls++;
        if (!vm->poll_timer)
                (void) sd_event_add_time_relative(vm->manager->event, &vm->poll_timer, CLOCK_MONOTONIC,
                                                  ADOPT_POLL_USEC, 0, on_adopt_poll, vm);
}

static void reconcile_schedule_retry(Manager *m);

static void on_reconcile_list(int r, const char *message, const DriverVM *vms, size_t n, void *userdata) {
        Manager *m = userdata;
        VM *next;

        m->reconcile_op = NULL;
        if (r < 0) {
                log_warning("Cannot list the hypervisor's VMs (%s); retrying in %" PRIu64 " s.",
                            message, RECONCILE_RETRY_USEC / USEC_PER_SEC);
                reconcile_schedule_retry(m);
                return;
        }

        for (size_t i = 0; i < n && !m->reconciled; i++)
                if (!manager_get_vm(m, vms[i].name))
                        log_struct(LOG_WARNING,
                                   "GOLEM_VM=%s", vms[i].name,
                                   "MESSAGE=The hypervisor has a VM golem-%s that this provider has no record of; leaving it alone.",
                                   vms[i].name);

        for (VM *vm = m->vms; vm; vm = next) {
                const DriverVM *d = NULL;

                next = vm->next; /* reconcile_vm() may remove vm */
                for (size_t i = 0; i < n; i++)
                        if (streq(vms[i].name, vm->record.name))
                                d = vms + i;
                reconcile_vm(vm, d);
        }
        m->reconciled = true;
        log_debug("Reconciled %zu record(s) with %zu VM(s) of the hypervisor.", m->n_vms, n);
}

static int reconcile(Manager *m) {
        int r;

        if (!m->driver)
                return 0;
        r = m->driver->ops->list(m->driver, on_reconcile_list, m, &m->reconcile_op);
        if (r < 0) {
                m->reconcile_op = NULL;
                log_warning_errno(r, "Cannot run the hypervisor's list: %m");
                reconcile_schedule_retry(m);
        }
        return 0;
}

static int on_reconcile_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->reconcile_timer = sd_event_source_disable_unref(m->reconcile_timer);
        return reconcile(m);
}

static void reconcile_schedule_retry(Manager *m) {
        if (!m->reconcile_timer)
                (void) sd_event_add_time_relative(m->event, &m->reconcile_timer, CLOCK_MONOTONIC,
                                                  RECONCILE_RETRY_USEC, USEC_PER_SEC, on_reconcile_timer, m);
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
                int k;

                /* Reservations are the records themselves: recompute them exactly. */
                if (vm_state_reserves(records[i].state))
                        ledger_adopt(&m->ledger, &records[i].resources);
                k = port_index(m, records[i].ssh_port);
                if (k >= 0)
                        m->ports[k] = 1;
                else if (records[i].ssh_port != 0)
                        log_warning("VM %s has port %u, outside of the configured range; keeping it.",
                                    records[i].name, records[i].ssh_port);

                vm = vm_add(m, &records[i]);
                if (!vm) {
                        vm_record_done(&records[i]);
                        r = log_oom();
                }
        }
        free(records);
        log_debug("Loaded %zu VM record(s).", n);
        return r;
}

/* ---- set-up ---- */

static void on_advertisement_posted(void *userdata) {
        provider_bus_manager_changed(userdata, "LastAdvertisement", NULL);
}

static int get_free(void *userdata, int64_t *ret_cpu, int64_t *ret_memory, int64_t *ret_storage) {
        Manager *m = userdata;
        Resources a = ledger_available(&m->ledger);

        if (!ledger_can_offer(&m->ledger))
                a = (Resources) {};
        *ret_cpu = a.cpu;
        *ret_memory = a.memory;
        *ret_storage = a.storage;
        return 0;
}

static int on_usage_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        int r;

        r = ledger_sample_usage(&m->ledger, m->settings.vm_data_dir);
        if (r < 0)
                log_debug_errno(r, "Failed to sample host usage, ignoring: %m");

        /* Notice VMs that stopped or vanished by themselves. */
        if (m->driver && m->reconciled && !m->reconcile_op && m->driver->ops->poll_interval > 0 &&
            now_monotonic() >= m->last_poll + m->driver->ops->poll_interval) {
                m->last_poll = now_monotonic();
                (void) reconcile(m);
        }
        (void) sd_event_source_set_time_relative(s, USAGE_INTERVAL_USEC);
        return 0;
}

/* The driver saw a VM change by itself (its qemu exited): compare records with its list now,
 * or as soon as the comparison under way is over. */
static int on_poll_soon(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (!m->reconciled || m->reconcile_op) {
                (void) sd_event_source_set_time_relative(s, 200 * USEC_PER_MSEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        m->last_poll = now_monotonic();
        return reconcile(m);
}

static void on_driver_changed(void *userdata) {
        Manager *m = userdata;

        if (!m->poll_soon_timer)
                (void) sd_event_add_time_relative(m->event, &m->poll_soon_timer, CLOCK_MONOTONIC, 0, 0, on_poll_soon, m);
        else {
                (void) sd_event_source_set_time_relative(m->poll_soon_timer, 0);
                (void) sd_event_source_set_enabled(m->poll_soon_timer, SD_EVENT_ONESHOT);
        }
}

static const char *find_binary(const char *configured, const char *const *candidates) {
        if (configured)
                return access(configured, X_OK) >= 0 ? configured : NULL;
        for (const char *const *c = candidates; *c; c++)
                if (access(*c, X_OK) >= 0)
                        return *c;
        return NULL;
}

static const char *const qemu_candidates[] = { "/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64", NULL };

static int setup_qemu(Manager *m, const char *qemu) {
        static const char *const img[] = { "/usr/bin/qemu-img", "/usr/local/bin/qemu-img", NULL };
        static const char *const iso[] = { "/usr/bin/genisoimage", "/usr/bin/mkisofs", NULL };
        _cleanup_free_ char *image_dir = NULL;
        const char *qemu_img = find_binary(NULL, img), *genisoimage = find_binary(NULL, iso);
        const char *accel = m->settings.qemu_accel;
        int r;

        if (!qemu_img || !genisoimage) {
                log_error("The qemu driver needs qemu-img and genisoimage; VMs cannot be created until they are installed.");
                return 0;
        }
        /* "auto" is left to qemu, which tries KVM and falls back to TCG: under systemd only
         * the VM's unit sees /dev/kvm, not this sandboxed daemon (PrivateDevices=yes). */
        if (m->settings.image_dir)
                image_dir = strdup(m->settings.image_dir);
        else if (asprintf(&image_dir, "%s/images", m->settings.vm_data_dir) < 0)
                image_dir = NULL;
        if (!image_dir)
                return log_oom();

        r = driver_qemu_new(m->event, m->runner, &(QemuConfig) {
                        .binary = qemu,
                        .img_binary = qemu_img,
                        .iso_binary = genisoimage,
                        .image_dir = image_dir,
                        .data_dir = m->settings.vm_data_dir,
                        .listen_host = m->settings.host,
                        .accel = accel,
                        .launch_timeout = m->settings.launch_timeout_sec * USEC_PER_SEC,
                }, &m->driver);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the qemu driver: %m");
        log_debug("Using the qemu driver with %s (%s), images in %s.", qemu, accel, image_dir);
        return 0;
}

static int setup_driver(Manager *m) {
        static const char *const multipass_candidates[] = {
                "/snap/bin/multipass", "/usr/local/bin/multipass", "/usr/bin/multipass", NULL,
        };
        const char *driver = m->settings.driver, *binary, *qemu;
        int r;

        binary = find_binary(m->settings.multipass_binary_path, multipass_candidates);
        qemu = find_binary(m->settings.qemu_binary_path, qemu_candidates);

        /* auto: multipass when it is installed, else qemu when it is. */
        if (streq(driver, "qemu") || (streq(driver, "auto") && !binary && qemu)) {
                if (!qemu) {
                        log_error("No VM driver is available: qemu-system-x86_64 not found. VMs cannot be created until it is installed.");
                        return 0;
                }
                return setup_qemu(m, qemu);
        }

        if (!binary) {
                log_struct(LOG_ERR,
                           "MESSAGE=No VM driver is available: multipass not found%s%s. VMs cannot be created until it is installed.",
                           m->settings.multipass_binary_path ? " at " : "",
                           strempty(m->settings.multipass_binary_path));
                return 0;
        }

        r = driver_multipass_new(m->runner, &(MultipassConfig) {
                        .binary = binary,
                        .data_dir = m->settings.vm_data_dir,
                        .launch_timeout = m->settings.launch_timeout_sec * USEC_PER_SEC,
                }, &m->driver);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the multipass driver: %m");
        log_debug("Using the multipass driver with %s.", binary);
        return 0;
}

static int setup_identity(Manager *m) {
        struct utsname u;
        char id[33];
        int r;

        if (m->settings.id)
                r = free_and_strdup(&m->provider_id, m->settings.id);
        else {
                r = provider_store_get_meta(m->store, "provider_id", &m->provider_id);
                if (r == -ENOENT) {
                        make_job_id(id);
                        r = provider_store_set_meta(m->store, "provider_id", id);
                        if (r >= 0)
                                r = free_and_strdup(&m->provider_id, id);
                }
        }
        if (r < 0)
                return log_error_errno(r, "Failed to set up the provider id: %m");

        if (uname(&u) >= 0)
                snprintf(m->platform, sizeof(m->platform), "%.31s", u.machine);
        if (m->settings.name)
                r = free_and_strdup(&m->provider_name, m->settings.name);
        else
                r = free_and_strdup(&m->provider_name, u.nodename[0] ? u.nodename : "golem-provider");
        return r < 0 ? log_oom() : 0;
}

static int setup_ledger(Manager *m) {
        HostCapacity host;
        int r;

        r = host_capacity_probe(m->settings.vm_data_dir, &host);
        if (r < 0)
                return log_error_errno(r, "Failed to measure the host: %m");

        m->ledger = (Ledger) {
                .capacity = {
                        .cpu = MAX(host.cpu - (int64_t) m->settings.reserve_cpu, (int64_t) 0),
                        .memory = MAX(host.memory_gb - (int64_t) m->settings.reserve_memory_gb, (int64_t) 0),
                        .storage = MAX(host.storage_gb - (int64_t) m->settings.reserve_storage_gb, (int64_t) 0),
                },
                .max_vms = m->settings.max_vms,
                .minimum = {
                        .cpu = m->settings.min_cpu_cores,
                        .memory = m->settings.min_memory_gb,
                        .storage = m->settings.min_storage_gb,
                },
                .cpu_threshold = m->settings.cpu_threshold,
                .memory_threshold = m->settings.memory_threshold,
                .storage_threshold = m->settings.storage_threshold,
        };

        /* An explicit capacity wins, and may promise more than the host has (overcommit). */
        if (m->settings.capacity_cpu > 0)
                m->ledger.capacity.cpu = m->settings.capacity_cpu;
        if (m->settings.capacity_memory_gb > 0)
                m->ledger.capacity.memory = m->settings.capacity_memory_gb;
        if (m->settings.capacity_storage_gb > 0)
                m->ledger.capacity.storage = m->settings.capacity_storage_gb;
        if (m->ledger.capacity.cpu > host.cpu)
                log_warning("Offering %" PRIi64 " CPUs on a host with %" PRIi64 ": overcommitting CPU.",
                            m->ledger.capacity.cpu, host.cpu);
        if (m->ledger.capacity.memory > host.memory_gb)
                log_warning("Offering %" PRIi64 " GB of memory on a host with %" PRIi64 " GB: overcommitting memory.",
                            m->ledger.capacity.memory, host.memory_gb);

        (void) ledger_sample_usage(&m->ledger, m->settings.vm_data_dir);
        return 0;
}

static int setup_advertiser(Manager *m) {
        int r;

        if (!m->settings.discovery_url) {
                log_info("No discovery URL configured: not advertising.");
                return 0;
        }
        if (!m->settings.public_ip) {
                log_warning("No public IP configured (PUBLIC_IP): not advertising, since requestors could not reach us.");
                return 0;
        }

        r = curl_glue_new(m->event, &m->curl);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the HTTP client: %m");

        r = advertiser_new(m->event, m->curl, &(AdvertiserConfig) {
                        .discovery_url = m->settings.discovery_url,
                        .provider_id = m->provider_id,
                        .public_ip = m->settings.public_ip,
                        .country = m->settings.country,
                        .platform = m->platform[0] ? m->platform : NULL,
                        .interval_usec = m->settings.advertisement_interval_sec * USEC_PER_SEC,
                        .min_cpu = m->settings.min_cpu_cores,
                        .min_memory_gb = m->settings.min_memory_gb,
                        .min_storage_gb = m->settings.min_storage_gb,
                        .on_posted = on_advertisement_posted,
                }, get_free, m, &m->advertiser);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the advertiser: %m");
        return 0;
}

int manager_reload(Manager *m) {
        ProviderSettings s;
        int r;

        m->reload_error = mfree(m->reload_error);
        r = provider_settings_load(&s, m->config_path, &m->reload_error);
        if (r < 0) {
                log_warning("Reload refused, keeping the running configuration: %s", strempty(m->reload_error));
                provider_settings_done(&s);
                return r;
        }

        m->ledger.max_vms = s.max_vms;
        m->ledger.minimum = (Resources) { s.min_cpu_cores, s.min_memory_gb, s.min_storage_gb };
        m->ledger.cpu_threshold = s.cpu_threshold;
        m->ledger.memory_threshold = s.memory_threshold;
        m->ledger.storage_threshold = s.storage_threshold;
        m->settings.max_vms = s.max_vms;
        m->settings.min_cpu_cores = s.min_cpu_cores;
        m->settings.min_memory_gb = s.min_memory_gb;
        m->settings.min_storage_gb = s.min_storage_gb;
        m->settings.cpu_threshold = s.cpu_threshold;
        m->settings.memory_threshold = s.memory_threshold;
        m->settings.storage_threshold = s.storage_threshold;
        provider_settings_done(&s);

        log_info("Configuration reloaded.");
        if (m->advertiser)
                (void) advertiser_set_minimums(m->advertiser, m->settings.min_cpu_cores, m->settings.min_memory_gb,
                                               m->settings.min_storage_gb);
        advertise_changed(m);
        return 0;
}

static void on_withdrawn(void *userdata) {
        Manager *m = userdata;

        (void) sd_event_exit(m->event, 0);
}

/* The first SIGTERM: stop taking requests, take the advertisement down (waiting a little for
 * the discovery service), then leave. VMs keep running; the next start adopts them. */
static void on_stop(sd_event *e, void *userdata) {
        Manager *m = userdata;

        http_server_shutdown(m->http);
        if (m->advertiser && advertiser_withdraw(m->advertiser, WITHDRAW_TIMEOUT_USEC, on_withdrawn, m) >= 0)
                return;
        (void) sd_event_exit(e, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata);
        return 0;
}

int manager_new(ProviderSettings *settings, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->settings = *settings;
        *settings = (ProviderSettings) {};

        m->ports = calloc((size_t) (m->settings.port_range_end - m->settings.port_range_start) + 1, 1);
        if (!m->ports)
                return -ENOMEM;

        r = daemon_setup_event(&m->event, on_stop, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r < 0)
                return r;
        r = runner_new(m->event, &m->runner);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Units (a launch in flight) outlive us; the next start picks them up. */
        if (m->runner)
                runner_detach(m->runner);
        http_server_free(m->http);
        provider_rest_free(m);
        provider_bus_free(m);
        while (m->vms)
                vm_free(m->vms);
        advertiser_free(m->advertiser);
        curl_glue_free(m->curl);
        if (m->driver && m->reconcile_op)
                m->driver->ops->cancel(m->reconcile_op);
        if (m->driver)
                m->driver->ops->free(m->driver);
        runner_free(m->runner);
        sd_event_source_disable_unref(m->usage_timer);
        sd_event_source_disable_unref(m->reconcile_timer);
        sd_event_source_disable_unref(m->poll_soon_timer);
        provider_store_closep(&m->store);
        sd_event_unref(m->event);
        free(m->ports);
        free(m->provider_id);
        free(m->provider_name);
        free(m->reload_error);
        provider_settings_done(&m->settings);
        free(m);
        return NULL;
}

static int open_listeners(Manager *m) {
        static const char *const names[] = { "rest", "http", NULL };
        int r;

        r = http_server_listen(m->http, names, m->settings.host, m->settings.port);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s port %u: %m", m->settings.host, m->settings.port);
        return 0;
}

int manager_start(Manager *m) {
        _cleanup_free_ char *db = NULL;
        HttpServerConfig http;
        int r;

        if (mkdir(m->settings.vm_data_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", m->settings.vm_data_dir);
        if (asprintf(&db, "%s/provider.db", m->settings.vm_data_dir) < 0)
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
        r = setup_driver(m);
        if (r < 0)
                return r;
        if (m->driver) {
                m->driver->changed = on_driver_changed;
                m->driver->changed_userdata = m;
        }
        r = load_records(m);
        if (r < 0)
                return r;
        r = setup_advertiser(m);
        if (r < 0)
                return r;

        r = provider_rest_setup(m, &http);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the REST API: %m");
        r = http_server_new(m->event, &http, &m->http);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the HTTP server: %m");
        r = open_listeners(m);
        if (r < 0)
                return r;
        r = provider_bus_setup(m);
        if (r < 0)
                return r;

        r = sd_event_add_time_relative(m->event, &m->usage_timer, CLOCK_MONOTONIC, USAGE_INTERVAL_USEC,
                                       USEC_PER_SEC, on_usage_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the usage timer: %m");
        (void) sd_event_source_set_enabled(m->usage_timer, SD_EVENT_ON);

        return reconcile(m);
}

int manager_run(Manager *m) {
        Resources a = ledger_available(&m->ledger);
        int r;

        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_SERVICE_STARTED,
                   "GOLEM_PROVIDER=%s", m->provider_id,
                   "MESSAGE=golem-providerd %s ready: %zu VM(s), %" PRIi64 " CPU, %" PRIi64 " GB memory, %" PRIi64 " GB storage free, driver %s.",
                   m->provider_id, m->n_vms, a.cpu, a.memory, a.storage, m->driver ? m->driver->ops->name : "none");
        daemon_notify_ready("Serving VMs.");
        if (m->advertiser)
                advertiser_start(m->advertiser);

        r = sd_event_loop(m->event);

        log_struct(LOG_INFO,
                   "MESSAGE_ID=" GOLEM_MESSAGE_SERVICE_STOPPED,
                   "MESSAGE=golem-providerd stopped.");
        return r;
}
