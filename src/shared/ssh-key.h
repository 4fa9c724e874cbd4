/* SPDX-License-Identifier: MIT */
#pragma once

/* SSH keys of the types golem signs and verifies with: their public key blobs (RFC 4253
 * section 6.6, RFC 5656, RFC 8709) and OpenSSH public key lines, the private halves as an
 * openssh-key-v1 file lists them (see ssh-key-file.h), raw SSH signatures by them, and the
 * identity they give (a SHA-256 fingerprint).
 *
 * Types: ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa (2048 to 16384 bits, signing
 * as rsa-sha2-256 or rsa-sha2-512). ssh-dss, the SHA-1 "ssh-rsa" signature algorithm and
 * security-key (sk-*) types are refused.
 *
 * Errors, for every function below: -EBADMSG for data that is not well-formed (truncated,
 * trailing bytes, a non-canonical encoding, a point off its curve, a key type's name that
 * does not match its blob), -EPROTONOSUPPORT for a well-formed key or signature of a type or
 * algorithm that is refused (an RSA key under 2048 bits too), -EKEYREJECTED for a signature
 * that does not verify, -ENOMEM. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "ssh-wire.h"

typedef enum SshKeyType {
        SSH_KEY_ED25519,
        SSH_KEY_ECDSA_P256,
        SSH_KEY_ECDSA_P384,
        SSH_KEY_ECDSA_P521,
        SSH_KEY_RSA,
        _SSH_KEY_TYPE_MAX,
        _SSH_KEY_TYPE_INVALID = -EINVAL,
} SshKeyType;

/* The names of the key types in blobs and public key lines: "ssh-ed25519", ... */
DECLARE_STRING_TABLE_LOOKUP(ssh_key_type, SshKeyType);

/* A public key blob is at most this long (a 16384-bit RSA key takes 2 KiB). */
#define SSH_KEY_BLOB_MAX 4096

/* The identity of a key: the SHA-256 of its public key blob in base64url without padding,
 * which is what `ssh-keygen -l` prints after "SHA256:" with '+' and '/' as '-' and '_'. */
#define SSH_IDENTITY_LEN 43
#define SSH_IDENTITY_SIZE (SSH_IDENTITY_LEN + 1)

/* A public key, or a key pair when loaded from a private key. Immutable once made. */
typedef struct SshKey SshKey;

SshKey *ssh_key_free(SshKey *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(SshKey *, ssh_key_free);

/* A public key from its blob (the whole of it: nothing may follow). */
int ssh_key_from_blob(const uint8_t *blob, size_t size, SshKey **ret);
/* A public key from an OpenSSH public key line, "TYPE BASE64 [COMMENT]" (a trailing newline
 * is allowed): the type must name the blob's. The comment is kept. */
int ssh_key_from_public_line(const char *line, SshKey **ret);

SshKeyType ssh_key_type(const SshKey *k);
/* The public key blob, owned by the key. */
const uint8_t *ssh_key_blob(const SshKey *k, size_t *ret_size);
/* The comment of the line or file it came from, "" when none. */
const char *ssh_key_comment(const SshKey *k);
int ssh_key_set_comment(SshKey *k, const char *comment);
/* Whether it holds the private half (can sign without an agent). */
bool ssh_key_has_private(const SshKey *k);

/* "TYPE BASE64 COMMENT" (no comment part when empty), without a newline. */
int ssh_key_to_public_line(const SshKey *k, char **ret);

/* The identity of a key, or of a blob that need not be parsed (any bytes). */
void ssh_key_identity(const SshKey *k, char ret[static SSH_IDENTITY_SIZE]);
/* The fingerprint as ssh-keygen -l prints it ("SHA256:" and the standard, unpadded base64) of
 * a public key line; -EBADMSG/-EPROTONOSUPPORT as ssh_key_from_public_line(). */
#define SSH_FINGERPRINT_SIZE (sizeof("SHA256:") - 1 + SSH_IDENTITY_SIZE)
int ssh_key_line_fingerprint(const char *line, char ret[static SSH_FINGERPRINT_SIZE]);
void ssh_key_blob_identity(const uint8_t *blob, size_t size, char ret[static SSH_IDENTITY_SIZE]);
/* 43 characters of [A-Za-z0-9_-] whose last one carries no stray bits. */
bool ssh_identity_valid(const char *s);

/* An SSH signature ("string algorithm, string signature blob") of data by the private half:
 * ssh-ed25519, ecdsa-sha2-* with the curve's hash, rsa-sha2-512. -ENOKEY without one. */
int ssh_key_sign(const SshKey *k, const void *data, size_t size, uint8_t **ret, size_t *ret_size);
/* Checks an SSH signature of data by this key. The algorithm must be the key's own (for RSA
 * rsa-sha2-256 or rsa-sha2-512) and nothing may follow the signature. The algorithm's name
 * is returned in *ret_algorithm (a static string) when not NULL and the signature is good. */
int ssh_key_verify(const SshKey *k, const uint8_t *sig, size_t sig_size, const void *data, size_t size,
                   const char **ret_algorithm);

/* For ssh-key-file.c: the private key of openssh-key-v1's private section ("string type",
 * the public and private fields of that type, not the comment) read from r, checked to be a
 * consistent key pair. Every byte of it is a secret. */
int ssh_key_read_private(SshReader *r, SshKey **ret);
/* Appends the same to w, a secret writer. -ENOKEY for a public key. */
int ssh_key_write_private(const SshKey *k, SshWriter *w);
/* A fresh Ed25519 key pair. */
int ssh_key_generate_ed25519(SshKey **ret);
