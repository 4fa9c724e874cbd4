/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "golemctl-http.h"
#include "golemctl-wire.h"
#include "json-util.h"
#include "parse-util.h"

static int bad(const char **ret_field, const char *field) {
        if (ret_field)
                *ret_field = field;
        return -EBADMSG;
}

static bool is_null(json_object *v) {
        return !v || json_object_is_type(v, json_type_null);
}

/* A string field into a fixed buffer; absent or null gives "" unless required. */
static int get_string(json_object *o, const char *key, bool required, size_t max,
                      char *buf, const char **ret_field) {
        json_object *v = NULL;
        const char *s;

        (void) json_object_object_get_ex(o, key, &v);
        if (is_null(v)) {
                if (required)
                        return bad(ret_field, key);
                buf[0] = 0;
                return 0;
        }
        if (json_get_string(v, max, &s) < 0)
                return bad(ret_field, key);
        memcpy(buf, s, strlen(s) + 1);
        return 0;
}

/* Free text (an error message, a stage): cut to size and made printable rather than refused,
 * since the provider passes on what multipass said, newlines included. */
static int get_text(json_object *o, const char *key, size_t max, char *buf, const char **ret_field) {
        _cleanup_free_ char *p = NULL;
        json_object *v = NULL;

        (void) json_object_object_get_ex(o, key, &v);
        if (is_null(v)) {
                buf[0] = 0;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return bad(ret_field, key);
        p = string_printable(json_object_get_string(v), max);
        if (!p)
                return -ENOMEM;
        memcpy(buf, p, strlen(p) + 1);
        return 0;
}

static int get_timestamp(json_object *o, const char *key, usec_t *ret, const char **ret_field) {
        json_object *v = NULL;
        const char *s;

        (void) json_object_object_get_ex(o, key, &v);
        if (is_null(v)) {
                *ret = 0;
                return 0;
        }
        if (json_get_string(v, 64, &s) < 0 || parse_rfc3339(s, ret) < 0)
                return bad(ret_field, key);
        return 0;
}

static int get_resources(json_object *o, const char *key, int64_t min, Resources *ret, const char **ret_field) {
        json_object *r;
        WireError e;

        if (!json_object_object_get_ex(o, key, &r) || !json_object_is_type(r, json_type_object))
                return bad(ret_field, key);
        if (resources_from_json(r, "resources.", min, NULL, ret, &e) < 0)
                return bad(ret_field, e.field);
        return 0;
}

void advertisement_write_json(JsonWriter *w, const Advertisement *a, const char *url) {
        char ts[RFC3339_MAX];

        json_writer_open(w, NULL, '{');
        json_writer_string(w, "provider_id", a->provider_id);
        json_writer_string(w, "ip_address", a->ip_address);
        json_writer_string(w, "url", url);
        json_writer_string(w, "country", a->country);
        json_writer_string(w, "platform", a->platform[0] ? a->platform : NULL);
        json_writer_open(w, "resources", '{');
        json_writer_int(w, "cpu", a->resources.cpu);
        json_writer_int(w, "memory", a->resources.memory);
        json_writer_int(w, "storage", a->resources.storage);
        json_writer_close(w, '}');
        json_writer_string(w, "updated_at", a->updated_at > 0 ? format_rfc3339(ts, a->updated_at) : NULL);
        json_writer_bool(w, "verified", a->verified);
        json_writer_close(w, '}');
}

json_object *advertisement_to_output_json(const Advertisement *a, const char *url) {
        _cleanup_free_ char *text = NULL;
        json_object *o = NULL;
        size_t size = 0;
        JsonWriter w;
        FILE *f;

        /* One definition of the shape: the writer's, parsed back. */
        f = open_memstream_unlocked(&text, &size);
        if (!f)
                return NULL;
        json_writer_init(&w, f, JSON_FORMAT_SHORT);
        advertisement_write_json(&w, a, url);
        if (fclose(f) != 0)
                return NULL;
        if (json_parse(text, size, &o) < 0)
                return NULL;
        return o;
}

static size_t skip_whitespace(const char *buf, size_t size, size_t i) {
        while (i < size && IN_SET(buf[i], ' ', '\t', '\n', '\r'))
                i++;
        return i;
}

int json_array_parse_each(const char *buf, size_t size, JsonElementFunc element, void *userdata) {
        json_tokener *tok;
        size_t i;
        int r = 0;

        if (size > INT32_MAX || memchr(buf, 0, size))
                return -EBADMSG;

        i = skip_whitespace(buf, size, 0);
        if (i >= size || buf[i] != '[') {
                _cleanup_json_ json_object *o = NULL;

                /* Not an array: tell JSON of another type from what is no JSON at all. */
                return json_parse(buf, size, &o) < 0 ? -EBADMSG : -EMEDIUMTYPE;
        }

        i = skip_whitespace(buf, size, i + 1);
        if (i < size && buf[i] == ']')
                return skip_whitespace(buf, size, i + 1) == size ? 0 : -EBADMSG;

        /* The array takes one level of nesting; each element gets the rest. */
        tok = json_tokener_new_ex(JSON_DEPTH_MAX - 1);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                    JSON_TOKENER_VALIDATE_UTF8);

        for (;;) {
                _cleanup_json_ json_object *o = NULL;

                o = json_tokener_parse_ex(tok, buf + i, (int) (size - i));
                if (json_tokener_get_error(tok) != json_tokener_success) {
                        /* Bad syntax, or the text ended inside the element (json_tokener_continue). */
                        r = -EBADMSG;
                        break;
                }
                i += json_tokener_get_parse_end(tok);
                json_tokener_reset(tok);

                r = element(o, userdata);
                if (r < 0)
                        break;

                i = skip_whitespace(buf, size, i);
                if (i < size && buf[i] == ',') {
                        i = skip_whitespace(buf, size, i + 1);
                        continue;
                }
                if (i < size && buf[i] == ']')
                        r = skip_whitespace(buf, size, i + 1) == size ? 0 : -EBADMSG;
                else
                        r = -EBADMSG;
                break;
        }

        json_tokener_free(tok);
        return r;
}

static bool status_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= VM_STATUS_MAX && string_in_charset(s, n, "abcdefghijklmnopqrstuvwxyz_-");
}

int remote_vm_from_json(json_object *o, RemoteVM *ret, const char **ret_field) {
        RemoteVM vm = {};
        json_object *v = NULL;
        char buf[IP_ADDRESS_MAX];
        int64_t port;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return bad(ret_field, "VM");

        r = get_string(o, "name", true, VM_NAME_MAX, vm.name, ret_field);
        if (r < 0)
                return r;
        if (!vm_name_valid(vm.name))
                return bad(ret_field, "name");

        r = get_string(o, "status", true, VM_STATUS_MAX, vm.status, ret_field);
        if (r < 0)
                return r;
        if (!status_valid(vm.status))
                return bad(ret_field, "status");

        r = get_resources(o, "resources", 1, &vm.resources, ret_field);
        if (r < 0)
                return r;

        r = get_string(o, "image", false, VM_IMAGE_MAX, vm.image, ret_field);
        if (r < 0)
                return r;
        if (vm.image[0] && !vm_image_valid(vm.image))
                return bad(ret_field, "image");

        r = get_string(o, "ip_address", false, IP_ADDRESS_MAX - 1, buf, ret_field);
        if (r < 0)
                return r;
        if (buf[0] && ip_address_canonicalize(buf, vm.ip_address) < 0)
                return bad(ret_field, "ip_address");

        (void) json_object_object_get_ex(o, "ssh_port", &v);
        if (!is_null(v)) {
                if (json_get_int(v, 0, 65535, &port) < 0)
                        return bad(ret_field, "ssh_port");
                vm.ssh_port = (uint16_t) port;
        }

        r = get_timestamp(o, "created_at", &vm.created_at, ret_field);
        if (r < 0)
                return r;

        r = get_text(o, "error_message", WIRE_MESSAGE_MAX, vm.error_message, ret_field);
        if (r < 0)
                return r;

        *ret = vm;
        return 0;
}

int job_from_json(json_object *o, Job *ret, const char **ret_field) {
        Job j = { .progress = -1 };
        char buf[VM_STATUS_MAX + 1];
        json_object *v = NULL;
        int64_t p;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return bad(ret_field, "job");

        r = get_string(o, "job_id", true, JOB_ID_MAX, j.job_id, ret_field);
        if (r < 0)
                return r;
        if (!token_valid(j.job_id, JOB_ID_MAX, "-_"))
                return bad(ret_field, "job_id");

        r = get_string(o, "vm_id", true, VM_NAME_MAX, j.vm_id, ret_field);
        if (r < 0)
                return r;
        if (!vm_name_valid(j.vm_id))
                return bad(ret_field, "vm_id");

        r = get_string(o, "status", true, VM_STATUS_MAX, buf, ret_field);
        if (r < 0)
                return r;
        j.status = job_status_from_string(buf);
        if (j.status < 0)
                return bad(ret_field, "status");

        (void) json_object_object_get_ex(o, "progress", &v);
        if (!is_null(v)) {
                double d;

                /* An integer percentage; tolerate a number with a fraction. */
                if (json_get_int(v, 0, 100, &p) >= 0)
                        j.progress = (int) p;
                else if (json_get_number(v, &d) >= 0 && d >= 0 && d <= 100)
                        j.progress = (int) d;
                else
                        return bad(ret_field, "progress");
        }

        r = get_text(o, "stage", STAGE_MAX, j.stage, ret_field);
        if (r < 0)
                return r;
        r = get_text(o, "error", WIRE_MESSAGE_MAX, j.error, ret_field);
        if (r < 0)
                return r;

        *ret = j;
        return 0;
}

bool hostname_valid(const char *s) {
        size_t n, label = 0;

        if (isempty(s))
                return false;
        n = strlen(s);
        if (n > SSH_HOST_MAX || s[0] == '-' || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                        continue;
                }
                if (!string_in_charset(s + i, 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"))
                        return false;
                if (++label > 63)
                        return false;
        }
        return true;
}

int access_from_json(json_object *o, Access *ret, const char **ret_field) {
        char ip[IP_ADDRESS_MAX];
        Access a = {};
        json_object *v;
        int64_t port;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return bad(ret_field, "access");

        r = get_string(o, "ssh_host", true, SSH_HOST_MAX, a.ssh_host, ret_field);
        if (r < 0)
                return r;
        if (ip_address_canonicalize(a.ssh_host, ip) >= 0)
                memcpy(a.ssh_host, ip, sizeof(ip));
        else if (!hostname_valid(a.ssh_host))
                return bad(ret_field, "ssh_host");

        if (!json_object_object_get_ex(o, "ssh_port", &v) || json_get_int(v, 1, 65535, &port) < 0)
                return bad(ret_field, "ssh_port");
        a.ssh_port = (uint16_t) port;

        *ret = a;
        return 0;
}
