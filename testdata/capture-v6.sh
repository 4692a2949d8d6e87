#!/usr/bin/env bash
# Capture IPv6 frames for the `wire` crate's tests (stack/wire/src/{ipv6,ipv6ext,
# icmpv6,ndp,mld}.rs). Run as root from the repository root or from testdata/.
#
# Two network namespaces joined by a veth pair:
#
#   ns xs<pid>c (host)   xs<pid>vc 2001:db8::1/64  <── veth ──>  xs<pid>vd 2001:db8::2/64   ns xs<pid>d (router)
#
# Writes two files next to this script:
#
# * v6.pcap       — frames the Linux kernel itself sent: DAD neighbour solicitations,
#                   MLDv2 reports, router solicitations, NS/NA, echo request/reply
#                   (56 B, 1452 B = full 1500-B MTU, 3000 B = fragment headers), an
#                   ICMPv6 port unreachable, and from the router namespace a Time
#                   Exceeded and a Packet Too Big (route `mtu lock 1280`). The
#                   destinations 2001:db8:1::/64 used to provoke the router's errors are
#                   routed, never assigned. (The forwarded echo to 2001:db8:1::1 goes
#                   back out of the interface it came in on; this kernel sent no
#                   Redirect for it, so the Redirect in v6-scapy.pcap is scapy's.)
# * v6-scapy.pcap — frames CRAFTED BY SCAPY (sent with sendp from ns c): a Router
#                   Advertisement with source-LL, MTU and prefix-information options, a
#                   Redirect with target-LL and redirected-header options, an echo
#                   request behind hop-by-hop + destination options + routing header +
#                   destination options, an echo request with an unknown "discard and
#                   send Parameter Problem" destination option, an MLDv2 and an MLDv1
#                   query; plus the kernel's answers to them (echo reply, Parameter
#                   Problem, MLD reports).
#
# Checksum offload is turned off on both veths (`ethtool -K IF tx off`), so every
# checksum in the files is real.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
NSC=xs$$c
NSD=xs$$d
VC=xs$$vc
VD=xs$$vd
PY=/usr/bin/python3 # the system python has scapy
tmp=$(mktemp -d)
tcpdump_pid=

cleanup() {
    set +e
    if [ -n "$tcpdump_pid" ]; then kill "$tcpdump_pid" 2>/dev/null; wait "$tcpdump_pid" 2>/dev/null; fi
    ip netns del "$NSC" 2>/dev/null
    ip netns del "$NSD" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

inc() { ip netns exec "$NSC" "$@"; }
ind() { ip netns exec "$NSD" "$@"; }

start_capture() { # file
    ip netns exec "$NSC" tcpdump -Z root -U -s 0 -i "$VC" -w "$1" 2>"$tmp/tcpdump.log" &
    tcpdump_pid=$!
    for _ in $(seq 50); do # wait until tcpdump listens (bounded: 5 s)
        grep -q "listening on" "$tmp/tcpdump.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "tcpdump did not start:" >&2
    cat "$tmp/tcpdump.log" >&2
    exit 1
}

stop_capture() {
    sleep 0.5
    kill "$tcpdump_pid"
    wait "$tcpdump_pid" || true
    tcpdump_pid=
}

wait_not_tentative() { # ns-prefix-fn ifname
    for _ in $(seq 100); do # bounded: 10 s
        if [ -z "$("$1" ip -6 addr show dev "$2" tentative)" ]; then return 0; fi
        sleep 0.1
    done
    echo "addresses on $2 still tentative" >&2
    exit 1
}

ip netns add "$NSC"
ip netns add "$NSD"
ip link add "$VC" netns "$NSC" type veth peer name "$VD" netns "$NSD"
inc ip link set lo up
ind ip link set lo up
inc ethtool -K "$VC" tx off >/dev/null
ind ethtool -K "$VD" tx off >/dev/null
# ns c is a host (sends router solicitations); ns d is a router (R flag in its NAs,
# forwards, so it can send Redirect / Time Exceeded / Packet Too Big).
inc sysctl -qw "net.ipv6.conf.$VC.accept_dad=1"
ind sysctl -qw "net.ipv6.conf.$VD.accept_dad=1"
ind sysctl -qw net.ipv6.conf.all.forwarding=1
inc ip -6 addr add 2001:db8::1/64 dev "$VC"
ind ip -6 addr add 2001:db8::2/64 dev "$VD"

# Bring c's end up first: without its peer up there is no carrier, so addrconf waits.
inc ip link set "$VC" up
start_capture "$tmp/v6.pcap"
ind ip link set "$VD" up # carrier: DAD, MLDv2 reports, router solicitation start now
wait_not_tentative inc "$VC"
wait_not_tentative ind "$VD"

MACC=$(inc cat "/sys/class/net/$VC/address")
MACD=$(ind cat "/sys/class/net/$VD/address")
LLC=$(inc ip -6 -o addr show dev "$VC" scope link | awk '{print $4}' | cut -d/ -f1)
LLD=$(ind ip -6 -o addr show dev "$VD" scope link | awk '{print $4}' | cut -d/ -f1)

inc ping -6 -q -c 2 -i 0.2 -W 1 2001:db8::2 >/dev/null
inc ping -6 -q -c 1 -s 1452 -W 1 2001:db8::2 >/dev/null
inc ping -6 -q -c 1 -s 3000 -W 1 2001:db8::2 >/dev/null
# UDP to a closed port: ICMPv6 destination unreachable, code 4 (port unreachable).
inc "$PY" -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.sendto(b"xdpstack", ("2001:db8::2", 9))'
sleep 0.3

# Router errors: c routes 2001:db8:1::/64 via d; d routes it back to c's link-local
# with a locked route MTU of 1280 (Packet Too Big).
inc ip -6 route add 2001:db8:1::/64 via 2001:db8::2 dev "$VC"
ind ip -6 route add 2001:db8:1::/64 via "$LLC" dev "$VD" mtu lock 1280
inc ping -6 -q -c 1 -W 1 2001:db8:1::1 >/dev/null || true          # forwarded back
inc ping -6 -q -c 1 -W 1 -t 1 2001:db8:1::5 >/dev/null || true     # Time Exceeded
inc ping -6 -q -c 1 -W 1 -s 1400 2001:db8:1::7 >/dev/null || true  # Packet Too Big
# Router solicitations go out every 4 s up to 3 times; make sure at least one is in.
sleep 1
stop_capture

start_capture "$tmp/v6-scapy.pcap"
inc "$PY" - "$VC" "$MACC" "$MACD" "$LLC" "$LLD" <<'EOF'
import sys, time
from scapy.all import (Ether, IPv6, ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo, ICMPv6ND_Redirect, ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptRedirectedHdr, ICMPv6EchoRequest, IPv6ExtHdrHopByHop,
    IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, RouterAlert, PadN, HBHOptUnknown,
    ICMPv6MLQuery2, ICMPv6MLQuery, UDP, Raw, sendp, conf)
conf.verb = 0
iface, macc, macd, llc, lld = sys.argv[1:6]
eth_all = Ether(src=macc, dst="33:33:00:00:00:01")
eth_d = Ether(src=macc, dst=macd)
# Router Advertisement (RFC 4861 §4.2) with source LL, MTU, prefix information.
ra = (eth_all / IPv6(src=llc, dst="ff02::1", hlim=255)
      / ICMPv6ND_RA(chlim=64, M=0, O=1, routerlifetime=1800, reachabletime=30000, retranstimer=1000)
      / ICMPv6NDOptSrcLLAddr(lladdr=macc) / ICMPv6NDOptMTU(mtu=1500)
      / ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, validlifetime=86400,
                              preferredlifetime=14400, prefix="2001:db8::"))
# Redirect (RFC 4861 §4.5) with target LL and redirected header.
inner = IPv6(src="2001:db8::2", dst="2001:db8:1::9", hlim=63) / UDP(sport=4000, dport=5000) / Raw(b"redirected")
rd = (eth_d / IPv6(src=llc, dst=lld, hlim=255)
      / ICMPv6ND_Redirect(tgt=llc, dst="2001:db8:1::9")
      / ICMPv6NDOptDstLLAddr(lladdr=macc) / ICMPv6NDOptRedirectedHdr(pkt=bytes(inner)))
# Echo request behind HBH (router alert + PadN), dest opts, routing (type 0, segleft 0), dest opts.
ext = (eth_d / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64)
       / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b"")])
       / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")])
       / IPv6ExtHdrRouting(type=0, segleft=0, addresses=["2001:db8::2"])
       / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")])
       / ICMPv6EchoRequest(id=0x1234, seq=7, data=b"extension headers"))
# Unknown destination option 0x9e (action 10: discard, send Parameter Problem code 2).
pp = (eth_d / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64)
      / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x9e, optdata=b"\x00\x00\x00\x00")])
      / ICMPv6EchoRequest(id=0x1234, seq=8, data=b"param problem"))
# MLDv2 general query (RFC 3810 §5.1), 1 s max response delay, then an MLDv1 query.
q2 = (eth_all / IPv6(src=llc, dst="ff02::1", hlim=1)
      / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b"")])
      / ICMPv6MLQuery2(mrd=1000))
q1 = (eth_all / IPv6(src=llc, dst="ff02::1", hlim=1)
      / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b"")])
      / ICMPv6MLQuery(mrd=1000))
for p in (ra, rd, ext, pp):
    sendp(p, iface=iface)
    time.sleep(0.2)
sendp(q2, iface=iface)
time.sleep(1.5)
sendp(q1, iface=iface)
time.sleep(1.5)
EOF
stop_capture

cp "$tmp/v6.pcap" "$tmp/v6-scapy.pcap" "$here/"
chmod 644 "$here/v6.pcap" "$here/v6-scapy.pcap"
ls -l "$here"/v6*.pcap
