#!/usr/bin/env python3
"""End-to-end tests of golem-providerd's qemu driver with real VMs: the
golem-mini guest that tools/mkimage builds, booted under qemu with TCG, reached
over SSH through the port qemu's user networking forwards.

    test-qemu.py --binary golem-providerd --golemctl golemctl \\
                 --discovery golem-discoveryd --mkimage tools/mkimage \\
                 --images BUILDDIR/images [CASE]

Each case runs its own golem-discoveryd and golem-providerd (driver qemu,
GOLEM_PROVIDER_QEMU_ACCEL=tcg: KVM is not assumed) on free ports of 127.0.0.1
(listen_address: of another loopback address), with VMs of size small (1 CPU,
1 GB, 10 GB), and golemctl with HOME and the XDG directories in temp dirs.
The image is built (or found up to date, ~1 s) with tools/mkimage into
--images by every case (mkimage locks the dir, so cases run in parallel).
When a case ends, its daemons are killed, then every process whose command
line names the case's own VM_DATA_DIR (the qemu of its VMs, which outlive the
provider on purpose) and every qemu whose pid is in a qemu.pid there.  Each
case prints a line "TIMES case: step N.Ns, ..." with its durations.

Cases (``--list``):
  hostname_and_persistence  hostname from the seed, resources, a file kept
                            across an ACPI stop and a start, destroy
  adopt_after_kill9         VMs outlive a SIGKILLed provider and are adopted
                            (the same qemu, no second one); stop and delete
                            of adopted VMs; a VM its renter stopped stays
                            stopped across a crash (not restored)
  two_keys                  two requestors' VMs: each key opens its own only
  missing_image             422 listing the images there are
  destroy_stopped           destroying a stopped VM removes its disk; the
                            name makes a fresh VM
  listen_address            a provider on an address other than 127.0.0.1
  long_name                 a 63-character VM name
  launch_failure            qemu cannot start: clear 500, nothing left over
  stop_ignored              a guest ignoring the power button is stopped
                            hard after the grace period, its disk intact
  qemu_dies                 qemu gone behind the provider's back: killed
                            with the provider (restored at the next start,
                            its file there), poweroff in the guest
  delete_while_creating     a DELETE during the boot gives the launch up:
                            qemu gone, nothing left, the job failed
  same_name_two_providers   two providers on one host with a VM of the same
                            name: each one's stop and delete touch its own
  added_key                 a VM created without a key; POST .../ssh-keys
                            adds key B to the running guest (ssh with the
                            VM's management key): B logs in, across a stop
                            and a start; removed, B is refused

Needs qemu-system-x86_64, qemu-img, genisoimage, ssh and ssh-keygen (Debian:
qemu-system-x86 qemu-utils genisoimage openssh-client); fails with a clear
message without them.  A TCG boot takes 5-15 s on an idle host, more when
cases run side by side; the deadlines allow for that.
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
import golemworld  # noqa: E402
from golemworld import (  # noqa: E402
    PATHS, VMS, case, expect, expect_eq, expect_refused, http, kill_pids,
    loopback_ip, main, make_key, make_tempdir, on_cleanup, other_pids,
    port_range, proc_argv, provider, run_ssh, start_discovery,
    wait_advertised, wait_for)

IMAGE = "golem-mini"
SMALL = {"cpu": 1, "memory": 1, "storage": 10}
CAPACITY = {"cpu": 4, "memory": 8, "storage": 100}
GIB = 1024 ** 3
STOP_DEADLINE = 60      # seconds from a stop request to qemu's exit
CREATE_TIMEOUT = 240    # seconds golemctl may take to create (the provider gives up at 180)


# --------------------------------------------------------------------------
# small helpers


def rand(n=6):
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                   for _ in range(n))


class Timings:
    """Named durations, printed as one line when the case ends."""

    def __init__(self, name):
        self.name = name
        self.items = []
        on_cleanup(self.report)

    def measure(self, label, fn, *args, **kw):
        t = time.monotonic()
        try:
            return fn(*args, **kw)
        finally:
            self.items.append((label, time.monotonic() - t))

    def report(self):
        if self.items:
            print(f"TIMES {self.name}: " + ", ".join(
                f"{label} {secs:.1f}s" for label, secs in self.items),
                flush=True)


# --------------------------------------------------------------------------
# the image


def need_programs():
    missing = [p for p in ("qemu-system-x86_64", "qemu-img", "genisoimage",
                           "ssh", "ssh-keygen") if not shutil.which(p)]
    expect(not missing, f"missing programs: {' '.join(missing)} (apt-get "
           "install qemu-system-x86 qemu-utils genisoimage openssh-client)")


def build_image():
    """tools/mkimage IMAGES (idempotent: ~1 s when the image is up to
    date).  Returns the image dir."""
    need_programs()
    images = PATHS["images"]
    # (tools/mkimage locks IMAGES itself: parallel cases take turns.)
    proc = subprocess.run([PATHS["mkimage"], images],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=900)
    expect_eq(proc.returncode, 0, "tools/mkimage exit code (stdout "
              f"{proc.stdout.decode(errors='replace')!r}, stderr "
              f"{proc.stderr.decode(errors='replace')!r})")
    for ext in ("qcow2", "vmlinux", "initrd", "cmdline"):
        path = os.path.join(images, f"{IMAGE}.{ext}")
        expect(os.path.isfile(path), f"tools/mkimage made no {path}")
    return images


# --------------------------------------------------------------------------
# processes


def pids_naming(path):
    """Every live process (not this one) whose command line names ``path``
    (or something under it)."""
    found = []
    for pid in other_pids():
        argv = proc_argv(pid)
        if argv and any(path == a or path + "/" in a for a in argv):
            found.append(pid)
    return sorted(found)


def is_qemu(pid):
    argv = proc_argv(pid)
    return bool(argv) and os.path.basename(argv[0]).startswith("qemu-system")


def qemu_pids(state_dir):
    """The qemu-system processes of the VM whose state dir is ``state_dir``."""
    return [p for p in pids_naming(state_dir) if is_qemu(p)]


def alive(pid):
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_own(data_dir):
    """SIGKILL every process whose command line names ``data_dir`` (ours: a
    temp dir of this case) and every qemu whose pid is in a qemu.pid under
    it.  Runs after the case's daemons are dead."""
    victims = set(pids_naming(data_dir))
    qemu_dir = os.path.join(data_dir, "qemu")
    for name in os.listdir(qemu_dir) if os.path.isdir(qemu_dir) else ():
        try:
            with open(os.path.join(qemu_dir, name, "qemu.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if is_qemu(pid):
            victims.add(pid)
    kill_pids(victims)
    for pid in victims:
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


# --------------------------------------------------------------------------
# daemons


class Provider:
    """golem-providerd (``daemon``, whose REST helpers and addresses this
    answers for too) with the qemu driver on ``host`` (127.0.0.1 unless
    given; a free port), advertising to ``discovery`` with ``host`` as its
    public address (the advertisement is there, verified, once this
    returns: its ``id`` is its key's); VMs' SSH ports from a free block."""

    def __init__(self, binary, discovery, images, name="providerd",
                 host="127.0.0.1", **settings):
        self.generation = 0
        self.daemon = provider(
            binary, name=name, host=host, capacity=CAPACITY,
            discovery=discovery, NAME=f"prov-{rand()}", COUNTRY="SE",
            DRIVER="qemu", IMAGE_DIR=images, QEMU_ACCEL="tcg",
            DEFAULT_VM_IMAGE=IMAGE, LAUNCH_TIMEOUT_SEC=180, **settings)
        self.data = self.daemon.data_dir()
        on_cleanup(lambda: kill_own(self.data))
        self._start()
        self.id = self.provider_id()
        expect_eq(wait_advertised(discovery, self.id)["verified"], True,
                  f"{name}'s advertisement verified")

    def __getattr__(self, name):  # url, host, port, ssh_range, vm(), info()...
        if name == "daemon":
            raise AttributeError(name)
        return getattr(self.daemon, name)

    def _start(self):
        self.daemon.start().wait_ready(timeout=30)
        expect_eq(self.info()["driver"], "qemu", "the provider's driver")

    def restart(self):
        """A new golem-providerd on the same port, VM_DATA_DIR and settings
        (the old one must be dead)."""
        expect(not self.daemon.running(), "restart: the old provider runs")
        self.generation += 1
        self.daemon = self.daemon.respawn(
            f"{self.daemon.name}-{self.generation}", same_port=True)
        # The listening socket of a SIGKILLed process is gone at once; still,
        # give the port a moment should it not be.
        for attempt in range(20):
            try:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((self.host, self.port))
                break
            except OSError:
                time.sleep(0.25)
        self._start()

    def state_dir(self, name):
        return os.path.join(self.data, "qemu", name)

    def qemu_pid(self, name):
        """The one qemu of VM ``name``; checks qemu.pid names it."""
        state = self.state_dir(name)
        pids = qemu_pids(state)
        expect_eq(len(pids), 1, f"qemu processes naming {state} ({pids})")
        try:
            with open(os.path.join(state, "qemu.pid")) as f:
                recorded = int(f.read().strip())
        except (OSError, ValueError) as e:
            raise AssertionError(f"{state}/qemu.pid: {e!r}")
        expect_eq(recorded, pids[0], f"{state}/qemu.pid")
        return pids[0]

    def console(self, name):
        try:
            with open(os.path.join(self.state_dir(name), "console.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def console_tail(self, name, lines=25):
        text = self.console(name).rstrip()
        if not text:
            return ""
        return (f"\n--- console of {name} ---\n"
                + "\n".join(text.split("\n")[-lines:]))


# --------------------------------------------------------------------------
# golemctl and ssh


class Requestor(golemworld.Requestor):
    """One user of golemctl, of ``provider`` through ``discovery``: HOME and
    XDG dirs of its own, a key of its own (made by golemctl on the first
    create), which ``provider``'s REST helpers sign with from now on (so
    that they see its VMs)."""

    def __init__(self, discovery, provider, name="requestor"):
        super().__init__(discovery, name, timeout=CREATE_TIMEOUT, env={
            "TERM": "dumb",
            "GOLEM_REQUESTOR_PROVIDER_PORT": str(provider.port)})
        provider.daemon.key = self.generated_key

    def ssh(self, name, *command, user="root", key=None, timeout=90):
        """golemctl vm ssh NAME --user USER -- COMMAND; (code, out, err)."""
        args = ["vm", "ssh", name, "--user", user]
        if key:
            args += ["--ssh-key", key]
        return self.run(*args, "--", *command, timeout=timeout)

    def ssh_ok(self, name, *command, provider=None, **kw):
        code, out, err = self.ssh(name, *command, **kw)
        expect_eq(code, 0, f"golemctl vm ssh {name} -- {' '.join(command)}: "
                  f"exit code (stdout {out!r}, stderr {err!r})"
                  + (provider.console_tail(name) if provider else ""))
        return out


def raw_ssh(port, key, *command, user="root"):
    """Plain ssh to 127.0.0.1:port with only ``key``; (code, out, err)."""
    proc = run_ssh(key, port, *command, user=user)
    return (proc.returncode, proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"))


def expect_banner(port, what, host="127.0.0.1"):
    """The port answers with an SSH banner (the guest's dropbear)."""
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.settimeout(10)
            banner = s.recv(256)
    except OSError as e:
        raise AssertionError(f"{what}: no SSH banner on port {port}: {e!r}")
    expect(banner.startswith(b"SSH-2.0-"), f"{what}: port {port} answered "
           f"{banner!r}, not an SSH banner")


# --------------------------------------------------------------------------
# the start of a case, and checks shared by the cases


def begin(case_name):
    """What a case that boots guests starts with: its Timings, the image
    (built, or found up to date) and a golem-discoveryd; returns (timings,
    image dir, discovery)."""
    timings = Timings(case_name)
    images = timings.measure("mkimage", build_image)
    return timings, images, start_discovery()


def one_provider(case_name, binary):
    """begin(), then a provider and a requestor of it; returns (timings,
    image dir, provider, requestor)."""
    timings, images, disc = begin(case_name)
    prov = Provider(binary, disc, images)
    return timings, images, prov, Requestor(disc, prov)


def create(req, prov, name, timings, *extra):
    """golemctl vm create NAME --size small; checks the VM runs in a qemu of
    its own with the state dir of the convention.  Returns the VM."""
    code, out, err = timings.measure(f"create {name}", req.run, "vm",
                                     "create", name, "--size", "small", *extra)
    expect_eq(code, 0, f"golemctl vm create {name}: exit code (stdout "
              f"{out!r}, stderr {err!r})" + prov.console_tail(name))
    vm = prov.signed(req.generated_key).vm(name)
    expect(vm is not None, f"{name} not on the provider after create")
    expect_eq(vm["status"], "running", f"{name} status after create")
    expect_eq(vm["resources"], SMALL, f"{name} resources")
    expect_eq(vm["image"], IMAGE, f"{name} image (the default)")
    lo, hi = prov.ssh_range
    expect(isinstance(vm["ssh_port"], int) and lo <= vm["ssh_port"] <= hi,
           f"{name} ssh_port {vm['ssh_port']!r} not in {lo}-{hi}")
    state = prov.state_dir(name)
    for f in ("disk.qcow2", "seed.iso", "qemu.pid", "console.log"):
        expect(os.path.exists(os.path.join(state, f)),
               f"{state}/{f} missing after create: "
               + (str(sorted(os.listdir(state))) if os.path.isdir(state)
                  else "no such directory"))
    pid = prov.qemu_pid(name)
    argv = " ".join(proc_argv(pid) or [])
    expect(re.search(r"-accel[ =]tcg|accel=tcg", argv),
           f"{name}: qemu not told to use TCG: {argv}")
    expect_banner(vm["ssh_port"], f"{name} after create", host=prov.host)
    return vm


def expect_gone(prov, name, port, what, key=None):
    """VM ``name`` is deleted: no qemu, its port refuses, no state dir, 404
    (to its owner's ``key`` when given)."""
    state = prov.state_dir(name)
    wait_for(f"{what}: the qemu of {name} to exit",
             lambda: not qemu_pids(state), timeout=10)
    expect_refused(prov.host, port, f"{what}: {name}'s SSH port")
    expect(not os.path.exists(state), f"{what}: {state} still exists: "
           f"{sorted(os.listdir(state)) if os.path.isdir(state) else ''}")
    expect((prov.signed(key) if key else prov).vm(name) is None,
           f"{what}: the provider still lists {name}")


def expect_stopped(prov, name, pid, port, t0, what):
    """After a stop that began at ``t0``: the qemu ``pid`` exits within
    STOP_DEADLINE s of it, by the guest powering off (its console says it shut
    down), and the SSH port refuses."""
    wait_for(f"{what}: qemu {pid} of {name} to exit",
             lambda: not alive(pid),
             timeout=max(1, STOP_DEADLINE - (time.monotonic() - t0)))
    expect_eq(qemu_pids(prov.state_dir(name)), [], f"{what}: qemu of {name}")
    expect("golem-mini: shutting down" in prov.console(name),
           f"{what}: the guest did not shut down by itself (ACPI powerdown)"
           + prov.console_tail(name))
    expect_refused(prov.host, port,
                   f"{what}: {name}'s SSH port while stopped")


def start_keeps_file(req, prov, name, token, timings, label, what):
    """golemctl vm start NAME (timed as ``label``); /root/persist.txt, which
    the case wrote before, still holds ``token``."""
    timings.measure(label, req.ok, "vm", "start", name)
    out = req.ssh_ok(name, "cat /root/persist.txt", provider=prov)
    expect_eq(out.strip(), token, what)


def destroy(req, prov, name, port, timings):
    timings.measure(f"destroy {name}", req.ok, "vm", "destroy", name)
    expect_gone(prov, name, port, f"after destroying {name}",
                key=req.generated_key)
    expect(name not in req.records(), f"golemctl still records {name}")


# --------------------------------------------------------------------------
# cases


@case
def hostname_and_persistence(binary):
    """The VM's hostname comes from the seed; it has the resources asked for;
    a file written survives a stop (ACPI: the guest powers off, qemu exits by
    itself) and a start on the same disk, with the same host key; destroy
    leaves no qemu, no open port and no state dir."""
    timings, images, prov, req = one_provider("hostname_and_persistence", binary)
    name = f"t-{rand()}"

    vm = create(req, prov, name, timings)
    port = vm["ssh_port"]

    # The hostname comes from the seed; both users take the key.
    out = timings.measure("ssh hostname", req.ssh_ok, name, "hostname",
                          provider=prov)
    expect_eq(out.strip(), name, "the guest's hostname")
    out = req.ssh_ok(name, "id", "-un", user="ubuntu", provider=prov)
    expect_eq(out.strip(), "ubuntu", "id -un as ubuntu")

    # The resources asked for: 1 CPU, 1 GB of memory, a 10 GB disk.
    out = req.ssh_ok(name, "nproc; grep MemTotal /proc/meminfo; df -k / | "
                     "tail -n 1", provider=prov)
    lines = out.strip().split("\n")
    expect_eq(lines[0].strip(), "1", "nproc in the guest")
    mem_kib = int(re.search(r"MemTotal:\s+(\d+) kB", lines[1]).group(1))
    expect(800 * 1024 < mem_kib <= 1024 * 1024,
           f"MemTotal {mem_kib} kB in the guest, not about 1 GiB")
    root_kib = int(lines[2].split()[1])
    expect(9 * GIB // 1024 < root_kib <= 10 * GIB // 1024,
           f"/ is {root_kib} KiB in the guest, not about 10 GiB: {lines[2]!r}")
    info = subprocess.run(["qemu-img", "info", "-U", "--output=json",
                           os.path.join(prov.state_dir(name), "disk.qcow2")],
                          capture_output=True, text=True)
    expect_eq(info.returncode, 0, f"qemu-img info: {info.stderr}")
    disk = json.loads(info.stdout)
    expect_eq(disk["virtual-size"], 10 * GIB, "disk.qcow2 virtual size")
    expect_eq(os.path.realpath(disk.get("full-backing-filename", "")),
              os.path.realpath(os.path.join(images, IMAGE + ".qcow2")),
              "disk.qcow2's backing file")

    token = rand(24)
    req.ssh_ok(name, f"echo {token} >/root/persist.txt && sync",
               provider=prov)

    # Stop: the guest powers off; qemu exits by itself.
    pid = prov.qemu_pid(name)
    t0 = time.monotonic()
    timings.measure("stop", req.ok, "vm", "stop", name)
    expect_stopped(prov, name, pid, port, t0, "after stop")
    expect_eq(prov.vm(name)["status"], "stopped", "status after stop")
    code, out, err = req.ssh(name, "true")
    expect(code != 0 and f"VM {name} is stopped" in err,
           f"vm ssh to a stopped VM: {code} {err!r}")
    expect(os.path.exists(os.path.join(prov.state_dir(name), "disk.qcow2")),
           "the disk is gone after stop")

    # Start: the same disk (the file, and the host key golemctl pinned).
    timings.measure("start", req.ok, "vm", "start", name)
    vm = prov.vm(name)
    expect_eq(vm["status"], "running", "status after start")
    expect_eq(vm["ssh_port"], port, "ssh_port after start")
    new_pid = prov.qemu_pid(name)
    expect(new_pid != pid, "start: the old qemu pid is back")
    out = req.ssh_ok(name, "cat /root/persist.txt; hostname", provider=prov)
    expect_eq(out.split(), [token, name],
              "the file written before the stop, and the hostname")

    destroy(req, prov, name, port, timings)
    expect_eq(prov.info()["available_resources"], CAPACITY,
              "free resources after destroy")


@case
def adopt_after_kill9(binary):
    """VMs outlive a provider killed with SIGKILL (SSH keeps working: qemu
    forwards it) and the next provider on the same VM_DATA_DIR adopts them:
    listed running, the same qemu and no second one.  Adopted VMs can be
    deleted and stopped; a stopped VM stays stopped across another crash."""
    timings, _, prov, req = one_provider("adopt_after_kill9", binary)
    a, b = f"t-{rand()}", f"t-{rand()}"
    port_a = create(req, prov, a, timings)["ssh_port"]
    port_b = create(req, prov, b, timings)["ssh_port"]
    token = rand(24)
    req.ssh_ok(b, f"echo {token} >/root/persist.txt && sync", provider=prov)
    pid_a, pid_b = prov.qemu_pid(a), prov.qemu_pid(b)

    # The provider dies without a word; its VMs live on, and so does SSH
    # (qemu forwards the port itself).
    prov.daemon.kill9()
    time.sleep(1)
    expect(alive(pid_a) and alive(pid_b), "the VMs died with the provider")
    code, out, err = raw_ssh(port_a, req.generated_key, "hostname")
    expect_eq((code, out.strip()), (0, a),
              f"ssh to {a} while the provider is down ({err!r})")

    # A new provider on the same state adopts them: the same qemu, no other.
    timings.measure("restart", prov.restart)
    for name, pid in ((a, pid_a), (b, pid_b)):
        vm = wait_for(f"{name} to be listed running",
                      lambda: (prov.vm(name) or {}).get("status") == "running"
                      and prov.vm(name), timeout=30)
        expect_eq(prov.qemu_pid(name), pid, f"the qemu of {name} after restart")
    time.sleep(3)  # nothing launches a second one a little later
    expect_eq(qemu_pids(prov.state_dir(a)), [pid_a], f"qemu of {a}, 3 s on")
    expect_eq(qemu_pids(prov.state_dir(b)), [pid_b], f"qemu of {b}, 3 s on")
    expect_eq(sorted(v["name"] for v in prov.vms()), sorted([a, b]),
              "the VMs listed after restart")
    expect_eq(prov.info()["available_resources"],
              {"cpu": CAPACITY["cpu"] - 2, "memory": CAPACITY["memory"] - 2,
               "storage": CAPACITY["storage"] - 20},
              "free resources after restart")
    out = req.ssh_ok(a, "hostname", provider=prov)
    expect_eq(out.strip(), a, f"hostname of {a} after restart")

    # Delete an adopted VM (not the provider's child).
    destroy(req, prov, a, port_a, timings)

    # Stop an adopted VM: ACPI powerdown, qemu exits.
    t0 = time.monotonic()
    timings.measure(f"stop adopted {b}", req.ok, "vm", "stop", b)
    expect_stopped(prov, b, pid_b, port_b, t0, f"after stopping adopted {b}")

    # A stopped VM across another crash: stays stopped, no qemu appears.
    prov.daemon.kill9()
    prov.restart()
    wait_for(f"{b} listed stopped after the second restart",
             lambda: (prov.vm(b) or {}).get("status") == "stopped", timeout=30)
    time.sleep(2)
    expect_eq(qemu_pids(prov.state_dir(b)), [], f"qemu of stopped {b}")

    timings.measure(f"start {b}", req.ok, "vm", "start", b)
    prov.qemu_pid(b)
    out = req.ssh_ok(b, "cat /root/persist.txt; hostname", provider=prov)
    expect_eq(out.split(), [token, b], f"{b}'s file and hostname after start")
    destroy(req, prov, b, port_b, timings)
    expect_eq(prov.vms(), [], "no VMs left")
    expect_eq(prov.info()["available_resources"], CAPACITY,
              "free resources at the end")


@case
def two_keys(binary):
    """Two requestors create VMs at once: each one's key opens its own VM
    (root and ubuntu) and not the other's."""
    timings, images, disc = begin("two_keys")
    prov = Provider(binary, disc, images)
    alice = Requestor(disc, prov, name="alice")
    bob = Requestor(disc, prov, name="bob")
    va, vb = f"t-{rand()}", f"t-{rand()}"

    # Both at once.
    t0 = time.monotonic()
    procs = [(va, alice.popen("vm", "create", va, "--size", "small")),
             (vb, bob.popen("vm", "create", vb, "--size", "small"))]
    for name, proc in procs:
        try:
            out, err = proc.communicate(timeout=CREATE_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        expect_eq(proc.returncode, 0, f"golemctl vm create {name}: exit code "
                  f"(stdout {out!r}, stderr {err!r})" + prov.console_tail(name))
    timings.items.append(("create both at once", time.monotonic() - t0))
    expect(alice.generated_pub() != bob.generated_pub(),
           "alice and bob got the same key")
    port = {}
    for name, req in ((va, alice), (vb, bob)):
        vm = prov.signed(req.generated_key).vm(name)
        expect_eq(vm["status"], "running", f"{name} status")
        port[name] = vm["ssh_port"]
        prov.qemu_pid(name)
    expect(port[va] != port[vb], f"both VMs on port {port[va]}")

    for req, own, other, other_key in ((alice, va, vb, bob.generated_key),
                                       (bob, vb, va, alice.generated_key)):
        out = req.ssh_ok(own, "hostname; cat /root/.ssh/authorized_keys",
                         provider=prov)
        lines = out.strip().split("\n")
        expect_eq(lines[0], own, f"hostname of {own}")
        # The provider's management key of the VM is there too.
        keys = [l.split()[1] for l in lines[1:]
                if l.strip() and not l.endswith(" golem-provider-management")]
        expect_eq(keys, [req.generated_pub().split()[1]],
                  f"root's authorized keys in {own}")
        # Its own key over plain ssh, as root and as ubuntu.
        for user in ("root", "ubuntu"):
            code, out, err = raw_ssh(port[own], req.generated_key, "whoami",
                                     user=user)
            expect_eq((code, out.strip()), (0, user),
                      f"{user}@{own} with its own key ({err!r})")
        # The other requestor's key is refused, for both users.
        for user in ("root", "ubuntu"):
            code, out, err = raw_ssh(port[own], other_key, "whoami", user=user)
            expect(code == 255 and "Permission denied" in err and not out,
                   f"{user}@{own} with the other key: {code} {out!r} {err!r}")
        # And golemctl with the other key (--ssh-key) too.
        code, out, err = req.ssh(own, "whoami", key=other_key)
        expect(code != 0 and "Permission denied" in err and not out,
               f"golemctl vm ssh {own} --ssh-key (other key): {code} {out!r} "
               f"{err!r}")
    # A requestor cannot name the other's VM at all (no record).
    code, out, err = alice.ssh(vb, "true")
    expect(code != 0 and f"No VM named {vb}" in err,
           f"alice: vm ssh {vb}: {code} {err!r}")

    destroy(alice, prov, va, port[va], timings)
    # bob's VM is untouched by the other's destroy.
    out = bob.ssh_ok(vb, "hostname", provider=prov)
    expect_eq(out.strip(), vb, f"{vb} after {va} went")
    destroy(bob, prov, vb, port[vb], timings)


@case
def missing_image(binary):
    """An image the provider does not have is a 422 VALIDATION_ERROR whose
    message lists the images it has; nothing is made or reserved."""
    images = build_image()
    # A private image dir: golem-mini (links to the real one) and a second,
    # blank image, "debian-12" (a .qcow2 no VM ever boots here).
    mine = make_tempdir("golemtest-images-")
    for ext in ("qcow2", "vmlinux", "initrd", "cmdline"):
        os.symlink(os.path.join(images, f"{IMAGE}.{ext}"),
                   os.path.join(mine, f"{IMAGE}.{ext}"))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                    os.path.join(mine, "debian-12.qcow2"), "1G"], check=True)
    disc = start_discovery()
    prov = Provider(binary, disc, mine)
    _, key = make_key()

    status, _, data = http("POST", prov.url + VMS, {
        "name": "nope", "size": "small", "image": "ubuntu:99.04",
        "ssh_key": key}, timeout=60)
    expect_eq(status, 422, f"create with image ubuntu:99.04: {data!r}")
    detail = data.get("detail", {}) if isinstance(data, dict) else {}
    expect_eq(detail.get("code"), "VALIDATION_ERROR", f"error code: {data!r}")
    message = detail.get("message", "")
    expect("ubuntu:99.04" in message or "ubuntu-99.04" in message,
           f"the message does not name the image asked for: {message!r}")
    expect(IMAGE in message, f"the message does not list {IMAGE}: {message!r}")
    expect(re.search(r"debian-12\b", message),
           f"the message does not list debian-12: {message!r}")

    # Nothing was made, nothing is held.
    expect(prov.vm("nope") is None, "a VM 'nope' exists after the 422")
    expect(not os.path.exists(prov.state_dir("nope")),
           f"{prov.state_dir('nope')} exists after the 422")
    expect_eq(prov.info()["available_resources"], CAPACITY,
              "free resources after the 422")
    expect_eq(pids_naming(prov.data), [], "processes naming the data dir")

    # golemctl passes the provider's words on.
    req = Requestor(disc, prov)
    code, out, err = req.run("vm", "create", "nope2", "--image", "ubuntu:99.04")
    expect(code == 1 and IMAGE in err and "refused" in err,
           f"golemctl vm create --image ubuntu:99.04: {code} {out!r} {err!r}")
    expect_eq(req.records(), {}, "golemctl keeps no record of the refusal")
    expect_eq(prov.vms(), [], "the provider lists no VMs")



@case
def destroy_stopped(binary):
    """A stopped VM is destroyed as completely as a running one: its disk
    goes, and the name makes a new VM with a new disk."""
    timings, _, prov, req = one_provider("destroy_stopped", binary)
    name = f"t-{rand()}"
    port = create(req, prov, name, timings)["ssh_port"]
    req.ssh_ok(name, "echo old >/root/persist.txt && sync", provider=prov)
    pid = prov.qemu_pid(name)
    t0 = time.monotonic()
    req.ok("vm", "stop", name)
    expect_stopped(prov, name, pid, port, t0, "after stop")

    destroy(req, prov, name, port, timings)
    expect_eq(prov.info()["available_resources"], CAPACITY,
              "free resources after destroying a stopped VM")

    # The name again: a fresh VM, not the old disk.
    port = create(req, prov, name, timings)["ssh_port"]
    code, out, err = req.ssh(name, "cat /root/persist.txt")
    expect(code != 0 and "old" not in out,
           f"the new {name} has the old disk's file: {code} {out!r} {err!r}")
    destroy(req, prov, name, port, timings)


@case
def listen_address(binary):
    """A provider on an address of its own (not 127.0.0.1, not 0.0.0.0):
    the VMs' SSH ports listen there, the create sees the guest answer
    there, and golemctl logs in there."""
    timings, images, disc = begin("listen_address")
    for attempt in range(3):
        ip = loopback_ip()
        try:
            prov = Provider(binary, disc, images, host=ip)
            break
        except AssertionError:
            if attempt == 2:
                raise
    req = Requestor(disc, prov)
    name = f"t-{rand()}"
    port = create(req, prov, name, timings)["ssh_port"]
    status, access = prov.rest("GET", f"{VMS}/{name}/access")
    expect_eq((status, access.get("ssh_host"), access.get("ssh_port")),
              (200, ip, port), f"access: {access!r}")
    out = req.ssh_ok(name, "hostname", provider=prov)
    expect_eq(out.strip(), name, "hostname over SSH on the provider's address")
    expect_refused("127.0.0.1", port, "the SSH port on 127.0.0.1 (the "
                   f"provider is on {ip} only)")
    destroy(req, prov, name, port, timings)


@case
def long_name(binary):
    """A name of the maximum length (63 characters) works like any other."""
    timings, _, prov, req = one_provider("long_name", binary)
    name = "t-" + rand(61)
    port = create(req, prov, name, timings)["ssh_port"]
    out = req.ssh_ok(name, "hostname", provider=prov)
    expect_eq(out.strip(), name, "the guest's hostname (63 characters)")
    pid = prov.qemu_pid(name)
    t0 = time.monotonic()
    timings.measure("stop", req.ok, "vm", "stop", name)
    expect_stopped(prov, name, pid, port, t0, "after stop")
    destroy(req, prov, name, port, timings)


@case
def launch_failure(binary):
    """qemu cannot start (the image's kernel is garbage): the create fails
    with qemu's reason and leaves nothing behind; the name and the port are
    free again. Before that, the range's only port being taken by another
    program is a 503 naming the port, not a failed launch."""
    timings = Timings("launch_failure")
    built = timings.measure("mkimage", build_image)
    # An image directory of its own: golem-mini, and "broken" whose kernel
    # qemu refuses to load.
    images = make_tempdir("golemtest-images-")
    for ext in ("qcow2", "vmlinux", "initrd", "cmdline"):
        os.symlink(os.path.join(built, f"{IMAGE}.{ext}"),
                   os.path.join(images, f"{IMAGE}.{ext}"))
        if ext != "vmlinux":
            os.symlink(os.path.join(built, f"{IMAGE}.{ext}"),
                       os.path.join(images, f"broken.{ext}"))
    with open(os.path.join(images, "broken.vmlinux"), "wb") as f:
        f.write(b"not a kernel\n" * 512)
    disc = start_discovery()
    start, _ = port_range(n=1)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", start))
    blocker.listen(1)
    on_cleanup(blocker.close)
    prov = Provider(binary, disc, images, PORT_RANGE_START=start,
                    PORT_RANGE_END=start)
    key, pub = make_key()
    name = f"t-{rand()}"
    body = {"name": name, "size": "small", "ssh_key": pub}

    status, _, data = http("POST", prov.url + VMS, body, timeout=120)
    expect_eq(status, 503, f"create while port {start} is taken: {data!r}")
    detail = data.get("detail", {}) if isinstance(data, dict) else {}
    expect_eq(detail.get("code"), "RESOURCE_UNAVAILABLE", f"error: {data!r}")
    expect(str(start) in detail.get("message", ""),
           f"the message does not name the port: {data!r}")
    expect(prov.vm(name) is None, f"{name} listed after the refused create")
    blocker.close()

    status, _, data = timings.measure(
        "failed create", http, "POST", prov.url + VMS,
        dict(body, image="broken"), timeout=120)
    expect_eq(status, 500, f"create from the broken image: {data!r}")
    detail = data.get("detail", {}) if isinstance(data, dict) else {}
    expect_eq(detail.get("code"), "VM_CREATE_ERROR", f"error: {data!r}")
    expect(re.search(r"qemu", detail.get("message", ""), re.I)
           and re.search(r"kernel", detail.get("message", ""), re.I),
           f"the message does not give qemu's reason: {data!r}")
    expect(prov.vm(name) is None, f"{name} listed after the failed create")
    left = prov.state_dir(name)
    expect(not os.path.exists(left),
           f"{left} left after the failed create: "
           f"{sorted(os.listdir(left)) if os.path.exists(left) else ''}")
    expect_eq(pids_naming(prov.data), [], "processes naming the data dir")
    expect_eq(prov.info()["available_resources"], CAPACITY,
              "free resources after the failed create")

    # The same name and the same (only) port work with a good image.
    status, _, data = timings.measure(f"create {name}", http, "POST",
                                      prov.url + VMS, body,
                                      timeout=CREATE_TIMEOUT)
    expect_eq(status, 201, f"create once the port is free: {data!r}"
              + prov.console_tail(name))
    expect_eq(data["ssh_port"], start, "the VM's port")
    code, out, err = raw_ssh(start, key, "hostname")
    expect_eq((code, out.strip()), (0, name), f"ssh ({err!r})")
    status, _, data = http("DELETE", f"{prov.url}{VMS}/{name}", timeout=120)
    expect_eq(status, 200, f"delete: {data!r}")
    expect_gone(prov, name, start, "after the delete")


@case
def stop_ignored(binary):
    """A guest that ignores the power button (no acpid) is stopped hard
    after the grace period; its disk survives for the next start."""
    timings, _, prov, req = one_provider("stop_ignored", binary)
    name = f"t-{rand()}"
    port = create(req, prov, name, timings)["ssh_port"]
    token = rand(24)
    req.ssh_ok(name, f"echo {token} >/root/persist.txt && sync && "
               "killall acpid && while pidof acpid; do sleep 0.1; done",
               provider=prov)
    pid = prov.qemu_pid(name)
    t0 = time.monotonic()
    timings.measure("stop (power button ignored)", req.ok, "vm", "stop", name)
    expect(not alive(pid), f"qemu {pid} still runs after the stop returned")
    took = time.monotonic() - t0
    expect(took <= STOP_DEADLINE, f"the stop took {took:.0f}s")
    expect_eq(prov.vm(name)["status"], "stopped", "status after the stop")
    expect_refused("127.0.0.1", port, "SSH port after the hard stop")
    start_keeps_file(req, prov, name, token, timings, "start",
                     "the file after a hard stop")
    destroy(req, prov, name, port, timings)


@case
def delete_while_creating(binary):
    """DELETE of a VM whose guest is still booting: answered once the launch
    is given up and its qemu, disk and seed are gone; the job says failed;
    the resources, the port and the name are free again."""
    timings, images, disc = begin("delete_while_creating")
    prov = Provider(binary, disc, images)
    key, pub = make_key()
    name = f"t-{rand()}"
    status, _, data = http("POST", prov.url + VMS + "?async=true",
                           {"name": name, "size": "small", "ssh_key": pub})
    expect_eq(status, 202, f"async create: {data!r}")
    job = data["job_id"]
    wait_for(f"the qemu of {name} to run",
             lambda: qemu_pids(prov.state_dir(name)), timeout=30)
    port = prov.vm(name)["ssh_port"]
    expect_eq(prov.vm(name)["status"], "creating", f"{name} while its guest boots")

    status, _, data = timings.measure("delete while creating", http, "DELETE",
                                      f"{prov.url}{VMS}/{name}", timeout=60)
    expect_eq(status, 200, f"DELETE while creating: {data!r}")
    expect_gone(prov, name, port, "after the delete")
    status, _, data = http("GET", f"{prov.url}{VMS}/jobs/{job}")
    expect_eq((status, data.get("status")), (200, "failed"), f"the job: {data!r}")
    expect("deleted" in (data.get("error") or "").lower(), f"the job's error: {data!r}")
    expect_eq(prov.info()["available_resources"], CAPACITY, "free resources after the delete")
    # the name makes a fresh VM
    status, _, data = timings.measure(f"create {name} again", http, "POST", prov.url + VMS,
                                      {"name": name, "size": "small", "ssh_key": pub},
                                      timeout=CREATE_TIMEOUT)
    expect_eq(status, 201, f"create again: {data!r}")
    code, out, err = raw_ssh(data["ssh_port"], key, "hostname")
    expect_eq((code, out.strip()), (0, name), f"ssh ({err!r})")
    status, _, data = http("DELETE", f"{prov.url}{VMS}/{name}", timeout=120)
    expect_eq(status, 200, f"delete: {data!r}")

    # A create that waits for the VM hears that a DELETE gave it up: 409, not a failure.
    waiting = {}
    creator = threading.Thread(target=lambda: waiting.update(answer=http(
        "POST", prov.url + VMS, {"name": name, "size": "small", "ssh_key": pub},
        timeout=CREATE_TIMEOUT)))
    creator.start()
    wait_for(f"the qemu of {name} to run again",
             lambda: qemu_pids(prov.state_dir(name)), timeout=30)
    status, _, data = http("DELETE", f"{prov.url}{VMS}/{name}", timeout=60)
    expect_eq(status, 200, f"DELETE during a waiting create: {data!r}")
    creator.join(CREATE_TIMEOUT)
    status, _, data = waiting["answer"]
    expect_eq((status, data["detail"]["code"], data["detail"]["message"]),
              (409, "VM_DELETED", "Deleted while it was being created"), f"the waiting create: {data!r}")


@case
def qemu_dies(binary):
    """A VM whose qemu ends behind the provider's back.  The provider and
    the qemu killed at once (a host crash): the next provider boots the VM
    again by itself (a restore job, no request), SSH works and the file is
    there.  Powered off from inside the guest: the provider notices (the VM
    is no longer "running") and leaves it so; a start brings it back with
    its disk.  (A VM its renter stopped stays stopped across a crash, with
    restores on by default: adopt_after_kill9.)"""
    timings, _, prov, req = one_provider("qemu_dies", binary)
    owner = prov.signed(req.generated_key)
    name = f"t-{rand()}"
    port = create(req, prov, name, timings)["ssh_port"]
    token = rand(24)
    req.ssh_ok(name, f"echo {token} >/root/persist.txt && sync", provider=prov)

    # SIGKILL the provider and qemu at once, as a host crash would.
    pid = prov.qemu_pid(name)
    prov.daemon.kill9()
    os.kill(pid, signal.SIGKILL)
    wait_for("qemu to die", lambda: not alive(pid), timeout=10)
    t0 = time.monotonic()
    prov.restart()
    wait_for(f"{name} running again after the restart, without a request",
             lambda: (owner.vm(name) or {}).get("status") == "running",
             timeout=CREATE_TIMEOUT, interval=0.5)
    timings.items.append(("restore after a crash", time.monotonic() - t0))
    expect(prov.qemu_pid(name) != pid, "the restored VM's qemu is a new one")
    out = req.ssh_ok(name, "cat /root/persist.txt", provider=prov)
    expect_eq(out.strip(), token, "the file after the VM was restored")
    status, jobs = owner.rest("GET", f"{VMS}/{name}/jobs")
    expect_eq(status, 200, f"GET {VMS}/{name}/jobs ({jobs!r})")
    expect_eq([(j["kind"], j["status"]) for j in jobs],
              [("restore", "ready"), ("create", "ready")],
              f"the jobs of {name}")
    expect("Starting VM %s again" % name in prov.stderr(),
           f"the restore is not logged{prov.tail()}")

    # poweroff in the guest: qemu exits, and the provider must notice.
    pid = prov.qemu_pid(name)
    req.ssh(name, "poweroff")
    wait_for("qemu to exit after poweroff in the guest",
             lambda: not alive(pid), timeout=STOP_DEADLINE)
    t0 = time.monotonic()
    while True:
        seen = (owner.vm(name) or {}).get("status")
        if seen in ("stopped", "error"):
            break
        expect(time.monotonic() - t0 < 30,
               f"{name} is still listed {seen!r} 30 s after its qemu exited "
               "(a poweroff in the guest); 'vm start' is refused meanwhile")
        time.sleep(0.5)
    timings.items.append((f"provider sees {seen}", time.monotonic() - t0))
    time.sleep(2)
    expect_eq(qemu_pids(prov.state_dir(name)), [],
              f"qemu of {name} after a poweroff in the guest")
    start_keeps_file(req, prov, name, token, timings, "start after poweroff",
                     "the file after a poweroff and a start")

    destroy(req, prov, name, port, timings)


@case
def same_name_two_providers(binary):
    """Two providers on one host, each with a VM of the same name (each has
    its own VM_DATA_DIR): stopping and deleting one never touches the
    other."""
    timings, images, disc = begin("same_name_two_providers")
    pa = Provider(binary, disc, images, name="providerd-a")
    pb = Provider(binary, disc, images, name="providerd-b")
    alice = Requestor(disc, pa, name="alice")
    bob = Requestor(disc, pb, name="bob")
    name = f"t-{rand()}"
    port_a = create(alice, pa, name, timings, "--provider", pa.id)["ssh_port"]
    port_b = create(bob, pb, name, timings, "--provider", pb.id)["ssh_port"]
    pid_a, pid_b = pa.qemu_pid(name), pb.qemu_pid(name)
    expect(pid_a != pid_b, "one qemu for both")

    t0 = time.monotonic()
    timings.measure("stop on a", alice.ok, "vm", "stop", name)
    wait_for("a's qemu to exit", lambda: not alive(pid_a), timeout=10)
    expect("golem-mini: shutting down" not in pb.console(name),
           "b's guest got a's power button" + pb.console_tail(name))
    expect(alive(pid_b), "b's VM died when a's VM of the same name stopped")
    expect_stopped(pa, name, pid_a, port_a, t0, "a's VM after its stop")
    expect_eq(bob.ssh_ok(name, "hostname", provider=pb).strip(), name,
              "b's VM after a's stop")

    timings.measure("start on a", alice.ok, "vm", "start", name)
    pid_a = pa.qemu_pid(name)
    destroy(alice, pa, name, port_a, timings)
    expect(alive(pid_b), "b's VM died when a's VM of the same name was "
           "deleted")
    expect_eq(pb.qemu_pid(name), pid_b, "b's qemu")
    expect_eq(bob.ssh_ok(name, "hostname", provider=pb).strip(), name,
              "b's VM after a's delete")
    pid_b = pb.qemu_pid(name)
    t0 = time.monotonic()
    bob.ok("vm", "stop", name)
    expect_stopped(pb, name, pid_b, port_b, t0, "b's VM after its own stop")
    destroy(bob, pb, name, port_b, timings)


@case
def added_key(binary):
    """A VM created without a key; POST .../ssh-keys adds key B to the
    running guest: B logs in at once and after a stop and a start; removed,
    it is refused."""
    timings = Timings("added_key")
    images = timings.measure("mkimage", build_image)
    disc = start_discovery()
    prov = Provider(binary, disc, images)
    name = f"k-{rand()}"
    keys = f"{prov.url}{VMS}/{name}/ssh-keys"

    t0 = time.monotonic()
    status, _, vm = http("POST", prov.url + VMS, {"name": name, "size": "small"},
                         timeout=CREATE_TIMEOUT)
    expect_eq(status, 201, f"create without a key: {vm!r}" + prov.console_tail(name))
    timings.items.append(("create", time.monotonic() - t0))
    port = vm["ssh_port"]
    key, pub = make_key()
    code, _, err = raw_ssh(port, key, "true", user="ubuntu")
    expect(code == 255 and "Permission denied" in err, f"B before it is added: {code} {err!r}")

    t0 = time.monotonic()
    status, _, data = http("POST", keys, {"key": pub, "name": "b"}, timeout=90)
    expect_eq(status, 200, f"POST ssh-keys: {data!r}")
    timings.items.append(("add key", time.monotonic() - t0))
    expect_eq([k["name"] for k in data], ["b"], "the keys")
    code, out, err = raw_ssh(port, key, "whoami", user="ubuntu")
    expect_eq((code, out.strip()), (0, "ubuntu"), f"B logs in at once ({err!r})")

    # Kept across a stop and a start.
    for verb in ("stop", "start"):
        status, _, data = http("POST", f"{prov.url}{VMS}/{name}/{verb}", timeout=CREATE_TIMEOUT)
        expect_eq(status, 200, f"{verb}: {data!r}" + prov.console_tail(name))
    # (Under TCG, dropbear may drop the first connections right after the boot.)
    last = []

    def logged_in():
        last[:] = raw_ssh(port, key, "whoami", user="ubuntu")
        return last[0] == 0 and last[1].strip() == "ubuntu"
    wait_for(f"B to log in after a stop and a start (last {last!r})", logged_in, timeout=60, interval=2)

    status, _, data = http("DELETE", f"{keys}/b", timeout=90)
    expect_eq(status, 200, f"DELETE ssh-keys/b: {data!r}")
    expect_eq(data, [], "the keys after the removal")
    code, out, err = raw_ssh(port, key, "whoami", user="ubuntu")
    expect(code == 255 and "Permission denied" in err and not out,
           f"B after its removal: {code} {out!r} {err!r}")

    status, _, data = http("DELETE", f"{prov.url}{VMS}/{name}", timeout=120)
    expect_eq(status, 200, f"delete: {data!r}")


if __name__ == "__main__":
    # --golemctl, --discovery, --mkimage and --images are paths the harness
    # checks exist: the image dir may not yet.
    for i, arg in enumerate(sys.argv):
        if arg == "--images" and i + 1 < len(sys.argv):
            os.makedirs(sys.argv[i + 1], exist_ok=True)
        elif arg.startswith("--images="):
            os.makedirs(arg.split("=", 1)[1], exist_ok=True)
    raise SystemExit(main(paths=("golemctl", "discovery", "mkimage", "images"),
                          binary="providerd"))
