/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* The libFuzzer entry point every fuzz-*.c defines. It must not leak and must not keep
 * state between calls that changes what a later input does. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional one-time setup, called by libFuzzer and by fuzz-main.c when defined. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant of the code under test: a failure is a bug, reported as a crash. Unlike
 * assert() this stays on with -DNDEBUG. */
#define fuzz_check(expr)                                                                \
        do {                                                                            \
                if (!(expr)) {                                                          \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
                        abort();                                                        \
                }                                                                       \
        } while (0)

/* FUZZ_VERBOSE=1 in the environment: the fuzzers say what became of each input. */
static inline int fuzz_verbose(void) {
        static int cached = -1;

        if (cached < 0) {
                const char *e = getenv("FUZZ_VERBOSE");
                cached = e && *e && *e != '0';
        }
        return cached;
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. Written apart from
 * json-util.c's check on purpose: the fuzzers use it as an oracle for it. */
static inline bool fuzz_utf8_strict(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len;

                if (p[i] < 0x80) {
                        i++;
                        continue;
                }
                if ((p[i] & 0xe0) == 0xc0)
                        len = 2, cp = p[i] & 0x1f;
                else if ((p[i] & 0xf0) == 0xe0)
                        len = 3, cp = p[i] & 0x0f;
                else if ((p[i] & 0xf8) == 0xf0)
                        len = 4, cp = p[i] & 0x07;
                else
                        return false;
                if (n - i < len)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[i + k] & 0x3f);
                }
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                        return false;
                i += len;
        }
        return true;
}

/* The input as a NUL-terminated string in a buffer of exactly size + 1 bytes (so that a
 * sanitizer sees a read past it), for parsers of text. Free it. */
static inline char *fuzz_string(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        fuzz_check(s);
        if (size > 0)
                memcpy(s, data, size);
        s[size] = 0;
        return s;
}
