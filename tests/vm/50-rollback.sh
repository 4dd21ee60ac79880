#!/bin/bash
# Automatic rollback after a failed update, with nobody touching the hub. From v1 with the
# mqtt broker installed (Required=yes):
#   v3 breaks the sandbox runtime (its crun always fails), so mqtt never becomes healthy:
#      moatd reboots each attempt after HealthTimeout, GRUB counts BootAttempts (3) boots and
#      then boots v1, and moatd there drops v3 and says why;
#   v4's init dies, so the kernel panics (panic=10 reboots it) before moatd could ever run:
#      GRUB's count alone brings v1 back, and moatd there says v4 never reached it.
# Each time /etc and the sandbox's data come through and the sandbox is healthy again.
# Usage: tests/vm/50-rollback.sh IMAGE.qcow2
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

HEALTH_TIMEOUT=25

# --- on the host: the broker's bundle, and v3 and v4 on the stick ------------------------------
STICK=$VMDIR/prep/bundles
if vm_build_bundles "$VMDIR/prep"; then
  ok "the bundles build and sign"
else
  not_ok "the bundles build and sign"
  exit 1
fi
# CHANGE commands for vm_publish_os_update: what each bad update does to the tree.
break_crun() {
  install -d -m 0755 "$1/usr/bin"
  printf '#!/bin/sh\necho "crun: broken by this update" >&2\nexit 1\n' >"$1/usr/bin/crun"
  chmod 0755 "$1/usr/bin/crun"
}
break_init() {
  install -d -m 0755 "$1/usr/lib/systemd"
  printf '#!/bin/sh\necho "init: broken by this update"\nexit 1\n' >"$1/usr/lib/systemd/systemd"
  chmod 0755 "$1/usr/lib/systemd/systemd"
}
V1=$(ostree rev-parse --repo="$VM_BUILD/os/repo" os/x86_64/stable)
stamp=$(date -u +%Y.%m%d.%H%M%S)
if V3=$(vm_publish_os_update "$VM_BUILD/os/repo" "$STICK/os-repo" "$stamp-vm50-v3" break_crun) &&
  V4=$(vm_publish_os_update "$STICK/os-repo" "$STICK/os-repo" "$stamp-vm50-v4" break_init); then
  ok "v3 (crun broken, ${V3:0:12}) and v4 (init broken, ${V4:0:12}) are published over v1"
else
  not_ok "v3 and v4 are published over v1"
  exit 1
fi

# --- v1: the broker, some data, a change to /etc ---------------------------------------------------
vm_boot_with_stick "$STICK"
check "v1 is booted" test "$(os_deployment booted commit)" = "$V1"
guest 'cp /mnt/stick/publisher.pub /etc/moat/keys/bundles.d/' >/dev/null
check "moat install mqtt.moatb (Required=yes)" quietly guest 'moat install /mnt/stick/mqtt.moatb' 120
mqtt_healthy() { [ "$(guest 'moat list --json' 30 | json_get sandboxes.mqtt.health)" = healthy ]; }
check "mqtt is healthy" vm_wait_for 180 mqtt_healthy
MARK=/var/lib/moat/sandboxes/mqtt/data/vm50-mark
guest "echo kept > $MARK; echo kept > /etc/moat/vm50-etc" >/dev/null
guest "sed -i 's/^HealthTimeout=.*/HealthTimeout=$HEALTH_TIMEOUT/' /etc/moat/moat.conf" >/dev/null
check "moat.conf says BootAttempts=3, HealthTimeout=$HEALTH_TIMEOUT" \
  test "$(guest 'grep -E "^(BootAttempts|HealthTimeout)=" /etc/moat/moat.conf' | tr '\n' ' ')" = \
  "BootAttempts=3 HealthTimeout=$HEALTH_TIMEOUT "
check "this boot is normal (moat boot-check)" \
  test "$(guest 'moat boot-check --json' 60 | json_get state)" = normal
guest 'ln -sfn /mnt/stick/os-repo /var/lib/moat/os-updates' >/dev/null

# restored_from BAD: see vm_rollback_from (lib.sh); v1 is the good one.
restored_from() { vm_rollback_from "$V1" "$1"; }
# after_rollback BAD NAME: what must hold once v1 is back (the stick mounted again: it does not
# come back by itself after the reboots).
after_rollback() {
  vm_mount_stick >/dev/null
  check "$2 is not deployed any more (ostree admin status)" \
    guest "! ostree admin status | grep -q $1"
  check "v1 is the default again" test "$(guest 'moat status --json' 30 | json_get os.deployments |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["commit"])')" = "$V1"
  check "nothing is on trial (moat boot-check)" \
    test "$(guest 'moat boot-check --json' 60 | json_get state)" = normal
  check "the change to /etc survived" test "$(guest 'cat /etc/moat/vm50-etc')" = kept
  check "mqtt's data survived" test "$(guest "cat $MARK")" = kept
  check "mqtt is healthy again on v1" vm_wait_for 180 mqtt_healthy
}

# --- 2. v3: the required sandbox never becomes healthy ---------------------------------------------
check "moat deploy v3" quietly guest "moat deploy $V3" 600
json=$(guest 'moat boot-check --json' 60)
check "v3 waits on trial: attempt 1 of 3 next" \
  test "$(json_get deployment <<<"$json" | cut -d. -f1) $(json_get attempt <<<"$json")/$(json_get attempts <<<"$json")" = "$V3 1/3"
if restored_from "$V3"; then
  ok "after 3 failed boots of v3, v1 is booted again with no input ($RESTORED_SECONDS s from the reboot)"
else
  not_ok "after 3 failed boots of v3, v1 is booted again with no input"
  exit 1
fi
failed_boots=$(guest "grep -c '\"event\":\"boot-failed\",\"from\":null,\"to\":\"$V3\"' /var/lib/moat/events.log" 30)
check "moatd recorded 3 failed attempts at v3 (got $failed_boots)" test "$failed_boots" = 3
out=$(guest 'moat status' 60)
printf '%s\n' "$out" | grep -E 'last failed update' | sed 's/^/# /'
check "moat status reports v3 as failed" grep -q "last failed update.*${V3:0:12}.*vm50-v3 failed" <<<"$out"
check "... with the reason: mqtt not healthy within $HEALTH_TIMEOUT s" \
  grep -q "attempt 3 of 3: not healthy within $HEALTH_TIMEOUT s: mqtt is" <<<"$out"
after_rollback "$V3" v3

# --- 3. v4: the kernel never reaches userspace -----------------------------------------------------
check "moat upgrade deploys v4" quietly guest 'moat upgrade' 600
check "v4 is pending" test "$(os_deployment pending commit)" = "$V4"
panics_before=$(grep -c 'Kernel panic - not syncing' "$SERIAL_LOG" || true)
if restored_from "$V4"; then
  ok "after v4's boots panic, v1 is booted again with no input ($RESTORED_SECONDS s from the reboot)"
else
  not_ok "after v4's boots panic, v1 is booted again with no input"
  exit 1
fi
panics=$(($(grep -c 'Kernel panic - not syncing' "$SERIAL_LOG") - panics_before))
check "the kernel panicked 3 times (serial console: $panics)" test "$panics" = 3
out=$(guest 'moat status' 60)
printf '%s\n' "$out" | grep -E 'last failed update' | sed 's/^/# /'
check "moat status reports v4 as failed: it never reached moatd" \
  grep -q "last failed update.*${V4:0:12}.*vm50-v4 failed: it never came up far enough to start moatd in 3 boots" <<<"$out"
after_rollback "$V4" v4

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
