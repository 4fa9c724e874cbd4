/* SPDX-License-Identifier: MIT */
/* cloud_init_user_data(): the input is a VM name, a NUL byte, then an SSH key line (to the
 * next NUL or the end). Whatever it is given, the user-data is "#cloud-config\n", one JSON
 * object, "\n"; when both are UTF-8 that object parses back (json_parse()) to exactly the
 * two keys, hostname equal to the name and ssh_authorized_keys holding just the key, byte
 * for byte: no value can break out of its string. When the name passes vm_name_valid() and
 * the key ssh_public_key_valid(), as everything the provider launches does, they are also
 * UTF-8, the key passes ssh-key-oracle.c, and the user-data holds no character that YAML 1.1
 * (cloud-init's PyYAML) refuses or reads as a line break, so cloud-init sees the same. */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "json-util.h"
#include "provider-driver.h"
#include "ssh-key-oracle.h"

#define INPUT_MAX (2 * SSH_KEY_MAX)
#define HEADER "#cloud-config\n"

static void check_document(const char *text, const char *name, const char *key) {
        const char *body = text + strlen(HEADER);
        json_object *o = NULL, *keys, *v;

        if (json_parse(body, strlen(body), &o) < 0) {
                fprintf(stderr, "user-data is not JSON:\n%s\n", text);
                fuzz_check(!"the user-data parses");
        }
        fuzz_check(json_object_is_type(o, json_type_object));
        fuzz_check(json_object_object_length(o) == 2);

        fuzz_check(json_object_object_get_ex(o, "hostname", &v));
        fuzz_check(json_object_is_type(v, json_type_string));
        fuzz_check((size_t) json_object_get_string_len(v) == strlen(name));
        fuzz_check(strcmp(json_object_get_string(v), name) == 0);

        fuzz_check(json_object_object_get_ex(o, "ssh_authorized_keys", &keys));
        fuzz_check(json_object_is_type(keys, json_type_array));
        fuzz_check(json_object_array_length(keys) == 1);
        v = json_object_array_get_idx(keys, 0);
        fuzz_check(json_object_is_type(v, json_type_string));
        fuzz_check((size_t) json_object_get_string_len(v) == strlen(key));
        if (strcmp(json_object_get_string(v), key) != 0) {
                fprintf(stderr, "key changed:\n%s\n%s\n", key, json_object_get_string(v));
                fuzz_check(!"the key is kept exactly");
        }
        json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul;
        char *name, *key, *text = NULL;
        size_t text_len;
        bool utf8, valid;
        int r;

        if (size > INPUT_MAX)
                return 0;

        nul = memchr(data, 0, size);
        name = strndup((const char *) data, nul ? (size_t) (nul - data) : size);
        key = nul ? strndup((const char *) nul + 1, size - (size_t) (nul - data) - 1) : strdup("");
        fuzz_check(name && key);

        utf8 = oracle_utf8_valid((const uint8_t *) name, strlen(name)) &&
               oracle_utf8_valid((const uint8_t *) key, strlen(key));
        valid = vm_name_valid(name) && ssh_public_key_valid(key);
        if (fuzz_verbose())
                fprintf(stderr, "name %s, key %s\n", vm_name_valid(name) ? "valid" : "invalid",
                        ssh_public_key_valid(key) ? "valid" : "invalid");

        r = cloud_init_user_data(name, key, &text);
        fuzz_check(r == 0 || r == -ENOMEM);
        if (r < 0)
                goto finish;
        fuzz_check(text);
        text_len = strlen(text);
        fuzz_check(text_len > strlen(HEADER) + 1);
        fuzz_check(strncmp(text, HEADER, strlen(HEADER)) == 0);
        /* The header is the only comment: the document proper starts at once. */
        fuzz_check(text[strlen(HEADER)] == '{');
        fuzz_check(text[text_len - 1] == '\n');

        if (utf8)
                check_document(text, name, key);

        if (valid) {
                char why[128] = "";

                if (!utf8) {
                        fprintf(stderr, "valid name and key, but not UTF-8:\n%s\n%s\n", name, key);
                        fuzz_check(!"what the validators take is UTF-8");
                }
                if (!oracle_ssh_key_valid(key, why)) {
                        fprintf(stderr, "ssh_public_key_valid() took a key the oracle refuses (%s):\n%s\n", why, key);
                        fuzz_check(!"the accepted key passes ssh-key-oracle.c");
                }
                if (oracle_has_yaml_unsafe((const uint8_t *) text, text_len)) {
                        fprintf(stderr, "user-data YAML 1.1 refuses or reads differently:\n%s\n", text);
                        fuzz_check(!"the user-data is the same to YAML 1.1");
                }
        }

finish:
        free(text);
        free(name);
        free(key);
        return 0;
}
