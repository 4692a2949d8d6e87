#!/usr/bin/env bash
# bench/loss.sh — bulk echo under random loss on the real path: xdpstack's echo
# service against a kernel TCP echo server (kernel-echo), same veth, same loss.
#
# Usage (root):  make bench-loss        (builds xdpstack and kernel-echo; runs this)
#            or  bash bench/loss.sh      (after: make build &&
#                                         cargo build --release -p xdpstack-bench --bins)
# Environment:   LOSS_PERMILLE=10 (packets dropped per thousand, each direction)
#                BYTES=10485760 (echoed per run)  ROUNDS=3 (runs of each server)
#                CLIENT_CPU=0 SERVER_CPU=1 (taskset pinning)
#
# Test bed: namespaces A and B joined by one veth pair. A is the kernel peer,
# 198.18.0.1/24, default offloads; the client (bench/echo_client.py: sends BYTES,
# half-closes, reads the echo back, checks its SHA-256) runs there. A BPF program
# on A's veth drops LOSS_PERMILLE ‰ of the packets at random on egress and on
# ingress (tc clsact; netem cannot drop at ingress), so both servers see the
# same loss both ways. In B, one after the other, every round:
#   (i)  kernel-echo on B's kernel (198.18.0.3/24 on that veth, port 7007), both
#        veth ends with their default offloads: TSO/GSO/GRO make a dropped packet
#        up to 64 KiB, so the same per-packet loss costs the kernel far fewer
#        losses per byte;
#   (i-b) the same with tso/gso/gro off on both ends: MTU-sized packets, what the
#        kernel peer sends to xdpstack anyway (veth turns TSO off under native
#        XDP), so the same per-packet loss means the same loss per byte;
#   (ii) xdpstack serve --iface … --ip 198.18.0.2/24 --service echo:7.
# Prints each run (JSON) and a markdown table of the medians. Everything is
# removed on exit, also on failure or Ctrl-C (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "loss.sh: needs root (namespaces, XDP, tc bpf)" >&2; exit 2; }
XDPSTACK=target/release/xdpstack
ECHO=target/release/kernel-echo
for b in "$XDPSTACK" "$ECHO"; do
  [ -x "$b" ] || { echo "loss.sh: $b missing: run make bench-loss" >&2; exit 2; }
done
for t in clang tc python3; do
  command -v "$t" >/dev/null || { echo "loss.sh: $t is needed (make bench-tools installs it)" >&2; exit 2; }
done
LOSS_PERMILLE=${LOSS_PERMILLE:-10}
BYTES=${BYTES:-10485760}
ROUNDS=${ROUNDS:-3}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
[ "$(nproc)" -ge 2 ] || { CLIENT_CPU=0; SERVER_CPU=0; }

ID=$$
A=xl${ID}a B=xl${ID}b PA=xl${ID}p SB=xl${ID}s
SERVER_PID=
WORK=$(mktemp -d)
LOG=$WORK/server.log
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "loss.sh: $*" >&2; exit 1; }

ip netns add "$A"
ip netns add "$B"
ip link add "$PA" netns "$A" type veth peer name "$SB" netns "$B"
ip -n "$A" link set lo up
ip -n "$A" addr add 198.18.0.1/24 dev "$PA"
ip -n "$A" link set "$PA" up
ip netns exec "$B" sysctl -qw "net.ipv6.conf.$SB.disable_ipv6=1"
ip -n "$B" link set lo up
ip -n "$B" addr add 198.18.0.3/24 dev "$SB"
ip -n "$B" link set "$SB" up

# The random-drop program: TC_ACT_SHOT for LOSS_PERMILLE of every thousand.
cat >"$WORK/drop.c" <<EOF
static unsigned int (*bpf_get_prandom_u32)(void) = (void *)7;
__attribute__((section("tc"), used)) int drop(void *skb) {
	return (bpf_get_prandom_u32() % 1000) < $LOSS_PERMILLE ? 2 : 0;
}
char _license[] __attribute__((section("license"), used)) = "GPL";
EOF
clang -O2 -target bpf -c "$WORK/drop.c" -o "$WORK/drop.o"
ip netns exec "$A" tc qdisc add dev "$PA" clsact
for dir in ingress egress; do
  ip netns exec "$A" tc filter add dev "$PA" "$dir" bpf da obj "$WORK/drop.o" sec tc
done

start_server() {
  local what=$1; shift
  ip netns exec "$B" taskset -c "$SERVER_CPU" timeout 3600 "$@" >"$LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q '^ready' "$LOG" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$LOG" >&2
  die "$what did not start (no ready line within 10 s)"
}
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
# One echo of BYTES from A; prints the client's JSON line (exit 1 on mismatch).
echo_run() {
  timeout 600 ip netns exec "$A" taskset -c "$CLIENT_CPU" python3 bench/echo_client.py "${1%:*}" "${1##*:}" "$BYTES"
}

echo "== loss: $(nproc) CPUs, $(uname -r); ${LOSS_PERMILLE} ‰ random loss each way (BPF on the kernel peer's veth), $BYTES bytes echoed, $ROUNDS round(s)"
offloads() {
  ip netns exec "$A" ethtool -K "$PA" tso "$1" gso "$1" gro "$1" >/dev/null
  ip netns exec "$B" ethtool -K "$SB" tso "$1" gso "$1" gro "$1" >/dev/null
}
seconds() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$1"; }
declare -a K M X
for r in $(seq "$ROUNDS"); do
  start_server kernel-echo "$ECHO" --listen 198.18.0.3:7007
  out=$(echo_run 198.18.0.3:7007) || { stop_server; die "kernel echo failed: $out"; }
  echo "round $r kernel-echo (default offloads)  $out"
  K+=("$(seconds "$out")")
  offloads off
  out=$(echo_run 198.18.0.3:7007) || { stop_server; die "kernel echo (offloads off) failed: $out"; }
  echo "round $r kernel-echo (tso/gso/gro off)   $out"
  M+=("$(seconds "$out")")
  offloads on
  stop_server
  start_server xdpstack "$XDPSTACK" serve --iface "$SB" --ip 198.18.0.2/24 --service echo:7 --queues 1
  out=$(echo_run 198.18.0.2:7) || { stop_server; cat "$LOG" >&2; die "xdpstack echo failed: $out"; }
  echo "round $r xdpstack                       $out"
  X+=("$(seconds "$out")")
  stop_server
  # The kernel takes the veth back only once the XDP program is gone.
  for _ in $(seq 50); do ip -n "$B" -d link show "$SB" | grep -q 'prog/xdp' || break; sleep 0.1; done
done
echo
python3 - "$BYTES" "$LOSS_PERMILLE" "${K[*]}" "${M[*]}" "${X[*]}" <<'EOF'
import statistics as st, sys
n, loss = int(sys.argv[1]), int(sys.argv[2])
k, m, x = ([float(v) for v in a.split()] for a in sys.argv[3:6])
runs = lambda a: f"{st.median(a):.3f} s ({', '.join(f'{v:.3f}' for v in a)})"
print("| loss each way | bytes echoed | kernel ↔ kernel, default offloads | kernel ↔ kernel, MTU-sized (tso/gso/gro off) | kernel → xdpstack | xdpstack / kernel MTU-sized | xdpstack / kernel default |")
print("|---|---|---|---|---|---|---|")
print(f"| {loss / 10:g} % | {n:,} | {runs(k)} | {runs(m)} | {runs(x)} | {st.median(x) / st.median(m):.2f} | {st.median(x) / st.median(k):.2f} |")
EOF
