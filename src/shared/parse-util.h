/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict number parsing for values from outside: decimal digits only, no sign unless
 * allowed, no surrounding whitespace, no overflow. Return 0 or -EINVAL/-ERANGE. */
int parse_u64(const char *s, uint64_t *ret);
int parse_i64(const char *s, int64_t *ret);
int parse_uint_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int parse_port(const char *s, uint16_t *ret);
int parse_boolean(const char *s); /* 1, 0 or -EINVAL */

/* True when every byte of s (of length n) is in the given set of ASCII characters. */
bool string_in_charset(const char *s, size_t n, const char *charset);

/* [A-Za-z0-9] plus the extra characters, 1..max long. */
bool token_valid(const char *s, size_t max, const char *extra);
