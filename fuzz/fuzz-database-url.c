/* SPDX-License-Identifier: MIT */
/* A DatabaseURL= value (the input, cut at its first NUL) to database_url_valid() and
 * database_url_redact(): a valid URL redacts to a URL that is valid too, redacts to itself
 * again, and that libpq reads as the same connection options except the password, which is
 * gone or "***". */

#include <errno.h>
#include <libpq-fe.h>

#include "discovery-database-url.h"
#include "fuzz.h"
#include "macro.h"

static PQconninfoOption *parse(const char *url) {
        PQconninfoOption *o;
        char *error = NULL;

        o = PQconninfoParse(url, &error);
        PQfreemem(error);
        fuzz_check(o);
        return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *url = NULL, *redacted = NULL, *again = NULL;
        PQconninfoOption *a, *b;
        int r;

        if (size > DATABASE_URL_MAX + 16)
                return 0;
        url = strndup((const char *) data, size);
        fuzz_check(url);

        r = database_url_redact(url, &redacted);
        if (fuzz_verbose())
                fprintf(stderr, "%s -> %s\n", url, r < 0 ? strerror(-r) : redacted);
        if (!database_url_valid(url)) {
                fuzz_check(r == -EINVAL && !redacted);
                return 0;
        }
        fuzz_check(r == 0);
        fuzz_check(database_url_valid(redacted));
        fuzz_check(database_url_redact(redacted, &again) == 0);
        fuzz_check(streq(again, redacted));

        a = parse(url);
        b = parse(redacted);
        for (size_t i = 0; a[i].keyword; i++) {
                fuzz_check(b[i].keyword && streq(a[i].keyword, b[i].keyword));
                if (streq(a[i].keyword, "password"))
                        fuzz_check(!b[i].val || streq(b[i].val, "***"));
                else
                        fuzz_check(streq_ptr(a[i].val, b[i].val));
        }
        PQconninfoFree(a);
        PQconninfoFree(b);
        return 0;
}
