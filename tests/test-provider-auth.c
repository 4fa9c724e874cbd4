/* SPDX-License-Identifier: MIT */
/* Who a REST request comes from (provider-auth.h): the anonymous compat mode never takes a
 * request that carries signature headers, and the provider's key is made once and kept. */

#include <stdio.h>
#include <sys/stat.h>

#include "provider-auth.h"
#include "ssh-key-file.h"
#include "tests.h"

#define AUDIENCE "provider-under-test"

/* A GET of /api/v1/vms signed by k for AUDIENCE at now. */
static void sign(const SshKey *k, int64_t now, SignedRequestHeaders *h, SignedRequest *req) {
        ASSERT_OK(signed_request_sign(k, NULL, NULL, "GET", "/api/v1/vms", AUDIENCE, NULL, 0, now, h));
        *req = (SignedRequest) {
                .method = "GET",
                .target = "/api/v1/vms",
                .audience = AUDIENCE,
                .timestamp = h->timestamp,
                .nonce = h->nonce,
                .signature = h->signature,
        };
}

TEST(verify) {
        _cleanup_(nonce_cache_freep) NonceCache *nonces = NULL;
        _cleanup_(signed_request_headers_done) SignedRequestHeaders h = {};
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        char identity[SSH_IDENTITY_SIZE] = "", want[SSH_IDENTITY_SIZE];
        SignedRequest unsigned_req = { .method = "GET", .target = "/api/v1/vms", .audience = AUDIENCE }, req, bad;
        int64_t now = 1800000000;

        ASSERT_OK(nonce_cache_new(16, SIGNED_REQUEST_WINDOW_SEC, &nonces));
        ASSERT_OK(ssh_key_generate_ed25519(&k));
        ssh_key_identity(k, want);

        /* Unsigned: anonymous where allowed, AUTH_001 where not. */
        ASSERT_EQ_INT(provider_auth_verify(&unsigned_req, true, now, nonces, identity), 0);
        ASSERT_STREQ(identity, "");
        ASSERT_ERROR(provider_auth_verify(&unsigned_req, false, now, nonces, identity), ENOMSG);

        /* Signed: the signer, whether or not unsigned requests are allowed. */
        sign(k, now, &h, &req);
        ASSERT_EQ_INT(provider_auth_verify(&req, true, now, nonces, identity), 1);
        ASSERT_STREQ(identity, want);
        ASSERT_ERROR(provider_auth_verify(&req, true, now, nonces, identity), EALREADY);

        /* Any signature header at all is checked in full, never taken as anonymous. */
        bad = unsigned_req;
        bad.signature = "AAAA";
        ASSERT_ERROR(provider_auth_verify(&bad, true, now, nonces, identity), ENOMSG);
        bad = unsigned_req;
        bad.nonce = "0123456789abcdef";
        ASSERT_ERROR(provider_auth_verify(&bad, true, now, nonces, identity), ENOMSG);
        signed_request_headers_done(&h);
        sign(k, now, &h, &req);
        bad = req;
        bad.signature = "AAAA";
        ASSERT_ERROR(provider_auth_verify(&bad, true, now, nonces, identity), EBADMSG);
        bad = req;
        bad.audience = "another-provider";
        ASSERT_ERROR(provider_auth_verify(&bad, true, now, nonces, identity), EKEYREJECTED);
        ASSERT_ERROR(provider_auth_verify(&req, true, now + SIGNED_REQUEST_WINDOW_SEC + 1, nonces, identity), ETIME);
}

TEST(provider_key) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *pub = NULL;
        _cleanup_(ssh_key_freep) SshKey *k = NULL, *again = NULL, *from_pub = NULL;
        char a[SSH_IDENTITY_SIZE], b[SSH_IDENTITY_SIZE];
        struct stat st;

        ASSERT_TRUE(asprintf(&path, "%s/identity", dir) >= 0);
        ASSERT_TRUE(asprintf(&pub, "%s/identity.pub", dir) >= 0);

        /* Made at first, 0600, with its .pub; loaded, the same key, afterwards. */
        ASSERT_EQ_INT(provider_key_load_or_make(path, "golem-provider@test", &k), 1);
        ASSERT_TRUE(ssh_key_type(k) == SSH_KEY_ED25519 && ssh_key_has_private(k));
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ_INT(st.st_mode & 0777, 0600);
        ASSERT_OK(ssh_key_load_public(pub, &from_pub));
        ASSERT_STREQ(ssh_key_comment(from_pub), "golem-provider@test");
        ASSERT_EQ_INT(provider_key_load_or_make(path, "other", &again), 0);
        ssh_key_identity(k, a);
        ssh_key_identity(again, b);
        ASSERT_STREQ(a, b);
        ssh_key_identity(from_pub, b);
        ASSERT_STREQ(a, b);

        /* A broken key file is an error, never silently replaced (the id would change). */
        again = ssh_key_free(again);
        free(test_write_file(dir, "broken", "not a key", 9));
        free(path);
        ASSERT_TRUE(asprintf(&path, "%s/broken", dir) >= 0);
        ASSERT_TRUE(provider_key_load_or_make(path, "x", &again) < 0);
        ASSERT_NULL(again);
        test_rm_rf(dir);
}
