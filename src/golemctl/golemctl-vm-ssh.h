/* SPDX-License-Identifier: MIT */
#pragma once

/* golemctl vm ssh NAME [-- COMMAND...]: runs ssh (golemctl-ssh.h) to the VM's forwarded port. */
int verb_vm_ssh(int argc, char *argv[], void *userdata);
