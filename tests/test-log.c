/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sys/stat.h>

#include "log.h"
#include "macro.h"
#include "tests.h"

/* Points stderr at an unlinked temporary file; stderr_of_end() returns what was written. */
static void stderr_of_begin(int *saved) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL;
        int fd;

        ASSERT_TRUE(asprintf(&path, "%s/stderr", dir) >= 0);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        test_rm_rf(dir);
        fflush(stderr);
        *saved = dup(STDERR_FILENO);
        ASSERT_TRUE(*saved >= 0);
        ASSERT_TRUE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
        close(fd);
}

static char *stderr_of_end(int saved) {
        char *buf = calloc(1, 65536);
        ssize_t n;

        fflush(stderr);
        ASSERT_NOT_NULL(buf);
        ASSERT_TRUE(lseek(STDERR_FILENO, 0, SEEK_SET) == 0);
        n = read(STDERR_FILENO, buf, 65535);
        ASSERT_TRUE(n >= 0);
        ASSERT_TRUE(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
        close(saved);
        return buf;
}

#define CAPTURE(out, stmt)                              \
        do {                                            \
                int _saved;                             \
                stderr_of_begin(&_saved);               \
                stmt;                                   \
                out = stderr_of_end(_saved);            \
        } while (0)

static void setup_stderr(void) {
        setenv("GOLEM_LOG_TARGET", "stderr", 1);
        setenv("GOLEM_LOG_LEVEL", "info", 1);
        log_setup("test-log");
        ASSERT_EQ_INT(log_get_target(), LOG_TARGET_STDERR);
}

TEST(target_table) {
        ASSERT_STREQ(log_target_to_string(LOG_TARGET_AUTO), "auto");
        ASSERT_STREQ(log_target_to_string(LOG_TARGET_JOURNAL), "journal");
        ASSERT_STREQ(log_target_to_string(LOG_TARGET_STDERR), "stderr");
        ASSERT_NULL(log_target_to_string(_LOG_TARGET_MAX));
        ASSERT_EQ_INT(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
        ASSERT_EQ_INT(log_target_from_string("console"), _LOG_TARGET_INVALID);
        ASSERT_EQ_INT(log_target_from_string(NULL), _LOG_TARGET_INVALID);
}

TEST(levels) {
        setenv("GOLEM_LOG_TARGET", "stderr", 1);
        setenv("GOLEM_LOG_LEVEL", "debug", 1);
        log_setup("test-log");
        ASSERT_EQ_INT(log_get_max_level(), LOG_DEBUG);
        setenv("GOLEM_LOG_LEVEL", "warning", 1);
        log_setup("test-log");
        ASSERT_EQ_INT(log_get_max_level(), LOG_WARNING);
        setenv("GOLEM_LOG_LEVEL", "error", 1);
        log_setup("test-log");
        ASSERT_EQ_INT(log_get_max_level(), LOG_ERR);
        /* Nonsense is ignored. */
        setenv("GOLEM_LOG_LEVEL", "loud", 1);
        log_setup("test-log");
        ASSERT_EQ_INT(log_get_max_level(), LOG_ERR);
        setenv("GOLEM_LOG_TARGET", "nowhere", 1);
        log_setup("test-log");
        ASSERT_EQ_INT(log_get_target(), LOG_TARGET_STDERR);
}

TEST(returns_negative_errno) {
        _cleanup_free_ char *out = NULL;
        int r;

        setup_stderr();
        CAPTURE(out, r = log_error_errno(EINVAL, "Failed: %m"));
        ASSERT_EQ_INT(r, -EINVAL);
        ASSERT_STREQ(out, "Error: Failed: Invalid argument\n");
        free(out);

        /* Either sign of errno. */
        CAPTURE(out, r = log_warning_errno(-ENOENT, "Missing %s, ignoring: %m", "thing"));
        ASSERT_EQ_INT(r, -ENOENT);
        ASSERT_STREQ(out, "Warning: Missing thing, ignoring: No such file or directory\n");
        free(out);

        /* Below the level: nothing written, same return value. */
        CAPTURE(out, r = log_debug_errno(EIO, "hidden %d", 1));
        ASSERT_EQ_INT(r, -EIO);
        ASSERT_STREQ(out, "");
        free(out);

        CAPTURE(out, log_info("plain %s", "info"));
        ASSERT_STREQ(out, "plain info\n");
}

TEST(structured_on_stderr) {
        _cleanup_free_ char *out = NULL;
        int r;

        setup_stderr();
        /* The fields before MESSAGE= consume their arguments, whatever their types. */
        CAPTURE(out, r = log_struct_errno(LOG_ERR, ENOSPC,
                                          "GOLEM_VM=%s", "vm1",
                                          "GOLEM_N=%d", 42,
                                          "GOLEM_BIG=%llu", 18446744073709551615ULL,
                                          "GOLEM_SIZE=%zu", (size_t) 7,
                                          "GOLEM_RATIO=%.2f", 0.5,
                                          "GOLEM_WIDE=%*d|%c", 5, 3, 'x',
                                          "MESSAGE=Stored %s with %d CPUs: %m", "p1", 4,
                                          "MESSAGE_ID=" GOLEM_MESSAGE_ADVERTISEMENT_STORED));
        ASSERT_EQ_INT(r, -ENOSPC);
        ASSERT_STREQ(out, "Error: Stored p1 with 4 CPUs: No space left on device\n");
}
