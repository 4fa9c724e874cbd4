/* SPDX-License-Identifier: MIT */
#include <sqlite3.h>
#include <sys/stat.h>

#include "discovery-advertisement.h"
#include "discovery-store.h"
#include "json-util.h"
#include "macro.h"
#include "tests.h"

/* The SQLite store through the asynchronous contract (discovery-store.h), on a real sd-event
 * loop: writes group-committed, callbacks only from the loop, rows read back with load(). */

#define SEC(s) ((usec_t) (s) * USEC_PER_SEC)
#define T0 SEC(1700000000) /* 2023-11-14T22:13:20Z */

static const DiscoveryStoreOps *const ops = &discovery_store_sqlite_ops;
static sd_event *event;

static char *db_path(const char *dir) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/discovery.db", dir) >= 0);
        return p;
}

/* The integer sql yields, read by another connection to the database file at p. */
static int sql_int(const char *p, const char *sql) {
        sqlite3_stmt *st = NULL;
        sqlite3 *db = NULL;
        int v;

        ASSERT_EQ_INT(sqlite3_open(p, &db), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

static int user_version(const char *p) {
        return sql_int(p, "PRAGMA user_version");
}

static DiscoveryStore *store_open(const char *dir) {
        _cleanup_free_ char *p = db_path(dir);
        DiscoveryStore *s = NULL;

        if (!event)
                ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(ops->open(event, p, &s));
        ASSERT_NOT_NULL(s);
        ASSERT_TRUE(s->ops == ops);
        return s;
}

/* A write's completion, as a caller sees it. */
typedef struct Done {
        int error;
        unsigned calls;
        unsigned order; /* the how-many-th completion */
} Done;

static unsigned completions;

static void on_done(int error, void *userdata) {
        Done *d = userdata;

        d->error = error;
        d->calls++;
        d->order = ++completions;
}

/* Runs the loop until every one of n writes completed. */
static void run_until_done(Done *d, size_t n) {
        for (unsigned i = 0; i < 1000; i++) {
                size_t pending = 0;

                for (size_t j = 0; j < n; j++)
                        pending += d[j].calls == 0;
                if (pending == 0)
                        break;
                ASSERT_TRUE(sd_event_run(event, USEC_PER_SEC) >= 0);
        }
        for (size_t j = 0; j < n; j++)
                ASSERT_EQ_UINT(d[j].calls, 1);
}

/* An advertisement as the daemon hands it over: filter columns and its document. */
typedef struct Ad {
        char id[64], country[3], platform[16], document[512];
        int64_t cpu, memory, storage;
        bool verified;
        usec_t created_at, updated_at;
} Ad;

static StoredAdvertisement stored(const Ad *a) {
        return (StoredAdvertisement) {
                .provider_id = a->id,
                .ip_address = "192.0.2.7",
                .country = a->country,
                .platform = a->platform[0] ? a->platform : NULL,
                .cpu = a->cpu,
                .memory = a->memory,
                .storage = a->storage,
                .verified = a->verified,
                .created_at = a->created_at,
                .updated_at = a->updated_at,
                .document = a->document,
                .document_size = strlen(a->document),
        };
}

static Ad ad(const char *id, int64_t cpu, const char *country, const char *platform, usec_t created, usec_t updated) {
        Ad a = { .cpu = cpu, .memory = cpu * 2, .storage = cpu * 10, .created_at = created, .updated_at = updated };

        snprintf(a.id, sizeof(a.id), "%s", id);
        snprintf(a.country, sizeof(a.country), "%s", country);
        snprintf(a.platform, sizeof(a.platform), "%s", strempty(platform));
        snprintf(a.document, sizeof(a.document), "{\"provider_id\":\"%s\",\"cpu\":%" PRIi64 ",\"updated\":%" PRIu64 "}",
                 id, cpu, updated);
        return a;
}

/* Upserts and waits for the commit. */
static void put(DiscoveryStore *s, const Ad *a) {
        StoredAdvertisement st = stored(a);
        Done d = {};

        ASSERT_OK(ops->upsert(s, &st, on_done, &d));
        ASSERT_EQ_UINT(d.calls, 0); /* never from inside the call */
        run_until_done(&d, 1);
        ASSERT_OK(d.error);
}

/* What load() streams, each row as "id|ip|country|platform|cpu|memory|storage|verified|created|updated|document" . */
typedef struct Loaded {
        char text[2 << 20];
        size_t n, len;
        int fail_after; /* > 0: the row callback fails with -ECANCELED after that many */
        Done done;
} Loaded;

static int on_row(const StoredAdvertisement *a, void *userdata) {
        Loaded *l = userdata;
        size_t len = l->len;

        ASSERT_EQ_UINT(a->document_size, strlen(a->document));
        l->len += (size_t) snprintf(l->text + len, sizeof(l->text) - len, "%s%s|%s|%s|%s|%" PRIi64 "|%" PRIi64 "|%" PRIi64 "|%d|%" PRIu64 "|%" PRIu64 "|%s",
                 len > 0 ? "\n" : "", a->provider_id, a->ip_address, a->country, a->platform ?: "-", a->cpu,
                 a->memory, a->storage, a->verified, a->created_at, a->updated_at, a->document);
        l->n++;
        if (l->fail_after > 0 && l->n >= (size_t) l->fail_after)
                return -ECANCELED;
        return 0;
}

/* load() hands the same userdata to the row and the done callbacks. */
static void on_loaded(int error, void *userdata) {
        Loaded *l = userdata;

        on_done(error, &l->done);
}

static Loaded *load(DiscoveryStore *s, usec_t fresh_after) {
        static Loaded l;

        l = (Loaded) {};
        ASSERT_OK(ops->load(s, fresh_after, on_row, on_loaded, &l));
        ASSERT_EQ_UINT(l.done.calls, 0);
        run_until_done(&l.done, 1);
        ASSERT_OK(l.done.error);
        return &l;
}

/* The ids load() streams, comma-separated (in updated_at order). */
static const char *load_ids(DiscoveryStore *s, usec_t fresh_after) {
        static char ids[65536];
        Loaded *l = load(s, fresh_after);
        size_t n = 0;

        ids[0] = 0;
        for (const char *line = l->text; *line; ) {
                const char *bar = strchr(line, '|'), *nl = strchr(line, '\n');

                n += (size_t) snprintf(ids + n, sizeof(ids) - n, "%s%.*s", n > 0 ? "," : "", (int) (bar - line), line);
                if (!nl)
                        break;
                line = nl + 1;
        }
        return ids;
}

TEST(roundtrip) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        Ad a = ad("provider-1", 4, "SE", "linux-x86_64", T0, T0 + SEC(5));
        Loaded *l;

        a.verified = true;
        put(s, &a);
        l = load(s, 0);
        ASSERT_EQ_UINT(l->n, 1);
        ASSERT_STREQ(l->text,
                     "provider-1|192.0.2.7|SE|linux-x86_64|4|8|40|1|1700000000000000|1700000005000000|"
                     "{\"provider_id\":\"provider-1\",\"cpu\":4,\"updated\":1700000005000000}");
        ops->close(s);

        /* Byte for byte after close and open; a platform-less one reads back as NULL. */
        s = store_open(dir);
        a = ad("p2", 1, "FI", NULL, T0, T0 + SEC(6));
        put(s, &a);
        l = load(s, 0);
        ASSERT_EQ_UINT(l->n, 2);
        ASSERT_STREQ(strchr(l->text, '\n') + 1,
                     "p2|192.0.2.7|FI|-|1|2|10|0|1700000000000000|1700000006000000|"
                     "{\"provider_id\":\"p2\",\"cpu\":1,\"updated\":1700000006000000}");
        ops->close(s);
        test_rm_rf(dir);
}

TEST(upsert_replaces) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        Ad a = ad("p1", 4, "SE", NULL, T0, T0);
        Loaded *l;

        put(s, &a);
        a = ad("p1", 8, "FI", "linux", T0, T0 + SEC(10));
        put(s, &a);
        l = load(s, 0);
        ASSERT_EQ_UINT(l->n, 1);
        ASSERT_STREQ(l->text,
                     "p1|192.0.2.7|FI|linux|8|16|80|0|1700000000000000|1700000010000000|"
                     "{\"provider_id\":\"p1\",\"cpu\":8,\"updated\":1700000010000000}");
        ops->close(s);
        test_rm_rf(dir);
}

TEST(load_fresh_after_and_order) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        static const char *const ids[] = { "c", "a", "d", "b" };

        /* Written in id order c, a, d, b at T0+1..4: loaded in updated_at order. */
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                Ad a = ad(ids[i], 1, "SE", NULL, T0, T0 + i + 1);
                put(s, &a);
        }
        ASSERT_STREQ(load_ids(s, 0), "c,a,d,b");
        /* The boundary: updated_at == fresh_after is loaded. */
        ASSERT_STREQ(load_ids(s, T0 + 3), "d,b");
        ASSERT_STREQ(load_ids(s, T0 + 5), "");
        ops->close(s);
        test_rm_rf(dir);
}

TEST(load_row_error_stops) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        static Loaded l;

        for (int i = 0; i < 5; i++) {
                char id[8];

                snprintf(id, sizeof(id), "p%d", i);
                Ad a = ad(id, 1, "SE", NULL, T0, T0 + (usec_t) i);
                put(s, &a);
        }
        l = (Loaded) { .fail_after = 2 };
        ASSERT_OK(ops->load(s, 0, on_row, on_loaded, &l));
        run_until_done(&l.done, 1);
        ASSERT_ERROR(l.done.error, ECANCELED);
        ASSERT_EQ_UINT(l.n, 2);
        /* Usable afterwards. */
        ASSERT_STREQ(load_ids(s, 0), "p0,p1,p2,p3,p4");
        ops->close(s);
        test_rm_rf(dir);
}

/* Rows another connection sees in the database file at p. */
static int count_rows(const char *p) {
        return sql_int(p, "SELECT COUNT(*) FROM advertisements");
}

static const char *group_path;
static int group_seen = -1;

static void on_group_first(int error, void *userdata) {
        /* What is committed when the first write of the batch is acknowledged. */
        group_seen = count_rows(group_path);
        on_done(error, userdata);
}

TEST(group_commit) {
        _cleanup_free_ char *dir = test_mkdtemp(), *p = db_path(dir);
        DiscoveryStore *s = store_open(dir);
        Done d[50] = {};
        Done e = {};

        /* 50 writes queued in one loop iteration: none completes inside its call, all
         * complete in the order queued, and all are there after the one commit. */
        for (size_t i = 0; i < ELEMENTSOF(d); i++) {
                char id[8];

                snprintf(id, sizeof(id), "g%02zu", i);
                Ad a = ad(id, 1, "SE", NULL, T0, T0 + i);
                StoredAdvertisement st = stored(&a);
                ASSERT_OK(ops->upsert(s, &st, i == 0 ? on_group_first : on_done, &d[i]));
        }
        ASSERT_OK(ops->remove(s, "g03", T0 + 100, on_done, &e));
        group_path = p;
        for (size_t i = 0; i < ELEMENTSOF(d); i++)
                ASSERT_EQ_UINT(d[i].calls, 0);
        completions = 0;
        run_until_done(d, ELEMENTSOF(d));
        run_until_done(&e, 1);
        for (size_t i = 0; i < ELEMENTSOF(d); i++) {
                ASSERT_OK(d[i].error);
                ASSERT_EQ_UINT(d[i].order, i + 1);
        }
        ASSERT_EQ_UINT(e.order, ELEMENTSOF(d) + 1);

        /* When the first was acknowledged, the whole batch (the remove included) was
         * committed already: one transaction, acknowledged after it. */
        ASSERT_EQ_INT(group_seen, ELEMENTSOF(d) - 1);
        ASSERT_EQ_INT(count_rows(p), ELEMENTSOF(d) - 1);

        ops->close(s);
        test_rm_rf(dir);
}

typedef struct Chain {
        DiscoveryStore *s;
        Done first, second;
} Chain;

static void on_first(int error, void *userdata) {
        Chain *c = userdata;
        Ad a = ad("second", 1, "SE", NULL, T0, T0 + 1);
        StoredAdvertisement st = stored(&a);

        on_done(error, &c->first);
        ASSERT_OK(ops->upsert(c->s, &st, on_done, &c->second));
        ASSERT_EQ_UINT(c->second.calls, 0);
}

TEST(write_from_callback) {
        _cleanup_free_ char *dir = test_mkdtemp();
        static Chain c;
        Ad a = ad("first", 1, "SE", NULL, T0, T0);
        StoredAdvertisement st = stored(&a);

        c = (Chain) { .s = store_open(dir) };
        ASSERT_OK(ops->upsert(c.s, &st, on_first, &c));
        run_until_done(&c.first, 1);
        run_until_done(&c.second, 1);
        ASSERT_OK(c.second.error);
        ASSERT_STREQ(load_ids(c.s, 0), "first,second");
        ops->close(c.s);
        test_rm_rf(dir);
}

TEST(remove) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        Done d = {};
        Ad a;

        /* Absent is not an error. */
        ASSERT_OK(ops->remove(s, "nobody", T0, on_done, &d));
        run_until_done(&d, 1);
        ASSERT_OK(d.error);

        a = ad("p1", 1, "SE", NULL, T0, T0);
        put(s, &a);
        a = ad("p2", 1, "SE", NULL, T0, T0 + 1);
        put(s, &a);
        d = (Done) {};
        ASSERT_OK(ops->remove(s, "p1", T0 + 2, on_done, &d));
        run_until_done(&d, 1);
        ASSERT_OK(d.error);
        ASSERT_STREQ(load_ids(s, 0), "p2");
        ops->close(s);

        /* Still gone after reopening. */
        s = store_open(dir);
        ASSERT_STREQ(load_ids(s, 0), "p2");
        ops->close(s);
        test_rm_rf(dir);
}

TEST(expire_in_chunks) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        uint64_t n = 4242, total = 0;
        unsigned calls = 0;

        for (int i = 0; i < 25; i++) {
                char id[8];

                snprintf(id, sizeof(id), "e%02d", i);
                Ad a = ad(id, 1, "SE", NULL, T0, T0 + (usec_t) i);
                put(s, &a);
        }

        /* 20 are older than T0+20: at most 7 per call. */
        do {
                Done d = {};

                ASSERT_OK(ops->expire(s, T0 + 20, 7, &n, on_done, &d));
                run_until_done(&d, 1);
                ASSERT_OK(d.error);
                ASSERT_LE_UINT(n, 7);
                total += n;
                calls++;
        } while (n == 7);
        ASSERT_EQ_UINT(total, 20);
        ASSERT_EQ_UINT(calls, 3);
        /* The boundary: updated_at == fresh_after stays. */
        ASSERT_STREQ(load_ids(s, 0), "e20,e21,e22,e23,e24");
        ops->close(s);
        test_rm_rf(dir);
}

TEST(batch_fails_together) {
        _cleanup_free_ char *dir = test_mkdtemp(), *p = db_path(dir);
        DiscoveryStore *s = store_open(dir);
        sqlite3 *other = NULL;
        Done d[3] = {};
        Ad a;

        a = ad("kept", 1, "SE", NULL, T0, T0);
        put(s, &a);

        /* Another writer holds the database (past the 5 s busy timeout): the whole batch
         * fails with -EIO, and nothing of it is written. */
        ASSERT_EQ_INT(sqlite3_open(p, &other), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        for (size_t i = 0; i < ELEMENTSOF(d); i++) {
                char id[8];

                snprintf(id, sizeof(id), "x%zu", i);
                a = ad(id, 1, "SE", NULL, T0, T0 + 1);
                StoredAdvertisement st = stored(&a);
                ASSERT_OK(ops->upsert(s, &st, on_done, &d[i]));
        }
        run_until_done(d, ELEMENTSOF(d));
        for (size_t i = 0; i < ELEMENTSOF(d); i++)
                ASSERT_ERROR(d[i].error, EIO);
        ASSERT_EQ_INT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);

        /* The store goes on. */
        a = ad("after", 1, "SE", NULL, T0, T0 + 2);
        put(s, &a);
        ASSERT_STREQ(load_ids(s, 0), "kept,after");
        ops->close(s);
        test_rm_rf(dir);
}

TEST(close_completes_queued_writes) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        Done d = {};
        Ad a = ad("late", 1, "SE", NULL, T0, T0);
        StoredAdvertisement st = stored(&a);

        /* Queued, then the daemon stops before the loop runs again: written at close. */
        ASSERT_OK(ops->upsert(s, &st, on_done, &d));
        ops->close(s);
        ASSERT_EQ_UINT(d.calls, 1);
        ASSERT_OK(d.error);
        s = store_open(dir);
        ASSERT_STREQ(load_ids(s, 0), "late");
        ops->close(s);
        test_rm_rf(dir);
}

TEST(newer_schema_refused) {
        _cleanup_free_ char *dir = test_mkdtemp(), *p = db_path(dir);
        DiscoveryStore *s = NULL;
        sqlite3 *db = NULL;

        /* A database written by a newer version of the daemon is not touched. */
        ASSERT_EQ_INT(sqlite3_open(p, &db), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_exec(db, "CREATE TABLE future (x); PRAGMA user_version = 99;", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        if (!event)
                ASSERT_OK(sd_event_new(&event));
        ASSERT_ERROR(ops->open(event, p, &s), EPROTONOSUPPORT);
        ASSERT_NULL(s);

        /* ...and left as it was. */
        ASSERT_EQ_INT(user_version(p), 99);

        test_rm_rf(dir);
}

TEST(migration_from_1) {
        /* A database of schema 1 (before "verified" and "api_port"): what it holds is kept,
         * unverified, and served with both fields. */
        static const char v1[] =
                "CREATE TABLE advertisements ("
                "  provider_id TEXT PRIMARY KEY NOT NULL, ip_address TEXT NOT NULL, country TEXT NOT NULL,"
                "  platform TEXT, cpu INTEGER NOT NULL, memory INTEGER NOT NULL, storage INTEGER NOT NULL,"
                "  document TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL"
                ") WITHOUT ROWID;"
                "CREATE INDEX advertisements_rank ON advertisements (cpu DESC, memory DESC, storage DESC, provider_id);"
                "CREATE INDEX advertisements_updated ON advertisements (updated_at);"
                "INSERT INTO advertisements VALUES ('old', '192.0.2.1', 'SE', NULL, 2, 4, 20,"
                "  '{\"provider_id\":\"old\",\"ip_address\":\"192.0.2.1\",\"country\":\"SE\",\"platform\":null,"
                "\"resources\":{\"cpu\":2,\"memory\":4,\"storage\":20},\"pricing\":null,"
                "\"created_at\":\"2023-11-14T22:13:20Z\",\"updated_at\":\"2023-11-14T22:13:20Z\"}',"
                "  1700000000000000, 1700000000000000);"
                "PRAGMA user_version = 1;";
        _cleanup_free_ char *dir = test_mkdtemp(), *p = db_path(dir);
        DiscoveryStore *s = NULL;
        sqlite3 *db = NULL;
        Ad a;

        ASSERT_EQ_INT(sqlite3_open(p, &db), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        s = store_open(dir);
        ASSERT_STREQ(load(s, 0)->text,
                     "old|192.0.2.1|SE|-|2|4|20|0|1700000000000000|1700000000000000|"
                     "{\"provider_id\":\"old\",\"ip_address\":\"192.0.2.1\",\"country\":\"SE\",\"platform\":null,"
                     "\"resources\":{\"cpu\":2,\"memory\":4,\"storage\":20},\"pricing\":null,"
                     "\"created_at\":\"2023-11-14T22:13:20Z\",\"updated_at\":\"2023-11-14T22:13:20Z\","
                     "\"api_port\":null,\"verified\":false}");
        a = ad("new", 1, "SE", NULL, T0, T0 + 1);
        a.verified = true;
        put(s, &a);
        ops->close(s);

        /* Opened again: schema 2 already, nothing to do. */
        s = store_open(dir);
        ASSERT_STREQ(load_ids(s, 0), "old,new");
        ops->close(s);

        ASSERT_EQ_INT(user_version(p), 2);

        test_rm_rf(dir);
}

TEST(open_errors) {
        _cleanup_free_ char *dir = test_mkdtemp(), *p = NULL, *missing = NULL;
        DiscoveryStore *s = NULL;

        /* Not a database. */
        static const char garbage[] = "This is not an SQLite database, not at all.\n";

        p = test_write_file(dir, "discovery.db", garbage, strlen(garbage));
        if (!event)
                ASSERT_OK(sd_event_new(&event));
        ASSERT_ERROR(ops->open(event, p, &s), EBADMSG);
        ASSERT_NULL(s);

        /* A directory that does not exist. */
        ASSERT_TRUE(asprintf(&missing, "%s/missing/discovery.db", dir) >= 0);
        ASSERT_ERROR(ops->open(event, missing, &s), ENOENT);
        ASSERT_NULL(s);

        test_rm_rf(dir);
}

TEST(many_loaded_in_steps) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        Done d[500] = {};
        Loaded *l;

        /* More rows than one loop iteration reads: all of them, each once, in order. */
        for (int i = 0; i < 10000; i += 500) {
                for (int j = 0; j < 500; j++) {
                        char id[16];

                        snprintf(id, sizeof(id), "p%05d", i + j);
                        Ad a = ad(id, 1, "SE", NULL, T0, T0 + (usec_t) (i + j));
                        StoredAdvertisement st = stored(&a);
                        d[j] = (Done) {};
                        ASSERT_OK(ops->upsert(s, &st, on_done, &d[j]));
                }
                run_until_done(d, ELEMENTSOF(d));
        }
        l = load(s, T0 + 100);
        ASSERT_EQ_UINT(l->n, 9900);
        ASSERT_TRUE(startswith(l->text, "p00100|"));
        ASSERT_NOT_NULL(strstr(l->text, "\np09999|"));
        ops->close(s);
        test_rm_rf(dir);
}
