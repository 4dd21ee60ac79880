#!/bin/bash
# Sandboxes inside the booted image (issue 5's proof): signed bundles on a "USB stick" (a second,
# read-only disk) are installed with `moat install` on the hub and run under moatd with the
# confinement floor, and in the guest's pure cgroup2 tree the limits are enforced, not only
# written: a sandbox that allocates past Memory= is OOM-killed, a fork bomb stops at Pids=, and
# a device its manifest does not declare cannot be opened from its cgroup, even by root.
# Also: moatd's nftables table has the sandboxes' chains, `moat status` and `ostree admin
# status` agree on the booted commit, and after a reboot everything comes back (timed).
# Usage: tests/vm/30-sandboxes.sh IMAGE.qcow2
# Commands for the guest and awk programs are single-quoted on purpose:
# shellcheck disable=SC2016
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

FOREVER='exec sleep 2147483647'
PROBE_DEVICE=/dev/moatvm-rw # declared rw in the probe's manifest; /dev/null's numbers (1:3)

# --- on the host: the bundles and the stick -------------------------------------------------
if ! vm_build_bundles "$VMDIR/prep"; then
  not_ok "the example bundles build and sign (mqtt, sensorlog)"
  tail -n 20 "$VMDIR/prep/bundles.log" | sed 's/^/# /'
  exit 1
fi
ok "the example bundles build and sign (mqtt, sensorlog)"

# probe: reports the floor from inside (tests/integration/probe.c), then tries its devices.
probe_dir=$(vm_busybox_bundle "$VMDIR/prep/work" probe "/usr/bin/probe
if echo x > $PROBE_DEVICE; then echo device_rw=writable; fi
if [ ! -e /dev/vda ]; then echo device_undeclared=absent; fi
echo probe_done=yes
$FOREVER" <<EOF
[Sandbox]
Name=probe
Version=1.0
Exec=/usr/bin/probe-run
Restart=no

[Devices]
Device=$PROBE_DEVICE rw

[Resources]
Memory=64M
Pids=32
EOF
)
# memhog: doubles a string in awk until the memory limit stops it, then stays up so that its
# cgroup can be read.
memhog_dir=$(vm_busybox_bundle "$VMDIR/prep/work" memhog "echo hog=start
awk 'BEGIN { s = \"0123456789abcdef\"; while (1) { s = s s; print \"hog_bytes=\" length(s) } }'
echo hog_status=\$?
$FOREVER" <<'EOF'
[Sandbox]
Name=memhog
Version=1.0
Exec=/usr/bin/memhog-run
Restart=no

[Resources]
Memory=16M
Pids=16
EOF
)
# forkbomb: starts 64 sleepers in a subshell (which dies when a fork fails), then stays up.
forkbomb_dir=$(vm_busybox_bundle "$VMDIR/prep/work" forkbomb "(
  i=0
  while [ \$i -lt 64 ]; do sleep 2147483647 & i=\$((i + 1)); echo forked=\$i; done
)
echo bomb_status=\$?
$FOREVER" <<'EOF'
[Sandbox]
Name=forkbomb
Version=1.0
Exec=/usr/bin/forkbomb-run
Restart=no

[Resources]
Memory=32M
Pids=8
EOF
)
# mcs: reads two files in its /data every 2 s; the test gives one its own category pair and the
# other a pair no sandbox has, with the same owner and mode (SELinux's MCS, not DAC, decides).
mcs_dir=$(vm_busybox_bundle "$VMDIR/prep/work" mcs "while :; do
  for f in own foreign; do
    if cat /data/\$f >/dev/null 2>&1; then echo \$f=readable; else echo \$f=denied; fi
  done
  sleep 2
done" <<'EOF'
[Sandbox]
Name=mcs
Version=1.0
Exec=/usr/bin/mcs-run
Restart=no
EOF
)
# nsprobe: the probe again, started by systemd-nspawn (and moat-init) instead of crun, with one
# named capability, which it uses: it listens on port 80. Its health check (nsenter and
# moat-init, then the command) writes the label it ran as to /data.
nsprobe_dir=$(vm_busybox_bundle "$VMDIR/prep/work" nsprobe "/usr/bin/probe
nc -l -p 80 2>/tmp/nc.err & sleep 2
if kill \$! 2>/dev/null; then echo bind80=yes; else echo bind80=no: \$(cat /tmp/nc.err); fi
echo probe_done=yes
$FOREVER" <<'EOF'
[Sandbox]
Name=nsprobe
Version=1.0
Exec=/usr/bin/nsprobe-run
Backend=nspawn
Restart=no

[Security]
Capabilities=CAP_NET_BIND_SERVICE

[Health]
Command=/bin/sh -c "cat /proc/self/attr/current >/data/health-label"
Interval=5s
Timeout=5s
EOF
)
for dir in "$probe_dir" "$memhog_dir" "$forkbomb_dir" "$mcs_dir" "$nsprobe_dir"; do
  name=$(basename "$dir")
  check "the test bundle $name builds and signs" \
    vm_sign_bundle "$dir" "$VMDIR/prep/bundles/$name.moatb" "$VMDIR/prep/work"
done
du -b "$VMDIR/prep/bundles"/* | sed 's/^/# stick: /'
check "the stick (ext4 image, made without mounting) is written" \
  vm_make_disk "$VMDIR/prep/bundles" "$VMDIR/stick.img"

# --- boot --------------------------------------------------------------------------------------
mapfile -t stick < <(vm_stick_args "$VMDIR/stick.img")
vm_start "${stick[@]}"
if vm_wait_booted 600; then
  ok "boots to multi-user (systemd: $VM_STATE)"
else
  not_ok "boots to multi-user (systemd: ${VM_STATE:-no answer})"
  exit 1
fi
diag "first boot: multi-user after ${BOOT_SECONDS} s (QEMU start to the end of boot, TCG)"

# --- install from the stick -----------------------------------------------------------------
check "the stick mounts read-only at /mnt/stick" vm_mount_stick
diag "state dirs: $(guest "stat -c '%n %a' /var/lib/moat /var/lib/moat/sandboxes" | tr "\n" " ")"
check "the publisher key goes into /etc/moat/keys/bundles.d" \
  guest 'install -m 0644 /mnt/stick/publisher.pub /etc/moat/keys/bundles.d/vm-publisher.pub'
guest "mknod -m 0660 $PROBE_DEVICE c 1 3" >/dev/null
for name in mqtt sensorlog probe memhog forkbomb mcs nsprobe; do
  out=$(guest "moat install /mnt/stick/$name.moatb" 120) && rc=0 || rc=$?
  if [ "$rc" -eq 0 ]; then
    ok "moat install $name.moatb verifies, deploys and starts it"
  else
    not_ok "moat install $name.moatb verifies, deploys and starts it (exit $rc)"
    printf '%s\n' "$out" | sed 's/^/# /'
  fi
done

list_json() { guest 'moat list --json' 30; }
field() { list_json | json_get "sandboxes.$1.$2"; }
state_is() { [ "$(field "$1" state)" = "$2" ]; }
health_is() { [ "$(field "$1" health)" = "$2" ]; }
for name in mqtt sensorlog; do
  check "$name runs" vm_wait_for 60 state_is "$name" running
  if vm_wait_for 120 health_is "$name" healthy; then
    ok "$name becomes healthy"
  else
    not_ok "$name becomes healthy (health: $(field "$name" health))"
    guest "moat logs $name | tail -n 8" | sed "s/^/# $name: /"
  fi
done
for name in probe memhog forkbomb mcs nsprobe; do
  check "$name runs" vm_wait_for 60 state_is "$name" running
done
guest 'moat list' | sed 's/^/# /'

# --- the floor, seen from inside the probe and from the guest ---------------------------------
logged() { grep -q "$2" <<<"$(guest "moat logs $1" 30)"; }
vm_wait_for 60 logged probe probe_done=yes || true
probe_log=$(guest 'moat logs probe' 30) || true
printf '%s\n' "$probe_log" | sed 's/^/# probe: /'
# log_value LOG KEY: the last KEY=VALUE a probe printed in LOG.
log_value() { printf '%s\n' "$1" | sed -n "s/.*\b$2=//p" | tail -n 1; }
probe_value() { log_value "$probe_log" "$1"; }
pid=$(sandbox_field probe pid) || true
base=$(sandbox_field probe confinement.uid_base) || true
diag "probe: pid $pid in the guest, uid base $base"
status=$(guest "cat /proc/$pid/status") || true
status_of() { printf '%s\n' "$status" | awk -v k="$1:" '$1 == k { print $2 }'; }
check "probe: seccomp filter on (Seccomp 2 inside and in /proc/$pid/status)" \
  test "$(probe_value seccomp)/$(status_of Seccomp)" = 2/2
check "probe: no effective capabilities (CapEff 0 inside and in /proc/$pid/status)" \
  test "$(probe_value cap_eff)/$(status_of CapEff)" = 0000000000000000/0000000000000000
check "probe: empty bounding set and no_new_privs" \
  test "$(status_of CapBnd)/$(status_of NoNewPrivs)" = 0000000000000000/1
uid_map=$(guest "cat /proc/$pid/uid_map" | awk '{ print $1, $2, $3 }') || true
check "probe: uid_map is '0 $base 65536' (inside: '$(probe_value uid_map)', guest: '$uid_map')" \
  test "$(probe_value uid_map)|$uid_map" = "0 $base 65536|0 $base 65536"
check "probe: its root is read-only and /data writable" \
  test "$(probe_value root_readonly)/$(probe_value data_writable)" = yes/yes
check "probe: no network interface but loopback" test "$(probe_value net_interfaces)" = lo
check "probe: its declared device ($PROBE_DEVICE rw) can be written" \
  grep -q device_rw=writable <<<"$probe_log"
check "probe: an undeclared device (/dev/vda) is not there" \
  grep -q device_undeclared=absent <<<"$probe_log"

# --- SELinux: enforcing, each sandbox in moat_sandbox_t at its own category pair -------------
check "SELinux is enforcing" guest 'test "$(cat /sys/fs/selinux/enforce)" = 1'
check "moatd runs in its domain (moatd_t)" \
  guest 'grep -q "^system_u:system_r:moatd_t:s0" \
    "/proc/$(systemctl show -P MainPID moatd)/attr/current"'
labels=()
for name in mqtt sensorlog probe memhog forkbomb mcs nsprobe; do
  want=$(sandbox_field "$name" confinement.selinux.process_label) || true
  p=$(sandbox_field "$name" pid) || true
  # With nspawn the main process is systemd-nspawn itself, and its child nspawn's stub init
  # (both in moatd's domain: nspawn labels only the exec of moat-init); the payload is the
  # stub's child.
  if [ "$name" = nsprobe ]; then
    stub=$(guest "cut -d' ' -f1 /proc/$p/task/$p/children") || true
    p=$(guest "cut -d' ' -f1 /proc/$stub/task/$stub/children") || true
  fi
  have=$(guest "tr -d '\\0' </proc/$p/attr/current; echo") || true
  check "$name: its processes run as $want, as moat status says (/proc: $have)" \
    test -n "$want" -a "$have" = "$want" \
    -a "${want#system_u:system_r:moat_sandbox_t:s0:c}" != "$want"
  labels+=("$want")
done
check "the seven sandboxes have seven different category pairs" \
  test "$(printf '%s\n' "${labels[@]}" | sort -u | wc -l)" = 7
file_label=$(sandbox_field probe confinement.selinux.file_label) || true
check "probe: its /data carries its file label ($file_label)" \
  test "$(guest 'stat -c %C /var/lib/moat/sandboxes/probe/data')" = "$file_label"
# Same owner and mode for both files; only the category pairs differ.
guest 'd=/var/lib/moat/sandboxes/mcs/data && echo x >$d/own && echo x >$d/foreign &&
  chown --reference=$d $d/own $d/foreign && chcon "$(stat -c %C $d)" $d/own &&
  chcon -l s0:c1,c2 $d/foreign' >/dev/null || true
check "mcs: reads a file carrying its own category pair" vm_wait_for 30 logged mcs own=readable
check "mcs: cannot read a file carrying another pair, though its owner and mode allow it" \
  vm_wait_for 30 logged mcs foreign=denied
guest 'moat logs mcs | tail -n 2' | sed 's/^/# mcs: /'
# The nspawn backend under the same policy: the probe's floor from inside, its /data usable.
vm_wait_for 60 logged nsprobe probe_done=yes || true
nsprobe_log=$(guest 'moat logs nsprobe' 30) || true
nsprobe_value() { log_value "$nsprobe_log" "$1"; }
check "nsprobe (systemd-nspawn): Seccomp 2, no_new_privs, CapEff only CAP_NET_BIND_SERVICE" \
  test "$(nsprobe_value seccomp)/$(nsprobe_value no_new_privs)/$(nsprobe_value cap_eff)" \
  = 2/1/0000000000000400
check "nsprobe: its named capability works under enforcing (it listens on port 80)" \
  test "$(nsprobe_value bind80)" = yes
check "nsprobe (systemd-nspawn): its root is read-only and its labelled /data writable" \
  test "$(nsprobe_value root_readonly)/$(nsprobe_value data_writable)" = yes/yes
health_label() {
  guest "tr -d '\\0' </var/lib/moat/sandboxes/nsprobe/data/health-label; echo" 30
}
vm_wait_for 60 health_label >/dev/null || true
check "nsprobe: its health check runs as the sandbox does ($(health_label || true))" \
  test "$(health_label)" = "$(sandbox_field nsprobe confinement.selinux.process_label)"
check "nsprobe: and passes (health: healthy)" test "$(sandbox_field nsprobe health)" = healthy
check "nsprobe: its /data carries its own file label" \
  test "$(guest 'stat -c %C /var/lib/moat/sandboxes/nsprobe/data')" \
  = "$(sandbox_field nsprobe confinement.selinux.file_label)"
denials=$(guest 'journalctl -b -o cat | grep "avc:  denied"') || true
diag "SELinux denials since boot: $(printf '%s' "$denials" | grep -c . || true)"
printf '%s\n' "$denials" | grep . | sed -E 's/.*denied +//; s/ (pid|ino|dev)=[^ ]+//g' |
  sort | uniq -c |
  sed 's/^/# /' || true
check "no SELinux denial involves moatd or a sandbox, but mcs reading the foreign file" \
  test -z "$(printf '%s' "$denials" | grep -E 'moatd_t|moat_init|moat_sandbox|moat_var_lib|moat_runtime' |
    grep -v 'comm="cat" name="foreign"')"

# --- the limits are enforced (pure cgroup2 under systemd in the guest) ------------------------
check "the guest runs a pure cgroup2 tree" guest 'test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs'
# cgroup_of NAME: the sandbox's cgroup directory in the guest.
cgroup_of() {
  local p
  p=$(sandbox_field "$1" pid)
  [ -n "$p" ] && [ "$p" != 0 ] || return 1
  printf '/sys/fs/cgroup%s\n' "$(guest "sed -n 's/^0:://p' /proc/$p/cgroup")"
}
check "moat status reports the limits enforced" test "$(sandbox_field probe limits.enforced)" = True

# Memory: memhog's awk grows past Memory=16M and the kernel's OOM killer stops it.
cg=$(cgroup_of memhog) || cg=
diag "memhog's cgroup: ${cg:-none}"
check "memhog: memory.max is Memory=16M (16777216)" \
  test "$(guest "cat $cg/memory.max")" = 16777216
vm_wait_for 60 logged memhog hog_status= || true
guest 'moat logs memhog' 30 | tail -n 4 | sed 's/^/# memhog: /'
events=$(guest "cat $cg/memory.events") || true
diag "memhog memory.events: $(tr '\n' ' ' <<<"$events")"
check "memhog: memory.events counts an OOM kill" \
  awk '$1 == "oom_kill" && $2 > 0 { found = 1 } END { exit !found }' <<<"$events"
hog_killed() { logged memhog hog_status=137 && state_is memhog running; }
check "memhog: its awk was killed (SIGKILL, status 137) and the sandbox lives on" hog_killed
check "memhog: the kernel logged the OOM kill in the memory cgroup" \
  guest "dmesg | grep -q 'Memory cgroup out of memory: Killed process [0-9]* (awk)'"

# Pids: the fork bomb stops at Pids=8.
cg=$(cgroup_of forkbomb) || cg=
vm_wait_for 60 logged forkbomb bomb_status= || true
forked=$(guest 'moat logs forkbomb' 30 | sed -n 's/.*forked=//p' | tail -n 1) || true
diag "forkbomb: ${forked:-0} of 64 sleepers started; pids.current $(guest "cat $cg/pids.current"); pids.events: $(guest "cat $cg/pids.events")"
check "forkbomb: pids.max is Pids=8" test "$(guest "cat $cg/pids.max")" = 8
check "forkbomb: pids.events counts refused forks" \
  guest "awk '\$1 == \"max\" && \$2 > 0 { f = 1 } END { exit !f }' $cg/pids.events"
check "forkbomb: it got no further than 8 processes (${forked:-0} sleepers)" \
  test "${forked:-99}" -lt 8 -a "$(guest "cat $cg/pids.current")" -le 8

# Devices: root itself, moved into the probe's cgroup, meets its device filter. The guest's own
# disk (/dev/vda) is readable from outside it and refused inside it; the declared node works.
cg=$(cgroup_of probe) || cg=
in_probe_cgroup() { guest "sh -c 'echo \$\$ > $cg/cgroup.procs && exec $1'"; }
check "devices: root reads /dev/vda outside any sandbox" guest 'head -c 512 /dev/vda >/dev/null'
out=$(in_probe_cgroup 'head -c 512 /dev/vda >/dev/null') && rc=0 || rc=$?
diag "in the probe's cgroup: head -c 512 /dev/vda: exit $rc: $out"
check "devices: from the probe's cgroup, the undeclared /dev/vda cannot be opened (EPERM)" \
  test "$rc" -ne 0 -a -n "$(grep 'Operation not permitted' <<<"$out")"
check "devices: from the probe's cgroup, the declared $PROBE_DEVICE can be written" \
  in_probe_cgroup "sh -c 'echo x > $PROBE_DEVICE'"

# --- the firewall and the OS ------------------------------------------------------------------
ruleset=$(guest 'nft list ruleset') || true
check "nftables: moatd's table inet moat is loaded" grep -q '^table inet moat {' <<<"$ruleset"
for name in mqtt sensorlog; do
  check "nftables: $name has its chains (out-$name, in-$name)" \
    test "$(grep -cE "^\s*chain \"?(out|in)-$name\"? \{" <<<"$ruleset")" -eq 2
done
sed -n '/^table inet moat {/,/^}/p' <<<"$ruleset" | grep -E '^\s*(table|chain) ' |
  sed 's/^\s*/# nft: /' || true
check "nftables: the host's input and forward stay default-deny" \
  test "$(grep -cE 'hook (input|forward) priority filter; policy drop;' <<<"$ruleset")" -eq 2

booted=$(ostree_booted) || true
moat_booted=$(os_deployment booted commit) || true
check "moat status and ostree admin status agree on the booted commit (${moat_booted:0:12})" \
  test -n "$moat_booted" -a "${booted%.*}" = "$moat_booted"

# --- after a reboot, everything comes back (timed) --------------------------------------------
guest 'sync' >/dev/null
if vm_reboot 600; then
  ok "reboots (systemd: $VM_STATE)"
else
  not_ok "reboots"
  exit 1
fi
diag "second boot: multi-user after ${BOOT_SECONDS} s"
all_healthy() {
  local json
  json=$(list_json) || true
  [ "$(json_get sandboxes.mqtt.health <<<"$json")" = healthy ] &&
    [ "$(json_get sandboxes.sensorlog.health <<<"$json")" = healthy ] &&
    [ "$(json_get sandboxes.memhog.state <<<"$json")" = running ] &&
    [ "$(json_get sandboxes.forkbomb.state <<<"$json")" = running ]
}
if vm_wait_for 180 all_healthy; then
  ok "after the reboot the sandboxes run again and mqtt and sensorlog are healthy"
  diag "second boot: all sandboxes healthy after $(vm_elapsed) s (multi-user at ${BOOT_SECONDS} s)"
else
  not_ok "after the reboot the sandboxes run again and mqtt and sensorlog are healthy"
fi
guest 'moat list' | sed 's/^/# /' || true
# The probe's device node was made by hand in /dev (a tmpfs), so it is gone after the reboot;
# moatd does not start a sandbox without a device it declares, and says so.
probe_error=$(list_json | json_get sandboxes.probe.last_error) || true
check "probe is not started without its declared device ($probe_error)" \
  test "$(field probe state)" = failed -a -n "$(grep -F "$PROBE_DEVICE" <<<"$probe_error")"
guest "mknod -m 0660 $PROBE_DEVICE c 1 3" >/dev/null
check "... and runs once the device is back (moat start probe)" quietly guest 'moat start probe' 60
guest 'systemd-analyze time' | sed 's/^/# /' || true

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
