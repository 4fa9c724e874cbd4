/* SPDX-License-Identifier: MIT */
#include "parse-util.h"
#include "vm-spec.h"

static const char *const vm_size_table[_VM_SIZE_MAX] = {
        [VM_SIZE_SMALL] = "small",
        [VM_SIZE_MEDIUM] = "medium",
        [VM_SIZE_LARGE] = "large",
        [VM_SIZE_XLARGE] = "xlarge",
};

DEFINE_STRING_TABLE_LOOKUP(vm_size, VMSize);

Resources vm_size_resources(VMSize s) {
        static const Resources table[_VM_SIZE_MAX] = {
                [VM_SIZE_SMALL] = { 1, 1, 10 },
                [VM_SIZE_MEDIUM] = { 2, 4, 20 },
                [VM_SIZE_LARGE] = { 4, 8, 40 },
                [VM_SIZE_XLARGE] = { 8, 16, 80 },
        };
        return s >= 0 && s < _VM_SIZE_MAX ? table[s] : (Resources) {};
}

bool vm_image_valid(const char *s) {
        /* Starts alphanumeric, so it can never be taken for an option. */
        return token_valid(s, VM_IMAGE_MAX, ":._-") && s[0] != '-' && s[0] != '.' && s[0] != ':';
}
