/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Validators for values from outside. Each takes a NUL-terminated string that has
 * already been checked to contain no embedded NUL (see json_get_string()). */

#define IP_ADDRESS_MAX 46 /* INET6_ADDRSTRLEN */

/* An IPv4 dotted quad or an IPv6 address; writes the canonical inet_ntop() form. */
int ip_address_canonicalize(const char *s, char ret[static IP_ADDRESS_MAX]);

/* An assigned ISO 3166-1 alpha-2 code in any case; writes it upper-case. */
int country_code_canonicalize(const char *s, char ret[static 3]);

/* The provider id of an advertisement: 1-128 of [A-Za-z0-9._:-]. */
bool provider_id_valid(const char *s);

/* A platform token: 1-32 of [A-Za-z0-9._-]. */
bool platform_valid(const char *s);

/* A key of a resources or pricing object: 1-32 of [a-z0-9_]. */
bool resource_key_valid(const char *s);
