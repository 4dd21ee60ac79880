#!/bin/bash
# moatd speaks systemd's notify protocol (Type=notify, WatchdogSec=): READY=1 once its API
# answers (the sandboxes start after it, so that the boot does not wait for them), WATCHDOG=1 at
# half the watchdog interval, STOPPING=1 on SIGTERM.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

install_sandbox idle <<'EOF2'
[Sandbox]
Name=idle
Version=1.0
Exec=/bin/sh -c "trap 'exit 0' TERM; sleep 1000 & wait"
EOF2

/usr/bin/python3 - "$TESTDIR/notify.sock" "$TESTDIR/notify.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(1)
with open(sys.argv[2], "w") as out:
    end = time.time() + 60
    while time.time() < end:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        out.write(msg.replace("\n", " ") + "\n")
        out.flush()
        if "STOPPING=1" in msg:
            break
PY
LISTENER=$!
wait_for "notify socket" 10 test -S "$TESTDIR/notify.sock"

NOTIFY_SOCKET=$TESTDIR/notify.sock WATCHDOG_USEC=1000000 start_moatd
check "READY=1 is sent" wait_for ready 10 grep -q 'READY=1' "$TESTDIR/notify.out"
api_answers() { moat list >/dev/null; }
check "the API answers once READY=1 is sent" api_answers
idle_running() { [ "$(state_of idle)" = running ]; }
check "the sandbox runs, started after READY" wait_for idle 10 idle_running
check "WATCHDOG=1 keeps coming (3 pings)" wait_for pings 10 sh -c "[ \$(grep -c WATCHDOG=1 $TESTDIR/notify.out) -ge 3 ]"
check "STATUS says what runs" grep -q 'STATUS=1 sandboxes running' "$TESTDIR/notify.out"
stop_moatd
wait "$LISTENER" || true
check "STOPPING=1 is sent on SIGTERM" grep -q 'STOPPING=1' "$TESTDIR/notify.out"
check "the sandbox was stopped with the daemon" grep -q 'idle: stopped' "$TESTDIR/moatd.log"
