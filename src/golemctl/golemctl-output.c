/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

#include "golemctl-output.h"
#include "json-util.h"
#include "parse-util.h"

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
        TableColor color;
} TableCell;

struct Table {
        size_t n_columns;
        char **headers;
        bool *right;
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

int table_add_cell(Table *t, const char *text, TableColor color) {
        char *copy;

        if (!t)
                return -EINVAL;
        if (t->n_cells >= t->allocated) {
                size_t a = MAX(t->allocated * 2, (size_t) 16);
                TableCell *p = reallocarray(t->cells, a, sizeof(TableCell));

                if (!p)
                        return -ENOMEM;
                t->cells = p;
                t->allocated = a;
        }
        copy = strdup(text ?: "-");
        if (!copy)
                return -ENOMEM;
        t->cells[t->n_cells++] = (TableCell) { copy, color };
        return 0;
}

int table_add_cellf(Table *t, TableColor color, const char *format, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return table_add_cell(t, s, color);
}

size_t table_n_rows(const Table *t) {
        return t ? (t->n_cells + t->n_columns - 1) / t->n_columns : 0;
}

size_t utf8_width(const char *s) {
        size_t n = 0;

        for (; s && *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        n++;
        return n;
}

static const char *cell_text(const Table *t, size_t row, size_t column) {
        size_t i = row * t->n_columns + column;

        return i < t->n_cells ? t->cells[i].text : "";
}

static void put_padding(FILE *f, size_t n) {
        for (; n > 0; n--)
                fputc(' ', f);
}

static void put_line(FILE *out, const Table *t, const size_t *widths, char *const *texts,
                     const TableColor *colors, bool colors_on, const char *line_color) {
        _cleanup_free_ char *line = NULL;
        size_t last = t->n_columns - 1, size = 0;
        FILE *f;

        /* Each line is made apart, so that its trailing blanks (an empty last cell) can go. */
        f = open_memstream(&line, &size);
        if (!f)
                return;
        if (colors_on && line_color)
                fputs(line_color, f);
        for (size_t c = 0; c < t->n_columns; c++) {
                const char *s = texts[c];
                size_t w = utf8_width(s), pad = widths[c] > w ? widths[c] - w : 0;
                const char *ansi = colors ? table_color_ansi(colors[c]) : "";
                bool colored = colors_on && !isempty(ansi);

                if (c > 0)
                        fputs("  ", f);
                if (t->right[c])
                        put_padding(f, pad);
                if (colored)
                        fputs(ansi, f);
                fputs(s, f);
                if (colored)
                        fputs(ANSI_NORMAL, f);
                if (!t->right[c] && c < last)
                        put_padding(f, pad);
        }
        if (colors_on && line_color)
                fputs(ANSI_NORMAL, f);
        if (fclose(f) != 0)
                return;
        while (size > 0 && line[size - 1] == ' ')
                size--;
        fwrite(line, 1, size, out);
        fputc('\n', out);
}

int table_format(const Table *t, bool header, bool colors, char **ret) {
        _cleanup_free_ size_t *widths = NULL;
        _cleanup_free_ char **texts = NULL;
        _cleanup_free_ TableColor *cols = NULL;
        char *buf = NULL;
        size_t size = 0, rows;
        FILE *f;

        if (!t || !ret)
                return -EINVAL;

        widths = calloc(t->n_columns, sizeof(size_t));
        texts = calloc(t->n_columns, sizeof(char *));
        cols = calloc(t->n_columns, sizeof(TableColor));
        if (!widths || !texts || !cols)
                return -ENOMEM;

        rows = table_n_rows(t);
        for (size_t c = 0; c < t->n_columns; c++) {
                if (header)
                        widths[c] = utf8_width(t->headers[c]);
                for (size_t r = 0; r < rows; r++)
                        widths[c] = MAX(widths[c], utf8_width(cell_text(t, r, c)));
        }

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        if (header)
                put_line(f, t, widths, t->headers, NULL, colors, ANSI_BOLD);
        for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        size_t i = r * t->n_columns + c;

                        texts[c] = (char *) cell_text(t, r, c);
                        cols[c] = i < t->n_cells ? t->cells[i].color : TABLE_COLOR_DEFAULT;
                }
                put_line(f, t, widths, texts, cols, colors, NULL);
        }

        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
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

static unsigned terminal_rows(void) {
        struct winsize ws = {};
        uint64_t v;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0 && ws.ws_row > 0)
                return ws.ws_row;
        if (parse_uint_range(strempty(getenv("LINES")), 1, 10000, &v) >= 0)
                return (unsigned) v;
        return 24;
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
