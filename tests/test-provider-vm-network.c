/* SPDX-License-Identifier: MIT */
/* The VMs' network filter: CIDR entries and lists as VMDeniedNetworks= takes them, the
 * nameservers of a resolv.conf, and the nftables ruleset made from them (test-vm-network.sh
 * loads it for real). */

#include <arpa/inet.h>
#include <stdio.h>

#include "macro.h"
#include "provider-vm-network.h"
#include "tests.h"

TEST(cidr_parse) {
        static const struct {
                const char *text;
                int family;
                unsigned prefix;
        } good[] = {
                { "10.0.0.0/8", AF_INET, 8 },
                { "0.0.0.0/0", AF_INET, 0 },
                { "198.51.100.7", AF_INET, 32 },
                { "255.255.255.255/32", AF_INET, 32 },
                { "fc00::/7", AF_INET6, 7 },
                { "::/0", AF_INET6, 0 },
                { "::1", AF_INET6, 128 },
                { "2001:DB8::/32", AF_INET6, 32 },
                { "::ffff:0:0/96", AF_INET6, 96 },
        };
        static const char *const bad[] = {
                "", "/", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08",
                "10.0.0.0/8/8", "10.0.0.1/8", "10.0.0/8", "10.0.0.256", "010.0.0.0/8", "1.2.3.4 ",
                "fe80::/129", "fe80::1/10", "fe80::1%eth0", "localhost", "10.0.0.0/8;", "::/1000",
                "1.2.3.4/3a", "\"1.2.3.4\"",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                Cidr c;

                TEST_CONTEXT("%s", good[i].text);
                ASSERT_OK(cidr_parse(good[i].text, &c));
                ASSERT_EQ_INT(c.family, good[i].family);
                ASSERT_EQ_UINT(c.prefix, good[i].prefix);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Cidr c = { .prefix = 99 };

                TEST_CONTEXT("%s", bad[i]);
                ASSERT_ERROR(cidr_parse(bad[i], &c), EINVAL);
                ASSERT_EQ_UINT(c.prefix, 99); /* untouched */
        }
}

TEST(cidr_list_canonicalize) {
        static const struct {
                const char *text, *canonical;
        } table[] = {
                { "", "" },
                { " \t ", "" },
                { "10.0.0.0/8", "10.0.0.0/8" },
                { "10.0.0.0/8,192.168.0.0/16", "10.0.0.0/8 192.168.0.0/16" },
                { "  10.0.0.0/8 ,, 1.2.3.4\t2001:0DB8:0:0::/32 ", "10.0.0.0/8 1.2.3.4/32 2001:db8::/32" },
                { VM_NETWORK_DENIED_DEFAULT, VM_NETWORK_DENIED_DEFAULT },
        };
        _cleanup_free_ char *many = NULL;
        char *list;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                TEST_CONTEXT("%s", table[i].text);
                ASSERT_OK(cidr_list_canonicalize(table[i].text, &list));
                ASSERT_STREQ(list, table[i].canonical);
                free(list);
        }

        ASSERT_ERROR(cidr_list_canonicalize("10.0.0.0/8 bogus", &list), EINVAL);
        ASSERT_ERROR(cidr_list_canonicalize("10.0.0.0/8 }", &list), EINVAL);
        ASSERT_ERROR(cidr_list_canonicalize("1.2.3.4/32\n}\nflush ruleset", &list), EINVAL);

        /* At most CIDR_LIST_MAX entries. */
        many = calloc(CIDR_LIST_MAX + 1, 8);
        ASSERT_NOT_NULL(many);
        for (size_t i = 0; i < CIDR_LIST_MAX; i++)
                strcat(many, "1.2.3.4 ");
        ASSERT_OK(cidr_list_canonicalize(many, &list));
        free(list);
        strcat(many, "1.2.3.4");
        ASSERT_ERROR(cidr_list_canonicalize(many, &list), E2BIG);
}

TEST(resolv_conf_nameservers) {
        static const struct {
                const char *text, *nameservers;
        } table[] = {
                { "", "" },
                { "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n", "127.0.0.53/32" },
                { "# comment\nnameserver 192.168.1.1\nnameserver\t2001:db8::53  # ours\nnameserver 8.8.8.8\n",
                  "192.168.1.1/32 2001:db8::53/128 8.8.8.8/32" },
                /* scoped, bogus or a network: skipped */
                { "nameserver fe80::1%eth0\nnameserver dns.example.org\nnameserver 10.0.0.0/8\n"
                  "nameservers 1.1.1.1\nnameserver1.1.1.1\n  nameserver 9.9.9.9\nnameserver 1.0.0.1\n", "1.0.0.1/32" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *list = NULL;
                FILE *f = fmemopen((void *) table[i].text, strlen(table[i].text), "r");

                TEST_CONTEXT("%s", table[i].text);
                ASSERT_NOT_NULL(f);
                ASSERT_OK(resolv_conf_nameservers(f, &list));
                fclose(f);
                ASSERT_STREQ(list, table[i].nameservers);
        }
}

TEST(ruleset_qemu) {
        _cleanup_free_ char *text = NULL;

        ASSERT_OK(vm_network_ruleset(&(VMNetworkParams) {
                        .group = VM_NETWORK_GROUP,
                        .denied = VM_NETWORK_DENIED_DEFAULT,
                        .allowed = "192.168.5.0/24 2001:db8::/32",
                        .nameservers = "127.0.0.53/32",
                }, &text));
        /* One transaction that replaces the table, whatever was there. */
        ASSERT_TRUE(startswith(text, "# Written by golem-providerd(8)"));
        ASSERT_STR_CONTAINS(text, "\ntable inet golem_vms\ndelete table inet golem_vms\ntable inet golem_vms {\n");
        ASSERT_STR_CONTAINS(text, "set denied_v4 {\n                type ipv4_addr\n                flags interval\n"
                                  "                auto-merge\n                elements = { 127.0.0.0/8, 0.0.0.0/8, 10.0.0.0/8, "
                                  "100.64.0.0/10, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/4, 240.0.0.0/4 }\n");
        ASSERT_STR_CONTAINS(text, "elements = { ::1/128, ::/128, fc00::/7, fe80::/10, ff00::/8 }");
        ASSERT_STR_CONTAINS(text, "set allowed_v4 {\n                type ipv4_addr\n                flags interval\n"
                                  "                auto-merge\n                elements = { 192.168.5.0/24 }\n");
        ASSERT_STR_CONTAINS(text, "elements = { 2001:db8::/32 }");
        ASSERT_STR_CONTAINS(text, "elements = { 127.0.0.53/32 }");
        /* No IPv6 nameserver: an empty set, no elements line. */
        ASSERT_STR_CONTAINS(text, "set dns_v6 {\n                type ipv6_addr\n                flags interval\n"
                                  "                auto-merge\n        }\n");
        /* The order decides: other sockets, established, DNS, allowed, the host, denied. */
        ASSERT_STR_CONTAINS(text,
                "        chain vm_output {\n"
                "                type filter hook output priority filter; policy accept;\n"
                "                meta skgid != golem-vm return\n"
                "                ct state established,related accept\n"
                "                meta l4proto { 6, 17 } th dport 53 ip daddr @dns_v4 accept\n"
                "                meta l4proto { 6, 17 } th dport 53 ip6 daddr @dns_v6 accept\n"
                "                ip daddr @allowed_v4 accept\n"
                "                ip6 daddr @allowed_v6 accept\n"
                "                fib daddr type local reject\n"
                "                ip daddr @denied_v4 reject\n"
                "                ip6 daddr @denied_v6 reject\n"
                "        }\n}\n");
        ASSERT_NULL(strstr(text, "bridge"));
}

TEST(ruleset_multipass) {
        _cleanup_free_ char *text = NULL;

        ASSERT_OK(vm_network_ruleset(&(VMNetworkParams) {
                        .denied = "10.0.0.0/8",
                        .bridge = VM_NETWORK_MULTIPASS_BRIDGE,
                }, &text));
        ASSERT_NULL(strstr(text, "vm_output"));
        ASSERT_STR_CONTAINS(text,
                "        chain bridge_forward {\n"
                "                type filter hook forward priority filter; policy accept;\n"
                "                iifname != \"mpqemubr0\" return\n"
                "                ct state established,related accept\n"
                "                ip daddr @allowed_v4 accept\n"
                "                ip6 daddr @allowed_v6 accept\n"
                "                ip daddr @denied_v4 reject\n"
                "                ip6 daddr @denied_v6 reject\n"
                "        }\n");
        ASSERT_STR_CONTAINS(text,
                "        chain bridge_input {\n"
                "                type filter hook input priority filter; policy accept;\n"
                "                iifname != \"mpqemubr0\" return\n"
                "                ct state established,related accept\n"
                "                udp dport { 53, 67, 547 } accept\n"
                "                tcp dport 53 accept\n");
        ASSERT_STR_CONTAINS(text, "                reject\n        }\n}\n");
}

TEST(ruleset_refuses_what_it_cannot_vouch_for) {
        static const VMNetworkParams bad[] = {
                { .group = "golem vm" },
                { .group = "golem-vm; flush ruleset" },
                { .group = "" },
                { .group = "Golem" },
                { .group = "abcdefghijklmnopqrstuvwxyz0123456" }, /* 33 */
                { .bridge = "mpqemubr0\" accept" },
                { .bridge = "a-very-long-interface" },
                { .bridge = "" },
                { .denied = "10.0.0.0/8 } flush ruleset" },
                { .allowed = "*" },
                { .nameservers = "127.0.0.53; accept" },
        };
        _cleanup_free_ char *text = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TEST_CONTEXT("row %zu", i);
                ASSERT_ERROR(vm_network_ruleset(&bad[i], &text), EINVAL);
                ASSERT_NULL(text);
        }
        /* A gid will do for the group, and nothing at all is an empty table. */
        ASSERT_OK(vm_network_ruleset(&(VMNetworkParams) { .group = "4242" }, &text));
        ASSERT_STR_CONTAINS(text, "meta skgid != 4242 return\n");
        free(text);
        text = NULL;
        ASSERT_OK(vm_network_ruleset(&(VMNetworkParams) {}, &text));
        ASSERT_NULL(strstr(text, "chain"));
}
