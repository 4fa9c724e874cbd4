/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* The length (1-4) of the strict UTF-8 (RFC 3629) character at the start of s, which has n
 * bytes left; 0 when the bytes there are not one: a stray continuation byte, an overlong
 * form, a UTF-16 surrogate, a code point above U+10FFFF or a sequence cut short. */
size_t utf8_char_len(const char *s, size_t n);

/* Copies the n bytes of s into buf (of size bytes, NUL-terminated) as valid UTF-8: each byte
 * that does not start a character becomes U+FFFD, and when it does not fit, the text is cut
 * on a character boundary and ends in "…". A NUL in s ends it. Returns the length written. */
size_t utf8_sanitize(const char *s, size_t n, char *buf, size_t size);
