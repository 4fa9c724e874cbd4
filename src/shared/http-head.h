/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The head of an HTTP/1.x request (the request line and the header fields), checked the way
 * RFC 9112 asks a server to: strictly, refusing what two parsers could read differently.
 * The server scans the bytes of a new connection with http_head_scan() before
 * libmicrohttpd reads them, and checks the fields libmicrohttpd parsed for each later
 * request on the connection with http_head_version()/_field()/_end(); both paths share the
 * field rules. What is accepted is a subset of what libmicrohttpd parses without an error
 * of its own, so that every refusal is ours (JSON) and none is its HTML.
 *
 * Refused, with the status to answer and close the connection with:
 *   400  a malformed request line or field line (no colon, whitespace before the colon,
 *        a line folded onto the next, a control character or NUL, a bare CR), a
 *        malformed or repeated Content-Length, Content-Length with Transfer-Encoding,
 *        Transfer-Encoding in HTTP/1.0, no or several Host in HTTP/1.1, a repeated field
 *        that must be single (HTTP_HEAD_SINGLETONS)
 *   411  Transfer-Encoding: chunked (bodies are small JSON documents: send a length)
 *   413  a Content-Length above body_max
 *   414  no end of the request line within head_max bytes
 *   431  no end of the head within head_max bytes, or more than fields_max fields
 *   501  any other Transfer-Encoding
 *   505  HTTP/0.9 (no version), HTTP/2 and later (the HTTP/2 preface included) */

#define HTTP_HEAD_MAX_DEFAULT (16U * 1024U)
#define HTTP_HEAD_FIELDS_MAX_DEFAULT 100U
#define HTTP_HEAD_MESSAGE_MAX 128

typedef struct HttpHeadLimits {
        size_t head_max;        /* bytes from the first one to the end of the empty line */
        unsigned fields_max;
        uint64_t body_max;      /* a larger Content-Length is refused with 413 */
} HttpHeadLimits;

typedef struct HttpHead {
        HttpHeadLimits limits;

        /* When refused: the answer (status, detail.code, an ASCII message). */
        unsigned status;
        const char *code;
        char message[HTTP_HEAD_MESSAGE_MAX];

        /* What the head says. */
        unsigned version;       /* 10 or 11; HTTP/1.2-1.9 count as 1.1 */
        size_t size;            /* http_head_scan(): bytes of the complete head */
        unsigned n_fields;
        uint64_t content_length;
        bool has_content_length;
        bool has_transfer_encoding;
        bool chunked;
        uint32_t seen;          /* one bit per entry of the singleton table */
} HttpHead;

void http_head_init(HttpHead *h, const HttpHeadLimits *limits);

/* Scans the first size bytes received on a connection (all of them, each time: the state
 * is rebuilt). Returns 1 when they start with a complete, acceptable head (h->size says
 * where it ends), 0 when more bytes are needed and nothing is wrong so far, -EBADMSG when
 * the head is refused (as soon as the bytes show it: a bad line is refused once it is
 * complete, a control byte or an overlong head at once). */
int http_head_scan(HttpHead *h, const char *buf, size_t size);

/* The same rules for a head that was parsed already (later requests on a connection). Each
 * returns 0, or -EBADMSG with the refusal in h. */
int http_head_version(HttpHead *h, const char *s, size_t n);
int http_head_field(HttpHead *h, const char *name, size_t name_len, const char *value, size_t value_len);
int http_head_end(HttpHead *h);
