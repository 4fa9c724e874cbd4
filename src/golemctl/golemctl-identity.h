/* SPDX-License-Identifier: MIT */
#pragma once

#include "golemctl-signer.h"
#include "golemctl-util.h"

/* golemctl's identity on the network: the signer (golemctl-signer.h) of the configured key,
 * loaded once per run, and 'golemctl id'. */

/* The signer of SSHKeyPath= ($GOLEM_REQUESTOR_SSH_KEY_PATH), else of ~/.ssh/id_ed25519, else
 * ~/.ssh/id_rsa (whichever has a .pub), else of golemctl's own key (made when missing), as
 * 'vm create' picks the key it sends. Owned by c. Prints a one-line error on failure. */
int context_signer(Context *c, Signer **ret);

/* Print the one line that says what to do about an error of signer_load() for path ("golemctl:
 * KEY is protected by a passphrase; add it to the agent: ssh-add KEY", ...), or of
 * signer_sign(); return r. */
int signer_load_error(int r, const char *path);
int signer_sign_error(int r, const Signer *s);

int verb_id(int argc, char *argv[], void *userdata);
