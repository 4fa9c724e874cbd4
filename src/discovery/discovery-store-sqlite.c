/* SPDX-License-Identifier: MIT */
#include <sqlite3.h>
#include <stdio.h>

#include "discovery-store.h"
#include "json-util.h"
#include "macro.h"
#include "sqlite-util.h"

#define SCHEMA_VERSION 2

enum {
        STMT_CREATED_AT,
        STMT_UPSERT,
        STMT_GET,
        STMT_QUERY,
        STMT_REMOVE,
        STMT_EXPIRE,
        STMT_COUNT,
        STMT_COUNT_VERIFIED,
        _STMT_MAX,
};

static const char *const statements[_STMT_MAX] = {
        [STMT_CREATED_AT] =
                "SELECT created_at FROM advertisements WHERE provider_id = ?1 AND updated_at >= ?2",
        [STMT_UPSERT] =
                "INSERT INTO advertisements (provider_id, ip_address, country, platform, cpu, memory, storage,"
                " document, created_at, updated_at, verified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                " ON CONFLICT (provider_id) DO UPDATE SET ip_address = ?2, country = ?3, platform = ?4,"
                " cpu = ?5, memory = ?6, storage = ?7, document = ?8, created_at = ?9, updated_at = ?10,"
                " verified = ?11",
        [STMT_GET] =
                "SELECT document FROM advertisements WHERE provider_id = ?1 AND updated_at >= ?2",
        [STMT_QUERY] =
                "SELECT document FROM advertisements"
                " WHERE updated_at >= ?1 AND cpu >= ?2 AND memory >= ?3 AND storage >= ?4"
                " AND (?5 IS NULL OR country = ?5) AND (?6 IS NULL OR platform = ?6) AND verified >= ?9"
                " ORDER BY verified DESC, cpu DESC, memory DESC, storage DESC, provider_id LIMIT ?7 OFFSET ?8",
        [STMT_REMOVE] =
                "DELETE FROM advertisements WHERE provider_id = ?1 RETURNING updated_at",
        [STMT_EXPIRE] =
                "DELETE FROM advertisements WHERE updated_at < ?1",
        [STMT_COUNT] =
                "SELECT COUNT(*) FROM advertisements WHERE updated_at >= ?1",
        [STMT_COUNT_VERIFIED] =
                "SELECT COUNT(*), COALESCE(SUM(verified), 0) FROM advertisements WHERE updated_at >= ?1",
};

static const char schema[] =
        "CREATE TABLE advertisements ("
        "  provider_id TEXT PRIMARY KEY NOT NULL,"
        "  ip_address TEXT NOT NULL,"
        "  country TEXT NOT NULL,"
        "  platform TEXT,"
        "  cpu INTEGER NOT NULL,"
        "  memory INTEGER NOT NULL,"
        "  storage INTEGER NOT NULL,"
        "  document TEXT NOT NULL,"      /* the advertisement as served */
        "  created_at INTEGER NOT NULL," /* microseconds since the epoch */
        "  updated_at INTEGER NOT NULL,"
        "  verified INTEGER NOT NULL DEFAULT 0"  /* 1: the id is the signer's fingerprint */
        ") WITHOUT ROWID;"
        "CREATE INDEX advertisements_rank ON advertisements"
        "  (verified DESC, cpu DESC, memory DESC, storage DESC, provider_id);"
        "CREATE INDEX advertisements_updated ON advertisements (updated_at);";

/* migrations[v - 1] takes the schema from version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION - 1] = {
        /* 2: "verified" (what was stored before was never checked) and "api_port" (not known
         * then) in every document, the column, and verified ones ranked first. */
        "ALTER TABLE advertisements ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;"
        "UPDATE advertisements SET document = json_set(document, '$.api_port', NULL, '$.verified', json('false'));"
        "DROP INDEX advertisements_rank;"
        "CREATE INDEX advertisements_rank ON advertisements"
        "  (verified DESC, cpu DESC, memory DESC, storage DESC, provider_id);",
};

typedef struct SqliteStore {
        DiscoveryStore base;
        sqlite3 *db;
        sqlite3_stmt *stmt[_STMT_MAX];
} SqliteStore;

static void store_close(DiscoveryStore *base) {
        SqliteStore *s = (SqliteStore *) base;

        if (!s)
                return;
        for (size_t i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(s->stmt[i]);
        sqlite3_close_v2(s->db);
        free(s);
}

static int exec(SqliteStore *s, const char *sql) {
        return sqlite_errno(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

static int store_open(const char *location, DiscoveryStore **ret) {
        SqliteStore *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->base.ops = &discovery_store_sqlite_ops;

        /* WAL, and a sync on every commit: an acknowledged POST survives a crash of the
         * process and of the machine. */
        r = sqlite_open_migrated(location, schema, SCHEMA_VERSION, migrations, &s->db);
        if (r < 0)
                goto fail;

        for (size_t i = 0; i < _STMT_MAX; i++)
                if (sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) != SQLITE_OK) {
                        r = -EIO;
                        goto fail;
                }

        *ret = &s->base;
        return 0;

fail:
        store_close(&s->base);
        return r;
}

static sqlite3_stmt *stmt_get(SqliteStore *s, int i) {
        sqlite3_reset(s->stmt[i]);
        sqlite3_clear_bindings(s->stmt[i]);
        return s->stmt[i];
}

static int store_upsert(DiscoveryStore *base, Advertisement *a, usec_t now, usec_t fresh_after, char **ret_document) {
        SqliteStore *s = (SqliteStore *) base;
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *document = NULL;
        sqlite3_stmt *st;
        const char *d;
        int r, rc;

        r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;

        a->created_at = a->updated_at = now;
        st = stmt_get(s, STMT_CREATED_AT);
        sqlite3_bind_text(st, 1, a->provider_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) fresh_after);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                a->created_at = (usec_t) sqlite3_column_int64(st, 0);
        else if (rc != SQLITE_DONE) {
                r = sqlite_errno(rc);
                goto rollback;
        }
        sqlite3_reset(st);

        r = advertisement_to_json(a, &o);
        if (r < 0)
                goto rollback;
        d = json_to_string(o, false);
        document = d ? strdup(d) : NULL;
        if (!document) {
                r = -ENOMEM;
                goto rollback;
        }

        st = stmt_get(s, STMT_UPSERT);
        sqlite3_bind_text(st, 1, a->provider_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->ip_address, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a->country, -1, SQLITE_STATIC);
        if (a->platform[0])
                sqlite3_bind_text(st, 4, a->platform, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, a->resources.cpu);
        sqlite3_bind_int64(st, 6, a->resources.memory);
        sqlite3_bind_int64(st, 7, a->resources.storage);
        sqlite3_bind_text(st, 8, document, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, (sqlite3_int64) a->created_at);
        sqlite3_bind_int64(st, 10, (sqlite3_int64) a->updated_at);
        sqlite3_bind_int(st, 11, a->verified);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
                r = sqlite_errno(rc);
                goto rollback;
        }

        r = exec(s, "COMMIT");
        if (r < 0)
                goto rollback;

        *ret_document = TAKE_PTR(document);
        return 0;

rollback:
        (void) exec(s, "ROLLBACK");
        return r;
}

static int store_get(DiscoveryStore *base, const char *provider_id, usec_t fresh_after, char **ret_document) {
        SqliteStore *s = (SqliteStore *) base;
        sqlite3_stmt *st = stmt_get(s, STMT_GET);
        char *d;
        int rc;

        sqlite3_bind_text(st, 1, provider_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) fresh_after);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                sqlite3_reset(st);
                return -ENOENT;
        }
        if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                return sqlite_errno(rc);
        }
        d = strdup((const char *) sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        if (!d)
                return -ENOMEM;
        *ret_document = d;
        return 0;
}

static int store_query(DiscoveryStore *base, const AdvertisementQuery *q, usec_t fresh_after,
                       DiscoveryStoreRowCallback cb, void *userdata) {
        SqliteStore *s = (SqliteStore *) base;
        sqlite3_stmt *st = stmt_get(s, STMT_QUERY);
        int rc, r = 0;

        sqlite3_bind_int64(st, 1, (sqlite3_int64) fresh_after);
        sqlite3_bind_int64(st, 2, q->cpu);
        sqlite3_bind_int64(st, 3, q->memory);
        sqlite3_bind_int64(st, 4, q->storage);
        if (q->country[0])
                sqlite3_bind_text(st, 5, q->country, -1, SQLITE_STATIC);
        if (q->platform[0])
                sqlite3_bind_text(st, 6, q->platform, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (sqlite3_int64) q->limit);
        sqlite3_bind_int64(st, 8, (sqlite3_int64) MIN(q->offset, (uint64_t) INT64_MAX));
        sqlite3_bind_int(st, 9, q->verified_only);

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb((const char *) sqlite3_column_text(st, 0), (size_t) sqlite3_column_bytes(st, 0), userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sqlite_errno(rc);
        sqlite3_reset(st);
        return r;
}

static int store_remove(DiscoveryStore *base, const char *provider_id, usec_t fresh_after) {
        SqliteStore *s = (SqliteStore *) base;
        sqlite3_stmt *st = stmt_get(s, STMT_REMOVE);
        usec_t updated = 0;
        bool found = false;
        int rc;

        sqlite3_bind_text(st, 1, provider_id, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                found = true;
                updated = (usec_t) sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return sqlite_errno(rc);
        return found && updated >= fresh_after ? 0 : -ENOENT;
}

/* Runs statement which with ?1 = fresh_after; the first column of the row it yields, if any. */
static int run_fresh_after(SqliteStore *s, unsigned which, usec_t fresh_after, int64_t *ret_value) {
        sqlite3_stmt *st = stmt_get(s, which);
        int rc;

        sqlite3_bind_int64(st, 1, (sqlite3_int64) fresh_after);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && ret_value)
                *ret_value = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlite_errno(rc) ?: -EIO;
}

static int store_expire(DiscoveryStore *base, usec_t fresh_after, uint64_t *ret_n) {
        SqliteStore *s = (SqliteStore *) base;
        int r = run_fresh_after(s, STMT_EXPIRE, fresh_after, NULL);

        if (r >= 0 && ret_n)
                *ret_n = (uint64_t) sqlite3_changes64(s->db);
        return r;
}

static int store_count(DiscoveryStore *base, usec_t fresh_after, uint64_t *ret_n) {
        int64_t n = 0;
        int r = run_fresh_after((SqliteStore *) base, STMT_COUNT, fresh_after, &n);

        *ret_n = n > 0 ? (uint64_t) n : 0;
        return r;
}

static int store_count_verified(DiscoveryStore *base, usec_t fresh_after, uint64_t *ret_verified,
                                uint64_t *ret_unverified) {
        SqliteStore *s = (SqliteStore *) base;
        sqlite3_stmt *st = stmt_get(s, STMT_COUNT_VERIFIED);
        int64_t all = 0, verified = 0;
        int rc;

        sqlite3_bind_int64(st, 1, (sqlite3_int64) fresh_after);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                all = sqlite3_column_int64(st, 0);
                verified = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW)
                return sqlite_errno(rc) ?: -EIO;
        *ret_verified = verified > 0 ? (uint64_t) verified : 0;
        *ret_unverified = all > verified ? (uint64_t) (all - verified) : 0;
        return 0;
}

const DiscoveryStoreOps discovery_store_sqlite_ops = {
        .name = "sqlite",
        .open = store_open,
        .close = store_close,
        .upsert = store_upsert,
        .get = store_get,
        .query = store_query,
        .remove = store_remove,
        .expire = store_expire,
        .count = store_count,
        .count_verified = store_count_verified,
};
