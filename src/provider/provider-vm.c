/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "json-util.h"
#include "parse-util.h"
#include "provider-vm.h"

const char *const vm_state_table[_VM_STATE_MAX] = {
        [VM_CREATING] = "creating",
        [VM_RUNNING] = "running",
        [VM_STOPPING] = "stopping",
        [VM_STOPPED] = "stopped",
        [VM_STARTING] = "starting",
        [VM_DELETING] = "deleting",
        [VM_ERROR] = "error",
};

DEFINE_STRING_TABLE_LOOKUP(vm_state, VMState);

void vm_record_done(VMRecord *r) {
        free(r->ssh_key);
        free(r->error_message);
        free(r->owner);
        r->ssh_key = r->error_message = r->owner = NULL;
}

static int field_error(char buf[static FIELD_ERROR_MAX], const char *format, ...) _printf_(2, 3);
static int field_error(char buf[static FIELD_ERROR_MAX], const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, FIELD_ERROR_MAX, format, ap);
        va_end(ap);
        return -EINVAL;
}

/* Each within what a VM may have: VM_CPU_MAX, VM_MEMORY_MAX, VM_STORAGE_MAX. */
static int parse_resources(json_object *o, const char *prefix, Resources *ret, char buf[static FIELD_ERROR_MAX]) {
        static const Resources max = { VM_CPU_MAX, VM_MEMORY_MAX, VM_STORAGE_MAX };
        WireError e;

        if (resources_from_json(o, prefix, 1, &max, ret, &e) < 0)
                return field_error(buf, "%s", e.message);
        return 0;
}

int vm_create_request_from_json(json_object *body, VMCreateRequest *ret, char buf[static FIELD_ERROR_MAX]) {
        VMCreateRequest t = {};
        json_object *v;
        const char *s;
        int r;

        if (!json_object_is_type(body, json_type_object))
                return field_error(buf, "body: must be a JSON object");

        if (!json_object_object_get_ex(body, "name", &v))
                return field_error(buf, "name: field required");
        if (json_get_string(v, VM_NAME_MAX, &s) < 0 || !vm_name_valid(s))
                return field_error(buf, "name: must be 3-63 of a-z, 0-9 and '-', starting and ending with a letter or digit");
        if (vm_name_reserved(s))
                return field_error(buf, "name: 'jobs' is reserved (/api/v1/vms/jobs/ is the jobs' path)");
        strcpy(t.name, s);

        /* Precedence: resources, then the flat fields, then size. */
        if (json_object_object_get_ex(body, "resources", &v) && !json_object_is_type(v, json_type_null)) {
                if (!json_object_is_type(v, json_type_object))
                        return field_error(buf, "resources: must be an object");
                r = parse_resources(v, "resources.", &t.resources, buf);
                if (r < 0)
                        return r;
        } else if (json_object_object_get_ex(body, "cpu", NULL) ||
                   json_object_object_get_ex(body, "memory", NULL) ||
                   json_object_object_get_ex(body, "storage", NULL)) {
                r = parse_resources(body, "", &t.resources, buf);
                if (r < 0)
                        return r;
        } else if (json_object_object_get_ex(body, "size", &v) && !json_object_is_type(v, json_type_null)) {
                VMSize size;

                if (json_get_string(v, 16, &s) < 0 || (size = vm_size_from_string(s)) < 0)
                        return field_error(buf, "size: must be one of small, medium, large, xlarge");
                t.resources = vm_size_resources(size);
        } else
                return field_error(buf, "resources: field required (or cpu, memory and storage, or size)");

        if (json_object_object_get_ex(body, "image", &v) && !json_object_is_type(v, json_type_null)) {
                if (json_get_string(v, VM_IMAGE_MAX, &s) < 0 || !vm_image_valid(s))
                        return field_error(buf, "image: must be 1-128 of A-Z, a-z, 0-9, ':', '.', '_', '-', starting with a letter or digit");
                strcpy(t.image, s);
        }

        /* Optional: the requestor guide adds its key after the create. A private key is
         * refused without a word of it in the answer. */
        if (json_object_object_get_ex(body, "ssh_key", &v)) {
                if (json_object_is_type(v, json_type_string) && ssh_private_key_like(json_object_get_string(v)))
                        return field_error(buf, "ssh_key: this is a private key; send the public key (the .pub file) instead");
                if (json_get_string(v, SSH_KEY_MAX, &s) < 0 || !ssh_public_key_valid(s))
                        return field_error(buf, "ssh_key: must be one OpenSSH public key line (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*)");
                strcpy(t.ssh_key, s);
        }

        *ret = t;
        return 0;
}

int vm_record_to_json(const VMRecord *r, json_object **ret) {
        _cleanup_json_ json_object *o = NULL, *res = NULL;
        char created[RFC3339_MAX], updated[RFC3339_MAX];

        o = json_object_new_object();
        res = resources_to_json(&r->resources);
        if (!o || !res)
                return -ENOMEM;

        if (json_object_object_add(o, "id", json_object_new_string(r->name)) < 0 ||
            json_object_object_add(o, "name", json_object_new_string(r->name)) < 0 ||
            json_object_object_add(o, "status", json_object_new_string(vm_state_to_string(r->state))) < 0 ||
            json_object_object_add(o, "resources", TAKE_PTR(res)) < 0 ||
            json_object_object_add(o, "image", json_object_new_string(r->image)) < 0 ||
            json_object_object_add(o, "ip_address", json_string_or_null(r->ip_address[0] ? r->ip_address : NULL)) < 0 ||
            json_object_object_add(o, "ssh_port", r->ssh_port ? json_object_new_int(r->ssh_port) : NULL) < 0 ||
            json_object_object_add(o, "created_at", json_object_new_string(format_rfc3339(created, r->created_at))) < 0 ||
            json_object_object_add(o, "updated_at", json_object_new_string(format_rfc3339(updated, r->updated_at))) < 0 ||
            json_object_object_add(o, "error_message", json_string_or_null(r->error_message)) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(o);
        return 0;
}
