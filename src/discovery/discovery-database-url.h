/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/* DatabaseURL=: a libpq connection URI for the PostgreSQL store. */

#define DATABASE_URL_MAX 4096

/* postgresql://... or postgres://..., at most DATABASE_URL_MAX bytes, printable ASCII only,
 * and one that libpq itself parses (PQconninfoParse). Key=value connection strings are
 * refused: one form is enough to document and to check. */
bool database_url_valid(const char *url);

/* url with its password (in the user info, or a password= parameter) replaced by "***", for
 * logs and --check-config: a password is never printed. -EINVAL when !database_url_valid(). */
int database_url_redact(const char *url, char **ret);
