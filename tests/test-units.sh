#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Check a shipped service and its socket unit:
#   - "systemd-analyze verify" accepts the service and the socket, and
#   - "systemd-analyze security --offline=yes" rates the service 2.0 or lower.
#
# Usage: test-units.sh SERVICE-FILE SOCKET-FILE [MAN-PAGE]
#
# SERVICE-FILE is the configured golem-discovery.service (meson's
# configure_file() has replaced @bindir@). The installed binary usually does
# not exist yet at test time, so the units are copied to a temporary directory
# and ExecStart= is pointed at an existing executable. If MAN-PAGE (the
# golem-discoveryd.8 source) is given, the Documentation=man: reference is
# checked against it; otherwise verify runs with --man=no.
#
# Exit status: 0 pass, 1 fail, 77 skip (no systemd-analyze).

set -euo pipefail

MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "Usage: $0 SERVICE-FILE SOCKET-FILE [MAN-PAGE]" >&2
    exit 2
fi

service_src=$1
socket_src=$2
man_src=${3:-}

if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze not found"
    exit 77
fi

for f in "$service_src" "$socket_src" ${man_src:+"$man_src"}; do
    [[ -r $f ]] || { echo "FAIL: cannot read $f" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

exe=$(command -v true)
[[ $exe == /* ]] || exe=/bin/true

# Keep the unit names: verify pairs NAME.socket with NAME.service by name.
name=$(basename "$socket_src" .socket)
service="$tmp/$name.service"
socket="$tmp/$name.socket"
sed -E "s|^ExecStart=.*|ExecStart=$exe|" "$service_src" >"$service"
cp "$socket_src" "$socket"

if grep -q '@[a-z_]*@' "$service" "$socket"; then
    echo "FAIL: unsubstituted @variable@ left in the units:" >&2
    grep -n '@[a-z_]*@' "$service" "$socket" >&2
    exit 1
fi

failed=0

# --- systemd-analyze verify -------------------------------------------------
verify_args=()
if [[ -n $man_src ]]; then
    mkdir -p "$tmp/man/man8"
    cp "$man_src" "$tmp/man/man8/$(basename "$man_src")"
    export MANPATH="$tmp/man"
else
    verify_args+=(--man=no)
fi

set +e
out=$(cd "$tmp" && systemd-analyze verify "${verify_args[@]}" \
          "./$name.service" "./$name.socket" 2>&1)
rc=$?
set -e

# verify may print noise about the host's own units (e.g. in a container);
# anything that names our units is a finding.
ours=$(grep -E "$name" <<<"$out" || true)
if [[ $rc -ne 0 || -n $ours ]]; then
    echo "FAIL: systemd-analyze verify (exit $rc):" >&2
    echo "$out" >&2
    failed=1
else
    echo "ok: systemd-analyze verify"
    [[ -z $out ]] || { echo "note: unrelated verify output:"; sed 's/^/  /' <<<"$out"; }
fi

# --- systemd-analyze security ----------------------------------------------
set +e
sec=$(cd "$tmp" && systemd-analyze security --offline=yes --no-pager \
          "./$name.service" 2>&1)
rc=$?
set -e

# "→ Overall exposure level for golem-discovery.service: 1.1 OK 🙂"
exposure=$(sed -nE 's/.*Overall exposure level for [^:]*: ([0-9]+(\.[0-9]+)?).*/\1/p' <<<"$sec" | tail -n1)
if [[ -z $exposure ]]; then
    echo "FAIL: could not find the overall exposure in systemd-analyze security output (exit $rc):" >&2
    echo "$sec" >&2
    exit 1
fi

echo "exposure: $exposure (maximum $MAX_EXPOSURE)"
if awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e > m) }'; then
    echo "FAIL: exposure $exposure is above $MAX_EXPOSURE; the findings:" >&2
    grep -E '^✗' <<<"$sec" >&2 || echo "$sec" >&2
    failed=1
else
    echo "ok: systemd-analyze security"
fi

exit "$failed"
