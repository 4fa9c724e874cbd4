/* SPDX-License-Identifier: MIT */
#pragma once

/* The nonces of signed requests seen lately, so that each request is taken once.
 *
 * A nonce is remembered per identity (another key using the same nonce replays nothing)
 * for 2 × window seconds after it came: long enough for any timestamp that was within the
 * window then (at most window ahead of the clock) to have left it, after which the
 * timestamp check refuses a replay by itself. Nonces leave in the order they came, so one
 * ring of entries plus a hash table of them does it all in constant time, for every add, not
 * only on average: the ring is a chain of fixed segments (allocated as the newest entries
 * reach them, freed as the oldest leave them) that never moves, and the table grows
 * incrementally.
 *
 * The cache starts with room for NONCE_CACHE_INITIAL entries (or max_entries, if fewer) and
 * doubles when that is full, up to max_entries: a daemon that sees few signed requests
 * holds little, one that sees many holds what they need. Each entry takes 24 bytes of ring
 * and 8 to 16 of hash table. A doubling allocates a table twice the size and nothing more;
 * the old table's entries move over a few slots per add after it, lookups checking both
 * meanwhile (both are held until then). No add moves them all at once: when one did, the
 * doublings to 2.5 million stopped the loop for 0.13-0.47 s (bench-nonce-cache, a loaded
 * 2-CPU machine); the worst add is a few ms now.
 * At most max_entries are held. When all of them are still in their time, a new nonce is
 * refused (-EAGAIN, for a 503) instead of an unexpired one being forgotten, which would let
 * its request be replayed; -ENOMEM when a doubling finds no memory. Since anyone can
 * make a key, a flood of validly signed requests can fill it for 2 × window; the per-client
 * rate limit in front of the verifier is what bounds that. The hash is keyed with a secret
 * chosen at creation, so no one can aim nonces at one chain of the table.
 *
 * If the clock is set back, entries stay longer than they need to (and can fill the cache
 * sooner); set forward, they leave early, together with the timestamps that matched them. */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define NONCE_CACHE_INITIAL 1024

typedef struct NonceCache NonceCache;

int nonce_cache_new(size_t max_entries, unsigned window_sec, NonceCache **ret);
NonceCache *nonce_cache_free(NonceCache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(NonceCache *, nonce_cache_free);

/* Remembers (identity, nonce) at now (the server's clock, Unix seconds). 0 when it is new,
 * -EALREADY when seen within its time, -EAGAIN when the cache is full. */
int nonce_cache_add(NonceCache *c, const char *identity, const char *nonce, int64_t now);

size_t nonce_cache_size(const NonceCache *c);
/* How many it has room for now, before it doubles again (at most max_entries). */
size_t nonce_cache_capacity(const NonceCache *c);
