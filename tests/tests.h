/* SPDX-License-Identifier: MIT */
#pragma once

/* A tiny test harness: each test program is one file of TEST(name) { ... } blocks, run in
 * source order by the main() below. The first failed assertion prints file:line, what was
 * expected and what came, and exits with status 1 (meson then names the program).
 *
 *     TEST(parse_port) {
 *             uint16_t port;
 *             ASSERT_OK(parse_port("80", &port));
 *             ASSERT_EQ_INT(port, 80);
 *     }
 *
 * Inside a table loop, TEST_CONTEXT("row %zu: %s", i, row->input) makes a failure also name
 * the row. Run one test only with `test-foo NAME`. */

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TESTS_MAX 256

typedef struct TestCase {
        const char *name;
        void (*func)(void);
        int line;
} TestCase;

static TestCase tests_list[TESTS_MAX];
static size_t tests_n;
static const char *tests_current;
static char tests_context[512];

static inline void tests_register(const char *name, void (*func)(void), int line) {
        if (tests_n >= TESTS_MAX) {
                fprintf(stderr, "Too many tests, raise TESTS_MAX.\n");
                exit(1);
        }
        tests_list[tests_n++] = (TestCase) { name, func, line };
}

#define TEST(name)                                                              \
        static void testcase_##name(void);                                      \
        __attribute__((constructor)) static void testcase_register_##name(void) { \
                tests_register(#name, testcase_##name, __LINE__);               \
        }                                                                       \
        static void testcase_##name(void)

/* Says which row of a table is being checked; printed with a failure, reset per test. */
__attribute__((format(printf, 1, 2)))
static inline void TEST_CONTEXT(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(tests_context, sizeof(tests_context), format, ap);
        va_end(ap);
}

__attribute__((noreturn, format(printf, 3, 4)))
static inline void tests_fail(const char *file, int line, const char *format, ...) {
        va_list ap;

        fprintf(stderr, "%s:%d: FAILED in test %s: ", file, line, tests_current ?: "?");
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (tests_context[0])
                fprintf(stderr, "    while checking: %s\n", tests_context);
        exit(1);
}

static inline const char *tests_errno_name(intmax_t r) {
        return r < 0 && r > -4096 ? strerror((int) -r) : "not an errno";
}

#define ASSERT_TRUE(expr)                                                       \
        do {                                                                    \
                if (!(expr))                                                    \
                        tests_fail(__FILE__, __LINE__, "expected true: %s", #expr); \
        } while (0)

#define ASSERT_FALSE(expr)                                                      \
        do {                                                                    \
                if (expr)                                                       \
                        tests_fail(__FILE__, __LINE__, "expected false: %s", #expr); \
        } while (0)

#define ASSERT_NULL(expr)                                                       \
        do {                                                                    \
                const void *_p = (expr);                                        \
                if (_p)                                                         \
                        tests_fail(__FILE__, __LINE__, "expected NULL: %s", #expr); \
        } while (0)

#define ASSERT_NOT_NULL(expr)                                                   \
        do {                                                                    \
                const void *_p = (expr);                                        \
                if (!_p)                                                        \
                        tests_fail(__FILE__, __LINE__, "expected non-NULL: %s", #expr); \
        } while (0)

/* Signed comparison; fine for every integer type up to int64_t. */
#define ASSERT_EQ_INT(a, b)                                                     \
        do {                                                                    \
                intmax_t _a = (intmax_t) (a), _b = (intmax_t) (b);              \
                if (_a != _b)                                                   \
                        tests_fail(__FILE__, __LINE__, "%s == %s: %jd != %jd",  \
                                   #a, #b, _a, _b);                             \
        } while (0)

/* Unsigned comparison, for uint64_t and size_t values above INT64_MAX. */
#define ASSERT_EQ_UINT(a, b)                                                    \
        do {                                                                    \
                uintmax_t _a = (uintmax_t) (a), _b = (uintmax_t) (b);           \
                if (_a != _b)                                                   \
                        tests_fail(__FILE__, __LINE__, "%s == %s: %ju != %ju",  \
                                   #a, #b, _a, _b);                             \
        } while (0)

#define ASSERT_LE_UINT(a, b)                                                    \
        do {                                                                    \
                uintmax_t _a = (uintmax_t) (a), _b = (uintmax_t) (b);           \
                if (!(_a <= _b))                                                \
                        tests_fail(__FILE__, __LINE__, "%s <= %s: %ju > %ju",   \
                                   #a, #b, _a, _b);                             \
        } while (0)

#define ASSERT_STREQ(a, b)                                                      \
        do {                                                                    \
                const char *_a = (a), *_b = (b);                                \
                if (!_a || !_b || strcmp(_a, _b) != 0)                          \
                        tests_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", \
                                   #a, #b, _a ?: "(null)", _b ?: "(null)");     \
        } while (0)

/* The string s contains the string part. */
#define ASSERT_STR_CONTAINS(s, part)                                            \
        do {                                                                    \
                const char *_s = (s), *_part = (part);                          \
                if (!_s || !strstr(_s, _part))                                  \
                        tests_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", \
                                   #s, _part, _s ?: "(null)");                  \
        } while (0)

/* A return value r >= 0. */
#define ASSERT_OK(expr)                                                         \
        do {                                                                    \
                intmax_t _r = (intmax_t) (expr);                                \
                if (_r < 0)                                                     \
                        tests_fail(__FILE__, __LINE__, "%s succeeds: got %jd (%s)", \
                                   #expr, _r, tests_errno_name(_r));            \
        } while (0)

/* A return value of exactly -error. */
#define ASSERT_ERROR(expr, error)                                               \
        do {                                                                    \
                intmax_t _r = (intmax_t) (expr), _e = (error);                  \
                if (_r != -_e)                                                  \
                        tests_fail(__FILE__, __LINE__, "%s fails with -%s (%s): got %jd (%s)", \
                                   #expr, #error, strerror((int) _e), _r,       \
                                   _r >= 0 ? "success" : tests_errno_name(_r)); \
        } while (0)

/* A fresh directory under $TMPDIR (or /tmp); free the string after test_rm_rf(). */
static inline char *test_mkdtemp(void) {
        const char *tmp = getenv("TMPDIR");
        char *p;

        if (asprintf(&p, "%s/golem-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") < 0)
                tests_fail(__FILE__, __LINE__, "out of memory");
        if (!mkdtemp(p))
                tests_fail(__FILE__, __LINE__, "mkdtemp(%s): %s", p, strerror(errno));
        return p;
}

static inline int test_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path) < 0 ? -errno : 0;
}

static inline void test_rm_rf(const char *path) {
        if (path && nftw(path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
                fprintf(stderr, "Warning: could not remove %s: %s\n", path, strerror(errno));
}

/* dir/name, as a new string. */
static inline char *test_path_join(const char *dir, const char *name) {
        char *p;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                tests_fail(__FILE__, __LINE__, "out of memory");
        return p;
}

/* Writes size bytes (NULs allowed) to dir/name, creating or truncating it. */
static inline char *test_write_file(const char *dir, const char *name, const char *content, size_t size) {
        char *p = test_path_join(dir, name);
        FILE *f;

        f = fopen(p, "we");
        if (!f)
                tests_fail(__FILE__, __LINE__, "fopen(%s): %s", p, strerror(errno));
        if (fwrite(content, 1, size, f) != size || fclose(f) != 0)
                tests_fail(__FILE__, __LINE__, "write(%s): %s", p, strerror(errno));
        return p;
}

/* Writes the NUL-terminated text to dir/name. */
static inline char *test_write_text(const char *dir, const char *name, const char *text) {
        return test_write_file(dir, name, text, strlen(text));
}

/* Copies a shipped configuration file to path with each commented-out "#Key=value" line
 * uncommented, but for those that start with one of keep[0..n_keep) (settings whose comment
 * shows no value); returns how many lines it uncommented. */
static inline unsigned test_uncomment_settings(const char *shipped, const char *path,
                                               const char *const *keep, size_t n_keep) {
        char *line = NULL;
        size_t allocated = 0;
        unsigned n = 0;
        FILE *in, *out;

        in = fopen(shipped, "re");
        if (!in)
                tests_fail(__FILE__, __LINE__, "fopen(%s): %s", shipped, strerror(errno));
        out = fopen(path, "we");
        if (!out)
                tests_fail(__FILE__, __LINE__, "fopen(%s): %s", path, strerror(errno));
        while (getline(&line, &allocated, in) >= 0) {
                bool uncomment = line[0] == '#' && line[1] >= 'A' && line[1] <= 'Z' && strchr(line, '=');

                for (size_t i = 0; i < n_keep; i++)
                        if (strncmp(line, keep[i], strlen(keep[i])) == 0)
                                uncomment = false;
                n += uncomment;
                fputs(line + uncomment, out);
        }
        free(line);
        fclose(in);
        if (fclose(out) != 0)
                tests_fail(__FILE__, __LINE__, "write(%s): %s", path, strerror(errno));
        return n;
}

static inline int tests_compare(const void *a, const void *b) {
        return ((const TestCase *) a)->line - ((const TestCase *) b)->line;
}

int main(int argc, char *argv[]) {
        size_t n_run = 0;

        qsort(tests_list, tests_n, sizeof(TestCase), tests_compare);
        for (size_t i = 0; i < tests_n; i++) {
                if (argc > 1 && strcmp(argv[1], tests_list[i].name) != 0)
                        continue;
                tests_current = tests_list[i].name;
                tests_context[0] = 0;
                fprintf(stderr, "=== %s\n", tests_current);
                tests_list[i].func();
                n_run++;
        }
        if (n_run == 0) {
                fprintf(stderr, "No test named %s.\n", argc > 1 ? argv[1] : "(any)");
                return 1;
        }
        printf("%zu passed, 0 failed\n", n_run);
        return 0;
}
