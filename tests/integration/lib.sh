# Shared by the integration tests: TAP output, a private moatd, installed test sandboxes.
# shellcheck shell=bash
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
ROOTFS=$BUILD/rootfs-busybox
MOAT=$BUILD/moat
n=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { echo "# $*"; }

# A state, run and log directory of our own; the sandbox's user namespace must be able to
# walk down to its data directory, so they are 0755 like /var/lib.
TESTDIR=$(mktemp -d /tmp/moat-test.XXXXXX)
chmod 755 "$TESTDIR"
STATE=$TESTDIR/state RUN=$TESTDIR/run LOGS=$TESTDIR/log
MOATD_PID=

cleanup() {
  stop_moatd
  rm -rf "$TESTDIR"
}
trap cleanup EXIT

moat() { "$MOAT" --run-dir "$RUN" --log-dir "$LOGS" "$@"; }

# shellcheck disable=SC2120 # extra moatd options are optional
# Start moatd the way this host allows crun to run: in a private mount namespace with
# cgroup2 on /sys/fs/cgroup and no cgroup manager (DESIGN.md section 7). MOATD_WRAPPER, when
# set, is a command moatd runs under (e.g. "ip netns exec HUB" for a test's own network).
# MOATD_SYS_RO=1 makes /sys read-only there: this host runs no udev, and systemd-nspawn moves
# an interface into a sandbox only once udev has initialized it, unless /sys is read-only
# (where, as in a container, it assumes there is no udev).
start_moatd() {
  local -a wrapper=()
  [ -n "${MOATD_WRAPPER:-}" ] && read -ra wrapper <<<"$MOATD_WRAPPER"
  local sys_ro=true
  [ "${MOATD_SYS_RO:-0}" = 1 ] && sys_ro="mount -o remount,bind,ro /sys"
  "${wrapper[@]}" unshare -m --propagation private -- sh -c \
    "mount -t cgroup2 none /sys/fs/cgroup && $sys_ro"' && exec "$@"' sh \
    "$BUILD/moatd" --state-dir "$STATE" --run-dir "$RUN" --log-dir "$LOGS" \
    --cgroup-manager=disabled --no-journal --restart-delay-ms "${RESTART_DELAY_MS:-200}" \
    "$@" 2>>"$TESTDIR/moatd.log" &
  MOATD_PID=$!
  local _
  for _ in $(seq 100); do
    [ -S "$RUN/moatd.sock" ] && moat list >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "moatd did not come up" >&2
  cat "$TESTDIR/moatd.log" >&2
  return 1
}

# Stop moatd as systemd would; it must exit 0 (under ASan, that includes no leak report).
stop_moatd() {
  if [ -n "$MOATD_PID" ] && kill -0 "$MOATD_PID" 2>/dev/null; then
    kill -TERM "$MOATD_PID"
    local rc=0
    wait "$MOATD_PID" || rc=$?
    if [ "$rc" -eq 0 ]; then
      ok "moatd stopped cleanly on SIGTERM"
    else
      not_ok "moatd stopped cleanly on SIGTERM (exit status $rc)"
      tail -n 60 "$TESTDIR/moatd.log" >&2
    fi
  fi
  MOATD_PID=
}

# install_sandbox NAME < MANIFEST: a sandbox on the busybox test root.
# moatd resolves current/rootfs beneath the sandbox's directory, so the rootfs is a hard-linked
# copy of $ROOTFS (or of ROOTFS=DIR given for one call), not a link to it.
install_sandbox() {
  local dir=$STATE/sandboxes/$1/current
  mkdir -p "$dir"
  chmod 755 "$STATE" "$STATE/sandboxes" "$STATE/sandboxes/$1"
  rm -rf "$dir/rootfs"
  cp -al "$ROOTFS" "$dir/rootfs"
  cat >"$dir/manifest"
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local seconds=$2
  shift 2
  local _
  for _ in $(seq $((seconds * 10))); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# state_of NAME: the sandbox's state as moat list --json says.
state_of() {
  moat list --json | /usr/bin/python3 -c '
import json, sys
for s in json.load(sys.stdin)["sandboxes"]:
    if s["name"] == sys.argv[1]:
        print(s["state"])' "$1"
}

# field_of NAME FIELD: one field of moat status NAME --json (dotted path).
field_of() {
  moat status "$1" --json | /usr/bin/python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$2"
}

log_of() { cat "$LOGS/$1.log" 2>/dev/null || true; }
