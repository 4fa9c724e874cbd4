/* SPDX-License-Identifier: MIT */
#pragma once

/* golemctl vm list: every VM recorded here, with what its provider says (--local: the records
 * alone). golemctl vm status NAME: one of them in full. */
int verb_vm_list(int argc, char *argv[], void *userdata);
int verb_vm_status(int argc, char *argv[], void *userdata);
