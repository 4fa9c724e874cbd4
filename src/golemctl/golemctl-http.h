/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "time-util.h"

/* REST calls to the discovery service and to providers: any number at once (curl multi on an
 * sd-event loop, see curl-glue.h), with the JSON error envelope
 * {"detail": {"code", "message"}} turned into a code and a printable message. */

#define HTTP_CALL_HEADERS_MAX 4

typedef struct HttpCall {
        /* Filled by the caller (http_call_init()). */
        const char *method;
        char *url;
        char *body;             /* JSON text, or NULL */
        usec_t timeout;
        bool keep_text;         /* set after http_call_init(): the body of a 200 answer goes to
                                 * text as it came, unparsed, for a caller that takes a large
                                 * answer apart piece by piece */
        char *headers[HTTP_CALL_HEADERS_MAX + 1]; /* "Name: value" lines sent on top of Accept
                                                   * and Content-Type (http_call_add_header()) */

        /* Filled by http_call_run_many(). */
        int result;             /* 0: an HTTP answer came (any status); < 0: transport failure */
        long status;
        json_object *json;      /* the answer's body as JSON; NULL when empty or not JSON, and
                                 * for a 200 answer to a keep_text call */
        char *text;             /* keep_text: a 200 answer's body (NUL-terminated); NULL when empty */
        size_t text_size;
        bool body_invalid;      /* there was a body but it was not JSON */
        char *error_code;       /* detail.code of an error answer, a token; or NULL */
        char *error_message;    /* detail.message, made printable; or NULL */
} HttpCall;

#define HTTP_TIMEOUT_QUERY   (15 * USEC_PER_SEC)     /* GETs */
#define HTTP_TIMEOUT_CREATE  (60 * USEC_PER_SEC)     /* POST /vms?async=true */
#define HTTP_TIMEOUT_ACTION  (15 * 60 * USEC_PER_SEC) /* start, stop, delete: the provider waits */

/* Sets up a call; url is copied, body (JSON) is serialised when non-NULL. */
int http_call_init(HttpCall *c, const char *method, const char *url, json_object *body, usec_t timeout);
void http_call_done(HttpCall *c);
/* Adds "NAME: VALUE" to the headers sent (value free of CR and LF); -E2BIG past
 * HTTP_CALL_HEADERS_MAX. */
int http_call_add_header(HttpCall *c, const char *name, const char *value);
/* The request target of the call's URL as it goes on the request line: the path and the
 * query, without the scheme and the authority ("/api/v1/vms?async=true"). NULL for a URL
 * without a path (http_url_valid() URLs that url_join() made always have one). */
const char *http_call_target(const HttpCall *c);

/* Runs all calls concurrently and returns when every one has finished. A negative errno only
 * when nothing could be run at all; each call's own outcome is in its result and status. */
int http_call_run_many(HttpCall *calls, size_t n);
int http_call_run(HttpCall *c);

/* The answer came with this status and a JSON body (for a keep_text call: a body). */
bool http_call_ok(const HttpCall *c, long status);

/* The call failed in a way that certainly never reached the server (refused, unresolvable, ...). */
bool http_call_not_sent(const HttpCall *c);

/* Why a call failed, for one line of error: the transport error ("Connection refused"), the
 * envelope's message, or "HTTP 502 (...)". */
const char *http_call_reason(const HttpCall *c, char *buf, size_t size);
#define HTTP_REASON_MAX 1280

/* Parses an error body: {"detail": {"code", "message"}}, {"detail": "..."} (FastAPI) or
 * {"detail": [{"msg": ...}, ...]} (FastAPI validation). Fills what it finds; never fails on
 * a body that does not fit. */
void http_error_from_json(json_object *o, char **ret_code, char **ret_message);

/* base (an http(s):// URL, a trailing '/' ignored) followed by the formatted path. */
int url_join(char **ret, const char *base, const char *path_format, ...) __attribute__((format(printf, 3, 4)));
int url_joinv(char **ret, const char *base, const char *path_format, va_list ap) __attribute__((format(printf, 3, 0)));

/* "http://IP:PORT", IPv6 addresses in brackets. */
int url_from_ip(const char *ip, uint16_t port, char **ret);

/* An absolute http:// or https:// URL with a host, no blanks or control characters: what
 * libcurl's URL parser takes, but for its leniencies about the slashes ("http:/h",
 * "http:///h"). Checked without libcurl, which golemctl does not link (curl-glue loads it
 * only for what needs it). */
bool http_url_valid(const char *url);

/* A copy of s of at most max bytes (cut at a UTF-8 boundary) with control characters (C0, DEL
 * and C1) replaced by spaces: safe to print on a terminal. */
char *string_printable(const char *s, size_t max);
