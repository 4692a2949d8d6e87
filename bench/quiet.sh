# bench/quiet.sh — sourced by bench/rr.sh and bench/l2echo.sh: wait until the cores a
# measurement uses are quiet.
#
# A machine shared with other work (builds, tests) takes CPU time from the processes
# being measured, which shows as halved rates and millisecond stalls. Before each
# measured run, `wait_quiet CPU...` spins a probe for 0.3 s on each given core and
# reads how long it waited for that core (run_delay in /proc/self/schedstat). If any
# core was taken for more than QUIET_PCT percent (default 2), it retries every 2 s,
# for at most QUIET_WAIT seconds (default 120), then goes on with a warning. It sets
# QUIET to the last measured "busy" percentages (for the report).
# QUIET_WAIT=0 skips the check.

QUIET_PCT=${QUIET_PCT:-2}
QUIET_WAIT=${QUIET_WAIT:-120}

# Percent of 0.3 s that a spinning probe on core $1 spent waiting for it.
cpu_taken_pct() {
  taskset -c "$1" python3 -c '
import time
def delay():
    with open("/proc/self/schedstat") as f:
        return int(f.read().split()[1])
d0, t0 = delay(), time.monotonic()
while time.monotonic() - t0 < 0.3:
    pass
print(f"{100 * (delay() - d0) / 1e9 / (time.monotonic() - t0):.1f}")'
}

wait_quiet() {
  QUIET=
  [ "${QUIET_WAIT}" != 0 ] || return 0
  local deadline=$((SECONDS + QUIET_WAIT)) c p busy
  while :; do
    busy=0 QUIET=
    for c in "$@"; do
      p=$(cpu_taken_pct "$c")
      QUIET="$QUIET cpu$c:${p}%"
      python3 -c "import sys; sys.exit(0 if $p <= $QUIET_PCT else 1)" || busy=1
    done
    [ "$busy" = 1 ] || return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "   (machine still busy after ${QUIET_WAIT} s:${QUIET} taken by other work; measuring anyway)" >&2
      return 0
    fi
    sleep 2
  done
}
