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

static int schema_setup(sqlite3 *db, const char *schema, int version) {
        char set_version[64];
        sqlite3_stmt *st;
        int current, r;

        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        current = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);

        if (current < 0)
                return -EIO;
        if (current > version)
                return -EPROTONOSUPPORT; /* written by a newer version of us */
        if (current == version)
                return 0;
        if (current != 0)
                return -EPROTONOSUPPORT; /* no migrations yet: there is only one version */

        r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        /* Another process may have created the schema since we looked: look again, now that
         * we hold the write lock. */
        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
                (void) exec(db, "ROLLBACK");
                return -EIO;
        }
        current = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);
        if (current == version)
                return exec(db, "COMMIT");
        if (current != 0) {
                (void) exec(db, "ROLLBACK");
                return current < 0 ? -EIO : -EPROTONOSUPPORT;
        }
        snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", version);
        r = exec(db, schema);
        if (r >= 0)
                r = exec(db, set_version);
        if (r < 0) {
                (void) exec(db, "ROLLBACK");
                return r;
        }
        return exec(db, "COMMIT");
}

int sqlite_open_versioned(const char *path, const char *schema, int version, sqlite3 **ret) {
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
                r = schema_setup(db, schema, version);
        if (r < 0) {
                sqlite3_close_v2(db);
                return r;
        }
        *ret = db;
        return 0;
}
