/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "golemctl-identity.h"
#include "golemctl-provider-api.h"
#include "golemctl-util.h"
#include "json-util.h"
#include "signed-request.h"

/* Asked of the provider with ?wait=: it answers when the job changes, or after this long. */
#define JOB_LONG_POLL_SEC 20
/* 'vm list' asks every provider at once and shows what came within this. */
#define LIST_TIMEOUT_USEC (10 * USEC_PER_SEC)

/* Sets up *call (from scratch) for METHOD p->url + PATH, signed by p->signer; prints the
 * error when that fails. */
static int request(HttpCall *call, const ProviderRef *p, const char *method, usec_t timeout, json_object *body,
                   const char *path_format, ...) _printf_(6, 7);
static int request(HttpCall *call, const ProviderRef *p, const char *method, usec_t timeout, json_object *body,
                   const char *path_format, ...) {
        _cleanup_(signed_request_headers_done) SignedRequestHeaders h = {};
        _cleanup_free_ char *full = NULL;
        const char *target;
        va_list ap;
        int r;

        *call = (HttpCall) {};

        va_start(ap, path_format);
        r = url_joinv(&full, p->url, path_format, ap);
        va_end(ap);
        if (r >= 0)
                r = http_call_init(call, method, full, body, timeout);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        if (!p->signer)
                return 0;

        target = http_call_target(call);
        if (!target)
                return ctl_error(-EINVAL, "Cannot sign a request to %s: the URL has no path.", call->url);
        r = signer_sign(p->signer, method, target, p->id, call->body, call->body ? strlen(call->body) : 0, &h);
        if (r < 0)
                return signer_sign_error(r, p->signer);
        if ((r = http_call_add_header(call, SIGNED_REQUEST_HEADER_TIMESTAMP, h.timestamp)) < 0 ||
            (r = http_call_add_header(call, SIGNED_REQUEST_HEADER_NONCE, h.nonce)) < 0 ||
            (r = http_call_add_header(call, SIGNED_REQUEST_HEADER_SIGNATURE, h.signature)) < 0)
                return ctl_error(r, "Out of memory.");
        return 0;
}

/* Runs the n calls set up, unless setting them up failed (r < 0, printed). */
static int run(HttpCall *calls, size_t n, int r) {
        if (r < 0)
                return r;
        r = http_call_run_many(calls, n);
        if (r < 0)
                return ctl_error(r, "Cannot run HTTP requests: %m");
        return 0;
}

int provider_api_info(const char *url, HttpCall *ret) {
        ProviderRef p = { .url = url }; /* open to anyone: unsigned */

        return run(ret, 1, request(ret, &p, "GET", HTTP_TIMEOUT_QUERY, NULL, "/api/v1/provider/info"));
}

int provider_api_create(const ProviderRef *p, json_object *body, HttpCall *ret) {
        return run(ret, 1, request(ret, p, "POST", HTTP_TIMEOUT_CREATE, body, "/api/v1/vms?async=true"));
}

int provider_api_job(const ProviderRef *p, const char *job_id, HttpCall *ret) {
        return run(ret, 1, request(ret, p, "GET", HTTP_TIMEOUT_QUERY + JOB_LONG_POLL_SEC * USEC_PER_SEC, NULL,
                                   "/api/v1/vms/jobs/%s?wait=%u", job_id, JOB_LONG_POLL_SEC));
}

int provider_api_get(const ProviderRef *p, const char *name, HttpCall *ret) {
        return run(ret, 1, request(ret, p, "GET", HTTP_TIMEOUT_QUERY, NULL, "/api/v1/vms/%s", name));
}

int provider_api_access(const ProviderRef *p, const char *name, HttpCall *ret) {
        return run(ret, 1, request(ret, p, "GET", HTTP_TIMEOUT_QUERY, NULL, "/api/v1/vms/%s/access", name));
}

int provider_api_get_with_access(const ProviderRef *p, const char *name, HttpCall *ret_vm, HttpCall *ret_access) {
        HttpCall calls[2] = {};
        int r;

        r = request(calls + 0, p, "GET", HTTP_TIMEOUT_QUERY, NULL, "/api/v1/vms/%s", name);
        if (r >= 0)
                r = request(calls + 1, p, "GET", HTTP_TIMEOUT_QUERY, NULL, "/api/v1/vms/%s/access", name);
        r = run(calls, 2, r);
        *ret_vm = calls[0];
        *ret_access = calls[1];
        return r;
}

int provider_api_action(const ProviderRef *p, const char *name, const char *action, HttpCall *ret) {
        return run(ret, 1, request(ret, p, "POST", HTTP_TIMEOUT_ACTION, NULL, "/api/v1/vms/%s/%s", name, action));
}

int provider_api_delete(const ProviderRef *p, const char *name, HttpCall *ret) {
        return run(ret, 1, request(ret, p, "DELETE", HTTP_TIMEOUT_ACTION, NULL, "/api/v1/vms/%s", name));
}

int provider_api_list(const ProviderRef *p, size_t n, HttpCall *ret) {
        int r = 0;

        for (size_t i = 0; i < n; i++)
                ret[i] = (HttpCall) {};
        for (size_t i = 0; i < n && r >= 0; i++)
                r = request(ret + i, p + i, "GET", LIST_TIMEOUT_USEC, NULL, "/api/v1/vms");
        return run(ret, n, r);
}

int provider_api_key_add(const ProviderRef *p, const char *name, const char *key, const char *key_name, HttpCall *ret) {
        _cleanup_json_ json_object *body = json_object_new_object();

        *ret = (HttpCall) {};
        if (!body ||
            json_object_object_add(body, "key", json_object_new_string(key)) < 0 ||
            json_object_object_add(body, "name", json_object_new_string(key_name)) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        return run(ret, 1, request(ret, p, "POST", HTTP_TIMEOUT_ACTION, body, "/api/v1/vms/%s/ssh-keys", name));
}

int provider_api_key_list(const ProviderRef *p, const char *name, HttpCall *ret) {
        return run(ret, 1, request(ret, p, "GET", HTTP_TIMEOUT_QUERY, NULL, "/api/v1/vms/%s/ssh-keys", name));
}

int provider_api_key_remove(const ProviderRef *p, const char *name, const char *key_name, HttpCall *ret) {
        return run(ret, 1, request(ret, p, "DELETE", HTTP_TIMEOUT_ACTION, NULL, "/api/v1/vms/%s/ssh-keys/%s",
                                   name, key_name));
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
        if (call->status == 401 && call->error_code) {
                AuthError e = auth_error_from_string(call->error_code);

                if (e >= 0)
                        return ctl_error(-EACCES, "Provider %s refused golemctl's signature (%s): %s%s", provider_id,
                                         call->error_code, reason,
                                         e == AUTH_ERROR_TIMESTAMP ? " Is this machine's clock right?" : "");
        }
        return ctl_error(-EIO, "Provider %s refused: %s", provider_id, reason);
}
