#!/usr/bin/env python3
"""Integration tests of golem-providerd's D-Bus API and its polkit checks
(DESIGN.md "D-Bus API" and "Who may do what").

    test-provider-bus.py --binary golem-providerd --discovery golem-discoveryd \\
        --multipass tests/multipass --xml dbus/org.golem.Provider1.xml \\
        --dbus-config dbus/org.golem.Provider1.conf \\
        --polkit-policy polkit/org.golem.provider1.policy [CASE]

Every case runs its own world (golembus.BusWorld): a system bus
(dbus-daemon with Debian's default policy plus
dbus/org.golem.Provider1.conf), a real polkitd on it, the provider with the
multipass stand-in, and clients that run as test users, so cases run in
parallel.  It needs root: it creates the test users (see golembus.py for
what the rules file lets each do), installs the policy to
/usr/share/polkit-1/actions/ and a rules file to /etc/polkit-1/rules.d/
(both idempotent, the same for every case), and runs clients as those
users.  Packages: dbus-daemon, polkitd, busctl (systemd), useradd (passwd).
Run ``--list`` for the case names.
"""

import json
import os
import re
import subprocess
import sys
import time
from xml.etree import ElementTree

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
import golembus  # noqa: E402
from golembus import (  # noqa: E402
    ACCESS_DENIED, ALLOW, BUS_NAME, DENY, FLAG_ALLOW_INTERACTIVE_AUTHORIZATION,
    GOLEM_ERROR, INTERACTIVE, INVALID_ARGS, MANAGER, MANAGER_PATH, MINE,
    OBJECT_MANAGER, PROPERTIES, ROOT, SLOW, STOPONLY, VM, VM_PREFIX, BusError,
    BusWorld, expect_bus_error, expect_denied_logged, vm_path)
from golemworld import (  # noqa: E402
    CAPACITY, PATHS, VMS, Standin, advertisement, case, expect, expect_eq,
    fill_disk, http, main, make_tempdir, provider, random_public_key,
    rfc3339, wait_advertised, wait_for)

SMALL = {"cpu": 1, "memory": 1, "storage": 10}
MANAGER_PROPERTIES = {
    "ProviderID": "s", "PublicKey": "s", "Name": "s", "Country": "s",
    "PublicIP": "s",
    "DiscoveryURL": "s", "Advertising": "b", "TotalCPU": "t",
    "TotalMemory": "t", "TotalStorage": "t", "AvailableCPU": "t",
    "AvailableMemory": "t", "AvailableStorage": "t", "VMCount": "u",
    "LastAdvertisement": "t", "AdvertisementError": "s"}
VM_PROPERTIES = {
    "Name": "s", "State": "s", "IPAddress": "s", "SSHPort": "q", "CPUs": "u",
    "Memory": "t", "Storage": "t", "Image": "s", "CreatedAt": "t",
    "Owner": "s", "Error": "s"}


# --------------------------------------------------------------------------
# helpers


def expect_types(props, types, what):
    """Each value has the Python type of its D-Bus signature."""
    python = {"s": str, "b": bool, "t": int, "u": int, "q": int}
    for name, sig in types.items():
        value = props.get(name)
        expect(type(value) is python[sig],
               f"{what}: {name} is {value!r}, not of type {sig}")


def expect_vm_matches_rest(props, vm, what):
    """The D-Bus properties of a VM say what REST says of it."""
    expect_eq(set(props), set(VM_PROPERTIES), f"{what}: VM properties")
    expect_types(props, VM_PROPERTIES, what)
    expect_eq(props["Name"], vm["name"], f"{what}: Name")
    expect_eq(props["State"], vm["status"], f"{what}: State")
    expect_eq(props["IPAddress"], vm["ip_address"] or "", f"{what}: IPAddress")
    expect_eq(props["SSHPort"], vm["ssh_port"] or 0, f"{what}: SSHPort")
    expect_eq({"cpu": props["CPUs"], "memory": props["Memory"],
               "storage": props["Storage"]}, vm["resources"],
              f"{what}: CPUs/Memory/Storage")
    expect_eq(props["Image"], vm["image"], f"{what}: Image")
    expect(abs(props["CreatedAt"] / 1e6 - rfc3339(vm["created_at"])) < 1.5,
           f"{what}: CreatedAt {props['CreatedAt']} (usec) vs created_at "
           f"{vm['created_at']}")
    expect_eq(props["Owner"], "", f"{what}: Owner (no owners yet)")
    expect_eq(props["Error"], vm["error_message"] or "", f"{what}: Error")


def interface_block(xml, name):
    """The <interface name="NAME"> element of an introspection document,
    as the daemon writes it into dbus/org.golem.Provider1.xml."""
    start = xml.find(f' <interface name="{name}">')
    expect(start >= 0, f"no interface {name} in:\n{xml}")
    end = xml.find(" </interface>", start)
    return xml[start:end] + " </interface>"


def changed_states(signals, path):
    """The State values of the PropertiesChanged signals of ``path``."""
    return [m.body[1]["State"] for m in signals
            if m.member == "PropertiesChanged" and m.path == path
            and m.body[0] == VM and "State" in m.body[1]]


def collapse(seq):
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


# --------------------------------------------------------------------------
# cases: the interface itself


@case
def introspect_matches_committed(binary):
    """--bus-introspect prints dbus/org.golem.Provider1.xml byte for byte,
    and the live daemon serves the same interfaces, its VMs as children."""
    with open(PATHS["xml"], "rb") as f:
        committed = f.read()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOLEM_", "DBUS_"))}
    proc = subprocess.run([binary, "--bus-introspect"], capture_output=True,
                          env=env, timeout=30, stdin=subprocess.DEVNULL)
    expect_eq(proc.returncode, 0, "--bus-introspect exit code "
              f"(stderr {proc.stderr.decode(errors='replace')!r})")
    # Tools such as gdbus-codegen read the installed file: it must be
    # well-formed XML for an independent parser (expat), comments included.
    try:
        ElementTree.fromstring(committed)
    except ElementTree.ParseError as e:
        raise AssertionError(f"dbus/org.golem.Provider1.xml is not "
                             f"well-formed XML: {e}") from None
    if proc.stdout != committed:
        import difflib
        diff = "".join(difflib.unified_diff(
            committed.decode().splitlines(True),
            proc.stdout.decode(errors="replace").splitlines(True),
            "dbus/org.golem.Provider1.xml", "golem-providerd --bus-introspect"))
        raise AssertionError("dbus/org.golem.Provider1.xml differs from "
                             f"--bus-introspect; regenerate it:\n{diff}")

    w = BusWorld(binary, polkit=False)
    w.create(ROOT, "intro-vm")
    committed = committed.decode()

    live = w.call(DENY, MANAGER_PATH, golembus.INTROSPECTABLE,
                  "Introspect")[0]
    expect_eq(interface_block(live, MANAGER),
              interface_block(committed, MANAGER),
              "the live Manager interface vs the committed XML")
    for iface in (OBJECT_MANAGER, PROPERTIES, golembus.INTROSPECTABLE,
                  "org.freedesktop.DBus.Peer"):
        expect(f'<interface name="{iface}">' in live,
               f"{MANAGER_PATH} lacks {iface}:\n{live}")
    expect('<node name="vm"/>' in live,
           f"{MANAGER_PATH} does not list the child node vm:\n{live}")

    live = w.call(DENY, VM_PREFIX, golembus.INTROSPECTABLE, "Introspect")[0]
    label = vm_path("intro-vm").rsplit("/", 1)[1]
    expect(f'<node name="{label}"/>' in live,
           f"{VM_PREFIX} does not list {label}:\n{live}")

    live = w.call(DENY, vm_path("intro-vm"), golembus.INTROSPECTABLE,
                  "Introspect")[0]
    expect_eq(interface_block(live, VM), interface_block(committed, VM),
              "the live VM interface vs the committed XML")

    # busctl, an sd-bus client, as an unprivileged user.
    for path, iface, member in ((MANAGER_PATH, MANAGER, ".CreateVM"),
                                (vm_path("intro-vm"), VM, ".Stop")):
        proc = w.bus.run_as(DENY, ["busctl", "--system", "--no-pager",
                                   "introspect", BUS_NAME, path])
        out = proc.stdout.decode(errors="replace")
        expect_eq(proc.returncode, 0, f"busctl introspect {path} "
                  f"(stderr {proc.stderr.decode(errors='replace')!r})")
        expect(re.search(rf"^{re.escape(iface)}\s+interface", out, re.M)
               and re.search(rf"^{re.escape(member)}\s+method", out, re.M),
               f"busctl introspect {path}: no {iface} / {member}:\n{out}")
    proc = w.bus.run_as(DENY, ["busctl", "--system", "--no-pager", "--list",
                               "tree", BUS_NAME])
    out = proc.stdout.decode(errors="replace").split()
    expect(MANAGER_PATH in out and vm_path("intro-vm") in out,
           f"busctl tree {BUS_NAME}: {out}")


@case
def bus_policy(binary):
    """dbus/org.golem.Provider1.conf: only root may own the name; any user
    may call the provider's interfaces (polkit decides inside); interfaces
    it does not list stay closed."""
    w = BusWorld(binary)
    expect_bus_error(
        lambda: w.bus.call_as(ALLOW, golembus.DBUS_NAME, golembus.DBUS_PATH,
                              golembus.DBUS_NAME, "RequestName", "su",
                              [BUS_NAME, 0]),
        ACCESS_DENIED, "RequestName org.golem.Provider1 as a user")
    for iface, member, sig, args in (
            ("org.freedesktop.DBus.Peer", "Ping", "", []),
            (golembus.INTROSPECTABLE, "Introspect", "", []),
            (PROPERTIES, "Get", "ss", [MANAGER, "VMCount"]),
            (OBJECT_MANAGER, "GetManagedObjects", "", []),
            (MANAGER, "ListVMs", "", [])):
        w.call(DENY, MANAGER_PATH, iface, member, sig, args)
    expect_bus_error(
        lambda: w.call(DENY, MANAGER_PATH, "org.golem.Provider1.Secret",
                       "Anything"),
        ACCESS_DENIED, "a method of an interface the policy does not open")


@case
def reads_for_everyone(binary):
    """golemtest-deny (whom polkit refuses everything) reads every Manager
    and VM property, ListVMs, GetVM, GetManagedObjects; the values are
    what REST says."""
    w = BusWorld(binary, discovery=True, COUNTRY="NL", NAME="bus-reads")
    t0 = time.time()
    w.p.create_vm("read-one", "medium")
    w.p.create_vm("read-two", "small")
    status, data = w.p.rest("POST", f"{VMS}/read-two/stop")
    expect_eq(status, 200, f"REST stop read-two (body {data!r})")
    info = w.p.info()
    pid = info["provider_id"]
    # The advertisement catches up with the free resources.
    wait_advertised(w.disc, pid, info["available_resources"], 5)

    props = w.get_all(DENY, MANAGER_PATH, MANAGER)
    expect_eq(set(props), set(MANAGER_PROPERTIES), "Manager properties")
    expect_types(props, MANAGER_PROPERTIES, "Manager")
    expect_eq(props["ProviderID"], pid, "ProviderID")
    expect_eq(props["PublicKey"], info["public_key"], "PublicKey vs REST")
    expect_eq(props["Name"], "bus-reads", "Name")
    expect_eq(props["Name"], info["name"], "Name vs REST")
    expect_eq(props["Country"], "NL", "Country")
    expect_eq(props["PublicIP"], info["ip_address"], "PublicIP vs REST")
    expect_eq(props["DiscoveryURL"], w.disc.url, "DiscoveryURL")
    expect_eq(props["Advertising"], True, "Advertising")
    for key, prop in (("cpu", "CPU"), ("memory", "Memory"),
                      ("storage", "Storage")):
        expect_eq(props["Total" + prop], info["total_resources"][key],
                  f"Total{prop} vs REST")
        expect_eq(props["Available" + prop], info["available_resources"][key],
                  f"Available{prop} vs REST")
    expect_eq(props["VMCount"], info["vm_count"], "VMCount vs REST")
    expect_eq(props["VMCount"], 2, "VMCount")
    expect_eq(props["AdvertisementError"], "", "AdvertisementError while advertising works")
    last = props["LastAdvertisement"] / 1e6
    expect(t0 - 2 < last < time.time() + 2,
           f"LastAdvertisement {props['LastAdvertisement']} (usec since the "
           f"epoch) is not within this case's run ({t0:.0f}..)")
    for prop in MANAGER_PROPERTIES:  # one by one too
        value = w.get(DENY, MANAGER_PATH, MANAGER, prop)
        if prop not in ("LastAdvertisement", "AvailableCPU",
                        "AvailableMemory", "AvailableStorage"):
            expect_eq(value, props[prop], f"Get {prop} vs GetAll")

    status, vms = w.p.rest("GET", VMS)
    expect_eq(status, 200, "REST list")
    listed = w.call(DENY, MANAGER_PATH, MANAGER, "ListVMs")[0]
    expect_eq([tuple(x) for x in listed],
              [(vm["name"], vm["status"], vm_path(vm["name"])) for vm in vms],
              "ListVMs vs REST (name, state, path)")
    managed = w.call(DENY, MANAGER_PATH, OBJECT_MANAGER,
                     "GetManagedObjects")[0]
    expect_eq(sorted(managed), sorted(vm_path(vm["name"]) for vm in vms),
              "GetManagedObjects: the object paths")
    for vm in vms:
        path = w.call(DENY, MANAGER_PATH, MANAGER, "GetVM", "s",
                      [vm["name"]])[0]
        expect_eq(path, vm_path(vm["name"]), f"GetVM {vm['name']}")
        props = w.get_all(DENY, path, VM)
        expect_vm_matches_rest(props, vm, f"VM {vm['name']}")
        expect_eq(managed[path].get(VM), props,
                  f"GetManagedObjects vs GetAll of {vm['name']}")
        expect_eq(w.get(DENY, path, VM, "State"), vm["status"],
                  f"Get State of {vm['name']}")
    expect_eq(w.get(DENY, vm_path("read-one"), VM, "State"), "running",
              "read-one State")
    expect_eq(w.get(DENY, vm_path("read-two"), VM, "State"), "stopped",
              "read-two State")

    # busctl, an sd-bus client, reads as an unprivileged user too.
    proc = w.bus.run_as(DENY, ["busctl", "--system", "--json=short",
                               "get-property", BUS_NAME, MANAGER_PATH,
                               MANAGER, "VMCount"])
    expect_eq((proc.returncode, json.loads(proc.stdout or b"null")),
              (0, {"type": "u", "data": 2}),
              f"busctl get-property VMCount (stderr {proc.stderr!r})")


# --------------------------------------------------------------------------
# cases: polkit


@case
def create_allowed(binary):
    """CreateVM as golemtest-allow: the VM's path at once, State reaches
    running, REST serves it; options size/cpu/memory/storage/image/ssh_key
    reach the driver."""
    w = BusWorld(binary, timings={"BOOT_SECONDS": 1})
    key = random_public_key("allowed@golem")
    path = w.create(ALLOW, "alpha", key)
    expect_eq(path, vm_path("alpha"), "CreateVM: the object path")
    expect(w.state("alpha") in ("creating", "running"),
           f"State right after CreateVM: {w.state('alpha')!r}")
    w.wait_state("alpha", "running")
    vm = w.p.vm("alpha")
    expect(vm is not None and vm["status"] == "running",
           f"REST GET alpha: {vm!r}")
    expect_eq(vm["resources"], SMALL, "REST resources of a small VM")
    expect_vm_matches_rest(w.get_all(ALLOW, path, VM), vm, "alpha")
    lo, hi = w.p.ssh_range
    expect(lo <= vm["ssh_port"] <= hi, f"ssh_port {vm['ssh_port']}")
    record = w.mp.record("golem-alpha") or {}
    expect(key in str(record.get("cloud_init")),
           f"the ssh_key did not reach cloud-init: {record!r}")

    path = w.create(ALLOW, "beta", cpu=2, memory=3, storage=15,
                    image="ubuntu:22.04")
    w.wait_state("beta", "running")
    vm = w.p.vm("beta")
    expect_eq(vm["resources"], {"cpu": 2, "memory": 3, "storage": 15},
              "REST resources from cpu/memory/storage options")
    expect_eq(vm["image"], "ubuntu:22.04", "image option")
    info = w.p.info()
    expect_eq(info["available_resources"],
              {"cpu": 7, "memory": 16, "storage": 475}, "available after two")
    expect_eq(w.get(DENY, MANAGER_PATH, MANAGER, "VMCount"), 2, "VMCount")
    # A name that starts with a digit: its label is escaped.
    path = w.create(ALLOW, "9lives")
    expect_eq(path, f"{VM_PREFIX}/_39lives", "CreateVM 9lives: the path")
    expect_eq(w.call(DENY, MANAGER_PATH, MANAGER, "GetVM", "s",
                     ["9lives"])[0], path, "GetVM 9lives")
    w.wait_state("9lives", "running")
    expect_eq(w.get(DENY, path, VM, "Name"), "9lives", "Name of 9lives")
    expect_eq(sorted(w.mp.launched()),
              ["golem-9lives", "golem-alpha", "golem-beta"], "launches")


@case
def create_denied(binary):
    """CreateVM as golemtest-deny: AccessDenied, nothing launched, the
    denial logged with the uid; golemtest-stoponly (no rule for create):
    InteractiveAuthorizationRequired; allowed and denied callers at once
    each get their own answer."""
    w = BusWorld(binary)
    expect_bus_error(lambda: w.create(DENY, "gamma"), ACCESS_DENIED,
                     "CreateVM as golemtest-deny")
    expect_denied_logged(w, DENY, "CreateVM", "gamma", "CreateVM gamma")
    expect_bus_error(lambda: w.create(STOPONLY, "delta"), INTERACTIVE,
                     "CreateVM as golemtest-stoponly")
    expect_denied_logged(w, STOPONLY, "CreateVM", "delta", "CreateVM delta")
    for name in ("gamma", "delta"):
        expect_eq(w.p.vm(name), None, f"REST GET {name} after a denial")
        expect_bus_error(
            lambda: w.call(ALLOW, MANAGER_PATH, MANAGER, "GetVM", "s", [name]),
            GOLEM_ERROR + "NotFound", f"GetVM {name} after a denial")
    expect_eq(w.call(DENY, MANAGER_PATH, MANAGER, "ListVMs")[0], [],
              "ListVMs after the denials")
    expect_eq(w.p.info()["available_resources"], CAPACITY,
              "available resources after the denials")

    # Per VM name: golemtest-mine may create mine-*, nothing else.
    expect_bus_error(lambda: w.create(MINE, "theirs-one"), INTERACTIVE,
                     "CreateVM theirs-one as golemtest-mine")
    expect_eq(w.create(MINE, "mine-one"), vm_path("mine-one"),
              "CreateVM mine-one as golemtest-mine (the vm detail)")

    # Concurrent checks: each caller gets its own answer.
    pending = [(user, f"both-{i}", w.spawn(
        user, MANAGER_PATH, MANAGER, "CreateVM", "sa{sv}",
        [f"both-{i}", {"size": ["s", "small"],
                       "ssh_key": ["s", random_public_key()]}]))
        for i, user in enumerate((ALLOW, DENY, ALLOW, DENY, STOPONLY))]
    for user, name, p in pending:
        if user == ALLOW:
            expect_eq(p.result()[0], vm_path(name), f"CreateVM {name}")
        else:
            expect_bus_error(p.result, ACCESS_DENIED if user == DENY
                             else INTERACTIVE, f"CreateVM {name} as {user}")
    expect_eq(sorted(w.p.vm_names()), ["both-0", "both-2", "mine-one"],
              "REST names after the concurrent creates")
    for name in ("both-0", "both-2", "mine-one"):
        w.wait_state(name, "running")
    expect_eq(sorted(w.mp.launched()),
              ["golem-both-0", "golem-both-2", "golem-mine-one"],
              "launches: only the allowed ones")

    # Two allowed callers race for one name: one VM, one NameTaken.
    racers = [w.spawn(ALLOW, MANAGER_PATH, MANAGER, "CreateVM", "sa{sv}",
                      ["race", {"ssh_key": ["s", random_public_key()]}])
              for _ in range(2)]
    answers = []
    for p in racers:
        try:
            answers.append(p.result()[0])
        except BusError as e:
            answers.append(e.name)
    expect_eq(sorted(answers),
              sorted([vm_path("race"), GOLEM_ERROR + "NameTaken"]),
              "two CreateVM race for one name")
    w.wait_state("race", "running")
    expect_eq(w.mp.launched().count("golem-race"), 1, "launches of race")


@case
def verbs_allowed(binary):
    """golemtest-allow stops, starts and deletes a VM: each call answers
    once the VM got there, and REST agrees."""
    w = BusWorld(binary, timings={"STOP_SECONDS": 0.5, "BOOT_SECONDS": 0.5})
    w.create(ROOT, "ops")
    w.wait_state("ops", "running")
    w.vm_call(ALLOW, "ops", "Stop")
    expect_eq(w.state("ops"), "stopped", "State when Stop answered")
    expect_eq(w.p.vm("ops")["status"], "stopped", "REST after Stop")
    w.vm_call(ALLOW, "ops", "Start")
    expect_eq(w.state("ops"), "running", "State when Start answered")
    vm = w.p.vm("ops")
    expect_eq(vm["status"], "running", "REST after Start")
    w.vm_call(ALLOW, "ops", "Delete")
    expect_eq(w.p.vm("ops"), None, "REST after Delete")
    expect_bus_error(lambda: w.call(ALLOW, MANAGER_PATH, MANAGER, "GetVM",
                                    "s", ["ops"]),
                     GOLEM_ERROR + "NotFound", "GetVM after Delete")
    expect_eq(w.mp.record("golem-ops"), None, "stand-in instance after Delete")
    expect_eq(w.p.info()["available_resources"], CAPACITY, "available after")


@case
def verbs_denied(binary):
    """golemtest-deny gets AccessDenied for Stop, Start and Delete, the VM
    stays as it was, each denial is logged with the uid and the VM."""
    w = BusWorld(binary)
    w.create(ROOT, "kept")
    w.wait_state("kept", "running")
    for verb in ("Stop", "Delete", "Start"):
        expect_bus_error(lambda: w.vm_call(DENY, "kept", verb), ACCESS_DENIED,
                         f"{verb} as golemtest-deny")
        expect_denied_logged(w, DENY, verb, "kept", f"{verb} kept")
        expect_eq(w.state("kept"), "running", f"State after a denied {verb}")
    w.vm_call(ROOT, "kept", "Stop")
    for verb in ("Start", "Delete"):
        expect_bus_error(lambda: w.vm_call(DENY, "kept", verb), ACCESS_DENIED,
                         f"{verb} of a stopped VM as golemtest-deny")
        expect_eq(w.state("kept"), "stopped", f"State after a denied {verb}")
    expect_eq(w.p.vm("kept")["status"], "stopped", "REST at the end")


@case
def stop_only(binary):
    """The "verb" detail: golemtest-stoponly may Stop any VM but not Start,
    Delete, create or configure (InteractiveAuthorizationRequired)."""
    w = BusWorld(binary, discovery=True)
    for name in ("so-one", "so-two"):
        w.create(ROOT, name)
    for name in ("so-one", "so-two"):
        w.wait_state(name, "running")
    for verb in ("Start", "Delete"):
        expect_bus_error(lambda: w.vm_call(STOPONLY, "so-one", verb),
                         INTERACTIVE, f"{verb} as golemtest-stoponly")
    # A caller that allows interaction, with no agent to ask anyone.
    expect_bus_error(lambda: w.call(
                         STOPONLY, vm_path("so-one"), VM, "Start",
                         flags=FLAG_ALLOW_INTERACTIVE_AUTHORIZATION),
                     ACCESS_DENIED, "Start as golemtest-stoponly, allowing "
                     "interactive authorization (no agent)")
    w.vm_call(STOPONLY, "so-one", "Stop")
    expect_eq(w.state("so-one"), "stopped", "so-one after Stop")
    for verb in ("Start", "Delete"):
        expect_bus_error(lambda: w.vm_call(STOPONLY, "so-one", verb),
                         INTERACTIVE, f"{verb} of a stopped VM as stoponly")
        expect_eq(w.state("so-one"), "stopped", f"so-one after {verb}")
    w.vm_call(STOPONLY, "so-two", "Stop")
    expect_eq(w.p.vm("so-two")["status"], "stopped", "so-two after Stop")
    expect_bus_error(lambda: w.create(STOPONLY, "so-three"), INTERACTIVE,
                     "CreateVM as golemtest-stoponly")
    expect_bus_error(
        lambda: w.set(STOPONLY, MANAGER_PATH, MANAGER, "Advertising", "b",
                      False),
        INTERACTIVE, "Set Advertising as golemtest-stoponly")
    expect_bus_error(lambda: w.call(STOPONLY, MANAGER_PATH, MANAGER,
                                    "Reload"),
                     INTERACTIVE, "Reload as golemtest-stoponly")
    expect_eq(w.get(ROOT, MANAGER_PATH, MANAGER, "Advertising"), True,
              "Advertising after the refused Set")
    expect_eq(sorted(w.p.vm_names()), ["so-one", "so-two"], "VMs at the end")

    # golemtest-mine: by VM name.
    w.create(ROOT, "mine-vm")
    w.wait_state("mine-vm", "running")
    expect_bus_error(lambda: w.vm_call(MINE, "so-two", "Delete"), INTERACTIVE,
                     "Delete so-two as golemtest-mine")
    w.vm_call(MINE, "mine-vm", "Stop")
    w.vm_call(MINE, "mine-vm", "Delete")
    expect_eq(sorted(w.p.vm_names()), ["so-one", "so-two"], "after mine-vm")


@case
def advertising_property(binary):
    """Set Advertising: refused for golemtest-deny; for golemtest-allow
    false takes the advertisement off discovery and true brings it back,
    with PropertiesChanged."""
    w = BusWorld(binary, discovery=True)
    pid = w.p.info()["provider_id"]
    mon = w.monitor()

    def wait_ad(present, what, timeout=5):
        """Until discovery has (or lacks) the advertisement; returns it."""
        return wait_for(f"{what}: the advertisement "
                        f"{'there' if present else 'gone'}",
                        lambda: (advertisement(w.disc, pid) if present else
                                 advertisement(w.disc, pid) is None),
                        timeout, detail=w.p.tail)

    wait_ad(True, "at start")
    expect_eq(w.get(DENY, MANAGER_PATH, MANAGER, "Advertising"), True,
              "Advertising at start")
    expect_bus_error(
        lambda: w.set(DENY, MANAGER_PATH, MANAGER, "Advertising", "b", False),
        ACCESS_DENIED, "Set Advertising false as golemtest-deny")
    expect_denied_logged(w, DENY, "Set", None, "Set Advertising")
    time.sleep(0.5)
    wait_ad(True, "after the refused Set")
    expect_eq(w.get(ROOT, MANAGER_PATH, MANAGER, "Advertising"), True,
              "Advertising after the refused Set")

    mark = len(mon.signals_since())
    w.set(ALLOW, MANAGER_PATH, MANAGER, "Advertising", "b", False)
    expect_eq(w.get(DENY, MANAGER_PATH, MANAGER, "Advertising"), False,
              "Advertising after Set false")
    mon.wait_signal(lambda m: m.member == "PropertiesChanged"
                    and m.path == MANAGER_PATH
                    and m.body[1].get("Advertising") is False, 5,
                    "PropertiesChanged Advertising=false", mark)
    wait_ad(False, "after Set Advertising false")
    last = w.get(ROOT, MANAGER_PATH, MANAGER, "LastAdvertisement")

    # A VM change while off does not bring it back.
    w.create(ROOT, "quiet")
    w.wait_state("quiet", "running")
    time.sleep(1.5)
    wait_ad(False, "after a VM change with advertising off", 0)

    expect_bus_error(
        lambda: w.set(DENY, MANAGER_PATH, MANAGER, "Advertising", "b", True),
        ACCESS_DENIED, "Set Advertising true as golemtest-deny")
    time.sleep(0.5)
    wait_ad(False, "after the refused Set true", 0)

    mark = len(mon.signals_since())
    w.set(ALLOW, MANAGER_PATH, MANAGER, "Advertising", "b", True)
    mon.wait_signal(lambda m: m.member == "PropertiesChanged"
                    and m.path == MANAGER_PATH
                    and m.body[1].get("Advertising") is True, 5,
                    "PropertiesChanged Advertising=true", mark)
    ad = wait_ad(True, "after Set Advertising true")
    expect_eq({k: ad["resources"].get(k) for k in CAPACITY},
              w.p.info()["available_resources"], "advertised resources")
    expect(w.get(ROOT, MANAGER_PATH, MANAGER, "LastAdvertisement") > last,
           "LastAdvertisement did not move after advertising again")
    expect_eq(w.get(DENY, MANAGER_PATH, MANAGER, "Advertising"), True,
              "Advertising after Set true")
    # Setting what is already set is fine.
    w.set(ALLOW, MANAGER_PATH, MANAGER, "Advertising", "b", True)
    wait_ad(True, "after setting true again")


@case
def reload(binary):
    """Reload: refused for golemtest-deny (nothing changes), done for
    golemtest-allow (MaxVMs from the file takes effect), a bad file is
    org.golem.Provider1.Error.Failed and the running settings stay."""
    conf = os.path.join(make_tempdir("golemtest-conf-"), "provider.conf")
    with open(conf, "w") as f:
        f.write("[Provider]\nMaxVMs=3\n")
    w = BusWorld(binary, args=["--config", conf])
    expect_eq(w.p.info()["max_vms"], 3, "max_vms from the file")
    with open(conf, "w") as f:
        f.write("[Provider]\nMaxVMs=1\n")
    expect_bus_error(lambda: w.call(DENY, MANAGER_PATH, MANAGER, "Reload"),
                     ACCESS_DENIED, "Reload as golemtest-deny")
    expect_denied_logged(w, DENY, "Reload", None, "Reload")
    expect_eq(w.p.info()["max_vms"], 3, "max_vms after a refused Reload")
    w.call(ALLOW, MANAGER_PATH, MANAGER, "Reload")
    expect_eq(w.p.info()["max_vms"], 1, "max_vms after Reload")
    w.create(ALLOW, "only-one")
    expect_bus_error(lambda: w.create(ALLOW, "one-too-many"),
                     GOLEM_ERROR + "ResourceUnavailable",
                     "a 2nd VM with MaxVMs=1")
    with open(conf, "w") as f:
        f.write("[Provider]\nMaxVMs=banana\n")
    expect_bus_error(lambda: w.call(ALLOW, MANAGER_PATH, MANAGER, "Reload"),
                     GOLEM_ERROR + "Failed", "Reload of a bad file",
                     contains="MaxVMs")
    expect_eq(w.p.info()["max_vms"], 1, "max_vms after a failed Reload")
    expect(w.p.running(), "the provider died of a bad Reload")


@case
def polkit_absent(binary):
    """Without polkitd every change by a user is refused (fail closed),
    reads still work, and root (the daemon's uid) needs no polkit."""
    w = BusWorld(binary, polkit=False, discovery=True)
    expect_bus_error(lambda: w.create(ALLOW, "nopk"), ACCESS_DENIED,
                     "CreateVM without polkitd")
    expect_bus_error(
        lambda: w.set(ALLOW, MANAGER_PATH, MANAGER, "Advertising", "b", False),
        ACCESS_DENIED, "Set Advertising without polkitd")
    expect_bus_error(lambda: w.call(ALLOW, MANAGER_PATH, MANAGER, "Reload"),
                     ACCESS_DENIED, "Reload without polkitd")
    expect_eq(w.get(ALLOW, MANAGER_PATH, MANAGER, "VMCount"), 0, "VMCount")
    expect_eq(w.create(ROOT, "by-root"), vm_path("by-root"),
              "CreateVM as root")
    w.wait_state("by-root", "running")
    expect_bus_error(lambda: w.vm_call(ALLOW, "by-root", "Stop"),
                     ACCESS_DENIED, "Stop without polkitd")
    w.vm_call(ROOT, "by-root", "Stop")
    w.set(ROOT, MANAGER_PATH, MANAGER, "Advertising", "b", False)
    expect_eq(w.get(ALLOW, MANAGER_PATH, MANAGER, "Advertising"), False,
              "Advertising set by root")
    w.call(ROOT, MANAGER_PATH, MANAGER, "Reload")
    w.vm_call(ROOT, "by-root", "Delete")
    expect_eq(w.p.vm_names(), [], "VMs at the end")


@case
def polkit_async(binary):
    """While polkit takes 3 s to decide, the provider serves REST and D-Bus
    and other callers; the slow caller then gets its answer.  A caller
    that hangs up while polkit decides and a SIGTERM during a check leave
    the daemon well."""
    w = BusWorld(binary)
    slow = w.spawn(SLOW, MANAGER_PATH, MANAGER, "CreateVM", "sa{sv}",
                   ["slow-one", {"ssh_key": ["s", random_public_key()]}])
    time.sleep(0.5)  # its check is under way
    t0 = time.monotonic()
    status, data = w.p.rest("GET", "/health", timeout=5)
    expect_eq(status, 200, "/health while polkit decides")
    expect_eq(w.get(ROOT, MANAGER_PATH, MANAGER, "VMCount"), 0,
              "VMCount while polkit decides")
    expect_eq(w.create(ROOT, "fast-one"), vm_path("fast-one"),
              "CreateVM by root while polkit decides")
    elapsed = time.monotonic() - t0
    expect(slow.proc.poll() is None,
           "the slow caller was answered before the others: the test "
           "proves nothing (polkit faster than 3 s?)")
    expect(elapsed < 1.5, f"the provider took {elapsed:.1f}s to answer "
           "others while a polkit check was pending: blocked?")
    expect_eq(slow.result()[0], vm_path("slow-one"), "the slow CreateVM")
    w.wait_state("slow-one", "running")

    # The caller hangs up before polkit answers.
    gone = w.spawn(SLOW, vm_path("slow-one"), VM, "Stop")
    time.sleep(0.5)
    gone.proc.kill()
    gone.proc.wait()
    time.sleep(3.5)
    expect(w.p.running(), f"provider died after a caller vanished"
           f"{w.p.tail()}")
    expect_eq(w.p.rest("GET", "/health")[0], 200, "/health after that")
    expect(w.state("slow-one") in ("running", "stopping", "stopped"),
           "slow-one after the vanished Stop")

    # SIGTERM while a check is pending: a clean exit.
    w.spawn(SLOW, MANAGER_PATH, MANAGER, "Reload")
    time.sleep(0.5)
    w.p.stop()


# --------------------------------------------------------------------------
# cases: signals


@case
def signals(binary):
    """CreateVM, Stop, Start, Delete: InterfacesAdded and VMNew, the VM's
    PropertiesChanged with State creating, running, stopping, stopped,
    starting, running, deleting, then InterfacesRemoved and VMRemoved; the
    manager's PropertiesChanged carry the current VMCount and resources."""
    w = BusWorld(binary, timings={"BOOT_SECONDS": 1, "STOP_SECONDS": 0.5})
    mon = w.monitor()
    name, path = "sig-one", vm_path("sig-one")
    w.create(ALLOW, name)
    mon.wait_signal(lambda m: m.path == path and m.member ==
                    "PropertiesChanged" and m.body[1].get("State") ==
                    "running", 30, "State=running")
    vm = w.p.vm(name)
    w.vm_call(ALLOW, name, "Stop")
    w.vm_call(ALLOW, name, "Start")
    w.vm_call(ALLOW, name, "Delete")
    mon.wait_signal(lambda m: m.member == "VMRemoved", 10, "VMRemoved")
    time.sleep(0.5)  # anything that would follow
    got = mon.signals_since()

    def first(member, what):
        for i, m in enumerate(got):
            if m.member == member:
                return i, m
        raise AssertionError(f"no {what} signal; got {got!r}")

    i_added, added = first("InterfacesAdded", "InterfacesAdded")
    expect_eq((added.path, added.interface), (MANAGER_PATH, OBJECT_MANAGER),
              "InterfacesAdded: sent by")
    expect_eq(added.body[0], path, "InterfacesAdded: object path")
    props = added.body[1].get(VM)
    expect(props is not None, f"InterfacesAdded without {VM}: {added!r}")
    expect_eq((props["Name"], props["State"]), (name, "creating"),
              "InterfacesAdded: Name, State")
    i_new, new = first("VMNew", "VMNew")
    expect_eq((new.path, new.interface, new.body),
              (MANAGER_PATH, MANAGER, [name, path]), "VMNew")

    states = ["creating"] + changed_states(got, path)
    expect_eq(collapse(states), ["creating", "running", "stopping",
                                 "stopped", "starting", "running",
                                 "deleting"],
              "the VM's State: InterfacesAdded, then PropertiesChanged")
    running = [m for m in got if m.path == path and
               m.member == "PropertiesChanged" and
               m.body[1].get("State") == "running"][0]
    expect_eq((running.body[1].get("IPAddress"),
               running.body[1].get("SSHPort")),
              (vm["ip_address"], vm["ssh_port"]),
              "PropertiesChanged at running: IPAddress, SSHPort")

    i_removed, removed = first("InterfacesRemoved", "InterfacesRemoved")
    expect_eq((removed.path, removed.body[0]), (MANAGER_PATH, path),
              "InterfacesRemoved")
    expect(VM in removed.body[1], f"InterfacesRemoved lacks {VM}: {removed!r}")
    i_vmremoved, vmremoved = first("VMRemoved", "VMRemoved")
    expect_eq((vmremoved.path, vmremoved.body), (MANAGER_PATH, [name, path]),
              "VMRemoved")
    last_vm_change = max(i for i, m in enumerate(got) if m.path == path)
    expect(i_added < last_vm_change < i_removed,
           f"order: InterfacesAdded, the VM's changes, InterfacesRemoved: "
           f"{got!r}")
    expect(i_new < i_vmremoved, "VMNew after VMRemoved")

    # The manager's own PropertiesChanged: the last values are current.
    manager_changes = {}
    for m in got:
        if m.path == MANAGER_PATH and m.member == "PropertiesChanged":
            manager_changes.update(m.body[1])
    expect_eq({k: manager_changes.get(k) for k in
               ("VMCount", "AvailableCPU", "AvailableMemory",
                "AvailableStorage")},
              {"VMCount": 0, "AvailableCPU": CAPACITY["cpu"],
               "AvailableMemory": CAPACITY["memory"],
               "AvailableStorage": CAPACITY["storage"]},
              "the last values the manager's PropertiesChanged announced "
              "after the delete")
    expect_eq(w.get(ROOT, MANAGER_PATH, MANAGER, "VMCount"), 0,
              "VMCount at the end")


@case
def signals_before_reply(binary):
    """A caller that listens sees the change before the answer: VMNew
    before CreateVM's reply, State stopped before Stop's, running before
    Start's, VMRemoved before Delete's (STYLE.md: emit, then reply)."""
    w = BusWorld(binary, timings={"BOOT_SECONDS": 0.5, "STOP_SECONDS": 0.5})
    conn = w.monitor()  # root: the same code path once polkit said yes
    path = vm_path("order")
    problems = []

    def check(member, predicate, what, signature="", args=(), on=path,
              iface=VM):
        mark = len(conn.signals_since())
        reply = conn.call_message(BUS_NAME, on, iface, member, signature,
                                  args, timeout=60)
        expect(reply.type == golembus.METHOD_RETURN, f"{member}: {reply!r}")
        time.sleep(0.5)
        for m in conn.signals_since(mark):
            if predicate(m):
                if m.index > reply.index:
                    problems.append(f"{what} came after the reply to "
                                    f"{member}")
                return
        raise AssertionError(f"{member}: no {what} signal at all")

    def state_is(state):
        return lambda m: (m.path == path and m.member == "PropertiesChanged"
                          and m.body[1].get("State") == state)

    check("CreateVM", lambda m: m.member == "VMNew", "VMNew", "sa{sv}",
          ["order", {"ssh_key": ("s", random_public_key())}], MANAGER_PATH,
          MANAGER)
    w.wait_state("order", "running")
    check("Stop", state_is("stopped"), "State=stopped")
    check("Start", state_is("running"), "State=running")
    check("Delete", lambda m: m.member == "VMRemoved", "VMRemoved")
    expect(not problems, "; ".join(problems))


@case
def rest_meets_bus(binary):
    """A VM created over REST appears on the bus (VMNew, GetVM, State); one
    created over D-Bus is served by REST; REST changes show as
    PropertiesChanged, deletes on either side as VMRemoved / 404."""
    w = BusWorld(binary, timings={"BOOT_SECONDS": 0.5})
    mon = w.monitor()
    w.p.create_vm("from-rest")
    mon.wait_signal(lambda m: m.member == "VMNew" and
                    m.body == ["from-rest", vm_path("from-rest")], 5,
                    "VMNew for a REST-created VM")
    expect_eq(w.call(DENY, MANAGER_PATH, MANAGER, "GetVM", "s",
                     ["from-rest"])[0], vm_path("from-rest"), "GetVM")
    expect_eq(w.state("from-rest"), "running", "State of from-rest")

    w.create(ALLOW, "from-bus")
    vm = w.p.vm("from-bus")
    expect(vm is not None and vm["status"] in ("creating", "running"),
           f"REST GET from-bus right after CreateVM: {vm!r}")
    w.wait_state("from-bus", "running")
    status, access = w.p.rest("GET", f"{VMS}/from-bus/access")
    expect_eq(status, 200, f"REST access of from-bus ({access!r})")
    expect_eq(access["ssh_port"], w.get(DENY, vm_path("from-bus"), VM,
                                        "SSHPort"), "ssh_port vs SSHPort")
    expect_eq(w.p.vm_names(), ["from-rest", "from-bus"], "REST list")

    mark = len(mon.signals_since())
    status, data = w.p.rest("POST", f"{VMS}/from-bus/stop")
    expect_eq(status, 200, f"REST stop (body {data!r})")
    mon.wait_signal(lambda m: m.path == vm_path("from-bus") and
                    m.member == "PropertiesChanged" and
                    m.body[1].get("State") == "stopped", 5,
                    "PropertiesChanged State=stopped after a REST stop", mark)

    w.vm_call(ALLOW, "from-rest", "Delete")
    expect_eq(w.p.vm("from-rest"), None, "REST after a D-Bus Delete")
    status, data = w.p.rest("DELETE", f"{VMS}/from-bus")
    expect_eq(status, 200, f"REST delete (body {data!r})")
    mon.wait_signal(lambda m: m.member == "VMRemoved" and
                    m.body == ["from-bus", vm_path("from-bus")], 5,
                    "VMRemoved after a REST delete")
    expect_eq(w.call(DENY, MANAGER_PATH, MANAGER, "ListVMs")[0], [],
              "ListVMs at the end")


# --------------------------------------------------------------------------
# cases: errors


@case
def state_store_full(binary):
    """With the state directory's disk full, Stop, Delete and CreateVM fail
    with org.golem.Provider1.Error.StorageFull (as REST answers 507) and
    nothing changes; with space again, the same Stop goes through."""
    w = BusWorld(binary, disk_size="4m")
    w.create(ALLOW, "full")
    w.wait_state("full", "running")
    filler = fill_disk(w.p.data_dir())
    for verb in ("Stop", "Delete"):
        expect_bus_error(lambda: w.vm_call(ALLOW, "full", verb),
                         GOLEM_ERROR + "StorageFull", f"{verb} on a full disk",
                         contains="state store")
    expect_bus_error(lambda: w.create(ALLOW, "other"),
                     GOLEM_ERROR + "StorageFull", "CreateVM on a full disk",
                     contains="state store")
    expect_eq(w.state("full"), "running", "the VM on a full disk")
    expect_eq(w.mp.power("full"), "Running", "the instance on a full disk")
    expect_eq(w.p.vm_names(), ["full"], "VMs on a full disk")

    os.remove(filler)
    w.vm_call(ALLOW, "full", "Stop")
    w.wait_state("full", "stopped")
    expect_eq(w.mp.power("full"), "Stopped", "the instance once there is space")


@case
def errors(binary):
    """Each refusal has its name: InvalidArgs for bad input (before polkit
    is asked), NameTaken, WrongState, NotFound, ResourceUnavailable,
    Failed (advertising not configured), and sd-bus' own."""
    w = BusWorld(binary, timings={"BOOT_SECONDS": 4})
    key = random_public_key()
    for name in ("ab", "UPPER", "-lead", "trail-", "dou--ble", "x" * 64,
                 "sp ace", "dot.ted", "ünï", "jobs"):
        for user in (DENY, ALLOW):
            expect_bus_error(lambda: w.create(user, name), INVALID_ARGS,
                             f"CreateVM {name!r} as {user}")
    bad_options = (
        ("no ssh_key", {"size": ("s", "small")}),
        ("bad ssh_key", {"ssh_key": ("s", "ssh-ed25519 notbase64!")}),
        ("two key lines", {"ssh_key": ("s", key + "\n" + key)}),
        ("unknown option", {"ssh_key": ("s", key), "colour": ("s", "red")}),
        ("size of the wrong type", {"ssh_key": ("s", key), "size": ("u", 1)}),
        ("unknown size", {"ssh_key": ("s", key), "size": ("s", "huge")}),
        ("cpu alone", {"ssh_key": ("s", key), "cpu": ("u", 2)}),
        ("zero memory", {"ssh_key": ("s", key), "cpu": ("u", 1),
                         "memory": ("u", 0), "storage": ("u", 10)}),
        ("bad image", {"ssh_key": ("s", key), "image": ("s", "--evil")}),
        ("image with a slash", {"ssh_key": ("s", key),
                                "image": ("s", "../../etc")}),
    )
    for what, options in bad_options:
        for user in (DENY, ALLOW):
            expect_bus_error(
                lambda: w.call(user, MANAGER_PATH, MANAGER, "CreateVM",
                               "sa{sv}", ["okname", options]),
                INVALID_ARGS, f"CreateVM with {what} as {user}")
    expect_eq(w.mp.launched(), [], "launches after the invalid creates")
    expect_eq(w.p.vm_names(), [], "VMs after the invalid creates")

    w.create(ALLOW, "dup")
    expect_bus_error(lambda: w.create(ALLOW, "dup"), GOLEM_ERROR + "NameTaken",
                     "CreateVM of a taken name", contains="dup")
    expect_eq(w.state("dup"), "creating", "dup is still creating (BOOT 4 s)")
    for verb in ("Stop", "Start", "Delete"):
        expect_bus_error(lambda: w.vm_call(ALLOW, "dup", verb),
                         GOLEM_ERROR + "WrongState", f"{verb} while creating")
    w.wait_state("dup", "running")
    expect_bus_error(lambda: w.vm_call(ALLOW, "dup", "Start"),
                     GOLEM_ERROR + "WrongState", "Start of a running VM")
    w.vm_call(ALLOW, "dup", "Stop")
    expect_bus_error(lambda: w.vm_call(ALLOW, "dup", "Stop"),
                     GOLEM_ERROR + "WrongState", "Stop of a stopped VM",
                     contains="dup")

    for name in ("ghost", "Not A Name"):
        expect_bus_error(lambda: w.call(DENY, MANAGER_PATH, MANAGER, "GetVM",
                                        "s", [name]),
                         GOLEM_ERROR + "NotFound", f"GetVM {name!r}")
    expect_bus_error(lambda: w.vm_call(ALLOW, "ghost", "Stop"),
                     "org.freedesktop.DBus.Error.UnknownObject",
                     "Stop on the path of no VM")

    expect_bus_error(lambda: w.create(ALLOW, "huge", cpu=11, memory=1,
                                      storage=10),
                     GOLEM_ERROR + "ResourceUnavailable",
                     "CreateVM beyond the CPUs")
    expect_bus_error(lambda: w.create(ALLOW, "huge", cpu=1, memory=1,
                                      storage=600),
                     GOLEM_ERROR + "ResourceUnavailable",
                     "CreateVM beyond the storage")
    expect_eq(w.p.vm("huge"), None, "REST after ResourceUnavailable")

    expect_eq(w.get(ALLOW, MANAGER_PATH, MANAGER, "Advertising"), False,
              "Advertising without a discovery URL")
    expect_bus_error(
        lambda: w.set(ALLOW, MANAGER_PATH, MANAGER, "Advertising", "b", True),
        GOLEM_ERROR + "Failed", "Set Advertising without a discovery URL")
    expect_bus_error(
        lambda: w.set(ALLOW, MANAGER_PATH, MANAGER, "VMCount", "u", 3),
        "org.freedesktop.DBus.Error.PropertyReadOnly", "Set VMCount")
    expect_bus_error(
        lambda: w.set(ALLOW, MANAGER_PATH, MANAGER, "Advertising", "s", "yes"),
        INVALID_ARGS, "Set Advertising to a string")
    expect_bus_error(
        lambda: w.call(ALLOW, MANAGER_PATH, MANAGER, "Frobnicate"),
        "org.freedesktop.DBus.Error.UnknownMethod", "an unknown method")
    expect_bus_error(
        lambda: w.call(ALLOW, MANAGER_PATH, MANAGER, "GetVM", "u", [1]),
        INVALID_ARGS, "GetVM with the wrong signature")
    expect(w.p.running(), f"the provider died{w.p.tail()}")
    expect_eq(w.p.vm_names(), ["dup"], "VMs at the end")


@case
def driver_failures(binary):
    """When multipass fails, the D-Bus caller hears it: a failed launch
    after CreateVM's reply ends in VMRemoved (the name free again); a failed
    Stop, Start or Delete is an org.golem.Provider1.Error with multipass'
    message, and the VM is back where it was (in error after a failed
    Delete, from where a Delete may try again)."""
    w = BusWorld(binary)
    mon = w.monitor()
    with open(os.path.join(w.mp.state, "fail-next-launch"), "w") as f:
        f.write("launch failed: golemtest says no\n")
    path = w.create(ALLOW, "doomed")
    removed = mon.wait_signal(lambda m: m.member == "VMRemoved", 30,
                              "VMRemoved after a failed launch")
    expect_eq(removed.body, ["doomed", path], "VMRemoved of doomed")
    errors = [m.body[1]["Error"] for m in mon.signals_since()
              if m.path == path and m.member == "PropertiesChanged"
              and m.index < removed.index and m.body[1].get("Error")]
    expect(errors and "golemtest says no" in errors[-1],
           "before VMRemoved no PropertiesChanged told the D-Bus client why "
           f"the launch failed (Error): {mon.signals_since()!r}")
    expect_eq(w.p.vm("doomed"), None, "REST after the failed launch")
    expect_eq(w.p.info()["available_resources"], CAPACITY,
              "available after the failed launch")
    expect_eq(w.create(ALLOW, "doomed"), path, "the name is free again")
    w.wait_state("doomed", "running")

    for verb, fault, back in (("Stop", "stop", "running"),
                              ("Start", "start", "stopped"),
                              ("Delete", "delete", "error")):
        if verb == "Start":
            w.vm_call(ALLOW, "doomed", "Stop")
        with open(os.path.join(w.mp.state, f"fail-next-{fault}"), "w") as f:
            f.write(f"{fault} failed: golemtest injected\n")
        e = expect_bus_error(lambda: w.vm_call(ALLOW, "doomed", verb),
                             tuple(GOLEM_ERROR + n for n in (
                                 "Failed", "Timeout", "DriverUnavailable")),
                             f"{verb} when multipass fails")
        expect("golemtest injected" in e.message,
               f"{verb}: the error does not carry multipass' message: "
               f"{e.message!r}")
        expect_eq(w.state("doomed"), back, f"State after the failed {verb}")
        expect(w.get(ALLOW, path, VM, "Error"),
               f"the Error property after the failed {verb} is empty")
        expect_eq(w.p.vm("doomed")["status"], back,
                  f"REST status after the failed {verb}")
    w.vm_call(ALLOW, "doomed", "Delete")  # a VM in error may be deleted
    expect_eq(w.p.vm_names(), [], "VMs at the end")


@case
def last_advertisement_changes(binary):
    """LastAdvertisement is declared EmitsChangedSignal=invalidates: each
    stored advertisement invalidates it with PropertiesChanged; so is
    AdvertisementError, which says why posts fail."""
    w = BusWorld(binary, discovery=True)
    mon = w.monitor()
    before = wait_for("a first advertisement", lambda: w.get(
        ROOT, MANAGER_PATH, MANAGER, "LastAdvertisement"), 5)
    mark = len(mon.signals_since())
    w.create(ROOT, "moves-it")  # free resources change: advertised again
    wait_for("LastAdvertisement to move after a VM was created",
             lambda: w.get(ROOT, MANAGER_PATH, MANAGER,
                           "LastAdvertisement") != before, 5)
    mon.wait_signal(lambda m: m.path == MANAGER_PATH and
                    m.member == "PropertiesChanged" and m.body[0] == MANAGER
                    and ("LastAdvertisement" in m.body[2] or
                         "LastAdvertisement" in m.body[1]),
                    3, "PropertiesChanged invalidating LastAdvertisement",
                    mark)

    # AdvertisementError says why posts fail, and is "" while they succeed.
    expect_eq(w.get(ROOT, MANAGER_PATH, MANAGER, "AdvertisementError"), "",
              "AdvertisementError while advertising works")
    mark = len(mon.signals_since())
    w.disc.kill9()
    w.create(ROOT, "moves-it-again")
    wait_for("AdvertisementError to say why", lambda: w.get(
        ROOT, MANAGER_PATH, MANAGER, "AdvertisementError") == "Connection refused", 10)
    mon.wait_signal(lambda m: m.path == MANAGER_PATH and
                    m.member == "PropertiesChanged" and m.body[0] == MANAGER
                    and ("AdvertisementError" in m.body[2] or
                         "AdvertisementError" in m.body[1]),
                    3, "PropertiesChanged invalidating AdvertisementError", mark)


@case
def restart(binary):
    """A caller waiting for a Stop when the provider goes down hears so
    (NoReply), and the restarted provider takes the name again and serves
    the same VMs as objects."""
    w = BusWorld(binary, timings={"STOP_SECONDS": 3})
    for name in ("stays-one", "stays-two"):
        w.create(ALLOW, name)
    for name in ("stays-one", "stays-two"):
        w.wait_state(name, "running")
    before = w.call(DENY, MANAGER_PATH, MANAGER, "ListVMs")[0]
    pending = w.spawn(ALLOW, vm_path("stays-two"), VM, "Stop")
    wait_for("stays-two: a multipass stop",
             lambda: "golem-stays-two" in w.mp.called("stop"), 10, 0.05)
    expect_eq(w.state("stays-two"), "stopping", "State during the Stop")
    t0 = time.monotonic()
    w.p.stop()
    expect_bus_error(lambda: pending.result(10),
                     ("org.freedesktop.DBus.Error.NoReply",
                      GOLEM_ERROR + "Failed"),
                     "a Stop waiting when the provider stopped")
    expect(time.monotonic() - t0 < 5, "the waiting caller was answered late")
    expect(not w.bus.conn.name_has_owner(BUS_NAME),
           f"{BUS_NAME} still owned after the provider stopped")

    w.p = w.p.respawn("providerd-2")
    w.start()
    after = w.call(DENY, MANAGER_PATH, MANAGER, "ListVMs")[0]
    expect_eq([x[::2] for x in after], [x[::2] for x in before],
              "ListVMs (names, paths) after the restart")
    managed = w.call(DENY, MANAGER_PATH, OBJECT_MANAGER,
                     "GetManagedObjects")[0]
    expect_eq(sorted(managed), sorted(x[2] for x in before),
              "GetManagedObjects after the restart")
    expect_eq(w.state("stays-one"), "running", "stays-one after the restart")
    # The Stop went on in multipass; the provider must find out.
    wait_for("a Stop in flight when the provider stopped: stays-two "
             "stopped after the restart",
             lambda: w.state("stays-two") == "stopped", 15, 0.2,
             lambda: f" (it is {w.state('stays-two')!r} on the bus and "
             f"{w.p.vm('stays-two')['status']!r} in REST, while multipass "
             f"has it {w.mp.power('stays-two')!r})")
    expect_eq(w.p.vm("stays-two")["status"], "stopped",
              "REST stays-two after the restart")
    w.vm_call(ALLOW, "stays-two", "Start")
    expect_eq(w.state("stays-two"), "running", "stays-two started again")


@case
def no_bus(binary):
    """Without a system bus the provider logs it and serves REST; started
    by D-Bus activation (DBUS_STARTER_BUS_TYPE) it gives up instead.  A
    second provider on a bus whose name is taken fails clearly."""
    mp = Standin()
    p = provider(binary, mp).start().wait_ready()
    expect("system bus" in p.stderr(),
           f"no word about the missing bus in the log{p.tail()}")
    status, _, data = http("POST", p.url + VMS, {
        "name": "busless", "size": "small", "ssh_key": random_public_key()})
    expect_eq(status, 201, f"REST create without a bus (body {data!r})")
    status, _, data = http("DELETE", f"{p.url}{VMS}/busless")
    expect_eq(status, 200, f"REST delete without a bus (body {data!r})")
    p.stop()

    q = provider(binary, Standin())
    q.env["DBUS_STARTER_BUS_TYPE"] = "system"
    q.start()
    code = q.wait_exit(30)
    expect(code != 0, "bus-activated without a bus: exit code 0")
    expect("system bus" in q.stderr(), f"bus-activated: no reason{q.tail()}")

    w = BusWorld(binary)
    second = provider(binary, Standin(), bus=w.bus)
    second.start()
    code = second.wait_exit(30)
    expect(code != 0, "a second provider on the same bus: exit code 0")
    expect(BUS_NAME in second.stderr(),
           f"a second provider: the log does not name {BUS_NAME}"
           f"{second.tail()}")
    expect(w.p.running() and w.bus.conn.name_has_owner(BUS_NAME),
           "the first provider lost its name")


if __name__ == "__main__":
    raise SystemExit(main(paths=("discovery", "multipass", "xml",
                                 "dbus-config", "polkit-policy"),
                          binary="providerd"))
