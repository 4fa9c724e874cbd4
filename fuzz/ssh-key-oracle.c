/* SPDX-License-Identifier: MIT */
/* See ssh-key-oracle.h. Deliberately shares no code with validate.c. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ssh-key-oracle.h"
#include "validate.h"

/* The code point at p (valid UTF-8 of len bytes). */
static uint32_t utf8_code_point(const uint8_t *p, size_t len) {
        uint32_t cp = len == 1 ? p[0] : len == 2 ? p[0] & 0x1f : len == 3 ? p[0] & 0x0f : p[0] & 0x07;

        for (size_t k = 1; k < len; k++)
                cp = cp << 6 | (p[k] & 0x3f);
        return cp;
}

/* The length of the UTF-8 sequence at p[0..n), or 0 when it is not strict UTF-8. */
static size_t utf8_sequence(const uint8_t *p, size_t n) {
        size_t len;
        uint32_t cp;

        if (p[0] < 0x80)
                return 1;
        if ((p[0] & 0xe0) == 0xc0)
                len = 2;
        else if ((p[0] & 0xf0) == 0xe0)
                len = 3;
        else if ((p[0] & 0xf8) == 0xf0)
                len = 4;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t k = 1; k < len; k++)
                if ((p[k] & 0xc0) != 0x80)
                        return 0;
        cp = utf8_code_point(p, len);
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;
        return len;
}

bool oracle_utf8_valid(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n;) {
                size_t len = utf8_sequence(p + i, n - i);

                if (len == 0 || p[i] == 0)
                        return false;
                i += len;
        }
        return true;
}

static bool yaml_unsafe(uint32_t cp) {
        return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
               cp == 0x7f ||
               (cp >= 0x80 && cp <= 0x9f) ||        /* C1, NEL (a YAML 1.1 line break) among them */
               cp == 0x2028 || cp == 0x2029 ||      /* LS, PS: line breaks to YAML 1.1 */
               cp == 0xfffe || cp == 0xffff;
}

bool oracle_has_yaml_unsafe(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n;) {
                size_t len = utf8_sequence(p + i, n - i);

                fuzz_check(len > 0); /* only for valid UTF-8 */
                if (yaml_unsafe(utf8_code_point(p + i, len)))
                        return true;
                i += len;
        }
        return false;
}

char *oracle_base64_encode(const uint8_t *d, size_t n) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((n + 2) / 3 * 4 + 1), *w = out;

        fuzz_check(out);
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) d[i] << 16 | (i + 1 < n ? (uint32_t) d[i + 1] << 8 : 0) |
                             (i + 2 < n ? d[i + 2] : 0);

                *w++ = alphabet[v >> 18 & 63];
                *w++ = alphabet[v >> 12 & 63];
                *w++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
                *w++ = i + 2 < n ? alphabet[v & 63] : '=';
        }
        *w = 0;
        return out;
}

/* Decodes s[0..n) loosely (any '=' ends it), then insists that encoding the result gives s
 * back exactly: that is canonical base64. */
static uint8_t *base64_decode_canonical(const char *s, size_t n, size_t *ret_size) {
        uint8_t *out = calloc(1, n / 4 * 3 + 3);
        uint32_t acc = 0;
        size_t bits = 0, k = 0;
        char *again;

        fuzz_check(out);
        for (size_t i = 0; i < n && s[i] != '='; i++) {
                const char *p = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", s[i]);

                if (!p || !*p) {
                        free(out);
                        return NULL;
                }
                acc = acc << 6 | (uint32_t) (p - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[k++] = (uint8_t) (acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        again = oracle_base64_encode(out, k);
        if (strlen(again) != n || memcmp(again, s, n) != 0) {
                free(again);
                free(out);
                return NULL;
        }
        free(again);
        *ret_size = k;
        return out;
}

typedef struct Reader {
        const uint8_t *p;
        size_t n;
} Reader;

/* An SSH string (RFC 4251 5): uint32 length, then that many bytes. */
static bool get_string(Reader *r, const uint8_t **ret, size_t *ret_len) {
        uint32_t len;

        if (r->n < 4)
                return false;
        len = (uint32_t) r->p[0] << 24 | (uint32_t) r->p[1] << 16 | (uint32_t) r->p[2] << 8 | r->p[3];
        if (len > r->n - 4)
                return false;
        *ret = r->p + 4;
        *ret_len = len;
        r->p += 4 + len;
        r->n -= 4 + len;
        return true;
}

static bool get_string_eq(Reader *r, const char *want) {
        const uint8_t *p;
        size_t n;

        return get_string(r, &p, &n) && n == strlen(want) && memcmp(p, want, n) == 0;
}

/* An mpint that is not negative, and the number of significant bits in it. */
static bool get_mpint(Reader *r, size_t *ret_bits) {
        const uint8_t *p;
        size_t n;

        if (!get_string(r, &p, &n))
                return false;
        if (n > 0 && (p[0] & 0x80))
                return false;
        while (n > 0 && p[0] == 0)
                p++, n--;
        *ret_bits = n == 0 ? 0 : (n - 1) * 8 + (size_t) (32 - __builtin_clz(p[0]));
        return true;
}

static bool get_ec_point(Reader *r, size_t coordinate_size) {
        const uint8_t *p;
        size_t n;

        return get_string(r, &p, &n) && n == 1 + 2 * coordinate_size && p[0] == 0x04;
}

static bool blob_valid(const char *type, const uint8_t *blob, size_t size, char why[static 128]) {
        Reader r = { blob, size };
        const uint8_t *p;
        size_t n, bits_e, bits_n;

        if (!get_string_eq(&r, type)) {
                snprintf(why, 128, "the blob does not start with the type");
                return false;
        }

        if (strcmp(type, "ssh-ed25519") == 0) {
                if (!get_string(&r, &p, &n) || n != 32) {
                        snprintf(why, 128, "ssh-ed25519: no 32-byte key");
                        return false;
                }
        } else if (strcmp(type, "ssh-rsa") == 0) {
                if (!get_mpint(&r, &bits_e) || !get_mpint(&r, &bits_n)) {
                        snprintf(why, 128, "ssh-rsa: e and n are not two mpints, not negative");
                        return false;
                }
                if (bits_n < 1024) {
                        snprintf(why, 128, "ssh-rsa: n of %zu bits, less than 1024", bits_n);
                        return false;
                }
        } else if (strncmp(type, "ecdsa-sha2-", 11) == 0) {
                const char *curve = type + 11;
                size_t coordinate = strcmp(curve, "nistp256") == 0 ? 32 : strcmp(curve, "nistp384") == 0 ? 48 : 66;

                if (!get_string_eq(&r, curve) || !get_ec_point(&r, coordinate)) {
                        snprintf(why, 128, "%s: not the curve name then an uncompressed point", type);
                        return false;
                }
        } else if (strcmp(type, "sk-ssh-ed25519@openssh.com") == 0) {
                if (!get_string(&r, &p, &n) || n != 32 || !get_string(&r, &p, &n)) {
                        snprintf(why, 128, "%s: not a 32-byte key then an application", type);
                        return false;
                }
        } else if (strcmp(type, "sk-ecdsa-sha2-nistp256@openssh.com") == 0) {
                if (!get_string_eq(&r, "nistp256") || !get_ec_point(&r, 32) || !get_string(&r, &p, &n)) {
                        snprintf(why, 128, "%s: not nistp256, a point and an application", type);
                        return false;
                }
        } else
                fuzz_check(!"unreachable");

        if (r.n != 0) {
                snprintf(why, 128, "%s: %zu bytes after the key", type, r.n);
                return false;
        }
        return true;
}

bool oracle_ssh_key_valid(const char *s, char why[static 128]) {
        static const char *const types[] = {
                "ssh-ed25519",
                "ssh-rsa",
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521",
                "sk-ssh-ed25519@openssh.com",
                "sk-ecdsa-sha2-nistp256@openssh.com",
        };
        const char *type = NULL, *sp, *b64, *b64_end;
        size_t n = strlen(s), size = 0;
        uint8_t *blob;
        bool ok;

        if (n == 0 || n > SSH_KEY_MAX) {
                snprintf(why, 128, "%zu bytes", n);
                return false;
        }
        if (!oracle_utf8_valid((const uint8_t *) s, n)) {
                snprintf(why, 128, "not UTF-8");
                return false;
        }
        if (strpbrk(s, "\t\n\r") || oracle_has_yaml_unsafe((const uint8_t *) s, n)) {
                snprintf(why, 128, "a control character, LS, PS, U+FFFE or U+FFFF");
                return false;
        }

        sp = strchr(s, ' ');
        for (size_t i = 0; sp && i < sizeof(types) / sizeof(types[0]); i++)
                if (strlen(types[i]) == (size_t) (sp - s) && memcmp(s, types[i], (size_t) (sp - s)) == 0)
                        type = types[i];
        if (!type) {
                snprintf(why, 128, "no known type then a space");
                return false;
        }

        b64 = sp + 1;
        b64_end = strchr(b64, ' ');
        if (!b64_end)
                b64_end = b64 + strlen(b64);
        blob = base64_decode_canonical(b64, (size_t) (b64_end - b64), &size);
        if (!blob) {
                snprintf(why, 128, "not canonical base64");
                return false;
        }
        ok = blob_valid(type, blob, size, why);
        free(blob);
        return ok;
}
