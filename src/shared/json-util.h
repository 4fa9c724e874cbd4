/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);
#define _cleanup_json_ _cleanup_(json_object_putp)

#define JSON_DEPTH_MAX 16

/* Parses exactly one JSON value from buf (not NUL-terminated) with strict syntax, UTF-8
 * validation, a nesting limit and nothing but whitespace after it. -EBADMSG on bad input,
 * including a NUL byte anywhere and a bare top-level null (there is no object to return). */
int json_parse(const char *buf, size_t size, json_object **ret);

/* The string of a JSON string value, refused (-EINVAL) when it holds a NUL byte or a
 * control character, or is longer than max bytes. */
int json_get_string(json_object *o, size_t max, const char **ret);

/* A JSON integer (not a double, not a string, not a bool) within [min, max]. json-c parses
 * integers too large for int64 as INT64_MAX/MIN, so those are refused as out of range. */
int json_get_int(json_object *o, int64_t min, int64_t max, int64_t *ret);

/* A finite JSON number, integer or double. */
int json_get_number(json_object *o, double *ret);

/* Serializes without escaping '/' and without spaces. The string lives as long as o. */
const char *json_to_string(json_object *o, bool pretty);

/* Small builders that return NULL on OOM, for chaining into json_object_object_add(). */
json_object *json_string_or_null(const char *s);
