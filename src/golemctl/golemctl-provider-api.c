/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "golemctl-provider-api.h"
#include "golemctl-util.h"

/* Asked of the provider with ?wait=: it answers when the job changes, or after this long. */
#define JOB_LONG_POLL_SEC 20
/* 'vm list' asks every provider at once and shows what came within this. */
#define LIST_TIMEOUT_USEC (10 * USEC_PER_SEC)

/* Sets up *call (from scratch) for METHOD url + PATH. */
static int request(HttpCall *call, const char *method, usec_t timeout, json_object *body,
                   const char *url, const char *path_format, ...) _printf_(6, 7);
static int request(HttpCall *call, const char *method, usec_t timeout, json_object *body,
                   const char *url, const char *path_format, ...) {
        _cleanup_free_ char *full = NULL;
        va_list ap;
        int r;

        *call = (HttpCall) {};

        va_start(ap, path_format);
        r = url_joinv(&full, url, path_format, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return http_call_init(call, method, full, body, timeout);
}

/* Runs the n calls set up, unless setting them up failed (r < 0). */
static int run(HttpCall *calls, size_t n, int r) {
        if (r < 0)
                return r;
        return http_call_run_many(calls, n);
}

int provider_api_info(const char *url, HttpCall *ret) {
        return run(ret, 1, request(ret, "GET", HTTP_TIMEOUT_QUERY, NULL, url, "/api/v1/provider/info"));
}

int provider_api_create(const char *url, json_object *body, HttpCall *ret) {
        return run(ret, 1, request(ret, "POST", HTTP_TIMEOUT_CREATE, body, url, "/api/v1/vms?async=true"));
}

int provider_api_job(const char *url, const char *job_id, HttpCall *ret) {
        return run(ret, 1, request(ret, "GET", HTTP_TIMEOUT_QUERY + JOB_LONG_POLL_SEC * USEC_PER_SEC, NULL,
                                   url, "/api/v1/vms/jobs/%s?wait=%u", job_id, JOB_LONG_POLL_SEC));
}

int provider_api_get(const char *url, const char *name, HttpCall *ret) {
        return run(ret, 1, request(ret, "GET", HTTP_TIMEOUT_QUERY, NULL, url, "/api/v1/vms/%s", name));
}

int provider_api_get_with_access(const char *url, const char *name, HttpCall *ret_vm, HttpCall *ret_access) {
        HttpCall calls[2] = {};
        int r;

        r = request(calls + 0, "GET", HTTP_TIMEOUT_QUERY, NULL, url, "/api/v1/vms/%s", name);
        if (r >= 0)
                r = request(calls + 1, "GET", HTTP_TIMEOUT_QUERY, NULL, url, "/api/v1/vms/%s/access", name);
        r = run(calls, 2, r);
        *ret_vm = calls[0];
        *ret_access = calls[1];
        return r;
}

int provider_api_action(const char *url, const char *name, const char *action, HttpCall *ret) {
        return run(ret, 1, request(ret, "POST", HTTP_TIMEOUT_ACTION, NULL, url, "/api/v1/vms/%s/%s", name, action));
}

int provider_api_delete(const char *url, const char *name, HttpCall *ret) {
        return run(ret, 1, request(ret, "DELETE", HTTP_TIMEOUT_ACTION, NULL, url, "/api/v1/vms/%s", name));
}

int provider_api_list(const char *const *urls, size_t n, HttpCall *ret) {
        int r = 0;

        for (size_t i = 0; i < n; i++)
                ret[i] = (HttpCall) {};
        for (size_t i = 0; i < n && r >= 0; i++)
                r = request(ret + i, "GET", LIST_TIMEOUT_USEC, NULL, urls[i], "/api/v1/vms");
        return run(ret, n, r);
}

int provider_answer_vm(const HttpCall *call, const LocalVM *l, RemoteVM *ret) {
        const char *field = NULL;
        int r;

        if (call->result >= 0 && call->status == 404)
                return -ENOENT;
        if (!http_call_ok(call, 200))
                return provider_call_failed(call, l->provider_id, l->provider_url);
        r = remote_vm_from_json(call->json, ret, &field);
        if (r < 0)
                return ctl_error(r, "Provider %s sent an invalid VM (field %s).", l->provider_id, strempty(field));
        if (!streq(ret->name, l->name))
                return ctl_error(-EBADMSG, "Provider %s sent VM %s when asked for %s.", l->provider_id, ret->name, l->name);
        return 0;
}

int provider_call_failed(const HttpCall *call, const char *provider_id, const char *url) {
        char reason[HTTP_REASON_MAX];

        http_call_reason(call, reason, sizeof(reason));
        if (call->result < 0)
                return ctl_error(call->result, "Cannot reach provider %s at %s: %s", provider_id, url, reason);
        return ctl_error(-EIO, "Provider %s refused: %s", provider_id, reason);
}
