/* SPDX-License-Identifier: MIT */
/* What golemctl reads from the network (advertisements, VMs, jobs, access data, error
 * envelopes) and what it hands to ssh. */
#include <sys/stat.h>

#include "golemctl-http.h"
#include "golemctl-output.h"
#include "golemctl-ssh.h"
#include "golemctl-wire.h"
#include "json-util.h"
#include "tests.h"

static json_object *parse(const char *s) {
        json_object *o = NULL;

        if (json_parse(s, strlen(s), &o) < 0)
                tests_fail(__FILE__, __LINE__, "test JSON does not parse: %s", s);
        return o;
}

#define AD_OK "{\"provider_id\":\"0x12\",\"ip_address\":\"2001:DB8::1\",\"country\":\"se\"," \
              "\"platform\":\"x86_64\",\"resources\":{\"cpu\":4,\"memory\":8,\"storage\":40,\"gpu\":1}," \
              "\"pricing\":null,\"created_at\":\"2026-11-23T17:04:05Z\",\"updated_at\":\"2026-11-23T17:04:05Z\"}"

TEST(advertisement_valid) {
        _cleanup_json_ json_object *o = parse(AD_OK);
        Advertisement a;

        ASSERT_OK(advertisement_from_json(o, ADVERTISEMENT_SERVED, NULL, &a, NULL));
        ASSERT_STREQ(a.provider_id, "0x12");
        ASSERT_STREQ(a.ip_address, "2001:db8::1");
        ASSERT_STREQ(a.country, "SE");
        ASSERT_STREQ(a.platform, "x86_64");
        ASSERT_EQ_INT(a.resources.cpu, 4);
        ASSERT_EQ_INT(a.resources.memory, 8);
        ASSERT_EQ_INT(a.resources.storage, 40);
        ASSERT_TRUE(a.updated_at > 0);
        /* Neither field: a legacy advertisement, on the configured port. */
        ASSERT_FALSE(a.verified);
        ASSERT_EQ_INT(a.api_port, 0);
}

#define AD_MIN "\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\"," \
               "\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}"

TEST(advertisement_trust) {
        static const struct {
                const char *json;
                bool verified;
                unsigned api_port;
        } table[] = {
                { "{" AD_MIN ",\"verified\":true,\"api_port\":8080}", true, 8080 },
                { "{" AD_MIN ",\"verified\":false,\"api_port\":65535}", false, 65535 },
                { "{" AD_MIN ",\"verified\":null,\"api_port\":null}", false, 0 },
                { "{" AD_MIN ",\"verified\":true,\"api_port\":1}", true, 1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = parse(table[i].json);
                Advertisement a;

                TEST_CONTEXT("%s", table[i].json);
                ASSERT_OK(advertisement_from_json(o, ADVERTISEMENT_SERVED, NULL, &a, NULL));
                ASSERT_EQ_INT(a.verified, table[i].verified);
                ASSERT_EQ_INT(a.api_port, table[i].api_port);
        }
}

TEST(advertisement_refused) {
        static const struct {
                const char *json, *field;
        } table[] = {
                { "[]", "advertisement" },
                { "{\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}}", "provider_id" },
                { "{\"provider_id\":\"a/b\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}}", "provider_id" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"999.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}}", "ip_address" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"evil.example\",\"country\":\"SE\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}}", "ip_address" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"XX\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}}", "country" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":-1,\"memory\":1,\"storage\":1}}", "cpu" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":1.5,\"memory\":1,\"storage\":1}}", "cpu" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":1,\"memory\":\"8\",\"storage\":1}}", "memory" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":1,\"memory\":1}}", "storage" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":99999999999}}", "storage" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"platform\":\"x\\u001b[2J\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}}", "platform" },
                { "{\"provider_id\":\"p\",\"ip_address\":\"1.2.3.4\",\"country\":\"SE\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1},\"updated_at\":\"yesterday\"}", "updated_at" },
                { "{" AD_MIN ",\"verified\":\"yes\"}", "verified" },
                { "{" AD_MIN ",\"verified\":1}", "verified" },
                { "{" AD_MIN ",\"api_port\":0}", "api_port" },
                { "{" AD_MIN ",\"api_port\":65536}", "api_port" },
                { "{" AD_MIN ",\"api_port\":\"7466\"}", "api_port" },
                { "{" AD_MIN ",\"api_port\":7466.5}", "api_port" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = parse(table[i].json);
                WireError e = {};
                Advertisement a;

                TEST_CONTEXT("%s", table[i].json);
                ASSERT_ERROR(advertisement_from_json(o, ADVERTISEMENT_SERVED, NULL, &a, &e), EBADMSG);
                ASSERT_STREQ(e.field, table[i].field);
        }
}

#define VM_OK "{\"id\":\"web\",\"name\":\"web\",\"status\":\"running\",\"resources\":{\"cpu\":2,\"memory\":4,\"storage\":20}," \
              "\"image\":\"ubuntu:24.04\",\"ip_address\":\"10.0.0.2\",\"ssh_port\":50801," \
              "\"created_at\":\"2026-11-23T17:04:05Z\",\"updated_at\":\"2026-11-23T17:04:05Z\"," \
              "\"error_message\":\"launch failed:\\nsomething\\u001b[31m red \\u009b2J\"}"

TEST(vm_valid) {
        _cleanup_json_ json_object *o = parse(VM_OK);
        RemoteVM vm;

        ASSERT_OK(remote_vm_from_json(o, &vm, NULL));
        ASSERT_STREQ(vm.name, "web");
        ASSERT_STREQ(vm.status, "running");
        ASSERT_EQ_INT(vm.resources.memory, 4);
        ASSERT_STREQ(vm.image, "ubuntu:24.04");
        ASSERT_STREQ(vm.ip_address, "10.0.0.2");
        ASSERT_EQ_INT(vm.ssh_port, 50801);
        /* Free text is made printable, not refused: no escape sequence reaches a terminal. */
        ASSERT_STREQ(vm.error_message, "launch failed: something [31m red   2J");
}

TEST(vm_nulls) {
        _cleanup_json_ json_object *o = parse(
                "{\"name\":\"web\",\"status\":\"creating\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":10},"
                "\"image\":null,\"ip_address\":null,\"ssh_port\":null,\"created_at\":null,\"error_message\":null}");
        RemoteVM vm;

        ASSERT_OK(remote_vm_from_json(o, &vm, NULL));
        ASSERT_STREQ(vm.image, "");
        ASSERT_STREQ(vm.ip_address, "");
        ASSERT_EQ_INT(vm.ssh_port, 0);
        ASSERT_EQ_INT(vm.created_at, 0);
        ASSERT_STREQ(vm.error_message, "");
}

TEST(vm_refused) {
        static const struct {
                const char *json, *field;
        } table[] = {
                { "{\"name\":\"../x\",\"status\":\"running\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}}", "name" },
                { "{\"name\":\"web\",\"status\":\"Running\\n\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}}", "status" },
                { "{\"name\":\"web\",\"status\":\"running\",\"resources\":{\"cpu\":0,\"memory\":1,\"storage\":1}}", "cpu" },
                { "{\"name\":\"web\",\"status\":\"running\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1},\"ssh_port\":70000}", "ssh_port" },
                { "{\"name\":\"web\",\"status\":\"running\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1},\"image\":\"-oProxyCommand\"}", "image" },
                { "{\"name\":\"web\",\"status\":\"running\",\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1},\"error_message\":7}", "error_message" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = parse(table[i].json);
                const char *field = NULL;
                RemoteVM vm;

                TEST_CONTEXT("%s", table[i].json);
                ASSERT_ERROR(remote_vm_from_json(o, &vm, &field), EBADMSG);
                ASSERT_STREQ(field, table[i].field);
        }
}

TEST(job) {
        _cleanup_json_ json_object *accepted = parse("{\"job_id\":\"0123abcd\",\"vm_id\":\"web\",\"status\":\"creating\"}");
        _cleanup_json_ json_object *running = parse("{\"job_id\":\"0123abcd\",\"vm_id\":\"web\",\"status\":\"creating\","
                                                    "\"progress\":42,\"stage\":\"Retrieving image\",\"error\":null}");
        _cleanup_json_ json_object *failed = parse("{\"job_id\":\"0123abcd\",\"vm_id\":\"web\",\"status\":\"failed\","
                                                   "\"error\":\"launch failed\"}");
        _cleanup_json_ json_object *bad = parse("{\"job_id\":\"01 23\",\"vm_id\":\"web\",\"status\":\"creating\"}");
        _cleanup_json_ json_object *bad_status = parse("{\"job_id\":\"0123\",\"vm_id\":\"web\",\"status\":\"done\"}");
        _cleanup_json_ json_object *bad_progress = parse("{\"job_id\":\"0123\",\"vm_id\":\"web\",\"status\":\"creating\",\"progress\":101}");
        const char *field = NULL;
        Job j;

        ASSERT_OK(job_from_json(accepted, &j, NULL));
        ASSERT_EQ_INT(j.status, JOB_CREATING);
        ASSERT_EQ_INT(j.progress, -1);
        ASSERT_STREQ(j.stage, "");
        ASSERT_OK(job_from_json(running, &j, NULL));
        ASSERT_EQ_INT(j.progress, 42);
        ASSERT_STREQ(j.stage, "Retrieving image");
        ASSERT_OK(job_from_json(failed, &j, NULL));
        ASSERT_EQ_INT(j.status, JOB_FAILED);
        ASSERT_STREQ(j.error, "launch failed");
        ASSERT_ERROR(job_from_json(bad, &j, &field), EBADMSG);
        ASSERT_STREQ(field, "job_id");
        ASSERT_ERROR(job_from_json(bad_status, &j, &field), EBADMSG);
        ASSERT_STREQ(field, "status");
        ASSERT_ERROR(job_from_json(bad_progress, &j, &field), EBADMSG);
        ASSERT_STREQ(field, "progress");
}

TEST(access) {
        _cleanup_json_ json_object *ip = parse("{\"ssh_host\":\"::FFFF:1.2.3.4\",\"ssh_port\":50800,\"vm_id\":\"web\"}");
        _cleanup_json_ json_object *name = parse("{\"ssh_host\":\"provider.example.org\",\"ssh_port\":22}");
        _cleanup_json_ json_object *opt = parse("{\"ssh_host\":\"-oProxyCommand=x\",\"ssh_port\":22}");
        _cleanup_json_ json_object *port = parse("{\"ssh_host\":\"1.2.3.4\",\"ssh_port\":0}");
        const char *field = NULL;
        Access a;

        ASSERT_OK(access_from_json(ip, &a, NULL));
        ASSERT_STREQ(a.ssh_host, "::ffff:1.2.3.4");
        ASSERT_EQ_INT(a.ssh_port, 50800);
        ASSERT_OK(access_from_json(name, &a, NULL));
        ASSERT_STREQ(a.ssh_host, "provider.example.org");
        ASSERT_ERROR(access_from_json(opt, &a, &field), EBADMSG);
        ASSERT_STREQ(field, "ssh_host");
        ASSERT_ERROR(access_from_json(port, &a, &field), EBADMSG);
        ASSERT_STREQ(field, "ssh_port");
}

TEST(error_envelopes) {
        static const struct {
                const char *json, *code, *message;
        } table[] = {
                { "{\"detail\":{\"code\":\"RESOURCE_UNAVAILABLE\",\"message\":\"Not enough memory: 8 GB requested, 4 GB available\"}}",
                  "RESOURCE_UNAVAILABLE", "Not enough memory: 8 GB requested, 4 GB available" },
                { "{\"detail\":\"Not Found\"}", NULL, "Not Found" },
                { "{\"detail\":[{\"loc\":[\"body\",\"name\"],\"msg\":\"field required\"}]}", NULL, "field required" },
                { "{\"detail\":{\"code\":\"bad code!\",\"message\":\"x\\u001b]0;pwned\\u0007\"}}", NULL, "x ]0;pwned " },
                { "{\"error\":\"other\"}", NULL, NULL },
                { "[1]", NULL, NULL },
                { "{\"detail\":{\"code\":\"X\",\"message\":\"\"}}", "X", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = parse(table[i].json);
                _cleanup_free_ char *code = NULL, *message = NULL;

                TEST_CONTEXT("%s", table[i].json);
                http_error_from_json(o, &code, &message);
                if (table[i].code)
                        ASSERT_STREQ(code, table[i].code);
                else
                        ASSERT_NULL(code);
                if (table[i].message)
                        ASSERT_STREQ(message, table[i].message);
                else
                        ASSERT_NULL(message);
        }
}

TEST(reasons) {
        HttpCall c = { .result = -ECONNREFUSED };
        char buf[HTTP_REASON_MAX];

        ASSERT_STREQ(http_call_reason(&c, buf, sizeof(buf)), "Connection refused");
        c = (HttpCall) { .result = -ETIMEDOUT };
        ASSERT_STREQ(http_call_reason(&c, buf, sizeof(buf)), "No answer (timed out)");
        c = (HttpCall) { .result = 0, .status = 502, .body_invalid = true };
        ASSERT_STREQ(http_call_reason(&c, buf, sizeof(buf)), "HTTP 502 (body is not JSON)");
        c = (HttpCall) { .result = 0, .status = 503, .error_message = (char *) "Not enough CPU" };
        ASSERT_STREQ(http_call_reason(&c, buf, sizeof(buf)), "Not enough CPU");
}

TEST(printable) {
        _cleanup_free_ char *a = string_printable("a\tb\nc\x7f" "d", 100);
        _cleanup_free_ char *b = string_printable("åäö", 3);   /* cut inside the second letter */
        _cleanup_free_ char *c = string_printable(NULL, 10);

        ASSERT_STREQ(a, "a b c d");
        ASSERT_STREQ(b, "å");
        ASSERT_STREQ(c, "");
}

TEST(urls) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        ASSERT_OK(url_from_ip("192.0.2.7", 7466, &a));
        ASSERT_STREQ(a, "http://192.0.2.7:7466");
        ASSERT_OK(url_from_ip("2001:DB8::7", 7466, &b));
        ASSERT_STREQ(b, "http://[2001:db8::7]:7466");
        ASSERT_ERROR(url_from_ip("host.example", 7466, &c), EINVAL);
        ASSERT_OK(url_join(&c, "http://d.example:9001//", "/api/v1/advertisements/%s", "0x12"));
        ASSERT_STREQ(c, "http://d.example:9001/api/v1/advertisements/0x12");
        ASSERT_OK(url_join(&d, "http://d.example/prefix", "/health"));
        ASSERT_STREQ(d, "http://d.example/prefix/health");

        ASSERT_TRUE(http_url_valid("http://localhost:9001"));
        ASSERT_TRUE(http_url_valid("https://[::1]:9001/x"));
        ASSERT_FALSE(http_url_valid("ftp://localhost"));
        ASSERT_FALSE(http_url_valid("localhost:9001"));
        ASSERT_FALSE(http_url_valid("http://a b"));
        ASSERT_FALSE(http_url_valid(""));
        ASSERT_FALSE(http_url_valid(NULL));
}

TEST(request_target) {
        static const struct {
                const char *url, *target;
        } table[] = {
                { "http://1.2.3.4:7466/api/v1/vms?async=true", "/api/v1/vms?async=true" },
                { "http://[2001:db8::1]:7466/api/v1/vms/web", "/api/v1/vms/web" },
                { "https://user@host.example/prefix/api/v1/vms", "/prefix/api/v1/vms" },
                { "http://host.example:7466", NULL },
                { "http://host.example?x=/y", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                HttpCall c = {};

                TEST_CONTEXT("%s", table[i].url);
                ASSERT_OK(http_call_init(&c, "GET", table[i].url, NULL, 0));
                if (table[i].target)
                        ASSERT_STREQ(http_call_target(&c), table[i].target);
                else
                        ASSERT_NULL(http_call_target(&c));
                http_call_done(&c);
        }
}

TEST(request_headers) {
        HttpCall c = {};

        ASSERT_OK(http_call_init(&c, "GET", "http://h/x", NULL, 0));
        ASSERT_OK(http_call_add_header(&c, "X-Golem-Nonce", "abc"));
        ASSERT_STREQ(c.headers[0], "X-Golem-Nonce: abc");
        ASSERT_ERROR(http_call_add_header(&c, "X-Bad", "a\r\nInjected: 1"), EINVAL);
        ASSERT_ERROR(http_call_add_header(&c, "X-Bad: x", "v"), EINVAL);
        for (size_t i = 1; i < HTTP_CALL_HEADERS_MAX; i++)
                ASSERT_OK(http_call_add_header(&c, "X-More", "v"));
        ASSERT_ERROR(http_call_add_header(&c, "X-One-Too-Many", "v"), E2BIG);
        http_call_done(&c);
}

TEST(ssh_key_names) {
        ASSERT_TRUE(ssh_key_name_valid("laptop"));
        ASSERT_TRUE(ssh_key_name_valid("me@host.example"));
        ASSERT_TRUE(ssh_key_name_valid("id_ed25519"));
        ASSERT_FALSE(ssh_key_name_valid(""));
        ASSERT_FALSE(ssh_key_name_valid("."));
        ASSERT_FALSE(ssh_key_name_valid(".."));
        ASSERT_FALSE(ssh_key_name_valid("-x"));
        ASSERT_FALSE(ssh_key_name_valid("a/b"));
        ASSERT_FALSE(ssh_key_name_valid("a b"));
        ASSERT_FALSE(ssh_key_name_valid("a%2e"));
        ASSERT_TRUE(ssh_key_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        ASSERT_FALSE(ssh_key_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST(hostnames) {
        ASSERT_TRUE(hostname_valid("a.example.org"));
        ASSERT_TRUE(hostname_valid("localhost"));
        ASSERT_FALSE(hostname_valid("-a.example"));
        ASSERT_FALSE(hostname_valid("a..b"));
        ASSERT_FALSE(hostname_valid("a b"));
        ASSERT_FALSE(hostname_valid("a@b"));
        ASSERT_FALSE(hostname_valid(""));
}

/* ---- ssh ---- */

TEST(ssh_argv) {
        char *command[] = { (char *) "echo", (char *) "-n", (char *) "hello", NULL };
        _cleanup_strv_free_ char **argv = NULL;
        static const char *const expected[] = {
                "ssh", "-o", "UserKnownHostsFile=/s/known_hosts/0x12-web", "-o", "StrictHostKeyChecking=accept-new",
                "-o", "IdentitiesOnly=yes", "-i", "/k/id_ed25519", "-p", "50801", "--", "ubuntu@192.0.2.7",
                "echo", "-n", "hello", NULL,
        };

        ASSERT_OK(ssh_argv_build(&(SshTarget) {
                .user = "ubuntu", .host = "192.0.2.7", .port = 50801,
                .identity = "/k/id_ed25519", .known_hosts = "/s/known_hosts/0x12-web",
                .command = command,
        }, &argv));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                TEST_CONTEXT("argv[%zu]", i);
                if (expected[i])
                        ASSERT_STREQ(argv[i], expected[i]);
                else
                        ASSERT_NULL(argv[i]);
        }
}

TEST(ssh_argv_escapes_paths) {
        _cleanup_strv_free_ char **argv = NULL;

        /* ssh expands %-tokens in both, and splits an -o value on blanks. */
        ASSERT_OK(ssh_argv_build(&(SshTarget) {
                .user = "root", .host = "::1", .port = 22,
                .identity = "/home/a b/100%/key", .known_hosts = "/home/a b/known",
        }, &argv));
        ASSERT_STREQ(argv[2], "UserKnownHostsFile=\"/home/a b/known\"");
        ASSERT_STREQ(argv[8], "/home/a b/100%%/key");
        ASSERT_STREQ(argv[12], "root@::1");
        ASSERT_NULL(argv[13]);

        ASSERT_ERROR(ssh_argv_build(&(SshTarget) {
                .user = "root", .host = "h", .port = 22, .identity = "/x/${HOME}/k", .known_hosts = "/k",
        }, &argv), EINVAL);
        ASSERT_ERROR(ssh_argv_build(&(SshTarget) {
                .user = "-oProxyCommand=x", .host = "h", .port = 22, .identity = "/k", .known_hosts = "/k",
        }, &argv), EINVAL);
        ASSERT_ERROR(ssh_argv_build(&(SshTarget) {
                .user = "root", .host = "-oProxyCommand=x", .port = 22, .identity = "/k", .known_hosts = "/k",
        }, &argv), EINVAL);
        ASSERT_ERROR(ssh_argv_build(&(SshTarget) {
                .user = "root", .host = "h", .port = 0, .identity = "/k", .known_hosts = "/k",
        }, &argv), EINVAL);
}

TEST(ssh_known_hosts) {
        _cleanup_free_ char *p = NULL;

        ASSERT_OK(ssh_known_hosts_path("/s", "0x12", "web", &p));
        ASSERT_STREQ(p, "/s/known_hosts/0x12-web");
        ASSERT_ERROR(ssh_known_hosts_path("/s", "../x", "web", &p), EINVAL);
        ASSERT_ERROR(ssh_known_hosts_path("/s", "0x12", "../web", &p), EINVAL);
        ASSERT_TRUE(ssh_user_valid("ubuntu"));
        ASSERT_TRUE(ssh_user_valid("first.last"));
        ASSERT_FALSE(ssh_user_valid("-l"));
        ASSERT_FALSE(ssh_user_valid("a@b"));
        ASSERT_FALSE(ssh_user_valid(""));
}

#define PUB "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b"

TEST(ssh_keys) {
        char *dir = test_mkdtemp(), *home = NULL, *data = NULL, *priv = NULL, *pub = NULL;
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL;

        ASSERT_TRUE(asprintf(&home, "%s/home", dir) > 0);
        ASSERT_TRUE(asprintf(&data, "%s/data", dir) > 0);
        ASSERT_OK(mkdir(home, 0700));

        /* Nothing there, and nothing to be generated. */
        ASSERT_ERROR(ssh_key_resolve(NULL, home, data, false, &priv, &pub), ENOENT);

        /* An explicit key, named by its private half or its .pub. */
        p1 = test_write_file(dir, "mine.pub", PUB "\n", strlen(PUB "\n"));
        ASSERT_OK(ssh_key_resolve(p1, home, data, false, &priv, &pub));
        ASSERT_STREQ(pub, PUB);
        ASSERT_TRUE(endswith(priv, "/mine") != NULL);
        free(priv);
        free(pub);

        /* ~/.ssh/id_rsa when there is no id_ed25519; id_ed25519 first when there is. */
        ASSERT_TRUE(asprintf(&p2, "%s/.ssh", home) > 0);
        ASSERT_OK(mkdir(p2, 0700));
        free(test_write_file(p2, "id_rsa.pub", PUB, strlen(PUB)));
        ASSERT_OK(ssh_key_resolve(NULL, home, data, false, &priv, &pub));
        ASSERT_TRUE(endswith(priv, "/.ssh/id_rsa") != NULL);
        free(priv);
        free(pub);
        free(test_write_file(p2, "id_ed25519.pub", PUB, strlen(PUB)));
        ASSERT_OK(ssh_key_resolve(NULL, home, data, false, &priv, &pub));
        ASSERT_TRUE(endswith(priv, "/.ssh/id_ed25519") != NULL);
        free(priv);
        free(pub);

        /* Not a key. */
        p3 = test_write_file(dir, "bad.pub", "ssh-ed25519 AAAA\n", strlen("ssh-ed25519 AAAA\n"));
        ASSERT_ERROR(ssh_key_resolve(p3, home, data, false, &priv, &pub), EBADMSG);
        p4 = test_write_file(dir, "two.pub", PUB "\nsecond\n", strlen(PUB "\nsecond\n"));
        ASSERT_OK(ssh_key_resolve(p4, home, data, false, &priv, &pub));
        ASSERT_STREQ(pub, PUB);
        free(priv);
        free(pub);

        test_rm_rf(dir);
        free(dir);
        free(home);
        free(data);
}
