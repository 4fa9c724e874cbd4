/* SPDX-License-Identifier: MIT */
#pragma once

/* vm ssh-key add, list and remove: the SSH keys that may log in to a VM, kept by its
 * provider (POST/GET/DELETE /api/v1/vms/NAME/ssh-keys). */

int verb_vm_key_add(int argc, char *argv[], void *userdata);
int verb_vm_key_list(int argc, char *argv[], void *userdata);
int verb_vm_key_remove(int argc, char *argv[], void *userdata);
