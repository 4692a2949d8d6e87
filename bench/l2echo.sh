#!/usr/bin/env bash
# bench/l2echo.sh — the device layer against a C libxdp reference: L2 echo packets/s.
#
# Usage (root):  make bench-l2echo        (builds the three programs, then runs this)
#            or  bash bench/l2echo.sh     (after: make xsk-ref &&
#                                          cargo build --release -p xdpstack-xsk --examples)
# Environment:   DURATION=5 (measured seconds per run)  WARMUP=1  ROUNDS=3
#                WINDOW=256 (frames the generator keeps outstanding)  SIZE=64
#                GEN_CPU=0 ECHO_CPU=1 (taskset pinning)  NICE=0 (nice level of both)
#                QUIET_PCT=2 QUIET_WAIT=120 TRIES=5 (see "Quiet machine" below)
#
# Two network namespaces joined by one veth pair (single queue). Namespace B runs an
# L2 echo on its veth end, one AF_XDP socket on queue 0, copy mode, busy-polling:
#   * C reference, libxdp (target/xsk-ref/l2echo, bench/xsk-ref/l2echo.c), twice:
#     "refer" (xdpsock l2fwd: the RX frame itself is sent back) and "copy" (-c:
#     copied into a separate TX frame, which is what XskDevice does);
#   * Rust on our device layer (target/release/examples/l2echo: XdpProgram::attach,
#     XskDevice::open, rx_burst / tx().send / flush).
# Namespace A runs the generator (target/release/examples/l2gen): 64-byte UDP/IPv4
# frames to the echo's MAC and 198.18.0.2 from 198.18.0.1, WINDOW outstanding, and
# counts the frames that come back (its own XdpProgram steers 198.18.0.1 into its
# AF_XDP socket). The echoes swap MACs and IPv4 addresses.
#
# Rounds are interleaved (round r: C refer, C copy, Rust) so that a change in the
# machine's background load hits every variant alike; the table gives each round
# and the median. The echo and the generator are pinned to different cores.
#
# Quiet machine: other work on the machine (builds, tests) takes CPU time from the
# spinning echo and generator and halves the rates. Before each run the script waits
# (≤ QUIET_WAIT s) until both cores are quiet (bench/quiet.sh), and after it both
# programs report how long they waited for their core (/proc/self/schedstat); a run
# that lost more than QUIET_PCT % of its time is measured again, up to TRIES times,
# and flagged † in the table if it never ran undisturbed.
# Everything is removed on exit, also on failure or Ctrl-C (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "l2echo.sh: needs root (namespaces, XDP, AF_XDP)" >&2; exit 2; }
C_ECHO=target/xsk-ref/l2echo
RS_ECHO=target/release/examples/l2echo
GEN=target/release/examples/l2gen
for b in "$C_ECHO" "$RS_ECHO" "$GEN"; do
  [ -x "$b" ] || { echo "l2echo.sh: $b missing: run make bench-l2echo (or make xsk-ref and cargo build --release -p xdpstack-xsk --examples)" >&2; exit 2; }
done
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
WINDOW=${WINDOW:-256}
SIZE=${SIZE:-64}
GEN_CPU=${GEN_CPU:-0}
ECHO_CPU=${ECHO_CPU:-1}
NICE=${NICE:-0}
TRIES=${TRIES:-5}
# shellcheck source=bench/quiet.sh
. bench/quiet.sh
[ "$(nproc)" -ge 2 ] || { GEN_CPU=0; ECHO_CPU=0; echo "l2echo.sh: one CPU only: generator and echo share it"; }

ID=$$
A=xl${ID}a B=xl${ID}b PA=xl${ID}p SB=xl${ID}s
ECHO_PID=
cleanup() {
  if [ -n "$ECHO_PID" ]; then kill "$ECHO_PID" 2>/dev/null || true; wait "$ECHO_PID" 2>/dev/null || true; fi
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -f "${LOG:-}" "${LOG:-}.gen"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$A"
ip netns add "$B"
ip link add "$PA" netns "$A" type veth peer name "$SB" netns "$B"
for x in "$A $PA" "$B $SB"; do
  set -- $x
  # No IPv6 chatter (router/neighbour solicitations, MLD) on the test link.
  ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
  ip -n "$1" link set "$2" up
done
ECHO_MAC=$(ip netns exec "$B" cat "/sys/class/net/$SB/address")
LOG=$(mktemp)

# Wait (bounded) until no XDP program is left on the echo's interface; a program a
# previous echo left behind (its release can lag the process' exit) is removed.
xdp_free() {
  for _ in $(seq 50); do
    ip -n "$B" -d link show "$SB" | grep -q 'prog/xdp' || return 0
    sleep 0.1
  done
  ip -n "$B" link set dev "$SB" xdp off 2>/dev/null || true
  ip -n "$B" link set dev "$SB" xdpgeneric off 2>/dev/null || true
}

# The echo runs a little longer than the generator; every process is bounded by timeout.
ECHO_SECS=$(python3 -c "import math; print(math.ceil($WARMUP + $DURATION) + 3)")
LIMIT=$((ECHO_SECS + 10))

# One measurement: start the echo ("$@") in B, run the generator in A. Sets PPS
# (echoed pkt/s) and WAITMS (ms that the echo and the generator waited for their
# cores: time taken by other work on the machine).
measure_once() {
  local label=$1; shift
  xdp_free
  wait_quiet "$GEN_CPU" "$ECHO_CPU"
  ip netns exec "$B" nice -n "$NICE" taskset -c "$ECHO_CPU" timeout "$LIMIT" "$@" >"$LOG" 2>&1 &
  ECHO_PID=$!
  for _ in $(seq 50); do grep -q '^ready' "$LOG" && break; sleep 0.1; done
  if ! grep -q '^ready' "$LOG"; then
    echo "l2echo.sh: $label did not start:" >&2; cat "$LOG" >&2; exit 1
  fi
  local out
  if ! out=$(timeout "$LIMIT" ip netns exec "$A" nice -n "$NICE" taskset -c "$GEN_CPU" \
        "$GEN" "$PA" "$ECHO_MAC" --window "$WINDOW" --size "$SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" --json 2>>"$LOG.gen"); then
    echo "l2echo.sh: generator failed against $label:" >&2; cat "$LOG" "$LOG.gen" >&2; exit 1
  fi
  kill -INT "$ECHO_PID" 2>/dev/null || true
  wait "$ECHO_PID" 2>/dev/null || true
  ECHO_PID=
  local lost gw ew
  PPS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rx_pps"])' "$out")
  lost=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["lost"])' "$out")
  gw=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["cpu_wait_ms"]))' "$out")
  ew=$(tail -1 "$LOG" | sed -n 's/.*cpu_wait_ms \([0-9]*\).*/\1/p')
  WAITMS=$((gw + ${ew:-0}))
  echo "  $label: $PPS pkt/s echoed (lost $lost; CPU taken by other work: generator ${gw} ms, echo ${ew:-?} ms) | $(tail -1 "$LOG" | cut -d'|' -f1)"
  rm -f "$LOG.gen"
}

# One run of a variant: measure, and measure again (up to TRIES times in all) while
# other work took more than QUIET_PCT % of the measured time from our processes.
# Sets PPS, and FLAG to "†" if even the last try was disturbed.
run_one() {
  local t max_ms
  max_ms=$(python3 -c "print(int($DURATION * 1000 * $QUIET_PCT / 100))")
  FLAG=
  for t in $(seq "$TRIES"); do
    measure_once "$@"
    [ "$WAITMS" -gt "$max_ms" ] || return 0
    echo "   (disturbed: ${WAITMS} ms > ${max_ms} ms taken by other work; try $t/$TRIES)"
  done
  FLAG="†"
}

echo "== l2echo: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== veth $PA ($A, generator) <-> $SB ($B, echo); ${SIZE} B frames, window $WINDOW, ${DURATION} s per run after ${WARMUP} s warm-up, $ROUNDS rounds"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine makes the figures noisy)"
cref=() ccopy=() rs=()
for r in $(seq "$ROUNDS"); do
  echo "round $r:"
  run_one "C libxdp refer" "$C_ECHO" -i "$SB" -d "$ECHO_SECS"; cref+=("$PPS$FLAG")
  run_one "C libxdp copy " "$C_ECHO" -i "$SB" -c -d "$ECHO_SECS"; ccopy+=("$PPS$FLAG")
  run_one "Rust XskDevice" "$RS_ECHO" "$SB" --ip 198.18.0.2 --duration "$ECHO_SECS"; rs+=("$PPS$FLAG")
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "${cref[*]}" "${ccopy[*]}" "${rs[*]}" <<'PY'
import statistics, sys
runs = [a.split() for a in sys.argv[1:4]]
val = lambda s: float(s.rstrip("†"))
mark = lambda s: "†" if s.endswith("†") else ""
c, cc, r = ([val(x) for x in a] for a in runs)
print("| round | C libxdp, refer (xdpsock l2fwd) pkt/s | C libxdp, copy pkt/s | Rust XskDevice pkt/s | Rust/C refer | Rust/C copy |")
print("|---|---|---|---|---|---|")
for i, (a, b, x) in enumerate(zip(c, cc, r)):
    m = [mark(runs[k][i]) for k in range(3)]
    print(f"| {i+1} | {a:,.0f}{m[0]} | {b:,.0f}{m[1]} | {x:,.0f}{m[2]} | {x/a:.2f} | {x/b:.2f} |")
mc, mcc, mr = statistics.median(c), statistics.median(cc), statistics.median(r)
print(f"| **median** | **{mc:,.0f}** | **{mcc:,.0f}** | **{mr:,.0f}** | **{mr/mc:.2f}** | **{mr/mcc:.2f}** |")
if any("†" in x for a in runs for x in a):
    print("\n† other work on the machine still took more than QUIET_PCT % of that run's CPU time after TRIES tries")
PY
