/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "error-table.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "provider-auth.h"
#include "provider-openapi.h"
#include "validate.h"
#include "provider-rest.h"
#include "time-util.h"

#define PROVIDER_BODY_MAX (64 * 1024)
/* GET /api/v1/vms/jobs/{id}?wait=SECONDS: at most this long. */
#define JOB_WAIT_MAX_SEC 60
/* Nonces of signed requests remembered (nonce-cache.h): up to 65536 per 10 minutes (some
 * 110 signed requests a second sustained), 2.4 MiB or so when full; it starts with room for 1024. */
#define NONCE_CACHE_MAX 65536

struct ProviderRest {
        sd_event *event;
        Manager *manager;
        const ProviderSettings *settings;
        NonceCache *nonces;
        /* GET /api/v1/vms as anonymous callers see it (the unowned VMs), valid while the
         * generation holds. */
        char *list_cache;
        size_t list_cache_size;
        uint64_t list_cache_generation;
};

/* A suspended request that waits for an operation: its end (a create, start, stop, delete),
 * or any change of it (a GET of a job with ?wait=, which also has a timer). */
typedef struct RestWait {
        ProviderRest *rest;
        HttpRequest *req;
        Operation *operation;
        OperationWatcher *watcher;
        VMOperation kind;
        char name[VM_NAME_MAX + 1];
        char job_id[JOB_ID_LEN + 1];   /* a job wait */
        sd_event_source *timer;
} RestWait;

/* Who a request comes from (provider-auth.h). */
typedef struct RestCaller {
        Caller caller;
        char identity[SSH_IDENTITY_SIZE];
} RestCaller;

/* Refuses a request whose signature does not hold: 401 with its AUTH_* code. */
static int reply_auth_error(HttpRequest *req, int error) {
        AuthError e = auth_error_from_errno(error);
        const char *code = auth_error_to_string(e);

        if (e >= 0)
                http_request_refused_unauthorized(req); /* summed up in the journal */
        switch (e) {
        case AUTH_ERROR_SIGNATURE_REQUIRED:
                return http_reply_error(req, 401, code, "Signature required: sign the request (%s, %s, %s)",
                                        SIGNED_REQUEST_HEADER_TIMESTAMP, SIGNED_REQUEST_HEADER_NONCE,
                                        SIGNED_REQUEST_HEADER_SIGNATURE);
        case AUTH_ERROR_SIGNATURE_INVALID:
                return http_reply_error(req, 401, code, "Signature invalid");
        case AUTH_ERROR_TIMESTAMP:
                return http_reply_error(req, 401, code, "Timestamp out of window: the server's time is %" PRIi64
                                        ", and a request may be at most %d s off",
                                        (int64_t) (now_realtime() / USEC_PER_SEC), SIGNED_REQUEST_WINDOW_SEC);
        case AUTH_ERROR_NONCE_REUSED:
                return http_reply_error(req, 401, code, "Nonce already used: a request is taken once");
        default:
                return error; /* no verdict on the request (-EAGAIN: 503, -ENOMEM) */
        }
}

/* Verifies the request's signature (audience: this provider's id, the target as sent, the
 * raw body). Returns 1 with ret filled in, or 0 once the request was refused. */
static int caller_from_request(ProviderRest *rest, HttpRequest *req, RestCaller *ret) {
        size_t body_size = 0;
        const char *body = http_request_body(req, &body_size);
        int r;

        r = provider_auth_verify(&(SignedRequest) {
                        .method = http_method_to_string(http_request_method(req)),
                        .target = http_request_target(req),
                        .audience = manager_provider_id(rest->manager),
                        .timestamp = http_request_header(req, SIGNED_REQUEST_HEADER_TIMESTAMP),
                        .nonce = http_request_header(req, SIGNED_REQUEST_HEADER_NONCE),
                        .signature = http_request_header(req, SIGNED_REQUEST_HEADER_SIGNATURE),
                        .body = body,
                        .body_size = body ? body_size : 0,
                }, rest->settings->allow_unsigned_requests, (int64_t) (now_realtime() / USEC_PER_SEC),
                rest->nonces, ret->identity);
        if (r < 0) {
                r = reply_auth_error(req, r);
                return r < 0 ? r : 0;
        }
        ret->caller = (Caller) {
                .kind = CALLER_REST,
                .identity = r > 0 ? ret->identity : NULL,
                .address = http_request_client_string(req),
                .request_id = http_request_id(req),
        };
        return 1;
}

/* ---- answers ---- */

static int reply_vm(HttpRequest *req, unsigned status, const VM *vm) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = vm_record_to_json(&vm->record, &o);
        if (r < 0)
                return r;
        return http_reply_json(req, status, o);
}

static int reply_deleted(HttpRequest *req, const char *name) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_object_object_add(o, "status", json_object_new_string("deleted")) < 0 ||
            json_object_object_add(o, "vm_id", json_object_new_string(name)) < 0)
                return -ENOMEM;
        return http_reply_json(req, 200, o);
}

static int reply_not_found(HttpRequest *req, const char *name) {
        const ErrorInfo *e = error_info(-ENOENT);

        return http_reply_error(req, e->http_status, e->code, "VM %s not found", name);
}

/* Why an operation did not happen or failed, in the table's terms; what the hypervisor
 * failed is a 500 naming the operation. */
static int reply_operation_error(HttpRequest *req, VMOperation kind, int error, const char *message) {
        const ErrorInfo *e = error_info(error);

        if (e->http_status == 500)
                return http_reply_error(req, 500, kind == VM_OP_CREATE ? ERROR_CODE_VM_CREATE : ERROR_CODE_VM_OPERATION,
                                        "%s", message ?: error_message(error));
        if (error == -EHOSTDOWN && kind != VM_OP_CREATE)
                return http_reply_error(req, e->http_status, e->code, "The hypervisor is unavailable: %s",
                                        message ?: error_message(error));
        return http_reply_error(req, e->http_status, e->code, "%s", message ?: error_message(error));
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

/* The caller (verified) and the VM named in the path when it is theirs: 1; 0 once the
 * request was answered (refused, or 404). */
static int caller_vm_from_request(ProviderRest *rest, HttpRequest *req, RestCaller *rc, VM **ret) {
        int r;

        r = caller_from_request(rest, req, rc);
        if (r <= 0)
                return r;
        *ret = lookup_vm(req, rest->manager, &rc->caller);
        return *ret ? 1 : 0;
}

/* ---- jobs ---- */

/* The create operation of a job that is still creating its VM, else NULL. */
static Operation *job_operation(Manager *m, const Job *j) {
        VM *vm = manager_get_vm(m, j->vm_name);

        if (!vm || j->status != JOB_CREATING || !streq(vm->record.job_id, j->job_id))
                return NULL;
        if (vm->superseded)
                return vm->superseded;
        return vm->operation && operation_kind(vm->operation) == VM_OP_CREATE ? vm->operation : NULL;
}

/* The job as the wire protocol has it, with the launch's progress while it creates. */
static int job_to_json(Manager *m, const Job *j, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        Operation *op = job_operation(m, j);

        if (!o ||
            json_object_object_add(o, "job_id", json_object_new_string(j->job_id)) < 0 ||
            json_object_object_add(o, "vm_id", json_object_new_string(j->vm_name)) < 0 ||
            json_object_object_add(o, "kind", json_object_new_string(job_kind_to_string(j->kind))) < 0 ||
            json_object_object_add(o, "status", json_object_new_string(job_status_to_string(j->status))) < 0 ||
            json_object_object_add(o, "error", json_string_or_null(j->error)) < 0)
                return -ENOMEM;
        if (op) {
                int percent = operation_percent(op);
                const char *stage = operation_stage(op);

                (void) json_object_object_add(o, "progress", percent >= 0 ? json_object_new_int(percent) : NULL);
                (void) json_object_object_add(o, "stage", json_string_or_null(stage[0] ? stage : NULL));
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static int reply_job(HttpRequest *req, Manager *m, const Job *j) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = job_to_json(m, j, &o);
        if (r < 0)
                return r;
        return http_reply_json(req, 200, o);
}

static int load_and_reply_job(HttpRequest *req, Manager *m, const char *id) {
        _cleanup_(job_done) Job j = {};
        int r;

        r = manager_load_job(m, id, &j);
        if (r == -ENOENT)
                return http_reply_error(req, 404, ERROR_CODE_JOB_NOT_FOUND, "Job not found");
        if (r < 0)
                return r;
        return reply_job(req, m, &j);
}

/* ---- waiting for an operation ---- */

static void wait_free(void *userdata) {
        RestWait *w = userdata;

        if (w->req)
                http_request_set_destroy_callback(w->req, NULL, NULL);
        sd_event_source_disable_unref(w->timer);
        free(w);
}

static void on_wait_request_gone(HttpRequest *req, void *data) {
        RestWait *w = data;

        w->req = NULL;
        operation_unwatch(w->operation, w->watcher); /* frees w */
}

static int reply_keys(HttpRequest *req, ProviderRest *rest, VM *vm);

static void on_operation_done(Operation *o, int r, const char *message, VM *vm, void *userdata) {
        RestWait *w = userdata;
        HttpRequest *req = TAKE_PTR(w->req);

        if (!req)
                return;
        http_request_set_destroy_callback(req, NULL, NULL);
        if (r < 0)
                (void) reply_operation_error(req, w->kind, r, message);
        else if (w->kind == VM_OP_DELETE || !vm)
                (void) reply_deleted(req, w->name);
        else if (w->kind == VM_OP_KEYS) {
                if (reply_keys(req, w->rest, vm) < 0)
                        (void) http_reply_error(req, 500, "INTERNAL_ERROR", "Cannot read the keys of VM %s", w->name);
        }
        else
                (void) reply_vm(req, w->kind == VM_OP_CREATE ? 201 : 200, vm);
}

static const OperationWatcherOps operation_waiter_ops = {
        .done = on_operation_done,
        .free = wait_free,
};

static int wait_new(ProviderRest *rest, HttpRequest *req, Operation *o, const OperationWatcherOps *ops, RestWait **ret) {
        RestWait *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        *w = (RestWait) {
                .rest = rest,
                .operation = o,
                .kind = operation_kind(o),
        };
        snprintf(w->name, sizeof(w->name), "%s", operation_vm_name(o));
        r = operation_watch(o, ops, w, &w->watcher);
        if (r < 0) {
                free(w);
                return r;
        }
        r = http_request_suspend(req);
        if (r < 0) {
                operation_unwatch(o, w->watcher); /* frees w */
                return r;
        }
        w->req = req;
        http_request_set_destroy_callback(req, on_wait_request_gone, w);
        if (ret)
                *ret = w;
        return 0;
}

/* Answers the suspended request once the operation completes. */
static int wait_for(ProviderRest *rest, HttpRequest *req, Operation *o) {
        return wait_new(rest, req, o, &operation_waiter_ops, NULL);
}

/* A job wait is answered with the job as it stands: on a change, at the end or after its
 * time. */
static void job_wait_answer(RestWait *w, bool detach) {
        HttpRequest *req = TAKE_PTR(w->req);
        Manager *m = w->rest->manager;
        char id[JOB_ID_LEN + 1];

        strcpy(id, w->job_id);
        if (req)
                http_request_set_destroy_callback(req, NULL, NULL);
        if (detach)
                operation_unwatch(w->operation, w->watcher); /* frees w */
        if (req && load_and_reply_job(req, m, id) < 0)
                (void) http_reply_error(req, 500, "INTERNAL_ERROR", "Cannot read job %s", id);
}

static void on_job_progress(Operation *o, int percent, const char *stage, void *userdata) {
        job_wait_answer(userdata, true);
}

static void on_job_done(Operation *o, int r, const char *message, VM *vm, void *userdata) {
        job_wait_answer(userdata, false);
}

static int on_job_wait_over(sd_event_source *s, uint64_t usec, void *userdata) {
        job_wait_answer(userdata, true);
        return 0;
}

static const OperationWatcherOps job_waiter_ops = {
        .done = on_job_done,
        .progress = on_job_progress,
        .free = wait_free,
};

static int job_wait(ProviderRest *rest, HttpRequest *req, Operation *o, const char *id, uint64_t seconds) {
        RestWait *w;
        int r;

        r = wait_new(rest, req, o, &job_waiter_ops, &w);
        if (r < 0)
                return r;
        strcpy(w->job_id, id);
        r = sd_event_add_time_relative(rest->event, &w->timer, CLOCK_MONOTONIC,
                                       seconds * USEC_PER_SEC, 10 * USEC_PER_MSEC, on_job_wait_over, w);
        if (r < 0)
                job_wait_answer(w, true); /* answered at once instead */
        return 0;
}

/* ---- handlers ---- */

/* Answers while the state store fails too (VMs run, reads work): "degraded", with why. */
static int get_health(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        _cleanup_json_ json_object *o = json_object_new_object();
        int store = manager_store_error(rest->manager);

        if (!o || json_object_object_add(o, "status", json_object_new_string(store < 0 ? "degraded" : "healthy")) < 0)
                return -ENOMEM;
        if (store < 0 && json_object_object_add(o, "state_store", json_object_new_string(store == -EDQUOT ? "full" : "failing")) < 0)
                return -ENOMEM;
        return http_reply_json(req, 200, o);
}

/* openapi/golem-provider.json, built in. */
static int get_openapi(HttpRequest *req, void *userdata) {
        return http_reply_json_text(req, 200, provider_openapi_json, provider_openapi_json_size);
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

static int reply_job_created(HttpRequest *req, const VM *vm) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o ||
            json_object_object_add(o, "job_id", json_object_new_string(vm->record.job_id)) < 0 ||
            json_object_object_add(o, "vm_id", json_object_new_string(vm->record.name)) < 0 ||
            json_object_object_add(o, "status", json_object_new_string(job_status_to_string(JOB_CREATING))) < 0)
                return -ENOMEM;
        return http_reply_json(req, 202, o);
}

static int post_vm(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        _cleanup_json_ json_object *body = NULL;
        _cleanup_free_ VMCreateRequest *create = NULL;
        char field_error[FIELD_ERROR_MAX], reason[256] = "";
        const char *data;
        Operation *op;
        bool async;
        RestCaller rc;
        size_t size;
        VM *vm;
        int r;

        r = caller_from_request(rest, req, &rc);
        if (r <= 0)
                return r;

        data = http_request_body(req, &size);
        if (json_parse(data, size, &body) < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "body: not valid JSON");

        create = malloc(sizeof(*create));
        if (!create)
                return -ENOMEM;
        r = vm_create_request_from_json(body, create, field_error);
        if (r < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "%s", field_error);
        if (query_flag(req, "async", &async) < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "async: true or false");

        r = manager_create_vm(rest->manager, &rc.caller, create, &vm, &op, reason, sizeof(reason));
        if (r < 0)
                return reply_operation_error(req, VM_OP_CREATE, r, reason[0] ? reason : NULL);

        if (async)
                return reply_job_created(req, vm);
        return wait_for(rest, req, op);
}

static int list_vms(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        Manager *m = rest->manager;
        _cleanup_json_ json_object *a = json_object_new_array();
        const char *text;
        RestCaller rc;
        int r;

        if (!a)
                return -ENOMEM;
        r = caller_from_request(rest, req, &rc);
        if (r <= 0)
                return r;

        /* Rendering every VM is most of what this costs; the answer only changes with them. */
        if (!rc.caller.identity && rest->list_cache && rest->list_cache_generation == manager_generation(m))
                return http_reply_json_text(req, 200, rest->list_cache, rest->list_cache_size);

        LIST_FOREACH(vms, vm, manager_vms(m)) {
                json_object *o;

                if (!manager_caller_owns(&rc.caller, vm))
                        continue;
                if (vm_record_to_json(&vm->record, &o) < 0 || json_object_array_add(a, o) < 0)
                        return -ENOMEM;
        }

        text = json_to_string(a, false);
        if (!rc.caller.identity && text && free_and_strdup(&rest->list_cache, text) >= 0) {
                rest->list_cache_size = strlen(text);
                rest->list_cache_generation = manager_generation(m);
        }
        return http_reply_json(req, 200, a);
}

static int get_vm(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        RestCaller rc;
        VM *vm;
        int r;

        r = caller_vm_from_request(rest, req, &rc, &vm);
        return r <= 0 ? r : reply_vm(req, 200, vm);
}

/* The address requestors connect to: PUBLIC_IP, else the address this request came in on. */
static void ssh_host(HttpRequest *req, const ProviderSettings *s, char ret[static IP_ADDRESS_MAX]) {
        if (s->public_ip) {
                snprintf(ret, IP_ADDRESS_MAX, "%s", s->public_ip);
                return;
        }
        if (http_request_local_address(req, ret) < 0)
                snprintf(ret, IP_ADDRESS_MAX, "%s", s->host);
}

static int get_access(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        _cleanup_json_ json_object *o = NULL;
        char host[IP_ADDRESS_MAX], instance[sizeof("golem-") + VM_NAME_MAX];
        RestCaller rc;
        VM *vm;
        int r;

        r = caller_vm_from_request(rest, req, &rc, &vm);
        if (r <= 0)
                return r;

        ssh_host(req, rest->settings, host);
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

/* The answer to an operation on vm that the manager began (r >= 0: op, answered when done)
 * or refused. */
static int answer_action(HttpRequest *req, ProviderRest *rest, VM *vm, VMOperation kind, int r, Operation *op) {
        if (r == -EBUSY) {
                const ErrorInfo *e = error_info(r);

                return http_reply_error(req, e->http_status, e->code, "Cannot %s VM %s while it is %s",
                                        kind == VM_OP_KEYS ? "change the keys of" : vm_operation_to_string(kind),
                                        vm->record.name, vm_state_to_string(vm->record.state));
        }
        if (r == -EPERM)
                return reply_not_found(req, vm->record.name);
        if (r < 0)
                return reply_operation_error(req, kind, r, NULL);
        return wait_for(rest, req, op);
}

static int vm_action(HttpRequest *req, ProviderRest *rest, VMOperation kind) {
        Manager *m = rest->manager;
        Operation *op;
        RestCaller rc;
        VM *vm;
        int r;

        r = caller_vm_from_request(rest, req, &rc, &vm);
        if (r <= 0)
                return r;

        r = kind == VM_OP_START ? manager_start_vm(m, &rc.caller, vm, &op) :
            kind == VM_OP_STOP ? manager_stop_vm(m, &rc.caller, vm, &op) :
                                 manager_delete_vm(m, &rc.caller, vm, &op);
        return answer_action(req, rest, vm, kind, r, op);
}

static int post_start(HttpRequest *req, void *userdata) {
        return vm_action(req, userdata, VM_OP_START);
}

static int post_stop(HttpRequest *req, void *userdata) {
        return vm_action(req, userdata, VM_OP_STOP);
}

static int delete_vm(HttpRequest *req, void *userdata) {
        return vm_action(req, userdata, VM_OP_DELETE);
}

/* ?wait=SECONDS (an extension of the wire protocol; 0-60): while the job is creating the
 * answer comes when it changes, or after that long. Clients that do not ask poll as before. */
static int get_job(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        const char *id = http_request_path_arg(req, 0), *wait = http_request_query(req, "wait");
        _cleanup_(job_done) Job j = {};
        uint64_t seconds = 0;
        RestCaller rc;
        Operation *op;
        VM *vm;
        int r;

        r = caller_from_request(rest, req, &rc);
        if (r <= 0)
                return r;
        if (!id || strlen(id) != JOB_ID_LEN || !token_valid(id, JOB_ID_LEN, ""))
                return http_reply_error(req, 404, ERROR_CODE_JOB_NOT_FOUND, "Job not found");
        if (wait && parse_uint_range(wait, 0, JOB_WAIT_MAX_SEC, &seconds) < 0)
                return http_reply_error(req, 422, "VALIDATION_ERROR", "wait: seconds, an integer from 0 to %d",
                                        JOB_WAIT_MAX_SEC);
        r = manager_load_job(rest->manager, id, &j);
        /* The job of someone else's VM does not exist for you either. */
        vm = r >= 0 ? manager_get_vm(rest->manager, j.vm_name) : NULL;
        if (r == -ENOENT || (vm && !manager_caller_owns(&rc.caller, vm)))
                return http_reply_error(req, 404, ERROR_CODE_JOB_NOT_FOUND, "Job not found");
        if (r < 0)
                return r;
        op = job_operation(rest->manager, &j);
        if (seconds > 0 && op)
                return job_wait(rest, req, op, id, seconds);
        return reply_job(req, rest->manager, &j);
}

/* The VM's jobs, newest first: its create, and the restores after restarts of the provider. */
static int get_vm_jobs(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        _cleanup_json_ json_object *a = json_object_new_array();
        Job *jobs = NULL;
        size_t n = 0;
        RestCaller rc;
        VM *vm;
        int r;

        if (!a)
                return -ENOMEM;
        r = caller_vm_from_request(rest, req, &rc, &vm);
        if (r <= 0)
                return r;
        r = manager_load_vm_jobs(rest->manager, vm, &jobs, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_object *o = NULL;

                r = job_to_json(rest->manager, jobs + i, &o);
                if (r >= 0 && json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        r = -ENOMEM;
                }
        }
        jobs_free(jobs, n);
        if (r < 0)
                return r;
        return http_reply_json(req, 200, a);
}

static int get_provider_info(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        Manager *m = rest->manager;
        _cleanup_json_ json_object *o = json_object_new_object();
        Resources total = manager_capacity(m), free = manager_available(m);

        if (!o ||
            json_object_object_add(o, "provider_id", json_object_new_string(manager_provider_id(m))) < 0 ||
            json_object_object_add(o, "public_key", json_object_new_string(manager_public_key(m))) < 0 ||
            json_object_object_add(o, "name", json_object_new_string(manager_provider_name(m))) < 0 ||
            json_object_object_add(o, "country", json_string_or_null(rest->settings->country)) < 0 ||
            json_object_object_add(o, "ip_address", json_string_or_null(rest->settings->public_ip)) < 0 ||
            json_object_object_add(o, "platform", json_string_or_null(manager_platform(m))) < 0 ||
            json_object_object_add(o, "driver", json_string_or_null(manager_driver_name(m))) < 0 ||
            json_object_object_add(o, "total_resources", resources_to_json(&total)) < 0 ||
            json_object_object_add(o, "available_resources", resources_to_json(&free)) < 0 ||
            json_object_object_add(o, "vm_count", json_object_new_int64((int64_t) manager_n_vms(m))) < 0 ||
            json_object_object_add(o, "max_vms", json_object_new_int64(rest->settings->max_vms)) < 0)
                return -ENOMEM;
        return http_reply_json(req, 200, o);
}

/* ---- the owner's SSH keys ---- */

/* The keys the owner added, as [{"name","fingerprint"}]. */
static int reply_keys(HttpRequest *req, ProviderRest *rest, VM *vm) {
        _cleanup_json_ json_object *a = json_object_new_array();
        VMKey *keys = NULL;
        size_t n = 0;
        int r;

        if (!a)
                return -ENOMEM;
        r = manager_load_vm_keys(rest->manager, vm, &keys, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                char fp[SSH_FINGERPRINT_SIZE];
                json_object *o = json_object_new_object();

                if (!o || json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        r = -ENOMEM;
                        break;
                }
                if (json_object_object_add(o, "name", json_object_new_string(keys[i].name)) < 0 ||
                    json_object_object_add(o, "fingerprint",
                                           ssh_key_line_fingerprint(keys[i].key, fp) >= 0 ? json_object_new_string(fp) : NULL) < 0)
                        r = -ENOMEM;
        }
        vm_keys_free(keys, n);
        if (r < 0)
                return r;
        return http_reply_json(req, 200, a);
}

static bool key_name_valid(const char *s) {
        return token_valid(s, VM_KEY_NAME_MAX, "._@-");
}

/* Starts a change of keys and answers once the guest has it. */
static int set_key(HttpRequest *req, ProviderRest *rest, VM *vm, const Caller *c, const char *name, const char *key) {
        Operation *op;
        int r;

        r = manager_set_vm_key(rest->manager, c, vm, name, key, &op);
        if (r == -ENOENT)
                return http_reply_error(req, 404, "KEY_NOT_FOUND", "VM %s has no key called %s", vm->record.name, name);
        if (r == -EOPNOTSUPP)
                return http_reply_error(req, 501, "NOT_IMPLEMENTED",
                                        "The keys of VM %s cannot be changed while it runs (the %s driver has no way into it); "
                                        "create the VM with ssh_key", vm->record.name, manager_driver_name(rest->manager));
        return answer_action(req, rest, vm, VM_OP_KEYS, r, op);
}

/* POST /api/v1/vms/{name}/ssh-keys {"key", "name"}: as the requestor guide adds its key. */
static int post_key(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        _cleanup_json_ json_object *body = NULL;
        const char *data, *key, *name = "default";
        json_object *v;
        RestCaller rc;
        size_t size;
        VM *vm;
        int r;

        r = caller_vm_from_request(rest, req, &rc, &vm);
        if (r <= 0)
                return r;

        data = http_request_body(req, &size);
        if (json_parse(data, size, &body) < 0 || !json_object_is_type(body, json_type_object))
                return http_reply_error(req, 422, "VALIDATION_ERROR", "body: must be a JSON object");
        if (!json_object_object_get_ex(body, "key", &v) || !json_object_is_type(v, json_type_string))
                return http_reply_error(req, 422, "VALIDATION_ERROR", "key: field required, an OpenSSH public key line");
        key = json_object_get_string(v);
        /* Not a word of a private key in the answer or the log. */
        if (ssh_private_key_like(key))
                return http_reply_error(req, 422, "VALIDATION_ERROR",
                                        "key: this is a private key; send the public key (the .pub file) instead");
        if (strlen(key) > SSH_KEY_MAX || !ssh_public_key_valid(key))
                return http_reply_error(req, 422, "VALIDATION_ERROR",
                                        "key: must be one OpenSSH public key line (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*)");
        if (json_object_object_get_ex(body, "name", &v) && !json_object_is_type(v, json_type_null)) {
                name = json_object_get_string(v);
                if (!json_object_is_type(v, json_type_string) || !key_name_valid(name))
                        return http_reply_error(req, 422, "VALIDATION_ERROR",
                                                "name: must be 1-%d of A-Z, a-z, 0-9, '.', '_', '@', '-'", VM_KEY_NAME_MAX);
        }
        return set_key(req, rest, vm, &rc.caller, name, key);
}

static int get_keys(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        RestCaller rc;
        VM *vm;
        int r;

        r = caller_vm_from_request(rest, req, &rc, &vm);
        return r <= 0 ? r : reply_keys(req, rest, vm);
}

static int delete_key(HttpRequest *req, void *userdata) {
        ProviderRest *rest = userdata;
        const char *name = http_request_path_arg(req, 1);
        RestCaller rc;
        VM *vm;
        int r;

        r = caller_vm_from_request(rest, req, &rc, &vm);
        if (r <= 0)
                return r;
        if (!key_name_valid(name))
                return http_reply_error(req, 404, "KEY_NOT_FOUND", "VM %s has no such key", vm->record.name);
        return set_key(req, rest, vm, &rc.caller, name, NULL);
}

static const HttpRoute provider_routes[] = {
        { HTTP_GET,    "/health",                   get_health,        0 },
        { HTTP_GET,    "/openapi.json",             get_openapi,       HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/metrics",                  http_handler_metrics, 0 },
        { HTTP_GET,    "/api/v1/vms/jobs/{}",       get_job,           HTTP_ROUTE_RATE_LIMITED },
        { HTTP_POST,   "/api/v1/vms",               post_vm,           HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/vms",               list_vms,          HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/vms/{}",            get_vm,            HTTP_ROUTE_RATE_LIMITED },
        { HTTP_DELETE, "/api/v1/vms/{}",            delete_vm,         HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/vms/{}/access",     get_access,        HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/vms/{}/jobs",       get_vm_jobs,       HTTP_ROUTE_RATE_LIMITED },
        { HTTP_POST,   "/api/v1/vms/{}/start",      post_start,        HTTP_ROUTE_RATE_LIMITED },
        { HTTP_POST,   "/api/v1/vms/{}/stop",       post_stop,         HTTP_ROUTE_RATE_LIMITED },
        { HTTP_POST,   "/api/v1/vms/{}/ssh-keys",   post_key,          HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/vms/{}/ssh-keys",   get_keys,          HTTP_ROUTE_RATE_LIMITED },
        { HTTP_DELETE, "/api/v1/vms/{}/ssh-keys/{}", delete_key,       HTTP_ROUTE_RATE_LIMITED },
        { HTTP_GET,    "/api/v1/provider/info",     get_provider_info, HTTP_ROUTE_RATE_LIMITED },
};

int provider_rest_new(sd_event *event, Manager *m, const ProviderSettings *settings, ProviderRest **ret) {
        ProviderRest *rest = calloc(1, sizeof(*rest));
        int r;

        if (!rest)
                return -ENOMEM;
        rest->event = sd_event_ref(event);
        rest->manager = m;
        rest->settings = settings;
        r = nonce_cache_new(NONCE_CACHE_MAX, SIGNED_REQUEST_WINDOW_SEC, &rest->nonces);
        if (r < 0) {
                provider_rest_free(rest);
                return r;
        }
        *ret = rest;
        return 0;
}

void provider_rest_server_config(ProviderRest *rest, HttpServerConfig *ret) {
        *ret = (HttpServerConfig) {
                .routes = provider_routes,
                .n_routes = ELEMENTSOF(provider_routes),
                .userdata = rest,
                .body_max = PROVIDER_BODY_MAX,
                .rate_per_minute = rest->settings->rate_limit_per_minute,
                .rate_limit_code = "RATE_001",
        };
}

ProviderRest *provider_rest_free(ProviderRest *rest) {
        if (!rest)
                return NULL;
        free(rest->list_cache);
        nonce_cache_free(rest->nonces);
        sd_event_unref(rest->event);
        free(rest);
        return NULL;
}
