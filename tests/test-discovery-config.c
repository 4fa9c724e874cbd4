/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "discovery-config.h"
#include "discovery-database-url.h"
#include "macro.h"
#include "tests.h"
#include "test-config-rules.h"

static const char *const env_names[] = {
        "GOLEM_DISCOVERY_HOST",
        "GOLEM_DISCOVERY_PORT",
        "GOLEM_DISCOVERY_DATABASE_DIR",
        "GOLEM_DISCOVERY_DATABASE_PATH",
        "GOLEM_DISCOVERY_DATABASE_URL",
        "GOLEM_DISCOVERY_RATE_LIMIT_PER_MINUTE",
        "GOLEM_DISCOVERY_ADVERTISEMENT_TTL",
        "GOLEM_DISCOVERY_CLEANUP_INTERVAL_SEC",
        "GOLEM_DISCOVERY_CLEANUP_INTERVAL_SECONDS",
        "GOLEM_DISCOVERY_ALLOW_UNSIGNED_ADVERTISEMENTS",
        "GOLEM_DISCOVERY_METRICS",
        "STATE_DIRECTORY",
};

static void env_clear(void) {
        for (size_t i = 0; i < ELEMENTSOF(env_names); i++)
                unsetenv(env_names[i]);
}

static void assert_defaults(const DiscoverySettings *s) {
        ASSERT_STREQ(s->host, "0.0.0.0");
        ASSERT_EQ_INT(s->port, 9001);
        ASSERT_EQ_INT(s->port, DISCOVERY_DEFAULT_PORT);
        ASSERT_STREQ(s->database_dir, "/var/lib/golem-discovery");
        ASSERT_STREQ(s->database_path, "/var/lib/golem-discovery/discovery.db");
        ASSERT_NULL(s->database_url); /* SQLite */
        ASSERT_EQ_UINT(s->rate_limit_per_minute, 100);
        ASSERT_EQ_UINT(s->advertisement_ttl_sec, 300);
        ASSERT_EQ_UINT(s->cleanup_interval_sec, 60);
        ASSERT_TRUE(s->allow_unsigned_advertisements);
        ASSERT_TRUE(s->metrics);
}

TEST(defaults) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = test_path_join(dir, "discovery.conf");
        _cleanup_free_ char *error = NULL;
        DiscoverySettings s;

        env_clear();
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_NULL(error);
        assert_defaults(&s);
        discovery_settings_done(&s);

        /* No file at all. */
        ASSERT_OK(discovery_settings_load(&s, NULL, &error));
        assert_defaults(&s);
        discovery_settings_done(&s);

        test_rm_rf(dir);
}

TEST(shipped_file) {
        /* The shipped file sets nothing, and each commented-out "#Key=value" is the default
         * it claims to be: uncommenting all of them changes nothing. */
        static const char shipped[] = GOLEM_SOURCE_ROOT "/src/discovery/discovery.conf";
        _cleanup_free_ char *dir = test_mkdtemp(), *path = test_path_join(dir, "discovery.conf");
        _cleanup_free_ char *error = NULL;
        DiscoverySettings s;

        env_clear();
        ASSERT_OK(discovery_settings_load(&s, shipped, &error));
        ASSERT_NULL(error);
        assert_defaults(&s);
        discovery_settings_done(&s);

        ASSERT_EQ_INT(test_uncomment_settings(shipped, path, NULL, 0), 10);

        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_NULL(error);
        assert_defaults(&s);
        discovery_settings_done(&s);

        test_rm_rf(dir);
}

TEST(state_directory) {
        _cleanup_free_ char *error = NULL;
        DiscoverySettings s;

        env_clear();
        setenv("STATE_DIRECTORY", "/run/state/golem-discovery", 1);
        ASSERT_OK(discovery_settings_load(&s, NULL, &error));
        ASSERT_STREQ(s.database_dir, "/run/state/golem-discovery");
        ASSERT_STREQ(s.database_path, "/run/state/golem-discovery/discovery.db");
        discovery_settings_done(&s);

        /* Several directories: the first is ours. */
        setenv("STATE_DIRECTORY", "/var/lib/a:/var/lib/b", 1);
        ASSERT_OK(discovery_settings_load(&s, NULL, &error));
        ASSERT_STREQ(s.database_dir, "/var/lib/a");
        ASSERT_STREQ(s.database_path, "/var/lib/a/discovery.db");
        discovery_settings_done(&s);

        /* Not absolute, or empty: ignored. */
        setenv("STATE_DIRECTORY", "relative", 1);
        ASSERT_OK(discovery_settings_load(&s, NULL, &error));
        ASSERT_STREQ(s.database_dir, "/var/lib/golem-discovery");
        discovery_settings_done(&s);
        setenv("STATE_DIRECTORY", "", 1);
        ASSERT_OK(discovery_settings_load(&s, NULL, &error));
        ASSERT_STREQ(s.database_dir, "/var/lib/golem-discovery");
        discovery_settings_done(&s);

        /* An explicit DatabaseDir= wins over STATE_DIRECTORY. */
        setenv("STATE_DIRECTORY", "/run/state/golem-discovery", 1);
        setenv("GOLEM_DISCOVERY_DATABASE_DIR", "/srv/discovery", 1);
        ASSERT_OK(discovery_settings_load(&s, NULL, &error));
        ASSERT_STREQ(s.database_dir, "/srv/discovery");
        ASSERT_STREQ(s.database_path, "/srv/discovery/discovery.db");
        discovery_settings_done(&s);

        env_clear();
}

TEST(file_and_environment) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *path = NULL, *d = NULL;
        DiscoverySettings s;

        env_clear();
        path = test_write_text(dir, "discovery.conf",
                               "[Discovery]\n"
                               "Host=::1\n"
                               "Port=8080\n"
                               "DatabaseDir=/srv/golem\n"
                               "RateLimitPerMinute=0\n"
                               "AdvertisementTTL=60\n"
                               "CleanupIntervalSec=5\n"
                               "AllowUnsignedAdvertisements=no\n"
                               "Metrics=no\n");
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_STREQ(s.host, "::1");
        ASSERT_EQ_INT(s.port, 8080);
        ASSERT_STREQ(s.database_dir, "/srv/golem");
        ASSERT_STREQ(s.database_path, "/srv/golem/discovery.db");
        ASSERT_EQ_UINT(s.rate_limit_per_minute, 0);
        ASSERT_EQ_UINT(s.advertisement_ttl_sec, 60);
        ASSERT_EQ_UINT(s.cleanup_interval_sec, 5);
        ASSERT_FALSE(s.allow_unsigned_advertisements);
        ASSERT_FALSE(s.metrics);
        discovery_settings_done(&s);

        /* A drop-in overrides the file. */
        d = test_path_join(dir, "discovery.conf.d");
        ASSERT_OK(mkdir(d, 0755));
        free(test_write_text(d, "50-port.conf", "[Discovery]\nPort=8081\nDatabasePath=/tmp/x.db\n"));
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_EQ_INT(s.port, 8081);
        ASSERT_STREQ(s.database_dir, "/srv/golem");
        ASSERT_STREQ(s.database_path, "/tmp/x.db");
        discovery_settings_done(&s);

        /* GOLEM_DISCOVERY_* overrides both. */
        setenv("GOLEM_DISCOVERY_HOST", "127.0.0.1", 1);
        setenv("GOLEM_DISCOVERY_PORT", "9999", 1);
        setenv("GOLEM_DISCOVERY_DATABASE_PATH", "/var/tmp/d.db", 1);
        setenv("GOLEM_DISCOVERY_RATE_LIMIT_PER_MINUTE", "1000000", 1);
        setenv("GOLEM_DISCOVERY_ADVERTISEMENT_TTL", "31536000", 1);
        setenv("GOLEM_DISCOVERY_CLEANUP_INTERVAL_SECONDS", "86400", 1);
        setenv("GOLEM_DISCOVERY_ALLOW_UNSIGNED_ADVERTISEMENTS", "yes", 1);
        setenv("GOLEM_DISCOVERY_METRICS", "yes", 1);
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_STREQ(s.host, "127.0.0.1");
        ASSERT_EQ_INT(s.port, 9999);
        ASSERT_STREQ(s.database_path, "/var/tmp/d.db");
        ASSERT_EQ_UINT(s.rate_limit_per_minute, 1000000);
        ASSERT_EQ_UINT(s.advertisement_ttl_sec, 31536000);
        ASSERT_EQ_UINT(s.cleanup_interval_sec, 86400);
        ASSERT_TRUE(s.allow_unsigned_advertisements);
        ASSERT_TRUE(s.metrics);
        discovery_settings_done(&s);

        env_clear();
        test_rm_rf(dir);
}

TEST(environment_errors) {
        static const struct {
                const char *name, *value;
        } table[] = {
                { "GOLEM_DISCOVERY_HOST", "localhost" },
                { "GOLEM_DISCOVERY_HOST", "0.0.0.0:80" },
                { "GOLEM_DISCOVERY_HOST", "" },
                { "GOLEM_DISCOVERY_PORT", "0" },
                { "GOLEM_DISCOVERY_PORT", "65536" },
                { "GOLEM_DISCOVERY_PORT", "http" },
                { "GOLEM_DISCOVERY_PORT", " 80" },
                { "GOLEM_DISCOVERY_DATABASE_DIR", "var/lib" },
                { "GOLEM_DISCOVERY_DATABASE_DIR", "" },
                { "GOLEM_DISCOVERY_DATABASE_PATH", "discovery.db" },
                { "GOLEM_DISCOVERY_RATE_LIMIT_PER_MINUTE", "1000001" },
                { "GOLEM_DISCOVERY_RATE_LIMIT_PER_MINUTE", "-1" },
                { "GOLEM_DISCOVERY_ADVERTISEMENT_TTL", "0" },
                { "GOLEM_DISCOVERY_ADVERTISEMENT_TTL", "31536001" },
                { "GOLEM_DISCOVERY_ADVERTISEMENT_TTL", "5m" },
                { "GOLEM_DISCOVERY_CLEANUP_INTERVAL_SECONDS", "0" },
                { "GOLEM_DISCOVERY_CLEANUP_INTERVAL_SECONDS", "86401" },
                { "GOLEM_DISCOVERY_ALLOW_UNSIGNED_ADVERTISEMENTS", "maybe" },
                { "GOLEM_DISCOVERY_ALLOW_UNSIGNED_ADVERTISEMENTS", "" },
                { "GOLEM_DISCOVERY_METRICS", "on second thought" },
        };
        _cleanup_free_ char *error = NULL;

        env_clear();
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                DiscoverySettings s;

                TEST_CONTEXT("%s=%s", table[i].name, table[i].value);
                setenv(table[i].name, table[i].value, 1);
                ASSERT_ERROR(discovery_settings_load(&s, NULL, &error), EINVAL);
                ASSERT_NOT_NULL(error);
                ASSERT_TRUE(startswith(error, table[i].name));
                ASSERT_TRUE(startswith(error + strlen(table[i].name), "="));
                discovery_settings_done(&s);
                unsetenv(table[i].name);
        }
}

/* --check-config: the effective settings, which read back as the config file give the same. */
TEST(dump_reads_back) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *first = NULL, *second = NULL, *error = NULL;
        DiscoverySettings s;
        size_t size = 0;
        FILE *f;

        env_clear();
        path = test_write_text(dir, "discovery.conf",
                               "[Discovery]\nPort=9100\nAdvertisementTTL=600\nAllowUnsignedAdvertisements=no\n");
        setenv("GOLEM_DISCOVERY_DATABASE_DIR", "/var/lib/elsewhere", 1);
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        env_clear();
        ASSERT_NOT_NULL(f = open_memstream(&first, &size));
        ASSERT_OK(discovery_settings_dump(&s, f));
        ASSERT_EQ_INT(fclose(f), 0);
        discovery_settings_done(&s);
        ASSERT_STREQ(first,
                     "[Discovery]\n"
                     "Host=0.0.0.0\n"
                     "Port=9100\n"
                     "DatabaseDir=/var/lib/elsewhere\n"
                     "DatabasePath=/var/lib/elsewhere/discovery.db\n"
                     "#DatabaseURL=\n"
                     "RateLimitPerMinute=100\n"
                     "AdvertisementTTL=600\n"
                     "CleanupIntervalSec=60\n"
                     "AllowUnsignedAdvertisements=no\n"
                     "Metrics=yes\n");

        free(path);
        path = test_write_text(dir, "again.conf", first);
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_NOT_NULL(f = open_memstream(&second, &size));
        ASSERT_OK(discovery_settings_dump(&s, f));
        ASSERT_EQ_INT(fclose(f), 0);
        discovery_settings_done(&s);
        ASSERT_STREQ(second, first);
        test_rm_rf(dir);
}

TEST(variable_names) {
        size_t n;
        const ConfigItem *items = discovery_settings_items(&n);
        DiscoverySettings s;

        assert_env_names_follow_rule(items, n, "GOLEM_DISCOVERY_");

        env_clear();
        setenv("GOLEM_DISCOVERY_CLEANUP_INTERVAL_SECONDS", "17", 1);
        ASSERT_OK(discovery_settings_load(&s, "/nonexistent", NULL));
        ASSERT_EQ_UINT(s.cleanup_interval_sec, 17);
        discovery_settings_done(&s);
        env_clear();
}

TEST(file_errors) {
        _cleanup_free_ char *dir = test_mkdtemp(), *error = NULL, *path = NULL, *expected = NULL;
        DiscoverySettings s;

        env_clear();
        path = test_write_text(dir, "discovery.conf", "[Discovery]\nPort=9001\nAdvertisementTTL=0\n");
        ASSERT_ERROR(discovery_settings_load(&s, path, &error), EINVAL);
        ASSERT_TRUE(asprintf(&expected, "%s:3: AdvertisementTTL=0: value out of range", path) >= 0);
        ASSERT_STREQ(error, expected);
        discovery_settings_done(&s);

        /* Old names from elsewhere are not silently ignored. */
        free(expected);
        free(path);
        path = test_write_text(dir, "discovery.conf", "[Discovery]\nListenPort=9001\n");
        ASSERT_ERROR(discovery_settings_load(&s, path, &error), EINVAL);
        ASSERT_TRUE(asprintf(&expected, "%s:2: unknown key 'ListenPort' in section [Discovery]", path) >= 0);
        ASSERT_STREQ(error, expected);
        discovery_settings_done(&s);

        test_rm_rf(dir);
}

TEST(database_url) {
        static const char *const bad[] = {
                "mysql://golem@127.0.0.1/golem",
                "host=127.0.0.1 dbname=golem",
                "postgresql://golem:s3cret-pw@127.0.0.1/golem?nosuchoption=1",
                "postgresql://golem:s3cret pw@127.0.0.1/golem",
                "postgresql://golem:s3cret-pw@127.0.0.1/golem\n",
                "postgresql://golem:s3cret-pw@[::1/golem",
                " postgresql://golem:s3cret-pw@127.0.0.1/golem",
        };
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *error = NULL, *dump = NULL;
        DiscoverySettings s;
        size_t size = 0;
        FILE *f;

        env_clear();
        /* In the file, and empty in the environment: back to SQLite. */
        path = test_write_text(dir, "discovery.conf",
                               "[Discovery]\nDatabaseURL=postgresql://golem:s3cret-pw@127.0.0.1:5432/golem?connect_timeout=5\n");
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_STREQ(s.database_url, "postgresql://golem:s3cret-pw@127.0.0.1:5432/golem?connect_timeout=5");
        /* --check-config never shows the password. */
        ASSERT_NOT_NULL(f = open_memstream(&dump, &size));
        ASSERT_OK(discovery_settings_dump(&s, f));
        ASSERT_EQ_INT(fclose(f), 0);
        ASSERT_STR_CONTAINS(dump, "\nDatabaseURL=postgresql://golem:***@127.0.0.1:5432/golem?connect_timeout=5\n");
        ASSERT_NULL(strstr(dump, "s3cret"));
        discovery_settings_done(&s);
        setenv("GOLEM_DISCOVERY_DATABASE_URL", "", 1);
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_NULL(s.database_url);
        discovery_settings_done(&s);
        setenv("GOLEM_DISCOVERY_DATABASE_URL", "postgres://golem@db.example/discovery", 1);
        ASSERT_OK(discovery_settings_load(&s, path, &error));
        ASSERT_STREQ(s.database_url, "postgres://golem@db.example/discovery");
        discovery_settings_done(&s);

        /* A bad one is refused without echoing the password, from the environment or a file. */
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TEST_CONTEXT("%s", bad[i]);
                ASSERT_FALSE(database_url_valid(bad[i]));
                setenv("GOLEM_DISCOVERY_DATABASE_URL", bad[i], 1);
                error = mfree(error);
                ASSERT_ERROR(discovery_settings_load(&s, NULL, &error), EINVAL);
                ASSERT_STREQ(error, "GOLEM_DISCOVERY_DATABASE_URL=(hidden): invalid value");
                discovery_settings_done(&s);
        }
        env_clear();
        free(path);
        path = test_write_text(dir, "discovery.conf", "[Discovery]\nDatabaseURL=postgresql://golem:s3cret-pw@h/golem?x=1\n");
        error = mfree(error);
        ASSERT_ERROR(discovery_settings_load(&s, path, &error), EINVAL);
        ASSERT_STR_CONTAINS(error, ":2: DatabaseURL=(hidden): invalid value");
        discovery_settings_done(&s);
        test_rm_rf(dir);
}

TEST(database_url_redact) {
        static const struct {
                const char *url, *redacted;
        } table[] = {
                { "postgresql://golem:pw@127.0.0.1:5432/golem", "postgresql://golem:***@127.0.0.1:5432/golem" },
                { "postgres://golem@127.0.0.1/golem", "postgres://golem@127.0.0.1/golem" },
                { "postgresql://golem:p%40ss@db/golem?password=again&sslmode=require",
                  "postgresql://golem:***@db/golem?password=***&sslmode=require" },
                { "postgresql:///golem?host=/run/postgresql&pass%77ord=x", "postgresql:///golem?host=/run/postgresql&password=***" },
                { "postgresql://a:b@h1,h2/db", "postgresql://a:***@h1,h2/db" },
                { "postgresql://u:pa?ss@h/db?password=x#y&port=1", "postgresql://u:***@h/db?password=***&port=1" },
                { "postgresql://", "postgresql://" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *r = NULL;

                TEST_CONTEXT("%s", table[i].url);
                ASSERT_OK(database_url_redact(table[i].url, &r));
                ASSERT_STREQ(r, table[i].redacted);
        }
        {
                char *r = NULL;

                ASSERT_ERROR(database_url_redact("mysql://a:b@c/d", &r), EINVAL);
                ASSERT_NULL(r);
        }
}
