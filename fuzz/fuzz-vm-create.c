/* SPDX-License-Identifier: MIT */
/* The body of POST /api/v1/vms: json_parse() then vm_create_request_from_json(), as
 * provider-rest.c does. What is accepted must be what the body said, within the limits, and
 * pass the validators again; its SSH key must also pass ssh-key-oracle.c, an independent
 * check of the key's structure. Then a VMRecord made of it (state, port and times taken
 * from a hash of the input) goes through vm_record_to_json(), which must serialize, parse
 * back strictly and read the same. */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "json-util.h"
#include "provider-vm.h"
#include "ssh-key-oracle.h"

/* provider-rest.c's PROVIDER_BODY_MAX: larger bodies never reach the parser. */
#define BODY_MAX (64 * 1024)

static uint64_t fnv1a(const uint8_t *p, size_t n) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * UINT64_C(0x100000001b3);
        return h;
}

/* The refusal names the field it is about: "FIELD: why". */
static void check_field_error(const char *e) {
        static const char *const fields[] = {
                "body", "name", "resources", "resources.cpu", "resources.memory", "resources.storage",
                "cpu", "memory", "storage", "size", "image", "ssh_key",
        };
        const char *colon;

        fuzz_check(memchr(e, 0, FIELD_ERROR_MAX));
        colon = strchr(e, ':');
        fuzz_check(colon && colon[1] == ' ' && colon[2]);
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                if (strlen(fields[i]) == (size_t) (colon - e) && memcmp(e, fields[i], (size_t) (colon - e)) == 0)
                        return;
        fprintf(stderr, "refusal names no field: %s\n", e);
        fuzz_check(!"refusal names a field");
}

static const char *string_field(json_object *o, const char *key) {
        json_object *v;

        fuzz_check(json_object_object_get_ex(o, key, &v));
        fuzz_check(json_object_is_type(v, json_type_string));
        return json_object_get_string(v);
}

static int64_t int_field(json_object *o, const char *key) {
        json_object *v;

        fuzz_check(json_object_object_get_ex(o, key, &v));
        fuzz_check(json_object_is_type(v, json_type_int));
        return json_object_get_int64(v);
}

static bool has_non_null(json_object *o, const char *key, json_object **ret) {
        return json_object_object_get_ex(o, key, ret) && !json_object_is_type(*ret, json_type_null);
}

/* The request holds what the body said: resources first, then the flat fields, then size. */
static void check_against_body(json_object *body, const VMCreateRequest *req) {
        Resources want;
        json_object *v, *from;

        fuzz_check(strcmp(string_field(body, "name"), req->name) == 0);
        /* The key is optional (the requestor may add one later). */
        if (json_object_object_get_ex(body, "ssh_key", NULL))
                fuzz_check(strcmp(string_field(body, "ssh_key"), req->ssh_key) == 0);
        else
                fuzz_check(req->ssh_key[0] == 0);
        if (has_non_null(body, "image", &v))
                fuzz_check(strcmp(json_object_get_string(v), req->image) == 0 && req->image[0]);
        else
                fuzz_check(req->image[0] == 0);

        from = has_non_null(body, "resources", &v) ? v :
               json_object_object_get_ex(body, "cpu", NULL) || json_object_object_get_ex(body, "memory", NULL) ||
               json_object_object_get_ex(body, "storage", NULL) ? body : NULL;
        if (from)
                want = (Resources) { int_field(from, "cpu"), int_field(from, "memory"), int_field(from, "storage") };
        else {
                VMSize size = vm_size_from_string(string_field(body, "size"));

                fuzz_check(size >= 0);
                want = vm_size_resources(size);
        }
        fuzz_check(memcmp(&want, &req->resources, sizeof(want)) == 0);
}

static void check_key(const char *key) {
        char why[128] = "";
        size_t n = strlen(key);

        fuzz_check(n > 0 && n <= SSH_KEY_MAX);
        fuzz_check(ssh_public_key_valid(key));
        for (size_t i = 0; i < n; i++)
                fuzz_check((unsigned char) key[i] >= 0x20 && key[i] != 0x7f);
        if (!oracle_ssh_key_valid(key, why)) {
                fprintf(stderr, "ssh_public_key_valid() took a key the oracle refuses (%s):\n%s\n", why, key);
                fuzz_check(!"the accepted key passes ssh-key-oracle.c");
        }
}

/* vm_record_to_json() of a record made of the request. */
static void check_record(const VMCreateRequest *req, uint64_t h) {
        char created[RFC3339_MAX], updated[RFC3339_MAX];
        json_object *o = NULL, *back = NULL, *res, *v;
        VMRecord rec = {};
        const char *text;

        strcpy(rec.name, req->name);
        strcpy(rec.image, req->image);
        rec.resources = req->resources;
        rec.state = (VMState) (h % _VM_STATE_MAX);
        rec.ssh_port = (uint16_t) (h >> 8);
        rec.ssh_key = strdup(req->ssh_key);
        fuzz_check(rec.ssh_key);
        if (h & 1)
                strcpy(rec.ip_address, h & 2 ? "10.22.115.7" : "fd00::1");
        if (rec.state == VM_ERROR) {
                /* What a driver's failure could say: anything, here the key. */
                rec.error_message = strdup(req->ssh_key);
                fuzz_check(rec.error_message);
        }
        rec.created_at = h >> 3;                        /* up to year ~73000: "" */
        rec.updated_at = h % (UINT64_C(4102444800) * USEC_PER_SEC); /* before 2100 */

        fuzz_check(vm_record_to_json(&rec, &o) == 0 && o);
        text = json_to_string(o, false);
        fuzz_check(text);
        if (json_parse(text, strlen(text), &back) < 0) {
                fprintf(stderr, "served VM does not parse back:\n%s\n", text);
                fuzz_check(!"vm_record_to_json() parses back");
        }
        fuzz_check(json_to_string(o, true));

        fuzz_check(json_object_is_type(back, json_type_object));
        fuzz_check(strcmp(string_field(back, "id"), req->name) == 0);
        fuzz_check(strcmp(string_field(back, "name"), req->name) == 0);
        fuzz_check(strcmp(string_field(back, "status"), vm_state_to_string(rec.state)) == 0);
        fuzz_check(strcmp(string_field(back, "image"), req->image) == 0);
        fuzz_check(json_object_object_get_ex(back, "resources", &res) && json_object_is_type(res, json_type_object));
        fuzz_check(json_object_object_length(res) == 3);
        fuzz_check(int_field(res, "cpu") == req->resources.cpu);
        fuzz_check(int_field(res, "memory") == req->resources.memory);
        fuzz_check(int_field(res, "storage") == req->resources.storage);
        fuzz_check(json_object_object_get_ex(back, "ip_address", &v));
        fuzz_check(rec.ip_address[0] ? strcmp(json_object_get_string(v), rec.ip_address) == 0
                                     : json_object_is_type(v, json_type_null));
        fuzz_check(json_object_object_get_ex(back, "ssh_port", &v));
        fuzz_check(rec.ssh_port ? json_object_is_type(v, json_type_int) && json_object_get_int64(v) == rec.ssh_port
                                : json_object_is_type(v, json_type_null));
        fuzz_check(strcmp(string_field(back, "created_at"), format_rfc3339(created, rec.created_at)) == 0);
        fuzz_check(strcmp(string_field(back, "updated_at"), format_rfc3339(updated, rec.updated_at)) == 0);
        fuzz_check(updated[0]);
        fuzz_check(json_object_object_get_ex(back, "error_message", &v));
        fuzz_check(rec.error_message ? strcmp(json_object_get_string(v), rec.error_message) == 0
                                     : json_object_is_type(v, json_type_null));
        /* The key is not shown. */
        fuzz_check(!json_object_object_get_ex(back, "ssh_key", NULL));
        fuzz_check(json_object_object_length(back) == 10);

        json_object_put(back);
        json_object_put(o);
        vm_record_done(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char field_error[FIELD_ERROR_MAX] = "";
        VMCreateRequest req;
        json_object *body = NULL;
        int r;

        if (size > BODY_MAX)
                return 0;

        if (json_parse((const char *) data, size, &body) < 0) {
                if (fuzz_verbose())
                        fprintf(stderr, "not valid JSON\n");
                return 0;
        }
        fuzz_check(body);

        memset(&req, 'x', sizeof(req));
        r = vm_create_request_from_json(body, &req, field_error);
        if (r < 0) {
                if (fuzz_verbose())
                        fprintf(stderr, "refused: %s\n", field_error);
                fuzz_check(r == -EINVAL);
                check_field_error(field_error);
                json_object_put(body);
                return 0;
        }
        fuzz_check(r == 0);
        if (fuzz_verbose())
                fprintf(stderr, "accepted: %s %" PRIi64 "/%" PRIi64 "/%" PRIi64 " '%s' %s\n", req.name,
                        req.resources.cpu, req.resources.memory, req.resources.storage, req.image, req.ssh_key);

        /* Within the limits, and what the validators take. */
        fuzz_check(memchr(req.name, 0, sizeof(req.name)) && vm_name_valid(req.name));
        fuzz_check(req.resources.cpu >= 1 && req.resources.cpu <= VM_CPU_MAX);
        fuzz_check(req.resources.memory >= 1 && req.resources.memory <= VM_MEMORY_MAX);
        fuzz_check(req.resources.storage >= 1 && req.resources.storage <= VM_STORAGE_MAX);
        fuzz_check(memchr(req.image, 0, sizeof(req.image)));
        fuzz_check(req.image[0] == 0 || vm_image_valid(req.image));
        fuzz_check(memchr(req.ssh_key, 0, sizeof(req.ssh_key)));
        if (req.ssh_key[0])
                check_key(req.ssh_key);
        check_against_body(body, &req);
        json_object_put(body);

        check_record(&req, fnv1a(data, size));
        return 0;
}
