/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "time-util.h"

/* What the PostgreSQL store sends to the other instances: one NOTIFY on the channel
 * "golem_discovery" per row a transaction wrote, in that transaction,
 *     "u <updated_at> <provider_id>"   an upsert (the listener fetches the row), or
 *     "r <removed_at> <provider_id>"   a DELETE (its tombstone's time),
 * times in microseconds since the epoch. Payloads come from the database, that is from
 * outside: anything else is ignored. */

#define PG_CHANGE_CHANNEL "golem_discovery"

typedef struct PgChange {
        bool removed;
        usec_t at;
        const char *provider_id; /* points into the payload */
} PgChange;

/* 0, or -EINVAL (ret untouched) when payload is not one of the above with a valid id. */
int pg_change_parse(const char *payload, PgChange *ret);
