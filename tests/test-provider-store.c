/* SPDX-License-Identifier: MIT */
/* The provider's SQLite state: VM records, create jobs and meta, across reopening. */

#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "macro.h"
#include "provider-store.h"
#include "test-provider-keys.h"
#include "tests.h"

typedef struct Fixture {
        char *dir, *path;
        ProviderStore *store;
} Fixture;

static void fixture_setup(Fixture *f) {
        f->dir = test_mkdtemp();
        ASSERT_TRUE(asprintf(&f->path, "%s/provider.db", f->dir) >= 0);
        f->store = NULL;
        ASSERT_OK(provider_store_open(f->path, &f->store));
        ASSERT_NOT_NULL(f->store);
}

static void fixture_reopen(Fixture *f) {
        provider_store_close(f->store);
        f->store = NULL;
        ASSERT_OK(provider_store_open(f->path, &f->store));
}

static void fixture_teardown(Fixture *f) {
        provider_store_close(f->store);
        test_rm_rf(f->dir);
        free(f->dir);
        free(f->path);
}

static VMRecord record_full(void) {
        return (VMRecord) {
                .name = "web-1",
                .state = VM_RUNNING,
                .resources = { 2, 4, 20 },
                .image = "ubuntu:24.04",
                .ssh_key = (char *) KEY_ED25519,
                .ssh_port = 50800,
                .ip_address = "10.22.115.7",
                .error_message = (char *) "it's \"quoted\"; DROP TABLE vms; --",
                .owner = (char *) "uid:1000",
                .job_id = "0123456789abcdef0123456789abcdef",
                .created_at = 1700000000123456,
                .updated_at = 1700000061654321,
                .desired = VM_STOPPED,
        };
}

static void assert_record_eq(const VMRecord *a, const VMRecord *b) {
        ASSERT_STREQ(a->name, b->name);
        ASSERT_EQ_INT(a->state, b->state);
        ASSERT_EQ_INT(a->resources.cpu, b->resources.cpu);
        ASSERT_EQ_INT(a->resources.memory, b->resources.memory);
        ASSERT_EQ_INT(a->resources.storage, b->resources.storage);
        ASSERT_STREQ(a->image, b->image);
        ASSERT_STREQ(a->ssh_key, b->ssh_key);
        ASSERT_EQ_INT(a->ssh_port, b->ssh_port);
        ASSERT_STREQ(a->ip_address, b->ip_address);
        if (b->error_message)
                ASSERT_STREQ(a->error_message, b->error_message);
        else
                ASSERT_NULL(a->error_message);
        if (b->owner)
                ASSERT_STREQ(a->owner, b->owner);
        else
                ASSERT_NULL(a->owner);
        ASSERT_STREQ(a->job_id, b->job_id);
        ASSERT_EQ_UINT(a->created_at, b->created_at);
        ASSERT_EQ_UINT(a->updated_at, b->updated_at);
        /* Only "stopped" is kept as such: anything else is running. */
        ASSERT_EQ_INT(a->desired, b->desired == VM_STOPPED ? VM_STOPPED : VM_RUNNING);
}

static void free_records(VMRecord *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                vm_record_done(a + i);
        free(a);
}

static void load(Fixture *f, VMRecord **ret, size_t *ret_n) {
        *ret = NULL;
        *ret_n = 4242;
        ASSERT_OK(provider_store_load_vms(f->store, ret, ret_n));
}

TEST(empty) {
        Fixture f;
        VMRecord *a;
        size_t n;
        Job j;
        char *v = (char *) "untouched";

        fixture_setup(&f);
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 0);
        free_records(a, n);
        ASSERT_ERROR(provider_store_load_job(f.store, "0123456789abcdef0123456789abcdef", &j), ENOENT);
        ASSERT_ERROR(provider_store_get_meta(f.store, "provider_id", &v), ENOENT);
        ASSERT_STREQ(v, "untouched");
        ASSERT_OK(provider_store_remove_vm(f.store, "nothing"));
        ASSERT_OK(provider_store_prune_jobs(f.store, UINT64_MAX >> 1));
        fixture_teardown(&f);
}

TEST(vm_roundtrip) {
        VMRecord r = record_full(), *a;
        Fixture f;
        size_t n;

        fixture_setup(&f);
        ASSERT_OK(provider_store_save_vm(f.store, &r));
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 1);
        assert_record_eq(a, &r);
        free_records(a, n);

        /* And after reopening. */
        fixture_reopen(&f);
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 1);
        assert_record_eq(a, &r);
        free_records(a, n);
        fixture_teardown(&f);
}

TEST(vm_roundtrip_nulls) {
        VMRecord r = {
                .name = "db-1",
                .state = VM_CREATING,
                .resources = { 1, 1, 10 },
                .image = "noble",
                .ssh_key = NULL,
                .ssh_port = 0,
                .error_message = NULL,
                .owner = NULL,
                .created_at = 0,
                .updated_at = 1,
        }, *a;
        Fixture f;
        size_t n;

        fixture_setup(&f);
        ASSERT_OK(provider_store_save_vm(f.store, &r));
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 1);
        ASSERT_STREQ(a[0].name, "db-1");
        ASSERT_EQ_INT(a[0].state, VM_CREATING);
        ASSERT_NULL(a[0].error_message);
        ASSERT_NULL(a[0].owner);
        /* A record without a key comes back with an empty one. */
        ASSERT_STREQ(a[0].ssh_key, "");
        ASSERT_STREQ(a[0].ip_address, "");
        ASSERT_STREQ(a[0].job_id, "");
        ASSERT_EQ_INT(a[0].ssh_port, 0);
        ASSERT_EQ_UINT(a[0].created_at, 0);
        ASSERT_EQ_UINT(a[0].updated_at, 1);
        free_records(a, n);
        fixture_teardown(&f);
}

TEST(vm_every_state) {
        Fixture f;
        VMRecord *a;
        size_t n;

        fixture_setup(&f);
        for (VMState s = 0; s < _VM_STATE_MAX; s++) {
                VMRecord r = record_full();

                snprintf(r.name, sizeof(r.name), "vm-%s", vm_state_to_string(s));
                r.state = s;
                r.created_at = 1000 + (usec_t) s;
                ASSERT_OK(provider_store_save_vm(f.store, &r));
        }
        fixture_reopen(&f);
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, _VM_STATE_MAX);
        for (size_t i = 0; i < n; i++) {
                TEST_CONTEXT("%s", a[i].name);
                ASSERT_EQ_INT(a[i].state, (VMState) i);
        }
        free_records(a, n);
        fixture_teardown(&f);
}

TEST(vm_replace) {
        VMRecord r = record_full(), *a;
        Fixture f;
        size_t n;

        fixture_setup(&f);
        ASSERT_OK(provider_store_save_vm(f.store, &r));

        /* Saving the same name again replaces the record: one row, the new values. */
        r.state = VM_ERROR;
        r.ip_address[0] = 0;
        r.ssh_port = 50801;
        r.error_message = (char *) "The VM no longer exists in the hypervisor";
        r.owner = NULL;
        r.updated_at += 5 * USEC_PER_SEC;
        ASSERT_OK(provider_store_save_vm(f.store, &r));
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 1);
        assert_record_eq(a, &r);
        free_records(a, n);

        /* And back to NULL. */
        r.state = VM_STOPPED;
        r.error_message = NULL;
        ASSERT_OK(provider_store_save_vm(f.store, &r));
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 1);
        ASSERT_NULL(a[0].error_message);
        ASSERT_EQ_INT(a[0].state, VM_STOPPED);
        free_records(a, n);
        fixture_teardown(&f);
}

TEST(vm_order_and_remove) {
        /* Saved out of order; loaded by creation time, then name. */
        static const struct {
                const char *name;
                usec_t created_at;
        } saved[] = {
                { "ccc", 3000 },
                { "aaa", 1000 },
                { "zzz", 2000 },
                { "bbb", 2000 },
                { "ddd", 500 },
        };
        static const char *const order[] = { "ddd", "aaa", "bbb", "zzz", "ccc" };
        Fixture f;
        VMRecord *a;
        size_t n;

        fixture_setup(&f);
        for (size_t i = 0; i < ELEMENTSOF(saved); i++) {
                VMRecord r = record_full();

                snprintf(r.name, sizeof(r.name), "%s", saved[i].name);
                r.created_at = saved[i].created_at;
                r.ssh_port = (uint16_t) (50800 + i);
                ASSERT_OK(provider_store_save_vm(f.store, &r));
        }
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, ELEMENTSOF(order));
        for (size_t i = 0; i < n; i++) {
                TEST_CONTEXT("position %zu", i);
                ASSERT_STREQ(a[i].name, order[i]);
        }
        free_records(a, n);

        /* An update keeps the position: created_at does not change. */
        {
                VMRecord r = record_full();

                snprintf(r.name, sizeof(r.name), "ddd");
                r.created_at = 500;
                r.updated_at = 99999999;
                r.state = VM_STOPPED;
                ASSERT_OK(provider_store_save_vm(f.store, &r));
        }

        ASSERT_OK(provider_store_remove_vm(f.store, "bbb"));
        ASSERT_OK(provider_store_remove_vm(f.store, "bbb"));
        ASSERT_OK(provider_store_remove_vm(f.store, "nonexistent"));
        fixture_reopen(&f);
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 4);
        ASSERT_STREQ(a[0].name, "ddd");
        ASSERT_EQ_INT(a[0].state, VM_STOPPED);
        ASSERT_EQ_UINT(a[0].updated_at, 99999999);
        ASSERT_STREQ(a[1].name, "aaa");
        ASSERT_STREQ(a[2].name, "zzz");
        ASSERT_STREQ(a[3].name, "ccc");
        ASSERT_EQ_INT(a[3].ssh_port, 50800);
        free_records(a, n);
        fixture_teardown(&f);
}

TEST(vm_long_values) {
        _cleanup_free_ char *key = NULL, *message = NULL;
        VMRecord r = record_full(), *a;
        Fixture f;
        size_t n;

        /* The longest of each. */
        key = malloc(SSH_KEY_MAX + 1);
        message = malloc(4097);
        ASSERT_TRUE(key && message);
        memcpy(key, KEY_ED25519, strlen(KEY_ED25519));
        memset(key + strlen(KEY_ED25519), 'k', SSH_KEY_MAX - strlen(KEY_ED25519));
        key[SSH_KEY_MAX] = 0;
        memset(message, 'm', 4096);
        message[4096] = 0;
        memset(r.name, 'n', VM_NAME_MAX);
        r.name[VM_NAME_MAX] = 0;
        memset(r.image, 'i', VM_IMAGE_MAX);
        r.image[VM_IMAGE_MAX] = 0;
        snprintf(r.ip_address, sizeof(r.ip_address), "0000:0000:0000:0000:0000:ffff:255.255.255.255");
        r.ssh_key = key;
        r.error_message = message;
        r.ssh_port = 65535;
        r.resources = (Resources) { VM_CPU_MAX, VM_MEMORY_MAX, VM_STORAGE_MAX };
        r.created_at = r.updated_at = (usec_t) INT64_MAX;

        fixture_setup(&f);
        ASSERT_OK(provider_store_save_vm(f.store, &r));
        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 1);
        assert_record_eq(a, &r);
        free_records(a, n);
        fixture_teardown(&f);
}

TEST(jobs) {
        Job j = {
                .job_id = "0123456789abcdef0123456789abcdef",
                .vm_name = "web-1",
                .status = JOB_CREATING,
                .error = NULL,
                .created_at = 1000,
                .updated_at = 1000,
        }, got;
        Fixture f;

        fixture_setup(&f);
        ASSERT_OK(provider_store_save_job(f.store, &j));
        memset(&got, 'X', sizeof(got));
        ASSERT_OK(provider_store_load_job(f.store, j.job_id, &got));
        ASSERT_STREQ(got.job_id, j.job_id);
        ASSERT_STREQ(got.vm_name, "web-1");
        ASSERT_EQ_INT(got.status, JOB_CREATING);
        ASSERT_NULL(got.error);
        ASSERT_EQ_UINT(got.created_at, 1000);
        ASSERT_EQ_UINT(got.updated_at, 1000);
        job_done(&got);

        /* The same id again: replaced. */
        j.status = JOB_FAILED;
        j.error = (char *) "launch failed: instance \"golem-web-1\" already exists";
        j.updated_at = 2000;
        ASSERT_OK(provider_store_save_job(f.store, &j));
        fixture_reopen(&f);
        ASSERT_OK(provider_store_load_job(f.store, j.job_id, &got));
        ASSERT_EQ_INT(got.status, JOB_FAILED);
        ASSERT_STREQ(got.error, j.error);
        ASSERT_EQ_UINT(got.created_at, 1000);
        ASSERT_EQ_UINT(got.updated_at, 2000);
        job_done(&got);
        ASSERT_NULL(got.error);

        memset(&got, 'X', sizeof(got));
        ASSERT_ERROR(provider_store_load_job(f.store, "ffffffffffffffffffffffffffffffff", &got), ENOENT);
        ASSERT_EQ_INT(got.job_id[0], 'X');
        ASSERT_ERROR(provider_store_load_job(f.store, "", &got), ENOENT);
        ASSERT_ERROR(provider_store_load_job(f.store, "' OR '1'='1", &got), ENOENT);
        fixture_teardown(&f);
}

TEST(job_status_strings) {
        ASSERT_STREQ(job_status_to_string(JOB_CREATING), "creating");
        ASSERT_STREQ(job_status_to_string(JOB_READY), "ready");
        ASSERT_STREQ(job_status_to_string(JOB_FAILED), "failed");
        ASSERT_EQ_INT(job_status_from_string("ready"), JOB_READY);
        ASSERT_EQ_INT(job_status_from_string("done"), -EINVAL);
        ASSERT_NULL(job_status_to_string(_JOB_STATUS_MAX));
}

static void save_job(Fixture *f, const char *id, JobStatus status, usec_t updated_at) {
        Job j = { .status = status, .created_at = 1, .updated_at = updated_at };

        snprintf(j.job_id, sizeof(j.job_id), "%s", id);
        snprintf(j.vm_name, sizeof(j.vm_name), "vm-%s", id);
        ASSERT_OK(provider_store_save_job(f->store, &j));
}

static bool job_exists(Fixture *f, const char *id) {
        Job j;
        int r = provider_store_load_job(f->store, id, &j);

        if (r == -ENOENT)
                return false;
        ASSERT_OK(r);
        job_done(&j);
        return true;
}

TEST(jobs_prune) {
        Fixture f;

        fixture_setup(&f);
        save_job(&f, "creating-old", JOB_CREATING, 100);
        save_job(&f, "ready-old", JOB_READY, 100);
        save_job(&f, "failed-old", JOB_FAILED, 100);
        save_job(&f, "ready-edge", JOB_READY, 1000);
        save_job(&f, "failed-new", JOB_FAILED, 5000);
        save_job(&f, "creating-new", JOB_CREATING, 5000);

        ASSERT_OK(provider_store_prune_jobs(f.store, 1000));
        /* Finished and older: gone. A job still creating is never pruned. */
        ASSERT_TRUE(job_exists(&f, "creating-old"));
        ASSERT_FALSE(job_exists(&f, "ready-old"));
        ASSERT_FALSE(job_exists(&f, "failed-old"));
        /* Not older than the limit. */
        ASSERT_TRUE(job_exists(&f, "ready-edge"));
        ASSERT_TRUE(job_exists(&f, "failed-new"));
        ASSERT_TRUE(job_exists(&f, "creating-new"));

        ASSERT_OK(provider_store_prune_jobs(f.store, UINT64_MAX >> 1));
        ASSERT_TRUE(job_exists(&f, "creating-old"));
        ASSERT_TRUE(job_exists(&f, "creating-new"));
        ASSERT_FALSE(job_exists(&f, "ready-edge"));
        ASSERT_FALSE(job_exists(&f, "failed-new"));
        fixture_teardown(&f);
}

TEST(meta) {
        _cleanup_free_ char *long_value = NULL;
        Fixture f;
        char *v;

        fixture_setup(&f);
        ASSERT_OK(provider_store_set_meta(f.store, "provider_id", "prov-0123"));
        ASSERT_OK(provider_store_get_meta(f.store, "provider_id", &v));
        ASSERT_STREQ(v, "prov-0123");
        free(v);

        ASSERT_OK(provider_store_set_meta(f.store, "provider_id", "prov-4567"));
        ASSERT_OK(provider_store_set_meta(f.store, "empty", ""));
        long_value = malloc(100001);
        ASSERT_NOT_NULL(long_value);
        memset(long_value, 'v', 100000);
        long_value[100000] = 0;
        ASSERT_OK(provider_store_set_meta(f.store, "long", long_value));

        fixture_reopen(&f);
        ASSERT_OK(provider_store_get_meta(f.store, "provider_id", &v));
        ASSERT_STREQ(v, "prov-4567");
        free(v);
        ASSERT_OK(provider_store_get_meta(f.store, "empty", &v));
        ASSERT_STREQ(v, "");
        free(v);
        ASSERT_OK(provider_store_get_meta(f.store, "long", &v));
        ASSERT_STREQ(v, long_value);
        free(v);
        ASSERT_ERROR(provider_store_get_meta(f.store, "Provider_ID", &v), ENOENT);
        fixture_teardown(&f);
}

TEST(reopen_keeps_everything) {
        VMRecord r = record_full(), *a;
        Fixture f;
        Job j;
        char *v;
        size_t n;

        fixture_setup(&f);
        ASSERT_OK(provider_store_save_vm(f.store, &r));
        save_job(&f, "job-1", JOB_READY, 10);
        ASSERT_OK(provider_store_set_meta(f.store, "provider_id", "p1"));

        /* Closed without anything else: WAL mode, every commit durable. */
        for (int i = 0; i < 3; i++)
                fixture_reopen(&f);

        load(&f, &a, &n);
        ASSERT_EQ_UINT(n, 1);
        assert_record_eq(a, &r);
        free_records(a, n);
        ASSERT_OK(provider_store_load_job(f.store, "job-1", &j));
        ASSERT_EQ_INT(j.status, JOB_READY);
        ASSERT_STREQ(j.vm_name, "vm-job-1");
        job_done(&j);
        ASSERT_OK(provider_store_get_meta(f.store, "provider_id", &v));
        ASSERT_STREQ(v, "p1");
        free(v);
        fixture_teardown(&f);
}

TEST(two_handles) {
        VMRecord r = record_full(), *a;
        ProviderStore *other = NULL;
        Fixture f;
        size_t n;

        /* What one handle commits, another sees at once. */
        fixture_setup(&f);
        ASSERT_OK(provider_store_open(f.path, &other));
        ASSERT_OK(provider_store_save_vm(f.store, &r));
        ASSERT_OK(provider_store_load_vms(other, &a, &n));
        ASSERT_EQ_UINT(n, 1);
        free_records(a, n);
        provider_store_close(other);
        fixture_teardown(&f);
}

static void set_user_version(const char *path, int version) {
        sqlite3 *db = NULL;
        char sql[64];

        ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
        ASSERT_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_close(db), SQLITE_OK);
}

TEST(newer_schema_refused) {
        ProviderStore *s = (ProviderStore *) "untouched";
        Fixture f;

        fixture_setup(&f);
        provider_store_close(f.store);
        f.store = NULL;

        set_user_version(f.path, 3);
        ASSERT_ERROR(provider_store_open(f.path, &s), EPROTONOSUPPORT);
        ASSERT_STREQ((const char *) s, "untouched");
        set_user_version(f.path, 1000);
        ASSERT_ERROR(provider_store_open(f.path, &s), EPROTONOSUPPORT);

        /* Its own version opens again. */
        set_user_version(f.path, 2);
        ASSERT_OK(provider_store_open(f.path, &f.store));
        fixture_teardown(&f);
}

/* A store as version 1 wrote it: its VMs want what their state says (a stopped one stopped),
 * its jobs were creates. */
TEST(version_1_is_migrated) {
        static const char v1[] =
                "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE vms (name TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL,"
                "  cpu INTEGER NOT NULL, memory INTEGER NOT NULL, storage INTEGER NOT NULL, image TEXT NOT NULL,"
                "  ssh_key TEXT NOT NULL, ssh_port INTEGER NOT NULL, ip_address TEXT NOT NULL, error_message TEXT,"
                "  owner TEXT, job_id TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
                "CREATE TABLE jobs (job_id TEXT PRIMARY KEY NOT NULL, vm_name TEXT NOT NULL, status TEXT NOT NULL,"
                "  error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;"
                "INSERT INTO vms VALUES ('up', 'running', 1, 1, 10, 'img', 'k', 50800, '', NULL, NULL, 'j1', 1, 1);"
                "INSERT INTO vms VALUES ('down', 'stopped', 1, 1, 10, 'img', 'k', 50801, '', NULL, NULL, 'j2', 2, 2);"
                "INSERT INTO vms VALUES ('halting', 'stopping', 1, 1, 10, 'img', 'k', 50802, '', NULL, NULL, 'j3', 3, 3);"
                "INSERT INTO jobs VALUES ('j1', 'up', 'ready', NULL, 1, 1);"
                "PRAGMA user_version = 1;";
        char *dir = test_mkdtemp(), *path;
        ProviderStore *s = NULL;
        VMRecord *a = NULL;
        sqlite3 *db = NULL;
        size_t n = 0;
        Job j;

        ASSERT_TRUE(asprintf(&path, "%s/provider.db", dir) >= 0);
        ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_close(db), SQLITE_OK);

        ASSERT_OK(provider_store_open(path, &s));
        ASSERT_OK(provider_store_load_vms(s, &a, &n));
        ASSERT_EQ_UINT(n, 3);
        ASSERT_STREQ(a[0].name, "up");
        ASSERT_EQ_INT(a[0].desired, VM_RUNNING);
        ASSERT_EQ_INT(a[1].desired, VM_STOPPED);
        ASSERT_EQ_INT(a[2].desired, VM_STOPPED);
        free_records(a, n);
        ASSERT_OK(provider_store_load_job(s, "j1", &j));
        ASSERT_EQ_INT(j.kind, JOB_KIND_CREATE);
        ASSERT_EQ_INT(j.status, JOB_READY);
        job_done(&j);
        provider_store_close(s);

        test_rm_rf(dir);
        free(dir);
        free(path);
}

TEST(jobs_of_a_vm) {
        Job restore = { .job_id = "r", .vm_name = "web-1", .status = JOB_STARTING, .kind = JOB_KIND_RESTORE,
                        .created_at = 20, .updated_at = 20 },
            create = { .job_id = "c", .vm_name = "web-1", .status = JOB_READY, .created_at = 10, .updated_at = 11 },
            other = { .job_id = "o", .vm_name = "web-2", .status = JOB_READY, .created_at = 30, .updated_at = 30 },
            *jobs = NULL;
        size_t n = 0;
        Fixture f;

        fixture_setup(&f);
        ASSERT_OK(provider_store_save_job(f.store, &create));
        ASSERT_OK(provider_store_save_job(f.store, &restore));
        ASSERT_OK(provider_store_save_job(f.store, &other));
        ASSERT_OK(provider_store_load_jobs(f.store, "web-1", &jobs, &n));
        ASSERT_EQ_UINT(n, 2);
        ASSERT_STREQ(jobs[0].job_id, "r");
        ASSERT_EQ_INT(jobs[0].kind, JOB_KIND_RESTORE);
        ASSERT_EQ_INT(jobs[0].status, JOB_STARTING);
        ASSERT_STREQ(jobs[1].job_id, "c");
        ASSERT_EQ_INT(jobs[1].kind, JOB_KIND_CREATE);
        jobs_free(jobs, n);
        ASSERT_OK(provider_store_load_jobs(f.store, "nothing", &jobs, &n));
        ASSERT_EQ_UINT(n, 0);
        jobs_free(jobs, n);
        fixture_teardown(&f);
}

TEST(open_errors) {
        ProviderStore *s = NULL;
        char *dir = test_mkdtemp(), *path;

        /* A directory that does not exist. */
        ASSERT_TRUE(asprintf(&path, "%s/missing/provider.db", dir) >= 0);
        ASSERT_TRUE(provider_store_open(path, &s) < 0);
        ASSERT_NULL(s);
        free(path);

        /* A file that is not a database. */
        path = test_write_file(dir, "junk.db", "this is not an SQLite database, not at all, no\n", 48);
        ASSERT_TRUE(provider_store_open(path, &s) < 0);
        ASSERT_NULL(s);
        free(path);
        test_rm_rf(dir);
        free(dir);
}
