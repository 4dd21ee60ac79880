#!/bin/bash
# What a person at the command line relies on: help, exit codes, clear refusals.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

install_sandbox web <<'EOF2'
[Sandbox]
Name=web
Version=2.1
Exec=/bin/sh -c "trap 'exit 0' TERM; sleep 1000 & wait"
EOF2
install_sandbox broken <<'EOF2'
[Sandbox]
Name=broken
Version=1.0
Exec=/bin/true
Colour=blue
EOF2
start_moatd --no-start

status_is() { local want=$1; shift; local rc=0; "$@" >/dev/null 2>&1 || rc=$?; [ "$rc" -eq "$want" ]; }

check "moat --help lists every verb" sh -c "$MOAT --help | grep -q 'logs NAME'"
for verb in status upgrade deploy rollback cancel list start stop restart logs install remove \
  bundle-rollback; do
  check "moat $verb --help explains the verb" sh -c "$MOAT $verb --help | grep -q '^Usage: moat $verb'"
done
check "an unknown verb exits 2" status_is 2 moat frobnicate
check "a missing argument exits 2" status_is 2 moat start
check "--json where it means nothing exits 2" status_is 2 moat logs web --json
# The verbs --help lists, in its order, are the ones completion offers.
help_verbs=$("$MOAT" --help | sed -n '/^Verbs:/,/^$/s/^  \([a-z-]*\).*/\1/p' | tr '\n' ' ')
check "bash completion comes from the verb table ($help_verbs)" \
  sh -c "$MOAT completion bash | grep -qF 'verbs=\"${help_verbs% }\"'"

check "starting an unknown sandbox fails (exit 1)" status_is 1 moat start nope
err=$(moat start nope 2>&1 || true)
check "... and says so: '$err'" grep -q "no sandbox 'nope' is installed" <<<"$err"
# A `current` that leads out of the sandbox's own directory is refused, not followed.
mkdir -p "$TESTDIR/elsewhere" "$STATE/sandboxes/outside"
cp -al "$ROOTFS" "$TESTDIR/elsewhere/rootfs"
printf '[Sandbox]\nName=outside\nVersion=1\nExec=/bin/true\n' >"$TESTDIR/elsewhere/manifest"
ln -s "$TESTDIR/elsewhere" "$STATE/sandboxes/outside/current"
err=$(moat start outside 2>&1 || true)
check "a current link leading out of the sandbox's directory is not followed: '$err'" \
  grep -q "leads out of its directory" <<<"$err"
rm -rf "$STATE/sandboxes/outside"
check "moat start runs a sandbox" moat start web
check "starting it again is nothing to do (exit 77)" status_is 77 moat start web
check "moat list shows it running" sh -c "$MOAT --run-dir $RUN list | grep -Eq '^web +2.1 +- +- +crun +running'"
check "moat list --json is JSON with the sandbox" sh -c "$MOAT --run-dir $RUN list --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"sandboxes\"][1][\"state\"]==\"running\"'"
check "moat status shows the daemon and sandboxes" sh -c "$MOAT --run-dir $RUN status | grep -q '^moatd: running'"
check "moat status NAME shows the confinement" sh -c "$MOAT --run-dir $RUN status web | grep -q 'user ns: *uid 0-65535 -> host'"
check "moat status says plainly when SELinux is off" sh -c "$MOAT --run-dir $RUN status web | grep -q 'SELinux is not enabled on this host'"
check "moat restart restarts it" moat restart web
check "moat stop stops it" moat stop web
check "stopping it again is nothing to do (exit 77)" status_is 77 moat stop web

err=$(moat start broken 2>&1 || true)
diag "bad manifest: $err"
check "a manifest with an unknown key is refused with file:line: key:" \
  grep -Eq 'manifest:5: Colour: ' <<<"$err"
check "... and nothing starts" test "$(state_of broken)" = failed
check "... and no run state is created" test ! -e "$RUN/sandboxes/broken"

install_sandbox chatty <<'EOF2'
[Sandbox]
Name=chatty
Version=1.0
Exec=/bin/sh -c "trap 'exit 0' TERM; echo hello-from-chatty; while :; do sleep 0.2; echo tick; done"
EOF2
moat start chatty >/dev/null
check "moat logs shows a sandbox's output" wait_for logs 10 sh -c "$MOAT --run-dir $RUN --log-dir $LOGS logs chatty | grep -q hello-from-chatty"
# Started directly (not through the moat() wrapper) so $! is the follower itself.
"$MOAT" --run-dir "$RUN" --log-dir "$LOGS" logs chatty -f >"$TESTDIR/follow.out" 2>&1 &
follower=$!
sleep 1
before=$(grep -c tick "$TESTDIR/follow.out" || true)
sleep 1.5
after=$(grep -c tick "$TESTDIR/follow.out" || true)
kill "$follower" 2>/dev/null || true
wait "$follower" 2>/dev/null || true
check "moat logs -f follows new output ($before -> $after lines)" test "$after" -gt "$before"
moat stop chatty >/dev/null
