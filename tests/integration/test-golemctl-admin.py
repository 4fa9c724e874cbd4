#!/usr/bin/env python3
"""End-to-end tests of golemctl's admin verbs (``golemctl provider ...``,
src/golemctl/golemctl-provider.c) against golem-providerd on a private
system bus with the real polkitd.

    test-golemctl-admin.py --binary golemctl --providerd golem-providerd \\
        --discovery golem-discoveryd --multipass tests/multipass \\
        --dbus-config dbus/org.golem.Provider1.conf \\
        --polkit-policy polkit/org.golem.provider1.policy [CASE]

The world of each case (dbus-daemon with the system-bus policy and
dbus/org.golem.Provider1.conf, polkitd, the provider driving the multipass
stand-in, optionally golem-discoveryd) is the one of test-provider-bus.py,
whose helpers this script imports: see there for the test users and what
the rules file lets each do (golemtest-allow everything, golemtest-deny
nothing, golemtest-stoponly the "stop" verb only).  Like that script it
needs root (it creates those users and installs the policy and the rules
file), dbus-daemon, polkitd and busctl.  golemctl runs as the test users
with nothing in its environment but PATH, LANG and DBUS_SYSTEM_BUS_ADDRESS
(and no home directory: the system users have none), stdin /dev/null
unless a case gives it a terminal.  Run ``--list`` for the case names.
"""

import fcntl
import importlib.util
import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
import golemworld  # noqa: E402
from golemworld import (expect, expect_eq, http, main,  # noqa: E402
                       make_tempdir, on_cleanup)


def _import_provider_bus():
    """test-provider-bus.py as a module, without registering its cases as
    ours (its @case adds them to golemworld.CASES on import).  Used from it:
    World (its constructor's polkit/discovery/timings/settings, and .bus,
    .mp, .p, .disc, .rest), system_bus, make_key, expect_denied_logged,
    rfc3339 and the constants of the users and REST paths."""
    before = dict(golemworld.CASES)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "test-provider-bus.py")
    spec = importlib.util.spec_from_file_location("provider_bus", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    golemworld.CASES.clear()
    golemworld.CASES.update(before)
    return module


pb = _import_provider_bus()
ALLOW, DENY, STOPONLY, ROOT = pb.ALLOW, pb.DENY, pb.STOPONLY, pb.ROOT
VMS, INFO, ADS = pb.VMS, pb.INFO, pb.ADS
CAPACITY = pb.CAPACITY

NO_BUS = "unix:path=/nonexistent/golemtest/system_bus_socket"
NOT_AUTHORIZED = r"not authorized"
TABLE_HEADER = ["NAME", "STATE", "ADDRESS", "SSH", "CPU", "MEMORY", "STORAGE",
                "IMAGE"]
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# --------------------------------------------------------------------------
# running golemctl


_ROOT_HOME = []


def _root_home():
    """A HOME for golemctl runs as root (the test users have none)."""
    if not _ROOT_HOME or not os.path.isdir(_ROOT_HOME[0]):
        _ROOT_HOME[:] = [make_tempdir("golemtest-admin-home-")]
    return _ROOT_HOME[0]


def client_env(address):
    """golemctl's whole environment: PATH, LANG, the bus, and the
    sanitizers' options of a sanitized build (tools/check)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "LANG": "C.UTF-8", "DBUS_SYSTEM_BUS_ADDRESS": address}
    env.update({k: v for k, v in os.environ.items()
                if k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")})
    return env


def run(address, user, *args, env=None, timeout=60):
    """golemctl ARGS as ``user`` (ROOT: this process' uid) on the bus at
    ``address``; returns (exit code, stdout, stderr)."""
    e = client_env(address)
    if user is ROOT:
        e["HOME"] = _root_home()
    e.update(env or {})
    kw = {} if user is ROOT else {"user": user, "group": user,
                                  "extra_groups": []}
    try:
        proc = subprocess.run([golemworld.PATHS["golemctl"]] + list(args),
                              env=e, cwd="/", stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"golemctl {' '.join(args)} as {user}: still "
                             f"running after {timeout}s")
    return (proc.returncode, proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"))


def _what(user, args):
    return f"golemctl {' '.join(args)} (as {user or 'root'})"


def ok(address, user, *args, **kw):
    """golemctl succeeds; returns (stdout, stderr)."""
    code, out, err = run(address, user, *args, **kw)
    expect_eq(code, 0, f"{_what(user, args)}: exit code (stdout {out!r}, "
              f"stderr {err!r})")
    return out, err


def fails(address, user, status, *args, message=None, **kw):
    """golemctl exits with ``status`` and exactly one line on stderr,
    "golemctl: ...", matching the regex ``message`` if given; nothing on
    stdout.  Returns that line."""
    code, out, err = run(address, user, *args, **kw)
    what = _what(user, args)
    expect_eq(code, status, f"{what}: exit code (stdout {out!r}, "
              f"stderr {err!r})")
    lines = [line for line in err.splitlines() if line.strip()]
    expect(len(lines) == 1 and lines[0].startswith("golemctl: "),
           f"{what}: stderr is not one line 'golemctl: ...': {err!r}")
    expect_eq(out, "", f"{what}: stdout")
    if message:
        expect(re.search(message, lines[0]),
               f"{what}: error {lines[0]!r} does not match {message!r}")
    return lines[0]


def json_of(address, user, *args, **kw):
    out, _ = ok(address, user, "--json=short", *args, **kw)
    expect(out.endswith("\n") and out.count("\n") == 1,
           f"{_what(user, args)} --json=short: not one line: {out!r}")
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError(f"{_what(user, args)} --json=short: not JSON: "
                             f"{out!r}")


def table(out, legend=True):
    """Splits a golemctl table into rows of columns (2+ blanks apart);
    returns (rows, legend line or None)."""
    lines = out.rstrip("\n").split("\n") if out.strip() else []
    last = None
    if legend:
        expect(lines, f"no output at all: {out!r}")
        last = lines.pop()
        if lines:
            expect_eq(lines.pop(), "", f"the line before the legend in {out!r}")
    return [re.split(r"\s{2,}", line.strip()) for line in lines], last


def key_values(out):
    """The "Key: value" lines of 'provider status' as a dict."""
    result = {}
    for line in out.splitlines():
        key, sep, value = line.strip().partition(": ")
        expect(sep, f"not a 'Key: value' line: {line!r} in {out!r}")
        result[key] = value
    return result


# --------------------------------------------------------------------------
# the world


class World(pb.World):
    """test-provider-bus.py's World (bus, polkitd, stand-in, provider,
    optionally discovery) whose provider is golem-providerd, with golemctl
    as the client."""

    def __init__(self, **kw):
        super().__init__(golemworld.PATHS["providerd"], **kw)

    def ctl(self, user, *args, **kw):
        return run(self.bus.address, user, *args, **kw)

    def ok(self, user, *args, **kw):
        return ok(self.bus.address, user, *args, **kw)

    def fails(self, user, status, *args, **kw):
        return fails(self.bus.address, user, status, *args, **kw)

    def json(self, user, *args, **kw):
        return json_of(self.bus.address, user, *args, **kw)

    # -- REST (our own, so that this file depends on little of World)

    def create(self, name, size="small", wait=True):
        """POST /api/v1/vms: answers once the VM runs, or at once (202)
        with ``wait=False``."""
        status, data = self.rest("POST", VMS + ("" if wait else "?async=true"),
                                 {"name": name, "size": size,
                                  "ssh_key": pb.make_key()})
        expect_eq(status, 201 if wait else 202,
                  f"REST create {name} (body {data!r})")
        return data

    def vm(self, name):
        """GET /api/v1/vms/NAME, or None (404)."""
        status, data = self.rest("GET", f"{VMS}/{name}")
        if status == 404:
            return None
        expect_eq(status, 200, f"GET {VMS}/{name} (body {data!r})")
        return data

    def vms(self):
        status, data = self.rest("GET", VMS)
        expect_eq(status, 200, f"GET {VMS} (body {data!r})")
        return data

    def info(self):
        status, data = self.rest("GET", INFO)
        expect_eq(status, 200, f"GET {INFO} (body {data!r})")
        return data

    def status(self, name):
        vm = self.vm(name)
        return vm and vm["status"]

    def provider_id(self):
        return self.info()["provider_id"]

    def advertisement(self):
        """The provider's advertisement at discovery, or None (404)."""
        status, _, data = http("GET", f"{self.disc.url}{ADS}/"
                               f"{self.provider_id()}")
        if status == 404:
            return None
        expect_eq(status, 200, f"GET {ADS}/ID (body {data!r})")
        return data

    def wait_advertised(self, present, timeout=5, what=""):
        deadline = time.monotonic() + timeout
        while (self.advertisement() is not None) != present:
            expect(time.monotonic() < deadline,
                   f"{what}: the advertisement is "
                   f"{'still missing' if present else 'still there'} "
                   f"after {timeout}s{self.p.tail()}")
            time.sleep(0.1)


def vm_rows_from_rest(vms):
    """What 'provider vms' should show of each REST VM, by name."""
    return {vm["name"]: [vm["name"], vm["status"], vm["ip_address"] or "-",
                         str(vm["ssh_port"] or 0),
                         str(vm["resources"]["cpu"]),
                         f"{vm['resources']['memory']} GB",
                         f"{vm['resources']['storage']} GB", vm["image"]]
            for vm in vms}


def vm_json_from_rest(vm):
    """What 'provider vms --json' should say of a REST VM."""
    return {"name": vm["name"], "state": vm["status"],
            "ip_address": vm["ip_address"], "ssh_port": vm["ssh_port"],
            "cpu": vm["resources"]["cpu"],
            "memory": vm["resources"]["memory"],
            "storage": vm["resources"]["storage"], "image": vm["image"]}


def case(fn):
    """A golemworld case; the binary it gets is golemctl."""
    def run_case(binary):
        golemworld.PATHS["golemctl"] = binary
        fn(binary)
    run_case.__name__ = fn.__name__
    run_case.__doc__ = fn.__doc__
    return golemworld.case(run_case)


# --------------------------------------------------------------------------
# cases: reading


@case
def reads_for_everyone(binary):
    """'provider status' and 'provider vms' need no authorization: as
    golemtest-deny they show what REST /api/v1/provider/info and
    /api/v1/vms say, as a table with its legend, without header and legend
    (--no-legend), and as JSON (--json=short|pretty)."""
    w = World(discovery=True)
    expect_eq(w.json(DENY, "provider", "vms"), [],
              "provider vms --json=short with no VMs")
    out, err = w.ok(DENY, "provider", "vms")
    expect_eq((out, err), ("0 VMs listed.\n", ""),
              "provider vms with no VMs (no header, just the legend)")

    w.create("alpha")
    out, _ = w.ok(DENY, "provider", "vms")
    expect_eq(out.rstrip("\n").split("\n")[-1], "1 VM listed.",
              "the legend for one VM")
    w.create("beta", size="medium")
    w.create("gamma")
    status, data = w.rest("POST", f"{VMS}/beta/stop")
    expect_eq(status, 200, f"REST stop beta (body {data!r})")
    rest_vms = w.vms()
    info = w.info()

    for user in (DENY, STOPONLY, ROOT):
        # status, as text
        out, err = w.ok(user, "provider", "status")
        expect_eq(err, "", f"provider status as {user}: stderr")
        kv = key_values(out)
        expect_eq(kv.get("Provider"), f"{info['provider_id']} ({info['name']})",
                  f"provider status as {user}: Provider")
        expect_eq(kv.get("Country"), info["country"], "status: Country")
        expect_eq(kv.get("Public IP"), info["ip_address"], "status: Public IP")
        expect_eq(kv.get("Discovery"), w.disc.url, "status: Discovery")
        expect(re.fullmatch(r"yes, last \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                            kv.get("Advertising", "")),
               f"status: Advertising {kv.get('Advertising')!r}")
        expect_eq(kv.get("VMs"), "3", "status: VMs")
        total, free = info["total_resources"], info["available_resources"]
        expect_eq(kv.get("CPU"), f"{free['cpu']} of {total['cpu']} free",
                  "status: CPU")
        expect_eq(kv.get("Memory"),
                  f"{free['memory']} of {total['memory']} GB free",
                  "status: Memory")
        expect_eq(kv.get("Storage"),
                  f"{free['storage']} of {total['storage']} GB free",
                  "status: Storage")

        # status, as JSON
        st = w.json(user, "provider", "status")
        expected = {
            "provider_id": info["provider_id"], "name": info["name"],
            "country": info["country"], "public_ip": info["ip_address"],
            "discovery_url": w.disc.url, "advertising": True,
            "vm_count": info["vm_count"],
            "total_cpu": total["cpu"], "total_memory": total["memory"],
            "total_storage": total["storage"],
            "available_cpu": free["cpu"], "available_memory": free["memory"],
            "available_storage": free["storage"]}
        expect_eq({k: st.get(k) for k in expected}, expected,
                  f"provider status --json=short as {user} vs REST {INFO}")
        expect(isinstance(st.get("last_advertisement"), str) and
               RFC3339.match(st["last_advertisement"]) and
               abs(pb.rfc3339(st["last_advertisement"]) - time.time()) < 120,
               f"status --json: last_advertisement "
               f"{st.get('last_advertisement')!r}")
        pretty, _ = w.ok(user, "--json=pretty", "provider", "status")
        expect(pretty.count("\n") > 5 and json.loads(pretty) == st,
               f"status --json=pretty is not the same object, indented: "
               f"{pretty!r}")

        # vms, as a table
        out, err = w.ok(user, "provider", "vms")
        expect_eq(err, "", f"provider vms as {user}: stderr")
        rows, legend = table(out)
        expect_eq(legend, "3 VMs listed.", f"provider vms as {user}: legend")
        expect_eq(rows[0], TABLE_HEADER, "provider vms: header")
        expect_eq({r[0]: r for r in rows[1:]}, vm_rows_from_rest(rest_vms),
                  f"provider vms as {user}: rows vs REST {VMS}")
        expect("\x1b" not in out, f"colours in a pipe: {out!r}")
        out, _ = w.ok(user, "--no-legend", "provider", "vms")
        rows, _ = table(out, legend=False)
        expect_eq(len(rows), 3, f"provider vms --no-legend: {out!r}")
        expect_eq({r[0]: r for r in rows}, vm_rows_from_rest(rest_vms),
                  "provider vms --no-legend: rows (no header, no legend)")

        # vms, as JSON
        vms = w.json(user, "provider", "vms")
        expect(isinstance(vms, list), f"provider vms --json: {vms!r}")
        expect_eq(sorted(vms, key=lambda v: v["name"]),
                  [vm_json_from_rest(vm) for vm in
                   sorted(rest_vms, key=lambda v: v["name"])],
                  f"provider vms --json=short as {user} vs REST {VMS}")
        pretty, _ = w.ok(user, "provider", "vms", "--json=pretty")
        expect_eq(json.loads(pretty), vms, "provider vms --json=pretty")


@case
def vms_while_creating(binary):
    """A VM still booting: 'provider vms' shows it creating with no address
    ("-" in the table, null in JSON); stopping or deleting it is refused by
    the provider (wrong state), exit 1 and one line naming the VM."""
    w = World(timings={"BOOT_SECONDS": 4})
    w.create("slow", wait=False)
    out, _ = w.ok(DENY, "provider", "vms")
    rows, legend = table(out)
    expect_eq(legend, "1 VM listed.", "legend while creating")
    expect_eq(rows[1][:3], ["slow", "creating", "-"],
              "the row of a VM being created")
    vms = w.json(DENY, "provider", "vms")
    expect_eq([vms[0].get(k) for k in ("name", "state", "ip_address")],
              ["slow", "creating", None], "JSON of a VM being created")
    for verb in ("stop", "delete"):
        w.fails(ALLOW, 1, "provider", "vm", verb, "slow", message=r"\bslow\b")
    deadline = time.monotonic() + 30
    while w.status("slow") != "running":
        expect(time.monotonic() < deadline, "slow never ran")
        time.sleep(0.2)
    ip = w.vm("slow")["ip_address"]
    expect_eq(w.json(DENY, "provider", "vms")[0]["ip_address"], ip,
              "the address once running")


# --------------------------------------------------------------------------
# cases: changing VMs


@case
def vm_verbs_allowed(binary):
    """golemtest-allow stops, starts and deletes a VM with 'provider vm
    stop|start|delete NAME': exit 0 once done (the VM settled, in REST and
    in multipass), a note on stderr unless -q."""
    w = World(timings={"STOP_SECONDS": 1, "BOOT_SECONDS": 1})
    w.create("alpha")
    w.create("bystander")

    out, err = w.ok(ALLOW, "provider", "vm", "stop", "alpha")
    expect_eq(out, "", "provider vm stop: stdout")
    expect(re.fullmatch(r"golemctl: .*alpha.*\n", err),
           f"provider vm stop: not one note naming the VM: {err!r}")
    expect_eq(w.status("alpha"), "stopped", "REST status after vm stop")
    expect_eq(w.mp.power("alpha"), "Stopped", "multipass after vm stop")
    expect_eq(w.json(DENY, "provider", "vms")[0]["state"], "stopped",
              "provider vms after vm stop")

    out, err = w.ok(ALLOW, "-q", "provider", "vm", "start", "alpha")
    expect_eq((out, err), ("", ""), "provider vm start -q: output")
    expect_eq(w.status("alpha"), "running", "REST status after vm start")
    expect_eq(w.mp.power("alpha"), "Running", "multipass after vm start")

    w.ok(ALLOW, "provider", "vm", "stop", "alpha", "--no-ask-password")
    expect_eq(w.status("alpha"), "stopped", "after vm stop --no-ask-password")
    w.ok(ALLOW, "provider", "vm", "delete", "alpha")
    expect_eq(w.vm("alpha"), None, "REST after vm delete")
    expect_eq(w.mp.instance("alpha"), None, "multipass after vm delete")
    expect_eq([v["name"] for v in w.json(DENY, "provider", "vms")],
              ["bystander"], "provider vms after vm delete")
    expect_eq(w.status("bystander"), "running", "the other VM")
    expect_eq(w.info()["available_resources"],
              {"cpu": CAPACITY["cpu"] - 1, "memory": CAPACITY["memory"] - 1,
               "storage": CAPACITY["storage"] - 10},
              "resources after the delete")

    # A verb in the wrong state: the provider's refusal, one line.
    w.fails(ALLOW, 1, "provider", "vm", "start", "bystander",
            message=r"bystander")
    expect_eq(w.status("bystander"), "running", "after a refused start")


@case
def vm_verbs_denied(binary):
    """golemtest-deny may not stop, start or delete: exit 1 and one line
    saying "not authorized", with --no-ask-password and without (no
    terminal: nobody to ask); the VM is untouched and multipass never
    called; the provider logged the denial."""
    w = World()
    w.create("alpha")
    w.create("beta")
    status, data = w.rest("POST", f"{VMS}/beta/stop")
    expect_eq(status, 200, f"REST stop beta (body {data!r})")
    calls = len(w.mp.calls())

    for extra in (("--no-ask-password",), ()):
        for verb, name in (("stop", "alpha"), ("delete", "alpha"),
                           ("start", "beta"), ("delete", "beta")):
            t0 = time.monotonic()
            w.fails(DENY, 1, "provider", "vm", verb, name, *extra,
                    message=NOT_AUTHORIZED)
            expect(time.monotonic() - t0 < 10,
                   f"vm {verb} as deny took {time.monotonic() - t0:.1f}s")
    expect_eq(w.status("alpha"), "running", "alpha after the refusals")
    expect_eq(w.status("beta"), "stopped", "beta after the refusals")
    expect_eq(w.mp.power("alpha"), "Running", "multipass alpha")
    expect_eq([c for c in w.mp.calls()[calls:] if c and c[0] in
               ("stop", "start", "delete")], [],
              "multipass calls after the refusals")
    pb.expect_denied_logged(w, DENY, "Stop", "alpha", "vm stop as deny")
    pb.expect_denied_logged(w, DENY, "Delete", "beta", "vm delete as deny")


@case
def stop_only(binary):
    """golemtest-stoponly (rules: manage-vms with verb "stop") may stop a VM
    but not delete or start one, nor turn advertising off."""
    w = World(discovery=True)
    w.create("alpha")
    for verb in ("delete", "start"):
        w.fails(STOPONLY, 1, "--no-ask-password", "provider", "vm", verb,
                "alpha", message=NOT_AUTHORIZED)
    w.fails(STOPONLY, 1, "provider", "vm", "delete", "alpha",
            message=NOT_AUTHORIZED)
    expect_eq(w.status("alpha"), "running", "alpha after the refusals")

    w.ok(STOPONLY, "--no-ask-password", "provider", "vm", "stop", "alpha")
    expect_eq(w.status("alpha"), "stopped", "alpha after stoponly's stop")
    for verb in ("delete", "start"):
        w.fails(STOPONLY, 1, "--no-ask-password", "provider", "vm", verb,
                "alpha", message=NOT_AUTHORIZED)
    expect_eq(w.status("alpha"), "stopped", "alpha after the refusals")
    expect(w.mp.instance("alpha") is not None, "multipass lost alpha")

    w.fails(STOPONLY, 1, "--no-ask-password", "provider", "advertise", "off",
            message=NOT_AUTHORIZED)
    expect(w.advertisement() is not None,
           "the advertisement went after a refused 'advertise off'")
    expect_eq(w.json(STOPONLY, "provider", "status")["advertising"], True,
              "advertising after the refusal")


# --------------------------------------------------------------------------
# cases: advertising


@case
def advertise_off_on(binary):
    """'provider advertise off' as golemtest-allow withdraws the
    advertisement at discovery at once and keeps it withdrawn (a VM created
    meanwhile does not bring it back); 'on' brings it back with the free
    resources.  golemtest-deny may do neither."""
    w = World(discovery=True)
    w.wait_advertised(True, what="at start")

    w.fails(DENY, 1, "--no-ask-password", "provider", "advertise", "off",
            message=NOT_AUTHORIZED)
    time.sleep(0.5)
    expect(w.advertisement() is not None,
           "the advertisement went after deny's refused 'advertise off'")

    out, err = w.ok(ALLOW, "provider", "advertise", "off")
    expect_eq(out, "", "advertise off: stdout")
    expect(re.fullmatch(r"golemctl: .*\boff\b.*\n", err),
           f"advertise off: not one note saying off: {err!r}")
    w.wait_advertised(False, timeout=3, what="after 'advertise off'")
    expect_eq(w.json(DENY, "provider", "status")["advertising"], False,
              "status --json after 'advertise off'")
    out, _ = w.ok(DENY, "provider", "status")
    expect(key_values(out).get("Advertising", "").startswith("no"),
           f"status text after 'advertise off': {out!r}")

    w.create("while-off")      # free resources change
    time.sleep(2)
    expect(w.advertisement() is None,
           "a VM created while advertising was off brought the "
           f"advertisement back: {w.advertisement()!r}")
    w.ok(ALLOW, "-q", "provider", "advertise", "off")   # again: still fine
    w.fails(DENY, 1, "--no-ask-password", "provider", "advertise", "on",
            message=NOT_AUTHORIZED)
    time.sleep(0.5)
    expect(w.advertisement() is None, "deny's refused 'on' advertised")

    w.ok(ALLOW, "provider", "advertise", "on")
    w.wait_advertised(True, what="after 'advertise on'")
    ad = w.advertisement()
    free = w.info()["available_resources"]
    expect_eq({k: ad["resources"].get(k) for k in free}, free,
              "the advertised resources after 'advertise on'")
    expect_eq(w.json(DENY, "provider", "status")["advertising"], True,
              "status --json after 'advertise on'")


@case
def advertise_without_discovery(binary):
    """A provider with no discovery URL cannot advertise: 'advertise on'
    fails with one line, exit 1."""
    w = World()
    expect_eq(w.json(DENY, "provider", "status")["discovery_url"], None,
              "discovery_url without one configured")
    w.fails(ALLOW, 1, "provider", "advertise", "on",
            message=r"(?i)advertis")
    expect_eq(w.json(DENY, "provider", "status")["advertising"], False,
              "advertising after the failed 'on'")


# --------------------------------------------------------------------------
# cases: errors


@case
def unknown_vm(binary):
    """A VM the provider does not have: exit 1 and one line naming it (for
    any user: looking it up needs no authorization)."""
    w = World()
    w.create("alpha")
    for user in (ALLOW, DENY):
        for verb in ("stop", "start", "delete"):
            line = w.fails(user, 1, "provider", "vm", verb, "ghost",
                           message=r"\bghost\b")
            expect(re.search(r"(?i)no (such )?vm|not found|unknown", line),
                   f"vm {verb} ghost as {user}: unclear message {line!r}")
            expect("not authorized" not in line,
                   f"vm {verb} ghost as {user}: {line!r}")
    expect_eq(w.status("alpha"), "running", "alpha after the failures")


@case
def usage_errors(binary):
    """Bad command lines: exit 2 and one line, before any bus is touched
    (the bus address points nowhere)."""
    for args in (
            ("provider", "advertise", "maybe"),
            ("provider", "advertise"),
            ("provider", "advertise", "on", "off"),
            ("provider", "vm", "stop"),
            ("provider", "vm", "start"),
            ("provider", "vm", "delete"),
            ("provider", "vm", "stop", "a1", "b2"),
            ("provider", "vm", "stop", "Not_A_Name"),
            ("provider", "vm", "stop", "ab"),
            ("provider", "vm"),
            ("provider", "vm", "frobnicate", "alpha"),
            ("provider", "frobnicate"),
            ("provider",),
            ("provider", "status", "extra"),
            ("provider", "vms", "extra"),
            ("provider", "vms", "--cpu=2"),
            ("provider", "vm", "stop", "alpha", "--json=short"),
            ("provider", "advertise", "on", "--json=short"),
            ("provider", "status", "--json=loud"),
            ("provider", "status", "-H"),
            ("provider", "status", "--no-such-option")):
        fails(NO_BUS, ROOT, 2, *args)
        fails(NO_BUS, DENY, 2, *args)
    line = fails(NO_BUS, ROOT, 2, "provider", "advertise", "maybe")
    expect("maybe" in line and "on" in line and "off" in line,
           f"advertise maybe: {line!r} does not say what is expected")
    line = fails(NO_BUS, ROOT, 2, "provider", "vm", "stop")
    expect("NAME" in line or "argument" in line,
           f"vm stop without NAME: {line!r}")


@case
def bus_options_only_for_admin_verbs(binary):
    """-H and --no-ask-password belong to the admin verbs: with any other
    verb they are a usage error (exit 2), like every other option a verb
    does not take, not silently ignored."""
    for args in (("vm", "list", "--no-ask-password"),
                 ("vm", "list", "-H", "far.example"),
                 ("providers", "--host=far.example"),
                 ("vm", "status", "alpha", "--no-ask-password")):
        fails(NO_BUS, ROOT, 2, *args, message=r"does not go with")


@case
def no_provider(binary):
    """Nobody owns org.golem.Provider1 on the bus: exit 1 and one line "No
    provider on this machine", for every admin verb and user.  Without a
    bus at all: exit 1 and one line about the system bus."""
    bus = pb.system_bus(polkit=False)
    for user in (ROOT, DENY, ALLOW):
        for args in (("provider", "status"), ("provider", "vms"),
                     ("provider", "status", "--json=short"),
                     ("provider", "advertise", "on"),
                     ("provider", "advertise", "off"),
                     ("provider", "vm", "stop", "alpha"),
                     ("provider", "vm", "delete", "alpha")):
            fails(bus.address, user, 1, *args,
                  message=r"No provider on this machine")
    for user in (ROOT, DENY):
        for args in (("provider", "status"), ("provider", "vms"),
                     ("provider", "vm", "start", "alpha")):
            fails(NO_BUS, user, 1, *args, message=r"system bus")


# --------------------------------------------------------------------------
# cases: -H and terminals


FAKE_SSH = """#!/bin/sh
# golemtest: stands in for ssh(1). It says how it was called, then does what
# the remote end would do: bridge stdio to "the remote system bus" (ours).
echo "fake-ssh: $*" >&2
exec systemd-stdio-bridge --bus-path="$GOLEMTEST_REMOTE_BUS"
"""

FAILING_SSH = """#!/bin/sh
echo "ssh: connect to host far.example port 22: Connection refused" >&2
exit 255
"""


def fake_ssh_dir(script):
    """A directory, reachable for the test users, holding ``ssh``."""
    d = make_tempdir("golemtest-fakessh-")
    os.chmod(d, 0o755)
    with open(os.path.join(d, "ssh"), "w") as f:
        f.write(script)
    os.chmod(os.path.join(d, "ssh"), 0o755)
    return d


@case
def remote_host(binary):
    """-H [USER@]HOST[:PORT] reaches the provider's bus through "ssh HOST
    systemd-stdio-bridge" (an ssh on PATH that bridges to our bus), not the
    local bus: reads, a permitted stop, a refused one.  An ssh that cannot
    connect: exit 1, golemctl's line last."""
    w = World(discovery=True)
    w.create("alpha")
    ssh_dir = fake_ssh_dir(FAKE_SSH)
    env = {"PATH": ssh_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
           "GOLEMTEST_REMOTE_BUS": w.bus.address}

    def remote(user, *args):
        return run(NO_BUS, user, *args, env=env)

    code, out, err = remote(DENY, "-H", "golemtest@far.example", "--json=short",
                            "provider", "status")
    expect_eq(code, 0, f"-H USER@HOST provider status: exit code ({err!r})")
    expect_eq(json.loads(out)["provider_id"], w.provider_id(),
              "provider status over -H")
    expect(re.search(r"^fake-ssh: (.* )?-- golemtest@far\.example "
                     r"systemd-stdio-bridge\b", err, re.M),
           f"ssh was not called with the host and systemd-stdio-bridge: "
           f"{err!r}")

    code, out, err = remote(DENY, "--host=far.example", "provider", "vms")
    expect_eq(code, 0, f"--host=HOST provider vms: exit code ({err!r})")
    rows, legend = table(out)
    expect_eq((legend, [r[0] for r in rows[1:]]), ("1 VM listed.", ["alpha"]),
              "provider vms over -H")

    code, out, err = remote(DENY, "-H", "far.example", "--no-ask-password",
                            "provider", "vm", "stop", "alpha")
    expect_eq(code, 1, f"-H vm stop as deny: exit code ({err!r})")
    expect(re.search(NOT_AUTHORIZED, err.splitlines()[-1]),
           f"-H vm stop as deny: {err!r}")
    expect_eq(w.status("alpha"), "running", "alpha after deny's -H stop")

    code, out, err = remote(ALLOW, "-H", "golemtest-allow@far.example:2222",
                            "provider", "vm", "stop", "alpha")
    expect_eq(code, 0, f"-H USER@HOST:PORT vm stop as allow ({err!r})")
    expect(re.search(r"^fake-ssh: .*-p 2222 .*golemtest-allow@far\.example",
                     err, re.M), f"ssh got no -p 2222: {err!r}")
    expect_eq(w.status("alpha"), "stopped", "alpha after allow's -H stop")

    env["PATH"] = (fake_ssh_dir(FAILING_SSH) + ":"
                   + os.environ.get("PATH", "/usr/bin:/bin"))
    code, out, err = remote(ALLOW, "-H", "far.example", "provider", "status")
    lines = err.strip().splitlines()
    expect_eq(code, 1, f"-H with ssh failing: exit code ({err!r})")
    expect(lines and lines[-1].startswith("golemctl: ") and out == "",
           f"-H with ssh failing: no golemctl error last: {err!r}")


def run_on_terminal(address, user, *args, timeout=30):
    """golemctl on a pseudo-terminal of its own (its controlling terminal:
    stdin, stdout and stderr); returns (pid, exit code, output)."""
    master, slave = pty.openpty()
    env = dict(client_env(address), TERM="dumb")

    def controlling_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [golemworld.PATHS["golemctl"]] + list(args), env=env, cwd="/",
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=controlling_terminal, user=user, group=user,
        extra_groups=[])
    os.close(slave)
    on_cleanup(lambda: proc.poll() is None and proc.kill())
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:     # EIO: every slave fd is closed
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    try:
        code = proc.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"golemctl {' '.join(args)} on a terminal as "
                             f"{user}: still running after {timeout}s; it "
                             f"printed {output!r}")
    return proc.pid, code, output.decode(errors="replace")


def agents_for(pid):
    """pkttyagent processes started for ``pid`` that are still there."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if (argv and argv[0].endswith(b"pkttyagent")
                and b"--process" in argv
                and argv[argv.index(b"--process") + 1:][:1] == [str(pid).encode()]):
            found.append(int(entry))
    return found


@case
def terminal_agent(binary):
    """On a terminal, without --no-ask-password, golemctl runs pkttyagent
    for itself (polkitd logs it registered for golemctl's pid) so polkit
    could ask for a password, and ends it when done; with
    --no-ask-password it does not.  Either way a refusal is exit 1 and one
    "not authorized" line, without hanging.  (Whether polkit then really
    asks depends on a logind session: polkitd uses a --fallback agent only
    for subjects in a session, and these tests have none.)"""
    w = World()
    w.create("alpha")
    log = lambda: w.bus.polkitd.stdout() + w.bus.polkitd.stderr()  # noqa: E731

    for user in (STOPONLY, DENY):
        pid, code, out = run_on_terminal(w.bus.address, user, "provider",
                                         "vm", "delete", "alpha")
        expect_eq(code, 1, f"vm delete on a terminal as {user}: exit code "
                  f"(output {out!r})")
        expect(re.fullmatch(r"golemctl: .*not authorized.*\r?\n", out),
               f"vm delete on a terminal as {user}: {out!r}")
        expect(re.search(rf"Registered Authentication Agent for "
                         rf"unix-process:{pid}:", log()),
               f"no pkttyagent registered for golemctl (pid {pid}) on a "
               f"terminal:\n{log()[-3000:]}")
        deadline = time.monotonic() + 5
        while agents_for(pid):
            expect(time.monotonic() < deadline,
                   f"pkttyagent for {pid} still running after golemctl "
                   f"exited: {agents_for(pid)}")
            time.sleep(0.1)

    pid, code, out = run_on_terminal(w.bus.address, STOPONLY,
                                     "--no-ask-password", "provider", "vm",
                                     "delete", "alpha")
    expect_eq(code, 1, f"--no-ask-password on a terminal: exit ({out!r})")
    expect(re.fullmatch(r"golemctl: .*not authorized.*\r?\n", out),
           f"--no-ask-password on a terminal: {out!r}")
    expect(f"unix-process:{pid}:" not in log(),
           f"--no-ask-password: an agent was registered for {pid}")

    pid, code, out = run_on_terminal(w.bus.address, DENY, "provider", "vms")
    expect_eq(code, 0, f"provider vms on a terminal: exit ({out!r})")
    expect("1 VM listed." in out and "alpha" in out,
           f"provider vms on a terminal: {out!r}")
    expect_eq(w.status("alpha"), "running", "alpha at the end")


if __name__ == "__main__":
    raise SystemExit(main(paths=("providerd", "discovery", "multipass",
                                 "dbus-config", "polkit-policy")))
