/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "golemctl-http.h"
#include "golemctl-state.h"
#include "golemctl-wire.h"

/* A provider's REST API (DESIGN.md, "Provider"), as the 'vm' verbs call it. Each function
 * sends its request to the provider at url (a record's provider_url, or --provider-url) and
 * waits for the answer, which it leaves in *ret: ret->result < 0 when none came, else
 * ret->status and the body. It returns < 0 only when the request could not be made at all
 * (out of memory, no libcurl), and prints nothing. *ret is the caller's to free with
 * http_call_done() either way. */

/* GET /api/v1/provider/info */
int provider_api_info(const char *url, HttpCall *ret);

/* POST /api/v1/vms?async=true: 202 {"job_id","vm_id","status"}; a provider that does not do
 * async answers 200 or 201 with the VM once it runs. */
int provider_api_create(const char *url, json_object *body, HttpCall *ret);

/* GET /api/v1/vms/jobs/JOB_ID?wait=N, the long poll: a provider that knows ?wait= answers when
 * the job changes (or after N seconds); one that does not, at once. */
int provider_api_job(const char *url, const char *job_id, HttpCall *ret);

/* GET /api/v1/vms/NAME */
int provider_api_get(const char *url, const char *name, HttpCall *ret);

/* GET /api/v1/vms/NAME and GET /api/v1/vms/NAME/access, at once. */
int provider_api_get_with_access(const char *url, const char *name, HttpCall *ret_vm, HttpCall *ret_access);

/* POST /api/v1/vms/NAME/start or /stop ("start", "stop"): answered once the VM settled. */
int provider_api_action(const char *url, const char *name, const char *action, HttpCall *ret);

/* DELETE /api/v1/vms/NAME: 200 {"status":"deleted","vm_id"}. */
int provider_api_delete(const char *url, const char *name, HttpCall *ret);

/* GET /api/v1/vms of each of n providers, all at once, into ret[0..n-1]. */
int provider_api_list(const char *const *urls, size_t n, HttpCall *ret);

/* The VM of l in the 200 answer of a GET, a start or a stop: -ENOENT for a 404 (nothing
 * printed); any other failure is printed. */
int provider_answer_vm(const HttpCall *call, const LocalVM *l, RemoteVM *ret);

/* The one-line error for a provider call that did not give the answer wanted:
 * "Cannot reach provider P at URL: ..." or "Provider P refused: MESSAGE". */
int provider_call_failed(const HttpCall *call, const char *provider_id, const char *url);
