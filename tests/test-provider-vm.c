/* SPDX-License-Identifier: MIT */
/* The create request (POST /api/v1/vms body) and the VM as the REST API shows it. */

#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>

#include "json-util.h"
#include "macro.h"
#include "provider-vm.h"
#include "test-provider-keys.h"
#include "tests.h"

extern char **environ;

/* A refusal's message starts with the field it is about, then ':'. */
static void assert_field(const char *file, int line, const char *error, const char *field) {
        size_t n = strlen(field);

        if (strncmp(error, field, n) != 0 || error[n] != ':')
                tests_fail(file, line, "the message names \"%s\": got \"%s\"", field, error);
}
#define ASSERT_FIELD(error, field) assert_field(__FILE__, __LINE__, error, field)

/* Parses text strictly, as the REST layer does, then validates it. */
static int create_request(const char *text, VMCreateRequest *ret, char error[static FIELD_ERROR_MAX]) {
        _cleanup_json_ json_object *body = NULL;

        if (json_parse(text, strlen(text), &body) < 0)
                tests_fail(__FILE__, __LINE__, "test bug: not JSON: %s", text);
        return vm_create_request_from_json(body, ret, error);
}

#define K ", \"ssh_key\": \"" KEY_ED25519 "\""
#define N "\"name\": \"web-1\", "
#define NAME63 "a23456789012345678901234567890123456789012345678901234567890123"
#define NAME64 NAME63 "4"
#define IMAGE128 \
        "i2345678901234567890123456789012345678901234567890123456789012345678901234567890" \
        "123456789012345678901234567890123456789012345678"
#define IMAGE129 IMAGE128 "9"

typedef struct Row {
        const char *json;
        const char *field;            /* NULL: accepted */
        const char *name;
        Resources resources;
        const char *image;
        const char *ssh_key;
} Row;

#define OK(j, n, c, m, s, i, k) { .json = j, .name = n, .resources = { c, m, s }, .image = i, .ssh_key = k }
#define REFUSED(j, f) { .json = j, .field = f }

static const Row rows[] = {
        /* Names: 3-63 of [a-z0-9-], alphanumeric at both ends, no "--". */
        OK("{\"name\": \"web-1\", \"size\": \"small\"" K "}", "web-1", 1, 1, 10, "", KEY_ED25519),
        OK("{\"name\": \"abc\", \"size\": \"small\"" K "}", "abc", 1, 1, 10, "", KEY_ED25519),
        OK("{\"name\": \"123\", \"size\": \"small\"" K "}", "123", 1, 1, 10, "", KEY_ED25519),
        OK("{\"name\": \"a-b-c-9\", \"size\": \"small\"" K "}", "a-b-c-9", 1, 1, 10, "", KEY_ED25519),
        OK("{\"name\": \"" NAME63 "\", \"size\": \"small\"" K "}", NAME63, 1, 1, 10, "", KEY_ED25519),
        REFUSED("{\"name\": \"ab\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"" NAME64 "\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"UPPER\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"Web-1\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"a_b\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"a.b\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"-ab\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"ab-\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"a--b\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"../x\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"a/b\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"a b\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"w\xc3\xa9" "b\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"w\\u00e9b\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"web\\u0000x\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"web\\u0000\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"web\\nx\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"web-1\\n\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": \"\", \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": 123, \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": null, \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"name\": [\"web-1\"], \"size\": \"small\"" K "}", "name"),
        REFUSED("{\"size\": \"small\"" K "}", "name"),

        /* Sizes. */
        OK("{" N "\"size\": \"small\"" K "}", "web-1", 1, 1, 10, "", KEY_ED25519),
        OK("{" N "\"size\": \"medium\"" K "}", "web-1", 2, 4, 20, "", KEY_ED25519),
        OK("{" N "\"size\": \"large\"" K "}", "web-1", 4, 8, 40, "", KEY_ED25519),
        OK("{" N "\"size\": \"xlarge\"" K "}", "web-1", 8, 16, 80, "", KEY_ED25519),
        REFUSED("{" N "\"size\": \"huge\"" K "}", "size"),
        REFUSED("{" N "\"size\": \"Small\"" K "}", "size"),
        REFUSED("{" N "\"size\": \"\"" K "}", "size"),
        REFUSED("{" N "\"size\": 1" K "}", "size"),
        REFUSED("{" N "\"size\": {\"cpu\": 1}" K "}", "size"),
        REFUSED("{" N "\"size\": null" K "}", "resources"),
        REFUSED("{" N "\"image\": \"noble\"" K "}", "resources"),

        /* Precedence: resources, then the flat fields, then size. */
        OK("{" N "\"resources\": {\"cpu\": 3, \"memory\": 5, \"storage\": 30}, \"cpu\": 8, \"memory\": 16, \"storage\": 80, "
           "\"size\": \"xlarge\"" K "}", "web-1", 3, 5, 30, "", KEY_ED25519),
        OK("{" N "\"cpu\": 3, \"memory\": 5, \"storage\": 30, \"size\": \"xlarge\"" K "}", "web-1", 3, 5, 30, "", KEY_ED25519),
        OK("{" N "\"resources\": null, \"size\": \"large\"" K "}", "web-1", 4, 8, 40, "", KEY_ED25519),
        /* Not a fall-back: once resources is given, a bad one is refused whatever else is there. */
        REFUSED("{" N "\"resources\": {\"cpu\": 0, \"memory\": 5, \"storage\": 30}, \"size\": \"small\"" K "}", "resources.cpu"),
        REFUSED("{" N "\"cpu\": 2, \"size\": \"small\"" K "}", "memory"),
        /* A bad size is not even looked at when resources are given. */
        OK("{" N "\"resources\": {\"cpu\": 1, \"memory\": 1, \"storage\": 1}, \"size\": \"bogus\"" K "}",
           "web-1", 1, 1, 1, "", KEY_ED25519),

        /* Resources: integers within the limits. */
        OK("{" N "\"resources\": {\"cpu\": 256, \"memory\": 4096, \"storage\": 65536}" K "}", "web-1", 256, 4096, 65536, "", KEY_ED25519),
        REFUSED("{" N "\"resources\": {\"cpu\": 0, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": -1, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": 1.5, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": 2.0, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": 1e3, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": \"2\", \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": true, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": null, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": 257, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": 99999999999999999999, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": 9223372036854775807, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": -9223372036854775808, \"memory\": 1, \"storage\": 10}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": {\"cpu\": 1, \"memory\": 0, \"storage\": 10}" K "}", "resources.memory"),
        REFUSED("{" N "\"resources\": {\"cpu\": 1, \"memory\": 4097, \"storage\": 10}" K "}", "resources.memory"),
        REFUSED("{" N "\"resources\": {\"cpu\": 1, \"memory\": 1, \"storage\": -10}" K "}", "resources.storage"),
        REFUSED("{" N "\"resources\": {\"cpu\": 1, \"memory\": 1, \"storage\": 65537}" K "}", "resources.storage"),
        REFUSED("{" N "\"resources\": {\"cpu\": 1, \"memory\": 1}" K "}", "resources.storage"),
        REFUSED("{" N "\"resources\": {}" K "}", "resources.cpu"),
        REFUSED("{" N "\"resources\": [1, 1, 10]" K "}", "resources"),
        REFUSED("{" N "\"resources\": \"small\"" K "}", "resources"),
        REFUSED("{" N "\"cpu\": 0, \"memory\": 1, \"storage\": 10" K "}", "cpu"),
        REFUSED("{" N "\"cpu\": \"1\", \"memory\": 1, \"storage\": 10" K "}", "cpu"),
        REFUSED("{" N "\"cpu\": 1, \"memory\": 1.5, \"storage\": 10" K "}", "memory"),
        REFUSED("{" N "\"cpu\": 1, \"memory\": 1, \"storage\": 65537" K "}", "storage"),
        REFUSED("{" N "\"storage\": 10" K "}", "cpu"),

        /* Images: what multipass takes, never an option, a path or a URL. */
        OK("{" N "\"size\": \"small\", \"image\": \"ubuntu:24.04\"" K "}", "web-1", 1, 1, 10, "ubuntu:24.04", KEY_ED25519),
        OK("{" N "\"size\": \"small\", \"image\": \"24.04\"" K "}", "web-1", 1, 1, 10, "24.04", KEY_ED25519),
        OK("{" N "\"size\": \"small\", \"image\": \"noble\"" K "}", "web-1", 1, 1, 10, "noble", KEY_ED25519),
        OK("{" N "\"size\": \"small\", \"image\": \"daily:24.10\"" K "}", "web-1", 1, 1, 10, "daily:24.10", KEY_ED25519),
        OK("{" N "\"size\": \"small\", \"image\": null" K "}", "web-1", 1, 1, 10, "", KEY_ED25519),
        OK("{" N "\"size\": \"small\", \"image\": \"" IMAGE128 "\"" K "}", "web-1", 1, 1, 10, IMAGE128, KEY_ED25519),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"" IMAGE129 "\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"--disk=1\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"-x\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"../../etc/passwd\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \".hidden\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \":24.04\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"http://x\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"file:///tmp/x.img\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"noble lts\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": \"noble\\n\"" K "}", "image"),
        REFUSED("{" N "\"size\": \"small\", \"image\": 24.04" K "}", "image"),

        /* SSH keys. */
        OK("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_RSA "\"}", "web-1", 1, 1, 10, "", KEY_RSA),
        OK("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ECDSA256 "\"}", "web-1", 1, 1, 10, "", KEY_ECDSA256),
        OK("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ECDSA384 "\"}", "web-1", 1, 1, 10, "", KEY_ECDSA384),
        OK("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ECDSA521 "\"}", "web-1", 1, 1, 10, "", KEY_ECDSA521),
        OK("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_SK_ED25519 "\"}", "web-1", 1, 1, 10, "", KEY_SK_ED25519),
        OK("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_SK_ECDSA "\"}", "web-1", 1, 1, 10, "", KEY_SK_ECDSA),
        OK("{" N "\"size\": \"small\", \"ssh_key\": \"ssh-ed25519 " KEY_ED25519_BLOB "\"}", "web-1", 1, 1, 10, "",
           "ssh-ed25519 " KEY_ED25519_BLOB),
        /* No key: the requestor adds one after the create. */
        OK("{" N "\"size\": \"small\"}", "web-1", 1, 1, 10, "", ""),
        OK("{" N "\"cpu\": 2, \"memory\": 4, \"storage\": 20}", "web-1", 2, 4, 20, "", ""),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": null}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": 1}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": [\"" KEY_ED25519 "\"]}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_DSS "\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"ssh-ed25519\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"ssh-ed25519 \"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"ssh-ed25519 not*base64! alice\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuOY8lOz/n3pevX7+CX2lxn6mD/vW3b\"}", "ssh_key"),
        /* The blob says ssh-ed25519, the line says ssh-rsa. */
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"ssh-rsa " KEY_ED25519_BLOB " alice\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGAeuiS1X0nK57/tnf0HnCwSkhC6AFZNjSPxBfGp/eUTL/CaqOeBku3HMHKKxqdaGJiX4+39f71rUPMoOpqCiVo=\"}", "ssh_key"),
        /* Only the type in the blob, no key material. */
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"SSH-ED25519 " KEY_ED25519_BLOB "\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \" " KEY_ED25519 "\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 "\\n\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 "\\r\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 "\\n" KEY_RSA "\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 "\\nruncmd: [\\\"rm -rf /\\\"]\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 "\\r\\nusers: []\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwo2DaHQbz4RuO\\nY8lOz/n3pevX7+CX2lxn6mD/vW3be\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 "\\tx\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 "\\u0000\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 " \\u007f\"}", "ssh_key"),
        REFUSED("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_ED25519 " \\u0085\"}", "ssh_key"),

        /* The body itself. */
        REFUSED("[]", "body"),
        REFUSED("\"web-1\"", "body"),
        REFUSED("42", "body"),
};

TEST(create_request_table) {
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                const Row *row = rows + i;
                char error[FIELD_ERROR_MAX] = "";
                VMCreateRequest req;
                int r;

                TEST_CONTEXT("row %zu: %s", i, row->json);
                memset(&req, 'X', sizeof(req));
                r = create_request(row->json, &req, error);
                if (row->field) {
                        ASSERT_ERROR(r, EINVAL);
                        ASSERT_FIELD(error, row->field);
                        /* ret_* is untouched on failure. */
                        ASSERT_EQ_INT(req.name[0], 'X');
                        ASSERT_EQ_INT(req.ssh_key[SSH_KEY_MAX], 'X');
                        continue;
                }
                ASSERT_OK(r);
                ASSERT_STREQ(req.name, row->name);
                ASSERT_EQ_INT(req.resources.cpu, row->resources.cpu);
                ASSERT_EQ_INT(req.resources.memory, row->resources.memory);
                ASSERT_EQ_INT(req.resources.storage, row->resources.storage);
                ASSERT_STREQ(req.image, row->image);
                ASSERT_STREQ(req.ssh_key, row->ssh_key);
        }
        ASSERT_TRUE(ELEMENTSOF(rows) >= 30);
}

/* Every refusal names its field and says what is wanted, in a message fit for a client. */
TEST(create_request_messages) {
        char error[FIELD_ERROR_MAX];
        VMCreateRequest req;

        ASSERT_ERROR(create_request("{\"size\": \"small\"" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "name: field required");
        ASSERT_ERROR(create_request("{\"name\": \"a--b\", \"size\": \"small\"" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "name: must be 3-63 of a-z, 0-9 and '-', starting and ending with a letter or digit");
        ASSERT_ERROR(create_request("{" N "\"resources\": {\"cpu\": 257, \"memory\": 1, \"storage\": 10}" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "resources.cpu: must be an integer from 1 to 256");
        ASSERT_ERROR(create_request("{" N "\"resources\": {\"cpu\": 1, \"memory\": 0, \"storage\": 10}" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "resources.memory: must be an integer from 1 to 4096");
        ASSERT_ERROR(create_request("{" N "\"resources\": {\"cpu\": 1, \"memory\": 1, \"storage\": 0}" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "resources.storage: must be an integer from 1 to 65536");
        ASSERT_ERROR(create_request("{" N "\"resources\": {\"cpu\": 1, \"memory\": 1}" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "resources.storage: field required");
        ASSERT_ERROR(create_request("{" N "\"cpu\": 1" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "memory: field required");
        ASSERT_ERROR(create_request("{" N "\"size\": \"huge\"" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "size: must be one of small, medium, large, xlarge");
        ASSERT_ERROR(create_request("{" N "\"image\": \"noble\"" K "}", &req, error), EINVAL);
        ASSERT_STREQ(error, "resources: field required (or cpu, memory and storage, or size)");
        ASSERT_ERROR(create_request("{" N "\"size\": \"small\", \"image\": \"--disk=1\"" K "}", &req, error), EINVAL);
        ASSERT_STR_CONTAINS(error, "starting with a letter or digit");
        ASSERT_ERROR(create_request("{" N "\"size\": \"small\", \"ssh_key\": \"" KEY_DSS "\"}", &req, error), EINVAL);
        ASSERT_STREQ(error, "ssh_key: must be one OpenSSH public key line (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*)");
        /* A private key: told to send the .pub, and not a word of the key in the answer. */
        ASSERT_ERROR(create_request("{" N "\"size\": \"small\", \"ssh_key\": \"-----BEGIN OPENSSH PRIVATE KEY-----\\n"
                                    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\\n-----END OPENSSH PRIVATE KEY-----\\n\"}", &req, error),
                     EINVAL);
        ASSERT_STREQ(error, "ssh_key: this is a private key; send the public key (the .pub file) instead");
        ASSERT_ERROR(create_request("[1]", &req, error), EINVAL);
        ASSERT_STREQ(error, "body: must be a JSON object");
}

/* The earliest bad field is reported: name, then resources, then image, then ssh_key. */
TEST(create_request_field_order) {
        char error[FIELD_ERROR_MAX];
        VMCreateRequest req;

        ASSERT_ERROR(create_request("{\"name\": \"X\", \"size\": \"no\", \"image\": \"-x\", \"ssh_key\": \"\"}", &req, error), EINVAL);
        ASSERT_FIELD(error, "name");
        ASSERT_ERROR(create_request("{" N "\"size\": \"no\", \"image\": \"-x\", \"ssh_key\": \"\"}", &req, error), EINVAL);
        ASSERT_FIELD(error, "size");
        ASSERT_ERROR(create_request("{" N "\"size\": \"small\", \"image\": \"-x\", \"ssh_key\": \"\"}", &req, error), EINVAL);
        ASSERT_FIELD(error, "image");
        ASSERT_ERROR(create_request("{" N "\"size\": \"small\", \"image\": \"noble\", \"ssh_key\": \"\"}", &req, error), EINVAL);
        ASSERT_FIELD(error, "ssh_key");
        /* Unknown fields are ignored. */
        ASSERT_OK(create_request("{" N "\"size\": \"small\", \"colour\": \"blue\"" K "}", &req, error));
}

static json_object *body_with_key(const char *key) {
        json_object *o = json_object_new_object();

        ASSERT_NOT_NULL(o);
        json_object_object_add(o, "name", json_object_new_string("web-1"));
        json_object_object_add(o, "size", json_object_new_string("medium"));
        json_object_object_add(o, "ssh_key", json_object_new_string(key));
        return o;
}

TEST(create_request_key_length) {
        _cleanup_free_ char *key = NULL;
        char error[FIELD_ERROR_MAX];
        VMCreateRequest req;
        size_t prefix = strlen(KEY_ED25519);

        /* A comment long enough for the line to be exactly SSH_KEY_MAX: accepted. */
        key = malloc(SSH_KEY_MAX + 2);
        ASSERT_NOT_NULL(key);
        memcpy(key, KEY_ED25519, prefix);
        memset(key + prefix, 'c', SSH_KEY_MAX + 1 - prefix);
        key[SSH_KEY_MAX] = 0;
        ASSERT_EQ_UINT(strlen(key), 8192);

        {
                _cleanup_json_ json_object *body = body_with_key(key);

                ASSERT_OK(vm_create_request_from_json(body, &req, error));
                ASSERT_STREQ(req.ssh_key, key);
                ASSERT_EQ_INT(req.resources.cpu, 2);
        }

        /* One more byte: refused. */
        key[SSH_KEY_MAX] = 'c';
        key[SSH_KEY_MAX + 1] = 0;
        ASSERT_EQ_UINT(strlen(key), 8193);
        {
                _cleanup_json_ json_object *body = body_with_key(key);

                ASSERT_ERROR(vm_create_request_from_json(body, &req, error), EINVAL);
                ASSERT_FIELD(error, "ssh_key");
        }

        /* Much longer. */
        free(key);
        key = malloc(100001);
        ASSERT_NOT_NULL(key);
        memcpy(key, KEY_ED25519, prefix);
        memset(key + prefix, 'c', 100000 - prefix);
        key[100000] = 0;
        {
                _cleanup_json_ json_object *body = body_with_key(key);

                ASSERT_ERROR(vm_create_request_from_json(body, &req, error), EINVAL);
                ASSERT_FIELD(error, "ssh_key");
        }
}

/* Keys made by the ssh-keygen installed here, when there is one. */
TEST(create_request_ssh_keygen) {
        static const char *const paths[] = { "/usr/bin/ssh-keygen", "/bin/ssh-keygen", "/usr/local/bin/ssh-keygen" };
        static const struct {
                const char *type, *bits;
        } types[] = {
                { "ed25519", "256" },
                { "rsa", "3072" },
                { "ecdsa", "256" },
                { "ecdsa", "384" },
                { "ecdsa", "521" },
        };
        const char *keygen = NULL;
        char *dir;

        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (access(paths[i], X_OK) == 0)
                        keygen = paths[i];
        if (!keygen) {
                fprintf(stderr, "No ssh-keygen here, skipping.\n");
                return;
        }

        dir = test_mkdtemp();
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                _cleanup_free_ char *path = NULL, *pub = NULL, *line = NULL;
                char error[FIELD_ERROR_MAX];
                VMCreateRequest req;
                size_t allocated = 0;
                ssize_t n;
                pid_t pid;
                int status;
                FILE *f;

                TEST_CONTEXT("ssh-keygen -t %s -b %s", types[i].type, types[i].bits);
                ASSERT_TRUE(asprintf(&path, "%s/key%zu", dir, i) >= 0);
                ASSERT_TRUE(asprintf(&pub, "%s.pub", path) >= 0);

                char *argv[] = { (char *) keygen, (char *) "-q", (char *) "-t", (char *) types[i].type,
                                 (char *) "-b", (char *) types[i].bits, (char *) "-N", (char *) "",
                                 (char *) "-C", (char *) "test@golem", (char *) "-f", path, NULL };
                ASSERT_EQ_INT(posix_spawn(&pid, keygen, NULL, NULL, argv, environ), 0);
                ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
                ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

                f = fopen(pub, "re");
                ASSERT_NOT_NULL(f);
                n = getline(&line, &allocated, f);
                fclose(f);
                ASSERT_TRUE(n > 0);
                /* The file's line ends with '\n': as it is, refused; without it, accepted. */
                ASSERT_EQ_INT(line[n - 1], '\n');
                {
                        _cleanup_json_ json_object *body = body_with_key(line);

                        ASSERT_ERROR(vm_create_request_from_json(body, &req, error), EINVAL);
                        ASSERT_FIELD(error, "ssh_key");
                }
                line[n - 1] = 0;
                {
                        _cleanup_json_ json_object *body = body_with_key(line);

                        ASSERT_OK(vm_create_request_from_json(body, &req, error));
                        ASSERT_STREQ(req.ssh_key, line);
                }
        }
        test_rm_rf(dir);
        free(dir);
}

TEST(create_request_not_an_object) {
        char error[FIELD_ERROR_MAX];
        VMCreateRequest req;

        ASSERT_ERROR(vm_create_request_from_json(NULL, &req, error), EINVAL);
        ASSERT_FIELD(error, "body");
}

TEST(sizes) {
        static const struct {
                const char *name;
                VMSize size;
                Resources r;
        } table[] = {
                { "small", VM_SIZE_SMALL, { 1, 1, 10 } },
                { "medium", VM_SIZE_MEDIUM, { 2, 4, 20 } },
                { "large", VM_SIZE_LARGE, { 4, 8, 40 } },
                { "xlarge", VM_SIZE_XLARGE, { 8, 16, 80 } },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Resources r;

                TEST_CONTEXT("%s", table[i].name);
                ASSERT_EQ_INT(vm_size_from_string(table[i].name), table[i].size);
                ASSERT_STREQ(vm_size_to_string(table[i].size), table[i].name);
                r = vm_size_resources(table[i].size);
                ASSERT_EQ_INT(r.cpu, table[i].r.cpu);
                ASSERT_EQ_INT(r.memory, table[i].r.memory);
                ASSERT_EQ_INT(r.storage, table[i].r.storage);
        }
        ASSERT_EQ_INT(_VM_SIZE_MAX, 4);
        ASSERT_EQ_INT(vm_size_from_string("tiny"), -EINVAL);
        ASSERT_EQ_INT(vm_size_from_string(NULL), -EINVAL);
        ASSERT_NULL(vm_size_to_string(_VM_SIZE_MAX));
        ASSERT_NULL(vm_size_to_string(_VM_SIZE_INVALID));
        ASSERT_EQ_INT(vm_size_resources(_VM_SIZE_INVALID).cpu, 0);
}

TEST(states) {
        static const char *const names[] = {
                [VM_CREATING] = "creating",
                [VM_RUNNING] = "running",
                [VM_STOPPING] = "stopping",
                [VM_STOPPED] = "stopped",
                [VM_STARTING] = "starting",
                [VM_DELETING] = "deleting",
                [VM_ERROR] = "error",
        };

        ASSERT_EQ_INT(_VM_STATE_MAX, ELEMENTSOF(names));
        for (VMState s = 0; s < _VM_STATE_MAX; s++) {
                TEST_CONTEXT("state %d", s);
                ASSERT_STREQ(vm_state_to_string(s), names[s]);
                ASSERT_EQ_INT(vm_state_from_string(names[s]), s);
                /* Only an error VM gives its resources back. */
                ASSERT_EQ_INT(vm_state_reserves(s), s != VM_ERROR);
        }
        ASSERT_EQ_INT(vm_state_from_string("Running"), -EINVAL);
        ASSERT_EQ_INT(vm_state_from_string(""), -EINVAL);
        ASSERT_NULL(vm_state_to_string(_VM_STATE_MAX));
}

TEST(image_valid) {
        static const char *const good[] = { "ubuntu:24.04", "24.04", "noble", "jammy", "22.04", "daily:noble",
                                            "release:24.04", "core24", "ubuntu_minimal", "x", IMAGE128 };
        static const char *const bad[] = { "", "-x", "--disk=1", ".", "..", "../x", "../../etc/passwd", "/img",
                                           "a/b", "http://x", "https://cloud-images.ubuntu.com/x.img",
                                           "file:///x.img", ":24.04", "noble ", " noble", "no ble", "noble\n",
                                           "noble;reboot", "$(id)", "`id`", "n\xc3\xb6" "ble", IMAGE129 };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                TEST_CONTEXT("\"%s\"", good[i]);
                ASSERT_TRUE(vm_image_valid(good[i]));
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TEST_CONTEXT("\"%s\"", bad[i]);
                ASSERT_FALSE(vm_image_valid(bad[i]));
        }
}

/* ---- the VM as the REST API shows it ---- */

static json_object *get(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v))
                tests_fail(__FILE__, __LINE__, "key \"%s\" missing in %s", key, json_object_to_json_string(o));
        return v;
}

static void assert_null_key(json_object *o, const char *key) {
        if (get(o, key) != NULL)
                tests_fail(__FILE__, __LINE__, "\"%s\" is null: got %s", key, json_object_to_json_string(get(o, key)));
}

static const char *get_string(json_object *o, const char *key) {
        json_object *v = get(o, key);

        if (!json_object_is_type(v, json_type_string))
                tests_fail(__FILE__, __LINE__, "\"%s\" is a string: got %s", key, json_object_to_json_string(v));
        return json_object_get_string(v);
}

static int64_t get_int(json_object *o, const char *key) {
        json_object *v = get(o, key);

        if (!json_object_is_type(v, json_type_int))
                tests_fail(__FILE__, __LINE__, "\"%s\" is an integer: got %s", key, json_object_to_json_string(v));
        return json_object_get_int64(v);
}

TEST(record_to_json) {
        _cleanup_json_ json_object *o = NULL, *again = NULL;
        json_object *res;
        VMRecord r = {
                .name = "web-1",
                .state = VM_RUNNING,
                .resources = { 2, 4, 20 },
                .image = "ubuntu:24.04",
                .ssh_key = (char *) KEY_ED25519,
                .ssh_port = 50800,
                .ip_address = "10.22.115.7",
                .owner = (char *) "alice",
                .job_id = "0123456789abcdef0123456789abcdef",
                .created_at = 1700000000 * USEC_PER_SEC,
                .updated_at = 1700000061 * USEC_PER_SEC + 999999,
        };
        const char *text;

        ASSERT_OK(vm_record_to_json(&r, &o));
        ASSERT_STREQ(get_string(o, "id"), "web-1");
        ASSERT_STREQ(get_string(o, "name"), "web-1");
        ASSERT_STREQ(get_string(o, "status"), "running");
        res = get(o, "resources");
        ASSERT_TRUE(json_object_is_type(res, json_type_object));
        ASSERT_EQ_INT(json_object_object_length(res), 3);
        ASSERT_EQ_INT(get_int(res, "cpu"), 2);
        ASSERT_EQ_INT(get_int(res, "memory"), 4);
        ASSERT_EQ_INT(get_int(res, "storage"), 20);
        ASSERT_STREQ(get_string(o, "image"), "ubuntu:24.04");
        ASSERT_STREQ(get_string(o, "ip_address"), "10.22.115.7");
        ASSERT_EQ_INT(get_int(o, "ssh_port"), 50800);
        ASSERT_STREQ(get_string(o, "created_at"), "2023-11-14T22:13:20Z");
        ASSERT_STREQ(get_string(o, "updated_at"), "2023-11-14T22:14:21Z");
        assert_null_key(o, "error_message");
        /* Exactly these ten keys: the key, the owner and the job are not shown. */
        ASSERT_EQ_INT(json_object_object_length(o), 10);
        ASSERT_FALSE(json_object_object_get_ex(o, "ssh_key", NULL));
        ASSERT_FALSE(json_object_object_get_ex(o, "owner", NULL));
        text = json_object_to_json_string(o);
        ASSERT_TRUE(strstr(text, "AAAAC3NzaC1lZDI1NTE5") == NULL);
        ASSERT_TRUE(strstr(text, "alice") == NULL);

        /* What it prints parses back to the same. */
        ASSERT_OK(json_parse(text, strlen(text), &again));
        ASSERT_TRUE(json_object_equal(o, again));
}

TEST(record_to_json_absent) {
        _cleanup_json_ json_object *o = NULL;
        VMRecord r = {
                .name = "db-1",
                .state = VM_CREATING,
                .resources = { 1, 1, 10 },
                .image = "noble",
                .created_at = 0,
                .updated_at = 86400 * USEC_PER_SEC,
        };

        ASSERT_OK(vm_record_to_json(&r, &o));
        ASSERT_STREQ(get_string(o, "id"), "db-1");
        ASSERT_STREQ(get_string(o, "status"), "creating");
        assert_null_key(o, "ip_address");
        assert_null_key(o, "ssh_port");
        assert_null_key(o, "error_message");
        ASSERT_STREQ(get_string(o, "created_at"), "1970-01-01T00:00:00Z");
        ASSERT_STREQ(get_string(o, "updated_at"), "1970-01-02T00:00:00Z");
        ASSERT_EQ_INT(json_object_object_length(o), 10);
}

TEST(record_to_json_error) {
        static const char message[] = "launch failed: Invalid arguments supplied \"quoted\" \\ back";
        VMRecord r = {
                .name = "db-1",
                .state = VM_ERROR,
                .resources = { 8, 16, 80 },
                .image = "24.04",
                .ssh_port = 50899,
                .error_message = (char *) message,
                .created_at = 1735689599 * USEC_PER_SEC,
                .updated_at = 1735689600 * USEC_PER_SEC,
        };

        for (VMState s = 0; s < _VM_STATE_MAX; s++) {
                _cleanup_json_ json_object *o = NULL;

                TEST_CONTEXT("state %s", vm_state_to_string(s));
                r.state = s;
                ASSERT_OK(vm_record_to_json(&r, &o));
                ASSERT_STREQ(get_string(o, "status"), vm_state_to_string(s));
                ASSERT_STREQ(get_string(o, "error_message"), message);
                ASSERT_EQ_INT(get_int(o, "ssh_port"), 50899);
                assert_null_key(o, "ip_address");
                ASSERT_STREQ(get_string(o, "created_at"), "2024-12-31T23:59:59Z");
                ASSERT_STREQ(get_string(o, "updated_at"), "2025-01-01T00:00:00Z");
                ASSERT_EQ_INT(get_int(get(o, "resources"), "storage"), 80);
        }
}

TEST(record_done) {
        VMRecord r = {};

        r.ssh_key = strdup(KEY_ED25519);
        r.error_message = strdup("x");
        r.owner = strdup("y");
        ASSERT_TRUE(r.ssh_key && r.error_message && r.owner);
        vm_record_done(&r);
        ASSERT_NULL(r.ssh_key);
        ASSERT_NULL(r.error_message);
        ASSERT_NULL(r.owner);
        /* Twice is harmless. */
        vm_record_done(&r);
}
