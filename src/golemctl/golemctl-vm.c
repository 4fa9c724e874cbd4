/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "golemctl-providers.h"
#include "golemctl-ssh.h"
#include "golemctl-vm.h"
#include "json-util.h"
#include "validate.h"

#define JOB_POLL_INTERVAL_USEC (500 * USEC_PER_MSEC)
/* Asked of the provider with ?wait=: it answers when the job changes, or after this long. */
#define JOB_LONG_POLL_SEC 20
#define JOB_WAIT_MAX_USEC (20 * 60 * USEC_PER_SEC)
#define JOB_POLL_FAILURES_MAX 20
#define LIST_TIMEOUT_USEC (10 * USEC_PER_SEC)

/* ---------------------------------------------------------------------------------------- */
/* helpers */

int vm_lookup(Context *c, const char *name, LocalVM *ret) {
        sqlite3 *db;
        int r;

        if (!vm_name_valid(name))
                return ctl_usage("Invalid VM name '%s': 3-63 characters of a-z, 0-9 and '-', "
                                 "starting and ending with a letter or digit.", name);
        r = context_open_state(c, &db);
        if (r < 0)
                return r;
        r = state_get(db, name, ret);
        if (r == -ENOENT)
                return ctl_error(r, "No VM named %s (see 'golemctl vm list').", name);
        if (r < 0)
                return ctl_error(r, "Cannot read the record of VM %s: %m", name);
        return 0;
}

bool http_call_not_sent(const HttpCall *call) {
        return call->result < 0 &&
               IN_SET(-call->result, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, EINVAL);
}

int provider_call_failed(const HttpCall *call, const char *provider_id, const char *url) {
        char reason[HTTP_REASON_MAX];

        http_call_reason(call, reason, sizeof(reason));
        if (call->result < 0)
                return ctl_error(call->result, "Cannot reach provider %s at %s: %s", provider_id, url, reason);
        return ctl_error(-EIO, "Provider %s refused: %s", provider_id, reason);
}

static int provider_url(char **ret, const LocalVM *l, const char *format, ...) _printf_(3, 4);
static int provider_url(char **ret, const LocalVM *l, const char *format, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&path, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return url_join(ret, l->provider_url, "%s", path);
}

TableColor vm_status_color(const char *status) {
        static const struct {
                const char *status;
                TableColor color;
        } table[] = {
                { "running", TABLE_COLOR_GREEN },
                { "creating", TABLE_COLOR_YELLOW },
                { "starting", TABLE_COLOR_YELLOW },
                { "stopping", TABLE_COLOR_YELLOW },
                { "deleting", TABLE_COLOR_YELLOW },
                { "error", TABLE_COLOR_RED },
                { "unreachable", TABLE_COLOR_RED },
                { "missing", TABLE_COLOR_RED },
                { "unknown", TABLE_COLOR_RED },
        };

        for (size_t i = 0; status && i < ELEMENTSOF(table); i++)
                if (streq(table[i].status, status))
                        return table[i].color;
        return TABLE_COLOR_DEFAULT;
}

static json_object *resources_json(const Resources *r) {
        json_object *o = json_object_new_object();

        if (o && (json_object_object_add(o, "cpu", json_object_new_int64(r->cpu)) < 0 ||
                  json_object_object_add(o, "memory", json_object_new_int64(r->memory)) < 0 ||
                  json_object_object_add(o, "storage", json_object_new_int64(r->storage)) < 0)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

json_object *vm_to_json(const LocalVM *l, const RemoteVM *r, const char *problem, const Access *a) {
        _cleanup_json_ json_object *o = json_object_new_object();
        char ts[RFC3339_MAX];
        /* Neither: the provider was not asked (vm list --local). */
        const char *status = problem ?: r ? r->status : NULL;
        bool asked = problem || r;
        uint16_t port = r && r->ssh_port > 0 ? r->ssh_port : a ? a->ssh_port : l->ssh_port;

        if (!o ||
            json_object_object_add(o, "name", json_object_new_string(l->name)) < 0 ||
            json_object_object_add(o, "status", json_string_or_null(status)) < 0 ||
            json_object_object_add(o, "reachable",
                                   asked ? json_object_new_boolean(!problem || !streq(problem, "unreachable")) : NULL) < 0 ||
            json_object_object_add(o, "provider_id", json_object_new_string(l->provider_id)) < 0 ||
            json_object_object_add(o, "provider_url", json_object_new_string(l->provider_url)) < 0 ||
            json_object_object_add(o, "resources", resources_json(r ? &r->resources : &l->resources)) < 0 ||
            json_object_object_add(o, "image", json_string_or_null(r && r->image[0] ? r->image : l->image)) < 0 ||
            json_object_object_add(o, "ip_address", json_string_or_null(r && r->ip_address[0] ? r->ip_address : NULL)) < 0 ||
            json_object_object_add(o, "ssh_host", json_string_or_null(a ? a->ssh_host : NULL)) < 0 ||
            json_object_object_add(o, "ssh_port", port > 0 ? json_object_new_int(port) : NULL) < 0 ||
            json_object_object_add(o, "ssh_key", json_object_new_string(l->ssh_key_path)) < 0 ||
            json_object_object_add(o, "job_id", json_string_or_null(l->job_id)) < 0 ||
            json_object_object_add(o, "created_at",
                                   json_string_or_null(l->created_at > 0 ? format_rfc3339(ts, l->created_at) : NULL)) < 0 ||
            json_object_object_add(o, "error_message",
                                   json_string_or_null(r && r->error_message[0] ? r->error_message : NULL)) < 0 ||
            json_object_object_add(o, "local_state", json_object_new_string(local_vm_state_to_string(l->state))) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static const char *format_local_time(char *buf, size_t size, usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (t == 0 || !localtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
                return NULL;
        return buf;
}

/* Keeps the record in step with what the provider says; a failure here only costs a later
 * lookup, so it is ignored. */
static void record_refresh(Context *c, LocalVM *l, const RemoteVM *r) {
        sqlite3 *db;

        if (context_open_state(c, &db) < 0)
                return;
        if (l->state == LOCAL_VM_CREATING && state_set_created(db, l->name, l->job_id) >= 0)
                l->state = LOCAL_VM_CREATED;
        if (r && r->ssh_port > 0 && r->ssh_port != l->ssh_port && state_set_ssh_port(db, l->name, r->ssh_port) >= 0)
                l->ssh_port = r->ssh_port;
}

/* GET /api/v1/vms/NAME into *ret; prints the error. */
static int remote_get(const LocalVM *l, HttpCall *call, RemoteVM *ret) {
        const char *field = NULL;
        int r;

        if (call->result >= 0 && call->status == 404)
                return -ENOENT;
        if (!http_call_ok(call, 200))
                return provider_call_failed(call, l->provider_id, l->provider_url);
        r = remote_vm_from_json(call->json, ret, &field);
        if (r < 0)
                return ctl_error(r, "Provider %s sent an invalid VM (field %s).", l->provider_id, strempty(field));
        if (!streq(ret->name, l->name))
                return ctl_error(-EBADMSG, "Provider %s sent VM %s when asked for %s.", l->provider_id, ret->name, l->name);
        return 0;
}

static int fetch_vm(const LocalVM *l, RemoteVM *ret, bool *ret_unreachable) {
        _cleanup_free_ char *url = NULL;
        HttpCall call = {};
        int r;

        r = provider_url(&url, l, "/api/v1/vms/%s", l->name);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        r = http_call_init(&call, "GET", url, NULL, HTTP_TIMEOUT_QUERY);
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        r = http_call_run(&call);
        if (r < 0) {
                http_call_done(&call);
                return ctl_error(r, "Cannot run HTTP requests: %m");
        }
        if (ret_unreachable)
                *ret_unreachable = call.result < 0;
        r = remote_get(l, &call, ret);
        http_call_done(&call);
        return r;
}

static int vm_gone_error(const LocalVM *l) {
        return ctl_error(-ENOENT, "Provider %s does not know VM %s (destroyed elsewhere, or never created); "
                         "'golemctl vm destroy %s' forgets it.", l->provider_id, l->name, l->name);
}

static void forget_known_hosts(const Context *c, const char *provider_id, const char *name) {
        _cleanup_free_ char *path = NULL;

        /* A new VM of the same name has a new host key: never let an old pin refuse it. */
        if (ssh_known_hosts_path(c->paths.state_dir, provider_id, name, &path) >= 0)
                (void) unlink(path);
}

/* ---------------------------------------------------------------------------------------- */
/* vm create */

typedef struct Target {
        char provider_id[PROVIDER_ID_MAX + 1];
        char *url;
} Target;

static int target_from_url(Context *c, Target *ret) {
        _cleanup_free_ char *url = NULL;
        HttpCall call = {};
        json_object *v;
        const char *id;
        int r;

        if (!http_url_valid(c->provider_url))
                return ctl_usage("Invalid provider URL '%s': an http:// or https:// URL is needed.", c->provider_url);

        r = url_join(&url, c->provider_url, "/api/v1/provider/info");
        if (r < 0)
                return ctl_error(r, "Out of memory.");
        r = http_call_init(&call, "GET", url, NULL, HTTP_TIMEOUT_QUERY);
        if (r >= 0)
                r = http_call_run(&call);
        if (r < 0) {
                http_call_done(&call);
                return ctl_error(r, "Cannot run HTTP requests: %m");
        }
        if (!http_call_ok(&call, 200)) {
                r = provider_call_failed(&call, "at the given URL", c->provider_url);
                http_call_done(&call);
                return r;
        }
        if (!json_object_object_get_ex(call.json, "provider_id", &v) ||
            json_get_string(v, PROVIDER_ID_MAX, &id) < 0 || !provider_id_valid(id)) {
                http_call_done(&call);
                return ctl_error(-EBADMSG, "The provider at %s sent no valid provider_id.", c->provider_url);
        }
        if (c->provider_id && !streq(c->provider_id, id)) {
                r = ctl_error(-EBADMSG, "The provider at %s is %s, not %s.", c->provider_url, id, c->provider_id);
                http_call_done(&call);
                return r;
        }
        snprintf(ret->provider_id, sizeof(ret->provider_id), "%s", id);
        http_call_done(&call);

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
            json_object_object_add(o, "resources", resources_json(want)) < 0 ||
            (image && json_object_object_add(o, "image", json_object_new_string(image)) < 0) ||
            json_object_object_add(o, "ssh_key", json_object_new_string(key)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

typedef struct Progress {
        bool on;        /* a terminal to draw on */
        bool drawn;
} Progress;

static void progress_draw(Progress *p, const char *name, const char *provider_id, const Job *j) {
        char percent[16] = "";

        if (!p->on)
                return;
        if (j && j->progress >= 0)
                snprintf(percent, sizeof(percent), " %d%%", j->progress);
        fprintf(stderr, "\r\033[KCreating VM %s on provider %s: %s%s", name, provider_id,
                j && j->stage[0] ? j->stage : "waiting", percent);
        fflush(stderr);
        p->drawn = true;
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

/* Polls the job until it is ready (0) or failed; prints the error. -ENOENT: the provider has no
 * such VM any more (the record should go); other errors: the state is unknown. */
static int wait_for_job(Context *c, const LocalVM *l, const char *job_id, RemoteVM *ret) {
        _cleanup_free_ char *url = NULL;
        Progress progress = { .on = !c->quiet && isatty(STDERR_FILENO) > 0 };
        usec_t deadline = now_monotonic() + JOB_WAIT_MAX_USEC;
        unsigned failures = 0;
        Job job = {};
        int r;

        /* A provider that knows ?wait= answers once the job changes: no polling delay. One
         * that does not answers at once; then the same answer again within the interval
         * means waiting out the rest of it before asking again. */
        r = provider_url(&url, l, "/api/v1/vms/jobs/%s?wait=%u", job_id, JOB_LONG_POLL_SEC);
        if (r < 0)
                return ctl_error(r, "Out of memory.");

        progress_draw(&progress, l->name, l->provider_id, NULL);
        for (;;) {
                HttpCall call = {};
                const char *field = NULL;
                usec_t asked = now_monotonic();
                Job previous = job;

                if (now_monotonic() > deadline) {
                        progress_clear(&progress);
                        return ctl_error(-ETIMEDOUT, "VM %s is still not ready after %u minutes; "
                                         "see 'golemctl vm status %s'.", l->name,
                                         (unsigned) (JOB_WAIT_MAX_USEC / USEC_PER_SEC / 60), l->name);
                }

                r = http_call_init(&call, "GET", url, NULL, HTTP_TIMEOUT_QUERY + JOB_LONG_POLL_SEC * USEC_PER_SEC);
                if (r >= 0)
                        r = http_call_run(&call);
                if (r < 0) {
                        http_call_done(&call);
                        progress_clear(&progress);
                        return ctl_error(r, "Cannot run HTTP requests: %m");
                }

                if (call.result >= 0 && call.status == 404) {
                        /* Jobs are kept by the provider, but a job it lost says nothing: ask about the VM. */
                        http_call_done(&call);
                        progress_clear(&progress);
                        r = fetch_vm(l, ret, NULL);
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
                                http_call_done(&call);
                                sleep_usec(JOB_POLL_INTERVAL_USEC);
                                continue;
                        }
                        progress_clear(&progress);
                        if (call.result >= 0 && call.json && field)
                                snprintf(reason, sizeof(reason), "invalid job (field %s)", field);
                        else
                                http_call_reason(&call, reason, sizeof(reason));
                        http_call_done(&call);
                        return ctl_error(-EIO, "Lost track of VM %s on provider %s (%s); see 'golemctl vm status %s'.",
                                         l->name, l->provider_id, reason, l->name);
                }
                http_call_done(&call);
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

        r = fetch_vm(l, ret, NULL);
        if (r == -ENOENT)
                return vm_gone_error(l);
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
        return 0;
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
        _cleanup_free_ char *key_private = NULL, *key_public = NULL, *url = NULL;
        _cleanup_json_ json_object *body = NULL;
        Target target = {};
        Resources want;
        RemoteVM vm = {};
        LocalVM l = {};
        HttpCall call = {};
        LocalVM existing;
        sqlite3 *db;
        Job job = {};
        const char *field = NULL;
        int r;

        if (!vm_name_valid(name))
                return ctl_usage("Invalid VM name '%s': 3-63 characters of a-z, 0-9 and '-', "
                                 "starting and ending with a letter or digit, no '--'.", name);

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
        };
        if (!l.name || !l.provider_id || !l.provider_url || !l.ssh_key_path || (c->image && !l.image)) {
                local_vm_done(&l);
                return ctl_error(-ENOMEM, "Out of memory.");
        }
        r = state_add(db, &l);
        if (r < 0) {
                local_vm_done(&l);
                if (r == -EEXIST)
                        return ctl_error(r, "VM %s exists already (see 'golemctl vm status %s').", name, name);
                return ctl_error(r, "Cannot record VM %s: %m", name);
        }
        forget_known_hosts(c, l.provider_id, l.name);

        r = create_body(name, &want, c->image, key_public, &body);
        if (r >= 0)
                r = url_join(&url, l.provider_url, "/api/v1/vms?async=true");
        if (r >= 0)
                r = http_call_init(&call, "POST", url, body, HTTP_TIMEOUT_CREATE);
        if (r >= 0)
                r = http_call_run(&call);
        if (r < 0) {
                (void) state_remove(db, name);
                r = ctl_error(r, "Cannot send the request: %m");
                goto finish;
        }

        if (call.result >= 0 && call.status == 202) {
                r = job_from_json(call.json, &job, &field);
                if (r < 0) {
                        r = ctl_error(r, "Provider %s accepted VM %s but sent an invalid job (field %s); "
                                      "see 'golemctl vm status %s'.", l.provider_id, name, strempty(field), name);
                        goto finish;
                }
                l.job_id = strdup(job.job_id);
                if (!l.job_id) {
                        r = ctl_error(-ENOMEM, "Out of memory.");
                        goto finish;
                }
                r = state_set_created(db, name, l.job_id);
                if (r < 0)
                        ctl_warning("Cannot complete the record of VM %s, ignoring: %s", name, strerror(-r));
                else
                        l.state = LOCAL_VM_CREATED;

                if (c->no_wait) {
                        r = print_created(c, &l, NULL);
                        goto finish;
                }

                r = wait_for_job(c, &l, l.job_id, &vm);
                if (r == -ENOENT)
                        (void) state_remove(db, name);
                if (r < 0)
                        goto finish;

        } else if (call.result >= 0 && IN_SET(call.status, 200, 201)) {
                /* A provider that does not do async answers when the VM runs. */
                r = remote_vm_from_json(call.json, &vm, &field);
                if (r < 0) {
                        r = ctl_error(r, "Provider %s created VM %s but sent an invalid answer (field %s).",
                                      l.provider_id, name, strempty(field));
                        goto finish;
                }
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
                r = provider_call_failed(&call, l.provider_id, l.provider_url);
                goto finish;
        }

        if (vm.ssh_port > 0 && state_set_ssh_port(db, name, vm.ssh_port) >= 0)
                l.ssh_port = vm.ssh_port;
        r = print_created(c, &l, &vm);

finish:
        http_call_done(&call);
        local_vm_done(&l);
        return r;
}

/* ---------------------------------------------------------------------------------------- */
/* vm list */

typedef struct ProviderQuery {
        const char *url;
        const char *provider_id;
        HttpCall call;
        RemoteVM *vms;
        size_t n_vms;
        const char *problem;    /* NULL, "unreachable" or "unknown" */
} ProviderQuery;

static void provider_query_parse(ProviderQuery *q) {
        size_t n;

        if (q->call.result < 0) {
                q->problem = "unreachable";
                return;
        }
        if (!http_call_ok(&q->call, 200) || !json_object_is_type(q->call.json, json_type_array)) {
                q->problem = "unknown";
                return;
        }
        n = json_object_array_length(q->call.json);
        q->vms = calloc(MAX(n, (size_t) 1), sizeof(RemoteVM));
        if (!q->vms) {
                q->problem = "unknown";
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (remote_vm_from_json(json_object_array_get_idx(q->call.json, i), q->vms + q->n_vms, NULL) >= 0)
                        q->n_vms++;
}

static const RemoteVM *provider_query_find(const ProviderQuery *q, const char *name) {
        for (size_t i = 0; i < q->n_vms; i++)
                if (streq(q->vms[i].name, name))
                        return q->vms + i;
        return NULL;
}

int verb_vm_list(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_table_ Table *t = NULL;
        _cleanup_json_ json_object *array = NULL;
        _cleanup_free_ char *legend = NULL;
        LocalVM *vms = NULL;
        ProviderQuery *queries = NULL;
        size_t n_vms = 0, n_queries = 0, n_unreachable = 0;
        sqlite3 *db;
        int r;

        r = context_open_state(c, &db);
        if (r < 0)
                return r;
        r = state_list(db, &vms, &n_vms);
        if (r < 0)
                return ctl_error(r, "Cannot read the local state: %m");

        /* One request per provider, all at once. */
        queries = calloc(MAX(n_vms, (size_t) 1), sizeof(ProviderQuery));
        if (!queries) {
                r = ctl_error(-ENOMEM, "Out of memory.");
                goto finish;
        }
        for (size_t i = 0; i < n_vms && !c->local; i++) {
                _cleanup_free_ char *url = NULL;
                bool seen = false;

                for (size_t k = 0; k < n_queries; k++)
                        if (streq(queries[k].url, vms[i].provider_url))
                                seen = true;
                if (seen)
                        continue;

                queries[n_queries] = (ProviderQuery) { vms[i].provider_url, vms[i].provider_id };
                r = url_join(&url, vms[i].provider_url, "/api/v1/vms");
                if (r >= 0)
                        r = http_call_init(&queries[n_queries].call, "GET", url, NULL, LIST_TIMEOUT_USEC);
                if (r < 0) {
                        r = ctl_error(r, "Out of memory.");
                        goto finish;
                }
                n_queries++;
        }
        {
                _cleanup_free_ HttpCall *calls = calloc(MAX(n_queries, (size_t) 1), sizeof(HttpCall));

                if (!calls) {
                        r = ctl_error(-ENOMEM, "Out of memory.");
                        goto finish;
                }
                for (size_t k = 0; k < n_queries; k++)
                        calls[k] = queries[k].call;
                r = http_call_run_many(calls, n_queries);
                for (size_t k = 0; k < n_queries; k++)
                        queries[k].call = calls[k];
                if (r < 0) {
                        r = ctl_error(r, "Cannot run HTTP requests: %m");
                        goto finish;
                }
        }
        for (size_t k = 0; k < n_queries; k++) {
                provider_query_parse(queries + k);
                if (queries[k].problem && streq(queries[k].problem, "unreachable"))
                        n_unreachable++;
        }

        if (c->json != JSON_FORMAT_OFF) {
                array = json_object_new_array();
                if (!array) {
                        r = ctl_error(-ENOMEM, "Out of memory.");
                        goto finish;
                }
        } else {
                r = table_new((const char *const[]) { "NAME", "PROVIDER", "STATUS", "CPU", "MEMORY", "STORAGE", "SSH PORT", "CREATED" },
                              8, &t);
                if (r < 0) {
                        r = ctl_error(r, "Out of memory.");
                        goto finish;
                }
                for (size_t col = 3; col <= 6; col++)
                        (void) table_set_align_right(t, col, true);
        }

        for (size_t i = 0; i < n_vms; i++) {
                LocalVM *l = vms + i;
                const ProviderQuery *q = NULL;
                const RemoteVM *remote = NULL;
                const char *problem;
                const Resources *res;
                char when[64], port[8] = "";

                for (size_t k = 0; k < n_queries; k++)
                        if (streq(queries[k].url, l->provider_url))
                                q = queries + k;
                problem = q ? q->problem : "unknown";
                if (c->local)
                        problem = NULL;
                else if (!problem) {
                        remote = provider_query_find(q, l->name);
                        if (remote)
                                record_refresh(c, l, remote);
                        else
                                problem = "missing";
                }

                if (array) {
                        json_object *o = vm_to_json(l, remote, problem, NULL);

                        if (!o || json_object_array_add(array, o) < 0) {
                                json_object_put(o);
                                r = ctl_error(-ENOMEM, "Out of memory.");
                                goto finish;
                        }
                        continue;
                }

                const char *status = problem ?: remote ? remote->status : NULL;
                res = remote ? &remote->resources : &l->resources;
                if (remote && remote->ssh_port > 0)
                        snprintf(port, sizeof(port), "%u", (unsigned) remote->ssh_port);
                else if (l->ssh_port > 0)
                        snprintf(port, sizeof(port), "%u", (unsigned) l->ssh_port);

                if ((r = table_add_cell(t, l->name, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, l->provider_id, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, status, vm_status_color(status))) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64, res->cpu)) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64 " GB", res->memory)) < 0 ||
                    (r = table_add_cellf(t, TABLE_COLOR_DEFAULT, "%" PRIi64 " GB", res->storage)) < 0 ||
                    (r = table_add_cell(t, port[0] ? port : NULL, TABLE_COLOR_DEFAULT)) < 0 ||
                    (r = table_add_cell(t, format_local_time(when, sizeof(when), l->created_at), TABLE_COLOR_DEFAULT)) < 0) {
                        r = ctl_error(r, "Out of memory.");
                        goto finish;
                }
        }

        if (array) {
                r = ctl_show_json(c, array);
                goto finish;
        }

        if (c->local)
                r = asprintf(&legend, "%zu VM%s listed (no provider asked).", n_vms, n_vms == 1 ? "" : "s");
        else if (n_unreachable > 0)
                r = asprintf(&legend, "%zu VM%s listed; %zu provider%s unreachable.", n_vms, n_vms == 1 ? "" : "s",
                             n_unreachable, n_unreachable == 1 ? "" : "s");
        else
                r = asprintf(&legend, "%zu VM%s listed.", n_vms, n_vms == 1 ? "" : "s");
        if (r < 0) {
                r = ctl_error(-ENOMEM, "Out of memory.");
                goto finish;
        }
        r = ctl_show_table(c, t, legend);

finish:
        for (size_t k = 0; k < n_queries; k++) {
                http_call_done(&queries[k].call);
                free(queries[k].vms);
        }
        free(queries);
        local_vm_array_free(vms, n_vms);
        return r;
}

/* ---------------------------------------------------------------------------------------- */
/* vm status */

static void status_line(const char *label, const char *color, const char *format, ...) _printf_(3, 4);
static void status_line(const char *label, const char *color, const char *format, ...) {
        va_list ap;

        printf("%12s: %s", label, strempty(color));
        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        printf("%s\n", color && color[0] ? ANSI_NORMAL : "");
}

int verb_vm_status(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_free_ char *vm_url = NULL, *access_url = NULL;
        HttpCall calls[2] = {};
        LocalVM l = {};
        RemoteVM vm = {};
        Access access = {};
        bool have_vm = false, have_access = false;
        const char *problem = NULL, *field = NULL;
        char text[RESOURCES_TEXT_MAX], when[RFC3339_MAX];
        int r, failure = 0;

        r = vm_lookup(c, argv[1], &l);
        if (r < 0)
                return r;

        r = provider_url(&vm_url, &l, "/api/v1/vms/%s", l.name);
        if (r >= 0)
                r = provider_url(&access_url, &l, "/api/v1/vms/%s/access", l.name);
        if (r >= 0)
                r = http_call_init(calls + 0, "GET", vm_url, NULL, HTTP_TIMEOUT_QUERY);
        if (r >= 0)
                r = http_call_init(calls + 1, "GET", access_url, NULL, HTTP_TIMEOUT_QUERY);
        if (r >= 0)
                r = http_call_run_many(calls, 2);
        if (r < 0) {
                r = ctl_error(r, "Cannot run HTTP requests: %m");
                goto finish;
        }

        if (calls[0].result < 0) {
                problem = "unreachable";
                failure = provider_call_failed(calls + 0, l.provider_id, l.provider_url);
        } else {
                r = remote_get(&l, calls + 0, &vm);
                if (r == -ENOENT) {
                        problem = "missing";
                        failure = vm_gone_error(&l);
                } else if (r < 0) {
                        problem = "unknown";
                        failure = r;
                } else {
                        have_vm = true;
                        record_refresh(c, &l, &vm);
                }
        }
        if (have_vm && http_call_ok(calls + 1, 200) && access_from_json(calls[1].json, &access, &field) >= 0)
                have_access = true;

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = vm_to_json(&l, have_vm ? &vm : NULL, problem,
                                                           have_access ? &access : NULL);

                if (!o) {
                        r = ctl_error(-ENOMEM, "Out of memory.");
                        goto finish;
                }
                r = ctl_show_json(c, o);
                if (r >= 0)
                        r = failure;
                goto finish;
        }

        {
                bool colors = colors_enabled();
                const char *status = problem ?: vm.status;

                status_line("Name", NULL, "%s", l.name);
                status_line("Status", colors ? table_color_ansi(vm_status_color(status)) : NULL, "%s", status);
                status_line("Provider", NULL, "%s (%s)", l.provider_id, l.provider_url);
                status_line("Resources", NULL, "%s", resources_to_text(have_vm ? &vm.resources : &l.resources,
                                                                      text, sizeof(text)));
                if (have_vm && vm.image[0])
                        status_line("Image", NULL, "%s", vm.image);
                else if (l.image)
                        status_line("Image", NULL, "%s", l.image);
                if (have_vm && vm.ip_address[0])
                        status_line("Address", NULL, "%s (on the provider's network)", vm.ip_address);
                if (have_access)
                        status_line("SSH", NULL, "%s port %u (golemctl vm ssh %s)", access.ssh_host,
                                    (unsigned) access.ssh_port, l.name);
                else if (l.ssh_port > 0)
                        status_line("SSH", NULL, "port %u", (unsigned) l.ssh_port);
                status_line("SSH key", NULL, "%s", l.ssh_key_path);
                if (l.created_at > 0)
                        status_line("Created", NULL, "%s", format_rfc3339(when, l.created_at));
                if (l.state == LOCAL_VM_CREATING)
                        status_line("Record", NULL, "incomplete (the create request may not have reached the provider)");
                if (have_vm && vm.error_message[0])
                        status_line("Error", colors ? ANSI_RED : NULL, "%s", vm.error_message);
                fflush(stdout);
        }
        r = failure;

finish:
        http_call_done(calls + 0);
        http_call_done(calls + 1);
        local_vm_done(&l);
        return r;
}

/* ---------------------------------------------------------------------------------------- */
/* vm start, stop, destroy */

static int vm_action(Context *c, const char *name, const char *verb) {
        _cleanup_free_ char *url = NULL;
        HttpCall call = {};
        LocalVM l = {};
        RemoteVM vm = {};
        int r;

        r = vm_lookup(c, name, &l);
        if (r < 0)
                return r;

        r = provider_url(&url, &l, "/api/v1/vms/%s/%s", l.name, verb);
        if (r >= 0)
                r = http_call_init(&call, "POST", url, NULL, HTTP_TIMEOUT_ACTION);
        if (r >= 0)
                r = http_call_run(&call);
        if (r < 0) {
                r = ctl_error(r, "Cannot run HTTP requests: %m");
                goto finish;
        }
        if (call.result >= 0 && call.status == 404) {
                r = vm_gone_error(&l);
                goto finish;
        }
        r = remote_get(&l, &call, &vm);
        if (r < 0)
                goto finish;
        record_refresh(c, &l, &vm);

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = vm_to_json(&l, &vm, NULL, NULL);

                r = o ? ctl_show_json(c, o) : ctl_error(-ENOMEM, "Out of memory.");
        }

finish:
        http_call_done(&call);
        local_vm_done(&l);
        return r;
}

int verb_vm_start(int argc, char *argv[], void *userdata) {
        return vm_action(userdata, argv[1], "start");
}

int verb_vm_stop(int argc, char *argv[], void *userdata) {
        return vm_action(userdata, argv[1], "stop");
}

static int forget(Context *c, const LocalVM *l) {
        sqlite3 *db;
        int r;

        r = context_open_state(c, &db);
        if (r < 0)
                return r;
        r = state_remove(db, l->name);
        if (r < 0 && r != -ENOENT)
                return ctl_error(r, "Cannot remove the record of VM %s: %m", l->name);
        forget_known_hosts(c, l->provider_id, l->name);
        return 0;
}

int verb_vm_destroy(int argc, char *argv[], void *userdata) {
        Context *c = userdata;
        _cleanup_free_ char *url = NULL;
        HttpCall call = {};
        LocalVM l = {};
        const char *outcome = "deleted";
        int r;

        r = vm_lookup(c, argv[1], &l);
        if (r < 0)
                return r;

        r = provider_url(&url, &l, "/api/v1/vms/%s", l.name);
        if (r >= 0)
                r = http_call_init(&call, "DELETE", url, NULL, HTTP_TIMEOUT_ACTION);
        if (r >= 0)
                r = http_call_run(&call);
        if (r < 0) {
                r = ctl_error(r, "Cannot run HTTP requests: %m");
                goto finish;
        }

        if (call.result >= 0 && call.status == 404) {
                ctl_info(c, "Provider %s did not know VM %s any more; forgetting it.", l.provider_id, l.name);
                outcome = "missing";
        } else if (call.result >= 0 && call.status == 200) {
                /* {"status":"deleted","vm_id"}: nothing in it is needed. */
        } else if (c->force) {
                char reason[HTTP_REASON_MAX];

                ctl_warning("Provider %s did not delete VM %s (%s); forgetting it anyway (--force).",
                            l.provider_id, l.name, http_call_reason(&call, reason, sizeof(reason)));
                outcome = "forgotten";
        } else {
                r = provider_call_failed(&call, l.provider_id, l.provider_url);
                if (call.result < 0)
                        ctl_info(c, "Use --force to forget VM %s without the provider.", l.name);
                goto finish;
        }

        r = forget(c, &l);
        if (r < 0)
                goto finish;

        if (c->json != JSON_FORMAT_OFF) {
                _cleanup_json_ json_object *o = json_object_new_object();

                if (!o ||
                    json_object_object_add(o, "name", json_object_new_string(l.name)) < 0 ||
                    json_object_object_add(o, "provider_id", json_object_new_string(l.provider_id)) < 0 ||
                    json_object_object_add(o, "status", json_object_new_string(outcome)) < 0)
                        r = ctl_error(-ENOMEM, "Out of memory.");
                else
                        r = ctl_show_json(c, o);
        }

finish:
        http_call_done(&call);
        local_vm_done(&l);
        return r;
}
