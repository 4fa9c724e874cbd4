#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-mkimage.sh BUILDDIR — the golem-mini guest, for real: builds it
# with tools/mkimage into BUILDDIR/images (or reuses it), makes a NoCloud seed
# with a fresh ed25519 key and hostname golem-test-<random>, boots it under
# qemu with TCG the way the qemu driver will (see the top of tools/mkimage),
# and checks over SSH: the hostname comes from the seed, the kernel is the
# Debian one, a file written survives an ACPI powerdown (QMP system_powerdown,
# after which qemu must exit by itself) and a second boot on the same overlay,
# with the same host key. Prints the timings. Kills only the qemu it started.
#
# Installs with apt-get what it needs when missing: qemu-system-x86, qemu-utils,
# openssh-client, genisoimage, python3. Set GOLEM_TEST_ACCEL=kvm to try KVM.

set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(($# == 1)) || { echo "usage: tests/test-mkimage.sh BUILDDIR" >&2; exit 2; }
build=$(realpath -m -- "$1")
images=$build/images
accel=${GOLEM_TEST_ACCEL:-tcg}

ssh_wait=60         # seconds from qemu's start to a working SSH
powerdown_wait=30   # seconds from system_powerdown to qemu's exit

say() { printf '==> %s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- dependencies --------------------------------------------------------------------
packages=(qemu-system-x86 qemu-utils openssh-client genisoimage python3)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    sudo=
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- the image -------------------------------------------------------------------------
t=$(now)
"$top/tools/mkimage" "$images"
build_time=$(since "$t")
kernel=$images/golem-mini.vmlinux
initrd=$images/golem-mini.initrd
base=$images/golem-mini.qcow2
cmdline=$(cat "$images/golem-mini.cmdline")
kver=$(zcat "$initrd" | cpio -t --quiet | awk -F/ '$1 == "lib" && $2 == "modules" && NF == 3 && v == "" { v = $3 } END { print v }')
[[ -n $kver ]] || { echo "FAIL: no kernel version in $initrd" >&2; exit 1; }

# --- the VM's files ---------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/golem-mkimage-test.XXXXXX")
qemu_pid=
failed=1
cleanup() {
    local rc=$?
    if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -TERM "$qemu_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if ((failed)) && [[ -f $tmp/console.log ]]; then
        echo "--- guest console (last boot):" >&2
        tail -n 40 "$tmp/console.log" >&2
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }

name=golem-test-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$tmp/key"
"$top/tools/mkimage.d/mkseed" --instance-id "i-$name" "$tmp/seed.iso" "$name" "$tmp/key.pub"
qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$tmp/disk.qcow2" 1G
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)

ssh_opts=(-o BatchMode=yes -o ConnectTimeout=2 -o LogLevel=ERROR
          -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="$tmp/known_hosts"
          -i "$tmp/key" -p "$port")
guest() { timeout 60 ssh "${ssh_opts[@]}" root@127.0.0.1 -- "$@"; }

start_qemu() {
    rm -f "$tmp/console.log" "$tmp/qmp.sock"
    boot_start=$(now)
    qemu-system-x86_64 -name "$name" -machine pc -accel "$accel" -m 256 -smp 1 \
        -nodefaults -no-user-config -display none \
        -serial "file:$tmp/console.log" \
        -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
        -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
        -drive "file=$tmp/disk.qcow2,format=qcow2,if=virtio,cache=writeback,discard=unmap" \
        -drive "file=$tmp/seed.iso,format=raw,if=virtio,readonly=on" \
        -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:22" \
        -device virtio-net-pci,netdev=net0,romfile= \
        -device virtio-rng-pci \
        </dev/null >"$tmp/qemu.out" 2>&1 &
    qemu_pid=$!
}

boot() { # [retry-port]
    local deadline tries=1
    [[ ${1:-} == retry-port ]] && tries=3
    start_qemu
    deadline=$(($(date +%s) + ssh_wait))
    until timeout 10 ssh "${ssh_opts[@]}" root@127.0.0.1 true 2>/dev/null; do
        if ! kill -0 "$qemu_pid" 2>/dev/null; then
            wait "$qemu_pid" 2>/dev/null || true
            qemu_pid=
            # Someone took the port between our choice and qemu's bind.
            if ((--tries > 0)) && grep -q 'host forwarding' "$tmp/qemu.out"; then
                port=$(free_port)
                ssh_opts[${#ssh_opts[@]} - 1]=$port
                start_qemu
                deadline=$(($(date +%s) + ssh_wait))
                continue
            fi
            cat "$tmp/qemu.out" >&2
            fail "qemu exited during boot"
        fi
        (($(date +%s) < deadline)) || fail "no SSH within ${ssh_wait}s"
        sleep 0.2
    done
    ssh_time=$(since "$boot_start")
}

qmp() { # COMMAND...
    python3 - "$tmp/qmp.sock" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())                                  # the greeting
for cmd in ["qmp_capabilities"] + sys.argv[2:]:
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "error" in r:
            sys.exit("QMP %s: %s" % (cmd, r["error"]))
        if "return" in r:
            break
PY
}

powerdown() {
    local t rc=0
    t=$(now)
    qmp system_powerdown
    local deadline=$(($(date +%s) + powerdown_wait))
    while kill -0 "$qemu_pid" 2>/dev/null; do
        (($(date +%s) < deadline)) || fail "qemu still runs ${powerdown_wait}s after system_powerdown"
        sleep 0.1
    done
    wait "$qemu_pid" || rc=$?
    qemu_pid=
    ((rc == 0)) || fail "qemu exited with status $rc after the powerdown"
    powerdown_time=$(since "$t")
}

# --- boot 1 ------------------------------------------------------------------------------
say "boot 1 ($accel): $name"
boot retry-port
boot1=$ssh_time
got=$(guest hostname) || fail "ssh hostname failed"
[[ $got == "$name" ]] || fail "hostname is '$got', the seed says '$name'"
got=$(guest uname -r) || fail "ssh uname -r failed"
[[ $got == "$kver" ]] || fail "uname -r is '$got', the image's kernel is '$kver'"
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
guest "echo $token >/root/persist.txt && sync" || fail "ssh could not write /root/persist.txt"
say "boot 1: SSH on 127.0.0.1:$port after ${boot1}s; hostname $name, kernel $kver; wrote /root/persist.txt"
powerdown
down1=$powerdown_time
say "powerdown 1: qemu exited ${down1}s after system_powerdown"

# --- boot 2 ------------------------------------------------------------------------------
say "boot 2: same disk"
boot
boot2=$ssh_time
got=$(guest cat /root/persist.txt) || fail "ssh cat /root/persist.txt failed (or the host key changed)"
[[ $got == "$token" ]] || fail "/root/persist.txt holds '$got' after the reboot, not '$token'"
got=$(guest hostname) || fail "ssh hostname failed"
[[ $got == "$name" ]] || fail "hostname is '$got' after the reboot"
say "boot 2: SSH after ${boot2}s; the file and the host key survived"
powerdown
down2=$powerdown_time
say "powerdown 2: qemu exited ${down2}s after system_powerdown"

failed=0
printf 'PASS mkimage: build %ss, boot 1 -> ssh %ss, powerdown %ss, boot 2 -> ssh %ss, powerdown %ss (%s)\n' \
    "$build_time" "$boot1" "$down1" "$boot2" "$down2" "$accel"
