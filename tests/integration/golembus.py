"""The D-Bus world of the integration tests, standard library only: a
client that speaks the wire protocol, a private system bus (dbus-daemon), a
real polkitd on it with the test users and their rules, and golem-providerd
on that bus (BusWorld).  The rest of the world (daemons, stand-ins, ports,
wait_for) is golemworld's.

    bus = SystemBus(includes=[CONF]).start()
    bus.start_polkit()
    conn = bus.connect()                      # in this process (root)
    conn.call(DEST, PATH, IFACE, "Method", "sa{sv}", ["x", {"k": ("s", "v")}])
    bus.call_as("someuser", DEST, PATH, IFACE, "Method", ...)  # in a child

Values: integers, bools, floats and strings for the basic types; lists for
arrays, dicts for arrays of dict entries, tuples (or lists) for structs.  A
variant is sent as a (signature, value) pair and received as its plain
value.  A failed call raises ``BusError`` with the error's name.

Run as a script (``python3 golembus.py call ADDRESS REQUEST``) it makes one
call and prints the answer as JSON: that is how ``call_as`` calls as another
user, with the credentials of a real child process.
"""

import json
import os
import pwd
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

try:
    import golemworld
    from golemworld import expect, wait_for
except ImportError:  # as the child of call_as(): only the client is needed
    golemworld = None

DBUS_NAME = "org.freedesktop.DBus"
DBUS_PATH = "/org/freedesktop/DBus"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
POLKIT_NAME = "org.freedesktop.PolicyKit1"

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
FLAG_NO_REPLY_EXPECTED = 0x1
FLAG_NO_AUTO_START = 0x2
FLAG_ALLOW_INTERACTIVE_AUTHORIZATION = 0x4

_FIELDS = {1: "path", 2: "interface", 3: "member", 4: "error_name",
           5: "reply_serial", 6: "destination", 7: "sender",
           8: "signature", 9: "unix_fds"}
_FIELD_TYPES = {"path": "o", "interface": "s", "member": "s",
                "error_name": "s", "reply_serial": "u", "destination": "s",
                "sender": "s", "signature": "g", "unix_fds": "u"}
_FIELD_CODES = {v: k for k, v in _FIELDS.items()}

_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8,
          "d": 8, "h": 4, "s": 4, "o": 4, "g": 1, "v": 1, "a": 4, "(": 8,
          "{": 8}
_FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I",
          "x": "q", "t": "Q", "d": "d", "h": "I"}


class BusError(Exception):
    """A D-Bus error reply: ``name`` and ``message``."""

    def __init__(self, name, message=""):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


# --------------------------------------------------------------------------
# signatures and (un)marshalling


def _type_end(sig, i):
    """Index just past the single complete type starting at sig[i]."""
    c = sig[i]
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        i += 1
        while sig[i] != close:
            i = _type_end(sig, i)
        return i + 1
    if c not in _ALIGN:
        raise ValueError(f"bad signature {sig!r}")
    return i + 1


def split_signature(sig):
    """The complete types of ``sig``: "sa{sv}" -> ["s", "a{sv}"]."""
    types, i = [], 0
    while i < len(sig):
        j = _type_end(sig, i)
        types.append(sig[i:j])
        i = j
    return types


def _pad(buf, n):
    buf.extend(b"\0" * (-len(buf) % n))


def _marshal(buf, t, v):
    c = t[0]
    _pad(buf, _ALIGN[c])
    if c in _FIXED:
        buf += struct.pack("<" + _FIXED[c], int(v) if c == "b" else v)
    elif c in "so":
        data = v.encode()
        buf += struct.pack("<I", len(data)) + data + b"\0"
    elif c == "g":
        data = v.encode()
        buf += bytes([len(data)]) + data + b"\0"
    elif c == "v":
        sig, value = v
        _marshal(buf, "g", sig)
        _marshal(buf, sig, value)
    elif c == "a":
        elem = t[1:]
        at = len(buf)
        buf += b"\0\0\0\0"
        _pad(buf, _ALIGN[elem[0]])
        start = len(buf)
        for item in (v.items() if elem[0] == "{" else v):
            _marshal(buf, elem, item)
        struct.pack_into("<I", buf, at, len(buf) - start)
    else:  # struct or dict entry
        subtypes = split_signature(t[1:-1])
        if len(subtypes) != len(v):
            raise ValueError(f"{v!r} does not fit {t}")
        for sub, item in zip(subtypes, v):
            _marshal(buf, sub, item)


def marshal(signature, values):
    """The body bytes of ``values`` (a sequence) under ``signature``."""
    types = split_signature(signature)
    if len(types) != len(values):
        raise ValueError(f"{len(values)} values for signature {signature!r}")
    buf = bytearray()
    for t, v in zip(types, values):
        _marshal(buf, t, v)
    return bytes(buf)


class _Reader:
    def __init__(self, data, pos=0, endian="<"):
        self.data, self.pos, self.endian = data, pos, endian

    def align(self, n):
        self.pos += -self.pos % n

    def fixed(self, code):
        fmt = self.endian + _FIXED[code]
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def read(self, t):
        c = t[0]
        self.align(_ALIGN[c])
        if c in _FIXED:
            v = self.fixed(c)
            return bool(v) if c == "b" else v
        if c in "so":
            n = self.fixed("u")
            s = self.data[self.pos:self.pos + n].decode()
            self.pos += n + 1
            return s
        if c == "g":
            n = self.data[self.pos]
            s = self.data[self.pos + 1:self.pos + 1 + n].decode()
            self.pos += n + 2
            return s
        if c == "v":
            return self.read(self.read("g"))
        if c == "a":
            n = self.fixed("u")
            elem = t[1:]
            self.align(_ALIGN[elem[0]])
            end = self.pos + n
            items = []
            while self.pos < end:
                items.append(self.read(elem))
            return dict(items) if elem[0] == "{" else items
        return tuple(self.read(sub) for sub in split_signature(t[1:-1]))


def unmarshal(signature, data, endian="<"):
    r = _Reader(data, 0, endian)
    return [r.read(t) for t in split_signature(signature)]


# --------------------------------------------------------------------------
# messages


class Message:
    """One D-Bus message; ``index`` orders the messages a connection got."""

    def __init__(self, type_, fields, body, serial=0, flags=0):
        self.type = type_
        self.fields = fields
        self.body = body
        self.serial = serial
        self.flags = flags
        self.index = None

    def __getattr__(self, name):
        if name in _FIELD_TYPES:
            return self.fields.get(name)
        raise AttributeError(name)

    def __repr__(self):
        kind = {1: "call", 2: "return", 3: "error", 4: "signal"}[self.type]
        f = self.fields
        return (f"<{kind} {f.get('sender')} {f.get('path')} "
                f"{f.get('interface')}.{f.get('member')}"
                f"{' ' + f['error_name'] if 'error_name' in f else ''}"
                f" {self.body!r}>")

    def encode(self):
        body = marshal(self.fields.get("signature", ""), self.body)
        fields = [(_FIELD_CODES[k], (_FIELD_TYPES[k], v))
                  for k, v in self.fields.items()]
        head = bytearray()
        _marshal(head, "y", ord("l"))
        _marshal(head, "y", self.type)
        _marshal(head, "y", self.flags)
        _marshal(head, "y", 1)
        _marshal(head, "u", len(body))
        _marshal(head, "u", self.serial)
        _marshal(head, "a(yv)", fields)
        _pad(head, 8)
        return bytes(head) + body


def _message_size(buf):
    """Total size of the message at the start of ``buf``, or None when the
    fixed part has not arrived yet."""
    if len(buf) < 16:
        return None
    endian = "<" if buf[0:1] == b"l" else ">"
    body_len, _, fields_len = struct.unpack_from(endian + "III", buf, 4)
    header = 16 + fields_len
    header += -header % 8
    return header + body_len


def _decode(data):
    endian = "<" if data[0:1] == b"l" else ">"
    r = _Reader(data, 0, endian)
    _, type_, flags, _ = (r.read("y") for _ in range(4))
    body_len = r.read("u")
    serial = r.read("u")
    fields = {}
    for code, value in r.read("a(yv)"):
        if code in _FIELDS:
            fields[_FIELDS[code]] = value
    r.align(8)
    body_data = data[r.pos:r.pos + body_len]
    body = unmarshal(fields.get("signature", ""), body_data, endian)
    return Message(type_, fields, body, serial, flags)


# --------------------------------------------------------------------------
# a connection


def _socket_path(address):
    """The unix socket of a D-Bus address (the first usable entry)."""
    for entry in address.split(";"):
        transport, _, params = entry.partition(":")
        if transport != "unix":
            continue
        kv = dict(p.split("=", 1) for p in params.split(",") if "=" in p)
        if "path" in kv:
            return kv["path"]
        if "abstract" in kv:
            return "\0" + kv["abstract"]
    raise ValueError(f"no unix socket in D-Bus address {address!r}")


class Connection:
    """A client connection, authenticated as this process' effective uid.

    A thread reads everything that arrives: replies are matched to calls,
    signals are kept in ``signals`` (in arrival order) for ``wait_signal``.
    """

    def __init__(self, address, timeout=10):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(_socket_path(address))
        self._auth()
        self.sock.settimeout(None)
        self._serial = 0
        self._count = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._replies = {}
        self.signals = []
        self.closed = False
        self._thread = threading.Thread(target=self._read_loop, daemon=True)
        self._thread.start()
        self.unique_name = self.call(DBUS_NAME, DBUS_PATH, DBUS_NAME,
                                     "Hello")[0]

    def _auth(self):
        uid = str(os.geteuid()).encode().hex().encode()
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("bus closed the connection during auth")
            line += chunk
        if not line.startswith(b"OK "):
            raise ConnectionError(f"bus refused EXTERNAL auth: {line!r}")
        self.sock.sendall(b"BEGIN\r\n")

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the reader thread

    def _read_loop(self):
        buf = b""
        try:
            while True:
                size = _message_size(buf)
                while size is None or len(buf) < size:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise EOFError
                    buf += chunk
                    size = _message_size(buf)
                msg = _decode(buf[:size])
                buf = buf[size:]
                self._dispatch(msg)
        except (OSError, EOFError, ValueError):
            pass
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _dispatch(self, msg):
        with self._cond:
            msg.index = self._count
            self._count += 1
            if msg.type in (METHOD_RETURN, ERROR):
                self._replies[msg.reply_serial] = msg
            elif msg.type == SIGNAL:
                self.signals.append(msg)
            else:
                return  # nobody calls us
            self._cond.notify_all()

    # -- calls

    def send(self, type_, fields, signature="", args=(), flags=0):
        with self._lock:
            self._serial += 1
            serial = self._serial
        if signature:
            fields = dict(fields, signature=signature)
        data = Message(type_, fields, list(args), serial, flags).encode()
        self.sock.sendall(data)
        return serial

    def call_message(self, dest, path, interface, member, signature="",
                     args=(), timeout=30, flags=0):
        """Make a call; returns the reply Message (a return or an error)."""
        fields = {"path": path, "member": member}
        if interface:
            fields["interface"] = interface
        if dest:
            fields["destination"] = dest
        serial = self.send(METHOD_CALL, fields, signature, args, flags)
        deadline = time.monotonic() + timeout
        with self._cond:
            while serial not in self._replies:
                left = deadline - time.monotonic()
                if self.closed:
                    raise ConnectionError(f"bus connection closed during "
                                          f"{interface}.{member}")
                if left <= 0:
                    raise TimeoutError(f"no reply to {interface}.{member} "
                                       f"on {path} within {timeout}s")
                self._cond.wait(left)
            return self._replies.pop(serial)

    def call(self, dest, path, interface, member, signature="", args=(),
             timeout=30, flags=0):
        """Make a call; returns the reply's values, raises BusError."""
        reply = self.call_message(dest, path, interface, member, signature,
                                  args, timeout, flags)
        if reply.type == ERROR:
            text = reply.body[0] if reply.body and \
                isinstance(reply.body[0], str) else ""
            raise BusError(reply.error_name, text)
        return reply.body

    # -- conveniences

    def add_match(self, rule):
        self.call(DBUS_NAME, DBUS_PATH, DBUS_NAME, "AddMatch", "s", [rule])

    def name_has_owner(self, name):
        return self.call(DBUS_NAME, DBUS_PATH, DBUS_NAME, "NameHasOwner",
                         "s", [name])[0]

    def wait_signal(self, predicate, timeout, what, start=0):
        """The first signal at or after position ``start`` of ``signals``
        for which ``predicate(msg)`` holds, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.signals[start:]:
                    if predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    got = "\n  ".join(repr(m) for m in self.signals[start:])
                    raise AssertionError(
                        f"no signal {what} within {timeout}s; got:\n  {got}")
                self._cond.wait(left)

    def signals_since(self, start=0):
        with self._lock:
            return list(self.signals[start:])


# --------------------------------------------------------------------------
# calling as another user (a child process with that user's credentials)


def _world_executable(path):
    """Whether anyone may run ``path`` (every directory above searchable)."""
    path = os.path.realpath(path)
    if not os.path.isfile(path) or not os.stat(path).st_mode & 0o001:
        return False
    d = os.path.dirname(path)
    while d != "/":
        if not os.stat(d).st_mode & 0o001:
            return False
        d = os.path.dirname(d)
    return True


def _python_for_others():
    """A python3 the test users can run: ours unless it sits in root's
    home (pyenv...), else the system's."""
    for path in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if path and _world_executable(path):
            return path
    raise AssertionError("no python3 that other users may run "
                         f"({sys.executable} is not)")


def _source():
    with open(os.path.abspath(__file__)) as f:
        return f.read()


class Pending:
    """A call made in a child process; ``result()`` waits for it."""

    def __init__(self, argv, user, env, what):
        self.what = what
        self.proc = subprocess.Popen(
            argv, user=user, group=user, extra_groups=[], cwd="/", env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        if golemworld:
            golemworld.on_cleanup(self.kill)

    def kill(self):
        """Kill the child if it still waits (when the case ends)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()

    def result(self, timeout=60):
        """The reply's values; raises BusError for an error reply."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError(f"{self.what}: no answer within {timeout}s")
        try:
            answer = json.loads(out)
        except ValueError:
            raise AssertionError(
                f"{self.what}: the client failed (exit {self.proc.returncode})"
                f": {err.decode(errors='replace')}{out[:500]!r}")
        if "error" in answer:
            raise BusError(answer["error"], answer["message"])
        return answer["reply"]


def spawn_call_as(address, user, dest, path, interface, member, signature="",
                  args=(), timeout=30, flags=0):
    """Start a call as ``user`` (a child process); returns a Pending."""
    request = {"dest": dest, "path": path, "interface": interface,
               "member": member, "signature": signature, "args": list(args),
               "timeout": timeout, "flags": flags}
    argv = [_python_for_others(), "-B", "-c", _source(), "call", address,
            json.dumps(request)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    return Pending(argv, user, env, f"{user}: {interface}.{member} on {path}")


def call_as(address, user, *args, **kwargs):
    """A call as ``user``: the reply's values, or raises BusError."""
    timeout = kwargs.get("timeout", 30)
    return spawn_call_as(address, user, *args, **kwargs).result(timeout + 10)


# --------------------------------------------------------------------------
# a private system bus and polkitd


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- A private system bus for one test case: the default policy of Debian's
     system.conf (nobody owns a name or calls a method unless a rule says so),
     polkitd, and the policies included below. -->
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy user="polkitd">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
{includes}
</busconfig>
"""

POLKITD_CANDIDATES = ("/usr/lib/polkit-1/polkitd", "/usr/libexec/polkitd",
                      "/usr/lib/policykit-1/polkitd")


class _LoggedDaemon(golemworld.Daemon if golemworld else object):
    """A Daemon whose report on failure shows stdout as well (polkitd logs
    there)."""

    def stderr(self):
        out = self.stdout()
        return (out + "\n" if out else "") + super().stderr()


class SystemBus:
    """dbus-daemon with a system-bus configuration on a socket of its own
    temp dir; ``includes`` are policy files it reads (as <include>)."""

    def __init__(self, includes=(), name="dbus-daemon"):
        binary = golemworld.find_program(
            "dbus-daemon", (shutil.which("dbus-daemon"),
                            "/usr/bin/dbus-daemon"), "dbus-daemon")
        self.daemon = _LoggedDaemon(binary, name=name)
        # polkitd and the test users connect too: the socket's directory
        # must be reachable for them.
        os.chmod(self.daemon.workdir, 0o755)
        self.socket = self.daemon.path("system_bus_socket")
        self.address = "unix:path=" + self.socket
        self.config = self.daemon.path("system.conf")
        with open(self.config, "w") as f:
            f.write(BUS_CONFIG.format(
                socket=self.socket,
                includes="\n".join(f"  <include>{os.path.abspath(p)}</include>"
                                   for p in includes)))
        self.daemon.args = [f"--config-file={self.config}", "--nofork",
                            "--nosyslog"]
        self.polkitd = None
        self.conn = None

    def start(self, timeout=10):
        """Start dbus-daemon; returns once a client got through Hello."""
        self.daemon.start()

        def connected():
            self.daemon._fail_if_exited("before accepting connections")
            try:
                return Connection(self.address)
            except (OSError, ConnectionError):
                return None
        self.conn = wait_for("dbus-daemon to accept a connection", connected,
                             timeout, 0.05, self.daemon.tail)
        golemworld.on_cleanup(self.conn.close)
        return self

    def env(self):
        """What a process needs in its environment to use this bus."""
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def start_polkit(self, timeout=20):
        """Start polkitd on this bus; returns once it owns its name."""
        binary = golemworld.find_program("polkitd", POLKITD_CANDIDATES,
                                         "polkitd")
        self.polkitd = _LoggedDaemon(binary, name="polkitd")
        self.polkitd.env.update(self.env())
        self.polkitd.start()
        self.wait_name(POLKIT_NAME, self.polkitd, timeout)
        return self.polkitd

    def wait_name(self, name, daemon, timeout=20):
        """Wait until ``name`` has an owner; fail if ``daemon`` exits."""
        def owned():
            daemon._fail_if_exited(f"before taking {name}")
            return self.conn.name_has_owner(name)
        wait_for(f"{daemon.name} to own {name}", owned, timeout, 0.05,
                 daemon.tail)

    def connect(self):
        """Another connection as this process' user (root)."""
        conn = Connection(self.address)
        golemworld.on_cleanup(conn.close)
        return conn

    def call_as(self, user, *args, **kwargs):
        return call_as(self.address, user, *args, **kwargs)

    def spawn_call_as(self, user, *args, **kwargs):
        return spawn_call_as(self.address, user, *args, **kwargs)

    def run_as(self, user, argv, timeout=30):
        """Run a program (busctl...) as ``user`` on this bus; returns the
        CompletedProcess."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
        env.update(self.env())
        kw = {} if user is None else {"user": user, "group": user,
                                      "extra_groups": []}
        return subprocess.run(argv, env=env, cwd="/", capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def ensure_users(names):
    """Create the system users ``names`` (each with its own group) unless
    they exist.  Parallel cases may race for /etc/passwd: useradd then
    fails to lock it, and we try again."""
    for name in names:
        for attempt in range(50):
            try:
                pwd.getpwnam(name)
                break
            except KeyError:
                pass
            proc = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--user-group",
                 "--shell", "/usr/sbin/nologin", name],
                capture_output=True, stdin=subprocess.DEVNULL)
            if proc.returncode not in (0, 9):  # 9: exists (raced)
                expect(attempt < 49, f"useradd {name}: "
                       f"{proc.stderr.decode(errors='replace')}")
                time.sleep(0.1)
        else:
            raise AssertionError(f"user {name} could not be created")


def install_file(path, content, mode=0o644):
    """Write ``path`` atomically unless it holds ``content`` already."""
    try:
        with open(path) as f:
            if f.read() == content:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def uid_of(user):
    return pwd.getpwnam(user).pw_uid


# --------------------------------------------------------------------------
# golem-providerd on a private system bus: its names, the test users and
# their polkit rules, the world of one case


BUS_NAME = "org.golem.Provider1"
MANAGER_PATH = "/org/golem/Provider1"
VM_PREFIX = "/org/golem/Provider1/vm"
MANAGER = "org.golem.Provider1.Manager"
VM = "org.golem.Provider1.VM"

GOLEM_ERROR = "org.golem.Provider1.Error."  # + the name
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
INTERACTIVE = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"

# The test users and what the rules file lets them do:
#   golemtest-allow     everything (both actions)
#   golemtest-deny      nothing (polkit answers NO: AccessDenied)
#   golemtest-stoponly  manage-vms with verb "stop" only; anything else falls
#                       to the policy's auth_admin_keep, i.e. a password the
#                       non-interactive callers cannot give
#                       (InteractiveAuthorizationRequired)
#   golemtest-mine      manage-vms on VMs whose name starts with "mine-"
#   golemtest-slow      everything, after polkit spent 3 s deciding
ALLOW = "golemtest-allow"
DENY = "golemtest-deny"
STOPONLY = "golemtest-stoponly"
MINE = "golemtest-mine"
SLOW = "golemtest-slow"
ROOT = None  # the daemon's own uid: polkit is not asked
USERS = (ALLOW, DENY, STOPONLY, MINE, SLOW)

MANAGE_VMS = "org.golem.provider1.manage-vms"
CONFIGURE = "org.golem.provider1.configure"

POLKIT_ACTIONS = "/usr/share/polkit-1/actions/org.golem.provider1.policy"
POLKIT_RULES = "/etc/polkit-1/rules.d/49-golem-test.rules"
RULES = """// Installed by the golem integration tests (tests/integration/test-provider-bus.py).
polkit.addRule(function(action, subject) {
        if (action.id != "%(manage)s" && action.id != "%(configure)s")
                return polkit.Result.NOT_HANDLED;
        if (subject.user == "%(allow)s")
                return polkit.Result.YES;
        if (subject.user == "%(deny)s")
                return polkit.Result.NO;
        if (subject.user == "%(stoponly)s" && action.id == "%(manage)s" &&
            action.lookup("verb") == "stop")
                return polkit.Result.YES;
        if (subject.user == "%(mine)s" && action.id == "%(manage)s" &&
            String(action.lookup("vm")).indexOf("mine-") == 0)
                return polkit.Result.YES;
        if (subject.user == "%(slow)s") {
                var until = Date.now() + 3000;
                while (Date.now() < until)
                        ;
                return polkit.Result.YES;
        }
        return polkit.Result.NOT_HANDLED;
});
""" % {"manage": MANAGE_VMS, "configure": CONFIGURE, "allow": ALLOW,
       "deny": DENY, "stoponly": STOPONLY, "mine": MINE, "slow": SLOW}


def vm_path(name):
    """sd_bus_path_encode(VM_PREFIX, name): every byte but [A-Za-z0-9] as
    _xx, and a leading digit too."""
    label = "".join(
        c if c.isascii() and (c.isalpha() or (i > 0 and c.isdigit()))
        else "".join("_%02x" % b for b in c.encode())
        for i, c in enumerate(name)) or "_"
    return f"{VM_PREFIX}/{label}"


def ensure_polkit_setup():
    """The test users, our policy (PATHS["polkit-policy"]) and the test
    rules, installed once for all cases (idempotent; parallel cases write
    the same content).  Needs root."""
    expect(os.geteuid() == 0, "these tests need root: they create users, "
           "install a polkit rules file and run clients as other users")
    ensure_users(USERS)
    with open(golemworld.PATHS["polkit-policy"]) as f:
        install_file(POLKIT_ACTIONS, f.read())
    install_file(POLKIT_RULES, RULES)


def system_bus(polkit=True):
    """A started private system bus with our policy
    (PATHS["dbus-config"]), and polkitd on it unless ``polkit`` is
    false."""
    ensure_polkit_setup()
    bus = SystemBus(includes=[golemworld.PATHS["dbus-config"]])
    bus.start()
    if polkit:
        bus.start_polkit()
    return bus


class BusWorld:
    """Bus, polkitd (unless ``polkit`` is false), the multipass stand-in
    (``mp``, with ``timings``), golem-providerd on that bus (``p``, with
    ``args`` and ``settings``; PATHS["providerd"] unless ``binary``; its
    state directory on a golemworld.small_disk() of ``disk_size`` when
    given) and, with ``discovery``, a golem-discoveryd it advertises to
    (``disc``)."""

    def __init__(self, binary=None, polkit=True, discovery=False,
                 timings=None, args=(), disk_size=None, **settings):
        self.bus = system_bus(polkit)
        self.disc = golemworld.start_discovery() if discovery else None
        self.mp = golemworld.Standin(**(timings or {}))
        self.p = golemworld.provider(binary, self.mp, discovery=self.disc,
                                     bus=self.bus, args=args, **settings)
        if disk_size:
            golemworld.small_disk(self.p.data_dir(), disk_size)
        self.start()

    def start(self):
        """Start the provider; it must own its name by READY=1."""
        self.p.start().wait_ready()
        expect(self.bus.conn.name_has_owner(BUS_NAME),
               f"READY=1 before {BUS_NAME} was taken{self.p.tail()}")
        return self

    # -- D-Bus as a user (ROOT: this process, which polkit never sees)

    def call(self, user, path, interface, member, signature="", args=(),
             timeout=60, flags=0):
        if user is ROOT:
            return self.bus.conn.call(BUS_NAME, path, interface, member,
                                      signature, args, timeout, flags)
        return self.bus.call_as(user, BUS_NAME, path, interface, member,
                                signature, args, timeout=timeout,
                                flags=flags)

    def spawn(self, user, path, interface, member, signature="", args=(),
              timeout=60):
        return self.bus.spawn_call_as(user, BUS_NAME, path, interface, member,
                                      signature, args, timeout=timeout)

    def create(self, user, name, key=None, **options):
        """CreateVM(name, options) as ``user``; returns the object path.
        Options: size/image/ssh_key (strings), cpu/memory/storage (u)."""
        opts = {"ssh_key": ("s", key or golemworld.random_public_key())}
        if not {"size", "cpu", "memory", "storage"} & set(options):
            opts["size"] = ("s", "small")
        for k, v in options.items():
            opts[k] = ("u", v) if isinstance(v, int) else ("s", v)
        return self.call(user, MANAGER_PATH, MANAGER, "CreateVM", "sa{sv}",
                         [name, opts])[0]

    def vm_call(self, user, name, verb, timeout=60):
        return self.call(user, vm_path(name), VM, verb, timeout=timeout)

    def get(self, user, path, interface, prop):
        return self.call(user, path, PROPERTIES, "Get", "ss",
                         [interface, prop])[0]

    def get_all(self, user, path, interface):
        return self.call(user, path, PROPERTIES, "GetAll", "s",
                         [interface])[0]

    def set(self, user, path, interface, prop, signature, value):
        return self.call(user, path, PROPERTIES, "Set", "ssv",
                         [interface, prop, (signature, value)])

    def state(self, name):
        return self.get(ROOT, vm_path(name), VM, "State")

    def wait_state(self, name, state, timeout=30):
        wait_for(f"VM {name}: State {state!r}",
                 lambda: self.state(name) == state, timeout,
                 detail=lambda: f" (it is {self.state(name)!r})")

    def monitor(self):
        """A connection (root) that sees every signal under MANAGER_PATH."""
        conn = self.bus.connect()
        conn.add_match(f"type='signal',path_namespace='{MANAGER_PATH}'")
        return conn


def expect_bus_error(fn, name, what, contains=None):
    """``fn()`` fails with the D-Bus error ``name`` (one of, if a tuple)."""
    names = name if isinstance(name, tuple) else (name,)
    try:
        value = fn()
    except BusError as e:
        expect(e.name in names, f"{what}: expected {name}, got {e.name}: "
               f"{e.message!r}")
        expect(e.message, f"{what}: {e.name} without a message")
        if contains:
            expect(contains in e.message,
                   f"{what}: message {e.message!r} lacks {contains!r}")
        return e
    raise AssertionError(f"{what}: expected {name}, got a reply {value!r}")


def expect_denied_logged(w, user, member, vm=None, what=""):
    """The provider of BusWorld ``w`` logged (within 5 s) the polkit denial
    of ``member`` to ``user``'s uid, naming ``vm`` if given."""
    uid = uid_of(user)
    pattern = re.compile(r"Denied \S*\." + re.escape(member)
                         + rf"\b.*\buid {uid}\b")
    return wait_for(
        f"{what}: a log line 'Denied ...{member} ... uid {uid}'"
        f"{' naming ' + vm if vm else ''}",
        lambda: [line for line in w.p.stderr().splitlines()
                 if pattern.search(line) and (vm is None or vm in line)],
        5, detail=w.p.tail)


def _main(argv):
    if len(argv) != 3 or argv[0] != "call":
        print("usage: golembus.py call ADDRESS REQUEST-JSON", file=sys.stderr)
        return 2
    req = json.loads(argv[2])
    with Connection(argv[1]) as conn:
        try:
            reply = conn.call(req["dest"], req["path"], req["interface"],
                              req["member"], req["signature"], req["args"],
                              req["timeout"], req["flags"])
            answer = {"reply": reply}
        except BusError as e:
            answer = {"error": e.name, "message": e.message}
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
