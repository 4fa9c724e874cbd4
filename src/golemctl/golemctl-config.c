/* SPDX-License-Identifier: MIT */
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf-parser.h"
#include "golemctl-config.h"
#include "golemctl-http.h"

static int parse_url(const ConfigItem *item, const char *value, void *data) {
        if (!http_url_valid(value))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_key_path(const ConfigItem *item, const char *value, void *data) {
        if (isempty(value))
                return free_and_strdup(data, NULL);
        if (strlen(value) >= 4096)
                return -EINVAL;
        for (const char *p = value; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return -EINVAL;
        return free_and_strdup(data, value);
}

static const ConfigItem settings_items[] = {
        { "Requestor", "DiscoveryURL", "GOLEM_REQUESTOR_DISCOVERY_URL", parse_url,
          offsetof(Settings, discovery_url) },
        { "Requestor", "SSHKeyPath", "GOLEM_REQUESTOR_SSH_KEY_PATH", parse_key_path,
          offsetof(Settings, ssh_key_path) },
        { "Requestor", "ProviderPort", "GOLEM_REQUESTOR_PROVIDER_PORT", config_parse_port,
          offsetof(Settings, provider_port) },
};

void settings_init(Settings *s) {
        *s = (Settings) {
                .provider_port = DEFAULT_PROVIDER_PORT,
        };
}

void settings_done(Settings *s) {
        free(s->discovery_url);
        free(s->ssh_key_path);
        *s = (Settings) {};
}

int settings_load(Settings *s, const char *path, char **ret_error) {
        int r;

        r = config_load(settings_items, ELEMENTSOF(settings_items), path, s, ret_error);
        if (r < 0)
                return r;
        if (!s->discovery_url) {
                s->discovery_url = strdup(DEFAULT_DISCOVERY_URL);
                if (!s->discovery_url)
                        return -ENOMEM;
        }
        return 0;
}

static const char *absolute_env(const char *name) {
        const char *e = getenv(name);

        return e && e[0] == '/' ? e : NULL;
}

static int xdg_dir(const char *env, const char *home, const char *fallback, const char *suffix, char **ret) {
        const char *e = absolute_env(env);
        int r;

        r = e ? asprintf(ret, "%s/%s", e, suffix) : asprintf(ret, "%s/%s/%s", home, fallback, suffix);
        return r < 0 ? -ENOMEM : 0;
}

int paths_init(Paths *p) {
        const char *home = absolute_env("HOME");
        Paths t = {};
        int r;

        if (!home) {
                struct passwd *pw = getpwuid(getuid());

                if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
                        return -ENXIO;
                home = pw->pw_dir;
        }

        t.home = strdup(home);
        if (!t.home)
                return -ENOMEM;
        r = xdg_dir("XDG_CONFIG_HOME", home, ".config", "golem/golemctl.conf", &t.config_file);
        if (r >= 0)
                r = xdg_dir("XDG_STATE_HOME", home, ".local/state", "golem", &t.state_dir);
        if (r >= 0)
                r = xdg_dir("XDG_DATA_HOME", home, ".local/share", "golem", &t.data_dir);
        if (r < 0) {
                paths_done(&t);
                return r;
        }
        *p = t;
        return 0;
}

void paths_done(Paths *p) {
        free(p->home);
        free(p->config_file);
        free(p->state_dir);
        free(p->data_dir);
        *p = (Paths) {};
}

int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *copy = strdup(path);
        struct stat st;

        if (!copy)
                return -ENOMEM;

        for (char *p = copy + 1;; p++) {
                bool end = *p == 0;

                if (*p != '/' && !end)
                        continue;
                *p = 0;
                if (mkdir(copy, mode) < 0 && errno != EEXIST)
                        return -errno;
                if (end)
                        break;
                *p = '/';
        }
        if (stat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
