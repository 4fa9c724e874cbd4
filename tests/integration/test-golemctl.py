#!/usr/bin/env python3
"""End-to-end tests for golemctl, the requestor CLI, against real
golem-discoveryd and golem-providerd daemons (the providers drive the
multipass stand-in, tests/multipass; the ssh case logs in to a real sshd).

    test-golemctl.py --golemctl golemctl --providerd golem-providerd \\
                     --discovery golem-discoveryd --multipass tests/multipass [CASE]

(``--binary`` is accepted for ``--golemctl``.)  Each provider runs on a loopback
address of its own (127.X.Y.Z, random) on the default port 7466, with
GOLEM_PROVIDER_HOST and GOLEM_PROVIDER_PUBLIC_IP set to it, so golemctl reaches
it exactly as it would a real one: discovery gives the address, the port is
golemctl's default.  golemctl runs with HOME and the XDG directories in temp
dirs.  Run ``--list`` for the case names.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golemworld import (  # noqa: E402
    PATHS, Requestor, Sshd, Standin, advertisement, case, expect, expect_eq,
    http, loopback_ip, main, make_key, make_tempdir, provider,
    run_on_terminal, serve_http, start_discovery, wait_advertised, wait_for)

PROVIDER_PORT = 7466
SMALL = {"cpu": 1, "memory": 1, "storage": 10}
MEDIUM = {"cpu": 2, "memory": 4, "storage": 20}
XLARGE = {"cpu": 8, "memory": 16, "storage": 80}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------
# helpers


def Provider(discovery, provider_id, country, capacity, vm_ip=None,
             timings=None, **settings):
    """A started golem-providerd (its ``id``, its stand-in ``mp``) on
    127.X.Y.Z:7466, advertising to ``discovery``, which has its
    advertisement by the time this returns.  ``provider_id`` is a legacy
    id (its advertisement is unverified); None: the id is its key's, and
    the advertisement verified."""
    mp = Standin(ip=vm_ip, PLAIN=1, **(timings or {}))
    legacy = {"ID": provider_id} if provider_id else {}
    name = provider_id or "verified"
    for attempt in range(3):
        d = provider(mp=mp, name=f"providerd-{name}",
                     host=loopback_ip(PROVIDER_PORT), port=PROVIDER_PORT,
                     capacity=capacity, discovery=discovery, NAME=name,
                     COUNTRY=country, **legacy, **settings)
        d.start()
        try:
            d.wait_ready()
            break
        except AssertionError:
            # Someone took the address in between: pick another.
            if "in use" in d.stderr() and attempt < 2:
                d.kill9()
                continue
            raise
    d.id, d.mp = provider_id or d.provider_id(), mp
    wait_advertised(discovery, d.id, capacity)
    return d


def user(discovery, *providers, name="requestor", **kw):
    """A Requestor of ``discovery`` (a golem-discoveryd, or None) that
    takes unverified providers too (those of Provider() with legacy ids);
    ``providers``' REST helpers sign with the key golemctl makes for it on
    its first create, so that they see its VMs."""
    req = Requestor(discovery, name=name, unverified=True, **kw)
    for d in providers:
        d.key = req.generated_key
    return req


def fingerprint(pub):
    """A key's identity: ssh-keygen's SHA256 fingerprint in base64url."""
    out = subprocess.run(["ssh-keygen", "-lf", pub], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1].split(":", 1)[1].replace("+", "-").replace("/", "_")


def table_rows(out):
    """The rows of a golemctl table (header first) split into columns on
    runs of 2+ blanks, and the legend line."""
    lines = out.rstrip("\n").split("\n")
    expect(len(lines) >= 1, f"no output: {out!r}")
    legend = lines[-1]
    body = [l for l in lines[:-1] if l.strip()]
    return [re.split(r"\s{2,}", l.strip()) for l in body], legend


# --------------------------------------------------------------------------
# cases


@case
def providers_filters(binary):
    disc = start_discovery()
    se = Provider(disc, "prov-se", "SE", {"cpu": 4, "memory": 8, "storage": 100})
    de = Provider(disc, "prov-de", "DE", {"cpu": 16, "memory": 32, "storage": 500})
    req = user(disc)

    out, err = req.ok("providers")
    rows, legend = table_rows(out)
    expect_eq(rows[0], ["PROVIDER", "COUNTRY", "ADDRESS", "CPU", "MEMORY",
                        "STORAGE", "PLATFORM", "VERIFIED"], "providers header")
    expect_eq(legend, "2 providers listed.", "providers legend")
    by_id = {r[0]: r for r in rows[1:]}
    expect_eq(sorted(by_id), ["prov-de", "prov-se"], "providers listed")
    expect_eq(by_id["prov-se"][1:6], ["SE", se.host, "4", "8 GB", "100 GB"],
              "prov-se row")
    expect_eq(by_id["prov-de"][1:6], ["DE", de.host, "16", "32 GB", "500 GB"],
              "prov-de row")
    expect_eq([r[-1] for r in rows[1:]], ["no", "no"], "unverified (legacy ids)")
    expect(not ANSI.search(out), f"colour codes without a terminal: {out!r}")

    # Right-aligned numbers: the CPU column's cells end where its header ends.
    lines = out.split("\n")
    end = lines[0].index("CPU") + len("CPU")
    for line in lines[1:3]:
        expect(line[end - 1].isdigit() and line[end] == " ",
               f"CPU not right-aligned at {end} in {line!r}")

    data = req.json("providers")
    expect(isinstance(data, list) and len(data) == 2, f"--json: {data!r}")
    ads = {a["provider_id"]: a for a in data}
    expect_eq(ads["prov-de"]["resources"],
              {"cpu": 16, "memory": 32, "storage": 500}, "JSON resources")
    expect_eq(ads["prov-de"]["country"], "DE", "JSON country")
    expect_eq(ads["prov-de"]["ip_address"], de.host, "JSON ip_address")
    expect_eq(ads["prov-de"]["url"], de.url, "JSON url")
    expect_eq(ads["prov-de"]["verified"], False, "JSON verified")

    pretty, _ = req.ok("providers", "--json=pretty")
    expect(pretty.count("\n") > 5 and json.loads(pretty) == data,
           f"--json=pretty: {pretty!r}")

    def ids(*args):
        return sorted(a["provider_id"] for a in req.json("providers", *args))

    expect_eq(ids("--country", "DE"), ["prov-de"], "--country DE")
    expect_eq(ids("--country", "se"), ["prov-se"], "--country se")
    expect_eq(ids("--cpu", "8"), ["prov-de"], "--cpu 8")
    expect_eq(ids("--memory", "8"), ["prov-de", "prov-se"], "--memory 8")
    expect_eq(ids("--storage", "200"), ["prov-de"], "--storage 200")
    expect_eq(ids("--memory", "16", "--country", "SE"), [],
              "--memory 16 --country SE")
    expect_eq(ids("--country", "FR"), [], "--country FR")

    out, _ = req.ok("providers", "--cpu", "8")
    rows, legend = table_rows(out)
    expect_eq(legend, "1 provider listed.", "legend for one")
    out, _ = req.ok("providers", "--country", "FR")
    expect_eq(out, "0 providers listed.\n", "no providers")
    out, _ = req.ok("providers", "--no-legend")
    expect_eq(len(out.strip().split("\n")), 2, f"--no-legend: {out!r}")
    expect("PROVIDER" not in out and "listed" not in out,
           f"--no-legend: {out!r}")

    req.fails(2, "providers", "--country", "XX", message="country")
    req.fails(2, "providers", "--cpu", "0", message="--cpu")
    req.fails(2, "providers", "--cpu", "two", message="--cpu")


@case
def create_verified(binary):
    """A provider with its key's id (no GOLEM_PROVIDER_ID) advertises
    verified, and golemctl takes it without --unverified, never the
    unverified one next to it, though that one fits better."""
    disc = start_discovery()
    Provider(disc, "prov-legacy", "SE", {"cpu": 4, "memory": 8, "storage": 40})
    signed = Provider(disc, None, "SE", {"cpu": 16, "memory": 32, "storage": 200})
    expect_eq(advertisement(disc, signed.id)["verified"], True,
              "the key-id provider's advertisement verified")
    expect_eq(advertisement(disc, "prov-legacy")["verified"], False,
              "the legacy id's advertisement verified")
    req = Requestor(disc)

    rows, legend = table_rows(req.ok("providers")[0])
    expect_eq([(r[0], r[-1]) for r in rows[1:]], [(signed.id, "yes")],
              "providers: the verified one only")
    out, err = req.ok("vm", "create", "web", "--size", "medium")
    expect(f"Chose provider {signed.id} " in err, f"the choice: {err!r}")
    expect_eq(req.records()["web"]["provider_id"], signed.id, "record provider")
    vm = signed.signed(req.generated_key).vm("web")
    expect(vm is not None, "web not on the verified provider (to its owner)")
    expect_eq((vm["status"], vm["resources"]), ("running", MEDIUM), "web")
    expect_eq(signed.vm_names(), [], "an owned VM shown to an anonymous caller")

    req.fails(1, "vm", "create", "old", "--provider", "prov-legacy",
              message="prov-legacy .*--unverified")
    expect_eq(sorted(req.records()), ["web"], "no record for a refused create")
    _, err = req.ok("--unverified", "vm", "create", "old", "--size", "medium")
    expect("Chose provider prov-legacy " in err,
           f"--unverified: the better fit: {err!r}")


@case
def create_by_size_best_fit(binary):
    disc = start_discovery()
    big = Provider(disc, "prov-big", "SE", {"cpu": 16, "memory": 32, "storage": 200})
    snug = Provider(disc, "prov-snug", "SE", {"cpu": 4, "memory": 8, "storage": 40})
    req = user(disc, big, snug)

    out, err = req.ok("vm", "create", "web", "--size", "medium")
    expect(re.search(r"Chose provider prov-snug .*best fit", err),
           f"the choice and its reason: {err!r}")
    expect("Creating VM" not in err, f"progress without a terminal: {err!r}")
    # No key of the user's: golemctl made one, and says where, once.
    expect(err.count(f"made one for golemctl, {req.generated_key} ") == 1,
           f"the generated key announced: {err!r}")
    expect("web" in out and "prov-snug" in out and "running" in out,
           f"summary: {out!r}")
    vm = snug.vm("web")
    expect(vm is not None, "web not on prov-snug")
    expect_eq(vm["status"], "running", "web status on its provider")
    expect_eq(vm["resources"], MEDIUM, "web resources")
    expect_eq(big.vm_names(), [], "nothing on prov-big")

    # The key golemctl generated went to the VM.
    pub = req.generated_pub()
    cloud = snug.mp.record("golem-web")["cloud_init"]
    expect(pub.split()[1] in cloud, "generated key not in the cloud-init")

    rec = req.records()["web"]
    expect_eq(rec["provider_id"], "prov-snug", "record provider")
    expect_eq(rec["provider_url"], snug.url, "record provider URL")
    expect_eq(rec["state"], "created", "record state")
    expect_eq(rec["ssh_port"], vm["ssh_port"], "record ssh port")
    expect_eq(rec["ssh_key_path"], req.generated_key, "record key")
    expect((rec["cpu"], rec["memory"], rec["storage"]) == (2, 4, 20),
           f"record resources: {rec!r}")

    # prov-snug now has 2/4/20 free, which no longer fits a medium best:
    # equal to the request is the tightest fit there is.
    # prov-snug now has exactly a medium free: the tightest fit there is.
    wait_advertised(disc, "prov-snug", {"cpu": 2, "memory": 4, "storage": 20})
    out, err = req.ok("vm", "create", "web2", "--size", "medium")
    expect("Chose provider prov-snug" in err, f"second choice: {err!r}")
    expect("made one for golemctl" not in err, f"the key is made once: {err!r}")
    # Now prov-snug is full and withdraws its advertisement: prov-big is next.
    wait_for("prov-snug to withdraw",
             lambda: advertisement(disc, "prov-snug") is None)
    out, err = req.ok("vm", "create", "web3", "--size", "small", "-q")
    expect_eq(err, "", "-q prints no notes")
    expect_eq(out, "", "-q prints no summary")
    expect(big.vm("web3") is not None, "web3 on prov-big")

    data = req.json("vm", "status", "web")
    expect_eq(data["name"], "web", "status name")
    expect_eq(data["status"], "running", "status status")
    expect_eq(data["provider_id"], "prov-snug", "status provider")
    expect_eq(data["resources"], MEDIUM, "status resources")
    expect_eq(data["ssh_host"], snug.host, "status ssh_host")
    expect_eq(data["ssh_port"], vm["ssh_port"], "status ssh_port")
    expect(data["reachable"] is True, f"status reachable: {data!r}")


@case
def create_tie_break(binary):
    disc = start_discovery()
    same = {"cpu": 8, "memory": 16, "storage": 100}
    b = Provider(disc, "prov-b", "SE", same)
    a = Provider(disc, "prov-a", "SE", same)
    req = user(disc, a, b)
    out, err = req.ok("vm", "create", "tie", "--size", "small")
    expect(re.search(r"Chose provider prov-a .*tied with 1 other", err),
           f"tie-break by provider id: {err!r}")
    expect(a.vm("tie") is not None and b.vm("tie") is None,
           "tie went to prov-a")


@case
def create_by_resources(binary):
    disc = start_discovery()
    se = Provider(disc, "prov-se", "SE", {"cpu": 8, "memory": 16, "storage": 100})
    de = Provider(disc, "prov-de", "DE", {"cpu": 32, "memory": 64, "storage": 1000})
    req = user(disc, se, de)

    req.ok("vm", "create", "calc", "--cpu", "3", "--memory", "5",
           "--storage", "15")
    vm = se.vm("calc")
    expect(vm is not None, "calc on prov-se (the better fit)")
    expect_eq(vm["resources"], {"cpu": 3, "memory": 5, "storage": 15},
              "explicit resources")
    rec = se.mp.record("golem-calc")
    expect_eq(rec["cpus"], 3, "cpus given to multipass")

    # A country overrides the fit; explicit values override the size's.
    out, err = req.ok("vm", "create", "far", "--size", "small", "--memory",
                      "2", "--country", "DE", "--image", "ubuntu:22.04")
    vm = de.vm("far")
    expect(vm is not None, "far on prov-de (the country asked for)")
    expect_eq(vm["resources"], {"cpu": 1, "memory": 2, "storage": 10},
              "size with --memory override")
    expect_eq(vm["image"], "ubuntu:22.04", "image")

    # --provider names one, fit or not.
    req.ok("vm", "create", "named", "--provider", "prov-de")
    expect(de.vm("named") is not None, "named on prov-de")
    req.fails(1, "vm", "create", "nowhere", "--provider", "prov-xx",
              message="prov-xx is not advertising")
    expect("nowhere" not in req.records(), "no record for a failed create")

    req.fails(2, "vm", "create", "toobig", "--cpu", "100000",
              message="--cpu")


@case
def lifecycle_list_status_stop_start_destroy(binary):
    disc = start_discovery()
    p1 = Provider(disc, "prov-1", "SE", {"cpu": 8, "memory": 16, "storage": 200})
    p2 = Provider(disc, "prov-2", "NO", {"cpu": 8, "memory": 16, "storage": 200})
    req = user(disc, p1, p2)
    req.ok("vm", "create", "alpha", "--provider", "prov-1")
    created = req.json("vm", "create", "beta", "--provider", "prov-2", "--size", "medium")
    # Where to SSH is the same in every command's JSON: create, list and status.
    expect_eq(created["ssh_host"], p2.host, "create --json: ssh_host")
    expect_eq(created["ssh_port"], p2.vm("beta")["ssh_port"], "create --json: ssh_port")

    out, _ = req.ok("vm", "list")
    rows, legend = table_rows(out)
    expect_eq(rows[0], ["NAME", "PROVIDER", "STATUS", "CPU", "MEMORY",
                        "STORAGE", "SSH PORT", "CREATED"], "list header")
    expect_eq(legend, "2 VMs listed.", "list legend")
    by_name = {r[0]: r for r in rows[1:]}
    expect_eq(by_name["alpha"][1:6], ["prov-1", "running", "1", "1 GB", "10 GB"],
              "alpha row")
    expect_eq(by_name["beta"][1:6], ["prov-2", "running", "2", "4 GB", "20 GB"],
              "beta row")
    expect_eq(int(by_name["beta"][6]), p2.vm("beta")["ssh_port"], "beta port")

    # No verb is "vm list".
    out2, _ = req.ok()
    expect_eq(table_rows(out2)[1], "2 VMs listed.", "default verb")

    data = req.json("vm", "list")
    expect_eq([v["name"] for v in data], ["alpha", "beta"], "JSON list order")
    expect_eq([(v["ssh_host"], v["ssh_port"]) for v in data],
              [(p1.host, p1.vm("alpha")["ssh_port"]), (p2.host, p2.vm("beta")["ssh_port"])],
              "JSON list: ssh_host and ssh_port")
    expect_eq(req.json("vm", "status", "beta")["ssh_host"], created["ssh_host"],
              "status --json: the ssh_host create showed")
    expect(all(v["status"] == "running" and v["reachable"] for v in data),
           f"JSON list: {data!r}")

    out, _ = req.ok("vm", "status", "beta")
    expect(re.search(r"Status: running", out), f"status text: {out!r}")
    expect(re.search(r"Provider: prov-2 \(" + re.escape(p2.url) + r"\)", out),
           f"status provider: {out!r}")
    expect(re.search(rf"SSH: {re.escape(p2.host)} port \d+", out),
           f"status ssh: {out!r}")

    out, _ = req.ok("vm", "stop", "beta")
    expect_eq(p2.vm("beta")["status"], "stopped", "beta stopped")
    expect_eq(req.json("vm", "status", "beta")["status"], "stopped",
              "status after stop")
    req.fails(1, "vm", "stop", "beta", message=r"Provider prov-2 refused")
    vm = req.json("vm", "start", "beta")
    expect_eq(vm["status"], "running", "start --json")
    expect_eq(p2.vm("beta")["status"], "running", "beta running again")

    out, _ = req.ok("vm", "destroy", "beta")
    expect(p2.vm("beta") is None, "beta gone from its provider")
    expect_eq(sorted(req.records()), ["alpha"], "records after destroy")
    data = req.json("vm", "list")
    expect_eq([v["name"] for v in data], ["alpha"], "list after destroy")
    req.fails(1, "vm", "status", "beta", message="No VM named beta")

    # A VM deleted behind golemctl's back is "missing", and destroy forgets it.
    status, _ = p1.rest("DELETE", "/api/v1/vms/alpha")
    expect_eq(status, 200, "direct delete of alpha")
    out, _ = req.ok("vm", "list")
    expect(re.search(r"alpha\s+prov-1\s+missing", out), f"missing: {out!r}")
    req.fails(1, "vm", "status", "alpha", message="does not know VM alpha")
    out, err = req.ok("vm", "destroy", "alpha")
    expect("did not know" in err, f"destroy of a missing VM: {err!r}")
    expect_eq(req.records(), {}, "all forgotten")
    out, _ = req.ok("vm", "list")
    expect_eq(out, "0 VMs listed.\n", "empty list")


@case
def ssh_echo(binary):
    sshd = Sshd()
    disc = start_discovery()
    prov = Provider(disc, "prov-ssh", "SE", {"cpu": 4, "memory": 8, "storage": 100},
                    vm_ip=sshd.ip)
    req = user(disc, prov)
    req.ok("vm", "create", "shell")
    cloud = prov.mp.record("golem-shell")["cloud_init"]
    pub = req.generated_pub()
    expect(pub.split()[1] in cloud, "the key golemctl sent is in the VM")
    sshd.authorize(pub)

    code, out, err = req.run("vm", "ssh", "shell", "--user", "root", "--",
                             "echo", "hello", timeout=60)
    expect_eq((code, out), (0, "hello\n"),
              f"vm ssh -- echo hello (stderr {err!r}; sshd log "
              f"{sshd.logtext()})")
    known = os.path.join(req.state, "golem", "known_hosts", "prov-ssh-shell")
    port = prov.vm("shell")["ssh_port"]
    # (Debian's ssh_config hashes host names: ask ssh-keygen.)
    found = subprocess.run(["ssh-keygen", "-F", f"[{prov.host}]:{port}", "-f",
                            known], capture_output=True, text=True)
    expect(found.returncode == 0 and "ssh-ed25519" in found.stdout,
           f"host key of [{prov.host}]:{port} not pinned in {known}: "
           f"{found.stdout!r}")

    # A command with options of its own, after "--": neither golemctl nor
    # ssh takes them (ssh joins the words for the remote shell, as always).
    code, out, err = req.run("vm", "ssh", "shell", "--user", "root", "--",
                             "echo", "-p", "1", "-l", "x", timeout=60)
    expect_eq((code, out), (0, "-p 1 -l x\n"), f"options after -- ({err!r})")

    # Pinned: a different host key is refused.
    sshd.stop()
    sshd.start(new_host_key=True)
    code, out, err = req.run("vm", "ssh", "shell", "--user", "root", "--",
                             "echo", "hello", timeout=60)
    expect(code != 0 and "hello" not in out,
           f"a changed host key was accepted: {code} {out!r}")
    expect("Host key verification failed" in err or "CHANGED" in err,
           f"ssh's complaint: {err!r}")

    # A stopped VM gets a clear message, not ssh's.
    req.ok("vm", "stop", "shell")
    req.fails(1, "vm", "ssh", "shell", "--", "true",
              message="VM shell is stopped")
    req.fails(2, "vm", "ssh", "shell", "--user", "-oProxyCommand=x",
              message="Invalid user")


@case
def ssh_key_option(binary):
    disc = start_discovery()
    prov = Provider(disc, "prov-k", "SE", {"cpu": 4, "memory": 8, "storage": 100})
    req = user(disc)
    keydir = make_tempdir("golemtest-key-")
    key, pub = make_key("mine@test", keydir, "mykey")

    req.ok("vm", "create", "keyed", "--ssh-key", key)
    expect(pub.split()[1] in prov.mp.record("golem-keyed")["cloud_init"],
           "--ssh-key's .pub sent")
    expect_eq(req.json("vm", "status", "keyed")["ssh_key"], key, "key recorded")
    # --ssh-key is the VM's login key; requests are signed with golemctl's
    # own key (none configured, none in ~/.ssh: made now), the same for
    # every later command.
    expect_eq(req.ok("id")[0].strip(), fingerprint(req.generated_key + ".pub"),
              "signed with the generated key, not --ssh-key's")

    # The environment names one too; and ~/.ssh/id_ed25519 comes before a
    # generated key.
    os.makedirs(os.path.join(req.home, ".ssh"))
    home_key, _ = make_key(directory=os.path.join(req.home, ".ssh"))
    req.ok("vm", "create", "homekey")
    expect_eq(req.records()["homekey"]["ssh_key_path"], home_key,
              "~/.ssh/id_ed25519 used")
    req.ok("vm", "create", "envkey", env={"GOLEM_REQUESTOR_SSH_KEY_PATH": key})
    expect_eq(req.records()["envkey"]["ssh_key_path"], key,
              "GOLEM_REQUESTOR_SSH_KEY_PATH used")

    bad = os.path.join(keydir, "bad")
    with open(bad + ".pub", "w") as f:
        f.write("not a key\n")
    req.fails(1, "vm", "create", "badkey", "--ssh-key", bad,
              message="not an OpenSSH public key")
    req.fails(1, "vm", "create", "nokey", "--ssh-key",
              os.path.join(keydir, "absent"), message="no such key")
    expect_eq(sorted(req.records()), ["envkey", "homekey", "keyed"],
              "no records for failed creates")


@case
def no_provider_fits(binary):
    disc = start_discovery()
    Provider(disc, "prov-small", "SE", {"cpu": 2, "memory": 4, "storage": 50})
    req = user(disc)
    req.fails(1, "vm", "create", "huge", "--size", "xlarge",
              message=r"No provider has room for 8 CPU, 16 GB memory, "
                      r"80 GB storage")
    req.fails(1, "vm", "create", "elsewhere", "--country", "DE",
              message=r"No provider in DE has room")
    expect_eq(req.records(), {}, "no records")
    out, _ = req.ok("vm", "list")
    expect_eq(out, "0 VMs listed.\n", "nothing listed")

    # The provider's own refusal, one line, in its words.
    req.fails(1, "vm", "create", "over", "--provider", "prov-small",
              "--memory", "8", message=r"Provider prov-small refused: Not "
              r"enough memory: 8 GB requested, 4 GB available")
    expect_eq(req.records(), {}, "no record after a refusal")


@case
def provider_down(binary):
    disc = start_discovery()
    up = Provider(disc, "prov-up", "SE", {"cpu": 8, "memory": 16, "storage": 200})
    down = Provider(disc, "prov-down", "SE", {"cpu": 8, "memory": 16, "storage": 200})
    req = user(disc)
    req.ok("vm", "create", "stays", "--provider", "prov-up")
    req.ok("vm", "create", "lost", "--provider", "prov-down")

    down.kill9()  # no goodbye: its advertisement stays fresh
    expect(advertisement(disc, "prov-down") is not None, "ad still there")

    t0 = time.monotonic()
    out, _ = req.ok("vm", "list")
    expect(time.monotonic() - t0 < 10, "list waited on the dead provider")
    expect(re.search(r"lost\s+prov-down\s+unreachable", out),
           f"unreachable marked: {out!r}")
    expect(re.search(r"stays\s+prov-up\s+running", out), f"others: {out!r}")
    expect(out.rstrip().endswith("2 VMs listed; 1 provider unreachable."),
           f"legend: {out!r}")
    data = {v["name"]: v for v in req.json("vm", "list")}
    expect(data["lost"]["reachable"] is False and
           data["lost"]["status"] == "unreachable", f"JSON: {data!r}")
    expect(data["stays"]["reachable"] is True, f"JSON: {data!r}")

    req.fails(1, "vm", "status", "lost",
              message=rf"Cannot reach provider prov-down at "
                      rf"{re.escape(down.url)}: Connection refused")
    req.fails(1, "vm", "create", "another", "--provider", "prov-down",
              message=rf"Cannot reach provider prov-down at "
                      rf"{re.escape(down.url)}: Connection refused")
    expect("another" not in req.records(), "no record left by a refused "
           "connection")
    req.fails(1, "vm", "destroy", "lost", message="Cannot reach")
    expect("lost" in req.records(), "kept when the provider is down")
    req.ok("vm", "destroy", "lost", "--force")
    expect_eq(sorted(req.records()), ["stays"], "forgotten with --force")

    # https:// to the plain HTTP discovery service: said so, not "Input/output error".
    tls = disc.url.replace("http://", "https://")
    req.fails(1, "--discovery-url", tls, "providers",
              message=rf"Cannot reach the discovery service at {re.escape(tls)}: TLS handshake "
                      r"failed \(is it a plain http:// server\?\)$")

    # The discovery service down too: where to set another one, unless it was given.
    disc.kill9()
    req.fails(1, "providers", message=r"Cannot reach the discovery service at .*: Connection "
              r"refused \(another one: --discovery-url=URL, or DiscoveryURL= in golemctl.conf\)$")
    req.fails(1, "--discovery-url", disc.url, "providers",
              message=rf"Cannot reach the discovery service at {re.escape(disc.url)}: Connection refused$")


@case
def name_taken(binary):
    disc = start_discovery()
    prov = Provider(disc, "prov-n", "SE", {"cpu": 8, "memory": 16, "storage": 200})
    req = user(disc, prov)
    req.ok("vm", "create", "dup")
    req.fails(1, "vm", "create", "dup", message="VM dup exists already")

    # Someone else has the name on that provider: golemctl says whose it is not,
    # and what to do (another name; another provider, which it chose itself).
    other = user(disc, name="other")
    other.fails(1, "vm", "create", "dup", "--provider", "prov-n",
                message=r"Provider prov-n already has a VM called dup, not yours; "
                        r"choose another name, or another provider\.$")
    other.fails(1, "vm", "create", "dup",
                message=r"Provider prov-n already has a VM called dup, not yours "
                        r"\(golemctl chose this provider\); choose another name, or another "
                        r"provider with --provider\.$")
    expect_eq(other.records(), {}, "no record kept after the 409")
    expect_eq(prov.vm_names(), ["dup"], "one dup on the provider")


@case
def unknown_vm(binary):
    disc = start_discovery()
    req = Requestor(disc)
    for verb in ("status", "start", "stop", "destroy", "ssh"):
        req.fails(1, "vm", verb, "nope", message="No VM named nope")
    req.fails(2, "vm", "status", "Bad_Name", message="Invalid VM name")
    req.fails(2, "vm", "create", "a--b", message="Invalid VM name")


@case
def usage_errors(binary):
    req = Requestor(None)
    req.fails(2, "vm", "create", "web", "--size", "huge", message="huge")
    req.fails(2, "frobnicate", message="Unknown command")
    req.fails(2, "vm", "frobnicate", message="Unknown command 'vm frobnicate'")
    req.fails(2, "--bogus", message="Unknown option")
    req.fails(2, "vm", "list", "--json=xml", message="--json")
    req.fails(2, "vm", "list", "--size", "small", message="does not go with")
    req.fails(2, "vm", "status", message="Too few arguments")
    req.fails(2, "vm", "status", "a1", "b2", message="Too many arguments")
    req.fails(2, "vm", "create", "web", "--cpu", "0", message="--cpu")
    req.fails(2, "vm", "create", "web", "--image", "-x", message="image")
    req.fails(2, "vm", "create", "web", "--memory", message="needs a value")

    out, _ = req.ok("--help")
    expect("vm create NAME" in out and "providers" in out, f"--help: {out!r}")
    out, _ = req.ok("vm", "create", "--help")
    expect("--size=SIZE" in out and "best fit" in out,
           f"vm create --help: {out!r}")
    out, _ = req.ok("vm", "--help")
    expect("vm ssh NAME" in out, f"vm --help: {out!r}")
    out, _ = req.ok("providers", "--help")
    expect("--country=CC" in out, f"providers --help: {out!r}")
    out, _ = req.ok("--version")
    expect(out.startswith("golemctl "), f"--version: {out!r}")

    # A bad configuration is a clear error naming file and key.
    os.makedirs(os.path.join(req.config, "golem"))
    conf = os.path.join(req.config, "golem", "golemctl.conf")
    with open(conf, "w") as f:
        f.write("[Requestor]\nProviderPort=seventy\n")
    req.fails(1, "vm", "list", message=re.escape(conf) + r":2: ProviderPort")


@case
def config_file(binary):
    disc = start_discovery()
    prov = Provider(disc, "prov-c", "SE", {"cpu": 4, "memory": 8, "storage": 100})
    req = user(None)  # no GOLEM_REQUESTOR_DISCOVERY_URL
    os.makedirs(os.path.join(req.config, "golem"))
    with open(os.path.join(req.config, "golem", "golemctl.conf"), "w") as f:
        f.write(f"[Requestor]\nDiscoveryURL={disc.url}\nProviderPort=7466\n")
    data = req.json("providers")
    expect_eq([a["provider_id"] for a in data], ["prov-c"], "config's URL")
    # The environment wins over the file; the command line over both.
    req.fails(1, "providers", env={"GOLEM_REQUESTOR_DISCOVERY_URL":
                                   "http://127.0.0.1:1"},
              message="127.0.0.1:1")
    data = req.json("providers", "--discovery-url", disc.url,
                    env={"GOLEM_REQUESTOR_DISCOVERY_URL": "http://127.0.0.1:1"})
    expect_eq(len(data), 1, "--discovery-url wins")
    # A wrong provider port in the config: a provider advertising no
    # api_port (an older one) is unreachable; the port a provider
    # advertises wins over it.
    status, data = post_advertisement(disc, "prov-old", {
        "ip_address": prov.host, "country": "SE", "platform": "x86_64",
        "resources": {"cpu": 4, "memory": 8, "storage": 100}})
    expect_eq(status, 200, f"the advertisement of prov-old ({data!r})")
    req.fails(1, "vm", "create", "portless", "--provider", "prov-old",
              env={"GOLEM_REQUESTOR_PROVIDER_PORT": "1"},
              message=r"Cannot reach provider prov-old at http://[0-9.]+:1:")
    _, err = req.ok("vm", "create", "ported", "--provider", "prov-c",
                    env={"GOLEM_REQUESTOR_PROVIDER_PORT": "1"})
    expect_eq(req.records()["ported"]["provider_url"], prov.url,
              "the advertised api_port over ProviderPort=")


@case
def no_wait_and_create_failure(binary):
    disc = start_discovery()
    prov = Provider(disc, "prov-w", "SE", {"cpu": 8, "memory": 16, "storage": 200},
                    timings={"BOOT_SECONDS": 8})
    req = user(disc, prov)
    t0 = time.monotonic()
    out, _ = req.ok("vm", "create", "later", "--no-wait")
    expect(time.monotonic() - t0 < 6, "--no-wait waited")
    expect(re.search(r"being created on provider prov-w \(job \w+", out),
           f"--no-wait output: {out!r}")
    rec = req.records()["later"]
    expect(rec["state"] == "created" and rec["job_id"], f"record: {rec!r}")
    expect_eq(req.json("vm", "status", "later")["status"], "creating",
              "status while creating")
    wait_for("later to run", lambda: req.json("vm", "status", "later")
             ["status"] == "running", timeout=30)

    # A launch that fails: clear message, no record, the name is free.
    prov.mp.fault("fail-next-launch", "launch failed: Remote \"\" is unknown "
                  "or unreachable.")
    req.fails(1, "vm", "create", "doomed",
              message=r"Provider prov-w could not create VM doomed: .*unknown "
                      r"or unreachable")
    expect("doomed" not in req.records(), "no record of a failed create")
    # (The provider reports the job failed before its clean-up is done; the
    # name is free once that is over.)
    wait_for("the provider to clean doomed up", lambda: prov.vm("doomed") is None)
    req.ok("vm", "create", "doomed")


@case
def record_written_before_request(binary):
    """The record exists before the provider answers: a golemctl killed in
    between leaves a 'creating' record that the next list completes."""
    posted = threading.Event()
    state = {"knows": False}
    vm = {"id": "crashy", "name": "crashy", "status": "running",
          "resources": SMALL, "image": "ubuntu:24.04",
          "ip_address": "10.0.0.9", "ssh_port": 50810,
          "created_at": "2026-01-01T00:00:00Z",
          "updated_at": "2026-01-01T00:00:00Z", "error_message": None}

    class Stub(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/api/v1/provider/info":
                self.reply(200, {"provider_id": "stub-1"})
            elif self.path == "/api/v1/vms":
                self.reply(200, [vm] if state["knows"] else [])
            else:
                self.reply(404, {"detail": {"code": "NOT_FOUND",
                                            "message": "no"}})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length)
            posted.set()
            time.sleep(30)  # never answers in time

    url = serve_http(Stub)

    req = Requestor(None)
    proc = subprocess.Popen([PATHS["golemctl"], "vm", "create",
                             "crashy", "--provider-url", url],
                            env=req.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        expect(posted.wait(20), "the create request never came")
    finally:
        proc.kill()
        proc.wait()
    rec = req.records().get("crashy")
    expect(rec is not None, "no record written before the request")
    expect_eq((rec["state"], rec["provider_id"], rec["provider_url"]),
              ("creating", "stub-1", url), "the record")

    data = req.json("vm", "list")
    expect_eq([(v["name"], v["status"]) for v in data], [("crashy", "missing")],
              "list while the provider does not know it")
    state["knows"] = True  # the provider had made it after all
    data = req.json("vm", "list")
    expect_eq([(v["name"], v["status"]) for v in data], [("crashy", "running")],
              "list once the provider knows it")
    expect_eq(req.records()["crashy"]["state"], "created", "record completed")
    expect_eq(req.records()["crashy"]["ssh_port"], 50810, "port recorded")


@case
def terminal_manners(binary):
    disc = start_discovery()
    Provider(disc, "prov-t1", "SE", {"cpu": 4, "memory": 8, "storage": 100},
             timings={"BOOT_SECONDS": 2})
    Provider(disc, "prov-t2", "DE", {"cpu": 8, "memory": 16, "storage": 100})
    verified = Provider(disc, None, "SE", {"cpu": 2, "memory": 2, "storage": 20})
    req = user(disc)
    pager = os.path.join(make_tempdir("golemtest-pager-"), "pager")
    with open(pager, "w") as f:
        f.write("#!/bin/sh\necho PAGER-RAN\nexec cat\n")
    os.chmod(pager, 0o755)

    def on_tty(*args, rows=24, cols=120, env=None):
        """Runs golemctl with stdin, stdout and stderr on a terminal."""
        _, code, out = run_on_terminal(req.argv(args),
                                       dict(req.env, **(env or {})),
                                       rows=rows, cols=cols)
        return code, out

    # On an 80-column terminal long ids are cut ("…") rather than lines wrapped;
    # into a pipe they are whole.
    code, out = on_tty("providers", "--no-pager", cols=80)
    lines = ANSI.sub("", out).replace("\r", "").splitlines()
    expect(code == 0 and lines and all(len(ln) <= 80 for ln in lines),
           f"providers on 80 columns: {out!r}")
    expect(verified.id not in out and re.search(re.escape(verified.id[:8]) + r"\S*…", out),
           f"the 43-character id not cut on 80 columns: {out!r}")
    piped, _ = req.ok("providers")
    expect(verified.id in piped, f"the whole id into a pipe: {piped!r}")

    # Progress on a terminal (and the answer's colours).
    code, out = on_tty("vm", "create", "tty", "--provider", "prov-t1")
    expect_eq(code, 0, f"create on a terminal: {out!r}")
    expect("Creating VM tty on provider prov-t1" in out,
           f"no progress on a terminal: {out!r}")
    # The progress line tells the time so far, and stages are phrases.
    expect(re.search(r"Creating VM tty on provider prov-t1: [A-Za-z][^:\r]*[^:\s] "
                     r"(\d+% )?\(\d+ s\)", out),
           f"progress without elapsed time, or a stage ending in a colon: {out!r}")

    # Ctrl-C while it waits stops golemctl, not the creation: it says so and how to
    # follow or undo it; the VM comes up and stays recorded.
    typed = []

    def ctrl_c_once(output):
        # Once: the terminal discards pending output at each Ctrl-C.
        if "Creating VM interrupted" in output and not typed:
            typed.append(1)
            return b"\x03"
        return None

    _, code, out = run_on_terminal(
        req.argv(("vm", "create", "interrupted", "--provider", "prov-t1")), req.env,
        respond=ctrl_c_once)
    expect_eq(code, 130, f"exit code after Ctrl-C: {out!r}")
    expect(re.search(r"Interrupted: VM interrupted goes on being created on provider "
                     r"prov-t1\. Follow it with 'golemctl vm status interrupted', or remove it "
                     r"with 'golemctl vm destroy interrupted'\.", out),
           f"what Ctrl-C said: {out!r}")
    expect("interrupted" in req.records(), "the interrupted VM's record")
    wait_for("the interrupted VM to run",
             lambda: req.json("vm", "status", "interrupted")["status"] == "running",
             timeout=30)

    # Colour on a terminal only.
    code, out = on_tty("vm", "list", "--no-pager")
    expect(ANSI.search(out), f"no colour on a terminal: {out!r}")
    plain, _ = req.ok("vm", "list")
    expect(not ANSI.search(plain), f"colour into a pipe: {plain!r}")
    code, out = on_tty("vm", "list", "--no-pager", env={"NO_COLOR": "1"})
    expect(not ANSI.search(out), f"colour despite NO_COLOR: {out!r}")

    # The pager: for output longer than the screen, on a terminal only.
    code, out = on_tty("providers", rows=4, env={"PAGER": pager})
    expect("PAGER-RAN" in out and "prov-t2" in out, f"not paged: {out!r}")
    code, out = on_tty("providers", rows=40, env={"PAGER": pager})
    expect("PAGER-RAN" not in out, f"short output paged: {out!r}")
    code, out = on_tty("providers", "--no-pager", rows=4, env={"PAGER": pager})
    expect("PAGER-RAN" not in out, f"paged despite --no-pager: {out!r}")
    out, _ = req.ok("providers", env={"PAGER": pager, "LINES": "2"})
    expect("PAGER-RAN" not in out, f"paged into a pipe: {out!r}")


def post_advertisement(discovery, provider_id, body):
    """An unsigned (legacy) advertisement of ``provider_id`` posted straight
    to the discovery service; returns (status, data)."""
    status, _, data = http("POST", f"{discovery.url}/api/v1/advertisements",
                           body, headers={"X-Provider-ID": provider_id,
                                          "X-Provider-Signature": "sig"})
    return status, data


def seed_advertisements(discovery, n, prefix="many"):
    """``n`` advertisements posted straight to the discovery service (no
    provider behind them), from a few threads."""
    errors = []

    def post(i):
        h = (i * 2654435761) % 4294967296
        body = {"ip_address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                "country": ("SE", "DE", "PL", "US", "JP")[i % 5],
                "platform": ("x86_64", "arm64")[i // 5 % 2],
                "resources": {"cpu": h % 32 + 1, "memory": 2 ** (h // 32 % 8),
                              "storage": 10 * 2 ** (h // 256 % 8)}}
        status, data = post_advertisement(discovery, f"{prefix}-{i:05d}", body)
        if status != 200:
            errors.append((i, status, data))

    def worker(t, threads):
        for i in range(t, n, threads):
            post(i)

    threads = [threading.Thread(target=worker, args=(t, 4)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect(not errors, f"seeding advertisements: {errors[:3]}")


@case
def providers_many(binary):
    """More advertisements than one query brings: golemctl shows the first
    1000 in the service's order, says that there may be more, and lays its
    JSON out as json-c does."""
    disc = start_discovery()
    seed_advertisements(disc, 1005)
    req = user(disc)
    status, _, first = http("GET", f"{disc.url}/api/v1/advertisements?limit=1000")
    expect_eq((status, len(first)), (200, 1000), "the service's first 1000")
    order = [a["provider_id"] for a in first]

    code, out, err = req.run("--json=short", "providers")
    expect_eq(code, 0, f"providers: {err!r}")
    data = json.loads(out)
    expect_eq([a["provider_id"] for a in data], order, "the service's order")
    by_id = {a["provider_id"]: a for a in first}
    for a in data:
        want = by_id[a["provider_id"]]
        expect_eq((a["ip_address"], a["country"], a["platform"], a["resources"],
                   a["updated_at"], a["url"]),
                  (want["ip_address"], want["country"], want["platform"],
                   want["resources"], want["updated_at"],
                   f"http://{want['ip_address']}:{PROVIDER_PORT}"),
                  f"advertisement {a['provider_id']}")
    expect(re.fullmatch(r"golemctl: Listed the first 1000 advertisements .*"
                        r"there may be more: narrow the list .*\n", err),
           f"no note that the list is cut short: {err!r}")

    # The same text json-c would make: plain, and pretty with two blanks.
    expect_eq(out, json.dumps(data, separators=(",", ":")) + "\n",
              "--json=short layout")
    pretty, _ = req.ok("providers", "--json=pretty")
    expect_eq(pretty, json.dumps(data, indent=2) + "\n", "--json=pretty layout")

    out, err = req.ok("providers")
    rows, legend = table_rows(out)
    expect_eq(legend, "1000 providers listed.", "legend")
    expect_eq([r[0] for r in rows[1:]], order, "table rows")
    expect("may be more" in err, f"no note with the table: {err!r}")
    _, err = req.ok("-q", "providers")
    expect_eq(err, "", "-q: no note")

    # --limit: fewer, in the same order; asked for, so no note.
    code, out, err = req.run("--json=short", "providers", "--limit", "7")
    expect_eq((code, err), (0, ""), "--limit 7")
    expect_eq([a["provider_id"] for a in json.loads(out)], order[:7],
              "--limit 7: the first seven")
    _, err = req.ok("providers", "--limit=1000", "--no-legend")
    expect_eq(err, "", "--limit=1000: no note")
    out, _ = req.ok("providers", "--limit", "3", "--cpu", "2")
    rows, legend = table_rows(out)
    expect(len(rows) - 1 <= 3 and legend.endswith("listed."),
           f"--limit 3 --cpu 2: {out!r}")
    req.fails(2, "providers", "--limit", "0", message="--limit")
    req.fails(2, "providers", "--limit", "1001", message="--limit")
    req.fails(2, "providers", "--limit", "ten", message="--limit")
    req.fails(2, "vm", "list", "--limit", "5", message="does not go with")
    out, _ = req.ok("providers", "--help")
    expect("--limit=N" in out, f"providers --help: {out!r}")


@case
def providers_bad_answers(binary):
    """The advertisement list is read one element at a time: broken JSON
    anywhere is refused as a whole, invalid advertisements are left out with
    a warning, anything but an array is an error."""
    good = {"provider_id": "p-ok", "ip_address": "192.0.2.7", "country": "se",
            "platform": "x86_64", "resources": {"cpu": 4, "memory": 8,
                                                "storage": 40},
            "pricing": {"usd_per_core_hour": 0.01},
            "created_at": "2026-11-23T17:04:05Z",
            "updated_at": "2026-11-23T17:09:05Z"}
    ok = json.dumps(good)
    answer = {"body": b"[]"}

    class Stub(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            data = answer["body"]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    req = user(None, env={"GOLEM_REQUESTOR_DISCOVERY_URL": serve_http(Stub)})

    def serve(body):
        answer["body"] = body.encode() if isinstance(body, str) else body

    serve(" \n[ ]\n")
    out, err = req.ok("providers")
    expect_eq((out, err), ("0 providers listed.\n", ""), "an empty list")
    out, _ = req.ok("providers", "--json=pretty")
    expect_eq(json.loads(out), [], "an empty list as JSON")

    serve(f"\r\n[ {ok} ,\t{ok.replace('p-ok', 'p-ok2')}\n]\n")
    data = req.json("providers")
    expect_eq([a["provider_id"] for a in data], ["p-ok", "p-ok2"],
              "blanks around elements")
    expect_eq((data[0]["country"], data[0]["url"]),
              ("SE", f"http://192.0.2.7:{PROVIDER_PORT}"), "an element's fields")

    serve(f"[null,{ok},17,{json.dumps(dict(good, ip_address='nope'))}]")
    code, out, err = req.run("--json=short", "providers")
    expect_eq(code, 0, f"invalid elements: {err!r}")
    expect_eq([a["provider_id"] for a in json.loads(out)], ["p-ok"],
              "only the valid element")
    expect(re.fullmatch(r"golemctl: Ignored 3 invalid advertisements from the "
                        r"discovery service \(bad field: advertisement\)\.\n",
                        err), f"warning: {err!r}")

    for body in (f"[{ok},]", f"[{ok} {ok}]", f"[,{ok}]", f"[{ok},,{ok}]",
                 f"[{ok}", f"[{ok},", f"[{ok}]x", f"[{ok}][]", "[1 2]",
                 f"[{ok.replace('p-ok', 'p-' + chr(0) + 'ok')}]",
                 "[" + "[" * 16 + "]" * 16 + "]", "nonsense", "null"):
        serve(body)
        req.fails(1, "providers", message=r"Invalid answer \(HTTP 200, body is "
                  r"not JSON\)")
    for body in ('{"a": 1}', '"text"', "7", ""):
        serve(body)
        req.fails(1, "providers", message=r"Invalid answer \(HTTP 200, "
                  r"unexpected body\)")
    # Nesting up to json_parse()'s limit, the array's own level counted, is
    # fine; one more level is not JSON golemctl takes (above).
    serve("[" + "[" * 15 + "]" * 15 + f",{ok}]")
    code, out, err = req.run("--json=short", "providers")
    expect_eq((code, [a["provider_id"] for a in json.loads(out)]), (0, ["p-ok"]),
              f"deep but within the limit: {err!r}")


if __name__ == "__main__":
    raise SystemExit(main(paths=("providerd", "discovery", "multipass"),
                          binary="golemctl"))
