/* SPDX-License-Identifier: MIT */
#pragma once

/* The local provider's admin verbs, over the system bus (org.golem.Provider1); -H reaches a
 * remote provider's bus over ssh. Changes are checked by polkit in the daemon: on a terminal
 * golemctl starts a polkit agent so a password can be asked, unless --no-ask-password. */

int verb_provider_status(int argc, char *argv[], void *userdata);
int verb_provider_vms(int argc, char *argv[], void *userdata);
int verb_provider_advertise(int argc, char *argv[], void *userdata);
int verb_provider_vm_operation(int argc, char *argv[], void *userdata);
