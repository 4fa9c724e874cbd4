/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "provider-store.h"
#include "sqlite-util.h"

#define SCHEMA_VERSION 2

void job_done(Job *j) {
        free(j->error);
        j->error = NULL;
}

struct ProviderStore {
        sqlite3 *db;
};

static const char schema[] =
        "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE vms ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  state TEXT NOT NULL,"
        "  cpu INTEGER NOT NULL, memory INTEGER NOT NULL, storage INTEGER NOT NULL,"
        "  image TEXT NOT NULL,"
        "  ssh_key TEXT NOT NULL,"
        "  ssh_port INTEGER NOT NULL,"
        "  ip_address TEXT NOT NULL,"
        "  error_message TEXT,"
        "  owner TEXT,"
        "  job_id TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        "  desired_state TEXT NOT NULL DEFAULT 'running');"
        "CREATE TABLE jobs ("
        "  job_id TEXT PRIMARY KEY NOT NULL,"
        "  vm_name TEXT NOT NULL,"
        "  status TEXT NOT NULL,"
        "  error TEXT,"
        "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        "  kind TEXT NOT NULL DEFAULT 'create') WITHOUT ROWID;";

/* Version 1 to 2: what the renter last asked of each VM (running or stopped), as far as its
 * state tells, and jobs of more than one kind (a create, a restore after a restart). */
static const char *const migrations[] = {
        "ALTER TABLE vms ADD COLUMN desired_state TEXT NOT NULL DEFAULT 'running';"
        "UPDATE vms SET desired_state = 'stopped' WHERE state IN ('stopped', 'stopping');"
        "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'create';",
};

void provider_store_close(ProviderStore *s) {
        if (!s)
                return;
        sqlite3_close_v2(s->db);
        free(s);
}

/* Added after version 1 without changing it: a table older stores do not have yet. */
static const char schema_keys[] =
        "CREATE TABLE IF NOT EXISTS vm_keys ("
        "  vm_name TEXT NOT NULL,"
        "  name TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  PRIMARY KEY (vm_name, name));";

int provider_store_open(const char *path, ProviderStore **ret) {
        ProviderStore *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = sqlite_open_migrated(path, schema, SCHEMA_VERSION, migrations, &s->db);
        if (r < 0) {
                free(s);
                return r;
        }
        r = sqlite3_exec(s->db, schema_keys, NULL, NULL, NULL);
        if (r != SQLITE_OK) {
                r = sqlite_errno(r);
                provider_store_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

/* The errno of a failed rc. A full disk under the database (SQLITE_FULL, or a write of the
 * WAL or its index refused for want of space or quota) is -EDQUOT: never to be taken for a
 * refusal for want of capacity (-ENOSPC). */
static int store_errno(ProviderStore *s, int rc) {
        int r = sqlite_errno(rc);

        if (r < 0 && ((rc & 0xff) == SQLITE_FULL || IN_SET(sqlite3_system_errno(s->db), ENOSPC, EDQUOT)))
                return -EDQUOT;
        return r;
}

static int prepare(ProviderStore *s, const char *sql, sqlite3_stmt **ret) {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
        return rc == SQLITE_OK ? 0 : store_errno(s, rc);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s) {
        if (s)
                sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, i);
}

static int step_done(ProviderStore *s, sqlite3_stmt *st) {
        int rc = sqlite3_step(st);

        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

int provider_store_save_vm(ProviderStore *s, const VMRecord *r) {
        sqlite3_stmt *st;
        int k;

        k = prepare(s, "INSERT OR REPLACE INTO vms (name, state, cpu, memory, storage, image, ssh_key, ssh_port,"
                       " ip_address, error_message, owner, job_id, created_at, updated_at, desired_state)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, r->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, vm_state_to_string(r->state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, r->resources.cpu);
        sqlite3_bind_int64(st, 4, r->resources.memory);
        sqlite3_bind_int64(st, 5, r->resources.storage);
        sqlite3_bind_text(st, 6, r->image, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, strempty(r->ssh_key), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 8, r->ssh_port);
        sqlite3_bind_text(st, 9, r->ip_address, -1, SQLITE_TRANSIENT);
        bind_text_or_null(st, 10, r->error_message);
        bind_text_or_null(st, 11, r->owner);
        sqlite3_bind_text(st, 12, r->job_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 13, (sqlite3_int64) r->created_at);
        sqlite3_bind_int64(st, 14, (sqlite3_int64) r->updated_at);
        sqlite3_bind_text(st, 15, vm_state_to_string(r->desired == VM_STOPPED ? VM_STOPPED : VM_RUNNING), -1,
                          SQLITE_STATIC);
        return step_done(s, st);
}

int provider_store_begin(ProviderStore *s) {
        int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : store_errno(s, rc);
}

int provider_store_commit(ProviderStore *s) {
        int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL), r;

        if (rc == SQLITE_OK)
                return 0;
        r = store_errno(s, rc);
        /* A failed write may have ended the transaction already; one left open would swallow
         * every later write. */
        if (!sqlite3_get_autocommit(s->db))
                (void) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

int provider_store_remove_vm(ProviderStore *s, const char *name) {
        sqlite3_stmt *st;
        int k;

        k = prepare(s, "DELETE FROM vm_keys WHERE vm_name = ?1", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        k = step_done(s, st);
        if (k < 0)
                return k;

        k = prepare(s, "DELETE FROM vms WHERE name = ?1", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        return step_done(s, st);
}

static char *column_strdup(sqlite3_stmt *st, int i) {
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? strdup((const char *) t) : NULL;
}

static void column_copy(sqlite3_stmt *st, int i, char *buf, size_t size) {
        snprintf(buf, size, "%s", strempty((const char *) sqlite3_column_text(st, i)));
}

int provider_store_load_vms(ProviderStore *s, VMRecord **ret, size_t *ret_n) {
        VMRecord *a = NULL;
        size_t n = 0;
        sqlite3_stmt *st;
        int rc, k;

        k = prepare(s, "SELECT name, state, cpu, memory, storage, image, ssh_key, ssh_port, ip_address,"
                       " error_message, owner, job_id, created_at, updated_at, desired_state FROM vms"
                       " ORDER BY created_at, name", &st);
        if (k < 0)
                return k;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                VMRecord *b = realloc(a, (n + 1) * sizeof(*a)), *r;

                if (!b) {
                        k = -ENOMEM;
                        break;
                }
                a = b;
                r = a + n++;
                *r = (VMRecord) {};
                column_copy(st, 0, r->name, sizeof(r->name));
                r->state = vm_state_from_string((const char *) sqlite3_column_text(st, 1));
                if (r->state < 0)
                        r->state = VM_ERROR;
                r->resources.cpu = sqlite3_column_int64(st, 2);
                r->resources.memory = sqlite3_column_int64(st, 3);
                r->resources.storage = sqlite3_column_int64(st, 4);
                column_copy(st, 5, r->image, sizeof(r->image));
                r->ssh_key = column_strdup(st, 6);
                r->ssh_port = (uint16_t) sqlite3_column_int(st, 7);
                column_copy(st, 8, r->ip_address, sizeof(r->ip_address));
                r->error_message = column_strdup(st, 9);
                r->owner = column_strdup(st, 10);
                column_copy(st, 11, r->job_id, sizeof(r->job_id));
                r->created_at = (usec_t) sqlite3_column_int64(st, 12);
                r->updated_at = (usec_t) sqlite3_column_int64(st, 13);
                /* Anything but "stopped" is running: a VM is started again rather than left
                 * down on a doubt. */
                r->desired = streq_ptr((const char *) sqlite3_column_text(st, 14), "stopped") ? VM_STOPPED : VM_RUNNING;
        }
        if (k >= 0 && rc != SQLITE_DONE)
                k = store_errno(s, rc);
        sqlite3_finalize(st);
        if (k < 0) {
                for (size_t i = 0; i < n; i++)
                        vm_record_done(a + i);
                free(a);
                return k;
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

int provider_store_save_job(ProviderStore *s, const Job *j) {
        sqlite3_stmt *st;
        int k;

        k = prepare(s, "INSERT OR REPLACE INTO jobs (job_id, vm_name, status, error, created_at, updated_at, kind)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, j->job_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, j->vm_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, job_status_to_string(j->status), -1, SQLITE_STATIC);
        bind_text_or_null(st, 4, j->error);
        sqlite3_bind_int64(st, 5, (sqlite3_int64) j->created_at);
        sqlite3_bind_int64(st, 6, (sqlite3_int64) j->updated_at);
        sqlite3_bind_text(st, 7, job_kind_to_string(j->kind), -1, SQLITE_STATIC);
        return step_done(s, st);
}

#define JOB_COLUMNS "job_id, vm_name, status, error, created_at, updated_at, kind"

static int job_from_row(sqlite3_stmt *st, Job *ret) {
        Job j = {};

        column_copy(st, 0, j.job_id, sizeof(j.job_id));
        column_copy(st, 1, j.vm_name, sizeof(j.vm_name));
        j.status = job_status_from_string((const char *) sqlite3_column_text(st, 2));
        if (j.status < 0)
                j.status = JOB_FAILED;
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
                j.error = column_strdup(st, 3);
                if (!j.error)
                        return -ENOMEM;
        }
        j.created_at = (usec_t) sqlite3_column_int64(st, 4);
        j.updated_at = (usec_t) sqlite3_column_int64(st, 5);
        j.kind = job_kind_from_string((const char *) sqlite3_column_text(st, 6));
        if (j.kind < 0)
                j.kind = JOB_KIND_CREATE;
        *ret = j;
        return 0;
}

int provider_store_load_job(ProviderStore *s, const char *job_id, Job *ret) {
        sqlite3_stmt *st;
        int rc, k;

        k = prepare(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE job_id = ?1", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, job_id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        k = rc == SQLITE_ROW ? job_from_row(st, ret) : rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
        sqlite3_finalize(st);
        return k;
}

void jobs_free(Job *jobs, size_t n) {
        for (size_t i = 0; i < n; i++)
                job_done(jobs + i);
        free(jobs);
}

int provider_store_load_jobs(ProviderStore *s, const char *vm, Job **ret, size_t *ret_n) {
        Job *a = NULL;
        sqlite3_stmt *st;
        size_t n = 0;
        int rc, k = 0;

        rc = sqlite3_prepare_v2(s->db, "SELECT " JOB_COLUMNS " FROM jobs WHERE vm_name = ?1"
                                " ORDER BY created_at DESC, job_id", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_errno(s, rc);
        sqlite3_bind_text(st, 1, vm, -1, SQLITE_TRANSIENT);
        while (k >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                Job *b = reallocarray(a, n + 1, sizeof(Job));

                if (!b) {
                        k = -ENOMEM;
                        break;
                }
                a = b;
                k = job_from_row(st, a + n);
                if (k >= 0)
                        n++;
        }
        if (k >= 0 && rc != SQLITE_DONE)
                k = store_errno(s, rc);
        sqlite3_finalize(st);
        if (k < 0) {
                jobs_free(a, n);
                return k;
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

int provider_store_prune_jobs(ProviderStore *s, usec_t older_than) {
        sqlite3_stmt *st;
        int k;

        k = prepare(s, "DELETE FROM jobs WHERE status != 'creating' AND updated_at < ?1", &st);
        if (k < 0)
                return k;
        sqlite3_bind_int64(st, 1, (sqlite3_int64) older_than);
        return step_done(s, st);
}

int provider_store_get_meta(ProviderStore *s, const char *key, char **ret) {
        sqlite3_stmt *st;
        char *v = NULL;
        int rc, k;

        k = prepare(s, "SELECT value FROM meta WHERE key = ?1", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                v = column_strdup(st, 0);
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return store_errno(s, rc);
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

int provider_store_set_meta(ProviderStore *s, const char *key, const char *value) {
        sqlite3_stmt *st;
        int k;

        k = prepare(s, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
        return step_done(s, st);
}

void vm_keys_free(VMKey *keys, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(keys[i].key);
        free(keys);
}

int provider_store_save_key(ProviderStore *s, const char *vm, const char *name, const char *key) {
        sqlite3_stmt *st;
        int k;

        /* A replaced key moves to the end, as if added now. */
        k = provider_store_remove_key(s, vm, name);
        if (k < 0 && k != -ENOENT)
                return k;
        k = prepare(s, "INSERT INTO vm_keys (vm_name, name, key) VALUES (?1, ?2, ?3)", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, vm, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
        return step_done(s, st);
}

int provider_store_remove_key(ProviderStore *s, const char *vm, const char *name) {
        sqlite3_stmt *st;
        int k;

        k = prepare(s, "DELETE FROM vm_keys WHERE vm_name = ?1 AND name = ?2", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, vm, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        k = step_done(s, st);
        if (k < 0)
                return k;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int provider_store_load_keys(ProviderStore *s, const char *vm, VMKey **ret, size_t *ret_n) {
        VMKey *a = NULL;
        sqlite3_stmt *st;
        size_t n = 0;
        int rc, k;

        k = prepare(s, "SELECT name, key FROM vm_keys WHERE vm_name = ?1 ORDER BY rowid", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, vm, -1, SQLITE_TRANSIENT);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                VMKey *b = reallocarray(a, n + 1, sizeof(VMKey));

                if (!b) {
                        rc = SQLITE_NOMEM;
                        break;
                }
                a = b;
                a[n] = (VMKey) {};
                column_copy(st, 0, a[n].name, sizeof(a[n].name));
                a[n].key = column_strdup(st, 1);
                n++;
                if (!a[n - 1].key) {
                        rc = SQLITE_NOMEM;
                        break;
                }
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                vm_keys_free(a, n);
                return store_errno(s, rc);
        }
        *ret = a;
        *ret_n = n;
        return 0;
}
