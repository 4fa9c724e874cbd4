/* SPDX-License-Identifier: MIT */
/* The body of POST /v1/advertisements: json_parse() then advertisement_from_body(), as
 * discovery-rest.c does, and on success advertisement_to_json() of the result, which must
 * serialize, parse back strictly, validate again and serialize to the very same text, and
 * read as golemctl reads what the service serves (ADVERTISEMENT_SERVED) into the same fields. */

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

/* golemctl's reading of the served document. */
static void check_served(json_object *document, const Advertisement *a) {
        Advertisement s;
        WireError e = {};
        int r;

        r = advertisement_from_json(document, ADVERTISEMENT_SERVED, NULL, &s, &e);
        if (r < 0)
                fprintf(stderr, "served document refused by its reader: %s\n", e.message);
        fuzz_check(r == 0);
        fuzz_check(strcmp(s.provider_id, a->provider_id) == 0);
        fuzz_check(strcmp(s.ip_address, a->ip_address) == 0);
        fuzz_check(strcmp(s.country, a->country) == 0);
        fuzz_check(strcmp(s.platform, a->platform) == 0);
        fuzz_check(s.resources.cpu == a->resources.cpu);
        fuzz_check(s.resources.memory == a->resources.memory);
        fuzz_check(s.resources.storage == a->resources.storage);
        fuzz_check(s.updated_at == a->updated_at);
        fuzz_check(s.api_port == a->api_port);
        fuzz_check(s.verified == a->verified);
        fuzz_check(!s.resources_json && !s.pricing);
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

        r = advertisement_from_body(body, "p1", &a, field_error);
        json_object_put(body);
        if (r < 0) {
                if (fuzz_verbose())
                        fprintf(stderr, "refused (%s): %s\n", strerror(-r), field_error);
                fuzz_check(r == -EINVAL || r == -ENOMEM);
                if (r == -EINVAL)
                        fuzz_check(field_error[0] != 0 && memchr(field_error, 0, FIELD_ERROR_MAX));
                fuzz_check(!a.resources_json && !a.pricing);
                return 0;
        }

        /* What was accepted is within the documented limits. */
        fuzz_check(strcmp(a.provider_id, "p1") == 0);
        fuzz_check(a.ip_address[0] != 0);
        fuzz_check(strlen(a.country) == 2);
        fuzz_check(a.platform[0] == 0 || platform_valid(a.platform));
        fuzz_check(a.resources.cpu >= 1 && a.resources.cpu <= RESOURCE_VALUE_MAX);
        fuzz_check(a.resources.memory >= 1 && a.resources.memory <= RESOURCE_VALUE_MAX);
        fuzz_check(a.resources.storage >= 1 && a.resources.storage <= RESOURCE_VALUE_MAX);
        fuzz_check(json_object_is_type(a.resources_json, json_type_object));
        fuzz_check(json_object_object_length(a.resources_json) <= 3 + RESOURCE_EXTRA_MAX);
        fuzz_check(!a.pricing || json_object_is_type(a.pricing, json_type_object));
        fuzz_check(!a.pricing || json_object_object_length(a.pricing) <= PRICING_KEYS_MAX);
        fuzz_check(!a.verified); /* the service's to say, never the body's */

        /* What is served parses back, validates, and reads the same. */
        text = serialize(&a);
        if (fuzz_verbose())
                fprintf(stderr, "accepted: %s\n", text);
        fuzz_check(json_parse(text, strlen(text), &again) == 0);
        r = advertisement_from_body(again, a.provider_id, &b, field_error);
        if (r < 0)
                fprintf(stderr, "served document refused: %s\n%s\n", field_error, text);
        fuzz_check(r == 0);
        check_served(again, &a);
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
