#!/usr/bin/env python3
"""Who may do what on golem-providerd's REST API (issue #12, DESIGN.md "Who
may do what"): signed requests, owners, the anonymous compat mode,
MaxVMsPerOwner= and the provider's own key.

    test-trust-provider.py --binary golem-providerd --multipass tests/multipass [CASE]

Every signature here is made by ``ssh-keygen -Y sign`` (or, for the SHA-1
RSA one that ssh-keygen no longer makes, by ``openssl dgst`` over the SSHSIG
signed data built by hand), never by our own code: that is the interop
proof.  The provider drives the multipass stand-in.  Run ``--list`` for the
case names.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import stat
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
import golemworld  # noqa: E402
from golemworld import (NAMESPACE, Daemon, Signer, case, expect,  # noqa: E402
                        expect_eq, fingerprint, http, main, make_tempdir,
                        request_message)

VMS = "/api/v1/vms"
INFO = "/api/v1/provider/info"
SMALL = {"cpu": 1, "memory": 1, "storage": 10}


# --------------------------------------------------------------------------
# keys and signatures, by ssh-keygen


def keygen(directory, name, *args):
    """A key made by ssh-keygen (``args``: -t TYPE ...); returns its path."""
    path = os.path.join(directory, name)
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", name, "-f", path]
                   + list(args), check=True, stdin=subprocess.DEVNULL,
                   capture_output=True)
    return path


def public_line(key):
    with open(key + ".pub") as f:
        return f.read().strip()


def identity(pub_path):
    """What ``ssh-keygen -l`` prints after SHA256:, made URL-safe."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pub_path],
                         check=True, capture_output=True, text=True).stdout
    fp = re.search(r"SHA256:([A-Za-z0-9+/]+)", out).group(1)
    return fp.replace("+", "-").replace("/", "_")


def ssh_string(b):
    return struct.pack(">I", len(b)) + b


def ssh_strings(blob):
    """The SSH strings a blob is made of (after SSHSIG's magic and version)."""
    out, i = [], 0
    while i < len(blob):
        n = struct.unpack(">I", blob[i:i + 4])[0]
        out.append(blob[i + 4:i + 4 + n])
        i += 4 + n
    return out


def rsa_sshsig_by_openssl(key, data, digest, algorithm):
    """An SSHSIG over data by the RSA key (PEM, from ssh-keygen -m PEM) with
    the RSA signature made by ``openssl dgst -DIGEST``: PROTOCOL.sshsig
    assembled by hand, so that a SHA-1 ("ssh-rsa") one can be made."""
    hashed = (b"SSHSIG" + ssh_string(NAMESPACE.encode()) + ssh_string(b"")
              + ssh_string(b"sha512") + ssh_string(hashlib.sha512(data).digest()))
    raw = subprocess.run(["openssl", "dgst", "-" + digest, "-sign", key],
                         input=hashed, check=True, capture_output=True).stdout
    pub = base64.b64decode(public_line(key).split()[1])
    blob = (b"SSHSIG" + struct.pack(">I", 1) + ssh_string(pub)
            + ssh_string(NAMESPACE.encode()) + ssh_string(b"")
            + ssh_string(b"sha512")
            + ssh_string(ssh_string(algorithm.encode()) + ssh_string(raw)))
    return base64.b64encode(blob).decode()


# --------------------------------------------------------------------------
# the provider


def standin_binary():
    """tests/multipass, which git keeps executable."""
    path = golemworld.PATHS["multipass"]
    expect(os.access(path, os.X_OK), f"{path} is not executable (chmod +x it)")
    return path


def ssh_port_block(n):
    """The first of n free consecutive ports, for the SSH forwarders."""
    for _ in range(50):
        first = 30000 + secrets.randbelow(30000)
        try:
            for port in range(first, first + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise AssertionError("no free block of ports for the SSH range")


def started_provider(binary, data=None, standin=None, **settings):
    """A started golem-providerd on the multipass stand-in (fast timings, a
    fixed capacity); ``settings`` are GOLEM_PROVIDER_* suffixes.  ``data``
    and ``standin``: the state dirs of an earlier one, to restart it."""
    d = Daemon(binary, name="providerd")
    data = data or d.path("data")
    standin = standin or d.path("standin")
    os.makedirs(data, exist_ok=True)
    os.makedirs(standin, exist_ok=True)
    first = ssh_port_block(10)
    d.env.update({
        "GOLEM_PROVIDER_HOST": "127.0.0.1",
        "GOLEM_PROVIDER_PORT": str(d.port),
        "GOLEM_PROVIDER_VM_DATA_DIR": data,
        "GOLEM_PROVIDER_DRIVER": "multipass",
        "GOLEM_PROVIDER_MULTIPASS_BINARY_PATH": standin_binary(),
        "GOLEM_PROVIDER_CAPACITY_CPU": "16",
        "GOLEM_PROVIDER_CAPACITY_MEMORY_GB": "32",
        "GOLEM_PROVIDER_CAPACITY_STORAGE_GB": "500",
        "GOLEM_PROVIDER_CPU_THRESHOLD": "100",
        "GOLEM_PROVIDER_MEMORY_THRESHOLD": "100",
        "GOLEM_PROVIDER_STORAGE_THRESHOLD": "100",
        "GOLEM_PROVIDER_PORT_RANGE_START": str(first),
        "GOLEM_PROVIDER_PORT_RANGE_END": str(first + 9),
        "GOLEM_PROVIDER_RATE_LIMIT_PER_MINUTE": "0",
        "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + d.path("no-system-bus"),
        "MULTIPASS_STANDIN_STATE": standin,
        "MULTIPASS_STANDIN_PREPARE_SECONDS": "0.05",
        "MULTIPASS_STANDIN_BOOT_SECONDS": "0.1",
        "MULTIPASS_STANDIN_STOP_SECONDS": "0.05",
    })
    for key, value in settings.items():
        d.env["GOLEM_PROVIDER_" + key] = str(value)
    d.data = data
    d.standin = standin
    d.start().wait_ready()
    status, _, info = http("GET", d.url + INFO)
    expect_eq(status, 200, f"GET {INFO} (body {info!r})")
    d.info = info
    return d


class World:
    """A provider (signed requests only, unless told) and two requestors'
    keys, alice and bob."""

    def __init__(self, binary, **settings):
        self.keys = make_tempdir("golemtest-keys-")
        self.p = started_provider(binary, **settings)
        self.id = self.p.info["provider_id"]
        self.alice = Signer(keygen(self.keys, "alice", "-t", "ed25519"), self.id)
        self.bob = Signer(keygen(self.keys, "bob", "-t", "ecdsa"), self.id)

    def request(self, method, target, body=None, signer=None, headers=None,
                **sign):
        """One request; signed by ``signer`` (None: unsigned). Returns
        (status, data)."""
        raw = b"" if body is None else (
            body if isinstance(body, bytes) else
            json.dumps(body).encode())
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        if signer:
            hdrs.update(signer.headers(method, target, raw, **sign))
        hdrs.update(headers or {})
        status, _, data = http(method, self.p.url + target,
                               raw if body is not None else None, hdrs,
                               timeout=60)
        return status, data

    def create(self, name, signer, status=201):
        got, data = self.request("POST", VMS, {
            "name": name, "resources": SMALL,
            "ssh_key": public_line(self.alice.key)}, signer)
        expect_eq(got, status, f"create {name} (body {data!r})")
        return data

    def names(self, signer):
        status, data = self.request("GET", VMS, signer=signer)
        expect_eq(status, 200, f"GET {VMS} (body {data!r})")
        return sorted(vm["name"] for vm in data)

    def alive(self):
        expect(self.p.running(), "the provider died")
        status, _, _ = http("GET", self.p.url + "/health")
        expect_eq(status, 200, "GET /health after the refusal")


def expect_refused(result, code, what, status=401):
    got, data = result
    expect_eq(got, status, f"{what}: status (body {data!r})")
    detail = data.get("detail", {}) if isinstance(data, dict) else {}
    expect_eq(detail.get("code"), code, f"{what}: detail.code (body {data!r})")
    expect(detail.get("message"), f"{what}: no message")
    return detail["message"]


def refused_signed(binary, code, what, target=VMS, **sign):
    """A GET of target signed by alice with ``sign`` changed: refused with
    code, the daemon alive, and alice's VM untouched."""
    w = World(binary)
    w.create("mine", w.alice)
    msg = expect_refused(w.request("GET", target, signer=w.alice, **sign),
                         code, what)
    w.alive()
    expect_eq(w.names(w.alice), ["mine"], "alice's VMs after the refusal")
    return w, msg


def refused_header(w, what, **headers):
    """A GET of /api/v1/vms signed by alice with headers replaced: AUTH_002."""
    hdrs = w.alice.headers("GET", VMS)
    hdrs.update(headers)
    expect_refused(w.request("GET", VMS, headers=hdrs), "AUTH_002", what)
    w.alive()


# --------------------------------------------------------------------------
# cases: a good signature, and the provider's key


@case
def valid_signature(binary):
    w = World(binary)
    vm = w.create("alpha", w.alice)
    expect_eq(vm["name"], "alpha", "the created VM")
    expect_eq(w.names(w.alice), ["alpha"], "alice's list")
    for target in (f"{VMS}/alpha", f"{VMS}/alpha/access"):
        status, data = w.request("GET", target, signer=w.alice)
        expect_eq(status, 200, f"GET {target} (body {data!r})")
    # A query is signed as sent.
    status, data = w.request("GET", VMS + "?x=1&y=%2F", signer=w.alice)
    expect_eq(status, 200, f"GET with a query (body {data!r})")
    status, data = w.request("POST", f"{VMS}/alpha/stop", signer=w.alice)
    expect_eq(status, 200, f"stop (body {data!r})")
    status, data = w.request("DELETE", f"{VMS}/alpha", signer=w.alice)
    expect_eq(status, 200, f"delete (body {data!r})")
    expect_eq(w.names(w.alice), [], "alice's list after the delete")


@case
def provider_key(binary):
    """The key is made once (0600, with .pub), its identity is the provider
    id, /info and a restart say the same; a legacy ProviderID= wins."""
    w = World(binary)
    key = os.path.join(w.p.data, "identity")
    mode = stat.S_IMODE(os.stat(key).st_mode)
    expect_eq(mode, 0o600, "mode of the provider key")
    expect_eq(w.id, identity(key + ".pub"), "provider id = ssh-keygen's fingerprint")
    expect_eq(w.p.info["public_key"], public_line(key), "public_key in /info")
    w.p.stop()
    again = started_provider(binary, data=w.p.data)
    expect_eq(again.info["provider_id"], w.id, "provider id after a restart")
    again.stop()
    legacy = started_provider(binary, data=w.p.data, ID="legacy-id")
    expect_eq(legacy.info["provider_id"], "legacy-id", "a legacy ProviderID=")
    expect_eq(legacy.info["public_key"], public_line(key), "public_key with a legacy id")


@case
def open_routes(binary):
    """GET /health and /info need no signature; everything else does."""
    w = World(binary)
    for path in ("/health", INFO):
        status, _, _ = http("GET", w.p.url + path)
        expect_eq(status, 200, f"unsigned GET {path}")
    for method, target in (("GET", VMS), ("GET", f"{VMS}/x"),
                           ("POST", f"{VMS}/x/start"), ("DELETE", f"{VMS}/x"),
                           ("GET", f"{VMS}/jobs/" + "0" * 32)):
        expect_refused(w.request(method, target), "AUTH_001",
                       f"unsigned {method} {target}")
    expect_refused(w.request("POST", VMS, {"name": "x", "resources": SMALL}),
                   "AUTH_001", "unsigned create")
    w.alive()


# --------------------------------------------------------------------------
# cases: refusals


@case
def tampered_method(binary):
    w = World(binary)
    hdrs = w.alice.headers("GET", f"{VMS}/nothere")
    expect_refused(w.request("DELETE", f"{VMS}/nothere", headers=hdrs),
                   "AUTH_002", "signed GET sent as DELETE")
    w.alive()


@case
def tampered_target(binary):
    w = World(binary)
    w.create("mine", w.alice)
    hdrs = w.alice.headers("GET", f"{VMS}/mine")
    expect_refused(w.request("GET", f"{VMS}/mine/access", headers=hdrs),
                   "AUTH_002", "another target")
    hdrs = w.alice.headers("GET", VMS)
    expect_refused(w.request("GET", VMS + "?a=1", headers=hdrs),
                   "AUTH_002", "a query added")
    w.alive()


@case
def tampered_body(binary):
    w = World(binary)
    body = {"name": "mine", "resources": SMALL,
            "ssh_key": public_line(w.alice.key)}
    raw = json.dumps(body).encode()
    hdrs = w.alice.headers("POST", VMS, raw)
    body["name"] = "theirs"
    expect_refused(w.request("POST", VMS, body, headers=hdrs), "AUTH_002",
                   "another body")
    w.alive()
    expect_eq(w.names(w.alice), [], "nothing created")


@case
def wrong_audience(binary):
    w, _ = refused_signed(binary, "AUTH_002", "signed for another provider",
                          audience="another-provider")
    expect_refused(w.request("GET", VMS, signer=w.alice, audience="discovery"),
                   "AUTH_002", "signed for discovery")


@case
def wrong_namespace(binary):
    refused_signed(binary, "AUTH_002", "another SSHSIG namespace",
                   namespace="file")


@case
def wrong_key(binary):
    """Bob's signature presented with alice's key in the blob."""
    w = World(binary)
    hdrs = w.bob.headers("GET", VMS)
    blob = base64.b64decode(hdrs["X-Golem-Signature"])
    parts = ssh_strings(blob[10:])
    alice_pub = base64.b64decode(public_line(w.alice.key).split()[1])
    forged = blob[:10] + b"".join(ssh_string(p) for p in [alice_pub] + parts[1:])
    hdrs["X-Golem-Signature"] = base64.b64encode(forged).decode()
    expect_refused(w.request("GET", VMS, headers=hdrs), "AUTH_002",
                   "bob's signature under alice's key")
    w.alive()


@case
def replayed_nonce(binary):
    w = World(binary)
    hdrs = w.alice.headers("GET", VMS)
    status, data = w.request("GET", VMS, headers=hdrs)
    expect_eq(status, 200, f"the first time (body {data!r})")
    expect_refused(w.request("GET", VMS, headers=hdrs), "AUTH_006",
                   "the same request again")
    # The same nonce, freshly signed: still a replay.
    expect_refused(w.request("GET", VMS, signer=w.alice,
                             nonce=hdrs["X-Golem-Nonce"]),
                   "AUTH_006", "the nonce again")
    w.alive()


@case
def timestamp_old(binary):
    _, msg = refused_signed(binary, "AUTH_005", "301 s old", skew=-301)
    now = int(time.time())
    said = [int(n) for n in re.findall(r"\d{10,}", msg)]
    expect(any(abs(n - now) < 30 for n in said),
           f"the message says the server's time: {msg!r}")


@case
def timestamp_ahead(binary):
    # Signed 302 s ahead: at least 301 s ahead of the server's clock when it
    # arrives (a second may pass on the way).
    refused_signed(binary, "AUTH_005", "301 s ahead", skew=302)


@case
def truncated_signature(binary):
    w = World(binary)
    sig = w.alice.headers("GET", VMS)["X-Golem-Signature"]
    blob = base64.b64decode(sig)
    refused_header(w, "truncated blob", **{
        "X-Golem-Signature": base64.b64encode(blob[:len(blob) // 2]).decode()})
    refused_header(w, "truncated base64", **{"X-Golem-Signature": sig[:-7]})


@case
def garbage_signature(binary):
    w = World(binary)
    refused_header(w, "garbage", **{"X-Golem-Signature": "not base64 !!"})
    refused_header(w, "random bytes", **{
        "X-Golem-Signature": base64.b64encode(os.urandom(300)).decode()})
    refused_header(w, "a bad nonce", **{"X-Golem-Nonce": "short"})
    refused_header(w, "a bad timestamp", **{"X-Golem-Timestamp": "01"})


@case
def oversized_signature(binary):
    w = World(binary)
    sig = w.alice.headers("GET", VMS)["X-Golem-Signature"]
    blob = base64.b64decode(sig) + os.urandom(6000)
    refused_header(w, "6 kB of signature", **{
        "X-Golem-Signature": base64.b64encode(blob).decode()})


@case
def dsa_key(binary):
    w = World(binary)
    dsa = Signer(keygen(w.keys, "dsa", "-t", "dsa"), w.id)
    expect_refused(w.request("GET", VMS, signer=dsa), "AUTH_002", "a DSA key")
    w.alive()


@case
def rsa_sha1(binary):
    """RSA with rsa-sha2-512 (the same hand-built blob) passes; with SHA-1
    ("ssh-rsa") it is refused."""
    w = World(binary)
    key = keygen(w.keys, "rsa", "-t", "rsa", "-b", "2048", "-m", "PEM")

    def headers(digest, algorithm):
        ts, nonce = str(int(time.time())), secrets.token_urlsafe(24)
        data = request_message("GET", VMS, w.id, ts, nonce, b"")
        return {"X-Golem-Timestamp": ts, "X-Golem-Nonce": nonce,
                "X-Golem-Signature": rsa_sshsig_by_openssl(key, data, digest, algorithm)}

    status, data = w.request("GET", VMS, headers=headers("sha512", "rsa-sha2-512"))
    expect_eq(status, 200, f"rsa-sha2-512, hand-built (body {data!r})")
    expect_refused(w.request("GET", VMS, headers=headers("sha1", "ssh-rsa")),
                   "AUTH_002", "an RSA SHA-1 signature")
    w.alive()


# --------------------------------------------------------------------------
# cases: owners


@case
def two_requestors(binary):
    w = World(binary, ALLOW_UNSIGNED_REQUESTS="yes")
    w.create("vm-a1", w.alice)
    w.create("vm-b1", w.bob)
    w.create("anon", None)
    expect_eq(w.names(w.alice), ["vm-a1"], "alice's list")
    expect_eq(w.names(w.bob), ["vm-b1"], "bob's list")
    expect_eq(w.names(None), ["anon"], "the anonymous list")
    for other in ("vm-b1", "anon"):
        for method, target in (("GET", f"{VMS}/{other}"),
                               ("GET", f"{VMS}/{other}/access"),
                               ("POST", f"{VMS}/{other}/stop"),
                               ("POST", f"{VMS}/{other}/start"),
                               ("DELETE", f"{VMS}/{other}")):
            expect_refused(w.request(method, target, signer=w.alice),
                           "VM_NOT_FOUND", f"alice: {method} {target}", 404)
    w.create("vm-a2", w.alice)
    status, data = w.request("POST", VMS + "?async=true", {
        "name": "vm-a3", "resources": SMALL, "ssh_key": public_line(w.alice.key)},
        w.alice)
    expect_eq(status, 202, f"async create (body {data!r})")
    target = f"{VMS}/jobs/{data['job_id']}"
    expect_refused(w.request("GET", target, signer=w.bob), "JOB_NOT_FOUND",
                   "bob reads alice's job", 404)
    status, _ = w.request("GET", target, signer=w.alice)
    expect_eq(status, 200, "alice reads her job")
    # A name is taken whoever owns it.
    w.create("vm-a1", w.bob, status=409)
    status, data = w.request("DELETE", f"{VMS}/vm-b1", signer=w.bob)
    expect_eq(status, 200, f"bob deletes his own (body {data!r})")
    expect_eq(w.names(w.alice), ["vm-a1", "vm-a2", "vm-a3"], "alice's VMs untouched")


@case
def anonymous_compat(binary):
    """AllowUnsignedRequests=yes: unsigned requests act on unowned VMs only,
    and a request with bad signature headers is still refused."""
    w = World(binary, ALLOW_UNSIGNED_REQUESTS="yes")
    w.create("owned", w.alice)
    w.create("free", None)
    expect_eq(w.names(None), ["free"], "the anonymous list (cached twice)")
    expect_eq(w.names(None), ["free"], "the anonymous list, again")
    expect_refused(w.request("GET", f"{VMS}/owned"), "VM_NOT_FOUND",
                   "anonymous GET of an owned VM", 404)
    expect_refused(w.request("DELETE", f"{VMS}/owned"), "VM_NOT_FOUND",
                   "anonymous DELETE of an owned VM", 404)
    status, data = w.request("POST", f"{VMS}/free/stop")
    expect_eq(status, 200, f"anonymous stop of an unowned VM (body {data!r})")
    # A change shows in the cached list.
    status, _ = w.request("DELETE", f"{VMS}/free")
    expect_eq(status, 200, "anonymous delete of an unowned VM")
    expect_eq(w.names(None), [], "the anonymous list after the delete")
    # Bad credentials are not anonymous.
    expect_refused(w.request("GET", VMS, headers={"X-Golem-Signature": "x"}),
                   "AUTH_001", "a signature without timestamp and nonce")
    expect_refused(w.request("GET", VMS, headers={
        **w.alice.headers("GET", VMS), "X-Golem-Signature": "AAAA"}),
        "AUTH_002", "a bad signature")
    expect_refused(w.request("GET", VMS, signer=w.alice, skew=-1000),
                   "AUTH_005", "an old timestamp")
    expect_eq(w.names(w.alice), ["owned"], "alice's VM untouched")
    w.alive()


@case
def max_vms_per_owner(binary):
    w = World(binary, MAX_VMS_PER_OWNER=2)
    w.create("vm-a1", w.alice)
    w.create("vm-a2", w.alice)
    got, data = w.request("POST", VMS, {
        "name": "vm-a3", "resources": SMALL, "ssh_key": public_line(w.alice.key)},
        w.alice)
    msg = expect_refused((got, data), "RESOURCE_UNAVAILABLE", "a third VM", 503)
    expect("MaxVMsPerOwner" in msg, f"the refusal says why: {msg!r}")
    w.create("vm-b1", w.bob)  # another key has its own count
    status, _ = w.request("DELETE", f"{VMS}/vm-a1", signer=w.alice)
    expect_eq(status, 200, "alice deletes one")
    w.create("vm-a3", w.alice)


# --------------------------------------------------------------------------
# cases: the requestor guide's create


@case
def seed_create_without_key(binary):
    """The seed's first call: a flat body and no key."""
    w = World(binary)
    status, data = w.request("POST", VMS, {"name": "seed-vm", "cpu": 1,
                                           "memory": 1, "storage": 10},
                             w.alice)
    expect_eq(status, 201, f"create without a key (body {data!r})")
    expect_eq(data["resources"], SMALL, "the flat resources")
    expect_eq(w.names(w.alice), ["seed-vm"], "alice's list")


@case
def private_key_refused(binary):
    """A private key where the public one belongs: 422 saying to send the
    .pub, and not a line of it in the answer or the daemon's log."""
    w = World(binary)
    with open(w.alice.key) as f:
        private = f.read()
    status, data = w.request("POST", VMS, {"name": "leaky", "size": "small",
                                           "ssh_key": private}, w.alice)
    msg = expect_refused((status, data), "VALIDATION_ERROR", "a private key", 422)
    expect(".pub" in msg, f"the message says to send the .pub: {msg!r}")
    secret = [line for line in private.splitlines() if "-----" not in line]
    answer = json.dumps(data)
    w.alive()
    w.p.stop()
    for line in secret:
        expect(line not in answer, "the private key is echoed")
        expect(line not in w.p.stderr(), "the private key is logged")
    expect(not os.path.exists(os.path.join(w.p.data, "cloud-init", "leaky.yaml")),
           "the private key reached cloud-init")


def guest_keys(w, name):
    """The authorized keys the stand-in's guest holds."""
    return golemworld.guest_keys(w.p.standin, name)


@case
def seed_add_key(binary):
    """The seed's two calls: a create without a key, then POST .../ssh-keys
    {"key","name"}; the key reaches the guest (multipass exec), is listed,
    kept in the store across stop/start and restarts, and removed."""
    w = World(binary)
    keys = f"{VMS}/seed-vm/ssh-keys"
    status, data = w.request("POST", VMS, {"name": "seed-vm", "cpu": 1,
                                           "memory": 1, "storage": 10},
                             w.alice)
    expect_eq(status, 201, f"create without a key (body {data!r})")
    laptop, work = (keygen(w.keys, n, "-t", "ed25519") for n in ("laptop", "work"))
    status, data = w.request("POST", keys, {"key": public_line(laptop),
                                            "name": "laptop"}, w.alice)
    expect_eq(status, 200, f"add a key (body {data!r})")
    expect_eq(data, [{"name": "laptop", "fingerprint": fingerprint(laptop + ".pub")}],
              "the keys after adding one")
    expect_eq(guest_keys(w, "seed-vm"), [public_line(laptop)], "the guest's keys")
    status, data = w.request("POST", keys, {"key": public_line(work),
                                            "name": "work"}, w.alice)
    expect_eq(status, 200, f"add another (body {data!r})")
    expect_eq(guest_keys(w, "seed-vm"), [public_line(laptop), public_line(work)],
              "the guest's keys, two")

    # Only the owner; a private key never.
    expect_refused(w.request("POST", keys, {"key": public_line(work)}, w.bob),
                   "VM_NOT_FOUND", "bob adds a key", 404)
    expect_refused(w.request("GET", keys, signer=w.bob), "VM_NOT_FOUND",
                   "bob lists the keys", 404)
    with open(laptop) as f:
        private = f.read()
    msg = expect_refused(w.request("POST", keys, {"key": private}, w.alice),
                         "VALIDATION_ERROR", "a private key", 422)
    expect(".pub" in msg, f"the message says to send the .pub: {msg!r}")

    status, data = w.request("DELETE", f"{keys}/laptop", signer=w.alice)
    expect_eq(status, 200, f"remove a key (body {data!r})")
    expect_eq([k["name"] for k in data], ["work"], "the keys after removing one")
    expect_eq(guest_keys(w, "seed-vm"), [public_line(work)], "the guest's keys after the removal")
    expect_refused(w.request("DELETE", f"{keys}/laptop", signer=w.alice),
                   "KEY_NOT_FOUND", "removing it again", 404)

    # Kept across stop/start and a restart of the daemon; changed only while it runs.
    status, _ = w.request("POST", f"{VMS}/seed-vm/stop", signer=w.alice)
    expect_eq(status, 200, "stop")
    expect_refused(w.request("POST", keys, {"key": public_line(laptop)}, w.alice),
                   "VM_WRONG_STATE", "adding a key to a stopped VM", 409)
    status, _ = w.request("POST", f"{VMS}/seed-vm/start", signer=w.alice)
    expect_eq(status, 200, "start")
    w.p.stop()
    w.p = started_provider(binary, data=w.p.data, standin=w.p.standin)
    status, data = w.request("GET", keys, signer=w.alice)
    expect_eq(status, 200, f"list after a restart (body {data!r})")
    expect_eq([k["name"] for k in data], ["work"], "the keys after a restart")
    status, data = w.request("GET", f"{VMS}/seed-vm", signer=w.alice)
    expect_eq(data.get("status"), "running", f"the VM after a restart ({data!r})")
    expect_eq(guest_keys(w, "seed-vm"), [public_line(work)], "the guest's keys after a restart")
    # The keys go with the VM.
    status, _ = w.request("DELETE", f"{VMS}/seed-vm", signer=w.alice)
    expect_eq(status, 200, "delete")
    w.create("seed-vm", w.alice)
    status, data = w.request("GET", keys, signer=w.alice)
    expect_eq(data, [], "a new VM of the same name has no keys")


if __name__ == "__main__":
    sys.exit(main(paths=("multipass",)))
