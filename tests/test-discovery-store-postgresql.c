/* SPDX-License-Identifier: MIT */
/* The PostgreSQL store against a real server: a private cluster that tests/integration/golempg.py
 * starts for each case ("golempg.py run -- test-discovery-store-postgresql CASE"), reached at
 * $GOLEM_TEST_DATABASE_URL as the plain role golem; the checks read the database as the
 * superuser ($GOLEM_TEST_DATABASE_SUPERUSER_URL, blocking libpq: this is the test, not the
 * daemon). Several store instances share one sd-event loop, as several daemons share the
 * database. */

#include <libpq-fe.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "discovery-database-url.h"
#include "discovery-store.h"
#include "macro.h"
#include "tests.h"
#include "time-util.h"

#define PG (&discovery_store_postgresql_ops)

#ifdef __SANITIZE_ADDRESS__
/* AddressSanitizer holds freed memory back (its quarantine), which load_streams_many would
 * count as what the rows weigh: none here (ASAN_OPTIONS still overrides). */
const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *__asan_default_options(void) {
        return "quarantine_size_mb=0";
}
#endif

/* Runs the loop until cond holds; seconds is a guard against a hang, not a measurement. */
#define RUN_UNTIL(e, cond, seconds)                                                             \
        do {                                                                                    \
                usec_t _deadline = now_monotonic() + (usec_t) (seconds) * USEC_PER_SEC;         \
                while (!(cond)) {                                                               \
                        if (now_monotonic() > _deadline)                                        \
                                tests_fail(__FILE__, __LINE__, "still not: %s", #cond);         \
                        ASSERT_OK(sd_event_run(e, 100 * USEC_PER_MSEC));                        \
                }                                                                               \
        } while (0)

static const char *env_url(const char *name) {
        const char *u = getenv(name);

        if (!u)
                tests_fail(__FILE__, __LINE__, "$%s is not set: run me through golempg.py run --", name);
        return u;
}

/* The store's URL, naming the instance (application_name) so that a case can cut its session. */
static char *instance_url(const char *name) {
        char *u;

        ASSERT_TRUE(asprintf(&u, "%s?application_name=%s", env_url("GOLEM_TEST_DATABASE_URL"), name) >= 0);
        return u;
}

static PGconn *superuser(void) {
        static PGconn *c;

        if (!c) {
                c = PQconnectdb(env_url("GOLEM_TEST_DATABASE_SUPERUSER_URL"));
                if (PQstatus(c) != CONNECTION_OK)
                        tests_fail(__FILE__, __LINE__, "connecting as the superuser: %s", PQerrorMessage(c));
        }
        return c;
}

/* The first value of what statement returns ("" when no row); exits on an error. */
static char *sql(const char *statement) {
        PGresult *res = PQexec(superuser(), statement);
        char *v;

        if (!IN_SET(PQresultStatus(res), PGRES_TUPLES_OK, PGRES_COMMAND_OK))
                tests_fail(__FILE__, __LINE__, "%s: %s", statement, PQresultErrorMessage(res));
        v = strdup(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
        PQclear(res);
        ASSERT_NOT_NULL(v);
        return v;
}

static long long sql_int(const char *statement) {
        _cleanup_free_ char *v = sql(statement);

        return atoll(v);
}

typedef struct Ad {
        char id[64];
        char document[256];
        StoredAdvertisement a;
} Ad;

static void ad_make(Ad *ad, const char *prefix, unsigned i, usec_t t, int64_t cpu) {
        snprintf(ad->id, sizeof(ad->id), "%s-%u", prefix, i);
        /* Quotes and backslashes: the batch's array literals must carry them. */
        snprintf(ad->document, sizeof(ad->document),
                 "{\"provider_id\":\"%s\",\"cpu\":%" PRIi64 ",\"updated_at\":%" PRIu64 ",\"name\":\"a \\\"b\\\" \\\\ c\"}",
                 ad->id, cpu, t);
        ad->a = (StoredAdvertisement) {
                .provider_id = ad->id,
                .ip_address = "192.0.2.7",
                .country = "SE",
                .platform = i % 2 ? "x86_64" : NULL,
                .cpu = cpu,
                .memory = 16,
                .storage = 200,
                .verified = i % 3 == 0,
                .created_at = t - 1,
                .updated_at = t,
                .document = ad->document,
                .document_size = strlen(ad->document),
        };
}

/* What callbacks saw: rows (by load or follow), removals, writes' ends, health. */
typedef struct Row {
        char *id;
        int64_t cpu;
        usec_t updated_at;
        bool has_platform, verified;
        char *document;
} Row;

typedef struct Seen {
        Row *rows;
        size_t n_rows, n_rows_allocated;
        char **removed;
        size_t n_removed;
        unsigned ok, failed, notconn;
        int last_error;
        bool loaded;
        int load_error;
        int health; /* -1 not told, 0, 1 */
        unsigned health_false, health_true;
        uint64_t expired;
        bool expire_done;
        void (*hook)(struct Seen *s, bool healthy); /* after each health() */
        void *hook_data;
} Seen;

static void seen_done(Seen *s) {
        for (size_t i = 0; i < s->n_rows; i++) {
                free(s->rows[i].id);
                free(s->rows[i].document);
        }
        free(s->rows);
        for (size_t i = 0; i < s->n_removed; i++)
                free(s->removed[i]);
        free(s->removed);
        *s = (Seen) {};
}

static int on_row(const StoredAdvertisement *a, void *userdata) {
        Seen *s = userdata;
        Row *r;

        if (s->n_rows >= s->n_rows_allocated) {
                s->n_rows_allocated = MAX(s->n_rows_allocated * 2, (size_t) 64);
                s->rows = reallocarray(s->rows, s->n_rows_allocated, sizeof(Row));
                ASSERT_NOT_NULL(s->rows);
        }
        r = s->rows + s->n_rows++;
        *r = (Row) {
                .id = strdup(a->provider_id),
                .cpu = a->cpu,
                .updated_at = a->updated_at,
                .has_platform = !!a->platform,
                .verified = a->verified,
                .document = strndup(a->document, a->document_size),
        };
        ASSERT_EQ_UINT(strlen(a->document), a->document_size);
        ASSERT_STREQ(a->country, "SE");
        ASSERT_STREQ(a->ip_address, "192.0.2.7");
        return 0;
}

static const Row *seen_row(const Seen *s, const char *id) {
        const Row *found = NULL;

        /* The newest, as an index keeps it. */
        for (size_t i = 0; i < s->n_rows; i++)
                if (streq(s->rows[i].id, id) && (!found || s->rows[i].updated_at >= found->updated_at))
                        found = s->rows + i;
        return found;
}

static bool seen_removed(const Seen *s, const char *id) {
        for (size_t i = 0; i < s->n_removed; i++)
                if (streq(s->removed[i], id))
                        return true;
        return false;
}

static void on_loaded(int error, void *userdata) {
        Seen *s = userdata;

        s->loaded = true;
        s->load_error = error;
}

static void on_written(int error, void *userdata) {
        Seen *s = userdata;

        if (error == 0)
                s->ok++;
        else {
                s->failed++;
                s->last_error = error;
                if (error == -ENOTCONN)
                        s->notconn++;
        }
}

static void on_removed(const char *provider_id, usec_t removed_at, void *userdata) {
        Seen *s = userdata;

        s->removed = reallocarray(s->removed, s->n_removed + 1, sizeof(char *));
        ASSERT_NOT_NULL(s->removed);
        ASSERT_NOT_NULL(s->removed[s->n_removed++] = strdup(provider_id));
        ASSERT_TRUE(removed_at > 0);
}

/* The password in $GOLEM_TEST_DATABASE_URL (postgresql://golem:PASSWORD@...). */
static char *url_password(void) {
        const char *u = env_url("GOLEM_TEST_DATABASE_URL") + strlen("postgresql://");
        const char *colon = strchr(u, ':'), *at = strchr(u, '@');
        char *p;

        ASSERT_TRUE(colon && at && colon < at);
        ASSERT_NOT_NULL(p = strndup(colon + 1, (size_t) (at - colon - 1)));
        return p;
}

static void on_health(bool healthy, const char *reason, void *userdata) {
        _cleanup_free_ char *password = url_password();
        Seen *s = userdata;

        ASSERT_NOT_NULL(reason);
        /* The password never reaches a message. */
        ASSERT_TRUE(strlen(password) >= 8 && !strstr(reason, password));
        s->health = healthy;
        if (healthy)
                s->health_true++;
        else
                s->health_false++;
        if (s->hook)
                s->hook(s, healthy);
}

static void on_expired(int error, void *userdata) {
        Seen *s = userdata;

        ASSERT_OK(error);
        s->expire_done = true;
}

static void follow(DiscoveryStore *store, Seen *s) {
        DiscoveryStoreFollower f = {
                .upserted = on_row,
                .removed = on_removed,
                .health = on_health,
                .userdata = s,
        };

        s->health = -1;
        ASSERT_OK(store->ops->follow(store, &f));
}

/* Opens an instance and waits until its (empty-handed) load says it is connected. */
static DiscoveryStore *open_loaded(sd_event *e, const char *name, Seen *seen) {
        _cleanup_free_ char *url = instance_url(name);
        DiscoveryStore *store;

        ASSERT_OK(PG->open(e, url, &store));
        ASSERT_OK(store->ops->load(store, USEC_INFINITY - 1, on_row, on_loaded, seen));
        RUN_UNTIL(e, seen->loaded, 30);
        ASSERT_OK(seen->load_error);
        ASSERT_EQ_UINT(seen->n_rows, 0);
        return store;
}

static void load_all(sd_event *e, Seen *seen) {
        _cleanup_free_ char *url = instance_url("reader");
        DiscoveryStore *store;

        ASSERT_OK(PG->open(e, url, &store));
        ASSERT_OK(store->ops->load(store, 0, on_row, on_loaded, seen));
        RUN_UNTIL(e, seen->loaded, 60);
        ASSERT_OK(seen->load_error);
        store->ops->close(store);
}

TEST(refuses_bad_urls) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        DiscoveryStore *store = NULL;

        ASSERT_OK(sd_event_new(&e));
        ASSERT_ERROR(PG->open(e, "host=127.0.0.1 dbname=golem", &store), EINVAL);
        ASSERT_ERROR(PG->open(e, "mysql://golem@127.0.0.1/golem", &store), EINVAL);
        ASSERT_ERROR(PG->open(e, "postgresql://golem@127.0.0.1/golem?nosuchoption=1", &store), EINVAL);
        ASSERT_ERROR(PG->open(e, "", &store), EINVAL);
        ASSERT_NULL(store);
}

TEST(upserts_durable) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Seen a = {}, reader = {};
        DiscoveryStore *store;
        usec_t t = now_realtime();
        Ad ad;

        ASSERT_OK(sd_event_new(&e));
        store = open_loaded(e, "a", &a);

        for (unsigned i = 0; i < 300; i++) {
                ad_make(&ad, "dur", i, t, 4);
                ASSERT_OK(store->ops->upsert(store, &ad.a, on_written, &a));
        }
        RUN_UNTIL(e, a.ok + a.failed == 300, 30);
        ASSERT_EQ_UINT(a.failed, 0);

        /* Refreshed with other values; an older write of the same id loses; then removals. */
        for (unsigned i = 0; i < 100; i++) {
                ad_make(&ad, "dur", i, t + 1000, 8);
                ASSERT_OK(store->ops->upsert(store, &ad.a, on_written, &a));
        }
        ad_make(&ad, "dur", 0, t - 1000, 1);
        ASSERT_OK(store->ops->upsert(store, &ad.a, on_written, &a));
        for (unsigned i = 290; i < 300; i++) {
                char id[64];

                snprintf(id, sizeof(id), "dur-%u", i);
                ASSERT_OK(store->ops->remove(store, id, t + 2000, on_written, &a));
        }
        RUN_UNTIL(e, a.ok + a.failed == 300 + 100 + 1 + 10, 30);
        ASSERT_EQ_UINT(a.failed, 0);
        /* Acknowledged means committed: another instance loads it all. */
        load_all(e, &reader);
        ASSERT_EQ_UINT(reader.n_rows, 290);
        for (unsigned i = 0; i < 290; i++) {
                char id[64];
                const Row *r;

                snprintf(id, sizeof(id), "dur-%u", i);
                TEST_CONTEXT("%s", id);
                ASSERT_NOT_NULL(r = seen_row(&reader, id));
                ad_make(&ad, "dur", i, i < 100 ? t + 1000 : t, i < 100 ? 8 : 4);
                ASSERT_EQ_INT(r->cpu, ad.a.cpu);
                ASSERT_EQ_UINT(r->updated_at, ad.a.updated_at);
                ASSERT_STREQ(r->document, ad.document);
                ASSERT_EQ_INT(r->has_platform, i % 2);
                ASSERT_EQ_INT(r->verified, i % 3 == 0);
        }
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisement_removals"), 10);
        /* Loading only the fresh ones. */
        seen_done(&reader);
        {
                _cleanup_free_ char *url = instance_url("reader");
                DiscoveryStore *r;

                ASSERT_OK(PG->open(e, url, &r));
                ASSERT_OK(r->ops->load(r, t + 1000, on_row, on_loaded, &reader));
                RUN_UNTIL(e, reader.loaded, 30);
                ASSERT_OK(reader.load_error);
                ASSERT_EQ_UINT(reader.n_rows, 100);
                r->ops->close(r);
        }

        store->ops->close(store);
        seen_done(&a);
        seen_done(&reader);
}

TEST(group_commit) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Seen a = {};
        DiscoveryStore *store;
        usec_t t = now_realtime();
        Ad ad;

        ASSERT_OK(sd_event_new(&e));
        store = open_loaded(e, "a", &a);

        /* 200 writes queued at once: one transaction. */
        for (unsigned i = 0; i < 200; i++) {
                ad_make(&ad, "once", i, t, 2);
                ASSERT_OK(store->ops->upsert(store, &ad.a, on_written, &a));
        }
        RUN_UNTIL(e, a.ok == 200, 30);
        ASSERT_EQ_INT(sql_int("SELECT count(DISTINCT xmin::text) FROM advertisements WHERE provider_id LIKE 'once-%'"), 1);

        /* One write sent alone; the 199 queued while its commit is in flight go together in the
         * next transaction, and each is acknowledged after it. */
        a.ok = 0;
        ad_make(&ad, "inflight", 0, t, 2);
        ASSERT_OK(store->ops->upsert(store, &ad.a, on_written, &a));
        ASSERT_OK(sd_event_run(e, 0)); /* the store sends it */
        ASSERT_EQ_UINT(a.ok, 0);
        for (unsigned i = 1; i < 200; i++) {
                ad_make(&ad, "inflight", i, t, 2);
                ASSERT_OK(store->ops->upsert(store, &ad.a, on_written, &a));
        }
        RUN_UNTIL(e, a.ok == 200, 30);
        ASSERT_EQ_INT(sql_int("SELECT count(DISTINCT xmin::text) FROM advertisements WHERE provider_id LIKE 'inflight-%'"), 2);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisements WHERE provider_id LIKE 'inflight-%'"), 200);

        /* A backlog goes in transactions of at most 4096 writes, in order. */
        a.ok = 0;
        for (unsigned i = 0; i < 10000; i++) {
                ad_make(&ad, "backlog", i, t, 2);
                ASSERT_OK(store->ops->upsert(store, &ad.a, on_written, &a));
        }
        ad_make(&ad, "backlog", 0, t + 1, 7); /* the last write of backlog-0 wins */
        ASSERT_OK(store->ops->upsert(store, &ad.a, on_written, &a));
        RUN_UNTIL(e, a.ok == 10001, 60);
        ASSERT_EQ_INT(sql_int("SELECT count(DISTINCT xmin::text) FROM advertisements WHERE provider_id LIKE 'backlog-%'"), 3);
        ASSERT_EQ_INT(sql_int("SELECT cpu FROM advertisements WHERE provider_id = 'backlog-0'"), 7);

        store->ops->close(store);
        seen_done(&a);
}

TEST(follows_other_instance) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Seen a = {}, b = {};
        DiscoveryStore *sa, *sb;
        usec_t t = now_realtime();
        Ad ad;

        ASSERT_OK(sd_event_new(&e));
        sa = open_loaded(e, "a", &a);
        sb = open_loaded(e, "b", &b);
        follow(sb, &b);
        RUN_UNTIL(e, b.health == 1, 10);

        for (unsigned i = 0; i < 50; i++) {
                ad_make(&ad, "fol", i, t + i, 3);
                ASSERT_OK(sa->ops->upsert(sa, &ad.a, on_written, &a));
        }
        RUN_UNTIL(e, a.ok == 50, 30);
        RUN_UNTIL(e, b.n_rows >= 50, 10);
        for (unsigned i = 0; i < 50; i++) {
                char id[64];
                const Row *r;

                snprintf(id, sizeof(id), "fol-%u", i);
                ASSERT_NOT_NULL(r = seen_row(&b, id));
                ASSERT_EQ_UINT(r->updated_at, t + i);
                ad_make(&ad, "fol", i, t + i, 3);
                ASSERT_STREQ(r->document, ad.document);
        }

        for (unsigned i = 0; i < 5; i++) {
                char id[64];

                snprintf(id, sizeof(id), "fol-%u", i);
                ASSERT_OK(sa->ops->remove(sa, id, t + 100, on_written, &a));
        }
        RUN_UNTIL(e, b.n_removed >= 5, 10);
        ASSERT_TRUE(seen_removed(&b, "fol-0") && seen_removed(&b, "fol-4"));
        ASSERT_FALSE(seen_removed(&b, "fol-5"));

        /* b's own writes are not echoed back to it. */
        ad_make(&ad, "own", 0, t, 3);
        {
                size_t before = b.n_rows;

                ASSERT_OK(sb->ops->upsert(sb, &ad.a, on_written, &b));
                ad_make(&ad, "fol", 49, t + 200, 5);
                ASSERT_OK(sa->ops->upsert(sa, &ad.a, on_written, &a));
                RUN_UNTIL(e, b.ok == 1 && seen_row(&b, "fol-49")->updated_at == t + 200, 10);
                ASSERT_EQ_UINT(b.n_rows, before + 1);
                ASSERT_NULL(seen_row(&b, "own-0"));
        }

        sa->ops->close(sa);
        sb->ops->close(sb);
        seen_done(&a);
        seen_done(&b);
}

TEST(expire_by_one_sweeper) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Seen a = {}, b = {}, c = {};
        DiscoveryStore *sa, *sb, *holder, *other;
        usec_t t = now_realtime();
        uint64_t na = 99, nb = 99;
        Ad ad;

        ASSERT_OK(sd_event_new(&e));
        sa = open_loaded(e, "a", &a);
        sb = open_loaded(e, "b", &b);

        for (unsigned i = 0; i < 40; i++) {
                ad_make(&ad, "stale", i, t - 1000 * USEC_PER_SEC, 1);
                ASSERT_OK(sa->ops->upsert(sa, &ad.a, on_written, &a));
                ad_make(&ad, "fresh", i, t, 1);
                ASSERT_OK(sb->ops->upsert(sb, &ad.a, on_written, &b));
        }
        RUN_UNTIL(e, a.ok == 40 && b.ok == 40, 30);

        /* Both sweep at once: one of them holds the lock and deletes, at most the limit. */
        ASSERT_OK(sa->ops->expire(sa, t - 500 * USEC_PER_SEC, 30, &na, on_expired, &a));
        ASSERT_OK(sb->ops->expire(sb, t - 500 * USEC_PER_SEC, 30, &nb, on_expired, &b));
        RUN_UNTIL(e, a.expire_done && b.expire_done, 30);
        ASSERT_EQ_UINT(na + nb, 30);
        ASSERT_TRUE(na == 0 || nb == 0);
        holder = na > 0 ? sa : sb;
        other = na > 0 ? sb : sa;
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisements WHERE provider_id LIKE 'stale-%'"), 10);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisements WHERE provider_id LIKE 'fresh-%'"), 40);

        /* The holder keeps it. */
        a.expire_done = b.expire_done = false;
        ASSERT_OK(other->ops->expire(other, t - 500 * USEC_PER_SEC, 30, na > 0 ? &nb : &na, on_expired, other == sa ? &a : &b));
        RUN_UNTIL(e, (other == sa ? a : b).expire_done, 30);
        ASSERT_EQ_UINT(na > 0 ? nb : na, 0);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisements WHERE provider_id LIKE 'stale-%'"), 10);

        /* The holder goes: the other takes over at its next sweep. Removals' tombstones older
         * than the cut go as well. */
        ASSERT_OK(other->ops->remove(other, "fresh-0", t - 600 * USEC_PER_SEC, on_written, other == sa ? &a : &b));
        RUN_UNTIL(e, a.ok + b.ok == 81, 30);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisement_removals"), 1);
        holder->ops->close(holder);
        /* Its session ends on the server a moment after the client went (the lock with it). */
        RUN_UNTIL(e, sql_int(holder == sa ?
                             "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'a'" :
                             "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'b'") == 0, 10);
        {
                uint64_t n = 99;

                ASSERT_OK(other->ops->expire(other, t - 500 * USEC_PER_SEC, 1000, &n, on_expired, &c));
                RUN_UNTIL(e, c.expire_done, 30);
                ASSERT_EQ_UINT(n, 10);
        }
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisements WHERE provider_id LIKE 'stale-%'"), 0);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisements WHERE provider_id LIKE 'fresh-%'"), 40);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisement_removals"), 0);

        other->ops->close(other);
        seen_done(&a);
        seen_done(&b);
        seen_done(&c);
}

TEST(migrations_concurrent) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Seen s[3] = {};
        DiscoveryStore *st[3];
        _cleanup_free_ char *url = instance_url("m");

        ASSERT_OK(sd_event_new(&e));
        /* Three instances on an empty database at once. */
        for (unsigned i = 0; i < 3; i++) {
                ASSERT_OK(PG->open(e, url, &st[i]));
                ASSERT_OK(st[i]->ops->load(st[i], 0, on_row, on_loaded, &s[i]));
        }
        RUN_UNTIL(e, s[0].loaded && s[1].loaded && s[2].loaded, 60);
        for (unsigned i = 0; i < 3; i++) {
                ASSERT_OK(s[i].load_error);
                st[i]->ops->close(st[i]);
                seen_done(&s[i]);
        }
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM schema_version"), 1);
        ASSERT_EQ_INT(sql_int("SELECT version FROM schema_version"), 1);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM pg_tables WHERE tablename IN ('advertisements', 'advertisement_removals')"), 2);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM pg_indexes WHERE indexname = 'advertisements_updated'"), 1);

        /* Again: nothing to do, nothing breaks. */
        for (unsigned i = 0; i < 3; i++) {
                ASSERT_OK(PG->open(e, url, &st[i]));
                ASSERT_OK(st[i]->ops->load(st[i], 0, on_row, on_loaded, &s[i]));
        }
        RUN_UNTIL(e, s[0].loaded && s[1].loaded && s[2].loaded, 60);
        for (unsigned i = 0; i < 3; i++) {
                ASSERT_OK(s[i].load_error);
                st[i]->ops->close(st[i]);
                seen_done(&s[i]);
        }

        /* A database a newer daemon migrated: refused, not touched. */
        free(sql("UPDATE schema_version SET version = 99"));
        ASSERT_OK(PG->open(e, url, &st[0]));
        follow(st[0], &s[0]);
        ASSERT_OK(st[0]->ops->load(st[0], 0, on_row, on_loaded, &s[0]));
        RUN_UNTIL(e, s[0].loaded, 30);
        ASSERT_ERROR(s[0].load_error, EPROTONOSUPPORT);
        ASSERT_EQ_INT(s[0].health, 0);
        ASSERT_EQ_INT(sql_int("SELECT version FROM schema_version"), 99);
        st[0]->ops->close(st[0]);
        seen_done(&s[0]);
}

/* A writer on a timer: one upsert every 2 ms, counting what the store refused at once. */
typedef struct Writer {
        DiscoveryStore *store;
        Seen *seen;
        unsigned next;
        unsigned refused;
        bool *acked;
        unsigned max;
        bool stop;
} Writer;

typedef struct Ack {
        Writer *w;
        unsigned i;
} Ack;

static void on_writer_done(int error, void *userdata) {
        Ack *a = userdata;

        if (error == 0)
                a->w->acked[a->i] = true;
        on_written(error, a->w->seen);
        free(a);
}

static int on_writer_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Writer *w = userdata;
        Ack *a;
        Ad ad;
        int r;

        if (w->stop || w->next >= w->max)
                return sd_event_source_set_enabled(es, SD_EVENT_OFF);
        ad_make(&ad, "load", w->next, now_realtime(), 2);
        ASSERT_NOT_NULL(a = malloc(sizeof(*a)));
        *a = (Ack) { w, w->next };
        r = w->store->ops->upsert(w->store, &ad.a, on_writer_done, a);
        if (r < 0) {
                ASSERT_ERROR(r, ENOTCONN); /* fails fast while down */
                w->refused++;
                free(a);
        }
        w->next++;
        ASSERT_OK(sd_event_source_set_time_relative(es, 2 * USEC_PER_MSEC));
        return sd_event_source_set_enabled(es, SD_EVENT_ON);
}

static int on_child(sd_event_source *es, const siginfo_t *si, void *userdata) {
        int *status = userdata;

        *status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        return 0;
}

TEST(restart_under_writes) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL, *child = NULL;
        Seen a = {}, reader = {};
        Writer w = {};
        unsigned acked = 0, after;
        int status = -1;
        sigset_t mask;
        pid_t pid;

        ASSERT_OK(sd_event_new(&e));
        w.store = open_loaded(e, "a", &a);
        follow(w.store, &a);
        RUN_UNTIL(e, a.health == 1, 10);
        w.seen = &a;
        w.max = 100000;
        ASSERT_NOT_NULL(w.acked = calloc(w.max, sizeof(bool)));
        ASSERT_OK(sd_event_add_time_relative(e, &timer, CLOCK_MONOTONIC, 0, 1, on_writer_timer, &w));
        RUN_UNTIL(e, a.ok >= 50, 30);

        /* pg_ctl restart -m fast, from the harness, while the writes go on. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        ASSERT_OK(sigprocmask(SIG_BLOCK, &mask, NULL));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                (void) sigprocmask(SIG_UNBLOCK, &mask, NULL);
                execlp("python3", "python3", env_url("GOLEM_TEST_PG_HARNESS"), "restart",
                       env_url("GOLEM_TEST_PG_DATADIR"), (char *) NULL);
                _exit(127);
        }
        ASSERT_OK(sd_event_add_child(e, &child, pid, WEXITED, on_child, &status));
        RUN_UNTIL(e, status >= 0 && a.health_false > 0 && a.health == 1, 60);
        ASSERT_EQ_INT(status, 0);
        ASSERT_EQ_UINT(a.health_false, 1);
        ASSERT_EQ_UINT(a.health_true, 2);
        /* While it was down, writes failed fast or, in flight, with -ENOTCONN: nothing else. */
        ASSERT_TRUE(w.refused + a.notconn > 0);
        ASSERT_EQ_UINT(a.failed, a.notconn);

        /* And they work again, without reopening. */
        after = a.ok;
        RUN_UNTIL(e, a.ok >= after + 50, 30);
        w.stop = true;
        RUN_UNTIL(e, a.ok + a.failed + w.refused == w.next, 30);

        /* Every acknowledged write is in the database. */
        load_all(e, &reader);
        for (unsigned i = 0; i < w.next; i++) {
                char id[64];

                if (!w.acked[i])
                        continue;
                acked++;
                snprintf(id, sizeof(id), "load-%u", i);
                TEST_CONTEXT("%s", id);
                ASSERT_NOT_NULL(seen_row(&reader, id));
        }
        ASSERT_EQ_UINT(acked, a.ok);
        fprintf(stderr, "%u writes: %u acknowledged, %u refused while down, %u failed in flight\n",
                w.next, a.ok, w.refused, a.notconn);

        w.store->ops->close(w.store);
        free(w.acked);
        seen_done(&a);
        seen_done(&reader);
}

/* b's writes while a's session is cut reach a by its catch-up after it reconnects. */
typedef struct Cut {
        DiscoveryStore *b;
        Seen *a, *bseen;
        bool written;
        int a_health_at_ack;
} Cut;

static void on_cut_written(int error, void *userdata) {
        Cut *c = userdata;

        on_written(error, c->bseen);
        if (c->bseen->ok == 21)
                c->a_health_at_ack = c->a->health;
}

static void cut_hook(Seen *a, bool healthy) {
        Cut *c = a->hook_data;
        usec_t t = now_realtime();
        Ad ad;

        if (healthy || c->written)
                return;
        c->written = true;
        for (unsigned i = 0; i < 20; i++) {
                ad_make(&ad, "meanwhile", i, t, 6);
                ASSERT_OK(c->b->ops->upsert(c->b, &ad.a, on_cut_written, c));
        }
        ASSERT_OK(c->b->ops->remove(c->b, "before-0", t, on_cut_written, c));
}

TEST(catchup_after_reconnect) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Seen a = {}, b = {};
        DiscoveryStore *sa, *sb;
        usec_t t = now_realtime();
        Cut cut;
        Ad ad;

        ASSERT_OK(sd_event_new(&e));
        sa = open_loaded(e, "cut_a", &a);
        sb = open_loaded(e, "cut_b", &b);
        follow(sa, &a);
        RUN_UNTIL(e, a.health == 1, 10);

        ad_make(&ad, "before", 0, t - 10, 6);
        ASSERT_OK(sb->ops->upsert(sb, &ad.a, on_written, &b));
        RUN_UNTIL(e, b.ok == 1 && seen_row(&a, "before-0"), 10);

        /* Cut a's session (as a failover or a network break would); b writes as soon as a
         * has noticed, so a's session is not there to hear b's NOTIFYs. */
        b.ok = 0;
        cut = (Cut) { .b = sb, .a = &a, .bseen = &b, .a_health_at_ack = -2 };
        a.hook = cut_hook;
        a.hook_data = &cut;
        free(sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cut_a'"));
        RUN_UNTIL(e, a.health_false == 1 && a.health == 1 && b.ok == 21, 30);
        ASSERT_EQ_INT(cut.a_health_at_ack, 0);
        ASSERT_EQ_UINT(b.failed, 0);

        /* Caught up before it said it was back. */
        for (unsigned i = 0; i < 20; i++) {
                char id[64];

                snprintf(id, sizeof(id), "meanwhile-%u", i);
                TEST_CONTEXT("%s", id);
                ASSERT_NOT_NULL(seen_row(&a, id));
        }
        ASSERT_TRUE(seen_removed(&a, "before-0"));

        sa->ops->close(sa);
        sb->ops->close(sb);
        seen_done(&a);
        seen_done(&b);
}

typedef struct Count {
        uint64_t rows;
        int done; /* 1, or the error */
} Count;

static int on_row_count(const StoredAdvertisement *a, void *userdata) {
        Count *c = userdata;

        ASSERT_TRUE(startswith(a->provider_id, "many-"));
        ASSERT_EQ_UINT(strlen(a->document), a->document_size);
        c->rows++;
        return 0;
}

static long maxrss_kib(void) {
        struct rusage ru;

        ASSERT_OK(getrusage(RUSAGE_SELF, &ru));
        return ru.ru_maxrss;
}

static void on_count_loaded(int error, void *userdata) {
        Count *c = userdata;

        c->done = error == 0 ? 1 : error;
}

/* load() streams: the rows (~400 bytes each, 40 MB for 100000) pass one at a time, the
 * process does not grow by what they weigh. */
TEST(load_streams_many) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *url = instance_url("reader");
        Seen reader = {};
        DiscoveryStore *store;
        Count count = {};
        usec_t t0;
        long long n = 100000;
        long rss0;
        char statement[1024];
        const char *env = getenv("GOLEM_TEST_PG_LOAD_ROWS");

        if (env)
                n = atoll(env);
        ASSERT_OK(sd_event_new(&e));
        /* The schema first (an instance migrates it), then the rows straight into the table. */
        load_all(e, &reader);
        seen_done(&reader);
        snprintf(statement, sizeof(statement),
                 "INSERT INTO advertisements SELECT 'many-' || i, '192.0.2.7', 'SE', NULL, i %% 64, 16, 200,"
                 " false, 1, %" PRIu64 ", '{\"provider_id\":\"many-' || i || '\",\"padding\":\"' || repeat('x', 360) || '\"}'"
                 " FROM generate_series(1, %lld) AS i", now_realtime(), n);
        free(sql(statement));

        rss0 = maxrss_kib();
        t0 = now_monotonic();
        ASSERT_OK(PG->open(e, url, &store));
        ASSERT_OK(store->ops->load(store, 0, on_row_count, on_count_loaded, &count));
        RUN_UNTIL(e, count.done != 0, 300);
        ASSERT_EQ_INT(count.done, 1);
        fprintf(stderr, "load() of %" PRIu64 " rows: %.2f s, peak RSS +%ld KiB\n", count.rows,
                (double) (now_monotonic() - t0) / USEC_PER_SEC, maxrss_kib() - rss0);
        ASSERT_EQ_UINT(count.rows, (uint64_t) n);
        ASSERT_LE_UINT(maxrss_kib() - rss0, 16 * 1024);
        store->ops->close(store);
}

/* Under load, writes queue while a commit is in flight and go in batches: 20000 upserts with
 * 512 outstanding take far fewer transactions than writes. Prints the rate (not asserted). */
typedef struct Flood {
        DiscoveryStore *store;
        unsigned next, acked, max;
        int error;
        usec_t t;
} Flood;

static void flood_one(Flood *f);

static void on_flood_done(int error, void *userdata) {
        Flood *f = userdata;

        if (error < 0)
                f->error = error;
        f->acked++;
        flood_one(f);
}

static void flood_one(Flood *f) {
        Ad ad;

        if (f->next >= f->max)
                return;
        ad_make(&ad, "flood", f->next % 5000, f->t + f->next, 4);
        f->next++;
        ASSERT_OK(f->store->ops->upsert(f->store, &ad.a, on_flood_done, f));
}

TEST(group_commit_under_load) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Seen a = {};
        Flood f = { .max = 20000, .t = now_realtime() };
        long long xact0, xacts;
        usec_t t0;

        ASSERT_OK(sd_event_new(&e));
        f.store = open_loaded(e, "a", &a);
        xact0 = sql_int("SELECT txid_current()");
        t0 = now_monotonic();
        for (unsigned i = 0; i < 512; i++)
                flood_one(&f);
        RUN_UNTIL(e, f.acked == f.max, 120);
        ASSERT_OK(f.error);
        /* Each write transaction takes one transaction id (the check's own SELECT one more). */
        xacts = sql_int("SELECT txid_current()") - xact0 - 1;
        fprintf(stderr, "%u upserts (5000 ids), 512 outstanding: %.0f/s in %lld transactions\n", f.max,
                (double) f.max * USEC_PER_SEC / (double) (now_monotonic() - t0), xacts);
        ASSERT_TRUE(xacts >= 1);
        ASSERT_LE_UINT(xacts, f.max / 10);
        ASSERT_EQ_INT(sql_int("SELECT count(*) FROM advertisements WHERE provider_id LIKE 'flood-%'"), 5000);

        f.store->ops->close(f.store);
        seen_done(&a);
}
