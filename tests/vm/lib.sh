# Shared by the VM tests: boot the built image in QEMU (software emulation) from a qcow2
# overlay, so the image itself is never written, and run commands in the guest over a
# virtio-serial port that the image's moat-test-shell.service serves with a root shell.
# Serial console output goes to a log file, kept (and named) when a test fails.
# shellcheck shell=bash
set -euo pipefail

IMAGE=$(realpath "${1:?usage: $0 IMAGE.qcow2}")
VMDIR=$(mktemp -d /tmp/moat-vm.XXXXXX)
SERIAL_LOG=$VMDIR/serial.log
VM_PID=
# Set by vm_wait_booted.
VM_STATE=
BOOT_SECONDS=
n=0
failures=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $*"; }
diag() { echo "# $*"; }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}

cleanup() {
  vm_kill
  if [ "$failures" -eq 0 ]; then
    rm -rf "$VMDIR"
  else
    rm -f "$VMDIR"/disk.qcow2
    echo "# serial console log kept: $SERIAL_LOG"
  fi
}
trap cleanup EXIT

# vm_start: boot a fresh overlay of IMAGE. Returns at once; see vm_wait_booted.
vm_start() {
  qemu-img create -q -f qcow2 -F qcow2 -b "$IMAGE" "$VMDIR/disk.qcow2"
  rm -f "$VMDIR/ch.in" "$VMDIR/ch.out"
  mkfifo "$VMDIR/ch.in" "$VMDIR/ch.out"
  VM_STARTED=$(date +%s.%N)
  qemu-system-x86_64 -accel tcg -smp 2 -m 1024 -nic none -nographic -monitor none \
    -serial "file:$SERIAL_LOG" \
    -drive "file=$VMDIR/disk.qcow2,if=virtio,format=qcow2" \
    -chardev "pipe,id=test,path=$VMDIR/ch" -device virtio-serial-pci \
    -device virtserialport,chardev=test,name=org.moat.test-shell \
    </dev/null >>"$VMDIR/qemu.log" 2>&1 &
  VM_PID=$!
  # Read-write opens of a FIFO never block, whether or not QEMU has opened its end yet.
  exec {TO_GUEST}<>"$VMDIR/ch.in" {FROM_GUEST}<>"$VMDIR/ch.out"
}

vm_kill() {
  [ -n "$VM_PID" ] || return 0
  kill "$VM_PID" 2>/dev/null || true
  wait "$VM_PID" 2>/dev/null || true
  VM_PID=
}

# guest COMMAND [TIMEOUT]: run COMMAND (a shell string) as root in the guest; print its output
# (stdout and stderr) and return its exit status, or 124 when no answer came in TIMEOUT seconds.
guest() {
  local command=$1 timeout=${2:-120} marker line
  marker="__moat_vm_${RANDOM}${RANDOM}__"
  printf '{ %s\n} </dev/null 2>&1; echo "%s $?"\n' "$command" "$marker" >&"$TO_GUEST"
  while IFS= read -r -t "$timeout" line <&"$FROM_GUEST"; do
    case $line in
      "$marker "*) return "${line#"$marker "}" ;;
      __moat_vm_*) ;; # the answer to an earlier command that timed out
      *) printf '%s\n' "$line" ;;
    esac
  done
  return 124
}

# vm_wait_booted [TIMEOUT]: wait until the guest's shell answers and systemd has finished
# booting (multi-user). Sets VM_STATE to systemd's verdict (running or degraded, or empty when
# the guest never answered) and BOOT_SECONDS to the wall time since vm_start.
vm_wait_booted() {
  local deadline=$(($(date +%s) + ${1:-600}))
  VM_STATE=
  until guest true 5 >/dev/null; do
    if ! kill -0 "$VM_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
      echo "no answer from the guest; serial log: $SERIAL_LOG" >&2
      return 1
    fi
  done
  VM_STATE=$(guest 'systemctl is-system-running --wait' $((deadline - $(date +%s)))) || true
  # shellcheck disable=SC2034 # read by the tests
  BOOT_SECONDS=$(awk -v a="$(date +%s.%N)" -v b="$VM_STARTED" 'BEGIN { printf "%.0f", a - b }')
  [ "$VM_STATE" = running ] || [ "$VM_STATE" = degraded ]
}

# vm_reboot: reboot the guest and wait for it to come back (see vm_wait_booted).
vm_reboot() {
  guest 'systemctl reboot' 10 >/dev/null || true
  # The old shell is gone once the reboot has begun; the new one answers after boot.
  local deadline=$(($(date +%s) + 120))
  while guest true 5 >/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 2
  done
  VM_STARTED=$(date +%s.%N)
  vm_wait_booted "$@"
}
