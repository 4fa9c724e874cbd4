/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>

#include "macro.h"

/* An operation on a VM (create, start, stop, delete) as the manager hands it to whoever asked:
 * it reports progress and completes exactly once with (r, message, vm). The manager owns it;
 * callers that wait attach a watcher (a REST request, a D-Bus method call, a GET of a job that
 * waits for a change) and answer from its callbacks. The manager never knows who waits.
 *
 * When the operation completes, every watcher's done() runs (vm is NULL when the VM is gone,
 * e.g. after a delete or a failed create), then its free(). An operation freed without
 * completing (the daemon stops) only runs each free(). */

typedef struct Operation Operation;
typedef struct OperationWatcher OperationWatcher;
typedef struct VM VM;

typedef enum VMOperation {
        VM_OP_CREATE,
        VM_OP_START,
        VM_OP_STOP,
        VM_OP_DELETE,
        VM_OP_KEYS,             /* the owner's SSH keys in the running guest */
        _VM_OP_MAX,
        _VM_OP_INVALID = -EINVAL,
} VMOperation;

DECLARE_STRING_TABLE_LOOKUP(vm_operation, VMOperation);

typedef struct OperationWatcherOps {
        /* The operation completed: r >= 0 done, else why not (message says it in words). */
        void (*done)(Operation *o, int r, const char *message, VM *vm, void *userdata);
        /* Progress of a create (percent -1: unknown). Optional. */
        void (*progress)(Operation *o, int percent, const char *stage, void *userdata);
        /* The watcher goes away (after done(), on operation_unwatch() or when the operation is
         * freed unfinished). Optional. */
        void (*free)(void *userdata);
} OperationWatcherOps;

Operation *operation_new(VMOperation kind, const char *vm_name);
/* Frees without completing: watchers' free() run, their done() does not. */
Operation *operation_free(Operation *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(Operation *, operation_free);

VMOperation operation_kind(const Operation *o);
const char *operation_vm_name(const Operation *o);
/* The launch's progress so far (-1 and "" before any). */
int operation_percent(const Operation *o);
const char *operation_stage(const Operation *o);

int operation_watch(Operation *o, const OperationWatcherOps *ops, void *userdata, OperationWatcher **ret);
/* Detaches a watcher before completion (its request went away); runs its free(). */
void operation_unwatch(Operation *o, OperationWatcher *w);

/* Manager side. Progress is told to watchers when it changed; returns whether it did. */
bool operation_progress(Operation *o, int percent, const char *stage);
/* Completes (once; later calls are ignored) and frees the operation. */
void operation_complete(Operation *o, int r, const char *message, VM *vm);
