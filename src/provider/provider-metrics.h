/* SPDX-License-Identifier: MIT */
#pragma once

#include "metrics.h"
#include "provider-advertiser.h"
#include "provider-driver.h"
#include "provider-manager.h"

/* The golem_provider_* metrics (golem-providerd(8), METRICS): VMs by state, the ledger, creates,
 * the advertiser and the driver's failures. What can be read when asked (states, the ledger,
 * the advertiser's counts) is read at each scrape; creates are followed through their
 * operations, and the driver's failures through a driver that wraps the real one. */

typedef struct ProviderMetrics ProviderMetrics;

/* Declares the metrics in registry, which outlives the result. */
int provider_metrics_new(Metrics *registry, ProviderMetrics **ret);
ProviderMetrics *provider_metrics_free(ProviderMetrics *pm);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProviderMetrics *, provider_metrics_free);

/* A driver that is driver, counting the failures of its operations (-ENOENT, an instance that
 * is not there, is an answer and not counted). Takes driver on success (freeing the result
 * frees it); the registry must outlive the result. */
int provider_metrics_wrap_driver(ProviderMetrics *pm, Driver *driver, Driver **ret);

/* Follows m's VMs and ledger and a's posts (NULL: not advertising); both outlive pm's use. */
int provider_metrics_follow(ProviderMetrics *pm, Manager *m, Advertiser *a);
