#!/usr/bin/env bash
# make demo: xdpstack on AF_XDP in one namespace, the Linux kernel in another.
# Shows ping, a page fetched with curl from the stack's http service, then a short
# table of kernel vs xdpstack measured in this run: 64-byte request/response rate
# and p99 (kernel client against a kernel epoll echo server, against xdpstack's
# echo, and xdpstack's own load generator against it) and 10 MiB echo throughput.
# Cleans up on exit, also on failure or Ctrl-C.
#
# Environment: DURATION=2 (seconds per rate point)  SIZE=10485760 (echo bytes)
#              ROUNDS=3 (echo rounds, median)  CLIENT_CPU=0 SERVER_CPU=1
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/xdpstack
RR=target/release/kernel-rr
ECHO=target/release/kernel-echo
[ "$(id -u)" = 0 ] || { echo "demo: needs root (namespaces, XDP)"; exit 2; }
for b in "$BIN" "$RR" "$ECHO"; do [ -x "$b" ] || { echo "demo: $b missing: run make demo"; exit 2; }; done
DURATION=${DURATION:-2}
SIZE=${SIZE:-10485760}
ROUNDS=${ROUNDS:-3}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
[ "$(nproc)" -ge 2 ] || { CLIENT_CPU=0; SERVER_CPU=0; }
ID=$$
A=xd${ID}a B=xd${ID}b PA=xd${ID}p SB=xd${ID}s
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "test bed: namespace $A (Linux kernel, 198.18.0.1) <-veth-> namespace $B (xdpstack 198.18.0.2; B's kernel 198.18.0.3)"
ip netns add "$A"; ip netns add "$B"
ip link add "$PA" netns "$A" type veth peer name "$SB" netns "$B"
ip -n "$A" link set lo up
ip -n "$A" addr add 198.18.0.1/24 dev "$PA"
ip netns exec "$A" sysctl -qw "net.ipv6.conf.$PA.disable_ipv6=1"
ip netns exec "$B" sysctl -qw "net.ipv6.conf.$SB.disable_ipv6=1"
ip -n "$A" link set "$PA" up            # the kernel peer keeps its default offloads
ip -n "$B" addr add 198.18.0.3/24 dev "$SB"
ip -n "$B" link set "$SB" up

rr() {  # rr TO FLOWS → JSON of kernel-rr from A
  ip netns exec "$A" taskset -c "$CLIENT_CPU" "$RR" --to "$1" --flows "$2" --duration "$DURATION" --warmup 0.5 --json
}
echo_secs() {  # echo_secs ADDR PORT → seconds for SIZE bytes through the echo (median of ROUNDS)
  local s=()
  for _ in $(seq "$ROUNDS"); do
    s+=("$(ip netns exec "$A" taskset -c "$CLIENT_CPU" python3 bench/echo_client.py "$1" "$2" "$SIZE" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"], d; print(d["seconds"])')")
  done
  python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "${s[@]}"
}

say "baseline: a one-thread epoll echo server on B's kernel (198.18.0.3:7007), no XDP attached"
ip netns exec "$B" taskset -c "$SERVER_CPU" "$ECHO" --listen 198.18.0.3:7007 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.3
K1=$(rr 198.18.0.3:7007 1); K16=$(rr 198.18.0.3:7007 16); KE=$(echo_secs 198.18.0.3 7007)
echo "kernel: 1 flow $K1"; echo "kernel: 16 flows $K16"; echo "kernel: ${SIZE} B echo in ${KE} s"
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()

say "xdpstack serve on $SB: echo:7 and http:80"
mkdir -p "$WORK/www"
cat >"$WORK/www/index.html" <<'HTML'
<!doctype html>
<title>xdpstack</title>
<h1>Hello from xdpstack</h1>
<p>This page came over AF_XDP: Ethernet, IPv4, TCP and HTTP parsed in place by a
kernel-bypass stack written in Rust.</p>
HTML
ip netns exec "$B" taskset -c "$SERVER_CPU" "$BIN" serve --iface "$SB" --ip 198.18.0.2/24 --cores "$SERVER_CPU" \
  --service echo:7 --service http:80 --www "$WORK/www" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^ready' "$WORK/serve.log" && break; sleep 0.1; done
grep '^ready' "$WORK/serve.log" || { cat "$WORK/serve.log"; exit 1; }

say "ping 198.18.0.2 from the kernel"
ip netns exec "$A" ping -c 3 -i 0.2 198.18.0.2 | sed -n '2,4p;$p'
echo "kernel's neighbour entry: $(ip -n "$A" neigh show 198.18.0.2)"

say "curl http://198.18.0.2/ from the kernel"
ip netns exec "$A" curl -sS -m 5 -i http://198.18.0.2/

say "request/response and echo through xdpstack"
X1=$(rr 198.18.0.2:7 1); X16=$(rr 198.18.0.2:7 16); XE=$(echo_secs 198.18.0.2 7)
echo "xdpstack: 1 flow $X1"; echo "xdpstack: 16 flows $X16"; echo "xdpstack: ${SIZE} B echo in ${XE} s"
XX=$(ip netns exec "$A" taskset -c "$CLIENT_CPU" "$BIN" load rr --iface "$PA" --ip 198.18.0.4/24 --cores "$CLIENT_CPU" \
  --to 198.18.0.2:7 --flows 1 --duration "$DURATION" --json | tail -1)
echo "xdpstack load rr (xdpstack <-> xdpstack): $XX"

say "kernel vs xdpstack, measured just now (kernel client: kernel-rr; echo: 10 MiB with half-close, SHA-256 checked)"
python3 - "$K1" "$K16" "$X1" "$X16" "$XX" "$KE" "$XE" "$SIZE" <<'PY'
import json, sys
k1, k16, x1, x16, xx = (json.loads(a) for a in sys.argv[1:6])
ke, xe, size = float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
rows = [
    ("64-B request/response, 1 flow (trans/s)", k1["rate"], x1["rate"]),
    ("  p99 latency (µs, lower is better)", k1["p99_us"], x1["p99_us"]),
    ("64-B request/response, 16 flows (trans/s)", k16["rate"], x16["rate"]),
    ("  p99 latency (µs, lower is better)", k16["p99_us"], x16["p99_us"]),
    ("xdpstack client too: 1 flow (trans/s)", k1["rate"], xx["rate"]),
    ("  p99 latency (µs, lower is better)", k1["p99_us"], xx["p99_us"]),
    (f"{size >> 20} MiB echo throughput (MB/s)", size / ke / 1e6, size / xe / 1e6),
]
w = max(len(r[0]) for r in rows)
print(f"{'':<{w}} | {'kernel':>12} | {'xdpstack':>12} | ratio")
print("-" * (w + 40))
for name, k, x in rows:
    ratio = x / k if "latency" not in name else k / x
    print(f"{name:<{w}} | {k:>12,.0f} | {x:>12,.0f} | {ratio:.2f}×{' faster' if ratio > 1 else ''}")
PY

kill -TERM "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()
tail -1 "$WORK/serve.log"
if ip -n "$B" -d link show "$SB" | grep -q 'prog/xdp'; then echo "XDP still attached!"; exit 1; fi
say "XDP program detached on SIGTERM; cleaning up the namespaces"
