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

        Entry *ring; /* the entries, oldest at head */
        size_t max, head, count;

        uint32_t *slots; /* open addressing, linear probing: 1 + index into ring, 0 empty */
        size_t mask;
};

int nonce_cache_new(size_t max_entries, unsigned window_sec, NonceCache **ret) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        size_t n = 16;

        if (max_entries == 0 || max_entries > UINT32_MAX / 4 || window_sec == 0)
                return -EINVAL;
        while (n < max_entries * 2) /* at most half full: short probes */
                n <<= 1;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->window = window_sec;
        c->max = max_entries;
        c->mask = n - 1;
        c->ring = calloc(max_entries, sizeof(Entry));
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
                c->head = (c->head + 1) % c->max;
                c->count--;
        }
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

        index = (c->head + c->count) % c->max;
        memcpy(c->ring[index].key, key, KEY_SIZE);
        c->ring[index].expires = now > INT64_MAX - 2 * (int64_t) c->window ? INT64_MAX : now + 2 * (int64_t) c->window;
        c->slots[slot] = (uint32_t) index + 1;
        c->count++;
        return 0;
}
