/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "ssh-wire.h"
#include "validate.h"

int ssh_read_bytes(SshReader *r, size_t n, const uint8_t **ret) {
        if (r->n < n)
                return -EBADMSG;
        *ret = r->p;
        r->p += n;
        r->n -= n;
        return 0;
}

int ssh_read_u8(SshReader *r, uint8_t *ret) {
        const uint8_t *p;

        if (ssh_read_bytes(r, 1, &p) < 0)
                return -EBADMSG;
        *ret = p[0];
        return 0;
}

int ssh_read_u32(SshReader *r, uint32_t *ret) {
        const uint8_t *p;

        if (ssh_read_bytes(r, 4, &p) < 0)
                return -EBADMSG;
        *ret = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
        return 0;
}

int ssh_read_string(SshReader *r, const uint8_t **ret, size_t *ret_size) {
        SshReader t = *r;
        const uint8_t *p;
        uint32_t l;

        if (ssh_read_u32(&t, &l) < 0 || ssh_read_bytes(&t, l, &p) < 0)
                return -EBADMSG;
        *r = t;
        *ret = p;
        *ret_size = l;
        return 0;
}

int ssh_read_sub(SshReader *r, SshReader *ret) {
        const uint8_t *p;
        size_t n;

        if (ssh_read_string(r, &p, &n) < 0)
                return -EBADMSG;
        *ret = SSH_READER(p, n);
        return 0;
}

int ssh_read_expect(SshReader *r, const char *s) {
        SshReader t = *r;
        const uint8_t *p;
        size_t n;

        if (ssh_read_string(&t, &p, &n) < 0 || n != strlen(s) || memcmp(p, s, n) != 0)
                return -EBADMSG;
        *r = t;
        return 0;
}

int ssh_read_cstring(SshReader *r, char **ret) {
        SshReader t = *r;
        const uint8_t *p;
        size_t n;
        char *s;

        if (ssh_read_string(&t, &p, &n) < 0 || memchr(p, 0, n))
                return -EBADMSG;
        s = strndup((const char *) p, n);
        if (!s)
                return -ENOMEM;
        *r = t;
        *ret = s;
        return 0;
}

int ssh_read_mpint(SshReader *r, size_t max_size, const uint8_t **ret, size_t *ret_size) {
        SshReader t = *r;
        const uint8_t *p;
        size_t n;

        if (ssh_read_string(&t, &p, &n) < 0)
                return -EBADMSG;
        if (n > 0 && (p[0] & 0x80))
                return -EBADMSG; /* negative */
        if (n > 0 && p[0] == 0) {
                /* A zero byte is there only to keep a set top bit from reading as a sign. */
                if (n == 1 || !(p[1] & 0x80))
                        return -EBADMSG;
                p++, n--;
        }
        if (n > max_size)
                return -EBADMSG;
        *r = t;
        *ret = p;
        *ret_size = n;
        return 0;
}

static void ssh_writer_reserve(SshWriter *w, size_t more) {
        size_t want;
        uint8_t *d;

        if (w->error < 0)
                return;
        if (more > SIZE_MAX / 2 - w->size) {
                w->error = -ENOMEM;
                return;
        }
        if (w->size + more <= w->allocated)
                return;
        want = MAX(MAX(w->allocated * 2, w->size + more), (size_t) 64);
        if (w->secret) {
                /* realloc() could leave a copy of the secret behind in freed memory. */
                d = malloc(want);
                if (d && w->data)
                        memcpy(d, w->data, w->size);
                if (d)
                        erase_and_free(TAKE_PTR(w->data), w->allocated);
        } else
                d = realloc(w->data, want);
        if (!d) {
                w->error = -ENOMEM;
                return;
        }
        w->data = d;
        w->allocated = want;
}

void ssh_put_bytes(SshWriter *w, const void *p, size_t n) {
        ssh_writer_reserve(w, n);
        if (w->error < 0 || n == 0)
                return;
        memcpy(w->data + w->size, p, n);
        w->size += n;
}

void ssh_put_u8(SshWriter *w, uint8_t v) {
        ssh_put_bytes(w, &v, 1);
}

void ssh_put_u32(SshWriter *w, uint32_t v) {
        uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

        ssh_put_bytes(w, b, sizeof(b));
}

void ssh_put_string(SshWriter *w, const void *p, size_t n) {
        if (n > UINT32_MAX) {
                if (w->error >= 0)
                        w->error = -E2BIG;
                return;
        }
        ssh_put_u32(w, (uint32_t) n);
        ssh_put_bytes(w, p, n);
}

void ssh_put_cstring(SshWriter *w, const char *s) {
        ssh_put_string(w, s, strlen(s));
}

void ssh_put_mpint(SshWriter *w, const uint8_t *p, size_t n) {
        while (n > 0 && p[0] == 0)
                p++, n--;
        if (n > 0 && (p[0] & 0x80)) {
                if (n >= UINT32_MAX) {
                        if (w->error >= 0)
                                w->error = -E2BIG;
                        return;
                }
                ssh_put_u32(w, (uint32_t) n + 1);
                ssh_put_u8(w, 0);
                ssh_put_bytes(w, p, n);
        } else
                ssh_put_string(w, p, n);
}

int ssh_writer_steal(SshWriter *w, uint8_t **ret, size_t *ret_size) {
        int r = w->error;

        if (r >= 0)
                ssh_writer_reserve(w, 1); /* never hand out NULL for an empty buffer */
        if (w->error < 0) {
                r = w->error;
                ssh_writer_done(w);
                return r;
        }
        *ret = TAKE_PTR(w->data);
        *ret_size = w->size;
        *w = (SshWriter) { .secret = w->secret };
        return 0;
}

void ssh_writer_done(SshWriter *w) {
        if (w->secret)
                erase_and_free(w->data, w->allocated);
        else
                free(w->data);
        *w = (SshWriter) { .secret = w->secret };
}

void erase_and_free(void *p, size_t n) {
        if (!p)
                return;
        explicit_bzero(p, n);
        free(p);
}

static const char *skip_space(const char *p, const char *end) {
        while (p < end && IN_SET(*p, ' ', '\t', '\r', '\n'))
                p++;
        return p;
}

int pem_armor_decode(const char *text, size_t size, const char *label, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ char *begin = NULL, *end_line = NULL;
        const char *p = text, *end = text + size, *q;
        char *b64;
        size_t n = 0;
        uint8_t *data;
        size_t data_size;
        int r;

        if (asprintf(&begin, "-----BEGIN %s-----", label) < 0 ||
            asprintf(&end_line, "-----END %s-----", label) < 0)
                return -ENOMEM;

        p = skip_space(p, end);
        if ((size_t) (end - p) < strlen(begin) || memcmp(p, begin, strlen(begin)) != 0)
                return -EBADMSG;
        p += strlen(begin);
        q = memmem(p, (size_t) (end - p), end_line, strlen(end_line));
        if (!q || skip_space(q + strlen(end_line), end) != end)
                return -EBADMSG;

        /* The base64 lines, joined. May be secret (a private key): wiped after. */
        b64 = malloc((size_t) (q - p) + 1);
        if (!b64)
                return -ENOMEM;
        for (const char *c = p; c < q; c++) {
                if (IN_SET(*c, '\n', '\r'))
                        continue;
                b64[n++] = *c;
        }
        r = base64_decode(b64, n, &data, &data_size);
        erase_and_free(b64, (size_t) (q - p) + 1);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -EBADMSG;

        *ret = data;
        *ret_size = data_size;
        return 0;
}

int pem_armor_encode(const uint8_t *p, size_t n, const char *label, char **ret) {
        char *b64, *s;
        int r;

        r = base64_encode(p, n, false, 70, &b64);
        if (r < 0)
                return r;
        /* May be a private key: the intermediate copy is wiped, the caller wipes the result. */
        r = asprintf(&s, "-----BEGIN %s-----\n%s-----END %s-----\n", label, b64, label);
        erase_and_free(b64, strlen(b64));
        if (r < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}
