#!/bin/bash
# Every sandbox gets the confinement floor, whichever backend runs it: the probe program
# reports from inside what it finds, and the test asserts each part of DESIGN.md section 4.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# Device nodes owned by host root, mode 0660 (as a USB serial stick would be): one declared
# rw, one declared ro, one not declared at all.
DEV_RW=/dev/moattest-rw-$$ DEV_RO=/dev/moattest-ro-$$ DEV_NO=/dev/moattest-no-$$
mknod -m 660 "$DEV_RW" c 1 3
mknod -m 660 "$DEV_RO" c 1 5
mknod -m 660 "$DEV_NO" c 1 3
trap 'rm -f "$DEV_RW" "$DEV_RO" "$DEV_NO"; cleanup' EXIT
DEVICE_CHECKS="if echo x > $DEV_RW; then echo device_rw=writable; fi; \
if head -c 4 $DEV_RO | od -An -tx1 | grep -q 00; then echo device_ro=readable; fi; \
if ! (echo x > $DEV_RO) 2>/dev/null; then echo device_ro=not-writable; fi; \
if [ ! -e $DEV_NO ]; then echo device_undeclared=absent; fi"

for backend in crun nspawn; do
  install_sandbox "probe-$backend" <<EOF2
[Sandbox]
Name=probe-$backend
Version=1.0
Backend=$backend
Exec=/bin/sh -c "/usr/bin/probe; $DEVICE_CHECKS"
Restart=no

[Devices]
Device=$DEV_RW rw
Device=$DEV_RO ro

[Resources]
Memory=64M
Pids=32
EOF2
done
start_moatd --no-start

ended() { case $(state_of "$1") in stopped | failed) return 0 ;; esac; return 1; }
probe_value() { sed -n "s/^$2=//p" "$LOGS/$1.log" | tail -n 1; }

for backend in crun nspawn; do
  name=probe-$backend
  if ! moat start "$name" >/dev/null 2>"$TESTDIR/start.err"; then
    not_ok "$backend: the probe sandbox starts ($(cat "$TESTDIR/start.err"))"
    continue
  fi
  wait_for "$name ends" 60 ended "$name" || true
  diag "$backend probe output:"
  sed 's/^/#   /' "$LOGS/$name.log"
  base=$(field_of "$name" confinement.uid_base)

  check "$backend: seccomp filter is on (Seccomp: 2)" test "$(probe_value "$name" seccomp)" = 2
  check "$backend: no effective capabilities (CapEff 0)" test "$(probe_value "$name" cap_eff)" = 0000000000000000
  check "$backend: no permitted capabilities" test "$(probe_value "$name" cap_prm)" = 0000000000000000
  check "$backend: empty bounding set" test "$(probe_value "$name" cap_bnd)" = 0000000000000000
  check "$backend: no_new_privs is set" test "$(probe_value "$name" no_new_privs)" = 1
  check "$backend: uid 0 inside is host uid $base, 65536 ids" test "$(probe_value "$name" uid_map)" = "0 $base 65536"
  check "$backend: gids mapped the same way" test "$(probe_value "$name" gid_map)" = "0 $base 65536"
  check "$backend: the root is read-only" test "$(probe_value "$name" root_readonly)" = yes
  check "$backend: /data is writable" test "$(probe_value "$name" data_writable)" = yes
  check "$backend: /data is nosuid" test "$(probe_value "$name" data_nosuid)" = yes
  check "$backend: /tmp is writable and nosuid" test "$(probe_value "$name" tmp_writable)/$(probe_value "$name" tmp_nosuid)" = yes/yes
  check "$backend: /proc/kcore is masked" test "$(probe_value "$name" kcore_masked)" = yes
  check "$backend: /proc/sysrq-trigger is read-only" test "$(probe_value "$name" sysrq_readonly)" = yes
  check "$backend: no network interface but loopback" test "$(probe_value "$name" net_interfaces)" = lo
  check "$backend: a declared rw device can be written" grep -q device_rw=writable "$LOGS/$name.log"
  check "$backend: a declared ro device can be read" grep -q device_ro=readable "$LOGS/$name.log"
  check "$backend: a declared ro device cannot be written" grep -q device_ro=not-writable "$LOGS/$name.log"
  check "$backend: an undeclared device is not there" grep -q device_undeclared=absent "$LOGS/$name.log"
  check "$backend: the sandbox ran to a clean exit" test "$(state_of "$name")" = stopped
  check "$backend: its device access is revoked once it stopped" \
    sh -c "! getfacl -n $DEV_RW 2>/dev/null | grep -q 'user:$base:'"
  check "$backend: data dir on the host belongs to the sandbox's uid range" \
    test "$(stat -c %u:%a "$STATE/sandboxes/$name/data")" = "$base:700"
done

base_crun=$(field_of probe-crun confinement.uid_base)
base_nspawn=$(field_of probe-nspawn confinement.uid_base)
mcs_crun=$(field_of probe-crun confinement.mcs)
mcs_nspawn=$(field_of probe-nspawn confinement.mcs)
check "two sandboxes get different uid ranges ($base_crun, $base_nspawn)" test "$base_crun" != "$base_nspawn"
check "two sandboxes get different MCS pairs ($mcs_crun, $mcs_nspawn)" test "$mcs_crun" != "$mcs_nspawn"
stop_moatd
start_moatd --no-start
check "identities persist across a daemon restart" test "$(field_of probe-crun confinement.uid_base)" = "$base_crun"

# Nodes no manifest can have: a block device (a disk holds the host's files) and kernel memory.
DEV_BLK=/dev/moattest-blk-$$ DEV_MEM=/dev/moattest-mem-$$
mknod -m 660 "$DEV_BLK" b 7 250
mknod -m 600 "$DEV_MEM" c 1 1
trap 'rm -f "$DEV_RW" "$DEV_RO" "$DEV_NO" "$DEV_BLK" "$DEV_MEM"; cleanup' EXIT
for node in "$DEV_BLK" "$DEV_MEM"; do
  name=greedy-$(basename "$node" | cut -d- -f2)
  install_sandbox "$name" <<EOF2
[Sandbox]
Name=$name
Version=1.0
Exec=/bin/true
Restart=no

[Devices]
Device=$node rw
EOF2
  err=$(moat start "$name" 2>&1 || true)
  diag "$name: $err"
  check "a manifest asking for $(basename "$node") is refused at start" \
    grep -Eq 'block device|kernel memory' <<<"$err"
  check "... and no ACL was left on it" sh -c "! getfacl -n $node 2>/dev/null | grep -q '^user:[0-9]'"
done

# moat-init's --exec-label (nspawn health checks under SELinux) takes only a plain label; a bad
# one ends it with 127 before anything runs.
for label in '' 'system_u:system_r:moat_sandbox_t:s0 c1' "$(printf 'x%.0s' $(seq 256))"; do
  rc=0
  err=$("$BUILD/moat-init" --seccomp /nonexistent --exec-label "$label" -- \
    /bin/touch "$TESTDIR/ran" 2>&1) || rc=$?
  check "moat-init refuses --exec-label '${label:0:40}' (exit $rc: ${err%%$'\n'*})" \
    test "$rc" = 127 -a ! -e "$TESTDIR/ran" -a "${err#moat-init: --exec-label}" != "$err"
done

# moat-init's --net (networked nspawn sandboxes) takes an interface name as moatd makes them and
# two IPv4 addresses; anything else ends it with 127 before anything runs.
for net in 'eth0;x 10.89.0.2 10.89.0.1' 'ms-0 10.89.0.300 10.89.0.1' 'ms-0 10.89.0.2' \
  'ms-abcdefghijklmn 10.89.0.2 10.89.0.1'; do
  rc=0
  read -ra words <<<"$net"
  err=$("$BUILD/moat-init" --seccomp /nonexistent --net "${words[@]}" -- \
    /bin/touch "$TESTDIR/ran" 2>&1) || rc=$?
  check "moat-init refuses --net $net (exit $rc: ${err%%$'\n'*})" \
    test "$rc" = 127 -a ! -e "$TESTDIR/ran" -a "${err#moat-init: --net}" != "$err"
done
