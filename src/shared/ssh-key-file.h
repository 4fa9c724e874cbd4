/* SPDX-License-Identifier: MIT */
#pragma once

/* OpenSSH's key files: private keys in the openssh-key-v1 format (PROTOCOL.key,
 * "-----BEGIN OPENSSH PRIVATE KEY-----", what ssh-keygen writes by default), one key per
 * file, and public key lines in KEY.pub.
 *
 * Only unencrypted private keys (cipher "none") are read: an encrypted one gives -ENOKEY,
 * so that the caller can say "add it to ssh-agent: ssh-add KEY" and sign through the agent
 * (ssh-agent.h) with the public key that ssh_key_load_public() still reads from it.
 * Other errors as in ssh-key.h, plus those of open() and read(); -EFBIG for a file larger
 * than any key file. Whatever held private key bytes is wiped before it is freed. */

#include "ssh-key.h"

/* The key pair in an openssh-key-v1 private key text (the armor lines included). */
int ssh_key_from_private_text(const char *text, size_t size, SshKey **ret);
/* The text for k (which must have its private half; -ENOKEY otherwise), unencrypted.
 * A secret: free it with erase_and_free(s, strlen(s)). */
int ssh_key_to_private_text(const SshKey *k, char **ret);

int ssh_key_load_private(const char *path, SshKey **ret);
/* The public key of a public key file (one line, as in KEY.pub) or of a private key file,
 * encrypted or not (its public key is stored in the clear). */
int ssh_key_load_public(const char *path, SshKey **ret);

/* Writes k to path (mode 0600; -EEXIST if path exists, never replaced) and its public key
 * line to path.pub (0644, replaced), each written whole to a temporary file first. What
 * ssh-keygen and ssh_key_load_private() read. */
int ssh_key_save(const SshKey *k, const char *path);
