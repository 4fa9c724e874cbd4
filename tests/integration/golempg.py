"""Real servers for the PostgreSQL store's tests (standard library only): a
private PostgreSQL cluster and an HAProxy in front of several daemons.

    pg = PostgreSQL()            # initdb in a temp dir, as an unprivileged user
    pg.start()                   # its own unix socket dir and TCP port
    pg.url()                     # postgresql://golem:PASSWORD@127.0.0.1:PORT/golem
    pg.sql("SELECT 1")           # psql as the superuser, over the socket
    pg.restart()                 # pg_ctl restart -m fast
    pg.stop()

    lb = HAProxy([("127.0.0.1", 9001), ("127.0.0.1", 9002)])
    lb.start()                   # foreground child, round robin, checks GET /health
    lb.url(); lb.wait_servers(up=2); lb.stop()

PostgreSQL comes from Debian's ``postgresql`` package (initdb and pg_ctl under
/usr/lib/postgresql/VERSION/bin), HAProxy from ``haproxy``; tools/check
installs both.  initdb refuses to run as root (the tests do, in CI): the
cluster belongs to the system user ``golemtest-pg``, created here when
missing (or to ``nobody`` where useradd is not to be had), and runs as it.
The database ``golem`` belongs to the role ``golem``, a plain login role with
a password (scram-sha-256 over TCP): what the daemon gets in production (see
golem-discoveryd(8)).

As a program, it wraps a test:

    python3 golempg.py run -- PROGRAM ARGS...

starts a cluster, runs PROGRAM with GOLEM_TEST_DATABASE_URL (the golem role's
URL), GOLEM_TEST_DATABASE_SUPERUSER_URL, GOLEM_TEST_PG_DATADIR and
GOLEM_TEST_PG_HARNESS (this file) in its environment, stops the cluster and
exits with PROGRAM's status.  ``python3 golempg.py restart DATADIR`` restarts
that cluster (what a C test runs to restart the server under its writes).
Inside, ``database_url_for(key)`` gives a database of its own per key: with
GOLEMTEST_DISCOVERY_STORE=postgresql, golemworld.discovery_daemon() gives
each daemon one (the black-box suite against the PostgreSQL store).
"""

import glob
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_USER = "golemtest-pg"
DATABASE = "golem"
ROLE = "golem"


def _free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pg_bindir():
    """The newest PostgreSQL server's bin directory (Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package "
                           "'postgresql'; tools/check installs it)")
    return os.path.dirname(found[-1])


def _cluster_user():
    """(uid, gid) to run the cluster as: ourselves unless root."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        if os.path.exists(useradd):
            subprocess.run([useradd, "--system", "--no-create-home",
                            "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", PG_USER],
                           check=False, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        try:
            pw = pwd.getpwnam(PG_USER)
        except KeyError:
            pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


class PostgreSQL:
    """A private cluster in a temp dir.  The socket directory and the data
    directory are inside it; the port is free when chosen."""

    def __init__(self, workdir=None, port=None):
        self.uid, self.gid = _cluster_user()
        self.workdir = workdir or tempfile.mkdtemp(prefix="golemtest-pg-")
        self.owned = workdir is None
        self.datadir = os.path.join(self.workdir, "data")
        self.sockdir = os.path.join(self.workdir, "sock")
        self.log = os.path.join(self.workdir, "postgresql.log")
        self.port = port or _free_port()
        self.password = secrets.token_hex(12)
        self.bindir = pg_bindir()
        self.running = False

    def _run(self, argv, check=True, timeout=120, **kwargs):
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        p = subprocess.run(argv, user=self.uid, group=self.gid, extra_groups=[],
                           cwd=self.workdir, timeout=timeout, text=True,
                           env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
                           **kwargs)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (
                os.path.basename(argv[0]), p.returncode, p.stdout or "",
                self.tail()))
        return p

    def tail(self, limit=3000):
        try:
            with open(self.log, errors="replace") as f:
                return "\n--- postgresql.log ---\n" + f.read()[-limit:]
        except OSError:
            return ""

    def initdb(self):
        os.chmod(self.workdir, 0o700)
        os.chown(self.workdir, self.uid, self.gid)
        os.mkdir(self.sockdir, 0o700)
        os.chown(self.sockdir, self.uid, self.gid)
        pwfile = os.path.join(self.workdir, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        os.chown(pwfile, self.uid, self.gid)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.datadir,
                   "-U", "postgres", "--pwfile", pwfile, "-E", "UTF8",
                   "--locale", "C.UTF-8", "--auth-local", "trust",
                   "--auth-host", "scram-sha-256", "--no-sync"])
        os.unlink(pwfile)
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# golempg.py\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "port = %d\n"
                    "unix_socket_directories = '%s'\n"
                    "max_connections = 60\n"
                    "shared_buffers = 32MB\n"
                    "fsync = on\n"
                    "synchronous_commit = on\n" % (self.port, self.sockdir))

    def start(self):
        if not os.path.exists(self.datadir):
            self.initdb()
            self._pg_ctl("start")
            self.sql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, self.password),
                     database="postgres")
            self.sql("CREATE DATABASE %s OWNER %s" % (DATABASE, ROLE),
                     database="postgres")
        else:
            self._pg_ctl("start")
        self.running = True
        return self

    def _pg_ctl(self, verb, *args):
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                   "-l", self.log, "-w", "-t", "60"] + list(args) + [verb],
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def restart(self, mode="fast"):
        """Every session is cut (the clients see the connection go)."""
        self._pg_ctl("restart", "-m", mode)

    def stop(self, mode="fast"):
        if self.running:
            self._pg_ctl("stop", "-m", mode)
            self.running = False

    def cleanup(self):
        try:
            self.stop("immediate")
        finally:
            if self.owned:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def url(self, role=ROLE, database=DATABASE, **params):
        """The daemon's DatabaseURL= (TCP, password)."""
        u = "postgresql://%s:%s@127.0.0.1:%d/%s" % (role, self.password,
                                                    self.port, database)
        if params:
            u += "?" + "&".join("%s=%s" % kv for kv in sorted(params.items()))
        return u

    def superuser_url(self):
        """The superuser over the private socket (trust): for the tests'
        own checks."""
        return "postgresql://postgres@/%s?host=%s&port=%d" % (
            DATABASE, self.sockdir, self.port)

    def sql(self, statement, database=DATABASE):
        """Runs statement as the superuser; its rows as lists of strings."""
        p = self._run([os.path.join(self.bindir, "psql"), "-X", "-q", "-A",
                       "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                       "-h", self.sockdir, "-p", str(self.port),
                       "-U", "postgres", "-d", database, "-c", statement],
                      stderr=subprocess.PIPE)
        return [line.split("\t") for line in p.stdout.splitlines() if line]


class HAProxy:
    """HAProxy in the foreground (a child of ours), round robin over
    backends, each checked with GET /health every 200 ms (down after 2
    failures, up after 1 success), retrying a refused connection on another
    server."""

    def __init__(self, backends, workdir=None, port=None):
        self.backends = list(backends)
        self.workdir = workdir or tempfile.mkdtemp(prefix="golemtest-haproxy-")
        self.owned = workdir is None
        self.port = port or _free_port()
        self.config = os.path.join(self.workdir, "haproxy.cfg")
        self.stats = os.path.join(self.workdir, "stats.sock")
        self.log = os.path.join(self.workdir, "haproxy.log")
        self.process = None
        self.binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(self.binary):
            raise RuntimeError("HAProxy is not installed (Debian package "
                               "'haproxy'; tools/check installs it)")

    def write_config(self):
        servers = "".join("        server s%d %s:%d check\n" % (i, h, p)
                          for i, (h, p) in enumerate(self.backends))
        with open(self.config, "w") as f:
            f.write("""global
        maxconn 2000
        stats socket %s mode 600 level admin

defaults
        mode http
        timeout connect 2s
        timeout client 30s
        timeout server 30s
        retries 3
        option redispatch

frontend golem
        bind 127.0.0.1:%d
        default_backend discovery

backend discovery
        balance roundrobin
        option httpchk GET /health
        http-check expect status 200
        default-server inter 200ms fall 2 rise 1
%s""" % (self.stats, self.port, servers))

    def start(self):
        self.write_config()
        subprocess.run([self.binary, "-c", "-q", "-f", self.config], check=True)
        log = open(self.log, "w")
        self.process = subprocess.Popen([self.binary, "-db", "-f", self.config],
                                        stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("haproxy exited: " + self.tail())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("haproxy does not listen: " + self.tail())

    def tail(self, limit=3000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-limit:]
        except OSError:
            return ""

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def command(self, line):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.stats)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out.decode()
                out += chunk

    def server_states(self):
        """{server name: "UP"/"DOWN"/...} of the backend."""
        states = {}
        lines = self.command("show stat").splitlines()
        if not lines:
            return states
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "discovery" and row.get("svname", "").startswith("s"):
                states[row["svname"]] = row.get("status", "")
        return states

    def wait_servers(self, up, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.server_states()
            if sum(1 for s in states.values() if s.startswith("UP")) == up:
                return states
            time.sleep(0.1)
        raise AssertionError("haproxy: wanted %d servers up, have %r"
                             % (up, self.server_states()))

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self):
        self.stop()
        if self.owned:
            shutil.rmtree(self.workdir, ignore_errors=True)


def database_url_for(key):
    """Under ``golempg.py run``: the URL (role golem) of a database of its
    own for key (a daemon's database directory, say), created when new; the
    same key gives the same database, as a daemon restarted on the same
    directory finds its SQLite file."""
    superuser = os.environ["GOLEM_TEST_DATABASE_SUPERUSER_URL"]
    url = os.environ["GOLEM_TEST_DATABASE_URL"]
    name = "golem_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    psql = os.path.join(pg_bindir(), "psql")
    exists = subprocess.run([psql, "-X", "-A", "-t", "-d", superuser, "-c",
                             "SELECT 1 FROM pg_database WHERE datname = '%s'" % name],
                            check=True, capture_output=True, text=True).stdout.strip()
    if not exists:
        subprocess.run([psql, "-X", "-q", "-d", superuser, "-c",
                        "CREATE DATABASE %s OWNER %s" % (name, ROLE)],
                       check=True, capture_output=True, text=True)
    return url.rsplit("/", 1)[0] + "/" + name


def _run_wrapped(argv):
    pg = PostgreSQL()
    try:
        pg.start()
        env = dict(os.environ,
                   GOLEM_TEST_DATABASE_URL=pg.url(),
                   GOLEM_TEST_DATABASE_SUPERUSER_URL=pg.superuser_url(),
                   GOLEM_TEST_PG_DATADIR=pg.datadir,
                   GOLEM_TEST_PG_HARNESS=os.path.abspath(__file__))
        status = subprocess.run(argv, env=env).returncode
        if status != 0:
            sys.stderr.write(pg.tail())
        return status
    finally:
        pg.cleanup()


def _restart(datadir):
    """Restarts the cluster in datadir (whose owner runs it)."""
    st = os.stat(datadir)
    bindir = pg_bindir()
    log = os.path.join(os.path.dirname(datadir), "postgresql.log")
    p = subprocess.run([os.path.join(bindir, "pg_ctl"), "-D", datadir, "-l", log,
                        "-w", "-t", "60", "-m", "fast", "restart"],
                       user=st.st_uid, group=st.st_gid, extra_groups=[],
                       cwd=os.path.dirname(datadir), stdout=subprocess.DEVNULL,
                       env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    return p.returncode


def main(argv):
    if len(argv) >= 3 and argv[0] == "run" and argv[1] == "--":
        return _run_wrapped(argv[2:])
    if len(argv) == 2 and argv[0] == "restart":
        return _restart(argv[1])
    sys.stderr.write("usage: golempg.py run -- PROGRAM [ARGS...]\n"
                     "       golempg.py restart DATADIR\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
