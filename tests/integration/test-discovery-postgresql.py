#!/usr/bin/env python3
"""Several golem-discoveryd instances on one PostgreSQL database
(DatabaseURL=), behind HAProxy: what one instance is told, every instance
answers; one sweeps; a killed one loses nothing acknowledged and HAProxy
routes around it; a PostgreSQL restart is ridden out with 503s only.

Each case starts its own PostgreSQL cluster and HAProxy (golempg.py; Debian's
postgresql and haproxy packages, which tools/check installs).  Run ``--list``
for the case names.
"""

import concurrent.futures
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
from golemworld import (ADS, call, case, discovery_daemon, expect,  # noqa: E402
                        expect_eq, http, main, on_cleanup, wait_for)
import golemmetrics  # noqa: E402
import golempg  # noqa: E402

SWEEPER_LOCK = ("SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a"
                " USING (pid) WHERE l.locktype = 'advisory' AND l.granted"
                " AND l.classid = 1735355493 AND l.objid = 2")


def cluster():
    pg = golempg.PostgreSQL()
    on_cleanup(pg.cleanup)
    return pg.start()


def instances(pg, n, **settings):
    """n daemons on pg's database, READY (so connected and loaded)."""
    ds = [discovery_daemon(name=f"discoveryd{i}", DATABASE_URL=pg.url(),
                           **settings) for i in range(n)]
    for d in ds:
        d.start()
    for d in ds:
        d.wait_ready()
    return ds


def balancer(ds):
    lb = golempg.HAProxy([(d.host, d.port) for d in ds])
    on_cleanup(lb.cleanup)
    lb.start()
    lb.wait_servers(up=len(ds))
    return lb


def creds(provider_id):
    return {"X-Provider-ID": provider_id,
            "X-Provider-Signature": "signature-of-" + provider_id}


def body(cpu=2, country="DE"):
    return {"ip_address": "192.0.2.1", "country": country,
            "resources": {"cpu": cpu, "memory": 4, "storage": 20}}


def post(url, provider_id, cpu=2, timeout=10):
    return http("POST", url + ADS, body(cpu), creds(provider_id),
                timeout=timeout)


def ids_at(d, query="country=DE&limit=1000"):
    status, _, data = call(d, "GET", f"{ADS}?{query}")
    expect_eq(status, 200, f"{d.name}: GET {ADS}?{query}")
    return {ad["provider_id"]: ad for ad in data}


def stored_ids(pg):
    return {row[0] for row in pg.sql("SELECT provider_id FROM advertisements")}


def daemon_of_port(ds, port):
    """The daemon whose process holds the TCP socket of local port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    for d in ds:
        if not d.running():
            continue
        fd_dir = f"/proc/{d.proc.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return d
    return None


def sweeper(pg, ds):
    """The instance holding the sweeper's lock (exactly one session holds
    it), or None while none does."""
    rows = pg.sql(SWEEPER_LOCK)
    expect(len(rows) <= 1, f"the sweeper lock held by {len(rows)} sessions")
    return daemon_of_port(ds, int(rows[0][0])) if rows else None


@case
def writes_seen_by_all(binary):
    """A POST through HAProxy is in every instance's answers within 1 s, a
    DELETE gone from them within 1 s, whichever instance took it."""
    pg = cluster()
    ds = instances(pg, 3)
    lb = balancer(ds)
    delays = []
    for i in range(6):  # round robin: each instance takes two
        pid = f"shared-{i}"
        status, _, data = post(lb.url(), pid, cpu=i + 1)
        acked = time.monotonic()
        expect_eq(status, 200, f"POST {pid} through HAProxy ({data!r})")
        for d in ds:
            wait_for(f"{pid} in {d.name}'s answers",
                     lambda: ids_at(d).get(pid, {}).get("resources", {})
                     .get("cpu") == i + 1, timeout=1, interval=0.005)
            delays.append(time.monotonic() - acked)
            status, _, got = call(d, "GET", f"{ADS}/{pid}")
            expect_eq((status, got), (200, data), f"{d.name}: GET {pid}")
    print(f"visible everywhere after at most {max(delays) * 1000:.1f} ms "
          f"(polled every 5 ms)")
    # A refresh with other values, then a DELETE, both through HAProxy.
    status, _, data = post(lb.url(), "shared-0", cpu=16)
    expect_eq(status, 200, "POST shared-0 again")
    for d in ds:
        wait_for(f"shared-0 refreshed at {d.name}",
                 lambda: ids_at(d)["shared-0"] == data, timeout=1,
                 interval=0.02)
    for i in range(3):
        pid = f"shared-{i}"
        status, _, _ = http("DELETE", f"{lb.url()}{ADS}/{pid}", None,
                            creds(pid))
        expect(status in (200, 204), f"DELETE {pid} through HAProxy: {status}")
        for d in ds:
            wait_for(f"{pid} gone from {d.name}'s answers",
                     lambda: pid not in ids_at(d)
                     and call(d, "GET", f"{ADS}/{pid}")[0] == 404,
                     timeout=1, interval=0.02)
    expect_eq(stored_ids(pg), {f"shared-{i}" for i in range(3, 6)},
              "the database's advertisements")
    for d in ds:
        expect_eq(set(ids_at(d)), {f"shared-{i}" for i in range(3, 6)},
                  f"{d.name}'s advertisements")


@case
def expiry_by_one(binary):
    """Advertisements expire at every instance, and from the database by one
    instance, the one holding the sweeper's lock; when it is killed another
    takes over."""
    pg = cluster()
    ds = instances(pg, 3, ADVERTISEMENT_TTL=2, CLEANUP_INTERVAL_SEC=1)
    lb = balancer(ds)
    for i in range(12):
        expect_eq(post(lb.url(), f"fading-{i}")[0], 200, f"POST fading-{i}")
    wait_for("the database to lose the expired advertisements",
             lambda: not stored_ids(pg), timeout=20, interval=0.2)
    for d in ds:
        expect_eq(ids_at(d), {}, f"{d.name}'s answers after expiry")
    holder = wait_for("one instance to hold the sweeper's lock",
                      lambda: sweeper(pg, ds), timeout=10)

    holder.kill9()
    survivors = [d for d in ds if d is not holder]
    for i in range(12):
        status = post(survivors[i % 2].url, f"fading-again-{i}")[0]
        expect_eq(status, 200, f"POST fading-again-{i}")
    wait_for("the database to lose them again, without the first sweeper",
             lambda: not stored_ids(pg), timeout=20, interval=0.2)
    taken = wait_for("another instance to hold the sweeper's lock",
                     lambda: sweeper(pg, ds), timeout=10)
    expect(taken in survivors, "the sweeper lock is a survivor's")


@case
def kill9_during_burst(binary):
    """kill -9 of one instance during a burst of POSTs through HAProxy: every
    acknowledged one is in the database and in every survivor's answers, and
    HAProxy routes around the dead one."""
    pg = cluster()
    ds = instances(pg, 3)
    lb = balancer(ds)
    victim = ds[1]
    done = []
    lock = threading.Lock()

    def one(i):
        pid = f"burst-{i:04d}"
        try:
            status, _, data = post(lb.url(), pid, timeout=15)
        except OSError as e:
            status, data = None, repr(e)
        with lock:
            done.append((pid, status, data))
            if len(done) == 150 and victim.running():
                victim.kill9()

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(600)))
    expect(not victim.running(), "the victim was killed during the burst")
    acked = {pid: data for pid, status, data in done if status == 200}
    others = [(pid, status) for pid, status, _ in done if status != 200]
    expect(len(acked) >= 500, f"only {len(acked)} of 600 acknowledged "
           f"(others: {others[:10]})")

    stored = stored_ids(pg)
    lost = sorted(set(acked) - stored)
    expect(not lost, f"{len(lost)} acknowledged POSTs not in the database, "
           f"e.g. {lost[:5]}")
    survivors = [d for d in ds if d is not victim]
    for d in survivors:
        have = ids_at(d, "limit=1000")
        missing = sorted(set(acked) - set(have))
        expect(not missing, f"{d.name}: {len(missing)} acknowledged missing, "
               f"e.g. {missing[:5]}")
        for pid, ad in acked.items():
            expect_eq(have[pid]["resources"], ad["resources"],
                      f"{d.name}: {pid}")

    lb.wait_servers(up=2)
    for i in range(30):
        status, _, data = post(lb.url(), f"after-{i}")
        expect_eq(status, 200, f"POST after-{i} through HAProxy ({data!r})")


@case
def postgresql_restart_under_load(binary):
    """PostgreSQL restarted under writes and reads: the instances recover by
    themselves; meanwhile /health says degraded, reads are answered from
    memory, writes get 503 with the error envelope, and nothing else; what
    was acknowledged is in the database."""
    pg = cluster()
    ds = instances(pg, 2)
    pids = {d.name: d.proc.pid for d in ds}
    stop = threading.Event()
    seen = []  # (kind, instance, status, data)
    acked = set()
    store_down = {}
    lock = threading.Lock()

    def writer(k):
        i = 0
        while not stop.is_set():
            d = ds[(k + i) % 2]
            pid = f"load-{k}-{i}"
            status, _, data = post(d.url, pid)
            with lock:
                seen.append(("POST", d.name, status, data))
                if status == 200:
                    acked.add(pid)
            i += 1

    def reader(k):
        while not stop.is_set():
            d = ds[k % 2]
            status, _, data = http("GET", f"{d.url}{ADS}?limit=5")
            with lock:
                seen.append(("GET", d.name, status, data))

    def health():
        while not stop.is_set():
            for d in ds:
                status, _, data = http("GET", f"{d.url}/health")
                with lock:
                    seen.append(("health", d.name, status, data))
                if status == 503 and d.name not in store_down:
                    # What a Prometheus scrape says meanwhile.
                    store_down[d.name] = golemmetrics.scrape(d).get(
                        "golem_discovery_store_up")
            time.sleep(0.02)

    threads = ([threading.Thread(target=writer, args=(k,)) for k in range(4)]
               + [threading.Thread(target=reader, args=(k,)) for k in range(2)]
               + [threading.Thread(target=health)])
    for t in threads:
        t.start()
    try:
        wait_for("writes before the restart", lambda: len(acked) > 50, 10)
        pg.restart()
        wait_for("both instances healthy again", lambda: all(
            http("GET", f"{d.url}/health")[0] == 200 for d in ds), 20)
        before = len(acked)
        wait_for("writes after the restart", lambda: len(acked) > before + 50,
                 10)
    finally:
        stop.set()
        for t in threads:
            t.join()

    for d in ds:
        expect(d.running() and d.proc.pid == pids[d.name],
               f"{d.name} is the same process")
        expect(any(k == "health" and name == d.name and s == 503
                   and data == {"status": "degraded", "detail": {
                       "code": "ADV_001",
                       "message": "The advertisement store is unreachable"}}
                   for k, name, s, data in seen),
               f"{d.name}: /health never said degraded")
    bad = [(k, name, s, data) for k, name, s, data in seen
           if s >= 500 and not (s == 503 and isinstance(data, dict)
                                and data.get("detail", {}).get("code"))]
    expect(not bad, f"5xx other than 503 with the envelope: {bad[:5]}")
    expect(any(k == "POST" and s == 503 for k, _, s, _ in seen),
           "no write was refused while PostgreSQL was down")
    expect(all(s == 200 for k, _, s, _ in seen if k == "GET"),
           "reads answered from memory throughout")
    lost = sorted(acked - stored_ids(pg))
    expect(not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}")
    for d in ds:
        expect_eq(golemmetrics.scrape(d).get("golem_discovery_store_up"), 1,
                  f"{d.name}: golem_discovery_store_up after the restart")
    expect(0 in store_down.values(), f"golem_discovery_store_up while "
           f"/health said degraded: {store_down!r} (a scrape may land just "
           "after it came back, but not for both)")
    for d in ds:
        expect("unreachable" in d.stderr() and pg.password not in d.stderr(),
               f"{d.name}: the outage logged, without the password{d.tail()}")


@case
def wrong_password_waits(binary):
    """With a password the database refuses, the daemon logs why (never the
    password) and waits, serving nothing; once the role takes that password
    it connects and serves, without a restart."""
    pg = cluster()
    bad = "Wrong" + pg.password[::-1]
    url = pg.url().replace(f":{pg.password}@", f":{bad}@")
    d = discovery_daemon(name="discoveryd", DATABASE_URL=url).start()
    wait_for("the refusal in the log",
             lambda: "password authentication failed" in d.stderr(), 15)
    d.statuses()  # collects the notifications so far
    expect(not d.notified("READY=1"), "READY=1 without its database")
    pg.sql(f"ALTER ROLE golem PASSWORD '{bad}'")
    d.wait_ready(20)
    expect_eq(post(d.url, "p1")[0], 200, "POST once connected")
    expect_eq(stored_ids(pg), {"p1"}, "the database's advertisements")
    for secret in (pg.password, bad):
        expect(secret not in d.stderr(), f"a password in the log{d.tail()}")


if __name__ == "__main__":
    sys.exit(main(binary="discovery"))
