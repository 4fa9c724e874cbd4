/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "time-util.h"

/* A token bucket per client address: `per_minute` tokens, refilled continuously. IPv6
 * clients are keyed by their /64, since one host usually owns the whole prefix. The table
 * holds at most max_clients buckets; when full and nothing can be pruned, new clients share
 * one overflow bucket, so memory stays bounded under a flood of addresses. */
typedef struct RateLimiter RateLimiter;

int rate_limiter_new(unsigned per_minute, size_t max_clients, RateLimiter **ret);
RateLimiter *rate_limiter_free(RateLimiter *rl);

/* Takes one token for the client. Returns 0 when allowed, or -EBUSY with *ret_retry_after_sec
 * set to when the next token comes (at least 1). */
int rate_limiter_take(RateLimiter *rl, const struct sockaddr *sa, usec_t now, unsigned *ret_retry_after_sec);

size_t rate_limiter_size(const RateLimiter *rl);

/* The address a client is counted under: an IPv4 address (IPv4-mapped ones too) as it is, an
 * IPv6 address by its /64, anything else (AF_UNIX) as one local client. Returns its length. */
#define CLIENT_KEY_MAX 16
size_t client_key_from_sockaddr(const struct sockaddr *sa, uint8_t key[static CLIENT_KEY_MAX]);
/* A hash of such a key, keyed with seed (a random one keeps the buckets unpredictable). */
uint64_t client_key_hash(uint64_t seed, const uint8_t *key, size_t len);
