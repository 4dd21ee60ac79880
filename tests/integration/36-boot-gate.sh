#!/bin/bash
# moatd's verdict on a trial boot (docs/updates.md): with `moat boot-check --json` saying this
# boot is a trial, moatd calls `boot-check good` once every Required sandbox is healthy, and
# `boot-check failed REASON --reboot` when the health timeout passes first, REASON naming the
# sandbox. The CLI is a stand-in here that records how it is called (the real one is tested on
# a folder sysroot by 86-boot-counting, and the whole under QEMU by tests/vm/50-rollback).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# A stand-in for moat: `boot-check --json` answers what $TESTDIR/answer.json holds; any other
# call is recorded in $TESTDIR/calls.
cat >"$TESTDIR/moat" <<STANDIN
#!/bin/sh
if [ "\$*" = "boot-check --json" ]; then cat "$TESTDIR/answer.json"; exit 0; fi
printf '%s\n' "\$*" >>"$TESTDIR/calls"
STANDIN
chmod 0755 "$TESTDIR/moat"
# answer STATE TIMEOUT [REASON]: what the stand-in says this boot is.
answer() {
  printf '{"state":"%s","deployment":"abc.0","commit":"abc","version":"9.9","attempt":2,"attempts":3,"health_timeout":%s,"reason":"%s"}\n' \
    "$1" "$2" "${3:-}" >"$TESTDIR/answer.json"
}
calls() { cat "$TESTDIR/calls" 2>/dev/null || true; }
called() { grep -q "$1" "$TESTDIR/calls" 2>/dev/null; }
logged() { grep -q "$1" "$TESTDIR/moatd.log"; }

install_sandbox broker <<'MANIFEST'
[Sandbox]
Name=broker
Version=1.0
Exec=/bin/sh -c "trap 'exit 0' TERM; sleep 1000 & wait"
Required=yes

[Health]
Command=/bin/true
Interval=1s
MANIFEST

# --- a trial whose Required sandbox becomes healthy: good ---------------------------------------
answer trial 60
start_moatd --boot-check --moat "$TESTDIR/moat"
check "a healthy Required sandbox: moatd calls the boot good" wait_for good 30 called '^boot-check good$'
check "... once, and nothing else" test "$(calls)" = "boot-check good"
check "its log says which attempt it judged" logged "attempt 2 of 3 at 9.9"
stop_moatd

# --- the same sandbox failing to start: failed, with the reason, and a reboot -------------------
rm -f "$TESTDIR/calls"
install_sandbox broker <<'MANIFEST'
[Sandbox]
Name=broker
Version=1.0
Exec=/bin/false
Restart=always
Required=yes
MANIFEST
answer trial 10
start_moatd --boot-check --moat "$TESTDIR/moat"
sleep 7
check "a Required sandbox that never runs: no verdict before the 10 s timeout" test -z "$(calls)"
check "... then moatd calls the boot failed" wait_for failed 20 called '^boot-check failed'
check "... naming the sandbox and the timeout, and asking for the reboot" \
  grep -qE '^boot-check failed not healthy within 10 s: broker is [a-z]+ .*--reboot$' "$TESTDIR/calls"
check "... once" test "$(grep -c . "$TESTDIR/calls")" = 1
stop_moatd

# --- a sandbox whose manifest no longer reads (say the update broke the parser): failed -----------
rm -f "$TESTDIR/calls"
install_sandbox broker <<'MANIFEST'
[Sandbox]
Name=broker
Version=1.0
Exec=/bin/true
Colour=blue
MANIFEST
answer trial 10
start_moatd --boot-check --moat "$TESTDIR/moat"
check "an installed sandbox whose manifest cannot be read fails the trial" \
  wait_for failed 30 called '^boot-check failed not healthy within 10 s: broker is failed'
stop_moatd

# --- no trial: no verdict ------------------------------------------------------------------------
rm -f "$TESTDIR/calls"
answer normal 10
start_moatd --boot-check --moat "$TESTDIR/moat"
sleep 12
check "a boot that is no trial gets no verdict" test -z "$(calls)"
stop_moatd

# --- a rollback found at startup is logged -----------------------------------------------------
answer rolled-back 10 "it never came up"
start_moatd --boot-check --moat "$TESTDIR/moat"
check "a rollback found at startup is logged with its reason" \
  wait_for log 10 logged "the update to 9.9 failed and was rolled back: it never came up"
stop_moatd

# --- not an OSTree system, no --boot-check: moatd never asks -----------------------------------
rm -f "$TESTDIR/calls"
answer trial 10
start_moatd --moat "$TESTDIR/moat"
sleep 3
check "without /run/ostree-booted (and no --boot-check) moatd asks nothing" test -z "$(calls)"
stop_moatd

echo "1..$n"
