#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The daemons against their OpenAPI documents (openapi/): each serves its own
at GET /openapi.json, the very bytes of the file in the tree, to anyone; every
documented path and method is routed; and a tour of every operation gets each
documented success answer, checked against its schema (as every answer of
every case is, by golemworld.http())."""

import json
import os
import subprocess
import sys
from http.client import HTTPConnection

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golemopenapi  # noqa: E402
from golemworld import (ADS, INFO, VMS, Signer, Standin, call, case,  # noqa: E402
                        expect, expect_eq, http, main, make_key, provider,
                        start_discovery)

METHODS = ("get", "put", "post", "delete", "patch")


def raw_get(d, path):
    """GET ``path`` of ``d``: (status, headers, body bytes)."""
    conn = HTTPConnection(d.host, d.port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def tree_file(name):
    with open(os.path.join(golemopenapi.OPENAPI_DIR, name), "rb") as f:
        return f.read()


def started_pair(**provider_settings):
    discovery = start_discovery()
    p = provider(mp=Standin(BOOT_SECONDS=0.1, PREPARE_SECONDS=0.05, STOP_SECONDS=0.05),
                 **provider_settings)
    p.start().wait_ready()
    return discovery, p


@case
def served_documents(binary):
    """GET /openapi.json: 200, application/json, the bytes of
    openapi/golem-*.json, unsigned even where signatures are required, and
    the same for HEAD without a body."""
    discovery, p = started_pair(ALLOW_UNSIGNED_REQUESTS="no")
    for d, name in ((p, "golem-provider.json"), (discovery, "golem-discovery.json")):
        status, headers, body = raw_get(d, "/openapi.json")
        expect_eq(status, 200, f"{d.name}: GET /openapi.json (body {body[:200]!r})")
        expect(headers.get("content-type", "").startswith("application/json"),
               f"{d.name}: Content-Type {headers.get('content-type')!r}")
        expect(body == tree_file(name),
               f"{d.name}: GET /openapi.json is not openapi/{name} byte for byte "
               f"({len(body)} bytes served, {len(tree_file(name))} in the tree)")
        doc = json.loads(body)
        expect_eq(doc.get("openapi"), "3.1.0", f"{d.name}: the document's openapi")
        # Through the world's checks too (the document describes itself).
        status, _, data = call(d, "GET", "/openapi.json")
        expect_eq((status, data), (200, doc), f"{d.name}: GET /openapi.json")
        status, _, data = http("HEAD", d.url + "/openapi.json")
        expect_eq((status, data), (200, b""), f"{d.name}: HEAD /openapi.json")
    # Signatures are required there for the rest.
    status, _, data = call(p, "GET", VMS)
    expect_eq(status, 401, f"unsigned GET {VMS} with AllowUnsignedRequests=no (body {data!r})")


def placeholder(segment):
    """A value for a path parameter that names nothing."""
    return {"{job_id}": "0" * 32}.get(segment, "nothing-here" if segment.startswith("{") else segment)


@case
def documented_routes_are_routed(binary):
    """Every path and method of both documents reaches a handler: no answer
    is the router's 404 NOT_FOUND or 405 METHOD_NOT_ALLOWED (and what they
    answer, a 401, 404 VM_NOT_FOUND or 422 among them, is documented: the
    world checks it)."""
    discovery, p = started_pair()
    checked = 0
    for d, program in ((p, "golem-providerd"), (discovery, "golem-discoveryd")):
        doc = golemopenapi.document(program).doc
        for path, item in doc["paths"].items():
            target = "/".join(placeholder(s) for s in path.split("/"))
            for method in METHODS:
                if method not in item:
                    continue
                body = {} if "requestBody" in item[method] else None
                if path == "/metrics":  # text, not JSON (the world checks it)
                    status, _, data = http(method.upper(), d.url + target)
                else:
                    status, _, data = call(d, method.upper(), target, body)
                code = data.get("detail", {}).get("code") if isinstance(data, dict) else None
                expect(code not in ("NOT_FOUND", "METHOD_NOT_ALLOWED"),
                       f"{d.name}: {method.upper()} {target}: {status} {code}: "
                       f"documented, and not routed")
                checked += 1
    expect(checked >= 20, f"only {checked} operations in the documents")


def expect_seen(document, wanted):
    missing = [w for w in wanted if (document,) + w not in golemopenapi.SEEN]
    expect(not missing, f"{document}: no conforming answer seen for {missing}")


@case
def tour(binary):
    """Every operation of both documents answered with its documented
    success, signed as a requestor and a provider would sign: the world
    checks each body against its schema, and that each was seen."""
    discovery, p = started_pair(PUBLIC_IP="192.0.2.10")
    alice, alice_pub = make_key("alice")
    keydir = os.path.dirname(alice)
    owner = p.signed(alice)

    status, _, _ = call(p, "GET", "/health")
    expect_eq(status, 200, "provider /health")
    call(p, "GET", "/openapi.json")
    status, _, _ = http("GET", p.url + "/metrics")
    expect_eq(status, 200, "provider /metrics")
    status, info = owner.rest("GET", INFO)
    expect_eq(status, 200, f"GET {INFO} ({info!r})")

    status, vm = owner.rest("POST", VMS, {"name": "tour-sync", "size": "small",
                                          "ssh_key": alice_pub})
    expect_eq(status, 201, f"sync create ({vm!r})")
    status, job = owner.rest("POST", VMS + "?async=true",
                             {"name": "tour-async", "cpu": 1, "memory": 1, "storage": 10})
    expect_eq(status, 202, f"async create ({job!r})")
    status, got = owner.rest("GET", f"{VMS}/jobs/{job['job_id']}?wait=30")
    expect_eq(status, 200, f"job ({got!r})")
    for _ in range(20):
        if got["status"] != "creating":
            break
        status, got = owner.rest("GET", f"{VMS}/jobs/{job['job_id']}?wait=30")
    expect_eq(got["status"], "ready", f"the job ({got!r})")

    for method, path, body in (
            ("GET", VMS, None),
            ("GET", f"{VMS}/tour-sync", None),
            ("GET", f"{VMS}/tour-sync/access", None),
            ("POST", f"{VMS}/tour-async/ssh-keys", {"key": alice_pub, "name": "laptop"}),
            ("GET", f"{VMS}/tour-async/ssh-keys", None),
            ("DELETE", f"{VMS}/tour-async/ssh-keys/laptop", None),
            ("POST", f"{VMS}/tour-sync/stop", None),
            ("POST", f"{VMS}/tour-sync/start", None),
            ("DELETE", f"{VMS}/tour-sync", None),
            ("DELETE", f"{VMS}/tour-async", None)):
        status, data = owner.rest(method, path, body)
        expect(200 <= status < 300, f"{method} {path}: {status} ({data!r})")

    expect_seen("golem-provider.json", [
        ("/health", "GET", 200), ("/openapi.json", "GET", 200), ("/metrics", "GET", 200),
        ("/api/v1/provider/info", "GET", 200),
        ("/api/v1/vms", "POST", 201), ("/api/v1/vms", "POST", 202),
        ("/api/v1/vms/jobs/{job_id}", "GET", 200), ("/api/v1/vms", "GET", 200),
        ("/api/v1/vms/{name}", "GET", 200), ("/api/v1/vms/{name}/access", "GET", 200),
        ("/api/v1/vms/{name}/ssh-keys", "POST", 200), ("/api/v1/vms/{name}/ssh-keys", "GET", 200),
        ("/api/v1/vms/{name}/ssh-keys/{key_name}", "DELETE", 200),
        ("/api/v1/vms/{name}/stop", "POST", 200), ("/api/v1/vms/{name}/start", "POST", 200),
        ("/api/v1/vms/{name}", "DELETE", 200)])

    # Discovery: a provider signs its advertisement with its own key.
    provider_key, _ = make_key("provider", keydir, "provider")
    provider_signer = Signer(provider_key, "discovery")
    pid = ssh_identity(provider_key)
    body = json.dumps({"ip_address": "192.0.2.10", "country": "se", "platform": "x86_64",
                       "resources": {"cpu": 4, "memory": 8, "storage": 40, "gpu": 0},
                       "pricing": {"usd_per_core_hour": 0.02}, "api_port": 7466}).encode()

    def signed(method, target, payload=b""):
        headers = provider_signer.headers(method, target, payload)
        headers["X-Provider-Signature"] = headers.pop("X-Golem-Signature")
        headers["X-Provider-ID"] = pid
        if payload:
            headers["Content-Type"] = "application/json"
        return call(discovery, method, target, payload or None, headers)

    status, _, ad = signed("POST", ADS, body)
    expect_eq(status, 200, f"POST {ADS} ({ad!r})")
    expect_eq((ad["verified"], ad["country"]), (True, "SE"), "the stored advertisement")
    for target in (ADS, f"{ADS}?cpu=1&country=SE&verified=true&limit=5&offset=0", f"{ADS}/{pid}"):
        status, _, data = call(discovery, "GET", target)
        expect_eq(status, 200, f"GET {target} ({data!r})")
    status, _, data = signed("DELETE", f"{ADS}/{pid}")
    expect_eq((status, data), (200, {"status": "success"}), f"DELETE {ADS}/{pid}")
    call(discovery, "GET", "/health")
    call(discovery, "GET", "/openapi.json")
    http("GET", discovery.url + "/metrics")
    expect_seen("golem-discovery.json", [
        ("/health", "GET", 200), ("/openapi.json", "GET", 200), ("/metrics", "GET", 200),
        ("/api/v1/advertisements", "POST", 200), ("/api/v1/advertisements", "GET", 200),
        ("/api/v1/advertisements/{provider_id}", "GET", 200),
        ("/api/v1/advertisements/{provider_id}", "DELETE", 200)])


@case
def checker_refuses(binary):
    """The check every case runs is no yes-man: answers the documents do not
    describe fail it, with a message that says why."""
    provider_doc = golemopenapi.document("golem-providerd")
    vm = {"id": "web", "name": "web", "status": "running",
          "resources": {"cpu": 1, "memory": 1, "storage": 10}, "image": "ubuntu:24.04",
          "ip_address": None, "ssh_port": 50800, "created_at": "2026-11-23T17:04:05Z",
          "updated_at": "2026-11-23T17:04:05Z", "error_message": None}
    json_headers = {"x-request-id": "1", "content-type": "application/json"}

    def error(code):
        return {"detail": {"code": code, "message": "text"}}

    provider_doc.check("GET", "/api/v1/vms/web", 200, json_headers, vm)  # conforms
    bad = [
        ("GET", "/api/v1/vms/web", 200, json_headers, dict(vm, status="paused"), "status"),
        ("GET", "/api/v1/vms/web", 200, json_headers, dict(vm, extra=1), "extra"),
        ("GET", "/api/v1/vms/web", 200, {"content-type": "application/json"}, vm, "X-Request-ID"),
        ("GET", "/api/v1/vms/web", 418, json_headers, error("TEAPOT"), "does not document 418"),
        ("GET", "/api/v1/vms/web", 401, json_headers, error("VM_NOT_FOUND"), "AUTH_001"),
        ("GET", "/api/v1/vms/web", 404, json_headers, {"error": "not found"}, "detail"),
        ("GET", "/api/v1/nothing", 200, json_headers, {}, "not a path"),
        ("PUT", "/api/v1/vms/web", 405, dict(json_headers, allow="GET"),
         error("METHOD_NOT_ALLOWED"), "Allow"),
        ("POST", "/api/v1/vms", 429, json_headers, error("RATE_001"), "Retry-After"),
    ]
    for method, path, status, headers, data, why in bad:
        try:
            provider_doc.check(method, path, status, headers, data)
        except AssertionError as e:
            expect(why in str(e), f"{method} {path} -> {status}: refused, but the message "
                   f"does not say {why!r}: {e}")
            continue
        raise AssertionError(f"{method} {path} -> {status} {data!r}: taken, and "
                             "golem-provider.json does not describe it")


def ssh_identity(key):
    """The identity of a key: its SHA-256 fingerprint in base64url, no
    padding (what ssh-keygen -l prints after SHA256:, with - and _)."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", key + ".pub"],
                         check=True, capture_output=True, text=True).stdout
    return out.split()[1][len("SHA256:"):].replace("+", "-").replace("/", "_")


if __name__ == "__main__":
    sys.exit(main(binary="providerd", paths=("discovery", "multipass")))
