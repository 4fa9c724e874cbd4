/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <string.h>

#include "macro.h"
#include "utf8.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */
#define ELLIPSIS "\xe2\x80\xa6"    /* U+2026 */

size_t utf8_char_len(const char *s, size_t n) {
        const uint8_t *p = (const uint8_t *) s;
        uint8_t lo = 0x80, hi = 0xbf;
        size_t len;

        if (n == 0)
                return 0;
        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                len = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef) {
                len = 3;
                if (p[0] == 0xe0)
                        lo = 0xa0; /* overlong */
                else if (p[0] == 0xed)
                        hi = 0x9f; /* surrogates */
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                len = 4;
                if (p[0] == 0xf0)
                        lo = 0x90; /* overlong */
                else if (p[0] == 0xf4)
                        hi = 0x8f; /* above U+10FFFF */
        } else
                return 0;

        if (n < len || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < len; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return len;
}

size_t utf8_sanitize(const char *s, size_t n, char *buf, size_t size) {
        size_t w = 0, cut = 0, i = 0;

        if (size == 0)
                return 0;
        while (i < n && s[i]) {
                size_t len = utf8_char_len(s + i, n - i);
                const char *c = len > 0 ? s + i : REPLACEMENT;
                size_t clen = len > 0 ? len : strlen(REPLACEMENT);

                if (w + clen > size - 1) {
                        /* Back to the last boundary that leaves room for the ellipsis. */
                        w = cut;
                        if (w + strlen(ELLIPSIS) <= size - 1) {
                                memcpy(buf + w, ELLIPSIS, strlen(ELLIPSIS));
                                w += strlen(ELLIPSIS);
                        }
                        break;
                }
                memcpy(buf + w, c, clen);
                w += clen;
                i += len > 0 ? len : 1;
                if (w + strlen(ELLIPSIS) <= size - 1)
                        cut = w;
        }
        buf[w] = 0;
        return w;
}
