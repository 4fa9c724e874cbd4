/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "json-util.h"
#include "fs-util.h"
#include "list.h"
#include "ssh-key-file.h"
#include "log.h"
#include "provider-driver.h"
#include "provider-qmp.h"
#include "provider-vm-network.h"

/* The qemu driver: each VM is one qemu-system-x86_64 with a qcow2 overlay on its image, a
 * NoCloud seed (an ISO labelled cidata) for its key and hostname, and user-mode networking
 * forwarding the VM's provider port to its SSH port, so no forwarder of ours is needed.
 * State lives in DATA_DIR/qemu/NAME/. qemu daemonizes and writes a pid file, so VMs outlive
 * the provider and are found again when it starts (never started twice). Under systemd each
 * qemu is a transient unit of its own, golem-vm-NAME.service (Type=forking, PIDFile=, in a
 * sandbox), so it is not in the provider's cgroup, and makes the seed and the disk
 * (genisoimage, qemu-img) as its ExecStartPre=; without systemd those are the provider's
 * children. Control is QMP, asynchronous: a stop is an ACPI power button press, repeated,
 * then "quit" and SIGKILL after a grace period. Each running qemu is watched by a pidfd. */

#define GUEST_ADDRESS "10.0.2.15"
#define POLL_USEC (500 * USEC_PER_MSEC)
/* Readiness: how often the SSH port is tried while the guest boots. */
#define PROBE_USEC (100 * USEC_PER_MSEC)
#define QMP_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define QUIT_GRACE_USEC (3 * USEC_PER_SEC)
#define POWERDOWN_REPEAT_USEC (3 * USEC_PER_SEC)
#define POWERDOWN_GRACE_USEC (30 * USEC_PER_SEC)
#define GONE_TIMEOUT_USEC (10 * USEC_PER_SEC)
/* Changing a running guest's keys: ssh with the VM's management key, as the default user of
 * cloud images (golem-mini gives it the seed's keys too). */
#define SSH_BINARY "/usr/bin/ssh"
#define GUEST_USER "ubuntu"
#define MANAGEMENT_KEY "management/key"
#define KEYS_TIMEOUT_USEC (60 * USEC_PER_SEC)
/* The limits of a VM's unit, from what was rented (golem-providerd(8), "Isolation"): on top of
 * the guest's CPUs a quarter of one for qemu's own threads (I/O, the monitor, TCG's
 * translation); on top of its memory 512 MiB for qemu (device emulation, TCG's code cache,
 * the seed and disk helpers); tasks for one thread per vCPU, qemu's main, RCU and I/O
 * threads and its pool of at most 64 workers, with ample room, yet no fork bomb; weights half
 * the default 100 of the provider's own unit. */
#define VM_CPU_ALLOWANCE_USEC (250 * USEC_PER_MSEC)
#define VM_MEMORY_OVERHEAD (UINT64_C(512) << 20)
#define VM_TASKS_BASE 256
#define VM_WEIGHT 50

/* A running qemu watched through a pidfd: its exit is noticed at once, whoever's child it is
 * (a unit's main process, or daemonized from ours). */
typedef struct Watch Watch;
struct Watch {
        LIST_FIELDS(Watch, watches);
        struct QemuDriver *driver;
        char name[VM_NAME_MAX + 1];
        int pidfd;
        sd_event_source *source;
};

typedef struct QemuDriver {
        Driver base;
        Watch *watches;
        char *runtime_dir;          /* QMP sockets: a socket path must stay under 108 bytes */
        sd_event *event;
        Runner *runner;
        QemuConfig config;
        char *state_root;           /* DATA_DIR/qemu */
} QemuDriver;

typedef enum Step {
        STEP_SEED,
        STEP_DISK,
        STEP_BOOT,
        STEP_WAIT_SSH,
        STEP_POWERDOWN,
        STEP_QUIT,
        STEP_KILL,
        STEP_DONE,
} Step;

typedef enum QemuOpKind {
        QOP_LAUNCH,
        QOP_START,
        QOP_STOP,
        QOP_REMOVE,
        QOP_INFO,
        QOP_LIST,
        QOP_KEYS,
} QemuOpKind;

struct DriverOp {
        QemuDriver *driver;
        QemuOpKind kind;
        Step step;
        char name[VM_NAME_MAX + 1];
        char *dir;                  /* the VM's state directory */
        DriverDoneFn done;
        DriverInfoFn info_done;
        DriverListFn list_done;
        DriverProgressFn progress;
        void *userdata;
        RunnerJob *job;
        QmpCall *qmp;
        sd_event_source *timer, *defer, *probe_io;
        int probe_fd;
        usec_t deadline, next_powerdown;
        uint16_t ssh_port;
        Resources resources;
        usec_t t_start, t_boot, t_booted;  /* for the log line when the guest is up */
        /* A launch: the seed and the disk, made by helpers, or under systemd by the VM's unit
         * itself (ExecStartPre=: outside the provider's sandbox, whose system call filter
         * genisoimage trips, and with no second unit whose name could collide). */
        char *seed_iso, *seed_user_data, *seed_meta_data, *disk_file;
        char disk_size[32];
        bool prepare_in_unit;
        char image_base[PATH_MAX];  /* the image's path without its suffix */
        char image_disk[PATH_MAX];
};

/* ---- paths and processes ---- */

static char *vm_path(const QemuDriver *d, const char *name, const char *file) {
        char *p;

        if (asprintf(&p, "%s/%s%s%s", d->state_root, name, file ? "/" : "", strempty(file)) < 0)
                return NULL;
        return p;
}

/* The qemu of this VM, when it runs: its pid file names a live process whose command line
 * mentions the VM's directory (a recycled pid does not). */
static pid_t vm_pid(const QemuDriver *d, const char *name) {
        _cleanup_free_ char *pidfile = vm_path(d, name, "qemu.pid"), *dir = vm_path(d, name, NULL);
        char buf[32], cmdline[8192], proc[64];
        ssize_t n;
        FILE *f;
        pid_t pid;
        int fd;

        if (!pidfile || !dir)
                return 0;
        f = fopen(pidfile, "re");
        if (!f)
                return 0;
        if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%d", &pid) != 1 || pid <= 1) {
                fclose(f);
                return 0;
        }
        fclose(f);

        snprintf(proc, sizeof(proc), "/proc/%d/cmdline", (int) pid);
        fd = open(proc, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, cmdline, sizeof(cmdline) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        for (ssize_t i = 0; i < n; i++)
                if (cmdline[i] == 0)
                        cmdline[i] = ' ';
        cmdline[n] = 0;
        return strstr(cmdline, dir) ? pid : 0;
}

static void watch_free(QemuDriver *d, Watch *w) {
        LIST_REMOVE(watches, d->watches, w);
        sd_event_source_disable_unref(w->source);
        closep(&w->pidfd);
        free(w);
}

static int on_qemu_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Watch *w = userdata;
        QemuDriver *d = w->driver;

        log_debug("The qemu of VM %s exited.", w->name);
        watch_free(d, w);
        if (d->base.changed)
                d->base.changed(d->base.changed_userdata);
        return 0;
}

/* Watches the qemu of a running VM, once. */
static void vm_watch(QemuDriver *d, const char *name, pid_t pid) {
        Watch *w;

        LIST_FOREACH(watches, i, d->watches)
                if (streq(i->name, name))
                        return;
        w = calloc(1, sizeof(*w));
        if (!w)
                return;
        w->driver = d;
        snprintf(w->name, sizeof(w->name), "%s", name);
        w->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (w->pidfd < 0 || sd_event_add_io(d->event, &w->source, w->pidfd, EPOLLIN, on_qemu_exit, w) < 0) {
                /* without it the periodic list still notices */
                closep(&w->pidfd);
                free(w);
                return;
        }
        LIST_PREPEND(watches, d->watches, w);
}

static bool vm_exists(const QemuDriver *d, const char *name) {
        _cleanup_free_ char *disk = vm_path(d, name, "disk.qcow2");
        return disk && access(disk, F_OK) >= 0;
}

/* The VM's QMP socket: in the runtime directory (a socket path must stay under 108 bytes),
 * named after a hash of the VM's state directory, so two providers on one host, each with
 * a VM of the same name, never share one. */
static char *qmp_path(const QemuDriver *d, const char *name) {
        _cleanup_free_ char *dir = vm_path(d, name, NULL);
        uint64_t h = 0xcbf29ce484222325ULL;
        char *p;

        if (!dir)
                return NULL;
        for (const char *c = dir; *c; c++) {
                h ^= (uint8_t) *c;
                h *= 0x100000001b3ULL;
        }
        if (asprintf(&p, "%s/qmp-%016" PRIx64 ".sock", d->runtime_dir, h) < 0)
                return NULL;
        return p;
}

/* "ubuntu:24.04" -> IMAGE_DIR/ubuntu-24.04.qcow2 (or .img). */
static int image_lookup(const QemuDriver *d, const char *image, char base[static PATH_MAX], char disk[static PATH_MAX]) {
        static const char *const suffixes[] = { ".qcow2", ".img" };
        char name[VM_IMAGE_MAX + 1];

        if (!vm_image_valid(image))
                return -EINVAL;
        snprintf(name, sizeof(name), "%s", image);
        for (char *p = name; *p; p++)
                if (*p == ':')
                        *p = '-';
        snprintf(base, PATH_MAX, "%s/%s", d->config.image_dir, name);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                snprintf(disk, PATH_MAX, "%s%s", base, suffixes[i]);
                if (access(disk, R_OK) >= 0)
                        return 0;
        }
        return -ENOENT;
}

static int qemu_image_check(Driver *base, const char *image, char *reason, size_t size) {
        QemuDriver *d = (QemuDriver *) base;
        char b[PATH_MAX], disk[PATH_MAX], list[512] = "";
        struct dirent *de;
        DIR *dir;

        if (image_lookup(d, image, b, disk) >= 0)
                return 0;

        dir = opendir(d->config.image_dir);
        while (dir && (de = readdir(dir))) {
                const char *e = endswith(de->d_name, ".qcow2") ?: endswith(de->d_name, ".img");

                if (!e || de->d_name[0] == '.' || strlen(list) + strlen(de->d_name) + 3 >= sizeof(list))
                        continue;
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.*s", list[0] ? ", " : "",
                         (int) (e - de->d_name), de->d_name);
        }
        if (dir)
                closedir(dir);
        snprintf(reason, size, "image: no image %s on this provider; available: %s", image, list[0] ? list : "none");
        return -EINVAL;
}

/* ---- operations ---- */

static void op_free(DriverOp *op) {
        if (!op)
                return;
        if (op->job)
                runner_job_cancel(op->job);
        qmp_call_cancel(op->qmp);
        sd_event_source_disable_unref(op->timer);
        sd_event_source_disable_unref(op->defer);
        sd_event_source_disable_unref(op->probe_io);
        closep(&op->probe_fd);
        free(op->seed_iso);
        free(op->seed_user_data);
        free(op->seed_meta_data);
        free(op->disk_file);
        free(op->dir);
        free(op);
}

static void qemu_cancel(DriverOp *op) {
        op_free(op);
}

static void op_finish(DriverOp *op, int r, const char *message) {
        DriverDoneFn done = op->done;
        void *userdata = op->userdata;

        op->step = STEP_DONE;
        op_free(op);
        done(r, message, userdata);
}

static DriverOp *op_new(QemuDriver *d, QemuOpKind kind, const char *name) {
        DriverOp *op = calloc(1, sizeof(*op));

        if (!op)
                return NULL;
        op->driver = d;
        op->kind = kind;
        op->probe_fd = -EBADF;
        if (name) {
                snprintf(op->name, sizeof(op->name), "%s", name);
                op->dir = vm_path(d, name, NULL);
                if (!op->dir) {
                        free(op);
                        return NULL;
                }
        }
        return op;
}

static void op_step(DriverOp *op);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        op_step(userdata);
        return 0;
}

static void op_later(DriverOp *op, usec_t delay) {
        if (!op->timer)
                (void) sd_event_add_time_relative(op->driver->event, &op->timer, CLOCK_MONOTONIC, delay, 0, on_timer, op);
        else {
                (void) sd_event_source_set_time_relative(op->timer, delay);
                (void) sd_event_source_set_enabled(op->timer, SD_EVENT_ONESHOT);
        }
}

static void on_command_done(RunnerJob *job, const RunnerResult *res, void *userdata) {
        DriverOp *op = userdata;
        char message[512];

        op->job = NULL;
        if (res->exit_status != 0) {
                snprintf(message, sizeof(message), "%s failed (status %d): %.*s",
                         op->step == STEP_SEED   ? "Making the seed" :
                         op->step == STEP_DISK   ? "Making the disk" :
                         op->prepare_in_unit     ? "Preparing and starting qemu" : "Starting qemu",
                         res->exit_status, (int) strcspn(res->err, "\n"), res->err);
                op_finish(op, res->timed_out ? -ETIMEDOUT : -EIO, message);
                return;
        }
        if (op->step == STEP_BOOT)
                op->t_booted = now_monotonic();
        op->step++;
        op_step(op);
}

/* The seed and the disk without systemd: quick commands, run as the provider's children. */
static int run_helper(DriverOp *op, const char *what, char **argv) {
        char description[128];

        snprintf(description, sizeof(description), "golem-vm-%s-%s", op->name, what);
        return runner_spawn(op->driver->runner, &(RunnerSpawnParams) {
                        .description = description,
                        .argv = argv,
                        .timeout = 120 * USEC_PER_SEC,
                        .on_done = on_command_done,
                        .userdata = op,
                        .log_output = true,
                        .direct = true,
                }, &op->job);
}

static int write_file(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(text);

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        return write(fd, text, n) == (ssize_t) n ? 0 : -EIO;
}

/* The NoCloud seed's files (user-data with the key, meta-data with the hostname); the ISO is
 * made from them by the command of seed_argv(). */
/* The VM's management key, in a 0700 directory of the VM's own: how the provider reaches
 * the running guest to change its keys. Returns its public key line. */
static int make_management_key(DriverOp *op, char **ret) {
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        _cleanup_free_ char *dir = NULL, *path = NULL;
        int r;

        if (asprintf(&dir, "%s/management", op->dir) < 0 || asprintf(&path, "%s/" MANAGEMENT_KEY, op->dir) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        r = ssh_key_generate_ed25519(&k);
        if (r >= 0)
                r = ssh_key_set_comment(k, "golem-provider-management");
        if (r >= 0)
                r = ssh_key_save(k, path);
        if (r >= 0)
                r = ssh_key_to_public_line(k, ret);
        return r;
}

static int write_seed(DriverOp *op, const DriverLaunchParams *p) {
        _cleanup_free_ char *user_data = NULL, *meta = NULL, *seed_dir = NULL, *management = NULL;
        int r;

        r = make_management_key(op, &management);
        if (r < 0)
                return r;
        r = cloud_init_user_data_keys(p->name, (const char *const[]) { p->ssh_key, management }, 2, &user_data);
        if (r < 0)
                return r;
        if (asprintf(&meta, "instance-id: golem-%s\nlocal-hostname: %s\n", p->name, p->name) < 0 ||
            asprintf(&seed_dir, "%s/seed", op->dir) < 0 || asprintf(&op->seed_iso, "%s/seed.iso", op->dir) < 0 ||
            asprintf(&op->seed_user_data, "%s/user-data", seed_dir) < 0 ||
            asprintf(&op->seed_meta_data, "%s/meta-data", seed_dir) < 0 ||
            asprintf(&op->disk_file, "%s/disk.qcow2", op->dir) < 0)
                return -ENOMEM;
        if (mkdir(seed_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        r = write_file(seed_dir, "user-data", user_data);
        if (r >= 0)
                r = write_file(seed_dir, "meta-data", meta);
        return r;
}

static void seed_argv(DriverOp *op, char *argv[static 11]) {
        char *a[] = { (char *) op->driver->config.iso_binary, (char *) "-quiet", (char *) "-output", op->seed_iso,
                      (char *) "-volid", (char *) "cidata", (char *) "-joliet", (char *) "-rock", op->seed_user_data,
                      op->seed_meta_data, NULL };
        memcpy(argv, a, sizeof(a));
}

static void disk_argv(DriverOp *op, char *argv[static 12]) {
        char *a[] = { (char *) op->driver->config.img_binary, (char *) "create", (char *) "-q", (char *) "-f",
                      (char *) "qcow2", (char *) "-b", op->image_disk, (char *) "-F",
                      (char *) (endswith(op->image_disk, ".img") ? "raw" : "qcow2"), op->disk_file, op->disk_size, NULL };
        memcpy(argv, a, sizeof(a));
}

static int step_seed(DriverOp *op) {
        char *argv[11];

        seed_argv(op, argv);
        return run_helper(op, "seed", argv);
}

static int step_disk(DriverOp *op) {
        char *argv[12];

        disk_argv(op, argv);
        return run_helper(op, "disk", argv);
}

/* Remembers what a start needs (image, resources) beside the disk. */
static int write_vm_config(DriverOp *op) {
        char text[PATH_MAX + 128];

        snprintf(text, sizeof(text), "%" PRIi64 " %" PRIi64 " %u %s\n", op->resources.cpu, op->resources.memory,
                 op->ssh_port, op->image_base);
        return write_file(op->dir, "vm.conf", text);
}

static int read_vm_config(DriverOp *op) {
        _cleanup_free_ char *p = NULL;
        char line[PATH_MAX + 128];
        unsigned port;
        FILE *f;
        int r = -EBADMSG;

        if (asprintf(&p, "%s/vm.conf", op->dir) < 0)
                return -ENOMEM;
        f = fopen(p, "re");
        if (!f)
                return -errno;
        if (fgets(line, sizeof(line), f) &&
            sscanf(line, "%" SCNi64 " %" SCNi64 " %u %4095s", &op->resources.cpu, &op->resources.memory,
                   &port, op->image_base) == 4 && port > 0 && port <= 65535) {
                op->ssh_port = (uint16_t) port;
                r = 0;
        }
        fclose(f);
        return r;
}

/* The sandbox of golem-vm-NAME.service: qemu runs as root there (its files are root's), but
 * without any capability, sees the file system read-only except its own directory and its
 * QMP socket's, and reaches no device but /dev/kvm. Its group is the VMs' group, which the
 * network filter (VM_NETWORK_UNIT, required) knows the guest's connections by, and it runs in
 * the VMs' slice with limits from what was rented. */
static int append_vm_unit_properties(sd_bus_message *m, void *userdata) {
        DriverOp *op = userdata;
        bool kvm = !streq(op->driver->config.accel, "tcg");
        uint64_t cpus = (uint64_t) MAX(op->resources.cpu, (int64_t) 1);
        uint64_t memory = (uint64_t) MAX(op->resources.memory, (int64_t) 1) << 30;
        int k;

        k = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                                  "Group", "s", VM_NETWORK_GROUP,
                                  "Requires", "as", 1, VM_NETWORK_UNIT,
                                  "After", "as", 1, VM_NETWORK_UNIT,
                                  "Slice", "s", VM_NETWORK_SLICE,
                                  "CPUQuotaPerSecUSec", "t", cpus * USEC_PER_SEC + VM_CPU_ALLOWANCE_USEC,
                                  "MemoryMax", "t", memory + VM_MEMORY_OVERHEAD,
                                  "TasksMax", "t", VM_TASKS_BASE + cpus,
                                  "CPUWeight", "t", (uint64_t) VM_WEIGHT,
                                  "IOWeight", "t", (uint64_t) VM_WEIGHT);
        if (k < 0)
                return k;

        k = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                                  "CapabilityBoundingSet", "t", UINT64_C(0),
                                  "NoNewPrivileges", "b", 1,
                                  "ProtectSystem", "s", "strict",
                                  "ProtectHome", "s", "read-only",
                                  "ReadWritePaths", "as", 2, op->dir, op->driver->runtime_dir,
                                  "PrivateTmp", "b", 1,
                                  "ProtectKernelTunables", "b", 1,
                                  "ProtectKernelModules", "b", 1,
                                  "ProtectKernelLogs", "b", 1,
                                  "ProtectControlGroups", "b", 1,
                                  "RestrictSUIDSGID", "b", 1,
                                  "RestrictRealtime", "b", 1,
                                  "RestrictNamespaces", "t", UINT64_C(0) /* the namespaces allowed: none */,
                                  "LockPersonality", "b", 1,
                                  "DevicePolicy", "s", "closed");
        if (k >= 0 && kvm)
                k = sd_bus_message_append(m, "(sv)", "DeviceAllow", "a(ss)", 1, "/dev/kvm", "rw");
        if (k >= 0)
                k = sd_bus_message_append(m, "(sv)(sv)",
                                          "RestrictAddressFamilies", "(bas)", 1, 3, "AF_UNIX", "AF_INET", "AF_INET6",
                                          "UMask", "u", (uint32_t) 0077);
        return k;
}

static int step_boot(DriverOp *op) {
        QemuDriver *d = op->driver;
        _cleanup_free_ char *console = NULL, *qmp = NULL, *kernel = NULL, *initrd = NULL, *cmdline_file = NULL,
                            *disk = NULL, *seed = NULL, *net = NULL, *pidfile = NULL, *memory = NULL, *cpus = NULL,
                            *name = NULL, *unit = NULL, *qmp_socket = NULL;
        char append[512] = "";
        char *argv[64];
        size_t n = 0;
        FILE *f;

        if (asprintf(&console, "file:%s/console.log", op->dir) < 0 ||
            !(qmp_socket = qmp_path(d, op->name)) ||
            asprintf(&qmp, "unix:%s,server=on,wait=off", qmp_socket) < 0 ||
            asprintf(&kernel, "%s.vmlinux", op->image_base) < 0 ||
            asprintf(&initrd, "%s.initrd", op->image_base) < 0 ||
            asprintf(&cmdline_file, "%s.cmdline", op->image_base) < 0 ||
            asprintf(&disk, "file=%s/disk.qcow2,format=qcow2,if=virtio,cache=writeback,discard=unmap", op->dir) < 0 ||
            asprintf(&seed, "file=%s/seed.iso,format=raw,if=virtio,readonly=on", op->dir) < 0 ||
            asprintf(&net, "user,id=net0,hostfwd=tcp:%s:%u-:22",
                     streq(d->config.listen_host, "0.0.0.0") || streq(d->config.listen_host, "::") ? "" : d->config.listen_host,
                     op->ssh_port) < 0 ||
            asprintf(&pidfile, "%s/qemu.pid", op->dir) < 0 ||
            asprintf(&memory, "%" PRIi64 "M", op->resources.memory * 1024) < 0 ||
            asprintf(&cpus, "%" PRIi64, op->resources.cpu) < 0 ||
            asprintf(&name, "golem-%s", op->name) < 0 ||
            asprintf(&unit, "golem-vm-%s", op->name) < 0)
                return -ENOMEM;

        argv[n++] = (char *) d->config.binary;
        argv[n++] = (char *) "-name";
        argv[n++] = name;
        argv[n++] = (char *) "-machine";
        argv[n++] = (char *) "pc";
        argv[n++] = (char *) "-accel";
        if (streq(d->config.accel, "auto")) {
                /* KVM when the host offers it, else TCG (qemu falls back by itself) */
                argv[n++] = (char *) "kvm";
                argv[n++] = (char *) "-accel";
                argv[n++] = (char *) "tcg";
        } else
                argv[n++] = (char *) d->config.accel;
        argv[n++] = (char *) "-m";
        argv[n++] = memory;
        argv[n++] = (char *) "-smp";
        argv[n++] = cpus;
        argv[n++] = (char *) "-nodefaults";
        argv[n++] = (char *) "-no-user-config";
        argv[n++] = (char *) "-display";
        argv[n++] = (char *) "none";
        argv[n++] = (char *) "-serial";
        argv[n++] = console;
        argv[n++] = (char *) "-qmp";
        argv[n++] = qmp;
        /* Images without a boot loader come with their kernel (tools/mkimage). */
        if (access(kernel, R_OK) >= 0 && access(initrd, R_OK) >= 0) {
                f = fopen(cmdline_file, "re");
                if (f) {
                        if (!fgets(append, sizeof(append), f))
                                append[0] = 0;
                        append[strcspn(append, "\n")] = 0;
                        fclose(f);
                }
                argv[n++] = (char *) "-kernel";
                argv[n++] = kernel;
                argv[n++] = (char *) "-initrd";
                argv[n++] = initrd;
                argv[n++] = (char *) "-append";
                argv[n++] = append;
        }
        argv[n++] = (char *) "-drive";
        argv[n++] = disk;
        argv[n++] = (char *) "-drive";
        argv[n++] = seed;
        argv[n++] = (char *) "-netdev";
        argv[n++] = net;
        argv[n++] = (char *) "-device";
        argv[n++] = (char *) "virtio-net-pci,netdev=net0,romfile=";
        argv[n++] = (char *) "-device";
        argv[n++] = (char *) "virtio-rng-pci";
        /* qemu detaches once the VM is set up: the VM outlives us, its pid file says where. */
        argv[n++] = (char *) "-daemonize";
        argv[n++] = (char *) "-pidfile";
        argv[n++] = pidfile;
        argv[n] = NULL;

        char *make_seed[11], *make_disk[12];
        char *const *pre[] = { make_seed, make_disk, NULL };

        seed_argv(op, make_seed);
        disk_argv(op, make_disk);
        (void) unlink(pidfile);
        op->t_boot = now_monotonic();
        /* Under systemd: golem-vm-NAME.service; else the provider's child until qemu forks. */
        return runner_spawn(d->runner, &(RunnerSpawnParams) {
                        .description = unit,
                        .argv = argv,
                        .timeout = 120 * USEC_PER_SEC,
                        .on_done = on_command_done,
                        .userdata = op,
                        .log_output = true,
                        .pid_file = pidfile,
                        .exec_start_pre = op->prepare_in_unit ? pre : NULL,
                        .unit_properties = append_vm_unit_properties,
                }, &op->job);
}

/* ---- waiting for SSH: the guest is up once its SSH server says hello ---- */

/* Where the time went: bench/vm reads this line to tell the provider's share from the guest's. */
static void log_up(DriverOp *op) {
        usec_t now = now_monotonic();

        if (!op->t_boot || !op->t_booted) /* it was running already */
                return;
        log_struct(LOG_INFO,
                   "GOLEM_VM=%s", op->name,
                   "GOLEM_PREPARE_USEC=" USEC_FMT, op->t_boot - op->t_start,
                   "GOLEM_QEMU_START_USEC=" USEC_FMT, op->t_booted - op->t_boot,
                   "GOLEM_GUEST_BOOT_USEC=" USEC_FMT, now - op->t_booted,
                   "MESSAGE=VM %s is up after %.3f s: prepare %.3f s, qemu start %.3f s, guest boot to SSH %.3f s.",
                   op->name, (double) (now - op->t_start) / USEC_PER_SEC, (double) (op->t_boot - op->t_start) / USEC_PER_SEC,
                   (double) (op->t_booted - op->t_boot) / USEC_PER_SEC, (double) (now - op->t_booted) / USEC_PER_SEC);
}

static int on_probe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        DriverOp *op = userdata;
        char buf[8];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        op->probe_io = sd_event_source_disable_unref(op->probe_io);
        closep(&op->probe_fd);
        if (n >= 4 && memcmp(buf, "SSH-", 4) == 0) {
                pid_t pid = vm_pid(op->driver, op->name);

                if (pid)
                        vm_watch(op->driver, op->name, pid);
                log_up(op);
                op_finish(op, 0, NULL);
                return 0;
        }
        /* user networking accepts and hangs up until the guest listens: try again */
        op_later(op, PROBE_USEC);
        return 0;
}

static void probe_ssh(DriverOp *op) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(op->ssh_port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        const char *host = op->driver->config.listen_host;
        int fd;

        /* The forward listens on a specific address when one is configured. */
        if (!streq(host, "0.0.0.0") && !streq(host, "::"))
                (void) inet_pton(AF_INET, host, &sa.sin_addr);

        if (op->probe_fd >= 0)
                return;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                op_later(op, PROBE_USEC);
                return;
        }
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                close(fd);
                op_later(op, PROBE_USEC);
                return;
        }
        op->probe_fd = fd;
        if (sd_event_add_io(op->driver->event, &op->probe_io, fd, EPOLLIN | EPOLLRDHUP, on_probe, op) < 0) {
                closep(&op->probe_fd);
                op_later(op, PROBE_USEC);
                return;
        }
        /* Give this attempt a while, then start over. */
        op_later(op, 3 * USEC_PER_SEC);
}

static void step_wait_ssh(DriverOp *op) {
        if (now_monotonic() > op->deadline) {
                op_finish(op, -ETIMEDOUT, "The guest did not answer on SSH in time");
                return;
        }
        if (!vm_pid(op->driver, op->name)) {
                op_finish(op, -EIO, "qemu exited while the guest was booting (see console.log in its state directory)");
                return;
        }
        if (op->probe_fd >= 0) {
                /* the previous attempt took too long */
                op->probe_io = sd_event_source_disable_unref(op->probe_io);
                closep(&op->probe_fd);
        }
        probe_ssh(op);
}

/* ---- stopping: QMP system_powerdown, repeated, then a hard stop ---- */

static void forget_qmp_socket(DriverOp *op) {
        _cleanup_free_ char *p = qmp_path(op->driver, op->name);

        if (p)
                (void) unlink(p);
}

static void on_qmp_done(int r, void *userdata) {
        DriverOp *op = userdata;

        op->qmp = NULL;
        if (r < 0)
                log_debug("QMP command to the qemu of VM %s failed: %s", op->name, strerror(-r));
}

/* One QMP command, unless one is in flight; what it answers does not matter: the process
 * (its pid file) says whether the VM stopped. */
static void qmp_send(DriverOp *op, const char *command) {
        _cleanup_free_ char *path = qmp_path(op->driver, op->name);
        int r;

        if (op->qmp || !path)
                return;
        r = qmp_call(op->driver->event, path, command, QMP_TIMEOUT_USEC, on_qmp_done, op, &op->qmp);
        if (r < 0)
                log_debug("Cannot reach the QMP socket of VM %s: %s", op->name, strerror(-r));
}

static void step_kill(DriverOp *op);

static void step_powerdown(DriverOp *op) {
        pid_t pid = vm_pid(op->driver, op->name);
        usec_t now = now_monotonic();

        if (!pid) {
                op->step = STEP_KILL;
                op->deadline = now + GONE_TIMEOUT_USEC;
                step_kill(op);
                return;
        }
        if (op->kind == QOP_STOP && now < op->deadline) {
                /* A press early in the boot is lost: press again every few seconds. */
                if (now >= op->next_powerdown) {
                        qmp_send(op, "system_powerdown");
                        op->next_powerdown = now + POWERDOWN_REPEAT_USEC;
                }
                op_later(op, POLL_USEC);
                return;
        }
        /* Delete, or the guest did not power off in time: qemu is asked to quit (it closes
         * the disk cleanly), then killed. */
        qmp_call_cancel(op->qmp);
        op->qmp = NULL;
        qmp_send(op, "quit");
        op->step = STEP_QUIT;
        op->deadline = now + QUIT_GRACE_USEC;
        op_later(op, POLL_USEC / 5);
}

static void step_quit(DriverOp *op) {
        pid_t pid = vm_pid(op->driver, op->name);
        usec_t now = now_monotonic();

        if (pid && now < op->deadline) {
                op_later(op, POLL_USEC / 5);
                return;
        }
        if (pid) {
                log_notice("The qemu of VM %s did not quit, killing it.", op->name);
                (void) kill(pid, SIGKILL);
        }
        op->step = STEP_KILL;
        op->deadline = now + GONE_TIMEOUT_USEC;
        step_kill(op);
}

static void step_kill(DriverOp *op) {
        if (vm_pid(op->driver, op->name)) {
                if (now_monotonic() > op->deadline) {
                        op_finish(op, -EIO, "qemu did not exit after SIGKILL");
                        return;
                }
                op_later(op, POLL_USEC / 5);
                return;
        }
        forget_qmp_socket(op);
        if (op->kind == QOP_REMOVE) {
                int r = rm_rf(op->dir);
                if (r < 0) {
                        op_finish(op, r, "Could not remove the VM's disk and seed");
                        return;
                }
        }
        op_finish(op, 0, NULL);
}

static void op_step(DriverOp *op) {
        int r = 0;

        switch (op->step) {
        case STEP_DISK:
                if (op->progress)
                        op->progress(-1, "Creating the disk", op->userdata);
                r = step_disk(op);
                break;
        case STEP_BOOT:
                if (op->progress)
                        op->progress(-1, "Booting", op->userdata);
                r = write_vm_config(op);
                if (r >= 0)
                        r = step_boot(op);
                break;
        case STEP_WAIT_SSH:
                step_wait_ssh(op);
                return;
        case STEP_POWERDOWN:
                step_powerdown(op);
                return;
        case STEP_QUIT:
                step_quit(op);
                return;
        case STEP_KILL:
                step_kill(op);
                return;
        default:
                return;
        }
        if (r < 0)
                op_finish(op, r, "The hypervisor command could not be run");
}

static int qemu_launch(Driver *base, const DriverLaunchParams *p, DriverProgressFn progress, DriverDoneFn done,
                       void *userdata, DriverOp **ret) {
        QemuDriver *d = (QemuDriver *) base;
        DriverOp *op;
        int r;

        if (!vm_name_valid(p->name) || (p->ssh_key && !ssh_public_key_valid(p->ssh_key)))
                return -EINVAL;
        if (vm_exists(d, p->name))
                return -EEXIST;

        op = op_new(d, QOP_LAUNCH, p->name);
        if (!op)
                return -ENOMEM;
        op->done = done;
        op->progress = progress;
        op->userdata = userdata;
        op->ssh_port = p->ssh_port;
        op->resources = p->resources;
        op->t_start = now_monotonic();
        op->deadline = op->t_start + d->config.launch_timeout;
        r = image_lookup(d, p->image, op->image_base, op->image_disk);
        if (r < 0) {
                op_free(op);
                return -EINVAL;
        }
        if ((mkdir(d->state_root, 0700) < 0 && errno != EEXIST) || mkdir(op->dir, 0700) < 0) {
                r = -errno;
                op_free(op);
                return r;
        }

        snprintf(op->disk_size, sizeof(op->disk_size), "%" PRIi64 "G", op->resources.storage);
        r = write_seed(op, p);
        if (r >= 0 && runner_units_bus(d->runner)) {
                if (progress)
                        progress(-1, "Preparing and booting", userdata);
                op->prepare_in_unit = true;
                op->step = STEP_BOOT;
                r = write_vm_config(op);
                if (r >= 0)
                        r = step_boot(op);
        } else if (r >= 0) {
                if (progress)
                        progress(-1, "Writing the seed", userdata);
                op->step = STEP_SEED;
                r = step_seed(op);
        }
        if (r < 0) {
                (void) rm_rf(op->dir);
                op_free(op);
                return r;
        }
        *ret = op;
        return 0;
}

static int qemu_start(Driver *base, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        QemuDriver *d = (QemuDriver *) base;
        DriverOp *op;
        int r;

        if (!vm_name_valid(name))
                return -EINVAL;
        op = op_new(d, QOP_START, name);
        if (!op)
                return -ENOMEM;
        op->done = done;
        op->userdata = userdata;
        op->t_start = now_monotonic();
        op->deadline = op->t_start + d->config.launch_timeout;
        r = read_vm_config(op);
        if (r < 0 || !vm_exists(d, name)) {
                op_free(op);
                return -ENOENT;
        }
        if (vm_pid(d, name)) {
                /* Running already: starting it twice would corrupt its disk. */
                op->step = STEP_WAIT_SSH;
                op_later(op, 0);
        } else {
                op->step = STEP_BOOT;
                r = step_boot(op);
                if (r < 0) {
                        op_free(op);
                        return r;
                }
        }
        *ret = op;
        return 0;
}

static int stop_or_remove(Driver *base, QemuOpKind kind, const char *name, DriverDoneFn done, void *userdata,
                          DriverOp **ret) {
        QemuDriver *d = (QemuDriver *) base;
        DriverOp *op;

        if (!vm_name_valid(name))
                return -EINVAL;
        if (!vm_exists(d, name))
                return -ENOENT;
        op = op_new(d, kind, name);
        if (!op)
                return -ENOMEM;
        op->done = done;
        op->userdata = userdata;
        op->deadline = now_monotonic() + POWERDOWN_GRACE_USEC;
        op->step = STEP_POWERDOWN;
        op_later(op, 0);
        *ret = op;
        return 0;
}

static int qemu_stop(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return stop_or_remove(d, QOP_STOP, name, done, userdata, ret);
}

static int qemu_remove(Driver *d, const char *name, DriverDoneFn done, void *userdata, DriverOp **ret) {
        return stop_or_remove(d, QOP_REMOVE, name, done, userdata, ret);
}

static void vm_describe(QemuDriver *d, const char *name, DriverVM *ret) {
        pid_t pid = vm_pid(d, name);

        /* name passed vm_name_valid(): it fits (MIN() only tells the compiler so). */
        size_t n = MIN(strlen(name), sizeof(ret->name) - 1);

        *ret = (DriverVM) {};
        memcpy(ret->name, name, n);
        if (pid) {
                vm_watch(d, name, pid);
                ret->state = DRIVER_VM_RUNNING;
                strcpy(ret->ip_address, GUEST_ADDRESS);
        } else
                ret->state = DRIVER_VM_STOPPED;
}

/* info and list are answered from the file system, on the next loop iteration. */
static int on_defer(sd_event_source *s, void *userdata) {
        DriverOp *op = userdata;
        QemuDriver *d = op->driver;
        DriverInfoFn info_done = op->info_done;
        DriverListFn list_done = op->list_done;
        void *u = op->userdata;

        if (op->kind == QOP_INFO) {
                DriverVM vm;
                bool exists = vm_exists(d, op->name);

                if (exists)
                        vm_describe(d, op->name, &vm);
                op_free(op);
                if (exists)
                        info_done(0, NULL, &vm, u);
                else
                        info_done(-ENOENT, "No such VM", NULL, u);
                return 0;
        }

        DriverVM *vms = NULL;
        size_t n = 0, allocated = 0;
        DIR *dir = opendir(d->state_root);
        struct dirent *de;

        while (dir && (de = readdir(dir))) {
                if (!vm_name_valid(de->d_name) || !vm_exists(d, de->d_name))
                        continue;
                if (n >= allocated) {
                        DriverVM *a = realloc(vms, (allocated = MAX(allocated * 2, (size_t) 8)) * sizeof(DriverVM));
                        if (!a)
                                break;
                        vms = a;
                }
                vm_describe(d, de->d_name, vms + n++);
        }
        if (dir)
                closedir(dir);
        op_free(op);
        list_done(0, NULL, vms, n, u);
        free(vms);
        return 0;
}

/* info and list: an operation answered on the next loop iteration (on_defer). */
static int defer_op(QemuDriver *d, QemuOpKind kind, const char *name, DriverInfoFn info_done,
                    DriverListFn list_done, void *userdata, DriverOp **ret) {
        DriverOp *op = op_new(d, kind, name);

        if (!op)
                return -ENOMEM;
        op->info_done = info_done;
        op->list_done = list_done;
        op->userdata = userdata;
        if (sd_event_add_defer(d->event, &op->defer, on_defer, op) < 0) {
                op_free(op);
                return -ENOMEM;
        }
        if (ret)
                *ret = op;
        return 0;
}

static int qemu_info(Driver *base, const char *name, DriverInfoFn done, void *userdata, DriverOp **ret) {
        if (!vm_name_valid(name))
                return -EINVAL;
        return defer_op((QemuDriver *) base, QOP_INFO, name, done, NULL, userdata, ret);
}

static int qemu_list(Driver *base, DriverListFn done, void *userdata, DriverOp **ret) {
        return defer_op((QemuDriver *) base, QOP_LIST, NULL, NULL, done, userdata, ret);
}

static void qemu_free(Driver *base) {
        QemuDriver *d = (QemuDriver *) base;

        if (!d)
                return;
        while (d->watches)
                watch_free(d, d->watches);
        sd_event_unref(d->event);
        free((char *) d->config.binary);
        free((char *) d->config.img_binary);
        free((char *) d->config.iso_binary);
        free((char *) d->config.image_dir);
        free((char *) d->config.data_dir);
        free((char *) d->config.listen_host);
        free((char *) d->config.accel);
        free(d->state_root);
        free(d->runtime_dir);
        free(d);
}

static void on_keys_done(RunnerJob *job, const RunnerResult *res, void *userdata) {
        DriverOp *op = userdata;
        char message[512];

        op->job = NULL;
        if (res->exit_status == 0) {
                op_finish(op, 0, NULL);
                return;
        }
        snprintf(message, sizeof(message), "Changing the keys in the guest failed (ssh status %d): %.*s",
                 res->exit_status, (int) strcspn(strempty(res->err), "\n"), strempty(res->err));
        op_finish(op, res->timed_out ? -ETIMEDOUT : -EIO, message);
}

/* ssh (an argv, no shell of ours) into the guest through its forwarded port with the VM's
 * management key, which stays in the list; the guest's shell replaces the file whole. */
static int qemu_set_keys(Driver *base, const char *name, const char *authorized_keys, DriverDoneFn done,
                         void *userdata, DriverOp **ret) {
        QemuDriver *d = (QemuDriver *) base;
        _cleanup_free_ char *key = NULL, *pub = NULL, *input = NULL, *management = NULL;
        _cleanup_(ssh_key_freep) SshKey *k = NULL;
        const char *host = d->config.listen_host;
        char port[8], description[128];
        DriverOp *op;
        int r;

        if (!vm_name_valid(name))
                return -EINVAL;
        op = op_new(d, QOP_KEYS, name);
        if (!op)
                return -ENOMEM;
        op->done = done;
        op->userdata = userdata;
        key = vm_path(d, name, MANAGEMENT_KEY);
        r = key ? read_vm_config(op) : -ENOMEM;
        if (r >= 0)
                r = ssh_key_load_public(key, &k);
        if (r == -ENOENT)
                r = -EOPNOTSUPP; /* made before VMs had a management key */
        if (r >= 0)
                r = ssh_key_to_public_line(k, &management);
        if (r >= 0 && asprintf(&input, "%s%s\n", authorized_keys, management) < 0)
                r = -ENOMEM;
        if (r < 0) {
                op_free(op);
                return r;
        }
        if (streq(host, "0.0.0.0") || streq(host, "::"))
                host = "127.0.0.1";
        snprintf(port, sizeof(port), "%u", op->ssh_port);
        snprintf(description, sizeof(description), "golem-vm-%s-keys", name);

        char *argv[] = {
                (char *) SSH_BINARY, (char *) "-F", (char *) "/dev/null", (char *) "-i", key, (char *) "-p", port,
                (char *) "-o", (char *) "BatchMode=yes", (char *) "-o", (char *) "IdentitiesOnly=yes",
                (char *) "-o", (char *) "ConnectTimeout=20",
                /* The port is qemu's forward on our own address, to this VM alone. */
                (char *) "-o", (char *) "StrictHostKeyChecking=no", (char *) "-o", (char *) "UserKnownHostsFile=/dev/null",
                (char *) "-o", (char *) "LogLevel=ERROR", (char *) "-l", (char *) GUEST_USER, (char *) host,
                (char *) "umask 077 && mkdir -p .ssh && cat >.ssh/authorized_keys.new && mv .ssh/authorized_keys.new .ssh/authorized_keys",
                NULL };
        r = runner_spawn(d->runner, &(RunnerSpawnParams) {
                        .description = description,
                        .argv = argv,
                        .input = input,
                        .input_size = strlen(input),
                        .timeout = KEYS_TIMEOUT_USEC,
                        .on_done = on_keys_done,
                        .userdata = op,
                        .direct = true,
                }, &op->job);
        if (r < 0) {
                op_free(op);
                return r;
        }
        *ret = op;
        return 0;
}

static const DriverOps qemu_ops = {
        .name = "qemu",
        .launch = qemu_launch,
        .start = qemu_start,
        .stop = qemu_stop,
        .remove = qemu_remove,
        .info = qemu_info,
        .list = qemu_list,
        .set_keys = qemu_set_keys,
        .cancel = qemu_cancel,
        .free = qemu_free,
        .image_check = qemu_image_check,
        .forwards_ssh = true,
        .poll_interval = 5 * USEC_PER_SEC,
        .launch_cancellable = true,
};

int driver_qemu_new(sd_event *event, Runner *runner, const QemuConfig *c, Driver **ret) {
        QemuDriver *d;

        if (!c->binary || !c->img_binary || !c->iso_binary || !c->image_dir || !c->data_dir)
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->base.ops = &qemu_ops;
        d->event = sd_event_ref(event);
        d->runner = runner;
        d->config = (QemuConfig) {
                .binary = strdup(c->binary),
                .img_binary = strdup(c->img_binary),
                .iso_binary = strdup(c->iso_binary),
                .image_dir = strdup(c->image_dir),
                .data_dir = strdup(c->data_dir),
                .listen_host = strdup(c->listen_host ?: "0.0.0.0"),
                .accel = strdup(c->accel ?: "tcg"),
                .launch_timeout = c->launch_timeout ?: 600 * USEC_PER_SEC,
        };
        if (asprintf(&d->state_root, "%s/qemu", c->data_dir) < 0)
                d->state_root = NULL;
        {
                /* RuntimeDirectory= under systemd, else /run/golem-provider; the state directory
                 * only when neither can be had (its path may be too long for a socket). */
                const char *rt = getenv("RUNTIME_DIRECTORY");

                d->runtime_dir = strdup(rt && rt[0] == '/' ? rt : "/run/golem-provider");
                if (d->runtime_dir) {
                        d->runtime_dir[strcspn(d->runtime_dir, ":")] = 0;
                        if (mkdir(d->runtime_dir, 0700) < 0 && errno != EEXIST) {
                                free(d->runtime_dir);
                                d->runtime_dir = d->state_root ? strdup(d->state_root) : NULL;
                        }
                }
        }
        if (!d->config.binary || !d->config.img_binary || !d->config.iso_binary || !d->config.image_dir ||
            !d->config.data_dir || !d->config.listen_host || !d->config.accel || !d->state_root || !d->runtime_dir) {
                qemu_free(&d->base);
                return -ENOMEM;
        }
        *ret = &d->base;
        return 0;
}
