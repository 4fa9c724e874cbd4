/* SPDX-License-Identifier: MIT */
/* A NOTIFY payload from the database (the input, cut at its first NUL) to pg_change_parse():
 * what it takes is "u " or "r ", a time within int64 and a valid provider id ending the
 * payload, and writing those back parses to the same; a refusal leaves the result alone. */

#include <errno.h>
#include <inttypes.h>

#include "discovery-store-postgresql.h"
#include "fuzz.h"
#include "macro.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *payload = NULL, *again = NULL;
        PgChange c = { .at = 4242 }, d;
        int r;

        if (size > 8192)
                return 0;
        payload = strndup((const char *) data, size);
        fuzz_check(payload);

        r = pg_change_parse(payload, &c);
        if (fuzz_verbose())
                fprintf(stderr, "%s: %s\n", payload, r < 0 ? strerror(-r) : "taken");
        if (r < 0) {
                fuzz_check(r == -EINVAL && c.at == 4242 && !c.provider_id);
                return 0;
        }
        fuzz_check(r == 0);
        fuzz_check(payload[0] == (c.removed ? 'r' : 'u') && payload[1] == ' ');
        fuzz_check(c.at <= INT64_MAX);
        fuzz_check(provider_id_valid(c.provider_id));
        fuzz_check(c.provider_id > payload && c.provider_id + strlen(c.provider_id) == payload + strlen(payload));
        fuzz_check(asprintf(&again, "%c %" PRIu64 " %s", c.removed ? 'r' : 'u', c.at, c.provider_id) >= 0);
        fuzz_check(pg_change_parse(again, &d) == 0);
        fuzz_check(d.removed == c.removed && d.at == c.at && streq(d.provider_id, c.provider_id));
        return 0;
}
