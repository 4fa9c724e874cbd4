/* SPDX-License-Identifier: MIT */
#include <sqlite3.h>
#include <sys/stat.h>

#include "discovery-store.h"
#include "json-util.h"
#include "macro.h"
#include "tests.h"

/* The injected clock. */
#define SEC(s) ((usec_t) (s) * USEC_PER_SEC)
#define T0 SEC(1700000000) /* 2023-11-14T22:13:20Z */
#define TTL SEC(300)
#define FRESH(now) ((now) - TTL)

static const DiscoveryStoreOps *const ops = &discovery_store_sqlite_ops;

static char *db_path(const char *dir) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/discovery.db", dir) >= 0);
        return p;
}

/* PRAGMA user_version of the database file at p. */
static int user_version(const char *p) {
        sqlite3_stmt *st = NULL;
        sqlite3 *db = NULL;
        int v;

        ASSERT_EQ_INT(sqlite3_open(p, &db), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

static DiscoveryStore *store_open(const char *dir) {
        _cleanup_free_ char *p = db_path(dir);
        DiscoveryStore *s = NULL;

        ASSERT_OK(ops->open(p, &s));
        ASSERT_NOT_NULL(s);
        ASSERT_TRUE(s->ops == ops);
        return s;
}

/* Builds an advertisement the way POST does: JSON body, validation. */
static void make_ad(Advertisement *a, const char *id, int cpu, int memory, int storage,
                    const char *country, const char *platform) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *body = NULL;
        char error[FIELD_ERROR_MAX] = "";
        char platform_json[64] = "null";

        if (platform)
                snprintf(platform_json, sizeof(platform_json), "\"%s\"", platform);
        ASSERT_TRUE(asprintf(&text,
                             "{\"ip_address\":\"192.0.2.%d\",\"country\":\"%s\",\"platform\":%s,"
                             "\"resources\":{\"cpu\":%d,\"memory\":%d,\"storage\":%d}}",
                             cpu % 250 + 1, country, platform_json, cpu, memory, storage) >= 0);
        ASSERT_OK(json_parse(text, strlen(text), &body));
        ASSERT_OK(advertisement_from_body(body, id, a, error));
}

/* Stores an advertisement at now, verified or not; returns the stored document. */
static char *put_full(DiscoveryStore *s, const char *id, int cpu, int memory, int storage,
                      const char *country, const char *platform, bool verified, usec_t now) {
        Advertisement a = {};
        char *document = NULL;

        make_ad(&a, id, cpu, memory, storage, country, platform);
        a.verified = verified;
        TEST_CONTEXT("upsert %s", id);
        ASSERT_OK(ops->upsert(s, &a, now, FRESH(now), &document));
        ASSERT_NOT_NULL(document);
        ASSERT_EQ_UINT(a.updated_at, now);
        advertisement_done(&a);
        return document;
}

static char *put(DiscoveryStore *s, const char *id, int cpu, int memory, int storage,
                 const char *country, const char *platform, usec_t now) {
        return put_full(s, id, cpu, memory, storage, country, platform, false, now);
}

static void put_(DiscoveryStore *s, const char *id, int cpu, int memory, int storage,
                 const char *country, const char *platform, usec_t now) {
        free(put(s, id, cpu, memory, storage, country, platform, now));
}

/* A field of a stored document, as its JSON text. */
static char *document_field(const char *document, const char *field) {
        _cleanup_json_ json_object *o = NULL;
        json_object *v;
        char *s;

        ASSERT_OK(json_parse(document, strlen(document), &o));
        ASSERT_TRUE(json_object_object_get_ex(o, field, &v));
        s = strdup(json_to_string(v, false));
        ASSERT_NOT_NULL(s);
        return s;
}

typedef struct Collect {
        char ids[4096];
        unsigned n;
        unsigned stop_after; /* 0: never */
} Collect;

static int collect(const char *document, size_t size, void *userdata) {
        Collect *c = userdata;
        _cleanup_json_ json_object *o = NULL;
        json_object *id;

        ASSERT_EQ_UINT(size, strlen(document));
        ASSERT_OK(json_parse(document, size, &o));
        ASSERT_TRUE(json_object_object_get_ex(o, "provider_id", &id));
        if (c->n > 0)
                strcat(c->ids, ",");
        strcat(c->ids, json_object_get_string(id));
        c->n++;
        if (c->stop_after && c->n >= c->stop_after)
                return -ECANCELED;
        return 0;
}

/* The provider ids a query returns, comma-separated, in order. */
static const char *query_ids(DiscoveryStore *s, const AdvertisementQuery *q, usec_t fresh_after) {
        static Collect c;

        c = (Collect) {};
        ASSERT_OK(ops->query(s, q, fresh_after, collect, &c));
        return c.ids;
}

/* A query; without .limit, the default one. */
#define Q(...) query_defaults(&(AdvertisementQuery) { __VA_ARGS__ })

static const AdvertisementQuery *query_defaults(AdvertisementQuery *q) {
        if (q->limit == 0)
                q->limit = QUERY_LIMIT_DEFAULT;
        return q;
}

TEST(roundtrip) {
        _cleanup_free_ char *dir = test_mkdtemp(), *document = NULL, *got = NULL;
        DiscoveryStore *s = store_open(dir);
        Advertisement a = {};

        make_ad(&a, "provider-1", 4, 8192, 100000, "SE", "linux-x86_64");
        ASSERT_OK(ops->upsert(s, &a, T0, FRESH(T0), &document));
        ASSERT_EQ_UINT(a.created_at, T0);
        ASSERT_EQ_UINT(a.updated_at, T0);
        ASSERT_STREQ(document,
                     "{\"provider_id\":\"provider-1\",\"ip_address\":\"192.0.2.5\",\"country\":\"SE\","
                     "\"platform\":\"linux-x86_64\",\"resources\":{\"cpu\":4,\"memory\":8192,\"storage\":100000},"
                     "\"pricing\":null,\"created_at\":\"2023-11-14T22:13:20Z\",\"updated_at\":\"2023-11-14T22:13:20Z\","
                     "\"api_port\":null,\"verified\":false}");
        advertisement_done(&a);

        ASSERT_OK(ops->get(s, "provider-1", FRESH(T0), &got));
        ASSERT_STREQ(got, document);
        free(got);
        got = NULL;

        ASSERT_ERROR(ops->get(s, "provider-2", FRESH(T0), &got), ENOENT);
        ASSERT_ERROR(ops->get(s, "", FRESH(T0), &got), ENOENT);
        ASSERT_ERROR(ops->get(s, "PROVIDER-1", FRESH(T0), &got), ENOENT); /* ids are exact */
        ASSERT_NULL(got);

        ops->close(s);
        test_rm_rf(dir);
}

TEST(update_keeps_created_at) {
        _cleanup_free_ char *dir = test_mkdtemp(), *d1 = NULL, *d2 = NULL, *got = NULL;
        _cleanup_free_ char *created = NULL, *updated = NULL, *resources = NULL;
        DiscoveryStore *s = store_open(dir);
        Advertisement a = {};

        d1 = put(s, "p1", 4, 1024, 10, "SE", NULL, T0);

        /* 10 s later, with new resources. */
        make_ad(&a, "p1", 8, 2048, 20, "FI", "linux");
        ASSERT_OK(ops->upsert(s, &a, T0 + SEC(10), FRESH(T0 + SEC(10)), &d2));
        ASSERT_EQ_UINT(a.created_at, T0);
        ASSERT_EQ_UINT(a.updated_at, T0 + SEC(10));
        advertisement_done(&a);

        ASSERT_OK(ops->get(s, "p1", FRESH(T0 + SEC(10)), &got));
        ASSERT_STREQ(got, d2);
        created = document_field(got, "created_at");
        updated = document_field(got, "updated_at");
        resources = document_field(got, "resources");
        ASSERT_STREQ(created, "\"2023-11-14T22:13:20Z\"");
        ASSERT_STREQ(updated, "\"2023-11-14T22:13:30Z\"");
        ASSERT_STREQ(resources, "{\"cpu\":8,\"memory\":2048,\"storage\":20}");
        /* One advertisement, not two. */
        ASSERT_STREQ(query_ids(s, Q(), 0), "p1");
        /* The filters use the new values. */
        ASSERT_STREQ(query_ids(s, Q(.cpu = 8, .country = "FI", .platform = "linux"), 0), "p1");
        ASSERT_STREQ(query_ids(s, Q(.country = "SE"), 0), "");

        ops->close(s);
        test_rm_rf(dir);
}

TEST(update_after_expiry) {
        _cleanup_free_ char *dir = test_mkdtemp(), *d = NULL, *created = NULL;
        DiscoveryStore *s = store_open(dir);
        Advertisement a = {};

        put_(s, "p1", 4, 1024, 10, "SE", NULL, T0);

        /* Exactly TTL later it is still fresh: created_at is kept. */
        make_ad(&a, "p1", 4, 1024, 10, "SE", NULL);
        ASSERT_OK(ops->upsert(s, &a, T0 + TTL, FRESH(T0 + TTL), &d));
        ASSERT_EQ_UINT(a.created_at, T0);
        advertisement_done(&a);
        free(d);
        d = NULL;

        /* More than TTL after the last update it had expired: it counts as new. */
        make_ad(&a, "p1", 4, 1024, 10, "SE", NULL);
        ASSERT_OK(ops->upsert(s, &a, T0 + 2 * TTL + 1, FRESH(T0 + 2 * TTL + 1), &d));
        ASSERT_EQ_UINT(a.created_at, T0 + 2 * TTL + 1);
        ASSERT_EQ_UINT(a.updated_at, T0 + 2 * TTL + 1);
        advertisement_done(&a);
        created = document_field(d, "created_at");
        ASSERT_STREQ(created, "\"2023-11-14T22:23:20Z\"");

        ops->close(s);
        test_rm_rf(dir);
}

TEST(freshness_boundary) {
        _cleanup_free_ char *dir = test_mkdtemp(), *got = NULL;
        DiscoveryStore *s = store_open(dir);

        put_(s, "p1", 4, 1024, 10, "SE", NULL, T0);

        /* Fresh while updated_at >= fresh_after. */
        ASSERT_OK(ops->get(s, "p1", T0, &got));
        free(got);
        got = NULL;
        ASSERT_STREQ(query_ids(s, Q(), T0), "p1");
        ASSERT_ERROR(ops->get(s, "p1", T0 + 1, &got), ENOENT);
        ASSERT_STREQ(query_ids(s, Q(), T0 + 1), "");
        ASSERT_NULL(got);

        ops->close(s);
        test_rm_rf(dir);
}

static void put_six(DiscoveryStore *s, usec_t now) {
        put_(s, "a", 8, 16, 100, "SE", "linux", now);
        put_(s, "b", 8, 16, 200, "SE", NULL, now);
        put_(s, "c", 8, 32, 50, "US", "linux", now);
        put_(s, "d", 4, 64, 500, "SE", "windows", now);
        put_(s, "e", 8, 16, 100, "FI", "linux", now);
        put_(s, "f", 16, 1, 1, "DE", "linux", now);
}

TEST(query_order_and_filters) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        usec_t f = FRESH(T0);

        put_six(s, T0);

        /* cpu desc, memory desc, storage desc, then provider_id. */
        ASSERT_STREQ(query_ids(s, Q(), f), "f,c,b,a,e,d");

        /* Minimums are inclusive. */
        ASSERT_STREQ(query_ids(s, Q(.cpu = 8), f), "f,c,b,a,e");
        ASSERT_STREQ(query_ids(s, Q(.cpu = 9), f), "f");
        ASSERT_STREQ(query_ids(s, Q(.cpu = 17), f), "");
        ASSERT_STREQ(query_ids(s, Q(.memory = 32), f), "c,d");
        ASSERT_STREQ(query_ids(s, Q(.storage = 200), f), "b,d");
        ASSERT_STREQ(query_ids(s, Q(.cpu = 8, .memory = 16, .storage = 100), f), "b,a,e");
        ASSERT_STREQ(query_ids(s, Q(.cpu = INT64_MAX), f), "");

        /* Exact country and platform; an advertisement without platform never matches one. */
        ASSERT_STREQ(query_ids(s, Q(.country = "SE"), f), "b,a,d");
        ASSERT_STREQ(query_ids(s, Q(.country = "FI"), f), "e");
        ASSERT_STREQ(query_ids(s, Q(.country = "GB"), f), "");
        ASSERT_STREQ(query_ids(s, Q(.platform = "linux"), f), "f,c,a,e");
        ASSERT_STREQ(query_ids(s, Q(.platform = "windows"), f), "d");
        ASSERT_STREQ(query_ids(s, Q(.platform = "Linux"), f), "");
        ASSERT_STREQ(query_ids(s, Q(.country = "SE", .platform = "linux"), f), "a");
        ASSERT_STREQ(query_ids(s, Q(.country = "SE", .cpu = 8), f), "b,a");

        ops->close(s);
        test_rm_rf(dir);
}

TEST(verified_first_and_filter) {
        _cleanup_free_ char *dir = test_mkdtemp(), *document = NULL;
        DiscoveryStore *s = store_open(dir);
        usec_t f = FRESH(T0);
        uint64_t verified, unverified;

        put_six(s, T0);
        document = put_full(s, "d", 4, 64, 500, "SE", "windows", true, T0);
        ASSERT_TRUE(strstr(document, "\"verified\":true"));
        free(put_full(s, "e", 8, 16, 100, "FI", "linux", true, T0));

        /* Verified ones first, each group in the usual order. */
        ASSERT_STREQ(query_ids(s, Q(), f), "e,d,f,c,b,a");
        ASSERT_STREQ(query_ids(s, Q(.limit = 1, .offset = 2), f), "f");
        ASSERT_STREQ(query_ids(s, Q(.verified_only = true), f), "e,d");
        ASSERT_STREQ(query_ids(s, Q(.verified_only = true, .country = "SE"), f), "d");
        ASSERT_STREQ(query_ids(s, Q(.verified_only = true, .cpu = 16), f), "");
        ASSERT_STREQ(query_ids(s, Q(.cpu = 8), f), "e,f,c,b,a");

        ASSERT_OK(ops->count_verified(s, f, &verified, &unverified));
        ASSERT_EQ_UINT(verified, 2);
        ASSERT_EQ_UINT(unverified, 4);

        /* The flag is each POST's: an unverified one takes it away. */
        put_(s, "e", 8, 16, 100, "FI", "linux", T0 + SEC(1));
        ASSERT_STREQ(query_ids(s, Q(), f), "d,f,c,b,a,e");
        ASSERT_STREQ(query_ids(s, Q(.verified_only = true), f), "d");
        ASSERT_OK(ops->count_verified(s, f, &verified, &unverified));
        ASSERT_EQ_UINT(verified, 1);
        ASSERT_EQ_UINT(unverified, 5);
        /* Only the live ones count. */
        ASSERT_OK(ops->count_verified(s, T0 + SEC(1), &verified, &unverified));
        ASSERT_EQ_UINT(verified, 0);
        ASSERT_EQ_UINT(unverified, 1);

        ops->close(s);
        test_rm_rf(dir);
}

TEST(query_limit_offset) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        usec_t f = FRESH(T0);

        put_six(s, T0);

        ASSERT_STREQ(query_ids(s, Q(.limit = 1), f), "f");
        ASSERT_STREQ(query_ids(s, Q(.limit = 2), f), "f,c");
        ASSERT_STREQ(query_ids(s, Q(.limit = 2, .offset = 2), f), "b,a");
        ASSERT_STREQ(query_ids(s, Q(.limit = 1, .offset = 4), f), "e");
        ASSERT_STREQ(query_ids(s, Q(.offset = 5), f), "d");
        ASSERT_STREQ(query_ids(s, Q(.offset = 6), f), "");
        ASSERT_STREQ(query_ids(s, Q(.offset = INT64_MAX), f), "");
        ASSERT_STREQ(query_ids(s, Q(.offset = UINT64_MAX), f), "");
        ASSERT_STREQ(query_ids(s, Q(.limit = QUERY_LIMIT_MAX), f), "f,c,b,a,e,d");
        /* Filters apply before the window. */
        ASSERT_STREQ(query_ids(s, Q(.country = "SE", .limit = 1, .offset = 1), f), "a");

        ops->close(s);
        test_rm_rf(dir);
}

TEST(query_callback_error) {
        _cleanup_free_ char *dir = test_mkdtemp(), *got = NULL;
        DiscoveryStore *s = store_open(dir);
        Collect c = { .stop_after = 2 };

        put_six(s, T0);

        /* A negative return stops the query with that error. */
        ASSERT_ERROR(ops->query(s, Q(), FRESH(T0), collect, &c), ECANCELED);
        ASSERT_EQ_INT(c.n, 2);
        ASSERT_STREQ(c.ids, "f,c");

        /* The store is usable afterwards. */
        ASSERT_STREQ(query_ids(s, Q(), FRESH(T0)), "f,c,b,a,e,d");
        ASSERT_OK(ops->get(s, "a", FRESH(T0), &got));
        put_(s, "g", 1, 1, 1, "SE", NULL, T0);
        ASSERT_OK(ops->remove(s, "g", FRESH(T0)));

        ops->close(s);
        test_rm_rf(dir);
}

TEST(expiry) {
        _cleanup_free_ char *dir = test_mkdtemp(), *got = NULL;
        DiscoveryStore *s = store_open(dir);
        usec_t now = T0 + TTL + SEC(1);
        uint64_t n = 4242;

        put_(s, "old1", 4, 4, 4, "SE", NULL, T0);
        put_(s, "old2", 8, 8, 8, "SE", NULL, T0);
        put_(s, "old3", 2, 2, 2, "SE", NULL, T0 + SEC(1) - 1);
        put_(s, "new", 1, 1, 1, "SE", NULL, T0 + SEC(200));

        /* Expired: invisible to get, query and remove. */
        ASSERT_ERROR(ops->get(s, "old1", FRESH(now), &got), ENOENT);
        ASSERT_ERROR(ops->get(s, "old3", FRESH(now), &got), ENOENT);
        ASSERT_NULL(got);
        ASSERT_OK(ops->get(s, "new", FRESH(now), &got));
        ASSERT_STREQ(query_ids(s, Q(), FRESH(now)), "new");
        ASSERT_STREQ(query_ids(s, Q(.cpu = 2), FRESH(now)), "");
        ASSERT_ERROR(ops->remove(s, "old1", FRESH(now)), ENOENT);

        /* Still in the database until expire() (old1 went with the remove above). */
        ASSERT_STREQ(query_ids(s, Q(), 0), "old2,old3,new");

        /* expire() deletes what was not refreshed since fresh_after and counts it. */
        ASSERT_OK(ops->expire(s, FRESH(now), &n));
        ASSERT_EQ_UINT(n, 2);
        ASSERT_STREQ(query_ids(s, Q(), 0), "new");
        ASSERT_OK(ops->expire(s, FRESH(now), &n));
        ASSERT_EQ_UINT(n, 0);
        ASSERT_OK(ops->expire(s, FRESH(now), NULL));

        /* The boundary: updated_at == fresh_after stays. */
        ASSERT_OK(ops->expire(s, T0 + SEC(200), &n));
        ASSERT_EQ_UINT(n, 0);
        ASSERT_OK(ops->expire(s, T0 + SEC(200) + 1, &n));
        ASSERT_EQ_UINT(n, 1);
        ASSERT_STREQ(query_ids(s, Q(), 0), "");

        /* An expired provider may come back, as new. */
        put_(s, "old2", 8, 8, 8, "SE", NULL, now);
        ASSERT_STREQ(query_ids(s, Q(), FRESH(now)), "old2");

        ops->close(s);
        test_rm_rf(dir);
}

TEST(remove) {
        _cleanup_free_ char *dir = test_mkdtemp(), *got = NULL;
        DiscoveryStore *s = store_open(dir);

        ASSERT_ERROR(ops->remove(s, "nobody", FRESH(T0)), ENOENT);

        put_(s, "p1", 4, 4, 4, "SE", NULL, T0);
        put_(s, "p2", 4, 4, 4, "SE", NULL, T0);
        ASSERT_OK(ops->remove(s, "p1", FRESH(T0)));
        ASSERT_ERROR(ops->get(s, "p1", FRESH(T0), &got), ENOENT);
        ASSERT_ERROR(ops->remove(s, "p1", FRESH(T0)), ENOENT);
        ASSERT_STREQ(query_ids(s, Q(), 0), "p2");

        /* Removed and stored again: new. */
        {
                Advertisement a = {};
                char *d = NULL;

                make_ad(&a, "p1", 4, 4, 4, "SE", NULL);
                ASSERT_OK(ops->upsert(s, &a, T0 + SEC(5), FRESH(T0 + SEC(5)), &d));
                ASSERT_EQ_UINT(a.created_at, T0 + SEC(5));
                advertisement_done(&a);
                free(d);
        }

        ops->close(s);
        test_rm_rf(dir);
}

TEST(reopen) {
        _cleanup_free_ char *dir = test_mkdtemp();
        char *documents[6] = {};
        static const char *const ids[] = { "a", "b", "c", "d", "e", "f" };
        DiscoveryStore *s = store_open(dir);

        put_six(s, T0);
        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                ASSERT_OK(ops->get(s, ids[i], FRESH(T0), &documents[i]));
        ops->close(s);

        /* Everything is still there, byte for byte, after close and open. */
        s = store_open(dir);
        ASSERT_STREQ(query_ids(s, Q(), FRESH(T0)), "f,c,b,a,e,d");
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                _cleanup_free_ char *got = NULL;

                TEST_CONTEXT("provider %s", ids[i]);
                ASSERT_OK(ops->get(s, ids[i], FRESH(T0), &got));
                ASSERT_STREQ(got, documents[i]);
                free(documents[i]);
        }
        /* created_at survives too. */
        {
                Advertisement a = {};
                char *d = NULL;

                make_ad(&a, "a", 1, 1, 1, "SE", NULL);
                ASSERT_OK(ops->upsert(s, &a, T0 + SEC(60), FRESH(T0 + SEC(60)), &d));
                ASSERT_EQ_UINT(a.created_at, T0);
                advertisement_done(&a);
                free(d);
        }
        ops->close(s);

        /* A third time, through the write-ahead log being checkpointed on close. */
        s = store_open(dir);
        ASSERT_STREQ(query_ids(s, Q(), FRESH(T0)), "f,c,b,e,d,a");
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

        ASSERT_ERROR(ops->open(p, &s), EPROTONOSUPPORT);
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
        _cleanup_free_ char *dir = test_mkdtemp(), *p = db_path(dir), *got = NULL;
        DiscoveryStore *s = NULL;
        sqlite3 *db = NULL;

        ASSERT_EQ_INT(sqlite3_open(p, &db), SQLITE_OK);
        ASSERT_EQ_INT(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        s = store_open(dir);
        ASSERT_OK(ops->get(s, "old", FRESH(T0), &got));
        ASSERT_STREQ(got,
                     "{\"provider_id\":\"old\",\"ip_address\":\"192.0.2.1\",\"country\":\"SE\",\"platform\":null,"
                     "\"resources\":{\"cpu\":2,\"memory\":4,\"storage\":20},\"pricing\":null,"
                     "\"created_at\":\"2023-11-14T22:13:20Z\",\"updated_at\":\"2023-11-14T22:13:20Z\","
                     "\"api_port\":null,\"verified\":false}");
        free(put_full(s, "new", 1, 1, 1, "SE", NULL, true, T0));
        ASSERT_STREQ(query_ids(s, Q(), FRESH(T0)), "new,old");
        ASSERT_STREQ(query_ids(s, Q(.verified_only = true), FRESH(T0)), "new");
        ops->close(s);

        /* Opened again: schema 2 already, nothing to do. */
        s = store_open(dir);
        ASSERT_STREQ(query_ids(s, Q(), FRESH(T0)), "new,old");
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
        ASSERT_ERROR(ops->open(p, &s), EBADMSG);
        ASSERT_NULL(s);

        /* A directory that does not exist. */
        ASSERT_TRUE(asprintf(&missing, "%s/missing/discovery.db", dir) >= 0);
        ASSERT_ERROR(ops->open(missing, &s), ENOENT);
        ASSERT_NULL(s);

        test_rm_rf(dir);
}

TEST(many) {
        _cleanup_free_ char *dir = test_mkdtemp();
        DiscoveryStore *s = store_open(dir);
        Collect c = {};
        uint64_t n;

        /* 500 providers; the default limit is not reached, the order holds throughout. */
        for (int i = 0; i < 500; i++) {
                char id[32];

                snprintf(id, sizeof(id), "p%03d", i);
                put_(s, id, i % 7 + 1, i % 5 + 1, 1, "SE", NULL, T0 + (usec_t) i);
        }
        ASSERT_OK(ops->query(s, Q(), FRESH(T0), collect, &c));
        ASSERT_EQ_INT(c.n, 500);
        ASSERT_TRUE(startswith(c.ids, "p034,p069,p104,")); /* cpu 7, memory 5, ids ascending */

        c = (Collect) {};
        ASSERT_OK(ops->query(s, Q(.limit = 10, .offset = 495), FRESH(T0), collect, &c));
        ASSERT_EQ_INT(c.n, 5);

        /* Half of them expire. */
        ASSERT_OK(ops->expire(s, T0 + 250, &n));
        ASSERT_EQ_UINT(n, 250);
        c = (Collect) {};
        ASSERT_OK(ops->query(s, Q(), 0, collect, &c));
        ASSERT_EQ_INT(c.n, 250);

        ops->close(s);
        test_rm_rf(dir);
}
