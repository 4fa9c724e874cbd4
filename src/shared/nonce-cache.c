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

typedef struct Entry {
        uint8_t key[KEY_SIZE];
        int64_t expires;
} Entry;

struct NonceCache {
        unsigned window;
        uint8_t secret[SECRET_SIZE];

        Entry *ring; /* capacity entries, the oldest at head */
        size_t capacity, max, head, count;

        uint32_t *slots; /* open addressing, linear probing: 1 + index into ring, 0 empty */
        size_t mask;
};

/* Slots for capacity entries: a power of two, at least twice as many (at most half full:
 * short probes). */
static size_t slots_for(size_t capacity) {
        size_t n = 16;

        while (n < capacity * 2)
                n <<= 1;
        return n;
}

int nonce_cache_new(size_t max_entries, unsigned window_sec, NonceCache **ret) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        size_t n;

        if (max_entries == 0 || max_entries > UINT32_MAX / 4 || window_sec == 0)
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->window = window_sec;
        c->max = max_entries;
        c->capacity = MIN(max_entries, (size_t) NONCE_CACHE_INITIAL);
        n = slots_for(c->capacity);
        c->mask = n - 1;
        c->ring = calloc(c->capacity, sizeof(Entry));
        c->slots = calloc(n, sizeof(uint32_t));
        if (!c->ring || !c->slots)
                return -ENOMEM;
        if (getrandom(c->secret, sizeof(c->secret), 0) != sizeof(c->secret))
                return -errno;
        *ret = TAKE_PTR(c);
        return 0;
}

NonceCache *nonce_cache_free(NonceCache *c) {
        if (!c)
                return NULL;
        free(c->ring);
        free(c->slots);
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

static size_t home_slot(const NonceCache *c, const uint8_t key[static KEY_SIZE]) {
        uint64_t h;

        memcpy(&h, key, sizeof(h));
        return (size_t) h & c->mask;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const NonceCache *c, const uint8_t key[static KEY_SIZE]) {
        size_t i = home_slot(c, key);

        while (c->slots[i] != 0 && memcmp(c->ring[c->slots[i] - 1].key, key, KEY_SIZE) != 0)
                i = (i + 1) & c->mask;
        return i;
}

/* Empties slot i, moving back the entries after it that would no longer be found. */
static void clear_slot(NonceCache *c, size_t i) {
        for (size_t j = (i + 1) & c->mask; c->slots[j] != 0; j = (j + 1) & c->mask) {
                size_t home = home_slot(c, c->ring[c->slots[j] - 1].key);
                /* The entry at j stays if its home lies cyclically in (i, j]. */
                bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);

                if (!stays) {
                        c->slots[i] = c->slots[j];
                        i = j;
                }
        }
        c->slots[i] = 0;
}

static void expire(NonceCache *c, int64_t now) {
        while (c->count > 0 && c->ring[c->head].expires <= now) {
                clear_slot(c, find_slot(c, c->ring[c->head].key));
                c->head = (c->head + 1) % c->capacity;
                c->count--;
        }
}

/* Twice the capacity (at most max): the entries move to the start of a new ring in the order
 * they came, and the table is made again for their new places. O(count), once per doubling:
 * constant per add over the adds that filled it. The old arrays stay as they were on -ENOMEM. */
static int grow(NonceCache *c) {
        size_t capacity = c->capacity > c->max / 2 ? c->max : c->capacity * 2;
        size_t n = slots_for(capacity);
        Entry *ring;
        uint32_t *slots;

        ring = calloc(capacity, sizeof(Entry));
        slots = calloc(n, sizeof(uint32_t));
        if (!ring || !slots) {
                free(ring);
                free(slots);
                return -ENOMEM;
        }
        for (size_t i = 0; i < c->count; i++)
                ring[i] = c->ring[(c->head + i) % c->capacity];
        free(c->ring);
        free(c->slots);
        c->ring = ring;
        c->slots = slots;
        c->capacity = capacity;
        c->mask = n - 1;
        c->head = 0;
        for (size_t i = 0; i < c->count; i++) {
                /* Every key is there once: the first empty slot from its home is its place. */
                size_t j = home_slot(c, ring[i].key);

                while (c->slots[j] != 0)
                        j = (j + 1) & c->mask;
                c->slots[j] = (uint32_t) i + 1;
        }
        return 0;
}

int nonce_cache_add(NonceCache *c, const char *identity, const char *nonce, int64_t now) {
        uint8_t key[KEY_SIZE];
        size_t slot, index;
        int r;

        r = make_key(c, identity, nonce, key);
        if (r < 0)
                return r;
        expire(c, now);

        slot = find_slot(c, key);
        if (c->slots[slot] != 0)
                return -EALREADY;
        if (c->count >= c->max)
                return -EAGAIN;
        if (c->count >= c->capacity) {
                r = grow(c);
                if (r < 0)
                        return r;
                slot = find_slot(c, key); /* the table is a new one */
        }

        index = (c->head + c->count) % c->capacity;
        memcpy(c->ring[index].key, key, KEY_SIZE);
        c->ring[index].expires = now > INT64_MAX - 2 * (int64_t) c->window ? INT64_MAX : now + 2 * (int64_t) c->window;
        c->slots[slot] = (uint32_t) index + 1;
        c->count++;
        return 0;
}
