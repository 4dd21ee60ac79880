#!/bin/bash
# A hostile integration tries forbidden things from inside each backend; every attempt must
# be refused. Its own TAP lines name each attempt; this test re-reports them per backend.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

sleep 1000 &
VICTIM=$!
trap 'kill $VICTIM 2>/dev/null; cleanup' EXIT

# The victim sandbox holds data the hostile one must not reach.
install_sandbox victim <<'EOF2'
[Sandbox]
Name=victim
Version=1.0
Exec=/bin/sh -c "echo secret > /data/secret; trap 'exit 0' TERM; sleep 1000 & wait"
EOF2
for backend in crun nspawn; do
  install_sandbox "hostile-$backend" <<EOF2
[Sandbox]
Name=hostile-$backend
Version=1.0
Backend=$backend
Exec=/usr/bin/hostile --other-data $STATE/sandboxes/victim/data/secret --undeclared-device /dev/vda --victim-pid $VICTIM
Restart=no
EOF2
done
start_moatd --no-start
moat start victim >/dev/null
wait_for "victim wrote its secret" 10 test -s "$STATE/sandboxes/victim/data/secret"

for backend in crun nspawn; do
  name=hostile-$backend
  moat start "$name" >/dev/null || true
  wait_for "$name ends" 120 sh -c "grep -q '^1\.\.' $LOGS/$name.log && [ \$(grep -c '^\(not \)\?ok ' $LOGS/$name.log) -ge \$(sed -n 's/^1\.\.//p' $LOGS/$name.log) ]" || true
  planned=$(sed -n 's/^1\.\.//p' "$LOGS/$name.log")
  attempts=$(grep -c '^ok \|^not ok ' "$LOGS/$name.log" || true)
  check "$backend: the hostile integration ran all $planned attempts ($attempts reported)" \
    test -n "$planned" -a "$attempts" = "$planned"
  check "$backend: at least 20 forbidden things were tried" test "${planned:-0}" -ge 20
  while IFS= read -r line; do
    case $line in
      "ok "*"# SKIP"*) skip "$backend: ${line#ok * - }" "hostile skipped it" ;;
      "ok "*) ok "$backend: ${line#ok * - }" ;;
      "not ok "*) not_ok "$backend: ${line#not ok * - }" ;;
    esac
  done < <(grep '^ok \|^not ok ' "$LOGS/$name.log")
done
check "the victim sandbox is untouched and still running" test "$(state_of victim)" = running
check "the host victim process is untouched" kill -0 "$VICTIM"
