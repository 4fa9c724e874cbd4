#!/usr/bin/env python3
"""Integration tests for golem-discoveryd (behaviour contract: discovery-spec).

Every case starts its own daemon(s) on fresh ports in fresh temp dirs, so
cases can run in parallel.  Run ``--list`` for the case names.
"""

import concurrent.futures
import copy
import datetime
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golemworld import (ADS, Daemon, call, case,  # noqa: E402
                        discovery_daemon, expect, expect_eq, expect_error,
                        expect_refused, free_port, get_list, main,
                        start_activated, start_discovery, wait_for)

BASE = ADS
AD_KEYS = {"provider_id", "ip_address", "country", "platform", "resources",
           "pricing", "created_at", "updated_at", "api_port", "verified"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
MISSING = object()  # marks a field to remove in a body variant

VALID_BODY = {
    "ip_address": "192.0.2.1",
    "country": "DE",
    "platform": "x86_64",
    "resources": {"cpu": 2, "memory": 4, "storage": 20},
    "pricing": {"usd_per_core_month": 1.5},
}


# --------------------------------------------------------------------------
# helpers


def creds(provider_id):
    return {"X-Provider-ID": provider_id,
            "X-Provider-Signature": "signature-of-" + provider_id}


def ad_body(ip="192.0.2.1", country="DE", cpu=2, memory=4, storage=20,
            platform=None, **extra):
    """An advertisement body; extra keyword arguments become extra fields."""
    body = {"ip_address": ip, "country": country,
            "resources": {"cpu": cpu, "memory": memory, "storage": storage}}
    if platform is not None:
        body["platform"] = platform
    body.update(extra)
    return body


def post_ad(d, provider_id, body=None):
    """POST an advertisement; returns the stored one (expects 200)."""
    status, _, data = call(d, "POST", BASE, body or ad_body(),
                           creds(provider_id))
    expect_eq(status, 200, f"POST {provider_id}: status (body {data!r})")
    check_ad(data, f"POST {provider_id}")
    expect_eq(data["provider_id"], provider_id, "provider_id")
    return data


def get_ad(d, provider_id):
    """GET one advertisement; returns it (expects 200)."""
    status, _, data = call(d, "GET", f"{BASE}/{provider_id}")
    expect_eq(status, 200, f"GET {provider_id}: status (body {data!r})")
    check_ad(data, f"GET {provider_id}")
    return data


def list_ads(d, query=""):
    """GET the list with ``query``; returns it (expects 200)."""
    return get_list(d, BASE + (f"?{query}" if query else ""), check_ad)


def list_ids(d, query=""):
    return [ad["provider_id"] for ad in list_ads(d, query)]


def check_ad(ad, what):
    """The shape of an advertisement as returned."""
    expect(isinstance(ad, dict), f"{what}: not an object: {ad!r}")
    expect_eq(set(ad), AD_KEYS, f"{what}: advertisement keys")
    for key in ("created_at", "updated_at"):
        expect(isinstance(ad[key], str) and TIMESTAMP.match(ad[key]),
               f"{what}: {key} {ad[key]!r} is not RFC 3339 UTC with a Z")
    expect("signature" not in str(ad).lower(),
           f"{what}: the signature is returned: {ad!r}")


def timestamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def variant(path, value):
    """VALID_BODY with the dotted ``path`` set to ``value`` (or removed)."""
    body = copy.deepcopy(VALID_BODY)
    *parents, last = path.split(".")
    node = body
    for name in parents:
        node = node[name]
    if value is MISSING:
        del node[last]
    else:
        node[last] = value
    return body


# --------------------------------------------------------------------------
# cases: basic API


@case
def health(binary):
    """GET /health is 200 {"status":"healthy"} with a fresh X-Request-ID."""
    d = start_discovery(binary)
    ids = set()
    for _ in range(2):
        status, hdrs, data = call(d, "GET", "/health")
        expect_eq(status, 200, "GET /health status")
        expect_eq(data, {"status": "healthy"}, "GET /health body")
        ids.add(hdrs["x-request-id"])
    expect_eq(len(ids), 2, "distinct X-Request-IDs for two requests")


@case
def post_get_roundtrip(binary):
    """POST stores every field in canonical form; GET and the list return
    the same object, and the signature is never returned."""
    d = start_discovery(binary)
    pid = "Prov-1.a_b:c"
    pricing = {"usd_per_core_month": 5.5, "usd_per_gb_ram_month": 1,
               "usd_per_gb_storage_month": 0.25}
    body = ad_body(ip="2001:DB8:0:0:1:0:0:1", country="nl", cpu=4, memory=8,
                   storage=100, platform="x86_64", pricing=pricing,
                   comment="unknown top-level fields are ignored")
    body["resources"]["gpu"] = 2
    ad = post_ad(d, pid, body)
    expect_eq(ad["ip_address"], "2001:db8::1:0:0:1", "ip_address (canonical)")
    expect_eq(ad["country"], "NL", "country (upper-cased)")
    expect_eq(ad["platform"], "x86_64", "platform")
    expect_eq(ad["resources"], {"cpu": 4, "memory": 8, "storage": 100,
                                "gpu": 2}, "resources (gpu kept)")
    expect_eq(ad["pricing"], pricing, "pricing")
    expect(timestamp(ad["created_at"]) <= timestamp(ad["updated_at"]),
           f"created_at after updated_at: {ad!r}")
    expect_eq(get_ad(d, pid), ad, f"GET {pid} vs the POST answer")
    expect_eq(list_ads(d), [ad], "list vs the POST answer")


@case
def upsert_update(binary):
    """A second POST by the same provider replaces the advertisement, keeps
    created_at, advances updated_at, and clears optional fields left out."""
    d = start_discovery(binary)
    first = post_ad(d, "upserter", ad_body(
        ip="2001:db8::5", platform="arm64", pricing={"usd_per_core_month": 2}))
    time.sleep(1.1)  # timestamps may have one-second resolution
    second = post_ad(d, "upserter", ad_body(
        ip="192.0.2.10", country="fr", cpu=6, memory=12, storage=60))
    expect_eq(second["created_at"], first["created_at"], "created_at kept")
    expect(timestamp(second["updated_at"]) > timestamp(first["updated_at"]),
           f"updated_at did not advance: {first['updated_at']} -> "
           f"{second['updated_at']}")
    expect_eq(second["ip_address"], "192.0.2.10", "ip_address updated")
    expect_eq(second["country"], "FR", "country updated")
    expect_eq(second["resources"], {"cpu": 6, "memory": 12, "storage": 60},
              "resources updated")
    expect_eq(second["platform"], None, "platform left out -> null")
    expect_eq(second["pricing"], None, "pricing left out -> null")
    expect_eq(get_ad(d, "upserter"), second, "GET after update")
    expect_eq(list_ads(d), [second], "list after update (one entry)")


@case
def accepts_edge_values(binary):
    """Values at the edges of what the spec allows are accepted as sent."""
    d = start_discovery(binary)
    extras = {f"x{i}": i for i in range(15)}
    extras["k" * 32] = 0
    resources = {"cpu": 2147483647, "memory": 1, "storage": 1, **extras}
    pricing = {f"p{i}": i / 2 for i in range(15)}
    pricing["z" * 32] = 1e6
    platform = "Aa0._-" + "p" * 26
    ad = post_ad(d, "edge", ad_body(ip="::ffff:192.0.2.1", country="jp",
                                    platform=platform, pricing=pricing,
                                    extra={"nested": [1, 2]}))
    expect_eq(ad["ip_address"], "::ffff:192.0.2.1", "IPv4-mapped ip_address")
    expect_eq(ad["country"], "JP", "country")
    ad = post_ad(d, "edge", dict(ad_body(platform=platform, pricing=pricing),
                                 resources=resources))
    expect_eq(ad["resources"], resources, "16 extra resources, edge values")
    expect_eq(ad["pricing"], pricing, "16 pricing keys")
    expect_eq(ad["platform"], platform, "32-character platform")
    for pid in ("a", "A" * 64 + "0._:-" * 12 + "wxyz"):  # 1 and 128 chars
        post_ad(d, pid, ad_body(ip="FE80::1"))
        expect_eq(get_ad(d, pid)["ip_address"], "fe80::1", f"GET {pid}")


@case
def list_filters(binary):
    """cpu/memory/storage are minimums, country is case-insensitive,
    platform is exact, filters combine."""
    d = start_discovery(binary)
    seed_board(d)
    cases = [
        ("cpu=8", ["pa", "pb", "pc", "pd"]),
        ("cpu=5", ["pa", "pb", "pc", "pd"]),
        ("cpu=9", []),
        ("memory=32", ["pa", "pb", "pc", "pf"]),
        ("storage=500", ["pa", "pb", "pd"]),
        ("cpu=4&memory=32&storage=200", ["pa", "pb", "pc"]),
        ("country=de", ["pa", "pd", "pe"]),
        ("country=DE", ["pa", "pd", "pe"]),
        ("country=De", ["pa", "pd", "pe"]),
        ("country=US", ["pc", "pf"]),
        ("country=JP", []),
        ("platform=x86_64", ["pa", "pc", "pf"]),
        ("platform=arm64", ["pb", "pe"]),
        ("platform=X86_64", []),
        ("platform=x86", []),
        ("country=de&platform=x86_64", ["pa"]),
        ("cpu=1&memory=1&storage=1", ["pa", "pb", "pc", "pd", "pf", "pe"]),
        ("unknown=1", ["pa", "pb", "pc", "pd", "pf", "pe"]),
    ]
    for query, expected in cases:
        expect_eq(list_ids(d, query), expected, f"providers for ?{query}")


@case
def list_order_and_paging(binary):
    """Order is cpu, memory, storage descending then provider_id ascending;
    limit and offset page through that order."""
    d = start_discovery(binary)
    seed_board(d)
    order = ["pa", "pb", "pc", "pd", "pf", "pe"]
    expect_eq(list_ids(d), order, "default order")
    cases = [
        ("limit=2", order[:2]),
        ("limit=2&offset=2", order[2:4]),
        ("offset=5", order[5:]),
        ("offset=6", []),
        ("offset=1000", []),
        ("limit=1&offset=3", order[3:4]),
        ("limit=10000", order),
        ("limit=1000&offset=0", order),
        ("cpu=8&limit=3&offset=1", ["pb", "pc", "pd"]),
    ]
    for query, expected in cases:
        expect_eq(list_ids(d, query), expected, f"providers for ?{query}")


def seed_board(d):
    """Six advertisements whose order exercises every sort key.

    Expected order: pa, pb (tie broken by id), pc (storage), pd (memory),
    pf (cpu), pe.  They are posted shuffled.
    """
    ads = {
        "pe": ad_body(cpu=2, memory=4, storage=50, country="de",
                      platform="arm64"),
        "pb": ad_body(cpu=8, memory=32, storage=500, country="FR",
                      platform="arm64"),
        "pd": ad_body(cpu=8, memory=16, storage=900, country="DE"),
        "pf": ad_body(cpu=4, memory=64, storage=100, country="US",
                      platform="x86_64"),
        "pa": ad_body(cpu=8, memory=32, storage=500, country="DE",
                      platform="x86_64"),
        "pc": ad_body(cpu=8, memory=32, storage=200, country="us",
                      platform="x86_64"),
    }
    for pid, body in ads.items():
        post_ad(d, pid, body)


# --------------------------------------------------------------------------
# cases: error paths


@case
def auth_errors(binary):
    """Missing, empty or malformed credentials are 401 AUTH_003 for POST
    and DELETE; deleting someone else's advertisement is 401 AUTH_004."""
    d = start_discovery(binary)
    sig = "X-Provider-Signature"
    bad = [
        ("no headers", {}),
        ("no signature", {"X-Provider-ID": "p1"}),
        ("no provider id", {sig: "s"}),
        ("empty provider id", {"X-Provider-ID": "", sig: "s"}),
        ("empty signature", {"X-Provider-ID": "p1", sig: ""}),
        ("id with a space", {"X-Provider-ID": "bad id", sig: "s"}),
        ("id with a slash", {"X-Provider-ID": "a/b", sig: "s"}),
        ("id of 129 chars", {"X-Provider-ID": "x" * 129, sig: "s"}),
    ]
    for label, headers in bad:
        expect_error(call(d, "POST", BASE, ad_body(), headers), 401,
                     "AUTH_003", f"POST with {label}")
    expect_eq(list_ads(d), [], "nothing stored by rejected POSTs")
    post_ad(d, "owner")
    for label, headers in bad[:5]:
        expect_error(call(d, "DELETE", f"{BASE}/owner", headers=headers),
                     401, "AUTH_003", f"DELETE with {label}")
    expect_error(call(d, "DELETE", f"{BASE}/owner", headers=creds("other")),
                 401, "AUTH_004", "DELETE by another provider")
    get_ad(d, "owner")  # still there


@case
def delete_and_not_found(binary):
    """DELETE answers {"status":"success"}; afterwards GET and DELETE are
    404 ADV_004, as they are for an id never advertised."""
    d = start_discovery(binary)
    post_ad(d, "doomed")
    post_ad(d, "survivor")
    status, _, data = call(d, "DELETE", f"{BASE}/doomed",
                           headers=creds("doomed"))
    expect_eq((status, data), (200, {"status": "success"}), "DELETE answer")
    expect_error(call(d, "GET", f"{BASE}/doomed"), 404, "ADV_004",
                 "GET after DELETE")
    expect_error(call(d, "DELETE", f"{BASE}/doomed", headers=creds("doomed")),
                 404, "ADV_004", "second DELETE")
    expect_eq(list_ids(d), ["survivor"], "list after DELETE")
    expect_error(call(d, "GET", f"{BASE}/nobody"), 404, "ADV_004",
                 "GET of an unknown id")
    expect_error(call(d, "DELETE", f"{BASE}/nobody", headers=creds("nobody")),
                 404, "ADV_004", "DELETE of an unknown id")
    post_ad(d, "doomed")  # may advertise again


def invalid_bodies():
    """(label, body, fields the 422 message must name one of)."""
    rows = [
        ("not JSON", b"{not json", None),
        ("empty body", b"", None),
        ("array body", b"[]", None),
        ("string body", b'"text"', None),
        ("number body", b"42", None),
        ("null body", b"null", None),
        ("infinite price", b'{"ip_address": "192.0.2.1", "country": "DE", '
         b'"resources": {"cpu": 1, "memory": 1, "storage": 1}, '
         b'"pricing": {"usd": 1e999}}', None),
    ]
    for path, values, fields in FIELD_TABLE:
        for value in values:
            shown = "missing" if value is MISSING else repr(value)[:60]
            rows.append((f"{path}={shown}", variant(path, value), fields))
    return rows


FIELD_TABLE = [
    # (dotted field, invalid values, names the message may use)
    ("ip_address", [MISSING, "999.2.3.4", "1.2.3", "", "example.com",
                    "2001:db8::g", "192.0.2.1/24", 3221225985, None],
     "ip_address"),
    ("country", [MISSING, "XX", "USA", "u1", "", 49, None], "country"),
    ("resources", [MISSING, [], "2", None,
                   {"cpu": 1, "memory": 1, "storage": 1,
                    **{f"x{i}": 1 for i in range(17)}}], "resources"),
    ("resources.cpu", [MISSING, 2.0, "2", 0, -1, True, None, 2147483648],
     "cpu"),
    ("resources.memory", [MISSING, 2.0, "2", 0, -1, True, None, 2147483648],
     "memory"),
    ("resources.storage", [MISSING, 2.0, "2", 0, -1, True, None, 2147483648],
     "storage"),
    ("resources.gpu", [-1, 1.5, "1", True, None], "gpu"),
    ("resources.GPU", [1], ("GPU", "resources")),
    ("resources.bad-key", [1], ("bad-key", "resources")),
    ("resources." + "k" * 33, [1], ("k" * 33, "resources")),
    ("platform", ["", "p" * 33, "x86 64", "x86/64", 5], "platform"),
    ("pricing", ["cheap", [], 5, {f"p{i}": 1 for i in range(17)}],
     "pricing"),
    ("pricing.usd", [-1, -0.5, "1", True, None, [1]], ("usd", "pricing")),
    ("pricing.Bad", [1], ("Bad", "pricing")),
    ("pricing.bad-key", [1], ("bad-key", "pricing")),
    ("pricing." + "z" * 33, [1], ("z" * 33, "pricing")),
]


@case
def validation_errors(binary):
    """Every invalid body listed in the spec is 422 VALIDATION_ERROR with
    the field named, and nothing is stored."""
    d = start_discovery(binary)
    for label, body, fields in invalid_bodies():
        expect_error(call(d, "POST", BASE, body, creds("val")), 422,
                     "VALIDATION_ERROR", f"POST {label}", fields)
    expect_eq(list_ads(d), [], "nothing stored by invalid POSTs")


@case
def query_errors(binary):
    """Bad list parameters: non-integers 422, minimums below 1 400 ADV_002,
    limit outside 1..10000 and negative offset 422, bad country 422."""
    d = start_discovery(binary)
    rows = [
        ("cpu=abc", 422, "VALIDATION_ERROR", "cpu"),
        ("cpu=1.5", 422, "VALIDATION_ERROR", "cpu"),
        ("memory=x", 422, "VALIDATION_ERROR", "memory"),
        ("storage=1e3", 422, "VALIDATION_ERROR", "storage"),
        ("cpu=0", 400, "ADV_002", None),
        ("cpu=-1", 400, "ADV_002", None),
        ("memory=0", 400, "ADV_002", None),
        ("storage=0", 400, "ADV_002", None),
        ("limit=abc", 422, "VALIDATION_ERROR", "limit"),
        ("limit=2.5", 422, "VALIDATION_ERROR", "limit"),
        ("limit=0", 422, "VALIDATION_ERROR", "limit"),
        ("limit=-5", 422, "VALIDATION_ERROR", "limit"),
        ("limit=10001", 422, "VALIDATION_ERROR", "limit"),
        ("offset=x", 422, "VALIDATION_ERROR", "offset"),
        ("offset=1.5", 422, "VALIDATION_ERROR", "offset"),
        ("offset=-1", 422, "VALIDATION_ERROR", "offset"),
        ("country=XX", 422, "VALIDATION_ERROR", "country"),
        ("country=USA", 422, "VALIDATION_ERROR", "country"),
    ]
    for query, status, code, field in rows:
        expect_error(call(d, "GET", f"{BASE}?{query}"), status, code,
                     f"GET ?{query}", field)
    for query in ("limit=1", "limit=10000", "offset=0", "cpu=1", "foo=bar"):
        list_ads(d, query)


@case
def payload_too_large(binary):
    """A 70 KiB body is 413 PAYLOAD_TOO_LARGE and stores nothing; a 60 KiB
    one (unknown padding field) is accepted."""
    d = start_discovery(binary)
    big = ad_body(padding="x" * (70 * 1024))
    expect_error(call(d, "POST", BASE, big, creds("big")), 413,
                 "PAYLOAD_TOO_LARGE", "POST of 70 KiB")
    expect_error(call(d, "GET", f"{BASE}/big"), 404, "ADV_004",
                 "GET after the 413")
    post_ad(d, "fits", ad_body(padding="x" * (60 * 1024)))


@case
def unknown_path(binary):
    """Unknown paths are 404 NOT_FOUND with the error envelope."""
    d = start_discovery(binary)
    for path in ("/", "/nope", "/api/v1", "/api/v1/providers",
                 "/api/v2/advertisements", "/health/extra"):
        expect_error(call(d, "GET", path), 404, "NOT_FOUND", f"GET {path}")


@case
def method_not_allowed(binary):
    """A known path with the wrong method is 405 METHOD_NOT_ALLOWED with
    an Allow header listing the methods that work (HEAD wherever GET)."""
    d = start_discovery(binary)
    rows = [
        ("PUT", BASE, {"GET", "HEAD", "POST"}),
        ("DELETE", BASE, {"GET", "HEAD", "POST"}),
        ("PATCH", BASE, {"GET", "HEAD", "POST"}),
        ("POST", "/health", {"GET", "HEAD"}),
        ("DELETE", "/health", {"GET", "HEAD"}),
        ("PUT", f"{BASE}/p1", {"GET", "HEAD", "DELETE"}),
        ("POST", f"{BASE}/p1", {"GET", "HEAD", "DELETE"}),
        ("PATCH", f"{BASE}/p1", {"GET", "HEAD", "DELETE"}),
    ]
    for method, path, needed in rows:
        what = f"{method} {path}"
        hdrs = expect_error(call(d, method, path, b"{}", creds("p1")), 405,
                            "METHOD_NOT_ALLOWED", what)
        expect("allow" in hdrs, f"{what}: no Allow header")
        allowed = {m.strip().upper() for m in hdrs["allow"].split(",")}
        expect(needed == allowed,
               f"{what}: Allow is {hdrs['allow']!r}, expected {needed}")


# --------------------------------------------------------------------------
# cases: rate limit, expiry, durability


@case
def rate_limit(binary):
    """With 5 requests per minute the 6th API request from one IP is 429
    RATE_001 with Retry-After; /health and other IPs are not limited."""
    d = start_discovery(binary, RATE_LIMIT_PER_MINUTE=5)
    for i in range(5):
        status, _, data = call(d, "GET", BASE)
        expect_eq(status, 200, f"API request {i + 1} of 5 (body {data!r})")
    limited = [("POST", BASE, ad_body(), creds("p1")),
               ("GET", BASE, None, None),
               ("GET", f"{BASE}/p1", None, None),
               ("DELETE", f"{BASE}/p1", None, creds("p1"))]
    for method, path, body, headers in limited:
        hdrs = expect_error(call(d, method, path, body, headers), 429,
                            "RATE_001", f"{method} {path} over the limit")
        retry = hdrs.get("retry-after", "")
        expect(retry.isdigit() and 1 <= int(retry) <= 60,
               f"{method} {path}: Retry-After {retry!r} is not 1..60 s")
    for _ in range(3):
        status, _, _ = call(d, "GET", "/health")
        expect_eq(status, 200, "/health while rate limited")
    status, _, _ = call(d, "GET", BASE, source="127.0.0.2")
    expect_eq(status, 200, "another client IP (127.0.0.2)")


@case
def expiry(binary):
    """With a 2 s TTL an advertisement that is not refreshed disappears
    from the list and its GET/DELETE become 404; a refreshed one stays."""
    d = start_discovery(binary, ADVERTISEMENT_TTL=2,
                        CLEANUP_INTERVAL_SEC=1)
    post_ad(d, "fading")
    post_ad(d, "refreshed")
    get_ad(d, "fading")
    expect_eq(sorted(list_ids(d)), ["fading", "refreshed"], "fresh list")

    def faded():
        if "fading" not in list_ids(d):
            return True
        post_ad(d, "refreshed")
    wait_for("'fading' to go from the list after its 2 s TTL", faded, 20,
             0.5)
    expect_error(call(d, "GET", f"{BASE}/fading"), 404, "ADV_004",
                 "GET of an expired advertisement")
    expect_error(call(d, "DELETE", f"{BASE}/fading", headers=creds("fading")),
                 404, "ADV_004", "DELETE of an expired advertisement")
    post_ad(d, "refreshed")
    expect_eq(list_ids(d), ["refreshed"], "list keeps the refreshed one")


@case
def durability_kill9(binary):
    """200 acknowledged POSTs (8 clients in parallel) survive kill -9 and
    are served unchanged after a restart on the same DATABASE_DIR."""
    d = start_discovery(binary)
    pids = [f"durable-{i:03d}" for i in range(200)]

    def post(i):
        return post_ad(d, pids[i], ad_body(
            ip=f"192.0.2.{i % 250 + 1}", cpu=i % 16 + 1, memory=i + 1,
            storage=1000 - i))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        acked = list(pool.map(post, range(200)))
    d.kill9()
    db_dir = d.env["GOLEM_DISCOVERY_DATABASE_DIR"]
    if "GOLEM_DISCOVERY_DATABASE_URL" not in d.env:  # else PostgreSQL's
        expect(os.path.exists(os.path.join(db_dir, "discovery.db")),
               f"no discovery.db in {db_dir}")
    d2 = start_discovery(binary, db_dir=db_dir, name="discoveryd-restarted")
    after = {ad["provider_id"]: ad for ad in list_ads(d2, "limit=1000")}
    missing = sorted(set(pids) - set(after))
    expect(not missing, f"{len(missing)} acknowledged advertisements lost, "
           f"e.g. {missing[:5]}")
    for ad in acked:
        expect_eq(after[ad["provider_id"]], ad, "advertisement after restart")
    expect_eq(len(after), 200, "number of advertisements after restart")


@case
def database_location(binary):
    """The database is DATABASE_DIR/discovery.db, DATABASE_DIR defaults to
    $STATE_DIRECTORY, and DATABASE_PATH overrides both."""
    d = discovery_daemon(binary, name="state-directory")
    del d.env["GOLEM_DISCOVERY_DATABASE_DIR"]
    os.makedirs(d.path("state"))
    d.env["STATE_DIRECTORY"] = d.path("state")
    d.start().wait_ready()
    post_ad(d, "p1")
    expect(os.path.exists(d.path("state", "discovery.db")),
           "no discovery.db in $STATE_DIRECTORY")
    d.stop()
    d = discovery_daemon(binary, name="database-path")
    d.env["GOLEM_DISCOVERY_DATABASE_PATH"] = d.path("custom.db")
    d.start().wait_ready()
    post_ad(d, "p1")
    expect(os.path.exists(d.path("custom.db")), "no file at DATABASE_PATH")
    expect(not os.path.exists(d.path("db", "discovery.db")),
           "DATABASE_PATH set, yet DATABASE_DIR/discovery.db was created")
    d.stop()


# --------------------------------------------------------------------------
# cases: process lifecycle and configuration


@case
def notify_and_sigterm(binary):
    """READY=1 arrives once the port answers; SIGTERM sends STOPPING=1 and
    the daemon exits 0 and stops listening."""
    d = start_discovery(binary)
    status, _, _ = call(d, "GET", "/health")
    expect_eq(status, 200, "/health right after READY=1")
    d.stop(signal.SIGTERM)
    expect(d.notify_index("READY=1") < d.notify_index("STOPPING=1"),
           f"STOPPING=1 before READY=1: {d.notifications!r}")
    expect_refused(d.host, d.port, "after exit")


@case
def sigint_clean_exit(binary):
    """SIGINT stops the daemon like SIGTERM: STOPPING=1 and exit 0."""
    d = start_discovery(binary)
    post_ad(d, "p1")
    d.stop(signal.SIGINT)


@case
def socket_activation(binary):
    """Under systemd-socket-activate the daemon serves the passed socket
    (answering the connection that activated it), binds nothing itself,
    sends READY=1, and stops cleanly."""
    d = discovery_daemon(binary)
    decoy = start_activated(d, "GOLEM_DISCOVERY_PORT")
    ad = post_ad(d, "activated", ad_body(ip="2001:db8::7", country="se"))
    expect_eq(get_ad(d, "activated"), ad, "GET after POST")
    expect_refused("127.0.0.1", decoy, "GOLEM_DISCOVERY_PORT when activated")
    d.stop()


@case
def ipv6_listen(binary):
    """GOLEM_DISCOVERY_HOST=::1 serves HTTP on the IPv6 loopback."""
    d = start_discovery(binary, host="::1")
    status, _, data = call(d, "GET", "/health")
    expect_eq((status, data), (200, {"status": "healthy"}), "/health on ::1")
    post_ad(d, "v6")
    expect_eq(list_ids(d), ["v6"], "list on ::1")
    d.stop()


@case
def config_file(binary):
    """--config FILE supplies the settings; environment variables win."""
    d = Daemon(binary, name="from-file")
    write_config(d, port=d.port, rate_limit=2)
    d.args = ["--config", d.path("discovery.conf")]
    d.start().wait_ready()
    for _ in range(2):
        expect_eq(call(d, "GET", BASE)[0], 200, "request within RateLimit=2")
    expect_error(call(d, "GET", BASE), 429, "RATE_001",
                 "3rd request with RateLimitPerMinute=2 from the file")
    d.stop()

    d = Daemon(binary, name="env-wins")
    decoy = free_port()
    write_config(d, port=decoy, rate_limit=2)
    d.args = ["--config", d.path("discovery.conf")]
    d.env.update({"GOLEM_DISCOVERY_PORT": str(d.port),
                  "GOLEM_DISCOVERY_RATE_LIMIT_PER_MINUTE": "0"})
    d.start().wait_ready()
    for _ in range(4):
        expect_eq(call(d, "GET", BASE)[0], 200, "env: rate limit off")
    expect_refused("127.0.0.1", decoy, "Port= from the file (env overrides)")
    d.stop()


def write_config(d, port, rate_limit):
    os.makedirs(d.path("db"))
    with open(d.path("discovery.conf"), "w") as f:
        f.write("# test configuration\n[Discovery]\n"
                f"Host=127.0.0.1\nPort={port}\nDatabaseDir={d.path('db')}\n"
                f"RateLimitPerMinute={rate_limit}\n")


@case
def config_file_bad_value(binary):
    """A bad value in the config file exits 1 naming the file and key."""
    d = Daemon(binary, name="bad-file")
    conf = d.path("discovery.conf")
    with open(conf, "w") as f:
        f.write("[Discovery]\nHost=127.0.0.1\nPort=notaport\n"
                f"DatabaseDir={d.workdir}\n")
    d.args = ["--config", conf]
    expect_bad_config(d.start(), [conf, "Port"], "Port=notaport in the file")


def expect_bad_config(d, words, what):
    """The daemon exits 1 without READY=1, stderr naming all of ``words``."""
    code = d.wait_exit(15)
    err = d.stderr()
    expect_eq(code, 1, f"{what}: exit code (stderr {err!r})")
    expect(not d.notified("READY=1"), f"{what}: sent READY=1")
    for word in words:
        expect(word in err, f"{what}: stderr does not name {word}: {err!r}")


@case
def bad_config_port(binary):
    """GOLEM_DISCOVERY_PORT=notaport exits 1 naming GOLEM_DISCOVERY_PORT."""
    d = discovery_daemon(binary, PORT="notaport")
    expect_bad_config(d.start(), ["GOLEM_DISCOVERY_PORT"],
                      "GOLEM_DISCOVERY_PORT=notaport")


@case
def bad_config_values(binary):
    """Other invalid GOLEM_DISCOVERY_* values exit 1 naming the variable."""
    rows = [("PORT", "70000"), ("PORT", "-1"),
            ("RATE_LIMIT_PER_MINUTE", "lots"), ("RATE_LIMIT_PER_MINUTE", "-1"),
            ("ADVERTISEMENT_TTL", "soon"),
            ("CLEANUP_INTERVAL_SEC", "often")]
    for key, value in rows:
        d = discovery_daemon(binary, name=f"bad-{key.lower()}", **{key: value})
        expect_bad_config(d.start(), ["GOLEM_DISCOVERY_" + key],
                          f"GOLEM_DISCOVERY_{key}={value}")


@case
def check_config_option(binary):
    """--check-config prints the effective settings (file, drop-ins, then the
    environment) and exits 0 without serving; a bad value exits 1 naming it."""
    d = discovery_daemon(binary, name="check-config", ADVERTISEMENT_TTL="600")
    conf = d.path("discovery.conf")
    with open(conf, "w") as f:
        f.write("[Discovery]\nCleanupIntervalSec=30\nAdvertisementTTL=100\n")
    os.makedirs(conf + ".d")
    with open(conf + ".d/10-limit.conf", "w") as f:
        f.write("[Discovery]\nRateLimitPerMinute=7\n")
    del d.env["GOLEM_DISCOVERY_RATE_LIMIT_PER_MINUTE"]
    d.args = ["--config", conf, "--check-config"]
    d.start()
    expect_eq(d.wait_exit(15), 0, "--check-config exit code" + d.tail())
    out = d.stdout()
    for line in ("[Discovery]", f"Port={d.port}", "CleanupIntervalSec=30",
                 "AdvertisementTTL=600", "RateLimitPerMinute=7",
                 "AllowUnsignedAdvertisements=yes"):
        expect(line in out.splitlines(), f"--check-config lacks {line!r}: {out!r}")
    expect(not d.notified("READY=1"), "--check-config sent READY=1")
    expect_refused("127.0.0.1", d.port, "--check-config")

    bad = discovery_daemon(binary, name="check-bad", CLEANUP_INTERVAL_SECONDS="often")
    bad.args = ["--check-config"]
    expect_bad_config(bad.start(), ["GOLEM_DISCOVERY_CLEANUP_INTERVAL_SECONDS"],
                      "--check-config with a bad value")
    expect_eq(bad.stdout(), "", "--check-config printed settings despite the error")


@case
def status_line(binary):
    """STATUS= (what systemctl status shows) says how many advertisements are
    live, counted at start and at each sweep."""
    d = start_discovery(binary, CLEANUP_INTERVAL_SEC=1, ADVERTISEMENT_TTL=3)
    line = re.compile(r"^(\d+) live advertisements? \(at \d\d:\d\d:\d\d UTC\)\.$")
    wait_for("STATUS= at start", lambda: line.match(d.statuses()[-1]) and
             d.statuses()[-1].startswith("0 live advertisements "))
    post_ad(d, "status-1")
    post_ad(d, "status-2")
    wait_for("STATUS= to count two", lambda: d.statuses()[-1].startswith("2 live advertisements "),
             timeout=10)
    wait_for("STATUS= once they expired", lambda: d.statuses()[-1].startswith("0 live advertisements "),
             timeout=15)


@case
def help_option(binary):
    """--help exits 0 and describes --config, --help and --version."""
    d = Daemon(binary, args=["--help"], name="help").start()
    expect_eq(d.wait_exit(15), 0, "--help exit code" + d.tail())
    text = d.stdout()
    for option in ("--config", "--help", "--version", "--check-config"):
        expect(option in text, f"--help output lacks {option}: {text!r}")
    expect(not d.notified("READY=1"), "--help sent READY=1")


@case
def version_option(binary):
    """--version exits 0 and prints a version."""
    d = Daemon(binary, args=["--version"], name="version").start()
    expect_eq(d.wait_exit(15), 0, "--version exit code" + d.tail())
    text = d.stdout()
    expect(re.search(r"\d", text), f"--version printed no version: {text!r}")


if __name__ == "__main__":
    raise SystemExit(main(binary="discovery"))
