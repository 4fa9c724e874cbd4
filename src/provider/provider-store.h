/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "provider-vm.h"
#include "wire.h"

/* The provider's durable state: VM records (their reservations and ports included), create
 * jobs and a few facts about the provider, in SQLite under the state directory. Every
 * transition is written here before it is acted on. Writes fail with -EDQUOT when the disk
 * under the store is full (or its quota used up), never with -ENOSPC: that is the ledger's
 * "no capacity". */

typedef struct ProviderStore ProviderStore;

typedef struct Job {
        char job_id[JOB_ID_LEN + 1];
        char vm_name[VM_NAME_MAX + 1];
        JobStatus status;
        JobKind kind;
        char *error;
        usec_t created_at, updated_at;
} Job;

void job_done(Job *j);
void jobs_free(Job *jobs, size_t n);

int provider_store_open(const char *path, ProviderStore **ret);
void provider_store_close(ProviderStore *s);
static inline void provider_store_closep(ProviderStore **s) {
        if (*s)
                provider_store_close(*s);
}

int provider_store_save_vm(ProviderStore *s, const VMRecord *r);
int provider_store_remove_vm(ProviderStore *s, const char *name);
/* Several writes as one transaction (one fsync): begin, the writes, commit. A failed commit
 * rolls back and is returned. */
int provider_store_begin(ProviderStore *s);
int provider_store_commit(ProviderStore *s);
/* All records, in creation order. */
int provider_store_load_vms(ProviderStore *s, VMRecord **ret, size_t *ret_n);

int provider_store_save_job(ProviderStore *s, const Job *j);
int provider_store_load_job(ProviderStore *s, const char *job_id, Job *ret);
/* The jobs of VM vm, newest first. */
int provider_store_load_jobs(ProviderStore *s, const char *vm, Job **ret, size_t *ret_n);
/* Forgets finished jobs older than the given time. */
int provider_store_prune_jobs(ProviderStore *s, usec_t older_than);

/* The keys a VM's owner added to it (POST /api/v1/vms/NAME/ssh-keys), by name; they go with
 * the VM's record. */
#define VM_KEY_NAME_MAX 64
typedef struct VMKey {
        char name[VM_KEY_NAME_MAX + 1];
        char *key;          /* the public key line */
} VMKey;

void vm_keys_free(VMKey *keys, size_t n);
/* Adds key under name, replacing one of that name. */
int provider_store_save_key(ProviderStore *s, const char *vm, const char *name, const char *key);
/* -ENOENT when the VM has no key of that name. */
int provider_store_remove_key(ProviderStore *s, const char *vm, const char *name);
/* In the order they were added. */
int provider_store_load_keys(ProviderStore *s, const char *vm, VMKey **ret, size_t *ret_n);

int provider_store_get_meta(ProviderStore *s, const char *key, char **ret);
int provider_store_set_meta(ProviderStore *s, const char *key, const char *value);
