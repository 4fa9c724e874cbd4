/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "macro.h"
#include "sqlite-util.h"

int sqlite_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EROFS;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        default:
                return -EIO;
        }
}

static int exec(sqlite3 *db, const char *sql) {
        return sqlite_errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* PRAGMA user_version, or -EIO. */
static int read_version(sqlite3 *db) {
        sqlite3_stmt *st;
        int v;

        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);
        return v < 0 ? -EIO : v;
}

/* Whether a database at current can be brought to version: it is new, or migrations say how. */
static bool version_reachable(int current, int version, const char *const *migrations) {
        return current <= version && (current == 0 || current == version || migrations);
}

static int schema_setup(sqlite3 *db, const char *schema, int version, const char *const *migrations) {
        char set_version[64];
        int current, r;

        current = read_version(db);
        if (current < 0)
                return current;
        if (current == version)
                return 0;
        if (!version_reachable(current, version, migrations))
                return -EPROTONOSUPPORT; /* written by a newer version of us */

        r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        /* Another process may have created or migrated the schema since we looked: look
         * again, now that we hold the write lock. */
        current = read_version(db);
        if (current == version)
                return exec(db, "COMMIT");
        if (current < 0 || !version_reachable(current, version, migrations)) {
                (void) exec(db, "ROLLBACK");
                return current < 0 ? current : -EPROTONOSUPPORT;
        }
        snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", version);
        if (current == 0)
                r = exec(db, schema);
        else
                for (int v = current; v < version && r >= 0; v++)
                        r = exec(db, migrations[v - 1]);
        if (r >= 0)
                r = exec(db, set_version);
        if (r < 0) {
                (void) exec(db, "ROLLBACK");
                return r;
        }
        return exec(db, "COMMIT");
}

int sqlite_open_migrated(const char *path, const char *schema, int version, const char *const *migrations,
                         sqlite3 **ret) {
        sqlite3 *db = NULL;
        int r;

        r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (r != SQLITE_OK) {
                r = sqlite_errno(r);
                sqlite3_close_v2(db);
                return r;
        }
        (void) sqlite3_extended_result_codes(db, 1);
        (void) sqlite3_busy_timeout(db, 5000);

        r = exec(db, "PRAGMA journal_mode = WAL");
        if (r >= 0)
                r = exec(db, "PRAGMA synchronous = FULL");
        if (r >= 0)
                r = schema_setup(db, schema, version, migrations);
        if (r < 0) {
                sqlite3_close_v2(db);
                return r;
        }
        *ret = db;
        return 0;
}

int sqlite_open_versioned(const char *path, const char *schema, int version, sqlite3 **ret) {
        return sqlite_open_migrated(path, schema, version, NULL, ret);
}
