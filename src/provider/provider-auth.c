/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "provider-auth.h"
#include "ssh-key-file.h"

int provider_auth_verify(const SignedRequest *req, bool allow_unsigned, int64_t now, NonceCache *nonces,
                         char ret_identity[static SSH_IDENTITY_SIZE]) {
        int r;

        if (allow_unsigned && !req->timestamp && !req->nonce && !req->signature)
                return 0;
        r = signed_request_verify(req, now, nonces, ret_identity);
        return r < 0 ? r : 1;
}

int provider_key_load_or_make(const char *path, const char *comment, SshKey **ret) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        int r;

        r = ssh_key_load_private(path, &k);
        if (r >= 0) {
                *ret = TAKE_PTR(k);
                return 0;
        }
        if (r != -ENOENT)
                return r;

        r = ssh_key_generate_ed25519(&k);
        if (r < 0)
                return r;
        r = ssh_key_set_comment(k, comment);
        if (r < 0)
                return r;
        r = ssh_key_save(k, path);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 1;
}
