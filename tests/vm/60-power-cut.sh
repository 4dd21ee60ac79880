#!/bin/bash
# Power cuts during an OS upgrade: at each of several points of `moat upgrade` (fetching the
# commit, pulling the tree, pulled, deploying, deployed) the guest is reset at once, without
# syncing or unmounting anything (sysrq b: what a power cut leaves on the disk; the virtual
# disk keeps what had reached it, as a real one does), and once by killing QEMU itself during
# the first boot of the new deployment. Each time the next boot must come up on a valid
# deployment with /var whole; cuts before the boot menu is swapped leave v1 running with
# nothing pending, a cut after it runs v2 on trial, and in the end v2 is called good.
# Usage: tests/vm/60-power-cut.sh IMAGE.qcow2
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

# --- on the host: v2, with 96 MiB more to pull so that a cut can land inside the pull ---------
STICK=$VMDIR/prep/stick
mkdir -p "$STICK"
add_blob() {
  install -d -m 0755 "$1/usr/share" "$1/usr/share/moat-vm60"
  head -c 96M /dev/urandom >"$1/usr/share/moat-vm60/blob"
}
V1=$(ostree rev-parse --repo="$VM_BUILD/os/repo" os/x86_64/stable)
if V2=$(vm_publish_os_update "$VM_BUILD/os/repo" "$STICK/os-repo" \
  "$(date -u +%Y.%m%d.%H%M%S)-vm60" add_blob); then
  ok "v2 (${V2:0:12}, 96 MiB more) is published over v1 (${V1:0:12})"
else
  not_ok "v2 is published over v1"
  exit 1
fi
cat >"$STICK/cut.sh" <<'CUT'
# cut.sh MARKER N DELAY: run moat upgrade; DELAY s after MARKER shows N times, reset at once.
moat upgrade >/run/up.log 2>&1 &
while [ "$(grep -c "$1" /run/up.log)" -lt "$2" ]; do sleep 0.05; done
sleep "$3"
echo "vm60 cut: $(tail -n 1 /run/up.log)" >/dev/kmsg
echo b >/proc/sysrq-trigger
CUT
vm_boot_with_stick "$STICK"
MARK=/var/lib/moat/vm60-mark
guest "head -c 4096 /dev/urandom | base64 > $MARK; sync" >/dev/null
mark=$(guest "sha256sum < $MARK")
guest 'echo kept > /etc/moat/vm60-etc; sync' >/dev/null
# The test drives the upgrades; one started by the timer would race them.
guest 'systemctl stop moat-upgrade.timer; ln -sfn /mnt/stick/os-repo /var/lib/moat/os-updates' >/dev/null

booted_commit() { ostree_booted | cut -d. -f1; }

# after_cut WHAT: the guest comes back by itself; it must boot a valid deployment, /var whole.
after_cut() {
  local deadline=$(($(date +%s) + 120))
  while guest true 3 >/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 1
  done
  VM_STARTED=$(date +%s.%N)
  if vm_wait_booted 600; then
    ok "$1: the next boot comes up (systemd: $VM_STATE, ${BOOT_SECONDS} s)"
  else
    not_ok "$1: the next boot comes up"
    exit 1
  fi
  vm_mount_stick >/dev/null
  guest 'systemctl stop moat-upgrade.timer' >/dev/null
  check "$1: /var is whole (a file written before the upgrade)" \
    test "$(guest "sha256sum < $MARK")" = "$mark"
  check "$1: /etc kept its change" test "$(guest 'cat /etc/moat/vm60-etc')" = kept
}

# cut_at MARKER [N] [DELAY]: start `moat upgrade` in the guest and reset the guest DELAY seconds
# after its progress output shows MARKER for the Nth time (the stick's cut.sh).
cut_at() {
  guest "systemd-run --quiet --unit=moat-vm60-cut sh /mnt/stick/cut.sh '$1' ${2:-1} ${3:-0}" >/dev/null
}

# --- cuts before the boot menu is swapped: v1 stays the only deployment ---------------------------
n_cut=0
for point in "checking:1:0:while the commit is fetched" "received:1:0.5:while the tree is pulled" \
  "received:2:0:once the pull is done" "deploying:1:0:as the deployment starts" \
  "deploying:1:1:during the deployment"; do
  IFS=: read -r marker count delay what <<<"$point"
  n_cut=$((n_cut + 1))
  cut_at "$marker" "$count" "$delay"
  after_cut "cut $n_cut, $what"
  booted=$(booted_commit)
  if [ "$booted" = "$V1" ]; then
    check "cut $n_cut: v1 runs and nothing is pending" test -z "$(os_deployment pending commit)"
  else
    # The cut came after the menu was swapped: v2 runs on trial. Back to v1 for the next cut.
    check "cut $n_cut: v2 runs (the cut came after the swap)" test "$booted" = "$V2"
    guest 'moat rollback' 120 >/dev/null || true
    vm_reboot 600 >/dev/null || { not_ok "back to v1"; exit 1; }
    guest 'systemctl stop moat-upgrade.timer' >/dev/null
    vm_mount_stick >/dev/null
  fi
done

# --- a cut once v2 is deployed, then QEMU killed during v2's first boot: the trial goes on ------
# The kill must land inside v2's first boot, after GRUB has counted it: wait for GRUB to start
# it (the upgrade before the reset takes a varying time), then give the kernel a few seconds.
boots_started() { grep -a -c 'Booting `' "$SERIAL_LOG" || true; }
grub_started_another() { [ "$(boots_started)" -gt "$boots" ]; }
boots=$(boots_started)
cut_at "on trial" 1 0
if vm_wait_for 600 grub_started_another; then
  sleep 10
  vm_power_cut
  ok "cut 6 once v2 is deployed, then QEMU killed 10 s after GRUB started the boot that followed"
else
  not_ok "cut 6: the guest reset after the upgrade and GRUB started another boot"
  exit 1
fi
vm_power_on "${VM_STICK[@]}"
vm_wait_booted 600 || { not_ok "after QEMU was killed: boots"; exit 1; }
ok "after QEMU was killed: the next boot comes up (systemd: $VM_STATE, ${BOOT_SECONDS} s)"
check "v2 runs" test "$(booted_commit)" = "$V2"
good() { guest "grep -q '\"event\":\"boot-good\",\"from\":null,\"to\":\"$V2\".*attempt 2 of 3' /var/lib/moat/events.log" 30; }
# A ceiling, not a measure: on a loaded machine the sandboxes can take minutes to be healthy.
if vm_wait_for 300 good; then
  ok "moatd calls v2 good on attempt 2 of 3: GRUB counted the boot that was cut"
else
  not_ok "moatd calls v2 good on attempt 2 of 3: GRUB counted the boot that was cut"
  guest 'journalctl -b -o cat -u moatd | tail -n 20' 30 | sed 's/^/# moatd: /'
fi
check "/var is whole" test "$(guest "sha256sum < $MARK")" = "$mark"
check "/etc kept its change" test "$(guest 'cat /etc/moat/vm60-etc')" = kept
check "v1 is the rollback" test "$(os_deployment rollback commit)" = "$V1"
diag "where each cut came (the guest's kernel log): $(grep -a 'vm60 cut:' "$SERIAL_LOG" | sed 's/.*vm60 cut: //' | tr '\n' '|')"

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
