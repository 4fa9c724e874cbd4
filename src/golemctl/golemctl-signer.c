/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "golemctl-signer.h"
#include "ssh-agent.h"
#include "ssh-key-file.h"

struct Signer {
        char *path;             /* the private key file */
        char *agent;            /* the agent's socket; NULL: $SSH_AUTH_SOCK */
        SshKey *key;            /* the public key (agent), or the key pair (file) */
        SignerSource source;
        char identity[SSH_IDENTITY_SIZE];
};

static const char *const signer_source_table[_SIGNER_SOURCE_MAX] = {
        [SIGNER_AGENT] = "agent",
        [SIGNER_FILE] = "file",
};

DEFINE_STRING_TABLE_LOOKUP(signer_source, SignerSource);

Signer *signer_free(Signer *s) {
        if (!s)
                return NULL;
        free(s->path);
        free(s->agent);
        ssh_key_free(s->key);
        return mfree(s);
}

/* The public key: from path.pub (what golemctl sends to VMs), else from the key file. */
static int load_public(const char *path, SshKey **ret) {
        _cleanup_free_ char *pub = NULL;
        int r;

        if (asprintf(&pub, "%s.pub", path) < 0)
                return -ENOMEM;
        r = ssh_key_load_public(pub, ret);
        if (r != -ENOENT)
                return r;
        return ssh_key_load_public(path, ret);
}

static bool same_key(const SshKey *a, const SshKey *b) {
        size_t na, nb;
        const uint8_t *x = ssh_key_blob(a, &na), *y = ssh_key_blob(b, &nb);

        return na == nb && memcmp(x, y, na) == 0;
}

int signer_load(const char *path, const char *agent, Signer **ret) {
        _cleanup_(signer_freep) Signer *s = NULL;
        _cleanup_(ssh_key_freep) SshKey *public = NULL, *pair = NULL;
        int r;

        r = load_public(path, &public);
        if (r < 0)
                return r;

        s = calloc(1, sizeof(Signer));
        if (!s)
                return -ENOMEM;
        s->path = strdup(path);
        if (!s->path || (agent && !(s->agent = strdup(agent))))
                return -ENOMEM;

        /* An agent that is not there, or does not answer, is no agent: the file may do. */
        if (ssh_agent_has_key(agent, public) > 0) {
                s->source = SIGNER_AGENT;
                s->key = TAKE_PTR(public);
        } else {
                r = ssh_key_load_private(path, &pair);
                if (r < 0)
                        return r;
                if (!same_key(public, pair))
                        return -EKEYREJECTED;
                s->source = SIGNER_FILE;
                s->key = TAKE_PTR(pair);
        }
        ssh_key_identity(s->key, s->identity);
        *ret = TAKE_PTR(s);
        return 0;
}

const char *signer_path(const Signer *s) {
        return s->path;
}

SignerSource signer_source(const Signer *s) {
        return s->source;
}

const char *signer_identity(const Signer *s) {
        return s->identity;
}

int signer_sign(Signer *s, const char *method, const char *target, const char *audience,
                const void *body, size_t body_size, SignedRequestHeaders *ret) {
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return -errno;
        return signed_request_sign(s->key, s->source == SIGNER_AGENT ? ssh_agent_sign_func : NULL, s->agent,
                                   method, target, audience, body, body_size, (int64_t) ts.tv_sec, ret);
}
