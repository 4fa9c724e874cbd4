/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "discovery-index.h"
#include "ratelimit.h"

/* How the index is laid out, and why.
 *
 * Order and paging: two order-statistic trees (treaps whose nodes count their subtree) hold
 * every advertisement in the API's order: one of all of them, and one per country (a query
 * names a country more often than anything else). Within a tree the verified ones form a
 * prefix, and within each verified group a cpu minimum is again a prefix (cpu descending), so
 * a query whose filters are at most country, cpu and verified is one or two ranges of ranks:
 * their bounds are found by rank in O(log n), the offset-th match by selection in O(log n),
 * and the answer costs O(log n + limit) whatever the offset. This is what full-list paging
 * (limit/offset) needs: it does not get slower with the offset. A counted skip list would do
 * the same with more memory per node (several forward pointers and widths); one tree per
 * combination of filters would multiply the memory. Treap priorities are random: expected
 * depth ~2 ln n (28 at 10^6).
 *
 * Memory, storage and platform minimums cut no prefix: such a query walks the ranges above in
 * order, and would visit every node that does not match (a client can ask for a memory only
 * a few hold, at 10^6 advertisements). So each node also keeps, like its size, what its subtree
 * holds at most: the largest memory, the largest storage, and a mask of its platforms (each
 * platform hashed with the index's seed to one of 64 bits, so that no one can pick names that
 * collide with a given one). The walk does not go into a subtree whose largest memory or
 * storage is below the minimums or whose mask lacks the platform's bit: what it visits is the
 * paths to the matches (and to the bounds of the ranges), O((k + 1) log n) for k matches, not
 * what they skip. A shared bit is only a hint: every entry is still compared. The offset of
 * such a query is not a rank: the matches it skips are visited (O((offset + limit + 1) log n)),
 * and only queries without these filters page by rank in O(log n + limit).
 *
 * Lookup by provider_id: a chained hash table, keyed with a random seed (ids come from
 * outside), that doubles incrementally: while an old table is still live, each operation
 * moves a few of its buckets, so no write ever rehashes a million entries at once.
 *
 * Expiry: every advertisement is on a list ordered by updated_at (a write moves it to the
 * tail, being the newest), so the stale ones are at the head and leave in bounded steps.
 *
 * Memory, about 200 bytes per advertisement besides its id and document (~300 bytes; the
 * subtree maximums and masks are 48 of them, 24 per tree): ~500 MB for a million. */

#define HASH_STEP_BUCKETS 8          /* old buckets moved per operation while resizing */
#define CACHE_SLOTS 8                /* answers kept per generation */
#define CACHE_ANSWER_MAX (1U << 20)  /* larger answers are not kept */
#define ITER_DEPTH_MAX 128           /* a treap of 10^6 nodes is ~50 deep at most, in practice */
#define COUNTRIES (26 * 26)

typedef struct Node {
        struct Node *left, *right;
        uint32_t priority, size;
        /* Of the subtree: the largest memory and storage, and the platforms' bits. */
        int64_t max_memory, max_storage;
        uint64_t platforms;
} Node;

#define PLATFORM_BIT_NONE UINT8_MAX

typedef struct Entry {
        /* What a walk down a tree reads of each node, together: fewer cache lines per node. */
        Node by_all, by_country;
        int64_t cpu, memory, storage;
        bool verified;
        uint8_t platform_bit; /* platform's (platform_bit()), or PLATFORM_BIT_NONE */
        uint16_t country_index; /* of its tree in countries[] */
        char country[3];

        struct Entry *hash_next;
        struct Entry *older, *newer; /* the expiry list */
        uint64_t hash;
        usec_t created_at, updated_at;
        const char *platform; /* NULL or in data */
        const char *document; /* in data */
        size_t document_size;
        char provider_id[]; /* then the platform and the document */
} Entry;

typedef struct Table {
        Entry **buckets;
        size_t mask;
} Table;

typedef struct CacheSlot {
        AdvertisementQuery query;
        uint64_t generation;
        char *data;
        size_t size;
} CacheSlot;

typedef struct Buffer {
        char *data;
        size_t size, allocated;
} Buffer;

struct DiscoveryIndex {
        Table table, old; /* old.buckets != NULL while resizing */
        size_t rehash_next; /* the first old bucket not moved yet */
        uint64_t seed, random;

        Node *all, *countries[COUNTRIES];
        Entry *oldest, *newest;
        uint64_t n, n_verified, generation;

        CacheSlot cache[CACHE_SLOTS];
        unsigned cache_next;
        Buffer scratch; /* an answer not kept in the cache */
};

/* The sort key; provider_id NULL sorts before every id (a probe for rank bounds). */
typedef struct Key {
        bool verified;
        int64_t cpu, memory, storage;
        const char *provider_id;
} Key;

static Key entry_key(const Entry *e) {
        return (Key) { e->verified, e->cpu, e->memory, e->storage, e->provider_id };
}

static int cmp_desc(int64_t a, int64_t b) {
        return a > b ? -1 : a < b ? 1 : 0;
}

/* < 0 when a comes before b in the API's order. */
static int key_cmp(const Key *a, const Key *b) {
        int c;

        if (a->verified != b->verified)
                return a->verified ? -1 : 1;
        c = cmp_desc(a->cpu, b->cpu);
        if (c == 0)
                c = cmp_desc(a->memory, b->memory);
        if (c == 0)
                c = cmp_desc(a->storage, b->storage);
        if (c != 0)
                return c;
        if (!a->provider_id || !b->provider_id)
                return !a->provider_id ? (b->provider_id ? -1 : 0) : 1;
        return strcmp(a->provider_id, b->provider_id);
}

/* The tree a node offset belongs to: by_all or by_country. */
static Entry *node_entry(const Node *n, size_t offset) {
        return (Entry *) ((char *) n - offset);
}

static uint32_t node_size(const Node *n) {
        return n ? n->size : 0;
}

static uint64_t entry_platforms(const Entry *e) {
        return e->platform_bit != PLATFORM_BIT_NONE ? UINT64_C(1) << e->platform_bit : 0;
}

/* Recomputes what n keeps of its subtree from its children's. */
static void node_update(Node *n, size_t offset) {
        const Entry *e = node_entry(n, offset);
        const Node *children[2] = { n->left, n->right };

        n->size = 1;
        n->max_memory = e->memory;
        n->max_storage = e->storage;
        n->platforms = entry_platforms(e);
        for (size_t i = 0; i < ELEMENTSOF(children); i++) {
                const Node *c = children[i];

                if (!c)
                        continue;
                n->size += c->size;
                n->max_memory = MAX(n->max_memory, c->max_memory);
                n->max_storage = MAX(n->max_storage, c->max_storage);
                n->platforms |= c->platforms;
        }
}

/* Counts e into what n keeps of its subtree: one more below it, without reading the other
 * children (a cache miss each, at 10^6). */
static void node_add(Node *n, const Entry *e) {
        n->size++;
        n->max_memory = MAX(n->max_memory, e->memory);
        n->max_storage = MAX(n->max_storage, e->storage);
        n->platforms |= entry_platforms(e);
}

/* Splits t into the nodes before key (*l) and the others (*r). */
static void treap_split(Node *t, const Key *key, size_t offset, Node **l, Node **r) {
        if (!t) {
                *l = *r = NULL;
                return;
        }
        Key k = entry_key(node_entry(t, offset));
        if (key_cmp(&k, key) < 0) {
                treap_split(t->right, key, offset, &t->right, r);
                *l = t;
        } else {
                treap_split(t->left, key, offset, l, &t->left);
                *r = t;
        }
        node_update(t, offset);
}

static Node *treap_insert(Node *t, Node *n, const Key *key, size_t offset) {
        if (!t)
                return n;
        if (n->priority > t->priority) {
                treap_split(t, key, offset, &n->left, &n->right);
                node_update(n, offset);
                return n;
        }
        Key k = entry_key(node_entry(t, offset));
        if (key_cmp(key, &k) < 0)
                t->left = treap_insert(t->left, n, key, offset);
        else
                t->right = treap_insert(t->right, n, key, offset);
        node_add(t, node_entry(n, offset));
        return t;
}

static Node *treap_merge(Node *a, Node *b, size_t offset) {
        if (!a)
                return b;
        if (!b)
                return a;
        if (a->priority > b->priority) {
                a->right = treap_merge(a->right, b, offset);
                node_update(a, offset);
                return a;
        }
        b->left = treap_merge(a, b->left, offset);
        node_update(b, offset);
        return b;
}

static Node *treap_erase(Node *t, Node *n, const Key *key, size_t offset) {
        if (!t)
                return NULL;
        if (t == n)
                return treap_merge(t->left, t->right, offset);
        Key k = entry_key(node_entry(t, offset));
        if (key_cmp(key, &k) < 0)
                t->left = treap_erase(t->left, n, key, offset);
        else
                t->right = treap_erase(t->right, n, key, offset);
        node_update(t, offset);
        return t;
}

/* How many nodes come before key. */
static uint64_t treap_rank(const Node *t, const Key *key, size_t offset) {
        uint64_t rank = 0;

        while (t) {
                Key k = entry_key(node_entry(t, offset));
                if (key_cmp(&k, key) < 0) {
                        rank += node_size(t->left) + 1;
                        t = t->right;
                } else
                        t = t->left;
        }
        return rank;
}

/* The subtrees a walk goes into: those that may hold an entry with at least this memory and
 * storage and (platform not 0) this platform bit. */
typedef struct Prune {
        int64_t memory, storage;
        uint64_t platform;
} Prune;

#define PRUNE_NONE ((Prune) { INT64_MIN, INT64_MIN, 0 })

static bool subtree_may_match(const Node *n, const Prune *p) {
        return n->max_memory >= p->memory && n->max_storage >= p->storage &&
               (n->platforms & p->platform) == p->platform;
}

/* An in-order walk from a rank, past the subtrees that cannot match: the path's nodes still to
 * visit, with their ranks. */
typedef struct Iter {
        const Node *stack[ITER_DEPTH_MAX];
        uint64_t ranks[ITER_DEPTH_MAX];
        unsigned depth;
        size_t offset;
        Prune prune;
} Iter;

static int iter_push(Iter *it, const Node *n, uint64_t rank) {
        if (it->depth >= ITER_DEPTH_MAX)
                return -ELOOP; /* a treap this deep is a ~2^-100 event */
        it->stack[it->depth] = n;
        it->ranks[it->depth++] = rank;
        return 0;
}

/* Positions it at the rank-th node (0-based), or the first after it in a subtree that may
 * match; empty past the end. */
static int iter_seek(Iter *it, const Node *t, uint64_t rank, size_t offset, const Prune *prune) {
        uint64_t base = 0;
        int r;

        it->depth = 0;
        it->offset = offset;
        it->prune = *prune;
        while (t && subtree_may_match(t, prune)) {
                uint64_t l = node_size(t->left);

                if (rank < l) {
                        r = iter_push(it, t, base + l);
                        if (r < 0)
                                return r;
                        t = t->left;
                } else if (rank == l)
                        return iter_push(it, t, base + l);
                else {
                        rank -= l + 1;
                        base += l + 1;
                        t = t->right;
                }
        }
        return 0;
}

/* The current entry and its rank, and a step to the next; NULL at the end. */
static int iter_next(Iter *it, const Entry **ret, uint64_t *ret_rank) {
        const Node *n;
        uint64_t base;
        int r;

        if (it->depth == 0) {
                *ret = NULL;
                return 0;
        }
        n = it->stack[--it->depth];
        *ret_rank = it->ranks[it->depth];
        *ret = node_entry(n, it->offset);
        base = *ret_rank + 1;
        for (const Node *c = n->right; c && subtree_may_match(c, &it->prune); c = c->left) {
                r = iter_push(it, c, base + node_size(c->left));
                if (r < 0)
                        return r;
        }
        return 0;
}

static uint64_t next_random(DiscoveryIndex *x) {
        /* xorshift64*: tree shapes only, nothing secret. */
        x->random ^= x->random >> 12;
        x->random ^= x->random << 25;
        x->random ^= x->random >> 27;
        return x->random * 0x2545F4914F6CDD1DULL;
}

static int country_slot(const char *country) {
        if (country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' || country[1] > 'Z' || country[2] != 0)
                return -EINVAL;
        return (country[0] - 'A') * 26 + (country[1] - 'A');
}

static int table_alloc(Table *t, size_t n) {
        t->buckets = calloc(n, sizeof(Entry *));
        if (!t->buckets)
                return -ENOMEM;
        t->mask = n - 1;
        return 0;
}

int discovery_index_new(DiscoveryIndex **ret) {
        _cleanup_(discovery_index_freep) DiscoveryIndex *x = NULL;
        int r;

        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        r = table_alloc(&x->table, 1024);
        if (r < 0)
                return r;
        if (getrandom(&x->seed, sizeof(x->seed), 0) != sizeof(x->seed) ||
            getrandom(&x->random, sizeof(x->random), 0) != sizeof(x->random))
                return -errno;
        x->random |= 1;
        *ret = TAKE_PTR(x);
        return 0;
}

DiscoveryIndex *discovery_index_free(DiscoveryIndex *x) {
        if (!x)
                return NULL;
        for (Entry *e = x->oldest, *next; e; e = next) {
                next = e->newer;
                free(e);
        }
        free(x->table.buckets);
        free(x->old.buckets);
        for (size_t i = 0; i < CACHE_SLOTS; i++)
                free(x->cache[i].data);
        free(x->scratch.data);
        free(x);
        return NULL;
}

static uint64_t id_hash(const DiscoveryIndex *x, const char *provider_id) {
        return client_key_hash(x->seed, (const uint8_t *) provider_id, strlen(provider_id));
}

/* Moves up to max buckets of the old table into the new one; frees it when it is empty. */
static void rehash_step(DiscoveryIndex *x, size_t max) {
        if (!x->old.buckets)
                return;
        for (; max > 0 && x->rehash_next <= x->old.mask; max--, x->rehash_next++)
                for (Entry *e = x->old.buckets[x->rehash_next], *next; e; e = next) {
                        Entry **b = &x->table.buckets[e->hash & x->table.mask];

                        next = e->hash_next;
                        e->hash_next = *b;
                        *b = e;
                }
        if (x->rehash_next > x->old.mask) {
                x->old.buckets = mfree(x->old.buckets);
                x->rehash_next = 0;
        }
}

/* The link pointing at provider_id's entry, or NULL. */
static Entry **find_link(DiscoveryIndex *x, const char *provider_id, uint64_t hash) {
        Table *tables[2] = { &x->table, &x->old };

        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                if (!tables[i]->buckets)
                        continue;
                for (Entry **l = &tables[i]->buckets[hash & tables[i]->mask]; *l; l = &(*l)->hash_next)
                        if ((*l)->hash == hash && streq((*l)->provider_id, provider_id))
                                return l;
        }
        return NULL;
}

static Entry *find(DiscoveryIndex *x, const char *provider_id) {
        Entry **l = find_link(x, provider_id, id_hash(x, provider_id));

        return l ? *l : NULL;
}

static void hash_add(DiscoveryIndex *x, Entry *e) {
        Entry **b = &x->table.buckets[e->hash & x->table.mask];

        e->hash_next = *b;
        *b = e;
}

/* One bucket per entry at most; past that, a table twice the size, filled as we go. */
static int hash_grow(DiscoveryIndex *x) {
        Table t;
        int r;

        if (x->old.buckets || x->n < x->table.mask + 1)
                return 0;
        r = table_alloc(&t, (x->table.mask + 1) * 2);
        if (r < 0)
                return r;
        x->old = x->table;
        x->table = t;
        x->rehash_next = 0;
        return 0;
}

static void list_remove(DiscoveryIndex *x, Entry *e) {
        if (e->older)
                e->older->newer = e->newer;
        else
                x->oldest = e->newer;
        if (e->newer)
                e->newer->older = e->older;
        else
                x->newest = e->older;
}

static void unlink_entry(DiscoveryIndex *x, Entry *e) {
        Entry **l = find_link(x, e->provider_id, e->hash);
        Key k = entry_key(e);

        *l = e->hash_next;
        x->all = treap_erase(x->all, &e->by_all, &k, offsetof(Entry, by_all));
        x->countries[e->country_index] =
                treap_erase(x->countries[e->country_index], &e->by_country, &k, offsetof(Entry, by_country));
        list_remove(x, e);
        x->n--;
        x->n_verified -= e->verified;
        x->generation++;
}

/* Entries are on the expiry list in updated_at order: a write is the newest as a rule; one
 * older than the newest (followed out of order) goes back to its place, a short walk. Rows
 * loaded at start come in updated_at order (the store's index on it), or this is quadratic. */
static void list_insert(DiscoveryIndex *x, Entry *e) {
        Entry *after = x->newest;

        if (x->oldest && x->oldest->updated_at > e->updated_at)
                after = NULL;
        while (after && after->updated_at > e->updated_at)
                after = after->older;
        e->older = after;
        e->newer = after ? after->newer : x->oldest;
        if (e->newer)
                e->newer->older = e;
        else
                x->newest = e;
        if (after)
                after->newer = e;
        else
                x->oldest = e;
}

static size_t entry_size(const StoredAdvertisement *a) {
        return offsetof(Entry, provider_id) + strlen(a->provider_id) + 1 +
               (a->platform ? strlen(a->platform) + 1 : 0) + a->document_size + 1;
}

/* Writes a's values and strings into e, which has room for entry_size(a); its places in the
 * trees, the table and the list are left alone. */
static void entry_set(Entry *e, const StoredAdvertisement *a) {
        size_t offset = strlen(a->provider_id) + 1;

        e->cpu = a->cpu;
        e->memory = a->memory;
        e->storage = a->storage;
        e->created_at = a->created_at;
        e->updated_at = a->updated_at;
        e->verified = a->verified;
        memcpy(e->country, a->country, sizeof(e->country));
        memmove(e->provider_id, a->provider_id, offset);
        e->platform = NULL;
        if (a->platform) {
                e->platform = e->provider_id + offset;
                memcpy(e->provider_id + offset, a->platform, strlen(a->platform) + 1);
                offset += strlen(a->platform) + 1;
        }
        e->document = e->provider_id + offset;
        e->document_size = a->document_size;
        memcpy(e->provider_id + offset, a->document, a->document_size);
        e->provider_id[offset + a->document_size] = 0;
}

/* Whether a sorts where e does, in the same trees, and leaves what the nodes on its paths keep
 * of their subtrees as it is. */
static bool same_place(const Entry *e, const StoredAdvertisement *a) {
        return e->verified == a->verified && e->cpu == a->cpu && e->memory == a->memory &&
               e->storage == a->storage && streq(e->country, a->country) && streq_ptr(e->platform, a->platform);
}

/* The bit of platform in the nodes' masks. */
static unsigned platform_bit(const DiscoveryIndex *x, const char *platform) {
        return (unsigned) (client_key_hash(x->seed, (const uint8_t *) platform, strlen(platform)) & 63);
}

int discovery_index_put(DiscoveryIndex *x, const StoredAdvertisement *a) {
        Entry *e, *old;
        int country, r;
        Key k;

        country = country_slot(a->country);
        if (country < 0)
                return country;

        rehash_step(x, HASH_STEP_BUCKETS);
        old = find(x, a->provider_id);
        if (old && old->updated_at > a->updated_at)
                return 0;
        /* The same write again (a shared store echoes this instance's own writes, and each
         * catch-up reads them once more): nothing to do. Re-inserting it would walk the
         * expiry list back from the newest entry to its place, once per echoed row. */
        if (old && old->updated_at == a->updated_at && same_place(old, a) &&
            old->document_size == a->document_size && memcmp(old->document, a->document, a->document_size) == 0)
                return 0;

        /* A heartbeat: the same resources and platform, a new document. Rewritten in place,
         * nothing moves but its place on the expiry list. */
        if (old && same_place(old, a) && entry_size(a) <= malloc_usable_size(old)) {
                entry_set(old, a);
                list_remove(x, old);
                list_insert(x, old);
                x->generation++;
                return 0;
        }

        e = malloc(entry_size(a));
        if (!e)
                return -ENOMEM;
        entry_set(e, a);
        e->hash = id_hash(x, e->provider_id);
        e->country_index = (uint16_t) country;
        e->platform_bit = e->platform ? (uint8_t) platform_bit(x, e->platform) : PLATFORM_BIT_NONE;
        e->by_all = e->by_country = (Node) { .priority = (uint32_t) next_random(x) };
        node_update(&e->by_all, offsetof(Entry, by_all));
        node_update(&e->by_country, offsetof(Entry, by_country));

        if (old) {
                unlink_entry(x, old);
                free(old);
        } else {
                r = hash_grow(x);
                if (r < 0) {
                        free(e);
                        return r;
                }
        }

        k = entry_key(e);
        hash_add(x, e);
        x->all = treap_insert(x->all, &e->by_all, &k, offsetof(Entry, by_all));
        x->countries[country] = treap_insert(x->countries[country], &e->by_country, &k, offsetof(Entry, by_country));
        list_insert(x, e);
        x->n++;
        x->n_verified += e->verified;
        x->generation++;
        return 0;
}

int discovery_index_remove_before(DiscoveryIndex *x, const char *provider_id, usec_t removed_at) {
        Entry *e;

        rehash_step(x, HASH_STEP_BUCKETS);
        e = find(x, provider_id);
        if (!e)
                return -ENOENT;
        if (e->updated_at > removed_at)
                return 0; /* written again since */
        unlink_entry(x, e);
        free(e);
        return 1;
}

int discovery_index_remove(DiscoveryIndex *x, const char *provider_id) {
        int r = discovery_index_remove_before(x, provider_id, USEC_INFINITY);

        return r < 0 ? r : 0;
}

static const Entry *find_fresh(DiscoveryIndex *x, const char *provider_id, usec_t fresh_after) {
        const Entry *e;

        rehash_step(x, HASH_STEP_BUCKETS);
        e = find(x, provider_id);
        return e && e->updated_at >= fresh_after ? e : NULL;
}

int discovery_index_created_at(DiscoveryIndex *x, const char *provider_id, usec_t fresh_after, usec_t *ret) {
        const Entry *e = find_fresh(x, provider_id, fresh_after);

        if (!e)
                return -ENOENT;
        *ret = e->created_at;
        return 0;
}

int discovery_index_get(DiscoveryIndex *x, const char *provider_id, usec_t fresh_after,
                        const char **ret_document, size_t *ret_size) {
        const Entry *e = find_fresh(x, provider_id, fresh_after);

        if (!e)
                return -ENOENT;
        *ret_document = e->document;
        *ret_size = e->document_size;
        return 0;
}

bool discovery_index_has_stale(const DiscoveryIndex *x, usec_t fresh_after) {
        return x->oldest && x->oldest->updated_at < fresh_after;
}

size_t discovery_index_expire(DiscoveryIndex *x, usec_t fresh_after, size_t max) {
        size_t n = 0;

        for (; n < max && discovery_index_has_stale(x, fresh_after); n++) {
                Entry *e = x->oldest;

                unlink_entry(x, e);
                free(e);
        }
        rehash_step(x, HASH_STEP_BUCKETS);
        return n;
}

uint64_t discovery_index_count(const DiscoveryIndex *x) {
        return x->n;
}

uint64_t discovery_index_count_verified(const DiscoveryIndex *x) {
        return x->n_verified;
}

uint64_t discovery_index_generation(const DiscoveryIndex *x) {
        return x->generation;
}

/* Checks the subtree t against a recount (into *ret) and its keys against the previous one in
 * order (*prev, NULL before the first); the nodes' entries must be in tree country (or any, -1). */
static int verify_subtree(const DiscoveryIndex *x, const Node *t, size_t offset, int country, const Node **prev,
                          Node *ret) {
        Node left = { .max_memory = INT64_MIN, .max_storage = INT64_MIN }, right = left, want;
        const Entry *e = node_entry(t, offset);
        Key k = entry_key(e);
        int r;

        if ((t->left && t->left->priority > t->priority) || (t->right && t->right->priority > t->priority))
                return -EUCLEAN;
        if (t->left) {
                r = verify_subtree(x, t->left, offset, country, prev, &left);
                if (r < 0)
                        return r;
        }
        if (*prev) {
                Key p = entry_key(node_entry(*prev, offset));

                if (key_cmp(&p, &k) >= 0)
                        return -EUCLEAN;
        }
        *prev = t;
        if (country >= 0 && e->country_index != country)
                return -EUCLEAN;
        if (e->platform_bit != (e->platform ? platform_bit(x, e->platform) : PLATFORM_BIT_NONE))
                return -EUCLEAN;
        if (t->right) {
                r = verify_subtree(x, t->right, offset, country, prev, &right);
                if (r < 0)
                        return r;
        }

        /* The recount, from the children's recounts. */
        want = (Node) {
                .size = 1 + left.size + right.size,
                .max_memory = MAX(e->memory, MAX(left.max_memory, right.max_memory)),
                .max_storage = MAX(e->storage, MAX(left.max_storage, right.max_storage)),
                .platforms = entry_platforms(e) | left.platforms | right.platforms,
        };
        if (t->size != want.size || t->max_memory != want.max_memory || t->max_storage != want.max_storage ||
            t->platforms != want.platforms)
                return -EUCLEAN;
        *ret = want;
        return 0;
}

int discovery_index_verify(const DiscoveryIndex *x) {
        uint64_t n = 0;
        int r;

        for (int c = -1; c < COUNTRIES; c++) {
                const Node *t = c < 0 ? x->all : x->countries[c], *prev = NULL;
                Node sum;

                if (!t)
                        continue;
                r = verify_subtree(x, t, c < 0 ? offsetof(Entry, by_all) : offsetof(Entry, by_country), c, &prev, &sum);
                if (r < 0)
                        return r;
                if (c < 0 && sum.size != x->n)
                        return -EUCLEAN;
                if (c >= 0)
                        n += sum.size;
        }
        if (n != x->n || (x->n > 0) != !!x->all)
                return -EUCLEAN;
        return 0;
}

static int buffer_append(Buffer *b, const char *s, size_t n) {
        if (b->size + n + 1 > b->allocated) {
                size_t a = MAX(b->allocated * 2, b->size + n + 1);
                char *d = realloc(b->data, a);

                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = 0;
        return 0;
}

static bool query_equal(const AdvertisementQuery *a, const AdvertisementQuery *b) {
        return a->cpu == b->cpu && a->memory == b->memory && a->storage == b->storage &&
               streq(a->country, b->country) && streq(a->platform, b->platform) &&
               a->verified_only == b->verified_only && a->limit == b->limit && a->offset == b->offset;
}

/* What the rank ranges do not check. */
static bool entry_matches(const Entry *e, const AdvertisementQuery *q, usec_t fresh_after) {
        return e->updated_at >= fresh_after && e->memory >= q->memory && e->storage >= q->storage &&
               (!q->platform[0] || (e->platform && streq(e->platform, q->platform)));
}

typedef struct Range {
        uint64_t begin, end; /* ranks */
} Range;

/* The ranks of group verified (of tree t) whose cpu is at least q->cpu. */
static Range group_range(const Node *t, bool verified, int64_t cpu, size_t offset) {
        Key begin = { verified, INT64_MAX, INT64_MAX, INT64_MAX, NULL };
        Range r = { .begin = treap_rank(t, &begin, offset) };

        if (cpu > 0) {
                Key end = { verified, cpu - 1, INT64_MAX, INT64_MAX, NULL };
                r.end = treap_rank(t, &end, offset);
        } else if (verified) {
                Key end = { false, INT64_MAX, INT64_MAX, INT64_MAX, NULL };
                r.end = treap_rank(t, &end, offset);
        } else
                r.end = node_size(t);
        return r;
}

static int append_entry(Buffer *b, const Entry *e, bool first) {
        int r = 0;

        if (!first)
                r = buffer_append(b, ",", 1);
        if (r >= 0)
                r = buffer_append(b, e->document, e->document_size);
        return r;
}

static int run_query(DiscoveryIndex *x, const AdvertisementQuery *q, usec_t fresh_after, Buffer *b) {
        size_t offset = q->country[0] ? offsetof(Entry, by_country) : offsetof(Entry, by_all);
        const Node *t = x->all;
        uint64_t skip = q->offset, left = MIN(q->limit, (uint64_t) QUERY_LIMIT_MAX), n = 0;
        Range ranges[2];
        Prune prune = PRUNE_NONE;
        bool exact;
        int r;

        if (q->country[0]) {
                int c = country_slot(q->country);

                if (c < 0)
                        return c;
                t = x->countries[c];
        }

        ranges[0] = group_range(t, true, q->cpu, offset);
        ranges[1] = q->verified_only ? (Range) {} : group_range(t, false, q->cpu, offset);
        /* Every node of the ranges matches: the offset is a rank. */
        exact = q->memory <= 0 && q->storage <= 0 && !q->platform[0] && !discovery_index_has_stale(x, fresh_after);
        if (!exact)
                prune = (Prune) {
                        .memory = q->memory,
                        .storage = q->storage,
                        .platform = q->platform[0] ? UINT64_C(1) << platform_bit(x, q->platform) : 0,
                };

        r = buffer_append(b, "[", 1);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(ranges) && left > 0; i++) {
                uint64_t rank = ranges[i].begin;
                Iter it;

                if (exact) {
                        uint64_t size = ranges[i].end - ranges[i].begin;

                        if (skip >= size) {
                                skip -= size;
                                continue;
                        }
                        rank += skip;
                        skip = 0;
                }
                r = iter_seek(&it, t, rank, offset, &prune);
                if (r < 0)
                        return r;
                while (left > 0) {
                        const Entry *e;

                        r = iter_next(&it, &e, &rank);
                        if (r < 0)
                                return r;
                        if (!e || rank >= ranges[i].end)
                                break;
                        if (!exact && !entry_matches(e, q, fresh_after))
                                continue;
                        if (skip > 0) {
                                skip--;
                                continue;
                        }
                        r = append_entry(b, e, n == 0);
                        if (r < 0)
                                return r;
                        n++;
                        left--;
                }
        }
        return buffer_append(b, "]", 1);
}

int discovery_index_query(DiscoveryIndex *x, const AdvertisementQuery *q, usec_t fresh_after,
                          const char **ret, size_t *ret_size) {
        /* A stale entry goes out of an answer by time, not by a write: only answers from an
         * index without one are kept. */
        bool cacheable = !discovery_index_has_stale(x, fresh_after);
        Buffer b = {};
        CacheSlot *slot;
        int r;

        if (cacheable)
                for (size_t i = 0; i < CACHE_SLOTS; i++) {
                        CacheSlot *c = x->cache + i;

                        if (c->data && c->generation == x->generation && query_equal(&c->query, q)) {
                                *ret = c->data;
                                *ret_size = c->size;
                                return 0;
                        }
                }

        /* The buffer of the last answer not kept, grown to the largest so far, is reused. */
        b = x->scratch;
        b.size = 0;
        x->scratch = (Buffer) {};
        r = run_query(x, q, fresh_after, &b);
        if (r < 0) {
                x->scratch = b;
                return r;
        }

        if (!cacheable || b.size > CACHE_ANSWER_MAX) {
                x->scratch = b;
                *ret = b.data;
                *ret_size = b.size;
                return 0;
        }

        slot = x->cache + x->cache_next;
        x->cache_next = (x->cache_next + 1) % CACHE_SLOTS;
        x->scratch = (Buffer) { .data = slot->data };
        x->scratch.allocated = slot->data ? slot->size + 1 : 0;
        *slot = (CacheSlot) {
                .query = *q,
                .generation = x->generation,
                .data = b.data,
                .size = b.size,
        };
        *ret = slot->data;
        *ret_size = slot->size;
        return 0;
}
