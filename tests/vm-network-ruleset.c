/* SPDX-License-Identifier: MIT */
/* Prints the VMs' nftables ruleset (vm_network_ruleset()) for the given settings, so that
 * test-vm-network.sh can load what the provider would load.
 *
 *   vm-network-ruleset [--group=G] [--denied=LIST] [--allowed=LIST] [--nameservers=LIST] [--bridge=IF] */

#include <getopt.h>
#include <stdio.h>

#include "macro.h"
#include "provider-vm-network.h"

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "group", required_argument, NULL, 'g' },
                { "denied", required_argument, NULL, 'd' },
                { "allowed", required_argument, NULL, 'a' },
                { "nameservers", required_argument, NULL, 'n' },
                { "bridge", required_argument, NULL, 'b' },
                {}
        };
        _cleanup_free_ char *text = NULL;
        VMNetworkParams p = { .denied = VM_NETWORK_DENIED_DEFAULT };
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'g': p.group = optarg; break;
                case 'd': p.denied = optarg; break;
                case 'a': p.allowed = optarg; break;
                case 'n': p.nameservers = optarg; break;
                case 'b': p.bridge = optarg; break;
                default: return 2;
                }
        r = vm_network_ruleset(&p, &text);
        if (r < 0) {
                fprintf(stderr, "vm_network_ruleset: %s\n", strerror(-r));
                return 1;
        }
        fputs(text, stdout);
        return 0;
}
