/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <inttypes.h>
#include <syslog.h>

#include "macro.h"

/* Logging for the daemons and tools: native journal entries with structured fields when
 * journald is there, plain lines on stderr otherwise. Library code does not log; callers do. */

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

DECLARE_STRING_TABLE_LOOKUP(log_target, LogTarget);

/* Reads GOLEM_LOG_LEVEL (debug|info|notice|warning|err) and GOLEM_LOG_TARGET (auto|journal|stderr),
 * then picks the journal when its socket is there. */
void log_setup(const char *ident);
void log_set_max_level(int level);
int log_get_max_level(void);
LogTarget log_get_target(void);
/* Overrides where the journal socket is looked for (tests). */
void log_set_journal_socket_path(const char *path);

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

/* Each vararg is a printf format for one journal field ("GOLEM_VM=%s") followed by its
 * arguments; the list ends with NULL. One of them should be "MESSAGE=...". */
int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *format, ...) _sentinel_;

#define ERRNO_VALUE(e) (abs(e))

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

/* These return -ERRNO_VALUE(error), so "return log_error_errno(r, ...)" works. */
#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_struct(level, ...) \
        log_struct_internal((level), 0, __FILE__, __LINE__, __func__, __VA_ARGS__, NULL)
#define log_struct_errno(level, error, ...) \
        log_struct_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__, NULL)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

/* MESSAGE_IDs of auditable events; explained in the journal catalog. */
#define GOLEM_MESSAGE_ADVERTISEMENT_STORED   "a3c1b6a0e0f44a7a9c1e1b7d2f0c4e11"
#define GOLEM_MESSAGE_ADVERTISEMENT_DELETED  "5d8e2f7c3b9a4c6e8f1a2b3c4d5e6f12"
#define GOLEM_MESSAGE_ADVERTISEMENT_EXPIRED  "9b7a6c5d4e3f4a2b8c1d0e9f8a7b6c13"
#define GOLEM_MESSAGE_HTTP_REFUSED           "2f4e6a8c0b1d4e3f9a5c7e9b1d3f5a14"
#define GOLEM_MESSAGE_AUTH_REFUSED           "7e1c3a5b9d2f4c6e8a0b2d4f6a8c0e15"
#define GOLEM_MESSAGE_VM_CREATED             "0c6e1d3a8b5f4e2c9d7a1b3c5e7f9a21"
#define GOLEM_MESSAGE_VM_STARTED             "1d7f2e4b9c6a4f3d8e2b4c6d8f0a1b22"
#define GOLEM_MESSAGE_VM_STOPPED             "2e8a3f5c0d7b4a4e9f3c5d7e9a1b2c23"
#define GOLEM_MESSAGE_VM_DELETED             "3f9b4a6d1e8c4b5f8a4d6e8f0b2c3d24"
#define GOLEM_MESSAGE_VM_REFUSED             "4a0c5b7e2f9d4c6a9b5e7f9a1c3d4e25"
#define GOLEM_MESSAGE_VM_FAILED              "5b1d6c8f3a0e4d7b8c6f8a0b2d4e5f26"
#define GOLEM_MESSAGE_VM_ADOPTED             "6c2e7d9a4b1f4e8c9d7a9b1c3e5f6a27"
#define GOLEM_MESSAGE_POLKIT_DENIED          "7d3f8e0b5c2a4f9d8e8b0c2d4f6a7b28"
#define GOLEM_MESSAGE_SERVICE_STARTED        "c4b2a0e8f6d44c2a9e7b5d3f1a9c7e16"
#define GOLEM_MESSAGE_SERVICE_STOPPED        "e8d6c4b2a0f84e6c9a2b4d6f8e0c2a17"
#define GOLEM_MESSAGE_ADVERTISEMENT_FAILED   "4f6b1d8e2a7c4e95b3d0c8a1f7e2b918"
#define GOLEM_MESSAGE_ADVERTISEMENT_RECOVERED "b72e9c4a1d5f4b08a6e3c1d9f4a7e219"
#define GOLEM_MESSAGE_VM_ISOLATION_OFF       "d8b858c2b34649e395940ecd78fab934"
#define GOLEM_MESSAGE_VM_NETWORK_FAILED      "9dde4b0eee6d4382a4c093912538c5e1"
#define GOLEM_MESSAGE_STORE_FAILED           "ccb896dfd8844fafbd54efce0bc7b4aa"
#define GOLEM_MESSAGE_STORE_RECOVERED        "1e4d9b96aa3743809a6acafa3cd36181"
#define GOLEM_MESSAGE_VM_RESTORING           "cb4ef407f9774d7a999302e4769298f7"
