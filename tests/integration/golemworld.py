"""The world of golem's integration tests (standard library, and
python3-jsonschema for golemopenapi.py): the case runner, the daemons and the
stand-ins, keys, ports, temp dirs and ``wait_for``.  Every test script imports what it needs from here (and the
D-Bus world from golembus.py); no test script imports another.

A test script registers cases with ``@case`` and calls ``main()``:

    python3 test-foo.py --list                  # one case name per line
    python3 test-foo.py --binary PATH CASE      # one case: exit 0 pass, 1 fail
    python3 test-foo.py --binary PATH           # run every case in turn

Each case receives the absolute path of the binary under test.  Cases never
skip (exit 77 is not used): a missing prerequisite is a failure.

``main(binary="providerd")`` also files the binary under test as
``PATHS["providerd"]`` (and takes ``--providerd`` for ``--binary``); other
programs a script needs are options named in ``main(paths=(...))``:
``--discovery PATH`` lands (absolute) in ``PATHS["discovery"]``.  The world
finds its programs there: golem-providerd as "providerd", golem-discoveryd
as "discovery", golemctl as "golemctl", the multipass stand-in as
"multipass".

Every answer of a golem daemon that http() (and so call(), the daemons'
helpers and every case that uses them) receives is checked against the
daemon's OpenAPI document (golemopenapi.py): an answer the document does not
describe fails the case.  GOLEMTEST_OPENAPI=off turns that off.

Everything a case starts is its own: temp dirs, free ports, a block of SSH
ports no other case holds, a private NOTIFY_SOCKET, a private state dir for
the stand-in, so that cases run in parallel.  When a case ends, every daemon
it started is killed by its PID, then whatever it registered with
``on_cleanup(fn)`` runs (last registered, first run); its temp dirs go if it
passed.
"""

import argparse
import atexit
import base64
import calendar
import copy
import ctypes
import errno
import fcntl
import hashlib
from http.client import HTTPConnection, HTTPException
from http.server import ThreadingHTTPServer
import json
import os
import pty
import random
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback
import urllib.parse

import golemopenapi

CASES = {}
PATHS = {}
_DAEMONS = []
_TEMPDIRS = []
_CLEANUPS = []

# Variables of the caller's environment that must not leak into a daemon.
_SCRUBBED_PREFIXES = ("GOLEM_", "LISTEN_", "WATCHDOG_", "MULTIPASS_STANDIN_")
_SCRUBBED_NAMES = ("NOTIFY_SOCKET", "STATE_DIRECTORY", "JOURNAL_STREAM",
                   "INVOCATION_ID", "RUNTIME_DIRECTORY",
                   "DBUS_STARTER_BUS_TYPE", "DBUS_STARTER_ADDRESS")

VMS = "/api/v1/vms"
INFO = "/api/v1/provider/info"
ADS = "/api/v1/advertisements"
CAPACITY = {"cpu": 10, "memory": 20, "storage": 500}  # 5 medium VMs


# --------------------------------------------------------------------------
# assertions and waiting


def expect(condition, message):
    """Fail the case with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def expect_eq(actual, expected, what):
    """Fail unless ``actual == expected``, showing both values."""
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def wait_for(what, fn, timeout=15, interval=0.1, detail=None):
    """Call ``fn()`` until it returns something true and return that; fail
    after ``timeout`` seconds (``fn`` is called at least once), saying
    ``what`` was waited for and, when given, ``detail()``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out ({timeout}s) waiting for {what}"
                                 + (detail() if detail else ""))
        time.sleep(interval)


def expect_refused(host, port, what):
    """Nothing accepts connections on host:port."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return
    except OSError as e:
        raise AssertionError(f"{what}: connecting to {host}:{port}: {e!r}")
    raise AssertionError(f"{what}: {host}:{port} accepted a connection")


def rfc3339(text):
    """Seconds since the epoch of an RFC 3339 UTC timestamp."""
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))


# --------------------------------------------------------------------------
# places: temp dirs, ports, addresses


def make_tempdir(prefix="golemtest-"):
    """A fresh directory, removed when the case ends if it passed."""
    path = tempfile.mkdtemp(prefix=prefix)
    _TEMPDIRS.append(path)
    return path


def free_port(host="127.0.0.1"):
    """A TCP port that was free on ``host`` a moment ago (bind 0, close):
    one of the ephemeral range."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _bindable(host, port):
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        return True
    except OSError:
        return False


_PORT_LOCKS = os.path.join(tempfile.gettempdir(), "golemtest-ports.lock")
_RESERVED = set()   # ports this process holds a lock on
_port_lock_fd = []


def port_range(n=10, host="127.0.0.1"):
    """``n`` consecutive free ports on ``host`` between 20000 and 32000
    (below the ephemeral range free_port() picks from), held for this case:
    a lock on bytes PORT.. of one file shared by every test process keeps
    other cases off them until this one's process ends.  Returns (first,
    last)."""
    if not _port_lock_fd:
        _port_lock_fd.append(os.open(_PORT_LOCKS, os.O_RDWR | os.O_CREAT,
                                     0o666))
    fd = _port_lock_fd[0]
    for _ in range(500):
        start = random.randrange(20000, 32000 - n)
        ports = range(start, start + n)
        if _RESERVED.intersection(ports):
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, n, start)
        except OSError:
            continue  # another case holds some of them
        if all(_bindable(host, port) for port in ports):
            _RESERVED.update(ports)
            return start, start + n - 1
        fcntl.lockf(fd, fcntl.LOCK_UN, n, start)
    raise AssertionError(f"no free block of {n} ports on {host}")


def loopback_ip(port=0):
    """A random 127.X.Y.Z (not 127.0.0.1) on which ``port`` was free a
    moment ago.  The whole of 127/8 is loopback on Linux; a wide random pick
    keeps cases that run in parallel off each other's addresses."""
    for _ in range(500):
        ip = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                               random.randint(2, 254))
        if _bindable(ip, port):
            return ip
    raise AssertionError(f"no free loopback address for port {port}")


# --------------------------------------------------------------------------
# HTTP


def http(method, url, body=None, headers=None, timeout=10, source=None):
    """One HTTP request; returns (status, headers, data).

    ``body`` may be bytes/str (sent as is) or any JSON-serialisable value
    (sent as JSON).  ``headers`` of the answer come back as a dict with
    lower-cased names.  ``data`` is the parsed JSON body, or the raw bytes
    when it is not JSON.  4xx/5xx answers are returned, never raised.
    ``source`` is an optional local address to connect from.
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    conn = HTTPConnection(
        parts.hostname, parts.port, timeout=timeout,
        source_address=(source, 0) if source else None)
    try:
        answer = _exchange(conn, method, path, body, headers)
    except (OSError, HTTPException) as e:
        raise AssertionError(f"{method} {url}: no HTTP answer: {e!r}")
    finally:
        conn.close()
    program = _golem_program_at(parts.hostname, parts.port)
    if program and os.environ.get("GOLEMTEST_OPENAPI") != "off":
        golemopenapi.check_answer(program, method, path, *answer)
    return answer


def _golem_program_at(host, port):
    """golem-providerd or golem-discoveryd, when one that this case started
    listens on host:port; else None (a stand-in, a fake server)."""
    for d in reversed(_DAEMONS):
        program = os.path.basename(d.binary)
        if (d.port == port and program in golemopenapi.DOCUMENTS
                and d.host in (host, "0.0.0.0", "::")):
            return program
    return None


def _exchange(conn, method, path, body, headers):
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    try:
        conn.endheaders(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer (e.g. 413) before reading it all
    resp = conn.getresponse()
    raw = resp.read()
    answer_headers = {}
    for name, value in resp.getheaders():
        name = name.lower()
        if name in answer_headers:
            answer_headers[name] += ", " + value
        else:
            answer_headers[name] = value
    return resp.status, answer_headers, _parse(raw)


def _parse(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def call(d, method, path, body=None, headers=None, timeout=60, **kwargs):
    """A request to the golem daemon ``d``; checks what every one of its
    answers must have (an X-Request-ID, a JSON body)."""
    status, hdrs, data = http(method, d.url + path, body, headers,
                              timeout=timeout, **kwargs)
    where = f"{method} {path} -> {status}"
    expect(hdrs.get("x-request-id"), f"{where}: no X-Request-ID header")
    ctype = hdrs.get("content-type", "")
    expect(ctype.startswith("application/json"),
           f"{where}: Content-Type is {ctype!r}, not application/json")
    if isinstance(data, bytes):
        raise AssertionError(f"{where}: body is not JSON: {data[:200]!r}")
    return status, hdrs, data


def get_list(d, path, check):
    """GET ``path`` of ``d`` with call(): 200 and a JSON array, each element
    of which passes ``check(element, what)``; returns the array."""
    status, _, data = call(d, "GET", path)
    expect_eq(status, 200, f"GET {path}: status (body {data!r})")
    expect(isinstance(data, list), f"GET {path}: not a JSON array: {data!r}")
    for element in data:
        check(element, f"GET {path}")
    return data


def expect_error(result, status, code, what, fields=None):
    """An error answer of ``call()``: the status, the envelope, the code
    (one of, if a tuple) and a message naming one of ``fields`` (a name or
    a tuple of names) when given."""
    got_status, hdrs, data = result
    expect_eq(got_status, status, f"{what}: status (body {data!r})")
    expect(isinstance(data, dict) and set(data) == {"detail"},
           f"{what}: body is not {{\"detail\": ...}}: {data!r}")
    detail = data["detail"]
    expect(isinstance(detail, dict), f"{what}: detail not an object: {data!r}")
    codes = code if isinstance(code, tuple) else (code,)
    expect(detail.get("code") in codes,
           f"{what}: detail.code: expected {code!r}, got {data!r}")
    message = detail.get("message")
    expect(isinstance(message, str) and message.strip(),
           f"{what}: detail.message missing or empty: {data!r}")
    if fields:
        fields = fields if isinstance(fields, tuple) else (fields,)
        expect(any(f in message for f in fields),
               f"{what}: message {message!r} names none of {fields}")
    return hdrs


def start_activated(d, port_variable):
    """Start the golem daemon ``d`` under systemd-socket-activate, its own
    port setting (the environment variable ``port_variable``) naming a decoy
    port, and check that it answered the connection that activated it and
    then /health: 200 healthy.  Returns the decoy port (where nothing may
    listen)."""
    d.socket_activate = True
    decoy = free_port()
    d.env[port_variable] = str(decoy)
    d.start().wait_ready()
    first = d.activation_response or b""
    expect(re.match(rb"HTTP/1\.[01] 200 ", first) and b"healthy" in first,
           f"activating request not answered 200 healthy: {first[:300]!r}")
    status, _, data = call(d, "GET", "/health")
    expect_eq((status, data), (200, {"status": "healthy"}), "/health")
    return decoy


def serve_http(handler):
    """A stand-in HTTP server on 127.0.0.1 answering with ``handler`` (a
    BaseHTTPRequestHandler class) in threads of its own until the case
    ends; returns its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    on_cleanup(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}"


# --------------------------------------------------------------------------
# processes


def _set_pdeathsig():
    """In the child: get SIGKILL if the test process dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def other_pids():
    """The PIDs of every process there is but this one."""
    return [int(e) for e in os.listdir("/proc")
            if e.isdigit() and int(e) != os.getpid()]


def proc_argv(pid):
    """The argv of ``pid`` (empty for zombies, None when gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def proc_environ(pid):
    """The environment of ``pid`` as b"NAME=value" entries ([] when gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def kill_pids(pids):
    """SIGKILL each of ``pids`` that is still there."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def find_program(what, candidates, package):
    """The first of ``candidates`` (paths or None) that may be run; fails
    the case naming the Debian ``package`` when there is none."""
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise AssertionError(f"{what} not found (apt-get install {package})")


def find_socket_activate():
    """Path of systemd-socket-activate; fails the case when absent."""
    return find_program("systemd-socket-activate", (
        shutil.which("systemd-socket-activate"),
        "/usr/bin/systemd-socket-activate",
        "/lib/systemd/systemd-socket-activate",
        "/usr/lib/systemd/systemd-socket-activate"), "systemd")


class Daemon:
    """One daemon process in its own temp dir with a private NOTIFY_SOCKET.

    Usage: construct, fill ``env`` (``port`` and ``workdir`` are known
    already), ``start()``, ``wait_ready()``; finish with ``stop()`` or
    ``kill9()``.  Every daemon is killed by PID when the case ends.

    With ``socket_activate=True`` the binary is started through
    ``systemd-socket-activate -l HOST:PORT``, which (in older systemd) waits
    for a first connection before it execs the daemon; ``wait_ready()``
    makes that connection with ``activation_request`` and keeps the
    answer in ``activation_response``.
    """

    def __init__(self, binary, args=(), env=None, host="127.0.0.1",
                 socket_activate=False, name="daemon"):
        self.binary = os.path.abspath(binary)
        self.args = list(args)
        self.env = dict(env or {})
        self.host = host
        self.port = free_port(host)
        self.socket_activate = socket_activate
        self.name = name
        self.workdir = make_tempdir(f"golemtest-{name}-")
        self.stderr_path = os.path.join(self.workdir, "stderr.log")
        self.notifications = []
        self.proc = None
        self.activation_request = (
            b"GET /health HTTP/1.1\r\nHost: localhost\r\n"
            b"Connection: close\r\n\r\n")
        self.activation_response = None
        self._activation_conn = None
        self._notify = None
        _DAEMONS.append(self)

    # -- paths and addresses

    def path(self, *names):
        """A path inside the daemon's temp dir."""
        return os.path.join(self.workdir, *names)

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- lifecycle

    def start(self):
        """Start the process (does not wait for readiness)."""
        self._bind_notify_socket()
        env = self._environment()
        argv = [self.binary] + self.args
        if self.socket_activate:
            argv = self._activation_argv() + argv
        with open(self.stderr_path, "wb") as err, \
                open(self.path("stdout.log"), "wb") as out:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, preexec_fn=_set_pdeathsig)
        return self

    def wait_ready(self, timeout=20):
        """Wait for READY=1 on the notify socket; fail if the daemon exits."""
        deadline = time.monotonic() + timeout
        while not self.notified("READY=1"):
            self._fail_if_exited("before sending READY=1")
            expect(time.monotonic() < deadline,
                   f"{self.name}: no READY=1 within {timeout}s{self.tail()}")
            if self.socket_activate and self._activation_conn is None:
                self._trigger_activation()
            self._receive(0.1)
        if self._activation_conn is not None:
            self._read_activation_response()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Send ``sig``; assert exit code 0 and that STOPPING=1 arrived."""
        expect(self.proc is not None, f"{self.name}: not started")
        self.proc.send_signal(sig)
        code = self.wait_exit(timeout)
        expect_eq(code, 0, f"{self.name}: exit code after {sig.name}"
                  + self.tail())
        expect(self.notified("STOPPING=1"),
               f"{self.name}: no STOPPING=1 on the notify socket "
               f"(got {self.notifications!r})")

    def kill9(self):
        """SIGKILL the daemon and reap it."""
        if self.running():
            self.proc.kill()
        self.proc.wait()

    def wait_exit(self, timeout=15):
        """Wait for the process to exit by itself; returns its exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name}: still running after {timeout}s{self.tail()}")
        self._receive(0)
        return code

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        """Kill the process if still there; close sockets."""
        if self.running():
            self.proc.kill()
            self.proc.wait()
        for sock in (self._notify, self._activation_conn):
            if sock is not None:
                sock.close()

    # -- notify socket

    def statuses(self):
        """The STATUS= texts sent so far, in order (what systemctl status
        showed), after collecting what is queued."""
        self._receive(0)
        return [line[len("STATUS="):] for msg in self.notifications
                for line in msg.splitlines() if line.startswith("STATUS=")]

    def notified(self, line):
        """Whether any datagram received so far contains ``line``."""
        return self.notify_index(line) is not None

    def notify_index(self, line):
        """Index of the first datagram containing ``line``, or None."""
        for i, msg in enumerate(self.notifications):
            if line in msg.splitlines():
                return i
        return None

    def _bind_notify_socket(self):
        path = self.path("notify")
        if len(path) > 100:  # sun_path limit
            path = os.path.join(make_tempdir("gn-"), "notify")
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(path)
        self._notify.setblocking(False)
        self._notify_lock = threading.Lock()
        self.env["NOTIFY_SOCKET"] = path
        # Read as systemd does, at once: the kernel queues only a few datagrams
        # (net.unix.max_dgram_qlen, 10 by default), and a daemon whose
        # notifications nobody reads blocks in sd_notify().
        threading.Thread(target=self._receive_forever, args=(self._notify,),
                         daemon=True).start()

    def _receive_forever(self, sock):
        while True:
            try:
                ready, _, _ = select.select([sock], [], [], 0.5)
            except (OSError, ValueError):  # closed by cleanup()
                return
            if ready and not self._drain(sock):
                return

    def _drain(self, sock):
        """Appends what is queued, in order; False once the socket is gone."""
        with self._notify_lock:
            while True:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    return True
                except OSError:
                    return False
                self.notifications.append(data.decode(errors="replace"))

    def _receive(self, timeout):
        """Collect notify datagrams, waiting at most ``timeout`` seconds for
        one more than there are."""
        deadline = time.monotonic() + timeout
        n = len(self.notifications)
        while True:
            self._drain(self._notify)
            if len(self.notifications) > n or time.monotonic() >= deadline:
                return
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))

    # -- environment and socket activation

    def _environment(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(_SCRUBBED_PREFIXES)
               and k not in _SCRUBBED_NAMES}
        env.update(self.env)
        return env

    def _activation_argv(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        argv = [find_socket_activate(), "-l", f"{host}:{self.port}"]
        for name in sorted(self.env):
            argv += ["-E", name]  # value taken from its own environment
        return argv

    def _trigger_activation(self):
        """Connect once the listener is up and send the first request."""
        try:
            conn = socket.create_connection((self.host, self.port), timeout=1)
        except OSError:
            return  # not listening yet
        conn.sendall(self.activation_request)
        self._activation_conn = conn

    def _read_activation_response(self, timeout=10):
        conn, self._activation_conn = self._activation_conn, None
        conn.settimeout(timeout)
        chunks = []
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            pass
        conn.close()
        self.activation_response = b"".join(chunks)

    # -- diagnostics

    def _fail_if_exited(self, when):
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(
                f"{self.name}: exited with code {code} {when}{self.tail()}")

    def stderr(self):
        """Everything the daemon wrote to stderr so far."""
        return _read_text(self.stderr_path)

    def stdout(self):
        """Everything the daemon wrote to stdout so far."""
        return _read_text(self.path("stdout.log"))

    def tail(self, limit=4000):
        """The end of stderr, formatted for a failure message."""
        text = self.stderr()[-limit:]
        return f"\n--- {self.name} stderr ---\n{text}" if text else ""


def _read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _cleanup_daemons():
    for daemon in _DAEMONS:
        daemon.cleanup()
    while _CLEANUPS:
        fn = _CLEANUPS.pop()
        try:
            fn()
        except Exception:
            traceback.print_exc()


def on_cleanup(fn):
    """Run ``fn()`` when the current case ends (last registered, first run)."""
    _CLEANUPS.append(fn)
    return fn


atexit.register(_cleanup_daemons)


# --------------------------------------------------------------------------
# keys


def make_key(comment="tester@golem", directory=None, name="id_ed25519",
             passphrase=""):
    """A real ed25519 key pair made by ssh-keygen, protected by
    ``passphrase`` when given, as ``name`` in ``directory`` (a fresh temp
    dir unless given); returns (private key path, public key line)."""
    keygen = shutil.which("ssh-keygen")
    expect(keygen, "ssh-keygen not found (apt-get install openssh-client)")
    path = os.path.join(directory or make_tempdir("golemtest-key-"), name)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", passphrase,
                    "-C", comment, "-f", path], check=True,
                   stdin=subprocess.DEVNULL)
    with open(path + ".pub") as f:
        return path, f.read().strip()


def fingerprint(pub_path):
    """A key's SHA256 fingerprint as ``ssh-keygen -lf`` prints it
    ("SHA256:..."), of its .pub file."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pub_path],
                         check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def identity(pub_path):
    """The identity a key signs as: its fingerprint after "SHA256:", in
    base64url (``+/`` as ``-_``)."""
    return (fingerprint(pub_path).split(":", 1)[1]
            .replace("+", "-").replace("/", "_"))


class Agent:
    """An ``ssh-agent -D -a SOCK`` of the case's own (``sock``), killed by
    its PID when the case ends."""

    def __init__(self, workdir=None):
        workdir = workdir or make_tempdir("golemtest-agent-")
        self.sock = os.path.join(workdir, "agent.sock")
        self.proc = subprocess.Popen(["ssh-agent", "-D", "-a", self.sock],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     preexec_fn=_set_pdeathsig)
        on_cleanup(self.stop)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            expect(self.proc.poll() is None, "ssh-agent exited")
            expect(time.monotonic() < deadline, "ssh-agent did not start")
            time.sleep(0.05)

    def add(self, key, passphrase):
        """ssh-add the private key ``key``, its passphrase given by an
        SSH_ASKPASS program."""
        askpass = key + ".askpass"
        with open(askpass, "w") as f:
            f.write(f"#!/bin/sh\necho '{passphrase}'\n")
        os.chmod(askpass, 0o700)
        env = dict(os.environ, SSH_AUTH_SOCK=self.sock, SSH_ASKPASS=askpass,
                   SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
        subprocess.run(["ssh-add", "-q", key], env=env, check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait()


def random_public_key(comment="tester@golem"):
    """A syntactically perfect ssh-ed25519 public key line of a random key
    (there is no private half: for VMs nobody logs in to)."""
    blob = (struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32)
            + os.urandom(32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


# --------------------------------------------------------------------------
# signed requests to golem-providerd, by ssh-keygen (man golem-providerd,
# SECURITY)

NAMESPACE = "golem-request-v1"


def request_message(method, target, audience, timestamp, nonce, body):
    """What a request signature covers: these lines, each ending in \\n."""
    lines = [NAMESPACE, method, target, audience, timestamp, nonce,
             hashlib.sha256(body).hexdigest()]
    return ("\n".join(lines) + "\n").encode()


def sshsig(key, data, namespace=NAMESPACE):
    """``ssh-keygen -Y sign`` of data: the blob (base64, one line)."""
    workdir = make_tempdir("golemtest-sign-")
    path = os.path.join(workdir, "message")
    with open(path, "wb") as f:
        f.write(data)
    proc = subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", namespace,
                           "-f", key, path], capture_output=True, text=True)
    expect_eq(proc.returncode, 0, f"ssh-keygen -Y sign -f {key} "
              f"({proc.stderr.strip()})")
    with open(path + ".sig") as f:
        armored = f.read().strip().splitlines()
    return "".join(armored[1:-1])


class Signer:
    """Signs requests to one provider (its id: ``audience``) with the private
    key ``key``, as golemctl does."""

    def __init__(self, key, audience):
        self.key = key
        self.audience = audience

    def headers(self, method, target, body=b"", audience=None,
                namespace=NAMESPACE, skew=0, nonce=None):
        """The X-Golem-* headers of the request; ``skew``: seconds the
        timestamp is off the clock now."""
        timestamp = str(int(time.time()) + skew)
        nonce = nonce or secrets.token_urlsafe(24)
        data = request_message(method, target, audience or self.audience,
                               timestamp, nonce, body)
        return {"X-Golem-Timestamp": timestamp, "X-Golem-Nonce": nonce,
                "X-Golem-Signature": sshsig(self.key, data, namespace)}


# --------------------------------------------------------------------------
# the multipass stand-in (tests/multipass)


def _standin_executable(path, workdir):
    """The stand-in as an executable: itself, or a wrapper when its
    executable bit is missing (as in a fresh checkout without modes)."""
    if os.access(path, os.X_OK):
        return path
    wrapper = os.path.join(workdir, "multipass")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s %s \"$@\"\n"
                % (shlex.quote(sys.executable), shlex.quote(path)))
    os.chmod(wrapper, 0o755)
    return wrapper


def instance_arg(argv):
    """The instance a multipass ``launch`` argv names (--name/-n)."""
    for i, arg in enumerate(argv):
        if arg in ("--name", "-n") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--name="):
            return arg[len("--name="):]
    return None


def guest_keys(state, vm):
    """The lines of ~ubuntu/.ssh/authorized_keys in VM ``vm``'s guest of the
    stand-in whose state dir is ``state``, as the provider last installed it
    there (``multipass exec ... install``: see tests/multipass); [] when it
    never did."""
    path = os.path.join(state, "instances", f"golem-{vm}.files",
                        "%home%ubuntu%.ssh%authorized_keys")
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


class Standin:
    """One private instance of tests/multipass: its state dir, its
    environment (``env``, for the provider) and what it was asked.
    ``settings`` are MULTIPASS_STANDIN_* suffixes (BOOT_SECONDS=1.5,
    PLAIN=1, ...); ``ip`` is the address its instances get."""

    def __init__(self, ip=None, **settings):
        self.workdir = make_tempdir("golemtest-multipass-")
        self.state = os.path.join(self.workdir, "state")
        os.makedirs(self.state)
        self.binary = _standin_executable(PATHS["multipass"], self.workdir)
        self.env = {"MULTIPASS_STANDIN_STATE": self.state}
        if ip:
            self.env["MULTIPASS_STANDIN_IP"] = ip
        for key, value in settings.items():
            self.env[f"MULTIPASS_STANDIN_{key}"] = str(value)
        on_cleanup(self.kill_orphans)

    def path(self, name):
        return os.path.join(self.state, name)

    def fault(self, name, content=""):
        """Create the fault file ``name`` (see tests/multipass)."""
        with open(self.path(name), "w") as f:
            f.write(content)

    def has_fault(self, name):
        return os.path.exists(self.path(name))

    def run(self, *args, check=True, stdin=None, timeout=60):
        """Run the stand-in with this state; returns the CompletedProcess."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MULTIPASS_STANDIN_")}
        env.update(self.env)
        proc = subprocess.run([self.binary] + list(args), env=env,
                              input=(stdin or "").encode(),
                              capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"multipass {' '.join(args)}: exit {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace')}")
        return proc

    def instances(self):
        """``multipass list --format json`` as {name: entry}; fails on
        duplicate names."""
        out = self.run("list", "--format", "json").stdout
        try:
            entries = json.loads(out)["list"]
        except (ValueError, KeyError, TypeError):
            raise AssertionError(f"multipass list: not the JSON expected: "
                                 f"{out[:300]!r}")
        names = [e["name"] for e in entries]
        expect_eq(len(names), len(set(names)),
                  f"distinct names in multipass list {names}")
        return {e["name"]: e for e in entries}

    def golem_instances(self):
        """{name: state} of the golem-* instances multipass lists."""
        return {n: e["state"] for n, e in self.instances().items()
                if n.startswith("golem-")}

    def power(self, vm):
        """What `multipass list` says of VM ``vm``'s instance golem-VM
        (Running, Stopped...), or None."""
        return self.golem_instances().get(f"golem-{vm}")

    def record(self, instance):
        """The stand-in's own record of ``instance`` (cloud_init, cpus...),
        or None."""
        try:
            with open(os.path.join(self.state, "instances",
                                   instance + ".json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def guest_keys(self, vm):
        """guest_keys() of VM ``vm`` of this stand-in."""
        return guest_keys(self.state, vm)

    def calls(self):
        """Every argv the stand-in was called with, in order."""
        try:
            with open(self.path("calls.log")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def launches(self, instance=None):
        """The ``launch`` argvs (of ``instance`` only, if given)."""
        return [argv for argv in self.calls()
                if argv and argv[0] == "launch"
                and instance in (None, instance_arg(argv))]

    def launched(self):
        """The instances launched so far, in order."""
        return [instance_arg(argv) for argv in self.launches()]

    def called(self, command):
        """The arguments of the ``command`` calls so far, flattened."""
        return [arg for argv in self.calls() if argv and argv[0] == command
                for arg in argv[1:]]

    def kill_orphans(self):
        """SIGKILL stand-in processes of this state dir that outlived their
        provider (kill -9 leaves its children behind; hang-next sleeps
        forever).  They are told apart by their environment."""
        marker = f"MULTIPASS_STANDIN_STATE={self.state}".encode()
        kill_pids([pid for pid in other_pids()
                   if marker in proc_environ(pid)])


# --------------------------------------------------------------------------
# golem-discoveryd


def discovery_daemon(binary=None, db_dir=None, host="127.0.0.1",
                     socket_activate=False, name="discoveryd", **settings):
    """A configured, not yet started golem-discoveryd (PATHS["discovery"]
    unless ``binary``), its database in its temp dir unless ``db_dir``,
    logging to stderr, the rate limit off.  ``settings`` are
    GOLEM_DISCOVERY_* suffixes (ADVERTISEMENT_TTL=2, ...), applied last."""
    d = Daemon(binary or PATHS["discovery"], host=host,
               socket_activate=socket_activate, name=name)
    db_dir = db_dir or d.path("db")
    os.makedirs(db_dir, exist_ok=True)
    d.env.update({
        "GOLEM_LOG_TARGET": "stderr",
        "GOLEM_DISCOVERY_HOST": host,
        "GOLEM_DISCOVERY_PORT": str(d.port),
        "GOLEM_DISCOVERY_DATABASE_DIR": db_dir,
        "GOLEM_DISCOVERY_RATE_LIMIT_PER_MINUTE": "0",
    })
    # The same cases against the PostgreSQL store (tests/meson.build runs them
    # under "golempg.py run --"): a database of its own per database dir.
    if os.environ.get("GOLEMTEST_DISCOVERY_STORE") == "postgresql":
        import golempg
        d.env["GOLEM_DISCOVERY_DATABASE_URL"] = golempg.database_url_for(db_dir)
    for key, value in settings.items():
        d.env["GOLEM_DISCOVERY_" + key] = str(value)
    return d


def start_discovery(binary=None, **kwargs):
    """A golem-discoveryd (see discovery_daemon) that has sent READY=1."""
    return discovery_daemon(binary, **kwargs).start().wait_ready()


def advertisement(discovery, provider_id):
    """The advertisement of ``provider_id`` at ``discovery``, or None."""
    status, _, data = http("GET", f"{discovery.url}{ADS}/{provider_id}")
    if status == 404:
        return None
    expect_eq(status, 200, f"GET {ADS}/{provider_id} (body {data!r})")
    return data


def wait_advertised(discovery, provider_id, resources=None, timeout=15):
    """Until ``discovery`` has the advertisement of ``provider_id`` (with
    these free resources, when given); returns it."""
    def check():
        ad = advertisement(discovery, provider_id)
        if ad is None or any(ad["resources"].get(k) != v
                             for k, v in (resources or {}).items()):
            return None
        return ad
    return wait_for(f"the advertisement of {provider_id} ({resources})",
                    check, timeout)


# --------------------------------------------------------------------------
# a small disk


_CLONE_NEWNS = 0x00020000
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_PRIVATE_MOUNTS = []


def small_disk(path, size="4m"):
    """Mounts a tmpfs of ``size`` on ``path``, in a mount namespace of the
    case's own (made once; the daemons it starts inherit it), so that the
    mount goes with the case whatever happens.  Needs root."""
    if not _PRIVATE_MOUNTS:
        libc = ctypes.CDLL(None, use_errno=True)
        expect(libc.unshare(_CLONE_NEWNS) == 0,
               f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())} "
               "(small_disk needs root)")
        expect(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None)
               == 0, f"making / private: {os.strerror(ctypes.get_errno())}")
        _PRIVATE_MOUNTS.append(True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700",
                    "tmpfs", path], check=True)


def fill_disk(directory):
    """Fills the filesystem of ``directory`` to the last byte; returns the
    file that does it (remove it, and the space is back)."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 1 << 20
        while size > 0:
            try:
                while os.write(fd, b"\0" * size) == size:
                    pass
            except OSError as e:
                expect(e.errno == errno.ENOSPC, f"filling {path}: {e}")
            size //= 2
    finally:
        os.close(fd)
    return path


# --------------------------------------------------------------------------
# golem-providerd


class ProviderDaemon(Daemon):
    """golem-providerd, and what the tests ask it over REST (plainly: the
    checks of every answer are call()'s).  ``ssh_range`` and ``capacity``
    are what it was configured with."""

    ssh_range = None
    capacity = None
    key = None          # the private key requests are signed with, if any

    def signed(self, key):
        """This provider, its requests signed with the private key ``key``
        (None: unsigned, anonymous)."""
        view = copy.copy(self)
        view.key = key
        return view

    def provider_id(self):
        """Its id, as GET /api/v1/provider/info (open to anyone) says."""
        status, _, data = http("GET", self.url + INFO)
        expect_eq(status, 200, f"{self.name}: GET {INFO} (body {data!r})")
        return data["provider_id"]

    def rest(self, method, path, body=None, timeout=60):
        """One request, signed with ``key`` when set; returns (status,
        data)."""
        headers = {}
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if isinstance(body, str):
            body = body.encode()
        if self.key:
            headers.update(Signer(self.key, self.provider_id()).headers(
                method, path, body or b""))
        status, _, data = http(method, self.url + path, body, headers,
                               timeout=timeout)
        return status, data

    def vm(self, name):
        """GET /api/v1/vms/NAME, or None (404)."""
        status, data = self.rest("GET", f"{VMS}/{name}")
        if status == 404:
            return None
        expect_eq(status, 200, f"{self.name}: GET {VMS}/{name} (body "
                  f"{data!r})")
        return data

    def vm_status(self, name):
        """The status of VM ``name``, or None."""
        vm = self.vm(name)
        return vm and vm["status"]

    def vms(self):
        status, data = self.rest("GET", VMS)
        expect_eq(status, 200, f"{self.name}: GET {VMS} (body {data!r})")
        return data

    def vm_names(self):
        return [vm["name"] for vm in self.vms()]

    def info(self):
        status, data = self.rest("GET", INFO)
        expect_eq(status, 200, f"{self.name}: GET {INFO} (body {data!r})")
        return data

    def create_vm(self, name, size="small", wait=True, key=None):
        """POST /api/v1/vms: answered (201) once the VM runs, or at once
        (202) with ``wait=False``; returns the answer."""
        body = {"name": name, "size": size,
                "ssh_key": key or random_public_key()}
        status, data = self.rest(
            "POST", VMS + ("" if wait else "?async=true"), body)
        expect_eq(status, 201 if wait else 202,
                  f"REST create {name} (body {data!r})")
        return data

    def data_dir(self):
        return self.env["GOLEM_PROVIDER_VM_DATA_DIR"]

    def respawn(self, name, same_port=False):
        """A new provider, not yet started, with this one's settings, state
        and stand-in, on a new API port (or this one's): for after this one
        is gone."""
        d = ProviderDaemon(self.binary, args=self.args, host=self.host,
                           name=name)
        d.env.update(self.env)  # (start() binds a NOTIFY_SOCKET of its own)
        if same_port:
            d.port = self.port
        d.env["GOLEM_PROVIDER_PORT"] = str(d.port)
        d.ssh_range, d.capacity = self.ssh_range, self.capacity
        d.key = self.key
        return d


def provider(binary=None, mp=None, name="providerd", host="127.0.0.1",
             port=None, capacity=CAPACITY, discovery=None, bus=None, args=(),
             **settings):
    """A configured, not yet started golem-providerd (PATHS["providerd"]
    unless ``binary``): its API on ``host``:``port`` (a free port unless
    given), VM_DATA_DIR in its temp dir, SSH ports from a port_range() of
    its own, ``capacity``, the rate limit off and the host usage thresholds
    at 100 % (the machine the tests run on does not matter), logging to
    stderr.  Its driver is the stand-in ``mp`` (or what ``settings`` say);
    it advertises to ``discovery`` (with ``host`` as its address, in
    country SE) when given; it serves D-Bus on ``bus`` (a golembus.SystemBus) or, without
    one, on no system bus at all: parallel providers must not meet on the
    real one (one bus name for all).  ``settings`` are GOLEM_PROVIDER_*
    suffixes (MAX_VMS=2, ...), applied last."""
    d = ProviderDaemon(binary or PATHS["providerd"], args=args, host=host,
                       name=name)
    if port is not None:
        d.port = port
    d.ssh_range = port_range(host=host)
    d.capacity = dict(capacity)
    data = d.path("data")
    os.makedirs(data)
    d.env.update({
        "GOLEM_LOG_TARGET": "stderr",
        "GOLEM_PROVIDER_HOST": host,
        "GOLEM_PROVIDER_PORT": str(d.port),
        "GOLEM_PROVIDER_VM_DATA_DIR": data,
        "GOLEM_PROVIDER_CPU_THRESHOLD": "100",
        "GOLEM_PROVIDER_MEMORY_THRESHOLD": "100",
        "GOLEM_PROVIDER_STORAGE_THRESHOLD": "100",
        "GOLEM_PROVIDER_CAPACITY_CPU": str(capacity["cpu"]),
        "GOLEM_PROVIDER_CAPACITY_MEMORY_GB": str(capacity["memory"]),
        "GOLEM_PROVIDER_CAPACITY_STORAGE_GB": str(capacity["storage"]),
        "GOLEM_PROVIDER_PORT_RANGE_START": str(d.ssh_range[0]),
        "GOLEM_PROVIDER_PORT_RANGE_END": str(d.ssh_range[1]),
        "GOLEM_PROVIDER_RATE_LIMIT_PER_MINUTE": "0",
        # The suites' requests are unsigned: the existing network's compat mode
        # (test-trust-provider.py covers signed ones).
        "GOLEM_PROVIDER_ALLOW_UNSIGNED_REQUESTS": "yes",
        "GOLEM_PROVIDER_LAUNCH_TIMEOUT_SEC": "120",
        "DBUS_SYSTEM_BUS_ADDRESS": (bus.address if bus else
                                    "unix:path=" + d.path("no-system-bus")),
    })
    if mp is not None:
        d.env.update(mp.env)
        d.env.update({"GOLEM_PROVIDER_DRIVER": "multipass",
                      "GOLEM_PROVIDER_MULTIPASS_BINARY_PATH": mp.binary})
    if discovery is not None:
        d.env.update({
            "GOLEM_PROVIDER_PUBLIC_IP": host,
            "GOLEM_PROVIDER_COUNTRY": "SE",
            "GOLEM_PROVIDER_DISCOVERY_URL": discovery.url,
            "GOLEM_PROVIDER_ADVERTISEMENT_INTERVAL": "3600",
        })
    for key, value in settings.items():
        d.env["GOLEM_PROVIDER_" + key] = str(value)
    d.ssh_range = (int(d.env["GOLEM_PROVIDER_PORT_RANGE_START"]),
                   int(d.env["GOLEM_PROVIDER_PORT_RANGE_END"]))
    return d


# --------------------------------------------------------------------------
# golemctl


class Golemctl:
    """golemctl (PATHS["golemctl"]) run with the environment ``env``, as
    ``user`` when given (else as this process), with no stdin.  ``strict``:
    a failure says so in exactly one line and nothing on stdout, and JSON
    comes as one line."""

    def __init__(self, env, user=None, timeout=120, strict=False):
        self.env = dict(env)
        self.user = user
        self.timeout = timeout
        self.strict = strict

    def what(self, args):
        return f"golemctl {' '.join(args)}" + (
            f" (as {self.user})" if self.user else "")

    unverified = False

    def picks_providers(self, args):
        """Whether golemctl ``args`` take providers from the discovery
        service ('providers', 'vm create')."""
        words = [a for a in args if not a.startswith("-")]
        return words[:1] == ["providers"] or words[:2] == ["vm", "create"]

    def argv(self, args):
        """golemctl's argv for ``args``: with --unverified in front for the
        verbs that pick providers when ``unverified`` (for providers with
        legacy ids, whose advertisements are unverified)."""
        args = list(args)
        if self.unverified and self.picks_providers(args):
            args.insert(0, "--unverified")
        return [PATHS["golemctl"]] + args

    def run(self, *args, timeout=None, env=None):
        """golemctl ARGS; returns (exit code, stdout, stderr)."""
        argv = self.argv(args)
        args = argv[1:]     # (for what(): as run)
        e = dict(self.env)
        e.update(env or {})
        kw = {} if self.user is None else {
            "user": self.user, "group": self.user, "extra_groups": []}
        timeout = timeout or self.timeout
        try:
            proc = subprocess.run(argv, env=e,
                                  cwd="/", stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout, **kw)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.what(args)}: still running after "
                                 f"{timeout}s")
        return (proc.returncode, proc.stdout.decode(errors="replace"),
                proc.stderr.decode(errors="replace"))

    def popen(self, *args):
        """golemctl ARGS started, with pipes for stdout and stderr."""
        return subprocess.Popen(self.argv(args),
                                env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def ok(self, *args, **kw):
        """golemctl succeeds; returns (stdout, stderr)."""
        code, out, err = self.run(*args, **kw)
        expect_eq(code, 0, f"{self.what(args)}: exit code "
                  f"(stdout {out!r}, stderr {err!r})")
        return out, err

    def fails(self, status, *args, message=None, **kw):
        """golemctl exits with ``status`` and says why on stderr, every
        line "golemctl: ..." (strict: one line, nothing on stdout), matching
        the regex ``message`` if given.  Returns (stdout, stderr)."""
        code, out, err = self.run(*args, **kw)
        what = self.what(args)
        expect_eq(code, status, f"{what}: exit code (stdout {out!r}, "
                  f"stderr {err!r})")
        lines = [line for line in err.splitlines() if line.strip()]
        expect(lines, f"{what}: no error message on stderr")
        expect(all(line.startswith("golemctl: ") for line in lines),
               f"{what}: stderr lines not all 'golemctl: ...': {err!r}")
        if self.strict:
            expect(len(lines) == 1, f"{what}: stderr is not one line "
                   f"'golemctl: ...': {err!r}")
            expect_eq(out, "", f"{what}: stdout")
        if message:
            expect(re.search(message, err),
                   f"{what}: stderr {err!r} does not match {message!r}")
        return out, err

    def json(self, *args, **kw):
        """The JSON golemctl --json=short ARGS prints."""
        out, _ = self.ok("--json=short", *args, **kw)
        if self.strict:
            expect(out.endswith("\n") and out.count("\n") == 1,
                   f"{self.what(args)} --json=short: not one line: {out!r}")
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError(f"{self.what(args)} --json=short: "
                                 f"not JSON: {out!r}")


class Requestor(Golemctl):
    """One user of golemctl: HOME and the XDG dirs in a temp dir of its own,
    nothing of the caller's GOLEM_*, XDG_*, pager, colour or ssh agent
    settings; ``discovery`` as its discovery service when given.  ``env``
    adds to (or overrides) that environment.  ``unverified``: 'providers'
    and 'vm create' get --unverified (see Golemctl.argv())."""

    def __init__(self, discovery=None, name="requestor", env=None,
                 timeout=120, unverified=False):
        self.unverified = unverified
        base = make_tempdir(f"golemtest-{name}-")
        self.home = os.path.join(base, "home")
        self.config = os.path.join(base, "config")
        self.state = os.path.join(base, "state")
        self.data = os.path.join(base, "data")
        for d in (self.home, self.config, self.state, self.data):
            os.makedirs(d)
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("GOLEM_", "XDG_", "MULTIPASS_"))
                 and k not in ("PAGER", "LESS", "NO_COLOR", "SSH_AUTH_SOCK",
                               "DISPLAY", "SSH_ASKPASS")}
        clean.update({
            "HOME": self.home,
            "XDG_CONFIG_HOME": self.config,
            "XDG_STATE_HOME": self.state,
            "XDG_DATA_HOME": self.data,
            "TERM": "xterm",
        })
        if discovery is not None:
            clean["GOLEM_REQUESTOR_DISCOVERY_URL"] = discovery.url
        clean.update(env or {})
        super().__init__(clean, timeout=timeout)

    @property
    def db_path(self):
        return os.path.join(self.state, "golem", "golemctl.db")

    @property
    def generated_key(self):
        """The private key golemctl generates on its first create."""
        return os.path.join(self.data, "golem", "id_ed25519")

    def generated_pub(self):
        with open(self.generated_key + ".pub") as f:
            return f.read().strip()

    def records(self):
        """The rows of golemctl's state database, by VM name."""
        if not os.path.exists(self.db_path):
            return {}
        con = sqlite3.connect(self.db_path)
        try:
            con.row_factory = sqlite3.Row
            return {row["name"]: dict(row)
                    for row in con.execute("SELECT * FROM vms")}
        finally:
            con.close()


def run_on_terminal(argv, env, user=None, rows=None, timeout=60, respond=None, cols=120):
    """``argv`` with a pseudo-terminal of its own as its controlling
    terminal, stdin, stdout and stderr (``rows`` x ``cols`` characters when
    rows is given), as ``user`` when given; returns (pid, exit code, output).
    ``respond(output so far)``, called as output comes, may return bytes to
    type on the terminal (b"\x03" is Ctrl-C)."""
    master, slave = pty.openpty()
    if rows:
        fcntl.ioctl(master, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))

    def controlling_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    kw = {} if user is None else {"user": user, "group": user,
                                  "extra_groups": []}
    proc = subprocess.Popen(argv, env=env, cwd="/", stdin=slave,
                            stdout=slave, stderr=slave,
                            start_new_session=True,
                            preexec_fn=controlling_terminal, **kw)
    os.close(slave)
    on_cleanup(lambda: proc.poll() is None and proc.kill())
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:     # EIO: every slave fd is closed
            break
        if not chunk:
            break
        output += chunk
        typed = respond(output.decode(errors="replace")) if respond else None
        if typed:
            os.write(master, typed)
    os.close(master)
    try:
        code = proc.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{' '.join(argv)} on a terminal: still running "
                             f"after {timeout}s; it printed {output!r}")
    return proc.pid, code, output.decode(errors="replace")


# --------------------------------------------------------------------------
# ssh and sshd


def run_ssh(key, port, *command, host="127.0.0.1", user="root", input=None,
            timeout=60):
    """Plain ssh to host:port with only ``key``: no config, agent, known
    hosts or questions.  Returns the CompletedProcess (bytes)."""
    ssh = shutil.which("ssh")
    expect(ssh, "ssh not found (apt-get install openssh-client)")
    argv = [ssh, "-F", "/dev/null", "-i", key, "-p", str(port),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10", "--", f"{user}@{host}"] + list(command)
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSH_AUTH_SOCK", "DISPLAY", "SSH_ASKPASS")}
    return subprocess.run(argv, input=input, capture_output=True,
                          timeout=timeout, env=env,
                          stdin=None if input is not None
                          else subprocess.DEVNULL)


class Sshd:
    """A real sshd (root) on port 22 of a loopback address of its own
    (``ip``), with a host key of its own; logins as root by the keys
    ``authorize()`` adds.  Stopped when the case ends."""

    def __init__(self):
        self.binary = find_program("sshd", ("/usr/sbin/sshd",
                                            shutil.which("sshd")),
                                   "openssh-server")
        expect(os.geteuid() == 0, "sshd on port 22 needs root")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privsep dir
        self.dir = make_tempdir("golemtest-sshd-")
        self.ip = loopback_ip(22)
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        open(self.authorized_keys, "w").close()
        self.proc = None
        on_cleanup(self.stop)
        self.start(new_host_key=True)

    def start(self, new_host_key=False):
        """Start it (again), with a new host key if asked; returns once it
        greets with an SSH banner."""
        hostkey = os.path.join(self.dir, "host_ed25519")
        if new_host_key:
            for path in (hostkey, hostkey + ".pub"):
                if os.path.exists(path):
                    os.unlink(path)
            make_key("host", self.dir, "host_ed25519")
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write(f"ListenAddress {self.ip}:22\n"
                    f"HostKey {hostkey}\n"
                    f"AuthorizedKeysFile {self.authorized_keys}\n"
                    f"PidFile {os.path.join(self.dir, 'sshd.pid')}\n"
                    "UsePAM no\nStrictModes no\n"
                    "PermitRootLogin prohibit-password\n"
                    "PasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\n"
                    "MaxStartups 50\nMaxSessions 50\nLogLevel VERBOSE\n")
        with open(os.path.join(self.dir, "sshd.log"), "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-D", "-e", "-f", config],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_set_pdeathsig)

        def banner():
            expect(self.proc.poll() is None, f"sshd exited with "
                   f"{self.proc.returncode}: {self.logtext()}")
            try:
                with socket.create_connection((self.ip, 22), timeout=1) as s:
                    return s.recv(64).startswith(b"SSH-2.0")
            except OSError:
                return False
        wait_for(f"sshd answering on {self.ip}:22", banner, 10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def logtext(self):
        return _read_text(os.path.join(self.dir, "sshd.log"))[-3000:]

    def authorize(self, key_line):
        with open(self.authorized_keys, "a") as f:
            f.write(key_line.strip() + "\n")


# --------------------------------------------------------------------------
# case registry and runner


def case(fn):
    """Register ``fn(binary)`` as a test case named after the function."""
    CASES[fn.__name__] = fn
    return fn


def _on_sigterm(signum, frame):
    raise SystemExit(f"killed by signal {signum}")


def _report_daemons():
    for daemon in _DAEMONS:
        text = daemon.stderr()
        if text:
            print(f"--- {daemon.name} stderr ({daemon.stderr_path}) ---",
                  file=sys.stderr)
            print(text[-8000:], file=sys.stderr)


def run_case(name, binary):
    """Run one case; returns True on pass.  Prints a clear message."""
    _DAEMONS.clear()
    passed = False
    try:
        CASES[name](binary)
        passed = True
    except AssertionError as e:
        print(f"FAIL {name}: {e}", file=sys.stderr)
    except Exception:
        print(f"ERROR {name}:", file=sys.stderr)
        traceback.print_exc()
    finally:
        _cleanup_daemons()
    if passed:
        print(f"PASS {name}")
        for path in _TEMPDIRS:
            shutil.rmtree(path, ignore_errors=True)
    else:
        _report_daemons()
        print(f"(temp dirs kept: {' '.join(_TEMPDIRS)})", file=sys.stderr)
    _TEMPDIRS.clear()
    return passed


def main(paths=(), binary=None):
    """Run the cases the command line names (see the top of this file).
    ``binary``: what the binary under test is called in PATHS (and as an
    option, for --binary); ``paths``: the options naming other programs,
    each required."""
    parser = argparse.ArgumentParser()
    names = ["--binary"] + ([f"--{binary}"] if binary else [])
    parser.add_argument(*names, dest="binary",
                        help="the program under test")
    for name in paths:
        parser.add_argument(f"--{name}", metavar="PATH",
                            help=f"path of the {name} program (required)")
    parser.add_argument("--list", action="store_true",
                        help="print the case names, one per line")
    parser.add_argument("case", nargs="?",
                        help="the case to run (default: all)")
    opts = parser.parse_args()
    if opts.list:
        print("\n".join(CASES))
        return 0
    if not opts.binary:
        parser.error("--binary is required")
    if opts.case and opts.case not in CASES:
        parser.error(f"unknown case {opts.case!r}; see --list")
    signal.signal(signal.SIGTERM, _on_sigterm)
    program = os.path.abspath(opts.binary)
    if not os.access(program, os.X_OK):
        parser.error(f"{program} is not executable")
    if binary:
        PATHS[binary] = program
    for name in paths:
        value = getattr(opts, name.replace("-", "_"))
        if not value:
            parser.error(f"--{name} is required")
        if not os.path.exists(value):
            parser.error(f"--{name}: {value} does not exist")
        PATHS[name] = os.path.abspath(value)
    cases = [opts.case] if opts.case else list(CASES)
    failed = [n for n in cases if not run_case(n, program)]
    if len(cases) > 1:
        print(f"{len(cases) - len(failed)}/{len(cases)} passed"
              + (f"; failed: {' '.join(failed)}" if failed else ""))
    return 1 if failed else 0
