/* SPDX-License-Identifier: MIT */
/* qmp_reader_feed() and qmp_line_kind(): what a qemu's QMP socket sends the qemu driver. The
 * input is fed whole, then again in pieces whose sizes come from the input itself; both
 * feeds must see the same lines of the same kinds, each line's kind must be the kind of
 * that line on its own, and a line longer than QMP_LINE_MAX must never be seen. */

#include <string.h>

#include "fuzz.h"
#include "provider-qmp.h"

#define LINES_MAX 4096

typedef struct Seen {
        QmpLineKind kinds[LINES_MAX];
        size_t n;
} Seen;

static int collect(QmpLineKind kind, void *userdata) {
        Seen *s = userdata;

        fuzz_check(kind >= QMP_LINE_GREETING && kind <= QMP_LINE_OTHER);
        if (s->n < LINES_MAX)
                s->kinds[s->n++] = kind;
        return 0;
}

/* The lines of data (each ended by '\n') as the reader should see them: the long ones left out. */
static void expected(const char *data, size_t size, Seen *s) {
        const char *p = data, *end = data + size;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));

                if (!nl)
                        break;
                if ((size_t) (nl - p) <= QMP_LINE_MAX && s->n < LINES_MAX)
                        s->kinds[s->n++] = qmp_line_kind(p, (size_t) (nl - p));
                p = nl + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Seen whole, pieces, oracle;
        QmpReader r = {};
        size_t i = 0;

        if (size > 64 * 1024)
                return 0;
        whole.n = pieces.n = oracle.n = 0;

        fuzz_check(qmp_reader_feed(&r, (const char *) data, size, collect, &whole) == 0);
        fuzz_check(r.n <= QMP_LINE_MAX);

        r = (QmpReader) {};
        while (i < size) {
                size_t k = 1 + data[i] % 97;

                if (k > size - i)
                        k = size - i;
                fuzz_check(qmp_reader_feed(&r, (const char *) data + i, k, collect, &pieces) == 0);
                i += k;
        }

        expected((const char *) data, size, &oracle);
        fuzz_check(whole.n == oracle.n && pieces.n == oracle.n);
        fuzz_check(memcmp(whole.kinds, oracle.kinds, oracle.n * sizeof(QmpLineKind)) == 0);
        fuzz_check(memcmp(pieces.kinds, oracle.kinds, oracle.n * sizeof(QmpLineKind)) == 0);
        if (fuzz_verbose())
                fprintf(stderr, "%zu lines\n", oracle.n);
        return 0;
}
