/* SPDX-License-Identifier: MIT */
/* The runner: commands as argv arrays on an sd-event loop, their output, exit status, timeout
 * and cancellation, without leaking file descriptors or leaving zombies. The test may use
 * /bin/sh to make a child misbehave; the daemon never runs a shell. */

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "provider-runner.h"
#include "tests.h"
#include "time-util.h"

#define LINES_MAX 16

typedef struct Outcome {
        unsigned n_done;
        int exit_status;
        bool timed_out;
        char *out, *err;
        size_t out_size, err_size;
        char *lines[LINES_MAX];
        size_t n_lines, n_lines_total;
        size_t line_bytes_total;
        bool bad_line;             /* a line with a control character or a line break */
} Outcome;

static void outcome_done(Outcome *o) {
        free(o->out);
        free(o->err);
        for (size_t i = 0; i < o->n_lines; i++)
                free(o->lines[i]);
        *o = (Outcome) {};
}

static void on_line(RunnerJob *job, const char *line, void *userdata) {
        Outcome *o = userdata;

        for (const char *p = line; *p; p++)
                if ((unsigned char) *p < 0x20 && *p != '\t')
                        o->bad_line = true;
        if (line[0] == 0)
                o->bad_line = true;
        if (o->n_lines < LINES_MAX)
                o->lines[o->n_lines++] = strdup(line);
        o->n_lines_total++;
        o->line_bytes_total += strlen(line);
}

static void on_done(RunnerJob *job, const RunnerResult *res, void *userdata) {
        Outcome *o = userdata;

        o->n_done++;
        o->exit_status = res->exit_status;
        o->timed_out = res->timed_out;
        /* The result lives only during the callback: copy it. NUL-terminated, as promised. */
        ASSERT_NOT_NULL(res->out);
        ASSERT_NOT_NULL(res->err);
        ASSERT_EQ_INT(res->out[res->out_size], 0);
        ASSERT_EQ_INT(res->err[res->err_size], 0);
        o->out = malloc(res->out_size + 1);
        o->err = malloc(res->err_size + 1);
        ASSERT_TRUE(o->out && o->err);
        memcpy(o->out, res->out, res->out_size + 1);
        memcpy(o->err, res->err, res->err_size + 1);
        o->out_size = res->out_size;
        o->err_size = res->err_size;
}

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        unsigned n = 0;

        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static void assert_no_children(void) {
        /* No zombie and nothing running: every child was reaped. */
        errno = 0;
        ASSERT_EQ_INT(waitpid(-1, NULL, WNOHANG), -1);
        ASSERT_EQ_INT(errno, ECHILD);
}

typedef struct Env {
        sd_event *event;
        Runner *runner;
        unsigned fds_before;
} Env;

static void env_setup(Env *e) {
        *e = (Env) { .fds_before = count_fds() };
        ASSERT_OK(sd_event_new(&e->event));
        ASSERT_OK(runner_new(e->event, &e->runner));
        ASSERT_EQ_UINT(runner_n_jobs(e->runner), 0);
}

static void env_teardown(Env *e) {
        e->runner = runner_free(e->runner);
        ASSERT_NULL(e->runner);
        e->event = sd_event_unref(e->event);
        ASSERT_EQ_UINT(count_fds(), e->fds_before);
        assert_no_children();
}

/* Runs the loop until o has its result, failing after max_usec. Returns the time it took. */
static usec_t run_until_done(Env *e, Outcome *o, usec_t max_usec) {
        usec_t start = now_monotonic();

        while (o->n_done == 0) {
                if (now_monotonic() - start > max_usec)
                        tests_fail(__FILE__, __LINE__, "command still running after %llu ms",
                                   (unsigned long long) (max_usec / USEC_PER_MSEC));
                ASSERT_OK(sd_event_run(e->event, 100 * USEC_PER_MSEC));
        }
        return now_monotonic() - start;
}

static void run_for(Env *e, usec_t usec) {
        usec_t start = now_monotonic();

        while (now_monotonic() - start < usec)
                ASSERT_OK(sd_event_run(e->event, 10 * USEC_PER_MSEC));
}

static int spawn(Env *e, char *const *argv, const char *input, size_t input_size, usec_t timeout, Outcome *o,
                 RunnerJob **ret) {
        return runner_spawn(e->runner, &(RunnerSpawnParams) {
                        .description = "golem-vm-test",
                        .argv = argv,
                        .input = input,
                        .input_size = input_size,
                        .timeout = timeout,
                        .on_line = on_line,
                        .on_done = on_done,
                        .userdata = o,
                }, ret);
}

/* Runs argv to its end and checks the runner is empty afterwards. */
static usec_t run(Env *e, char *const *argv, const char *input, size_t input_size, usec_t timeout, Outcome *o) {
        RunnerJob *job = NULL;
        usec_t t;

        ASSERT_OK(spawn(e, argv, input, input_size, timeout, o, &job));
        ASSERT_NOT_NULL(job);
        ASSERT_EQ_UINT(runner_n_jobs(e->runner), 1);
        t = run_until_done(e, o, 20 * USEC_PER_SEC);
        ASSERT_EQ_UINT(o->n_done, 1);
        ASSERT_EQ_UINT(runner_n_jobs(e->runner), 0);
        return t;
}

#define ARGV(...) ((char *const *) (const char *const[]) { __VA_ARGS__, NULL })

TEST(echo) {
        Outcome o = {};
        Env e;

        env_setup(&e);
        run(&e, ARGV("/bin/echo", "hello", "world"), NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_FALSE(o.timed_out);
        ASSERT_STREQ(o.out, "hello world\n");
        ASSERT_EQ_UINT(o.out_size, 12);
        ASSERT_STREQ(o.err, "");
        ASSERT_EQ_UINT(o.err_size, 0);
        ASSERT_EQ_UINT(o.n_lines, 1);
        ASSERT_STREQ(o.lines[0], "hello world");
        outcome_done(&o);
        env_teardown(&e);
}

TEST(exit_status) {
        static const struct {
                const char *script;
                int status;
        } table[] = {
                { "exit 0", 0 },
                { "exit 1", 1 },
                { "exit 3", 3 },
                { "exit 127", 127 },
                { "exit 255", 255 },
                { "kill -TERM $$", 128 + SIGTERM },
                { "kill -KILL $$", 128 + SIGKILL },
                { "kill -SEGV $$", 128 + SIGSEGV },
        };
        Env e;

        env_setup(&e);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Outcome o = {};

                TEST_CONTEXT("sh -c '%s'", table[i].script);
                run(&e, ARGV("/bin/sh", "-c", (char *) table[i].script), NULL, 0, 0, &o);
                ASSERT_EQ_INT(o.exit_status, table[i].status);
                ASSERT_FALSE(o.timed_out);
                outcome_done(&o);
        }
        env_teardown(&e);
}

TEST(not_executable) {
        Outcome o = {};
        Env e;

        env_setup(&e);
        /* execv() fails in the child: 127, like a shell says "not found". */
        run(&e, ARGV("/nonexistent/multipass", "list"), NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 127);
        ASSERT_STREQ(o.out, "");
        outcome_done(&o);
        run(&e, ARGV("/etc/hostname"), NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 127);
        outcome_done(&o);
        env_teardown(&e);
}

TEST(argv_refused) {
        Outcome o = {};
        RunnerJob *job = (RunnerJob *) &o;
        Env e;

        env_setup(&e);
        ASSERT_ERROR(spawn(&e, ARGV("echo", "x"), NULL, 0, 0, &o, &job), EINVAL);
        ASSERT_ERROR(spawn(&e, ARGV("bin/echo", "x"), NULL, 0, 0, &o, &job), EINVAL);
        ASSERT_ERROR(spawn(&e, ARGV("./multipass"), NULL, 0, 0, &o, &job), EINVAL);
        ASSERT_ERROR(spawn(&e, ARGV(""), NULL, 0, 0, &o, &job), EINVAL);
        ASSERT_ERROR(spawn(&e, ((char *const[]) { NULL }), NULL, 0, 0, &o, &job), EINVAL);
        ASSERT_ERROR(spawn(&e, NULL, NULL, 0, 0, &o, &job), EINVAL);
        ASSERT_TRUE(job == (RunnerJob *) &o);
        ASSERT_EQ_UINT(runner_n_jobs(e.runner), 0);
        run_for(&e, 50 * USEC_PER_MSEC);
        ASSERT_EQ_UINT(o.n_done, 0);
        env_teardown(&e);
}

TEST(stdin) {
        static const char input[] = "line one\nline two\n\x01\xff no newline at the end";
        _cleanup_free_ char *big = NULL;
        Outcome o = {};
        Env e;

        env_setup(&e);
        run(&e, ARGV("/bin/cat"), input, sizeof(input) - 1, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_EQ_UINT(o.out_size, sizeof(input) - 1);
        ASSERT_TRUE(memcmp(o.out, input, sizeof(input) - 1) == 0);
        ASSERT_EQ_UINT(o.n_lines, 3);
        ASSERT_STREQ(o.lines[0], "line one");
        ASSERT_STREQ(o.lines[1], "line two");
        /* The last line without its newline comes at the end; the control byte is dropped. */
        ASSERT_STREQ(o.lines[2], "\xff no newline at the end");
        outcome_done(&o);

        /* input_size counts, not strlen(): a NUL byte gets through. */
        run(&e, ARGV("/bin/cat"), "a\0b", 3, 0, &o);
        ASSERT_EQ_UINT(o.out_size, 3);
        ASSERT_TRUE(memcmp(o.out, "a\0b", 4) == 0);
        outcome_done(&o);

        /* No input: stdin is at its end at once (cat would wait forever otherwise). */
        run(&e, ARGV("/bin/cat"), NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_STREQ(o.out, "");
        outcome_done(&o);

        /* 64 KiB is the most. */
        big = malloc(65537);
        ASSERT_NOT_NULL(big);
        for (size_t i = 0; i < 65537; i++)
                big[i] = (char) ('a' + i % 26);
        run(&e, ARGV("/bin/cat"), big, 65536, 0, &o);
        ASSERT_EQ_UINT(o.out_size, 65536);
        ASSERT_TRUE(memcmp(o.out, big, 65536) == 0);
        outcome_done(&o);
        ASSERT_ERROR(spawn(&e, ARGV("/bin/cat"), big, 65537, 0, &o, NULL), E2BIG);
        ASSERT_EQ_UINT(runner_n_jobs(e.runner), 0);
        env_teardown(&e);
}

TEST(stderr_separate) {
        Outcome o = {};
        Env e;

        env_setup(&e);
        run(&e, ARGV("/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; echo 'launch failed: boom' >&2; exit 2"),
            NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 2);
        ASSERT_STREQ(o.out, "out1\nout2\n");
        ASSERT_STREQ(o.err, "err1\nlaunch failed: boom\n");
        /* Lines are stdout only. */
        ASSERT_EQ_UINT(o.n_lines, 2);
        ASSERT_STREQ(o.lines[0], "out1");
        ASSERT_STREQ(o.lines[1], "out2");
        outcome_done(&o);
        env_teardown(&e);
}

TEST(progress_lines) {
        Outcome o = {};
        Env e;

        env_setup(&e);
        run(&e, ARGV("/usr/bin/printf", "%s", "a\rRetrieving image: 42%\n\033[2Kstage\b\b\bxyz\n"), NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_EQ_UINT(o.n_lines, 3);
        ASSERT_STREQ(o.lines[0], "a");
        ASSERT_STREQ(o.lines[1], "Retrieving image: 42%");
        ASSERT_STREQ(o.lines[2], "stxyz");
        /* The raw output is kept as it was. */
        ASSERT_STREQ(o.out, "a\rRetrieving image: 42%\n\033[2Kstage\b\b\bxyz\n");
        outcome_done(&o);

        /* Empty lines, "\r\n", trailing blanks, colours and more backspaces than text. */
        run(&e, ARGV("/usr/bin/printf", "%s", "\r\n\n  \t \r\n\033[1;31mred\033[0m  \r\b\b\bx\r\033[\r\033[2J\033[0A\033[0E\n"),
            NULL, 0, 0, &o);
        ASSERT_FALSE(o.bad_line);
        ASSERT_EQ_UINT(o.n_lines, 2);
        ASSERT_STREQ(o.lines[0], "red");
        ASSERT_STREQ(o.lines[1], "x");
        outcome_done(&o);

        /* Leading blanks stay. */
        run(&e, ARGV("/usr/bin/printf", "%s", "  indented\n"), NULL, 0, 0, &o);
        ASSERT_EQ_UINT(o.n_lines, 1);
        ASSERT_STREQ(o.lines[0], "  indented");
        outcome_done(&o);
        env_teardown(&e);
}

/* What `multipass launch` really writes (MULTIPASS.md §1, §5; the spinner of
 * src/client/cli/cmd/animated_spinner.cpp): no newline between the stages, only the spinner's
 * clear-line sequence. Each stage is a line of its own, without the spinner's frames. */
TEST(progress_multipass_spinner) {
#define CLEAR "\033[2K\033[0A\033[0E"
        static const char text[] =
                CLEAR "Creating golem-web-1  " "\b|" "\b/" "\b-" "\b\\" "\b " CLEAR
                "\rRetrieving image: 3%" "\rRetrieving image: 42%" "\rRetrieving image: 100%" CLEAR
                "Verifying image:   " "\b|" "\b " CLEAR
                "Configuring golem-web-1  " "\b|" "\b/" "\b " CLEAR
                "Starting golem-web-1  " "\b|" "\b/" "\b-" "\b " CLEAR
                "Waiting for initialization to complete  " "\b|" "\b/" "\b " CLEAR
                "Launched: golem-web-1\n";
        static const char *const expected[] = {
                "Creating golem-web-1",
                "Retrieving image: 3%",
                "Retrieving image: 42%",
                "Retrieving image: 100%",
                "Verifying image:",
                "Configuring golem-web-1",
                "Starting golem-web-1",
                "Waiting for initialization to complete",
                "Launched: golem-web-1",
        };
        Outcome o = {};
        Env e;

        env_setup(&e);
        run(&e, ARGV("/usr/bin/printf", "%s", (char *) text), NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_FALSE(o.bad_line);
        for (size_t i = 0; i < MIN(o.n_lines, ELEMENTSOF(expected)); i++) {
                TEST_CONTEXT("line %zu", i);
                ASSERT_STREQ(o.lines[i], expected[i]);
        }
        ASSERT_EQ_UINT(o.n_lines, ELEMENTSOF(expected));
        outcome_done(&o);

        /* In pieces, one read each: escape sequences split across reads. */
        run(&e, ARGV("/bin/sh", "-c", "for p in \"$@\"; do printf \"$p\"; sleep 0.05; done", "sh",
                     "x\\033", "[2", "Ky\\r\\033[", "2K\\033", "[0A", "z\\n"), NULL, 0, 0, &o);
        ASSERT_STREQ(o.out, "x\033[2Ky\r\033[2K\033[0Az\n");
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_EQ_UINT(o.n_lines, 3);
        ASSERT_STREQ(o.lines[0], "x");
        ASSERT_STREQ(o.lines[1], "y");
        ASSERT_STREQ(o.lines[2], "z");
        outcome_done(&o);
        env_teardown(&e);
#undef CLEAR
}

TEST(output_with_nul) {
        Outcome o = {};
        Env e;

        env_setup(&e);
        /* A NUL byte in the output neither stops the lines after it nor hangs the loop. */
        static const char expected[] = "one\n\0two\nthree\0\0\nfour\0";

        run(&e, ARGV("/usr/bin/printf", "one\\n\\000two\\nthree\\000\\000\\nfour\\000"), NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_EQ_UINT(o.out_size, sizeof(expected) - 1);
        ASSERT_TRUE(memcmp(o.out, expected, sizeof(expected)) == 0);
        ASSERT_FALSE(o.bad_line);
        ASSERT_EQ_UINT(o.n_lines, 4);
        ASSERT_STREQ(o.lines[0], "one");
        ASSERT_STREQ(o.lines[1], "two");
        ASSERT_STREQ(o.lines[2], "three");
        ASSERT_STREQ(o.lines[3], "four");
        outcome_done(&o);

        /* Megabytes of them. */
        run(&e, ARGV("/bin/sh", "-c", "head -c 3000000 /dev/zero"), NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_EQ_UINT(o.out_size, 1024 * 1024);
        ASSERT_EQ_UINT(o.n_lines_total, 0);
        outcome_done(&o);
        env_teardown(&e);
}

TEST(output_capped) {
        Outcome o = {};
        usec_t t;
        Env e;

        env_setup(&e);
        /* 3 MB of lines on stdout and of bytes on stderr: both stop at 1 MiB, and the
         * command still runs to its end (no full pipe blocks it). */
        t = run(&e, ARGV("/bin/sh", "-c", "yes abcdefghi | head -c 3000000; head -c 3000000 /dev/zero | tr '\\000' e >&2; exit 4"),
                NULL, 0, 0, &o);
        ASSERT_EQ_INT(o.exit_status, 4);
        ASSERT_EQ_UINT(o.out_size, 1024 * 1024);
        ASSERT_EQ_UINT(strlen(o.out), 1024 * 1024);
        ASSERT_EQ_UINT(o.err_size, 1024 * 1024);
        ASSERT_EQ_UINT(strlen(o.err), 1024 * 1024);
        ASSERT_TRUE(strncmp(o.out, "abcdefghi\nabcdefghi\n", 20) == 0);
        ASSERT_EQ_INT(o.err[0], 'e');
        ASSERT_EQ_INT(o.err[1024 * 1024 - 1], 'e');
        /* Every line of the first MiB, the last one cut short. */
        ASSERT_EQ_UINT(o.n_lines_total, 1024 * 1024 / 10 + 1);
        ASSERT_EQ_UINT(o.line_bytes_total, 1024 * 1024 - 1024 * 1024 / 10);
        ASSERT_STREQ(o.lines[0], "abcdefghi");
        ASSERT_FALSE(o.bad_line);
        ASSERT_TRUE(t < 10 * USEC_PER_SEC);
        outcome_done(&o);

        /* One line of 3 MB without a newline: one capped line at the end. */
        run(&e, ARGV("/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\000' x"), NULL, 0, 0, &o);
        ASSERT_EQ_UINT(o.out_size, 1024 * 1024);
        ASSERT_EQ_UINT(o.n_lines_total, 1);
        ASSERT_EQ_UINT(strlen(o.lines[0]), 1024 * 1024);
        outcome_done(&o);
        env_teardown(&e);
}

TEST(timeout) {
        Outcome o = {};
        usec_t t;
        Env e;

        env_setup(&e);
        t = run(&e, ARGV("/bin/sleep", "30"), NULL, 0, 200 * USEC_PER_MSEC, &o);
        ASSERT_TRUE(o.timed_out);
        ASSERT_EQ_INT(o.exit_status, 128 + SIGTERM);
        ASSERT_TRUE(t >= 190 * USEC_PER_MSEC);
        ASSERT_TRUE(t < 3 * USEC_PER_SEC);
        outcome_done(&o);

        /* Finishing in time is not a timeout. */
        run(&e, ARGV("/bin/sh", "-c", "echo quick"), NULL, 0, 5 * USEC_PER_SEC, &o);
        ASSERT_FALSE(o.timed_out);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_STREQ(o.out, "quick\n");
        outcome_done(&o);

        /* A command that handles SIGTERM and exits on its own still counts as timed out. */
        /* (A timeout long enough for the shell to have set its trap even on a loaded machine.) */
        run(&e, ARGV("/bin/sh", "-c", "trap 'echo bye; exit 0' TERM; echo started; while :; do sleep 0.05; done"),
            NULL, 0, USEC_PER_SEC, &o);
        ASSERT_TRUE(o.timed_out);
        ASSERT_EQ_INT(o.exit_status, 0);
        ASSERT_STR_CONTAINS(o.out, "started\n");
        ASSERT_STR_CONTAINS(o.out, "bye\n");
        outcome_done(&o);
        env_teardown(&e);
}

TEST(timeout_kill) {
        Outcome o = {};
        usec_t t;
        Env e;

        env_setup(&e);
        /* SIGTERM ignored (and the ignoring survives exec): SIGKILL after the grace of 5 s. */
        t = run(&e, ARGV("/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 60"), NULL, 0, USEC_PER_SEC, &o);
        ASSERT_TRUE(o.timed_out);
        ASSERT_EQ_INT(o.exit_status, 128 + SIGKILL);
        ASSERT_TRUE(t >= 6 * USEC_PER_SEC);
        ASSERT_TRUE(t < 9 * USEC_PER_SEC);
        outcome_done(&o);
        env_teardown(&e);
}

TEST(cancel) {
        Outcome o1 = {}, o2 = {}, o3 = {};
        RunnerJob *j1 = NULL, *j2 = NULL, *j3 = NULL;
        usec_t start;
        Env e;

        env_setup(&e);
        ASSERT_OK(spawn(&e, ARGV("/bin/sleep", "30"), NULL, 0, 0, &o1, &j1));
        /* A timeout that must not fire once cancelled; long enough that it cannot fire before
         * the cancel on a loaded machine (the test would then hold a finished job). */
        ASSERT_OK(spawn(&e, ARGV("/bin/sh", "-c", "echo x; exec sleep 30"), NULL, 0, 2 * USEC_PER_SEC, &o2, &j2));
        ASSERT_OK(spawn(&e, ARGV("/bin/echo", "three"), NULL, 0, 0, &o3, &j3));
        ASSERT_EQ_UINT(runner_n_jobs(e.runner), 3);
        run_for(&e, 20 * USEC_PER_MSEC);

        /* Cancelled: killed and reaped at once, and never a callback. */
        start = now_monotonic();
        runner_job_cancel(j1);
        runner_job_cancel(j2);
        ASSERT_TRUE(now_monotonic() - start < USEC_PER_SEC);
        runner_job_cancel(NULL);
        run_until_done(&e, &o3, 5 * USEC_PER_SEC);
        ASSERT_EQ_UINT(runner_n_jobs(e.runner), 0);
        run_for(&e, 2500 * USEC_PER_MSEC); /* past j2's timeout */
        ASSERT_EQ_UINT(o1.n_done, 0);
        ASSERT_EQ_UINT(o2.n_done, 0);
        ASSERT_EQ_UINT(o3.n_done, 1);
        ASSERT_STREQ(o3.out, "three\n");
        assert_no_children();
        outcome_done(&o1);
        outcome_done(&o2);
        outcome_done(&o3);
        env_teardown(&e);
}

TEST(free_with_jobs) {
        Outcome o[4] = {};
        Env e;

        env_setup(&e);
        for (size_t i = 0; i < ELEMENTSOF(o); i++)
                ASSERT_OK(spawn(&e, ARGV("/bin/sleep", "30"), NULL, 0, 10 * USEC_PER_SEC, o + i, NULL));
        ASSERT_EQ_UINT(runner_n_jobs(e.runner), 4);
        run_for(&e, 20 * USEC_PER_MSEC);
        /* Frees them all without callbacks; env_teardown() checks fds and children. */
        env_teardown(&e);
        for (size_t i = 0; i < ELEMENTSOF(o); i++)
                ASSERT_EQ_UINT(o[i].n_done, 0);
}

TEST(many_at_once) {
        Outcome o[20] = {};
        Env e;

        env_setup(&e);
        for (size_t i = 0; i < ELEMENTSOF(o); i++) {
                char script[64];

                snprintf(script, sizeof(script), "echo job %zu; echo err %zu >&2; exit %zu", i, i, i);
                ASSERT_OK(spawn(&e, ARGV("/bin/sh", "-c", script), NULL, 0, 10 * USEC_PER_SEC, o + i, NULL));
        }
        ASSERT_EQ_UINT(runner_n_jobs(e.runner), ELEMENTSOF(o));
        for (size_t i = 0; i < ELEMENTSOF(o); i++)
                run_until_done(&e, o + i, 10 * USEC_PER_SEC);
        ASSERT_EQ_UINT(runner_n_jobs(e.runner), 0);
        for (size_t i = 0; i < ELEMENTSOF(o); i++) {
                char expected[32];

                TEST_CONTEXT("job %zu", i);
                ASSERT_EQ_UINT(o[i].n_done, 1);
                ASSERT_EQ_INT(o[i].exit_status, (int) i);
                snprintf(expected, sizeof(expected), "job %zu\n", i);
                ASSERT_STREQ(o[i].out, expected);
                snprintf(expected, sizeof(expected), "err %zu\n", i);
                ASSERT_STREQ(o[i].err, expected);
                outcome_done(o + i);
        }
        env_teardown(&e);
}

TEST(child_environment) {
        Outcome o = {};
        Env e;

        env_setup(&e);
        /* The child gets only stdin, stdout and stderr (ls adds its own directory fd)... */
        run(&e, ARGV("/bin/ls", "/proc/self/fd"), NULL, 0, 0, &o);
        ASSERT_STREQ(o.out, "0\n1\n2\n3\n");
        outcome_done(&o);

        /* ...and no blocked signals, though the runner blocks SIGCHLD in the daemon. */
        run(&e, ARGV("/bin/grep", "^SigBlk:", "/proc/self/status"), NULL, 0, 0, &o);
        ASSERT_STREQ(o.out, "SigBlk:\t0000000000000000\n");
        outcome_done(&o);
        env_teardown(&e);
}
