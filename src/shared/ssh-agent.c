/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ssh-agent.h"
#include "ssh-wire.h"

/* Message numbers and flags of the agent protocol. */
#define SSH_AGENT_FAILURE 5
#define SSH2_AGENTC_REQUEST_IDENTITIES 11
#define SSH2_AGENT_IDENTITIES_ANSWER 12
#define SSH2_AGENTC_SIGN_REQUEST 13
#define SSH2_AGENT_SIGN_RESPONSE 14
#define SSH_AGENT_EXTENSION_FAILURE 28
#define SSH_AGENT_RSA_SHA2_512 0x04

static int agent_connect(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = SSH_AGENT_TIMEOUT_SEC };

        if (!path)
                path = getenv("SSH_AUTH_SOCK");
        if (isempty(path))
                return -ENXIO;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int io_all(int fd, uint8_t *p, size_t n, bool writing) {
        while (n > 0) {
                ssize_t k = writing ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return IN_SET(errno, EAGAIN, EWOULDBLOCK) ? -ETIMEDOUT : -errno;
                if (k == 0)
                        return -EBADMSG; /* the agent hung up mid-message */
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Sends the request in w (its contents; the length is put in front here) and reads one
 * answer, without its length. */
static int agent_request(const char *path, SshWriter *w, uint8_t **ret, size_t *ret_size) {
        _cleanup_(ssh_writer_done) SshWriter framed = {};
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *answer = NULL;
        uint8_t len[4];
        uint32_t n;
        int r;

        if (w->error < 0)
                return w->error;
        ssh_put_string(&framed, w->data, w->size);
        if (framed.error < 0)
                return framed.error;

        r = agent_connect(path, &fd);
        if (r < 0)
                return r;
        r = io_all(fd, framed.data, framed.size, true);
        if (r < 0)
                return r;
        r = io_all(fd, len, sizeof(len), false);
        if (r < 0)
                return r;
        n = (uint32_t) len[0] << 24 | (uint32_t) len[1] << 16 | (uint32_t) len[2] << 8 | len[3];
        if (n == 0 || n > SSH_AGENT_MESSAGE_MAX)
                return -EBADMSG;
        answer = malloc(n);
        if (!answer)
                return -ENOMEM;
        r = io_all(fd, answer, n, false);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(answer);
        *ret_size = n;
        return 0;
}

int ssh_agent_parse_sign_response(const uint8_t *msg, size_t size, uint8_t **ret, size_t *ret_size) {
        SshReader r = SSH_READER(msg, size);
        const uint8_t *sig;
        size_t sig_size;
        uint8_t type;
        uint8_t *copy;

        if (ssh_read_u8(&r, &type) < 0)
                return -EBADMSG;
        if (IN_SET(type, SSH_AGENT_FAILURE, SSH_AGENT_EXTENSION_FAILURE) && ssh_reader_empty(&r))
                return -EPERM;
        if (type != SSH2_AGENT_SIGN_RESPONSE || ssh_read_string(&r, &sig, &sig_size) < 0 ||
            !ssh_reader_empty(&r) || sig_size == 0)
                return -EBADMSG;
        copy = malloc(sig_size);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, sig, sig_size);
        *ret = copy;
        *ret_size = sig_size;
        return 0;
}

int ssh_agent_parse_identities(const uint8_t *msg, size_t size, const uint8_t *blob, size_t blob_size) {
        SshReader r = SSH_READER(msg, size);
        uint32_t n;
        uint8_t type;
        bool found = false;

        if (ssh_read_u8(&r, &type) < 0 || type != SSH2_AGENT_IDENTITIES_ANSWER || ssh_read_u32(&r, &n) < 0)
                return -EBADMSG;
        for (uint32_t i = 0; i < n; i++) {
                const uint8_t *key;
                size_t key_size;

                if (ssh_read_string(&r, &key, &key_size) < 0 || ssh_read_sub(&r, &(SshReader) {}) < 0)
                        return -EBADMSG;
                if (key_size == blob_size && memcmp(key, blob, blob_size) == 0)
                        found = true;
        }
        if (!ssh_reader_empty(&r))
                return -EBADMSG;
        return found;
}

int ssh_agent_has_key(const char *path, const SshKey *key) {
        _cleanup_(ssh_writer_done) SshWriter w = {};
        _cleanup_free_ uint8_t *answer = NULL;
        const uint8_t *blob;
        size_t size, blob_size;
        int r;

        ssh_put_u8(&w, SSH2_AGENTC_REQUEST_IDENTITIES);
        r = agent_request(path, &w, &answer, &size);
        if (r < 0)
                return r;
        blob = ssh_key_blob(key, &blob_size);
        return ssh_agent_parse_identities(answer, size, blob, blob_size);
}

int ssh_agent_sign(const char *path, const SshKey *key, const void *data, size_t size, uint8_t **ret,
                   size_t *ret_size) {
        _cleanup_(ssh_writer_done) SshWriter w = {};
        _cleanup_free_ uint8_t *answer = NULL;
        const uint8_t *blob;
        size_t answer_size, blob_size;
        int r;

        blob = ssh_key_blob(key, &blob_size);
        ssh_put_u8(&w, SSH2_AGENTC_SIGN_REQUEST);
        ssh_put_string(&w, blob, blob_size);
        ssh_put_string(&w, data, size);
        ssh_put_u32(&w, ssh_key_type(key) == SSH_KEY_RSA ? SSH_AGENT_RSA_SHA2_512 : 0);
        r = agent_request(path, &w, &answer, &answer_size);
        if (r < 0)
                return r;
        return ssh_agent_parse_sign_response(answer, answer_size, ret, ret_size);
}

int ssh_agent_sign_func(const SshKey *key, const void *data, size_t size, uint8_t **ret, size_t *ret_size,
                        void *userdata) {
        return ssh_agent_sign(userdata, key, data, size, ret, ret_size);
}
