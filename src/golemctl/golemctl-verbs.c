/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "golemctl-util.h"
#include "golemctl-verbs.h"

static const Verb *find_default(const Verb *table) {
        for (const Verb *v = table; v->name; v++)
                if (v->flags & VERB_DEFAULT)
                        return v;
        return NULL;
}

static int append(char **path, const char *word) {
        char *p;

        if (asprintf(&p, "%s%s%s", strempty(*path), *path ? " " : "", word) < 0)
                return -ENOMEM;
        free(*path);
        *path = p;
        return 0;
}

int verb_find(const Verb *table, int argc, char *argv[], bool use_default, const Verb **ret,
              int *ret_depth, char **ret_path, char **ret_error) {
        _cleanup_free_ char *path = NULL;
        const Verb *v = NULL;
        int depth = 0, r;

        for (;;) {
                const Verb *found = NULL;

                if (depth < argc) {
                        for (const Verb *i = table; i->name; i++)
                                if (streq(i->name, argv[depth])) {
                                        found = i;
                                        break;
                                }
                        if (!found) {
                                if (asprintf(ret_error, "Unknown command '%s%s%s'.",
                                             strempty(path), path ? " " : "", argv[depth]) < 0)
                                        *ret_error = NULL;
                                return -EUSAGE;
                        }
                        depth++;
                } else if (v && !use_default) {
                        break;
                } else {
                        found = find_default(table);
                        if (!found) {
                                if (asprintf(ret_error, "'%s' needs a command.", strempty(path)) < 0)
                                        *ret_error = NULL;
                                return -EUSAGE;
                        }
                }

                r = append(&path, found->name);
                if (r < 0)
                        return r;
                v = found;
                if (!v->children)
                        break;
                table = v->children;
        }

        *ret = v;
        *ret_depth = depth;
        *ret_path = TAKE_PTR(path);
        return 0;
}

int verb_check_args(const Verb *v, const char *path, int argc, char **ret_error) {
        if (v->min_args != VERB_ANY && (unsigned) argc < v->min_args) {
                if (asprintf(ret_error, "Too few arguments for '%s'; usage: golemctl %s", path, v->synopsis) < 0)
                        *ret_error = NULL;
                return -EUSAGE;
        }
        if (v->max_args != VERB_ANY && (unsigned) argc > v->max_args) {
                if (asprintf(ret_error, "Too many arguments for '%s'; usage: golemctl %s", path, v->synopsis) < 0)
                        *ret_error = NULL;
                return -EUSAGE;
        }
        return 0;
}
