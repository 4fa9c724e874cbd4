/* SPDX-License-Identifier: MIT */
/* The body of POST /v1/advertisements: json_parse() then advertisement_from_json(), as
 * discovery-rest.c does, and on success advertisement_to_json() of the result, which must
 * serialize, parse back strictly, validate again and serialize to the very same text. */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "discovery-advertisement.h"
#include "fuzz.h"
#include "json-util.h"

/* The HTTP server's default body_max: larger bodies never reach the parser. */
#define BODY_MAX (64 * 1024)

static char *serialize(const Advertisement *a) {
        json_object *o = NULL;
        const char *s;
        char *copy;

        fuzz_check(advertisement_to_json(a, &o) == 0);
        fuzz_check(o);
        s = json_to_string(o, false);
        fuzz_check(s);
        copy = strdup(s);
        fuzz_check(copy);
        /* The pretty form as well, as served with ?pretty. */
        fuzz_check(json_to_string(o, true));
        json_object_put(o);
        return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char field_error[FIELD_ERROR_MAX] = "";
        json_object *body = NULL, *again = NULL;
        Advertisement a = {}, b = {};
        char *text, *text2;
        int r;

        if (size > BODY_MAX)
                return 0;

        if (json_parse((const char *) data, size, &body) < 0) {
                if (fuzz_verbose())
                        fprintf(stderr, "not valid JSON\n");
                return 0;
        }
        fuzz_check(body);
        /* What json_parse() accepts is a JSON text: never a NUL byte, always strict UTF-8. */
        fuzz_check(!memchr(data, 0, size));
        fuzz_check(fuzz_utf8_strict(data, size));

        r = advertisement_from_json(body, "p1", &a, field_error);
        json_object_put(body);
        if (r < 0) {
                if (fuzz_verbose())
                        fprintf(stderr, "refused (%s): %s\n", strerror(-r), field_error);
                fuzz_check(r == -EINVAL || r == -ENOMEM);
                if (r == -EINVAL)
                        fuzz_check(field_error[0] != 0 && memchr(field_error, 0, FIELD_ERROR_MAX));
                fuzz_check(!a.resources && !a.pricing);
                return 0;
        }

        /* What was accepted is within the documented limits. */
        fuzz_check(strcmp(a.provider_id, "p1") == 0);
        fuzz_check(a.ip_address[0] != 0);
        fuzz_check(strlen(a.country) == 2);
        fuzz_check(a.platform[0] == 0 || platform_valid(a.platform));
        fuzz_check(a.cpu >= 1 && a.cpu <= RESOURCE_VALUE_MAX);
        fuzz_check(a.memory >= 1 && a.memory <= RESOURCE_VALUE_MAX);
        fuzz_check(a.storage >= 1 && a.storage <= RESOURCE_VALUE_MAX);
        fuzz_check(json_object_is_type(a.resources, json_type_object));
        fuzz_check(json_object_object_length(a.resources) <= 3 + RESOURCE_EXTRA_MAX);
        fuzz_check(!a.pricing || json_object_is_type(a.pricing, json_type_object));
        fuzz_check(!a.pricing || json_object_object_length(a.pricing) <= PRICING_KEYS_MAX);

        /* What is served parses back, validates, and reads the same. */
        text = serialize(&a);
        if (fuzz_verbose())
                fprintf(stderr, "accepted: %s\n", text);
        fuzz_check(json_parse(text, strlen(text), &again) == 0);
        r = advertisement_from_json(again, a.provider_id, &b, field_error);
        if (r < 0)
                fprintf(stderr, "served document refused: %s\n%s\n", field_error, text);
        fuzz_check(r == 0);
        json_object_put(again);
        text2 = serialize(&b);
        if (strcmp(text, text2) != 0)
                fprintf(stderr, "served document changed on a round trip:\n%s\n%s\n", text, text2);
        fuzz_check(strcmp(text, text2) == 0);

        free(text);
        free(text2);
        advertisement_done(&a);
        advertisement_done(&b);
        return 0;
}
