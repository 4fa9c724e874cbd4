/* SPDX-License-Identifier: MIT */
/* The multipass driver's parsers, on the exact texts multipass prints (see MULTIPASS.md), and
 * the cloud-init user-data it hands to `multipass launch --cloud-init -`. */

#include <stdio.h>

#include "json-util.h"
#include "macro.h"
#include "provider-driver.h"
#include "test-provider-keys.h"
#include "tests.h"

/* MULTIPASS.md §2, byte for byte (1.14-1.16: keys sorted, 4-space indent, empty arrays on
 * two lines). */
static const char list_doc[] =
        "{\n"
        "    \"list\": [\n"
        "        {\n"
        "            \"ipv4\": [\n"
        "                \"10.22.115.7\"\n"
        "            ],\n"
        "            \"name\": \"web-1\",\n"
        "            \"release\": \"Ubuntu 24.04 LTS\",\n"
        "            \"state\": \"Running\"\n"
        "        },\n"
        "        {\n"
        "            \"ipv4\": [\n"
        "            ],\n"
        "            \"name\": \"db-1\",\n"
        "            \"release\": \"Ubuntu 24.04 LTS\",\n"
        "            \"state\": \"Stopped\"\n"
        "        }\n"
        "    ]\n"
        "}\n";

/* The same layout with the instances named as the provider names them. */
static const char list_sorted[] =
        "{\n"
        "    \"list\": [\n"
        "        {\n"
        "            \"ipv4\": [\n"
        "                \"10.22.115.7\"\n"
        "            ],\n"
        "            \"name\": \"golem-web-1\",\n"
        "            \"release\": \"Ubuntu 24.04 LTS\",\n"
        "            \"state\": \"Running\"\n"
        "        },\n"
        "        {\n"
        "            \"ipv4\": [\n"
        "            ],\n"
        "            \"name\": \"golem-db-1\",\n"
        "            \"release\": \"Ubuntu 24.04 LTS\",\n"
        "            \"state\": \"Stopped\"\n"
        "        }\n"
        "    ]\n"
        "}\n";

/* HEAD (1.17-dev): insertion order, "<os> <release>", and a "zone" object per entry. */
static const char list_head[] =
        "{\n"
        "    \"list\": [\n"
        "        {\n"
        "            \"name\": \"golem-db-1\",\n"
        "            \"state\": \"Stopped\",\n"
        "            \"ipv4\": [\n"
        "            ],\n"
        "            \"release\": \"Ubuntu 24.04 LTS\",\n"
        "            \"zone\": {\n"
        "                \"name\": \"zone1\",\n"
        "                \"available\": true\n"
        "            }\n"
        "        },\n"
        "        {\n"
        "            \"name\": \"golem-web-1\",\n"
        "            \"state\": \"Running\",\n"
        "            \"ipv4\": [\n"
        "                \"10.22.115.7\",\n"
        "                \"192.168.64.3\"\n"
        "            ],\n"
        "            \"release\": \"Ubuntu 24.04 LTS\",\n"
        "            \"zone\": {\n"
        "                \"name\": \"zone2\",\n"
        "                \"available\": false\n"
        "            }\n"
        "        }\n"
        "    ]\n"
        "}\n";

static const char list_empty[] = "{\n    \"list\": [\n    ]\n}\n";

/* MULTIPASS.md §3, byte for byte. */
#define INFO_DOC(db, web)                                                                       \
        "{\n"                                                                                   \
        "    \"errors\": [\n"                                                                   \
        "    ],\n"                                                                              \
        "    \"info\": {\n"                                                                     \
        "        \"" db "\": {\n"                                                               \
        "            \"cpu_count\": \"\",\n"                                                    \
        "            \"disks\": {\n"                                                            \
        "                \"sda1\": {\n"                                                         \
        "                }\n"                                                                   \
        "            },\n"                                                                      \
        "            \"image_hash\": \"ab5191cc172564e7cc0eafd397312a32598823e645279c820f0935393aead509\",\n" \
        "            \"image_release\": \"24.04 LTS\",\n"                                      \
        "            \"ipv4\": [\n"                                                             \
        "            ],\n"                                                                      \
        "            \"load\": [\n"                                                             \
        "            ],\n"                                                                      \
        "            \"memory\": {\n"                                                           \
        "            },\n"                                                                      \
        "            \"mounts\": {\n"                                                           \
        "            },\n"                                                                      \
        "            \"release\": \"\",\n"                                                      \
        "            \"snapshot_count\": \"0\",\n"                                              \
        "            \"state\": \"Stopped\"\n"                                                  \
        "        },\n"                                                                          \
        "        \"" web "\": {\n"                                                              \
        "            \"cpu_count\": \"2\",\n"                                                   \
        "            \"disks\": {\n"                                                            \
        "                \"sda1\": {\n"                                                         \
        "                    \"total\": \"5116440064\",\n"                                      \
        "                    \"used\": \"1932735284\"\n"                                        \
        "                }\n"                                                                   \
        "            },\n"                                                                      \
        "            \"image_hash\": \"1797c5c82016c1e65f4008fcf89deae3a044ef76087a9ec5b907c6d64a3609ac\",\n" \
        "            \"image_release\": \"24.04 LTS\",\n"                                      \
        "            \"ipv4\": [\n"                                                             \
        "                \"10.22.115.7\"\n"                                                     \
        "            ],\n"                                                                      \
        "            \"load\": [\n"                                                             \
        "                0.03,\n"                                                               \
        "                0.1,\n"                                                                \
        "                0\n"                                                                   \
        "            ],\n"                                                                      \
        "            \"memory\": {\n"                                                           \
        "                \"total\": 2014781440,\n"                                              \
        "                \"used\": 238797312\n"                                                 \
        "            },\n"                                                                      \
        "            \"mounts\": {\n"                                                           \
        "            },\n"                                                                      \
        "            \"release\": \"Ubuntu 24.04.1 LTS\",\n"                                   \
        "            \"snapshot_count\": \"0\",\n"                                              \
        "            \"state\": \"Running\"\n"                                                  \
        "        }\n"                                                                           \
        "    }\n"                                                                               \
        "}\n"

static const char info_doc[] = INFO_DOC("db-1", "web-1");
static const char info_sorted[] = INFO_DOC("golem-db-1", "golem-web-1");

/* HEAD: insertion order and "zone"; here `multipass info golem-web-1` during a delayed stop. */
static const char info_head[] =
        "{\n"
        "    \"errors\": [\n"
        "    ],\n"
        "    \"info\": {\n"
        "        \"golem-web-1\": {\n"
        "            \"state\": \"Delayed Shutdown\",\n"
        "            \"zone\": {\n"
        "                \"name\": \"zone1\",\n"
        "                \"available\": true\n"
        "            },\n"
        "            \"image_hash\": \"1797c5c82016c1e65f4008fcf89deae3a044ef76087a9ec5b907c6d64a3609ac\",\n"
        "            \"image_release\": \"24.04 LTS\",\n"
        "            \"release\": \"Ubuntu 24.04.1 LTS\",\n"
        "            \"cpu_count\": \"2\",\n"
        "            \"load\": [\n"
        "                0.5,\n"
        "                0.25,\n"
        "                0\n"
        "            ],\n"
        "            \"disks\": {\n"
        "                \"sda1\": {\n"
        "                    \"used\": \"1932735284\",\n"
        "                    \"total\": \"5116440064\"\n"
        "                }\n"
        "            },\n"
        "            \"memory\": {\n"
        "                \"used\": 238797312,\n"
        "                \"total\": 2014781440\n"
        "            },\n"
        "            \"ipv4\": [\n"
        "                \"10.22.115.8\"\n"
        "            ],\n"
        "            \"mounts\": {\n"
        "            },\n"
        "            \"snapshot_count\": \"0\"\n"
        "        }\n"
        "    }\n"
        "}\n";

static int parse_list(const char *text, DriverVM **ret, size_t *ret_n) {
        return multipass_parse_list(text, strlen(text), ret, ret_n);
}

static int parse_info(const char *text, const char *name, DriverVM *ret) {
        return multipass_parse_info(text, strlen(text), name, ret);
}

static void assert_vm(const DriverVM *vm, const char *name, DriverVMState state, const char *ip) {
        ASSERT_STREQ(vm->name, name);
        ASSERT_STREQ(driver_vm_state_to_string(vm->state), driver_vm_state_to_string(state));
        ASSERT_STREQ(vm->ip_address, ip);
}

TEST(list_documented_text) {
        _cleanup_free_ DriverVM *vms = NULL;
        size_t n = 42;

        /* The documented instances are not golem's: skipped. */
        ASSERT_OK(parse_list(list_doc, &vms, &n));
        ASSERT_EQ_UINT(n, 0);
}

TEST(list_sorted_layout) {
        _cleanup_free_ DriverVM *vms = NULL;
        size_t n = 0;

        ASSERT_OK(parse_list(list_sorted, &vms, &n));
        ASSERT_EQ_UINT(n, 2);
        /* Names without the prefix, in multipass' order. */
        assert_vm(vms + 0, "web-1", DRIVER_VM_RUNNING, "10.22.115.7");
        assert_vm(vms + 1, "db-1", DRIVER_VM_STOPPED, "");
}

TEST(list_head_layout) {
        _cleanup_free_ DriverVM *vms = NULL;
        size_t n = 0;

        ASSERT_OK(parse_list(list_head, &vms, &n));
        ASSERT_EQ_UINT(n, 2);
        assert_vm(vms + 0, "db-1", DRIVER_VM_STOPPED, "");
        /* The management address comes first. */
        assert_vm(vms + 1, "web-1", DRIVER_VM_RUNNING, "10.22.115.7");
}

TEST(list_empty) {
        _cleanup_free_ DriverVM *vms = NULL;
        size_t n = 42;

        ASSERT_OK(parse_list(list_empty, &vms, &n));
        ASSERT_EQ_UINT(n, 0);
        ASSERT_NOT_NULL(vms);

        free(vms);
        vms = NULL;
        ASSERT_OK(parse_list("{\"list\":[]}", &vms, &n));
        ASSERT_EQ_UINT(n, 0);
}

TEST(list_addresses) {
        static const struct {
                const char *ipv4;
                const char *ip;
        } table[] = {
                { "[\"N/A\"]", "" },
                { "[]", "" },
                { "[\"10.0.0.5\"]", "10.0.0.5" },
                { "[\"N/A\", \"10.0.0.6\"]", "10.0.0.6" },
                { "[\"10.0.0.7\", \"172.17.0.1\", \"192.168.1.9\"]", "10.0.0.7" },
                { "[\"\", \"not an address\", \"10.0.0.8\"]", "10.0.0.8" },
                { "[5, null, {}, \"10.0.0.9\"]", "10.0.0.9" },
                { "[\"fd42:1:2::3\"]", "fd42:1:2::3" },
                { "[\"FD42:0001:0002:0000:0000:0000:0000:0003\"]", "fd42:1:2::3" },
                { "[\"010.0.0.1\"]", "" },
                { "[\"10.0.0.1/24\"]", "" },
                { "[\"10.0.0.1 \"]", "" },
                { "\"10.0.0.1\"", "" },
                { "null", "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_free_ DriverVM *vms = NULL;
                size_t n = 0;

                ASSERT_TRUE(asprintf(&text, "{\"list\": [{\"ipv4\": %s, \"name\": \"golem-web-1\", "
                                     "\"release\": \"Ubuntu 24.04 LTS\", \"state\": \"Running\"}]}",
                                     table[i].ipv4) >= 0);
                TEST_CONTEXT("%s", text);
                ASSERT_OK(parse_list(text, &vms, &n));
                ASSERT_EQ_UINT(n, 1);
                assert_vm(vms, "web-1", DRIVER_VM_RUNNING, table[i].ip);
        }

        /* No "ipv4" at all. */
        {
                _cleanup_free_ DriverVM *vms = NULL;
                size_t n = 0;

                ASSERT_OK(parse_list("{\"list\": [{\"name\": \"golem-web-1\", \"state\": \"Starting\"}]}", &vms, &n));
                ASSERT_EQ_UINT(n, 1);
                assert_vm(vms, "web-1", DRIVER_VM_STARTING, "");
        }
}

TEST(list_skips_others) {
        static const char text[] =
                "{\"list\": ["
                "{\"ipv4\": [], \"name\": \"primary\", \"release\": \"Ubuntu 24.04 LTS\", \"state\": \"Stopped\"},"
                "{\"ipv4\": [], \"name\": \"golem\", \"release\": \"\", \"state\": \"Stopped\"},"
                "{\"ipv4\": [], \"name\": \"golem-\", \"release\": \"\", \"state\": \"Stopped\"},"
                "{\"ipv4\": [], \"name\": \"golem-ab\", \"release\": \"\", \"state\": \"Stopped\"},"
                "{\"ipv4\": [], \"name\": \"golem-Web-1\", \"release\": \"\", \"state\": \"Stopped\"},"
                "{\"ipv4\": [], \"name\": \"golem-a--b\", \"release\": \"\", \"state\": \"Stopped\"},"
                "{\"ipv4\": [], \"name\": \"Golem-web-2\", \"release\": \"\", \"state\": \"Stopped\"},"
                "{\"ipv4\": [], \"name\": \"my-golem-web-3\", \"release\": \"\", \"state\": \"Stopped\"},"
                "{\"name\": \"not-ours\", \"state\": 42},"
                "{\"ipv4\": [\"10.1.1.1\"], \"name\": \"golem-web-1\", \"release\": \"\", \"state\": \"Running\"},"
                "{\"ipv4\": [], \"name\": \"golem-golem-web\", \"release\": \"\", \"state\": \"Deleted\"}"
                "]}";
        _cleanup_free_ DriverVM *vms = NULL;
        size_t n = 0;

        ASSERT_OK(parse_list(text, &vms, &n));
        ASSERT_EQ_UINT(n, 2);
        assert_vm(vms + 0, "web-1", DRIVER_VM_RUNNING, "10.1.1.1");
        assert_vm(vms + 1, "golem-web", DRIVER_VM_DELETED, "");
}

TEST(list_malformed) {
        static const char *const table[] = {
                "",
                " ",
                "{",
                "null",
                "[]",
                "{}",
                "42",
                "\"list\"",
                "{\"list\": null}",
                "{\"list\": {}}",
                "{\"list\": \"golem-web-1\"}",
                "{\"list\": {\"name\": \"golem-web-1\", \"state\": \"Running\"}}",
                "{\"list\": [5]}",
                "{\"list\": [null]}",
                "{\"list\": [[]]}",
                "{\"list\": [{}]}",
                "{\"list\": [{\"name\": 5, \"state\": \"Running\"}]}",
                "{\"list\": [{\"name\": null, \"state\": \"Running\"}]}",
                "{\"list\": [{\"name\": [\"golem-web-1\"], \"state\": \"Running\"}]}",
                "{\"list\": [{\"name\": \"golem-web-1\"}]}",
                "{\"list\": [{\"name\": \"golem-web-1\", \"state\": 1}]}",
                "{\"list\": [{\"name\": \"golem-web-1\", \"state\": null}]}",
                "{\"list\": [{\"name\": \"golem-web-1\", \"state\": \"Running\"}, 7]}",
                "{\"list\": []} trailing",
                "{\"list\": []}{\"list\": []}",
                "{\"list\": [],}",
                "{\"list\": [\"golem-web-1\"]}",
                "list failed: cannot connect to the multipass socket\n",
                "Name State IPv4 Image\nNo instances found.\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                DriverVM *vms = (DriverVM *) "untouched";
                size_t n = 4242;

                TEST_CONTEXT("\"%s\"", table[i]);
                ASSERT_TRUE(parse_list(table[i], &vms, &n) < 0);
                ASSERT_STREQ((const char *) vms, "untouched");
                ASSERT_EQ_UINT(n, 4242);
        }

        /* A NUL byte inside, and invalid UTF-8. */
        {
                static const char nul[] = "{\"list\": [\0]}";
                static const char bad_utf8[] = "{\"list\": [{\"name\": \"golem-web-1\xff\", \"state\": \"Running\"}]}";
                DriverVM *vms = NULL;
                size_t n = 0;

                TEST_CONTEXT("NUL");
                ASSERT_TRUE(multipass_parse_list(nul, sizeof(nul) - 1, &vms, &n) < 0);
                TEST_CONTEXT("invalid UTF-8");
                ASSERT_TRUE(parse_list(bad_utf8, &vms, &n) < 0);
                ASSERT_NULL(vms);
        }
}

/* Every prefix of a real output fails cleanly (a command killed while printing). */
TEST(list_truncated) {
        size_t size = strlen(list_sorted);

        for (size_t k = 0; k < size; k++) {
                DriverVM *vms = NULL;
                size_t n = 0;
                int r;

                TEST_CONTEXT("first %zu bytes", k);
                r = multipass_parse_list(list_sorted, k, &vms, &n);
                /* The last '\n' is optional. */
                if (k == size - 1) {
                        ASSERT_OK(r);
                        ASSERT_EQ_UINT(n, 2);
                        free(vms);
                        continue;
                }
                ASSERT_ERROR(r, EBADMSG);
                ASSERT_NULL(vms);
        }
}

TEST(info_documented_text) {
        DriverVM vm;

        /* "web-1" is looked up as golem-web-1, which the documented output does not have. */
        ASSERT_ERROR(parse_info(info_doc, "web-1", &vm), ENOENT);
        ASSERT_ERROR(parse_info(info_doc, "db-1", &vm), ENOENT);
}

TEST(info_sorted_layout) {
        DriverVM vm;

        memset(&vm, 'X', sizeof(vm));
        ASSERT_OK(parse_info(info_sorted, "web-1", &vm));
        assert_vm(&vm, "web-1", DRIVER_VM_RUNNING, "10.22.115.7");

        memset(&vm, 'X', sizeof(vm));
        ASSERT_OK(parse_info(info_sorted, "db-1", &vm));
        assert_vm(&vm, "db-1", DRIVER_VM_STOPPED, "");

        memset(&vm, 'X', sizeof(vm));
        ASSERT_ERROR(parse_info(info_sorted, "web-2", &vm), ENOENT);
        ASSERT_EQ_INT(vm.name[0], 'X');
        ASSERT_ERROR(parse_info(info_sorted, "golem-web-1", &vm), ENOENT);
}

TEST(info_head_layout) {
        DriverVM vm;

        ASSERT_OK(parse_info(info_head, "web-1", &vm));
        assert_vm(&vm, "web-1", DRIVER_VM_RUNNING, "10.22.115.8");
}

TEST(info_empty) {
        DriverVM vm;

        /* `multipass info --format json` with no instances. */
        ASSERT_ERROR(parse_info("{\n    \"errors\": [\n    ],\n    \"info\": {\n    }\n}\n", "web-1", &vm), ENOENT);
}

TEST(info_malformed) {
        static const char *const table[] = {
                "",
                "{",
                "null",
                "[]",
                "{}",
                "{\"errors\": []}",
                "{\"info\": []}",
                "{\"info\": null}",
                "{\"info\": \"golem-web-1\"}",
                "{\"info\": {\"golem-web-1\": 5}}",
                "{\"info\": {\"golem-web-1\": null}}",
                "{\"info\": {\"golem-web-1\": []}}",
                "{\"info\": {\"golem-web-1\": {}}}",
                "{\"info\": {\"golem-web-1\": {\"state\": 3}}}",
                "{\"info\": {\"golem-web-1\": {\"state\": [\"Running\"]}}}",
                "{\"info\": {}} x",
                "info failed: The following errors occurred:\ninstance \"golem-web-1\" does not exist\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                DriverVM vm;

                TEST_CONTEXT("\"%s\"", table[i]);
                memset(&vm, 'X', sizeof(vm));
                ASSERT_TRUE(parse_info(table[i], "web-1", &vm) < 0);
                ASSERT_EQ_INT(vm.name[0], 'X');
        }

        for (size_t k = 0; k + 1 < strlen(info_sorted); k++) {
                DriverVM vm;

                TEST_CONTEXT("first %zu bytes of the info output", k);
                ASSERT_ERROR(multipass_parse_info(info_sorted, k, "web-1", &vm), EBADMSG);
        }
}

TEST(states) {
        static const struct {
                const char *multipass;
                DriverVMState state;
        } table[] = {
                { "Running", DRIVER_VM_RUNNING },
                { "Delayed Shutdown", DRIVER_VM_RUNNING },
                { "Starting", DRIVER_VM_STARTING },
                { "Restarting", DRIVER_VM_STARTING },
                { "Stopped", DRIVER_VM_STOPPED },
                { "Suspending", DRIVER_VM_SUSPENDED },
                { "Suspended", DRIVER_VM_SUSPENDED },
                { "Deleted", DRIVER_VM_DELETED },
                { "Unknown", DRIVER_VM_UNKNOWN },
                /* Anything else, including case and spacing variants, is unknown. */
                { "running", DRIVER_VM_UNKNOWN },
                { "RUNNING", DRIVER_VM_UNKNOWN },
                { "Running ", DRIVER_VM_UNKNOWN },
                { " Running", DRIVER_VM_UNKNOWN },
                { "DelayedShutdown", DRIVER_VM_UNKNOWN },
                { "Delayed shutdown", DRIVER_VM_UNKNOWN },
                { "Off", DRIVER_VM_UNKNOWN },
                { "", DRIVER_VM_UNKNOWN },
                { "N/A", DRIVER_VM_UNKNOWN },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_free_ DriverVM *vms = NULL;
                DriverVM vm;
                size_t n = 0;

                TEST_CONTEXT("\"%s\"", table[i].multipass);
                ASSERT_EQ_INT(multipass_state_from_string(table[i].multipass), table[i].state);

                /* The same through both parsers. */
                ASSERT_TRUE(asprintf(&text, "{\"list\": [{\"ipv4\": [], \"name\": \"golem-vm-%zu\", \"state\": \"%s\"}],"
                                     " \"info\": {\"golem-vm-%zu\": {\"ipv4\": [], \"state\": \"%s\"}}}",
                                     i, table[i].multipass, i, table[i].multipass) >= 0);
                ASSERT_OK(parse_list(text, &vms, &n));
                ASSERT_EQ_UINT(n, 1);
                ASSERT_EQ_INT(vms[0].state, table[i].state);
                {
                        char name[32];

                        snprintf(name, sizeof(name), "vm-%zu", i);
                        ASSERT_OK(parse_info(text, name, &vm));
                        ASSERT_STREQ(vm.name, name);
                        ASSERT_EQ_INT(vm.state, table[i].state);
                }
        }
        ASSERT_EQ_INT(multipass_state_from_string(NULL), DRIVER_VM_UNKNOWN);

        ASSERT_STREQ(driver_vm_state_to_string(DRIVER_VM_RUNNING), "running");
        ASSERT_STREQ(driver_vm_state_to_string(DRIVER_VM_STARTING), "starting");
        ASSERT_STREQ(driver_vm_state_to_string(DRIVER_VM_STOPPED), "stopped");
        ASSERT_STREQ(driver_vm_state_to_string(DRIVER_VM_SUSPENDED), "suspended");
        ASSERT_STREQ(driver_vm_state_to_string(DRIVER_VM_DELETED), "deleted");
        ASSERT_STREQ(driver_vm_state_to_string(DRIVER_VM_UNKNOWN), "unknown");
        ASSERT_NULL(driver_vm_state_to_string(_DRIVER_VM_STATE_MAX));
        ASSERT_EQ_INT(driver_vm_state_from_string("running"), DRIVER_VM_RUNNING);
        ASSERT_EQ_INT(driver_vm_state_from_string("Running"), -EINVAL);
}

/* ---- cloud-init ---- */

/* Checks the user-data for name and key: the header line, then JSON (which is YAML) that
 * holds exactly the hostname and the one key. */
static void check_user_data(const char *name, const char *key) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *keys, *v;
        const char *body;

        ASSERT_OK(cloud_init_user_data(name, key, &text));
        ASSERT_TRUE(strncmp(text, "#cloud-config\n", 14) == 0);
        body = text + 14;
        /* The header is the only comment line. */
        ASSERT_TRUE(body[0] == '{');
        ASSERT_OK(json_parse(body, strlen(body), &o));
        ASSERT_TRUE(json_object_is_type(o, json_type_object));
        ASSERT_EQ_INT(json_object_object_length(o), 2);

        ASSERT_TRUE(json_object_object_get_ex(o, "hostname", &v));
        ASSERT_TRUE(json_object_is_type(v, json_type_string));
        ASSERT_STREQ(json_object_get_string(v), name);

        ASSERT_TRUE(json_object_object_get_ex(o, "ssh_authorized_keys", &keys));
        ASSERT_TRUE(json_object_is_type(keys, json_type_array));
        ASSERT_EQ_UINT(json_object_array_length(keys), 1);
        v = json_object_array_get_idx(keys, 0);
        ASSERT_TRUE(json_object_is_type(v, json_type_string));
        ASSERT_EQ_UINT(json_object_get_string_len(v), strlen(key));
        ASSERT_STREQ(json_object_get_string(v), key);
}

TEST(cloud_init) {
        _cleanup_free_ char *text = NULL;

        check_user_data("web-1", KEY_ED25519);
        check_user_data("db-1", KEY_RSA);
        check_user_data("a23456789012345678901234567890123456789012345678901234567890123", KEY_ECDSA521);
        check_user_data("sk", KEY_SK_ED25519);

        /* The key appears verbatim: '/' and '+' are not escaped (YAML 1.1 knows no "\/"). */
        ASSERT_OK(cloud_init_user_data("web-1", KEY_ED25519, &text));
        ASSERT_STR_CONTAINS(text, "\"" KEY_ED25519 "\"");
        ASSERT_STR_CONTAINS(text, "\"web-1\"");
        ASSERT_TRUE(strstr(text, "\\/") == NULL);
        /* Ends with a newline. */
        ASSERT_EQ_INT(text[strlen(text) - 1], '\n');
}

TEST(cloud_init_no_breakout) {
        /* The validator refuses these, but the user-data must hold whatever it gets. */
        static const char *const keys[] = {
                "ssh-ed25519 " KEY_ED25519_BLOB " \"quoted\" and \\backslash\\",
                "ssh-ed25519 " KEY_ED25519_BLOB " \"], \"runcmd\": [\"touch /pwned\"], \"x\": [\"",
                "ssh-ed25519 " KEY_ED25519_BLOB "\\\"}\n#cloud-config\nruncmd: [reboot]",
                "ssh-ed25519 " KEY_ED25519_BLOB "\nruncmd:\n  - [sh, -c, 'id > /pwned']\n",
                "ssh-ed25519 " KEY_ED25519_BLOB "\r\nusers: []",
                "ssh-ed25519 " KEY_ED25519_BLOB " \x1b[2J\x07\x08\t\x7f",
                "ssh-ed25519 " KEY_ED25519_BLOB " caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x94\x91",
                "ssh-ed25519 " KEY_ED25519_BLOB " # comment: {a: b} &anchor *alias !!python/object",
                "\\",
                "\"",
                "",
        };

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                TEST_CONTEXT("keys[%zu]", i);
                check_user_data("web-1", keys[i]);
        }
        check_user_data("evil\"name\\\n", KEY_ED25519);
}
