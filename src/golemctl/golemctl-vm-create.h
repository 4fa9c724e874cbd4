/* SPDX-License-Identifier: MIT */
#pragma once

/* golemctl vm create NAME: on the provider named, at the URL given, or the best fit. */
int verb_vm_create(int argc, char *argv[], void *userdata);
