/* SPDX-License-Identifier: MIT */
#include "discovery-advertisement.h"
#include "json-util.h"
#include "macro.h"
#include "tests.h"

/* A valid advertisement; each row of the tables below changes one field of it. */
#define BASE_BODY                                                               \
        "{\"ip_address\":\"192.0.2.1\",\"country\":\"SE\",\"platform\":\"linux-x86_64\"," \
        "\"resources\":{\"cpu\":4,\"memory\":8192,\"storage\":100000},"          \
        "\"pricing\":{\"per_cpu_hour\":0.5},\"api_port\":7466}"

#define E_IP "ip_address: must be a valid IPv4 or IPv6 address"
#define E_COUNTRY "country: must be an ISO 3166-1 alpha-2 code"
#define E_PLATFORM "platform: must be 1-32 of A-Z, a-z, 0-9, '.', '_', '-'"
#define E_RESOURCES "resources: must be an object"
#define E_RESOURCE_KEY "resources: invalid key (1-32 of a-z, 0-9, _)"
#define E_PRICING "pricing: must be an object"
#define E_PRICING_KEY "pricing: invalid key (1-32 of a-z, 0-9, _)"
#define E_PRICE "pricing.per_cpu_hour: must be a non-negative number"
#define E_BODY "body: must be a JSON object"
#define E_API_PORT "api_port: must be an integer from 1 to 65535"

static const char *const KEY33 = "k23456789012345678901234567890123";
static const char *const KEY32 = "k2345678901234567890123456789012";

/* Sets path ("a" or "a.b") in o to the JSON value, or removes it when value is NULL. */
static void patch(json_object *o, const char *path, const char *value) {
        _cleanup_free_ char *p = strdup(path);
        char *dot = strchr(p, '.');
        json_object *v = NULL;

        if (dot) {
                *dot = 0;
                ASSERT_TRUE(json_object_object_get_ex(o, p, &o));
                path = dot + 1;
        } else
                path = p;

        if (!value) {
                json_object_object_del(o, path);
                return;
        }
        /* json-c's own parser, which unlike json_parse() takes a bare null. */
        v = json_tokener_parse(value);
        ASSERT_TRUE(v || streq(value, "null"));
        ASSERT_OK(json_object_object_add(o, path, v));
}

/* Parses body the way the REST handler does and validates it. */
static int from_text(const char *text, Advertisement *a, char error[static FIELD_ERROR_MAX]) {
        _cleanup_json_ json_object *body = NULL;

        ASSERT_OK(json_parse(text, strlen(text), &body));
        return advertisement_from_body(body, "provider-1", a, error);
}

/* BASE_BODY with one change; asserts the result. */
static void check(const char *path, const char *value, int expected, const char *expected_error) {
        _cleanup_json_ json_object *o = NULL;
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {};
        int r;

        TEST_CONTEXT("%s = %s", path, value ?: "(removed)");
        ASSERT_OK(json_parse(BASE_BODY, strlen(BASE_BODY), &o));
        if (path)
                patch(o, path, value);

        r = from_text(json_to_string(o, false), &a, error);
        TEST_CONTEXT("%s = %s: %s", path, value ?: "(removed)", json_to_string(o, false));
        ASSERT_EQ_INT(r, expected);
        if (expected < 0) {
                ASSERT_STREQ(error, expected_error);
                /* Nothing is left behind on failure. */
                ASSERT_NULL(a.resources_json);
                ASSERT_NULL(a.pricing);
        } else {
                ASSERT_STREQ(error, "");
                ASSERT_STREQ(a.provider_id, "provider-1");
                ASSERT_NOT_NULL(a.resources_json);
        }
        advertisement_done(&a);
}

TEST(valid_base) {
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {};

        ASSERT_OK(from_text(BASE_BODY, &a, error));
        ASSERT_STREQ(a.provider_id, "provider-1");
        ASSERT_STREQ(a.ip_address, "192.0.2.1");
        ASSERT_STREQ(a.country, "SE");
        ASSERT_STREQ(a.platform, "linux-x86_64");
        ASSERT_EQ_INT(a.resources.cpu, 4);
        ASSERT_EQ_INT(a.resources.memory, 8192);
        ASSERT_EQ_INT(a.resources.storage, 100000);
        ASSERT_STREQ(json_to_string(a.resources_json, false), "{\"cpu\":4,\"memory\":8192,\"storage\":100000}");
        ASSERT_STREQ(json_to_string(a.pricing, false), "{\"per_cpu_hour\":0.5}");
        ASSERT_EQ_UINT(a.created_at, 0);
        ASSERT_EQ_UINT(a.api_port, 7466);
        ASSERT_FALSE(a.verified);
        advertisement_done(&a);
        ASSERT_NULL(a.resources_json);
}

static void check_api_port(const char *value, unsigned expected) {
        _cleanup_json_ json_object *o = NULL;
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {};

        TEST_CONTEXT("api_port = %s", value ?: "(removed)");
        ASSERT_OK(json_parse(BASE_BODY, strlen(BASE_BODY), &o));
        patch(o, "api_port", value);
        ASSERT_OK(from_text(json_to_string(o, false), &a, error));
        ASSERT_EQ_UINT(a.api_port, expected);
        advertisement_done(&a);
}

TEST(api_port) {
        /* Optional: absent or null is none (served as null, 7466 for the reader). */
        check_api_port(NULL, 0);
        check_api_port("null", 0);
        check_api_port("1", 1);
        check_api_port("7466", 7466);
        check_api_port("65535", 65535);

        check("api_port", "0", -EINVAL, E_API_PORT);
        check("api_port", "65536", -EINVAL, E_API_PORT);
        check("api_port", "-1", -EINVAL, E_API_PORT);
        check("api_port", "\"7466\"", -EINVAL, E_API_PORT);
        check("api_port", "7466.0", -EINVAL, E_API_PORT);
        check("api_port", "true", -EINVAL, E_API_PORT);
        check("api_port", "[7466]", -EINVAL, E_API_PORT);
        check("api_port", "99999999999999999999", -EINVAL, E_API_PORT);
}

TEST(verified_is_the_services) {
        /* A provider cannot post its way to "verified": the service decides. */
        static const char *const values[] = { "true", "false", "1", "\"yes\"", "null" };

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_json_ json_object *o = NULL;
                char error[FIELD_ERROR_MAX] = "";
                Advertisement a = {};

                TEST_CONTEXT("verified = %s", values[i]);
                ASSERT_OK(json_parse(BASE_BODY, strlen(BASE_BODY), &o));
                patch(o, "verified", values[i]);
                ASSERT_OK(from_text(json_to_string(o, false), &a, error));
                ASSERT_FALSE(a.verified);
                advertisement_done(&a);
        }
}

TEST(served_api_port_and_verified) {
        /* What golemctl reads back: both fields, absent (an older service) as none / false. */
        static const struct {
                const char *extra;
                int r;
                unsigned api_port;
                bool verified;
        } table[] = {
                { "", 0, 0, false },
                { ",\"api_port\":null,\"verified\":false", 0, 0, false },
                { ",\"api_port\":8080,\"verified\":true", 0, 8080, true },
                { ",\"verified\":null", 0, 0, false },
                { ",\"api_port\":0", -EBADMSG, 0, false },
                { ",\"verified\":\"true\"", -EBADMSG, 0, false },
                { ",\"verified\":1", -EBADMSG, 0, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_json_ json_object *o = NULL;
                _cleanup_free_ char *text = NULL;
                Advertisement a = {};

                TEST_CONTEXT("served with \"%s\"", table[i].extra);
                ASSERT_TRUE(asprintf(&text, "{\"provider_id\":\"p\",\"ip_address\":\"192.0.2.1\",\"country\":\"SE\","
                                     "\"resources\":{\"cpu\":1,\"memory\":1,\"storage\":1}%s}", table[i].extra) >= 0);
                ASSERT_OK(json_parse(text, strlen(text), &o));
                ASSERT_EQ_INT(advertisement_from_json(o, ADVERTISEMENT_SERVED, NULL, &a, NULL), table[i].r);
                if (table[i].r < 0)
                        continue;
                ASSERT_EQ_UINT(a.api_port, table[i].api_port);
                ASSERT_EQ_INT(a.verified, table[i].verified);
                advertisement_done(&a);
        }
}

TEST(ip_address) {
        char s46[64];

        check("ip_address", NULL, -EINVAL, "ip_address: field required");
        check("ip_address", "\"999.2.3.4\"", -EINVAL, E_IP);
        check("ip_address", "\"1.2.3\"", -EINVAL, E_IP);
        check("ip_address", "\"01.2.3.4\"", -EINVAL, E_IP);
        check("ip_address", "\"1.2.3.4 \"", -EINVAL, E_IP);
        check("ip_address", "\"1.2.3.4/24\"", -EINVAL, E_IP);
        check("ip_address", "\"1.2.3.4\\u0000\"", -EINVAL, E_IP);
        check("ip_address", "\"1.2.3.4\\u0000garbage\"", -EINVAL, E_IP);
        check("ip_address", "\"localhost\"", -EINVAL, E_IP);
        check("ip_address", "\"\"", -EINVAL, E_IP);
        check("ip_address", "16909060", -EINVAL, E_IP);
        check("ip_address", "null", -EINVAL, E_IP);
        check("ip_address", "[\"1.2.3.4\"]", -EINVAL, E_IP);
        snprintf(s46, sizeof(s46), "\"%s\"", "0000:0000:0000:0000:0000:ffff:255.255.255.2555");
        check("ip_address", s46, -EINVAL, E_IP);

        check("ip_address", "\"2001:db8::1\"", 0, NULL);
        check("ip_address", "\"0000:0000:0000:0000:0000:ffff:255.255.255.255\"", 0, NULL);
}

TEST(ip_address_canonical) {
        _cleanup_json_ json_object *o = NULL;
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {};

        ASSERT_OK(json_parse(BASE_BODY, strlen(BASE_BODY), &o));
        patch(o, "ip_address", "\"2001:DB8:0:0::1\"");
        patch(o, "country", "\"se\"");
        ASSERT_OK(from_text(json_to_string(o, false), &a, error));
        ASSERT_STREQ(a.ip_address, "2001:db8::1");
        ASSERT_STREQ(a.country, "SE");
        advertisement_done(&a);
}

TEST(country) {
        check("country", NULL, -EINVAL, "country: field required");
        check("country", "\"XX\"", -EINVAL, E_COUNTRY);
        check("country", "\"UK\"", -EINVAL, E_COUNTRY);
        check("country", "\"SWE\"", -EINVAL, E_COUNTRY);
        check("country", "\"S\"", -EINVAL, E_COUNTRY);
        check("country", "\"\"", -EINVAL, E_COUNTRY);
        check("country", "\"s1\"", -EINVAL, E_COUNTRY);
        check("country", "\"\\u00c5\\u00c4\"", -EINVAL, E_COUNTRY);
        check("country", "\"S\\u0000\"", -EINVAL, E_COUNTRY);
        check("country", "46", -EINVAL, E_COUNTRY);
        check("country", "null", -EINVAL, E_COUNTRY);
        check("country", "\"gb\"", 0, NULL);
}

TEST(platform) {
        char value[64];

        check("platform", "\"linux x86\"", -EINVAL, E_PLATFORM);
        check("platform", "\"linux/amd64\"", -EINVAL, E_PLATFORM);
        check("platform", "\"\"", -EINVAL, E_PLATFORM);
        check("platform", "\"linux\\n\"", -EINVAL, E_PLATFORM);
        check("platform", "5", -EINVAL, E_PLATFORM);
        check("platform", "true", -EINVAL, E_PLATFORM);
        check("platform", "[\"linux\"]", -EINVAL, E_PLATFORM);
        snprintf(value, sizeof(value), "\"%s\"", KEY33);
        check("platform", value, -EINVAL, E_PLATFORM);         /* 33: too long */
        snprintf(value, sizeof(value), "\"%s\"", KEY32);
        check("platform", value, 0, NULL);                     /* 32 */
        check("platform", "\"Ubuntu_22.04-arm64\"", 0, NULL);
        check("platform", "null", 0, NULL);
        check("platform", NULL, 0, NULL);
}

TEST(platform_absent) {
        _cleanup_json_ json_object *o = NULL;
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {};

        ASSERT_OK(json_parse(BASE_BODY, strlen(BASE_BODY), &o));
        patch(o, "platform", "null");
        patch(o, "pricing", "null");
        ASSERT_OK(from_text(json_to_string(o, false), &a, error));
        ASSERT_STREQ(a.platform, "");
        ASSERT_NULL(a.pricing);
        advertisement_done(&a);
}

TEST(resources) {
        static const char *const keys[] = { "cpu", "memory", "storage" };
        static const char *const bad[] = {
                "0", "-1", "2.5", "2.0", "\"2\"", "true", "false", "null", "[2]", "{}",
                "2147483648", "4294967297", "99999999999999999999", "-99999999999999999999", "1e3",
        };

        check("resources", NULL, -EINVAL, "resources: field required");
        check("resources", "[]", -EINVAL, E_RESOURCES);
        check("resources", "\"cpu=4\"", -EINVAL, E_RESOURCES);
        check("resources", "null", -EINVAL, E_RESOURCES);
        check("resources", "4", -EINVAL, E_RESOURCES);
        check("resources", "{}", -EINVAL, "resources.cpu: field required");

        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                char path[32], message[128];

                snprintf(path, sizeof(path), "resources.%s", keys[k]);
                snprintf(message, sizeof(message), "resources.%s: field required", keys[k]);
                check(path, NULL, -EINVAL, message);

                snprintf(message, sizeof(message), "resources.%s: must be an integer from 1 to 2147483647", keys[k]);
                for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                        check(path, bad[i], -EINVAL, message);

                check(path, "1", 0, NULL);
                check(path, "2147483647", 0, NULL);
        }
}

TEST(resources_extra) {
        char body[2048], *p;
        char error[FIELD_ERROR_MAX];
        Advertisement a = {};

        check("resources.gpu", "1", 0, NULL);
        check("resources.gpu", "0", 0, NULL);                  /* extras may be 0 */
        check("resources.gpu_count", "2147483647", 0, NULL);
        check("resources.gpu", "-1", -EINVAL, "resources.gpu: must be an integer from 0 to 2147483647");
        check("resources.gpu", "2.5", -EINVAL, "resources.gpu: must be an integer from 0 to 2147483647");
        check("resources.gpu", "\"1\"", -EINVAL, "resources.gpu: must be an integer from 0 to 2147483647");
        check("resources.gpu", "true", -EINVAL, "resources.gpu: must be an integer from 0 to 2147483647");
        check("resources.gpu", "null", -EINVAL, "resources.gpu: must be an integer from 0 to 2147483647");
        check("resources.gpu", "2147483648", -EINVAL, "resources.gpu: must be an integer from 0 to 2147483647");
        check("resources.GPU", "1", -EINVAL, E_RESOURCE_KEY);
        check("resources.gpu-count", "1", -EINVAL, E_RESOURCE_KEY);
        check("resources.gpu count", "1", -EINVAL, E_RESOURCE_KEY);
        check("resources.", "1", -EINVAL, E_RESOURCE_KEY);     /* the empty key */

        snprintf(body, sizeof(body), "resources.%s", KEY33);
        check(body, "1", -EINVAL, E_RESOURCE_KEY);
        snprintf(body, sizeof(body), "resources.%s", KEY32);
        check(body, "1", 0, NULL);

        /* The extras are kept, in order, after validation. */
        ASSERT_OK(from_text("{\"ip_address\":\"192.0.2.1\",\"country\":\"SE\","
                            "\"resources\":{\"gpu\":2,\"cpu\":4,\"memory\":8192,\"storage\":100000,\"gpu_memory\":0}}",
                            &a, error));
        ASSERT_STREQ(json_to_string(a.resources_json, false),
                     "{\"gpu\":2,\"cpu\":4,\"memory\":8192,\"storage\":100000,\"gpu_memory\":0}");
        advertisement_done(&a);

        /* At most 16 extras. */
        for (unsigned n = 15; n <= 18; n++) {
                p = body + sprintf(body, "{\"ip_address\":\"192.0.2.1\",\"country\":\"SE\","
                                         "\"resources\":{\"cpu\":4,\"memory\":8192,\"storage\":100000");
                for (unsigned i = 0; i < n; i++)
                        p += sprintf(p, ",\"extra_%u\":%u", i, i);
                strcpy(p, "}}");

                TEST_CONTEXT("%u extra resources", n);
                error[0] = 0;
                if (n <= RESOURCE_EXTRA_MAX) {
                        ASSERT_OK(from_text(body, &a, error));
                        ASSERT_EQ_INT(json_object_object_length(a.resources_json), 3 + n);
                        advertisement_done(&a);
                } else {
                        ASSERT_ERROR(from_text(body, &a, error), EINVAL);
                        ASSERT_STREQ(error, "resources: more than 16 extra resources");
                        ASSERT_NULL(a.resources_json);
                }
        }
}

TEST(pricing) {
        char body[2048], *p;
        char error[FIELD_ERROR_MAX];
        Advertisement a = {};

        check("pricing", "{}", 0, NULL);
        check("pricing", "null", 0, NULL);
        check("pricing", NULL, 0, NULL);
        check("pricing.per_cpu_hour", "0", 0, NULL);
        check("pricing.per_cpu_hour", "2", 0, NULL);
        check("pricing.per_cpu_hour", "0.0001", 0, NULL);
        check("pricing.per_cpu_hour", "1e3", 0, NULL);
        check("pricing.per_cpu_hour", "-0.1", -EINVAL, E_PRICE);
        check("pricing.per_cpu_hour", "-1", -EINVAL, E_PRICE);
        check("pricing.per_cpu_hour", "\"1\"", -EINVAL, E_PRICE);
        check("pricing.per_cpu_hour", "true", -EINVAL, E_PRICE);
        check("pricing.per_cpu_hour", "null", -EINVAL, E_PRICE);
        check("pricing.per_cpu_hour", "{}", -EINVAL, E_PRICE);
        check("pricing.per_cpu_hour", "99999999999999999999", -EINVAL, E_PRICE);
        check("pricing", "[]", -EINVAL, E_PRICING);
        check("pricing", "\"free\"", -EINVAL, E_PRICING);
        check("pricing", "5", -EINVAL, E_PRICING);
        check("pricing", "true", -EINVAL, E_PRICING);
        check("pricing.Per_hour", "1", -EINVAL, E_PRICING_KEY);
        check("pricing.per-hour", "1", -EINVAL, E_PRICING_KEY);

        /* Integers stay integers, doubles stay doubles. */
        ASSERT_OK(from_text("{\"ip_address\":\"192.0.2.1\",\"country\":\"SE\","
                            "\"resources\":{\"cpu\":4,\"memory\":8192,\"storage\":100000},"
                            "\"pricing\":{\"per_cpu_hour\":1,\"per_gb_hour\":0.25,\"start\":2.0,\"big\":1e3}}",
                            &a, error));
        ASSERT_STREQ(json_to_string(a.pricing, false),
                     "{\"per_cpu_hour\":1,\"per_gb_hour\":0.25,\"start\":2.0,\"big\":1000.0}");
        advertisement_done(&a);

        /* At most 16 keys. */
        for (unsigned n = 15; n <= 18; n++) {
                p = body + sprintf(body, "{\"ip_address\":\"192.0.2.1\",\"country\":\"SE\","
                                         "\"resources\":{\"cpu\":4,\"memory\":8192,\"storage\":100000},"
                                         "\"pricing\":{\"p0\":0");
                for (unsigned i = 1; i < n; i++)
                        p += sprintf(p, ",\"p%u\":%u.5", i, i);
                strcpy(p, "}}");

                TEST_CONTEXT("%u pricing keys", n);
                error[0] = 0;
                if (n <= PRICING_KEYS_MAX) {
                        ASSERT_OK(from_text(body, &a, error));
                        ASSERT_EQ_INT(json_object_object_length(a.pricing), n);
                        advertisement_done(&a);
                } else {
                        ASSERT_ERROR(from_text(body, &a, error), EINVAL);
                        ASSERT_STREQ(error, "pricing: more than 16 keys");
                        ASSERT_NULL(a.pricing);
                        ASSERT_NULL(a.resources_json);
                }
        }
}

TEST(unknown_fields_ignored) {
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {};
        json_object *v;

        check("foo", "1", 0, NULL);
        check("extra", "{\"a\":[1,2,{\"b\":null}]}", 0, NULL);

        /* Fields the service sets itself cannot be smuggled in. */
        ASSERT_OK(from_text("{\"ip_address\":\"192.0.2.1\",\"country\":\"SE\","
                            "\"resources\":{\"cpu\":4,\"memory\":8192,\"storage\":100000},"
                            "\"provider_id\":\"someone-else\",\"created_at\":\"2000-01-01T00:00:00Z\","
                            "\"updated_at\":\"2000-01-01T00:00:00Z\",\"nonsense\":true}", &a, error));
        ASSERT_STREQ(a.provider_id, "provider-1");
        ASSERT_EQ_UINT(a.created_at, 0);
        ASSERT_EQ_UINT(a.updated_at, 0);
        ASSERT_FALSE(json_object_object_get_ex(a.resources_json, "nonsense", &v));
        advertisement_done(&a);
}

TEST(body_not_object) {
        static const char *const bodies[] = { "[]", "[" BASE_BODY "]", "\"x\"", "5", "true" };
        char error[FIELD_ERROR_MAX];
        Advertisement a = {};

        for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
                TEST_CONTEXT("body %s", bodies[i]);
                error[0] = 0;
                ASSERT_ERROR(from_text(bodies[i], &a, error), EINVAL);
                ASSERT_STREQ(error, E_BODY);
        }
        error[0] = 0;
        ASSERT_ERROR(advertisement_from_body(NULL, "p", &a, error), EINVAL);
        ASSERT_STREQ(error, E_BODY);
}

TEST(first_error_wins) {
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {};

        /* Fields are checked in a fixed order, so the message does not depend on key order. */
        ASSERT_ERROR(from_text("{\"resources\":[],\"country\":\"XX\",\"ip_address\":\"x\"}", &a, error), EINVAL);
        ASSERT_STREQ(error, E_IP);
        ASSERT_ERROR(from_text("{\"resources\":[],\"country\":\"XX\",\"ip_address\":\"::1\"}", &a, error), EINVAL);
        ASSERT_STREQ(error, E_COUNTRY);
        ASSERT_ERROR(from_text("{\"pricing\":[],\"resources\":[],\"country\":\"FI\",\"ip_address\":\"::1\"}", &a, error), EINVAL);
        ASSERT_STREQ(error, E_RESOURCES);
}

TEST(to_json) {
        _cleanup_json_ json_object *o = NULL, *full = NULL;
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {};

        /* No platform, no pricing: both rendered as null. */
        ASSERT_OK(from_text("{\"ip_address\":\"2001:DB8::0:1\",\"country\":\"fi\","
                            "\"resources\":{\"cpu\":2,\"memory\":1024,\"storage\":50,\"gpu\":1}}", &a, error));
        a.created_at = (usec_t) 1700000000 * USEC_PER_SEC + 123456;
        a.updated_at = (usec_t) 1700000300 * USEC_PER_SEC;
        ASSERT_OK(advertisement_to_json(&a, &o));
        ASSERT_STREQ(json_to_string(o, false),
                     "{\"provider_id\":\"provider-1\",\"ip_address\":\"2001:db8::1\",\"country\":\"FI\","
                     "\"platform\":null,\"resources\":{\"cpu\":2,\"memory\":1024,\"storage\":50,\"gpu\":1},"
                     "\"pricing\":null,\"created_at\":\"2023-11-14T22:13:20Z\",\"updated_at\":\"2023-11-14T22:18:20Z\","
                     "\"api_port\":null,\"verified\":false}");
        advertisement_done(&a);

        /* Everything. */
        ASSERT_OK(from_text(BASE_BODY, &a, error));
        a.created_at = 0;
        a.verified = true;
        a.updated_at = (usec_t) 4102444800 * USEC_PER_SEC;
        ASSERT_OK(advertisement_to_json(&a, &full));
        ASSERT_STREQ(json_to_string(full, false),
                     "{\"provider_id\":\"provider-1\",\"ip_address\":\"192.0.2.1\",\"country\":\"SE\","
                     "\"platform\":\"linux-x86_64\",\"resources\":{\"cpu\":4,\"memory\":8192,\"storage\":100000},"
                     "\"pricing\":{\"per_cpu_hour\":0.5},\"created_at\":\"1970-01-01T00:00:00Z\","
                     "\"updated_at\":\"2100-01-01T00:00:00Z\",\"api_port\":7466,\"verified\":true}");

        /* The document holds references: it outlives the advertisement. */
        advertisement_done(&a);
        ASSERT_STREQ(json_to_string(json_object_object_get(full, "resources"), false),
                     "{\"cpu\":4,\"memory\":8192,\"storage\":100000}");
}

TEST(to_json_roundtrip) {
        /* What is served validates again into the same advertisement. */
        _cleanup_json_ json_object *o = NULL;
        char error[FIELD_ERROR_MAX] = "";
        Advertisement a = {}, b = {};
        _cleanup_free_ char *first = NULL;

        ASSERT_OK(from_text(BASE_BODY, &a, error));
        ASSERT_OK(advertisement_to_json(&a, &o));
        first = strdup(json_to_string(o, false));
        ASSERT_OK(from_text(first, &b, error));
        json_object_put(o);
        o = NULL;
        ASSERT_OK(advertisement_to_json(&b, &o));
        ASSERT_STREQ(json_to_string(o, false), first);
        advertisement_done(&a);
        advertisement_done(&b);
}

/* The query string, as name/value pairs. */
typedef struct QueryArgs {
        const char *pairs[16];
} QueryArgs;

static const char *query_get(void *userdata, const char *name) {
        const QueryArgs *args = userdata;

        for (size_t i = 0; args->pairs[i]; i += 2)
                if (streq(args->pairs[i], name))
                        return args->pairs[i + 1];
        return NULL;
}

TEST(query_parse) {
        static const struct {
                QueryArgs args;
                int r;
                const char *error;
                AdvertisementQuery q;
        } table[] = {
                { { { NULL } }, 0, NULL, { .limit = 1000, .offset = 0 } },
                { { { "cpu", "4", "memory", "1024", "storage", "10" } }, 0, NULL,
                  { .cpu = 4, .memory = 1024, .storage = 10, .limit = 1000 } },
                { { { "cpu", "1" } }, 0, NULL, { .cpu = 1, .limit = 1000 } },
                { { { "cpu", "9223372036854775807" } }, 0, NULL, { .cpu = INT64_MAX, .limit = 1000 } },
                { { { "country", "se" } }, 0, NULL, { .country = "SE", .limit = 1000 } },
                { { { "country", "US" } }, 0, NULL, { .country = "US", .limit = 1000 } },
                { { { "platform", "linux-x86_64" } }, 0, NULL, { .platform = "linux-x86_64", .limit = 1000 } },
                { { { "limit", "1" } }, 0, NULL, { .limit = 1 } },
                { { { "limit", "10000" } }, 0, NULL, { .limit = 10000 } },
                { { { "offset", "0" } }, 0, NULL, { .limit = 1000 } },
                { { { "offset", "5", "limit", "10" } }, 0, NULL, { .limit = 10, .offset = 5 } },
                { { { "offset", "9223372036854775807" } }, 0, NULL, { .limit = 1000, .offset = INT64_MAX } },
                { { { "unknown", "x" } }, 0, NULL, { .limit = 1000 } },
                { { { "verified", "true" } }, 0, NULL, { .verified_only = true, .limit = 1000 } },
                { { { "verified", "false" } }, 0, NULL, { .limit = 1000 } },
                /* Malformed: 422. */
                { { { "cpu", "abc" } }, -EINVAL, "cpu: must be an integer" },
                { { { "cpu", "" } }, -EINVAL, "cpu: must be an integer" },
                { { { "cpu", "4.5" } }, -EINVAL, "cpu: must be an integer" },
                { { { "cpu", " 4" } }, -EINVAL, "cpu: must be an integer" },
                { { { "cpu", "+4" } }, -EINVAL, "cpu: must be an integer" },
                { { { "cpu", "0x4" } }, -EINVAL, "cpu: must be an integer" },
                { { { "cpu", "99999999999999999999" } }, -EINVAL, "cpu: must be an integer" },
                { { { "memory", "x" } }, -EINVAL, "memory: must be an integer" },
                { { { "storage", "1GB" } }, -EINVAL, "storage: must be an integer" },
                { { { "limit", "0" } }, -EINVAL, "limit: must be an integer from 1 to 10000" },
                { { { "limit", "10001" } }, -EINVAL, "limit: must be an integer from 1 to 10000" },
                { { { "limit", "x" } }, -EINVAL, "limit: must be an integer from 1 to 10000" },
                { { { "limit", "-1" } }, -EINVAL, "limit: must be an integer from 1 to 10000" },
                { { { "limit", "" } }, -EINVAL, "limit: must be an integer from 1 to 10000" },
                { { { "offset", "-1" } }, -EINVAL, "offset: must be a non-negative integer" },
                { { { "offset", "x" } }, -EINVAL, "offset: must be a non-negative integer" },
                { { { "offset", "9223372036854775808" } }, -EINVAL, "offset: must be a non-negative integer" },
                { { { "country", "XX" } }, -EINVAL, "country: must be an ISO 3166-1 alpha-2 code" },
                { { { "country", "" } }, -EINVAL, "country: must be an ISO 3166-1 alpha-2 code" },
                { { { "country", "SWE" } }, -EINVAL, "country: must be an ISO 3166-1 alpha-2 code" },
                { { { "platform", "" } }, -EINVAL, "platform: must be 1-32 of A-Z, a-z, 0-9, '.', '_', '-'" },
                { { { "platform", "a b" } }, -EINVAL, "platform: must be 1-32 of A-Z, a-z, 0-9, '.', '_', '-'" },
                { { { "platform", "k23456789012345678901234567890123" } }, -EINVAL,
                  "platform: must be 1-32 of A-Z, a-z, 0-9, '.', '_', '-'" },
                { { { "verified", "" } }, -EINVAL, "verified: must be true or false" },
                { { { "verified", "1" } }, -EINVAL, "verified: must be true or false" },
                { { { "verified", "True" } }, -EINVAL, "verified: must be true or false" },
                { { { "verified", "yes" } }, -EINVAL, "verified: must be true or false" },
                /* A minimum below 1: 400. */
                { { { "cpu", "0" } }, -ERANGE, "cpu: must be at least 1" },
                { { { "cpu", "-1" } }, -ERANGE, "cpu: must be at least 1" },
                { { { "memory", "0" } }, -ERANGE, "memory: must be at least 1" },
                { { { "storage", "-9223372036854775808" } }, -ERANGE, "storage: must be at least 1" },
                /* A malformed value is named before a minimum below 1, whatever the order. */
                { { { "cpu", "0", "memory", "abc" } }, -EINVAL, "memory: must be an integer" },
                { { { "cpu", "0", "limit", "0" } }, -EINVAL, "limit: must be an integer from 1 to 10000" },
                { { { "cpu", "0", "country", "XX" } }, -EINVAL, "country: must be an ISO 3166-1 alpha-2 code" },
                { { { "storage", "0", "memory", "0" } }, -ERANGE, "memory: must be at least 1" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                AdvertisementQuery q = { .limit = 4242 };
                char error[FIELD_ERROR_MAX] = "";
                char context[256] = "?";
                size_t n = 0;

                for (size_t j = 0; table[i].args.pairs[j]; j += 2)
                        n += snprintf(context + n, sizeof(context) - n, "%s%s=%s", j ? "&" : "",
                                      table[i].args.pairs[j], table[i].args.pairs[j + 1]);
                TEST_CONTEXT("query \"%s\"", context);

                ASSERT_EQ_INT(advertisement_query_parse(query_get, (void *) &table[i].args, &q, error), table[i].r);
                if (table[i].r < 0) {
                        ASSERT_STREQ(error, table[i].error);
                        ASSERT_EQ_UINT(q.limit, 4242); /* untouched */
                        continue;
                }
                ASSERT_EQ_INT(q.cpu, table[i].q.cpu);
                ASSERT_EQ_INT(q.memory, table[i].q.memory);
                ASSERT_EQ_INT(q.storage, table[i].q.storage);
                ASSERT_STREQ(q.country, table[i].q.country);
                ASSERT_STREQ(q.platform, table[i].q.platform);
                ASSERT_EQ_INT(q.verified_only, table[i].q.verified_only);
                ASSERT_EQ_UINT(q.limit, table[i].q.limit);
                ASSERT_EQ_UINT(q.offset, table[i].q.offset);
        }
}
