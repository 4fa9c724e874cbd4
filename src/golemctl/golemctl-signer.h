/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signed-request.h"
#include "ssh-key.h"

/* Who golemctl is to providers: the SSH key it signs every request to a provider with
 * (signed-request.h), the user's configured key (SSHKeyPath=, else ~/.ssh/id_ed25519, else
 * ~/.ssh/id_rsa, else golemctl's own; see ssh_key_resolve()). Its private half is used from
 * ssh-agent when $SSH_AUTH_SOCK holds it (a passphrase-protected key added with ssh-add),
 * else read from the key file, which must then be unencrypted. */

typedef enum SignerSource {
        SIGNER_AGENT,
        SIGNER_FILE,
        _SIGNER_SOURCE_MAX,
        _SIGNER_SOURCE_INVALID = -EINVAL,
} SignerSource;

/* "agent", "file" */
DECLARE_STRING_TABLE_LOOKUP(signer_source, SignerSource);

typedef struct Signer Signer;

Signer *signer_free(Signer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Signer *, signer_free);

/* The signer of the private key at path (whose public key is in path.pub, or in path
 * itself). agent is the agent's socket, NULL for $SSH_AUTH_SOCK. Errors: -ENOKEY the key
 * file is encrypted and no agent holds the key; -EPROTONOSUPPORT a key of a type that cannot
 * sign here (sk-*, DSA, RSA under 2048 bits); -EBADMSG not a key file; -ENOENT no private key
 * file (and no agent holds the key); those of open(). */
int signer_load(const char *path, const char *agent, Signer **ret);

const char *signer_path(const Signer *s);
SignerSource signer_source(const Signer *s);
/* The identity: the key's SHA-256 fingerprint in base64url (SSH_IDENTITY_LEN characters). */
const char *signer_identity(const Signer *s);

/* The headers of a request to audience (a provider's id), signed now. target is the path
 * and query as sent. Errors as in signed_request_sign(); from the agent -EPERM (it refused:
 * the key was removed, or its user said no), -ETIMEDOUT, those of connect(). */
int signer_sign(Signer *s, const char *method, const char *target, const char *audience,
                const void *body, size_t body_size, SignedRequestHeaders *ret);
