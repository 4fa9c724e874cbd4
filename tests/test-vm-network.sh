#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The VMs' nftables ruleset, loaded for real in a private network namespace (unshare -n): a
# process with the VMs' group cannot connect to a listener on 127.0.0.1 or ::1, on the host's own
# other address, on a private address or on 169.254.169.254 (both in a second namespace behind
# a veth pair), and can connect to a "public" TEST-NET address there; a process of another
# group reaches them all; an inbound connection to a listener of the VMs' group (qemu's SSH
# forward) still works; VMAllowedNetworks= opens a range. Also nft -c of the multipass variant.
#
#   test-vm-network.sh RULESET_HELPER
#
# Needs root, nft, ip, unshare, nsenter, setpriv and python3; exits 77 (skip) without them.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
gid=4242

if [[ ${1:-} != --inner ]]; then
        helper=$1
        [[ $(id -u) -eq 0 ]] || skip "needs root"
        for t in nft ip unshare nsenter setpriv python3; do
                command -v "$t" >/dev/null || skip "$t not found"
        done
        unshare -n true 2>/dev/null || skip "cannot make a network namespace"
        unshare -n nft list tables >/dev/null 2>&1 || skip "no nf_tables in this kernel"
        dir=$(mktemp -d)
        trap 'rm -rf "$dir"' EXIT
        "$helper" --group=$gid --nameservers="127.0.0.53 ::1" --bridge=mpqemubr0 >"$dir/all.nft"
        # Without /etc/protocols, as on a minimal system: no protocol names in the ruleset.
        unshare -n -m sh -c 'mount --bind /dev/null /etc/protocols 2>/dev/null; exec nft -c -f "$1"' sh "$dir/all.nft" ||
                { echo "FAILED: nft -c of the qemu and multipass ruleset"; exit 1; }
        echo "ok: nft -c accepts the ruleset with the qemu output chain and the multipass bridge chains"
        "$helper" --group=$gid --nameservers=127.0.0.53 >"$dir/vm.nft"
        "$helper" --group=$gid --nameservers=127.0.0.53 --allowed="192.168.77.0/24" >"$dir/allowed.nft"
        exec unshare -n "$0" --inner "$dir"
fi

# ---- inside the private network namespace ----
dir=$2
failed=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

ip link set lo up
# The "outside": a second namespace behind a veth pair, with a private, a link-local and a
# public address.
unshare -n sleep 120 &
peer=$!
pids+=("$peer")
sleep 0.2
ip link add vh type veth peer name vp
ip link set vp netns "$peer"
ip addr add 192.168.77.2/24 dev vh
ip link set vh up
outside() { nsenter -t "$peer" -n "$@"; }
outside ip link set lo up
outside ip addr add 192.168.77.1/24 dev vp
outside ip addr add 169.254.169.254/32 dev vp
outside ip addr add 198.51.100.1/32 dev vp
outside ip link set vp up
outside ip route add default via 192.168.77.2
ip route add 169.254.169.254/32 via 192.168.77.1
ip route add 198.51.100.1/32 via 192.168.77.1

serve() {   # serve ADDRESS PORT [GROUP]: a listener that accepts and closes
        python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
while True:
    s.accept()[0].close()' "$1" "$2" &
        pids+=($!)
}
serve 127.0.0.1 8081
serve 0.0.0.0 8082
serve ::1 8083
(exec nsenter -t "$peer" -n python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(16)
while True:
    s.accept()[0].close()') &
pids+=($!)
# An "SSH forward": a listener owned by the VMs' group.
setpriv --regid=$gid --clear-groups python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 2222)); s.listen(16)
while True:
    c = s.accept()[0]; c.sendall(b"SSH-2.0-test\r\n"); c.close()' &
pids+=($!)
sleep 0.5

connect() {   # connect GROUP ADDRESS PORT: exit 0 when connected
        setpriv --regid="$1" --clear-groups python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).recv(100)
except OSError as e:
    print(e.strerror or e, end="")
    sys.exit(1)' "$2" "$3"
}
expect() {   # expect ok|refused GROUP ADDRESS PORT WHAT
        local out rc=0
        out=$(connect "$2" "$3" "$4") || rc=1
        if [[ $1 == ok && $rc -eq 0 ]]; then
                echo "ok: gid $2 reaches $5 ($3:$4)"
        elif [[ $1 == refused && $rc -ne 0 ]]; then
                echo "ok: gid $2 cannot reach $5 ($3:$4: $out)"
        else
                echo "FAILED: gid $2 -> $5 ($3:$4): expected $1, got ${out:-connected}"
                failed=1
        fi
}

# Without the ruleset everything is reachable: the listeners work.
for a in "127.0.0.1 8081" "::1 8083" "192.168.77.2 8082" "192.168.77.1 80" "169.254.169.254 80" "198.51.100.1 80"; do
        expect ok $gid $a "(no ruleset yet)"
done

nft -f "$dir/vm.nft"
# Loading it again replaces the table (one transaction), as a reload does.
nft -f "$dir/vm.nft"
[[ $(nft list tables | grep -c golem_vms) -eq 1 ]] || { echo "FAILED: not exactly one table golem_vms"; failed=1; }

expect refused $gid 127.0.0.1 8081 "a listener on the host's 127.0.0.1"
expect refused $gid ::1 8083 "a listener on the host's ::1"
expect refused $gid 192.168.77.2 8082 "the host's own address"
expect refused $gid 127.0.0.1 2222 "another VM's SSH forward"
expect refused $gid 192.168.77.1 80 "a private address"
expect refused $gid 169.254.169.254 80 "the metadata address"
expect ok $gid 198.51.100.1 80 "a public address"
expect ok 0 127.0.0.1 8081 "a listener on 127.0.0.1"
expect ok 0 ::1 8083 "a listener on ::1"
expect ok 0 192.168.77.1 80 "a private address"
expect ok 0 127.0.0.1 2222 "a VM's SSH forward (inbound)"

nft -f "$dir/allowed.nft"
expect ok $gid 192.168.77.1 80 "a private address in VMAllowedNetworks="
expect refused $gid 169.254.169.254 80 "the metadata address (not allowed)"

exit $failed
