/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"
#include "provider-manager.h"

/* Recovery and watching: compares the manager's records with the hypervisor's list at start
 * (adopting, resuming or failing what a restart interrupted), then keeps watching for VMs
 * that change by themselves, and samples the host's usage for the ledger. */

typedef struct Reconciler Reconciler;

/* Starts at once; m outlives the reconciler. */
int reconciler_new(Manager *m, Reconciler **ret);
Reconciler *reconciler_free(Reconciler *rc);
DEFINE_TRIVIAL_CLEANUP_FUNC(Reconciler *, reconciler_free);
