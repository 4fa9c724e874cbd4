/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "list.h"
#include "log.h"
#include "provider-runner.h"

#define OUTPUT_MAX (1024 * 1024)
#define KILL_GRACE_USEC (5 * USEC_PER_SEC)

typedef struct Buffer {
        char *data;
        size_t size;
} Buffer;

struct RunnerJob {
        Runner *runner;
        LIST_FIELDS(RunnerJob, jobs);
        char *description;
        pid_t pid;
        sd_event_source *child_source, *out_source, *err_source, *timer_source;
        int out_fd, err_fd;
        Buffer out, err;
        size_t line_start;        /* where the current stdout line starts in out */
        bool timed_out, exited;
        int exit_status;
        RunnerLineFn on_line;
        RunnerDoneFn on_done;
        void *userdata;

        /* As a transient unit: */
        char *unit;               /* golem-vm-web-launch.service */
        char *job_path;           /* the systemd job starting it */
        sd_bus_slot *slot;        /* the call in flight */
        bool unit_done;           /* its main process is gone, status known */
        bool log_output;
        bool forking;             /* Type=forking: done once started; the unit stays */
};

struct Runner {
        sd_event *event;
        sd_bus *bus;              /* set: commands run as transient units */
        sd_bus_slot *job_removed_slot;
        RunnerJob *jobs;
        size_t n_jobs;
        bool detached;
};

int runner_new(sd_event *event, Runner **ret) {
        Runner *r;
        sigset_t mask;

        /* sd_event_add_child() needs SIGCHLD blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(event);
        *ret = r;
        return 0;
}

static void job_free(RunnerJob *j) {
        Runner *r = j->runner;

        LIST_REMOVE(jobs, r->jobs, j);
        r->n_jobs--;

        sd_event_source_disable_unref(j->child_source);
        sd_event_source_disable_unref(j->out_source);
        sd_event_source_disable_unref(j->err_source);
        sd_event_source_disable_unref(j->timer_source);
        sd_bus_slot_unref(j->slot);
        closep(&j->out_fd);
        closep(&j->err_fd);
        free(j->out.data);
        free(j->err.data);
        free(j->description);
        free(j->unit);
        free(j->job_path);
        free(j);
}

static void unit_stop(RunnerJob *j);

static void job_kill(RunnerJob *j) {
        if (j->pid > 0 && !j->exited) {
                (void) kill(j->pid, SIGKILL);
                /* Reap it so no zombie is left; it dies at once after SIGKILL. */
                (void) waitpid(j->pid, NULL, 0);
                j->exited = true;
        }
}

void runner_detach(Runner *r) {
        r->detached = true;
}

void runner_job_cancel(RunnerJob *j) {
        if (!j)
                return;
        if (!j->unit)
                job_kill(j);
        else if (!j->runner->detached)
                unit_stop(j);
        job_free(j);
}

Runner *runner_free(Runner *r) {
        if (!r)
                return NULL;
        /* Transient units keep running: a launch survives a restart of the provider, which
         * finds the VM again when it starts. Only directly forked children are killed. */
        while (r->jobs) {
                if (r->jobs->unit)
                        job_free(r->jobs);
                else
                        runner_job_cancel(r->jobs);
        }
        sd_bus_slot_unref(r->job_removed_slot);
        sd_bus_unref(r->bus);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

size_t runner_n_jobs(const Runner *r) {
        return r->n_jobs;
}

/* Strips what a terminal would interpret: ANSI escapes, backspaces and the characters they
 * erase (multipass spinners write "\b|" and friends even without a terminal). */
static void clean_line(char *s) {
        char *w = s;

        for (const char *p = s; *p; p++) {
                if (*p == '\033') {
                        if (p[1] == '[') {
                                p += 2;
                                while (*p && !(*p >= '@' && *p <= '~'))
                                        p++;
                                if (!*p)
                                        break;
                        }
                        continue;
                }
                if (*p == '\b') {
                        if (w > s)
                                w--;
                        continue;
                }
                if ((unsigned char) *p < 0x20 && *p != '\t')
                        continue;
                *w++ = *p;
        }
        while (w > s && (w[-1] == ' ' || w[-1] == '\t'))
                w--;
        *w = 0;
}

/* The length of the line at p (of n bytes); *skip is the length of what ends it, 0 when
 * nothing does yet. A line ends at '\r', '\n' or an erase-line sequence (ESC [ digits K):
 * multipass' spinner writes no newline between its stages, only "ESC[2K ESC[0A ESC[0E". The
 * length is explicit because the output may hold NUL bytes. */
static size_t line_length(const char *p, size_t n, size_t *skip) {
        for (size_t i = 0; i < n; i++) {
                size_t k;

                if (p[i] == '\r' || p[i] == '\n') {
                        *skip = 1;
                        return i;
                }
                if (p[i] != '\033' || i + 1 >= n || p[i + 1] != '[')
                        continue;
                for (k = i + 2; k < n && p[k] >= '0' && p[k] <= '9'; k++)
                        ;
                if (k < n && p[k] == 'K') {
                        *skip = k + 1 - i;
                        return i;
                }
        }
        *skip = 0;
        return n;
}

static void emit_lines(RunnerJob *j, bool flush) {
        while (j->line_start < j->out.size) {
                const char *start = j->out.data + j->line_start;
                size_t skip, w = 0, n = line_length(start, j->out.size - j->line_start, &skip);
                char *line;

                if (skip == 0 && !flush)
                        break; /* incomplete */
                j->line_start += n + skip;
                line = malloc(n + 1);
                if (!line)
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (start[i] != 0)
                                line[w++] = start[i];
                line[w] = 0;
                clean_line(line);
                if (line[0] && j->unit)
                        /* journalctl -u shows it with the unit's own output. */
                        log_struct(j->log_output ? LOG_INFO : LOG_DEBUG,
                                   "OBJECT_SYSTEMD_UNIT=%s", j->unit,
                                   "MESSAGE=%s: %s", j->unit, line);
                if (line[0] && j->on_line)
                        j->on_line(j, line, j->userdata);
                free(line);
        }
}

static int buffer_append_text(Buffer *b, const char *text) {
        size_t n = strlen(text);
        char *d;

        if (b->size + n > OUTPUT_MAX)
                return -E2BIG;
        d = realloc(b->data, b->size + n + 1);
        if (!d)
                return -ENOMEM;
        memcpy(d + b->size, text, n + 1);
        b->data = d;
        b->size += n;
        return 0;
}

static int buffer_read(int fd, Buffer *b) {
        char tmp[16384];
        ssize_t n;

        for (;;) {
                n = read(fd, tmp, sizeof(tmp));
                if (n < 0)
                        return errno == EAGAIN ? 0 : (errno == EINTR ? 0 : -errno);
                if (n == 0)
                        return 1; /* EOF */
                if (b->size < OUTPUT_MAX) {
                        size_t k = MIN((size_t) n, OUTPUT_MAX - b->size);
                        char *d = realloc(b->data, b->size + k + 1);

                        if (!d)
                                return -ENOMEM;
                        memcpy(d + b->size, tmp, k);
                        b->data = d;
                        b->size += k;
                        b->data[b->size] = 0;
                }
        }
}

static void job_maybe_finish(RunnerJob *j) {
        RunnerResult res;

        /* Done when the process is gone and both pipes reached EOF. */
        if (!j->exited || j->out_source || j->err_source)
                return;

        if (j->unit && j->err.size > 0)
                log_struct(j->exit_status != 0 || j->log_output ? LOG_INFO : LOG_DEBUG,
                           "OBJECT_SYSTEMD_UNIT=%s", j->unit,
                           "MESSAGE=%s: %.*s", j->unit, (int) MIN(j->err.size, (size_t) 2048), j->err.data);

        emit_lines(j, true);
        res = (RunnerResult) {
                .exit_status = j->exit_status,
                .timed_out = j->timed_out,
                .out = j->out.data ?: "",
                .out_size = j->out.size,
                .err = j->err.data ?: "",
                .err_size = j->err.size,
        };
        log_debug("%s exited with status %d%s.", j->description, j->exit_status, j->timed_out ? " (timed out)" : "");
        if (j->on_done)
                j->on_done(j, &res, j->userdata);
        job_free(j);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RunnerJob *j = userdata;
        bool is_out = s == j->out_source;
        int r;

        r = buffer_read(fd, is_out ? &j->out : &j->err);
        if (is_out)
                emit_lines(j, false);
        if (r != 0) {
                /* EOF or error: this pipe is done. */
                if (is_out) {
                        j->out_source = sd_event_source_disable_unref(j->out_source);
                        closep(&j->out_fd);
                } else {
                        j->err_source = sd_event_source_disable_unref(j->err_source);
                        closep(&j->err_fd);
                }
                job_maybe_finish(j);
        }
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        RunnerJob *j = userdata;

        j->exited = true;
        j->exit_status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        j->child_source = sd_event_source_disable_unref(j->child_source);
        j->timer_source = sd_event_source_disable_unref(j->timer_source);
        job_maybe_finish(j);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        RunnerJob *j = userdata;

        if (!j->timed_out) {
                j->timed_out = true;
                log_debug("%s timed out, sending SIGTERM.", j->description);
                (void) kill(j->pid, SIGTERM);
                (void) sd_event_source_set_time_relative(s, KILL_GRACE_USEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        } else {
                log_debug("%s still running, sending SIGKILL.", j->description);
                (void) kill(j->pid, SIGKILL);
        }
        return 0;
}

_noreturn_ static void child_exec(char *const *argv, int in_fd, int out_fd, int err_fd) {
        sigset_t none;

        /* Undo what the daemon set up: blocked signals, ignored SIGPIPE. */
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGPIPE, SIG_DFL);

        if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
                _exit(127);
        (void) close_range(3, ~0U, 0);
        execv(argv[0], argv);
        _exit(127);
}

/* ---- transient units ---- */

extern char **environ;

/* Reads what is left in a pipe and stops watching it: the unit's main process is gone, so
 * everything it wrote is there already (systemd keeps its own copy of the write end until
 * it unloads the unit, so EOF would come late). */
static void drain(RunnerJob *j, bool out) {
        sd_event_source **s = out ? &j->out_source : &j->err_source;
        int *fd = out ? &j->out_fd : &j->err_fd;

        if (*fd >= 0)
                (void) buffer_read(*fd, out ? &j->out : &j->err);
        *s = sd_event_source_disable_unref(*s);
        closep(fd);
}

static void unit_finish(RunnerJob *j, int code, int status) {
        /* ExecMainCode is a CLD_* code: exited, killed or dumped; 0 if it never ran. */
        j->exit_status = code == CLD_EXITED ? status : code == 0 ? 127 : 128 + status;
        j->exited = true;
        drain(j, true);
        emit_lines(j, false);
        drain(j, false);
        /* Let systemd collect the unit now (a forking unit was never referenced: it lives on). */
        if (!j->forking)
                (void) sd_bus_call_method_async(j->runner->bus, NULL, "org.freedesktop.systemd1",
                                                "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                                "UnrefUnit", NULL, NULL, "s", j->unit);
        job_maybe_finish(j);
}

static int on_unit_properties(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        RunnerJob *j = userdata;
        int code = 0, status = 0, r;

        j->slot = sd_bus_slot_unref(j->slot);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                log_debug("Cannot read the exit status of %s: %s", j->unit, sd_bus_message_get_error(reply)->message);
                unit_finish(j, 0, 0);
                return 1;
        }

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r > 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        break;
                if (streq(name, "ExecMainCode"))
                        r = sd_bus_message_read(reply, "v", "i", &code);
                else if (streq(name, "ExecMainStatus"))
                        r = sd_bus_message_read(reply, "v", "i", &status);
                else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        break;
                r = sd_bus_message_exit_container(reply);
        }
        if (j->forking && !((code == CLD_EXITED && status != 0) || code == CLD_KILLED || code == CLD_DUMPED)) {
                /* The command did not fail, yet the unit did not start (no pid file, say). */
                (void) buffer_append_text(&j->err, "the unit did not start (see its journal)");
                code = CLD_EXITED;
                status = 1;
        }
        unit_finish(j, code, status);
        return 1;
}

/* The job that started the unit finished: for Type=oneshot that is when the command exited. */
static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Runner *r = userdata;
        const char *path, *unit, *result;
        _cleanup_free_ char *unit_path = NULL;
        uint32_t id;
        int k;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        LIST_FOREACH(jobs, j, r->jobs) {
                if (!j->unit || !streq(j->unit, unit) || (j->job_path && !streq(j->job_path, path)) || j->unit_done)
                        continue;

                j->unit_done = true;
                j->timed_out = streq(result, "timeout");
                j->timer_source = sd_event_source_disable_unref(j->timer_source);
                if (j->forking && streq(result, "done")) {
                        /* The command forked its daemon, which now runs as the unit. */
                        unit_finish(j, CLD_EXITED, 0);
                        break;
                }
                k = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &unit_path);
                if (k >= 0)
                        k = sd_bus_call_method_async(r->bus, &j->slot, "org.freedesktop.systemd1", unit_path,
                                                     "org.freedesktop.DBus.Properties", "GetAll",
                                                     on_unit_properties, j, "s", "org.freedesktop.systemd1.Service");
                if (k < 0)
                        unit_finish(j, 0, 0);
                break;
        }
        return 0;
}

static void unit_stop(RunnerJob *j) {
        if (j->unit_done || !j->runner->bus)
                return;
        (void) sd_bus_call_method_async(j->runner->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                        "org.freedesktop.systemd1.Manager", "StopUnit", NULL, NULL, "ss", j->unit, "replace");
}

int runner_use_units(Runner *r, sd_bus *bus) {
        int k;

        if (!bus || sd_booted() <= 0)
                return 0;

        k = sd_bus_match_signal_async(bus, &r->job_removed_slot, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                      "org.freedesktop.systemd1.Manager", "JobRemoved", on_job_removed, NULL, r);
        if (k < 0)
                return k;
        /* Being subscribed makes systemd send job signals to us at all. */
        (void) sd_bus_call_method_async(bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                        "org.freedesktop.systemd1.Manager", "Subscribe", NULL, NULL, NULL);
        r->bus = sd_bus_ref(bus);
        return 1;
}

sd_bus *runner_units_bus(const Runner *r) {
        return r->bus;
}

static int append_property_fd(sd_bus_message *m, const char *name, int fd) {
        return fd < 0 ? 0 : sd_bus_message_append(m, "(sv)", name, "h", fd);
}

/* MULTIPASS_* settings reach multipass the same way as without units. */
static int append_environment(sd_bus_message *m) {
        int k;

        k = sd_bus_message_open_container(m, 'r', "sv");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", "Environment");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'v', "as");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "s");
        for (char **e = environ; k >= 0 && e && *e; e++)
                if (startswith(*e, "MULTIPASS_"))
                        k = sd_bus_message_append(m, "s", *e);
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        return k;
}

/* ExecStart= and friends: a(sasb), the path, the argv, whether a failure is ignored. */
static int append_exec(sd_bus_message *m, const char *name, char *const *const *argvs) {
        int k;

        k = sd_bus_message_open_container(m, 'r', "sv");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", name);
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'v', "a(sasb)");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "(sasb)");
        for (; k >= 0 && *argvs; argvs++) {
                k = sd_bus_message_open_container(m, 'r', "sasb");
                if (k >= 0)
                        k = sd_bus_message_append(m, "s", (*argvs)[0]);
                if (k >= 0)
                        k = sd_bus_message_append_strv(m, (char **) *argvs);
                if (k >= 0)
                        k = sd_bus_message_append(m, "b", 0);
                if (k >= 0)
                        k = sd_bus_message_close_container(m);
        }
        for (int i = 0; k >= 0 && i < 3; i++)
                k = sd_bus_message_close_container(m);
        return k;
}

static int on_unit_started(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        RunnerJob *j = userdata;
        const sd_bus_error *e;
        const char *path;

        j->slot = sd_bus_slot_unref(j->slot);
        e = sd_bus_message_get_error(reply);
        if (e) {
                log_warning("Failed to start %s: %s", j->unit, e->message);
                /* Reported as the command failing, with systemd's words as its stderr. */
                (void) buffer_append_text(&j->err, e->message);
                j->unit_done = true;
                unit_finish(j, CLD_EXITED, 127);
                return 1;
        }
        if (sd_bus_message_read(reply, "o", &path) >= 0)
                (void) free_and_strdup(&j->job_path, path);
        log_debug("Started %s as a transient unit (job %s).", j->unit, strempty(j->job_path));
        return 1;
}

static int unit_start(RunnerJob *j, const RunnerSpawnParams *p, int in_fd, int out_fd, int err_fd) {
        sd_bus_message *m = NULL;
        int k;

        k = sd_bus_message_new_method_call(j->runner->bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "StartTransientUnit");
        if (k >= 0)
                k = sd_bus_message_append(m, "ss", j->unit, "fail");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "(sv)");
        if (k >= 0)
                k = sd_bus_message_append(m, "(sv)(sv)(sv)",
                                          "Description", "s", j->description,
                                          "CollectMode", "s", "inactive-or-failed",
                                          "TimeoutStartUSec", "t", p->timeout > 0 ? p->timeout : UINT64_MAX);
        if (k >= 0 && p->pid_file)
                k = sd_bus_message_append(m, "(sv)(sv)",
                                          "Type", "s", "forking",
                                          "PIDFile", "s", p->pid_file);
        else if (k >= 0)
                k = sd_bus_message_append(m, "(sv)(sv)",
                                          "Type", "s", "oneshot",
                                          /* Kept until we have read its exit status. */
                                          "AddRef", "b", 1);
        if (k >= 0)
                k = append_property_fd(m, "StandardInputFileDescriptor", in_fd);
        if (k >= 0)
                k = append_property_fd(m, "StandardOutputFileDescriptor", out_fd);
        if (k >= 0)
                k = append_property_fd(m, "StandardErrorFileDescriptor", err_fd);
        if (k >= 0)
                k = append_environment(m);
        if (k >= 0 && p->unit_properties)
                k = p->unit_properties(m, p->userdata);
        if (k >= 0 && p->exec_start_pre)
                k = append_exec(m, "ExecStartPre", p->exec_start_pre);
        if (k >= 0)
                k = append_exec(m, "ExecStart", (char *const *const[]) { p->argv, NULL });
        if (k >= 0)
                k = sd_bus_message_close_container(m); /* the properties */
        if (k >= 0)
                k = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (k >= 0)
                k = sd_bus_call_async(j->runner->bus, &j->slot, m, on_unit_started, j, 0);
        sd_bus_message_unref(m);
        return k;
}

static int spawn_unit(Runner *r, RunnerJob *j, const RunnerSpawnParams *p, int in_fd, int out_fd, int err_fd) {
        if (asprintf(&j->unit, "%s.service", j->description) < 0) {
                j->unit = NULL;
                return -ENOMEM;
        }
        j->forking = p->pid_file;
        /* The fds are duplicated into the message: ours can be closed once it is queued. */
        return unit_start(j, p, in_fd, out_fd, err_fd);
}

static int spawn_direct(Runner *r, RunnerJob *j, const RunnerSpawnParams *p, int in_fd, int out_fd, int err_fd) {
        int k;

        j->pid = fork();
        if (j->pid < 0)
                return -errno;
        if (j->pid == 0)
                child_exec(p->argv, in_fd, out_fd, err_fd);

        k = sd_event_add_child(r->event, &j->child_source, j->pid, WEXITED, on_child, j);
        if (k >= 0 && p->timeout > 0)
                k = sd_event_add_time_relative(r->event, &j->timer_source, CLOCK_MONOTONIC, p->timeout, 0, on_timeout, j);
        if (k < 0)
                return k;
        log_debug("Started %s as PID %d.", j->description, (int) j->pid);
        return 0;
}

int runner_spawn(Runner *r, const RunnerSpawnParams *p, RunnerJob **ret) {
        int in_pipe[2] = { -EBADF, -EBADF }, out_pipe[2] = { -EBADF, -EBADF }, err_pipe[2] = { -EBADF, -EBADF };
        RunnerJob *j = NULL;
        int k;

        if (!p->argv || !p->argv[0] || p->argv[0][0] != '/')
                return -EINVAL;
        for (char *const *const *a = p->exec_start_pre; a && *a; a++)
                if (!(*a)[0] || (*a)[0][0] != '/')
                        return -EINVAL;
        /* Commands before the command exist only as a unit. */
        if (p->exec_start_pre && (!r->bus || p->direct))
                return -EOPNOTSUPP;
        if (p->input_size > 65536) /* fits the pipe, so it is written at once */
                return -E2BIG;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->runner = r;
        j->out_fd = j->err_fd = -EBADF;
        j->on_line = p->on_line;
        j->on_done = p->on_done;
        j->userdata = p->userdata;
        j->log_output = p->log_output;
        j->description = strdup(p->description ?: p->argv[0]);
        LIST_PREPEND(jobs, r->jobs, j);
        r->n_jobs++;
        if (!j->description) {
                k = -ENOMEM;
                goto fail;
        }

        if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
                k = -errno;
                goto fail;
        }
        if (p->input && p->input_size > 0) {
                if (write(in_pipe[1], p->input, p->input_size) != (ssize_t) p->input_size) {
                        k = -EIO;
                        goto fail;
                }
        }
        closep(&in_pipe[1]);

        j->out_fd = out_pipe[0];
        j->err_fd = err_pipe[0];
        out_pipe[0] = err_pipe[0] = -EBADF;
        (void) fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
        (void) fcntl(j->err_fd, F_SETFL, O_NONBLOCK);
        k = sd_event_add_io(r->event, &j->out_source, j->out_fd, EPOLLIN, on_output, j);
        if (k >= 0)
                k = sd_event_add_io(r->event, &j->err_source, j->err_fd, EPOLLIN, on_output, j);
        if (k < 0)
                goto fail;

        if (r->bus && !p->direct)
                k = spawn_unit(r, j, p, in_pipe[0], out_pipe[1], err_pipe[1]);
        else
                k = spawn_direct(r, j, p, in_pipe[0], out_pipe[1], err_pipe[1]);
        if (k < 0)
                goto fail;

        /* The child (or systemd) has its ends now. */
        closep(&in_pipe[0]);
        closep(&out_pipe[1]);
        closep(&err_pipe[1]);
        if (ret)
                *ret = j;
        return 0;

fail:
        closep(&in_pipe[0]);
        closep(&in_pipe[1]);
        closep(&out_pipe[0]);
        closep(&out_pipe[1]);
        closep(&err_pipe[0]);
        closep(&err_pipe[1]);
        job_kill(j);
        job_free(j);
        return k;
}
