/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "daemon-util.h"
#include "log.h"
#include "provider-bus.h"
#include "provider-daemon.h"

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The VM on Golem provider daemon: rents out VMs on this machine over a REST API\n"
               "(port %u unless sockets are passed in) and advertises free resources.\n\n"
               "  -h --help           Show this help\n"
               "     --check-config   Check the configuration, print the effective settings, exit\n"
               "     --version        Show the version\n"
               "     --config=FILE    Read FILE instead of %s\n"
               "     --bus-introspect Print the D-Bus introspection data and exit\n\n"
               "Configuration comes from the file, its .d/*.conf drop-ins and GOLEM_PROVIDER_*\n"
               "variables. See golem-providerd(8) and golem-provider.conf(5).\n",
               program_invocation_short_name, PROVIDER_DEFAULT_PORT, PROVIDER_CONFIG_FILE);
}

int main(int argc, char *argv[]) {
        _cleanup_(provider_daemon_freep) ProviderDaemon *d = NULL;
        _cleanup_free_ char *error = NULL;
        ProviderSettings settings;
        int r;

        log_setup("golem-providerd");

        DaemonArgs args = {
                .name = "golem-providerd",
                .help = help,
                .config = PROVIDER_CONFIG_FILE,
                .accept_bus_introspect = true,
        };

        r = daemon_parse_argv(argc, argv, &args);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (args.bus_introspect) {
                r = provider_bus_introspect(stdout);
                if (r < 0)
                        log_error_errno(r, "Failed to introspect: %m");
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = provider_settings_load(&settings, args.config, &error);
        if (r < 0) {
                log_error("Bad configuration: %s", error ?: strerror(ERRNO_VALUE(r)));
                provider_settings_done(&settings);
                return EXIT_FAILURE;
        }
        if (args.check_config) {
                r = provider_settings_dump(&settings, stdout);
                provider_settings_done(&settings);
                if (r < 0)
                        log_error_errno(r, "Failed to print the settings: %m");
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = provider_daemon_new(&settings, args.config, &d);
        if (r < 0) {
                provider_settings_done(&settings);
                log_error_errno(r, "Failed to set up: %m");
                return EXIT_FAILURE;
        }
        r = provider_daemon_start(d);
        if (r < 0)
                return EXIT_FAILURE;
        r = provider_daemon_run(d);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
