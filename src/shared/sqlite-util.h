/* SPDX-License-Identifier: MIT */
#pragma once

#include <sqlite3.h>

#include "macro.h"

/* A negative errno for an SQLite result code (0 for OK, ROW and DONE). */
int sqlite_errno(int rc);

/* Opens (creating) a database in WAL mode with a sync on every commit, so an acknowledged
 * write survives a crash, and creates the schema when the file is new. A database whose
 * user_version is newer than version is refused with -EPROTONOSUPPORT. */
int sqlite_open_versioned(const char *path, const char *schema, int version, sqlite3 **ret);

/* The same, and a database at an older user_version v (from 1) is brought to version by
 * running migrations[v - 1], migrations[v], ... migrations[version - 2] (each the SQL that
 * takes version v to v + 1), all in one transaction with the new user_version. */
int sqlite_open_migrated(const char *path, const char *schema, int version, const char *const *migrations,
                         sqlite3 **ret);

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3 *, sqlite3_close_v2);
DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);
#define _cleanup_sqlite_ _cleanup_(sqlite3_close_v2p)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)
