/* SPDX-License-Identifier: MIT */
/* A DatabaseURL= value (the input, cut at its first NUL) to database_url_valid() and
 * database_url_redact(): a valid URL redacts, an invalid one does not, and the password that
 * libpq reads from the URL (in the user info or as a parameter) is not in what redact gives
 * when it stood in the URL once, as written (no %-escapes). */

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
        _cleanup_free_ char *url = NULL, *redacted = NULL;
        PQconninfoOption *o;
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
        fuzz_check(strlen(redacted) <= strlen(url) * 3);

        o = parse(url);
        for (size_t i = 0; o[i].keyword; i++) {
                const char *pw = o[i].val, *first;

                if (!streq(o[i].keyword, "password") || isempty(pw) || strstr("password=***", pw) ||
                    strchr(url, '%'))
                        continue; /* what the redaction writes has it anyway, or not written as is */
                first = strstr(url, pw);
                if (first && !strstr(first + 1, pw))
                        fuzz_check(!strstr(redacted, pw));
        }
        PQconninfoFree(o);
        return 0;
}
