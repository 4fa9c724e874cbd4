/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdio.h>

#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "provider-manager.h"

/* The REST API of the wire protocol: /api/v1/vms and friends. Requests that wait for a VM
 * (a synchronous create, start, stop, delete) are suspended and answered from the
 * manager's events. */

#define PROVIDER_BODY_MAX (64 * 1024)
/* GET /api/v1/vms/jobs/{id}?wait=SECONDS: at most this long. */
#define JOB_WAIT_MAX_SEC 60

typedef struct Waiter {
        struct Waiter *prev, *next;
        HttpRequest *req;
        char name[VM_NAME_MAX + 1];
        VMOperation op;
} Waiter;

/* A GET of a job that is still creating, held until the job changes (its status, its
 * progress) or the wait is over: a client learns at once that its VM runs, without
 * polling. */
typedef struct JobWaiter {
        struct JobWaiter *prev, *next;
        struct Rest *rest;
        HttpRequest *req;
        char job_id[JOB_ID_LEN + 1];
        char name[VM_NAME_MAX + 1];
        sd_event_source *timer;
} JobWaiter;

typedef struct Rest {
        Manager *manager;
        Waiter *waiters;
        JobWaiter *job_waiters;
        /* GET /api/v1/vms as anonymous callers see it, valid while the generation holds. */
        char *list_cache;
        size_t list_cache_size;
        uint64_t list_cache_generation;
} Rest;

static void caller_from_request(HttpRequest *req, Caller *ret) {
        *ret = (Caller) {
                .kind = CALLER_REST,
                .address = http_request_client_string(req),
                .request_id = http_request_id(req),
        };
}

static int reply_vm(HttpRequest *req, unsigned status, const VM *vm) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = vm_record_to_json(&vm->record, &o);
        if (r < 0)
                return r;
        return http_reply_json(req, status, o);
}

static int reply_not_found(HttpRequest *req, const char *name) {
        return http_reply_error(req, 404, "VM_NOT_FOUND", "VM %s not found", name);
}

static int reply_wrong_state(HttpRequest *req, const VM *vm, VMOperation op) {
        return http_reply_error(req, 409, "VM_WRONG_STATE", "Cannot %s VM %s while it is %s",
                                vm_operation_to_string(op), vm->record.name, vm_state_to_string(vm->record.state));
}

static int reply_driver_error(HttpRequest *req, int error, VMOperation op, const char *message) {
        if (error == -EHOSTDOWN)
                return http_reply_error(req, 503, "DRIVER_UNAVAILABLE", "The hypervisor is unavailable: %s", strempty(message));
        if (error == -ETIMEDOUT)
                return http_reply_error(req, 504, "VM_TIMEOUT", "%s", strempty(message));
        if (error == -EEXIST)
                return http_reply_error(req, 409, "VM_NAME_TAKEN", "%s", strempty(message));
        return http_reply_error(req, 500, op == VM_OP_CREATE ? "VM_CREATE_ERROR" : "VM_OPERATION_ERROR",
                                "%s", message ?: strerror(ERRNO_VALUE(error)));
}

/* Finds the VM named in the path, answering 404 when there is none (or it is not the
 * caller's: someone else's VM does not exist for you). */
static VM *lookup_vm(HttpRequest *req, Manager *m, const Caller *c) {
        const char *name = http_request_path_arg(req, 0);
        VM *vm = vm_name_valid(name) ? manager_get_vm(m, name) : NULL;

        if (!vm || !manager_caller_owns(c, vm)) {
                (void) reply_not_found(req, name);
                return NULL;
        }
        return vm;
}

/* ---- waiting ---- */

static void waiter_free(Rest *rest, Waiter *w) {
        if (w->prev)
                w->prev->next = w->next;
        else
                rest->waiters = w->next;
        if (w->next)
                w->next->prev = w->prev;
        free(w);
}

static void on_request_gone(HttpRequest *req, void *data) {
        Waiter *w = data;

        w->req = NULL; /* the waiter stays until its event comes, then goes quietly */
}

static int wait_for(HttpRequest *req, Manager *m, const VM *vm, VMOperation op) {
        Rest *rest = m->rest;
        Waiter *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        r = http_request_suspend(req);
        if (r < 0) {
                free(w);
                return r;
        }
        w->req = req;
        strcpy(w->name, vm->record.name);
        w->op = op;
        w->next = rest->waiters;
        if (rest->waiters)
                rest->waiters->prev = w;
        rest->waiters = w;
        http_request_set_destroy_callback(req, on_request_gone, w);
        return 0;
}

static int load_and_reply_job(HttpRequest *req, Manager *m, const char *id);

static void job_waiter_free(JobWaiter *w) {
        Rest *rest = w->rest;

        if (w->prev)
                w->prev->next = w->next;
        else
                rest->job_waiters = w->next;
        if (w->next)
                w->next->prev = w->prev;
        if (w->req)
                http_request_set_destroy_callback(w->req, NULL, NULL);
        sd_event_source_disable_unref(w->timer);
        free(w);
}

static void job_waiter_answer(JobWaiter *w) {
        HttpRequest *req = w->req;
        Manager *m = w->rest->manager;
        char id[JOB_ID_LEN + 1];

        strcpy(id, w->job_id);
        job_waiter_free(w);
        if (load_and_reply_job(req, m, id) < 0)
                (void) http_reply_error(req, 500, "INTERNAL_ERROR", "Cannot read job %s", id);
}

static void on_job_request_gone(HttpRequest *req, void *data) {
        JobWaiter *w = data;

        w->req = NULL;
        job_waiter_free(w);
}

static int on_job_wait_over(sd_event_source *s, uint64_t usec, void *userdata) {
        job_waiter_answer(userdata);
        return 0;
}

static int job_wait(HttpRequest *req, Manager *m, const char *id, const char *name, uint64_t seconds) {
        Rest *rest = m->rest;
        JobWaiter *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->rest = rest;
        strcpy(w->job_id, id);
        snprintf(w->name, sizeof(w->name), "%s", name);
        r = sd_event_add_time_relative(m->event, &w->timer, CLOCK_MONOTONIC, seconds * USEC_PER_SEC,
                                       10 * USEC_PER_MSEC, on_job_wait_over, w);
        if (r >= 0)
                r = http_request_suspend(req);
        if (r < 0) {
                sd_event_source_disable_unref(w->timer);
                free(w);
                return r;
        }
        w->req = req;
        w->next = rest->job_waiters;
        if (rest->job_waiters)
                rest->job_waiters->prev = w;
        rest->job_waiters = w;
        http_request_set_destroy_callback(req, on_job_request_gone, w);
        return 0;
}

/* Something happened to the VM (or its launch progressed): its job's waiters learn it. */
void provider_rest_job_changed(Manager *m, const VM *vm) {
        Rest *rest = m->rest;
        JobWaiter *next;

        if (!rest)
                return;
        for (JobWaiter *w = rest->job_waiters; w; w = next) {
                next = w->next;
                if (streq(w->name, vm->record.name))
                        job_waiter_answer(w);
        }
}

/* Answers the waiters of vm that this event settles. */
static void on_vm_event(Manager *m, VM *vm, VMEvent event, VMOperation op, int error, const char *message, void *userdata) {
        Rest *rest = userdata;
        Waiter *next;

        provider_rest_job_changed(m, vm);
        for (Waiter *w = rest->waiters; w; w = next) {
                bool done = false;

                next = w->next;
                if (!streq(w->name, vm->record.name))
                        continue;

                if (event == VM_EVENT_FAILED && w->op == op) {
                        if (w->req)
                                (void) reply_driver_error(w->req, error, op, message);
                        done = true;
                } else if (event == VM_EVENT_REMOVED && w->op == VM_OP_DELETE) {
                        if (w->req) {
                                _cleanup_json_ json_object *o = json_object_new_object();

                                if (o && json_object_object_add(o, "status", json_object_new_string("deleted")) >= 0 &&
                                    json_object_object_add(o, "vm_id", json_object_new_string(vm->record.name)) >= 0)
                                        (void) http_reply_json(w->req, 200, o);
                                else
                                        (void) http_reply_error(w->req, 500, "INTERNAL_ERROR", "Out of memory");
                        }
                        done = true;
                } else if (event == VM_EVENT_REMOVED) {
                        if (w->req)
                                (void) reply_driver_error(w->req, -EIO, w->op, "The VM was removed");
                        done = true;
                } else if (event == VM_EVENT_CHANGED) {
                        VMState s = vm->record.state;

                        if ((w->op == VM_OP_CREATE && s == VM_RUNNING) ||
                            (w->op == VM_OP_START && s == VM_RUNNING)) {
                                if (w->req)
                                        (void) reply_vm(w->req, w->op == VM_OP_CREATE ? 201 : 200, vm);
                                done = true;
                        } else if (w->op == VM_OP_STOP && s == VM_STOPPED) {
                                if (w->req)
                                        (void) reply_vm(w->req, 200, vm);
                                done = true;
                        } else if (s == VM_ERROR && w->op != VM_OP_DELETE) {
                                if (w->req)
                                        (void) reply_driver_error(w->req, -EIO, w->op, vm->record.error_message);
                                done = true;
                        }
                }

                if (done) {
                        if (w->req)
                                http_request_set_destroy_callback(w->req, NULL, NULL);
                        waiter_free(rest, w);
                }
        }
}

/* ---- handlers ---- */

static int get_health(HttpRequest *req, void *userdata) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_object_object_add(o, "status", json_object_new_string("healthy")) < 0)
                return -ENOMEM;
        return http_reply_json(req, 200, o);
}

/* A boolean query parameter (?async=true): absent is false, anything but a boolean -EINVAL. */
static int query_flag(HttpRequest *req, const char *name, bool *ret) {
        const char *v = http_request_query(req, name);
        int r;

        r = v ? parse_boolean(v) : 0;
        if (r < 0)
                return r;
        *ret = r;
        return 0;
}

static int post_vm(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_object *body = NULL;
        char field_error[FIELD_ERROR_MAX], reason[256] = "";
        VMCreateRequest *create;
        const char *data;
        bool async;
        Caller c;
        size_t size;
        VM *vm;
        int r;

        data = http_request_body(req, &size);
        if (json_parse(data, size, &body) < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "body: not valid JSON");

        create = malloc(sizeof(*create));
        if (!create)
                return -ENOMEM;
        r = vm_create_request_from_json(body, create, field_error);
        if (r < 0) {
                free(create);
                return http_reply_error(req, 422, "VALIDATION_ERROR", "%s", field_error);
        }
        if (query_flag(req, "async", &async) < 0) {
                free(create);
                return http_reply_error(req, 422, "VALIDATION_ERROR", "async: true or false");
        }

        caller_from_request(req, &c);
        r = manager_create_vm(m, &c, create, &vm, reason, sizeof(reason));
        free(create);
        if (r == -EEXIST)
                return http_reply_error(req, 409, "VM_NAME_TAKEN", "%s", reason);
        if (r == -ENOSPC)
                return http_reply_error(req, 503, "RESOURCE_UNAVAILABLE", "%s", reason);
        if (r == -EHOSTDOWN)
                return http_reply_error(req, 503, "DRIVER_UNAVAILABLE", "%s", reason);
        if (r == -EINVAL)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "%s", reason);
        if (r < 0)
                return http_reply_error(req, 500, "VM_CREATE_ERROR", "%s", reason[0] ? reason : strerror(ERRNO_VALUE(r)));

        if (async) {
                _cleanup_json_ json_object *o = json_object_new_object();

                if (!o ||
                    json_object_object_add(o, "job_id", json_object_new_string(vm->record.job_id)) < 0 ||
                    json_object_object_add(o, "vm_id", json_object_new_string(vm->record.name)) < 0 ||
                    json_object_object_add(o, "status", json_object_new_string("creating")) < 0)
                        return -ENOMEM;
                return http_reply_json(req, 202, o);
        }
        return wait_for(req, m, vm, VM_OP_CREATE);
}

static int list_vms(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        Rest *rest = m->rest;
        _cleanup_json_ json_object *a = json_object_new_array();
        const char *text;
        Caller c;

        if (!a)
                return -ENOMEM;
        caller_from_request(req, &c);

        /* Rendering every VM is most of what this costs; the answer only changes with them. */
        if (!c.identity && rest->list_cache && rest->list_cache_generation == m->generation)
                return http_reply_json_text(req, 200, rest->list_cache, rest->list_cache_size);

        for (VM *vm = m->vms; vm; vm = vm->next) {
                json_object *o;

                if (!manager_caller_owns(&c, vm))
                        continue;
                if (vm_record_to_json(&vm->record, &o) < 0 || json_object_array_add(a, o) < 0)
                        return -ENOMEM;
        }

        text = json_to_string(a, false);
        if (!c.identity && text && free_and_strdup(&rest->list_cache, text) >= 0) {
                rest->list_cache_size = strlen(text);
                rest->list_cache_generation = m->generation;
        }
        return http_reply_json(req, 200, a);
}

static int get_vm(HttpRequest *req, void *userdata) {
        Caller c;
        VM *vm;

        caller_from_request(req, &c);
        vm = lookup_vm(req, userdata, &c);
        return vm ? reply_vm(req, 200, vm) : 0;
}

/* The address requestors connect to: PUBLIC_IP, else the address this request came in on. */
static void ssh_host(HttpRequest *req, Manager *m, char ret[static IP_ADDRESS_MAX]) {
        if (m->settings.public_ip) {
                snprintf(ret, IP_ADDRESS_MAX, "%s", m->settings.public_ip);
                return;
        }
        if (http_request_local_address(req, ret) < 0)
                snprintf(ret, IP_ADDRESS_MAX, "%s", m->settings.host);
}

static int get_access(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_object *o = NULL;
        char host[IP_ADDRESS_MAX], instance[sizeof("golem-") + VM_NAME_MAX];
        Caller c;
        VM *vm;

        caller_from_request(req, &c);
        vm = lookup_vm(req, m, &c);
        if (!vm)
                return 0;

        ssh_host(req, m, host);
        snprintf(instance, sizeof(instance), "golem-%s", vm->record.name);
        o = json_object_new_object();
        if (!o ||
            json_object_object_add(o, "ssh_host", json_object_new_string(host)) < 0 ||
            json_object_object_add(o, "ssh_port", json_object_new_int(vm->record.ssh_port)) < 0 ||
            json_object_object_add(o, "vm_id", json_object_new_string(vm->record.name)) < 0 ||
            json_object_object_add(o, "multipass_name", json_object_new_string(instance)) < 0)
                return -ENOMEM;
        return http_reply_json(req, 200, o);
}

static int vm_operation(HttpRequest *req, Manager *m, VMOperation op) {
        Caller c;
        VM *vm;
        int r;

        caller_from_request(req, &c);
        vm = lookup_vm(req, m, &c);
        if (!vm)
                return 0;

        switch (op) {
        case VM_OP_START:
                r = manager_start_vm(m, &c, vm);
                break;
        case VM_OP_STOP:
                r = manager_stop_vm(m, &c, vm);
                break;
        case VM_OP_DELETE:
                r = manager_delete_vm(m, &c, vm);
                break;
        default:
                return -EINVAL;
        }
        if (r == -EBUSY)
                return reply_wrong_state(req, vm, op);
        if (r == -EPERM)
                return reply_not_found(req, vm->record.name);
        if (r < 0)
                return reply_driver_error(req, r, op, NULL);

        /* The operation may have settled at once (a failure); otherwise wait for it. */
        vm = manager_get_vm(m, http_request_path_arg(req, 0));
        if (!vm) {
                if (op != VM_OP_DELETE)
                        return reply_not_found(req, http_request_path_arg(req, 0));
                _cleanup_json_ json_object *o = json_object_new_object();
                if (!o || json_object_object_add(o, "status", json_object_new_string("deleted")) < 0 ||
                    json_object_object_add(o, "vm_id", json_object_new_string(http_request_path_arg(req, 0))) < 0)
                        return -ENOMEM;
                return http_reply_json(req, 200, o);
        }
        if (!vm->op)
                return vm->record.state == VM_ERROR ? reply_driver_error(req, -EIO, op, vm->record.error_message)
                                                    : reply_vm(req, 200, vm);
        return wait_for(req, m, vm, op);
}

static int post_start(HttpRequest *req, void *userdata) {
        return vm_operation(req, userdata, VM_OP_START);
}

static int post_stop(HttpRequest *req, void *userdata) {
        return vm_operation(req, userdata, VM_OP_STOP);
}

static int delete_vm(HttpRequest *req, void *userdata) {
        return vm_operation(req, userdata, VM_OP_DELETE);
}

/* The job as the wire protocol has it, with the launch's progress while it creates. */
/* The VM of a job that is still creating it, else NULL. */
static VM *job_creating_vm(Manager *m, const Job *j) {
        VM *vm = manager_get_vm(m, j->vm_name);

        return vm && j->status == JOB_CREATING && streq(vm->record.job_id, j->job_id) ? vm : NULL;
}

/* The job as the wire protocol has it, with the launch's progress while it creates. */
static int reply_job(HttpRequest *req, Manager *m, const Job *j) {
        _cleanup_json_ json_object *o = json_object_new_object();
        VM *vm = job_creating_vm(m, j);

        if (!o ||
            json_object_object_add(o, "job_id", json_object_new_string(j->job_id)) < 0 ||
            json_object_object_add(o, "vm_id", json_object_new_string(j->vm_name)) < 0 ||
            json_object_object_add(o, "status", json_object_new_string(job_status_to_string(j->status))) < 0 ||
            json_object_object_add(o, "error", json_string_or_null(j->error)) < 0)
                return -ENOMEM;
        if (vm) {
                (void) json_object_object_add(o, "progress", vm->progress >= 0 ? json_object_new_int(vm->progress) : NULL);
                (void) json_object_object_add(o, "stage", json_string_or_null(vm->stage[0] ? vm->stage : NULL));
        }
        return http_reply_json(req, 200, o);
}

static int load_and_reply_job(HttpRequest *req, Manager *m, const char *id) {
        Job j = {};
        int r;

        r = provider_store_load_job(m->store, id, &j);
        if (r == -ENOENT)
                return http_reply_error(req, 404, "JOB_NOT_FOUND", "Job not found");
        if (r < 0)
                return r;
        r = reply_job(req, m, &j);
        job_done(&j);
        return r;
}

/* ?wait=SECONDS (an extension of the wire protocol; 0-60): while the job is creating the
 * answer comes when it changes, or after that long. Clients that do not ask poll as before. */
static int get_job(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        const char *id = http_request_path_arg(req, 0), *wait = http_request_query(req, "wait");
        uint64_t seconds = 0;
        Job j = {};
        int r;

        if (!id || strlen(id) != JOB_ID_LEN || !token_valid(id, JOB_ID_LEN, ""))
                return http_reply_error(req, 404, "JOB_NOT_FOUND", "Job not found");
        if (wait && parse_uint_range(wait, 0, JOB_WAIT_MAX_SEC, &seconds) < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "wait: seconds, an integer from 0 to %d",
                                        JOB_WAIT_MAX_SEC);
        r = provider_store_load_job(m->store, id, &j);
        if (r == -ENOENT)
                return http_reply_error(req, 404, "JOB_NOT_FOUND", "Job not found");
        if (r < 0)
                return r;
        if (seconds > 0 && job_creating_vm(m, &j))
                r = job_wait(req, m, id, j.vm_name, seconds);
        else
                r = reply_job(req, m, &j);
        job_done(&j);
        return r;
}

static json_object *resources_json(const Resources *r) {
        json_object *o = json_object_new_object();

        if (o && (json_object_object_add(o, "cpu", json_object_new_int64(r->cpu)) < 0 ||
                  json_object_object_add(o, "memory", json_object_new_int64(r->memory)) < 0 ||
                  json_object_object_add(o, "storage", json_object_new_int64(r->storage)) < 0)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static int get_provider_info(HttpRequest *req, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_object *o = json_object_new_object();
        Resources a = manager_available(m);

        if (!o ||
            json_object_object_add(o, "provider_id", json_object_new_string(m->provider_id)) < 0 ||
            json_object_object_add(o, "name", json_object_new_string(m->provider_name)) < 0 ||
            json_object_object_add(o, "country", json_object_new_string(m->settings.country)) < 0 ||
            json_object_object_add(o, "ip_address", json_string_or_null(m->settings.public_ip)) < 0 ||
            json_object_object_add(o, "platform", json_string_or_null(m->platform[0] ? m->platform : NULL)) < 0 ||
            json_object_object_add(o, "driver", json_string_or_null(m->driver ? m->driver->ops->name : NULL)) < 0 ||
            json_object_object_add(o, "total_resources", resources_json(&m->ledger.capacity)) < 0 ||
            json_object_object_add(o, "available_resources", resources_json(&a)) < 0 ||
            json_object_object_add(o, "vm_count", json_object_new_int64((int64_t) m->n_vms)) < 0 ||
            json_object_object_add(o, "max_vms", json_object_new_int64(m->settings.max_vms)) < 0)
                return -ENOMEM;
        return http_reply_json(req, 200, o);
}

static const HttpRoute provider_routes[] = {
        { HTTP_GET,    "/health",                   get_health,        0 },
        { HTTP_GET,    "/api/v1/vms/jobs/{}",       get_job,           HTTP_ROUTE_RATE_LIMITED },
        { HTTP_POST,   "/api/v1/vms",               post_vm,           HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/vms",               list_vms,          HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/vms/{}",            get_vm,            HTTP_ROUTE_RATE_LIMITED },
        { HTTP_DELETE, "/api/v1/vms/{}",            delete_vm,         HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/vms/{}/access",     get_access,        HTTP_ROUTE_RATE_LIMITED },
        { HTTP_POST,   "/api/v1/vms/{}/start",      post_start,        HTTP_ROUTE_RATE_LIMITED },
        { HTTP_POST,   "/api/v1/vms/{}/stop",       post_stop,         HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/provider/info",     get_provider_info, HTTP_ROUTE_RATE_LIMITED },
};

int provider_rest_setup(Manager *m, HttpServerConfig *ret) {
        Rest *rest;
        int r;

        rest = calloc(1, sizeof(*rest));
        if (!rest)
                return -ENOMEM;
        rest->manager = m;
        r = manager_add_listener(m, on_vm_event, rest);
        if (r < 0) {
                free(rest);
                return r;
        }
        m->rest = rest;

        *ret = (HttpServerConfig) {
                .routes = provider_routes,
                .n_routes = ELEMENTSOF(provider_routes),
                .userdata = m,
                .body_max = PROVIDER_BODY_MAX,
                .rate_per_minute = m->settings.rate_limit_per_minute,
                .rate_limit_code = "RATE_001",
        };
        return 0;
}

void provider_rest_free(Manager *m) {
        Rest *rest = m->rest;

        if (!rest)
                return;
        while (rest->waiters)
                waiter_free(rest, rest->waiters);
        while (rest->job_waiters)
                job_waiter_free(rest->job_waiters);
        free(rest->list_cache);
        free(rest);
        m->rest = NULL;
}
