/* SPDX-License-Identifier: MIT */
#pragma once

#include "base64.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Validators for values from outside. Each takes a NUL-terminated string that has
 * already been checked to contain no embedded NUL (see json_get_string()). */

#define IP_ADDRESS_MAX 46 /* INET6_ADDRSTRLEN */

/* An IPv4 dotted quad or an IPv6 address; writes the canonical inet_ntop() form. */
int ip_address_canonicalize(const char *s, char ret[static IP_ADDRESS_MAX]);

/* An assigned ISO 3166-1 alpha-2 code in any case; writes it upper-case. */
int country_code_canonicalize(const char *s, char ret[static 3]);

/* The provider id of an advertisement: 1-128 of [A-Za-z0-9._:-]. */
#define PROVIDER_ID_MAX 128
bool provider_id_valid(const char *s);

/* A platform token: 1-32 of [A-Za-z0-9._-]. */
#define PLATFORM_MAX 32
bool platform_valid(const char *s);

/* A key of a resources or pricing object: 1-32 of [a-z0-9_]. */
bool resource_key_valid(const char *s);

/* A VM name: 3-63 of [a-z0-9-], starting and ending alphanumeric, no "--". */
bool vm_name_valid(const char *s);
/* A valid name no new VM may have: "jobs", which GET /api/v1/vms/jobs/{id} would shadow
 * (/api/v1/vms/jobs/access would be a job's). A VM that has it already keeps it. */
bool vm_name_reserved(const char *s);

#define SSH_KEY_MAX 8192

/* One OpenSSH public key line "TYPE BASE64 [COMMENT]": a type OpenSSH knows (ssh-ed25519,
 * ssh-rsa, ecdsa-sha2-nistp*, sk-*), base64 that decodes to a blob naming the same type, a
 * comment of printable characters, no control characters, one line. */
bool ssh_public_key_valid(const char *s);

/* Whether s holds private key text (ssh-keygen's, PuTTYgen's or OpenSSL's): refused where a
 * public key belongs (the seed's client sends the key at its configured path, by default the
 * private one), without a word of it in the answer. */
bool ssh_private_key_like(const char *s);

