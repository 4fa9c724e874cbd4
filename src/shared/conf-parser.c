/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf-parser.h"
#include "macro.h"
#include "parse-util.h"
#include "validate.h"

#define LINE_MAX_LEN 4096

static int set_error(char **ret_error, const char *format, ...) _printf_(2, 3);
static int set_error(char **ret_error, const char *format, ...) {
        va_list ap;

        if (ret_error) {
                free(*ret_error);
                va_start(ap, format);
                if (vasprintf(ret_error, format, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n", e[-1]))
                *--e = 0;
        return s;
}

static const char *value_error(int r) {
        return r == -ERANGE ? "value out of range" : "invalid value";
}

static const ConfigItem *find_item(const ConfigItem *items, size_t n, const char *section, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (streq(items[i].section, section) && streq(items[i].key, key))
                        return items + i;
        return NULL;
}

int config_parse_file(const ConfigItem *items, size_t n_items, const char *path, void *settings, char **ret_error) {
        _cleanup_free_ char *section = NULL, *line = NULL;
        size_t allocated = 0;
        unsigned line_no = 0;
        ssize_t len;
        struct stat st;
        FILE *f;
        int r = 0;

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT)
                        return 0;
                return set_error(ret_error, "%s: cannot read: %m", path);
        }
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
                fclose(f);
                return set_error(ret_error, "%s: not a regular file", path);
        }

        while ((len = getline(&line, &allocated, f)) >= 0) {
                const ConfigItem *item;
                char *l, *eq, *key, *value;

                line_no++;
                if (len > LINE_MAX_LEN) {
                        r = set_error(ret_error, "%s:%u: line too long", path, line_no);
                        break;
                }
                if (memchr(line, 0, (size_t) len)) {
                        r = set_error(ret_error, "%s:%u: line contains a NUL byte", path, line_no);
                        break;
                }

                l = strip(line);
                if (!*l || *l == '#' || *l == ';')
                        continue;

                if (*l == '[') {
                        size_t n = strlen(l);

                        if (n < 3 || l[n - 1] != ']') {
                                r = set_error(ret_error, "%s:%u: invalid section header '%s'", path, line_no, l);
                                break;
                        }
                        l[n - 1] = 0;
                        if (free_and_strdup(&section, l + 1) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        continue;
                }

                eq = strchr(l, '=');
                if (!eq) {
                        r = set_error(ret_error, "%s:%u: missing '=' in '%s'", path, line_no, l);
                        break;
                }
                *eq = 0;
                key = strip(l);
                value = strip(eq + 1);

                if (!section) {
                        r = set_error(ret_error, "%s:%u: key '%s' outside of any section", path, line_no, key);
                        break;
                }
                item = find_item(items, n_items, section, key);
                if (!item) {
                        r = set_error(ret_error, "%s:%u: unknown key '%s' in section [%s]", path, line_no, key, section);
                        break;
                }
                r = item->parse(item, value, (uint8_t *) settings + item->offset);
                if (r < 0) {
                        r = set_error(ret_error, "%s:%u: %s=%s: %s", path, line_no, key,
                                      item->secret ? "(hidden)" : value, value_error(r));
                        break;
                }
        }
        if (r >= 0 && ferror(f))
                r = set_error(ret_error, "%s: read error", path);
        fclose(f);
        return r;
}

static int dropin_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".conf");
}

int config_load(const ConfigItem *items, size_t n_items, const char *path, void *settings, char **ret_error) {
        _cleanup_free_ char *dir = NULL;
        struct dirent **list = NULL;
        int n, r;

        if (path) {
                r = config_parse_file(items, n_items, path, settings, ret_error);
                if (r < 0)
                        return r;

                if (asprintf(&dir, "%s.d", path) < 0)
                        return -ENOMEM;
                n = scandir(dir, &list, dropin_filter, alphasort);
                for (int i = 0; i < n; i++) {
                        _cleanup_free_ char *p = NULL;

                        if (r >= 0) {
                                if (asprintf(&p, "%s/%s", dir, list[i]->d_name) < 0)
                                        r = -ENOMEM;
                                else
                                        r = config_parse_file(items, n_items, p, settings, ret_error);
                        }
                        free(list[i]);
                }
                free(list);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < n_items; i++) {
                const char *v;

                const char *name = items[i].env;

                if (!name)
                        continue;
                v = getenv(name);
                if (!v && items[i].env_old)
                        v = getenv(name = items[i].env_old);
                if (!v)
                        continue;
                r = items[i].parse(items + i, v, (uint8_t *) settings + items[i].offset);
                if (r < 0)
                        return set_error(ret_error, "%s=%s: %s", name, items[i].secret ? "(hidden)" : v,
                                         value_error(r));
        }
        return 0;
}

int config_parse_string(const ConfigItem *item, const char *value, void *data) {
        return free_and_strdup(data, isempty(value) ? NULL : value);
}

int config_parse_uint64(const ConfigItem *item, const char *value, void *data) {
        uint64_t v;
        int r;

        r = parse_uint_range(value, item->min, item->max ?: UINT64_MAX, &v);
        if (r < 0)
                return r;
        *(uint64_t *) data = v;
        return 0;
}

int config_parse_unsigned(const ConfigItem *item, const char *value, void *data) {
        uint64_t v;
        int r;

        r = parse_uint_range(value, item->min, MIN(item->max ?: UINT32_MAX, (uint64_t) UINT32_MAX), &v);
        if (r < 0)
                return r;
        *(unsigned *) data = (unsigned) v;
        return 0;
}

int config_parse_port(const ConfigItem *item, const char *value, void *data) {
        return parse_port(value, data);
}

int config_parse_bool(const ConfigItem *item, const char *value, void *data) {
        int r = parse_boolean(value);

        if (r < 0)
                return r;
        *(bool *) data = r;
        return 0;
}

int config_parse_ip_address(const ConfigItem *item, const char *value, void *data) {
        char buf[IP_ADDRESS_MAX];

        if (ip_address_canonicalize(value, buf) < 0)
                return -EINVAL;
        return free_and_strdup(data, buf);
}

int config_parse_path(const ConfigItem *item, const char *value, void *data) {
        if (isempty(value) || value[0] != '/' || strlen(value) >= 4096)
                return -EINVAL;
        return free_and_strdup(data, value);
}

int config_env_name(const char *prefix, const char *key, char **ret) {
        size_t n = strlen(key), k = strlen(prefix);
        char *s = malloc(k + 2 * n + 1);

        if (!s)
                return -ENOMEM;
        memcpy(s, prefix, k);
        for (size_t i = 0; i < n; i++) {
                bool upper = key[i] >= 'A' && key[i] <= 'Z';
                bool after_lower = i > 0 && !(key[i - 1] >= 'A' && key[i - 1] <= 'Z');
                /* "VMData": the D starts a word; "VMs": the s ends the acronym's plural. */
                bool acronym_ends = i > 0 && i + 1 < n && key[i - 1] >= 'A' && key[i - 1] <= 'Z' &&
                                    key[i + 1] >= 'a' && key[i + 1] <= 'z' && !(key[i + 1] == 's' &&
                                    (i + 2 == n || (key[i + 2] >= 'A' && key[i + 2] <= 'Z')));

                if (upper && (after_lower || acronym_ends))
                        s[k++] = '_';
                s[k++] = (char) (key[i] >= 'a' && key[i] <= 'z' ? key[i] - 'a' + 'A' : key[i]);
        }
        s[k] = 0;
        *ret = s;
        return 0;
}

int config_format_string(const void *data, char **ret) {
        const char *s = *(char *const *) data;

        *ret = NULL;
        return s && !(*ret = strdup(s)) ? -ENOMEM : 0;
}

int config_format_uint64(const void *data, char **ret) {
        return asprintf(ret, "%" PRIu64, *(const uint64_t *) data) < 0 ? -ENOMEM : 0;
}

int config_format_unsigned(const void *data, char **ret) {
        return asprintf(ret, "%u", *(const unsigned *) data) < 0 ? -ENOMEM : 0;
}

int config_format_port(const void *data, char **ret) {
        uint16_t port = *(const uint16_t *) data;

        *ret = NULL;
        return port > 0 && asprintf(ret, "%u", (unsigned) port) < 0 ? -ENOMEM : 0;
}

int config_format_bool(const void *data, char **ret) {
        *ret = strdup(*(const bool *) data ? "yes" : "no");
        return *ret ? 0 : -ENOMEM;
}

ConfigFormatter config_formatter(const ConfigItem *item, const ConfigFormat *formats, size_t n_formats) {
        static const ConfigFormat shared[] = {
                { config_parse_string,     config_format_string },
                { config_parse_uint64,     config_format_uint64 },
                { config_parse_unsigned,   config_format_unsigned },
                { config_parse_port,       config_format_port },
                { config_parse_bool,       config_format_bool },
                { config_parse_ip_address, config_format_string },
                { config_parse_path,       config_format_string },
        };

        for (size_t i = 0; i < ELEMENTSOF(shared); i++)
                if (shared[i].parser == item->parse)
                        return shared[i].format;
        for (size_t i = 0; i < n_formats; i++)
                if (formats[i].parser == item->parse)
                        return formats[i].format;
        return NULL;
}

int config_dump(const ConfigItem *items, size_t n_items, const void *settings, const ConfigFormat *formats,
                size_t n_formats, FILE *f) {
        const char *section = NULL;

        for (size_t i = 0; i < n_items; i++) {
                ConfigFormatter format = config_formatter(items + i, formats, n_formats);
                _cleanup_free_ char *value = NULL;
                int r;

                if (!format)
                        return -EOPNOTSUPP;
                r = format((const uint8_t *) settings + items[i].offset, &value);
                if (r < 0)
                        return r;
                if (!streq_ptr(section, items[i].section))
                        fprintf(f, "%s[%s]\n", section ? "\n" : "", items[i].section);
                section = items[i].section;
                fprintf(f, "%s%s=%s\n", value ? "" : "#", items[i].key, strempty(value));
        }
        return fflush(f) == 0 ? 0 : -errno;
}
