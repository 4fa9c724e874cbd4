/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "nonce-cache.h"

#define KEY_SIZE 16 /* bytes of a keyed SHA-256: no two nonces will ever share one */
#define SECRET_SIZE 16
/* The ring is made of segments of this many entries, allocated as the tail reaches them and
 * freed as the head leaves them: it never moves, so it never needs copying. */
#define SEGMENT_ENTRIES 4096
/* Old table slots moved into the new one per add while both are live. The old table has at
 * most 4 slots per entry it held, the new one room for as many entries again before it
 * doubles: 16 per add finishes well before. */
#define REHASH_STEP 16

typedef struct Entry {
        uint8_t key[KEY_SIZE];
        int64_t expires;
} Entry;

/* Open addressing, linear probing: 1 + position in the ring, 0 empty. */
typedef struct Table {
        uint32_t *slots;
        size_t mask;
} Table;

struct NonceCache {
        unsigned window;
        uint8_t secret[SECRET_SIZE];

        /* Positions run cyclically over [0, max): the oldest at head, count live. */
        Entry **segments;
        size_t n_segments, capacity, max, head, count;

        Table table;
        /* While resizing: the table before, read-only, its slots from rehash_next on not yet
         * moved. Its slots may point at positions that left (or were taken again since by
         * another nonce), so each is checked before it counts. */
        Table old;
        size_t rehash_next;
};

/* Slots for capacity entries: a power of two, at least twice as many (at most half full:
 * short probes). */
static size_t slots_for(size_t capacity) {
        size_t n = 16;

        while (n < capacity * 2)
                n <<= 1;
        return n;
}

static int table_alloc(Table *t, size_t capacity) {
        size_t n = slots_for(capacity);

        /* calloc of a large table maps zero pages: no time is spent clearing it. */
        t->slots = calloc(n, sizeof(uint32_t));
        if (!t->slots)
                return -ENOMEM;
        t->mask = n - 1;
        return 0;
}

int nonce_cache_new(size_t max_entries, unsigned window_sec, NonceCache **ret) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        int r;

        if (max_entries == 0 || max_entries > UINT32_MAX / 4 || window_sec == 0)
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->window = window_sec;
        c->max = max_entries;
        c->capacity = MIN(max_entries, (size_t) NONCE_CACHE_INITIAL);
        c->n_segments = (max_entries + SEGMENT_ENTRIES - 1) / SEGMENT_ENTRIES;
        c->segments = calloc(c->n_segments, sizeof(Entry *));
        if (!c->segments)
                return -ENOMEM;
        r = table_alloc(&c->table, c->capacity);
        if (r < 0)
                return r;
        if (getrandom(c->secret, sizeof(c->secret), 0) != sizeof(c->secret))
                return -errno;
        *ret = TAKE_PTR(c);
        return 0;
}

NonceCache *nonce_cache_free(NonceCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; c->segments && i < c->n_segments; i++)
                free(c->segments[i]);
        free(c->segments);
        free(c->table.slots);
        free(c->old.slots);
        explicit_bzero(c->secret, sizeof(c->secret));
        free(c);
        return NULL;
}

size_t nonce_cache_size(const NonceCache *c) {
        return c->count;
}

size_t nonce_cache_capacity(const NonceCache *c) {
        return c->capacity;
}

static int make_key(const NonceCache *c, const char *identity, const char *nonce, uint8_t key[static KEY_SIZE]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t digest[SHA256_DIGEST_LENGTH];
        int ok;

        if (!ctx)
                return -ENOMEM;
        /* The NUL between them keeps ("ab", "c") and ("a", "bc") apart. */
        ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, c->secret, sizeof(c->secret)) == 1 &&
             EVP_DigestUpdate(ctx, identity, strlen(identity) + 1) == 1 &&
             EVP_DigestUpdate(ctx, nonce, strlen(nonce)) == 1 &&
             EVP_DigestFinal_ex(ctx, digest, NULL) == 1;
        EVP_MD_CTX_free(ctx);
        if (!ok)
                return -ENOMEM;
        memcpy(key, digest, KEY_SIZE);
        return 0;
}

static Entry *entry_at(const NonceCache *c, size_t pos) {
        return c->segments[pos / SEGMENT_ENTRIES] + pos % SEGMENT_ENTRIES;
}

/* Whether pos holds a live entry (is within [head, head + count) cyclically). */
static bool live(const NonceCache *c, size_t pos) {
        return (pos + c->max - c->head) % c->max < c->count;
}

static size_t home_slot(const Table *t, const uint8_t key[static KEY_SIZE]) {
        uint64_t h;

        memcpy(&h, key, sizeof(h));
        return (size_t) h & t->mask;
}

/* The slot of t holding key, or the empty slot where it would go. check: t is the old table,
 * whose slots may point at positions no longer live. */
static size_t find_slot(const NonceCache *c, const Table *t, const uint8_t key[static KEY_SIZE], bool check) {
        size_t i = home_slot(t, key);

        for (; t->slots[i] != 0; i = (i + 1) & t->mask) {
                size_t pos = t->slots[i] - 1;

                if ((!check || live(c, pos)) && memcmp(entry_at(c, pos)->key, key, KEY_SIZE) == 0)
                        break;
        }
        return i;
}

/* Empties slot i of the (new) table, moving back the entries after it that would no longer
 * be found. */
static void clear_slot(NonceCache *c, size_t i) {
        Table *t = &c->table;

        for (size_t j = (i + 1) & t->mask; t->slots[j] != 0; j = (j + 1) & t->mask) {
                size_t home = home_slot(t, entry_at(c, t->slots[j] - 1)->key);
                /* The entry at j stays if its home lies cyclically in (i, j]. */
                bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);

                if (!stays) {
                        t->slots[i] = t->slots[j];
                        i = j;
                }
        }
        t->slots[i] = 0;
}

/* Moves up to n old slots into the table; frees the old one once all are moved. */
static void rehash_step(NonceCache *c, size_t n) {
        if (!c->old.slots)
                return;
        for (; n > 0 && c->rehash_next <= c->old.mask; n--, c->rehash_next++) {
                uint32_t v = c->old.slots[c->rehash_next];
                size_t slot;

                /* Gone since, or its position taken by a nonce added to the new table. */
                if (v == 0 || !live(c, v - 1))
                        continue;
                slot = find_slot(c, &c->table, entry_at(c, v - 1)->key, false);
                if (c->table.slots[slot] == 0)
                        c->table.slots[slot] = v;
        }
        if (c->rehash_next > c->old.mask) {
                c->old.slots = mfree(c->old.slots);
                c->rehash_next = 0;
        }
}

static void expire(NonceCache *c, int64_t now) {
        while (c->count > 0 && entry_at(c, c->head)->expires <= now) {
                size_t slot = find_slot(c, &c->table, entry_at(c, c->head)->key, false);

                /* Not in the table: in the old one still, where it is now just not live. */
                if (c->table.slots[slot] != 0)
                        clear_slot(c, slot);
                c->count--;
                c->head = (c->head + 1) % c->max;
                /* The head left its segment: free it, unless the tail wrapped into it. */
                if (c->head % SEGMENT_ENTRIES == 0 || c->head == 0) {
                        size_t left = (c->head + c->max - 1) % c->max / SEGMENT_ENTRIES;

                        if (c->count == 0 || (c->head + c->count - 1) % c->max / SEGMENT_ENTRIES != left)
                                c->segments[left] = mfree(c->segments[left]);
                }
        }
        if (c->count == 0 && c->head % SEGMENT_ENTRIES != 0)
                /* Nothing live: what is left of the head's segment is not needed either. */
                c->segments[c->head / SEGMENT_ENTRIES] = mfree(c->segments[c->head / SEGMENT_ENTRIES]);
}

/* Room for twice as many (at most max): O(1) now, as the old table's entries move over in
 * the adds that follow (REHASH_STEP each). On -ENOMEM nothing changed. */
static int grow(NonceCache *c) {
        size_t capacity = c->capacity > c->max / 2 ? c->max : c->capacity * 2;
        Table t;
        int r;

        if (slots_for(capacity) > c->table.mask + 1) {
                /* The last resize is long done by now (see REHASH_STEP); finish it if not. */
                rehash_step(c, SIZE_MAX);
                r = table_alloc(&t, capacity);
                if (r < 0)
                        return r;
                c->old = c->table;
                c->table = t;
                c->rehash_next = 0;
        }
        c->capacity = capacity;
        return 0;
}

int nonce_cache_add(NonceCache *c, const char *identity, const char *nonce, int64_t now) {
        uint8_t key[KEY_SIZE];
        size_t slot, pos;
        Entry **segment;
        int r;

        r = make_key(c, identity, nonce, key);
        if (r < 0)
                return r;
        expire(c, now);
        rehash_step(c, REHASH_STEP);

        slot = find_slot(c, &c->table, key, false);
        if (c->table.slots[slot] != 0)
                return -EALREADY;
        if (c->old.slots && c->old.slots[find_slot(c, &c->old, key, true)] != 0)
                return -EALREADY;
        if (c->count >= c->max)
                return -EAGAIN;
        if (c->count >= c->capacity) {
                r = grow(c);
                if (r < 0)
                        return r;
                slot = find_slot(c, &c->table, key, false); /* the table may be a new one */
        }

        pos = (c->head + c->count) % c->max;
        segment = &c->segments[pos / SEGMENT_ENTRIES];
        if (!*segment) {
                *segment = malloc(MIN((size_t) SEGMENT_ENTRIES, c->max) * sizeof(Entry));
                if (!*segment)
                        return -ENOMEM;
        }
        memcpy(entry_at(c, pos)->key, key, KEY_SIZE);
        entry_at(c, pos)->expires = now > INT64_MAX - 2 * (int64_t) c->window ? INT64_MAX : now + 2 * (int64_t) c->window;
        c->table.slots[slot] = (uint32_t) pos + 1;
        c->count++;
        return 0;
}
