#!/usr/bin/env bash
# bench/bench.sh — every figure side by side in one run (`make bench`):
# kernel ↔ kernel, kernel client → xdpstack server, xdpstack ↔ xdpstack.
#
# Usage (root):  make bench     (builds everything, runs this, writes docs/benchmarks.md
#                                and docs/benchmarks.svg through bench-report)
# Environment:   DURATION=3 (seconds per point)  QUEUES_LIST="1 2"  CLIENT_CPU=0 SERVER_CPU=1
#                RESULTS=target/bench/results.jsonl  L2ECHO=1 (0: skip the raw AF_XDP limit)
#                QUIET_PCT=2 QUIET_WAIT=60 (bench/quiet.sh: wait for quiet cores)
#
# Test bed: namespaces A (clients) and B (servers) joined by one veth pair with Q
# queues, Q in QUEUES_LIST. The kernel peer in A is 198.18.0.1 (default offloads),
# B's kernel owns 198.18.0.3; xdpstack serves 198.18.0.2 on B's veth end and its
# load generator uses 198.18.0.4 on A's. Clients run on CLIENT_CPU, servers on
# SERVER_CPU (both loops of a 2-queue xdpstack too).
#
#   kk: kernel clients → servers on B's kernel, no XDP attached: kernel-echo (one
#       thread, epoll), kernel-load udp-echo, iperf3 -s, nginx (one worker)
#   kx: the same kernel clients → `xdpstack serve` (echo, udp-echo, discard, http)
#   xx: `xdpstack load` on A → the same `xdpstack serve`
#
# Metrics: rr (64 B request/response, 1 and 64 flows: kernel-rr / load rr), crr
# (connect-request-response-close, 4 flows: kernel-load crr / load crr), udp (64-B
# datagrams answered per second, 64 flows: kernel-load udp / load udp), bulk (one
# stream, Gb/s: iperf3 kernel↔kernel with TSO / load bulk → discard), http
# (wrk -t1 -c16 keep-alive, 1 KiB file: nginx / xdpstack http), and the raw AF_XDP
# echo rate of a minimal C libxdp program (bench/l2echo.sh) as the test bed's limit.
# Every point appends one JSON line to RESULTS; bench-report turns them into tables
# and a chart. Everything is removed on exit, also on failure (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench.sh: needs root (namespaces, XDP)" >&2; exit 2; }
X=target/release/xdpstack
RR=target/release/kernel-rr
ECHO=target/release/kernel-echo
KL=target/release/kernel-load
for b in "$X" "$RR" "$ECHO" "$KL"; do
  [ -x "$b" ] || { echo "bench.sh: $b missing: run make bench" >&2; exit 2; }
done
for t in iperf3 wrk nginx; do
  command -v "$t" >/dev/null || { echo "bench.sh: $t missing: run make setup" >&2; exit 2; }
done
DURATION=${DURATION:-3}
QUEUES_LIST=${QUEUES_LIST:-1 2}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
RESULTS=${RESULTS:-target/bench/results.jsonl}
L2ECHO=${L2ECHO:-1}
QUIET_WAIT=${QUIET_WAIT:-60}
# shellcheck source=bench/quiet.sh
. bench/quiet.sh
[ "$(nproc)" -ge 2 ] || { CLIENT_CPU=0; SERVER_CPU=0; echo "bench.sh: one CPU only: clients and servers share it"; }
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"

ID=$$
A=xb${ID}a B=xb${ID}b PA=xb${ID}p SB=xb${ID}s
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
die() { echo "bench.sh: $*" >&2; exit 1; }

# The HTTP content: a 1 KiB file for wrk.
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
echo '<h1>xdpstack</h1>' >"$WORK/www/index.html"

bed_up() {
  local q=$1
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  ip netns add "$A"
  ip netns add "$B"
  ip link add "$PA" netns "$A" numtxqueues "$q" numrxqueues "$q" type veth peer name "$SB" netns "$B" numtxqueues "$q" numrxqueues "$q"
  for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
  ip -n "$A" addr add 198.18.0.1/24 dev "$PA"
  ip -n "$B" addr add 198.18.0.3/24 dev "$SB"
  # The stacks share their veth end's MAC with its kernel: keep the kernel's IPv6 off.
  ip netns exec "$A" sysctl -qw "net.ipv6.conf.$PA.disable_ipv6=1"
  ip netns exec "$B" sysctl -qw "net.ipv6.conf.$SB.disable_ipv6=1"
  # The kernel crr client reuses TIME-WAIT ports (timestamps make it safe, RFC 7323).
  ip netns exec "$A" sysctl -qw net.ipv4.tcp_tw_reuse=1
  ip -n "$A" link set "$PA" up
  ip -n "$B" link set "$SB" up
}

# start NS CPU LOGNAME CMD...: a background server; its PID is remembered.
start() {
  local ns=$1 cpu=$2 log=$3; shift 3
  ip netns exec "$ns" taskset -c "$cpu" "$@" >"$WORK/$log.log" 2>&1 &
  PIDS+=($!)
}
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
wait_ready() {
  for _ in $(seq 100); do grep -q '^ready' "$WORK/$1.log" 2>/dev/null && return 0; sleep 0.1; done
  cat "$WORK/$1.log" >&2
  die "$1 did not print ready"
}

# record METRIC CONFIG QUEUES JSON: append one result line (rate, unit, p99 from JSON).
record() {
  python3 - "$1" "$2" "$3" "$4" "$RESULTS" <<'PY'
import json, sys
metric, config, q, raw, path = sys.argv[1:6]
r = json.loads(raw)
line = {"metric": metric, "config": config, "queues": int(q), "rate": float(r["rate"]), "unit": r["unit"],
        "p99_us": r.get("p99_us"), "errors": r.get("errors", 0)}
open(path, "a").write(json.dumps(line) + "\n")
print(f"  {metric:<6} {config}  q={q}  {line['rate']:>14,.2f} {line['unit']:<8} p99={line['p99_us']} us errors={line['errors']}")
PY
}

# client CMD...: run a client in A on CLIENT_CPU, bounded; prints its last line
# (client_all: all of its output).
client_all() {
  wait_quiet "$CLIENT_CPU" >/dev/null 2>&1 || true
  timeout $((DURATION * 4 + 30)) ip netns exec "$A" taskset -c "$CLIENT_CPU" "$@" 2>"$WORK/client.err"
}
client() {
  client_all "$@" | tail -1
}
xload() {
  local q=$1; shift
  client "$X" load "$@" --iface "$PA" --ip 198.18.0.4/24 --queues "$q" --cores "$CLIENT_CPU" --duration "$DURATION" --json
}
wrk_json() {
  # wrk's text → the JSON of a load summary (req/s, p99 from --latency).
  python3 -c '
import re, sys, json
t = sys.stdin.read()
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", t)
p99 = float(m.group(1)) * {"us": 1, "ms": 1000, "s": 1e6}[m.group(2)] if m else None
errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", t)) + sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", t))
print(json.dumps({"rate": rate, "unit": "req/s", "p99_us": p99, "errors": errors}))'
}
iperf_json() {
  python3 -c '
import sys, json
r = json.load(sys.stdin)
print(json.dumps({"rate": r["end"]["sum_received"]["bits_per_second"] / 1e9, "unit": "Gb/s", "p99_us": None, "errors": 0}))'
}

echo "== bench: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); ${DURATION} s per point"
python3 -c 'import json,sys,platform,os; print(json.dumps({"machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "cpu": sys.argv[1], "duration_s": float(sys.argv[2]), "loadavg": open("/proc/loadavg").read().split()[:3], "date": __import__("time").strftime("%Y-%m-%d %H:%M UTC", __import__("time").gmtime())}}))' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$DURATION" >>"$RESULTS"

for Q in $QUEUES_LIST; do
  bed_up "$Q"
  XCORES=$(python3 -c "print(','.join(['$SERVER_CPU'] * $Q))")
  echo "== $Q queue(s): kernel servers on B (no XDP attached)"
  wait_quiet "$CLIENT_CPU" "$SERVER_CPU" >/dev/null 2>&1 || true
  start "$B" "$SERVER_CPU" kecho "$ECHO" --listen 198.18.0.3:7007
  start "$B" "$SERVER_CPU" kudp "$KL" udp-echo --to 198.18.0.3:9009 --duration 100000
  if [ "$Q" = 1 ]; then
    start "$B" "$SERVER_CPU" iperf iperf3 -s -B 198.18.0.3 -p 5201
    cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server { listen 198.18.0.3:8080; root $WORK/www; }
}
EOF
    start "$B" "$SERVER_CPU" nginx nginx -c "$WORK/nginx.conf"
  fi
  sleep 0.5
  for f in 1 64; do
    record "rr$f" kk "$Q" "$(client "$RR" --to 198.18.0.3:7007 --flows "$f" --duration "$DURATION" --warmup 0.5 --json)"
  done
  record crr kk "$Q" "$(client "$KL" crr --to 198.18.0.3:7007 --flows 4 --duration "$DURATION" --json)"
  record udp kk "$Q" "$(client "$KL" udp --to 198.18.0.3:9009 --flows 64 --duration "$DURATION" --json)"
  if [ "$Q" = 1 ]; then
    record bulk kk "$Q" "$(client_all iperf3 -c 198.18.0.3 -p 5201 -t "$DURATION" -J | iperf_json)"
    record http kk "$Q" "$(client_all wrk -t1 -c16 -d"${DURATION}s" --latency http://198.18.0.3:8080/1k.bin | wrk_json)"
  fi
  stop_all

  echo "== $Q queue(s): xdpstack serve on B (loops on CPU $XCORES)"
  wait_quiet "$CLIENT_CPU" "$SERVER_CPU" >/dev/null 2>&1 || true
  start "$B" "$XCORES" xserve "$X" serve --iface "$SB" --ip 198.18.0.2/24 --queues "$Q" --cores "$XCORES" \
    --service echo:7 --service udp-echo:9 --service discard:9 --service http:80 --www "$WORK/www"
  wait_ready xserve
  grep '^ready' "$WORK/xserve.log"
  for f in 1 64; do
    record "rr$f" kx "$Q" "$(client "$RR" --to 198.18.0.2:7 --flows "$f" --duration "$DURATION" --warmup 0.5 --json)"
    record "rr$f" xx "$Q" "$(xload "$Q" rr --to 198.18.0.2:7 --flows "$f")"
  done
  record crr kx "$Q" "$(client "$KL" crr --to 198.18.0.2:7 --flows 4 --duration "$DURATION" --json)"
  record crr xx "$Q" "$(xload "$Q" crr --to 198.18.0.2:7 --flows 4)"
  record udp kx "$Q" "$(client "$KL" udp --to 198.18.0.2:9 --flows 64 --duration "$DURATION" --json)"
  record udp xx "$Q" "$(xload "$Q" udp --to 198.18.0.2:9 --flows 64)"
  if [ "$Q" = 1 ]; then
    record bulk xx "$Q" "$(xload "$Q" bulk --to 198.18.0.2:9 --flows 1 --direction send)"
    record http kx "$Q" "$(client_all wrk -t1 -c16 -d"${DURATION}s" --latency http://198.18.0.2:80/1k.bin | wrk_json)"
  fi
  stop_all
done

if [ "$L2ECHO" = 1 ]; then
  echo "== raw AF_XDP echo limit (bench/l2echo.sh, one round)"
  out=$(ROUNDS=1 DURATION="$DURATION" QUIET_WAIT="$QUIET_WAIT" bash bench/l2echo.sh 2>&1) || { echo "$out" >&2; die "l2echo.sh failed"; }
  pps=$(echo "$out" | python3 -c 'import sys,re; t=sys.stdin.read(); m=re.search(r"\| \*\*median\*\* \| \*\*([\d,]+)", t); print(m.group(1).replace(",","") if m else "")')
  [ -n "$pps" ] || { echo "$out" >&2; die "no median in l2echo.sh's output"; }
  record l2echo c 1 "{\"rate\": $pps, \"unit\": \"pkt/s\"}"
fi
echo "== results in $RESULTS"
