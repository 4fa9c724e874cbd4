/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "bus-polkit.h"
#include "log.h"
#include "error-table.h"
#include "provider-bus.h"

/* org.golem.Provider1 on the system bus: the manager object, one object per VM (a fallback
 * vtable and a node enumerator), an ObjectManager, signals and PropertiesChanged driven by
 * the VM manager's events. Reads are open; changes are checked with polkit. */

struct ProviderBus {
        Manager *manager;
        const ProviderSettings *settings;
        Advertiser *advertiser;
        int (*reload)(void *userdata, const char **ret_error);
        void *userdata;
        sd_bus *bus;
        sd_bus_slot *slots[5];
        PolkitRegistry *polkit;
        bool introspect_only;
};

static int bus_error_from_errno(sd_bus_error *error, int r, const char *message) {
        return sd_bus_error_set(error, error_info(r)->bus_error, message ?: error_message(r));
}

/* ---- object paths ---- */

static int vm_object_path(const char *name, char **ret) {
        return sd_bus_path_encode(GOLEM_BUS_VM_PREFIX, name, ret);
}

static int vm_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                          void **ret_found, sd_bus_error *error) {
        ProviderBus *b = userdata;
        _cleanup_free_ char *name = NULL;
        VM *vm;
        int r;

        r = sd_bus_path_decode(path, GOLEM_BUS_VM_PREFIX, &name);
        if (r <= 0)
                return 0;
        if (b->introspect_only) {
                *ret_found = b;
                return 1;
        }
        vm = manager_get_vm(b->manager, name);
        if (!vm && manager_removing_vm(b->manager) && streq(manager_removing_vm(b->manager)->record.name, name))
                vm = manager_removing_vm(b->manager); /* still there for InterfacesRemoved */
        if (!vm)
                return 0;
        *ret_found = vm;
        return 1;
}

static int vm_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***ret, sd_bus_error *error) {
        ProviderBus *b = userdata;
        char **l;
        size_t n = 0;

        l = calloc((b->introspect_only ? 0 : manager_n_vms(b->manager)) + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        if (!b->introspect_only)
                LIST_FOREACH(vms, vm, manager_vms(b->manager))
                        if (vm_object_path(vm->record.name, &l[n]) >= 0)
                                n++;
        *ret = l;
        return 1;
}

/* ---- the caller ---- */

static void caller_from_message(sd_bus_message *m, Caller *ret) {
        uid_t uid = (uid_t) -1;

        (void) bus_message_sender_uid(m, &uid);
        *ret = (Caller) {
                .kind = CALLER_DBUS,
                .address = sd_bus_message_get_sender(m),
                .uid = uid,
        };
}

static void log_denied(sd_bus_message *m, const char *action, const char *vm) {
        uid_t uid = (uid_t) -1;

        (void) bus_message_sender_uid(m, &uid);
        log_struct(LOG_NOTICE,
                   "MESSAGE_ID=" GOLEM_MESSAGE_POLKIT_DENIED,
                   "GOLEM_CALLER_UID=%d", (int) uid,
                   "GOLEM_VM=%s", strempty(vm),
                   "GOLEM_POLKIT_ACTION=%s", action,
                   "MESSAGE=Denied %s.%s by uid %d (%s)%s%s.",
                   strempty(sd_bus_message_get_interface(m)), strempty(sd_bus_message_get_member(m)),
                   (int) uid, action, vm ? " on VM " : "", strempty(vm));
}

/* Checks polkit for a change: returns 1 authorized, 0 pending (return 1 from the handler), or
 * a negative errno with error set. */
static int verify(ProviderBus *b, sd_bus_message *m, const char *action, const char *vm, const char *verb,
                  sd_bus_error *error) {
        const char *details[] = { "vm", vm, "verb", verb, NULL };
        int r;

        r = bus_verify_polkit_async(m, action, vm ? details : NULL, &b->polkit, error);
        if (r == -EACCES)
                log_denied(m, action, vm);
        return r;
}

/* ---- answering when an operation completes ---- */

static void on_operation_done(Operation *o, int r, const char *message, VM *vm, void *userdata) {
        sd_bus_message *call = userdata;
        sd_bus_error e = SD_BUS_ERROR_NULL;

        if (r >= 0) {
                (void) sd_bus_reply_method_return(call, NULL);
                return;
        }
        (void) bus_error_from_errno(&e, r, message);
        (void) sd_bus_reply_method_error(call, &e);
        sd_bus_error_free(&e);
}

static void on_operation_free(void *userdata) {
        sd_bus_message_unref(userdata);
}

static const OperationWatcherOps operation_reply_ops = {
        .done = on_operation_done,
        .free = on_operation_free,
};

static int reply_when_done(sd_bus_message *m, Operation *o) {
        int r;

        r = operation_watch(o, &operation_reply_ops, sd_bus_message_ref(m), NULL);
        if (r < 0) {
                sd_bus_message_unref(m);
                return r;
        }
        return 1;
}

/* ---- signals ---- */

void provider_bus_advertisement_posted(ProviderBus *b) {
        if (b && b->bus)
                (void) sd_bus_emit_properties_changed(b->bus, GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE,
                                                      "LastAdvertisement", "AdvertisementError", NULL);
}

void provider_bus_advertisement_changed(ProviderBus *b) {
        if (b && b->bus)
                (void) sd_bus_emit_properties_changed(b->bus, GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE,
                                                      "AdvertisementError", NULL);
}

static void on_vm_event(Manager *m, VM *vm, VMEvent event, void *userdata) {
        ProviderBus *b = userdata;
        _cleanup_free_ char *path = NULL;

        /* Signals come before the replies they settle (the operation completes after the
         * event): a client that sees the reply has seen the state that led to it. */
        if (!b->bus || vm_object_path(vm->record.name, &path) < 0)
                return;

        switch (event) {
        case VM_EVENT_NEW:
                (void) sd_bus_emit_object_added(b->bus, path);
                (void) sd_bus_emit_signal(b->bus, GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE, "VMNew", "so", vm->record.name, path);
                break;
        case VM_EVENT_REMOVED:
                (void) sd_bus_emit_object_removed(b->bus, path);
                (void) sd_bus_emit_signal(b->bus, GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE, "VMRemoved", "so", vm->record.name, path);
                break;
        case VM_EVENT_CHANGED:
                (void) sd_bus_emit_properties_changed_strv(b->bus, path, GOLEM_BUS_VM_INTERFACE, NULL);
                break;
        }
        /* Free resources and the VM count follow every event. */
        (void) sd_bus_emit_properties_changed(b->bus, GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE,
                                              "AvailableCPU", "AvailableMemory", "AvailableStorage", "VMCount", NULL);
}

/* ---- the manager interface ---- */

static int parse_create_options(sd_bus_message *m, VMCreateRequest *req, sd_bus_error *error) {
        const char *size = NULL, *image = NULL, *key = NULL;
        uint32_t cpu = 0, memory = 0, storage = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key_name, *contents;

                r = sd_bus_message_read(m, "s", &key_name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;

#define OPTION(n, sig, var)                                                                     \
                if (streq(key_name, n)) {                                                       \
                        if (!streq(contents, sig))                                              \
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,      \
                                                         "Option %s takes type '%s'", n, sig);  \
                        r = sd_bus_message_read(m, "v", sig, &var);                             \
                        if (r < 0)                                                              \
                                return r;                                                       \
                } else
                OPTION("size", "s", size)
                OPTION("cpu", "u", cpu)
                OPTION("memory", "u", memory)
                OPTION("storage", "u", storage)
                OPTION("image", "s", image)
                OPTION("ssh_key", "s", key)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option %s", key_name);
#undef OPTION
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        if (cpu || memory || storage) {
                if (!cpu || !memory || !storage || cpu > VM_CPU_MAX || memory > VM_MEMORY_MAX || storage > VM_STORAGE_MAX)
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                                "cpu, memory and storage go together, each from 1 to its maximum");
                req->resources = (Resources) { cpu, memory, storage };
        } else if (size) {
                VMSize s = vm_size_from_string(size);

                if (s < 0)
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "size must be small, medium, large or xlarge");
                req->resources = vm_size_resources(s);
        } else
                req->resources = vm_size_resources(VM_SIZE_SMALL);

        if (image) {
                if (!vm_image_valid(image))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid image");
                strcpy(req->image, image);
        }
        if (!key || !ssh_public_key_valid(key))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "ssh_key must be one OpenSSH public key line");
        strcpy(req->ssh_key, key);
        return 0;
}

static int method_create_vm(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ProviderBus *b = userdata;
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ VMCreateRequest *req = NULL;
        char reason[256] = "";
        const char *name;
        Caller c;
        VM *vm;
        int r;

        /* Parse and validate, then ask polkit, then act. */
        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        if (!vm_name_valid(name))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "name must be 3-63 of a-z, 0-9 and '-', starting and ending with a letter or digit");
        if (vm_name_reserved(name))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "the name 'jobs' is reserved");
        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        strcpy(req->name, name);
        r = parse_create_options(m, req, error);
        if (r < 0)
                return r;

        r = verify(b, m, GOLEM_POLKIT_MANAGE_VMS, name, "create", error);
        if (r <= 0)
                return r < 0 ? r : 1;

        caller_from_message(m, &c);
        r = manager_create_vm(b->manager, &c, req, &vm, NULL, reason, sizeof(reason));
        if (r < 0)
                return bus_error_from_errno(error, r, reason[0] ? reason : NULL);

        r = vm_object_path(vm->record.name, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "o", path);
}

static int method_get_vm(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ProviderBus *b = userdata;
        _cleanup_free_ char *path = NULL;
        const char *name;
        int r;

        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        if (!vm_name_valid(name) || !manager_get_vm(b->manager, name))
                return sd_bus_error_setf(error, error_info(-ENOENT)->bus_error, "No VM named %s", name);
        r = vm_object_path(name, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "o", path);
}

static int method_list_vms(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ProviderBus *b = userdata;
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sso)");
        for (VM *vm = manager_vms(b->manager); r >= 0 && vm; vm = vm->vms_next) {
                _cleanup_free_ char *path = NULL;

                r = vm_object_path(vm->record.name, &path);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "(sso)", vm->record.name, vm_state_to_string(vm->record.state), path);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ProviderBus *b = userdata;
        int r;

        r = verify(b, m, GOLEM_POLKIT_CONFIGURE, NULL, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        const char *why = NULL;

        r = b->reload(b->userdata, &why);
        if (r < 0)
                return sd_bus_error_setf(error, GOLEM_BUS_ERROR_FAILED, "Reload failed: %s",
                                         why ?: strerror(ERRNO_VALUE(r)));
        return sd_bus_reply_method_return(m, NULL);
}

#define MANAGER_STRING_PROPERTY(fn, expr)                                                               \
        static int fn(sd_bus *bus, const char *path, const char *interface, const char *property,      \
                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {                     \
                ProviderBus *b = userdata;                                                              \
                return sd_bus_message_append(reply, "s", strempty(expr));                               \
        }

MANAGER_STRING_PROPERTY(property_get_id, b->manager ? manager_provider_id(b->manager) : NULL)
MANAGER_STRING_PROPERTY(property_get_public_key, b->manager ? manager_public_key(b->manager) : NULL)
MANAGER_STRING_PROPERTY(property_get_name, b->manager ? manager_provider_name(b->manager) : NULL)
MANAGER_STRING_PROPERTY(property_get_country, b->settings ? b->settings->country : NULL)
MANAGER_STRING_PROPERTY(property_get_discovery_url, b->settings ? b->settings->discovery_url : NULL)
MANAGER_STRING_PROPERTY(property_get_public_ip, b->settings ? b->settings->public_ip : NULL)

static int property_get_resource(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = ((ProviderBus *) userdata)->manager;
        Resources total = manager_capacity(m), free = manager_available(m);
        const Resources *r = startswith(property, "Total") ? &total : &free;
        uint64_t v;

        if (endswith(property, "CPU"))
                v = (uint64_t) r->cpu;
        else if (endswith(property, "Memory"))
                v = (uint64_t) r->memory;
        else
                v = (uint64_t) r->storage;
        return sd_bus_message_append(reply, "t", v);
}

static int property_get_vm_count(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", (uint32_t) manager_n_vms(((ProviderBus *) userdata)->manager));
}

static int property_get_advertising(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Advertiser *a = ((ProviderBus *) userdata)->advertiser;

        return sd_bus_message_append(reply, "b", (int) (a && advertiser_get_enabled(a)));
}

static int property_get_last_advertisement(sd_bus *bus, const char *path, const char *interface, const char *property,
                                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Advertiser *a = ((ProviderBus *) userdata)->advertiser;

        return sd_bus_message_append(reply, "t", a ? advertiser_last_success(a) : (uint64_t) 0);
}

static int property_get_advertisement_error(sd_bus *bus, const char *path, const char *interface,
                                            const char *property, sd_bus_message *reply, void *userdata,
                                            sd_bus_error *error) {
        Advertiser *a = ((ProviderBus *) userdata)->advertiser;

        return sd_bus_message_append(reply, "s", strempty(advertiser_last_error(a)));
}

static int property_set_advertising(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *value, void *userdata, sd_bus_error *error) {
        ProviderBus *b = userdata;
        int enable, r;

        /* polkit was asked by the filter before we got here. */
        r = sd_bus_message_read(value, "b", &enable);
        if (r < 0)
                return r;
        if (!b->advertiser)
                return sd_bus_error_set(error, GOLEM_BUS_ERROR_FAILED,
                                        "Advertising is not configured (DiscoveryURL and PublicIP)");
        if (!!enable != advertiser_get_enabled(b->advertiser)) {
                advertiser_set_enabled(b->advertiser, enable);
                log_info("Advertising turned %s over D-Bus.", enable ? "on" : "off");
                (void) sd_bus_emit_properties_changed(bus, GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE, "Advertising", NULL);
        }
        return 0;
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("ProviderID", "s", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* The provider's key ("ssh-ed25519 ... comment"): ProviderID is its identity unless a
         * legacy ProviderID= is set. */
        SD_BUS_PROPERTY("PublicKey", "s", property_get_public_key, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Country", "s", property_get_country, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PublicIP", "s", property_get_public_ip, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DiscoveryURL", "s", property_get_discovery_url, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* Anyone may try: polkit decides (in on_filter()). */
        SD_BUS_WRITABLE_PROPERTY("Advertising", "b", property_get_advertising, property_set_advertising, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("TotalCPU", "t", property_get_resource, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TotalMemory", "t", property_get_resource, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TotalStorage", "t", property_get_resource, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AvailableCPU", "t", property_get_resource, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AvailableMemory", "t", property_get_resource, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AvailableStorage", "t", property_get_resource, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VMCount", "u", property_get_vm_count, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastAdvertisement", "t", property_get_last_advertisement, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("AdvertisementError", "s", property_get_advertisement_error, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_METHOD_WITH_ARGS("CreateVM",
                                SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_RESULT("o", vm),
                                method_create_vm,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetVM",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("o", vm),
                                method_get_vm,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListVMs",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sso)", vms),
                                method_list_vms,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reload", NULL, NULL, method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("VMNew", SD_BUS_ARGS("s", name, "o", vm), 0),
        SD_BUS_SIGNAL_WITH_ARGS("VMRemoved", SD_BUS_ARGS("s", name, "o", vm), 0),
        SD_BUS_VTABLE_END
};

/* ---- the VM interface ---- */

static int property_get_vm(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const VMRecord *r = &((VM *) userdata)->record;

        if (streq(property, "Name"))
                return sd_bus_message_append(reply, "s", r->name);
        if (streq(property, "State"))
                return sd_bus_message_append(reply, "s", vm_state_to_string(r->state));
        if (streq(property, "IPAddress"))
                return sd_bus_message_append(reply, "s", r->ip_address);
        if (streq(property, "SSHPort"))
                return sd_bus_message_append(reply, "q", r->ssh_port);
        if (streq(property, "CPUs"))
                return sd_bus_message_append(reply, "u", (uint32_t) r->resources.cpu);
        if (streq(property, "Memory"))
                return sd_bus_message_append(reply, "t", (uint64_t) r->resources.memory);
        if (streq(property, "Storage"))
                return sd_bus_message_append(reply, "t", (uint64_t) r->resources.storage);
        if (streq(property, "Image"))
                return sd_bus_message_append(reply, "s", r->image);
        if (streq(property, "CreatedAt"))
                return sd_bus_message_append(reply, "t", (uint64_t) r->created_at);
        if (streq(property, "Owner"))
                return sd_bus_message_append(reply, "s", strempty(r->owner));
        if (streq(property, "Error"))
                return sd_bus_message_append(reply, "s", strempty(r->error_message));
        return -ENOENT;
}

static int vm_method(sd_bus_message *m, VM *vm, VMOperation op, sd_bus_error *error) {
        /* The fallback vtable's objects are VMs; its slot holds the front end. */
        ProviderBus *b = sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(m)));
        char name[VM_NAME_MAX + 1];
        Operation *o;
        Caller c;
        int r;

        snprintf(name, sizeof(name), "%s", vm->record.name);
        r = verify(b, m, GOLEM_POLKIT_MANAGE_VMS, name, vm_operation_to_string(op), error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* polkit may have taken a while: the VM may be gone by now. */
        vm = manager_get_vm(b->manager, name);
        if (!vm)
                return sd_bus_error_setf(error, error_info(-ENOENT)->bus_error, "No VM named %s", name);

        caller_from_message(m, &c);
        r = op == VM_OP_START ? manager_start_vm(b->manager, &c, vm, &o) :
            op == VM_OP_STOP ? manager_stop_vm(b->manager, &c, vm, &o) :
                               manager_delete_vm(b->manager, &c, vm, &o);
        if (r == -EBUSY)
                return sd_bus_error_setf(error, error_info(r)->bus_error, "Cannot %s VM %s while it is %s",
                                         vm_operation_to_string(op), name, vm_state_to_string(vm->record.state));
        if (r < 0)
                return bus_error_from_errno(error, r, NULL);

        /* Answered when the operation completes. */
        return reply_when_done(m, o);
}

static int method_start(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return vm_method(m, userdata, VM_OP_START, error);
}

static int method_stop(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return vm_method(m, userdata, VM_OP_STOP, error);
}

static int method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return vm_method(m, userdata, VM_OP_DELETE, error);
}

static const sd_bus_vtable vm_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IPAddress", "s", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SSHPort", "q", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CPUs", "u", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Memory", "t", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Storage", "t", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Image", "s", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CreatedAt", "t", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "s", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Error", "s", property_get_vm, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Start", NULL, NULL, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Stop", NULL, NULL, method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Delete", NULL, NULL, method_delete, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* ---- polkit for the writable property ---- */

/* sd-bus answers a property Set as soon as the setter returns, so the polkit question is
 * asked here, before dispatch: the call is held until polkit answers, then dispatched again. */
static int on_filter(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ProviderBus *b = userdata;
        const char *interface, *property;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        if (!sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "Set") ||
            !streq_ptr(sd_bus_message_get_path(m), GOLEM_BUS_PATH))
                return 0;
        if (sd_bus_message_read(m, "ss", &interface, &property) < 0)
                return 0;
        (void) sd_bus_message_rewind(m, true);
        if (!streq(interface, GOLEM_BUS_MANAGER_INTERFACE) || !streq(property, "Advertising"))
                return 0;

        r = verify(b, m, GOLEM_POLKIT_CONFIGURE, NULL, NULL, &e);
        if (r > 0)
                return 0; /* authorized: dispatch as usual */
        if (r == 0)
                return 1; /* held until polkit answers */
        if (!sd_bus_error_is_set(&e))
                (void) sd_bus_error_set_errno(&e, r);
        (void) sd_bus_reply_method_error(m, &e);
        sd_bus_error_free(&e);
        return 1;
}

/* ---- set-up ---- */

static int bus_add_objects(ProviderBus *b) {
        int r;

        r = sd_bus_add_object_vtable(b->bus, &b->slots[0], GOLEM_BUS_PATH, GOLEM_BUS_MANAGER_INTERFACE, manager_vtable, b);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(b->bus, &b->slots[1], GOLEM_BUS_VM_PREFIX, GOLEM_BUS_VM_INTERFACE, vm_vtable,
                                       vm_object_find, b);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(b->bus, &b->slots[2], GOLEM_BUS_VM_PREFIX, vm_node_enumerator, b);
        if (r < 0)
                return r;
        return sd_bus_add_object_manager(b->bus, &b->slots[3], GOLEM_BUS_PATH);
}

int provider_bus_new(sd_bus *bus, const ProviderBusConfig *c, ProviderBus **ret) {
        _cleanup_(provider_bus_freep) ProviderBus *b = NULL;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->manager = c->manager;
        b->settings = c->settings;
        b->advertiser = c->advertiser;
        b->reload = c->reload;
        b->userdata = c->userdata;
        b->bus = sd_bus_ref(bus);

        r = bus_add_objects(b);
        if (r < 0)
                return r;
        r = sd_bus_add_filter(b->bus, &b->slots[4], on_filter, b);
        if (r < 0)
                return r;
        r = sd_bus_request_name(b->bus, GOLEM_BUS_NAME, 0);
        if (r < 0)
                return r;
        r = manager_add_listener(b->manager, on_vm_event, b);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(b);
        return 0;
}

ProviderBus *provider_bus_free(ProviderBus *b) {
        if (!b)
                return NULL;
        polkit_registry_free(b->polkit);
        for (size_t i = 0; i < ELEMENTSOF(b->slots); i++)
                sd_bus_slot_unref(b->slots[i]);
        sd_bus_unref(b->bus);
        free(b);
        return NULL;
}

/* ---- introspection, for dbus/org.golem.Provider1.xml ---- */

static int introspect_path(sd_bus *client, const char *path, char **ret) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *xml;
        int r;

        r = sd_bus_call_method(client, NULL, path, "org.freedesktop.DBus.Introspectable", "Introspect", &e, &reply, NULL);
        sd_bus_error_free(&e);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &xml);
        if (r >= 0)
                *ret = strdup(xml);
        sd_bus_message_unref(reply);
        return r < 0 ? r : (*ret ? 0 : -ENOMEM);
}

/* Copies the <interface name="NAME"> element out of an introspection document. */
static int write_interface(FILE *f, const char *xml, const char *name) {
        _cleanup_free_ char *open_tag = NULL;
        const char *start, *end;

        if (asprintf(&open_tag, " <interface name=\"%s\">", name) < 0)
                return -ENOMEM;
        start = strstr(xml, open_tag);
        if (!start)
                return -ENOENT;
        end = strstr(start, " </interface>");
        if (!end)
                return -EBADMSG;
        fprintf(f, "%.*s </interface>\n", (int) (end - start), start);
        return 0;
}

int provider_bus_introspect(FILE *f) {
        ProviderBus b = { .introspect_only = true };
        _cleanup_free_ char *manager_xml = NULL, *vm_xml = NULL, *vm_path = NULL;
        sd_bus *client = NULL;
        sd_id128_t id;
        int fds[2], r;
        pid_t pid;

        /* A private connection to ourselves: the server side runs in a child, so sd-bus
         * produces exactly the XML it serves on the system bus. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                return -errno;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                close(fds[1]);
                if (sd_id128_randomize(&id) < 0 || sd_bus_new(&b.bus) < 0 ||
                    sd_bus_set_fd(b.bus, fds[0], fds[0]) < 0 || sd_bus_set_server(b.bus, 1, id) < 0 ||
                    bus_add_objects(&b) < 0 || sd_bus_start(b.bus) < 0)
                        _exit(EXIT_FAILURE);
                for (;;) {
                        r = sd_bus_process(b.bus, NULL);
                        if (r < 0)
                                _exit(EXIT_SUCCESS); /* the parent hung up */
                        if (r == 0 && sd_bus_wait(b.bus, UINT64_MAX) < 0)
                                _exit(EXIT_SUCCESS);
                }
        }

        close(fds[0]);
        r = sd_bus_new(&client);
        if (r >= 0)
                r = sd_bus_set_fd(client, fds[1], fds[1]);
        if (r >= 0)
                r = sd_bus_start(client);
        if (r >= 0)
                r = introspect_path(client, GOLEM_BUS_PATH, &manager_xml);
        if (r >= 0)
                r = vm_object_path("example", &vm_path);
        if (r >= 0)
                r = introspect_path(client, vm_path, &vm_xml);
        sd_bus_flush_close_unref(client);
        (void) waitpid(pid, NULL, 0);
        if (r < 0)
                return r;

        fputs("<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"
              "\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"
              "<!-- Do not edit: printed by golem-providerd, its bus-introspect option (golem-providerd(8)). -->\n"
              "<node>\n", f);
        r = write_interface(f, manager_xml, GOLEM_BUS_MANAGER_INTERFACE);
        if (r >= 0)
                r = write_interface(f, vm_xml, GOLEM_BUS_VM_INTERFACE);
        fputs("</node>\n", f);
        return r;
}
