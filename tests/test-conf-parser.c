/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <sys/stat.h>

#include "conf-parser.h"
#include "macro.h"
#include "tests.h"

typedef struct Settings {
        char *name;
        uint64_t big;
        unsigned small;
        uint16_t port;
        bool flag;
        char *address;
        char *path;
} Settings;

#define ENV_PREFIX "GOLEM_TEST_CONF_"

static const ConfigItem items[] = {
        { "Main", "Name",    ENV_PREFIX "NAME",    config_parse_string,     offsetof(Settings, name) },
        { "Main", "Big",     ENV_PREFIX "BIG",     config_parse_uint64,     offsetof(Settings, big), 1, 1000 },
        { "Main", "Small",   ENV_PREFIX "SMALL",   config_parse_unsigned,   offsetof(Settings, small), 0, 0 },
        { "Net",  "Port",    ENV_PREFIX "PORT",    config_parse_port,       offsetof(Settings, port) },
        { "Net",  "Flag",    NULL,                 config_parse_bool,       offsetof(Settings, flag) },
        { "Net",  "Address", ENV_PREFIX "ADDRESS", config_parse_ip_address, offsetof(Settings, address) },
        { "Net",  "Path",    ENV_PREFIX "PATH",    config_parse_path,       offsetof(Settings, path) },
};

static const char *const env_names[] = {
        ENV_PREFIX "NAME", ENV_PREFIX "BIG", ENV_PREFIX "SMALL", ENV_PREFIX "PORT",
        ENV_PREFIX "ADDRESS", ENV_PREFIX "PATH",
};

static void settings_done(Settings *s) {
        free(s->name);
        free(s->address);
        free(s->path);
        *s = (Settings) {};
}

static void env_clear(void) {
        for (size_t i = 0; i < ELEMENTSOF(env_names); i++)
                unsetenv(env_names[i]);
}

/* Loads dir/name (and its drop-ins and the environment) into fresh defaults. */
static int load(const char *dir, const char *name, Settings *s, char **error) {
        _cleanup_free_ char *p = test_path_join(dir, name);

        *s = (Settings) { .port = 7, .big = 5 };
        s->name = strdup("default");
        ASSERT_NOT_NULL(s->name);
        free(*error);
        *error = NULL;
        return config_load(items, ELEMENTSOF(items), p, s, error);
}

TEST(missing_file) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL;
        Settings s;

        env_clear();
        ASSERT_OK(load(dir, "nonexistent.conf", &s, &error));
        ASSERT_NULL(error);
        ASSERT_STREQ(s.name, "default");
        ASSERT_EQ_INT(s.port, 7);
        ASSERT_EQ_UINT(s.big, 5);
        settings_done(&s);

        /* No path at all: only the environment. */
        setenv(ENV_PREFIX "PORT", "8080", 1);
        s = (Settings) {};
        ASSERT_OK(config_load(items, ELEMENTSOF(items), NULL, &s, &error));
        ASSERT_EQ_INT(s.port, 8080);
        env_clear();
        settings_done(&s);

        test_rm_rf(dir);
}

TEST(every_parser) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *f = NULL;
        Settings s;

        env_clear();
        f = test_write_text(dir, "a.conf",
                       "# A comment\n"
                       "; another comment\n"
                       "\n"
                       "   \t\n"
                       "[Main]\n"
                       "Name=hello world\n"
                       "Big=1000\n"
                       "Small=4294967295\n"
                       "  # an indented comment\n"
                       "[Net]\n"
                       "Port=9001\n"
                       "Flag=yes\n"
                       "Address=2001:DB8:0:0::1\n"
                       "Path=/var/lib/x\n");
        ASSERT_OK(load(dir, "a.conf", &s, &error));
        ASSERT_NULL(error);
        ASSERT_STREQ(s.name, "hello world");
        ASSERT_EQ_UINT(s.big, 1000);
        ASSERT_EQ_UINT(s.small, 4294967295U);
        ASSERT_EQ_INT(s.port, 9001);
        ASSERT_TRUE(s.flag);
        ASSERT_STREQ(s.address, "2001:db8::1"); /* canonical */
        ASSERT_STREQ(s.path, "/var/lib/x");
        settings_done(&s);

        test_rm_rf(dir);
}

TEST(whitespace) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *f = NULL;
        Settings s;

        env_clear();
        /* Spaces and tabs around keys, '=' and values; CRLF line ends; '=' in a value;
         * an empty value resets a string; a section may come twice; no final newline. */
        f = test_write_text(dir, "a.conf",
                       "  [Main]  \r\n"
                       "\tName = a=b \r\n"
                       "Big\t=\t7\r\n"
                       "[Net]\n"
                       "Flag= off\n"
                       "[Main]\n"
                       "Small =12\n"
                       "Name=\n"
                       "[Net]\n"
                       "Port=80");
        ASSERT_OK(load(dir, "a.conf", &s, &error));
        ASSERT_NULL(s.name);
        ASSERT_EQ_UINT(s.big, 7);
        ASSERT_EQ_UINT(s.small, 12);
        ASSERT_FALSE(s.flag);
        ASSERT_EQ_INT(s.port, 80);
        settings_done(&s);

        free(test_write_text(dir, "b.conf", "[Main]\n  Name  =  a = b  \n"));
        ASSERT_OK(load(dir, "b.conf", &s, &error));
        ASSERT_STREQ(s.name, "a = b");
        settings_done(&s);

        test_rm_rf(dir);
}

TEST(dropins) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *d = NULL;
        Settings s;

        env_clear();
        free(test_write_text(dir, "main.conf",
                        "[Main]\nName=main\nBig=1\nSmall=1\n[Net]\nPort=1\nFlag=yes\n"));
        d = test_path_join(dir, "main.conf.d");
        ASSERT_OK(mkdir(d, 0755));
        /* Applied in lexical order, each overriding what came before: "10-" < "50-" < "9-". */
        free(test_write_text(d, "50-b.conf", "[Net]\nPort=50\n[Main]\nBig=50\n"));
        free(test_write_text(d, "10-a.conf", "[Net]\nPort=10\n[Main]\nBig=10\nSmall=10\n"));
        free(test_write_text(d, "9-c.conf", "[Net]\nPort=9\n"));
        /* Not drop-ins: other suffixes, hidden files, a bare ".conf". */
        free(test_write_text(d, "99-x.conf.disabled", "[Net]\nPort=99\n"));
        free(test_write_text(d, "99-y.conf~", "[Net]\nPort=98\n"));
        free(test_write_text(d, "99-z.CONF", "[Net]\nPort=97\n"));
        free(test_write_text(d, "README", "this is not a config file\n"));
        free(test_write_text(d, ".99-hidden.conf", "[Net]\nPort=96\n"));
        free(test_write_text(d, ".conf", "[Net]\nPort=95\n"));

        ASSERT_OK(load(dir, "main.conf", &s, &error));
        ASSERT_NULL(error);
        ASSERT_EQ_INT(s.port, 9);       /* 9-c.conf is last */
        ASSERT_EQ_UINT(s.big, 50);      /* 50-b.conf */
        ASSERT_EQ_UINT(s.small, 10);    /* 10-a.conf */
        ASSERT_STREQ(s.name, "main");   /* only in the main file */
        ASSERT_TRUE(s.flag);
        settings_done(&s);

        /* config_parse_file() reads one file only. */
        {
                _cleanup_free_ char *p = test_path_join(dir, "main.conf");

                s = (Settings) {};
                ASSERT_OK(config_parse_file(items, ELEMENTSOF(items), p, &s, &error));
                ASSERT_EQ_INT(s.port, 1);
                settings_done(&s);
        }

        /* Drop-ins apply even without the main file. */
        {
                _cleanup_free_ char *other = test_path_join(dir, "other.conf.d");

                ASSERT_OK(rename(d, other));
        }
        ASSERT_OK(load(dir, "other.conf", &s, &error));
        ASSERT_EQ_INT(s.port, 9);
        ASSERT_STREQ(s.name, "default");
        settings_done(&s);

        test_rm_rf(dir);
}

TEST(environment) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *d = NULL;
        Settings s;

        env_clear();
        free(test_write_text(dir, "main.conf",
                        "[Main]\nName=main\nBig=1\n[Net]\nPort=1\nAddress=192.0.2.1\n"));
        d = test_path_join(dir, "main.conf.d");
        ASSERT_OK(mkdir(d, 0755));
        free(test_write_text(d, "a.conf", "[Net]\nPort=2\n"));

        /* The environment overrides the file and the drop-ins. */
        setenv(ENV_PREFIX "PORT", "3", 1);
        setenv(ENV_PREFIX "NAME", "from env", 1);
        setenv(ENV_PREFIX "ADDRESS", "::FFFF:192.0.2.1", 1);
        ASSERT_OK(load(dir, "main.conf", &s, &error));
        ASSERT_EQ_INT(s.port, 3);
        ASSERT_STREQ(s.name, "from env");
        ASSERT_STREQ(s.address, "::ffff:192.0.2.1");
        ASSERT_EQ_UINT(s.big, 1);
        settings_done(&s);

        /* Unset, the files count again. */
        env_clear();
        ASSERT_OK(load(dir, "main.conf", &s, &error));
        ASSERT_EQ_INT(s.port, 2);
        ASSERT_STREQ(s.name, "main");
        ASSERT_STREQ(s.address, "192.0.2.1");
        settings_done(&s);

        /* A bad value in the environment names the variable. */
        static const struct {
                const char *name, *value, *message;
        } bad[] = {
                { ENV_PREFIX "PORT", "0", ENV_PREFIX "PORT=0: value out of range" },
                { ENV_PREFIX "PORT", "70000", ENV_PREFIX "PORT=70000: value out of range" },
                { ENV_PREFIX "PORT", "abc", ENV_PREFIX "PORT=abc: invalid value" },
                { ENV_PREFIX "PORT", "", ENV_PREFIX "PORT=: invalid value" },
                { ENV_PREFIX "BIG", "0", ENV_PREFIX "BIG=0: value out of range" },
                { ENV_PREFIX "BIG", "1001", ENV_PREFIX "BIG=1001: value out of range" },
                { ENV_PREFIX "SMALL", "4294967296", ENV_PREFIX "SMALL=4294967296: value out of range" },
                { ENV_PREFIX "ADDRESS", "localhost", ENV_PREFIX "ADDRESS=localhost: invalid value" },
                { ENV_PREFIX "PATH", "relative/path", ENV_PREFIX "PATH=relative/path: invalid value" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TEST_CONTEXT("%s=%s", bad[i].name, bad[i].value);
                setenv(bad[i].name, bad[i].value, 1);
                ASSERT_ERROR(load(dir, "main.conf", &s, &error), EINVAL);
                ASSERT_STREQ(error, bad[i].message);
                settings_done(&s);
                unsetenv(bad[i].name);
        }

        test_rm_rf(dir);
}

TEST(errors) {
        static const struct {
                const char *content;
                size_t size;
                const char *message;  /* after "PATH:" */
        } table[] = {
#define LIT(s) s, sizeof(s) - 1
                { LIT("[Main]\nBogus=1\n"), "2: unknown key 'Bogus' in section [Main]" },
                { LIT("[Main]\nname=x\n"), "2: unknown key 'name' in section [Main]" }, /* case matters */
                { LIT("[Main]\nPort=80\n"), "2: unknown key 'Port' in section [Main]" },  /* wrong section */
                { LIT("[Other]\nPort=80\n"), "2: unknown key 'Port' in section [Other]" },
                { LIT("[Net]\nPort=0\n"), "2: Port=0: value out of range" },
                { LIT("[Net]\nPort=70000\n"), "2: Port=70000: value out of range" },
                { LIT("[Net]\nPort=abc\n"), "2: Port=abc: invalid value" },
                { LIT("[Net]\nPort=\n"), "2: Port=: invalid value" },
                { LIT("[Net]\nPort=80 # comment\n"), "2: Port=80 # comment: invalid value" },
                { LIT("[Net]\nPort=-1\n"), "2: Port=-1: invalid value" },
                { LIT("[Net]\nFlag=maybe\n"), "2: Flag=maybe: invalid value" },
                { LIT("[Net]\nAddress=1.2.3\n"), "2: Address=1.2.3: invalid value" },
                { LIT("[Net]\nPath=tmp\n"), "2: Path=tmp: invalid value" },
                { LIT("[Main]\nBig=0\n"), "2: Big=0: value out of range" },
                { LIT("[Main]\nBig=1001\n"), "2: Big=1001: value out of range" },
                { LIT("[Main]\nSmall=4294967296\n"), "2: Small=4294967296: value out of range" },
                { LIT("# c\n\n[Net]\nPort\n"), "4: missing '=' in 'Port'" },
                { LIT("Port=80\n[Net]\n"), "1: key 'Port' outside of any section" },
                { LIT("; c\nPort=80\n"), "2: key 'Port' outside of any section" },
                { LIT("[Net\nPort=80\n"), "1: invalid section header '[Net'" },
                { LIT("[]\n"), "1: invalid section header '[]'" },
                { LIT("[Net]x\n"), "1: invalid section header '[Net]x'" },
                { LIT("[Net]\nPort=80\0\n"), "2: line contains a NUL byte" },
                { LIT("[Net]\nPo\0rt=80\n"), "2: line contains a NUL byte" },
                { LIT("[Net]\nPort=80\n\0\n"), "3: line contains a NUL byte" },
#undef LIT
        };
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL;

        env_clear();
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *p = NULL, *expected = NULL;
                Settings s;

                TEST_CONTEXT("file %s", table[i].content);
                p = test_write_file(dir, "bad.conf", table[i].content, table[i].size);
                ASSERT_TRUE(asprintf(&expected, "%s:%s", p, table[i].message) >= 0);
                ASSERT_ERROR(load(dir, "bad.conf", &s, &error), EINVAL);
                ASSERT_STREQ(error, expected);
                settings_done(&s);

                /* The caller does not have to want the message. */
                s = (Settings) {};
                ASSERT_ERROR(config_load(items, ELEMENTSOF(items), p, &s, NULL), EINVAL);
                settings_done(&s);
        }

        test_rm_rf(dir);
}

TEST(line_too_long) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *p = NULL, *expected = NULL;
        _cleanup_free_ char *text = malloc(5000);
        Settings s;

        env_clear();
        ASSERT_NOT_NULL(text);
        strcpy(text, "[Main]\nName=");
        memset(text + strlen(text), 'x', 4200);
        strcpy(text + strlen("[Main]\nName=") + 4200, "\n");
        p = test_write_text(dir, "long.conf", text);
        ASSERT_ERROR(load(dir, "long.conf", &s, &error), EINVAL);
        ASSERT_TRUE(asprintf(&expected, "%s:2: line too long", p) >= 0);
        ASSERT_STREQ(error, expected);
        settings_done(&s);

        test_rm_rf(dir);
}

TEST(error_in_dropin) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *d = NULL, *bad = NULL, *expected = NULL;
        Settings s;

        env_clear();
        free(test_write_text(dir, "main.conf", "[Net]\nPort=1\n"));
        d = test_path_join(dir, "main.conf.d");
        ASSERT_OK(mkdir(d, 0755));
        free(test_write_text(d, "10-good.conf", "[Net]\nPort=2\n"));
        bad = test_write_text(d, "20-bad.conf", "[Net]\n\n# c\nPort=65536\n");
        ASSERT_ERROR(load(dir, "main.conf", &s, &error), EINVAL);
        ASSERT_TRUE(asprintf(&expected, "%s:4: Port=65536: value out of range", bad) >= 0);
        ASSERT_STREQ(error, expected);
        settings_done(&s);

        /* The main file is read first, and its error wins. */
        {
                _cleanup_free_ char *m = test_write_text(dir, "main.conf", "[Net]\nFlag=2\n"), *e2 = NULL;

                ASSERT_ERROR(load(dir, "main.conf", &s, &error), EINVAL);
                ASSERT_TRUE(asprintf(&e2, "%s:2: Flag=2: invalid value", m) >= 0);
                ASSERT_STREQ(error, e2);
                settings_done(&s);
        }

        test_rm_rf(dir);
}

TEST(not_a_file) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *d = NULL, *expected = NULL;
        Settings s;

        env_clear();
        /* A directory where the file should be. */
        d = test_path_join(dir, "dir.conf");
        ASSERT_OK(mkdir(d, 0755));
        ASSERT_ERROR(load(dir, "dir.conf", &s, &error), EINVAL);
        ASSERT_TRUE(asprintf(&expected, "%s: not a regular file", d) >= 0);
        ASSERT_STREQ(error, expected);
        settings_done(&s);

        test_rm_rf(dir);
}
