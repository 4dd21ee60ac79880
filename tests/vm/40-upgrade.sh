#!/bin/bash
# An OS upgrade with `moat upgrade` (not ostree admin) from a signed repo served over HTTP on
# the hub's own loopback (from a disk plugged into it, a USB stick), v1 -> v2: it is pulled,
# verified and deployed, the reboot runs v2 on trial with v1 kept as the rollback, a change to
# /etc and the sandboxes' data come through, the sandboxes are healthy again and moatd calls
# the boot good; then `moat rollback` and a reboot run v1 again, data still whole.
# Usage: tests/vm/40-upgrade.sh IMAGE.qcow2
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

# --- on the host: bundles and the v2 commit on the stick ------------------------------------
STICK=$VMDIR/prep/bundles
if vm_build_bundles "$VMDIR/prep" &&
  vm_sign_bundle "$(vm_thermostat_sim "$VMDIR/prep/work")" "$STICK/thermostat.moatb" "$VMDIR/prep/work"; then
  ok "the bundles build and sign (mqtt, sensorlog, a simulated thermostat)"
else
  not_ok "the bundles build and sign (mqtt, sensorlog, a simulated thermostat)"
  exit 1
fi
V1=$(ostree rev-parse --repo="$VM_BUILD/os/repo" os/x86_64/stable)
V2_VERSION=$(date -u +%Y.%m%d.%H%M%S)-vm40
if V2=$(vm_publish_os_update "$VM_BUILD/os/repo" "$STICK/os-repo" "$V2_VERSION"); then
  ok "v2 ($V2_VERSION, ${V2:0:12}) is published over v1 (${V1:0:12}) in a copy of the repo"
else
  not_ok "v2 is published over v1 in a copy of the repo"
  exit 1
fi
# The hub serves the repo to itself over HTTP (vm_serve_updates) with busybox's httpd.
cp /usr/bin/busybox "$STICK/busybox"

# --- v1: install the sandboxes ----------------------------------------------------------------
vm_boot_with_stick "$STICK"
check "v1 is booted" test "$(os_deployment booted commit)" = "$V1"
guest 'cp /mnt/stick/publisher.pub /etc/moat/keys/bundles.d/' >/dev/null
for name in mqtt sensorlog thermostat; do
  check "moat install $name.moatb" quietly guest "moat install /mnt/stick/$name.moatb" 120
done
sandbox() { guest 'moat list --json' 30 | json_get "sandboxes.$1.$2"; }
all_up() {
  [ "$(sandbox mqtt health)" = healthy ] && [ "$(sandbox sensorlog health)" = healthy ] &&
    [ "$(sandbox thermostat state)" = running ]
}
READINGS=/var/lib/moat/sandboxes/sensorlog/data/readings.log
readings() { guest "grep -c temperature $READINGS 2>/dev/null || echo 0" 30 || echo 0; }
more_readings_than() { [ "$(readings)" -gt "$1" ]; }
first_reading() { guest "head -n 1 $READINGS" 30 || true; }
check "the sandboxes come up healthy" vm_wait_for 180 all_up
check "readings reach sensorlog's /data" vm_wait_for 60 more_readings_than 1
first=$(first_reading)
guest 'echo kept > /etc/moat/vm-test-etc' >/dev/null

# --- moat upgrade -----------------------------------------------------------------------------
check "the stick's repo is served on the guest's loopback (http://127.0.0.1:8080)" \
  quietly vm_serve_updates /mnt/stick/os-repo
check "moat upgrade --check says v2 is available" quietly guest 'moat upgrade --check' 300
started=$(date +%s)
out=$(guest 'moat upgrade' 600) && rc=0 || rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check "moat upgrade pulls, verifies and deploys v2 ($(($(date +%s) - started)) s)" test "$rc" -eq 0
check "v2 is pending, v1 booted" \
  test "$(os_deployment pending commit)/$(os_deployment booted commit)" = "$V2/$V1"
out=$(guest 'moat upgrade --check' 300) && rc=0 || rc=$?
check "with v2 pending, moat upgrade --check has nothing to do (exit $rc, as rpm-ostree: 77)" \
  test "$rc" = 77
before=$(readings)

if vm_reboot 600; then
  ok "reboots into v2 (systemd: $VM_STATE, ${BOOT_SECONDS} s)"
else
  not_ok "reboots into v2"
  exit 1
fi
guest 'moat status' | sed -n '1,/^$/p' | sed 's/^/# /'
check "v2 is booted (moat status)" test "$(os_deployment booted commit)" = "$V2"
check "... as ostree admin status says" test "$(ostree_booted | cut -d. -f1)" = "$V2"
check "... and its file is there (/usr/lib/moat/os-version)" \
  test "$(guest 'cat /usr/lib/moat/os-version')" = "$V2_VERSION"
check "v1 is kept as the rollback" test "$(os_deployment rollback commit)" = "$V1"
check "the upgrade is in the events log" guest "grep -q '\"to\":\"$V2\"' /var/lib/moat/events.log"
check "the change to /etc survived (3-way merge)" test "$(guest 'cat /etc/moat/vm-test-etc')" = kept
if vm_wait_for 180 all_up; then
  ok "the sandboxes are healthy again on v2 ($(vm_elapsed) s after the reboot began)"
else
  not_ok "the sandboxes are healthy again on v2"
fi
boot_good() { guest "grep -q '\"event\":\"boot-good\",\"from\":null,\"to\":\"$V2\"' /var/lib/moat/events.log" 30; }
check "moatd called the trial boot of v2 good (events log)" vm_wait_for 120 boot_good
check "... and v2 is on trial no more (moat boot-check)" \
  test "$(guest 'moat boot-check --json' 60 | json_get state)" = normal
check "sensorlog's data survived whole" test "$(first_reading)" = "$first"
check "... and grows" vm_wait_for 60 more_readings_than "$before"

# --- moat rollback ----------------------------------------------------------------------------
check "moat rollback makes v1 the default" quietly guest 'moat rollback' 120
before=$(readings)
if vm_reboot 600; then
  ok "reboots into v1 (systemd: $VM_STATE, ${BOOT_SECONDS} s)"
else
  not_ok "reboots into v1"
  exit 1
fi
check "v1 is booted again" test "$(os_deployment booted commit)" = "$V1"
check "... without v2's file" guest 'test ! -e /usr/lib/moat/os-version'
check "the sandboxes are healthy on v1" vm_wait_for 180 all_up
check "sensorlog's data survived the rollback whole" test "$(first_reading)" = "$first"
check "... and grows" vm_wait_for 60 more_readings_than "$before"

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
