/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "golemctl-state.h"
#include "sqlite-util.h"

static const char *const local_vm_state_table[_LOCAL_VM_STATE_MAX] = {
        [LOCAL_VM_CREATING] = "creating",
        [LOCAL_VM_CREATED] = "created",
};

DEFINE_STRING_TABLE_LOOKUP(local_vm_state, LocalVMState);

static const char schema[] =
        "CREATE TABLE vms (\n"
        "        name TEXT PRIMARY KEY NOT NULL,\n"
        "        provider_id TEXT NOT NULL,\n"
        "        provider_url TEXT NOT NULL,\n"
        "        state TEXT NOT NULL CHECK (state IN ('creating', 'created')),\n"
        "        job_id TEXT,\n"
        "        cpu INTEGER NOT NULL,\n"
        "        memory INTEGER NOT NULL,\n"
        "        storage INTEGER NOT NULL,\n"
        "        image TEXT,\n"
        "        ssh_port INTEGER NOT NULL DEFAULT 0,\n"
        "        ssh_key_path TEXT NOT NULL,\n"
        "        created_at TEXT NOT NULL,\n"      /* RFC 3339 */
        "        ssh_host TEXT,\n"                 /* from GET .../access; NULL: not asked yet */
        "        identity TEXT\n"                  /* of the key that signed the create */
        ");\n";

/* From version N to N + 1. */
static const char *const migrations[] = {
        "ALTER TABLE vms ADD COLUMN ssh_host TEXT",
        "ALTER TABLE vms ADD COLUMN identity TEXT",
};
_Static_assert(ELEMENTSOF(migrations) == STATE_SCHEMA_VERSION - 1, "one migration per version");

#define COLUMNS "name, provider_id, provider_url, state, job_id, cpu, memory, storage, image, ssh_port, ssh_key_path, created_at, ssh_host, identity"

void local_vm_done(LocalVM *v) {
        if (!v)
                return;
        free(v->name);
        free(v->provider_id);
        free(v->provider_url);
        free(v->job_id);
        free(v->image);
        free(v->ssh_key_path);
        free(v->ssh_host);
        free(v->identity);
        *v = (LocalVM) {};
}

void local_vm_array_free(LocalVM *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                local_vm_done(v + i);
        free(v);
}

int state_open(const char *dir, sqlite3 **ret) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", dir, STATE_DB_FILE) < 0)
                return -ENOMEM;
        return sqlite_open_migrated(path, schema, STATE_SCHEMA_VERSION, migrations, ret);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        return sqlite_errno(sqlite3_prepare_v2(db, sql, -1, ret, NULL));
}

static int bind_text(sqlite3_stmt *st, int i, const char *s) {
        return sqlite_errno(s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i));
}

static int step_done(sqlite3_stmt *st) {
        int rc = sqlite3_step(st);

        if (rc == SQLITE_DONE)
                return 0;
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
                return -EEXIST;
        return sqlite_errno(rc) ?: -EIO;
}

int state_add(sqlite3 *db, const LocalVM *v) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        char ts[RFC3339_MAX];
        int r;

        if (!v->name || !v->provider_id || !v->provider_url || !v->ssh_key_path)
                return -EINVAL;

        r = prepare(db, "INSERT INTO vms (" COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st);
        if (r < 0)
                return r;
        if ((r = bind_text(st, 1, v->name)) < 0 ||
            (r = bind_text(st, 2, v->provider_id)) < 0 ||
            (r = bind_text(st, 3, v->provider_url)) < 0 ||
            (r = bind_text(st, 4, local_vm_state_to_string(v->state))) < 0 ||
            (r = bind_text(st, 5, v->job_id)) < 0 ||
            (r = sqlite_errno(sqlite3_bind_int64(st, 6, v->resources.cpu))) < 0 ||
            (r = sqlite_errno(sqlite3_bind_int64(st, 7, v->resources.memory))) < 0 ||
            (r = sqlite_errno(sqlite3_bind_int64(st, 8, v->resources.storage))) < 0 ||
            (r = bind_text(st, 9, v->image)) < 0 ||
            (r = sqlite_errno(sqlite3_bind_int(st, 10, v->ssh_port))) < 0 ||
            (r = bind_text(st, 11, v->ssh_key_path)) < 0 ||
            (r = bind_text(st, 12, format_rfc3339(ts, v->created_at))) < 0 ||
            (r = bind_text(st, 13, v->ssh_host)) < 0 ||
            (r = bind_text(st, 14, v->identity)) < 0)
                return r;
        return step_done(st);
}

static int column_strdup(sqlite3_stmt *st, int i, char **ret) {
        const unsigned char *s = sqlite3_column_text(st, i);

        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup((const char *) s);
        return *ret ? 0 : -ENOMEM;
}

static int row_to_vm(sqlite3_stmt *st, LocalVM *ret) {
        LocalVM v = {};
        _cleanup_free_ char *state = NULL, *created = NULL;
        int64_t port;
        int r;

        if ((r = column_strdup(st, 0, &v.name)) < 0 ||
            (r = column_strdup(st, 1, &v.provider_id)) < 0 ||
            (r = column_strdup(st, 2, &v.provider_url)) < 0 ||
            (r = column_strdup(st, 3, &state)) < 0 ||
            (r = column_strdup(st, 4, &v.job_id)) < 0 ||
            (r = column_strdup(st, 8, &v.image)) < 0 ||
            (r = column_strdup(st, 10, &v.ssh_key_path)) < 0 ||
            (r = column_strdup(st, 11, &created)) < 0 ||
            (r = column_strdup(st, 12, &v.ssh_host)) < 0 ||
            (r = column_strdup(st, 13, &v.identity)) < 0) {
                local_vm_done(&v);
                return r;
        }
        v.state = local_vm_state_from_string(state);
        v.resources = (Resources) {
                sqlite3_column_int64(st, 5),
                sqlite3_column_int64(st, 6),
                sqlite3_column_int64(st, 7),
        };
        port = sqlite3_column_int64(st, 9);
        v.ssh_port = port > 0 && port <= 65535 ? (uint16_t) port : 0;
        if (!created || parse_rfc3339(created, &v.created_at) < 0)
                v.created_at = 0;

        if (!v.name || !v.provider_id || !v.provider_url || !v.ssh_key_path || v.state < 0) {
                local_vm_done(&v);
                return -EBADMSG;
        }
        *ret = v;
        return 0;
}

int state_get(sqlite3 *db, const char *name, LocalVM *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = prepare(db, "SELECT " COLUMNS " FROM vms WHERE name = ?", &st);
        if (r < 0)
                return r;
        r = bind_text(st, 1, name);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return sqlite_errno(rc) ?: -EIO;
        return row_to_vm(st, ret);
}

int state_list(sqlite3 *db, LocalVM **ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        LocalVM *list = NULL;
        size_t n = 0;
        int rc, r;

        r = prepare(db, "SELECT " COLUMNS " FROM vms ORDER BY created_at, rowid", &st);
        if (r < 0)
                return r;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                LocalVM *l = reallocarray(list, n + 1, sizeof(LocalVM));

                if (!l) {
                        local_vm_array_free(list, n);
                        return -ENOMEM;
                }
                list = l;
                r = row_to_vm(st, list + n);
                if (r < 0) {
                        local_vm_array_free(list, n);
                        return r;
                }
                n++;
        }
        if (rc != SQLITE_DONE) {
                local_vm_array_free(list, n);
                return sqlite_errno(rc) ?: -EIO;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

static int update(sqlite3 *db, const char *sql, const char *name, const char *text, int64_t number, bool use_text) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = prepare(db, sql, &st);
        if (r < 0)
                return r;
        r = use_text ? bind_text(st, 1, text) : sqlite_errno(sqlite3_bind_int64(st, 1, number));
        if (r < 0)
                return r;
        r = bind_text(st, 2, name);
        if (r < 0)
                return r;
        r = step_done(st);
        if (r < 0)
                return r;
        return sqlite3_changes(db) > 0 ? 0 : -ENOENT;
}

int state_set_created(sqlite3 *db, const char *name, const char *job_id) {
        return update(db, "UPDATE vms SET state = 'created', job_id = ? WHERE name = ?", name, job_id, 0, true);
}

int state_set_ssh_port(sqlite3 *db, const char *name, uint16_t port) {
        return update(db, "UPDATE vms SET ssh_port = ? WHERE name = ?", name, NULL, port, false);
}

int state_set_ssh_host(sqlite3 *db, const char *name, const char *host) {
        return update(db, "UPDATE vms SET ssh_host = ? WHERE name = ?", name, host, 0, true);
}

int state_remove(sqlite3 *db, const char *name) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = prepare(db, "DELETE FROM vms WHERE name = ?", &st);
        if (r < 0)
                return r;
        r = bind_text(st, 1, name);
        if (r < 0)
                return r;
        r = step_done(st);
        if (r < 0)
                return r;
        return sqlite3_changes(db) > 0 ? 0 : -ENOENT;
}
