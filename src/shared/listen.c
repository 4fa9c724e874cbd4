/* SPDX-License-Identifier: MIT */
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "listen.h"
#include "macro.h"

static bool name_wanted(const char *const *names, const char *name) {
        if (!names)
                return true;
        for (const char *const *n = names; *n; n++)
                if (streq_ptr(*n, name))
                        return true;
        return false;
}

int listen_fds_take(const char *const *names, int **ret_fds) {
        char **fd_names = NULL;
        int *fds = NULL, n, k = 0;

        n = sd_listen_fds_with_names(true, &fd_names);
        if (n <= 0) {
                *ret_fds = NULL;
                return n;
        }

        fds = calloc((size_t) n, sizeof(int));
        if (!fds) {
                for (int i = 0; i < n; i++)
                        free(fd_names ? fd_names[i] : NULL);
                free(fd_names);
                return -ENOMEM;
        }

        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                /* systemd-socket-activate and D-Bus activation may name them "unknown"/"stored". */
                if (name_wanted(names, fd_names ? fd_names[i] : NULL) ||
                    streq_ptr(fd_names ? fd_names[i] : NULL, "unknown"))
                        fds[k++] = fd;
                else
                        close(fd);
                free(fd_names ? fd_names[i] : NULL);
        }
        free(fd_names);

        *ret_fds = fds;
        return k;
}

int listen_tcp(const char *host, uint16_t port, int *ret_fd) {
        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
        }, *ai = NULL;
        char service[8];
        int fd, one = 1, r;

        snprintf(service, sizeof(service), "%u", port);
        r = getaddrinfo(host, service, &hints, &ai);
        if (r != 0)
                return r == EAI_MEMORY ? -ENOMEM : -EADDRNOTAVAIL;

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                r = -errno;
                freeaddrinfo(ai);
                return r;
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6) {
                /* "::" serves IPv4 too, as people expect from 0.0.0.0. */
                int zero = 0;
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                close(fd);
                freeaddrinfo(ai);
                return r;
        }
        freeaddrinfo(ai);
        *ret_fd = fd;
        return 0;
}
