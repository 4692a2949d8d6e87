#!/bin/bash
# Regenerates the kernel captures replayed by stack/proto/tests/replay.rs.
#
# Two namespaces joined by a veth pair, both ends the Linux kernel: the "peer"
# (02:00:00:00:00:01, 198.18.0.1/24, 2001:db8::1/64, fe80::ff:fe00:1) and the
# "target" (02:00:00:00:00:02, 198.18.0.2/24, 2001:db8::2/64, fe80::ff:fe00:2).
# Each scenario is captured on the peer's end into its own pcap: the peer's
# requests and the target kernel's answers. The replay test feeds the peer's
# frames to a proto Interface configured as the target and compares its answers
# with the kernel's. Checksum offload is off on both ends so every checksum on
# the wire is complete (the replay accepts only full checksums).
#
# Usage (root): stack/proto/tests/data/capture.sh [OUTDIR]  (default: this directory)
set -euo pipefail
OUT=$(cd "${1:-$(dirname "$0")}" && pwd)
P=xrp$$ T=xrt$$
PEER="ip netns exec $P" TGT="ip netns exec $T"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del $P 2>/dev/null || true
    ip netns del $T 2>/dev/null || true
}
trap cleanup EXIT
for tool in ip tcpdump ping python3 ethtool; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done

ip netns add $P
ip netns add $T
ip link add vp netns $P type veth peer name vt netns $T
ip -n $P link set vp address 02:00:00:00:00:01
ip -n $T link set vt address 02:00:00:00:00:02
for ns in $P:vp $T:vt; do
    n=${ns%%:*} d=${ns##*:}
    ip netns exec $n sysctl -qw net.ipv6.conf.$d.accept_dad=0 net.ipv6.conf.$d.disable_ipv6=1
    ip netns exec $n ethtool -K $d tx off >/dev/null
    # A neighbour used while stale is probed (unicast) after 1 s, not 5.
    ip netns exec $n sysctl -qw net.ipv4.neigh.$d.delay_first_probe_time=1 net.ipv6.neigh.$d.delay_first_probe_time=1
done
ip -n $P link set vp up
ip -n $T link set vt up
$TGT sysctl -qw net.ipv6.conf.vt.disable_ipv6=0
sleep 1

# Start a capture on the peer's end, run a command, stop the capture.
capture() {
    local name=$1; shift
    local log=/tmp/$P.$name.log
    $PEER tcpdump -q -U --immediate-mode -i vp -w "$OUT/$name.pcap" 2>"$log" &
    local pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
    grep -q "listening on" "$log" || { echo "tcpdump did not start" >&2; exit 1; }
    sleep 0.2
    "$@" >/dev/null
    sleep "${SETTLE:-0.5}"
    kill $pid; wait $pid 2>/dev/null || true
    rm -f "$log"
}

# The peer's IPv6 comes up: a router solicitation (and MLD reports).
SETTLE=2 capture rs $PEER sysctl -qw net.ipv6.conf.vp.disable_ipv6=0
ip -n $P addr add 198.18.0.1/24 dev vp
ip -n $T addr add 198.18.0.2/24 dev vt
ip -n $P addr add 2001:db8::1/64 dev vp nodad
ip -n $T addr add 2001:db8::2/64 dev vt nodad
sleep 0.5

# Listeners in the target: TCP on 7777 (v4 and v6), UDP echo on 7.
$TGT python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 7777)); s.listen(8)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
u.bind(("::", 7))
while True:
    d, a = u.recvfrom(65535); u.sendto(d, a)
' &
PIDS+=($!)
sleep 0.5

send_udp() { # family addr port size
    $PEER python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET$1, socket.SOCK_DGRAM)
s.bind(('', 40000))
s.sendto(bytes(i % 251 for i in range($4)), ('$2', $3))
"
}
connect() { # family addr port
    $PEER python3 -c "
import socket
s = socket.socket(socket.AF_INET$1, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 40001))
try:
    s.connect(('$2', $3))
except OSError:
    pass
s.close()
"
}

capture arp_ping4 $PEER ping -q -c1 -s 56 198.18.0.2
capture ping4_frag $PEER ping -q -c1 -s 3000 198.18.0.2
$PEER ip neigh change 198.18.0.2 dev vp lladdr 02:00:00:00:00:02 nud stale
SETTLE=2 capture arp_unicast $PEER ping -q -c1 -s 56 198.18.0.2
capture ns_ping6 $PEER ping -q -6 -c1 -s 56 2001:db8::2
capture ping6_frag $PEER ping -q -6 -c1 -s 3000 2001:db8::2
$PEER ip -6 neigh change 2001:db8::2 dev vp lladdr 02:00:00:00:00:02 nud stale
SETTLE=2 capture ns_unicast $PEER ping -q -6 -c1 -s 56 2001:db8::2
capture ping6_ll $PEER ping -q -6 -c1 -s 56 fe80::ff:fe00:2%vp
capture tcp4_syn_listen connect '' 198.18.0.2 7777
capture tcp4_syn_closed connect '' 198.18.0.2 7778
capture tcp6_syn_listen connect 6 2001:db8::2 7777
capture tcp6_syn_closed connect 6 2001:db8::2 7778
capture udp4_closed send_udp '' 198.18.0.2 9 100
capture udp6_closed send_udp 6 2001:db8::2 9 100
capture udp4_echo send_udp '' 198.18.0.2 7 100
capture udp6_echo send_udp 6 2001:db8::2 7 100
capture udp4_frag send_udp '' 198.18.0.2 7 3000
capture udp6_frag send_udp 6 2001:db8::2 7 3000
ls -l "$OUT"/*.pcap
