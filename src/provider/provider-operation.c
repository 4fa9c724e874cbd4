/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "provider-operation.h"
#include "provider-vm.h"

static const char *const vm_operation_table[_VM_OP_MAX] = {
        [VM_OP_CREATE] = "create",
        [VM_OP_START] = "start",
        [VM_OP_STOP] = "stop",
        [VM_OP_DELETE] = "delete",
        [VM_OP_KEYS] = "keys",
};

DEFINE_STRING_TABLE_LOOKUP(vm_operation, VMOperation);

struct OperationWatcher {
        const OperationWatcherOps *ops;
        void *userdata;
        LIST_FIELDS(OperationWatcher, watchers);
};

struct Operation {
        VMOperation kind;
        char vm_name[VM_NAME_MAX + 1];
        int percent;
        char stage[64];
        OperationWatcher *watchers;
        /* Set while watchers are told something: a watcher may unwatch itself (or another)
         * from its callback, so the next one is remembered here and kept valid. */
        OperationWatcher *next_to_tell;
};

Operation *operation_new(VMOperation kind, const char *vm_name) {
        Operation *o = calloc(1, sizeof(*o));

        if (!o)
                return NULL;
        o->kind = kind;
        o->percent = -1;
        snprintf(o->vm_name, sizeof(o->vm_name), "%s", vm_name);
        return o;
}

static void watcher_free(Operation *o, OperationWatcher *w) {
        if (o->next_to_tell == w)
                o->next_to_tell = w->watchers_next;
        LIST_REMOVE(watchers, o->watchers, w);
        if (w->ops->free)
                w->ops->free(w->userdata);
        free(w);
}

Operation *operation_free(Operation *o) {
        if (!o)
                return NULL;
        while (o->watchers)
                watcher_free(o, o->watchers);
        free(o);
        return NULL;
}

VMOperation operation_kind(const Operation *o) {
        return o->kind;
}

const char *operation_vm_name(const Operation *o) {
        return o->vm_name;
}

int operation_percent(const Operation *o) {
        return o->percent;
}

const char *operation_stage(const Operation *o) {
        return o->stage;
}

int operation_watch(Operation *o, const OperationWatcherOps *ops, void *userdata, OperationWatcher **ret) {
        OperationWatcher *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->ops = ops;
        w->userdata = userdata;
        LIST_APPEND(watchers, o->watchers, w);
        if (ret)
                *ret = w;
        return 0;
}

void operation_unwatch(Operation *o, OperationWatcher *w) {
        if (o && w)
                watcher_free(o, w);
}

bool operation_progress(Operation *o, int percent, const char *stage) {
        if (percent < 0)
                percent = -1;
        if (percent == o->percent && strncmp(o->stage, stage, sizeof(o->stage) - 1) == 0)
                return false;

        /* A stage without a figure of its own has none: the last one would be stale. */
        o->percent = percent;
        snprintf(o->stage, sizeof(o->stage), "%s", stage);
        for (OperationWatcher *w = o->watchers; w; w = o->next_to_tell) {
                o->next_to_tell = w->watchers_next;
                if (w->ops->progress)
                        w->ops->progress(o, o->percent, o->stage, w->userdata);
        }
        o->next_to_tell = NULL;
        return true;
}

void operation_complete(Operation *o, int r, const char *message, VM *vm) {
        /* Each watcher is told, then goes; a watcher's callback may end others. */
        while (o->watchers) {
                OperationWatcher *w = o->watchers;

                LIST_REMOVE(watchers, o->watchers, w);
                if (w->ops->done)
                        w->ops->done(o, r, message, vm, w->userdata);
                if (w->ops->free)
                        w->ops->free(w->userdata);
                free(w);
        }
        free(o);
}
