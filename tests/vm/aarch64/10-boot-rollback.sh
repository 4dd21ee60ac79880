#!/bin/bash
# The arm64 image under QEMU's virt machine, booted the way a Raspberry Pi 4 boots it: U-Boot
# (u-boot-qemu here, u-boot-rpi on the Pi) runs the image's boot.scr from the FAT partition,
# which boots the deployment OSTree names in loader/uEnv.txt. Then automatic rollback on this
# path (tests/vm/50-rollback.sh's scenario 2): v3 breaks the sandbox runtime, so the required
# sandbox never becomes healthy; moatd fails each boot of v3, the boot script counts the boots
# in moat/bootenv on the FAT partition (BootAttempts, 3 by default), then boots v1, and moatd
# there drops v3 and says why.
# Usage: tests/vm/aarch64/10-boot-rollback.sh IMAGE.qcow2 (build/image/moat-aarch64.qcow2)
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/../lib.sh"

HEALTH_TIMEOUT=25
ATTEMPTS=3

# --- on the host: a required sandbox for arm64, and v3 on the stick --------------------------
STICK=$VMDIR/prep/stick
WORK=$VMDIR/prep/work
mkdir -p "$STICK" "$WORK/keeper/rootfs/usr/bin"
# The sandbox: one static arm64 program that waits forever, and is its own health check (with
# an argument it exits 0 at once).
prepare() {
  local root=$WORK/keeper/rootfs
  mkdir -p "$root"/{proc,sys,dev,tmp,data,run,etc,root,var}
  printf '#include <unistd.h>\nint main(int argc, char **argv) { (void)argv; if (argc > 1) return 0; for (;;) pause(); }\n' |
    aarch64-linux-gnu-gcc -static -O2 -x c -o "$root/usr/bin/keeper" - || return 1
  printf 'ID=moat-test\nNAME="Moat test sandbox"\n' >"$root/etc/os-release"
  cat >"$WORK/keeper/manifest" <<'MANIFEST'
# The required sandbox of tests/vm/aarch64/10-boot-rollback.sh.
[Sandbox]
Name=keeper
Version=1.0
Exec=/usr/bin/keeper
Required=yes

[Health]
Command=/usr/bin/keeper check
Interval=5s
MANIFEST
  "$VM_BUILD/moat-bundle" keygen "$WORK/publisher.key" "$STICK/publisher.pub" &&
    "$VM_BUILD/moat-bundle" build --repo "$WORK/bundle-repo" --key "$WORK/publisher.key" \
      --arch aarch64 --output "$STICK/keeper.moatb" "$WORK/keeper"
}
if quietly prepare; then
  ok "a Required=yes sandbox for arm64 builds and signs"
else
  not_ok "a Required=yes sandbox for arm64 builds and signs"
  exit 1
fi
break_crun() {
  install -d -m 0755 "$1/usr/bin"
  printf '#!/bin/sh\necho "crun: broken by this update" >&2\nexit 1\n' >"$1/usr/bin/crun"
  chmod 0755 "$1/usr/bin/crun"
}
V1=$(ostree rev-parse --repo="$VM_BUILD/os/repo" os/aarch64/stable)
if V3=$(vm_publish_os_update "$VM_BUILD/os/repo" "$STICK/os-repo" "$(date -u +%Y.%m%d.%H%M%S)-arm-v3" break_crun); then
  ok "v3 (crun broken, ${V3:0:12}) is published over v1 (${V1:0:12}) on os/aarch64/stable"
else
  not_ok "v3 is published over v1 on os/aarch64/stable"
  exit 1
fi

# --- v1 boots through U-Boot and boot.scr ----------------------------------------------------
vm_boot_with_stick "$STICK" 900
check "U-Boot ran the image's boot.scr (serial console)" grep -q 'Found U-Boot script /boot.scr' "$SERIAL_LOG"
check "the kernel is arm64" test "$(guest 'uname -m')" = aarch64
check "moatd is active" test "$(guest 'systemctl is-active moatd')" = active
# shellcheck disable=SC2016 # expanded in the guest
check "SELinux is enforcing, moatd in moatd_t" test "$(guest 'echo "$(cat /sys/fs/selinux/enforce)" \
  "$(cut -d: -f3 "/proc/$(systemctl show -P MainPID moatd)/attr/current")"')" = "1 moatd_t"
check "v1 is booted (moat status)" test "$(os_deployment booted commit)" = "$V1"
check "ostree admin status agrees" test "$(ostree_booted | cut -d. -f1)" = "$V1"
check "OSTree writes U-Boot's loader/uEnv.txt, which names this deployment's kernel" \
  guest 'grep -Eq "^kernel_image=(/boot)?/ostree/moat-" /boot/loader/uEnv.txt &&
    grep -q "^bootargs=.*ostree=/ostree/boot" /boot/loader/uEnv.txt'
# / is immutable (chattr +i, as OSTree leaves a deployment), /sysroot a read-only mount.
check "/ and /usr are read-only, /sysroot is mounted read-only, /etc and /var writable" \
  guest '! touch /.w 2>/dev/null && ! touch /usr/.w 2>/dev/null && findmnt -no OPTIONS /sysroot | grep -qw ro &&
    touch /etc/.w /var/.w && rm /etc/.w /var/.w'
check "the FAT partition is mounted at /boot/firmware, with the boot counter" \
  guest 'findmnt -n -o FSTYPE /boot/firmware | grep -qx vfat && test -f /boot/firmware/moat/bootenv'
check "this boot is normal (moat boot-check)" \
  test "$(guest 'moat boot-check --json' 60 | json_get state)" = normal

guest 'cp /mnt/stick/publisher.pub /etc/moat/keys/bundles.d/' >/dev/null
check "moat install keeper.moatb (Required=yes)" quietly guest 'moat install /mnt/stick/keeper.moatb' 180
keeper_healthy() { [ "$(guest 'moat list --json' 30 | json_get sandboxes.keeper.health)" = healthy ]; }
if vm_wait_for 180 keeper_healthy; then
  ok "keeper is healthy"
else
  not_ok "keeper is healthy"
  guest 'moat status keeper; journalctl -b -u moatd --no-pager | tail -n 15' 60 | sed 's/^/# /'
  exit 1
fi
guest "echo kept > /etc/moat/arm-etc" >/dev/null
guest "sed -i 's/^HealthTimeout=.*/HealthTimeout=$HEALTH_TIMEOUT/' /etc/moat/moat.conf" >/dev/null
check "moat.conf says BootAttempts=$ATTEMPTS (the default), HealthTimeout=$HEALTH_TIMEOUT" \
  test "$(guest 'grep -E "^(BootAttempts|HealthTimeout)=" /etc/moat/moat.conf' | tr '\n' ' ')" = \
  "BootAttempts=$ATTEMPTS HealthTimeout=$HEALTH_TIMEOUT "
guest 'ln -sfn /mnt/stick/os-repo /var/lib/moat/os-updates' >/dev/null

# --- v3: the required sandbox never becomes healthy --------------------------------------------
check "moat upgrade stages v3" quietly guest 'moat upgrade' 900
check "v3 is pending" test "$(os_deployment pending commit)" = "$V3"
bootenv=$(guest 'cat /boot/firmware/moat/bootenv')
check "v3 is on trial in moat/bootenv: $ATTEMPTS boots" test "$bootenv" = \
  "$(printf 'moat_boot_attempts=%s\nmoat_boots_left=%s\nmoat_trial=%s' "$ATTEMPTS" "$ATTEMPTS" "$(guest 'moat boot-check --json' 60 | json_get deployment)")"
trials_before=$(grep -c 'Moat: trial boot of' "$SERIAL_LOG" || true)
if vm_rollback_from "$V1" "$V3"; then
  ok "after $ATTEMPTS failed boots of v3, v1 is booted again with no input ($RESTORED_SECONDS s from the reboot)"
else
  not_ok "after $ATTEMPTS failed boots of v3, v1 is booted again with no input"
  exit 1
fi
trials=$(($(grep -c 'Moat: trial boot of' "$SERIAL_LOG") - trials_before))
check "boot.scr counted $ATTEMPTS trial boots of v3 (serial console: $trials)" test "$trials" = "$ATTEMPTS"
check "... then booted the deployment before it" grep -q 'used up its boots; booting the deployment before it' "$SERIAL_LOG"
out=$(guest 'moat status' 60)
printf '%s\n' "$out" | grep -E 'last failed update' | sed 's/^/# /'
check "moat status reports v3 as failed" grep -q "last failed update.*${V3:0:12}.*arm-v3 failed" <<<"$out"
check "... with the reason: keeper not healthy within $HEALTH_TIMEOUT s" \
  grep -q "attempt $ATTEMPTS of $ATTEMPTS: not healthy within $HEALTH_TIMEOUT s: keeper is" <<<"$out"
check "v3 is not deployed any more (ostree admin status)" guest "! ostree admin status | grep -q $V3"
check "nothing is on trial: moat/bootenv has no moat_trial" guest '! grep -q moat_trial /boot/firmware/moat/bootenv'
check "the change to /etc survived" test "$(guest 'cat /etc/moat/arm-etc')" = kept
check "keeper is healthy again on v1" vm_wait_for 180 keeper_healthy

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
