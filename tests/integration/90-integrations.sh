#!/bin/bash
# The example integrations in sandboxes/ work together as a hub runs them. sandboxes/build
# makes their bundles, which moat-bundle and moat install accept; installed, the mqtt broker,
# the thermostat bridge (on a simulated serial thermostat) and sensorlog all run under moatd
# and become healthy; the thermostat's readings reach sensorlog's /data/readings.log, also
# across a restart of the broker and of sensorlog itself; garbled answers from the device are
# logged and skipped. moatd runs in a network namespace of the test's own, as in 70-network.sh,
# so the names of the peers (mqtt) come from the /etc/hosts moatd gives each sandbox.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HUB=moat-t90-hub-$$
DEVICE=/dev/ttyUSB0
SIM_PID='' DEVICE_MADE=''

integrations_cleanup() {
  stop_moatd
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
  if [ -n "$DEVICE_MADE" ]; then rm -f "$DEVICE"; fi
  ip netns pids "$HUB" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns del "$HUB" 2>/dev/null || true
  rm -rf "$TESTDIR"
}
trap integrations_cleanup EXIT

if [ -e "$DEVICE" ] || [ -L "$DEVICE" ]; then
  skip "the example integrations run together" "$DEVICE exists on this host; not replacing it"
  exit 0
fi

# --- build and install ---------------------------------------------------------------------
if ! "$REPO/sandboxes/build" "$BUILD" >"$TESTDIR/build.log" 2>&1; then
  not_ok "sandboxes/build builds mqtt, thermostat and sensorlog"
  cat "$TESTDIR/build.log" >&2
  exit 1
fi
ok "sandboxes/build builds mqtt, thermostat and sensorlog"
while read -r line; do diag "rootfs size $line"; done <"$TESTDIR/build.log"

# Each built root becomes a signed bundle (.moatb) with a publisher key the hub trusts.
"$BUILD/moat-bundle" keygen "$TESTDIR/publisher.key" "$TESTDIR/publisher.pub" >/dev/null
mkdir "$TESTDIR/keys"
cp "$TESTDIR/publisher.pub" "$TESTDIR/keys/"
PUBLISHER=$(cat "$TESTDIR/publisher.pub")
# bundle NAME DIR OUT: build DIR (a manifest and rootfs/) into the signed bundle OUT.
bundle() {
  "$BUILD/moat-bundle" build --repo "$TESTDIR/bundle-repo" --key "$TESTDIR/publisher.key" \
    --output "$3" "$2" >>"$TESTDIR/bundle.log" 2>&1
}
for name in mqtt thermostat sensorlog; do
  check "$name: moat-bundle builds and signs it ($name.moatb)" \
    bundle "$name" "$BUILD/sandboxes/$name" "$TESTDIR/$name.moatb"
  diag "$name.moatb: $(stat -c %s "$TESTDIR/$name.moatb") bytes"
done
# hub VERB ARGS...: moat on this test's hub, its state dir and its trusted keys.
hub() { moat -q --state-dir "$STATE" --keys-dir "$TESTDIR/keys" "$@"; }
user_of() { sed -n 's/^User=//p' "$STATE/sandboxes/$1/current/manifest"; }

# --- the simulated thermostat --------------------------------------------------------------
# A pty slave can only be opened through its devpts mount (a node made with mknod gives EIO),
# and devpts has no ACLs, which moatd's device grant sets. So $DEVICE is a node of the same
# major:minor on the host's /dev, which moatd grants and crun binds into the sandbox, and once
# the sandbox runs, the pty slave itself is mounted over the node inside it.
"$REPO/sandboxes/thermostat/sim/thermostat-sim" --garbage-every 3 >"$TESTDIR/sim.out" \
  2>"$TESTDIR/sim.err" &
SIM_PID=$!
wait_for "the simulator's pty" 10 test -s "$TESTDIR/sim.out" || true
PTY=$(head -n 1 "$TESTDIR/sim.out")
if [ -z "$PTY" ] || [ ! -c "$PTY" ]; then
  not_ok "the simulator opens a pty ($(cat "$TESTDIR/sim.err"))"
  exit 1
fi
ok "the simulator opens a pty ($PTY)"
read -r major minor < <(stat -c '%t %T' "$PTY")
mknod -m 0660 "$DEVICE" c $((16#$major)) $((16#$minor))
DEVICE_MADE=1

# attach_pty PID: mount the simulator's pty slave over $DEVICE in PID's mount namespace.
# open_tree() clones the mount here; move_mount() attaches the clone over there.
attach_pty() {
  /usr/bin/python3 - "$1" "$PTY" "$DEVICE" <<'EOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pid, source, target = sys.argv[1:]
AT_FDCWD, OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH, CLONE_NEWNS = -100, 1, 4, 0x20000
SYS_open_tree, SYS_move_mount = 428, 429  # the same on x86-64 and aarch64
def ok(rc, what):
    if rc < 0:
        sys.exit(f"{what}: {os.strerror(ctypes.get_errno())}")
    return rc
tree = ok(libc.syscall(SYS_open_tree, AT_FDCWD, source.encode(), OPEN_TREE_CLONE | os.O_CLOEXEC),
          f"open_tree {source}")
ok(libc.setns(os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC), CLONE_NEWNS), "setns")
ok(libc.syscall(SYS_move_mount, tree, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH),
   f"move_mount onto {target}")
EOF
}

# --- run -----------------------------------------------------------------------------------
ip netns add "$HUB"
ip -n "$HUB" link set lo up
MOATD_WRAPPER="ip netns exec $HUB" start_moatd

# Installed on the running hub, from the files alone: verified, deployed, started by moatd.
for name in mqtt thermostat sensorlog; do
  check "moat install $name.moatb verifies, deploys and starts it" \
    hub install "$TESTDIR/$name.moatb"
done

running() { [ "$(state_of "$1")" = running ]; }
for name in mqtt thermostat sensorlog; do
  check "$name starts and runs" wait_for "$name running" 30 running "$name"
done

base=$(field_of thermostat confinement.uid_base)
chown "$((base + $(user_of thermostat)))" "$PTY"
if attach_pty "$(field_of thermostat pid)" 2>"$TESTDIR/attach.err"; then
  ok "the simulated thermostat is attached as $DEVICE in the thermostat sandbox"
else
  not_ok "the simulated thermostat is attached as $DEVICE in the thermostat sandbox ($(cat "$TESTDIR/attach.err"))"
fi

health_is() { [ "$(field_of "$1" health)" = "$2" ]; }
for name in mqtt thermostat sensorlog; do
  if wait_for "$name healthy" 60 health_is "$name" healthy; then
    ok "$name becomes healthy"
  else
    not_ok "$name becomes healthy"
    log_of "$name" | tail -n 8 | while IFS= read -r line; do diag "$name: $line"; done
  fi
done

mqtt_base=$(field_of mqtt confinement.uid_base)
broker_uid=$((mqtt_base + $(user_of mqtt)))
check "the broker runs as its manifest's User= (host uid $broker_uid), not as root" \
  sh -c "ps -eo uid=,comm= | awk '\$1 == $broker_uid && \$2 == \"mosquitto\"' | grep -q ."

READINGS=$STATE/sandboxes/sensorlog/data/readings.log
reading_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{4} home/thermostat/reading \{"temperature":[0-9.-]+,"humidity":[0-9.]+,"setpoint":[0-9.]+,"time":"[0-9TZ:-]+"\}$'
readings() { grep -Ec "$reading_re" "$READINGS" 2>/dev/null || true; }
more_readings_than() { [ "$(readings)" -gt "$1" ]; }
check "the thermostat's readings arrive in sensorlog's /data/readings.log" \
  wait_for readings 60 more_readings_than 1
tail -n 2 "$READINGS" 2>/dev/null | while IFS= read -r line; do diag "$line"; done
check "... owned by sensorlog's User= on the host" \
  test "$(stat -c %u "$READINGS")" = "$(($(field_of sensorlog confinement.uid_base) + $(user_of sensorlog)))"

thermostat_logged() { log_of thermostat | grep -q "$1"; }
check "the thermostat's garbled answers are logged and skipped" wait_for "a garbled answer" 60 \
  thermostat_logged "skipped answer 'T=hot H=40.0 SET=20.0': T is not a number"
check "... as are answers longer than the protocol allows" wait_for "an overlong answer" 60 \
  thermostat_logged 'longer than 64 bytes'
check "... and thermostatd keeps running (no restart)" test "$(field_of thermostat restarts)" = 0
if thermostat_logged 'broker mqtt:1883: \(Name or service not known\|Temporary failure\)'; then
  diag "the name mqtt did not resolve in the thermostat sandbox"
fi

# --- the broker restarts -------------------------------------------------------------------
moat stop mqtt >/dev/null
check "the broker keeps its state in /data when it stops" \
  test -s "$STATE/sandboxes/mqtt/data/mosquitto.db"
moat start mqtt >/dev/null
before=$(readings)
check "after the broker restarts, readings arrive again (thermostatd and sensorlog reconnect)" \
  wait_for "readings again" 60 more_readings_than $((before + 1))

# --- sensorlog restarts --------------------------------------------------------------------
moat stop sensorlog >/dev/null
before=$(readings)
# A second later: a reading stamped from then on was taken after sensorlog was gone.
sleep 1
stopped_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 12
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
moat start sensorlog >/dev/null
check "sensorlog's log survives a restart and grows" \
  wait_for "readings after restart" 60 more_readings_than $((before + 1))
# published_between FROM TO: a logged reading was taken in [FROM, TO).
published_between() {
  sed -n 's/.*"time":"\([^"]*\)".*/\1/p' "$READINGS" |
    awk -v from="$1" -v to="$2" '$0 >= from && $0 < to { found = 1 } END { exit !found }'
}
check "... with the readings published while it was stopped (its broker session kept them)" \
  published_between "$stopped_at" "$started_at"

# --- the bundle's life: update, roll back, remove, reinstall ---------------------------------
# sensorlog is the one whose data shows: its readings.log must come through every step whole
# (the first lines stay as they were) and keep growing.
commit_of() { field_of "$1" commit; }
version_of() { field_of "$1" version; }
# The first reading logged: still the same one after each step.
first_lines() { head -n 1 "$READINGS" | sha256sum | cut -d' ' -f1; }
# whole: the first readings are still the ones that were there before.
whole() {
  [ "$(first_lines)" = "$head_before" ] && return 0
  diag "readings.log now starts: $(head -n 1 "$READINGS" 2>&1)"
  return 1
}
grows() {
  local before
  before=$(readings)
  wait_for "more readings" 60 more_readings_than $((before + 1))
}
health_is sensorlog healthy || wait_for "sensorlog healthy" 60 health_is sensorlog healthy || true
list=$(moat list)
diag "$(grep sensorlog <<<"$list")"
# Compared field by field: a base64 key may hold '+', which a regular expression would read
# as a repeat (this check failed about one run in six that way).
listed_as_1_0() {
  awk -v commit="$(commit_of sensorlog | cut -c1-12)" -v key="${PUBLISHER:0:12}" '
    $1 == "sensorlog" && $2 == "1.0" && $3 == commit && $4 == key && $5 == "crun" &&
    $6 == "running" && $7 == "healthy" { found = 1 }
    END { exit !found }' <<<"$list"
}
if listed_as_1_0; then
  ok "moat list shows version, commit, publisher key, state and health"
else
  not_ok "moat list shows version, commit, publisher key, state and health"
fi
v1=$(commit_of sensorlog)
head_before=$(first_lines)
diag "readings.log starts: $(head -n 1 "$READINGS")"

cp -a "$BUILD/sandboxes/sensorlog" "$TESTDIR/sensorlog-1.1"
sed -i 's/^Version=1.0$/Version=1.1/' "$TESTDIR/sensorlog-1.1/manifest"
check "sensorlog 1.1 builds" bundle sensorlog "$TESTDIR/sensorlog-1.1" "$TESTDIR/sensorlog-1.1.moatb"
check "installing 1.1 over 1.0 is an update" hub install "$TESTDIR/sensorlog-1.1.moatb"
# runs NAME VERSION: moatd runs NAME, started from the manifest of VERSION.
runs() { running "$1" && [ "$(version_of "$1")" = "$2" ]; }
check "... moatd runs 1.1" wait_for "1.1 running" 30 runs sensorlog 1.1
v2=$(commit_of sensorlog)
check "... from a new commit ($v1 -> $v2)" test "$v1" != "$v2"
deploys="$STATE/sandboxes/sensorlog/deploy"
check "... the old commit is kept beside it" test -d "$deploys/$v1" -a -d "$deploys/$v2"
check "... and shares its unchanged files (one inode for mosquitto_sub in both)" \
  test "$(stat -c %i "$deploys/$v1/rootfs/usr/bin/mosquitto_sub")" = "$(stat -c %i "$deploys/$v2/rootfs/usr/bin/mosquitto_sub")"
check "... its data came through whole" whole
check "... and keeps growing" grows

check "moat bundle-rollback goes back to 1.0" hub bundle-rollback sensorlog
check "... moatd runs 1.0 from the first commit" wait_for "1.0 running" 30 runs sensorlog 1.0
check "... which is current again" test "$(commit_of sensorlog)" = "$v1"
check "... its data came through whole" whole
check "... and keeps growing" grows

check "moat remove takes sensorlog away" hub remove sensorlog
listed() { moat list | grep -q "^$1 "; }
check "... it is no longer listed" eval '! listed sensorlog'
# [b]: the pattern does not match the pgrep command line itself.
check "... no process of it is left" eval "! pgrep -f 'mosquitto_su[b] -h mqtt -c -i sensorlog' >/dev/null"
check "... its deployments are gone" test ! -e "$deploys"
check "... but its data stays" whole
kept=$(readings)

check "reinstalling it (1.1) runs it again" hub install "$TESTDIR/sensorlog-1.1.moatb"
check "... running" wait_for "sensorlog running" 30 running sensorlog
check "... with the same uid range as before" \
  test "$(stat -c %u "$READINGS")" = "$(($(field_of sensorlog confinement.uid_base) + $(user_of sensorlog)))"
check "... on the data it had" whole
check "... which keeps growing from where it was" wait_for "more readings" 60 more_readings_than $((kept + 1))

check "the hub's repo passes ostree fsck" ostree --repo="$STATE/repo" fsck -q
