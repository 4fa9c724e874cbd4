/* SPDX-License-Identifier: MIT */
/* SSH keys, SSHSIG signatures and signed requests, checked against OpenSSH itself: keys of
 * every type made by ssh-keygen, messages signed by `ssh-keygen -Y sign` verified here, our
 * signatures (with a key file and through our own ssh-agent) checked by `ssh-keygen -Y
 * check-novalidate`, our key files read by `ssh-keygen -y`, identities compared with
 * `ssh-keygen -l`. Every tool runs with an argv array, in a temporary directory. */

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "nonce-cache.h"
#include "signed-request.h"
#include "ssh-agent.h"
#include "ssh-key-file.h"
#include "ssh-key.h"
#include "ssh-wire.h"
#include "sshsig.h"
#include "tests.h"

#define NS SIGNED_REQUEST_NAMESPACE
#define PASSPHRASE "correct horse battery staple"

/* ssh-add asks its passphrase of $SSH_ASKPASS: this very program, told so by the
 * environment, answers it before any test runs. */
__attribute__((constructor)) static void askpass(void) {
        const char *p = getenv("GOLEM_TEST_ASKPASS");

        if (p) {
                printf("%s\n", p);
                fflush(stdout);
                _exit(0);
        }
}

/* Runs argv (argv[0] looked up in PATH) with stdin from the file in_path (or /dev/null),
 * the environment plus env (NULL-terminated "NAME=VALUE"s, may be NULL), stdout into
 * *ret_out when not NULL. Returns the exit status, or -1 for a signal. */
static int run(const char *const argv[], const char *in_path, const char *const env[], char **ret_out) {
        int pipefd[2];
        pid_t pid;
        int status;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                tests_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
        pid = fork();
        if (pid < 0)
                tests_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        if (pid == 0) {
                int in = open(in_path ?: "/dev/null", O_RDONLY);

                if (in < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0)
                        _exit(127);
                for (size_t i = 0; env && env[i]; i++)
                        putenv((char *) env[i]);
                (void) setsid(); /* no controlling terminal: ssh-add must use $SSH_ASKPASS */
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(pipefd[1]);

        {
                size_t n = 0, allocated = 4096;
                char *out = malloc(allocated);
                ssize_t k;

                ASSERT_NOT_NULL(out);
                while ((k = read(pipefd[0], out + n, allocated - n - 1)) > 0 || (k < 0 && errno == EINTR)) {
                        if (k < 0)
                                continue;
                        n += (size_t) k;
                        if (allocated - n < 2) {
                                allocated *= 2;
                                out = realloc(out, allocated);
                                ASSERT_NOT_NULL(out);
                        }
                }
                out[n] = 0;
                close(pipefd[0]);
                if (ret_out)
                        *ret_out = out;
                else
                        free(out);
        }
        while (waitpid(pid, &status, 0) < 0)
                ASSERT_TRUE(errno == EINTR);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *read_file(const char *path, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        if (!f)
                tests_fail(__FILE__, __LINE__, "fopen(%s): %s", path, strerror(errno));
        ASSERT_OK(fseek(f, 0, SEEK_END));
        n = ftell(f);
        ASSERT_TRUE(n >= 0);
        rewind(f);
        buf = malloc((size_t) n + 1);
        ASSERT_NOT_NULL(buf);
        ASSERT_EQ_UINT(fread(buf, 1, (size_t) n, f), (size_t) n);
        buf[n] = 0;
        fclose(f);
        if (ret_size)
                *ret_size = (size_t) n;
        return buf;
}

static char *path_join(const char *dir, const char *name) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/%s", dir, name) >= 0);
        return p;
}

/* A key made by ssh-keygen in dir: returns the private key's path (the public one is .pub). */
static char *keygen(const char *dir, const char *name, const char *type, const char *bits, const char *passphrase) {
        char *path = path_join(dir, name);
        const char *argv[] = { "ssh-keygen", "-q", "-t", type, "-N", passphrase, "-C", name, "-f", path,
                               bits ? "-b" : NULL, bits, NULL };

        ASSERT_EQ_INT(run(argv, NULL, NULL, NULL), 0);
        return path;
}

/* `ssh-keygen -Y sign` of the message msg (written to dir/name): the SSHSIG blob. */
static uint8_t *keygen_sign(const char *dir, const char *name, const char *key, const char *ns,
                            const char *msg, size_t msg_size, size_t *ret_size) {
        _cleanup_free_ char *msg_path = test_write_file(dir, name, msg, msg_size), *sig_path = NULL, *text = NULL;
        const char *argv[] = { "ssh-keygen", "-q", "-Y", "sign", "-n", ns, "-f", key, msg_path, NULL };
        uint8_t *blob;
        size_t size;

        ASSERT_EQ_INT(run(argv, NULL, NULL, NULL), 0);
        ASSERT_TRUE(asprintf(&sig_path, "%s.sig", msg_path) >= 0);
        text = read_file(sig_path, &size);
        ASSERT_OK(sshsig_dearmor(text, size, &blob, ret_size));
        return blob;
}

/* `ssh-keygen -Y check-novalidate` of blob over msg: its exit status. */
static int keygen_check(const char *dir, const char *name, const uint8_t *blob, size_t blob_size, const char *ns,
                        const char *msg, size_t msg_size) {
        _cleanup_free_ char *armored = NULL, *msg_path = NULL, *sig_path = NULL, *sig_name = NULL;
        int status;

        ASSERT_OK(sshsig_armor(blob, blob_size, &armored));
        ASSERT_TRUE(asprintf(&sig_name, "%s.sig", name) >= 0);
        sig_path = test_write_file(dir, sig_name, armored, strlen(armored));
        msg_path = test_write_file(dir, name, msg, msg_size);
        {
                const char *argv[] = { "ssh-keygen", "-Y", "check-novalidate", "-n", ns, "-s", sig_path, NULL };

                status = run(argv, msg_path, NULL, NULL);
        }
        return status;
}

/* What `ssh-keygen -l` prints after "SHA256:", made URL-safe: the identity. */
static void keygen_identity(const char *pub_path, char ret[static SSH_IDENTITY_SIZE]) {
        const char *argv[] = { "ssh-keygen", "-l", "-E", "sha256", "-f", pub_path, NULL };
        _cleanup_free_ char *out = NULL;
        const char *p;
        size_t n;

        ASSERT_EQ_INT(run(argv, NULL, NULL, &out), 0);
        p = strstr(out, "SHA256:");
        ASSERT_NOT_NULL(p);
        p += strlen("SHA256:");
        n = strcspn(p, " ");
        ASSERT_EQ_UINT(n, SSH_IDENTITY_LEN);
        for (size_t i = 0; i < n; i++)
                ret[i] = p[i] == '+' ? '-' : p[i] == '/' ? '_' : p[i];
        ret[n] = 0;
}

static uint8_t *sign_with(const SshKey *key, SshSignFunc f, void *userdata, const char *ns, const char *msg, size_t *ret_size) {
        uint8_t *blob;

        ASSERT_OK(sshsig_sign(key, f, userdata, ns, msg, strlen(msg), &blob, ret_size));
        return blob;
}

static int verify_blob(const uint8_t *blob, size_t size, const char *ns, const char *msg, size_t msg_size) {
        _cleanup_(sshsig_freep) SshSig *sig = NULL;
        int r;

        r = sshsig_parse(blob, size, &sig);
        if (r < 0)
                return r;
        return sshsig_verify(sig, ns, msg, msg_size);
}

static bool same_key(const SshKey *a, const SshKey *b) {
        size_t a_size, b_size;
        const uint8_t *pa = ssh_key_blob(a, &a_size), *pb = ssh_key_blob(b, &b_size);

        return a_size == b_size && memcmp(pa, pb, a_size) == 0;
}

/* ---- the wire encoding ---- */

TEST(base64) {
        static const struct {
                const char *in, *standard, *url;
        } table[] = {
                { "", "", "" },
                { "f", "Zg==", "Zg" },
                { "fo", "Zm8=", "Zm8" },
                { "foo", "Zm9v", "Zm9v" },
                { "foob", "Zm9vYg==", "Zm9vYg" },
                { "fooba", "Zm9vYmE=", "Zm9vYmE" },
                { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
                { "\xfb\xff", "+/8=", "-_8" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *a = NULL, *b = NULL;
                char c[16];

                TEST_CONTEXT("%s", table[i].in);
                ASSERT_OK(base64_encode(table[i].in, strlen(table[i].in), false, 0, &a));
                ASSERT_STREQ(a, table[i].standard);
                ASSERT_OK(base64_encode(table[i].in, strlen(table[i].in), true, 0, &b));
                ASSERT_STREQ(b, table[i].url);
                base64url_encode_into(table[i].in, strlen(table[i].in), c);
                ASSERT_STREQ(c, table[i].url);
        }
}

TEST(armor) {
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ uint8_t *back = NULL;
        uint8_t data[200];
        size_t size;

        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t) i;
        ASSERT_OK(pem_armor_encode(data, sizeof(data), "SSH SIGNATURE", &text));
        ASSERT_TRUE(startswith(text, "-----BEGIN SSH SIGNATURE-----\n"));
        ASSERT_TRUE(endswith(text, "\n-----END SSH SIGNATURE-----\n"));
        /* 70 columns, as ssh-keygen wraps */
        ASSERT_EQ_UINT(strcspn(text + strlen("-----BEGIN SSH SIGNATURE-----\n"), "\n"), 70);
        ASSERT_OK(pem_armor_decode(text, strlen(text), "SSH SIGNATURE", &back, &size));
        ASSERT_EQ_UINT(size, sizeof(data));
        ASSERT_TRUE(memcmp(back, data, size) == 0);

        ASSERT_ERROR(pem_armor_decode(text, strlen(text), "OPENSSH PRIVATE KEY", &back, &size), EBADMSG);
        ASSERT_ERROR(pem_armor_decode(text, strlen(text) - 10, "SSH SIGNATURE", &back, &size), EBADMSG);
        ASSERT_ERROR(pem_armor_decode("junk", 4, "SSH SIGNATURE", &back, &size), EBADMSG);
}

TEST(mpint) {
        static const struct {
                const char *bytes;
                size_t size;
                int result;
                size_t magnitude;
        } table[] = {
                { "\0\0\0\0", 4, 0, 0 },                  /* zero */
                { "\0\0\0\1\x7f", 5, 0, 1 },
                { "\0\0\0\2\0\x80", 6, 0, 1 },            /* a needed zero byte */
                { "\0\0\0\1\x80", 5, -EBADMSG, 0 },       /* negative */
                { "\0\0\0\2\0\x7f", 6, -EBADMSG, 0 },     /* a superfluous zero byte */
                { "\0\0\0\1\0", 5, -EBADMSG, 0 },         /* zero spelled long */
                { "\0\0\0\3\1\2", 6, -EBADMSG, 0 },       /* truncated */
                { "\0\0\0\3\1\2\3", 7, -EBADMSG, 0 },     /* over max_size (2) */
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                SshReader r = SSH_READER(table[i].bytes, table[i].size);
                const uint8_t *p = NULL;
                size_t n = 99;

                TEST_CONTEXT("row %zu", i);
                ASSERT_EQ_INT(ssh_read_mpint(&r, 2, &p, &n), table[i].result);
                if (table[i].result == 0) {
                        ASSERT_EQ_UINT(n, table[i].magnitude);
                        ASSERT_TRUE(ssh_reader_empty(&r));
                } else {
                        ASSERT_EQ_UINT(n, 99); /* untouched */
                        ASSERT_EQ_UINT(r.n, table[i].size);
                }
        }

        {
                _cleanup_(ssh_writer_done) SshWriter w = {};
                uint8_t v[] = { 0, 0, 0x80, 1 };

                ssh_put_mpint(&w, v, sizeof(v));
                ASSERT_EQ_UINT(w.size, 7);
                ASSERT_TRUE(memcmp(w.data, "\0\0\0\3\0\x80\1", 7) == 0);
        }
}

/* ---- keys and signatures of every type, with ssh-keygen ---- */

static const struct {
        const char *type, *bits;
        SshKeyType key_type;
} key_types[] = {
        { "ed25519", NULL, SSH_KEY_ED25519 },
        { "ecdsa", "256", SSH_KEY_ECDSA_P256 },
        { "ecdsa", "384", SSH_KEY_ECDSA_P384 },
        { "ecdsa", "521", SSH_KEY_ECDSA_P521 },
        { "rsa", "2048", SSH_KEY_RSA },
};

TEST(keygen_interop) {
        _cleanup_free_ char *dir = test_mkdtemp();
        static const char msg[] = "golem-request-v1\nPOST\n/api/v1/vms\ndiscovery\n1700000000\nnonce-nonce-nonce-1\n"
                                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";

        for (size_t i = 0; i < ELEMENTSOF(key_types); i++) {
                _cleanup_(ssh_key_freep) SshKey *pub = NULL, *priv = NULL, *header = NULL, *reread = NULL;
                _cleanup_free_ char *name = NULL, *key = NULL, *pub_path = NULL, *pub_text = NULL, *line = NULL,
                        *our_text = NULL, *our_path = NULL, *derived = NULL;
                _cleanup_free_ uint8_t *theirs = NULL, *ours = NULL, *other_ns = NULL;
                char identity[SSH_IDENTITY_SIZE], expected[SSH_IDENTITY_SIZE];
                size_t theirs_size, ours_size, other_size;

                TEST_CONTEXT("%s %s", key_types[i].type, strempty(key_types[i].bits));
                ASSERT_TRUE(asprintf(&name, "key-%s-%s", key_types[i].type, key_types[i].bits ?: "") >= 0);
                key = keygen(dir, name, key_types[i].type, key_types[i].bits, "");
                ASSERT_TRUE(asprintf(&pub_path, "%s.pub", key) >= 0);

                /* Their public key, three ways: the .pub, the private file's header, the private key. */
                ASSERT_OK(ssh_key_load_public(pub_path, &pub));
                ASSERT_EQ_INT(ssh_key_type(pub), key_types[i].key_type);
                ASSERT_FALSE(ssh_key_has_private(pub));
                ASSERT_STREQ(ssh_key_comment(pub), name);
                ASSERT_OK(ssh_key_load_public(key, &header));
                ASSERT_OK(ssh_key_load_private(key, &priv));
                ASSERT_TRUE(ssh_key_has_private(priv));
                ASSERT_STREQ(ssh_key_comment(priv), name);
                ASSERT_TRUE(same_key(pub, priv));
                ASSERT_TRUE(same_key(pub, header));

                /* Our public key line is theirs, comment and all. */
                pub_text = read_file(pub_path, NULL);
                ASSERT_OK(ssh_key_to_public_line(priv, &line));
                ASSERT_TRUE(startswith(pub_text, line));
                ASSERT_STREQ(pub_text + strlen(line), "\n");

                /* The identity is ssh-keygen's fingerprint. */
                ssh_key_identity(pub, identity);
                keygen_identity(pub_path, expected);
                ASSERT_STREQ(identity, expected);
                ASSERT_TRUE(ssh_identity_valid(identity));

                /* ssh-keygen signs, we verify; the wrong namespace, message or key is refused. */
                theirs = keygen_sign(dir, "msg-theirs", key, NS, msg, strlen(msg), &theirs_size);
                ASSERT_OK(verify_blob(theirs, theirs_size, NS, msg, strlen(msg)));
                ASSERT_ERROR(verify_blob(theirs, theirs_size, "file", msg, strlen(msg)), EKEYREJECTED);
                ASSERT_ERROR(verify_blob(theirs, theirs_size, NS, msg, strlen(msg) - 1), EKEYREJECTED);
                other_ns = keygen_sign(dir, "msg-file", key, "file", msg, strlen(msg), &other_size);
                ASSERT_ERROR(verify_blob(other_ns, other_size, NS, msg, strlen(msg)), EKEYREJECTED);
                ASSERT_OK(verify_blob(other_ns, other_size, "file", msg, strlen(msg)));

                /* We sign, ssh-keygen verifies. */
                ours = sign_with(priv, NULL, NULL, NS, msg, &ours_size);
                ASSERT_EQ_INT(keygen_check(dir, "msg-ours", ours, ours_size, NS, msg, strlen(msg)), 0);
                ASSERT_TRUE(keygen_check(dir, "msg-ours-tampered", ours, ours_size, NS, "tampered", 8) != 0);
                ASSERT_TRUE(keygen_check(dir, "msg-ours-ns", ours, ours_size, "file", msg, strlen(msg)) != 0);
                ASSERT_OK(verify_blob(ours, ours_size, NS, msg, strlen(msg)));

                /* A public key cannot sign. */
                ASSERT_ERROR(sshsig_sign(pub, NULL, NULL, NS, msg, strlen(msg), &ours, &ours_size), ENOKEY);

                /* Our private key file, read by ssh-keygen and by us. */
                ASSERT_OK(ssh_key_to_private_text(priv, &our_text));
                our_path = test_write_file(dir, "ours", our_text, strlen(our_text));
                ASSERT_OK(chmod(our_path, 0600));
                {
                        const char *argv[] = { "ssh-keygen", "-y", "-f", our_path, NULL };

                        ASSERT_EQ_INT(run(argv, NULL, NULL, &derived), 0);
                        ASSERT_STREQ(derived, pub_text);
                }
                ASSERT_OK(ssh_key_load_private(our_path, &reread));
                ASSERT_TRUE(same_key(reread, priv));
                ASSERT_STREQ(ssh_key_comment(reread), name);
                explicit_bzero(our_text, strlen(our_text));
                ASSERT_OK(unlink(our_path));
        }
        test_rm_rf(dir);
}

TEST(generated_key) {
        _cleanup_free_ char *dir = test_mkdtemp(), *path = path_join(dir, "provider-key"), *pub_path = NULL,
                *pub_text = NULL, *derived = NULL;
        _cleanup_(ssh_key_freep) SshKey *k = NULL, *loaded = NULL, *pub = NULL;
        _cleanup_free_ uint8_t *theirs = NULL;
        char identity[SSH_IDENTITY_SIZE], expected[SSH_IDENTITY_SIZE];
        struct stat st;
        size_t size;
        static const char msg[] = "advertisement\n";

        ASSERT_OK(ssh_key_generate_ed25519(&k));
        ASSERT_EQ_INT(ssh_key_type(k), SSH_KEY_ED25519);
        ASSERT_OK(ssh_key_set_comment(k, "golem-provider@host"));
        ASSERT_OK(ssh_key_save(k, path));
        ASSERT_ERROR(ssh_key_save(k, path), EEXIST);

        ASSERT_OK(stat(path, &st));
        ASSERT_EQ_INT(st.st_mode & 07777, 0600);
        ASSERT_TRUE(asprintf(&pub_path, "%s.pub", path) >= 0);
        ASSERT_OK(stat(pub_path, &st));
        ASSERT_EQ_INT(st.st_mode & 07777, 0644);

        /* ssh-keygen reads it, public and private halves. */
        pub_text = read_file(pub_path, NULL);
        ASSERT_TRUE(startswith(pub_text, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        ASSERT_TRUE(endswith(pub_text, " golem-provider@host\n"));
        {
                const char *argv[] = { "ssh-keygen", "-y", "-f", path, NULL };

                ASSERT_EQ_INT(run(argv, NULL, NULL, &derived), 0);
                ASSERT_STREQ(derived, pub_text);
        }
        theirs = keygen_sign(dir, "msg", path, NS, msg, strlen(msg), &size);
        ASSERT_OK(verify_blob(theirs, size, NS, msg, strlen(msg)));

        ASSERT_OK(ssh_key_load_private(path, &loaded));
        ASSERT_TRUE(same_key(loaded, k));
        ASSERT_OK(ssh_key_load_public(pub_path, &pub));
        ssh_key_identity(pub, identity);
        keygen_identity(pub_path, expected);
        ASSERT_STREQ(identity, expected);
        ssh_key_identity(k, expected);
        ASSERT_STREQ(identity, expected);

        /* Two keys are two identities. */
        {
                _cleanup_(ssh_key_freep) SshKey *other = NULL;

                ASSERT_OK(ssh_key_generate_ed25519(&other));
                ssh_key_identity(other, expected);
                ASSERT_FALSE(streq(identity, expected));
        }
        test_rm_rf(dir);
}

TEST(encrypted_key) {
        _cleanup_free_ char *dir = test_mkdtemp(), *key = keygen(dir, "locked", "ed25519", NULL, PASSPHRASE),
                *pub_path = NULL;
        _cleanup_(ssh_key_freep) SshKey *k = NULL, *pub = NULL, *from_pub = NULL;

        ASSERT_ERROR(ssh_key_load_private(key, &k), ENOKEY);
        ASSERT_NULL(k);
        /* The public key is in the clear, for signing through the agent. */
        ASSERT_OK(ssh_key_load_public(key, &pub));
        ASSERT_TRUE(asprintf(&pub_path, "%s.pub", key) >= 0);
        ASSERT_OK(ssh_key_load_public(pub_path, &from_pub));
        ASSERT_TRUE(same_key(pub, from_pub));

        ASSERT_ERROR(ssh_key_load_private(pub_path, &k), EBADMSG);
        ASSERT_ERROR(ssh_key_load_private("/nonexistent/key", &k), ENOENT);
        test_rm_rf(dir);
}

/* ---- ssh-agent ---- */

static pid_t start_agent(const char *socket_path) {
        const char *argv[] = { "ssh-agent", "-D", "-a", socket_path, NULL };
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);

                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
                        _exit(127);
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        for (int i = 0; i < 500; i++) {
                struct stat st;

                if (stat(socket_path, &st) >= 0 && S_ISSOCK(st.st_mode))
                        return pid;
                usleep(10 * 1000);
        }
        tests_fail(__FILE__, __LINE__, "ssh-agent did not make %s", socket_path);
}

static void stop_agent(pid_t pid) {
        int status;

        ASSERT_OK(kill(pid, SIGTERM));
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
}

TEST(agent) {
        _cleanup_free_ char *dir = test_mkdtemp(), *sock = path_join(dir, "agent.sock"), *env_sock = NULL,
                *env_askpass = NULL, *self = NULL;
        static const char msg[] = "signed through the agent\n";
        pid_t agent;

        self = realpath("/proc/self/exe", NULL);
        ASSERT_NOT_NULL(self);
        ASSERT_TRUE(asprintf(&env_sock, "SSH_AUTH_SOCK=%s", sock) >= 0);
        ASSERT_TRUE(asprintf(&env_askpass, "SSH_ASKPASS=%s", self) >= 0);
        agent = start_agent(sock);

        for (size_t i = 0; i < ELEMENTSOF(key_types); i++) {
                _cleanup_free_ char *name = NULL, *key = NULL;
                _cleanup_(ssh_key_freep) SshKey *pub = NULL, *priv = NULL;
                _cleanup_free_ uint8_t *blob = NULL;
                const char *env[] = { env_sock, env_askpass, "SSH_ASKPASS_REQUIRE=force",
                                      "GOLEM_TEST_ASKPASS=" PASSPHRASE, NULL };
                size_t size;

                TEST_CONTEXT("%s %s", key_types[i].type, strempty(key_types[i].bits));
                ASSERT_TRUE(asprintf(&name, "agent-%s-%s", key_types[i].type, key_types[i].bits ?: "") >= 0);
                key = keygen(dir, name, key_types[i].type, key_types[i].bits, PASSPHRASE);
                ASSERT_ERROR(ssh_key_load_private(key, &priv), ENOKEY);
                ASSERT_OK(ssh_key_load_public(key, &pub));

                ASSERT_EQ_INT(ssh_agent_has_key(sock, pub), 0);
                ASSERT_ERROR(sshsig_sign(pub, ssh_agent_sign_func, sock, NS, msg, strlen(msg), &blob, &size), EPERM);
                {
                        const char *argv[] = { "ssh-add", "-q", key, NULL };

                        ASSERT_EQ_INT(run(argv, NULL, env, NULL), 0);
                }
                ASSERT_EQ_INT(ssh_agent_has_key(sock, pub), 1);

                ASSERT_OK(sshsig_sign(pub, ssh_agent_sign_func, sock, NS, msg, strlen(msg), &blob, &size));
                ASSERT_OK(verify_blob(blob, size, NS, msg, strlen(msg)));
                ASSERT_EQ_INT(keygen_check(dir, name, blob, size, NS, msg, strlen(msg)), 0);
                if (key_types[i].key_type == SSH_KEY_RSA) {
                        /* asked for and got rsa-sha2-512 */
                        _cleanup_(sshsig_freep) SshSig *sig = NULL;

                        ASSERT_OK(sshsig_parse(blob, size, &sig));
                        ASSERT_NOT_NULL(memmem(blob, size, "rsa-sha2-512", strlen("rsa-sha2-512")));
                }
        }

        /* $SSH_AUTH_SOCK when no path is given; none at all is -ENXIO. */
        {
                _cleanup_(ssh_key_freep) SshKey *k = NULL;
                const char *saved = getenv("SSH_AUTH_SOCK");
                _cleanup_free_ char *copy = saved ? strdup(saved) : NULL;

                ASSERT_OK(ssh_key_generate_ed25519(&k));
                ASSERT_OK(setenv("SSH_AUTH_SOCK", sock, 1));
                ASSERT_EQ_INT(ssh_agent_has_key(NULL, k), 0);
                ASSERT_OK(unsetenv("SSH_AUTH_SOCK"));
                ASSERT_ERROR(ssh_agent_has_key(NULL, k), ENXIO);
                if (copy)
                        ASSERT_OK(setenv("SSH_AUTH_SOCK", copy, 1));
        }

        stop_agent(agent);
        {
                _cleanup_(ssh_key_freep) SshKey *k = NULL;

                ASSERT_OK(ssh_key_generate_ed25519(&k));
                ASSERT_ERROR(ssh_agent_has_key(sock, k), ENOENT); /* ssh-agent removes its socket */
        }
        test_rm_rf(dir);
}

TEST(agent_answers) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t size;

        ASSERT_ERROR(ssh_agent_parse_sign_response((const uint8_t *) "\5", 1, &sig, &size), EPERM);
        ASSERT_ERROR(ssh_agent_parse_sign_response((const uint8_t *) "\x1c", 1, &sig, &size), EPERM);
        ASSERT_ERROR(ssh_agent_parse_sign_response((const uint8_t *) "\5\0", 2, &sig, &size), EBADMSG);
        ASSERT_ERROR(ssh_agent_parse_sign_response((const uint8_t *) "", 0, &sig, &size), EBADMSG);
        ASSERT_ERROR(ssh_agent_parse_sign_response((const uint8_t *) "\x0e\0\0\0\3ab", 7, &sig, &size), EBADMSG);
        ASSERT_ERROR(ssh_agent_parse_sign_response((const uint8_t *) "\x0e\0\0\0\2abc", 8, &sig, &size), EBADMSG);
        ASSERT_ERROR(ssh_agent_parse_sign_response((const uint8_t *) "\x0e\0\0\0\0", 5, &sig, &size), EBADMSG);
        ASSERT_NULL(sig);
        ASSERT_OK(ssh_agent_parse_sign_response((const uint8_t *) "\x0e\0\0\0\2ab", 7, &sig, &size));
        ASSERT_EQ_UINT(size, 2);

        ASSERT_EQ_INT(ssh_agent_parse_identities((const uint8_t *) "\x0c\0\0\0\0", 5, (const uint8_t *) "k", 1), 0);
        ASSERT_EQ_INT(ssh_agent_parse_identities((const uint8_t *) "\x0c\0\0\0\1\0\0\0\1k\0\0\0\0", 14,
                                                 (const uint8_t *) "k", 1), 1);
        ASSERT_ERROR(ssh_agent_parse_identities((const uint8_t *) "\x0c\0\0\0\2\0\0\0\1k\0\0\0\0", 14,
                                                (const uint8_t *) "k", 1), EBADMSG);
        ASSERT_ERROR(ssh_agent_parse_identities((const uint8_t *) "\x0c\0\0\0\1\0\0\0\1k\0\0\0\0!", 15,
                                                (const uint8_t *) "k", 1), EBADMSG);
        ASSERT_ERROR(ssh_agent_parse_identities((const uint8_t *) "\5", 1, (const uint8_t *) "k", 1), EBADMSG);
}

/* ---- refusals ---- */

/* An SSHSIG blob put together by hand: key blob, namespace, reserved, hash name, signature. */
static void build_sshsig(SshWriter *w, const uint8_t *key, size_t key_size, const char *ns, const char *reserved,
                         const char *hash, const uint8_t *sig, size_t sig_size) {
        ssh_put_bytes(w, "SSHSIG", 6);
        ssh_put_u32(w, 1);
        ssh_put_string(w, key, key_size);
        ssh_put_cstring(w, ns);
        ssh_put_cstring(w, reserved);
        ssh_put_cstring(w, hash);
        ssh_put_string(w, sig, sig_size);
}

/* The SSHSIG signed data for msg with SHA-512. */
static void build_signed_data(SshWriter *w, const char *ns, const char *msg) {
        uint8_t digest[SHA512_DIGEST_LENGTH];

        SHA512((const uint8_t *) msg, strlen(msg), digest);
        ssh_put_bytes(w, "SSHSIG", 6);
        ssh_put_cstring(w, ns);
        ssh_put_cstring(w, "");
        ssh_put_cstring(w, "sha512");
        ssh_put_string(w, digest, sizeof(digest));
}

TEST(dsa_refused) {
        _cleanup_free_ char *dir = test_mkdtemp(), *pub_path = NULL, *key = NULL;
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        static const char msg[] = "dsa\n";
        const char *argv[] = { "ssh-keygen", "-q", "-t", "dsa", "-N", "", "-f", NULL, NULL };

        key = path_join(dir, "dsa");
        argv[7] = key;
        if (run(argv, NULL, NULL, NULL) == 0) {
                _cleanup_free_ uint8_t *blob = NULL;
                size_t size;

                blob = keygen_sign(dir, "msg", key, NS, msg, strlen(msg), &size);
                ASSERT_ERROR(verify_blob(blob, size, NS, msg, strlen(msg)), EPROTONOSUPPORT);
                ASSERT_TRUE(asprintf(&pub_path, "%s.pub", key) >= 0);
                ASSERT_ERROR(ssh_key_load_public(pub_path, &k), EPROTONOSUPPORT);
                ASSERT_ERROR(ssh_key_load_private(key, &k), EPROTONOSUPPORT);
        } else {
                /* This ssh-keygen cannot make DSA keys any more: a blob of that shape by hand. */
                _cleanup_(ssh_writer_done) SshWriter key_blob = {}, sig = {}, w = {};
                _cleanup_free_ uint8_t *blob = NULL;
                uint8_t one[20] = { 1 };
                size_t size;

                fprintf(stderr, "ssh-keygen made no DSA key: checking a hand-made ssh-dss blob\n");
                ssh_put_cstring(&key_blob, "ssh-dss");
                for (int i = 0; i < 4; i++)
                        ssh_put_mpint(&key_blob, one, sizeof(one));
                ssh_put_cstring(&sig, "ssh-dss");
                ssh_put_string(&sig, one, sizeof(one));
                build_sshsig(&w, key_blob.data, key_blob.size, NS, "", "sha512", sig.data, sig.size);
                ASSERT_OK(ssh_writer_steal(&w, &blob, &size));
                ASSERT_ERROR(verify_blob(blob, size, NS, msg, strlen(msg)), EPROTONOSUPPORT);
        }
        test_rm_rf(dir);
}

/* RSA signs with OpenSSL directly here (the key ssh-keygen wrote in PEM), so that the SHA-1
 * "ssh-rsa" algorithm can be tried: refused, while the same construction with rsa-sha2-256
 * is taken. */
TEST(rsa_sha1_refused) {
        _cleanup_free_ char *dir = test_mkdtemp(), *key = path_join(dir, "rsa-pem"), *pub_line = NULL;
        _cleanup_(ssh_key_freep) SshKey *pub = NULL;
        static const char msg[] = "rsa\n";
        const char *argv[] = { "ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f", key, NULL };
        const char *argv_y[] = { "ssh-keygen", "-y", "-f", key, NULL };
        EVP_PKEY *pkey;
        FILE *f;
        const struct {
                const char *algorithm, *digest;
                int result;
        } table[] = {
                { "ssh-rsa", "SHA1", -EPROTONOSUPPORT },
                { "rsa-sha2-256", "SHA256", 0 },
                { "rsa-sha2-512", "SHA512", 0 },
                { "rsa-sha2-256", "SHA1", -EKEYREJECTED },   /* a SHA-1 signature under another name */
                { "rsa-sha2-512", "SHA256", -EKEYREJECTED },
                { "ssh-ed25519", "SHA256", -EPROTONOSUPPORT }, /* another type's algorithm */
        };

        ASSERT_EQ_INT(run(argv, NULL, NULL, NULL), 0);
        ASSERT_EQ_INT(run(argv_y, NULL, NULL, &pub_line), 0);
        ASSERT_OK(ssh_key_from_public_line(pub_line, &pub));
        f = fopen(key, "re");
        ASSERT_NOT_NULL(f);
        pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        ASSERT_NOT_NULL(pkey);

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_(ssh_writer_done) SshWriter data = {}, sig = {}, w = {};
                _cleanup_free_ uint8_t *blob = NULL, *raw = NULL;
                const uint8_t *key_blob;
                size_t size, key_size, raw_size = 0;
                EVP_MD_CTX *ctx = EVP_MD_CTX_new();

                TEST_CONTEXT("%s with %s", table[i].algorithm, table[i].digest);
                build_signed_data(&data, NS, msg);
                ASSERT_EQ_INT(EVP_DigestSignInit_ex(ctx, NULL, table[i].digest, NULL, NULL, pkey, NULL), 1);
                ASSERT_EQ_INT(EVP_DigestSign(ctx, NULL, &raw_size, data.data, data.size), 1);
                raw = malloc(raw_size);
                ASSERT_EQ_INT(EVP_DigestSign(ctx, raw, &raw_size, data.data, data.size), 1);
                EVP_MD_CTX_free(ctx);

                ssh_put_cstring(&sig, table[i].algorithm);
                ssh_put_string(&sig, raw, raw_size);
                key_blob = ssh_key_blob(pub, &key_size);
                build_sshsig(&w, key_blob, key_size, NS, "", "sha512", sig.data, sig.size);
                ASSERT_OK(ssh_writer_steal(&w, &blob, &size));
                ASSERT_EQ_INT(verify_blob(blob, size, NS, msg, strlen(msg)), table[i].result);
        }
        EVP_PKEY_free(pkey);
        test_rm_rf(dir);
}

TEST(malformed_blobs) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        _cleanup_free_ uint8_t *good = NULL;
        static const char msg[] = "m\n";
        const uint8_t *key_blob;
        uint8_t *copy;
        size_t size, key_size;

        ASSERT_OK(ssh_key_generate_ed25519(&k));
        good = sign_with(k, NULL, NULL, NS, msg, &size);
        ASSERT_OK(verify_blob(good, size, NS, msg, strlen(msg)));

        /* Every truncation, and one byte too many. */
        for (size_t n = 0; n < size; n++) {
                TEST_CONTEXT("truncated to %zu of %zu", n, size);
                ASSERT_ERROR(verify_blob(good, n, NS, msg, strlen(msg)), EBADMSG);
        }
        copy = malloc(size + 1);
        memcpy(copy, good, size);
        copy[size] = 0;
        ASSERT_ERROR(verify_blob(copy, size + 1, NS, msg, strlen(msg)), EBADMSG);

        /* Every single bit flipped: never taken. */
        for (size_t i = 0; i < size * 8; i++) {
                int r;

                TEST_CONTEXT("bit %zu flipped", i);
                memcpy(copy, good, size);
                copy[i / 8] ^= (uint8_t) (1u << (i % 8));
                r = verify_blob(copy, size, NS, msg, strlen(msg));
                ASSERT_TRUE(IN_SET(r, -EBADMSG, -EKEYREJECTED, -EPROTONOSUPPORT));
        }
        free(copy);

        /* Oversized, garbage. */
        {
                uint8_t *big = calloc(1, SSHSIG_BLOB_MAX + 1);

                memcpy(big, good, size);
                ASSERT_ERROR(verify_blob(big, SSHSIG_BLOB_MAX + 1, NS, msg, strlen(msg)), EBADMSG);
                free(big);
        }
        ASSERT_ERROR(verify_blob((const uint8_t *) "garbage garbage garbage", 23, NS, msg, strlen(msg)), EBADMSG);

        /* Field by field. */
        key_blob = ssh_key_blob(k, &key_size);
        {
                const struct {
                        const char *ns, *reserved, *hash;
                        int result;
                } table[] = {
                        { NS, "x", "sha512", -EBADMSG },          /* reserved not empty */
                        { NS, "", "sha1", -EPROTONOSUPPORT },     /* unknown hash */
                        { NS, "", "SHA512", -EPROTONOSUPPORT },
                        { "", "", "sha512", -EBADMSG },           /* empty namespace */
                };

                for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                        _cleanup_(ssh_writer_done) SshWriter w = {};
                        _cleanup_free_ uint8_t *blob = NULL;
                        size_t blob_size;

                        TEST_CONTEXT("row %zu", i);
                        build_sshsig(&w, key_blob, key_size, table[i].ns, table[i].reserved, table[i].hash,
                                     (const uint8_t *) "\0\0\0\0\0\0\0\0", 8);
                        ASSERT_OK(ssh_writer_steal(&w, &blob, &blob_size));
                        ASSERT_ERROR(verify_blob(blob, blob_size, NS, msg, strlen(msg)), -table[i].result);
                }
        }

        /* The base64 header form: strict. */
        {
                _cleanup_free_ char *b64 = NULL, *wrapped = NULL;
                _cleanup_(sshsig_freep) SshSig *sig = NULL;

                ASSERT_OK(base64_encode(good, size, false, 0, &b64));
                ASSERT_OK(sshsig_parse_base64(b64, &sig));
                ASSERT_STREQ(sshsig_namespace(sig), NS);
                ASSERT_EQ_INT(sshsig_hash(sig), SSHSIG_HASH_SHA512);
                ASSERT_OK(base64_encode(good, size, false, 70, &wrapped));
                ASSERT_ERROR(sshsig_parse_base64(wrapped, &sig), EBADMSG);
                b64[strlen(b64) - 1] = 0;
                ASSERT_ERROR(sshsig_parse_base64(b64, &sig), EBADMSG);
                ASSERT_ERROR(sshsig_parse_base64("", &sig), EBADMSG);
                ASSERT_ERROR(sshsig_parse_base64("!!!!", &sig), EBADMSG);
        }
}

TEST(malformed_keys) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL, *ec = NULL, *parsed = NULL;
        _cleanup_free_ char *line = NULL, *dir = test_mkdtemp(), *ec_path = NULL;
        const uint8_t *blob;
        uint8_t *copy;
        size_t size;

        ASSERT_OK(ssh_key_generate_ed25519(&k));
        ASSERT_OK(ssh_key_set_comment(k, "a comment with spaces"));
        ASSERT_OK(ssh_key_to_public_line(k, &line));
        ASSERT_OK(ssh_key_from_public_line(line, &parsed));
        ASSERT_STREQ(ssh_key_comment(parsed), "a comment with spaces");
        parsed = ssh_key_free(parsed);

        {
                _cleanup_free_ char *nl = NULL, *wrong_type = NULL, *ctrl = NULL, *no_comment = NULL;

                ASSERT_TRUE(asprintf(&nl, "%s\n", line) >= 0);
                ASSERT_OK(ssh_key_from_public_line(nl, &parsed));
                parsed = ssh_key_free(parsed);
                ASSERT_ERROR(ssh_key_from_public_line(line + strlen("ssh-ed25519 "), &parsed), EBADMSG);
                ASSERT_TRUE(asprintf(&wrong_type, "ssh-rsa %s", line + strlen("ssh-ed25519 ")) >= 0);
                ASSERT_ERROR(ssh_key_from_public_line(wrong_type, &parsed), EBADMSG);
                ASSERT_TRUE(asprintf(&ctrl, "%s\tx", line) >= 0);
                ASSERT_ERROR(ssh_key_from_public_line(ctrl, &parsed), EBADMSG);
                ASSERT_TRUE(asprintf(&no_comment, "%.*s", (int) strcspn(line + 12, " ") + 12, line) >= 0);
                ASSERT_OK(ssh_key_from_public_line(no_comment, &parsed));
                ASSERT_STREQ(ssh_key_comment(parsed), "");
                parsed = ssh_key_free(parsed);
                ASSERT_ERROR(ssh_key_from_public_line("ssh-ed25519", &parsed), EBADMSG);
                ASSERT_ERROR(ssh_key_from_public_line("", &parsed), EBADMSG);
                ASSERT_ERROR(ssh_key_from_public_line("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t", &parsed),
                             EPROTONOSUPPORT);
        }

        /* Blobs: every truncation, a trailing byte. */
        blob = ssh_key_blob(k, &size);
        for (size_t n = 0; n < size; n++) {
                TEST_CONTEXT("truncated to %zu", n);
                ASSERT_TRUE(ssh_key_from_blob(blob, n, &parsed) < 0);
        }
        copy = malloc(size + 1);
        memcpy(copy, blob, size);
        copy[size] = 0;
        ASSERT_ERROR(ssh_key_from_blob(copy, size + 1, &parsed), EBADMSG);
        free(copy);

        /* An ECDSA point off its curve, a compressed one. */
        {
                char *key = keygen(dir, "ec", "ecdsa", "256", "");
                size_t ec_size;

                ec_path = key;
                ASSERT_OK(ssh_key_load_public(ec_path, &ec));
                blob = ssh_key_blob(ec, &ec_size);
                copy = malloc(ec_size);
                memcpy(copy, blob, ec_size);
                copy[ec_size - 1] ^= 1;
                ASSERT_ERROR(ssh_key_from_blob(copy, ec_size, &parsed), EBADMSG);
                memcpy(copy, blob, ec_size);
                copy[ec_size - 65] = 0x02;
                ASSERT_ERROR(ssh_key_from_blob(copy, ec_size, &parsed), EBADMSG);
                free(copy);
        }

        ASSERT_TRUE(ssh_identity_valid("C-YH5jsjUu5PVQgQ0OrvVLFb3eOhELvWoxJmQIlVDUg"));
        ASSERT_FALSE(ssh_identity_valid("C+YH5jsjUu5PVQgQ0OrvVLFb3eOhELvWoxJmQIlVDUg"));
        ASSERT_FALSE(ssh_identity_valid("C-YH5jsjUu5PVQgQ0OrvVLFb3eOhELvWoxJmQIlVDUh")); /* stray bits */
        ASSERT_FALSE(ssh_identity_valid("C-YH5jsjUu5PVQgQ0OrvVLFb3eOhELvWoxJmQIlVDU"));
        ASSERT_FALSE(ssh_identity_valid(NULL));
        test_rm_rf(dir);
}

TEST(rsa_too_small) {
        _cleanup_free_ char *dir = test_mkdtemp(), *key = keygen(dir, "rsa1024", "rsa", "1024", ""), *pub_path = NULL;
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        static const char msg[] = "weak\n";
        _cleanup_free_ uint8_t *blob = NULL;
        size_t size;

        ASSERT_TRUE(asprintf(&pub_path, "%s.pub", key) >= 0);
        ASSERT_ERROR(ssh_key_load_public(pub_path, &k), EPROTONOSUPPORT);
        ASSERT_ERROR(ssh_key_load_private(key, &k), EPROTONOSUPPORT);
        blob = keygen_sign(dir, "msg", key, NS, msg, strlen(msg), &size);
        ASSERT_ERROR(verify_blob(blob, size, NS, msg, strlen(msg)), EPROTONOSUPPORT);
        test_rm_rf(dir);
}

TEST(private_key_files) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL, *back = NULL;
        char *text;
        size_t n;

        ASSERT_OK(ssh_key_generate_ed25519(&k));
        ASSERT_OK(ssh_key_to_private_text(k, &text));
        n = strlen(text);
        ASSERT_TRUE(startswith(text, "-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        ASSERT_OK(ssh_key_from_private_text(text, n, &back));
        back = ssh_key_free(back);
        ASSERT_ERROR(ssh_key_from_private_text(text, n / 2, &back), EBADMSG);
        ASSERT_ERROR(ssh_key_from_private_text("", 0, &back), EBADMSG);
        erase_and_free(text, n);

        /* A public key has no private key file. */
        {
                _cleanup_(ssh_key_freep) SshKey *pub = NULL;
                const uint8_t *blob;
                size_t size;

                blob = ssh_key_blob(k, &size);
                ASSERT_OK(ssh_key_from_blob(blob, size, &pub));
                ASSERT_ERROR(ssh_key_to_private_text(pub, &text), ENOKEY);
        }
}

/* ---- signed requests ---- */

static NonceCache *new_cache(void) {
        NonceCache *c;

        ASSERT_OK(nonce_cache_new(1024, SIGNED_REQUEST_WINDOW_SEC, &c));
        return c;
}

TEST(request_roundtrip) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        _cleanup_(nonce_cache_freep) NonceCache *cache = new_cache();
        _cleanup_(signed_request_headers_done) SignedRequestHeaders h = {};
        char identity[SSH_IDENTITY_SIZE] = "untouched", expected[SSH_IDENTITY_SIZE];
        static const char body[] = "{\"name\":\"web\"}";
        const int64_t now = 1700000000;
        SignedRequest req;

        ASSERT_OK(ssh_key_generate_ed25519(&k));
        ASSERT_OK(signed_request_sign(k, NULL, NULL, "POST", "/api/v1/vms?async=true", "provider-1", body,
                                      strlen(body), now, &h));
        ASSERT_STREQ(h.timestamp, "1700000000");
        ASSERT_TRUE(signed_request_nonce_valid(h.nonce));
        ASSERT_EQ_UINT(strlen(h.nonce), SIGNED_REQUEST_NONCE_GENERATED);

        req = (SignedRequest) {
                .method = "POST", .target = "/api/v1/vms?async=true", .audience = "provider-1",
                .timestamp = h.timestamp, .nonce = h.nonce, .signature = h.signature,
                .body = body, .body_size = strlen(body),
        };

        /* Each part of the message matters. */
        {
                const struct {
                        const char *what;
                        SignedRequest req;
                } tampered[] = {
                        { "method", { .method = "PUT" } },
                        { "target", { .target = "/api/v1/vms" } },
                        { "audience", { .audience = "provider-2" } },
                        { "audience discovery", { .audience = SIGNED_REQUEST_AUDIENCE_DISCOVERY } },
                        { "timestamp", { .timestamp = "1700000001" } },
                        { "nonce", { .nonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } },
                        { "body", { .body = "{\"name\":\"wEb\"}" } },
                };

                for (size_t i = 0; i < ELEMENTSOF(tampered); i++) {
                        SignedRequest t = req;

                        TEST_CONTEXT("%s", tampered[i].what);
                        t.method = tampered[i].req.method ?: t.method;
                        t.target = tampered[i].req.target ?: t.target;
                        t.audience = tampered[i].req.audience ?: t.audience;
                        t.timestamp = tampered[i].req.timestamp ?: t.timestamp;
                        t.nonce = tampered[i].req.nonce ?: t.nonce;
                        t.body = tampered[i].req.body ?: t.body;
                        ASSERT_ERROR(signed_request_verify(&t, now, cache, identity), EKEYREJECTED);
                        ASSERT_EQ_INT(auth_error_from_errno(-EKEYREJECTED), AUTH_ERROR_SIGNATURE_INVALID);
                        ASSERT_STREQ(identity, "untouched");
                }
                /* no body at all against a signed body */
                {
                        SignedRequest t = req;

                        t.body = NULL;
                        t.body_size = 0;
                        ASSERT_ERROR(signed_request_verify(&t, now, cache, identity), EKEYREJECTED);
                }
        }

        /* Missing headers: AUTH_001. */
        {
                SignedRequest t = req;

                t.signature = NULL;
                ASSERT_ERROR(signed_request_verify(&t, now, cache, identity), ENOMSG);
                t = req;
                t.nonce = "";
                ASSERT_ERROR(signed_request_verify(&t, now, cache, identity), ENOMSG);
                t = req;
                t.timestamp = NULL;
                ASSERT_ERROR(signed_request_verify(&t, now, cache, identity), ENOMSG);
        }

        ASSERT_OK(signed_request_verify(&req, now, cache, identity));
        ssh_key_identity(k, expected);
        ASSERT_STREQ(identity, expected);

        /* Once only. */
        ASSERT_ERROR(signed_request_verify(&req, now, cache, identity), EALREADY);
        ASSERT_ERROR(signed_request_verify(&req, now + 300, cache, identity), EALREADY);
        ASSERT_ERROR(signed_request_verify(&req, now + 301, cache, identity), ETIME);
}

TEST(request_window) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        _cleanup_(nonce_cache_freep) NonceCache *cache = new_cache();
        const int64_t t = 1700000000;
        static const struct {
                int64_t skew;
                int result;
        } table[] = {
                { 0, 0 }, { 300, 0 }, { -300, 0 }, { 301, -ETIME }, { -301, -ETIME },
                { 100000, -ETIME }, { -1700000000, -ETIME }, { INT64_MAX - 1700000000, -ETIME },
        };

        ASSERT_OK(ssh_key_generate_ed25519(&k));
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_(signed_request_headers_done) SignedRequestHeaders h = {};
                char identity[SSH_IDENTITY_SIZE];
                SignedRequest req;

                TEST_CONTEXT("server clock %+" PRIi64 " s from the request's", table[i].skew);
                ASSERT_OK(signed_request_sign(k, NULL, NULL, "GET", "/api/v1/vms", "p", NULL, 0, t, &h));
                req = (SignedRequest) { .method = "GET", .target = "/api/v1/vms", .audience = "p",
                                        .timestamp = h.timestamp, .nonce = h.nonce, .signature = h.signature };
                ASSERT_EQ_INT(signed_request_verify(&req, t + table[i].skew, cache, identity), table[i].result);
        }
        ASSERT_EQ_INT(auth_error_from_errno(-ETIME), AUTH_ERROR_TIMESTAMP);
        ASSERT_STREQ(auth_error_to_string(AUTH_ERROR_TIMESTAMP), "AUTH_005");
}

/* A request signed by ssh-keygen alone: the message lines, `ssh-keygen -Y sign`, the blob in
 * base64 as the header. */
TEST(request_signed_by_keygen) {
        _cleanup_free_ char *dir = test_mkdtemp(), *key = keygen(dir, "requestor", "ecdsa", "384", ""),
                *msg = NULL, *b64 = NULL, *pub_path = NULL;
        _cleanup_(nonce_cache_freep) NonceCache *cache = new_cache();
        _cleanup_free_ uint8_t *blob = NULL;
        char identity[SSH_IDENTITY_SIZE], expected[SSH_IDENTITY_SIZE];
        static const char nonce[] = "0123456789abcdef_-XY";
        size_t size;
        SignedRequest req;

        ASSERT_OK(signed_request_message("DELETE", "/api/v1/advertisements/abc", SIGNED_REQUEST_AUDIENCE_DISCOVERY,
                                         "1700000000", nonce, NULL, 0, &msg));
        ASSERT_STREQ(msg, "golem-request-v1\nDELETE\n/api/v1/advertisements/abc\ndiscovery\n1700000000\n"
                          "0123456789abcdef_-XY\n"
                          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n");
        blob = keygen_sign(dir, "request", key, NS, msg, strlen(msg), &size);
        ASSERT_OK(base64_encode(blob, size, false, 0, &b64));

        req = (SignedRequest) { .method = "DELETE", .target = "/api/v1/advertisements/abc",
                                .audience = SIGNED_REQUEST_AUDIENCE_DISCOVERY, .timestamp = "1700000000",
                                .nonce = nonce, .signature = b64 };
        ASSERT_OK(signed_request_verify(&req, 1700000123, cache, identity));
        ASSERT_TRUE(asprintf(&pub_path, "%s.pub", key) >= 0);
        keygen_identity(pub_path, expected);
        ASSERT_STREQ(identity, expected);
        ASSERT_ERROR(signed_request_verify(&req, 1700000123, cache, identity), EALREADY);
        ASSERT_EQ_INT(auth_error_from_errno(-EALREADY), AUTH_ERROR_NONCE_REUSED);
        test_rm_rf(dir);
}

TEST(request_headers) {
        static const struct {
                const char *nonce;
                bool valid;
        } nonces[] = {
                { "0123456789abcdef", true },   /* 16 */
                { "0123456789abcde", false },   /* 15 */
                { "0123456789012345678901234567890123456789012345678901234567890123", true },   /* 64 */
                { "01234567890123456789012345678901234567890123456789012345678901234", false }, /* 65 */
                { "ABCDEFGHIJKLMNOP_-", true },
                { "0123456789abcde+", false },
                { "0123456789abcde/", false },
                { "0123456789abcde=", false },
                { "0123456789abcde ", false },
                { "0123456789abcdé", false },
                { "", false },
        };
        static const struct {
                const char *s;
                int64_t value;
        } timestamps[] = {
                { "0", 0 }, { "1700000000", 1700000000 }, { "9223372036854775807", INT64_MAX },
                { "9223372036854775808", -1 }, { "01700000000", -1 }, { "-1", -1 }, { "+1", -1 },
                { " 1", -1 }, { "1 ", -1 }, { "1.5", -1 }, { "", -1 }, { "0x10", -1 },
        };
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        _cleanup_(nonce_cache_freep) NonceCache *cache = new_cache();
        _cleanup_(signed_request_headers_done) SignedRequestHeaders h = {};
        char identity[SSH_IDENTITY_SIZE];

        for (size_t i = 0; i < ELEMENTSOF(nonces); i++) {
                TEST_CONTEXT("nonce \"%s\"", nonces[i].nonce);
                ASSERT_EQ_INT(signed_request_nonce_valid(nonces[i].nonce), nonces[i].valid);
        }
        for (size_t i = 0; i < ELEMENTSOF(timestamps); i++) {
                int64_t v = -1;

                TEST_CONTEXT("timestamp \"%s\"", timestamps[i].s);
                ASSERT_EQ_INT(signed_request_parse_timestamp(timestamps[i].s, &v), timestamps[i].value >= 0 ? 0 : -EINVAL);
                ASSERT_EQ_INT(v, timestamps[i].value);
        }

        /* Malformed header values are AUTH_002, before any signature is looked at. */
        ASSERT_OK(ssh_key_generate_ed25519(&k));
        ASSERT_OK(signed_request_sign(k, NULL, NULL, "GET", "/", "p", NULL, 0, 1000, &h));
        {
                SignedRequest req = { .method = "GET", .target = "/", .audience = "p", .timestamp = h.timestamp,
                                      .nonce = "short", .signature = h.signature };

                ASSERT_ERROR(signed_request_verify(&req, 1000, cache, identity), EBADMSG);
                req.nonce = h.nonce;
                req.timestamp = "01000";
                ASSERT_ERROR(signed_request_verify(&req, 1000, cache, identity), EBADMSG);
                req.timestamp = h.timestamp;
                req.signature = "not base64";
                ASSERT_ERROR(signed_request_verify(&req, 1000, cache, identity), EBADMSG);
                req.signature = h.signature;
                req.target = "/ x";
                ASSERT_ERROR(signed_request_verify(&req, 1000, cache, identity), EBADMSG);
                req.target = "/";
                ASSERT_OK(signed_request_verify(&req, 1000, cache, identity));
        }

        /* What may not be in a line of the message. */
        {
                _cleanup_free_ char *m = NULL;

                ASSERT_ERROR(signed_request_message("GET", "/a\nb", "p", "1", "0123456789abcdef", NULL, 0, &m), EINVAL);
                ASSERT_ERROR(signed_request_message("", "/", "p", "1", "0123456789abcdef", NULL, 0, &m), EINVAL);
                ASSERT_ERROR(signed_request_message("GET", "/", "p q", "1", "0123456789abcdef", NULL, 0, &m), EINVAL);
                ASSERT_ERROR(signed_request_message("GET", "/", "p", "1", "0123456789abcde", NULL, 0, &m), EINVAL);
                ASSERT_NULL(m);
        }
}

TEST(auth_errors) {
        static const struct {
                int r;
                const char *code;
        } table[] = {
                { -ENOMSG, "AUTH_001" }, { -EBADMSG, "AUTH_002" }, { -EPROTONOSUPPORT, "AUTH_002" },
                { -EKEYREJECTED, "AUTH_002" }, { -ETIME, "AUTH_005" }, { -EALREADY, "AUTH_006" },
                { -EAGAIN, NULL }, { -ENOMEM, NULL }, { 0, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const char *code = auth_error_to_string(auth_error_from_errno(table[i].r));

                TEST_CONTEXT("%s", strerror(-table[i].r));
                if (table[i].code)
                        ASSERT_STREQ(code, table[i].code);
                else
                        ASSERT_NULL(code);
        }
        ASSERT_EQ_INT(auth_error_from_string("AUTH_006"), AUTH_ERROR_NONCE_REUSED);
        ASSERT_EQ_INT(auth_error_from_string("AUTH_003"), _AUTH_ERROR_INVALID);
}

/* ---- the nonce cache ---- */

TEST(nonce_cache_bound) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        static const char *const nonces[] = { "n0", "n1", "n2", "n3", "n4" };

        ASSERT_ERROR(nonce_cache_new(0, 300, &c), EINVAL);
        ASSERT_OK(nonce_cache_new(4, 300, &c));
        for (size_t i = 0; i < 4; i++)
                ASSERT_OK(nonce_cache_add(c, "id", nonces[i], 1000 + (int64_t) i));
        ASSERT_EQ_UINT(nonce_cache_size(c), 4);
        /* Full: a new nonce is refused, a replay is still called one. */
        ASSERT_ERROR(nonce_cache_add(c, "id", nonces[4], 1010), EAGAIN);
        ASSERT_ERROR(nonce_cache_add(c, "id", nonces[2], 1010), EALREADY);
        /* The same nonce under another identity is another entry. */
        ASSERT_ERROR(nonce_cache_add(c, "other", nonces[2], 1010), EAGAIN);
        /* Each leaves 600 s after it came, the oldest first. */
        ASSERT_ERROR(nonce_cache_add(c, "id", nonces[4], 1599), EAGAIN);
        ASSERT_OK(nonce_cache_add(c, "id", nonces[4], 1600));
        ASSERT_EQ_UINT(nonce_cache_size(c), 4);
        ASSERT_ERROR(nonce_cache_add(c, "id", nonces[0], 1600), EAGAIN); /* n0 left, n4 came */
        ASSERT_OK(nonce_cache_add(c, "id", nonces[0], 1601));             /* n1 left */
        ASSERT_ERROR(nonce_cache_add(c, "id", nonces[3], 1602), EALREADY); /* n2 left */
        ASSERT_EQ_UINT(nonce_cache_size(c), 3);
        ASSERT_OK(nonce_cache_add(c, "id", "late", 1603));                /* n3 left */
        ASSERT_EQ_UINT(nonce_cache_size(c), 3);
        ASSERT_OK(nonce_cache_add(c, "id", nonces[1], 5000));
        ASSERT_EQ_UINT(nonce_cache_size(c), 1);
}

/* The hash table against a plain list, through many insertions and expiries: cap entries
 * at most, nonces of kinds kinds, the clock moving on once in per_second steps on average. */
static size_t nonce_cache_model(size_t cap, size_t kinds, unsigned per_second, int64_t steps,
                                size_t *ret_capacity) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        _cleanup_free_ int64_t *seen_at = NULL; /* when each nonce was added, or -1 */
        enum { WINDOW = 10 };
        uint32_t seed = 12345;
        size_t live = 0, full = 0;

        ASSERT_NOT_NULL(seen_at = calloc(kinds, sizeof(int64_t)));
        ASSERT_OK(nonce_cache_new(cap, WINDOW, &c));
        for (size_t i = 0; i < kinds; i++)
                seen_at[i] = -1;
        for (int64_t step = 0, now = 0; step < steps; step++) {
                char nonce[16];
                size_t n;
                int expected;

                seed = seed * 1103515245 + 12345;
                n = (seed >> 8) % kinds;
                if ((seed >> 20) % per_second == 0)
                        now++;
                snprintf(nonce, sizeof(nonce), "n%zu", n);

                live = 0;
                for (size_t i = 0; i < kinds; i++) {
                        if (seen_at[i] >= 0 && seen_at[i] + 2 * WINDOW <= now)
                                seen_at[i] = -1;
                        if (seen_at[i] >= 0)
                                live++;
                }
                expected = seen_at[n] >= 0 ? -EALREADY : live >= cap ? -EAGAIN : 0;
                TEST_CONTEXT("step %" PRIi64 ", nonce %zu", step, n);
                ASSERT_EQ_INT(nonce_cache_add(c, "id", nonce, now), expected);
                if (expected == 0)
                        seen_at[n] = now, live++;
                full += expected == -EAGAIN;
                ASSERT_EQ_UINT(nonce_cache_size(c), live);
                ASSERT_TRUE(nonce_cache_capacity(c) <= cap);
        }
        *ret_capacity = nonce_cache_capacity(c);
        return full;
}

TEST(nonce_cache_model) {
        size_t capacity;

        nonce_cache_model(200, 400, 4, 20000, &capacity);
}

/* The same where the cache has to double twice to hold what is live, and then is full
 * (some 5000 nonces come in 2 × WINDOW). */
TEST(nonce_cache_model_growing) {
        size_t capacity;

        ASSERT_TRUE(nonce_cache_model(3 * NONCE_CACHE_INITIAL, 6 * NONCE_CACHE_INITIAL, 256, 30000,
                                      &capacity) > 0);
        ASSERT_EQ_UINT(capacity, 3 * NONCE_CACHE_INITIAL);
}

static void nonce_name(char buf[static 24], const char *prefix, size_t i) {
        snprintf(buf, 24, "%s%zu", prefix, i);
}

TEST(nonce_cache_grows) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        enum { N = 5 * NONCE_CACHE_INITIAL + 17 };
        char nonce[24];

        /* It starts small and doubles as the nonces come: 1024, 2048, 4096, 8192. Nonce i
         * comes at 1000 + i / 10. */
        ASSERT_OK(nonce_cache_new(100000, 300, &c));
        ASSERT_EQ_UINT(nonce_cache_capacity(c), NONCE_CACHE_INITIAL);
        for (size_t i = 0; i < N; i++) {
                nonce_name(nonce, "g", i);
                ASSERT_OK(nonce_cache_add(c, "id", nonce, 1000 + (int64_t) i / 10));
        }
        ASSERT_EQ_UINT(nonce_cache_size(c), N);
        ASSERT_EQ_UINT(nonce_cache_capacity(c), 8 * NONCE_CACHE_INITIAL);

        /* Every one survived the doublings: each is still a replay, under its identity only. */
        for (size_t i = 0; i < N; i++) {
                nonce_name(nonce, "g", i);
                TEST_CONTEXT("nonce %s", nonce);
                ASSERT_ERROR(nonce_cache_add(c, "id", nonce, 1000 + N / 10), EALREADY);
        }
        ASSERT_OK(nonce_cache_add(c, "other", "g0", 1000 + N / 10));
        ASSERT_EQ_UINT(nonce_cache_size(c), N + 1);

        /* They leave in the order they came, 600 s after: at 1700 those of 1000-1100 have left,
         * nonces 0-1009. */
        ASSERT_OK(nonce_cache_add(c, "id", "probe", 1700));
        ASSERT_EQ_UINT(nonce_cache_size(c), N + 1 - 1010 + 1);
        ASSERT_OK(nonce_cache_add(c, "id", "g1009", 1700));
        ASSERT_ERROR(nonce_cache_add(c, "id", "g1010", 1700), EALREADY);
        ASSERT_ERROR(nonce_cache_add(c, "id", "g5000", 1700), EALREADY);
        /* Later, all of the first ones; those added at 1700 stay. */
        ASSERT_OK(nonce_cache_add(c, "id", "g0", 2299));
        ASSERT_EQ_UINT(nonce_cache_size(c), 3); /* probe, g1009 and g0 again */
        ASSERT_ERROR(nonce_cache_add(c, "id", "g1009", 2299), EALREADY);
        ASSERT_ERROR(nonce_cache_add(c, "id", "probe", 2299), EALREADY);
        ASSERT_EQ_UINT(nonce_cache_capacity(c), 8 * NONCE_CACHE_INITIAL); /* it does not shrink */
}

/* A doubling while the ring has wrapped (the oldest entry is not at its start) keeps the
 * order in which they leave. */
TEST(nonce_cache_grows_wrapped) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        char nonce[24];

        /* A full ring, nonce i at 1000 + i / 100; at 1605 the first 600 have left. */
        ASSERT_OK(nonce_cache_new(100000, 300, &c));
        for (size_t i = 0; i < NONCE_CACHE_INITIAL; i++) {
                nonce_name(nonce, "old", i);
                ASSERT_OK(nonce_cache_add(c, "id", nonce, 1000 + (int64_t) i / 100));
        }
        for (size_t i = 0; i < 600; i++) {
                nonce_name(nonce, "new", i);
                ASSERT_OK(nonce_cache_add(c, "id", nonce, 1605));
        }
        ASSERT_EQ_UINT(nonce_cache_size(c), NONCE_CACHE_INITIAL);
        ASSERT_EQ_UINT(nonce_cache_capacity(c), NONCE_CACHE_INITIAL);
        ASSERT_OK(nonce_cache_add(c, "id", "grows", 1605));
        ASSERT_EQ_UINT(nonce_cache_capacity(c), 2 * NONCE_CACHE_INITIAL);
        ASSERT_EQ_UINT(nonce_cache_size(c), NONCE_CACHE_INITIAL + 1);

        for (size_t i = 600; i < NONCE_CACHE_INITIAL; i++) {
                nonce_name(nonce, "old", i);
                ASSERT_ERROR(nonce_cache_add(c, "id", nonce, 1605), EALREADY);
        }
        for (size_t i = 0; i < 600; i++) {
                nonce_name(nonce, "new", i);
                ASSERT_ERROR(nonce_cache_add(c, "id", nonce, 1605), EALREADY);
        }
        /* At 1610 the old ones of 1010 (1000-1023) are the next to leave, then none until 2205. */
        ASSERT_OK(nonce_cache_add(c, "id", "probe", 1610));
        ASSERT_EQ_UINT(nonce_cache_size(c), 601 + 1);
        ASSERT_OK(nonce_cache_add(c, "id", "old1023", 1610));
        ASSERT_ERROR(nonce_cache_add(c, "id", "new0", 2204), EALREADY);
        ASSERT_OK(nonce_cache_add(c, "id", "new0", 2205));
        ASSERT_EQ_UINT(nonce_cache_size(c), 3); /* probe, old1023 and new0 again */
}

/* The max holds across doublings: a cache of 3000 grows to exactly that and refuses then. */
TEST(nonce_cache_grows_to_max) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        char nonce[24];

        ASSERT_OK(nonce_cache_new(3000, 300, &c));
        for (size_t i = 0; i < 3000; i++) {
                nonce_name(nonce, "m", i);
                ASSERT_OK(nonce_cache_add(c, "id", nonce, 1000));
        }
        ASSERT_EQ_UINT(nonce_cache_capacity(c), 3000);
        ASSERT_ERROR(nonce_cache_add(c, "id", "one-more", 1000), EAGAIN);
        ASSERT_ERROR(nonce_cache_add(c, "id", "m2999", 1000), EALREADY);
        ASSERT_ERROR(nonce_cache_add(c, "id", "m0", 1599), EALREADY);
        ASSERT_OK(nonce_cache_add(c, "id", "one-more", 1600));
        ASSERT_EQ_UINT(nonce_cache_size(c), 1);

        /* One of fewer than NONCE_CACHE_INITIAL starts at its max. */
        nonce_cache_free(TAKE_PTR(c));
        ASSERT_OK(nonce_cache_new(4, 300, &c));
        ASSERT_EQ_UINT(nonce_cache_capacity(c), 4);
}

/* Nonces leave while the table is still being moved to a bigger one, and their positions in
 * the ring are taken again by new ones (a cache of 1100 wraps around): every nonce is still
 * found exactly while it is live. */
TEST(nonce_cache_grows_while_expiring) {
        _cleanup_(nonce_cache_freep) NonceCache *c = NULL;
        char nonce[24], other[24];

        ASSERT_OK(nonce_cache_new(1100, 300, &c));
        for (size_t i = 0; i < NONCE_CACHE_INITIAL; i++) {
                nonce_name(nonce, "o", i);
                ASSERT_OK(nonce_cache_add(c, "id", nonce, i < 512 ? 1000 : 1300));
        }
        ASSERT_OK(nonce_cache_add(c, "id", "p0", 1300)); /* the doubling starts */
        ASSERT_EQ_UINT(nonce_cache_capacity(c), 1100);

        /* At 1600 the first 512 leave; the new ones take their positions from the 76th on,
         * before the old table is all moved (16 slots of 2048 per add). */
        for (size_t i = 0; i < 100; i++) {
                nonce_name(nonce, "q", i);
                TEST_CONTEXT("q%zu", i);
                ASSERT_OK(nonce_cache_add(c, "id", nonce, 1600));
        }
        for (size_t i = 0; i < 200; i++) {
                nonce_name(nonce, "q", i);
                TEST_CONTEXT("q%zu", i);
                if (i >= 100)
                        ASSERT_OK(nonce_cache_add(c, "id", nonce, 1600));
                ASSERT_ERROR(nonce_cache_add(c, "id", nonce, 1600), EALREADY);
                nonce_name(other, "o", 512 + (i * 7) % 512);
                ASSERT_ERROR(nonce_cache_add(c, "id", other, 1600), EALREADY);
                nonce_name(other, "q", i / 2);
                ASSERT_ERROR(nonce_cache_add(c, "id", other, 1600), EALREADY);
        }
        ASSERT_EQ_UINT(nonce_cache_size(c), 512 + 1 + 200);

        /* The ones that left may come again; everything live is still refused. */
        for (size_t i = 0; i < 100; i++) {
                nonce_name(nonce, "o", i);
                TEST_CONTEXT("o%zu", i);
                ASSERT_OK(nonce_cache_add(c, "id", nonce, 1600));
        }
        for (size_t i = 0; i < NONCE_CACHE_INITIAL; i++) {
                if (i >= 100 && i < 512)
                        continue;
                nonce_name(nonce, "o", i);
                TEST_CONTEXT("o%zu again", i);
                ASSERT_ERROR(nonce_cache_add(c, "id", nonce, 1600), EALREADY);
        }
        for (size_t i = 0; i < 200; i++) {
                nonce_name(nonce, "q", i);
                ASSERT_ERROR(nonce_cache_add(c, "id", nonce, 1600), EALREADY);
        }
        ASSERT_ERROR(nonce_cache_add(c, "id", "p0", 1600), EALREADY);
        ASSERT_EQ_UINT(nonce_cache_size(c), 512 + 1 + 200 + 100);
}
