/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "golemctl-http.h"
#include "golemctl-provider-api.h"
#include "golemctl-ssh.h"
#include "golemctl-vm-key.h"
#include "golemctl-vm.h"
#include "json-util.h"
#include "ssh-key.h"

#define FINGERPRINT_MAX 128

/* The name a key gets without --name: its comment ("user@host"), else its file's name. */
static const char *default_key_name(const char *line, const char *path, char *buf, size_t size) {
        const char *comment = strchr(line, ' '), *base = strrchr(path, '/');

        comment = comment ? strchr(comment + 1, ' ') : NULL;
        if (comment && ssh_key_name_valid(comment + 1))
                return comment + 1;
        snprintf(buf, size, "%s", base ? base + 1 : path);
        return ssh_key_name_valid(buf) ? buf : NULL;
}

/* A 404 about the VM (it is gone) or about something else (printed here, as r). */
static bool vm_gone(const HttpCall *call) {
        return call->result >= 0 && call->status == 404 && streq_ptr(call->error_code, "VM_NOT_FOUND");
}

int verb_vm_key_add(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(local_vm_done) LocalVM l = {};
        _cleanup_(http_call_done) HttpCall call = {};
        _cleanup_free_ char *private = NULL, *public = NULL;
        const char *path = argc > 2 ? argv[2] : c->settings.ssh_key_path, *name;
        char fp[FINGERPRINT_MAX], buf[SSH_KEY_NAME_MAX + 1];
        ProviderRef p;
        int r;

        r = ssh_key_resolve(path, c->paths.home, c->paths.data_dir, false, &private, &public);
        if (r == -ENOENT && path && ssh_private_key_file(path))
                return ctl_error(-ENOKEY, "SSH key %s is a private key, and there is no %s.pub beside it; "
                                 "golemctl sends only public keys: give the .pub (ssh-keygen -y -f %s > %s.pub "
                                 "makes it).", path, path, path, path);
        if (r == -ENOENT)
                return ctl_error(r, "SSH key %s: no such key (a .pub file is needed).", path ?: "(default)");
        if (r == -EBADMSG)
                return ctl_error(r, "SSH key %s: the .pub file is not an OpenSSH public key.", path ?: "(default)");
        if (r < 0)
                return ctl_error(r, "Cannot read SSH key %s: %m", path ?: "(default)");
        r = ssh_key_line_fingerprint(public, fp);
        if (r < 0)
                snprintf(fp, sizeof(fp), "a key of a type golemctl does not sign with");

        name = c->key_name ?: default_key_name(public, private, buf, sizeof(buf));
        if (!name)
                return ctl_usage("The key %s.pub has no usable name; give it one with --name.", private);

        r = vm_lookup_provider(c, argv[1], &l, &p);
        if (r < 0)
                return r;
        r = provider_api_key_add(&p, l.name, public, name, &call);
        if (r < 0)
                return r;
        if (vm_gone(&call))
                return vm_gone_error(c, &l);
        if (call.result < 0 || !IN_SET(call.status, 200, 201))
                return provider_call_failed(&call, l.provider_id, l.provider_url);

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = json_object_new_object();

                if (!o ||
                    json_object_object_add(o, "vm", json_object_new_string(l.name)) < 0 ||
                    json_object_object_add(o, "name", json_object_new_string(name)) < 0 ||
                    json_object_object_add(o, "fingerprint", json_object_new_string(fp)) < 0 ||
                    json_object_object_add(o, "path", json_object_new_string(private)) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
                return ctl_show_json(c, o);
        }
        ctl_info(c, "Added SSH key %s (%s) to VM %s.", name, fp, l.name);
        return 0;
}

typedef struct KeyEntry {
        char *name;             /* printable */
        char *fingerprint;      /* printable; NULL when not given */
} KeyEntry;

static void key_entries_free(KeyEntry *k, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(k[i].name);
                free(k[i].fingerprint);
        }
        free(k);
}

/* The keys of a list answer: an array of {"name","fingerprint"}, or an object with one under
 * "keys". -EBADMSG for anything else. */
static int key_entries_from_json(json_object *o, KeyEntry **ret, size_t *ret_n) {
        json_object *array = o, *v;
        KeyEntry *k;
        size_t n;

        if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "keys", &v))
                array = v;
        if (!json_object_is_type(array, json_type_array))
                return -EBADMSG;

        n = json_object_array_length(array);
        k = calloc(MAX(n, (size_t) 1), sizeof(KeyEntry));
        if (!k)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(array, i);
                const char *s;

                if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "name", &v) ||
                    json_get_string(v, SSH_KEY_NAME_MAX * 4, &s) < 0) {
                        key_entries_free(k, n);
                        return -EBADMSG;
                }
                k[i].name = string_printable(s, SSH_KEY_NAME_MAX * 4);
                if (json_object_object_get_ex(e, "fingerprint", &v) && json_get_string(v, FINGERPRINT_MAX, &s) >= 0)
                        k[i].fingerprint = string_printable(s, FINGERPRINT_MAX);
                if (!k[i].name) {
                        key_entries_free(k, n);
                        return -ENOMEM;
                }
        }
        *ret = k;
        *ret_n = n;
        return 0;
}

static int show_keys(const Context *c, const KeyEntry *k, size_t n) {
        _cleanup_table_ Table *t = NULL;
        _cleanup_free_ char *legend = NULL;
        int r;

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *array = json_object_new_array();

                if (!array)
                        return ctl_error(-ENOMEM, "Out of memory.");
                for (size_t i = 0; i < n; i++) {
                        json_object *o = json_object_new_object();

                        if (!o || json_object_array_add(array, o) < 0) {
                                json_object_put(o);
                                return ctl_error(-ENOMEM, "Out of memory.");
                        }
                        if (json_object_object_add(o, "name", json_object_new_string(k[i].name)) < 0 ||
                            json_object_object_add(o, "fingerprint", json_string_or_null(k[i].fingerprint)) < 0)
                                return ctl_error(-ENOMEM, "Out of memory.");
                }
                return ctl_show_json(c, array);
        }

        r = table_new((const char *const[]) { "NAME", "FINGERPRINT" }, 2, &t);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        for (size_t i = 0; i < n; i++)
                if ((r = table_add_cell(t, k[i].name, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, k[i].fingerprint, TABLE_COLOR_DEFAULT)) < 0)
                        return ctl_error(r, "Out of memory.");
        if (asprintf(&legend, "%zu key%s listed.", n, n == 1 ? "" : "s") < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        return ctl_show_table(c, t, legend);
}

int verb_vm_key_list(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(local_vm_done) LocalVM l = {};
        _cleanup_(http_call_done) HttpCall call = {};
        KeyEntry *keys = NULL;
        ProviderRef p;
        size_t n = 0;
        int r;

        r = vm_lookup_provider(c, argv[1], &l, &p);
        if (r < 0)
                return r;
        r = provider_api_key_list(&p, l.name, &call);
        if (r < 0)
                return r;
        if (vm_gone(&call))
                return vm_gone_error(c, &l);
        if (!http_call_ok(&call, 200))
                return provider_call_failed(&call, l.provider_id, l.provider_url);
        r = key_entries_from_json(call.json, &keys, &n);
        if (r == -ENOMEM)
                return ctl_error(r, "Out of memory.");
        if (r < 0)
                return ctl_error(r, "Provider %s sent an invalid list of SSH keys for VM %s.", l.provider_id, l.name);

        r = show_keys(c, keys, n);
        key_entries_free(keys, n);
        return r;
}

int verb_vm_key_remove(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(local_vm_done) LocalVM l = {};
        _cleanup_(http_call_done) HttpCall call = {};
        const char *key_name = argv[2];
        ProviderRef p;
        int r;

        if (!ssh_key_name_valid(key_name))
                return ctl_usage("Invalid key name '%s': 1-64 of A-Z, a-z, 0-9, '.', '_', '@' and '-', "
                                 "starting with a letter or digit.", key_name);

        r = vm_lookup_provider(c, argv[1], &l, &p);
        if (r < 0)
                return r;
        r = provider_api_key_remove(&p, l.name, key_name, &call);
        if (r < 0)
                return r;
        if (vm_gone(&call))
                return vm_gone_error(c, &l);
        if (call.result >= 0 && call.status == 404)
                return ctl_error(-ENOENT, "VM %s has no SSH key named %s (see 'golemctl vm ssh-key list %s').",
                                 l.name, key_name, l.name);
        if (call.result < 0 || !IN_SET(call.status, 200, 204))
                return provider_call_failed(&call, l.provider_id, l.provider_url);

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = json_object_new_object();

                if (!o ||
                    json_object_object_add(o, "vm", json_object_new_string(l.name)) < 0 ||
                    json_object_object_add(o, "name", json_object_new_string(key_name)) < 0 ||
                    json_object_object_add(o, "status", json_object_new_string("removed")) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
                return ctl_show_json(c, o);
        }
        ctl_info(c, "Removed SSH key %s from VM %s.", key_name, l.name);
        return 0;
}
