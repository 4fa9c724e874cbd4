/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "golemctl-identity.h"
#include "golemctl-ssh.h"
#include "json-util.h"

int signer_load_error(int r, const char *path) {
        switch (r) {
        case -ENOKEY:
                return ctl_error(r, "%s is protected by a passphrase; add it to the agent: ssh-add %s", path, path);
        case -ENOENT:
                return ctl_error(r, "%s: no private key, and no ssh-agent holds it; add it to the agent "
                                 "(ssh-add %s) or set SSHKeyPath= to a key of yours.", path, path);
        case -EPROTONOSUPPORT:
                return ctl_error(r, "%s is of a type golemctl cannot sign with; use an ed25519, ecdsa or rsa "
                                 "(2048 bits or more) key: set SSHKeyPath=.", path);
        case -EBADMSG:
                return ctl_error(r, "%s is not a private key in OpenSSH's format; convert it with "
                                 "ssh-keygen -p -f %s, or add it to the agent: ssh-add %s", path, path, path);
        case -EKEYREJECTED:
                return ctl_error(r, "%s.pub is not the public key of %s; make it again: ssh-keygen -y -f %s > %s.pub",
                                 path, path, path, path);
        default:
                return ctl_error(r, "Cannot read the SSH key %s to sign with: %m", path);
        }
}

int signer_sign_error(int r, const Signer *s) {
        if (signer_source(s) == SIGNER_AGENT && r == -EPERM)
                return ctl_error(r, "ssh-agent refused to sign with %s (removed from it, or not confirmed); "
                                 "add it again: ssh-add %s", signer_path(s), signer_path(s));
        if (signer_source(s) == SIGNER_AGENT)
                return ctl_error(r, "Cannot sign with %s through ssh-agent: %m", signer_path(s));
        return ctl_error(r, "Cannot sign the request with %s: %m", signer_path(s));
}

int context_signer(Context *c, Signer **ret) {
        _cleanup_free_ char *private = NULL, *public = NULL;
        const char *configured = c->settings.ssh_key_path;
        int r;

        if (!c->signer) {
                r = ssh_key_resolve(configured, c->paths.home, c->paths.data_dir, true, &private, &public);
                if (r == -ENOENT && configured)
                        return ctl_error(r, "SSH key %s (SSHKeyPath=): no such key (its .pub is needed).", configured);
                if (r == -EBADMSG)
                        return ctl_error(r, "SSH key %s: the .pub file is not an OpenSSH public key.",
                                         configured ?: "(default)");
                if (r < 0)
                        return ctl_error(r, "Cannot get an SSH key to sign with: %m");
                if (r > 0)
                        ctl_key_generated(c, private);

                r = signer_load(private, NULL, &c->signer);
                if (r < 0)
                        return signer_load_error(r, private);
        }
        *ret = c->signer;
        return 0;
}

int verb_id(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        Signer *s = NULL;
        int r;

        r = context_signer(c, &s);
        if (r < 0)
                return r;

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = json_object_new_object();

                if (!o ||
                    json_object_object_add(o, "identity", json_object_new_string(signer_identity(s))) < 0 ||
                    json_object_object_add(o, "key", json_object_new_string(signer_path(s))) < 0 ||
                    json_object_object_add(o, "source", json_object_new_string(signer_source_to_string(signer_source(s)))) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
                return ctl_show_json(c, o);
        }
        printf("%s\n", signer_identity(s));
        return 0;
}
