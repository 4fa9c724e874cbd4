/* SPDX-License-Identifier: MIT */
#include "discovery-index.h"
#include "macro.h"
#include "tests.h"

/* The index against a brute-force reference: every answer compared byte for byte. */

#define SEC(s) ((usec_t) (s) * USEC_PER_SEC)
#define T0 SEC(1700000000)
#define TTL SEC(300)

typedef struct Ref {
        char id[24];
        char country[3];
        char platform[8]; /* "" none */
        int64_t cpu, memory, storage;
        bool verified;
        usec_t created_at, updated_at;
        char document[96];
        bool present;
} Ref;

#define REF_IDS_MAX 20000
static Ref refs[REF_IDS_MAX];
static size_t n_refs; /* the ids in use: p000 to p<n_refs - 1> */

static const char *const countries[] = { "SE", "FI", "US", "DE", "AZ" };
static const char *const platforms[] = { "", "linux", "arm" };
/* Held by about one in RARE: what a query for it finds only by pruning the subtrees without it. */
#define RARE 100
#define RARE_MEMORY 1000
#define RARE_STORAGE 5000
#define RARE_PLATFORM "riscv"

static uint64_t rnd_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(uint64_t n) {
        rnd_state ^= rnd_state << 13;
        rnd_state ^= rnd_state >> 7;
        rnd_state ^= rnd_state << 17;
        return n ? rnd_state % n : 0;
}

static StoredAdvertisement stored(const Ref *r) {
        return (StoredAdvertisement) {
                .provider_id = r->id,
                .ip_address = "192.0.2.1",
                .country = r->country,
                .platform = r->platform[0] ? r->platform : NULL,
                .cpu = r->cpu,
                .memory = r->memory,
                .storage = r->storage,
                .verified = r->verified,
                .created_at = r->created_at,
                .updated_at = r->updated_at,
                .document = r->document,
                .document_size = strlen(r->document),
        };
}

static uint64_t generation_counter;

/* A write of provider i at now, as the daemon does it: created_at kept from a fresh one. */
static void put(DiscoveryIndex *x, size_t i, usec_t now) {
        Ref *r = refs + i;
        usec_t created;
        bool fresh = r->present && r->updated_at >= now - TTL;

        snprintf(r->id, sizeof(r->id), "p%03zu", i);
        /* Most writes of a held one are heartbeats: the same resources (rewritten in place by
         * the index), now and then another platform. */
        /* Few distinct values, so that ties go down to the id. A held one changes one of them
         * at a time (or none). */
        unsigned which = r->present ? (unsigned) rnd(10) : 0;
        if (which == 0 || which == 1)
                snprintf(r->country, sizeof(r->country), "%s", countries[rnd(ELEMENTSOF(countries))]);
        if (which == 0 || which == 2)
                r->cpu = (int64_t) rnd(6) + 1;
        if (which == 0 || which == 3)
                r->memory = rnd(RARE) == 0 ? RARE_MEMORY + (int64_t) rnd(50) : (int64_t) rnd(4) * 16 + 1;
        if (which == 0 || which == 4)
                r->storage = rnd(RARE) == 0 ? RARE_STORAGE + (int64_t) rnd(50) : (int64_t) rnd(3) * 100 + 1;
        if (which == 0 || which == 5)
                r->verified = rnd(3) == 0;
        if (!r->present || rnd(4) == 0)
                snprintf(r->platform, sizeof(r->platform), "%s",
                         rnd(RARE) == 0 ? RARE_PLATFORM : platforms[rnd(ELEMENTSOF(platforms))]);

        if (discovery_index_created_at(x, r->id, now - TTL, &created) >= 0) {
                ASSERT_TRUE(fresh);
                ASSERT_EQ_UINT(created, r->created_at);
        } else {
                ASSERT_FALSE(fresh);
                created = now;
        }
        r->created_at = created;
        r->updated_at = now;
        snprintf(r->document, sizeof(r->document), "{\"id\":\"%s\",\"w\":%" PRIu64 ",\"pad\":\"%.*s\"}", r->id,
                 ++generation_counter, (int) rnd(40), "........................................");
        r->present = true;

        StoredAdvertisement a = stored(r);
        ASSERT_OK(discovery_index_put(x, &a));
}

static int ref_cmp(const void *a, const void *b) {
        const Ref *x = *(const Ref *const *) a, *y = *(const Ref *const *) b;

        if (x->verified != y->verified)
                return x->verified ? -1 : 1;
        if (x->cpu != y->cpu)
                return x->cpu > y->cpu ? -1 : 1;
        if (x->memory != y->memory)
                return x->memory > y->memory ? -1 : 1;
        if (x->storage != y->storage)
                return x->storage > y->storage ? -1 : 1;
        return strcmp(x->id, y->id);
}

/* The answer, by brute force. */
static char *ref_query(const AdvertisementQuery *q, usec_t fresh_after) {
        _cleanup_free_ const Ref **match = malloc(n_refs * sizeof(Ref *));
        size_t n = 0, size = 0;
        char *s = malloc(n_refs * 100 + 3);
        uint64_t emitted = 0;

        ASSERT_NOT_NULL(match);
        ASSERT_NOT_NULL(s);
        for (size_t i = 0; i < n_refs; i++) {
                const Ref *r = refs + i;

                if (!r->present || r->updated_at < fresh_after || r->cpu < q->cpu || r->memory < q->memory ||
                    r->storage < q->storage || (q->country[0] && !streq(r->country, q->country)) ||
                    (q->platform[0] && !streq(r->platform, q->platform)) || (q->verified_only && !r->verified))
                        continue;
                match[n++] = r;
        }
        qsort(match, n, sizeof(match[0]), ref_cmp);
        s[size++] = '[';
        for (size_t i = 0; i < n && emitted < q->limit; i++) {
                if (i < q->offset)
                        continue;
                if (emitted > 0)
                        s[size++] = ',';
                size += (size_t) sprintf(s + size, "%s", match[i]->document);
                emitted++;
        }
        s[size++] = ']';
        s[size] = 0;
        return s;
}

static AdvertisementQuery random_query(void) {
        AdvertisementQuery q = { .limit = QUERY_LIMIT_DEFAULT };

        if (rnd(2))
                q.cpu = (int64_t) rnd(7);
        /* Minimums most have, and ones only the rare few have (or none: past them). */
        if (rnd(4) == 0)
                q.memory = rnd(3) == 0 ? RARE_MEMORY + (int64_t) rnd(60) : (int64_t) rnd(70);
        if (rnd(4) == 0)
                q.storage = rnd(3) == 0 ? RARE_STORAGE + (int64_t) rnd(60) : (int64_t) rnd(300);
        if (rnd(2))
                snprintf(q.country, sizeof(q.country), "%s", rnd(6) == 0 ? "GB" : countries[rnd(ELEMENTSOF(countries))]);
        if (rnd(4) == 0)
                snprintf(q.platform, sizeof(q.platform), "%s",
                         rnd(5) == 0 ? "none" : rnd(3) == 0 ? RARE_PLATFORM : platforms[1 + rnd(2)]);
        q.verified_only = rnd(4) == 0;
        if (rnd(2))
                q.limit = rnd(3) == 0 ? 1 : 1 + rnd(40);
        if (rnd(2))
                q.offset = rnd(4) == 0 ? rnd(n_refs * 2) : rnd(30);
        if (rnd(20) == 0)
                q.offset = UINT64_MAX;
        return q;
}

static void check_query(DiscoveryIndex *x, const AdvertisementQuery *q, usec_t fresh_after) {
        _cleanup_free_ char *want = ref_query(q, fresh_after);
        const char *got;
        size_t size;

        TEST_CONTEXT("cpu=%" PRIi64 " memory=%" PRIi64 " storage=%" PRIi64 " country=%s platform=%s verified=%d limit=%" PRIu64 " offset=%" PRIu64,
                     q->cpu, q->memory, q->storage, q->country, q->platform, q->verified_only, q->limit, q->offset);
        ASSERT_OK(discovery_index_query(x, q, fresh_after, &got, &size));
        ASSERT_EQ_UINT(size, strlen(got));
        ASSERT_STREQ(got, want);
}

static void check_counts_and_gets(DiscoveryIndex *x, usec_t fresh_after) {
        uint64_t n = 0, verified = 0;

        for (size_t i = 0; i < n_refs; i++) {
                const Ref *r = refs + i;
                const char *d = NULL;
                size_t size;
                char id[24];

                snprintf(id, sizeof(id), "p%03zu", i);
                TEST_CONTEXT("get %s", id);
                if (r->present) {
                        n++;
                        verified += r->verified;
                }
                if (r->present && r->updated_at >= fresh_after) {
                        ASSERT_OK(discovery_index_get(x, id, fresh_after, &d, &size));
                        ASSERT_STREQ(d, r->document);
                        ASSERT_EQ_UINT(size, strlen(r->document));
                } else
                        ASSERT_ERROR(discovery_index_get(x, id, fresh_after, &d, &size), ENOENT);
        }
        ASSERT_EQ_UINT(discovery_index_count(x), n);
        ASSERT_EQ_UINT(discovery_index_count_verified(x), verified);
}

/* Random writes, removes, sweeps and queries among ids providers, after writes of the first
 * fill of them in a row; now and then a pause of up to gap_max seconds. The trees are checked
 * (discovery_index_verify()) after writes: every one for a small index, now and then else. */
static void random_rounds(size_t ids, size_t fill, unsigned rounds, uint64_t gap_max) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        usec_t now = T0;

        ASSERT_OK(discovery_index_new(&x));
        memset(refs, 0, sizeof(refs));
        n_refs = ids;
        for (size_t i = 0; i < fill; i++)
                put(x, i, now += 1);
        ASSERT_OK(discovery_index_verify(x));

        for (unsigned round = 0; round < rounds; round++) {
                uint64_t op = rnd(100);

                now += rnd(4) == 0 ? SEC(rnd(gap_max)) : rnd(1000);
                if (op < 55)
                        put(x, rnd(n_refs), now);
                else if (op < 62) {
                        size_t i = rnd(n_refs);
                        char id[24];

                        snprintf(id, sizeof(id), "p%03zu", i);
                        TEST_CONTEXT("remove %s", id);
                        if (refs[i].present) {
                                ASSERT_OK(discovery_index_remove(x, id));
                                refs[i].present = false;
                        } else
                                ASSERT_ERROR(discovery_index_remove(x, id), ENOENT);
                } else if (op < 70) {
                        /* A bounded sweep: the oldest stale ones go first. */
                        size_t max = rnd(5) == 0 ? SIZE_MAX : rnd(10), n, stale = 0, removed = 0;

                        for (size_t i = 0; i < n_refs; i++)
                                stale += refs[i].present && refs[i].updated_at < now - TTL;
                        n = discovery_index_expire(x, now - TTL, max);
                        ASSERT_EQ_UINT(n, MIN(max, stale));
                        for (size_t i = 0; i < n_refs; i++) {
                                char id[24];
                                const char *d;
                                size_t size;

                                if (!refs[i].present || refs[i].updated_at >= now - TTL)
                                        continue;
                                snprintf(id, sizeof(id), "p%03zu", i);
                                /* Still held (not fresh) or gone: gone ones leave the reference. */
                                ASSERT_ERROR(discovery_index_get(x, id, now - TTL, &d, &size), ENOENT);
                                if (discovery_index_get(x, id, 0, &d, &size) == -ENOENT) {
                                        refs[i].present = false;
                                        removed++;
                                }
                        }
                        ASSERT_EQ_UINT(removed, n);
                        ASSERT_EQ_INT(discovery_index_has_stale(x, now - TTL), stale > n);
                } else {
                        AdvertisementQuery q = random_query();

                        check_query(x, &q, now - TTL);
                        /* Asked again: the same (from the cache when nothing is stale). */
                        check_query(x, &q, now - TTL);
                }
                if (op < 70 && (ids < 1000 || round % 50 == 0))
                        ASSERT_OK(discovery_index_verify(x));
                if (round % 100 == 0)
                        check_counts_and_gets(x, now - TTL);
        }
        ASSERT_OK(discovery_index_verify(x));
        check_counts_and_gets(x, now - TTL);
}

TEST(randomized_against_brute_force) {
        random_rounds(400, 0, 3000, 60);
}

/* Enough for the walks of memory, storage and platform minimums to skip whole subtrees (a few
 * hundred hold the rare values among 20000), at every kind of offset; most stay fresh until
 * the last rounds, when the first fill goes stale and is swept. */
TEST(pruned_walks_against_brute_force) {
        random_rounds(REF_IDS_MAX, REF_IDS_MAX, 1500, 3);
}

TEST(order_and_offsets_exact) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        usec_t now = T0;

        /* Many providers, nothing stale, only rank filters: every offset of the full list
         * and of each country against the reference. */
        ASSERT_OK(discovery_index_new(&x));
        memset(refs, 0, sizeof(refs));
        n_refs = 400;
        for (size_t i = 0; i < n_refs; i++)
                put(x, i, now += 1);
        for (uint64_t offset = 0; offset <= n_refs; offset += 7)
                for (uint64_t limit = 1; limit <= 50; limit += 12) {
                        AdvertisementQuery q = { .limit = limit, .offset = offset };

                        check_query(x, &q, now - TTL);
                        snprintf(q.country, sizeof(q.country), "SE");
                        check_query(x, &q, now - TTL);
                        q.cpu = 3;
                        check_query(x, &q, now - TTL);
                        q.verified_only = true;
                        check_query(x, &q, now - TTL);
                }
}

TEST(cache_invalidated_by_writes) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        AdvertisementQuery q = { .limit = QUERY_LIMIT_DEFAULT, .country = "SE" };
        const char *got;
        uint64_t g;
        size_t size;
        usec_t now = T0;

        ASSERT_OK(discovery_index_new(&x));
        memset(refs, 0, sizeof(refs));
        n_refs = 400;
        put(x, 1, now);
        snprintf(refs[1].country, sizeof(refs[1].country), "SE");
        {
                StoredAdvertisement a = stored(&refs[1]);
                ASSERT_OK(discovery_index_put(x, &a));
        }
        check_query(x, &q, now - TTL);
        check_query(x, &q, now - TTL);

        /* A put changes the answer of the same query. */
        g = discovery_index_generation(x);
        snprintf(refs[1].document, sizeof(refs[1].document), "{\"id\":\"p001\",\"changed\":true}");
        refs[1].updated_at = now + 1;
        {
                StoredAdvertisement a = stored(&refs[1]);
                ASSERT_OK(discovery_index_put(x, &a));
        }
        ASSERT_TRUE(discovery_index_generation(x) > g);
        ASSERT_OK(discovery_index_query(x, &q, now - TTL, &got, &size));
        ASSERT_STREQ(got, "[{\"id\":\"p001\",\"changed\":true}]");

        /* An older row than the one held is ignored (a follower's stale copy). */
        refs[1].updated_at = now;
        {
                StoredAdvertisement a = stored(&refs[1]);
                a.document = "{\"stale\":1}";
                a.document_size = strlen(a.document);
                ASSERT_OK(discovery_index_put(x, &a));
        }
        ASSERT_OK(discovery_index_query(x, &q, now - TTL, &got, &size));
        ASSERT_STREQ(got, "[{\"id\":\"p001\",\"changed\":true}]");

        /* So do a remove and an expiry. */
        ASSERT_OK(discovery_index_remove(x, "p001"));
        ASSERT_OK(discovery_index_query(x, &q, now - TTL, &got, &size));
        ASSERT_STREQ(got, "[]");
        refs[1].present = false;
        put(x, 2, now);
        refs[2].updated_at = now;
        snprintf(refs[2].country, sizeof(refs[2].country), "SE");
        {
                StoredAdvertisement a = stored(&refs[2]);
                ASSERT_OK(discovery_index_put(x, &a));
        }
        check_query(x, &q, now - TTL);
        /* Stale by time alone: gone from the answer before the sweep... */
        ASSERT_OK(discovery_index_query(x, &q, now + 1, &got, &size));
        ASSERT_STREQ(got, "[]");
        ASSERT_EQ_UINT(discovery_index_expire(x, now + 1, 10), 1);
        ASSERT_OK(discovery_index_query(x, &q, now + 1, &got, &size));
        ASSERT_STREQ(got, "[]");
        ASSERT_EQ_UINT(discovery_index_count(x), 0);
}

TEST(bad_country) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        StoredAdvertisement a = {
                .provider_id = "p", .country = "se", .cpu = 1, .memory = 1, .storage = 1,
                .document = "{}", .document_size = 2,
        };

        ASSERT_OK(discovery_index_new(&x));
        ASSERT_ERROR(discovery_index_put(x, &a), EINVAL);
        a.country = "S";
        ASSERT_ERROR(discovery_index_put(x, &a), EINVAL);
        a.country = "SE";
        ASSERT_OK(discovery_index_put(x, &a));
        ASSERT_EQ_UINT(discovery_index_count(x), 1);
}

/* A shared store echoes this instance's own writes (NOTIFY, then each catch-up): the row held,
 * put again, changes nothing: not the generation, not its place on the expiry list. */
TEST(echo_is_a_no_op) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        StoredAdvertisement a = {
                .provider_id = "a", .country = "SE", .cpu = 1, .memory = 1, .storage = 1,
                .created_at = 1000, .updated_at = 1000, .document = "{\"a\":1}", .document_size = 7,
        }, b = a;
        uint64_t g;

        b.provider_id = "b";
        b.updated_at = 2000;
        ASSERT_OK(discovery_index_new(&x));
        ASSERT_OK(discovery_index_put(x, &a));
        ASSERT_OK(discovery_index_put(x, &b));
        g = discovery_index_generation(x);
        ASSERT_OK(discovery_index_put(x, &a));
        ASSERT_EQ_UINT(discovery_index_generation(x), g);
        ASSERT_EQ_UINT(discovery_index_count(x), 2);
        /* a is still the oldest: it alone expires before 2000. */
        ASSERT_EQ_UINT(discovery_index_expire(x, 1500, 10), 1);
        ASSERT_EQ_UINT(discovery_index_count(x), 1);
        ASSERT_ERROR(discovery_index_remove(x, "a"), ENOENT);

        /* The same time with another document is another write (two instances in one
         * microsecond): taken. */
        b.document = "{\"b\":2}";
        ASSERT_OK(discovery_index_put(x, &b));
        ASSERT_TRUE(discovery_index_generation(x) > g);
}

/* Another instance's DELETE, told after a newer write of the same provider: the write stays. */
TEST(remove_before) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        StoredAdvertisement a = {
                .provider_id = "p", .country = "SE", .cpu = 1, .memory = 1, .storage = 1,
                .created_at = 1000, .updated_at = 2000, .document = "{}", .document_size = 2,
        };
        const char *d;
        size_t size;

        ASSERT_OK(discovery_index_new(&x));
        ASSERT_OK(discovery_index_put(x, &a));
        ASSERT_EQ_INT(discovery_index_remove_before(x, "p", 1999), 0);
        ASSERT_OK(discovery_index_get(x, "p", 0, &d, &size));
        ASSERT_EQ_INT(discovery_index_remove_before(x, "p", 2000), 1);
        ASSERT_ERROR(discovery_index_get(x, "p", 0, &d, &size), ENOENT);
        ASSERT_ERROR(discovery_index_remove_before(x, "p", 3000), ENOENT);
        ASSERT_EQ_UINT(discovery_index_count(x), 0);
}

TEST(many_resize) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        AdvertisementQuery q = { .limit = 3, .offset = 49997 };
        const char *got;
        size_t size;

        /* Enough for several incremental doublings of the table; every id found throughout. */
        ASSERT_OK(discovery_index_new(&x));
        for (unsigned i = 0; i < 50000; i++) {
                char id[24], doc[32];
                StoredAdvertisement a = {
                        .provider_id = id, .country = "SE", .cpu = 1, .memory = 1, .storage = 1,
                        .document = doc, .updated_at = T0 + i,
                };

                snprintf(id, sizeof(id), "m%05u", i);
                a.document_size = (size_t) snprintf(doc, sizeof(doc), "%u", i);
                ASSERT_OK(discovery_index_put(x, &a));
                if (i % 997 == 0)
                        for (unsigned j = 0; j <= i; j += 101) {
                                snprintf(id, sizeof(id), "m%05u", j);
                                ASSERT_OK(discovery_index_get(x, id, 0, &got, &size));
                        }
        }
        ASSERT_OK(discovery_index_query(x, &q, 0, &got, &size));
        ASSERT_STREQ(got, "[49997,49998,49999]");
        ASSERT_EQ_UINT(discovery_index_expire(x, T0 + 49990, SIZE_MAX), 49990);
        q.offset = 0;
        ASSERT_OK(discovery_index_query(x, &q, 0, &got, &size));
        ASSERT_STREQ(got, "[49990,49991,49992]");
}
