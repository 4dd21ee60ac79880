#!/bin/bash
# Boot counting and automatic rollback on a sysroot in a folder (moat boot-check --sysroot,
# with --booted standing in for the deployment the bootloader chose): an upgrade puts the new
# deployment on trial in /boot/grub/grubenv (read back with GRUB's own grub-editenv); a good
# boot stops the count; failed boots are recorded; after the last attempt the fallback boot
# drops the failed deployment, says why, and `moat status` reports it. GRUB's side (counting
# down, falling back) is simulated with grub-editenv here and runs for real in tests/vm/50.
# Then the same on arm64's U-Boot sysroot: the counter in moat/bootenv on the firmware partition,
# U-Boot's countdown (os/uboot/boot.cmd) simulated by writing the file as `env export -t` would.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

SIGN=${MOAT_SIGN:-$BUILD/moat-sign}
REF=os/x86_64/stable
BOUND="--add-metadata=ostree.ref-binding=['$REF']"
SYSROOT=root
EVENTS=$SYSROOT/ostree/deploy/moat/var/lib/moat/events.log
GRUBENV=root/boot/grub/grubenv
T=$(($(date +%s) - 3600))
cd "$TESTDIR"
trap 'chattr -R -i "$TESTDIR/root" "$TESTDIR/uroot" 2>/dev/null || true; cleanup' EXIT

os() { moat "$1" --sysroot "$SYSROOT" --keys-dir keys "${@:2}"; }
exits() {
  local want=$1 rc=0
  shift
  "$@" >/dev/null 2>&1 || rc=$?
  test "$rc" = "$want"
}
# publish VERSION: a new signed head of $REF on the served repo, dated by VERSION's major
# number; prints the commit.
publish() {
  echo "$1" >tree/usr/lib/moat-build
  local c
  c=$(ostree --repo=pub commit -b "$REF" --tree=dir=tree --timestamp="@$((T + ${1%%.*} * 10))" \
    --add-metadata-string=version="$1" "$BOUND")
  "$SIGN" commit pub os.key "$c" >/dev/null
  "$SIGN" summary pub os.key 30 >/dev/null
  echo "$c"
}
# make_sysroot DIR [uboot]: a sysroot in DIR with the head of $REF deployed. With uboot,
# libostree writes boot/loader/uEnv.txt for U-Boot, as on the arm64 image; it only rewrites
# one that is already there.
make_sysroot() {
  mkdir -p "$1"
  ostree admin init-fs "$1" >/dev/null
  ostree admin --sysroot="$1" os-init moat >/dev/null
  ostree --repo="$1/ostree/repo" remote add --no-gpg-verify moat "file://$TESTDIR/pub"
  if [ "${2:-}" = uboot ]; then
    ostree --repo="$1/ostree/repo" config set sysroot.bootloader uboot
    mkdir "$1/boot/loader.0"
    : >"$1/boot/loader.0/uEnv.txt"
    ln -s loader.0 "$1/boot/loader"
  fi
  ostree --repo="$1/ostree/repo" pull moat "$REF" >/dev/null
  ostree admin --sysroot="$1" deploy --os=moat "moat:$REF" >/dev/null 2>&1
}
# env_get NAME: a variable of the GRUB environment, as GRUB's grub-editenv reads it.
env_get() { grub-editenv "$GRUBENV" list | sed -n "s/^$1=//p"; }
# grub_counts: what os/grub/grub.cfg does at each boot of a deployment on trial.
grub_counts() { grub-editenv "$GRUBENV" set moat_boots_left=$(($(env_get moat_boots_left) - 1)); }
boot_json() { os boot-check --json "$@" 2>/dev/null; }
jget() { /usr/bin/python3 -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }
ids() { os status --json | /usr/bin/python3 -c 'import json, sys
for d in json.load(sys.stdin)["os"]["deployments"]: print(d["id"])'; }
default_commit() { os status --json | /usr/bin/python3 -c 'import json, sys
print(json.load(sys.stdin)["os"]["deployments"][0]["commit"])'; }

# --- a served repo and a sysroot with v1 deployed ----------------------------------------------
mkdir -p tree/usr/lib/modules/6.1.0 tree/usr/etc keys
echo kernel >tree/usr/lib/modules/6.1.0/vmlinuz
echo initrd >tree/usr/lib/modules/6.1.0/initramfs.img
printf 'ID=moat\n' >tree/usr/lib/os-release
"$SIGN" keygen os.key keys/os.pub >/dev/null
ostree --repo=pub init --mode=archive
c1=$(publish 1.0)
make_sysroot root
v1=$(ids | sed -n 1p)

check "GRUB's fixed config parses (grub-script-check)" grub-script-check "$BUILD/../os/grub/grub.cfg"

# --- no counter: nothing is counted, and an upgrade still works ---------------------------------
check "without /boot/grub/grubenv the boot is uncounted" \
  test "$(boot_json | jget state)" = uncounted
c2=$(publish 2.0)
check "an upgrade without a counter deploys" exits 0 os upgrade
check "... and puts nothing on trial" test "$(boot_json | jget state)" = uncounted
exits 0 os rollback || true
exits 0 os cancel || true

# --- 1. an upgrade puts the new deployment on trial; a good boot ends it ----------------------
mkdir -p root/boot/grub
grub-editenv "$GRUBENV" create
grub-editenv "$GRUBENV" set keep_me=yes
check "with an empty counter the boot is normal" test "$(boot_json | jget state)" = normal
c3=$(publish 3.0)
check "upgrade deploys v3" exits 0 os upgrade
v3=$(ids | sed -n 1p)
check "v3 is on trial in the GRUB environment (grub-editenv reads moat_trial=$v3)" \
  test "$(env_get moat_trial)" = "$v3"
check "... with BootAttempts (default 3) boots" \
  test "$(env_get moat_boots_left)/$(env_get moat_boot_attempts)" = 3/3
check "... and GRUB's other variables kept" test "$(env_get keep_me)" = yes
check "the GRUB environment is still 1024 bytes" test "$(stat -c %s "$GRUBENV")" = 1024
grub_counts
json=$(boot_json)
check "the first boot of v3 is a trial, attempt 1 of 3" \
  test "$(jget state <<<"$json") $(jget attempt <<<"$json") $(jget attempts <<<"$json")" = "trial 1 3"
check "... naming v3 and its version" \
  test "$(jget deployment <<<"$json") $(jget version <<<"$json")" = "$v3 3.0"
check "... with the default health timeout (300 s)" test "$(jget health_timeout <<<"$json")" = 300
printf '[Update]\nHealthTimeout=45\n' >timeout.conf
check "HealthTimeout comes from moat.conf" \
  test "$(boot_json --config timeout.conf | jget health_timeout)" = 45
check "boot-check good ends the trial" exits 0 os boot-check good
check "... moat_trial and the count are gone" test -z "$(env_get moat_trial)$(env_get moat_boots_left)"
check "... keep_me is still there" test "$(env_get keep_me)" = yes
check "... the events log says v3 is good on attempt 1 of 3" \
  grep -q "\"event\":\"boot-good\".*\"to\":\"$c3\".*attempt 1 of 3" "$EVENTS"
check "boot-check good on a boot that is no trial exits 77" exits 77 os boot-check good
check "boot-check failed with no reason is a usage error (2)" exits 2 os boot-check failed
check "boot-check with a word it does not know is a usage error (2)" exits 2 os boot-check maybe

# --- 2. a deployment that never comes up healthy is dropped after its attempts ------------------
printf '[Update]\nBootAttempts=2\n' >two.conf
c4=$(publish 4.0)
check "upgrade to v4 with BootAttempts=2" exits 0 os upgrade --config two.conf
v4=$(ids | sed -n 1p)
check "v4 is on trial for 2 boots" test "$(env_get moat_trial) $(env_get moat_boots_left)" = "$v4 2"
grub_counts
check "attempt 1 fails (moatd's verdict)" \
  exits 0 os boot-check failed "not healthy within 45 s: mqtt is restarting"
grub_counts
check "attempt 2 is the last" test "$(boot_json | jget attempt)" = 2
check "attempt 2 fails too" exits 0 os boot-check failed "not healthy within 45 s: mqtt is failed"
check "both failures are in the events log" \
  test "$(grep -c "\"event\":\"boot-failed\",\"from\":null,\"to\":\"$c4\"" "$EVENTS")" = 2
# GRUB, with none left, boots ostree-1: the deployment after v4, i.e. v3.
check "GRUB has no attempts left" test "$(env_get moat_boots_left)" = 0
check "v3 follows v4 (GRUB's ostree-1)" test "$(ids | sed -n 2p)" = "$v3"
json=$(boot_json --booted "$v3")
check "the fallback boot into v3 reports a rollback" test "$(jget state <<<"$json")" = rolled-back
check "... of v4" test "$(jget deployment <<<"$json") $(jget version <<<"$json")" = "$v4 4.0"
check "... with moatd's last reason" \
  test "$(jget reason <<<"$json")" = "attempt 2 of 2: not healthy within 45 s: mqtt is failed"
check "v4 is no longer deployed; v3 is the default" \
  test "$(ids | grep -c "$c4")/$(default_commit)" = "0/$c3"
check "the counter is reset" test -z "$(env_get moat_trial)$(env_get moat_boots_left)"
check "the events log records the automatic rollback" \
  grep -q "\"event\":\"rollback\",\"from\":\"$c4\",\"to\":\"$c3\",\"detail\":\"automatic: 4.0 failed" "$EVENTS"
out=$(os status)
check "moat status tells the user which version failed and why" \
  grep -q "last failed update.*automatic: 4.0 failed: attempt 2 of 2: not healthy within 45 s" <<<"$out"
check "moat status --json has last_failed_update" \
  test "$(os status --json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["os"]["last_failed_update"]["from"])')" = "$c4"
check "the next boot check is normal" test "$(boot_json --booted "$v3" | jget state)" = normal
# It is still the newest commit: offered again, for whoever fixed what broke it.
check "the failed v4 is still offered by upgrade --check" exits 0 os upgrade --check

# --- 3. a deployment that never reaches moatd (kernel or init) falls back the same way -----------
check "upgrade to v4 again" exits 0 os upgrade --config two.conf
v4b=$(ids | sed -n 1p)
grub_counts
grub_counts
json=$(boot_json --booted "$v3")
check "a fallback with no verdict from moatd is a rollback too" \
  test "$(jget state <<<"$json") $(jget deployment <<<"$json")" = "rolled-back $v4b"
check "... whose reason says it never reached moatd" \
  grep -q "never came up far enough to start moatd in 2 boots" <<<"$(jget reason <<<"$json")"
check "... and v3 is the default again" test "$(default_commit)" = "$c3"

# --- 4. by hand, and after power cuts ----------------------------------------------------------
check "upgrade to v4 once more" exits 0 os upgrade
check "moat rollback (by hand) ends the trial" exits 0 os rollback
check "... nothing is on trial" test -z "$(env_get moat_trial)"
exits 0 os cancel || true
check "upgrade to v4 for the cancel case" exits 0 os upgrade
grub-editenv "$GRUBENV" set moat_trial=0000.0
check "a trial naming a deployment that does not exist (a power cut mid-deploy) is dropped" \
  test "$(boot_json | jget state)" = normal
check "... and the counter reset" test -z "$(env_get moat_trial)"
check "--booted naming no deployment is refused" exits 77 os boot-check --booted 1234.0

# --- 5. a damaged counter stops an upgrade before anything changes -------------------------------
exits 0 os rollback || true
exits 0 os cancel || true
before=$(ostree admin --sysroot=root status)
printf 'not a grub environment' >"$GRUBENV"
c5=$(publish 5.0)
rc=0
out=$(os upgrade 2>&1) || rc=$?
check "an upgrade with a damaged GRUB environment is refused (exit $rc)" test "$rc" = 1
check "... saying why" grep -q "boot counter is unreadable" <<<"$out"
check "... and nothing was deployed" test "$(ostree admin --sysroot=root status)" = "$before"

# --- 6. arm64: the counter in U-Boot's text environment on the firmware partition ---------------
# As on the arm64 image: no grubenv, libostree writing loader/uEnv.txt, and moat/bootenv on the
# FAT partition that Linux mounts at /boot/firmware.
make_sysroot uroot uboot
SYSROOT=uroot
EVENTS=$SYSROOT/ostree/deploy/moat/var/lib/moat/events.log
BOOTENV=uroot/boot/firmware/moat/bootenv
# uenv_get NAME: a variable of moat/bootenv, as U-Boot's `env import -t` reads it.
uenv_get() { tr -d '\0' <"$BOOTENV" | sed -n "s/^$1=//p"; }
# uboot_counts [END]: what os/uboot/boot.cmd does at each boot of a deployment on trial: one
# boot fewer left, written back as `env export -t` and fatwrite leave it, sorted and ending in
# END (a newline then the NUL that ends the export, by default).
uboot_counts() {
  local attempts left trial
  attempts=$(uenv_get moat_boot_attempts) left=$(($(uenv_get moat_boots_left) - 1))
  trial=$(uenv_get moat_trial)
  printf "moat_boot_attempts=%s\nmoat_boots_left=%s\nmoat_trial=%s${1:-\\n\\0}" \
    "$attempts" "$left" "$trial" >"$BOOTENV"
}

check "libostree wrote boot/loader/uEnv.txt for U-Boot" grep -q '^kernel_image=' uroot/boot/loader/uEnv.txt
before=$(ostree admin --sysroot=uroot status)
c6=$(publish 6.0)
rc=0
out=$(os upgrade 2>&1) || rc=$?
check "U-Boot without moat/bootenv (the firmware partition not mounted): upgrade refused (exit $rc)" \
  test "$rc" = 1
check "... naming the missing file" grep -q "$BOOTENV does not exist" <<<"$out"
check "... and saying the firmware partition may not be mounted" \
  grep -q "is the firmware partition mounted" <<<"$out"
check "... and nothing was deployed" test "$(ostree admin --sysroot=uroot status)" = "$before"
check "boot-check fails the same way rather than call the boot uncounted" exits 1 os boot-check

mkdir -p "$(dirname "$BOOTENV")"
: >"$BOOTENV"
check "with an empty moat/bootenv the boot is normal" test "$(boot_json | jget state)" = normal
check "upgrade deploys v6" exits 0 os upgrade
u6=$(ids | sed -n 1p)
check "v6 is on trial in moat/bootenv, in U-Boot's text format" \
  cmp -s "$BOOTENV" <(printf 'moat_boot_attempts=3\nmoat_boots_left=3\nmoat_trial=%s\n' "$u6")
check "... and no GRUB environment appeared" test ! -e uroot/boot/grub/grubenv
uboot_counts
json=$(boot_json)
check "after U-Boot's first countdown the boot is a trial of v6, attempt 1 of 3" test \
  "$(jget state <<<"$json") $(jget deployment <<<"$json") $(jget attempt <<<"$json")/$(jget attempts <<<"$json")" \
  = "trial $u6 1/3"
uboot_counts '\0'
check "after the second (no final newline) it is attempt 2" test "$(boot_json | jget attempt)" = 2
check "boot-check good ends the trial" exits 0 os boot-check good
check "... moat/bootenv is empty again" test "$(stat -c %s "$BOOTENV")" = 0
check "... the events log says v6 is good on attempt 2 of 3" \
  grep -q "\"event\":\"boot-good\".*\"to\":\"$c6\".*attempt 2 of 3" "$EVENTS"

c7=$(publish 7.0)
check "upgrade to v7 with BootAttempts=2" exits 0 os upgrade --config two.conf
u7=$(ids | sed -n 1p)
check "v7 is on trial for 2 boots" \
  cmp -s "$BOOTENV" <(printf 'moat_boot_attempts=2\nmoat_boots_left=2\nmoat_trial=%s\n' "$u7")
uboot_counts
check "attempt 1 of v7 fails" exits 0 os boot-check failed "not healthy within 45 s: zigbee is failed"
uboot_counts
check "U-Boot has no boots left" test "$(uenv_get moat_boots_left)" = 0
# U-Boot, with none left, boots kernel_image2 and bootargs2 of uEnv.txt: ostree= there is a link
# to the deployment.
fallback=$(sed -n 's/^bootargs2=.*ostree=\([^ ]*\).*/\1/p' uroot/boot/loader/uEnv.txt)
check "U-Boot's fallback (bootargs2 in uEnv.txt) is v6" \
  test "$(basename "$(readlink -f "uroot$fallback")")" = "$u6"
json=$(boot_json --booted "$u6")
check "the fallback boot into v6 reports a rollback of v7" \
  test "$(jget state <<<"$json") $(jget deployment <<<"$json")" = "rolled-back $u7"
check "v7 is no longer deployed; v6 is the default" \
  test "$(ids | grep -c "$c7")/$(default_commit)" = "0/$c6"
check "the counter is reset (moat/bootenv is empty)" test "$(stat -c %s "$BOOTENV")" = 0
check "the events log records the automatic rollback" \
  grep -q "\"event\":\"rollback\",\"from\":\"$c7\",\"to\":\"$c6\",\"detail\":\"automatic: 7.0 failed" "$EVENTS"
check "the next boot check is normal" test "$(boot_json --booted "$u6" | jget state)" = normal
: "$c1" "$c2" "$c5" "$v1"

echo "1..$n"
