/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "curl-glue.h"
#include "http-server.h"
#include "provider-advertiser.h"
#include "provider-config.h"
#include "provider-driver.h"
#include "provider-forward.h"
#include "provider-ledger.h"
#include "provider-runner.h"
#include "provider-store.h"
#include "provider-vm.h"

typedef struct Manager Manager;
typedef struct VM VM;

/* Who asks: flows from the REST or D-Bus front end down to the VM manager, so that
 * ownership can be enforced in one place. */
typedef enum CallerKind {
        CALLER_REST,
        CALLER_DBUS,
        CALLER_INTERNAL,
} CallerKind;

typedef struct Caller {
        CallerKind kind;
        const char *identity;   /* the requestor's key fingerprint (REST), NULL: anonymous */
        const char *address;    /* remote address (REST) or bus name (D-Bus), for logs */
        uid_t uid;              /* D-Bus */
        const char *request_id;
} Caller;

typedef enum VMOperation {
        VM_OP_CREATE,
        VM_OP_START,
        VM_OP_STOP,
        VM_OP_DELETE,
        _VM_OP_MAX,
        _VM_OP_INVALID = -EINVAL,
} VMOperation;

DECLARE_STRING_TABLE_LOOKUP(vm_operation, VMOperation);

typedef enum VMEvent {
        VM_EVENT_NEW,        /* a record appeared */
        VM_EVENT_CHANGED,    /* state or properties changed */
        VM_EVENT_FAILED,     /* an operation failed; error and message say why */
        VM_EVENT_REMOVED,    /* the record is gone (deleted, or a failed create cleaned up) */
} VMEvent;

typedef void (*VMListener)(Manager *m, VM *vm, VMEvent event, VMOperation op, int error,
                           const char *message, void *userdata);

struct VM {
        Manager *manager;
        VM *prev, *next;
        VMRecord record;
        DriverOp *op;            /* the driver operation in flight */
        VMOperation op_kind;
        Forwarder *forwarder;
        int progress;            /* percent of the launch; -1 unknown */
        char stage[64];
        unsigned adopt_polls;    /* reconcile: how often we asked a starting VM */
        int failure;             /* why a create failed, told to waiters after the clean-up */
        char *failure_message;
        sd_event_source *poll_timer;
        bool unlinked;           /* out of the manager's list, about to be freed */
};

struct Manager {
        sd_event *event;
        ProviderSettings settings;
        char *provider_id;
        char *provider_name;
        char platform[32];
        ProviderStore *store;
        Runner *runner;
        Driver *driver;
        Ledger ledger;
        HttpServer *http;
        CurlGlue *curl;
        Advertiser *advertiser;
        VM *vms;
        size_t n_vms;
        uint8_t *ports;          /* one byte per port of the range: in use */
        sd_event_source *usage_timer;
        sd_event_source *reconcile_timer;
        sd_event_source *poll_soon_timer;   /* the driver said a VM changed by itself */
        DriverOp *reconcile_op;  /* the hypervisor's list in flight */
        usec_t last_poll;
        bool reconciled;
        struct {
                VMListener fn;
                void *userdata;
        } listeners[4];
        size_t n_listeners;
        VM *removing;            /* a VM whose removal is being announced */
        uint64_t generation;     /* bumped on every change of any VM record: for caches */
        void *rest;              /* the REST front end's state */
        void *bus_state;         /* the D-Bus front end's state */
        bool bus_activated;      /* started by D-Bus activation: the bus is required */
        const char *config_path;
        char *reload_error;
};

int manager_new(ProviderSettings *settings, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

int manager_start(Manager *m);
/* Re-reads the configuration; applies what can change at run time (thresholds, minimums,
 * MaxVMs, advertisement settings). On a bad file nothing changes and reload_error says why. */
int manager_reload(Manager *m);
int manager_run(Manager *m);

int manager_add_listener(Manager *m, VMListener fn, void *userdata);

VM *manager_get_vm(Manager *m, const char *name);

/* The operations; each checks state, writes the transition to the store, then acts. Results
 * arrive as events. Errors: -EEXIST name taken, -EBUSY wrong state, -ENOSPC/-EUSERS/-EBUSY
 * resources (reason set), -EHOSTDOWN no driver, -EPERM not the owner. */
int manager_create_vm(Manager *m, const Caller *c, const VMCreateRequest *req, VM **ret,
                      char *reason, size_t reason_size);
int manager_start_vm(Manager *m, const Caller *c, VM *vm);
int manager_stop_vm(Manager *m, const Caller *c, VM *vm);
int manager_delete_vm(Manager *m, const Caller *c, VM *vm);

/* Whether c may see and act on vm. */
bool manager_caller_owns(const Caller *c, const VM *vm);

Resources manager_available(Manager *m);

/* provider-rest.c */
int provider_rest_setup(Manager *m, HttpServerConfig *ret);
void provider_rest_free(Manager *m);
/* A VM's launch changed (its progress): GETs of its job that wait for a change are answered. */
void provider_rest_job_changed(Manager *m, const VM *vm);
