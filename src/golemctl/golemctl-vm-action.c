/* SPDX-License-Identifier: MIT */
#include "golemctl-identity.h"
#include "golemctl-provider-api.h"
#include "golemctl-ssh.h"
#include "golemctl-vm-action.h"
#include "golemctl-vm.h"
#include "json-util.h"

/* vm start, vm stop and vm destroy: one request each, answered once the provider is done. */

static int vm_action(Context *c, const char *name, const char *action) {
        _cleanup_(local_vm_done) LocalVM l = {};
        _cleanup_(http_call_done) HttpCall call = {};
        ProviderRef p;
        RemoteVM vm = {};
        int r;

        r = vm_lookup_provider(c, name, &l, &p);
        if (r < 0)
                return r;

        r = provider_api_action(&p, l.name, action, &call);
        if (r < 0)
                return r;
        r = provider_answer_vm(&call, &l, &vm);
        if (r == -ENOENT)
                return vm_gone_error(c, &l);
        if (r < 0)
                return r;
        vm_record_refresh(c, &l, &vm);

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = vm_to_json(&l, &vm, NULL, NULL);

                return o ? ctl_show_json(c, o) : ctl_error(-ENOMEM, "Out of memory.");
        }
        return 0;
}

int verb_vm_start(int argc, char *argv[], void *userdata) {
        return vm_action(userdata, argv[1], "start");
}

int verb_vm_stop(int argc, char *argv[], void *userdata) {
        return vm_action(userdata, argv[1], "stop");
}

static int forget(Context *c, const LocalVM *l) {
        sqlite3 *db;
        int r;

        r = context_open_state(c, &db);
        if (r < 0)
                return r;
        r = state_remove(db, l->name);
        if (r < 0 && r != -ENOENT)
                return ctl_error(r, "Cannot remove the record of VM %s: %m", l->name);
        ssh_known_hosts_forget(c->paths.state_dir, l->provider_id, l->name);
        return 0;
}

int verb_vm_destroy(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(local_vm_done) LocalVM l = {};
        _cleanup_(http_call_done) HttpCall call = {};
        const char *outcome = "deleted";
        Signer *signer;
        ProviderRef p;
        int r;

        r = vm_lookup(c, argv[1], &l);
        if (r < 0)
                return r;
        r = context_signer(c, &signer);
        if (r < 0 && !c->force)
                return r;
        if (r >= 0) {
                p = (ProviderRef) { l.provider_id, l.provider_url, signer };
                r = provider_api_delete(&p, l.name, &call);
                if (r < 0 && !c->force)
                        return r;
        }

        if (r < 0) {
                /* No signature, no request: only the record can go. */
                ctl_warning("Forgetting VM %s without deleting it on provider %s (--force).", l.name, l.provider_id);
                outcome = "forgotten";
        } else if (call.result >= 0 && call.status == 404 && vm_created_by_other_key(c, &l) && !c->force) {
                /* Not gone, perhaps: only not shown to this key. The record stays. */
                return vm_gone_error(c, &l);
        } else if (call.result >= 0 && call.status == 404) {
                ctl_info(c, "Provider %s did not know VM %s any more; forgetting it.", l.provider_id, l.name);
                outcome = "missing";
        } else if (call.result >= 0 && call.status == 200) {
                /* {"status":"deleted","vm_id"}: nothing in it is needed. */
        } else if (c->force) {
                char reason[HTTP_REASON_MAX];

                ctl_warning("Provider %s did not delete VM %s (%s); forgetting it anyway (--force).",
                            l.provider_id, l.name, http_call_reason(&call, reason, sizeof(reason)));
                outcome = "forgotten";
        } else {
                r = provider_call_failed(&call, l.provider_id, l.provider_url);
                if (call.result < 0)
                        ctl_info(c, "Use --force to forget VM %s without the provider.", l.name);
                return r;
        }

        r = forget(c, &l);
        if (r < 0)
                return r;

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = json_object_new_object();

                if (!o ||
                    json_object_object_add(o, "name", json_object_new_string(l.name)) < 0 ||
                    json_object_object_add(o, "provider_id", json_object_new_string(l.provider_id)) < 0 ||
                    json_object_object_add(o, "status", json_object_new_string(outcome)) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
                return ctl_show_json(c, o);
        }
        return 0;
}
