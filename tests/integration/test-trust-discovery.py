#!/usr/bin/env python3
"""golem-discoveryd's signed advertisements (issue #12), against the real daemon.

Requests are signed here with `ssh-keygen -Y sign -n golem-request-v1` (never
with our own code): the signature scheme is checked for interoperability as
well as for what it refuses.

  - A provider id in fingerprint form (the SHA-256 fingerprint of an SSH key,
    base64url, 43 characters) is written or deleted only by a request signed
    with that key; such an advertisement is served with "verified": true.
  - Any forgery (no signature, another key, tampered method, target, body,
    audience or namespace, a replayed nonce, a timestamp 301 s off, a garbage,
    truncated or oversized signature, a DSA key) is 401 with its code, and
    the stored advertisement stays as it was.
  - Legacy ids (the existing network's providers, which send some opaque
    X-Provider-Signature) are taken unsigned while
    AllowUnsignedAdvertisements=yes (the default), as "verified": false.
  - ?verified=true filters, verified advertisements rank first, and "api_port"
    goes round trip.

Run ``--list`` for the case names.
"""

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golemworld import (NAMESPACE, Daemon, case, expect,  # noqa: E402
                        expect_eq, http, main, request_message, sshsig)

BASE = "/api/v1/advertisements"
WINDOW = 300


# --------------------------------------------------------------------------
# helpers: the daemon


def started(binary, **settings):
    """A discovery daemon that has sent READY=1; ``settings`` are
    GOLEM_DISCOVERY_* suffixes.  The rate limit is off."""
    d = Daemon(binary, name="discoveryd")
    os.makedirs(d.path("db"), exist_ok=True)
    d.env.update({
        "GOLEM_DISCOVERY_HOST": d.host,
        "GOLEM_DISCOVERY_PORT": str(d.port),
        "GOLEM_DISCOVERY_DATABASE_DIR": d.path("db"),
        "GOLEM_DISCOVERY_RATE_LIMIT_PER_MINUTE": "0",
    })
    for key, value in settings.items():
        d.env["GOLEM_DISCOVERY_" + key] = str(value)
    return d.start().wait_ready()


def alive(d, what):
    """The daemon still runs and answers."""
    expect(d.running(), f"{what}: the daemon died{d.tail()}")
    status, _, data = http("GET", d.url + "/health")
    expect_eq((status, data), (200, {"status": "healthy"}), f"{what}: /health")


# --------------------------------------------------------------------------
# helpers: keys and signatures, with ssh-keygen alone


class Key:
    """An SSH key pair made by ssh-keygen; ``id`` is its identity (the
    SHA-256 fingerprint in base64url without padding)."""

    def __init__(self, d, name, kind="ed25519", bits=None):
        self.path = d.path(f"key-{name}")
        argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", name,
                "-f", self.path]
        if bits:
            argv[4:4] = ["-b", str(bits)]
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", self.path + ".pub"],
            check=True, capture_output=True, text=True).stdout
        fingerprint = out.split()[1]
        expect(fingerprint.startswith("SHA256:"), f"fingerprint {out!r}")
        self.id = fingerprint[len("SHA256:"):].replace("+", "-").replace("/", "_")
        expect_eq(len(self.id), 43, f"identity of {name}")


def signed(key, method, target, body=b"", provider_id=None, audience="discovery",
           timestamp=None, nonce=None, namespace=NAMESPACE):
    """Headers of a request signed by key: X-Provider-ID (key.id unless
    given), X-Golem-Timestamp, X-Golem-Nonce, X-Provider-Signature."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(24)
    sig = sshsig(key.path, request_message(method, target, audience, timestamp,
                                           nonce, body), namespace)
    return {"X-Provider-ID": provider_id or key.id,
            "X-Golem-Timestamp": timestamp, "X-Golem-Nonce": nonce,
            "X-Provider-Signature": sig}


def body_of(ip="192.0.2.1", cpu=2, memory=4, storage=20, **extra):
    body = {"ip_address": ip, "country": "DE",
            "resources": {"cpu": cpu, "memory": memory, "storage": storage}}
    body.update(extra)
    return json.dumps(body).encode()


def send(d, method, path, headers, body=None):
    headers = dict(headers)
    if body is not None:
        headers["Content-Type"] = "application/json"
    return http(method, d.url + path, body, headers)


def post_signed(d, key, body, **kwargs):
    """A signed POST that must be taken; returns the stored advertisement."""
    status, _, data = send(d, "POST", BASE, signed(key, "POST", BASE, body, **kwargs), body)
    expect_eq(status, 200, f"signed POST (answer {data!r})")
    return data


def legacy_headers(provider_id):
    """What the existing network's unsigned providers send: some opaque
    X-Provider-Signature (the Python provider's is HMAC-like hex), no
    X-Golem-Timestamp or X-Golem-Nonce."""
    mac = hashlib.sha256(b"not-a-secret" + provider_id.encode()).hexdigest()
    return {"X-Provider-ID": provider_id, "X-Provider-Signature": mac}


def get(d, provider_id):
    status, _, data = http("GET", f"{d.url}{BASE}/{provider_id}")
    expect_eq(status, 200, f"GET {provider_id} (answer {data!r})")
    return data


def list_ads(d, query=""):
    status, _, data = http("GET", d.url + BASE + (f"?{query}" if query else ""))
    expect_eq(status, 200, f"GET ?{query} (answer {data!r})")
    return data


def expect_refused(result, code, what, status=401):
    got, _, data = result
    expect_eq(got, status, f"{what}: status (answer {data!r})")
    expect(isinstance(data, dict) and isinstance(data.get("detail"), dict),
           f"{what}: not the error envelope: {data!r}")
    expect_eq(data["detail"].get("code"), code, f"{what}: detail.code")
    expect(data["detail"].get("message"), f"{what}: no message: {data!r}")
    return data["detail"]["message"]


class Board:
    """A daemon holding one verified advertisement, of key ``owner``."""

    def __init__(self, binary, **settings):
        self.d = started(binary, **settings)
        self.owner = Key(self.d, "owner")
        self.ad = post_signed(self.d, self.owner, body_of(ip="192.0.2.10", api_port=7470))
        expect_eq(self.ad["verified"], True, "the owner's advertisement: verified")

    def refused(self, method, headers, code, what, body=None, path=None):
        """A request refused with code; the advertisement as it was."""
        path = path or (BASE if method == "POST" else f"{BASE}/{self.owner.id}")
        expect_refused(send(self.d, method, path, headers, body), code, what)
        expect_eq(get(self.d, self.owner.id), self.ad, f"after {what}: the stored advertisement")
        alive(self.d, what)

    def forged_post(self, headers, code, what, body=None):
        self.refused("POST", headers, code, what,
                     body if body is not None else body_of(ip="203.0.113.66"))


# --------------------------------------------------------------------------
# cases: signed, verified


@case
def signed_post_verified(binary):
    """A POST signed by the key whose fingerprint is its X-Provider-ID is
    stored and served as verified, and ssh-keygen's fingerprint is the id."""
    d = started(binary)
    key = Key(d, "p")
    ad = post_signed(d, key, body_of(cpu=4))
    expect_eq(ad["provider_id"], key.id, "provider_id")
    expect_eq(ad["verified"], True, "verified")
    expect_eq(ad["api_port"], None, "api_port when not posted")
    expect_eq(get(d, key.id), ad, "GET")
    expect_eq(list_ads(d), [ad], "list")
    # An update, signed again, stays verified.
    ad2 = post_signed(d, key, body_of(cpu=8))
    expect_eq((ad2["verified"], ad2["resources"]["cpu"]), (True, 8), "update")
    alive(d, "signed POST")


@case
def key_types(binary):
    """ECDSA and RSA (rsa-sha2-512, ssh-keygen's default) keys sign too."""
    d = started(binary)
    for kind, bits in (("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521), ("rsa", 3072)):
        key = Key(d, f"{kind}{bits}", kind, bits)
        ad = post_signed(d, key, body_of())
        expect_eq(ad["verified"], True, f"{kind}-{bits}: verified")
    alive(d, "key types")


@case
def signed_delete(binary):
    """The owner's signed DELETE withdraws its advertisement."""
    b = Board(binary)
    path = f"{BASE}/{b.owner.id}"
    status, _, data = send(b.d, "DELETE", path, signed(b.owner, "DELETE", path))
    expect_eq((status, data), (200, {"status": "success"}), "signed DELETE")
    status, _, _ = http("GET", b.d.url + path)
    expect_eq(status, 404, "GET after DELETE")
    alive(b.d, "signed DELETE")


# --------------------------------------------------------------------------
# cases: forgeries of a verified id


@case
def forged_unsigned(binary):
    """A fingerprint id cannot be written unsigned, in compat mode too:
    AUTH_001, whatever opaque X-Provider-Signature comes along."""
    b = Board(binary)
    b.forged_post({"X-Provider-ID": b.owner.id}, "AUTH_001", "no signature")
    b.forged_post({"X-Provider-ID": b.owner.id, "X-Provider-Signature": "forged"},
                  "AUTH_001", "'forged' signature")
    b.forged_post(legacy_headers(b.owner.id), "AUTH_001", "HMAC-like signature")
    headers = signed(b.owner, "POST", BASE, body_of(ip="203.0.113.66"))
    del headers["X-Golem-Nonce"]
    b.forged_post(headers, "AUTH_001", "signature without a nonce")


@case
def forged_wrong_key(binary):
    """A good signature by another key for the owner's id: AUTH_002."""
    b = Board(binary)
    mallory = Key(b.d, "mallory")
    body = body_of(ip="203.0.113.66")
    b.forged_post(signed(mallory, "POST", BASE, body, provider_id=b.owner.id),
                  "AUTH_002", "signed by another key", body)
    # Mallory may advertise under its own id, not change the owner's.
    ad = post_signed(b.d, mallory, body)
    expect_eq((ad["provider_id"], ad["verified"]), (mallory.id, True), "mallory's own")
    expect_eq(get(b.d, b.owner.id), b.ad, "the owner's, after mallory's own POST")


@case
def forged_tampered(binary):
    """The owner's signature over something else: another body, target,
    method, audience or namespace: AUTH_002."""
    b = Board(binary)
    o = b.owner
    body = body_of(ip="203.0.113.66")
    signed_body = body_of(ip="192.0.2.10")
    rows = [
        ("tampered body", signed(o, "POST", BASE, signed_body)),
        ("tampered target", signed(o, "POST", BASE + "?x=1", body)),
        ("target with a trailing slash", signed(o, "POST", BASE + "/", body)),
        ("tampered method", signed(o, "PUT", BASE, body)),
        ("audience: a provider", signed(o, "POST", BASE, body, audience=o.id)),
        ("audience: empty-ish", signed(o, "POST", BASE, body, audience="discovery2")),
        ("namespace", signed(o, "POST", BASE, body, namespace="file")),
        ("namespace v2", signed(o, "POST", BASE, body, namespace="golem-request-v2")),
    ]
    for what, headers in rows:
        b.forged_post(headers, "AUTH_002", what, body)
    # Headers changed after signing.
    headers = signed(o, "POST", BASE, body)
    headers["X-Golem-Nonce"] = secrets.token_urlsafe(24)
    b.forged_post(headers, "AUTH_002", "nonce changed after signing", body)
    headers = signed(o, "POST", BASE, body)
    headers["X-Golem-Timestamp"] = str(int(headers["X-Golem-Timestamp"]) - 1)
    b.forged_post(headers, "AUTH_002", "timestamp changed after signing", body)


@case
def replayed_nonce(binary):
    """A request taken once is refused the second time (AUTH_006), also
    with another body; the advertisement is the first request's."""
    b = Board(binary)
    body = body_of(ip="192.0.2.11")
    headers = signed(b.owner, "POST", BASE, body)
    status, _, first = send(b.d, "POST", BASE, headers, body)
    expect_eq(status, 200, f"the first time (answer {first!r})")
    b.ad = first
    b.forged_post(headers, "AUTH_006", "replayed", body)
    # The same nonce signed again (a new signature, same nonce): still used.
    again = signed(b.owner, "POST", BASE, body, nonce=headers["X-Golem-Nonce"])
    b.forged_post(again, "AUTH_006", "nonce reused in a new signature", body)


@case
def timestamp_window(binary):
    """A timestamp 301 s old or 302 s ahead is AUTH_005 (naming the
    server's time); 290 s either way is taken.  Each timestamp is taken
    just before its request, and "ahead" keeps one second of margin: the
    server's second may have ticked over by the time it checks."""
    b = Board(binary)
    body = body_of(ip="203.0.113.66")
    for what, ts in (("301 s old", lambda now: now - WINDOW - 1),
                     ("302 s ahead", lambda now: now + WINDOW + 2),
                     ("an hour old", lambda now: now - 3600), ("zero", lambda now: 0)):
        headers = signed(b.owner, "POST", BASE, body, timestamp=ts(int(time.time())))
        message_ = expect_refused(send(b.d, "POST", BASE, headers, body), "AUTH_005", what)
        expect("time" in message_, f"{what}: the message {message_!r} names no time")
        expect_eq(get(b.d, b.owner.id), b.ad, f"after {what}")
    alive(b.d, "timestamps")
    for what, delta in (("290 s old", -290), ("290 s ahead", 290)):
        ad = post_signed(b.d, b.owner, body_of(ip="192.0.2.12"), timestamp=int(time.time()) + delta)
        expect_eq(ad["verified"], True, what)


@case
def bad_signatures(binary):
    """Garbage, truncated, bit-flipped and oversized signatures, and bad
    nonces and timestamps: AUTH_002 (or 431 for a head too large to read)."""
    b = Board(binary)
    body = body_of(ip="203.0.113.66")

    def variant(what, **change):
        headers = signed(b.owner, "POST", BASE, body)
        headers.update(change)
        return what, headers

    good = signed(b.owner, "POST", BASE, body)["X-Provider-Signature"]
    raw = bytearray(base64.b64decode(good))
    raw[-5] ^= 0x01
    flipped = base64.b64encode(bytes(raw)).decode()
    huge = base64.b64encode(base64.b64decode(good) + b"\0" * 6000).decode()
    rows = [
        variant("garbage", **{"X-Provider-Signature": "garbage"}),
        variant("garbage base64", **{"X-Provider-Signature": base64.b64encode(os.urandom(200)).decode()}),
        variant("SSHSIG magic only", **{"X-Provider-Signature": "U1NIU0lH"}),
        variant("truncated", **{"X-Provider-Signature": good[:len(good) // 2]}),
        variant("truncated by 4", **{"X-Provider-Signature": good[:-4]}),
        variant("bit flipped", **{"X-Provider-Signature": flipped}),
        variant("trailing bytes", **{"X-Provider-Signature": huge}),
        variant("oversized", **{"X-Provider-Signature": "A" * 12000}),
        variant("nonce too short", **{"X-Golem-Nonce": "short"}),
        variant("nonce with a dot", **{"X-Golem-Nonce": "a" * 20 + "."}),
        variant("timestamp not a number", **{"X-Golem-Timestamp": "yesterday"}),
        variant("timestamp with a sign", **{"X-Golem-Timestamp": "+" + str(int(time.time()))}),
    ]
    for what, headers in rows:
        b.forged_post(headers, "AUTH_002", what, body)


@case
def dsa_key_refused(binary):
    """A DSA key is refused (AUTH_002), for its own fingerprint id and for
    the owner's."""
    b = Board(binary)
    dsa = Key(b.d, "dsa", "dsa")
    body = body_of(ip="203.0.113.66")
    b.forged_post(signed(dsa, "POST", BASE, body, provider_id=b.owner.id),
                  "AUTH_002", "DSA for the owner's id", body)
    expect_refused(send(b.d, "POST", BASE, signed(dsa, "POST", BASE, body), body),
                   "AUTH_002", "DSA for its own id")
    status, _, _ = http("GET", f"{b.d.url}{BASE}/{dsa.id}")
    expect_eq(status, 404, "nothing stored for the DSA key")
    alive(b.d, "DSA")


@case
def forged_delete(binary):
    """DELETE of a verified advertisement: unsigned, by another key, replayed,
    signed for another target or method: refused with its code, the
    advertisement still there."""
    b = Board(binary)
    mallory = Key(b.d, "mallory")
    path = f"{BASE}/{b.owner.id}"
    b.refused("DELETE", {"X-Provider-ID": b.owner.id, "X-Provider-Signature": "forged"},
              "AUTH_001", "unsigned DELETE")
    b.refused("DELETE", signed(mallory, "DELETE", path, provider_id=b.owner.id),
              "AUTH_002", "DELETE signed by another key")
    b.refused("DELETE", signed(mallory, "DELETE", path), "AUTH_004",
              "DELETE by another verified provider")
    b.refused("DELETE", signed(b.owner, "DELETE", f"{BASE}/{mallory.id}"), "AUTH_002",
              "DELETE signed for another path")
    b.refused("DELETE", signed(b.owner, "POST", path), "AUTH_002", "DELETE signed as POST")
    b.refused("DELETE", signed(b.owner, "DELETE", path, timestamp=int(time.time()) - 301),
              "AUTH_005", "DELETE 301 s old")
    # A DELETE taken once is not taken again once the owner has advertised anew.
    headers = signed(b.owner, "DELETE", path)
    status, _, _ = send(b.d, "DELETE", path, headers)
    expect_eq(status, 200, "the owner's DELETE")
    b.ad = post_signed(b.d, b.owner, body_of(ip="192.0.2.13"))
    b.refused("DELETE", headers, "AUTH_006", "replayed DELETE")


# --------------------------------------------------------------------------
# cases: legacy ids, the filter, the ranking, the switch


@case
def legacy_compat(binary):
    """The network's unsigned providers (legacy ids, an opaque signature
    header) are listed as verified: false; one that signs with some key is
    still unverified (a legacy id is no key's), and a bad signature is
    refused even for a legacy id."""
    d = started(binary)
    status, _, ad = send(d, "POST", BASE, legacy_headers("python-provider-1"), body_of())
    expect_eq(status, 200, f"unsigned legacy POST (answer {ad!r})")
    expect_eq(ad["verified"], False, "unsigned legacy: verified")
    key = Key(d, "k")
    ad2 = post_signed(d, key, body_of(ip="192.0.2.2"), provider_id="signed-legacy")
    expect_eq(ad2["verified"], False, "signed legacy id: verified")
    before = get(d, "signed-legacy")
    headers = signed(key, "POST", BASE, body_of(ip="192.0.2.99"), provider_id="signed-legacy")
    headers["X-Provider-Signature"] = headers["X-Provider-Signature"][:-8]
    expect_refused(send(d, "POST", BASE, headers, body_of(ip="192.0.2.99")), "AUTH_002",
                   "legacy id with a bad signature")
    expect_eq(get(d, "signed-legacy"), before, "after the bad signature")
    # Half a signature is no signature; an opaque one with both headers is a bad one.
    headers = legacy_headers("signed-legacy")
    headers["X-Golem-Timestamp"] = str(int(time.time()))
    expect_refused(send(d, "POST", BASE, headers, body_of(ip="192.0.2.99")), "AUTH_001",
                   "legacy id with a timestamp and no nonce")
    headers["X-Golem-Nonce"] = secrets.token_urlsafe(24)
    expect_refused(send(d, "POST", BASE, headers, body_of(ip="192.0.2.99")), "AUTH_002",
                   "legacy id with both headers and an opaque signature")
    expect_eq(get(d, "signed-legacy"), before, "after the half-signed ones")
    expect_eq(sorted(a["provider_id"] for a in list_ads(d)),
              ["python-provider-1", "signed-legacy"], "listed")
    status, _, data = send(d, "DELETE", f"{BASE}/python-provider-1",
                           legacy_headers("python-provider-1"))
    expect_eq((status, data), (200, {"status": "success"}), "unsigned legacy DELETE")
    alive(d, "legacy")


@case
def verified_filter_and_rank(binary):
    """Verified advertisements come first, then the usual order; ?verified=true
    lists only them, ?verified=false all; anything else is 422."""
    d = started(binary)
    small = Key(d, "small")
    post_signed(d, small, body_of(cpu=1, memory=1, storage=1))
    for name, cpu in (("big-legacy", 32), ("mid-legacy", 8)):
        status, _, _ = send(d, "POST", BASE, legacy_headers(name), body_of(cpu=cpu))
        expect_eq(status, 200, f"POST {name}")
    larger = Key(d, "larger")
    post_signed(d, larger, body_of(cpu=2))
    everyone = [larger.id, small.id, "big-legacy", "mid-legacy"]
    expect_eq([a["provider_id"] for a in list_ads(d)], everyone, "ranking")
    expect_eq([a["provider_id"] for a in list_ads(d, "verified=false")], everyone, "?verified=false")
    expect_eq([a["provider_id"] for a in list_ads(d, "verified=true")], [larger.id, small.id],
              "?verified=true")
    expect_eq([a["provider_id"] for a in list_ads(d, "verified=true&cpu=2")], [larger.id],
              "?verified=true&cpu=2")
    expect_eq([a["provider_id"] for a in list_ads(d, "cpu=8")], ["big-legacy", "mid-legacy"], "?cpu=8")
    for value in ("yes", "1", "TRUE", ""):
        message_ = expect_refused(http("GET", f"{d.url}{BASE}?verified={value}"),
                                  "VALIDATION_ERROR", f"?verified={value}", 422)
        expect("verified" in message_, f"?verified={value}: message {message_!r}")
    alive(d, "filter")


@case
def unsigned_not_allowed(binary):
    """With AllowUnsignedAdvertisements=no: unsigned is AUTH_001, a signed
    legacy id AUTH_002, a signed fingerprint id taken."""
    d = started(binary, ALLOW_UNSIGNED_ADVERTISEMENTS="no")
    expect_refused(send(d, "POST", BASE, legacy_headers("python-provider-1"), body_of()),
                   "AUTH_001", "unsigned legacy POST")
    expect_refused(send(d, "POST", BASE, {"X-Provider-ID": "python-provider-1"}, body_of()),
                   "AUTH_001", "legacy POST without a signature header")
    key = Key(d, "k")
    expect_refused(send(d, "POST", BASE, signed(key, "POST", BASE, body_of(),
                                                provider_id="signed-legacy"), body_of()),
                   "AUTH_002", "signed legacy POST")
    expect_refused(send(d, "DELETE", f"{BASE}/python-provider-1",
                        legacy_headers("python-provider-1")),
                   "AUTH_001", "unsigned legacy DELETE")
    expect_eq(list_ads(d), [], "nothing stored")
    ad = post_signed(d, key, body_of())
    expect_eq(ad["verified"], True, "signed fingerprint id")
    alive(d, "AllowUnsignedAdvertisements=no")


@case
def api_port_roundtrip(binary):
    """"api_port" (1-65535) is stored and served, null when not posted; an
    invalid one is 422 naming it, and nothing is changed."""
    d = started(binary)
    key = Key(d, "k")
    ad = post_signed(d, key, body_of(api_port=8080))
    expect_eq(ad["api_port"], 8080, "posted")
    expect_eq(get(d, key.id)["api_port"], 8080, "GET")
    expect_eq(list_ads(d)[0]["api_port"], 8080, "list")
    for value in (0, 65536, "7466", 7466.5, True):
        body = body_of(api_port=value)
        message_ = expect_refused(send(d, "POST", BASE, signed(key, "POST", BASE, body), body),
                                  "VALIDATION_ERROR", f"api_port {value!r}", 422)
        expect("api_port" in message_, f"api_port {value!r}: message {message_!r}")
    expect_eq(get(d, key.id), ad, "after the invalid ones")
    status, _, legacy = send(d, "POST", BASE, legacy_headers("legacy"), body_of(api_port=65535))
    expect_eq((status, legacy["api_port"]), (200, 65535), "legacy provider's api_port")
    ad = post_signed(d, key, body_of())
    expect_eq(ad["api_port"], None, "not posted again: null")
    alive(d, "api_port")


if __name__ == "__main__":
    sys.exit(main())
