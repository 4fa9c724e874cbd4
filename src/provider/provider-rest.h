/* SPDX-License-Identifier: MIT */
#pragma once

#include "http-server.h"
#include "provider-config.h"
#include "provider-manager.h"

/* The provider's REST API of the wire protocol: /api/v1/vms and friends, on the shared HTTP
 * server. Requests that wait for a VM (a synchronous create, start, stop, delete, a GET of a
 * job with ?wait=) are suspended and answered from the manager's operations. */

typedef struct ProviderRest ProviderRest;

/* settings and m outlive the REST front end. */
int provider_rest_new(sd_event *event, Manager *m, const ProviderSettings *settings, ProviderRest **ret);
ProviderRest *provider_rest_free(ProviderRest *rest);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProviderRest *, provider_rest_free);

/* The routes and limits to create the HTTP server with. */
void provider_rest_server_config(ProviderRest *rest, HttpServerConfig *ret);
