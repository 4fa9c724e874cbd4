/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

/* Tenant isolation on the network: an nftables table that lets the VMs' outbound traffic reach
 * public addresses and DNS, and nothing of the host's own or of private, link-local and
 * special ranges. The qemu driver's VMs run with the group VM_NETWORK_GROUP, so the sockets
 * qemu's user-mode network opens for a guest carry that gid and the output hook knows them;
 * multipass instances sit behind its bridge, filtered in the forward and input hooks. The
 * ruleset is made here as text (a pure function of the configuration, every value in it
 * validated), written to the provider's runtime directory and loaded by the installed unit
 * VM_NETWORK_UNIT, which every VM unit requires. */

#define VM_NETWORK_UNIT "golem-vm-network.service"
#define VM_NETWORK_SLICE "golem-vms.slice"
#define VM_NETWORK_GROUP "golem-vm"
#define VM_NETWORK_TABLE "golem_vms"
/* In the provider's runtime directory; the unit reads it there. */
#define VM_NETWORK_RULES_PATH "/run/golem-provider/vm-network.nft"
#define VM_NETWORK_MULTIPASS_BRIDGE "mpqemubr0"

/* VMDeniedNetworks= by default: loopback, "this network", RFC 1918, CGNAT, link-local (the
 * cloud metadata address 169.254.169.254 included), multicast, reserved and broadcast; IPv6
 * loopback, unspecified, unique-local, link-local and multicast. IPv4-mapped IPv6 addresses
 * need no entry: the kernel sends those as IPv4 packets, which the IPv4 list sees. */
#define VM_NETWORK_DENIED_DEFAULT                                                               \
        "127.0.0.0/8 0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 169.254.0.0/16 172.16.0.0/12 "          \
        "192.168.0.0/16 224.0.0.0/4 240.0.0.0/4 ::1/128 ::/128 fc00::/7 fe80::/10 ff00::/8"

/* Entries of one list at most. */
#define CIDR_LIST_MAX 256

typedef struct Cidr {
        int family;             /* AF_INET or AF_INET6 */
        uint8_t address[16];    /* network byte order; 4 bytes used for AF_INET */
        unsigned prefix;
} Cidr;

/* "ADDRESS[/PREFIX]", IPv4 or IPv6, numeric; no prefix is a single address. Host bits set
 * under the prefix ("10.0.0.1/8") are refused rather than silently widened. */
int cidr_parse(const char *s, Cidr *ret);
/* A list separated by white space or commas (empty: no entry) -> its canonical form, one
 * space between entries, each "ADDRESS/PREFIX" as inet_ntop() writes the address. -EINVAL
 * on a bad entry, -E2BIG beyond CIDR_LIST_MAX entries. */
int cidr_list_canonicalize(const char *s, char **ret);
/* Calls fn for each entry of a canonical (or any valid) list; stops at a negative return. */
int cidr_list_foreach(const char *s, int (*fn)(const Cidr *c, void *userdata), void *userdata);

/* The "nameserver" addresses of a resolv.conf, as a canonical list of single addresses
 * (scoped IPv6 ones, "fe80::1%eth0", are skipped: they cannot be named in a rule). */
int resolv_conf_nameservers(FILE *f, char **ret);

typedef struct VMNetworkParams {
        const char *group;       /* qemu: the VMs' group (a name or a gid); NULL: no output chain */
        const char *denied;      /* CIDR lists, checked again here */
        const char *allowed;
        const char *nameservers; /* what DNS may reach (slirp forwards 10.0.2.3 there) */
        const char *bridge;      /* multipass: its instances' bridge; NULL: no bridge chains */
} VMNetworkParams;

/* The whole table as one nft -f transaction: it replaces the table atomically. */
int vm_network_ruleset(const VMNetworkParams *p, char **ret);

/* Writes the ruleset to path (VM_NETWORK_RULES_PATH) and has systemd load it: a reload of
 * VM_NETWORK_UNIT when it is active (an atomic replace), a start otherwise. Unless force, a
 * file that holds that ruleset already (a restart of the provider) is left as it is: a VM unit
 * that starts pulls the unit in when it is not active. Asynchronous: the first call sets
 * *watch to a match on systemd's JobRemoved (the caller's to unref), by which every failed
 * job of the unit, whoever asked for it, is logged. */
int vm_network_install(sd_bus *bus, const char *path, const VMNetworkParams *p, bool force, sd_bus_slot **watch);
