/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "golemctl-http.h"
#include "golemctl-signer.h"
#include "golemctl-state.h"
#include "golemctl-wire.h"

/* A provider's REST API (DESIGN.md, "Provider"), as the 'vm' verbs call it. Each function
 * sends its request to the provider p and waits for the answer, which it leaves in *ret:
 * ret->result < 0 when none came, else ret->status and the body. It returns < 0 only when
 * the request could not be made at all (out of memory, no libcurl, signing failed), with
 * the error printed. *ret is the caller's to free with http_call_done() either way.
 *
 * Every request but GET /api/v1/provider/info (open to anyone, and where golemctl learns the
 * id of a provider it only has the address of) is signed (signed-request.h) by p->signer
 * for the audience p->id, over the path and query exactly as sent. */

typedef struct ProviderRef {
        const char *id;         /* the provider's id: the audience of the signatures */
        const char *url;        /* its REST API: a record's provider_url, or --provider-url */
        Signer *signer;
} ProviderRef;

/* GET /api/v1/provider/info, unsigned. */
int provider_api_info(const char *url, HttpCall *ret);

/* POST /api/v1/vms?async=true: 202 {"job_id","vm_id","status"}; a provider that does not do
 * async answers 200 or 201 with the VM once it runs. */
int provider_api_create(const ProviderRef *p, json_object *body, HttpCall *ret);

/* GET /api/v1/vms/jobs/JOB_ID?wait=N, the long poll: a provider that knows ?wait= answers when
 * the job changes (or after N seconds); one that does not, at once. */
int provider_api_job(const ProviderRef *p, const char *job_id, HttpCall *ret);

/* GET /api/v1/vms/NAME */
int provider_api_get(const ProviderRef *p, const char *name, HttpCall *ret);

/* GET /api/v1/vms/NAME/access. */
int provider_api_access(const ProviderRef *p, const char *name, HttpCall *ret);

/* GET /api/v1/vms/NAME and GET /api/v1/vms/NAME/access, at once. */
int provider_api_get_with_access(const ProviderRef *p, const char *name, HttpCall *ret_vm, HttpCall *ret_access);

/* POST /api/v1/vms/NAME/start or /stop ("start", "stop"): answered once the VM settled. */
int provider_api_action(const ProviderRef *p, const char *name, const char *action, HttpCall *ret);

/* DELETE /api/v1/vms/NAME: 200 {"status":"deleted","vm_id"}. */
int provider_api_delete(const ProviderRef *p, const char *name, HttpCall *ret);

/* GET /api/v1/vms of each of n providers, all at once, into ret[0..n-1]. */
int provider_api_list(const ProviderRef *p, size_t n, HttpCall *ret);

/* The VM's SSH keys: POST /api/v1/vms/NAME/ssh-keys {"key","name"} (key: a public key line),
 * GET /api/v1/vms/NAME/ssh-keys (their names and fingerprints), DELETE
 * /api/v1/vms/NAME/ssh-keys/KEY_NAME (key_name checked with ssh_key_name_valid()). */
int provider_api_key_add(const ProviderRef *p, const char *name, const char *key, const char *key_name, HttpCall *ret);
int provider_api_key_list(const ProviderRef *p, const char *name, HttpCall *ret);
int provider_api_key_remove(const ProviderRef *p, const char *name, const char *key_name, HttpCall *ret);

/* The VM of l in the 200 answer of a GET, a start or a stop: -ENOENT for a 404 (nothing
 * printed); any other failure is printed. */
int provider_answer_vm(const HttpCall *call, const LocalVM *l, RemoteVM *ret);

/* The one-line error for a provider call that did not give the answer wanted:
 * "Cannot reach provider P at URL: ..." or "Provider P refused: MESSAGE". A refusal of the
 * signature (401 AUTH_*) says what the provider took issue with. */
int provider_call_failed(const HttpCall *call, const char *provider_id, const char *url);
