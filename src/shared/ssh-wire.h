/* SPDX-License-Identifier: MIT */
#pragma once

/* The SSH wire encoding (RFC 4251, section 5) that public key blobs, SSHSIG signatures,
 * openssh-key-v1 private keys and the ssh-agent protocol are made of: big-endian uint32s,
 * strings with a uint32 length, and mpints. Plus base64, in which they all travel.
 *
 * Reading is strict: every reader function fails with -EBADMSG when the data ends early or
 * is not in its one canonical form, and leaves its outputs and the reader untouched then. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base64.h"

typedef struct SshReader {
        const uint8_t *p;
        size_t n; /* bytes left */
} SshReader;

#define SSH_READER(data, size) ((SshReader) { .p = (const uint8_t *) (data), .n = (size) })

static inline bool ssh_reader_empty(const SshReader *r) {
        return r->n == 0;
}

int ssh_read_u8(SshReader *r, uint8_t *ret);
int ssh_read_u32(SshReader *r, uint32_t *ret);
/* n raw bytes. */
int ssh_read_bytes(SshReader *r, size_t n, const uint8_t **ret);
/* A string, returned in place (not NUL-terminated). */
int ssh_read_string(SshReader *r, const uint8_t **ret, size_t *ret_size);
/* A string, returned as a reader of its contents. */
int ssh_read_sub(SshReader *r, SshReader *ret);
/* A string that must equal s exactly. */
int ssh_read_expect(SshReader *r, const char *s);
/* A string without NUL bytes, copied and NUL-terminated (malloc'd). */
int ssh_read_cstring(SshReader *r, char **ret);
/* A non-negative mpint in its minimal form (no superfluous leading zero byte); returns its
 * magnitude without the sign byte. max_size bounds the magnitude. */
int ssh_read_mpint(SshReader *r, size_t max_size, const uint8_t **ret, size_t *ret_size);

/* A growing buffer. A failed append latches the error in w->error and makes the rest do
 * nothing, so a message is built without a check per field and checked once in
 * ssh_writer_steal(). A secret writer wipes every buffer it gives up. */
typedef struct SshWriter {
        uint8_t *data;
        size_t size, allocated;
        int error;
        bool secret;
} SshWriter;

void ssh_put_u8(SshWriter *w, uint8_t v);
void ssh_put_u32(SshWriter *w, uint32_t v);
void ssh_put_bytes(SshWriter *w, const void *p, size_t n);
void ssh_put_string(SshWriter *w, const void *p, size_t n);
void ssh_put_cstring(SshWriter *w, const char *s);
/* An mpint of the unsigned big-endian magnitude p (leading zeros are dropped). */
void ssh_put_mpint(SshWriter *w, const uint8_t *p, size_t n);

/* Hands the bytes over (malloc'd, at least one byte allocated) and resets w; or returns
 * the latched error and frees them. */
int ssh_writer_steal(SshWriter *w, uint8_t **ret, size_t *ret_size);
/* Frees (and, for a secret writer, wipes) the buffer. For _cleanup_. */
void ssh_writer_done(SshWriter *w);

/* Overwrites and frees a buffer that held a secret. NULL is fine. */
void erase_and_free(void *p, size_t n);


/* The text between "-----BEGIN <label>-----" and "-----END <label>-----" lines, base64
 * wrapped in lines of any length, decoded. Whitespace around the armor is allowed, nothing
 * else is. */
int pem_armor_decode(const char *text, size_t size, const char *label, uint8_t **ret, size_t *ret_size);
/* The armor around data, its base64 wrapped at 70 columns as OpenSSH writes it. */
int pem_armor_encode(const uint8_t *p, size_t n, const char *label, char **ret);
