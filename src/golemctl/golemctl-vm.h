/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "golemctl-http.h"
#include "golemctl-state.h"
#include "golemctl-util.h"
#include "golemctl-wire.h"

/* The 'vm' verbs: a VM is a local record (golemctl-state.h) plus what its provider says. */

int verb_vm_create(int argc, char *argv[], void *userdata);
int verb_vm_list(int argc, char *argv[], void *userdata);
int verb_vm_status(int argc, char *argv[], void *userdata);
int verb_vm_start(int argc, char *argv[], void *userdata);
int verb_vm_stop(int argc, char *argv[], void *userdata);
int verb_vm_destroy(int argc, char *argv[], void *userdata);
int verb_vm_ssh(int argc, char *argv[], void *userdata);       /* golemctl-ssh.c */

/* Checks a VM name from the command line (-EUSAGE with a message when invalid) and finds its
 * record (-ENOENT with a message when there is none). */
int vm_lookup(Context *c, const char *name, LocalVM *ret);

/* The one-line error for a provider call that did not give the answer wanted:
 * "Cannot reach provider P at URL: ..." or "Provider P refused: MESSAGE". */
int provider_call_failed(const HttpCall *call, const char *provider_id, const char *url);

/* Whether a failed call certainly never reached the provider (refused, unresolvable, ...). */
bool http_call_not_sent(const HttpCall *call);

/* A VM as golemctl shows it: the local record, the provider's view (NULL when unknown),
 * what went wrong asking it ("unreachable", "missing", "unknown"; NULL for nothing), and
 * the SSH access (or NULL). With neither a view nor a problem, status is null: the provider
 * was not asked. */
json_object *vm_to_json(const LocalVM *l, const RemoteVM *r, const char *problem, const Access *a);

/* The colour a VM status is shown in. */
TableColor vm_status_color(const char *status) _pure_;
