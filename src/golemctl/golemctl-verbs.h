/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A table of verbs in the manner of systemd's ctl tools, with sub-verbs ("vm create"):
 *
 *     { "list", VERB_ANY, 1, VERB_DEFAULT, verb_list, ... }
 *
 * min_args and max_args count the verb itself (so a verb taking exactly one NAME is 2, 2);
 * VERB_ANY means no limit. Each verb says which of the verb-specific options it takes, and
 * has a help text for "golemctl VERB --help". */

#define VERB_ANY ((unsigned) -1)

typedef enum VerbFlags {
        VERB_DEFAULT = 1 << 0,  /* run when no verb is given */
} VerbFlags;

typedef struct Verb Verb;

struct Verb {
        const char *name;
        unsigned min_args, max_args;
        VerbFlags flags;
        int (*dispatch)(int argc, char *argv[], void *userdata);
        uint64_t options;       /* the verb-specific options it accepts */
        const char *synopsis;   /* "vm create NAME [OPTIONS...]" */
        const char *summary;    /* one line for the overview */
        const char *help;       /* the text of "--help" after the synopsis */
        const Verb *children;   /* sub-verbs; dispatch then is NULL */
};

/* Finds the verb that args (the words after the options) name, walking into sub-verbs.
 * *ret_depth says how many words named it (the rest are its arguments); *ret_path is
 * "vm create". -EUSAGE with *ret_error set for an unknown verb. When the words run out, a
 * table's VERB_DEFAULT is taken if use_default, else the verb with sub-verbs named last is
 * returned itself (for "golemctl vm --help"). */
int verb_find(const Verb *table, int argc, char *argv[], bool use_default, const Verb **ret,
              int *ret_depth, char **ret_path, char **ret_error);

/* Checks the argument count (argc counts the verb); -EUSAGE with *ret_error set. */
int verb_check_args(const Verb *v, const char *path, int argc, char **ret_error);
