/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/* What a VM is made of on the wire, shared by the provider (which checks a create request) and
 * golemctl (which builds one): resources, the named sizes, their limits, image names. */

typedef struct Resources {
        int64_t cpu;      /* cores */
        int64_t memory;   /* GB */
        int64_t storage;  /* GB */
} Resources;

typedef enum VMSize {
        VM_SIZE_SMALL,
        VM_SIZE_MEDIUM,
        VM_SIZE_LARGE,
        VM_SIZE_XLARGE,
        _VM_SIZE_MAX,
        _VM_SIZE_INVALID = -EINVAL,
} VMSize;

DECLARE_STRING_TABLE_LOOKUP(vm_size, VMSize);
/* small 1 CPU/1 GB/10 GB, medium 2/4/20, large 4/8/40, xlarge 8/16/80; all zero for an invalid size. */
Resources vm_size_resources(VMSize s);

#define VM_IMAGE_MAX 128
#define VM_CPU_MAX 256
#define VM_MEMORY_MAX 4096   /* GB */
#define VM_STORAGE_MAX 65536 /* GB */

/* An image name as multipass and the qemu driver take it: "ubuntu:24.04", "24.04", "noble". */
bool vm_image_valid(const char *s);
