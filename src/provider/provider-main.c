/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>

#include "log.h"
#include "provider-bus.h"
#include "provider-manager.h"

static bool arg_config_explicit = false;
static const char *arg_config = PROVIDER_CONFIG_FILE;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The VM on Golem provider daemon: rents out VMs on this machine over a REST API\n"
               "(port %u unless sockets are passed in) and advertises free resources.\n\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "     --config=FILE    Read FILE instead of %s\n"
               "     --bus-introspect Print the D-Bus introspection data and exit\n\n"
               "Configuration comes from the file, its .d/*.conf drop-ins and GOLEM_PROVIDER_*\n"
               "variables. See golem-providerd(8) and golem-provider.conf(5).\n",
               program_invocation_short_name, PROVIDER_DEFAULT_PORT, PROVIDER_CONFIG_FILE);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CONFIG, ARG_BUS_INTROSPECT };
        static const struct option options[] = {
                { "help",    no_argument,       NULL, 'h' },
                { "version", no_argument,       NULL, ARG_VERSION },
                { "config",  required_argument, NULL, ARG_CONFIG },
                { "bus-introspect", no_argument, NULL, ARG_BUS_INTROSPECT },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("golem-providerd %s\n", GOLEM_VERSION);
                        return 0;
                case ARG_CONFIG:
                        arg_config = optarg;
                        arg_config_explicit = true;
                        break;
                case ARG_BUS_INTROSPECT: {
                        int r = provider_bus_introspect(stdout);
                        if (r < 0) {
                                log_error_errno(r, "Failed to introspect: %m");
                                return r;
                        }
                        return 0;
                }
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
        ProviderSettings settings;
        int r;

        log_setup("golem-providerd");

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = provider_settings_load(&settings, arg_config, &error);
        if (r < 0) {
                log_error("Bad configuration: %s", error ?: strerror(ERRNO_VALUE(r)));
                provider_settings_done(&settings);
                return EXIT_FAILURE;
        }

        r = manager_new(&settings, &m);
        if (r < 0) {
                provider_settings_done(&settings);
                log_error_errno(r, "Failed to set up: %m");
                return EXIT_FAILURE;
        }

        m->config_path = arg_config;
        /* Started by dbus-daemon itself (not through systemd): without the bus we are useless. */
        m->bus_activated = getenv("DBUS_STARTER_BUS_TYPE");
        r = manager_start(m);
        if (r < 0)
                return EXIT_FAILURE;

        r = manager_run(m);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
