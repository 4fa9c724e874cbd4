/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "time-util.h"

/* Runs a command (an argv, never a shell) for the VM manager and reports its output and exit
 * status on the event loop. Without systemd the child is forked directly and watched with
 * sd_event_add_child(); the transient-unit runner offers the same interface. */

typedef struct Runner Runner;
typedef struct RunnerJob RunnerJob;

typedef struct RunnerResult {
        int exit_status;     /* the exit code, or 128 + signal when killed */
        bool timed_out;
        const char *out;     /* stdout, NUL-terminated, capped */
        size_t out_size;
        const char *err;     /* stderr, NUL-terminated, capped */
        size_t err_size;
} RunnerResult;

/* A line of stdout as it arrives ('\r' and an erase-line sequence end a line too; ANSI
 * sequences, '\b' and NUL bytes removed). */
typedef void (*RunnerLineFn)(RunnerJob *job, const char *line, void *userdata);
/* Called once when the command ended; the job is freed right after. */
typedef void (*RunnerDoneFn)(RunnerJob *job, const RunnerResult *result, void *userdata);

/* Appends further (sv) properties of a transient unit (sandboxing, say). */
typedef int (*RunnerUnitPropertiesFn)(sd_bus_message *m, void *userdata);

typedef struct RunnerSpawnParams {
        const char *description;  /* for logs, e.g. the unit name golem-vm-web-launch */
        char *const *argv;        /* argv[0] is an absolute path */
        const char *input;        /* written to stdin, then closed; NULL: /dev/null */
        size_t input_size;
        usec_t timeout;           /* SIGTERM then SIGKILL after this; 0: none */
        RunnerLineFn on_line;
        RunnerDoneFn on_done;
        void *userdata;
        bool log_output;          /* as a unit: its output goes to the journal at info, not debug */
        bool direct;              /* a quick helper: always the daemon's own child, never a unit */
        /* A daemon that forks and writes this pid file (qemu -daemonize): as a unit it is
         * Type=forking with PIDFile=, named exactly after the description, and keeps running
         * after the job is done, which is when the command returned. */
        const char *pid_file;
        /* Units only: commands run first, in order, as the unit's ExecStartPre= (NULL-terminated). */
        char *const *const *exec_start_pre;
        RunnerUnitPropertiesFn unit_properties;
} RunnerSpawnParams;

int runner_new(sd_event *event, Runner **ret);
/* Under systemd (sd_booted()) with a system bus, commands run from now on as transient units
 * (StartTransientUnit, Type=oneshot), named after RunnerSpawnParams.description, their stdout
 * and stderr coming back through pipes and also logged under the unit. Returns 1 when units
 * are used, 0 when not. */
int runner_use_units(Runner *r, sd_bus *bus);
/* The bus to systemd when commands run as units, else NULL. */
sd_bus *runner_units_bus(const Runner *r);
/* Kills what still runs, without callbacks. */
Runner *runner_free(Runner *r);
int runner_spawn(Runner *r, const RunnerSpawnParams *p, RunnerJob **ret);
/* Kills the command (stops its unit); no callback afterwards. */
void runner_job_cancel(RunnerJob *job);
/* From now on cancelling forgets transient units rather than stopping them: on shutdown, so
 * that a launch in flight survives and the next start picks it up. */
void runner_detach(Runner *r);
size_t runner_n_jobs(const Runner *r);
