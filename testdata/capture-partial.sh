#!/usr/bin/env bash
# Capture TCP and UDP from a Linux kernel peer that keeps its DEFAULT offloads, as
# they arrive on the other end of a veth pair: checksum fields holding only the
# pseudo-header sum (CHECKSUM_PARTIAL, never finished by veth), for the `wire`
# crate's tests of ChecksumMode::FullOrPartial.
#
# Run as root from anywhere:   bash testdata/capture-partial.sh
# Writes (next to this script):
#   v4-partial.pcap  frames 198.18.0.1 -> 198.18.0.2 seen on the receiving veth end:
#                    a TCP connection (SYN, ACK, 23 data bytes, FIN, ACK) and one UDP
#                    datagram ("partial checksum udp"), all sent by the kernel with
#                    tx checksumming on (the veth default).
#
# Test-bed rules (docs/testing.md): two fresh namespaces with unique
# names, addresses from 198.18.0.0/15 only, everything removed on exit (trap).
# Unlike capture-v4.sh, offloads are left as they are: that is the point.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NA="xs$$pa"
NB="xs$$pb"
IA="xs$$qa"
IB="xs$$qb"
TMP="$(mktemp -d)"
PIDS=()

cleanup() {
    set +e
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    ip netns del "$NA" 2>/dev/null
    ip netns del "$NB" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

A() { ip netns exec "$NA" "$@"; }
B() { ip netns exec "$NB" "$@"; }

ip netns add "$NA"
ip netns add "$NB"
ip link add "$IA" netns "$NA" type veth peer name "$IB" netns "$NB"
for ns in "$NA" "$NB"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip netns exec "$ns" ip link set lo up
done
A ip addr add 198.18.0.1/24 dev "$IA"
B ip addr add 198.18.0.2/24 dev "$IB"
A ip link set "$IA" up
B ip link set "$IB" up
echo "sender offloads:"; A ethtool -k "$IA" | grep -E '^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload):'

ip netns exec "$NB" tcpdump -Z root -U --immediate-mode -n -i "$IB" -w "$TMP/all.pcap" "src host 198.18.0.1" 2>"$TMP/tcpdump.log" &
TCPDUMP=$!
PIDS+=($TCPDUMP)
for _ in $(seq 50); do grep -q "listening on" "$TMP/tcpdump.log" 2>/dev/null && break; sleep 0.1; done

B timeout 10 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.0.2", 5005)); s.listen(1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("198.18.0.2", 5006))
sys.stdout.write("ready\n"); sys.stdout.flush()
c, _ = s.accept()
while c.recv(4096): pass
c.close()
u.recvfrom(2048)
' >"$TMP/srv.out" &
SRV=$!
PIDS+=($SRV)
for _ in $(seq 50); do grep -q ready "$TMP/srv.out" 2>/dev/null && break; sleep 0.1; done

A timeout 5 python3 -c '
import socket, time
c = socket.create_connection(("198.18.0.2", 5005), timeout=3)
c.sendall(b"partial checksum data\r\n")
time.sleep(0.1)
c.close()
time.sleep(0.2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("198.18.0.1", 40002))
u.sendto(b"partial checksum udp", ("198.18.0.2", 5006))
'
wait "$SRV"
sleep 0.3
kill "$TCPDUMP" 2>/dev/null || true
wait "$TCPDUMP" 2>/dev/null || true
cp "$TMP/all.pcap" "$HERE/v4-partial.pcap"
tcpdump -n -vv -r "$HERE/v4-partial.pcap" 2>/dev/null
n=$(tcpdump -n -r "$HERE/v4-partial.pcap" 2>/dev/null | wc -l)
echo "v4-partial.pcap: $n frames"
if ! tcpdump -n -r "$HERE/v4-partial.pcap" 2>/dev/null | grep -q "UDP"; then
    echo "capture incomplete, run again" >&2
    exit 1
fi
