/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "provider-driver.h"

/* The multipass driver: every operation is one run of the multipass CLI with an argv, its
 * instance names prefixed "golem-", JSON output parsed by key. See MULTIPASS.md for the
 * CLI's behaviour this relies on. */

#define PREFIX "golem-"
#define INSTANCE_MAX (sizeof(PREFIX) - 1 + VM_NAME_MAX + 1)

typedef struct MultipassDriver {
        Driver base;
        Runner *runner;
        char *binary;
        char *data_dir;
        usec_t launch_timeout, command_timeout;
} MultipassDriver;

typedef enum OpKind {
        OP_DONE,
        OP_INFO,
        OP_LIST,
} OpKind;

struct DriverOp {
        MultipassDriver *driver;
        RunnerJob *job;
        OpKind kind;
        char name[VM_NAME_MAX + 1];
        DriverDoneFn done;
        DriverInfoFn info_done;
        DriverListFn list_done;
        DriverProgressFn progress;
        void *userdata;
        bool forget_user_data;   /* a delete: the VM's cloud-init file goes with it */
};

DriverVMState multipass_state_from_string(const char *s) {
        static const struct {
                const char *name;
                DriverVMState state;
        } table[] = {
                { "Running",          DRIVER_VM_RUNNING },
                { "Delayed Shutdown", DRIVER_VM_RUNNING },  /* still up, with its IPs */
                { "Starting",         DRIVER_VM_STARTING },
                { "Restarting",       DRIVER_VM_STARTING },
                { "Stopped",          DRIVER_VM_STOPPED },
                { "Suspending",       DRIVER_VM_SUSPENDED },
                { "Suspended",        DRIVER_VM_SUSPENDED },
                { "Deleted",          DRIVER_VM_DELETED },
                { "Unknown",          DRIVER_VM_UNKNOWN },
        };

        for (size_t i = 0; s && i < ELEMENTSOF(table); i++)
                if (streq(table[i].name, s))
                        return table[i].state;
        return DRIVER_VM_UNKNOWN;
}

/* The golem name of an instance, or NULL when it is not one of ours. */
static const char *instance_to_name(const char *instance) {
        const char *n = startswith(instance, PREFIX);

        return n && vm_name_valid(n) ? n : NULL;
}

/* The first usable address of an "ipv4" array ("N/A" while the VM has none yet). */
static void first_ip(json_object *ipv4, char ret[static IP_ADDRESS_MAX]) {
        ret[0] = 0;
        if (!json_object_is_type(ipv4, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(ipv4); i++) {
                const char *s;

                if (json_get_string(json_object_array_get_idx(ipv4, i), IP_ADDRESS_MAX, &s) >= 0 &&
                    ip_address_canonicalize(s, ret) >= 0)
                        return;
        }
        ret[0] = 0;
}

static int vm_from_json(const char *instance, json_object *o, DriverVM *ret) {
        json_object *v;
        const char *name, *state;

        name = instance_to_name(instance);
        if (!name || !json_object_is_type(o, json_type_object))
                return -EINVAL;
        if (!json_object_object_get_ex(o, "state", &v) || json_get_string(v, 64, &state) < 0)
                return -EBADMSG;

        *ret = (DriverVM) {};
        strcpy(ret->name, name);
        ret->state = multipass_state_from_string(state);
        if (json_object_object_get_ex(o, "ipv4", &v))
                first_ip(v, ret->ip_address);
        return 0;
}

int multipass_parse_list(const char *json, size_t size, DriverVM **ret, size_t *ret_n) {
        _cleanup_json_ json_object *o = NULL;
        json_object *list;
        DriverVM *vms;
        size_t n = 0, m;
        int r;

        r = json_parse(json, size, &o);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(o, "list", &list) || !json_object_is_type(list, json_type_array))
                return -EBADMSG;

        m = json_object_array_length(list);
        vms = calloc(MAX(m, (size_t) 1), sizeof(DriverVM));
        if (!vms)
                return -ENOMEM;

        for (size_t i = 0; i < m; i++) {
                json_object *e = json_object_array_get_idx(list, i), *v;
                const char *instance;

                if (!json_object_is_type(e, json_type_object) ||
                    !json_object_object_get_ex(e, "name", &v) ||
                    json_get_string(v, 256, &instance) < 0) {
                        free(vms);
                        return -EBADMSG;
                }
                if (!instance_to_name(instance))
                        continue; /* not ours */
                r = vm_from_json(instance, e, vms + n);
                if (r < 0) {
                        free(vms);
                        return r;
                }
                n++;
        }

        *ret = vms;
        *ret_n = n;
        return 0;
}

int multipass_parse_info(const char *json, size_t size, const char *name, DriverVM *ret) {
        _cleanup_json_ json_object *o = NULL;
        char instance[INSTANCE_MAX];
        json_object *info, *e;
        int r;

        /* A longer name would be cut short here, and another VM's info returned. */
        if (!vm_name_valid(name))
                return -EINVAL;

        r = json_parse(json, size, &o);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(o, "info", &info) || !json_object_is_type(info, json_type_object))
                return -EBADMSG;

        snprintf(instance, sizeof(instance), PREFIX "%s", name);
        if (!json_object_object_get_ex(info, instance, &e))
                return -ENOENT;
        return vm_from_json(instance, e, ret);
}

int cloud_init_user_data(const char *name, const char *ssh_key, char **ret) {
        return cloud_init_user_data_keys(name, (const char *const[]) { ssh_key }, 1, ret);
}

int cloud_init_user_data_keys(const char *name, const char *const *ssh_keys, size_t n, char **ret) {
        _cleanup_json_ json_object *o = NULL, *keys = NULL;
        const char *s;

        o = json_object_new_object();
        keys = json_object_new_array();
        if (!o || !keys)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (ssh_keys[i] && json_object_array_add(keys, json_object_new_string(ssh_keys[i])) < 0)
                        return -ENOMEM;
        if (json_object_object_add(o, "ssh_authorized_keys", TAKE_PTR(keys)) < 0 ||
            json_object_object_add(o, "hostname", json_object_new_string(name)) < 0)
                return -ENOMEM;

        s = json_to_string(o, true);
        if (!s || asprintf(ret, "#cloud-config\n%s\n", s) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- running commands ---- */

static void forget_user_data(MultipassDriver *d, const char *name) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/cloud-init/%s.yaml", d->data_dir, name) >= 0)
                (void) unlink(path);
}

static void op_free(DriverOp *op) {
        free(op);
}

static void multipass_cancel(DriverOp *op) {
        if (!op)
                return;
        runner_job_cancel(op->job);
        op_free(op);
}

/* The one-line reason of a failed command: its stderr, folded. */
static void error_message(const RunnerResult *res, char *buf, size_t size) {
        size_t w = 0;

        for (size_t i = 0; i < res->err_size && w + 1 < size; i++) {
                char c = res->err[i];

                if (c == '\n' || c == '\r' || c == '\t')
                        c = ' ';
                if ((unsigned char) c < 0x20 || c == 0x7f)
                        continue;
                if (c == ' ' && (w == 0 || buf[w - 1] == ' '))
                        continue;
                buf[w++] = c;
        }
        while (w > 0 && buf[w - 1] == ' ')
                w--;
        buf[w] = 0;
        if (w == 0)
                snprintf(buf, size, "multipass exited with status %d", res->exit_status);
}

static int classify(const RunnerResult *res, const char *message) {
        if (res->timed_out || res->exit_status == 5)
                return -ETIMEDOUT;
        /* The daemon's own waits ("NAME: timed out waiting for response", "... for
         * initialization to complete") fail with exit 2. */
        if (res->exit_status == 2 && strstr(message, "timed out waiting"))
                return -ETIMEDOUT;
        if (res->exit_status == 0)
                return 0;
        /* MULTIPASS.md: an unreachable daemon is exit 2 with this text (3 in theory). */
        if (res->exit_status == 3 || strstr(message, "cannot connect to the multipass socket") ||
            strstr(message, "multipass socket access denied"))
                return -EHOSTDOWN;
        if (res->exit_status == 127)
                return -EHOSTDOWN; /* the binary could not be run at all */
        if (strstr(message, "does not exist"))
                return -ENOENT;
        /* The name is taken on the hypervisor by an instance we have no record of. */
        if (strstr(message, "already exists") || strstr(message, "is being prepared"))
                return -EEXIST;
        return -EIO;
}

static void on_job_line(RunnerJob *job, const char *line, void *userdata) {
        DriverOp *op = userdata;
        const char *p;
        unsigned percent;
        char stage[128];
        size_t n;

        if (!op->progress || startswith(line, "Launched: "))
                return;
        /* "Retrieving image: 42%", "Verifying image: " and the spinner's stage texts: the stage
         * is the phrase, without the colon. */
        p = strrchr(line, ':');
        if (p && sscanf(p + 1, " %u%%", &percent) == 1 && percent <= 100)
                n = (size_t) (p - line);
        else {
                percent = UINT_MAX;
                n = strlen(line);
        }
        while (n > 0 && strchr(": ", line[n - 1]))
                n--;
        if (n == 0)
                return;
        snprintf(stage, sizeof(stage), "%.*s", (int) MIN(n, sizeof(stage) - 1), line);
        op->progress(percent == UINT_MAX ? -1 : (int) percent, stage, op->userdata);
}

static void on_job_done(RunnerJob *job, const RunnerResult *res, void *userdata) {
        DriverOp *op = userdata;
        char message[512];
        int r;

        error_message(res, message, sizeof(message));
        r = classify(res, message);
        if (r >= 0)
                message[0] = 0;
        op->job = NULL; /* freed by the runner after this */

        switch (op->kind) {
        case OP_DONE:
                if (op->forget_user_data && (r >= 0 || r == -ENOENT))
                        forget_user_data(op->driver, op->name);
                op->done(r, r < 0 ? message : NULL, op->userdata);
                break;
        case OP_INFO: {
                DriverVM vm = {};

                if (r >= 0) {
                        r = multipass_parse_info(res->out, res->out_size, op->name, &vm);
                        if (r < 0)
                                snprintf(message, sizeof(message), "Could not parse the output of multipass info: %s",
                                         strerror(ERRNO_VALUE(r)));
                        if (r == -ENOENT)
                                snprintf(message, sizeof(message), "instance \"" PREFIX "%s\" does not exist", op->name);
                }
                op->info_done(r, r < 0 ? message : NULL, r >= 0 ? &vm : NULL, op->userdata);
                break;
        }
        case OP_LIST: {
                DriverVM *vms = NULL;
                size_t n = 0;

                if (r >= 0) {
                        r = multipass_parse_list(res->out, res->out_size, &vms, &n);
                        if (r < 0)
                                snprintf(message, sizeof(message), "Could not parse the output of multipass list: %s",
                                         strerror(ERRNO_VALUE(r)));
                }
                op->list_done(r, r < 0 ? message : NULL, vms, n, op->userdata);
                free(vms);
                break;
        }
        }
        op_free(op);
}

static int run(MultipassDriver *d, OpKind kind, const char *name, const char *verb, char **argv,
               const char *input, usec_t timeout, DriverOp *op_template, DriverOp **ret) {
        char description[128];
        DriverOp *op;
        int r;

        op = malloc(sizeof(*op));
        if (!op)
                return -ENOMEM;
        *op = *op_template;
        op->driver = d;
        op->kind = kind;
        snprintf(op->name, sizeof(op->name), "%s", strempty(name));

        if (name)
                snprintf(description, sizeof(description), "golem-vm-%s-%s", name, verb);
        else
                snprintf(description, sizeof(description), "golem-multipass-%s", verb);

        r = runner_spawn(d->runner, &(RunnerSpawnParams) {
                        .description = description,
                        .argv = argv,
                        .input = input,
                        .input_size = input ? strlen(input) : 0,
                        .timeout = timeout,
                        .on_line = on_job_line,
                        .on_done = on_job_done,
                        .userdata = op,
                        /* What a launch, start, stop or delete said is worth keeping; JSON
                         * listings are not. */
                        .log_output = kind == OP_DONE,
                }, &op->job);
        if (r < 0) {
                op_free(op);
                return r;
        }
        if (ret)
                *ret = op;
        return 0;
}

static int write_user_data(MultipassDriver *d, const char *name, const char *user_data) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(user_data);

        if (asprintf(&dir, "%s/cloud-init", d->data_dir) < 0 ||
            asprintf(&path, "%s/%s.yaml", dir, name) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, user_data, n) != (ssize_t) n)
                return -EIO;
        return 0;
}

static int multipass_launch(Driver *base, const DriverLaunchParams *p, DriverProgressFn progress,
                            DriverDoneFn done, void *userdata, DriverOp **ret) {
        MultipassDriver *d = (MultipassDriver *) base;
        _cleanup_free_ char *user_data = NULL;
        char instance[INSTANCE_MAX], cpus[16], memory[24], disk[24], timeout[24];
        const char *image;
        int r;

        if (!vm_name_valid(p->name) || !vm_image_valid(p->image) || (p->ssh_key && !ssh_public_key_valid(p->ssh_key)))
                return -EINVAL;

        r = cloud_init_user_data(p->name, p->ssh_key, &user_data);
        if (r < 0)
                return r;
        /* Kept beside the state so an admin can see what the VM was given; the snap cannot
         * read it there, so multipass gets it on stdin. */
        r = write_user_data(d, p->name, user_data);
        if (r < 0)
                return r;

        /* "ubuntu:24.04" is how the network names images; multipass calls it "24.04". */
        image = startswith(p->image, "ubuntu:") ?: p->image;

        snprintf(instance, sizeof(instance), PREFIX "%s", p->name);
        snprintf(cpus, sizeof(cpus), "%" PRIi64, p->resources.cpu);
        snprintf(memory, sizeof(memory), "%" PRIi64 "G", p->resources.memory);
        snprintf(disk, sizeof(disk), "%" PRIi64 "G", p->resources.storage);
        snprintf(timeout, sizeof(timeout), "%" PRIu64, d->launch_timeout / USEC_PER_SEC);

        char *argv[] = {
                d->binary, (char *) "launch", (char *) image,
                (char *) "--name", instance,
                (char *) "--cpus", cpus,
                (char *) "--memory", memory,
                (char *) "--disk", disk,
                (char *) "--cloud-init", (char *) "-",
                (char *) "--timeout", timeout,
                NULL,
        };

        /* The CLI's own --timeout fires first (exit 5); ours is the backstop. */
        return run(d, OP_DONE, p->name, "launch", argv, user_data, d->launch_timeout + 30 * USEC_PER_SEC,
                   &(DriverOp) { .done = done, .progress = progress, .userdata = userdata }, ret);
}

static int simple_command(Driver *base, const char *verb, const char *name, DriverDoneFn done, void *userdata,
                          DriverOp **ret) {
        MultipassDriver *d = (MultipassDriver *) base;
        char instance[INSTANCE_MAX];

        if (!vm_name_valid(name))
                return -EINVAL;
        snprintf(instance, sizeof(instance), PREFIX "%s", name);

        char *argv_delete[] = { d->binary, (char *) "delete", (char *) "--purge", instance, NULL };
        char *argv_other[] = { d->binary, (char *) verb, instance, NULL };

        return run(d, OP_DONE, name, verb, streq(verb, "delete") ? argv_delete : argv_other, NULL,
                   streq(verb, "start") ? d->launch_timeout : d->command_timeout,
                   &(DriverOp) { .done = done, .userdata = userdata, .forget_user_data = streq(verb, "delete") }, ret);
}

static int multipass_start(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return simple_command(d, "start", name, done, userdata, ret);
}

static int multipass_stop(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return simple_command(d, "stop", name, done, userdata, ret);
}

static int multipass_remove(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return simple_command(d, "delete", name, done, userdata, ret);
}

/* `multipass exec` as the default user: the file is written from stdin, its directory made
 * when the VM was created without a key. */
static int multipass_set_keys(Driver *base, const char *name, const char *authorized_keys, DriverDoneFn done,
                              void *userdata, DriverOp **ret) {
        MultipassDriver *d = (MultipassDriver *) base;
        char instance[INSTANCE_MAX];

        if (!vm_name_valid(name))
                return -EINVAL;
        snprintf(instance, sizeof(instance), PREFIX "%s", name);

        char *argv[] = { d->binary, (char *) "exec", instance, (char *) "--", (char *) "install", (char *) "-D",
                         (char *) "-m", (char *) "0600", (char *) "/dev/stdin",
                         (char *) "/home/ubuntu/.ssh/authorized_keys", NULL };
        return run(d, OP_DONE, name, "keys", argv, authorized_keys, d->command_timeout,
                   &(DriverOp) { .done = done, .userdata = userdata }, ret);
}

static int multipass_info(Driver *base, const char *name, DriverInfoFn done, void *userdata, DriverOp **ret) {
        MultipassDriver *d = (MultipassDriver *) base;
        char instance[INSTANCE_MAX];

        if (!vm_name_valid(name))
                return -EINVAL;
        snprintf(instance, sizeof(instance), PREFIX "%s", name);

        char *argv[] = { d->binary, (char *) "info", instance, (char *) "--format", (char *) "json", NULL };
        return run(d, OP_INFO, name, "info", argv, NULL, d->command_timeout,
                   &(DriverOp) { .info_done = done, .userdata = userdata }, ret);
}

static int multipass_list(Driver *base, DriverListFn done, void *userdata, DriverOp **ret) {
        MultipassDriver *d = (MultipassDriver *) base;
        char *argv[] = { d->binary, (char *) "list", (char *) "--format", (char *) "json", NULL };

        return run(d, OP_LIST, NULL, "list", argv, NULL, d->command_timeout,
                   &(DriverOp) { .list_done = done, .userdata = userdata }, ret);
}

static void multipass_free(Driver *base) {
        MultipassDriver *d = (MultipassDriver *) base;

        if (!d)
                return;
        free(d->binary);
        free(d->data_dir);
        free(d);
}

static const DriverOps multipass_ops = {
        .name = "multipass",
        .launch = multipass_launch,
        .start = multipass_start,
        .stop = multipass_stop,
        .remove = multipass_remove,
        .info = multipass_info,
        .list = multipass_list,
        .set_keys = multipass_set_keys,
        .cancel = multipass_cancel,
        .free = multipass_free,
        .forwards_ssh = false,
        .poll_interval = 30 * USEC_PER_SEC,
};

int driver_multipass_new(Runner *runner, const MultipassConfig *c, Driver **ret) {
        MultipassDriver *d;

        if (!c->binary || c->binary[0] != '/')
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->base.ops = &multipass_ops;
        d->runner = runner;
        d->binary = strdup(c->binary);
        d->data_dir = strdup(c->data_dir);
        d->launch_timeout = c->launch_timeout ?: 600 * USEC_PER_SEC;
        d->command_timeout = c->command_timeout ?: 120 * USEC_PER_SEC;
        if (!d->binary || !d->data_dir) {
                multipass_free(&d->base);
                return -ENOMEM;
        }
        *ret = &d->base;
        return 0;
}
