/* SPDX-License-Identifier: MIT */
#pragma once

/* A client of ssh-agent (draft-miller-ssh-agent), to sign with a key whose private half the
 * agent holds, e.g. a passphrase-protected one: for golemctl, so it blocks (each read and
 * write up to SSH_AGENT_TIMEOUT_SEC, as an agent that confirms each use waits for its user).
 *
 * The agent is the socket at path, or at $SSH_AUTH_SOCK when path is NULL. Errors:
 * -ENXIO no agent (SSH_AUTH_SOCK unset or empty), those of connect(), -ETIMEDOUT, -EPERM
 * the agent refused to sign (it does not hold the key, or its user said no), -EBADMSG an
 * answer that is not what the protocol allows, -ENOMEM. */

#include <stddef.h>
#include <stdint.h>

#include "ssh-key.h"

#define SSH_AGENT_TIMEOUT_SEC 60
#define SSH_AGENT_MESSAGE_MAX (256 * 1024)

/* 1 if the agent holds the private half of key, 0 if not. */
int ssh_agent_has_key(const char *path, const SshKey *key);

/* An SSH signature ("string algorithm, string blob") of data by key, as ssh_key_sign()
 * makes; for RSA keys rsa-sha2-512 is asked for (SSH_AGENT_RSA_SHA2_512). The answer is only
 * parsed here: sshsig_sign() checks that it verifies. */
int ssh_agent_sign(const char *path, const SshKey *key, const void *data, size_t size, uint8_t **ret,
                   size_t *ret_size);

/* ssh_agent_sign() as an SshSignFunc for sshsig_sign(): userdata is the path, or NULL. */
int ssh_agent_sign_func(const SshKey *key, const void *data, size_t size, uint8_t **ret, size_t *ret_size,
                        void *userdata);

/* The parsers of the agent's answers (a message without its length: type byte, contents),
 * apart for the fuzzer. A sign response gives its signature (malloc'd); FAILURE is -EPERM. An
 * identities answer gives 1 if blob is among its keys, 0 if not. */
int ssh_agent_parse_sign_response(const uint8_t *msg, size_t size, uint8_t **ret, size_t *ret_size);
int ssh_agent_parse_identities(const uint8_t *msg, size_t size, const uint8_t *blob, size_t blob_size);
