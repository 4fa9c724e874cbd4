/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An OpenSSH public key line checked the long way, written apart from validate.c on
 * purpose, as an oracle for ssh_public_key_valid(): whatever that accepts must pass here.
 * It checks what any correct validator has to (the necessary conditions, not OpenSSH's
 * every rule):
 *
 *   - at most SSH_KEY_MAX bytes of strict UTF-8 (RFC 3629) without C0 or C1 controls, DEL,
 *     U+FFFE or U+FFFF: one line, and nothing cloud-init's YAML parser refuses or folds;
 *   - "TYPE BASE64" then nothing or " COMMENT", TYPE one of the seven known;
 *   - BASE64 canonical: what encoding the decoded bytes gives back exactly (padding, no
 *     stray bits in the last character);
 *   - the blob is exactly the structure of the type (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4,
 *     OpenSSH PROTOCOL.u2f), nothing after it:
 *       ssh-ed25519                         string type, string key (32 bytes)
 *       ssh-rsa                             string type, mpint e, mpint n (>= 1024 bits);
 *                                           both not negative (OpenSSH refuses that)
 *       ecdsa-sha2-nistpN                   string type, string "nistpN", string point
 *                                           (0x04 || X || Y, 65/97/133 bytes)
 *       sk-ssh-ed25519@openssh.com          string type, string key (32), string application
 *       sk-ecdsa-sha2-nistp256@openssh.com  string type, string "nistp256", string point (65),
 *                                           string application
 *
 * Returns true, or false with a reason in why. */
bool oracle_ssh_key_valid(const char *s, char why[static 128]);

/* Strict UTF-8 as json_parse() wants it (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF), and no NUL byte. */
bool oracle_utf8_valid(const uint8_t *p, size_t n);

/* Whether the UTF-8 text p holds a character YAML 1.1 (cloud-init's PyYAML) does not take as
 * printable in a document (C0 but tab/LF/CR, DEL, C1 but NEL, U+FFFE, U+FFFF), or NEL, LS or
 * PS, which it takes as line breaks. */
bool oracle_has_yaml_unsafe(const uint8_t *p, size_t n);

/* Canonical base64 (RFC 4648 4, padded) of n bytes; malloc'd, NUL-terminated. */
char *oracle_base64_encode(const uint8_t *d, size_t n);
