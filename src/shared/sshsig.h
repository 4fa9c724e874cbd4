/* SPDX-License-Identifier: MIT */
#pragma once

/* SSHSIG, OpenSSH's format for signing a message in a namespace (PROTOCOL.sshsig): what
 * `ssh-keygen -Y sign -n NAMESPACE -f KEY` writes between its armor lines and what
 * `ssh-keygen -Y check-novalidate -n NAMESPACE -s SIG` checks. A blob is
 *
 *     byte[6] "SSHSIG", uint32 1, string public key blob, string namespace,
 *     string reserved (empty), string hash algorithm ("sha256" or "sha512"),
 *     string signature (an SSH signature by that key)
 *
 * and the signature is over  byte[6] "SSHSIG", string namespace, string reserved,
 * string hash algorithm, string H(message).
 *
 * Errors as in ssh-key.h: -EBADMSG not well-formed (including a non-empty reserved field),
 * -EPROTONOSUPPORT a refused key type, signature algorithm or hash, -EKEYREJECTED a wrong
 * namespace or a signature that does not verify, -ENOMEM. */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "ssh-key.h"

/* At most this long: a 16384-bit RSA key and its signature fit in 5 KiB. */
#define SSHSIG_BLOB_MAX (8 * 1024)

typedef enum SshSigHash {
        SSHSIG_HASH_SHA256,
        SSHSIG_HASH_SHA512,
        _SSHSIG_HASH_MAX,
        _SSHSIG_HASH_INVALID = -EINVAL,
} SshSigHash;

/* "sha256", "sha512" */
DECLARE_STRING_TABLE_LOOKUP(sshsig_hash, SshSigHash);

typedef struct SshSig SshSig;

SshSig *sshsig_free(SshSig *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SshSig *, sshsig_free);

/* Parses a blob strictly (the key too), without checking the signature. */
int sshsig_parse(const uint8_t *blob, size_t size, SshSig **ret);
/* The same for the blob's standard base64 (padded, no whitespace): a header's value. */
int sshsig_parse_base64(const char *s, SshSig **ret);

/* The signing key, owned by the signature. */
const SshKey *sshsig_key(const SshSig *s);
const char *sshsig_namespace(const SshSig *s);
SshSigHash sshsig_hash(const SshSig *s);

/* Whether s is a good signature of msg in namespace. */
int sshsig_verify(const SshSig *s, const char *namespace, const void *msg, size_t size);

/* Something that makes an SSH signature ("string algorithm, string blob") of data with the
 * private half of key: ssh_key_sign() by a key that has it, or an agent (ssh-agent.h). */
typedef int (*SshSignFunc)(const SshKey *key, const void *data, size_t size, uint8_t **ret, size_t *ret_size,
                           void *userdata);

/* An SSHSIG blob of msg in namespace, hashed with SHA-512 as ssh-keygen does. sign NULL
 * means ssh_key_sign() (key must have its private half). What sign returns is checked to be
 * a good signature by key (so an agent that answers with another key's, or with SHA-1, is
 * caught: -EKEYREJECTED, -EPROTONOSUPPORT). */
int sshsig_sign(const SshKey *key, SshSignFunc sign, void *userdata, const char *namespace,
                const void *msg, size_t size, uint8_t **ret, size_t *ret_size);

/* The armored form "-----BEGIN SSH SIGNATURE-----" ... as ssh-keygen writes it, and back. */
int sshsig_armor(const uint8_t *blob, size_t size, char **ret);
int sshsig_dearmor(const char *text, size_t size, uint8_t **ret, size_t *ret_size);
