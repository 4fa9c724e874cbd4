/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* An asynchronous HTTP client on an sd-event loop; nothing ever blocks the loop. Plain
 * http:// URLs go to the small client of http-client.c; libcurl, whose multi interface is
 * driven by the loop (every socket curl wants watched an io source, its single timeout one
 * timer source), is dlopen()ed for what that one does not do: https://, a proxy from the
 * environment (http_proxy, all_proxy, ALL_PROXY), a URL outside its strict grammar (user
 * information, say). So a program that only ever speaks http:// never loads libcurl and
 * the dozen libraries that come with it. Only http:// and https:// URLs, no redirects
 * followed, a response body of at most CURL_GLUE_BODY_MAX bytes. Each CurlGlue that used
 * libcurl holds a reference on its global state (curl_global_init()), so callers need not. */

typedef struct CurlGlue CurlGlue;
typedef struct CurlRequest CurlRequest;

#define CURL_GLUE_BODY_MAX (1024U * 1024U)

/* Called once per request from the event loop, never from within curl_glue_request().
 * result is 0 when an HTTP response arrived (whatever its status), or a negative errno for a
 * transport failure: -ECONNREFUSED (or another connect errno), -ETIMEDOUT, -EHOSTUNREACH
 * (name not resolved), -EFBIG (response body over CURL_GLUE_BODY_MAX), -EBADMSG (a malformed
 * response), -ENOMEM, -EIO. On success body is NUL-terminated (an empty body is "", size 0);
 * on failure body is NULL and http_status 0. The request and body are freed when the callback
 * returns. */
typedef void (*CurlRequestDone)(CurlRequest *req, int result, long http_status,
                                const char *body, size_t body_size, void *userdata);

int curl_glue_new(sd_event *event, CurlGlue **ret);
/* Cancels every request in flight without calling their callbacks. May be called from a
 * callback. */
CurlGlue *curl_glue_free(CurlGlue *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(CurlGlue *, curl_glue_free);

/* Starts a request. method is an upper-case token ("GET", "POST", "DELETE", ...); headers is
 * NULL or a NULL-terminated array of "Name: value" lines (a token, no control characters; a
 * name with an empty value drops that default header; Host, Content-Length, Transfer-Encoding
 * and Connection are the client's own); body (copied) is sent when non-NULL; timeout_usec
 * bounds the whole request (0: no limit). -EINVAL for a bad method, URL (not http/https) or
 * header; -ELIBACC when the request needs libcurl and it cannot be loaded. *ret, when ret is
 * non-NULL, stays valid until done is called or the request is cancelled. */
int curl_glue_request(CurlGlue *g, const char *method, const char *url,
                      const char *const *headers,
                      const char *body, size_t body_size, uint64_t timeout_usec,
                      CurlRequestDone done, void *userdata, CurlRequest **ret);

/* Aborts a request and frees it; its callback is not called afterwards. NULL is fine. */
void curl_request_cancel(CurlRequest *req);
