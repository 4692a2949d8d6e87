#!/usr/bin/env bash
# make demo: xdpstack on AF_XDP in one namespace talking to the Linux kernel in another,
# then the same 10 MB echo through xdpstack and through a kernel echo server (socat)
# on the same veth, as a ratio measured in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/xdpstack
[ "$(id -u)" = 0 ] || { echo "demo: needs root (namespaces, XDP)"; exit 2; }
[ -x "$BIN" ] || { echo "demo: $BIN missing: run make build"; exit 2; }
ID=$$
A=xs${ID}a B=xs${ID}b PA=xs${ID}p SB=xs${ID}s
SIZE=${SIZE:-10485760}
ROUNDS=${ROUNDS:-3}
cleanup() {
  [ -n "${STACK_PID:-}" ] && kill "$STACK_PID" 2>/dev/null && wait "$STACK_PID" 2>/dev/null || true
  [ -n "${SOCAT_PID:-}" ] && kill "$SOCAT_PID" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ip netns add "$A"; ip netns add "$B"
ip link add "$PA" netns "$A" type veth peer name "$SB" netns "$B"
ip -n "$A" link set lo up
ip -n "$A" addr add 198.18.0.1/24 dev "$PA"
ip netns exec "$B" sysctl -qw "net.ipv6.conf.$SB.disable_ipv6=1"
ip netns exec "$A" ethtool -K "$PA" tx off tso off gso off >/dev/null
ip -n "$A" link set "$PA" up
ip -n "$B" link set "$SB" up
ip -n "$B" addr add 198.18.0.3/24 dev "$SB"
ip netns exec "$B" ethtool -K "$SB" tx off tso off gso off >/dev/null

run() { ip netns exec "$A" python3 bench/echo_client.py "$1" "$2" "$SIZE"; }
secs() { python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"]; print(d["seconds"])'; }

# Baseline first, with no XDP program attached and no stack spinning on a core:
# the kernel in namespace B owns 198.18.0.3 on the same veth and echoes with socat.
echo "== kernel echo server: socat on 198.18.0.3:7007 (same veth, kernel TCP)"
ip netns exec "$B" socat -b 65536 TCP-LISTEN:7007,bind=198.18.0.3,reuseaddr,fork EXEC:cat &
SOCAT_PID=$!
sleep 0.5
kn=()
for r in $(seq "$ROUNDS"); do
  k=$(run 198.18.0.3 7007); echo "round $r: kernel   $k"; kn+=("$(echo "$k" | secs)")
done
kill "$SOCAT_PID" 2>/dev/null || true; SOCAT_PID=
rtt() { ip netns exec "$A" ping -q -c 500 -i 0.002 -s 56 "$1" | awk -F/ '/^rtt/ {print $5}'; }
K_RTT=$(rtt 198.18.0.3)
echo "== kernel ICMP echo RTT (500 pings to 198.18.0.3): avg ${K_RTT} ms"

echo "== xdpstack serve on $SB (namespace $B); the kernel peer is 198.18.0.1 in $A"
LOG=$(mktemp)
ip netns exec "$B" "$BIN" serve --iface "$SB" --ip 198.18.0.2/24 --service echo:7 ${XDPSTACK_ARGS:-} > "$LOG" 2>&1 &
STACK_PID=$!
for _ in $(seq 100); do grep -q '^ready' "$LOG" && break; sleep 0.1; done
grep '^ready' "$LOG" || { cat "$LOG"; exit 1; }

echo "== ping from the kernel"
ip netns exec "$A" ping -c 3 -i 0.2 198.18.0.2 | tail -2
echo "== the kernel's neighbour entry for the stack"
ip -n "$A" neigh show 198.18.0.2

xs=()
for r in $(seq "$ROUNDS"); do
  x=$(run 198.18.0.2 7); echo "round $r: xdpstack $x"; xs+=("$(echo "$x" | secs)")
done
X_RTT=$(rtt 198.18.0.2)
echo "== xdpstack ICMP echo RTT (500 pings to 198.18.0.2): avg ${X_RTT} ms"
python3 - "${xs[*]}" "${kn[*]}" "$SIZE" "$X_RTT" "$K_RTT" <<'PY'
import statistics, sys
x = statistics.median(map(float, sys.argv[1].split()))
k = statistics.median(map(float, sys.argv[2].split()))
n = int(sys.argv[3])
xr, kr = float(sys.argv[4]), float(sys.argv[5])
print(f"== {n/2**20:.0f} MiB echo, median of rounds: xdpstack {x:.4f} s, kernel (socat) {k:.4f} s")
print(f"== throughput ratio xdpstack/kernel = {k/x:.2f}  (>1: xdpstack faster)")
print(f"== ICMP echo RTT ratio xdpstack/kernel = {xr/kr:.2f}  (<1: xdpstack faster)")
PY
kill -TERM "$STACK_PID"; wait "$STACK_PID" || true; STACK_PID=
tail -1 "$LOG"
ip -n "$B" link show "$SB" | grep -q xdp && echo "XDP still attached!" || echo "== XDP program detached on SIGTERM"
rm -f "$LOG"
