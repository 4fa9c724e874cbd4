#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""golemctl's commands and options, as its --help lists them, are all documented
in golemctl(1) and offered by the bash, fish and zsh completions.

    test-golemctl-docs.py GOLEMCTL MANPAGE BASH FISH ZSH

The commands come from `golemctl --help` (its sections of command synopses), the
options of each from `golemctl COMMAND --help`: what a user reads is what must
be documented and completed. bash and fish are asked for real (the bash function
with COMP_WORDS set, fish with `complete -C`); zsh completion needs a terminal,
so its file is only checked for syntax (zsh -n) and for naming each command and
option.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

GOLEMCTL, MANPAGE, BASH, FISH, ZSH = sys.argv[1:6]
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, **kw)


# A home of its own: the completions run golemctl, which must find no records.
home = tempfile.mkdtemp(prefix="golemctl-docs-")
env = {"PATH": os.path.dirname(os.path.abspath(GOLEMCTL)) + ":" + os.environ["PATH"],
       "HOME": home, "XDG_CONFIG_HOME": f"{home}/.config",
       "XDG_STATE_HOME": f"{home}/.local/state", "XDG_DATA_HOME": f"{home}/.local/share",
       "GOLEM_REQUESTOR_DISCOVERY_URL": "http://127.0.0.1:9",
       "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={home}/no-bus", "LC_ALL": "C.UTF-8"}


def help_text(words):
    p = run([GOLEMCTL, *words, "--help"], env=env)
    if p.returncode != 0:
        fail(f"golemctl {' '.join(words)} --help exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


# ---------------------------------------------------------------------------
# What --help promises

SYNOPSIS = re.compile(r"^  ([a-z][a-z0-9 -]*?)(?: [A-Z\[]|  |$)")
commands = set()
for line in help_text([]).splitlines():
    m = SYNOPSIS.match(line)
    if m:
        words = [w for w in m.group(1).split() if not w.startswith("[")]
        if words and words[-1] in ("on|off",):
            words.pop()
        commands.add(tuple(w for w in words if "|" not in w))
groups = {c[:-1] for c in commands if len(c) > 1}
leaves = sorted(c for c in commands if c not in groups)
if len(leaves) < 15 or ("provider", "vm", "delete") not in leaves:
    fail(f"golemctl --help lists too few commands, or the parse broke: {leaves}")

OPTION = re.compile(r"^\s+(?:(-[a-zA-Z]) )?(--[a-z][a-z-]*)")
options = {}   # leaf -> set of long options (and short ones)
for leaf in leaves:
    opts = set()
    for line in help_text(list(leaf)).splitlines():
        m = OPTION.match(line)
        if m:
            opts.add(m.group(2))
            if m.group(1):
                opts.add(m.group(1))
    options[leaf] = opts
global_opts = set()
for line in help_text([]).split("Options:", 1)[1].splitlines():
    m = OPTION.match(line)
    if m:
        global_opts.add(m.group(2))
print(f"--help: {len(leaves)} commands, "
      f"{len(set().union(*options.values()) | global_opts)} options")


def children(prefix):
    return {c[len(prefix)] for c in commands if len(c) > len(prefix) and c[:len(prefix)] == prefix}


# ---------------------------------------------------------------------------
# golemctl(1): an entry (.TP tag) for each command and each option


def roff_plain(s):
    s = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\~", "", s)
    s = s.replace("\\-", "-").replace('"', "")
    s = re.sub(r"^\.[A-Z]+\s*", "", s).replace(" | ", "|").replace("|", " | ")
    return re.sub(r"\s+,\s+", ", ", s)


with open(MANPAGE) as f:
    man = f.read().splitlines()
tags = [roff_plain(man[i + 1]) for i, line in enumerate(man[:-1]) if line == ".TP"]
tag_text = "\n".join(tags)
for leaf in leaves:
    words = " ".join(leaf)
    if not any(re.search(rf"(^|, ){re.escape(words)}( |$)", t) for t in tags):
        fail(f"golemctl(1) has no entry for '{words}'")
for opt in sorted(set().union(*options.values()) | global_opts):
    if not re.search(rf"(^|, ){re.escape(opt)}([= ,]|$)", tag_text, re.M):
        fail(f"golemctl(1) has no entry for {opt}")


# ---------------------------------------------------------------------------
# bash: the completion function itself, with COMP_WORDS set


def bash_complete(words):
    script = (f"source {BASH}\n"
              "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
              "compopt() { :; }\n"
              "_golemctl\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    p = run(["bash", "-c", script, "bash", "golemctl", *words], env=env)
    if p.returncode != 0 or p.stderr:
        fail(f"bash completion of {words}: exit {p.returncode} {p.stderr.strip()}")
    return set(p.stdout.split())


def fish_complete(words):
    line = " ".join(["golemctl", *words])
    p = run(["fish", "--no-config", "-c", f"source {FISH}; complete -C {shlex_quote(line)}"], env=env)
    if p.returncode != 0 or p.stderr:
        fail(f"fish completion of {line!r}: exit {p.returncode} {p.stderr.strip()}")
    return {ln.split("\t")[0] for ln in p.stdout.splitlines() if ln}


def shlex_quote(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


shells = {"bash": bash_complete, "fish": fish_complete}
for shell in ("bash", "fish", "zsh"):
    if not shutil.which(shell):
        fail(f"{shell} is not installed (tools/check installs it): its completion is untested")
        shells.pop(shell, None)

for shell, complete in shells.items():
    for prefix in sorted({()} | groups):
        want = children(prefix)
        got = complete([*prefix, ""])
        if not want <= got:
            fail(f"{shell}: 'golemctl {' '.join(prefix)} <TAB>' offers {sorted(got)}, "
                 f"not {sorted(want - got)}")
    for leaf in leaves:
        want = {o for o in options[leaf] if o.startswith("--")}
        got = complete([*leaf, "--"])
        if not want <= got:
            fail(f"{shell}: 'golemctl {' '.join(leaf)} --<TAB>' lacks {sorted(want - got)}")
    got = complete(["--"])
    if not global_opts <= got:
        fail(f"{shell}: 'golemctl --<TAB>' lacks {sorted(global_opts - got)}")
    got = complete(["provider", "advertise", ""])
    if got != {"on", "off"}:
        fail(f"{shell}: 'golemctl provider advertise <TAB>' offers {sorted(got)}, not on and off")

# ---------------------------------------------------------------------------
# zsh: syntax, and every command and option named

if shutil.which("zsh"):
    p = run(["zsh", "-n", ZSH])
    if p.returncode != 0:
        fail(f"zsh -n {ZSH}: {p.stderr.strip()}")
    with open(ZSH) as f:
        zsh = f.read()
    for word in sorted({w for c in commands for w in c}):
        if not re.search(rf"['(\s]{re.escape(word)}[:)|\s]", zsh):
            fail(f"zsh completion does not offer the command '{word}'")
    for opt in sorted(set().union(*options.values()) | global_opts):
        if not re.search(rf"['{{,]{re.escape(opt)}[=+\[\]',}}]", zsh):
            fail(f"zsh completion does not offer {opt}")

shutil.rmtree(home, ignore_errors=True)
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("ok: golemctl(1), bash, fish and zsh cover every command and option of --help")
