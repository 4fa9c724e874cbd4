/* SPDX-License-Identifier: MIT */
/* multipass' JSON, as `multipass list --format json` and `multipass info NAME --format json`
 * print it, to multipass_parse_list() and to multipass_parse_info() for the name "web" and
 * for every name the input's "info" object holds (its keys, without "golem-"). Every VM
 * they return must have a valid name, a state from the table and an IP address that is
 * empty or canonical; info must return the VM it was asked for. */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "json-util.h"
#include "provider-driver.h"

/* provider-runner.c's OUTPUT_MAX: the runner keeps no more of a command's output. */
#define INPUT_MAX (1024 * 1024)
#define INFO_NAMES_MAX 8

static void check_vm(const DriverVM *vm) {
        char ip[IP_ADDRESS_MAX];

        fuzz_check(memchr(vm->name, 0, sizeof(vm->name)));
        fuzz_check(vm_name_valid(vm->name));
        fuzz_check(vm->state >= 0 && vm->state < _DRIVER_VM_STATE_MAX);
        fuzz_check(driver_vm_state_to_string(vm->state));
        fuzz_check(memchr(vm->ip_address, 0, sizeof(vm->ip_address)));
        if (vm->ip_address[0]) {
                if (ip_address_canonicalize(vm->ip_address, ip) < 0 || strcmp(ip, vm->ip_address) != 0) {
                        fprintf(stderr, "IP address not canonical: %s\n", vm->ip_address);
                        fuzz_check(!"the IP address is canonical");
                }
        }
}

static void check_list(const uint8_t *data, size_t size) {
        DriverVM *vms = NULL;
        size_t n = SIZE_MAX;
        int r;

        r = multipass_parse_list((const char *) data, size, &vms, &n);
        if (r < 0) {
                if (fuzz_verbose())
                        fprintf(stderr, "list: %s\n", strerror(-r));
                fuzz_check(r == -EBADMSG || r == -ENOMEM || r == -E2BIG);
                fuzz_check(!vms && n == SIZE_MAX);
                return;
        }
        fuzz_check(r == 0 && vms);
        if (fuzz_verbose())
                fprintf(stderr, "list: %zu VMs\n", n);
        for (size_t i = 0; i < n; i++) {
                if (fuzz_verbose())
                        fprintf(stderr, "  %s %s %s\n", vms[i].name, driver_vm_state_to_string(vms[i].state), vms[i].ip_address);
                check_vm(vms + i);
        }
        free(vms);
}

static void check_info(const uint8_t *data, size_t size, const char *name) {
        DriverVM vm;
        int r;

        memset(&vm, 'x', sizeof(vm));
        r = multipass_parse_info((const char *) data, size, name, &vm);
        if (r < 0) {
                if (fuzz_verbose())
                        fprintf(stderr, "info '%s': %s\n", name, strerror(-r));
                fuzz_check(r == -EBADMSG || r == -ENOENT || r == -EINVAL || r == -ENOMEM || r == -E2BIG);
                return;
        }
        fuzz_check(r == 0);
        if (fuzz_verbose())
                fprintf(stderr, "info '%s': %s %s %s\n", name, vm.name, driver_vm_state_to_string(vm.state), vm.ip_address);
        check_vm(&vm);
        /* The VM asked for, no other. */
        if (strcmp(vm.name, name) != 0) {
                fprintf(stderr, "info for '%s' returned '%s'\n", name, vm.name);
                fuzz_check(!"info returns the VM asked for");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_object *o = NULL, *info;
        char *names[INFO_NAMES_MAX];
        size_t n_names = 0;

        if (size > INPUT_MAX)
                return 0;

        check_list(data, size);
        check_info(data, size, "web");

        /* The names the input itself holds: "golem-NAME" and other keys of "info". */
        if (json_parse((const char *) data, size, &o) >= 0 &&
            json_object_object_get_ex(o, "info", &info) && json_object_is_type(info, json_type_object)) {
                json_object_object_foreach(info, key, value) {
                        const char *n = strncmp(key, "golem-", 6) == 0 ? key + 6 : key;

                        (void) value;
                        if (n_names >= INFO_NAMES_MAX)
                                break;
                        names[n_names] = strdup(n);
                        fuzz_check(names[n_names]);
                        n_names++;
                }
        }
        json_object_put(o);

        for (size_t i = 0; i < n_names; i++) {
                check_info(data, size, names[i]);
                free(names[i]);
        }
        return 0;
}
