/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <uchar.h>
#include <wchar.h>

#include "golemctl-output.h"
#include "json-util.h"
#include "parse-util.h"
#include "utf8.h"

static const char *const json_format_table[_JSON_FORMAT_MAX] = {
        [JSON_FORMAT_OFF] = "off",
        [JSON_FORMAT_SHORT] = "short",
        [JSON_FORMAT_PRETTY] = "pretty",
};

DEFINE_STRING_TABLE_LOOKUP(json_format, JsonFormat);

const char *table_color_ansi(TableColor c) {
        static const char *const table[_TABLE_COLOR_MAX] = {
                [TABLE_COLOR_DEFAULT] = "",
                [TABLE_COLOR_GREEN] = ANSI_GREEN,
                [TABLE_COLOR_YELLOW] = ANSI_YELLOW,
                [TABLE_COLOR_RED] = ANSI_RED,
                [TABLE_COLOR_GREY] = ANSI_GREY,
        };
        return c >= 0 && c < _TABLE_COLOR_MAX ? table[c] : "";
}

typedef struct TableCell {
        char *text;
        size_t width;           /* utf8_width(text) */
        TableColor color;
} TableCell;

struct Table {
        size_t n_columns;
        char **headers;
        bool *right;
        bool *ellipsize;
        size_t max_width;       /* 0: no limit */
        TableCell *cells;
        size_t n_cells, allocated;
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_columns; i++)
                free(t->headers[i]);
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i].text);
        free(t->headers);
        free(t->right);
        free(t->ellipsize);
        free(t->cells);
        free(t);
        return NULL;
}

int table_new(const char *const *headers, size_t n_columns, Table **ret) {
        _cleanup_table_ Table *t = NULL;

        if (n_columns == 0 || !headers || !ret)
                return -EINVAL;

        t = calloc(1, sizeof(Table));
        if (!t)
                return -ENOMEM;
        t->headers = calloc(n_columns, sizeof(char *));
        t->right = calloc(n_columns, sizeof(bool));
        t->ellipsize = calloc(n_columns, sizeof(bool));
        if (!t->headers || !t->right)
                return -ENOMEM;
        t->n_columns = n_columns;
        for (size_t i = 0; i < n_columns; i++) {
                t->headers[i] = strdup(strempty(headers[i]));
                if (!t->headers[i])
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

int table_set_align_right(Table *t, size_t column, bool right) {
        if (!t || column >= t->n_columns)
                return -EINVAL;
        t->right[column] = right;
        return 0;
}

/* Adds a cell that takes over text (freed on failure). */
static int table_add_cell_take(Table *t, char *text, TableColor color) {
        if (t->n_cells >= t->allocated) {
                size_t a = MAX(t->allocated * 2, (size_t) 16);
                TableCell *p = reallocarray(t->cells, a, sizeof(TableCell));

                if (!p) {
                        free(text);
                        return -ENOMEM;
                }
                t->cells = p;
                t->allocated = a;
        }
        t->cells[t->n_cells++] = (TableCell) { text, utf8_width(text), color };
        return 0;
}

int table_add_cell(Table *t, const char *text, TableColor color) {
        char *copy;

        if (!t)
                return -EINVAL;
        copy = strdup(text ?: "-");
        if (!copy)
                return -ENOMEM;
        return table_add_cell_take(t, copy, color);
}

int table_add_cellf(Table *t, TableColor color, const char *format, ...) {
        char *s;
        va_list ap;
        int r;

        if (!t)
                return -EINVAL;
        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return table_add_cell_take(t, s, color);
}

size_t table_n_rows(const Table *t) {
        return t ? (t->n_cells + t->n_columns - 1) / t->n_columns : 0;
}

/* The code point of the UTF-8 character of length len (1-4, from utf8_char_len()) at s. */
static char32_t utf8_decode(const char *s, size_t len) {
        static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
        char32_t c = (unsigned char) s[0] & lead_mask[len];

        for (size_t i = 1; i < len; i++)
                c = (c << 6) | ((unsigned char) s[i] & 0x3f);
        return c;
}

/* Columns of one character: wcwidth() in a UTF-8 locale whatever the user's (C.UTF-8 is
 * built into glibc), 1 for what it does not know; invalid bytes show as one U+FFFD. */
static size_t char_width(const char *s, size_t *ret_len) {
        static locale_t utf8 = (locale_t) 0;
        size_t len = utf8_char_len(s, strnlen(s, 4));
        locale_t old;
        int w;

        *ret_len = len ?: 1;
        if (len <= 1)
                return 1;
        if (!utf8)
                utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
        if (!utf8)
                return 1;
        old = uselocale(utf8);
        w = wcwidth((wchar_t) utf8_decode(s, len));
        (void) uselocale(old);
        return w < 0 ? 1 : (size_t) w;
}

size_t utf8_width(const char *s) {
        size_t n = 0, len;

        for (; s && *s; s += len)
                n += char_width(s, &len);
        return n;
}

int utf8_ellipsize(const char *s, size_t width, char **ret) {
        size_t used = 0, len, w, end = 0;

        if (utf8_width(s) <= width || width == 0) {
                *ret = strdup(width == 0 ? "" : s);
                return *ret ? 0 : -ENOMEM;
        }
        /* As many whole characters as leave a column for the "…". */
        for (; s[end]; end += len) {
                w = char_width(s + end, &len);
                if (used + w > width - 1)
                        break;
                used += w;
        }
        return asprintf(ret, "%.*s…", (int) end, s) < 0 ? -ENOMEM : 0;
}

static const TableCell *cell_at(const Table *t, size_t row, size_t column) {
        static const TableCell empty = { (char *) "", 0, TABLE_COLOR_DEFAULT };
        size_t i = row * t->n_columns + column;

        return i < t->n_cells ? t->cells + i : &empty;
}

/* The table's text, made in one growing buffer: a table can have thousands of lines. */
typedef struct TextBuffer {
        char *data;
        size_t size, allocated;
        bool oom;
} TextBuffer;

static void text_put(TextBuffer *b, const char *s, size_t n) {
        if (b->oom)
                return;
        if (n + 1 > b->allocated - b->size) {
                size_t a = MAX(b->allocated * 2, b->size + n + 1);
                char *p = realloc(b->data, MAX(a, (size_t) 4096));

                if (!p) {
                        b->oom = true;
                        return;
                }
                b->data = p;
                b->allocated = MAX(a, (size_t) 4096);
        }
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = 0;
}

static void text_puts(TextBuffer *b, const char *s) {
        text_put(b, s, strlen(s));
}

static void text_pad(TextBuffer *b, size_t n) {
        static const char blanks[] = "                                ";

        for (size_t k; n > 0; n -= k) {
                k = MIN(n, sizeof(blanks) - 1);
                text_put(b, blanks, k);
        }
}

static void put_line(TextBuffer *b, const Table *t, const size_t *widths, const TableCell *const *cells,
                     bool colors_on, const char *line_color) {
        size_t last = t->n_columns - 1, start = b->size;

        if (colors_on && line_color)
                text_puts(b, line_color);
        for (size_t c = 0; c < t->n_columns; c++) {
                _cleanup_free_ char *cut = NULL;
                TableCell narrowed;
                const TableCell *cell = cells[c];

                if (cell->width > widths[c]) {
                        if (utf8_ellipsize(cell->text, widths[c], &cut) < 0) {
                                b->oom = true;
                                return;
                        }
                        narrowed = (TableCell) { cut, utf8_width(cut), cell->color };
                        cell = &narrowed;
                }
                size_t pad = widths[c] > cell->width ? widths[c] - cell->width : 0;
                const char *ansi = table_color_ansi(cell->color);
                bool colored = colors_on && !isempty(ansi);

                if (c > 0)
                        text_put(b, "  ", 2);
                if (t->right[c])
                        text_pad(b, pad);
                if (colored)
                        text_puts(b, ansi);
                text_puts(b, cell->text);
                if (colored)
                        text_puts(b, ANSI_NORMAL);
                if (!t->right[c] && c < last)
                        text_pad(b, pad);
        }
        if (colors_on && line_color)
                text_puts(b, ANSI_NORMAL);

        /* No trailing blanks (an empty last cell). */
        if (!b->oom)
                while (b->size > start && b->data[b->size - 1] == ' ')
                        b->data[--b->size] = 0;
        text_put(b, "\n", 1);
}

int table_set_ellipsize(Table *t, size_t column, bool ellipsize) {
        if (!t || column >= t->n_columns)
                return -EINVAL;
        t->ellipsize[column] = ellipsize;
        return 0;
}

void table_set_max_width(Table *t, size_t width) {
        t->max_width = width;
}

/* Narrows the ellipsizable columns, widest first, until the lines fit t->max_width (or they are
 * all down to TABLE_ELLIPSIZE_MIN). */
static void fit_widths(const Table *t, size_t *widths) {
        size_t total = 2 * (t->n_columns - 1);

        for (size_t c = 0; c < t->n_columns; c++)
                total += widths[c];
        while (t->max_width > 0 && total > t->max_width) {
                size_t widest = SIZE_MAX, cut;

                for (size_t c = 0; c < t->n_columns; c++)
                        if (t->ellipsize[c] && widths[c] > TABLE_ELLIPSIZE_MIN &&
                            (widest == SIZE_MAX || widths[c] > widths[widest]))
                                widest = c;
                if (widest == SIZE_MAX)
                        return;
                cut = MIN(total - t->max_width, widths[widest] - TABLE_ELLIPSIZE_MIN);
                /* Take from the widest only down to the next widest, so that the cut is shared. */
                for (size_t c = 0; c < t->n_columns; c++)
                        if (c != widest && t->ellipsize[c] && widths[c] < widths[widest] &&
                            widths[c] >= TABLE_ELLIPSIZE_MIN)
                                cut = MIN(cut, MAX(widths[widest] - widths[c], (size_t) 1));
                widths[widest] -= cut;
                total -= cut;
        }
}

int table_format(const Table *t, bool header, bool colors, char **ret) {
        _cleanup_free_ size_t *widths = NULL;
        _cleanup_free_ const TableCell **cells = NULL;
        _cleanup_free_ TableCell *header_cells = NULL;
        TextBuffer b = {};
        size_t rows;

        if (!t || !ret)
                return -EINVAL;

        widths = calloc(t->n_columns, sizeof(size_t));
        cells = calloc(t->n_columns, sizeof(TableCell *));
        header_cells = calloc(t->n_columns, sizeof(TableCell));
        if (!widths || !cells || !header_cells)
                return -ENOMEM;

        rows = table_n_rows(t);
        for (size_t c = 0; c < t->n_columns; c++) {
                header_cells[c] = (TableCell) { t->headers[c], utf8_width(t->headers[c]), TABLE_COLOR_DEFAULT };
                if (header)
                        widths[c] = header_cells[c].width;
                for (size_t r = 0; r < rows; r++)
                        widths[c] = MAX(widths[c], cell_at(t, r, c)->width);
        }
        fit_widths(t, widths);

        if (header) {
                for (size_t c = 0; c < t->n_columns; c++)
                        cells[c] = header_cells + c;
                put_line(&b, t, widths, cells, colors, ANSI_BOLD);
        }
        for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++)
                        cells[c] = cell_at(t, r, c);
                put_line(&b, t, widths, cells, colors, NULL);
        }

        if (b.oom) {
                free(b.data);
                return -ENOMEM;
        }
        if (!b.data) {
                b.data = strdup("");
                if (!b.data)
                        return -ENOMEM;
        }
        *ret = b.data;
        return 0;
}

bool colors_enabled(void) {
        const char *term = getenv("TERM");

        if (getenv("NO_COLOR"))
                return false;
        if (term && streq(term, "dumb"))
                return false;
        return isatty(STDOUT_FILENO) > 0;
}

void strv_free(char **l) {
        for (char **p = l; p && *p; p++)
                free(*p);
        free(l);
}

int pager_argv(const char *s, char ***ret) {
        char **l = NULL;
        size_t n = 0;

        if (!s || !ret)
                return -EINVAL;

        for (const char *p = s;;) {
                size_t k;
                char **nl;

                p += strspn(p, " \t\n");
                if (!*p)
                        break;
                k = strcspn(p, " \t\n");
                nl = reallocarray(l, n + 2, sizeof(char *));
                if (!nl) {
                        strv_free(l);
                        return -ENOMEM;
                }
                l = nl;
                l[n] = strndup(p, k);
                l[n + 1] = NULL;
                if (!l[n]) {
                        strv_free(l);
                        return -ENOMEM;
                }
                n++;
                p += k;
        }
        if (n == 0) {
                free(l);
                return -ENOENT;
        }
        *ret = l;
        return 0;
}

/* The terminal's size (ws_row or ws_col), else $LINES or $COLUMNS, else fallback. */
static unsigned terminal_size(bool rows, unsigned fallback) {
        struct winsize ws = {};
        unsigned short n;
        uint64_t v;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0 && (n = rows ? ws.ws_row : ws.ws_col) > 0)
                return n;
        if (parse_uint_range(strempty(getenv(rows ? "LINES" : "COLUMNS")), 1, 10000, &v) >= 0)
                return (unsigned) v;
        return fallback;
}

static unsigned terminal_rows(void) {
        return terminal_size(true, 24);
}

size_t output_width(void) {
        return isatty(STDOUT_FILENO) > 0 ? terminal_size(false, 80) : 0;
}

static size_t count_lines(const char *text, size_t size) {
        size_t n = 0;

        for (size_t i = 0; i < size; i++)
                if (text[i] == '\n')
                        n++;
        if (size > 0 && text[size - 1] != '\n')
                n++;
        return n;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Runs argv with the text on its stdin; -ENOENT (or the exec errno) when it cannot be started,
 * so the caller prints the text itself. */
static int pager_run(char **argv, const char *text, size_t size) {
        struct sigaction ignore = { .sa_handler = SIG_IGN }, old_pipe, old_int, old_quit;
        int data[2], err[2], child_errno = 0, r;
        ssize_t k;
        pid_t pid;

        if (pipe2(data, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(err, O_CLOEXEC) < 0) {
                r = -errno;
                close(data[0]);
                close(data[1]);
                return r;
        }

        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(data[0]);
                close(data[1]);
                close(err[0]);
                close(err[1]);
                return r;
        }
        if (pid == 0) {
                /* dup2() clears close-on-exec on the copy; the error pipe stays close-on-exec,
                 * so it reads EOF exactly when the exec worked. */
                if (dup2(data[0], STDIN_FILENO) < 0)
                        _exit(127);
                if (!getenv("LESS"))
                        (void) setenv("LESS", "FRXMK", 1);
                execvp(argv[0], argv);
                child_errno = errno;
                (void) !write(err[1], &child_errno, sizeof(child_errno));
                _exit(127);
        }

        close(data[0]);
        close(err[1]);
        do
                k = read(err[0], &child_errno, sizeof(child_errno));
        while (k < 0 && errno == EINTR);
        close(err[0]);
        if (k == sizeof(child_errno)) {
                close(data[1]);
                (void) waitpid(pid, NULL, 0);
                return -(child_errno > 0 ? child_errno : ENOENT);
        }

        /* The pager owns the terminal now: ^C is for it, and a pager quit early is no error. */
        sigaction(SIGPIPE, &ignore, &old_pipe);
        sigaction(SIGINT, &ignore, &old_int);
        sigaction(SIGQUIT, &ignore, &old_quit);
        (void) write_all(data[1], text, size);
        close(data[1]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        sigaction(SIGPIPE, &old_pipe, NULL);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        return 0;
}

static int pager_show(const char *text, size_t size) {
        const char *e = getenv("PAGER");
        int r;

        if (e) {
                _cleanup_strv_free_ char **argv = NULL;

                if (isempty(e) || streq(e, "cat"))
                        return -ENOENT;
                r = pager_argv(e, &argv);
                if (r < 0)
                        return r;
                return pager_run(argv, text, size);
        }

        static const char *const candidates[] = { "less", "more" };
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                char *argv[] = { (char *) candidates[i], NULL };

                r = pager_run(argv, text, size);
                if (r >= 0)
                        return 0;
        }
        return -ENOENT;
}

int output_show(const char *text, bool allow_pager) {
        size_t size = strlen(strempty(text));

        if (size == 0)
                return 0;

        if (allow_pager && isatty(STDOUT_FILENO) > 0 &&
            count_lines(text, size) >= terminal_rows() &&
            pager_show(text, size) >= 0)
                return 0;

        if (fwrite(text, 1, size, stdout) != size)
                return -EIO;
        return fflush(stdout) == 0 ? 0 : -errno;
}

int json_format_text(json_object *o, JsonFormat f, char **ret) {
        const char *s;

        if (f == JSON_FORMAT_OFF) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        s = json_to_string(o, f == JSON_FORMAT_PRETTY);
        if (!s)
                return -ENOMEM;
        return asprintf(ret, "%s\n", s) < 0 ? -ENOMEM : 0;
}

FILE *open_memstream_unlocked(char **ptr, size_t *sizeloc) {
        FILE *f = open_memstream(ptr, sizeloc);

        if (f)
                (void) __fsetlocking(f, FSETLOCKING_BYCALLER);
        return f;
}

void json_writer_init(JsonWriter *w, FILE *f, JsonFormat format) {
        *w = (JsonWriter) {
                .f = f,
                .pretty = format == JSON_FORMAT_PRETTY,
        };
}

static const char *json_escape(unsigned char c) {
        switch (c) {
        case '\b': return "\\b";
        case '\n': return "\\n";
        case '\r': return "\\r";
        case '\t': return "\\t";
        case '\f': return "\\f";
        case '"':  return "\\\"";
        case '\\': return "\\\\";
        default:   return NULL;
        }
}

/* Quoted and escaped as json-c does with JSON_C_TO_STRING_NOSLASHESCAPE: the two-character
 * escapes, other C0 controls as a six-character escape with lower-case hex digits,
 * everything else (UTF-8 included) as it is. */
static void json_write_quoted(FILE *f, const char *s) {
        static const char hex[] = "0123456789abcdef";

        fputc('"', f);
        for (;;) {
                size_t n = 0;
                const char *e;
                unsigned char c;

                while ((unsigned char) s[n] >= ' ' && s[n] != '"' && s[n] != '\\')
                        n++;
                fwrite(s, 1, n, f);
                s += n;
                c = *s;
                if (c == 0)
                        break;
                e = json_escape(c);
                if (e)
                        fputs(e, f);
                else {
                        fputs("\\u00", f);
                        fputc(hex[c >> 4], f);
                        fputc(hex[c & 0xf], f);
                }
                s++;
        }
        fputc('"', f);
}

static void json_write_indent(JsonWriter *w, unsigned level) {
        for (unsigned i = 0; i < level * 2; i++)
                fputc(' ', w->f);
}

/* What goes before a value: the separator from the previous member, the indentation, the key. */
static void json_write_member(JsonWriter *w, const char *key) {
        if (w->level == 0)
                return;
        if (w->had_member[w->level - 1]) {
                fputc(',', w->f);
                if (w->pretty)
                        fputc('\n', w->f);
        }
        w->had_member[w->level - 1] = true;
        if (w->pretty)
                json_write_indent(w, w->level);
        if (w->in_object[w->level - 1]) {
                json_write_quoted(w->f, strempty(key));
                fputs(w->pretty ? ": " : ":", w->f);
        }
}

void json_writer_open(JsonWriter *w, const char *key, char bracket) {
        json_write_member(w, key);
        fputc(bracket, w->f);
        if (w->pretty)
                fputc('\n', w->f);
        assert(w->level < JSON_WRITER_DEPTH_MAX);
        w->had_member[w->level] = false;
        w->in_object[w->level] = bracket == '{';
        w->level++;
}

void json_writer_close(JsonWriter *w, char bracket) {
        if (w->level == 0)
                return;
        w->level--;
        if (w->pretty) {
                if (w->had_member[w->level])
                        fputc('\n', w->f);
                json_write_indent(w, w->level);
        }
        fputc(bracket, w->f);
}

void json_writer_string(JsonWriter *w, const char *key, const char *s) {
        json_write_member(w, key);
        if (s)
                json_write_quoted(w->f, s);
        else
                fputs("null", w->f);
}

void json_writer_int(JsonWriter *w, const char *key, int64_t v) {
        json_write_member(w, key);
        fprintf(w->f, "%" PRIi64, v);
}

void json_writer_bool(JsonWriter *w, const char *key, bool v) {
        json_write_member(w, key);
        fputs(v ? "true" : "false", w->f);
}
