/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "provider-vm-network.h"

#define SEPARATORS " \t\n,"

int cidr_parse(const char *s, Cidr *ret) {
        char address[INET6_ADDRSTRLEN];
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t) (slash - s) : strlen(s);
        Cidr c = {};
        unsigned max;

        if (n == 0 || n >= sizeof(address))
                return -EINVAL;
        memcpy(address, s, n);
        address[n] = 0;
        if (inet_pton(AF_INET, address, c.address) == 1)
                c.family = AF_INET;
        else if (inet_pton(AF_INET6, address, c.address) == 1)
                c.family = AF_INET6;
        else
                return -EINVAL;
        max = c.family == AF_INET ? 32 : 128;
        c.prefix = max;

        if (slash) {
                const char *p = slash + 1;

                /* 1-3 digits, no sign, no leading zero */
                if (!*p || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p) || (p[0] == '0' && p[1]))
                        return -EINVAL;
                c.prefix = (unsigned) atoi(p);
                if (c.prefix > max)
                        return -EINVAL;
        }

        for (unsigned bit = c.prefix; bit < max; bit++)
                if (c.address[bit / 8] & (0x80 >> (bit % 8)))
                        return -EINVAL; /* host bits set */

        *ret = c;
        return 0;
}

int cidr_list_foreach(const char *s, int (*fn)(const Cidr *c, void *userdata), void *userdata) {
        size_t n_entries = 0;

        for (const char *p = s ?: ""; *(p += strspn(p, SEPARATORS));) {
                size_t n = strcspn(p, SEPARATORS);
                char entry[INET6_ADDRSTRLEN + 5];
                Cidr c;
                int r;

                if (n >= sizeof(entry))
                        return -EINVAL;
                if (++n_entries > CIDR_LIST_MAX)
                        return -E2BIG;
                memcpy(entry, p, n);
                entry[n] = 0;
                r = cidr_parse(entry, &c);
                if (r < 0)
                        return r;
                r = fn(&c, userdata);
                if (r < 0)
                        return r;
                p += n;
        }
        return 0;
}

static int cidr_format(const Cidr *c, FILE *f) {
        char address[INET6_ADDRSTRLEN];

        if (!inet_ntop(c->family, c->address, address, sizeof(address)))
                return -errno;
        fprintf(f, "%s/%u", address, c->prefix);
        return 0;
}

typedef struct ListWriter {
        FILE *f;
        int family;     /* AF_UNSPEC: all */
        const char *separator;
        bool first;
} ListWriter;

static int write_entry(const Cidr *c, void *userdata) {
        ListWriter *w = userdata;

        if (w->family != AF_UNSPEC && c->family != w->family)
                return 0;
        if (!w->first)
                fputs(w->separator, w->f);
        w->first = false;
        return cidr_format(c, w->f);
}

/* The entries of list (of one family, or all) written to f, separated by separator. */
static int write_list(FILE *f, const char *list, int family, const char *separator, bool *ret_empty) {
        ListWriter w = { .f = f, .family = family, .separator = separator, .first = true };
        int r;

        r = cidr_list_foreach(list, write_entry, &w);
        if (ret_empty)
                *ret_empty = w.first;
        return r;
}

int cidr_list_canonicalize(const char *s, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        r = write_list(f, s, AF_UNSPEC, " ", NULL);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(text);
        return 0;
}

int resolv_conf_nameservers(FILE *f, char **ret) {
        _cleanup_free_ char *line = NULL, *text = NULL;
        size_t allocated = 0, size = 0, n = 0;
        FILE *out;
        int r = 0;

        out = open_memstream(&text, &size);
        if (!out)
                return -ENOMEM;
        while (getline(&line, &allocated, f) >= 0) {
                const char *p = startswith(line, "nameserver");
                Cidr c;

                if (!p || !strchr(" \t", *p))
                        continue;
                p += strspn(p, " \t");
                p = strndupa(p, strcspn(p, " \t\r\n#;"));
                /* an address alone: no prefix, no scope */
                if (strchr(p, '/') || cidr_parse(p, &c) < 0)
                        continue;
                if (n++ >= CIDR_LIST_MAX)
                        break;
                if (n > 1)
                        fputc(' ', out);
                r = cidr_format(&c, out);
                if (r < 0)
                        break;
        }
        if (fclose(out) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(text);
        return 0;
}

/* A group name as useradd takes it, or a gid. */
static bool group_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32)
                return false;
        if (strspn(s, "0123456789") == n)
                return true;
        return strchr("abcdefghijklmnopqrstuvwxyz_", s[0]) &&
               strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* What an interface name may be (IFNAMSIZ, no quotes or spaces). */
static bool ifname_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n < 16 &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* "set NAME { type ...; flags interval; auto-merge; elements = { ... } }", the elements
 * of one family of list. */
static int write_set(FILE *f, const char *name, const char *list, int family) {
        _cleanup_free_ char *elements = NULL;
        size_t size = 0;
        bool empty;
        FILE *e;
        int r;

        e = open_memstream(&elements, &size);
        if (!e)
                return -ENOMEM;
        r = write_list(e, list, family, ", ", &empty);
        if (fclose(e) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        fprintf(f, "        set %s {\n"
                   "                type %s\n"
                   "                flags interval\n"
                   "                auto-merge\n",
                name, family == AF_INET ? "ipv4_addr" : "ipv6_addr");
        if (!empty)
                fprintf(f, "                elements = { %s }\n", elements);
        fputs("        }\n", f);
        return 0;
}

/* The allowed, then the denied destinations of a chain: allowed wins. */
static void write_destination_rules(FILE *f) {
        fputs("                ip daddr @allowed_v4 accept\n"
              "                ip6 daddr @allowed_v6 accept\n", f);
}

static void write_denied_rules(FILE *f) {
        fputs("                ip daddr @denied_v4 reject\n"
              "                ip6 daddr @denied_v6 reject\n", f);
}

int vm_network_ruleset(const VMNetworkParams *p, char **ret) {
        static const struct {
                const char *name;
                size_t offset;
        } sets[] = {
                { "denied", offsetof(VMNetworkParams, denied) },
                { "allowed", offsetof(VMNetworkParams, allowed) },
                { "dns", offsetof(VMNetworkParams, nameservers) },
        };
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;
        int r = 0;

        if ((p->group && !group_valid(p->group)) || (p->bridge && !ifname_valid(p->bridge)))
                return -EINVAL;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;

        /* Created if missing, so that the delete always succeeds: one transaction replaces
         * whatever was loaded before, never leaving a moment without the table. */
        fputs("# Written by golem-providerd(8), loaded by " VM_NETWORK_UNIT ".\n"
              "table inet " VM_NETWORK_TABLE "\n"
              "delete table inet " VM_NETWORK_TABLE "\n"
              "table inet " VM_NETWORK_TABLE " {\n", f);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(sets); i++) {
                const char *list = *(const char *const *) ((const uint8_t *) p + sets[i].offset);
                char name[32];

                snprintf(name, sizeof(name), "%s_v4", sets[i].name);
                r = write_set(f, name, list, AF_INET);
                if (r >= 0) {
                        snprintf(name, sizeof(name), "%s_v6", sets[i].name);
                        r = write_set(f, name, list, AF_INET6);
                }
        }

        if (r >= 0 && p->group) {
                /* qemu's user-mode network: the guest's connections are sockets of the VM's
                 * qemu, which runs with the VMs' group. Inbound SSH to its forward is input,
                 * and qemu's answers belong to established connections. Protocols by number
                 * (6 tcp, 17 udp): nft resolves names through /etc/protocols, which a
                 * minimal system lacks. */
                fprintf(f, "\n"
                           "        chain vm_output {\n"
                           "                type filter hook output priority filter; policy accept;\n"
                           "                meta skgid != %s return\n"
                           "                ct state established,related accept\n"
                           "                meta l4proto { 6, 17 } th dport 53 ip daddr @dns_v4 accept\n"
                           "                meta l4proto { 6, 17 } th dport 53 ip6 daddr @dns_v6 accept\n",
                        p->group);
                write_destination_rules(f);
                fputs("                fib daddr type local reject\n", f);
                write_denied_rules(f);
                fputs("        }\n", f);
        }

        if (r >= 0 && p->bridge) {
                /* multipass: its instances are routed from their bridge; guest to guest on
                 * the bridge itself is switched, not routed, and not seen here. */
                fprintf(f, "\n"
                           "        chain bridge_forward {\n"
                           "                type filter hook forward priority filter; policy accept;\n"
                           "                iifname != \"%s\" return\n"
                           "                ct state established,related accept\n",
                        p->bridge);
                write_destination_rules(f);
                write_denied_rules(f);
                fprintf(f, "        }\n"
                           "\n"
                           "        chain bridge_input {\n"
                           "                type filter hook input priority filter; policy accept;\n"
                           "                iifname != \"%s\" return\n"
                           "                ct state established,related accept\n"
                           "                udp dport { 53, 67, 547 } accept\n"
                           "                tcp dport 53 accept\n"
                           /* icmp and ipv6-icmp, by number: nft resolves names through
                            * /etc/protocols, which a minimal system lacks */
                           "                meta l4proto { 1, 58 } accept\n",
                        p->bridge);
                write_destination_rules(f);
                fputs("                reject\n"
                      "        }\n", f);
        }
        fputs("}\n", f);

        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(text);
        return 0;
}

static void log_not_loaded(const char *why) {
        log_struct(LOG_ERR,
                   "MESSAGE_ID=" GOLEM_MESSAGE_VM_NETWORK_FAILED,
                   "MESSAGE=Failed to load the VMs' network filter (" VM_NETWORK_UNIT "): %s. VMs cannot start "
                   "until it loads: see systemctl status " VM_NETWORK_UNIT ".", why);
}

static int on_unit_loaded(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                log_not_loaded(e->message);
        else
                log_debug("Loading the VMs' network filter through " VM_NETWORK_UNIT ".");
        return 1;
}

/* Any job of the unit that did not succeed: our reload, or a start a VM unit pulled in. */
static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *path, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0 || !streq(unit, VM_NETWORK_UNIT) ||
            streq(result, "done") || streq(result, "skipped") || streq(result, "canceled"))
                return 0;
        log_not_loaded(streq(result, "failed") ? "nft failed" : result);
        return 0;
}

/* Whether the file at path holds exactly text. */
static bool file_holds(const char *path, const char *text) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = strlen(text);
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t) st.st_size != n)
                return false;
        buf = malloc(n + 1);
        return buf && read(fd, buf, n + 1) == (ssize_t) n && memcmp(buf, text, n) == 0;
}

int vm_network_install(sd_bus *bus, const char *path, const VMNetworkParams *p, bool force, sd_bus_slot **watch) {
        _cleanup_free_ char *text = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n;
        int r;

        r = vm_network_ruleset(p, &text);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;

        /* Loaded already, as a restart of ours finds it: nothing to do. */
        if (!force && file_holds(path, text))
                goto watch;

        /* Replaced whole: the unit never reads half a file. */
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        n = strlen(text);
        if (write(fd, text, n) != (ssize_t) n || fsync(fd) < 0) {
                r = errno > 0 ? -errno : -EIO;
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }

        /* Reload when active: an atomic replace, with no stop that would stop the VMs
         * requiring the unit. */
        r = sd_bus_call_method_async(bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", "ReloadOrRestartUnit",
                                     on_unit_loaded, NULL, "ss", VM_NETWORK_UNIT, "replace");
        if (r < 0)
                return r;

watch:
        /* The runner subscribed to systemd's job signals already. */
        if (!*watch)
                return sd_bus_match_signal_async(bus, watch, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                                 "org.freedesktop.systemd1.Manager", "JobRemoved", on_job_removed,
                                                 NULL, NULL);
        return 0;
}
