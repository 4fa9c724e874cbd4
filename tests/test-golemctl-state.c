/* SPDX-License-Identifier: MIT */
/* golemctl's local record of its VMs. */
#include <sys/stat.h>

#include "golemctl-config.h"
#include "golemctl-state.h"
#include "tests.h"

static LocalVM sample(const char *name, usec_t created) {
        return (LocalVM) {
                .name = (char *) name,
                .provider_id = (char *) "0x12",
                .provider_url = (char *) "http://192.0.2.7:7466",
                .state = LOCAL_VM_CREATING,
                .resources = { 2, 4, 20 },
                .ssh_key_path = (char *) "/home/a/.ssh/id_ed25519",
                .created_at = created,
                .identity = (char *) "kZ3p9QmW2xR7tY5uV8nB1cD4eF6gH0jL3mN5pQ7rS9t",
        };
}

TEST(add_get_complete_remove) {
        char *dir = test_mkdtemp();
        sqlite3 *db = NULL;
        LocalVM v = sample("web", 1700000000 * USEC_PER_SEC), got;

        ASSERT_OK(state_open(dir, &db));
        ASSERT_OK(state_add(db, &v));
        ASSERT_ERROR(state_add(db, &v), EEXIST);

        ASSERT_OK(state_get(db, "web", &got));
        ASSERT_STREQ(got.name, "web");
        ASSERT_STREQ(got.provider_id, "0x12");
        ASSERT_STREQ(got.provider_url, "http://192.0.2.7:7466");
        ASSERT_EQ_INT(got.state, LOCAL_VM_CREATING);
        ASSERT_NULL(got.job_id);
        ASSERT_NULL(got.image);
        ASSERT_EQ_INT(got.resources.storage, 20);
        ASSERT_EQ_INT(got.ssh_port, 0);
        ASSERT_EQ_UINT(got.created_at, 1700000000 * USEC_PER_SEC);

        ASSERT_NULL(got.ssh_host);
        ASSERT_STREQ(got.identity, "kZ3p9QmW2xR7tY5uV8nB1cD4eF6gH0jL3mN5pQ7rS9t");
        local_vm_done(&got);

        ASSERT_OK(state_set_created(db, "web", "job1"));
        ASSERT_OK(state_set_ssh_port(db, "web", 50801));
        ASSERT_OK(state_set_ssh_host(db, "web", "192.0.2.7"));
        ASSERT_OK(state_get(db, "web", &got));
        ASSERT_EQ_INT(got.state, LOCAL_VM_CREATED);
        ASSERT_STREQ(got.job_id, "job1");
        ASSERT_EQ_INT(got.ssh_port, 50801);
        ASSERT_STREQ(got.ssh_host, "192.0.2.7");
        local_vm_done(&got);

        ASSERT_ERROR(state_set_created(db, "nope", NULL), ENOENT);
        ASSERT_ERROR(state_get(db, "nope", &got), ENOENT);
        ASSERT_OK(state_remove(db, "web"));
        ASSERT_ERROR(state_remove(db, "web"), ENOENT);
        ASSERT_ERROR(state_get(db, "web", &got), ENOENT);

        sqlite3_close_v2(db);
        test_rm_rf(dir);
        free(dir);
}

TEST(list_in_creation_order_and_reopen) {
        char *dir = test_mkdtemp();
        sqlite3 *db = NULL;
        LocalVM a = sample("bbb", 2 * USEC_PER_SEC), b = sample("aaa", 3 * USEC_PER_SEC), *list = NULL;
        size_t n = 0;

        ASSERT_OK(state_open(dir, &db));
        ASSERT_OK(state_list(db, &list, &n));
        ASSERT_EQ_UINT(n, 0);
        local_vm_array_free(list, n);
        ASSERT_OK(state_add(db, &a));
        ASSERT_OK(state_add(db, &b));
        sqlite3_close_v2(db);

        /* What was written is there after a reopen (a new process). */
        ASSERT_OK(state_open(dir, &db));
        ASSERT_OK(state_list(db, &list, &n));
        ASSERT_EQ_UINT(n, 2);
        ASSERT_STREQ(list[0].name, "bbb");
        ASSERT_STREQ(list[1].name, "aaa");
        local_vm_array_free(list, n);
        sqlite3_close_v2(db);

        test_rm_rf(dir);
        free(dir);
}

/* A record golemctl 1 wrote (schema version 1, before ssh_host and identity) is read and kept. */
TEST(version_1_migrated) {
        char *dir = test_mkdtemp(), *path = NULL;
        sqlite3 *db = NULL;
        LocalVM got;

        ASSERT_TRUE(asprintf(&path, "%s/%s", dir, STATE_DB_FILE) > 0);
        ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_exec(db,
                "CREATE TABLE vms (name TEXT PRIMARY KEY NOT NULL, provider_id TEXT NOT NULL,"
                " provider_url TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('creating', 'created')),"
                " job_id TEXT, cpu INTEGER NOT NULL, memory INTEGER NOT NULL, storage INTEGER NOT NULL,"
                " image TEXT, ssh_port INTEGER NOT NULL DEFAULT 0, ssh_key_path TEXT NOT NULL,"
                " created_at TEXT NOT NULL);"
                "INSERT INTO vms VALUES ('old', 'prov', 'http://192.0.2.9:7466', 'created', 'j', 1, 1, 10,"
                " NULL, 50800, '/k', '2025-01-02T03:04:05Z');"
                "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        db = NULL;

        ASSERT_OK(state_open(dir, &db));
        ASSERT_OK(state_get(db, "old", &got));
        ASSERT_STREQ(got.provider_url, "http://192.0.2.9:7466");
        ASSERT_EQ_INT(got.ssh_port, 50800);
        ASSERT_NULL(got.ssh_host);
        ASSERT_NULL(got.identity);
        local_vm_done(&got);
        ASSERT_OK(state_set_ssh_host(db, "old", "192.0.2.9"));
        ASSERT_OK(state_get(db, "old", &got));
        ASSERT_STREQ(got.ssh_host, "192.0.2.9");
        local_vm_done(&got);
        sqlite3_close_v2(db);

        free(path);
        test_rm_rf(dir);
        free(dir);
}

TEST(newer_schema_refused) {
        char *dir = test_mkdtemp(), *path = NULL;
        sqlite3 *db = NULL;

        ASSERT_TRUE(asprintf(&path, "%s/%s", dir, STATE_DB_FILE) > 0);
        ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        db = NULL;
        ASSERT_ERROR(state_open(dir, &db), EPROTONOSUPPORT);

        free(path);
        test_rm_rf(dir);
        free(dir);
}

TEST(mkdir_parents_nested) {
        char *dir = test_mkdtemp(), *deep = NULL;
        struct stat st;

        ASSERT_TRUE(asprintf(&deep, "%s/a/b/c", dir) > 0);
        ASSERT_OK(mkdir_parents(deep, 0700));
        ASSERT_OK(mkdir_parents(deep, 0700));
        ASSERT_OK(stat(deep, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_EQ_INT(st.st_mode & 0777, 0700);

        free(deep);
        test_rm_rf(dir);
        free(dir);
}

#define CONF "[Requestor]\nDiscoveryURL=http://d.example:9001\nSSHKeyPath=~/.ssh/k\nProviderPort=8000\n"
#define BAD_CONF "[Requestor]\nDiscoveryURL=ftp://x\n"

TEST(settings) {
        char *dir = test_mkdtemp(), *path = NULL, *error = NULL;
        Settings s;

        unsetenv("GOLEM_REQUESTOR_DISCOVERY_URL");
        unsetenv("GOLEM_REQUESTOR_SSH_KEY_PATH");
        unsetenv("GOLEM_REQUESTOR_PROVIDER_PORT");

        /* No file: the defaults. */
        settings_init(&s);
        ASSERT_TRUE(asprintf(&path, "%s/absent.conf", dir) > 0);
        ASSERT_OK(settings_load(&s, path, &error));
        ASSERT_STREQ(s.discovery_url, DEFAULT_DISCOVERY_URL);
        ASSERT_EQ_INT(s.provider_port, 7466);
        ASSERT_NULL(s.ssh_key_path);
        settings_done(&s);
        free(path);

        /* The file, then the environment over it. */
        path = test_write_file(dir, "golemctl.conf",
                               CONF, strlen(CONF));
        settings_init(&s);
        setenv("GOLEM_REQUESTOR_PROVIDER_PORT", "9000", 1);
        ASSERT_OK(settings_load(&s, path, &error));
        ASSERT_STREQ(s.discovery_url, "http://d.example:9001");
        ASSERT_STREQ(s.ssh_key_path, "~/.ssh/k");
        ASSERT_EQ_INT(s.provider_port, 9000);
        settings_done(&s);
        unsetenv("GOLEM_REQUESTOR_PROVIDER_PORT");
        free(path);

        /* A bad value names the file, the line and the key. */
        path = test_write_file(dir, "bad.conf", BAD_CONF, strlen(BAD_CONF));
        settings_init(&s);
        ASSERT_ERROR(settings_load(&s, path, &error), EINVAL);
        ASSERT_STR_CONTAINS(error, "bad.conf:2: DiscoveryURL=ftp://x");
        settings_done(&s);
        free(error);
        error = NULL;

        settings_init(&s);
        setenv("GOLEM_REQUESTOR_PROVIDER_PORT", "0", 1);
        ASSERT_ERROR(settings_load(&s, NULL, &error), EINVAL);
        ASSERT_STR_CONTAINS(error, "GOLEM_REQUESTOR_PROVIDER_PORT=0");
        unsetenv("GOLEM_REQUESTOR_PROVIDER_PORT");
        settings_done(&s);
        free(error);

        free(path);
        test_rm_rf(dir);
        free(dir);
}

TEST(paths_from_xdg) {
        Paths p;

        setenv("HOME", "/home/u", 1);
        unsetenv("XDG_CONFIG_HOME");
        setenv("XDG_STATE_HOME", "/xdg/state", 1);
        setenv("XDG_DATA_HOME", "relative/ignored", 1);
        ASSERT_OK(paths_init(&p));
        ASSERT_STREQ(p.home, "/home/u");
        ASSERT_STREQ(p.config_file, "/home/u/.config/golem/golemctl.conf");
        ASSERT_STREQ(p.state_dir, "/xdg/state/golem");
        ASSERT_STREQ(p.data_dir, "/home/u/.local/share/golem");
        paths_done(&p);
}
