/* SPDX-License-Identifier: MIT */
/* golemctl's signer with a key file: which key it takes, the identity, signatures that
 * the providers' verifier accepts, and the errors golemctl turns into advice. (The agent
 * and ssh-keygen's view of the signatures: tests/integration/test-trust-golemctl.py.) */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "golemctl-signer.h"
#include "nonce-cache.h"
#include "signed-request.h"
#include "ssh-key-file.h"
#include "tests.h"

static char *join(const char *dir, const char *name) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/%s", dir, name) >= 0);
        return p;
}

/* A fresh Ed25519 key at DIR/NAME and DIR/NAME.pub. */
static char *make_key(const char *dir, const char *name) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        char *path = join(dir, name);

        ASSERT_OK(ssh_key_generate_ed25519(&k));
        ASSERT_OK(ssh_key_save(k, path));
        return path;
}

TEST(file_key_signs) {
        _cleanup_free_ char *dir = test_mkdtemp(), *key = make_key(dir, "id"), *agent = join(dir, "no-agent");
        _cleanup_(signer_freep) Signer *s = NULL;
        _cleanup_(ssh_key_freep) SshKey *pub = NULL;
        _cleanup_(signed_request_headers_done) SignedRequestHeaders h = {};
        _cleanup_(nonce_cache_freep) NonceCache *cache = NULL;
        char expected[SSH_IDENTITY_SIZE], identity[SSH_IDENTITY_SIZE];
        const char *body = "{\"name\":\"web\"}";
        SignedRequest req;

        /* No agent at that socket: the file it is. */
        ASSERT_OK(signer_load(key, agent, &s));
        ASSERT_EQ_INT(signer_source(s), SIGNER_FILE);
        ASSERT_STREQ(signer_path(s), key);
        ASSERT_OK(ssh_key_load_public(key, &pub));
        ssh_key_identity(pub, expected);
        ASSERT_STREQ(signer_identity(s), expected);
        ASSERT_EQ_INT(strlen(signer_identity(s)), SSH_IDENTITY_LEN);

        ASSERT_OK(signer_sign(s, "POST", "/api/v1/vms?async=true", "prov-1", body, strlen(body), &h));
        req = (SignedRequest) {
                .method = "POST", .target = "/api/v1/vms?async=true", .audience = "prov-1",
                .timestamp = h.timestamp, .nonce = h.nonce, .signature = h.signature,
                .body = body, .body_size = strlen(body),
        };
        ASSERT_OK(nonce_cache_new(16, SIGNED_REQUEST_WINDOW_SEC, &cache));
        ASSERT_OK(signed_request_verify(&req, time(NULL), cache, identity));
        ASSERT_STREQ(identity, expected);

        /* For another provider it is not good. */
        req.audience = "prov-2";
        ASSERT_ERROR(signed_request_verify(&req, time(NULL), cache, identity), EKEYREJECTED);
        test_rm_rf(dir);
}

TEST(load_errors) {
        _cleanup_free_ char *dir = test_mkdtemp(), *a = make_key(dir, "a"), *b = make_key(dir, "b"),
                            *agent = join(dir, "no-agent"), *missing = join(dir, "missing"),
                            *garbage = join(dir, "garbage"), *garbage_pub = join(dir, "garbage.pub"),
                            *a_pub = NULL, *b_pub = NULL, *only_pub = join(dir, "only"), *only_pub_pub = NULL;
        Signer *s = NULL;
        FILE *f;

        ASSERT_TRUE(asprintf(&a_pub, "%s.pub", a) >= 0);
        ASSERT_TRUE(asprintf(&b_pub, "%s.pub", b) >= 0);
        ASSERT_TRUE(asprintf(&only_pub_pub, "%s.pub", only_pub) >= 0);

        ASSERT_ERROR(signer_load(missing, agent, &s), ENOENT);

        /* A .pub that is not the private key's. */
        ASSERT_OK(rename(b_pub, a_pub) < 0 ? -errno : 0);
        ASSERT_ERROR(signer_load(a, agent, &s), EKEYREJECTED);

        /* Only a .pub, and no agent that holds it. */
        ASSERT_OK(rename(a_pub, only_pub_pub) < 0 ? -errno : 0);
        ASSERT_ERROR(signer_load(only_pub, agent, &s), ENOENT);

        /* Not a key file (an old PEM key, say), with a good .pub. */
        ASSERT_OK(link(only_pub_pub, garbage_pub) < 0 ? -errno : 0);
        f = fopen(garbage, "we");
        ASSERT_NOT_NULL(f);
        fputs("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", f);
        fclose(f);
        ASSERT_ERROR(signer_load(garbage, agent, &s), EBADMSG);
        ASSERT_NULL(s);

        ASSERT_STREQ(signer_source_to_string(SIGNER_AGENT), "agent");
        ASSERT_STREQ(signer_source_to_string(SIGNER_FILE), "file");
        test_rm_rf(dir);
}
