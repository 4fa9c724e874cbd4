/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "http-client-parse.h"
#include "macro.h"

/* A small HTTP/1.1 client for plain http:// on an sd-event loop: one connection per request
 * ("Connection: close"), nothing that blocks the loop. A numeric host or "localhost" is used
 * as it is; a name is looked up with getaddrinfo() in a short-lived thread of its own (as
 * libcurl's threaded resolver does), and each of its addresses is tried in turn. The response
 * is read with http-client-parse.c. curl-glue.c uses it for http:// URLs and leaves https://
 * to libcurl. */

typedef struct HttpClientRequest HttpClientRequest;

/* Without an overall timeout, connecting still gives up after this long (libcurl's default). */
#define HTTP_CLIENT_CONNECT_TIMEOUT_USEC (300ULL * 1000000ULL)
/* Addresses of a name tried. */
#define HTTP_CLIENT_ADDRESSES_MAX 8U

/* Called once from the event loop, never from within http_client_request_start(). result is
 * 0 when a response arrived, whatever its status; otherwise a negative errno: a connect
 * errno such as -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH (the name did not resolve), -EFBIG
 * (body over body_max), -EBADMSG (a response the parser refused), -EIO (the connection
 * closed before the response was complete), -ENOMEM. body is NUL-terminated on success and
 * NULL on failure. The request is freed when the callback returns. */
typedef void (*HttpClientDone)(HttpClientRequest *req, int result, long status,
                               const char *body, size_t body_size, void *userdata);

/* url must be http:// (-EPROTONOSUPPORT for https). method is an upper-case token; headers
 * NULL or a NULL-terminated array of "Name: value" lines: a name given with an empty value
 * is not sent and drops the default of that name (User-Agent, Accept); Host,
 * Content-Length, Transfer-Encoding and Connection are the client's own (-EINVAL).
 * Content-Length is sent with a body and with every POST, PUT and PATCH. timeout_usec bounds
 * the whole request (0: none but the connect timeout). */
int http_client_request_start(sd_event *event, const char *method, const HttpUrl *url,
                              const char *const *headers,
                              const char *body, size_t body_size,
                              size_t body_max, uint64_t timeout_usec,
                              HttpClientDone done, void *userdata, HttpClientRequest **ret);

/* Aborts the request (closing its connection) and frees it; its callback is not called.
 * From within its own callback it only makes sure of that. NULL is fine. */
HttpClientRequest *http_client_request_free(HttpClientRequest *req);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpClientRequest *, http_client_request_free);

/* "Name: value" with a token name and a value without controls (but HTAB). */
bool http_header_line_valid(const char *h);
