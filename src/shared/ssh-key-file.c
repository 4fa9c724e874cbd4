/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ssh-key-file.h"
#include "ssh-wire.h"

#define KEY_FILE_MAX (64 * 1024)
#define OPENSSH_KEY_MAGIC "openssh-key-v1" /* and its NUL */
#define OPENSSH_KEY_LABEL "OPENSSH PRIVATE KEY"
#define OPENSSH_KEY_BLOCK 8 /* the "none" cipher's block size */

/* Reads openssh-key-v1 (decoded from its armor). With public_only, the public key of the
 * header only, which is there even when the private section is encrypted. */
static int parse_private_key(const uint8_t *data, size_t size, bool public_only, SshKey **ret) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        SshReader r = SSH_READER(data, size), section;
        const uint8_t *magic, *cipher, *kdf, *public, *padding, *blob;
        size_t cipher_size, kdf_size, public_size, blob_size;
        uint32_t n_keys, check1, check2;
        char *comment = NULL;
        int e;

        if (ssh_read_bytes(&r, sizeof(OPENSSH_KEY_MAGIC), &magic) < 0 ||
            memcmp(magic, OPENSSH_KEY_MAGIC, sizeof(OPENSSH_KEY_MAGIC)) != 0 ||
            ssh_read_string(&r, &cipher, &cipher_size) < 0 ||
            ssh_read_string(&r, &kdf, &kdf_size) < 0 ||
            ssh_read_sub(&r, &(SshReader) {}) < 0 || /* KDF options */
            ssh_read_u32(&r, &n_keys) < 0 || n_keys != 1 ||
            ssh_read_string(&r, &public, &public_size) < 0 ||
            ssh_read_sub(&r, &section) < 0 || !ssh_reader_empty(&r))
                return -EBADMSG;

        if (public_only)
                return ssh_key_from_blob(public, public_size, ret);

        if (cipher_size != 4 || memcmp(cipher, "none", 4) != 0)
                return -ENOKEY; /* encrypted: for ssh-agent */
        if (kdf_size != 4 || memcmp(kdf, "none", 4) != 0 || section.n % OPENSSH_KEY_BLOCK != 0)
                return -EBADMSG;

        /* Two equal random numbers, to tell a wrong passphrase (part of the secret section,
         * so compared in constant time); then the key and its comment. */
        if (ssh_read_u32(&section, &check1) < 0 || ssh_read_u32(&section, &check2) < 0 ||
            CRYPTO_memcmp(&check1, &check2, sizeof(check1)) != 0)
                return -EBADMSG;
        e = ssh_key_read_private(&section, &k);
        if (e < 0)
                return e;
        e = ssh_read_cstring(&section, &comment);
        if (e < 0)
                return e;
        e = ssh_key_set_comment(k, comment);
        free(comment);
        if (e < 0)
                return e;

        /* Padding 1, 2, 3, ... to the block size. */
        if (section.n >= OPENSSH_KEY_BLOCK || ssh_read_bytes(&section, section.n, &padding) < 0)
                return -EBADMSG;
        for (size_t i = 0; padding + i < section.p; i++)
                if (padding[i] != i + 1)
                        return -EBADMSG;

        blob = ssh_key_blob(k, &blob_size);
        if (blob_size != public_size || memcmp(blob, public, blob_size) != 0)
                return -EBADMSG;
        *ret = TAKE_PTR(k);
        return 0;
}

static int private_text_parse(const char *text, size_t size, bool public_only, SshKey **ret) {
        uint8_t *data;
        size_t data_size;
        int r;

        r = pem_armor_decode(text, size, OPENSSH_KEY_LABEL, &data, &data_size);
        if (r < 0)
                return r;
        r = parse_private_key(data, data_size, public_only, ret);
        erase_and_free(data, data_size);
        return r;
}

int ssh_key_from_private_text(const char *text, size_t size, SshKey **ret) {
        return private_text_parse(text, size, false, ret);
}

int ssh_key_to_private_text(const SshKey *k, char **ret) {
        _cleanup_(ssh_writer_done) SshWriter section = { .secret = true }, w = { .secret = true };
        const uint8_t *blob;
        size_t blob_size;
        uint32_t check;
        int r;

        if (!ssh_key_has_private(k))
                return -ENOKEY;
        if (getrandom(&check, sizeof(check), 0) != sizeof(check))
                return -errno;

        ssh_put_u32(&section, check);
        ssh_put_u32(&section, check);
        r = ssh_key_write_private(k, &section);
        if (r < 0)
                return r;
        ssh_put_cstring(&section, ssh_key_comment(k));
        for (uint8_t i = 1; section.size % OPENSSH_KEY_BLOCK != 0; i++)
                ssh_put_u8(&section, i);
        if (section.error < 0)
                return section.error;

        blob = ssh_key_blob(k, &blob_size);
        ssh_put_bytes(&w, OPENSSH_KEY_MAGIC, sizeof(OPENSSH_KEY_MAGIC));
        ssh_put_cstring(&w, "none");
        ssh_put_cstring(&w, "none");
        ssh_put_string(&w, NULL, 0);
        ssh_put_u32(&w, 1);
        ssh_put_string(&w, blob, blob_size);
        ssh_put_string(&w, section.data, section.size);
        if (w.error < 0)
                return w.error;
        return pem_armor_encode(w.data, w.size, OPENSSH_KEY_LABEL, ret);
}

/* The whole of a file of at most KEY_FILE_MAX bytes, NUL-terminated. Wipe it after use. */
static int read_key_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t n = 0;
        char *buf;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if (st.st_size > KEY_FILE_MAX)
                return -EFBIG;

        buf = malloc(KEY_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, KEY_FILE_MAX + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 || (n += (size_t) k) > KEY_FILE_MAX) {
                        int r = k < 0 ? -errno : -EFBIG;

                        erase_and_free(buf, KEY_FILE_MAX + 1);
                        return r;
                }
                if (k == 0)
                        break;
        }
        buf[n] = 0;
        *ret = buf;
        *ret_size = n;
        return 0;
}

/* A private key file's key pair; with public_only, the public key of a private key file or
 * of a public key line. */
static int load_key_file(const char *path, bool public_only, SshKey **ret) {
        char *text = NULL;
        size_t size = 0;
        int r;

        r = read_key_file(path, &text, &size);
        if (r < 0)
                return r;
        if (!public_only)
                r = private_text_parse(text, size, false, ret);
        else if (strlen(text) != size)
                r = -EBADMSG;
        else if (strstr(text, "-----BEGIN " OPENSSH_KEY_LABEL "-----"))
                r = private_text_parse(text, size, true, ret);
        else
                r = ssh_key_from_public_line(text, ret);
        erase_and_free(text, KEY_FILE_MAX + 1);
        return r;
}

int ssh_key_load_private(const char *path, SshKey **ret) {
        return load_key_file(path, false, ret);
}

int ssh_key_load_public(const char *path, SshKey **ret) {
        return load_key_file(path, true, ret);
}

/* Writes data to a new temporary file beside path, flushed to disk; returns its name. */
static int write_temporary(const char *path, const char *data, mode_t mode, char **ret) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(data), done = 0;
        int r;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = fchmod(fd, mode) < 0 ? -errno : 0;
        while (r >= 0 && done < n) {
                ssize_t k = write(fd, data + done, n - done);

                if (k < 0 && errno != EINTR)
                        r = -errno;
                else if (k > 0)
                        done += (size_t) k;
        }
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        *ret = TAKE_PTR(tmp);
        return 0;
}

int ssh_key_save(const SshKey *k, const char *path) {
        _cleanup_free_ char *tmp = NULL, *pub_path = NULL, *pub_tmp = NULL, *line = NULL, *pub = NULL;
        char *text;
        int r;

        r = ssh_key_to_private_text(k, &text);
        if (r < 0)
                return r;
        r = write_temporary(path, text, 0600, &tmp);
        erase_and_free(text, strlen(text));
        if (r < 0)
                return r;
        /* link() never replaces a key that is already there. */
        r = link(tmp, path) < 0 ? -errno : 0;
        (void) unlink(tmp);
        if (r < 0)
                return r;

        if (asprintf(&pub_path, "%s.pub", path) < 0)
                return -ENOMEM;
        r = ssh_key_to_public_line(k, &line);
        if (r < 0)
                return r;
        if (asprintf(&pub, "%s\n", line) < 0)
                return -ENOMEM;
        r = write_temporary(pub_path, pub, 0644, &pub_tmp);
        if (r < 0)
                return r;
        if (rename(pub_tmp, pub_path) < 0) {
                r = -errno;
                (void) unlink(pub_tmp);
                return r;
        }
        return 0;
}
