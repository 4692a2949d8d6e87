#!/usr/bin/env bash
# Capture real IPv4 traffic from the Linux kernel for the `wire` crate's tests.
#
# Run as root from anywhere:   bash testdata/capture-v4.sh
# Writes (next to this script):
#   v4.pcap       untagged frames seen on the B side of a veth pair: ARP, ICMP echo
#                 (56, 1472 and fragmented 3000-byte payloads), ICMP port unreachable,
#                 frag-needed and time-exceeded (B forwards towards a low-MTU link),
#                 TCP connections (with/without timestamps, with/without SACK, data,
#                 FIN, RST) and UDP datagrams.
#   v4-vlan.pcap  802.1Q-tagged frames (VLAN 7) on the same veth: ARP, ICMP echo, UDP
#                 (built on a packet socket: this kernel has no 802.1Q support).
#
# Test-bed rules (docs/testing.md): two fresh namespaces with unique
# names, addresses from 198.18.0.0/15 only, everything removed on exit (trap).
# Checksum offload is turned off on the sending interfaces so the captured checksums
# are the real ones (veth otherwise leaves CHECKSUM_PARTIAL fields unfilled).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NA="xs$$a"
NB="xs$$b"
IA="xs$$va"
IB="xs$$vb"
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
    # IPv4 only: no router solicitations / MLD / NDP noise in the capture.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip netns exec "$ns" ip link set lo up
done

A ip addr add 198.18.0.1/24 dev "$IA"
B ip addr add 198.18.0.2/24 dev "$IB"
A ip link set "$IA" up
B ip link set "$IB" up

# Real checksums, MTU-sized frames (no TSO/GSO/GRO super-frames).
for pair in "$NA $IA" "$NB $IB"; do
    set -- $pair
    for f in tx tso gso gro; do
        ip netns exec "$1" ethtool -K "$2" "$f" off >/dev/null 2>&1 || true
    done
done

# B routes 198.18.5.0/24 onto a second veth pair (both ends inside B) with a small
# MTU: a DF datagram from A gets ICMP "fragmentation needed" (RFC 1191), a TTL-1 one
# "time exceeded" (RFC 792).
B ip link add "xs$$fa" mtu 1280 type veth peer name "xs$$fb" mtu 1280
B ip link set "xs$$fa" up
B ip link set "xs$$fb" up
B sysctl -qw net.ipv4.ip_forward=1
B ip route add 198.18.5.0/24 dev "xs$$fa"
A ip route add 198.18.5.0/24 via 198.18.0.2

# --immediate-mode: without it the last, not yet retired TPACKET_V3 block is lost
# when tcpdump is stopped (seen: everything after the TCP part missing).
start_capture() { # file
    ip netns exec "$NB" tcpdump -Z root -U --immediate-mode -n -i "$IB" -w "$1" 2>"$TMP/$(basename "$1").log" &
    TCPDUMP=$!
    PIDS+=($TCPDUMP)
    for _ in $(seq 50); do
        grep -q "listening on" "$TMP/$(basename "$1").log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "tcpdump did not start" >&2
    cat "$TMP/$(basename "$1").log" >&2
    exit 1
}
start_capture "$TMP/all.pcap"

# --- ICMP echo: small, MTU-sized, fragmented (RFC 791 fragment fields) -----------
A ping -n -q -c 2 -i 0.2 198.18.0.2 >/dev/null
A ping -n -q -c 1 -s 1472 198.18.0.2 >/dev/null
A ping -n -q -c 1 -s 3000 198.18.0.2 >/dev/null

# --- TCP: a server in B that reads to EOF, answers, closes ------------------------
cat >"$TMP/srv.py" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.0.2", 5001))
s.listen(4)
sys.stdout.write("ready\n"); sys.stdout.flush()
for _ in range(int(sys.argv[1])):
    c, _ = s.accept()
    n = 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        n += len(d)
    c.sendall(b"got %d bytes\n" % n)
    c.close()
EOF
cat >"$TMP/cli.py" <<'EOF'
import socket, sys
n = int(sys.argv[1])
c = socket.create_connection(("198.18.0.2", 5001), timeout=5)
c.sendall(bytes((i * 7 + 3) & 0xff for i in range(n)))
c.shutdown(socket.SHUT_WR)
r = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    r += d
c.close()
assert r.startswith(b"got %d" % n), r
EOF
B timeout 20 python3 "$TMP/srv.py" 3 >"$TMP/srv.out" &
SRV=$!
PIDS+=($SRV)
for _ in $(seq 50); do grep -q ready "$TMP/srv.out" 2>/dev/null && break; sleep 0.1; done

# 1. Linux defaults: SYN has MSS, SACK_PERM, TS, NOP, WS; data segments NOP NOP TS.
A timeout 10 python3 "$TMP/cli.py" 3000
# 2. No timestamps: SYN has MSS NOP NOP SACK_PERM NOP WS.
A sysctl -qw net.ipv4.tcp_timestamps=0
A timeout 10 python3 "$TMP/cli.py" 100
A sysctl -qw net.ipv4.tcp_timestamps=1
# 3. Timestamps, no SACK: SYN has MSS NOP NOP TS NOP WS.
A sysctl -qw net.ipv4.tcp_sack=0
A timeout 10 python3 "$TMP/cli.py" 10
A sysctl -qw net.ipv4.tcp_sack=1
wait "$SRV"
# 4. A connection to a closed port: RST|ACK.
A timeout 5 python3 -c '
import socket
try:
    socket.create_connection(("198.18.0.2", 5009), timeout=2)
except ConnectionRefusedError:
    pass
'

# --- UDP: a datagram to a listener, one to a closed port (ICMP port unreachable) ---
B timeout 5 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.2", 5002))
d, a = s.recvfrom(2048)
s.sendto(d.upper(), a)
' &
UDPS=$!
PIDS+=($UDPS)
sleep 0.3
A timeout 5 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.bind(("198.18.0.1", 40000))
s.sendto(b"hello xdpstack", ("198.18.0.2", 5002))
s.recvfrom(2048)
s.sendto(b"nobody home", ("198.18.0.2", 5003))
'
wait "$UDPS"

# --- ICMP errors generated by B as a router ----------------------------------------
A ping -n -q -c 1 -W 1 -M do -s 1400 198.18.5.5 >/dev/null || true
A ping -n -q -c 1 -W 1 -t 1 198.18.5.6 >/dev/null || true

# --- VLAN 7 -------------------------------------------------------------------------
# This kernel has no 802.1Q (CONFIG_VLAN_8021Q and act_vlan are off), so the tagged
# frames are built in A and sent on a packet socket: an ARP request, an ICMP echo
# request and a UDP datagram on VLAN 7 (PCP 0, TCI 0x0007), 198.19.7.1 -> .2, with
# checksums computed here (RFC 1071). B drops them; B's tcpdump records them.
A timeout 5 python3 - "$IA" <<'EOF'
import socket, struct, sys
ifname = sys.argv[1]
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src_mac = s.getsockname()[4]
dst_mac = b"\xff" * 6
src = socket.inet_aton("198.19.7.1")
dst = socket.inet_aton("198.19.7.2")
tag = struct.pack("!HH", 0x8100, 7)
def ipv4(proto, payload, ident):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src_mac, src, b"\0" * 6, dst)
s.send(dst_mac + src_mac + tag + struct.pack("!H", 0x0806) + arp + b"\0" * 14)
data = bytes(range(0x10, 0x38))
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + data
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
s.send(dst_mac + src_mac + tag + struct.pack("!H", 0x0800) + ipv4(1, icmp, 0x4242))
udp_payload = b"tagged"
udp = struct.pack("!HHHH", 40001, 5004, 8 + len(udp_payload), 0) + udp_payload
pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
c = csum(pseudo + udp) or 0xffff
udp = udp[:6] + struct.pack("!H", c) + udp[8:]
s.send(dst_mac + src_mac + tag + struct.pack("!H", 0x0800) + ipv4(17, udp, 0x4243))
EOF

sleep 0.5
if ! kill -0 "$TCPDUMP" 2>/dev/null; then
    echo "tcpdump died early:" >&2
    cat "$TMP/all.pcap.log" >&2
fi
kill "$TCPDUMP" 2>/dev/null || true
wait "$TCPDUMP" 2>/dev/null || true

# Split offline: the tag is in the frame bytes once libpcap has written them.
tcpdump -Z root -n -r "$TMP/all.pcap" -w "$HERE/v4.pcap" "not vlan" 2>/dev/null
tcpdump -Z root -n -r "$TMP/all.pcap" -w "$HERE/v4-vlan.pcap" "vlan" 2>/dev/null
nv4=$(tcpdump -n -r "$HERE/v4.pcap" 2>/dev/null | wc -l)
nvlan=$(tcpdump -n -r "$HERE/v4-vlan.pcap" 2>/dev/null | wc -l)
echo "v4.pcap: $nv4 frames, v4-vlan.pcap: $nvlan frames"
if [ "$nvlan" -ne 3 ] || ! tcpdump -n -r "$HERE/v4.pcap" 2>/dev/null | grep -q "time exceeded"; then
    echo "capture incomplete, run again" >&2
    exit 1
fi
