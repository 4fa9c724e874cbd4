#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""GET /metrics of both daemons after real traffic (man golem-providerd and
golem-discoveryd, METRICS).

    test-metrics.py --binary golem-providerd --discovery golem-discoveryd \\
                    --multipass tests/multipass [CASE]

Each scrape is checked by Prometheus' own promtool and read by the parser
of golemmetrics.py, which also holds it to the text format 0.0.4.  The
values asserted are what the traffic the case made must have moved.
"""

import sys
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golemmetrics import Exposition, scrape  # noqa: E402
from golemworld import (ADS, CAPACITY, VMS, Standin, case, expect,  # noqa: E402
                        expect_eq, http, main, provider, random_public_key,
                        start_discovery, wait_advertised, wait_for)
GIB = 1024 ** 3
SMALL = {"cpu": 1, "memory": 1, "storage": 10}
VM_STATES = ("creating", "running", "stopping", "stopped", "starting",
             "deleting", "error")


def requests(m, route, method, status):
    return m.value("golem_http_requests_total", route=route, method=method,
                   status=str(status))


def expect_http_families(m, who):
    for name, kind in (("golem_http_requests_total", "counter"),
                       ("golem_http_request_duration_seconds", "histogram"),
                       ("golem_http_rate_limited_requests_total", "counter"),
                       ("golem_http_refused_total", "counter"),
                       ("golem_http_connections", "gauge"),
                       ("golem_http_connections_max", "gauge")):
        expect_eq(m.types.get(name), kind, f"{who}: the type of {name}")
        expect(m.helps.get(name), f"{who}: {name} has no HELP")
    expect(m.get("golem_http_connections") >= 1, f"{who}: our own connection")


def expect_routes_only(m, routes, who):
    """No label value a client made up: routes are patterns or "other"."""
    got = m.label_values("golem_http_requests_total", "route")
    expect(got <= set(routes) | {"other"},
           f"{who}: route label values {sorted(got - set(routes))} are not patterns")


# --------------------------------------------------------------------------
# the cases


@case
def provider_metrics(binary):
    """A provider advertising to a real discovery service: VMs by state
    (every state, 0 included), the ledger's capacity and free resources in
    bytes, a create that runs moves them and lands in the create histogram,
    one whose launch fails is counted as a create failure and a driver error,
    the advertiser's posts and last success, and the HTTP requests made,
    by route pattern."""
    discovery = start_discovery()
    mp = Standin(BOOT_SECONDS=0.1, PREPARE_SECONDS=0.05)
    p = provider(binary, mp, discovery=discovery).start().wait_ready()
    pid = http("GET", p.url + "/api/v1/provider/info")[2]["provider_id"]
    wait_advertised(discovery, pid, {"cpu": CAPACITY["cpu"]})

    m0 = scrape(p)
    expect_http_families(m0, "provider")
    for state in VM_STATES:
        expect_eq(m0.get("golem_provider_vms", state=state), 0, f"VMs {state} at start")
    expect_eq(m0.types["golem_provider_vms"], "gauge", "golem_provider_vms' type")
    for resource, unit in (("cpu", 1), ("memory", GIB), ("storage", GIB)):
        name = {"cpu": "cpus", "memory": "memory_bytes", "storage": "storage_bytes"}[resource]
        expect_eq(m0.get(f"golem_provider_capacity_{name}"), CAPACITY[resource] * unit,
                  f"capacity {resource}")
        expect_eq(m0.get(f"golem_provider_free_{name}"), CAPACITY[resource] * unit,
                  f"free {resource} at start")
    expect(m0.get("golem_provider_advertisements_posted_total") >= 1,
           "no advertisement posted, yet discovery has it")
    last = m0.get("golem_provider_advertiser_last_success_timestamp_seconds")
    expect(abs(last - time.time()) < 120, f"last advertisement at {last}, now {time.time()}")
    expect_eq(m0.get("golem_provider_advertiser_failures_total"), 0, "advertiser failures")
    expect_eq(m0.get("golem_provider_vm_create_duration_seconds_count"), 0, "creates at start")
    expect_eq(m0.get("golem_provider_driver_errors_total", driver="multipass",
                     operation="launch"), 0, "launch errors at start")

    # A create that runs, and the traffic around it.
    p.create_vm("counted", size="small")
    for _ in range(3):
        expect_eq(http("GET", f"{p.url}{VMS}/counted")[0], 200, "GET the VM")
    expect_eq(http("GET", f"{p.url}{VMS}/nothing-here")[0], 404, "GET a VM that is not")
    expect_eq(http("GET", p.url + "/no/such/path/x1y2")[0], 404, "an unrouted path")
    posted = m0.get("golem_provider_advertisements_posted_total")
    m1 = wait_for("an advertisement posted after the create",
                  lambda: (lambda m: m if m.get("golem_provider_advertisements_posted_total") > posted
                           else None)(scrape(p)))

    expect_eq(m1.get("golem_provider_vms", state="running"), 1, "VMs running after the create")
    for state in VM_STATES:
        if state != "running":
            expect_eq(m1.get("golem_provider_vms", state=state), 0, f"VMs {state}")
    expect_eq(m1.get("golem_provider_free_cpus"), CAPACITY["cpu"] - SMALL["cpu"], "free CPUs")
    expect_eq(m1.get("golem_provider_free_memory_bytes"),
              (CAPACITY["memory"] - SMALL["memory"]) * GIB, "free memory")
    expect_eq(m1.get("golem_provider_free_storage_bytes"),
              (CAPACITY["storage"] - SMALL["storage"]) * GIB, "free storage")
    expect_eq(m1.get("golem_provider_capacity_cpus"), CAPACITY["cpu"], "capacity stays")
    expect_eq(m1.get("golem_provider_vm_create_duration_seconds_count"), 1, "creates timed")
    expect(0 < m1.get("golem_provider_vm_create_duration_seconds_sum") < 60,
           "the create's time")
    expect_eq(m1.get("golem_provider_vm_create_failures_total"), 0, "create failures")
    expect(m1.get("golem_provider_advertiser_last_success_timestamp_seconds") >= last,
           "last success went back")

    # The other side: discovery stored each post as verified (the provider signs with its key).
    d = wait_for("discovery's count of the provider's posts",
                 lambda: (lambda d: d if d.get("golem_discovery_upserts_total", verified="true")
                          == scrape(p).get("golem_provider_advertisements_posted_total") else None)(
                     scrape(discovery)))
    expect_eq(d.get("golem_discovery_advertisements", verified="true"), 1, "live verified advertisements")
    expect_eq(d.get("golem_discovery_advertisements", verified="false"), 0, "live unverified advertisements")
    expect_eq(d.get("golem_discovery_upserts_total", verified="false"), 0, "unverified upserts")

    expect_eq(requests(m1, "/api/v1/vms", "POST", 201), 1, "POST /api/v1/vms 201")
    expect_eq(requests(m1, "/api/v1/vms/{}", "GET", 200), 3, "GET /api/v1/vms/{} 200")
    expect_eq(requests(m1, "/api/v1/vms/{}", "GET", 404), 1, "GET /api/v1/vms/{} 404")
    expect_eq(requests(m1, "other", "GET", 404), 1, "the unrouted path")
    expect(requests(m1, "/metrics", "GET", 200) >= 1, "the scrapes themselves")
    expect_eq(m1.get("golem_http_request_duration_seconds_count", route="/api/v1/vms/{}"), 4,
              "durations of GET /api/v1/vms/{}")
    expect_routes_only(m1, {"/health", "/openapi.json", "/metrics", "/api/v1/vms", "/api/v1/vms/{}",
                            "/api/v1/vms/jobs/{}", "/api/v1/provider/info"}, "provider")

    # A create whose launch fails: a create failure and a driver error.
    mp.fault("fail-next-launch", "launch failed: no (metrics)\n")
    status, _ = p.rest("POST", VMS, {"name": "unlucky", "size": "small",
                                     "ssh_key": random_public_key()})
    expect_eq(status, 500, "the create with a failing launch")
    m2 = wait_for("the failed create counted",
                  lambda: (lambda m: m if m.value("golem_provider_vm_create_failures_total") == 1
                           else None)(scrape(p)))
    expect_eq(m2.get("golem_provider_driver_errors_total", driver="multipass", operation="launch"), 1,
              "launch errors")
    expect_eq(m2.get("golem_provider_vm_create_duration_seconds_count"), 1,
              "a failed create is not timed as one that ran")
    expect_eq(m2.get("golem_provider_free_cpus"), CAPACITY["cpu"] - SMALL["cpu"],
              "free CPUs after the failed create")
    expect_eq(requests(m2, "/api/v1/vms", "POST", 500), 1, "POST /api/v1/vms 500")


@case
def discovery_metrics(binary):
    """Discovery under POSTs (unverified legacy ids), queries, a lookup of
    nothing, a refused POST and a DELETE: live advertisements, upserts,
    deletes, the store's latency by operation and the requests by route."""
    discovery = start_discovery()
    m0 = scrape(discovery)
    expect_http_families(m0, "discovery")
    expect_eq(m0.get("golem_discovery_advertisements", verified="false"), 0, "live at start")
    expect_eq(m0.get("golem_discovery_advertisements", verified="true"), 0, "live at start")

    body = {"ip_address": "192.0.2.10", "country": "SE",
            "resources": {"cpu": 4, "memory": 8, "storage": 40}}
    for i in range(3):
        status, _, data = http("POST", discovery.url + ADS, body,
                               {"X-Provider-ID": f"legacy-{i}", "X-Provider-Signature": "legacy"})
        expect_eq(status, 200, f"POST legacy-{i} ({data!r})")
    status, _, _ = http("POST", discovery.url + ADS, body, {"X-Provider-ID": "legacy-0"})
    expect_eq(status, 401, "a POST without a signature header")
    for query in ("", "?cpu=2", "?country=SE"):
        expect_eq(http("GET", discovery.url + ADS + query)[0], 200, f"GET {ADS}{query}")
    expect_eq(http("GET", f"{discovery.url}{ADS}/legacy-1")[0], 200, "GET one")
    expect_eq(http("GET", f"{discovery.url}{ADS}/nobody-here")[0], 404, "GET nothing")
    status, _, _ = http("DELETE", f"{discovery.url}{ADS}/legacy-2", None,
                        {"X-Provider-ID": "legacy-2", "X-Provider-Signature": "legacy"})
    expect_eq(status, 200, "DELETE legacy-2")

    m = scrape(discovery)
    expect_eq(m.get("golem_discovery_advertisements", verified="false"), 2, "live unverified")
    expect_eq(m.get("golem_discovery_advertisements", verified="true"), 0, "live verified")
    expect_eq(m.get("golem_discovery_upserts_total", verified="false"), 3, "upserts")
    expect_eq(m.get("golem_discovery_upserts_total", verified="true"), 0, "verified upserts")
    expect_eq(m.get("golem_discovery_deletes_total"), 1, "deletes")
    expect_eq(m.get("golem_discovery_expired_total"), 0, "expiries")
    # Reads are served from memory: only writes (and the load at start) reach the store.
    for operation, calls in (("upsert", 3), ("remove", 1), ("load", 1)):
        expect_eq(m.get("golem_discovery_store_duration_seconds_count", operation=operation), calls,
                  f"store {operation} calls timed")
    for operation in ("upsert", "remove", "load"):
        expect_eq(m.get("golem_discovery_store_errors_total", operation=operation), 0,
                  f"store {operation} errors")
    expect_eq(requests(m, ADS, "POST", 200), 3, "POST 200")
    expect_eq(requests(m, ADS, "POST", 401), 1, "POST 401")
    expect_eq(requests(m, ADS, "GET", 200), 3, "GET list 200")
    expect_eq(requests(m, ADS + "/{}", "GET", 200), 1, "GET one 200")
    expect_eq(requests(m, ADS + "/{}", "GET", 404), 1, "GET one 404")
    expect_eq(requests(m, ADS + "/{}", "DELETE", 200), 1, "DELETE 200")
    expect_eq(m.get("golem_http_refused_total", reason="unauthorized"), 1, "the 401 as a refusal")
    expect_routes_only(m, {"/health", "/openapi.json", "/metrics", ADS, ADS + "/{}"}, "discovery")


@case
def discovery_expiry(binary):
    """An advertisement that is not refreshed expires, and the sweep counts
    it."""
    discovery = start_discovery(ADVERTISEMENT_TTL=1, CLEANUP_INTERVAL_SEC=1)
    body = {"ip_address": "192.0.2.11", "country": "FI",
            "resources": {"cpu": 1, "memory": 1, "storage": 10}}
    status, _, _ = http("POST", discovery.url + ADS, body,
                        {"X-Provider-ID": "fleeting", "X-Provider-Signature": "legacy"})
    expect_eq(status, 200, "POST")
    m = wait_for("the sweep expiring it",
                 lambda: (lambda m: m if m.get("golem_discovery_expired_total") == 1 else None)(
                     scrape(discovery)))
    expect_eq(m.get("golem_discovery_advertisements", verified="false"), 0, "live after expiry")
    expect(m.get("golem_discovery_store_duration_seconds_count", operation="expire") >= 1,
           "the sweep's store calls timed")


@case
def rate_limited(binary):
    """Over the per-client rate limit: the 429 is counted by route and
    status, and /metrics itself is not limited."""
    discovery = start_discovery(RATE_LIMIT_PER_MINUTE=2)
    statuses = [http("GET", discovery.url + ADS)[0] for _ in range(3)]
    expect_eq(statuses, [200, 200, 429], "three GETs at 2 a minute")
    m = scrape(discovery)
    m = scrape(discovery)  # twice: /metrics is not rate limited
    expect_eq(m.get("golem_http_rate_limited_requests_total", route=ADS), 1, "rate limited")
    expect_eq(requests(m, ADS, "GET", 429), 1, "GET 429")
    expect_eq(requests(m, ADS, "GET", 200), 2, "GET 200")
    expect_eq(requests(m, "/metrics", "GET", 200), 1, "the first scrape")


@case
def metrics_off(binary):
    """Metrics=no: GET /metrics is 404 with the JSON error envelope on both
    daemons, and the rest works."""
    discovery = start_discovery(METRICS="no")
    p = provider(binary, Standin(), METRICS="no").start().wait_ready()
    for d in (discovery, p):
        status, headers, data = http("GET", d.url + "/metrics")
        expect_eq(status, 404, f"{d.name}: GET /metrics with Metrics=no")
        expect(headers.get("content-type", "").startswith("application/json"),
               f"{d.name}: Content-Type {headers.get('content-type')!r}")
        expect_eq(data.get("detail", {}).get("code"), "NOT_FOUND", f"{d.name}: the code")
        expect_eq(http("GET", d.url + "/health")[0], 200, f"{d.name}: /health")


@case
def reader_refuses(binary):
    """The reader every case relies on is no yes-man: texts that break the
    format fail it, saying why; a good one reads back its values."""
    good = ('# HELP a_total A "quoted" \\\\ help.\n# TYPE a_total counter\n'
            'a_total{route="/x/{}",v="q\\"b\\\\s\\nn"} 3\n'
            '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\n'
            'h_sum 1.25\nh_count 2\n')
    m = Exposition(good)
    expect_eq(m.get("a_total", route="/x/{}", v='q"b\\s\nn'), 3, "an escaped label value")
    expect_eq(m.helps["a_total"], 'A "quoted" \\ help.', "the HELP text")
    expect_eq(m.get("h_count"), 2, "a histogram's count")
    bad = [
        ("a_total 1\n", "no TYPE"),
        ("# TYPE a gauge\na 1\na 2\n", "twice"),
        ("# TYPE a gauge\n# TYPE a gauge\na 1\n", "a second TYPE"),
        ("# TYPE a gauge\n# TYPE b gauge\na 1\n", "outside its family"),
        ('# TYPE a gauge\na{l="\\t"} 1\n', "escape"),
        ('# TYPE a gauge\na{l="x} 1\n', "unterminated"),
        ('# TYPE a gauge\na{l="x" 1\n', "label at"),
        ("# TYPE a gauge\na one\n", "value"),
        ("# TYPE a gauge\na 1", "newline"),
        ('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
         "cumulative"),
        ('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n',
         "+Inf bucket and _count"),
        ('# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', "+Inf"),
    ]
    for text, why in bad:
        try:
            Exposition(text)
        except AssertionError as e:
            expect(why in str(e), f"{text!r}: refused, but not for {why!r}: {e}")
            continue
        raise AssertionError(f"{text!r}: read without a complaint")


if __name__ == "__main__":
    sys.exit(main(binary="providerd", paths=("discovery", "multipass")))
