/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "daemon-util.h"
#include "log.h"
#include "macro.h"

static DaemonStopFn stop_fn = NULL;
static void *stop_userdata = NULL;
static bool stopping = false;

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        sd_event *e = sd_event_source_get_event(s);

        log_debug("Received signal %u, shutting down.", si->ssi_signo);
        daemon_notify_stopping();
        if (stop_fn && !stopping) {
                stopping = true;
                stop_fn(e, stop_userdata);
                return 0;
        }
        return sd_event_exit(e, 0);
}

/* The soft limit on descriptors up to the hard one: the daemons poll with epoll only, and
 * the HTTP server sizes how many clients it holds from it. */
static void rlimit_nofile_raise(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_debug_errno(errno, "Cannot raise the limit on open files, ignoring: %m");
}

int daemon_setup_event(sd_event **ret, DaemonStopFn on_stop, void *userdata) {
        sd_event *e = NULL;
        sigset_t mask;
        int r;

        rlimit_nofile_raise();

        r = sd_event_default(&e);
        if (r < 0)
                return r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP); /* a daemon that wants it handles it; else it is ignored */
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                r = -errno;
                goto fail;
        }
        /* A client that goes away mid-write must not kill us. */
        (void) signal(SIGPIPE, SIG_IGN);

        r = sd_event_add_signal(e, NULL, SIGTERM, on_exit_signal, NULL);
        if (r < 0)
                goto fail;
        r = sd_event_add_signal(e, NULL, SIGINT, on_exit_signal, NULL);
        if (r < 0)
                goto fail;
        r = sd_event_set_watchdog(e, true);
        if (r < 0)
                goto fail;

        stop_fn = on_stop;
        stop_userdata = userdata;
        *ret = e;
        return 0;
fail:
        sd_event_unref(e);
        return r;
}

void daemon_notify_ready(const char *status) {
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", strempty(status));
}

void daemon_notify_status(const char *status) {
        (void) sd_notifyf(false, "STATUS=%s", strempty(status));
}

void daemon_notify_stopping(void) {
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down.");
}

int daemon_parse_argv(int argc, char *argv[], DaemonArgs *a) {
        enum { ARG_VERSION = 0x100, ARG_CONFIG, ARG_BUS_INTROSPECT, ARG_CHECK_CONFIG };
        static const struct option options[] = {
                { "help",           no_argument,       NULL, 'h' },
                { "version",        no_argument,       NULL, ARG_VERSION },
                { "config",         required_argument, NULL, ARG_CONFIG },
                { "bus-introspect", no_argument,       NULL, ARG_BUS_INTROSPECT },
                { "check-config",   no_argument,       NULL, ARG_CHECK_CONFIG },
                {}
        };
        bool explicit_config = false;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        a->help();
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", a->name, GOLEM_VERSION);
                        return 0;
                case ARG_CONFIG:
                        a->config = optarg;
                        explicit_config = true;
                        break;
                case ARG_BUS_INTROSPECT:
                        if (!a->accept_bus_introspect) {
                                log_error("%s has no D-Bus API.", a->name);
                                return -EINVAL;
                        }
                        a->bus_introspect = true;
                        break;
                case ARG_CHECK_CONFIG:
                        a->check_config = true;
                        break;
                default:
                        return -EINVAL;
                }

        if (explicit_config && access(a->config, R_OK) < 0) {
                log_error_errno(errno, "Cannot read %s: %m", a->config);
                return -EINVAL;
        }
        if (optind < argc) {
                log_error("%s takes no arguments.", a->name);
                return -EINVAL;
        }
        return 1;
}
