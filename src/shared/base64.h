/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict base64 (RFC 4648, padding required, no whitespace, unused bits zero: one encoding
 * per value). Returns the decoded length or -EINVAL; *ret is malloc'd. */
int base64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_size);

/* With url, the URL-safe alphabet and no padding; otherwise the standard alphabet with
 * padding. wrap > 0 puts a newline after every wrap characters and after the last line.
 * *ret is malloc'd and NUL-terminated. */
int base64_encode(const void *p, size_t n, bool url, size_t wrap, char **ret);
/* base64url without padding into ret, which has room for (n * 4 + 2) / 3 + 1 bytes. */
void base64url_encode_into(const void *p, size_t n, char *ret);
