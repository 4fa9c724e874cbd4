/* SPDX-License-Identifier: MIT */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

#include "macro.h"
#include "sqlite-util.h"
#include "time-util.h"
#include "vm-spec.h"

/* golemctl's own record of the VMs it created: which provider (id and URL), which key, which
 * SSH port. SQLite at $XDG_STATE_HOME/golem/golemctl.db, schema versioned with
 * sqlite_open_versioned(). A record is written before the create request goes out (state
 * "creating") and completed after the provider's answer ("created"), so a crash in between
 * leaves a record that says where to look, never a VM nobody knows about. */

#define STATE_DB_FILE "golemctl.db"
#define STATE_SCHEMA_VERSION 3

typedef enum LocalVMState {
        LOCAL_VM_CREATING,      /* the request may or may not have reached the provider */
        LOCAL_VM_CREATED,       /* the provider accepted it */
        _LOCAL_VM_STATE_MAX,
        _LOCAL_VM_STATE_INVALID = -EINVAL,
} LocalVMState;

DECLARE_STRING_TABLE_LOOKUP(local_vm_state, LocalVMState);

typedef struct LocalVM {
        char *name;
        char *provider_id;
        char *provider_url;
        LocalVMState state;
        char *job_id;           /* NULL until the provider gave one */
        Resources resources;
        char *image;            /* NULL: the provider's default */
        uint16_t ssh_port;      /* 0: not known yet */
        char *ssh_key_path;     /* the private key; its .pub was sent */
        usec_t created_at;
        char *ssh_host;         /* where the provider forwards SSH; NULL: not known yet */
        char *identity;         /* the key golemctl signed the create with (its owner on the
                                 * provider); NULL: recorded before golemctl kept it */
} LocalVM;

void local_vm_done(LocalVM *v);
void local_vm_array_free(LocalVM *v, size_t n);

int state_open(const char *dir, sqlite3 **ret);

/* -EEXIST when a VM of that name is recorded already. */
int state_add(sqlite3 *db, const LocalVM *v);
/* -ENOENT when there is no such VM. */
int state_get(sqlite3 *db, const char *name, LocalVM *ret);
/* In creation order. */
int state_list(sqlite3 *db, LocalVM **ret, size_t *ret_n);
/* The provider accepted it: state created, with the job id (or NULL). */
int state_set_created(sqlite3 *db, const char *name, const char *job_id);
int state_set_ssh_port(sqlite3 *db, const char *name, uint16_t port);
int state_set_ssh_host(sqlite3 *db, const char *name, const char *host);
/* -ENOENT when there is no such VM. */
int state_remove(sqlite3 *db, const char *name);
