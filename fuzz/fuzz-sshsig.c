/* SPDX-License-Identifier: MIT */
/* The SSH key and signature parsers (ssh-key.c, sshsig.c, ssh-key-file.c, ssh-agent.c), all
 * of them on every input:
 *   - as an SSHSIG blob: sshsig_parse(), then sshsig_verify() in its own namespace and in
 *     another, over a fixed message (a forged signature being out of reach, only the seeds'
 *     real signatures of that message verify, and only in their namespace);
 *   - as a public key blob: ssh_key_from_blob(); a key taken is canonical (its public key
 *     line parses back to the same blob) and gives a valid identity;
 *   - as text: ssh_key_from_public_line(), sshsig_dearmor() + sshsig_parse(),
 *     ssh_key_from_private_text(); a private key taken writes out and reads back the same,
 *     and signs what its own public key verifies;
 *   - as an ssh-agent answer: ssh_agent_parse_sign_response(), ssh_agent_parse_identities().
 * Every error is one the headers promise, and a failure leaves the outputs untouched. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ssh-agent.h"
#include "ssh-key-file.h"
#include "ssh-key.h"
#include "sshsig.h"

#define INPUT_MAX (16 * 1024)
/* What the seeds' signatures sign (see fuzz/README.md). */
#define MESSAGE "golem-request-v1\nPOST\n/api/v1/vms\ndiscovery\n1700000000\nfuzz-fuzz-fuzz-fuzz\n" \
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"

static bool parse_error(int r) {
        return IN_SET(r, -EBADMSG, -EPROTONOSUPPORT);
}

static SshKey *const untouched = (SshKey *) &untouched;

static void check_key(const SshKey *k) {
        char identity[SSH_IDENTITY_SIZE], *line = NULL;
        SshKey *back = NULL;
        const uint8_t *blob, *blob2;
        size_t size, size2;

        fuzz_check(ssh_key_type_to_string(ssh_key_type(k)));
        ssh_key_identity(k, identity);
        fuzz_check(ssh_identity_valid(identity));

        blob = ssh_key_blob(k, &size);
        fuzz_check(size <= SSH_KEY_BLOB_MAX);
        fuzz_check(ssh_key_to_public_line(k, &line) == 0);
        fuzz_check(ssh_key_from_public_line(line, &back) == 0);
        blob2 = ssh_key_blob(back, &size2);
        fuzz_check(size == size2 && memcmp(blob, blob2, size) == 0);
        fuzz_check(ssh_key_type(back) == ssh_key_type(k));
        ssh_key_free(back);
        free(line);
}

static void check_sshsig_blob(const uint8_t *data, size_t size) {
        SshSig *s = (SshSig *) untouched;
        int r;

        r = sshsig_parse(data, size, &s);
        if (r < 0) {
                fuzz_check(parse_error(r));
                fuzz_check(s == (SshSig *) untouched);
                return;
        }
        fuzz_check(size <= SSHSIG_BLOB_MAX);
        fuzz_check(sshsig_hash_to_string(sshsig_hash(s)));
        fuzz_check(!isempty(sshsig_namespace(s)));
        check_key(sshsig_key(s));

        r = sshsig_verify(s, sshsig_namespace(s), MESSAGE, strlen(MESSAGE));
        fuzz_check(r == 0 || IN_SET(r, -EBADMSG, -EPROTONOSUPPORT, -EKEYREJECTED));
        if (fuzz_verbose())
                fprintf(stderr, "sshsig %s %s: %s\n", ssh_key_type_to_string(ssh_key_type(sshsig_key(s))),
                        sshsig_namespace(s), r == 0 ? "verifies" : strerror(-r));
        if (r == 0) {
                /* Not in another namespace, not over another message. */
                fuzz_check(sshsig_verify(s, streq(sshsig_namespace(s), "x") ? "y" : "x", MESSAGE, strlen(MESSAGE)) ==
                           -EKEYREJECTED);
                fuzz_check(sshsig_verify(s, sshsig_namespace(s), MESSAGE, strlen(MESSAGE) - 1) == -EKEYREJECTED);
        }
        sshsig_free(s);
}

static void check_key_blob(const uint8_t *data, size_t size) {
        SshKey *k = untouched;
        int r;

        r = ssh_key_from_blob(data, size, &k);
        if (r < 0) {
                fuzz_check(parse_error(r));
                fuzz_check(k == untouched);
                return;
        }
        check_key(k);
        fuzz_check(!ssh_key_has_private(k));
        ssh_key_free(k);
}

static void check_private_text(const char *text, size_t size) {
        SshKey *k = untouched, *back = NULL, *pub = NULL;
        uint8_t *sig = NULL;
        char *out = NULL;
        const uint8_t *blob;
        size_t sig_size, blob_size;
        int r;

        r = ssh_key_from_private_text(text, size, &k);
        if (r < 0) {
                fuzz_check(parse_error(r) || r == -ENOKEY);
                fuzz_check(k == untouched);
                return;
        }
        fuzz_check(ssh_key_has_private(k));
        check_key(k);
        fuzz_check(ssh_key_to_private_text(k, &out) == 0);
        fuzz_check(ssh_key_from_private_text(out, strlen(out), &back) == 0);
        fuzz_check(streq(ssh_key_comment(back), ssh_key_comment(k)));
        erase_and_free(out, strlen(out));

        blob = ssh_key_blob(k, &blob_size);
        fuzz_check(ssh_key_from_blob(blob, blob_size, &pub) == 0);
        fuzz_check(ssh_key_sign(back, "m", 1, &sig, &sig_size) == 0);
        fuzz_check(ssh_key_verify(pub, sig, sig_size, "m", 1, NULL) == 0);
        fuzz_check(ssh_key_verify(pub, sig, sig_size, "n", 1, NULL) == -EKEYREJECTED);
        free(sig);
        ssh_key_free(pub);
        ssh_key_free(back);
        ssh_key_free(k);
}

static void check_text(const uint8_t *data, size_t size) {
        char *text = fuzz_string(data, size);
        SshKey *k = untouched;
        uint8_t *blob = NULL;
        size_t blob_size = 0;
        int r;


        if (strlen(text) == size) {
                r = ssh_key_from_public_line(text, &k);
                if (r < 0) {
                        fuzz_check(parse_error(r));
                        fuzz_check(k == untouched);
                } else {
                        check_key(k);
                        ssh_key_free(k);
                }
        }

        r = sshsig_dearmor(text, size, &blob, &blob_size);
        fuzz_check(r == 0 || r == -EBADMSG);
        if (r == 0) {
                check_sshsig_blob(blob, blob_size);
                free(blob);
        }

        check_private_text(text, size);
        free(text);
}

static void check_agent_answers(const uint8_t *data, size_t size) {
        uint8_t *sig = (uint8_t *) untouched;
        size_t sig_size = 0;
        int r;

        r = ssh_agent_parse_sign_response(data, size, &sig, &sig_size);
        if (r < 0) {
                fuzz_check(r == -EBADMSG || r == -EPERM);
                fuzz_check(sig == (uint8_t *) untouched);
        } else {
                fuzz_check(sig_size > 0 && sig_size < size);
                free(sig);
        }

        r = ssh_agent_parse_identities(data, size, (const uint8_t *) "key", 3);
        fuzz_check(r == 0 || r == 1 || r == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > INPUT_MAX)
                return 0;
        check_sshsig_blob(data, size);
        check_key_blob(data, size);
        check_text(data, size);
        check_agent_answers(data, size);
        return 0;
}
