/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point every fuzz-*.c defines. It must not leak and must not keep
 * state between calls that changes what a later input does. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional one-time setup, called by libFuzzer and by fuzz-main.c when defined. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#include <stdio.h>
#include <stdlib.h>

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
