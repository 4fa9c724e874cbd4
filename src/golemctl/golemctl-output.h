/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

/* What golemctl prints on stdout: aligned tables, JSON, and the pager they go through. */

typedef enum JsonFormat {
        JSON_FORMAT_OFF,
        JSON_FORMAT_SHORT,
        JSON_FORMAT_PRETTY,
        _JSON_FORMAT_MAX,
        _JSON_FORMAT_INVALID = -EINVAL,
} JsonFormat;

DECLARE_STRING_TABLE_LOOKUP(json_format, JsonFormat);

typedef enum TableColor {
        TABLE_COLOR_DEFAULT,
        TABLE_COLOR_GREEN,
        TABLE_COLOR_YELLOW,
        TABLE_COLOR_RED,
        TABLE_COLOR_GREY,
        _TABLE_COLOR_MAX,
        _TABLE_COLOR_INVALID = -EINVAL,
} TableColor;

#define ANSI_NORMAL    "\033[0m"
#define ANSI_BOLD      "\033[1m"
#define ANSI_GREEN     "\033[0;32m"
#define ANSI_YELLOW    "\033[0;33m"
#define ANSI_RED       "\033[0;31m"
#define ANSI_GREY      "\033[0;38;5;245m"

const char *table_color_ansi(TableColor c) _pure_;

typedef struct Table Table;

/* A table of n_columns columns with these headers (upper case by convention). */
int table_new(const char *const *headers, size_t n_columns, Table **ret);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
#define _cleanup_table_ _cleanup_(table_freep)

/* Numbers read better right-aligned. */
int table_set_align_right(Table *t, size_t column, bool right);
/* Long ids may be cut ("…") when the lines would be wider than max_width; no column is cut below
 * TABLE_ELLIPSIZE_MIN, and only these columns are. */
#define TABLE_ELLIPSIZE_MIN 8
int table_set_ellipsize(Table *t, size_t column, bool ellipsize);
/* 0, the default: no limit. */
void table_set_max_width(Table *t, size_t width);
/* Cells are added row by row, left to right; text is copied (NULL shows as "-"). */
int table_add_cell(Table *t, const char *text, TableColor color);
int table_add_cellf(Table *t, TableColor color, const char *format, ...) _printf_(3, 4);
size_t table_n_rows(const Table *t);
/* The rows (and the header line when header is true) with columns padded to their widest
 * cell, two spaces apart, no trailing blanks, one line per row; ANSI colours when colors. */
int table_format(const Table *t, bool header, bool colors, char **ret);

/* The columns a string takes on a terminal: 2 for wide characters (CJK, emoji), 0 for
 * combining ones, 1 for the rest (and for each byte that is not UTF-8). */
size_t utf8_width(const char *s);
/* s cut to at most width columns, ending in "…" when it was cut. */
int utf8_ellipsize(const char *s, size_t width, char **ret);

/* Colours only on a terminal, unless $NO_COLOR is set or $TERM is "dumb". */
bool colors_enabled(void);

/* Writes text to stdout. On a terminal, output longer than the screen goes through the
 * pager ($PAGER, else less with LESS=FRXMK, else more) unless allow_pager is false; never
 * when stdout is not a terminal. A pager that cannot be started means plain output. */
int output_show(const char *text, bool allow_pager);
/* The columns a line of output may take: the terminal's width; 0 (no limit) when stdout is not
 * a terminal, so that scripts get whole ids. */
size_t output_width(void);

/* The JSON value as text in this format, with a newline ("" for JSON_FORMAT_OFF). */
int json_format_text(json_object *o, JsonFormat f, char **ret);

/* Writes JSON straight to a stream, laid out exactly as json_format_text() lays out the same
 * value (json-c's plain or pretty form), without building json-c objects first: for lists
 * long enough that building, serialising and freeing them shows. Values are added in
 * document order; key is the member's name inside an object and NULL inside an array.
 * Containers written this way must not stay empty (json-c versions differ on how an empty
 * one looks in the pretty form), so an empty list goes through json_format_text(). Errors
 * stay in the stream (ferror(), fclose()). */
#define JSON_WRITER_DEPTH_MAX 16

typedef struct JsonWriter {
        FILE *f;
        bool pretty;
        unsigned level;                 /* containers open */
        bool had_member[JSON_WRITER_DEPTH_MAX];
        bool in_object[JSON_WRITER_DEPTH_MAX];
} JsonWriter;

void json_writer_init(JsonWriter *w, FILE *f, JsonFormat format);
/* bracket is '[' or '{'; each open is matched by a close with ']' or '}'. */
void json_writer_open(JsonWriter *w, const char *key, char bracket);
void json_writer_close(JsonWriter *w, char bracket);
/* NULL is written as null. */
void json_writer_string(JsonWriter *w, const char *key, const char *s);
void json_writer_int(JsonWriter *w, const char *key, int64_t v);
void json_writer_bool(JsonWriter *w, const char *key, bool v);

/* open_memstream() without stdio's per-call locking (the stream never leaves one thread). */
FILE *open_memstream_unlocked(char **ptr, size_t *sizeloc);

/* Splits $PAGER-style text into an argv on blanks (no shell, no quoting). */
int pager_argv(const char *s, char ***ret);
void strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
