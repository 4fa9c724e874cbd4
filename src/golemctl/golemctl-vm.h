/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "golemctl-provider-api.h"
#include "golemctl-state.h"
#include "golemctl-util.h"
#include "golemctl-wire.h"

/* What the 'vm' verbs share: a VM is a local record (golemctl-state.h) plus what its provider
 * says (golemctl-provider-api.h). The verbs are in golemctl-vm-create.c, golemctl-vm-list.c
 * (list, status), golemctl-vm-action.c (start, stop, destroy) and golemctl-vm-ssh.c. */

/* Checks a VM name from the command line (-EUSAGE with a message when invalid) and finds its
 * record (-ENOENT with a message when there is none). */
int vm_lookup(Context *c, const char *name, LocalVM *ret);
/* The same, and the VM's provider as the requests about it go there, signed by the user's
 * key (context_signer()); *ret_provider points into *ret. */
int vm_lookup_provider(Context *c, const char *name, LocalVM *ret, ProviderRef *ret_provider);

/* Keeps the record in step with what the provider says (created, its SSH port); a failure
 * here only costs a later lookup, so it is ignored. */
void vm_record_refresh(Context *c, LocalVM *l, const RemoteVM *r);
/* The same for where the provider forwards SSH (GET .../access), so that every command shows
 * it, not only those that ask. */
void vm_record_access(Context *c, LocalVM *l, const Access *a);

/* "Provider P does not know VM N (...); 'golemctl vm destroy N' forgets it.": -ENOENT. */
int vm_gone_error(Context *c, const LocalVM *l);
/* The identity golemctl signs with now when it is not the one that created the VM (to whom
 * the provider shows it), else NULL. */
const char *vm_created_by_other_key(Context *c, const LocalVM *l);

/* A VM as golemctl shows it: the local record, the provider's view (NULL when unknown),
 * what went wrong asking it ("unreachable", "missing", "unknown"; NULL for nothing), and
 * the SSH access (or NULL). With neither a view nor a problem, status is null: the provider
 * was not asked. */
json_object *vm_to_json(const LocalVM *l, const RemoteVM *r, const char *problem, const Access *a);

/* The colour a VM status is shown in. */
TableColor vm_status_color(const char *status) _pure_;
