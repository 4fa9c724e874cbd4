/* SPDX-License-Identifier: MIT */
#include <signal.h>
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

int daemon_setup_event(sd_event **ret, DaemonStopFn on_stop, void *userdata) {
        sd_event *e = NULL;
        sigset_t mask;
        int r;

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

void daemon_notify_stopping(void) {
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down.");
}
