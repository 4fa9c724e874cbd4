/* SPDX-License-Identifier: MIT */
#pragma once

/* Removes dir and everything below it, without following symbolic links (a link is removed,
 * not what it points to). 0 when it did not exist. */
int rm_rf(const char *dir);
