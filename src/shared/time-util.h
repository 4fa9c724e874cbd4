/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>

typedef uint64_t usec_t;

#define USEC_PER_SEC  ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_FMT "%" PRIu64

#define RFC3339_MAX sizeof("2026-11-23T17:04:05Z")

usec_t now_realtime(void);
usec_t now_monotonic(void);

/* "2026-11-23T17:04:05Z"; returns buf, or "" when t does not fit a calendar. */
const char *format_rfc3339(char buf[static RFC3339_MAX], usec_t t);
/* Parses exactly the format above (UTC, a Z). */
int parse_rfc3339(const char *s, usec_t *ret);
