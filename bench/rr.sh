#!/usr/bin/env bash
# bench/rr.sh — request/response rate: xdpstack's echo service against a one-thread
# epoll echo server on kernel TCP, both loaded by kernel-rr (netperf TCP_RR-like).
#
# Usage (root):  make bench-rr          (builds xdpstack, kernel-rr, kernel-echo; runs this)
#            or  bash bench/rr.sh       (after: make build &&
#                                        cargo build --release -p xdpstack-bench --bins)
# Environment:   DURATION=5 (measured seconds per point)  WARMUP=1  SIZE=64
#                FLOWS="1 16"  QUEUES=1 (veth queues and xdpstack --queues)
#                ROUNDS=1 (rounds of both parts; the table gives medians)
#                CLIENT_CPU=0 SERVER_CPU=1 (taskset pinning)
#                XDP_CORES=SERVER_CPU (xdpstack --cores: the CPUs of its loops; with
#                QUEUES=2 on a 2-CPU machine e.g. XDP_CORES=1,1 or 0,1)
#                SPIN_BASELINE=1 (0: skip the busy-polling kernel-echo part)
#                QUIET_PCT=2 QUIET_WAIT=120: before each server starts, wait until both
#                cores are quiet, and the client's before each point (bench/quiet.sh:
#                other work on a shared machine halves rates)
#
# Test bed: namespaces A and B joined by one veth pair with QUEUES queues. A is the
# kernel peer, 198.18.0.1/24, default offloads; kernel-rr runs there. In B, on the
# same veth end, one after the other:
#   (i)  kernel-echo on B's kernel, which owns 198.18.0.3/24 on that veth (port 7007);
#        no XDP program is attached during this part;
#   (i-b) unless SPIN_BASELINE=0: the same kernel-echo with --spin (busy-polls like
#        xdpstack's loop instead of sleeping in epoll_wait), extra table columns;
#   (ii) xdpstack serve --iface … --ip 198.18.0.2/24 --service echo:7 --queues QUEUES.
# For each, kernel-rr with SIZE-byte requests for each flow count in FLOWS, DURATION
# seconds after WARMUP; the pair of parts is repeated ROUNDS times. Prints every
# kernel-rr result (JSON) and a markdown table (medians over the rounds).
# Exits non-zero with a message if a server does not answer. Everything is removed
# on exit, also on failure or Ctrl-C (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "rr.sh: needs root (namespaces, XDP)" >&2; exit 2; }
XDPSTACK=target/release/xdpstack
RR=target/release/kernel-rr
ECHO=target/release/kernel-echo
for b in "$XDPSTACK" "$RR" "$ECHO"; do
  [ -x "$b" ] || { echo "rr.sh: $b missing: run make bench-rr (or make build and cargo build --release -p xdpstack-bench --bins)" >&2; exit 2; }
done
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SIZE=${SIZE:-64}
FLOWS=${FLOWS:-1 16}
ROUNDS=${ROUNDS:-1}
QUEUES=${QUEUES:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
SPIN_BASELINE=${SPIN_BASELINE:-1}
# shellcheck source=bench/quiet.sh
. bench/quiet.sh
[ "$(nproc)" -ge 2 ] || { CLIENT_CPU=0; SERVER_CPU=0; echo "rr.sh: one CPU only: client and server share it"; }
XDP_CORES=${XDP_CORES:-$SERVER_CPU}
LIMIT=$(python3 -c "import math; print(math.ceil($WARMUP + $DURATION) + 20)")

ID=$$
A=xr${ID}a B=xr${ID}b PA=xr${ID}p SB=xr${ID}s
SERVER_PID=
LOG=$(mktemp)
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$A"
ip netns add "$B"
ip link add "$PA" netns "$A" numtxqueues "$QUEUES" numrxqueues "$QUEUES" type veth \
  peer name "$SB" netns "$B" numtxqueues "$QUEUES" numrxqueues "$QUEUES"
ip -n "$A" link set lo up
ip -n "$A" addr add 198.18.0.1/24 dev "$PA"
ip -n "$A" link set "$PA" up          # the kernel peer keeps its default offloads
# xdpstack and B's kernel share this MAC: keep B's kernel IPv6 off it.
ip netns exec "$B" sysctl -qw "net.ipv6.conf.$SB.disable_ipv6=1"
ip -n "$B" link set lo up
ip -n "$B" addr add 198.18.0.3/24 dev "$SB"
ip -n "$B" link set "$SB" up

die() { echo "rr.sh: $*" >&2; exit 1; }

# Run "$@" in B pinned to SERVER_CPU, wait (bounded) for its `ready` line.
start_server() {
  local what=$1; shift
  wait_quiet "$CLIENT_CPU" "$SERVER_CPU"
  ip netns exec "$B" taskset -c "${START_CPUS:-$SERVER_CPU}" timeout "$((LIMIT * 8))" "$@" >"$LOG" 2>&1 &
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

xdp_attached() { ip -n "$B" -d link show "$SB" | grep -q 'prog/xdp'; }

# One kernel-rr run from A; prints its JSON line. Fails if the server does not answer.
rr() {
  local to=$1 flows=$2 out
  # The server's core is checked before the server starts (xdpstack spins on it).
  wait_quiet "$CLIENT_CPU"
  if ! out=$(timeout "$LIMIT" ip netns exec "$A" taskset -c "$CLIENT_CPU" "$RR" --to "$to" \
      --flows "$flows" --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" --json); then
    echo "$out" >&2
    return 1
  fi
  echo "$out"
}

# A short probe: does the server at $1 answer at all?
probe() {
  timeout 15 ip netns exec "$A" "$RR" --to "$1" --flows 1 --size "$SIZE" --duration 0.3 \
    --warmup 0 --connect-timeout 3 --json >/dev/null 2>&1
}

echo "== rr: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== veth $PA ($A, kernel peer 198.18.0.1, kernel-rr on CPU $CLIENT_CPU) <-> $SB ($B, servers on CPU $SERVER_CPU), $QUEUES queue(s)"
echo "== ${SIZE} B requests, flows: $FLOWS; ${DURATION} s per point after ${WARMUP} s warm-up"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine makes the figures noisy)"

XDP_CMD=("$XDPSTACK" serve --iface "$SB" --ip 198.18.0.2/24 --service echo:7 --queues "$QUEUES" --cores "$XDP_CORES")

# The kernel peer keeps its default offloads (partial checksums on veth, which
# xdpstack accepts there: `rx_csum=partial` in its ready line).
echo "== probe: xdpstack with the peer's default offloads"
START_CPUS=$XDP_CORES start_server xdpstack "${XDP_CMD[@]}"
probe 198.18.0.2:7 || { stop_server; cat "$LOG" >&2; die "xdpstack at 198.18.0.2:7 does not answer"; }
stop_server

declare -A RATE P99   # key: k|x, flows, round
for r in $(seq "$ROUNDS"); do
  echo "== round $r/$ROUNDS: (i) kernel-echo on B's kernel, 198.18.0.3:7007 (no XDP attached)"
  for _ in $(seq 50); do xdp_attached || break; sleep 0.1; done
  xdp_attached && die "an XDP program is still attached to $SB after xdpstack stopped"
  start_server kernel-echo "$ECHO" --listen 198.18.0.3:7007
  for f in $FLOWS; do
    out=$(rr 198.18.0.3:7007 "$f") || { stop_server; die "kernel-echo at 198.18.0.3:7007 did not answer ($f flows)"; }
    echo "kernel-echo flows=$f $out"
    RATE[k$f.$r]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rate"])' "$out")
    P99[k$f.$r]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["p99_us"])' "$out")
  done
  stop_server

  if [ "$SPIN_BASELINE" = 1 ]; then
    echo "== round $r/$ROUNDS: (i-b) kernel-echo --spin (busy-polls epoll like xdpstack's loop)"
    start_server kernel-echo "$ECHO" --listen 198.18.0.3:7007 --spin
    for f in $FLOWS; do
      out=$(rr 198.18.0.3:7007 "$f") || { stop_server; die "kernel-echo --spin at 198.18.0.3:7007 did not answer ($f flows)"; }
      echo "kernel-echo --spin flows=$f $out"
      RATE[s$f.$r]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rate"])' "$out")
      P99[s$f.$r]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["p99_us"])' "$out")
    done
    stop_server
  fi

  echo "== round $r/$ROUNDS: (ii) ${XDP_CMD[*]}"
  START_CPUS=$XDP_CORES start_server xdpstack "${XDP_CMD[@]}"
  grep '^ready' "$LOG"
  for f in $FLOWS; do
    out=$(rr 198.18.0.2:7 "$f") || { stop_server; cat "$LOG" >&2; die "xdpstack at 198.18.0.2:7 did not answer ($f flows)"; }
    echo "xdpstack    flows=$f $out"
    RATE[x$f.$r]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rate"])' "$out")
    P99[x$f.$r]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["p99_us"])' "$out")
  done
  stop_server
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
[ "$ROUNDS" = 1 ] || echo "Median of $ROUNDS rounds (each round: kernel-echo, kernel-echo --spin unless SPIN_BASELINE=0, then xdpstack):"
echo
if [ "$SPIN_BASELINE" = 1 ]; then
  echo "| flows | kernel-echo trans/s | xdpstack trans/s | ratio xdpstack/kernel | p99 kernel-echo µs | p99 xdpstack µs | kernel-echo --spin trans/s | ratio xdpstack/spin | p99 spin µs |"
  echo "|---|---|---|---|---|---|---|---|---|"
else
  echo "| flows | kernel-echo trans/s | xdpstack trans/s | ratio xdpstack/kernel | p99 kernel-echo µs | p99 xdpstack µs |"
  echo "|---|---|---|---|---|---|"
fi
for f in $FLOWS; do
  k=() x=() pk=() px=() sp=() ps=()
  for r in $(seq "$ROUNDS"); do
    k+=("${RATE[k$f.$r]}"); x+=("${RATE[x$f.$r]}"); pk+=("${P99[k$f.$r]}"); px+=("${P99[x$f.$r]}")
    sp+=("${RATE[s$f.$r]:-0}"); ps+=("${P99[s$f.$r]:-0}")
  done
  python3 -c 'import statistics as st, sys
f, spin = sys.argv[1], sys.argv[8] == "1"
k, x, pk, px, s, ps = (st.median(map(float, a.split())) for a in sys.argv[2:8])
row = f"| {f} | {k:,.0f} | {x:,.0f} | {x/k:.2f} | {pk:.1f} | {px:.1f} |"
if spin:
    row += f" {s:,.0f} | {x/s:.2f} | {ps:.1f} |"
print(row)' \
    "$f" "${k[*]}" "${x[*]}" "${pk[*]}" "${px[*]}" "${sp[*]}" "${ps[*]}" "$SPIN_BASELINE"
done
