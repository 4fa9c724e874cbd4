/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <unistd.h>

#include "golemctl-config.h"
#include "golemctl-provider-api.h"
#include "golemctl-ssh.h"
#include "golemctl-vm-ssh.h"
#include "golemctl-vm.h"

int verb_vm_ssh(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_free_ char *known_hosts = NULL, *dir = NULL;
        _cleanup_free_ char *key = NULL, *key_public = NULL;
        _cleanup_strv_free_ char **ssh_argv = NULL;
        _cleanup_(local_vm_done) LocalVM l = {};
        _cleanup_(http_call_done) HttpCall vm_call = {}, access_call = {};
        const char *user = c->user ?: SSH_DEFAULT_USER, *field = NULL;
        RemoteVM vm = {};
        Access access = {};
        ProviderRef p;
        int r;

        if (!ssh_user_valid(user))
                return ctl_usage("Invalid user name '%s'.", user);

        r = vm_lookup_provider(c, argv[1], &l, &p);
        if (r < 0)
                return r;

        /* The VM's state (to say something better than "connection refused" when it is not
         * running) and where to connect, at once. */
        r = provider_api_get_with_access(&p, l.name, &vm_call, &access_call);
        if (r < 0)
                return r;

        if (access_call.result >= 0 && access_call.status == 404)
                return ctl_error(-ENOENT, "Provider %s does not know VM %s; 'golemctl vm destroy %s' forgets it.",
                                 l.provider_id, l.name, l.name);
        if (!http_call_ok(&access_call, 200))
                return provider_call_failed(&access_call, l.provider_id, l.provider_url);
        r = access_from_json(access_call.json, &access, &field);
        if (r < 0)
                return ctl_error(r, "Provider %s sent invalid access data for VM %s (field %s).",
                                 l.provider_id, l.name, strempty(field));
        vm_record_access(c, &l, &access);
        if (http_call_ok(&vm_call, 200) && remote_vm_from_json(vm_call.json, &vm, NULL) >= 0 &&
            !streq(vm.status, "running")) {
                if (streq(vm.status, "stopped"))
                        return ctl_error(-ENOTCONN, "VM %s is stopped; start it with 'golemctl vm start %s'.",
                                         l.name, l.name);
                return ctl_error(-ENOTCONN, "VM %s is %s, not running.", l.name, vm.status);
        }

        if (c->ssh_key) {
                r = ssh_key_resolve(c->ssh_key, c->paths.home, c->paths.data_dir, false, &key, &key_public);
                if (r < 0)
                        return ctl_error(r, "SSH key %s: %s", c->ssh_key,
                                         r == -ENOENT ? "no such key (its .pub is needed)" :
                                         r == -EBADMSG ? "the .pub file is not an OpenSSH public key" : strerror(-r));
        }

        r = ssh_known_hosts_path(c->paths.state_dir, l.provider_id, l.name, &known_hosts);
        if (r < 0)
                return ctl_error(r, "Cannot name the known-hosts file of VM %s: %m", l.name);
        if (asprintf(&dir, "%s/known_hosts", c->paths.state_dir) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        r = mkdir_parents(dir, 0700);
        if (r < 0)
                return ctl_error(r, "Cannot create %s: %m", dir);

        r = ssh_argv_build(&(SshTarget) {
                        .user = user,
                        .host = access.ssh_host,
                        .port = access.ssh_port,
                        .identity = key ?: l.ssh_key_path,
                        .known_hosts = known_hosts,
                        .command = argc > 2 ? argv + 2 : NULL,
                }, &ssh_argv);
        if (r < 0)
                return ctl_error(r, "Cannot build the ssh command line: %m");

        fflush(stdout);
        fflush(stderr);
        execvp(ssh_argv[0], ssh_argv);
        return ctl_error(-errno, "Cannot run ssh: %m");
}
