# Shared by the VM tests: boot the built image in QEMU (software emulation) from a qcow2
# overlay, so the image itself is never written, and run commands in the guest over a
# virtio-serial port that the image's moat-test-shell.service serves with a root shell.
# Serial console output goes to a log file, kept (and named) when a test fails.
# shellcheck shell=bash
set -euo pipefail

IMAGE=$(realpath "${1:?usage: $0 IMAGE.qcow2}")
# The guest's architecture: from the image's name (build/image/moat-ARCH.qcow2) unless given.
case ${VM_ARCH:=$(basename "$IMAGE")} in
  *aarch64*) VM_ARCH=aarch64 ;;
  *) VM_ARCH=x86_64 ;;
esac
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

# vm_start [QEMU_ARG...]: boot a fresh overlay of IMAGE, with any extra QEMU arguments (a second
# disk, see vm_stick_args). Returns at once; see vm_wait_booted.
# shellcheck disable=SC2120 # the extra arguments are optional
vm_start() {
  # VM_DISK_SIZE (e.g. 6G): a disk larger than the image, as a bigger card would be.
  qemu-img create -q -f qcow2 -F qcow2 -b "$IMAGE" "$VMDIR/disk.qcow2" ${VM_DISK_SIZE:+"$VM_DISK_SIZE"}
  vm_power_on "$@"
}

# vm_power_on [QEMU_ARG...]: boot the overlay as it is (after vm_power_cut, say).
# shellcheck disable=SC2120 # the extra arguments are optional
vm_power_on() {
  rm -f "$VMDIR/ch.in" "$VMDIR/ch.out"
  mkfifo "$VMDIR/ch.in" "$VMDIR/ch.out"
  local machine
  case $VM_ARCH in
    # Debian's U-Boot for QEMU stands in for the Pi's firmware and U-Boot: it runs the image's
    # boot.scr from the FAT partition as the Pi's would.
    aarch64) machine=(qemu-system-aarch64 -M virt -cpu cortex-a57 -bios /usr/lib/u-boot/qemu_arm64/u-boot.bin) ;;
    *) machine=(qemu-system-x86_64) ;;
  esac
  VM_STARTED=$(date +%s.%N)
  "${machine[@]}" -accel tcg -smp 2 -m 1024 -nic none -nographic -monitor none \
    -chardev "file,id=console,path=$SERIAL_LOG,append=on" -serial chardev:console \
    -drive "file=$VMDIR/disk.qcow2,if=virtio,format=qcow2" \
    -chardev "pipe,id=test,path=$VMDIR/ch" -device virtio-serial-pci \
    -device virtserialport,chardev=test,name=org.moat.test-shell "$@" \
    </dev/null >>"$VMDIR/qemu.log" 2>&1 &
  VM_PID=$!
  # Read-write opens of a FIFO never block, whether or not QEMU has opened its end yet.
  exec {TO_GUEST}<>"$VMDIR/ch.in" {FROM_GUEST}<>"$VMDIR/ch.out"
}

# vm_power_cut: pull the plug: QEMU is killed at once, and whatever the guest had not yet
# written to its disk is lost.
vm_power_cut() {
  [ -n "$VM_PID" ] || return 0
  kill -KILL "$VM_PID" 2>/dev/null || true
  wait "$VM_PID" 2>/dev/null || true
  VM_PID=
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

# --- helpers for the sandbox and update tests (30-sandboxes, 40-upgrade, tests/demo-vm) ------

VM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_BUILD=${BUILD:-$VM_REPO/build}
case $VM_BUILD in /*) ;; *) VM_BUILD=$VM_REPO/$VM_BUILD ;; esac

# quietly COMMAND...: COMMAND without its output (for check: a guest command's own output must not
# mix with the TAP lines); when COMMAND fails, its last lines become diagnostics.
quietly() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || tail -n 5 <<<"$out" | sed "s/^/# exit $rc: /"
  return "$rc"
}

# vm_elapsed: whole seconds since vm_start (or since the last reboot began).
vm_elapsed() { awk -v a="$(date +%s.%N)" -v b="$VM_STARTED" 'BEGIN { printf "%.0f", a - b }'; }

# vm_wait_for SECONDS COMMAND...: poll COMMAND (on the host, e.g. a guest query) every 2 s until
# it succeeds; 1 when SECONDS pass first.
vm_wait_for() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 2
  done
}

# json_get PATH: from the JSON on stdin, the value at PATH (dots between keys; a list is
# searched by "name", so sandboxes.mqtt.health works); empty when missing.
json_get() {
  /usr/bin/python3 -c '
import json, sys
try:
    v = json.load(sys.stdin)
    for k in sys.argv[1].split("."):
        if isinstance(v, list):
            v = next(x for x in v if x.get("name") == k)
        else:
            v = v[k]
except Exception:
    v = ""
print(json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v))' "$1"
}

# sandbox_field NAME PATH: one field of `moat status NAME --json` in the guest.
sandbox_field() { guest "moat status $1 --json" 30 | json_get "$2"; }

# vm_make_disk DIR FILE: an ext4 file system image FILE holding DIR's files, made without
# mounting anything (mkfs.ext4 -d), for a guest to mount as a USB stick would be.
vm_make_disk() {
  local mib
  mib=$(($(du -sm "$1" | cut -f1) * 12 / 10 + 16))
  mkfs.ext4 -q -F -L moat-stick -E root_owner=0:0 -d "$1" "$2" "${mib}M" >/dev/null
}

# vm_stick_args FILE: the QEMU arguments that attach FILE read-only as the guest's /dev/vdb.
vm_stick_args() { printf '%s\n' -drive "file=$1,if=virtio,format=raw,readonly=on"; }

# vm_boot_with_stick DIR [TIMEOUT]: write DIR's files as the stick (vm_make_disk), boot a fresh
# overlay of IMAGE with it attached (its QEMU arguments stay in VM_STICK, for vm_power_on), wait
# for multi-user (default 600 s) and mount the stick at /mnt/stick. Reports each step; ends the
# test when the guest does not boot.
VM_STICK=()
vm_boot_with_stick() {
  check "the stick is written" vm_make_disk "$1" "$VMDIR/stick.img"
  mapfile -t VM_STICK < <(vm_stick_args "$VMDIR/stick.img")
  vm_start "${VM_STICK[@]}"
  vm_wait_booted "${2:-600}" || { not_ok "boots to multi-user"; exit 1; }
  ok "boots to multi-user (systemd: $VM_STATE, ${BOOT_SECONDS} s)"
  vm_mount_stick >/dev/null
}

# vm_mount_stick: mount the stick (/dev/vdb) read-only at /mnt/stick in the guest.
vm_mount_stick() { guest 'mkdir -p /mnt/stick && { findmnt -n /mnt/stick >/dev/null || mount -o ro,noload /dev/vdb /mnt/stick; }'; }

# vm_build_bundles DIR: sign the example bundles mqtt and sensorlog (sandboxes/build) and the
# test bundles of tests/vm/bundles/ with a new publisher key, into DIR/bundles/*.moatb and
# DIR/bundles/publisher.pub. Logs in DIR/bundles.log; fails when one does not build.
vm_build_bundles() {
  local dir=$1 work=$1/work name
  mkdir -p "$dir/bundles" "$work"
  "$VM_REPO/sandboxes/build" "$work" >"$dir/bundles.log" 2>&1 || return 1
  "$VM_BUILD/moat-bundle" keygen "$work/publisher.key" "$dir/bundles/publisher.pub" \
    >>"$dir/bundles.log" 2>&1 || return 1
  for name in mqtt sensorlog; do
    vm_sign_bundle "$work/sandboxes/$name" "$dir/bundles/$name.moatb" "$work" || return 1
  done
}

# vm_sign_bundle DIR OUT WORK: build DIR (manifest and rootfs/) into the signed bundle OUT with
# WORK's publisher key (made by vm_build_bundles).
vm_sign_bundle() {
  "$VM_BUILD/moat-bundle" build --repo "$3/bundle-repo" --key "$3/publisher.key" --output "$2" \
    "$1" >>"$3/../bundles.log" 2>&1
}

# vm_busybox_bundle WORK NAME SCRIPT: a bundle dir WORK/NAME on the tests' busybox root (with
# the static probe and hostile programs) whose /usr/bin/NAME-run is SCRIPT (stdin: the
# manifest). Prints the dir.
vm_busybox_bundle() {
  local dir=$1/$2
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -a "$VM_BUILD/rootfs-busybox" "$dir/rootfs"
  rm -f "$dir/rootfs/.stamp"
  printf '#!/bin/sh\n%s\n' "$3" >"$dir/rootfs/usr/bin/$2-run"
  chmod 0755 "$dir/rootfs/usr/bin/$2-run"
  cat >"$dir/manifest"
  printf '%s\n' "$dir"
}

# os_deployment WHICH FIELD: FIELD (commit, version...) of the OS deployment that
# `moat status --json` marks WHICH (booted, pending or rollback) in the guest.
os_deployment() {
  guest 'moat status --json' 60 | /usr/bin/python3 -c '
import json, sys
try:
    for d in json.load(sys.stdin)["os"]["deployments"]:
        if d.get(sys.argv[1]):
            print(d.get(sys.argv[2]) or "")
            break
except Exception:
    pass' "$1" "$2"
}

# ostree_booted: the booted deployment (CHECKSUM.SERIAL) as `ostree admin status` shows it.
ostree_booted() { guest 'ostree admin status' | awk '$1 == "*" && $2 == "moat" { print $3 }'; }

# vm_publish_os_update SRC DEST VERSION [CHANGE]: DEST, a copy of the published OS repo SRC
# (hard links: OSTree never rewrites an object in place; with SRC = DEST the repo itself),
# gets a new commit VERSION of os/ARCH/stable (the guest's architecture): the current commit
# plus one file, /usr/lib/moat/os-version (holding VERSION), and whatever the command CHANGE
# (given the layer's directory) writes; signed with the build's OS key (OS_KEY, as
# os/image.mk), with a static delta from the commit before and a new signed summary, as
# tree/publish leaves a repo.
# Prints the new commit.
vm_publish_os_update() {
  local src=$1 dest=$2 version=$3 change=${4:-true} ref=os/$VM_ARCH/stable layer old new
  local key=${OS_KEY:-$VM_BUILD/os/keys/os.secret}
  if [ "$src" != "$dest" ]; then
    rm -rf "$dest"
    cp -al "$src" "$dest" || return 1
  fi
  layer=$(mktemp -d "$VMDIR/layer.XXXXXX")
  # The layer's directories become the commit's: they must be the base's (root's, 0755).
  chmod 0755 "$layer"
  install -d -m 0755 "$layer/usr" "$layer/usr/lib" "$layer/usr/lib/moat"
  printf '%s\n' "$version" >"$layer/usr/lib/moat/os-version"
  "$change" "$layer" || return 1
  old=$(ostree rev-parse --repo="$dest" "$ref") || return 1
  new=$(ostree commit --repo="$dest" --branch="$ref" --subject="Moat OS $version ($VM_ARCH)" \
    --add-metadata-string=version="$version" --bootable --tree=ref="$old" \
    --tree=dir="$layer") || return 1
  local dir before
  # A directory the layer shares with the tree must come through as the tree had it.
  for dir in $(cd "$layer" && find . -type d | sed 's|^\.||; s|^$|/|'); do
    before=$(ostree ls --repo="$dest" -d "$old" "$dir" 2>/dev/null) || continue
    [ "$before" = "$(ostree ls --repo="$dest" -d "$new" "$dir")" ] || {
      echo "vm_publish_os_update: $dir differs between the two commits" >&2
      return 1
    }
  done
  rm -rf "$layer"
  {
    "$VM_BUILD/moat-sign" commit "$dest" "$key" "$new" &&
      ostree static-delta generate --repo="$dest" --from="$old" --to="$new" &&
      "$VM_BUILD/moat-sign" summary "$dest" "$key" 30
  } >"$VMDIR/publish.log" 2>&1 || { cat "$VMDIR/publish.log" >&2; return 1; }
  printf '%s\n' "$new"
}

# vm_rolled_back GOOD BAD: GOOD is booted and BAD is the last failed update (moat status).
vm_rolled_back() {
  local json
  json=$(guest 'moat status --json' 20) || return 1
  [ "$(json_get os.last_failed_update.from <<<"$json")" = "$2" ] &&
    [ "$(python3 -c 'import json, sys
print([d["commit"] for d in json.load(sys.stdin)["os"]["deployments"] if d["booted"]][0])' <<<"$json" 2>/dev/null)" = "$1" ]
}

# vm_rollback_from GOOD BAD: reboot into BAD (on trial), then wait (up to 25 min) for the hub
# to come back on GOOD with BAD dropped, with no input but the polling; sets RESTORED_SECONDS.
vm_rollback_from() {
  local started
  started=$(date +%s)
  guest 'systemctl reboot' 10 >/dev/null || true
  sleep 20
  vm_wait_for 1500 vm_rolled_back "$1" "$2" || return 1
  # shellcheck disable=SC2034 # read by the tests
  RESTORED_SECONDS=$(($(date +%s) - started))
}

# vm_serve_updates DIR: serve DIR (an OS repo on the stick) over HTTP on the guest's own
# loopback with the stick's static busybox httpd, and point the remote "moat" at it
# (/etc/ostree/remotes.d/moat.conf, as an owner would). The automatic-update timer is stopped
# first: the test drives the upgrades, and one started by the timer would race them.
vm_serve_updates() {
  guest "systemctl stop moat-upgrade.timer &&
    systemd-run --quiet --unit=moat-test-httpd /mnt/stick/busybox httpd -f -p 127.0.0.1:8080 -h $1 &&
    sed -i 's|^url=.*|url=http://127.0.0.1:8080|' /etc/ostree/remotes.d/moat.conf"
}

# vm_thermostat_sim WORK: the bundle dir of a stand-in for the thermostat integration, for a
# guest that has no USB serial adapter: a busybox sandbox named thermostat (the name the
# broker accepts) that publishes a made-up reading to home/thermostat/reading every 5 s,
# speaking MQTT 3.1.1 over busybox nc (CONNECT, PUBLISH at QoS 0, DISCONNECT). Prints the dir.
vm_thermostat_sim() {
  local script
  script=$(
    cat <<'SCRIPT'
# The broker's address, from the /etc/hosts moatd gives a sandbox with declared peers.
broker=$(awk '$2 == "mqtt" { print $1; exit }' /etc/hosts)
echo "simulated thermostat, publishing to mqtt ($broker) every 5 s"
topic=home/thermostat/reading
n=0
while :; do
  n=$((n + 1))
  t=$((200 + n % 30))
  payload="{\"temperature\":$((t / 10)).$((t % 10)),\"humidity\":40.0,\"setpoint\":21.0,\"time\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
  len=$(printf '\\%03o' $((2 + ${#topic} + ${#payload})))
  tlen=$(printf '\\%03o' ${#topic})
  printf "\020\014\000\004MQTT\004\002\000\074\000\000\060$len\000$tlen%s%s\340\000" \
    "$topic" "$payload" | nc -w 2 "$broker" 1883 >/dev/null || echo "reading $n: broker unreachable"
  sleep 5
done
SCRIPT
  )
  vm_busybox_bundle "$1" thermostat "$script" <<'EOF'
# A stand-in for sandboxes/thermostat in a VM without a serial thermostat (tests/vm/lib.sh).
[Sandbox]
Name=thermostat
Version=0.1
Exec=/usr/bin/thermostat-run
Restart=always

[Network]
Allow=mqtt:1883/tcp

[Resources]
Memory=16M
Pids=16
EOF
}
