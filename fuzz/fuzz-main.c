/* SPDX-License-Identifier: MIT */
/* A stand-in for libFuzzer's main(): runs LLVMFuzzerTestOneInput() once on every file named
 * on the command line and on every file in every directory named there (not recursively,
 * dot files skipped, in name order). Each input is given in a malloc()ed buffer of exactly
 * its size, so that a sanitizer build catches reads past the end. Used to replay the
 * corpora as tests in builds without libFuzzer. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define INPUT_MAX (16 * 1024 * 1024)

static int run_file(int dir_fd, const char *name, const char *display) {
        struct stat st;
        uint8_t *buf;
        size_t n = 0;
        int fd;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "%s: cannot open: %s\n", display, strerror(errno));
                return -1;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > INPUT_MAX) {
                fprintf(stderr, "%s: not a regular file of at most %d bytes\n", display, INPUT_MAX);
                close(fd);
                return -1;
        }

        /* malloc(0) may return NULL; always allocate at least one byte, pass the real size. */
        buf = malloc((size_t) st.st_size ?: 1);
        if (!buf) {
                fprintf(stderr, "%s: out of memory\n", display);
                close(fd);
                return -1;
        }
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        fprintf(stderr, "%s: read error\n", display);
                        free(buf);
                        close(fd);
                        return -1;
                }
                n += (size_t) k;
        }
        close(fd);

        fprintf(stderr, "Running %s (%zu bytes)\n", display, n);
        (void) LLVMFuzzerTestOneInput(buf, n);
        free(buf);
        return 0;
}

static int run_directory(const char *path, unsigned *count) {
        struct dirent **list = NULL;
        int fd, n, r = 0;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
                return -1;
        }
        n = scandir(path, &list, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "%s: cannot list: %s\n", path, strerror(errno));
                close(fd);
                return -1;
        }
        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                struct stat st;

                if (name[0] != '.' && fstatat(fd, name, &st, 0) >= 0 && S_ISREG(st.st_mode) && r >= 0) {
                        char *display = NULL;

                        if (asprintf(&display, "%s/%s", path, name) < 0)
                                r = -1;
                        else {
                                r = run_file(fd, name, display);
                                if (r >= 0)
                                        (*count)++;
                        }
                        free(display);
                }
                free(list[i]);
        }
        free(list);
        close(fd);
        return r;
}

int main(int argc, char *argv[]) {
        unsigned count = 0;

        if (argc < 2) {
                fprintf(stderr, "Usage: %s FILE|DIRECTORY...\n", argv[0]);
                return EXIT_FAILURE;
        }
        if (LLVMFuzzerInitialize)
                (void) LLVMFuzzerInitialize(&argc, &argv);

        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return EXIT_FAILURE;
                }
                if (S_ISDIR(st.st_mode))
                        r = run_directory(argv[i], &count);
                else {
                        r = run_file(AT_FDCWD, argv[i], argv[i]);
                        if (r >= 0)
                                count++;
                }
                if (r < 0)
                        return EXIT_FAILURE;
        }

        if (count == 0) {
                fprintf(stderr, "No inputs found.\n");
                return EXIT_FAILURE;
        }
        fprintf(stderr, "Ran %u inputs.\n", count);
        return EXIT_SUCCESS;
}
