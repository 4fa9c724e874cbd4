/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Takes the sockets systemd passed (LISTEN_FDS), keeping those whose FileDescriptorName= is
 * one of names (NULL: all), and unsets the variables. Returns how many, fds in *ret_fds. */
int listen_fds_take(const char *const *names, int **ret_fds);

/* Binds and listens on a TCP socket; host is a numeric IPv4 or IPv6 address. */
int listen_tcp(const char *host, uint16_t port, int *ret_fd);
