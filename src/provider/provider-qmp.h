/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "time-util.h"

/* QMP, qemu's control protocol, as the qemu driver needs it: one command at a time over the
 * VM's socket, on the event loop. QMP speaks one JSON object per line: a greeting
 * {"QMP": {...}}, then for each command {"return": ...} or {"error": {...}}, and
 * {"event": ...} lines at any time. */

#define QMP_LINE_MAX 4096

typedef enum QmpLineKind {
        QMP_LINE_GREETING,
        QMP_LINE_RETURN,
        QMP_LINE_ERROR,
        QMP_LINE_EVENT,
        QMP_LINE_OTHER,    /* not a JSON object, or none of the above */
} QmpLineKind;

/* Splits what the socket gives into lines; a line longer than QMP_LINE_MAX is skipped whole. */
typedef struct QmpReader {
        char line[QMP_LINE_MAX];
        size_t n;
        bool overlong;
} QmpReader;

QmpLineKind qmp_line_kind(const char *line, size_t n);
/* Calls fn for each complete line; stops at and returns fn's first non-zero result. */
int qmp_reader_feed(QmpReader *r, const char *data, size_t n, int (*fn)(QmpLineKind kind, void *userdata),
                    void *userdata);

typedef struct QmpCall QmpCall;
/* r: 0 when qemu returned, -EREMOTEIO on a QMP error, else why it failed. */
typedef void (*QmpDoneFn)(int r, void *userdata);

/* Connects to socket_path, negotiates capabilities and executes command (a name without
 * arguments: "system_powerdown", "quit"). done is called once, within timeout, unless the
 * call is cancelled first. */
int qmp_call(sd_event *event, const char *socket_path, const char *command, usec_t timeout, QmpDoneFn done,
             void *userdata, QmpCall **ret);
void qmp_call_cancel(QmpCall *c);
