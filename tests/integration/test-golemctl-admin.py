#!/usr/bin/env python3
"""End-to-end tests of golemctl's admin verbs (``golemctl provider ...``,
src/golemctl/golemctl-admin.c) against golem-providerd on a private
system bus with the real polkitd.

    test-golemctl-admin.py --binary golemctl --providerd golem-providerd \\
        --discovery golem-discoveryd --multipass tests/multipass \\
        --dbus-config dbus/org.golem.Provider1.conf \\
        --polkit-policy polkit/org.golem.provider1.policy [CASE]

The world of each case (dbus-daemon with the system-bus policy and
dbus/org.golem.Provider1.conf, polkitd, the provider driving the multipass
stand-in, optionally golem-discoveryd) is golembus.BusWorld, the one of
test-provider-bus.py too: see golembus.py for the test users and what the
rules file lets each do (golemtest-allow everything, golemtest-deny
nothing, golemtest-stoponly the "stop" verb only).  Like that script it
needs root (it creates those users and installs the policy and the rules
file), dbus-daemon, polkitd and busctl.  golemctl runs as the test users
with nothing in its environment but PATH, LANG and DBUS_SYSTEM_BUS_ADDRESS
(and no home directory: the system users have none), stdin /dev/null
unless a case gives it a terminal.  Run ``--list`` for the case names.
"""

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golembus import (ALLOW, DENY, ROOT, STOPONLY,  # noqa: E402
                      BusWorld, expect_denied_logged, system_bus)
from golemworld import (CAPACITY, INFO, PATHS, VMS,  # noqa: E402
                        Golemctl, advertisement, case, expect, expect_eq,
                        main, make_tempdir, other_pids, proc_argv, rfc3339,
                        run_on_terminal, wait_for)

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


def golemctl(address, user):
    """golemctl as ``user`` (ROOT: this process' uid, with a HOME of its
    own) on the bus at ``address``; strict: a failure is one line."""
    env = client_env(address)
    if user is ROOT:
        env["HOME"] = _root_home()
    return Golemctl(env, user=user, timeout=60, strict=True)


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


class World(BusWorld):
    """golembus' BusWorld (bus, polkitd, stand-in, provider, optionally
    discovery) with golemctl as the client."""

    def ctl(self, user):
        """golemctl as ``user`` on this world's bus."""
        return golemctl(self.bus.address, user)

    def advertisement(self):
        """The provider's advertisement at discovery, or None."""
        return advertisement(self.disc, self.p.info()["provider_id"])

    def wait_advertised(self, present, timeout=5, what=""):
        wait_for(f"{what}: the advertisement "
                 f"{'there' if present else 'gone'}",
                 lambda: (self.advertisement() is not None) == present,
                 timeout, detail=self.p.tail)


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


# --------------------------------------------------------------------------
# cases: reading


@case
def reads_for_everyone(binary):
    """'provider status' and 'provider vms' need no authorization: as
    golemtest-deny they show what REST /api/v1/provider/info and
    /api/v1/vms say, as a table with its legend, without header and legend
    (--no-legend), and as JSON (--json=short|pretty)."""
    w = World(discovery=True)
    expect_eq(w.ctl(DENY).json("provider", "vms"), [],
              "provider vms --json=short with no VMs")
    out, err = w.ctl(DENY).ok("provider", "vms")
    expect_eq((out, err), ("0 VMs listed.\n", ""),
              "provider vms with no VMs (no header, just the legend)")

    w.p.create_vm("alpha")
    out, _ = w.ctl(DENY).ok("provider", "vms")
    expect_eq(out.rstrip("\n").split("\n")[-1], "1 VM listed.",
              "the legend for one VM")
    w.p.create_vm("beta", size="medium")
    w.p.create_vm("gamma")
    status, data = w.p.rest("POST", f"{VMS}/beta/stop")
    expect_eq(status, 200, f"REST stop beta (body {data!r})")
    rest_vms = w.p.vms()
    info = w.p.info()

    for user in (DENY, STOPONLY, ROOT):
        # status, as text
        out, err = w.ctl(user).ok("provider", "status")
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
        st = w.ctl(user).json("provider", "status")
        expected = {
            "provider_id": info["provider_id"], "name": info["name"],
            "country": info["country"], "public_ip": info["ip_address"],
            "discovery_url": w.disc.url, "advertising": True,
            "vm_count": info["vm_count"],
            "total_resources": total, "available_resources": free}
        expect_eq({k: st.get(k) for k in expected}, expected,
                  f"provider status --json=short as {user} vs REST {INFO}")
        expect(isinstance(st.get("last_advertisement"), str) and
               RFC3339.match(st["last_advertisement"]) and
               abs(rfc3339(st["last_advertisement"]) - time.time()) < 120,
               f"status --json: last_advertisement "
               f"{st.get('last_advertisement')!r}")
        pretty, _ = w.ctl(user).ok("--json=pretty", "provider", "status")
        # The advertiser may post again between the two calls: only the time of the last
        # advertisement may differ (and then only forward).
        again = json.loads(pretty)
        expect(pretty.count("\n") > 5 and
               {k: v for k, v in again.items() if k != "last_advertisement"} ==
               {k: v for k, v in st.items() if k != "last_advertisement"} and
               rfc3339(again["last_advertisement"]) >= rfc3339(st["last_advertisement"]),
               f"status --json=pretty is not the same object, indented: "
               f"{pretty!r}")

        # vms, as a table
        out, err = w.ctl(user).ok("provider", "vms")
        expect_eq(err, "", f"provider vms as {user}: stderr")
        rows, legend = table(out)
        expect_eq(legend, "3 VMs listed.", f"provider vms as {user}: legend")
        expect_eq(rows[0], TABLE_HEADER, "provider vms: header")
        expect_eq({r[0]: r for r in rows[1:]}, vm_rows_from_rest(rest_vms),
                  f"provider vms as {user}: rows vs REST {VMS}")
        expect("\x1b" not in out, f"colours in a pipe: {out!r}")
        out, _ = w.ctl(user).ok("--no-legend", "provider", "vms")
        rows, _ = table(out, legend=False)
        expect_eq(len(rows), 3, f"provider vms --no-legend: {out!r}")
        expect_eq({r[0]: r for r in rows}, vm_rows_from_rest(rest_vms),
                  "provider vms --no-legend: rows (no header, no legend)")

        # vms, as JSON
        vms = w.ctl(user).json("provider", "vms")
        expect(isinstance(vms, list), f"provider vms --json: {vms!r}")
        expect_eq(sorted(vms, key=lambda v: v["name"]),
                  [vm_json_from_rest(vm) for vm in
                   sorted(rest_vms, key=lambda v: v["name"])],
                  f"provider vms --json=short as {user} vs REST {VMS}")
        pretty, _ = w.ctl(user).ok("provider", "vms", "--json=pretty")
        expect_eq(json.loads(pretty), vms, "provider vms --json=pretty")


@case
def vms_while_creating(binary):
    """A VM still booting: 'provider vms' shows it creating with no address
    ("-" in the table, null in JSON); stopping or deleting it is refused by
    the provider (wrong state), exit 1 and one line naming the VM."""
    w = World(timings={"BOOT_SECONDS": 4})
    w.p.create_vm("slow", wait=False)
    out, _ = w.ctl(DENY).ok("provider", "vms")
    rows, legend = table(out)
    expect_eq(legend, "1 VM listed.", "legend while creating")
    expect_eq(rows[1][:3], ["slow", "creating", "-"],
              "the row of a VM being created")
    vms = w.ctl(DENY).json("provider", "vms")
    expect_eq([vms[0].get(k) for k in ("name", "state", "ip_address")],
              ["slow", "creating", None], "JSON of a VM being created")
    for verb in ("stop", "delete"):
        w.ctl(ALLOW).fails(1, "provider", "vm", verb, "slow",
                           message=r"\bslow\b")
    wait_for("slow to run", lambda: w.p.vm_status("slow") == "running", 30,
             0.2)
    ip = w.p.vm("slow")["ip_address"]
    expect_eq(w.ctl(DENY).json("provider", "vms")[0]["ip_address"], ip,
              "the address once running")


# --------------------------------------------------------------------------
# cases: changing VMs


@case
def vm_verbs_allowed(binary):
    """golemtest-allow stops, starts and deletes a VM with 'provider vm
    stop|start|delete NAME': exit 0 once done (the VM settled, in REST and
    in multipass), a note on stderr unless -q."""
    w = World(timings={"STOP_SECONDS": 1, "BOOT_SECONDS": 1})
    w.p.create_vm("alpha")
    w.p.create_vm("bystander")

    out, err = w.ctl(ALLOW).ok("provider", "vm", "stop", "alpha")
    expect_eq(out, "", "provider vm stop: stdout")
    expect(re.fullmatch(r"golemctl: .*alpha.*\n", err),
           f"provider vm stop: not one note naming the VM: {err!r}")
    expect_eq(w.p.vm_status("alpha"), "stopped", "REST status after vm stop")
    expect_eq(w.mp.power("alpha"), "Stopped", "multipass after vm stop")
    expect_eq(w.ctl(DENY).json("provider", "vms")[0]["state"], "stopped",
              "provider vms after vm stop")

    out, err = w.ctl(ALLOW).ok("-q", "provider", "vm", "start", "alpha")
    expect_eq((out, err), ("", ""), "provider vm start -q: output")
    expect_eq(w.p.vm_status("alpha"), "running", "REST status after vm start")
    expect_eq(w.mp.power("alpha"), "Running", "multipass after vm start")

    w.ctl(ALLOW).ok("provider", "vm", "stop", "alpha", "--no-ask-password")
    expect_eq(w.p.vm_status("alpha"), "stopped",
              "after vm stop --no-ask-password")
    w.ctl(ALLOW).ok("provider", "vm", "delete", "alpha")
    expect_eq(w.p.vm("alpha"), None, "REST after vm delete")
    expect_eq(w.mp.record("golem-alpha"), None, "multipass after vm delete")
    expect_eq([v["name"] for v in w.ctl(DENY).json("provider", "vms")],
              ["bystander"], "provider vms after vm delete")
    expect_eq(w.p.vm_status("bystander"), "running", "the other VM")
    expect_eq(w.p.info()["available_resources"],
              {"cpu": CAPACITY["cpu"] - 1, "memory": CAPACITY["memory"] - 1,
               "storage": CAPACITY["storage"] - 10},
              "resources after the delete")

    # A verb in the wrong state: the provider's refusal, one line.
    w.ctl(ALLOW).fails(1, "provider", "vm", "start", "bystander",
                       message=r"bystander")
    expect_eq(w.p.vm_status("bystander"), "running", "after a refused start")


@case
def vm_verbs_denied(binary):
    """golemtest-deny may not stop, start or delete: exit 1 and one line
    saying "not authorized", with --no-ask-password and without (no
    terminal: nobody to ask); the VM is untouched and multipass never
    called; the provider logged the denial."""
    w = World()
    w.p.create_vm("alpha")
    w.p.create_vm("beta")
    status, data = w.p.rest("POST", f"{VMS}/beta/stop")
    expect_eq(status, 200, f"REST stop beta (body {data!r})")
    calls = len(w.mp.calls())

    for extra in (("--no-ask-password",), ()):
        for verb, name in (("stop", "alpha"), ("delete", "alpha"),
                           ("start", "beta"), ("delete", "beta")):
            t0 = time.monotonic()
            w.ctl(DENY).fails(1, "provider", "vm", verb, name, *extra,
                              message=NOT_AUTHORIZED)
            expect(time.monotonic() - t0 < 10,
                   f"vm {verb} as deny took {time.monotonic() - t0:.1f}s")
    expect_eq(w.p.vm_status("alpha"), "running", "alpha after the refusals")
    expect_eq(w.p.vm_status("beta"), "stopped", "beta after the refusals")
    expect_eq(w.mp.power("alpha"), "Running", "multipass alpha")
    expect_eq([c for c in w.mp.calls()[calls:] if c and c[0] in
               ("stop", "start", "delete")], [],
              "multipass calls after the refusals")
    expect_denied_logged(w, DENY, "Stop", "alpha", "vm stop as deny")
    expect_denied_logged(w, DENY, "Delete", "beta", "vm delete as deny")


@case
def stop_only(binary):
    """golemtest-stoponly (rules: manage-vms with verb "stop") may stop a VM
    but not delete or start one, nor turn advertising off."""
    w = World(discovery=True)
    w.p.create_vm("alpha")
    for verb in ("delete", "start"):
        w.ctl(STOPONLY).fails(1, "--no-ask-password", "provider", "vm", verb,
                              "alpha", message=NOT_AUTHORIZED)
    w.ctl(STOPONLY).fails(1, "provider", "vm", "delete", "alpha",
                          message=NOT_AUTHORIZED)
    expect_eq(w.p.vm_status("alpha"), "running", "alpha after the refusals")

    w.ctl(STOPONLY).ok("--no-ask-password", "provider", "vm", "stop", "alpha")
    expect_eq(w.p.vm_status("alpha"), "stopped", "alpha after stoponly's stop")
    for verb in ("delete", "start"):
        w.ctl(STOPONLY).fails(1, "--no-ask-password", "provider", "vm", verb,
                              "alpha", message=NOT_AUTHORIZED)
    expect_eq(w.p.vm_status("alpha"), "stopped", "alpha after the refusals")
    expect(w.mp.record("golem-alpha") is not None, "multipass lost alpha")

    w.ctl(STOPONLY).fails(1, "--no-ask-password", "provider", "advertise",
                          "off", message=NOT_AUTHORIZED)
    expect(w.advertisement() is not None,
           "the advertisement went after a refused 'advertise off'")
    expect_eq(w.ctl(STOPONLY).json("provider", "status")["advertising"], True,
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

    w.ctl(DENY).fails(1, "--no-ask-password", "provider", "advertise", "off",
                      message=NOT_AUTHORIZED)
    time.sleep(0.5)
    expect(w.advertisement() is not None,
           "the advertisement went after deny's refused 'advertise off'")

    out, err = w.ctl(ALLOW).ok("provider", "advertise", "off")
    expect_eq(out, "", "advertise off: stdout")
    expect(re.fullmatch(r"golemctl: .*\boff\b.*\n", err),
           f"advertise off: not one note saying off: {err!r}")
    w.wait_advertised(False, timeout=3, what="after 'advertise off'")
    expect_eq(w.ctl(DENY).json("provider", "status")["advertising"], False,
              "status --json after 'advertise off'")
    out, _ = w.ctl(DENY).ok("provider", "status")
    expect(key_values(out).get("Advertising", "").startswith("no"),
           f"status text after 'advertise off': {out!r}")

    w.p.create_vm("while-off")      # free resources change
    time.sleep(2)
    expect(w.advertisement() is None,
           "a VM created while advertising was off brought the "
           f"advertisement back: {w.advertisement()!r}")
    w.ctl(ALLOW).ok("-q", "provider", "advertise", "off")   # again: still fine
    w.ctl(DENY).fails(1, "--no-ask-password", "provider", "advertise", "on",
                      message=NOT_AUTHORIZED)
    time.sleep(0.5)
    expect(w.advertisement() is None, "deny's refused 'on' advertised")

    w.ctl(ALLOW).ok("provider", "advertise", "on")
    w.wait_advertised(True, what="after 'advertise on'")
    ad = w.advertisement()
    free = w.p.info()["available_resources"]
    expect_eq({k: ad["resources"].get(k) for k in free}, free,
              "the advertised resources after 'advertise on'")
    expect_eq(w.ctl(DENY).json("provider", "status")["advertising"], True,
              "status --json after 'advertise on'")


@case
def advertise_without_discovery(binary):
    """A provider with no discovery URL cannot advertise: 'advertise on'
    fails with one line, exit 1."""
    w = World()
    expect_eq(w.ctl(DENY).json("provider", "status")["discovery_url"], None,
              "discovery_url without one configured")
    w.ctl(ALLOW).fails(1, "provider", "advertise", "on",
                       message=r"(?i)advertis")
    expect_eq(w.ctl(DENY).json("provider", "status")["advertising"], False,
              "advertising after the failed 'on'")


@case
def advertising_failing(binary):
    """With its discovery service gone, 'provider status' says why the
    provider cannot advertise, as text and as JSON."""
    w = World(discovery=True)
    expect_eq(w.ctl(DENY).json("provider", "status")["advertisement_error"], None,
              "advertisement_error while advertising works")
    w.disc.kill9()
    w.p.create_vm("nudge")  # free resources change: the provider posts again
    wait_for("status to say why advertising fails",
             lambda: w.ctl(DENY).json("provider", "status")["advertisement_error"] ==
             "Connection refused", 10)
    out, _ = w.ctl(DENY).ok("provider", "status")
    expect(re.fullmatch(r"yes, last \S+; failing: Connection refused",
                        key_values(out).get("Advertising", "")),
           f"status: Advertising while failing: {out!r}")


# --------------------------------------------------------------------------
# cases: errors


@case
def unknown_vm(binary):
    """A VM the provider does not have: exit 1 and one line naming it (for
    any user: looking it up needs no authorization)."""
    w = World()
    w.p.create_vm("alpha")
    for user in (ALLOW, DENY):
        for verb in ("stop", "start", "delete"):
            _, line = w.ctl(user).fails(1, "provider", "vm", verb, "ghost",
                                        message=r"\bghost\b")
            expect(re.search(r"(?i)no (such )?vm|not found|unknown", line),
                   f"vm {verb} ghost as {user}: unclear message {line!r}")
            expect("not authorized" not in line,
                   f"vm {verb} ghost as {user}: {line!r}")
    expect_eq(w.p.vm_status("alpha"), "running", "alpha after the failures")


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
        golemctl(NO_BUS, ROOT).fails(2, *args)
        golemctl(NO_BUS, DENY).fails(2, *args)
    _, line = golemctl(NO_BUS, ROOT).fails(2, "provider", "advertise", "maybe")
    expect("maybe" in line and "on" in line and "off" in line,
           f"advertise maybe: {line!r} does not say what is expected")
    _, line = golemctl(NO_BUS, ROOT).fails(2, "provider", "vm", "stop")
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
        golemctl(NO_BUS, ROOT).fails(2, *args, message=r"does not go with")


@case
def no_provider(binary):
    """Nobody owns org.golem.Provider1 on the bus: exit 1 and one line "No
    provider on this machine", for every admin verb and user.  Without a
    bus at all: exit 1 and one line about the system bus."""
    bus = system_bus(polkit=False)
    for user in (ROOT, DENY, ALLOW):
        for args in (("provider", "status"), ("provider", "vms"),
                     ("provider", "status", "--json=short"),
                     ("provider", "advertise", "on"),
                     ("provider", "advertise", "off"),
                     ("provider", "vm", "stop", "alpha"),
                     ("provider", "vm", "delete", "alpha")):
            golemctl(bus.address, user).fails(
                1, *args, message=r"No provider on this machine")
    for user in (ROOT, DENY):
        for args in (("provider", "status"), ("provider", "vms"),
                     ("provider", "vm", "start", "alpha")):
            golemctl(NO_BUS, user).fails(1, *args, message=r"system bus")


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
    w.p.create_vm("alpha")
    ssh_dir = fake_ssh_dir(FAKE_SSH)
    env = {"PATH": ssh_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
           "GOLEMTEST_REMOTE_BUS": w.bus.address}

    def remote(user, *args):
        return golemctl(NO_BUS, user).run(*args, env=env)

    code, out, err = remote(DENY, "-H", "golemtest@far.example", "--json=short",
                            "provider", "status")
    expect_eq(code, 0, f"-H USER@HOST provider status: exit code ({err!r})")
    expect_eq(json.loads(out)["provider_id"], w.p.info()["provider_id"],
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
    expect_eq(w.p.vm_status("alpha"), "running", "alpha after deny's -H stop")

    code, out, err = remote(ALLOW, "-H", "golemtest-allow@far.example:2222",
                            "provider", "vm", "stop", "alpha")
    expect_eq(code, 0, f"-H USER@HOST:PORT vm stop as allow ({err!r})")
    expect(re.search(r"^fake-ssh: .*-p 2222 .*golemtest-allow@far\.example",
                     err, re.M), f"ssh got no -p 2222: {err!r}")
    expect_eq(w.p.vm_status("alpha"), "stopped", "alpha after allow's -H stop")

    env["PATH"] = (fake_ssh_dir(FAILING_SSH) + ":"
                   + os.environ.get("PATH", "/usr/bin:/bin"))
    code, out, err = remote(ALLOW, "-H", "far.example", "provider", "status")
    lines = err.strip().splitlines()
    expect_eq(code, 1, f"-H with ssh failing: exit code ({err!r})")
    expect(lines and lines[-1].startswith("golemctl: ") and out == "",
           f"-H with ssh failing: no golemctl error last: {err!r}")


def on_terminal(address, user, *args):
    """golemctl ARGS as ``user`` on a pseudo-terminal of its own (its
    controlling terminal: stdin, stdout and stderr); returns (pid, exit
    code, output)."""
    return run_on_terminal([PATHS["golemctl"]] + list(args),
                           dict(client_env(address), TERM="dumb"), user=user,
                           timeout=30)


def agents_for(pid):
    """pkttyagent processes started for ``pid`` that are still there."""
    found = []
    for other in other_pids():
        argv = proc_argv(other)
        if (argv and argv[0].endswith("pkttyagent") and "--process" in argv
                and argv[argv.index("--process") + 1:][:1] == [str(pid)]):
            found.append(other)
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
    w.p.create_vm("alpha")
    log = lambda: w.bus.polkitd.stdout() + w.bus.polkitd.stderr()  # noqa: E731

    for user in (STOPONLY, DENY):
        pid, code, out = on_terminal(w.bus.address, user, "provider",
                                         "vm", "delete", "alpha")
        expect_eq(code, 1, f"vm delete on a terminal as {user}: exit code "
                  f"(output {out!r})")
        expect(re.fullmatch(r"golemctl: .*not authorized.*\r?\n", out),
               f"vm delete on a terminal as {user}: {out!r}")
        expect(re.search(rf"Registered Authentication Agent for "
                         rf"unix-process:{pid}:", log()),
               f"no pkttyagent registered for golemctl (pid {pid}) on a "
               f"terminal:\n{log()[-3000:]}")
        wait_for(f"pkttyagent for {pid} to end after golemctl exited",
                 lambda: not agents_for(pid), 5,
                 detail=lambda: f" (still there: {agents_for(pid)})")

    pid, code, out = on_terminal(w.bus.address, STOPONLY,
                                     "--no-ask-password", "provider", "vm",
                                     "delete", "alpha")
    expect_eq(code, 1, f"--no-ask-password on a terminal: exit ({out!r})")
    expect(re.fullmatch(r"golemctl: .*not authorized.*\r?\n", out),
           f"--no-ask-password on a terminal: {out!r}")
    expect(f"unix-process:{pid}:" not in log(),
           f"--no-ask-password: an agent was registered for {pid}")

    pid, code, out = on_terminal(w.bus.address, DENY, "provider", "vms")
    expect_eq(code, 0, f"provider vms on a terminal: exit ({out!r})")
    expect("1 VM listed." in out and "alpha" in out,
           f"provider vms on a terminal: {out!r}")
    expect_eq(w.p.vm_status("alpha"), "running", "alpha at the end")


if __name__ == "__main__":
    raise SystemExit(main(paths=("providerd", "discovery", "multipass",
                                 "dbus-config", "polkit-policy"),
                          binary="golemctl"))
