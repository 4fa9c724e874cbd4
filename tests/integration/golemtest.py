"""Integration-test harness for the golem daemons (standard library only).

A test script registers cases with ``@case`` and calls ``main()``:

    python3 test-foo.py --list                  # one case name per line
    python3 test-foo.py --binary PATH CASE      # one case: exit 0 pass, 1 fail
    python3 test-foo.py --binary PATH           # run every case in turn

Each case receives the absolute path of the binary under test.  Cases never
skip (exit 77 is not used): a missing prerequisite is a failure.

A script that needs more programs than the one under test passes their
option names to ``main(paths=("discovery", ...))``; ``--discovery PATH``
then lands (absolute) in ``PATHS["discovery"]``.  ``on_cleanup(fn)``
registers ``fn()`` to run when the current case ends, after its daemons
are killed.
"""

import argparse
import atexit
import ctypes
from http.client import HTTPConnection, HTTPException
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

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


# --------------------------------------------------------------------------
# assertions


def expect(condition, message):
    """Fail the case with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def expect_eq(actual, expected, what):
    """Fail unless ``actual == expected``, showing both values."""
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


# --------------------------------------------------------------------------
# ports, temp dirs, HTTP


def free_port(host="127.0.0.1"):
    """A TCP port that was free on ``host`` a moment ago (bind 0, close)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def make_tempdir(prefix="golemtest-"):
    """A fresh directory, removed at exit if the case passed."""
    path = tempfile.mkdtemp(prefix=prefix)
    _TEMPDIRS.append(path)
    return path


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
        return _exchange(conn, method, path, body, headers)
    except (OSError, HTTPException) as e:
        raise AssertionError(f"{method} {url}: no HTTP answer: {e!r}")
    finally:
        conn.close()


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


# --------------------------------------------------------------------------
# daemons


def _set_pdeathsig():
    """In the child: get SIGKILL if the test process dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def find_socket_activate():
    """Path of systemd-socket-activate; fails the case when absent."""
    for path in (shutil.which("systemd-socket-activate"),
                 "/usr/bin/systemd-socket-activate",
                 "/lib/systemd/systemd-socket-activate",
                 "/usr/lib/systemd/systemd-socket-activate"):
        if path and os.access(path, os.X_OK):
            return path
    raise AssertionError("systemd-socket-activate not found")


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
        self.env["NOTIFY_SOCKET"] = path

    def _receive(self, timeout):
        """Collect notify datagrams, waiting at most ``timeout`` seconds."""
        self._notify.settimeout(timeout)  # 0: just drain what is queued
        while True:
            try:
                data = self._notify.recv(65536)
            except (BlockingIOError, socket.timeout):
                return
            self.notifications.append(data.decode(errors="replace"))
            self._notify.settimeout(0)

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


def main(paths=()):
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", help="the daemon binary under test")
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
    binary = os.path.abspath(opts.binary)
    if not os.access(binary, os.X_OK):
        parser.error(f"{binary} is not executable")
    for name in paths:
        value = getattr(opts, name.replace("-", "_"))
        if not value:
            parser.error(f"--{name} is required")
        if not os.path.exists(value):
            parser.error(f"--{name}: {value} does not exist")
        PATHS[name] = os.path.abspath(value)
    names = [opts.case] if opts.case else list(CASES)
    failed = [n for n in names if not run_case(n, binary)]
    if len(names) > 1:
        print(f"{len(names) - len(failed)}/{len(names)} passed"
              + (f"; failed: {' '.join(failed)}" if failed else ""))
    return 1 if failed else 0


# --------------------------------------------------------------------------
# golemctl


def with_unverified(args):
    """golemctl ``args`` with ``--unverified`` in front when they run a verb
    that picks providers from the discovery service ('providers', 'vm
    create'): golemctl takes only verified (signed) advertisements unless
    told otherwise, and the test providers advertise under legacy,
    unverified ids."""
    args = list(args)
    verb = [a for a in args if a in ("providers", "vm")][:1]
    if verb == ["providers"] or (verb == ["vm"] and
                                 args[args.index("vm") + 1:][:1] == ["create"]):
        return ["--unverified"] + args
    return args
