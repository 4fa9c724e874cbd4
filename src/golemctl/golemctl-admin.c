/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "golemctl-admin.h"
#include "golemctl-util.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "time-util.h"
#include "validate.h"
#include "wire.h"

/* Start and stop answer once the VM settled; a boot may take minutes. */
#define VM_CALL_TIMEOUT_USEC (15 * 60 * USEC_PER_SEC)

static pid_t agent_pid = 0;

static void polkit_agent_close(void) {
        if (agent_pid > 0) {
                (void) kill(agent_pid, SIGTERM);
                (void) waitpid(agent_pid, NULL, 0);
                agent_pid = 0;
        }
}

/* Starts pkttyagent for our own process, as systemctl does, so polkit can ask for a password
 * on this terminal. Waits until it says it is registered (or gives up quietly). */
static void polkit_agent_open(void) {
        static const char agent[] = "/usr/bin/pkttyagent";
        char notify[16], process[16];
        int fds[2];

        if (agent_pid > 0 || isatty(STDIN_FILENO) <= 0 || access(agent, X_OK) < 0)
                return;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return;

        snprintf(process, sizeof(process), "%d", (int) getpid());
        agent_pid = fork();
        if (agent_pid < 0) {
                agent_pid = 0;
                close(fds[0]);
                close(fds[1]);
                return;
        }
        if (agent_pid == 0) {
                int fd = dup(fds[1]); /* without O_CLOEXEC, for the agent to inherit */

                snprintf(notify, sizeof(notify), "%d", fd);
                execl(agent, agent, "--notify-fd", notify, "--fallback", "--process", process, (char *) NULL);
                _exit(EXIT_FAILURE);
        }
        close(fds[1]);

        /* The agent closes (or writes to) the notify fd once registered. */
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        (void) poll(&p, 1, 5000);
        close(fds[0]);
        atexit(polkit_agent_close);
}

static int bus_open(Context *c, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        if (c->host)
                r = sd_bus_open_system_remote(&bus, c->host);
        else
                r = sd_bus_open_system(&bus);
        if (r < 0)
                return ctl_error(r, "Cannot connect to the system bus%s%s: %m", c->host ? " of " : "", strempty(c->host));

        /* polkit may ask for a password, on a terminal, when the caller allows it. */
        (void) sd_bus_set_allow_interactive_authorization(bus, c->ask_password);
        if (c->ask_password && !c->host)
                polkit_agent_open();

        *ret = bus;
        return 0;
}

static int bus_call_error(sd_bus_error *e, int r, const char *what) {
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) || sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return ctl_error(r, "No provider on this machine: %s is not on the system bus.", GOLEM_BUS_NAME);
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED) ||
            sd_bus_error_has_name(e, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                return ctl_error(-EACCES, "%s: not authorized (%.*s).", what,
                                 (int) strcspn(e->message ?: "access denied", "."), e->message ?: "access denied");
        return ctl_error(r, "%s: %s", what, e->message ?: strerror(ERRNO_VALUE(r)));
}

typedef struct ProviderProperties {
        char *id, *name, *country, *public_ip, *discovery_url, *public_key, *advertisement_error;
        int advertising;
        uint64_t total[3], available[3];
        uint32_t n_vms;
        uint64_t last_advertisement;
} ProviderProperties;

static void provider_properties_done(ProviderProperties *p) {
        free(p->id);
        free(p->name);
        free(p->country);
        free(p->public_ip);
        free(p->discovery_url);
        free(p->public_key);
        free(p->advertisement_error);
}

/* Reads one a{sv} of properties into the fields the table names; skips the others. */
typedef struct PropertyMap {
        const char *name;
        char type;      /* 's', 'b', 't', 'u', 'q' */
        void *field;
} PropertyMap;

static int read_properties(sd_bus_message *m, const PropertyMap *map) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const PropertyMap *p;
                const char *name;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                for (p = map; p->name && !streq(p->name, name); p++)
                        ;
                if (!p->name)
                        r = sd_bus_message_skip(m, "v");
                else if (p->type == 's') {
                        const char *s;

                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r >= 0)
                                r = free_and_strdup(p->field, s);
                } else {
                        char sig[2] = { p->type, 0 };
                        r = sd_bus_message_read(m, "v", sig, p->field);
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int get_provider(sd_bus *bus, ProviderProperties *p) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const PropertyMap map[] = {
                { "ProviderID", 's', &p->id },
                { "PublicKey", 's', &p->public_key },
                { "Name", 's', &p->name },
                { "Country", 's', &p->country },
                { "PublicIP", 's', &p->public_ip },
                { "DiscoveryURL", 's', &p->discovery_url },
                { "Advertising", 'b', &p->advertising },
                { "TotalCPU", 't', &p->total[0] },
                { "TotalMemory", 't', &p->total[1] },
                { "TotalStorage", 't', &p->total[2] },
                { "AvailableCPU", 't', &p->available[0] },
                { "AvailableMemory", 't', &p->available[1] },
                { "AvailableStorage", 't', &p->available[2] },
                { "VMCount", 'u', &p->n_vms },
                { "LastAdvertisement", 't', &p->last_advertisement },
                { "AdvertisementError", 's', &p->advertisement_error },
                {}
        };
        int r;

        r = sd_bus_call_method(bus, GOLEM_BUS_NAME, GOLEM_BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                               &e, &reply, "s", GOLEM_BUS_MANAGER_INTERFACE);
        if (r < 0) {
                r = bus_call_error(&e, r, "Cannot read the provider's state");
                sd_bus_error_free(&e);
                return r;
        }
        r = read_properties(reply, map);
        sd_bus_message_unref(reply);
        if (r < 0)
                return ctl_error(r, "The provider's answer is malformed: %m");
        return 0;
}

int verb_provider_status(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        ProviderProperties p = {};
        char last[RFC3339_MAX];
        Resources total, available;
        int r;

        r = bus_open(c, &bus);
        if (r < 0)
                return r;
        r = get_provider(bus, &p);
        if (r < 0) {
                provider_properties_done(&p);
                return r;
        }

        if (p.last_advertisement)
                format_rfc3339(last, p.last_advertisement);
        total = (Resources) { (int64_t) p.total[0], (int64_t) p.total[1], (int64_t) p.total[2] };
        available = (Resources) { (int64_t) p.available[0], (int64_t) p.available[1], (int64_t) p.available[2] };

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = json_object_new_object();

                if (!o ||
                    json_object_object_add(o, "provider_id", json_object_new_string(strempty(p.id))) < 0 ||
                    json_object_object_add(o, "public_key", json_string_or_null(isempty(p.public_key) ? NULL : p.public_key)) < 0 ||
                    json_object_object_add(o, "name", json_object_new_string(strempty(p.name))) < 0 ||
                    json_object_object_add(o, "country", json_object_new_string(strempty(p.country))) < 0 ||
                    json_object_object_add(o, "public_ip", json_string_or_null(isempty(p.public_ip) ? NULL : p.public_ip)) < 0 ||
                    json_object_object_add(o, "discovery_url", json_string_or_null(isempty(p.discovery_url) ? NULL : p.discovery_url)) < 0 ||
                    json_object_object_add(o, "advertising", json_object_new_boolean(p.advertising)) < 0 ||
                    json_object_object_add(o, "vm_count", json_object_new_int64(p.n_vms)) < 0 ||
                    /* nested as in the provider's GET /api/v1/provider/info */
                    json_object_object_add(o, "total_resources", resources_to_json(&total)) < 0 ||
                    json_object_object_add(o, "available_resources", resources_to_json(&available)) < 0 ||
                    json_object_object_add(o, "last_advertisement", json_string_or_null(p.last_advertisement ? last : NULL)) < 0 ||
                    json_object_object_add(o, "advertisement_error",
                                           json_string_or_null(isempty(p.advertisement_error) ? NULL : p.advertisement_error)) < 0)
                        r = ctl_error(-ENOMEM, "Out of memory.");
                else
                        r = ctl_show_json(c, o);
                provider_properties_done(&p);
                return r;
        }

        printf("       Provider: %s (%s)\n"
               "     Public key: %s\n"
               "        Country: %s\n"
               "      Public IP: %s\n"
               "      Discovery: %s\n"
               "    Advertising: %s%s%s%s%s\n"
               "            VMs: %" PRIu32 "\n"
               "            CPU: %" PRIu64 " of %" PRIu64 " free\n"
               "         Memory: %" PRIu64 " of %" PRIu64 " GB free\n"
               "        Storage: %" PRIu64 " of %" PRIu64 " GB free\n",
               strempty(p.id), strempty(p.name), isempty(p.public_key) ? "-" : p.public_key,
               strempty(p.country),
               isempty(p.public_ip) ? "-" : p.public_ip,
               isempty(p.discovery_url) ? "-" : p.discovery_url,
               p.advertising ? "yes" : "no",
               p.last_advertisement ? ", last " : "", p.last_advertisement ? last : "",
               isempty(p.advertisement_error) ? "" : "; failing: ", strempty(p.advertisement_error),
               p.n_vms, p.available[0], p.total[0], p.available[1], p.total[1], p.available[2], p.total[2]);
        provider_properties_done(&p);
        return 0;
}

typedef struct BusVM {
        char *name, *state, *ip, *image;
        uint16_t ssh_port;
        uint32_t cpus;
        uint64_t memory, storage;
} BusVM;

static void bus_vm_done(BusVM *v) {
        free(v->name);
        free(v->state);
        free(v->ip);
        free(v->image);
}

int verb_provider_vms(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *array = NULL;
        _cleanup_table_ Table *t = NULL;
        _cleanup_free_ char *legend = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        size_t n = 0;
        int r;

        r = bus_open(c, &bus);
        if (r < 0)
                return r;

        r = sd_bus_call_method(bus, GOLEM_BUS_NAME, GOLEM_BUS_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                               &e, &reply, NULL);
        if (r < 0) {
                r = bus_call_error(&e, r, "Cannot list the provider's VMs");
                sd_bus_error_free(&e);
                return r;
        }

        array = json_object_new_array();
        r = table_new((const char *const[]) { "NAME", "STATE", "ADDRESS", "SSH", "CPU", "MEMORY", "STORAGE", "IMAGE" }, 8, &t);
        if (r < 0 || !array) {
                sd_bus_message_unref(reply);
                return ctl_error(-ENOMEM, "Out of memory.");
        }
        for (size_t col = 3; col <= 6; col++)
                (void) table_set_align_right(t, col, true);
        (void) table_set_ellipsize(t, 0, true);
        (void) table_set_ellipsize(t, 7, true);

        /* a{oa{sa{sv}}}: every object with its interfaces and their properties. */
        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                const char *path;

                r = sd_bus_message_read(reply, "o", &path);
                if (r >= 0)
                        r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
                while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                        const char *interface;
                        BusVM v = {};
                        const PropertyMap map[] = {
                                { "Name", 's', &v.name }, { "State", 's', &v.state }, { "IPAddress", 's', &v.ip },
                                { "Image", 's', &v.image }, { "SSHPort", 'q', &v.ssh_port }, { "CPUs", 'u', &v.cpus },
                                { "Memory", 't', &v.memory }, { "Storage", 't', &v.storage }, {}
                        };

                        r = sd_bus_message_read(reply, "s", &interface);
                        if (r < 0)
                                break;
                        if (!streq(interface, GOLEM_BUS_VM_INTERFACE))
                                r = sd_bus_message_skip(reply, "a{sv}");
                        else {
                                r = read_properties(reply, map);
                                if (r >= 0 && vm_name_valid(v.name)) {
                                        json_object *o = json_object_new_object();

                                        n++;
                                        if (!o ||
                                            json_object_object_add(o, "name", json_object_new_string(v.name)) < 0 ||
                                            json_object_object_add(o, "state", json_object_new_string(strempty(v.state))) < 0 ||
                                            json_object_object_add(o, "ip_address", json_string_or_null(isempty(v.ip) ? NULL : v.ip)) < 0 ||
                                            json_object_object_add(o, "ssh_port", v.ssh_port ? json_object_new_int(v.ssh_port) : NULL) < 0 ||
                                            json_object_object_add(o, "cpu", json_object_new_int64(v.cpus)) < 0 ||
                                            json_object_object_add(o, "memory", json_object_new_int64((int64_t) v.memory)) < 0 ||
                                            json_object_object_add(o, "storage", json_object_new_int64((int64_t) v.storage)) < 0 ||
                                            json_object_object_add(o, "image", json_object_new_string(strempty(v.image))) < 0 ||
                                            json_object_array_add(array, o) < 0)
                                                r = -ENOMEM;
                                        if (r >= 0)
                                            (void) ((r = table_add_cell(t, v.name, TABLE_COLOR_DEFAULT)) < 0 ||
                                             (r = table_add_cell(t, v.state, streq_ptr(v.state, "running") ? TABLE_COLOR_GREEN :
                                                                             streq_ptr(v.state, "error") ? TABLE_COLOR_RED : TABLE_COLOR_DEFAULT)) < 0 ||
                                             (r = table_add_cell(t, isempty(v.ip) ? NULL : v.ip, TABLE_COLOR_DEFAULT)) < 0 ||
                                             (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%u", v.ssh_port)) < 0 ||
                                             (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIu32, v.cpus)) < 0 ||
                                             (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIu64 " GB", v.memory)) < 0 ||
                                             (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIu64 " GB", v.storage)) < 0 ||
                                             (r = table_add_cell(t, v.image, TABLE_COLOR_DEFAULT)) < 0);
                                }
                        }
                        bus_vm_done(&v);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        sd_bus_message_unref(reply);
        if (r < 0)
                return ctl_error(r, "The provider's answer is malformed: %m");

        if (c->json != JSON_FORMAT_OFF)
                return ctl_show_json(c, array);
        if (asprintf(&legend, "%zu VM%s listed.", n, n == 1 ? "" : "s") < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        return ctl_show_table(c, t, legend);
}

int verb_provider_advertise(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int enable, r;

        enable = parse_boolean(argv[1]);
        if (enable < 0)
                return ctl_usage("Expected 'on' or 'off', not '%s'.", argv[1]);

        r = bus_open(c, &bus);
        if (r < 0)
                return r;
        r = sd_bus_set_property(bus, GOLEM_BUS_NAME, GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE, "Advertising", &e, "b", enable);
        if (r < 0) {
                r = bus_call_error(&e, r, enable ? "Cannot turn advertising on" : "Cannot turn advertising off");
                sd_bus_error_free(&e);
                return r;
        }
        ctl_info(c, "Advertising is %s.", enable ? "on" : "off");
        return 0;
}

/* provider vm start|stop|delete NAME */
int verb_provider_vm_operation(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL, *call = NULL;
        const char *verb = argv[0], *name = argv[1], *path, *method;
        _cleanup_free_ char *what = NULL;
        int r;

        method = streq(verb, "start") ? "Start" : streq(verb, "stop") ? "Stop" : "Delete";
        if (!vm_name_valid(name))
                return ctl_usage("Invalid VM name '%s'.", name);
        if (asprintf(&what, "Cannot %s VM %s", verb, name) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");

        r = bus_open(c, &bus);
        if (r < 0)
                return r;

        r = sd_bus_call_method(bus, GOLEM_BUS_NAME, GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE, "GetVM", &e, &reply, "s", name);
        if (r < 0) {
                r = bus_call_error(&e, r, what);
                sd_bus_error_free(&e);
                return r;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = sd_bus_message_new_method_call(bus, &call, GOLEM_BUS_NAME, path, GOLEM_BUS_VM_INTERFACE, method);
        sd_bus_message_unref(reply);
        reply = NULL;
        if (r >= 0)
                r = sd_bus_call(bus, call, VM_CALL_TIMEOUT_USEC, &e, NULL);
        sd_bus_message_unref(call);
        if (r < 0) {
                r = bus_call_error(&e, r, what);
                sd_bus_error_free(&e);
                return r;
        }
        ctl_info(c, "VM %s: %s done.", name, verb);
        return 0;
}
