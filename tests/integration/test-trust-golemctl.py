#!/usr/bin/env python3
"""golemctl's side of trust (issue #12): every request to a provider is
signed with the user's SSH key, checked here with ``ssh-keygen -Y
check-novalidate -n golem-request-v1`` over the message rebuilt from the
request as it arrived; ``golemctl id``; verified providers only unless
--unverified; the advertisement's api_port; ``vm ssh-key``.

    test-trust-golemctl.py --binary golemctl [CASE]

The provider and the discovery service are fakes (ThreadingHTTPServer on
127.0.0.1) that record what golemctl sends; keys are made with ssh-keygen,
an agent is an ``ssh-agent -D`` of the case's own.  Run ``--list`` for the
case names.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golemworld import (Agent, case, expect, expect_eq,  # noqa: E402
                        identity, main, make_tempdir, on_cleanup)

NAMESPACE = "golem-request-v1"
PROVIDER_ID = "prov-fake"
VM_RESOURCES = {"cpu": 1, "memory": 1, "storage": 10}


# --------------------------------------------------------------------------
# keys and signatures


def keygen(directory, name, key_type="ed25519", passphrase="", bits=None):
    path = os.path.join(directory, name)
    argv = ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase,
            "-C", f"{name}@test", "-f", path]
    if bits:
        argv += ["-b", str(bits)]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    return path


def message(method, target, audience, timestamp, nonce, body):
    """The signed message, rebuilt as the provider would (signed-request.h)."""
    return (f"{NAMESPACE}\n{method}\n{target}\n{audience}\n{timestamp}\n"
            f"{nonce}\n{hashlib.sha256(body).hexdigest()}\n").encode()


def check_novalidate(signature_b64, data, workdir):
    """ssh-keygen -Y check-novalidate of a header's signature over data;
    returns the signer's identity (base64url), or None when refused."""
    armored = "-----BEGIN SSH SIGNATURE-----\n"
    armored += "\n".join(signature_b64[i:i + 70]
                         for i in range(0, len(signature_b64), 70))
    armored += "\n-----END SSH SIGNATURE-----\n"
    path = os.path.join(workdir, "request.sig")
    with open(path, "w") as f:
        f.write(armored)
    proc = subprocess.run(["ssh-keygen", "-Y", "check-novalidate", "-n",
                           NAMESPACE, "-s", path], input=data,
                          capture_output=True)
    if proc.returncode != 0:
        return None
    m = re.search(rb"SHA256:([A-Za-z0-9+/]{43})", proc.stdout + proc.stderr)
    expect(m, f"no fingerprint in ssh-keygen's answer: {proc.stdout!r}")
    return m.group(1).decode().replace("+", "-").replace("/", "_")


def expect_signed(requests, identity, workdir, audience=PROVIDER_ID):
    """Every request but GET /api/v1/provider/info carries a signature that
    ssh-keygen accepts over the rebuilt message, by identity, for audience;
    the info request carries none.  Nonces differ; timestamps are now."""
    expect(requests, "no request reached the provider")
    nonces = set()
    for r in requests:
        what = f"{r['method']} {r['target']}"
        h = r["headers"]
        if r["target"] == "/api/v1/provider/info":
            expect("x-golem-signature" not in h, f"{what}: signed")
            continue
        for name in ("x-golem-timestamp", "x-golem-nonce", "x-golem-signature"):
            expect(h.get(name), f"{what}: no {name} (headers {h})")
        expect(abs(int(h["x-golem-timestamp"]) - time.time()) < 60,
               f"{what}: timestamp {h['x-golem-timestamp']} is not now")
        expect(re.fullmatch(r"[A-Za-z0-9_-]{16,64}", h["x-golem-nonce"]),
               f"{what}: bad nonce {h['x-golem-nonce']!r}")
        expect(h["x-golem-nonce"] not in nonces, f"{what}: nonce reused")
        nonces.add(h["x-golem-nonce"])
        data = message(r["method"], r["target"], audience,
                       h["x-golem-timestamp"], h["x-golem-nonce"], r["body"])
        expect_eq(check_novalidate(h["x-golem-signature"], data, workdir),
                  identity, f"{what}: ssh-keygen -Y check-novalidate")
        # The check means something: another target does not verify.
        tampered = message(r["method"], r["target"] + "x", audience,
                           h["x-golem-timestamp"], h["x-golem-nonce"], r["body"])
        expect(check_novalidate(h["x-golem-signature"], tampered, workdir)
               is None, f"{what}: a tampered target verified")


# --------------------------------------------------------------------------
# fakes


def vm_json(name, status="running"):
    return {"id": name, "name": name, "status": status,
            "resources": VM_RESOURCES, "image": "ubuntu:24.04",
            "ip_address": "10.0.0.5", "ssh_port": 20022,
            "created_at": "2026-12-04T10:00:00Z",
            "updated_at": "2026-12-04T10:00:00Z", "error_message": None}


class Fake:
    """A ThreadingHTTPServer on 127.0.0.1 whose answers come from
    ``route(method, target, body) -> (status, json)``; it records every
    request: method, target as received, headers (lower-cased), body."""

    def __init__(self, route):
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fake.requests.append({
                    "method": self.command, "target": self.path, "body": body,
                    "headers": {k.lower(): v for k, v in self.headers.items()}})
                status, data = route(self.command, self.path, body)
                out = json.dumps(data).encode() if data is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_DELETE = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        on_cleanup(self.server.shutdown)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


class FakeProvider(Fake):
    """The provider REST API, as far as golemctl uses it, with SSH keys."""

    def __init__(self, provider_id=PROVIDER_ID):
        self.id = provider_id
        self.vms = {}
        self.keys = {}          # vm -> {name: key line}
        self.refuse = None      # (status, code, message) for every signed call
        super().__init__(self.route)

    def route(self, method, target, body):
        path = urllib.parse.urlsplit(target).path
        parts = path.strip("/").split("/")
        if path == "/api/v1/provider/info":
            return 200, {"provider_id": self.id, "country": "SE"}
        if self.refuse:
            status, code, text = self.refuse
            return status, {"detail": {"code": code, "message": text}}
        if method == "POST" and path == "/api/v1/vms":
            name = json.loads(body)["name"]
            self.vms[name] = vm_json(name)
            self.keys[name] = {}
            return 201, self.vms[name]
        if method == "GET" and path == "/api/v1/vms":
            return 200, list(self.vms.values())
        if len(parts) < 4 or parts[3] not in self.vms:
            return 404, {"detail": {"code": "VM_NOT_FOUND",
                                    "message": "no such VM"}}
        name, rest = parts[3], parts[4:]
        if rest == [] and method == "GET":
            return 200, self.vms[name]
        if rest == [] and method == "DELETE":
            del self.vms[name]
            return 200, {"status": "deleted", "vm_id": name}
        if rest == ["access"]:
            return 200, {"ssh_host": "127.0.0.1", "ssh_port": 20022,
                         "vm_id": name, "multipass_name": "golem-" + name}
        if rest in (["start"], ["stop"]):
            return 200, self.vms[name]
        if rest == ["ssh-keys"] and method == "POST":
            data = json.loads(body)
            self.keys[name][data["name"]] = data["key"]
            return 201, {"name": data["name"]}
        if rest == ["ssh-keys"] and method == "GET":
            return 200, [{"name": k, "fingerprint": "SHA256:" + fp_of(v)}
                         for k, v in self.keys[name].items()]
        if len(rest) == 2 and rest[0] == "ssh-keys" and method == "DELETE":
            if self.keys[name].pop(rest[1], None) is None:
                return 404, {"detail": {"code": "KEY_NOT_FOUND",
                                        "message": "no such key"}}
            return 200, {"status": "deleted"}
        return 405, {"detail": {"code": "METHOD", "message": "no"}}


def fp_of(line):
    blob = base64.b64decode(line.split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def advertisement(provider_id, verified=None, api_port=None, cpu=4):
    ad = {"provider_id": provider_id, "ip_address": "127.0.0.1",
          "country": "SE", "platform": "x86_64",
          "resources": {"cpu": cpu, "memory": 8, "storage": 100},
          "updated_at": "2026-12-04T10:00:00Z"}
    if verified is not None:
        ad["verified"] = verified
    if api_port is not None:
        ad["api_port"] = api_port
    return ad


class FakeDiscovery(Fake):
    """GET /api/v1/advertisements[/ID] from a list; ignores verified=
    (like a service that does not know it) unless ``filters``."""

    def __init__(self, ads, filters=False):
        self.ads = ads
        self.filters = filters
        super().__init__(self.route)

    def route(self, method, target, body):
        parts = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(parts.query)
        if parts.path == "/api/v1/advertisements":
            ads = self.ads
            if self.filters and query.get("verified") == ["true"]:
                ads = [a for a in ads if a.get("verified")]
            return 200, ads
        for ad in self.ads:
            if parts.path == "/api/v1/advertisements/" + ad["provider_id"]:
                return 200, ad
        return 404, {"detail": {"code": "ADV_004", "message": "not found"}}


# --------------------------------------------------------------------------
# golemctl


class Requestor:
    """A user of golemctl (the binary under test): HOME and XDG dirs of its
    own, no agent unless given one."""

    def __init__(self, binary, key=None, discovery=None):
        self.binary = binary
        base = make_tempdir("golemtest-trust-")
        self.dir = base
        self.home = os.path.join(base, "home")
        os.makedirs(os.path.join(self.home, ".ssh"))
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GOLEM_", "XDG_"))
                    and k not in ("SSH_AUTH_SOCK", "PAGER", "NO_COLOR")}
        self.env.update({
            "HOME": self.home,
            "XDG_CONFIG_HOME": os.path.join(base, "config"),
            "XDG_STATE_HOME": os.path.join(base, "state"),
            "XDG_DATA_HOME": os.path.join(base, "data"),
        })
        if key:
            self.env["GOLEM_REQUESTOR_SSH_KEY_PATH"] = key
        if discovery:
            self.env["GOLEM_REQUESTOR_DISCOVERY_URL"] = discovery.url

    def run(self, *args, env=None):
        e = dict(self.env, **(env or {}))
        proc = subprocess.run([self.binary, *args], env=e,
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120)
        return proc.returncode, proc.stdout, proc.stderr

    def ok(self, *args, **kw):
        code, out, err = self.run(*args, **kw)
        expect_eq(code, 0, f"golemctl {' '.join(args)} (stderr {err!r})")
        return out

    def json(self, *args, **kw):
        return json.loads(self.ok("--json=short", *args, **kw))

    def fails(self, status, *args, message=None, **kw):
        code, out, err = self.run(*args, **kw)
        expect_eq(code, status, f"golemctl {' '.join(args)}: exit code "
                  f"(stdout {out!r}, stderr {err!r})")
        lines = err.splitlines()
        expect(len(lines) == 1 and lines[0].startswith("golemctl: "),
               f"golemctl {' '.join(args)}: not one line of error: {err!r}")
        if message:
            expect(re.search(message, err), f"stderr {err!r} !~ {message!r}")
        return err


def lifecycle(req, provider, name="box"):
    """create (by URL), status, stop, start, list, destroy: every kind of
    request golemctl makes to a provider."""
    req.ok("-q", "vm", "create", name, "--provider-url", provider.url)
    req.ok("vm", "status", name)
    req.ok("vm", "stop", name)
    req.ok("vm", "start", name)
    expect_eq([v["name"] for v in req.json("vm", "list")], [name], "vm list")
    req.ok("vm", "destroy", name)
    methods = {(r["method"], r["target"].split("?")[0]) for r in provider.requests}
    for m in (("GET", "/api/v1/provider/info"), ("POST", "/api/v1/vms"),
              ("GET", f"/api/v1/vms/{name}"), ("GET", f"/api/v1/vms/{name}/access"),
              ("POST", f"/api/v1/vms/{name}/stop"), ("GET", "/api/v1/vms"),
              ("DELETE", f"/api/v1/vms/{name}")):
        expect(m in methods, f"no {m} among {sorted(methods)}")
    expect(any(r["target"] == "/api/v1/vms?async=true" for r in provider.requests),
           "the create's query is part of the target")


# --------------------------------------------------------------------------
# cases


def signed_with_file_key(binary, key_type, bits=None):
    workdir = make_tempdir("golemtest-keys-")
    key = keygen(workdir, "id_" + key_type.replace("-", ""), key_type, bits=bits)
    provider = FakeProvider()
    req = Requestor(binary, key)
    lifecycle(req, provider)
    ident = identity(key + ".pub")
    expect_signed(provider.requests, ident, workdir)
    expect_eq(req.json("id"), {"identity": ident, "key": key,
                               "source": "file"}, "golemctl id --json")


@case
def signed_file_ed25519(binary):
    signed_with_file_key(binary, "ed25519")


@case
def signed_file_rsa(binary):
    signed_with_file_key(binary, "rsa", bits=3072)


@case
def signed_file_ecdsa(binary):
    signed_with_file_key(binary, "ecdsa", bits=384)


@case
def signed_agent_passphrase_key(binary):
    workdir = make_tempdir("golemtest-keys-")
    key = keygen(workdir, "locked", "ed25519", passphrase="secret words")
    agent = Agent(workdir)
    agent.add(key, "secret words")
    provider = FakeProvider()
    req = Requestor(binary, key)
    env = {"SSH_AUTH_SOCK": agent.sock}
    req.ok("-q", "vm", "create", "box", "--provider-url", provider.url, env=env)
    req.ok("vm", "status", "box", env=env)
    req.ok("vm", "destroy", "box", env=env)
    ident = identity(key + ".pub")
    expect_signed(provider.requests, ident, workdir)
    expect_eq(req.json("id", env=env), {"identity": ident, "key": key,
                                        "source": "agent"}, "id --json")

    # An RSA key in the agent signs with rsa-sha2-512, which ssh-keygen takes.
    rsa = keygen(workdir, "locked_rsa", "rsa", passphrase="pw-rsa", bits=2048)
    agent.add(rsa, "pw-rsa")
    provider2 = FakeProvider()
    req2 = Requestor(binary, rsa)
    req2.ok("-q", "vm", "create", "box", "--provider-url", provider2.url, env=env)
    expect_signed(provider2.requests, identity(rsa + ".pub"), workdir)


@case
def encrypted_key_without_agent(binary):
    workdir = make_tempdir("golemtest-keys-")
    key = keygen(workdir, "locked", "ecdsa", passphrase="secret")
    provider = FakeProvider()
    req = Requestor(binary, key)
    expected = (f"golemctl: {key} is protected by a passphrase; add it to the "
                f"agent: ssh-add {key}\n")
    err = req.fails(1, "vm", "create", "box", "--provider-url", provider.url)
    expect_eq(err, expected, "the one-line error")
    expect_eq(provider.requests, [], "nothing sent before the key is usable")
    expect_eq(req.fails(1, "id"), expected, "golemctl id")

    # An agent that does not hold the key is no help: the same advice.
    agent = Agent(workdir)
    err = req.fails(1, "id", env={"SSH_AUTH_SOCK": agent.sock})
    expect_eq(err, expected, "with an agent without the key")
    # An agent that is not there either.
    err = req.fails(1, "id", env={"SSH_AUTH_SOCK": os.path.join(workdir, "none")})
    expect_eq(err, expected, "with a dead SSH_AUTH_SOCK")
    # Added, it works.
    agent.add(key, "secret")
    expect_eq(req.ok("id", env={"SSH_AUTH_SOCK": agent.sock}).strip(),
              identity(key + ".pub"), "id with the key in the agent")

    # A VM made through the agent; without it, nothing is sent, and only
    # --force forgets the VM (its provider cannot be asked unsigned).
    req.ok("-q", "vm", "create", "box", "--provider-url", provider.url,
           env={"SSH_AUTH_SOCK": agent.sock})
    expect_eq(list(provider.vms), ["box"], "created through the agent")
    n = len(provider.requests)
    expect_eq(req.fails(1, "vm", "destroy", "box"), expected, "destroy")
    code, out, err = req.run("vm", "destroy", "box", "--force")
    expect_eq((code, err.splitlines()), (0, [expected.strip(),
              f"golemctl: Forgetting VM box without deleting it on provider "
              f"{PROVIDER_ID} (--force)."]), "destroy --force")
    expect_eq(len(provider.requests), n, "no request without a signature")
    req.fails(1, "vm", "status", "box", message="No VM named box")


@case
def id_matches_ssh_keygen(binary):
    workdir = make_tempdir("golemtest-keys-")
    for key_type, bits in (("ed25519", None), ("rsa", 2048), ("ecdsa", 256),
                           ("ecdsa", 521)):
        key = keygen(workdir, f"k_{key_type}{bits or ''}", key_type, bits=bits)
        out = Requestor(binary, key).ok("id")
        expect(re.fullmatch(r"[A-Za-z0-9_-]{43}\n", out), f"id: {out!r}")
        expect_eq(out.strip(), identity(key + ".pub"), f"id of {key_type}")

    # The default key: ~/.ssh/id_ed25519, without any configuration.
    req = Requestor(binary)
    home_key = keygen(os.path.join(req.home, ".ssh"), "id_ed25519")
    expect_eq(req.json("id")["identity"], identity(home_key + ".pub"),
              "~/.ssh/id_ed25519")
    # A key type that cannot sign (DSA is not offered by modern ssh-keygen; a
    # .pub of a security key stands in): one line that says so.
    def string(b):
        return len(b).to_bytes(4, "big") + b
    sk_type = b"sk-ssh-ed25519@openssh.com"
    blob = string(sk_type) + string(os.urandom(32)) + string(b"ssh:")
    sk = os.path.join(workdir, "sk")
    with open(sk + ".pub", "w") as f:
        f.write(f"{sk_type.decode()} {base64.b64encode(blob).decode()} x\n")
    Requestor(binary, sk).fails(1, "id", message="cannot sign with")


@case
def verified_only_unless_unverified(binary):
    provider = FakeProvider("prov-signed")
    legacy = FakeProvider("prov-legacy")
    disc = FakeDiscovery([
        advertisement("prov-legacy", api_port=legacy.port, cpu=8),
        advertisement("prov-signed", verified=True, api_port=provider.port),
        advertisement("prov-false", verified=False, cpu=2),
    ])
    workdir = make_tempdir("golemtest-keys-")
    req = Requestor(binary, keygen(workdir, "k"), disc)

    data = req.json("providers")
    expect_eq([a["provider_id"] for a in data], ["prov-signed"], "verified only")
    expect_eq(data[0]["verified"], True, "JSON verified")
    targets = [r["target"] for r in disc.requests]
    expect("verified=true" in targets[-1], f"asked for verified: {targets[-1]}")

    data = req.json("providers", "--unverified")
    expect_eq([(a["provider_id"], a["verified"]) for a in data],
              [("prov-legacy", False), ("prov-signed", True),
               ("prov-false", False)], "--unverified")
    expect("verified=" not in disc.requests[-1]["target"], "no filter asked")
    out = req.ok("providers", "--unverified")
    lines = out.splitlines()
    expect(lines[0].split()[-1] == "VERIFIED", f"header: {lines[0]!r}")
    expect_eq([l.split()[-1] for l in lines[1:4]], ["no", "yes", "no"],
              "VERIFIED column")

    # vm create picks among the verified only (prov-legacy, unverified, would
    # fit as well); naming an unverified one needs --unverified.
    req.ok("-q", "vm", "create", "web")
    expect_eq(list(provider.vms), ["web"], "created on the verified provider")
    req.fails(1, "vm", "create", "old", "--provider", "prov-legacy",
              message=r"prov-legacy is not verified.*--unverified")
    expect_eq(legacy.vms, {}, "nothing asked of the unverified provider")
    req.ok("-q", "vm", "create", "old", "--provider", "prov-legacy", "--unverified")
    expect_eq(list(legacy.vms), ["old"], "--unverified --provider")
    # Signed for each provider's own id.
    expect_signed(provider.requests, req.json("id")["identity"], workdir,
                  audience="prov-signed")
    expect_signed(legacy.requests, req.json("id")["identity"], workdir,
                  audience="prov-legacy")

    # A discovery service that filters itself gives the same.
    disc.filters = True
    expect_eq([a["provider_id"] for a in req.json("providers")],
              ["prov-signed"], "filtered by the service")
    req.fails(2, "vm", "list", "--unverified", message="does not go with")


@case
def api_port(binary):
    with_port = FakeProvider("prov-port")
    default = FakeProvider("prov-default")
    disc = FakeDiscovery([
        advertisement("prov-port", verified=True, api_port=with_port.port),
        advertisement("prov-default", verified=True),
    ])
    workdir = make_tempdir("golemtest-keys-")
    req = Requestor(binary, keygen(workdir, "k"), disc)
    # Without api_port: the configured port (ProviderPort=, 7466 by default).
    req.env["GOLEM_REQUESTOR_PROVIDER_PORT"] = str(default.port)

    urls = {a["provider_id"]: a["url"] for a in req.json("providers")}
    expect_eq(urls, {"prov-port": with_port.url, "prov-default": default.url},
              "URLs from api_port, else the configured port")
    req.ok("-q", "vm", "create", "vm-a", "--provider", "prov-port")
    req.ok("-q", "vm", "create", "vm-b", "--provider", "prov-default")
    expect_eq((list(with_port.vms), list(default.vms)), (["vm-a"], ["vm-b"]),
              "each VM where its advertisement said")
    expect_eq(req.json("vm", "status", "vm-a")["provider_url"], with_port.url,
              "recorded URL")

    del req.env["GOLEM_REQUESTOR_PROVIDER_PORT"]
    urls = {a["provider_id"]: a["url"] for a in req.json("providers")}
    expect_eq(urls["prov-default"], "http://127.0.0.1:7466", "default 7466")

    # An api_port out of range makes the advertisement invalid (ignored).
    disc.ads.append(advertisement("prov-bad", verified=True, api_port=70000))
    code, out, err = req.run("--json=short", "providers")
    expect_eq(code, 0, f"providers: {err!r}")
    expect_eq(sorted(a["provider_id"] for a in json.loads(out)),
              ["prov-default", "prov-port"], "bad api_port ignored")
    expect("api_port" in err, f"warning names the field: {err!r}")


@case
def ssh_key_verbs(binary):
    workdir = make_tempdir("golemtest-keys-")
    key = keygen(workdir, "main")
    other = keygen(workdir, "other", "ecdsa")
    provider = FakeProvider()
    req = Requestor(binary, key)
    req.ok("-q", "vm", "create", "box", "--provider-url", provider.url)

    # PATH names the private key: only its .pub goes out.
    out = req.ok("vm", "ssh-key", "add", "box", other, "--name", "laptop")
    expect_eq(out, "", "add prints nothing on stdout")
    with open(other + ".pub") as f:
        other_pub = f.read().strip()
    expect_eq(provider.keys["box"]["laptop"], other_pub, "the .pub line sent")
    with open(other) as f:
        secret = f.read()
    for r in provider.requests:
        expect(b"PRIVATE KEY" not in r["body"] and
               secret.encode() not in r["body"], "a private key was sent")
    post = [r for r in provider.requests
            if r["target"] == "/api/v1/vms/box/ssh-keys"][-1]
    expect_eq(set(json.loads(post["body"])), {"key", "name"}, "body fields")

    # Without PATH: the configured key; without --name: its comment.
    data = req.json("vm", "ssh-key", "add", "box")
    expect_eq((data["name"], data["vm"]), ("main@test", "box"), "defaults")
    expect_eq(data["fingerprint"], "SHA256:" + fp_of(open(key + ".pub").read()),
              "fingerprint")

    listed = req.json("vm", "ssh-key", "list", "box")
    expect_eq(sorted(k["name"] for k in listed), ["laptop", "main@test"], "list")
    out = req.ok("vm", "ssh-key", "list", "box")
    expect(out.startswith("NAME") and "FINGERPRINT" in out and
           out.rstrip().endswith("2 keys listed."), f"table: {out!r}")

    req.ok("vm", "ssh-key", "remove", "box", "laptop")
    expect_eq(list(provider.keys["box"]), ["main@test"], "removed")
    req.fails(1, "vm", "ssh-key", "remove", "box", "laptop",
              message="VM box has no SSH key named laptop")
    req.fails(2, "vm", "ssh-key", "remove", "box", "../x", message="Invalid key name")
    req.fails(2, "vm", "ssh-key", "add", "box", "--name", "-x",
              message="Invalid key name")
    req.fails(1, "vm", "ssh-key", "add", "box", os.path.join(workdir, "none"),
              message="no such key")
    req.fails(1, "vm", "ssh-key", "list", "nobox", message="No VM named nobox")
    expect_signed(provider.requests, identity(key + ".pub"), workdir)

    # The VM gone from the provider.
    provider.vms.clear()
    req.fails(1, "vm", "ssh-key", "list", "box", message="does not know VM box")


@case
def signature_refused(binary):
    workdir = make_tempdir("golemtest-keys-")
    provider = FakeProvider()
    req = Requestor(binary, keygen(workdir, "k"))
    req.ok("-q", "vm", "create", "box", "--provider-url", provider.url)
    provider.refuse = (401, "AUTH_005", "Timestamp out of window (server time "
                       "2026-12-04T10:00:00Z)")
    req.fails(1, "vm", "status", "box",
              message=r"refused golemctl's signature \(AUTH_005\).*clock")
    provider.refuse = (401, "AUTH_002", "Signature invalid")
    req.fails(1, "vm", "stop", "box",
              message=r"refused golemctl's signature \(AUTH_002\): Signature invalid")


if __name__ == "__main__":
    raise SystemExit(main())
