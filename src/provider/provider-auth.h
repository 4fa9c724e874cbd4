/* SPDX-License-Identifier: MIT */
#pragma once

/* Who a REST request comes from, and the provider's own key.
 *
 * Requests to a provider are signed (signed-request.h) with the requestor's SSH key for the
 * audience "this provider's id"; the signer's identity owns what it creates. An unsigned
 * request (none of the three headers) is taken as "anonymous" only where the operator
 * allows it (AllowUnsignedRequests=yes); a request that carries any of the headers is
 * checked in full either way, so a bad signature is never downgraded to anonymous. */

#include <stdbool.h>
#include <stdint.h>

#include "signed-request.h"
#include "ssh-key.h"

/* 1 and the signer's identity for a good signature; 0 for an unsigned request when
 * allow_unsigned (anonymous: ret_identity untouched); otherwise signed_request_verify()'s
 * errors, -ENOMSG for an unsigned one. */
int provider_auth_verify(const SignedRequest *req, bool allow_unsigned, int64_t now, NonceCache *nonces,
                         char ret_identity[static SSH_IDENTITY_SIZE]);

/* The provider's Ed25519 key at path: loaded, or made when there is none yet (path 0600,
 * path.pub 0644; comment in the .pub line). Returns 1 when it was made, 0 when loaded. */
int provider_key_load_or_make(const char *path, const char *comment, SshKey **ret);
