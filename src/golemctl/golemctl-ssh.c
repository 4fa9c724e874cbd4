/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "golemctl-config.h"
#include "golemctl-ssh.h"
#include "macro.h"
#include "parse-util.h"
#include "validate.h"

int ssh_public_key_read(const char *path, char **ret) {
        _cleanup_free_ char *line = NULL;
        size_t allocated = 0;
        ssize_t n;
        struct stat st;
        FILE *f;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SSH_KEY_MAX + 1) {
                fclose(f);
                return -EBADMSG;
        }
        n = getline(&line, &allocated, f);
        fclose(f);
        if (n < 0)
                return -EBADMSG;
        while (n > 0 && strchr("\r\n \t", line[n - 1]))
                line[--n] = 0;
        if ((size_t) n != strlen(line) || !ssh_public_key_valid(line))
                return -EBADMSG;

        *ret = TAKE_PTR(line);
        return 0;
}

int ssh_keygen(const char *path) {
        char *argv[] = {
                (char *) "ssh-keygen", (char *) "-t", (char *) "ed25519", (char *) "-N", (char *) "",
                (char *) "-f", (char *) path, (char *) "-q", NULL,
        };
        int status;
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

                /* No questions on the terminal: it writes a new file or fails. */
                if (fd >= 0)
                        (void) dup2(fd, STDIN_FILENO);
                execvp(argv[0], argv);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return -ENOENT;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EIO;
        return 0;
}

bool ssh_private_key_file(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        char head[65];  /* the armor line, "-----BEGIN ... PRIVATE KEY-----", is all it takes */
        ssize_t n;
        bool r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return false;
        n = read(fd, head, sizeof(head) - 1);
        if (n <= 0)
                return false;
        head[n] = 0;
        r = ssh_private_key_like(head);
        explicit_bzero(head, sizeof(head));
        return r;
}

/* path made absolute (from the working directory; "~/" from home), without .pub. */
static int private_key_path(const char *path, const char *home, char **ret) {
        _cleanup_free_ char *p = NULL;
        const char *e;
        char cwd[PATH_MAX];

        if (isempty(path))
                return -EINVAL;
        if ((e = startswith(path, "~/"))) {
                if (asprintf(&p, "%s/%s", home, e) < 0)
                        return -ENOMEM;
        } else if (path[0] == '/') {
                p = strdup(path);
                if (!p)
                        return -ENOMEM;
        } else {
                if (!getcwd(cwd, sizeof(cwd)))
                        return -errno;
                if (asprintf(&p, "%s/%s", cwd, path) < 0)
                        return -ENOMEM;
        }

        e = endswith(p, ".pub");
        if (e && e != p)
                p[e - p] = 0;

        *ret = TAKE_PTR(p);
        return 0;
}

static int key_pair(const char *private, char **ret_private, char **ret_public) {
        _cleanup_free_ char *pub_path = NULL, *line = NULL, *copy = NULL;
        int r;

        if (asprintf(&pub_path, "%s.pub", private) < 0)
                return -ENOMEM;
        r = ssh_public_key_read(pub_path, &line);
        if (r < 0)
                return r;
        copy = strdup(private);
        if (!copy)
                return -ENOMEM;
        *ret_private = TAKE_PTR(copy);
        *ret_public = TAKE_PTR(line);
        return 0;
}

int ssh_key_resolve(const char *explicit_path, const char *home, const char *data_dir, bool generate,
                    char **ret_private, char **ret_public) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (explicit_path) {
                r = private_key_path(explicit_path, home, &p);
                if (r < 0)
                        return r;
                return key_pair(p, ret_private, ret_public);
        }

        static const char *const defaults[] = { "id_ed25519", "id_rsa" };
        for (size_t i = 0; i < ELEMENTSOF(defaults); i++) {
                _cleanup_free_ char *d = NULL;

                if (asprintf(&d, "%s/.ssh/%s", home, defaults[i]) < 0)
                        return -ENOMEM;
                r = key_pair(d, ret_private, ret_public);
                if (r != -ENOENT)
                        return r;
        }

        if (asprintf(&p, "%s/%s", data_dir, SSH_GENERATED_KEY) < 0)
                return -ENOMEM;
        r = key_pair(p, ret_private, ret_public);
        if (r != -ENOENT || !generate)
                return r;
        if (access(p, F_OK) >= 0)
                return -ENOENT; /* a private key without its .pub: not ours to overwrite */
        r = mkdir_parents(data_dir, 0700);
        if (r < 0)
                return r;

        r = ssh_keygen(p);
        if (r < 0)
                return r;
        r = key_pair(p, ret_private, ret_public);
        return r < 0 ? r : 1;
}

int ssh_known_hosts_path(const char *state_dir, const char *provider_id, const char *vm, char **ret) {
        if (!provider_id_valid(provider_id) || !vm_name_valid(vm))
                return -EINVAL;
        /* Neither can hold a '/'; a provider id may start with '.', which the prefix defuses. */
        return asprintf(ret, "%s/known_hosts/%s-%s", state_dir, provider_id, vm) < 0 ? -ENOMEM : 0;
}

void ssh_known_hosts_forget(const char *state_dir, const char *provider_id, const char *vm) {
        _cleanup_free_ char *path = NULL;

        if (ssh_known_hosts_path(state_dir, provider_id, vm, &path) >= 0)
                (void) unlink(path);
}

bool ssh_key_name_valid(const char *s) {
        return token_valid(s, SSH_KEY_NAME_MAX, "._@-") && !strchr("._@-", s[0]);
}

bool ssh_user_valid(const char *s) {
        return token_valid(s, 32, "._-") && s[0] != '-';
}

/* ssh expands "%x" tokens and "${VAR}" in file names, and splits an -o value on blanks unless
 * quoted: double every '%', refuse "${" and '"', quote when there are blanks. */
static int ssh_path_escape(const char *s, bool quote, char **ret) {
        size_t n = 0;
        char *e, *p;

        if (isempty(s) || strstr(s, "${") || strchr(s, '"'))
                return -EINVAL;
        for (const char *q = s; *q; q++) {
                if ((unsigned char) *q < 0x20 || *q == 0x7f)
                        return -EINVAL;
                n += *q == '%' ? 2 : 1;
        }
        quote = quote && strpbrk(s, " \t");

        e = p = malloc(n + 3);
        if (!e)
                return -ENOMEM;
        if (quote)
                *p++ = '"';
        for (const char *q = s; *q; q++) {
                if (*q == '%')
                        *p++ = '%';
                *p++ = *q;
        }
        if (quote)
                *p++ = '"';
        *p = 0;
        *ret = e;
        return 0;
}

int ssh_argv_build(const SshTarget *t, char ***ret) {
        _cleanup_free_ char *known_hosts = NULL, *identity = NULL;
        char **argv;
        size_t n = 0, n_command = 0;
        int r = 0;

        if (!t->user || !t->host || !t->identity || !t->known_hosts || t->port == 0)
                return -EINVAL;
        if (!ssh_user_valid(t->user) || t->host[0] == '-')
                return -EINVAL;
        r = ssh_path_escape(t->known_hosts, true, &known_hosts);
        if (r < 0)
                return r;
        r = ssh_path_escape(t->identity, false, &identity);
        if (r < 0)
                return r;
        for (char *const *c = t->command; c && *c; c++)
                n_command++;

        argv = calloc(13 + n_command + 1, sizeof(char *));
        if (!argv)
                return -ENOMEM;

#define ADD(s) do { if (r >= 0 && !(argv[n++] = strdup(s))) r = -ENOMEM; } while (0)
#define ADDF(...) do { if (r >= 0 && asprintf(&argv[n++], __VA_ARGS__) < 0) { argv[n - 1] = NULL; r = -ENOMEM; } } while (0)
        ADD("ssh");
        ADD("-o");
        ADDF("UserKnownHostsFile=%s", known_hosts);
        ADD("-o");
        ADD("StrictHostKeyChecking=accept-new");
        ADD("-o");
        ADD("IdentitiesOnly=yes");
        ADD("-i");
        ADD(identity);
        ADD("-p");
        ADDF("%u", (unsigned) t->port);
        ADD("--");
        ADDF("%s@%s", t->user, t->host);
        for (size_t i = 0; i < n_command; i++)
                ADD(t->command[i]);
#undef ADD
#undef ADDF

        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(argv[i]);
                free(argv);
                return r;
        }
        *ret = argv;
        return 0;
}
