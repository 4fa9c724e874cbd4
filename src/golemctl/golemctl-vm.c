/* SPDX-License-Identifier: MIT */
#include "golemctl-identity.h"
#include "golemctl-vm.h"
#include "json-util.h"
#include "validate.h"

int vm_lookup(Context *c, const char *name, LocalVM *ret) {
        sqlite3 *db;
        int r;

        if (!vm_name_valid(name))
                return ctl_usage("Invalid VM name '%s': 3-63 characters of a-z, 0-9 and '-', "
                                 "starting and ending with a letter or digit.", name);
        r = context_open_state(c, &db);
        if (r < 0)
                return r;
        r = state_get(db, name, ret);
        if (r == -ENOENT)
                return ctl_error(r, "No VM named %s (see 'golemctl vm list').", name);
        if (r < 0)
                return ctl_error(r, "Cannot read the record of VM %s: %m", name);
        return 0;
}

int vm_lookup_provider(Context *c, const char *name, LocalVM *ret, ProviderRef *ret_provider) {
        Signer *signer;
        int r;

        r = vm_lookup(c, name, ret);
        if (r < 0)
                return r;
        r = context_signer(c, &signer);
        if (r < 0) {
                local_vm_done(ret);
                return r;
        }
        *ret_provider = (ProviderRef) { ret->provider_id, ret->provider_url, signer };
        return 0;
}

TableColor vm_status_color(const char *status) {
        static const struct {
                const char *status;
                TableColor color;
        } table[] = {
                { "running", TABLE_COLOR_GREEN },
                { "creating", TABLE_COLOR_YELLOW },
                { "starting", TABLE_COLOR_YELLOW },
                { "stopping", TABLE_COLOR_YELLOW },
                { "deleting", TABLE_COLOR_YELLOW },
                { "error", TABLE_COLOR_RED },
                { "unreachable", TABLE_COLOR_RED },
                { "missing", TABLE_COLOR_RED },
                { "unknown", TABLE_COLOR_RED },
        };

        for (size_t i = 0; status && i < ELEMENTSOF(table); i++)
                if (streq(table[i].status, status))
                        return table[i].color;
        return TABLE_COLOR_DEFAULT;
}

json_object *vm_to_json(const LocalVM *l, const RemoteVM *r, const char *problem, const Access *a) {
        _cleanup_json_ json_object *o = json_object_new_object();
        char ts[RFC3339_MAX];
        /* Neither: the provider was not asked (vm list --local). */
        const char *status = problem ?: r ? r->status : NULL;
        bool asked = problem || r;
        uint16_t port = r && r->ssh_port > 0 ? r->ssh_port : a ? a->ssh_port : l->ssh_port;

        if (!o ||
            json_object_object_add(o, "name", json_object_new_string(l->name)) < 0 ||
            json_object_object_add(o, "status", json_string_or_null(status)) < 0 ||
            json_object_object_add(o, "reachable",
                                   asked ? json_object_new_boolean(!problem || !streq(problem, "unreachable")) : NULL) < 0 ||
            json_object_object_add(o, "provider_id", json_object_new_string(l->provider_id)) < 0 ||
            json_object_object_add(o, "provider_url", json_object_new_string(l->provider_url)) < 0 ||
            json_object_object_add(o, "resources", resources_to_json(r ? &r->resources : &l->resources)) < 0 ||
            json_object_object_add(o, "image", json_string_or_null(r && r->image[0] ? r->image : l->image)) < 0 ||
            json_object_object_add(o, "ip_address", json_string_or_null(r && r->ip_address[0] ? r->ip_address : NULL)) < 0 ||
            json_object_object_add(o, "ssh_host", json_string_or_null(a ? a->ssh_host : l->ssh_host)) < 0 ||
            json_object_object_add(o, "ssh_port", port > 0 ? json_object_new_int(port) : NULL) < 0 ||
            json_object_object_add(o, "ssh_key", json_object_new_string(l->ssh_key_path)) < 0 ||
            json_object_object_add(o, "job_id", json_string_or_null(l->job_id)) < 0 ||
            json_object_object_add(o, "created_at",
                                   json_string_or_null(l->created_at > 0 ? format_rfc3339(ts, l->created_at) : NULL)) < 0 ||
            json_object_object_add(o, "error_message",
                                   json_string_or_null(r && r->error_message[0] ? r->error_message : NULL)) < 0 ||
            json_object_object_add(o, "local_state", json_object_new_string(local_vm_state_to_string(l->state))) < 0)
                return NULL;
        return TAKE_PTR(o);
}

void vm_record_refresh(Context *c, LocalVM *l, const RemoteVM *r) {
        sqlite3 *db;

        if (context_open_state(c, &db) < 0)
                return;
        if (l->state == LOCAL_VM_CREATING && state_set_created(db, l->name, l->job_id) >= 0)
                l->state = LOCAL_VM_CREATED;
        if (r && r->ssh_port > 0 && r->ssh_port != l->ssh_port && state_set_ssh_port(db, l->name, r->ssh_port) >= 0)
                l->ssh_port = r->ssh_port;
}

void vm_record_access(Context *c, LocalVM *l, const Access *a) {
        _cleanup_free_ char *host = NULL;
        sqlite3 *db;

        if (streq_ptr(l->ssh_host, a->ssh_host) || context_open_state(c, &db) < 0)
                return;
        host = strdup(a->ssh_host);
        if (host && state_set_ssh_host(db, l->name, host) >= 0) {
                free(l->ssh_host);
                l->ssh_host = TAKE_PTR(host);
        }
}

const char *vm_created_by_other_key(Context *c, const LocalVM *l) {
        Signer *signer;

        if (!l->identity || context_signer(c, &signer) < 0 || streq(signer_identity(signer), l->identity))
                return NULL;
        return signer_identity(signer);
}

int vm_gone_error(Context *c, const LocalVM *l) {
        const char *now = vm_created_by_other_key(c, l);

        /* A provider shows a VM to its owner only: with another key it is "not found". */
        if (now)
                return ctl_error(-ENOENT, "Provider %s shows no VM %s to the key golemctl signs with now (%s); "
                                 "it was created with key %s. Sign with that key again (SSHKeyPath= or ssh-add), "
                                 "or forget the VM with 'golemctl vm destroy %s --force'.",
                                 l->provider_id, l->name, now, l->identity, l->name);
        return ctl_error(-ENOENT, "Provider %s does not know VM %s (destroyed elsewhere, or never created); "
                         "'golemctl vm destroy %s' forgets it.", l->provider_id, l->name, l->name);
}
