/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"

static int base64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_size) {
        uint8_t *out, *w;

        if (n == 0 || n % 4 != 0)
                return -EINVAL;
        out = malloc(n / 4 * 3);
        if (!out)
                return -ENOMEM;
        w = out;

        for (size_t i = 0; i < n; i += 4) {
                int v[4];
                size_t pad = 0;

                for (size_t k = 0; k < 4; k++) {
                        if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                                v[k] = 0;
                                pad++;
                                continue;
                        }
                        v[k] = pad ? -1 : base64_value(s[i + k]);
                        if (v[k] < 0) {
                                free(out);
                                return -EINVAL;
                        }
                }
                /* The bits below the last full byte must be zero: one encoding per value. */
                if ((pad == 2 && (v[1] & 0xf)) || (pad == 1 && (v[2] & 0x3))) {
                        free(out);
                        return -EINVAL;
                }
                *w++ = (uint8_t) (v[0] << 2 | v[1] >> 4);
                if (pad < 2)
                        *w++ = (uint8_t) ((v[1] & 0xf) << 4 | v[2] >> 2);
                if (pad < 1)
                        *w++ = (uint8_t) ((v[2] & 0x3) << 6 | v[3]);
        }

        *ret = out;
        *ret_size = (size_t) (w - out);
        return (int) *ret_size;
}

static const char base64_standard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char base64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The i-th character of the encoding of s (n bytes): bits 6i to 6i+5, or '=' past the end. */
static char base64_char(const uint8_t *s, size_t n, size_t i, const char *alphabet) {
        size_t bit = i * 6, byte = bit / 8;
        unsigned v;

        if (byte >= n)
                return '=';
        v = (unsigned) s[byte] << 8 | (byte + 1 < n ? s[byte + 1] : 0);
        return alphabet[(v >> (10 - bit % 8)) & 0x3f];
}

void base64url_encode_into(const void *p, size_t n, char *ret) {
        size_t chars = (n * 4 + 2) / 3;

        for (size_t i = 0; i < chars; i++)
                ret[i] = base64_char(p, n, i, base64_url);
        ret[chars] = 0;
}

int base64_encode(const void *p, size_t n, bool url, size_t wrap, char **ret) {
        size_t chars, size, k = 0, col = 0;
        char *out;

        if (n > SIZE_MAX / 2)
                return -ENOMEM;
        chars = url ? (n * 4 + 2) / 3 : (n + 2) / 3 * 4;
        size = chars + (wrap > 0 ? chars / wrap + 1 : 0) + 1;
        out = malloc(size);
        if (!out)
                return -ENOMEM;

        for (size_t i = 0; i < chars; i++) {
                out[k++] = base64_char(p, n, i, url ? base64_url : base64_standard);
                if (wrap > 0 && ++col == wrap) {
                        out[k++] = '\n';
                        col = 0;
                }
        }
        if (wrap > 0 && col > 0)
                out[k++] = '\n';
        out[k] = 0;
        *ret = out;
        return 0;
}
