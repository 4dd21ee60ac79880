#!/bin/bash
# Automatic OS updates: the OS layer enables moat-upgrade.timer, and the moat-upgrade-schedule
# generator turns [Update] Schedule= of moat.conf into the timer's schedule, keeps the default
# (and says so) for a value systemd would not take, and masks the timer for Schedule=off.
# systemd-analyze verify then checks the units with what the generator wrote.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
units=$repo/os/overlay/usr/lib/systemd/system
generator=$repo/os/overlay/usr/lib/systemd/system-generators/moat-upgrade-schedule
gen=$TESTDIR/gen
dropin=moat-upgrade.timer.d/schedule.conf

# generate CONF [NAME=VALUE...]: run the generator as systemd does, with fresh output
# directories and the environment given; its exit status in gen_rc, its messages in
# $TESTDIR/gen.err. SYSTEMD_SCOPE is unset so that they go to stderr, not to this host's
# kernel log.
generate() {
  rm -rf "$gen"
  mkdir -p "$gen/normal" "$gen/early" "$gen/late"
  gen_rc=0
  env -u SYSTEMD_SCOPE MOAT_CONF="$1" "${@:2}" "$generator" "$gen/normal" "$gen/early" \
    "$gen/late" 2>"$TESTDIR/gen.err" || gen_rc=$?
}
# What the last run wrote, one path a line, relative to its output directories.
generated() { (cd "$gen" && find . -mindepth 2 | sort); }
# The drop-in without its comment line is exactly FILE.
dropin_is() { grep -v '^#' "$gen/normal/$dropin" | cmp -s - "$1"; }
quiet_success() { [ "$gen_rc" -eq 0 ] && [ ! -s "$TESTDIR/gen.err" ]; }
warned() { [ "$gen_rc" -eq 0 ] && grep -qF "$1" "$TESTDIR/gen.err"; }
nothing_generated() { [ -z "$(generated)" ]; }

check "the generator is executable" test -x "$generator"
check "the timer's own schedule is daily at 03:30 local time" \
  grep -qx 'OnCalendar=\*-\*-\* 03:30' "$units/moat-upgrade.timer"
check "the service treats exit 77 (nothing newer) as success" \
  grep -qx 'SuccessExitStatus=77' "$units/moat-upgrade.service"

generate "$TESTDIR/missing.conf"
check "no moat.conf: nothing generated, the default schedule stays" nothing_generated
check "no moat.conf: no warning" quiet_success

sed -e 's|@ARCH@|x86_64|g' -e 's|@OS_REMOTE@|file:///var/lib/moat/os-updates|g' \
  "$repo/os/overlay/etc/moat/moat.conf" >"$TESTDIR/shipped.conf"
generate "$TESTDIR/shipped.conf"
check "the shipped moat.conf is read without a warning" quiet_success

cat >"$TESTDIR/no-key.conf" <<'EOF'
[Update]
MaxPullMiB=2048
#Schedule=hourly
  # Schedule=weekly

[Bundles]
Schedule=hourly
EOF
generate "$TESTDIR/no-key.conf"
check "no Schedule= in [Update] (commented, or in another section): default schedule" \
  nothing_generated
check "no Schedule= in [Update]: no warning" quiet_success

# Whitespace around the name and value, a CR line end, a later value, a section opened twice.
printf '%s\r\n' '[Update]' 'Schedule=daily' '[Bundles]' 'Branch=stable' \
  '[Update]' '  Schedule =  Mon..Fri 04:00 Europe/Berlin  ' >"$TESTDIR/custom.conf"
generate "$TESTDIR/custom.conf"
check "a valid Schedule= is the only thing generated" \
  test "$(generated)" = "$(printf './normal/moat-upgrade.timer.d\n./normal/%s' "$dropin")"
printf '[Timer]\nOnCalendar=\nOnCalendar=Mon..Fri 04:00 Europe/Berlin\n' >"$TESTDIR/want.conf"
check "the last [Update] Schedule= replaces OnCalendar=, trimmed and verbatim" \
  dropin_is "$TESTDIR/want.conf"
check "a valid Schedule=: no warning" quiet_success

bad() {
  printf '[Update]\nSchedule=%s\n' "$1" >"$TESTDIR/bad.conf"
  generate "$TESTDIR/bad.conf"
  check "Schedule=$1 ($2): the default schedule stays" nothing_generated
  check "Schedule=$1 ($2): a warning names it" warned "Schedule='$1'"
}
bad 'every day at 3' "not a calendar expression"
bad '2000-01-01 03:00' "never comes round again"
bad 'daily %H' "a unit specifier"
bad "\$(touch $TESTDIR/ran)" "shell syntax"
check "the value was never run as a command" test ! -e "$TESTDIR/ran"
bad 'Off' "off is lower case"

# At boot ($SYSTEMD_SCOPE set) stderr is lost: warnings go to the kernel log, here a file bound
# over /dev/kmsg in a mount namespace of the test's own.
: >"$TESTDIR/kmsg"
# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
unshare -m --propagation private sh -c 'mount --bind "$1" /dev/kmsg && shift && exec "$@"' sh \
  "$TESTDIR/kmsg" env SYSTEMD_SCOPE=system MOAT_CONF="$TESTDIR/bad.conf" \
  "$generator" "$gen/normal" "$gen/early" "$gen/late" 2>"$TESTDIR/gen.err" || true
check "under systemd, a warning goes to the kernel log as daemon.warning, for journalctl -t" \
  grep -q "^<28>moat-upgrade-schedule\[[0-9]*\]: .*Schedule='Off'" "$TESTDIR/kmsg"

printf '[Update]\nSchedule=off\n' >"$TESTDIR/off.conf"
generate "$TESTDIR/off.conf"
check "Schedule=off masks the timer and writes nothing else" \
  test "$(generated)" = ./normal/moat-upgrade.timer
check "Schedule=off: the mask is a link to /dev/null" \
  test "$(readlink "$gen/normal/moat-upgrade.timer")" = /dev/null
check "Schedule=off: it says updates are off" warned 'automatic OS updates are off'

# Without systemd-analyze a value cannot be checked, which is not the same as invalid; either
# way the default stays.
mkdir -p "$TESTDIR/empty-path"
generate "$TESTDIR/custom.conf" PATH="$TESTDIR/empty-path"
check "no systemd-analyze: the default schedule stays" nothing_generated
check "no systemd-analyze: it says it could not check" warned 'cannot check'

# systemd-analyze verify, with the generator's output ahead of the units as in systemd's own
# search path. It insists that ExecStart= exists on this host, which has no /usr/bin/moat: the
# service is verified with ExecStart= naming the moat just built, and the layer check below
# asserts /usr/bin/moat is in the image.
mkdir -p "$TESTDIR/units"
cp "$units/moat-upgrade.timer" "$units/moat-boot-deadline.timer" "$TESTDIR/units/"
for unit in moat-upgrade.service moat-boot-deadline.service; do
  sed "s|^ExecStart=/usr/bin/moat |ExecStart=$MOAT |" "$units/$unit" >"$TESTDIR/units/$unit"
done
verify() {
  SYSTEMD_UNIT_PATH="$gen/normal:$TESTDIR/units:" \
    systemd-analyze --man=no verify moat-upgrade.service moat-upgrade.timer \
    moat-boot-deadline.service moat-boot-deadline.timer \
    >"$TESTDIR/verify.out" 2>&1
}
refused_by_verify() { ! verify && grep -q "$1" "$TESTDIR/verify.out"; }
verified() {
  verify && return 0
  sed 's/^/# verify: /' "$TESTDIR/verify.out"
  return 1
}
if command -v systemd-analyze >/dev/null; then
  diag "systemd-analyze verify: ExecStart=/usr/bin/moat replaced by $MOAT (not on this host)"
  generate "$TESTDIR/missing.conf"
  check "systemd-analyze verify accepts the service and timer as shipped" verified
  generate "$TESTDIR/custom.conf"
  check "systemd-analyze verify accepts them with a custom schedule's drop-in" verified
  # A drop-in that leaves no schedule must fail, or the passes above prove nothing.
  mkdir -p "$gen/normal/${dropin%/*}"
  printf '[Timer]\nOnCalendar=\n' >"$gen/normal/$dropin"
  check "systemd-analyze verify reads the drop-in (rejects one that leaves no schedule)" \
    refused_by_verify 'lacks value setting'
  generate "$TESTDIR/off.conf"
  check "systemd-analyze verify: Schedule=off leaves the timer masked" \
    refused_by_verify 'moat-upgrade.timer is masked'
else
  skip "systemd-analyze verify" "no systemd-analyze on this host"
fi

# The OS layer, as tree/layer assembles it for the image.
echo test-key >"$TESTDIR/os.pub"
if MOAT_OS_PUBKEY=$TESTDIR/os.pub "$repo/tree/layer" x86_64 "$BUILD" "$TESTDIR/layer" \
  >"$TESTDIR/layer.log" 2>&1; then
  ok "tree/layer assembles the OS layer"
  layer=$TESTDIR/layer
  check "the timer is enabled in the default /etc (timers.target.wants)" \
    test "$(readlink "$layer/usr/etc/systemd/system/timers.target.wants/moat-upgrade.timer")" \
    = /usr/lib/systemd/system/moat-upgrade.timer
  check "the boot deadline's timer is enabled too" \
    test "$(readlink "$layer/usr/etc/systemd/system/timers.target.wants/moat-boot-deadline.timer")" \
    = /usr/lib/systemd/system/moat-boot-deadline.timer
  check "the image has both units" \
    test -f "$layer/usr/lib/systemd/system/moat-upgrade.timer" \
    -a -f "$layer/usr/lib/systemd/system/moat-upgrade.service"
  check "the image's generator is mode 0755" \
    test "$(stat -c %a "$layer/usr/lib/systemd/system-generators/moat-upgrade-schedule")" = 755
  check "the image has /usr/bin/moat, the service's ExecStart" test -x "$layer/usr/bin/moat"
  check "the image has the units' Documentation=" test -f "$layer/usr/share/doc/moat/updates.md"
else
  not_ok "tree/layer assembles the OS layer"
  sed 's/^/# tree\/layer: /' "$TESTDIR/layer.log"
fi

echo "1..$n"
