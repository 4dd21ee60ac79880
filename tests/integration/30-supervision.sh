#!/bin/bash
# moatd supervises: restarts a crashing sandbox with growing delays, stops cleanly (SIGTERM,
# then SIGKILL), and 200 start/stop cycles leave no process, mount, fd or state behind.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

install_sandbox crasher <<'EOF2'
[Sandbox]
Name=crasher
Version=1.0
Exec=/bin/sh -c "echo crashing; exit 3"
Restart=on-failure
EOF2
install_sandbox polite <<'EOF2'
[Sandbox]
Name=polite
Version=1.0
Exec=/bin/sh -c "trap 'echo got TERM; exit 0' TERM; sleep 1000 & wait"
Restart=no
StopTimeout=20s
EOF2
install_sandbox stubborn <<'EOF2'
[Sandbox]
Name=stubborn
Version=1.0
Exec=/bin/sleep 1000
StopTimeout=1s
EOF2

RESTART_DELAY_MS=100 start_moatd --no-start --restart-max-ms 800

children_of() { { ps -o pid= --ppid "$1" || true; } | wc -l; }
fds_of() { find "/proc/$1/fd" -mindepth 1 | wc -l; }
mounts_of() { wc -l <"/proc/$1/mountinfo"; }
restarts_of() { field_of "$1" restarts; }

# --- a crashing sandbox is restarted with exponential backoff --------------------------
moat start crasher >/dev/null
restarted_5_times() { [ "$(restarts_of crasher)" -ge 5 ]; }
check "a crashing sandbox is restarted (5 restarts seen)" wait_for restarts 30 restarted_5_times
delays=$(grep -o 'crasher: restarting in [0-9]* ms' "$TESTDIR/moatd.log" | awk '{print $4}' | sed -n 1,5p | tr '\n' ' ')
diag "restart delays: $delays"
check "restart delays double: 100 200 400 800 800 ms (capped)" test "$delays" = "100 200 400 800 800 "
check "the crash is reported with its exit status" grep -q 'crasher: exited with status 3' "$TESTDIR/moatd.log"
check "its output reaches its log" grep -q crashing "$LOGS/crasher.log"
moat stop crasher >/dev/null 2>&1 || true
check "a sandbox waiting to restart can be stopped" test "$(state_of crasher)" = stopped

# --- a clean stop leaves nothing behind ------------------------------------------------
fds0=$(fds_of "$MOATD_PID") mounts0=$(mounts_of "$MOATD_PID") children0=$(children_of "$MOATD_PID")
moat start polite >/dev/null
pid=$(field_of polite pid)
check "start returns with the sandbox running" test "$(state_of polite)" = running
check "the sandbox's init is moatd's own child (no monitor process beside it)" \
  test "$(ps -o ppid= -p "$pid" | tr -d ' ')" = "$MOATD_PID"
check "no crun process stays after the start" sh -c "! pgrep -f '^[^ ]*crun --root $RUN/crun' >/dev/null"
moat stop polite >/dev/null
check "SIGTERM stops a sandbox that handles it" grep -q 'got TERM' "$LOGS/polite.log"
check "no process of the stopped sandbox is left" sh -c "! kill -0 $pid 2>/dev/null"
check "no run state is left (run dir)" test ! -e "$RUN/sandboxes/polite"
check "no crun state is left" test -z "$(ls "$RUN/crun")"
check "moatd's fds are back to $fds0" test "$(fds_of "$MOATD_PID")" = "$fds0"
check "moatd's mounts are back to $mounts0" test "$(mounts_of "$MOATD_PID")" = "$mounts0"

moat start stubborn >/dev/null
moat stop stubborn >/dev/null
check "a sandbox ignoring SIGTERM is killed after its StopTimeout" \
  grep -q 'stubborn: did not stop within its StopTimeout; killing it' "$TESTDIR/moatd.log"
check "... and is stopped" test "$(state_of stubborn)" = stopped

# --- 200 start/stop cycles leak nothing -------------------------------------------------
failures=0
for _ in $(seq 200); do
  moat start polite >/dev/null && moat stop polite >/dev/null || failures=$((failures + 1))
done
check "200 start/stop cycles all succeed ($failures failed)" test "$failures" -eq 0
fds1=$(fds_of "$MOATD_PID") mounts1=$(mounts_of "$MOATD_PID") children1=$(children_of "$MOATD_PID")
diag "after 200 cycles: fds $fds0 -> $fds1, mounts $mounts0 -> $mounts1, children $children0 -> $children1"
check "200 cycles leak no fd" test "$fds1" = "$fds0"
check "200 cycles leak no mount" test "$mounts1" -le "$mounts0"
check "200 cycles leave no child process" test "$children1" = "$children0"
check "200 cycles leave no zombie" sh -c "! ps -eo stat=,ppid= | awk '\$1 ~ /^Z/ && \$2 == $MOATD_PID' | grep -q ."
check "200 cycles leave no state file" test -z "$(find "$RUN/crun" "$RUN/sandboxes" -mindepth 1)"
