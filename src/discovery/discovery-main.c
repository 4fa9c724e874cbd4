/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>

#include "discovery-manager.h"
#include "log.h"

static bool arg_config_explicit = false;
static const char *arg_config = DISCOVERY_CONFIG_FILE;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The VM on Golem discovery service: providers advertise their free resources,\n"
               "requestors find them. Serves HTTP on port %u unless sockets are passed in.\n\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "     --config=FILE    Read FILE instead of %s\n\n"
               "Configuration comes from the file, its .d/*.conf drop-ins and GOLEM_DISCOVERY_*\n"
               "variables (HOST, PORT, DATABASE_DIR, DATABASE_PATH, RATE_LIMIT_PER_MINUTE,\n"
               "ADVERTISEMENT_TTL, CLEANUP_INTERVAL_SECONDS). See golem-discoveryd(8).\n",
               program_invocation_short_name, DISCOVERY_DEFAULT_PORT, DISCOVERY_CONFIG_FILE);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CONFIG };
        static const struct option options[] = {
                { "help",    no_argument,       NULL, 'h' },
                { "version", no_argument,       NULL, ARG_VERSION },
                { "config",  required_argument, NULL, ARG_CONFIG },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("golem-discoveryd %s\n", GOLEM_VERSION);
                        return 0;
                case ARG_CONFIG:
                        arg_config = optarg;
                        arg_config_explicit = true;
                        break;
                default:
                        return -EINVAL;
                }

        /* The default file may be missing; one named on the command line must be there. */
        if (arg_config_explicit && access(arg_config, R_OK) < 0) {
                log_error_errno(errno, "Cannot read %s: %m", arg_config);
                return -EINVAL;
        }

        if (optind < argc) {
                log_error("%s takes no arguments.", program_invocation_short_name);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *error = NULL;
        DiscoverySettings settings;
        int r;

        log_setup("golem-discoveryd");

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = discovery_settings_load(&settings, arg_config, &error);
        if (r < 0) {
                log_error("Bad configuration: %s", error ?: strerror(ERRNO_VALUE(r)));
                discovery_settings_done(&settings);
                return EXIT_FAILURE;
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
