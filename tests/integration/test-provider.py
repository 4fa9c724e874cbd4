#!/usr/bin/env python3
"""Integration tests for golem-providerd (behaviour contract: provider-spec,
wire protocol: DESIGN.md "Provider").

    test-provider.py --binary golem-providerd --discovery golem-discoveryd \\
                     --multipass tests/multipass [CASE]

The provider drives the multipass stand-in (tests/multipass) through
GOLEM_PROVIDER_MULTIPASS_BINARY_PATH.  Every case has its own temp dirs,
API port, SSH port range and stand-in state dir, so cases run in parallel.
Run ``--list`` for the case names.

ssh_forwarding runs a real sshd: it needs root and Debian's openssh-server
(/usr/sbin/sshd) and fails with a clear message without them.
"""

import concurrent.futures
import hashlib
import json
import os
import re
import signal
import socket
import stat
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golemworld import (  # noqa: E402
    ADS, CAPACITY, INFO, VMS, Sshd, Standin, advertisement, call, case,
    expect, expect_eq, expect_error, expect_refused, fill_disk, get_list,
    http, main, make_key, make_tempdir, provider, random_public_key, run_ssh,
    small_disk, start_activated, start_discovery, wait_for)

JOBS = "/api/v1/vms/jobs"
VM_KEYS = {"id", "name", "status", "resources", "image", "ip_address",
           "ssh_port", "created_at", "updated_at", "error_message"}
INFO_KEYS = {"provider_id", "name", "country", "ip_address", "platform",
             "driver", "total_resources", "available_resources", "vm_count",
             "max_vms"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
SMALL = {"cpu": 1, "memory": 1, "storage": 10}
MEDIUM = {"cpu": 2, "memory": 4, "storage": 20}
LARGE = {"cpu": 4, "memory": 8, "storage": 40}
XLARGE = {"cpu": 8, "memory": 16, "storage": 80}
GIB = 1024 ** 3
SIZE_FIELDS = ("size", "resources", "cpu", "memory", "storage")


# --------------------------------------------------------------------------
# helpers


def vm_body(name, key=None, **fields):
    body = {"name": name, "ssh_key": key or random_public_key()}
    if not any(f in fields for f in SIZE_FIELDS):
        body["size"] = "medium"
    body.update(fields)
    return body


def create(p, name, key=None, status=201, query="", **fields):
    """POST /api/v1/vms; expects ``status``; returns the answer body."""
    result = call(p, "POST", VMS + query, vm_body(name, key, **fields))
    expect_eq(result[0], status, f"create {name}: status (body {result[2]!r})")
    if status in (201, 200):
        check_vm(result[2], f"create {name}")
    return result[2]


def get_vm(p, name):
    status, _, data = call(p, "GET", f"{VMS}/{name}")
    expect_eq(status, 200, f"GET {name}: status (body {data!r})")
    check_vm(data, f"GET {name}")
    return data


def vm_or_none(p, name):
    """The VM, or None when the provider answers 404 VM_NOT_FOUND."""
    result = call(p, "GET", f"{VMS}/{name}")
    if result[0] == 404:
        expect_error(result, 404, "VM_NOT_FOUND", f"GET {name}")
        return None
    expect_eq(result[0], 200, f"GET {name}: status (body {result[2]!r})")
    check_vm(result[2], f"GET {name}")
    return result[2]


def list_vms(p):
    return get_list(p, VMS, check_vm)


def vm_names(p):
    return [vm["name"] for vm in list_vms(p)]


def info(p):
    status, _, data = call(p, "GET", INFO)
    expect_eq(status, 200, f"GET {INFO}: status (body {data!r})")
    expect(isinstance(data, dict) and INFO_KEYS <= set(data),
           f"GET {INFO}: keys missing: {data!r}")
    return data


def available(p):
    return info(p)["available_resources"]


def vm_op(p, name, verb, status=200):
    """POST start/stop or DELETE; expects ``status``; returns the body."""
    if verb == "delete":
        result = call(p, "DELETE", f"{VMS}/{name}")
    else:
        result = call(p, "POST", f"{VMS}/{name}/{verb}")
    expect_eq(result[0], status, f"{verb} {name}: status (body {result[2]!r})")
    return result[2]


def delete(p, name):
    data = vm_op(p, name, "delete")
    expect_eq(data, {"status": "deleted", "vm_id": name}, f"DELETE {name}")


def check_vm(vm, what):
    """The shape of a VM as the provider returns it."""
    expect(isinstance(vm, dict), f"{what}: not an object: {vm!r}")
    expect_eq(set(vm), VM_KEYS, f"{what}: VM keys")
    expect_eq(vm["id"], vm["name"], f"{what}: id vs name")
    expect(vm["status"] in ("creating", "running", "stopping", "stopped",
                            "starting", "deleting", "error"),
           f"{what}: unknown status {vm['status']!r}")
    res = vm["resources"]
    expect(isinstance(res, dict) and set(res) == {"cpu", "memory", "storage"}
           and all(isinstance(v, int) and v > 0 for v in res.values()),
           f"{what}: resources {res!r}")
    for key in ("created_at", "updated_at"):
        expect(isinstance(vm[key], str) and TIMESTAMP.match(vm[key]),
               f"{what}: {key} {vm[key]!r} is not RFC 3339 UTC with a Z")
    if vm["status"] == "error":
        expect(isinstance(vm["error_message"], str) and vm["error_message"],
               f"{what}: status error without an error_message: {vm!r}")


def check_running(p, vm, what):
    """A running VM: an IPv4 address and an SSH port from the range."""
    expect_eq(vm["status"], "running", f"{what}: status")
    try:
        socket.inet_aton(vm["ip_address"] or "")
    except (OSError, TypeError):
        raise AssertionError(f"{what}: ip_address {vm['ip_address']!r}")
    lo, hi = p.ssh_range
    expect(isinstance(vm["ssh_port"], int) and lo <= vm["ssh_port"] <= hi,
           f"{what}: ssh_port {vm['ssh_port']!r} not in {lo}-{hi}")
    expect_eq(vm["error_message"], None, f"{what}: error_message")


def used(vms):
    total = {"cpu": 0, "memory": 0, "storage": 0}
    for vm in vms:
        for k in total:
            total[k] += vm["resources"][k]
    return total


def expect_ledger(p, what):
    """available == capacity - the resources of every VM listed (but those
    in status error: the hypervisor lost or failed them, so they hold
    nothing), and vm_count matches the list."""
    vms = list_vms(p)
    data = info(p)
    u = used(v for v in vms if v["status"] != "error")
    want = {k: p.capacity[k] - u[k] for k in u}
    expect_eq(data["total_resources"], p.capacity, f"{what}: total_resources")
    expect_eq(data["available_resources"], want,
              f"{what}: available_resources (VMs {[v['name'] for v in vms]})")
    expect_eq(data["vm_count"], len(vms), f"{what}: vm_count")


def expect_no_record(p, name, what):
    """The provider has no VM ``name`` right now.  When it has, tell
    whether it goes away within 5 s (an ordering problem) or stays."""
    vm = vm_or_none(p, name)
    if vm is None:
        return
    t0 = time.monotonic()
    later = vm
    while later is not None and time.monotonic() - t0 < 5:
        time.sleep(0.1)
        later = vm_or_none(p, name)
    if later is None:
        raise AssertionError(
            f"{what}: VM {name} still recorded when the answer came "
            f"({vm['status']}, {vm['error_message']!r}); it went away "
            f"{time.monotonic() - t0:.1f}s later")
    raise AssertionError(
        f"{what}: VM {name} still recorded 5 s after the answer: "
        f"status {later['status']!r}, error_message "
        f"{later['error_message']!r} (right after the answer: "
        f"{vm['status']!r})")


def wait_settled(p, name, timeout=60):
    """Wait until VM ``name`` is gone or in no transitional state; returns
    the VM or None."""
    box = {}

    def settled():
        vm = vm_or_none(p, name)
        box["vm"] = vm
        return vm is None or vm["status"] in ("running", "stopped", "error")
    wait_for(f"VM {name} settles", settled, timeout, 0.2)
    return box["vm"]


def wait_job(p, job_id, timeout=60):
    """Poll a job until it is no longer creating; returns (job, progress
    values seen while creating)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        status, _, job = call(p, "GET", f"{JOBS}/{job_id}")
        expect_eq(status, 200, f"GET job {job_id}: status (body {job!r})")
        expect({"job_id", "vm_id", "status", "error"} <= set(job),
               f"job keys: {job!r}")
        expect_eq(job["job_id"], job_id, "job_id")
        if job["status"] != "creating":
            expect(job["status"] in ("ready", "failed"),
                   f"job status {job['status']!r}")
            return job, seen
        expect("progress" in job and "stage" in job,
               f"a creating job without progress/stage: {job!r}")
        progress = job["progress"]
        expect(progress is None or (isinstance(progress, int)
                                    and 0 <= progress <= 100),
               f"job progress {progress!r}")
        expect(job["stage"] is None or isinstance(job["stage"], str),
               f"job stage {job['stage']!r}")
        seen.append(progress)
        expect(time.monotonic() < deadline,
               f"job {job_id} still creating after {timeout}s: {job!r}")
        time.sleep(0.1)


def expect_advertised(p, disc, provider_id, what, timeout=2.0):
    """Within ``timeout`` the advertisement at discovery carries the
    provider's free resources."""
    def shows_free():
        ad, free = advertisement(disc, provider_id), available(p)
        return ad if ad and {k: ad["resources"].get(k)
                             for k in free} == free else None
    return wait_for(f"{what}: the advertisement showing the free resources",
                    shows_free, timeout,
                    detail=lambda: f" ({available(p)}; discovery says "
                    f"{advertisement(disc, provider_id)!r})")


def expect_consistent(p, mp, what):
    """Every VM in the API has exactly one golem-NAME in multipass and vice
    versa (unrecorded strays aside), and the ledger adds up."""
    api = set(vm_names(p))
    mine = {n[len("golem-"):] for n in mp.golem_instances()}
    expect_eq(mine, api, f"{what}: golem-* in multipass vs VMs in the API")
    expect_ledger(p, what)


def purge_calls(mp, instance):
    """``delete`` calls naming ``instance`` with --purge (or -p)."""
    return [argv for argv in mp.calls()
            if argv and argv[0] == "delete" and instance in argv[1:]
            and ("--purge" in argv or "-p" in argv)]


# --------------------------------------------------------------------------
# cases: the life of a VM


@case
def lifecycle(binary):
    """Create (sync and async), list, get, access, stop, start, delete;
    the advertisement follows the ledger; cloud-init file and argv."""
    disc = start_discovery()
    mp = Standin(BOOT_SECONDS=1.5)
    p = provider(binary, mp, discovery=disc).start().wait_ready()
    data = info(p)
    pid = data["provider_id"]
    expect_eq(data["total_resources"], CAPACITY, "total_resources")
    expect_eq(data["available_resources"], CAPACITY, "available at start")
    expect_eq(data["ip_address"], "127.0.0.1", "ip_address (PUBLIC_IP)")
    expect_eq(data["driver"], "multipass", "driver")
    expect_eq((data["vm_count"], data["max_vms"]), (0, 10), "vm_count/max_vms")
    expect_advertised(p, disc, pid, "at start")
    key = random_public_key("lifecycle@test")

    # synchronous create
    vm = create(p, "alpha", key, size="medium")
    check_running(p, vm, "create alpha")
    expect_eq(vm["resources"], MEDIUM, "alpha resources (medium)")
    expect_eq(vm["image"], "ubuntu:24.04", "alpha image (default)")
    expect_ledger(p, "after create alpha")
    expect_advertised(p, disc, pid, "after create alpha")

    # its cloud-init user data and how it reached multipass
    path = os.path.join(p.data_dir(), "cloud-init", "alpha.yaml")
    expect(os.path.exists(path), f"no cloud-init file {path}")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    expect_eq(oct(mode), oct(0o600), f"mode of {path}")
    with open(path) as f:
        user_data = f.read()
    expect(user_data.startswith("#cloud-config"),
           f"{path} does not start with #cloud-config: {user_data[:80]!r}")
    expect(key in user_data, f"{path} lacks the SSH key: {user_data!r}")
    argvs = mp.launches("golem-alpha")
    expect_eq(len(argvs), 1, "launches of golem-alpha")
    argv = argvs[0]
    i = argv.index("--cloud-init") if "--cloud-init" in argv else -1
    expect(i >= 0 and argv[i + 1:i + 2] == ["-"],
           f"launch without --cloud-init -: {argv}")
    record = mp.record("golem-alpha")
    expect(record and key in (record.get("cloud_init") or ""),
           f"the key did not reach multipass on stdin: {record!r}")

    # asynchronous create
    status, _, job = call(p, "POST", VMS + "?async=true",
                          vm_body("beta", key, size="small"))
    expect_eq(status, 202, f"async create: status (body {job!r})")
    expect_eq(set(job), {"job_id", "vm_id", "status"}, "202 body keys")
    expect_eq((job["vm_id"], job["status"]), ("beta", "creating"), "202 body")
    expect(isinstance(job["job_id"], str) and job["job_id"], "job_id")
    beta = get_vm(p, "beta")
    expect_eq(beta["status"], "creating", "beta right after the 202")
    expect_eq(beta["resources"], SMALL, "beta resources (small)")
    expect_error(call(p, "DELETE", f"{VMS}/beta"), 409, "VM_WRONG_STATE",
                 "DELETE while creating")
    expect_error(call(p, "POST", f"{VMS}/beta/stop"), 409, "VM_WRONG_STATE",
                 "stop while creating")
    expect_error(call(p, "POST", VMS, vm_body("beta", key, size="small")),
                 409, "VM_NAME_TAKEN", "create of a name being created")
    done, progress = wait_job(p, job["job_id"])
    expect_eq((done["status"], done["error"], done["vm_id"]),
              ("ready", None, "beta"), f"finished job {done!r}")
    check_running(p, get_vm(p, "beta"), "beta after its job")
    expect_ledger(p, "after create beta")
    expect_advertised(p, disc, pid, "after create beta")

    # list, get, access
    vms = list_vms(p)
    expect_eq([v["name"] for v in vms], ["alpha", "beta"], "list order")
    alpha = get_vm(p, "alpha")
    expect_eq(alpha, vms[0], "GET alpha vs the list")
    expect_eq({k: alpha[k] for k in ("name", "resources", "ssh_port",
                                      "created_at")},
              {k: vm[k] for k in ("name", "resources", "ssh_port",
                                   "created_at")}, "GET alpha vs its 201")
    expect(vms[0]["ssh_port"] != vms[1]["ssh_port"], "distinct ssh ports")
    status, _, access = call(p, "GET", f"{VMS}/alpha/access")
    expect_eq(status, 200, f"access: status (body {access!r})")
    expect_eq(access, {"ssh_host": "127.0.0.1", "ssh_port": vm["ssh_port"],
                       "vm_id": "alpha", "multipass_name": "golem-alpha"},
              "access")
    expect_eq(mp.golem_instances(),
              {"golem-alpha": "Running", "golem-beta": "Running"},
              "multipass list after two creates")

    # stop and start
    stopped = vm_op(p, "alpha", "stop")
    check_vm(stopped, "stop alpha")
    expect_eq(stopped["status"], "stopped", "status after stop")
    expect_eq(mp.golem_instances()["golem-alpha"], "Stopped",
              "multipass state after stop")
    expect_error(call(p, "POST", f"{VMS}/alpha/stop"), 409, "VM_WRONG_STATE",
                 "stop of a stopped VM")
    expect_ledger(p, "after stop (a stopped VM keeps its reservation)")
    expect_advertised(p, disc, pid, "after stop")
    started = vm_op(p, "alpha", "start")
    check_running(p, started, "start alpha")
    expect_eq(started["ssh_port"], vm["ssh_port"], "ssh_port after start")
    expect_eq(mp.golem_instances()["golem-alpha"], "Running",
              "multipass state after start")
    expect_error(call(p, "POST", f"{VMS}/alpha/start"), 409, "VM_WRONG_STATE",
                 "start of a running VM")
    expect_advertised(p, disc, pid, "after start")

    # delete
    delete(p, "alpha")
    expect_error(call(p, "GET", f"{VMS}/alpha"), 404, "VM_NOT_FOUND",
                 "GET after delete")
    expect_error(call(p, "GET", f"{VMS}/alpha/access"), 404, "VM_NOT_FOUND",
                 "access after delete")
    expect_error(call(p, "DELETE", f"{VMS}/alpha"), 404, "VM_NOT_FOUND",
                 "second DELETE")
    expect(purge_calls(mp, "golem-alpha"),
           f"no `delete --purge golem-alpha` in calls.log: {mp.calls()}")
    expect_eq(vm_names(p), ["beta"], "list after delete")
    expect_consistent(p, mp, "after delete alpha")
    expect_advertised(p, disc, pid, "after delete alpha")
    delete(p, "beta")
    expect_eq(available(p), CAPACITY, "available after deleting everything")
    expect_advertised(p, disc, pid, "after delete beta")
    expect_eq(mp.golem_instances(), {}, "multipass list at the end")
    p.stop()


@case
def sizes_and_precedence(binary):
    """size maps to the table; resources beats flat fields beats size;
    multipass gets the same figures."""
    mp = Standin()
    p = provider(binary, mp, capacity={"cpu": 32, "memory": 64,
                                       "storage": 1000}).start().wait_ready()
    rows = [
        ("size-small", {"size": "small"}, SMALL),
        ("size-medium", {"size": "medium"}, MEDIUM),
        ("size-large", {"size": "large"}, LARGE),
        ("size-xlarge", {"size": "xlarge"}, XLARGE),
        ("resources-win", {"size": "xlarge", "cpu": 3, "memory": 3,
                           "storage": 30,
                           "resources": {"cpu": 1, "memory": 2,
                                         "storage": 15}},
         {"cpu": 1, "memory": 2, "storage": 15}),
        ("flat-wins", {"size": "xlarge", "cpu": 3, "memory": 5,
                       "storage": 25}, {"cpu": 3, "memory": 5, "storage": 25}),
        ("flat-only", {"cpu": 1, "memory": 1, "storage": 11},
         {"cpu": 1, "memory": 1, "storage": 11}),
        ("resources-only", {"resources": {"cpu": 2, "memory": 3,
                                          "storage": 12}},
         {"cpu": 2, "memory": 3, "storage": 12}),
    ]
    for name, fields, want in rows:
        vm = create(p, name, **fields)
        expect_eq(vm["resources"], want, f"{name}: resources")
        expect_eq(get_vm(p, name)["resources"], want, f"GET {name}: resources")
        rec = mp.record("golem-" + name)
        expect(rec is not None, f"{name}: multipass has no golem-{name}")
        expect_eq((rec["cpus"], rec["memory"], rec["disk"]),
                  (want["cpu"], want["memory"] * GIB, want["storage"] * GIB),
                  f"{name}: cpus/memory/disk bytes multipass was given")
    expect_eq(vm_names(p), [r[0] for r in rows], "list in creation order")
    expect_consistent(p, mp, "after all sizes")


@case
def concurrency(binary):
    """20 parallel synchronous creates with room for 5: exactly 5 × 201,
    15 × 503 RESOURCE_UNAVAILABLE, and everything adds up."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    names = [f"conc-{i:02d}" for i in range(20)]
    barrier = threading.Barrier(len(names))

    def one(name):
        barrier.wait()
        return http("POST", p.url + VMS, vm_body(name, size="medium"),
                    timeout=120)

    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        results = dict(zip(names, pool.map(one, names)))
    codes = sorted(r[0] for r in results.values())
    created = sorted(n for n, r in results.items() if r[0] == 201)
    expect_eq(codes.count(201), 5, f"number of 201 answers (all: {codes})")
    expect_eq(codes.count(503), 15, f"number of 503 answers (all: {codes})")
    for name, result in results.items():
        if result[0] == 503:
            expect_error(result, 503, "RESOURCE_UNAVAILABLE",
                         f"refused create {name}")
        else:
            check_running(p, result[2], f"create {name}")
    expect_eq(available(p), {"cpu": 0, "memory": 0, "storage": 400},
              "available after 5 medium VMs")
    expect_eq(sorted(vm_names(p)), created, "VMs listed")
    expect_eq(sorted(mp.golem_instances()),
              sorted("golem-" + n for n in created), "multipass list")
    ports = [vm["ssh_port"] for vm in list_vms(p)]
    expect_eq(len(set(ports)), 5, f"distinct ssh ports {ports}")
    expect_eq(len(mp.launches()), 5, "number of multipass launches")
    expect_consistent(p, mp, "after the rush")


@case
def max_vms(binary):
    """MAX_VMS=2: the third create is 503 RESOURCE_UNAVAILABLE naming the
    maximum; after a delete there is room again."""
    mp = Standin()
    p = provider(binary, mp, MAX_VMS=2).start().wait_ready()
    expect_eq(info(p)["max_vms"], 2, "max_vms in /provider/info")
    create(p, "first", size="small")
    create(p, "second", size="small")
    result = call(p, "POST", VMS, vm_body("third", size="small"))
    expect_error(result, 503, "RESOURCE_UNAVAILABLE", "third create")
    message = result[2]["detail"]["message"]
    expect(re.search(r"\b2\b", message)
           and re.search(r"max", message, re.IGNORECASE),
           f"the refusal does not name the maximum of 2: {message!r}")
    expect_eq(len(mp.launches()), 2, "launches (the third never reached it)")
    expect_eq(vm_or_none(p, "third"), None, "no record of the refused VM")
    delete(p, "first")
    create(p, "third", size="small")
    expect_consistent(p, mp, "after the swap")


@case
def launch_failure(binary):
    """fail-next-launch: 500 VM_CREATE_ERROR with multipass' message; the
    instance is purged, the name and the resources are free again."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    message = "launch failed: Remote \"\" is unknown or unreachable. (7f3a)"
    mp.fault("fail-next-launch", message + "\n")
    expect_error(call(p, "POST", VMS, vm_body("unlucky")), 500,
                 "VM_CREATE_ERROR", "create with a failing launch", "7f3a")
    expect(not mp.has_fault("fail-next-launch"), "the fault was not used")
    expect_no_record(p, "unlucky", "after the failed launch")
    expect_eq(available(p), CAPACITY, "resources after the failure")
    wait_for("`delete --purge golem-unlucky` after the failed launch",
             lambda: purge_calls(mp, "golem-unlucky"), 5)
    vm = create(p, "unlucky")
    check_running(p, vm, "second create with the same name")

    # the same through a job
    mp.fault("fail-next-launch", message + "\n")
    status, _, job = call(p, "POST", VMS + "?async=true", vm_body("jobless"))
    expect_eq(status, 202, f"async create: status (body {job!r})")
    done, _ = wait_job(p, job["job_id"])
    expect_eq(done["status"], "failed", f"job of a failed launch: {done!r}")
    expect(isinstance(done["error"], str) and "7f3a" in done["error"],
           f"job error lacks multipass' message: {done!r}")
    wait_for("the failed VM's record is removed",
             lambda: vm_or_none(p, "jobless") is None, 5)
    expect_consistent(p, mp, "after the failures")
    create(p, "jobless")
    expect_consistent(p, mp, "after the retries")


@case
def driver_unavailable(binary):
    """multipassd down: 503 DRIVER_UNAVAILABLE and nothing left behind; a
    missing multipass binary: the same, while /health stays 200."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    mp.fault("daemon-down")
    expect_error(call(p, "POST", VMS, vm_body("nodaemon")), 503,
                 "DRIVER_UNAVAILABLE", "create while multipassd is down")
    expect_no_record(p, "nodaemon", "after DRIVER_UNAVAILABLE")
    expect_eq(vm_names(p), [], "VMs after the refusal")
    expect_eq(available(p), CAPACITY, "resources after the refusal")
    os.unlink(mp.path("daemon-down"))
    create(p, "nodaemon")
    expect_consistent(p, mp, "after multipassd came back")

    mp2 = Standin()
    q = provider(binary, mp2, name="no-multipass")
    q.env["GOLEM_PROVIDER_MULTIPASS_BINARY_PATH"] = os.path.join(
        q.workdir, "does-not-exist", "multipass")
    q.start().wait_ready()
    status, _, data = call(q, "GET", "/health")
    expect_eq((status, data), (200, {"status": "healthy"}),
              "/health without multipass")
    expect_error(call(q, "POST", VMS, vm_body("nobinary")), 503,
                 "DRIVER_UNAVAILABLE", "create without a multipass binary")
    expect_eq(vm_names(q), [], "VMs without multipass")
    expect_eq(available(q), CAPACITY, "resources without multipass")
    status, _, _ = call(q, "GET", "/health")
    expect_eq(status, 200, "/health after the refusal")
    expect_eq(mp2.calls(), [], "calls to a stand-in nobody pointed at")


@case
def isolation_without_systemd(binary):
    """Not under systemd the VMs get no network filter, slice or limits: the
    provider says so once at start (a journal MESSAGE_ID for the catalog);
    a bad VMDeniedNetworks= is a refusal to start, naming the value."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    wait_for("the warning that VMs run without isolation",
             lambda: "VMs do not run as systemd units" in p.stderr(), 5)
    expect_eq(p.stderr().count("VMs do not run as systemd units"), 1,
              "the warning, once")
    create(p, "plain")
    expect_eq(p.stderr().count("VMs do not run as systemd units"), 1,
              "the warning, still once after a create")

    q = provider(binary, Standin(), name="bad-networks",
                 VM_DENIED_NETWORKS="10.0.0.0/8 192.168.1.1/16")
    q.start()
    expect_eq(q.wait_exit(15), 1, "exit status with a bad VMDeniedNetworks=")
    expect("GOLEM_PROVIDER_VM_DENIED_NETWORKS=10.0.0.0/8 192.168.1.1/16: invalid value" in q.stderr(),
           f"the error names the variable and the value{q.tail()}")


# --------------------------------------------------------------------------
# cases: crashes and restarts


@case
def crash_during_launch(binary):
    """kill -9 while a VM is being created; the restarted provider adopts
    it or cleans it up, and never leaves a duplicate or a leak."""
    mp = Standin(BOOT_SECONDS=3)
    p = provider(binary, mp).start().wait_ready()
    create(p, "steady", size="small")
    jobs = {}
    for name in ("phoenix", "icarus"):
        if name == "icarus":  # its boot never finishes: SSH does not come up
            mp.fault("timeout-next-launch")
        status, _, job = call(p, "POST", VMS + "?async=true", vm_body(
            name, size="small"))
        expect_eq(status, 202, f"async create {name}: status (body {job!r})")
        jobs[name] = job["job_id"]
        wait_for(f"multipass launch of golem-{name}",
                 lambda: mp.launches("golem-" + name), 5)
    time.sleep(0.5)
    for name, job_id in jobs.items():
        status, _, j = call(p, "GET", f"{JOBS}/{job_id}")
        expect_eq((status, j.get("status")), (200, "creating"),
                  f"job of {name} before the crash: {j!r}")
    p.kill9()

    q = p.respawn("providerd-restarted").start().wait_ready()
    outcomes = {}
    for name, job_id in jobs.items():
        vm = wait_settled(q, name, timeout=60)
        done, _ = wait_job(q, job_id, timeout=60)
        if vm is not None:
            check_running(q, vm, f"adopted {name}")
            expect_eq(done["status"], "ready",
                      f"job of the adopted VM {name}: {done!r}")
        else:
            expect_eq(done["status"], "failed",
                      f"job of the dropped VM {name}: {done!r}")
            expect(done["error"], f"failed job without an error: {done!r}")
        expect_eq(len(mp.launches("golem-" + name)), 1,
                  f"launches of golem-{name} (no relaunch)")
        outcomes[name] = "adopted" if vm else "dropped"
    print(f"after the restart: {outcomes}")
    expect_eq(outcomes["icarus"], "dropped",
              "icarus (its boot timed out in multipass)")
    wait_for("the dropped golem-icarus purged from multipass",
             lambda: "golem-icarus" not in mp.golem_instances(), 10)
    check_running(q, get_vm(q, "steady"), "steady after the restart")
    expect_consistent(q, mp, f"after recovery ({outcomes})")
    if outcomes["phoenix"] == "adopted":
        delete(q, "phoenix")
    delete(q, "steady")
    expect_consistent(q, mp, "after cleaning up")
    expect_eq(available(q), CAPACITY, "everything free at the end")


@case
def crash_during_delete(binary):
    """kill -9 while multipass deletes (hung); the restarted provider
    finishes the delete and frees the resources."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    create(p, "keeper", size="small")
    create(p, "doomed", size="medium")
    mp.fault("hang-next")
    answers = []
    sender = threading.Thread(target=lambda: answers.append(_try_delete(
        p, "doomed")), daemon=True)
    sender.start()
    wait_for("the provider runs multipass delete golem-doomed",
             lambda: any(a[:1] == ["delete"] and "golem-doomed" in a
                         for a in mp.calls()), 10)
    expect(not mp.has_fault("hang-next"), "hang-next not consumed")
    p.kill9()
    sender.join(10)
    mp.kill_orphans()  # the hung `multipass delete`

    q = p.respawn("providerd-restarted").start().wait_ready()
    wait_for("the resumed delete removes doomed",
             lambda: vm_or_none(q, "doomed") is None, 30)
    wait_for("golem-doomed gone from multipass",
             lambda: "golem-doomed" not in mp.golem_instances(), 10)
    expect_eq(vm_names(q), ["keeper"], "VMs after the resumed delete")
    expect_eq(available(q), {k: CAPACITY[k] - SMALL[k] for k in CAPACITY},
              "resources after the resumed delete")
    expect_consistent(q, mp, "after the resumed delete")
    check_running(q, get_vm(q, "keeper"), "keeper")


def _try_delete(p, name):
    try:
        return http("DELETE", f"{p.url}{VMS}/{name}", timeout=60)
    except AssertionError as e:  # the provider was killed: no answer
        return e


@case
def lost_vm(binary):
    """A recorded VM multipass no longer knows becomes status error with
    an error_message after a restart; it can be deleted."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    create(p, "ghost", size="small")
    create(p, "solid", size="small")
    p.stop()
    mp.fault("lose-golem-ghost")
    expect("golem-ghost" not in mp.golem_instances(), "lose-NAME works")
    q = p.respawn("providerd-restarted").start().wait_ready()
    vm = wait_for("ghost in status error",
                  lambda: (lambda v: v if v and v["status"] == "error"
                           else None)(vm_or_none(q, "ghost")), 20)
    expect(isinstance(vm["error_message"], str) and vm["error_message"],
           f"error VM without an error_message: {vm!r}")
    check_running(q, get_vm(q, "solid"), "solid after the restart")
    expect_ledger(q, "with a lost VM")
    delete(q, "ghost")
    expect_eq(vm_or_none(q, "ghost"), None, "ghost after delete")
    expect_eq(vm_names(q), ["solid"], "VMs after deleting the lost one")
    expect_ledger(q, "after deleting the lost VM")


@case
def unrecorded_instance(binary):
    """golem-* instances the provider has no record of are left alone and
    not shown in the API."""
    mp = Standin()
    mp.run("launch", "--name", "golem-stray")
    mp.run("launch", "--name", "someone-else")
    before = len(mp.calls())
    p = provider(binary, mp).start().wait_ready()
    wait_for("the provider lists multipass' instances at start",
             lambda: any(a[:1] == ["list"] for a in mp.calls()[before:]),
             10)
    time.sleep(2)  # time to (wrongly) act on what it found
    names = mp.instances()
    expect("golem-stray" in names and names["golem-stray"]["state"]
           == "Running", f"golem-stray was touched: {names}")
    expect("someone-else" in names, f"someone-else was touched: {names}")
    expect_eq(vm_names(p), [], "VMs in the API")
    expect_eq(vm_or_none(p, "stray"), None, "GET stray")
    expect_eq(available(p), CAPACITY, "resources (strays reserve nothing)")
    touched = [a for a in mp.calls()[before:]
               if a[:1] in (["delete"], ["stop"], ["start"], ["purge"])]
    expect_eq(touched, [], "state-changing multipass calls")
    create(p, "mine")
    expect_eq(sorted(mp.golem_instances()), ["golem-mine", "golem-stray"],
              "golem-* after creating one of ours")

    # Creating a VM under the stray's name must not destroy the stray.
    status, _, data = call(p, "POST", VMS, vm_body("stray"))
    expect(status not in (200, 201), f"create over a stray: {status} {data!r}")
    time.sleep(1)
    expect("golem-stray" in mp.golem_instances(),
           f"a create named 'stray' ({status} {data!r}) deleted the "
           f"unrecorded golem-stray; calls: {mp.calls()[before:]}")


@case
def restart_keeps_state(binary):
    """SIGTERM (exit 0) leaves the VMs running; the next start lists them
    with the same ports and states, resources still reserved."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    create(p, "keep-one", size="medium")
    create(p, "keep-two", size="small")
    vm_op(p, "keep-two", "stop")
    before = list_vms(p)
    avail = available(p)
    p.stop()
    expect_eq(mp.golem_instances(),
              {"golem-keep-one": "Running", "golem-keep-two": "Stopped"},
              "multipass after the provider exited")
    q = p.respawn("providerd-restarted").start().wait_ready()
    after = list_vms(q)
    keys = ("name", "status", "resources", "image", "ip_address", "ssh_port",
            "created_at")
    expect_eq([{k: v[k] for k in keys} for v in after],
              [{k: v[k] for k in keys} for v in before], "VMs after restart")
    expect_eq(available(q), avail, "available after restart")
    expect_ledger(q, "after restart")
    vm_op(q, "keep-two", "start")
    delete(q, "keep-one")
    expect_consistent(q, mp, "after using them")
    q.stop()


@case
def state_store_full(binary):
    """With the state directory's disk full to the brim, stop, start, delete
    and create answer 507 INSUFFICIENT_STORAGE and change nothing: the VMs
    are as they were, in the API and in multipass, and /health answers
    (degraded).  The failure is logged and shown in STATUS= once, however
    many requests meet it.  Once there is space again the same requests
    succeed, without a restart, and that is told once too."""
    mp = Standin()
    p = provider(binary, mp)
    small_disk(p.data_dir())
    p.start().wait_ready()
    create(p, "full-run", size="small")
    create(p, "full-stop", size="small")
    vm_op(p, "full-stop", "stop")
    before = {"full-run": "running", "full-stop": "stopped"}
    filler = fill_disk(p.data_dir())

    for attempt in (1, 2):
        for name, method, path in (
                ("full-run", "POST", f"{VMS}/full-run/stop"),
                ("full-run", "DELETE", f"{VMS}/full-run"),
                ("full-stop", "POST", f"{VMS}/full-stop/start"),
                ("full-new", "POST", VMS)):
            body = vm_body(name) if path == VMS else None
            expect_error(call(p, method, path, body), 507,
                         "INSUFFICIENT_STORAGE",
                         f"{method} {path} on a full disk ({attempt})",
                         fields="state store")
        expect_eq({n: get_vm(p, n)["status"] for n in before}, before,
                  "VMs in the API on a full disk")
        expect_eq(mp.golem_instances(),
                  {"golem-full-run": "Running", "golem-full-stop": "Stopped"},
                  "VMs in multipass on a full disk")
        expect_eq(vm_or_none(p, "full-new"), None, "a create on a full disk")
    status, _, data = call(p, "GET", "/health")
    expect_eq((status, data), (200, {"status": "degraded",
                                     "state_store": "full"}),
              "/health on a full disk")
    expect_eq(p.stderr().count("The state store failed to save"), 1,
              f"the failure logged once{p.tail()}")
    expect_eq([t for t in p.statuses() if "state store" in t],
              ["The state store is failing (its disk is full): changes to "
               "VMs are refused."], "STATUS= on a full disk")

    os.remove(filler)
    vm_op(p, "full-run", "stop")
    vm_op(p, "full-stop", "start")
    delete(p, "full-stop")
    create(p, "full-new", size="small")
    expect_eq({v["name"]: v["status"] for v in list_vms(p)},
              {"full-run": "stopped", "full-new": "running"},
              "VMs once there is space again")
    expect_consistent(p, mp, "once there is space again")
    status, _, data = call(p, "GET", "/health")
    expect_eq((status, data), (200, {"status": "healthy"}),
              "/health once there is space again")
    expect_eq(p.stderr().count("The state store takes writes again"), 1,
              f"the recovery logged once{p.tail()}")
    expect_eq(p.statuses()[-1], "1 VM running, 1 stopped; not advertising: no DiscoveryURL=",
              "STATUS= after the recovery")
    expect_eq(p.stderr().count("The state store failed to save"), 1,
              f"no more failures logged{p.tail()}")
    p.stop()


@case
def sigterm_withdraws_advertisement(binary):
    """On SIGTERM the provider DELETEs its advertisement at discovery."""
    disc = start_discovery()
    mp = Standin()
    p = provider(binary, mp, discovery=disc).start().wait_ready()
    pid = info(p)["provider_id"]
    ad = expect_advertised(p, disc, pid, "after start")
    expect_eq(ad["ip_address"], "127.0.0.1", "advertised ip_address")
    expect_eq(ad["country"], "SE", "advertised country (default)")
    p.stop()
    status, _, data = http("GET", f"{disc.url}{ADS}/{pid}")
    expect_eq(status, 404, f"advertisement after SIGTERM (body {data!r})")


@case
def status_line(binary):
    """STATUS= (what systemctl status shows) follows the VMs and the
    advertising: when the last advertisement was stored, and why posts fail."""
    disc = start_discovery()
    mp = Standin()
    p = provider(binary, mp, discovery=disc).start().wait_ready()
    pid = info(p)["provider_id"]
    expect_advertised(p, disc, pid, "after start")
    advertised = re.compile(r"^(\d+) VMs? running(, .*)?; advertised to " + re.escape(disc.url) +
                            r" at \d\d:\d\d:\d\d UTC$")
    wait_for("STATUS= to say 0 VMs and when it advertised",
             lambda: advertised.match(p.statuses()[-1]) and p.statuses()[-1].startswith("0 VMs running"))
    create(p, "shown")
    wait_for("STATUS= to count the VM",
             lambda: p.statuses()[-1].startswith("1 VM running; advertised to "))
    disc.kill9()
    vm_op(p, "shown", "stop")
    wait_for("STATUS= to say why advertising fails",
             lambda: p.statuses()[-1] == f"1 VM stopped; advertising to {disc.url} fails: Connection refused",
             timeout=30)
    p.stop()


@case
def country_required(binary):
    """Without Country= a provider does not advertise (no default country
    that would be wrong for most machines): one clear log line, STATUS=
    says why, the discovery service has nothing, /api/v1/provider answers
    null for the country; with it set, it advertises."""
    disc = start_discovery()
    mp = Standin()
    p = provider(binary, mp, discovery=disc)
    del p.env["GOLEM_PROVIDER_COUNTRY"]
    p.start().wait_ready()
    pid = info(p)["provider_id"]
    expect_eq(info(p)["country"], None, "country in /api/v1/provider while unset")
    expect_eq(p.statuses()[-1],
              "0 VMs running; not advertising: no Country= (where this machine is, e.g. Country=DE)",
              "STATUS= without Country=")
    expect_eq(p.stderr().count("No country configured (Country= in provider.conf, or GOLEM_PROVIDER_COUNTRY): "
                               "not advertising"), 1, f"the log line{p.tail()}")
    status, _, _ = http("GET", f"{disc.url}{ADS}/{pid}")
    expect_eq(status, 404, "an advertisement of a provider without Country=")
    p.stop()

    p = provider(binary, Standin(), discovery=disc, COUNTRY="de").start().wait_ready()
    pid = info(p)["provider_id"]
    expect_advertised(p, disc, pid, "with Country=de")
    status, _, data = http("GET", f"{disc.url}{ADS}/{pid}")
    expect_eq((status, data["country"]), (200, "DE"), "the advertised country")
    p.stop()


@case
def busy_ssh_port_skipped(binary):
    """A port of the SSH range that another program listens on is skipped:
    the VM gets the next one, and the port's owner is left alone."""
    mp = Standin()
    p = provider(binary, mp)
    start, _ = p.ssh_range
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", start))
        squatter.listen()
        p.start().wait_ready()
        vm = create(p, "skipper")
        check_running(p, vm, "create with the first SSH port busy")
        expect_eq(vm["ssh_port"], start + 1, "SSH port of the VM")
        # the squatter still owns its port
        with socket.create_connection(("127.0.0.1", start), timeout=5):
            pass
        delete(p, "skipper")
    # free again: the next VM gets the first port of the range
    expect_eq(create(p, "second")["ssh_port"], start, "SSH port once the range is free")
    p.stop()


@case
def reload_minimums(binary):
    """SIGHUP re-reads the configuration: minimums raised above what is free
    withdraw the advertisement, lowered again it comes back."""
    disc = start_discovery()
    mp = Standin()
    conf = os.path.join(make_tempdir("golemtest-conf-"), "provider.conf")
    with open(conf, "w") as f:
        f.write("[Provider]\nMinCPUCores=1\n")
    p = provider(binary, mp, discovery=disc)
    p.args = ["--config", conf]
    p.start().wait_ready()
    pid = info(p)["provider_id"]
    expect_advertised(p, disc, pid, "with MinCPUCores=1")
    with open(conf, "w") as f:
        f.write(f"[Provider]\nMinCPUCores={CAPACITY['cpu'] + 1}\n")
    p.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 3
    while True:
        status, _, data = http("GET", f"{disc.url}{ADS}/{pid}")
        if status == 404:
            break
        expect(time.monotonic() < deadline,
               f"advertisement still there 3 s after a reload raised "
               f"MinCPUCores above the free CPUs: {status} {data!r}")
        time.sleep(0.1)
    with open(conf, "w") as f:
        f.write("[Provider]\nMinCPUCores=2\n")
    p.proc.send_signal(signal.SIGHUP)
    expect_advertised(p, disc, pid, "after lowering MinCPUCores again",
                      timeout=3)
    expect(p.running(), "the provider died of SIGHUP")
    p.stop()


@case
def job_wait(binary):
    """GET /api/v1/vms/jobs/{id}?wait=N (0-60) answers when the job changes:
    its launch progresses or the VM runs, not N seconds later; without wait
    it answers at once; bad values are 422; a client that hangs up while
    waiting does no harm."""
    mp = Standin(PREPARE_SECONDS=1, BOOT_SECONDS=2)
    p = provider(binary, mp).start().wait_ready()
    job = create(p, "waited", status=202, query="?async=true")["job_id"]
    path = f"/api/v1/vms/jobs/{job}"
    for bad in ("abc", "-1", "61", "1.5", "", "99999999999999999999"):
        status, _, data = call(p, "GET", f"{path}?wait={bad}")
        expect_error((status, None, data), 422, "VALIDATION_ERROR", f"wait={bad!r}")
    status, _, data = call(p, "GET", path)
    expect_eq((status, data["status"]), (200, "creating"), "the job without wait")

    # A hung-up waiter, then waits until the job is ready: each answer is a
    # change (a new stage or figure, or ready), well before the 50 s are up.
    with socket.create_connection(("127.0.0.1", p.port)) as s:
        s.sendall(f"GET {path}?wait=50 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    seen = []
    start = time.monotonic()
    while True:
        status, _, data = call(p, "GET", f"{path}?wait=50")
        expect_eq(status, 200, f"GET {path}?wait=50: {data!r}")
        expect(time.monotonic() - start < 45,
               f"the wait ran its 50 s although the job changed: {data!r}")
        seen.append((data["status"], data.get("stage"), data.get("progress")))
        if data["status"] != "creating":
            break
    expect_eq(data["status"], "ready", f"the job at the end: {data!r}")
    expect(len(seen) >= 2 and any(s == "creating" and (st or pr is not None)
                                  for s, st, pr in seen),
           f"no progress seen on the way: {seen!r}")
    # Stages are phrases ("Verifying image", not multipass' "Verifying image: ").
    expect(all(not st or (st == st.strip() and not st.endswith(":")) for _, st, _ in seen),
           f"a stage with a trailing colon or space: {seen!r}")
    check_running(p, get_vm(p, "waited"), "the VM after its job")
    # Done: answered at once.
    status, _, data = call(p, "GET", f"{path}?wait=60")
    expect_eq((status, data["status"]), (200, "ready"), "a finished job with wait")
    status, _, data = call(p, "GET", "/health")
    expect_eq(status, 200, "health after the waits")
    p.stop()


@case
def check_config_option(binary):
    """--check-config prints the effective settings and exits 0 without
    serving; a bad value exits 1 naming it."""
    mp = Standin()
    p = provider(binary, mp, MAX_VMS="4")
    p.args = ["--check-config"]
    p.start()
    expect_eq(p.wait_exit(15), 0, "--check-config exit code" + p.tail())
    out = p.stdout().splitlines()
    for line in ("[Provider]", f"Port={p.port}", "MaxVMs=4", "MaxVMsPerOwner=3",
                 f"MultipassBinaryPath={mp.binary}"):
        expect(line in out, f"--check-config lacks {line!r}: {out!r}")
    expect(not p.notified("READY=1"), "--check-config sent READY=1")
    expect_refused("127.0.0.1", p.port, "--check-config")

    bad = provider(binary, mp, PORT_RANGE_START="50900", PORT_RANGE_END="50800")
    bad.args = ["--check-config"]
    bad.start()
    expect_eq(bad.wait_exit(15), 1, "--check-config exit code with a bad range" + bad.tail())
    expect("PORT_RANGE_START=50900 is above PORT_RANGE_END=50800" in bad.stderr(),
           f"the error: {bad.stderr()!r}")
    expect_eq(bad.stdout(), "", "--check-config printed settings despite the error")


@case
def socket_activation(binary):
    """Under systemd-socket-activate the provider serves the passed socket,
    binds nothing itself, sends READY=1 and stops cleanly."""
    mp = Standin()
    p = provider(binary, mp)
    decoy = start_activated(p, "GOLEM_PROVIDER_PORT")
    check_running(p, create(p, "activated"), "create over the passed socket")
    expect_refused("127.0.0.1", decoy, "GOLEM_PROVIDER_PORT when activated")
    p.stop()
    expect(p.notify_index("READY=1") < p.notify_index("STOPPING=1"),
           f"STOPPING=1 before READY=1: {p.notifications!r}")


@case
def rate_limit(binary):
    """RATE_LIMIT_PER_MINUTE=3: the 4th API request from one address is
    429 RATE_001 with Retry-After; /health is not limited."""
    mp = Standin()
    p = provider(binary, mp, RATE_LIMIT_PER_MINUTE=3).start().wait_ready()
    for i in range(3):
        status, _, data = call(p, "GET", VMS)
        expect_eq(status, 200, f"API request {i + 1} of 3 (body {data!r})")
    for method, path, body in (("GET", VMS, None), ("GET", INFO, None),
                               ("POST", VMS, vm_body("limited"))):
        hdrs = expect_error(call(p, method, path, body), 429, "RATE_001",
                            f"{method} {path} over the limit")
        retry = hdrs.get("retry-after", "")
        expect(retry.isdigit() and 1 <= int(retry) <= 60,
               f"{method} {path}: Retry-After {retry!r} is not 1..60 s")
    status, _, _ = call(p, "GET", "/health")
    expect_eq(status, 200, "/health while rate limited")
    expect_eq(mp.launches(), [], "launches by a rate-limited create")


# --------------------------------------------------------------------------
# cases: SSH forwarding to a real sshd


@case
def ssh_forwarding(binary):
    """HOST:ssh_port is forwarded to the VM's address port 22 while it
    runs: a real sshd behind it, 5 concurrent 1 MB round trips; after a
    stop the port is closed, after a start it forwards again."""
    key, pub = make_key()
    sshd = Sshd()
    sshd.authorize(pub)
    addr = sshd.ip
    mp = Standin(ip=addr)
    p = provider(binary, mp).start().wait_ready()
    vm = create(p, "sshvm", pub)
    check_running(p, vm, "create sshvm")
    expect_eq(vm["ip_address"], addr, "ip_address (MULTIPASS_STANDIN_IP)")
    port = vm["ssh_port"]

    def ssh(command, data=None, timeout=60):
        return run_ssh(key, port, command, input=data, timeout=timeout)

    r = ssh("echo hello")
    expect_eq((r.returncode, r.stdout), (0, b"hello\n"),
              f"ssh echo hello (stderr {r.stderr!r})")

    blobs = [os.urandom(1000000) for _ in range(5)]

    def round_trip(i):
        return ssh("cat", blobs[i], timeout=120)

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(round_trip, range(5)))
    for i, r in enumerate(results):
        expect_eq(r.returncode, 0, f"session {i}: exit (stderr {r.stderr!r})")
        expect(r.stdout == blobs[i], f"session {i}: {len(r.stdout)} bytes "
               f"came back, not the 1000000 sent")
    r = ssh("sha256sum", blobs[0])
    expect_eq(r.stdout.split()[:1], [hashlib.sha256(blobs[0]).hexdigest()
                                     .encode()], "sha256sum through ssh")

    vm_op(p, "sshvm", "stop")
    expect_refused("127.0.0.1", port, "ssh port of a stopped VM")
    vm_op(p, "sshvm", "start")
    r = wait_for("ssh after start",
                 lambda: (lambda r: r if r.returncode == 0 else None)(
                     ssh("echo again")), 10)
    expect_eq(r.stdout, b"again\n", "ssh after start")
    delete(p, "sshvm")
    expect_refused("127.0.0.1", port, "ssh port of a deleted VM")


@case
def ssh_forwarding_after_restart(binary):
    """Without systemd the forwarder runs in the provider: after SIGTERM and
    a start with the VM still running, its SSH port forwards again (a real
    sshd behind it), not just named by /access."""
    key, pub = make_key()
    sshd = Sshd()
    sshd.authorize(pub)
    mp = Standin(ip=sshd.ip)
    p = provider(binary, mp).start().wait_ready()
    vm = create(p, "sshkept", pub)
    check_running(p, vm, "create sshkept")
    port = vm["ssh_port"]

    def ssh_echo(word):
        r = run_ssh(key, port, f"echo {word}", timeout=60)
        return r.stdout if r.returncode == 0 else None

    expect_eq(ssh_echo("before"), b"before\n", "ssh before the restart")
    p.stop()
    expect_refused("127.0.0.1", port, "ssh port while the provider is down")
    q = p.respawn("providerd-restarted").start().wait_ready()
    check_running(q, get_vm(q, "sshkept"), "sshkept after the restart")
    out = wait_for("ssh after the restart", lambda: ssh_echo("after"), 10)
    expect_eq(out, b"after\n", "ssh through the port after the restart")
    delete(q, "sshkept")
    expect_refused("127.0.0.1", port, "ssh port of a deleted VM")


# --------------------------------------------------------------------------
# cases: hostile requests


def raw_body(text):
    return text.encode() if isinstance(text, str) else text


def hostile_rows(key):
    """(label, method, path, body, status, code, fields) rows."""
    K = key
    V = "VALIDATION_ERROR"
    base = {"name": "hostile-x", "size": "small", "ssh_key": K}

    def body(**changes):
        b = dict(base)
        for k, v in changes.items():
            if v is _DROP:
                b.pop(k, None)
            else:
                b[k] = v
        return b

    def res(**changes):
        r = {"cpu": 1, "memory": 1, "storage": 10}
        r.update(changes)
        return body(resources=r)

    rows = [
        # bodies that are not a create request
        ("bad JSON", "POST", VMS, b'{"name": "x",', 422, V, "body"),
        ("JSON array", "POST", VMS, b"[]", 422, V, "body"),
        ("JSON string", "POST", VMS, b'"hostile-x"', 422, V, "body"),
        ("JSON number", "POST", VMS, b"42", 422, V, "body"),
        ("JSON null", "POST", VMS, b"null", 422, V, "body"),
        ("empty body", "POST", VMS, b"", 422, V, "body"),
        ("trailing garbage", "POST", VMS,
         raw_body(json.dumps(base) + " {}"), 422, V, "body"),
        # wrong types
        ("name number", "POST", VMS, body(name=5), 422, V, "name"),
        ("name null", "POST", VMS, body(name=None), 422, V, "name"),
        ("name array", "POST", VMS, body(name=["hostile-x"]), 422, V, "name"),
        ("name missing", "POST", VMS, body(name=_DROP), 422, V, "name"),
        ("resources string", "POST", VMS, body(resources="big"), 422, V,
         "resources"),
        ("resources array", "POST", VMS, body(resources=[1, 1, 10]), 422, V,
         "resources"),
        ("cpu string", "POST", VMS, res(cpu="1"), 422, V, "resources.cpu"),
        ("cpu float", "POST", VMS, res(cpu=1.5), 422, V, "resources.cpu"),
        ("cpu bool", "POST", VMS, res(cpu=True), 422, V, "resources.cpu"),
        ("cpu null", "POST", VMS, res(cpu=None), 422, V, "resources.cpu"),
        ("cpu object", "POST", VMS, res(cpu={}), 422, V, "resources.cpu"),
        ("memory string", "POST", VMS, res(memory="1"), 422, V,
         "resources.memory"),
        ("storage array", "POST", VMS, res(storage=[10]), 422, V,
         "resources.storage"),
        ("flat cpu string", "POST", VMS,
         body(size=_DROP, cpu="1", memory=1, storage=10), 422, V, "cpu"),
        ("size number", "POST", VMS, body(size=2), 422, V, "size"),
        ("size array", "POST", VMS, body(size=["small"]), 422, V, "size"),
        ("image number", "POST", VMS, body(image=5), 422, V, "image"),
        ("ssh_key number", "POST", VMS, body(ssh_key=5), 422, V, "ssh_key"),
        ("ssh_key null", "POST", VMS, body(ssh_key=None), 422, V, "ssh_key"),
        # numbers out of range
        ("cpu 1e309", "POST", VMS, raw_body(
            '{"name":"hostile-x","ssh_key":%s,"resources":{"cpu":1e309,'
            '"memory":1,"storage":10}}' % json.dumps(K)), 422, V,
         ("resources.cpu", "body")),
        ("memory 99999999999999999999", "POST", VMS, raw_body(
            '{"name":"hostile-x","ssh_key":%s,"resources":{"cpu":1,'
            '"memory":99999999999999999999,"storage":10}}' % json.dumps(K)),
         422, V, "resources.memory"),
        ("storage -1e400", "POST", VMS, raw_body(
            '{"name":"hostile-x","ssh_key":%s,"resources":{"cpu":1,'
            '"memory":1,"storage":-1e400}}' % json.dumps(K)), 422, V,
         ("resources.storage", "body")),
        ("cpu 2^63", "POST", VMS, res(cpu=2 ** 63), 422, V, "resources.cpu"),
        ("cpu 2^31", "POST", VMS, res(cpu=2 ** 31), 422, V, "resources.cpu"),
        ("cpu -1", "POST", VMS, res(cpu=-1), 422, V, "resources.cpu"),
        ("cpu 0", "POST", VMS, res(cpu=0), 422, V, "resources.cpu"),
        ("memory 0", "POST", VMS, res(memory=0), 422, V, "resources.memory"),
        ("storage -20", "POST", VMS, res(storage=-20), 422, V,
         "resources.storage"),
        ("flat memory 0", "POST", VMS,
         body(size=_DROP, cpu=1, memory=0, storage=10), 422, V, "memory"),
        ("size huge", "POST", VMS, body(size="huge"), 422, V, "size"),
        ("size empty", "POST", VMS, body(size=""), 422, V, "size"),
        ("no size at all", "POST", VMS, body(size=_DROP), 422, V,
         ("resources", "size")),
    ]
    bad_names = ["--help", "../x", "a b", "ab", "a" * 64, "UPPER", "a--b",
                 "vm-\u00fc", "vm-\u202e", "\u0432\u043c-1", "golem;rm -rf /",
                 "$(reboot)", "`reboot`", "abc\u0000def", "abc\ndef",
                 "abc\r\n", "-abc", "abc-", "", "a/b", "abc.", "x" * 1000,
                 "jobs"]
    for name in bad_names:
        rows.append((f"name {name[:40]!r}", "POST", VMS, body(name=name),
                     422, V, "name"))
    blob = K.split()[1]
    bad_keys = [
        ("not a key", "not a key"),
        ("type only", "ssh-ed25519"),
        ("short base64", "ssh-ed25519 AAAA"),
        ("two keys", K + "\n" + K),
        ("YAML payload", "ssh-ed25519 AAAA\n#cloud-config\nruncmd: [reboot]"),
        ("key + YAML", K + "\n#cloud-config\nruncmd: [reboot]"),
        ("key + CR", K + "\r"),
        ("key + escape", K + " \x1b[31mred"),
        ("key + NUL", K + "\u0000tail"),
        ("unknown type", "ssh-unknown " + blob),
        ("type without ssh-", "ed25519 " + blob),
        ("invalid base64", "ssh-ed25519 !!!notbase64!!!"),
        ("truncated base64", "ssh-ed25519 " + blob[:-3]),
        ("private key", "-----BEGIN OPENSSH PRIVATE KEY-----"),
        ("empty key", ""),
    ]
    for label, value in bad_keys:
        rows.append((f"ssh_key {label}", "POST", VMS, body(ssh_key=value),
                     422, V, "ssh_key"))
    bad_images = ["--disk=1", "../../etc/passwd", "http://evil",
                  "file:///etc/passwd", "-v", "ubuntu 24.04", "a;b",
                  "$(reboot)", "", "x" * 300, "24.04\n--disk=1"]
    for image in bad_images:
        rows.append((f"image {image[:40]!r}", "POST", VMS, body(image=image),
                     422, V, "image"))
    rows += [
        ("70 KiB body", "POST", VMS, body(padding="x" * (70 * 1024)), 413,
         "PAYLOAD_TOO_LARGE", None),
        # paths
        ("GET /", "GET", "/", None, 404, "NOT_FOUND", None),
        ("GET /api", "GET", "/api", None, 404, "NOT_FOUND", None),
        ("GET /api/v1", "GET", "/api/v1", None, 404, "NOT_FOUND", None),
        ("GET /api/v2/vms", "GET", "/api/v2/vms", None, 404, "NOT_FOUND",
         None),
        ("GET /api/v1/vm", "GET", "/api/v1/vm", None, 404, "NOT_FOUND", None),
        ("GET vms/x/unknown", "GET", f"{VMS}/hostile-ok/unknown", None, 404,
         "NOT_FOUND", None),
        ("GET vms/x/access/x", "GET", f"{VMS}/hostile-ok/access/x", None,
         404, "NOT_FOUND", None),
        ("GET /health/x", "GET", "/health/x", None, 404, "NOT_FOUND", None),
        ("GET vms/..%2f..%2fetc", "GET", f"{VMS}/..%2f..%2fetc", None, 404,
         ("VM_NOT_FOUND", "NOT_FOUND"), None),
        ("DELETE vms/..%2f..%2fetc", "DELETE", f"{VMS}/..%2f..%2fetc", None,
         404, ("VM_NOT_FOUND", "NOT_FOUND"), None),
        ("stop vms/..%2f..%2fetc", "POST", f"{VMS}/..%2f..%2fetc/stop", None,
         404, ("VM_NOT_FOUND", "NOT_FOUND"), None),
        ("GET vms/%2e%2e", "GET", f"{VMS}/%2e%2e", None, 404,
         ("VM_NOT_FOUND", "NOT_FOUND"), None),
        ("GET vms/../../etc/passwd", "GET", f"{VMS}/../../etc/passwd", None, 404,
         ("VM_NOT_FOUND", "NOT_FOUND"), None),
        ("GET vms/hostile-ok%00", "GET", f"{VMS}/hostile-ok%00", None, 404,
         ("VM_NOT_FOUND", "NOT_FOUND"), None),
        ("GET vms/UPPER", "GET", f"{VMS}/HOSTILE-OK", None, 404,
         "VM_NOT_FOUND", None),
        ("job ..%2f..%2fetc%2fpasswd", "GET",
         f"{JOBS}/..%2f..%2fetc%2fpasswd", None, 404,
         ("JOB_NOT_FOUND", "NOT_FOUND"), None),
        ("job %2e%2e", "GET", f"{JOBS}/%2e%2e", None, 404, "JOB_NOT_FOUND",
         None),
        ("job SQL", "GET", f"{JOBS}/%27%20OR%201%3D1%20--", None, 404,
         "JOB_NOT_FOUND", None),
        ("job 1000 chars", "GET", f"{JOBS}/{'a' * 1000}", None, 404,
         "JOB_NOT_FOUND", None),
        ("job unknown", "GET", f"{JOBS}/0123456789abcdef0123456789abcdef",
         None, 404, "JOB_NOT_FOUND", None),
        ("job ../..", "GET", f"{JOBS}/../../../etc/passwd", None, 404,
         ("JOB_NOT_FOUND", "NOT_FOUND", "VM_NOT_FOUND"), None),
        ("VM not found", "GET", f"{VMS}/no-such-vm", None, 404,
         "VM_NOT_FOUND", None),
        ("stop not found", "POST", f"{VMS}/no-such-vm/stop", None, 404,
         "VM_NOT_FOUND", None),
        # methods
        ("PUT vms", "PUT", VMS, b"{}", 405, "METHOD_NOT_ALLOWED", None),
        ("DELETE vms", "DELETE", VMS, None, 405, "METHOD_NOT_ALLOWED", None),
        ("PATCH vm", "PATCH", f"{VMS}/hostile-ok", b"{}", 405,
         "METHOD_NOT_ALLOWED", None),
        ("POST vm", "POST", f"{VMS}/hostile-ok", b"{}", 405,
         "METHOD_NOT_ALLOWED", None),
        ("GET stop", "GET", f"{VMS}/hostile-ok/stop", None, 405,
         "METHOD_NOT_ALLOWED", None),
        ("DELETE access", "DELETE", f"{VMS}/hostile-ok/access", None, 405,
         "METHOD_NOT_ALLOWED", None),
        ("POST /health", "POST", "/health", b"{}", 405,
         "METHOD_NOT_ALLOWED", None),
        ("POST info", "POST", INFO, b"{}", 405, "METHOD_NOT_ALLOWED", None),
        ("DELETE job", "DELETE", f"{JOBS}/0123456789abcdef0123456789abcdef",
         None, 405, "METHOD_NOT_ALLOWED", None),
        # state
        ("name taken", "POST", VMS, body(name="hostile-ok"), 409,
         "VM_NAME_TAKEN", None),
        ("start running", "POST", f"{VMS}/hostile-ok/start", None, 409,
         "VM_WRONG_STATE", None),
        # query junk
        ("async junk + bad body", "POST", VMS + "?async=%00&%zz=&&==",
         b"[1]", 422, V, "body"),
    ]
    return rows


_DROP = object()


@case
def hostile_requests(binary):
    """A table of hostile requests, each with its status and error code;
    the daemon survives all of them and nothing reaches multipass."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    key = random_public_key("hostile@test")
    ok = create(p, "hostile-ok", key, size="small")
    rows = hostile_rows(key)
    expect(len(rows) >= 40, f"only {len(rows)} hostile rows")
    failures = []
    for label, method, path, body, status, code, fields in rows:
        try:
            result = call(p, method, path, body, timeout=30)
            expect_error(result, status, code, f"{label} ({method} {path[:60]})",
                         fields)
        except AssertionError as e:
            failures.append(str(e))
        if not p.running():
            failures.append(f"the daemon died at {label!r}{p.tail()}")
            break
    for path in (VMS + "?%zz&&=&a=%00&async", INFO + "?x='%22<>",
                 "/health?%%%", VMS + "?" + "q" * 4000):
        status, _, data = call(p, "GET", path)
        if status != 200:
            failures.append(f"GET {path[:60]}: {status} {data!r}")
    expect(not failures, f"{len(failures)} of {len(rows)} hostile requests "
           "answered wrongly:\n  " + "\n  ".join(failures))
    expect(p.running(), "the daemon is gone" + p.tail())
    status, _, data = call(p, "GET", "/health")
    expect_eq((status, data), (200, {"status": "healthy"}), "/health after")
    expect_eq(vm_names(p), ["hostile-ok"], "VMs after the hostile requests")
    expect_eq(get_vm(p, "hostile-ok")["ssh_port"], ok["ssh_port"],
              "hostile-ok unchanged")
    expect_consistent(p, mp, "after the hostile requests")

    # Nothing hostile reached a multipass argv.
    expect_eq(mp.launched(), ["golem-hostile-ok"],
              "instances launched")
    hostile = set()
    for _, _, _, body, _, _, _ in rows:
        if isinstance(body, dict):
            for field in ("name", "image", "size"):
                value = body.get(field)
                if isinstance(value, str) and len(value) >= 3 and \
                        value not in ("hostile-x", "hostile-ok", "small"):
                    hostile.add(value)
    for argv in mp.calls():
        for arg in argv:
            bad = [h for h in hostile if h in arg]
            expect(not bad, f"hostile value(s) {bad} in multipass argv {argv}")
            expect(not any(c in arg for c in "\n\r\0;$`"),
                   f"control or shell character in multipass argv {argv}")
    record = mp.record("golem-hostile-ok")
    expect(record and "runcmd" not in (record.get("cloud_init") or ""),
           f"cloud-init of hostile-ok: {record and record.get('cloud_init')!r}")


if __name__ == "__main__":
    raise SystemExit(main(paths=("discovery", "multipass"),
                          binary="providerd"))
