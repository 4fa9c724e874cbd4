/* SPDX-License-Identifier: MIT */
#include <printf.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_LINE_MAX 4096
#define LOG_FIELDS_MAX 32

static int max_level = LOG_INFO;
static LogTarget target = LOG_TARGET_AUTO;
static const char *identifier = NULL;
static const char *journal_socket = "/run/systemd/journal/socket";

static const char *const log_target_table[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_STDERR] = "stderr",
};

DEFINE_STRING_TABLE_LOOKUP(log_target, LogTarget);

static const char *const level_table[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
        [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static int level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_table); i++)
                if (streq(level_table[i], s))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        return -EINVAL;
}

/* sd_journal_send() returns 0 and drops the entry when the socket is missing, so look first. */
static bool journal_present(void) {
        struct stat st;

        return stat(journal_socket, &st) >= 0 && S_ISSOCK(st.st_mode);
}

void log_set_journal_socket_path(const char *path) {
        journal_socket = path;
}

void log_setup(const char *ident) {
        const char *e;

        identifier = ident;

        e = getenv("GOLEM_LOG_LEVEL");
        if (e) {
                int l = level_from_string(e);
                if (l >= 0)
                        max_level = l;
        }

        e = getenv("GOLEM_LOG_TARGET");
        if (e) {
                LogTarget t = log_target_from_string(e);
                if (t >= 0)
                        target = t;
        }

        if (target == LOG_TARGET_AUTO)
                target = journal_present() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

LogTarget log_get_target(void) {
        return target == LOG_TARGET_AUTO ? LOG_TARGET_STDERR : target;
}

static void write_stderr(int level, const char *message) {
        const char *prefix = "";

        if (level <= LOG_ERR)
                prefix = "Error: ";
        else if (level == LOG_WARNING)
                prefix = "Warning: ";

        /* One write per line, so concurrent writers do not interleave. */
        fprintf(stderr, "%s%s\n", prefix, message);
}

static void write_journal(int level, int error, const char *file, int line, const char *func,
                          char **fields, size_t n_fields) {
        char priority[sizeof("PRIORITY=") + 2], code_line[32], errno_field[32];
        _cleanup_free_ char *code_file = NULL, *code_func = NULL, *ident = NULL;
        struct iovec iov[LOG_FIELDS_MAX + 6];
        size_t n = 0;

        snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
        iov[n++] = (struct iovec) { priority, strlen(priority) };
        if (asprintf(&code_file, "CODE_FILE=%s", file) >= 0)
                iov[n++] = (struct iovec) { code_file, strlen(code_file) };
        snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
        iov[n++] = (struct iovec) { code_line, strlen(code_line) };
        if (asprintf(&code_func, "CODE_FUNC=%s", func) >= 0)
                iov[n++] = (struct iovec) { code_func, strlen(code_func) };
        if (identifier && asprintf(&ident, "SYSLOG_IDENTIFIER=%s", identifier) >= 0)
                iov[n++] = (struct iovec) { ident, strlen(ident) };
        if (error != 0) {
                snprintf(errno_field, sizeof(errno_field), "ERRNO=%d", ERRNO_VALUE(error));
                iov[n++] = (struct iovec) { errno_field, strlen(errno_field) };
        }
        for (size_t i = 0; i < n_fields; i++)
                iov[n++] = (struct iovec) { fields[i], strlen(fields[i]) };

        if (sd_journal_sendv(iov, (int) n) < 0) {
                /* The journal went away: fall back for this and later entries. */
                target = LOG_TARGET_STDERR;
                for (size_t i = 0; i < n_fields; i++) {
                        const char *m = startswith(fields[i], "MESSAGE=");
                        if (m)
                                write_stderr(level, m);
                }
        }
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        char buffer[sizeof("MESSAGE=") + LOG_LINE_MAX] = "MESSAGE=";
        char *fields[1] = { buffer };
        va_list ap;

        if (level > max_level)
                return -ERRNO_VALUE(error);

        errno = ERRNO_VALUE(error); /* for %m */
        va_start(ap, format);
        vsnprintf(buffer + strlen("MESSAGE="), LOG_LINE_MAX, format, ap);
        va_end(ap);

        if (log_get_target() == LOG_TARGET_JOURNAL)
                write_journal(level, error, file, line, func, fields, 1);
        else
                write_stderr(level, buffer + strlen("MESSAGE="));

        return -ERRNO_VALUE(error);
}

/* Skips the arguments that one printf format consumes. */
static void va_skip_format(va_list *ap, const char *format) {
        int types[16];
        size_t n;

        n = parse_printf_format(format, ELEMENTSOF(types), types);
        n = MIN(n, ELEMENTSOF(types));
        for (size_t i = 0; i < n; i++) {
                int t = types[i];

                if (t & PA_FLAG_PTR) {
                        (void) va_arg(*ap, void *);
                        continue;
                }
                switch (t & ~PA_FLAG_MASK) {
                case PA_INT:
                case PA_CHAR:
                case PA_WCHAR:
                        if (t & PA_FLAG_LONG_LONG)
                                (void) va_arg(*ap, long long);
                        else if (t & PA_FLAG_LONG)
                                (void) va_arg(*ap, long);
                        else
                                (void) va_arg(*ap, int);
                        break;
                case PA_FLOAT:
                case PA_DOUBLE:
                        if (t & PA_FLAG_LONG_DOUBLE)
                                (void) va_arg(*ap, long double);
                        else
                                (void) va_arg(*ap, double);
                        break;
                default: /* strings and pointers */
                        (void) va_arg(*ap, void *);
                        break;
                }
        }
}

int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *format, ...) {
        char *fields[LOG_FIELDS_MAX] = {};
        const char *message = NULL;
        size_t n = 0;
        va_list ap;

        if (level > max_level)
                return -ERRNO_VALUE(error);

        va_start(ap, format);
        for (const char *f = format; f && n < ELEMENTSOF(fields); f = va_arg(ap, const char *)) {
                va_list aq;

                errno = ERRNO_VALUE(error);
                va_copy(aq, ap);
                if (vasprintf(&fields[n], f, aq) < 0)
                        fields[n] = NULL;
                va_end(aq);
                va_skip_format(&ap, f);

                if (fields[n]) {
                        const char *m = startswith(fields[n], "MESSAGE=");
                        if (m)
                                message = m;
                        n++;
                }
        }
        va_end(ap);

        if (log_get_target() == LOG_TARGET_JOURNAL)
                write_journal(level, error, file, line, func, fields, n);
        else if (message)
                write_stderr(level, message);

        for (size_t i = 0; i < n; i++)
                free(fields[i]);

        return -ERRNO_VALUE(error);
}
