/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "golemctl-identity.h"
#include "golemctl-provider-api.h"
#include "golemctl-providers.h"
#include "golemctl-ssh.h"
#include "golemctl-vm-create.h"
#include "golemctl-vm.h"
#include "json-util.h"
#include "validate.h"

/* vm create: choose a provider (named, at a URL, or the best fit among the advertisements),
 * record the VM, send the request, then follow the provider's job until the VM runs. */

#define JOB_POLL_INTERVAL_USEC (500 * USEC_PER_MSEC)
#define JOB_WAIT_MAX_USEC (20 * 60 * USEC_PER_SEC)
#define JOB_POLL_FAILURES_MAX 20

typedef struct Target {
        char provider_id[PROVIDER_ID_MAX + 1];
        char *url;
} Target;

static int target_from_url(Context *c, Target *ret) {
        _cleanup_(http_call_done) HttpCall call = {};
        json_object *v;
        const char *id;
        int r;

        if (!http_url_valid(c->provider_url))
                return ctl_usage("Invalid provider URL '%s': an http:// or https:// URL is needed.", c->provider_url);

        r = provider_api_info(c->provider_url, &call);
        if (r < 0)
                return r;
        if (!http_call_ok(&call, 200))
                return provider_call_failed(&call, "at the given URL", c->provider_url);
        if (!json_object_object_get_ex(call.json, "provider_id", &v) ||
            json_get_string(v, PROVIDER_ID_MAX, &id) < 0 || !provider_id_valid(id))
                return ctl_error(-EBADMSG, "The provider at %s sent no valid provider_id.", c->provider_url);
        if (c->provider_id && !streq(c->provider_id, id))
                return ctl_error(-EBADMSG, "The provider at %s is %s, not %s.", c->provider_url, id, c->provider_id);
        snprintf(ret->provider_id, sizeof(ret->provider_id), "%s", id);

        ret->url = strdup(c->provider_url);
        if (!ret->url)
                return ctl_error(-ENOMEM, "Out of memory.");
        ctl_info(c, "Using provider %s at %s (given with --provider-url).", ret->provider_id, ret->url);
        return 0;
}

static int target_from_id(Context *c, const Resources *want, Target *ret) {
        char text[RESOURCES_TEXT_MAX];
        Advertisement a;
        int r;

        r = discovery_get(c, c->provider_id, &a);
        if (r < 0)
                return r;
        if (c->country[0] && !streq(a.country, c->country))
                return ctl_error(-ENOENT, "Provider %s is in %s, not %s.", a.provider_id, a.country, c->country);
        if (!advertisement_fits(&a, want, NULL))
                ctl_warning("Provider %s advertises %s free, less than requested; asking it anyway.",
                            a.provider_id, resources_to_text(&a.resources, text, sizeof(text)));

        r = advertisement_url(c, &a, &ret->url);
        if (r < 0)
                return ctl_error(r, "Cannot make a URL for provider %s: %m", a.provider_id);
        snprintf(ret->provider_id, sizeof(ret->provider_id), "%s", a.provider_id);
        ctl_info(c, "Using provider %s (%s, %s), as asked.", a.provider_id, a.country, a.ip_address);
        return 0;
}

static int target_choose(Context *c, const Resources *want, Target *ret) {
        _cleanup_free_ Advertisement *ads = NULL;
        char text[RESOURCES_TEXT_MAX], free_text[RESOURCES_TEXT_MAX], tie[128] = "";
        ProviderChoice choice;
        const Advertisement *a;
        size_t n;
        int r;

        /* The service gets the same minimums, so it sends only what can fit. */
        r = discovery_list(c, want, c->country, DISCOVERY_LIMIT_DEFAULT, &ads, &n, NULL);
        if (r < 0)
                return r;

        r = provider_choose(ads, n, want, c->country, &choice);
        if (r == -ENOENT) {
                if (c->country[0])
                        return ctl_error(r, "No provider in %s has room for %s.", c->country,
                                         resources_to_text(want, text, sizeof(text)));
                return ctl_error(r, "No provider has room for %s.", resources_to_text(want, text, sizeof(text)));
        }
        if (r < 0)
                return ctl_error(r, "Cannot choose a provider: %m");

        a = ads + choice.index;
        r = advertisement_url(c, a, &ret->url);
        if (r < 0)
                return ctl_error(r, "Cannot make a URL for provider %s: %m", a->provider_id);
        snprintf(ret->provider_id, sizeof(ret->provider_id), "%s", a->provider_id);

        if (choice.n_tied > 0)
                snprintf(tie, sizeof(tie), "; tied with %zu other%s, the lowest provider id wins",
                         choice.n_tied, choice.n_tied == 1 ? "" : "s");
        ctl_info(c, "Chose provider %s (%s, %s): the best fit of %zu provider%s with room for %s, "
                 "having the least to spare (%s free)%s.",
                 a->provider_id, a->country, a->ip_address, choice.n_fit, choice.n_fit == 1 ? "" : "s",
                 resources_to_text(want, text, sizeof(text)),
                 resources_to_text(&a->resources, free_text, sizeof(free_text)), tie);
        return 0;
}

static int create_body(const char *name, const Resources *want, const char *image, const char *key, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o ||
            json_object_object_add(o, "name", json_object_new_string(name)) < 0 ||
            json_object_object_add(o, "resources", resources_to_json(want)) < 0 ||
            (image && json_object_object_add(o, "image", json_object_new_string(image)) < 0) ||
            json_object_object_add(o, "ssh_key", json_object_new_string(key)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

typedef struct Progress {
        bool on;        /* a terminal to draw on */
        bool drawn;
        usec_t start;
} Progress;

static void progress_draw(Progress *p, const char *name, const char *provider_id, const Job *j) {
        char percent[16] = "";
        const char *stage = j && j->stage[0] ? j->stage : "waiting";
        size_t n = strlen(stage);

        if (!p->on)
                return;
        if (j && j->progress >= 0)
                snprintf(percent, sizeof(percent), " %d%%", j->progress);
        /* The provider's stage text as a phrase: "Verifying image: " without its colon. */
        while (n > 0 && strchr(": ", stage[n - 1]))
                n--;
        fprintf(stderr, "\r\033[KCreating VM %s on provider %s: %.*s%s (%" PRIu64 " s)", name, provider_id,
                (int) n, stage, percent, (now_monotonic() - p->start) / USEC_PER_SEC);
        fflush(stderr);
        p->drawn = true;
}

/* Ctrl-C while waiting stops golemctl, not the creation: say so, and how to follow it or undo
 * it. The text is made before the handler is set, which only writes it (async-signal-safe). */
static char interrupted_text[512];
static size_t interrupted_size;

static void on_interrupt(int sig) {
        (void) !write(STDERR_FILENO, interrupted_text, interrupted_size);
        _exit(128 + sig);
}

static void interrupt_explain(const LocalVM *l) {
        int n = snprintf(interrupted_text, sizeof(interrupted_text),
                         "%sInterrupted: VM %s goes on being created on provider %s. Follow it with "
                         "'golemctl vm status %s', or remove it with 'golemctl vm destroy %s'.\n",
                         isatty(STDERR_FILENO) > 0 ? "\r\033[K" : "", l->name, l->provider_id, l->name, l->name);

        interrupted_size = n < 0 ? 0 : MIN((size_t) n, sizeof(interrupted_text) - 1);
        (void) sigaction(SIGINT, &(struct sigaction) { .sa_handler = on_interrupt }, NULL);
        (void) sigaction(SIGTERM, &(struct sigaction) { .sa_handler = on_interrupt }, NULL);
}

static void interrupt_default(void) {
        (void) sigaction(SIGINT, &(struct sigaction) { .sa_handler = SIG_DFL }, NULL);
        (void) sigaction(SIGTERM, &(struct sigaction) { .sa_handler = SIG_DFL }, NULL);
}

static void progress_clear(Progress *p) {
        if (p->drawn)
                fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
}

static void sleep_usec(usec_t u) {
        struct timespec ts = { (time_t) (u / USEC_PER_SEC), (long) ((u % USEC_PER_SEC) * 1000) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* GET /api/v1/vms/NAME into *ret; prints the error, but for -ENOENT (no such VM). */
static int fetch_vm(const ProviderRef *p, const LocalVM *l, RemoteVM *ret) {
        _cleanup_(http_call_done) HttpCall call = {};
        int r;

        r = provider_api_get(p, l->name, &call);
        if (r < 0)
                return r;
        return provider_answer_vm(&call, l, ret);
}

/* Polls the job until it is ready (0) or failed; prints the error. -ENOENT: the provider has no
 * such VM any more (the record should go); other errors: the state is unknown. */
static int wait_for_job(Context *c, const ProviderRef *p, const LocalVM *l, const char *job_id, RemoteVM *ret) {
        Progress progress = { .on = !c->quiet && isatty(STDERR_FILENO) > 0, .start = now_monotonic() };
        usec_t deadline = now_monotonic() + JOB_WAIT_MAX_USEC;
        unsigned failures = 0;
        Job job = {};
        int r;

        /* A provider that knows ?wait= answers once the job changes: no polling delay. One
         * that does not answers at once; then the same answer again within the interval
         * means waiting out the rest of it before asking again. */
        progress_draw(&progress, l->name, l->provider_id, NULL);
        for (;;) {
                _cleanup_(http_call_done) HttpCall call = {};
                const char *field = NULL;
                usec_t asked = now_monotonic();
                Job previous = job;

                if (now_monotonic() > deadline) {
                        progress_clear(&progress);
                        return ctl_error(-ETIMEDOUT, "VM %s is still not ready after %u minutes; "
                                         "see 'golemctl vm status %s'.", l->name,
                                         (unsigned) (JOB_WAIT_MAX_USEC / USEC_PER_SEC / 60), l->name);
                }

                r = provider_api_job(p, job_id, &call);
                if (r < 0) {
                        progress_clear(&progress);
                        return r;
                }

                if (call.result >= 0 && call.status == 404) {
                        /* Jobs are kept by the provider, but a job it lost says nothing: ask about the VM. */
                        progress_clear(&progress);
                        r = fetch_vm(p, l, ret);
                        if (r == -ENOENT)
                                return ctl_error(r, "Provider %s no longer knows VM %s: it was not created.",
                                                 l->provider_id, l->name);
                        if (r < 0)
                                return r;
                        if (streq(ret->status, "running"))
                                return 0;
                        return ctl_error(-EIO, "Provider %s lost the job of VM %s, which is %s; "
                                         "see 'golemctl vm status %s'.", l->provider_id, l->name, ret->status, l->name);
                }

                if (!http_call_ok(&call, 200) || job_from_json(call.json, &job, &field) < 0) {
                        char reason[HTTP_REASON_MAX];

                        if (++failures < JOB_POLL_FAILURES_MAX) {
                                sleep_usec(JOB_POLL_INTERVAL_USEC);
                                continue;
                        }
                        progress_clear(&progress);
                        if (call.result >= 0 && call.json && field)
                                snprintf(reason, sizeof(reason), "invalid job (field %s)", field);
                        else
                                http_call_reason(&call, reason, sizeof(reason));
                        return ctl_error(-EIO, "Lost track of VM %s on provider %s (%s); see 'golemctl vm status %s'.",
                                         l->name, l->provider_id, reason, l->name);
                }
                failures = 0;

                if (job.status == JOB_READY)
                        break;
                if (job.status == JOB_FAILED) {
                        progress_clear(&progress);
                        /* The provider cleans a failed launch up: the name is free again. */
                        return ctl_error(-ENOENT, "Provider %s could not create VM %s: %s", l->provider_id, l->name,
                                         job.error[0] ? job.error : "no reason given");
                }

                progress_draw(&progress, l->name, l->provider_id, &job);
                if (job.status == previous.status && job.progress == previous.progress &&
                    streq(job.stage, previous.stage) && now_monotonic() < asked + JOB_POLL_INTERVAL_USEC)
                        sleep_usec(asked + JOB_POLL_INTERVAL_USEC - now_monotonic());
        }
        progress_clear(&progress);

        r = fetch_vm(p, l, ret);
        if (r == -ENOENT)
                return vm_gone_error(c, l);
        return r;
}

static int resolve_key(Context *c, char **ret_private, char **ret_public) {
        const char *explicit = c->ssh_key ?: c->settings.ssh_key_path;
        int r;

        r = ssh_key_resolve(explicit, c->paths.home, c->paths.data_dir, true, ret_private, ret_public);
        if (r == -ENOENT && explicit)
                return ctl_error(r, "SSH key %s: no such key (its .pub is needed).", explicit);
        if (r == -ENOENT)
                return ctl_error(r, "No SSH key: %s/%s has no .pub, and there is no ~/.ssh/id_ed25519.pub or ~/.ssh/id_rsa.pub.",
                                 c->paths.data_dir, SSH_GENERATED_KEY);
        if (r == -EBADMSG)
                return ctl_error(r, "SSH key %s: the .pub file is not an OpenSSH public key.",
                                 explicit ?: "(default)");
        if (r < 0)
                return ctl_error(r, "Cannot get an SSH key%s%s: %m", explicit ? " from " : "", strempty(explicit));
        if (r > 0)
                ctl_key_generated(c, *ret_private);
        return 0;
}

/* Where the provider forwards SSH, kept with the record so that every command shows it; without
 * an answer it stays unknown until 'vm status' or 'vm ssh' ask. */
static void record_access(Context *c, const ProviderRef *p, LocalVM *l) {
        _cleanup_(http_call_done) HttpCall call = {};
        Access access = {};

        if (provider_api_access(p, l->name, &call) >= 0 && http_call_ok(&call, 200) &&
            access_from_json(call.json, &access, NULL) >= 0)
                vm_record_access(c, l, &access);
}

static int print_created(Context *c, const LocalVM *l, const RemoteVM *vm) {
        char text[RESOURCES_TEXT_MAX];

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = vm_to_json(l, vm, NULL, NULL);

                if (!o)
                        return ctl_error(-ENOMEM, "Out of memory.");
                return ctl_show_json(c, o);
        }
        if (c->quiet)
                return 0;
        if (!vm) {
                printf("VM %s is being created on provider %s (job %s).\n", l->name, l->provider_id, strempty(l->job_id));
                printf("See its progress with: golemctl vm status %s\n", l->name);
                return 0;
        }
        printf("VM %s is %s on provider %s (%s).\n", l->name, vm->status, l->provider_id,
               resources_to_text(&vm->resources, text, sizeof(text)));
        printf("Log in with: golemctl vm ssh %s\n", l->name);
        return 0;
}

int verb_vm_create(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        const char *name = argv[1];
        _cleanup_free_ char *key_private = NULL, *key_public = NULL;
        _cleanup_json_ json_object *body = NULL;
        _cleanup_(http_call_done) HttpCall call = {};
        _cleanup_(local_vm_done) LocalVM l = {};
        Target target = {};
        ProviderRef provider;
        Signer *signer;
        Resources want;
        RemoteVM vm = {};
        LocalVM existing;
        sqlite3 *db;
        Job job = {};
        const char *field = NULL;
        int r;

        if (!vm_name_valid(name))
                return ctl_usage("Invalid VM name '%s': 3-63 characters of a-z, 0-9 and '-', "
                                 "starting and ending with a letter or digit, no '--'.", name);
        if (vm_name_reserved(name))
                return ctl_usage("The VM name 'jobs' is reserved (the providers' path of jobs); choose another.");

        want = vm_size_resources(c->size >= 0 ? c->size : VM_SIZE_SMALL);
        if (c->cpu > 0)
                want.cpu = c->cpu;
        if (c->memory > 0)
                want.memory = c->memory;
        if (c->storage > 0)
                want.storage = c->storage;

        r = resolve_key(c, &key_private, &key_public);
        if (r < 0)
                return r;
        /* The key that signs makes this user the VM's owner; a key that cannot sign is found
         * out before anything is recorded or asked. */
        r = context_signer(c, &signer);
        if (r < 0)
                return r;

        r = context_open_state(c, &db);
        if (r < 0)
                return r;
        r = state_get(db, name, &existing);
        if (r >= 0) {
                r = ctl_error(-EEXIST, "VM %s exists already, on provider %s (see 'golemctl vm status %s').",
                              name, existing.provider_id, name);
                local_vm_done(&existing);
                return r;
        }
        if (r != -ENOENT)
                return ctl_error(r, "Cannot read the local state: %m");

        if (c->provider_url)
                r = target_from_url(c, &target);
        else if (c->provider_id)
                r = target_from_id(c, &want, &target);
        else
                r = target_choose(c, &want, &target);
        if (r < 0) {
                free(target.url);
                return r;
        }

        /* The record goes first: whatever happens next, it says where the VM would be. */
        l = (LocalVM) {
                .name = strdup(name),
                .provider_id = strdup(target.provider_id),
                .provider_url = TAKE_PTR(target.url),
                .state = LOCAL_VM_CREATING,
                .resources = want,
                .image = c->image ? strdup(c->image) : NULL,
                .ssh_key_path = strdup(key_private),
                .created_at = now_realtime(),
                .identity = strdup(signer_identity(signer)),
        };
        if (!l.name || !l.provider_id || !l.provider_url || !l.ssh_key_path || (c->image && !l.image) || !l.identity)
                return ctl_error(-ENOMEM, "Out of memory.");
        r = state_add(db, &l);
        if (r == -EEXIST)
                return ctl_error(r, "VM %s exists already (see 'golemctl vm status %s').", name, name);
        if (r < 0)
                return ctl_error(r, "Cannot record VM %s: %m", name);
        ssh_known_hosts_forget(c->paths.state_dir, l.provider_id, l.name);

        provider = (ProviderRef) { l.provider_id, l.provider_url, signer };
        r = create_body(name, &want, c->image, key_public, &body);
        if (r < 0) {
                (void) state_remove(db, name);
                return ctl_error(r, "Out of memory.");
        }
        r = provider_api_create(&provider, body, &call);
        if (r < 0) {
                (void) state_remove(db, name);
                return r;
        }

        if (call.result >= 0 && call.status == 202) {
                r = job_from_json(call.json, &job, &field);
                if (r < 0)
                        return ctl_error(r, "Provider %s accepted VM %s but sent an invalid job (field %s); "
                                         "see 'golemctl vm status %s'.", l.provider_id, name, strempty(field), name);
                l.job_id = strdup(job.job_id);
                if (!l.job_id)
                        return ctl_error(-ENOMEM, "Out of memory.");
                r = state_set_created(db, name, l.job_id);
                if (r < 0)
                        ctl_warning("Cannot complete the record of VM %s, ignoring: %s", name, strerror(-r));
                else
                        l.state = LOCAL_VM_CREATED;

                if (c->no_wait)
                        return print_created(c, &l, NULL);

                interrupt_explain(&l);
                r = wait_for_job(c, &provider, &l, l.job_id, &vm);
                interrupt_default();
                if (r == -ENOENT)
                        (void) state_remove(db, name);
                if (r < 0)
                        return r;

        } else if (call.result >= 0 && IN_SET(call.status, 200, 201)) {
                /* A provider that does not do async answers when the VM runs. */
                r = remote_vm_from_json(call.json, &vm, &field);
                if (r < 0)
                        return ctl_error(r, "Provider %s created VM %s but sent an invalid answer (field %s).",
                                         l.provider_id, name, strempty(field));
                if (state_set_created(db, name, NULL) >= 0)
                        l.state = LOCAL_VM_CREATED;

        } else {
                /* A refusal in the provider's own words, or a request that never left: nothing
                 * was created. Anything else (a timeout, a proxy's error page) leaves the
                 * record, since the VM may exist. */
                if (http_call_not_sent(&call) || (call.result >= 0 && call.error_code))
                        (void) state_remove(db, name);
                else
                        ctl_warning("The outcome is unknown; VM %s stays recorded: see 'golemctl vm status %s'.",
                                    name, name);
                if (call.result >= 0 && call.status == 409 && streq_ptr(call.error_code, "VM_NAME_TAKEN"))
                        /* Not ours (ours would be recorded): another requestor's, whom we cannot see. */
                        return ctl_error(-EEXIST, "Provider %s already has a VM called %s, not yours%s; "
                                         "choose another name%s.", l.provider_id, name,
                                         c->provider_id || c->provider_url ? "" : " (golemctl chose this provider)",
                                         c->provider_id || c->provider_url ? ", or another provider" :
                                         ", or another provider with --provider");
                return provider_call_failed(&call, l.provider_id, l.provider_url);
        }

        if (vm.ssh_port > 0 && state_set_ssh_port(db, name, vm.ssh_port) >= 0)
                l.ssh_port = vm.ssh_port;
        record_access(c, &provider, &l);
        return print_created(c, &l, &vm);
}
