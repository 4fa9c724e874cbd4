/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "daemon-util.h"
#include "discovery-manager.h"
#include "log.h"

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The VM on Golem discovery service: providers advertise their free resources,\n"
               "requestors find them. Serves HTTP on port %u unless sockets are passed in.\n\n"
               "  -h --help           Show this help\n"
               "     --check-config   Check the configuration, print the effective settings, exit\n"
               "     --version        Show the version\n"
               "     --config=FILE    Read FILE instead of %s\n\n"
               "Configuration comes from the file, its .d/*.conf drop-ins and GOLEM_DISCOVERY_*\n"
               "variables (HOST, PORT, DATABASE_DIR, DATABASE_PATH, RATE_LIMIT_PER_MINUTE,\n"
               "ADVERTISEMENT_TTL, CLEANUP_INTERVAL_SEC, ALLOW_UNSIGNED_ADVERTISEMENTS).\n"
               "See golem-discoveryd(8) and golem-discovery.conf(5).\n",
               program_invocation_short_name, DISCOVERY_DEFAULT_PORT, DISCOVERY_CONFIG_FILE);
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *error = NULL;
        DiscoverySettings settings;
        int r;

        log_setup("golem-discoveryd");

        DaemonArgs args = {
                .name = "golem-discoveryd",
                .help = help,
                .config = DISCOVERY_CONFIG_FILE,
        };

        r = daemon_parse_argv(argc, argv, &args);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = discovery_settings_load(&settings, args.config, &error);
        if (r < 0) {
                log_error("Bad configuration: %s", error ?: strerror(ERRNO_VALUE(r)));
                discovery_settings_done(&settings);
                return EXIT_FAILURE;
        }
        if (args.check_config) {
                r = discovery_settings_dump(&settings, stdout);
                discovery_settings_done(&settings);
                if (r < 0)
                        log_error_errno(r, "Failed to print the settings: %m");
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = manager_new(&settings, &m);
        if (r < 0) {
                discovery_settings_done(&settings);
                log_error_errno(r, "Failed to set up: %m");
                return EXIT_FAILURE;
        }

        r = manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;

        r = manager_run(m);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
