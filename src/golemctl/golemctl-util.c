/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "golemctl-state.h"
#include "golemctl-util.h"

void context_init(Context *c) {
        *c = (Context) {
                .json = JSON_FORMAT_OFF,
                .legend = true,
                .pager = true,
                .size = _VM_SIZE_INVALID,
                .ask_password = true,
        };
        settings_init(&c->settings);
}

void context_done(Context *c) {
        free(c->provider_id);
        free(c->provider_url);
        free(c->discovery_url);
        free(c->image);
        free(c->ssh_key);
        free(c->user);
        free(c->key_name);
        free(c->host);
        settings_done(&c->settings);
        paths_done(&c->paths);
        if (c->db)
                sqlite3_close_v2(c->db);
        c->db = NULL;
        c->signer = signer_free(c->signer);
}

static void vmessage(const char *format, va_list ap) {
        _cleanup_free_ char *s = NULL;

        /* One write per message, so it does not interleave with others. */
        if (vasprintf(&s, format, ap) < 0)
                return;
        fflush(stdout);
        fprintf(stderr, "golemctl: %s\n", s);
}

int ctl_error(int r, const char *format, ...) {
        va_list ap;

        if (r >= 0)
                r = -EIO;
        errno = r == -EUSAGE ? EINVAL : -r;
        va_start(ap, format);
        vmessage(format, ap);
        va_end(ap);
        return r;
}

int ctl_usage(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vmessage(format, ap);
        va_end(ap);
        return -EUSAGE;
}

void ctl_info(const Context *c, const char *format, ...) {
        va_list ap;

        if (c && c->quiet)
                return;
        va_start(ap, format);
        vmessage(format, ap);
        va_end(ap);
}

void ctl_key_generated(const Context *c, const char *private_path) {
        ctl_info(c, "No SSH key found (~/.ssh/id_ed25519, ~/.ssh/id_rsa): made one for golemctl, %s "
                 "(public half %s.pub). It logs in to your VMs and signs your requests; keep it, or use "
                 "your own with SSHKeyPath= in golemctl.conf or --ssh-key.", private_path, private_path);
}

void ctl_warning(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vmessage(format, ap);
        va_end(ap);
}

int context_load(Context *c) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = paths_init(&c->paths);
        if (r < 0)
                return ctl_error(r, "Cannot find the home directory: set $HOME.");

        r = settings_load(&c->settings, c->paths.config_file, &error);
        if (r < 0)
                return ctl_error(r, "Bad configuration: %s", error ?: strerror(-r));
        return 0;
}

int context_open_state(Context *c, sqlite3 **ret) {
        int r;

        if (!c->db) {
                r = mkdir_parents(c->paths.state_dir, 0700);
                if (r < 0)
                        return ctl_error(r, "Cannot create the state directory %s: %m", c->paths.state_dir);
                r = state_open(c->paths.state_dir, &c->db);
                if (r == -EPROTONOSUPPORT)
                        return ctl_error(r, "The state database %s/%s was written by a newer golemctl.",
                                         c->paths.state_dir, STATE_DB_FILE);
                if (r < 0)
                        return ctl_error(r, "Cannot open the state database %s/%s: %m",
                                         c->paths.state_dir, STATE_DB_FILE);
        }
        *ret = c->db;
        return 0;
}

const char *context_discovery_url(const Context *c) {
        return c->discovery_url ?: c->settings.discovery_url ?: DEFAULT_DISCOVERY_URL;
}

int ctl_show_table(const Context *c, Table *t, const char *legend) {
        _cleanup_free_ char *text = NULL, *all = NULL;
        bool colors = colors_enabled();
        int r;

        table_set_max_width(t, output_width());
        r = table_format(t, c->legend, colors, &text);
        if (r < 0)
                return ctl_error(r, "Cannot format the table: %m");

        if (c->legend && legend) {
                /* With no rows, the header alone says nothing: just the legend. */
                bool any = table_n_rows(t) > 0;

                r = asprintf(&all, "%s%s%s%s%s\n", any ? text : "", any ? "\n" : "",
                             colors ? ANSI_GREY : "", legend, colors ? ANSI_NORMAL : "");
                if (r < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
        }

        r = output_show(all ?: text, c->pager);
        if (r < 0)
                return ctl_error(r, "Cannot write the output: %m");
        return 0;
}

int ctl_show_json(const Context *c, json_object *o) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = json_format_text(o, c->json, &text);
        if (r < 0)
                return ctl_error(r, "Cannot format JSON: %m");
        r = output_show(text, c->pager);
        if (r < 0)
                return ctl_error(r, "Cannot write the output: %m");
        return 0;
}

const char *resources_to_text(const Resources *r, char *buf, size_t size) {
        snprintf(buf, size, "%" PRIi64 " CPU, %" PRIi64 " GB memory, %" PRIi64 " GB storage",
                 r->cpu, r->memory, r->storage);
        return buf;
}
