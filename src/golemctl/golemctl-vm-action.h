/* SPDX-License-Identifier: MIT */
#pragma once

/* golemctl vm start|stop NAME (answered once the VM settled) and vm destroy NAME (which also
 * forgets the record; --force even when the provider cannot say). */
int verb_vm_start(int argc, char *argv[], void *userdata);
int verb_vm_stop(int argc, char *argv[], void *userdata);
int verb_vm_destroy(int argc, char *argv[], void *userdata);
