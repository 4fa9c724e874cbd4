/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* The two parsers of http-client.c, apart from any I/O so that they can be fuzzed: a strict
 * http(s):// URL parser and an incremental HTTP/1.x response parser. */

/* ---- URLs ---- */

#define HTTP_URL_MAX 8192U
#define HTTP_HOST_MAX 253U

typedef struct HttpUrl {
        bool https;
        char *host;             /* a DNS name, dotted IPv4 or IPv6 (without brackets), as written */
        uint16_t port;          /* 80 or 443 when the URL names none */
        bool host_is_ipv6;
        char *authority;        /* for the Host header: host[:port] as written, IPv6 in brackets */
        char *target;           /* the path and query, at least "/", no fragment */
} HttpUrl;

/* Takes "http://" or "https://" (any case), a host that is a DNS name of letters, digits, '-'
 * and '.' (labels of 1-63 characters), a dotted IPv4 address or a bracketed IPv6 address
 * without zone, an optional port 1-65535, and a path and query of RFC 3986 characters (a '%'
 * followed by two hex digits). A fragment is dropped. Anything else, user information
 * included, is -EINVAL: that is left to libcurl. */
int http_url_parse(const char *url, HttpUrl *ret);
void http_url_done(HttpUrl *u);

/* ---- responses ---- */

/* The status line and the header fields of a response (1xx ones and trailers included). */
#define HTTP_RESPONSE_HEADERS_MAX (64U * 1024U)
/* A chunk-size line, with its extensions. */
#define HTTP_RESPONSE_CHUNK_LINE_MAX 4096U
/* 1xx responses before the final one. */
#define HTTP_RESPONSE_INTERIM_MAX 8U

typedef enum HttpResponseState {
        HTTP_RESPONSE_STATUS_LINE,
        HTTP_RESPONSE_HEADERS,
        HTTP_RESPONSE_BODY_LENGTH,      /* Content-Length bytes */
        HTTP_RESPONSE_CHUNK_SIZE,
        HTTP_RESPONSE_CHUNK_DATA,
        HTTP_RESPONSE_CHUNK_DATA_END,   /* the CRLF after a chunk's data */
        HTTP_RESPONSE_TRAILERS,
        HTTP_RESPONSE_BODY_CLOSE,       /* until the connection closes */
        HTTP_RESPONSE_DONE,
        _HTTP_RESPONSE_STATE_MAX,
        _HTTP_RESPONSE_STATE_INVALID = -EINVAL,
} HttpResponseState;

DECLARE_STRING_TABLE_LOOKUP(http_response_state, HttpResponseState);

typedef struct HttpResponseParser {
        /* set by http_response_parser_init() */
        bool head;                      /* the request was HEAD: no body whatever the headers say */
        size_t body_max;

        HttpResponseState state;
        int error;                      /* once < 0, every later call returns it */

        char *line;                     /* the line being gathered, without its end */
        size_t line_size, line_allocated;
        size_t header_bytes;            /* all header lines so far, ends included */
        unsigned n_interim;

        unsigned version_minor;         /* HTTP/1.x */
        int status;
        bool have_content_length, chunked;
        uint64_t content_length;
        uint64_t remaining;             /* of the body or of the current chunk */

        char *body;                     /* NUL-terminated when not NULL */
        size_t body_size, body_allocated;
} HttpResponseParser;

void http_response_parser_init(HttpResponseParser *p, bool head, size_t body_max);
void http_response_parser_done(HttpResponseParser *p);

/* Feeds the next bytes of the connection. Returns 0 when more is needed, 1 once the response
 * is complete (what follows it is ignored), -EBADMSG for a malformed or unsupported response
 * (a bad status line, a header section over HTTP_RESPONSE_HEADERS_MAX, obs-fold, conflicting
 * or invalid Content-Length, a transfer coding other than chunked, Content-Length and
 * Transfer-Encoding together, a bad chunk, a 101), -EFBIG for a body over body_max, -ENOMEM. */
int http_response_parser_feed(HttpResponseParser *p, const void *data, size_t size);
/* The connection was closed: 1 when that completes the response (a body read to the close, or
 * a response complete before), -EIO when it was cut short (or nothing came at all). */
int http_response_parser_finish(HttpResponseParser *p);

/* Once complete: the body, NUL-terminated ("" when empty); it stays owned by the parser. */
const char *http_response_parser_body(const HttpResponseParser *p, size_t *ret_size);
