#!/bin/bash
# Health checks run inside the sandbox, confined like it, and their verdict reaches
# `moat status`; a Required sandbox that is not healthy is counted against the system.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

for backend in crun nspawn; do
  install_sandbox "ready-$backend" <<EOF2
[Sandbox]
Name=ready-$backend
Version=1.0
Backend=$backend
Exec=/bin/sh -c "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; sleep 1000 & wait"
Required=yes

[Health]
Command=/bin/sh -c "test -e /tmp/ready && grep -q '^Seccomp:.*2' /proc/self/status && grep -q '^CapEff:.*0000000000000000' /proc/self/status"
Interval=1s
EOF2
done
install_sandbox slow <<'EOF2'
[Sandbox]
Name=slow
Version=1.0
Exec=/bin/sh -c "trap 'exit 0' TERM; sleep 1000 & wait"

[Health]
Command=/bin/sh -c "sleep 300; true"
Interval=2s
Timeout=1s
EOF2
install_sandbox sick <<'EOF2'
[Sandbox]
Name=sick
Version=1.0
Exec=/bin/sh -c "trap 'exit 0' TERM; sleep 1000 & wait"
Required=yes

[Health]
Command=/bin/false
Interval=1s
EOF2
start_moatd

health_is() { [ "$(field_of "$1" health)" = "$2" ]; }
for backend in crun nspawn; do
  check "$backend: a sandbox whose check passes (confined: seccomp on, no capabilities) becomes healthy" \
    wait_for health 30 health_is "ready-$backend" healthy
done
check "a sandbox whose check fails is unhealthy" wait_for health 30 health_is sick unhealthy
check "the unhealthy verdict is logged once" \
  test "$(grep -c 'sick: health: unhealthy' "$TESTDIR/moatd.log")" = 1
required_unhealthy() {
  moat status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["daemon"]["required_unhealthy"])'
}
check "moat status counts the one required sandbox that is not healthy" test "$(required_unhealthy)" = 1
check "moat list shows the health" sh -c "$MOAT --run-dir $RUN list | grep -Eq '^sick .* unhealthy'"
check "a check that outlives its Timeout makes the sandbox unhealthy" wait_for health 30 health_is slow unhealthy
sleep 3
# Only the slow sandbox's own: other programs on the host may be sleeping 300 s too.
slow_pidns=$(readlink "/proc/$(field_of slow pid)/ns/pid")
checks=0
for p in $(pgrep -f '^sleep 300' || true); do
  [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" != "$slow_pidns" ] || checks=$((checks + 1))
done
diag "health-check sleeps left: $checks"
check "a timed-out check is killed, with what it started (at most the current one runs)" \
  test "$checks" -le 1
moat stop slow >/dev/null
moat stop sick >/dev/null
check "no health check process outlives the sandboxes" sh -c "! pgrep -f '[c]run --root .* exec sick' >/dev/null"
