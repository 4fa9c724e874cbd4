/* SPDX-License-Identifier: MIT */
/* The PostgreSQL store (discovery-store.h), for several instances sharing one database.
 *
 * One libpq connection per instance, non-blocking, its socket an io source on the sd-event
 * loop; one statement in flight at a time, the others queued. Writes queued while a statement
 * is in flight go together into the next one: a single INSERT ... SELECT FROM unnest(...)
 * ON CONFLICT DO UPDATE with the DELETEs and the NOTIFYs beside it in data-modifying CTEs, one
 * statement and so one transaction, committed (autocommit) before its result comes back; each
 * write's done() runs after that. The schema is migrated in one transaction under an advisory
 * lock. Other instances' writes come as NOTIFYs (discovery-store-postgresql.h) sent by their
 * writing transactions, and by a catch-up by updated_at (and the removals' tombstones) after
 * every reconnection and every CATCHUP_INTERVAL. Only the instance holding the sweeper's
 * session-level advisory lock expires rows; the others try to take it at each expire(). A lost
 * connection is retried with exponential backoff; while it is down writes fail with
 * -ENOTCONN and health() says so. Nothing here blocks, except that libpq resolves a host
 * *name* when connecting: give an address (see golem-discoveryd(8)). */

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "discovery-database-url.h"
#include "discovery-store.h"
#include "discovery-store-postgresql.h"
#include "list.h"
#include "macro.h"
#include "parse-util.h"
#include "validate.h"

#define SCHEMA_VERSION 1

/* pg_advisory_lock(LOCK_CLASS, which): "gole". */
#define LOCK_CLASS "1735355493"
#define LOCK_MIGRATE "1"
#define LOCK_SWEEP "2"

#define BACKOFF_MIN (100 * USEC_PER_MSEC)
#define BACKOFF_MAX (5 * USEC_PER_SEC)
#define CONNECT_TIMEOUT (10 * USEC_PER_SEC)
#define CATCHUP_INTERVAL (120 * USEC_PER_SEC)
/* A catch-up reads again what changed this long before the last one started: transactions
 * still in flight then, and the clocks of the instances (updated_at is theirs) disagreeing. */
#define CATCHUP_MARGIN (10 * USEC_PER_SEC)
#define FETCH_MAX 4096
/* Writes per transaction at most (a statement of a few MB): a backlog goes in several. */
#define BATCH_MAX 4096
#define BATCH_TRIES 3

/* migrations[v - 1] takes the schema from version v - 1 to v. */
static const char *const migrations[SCHEMA_VERSION] = {
        /* 1: the advertisements as served beside their filter columns, and the removals'
         * tombstones (kept for AdvertisementTTL=, so that an instance that was away learns of
         * a DELETE by its catch-up). */
        "CREATE TABLE advertisements ("
        "  provider_id text PRIMARY KEY,"
        "  ip_address text NOT NULL,"
        "  country text NOT NULL,"
        "  platform text,"
        "  cpu bigint NOT NULL,"
        "  memory bigint NOT NULL,"
        "  storage bigint NOT NULL,"
        "  verified boolean NOT NULL,"
        "  created_at bigint NOT NULL," /* microseconds since the epoch */
        "  updated_at bigint NOT NULL,"
        "  document text NOT NULL"      /* the advertisement as served */
        ");"
        "CREATE INDEX advertisements_updated ON advertisements (updated_at);"
        "CREATE TABLE advertisement_removals ("
        "  provider_id text PRIMARY KEY,"
        "  removed_at bigint NOT NULL"
        ");"
        "CREATE INDEX advertisement_removals_removed ON advertisement_removals (removed_at);",
};

#define COLUMNS "provider_id, ip_address, country, platform, cpu, memory, storage, verified, created_at, updated_at, document"
enum {
        COL_PROVIDER_ID, COL_IP_ADDRESS, COL_COUNTRY, COL_PLATFORM, COL_CPU, COL_MEMORY, COL_STORAGE,
        COL_VERIFIED, COL_CREATED_AT, COL_UPDATED_AT, COL_DOCUMENT, _COL_MAX,
};

static const char sql_batch[] =
        "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],"
        "    $6::bigint[], $7::bigint[], $8::boolean[], $9::bigint[], $10::bigint[], $11::text[])"
        "    AS v(" COLUMNS ")),"
        " r AS (SELECT * FROM unnest($12::text[], $13::bigint[]) AS r(provider_id, removed_at)),"
        " upserted AS (INSERT INTO advertisements AS a (" COLUMNS ") SELECT * FROM v"
        "    WHERE NOT EXISTS (SELECT 1 FROM advertisement_removals t"
        "                      WHERE t.provider_id = v.provider_id AND t.removed_at >= v.updated_at)"
        "    ON CONFLICT (provider_id) DO UPDATE SET ip_address = excluded.ip_address,"
        "    country = excluded.country, platform = excluded.platform, cpu = excluded.cpu,"
        "    memory = excluded.memory, storage = excluded.storage, verified = excluded.verified,"
        "    created_at = excluded.created_at, updated_at = excluded.updated_at, document = excluded.document"
        "    WHERE a.updated_at <= excluded.updated_at"
        "    RETURNING a.provider_id, a.updated_at),"
        " deleted AS (DELETE FROM advertisements a USING r"
        "    WHERE a.provider_id = r.provider_id AND a.updated_at <= r.removed_at),"
        " tombstones AS (INSERT INTO advertisement_removals AS t SELECT * FROM r"
        "    ON CONFLICT (provider_id) DO UPDATE SET removed_at = greatest(t.removed_at, excluded.removed_at)),"
        " notified AS (SELECT pg_notify('" PG_CHANGE_CHANNEL "', 'u ' || updated_at || ' ' || provider_id) FROM upserted"
        "    UNION ALL SELECT pg_notify('" PG_CHANGE_CHANNEL "', 'r ' || removed_at || ' ' || provider_id) FROM r)"
        " SELECT count(*) FROM notified";

static const char sql_expire[] =
        "WITH expired AS (DELETE FROM advertisements WHERE provider_id IN"
        "    (SELECT provider_id FROM advertisements WHERE updated_at < $1 ORDER BY updated_at LIMIT $2)"
        "    AND updated_at < $1 RETURNING 1),"
        " purged AS (DELETE FROM advertisement_removals WHERE provider_id IN"
        "    (SELECT provider_id FROM advertisement_removals WHERE removed_at < $1 ORDER BY removed_at LIMIT $2))"
        " SELECT count(*) FROM expired";

typedef struct PgStore PgStore;
typedef struct PgQuery PgQuery;

typedef enum PgState {
        PG_DISCONNECTED, /* waiting to (re)connect */
        PG_CONNECTING,
        PG_SETUP,        /* connected: migrating, listening, catching up */
        PG_READY,
        PG_FAILED,       /* the schema is newer than this daemon: not retried */
} PgState;

typedef struct PgWrite {
        bool removed;
        char *provider_id;
        usec_t at; /* updated_at or removed_at */
        char *ip_address, *country, *platform, *document;
        int64_t cpu, memory, storage;
        bool verified;
        usec_t created_at;
        DiscoveryStoreDone done;
        void *userdata;
} PgWrite;

/* One statement. on_done() runs exactly once (-ENOTCONN when the connection went, -ECANCELED
 * at close) and frees the query, or sends it again. */
struct PgQuery {
        const char *sql;
        char *sql_owned;
        char **values; /* n_values owned strings; NULL is SQL NULL */
        int n_values;
        bool single_row;
        int error; /* of the first failed result */
        int (*on_rows)(PgStore *s, PgQuery *q, const PGresult *res);
        void (*on_done)(PgStore *s, PgQuery *q, int error);

        /* what it is for */
        PgWrite *writes;
        size_t n_writes;
        unsigned tries;
        DiscoveryStoreDone done;
        void *userdata;
        uint64_t *ret_n;
        usec_t fresh_after;
        uint64_t limit;

        LIST_FIELDS(PgQuery, queries);
};

struct PgStore {
        DiscoveryStore base;
        sd_event *event;
        char *url;
        PGconn *conn;
        PgState state;
        int failed_error;
        sd_event_source *io, *timer, *kick, *catchup_timer;
        bool want_out;
        usec_t backoff;
        unsigned setup_step;
        bool holds_sweep_lock;

        PgQuery *queries, *queries_tail; /* waiting to be sent */
        PgQuery *current;                /* sent, results coming */

        PgWrite *writes; /* for the next commit */
        size_t n_writes, n_writes_allocated;

        bool load_active, load_sent;
        usec_t load_fresh_after, load_started;
        DiscoveryStoreRow load_row;
        DiscoveryStoreDone load_done;
        void *load_userdata;
        int load_error;

        bool following;
        DiscoveryStoreFollower follower;
        bool health_reported, healthy;
        char reason[256];        /* why the connection went, for health() */
        char error_message[256]; /* of the last failed statement */
        usec_t caught_up_since; /* 0: nothing to catch up with yet */
        usec_t catchup_started;
        bool catching_up;
        char **fetch_ids;
        size_t n_fetch_ids, n_fetch_ids_allocated;
        bool fetch_queued;

        unsigned busy; /* handlers on the stack: close() leaves the freeing to the last */
        bool closed;
};

int pg_change_parse(const char *payload, PgChange *ret) {
        const char *p, *sp;
        char digits[21];
        uint64_t at;
        bool removed;

        if (!payload)
                return -EINVAL;
        if (startswith(payload, "u "))
                removed = false;
        else if (startswith(payload, "r "))
                removed = true;
        else
                return -EINVAL;
        p = payload + 2;
        sp = strchr(p, ' ');
        if (!sp || sp == p || (size_t) (sp - p) >= sizeof(digits))
                return -EINVAL;
        memcpy(digits, p, (size_t) (sp - p));
        digits[sp - p] = 0;
        if (!string_in_charset(digits, strlen(digits), "0123456789") || parse_u64(digits, &at) < 0 ||
            at > INT64_MAX)
                return -EINVAL;
        if (!provider_id_valid(sp + 1))
                return -EINVAL;

        *ret = (PgChange) {
                .removed = removed,
                .at = at,
                .provider_id = sp + 1,
        };
        return 0;
}

static int sqlstate_to_errno(const char *state) {
        if (!state)
                return -EIO;
        if (streq(state, "GD001"))
                return -EPROTONOSUPPORT;
        if (streq(state, "53100"))
                return -EDQUOT;
        if (streq(state, "40P01") || streq(state, "40001"))
                return -EDEADLK; /* tried again (a batch), else -EIO */
        if (startswith(state, "08") || startswith(state, "57P"))
                return -ENOTCONN;
        return -EIO;
}

static void write_done(PgWrite *w) {
        free(w->provider_id);
        free(w->ip_address);
        free(w->country);
        free(w->platform);
        free(w->document);
}

static void query_free(PgQuery *q) {
        if (!q)
                return;
        for (int i = 0; i < q->n_values; i++)
                free(q->values[i]);
        free(q->values);
        free(q->sql_owned);
        for (size_t i = 0; i < q->n_writes; i++)
                write_done(q->writes + i);
        free(q->writes);
        free(q);
}

static PgQuery *query_new(const char *sql, int n_values) {
        PgQuery *q = calloc(1, sizeof(*q));

        if (!q)
                return NULL;
        q->sql = sql;
        q->n_values = n_values;
        if (n_values > 0) {
                q->values = calloc((size_t) n_values, sizeof(char *));
                if (!q->values)
                        return mfree(q);
        }
        return q;
}

static int query_set_u64(PgQuery *q, int i, uint64_t v) {
        if (asprintf(&q->values[i], "%" PRIu64, v) < 0) {
                q->values[i] = NULL;
                return -ENOMEM;
        }
        return 0;
}

static void store_kick(PgStore *s) {
        if (s->kick)
                (void) sd_event_source_set_enabled(s->kick, SD_EVENT_ONESHOT);
}

static void query_enqueue(PgStore *s, PgQuery *q) {
        LIST_APPEND_TAIL(queries, s->queries, s->queries_tail, q);
        store_kick(s);
}

static void query_enqueue_first(PgStore *s, PgQuery *q) {
        q->queries_prev = NULL;
        q->queries_next = s->queries;
        if (s->queries)
                s->queries->queries_prev = q;
        else
                s->queries_tail = q;
        s->queries = q;
        store_kick(s);
}

static void report_health(PgStore *s, bool healthy, const char *reason) {
        if (s->health_reported && s->healthy == healthy)
                return;
        s->health_reported = true;
        s->healthy = healthy;
        if (s->following && s->follower.health)
                s->follower.health(healthy, reason, s->follower.userdata);
}

/* libpq's message, first line only (the rest is a hint that names no secret, but is long). */
static void set_reason(PgStore *s, const char *prefix) {
        const char *m = s->conn ? PQerrorMessage(s->conn) : NULL;

        snprintf(s->reason, sizeof(s->reason), "%s%s%.*s", prefix, isempty(m) ? "" : ": ",
                 m ? (int) strcspn(m, "\n") : 0, strempty(m));
}

/* A row of COLUMNS; -EBADMSG when the database holds something this daemon did not write. */
static int row_parse(const PGresult *res, int i, StoredAdvertisement *ret) {
        int64_t v[_COL_MAX] = {};
        const char *verified;

        if (PQnfields(res) != _COL_MAX)
                return -EBADMSG;
        for (int c = 0; c < _COL_MAX; c++)
                if (c != COL_PLATFORM && PQgetisnull(res, i, c))
                        return -EBADMSG;
        for (int c = COL_CPU; c <= COL_UPDATED_AT; c++)
                if (c != COL_VERIFIED && parse_i64(PQgetvalue(res, i, c), &v[c]) < 0)
                        return -EBADMSG;
        if (v[COL_CPU] < 0 || v[COL_MEMORY] < 0 || v[COL_STORAGE] < 0 || v[COL_CREATED_AT] < 0 ||
            v[COL_UPDATED_AT] < 0)
                return -EBADMSG;
        if (!provider_id_valid(PQgetvalue(res, i, COL_PROVIDER_ID)))
                return -EBADMSG;
        verified = PQgetvalue(res, i, COL_VERIFIED);

        *ret = (StoredAdvertisement) {
                .provider_id = PQgetvalue(res, i, COL_PROVIDER_ID),
                .ip_address = PQgetvalue(res, i, COL_IP_ADDRESS),
                .country = PQgetvalue(res, i, COL_COUNTRY),
                .platform = PQgetisnull(res, i, COL_PLATFORM) ? NULL : PQgetvalue(res, i, COL_PLATFORM),
                .cpu = v[COL_CPU],
                .memory = v[COL_MEMORY],
                .storage = v[COL_STORAGE],
                .verified = streq(verified, "t"),
                .created_at = (usec_t) v[COL_CREATED_AT],
                .updated_at = (usec_t) v[COL_UPDATED_AT],
                .document = PQgetvalue(res, i, COL_DOCUMENT),
                .document_size = (size_t) PQgetlength(res, i, COL_DOCUMENT),
        };
        return 0;
}

static void connection_lost(PgStore *s);
static void setup_next(PgStore *s);

static int flush(PgStore *s) {
        int r = PQflush(s->conn);

        if (r < 0)
                return -ENOTCONN;
        if ((r > 0) != s->want_out) {
                s->want_out = r > 0;
                if (sd_event_source_set_io_events(s->io, EPOLLIN | (s->want_out ? EPOLLOUT : 0)) < 0)
                        return -ENOTCONN;
        }
        return 0;
}

/* The write batch: what was queued for the next commit, one write per provider id (the newest
 * by its time, as the database and every index decide; of equal times the last queued),
 * sorted by id so that two instances' batches lock rows in the same order. */
static int write_compare(const void *a, const void *b) {
        const PgWrite *x = *(PgWrite *const *) a, *y = *(PgWrite *const *) b;
        int c = strcmp(x->provider_id, y->provider_id);

        if (c != 0)
                return c;
        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        return x < y ? -1 : x > y;
}

/* A PostgreSQL array literal's element: quoted, '"' and '\' escaped. */
static void array_text(FILE *f, bool first, const char *s) {
        fputc(first ? '{' : ',', f);
        if (!s) {
                fputs("NULL", f);
                return;
        }
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

static void array_int(FILE *f, bool first, int64_t v) {
        fprintf(f, "%c%" PRIi64, first ? '{' : ',', v);
}

static int array_end(FILE *f, bool empty, char **ret) {
        fputs(empty ? "{}" : "}", f);
        if (fclose(f) != 0) {
                free(*ret);
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

enum {
        BATCH_ID, BATCH_IP, BATCH_COUNTRY, BATCH_PLATFORM, BATCH_CPU, BATCH_MEMORY, BATCH_STORAGE,
        BATCH_VERIFIED, BATCH_CREATED, BATCH_UPDATED, BATCH_DOCUMENT, BATCH_REMOVED_ID, BATCH_REMOVED_AT,
        _BATCH_MAX,
};

static int batch_values(PgQuery *q) {
        _cleanup_free_ PgWrite **order = NULL;
        size_t sizes[_BATCH_MAX];
        FILE *f[_BATCH_MAX] = {};
        size_t n_up = 0, n_rm = 0;
        int r = 0;

        order = malloc(sizeof(PgWrite *) * (q->n_writes ?: 1));
        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < q->n_writes; i++)
                order[i] = q->writes + i;
        qsort(order, q->n_writes, sizeof(PgWrite *), write_compare);

        for (int c = 0; c < _BATCH_MAX; c++) {
                f[c] = open_memstream(&q->values[c], &sizes[c]);
                if (!f[c]) {
                        r = -ENOMEM;
                        goto fail;
                }
        }

        for (size_t i = 0; i < q->n_writes; i++) {
                const PgWrite *w = order[i];

                if (i + 1 < q->n_writes && streq(w->provider_id, order[i + 1]->provider_id))
                        continue; /* a newer write of the same id wins */
                if (w->removed) {
                        array_text(f[BATCH_REMOVED_ID], n_rm == 0, w->provider_id);
                        array_int(f[BATCH_REMOVED_AT], n_rm == 0, (int64_t) w->at);
                        n_rm++;
                        continue;
                }
                array_text(f[BATCH_ID], n_up == 0, w->provider_id);
                array_text(f[BATCH_IP], n_up == 0, w->ip_address);
                array_text(f[BATCH_COUNTRY], n_up == 0, w->country);
                array_text(f[BATCH_PLATFORM], n_up == 0, w->platform);
                array_int(f[BATCH_CPU], n_up == 0, w->cpu);
                array_int(f[BATCH_MEMORY], n_up == 0, w->memory);
                array_int(f[BATCH_STORAGE], n_up == 0, w->storage);
                fputc(n_up == 0 ? '{' : ',', f[BATCH_VERIFIED]);
                fputc(w->verified ? 't' : 'f', f[BATCH_VERIFIED]);
                array_int(f[BATCH_CREATED], n_up == 0, (int64_t) w->created_at);
                array_int(f[BATCH_UPDATED], n_up == 0, (int64_t) w->at);
                array_text(f[BATCH_DOCUMENT], n_up == 0, w->document);
                n_up++;
        }

fail:
        for (int c = 0; c < _BATCH_MAX; c++)
                if (f[c] && array_end(f[c], c >= BATCH_REMOVED_ID ? n_rm == 0 : n_up == 0, &q->values[c]) < 0)
                        r = -ENOMEM;
        return r;
}

static void batch_on_done(PgStore *s, PgQuery *q, int error) {
        if (error == -EDEADLK && ++q->tries < BATCH_TRIES) {
                /* A deadlock with another instance's batch or sweep: the same statement again,
                 * before anything queued later. */
                q->error = 0;
                query_enqueue_first(s, q);
                return;
        }
        if (error == -EDEADLK)
                error = -EIO;

        for (size_t i = 0; i < q->n_writes && !s->closed; i++)
                if (q->writes[i].done)
                        q->writes[i].done(error, q->writes[i].userdata);
        query_free(q);
}

static PgQuery *batch_new(PgStore *s) {
        PgQuery *q = query_new(sql_batch, _BATCH_MAX);

        if (!q)
                return NULL;
        if (s->n_writes <= BATCH_MAX) {
                q->writes = TAKE_PTR(s->writes);
                q->n_writes = s->n_writes;
                s->n_writes = s->n_writes_allocated = 0;
        } else {
                /* The oldest BATCH_MAX now, the rest in the next transaction. */
                q->writes = malloc(BATCH_MAX * sizeof(PgWrite));
                if (!q->writes) {
                        query_free(q);
                        return NULL;
                }
                memcpy(q->writes, s->writes, BATCH_MAX * sizeof(PgWrite));
                q->n_writes = BATCH_MAX;
                s->n_writes -= BATCH_MAX;
                memmove(s->writes, s->writes + BATCH_MAX, s->n_writes * sizeof(PgWrite));
        }
        q->on_done = batch_on_done;
        if (batch_values(q) < 0) {
                batch_on_done(s, q, -ENOMEM);
                return NULL;
        }
        return q;
}

static PgQuery *next_query(PgStore *s) {
        PgQuery *q;

        /* A batch tried again, then writes, while the connection is fully set up. */
        if (s->state == PG_READY && s->n_writes > 0 && !(s->queries && s->queries->on_done == batch_on_done)) {
                q = batch_new(s);
                if (q)
                        return q;
        }
        q = s->queries;
        if (q)
                LIST_REMOVE_TAIL(queries, s->queries, s->queries_tail, q);
        return q;
}

static void handle_result(PgStore *s, PgQuery *q, PGresult *res) {
        int r;

        switch (PQresultStatus(res)) {
        case PGRES_TUPLES_OK:
        case PGRES_SINGLE_TUPLE:
                if (q->on_rows && q->error == 0) {
                        r = q->on_rows(s, q, res);
                        if (s->closed)
                                return; /* q went with the store */
                        if (r < 0)
                                q->error = r;
                }
                break;
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
                break;
        default:
                if (q->error == 0)
                        q->error = sqlstate_to_errno(PQresultErrorField(res, PG_DIAG_SQLSTATE));
                if (q->error != -EDEADLK)
                        snprintf(s->error_message, sizeof(s->error_message), "%.*s",
                                 (int) strcspn(strempty(PQresultErrorMessage(res)), "\n"),
                                 strempty(PQresultErrorMessage(res)));
                break;
        }
}

/* Sends what is queued and reads what came, until libpq would wait. */
static void pump(PgStore *s) {
        PgQuery *q;
        PGresult *res;

        for (;;) {
                if (s->closed || !IN_SET(s->state, PG_SETUP, PG_READY))
                        return;
                if (!s->current) {
                        q = next_query(s);
                        if (!q)
                                return;
                        s->current = q;
                        if (!PQsendQueryParams(s->conn, q->sql, q->n_values, NULL, (const char *const *) q->values,
                                               NULL, NULL, 0) ||
                            (q->single_row && !PQsetSingleRowMode(s->conn)) ||
                            flush(s) < 0) {
                                set_reason(s, "Sending a statement failed");
                                connection_lost(s);
                                return;
                        }
                }
                if (PQisBusy(s->conn))
                        return;
                res = PQgetResult(s->conn);
                if (!res) {
                        q = TAKE_PTR(s->current);
                        q->on_done(s, q, q->error);
                        continue;
                }
                handle_result(s, s->current, res);
                PQclear(res);
        }
}

static void fetch_queue(PgStore *s);

static int fetch_on_rows(PgStore *s, PgQuery *q, const PGresult *res) {
        StoredAdvertisement a;

        for (int i = 0; i < PQntuples(res) && !s->closed; i++)
                if (row_parse(res, i, &a) >= 0 && s->follower.upserted)
                        (void) s->follower.upserted(&a, s->follower.userdata);
        return 0;
}

static void fetch_on_done(PgStore *s, PgQuery *q, int error) {
        query_free(q);
        s->fetch_queued = false;
        if (!s->closed && error != -ENOTCONN && error != -ECANCELED)
                fetch_queue(s);
}

/* The rows other instances upserted, as their NOTIFYs named them. */
static void fetch_queue(PgStore *s) {
        _cleanup_fclose_ FILE *f = NULL;
        PgQuery *q;
        size_t size, n;

        if (s->fetch_queued || s->n_fetch_ids == 0)
                return;
        q = query_new("SELECT " COLUMNS " FROM advertisements WHERE provider_id = ANY($1::text[])", 1);
        if (!q)
                return;
        f = open_memstream(&q->values[0], &size);
        if (!f) {
                query_free(q);
                return;
        }
        n = MIN(s->n_fetch_ids, (size_t) FETCH_MAX);
        for (size_t i = 0; i < n; i++)
                array_text(f, i == 0, s->fetch_ids[i]);
        if (array_end(TAKE_PTR(f), false, &q->values[0]) < 0) {
                query_free(q);
                return;
        }
        for (size_t i = 0; i < n; i++)
                free(s->fetch_ids[i]);
        memmove(s->fetch_ids, s->fetch_ids + n, (s->n_fetch_ids - n) * sizeof(char *));
        s->n_fetch_ids -= n;

        q->single_row = true;
        q->on_rows = fetch_on_rows;
        q->on_done = fetch_on_done;
        s->fetch_queued = true;
        query_enqueue(s, q);
}

static void fetch_ids_clear(PgStore *s) {
        for (size_t i = 0; i < s->n_fetch_ids; i++)
                free(s->fetch_ids[i]);
        s->n_fetch_ids = 0;
}

static void fetch_add(PgStore *s, const char *provider_id) {
        char *id;

        if (s->n_fetch_ids >= s->n_fetch_ids_allocated) {
                size_t n = MAX(s->n_fetch_ids_allocated * 2, (size_t) 64);
                char **a = reallocarray(s->fetch_ids, n, sizeof(char *));

                if (!a)
                        return; /* the next catch-up brings it */
                s->fetch_ids = a;
                s->n_fetch_ids_allocated = n;
        }
        id = strdup(provider_id);
        if (id)
                s->fetch_ids[s->n_fetch_ids++] = id;
}

static void notifies(PgStore *s) {
        PGnotify *n;
        PgChange c;
        int own = PQbackendPID(s->conn);

        while (!s->closed && s->conn && (n = PQnotifies(s->conn))) {
                if (s->following && n->be_pid != own && streq(n->relname, PG_CHANGE_CHANNEL) &&
                    pg_change_parse(n->extra, &c) >= 0) {
                        if (!c.removed)
                                fetch_add(s, c.provider_id);
                        else if (s->follower.removed)
                                s->follower.removed(c.provider_id, c.at, s->follower.userdata);
                }
                PQfreemem(n);
        }
        if (!s->closed)
                fetch_queue(s);
}

/* Catching up: what changed since caught_up_since, rows then tombstones. After a reconnection
 * everything since then; every CATCHUP_INTERVAL only up to CATCHUP_MARGIN ago, so that the
 * periodic ones read each row once (the NOTIFYs brought it already, as a rule). */
static int catchup_rows_on_rows(PgStore *s, PgQuery *q, const PGresult *res) {
        return fetch_on_rows(s, q, res);
}

static int catchup_removals_on_rows(PgStore *s, PgQuery *q, const PGresult *res) {
        uint64_t at;

        for (int i = 0; i < PQntuples(res) && !s->closed; i++)
                if (PQnfields(res) == 2 && provider_id_valid(PQgetvalue(res, i, 0)) &&
                    parse_u64(PQgetvalue(res, i, 1), &at) >= 0 && s->follower.removed)
                        s->follower.removed(PQgetvalue(res, i, 0), at, s->follower.userdata);
        return 0;
}

static void query_on_done_free(PgStore *s, PgQuery *q, int error) {
        query_free(q);
}

static void catchup_removals_on_done(PgStore *s, PgQuery *q, int error) {
        query_free(q);
        s->catching_up = false;
        if (s->closed || IN_SET(error, -ENOTCONN, -ECANCELED))
                return;
        if (error == 0 && s->catchup_started > CATCHUP_MARGIN)
                s->caught_up_since = MAX(s->caught_up_since, s->catchup_started - CATCHUP_MARGIN);
        if (s->state == PG_SETUP)
                setup_next(s);
}

static int catchup_start(PgStore *s, bool bounded) {
        PgQuery *rows, *removals;
        usec_t until;

        s->catchup_started = now_realtime();
        until = bounded && s->catchup_started > CATCHUP_MARGIN ? s->catchup_started - CATCHUP_MARGIN : INT64_MAX;
        rows = query_new("SELECT " COLUMNS " FROM advertisements WHERE updated_at >= $1 AND updated_at < $2"
                         " ORDER BY updated_at", 2);
        removals = query_new("SELECT provider_id, removed_at FROM advertisement_removals"
                             " WHERE removed_at >= $1 AND removed_at < $2", 2);
        if (!rows || !removals || query_set_u64(rows, 0, s->caught_up_since) < 0 ||
            query_set_u64(removals, 0, s->caught_up_since) < 0 || query_set_u64(rows, 1, until) < 0 ||
            query_set_u64(removals, 1, until) < 0) {
                query_free(rows);
                query_free(removals);
                return -ENOMEM;
        }
        rows->single_row = removals->single_row = true;
        rows->on_rows = catchup_rows_on_rows;
        rows->on_done = query_on_done_free;
        removals->on_rows = catchup_removals_on_rows;
        removals->on_done = catchup_removals_on_done;
        s->catching_up = true;
        query_enqueue(s, rows);
        query_enqueue(s, removals);
        return 0;
}

static int on_catchup_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        PgStore *s = userdata;

        (void) sd_event_source_set_time_relative(es, CATCHUP_INTERVAL);
        (void) sd_event_source_set_enabled(es, SD_EVENT_ON);
        if (s->state == PG_READY && s->following && s->caught_up_since > 0 && !s->catching_up)
                (void) catchup_start(s, /* bounded= */ true);
        return 0;
}

/* load() */
static int load_on_rows(PgStore *s, PgQuery *q, const PGresult *res) {
        StoredAdvertisement a;
        int r;

        for (int i = 0; i < PQntuples(res) && !s->closed; i++) {
                if (row_parse(res, i, &a) < 0)
                        continue; /* not ours: never served */
                r = s->load_row(&a, s->load_userdata);
                if (r < 0)
                        return r; /* the rest is read and dropped: a cancel would block */
        }
        return 0;
}

static void load_on_done(PgStore *s, PgQuery *q, int error) {
        query_free(q);
        s->load_sent = false;
        if (error == -ENOTCONN && !s->closed)
                return; /* sent again once connected */
        s->load_active = false;
        if (error == 0 && s->caught_up_since == 0 && s->load_started > CATCHUP_MARGIN)
                s->caught_up_since = s->load_started - CATCHUP_MARGIN;
        if (!s->closed || error == -ECANCELED)
                s->load_done(error, s->load_userdata);
}

static void load_send(PgStore *s) {
        PgQuery *q;

        if (!s->load_active || s->load_sent || s->state != PG_READY)
                return;
        /* Oldest first: the index appends to its expiry order cheaply in that order. */
        q = query_new("SELECT " COLUMNS " FROM advertisements WHERE updated_at >= $1 ORDER BY updated_at", 1);
        if (!q || query_set_u64(q, 0, s->load_fresh_after) < 0) {
                query_free(q);
                return; /* tried again at the next kick */
        }
        q->single_row = true; /* streamed: one row in memory at a time */
        q->on_rows = load_on_rows;
        q->on_done = load_on_done;
        s->load_sent = true;
        s->load_started = now_realtime();
        query_enqueue(s, q);
}

/* Setting up a new connection: migrate, listen, catch up, then ready. */
static void setup_on_done(PgStore *s, PgQuery *q, int error) {
        query_free(q);
        if (s->closed || IN_SET(error, -ENOTCONN, -ECANCELED))
                return;
        if (error == -EPROTONOSUPPORT) {
                /* Written by a newer golem-discoveryd: this one cannot use it, now or later. */
                s->state = PG_FAILED;
                s->failed_error = error;
                PQfinish(TAKE_PTR(s->conn));
                s->io = sd_event_source_disable_unref(s->io);
                s->timer = sd_event_source_disable_unref(s->timer);
                report_health(s, false, s->error_message);
                if (s->load_active) {
                        s->load_active = false;
                        s->load_done(error, s->load_userdata);
                }
                return;
        }
        if (error < 0) {
                /* Say why (no grant to create tables, say), and try again later. */
                snprintf(s->reason, sizeof(s->reason), "Setting up the database failed: %.200s", s->error_message);
                connection_lost(s);
                return;
        }
        setup_next(s);
}

static char *migration_sql(void) {
        _cleanup_fclose_ FILE *f = NULL;
        char *sql = NULL;
        size_t size;

        f = open_memstream(&sql, &size);
        if (!f)
                return NULL;
        fputs("DO $golem$ DECLARE v integer; BEGIN"
              " PERFORM pg_advisory_xact_lock(" LOCK_CLASS ", " LOCK_MIGRATE ");"
              " CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);"
              " SELECT max(version) INTO v FROM schema_version;"
              " IF v IS NULL THEN INSERT INTO schema_version VALUES (0); v := 0; END IF;", f);
        fprintf(f, " IF v > %d THEN RAISE EXCEPTION 'schema version %% is newer than %d, of a newer golem-discoveryd', v"
                   " USING ERRCODE = 'GD001'; END IF;", SCHEMA_VERSION, SCHEMA_VERSION);
        for (int i = 0; i < SCHEMA_VERSION; i++)
                fprintf(f, " IF v < %d THEN %s END IF;", i + 1, migrations[i]);
        fprintf(f, " UPDATE schema_version SET version = %d; END $golem$", SCHEMA_VERSION);
        if (fflush(f) != 0 || ferror(f))
                return mfree(sql);
        f = (fclose(TAKE_PTR(f)), NULL);
        return sql;
}

static void setup_next(PgStore *s) {
        PgQuery *q = NULL;

        switch (s->setup_step++) {
        case 0:
                q = query_new(NULL, 0);
                if (q) {
                        q->sql = q->sql_owned = migration_sql();
                        if (!q->sql)
                                q = mfree(q);
                }
                break;
        case 1:
                if (!s->following)
                        return setup_next(s);
                q = query_new("LISTEN " PG_CHANGE_CHANNEL, 0);
                break;
        case 2:
                if (!s->following || s->caught_up_since == 0)
                        return setup_next(s);
                if (catchup_start(s, /* bounded= */ false) < 0) {
                        connection_lost(s);
                        return;
                }
                return; /* catchup_removals_on_done() goes on */
        default:
                s->state = PG_READY;
                s->backoff = BACKOFF_MIN;
                s->timer = sd_event_source_disable_unref(s->timer);
                report_health(s, true, "connected");
                load_send(s);
                store_kick(s);
                return;
        }
        if (!q) {
                snprintf(s->reason, sizeof(s->reason), "Out of memory");
                connection_lost(s);
                return;
        }
        q->on_done = setup_on_done;
        query_enqueue(s, q);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata);
static void connect_start(PgStore *s);

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        PgStore *s = userdata;

        s->busy++;
        if (s->state == PG_DISCONNECTED)
                connect_start(s);
        else if (s->state == PG_CONNECTING) {
                snprintf(s->reason, sizeof(s->reason), "Connecting timed out");
                connection_lost(s);
        }
        if (--s->busy == 0 && s->closed)
                free(s);
        return 0;
}

static int timer_arm(PgStore *s, usec_t delay) {
        s->timer = sd_event_source_disable_unref(s->timer);
        return sd_event_add_time_relative(s->event, &s->timer, CLOCK_MONOTONIC, delay, 0, on_timer, s);
}

static void fail_writes(PgStore *s, int error) {
        _cleanup_free_ PgWrite *writes = TAKE_PTR(s->writes);
        size_t n = s->n_writes;

        s->n_writes = s->n_writes_allocated = 0;
        for (size_t i = 0; i < n; i++) {
                if (!s->closed && writes[i].done)
                        writes[i].done(error, writes[i].userdata);
                write_done(writes + i);
        }
}

/* Ends every statement sent or queued with error. */
static void abort_queries(PgStore *s, int error) {
        PgQuery *q;

        q = TAKE_PTR(s->current);
        if (q)
                q->on_done(s, q, error);
        while ((q = s->queries)) {
                LIST_REMOVE_TAIL(queries, s->queries, s->queries_tail, q);
                q->on_done(s, q, error);
        }
}

static void connection_lost(PgStore *s) {
        if (s->closed || IN_SET(s->state, PG_DISCONNECTED, PG_FAILED))
                return;
        if (isempty(s->reason))
                set_reason(s, "Connection lost");

        s->io = sd_event_source_disable_unref(s->io);
        PQfinish(TAKE_PTR(s->conn));
        s->state = PG_DISCONNECTED;
        s->want_out = false;
        s->holds_sweep_lock = false; /* the server released it with the session */
        s->catching_up = false;
        s->fetch_queued = false;
        fetch_ids_clear(s);

        report_health(s, false, s->reason);
        s->reason[0] = 0;
        abort_queries(s, -ENOTCONN);
        fail_writes(s, -ENOTCONN);
        if (s->closed)
                return;

        (void) timer_arm(s, s->backoff);
        s->backoff = MIN(s->backoff * 2, BACKOFF_MAX);
}

static void connected(PgStore *s) {
        s->state = PG_SETUP;
        s->setup_step = 0;
        s->reason[0] = 0;
        if (PQsetnonblocking(s->conn, 1) < 0 ||
            sd_event_source_set_io_events(s->io, EPOLLIN) < 0) {
                set_reason(s, "Setting up the connection failed");
                connection_lost(s);
                return;
        }
        setup_next(s);
}

static void connect_watch(PgStore *s, PostgresPollingStatusType st) {
        int r;

        switch (st) {
        case PGRES_POLLING_READING:
        case PGRES_POLLING_WRITING:
                /* libpq may have opened another socket (another address): watch the one it has
                 * now, even if it got the old one's number. */
                s->io = sd_event_source_disable_unref(s->io);
                r = sd_event_add_io(s->event, &s->io, PQsocket(s->conn),
                                    st == PGRES_POLLING_READING ? EPOLLIN : EPOLLOUT, on_io, s);
                if (r < 0)
                        break;
                return;
        case PGRES_POLLING_OK:
                s->io = sd_event_source_disable_unref(s->io);
                r = sd_event_add_io(s->event, &s->io, PQsocket(s->conn), EPOLLIN, on_io, s);
                if (r < 0)
                        break;
                connected(s);
                return;
        default:
                break;
        }
        set_reason(s, "Connecting failed");
        s->state = PG_CONNECTING;
        connection_lost(s);
}

static void notice_ignore(void *arg, const char *message) {
        /* NOTICEs ("relation already exists, skipping"): a library does not log. */
}

static void connect_start(PgStore *s) {
        static const char *const keywords[] = {
                "dbname", "fallback_application_name",
                "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                NULL,
        };
        const char *values[] = {
                s->url, "golem-discoveryd",
                "1", "10", "5", "3", "30000",
                NULL,
        };

        s->reason[0] = 0;
        s->state = PG_CONNECTING;
        s->conn = PQconnectStartParams(keywords, values, /* expand_dbname= */ 1);
        if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD) {
                set_reason(s, "Connecting failed");
                connection_lost(s);
                return;
        }
        (void) PQsetNoticeProcessor(s->conn, notice_ignore, NULL);
        (void) timer_arm(s, CONNECT_TIMEOUT);
        connect_watch(s, PGRES_POLLING_WRITING);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        PgStore *s = userdata;

        s->busy++;
        if (s->state == PG_CONNECTING)
                connect_watch(s, PQconnectPoll(s->conn));
        else if (!PQconsumeInput(s->conn) || ((revents & EPOLLOUT) && flush(s) < 0)) {
                set_reason(s, "Connection lost");
                connection_lost(s);
        } else {
                pump(s);
                if (!s->closed && s->conn)
                        notifies(s);
                if (!s->closed && s->conn && PQstatus(s->conn) == CONNECTION_BAD) {
                        set_reason(s, "Connection lost");
                        connection_lost(s);
                }
                pump(s);
        }
        if (--s->busy == 0 && s->closed)
                free(s);
        return 0;
}

static int on_kick(sd_event_source *es, void *userdata) {
        PgStore *s = userdata;

        s->busy++;
        /* Since follow(): what the follower has not heard yet. */
        if (s->following && !s->health_reported && s->state == PG_READY)
                report_health(s, true, "connected");
        load_send(s);
        pump(s);
        if (--s->busy == 0 && s->closed)
                free(s);
        return 0;
}

static void store_close(DiscoveryStore *base) {
        PgStore *s = (PgStore *) base;

        if (!s)
                return;

        s->state = PG_DISCONNECTED; /* refuses what the callbacks below might queue */
        abort_queries(s, -ECANCELED);
        fail_writes(s, -ECANCELED);
        if (s->load_active) {
                s->load_active = false;
                s->load_done(-ECANCELED, s->load_userdata);
        }
        s->closed = true;

        s->io = sd_event_source_disable_unref(s->io);
        s->timer = sd_event_source_disable_unref(s->timer);
        s->kick = sd_event_source_disable_unref(s->kick);
        s->catchup_timer = sd_event_source_disable_unref(s->catchup_timer);
        PQfinish(TAKE_PTR(s->conn));
        fetch_ids_clear(s);
        free(s->fetch_ids);
        free(s->url);
        sd_event_unref(s->event);
        if (s->busy == 0)
                free(s);
}

static int store_open(sd_event *event, const char *location, DiscoveryStore **ret) {
        PgStore *s;
        int r;

        if (!event || !ret)
                return -EINVAL;
        if (!database_url_valid(location))
                return -EINVAL;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->base.ops = &discovery_store_postgresql_ops;
        s->event = sd_event_ref(event);
        s->backoff = BACKOFF_MIN;
        s->state = PG_DISCONNECTED;
        s->url = strdup(location);
        if (!s->url) {
                r = -ENOMEM;
                goto fail;
        }
        r = sd_event_add_defer(event, &s->kick, on_kick, s);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(s->kick, SD_EVENT_OFF);
        /* Connecting starts on the loop, right away. */
        r = timer_arm(s, 0);
        if (r < 0)
                goto fail;

        *ret = &s->base;
        return 0;

fail:
        store_close(&s->base);
        return r;
}

static int store_load(DiscoveryStore *base, usec_t fresh_after, DiscoveryStoreRow row, DiscoveryStoreDone done,
                      void *userdata) {
        PgStore *s = (PgStore *) base;

        if (!row || !done)
                return -EINVAL;
        if (s->state == PG_FAILED)
                return s->failed_error;
        if (s->load_active)
                return -EBUSY;

        s->load_active = true;
        s->load_sent = false;
        s->load_fresh_after = MIN(fresh_after, (usec_t) INT64_MAX);
        s->load_row = row;
        s->load_done = done;
        s->load_userdata = userdata;
        store_kick(s); /* sent once connected */
        return 0;
}

/* A slot for a write, while the store is reachable (else fail fast: the daemon answers 503). */
static int writes_append(PgStore *s, PgWrite **ret) {
        if (s->state != PG_READY)
                return s->state == PG_FAILED ? s->failed_error : -ENOTCONN;
        if (s->n_writes >= s->n_writes_allocated) {
                size_t n = MAX(s->n_writes_allocated * 2, (size_t) 16);
                PgWrite *a = reallocarray(s->writes, n, sizeof(PgWrite));

                if (!a)
                        return -ENOMEM;
                s->writes = a;
                s->n_writes_allocated = n;
        }
        *ret = s->writes + s->n_writes;
        **ret = (PgWrite) {};
        return 0;
}

static int store_upsert(DiscoveryStore *base, const StoredAdvertisement *a, DiscoveryStoreDone done, void *userdata) {
        PgStore *s = (PgStore *) base;
        PgWrite *w;
        int r;

        if (!a || !provider_id_valid(a->provider_id) || !a->ip_address || !a->country || !a->document ||
            strlen(a->document) != a->document_size || a->cpu < 0 || a->memory < 0 || a->storage < 0 ||
            a->created_at > INT64_MAX || a->updated_at > INT64_MAX)
                return -EINVAL;
        r = writes_append(s, &w);
        if (r < 0)
                return r;
        *w = (PgWrite) {
                .provider_id = strdup(a->provider_id),
                .at = a->updated_at,
                .ip_address = strdup(a->ip_address),
                .country = strdup(a->country),
                .platform = a->platform ? strdup(a->platform) : NULL,
                .document = strndup(a->document, a->document_size),
                .cpu = a->cpu,
                .memory = a->memory,
                .storage = a->storage,
                .verified = a->verified,
                .created_at = a->created_at,
                .done = done,
                .userdata = userdata,
        };
        if (!w->provider_id || !w->ip_address || !w->country || (a->platform && !w->platform) || !w->document) {
                write_done(w);
                return -ENOMEM;
        }
        s->n_writes++;
        store_kick(s);
        return 0;
}

static int store_remove(DiscoveryStore *base, const char *provider_id, usec_t removed_at, DiscoveryStoreDone done,
                        void *userdata) {
        PgStore *s = (PgStore *) base;
        PgWrite *w;
        int r;

        if (!provider_id_valid(provider_id) || removed_at > INT64_MAX)
                return -EINVAL;
        r = writes_append(s, &w);
        if (r < 0)
                return r;
        *w = (PgWrite) {
                .removed = true,
                .provider_id = strdup(provider_id),
                .at = removed_at,
                .done = done,
                .userdata = userdata,
        };
        if (!w->provider_id)
                return -ENOMEM;
        s->n_writes++;
        store_kick(s);
        return 0;
}

static int expire_on_rows(PgStore *s, PgQuery *q, const PGresult *res) {
        uint64_t n;

        if (PQntuples(res) == 1 && PQnfields(res) == 1 && parse_u64(PQgetvalue(res, 0, 0), &n) >= 0)
                *q->ret_n = n;
        return 0;
}

static void expire_on_done(PgStore *s, PgQuery *q, int error) {
        if (!s->closed || error == -ECANCELED)
                q->done(error, q->userdata);
        query_free(q);
}

static int lock_on_rows(PgStore *s, PgQuery *q, const PGresult *res) {
        if (PQntuples(res) == 1 && PQnfields(res) == 1)
                s->holds_sweep_lock = streq(PQgetvalue(res, 0, 0), "t");
        return 0;
}

static PgQuery *expire_query_new(PgStore *s, usec_t fresh_after, uint64_t limit) {
        PgQuery *q = query_new(sql_expire, 2);

        if (!q)
                return NULL;
        if (query_set_u64(q, 0, fresh_after) < 0 || query_set_u64(q, 1, limit) < 0) {
                query_free(q);
                return NULL;
        }
        q->on_rows = expire_on_rows;
        q->on_done = expire_on_done;
        return q;
}

static void lock_on_done(PgStore *s, PgQuery *q, int error) {
        PgQuery *e;

        if (error == 0 && s->holds_sweep_lock) {
                /* Ours now: sweep right away. */
                e = expire_query_new(s, q->fresh_after, q->limit);
                if (e) {
                        e->ret_n = q->ret_n;
                        e->done = q->done;
                        e->userdata = q->userdata;
                        query_enqueue_first(s, e);
                        q->done = NULL;
                } else
                        error = -ENOMEM;
        }
        if (q->done && (!s->closed || error == -ECANCELED))
                q->done(error, q->userdata);
        query_free(q);
}

static int store_expire(DiscoveryStore *base, usec_t fresh_after, uint64_t limit, uint64_t *ret_n,
                        DiscoveryStoreDone done, void *userdata) {
        PgStore *s = (PgStore *) base;
        PgQuery *q;

        if (!ret_n || !done)
                return -EINVAL;
        fresh_after = MIN(fresh_after, (usec_t) INT64_MAX);
        if (s->state != PG_READY)
                return s->state == PG_FAILED ? s->failed_error : -ENOTCONN;

        *ret_n = 0;
        limit = MIN(limit, (uint64_t) INT64_MAX);
        if (s->holds_sweep_lock)
                q = expire_query_new(s, fresh_after, limit);
        else {
                /* Not the sweeper (yet): try to become it. Held by this session until it ends,
                 * so another instance takes over when this one goes. */
                q = query_new("SELECT pg_try_advisory_lock(" LOCK_CLASS ", " LOCK_SWEEP ")", 0);
                if (q) {
                        q->on_rows = lock_on_rows;
                        q->on_done = lock_on_done;
                        q->fresh_after = fresh_after;
                        q->limit = limit;
                }
        }
        if (!q)
                return -ENOMEM;
        q->ret_n = ret_n;
        q->done = done;
        q->userdata = userdata;
        query_enqueue(s, q);
        return 0;
}

static int store_follow(DiscoveryStore *base, const DiscoveryStoreFollower *follower) {
        PgStore *s = (PgStore *) base;
        PgQuery *q;
        int r;

        if (!follower)
                return -EINVAL;
        if (s->following)
                return -EBUSY;

        if (!s->catchup_timer) {
                r = sd_event_add_time_relative(s->event, &s->catchup_timer, CLOCK_MONOTONIC, CATCHUP_INTERVAL, 0,
                                               on_catchup_timer, s);
                if (r < 0)
                        return r;
        }
        if (IN_SET(s->state, PG_SETUP, PG_READY)) {
                /* Set up without listening: listen now (twice is harmless). */
                q = query_new("LISTEN " PG_CHANGE_CHANNEL, 0);
                if (!q)
                        return -ENOMEM;
                q->on_done = query_on_done_free;
                query_enqueue(s, q);
        }
        s->follower = *follower;
        s->following = true;
        if (s->caught_up_since == 0)
                s->caught_up_since = now_realtime() - CATCHUP_MARGIN;
        s->health_reported = false; /* reported from the loop */
        store_kick(s);
        return 0;
}

const DiscoveryStoreOps discovery_store_postgresql_ops = {
        .name = "postgresql",
        .open = store_open,
        .close = store_close,
        .load = store_load,
        .upsert = store_upsert,
        .remove = store_remove,
        .expire = store_expire,
        .follow = store_follow,
};
