/* SPDX-License-Identifier: MIT */
#pragma once

/* What every daemon's settings table must follow (included by its config test, after tests.h). */

#include "conf-parser.h"

/* Each variable is named by the rule (config_env_name()): GOLEM_DAEMON_ and the key's words, so
 * that no one has to look up whether it is LAUNCH_TIMEOUT or LAUNCH_TIMEOUT_SEC. */
static inline void assert_env_names_follow_rule(const ConfigItem *items, size_t n, const char *prefix) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *want = NULL;

                TEST_CONTEXT("%s", items[i].key);
                ASSERT_OK(config_env_name(prefix, items[i].key, &want));
                ASSERT_STREQ(items[i].env, want);
                if (items[i].env_old)
                        ASSERT_TRUE(strcmp(items[i].env_old, want) != 0);
        }
        tests_context[0] = 0;
}
