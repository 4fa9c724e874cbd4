/* SPDX-License-Identifier: MIT */
/* The query string of GET /v1/advertisements: the input is split like a URL query
 * ("name=value&name=value"), decoded ('+' and %XX) and looked up the way
 * http_request_query() does with libmicrohttpd (first match; a name without '=' has no
 * value; a value holding a NUL or a control character reads as ""), then handed to
 * advertisement_query_parse(). */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "discovery-advertisement.h"
#include "fuzz.h"
#include "parse-util.h"
#include "validate.h"

#define QUERY_MAX 8192
#define PARAMS_MAX 64

typedef struct Param {
        char *name;
        char *value;         /* NULL: no '=' */
        size_t value_size;   /* decoded, may hold NULs */
} Param;

typedef struct Query {
        Param params[PARAMS_MAX];
        size_t n_params;
        unsigned lookups;
} Query;

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decodes s[0..n) into a new NUL-terminated string; bad escapes are kept as they are. */
static char *decode(const char *s, size_t n, size_t *ret_size) {
        char *d = malloc(n + 1);
        size_t k = 0;

        fuzz_check(d);
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '+')
                        d[k++] = ' ';
                else if (s[i] == '%' && i + 2 < n && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
                        d[k++] = (char) (unhex(s[i + 1]) << 4 | unhex(s[i + 2]));
                        i += 2;
                } else
                        d[k++] = s[i];
        }
        d[k] = 0;
        if (ret_size)
                *ret_size = k;
        return d;
}

static const char *get(void *userdata, const char *name) {
        Query *q = userdata;

        q->lookups++;
        for (size_t i = 0; i < q->n_params; i++) {
                const Param *p = q->params + i;

                if (strcmp(p->name, name) != 0)
                        continue;
                if (!p->value)
                        return NULL;
                if (strlen(p->value) != p->value_size)
                        return "";
                for (size_t j = 0; j < p->value_size; j++)
                        if ((unsigned char) p->value[j] < 0x20 || p->value[j] == 0x7f)
                                return "";
                return p->value;
        }
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char field_error[FIELD_ERROR_MAX] = "";
        AdvertisementQuery aq = { .limit = 4242 }; /* must stay untouched on failure */
        const char *s = (const char *) data, *end = s + size;
        Query q = {};
        int r;

        if (size > QUERY_MAX)
                return 0;

        while (s < end && q.n_params < PARAMS_MAX) {
                const char *amp = memchr(s, '&', (size_t) (end - s)) ?: end;
                const char *eq = memchr(s, '=', (size_t) (amp - s));
                Param *p = q.params + q.n_params++;

                p->name = decode(s, (size_t) ((eq ?: amp) - s), NULL);
                if (eq)
                        p->value = decode(eq + 1, (size_t) (amp - eq - 1), &p->value_size);
                s = amp + 1;
        }

        r = advertisement_query_parse(get, &q, &aq, field_error);
        if (fuzz_verbose()) {
                if (r < 0)
                        fprintf(stderr, "refused (%s): %s\n", strerror(-r), field_error);
                else
                        fprintf(stderr, "accepted: cpu=%" PRIi64 " memory=%" PRIi64 " storage=%" PRIi64
                                " country=%s platform=%s limit=%" PRIu64 " offset=%" PRIu64 "\n",
                                aq.cpu, aq.memory, aq.storage, aq.country, aq.platform, aq.limit, aq.offset);
        }
        if (r < 0) {
                fuzz_check(r == -EINVAL || r == -ERANGE);
                fuzz_check(field_error[0] != 0 && memchr(field_error, 0, FIELD_ERROR_MAX));
                fuzz_check(aq.limit == 4242);
        } else {
                fuzz_check(r == 0);
                fuzz_check(aq.cpu >= 0 && aq.memory >= 0 && aq.storage >= 0);
                fuzz_check(aq.limit >= 1 && aq.limit <= QUERY_LIMIT_MAX);
                fuzz_check(aq.offset <= INT64_MAX);
                fuzz_check(aq.country[0] == 0 || (strlen(aq.country) == 2 &&
                                                  aq.country[0] >= 'A' && aq.country[0] <= 'Z' &&
                                                  aq.country[1] >= 'A' && aq.country[1] <= 'Z'));
                fuzz_check(aq.platform[0] == 0 || platform_valid(aq.platform));
        }

        for (size_t i = 0; i < q.n_params; i++) {
                free(q.params[i].name);
                free(q.params[i].value);
        }
        return 0;
}
