/* SPDX-License-Identifier: MIT */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _sentinel_ __attribute__((sentinel))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Whether x equals one of the following values. */
#define IN_SET(x, ...)                                                          \
        ({                                                                      \
                bool _found_ = false;                                           \
                const __typeof__(x) _set_[] = { __VA_ARGS__ };                  \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_set_); _i_++)            \
                        if (_set_[_i_] == (x)) {                                \
                                _found_ = true;                                 \
                                break;                                          \
                        }                                                       \
                _found_;                                                        \
        })

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Take ownership of a pointer: returns it and sets the variable to NULL. */
#define TAKE_PTR(p)                             \
        ({                                      \
                __typeof__(p) _ptr_ = (p);      \
                (p) = NULL;                     \
                _ptr_;                          \
        })

#define TAKE_FD(fd)                             \
        ({                                      \
                int _fd_ = (fd);                \
                (fd) = -EBADF;                  \
                _fd_;                           \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type *p) {                   \
                if (*p)                                         \
                        func(*p);                               \
        }

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes *fd if open and marks it closed, so a second call does nothing. */
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
        *fd = -EBADF;
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}

static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

static inline const char *endswith(const char *s, const char *suffix) {
        size_t l = strlen(s), k = strlen(suffix);
        return l >= k && strcmp(s + l - k, suffix) == 0 ? s + l - k : NULL;
}

/* Replace *p with a copy of s (or NULL). */
int free_and_strdup(char **p, const char *s);

/* Enum string tables: every enum ends with _MAX and _INVALID = -EINVAL. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                  \
        const char *name##_to_string(type i) {                                  \
                if (i < 0 || (size_t) i >= ELEMENTSOF(name##_table))            \
                        return NULL;                                            \
                return name##_table[i];                                         \
        }                                                                       \
        type name##_from_string(const char *s) {                                \
                if (!s)                                                         \
                        return (type) -EINVAL;                                  \
                for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)           \
                        if (name##_table[i] && streq(name##_table[i], s))       \
                                return (type) i;                                \
                return (type) -EINVAL;                                          \
        }

#define DECLARE_STRING_TABLE_LOOKUP(name, type)         \
        const char *name##_to_string(type i) _pure_;    \
        type name##_from_string(const char *s) _pure_
