/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The SSH side of golemctl: which key a VM is created with, and the ssh command line that
 * logs in to it. */

#define SSH_DEFAULT_USER "ubuntu"
#define SSH_GENERATED_KEY "id_ed25519"

/* The key to use: explicit (a private key, or its .pub) when given; else ~/.ssh/id_ed25519,
 * else ~/.ssh/id_rsa (whichever has a .pub); else DATA_DIR/id_ed25519, generated with
 * ssh-keygen when missing and generate is true. Returns the private key's absolute path and
 * the public key line, which is checked with ssh_public_key_valid(): -EBADMSG when it is not
 * one, -ENOENT when there is no key; 1 when the key was generated just now, else 0. */
int ssh_key_resolve(const char *explicit_path, const char *home, const char *data_dir, bool generate,
                    char **ret_private, char **ret_public);

/* The public key line of a .pub file (the first line), checked. */
int ssh_public_key_read(const char *path, char **ret);

/* Whether the file at path starts with private key text (ssh_private_key_like()); false when
 * it cannot be read. */
bool ssh_private_key_file(const char *path);

/* Runs ssh-keygen -t ed25519 -N '' -f PATH -q (argv, no shell). */
int ssh_keygen(const char *path);

/* STATE_DIR/known_hosts/PROVIDER-VM: a known-hosts file of the VM's own. */
int ssh_known_hosts_path(const char *state_dir, const char *provider_id, const char *vm, char **ret);
/* Removes it: a new VM of the same name has a new host key, which an old pin would refuse. */
void ssh_known_hosts_forget(const char *state_dir, const char *provider_id, const char *vm);

/* The name of a VM's SSH key (vm ssh-key): 1-64 of [A-Za-z0-9._@-], starting with a letter
 * or digit (so never "." or "..": it goes into a path). */
bool ssh_key_name_valid(const char *s);
#define SSH_KEY_NAME_MAX 64

/* A login name: 1-32 of [A-Za-z0-9._-], not starting with '-'. */
bool ssh_user_valid(const char *s);

typedef struct SshTarget {
        const char *user;
        const char *host;
        uint16_t port;
        const char *identity;           /* private key path */
        const char *known_hosts;
        char *const *command;           /* NULL-terminated, or NULL: an interactive login */
} SshTarget;

/* ssh -o UserKnownHostsFile=KNOWN_HOSTS -o StrictHostKeyChecking=accept-new
 *     -o IdentitiesOnly=yes -i IDENTITY -p PORT -- USER@HOST [COMMAND...]
 * The "--" ends ssh's options, so nothing in COMMAND is taken for one. */
int ssh_argv_build(const SshTarget *t, char ***ret);
