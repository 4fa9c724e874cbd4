/* SPDX-License-Identifier: MIT */
/* What golemctl reads from the network: the first byte picks the parser, the rest is the
 * answer's body, given to json_parse() as golemctl-http.c does and then to
 *
 *   'a'  advertisement_from_json()  (GET /api/v1/advertisements[/ID] at discovery, as served)
 *   'v'  remote_vm_from_json()      (a provider's VM)
 *   'j'  job_from_json()            (202 of an async create, GET /api/v1/vms/jobs/ID)
 *   's'  access_from_json()         (GET /api/v1/vms/NAME/access)
 *   'e'  http_error_from_json()     (the body of any answer that is not 2xx)
 *
 * and any other first byte to all five. A top-level array is also taken apart as golemctl
 * does with list answers: each element to the parser.
 *
 * On success every field must be what golemctl-wire.h promises and what the body said:
 * names pass vm_name_valid(), addresses are canonical, ports 1-65535 (ssh_port of a VM: 0
 * only when absent), resources >= 0 (advertisements) or >= 1 (VMs), tokens are tokens, free
 * text is the body's text cut at a UTF-8 boundary with C0, DEL and C1 controls turned into
 * spaces, timestamps format back to the same string; an advertisement goes through
 * advertisement_to_output_json() and back unchanged. On failure the result is untouched and
 * *ret_field names a field. Nothing may leak.
 *
 * Every body also goes to json_array_parse_each(), the element-at-a-time parser of long list
 * answers: where json_parse() takes the body as an array, it must give the same elements in
 * the same order; where json_parse() takes it as something else, it says -EMEDIUMTYPE; its
 * failures are -EBADMSG or -EMEDIUMTYPE; what it takes and json_parse() refuses may only be
 * a matter of UTF-8 strictness, so it must parse again once the bytes are made ASCII. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "golemctl-http.h"
#include "golemctl-wire.h"
#include "json-util.h"
#include "parse-util.h"

/* CURL_GLUE_BODY_MAX: curl-glue.c keeps no more of an answer. */
#define INPUT_MAX (1024 * 1024)
/* Elements of a top-level array given to the parser one by one. */
#define ELEMENTS_MAX 64

/* Kept apart from http_error_from_json()'s ERROR_CODE_MAX and ERROR_MESSAGE_MAX on purpose:
 * these are what the header and the tests say. */
#define CODE_MAX 64
#define MESSAGE_MAX 1024

/* A fixed-size field: NUL-terminated inside its buffer. */
#define check_terminated(field) fuzz_check(memchr((field), 0, sizeof(field)))

static json_object *member(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return NULL;
        return v;
}

/* The string the body had for key: a string without NUL bytes, since it was accepted. */
static const char *member_string(json_object *o, const char *key) {
        json_object *v = member(o, key);

        fuzz_check(v && json_object_is_type(v, json_type_string));
        fuzz_check(strlen(json_object_get_string(v)) == (size_t) json_object_get_string_len(v));
        return json_object_get_string(v);
}

static int64_t member_int(json_object *o, const char *key) {
        json_object *v = member(o, key);

        fuzz_check(v && json_object_is_type(v, json_type_int));
        return json_object_get_int64(v);
}

/* A string field that is copied as it came, or "" when absent or null. */
static void check_copied(json_object *o, const char *key, const char *got) {
        if (!member(o, key))
                fuzz_check(got[0] == 0);
        else
                fuzz_check(strcmp(got, member_string(o, key)) == 0);
}

/* No controls left anywhere, and valid UTF-8. */
static void check_printable(const char *s, size_t max) {
        size_t n = strlen(s);

        fuzz_check(n <= max);
        fuzz_check(fuzz_utf8_strict((const uint8_t *) s, n));
        for (size_t i = 0; i < n; i++) {
                unsigned char c = s[i];

                fuzz_check(c >= 0x20 && c != 0x7f);
                /* U+0080..U+009F are C2 80..C2 9F. */
                fuzz_check(!(c == 0xc2 && i + 1 < n && (unsigned char) s[i + 1] <= 0x9f));
        }
}

/* got is source (as far as a C string goes) cut to at most max bytes at a UTF-8 boundary,
 * with only controls changed, each into a space. */
static void check_text_of(const char *source, size_t max, const char *got) {
        size_t n = strlen(source), k = strlen(got);

        check_printable(got, max);
        if (n <= max)
                fuzz_check(k == n);
        else {
                /* Cut, but not more than a sequence's worth, and before a sequence's start. */
                fuzz_check(k <= max && k + 3 >= max);
                fuzz_check(((unsigned char) source[k] & 0xc0) != 0x80);
        }
        for (size_t i = 0; i < k; i++) {
                unsigned char c = source[i];

                if (got[i] == source[i])
                        continue;
                fuzz_check(got[i] == ' ');
                fuzz_check(c < 0x20 || c == 0x7f ||
                           (c == 0xc2 && (unsigned char) source[i + 1] >= 0x80 && (unsigned char) source[i + 1] <= 0x9f) ||
                           (i > 0 && (unsigned char) source[i - 1] == 0xc2 && c >= 0x80 && c <= 0x9f));
        }
}

/* A free-text field: "" when absent or null, else made printable. A "\u0000" in it ends
 * the text, as it ends the C string json-c gives. */
static void check_text(json_object *o, const char *key, size_t max, const char *got) {
        json_object *v = member(o, key);

        if (!v)
                fuzz_check(got[0] == 0);
        else {
                fuzz_check(json_object_is_type(v, json_type_string));
                check_text_of(json_object_get_string(v), max, got);
        }
}

static void check_timestamp(json_object *o, const char *key, usec_t got) {
        char buf[RFC3339_MAX];

        if (!member(o, key))
                fuzz_check(got == 0);
        else
                fuzz_check(strcmp(format_rfc3339(buf, got), member_string(o, key)) == 0);
}

/* A canonical address, and the canonical form of what the body said. */
static void check_ip(const char *said, const char *got) {
        char a[IP_ADDRESS_MAX], b[IP_ADDRESS_MAX];

        fuzz_check(ip_address_canonicalize(got, a) == 0);
        fuzz_check(strcmp(a, got) == 0);
        fuzz_check(ip_address_canonicalize(said, b) == 0);
        fuzz_check(strcmp(b, got) == 0);
}

static void check_resources(json_object *o, const Resources *r, int64_t min) {
        json_object *res = member(o, "resources");

        fuzz_check(res && json_object_is_type(res, json_type_object));
        fuzz_check(r->cpu >= min && r->cpu <= INT32_MAX && r->cpu == member_int(res, "cpu"));
        fuzz_check(r->memory >= min && r->memory <= INT32_MAX && r->memory == member_int(res, "memory"));
        fuzz_check(r->storage >= min && r->storage <= INT32_MAX && r->storage == member_int(res, "storage"));
}

/* After a failure: -EBADMSG naming a field, or -ENOMEM; and the same without ret_field. */
static void check_failure(const char *what, int r, const char *field, int r_again, const char *const *fields) {
        bool known = false;

        if (fuzz_verbose())
                fprintf(stderr, "%s: %s (field %s)\n", what, strerror(-r), field ?: "-");
        fuzz_check(r == -EBADMSG || r == -ENOMEM);
        fuzz_check(r_again == r);
        if (r == -ENOMEM)
                return;
        fuzz_check(field);
        for (size_t i = 0; fields[i]; i++)
                if (strcmp(field, fields[i]) == 0)
                        known = true;
        if (!known)
                fprintf(stderr, "%s: unexpected field '%s'\n", what, field);
        fuzz_check(known);
}

/* ---- advertisements ---- */

static void check_advertisement_fields(json_object *o, const Advertisement *a) {
        check_terminated(a->provider_id);
        fuzz_check(provider_id_valid(a->provider_id));
        fuzz_check(strcmp(a->provider_id, member_string(o, "provider_id")) == 0);

        check_terminated(a->ip_address);
        check_ip(member_string(o, "ip_address"), a->ip_address);

        check_terminated(a->country);
        fuzz_check(strlen(a->country) == 2);
        fuzz_check(a->country[0] >= 'A' && a->country[0] <= 'Z' && a->country[1] >= 'A' && a->country[1] <= 'Z');
        fuzz_check(strcasecmp(a->country, member_string(o, "country")) == 0);

        check_terminated(a->platform);
        fuzz_check(!a->platform[0] || platform_valid(a->platform));
        check_copied(o, "platform", a->platform);

        check_resources(o, &a->resources, 0);
        check_timestamp(o, "updated_at", a->updated_at);

        /* verified: a boolean, false when absent; api_port: 1-65535, 0 when absent. */
        fuzz_check(a->verified == (member(o, "verified") && json_object_get_boolean(member(o, "verified"))));
        if (member(o, "verified"))
                fuzz_check(json_object_is_type(member(o, "verified"), json_type_boolean));
        if (member(o, "api_port"))
                fuzz_check(a->api_port >= 1 && a->api_port == member_int(o, "api_port"));
        else
                fuzz_check(a->api_port == 0);
}

static bool advertisement_equal(const Advertisement *a, const Advertisement *b) {
        return streq(a->provider_id, b->provider_id) && streq(a->ip_address, b->ip_address) &&
                streq(a->country, b->country) && streq(a->platform, b->platform) &&
                a->resources.cpu == b->resources.cpu && a->resources.memory == b->resources.memory &&
                a->resources.storage == b->resources.storage && a->updated_at == b->updated_at &&
                a->verified == b->verified;
}

/* advertisement_to_output_json() (golemctl's JSON output) parses back to the same advertisement. */
static void check_advertisement_round_trip(const Advertisement *a) {
        json_object *o, *back = NULL;
        Advertisement b;
        const char *s;

        o = advertisement_to_output_json(a, "http://192.0.2.1:7466");
        if (!o)
                return; /* OOM */
        s = json_to_string(o, false);
        fuzz_check(s);
        fuzz_check(json_parse(s, strlen(s), &back) == 0);
        memset(&b, 'x', sizeof(b));
        if (advertisement_from_json(back, ADVERTISEMENT_SERVED, NULL, &b, NULL) < 0) {
                fprintf(stderr, "advertisement_to_output_json() gave what does not parse back: %s\n", s);
                fuzz_check(!"advertisement_to_output_json() parses back");
        }
        fuzz_check(advertisement_equal(a, &b));
        json_object_put(back);
        json_object_put(o);
}

static void fuzz_advertisement(json_object *o) {
        static const char *const fields[] = {
                "advertisement", "provider_id", "ip_address", "country", "platform", "resources",
                "cpu", "memory", "storage", "updated_at", "verified", "api_port", NULL,
        };
        Advertisement a, untouched;
        WireError e = {};
        int r, r_again;

        memset(&a, 'x', sizeof(a));
        memcpy(&untouched, &a, sizeof(untouched));
        r = advertisement_from_json(o, ADVERTISEMENT_SERVED, NULL, &a, &e);
        if (r < 0) {
                fuzz_check(memcmp(&a, &untouched, sizeof(a)) == 0);
                r_again = advertisement_from_json(o, ADVERTISEMENT_SERVED, NULL, &a, NULL);
                check_failure("advertisement", r, e.field, r_again, fields);
                return;
        }
        fuzz_check(r == 0);
        /* What is served holds nothing to free. */
        fuzz_check(!a.resources_json && !a.pricing);
        if (fuzz_verbose())
                fprintf(stderr, "advertisement: %s %s %s '%s' %" PRIi64 "/%" PRIi64 "/%" PRIi64 "\n",
                        a.provider_id, a.ip_address, a.country, a.platform,
                        a.resources.cpu, a.resources.memory, a.resources.storage);
        check_advertisement_fields(o, &a);
        check_advertisement_round_trip(&a);
}

/* ---- VMs ---- */

static void fuzz_remote_vm(json_object *o) {
        static const char *const fields[] = {
                "VM", "name", "status", "resources", "cpu", "memory", "storage", "image",
                "ip_address", "ssh_port", "created_at", "error_message", NULL,
        };
        RemoteVM vm, untouched;
        const char *field = NULL;
        int r, r_again;

        memset(&vm, 'x', sizeof(vm));
        memcpy(&untouched, &vm, sizeof(untouched));
        r = remote_vm_from_json(o, &vm, &field);
        if (r < 0) {
                fuzz_check(memcmp(&vm, &untouched, sizeof(vm)) == 0);
                r_again = remote_vm_from_json(o, &vm, NULL);
                check_failure("VM", r, field, r_again, fields);
                return;
        }
        fuzz_check(r == 0);
        if (fuzz_verbose())
                fprintf(stderr, "VM: %s %s '%s' '%s' %u\n", vm.name, vm.status, vm.image, vm.ip_address,
                        (unsigned) vm.ssh_port);

        check_terminated(vm.name);
        fuzz_check(vm_name_valid(vm.name));
        fuzz_check(strcmp(vm.name, member_string(o, "name")) == 0);

        check_terminated(vm.status);
        fuzz_check(vm.status[0] && strlen(vm.status) <= VM_STATUS_MAX);
        fuzz_check(string_in_charset(vm.status, strlen(vm.status), "abcdefghijklmnopqrstuvwxyz_-"));
        fuzz_check(strcmp(vm.status, member_string(o, "status")) == 0);

        check_resources(o, &vm.resources, 1);

        check_terminated(vm.image);
        fuzz_check(!vm.image[0] || (vm_image_valid(vm.image) && vm.image[0] != '-'));
        check_copied(o, "image", vm.image);

        check_terminated(vm.ip_address);
        if (vm.ip_address[0])
                check_ip(member_string(o, "ip_address"), vm.ip_address);
        else
                fuzz_check(!member(o, "ip_address") || !member_string(o, "ip_address")[0]);

        /* 0 means no port: golemctl never uses it as one. */
        if (member(o, "ssh_port"))
                fuzz_check(vm.ssh_port == member_int(o, "ssh_port"));
        else
                fuzz_check(vm.ssh_port == 0);

        check_timestamp(o, "created_at", vm.created_at);

        check_terminated(vm.error_message);
        check_text(o, "error_message", WIRE_MESSAGE_MAX, vm.error_message);
}

/* ---- jobs ---- */

static void fuzz_job(json_object *o) {
        static const char *const fields[] = {
                "job", "job_id", "vm_id", "status", "progress", "stage", "error", NULL,
        };
        const char *field = NULL;
        Job j, untouched;
        json_object *p;
        int r, r_again;

        memset(&j, 'x', sizeof(j));
        memcpy(&untouched, &j, sizeof(untouched));
        r = job_from_json(o, &j, &field);
        if (r < 0) {
                fuzz_check(memcmp(&j, &untouched, sizeof(j)) == 0);
                r_again = job_from_json(o, &j, NULL);
                check_failure("job", r, field, r_again, fields);
                return;
        }
        fuzz_check(r == 0);
        if (fuzz_verbose())
                fprintf(stderr, "job: %s %s %s %d '%s' '%s'\n", j.job_id, j.vm_id, job_status_to_string(j.status),
                        j.progress, j.stage, j.error);

        check_terminated(j.job_id);
        fuzz_check(token_valid(j.job_id, JOB_ID_MAX, "-_"));
        fuzz_check(strcmp(j.job_id, member_string(o, "job_id")) == 0);

        check_terminated(j.vm_id);
        fuzz_check(vm_name_valid(j.vm_id));
        fuzz_check(strcmp(j.vm_id, member_string(o, "vm_id")) == 0);

        fuzz_check(j.status >= 0 && j.status < _JOB_STATUS_MAX);
        fuzz_check(job_status_to_string(j.status));
        fuzz_check(strcmp(job_status_to_string(j.status), member_string(o, "status")) == 0);

        p = member(o, "progress");
        if (!p)
                fuzz_check(j.progress == -1);
        else {
                double d;

                fuzz_check(j.progress >= 0 && j.progress <= 100);
                fuzz_check(json_get_number(p, &d) == 0);
                fuzz_check(d >= 0 && d <= 100 && j.progress == (int) d);
        }

        check_terminated(j.stage);
        check_text(o, "stage", STAGE_MAX, j.stage);
        check_terminated(j.error);
        check_text(o, "error", WIRE_MESSAGE_MAX, j.error);
}

/* ---- access ---- */

/* golemctl-wire.h: dot-separated labels of [A-Za-z0-9-], not starting with '-'; as host
 * names go, each label 1-63 long and the whole at most 253, a final '.' for the root. */
static bool hostname_oracle(const char *s) {
        size_t n = strlen(s), label = 0;

        if (n == 0 || n > SSH_HOST_MAX || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') {
                        if (++label > 63)
                                return false;
                } else
                        return false;
        }
        return true;
}

static void fuzz_access(json_object *o) {
        static const char *const fields[] = { "access", "ssh_host", "ssh_port", NULL };
        char ip[IP_ADDRESS_MAX];
        const char *field = NULL, *said;
        Access a, untouched;
        int r, r_again;

        memset(&a, 'x', sizeof(a));
        memcpy(&untouched, &a, sizeof(untouched));
        r = access_from_json(o, &a, &field);
        if (r < 0) {
                fuzz_check(memcmp(&a, &untouched, sizeof(a)) == 0);
                r_again = access_from_json(o, &a, NULL);
                check_failure("access", r, field, r_again, fields);
                return;
        }
        fuzz_check(r == 0);
        if (fuzz_verbose())
                fprintf(stderr, "access: %s %u\n", a.ssh_host, (unsigned) a.ssh_port);

        check_terminated(a.ssh_host);
        /* Never an option to ssh, and nothing but what a host name or an address is made of. */
        fuzz_check(a.ssh_host[0] && a.ssh_host[0] != '-');
        fuzz_check(strlen(a.ssh_host) <= SSH_HOST_MAX);
        fuzz_check(string_in_charset(a.ssh_host, strlen(a.ssh_host),
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:"));
        said = member_string(o, "ssh_host");
        if (ip_address_canonicalize(said, ip) == 0)
                check_ip(said, a.ssh_host);
        else {
                fuzz_check(strcmp(a.ssh_host, said) == 0);
                fuzz_check(hostname_valid(a.ssh_host));
                if (!hostname_oracle(a.ssh_host)) {
                        fprintf(stderr, "access: not a host name: '%s'\n", a.ssh_host);
                        fuzz_check(!"ssh_host is a host name");
                }
        }

        fuzz_check(a.ssh_port >= 1 && a.ssh_port == member_int(o, "ssh_port"));
}

/* ---- error envelopes ---- */

/* The text the envelope has for its message, as the header lists the forms. */
static const char *envelope_message(json_object *o) {
        json_object *detail, *v, *first;

        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "detail", &detail))
                return NULL;
        if (json_object_is_type(detail, json_type_string))
                return json_object_get_string(detail);
        if (json_object_is_type(detail, json_type_object))
                return json_object_object_get_ex(detail, "message", &v) && json_object_is_type(v, json_type_string) ?
                        json_object_get_string(v) : NULL;
        if (json_object_is_type(detail, json_type_array) && json_object_array_length(detail) > 0) {
                first = json_object_array_get_idx(detail, 0);
                return json_object_is_type(first, json_type_object) && json_object_object_get_ex(first, "msg", &v) &&
                        json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        }
        return NULL;
}

static void fuzz_error(json_object *o) {
        char *code = (char *) "x", *message = (char *) "x";
        json_object *detail, *v;
        const char *said;

        http_error_from_json(o, &code, &message);
        if (fuzz_verbose())
                fprintf(stderr, "error: code %s, message %s\n", code ?: "-", message ?: "-");

        if (code) {
                fuzz_check(token_valid(code, CODE_MAX, "_.-"));
                fuzz_check(json_object_object_get_ex(o, "detail", &detail) &&
                           json_object_object_get_ex(detail, "code", &v) &&
                           json_object_is_type(v, json_type_string));
                fuzz_check(strcmp(code, json_object_get_string(v)) == 0);
        }

        /* What the envelope says reaches the user, made printable; never a message of nothing. */
        said = envelope_message(o);
        if (!said || !said[0])
                fuzz_check(!message);
        else {
                if (!message) {
                        fprintf(stderr, "error: the message '%s' was lost\n", said);
                        fuzz_check(!"the envelope's message is kept");
                }
                fuzz_check(message[0]);
                check_text_of(said, MESSAGE_MAX, message);
        }

        free(code);
        free(message);
}

/* ---- the input ---- */

typedef void (*parser_t)(json_object *o);

static void run(parser_t parser, json_object *o) {
        parser(o);

        /* A list answer: each element, as golemctl takes them. */
        if (json_object_is_type(o, json_type_array)) {
                size_t n = json_object_array_length(o);

                for (size_t i = 0; i < n && i < ELEMENTS_MAX; i++)
                        parser(json_object_array_get_idx(o, i));
        }
}

typedef struct Elements {
        json_object *parsed;   /* json_parse()'s array, or NULL */
        size_t n;
        bool differ;
} Elements;

static int on_element(json_object *element, void *userdata) {
        Elements *e = userdata;
        json_object *expected = e->parsed && e->n < json_object_array_length(e->parsed)
                                        ? json_object_array_get_idx(e->parsed, e->n) : NULL;

        if (e->parsed && (e->n >= json_object_array_length(e->parsed) || !json_object_equal(element, expected)))
                e->differ = true;
        e->n++;
        return 0;
}

static void check_each(const char *buf, size_t size, json_object *parsed) {
        Elements e = { .parsed = parsed && json_object_is_type(parsed, json_type_array) ? parsed : NULL };
        int r = json_array_parse_each(buf, size, on_element, &e);

        if (e.parsed) {
                fuzz_check(r >= 0);
                fuzz_check(!e.differ && e.n == json_object_array_length(e.parsed));
                return;
        }
        if (parsed) {
                fuzz_check(r == -EMEDIUMTYPE);
                return;
        }
        fuzz_check(r >= 0 || r == -EBADMSG || r == -EMEDIUMTYPE || r == -ENOMEM);
        if (r >= 0) {
                /* json_parse() refused what this took: only its stricter UTF-8 may say so. */
                char *ascii = malloc(size ? size : 1);
                json_object *o = NULL;
                bool non_ascii = false;

                fuzz_check(ascii);
                for (size_t i = 0; i < size; i++) {
                        non_ascii = non_ascii || (uint8_t) buf[i] >= 0x80;
                        ascii[i] = (uint8_t) buf[i] >= 0x80 ? 'x' : buf[i];
                }
                fuzz_check(non_ascii);
                fuzz_check(json_parse(ascii, size, &o) >= 0);
                json_object_put(o);
                free(ascii);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const struct {
                char selector;
                parser_t parser;
        } parsers[] = {
                { 'a', fuzz_advertisement },
                { 'v', fuzz_remote_vm },
                { 'j', fuzz_job },
                { 's', fuzz_access },
                { 'e', fuzz_error },
        };
        json_object *o = NULL;
        bool picked = false;
        int r;

        if (size < 1 || size - 1 > INPUT_MAX)
                return 0;

        r = json_parse((const char *) data + 1, size - 1, &o);
        check_each((const char *) data + 1, size - 1, r >= 0 ? o : NULL);
        if (r < 0) {
                if (fuzz_verbose())
                        fprintf(stderr, "not JSON: %s\n", strerror(-r));
                fuzz_check(r == -EBADMSG || r == -ENOMEM);
                return 0;
        }
        fuzz_check(o);

        for (size_t i = 0; i < sizeof(parsers) / sizeof(parsers[0]); i++)
                if (data[0] == parsers[i].selector) {
                        run(parsers[i].parser, o);
                        picked = true;
                }
        if (!picked)
                for (size_t i = 0; i < sizeof(parsers) / sizeof(parsers[0]); i++)
                        run(parsers[i].parser, o);

        json_object_put(o);
        return 0;
}
