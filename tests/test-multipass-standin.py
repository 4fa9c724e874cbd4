#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the multipass stand-in (tests/multipass) against the facts in MULTIPASS.md.

Usage: python3 tests/test-multipass-standin.py tests/multipass [TEST-NAME-SUBSTRING...]
Exits non-zero if any check fails.  Standard library only.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))
from golemworld import wait_for  # noqa: E402  (the tests' one wait_for)

STANDIN = None

# Exact example texts from MULTIPASS.md (1.14-1.16 layout).
DOC_LIST_EXAMPLE = """{
    "list": [
        {
            "ipv4": [
                "10.22.115.7"
            ],
            "name": "web-1",
            "release": "Ubuntu 24.04 LTS",
            "state": "Running"
        },
        {
            "ipv4": [
            ],
            "name": "db-1",
            "release": "Ubuntu 24.04 LTS",
            "state": "Stopped"
        }
    ]
}
"""

DOC_INFO_EXAMPLE = """{
    "errors": [
    ],
    "info": {
        "db-1": {
            "cpu_count": "",
            "disks": {
                "sda1": {
                }
            },
            "image_hash": "ab5191cc172564e7cc0eafd397312a32598823e645279c820f0935393aead509",
            "image_release": "24.04 LTS",
            "ipv4": [
            ],
            "load": [
            ],
            "memory": {
            },
            "mounts": {
            },
            "release": "",
            "snapshot_count": "0",
            "state": "Stopped"
        },
        "web-1": {
            "cpu_count": "2",
            "disks": {
                "sda1": {
                    "total": "5116440064",
                    "used": "1932735284"
                }
            },
            "image_hash": "1797c5c82016c1e65f4008fcf89deae3a044ef76087a9ec5b907c6d64a3609ac",
            "image_release": "24.04 LTS",
            "ipv4": [
                "10.22.115.7"
            ],
            "load": [
                0.03,
                0.1,
                0
            ],
            "memory": {
                "total": 2014781440,
                "used": 238797312
            },
            "mounts": {
            },
            "release": "Ubuntu 24.04.1 LTS",
            "snapshot_count": "0",
            "state": "Running"
        }
    }
}
"""

EMPTY_LIST_JSON = '{\n    "list": [\n    ]\n}\n'
SOCKET_ERR = "failed: cannot connect to the multipass socket\n"
SIZE_ERR = ("is not a valid memory size - need a non-negative integer (in base 10) or a decimal followed by "
            "K, M, or G (e.g. 1234B, 42MiB, 0.5G)")


# ------------------------------------------------------------------------------------------------
# Reference serializer (independent of the stand-in's): QJsonDocument::toJson layout.


def ref_qjson(v, level=0):
    ind = "    " * level
    if isinstance(v, dict):
        if not v:
            return "{\n" + ind + "}"
        return "{\n" + ",\n".join(ind + "    " + json.dumps(k) + ": " + ref_qjson(v[k], level + 1)
                                  for k in sorted(v)) + "\n" + ind + "}"
    if isinstance(v, list):
        if not v:
            return "[\n" + ind + "]"
        return "[\n" + ",\n".join(ind + "    " + ref_qjson(x, level + 1) for x in v) + "\n" + ind + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)


def ref_doc(v):
    return ref_qjson(v) + "\n"


# ------------------------------------------------------------------------------------------------
# Harness


class Failure(AssertionError):
    pass


class Env:
    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="mp-standin-%s-" % name)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("MULTIPASS_STANDIN_"):
                del self.env[k]
        self.env.update({
            "MULTIPASS_STANDIN_STATE": self.dir,
            "MULTIPASS_STANDIN_PREPARE_SECONDS": "0.1",
            "MULTIPASS_STANDIN_BOOT_SECONDS": "0.3",
            "MULTIPASS_STANDIN_STOP_SECONDS": "0.05",
        })
        self.procs = []

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, *args, stdin=None, env=None, timeout=30):
        e = dict(self.env)
        e.update(env or {})
        r = subprocess.run([STANDIN] + list(args), input=stdin if stdin is not None else b"",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=timeout)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def spawn(self, *args, env=None, stdin=b""):
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.Popen([STANDIN] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e)
        self.procs.append(p)
        if stdin is not None:
            p.stdin.write(stdin)
        p.stdin.close()
        return p

    def path(self, name):
        return os.path.join(self.dir, name)

    def touch(self, name, content=""):
        with open(self.path(name), "w") as f:
            f.write(content)

    def ok(self, *args, **kw):
        rc, so, se = self.run(*args, **kw)
        check(rc == 0, "%s: rc %d, stderr %r" % (" ".join(args), rc, se))
        return so, se

    def launch(self, name, *extra, **kw):
        so, _ = self.ok("launch", "-n", name, *extra, **kw)
        check(so.endswith("Launched: %s\n" % name), "launch output ends with Launched: %r" % so[-80:])
        return so

    def list(self):
        so, _ = self.ok("list", "--format", "json")
        return {e["name"]: e for e in json.loads(so)["list"]}

    def info(self, *names):
        so, _ = self.ok("info", "--format", "json", *names)
        return json.loads(so)

    def record(self, name):
        with open(os.path.join(self.dir, "instances", name + ".json")) as f:
            return json.load(f)

    def calls(self):
        with open(self.path("calls.log")) as f:
            return [json.loads(line) for line in f]


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise Failure("%s:\n  expected %r\n  actual   %r" % (what, expected, actual))


def expect(env, args, rc, stderr=None, stdout=None, stderr_re=None, stdin=None, extra_env=None):
    r, so, se = env.run(*args, stdin=stdin, env=extra_env)
    what = "multipass " + " ".join(args)
    eq(r, rc, what + " exit code (stderr %r)" % se)
    if stderr is not None:
        eq(se, stderr, what + " stderr")
    if stdout is not None:
        eq(so, stdout, what + " stdout")
    if stderr_re is not None:
        check(re.fullmatch(stderr_re, se, re.S), "%s stderr %r does not match %r" % (what, se, stderr_re))
    return so, se


def errs(cmd, *lines):
    return "%s failed: The following errors occurred:\n%s\n" % (cmd, "\n".join(lines))


def missing(cmd, name):
    return errs(cmd, 'instance "%s" does not exist' % name)


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ------------------------------------------------------------------------------------------------
# Output layouts


@test
def reference_serializer_reproduces_doc_examples(env):
    eq(ref_doc(json.loads(DOC_LIST_EXAMPLE)), DOC_LIST_EXAMPLE, "reference serializer on list example")
    eq(ref_doc(json.loads(DOC_INFO_EXAMPLE)), DOC_INFO_EXAMPLE, "reference serializer on info example")
    eq(ref_doc({"list": []}), EMPTY_LIST_JSON, "reference serializer on empty list")


@test
def empty_list_outputs(env):
    expect(env, ["list", "--format", "json"], 0, stdout=EMPTY_LIST_JSON, stderr="")
    expect(env, ["ls", "--format=json"], 0, stdout=EMPTY_LIST_JSON)
    expect(env, ["list"], 0, stdout="No instances found.\n")
    expect(env, ["list", "--format", "csv"], 0, stdout="Name,State,IPv4,IPv6,Release,AllIPv4\n")
    expect(env, ["list", "--format", "yaml"], 0, stdout="\n")
    expect(env, ["info", "--format", "json"], 0, stdout='{\n    "errors": [\n    ],\n    "info": {\n    }\n}\n')
    expect(env, ["info"], 0, stdout="No instances found.\n")


def web_running_db_stopped(env, command, *web_options):
    """`multipass COMMAND --format json` with web-1 running (launched with
    ``web_options``) and db-1 stopped: (its text, parsed), the text checked to
    be laid out as the reference serializer lays it out."""
    env.launch("web-1", *web_options)
    env.launch("db-1")
    env.ok("stop", "db-1")
    so, _ = env.ok(command, "--format", "json")
    ours = json.loads(so)
    eq(so, ref_doc(ours), command + " layout")
    return so, ours


@test
def list_json_layout(env):
    _, ours = web_running_db_stopped(env, "list", "-c", "2", "-m", "2G")
    doc = json.loads(DOC_LIST_EXAMPLE)
    check(list(ours) == ["list"], "top level has exactly 'list'")
    by_name = {e["name"]: e for e in ours["list"]}
    eq(sorted(by_name), ["db-1", "web-1"], "listed names")
    for e in ours["list"]:
        eq(sorted(e), sorted(doc["list"][0]), "list entry keys")
    web, db = by_name["web-1"], by_name["db-1"]
    eq(web["state"], "Running", "web-1 state")
    eq(db["state"], "Stopped", "db-1 state")
    eq(db["ipv4"], [], "stopped ipv4")
    eq(len(web["ipv4"]), 1, "running has one ipv4")
    check(re.fullmatch(r"10\.22\.115\.\d+", web["ipv4"][0]), "default ip 10.22.115.N")
    eq(web["release"], "Ubuntu 24.04 LTS", "release")
    # Replace our dynamic values by the doc's, keeping our order: must then equal the doc text, modulo order.
    mapped = {"list": [dict(e, ipv4=["10.22.115.7"] if e["ipv4"] else []) for e in ours["list"]]}
    mapped["list"].sort(key=lambda e: e["name"] != "web-1")
    eq(ref_doc(mapped), DOC_LIST_EXAMPLE, "list text with doc values")
    # The table form.
    so, _ = env.ok("list")
    lines = so.splitlines()
    eq(lines[0], "%-24s%-18s%-17s%s" % ("Name", "State", "IPv4", "Image"), "table header")
    eq(lines[1], "%-24s%-18s%-17s%s" % ("db-1", "Stopped", "--", "Ubuntu 24.04 LTS"), "table row (stopped)")
    check(lines[2].startswith("%-24s%-18s" % ("web-1", "Running")), "table row (running)")


@test
def info_json_layout(env):
    so, ours = web_running_db_stopped(env, "info", "-c", "2", "-m", "2G", "-d", "5G")
    doc = json.loads(DOC_INFO_EXAMPLE)
    eq(sorted(ours), ["errors", "info"], "top-level keys")
    eq(ours["errors"], [], "errors is always []")
    eq(sorted(ours["info"]), ["db-1", "web-1"], "info names")
    for name in ("db-1", "web-1"):
        o, d = ours["info"][name], doc["info"][name]
        eq(sorted(o), sorted(d), name + " keys")
        for k in d:
            eq(type(o[k]), type(d[k]), "%s/%s type" % (name, k))
        eq(sorted(o["disks"]), ["sda1"], name + " disks")
        eq(sorted(o["disks"]["sda1"]), sorted(d["disks"]["sda1"]), name + " disks/sda1 keys")
        eq(sorted(o["memory"]), sorted(d["memory"]), name + " memory keys")
    db = ours["info"]["db-1"]
    eq(db["cpu_count"], "", "stopped cpu_count")
    eq(db["disks"], {"sda1": {}}, "stopped disks")
    eq(db["load"], [], "stopped load")
    eq(db["memory"], {}, "stopped memory")
    eq(db["ipv4"], [], "stopped ipv4")
    eq(db["release"], "", "stopped release")
    eq(db["state"], "Stopped", "stopped state")
    web = ours["info"]["web-1"]
    eq(web["cpu_count"], "2", "running cpu_count (string)")
    eq(web["state"], "Running", "running state")
    eq(web["snapshot_count"], "0", "snapshot_count (string)")
    eq(web["image_release"], "24.04 LTS", "image_release")
    check(re.fullmatch(r"[0-9a-f]{64}", web["image_hash"]), "image_hash is a sha256")
    check(all(isinstance(x, str) and x.isdigit() for x in web["disks"]["sda1"].values()), "disk figures are strings")
    total, used = int(web["disks"]["sda1"]["total"]), int(web["disks"]["sda1"]["used"])
    check(4.5 * 2 ** 30 < total < 5 * 2 ** 30 and 0 < used < total, "disk total a little below 5G: %d" % total)
    check(all(isinstance(x, int) for x in web["memory"].values()), "memory figures are numbers")
    check(1.8 * 2 ** 30 < web["memory"]["total"] < 2 * 2 ** 30, "memory total a little below 2G")
    check(0 < web["memory"]["used"] < web["memory"]["total"], "memory used < total")
    eq(len(web["load"]), 3, "three load averages")
    check(all(isinstance(x, (int, float)) for x in web["load"]), "load figures are numbers")
    check(web["release"].startswith("Ubuntu 24.04"), "guest release")
    eq(len(web["ipv4"]), 1, "running ipv4")
    # With the doc's values put in, the text must be exactly the doc example.
    fixed = json.loads(so)
    for name in ("db-1", "web-1"):
        for k in ("image_hash", "ipv4", "disks", "memory", "load", "release"):
            fixed["info"][name][k] = doc["info"][name][k]
    eq(ref_doc(fixed), DOC_INFO_EXAMPLE, "info text with doc values")
    eq(so.replace(web["image_hash"], "X"), ref_doc(ours).replace(web["image_hash"], "X"), "layout")
    # Single-instance query and a deleted one.
    one = env.info("db-1")
    eq(list(one["info"]), ["db-1"], "info NAME selects one")
    env.ok("delete", "db-1")
    eq(env.info()["info"]["db-1"]["state"], "Deleted", "info without names includes deleted")
    eq(env.info("db-1")["info"]["db-1"]["state"], "Deleted", "info of a deleted instance")


@test
def info_values_follow_requested_resources(env):
    env.launch("big", "-c", "4", "-m", "4G", "-d", "20G")
    w = env.info("big")["info"]["big"]
    eq(w["cpu_count"], "4", "cpu_count")
    check(3.6 * 2 ** 30 < w["memory"]["total"] < 4 * 2 ** 30, "memory total")
    check(18 * 2 ** 30 < int(w["disks"]["sda1"]["total"]) < 20 * 2 ** 30, "disk total")


@test
def version_outputs(env):
    expect(env, ["version"], 0, stdout="multipass   1.15.1\nmultipassd  1.15.1\n")
    expect(env, ["version", "--format", "json"], 0,
           stdout='{\n    "multipass": "1.15.1",\n    "multipassd": "1.15.1"\n}\n')
    expect(env, ["--version"], 0, stdout="multipass   1.15.1\nmultipassd  1.15.1\n")
    expect(env, ["version", "--format", "xml"], 1, stderr="Invalid format type given.\n")


# ------------------------------------------------------------------------------------------------
# Errors and exit codes


@test
def missing_instance_errors(env):
    env.launch("web-1")
    expect(env, ["info", "nope"], 2, stderr=missing("info", "nope"))
    expect(env, ["info", "--format", "json", "nope", "web-1", "other"], 2,
           stderr='info failed: The following errors occurred:\ninstance "nope" does not exist\n'
                  'instance "other" does not exist\n')
    expect(env, ["stop", "nope"], 2, stderr=missing("stop", "nope"))
    expect(env, ["delete", "nope"], 2,
           stderr=missing("delete", "nope"))
    expect(env, ["delete", "--purge", "web-1", "nope"], 2,
           stderr=missing("delete", "nope"))
    check("web-1" in env.list(), "a failing delete deletes nothing")
    expect(env, ["recover", "nope"], 2,
           stderr=missing("recover", "nope"))
    expect(env, ["start", "nope"], 2, stderr="start failed: instance(s) missing\nInstance 'nope' does not exist.\n\n")
    env.ok("delete", "web-1")
    expect(env, ["start", "web-1"], 2,
           stderr="start failed: instance(s) missing\nInstance 'web-1' is deleted. Use 'recover' to recover it or "
                  "'purge' to permanently delete it.\n\n")
    expect(env, ["stop", "web-1"], 2, stderr=errs("stop", 'instance "web-1" is deleted'))
    expect(env, ["stop", "nope", "web-1"], 2,
           stderr=errs("stop", 'instance "web-1" is deleted', 'instance "nope" does not exist'))
    expect(env, ["exec", "nope", "--", "true"], 2,
           stderr='exec failed: The following errors occurred:\ninstance "nope" does not exist\n' * 2)
    expect(env, ["exec", "-n", "nope", "--", "true"], 2,
           stderr=missing("exec", "nope"))


@test
def command_line_errors(env):
    expect(env, ["frobnicate"], 1, stderr="",
           stdout="Error: Unknown command or alias 'frobnicate' (try \"multipass help\" or \"multipass aliases\")\n")
    expect(env, ["list", "--bogus"], 1, stderr="Unknown option 'bogus'.\n")
    expect(env, ["list", "-x", "--yy"], 1, stderr="Unknown options: x, yy.\n")
    expect(env, ["launch", "--name"], 1, stderr="Missing value after '--name'.\n")
    expect(env, ["list", "--format", "xml"], 1, stderr="Invalid format type given.\n")
    expect(env, ["info", "--format", "xml"], 1, stderr="Invalid format type given.\n")
    expect(env, ["list", "extra"], 1, stderr="This command takes no arguments\n")
    expect(env, ["purge", "extra"], 1, stderr="This command takes no arguments\n")
    expect(env, ["delete"], 1, stderr="Name argument or --all is required\n")
    expect(env, ["recover"], 1, stderr="Name argument or --all is required\n")
    expect(env, ["stop", "--force", "--time", "5", "x"], 1,
           stderr="Cannot set 'force' along with 'time' or 'cancel' options at the same time\n")
    expect(env, ["exec", "web-1"], 1, stderr="Wrong number of arguments\n")
    _, se = expect(env, ["exec", "web-1", "ls", "-la"], 1)
    check(se.startswith("Unknown options: l, a.\n") and '"--"' in se, "exec hint about --: %r" % se)
    r, so, _ = env.run()
    eq(r, 2, "bare multipass exit code")
    check("Usage:" in so, "bare multipass prints help to stdout")
    eq([c for c in os.listdir(os.path.join(env.dir, "instances"))], [], "no instance created by errors")


@test
def launch_argument_errors(env):
    for size in ("1X", "1.5", "G", "-1G", "1 G", "1GG"):
        expect(env, ["launch", "-n", "a", "-m", size], 1,
               stderr_re=r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\] \[error\] \[client\] Caught an unhandled "
                         r"exception: %s %s\n" % (re.escape(size), re.escape(SIZE_ERR)))
    expect(env, ["launch", "-n", "a", "-d", "5Q"], 1, stderr_re=r".*Caught an unhandled exception: 5Q .*\n")
    for cpus in ("0", "-1", "two", "1.5"):
        expect(env, ["launch", "-n", "a", "-c", cpus], 1,
               stderr="Error: invalid CPU count '%s', need a positive integer value.\n" % cpus)
    for t in ("0", "-5", "abc"):
        expect(env, ["launch", "-n", "a", "--timeout", t], 1,
               stderr="error: --timeout value has to be a positive integer\n")
    expect(env, ["launch", "-n", "a", "-m", "64M"], 2,
           stderr="launch failed: Invalid arguments supplied\nInvalid memory size value supplied: 64M.\n")
    expect(env, ["launch", "-n", "a", "-d", "256M"], 2,
           stderr="launch failed: Invalid arguments supplied\nInvalid disk size value supplied: 256M.\n")
    for bad in ("1bad", "bad-", "a_b", "a.b", "-", "-x", "a b", "a;b", "a\n", "\u00e4"):
        expect(env, ["launch", "--name", bad], 2,
               stderr="launch failed: Invalid arguments supplied\nInvalid instance name supplied: %s\n" % bad)
    expect(env, ["launch", "-n", "bad-", "-m", "64M", "-d", "1M"], 2,
           stderr="launch failed: Invalid arguments supplied\nInvalid instance name supplied: bad-\n")
    expect(env, ["launch", "-n", "a", "-d", "1G"], 2,
           stderr="launch failed: Requested disk (1073741824 bytes) below minimum for this image (3758096384 bytes)\n")
    expect(env, ["launch", "-n", "a", "bogus-image"], 2,
           stderr='launch failed: Unable to find an image matching "bogus-image" in remote "".\n')
    expect(env, ["launch", "-n", "a", "a:b:c"], 1, stderr="Invalid remote and source image name supplied\n")
    eq(env.list(), {}, "no instance left behind")
    expect(env, ["launch", "-n", "a"], 0)


@test
def launch_name_rules(env):
    long_name = "a" * 100
    for name in ("x", "a1", "web-1", "A-b-C", long_name):
        env.launch(name)
    env.launch("dup")
    expect(env, ["launch", "-n", "dup"], 2, stderr='launch failed: instance "dup" already exists\n')
    env.ok("delete", "dup")
    expect(env, ["launch", "-n", "dup"], 2, stderr='launch failed: instance "dup" already exists\n')
    env.ok("purge")
    env.launch("dup")
    so, _ = env.ok("launch")
    m = re.search(r"Launched: ([a-z]+-[a-z]+)\n$", so)
    check(m, "generated two-word name: %r" % so[-60:])
    check(m.group(1) in env.list(), "generated name listed")


@test
def size_parsing(env):
    cases = {"1G": 2 ** 30, "1GiB": 2 ** 30, "1gib": 2 ** 30, "1GB": 2 ** 30, "512M": 512 * 2 ** 20,
             "0.5G": 2 ** 29, "2.25G": int(2.25 * 2 ** 30), "1073741824": 2 ** 30, "134217728B": 128 * 2 ** 20,
             "131072K": 128 * 2 ** 20, " 2g ": 2 * 2 ** 30}
    for i, (text, value) in enumerate(sorted(cases.items())):
        env.launch("m%d" % i, "-m", text)
        eq(env.record("m%d" % i)["memory"], value, "memory %r" % text)
    env.launch("dsk", "-d", "10G")
    eq(env.record("dsk")["disk"], 10 * 2 ** 30, "disk 10G")


@test
def launch_progress_output(env):
    rc, so, se = env.run("launch", "-n", "web-1")
    eq(rc, 0, "launch rc")
    eq(se, "", "launch stderr")
    for pct in (0, 50, 100):
        check("\rRetrieving image: %d%%" % pct in so, "Retrieving image: %d%% in %r" % (pct, so))
    check("\x1b[2K\x1b[0A\x1b[0E" in so, "spinner clear-line sequence on stdout")
    for msg in ("Creating web-1", "Starting web-1", "Waiting for initialization to complete"):
        check(msg in so, "%r in launch output" % msg)
    check(so.endswith("Launched: web-1\n"), "ends with Launched: NAME")
    rc, so, se = env.run("launch", "-n", "web-2", env={"MULTIPASS_STANDIN_PLAIN": "1"})
    lines = so.splitlines()
    for pct in (0, 50, 100):
        check("Retrieving image: %d%%" % pct in lines, "plain progress line %d%%" % pct)
    eq(lines[-1], "Launched: web-2", "plain last line")
    check("\x1b" not in so, "no ANSI in plain mode")


@test
def cloud_init(env):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl requestor@x"
    data = "#cloud-config\nssh_authorized_keys:\n  - %s\n" % key
    env.launch("ci", "--cloud-init", "-", stdin=data.encode())
    eq(env.record("ci")["cloud_init"], data, "cloud-init from stdin stored verbatim")
    expect(env, ["launch", "-n", "ci2", "--cloud-init", "-"], 1, stdin=b"  \n",
           stderr_re=r"Could not load cloud-init configuration: .*\n")
    tmpfile = os.path.join(env.dir, "user-data.yaml")
    with open(tmpfile, "w") as f:
        f.write(data)
    expect(env, ["launch", "-n", "ci3", "--cloud-init", tmpfile], 1,
           stderr="Could not load cloud-init configuration: bad file: %s\nPlease ensure that Multipass can read it.\n"
                  % tmpfile)
    env.launch("ci4", "--cloud-init", tmpfile, env={"MULTIPASS_STANDIN_CONFINEMENT": "0"})
    eq(env.record("ci4")["cloud_init"], data, "cloud-init from file")
    expect(env, ["launch", "-n", "ci5", "--cloud-init", tmpfile + ".missing"], 1,
           extra_env={"MULTIPASS_STANDIN_CONFINEMENT": "0"},
           stderr_re=r"Could not load cloud-init configuration: bad file: .*\n"
                     r"Please ensure that Multipass can read it.\n")
    eq(sorted(env.list()), ["ci", "ci4"], "failed launches leave nothing")


# ------------------------------------------------------------------------------------------------
# Life cycle and timing


@test
def lifecycle(env):
    env.launch("vm")
    eq(env.list()["vm"]["state"], "Running", "after launch")
    env.ok("stop", "vm")
    eq(env.list()["vm"]["state"], "Stopped", "after stop")
    env.ok("stop", "vm")  # idempotent
    env.ok("start", "vm")
    eq(env.list()["vm"]["state"], "Running", "after start")
    env.ok("start", "vm")  # starting a running instance succeeds
    env.ok("recover", "vm")  # recovering a non-deleted instance succeeds
    env.ok("delete", "vm")
    eq(env.list()["vm"]["state"], "Deleted", "after delete")
    eq(env.list()["vm"]["ipv4"], [], "deleted ipv4")
    env.ok("recover", "vm")
    eq(env.list()["vm"]["state"], "Stopped", "after recover")
    env.ok("delete", "vm")
    env.ok("purge")
    eq(env.list(), {}, "after purge")
    env.launch("vm2")
    env.ok("delete", "--purge", "vm2")
    eq(env.list(), {}, "after delete --purge")
    env.launch("vm3")
    env.ok("stop", "--force", "vm3")
    eq(env.list()["vm3"]["state"], "Stopped", "after stop --force")
    env.ok("start", "vm3")
    env.ok("stop", "--time", "5", "vm3")
    eq(env.list()["vm3"]["state"], "Delayed Shutdown", "after stop --time")
    eq(len(env.list()["vm3"]["ipv4"]), 1, "delayed shutdown has an ip")
    env.ok("stop", "--cancel", "vm3")
    eq(env.list()["vm3"]["state"], "Running", "after stop --cancel")


def within(deadline, what, fn):
    """Run fn(); its checks only count if it finished before `deadline` (wall clock), so that a
    heavily loaded machine gives a skipped check rather than a false failure."""
    try:
        fn()
    except Failure:
        if time.time() < deadline:
            raise
        print("     (note: %s check skipped, machine too slow)" % what)


def wait_record(env, name, timeout=10.0):
    path = os.path.join(env.dir, "instances", name + ".json")
    wait_for("record of " + name, lambda: os.path.exists(path), timeout, 0.02)
    return env.record(name)


@test
def launch_continues_when_cli_killed(env):
    env.env["MULTIPASS_STANDIN_PREPARE_SECONDS"] = "2"
    env.env["MULTIPASS_STANDIN_BOOT_SECONDS"] = "3"
    p = env.spawn("launch", "-n", "slow")
    rec = wait_record(env, "slow")

    def preparing():
        eq(env.list(), {}, "being prepared: not listed")
        expect(env, ["info", "slow"], 2, stderr=missing("info", "slow"))
        expect(env, ["start", "slow"], 2,
               stderr="start failed: instance(s) missing\nInstance 'slow' does not exist.\n\n")
        expect(env, ["launch", "-n", "slow"], 2, stderr='launch failed: instance "slow" is being prepared\n')
    within(rec["prepared_at"], "preparing", preparing)
    p.send_signal(signal.SIGKILL)
    p.wait()
    wait_for("prepared instance listed", lambda: "slow" in env.list(), 5, 0.02)
    check(time.time() >= rec["prepared_at"], "listed only after prepare time")

    def starting():
        st = env.list()["slow"]
        eq(st["state"], "Starting", "state while booting")
        eq(st["ipv4"], [], "no ipv4 while starting")
        eq(env.info("slow")["info"]["slow"]["cpu_count"], "", "no runtime info while starting")
        expect(env, ["launch", "-n", "slow"], 2, stderr='launch failed: instance "slow" already exists\n')
        expect(env, ["stop", "slow"], 2,
               stderr="stop failed: Cannot shut down instance slow while starting.\nUse --force to power it off.\n")
    within(rec["running_at"], "starting", starting)
    wait_for("Running after boot without the CLI", lambda: env.list()["slow"]["state"] == "Running", 5, 0.02)
    check(time.time() >= rec["running_at"], "Running only after running_at")
    env.ok("exec", "slow", "--", "true")


@test
def client_timeout(env):
    env.env["MULTIPASS_STANDIN_BOOT_SECONDS"] = "3"
    t0 = time.time()
    expect(env, ["launch", "-n", "t", "--timeout", "1"], 5, stderr="Timed out waiting for instance launch.\n")
    check(0.9 < time.time() - t0 < 5, "client timer fired after ~1 s")
    check("t" in env.list(), "the daemon keeps the instance")


@test
def start_waits_and_stop_while_starting(env):
    env.launch("vm")
    env.ok("stop", "vm")
    env.env["MULTIPASS_STANDIN_BOOT_SECONDS"] = "3"
    p = env.spawn("start", "vm")
    wait_for("start recorded", lambda: env.record("vm")["power"] == "booting", 5, 0.02)
    rec = env.record("vm")
    within(rec["running_at"], "delete while starting", lambda: expect(
        env, ["delete", "vm"], 2,
        stderr="delete failed: Cannot shut down instance vm while starting.\nUse --purge to forcefully delete it.\n"))
    p.wait(timeout=10)
    eq(p.returncode, 0, "start exit code")
    check(time.time() >= rec["running_at"], "start returned only when running")
    eq(env.list()["vm"]["state"], "Running", "after start returns")
    out = p.stdout.read().decode()
    check("Starting vm" in out, "start spinner text")


@test
def ip_address_from_env(env):
    env.launch("a")
    env.launch("b")
    ips = sorted(e["ipv4"][0] for e in env.list().values())
    eq(ips, ["10.22.115.2", "10.22.115.3"], "default addresses")
    env.env["MULTIPASS_STANDIN_IP"] = "127.0.0.5"
    eq([e["ipv4"] for e in env.list().values()], [["127.0.0.5"]] * 2, "fixed address")
    eq(env.info("a")["info"]["a"]["ipv4"], ["127.0.0.5"], "info address")
    env.env["MULTIPASS_STANDIN_IP"] = "127.0.1.{n}"
    eq(sorted(e["ipv4"][0] for e in env.list().values()), ["127.0.1.2", "127.0.1.3"], "templated address")


@test
def exec_emulation(env):
    env.launch("vm")
    so, _ = env.ok("exec", "vm", "--", "echo", "hello", "a;b")
    eq(so, "hello a;b\n", "echo output")
    so, _ = env.ok("exec", "vm", "--", "hostname")
    eq(so, "vm\n", "hostname")
    rc, _, _ = env.run("exec", "vm", "--", "false")
    eq(rc, 1, "remote exit status is passed through")
    env.ok("stop", "vm")
    so, _ = env.ok("exec", "vm", "--", "true")
    check("Starting vm" in so, "exec starts a stopped instance")
    eq(env.list()["vm"]["state"], "Running", "running after exec")


# ------------------------------------------------------------------------------------------------
# Concurrency


@test
def parallel_distinct_launches(env):
    procs = [env.spawn("launch", "-n", "p%d" % i, "--cloud-init", "-", stdin=b"#cloud-config\n{}\n")
             for i in range(10)]
    for p in procs:
        p.wait(timeout=30)
    errs = [(p.returncode, p.stderr.read().decode()) for p in procs]
    check(all(rc == 0 for rc, _ in errs), "all parallel launches succeed: %r" % errs)
    lst = env.list()
    eq(sorted(lst), sorted("p%d" % i for i in range(10)), "all listed")
    check(all(e["state"] == "Running" for e in lst.values()), "all running")
    ips = [e["ipv4"][0] for e in lst.values()]
    eq(len(set(ips)), 10, "distinct IPs")


@test
def parallel_same_name_launches(env):
    for round_ in range(3):
        name = "same%d" % round_
        procs = [env.spawn("launch", "-n", name) for _ in range(2)]
        for p in procs:
            p.wait(timeout=30)
        rcs = sorted(p.returncode for p in procs)
        eq(rcs, [0, 2], "one succeeds, one fails")
        loser = [p for p in procs if p.returncode == 2][0]
        se = loser.stderr.read().decode()
        check(se in ('launch failed: instance "%s" already exists\n' % name,
                     'launch failed: instance "%s" is being prepared\n' % name), "loser message %r" % se)
    eq(len(env.list()), 3, "three instances")


@test
def parallel_mixed_commands(env):
    env.launch("a")
    procs = [env.spawn("list", "--format", "json") for _ in range(10)]
    procs += [env.spawn("launch", "-n", "b%d" % i) for i in range(5)]
    procs += [env.spawn("info", "--format", "json") for _ in range(5)]
    for p in procs:
        p.wait(timeout=30)
        eq(p.returncode, 0, "parallel command rc (%r)" % p.stderr.read())
    eq(len(env.list()), 6, "all instances")


# ------------------------------------------------------------------------------------------------
# Fault injection


@test
def fault_daemon_down(env):
    env.launch("vm")
    env.touch("daemon-down")
    for args in (["list"], ["list", "--format", "json"], ["info", "vm"], ["start", "vm"], ["stop", "vm"],
                 ["delete", "vm"], ["purge"], ["recover", "vm"], ["exec", "vm", "--", "true"],
                 ["launch", "-n", "x"]):
        expect(env, args, 2, stderr="%s %s" % (args[0], SOCKET_ERR))
    expect(env, ["version"], 0, stdout="multipass   1.15.1\n")
    expect(env, ["version", "--format", "json"], 0, stdout='{\n    "multipass": "1.15.1"\n}\n')
    expect(env, ["list", "--format", "xml"], 1, stderr="Invalid format type given.\n")
    expect(env, ["list", "--bogus"], 1, stderr="Unknown option 'bogus'.\n")
    os.unlink(env.path("daemon-down"))
    eq(env.list()["vm"]["state"], "Running", "state untouched while down")
    expect(env, ["list"], 2, stderr="list " + SOCKET_ERR, extra_env={"MULTIPASS_STANDIN_STATE": ""})


@test
def fault_fail_next_launch(env):
    env.touch("fail-next-launch")
    expect(env, ["launch", "-n", "a"], 2, stderr='launch failed: Remote "" is unknown or unreachable.\n')
    check(not os.path.exists(env.path("fail-next-launch")), "consumed")
    eq(env.list(), {}, "no instance")
    env.touch("fail-next-launch", "launch failed: something else\nwith details\n")
    expect(env, ["launch", "-n", "a"], 2, stderr="launch failed: something else\nwith details\n")
    env.launch("a")


@test
def fault_timeout_next_launch(env):
    env.touch("timeout-next-launch")
    expect(env, ["launch", "-n", "t"], 2,
           stderr="launch failed: The following errors occurred:\nt: timed out waiting for response\n")
    check(not os.path.exists(env.path("timeout-next-launch")), "consumed")
    eq(env.list()["t"]["state"], "Unknown", "instance kept in Unknown")
    eq(env.info("t")["info"]["t"]["cpu_count"], "", "no runtime info when Unknown")
    expect(env, ["start", "t"], 2,
           stderr="start failed: The following errors occurred:\nInstance 't' is already running, but in an "
                  "unknown state.\nTry to stop it first.\n")
    expect(env, ["exec", "t", "--", "true"], 2, stderr="exec failed: Cannot retrieve credentials in unknown state\n")
    env.ok("stop", "t")
    eq(env.list()["t"]["state"], "Stopped", "stoppable")
    env.ok("start", "t")
    eq(env.list()["t"]["state"], "Running", "startable")
    env.launch("u")


@test
def fault_hang_next(env):
    env.touch("hang-next")
    p = env.spawn("list")
    time.sleep(1.0)
    check(p.poll() is None, "hung command still running")
    check(not os.path.exists(env.path("hang-next")), "consumed")
    p.kill()
    p.wait()
    expect(env, ["list", "--format", "json"], 0, stdout=EMPTY_LIST_JSON)


@test
def fault_lose_instance(env):
    env.launch("keep")
    env.launch("gone")
    env.touch("lose-gone")
    eq(sorted(env.list()), ["keep"], "lost instance not listed")
    eq(sorted(env.info()["info"]), ["keep"], "lost instance not in info")
    expect(env, ["info", "gone"], 2, stderr=missing("info", "gone"))
    expect(env, ["stop", "gone"], 2, stderr=missing("stop", "gone"))
    os.unlink(env.path("lose-gone"))
    eq(sorted(env.list()), ["gone", "keep"], "found again")
    env.touch("lose-gone")
    env.launch("gone")
    check(not os.path.exists(env.path("lose-gone")), "relaunch replaces the lost record")


@test
def fault_fail_next_commands(env):
    env.launch("vm")
    for cmd, args in (("stop", ["stop", "vm"]), ("delete", ["delete", "--purge", "vm"])):
        env.touch("fail-next-" + cmd)
        _, se = expect(env, args, 2)
        check(se.startswith(cmd + " failed: ") and se.endswith("\n"), "plausible message %r" % se)
        check(not os.path.exists(env.path("fail-next-" + cmd)), "consumed")
        eq(env.list()["vm"]["state"], "Running", "nothing changed by failed " + cmd)
    env.ok("stop", "vm")
    env.touch("fail-next-start")
    _, se = expect(env, ["start", "vm"], 2)
    check(se.startswith("start failed: "), "start message %r" % se)
    eq(env.list()["vm"]["state"], "Stopped", "nothing changed by failed start")
    env.touch("fail-next-start", "start failed: custom\n")
    expect(env, ["start", "vm"], 2, stderr="start failed: custom\n")
    env.ok("start", "vm")
    env.ok("delete", "--purge", "vm")
    eq(env.list(), {}, "deleted after the faults")
    for cmd in ("list", "info", "purge"):
        env.touch("fail-next-" + cmd)
        _, se = expect(env, [cmd], 2)
        check(se.startswith(cmd + " failed: "), "%s message %r" % (cmd, se))
    env.touch("fail-next-version")
    expect(env, ["version"], 0, stdout="multipass   1.15.1\n")
    expect(env, ["version"], 0, stdout="multipass   1.15.1\nmultipassd  1.15.1\n")


@test
def call_log(env):
    env.launch("vm")
    env.run("launch", "-n", "a;b $(x) `y`")
    env.ok("delete", "--purge", "vm")
    calls = env.calls()
    eq(calls[0], ["launch", "-n", "vm"], "first call")
    eq(calls[1], ["launch", "-n", "a;b $(x) `y`"], "metacharacters arrive as one argv element")
    eq(calls[2], ["delete", "--purge", "vm"], "delete --purge logged")


def main():
    global STANDIN
    if len(sys.argv) < 2:
        print("usage: %s PATH-TO-STANDIN [TEST...]" % sys.argv[0], file=sys.stderr)
        return 2
    STANDIN = os.path.abspath(sys.argv[1])
    selected = [t for t in TESTS if len(sys.argv) == 2 or any(s in t.__name__ for s in sys.argv[2:])]
    failures = 0
    for t in selected:
        env = Env(t.__name__)
        t0 = time.time()
        try:
            t(env)
        except AssertionError as e:  # a Failure, or wait_for's
            failures += 1
            print("FAIL %s: %s" % (t.__name__, e))
        except Exception:
            failures += 1
            print("ERROR %s:\n%s" % (t.__name__, traceback.format_exc()))
        else:
            print("ok   %s (%.1fs)" % (t.__name__, time.time() - t0))
        finally:
            env.cleanup()
    print("%d/%d passed" % (len(selected) - failures, len(selected)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
