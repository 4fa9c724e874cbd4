/* SPDX-License-Identifier: MIT */
/* golem-providerd's settings: built-in defaults, /etc/golem/provider.conf and its drop-ins,
 * GOLEM_PROVIDER_* variables, and errors that name what is wrong. */

#include <stdio.h>
#include <sys/stat.h>

#include "macro.h"
#include "provider-config.h"
#include "tests.h"
#include "test-config-rules.h"

extern char **environ;

static void env_clear(void) {
        bool again = true;

        /* Every GOLEM_PROVIDER_* variable, whatever the caller's environment holds. */
        while (again) {
                again = false;
                for (char **e = environ; e && *e; e++)
                        if (strncmp(*e, "GOLEM_PROVIDER_", 15) == 0) {
                                char name[256];

                                snprintf(name, sizeof(name), "%.*s", (int) strcspn(*e, "="), *e);
                                unsetenv(name);
                                again = true;
                                break;
                        }
        }
        unsetenv("STATE_DIRECTORY");
}

static void assert_defaults(const ProviderSettings *s) {
        ASSERT_NULL(s->id);
        ASSERT_NULL(s->name);
        ASSERT_NULL(s->country); /* required for advertising: no default */
        ASSERT_STREQ(s->host, "0.0.0.0");
        ASSERT_EQ_INT(s->port, 7466);
        ASSERT_EQ_INT(s->port, PROVIDER_DEFAULT_PORT);
        ASSERT_NULL(s->public_ip);
        ASSERT_NULL(s->discovery_url);
        ASSERT_EQ_UINT(s->advertisement_interval_sec, 240);
        ASSERT_EQ_UINT(s->max_vms, 10);
        ASSERT_EQ_UINT(s->max_vms_per_owner, 3);
        ASSERT_FALSE(s->allow_unsigned_requests);
        ASSERT_STREQ(s->default_vm_image, "ubuntu:24.04");
        ASSERT_STREQ(s->vm_data_dir, "/var/lib/golem-provider");
        ASSERT_STREQ(s->vm_data_dir, PROVIDER_DEFAULT_DATA_DIR);
        ASSERT_NULL(s->multipass_binary_path);
        ASSERT_STREQ(s->driver, "auto");
        ASSERT_EQ_UINT(s->launch_timeout_sec, 600);
        ASSERT_TRUE(s->autostart_vms);
        ASSERT_EQ_INT(s->port_range_start, 50800);
        ASSERT_EQ_INT(s->port_range_end, 50899);
        ASSERT_EQ_UINT(s->min_cpu_cores, 1);
        ASSERT_EQ_UINT(s->min_memory_gb, 1);
        ASSERT_EQ_UINT(s->min_storage_gb, 10);
        ASSERT_EQ_UINT(s->cpu_threshold, 90);
        ASSERT_EQ_UINT(s->memory_threshold, 85);
        ASSERT_EQ_UINT(s->storage_threshold, 90);
        ASSERT_EQ_UINT(s->reserve_cpu, 0);
        ASSERT_EQ_UINT(s->reserve_memory_gb, 0);
        ASSERT_EQ_UINT(s->reserve_storage_gb, 0);
        ASSERT_EQ_UINT(s->capacity_cpu, 0);
        ASSERT_EQ_UINT(s->capacity_memory_gb, 0);
        ASSERT_EQ_UINT(s->capacity_storage_gb, 0);
        ASSERT_EQ_UINT(s->rate_limit_per_minute, 600);
        ASSERT_TRUE(s->metrics);
        ASSERT_STREQ(s->vm_denied_networks,
                     "127.0.0.0/8 0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 169.254.0.0/16 172.16.0.0/12 192.168.0.0/16 "
                     "224.0.0.0/4 240.0.0.0/4 ::1/128 ::/128 fc00::/7 fe80::/10 ff00::/8");
        ASSERT_STREQ(s->vm_allowed_networks, "");
}

TEST(defaults) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = test_path_join(dir, "provider.conf");
        _cleanup_free_ char *error = NULL;
        ProviderSettings s;

        env_clear();
        /* A missing file is fine. */
        ASSERT_OK(provider_settings_load(&s, path, &error));
        ASSERT_NULL(error);
        assert_defaults(&s);
        provider_settings_done(&s);

        /* No file at all. */
        ASSERT_OK(provider_settings_load(&s, NULL, &error));
        ASSERT_NULL(error);
        assert_defaults(&s);
        provider_settings_done(&s);
        ASSERT_NULL(s.country);

        /* An empty file, and one with only the section. */
        free(path);
        path = test_write_text(dir, "empty.conf", "");
        ASSERT_OK(provider_settings_load(&s, path, &error));
        assert_defaults(&s);
        provider_settings_done(&s);
        free(path);
        path = test_write_text(dir, "section.conf", "# nothing here\n[Provider]\n; nor here\n");
        ASSERT_OK(provider_settings_load(&s, path, &error));
        assert_defaults(&s);
        provider_settings_done(&s);

        test_rm_rf(dir);
}

TEST(shipped_file) {
        /* The shipped file sets nothing, and every commented-out "#Key=value" that shows a
         * value is the default: uncommenting those changes nothing. */
        static const char shipped[] = GOLEM_SOURCE_ROOT "/src/provider/provider.conf";
        static const char *const not_values[] = { "#ID=", "#Name=", "#Country=", "#PublicIP=", "#MultipassBinaryPath=",
                                                  "#ImageDir=", "#QemuBinaryPath=" };
        _cleanup_free_ char *dir = test_mkdtemp(), *path = test_path_join(dir, "provider.conf");
        _cleanup_free_ char *error = NULL;
        ProviderSettings s;

        env_clear();
        ASSERT_OK(provider_settings_load(&s, shipped, &error));
        ASSERT_NULL(error);
        assert_defaults(&s);
        provider_settings_done(&s);

        ASSERT_EQ_INT(test_uncomment_settings(shipped, path, not_values, ELEMENTSOF(not_values)), 31);

        ASSERT_OK(provider_settings_load(&s, path, &error));
        ASSERT_NULL(error);
        assert_defaults(&s);
        provider_settings_done(&s);
        test_rm_rf(dir);
}

TEST(environment) {
        static const struct {
                const char *name, *value;
        } vars[] = {
                { "GOLEM_PROVIDER_ID", "prov-1.a_b:c" },
                { "GOLEM_PROVIDER_NAME", "Alice's provider" },
                { "GOLEM_PROVIDER_COUNTRY", "pl" },
                { "GOLEM_PROVIDER_HOST", "127.0.0.1" },
                { "GOLEM_PROVIDER_PORT", "8466" },
                { "GOLEM_PROVIDER_PUBLIC_IP", "2001:DB8::0001" },
                { "GOLEM_PROVIDER_DISCOVERY_URL", "https://discovery.example.org:9001" },
                { "GOLEM_PROVIDER_ADVERTISEMENT_INTERVAL", "60" },
                { "GOLEM_PROVIDER_MAX_VMS", "3" },
                { "GOLEM_PROVIDER_MAX_VMS_PER_OWNER", "7" },
                { "GOLEM_PROVIDER_ALLOW_UNSIGNED_REQUESTS", "yes" },
                { "GOLEM_PROVIDER_DEFAULT_VM_IMAGE", "noble" },
                { "GOLEM_PROVIDER_VM_DATA_DIR", "/srv/golem" },
                { "GOLEM_PROVIDER_MULTIPASS_BINARY_PATH", "/opt/multipass/bin/multipass" },
                { "GOLEM_PROVIDER_DRIVER", "multipass" },
                { "GOLEM_PROVIDER_LAUNCH_TIMEOUT", "900" },
                { "GOLEM_PROVIDER_AUTOSTART_VMS", "no" },
                { "GOLEM_PROVIDER_PORT_RANGE_START", "40000" },
                { "GOLEM_PROVIDER_PORT_RANGE_END", "40009" },
                { "GOLEM_PROVIDER_MIN_CPU_CORES", "2" },
                { "GOLEM_PROVIDER_MIN_MEMORY_GB", "4" },
                { "GOLEM_PROVIDER_MIN_STORAGE_GB", "20" },
                { "GOLEM_PROVIDER_CPU_THRESHOLD", "100" },
                { "GOLEM_PROVIDER_MEMORY_THRESHOLD", "1" },
                { "GOLEM_PROVIDER_STORAGE_THRESHOLD", "50" },
                { "GOLEM_PROVIDER_RESERVE_CPU", "1" },
                { "GOLEM_PROVIDER_RESERVE_MEMORY_GB", "2" },
                { "GOLEM_PROVIDER_RESERVE_STORAGE_GB", "30" },
                { "GOLEM_PROVIDER_CAPACITY_CPU", "10" },
                { "GOLEM_PROVIDER_CAPACITY_MEMORY_GB", "20" },
                { "GOLEM_PROVIDER_CAPACITY_STORAGE_GB", "500" },
                { "GOLEM_PROVIDER_RATE_LIMIT_PER_MINUTE", "0" },
                { "GOLEM_PROVIDER_METRICS", "no" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0.0/8,  192.168.1.0/24 FC00::/7" },
                { "GOLEM_PROVIDER_VM_ALLOWED_NETWORKS", "10.1.2.3 2001:DB8:0::/32" },
        };
        _cleanup_free_ char *error = NULL;
        ProviderSettings s;

        env_clear();
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                ASSERT_OK(setenv(vars[i].name, vars[i].value, 1));
        ASSERT_OK(provider_settings_load(&s, NULL, &error));
        ASSERT_NULL(error);
        ASSERT_STREQ(s.id, "prov-1.a_b:c");
        ASSERT_STREQ(s.name, "Alice's provider");
        ASSERT_STREQ(s.country, "PL");
        ASSERT_STREQ(s.host, "127.0.0.1");
        ASSERT_EQ_INT(s.port, 8466);
        ASSERT_STREQ(s.public_ip, "2001:db8::1");
        ASSERT_STREQ(s.discovery_url, "https://discovery.example.org:9001");
        ASSERT_EQ_UINT(s.advertisement_interval_sec, 60);
        ASSERT_EQ_UINT(s.max_vms, 3);
        ASSERT_EQ_UINT(s.max_vms_per_owner, 7);
        ASSERT_TRUE(s.allow_unsigned_requests);
        ASSERT_STREQ(s.default_vm_image, "noble");
        ASSERT_STREQ(s.vm_data_dir, "/srv/golem");
        ASSERT_STREQ(s.multipass_binary_path, "/opt/multipass/bin/multipass");
        ASSERT_STREQ(s.driver, "multipass");
        ASSERT_EQ_UINT(s.launch_timeout_sec, 900);
        ASSERT_FALSE(s.autostart_vms);
        ASSERT_EQ_INT(s.port_range_start, 40000);
        ASSERT_EQ_INT(s.port_range_end, 40009);
        ASSERT_EQ_UINT(s.min_cpu_cores, 2);
        ASSERT_EQ_UINT(s.min_memory_gb, 4);
        ASSERT_EQ_UINT(s.min_storage_gb, 20);
        ASSERT_EQ_UINT(s.cpu_threshold, 100);
        ASSERT_EQ_UINT(s.memory_threshold, 1);
        ASSERT_EQ_UINT(s.storage_threshold, 50);
        ASSERT_EQ_UINT(s.reserve_cpu, 1);
        ASSERT_EQ_UINT(s.reserve_memory_gb, 2);
        ASSERT_EQ_UINT(s.reserve_storage_gb, 30);
        ASSERT_EQ_UINT(s.capacity_cpu, 10);
        ASSERT_EQ_UINT(s.capacity_memory_gb, 20);
        ASSERT_EQ_UINT(s.capacity_storage_gb, 500);
        ASSERT_EQ_UINT(s.rate_limit_per_minute, 0);
        ASSERT_FALSE(s.metrics);
        /* canonical: one space, inet_ntop()'s form, a prefix always */
        ASSERT_STREQ(s.vm_denied_networks, "10.0.0.0/8 192.168.1.0/24 fc00::/7");
        ASSERT_STREQ(s.vm_allowed_networks, "10.1.2.3/32 2001:db8::/32");
        provider_settings_done(&s);
        env_clear();
}

TEST(edges_accepted) {
        static const struct {
                const char *name, *value;
        } vars[] = {
                { "GOLEM_PROVIDER_PORT_RANGE_START", "50800" },
                { "GOLEM_PROVIDER_PORT_RANGE_END", "50800" },     /* one port */
                { "GOLEM_PROVIDER_CPU_THRESHOLD", "1" },
                { "GOLEM_PROVIDER_MEMORY_THRESHOLD", "100" },
                { "GOLEM_PROVIDER_MAX_VMS", "0" },
                { "GOLEM_PROVIDER_MAX_VMS_PER_OWNER", "0" },      /* no per-owner limit */
                { "GOLEM_PROVIDER_ALLOW_UNSIGNED_REQUESTS", "no" },
                { "GOLEM_PROVIDER_DISCOVERY_URL", "" },           /* empty: do not advertise */
                { "GOLEM_PROVIDER_HOST", "::" },
                { "GOLEM_PROVIDER_ADVERTISEMENT_INTERVAL", "86400" },
                { "GOLEM_PROVIDER_PORT", "65535" },
        };
        _cleanup_free_ char *error = NULL;
        ProviderSettings s;

        env_clear();
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                ASSERT_OK(setenv(vars[i].name, vars[i].value, 1));
        ASSERT_OK(provider_settings_load(&s, NULL, &error));
        ASSERT_EQ_INT(s.port_range_start, 50800);
        ASSERT_EQ_INT(s.port_range_end, 50800);
        ASSERT_EQ_UINT(s.cpu_threshold, 1);
        ASSERT_EQ_UINT(s.memory_threshold, 100);
        ASSERT_EQ_UINT(s.max_vms, 0);
        ASSERT_EQ_UINT(s.max_vms_per_owner, 0);
        ASSERT_FALSE(s.allow_unsigned_requests);
        ASSERT_NULL(s.discovery_url);
        ASSERT_STREQ(s.host, "::");
        ASSERT_EQ_UINT(s.advertisement_interval_sec, 86400);
        ASSERT_EQ_INT(s.port, 65535);
        provider_settings_done(&s);
        env_clear();
}

TEST(environment_errors) {
        static const struct {
                const char *name, *value;
        } table[] = {
                { "GOLEM_PROVIDER_COUNTRY", "XX" },
                { "GOLEM_PROVIDER_COUNTRY", "SWE" },
                { "GOLEM_PROVIDER_COUNTRY", "" },
                { "GOLEM_PROVIDER_COUNTRY", "S1" },
                { "GOLEM_PROVIDER_DISCOVERY_URL", "ftp://x" },
                { "GOLEM_PROVIDER_DISCOVERY_URL", "discovery.example.org" },
                { "GOLEM_PROVIDER_DISCOVERY_URL", "http://a b" },
                { "GOLEM_PROVIDER_DISCOVERY_URL", "http://x/\"" },
                { "GOLEM_PROVIDER_PORT", "0" },
                { "GOLEM_PROVIDER_PORT", "65536" },
                { "GOLEM_PROVIDER_PORT", "http" },
                { "GOLEM_PROVIDER_PORT", " 80" },
                { "GOLEM_PROVIDER_PORT_RANGE_START", "0" },
                { "GOLEM_PROVIDER_PORT_RANGE_END", "70000" },
                { "GOLEM_PROVIDER_CPU_THRESHOLD", "0" },
                { "GOLEM_PROVIDER_CPU_THRESHOLD", "101" },
                { "GOLEM_PROVIDER_CPU_THRESHOLD", "-1" },
                { "GOLEM_PROVIDER_CPU_THRESHOLD", "50%" },
                { "GOLEM_PROVIDER_MEMORY_THRESHOLD", "0" },
                { "GOLEM_PROVIDER_STORAGE_THRESHOLD", "101" },
                { "GOLEM_PROVIDER_DRIVER", "xen" },
                { "GOLEM_PROVIDER_DRIVER", "Multipass" },
                { "GOLEM_PROVIDER_DRIVER", "" },
                { "GOLEM_PROVIDER_HOST", "localhost" },
                { "GOLEM_PROVIDER_HOST", "1.2.3.4.5" },
                { "GOLEM_PROVIDER_PUBLIC_IP", "provider.example.org" },
                { "GOLEM_PROVIDER_MAX_VMS", "1001" },
                { "GOLEM_PROVIDER_MAX_VMS", "-1" },
                { "GOLEM_PROVIDER_MAX_VMS_PER_OWNER", "1001" },
                { "GOLEM_PROVIDER_ALLOW_UNSIGNED_REQUESTS", "maybe" },
                { "GOLEM_PROVIDER_METRICS", "2" },
                { "GOLEM_PROVIDER_ADVERTISEMENT_INTERVAL", "0" },
                { "GOLEM_PROVIDER_ADVERTISEMENT_INTERVAL", "86401" },
                { "GOLEM_PROVIDER_LAUNCH_TIMEOUT", "0" },
                { "GOLEM_PROVIDER_LAUNCH_TIMEOUT", "10m" },
                { "GOLEM_PROVIDER_AUTOSTART_VMS", "sometimes" },
                { "GOLEM_PROVIDER_VM_DATA_DIR", "var/lib/golem" },
                { "GOLEM_PROVIDER_VM_DATA_DIR", "" },
                { "GOLEM_PROVIDER_MULTIPASS_BINARY_PATH", "multipass" },
                { "GOLEM_PROVIDER_ID", "has space" },
                { "GOLEM_PROVIDER_ID", "" },
                { "GOLEM_PROVIDER_NAME", "" },
                { "GOLEM_PROVIDER_NAME", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn" }, /* 65 */
                { "GOLEM_PROVIDER_DEFAULT_VM_IMAGE", "" },
                { "GOLEM_PROVIDER_DEFAULT_VM_IMAGE", "ubuntu 24.04" },
                /* Whatever launch would refuse, the default cannot be either. */
                { "GOLEM_PROVIDER_DEFAULT_VM_IMAGE", "-x" },
                { "GOLEM_PROVIDER_DEFAULT_VM_IMAGE", "--disk=1" },
                { "GOLEM_PROVIDER_DEFAULT_VM_IMAGE", "../../etc/passwd" },
                { "GOLEM_PROVIDER_DEFAULT_VM_IMAGE", "ubuntu/noble" },
                { "GOLEM_PROVIDER_MIN_CPU_CORES", "4097" },
                { "GOLEM_PROVIDER_RESERVE_MEMORY_GB", "1048577" },
                { "GOLEM_PROVIDER_CAPACITY_CPU", "lots" },
                { "GOLEM_PROVIDER_RATE_LIMIT_PER_MINUTE", "1000001" },
                /* Whatever could reach the nftables ruleset is checked entry by entry. */
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0.0/33" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0.1/8" },          /* host bits set */
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0.0/" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0.0/08" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0.0/+8" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0/8" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "localhost" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "fe80::/129" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "fe80::1%eth0" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0.0/8; flush ruleset" },
                { "GOLEM_PROVIDER_VM_DENIED_NETWORKS", "10.0.0.0/8 }" },
                { "GOLEM_PROVIDER_VM_ALLOWED_NETWORKS", "1.2.3.4/32/1" },
                { "GOLEM_PROVIDER_VM_ALLOWED_NETWORKS", "/24" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *error = NULL, *expected = NULL;
                ProviderSettings s;

                TEST_CONTEXT("%s=%s", table[i].name, table[i].value);
                env_clear();
                ASSERT_OK(setenv(table[i].name, table[i].value, 1));
                ASSERT_ERROR(provider_settings_load(&s, NULL, &error), EINVAL);
                /* The message names the variable and repeats the value. */
                ASSERT_TRUE(asprintf(&expected, "%s=%s:", table[i].name, table[i].value) >= 0);
                ASSERT_NOT_NULL(error);
                ASSERT_TRUE(strncmp(error, expected, strlen(expected)) == 0);
                provider_settings_done(&s);
        }
        env_clear();
}

TEST(environment_error_texts) {
        static const struct {
                const char *env[2][2];       /* up to two variables */
                const char *error;
        } cases[] = {
                { { { "GOLEM_PROVIDER_CPU_THRESHOLD", "101" } },
                  "GOLEM_PROVIDER_CPU_THRESHOLD=101: value out of range" },
                { { { "GOLEM_PROVIDER_COUNTRY", "XX" } },
                  "GOLEM_PROVIDER_COUNTRY=XX: invalid value" },
                /* The port range is checked as a whole. */
                { { { "GOLEM_PROVIDER_PORT_RANGE_START", "50900" } },
                  "PORT_RANGE_START=50900 is above PORT_RANGE_END=50899" },
                { { { "GOLEM_PROVIDER_PORT_RANGE_START", "40010" }, { "GOLEM_PROVIDER_PORT_RANGE_END", "40009" } },
                  "PORT_RANGE_START=40010 is above PORT_RANGE_END=40009" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *error = NULL;
                ProviderSettings s;

                TEST_CONTEXT("%s", cases[i].error);
                env_clear();
                for (size_t k = 0; k < ELEMENTSOF(cases[i].env) && cases[i].env[k][0]; k++)
                        setenv(cases[i].env[k][0], cases[i].env[k][1], 1);
                ASSERT_ERROR(provider_settings_load(&s, NULL, &error), EINVAL);
                ASSERT_STREQ(error, cases[i].error);
                provider_settings_done(&s);
        }
        env_clear();
}

TEST(file_dropins_environment) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *dropins = NULL, *error = NULL;
        ProviderSettings s;

        env_clear();
        path = test_write_text(dir, "provider.conf",
                          "[Provider]\n"
                          "Name=from the file\n"
                          "Country=de\n"
                          "Port=8000\n"
                          "MaxVMs=4\n"
                          "CPUThreshold=80\n"
                          "DefaultVMImage=jammy\n");
        dropins = test_path_join(dir, "provider.conf.d");
        ASSERT_OK(mkdir(dropins, 0755));
        free(test_write_text(dropins, "10-port.conf", "[Provider]\nPort=8001\nMaxVMs=5\n"));
        free(test_write_text(dropins, "20-port.conf", "[Provider]\nPort=8002\n"));
        free(test_write_text(dropins, "30-ignored.conf.disabled", "[Provider]\nPort=1\n"));

        ASSERT_OK(provider_settings_load(&s, path, &error));
        ASSERT_NULL(error);
        ASSERT_STREQ(s.name, "from the file");
        ASSERT_STREQ(s.country, "DE");
        ASSERT_EQ_INT(s.port, 8002);
        ASSERT_EQ_UINT(s.max_vms, 5);
        ASSERT_EQ_UINT(s.cpu_threshold, 80);
        ASSERT_STREQ(s.default_vm_image, "jammy");
        provider_settings_done(&s);

        /* The environment wins over both. */
        setenv("GOLEM_PROVIDER_PORT", "9000", 1);
        setenv("GOLEM_PROVIDER_CPU_THRESHOLD", "100", 1);
        ASSERT_OK(provider_settings_load(&s, path, &error));
        ASSERT_EQ_INT(s.port, 9000);
        ASSERT_EQ_UINT(s.cpu_threshold, 100);
        ASSERT_EQ_UINT(s.max_vms, 5);
        provider_settings_done(&s);
        env_clear();
        test_rm_rf(dir);
}

/* --check-config: every setting is printed, and what it prints, read back as the config file,
 * gives the same settings (so each value is written as the parser takes it). */
static char *dump(const ProviderSettings *s) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT_NOT_NULL(f);
        ASSERT_OK(provider_settings_dump(s, f));
        ASSERT_EQ_INT(fclose(f), 0);
        return text;
}

TEST(dump_reads_back) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *first = NULL, *second = NULL,
                            *error = NULL, *again = NULL;
        ProviderSettings s;

        env_clear();
        path = test_write_text(dir, "provider.conf",
                          "[Provider]\n"
                          "ID=legacy-id\n"
                          "Name=a name with spaces\n"
                          "Country=de\n"
                          "PublicIP=2001:DB8::1\n"
                          "DiscoveryURL=https://discovery.example:9001\n"
                          "MaxVMs=4\n"
                          "AllowUnsignedRequests=yes\n"
                          "CPUThreshold=80\n"
                          "PortRangeStart=40000\n");
        setenv("GOLEM_PROVIDER_NAME", "from the environment", 1);
        ASSERT_OK(provider_settings_load(&s, path, &error));
        first = dump(&s);
        provider_settings_done(&s);
        env_clear();

        ASSERT_STR_CONTAINS(first, "[Provider]\nID=legacy-id\nName=from the environment\nCountry=DE\n");
        ASSERT_STR_CONTAINS(first, "\nPublicIP=2001:db8::1\n");
        ASSERT_STR_CONTAINS(first, "\nAllowUnsignedRequests=yes\n");
        ASSERT_STR_CONTAINS(first, "\nCPUThreshold=80\n");
        ASSERT_STR_CONTAINS(first, "\nPortRangeStart=40000\n");

        free(path);
        path = test_write_text(dir, "again.conf", first);
        ASSERT_OK(provider_settings_load(&s, path, &error));
        second = dump(&s);
        ASSERT_STREQ(second, first);
        provider_settings_done(&s);

        /* The defaults too: unset ones are comments ("#Key="), which read back as unset. */
        ASSERT_OK(provider_settings_load(&s, "/nonexistent/provider.conf", &error));
        again = dump(&s);
        ASSERT_STR_CONTAINS(again, "\n#PublicIP=\n");
        provider_settings_done(&s);
        free(path);
        path = test_write_text(dir, "defaults.conf", again);
        free(second);
        ASSERT_OK(provider_settings_load(&s, path, &error));
        second = dump(&s);
        ASSERT_STREQ(second, again);
        provider_settings_done(&s);
        test_rm_rf(dir);
}

TEST(variable_names) {
        size_t n;
        const ConfigItem *items = provider_settings_items(&n);
        _cleanup_free_ char *name = NULL;
        ProviderSettings s;

        assert_env_names_follow_rule(items, n, "GOLEM_PROVIDER_");
        ASSERT_OK(config_env_name("GOLEM_PROVIDER_", "MaxVMsPerOwner", &name));
        ASSERT_STREQ(name, "GOLEM_PROVIDER_MAX_VMS_PER_OWNER");

        /* The name before the rule still works; the new one wins when both are set. */
        env_clear();
        setenv("GOLEM_PROVIDER_LAUNCH_TIMEOUT", "77", 1);
        ASSERT_OK(provider_settings_load(&s, "/nonexistent", NULL));
        ASSERT_EQ_UINT(s.launch_timeout_sec, 77);
        provider_settings_done(&s);
        setenv("GOLEM_PROVIDER_LAUNCH_TIMEOUT_SEC", "88", 1);
        ASSERT_OK(provider_settings_load(&s, "/nonexistent", NULL));
        ASSERT_EQ_UINT(s.launch_timeout_sec, 88);
        provider_settings_done(&s);
        env_clear();
}

TEST(file_errors) {
        static const struct {
                const char *text;
                const char *error;
        } table[] = {
                { "[Provider]\nCountry=XX\n", "provider.conf:2: Country=XX: invalid value" },
                { "[Provider]\n\nCPUThreshold=0\n", "provider.conf:3: CPUThreshold=0: value out of range" },
                { "[Provider]\nDriver=xen\n", "provider.conf:2: Driver=xen: invalid value" },
                { "[Provider]\nDiscoveryURL=ftp://x\n", "provider.conf:2: DiscoveryURL=ftp://x: invalid value" },
                { "[Provider]\nNoSuchKey=1\n", "provider.conf:2: unknown key 'NoSuchKey' in section [Provider]" },
                { "[Discovery]\nPort=1\n", "provider.conf:2: unknown key 'Port' in section [Discovery]" },
                { "Port=1\n", "provider.conf:1: key 'Port' outside of any section" },
                { "[Provider]\nPortRangeStart=50900\n", "PORT_RANGE_START=50900 is above PORT_RANGE_END=50899" },
                { "[Provider]\nVMDeniedNetworks=10.0.0.0/8 192.168.0.1/16\n",
                  "provider.conf:2: VMDeniedNetworks=10.0.0.0/8 192.168.0.1/16: invalid value" },
                { "[Provider]\nVMAllowedNetworks=\"8.8.8.8\"\n",
                  "provider.conf:2: VMAllowedNetworks=\"8.8.8.8\": invalid value" },
        };
        _cleanup_free_ char *dir = test_mkdtemp();

        env_clear();
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *path = NULL, *error = NULL;
                ProviderSettings s;

                TEST_CONTEXT("%s", table[i].text);
                path = test_write_text(dir, "provider.conf", table[i].text);
                ASSERT_ERROR(provider_settings_load(&s, path, &error), EINVAL);
                ASSERT_STR_CONTAINS(error, table[i].error);
                provider_settings_done(&s);
        }
        test_rm_rf(dir);
}

TEST(state_directory) {
        static const struct {
                const char *state_directory;
                const char *vm_data_dir;
        } table[] = {
                { "/var/lib/golem-provider", "/var/lib/golem-provider" },
                { "/run/state/golem-provider", "/run/state/golem-provider" },
                /* Several directories: the first is ours. */
                { "/var/lib/a:/var/lib/b", "/var/lib/a" },
                /* Not absolute, or empty: ignored. */
                { "relative/dir", "/var/lib/golem-provider" },
                { "", "/var/lib/golem-provider" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *error = NULL;
                ProviderSettings s;

                TEST_CONTEXT("STATE_DIRECTORY=%s", table[i].state_directory);
                env_clear();
                setenv("STATE_DIRECTORY", table[i].state_directory, 1);
                ASSERT_OK(provider_settings_load(&s, NULL, &error));
                ASSERT_STREQ(s.vm_data_dir, table[i].vm_data_dir);
                provider_settings_done(&s);
        }

        /* VM_DATA_DIR wins over STATE_DIRECTORY. */
        {
                _cleanup_free_ char *error = NULL;
                ProviderSettings s;

                env_clear();
                setenv("STATE_DIRECTORY", "/var/lib/golem-provider", 1);
                setenv("GOLEM_PROVIDER_VM_DATA_DIR", "/srv/vms", 1);
                ASSERT_OK(provider_settings_load(&s, NULL, &error));
                ASSERT_STREQ(s.vm_data_dir, "/srv/vms");
                provider_settings_done(&s);
        }
        env_clear();
}

TEST(done_twice) {
        _cleanup_free_ char *error = NULL;
        ProviderSettings s;

        env_clear();
        ASSERT_OK(provider_settings_load(&s, NULL, &error));
        provider_settings_done(&s);
        ASSERT_NULL(s.host);
        provider_settings_done(&s);
}
