#!/bin/bash
# OS updates on a sysroot in a folder (moat status/upgrade/deploy/rollback/cancel --sysroot):
# an upgrade keeps the user's /etc and leaves /var alone, and every kind of bad update served
# by the remote is refused with its reason, leaving the sysroot as it was. moatd is not needed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

SIGN=${MOAT_SIGN:-$BUILD/moat-sign}
FORGE=$(cd "$(dirname "$0")" && pwd)/forge-os
REF=os/x86_64/stable
BOUND="--add-metadata=ostree.ref-binding=['$REF']"
DEPLOY=root/ostree/deploy/moat/deploy
VAR=root/ostree/deploy/moat/var
EVENTS=$VAR/lib/moat/events.log
NOW=$(date +%s)
T=$((NOW - 3600)) # v1's timestamp; every later commit is T + a few seconds
cd "$TESTDIR"
# ostree makes each deployment directory immutable.
trap 'chattr -R -i "$TESTDIR/root" 2>/dev/null || true; cleanup' EXIT

os() { moat "$1" --sysroot root --keys-dir keys "${@:2}"; }

# publish VERSION SECONDS [OSTREE-COMMIT-OPTION...]: commit the tree, VERSION written into it
# so that every commit has content of its own, as the served repo's new head of $REF.
publish() {
  local version=$1 seconds=$2
  shift 2
  echo "$version" >tree/usr/lib/moat-build
  ostree --repo=pub commit -b "$REF" --tree=dir=tree --timestamp="@$seconds" \
    --add-metadata-string=version="$version" "$@"
}
resign() { "$SIGN" summary pub os.key 30 >/dev/null; }
# sign CHECKSUM [SECRET]: sign the commit (with os.key unless told) and re-sign the summary.
sign() {
  "$SIGN" commit pub "${2:-os.key}" "$1" >/dev/null
  resign
}

# What moat-sign will not write (a 63-byte signature, a forged summary.sig): see forge-os.
forge() { "$FORGE" "$1" pub "$2"; }

# What a refusal must leave as it was.
fingerprint() {
  ostree admin --sysroot=root status
  ls "$DEPLOY"
  ostree --repo=root/ostree/repo refs | sort
  ostree --repo=root/ostree/repo rev-parse "moat:$REF"
}

# refused DESCRIPTION REASON-REGEX COMMAND...: COMMAND exits 1 with a message matching
# REASON-REGEX, and the sysroot is as it was before. 1, not 77: the update timer and scripts
# read 77 as "no update", and a bad update must not pass for that.
refused() {
  local what=$1 reason=$2 before out rc=0
  shift 2
  before=$(fingerprint)
  out=$("$@" 2>&1) || rc=$?
  diag "$what: exit $rc: $( (grep '^moat' <<<"$out" || tail -n 1 <<<"$out") | head -n 1)"
  check "$what: exit status 1 (got $rc)" test "$rc" = 1
  check "$what: the message names the reason" grep -qE "$reason" <<<"$out"
  check "$what: the sysroot is unchanged" test "$(fingerprint)" = "$before"
}

# exits CODE COMMAND...: COMMAND's exit status is CODE.
exits() {
  local want=$1 rc=0
  shift
  "$@" >/dev/null 2>&1 || rc=$?
  test "$rc" = "$want"
}

# field I NAME: deployments[I].NAME in moat status --json.
field() {
  os status --json | /usr/bin/python3 -c 'import json, sys
print(json.load(sys.stdin)["os"]["deployments"][int(sys.argv[1])][sys.argv[2]])' "$1" "$2"
}
# The deployments' commits in boot order, as moat and as ostree see them.
moat_order() {
  os status --json | /usr/bin/python3 -c 'import json, sys
for d in json.load(sys.stdin)["os"]["deployments"]: print(d["commit"])'
}
ostree_order() { ostree admin --sysroot=root status | grep -oE '[0-9a-f]{64}'; }
upgrade_events() { grep -c '"event":"upgrade"' "$EVENTS" 2>/dev/null || true; }

# --- a served repo and a sysroot with v1 deployed --------------------------------------------
mkdir -p tree/usr/lib/modules/6.1.0 tree/usr/etc keys root
echo kernel >tree/usr/lib/modules/6.1.0/vmlinuz
echo initrd >tree/usr/lib/modules/6.1.0/initramfs.img
printf 'ID=moat\nPRETTY_NAME="Moat OS"\n' >tree/usr/lib/os-release
cp tree/usr/lib/os-release tree/usr/etc/os-release
pub=$("$SIGN" keygen os.key keys/os.pub)
# Trusted (os.pub lists it too) until the revocation case revokes it.
"$SIGN" keygen revoked.key revoked.pub >/dev/null
cat revoked.pub >>keys/os.pub
"$SIGN" keygen other.key other.pub >/dev/null # never trusted

ostree --repo=pub init --mode=archive
c1=$(publish 1.0 "$T" "$BOUND")
sign "$c1"
ostree admin init-fs root >/dev/null
ostree admin --sysroot=root os-init moat >/dev/null
ostree --repo=root/ostree/repo remote add --no-gpg-verify moat "file://$TESTDIR/pub"
ostree --repo=root/ostree/repo pull moat "$REF" >/dev/null
ostree admin --sysroot=root deploy --os=moat "moat:$REF" >/dev/null 2>&1

# --- 1. status -------------------------------------------------------------------------------
out=$(os status)
check "status shows v1's version" grep -qE "^. moat 1\.0 " <<<"$out"
check "status shows v1's commit" grep -q "commit ${c1:0:12}" <<<"$out"
check "status shows the key that signed v1" grep -q "signed by ${pub:0:12}" <<<"$out"
json=$(os status --json)
check "status --json is valid JSON" /usr/bin/python3 -c "import json, sys; json.load(sys.stdin)" <<<"$json"
check "status --json: deployments[0].version is 1.0" test "$(field 0 version)" = 1.0
check "status --json: deployments[0].commit is v1" test "$(field 0 commit)" = "$c1"
check "status --json: deployments[0].signed_by is the OS key" test "$(field 0 signed_by)" = "$pub"

# --- 2. upgrade ------------------------------------------------------------------------------
check "upgrade --check with nothing new exits 77" exits 77 os upgrade --check
check "cancel with nothing pending exits 77" exits 77 os cancel
c2=$(publish 2.0 $((T + 10)) "$BOUND")
sign "$c2"
before=$(fingerprint)
check "upgrade --check with v2 published exits 0" exits 0 os upgrade --check
check "upgrade --check changes nothing" test "$(fingerprint)" = "$before"

# --- 3. /etc and /var across the upgrade -----------------------------------------------------
echo "hub-name=kitchen" >"$DEPLOY/$c1.0/etc/moat-test.conf"
mkdir -p "$VAR/lib/moat/sandboxes/x/data"
echo "sensor readings" >"$VAR/lib/moat/sandboxes/x/data/readings"
var_before=$(stat -c '%i %s %Y' "$VAR/lib/moat/sandboxes/x/data/readings")
events_before=$(upgrade_events)

check "upgrade deploys v2" exits 0 os upgrade
check "v2 is the default" test "$(field 0 commit)" = "$c2"
check "v1 is the rollback" test "$(field 1 commit) $(field 1 rollback)" = "$c1 True"
check "moat status and ostree admin status agree" test "$(moat_order)" = "$(ostree_order)"
check "the events log gains an upgrade line" test "$(upgrade_events)" = $((events_before + 1))
check "the new deployment's /etc keeps the file written in the old one's" \
  grep -qx "hub-name=kitchen" "$DEPLOY/$c2.0/etc/moat-test.conf"
check "a sandbox's data in /var is untouched" \
  test "$(stat -c '%i %s %Y' "$VAR/lib/moat/sandboxes/x/data/readings")" = "$var_before"

# --- 4. refusals: each a bad head of $REF on the served repo, v2 running ------------------------
unsigned=$(publish 3.0-unsigned $((T + 20)) "$BOUND")
resign
refused "an unsigned commit" "unsigned" os upgrade

c=$(publish 3.0-untrusted $((T + 21)) "$BOUND")
sign "$c" other.key
refused "a commit signed by an untrusted key" "not signed by a trusted key" os upgrade

c=$(publish 3.0-revoked $((T + 22)) "$BOUND")
sign "$c" revoked.key
cp revoked.pub keys/os.revoked
refused "a commit signed only by a revoked key" "revoked" os upgrade
rm keys/os.revoked

c=$(publish 3.0-short $((T + 23)) "$BOUND")
forge short "$c"
resign
refused "a signature of 63 bytes" "63 bytes, not 64" os upgrade

c=$(publish 3.0-aarch64 $((T + 24)) --add-metadata=ostree.ref-binding="['os/aarch64/stable']")
sign "$c"
refused "a commit bound to another ref" "not bound to $REF|ref binding" os upgrade

c=$(publish 3.0-unbound $((T + 25)) --no-bindings)
sign "$c"
refused "a commit bound to no ref" "not bound to $REF" os upgrade

older=$(publish 1.5-older $((T + 5)) "$BOUND")
sign "$older"
refused "a commit older than the running one (a downgrade)" "older than the running one" \
  os upgrade

c=$(publish 2.0-same-time $((T + 10)) "$BOUND")
sign "$c"
refused "a commit with the running one's timestamp but other content" \
  "the running one's timestamp" os upgrade

c=$(publish 3.0-expired $((T + 26)) "$BOUND" --add-metadata="moat.expires=uint64 $((NOW - 60))")
sign "$c"
refused "a commit past its moat.expires" "expired" os upgrade

# A good commit from here on: only the summary is wrong.
c3=$(publish 3.0 $((T + 30)) "$BOUND")
sign "$c3"
ostree --repo=pub summary -u --add-metadata="moat.expires=uint64 1"
forge summary os.key
refused "a summary past its moat.expires" "summary expired" os upgrade

ostree --repo=pub summary -u
forge summary os.key
refused "a summary without moat.expires" "summary has no moat.expires" os upgrade

forge summary -
refused "a summary.sig holding no ed25519 signature" "summary: unsigned" os upgrade

resign
rm pub/summary.sig
refused "an unsigned summary" "summary is not signed" os upgrade

"$SIGN" summary pub other.key 30 >/dev/null
refused "a summary signed by an untrusted key" "summary: not signed by a trusted key" os upgrade

# --- 5. rollback and deploy --------------------------------------------------------------------
resign
check "rollback exits 0" exits 0 os rollback
check "after rollback v1 is the default" test "$(field 0 commit)" = "$c1"
check "after rollback v2 is the rollback" test "$(field 1 commit) $(field 1 rollback)" = "$c2 True"
check "moat status and ostree admin status agree after rollback" \
  test "$(moat_order)" = "$(ostree_order)"
check "rollback again exits 0" exits 0 os rollback
check "after a second rollback v2 is the default again" test "$(field 0 commit)" = "$c2"
check "after a second rollback v1 is the rollback again" \
  test "$(field 1 commit) $(field 1 rollback)" = "$c1 True"

refused "deploy of an unsigned commit, even with --allow-downgrade" "unsigned" \
  os deploy "$unsigned" --allow-downgrade
check "deploy --allow-downgrade accepts the older commit refused as an upgrade" \
  exits 0 os deploy "$older" --allow-downgrade
check "the older commit is the default" test "$(field 0 commit)" = "$older"
refused "deploy of v1 without --allow-downgrade" "older than the running one" os deploy "$c1"
rc=0
out=$(os deploy "$c1" --allow-downgrade --json -q) || rc=$?
check "deploy of v1 with --allow-downgrade succeeds (exit $rc)" \
  test "$rc $(field 0 commit)" = "0 $c1"
if /usr/bin/python3 -c "import json, sys; json.load(sys.stdin)" <<<"$out" 2>/dev/null; then
  ok "deploy --json prints JSON and nothing else"
else
  not_ok "deploy --json prints JSON and nothing else; it printed: $(head -n 1 <<<"$out")"
fi
check "moat status and ostree admin status agree after the deploys" \
  test "$(moat_order)" = "$(ostree_order)"
check "a sandbox's data in /var is still untouched" \
  test "$(stat -c '%i %s %Y' "$VAR/lib/moat/sandboxes/x/data/readings")" = "$var_before"

# --- 6. usage errors -----------------------------------------------------------------------------
check "upgrade with an argument is a usage error (2)" exits 2 os upgrade extra-arg
check "deploy without a commit is a usage error (2)" exits 2 os deploy
check "upgrade --allow-downgrade is a usage error (2)" exits 2 os upgrade --allow-downgrade

# --- 4 (end): the pull limit, on a clean repo (before the corrupted case leaves its staging)
# The pull limit: moat.conf [Update] MaxPullMiB. libostree counts bytes only on the network
# (a file:// pull imports objects and reports none), so the repo is served over HTTP on
# loopback for this case, with 3 MiB of incompressible content against a 1 MiB limit.
head -c 3000000 /dev/urandom >tree/usr/lib/firmware.bin
c=$(publish 4.0-big $((T + 41)) "$BOUND")
rm tree/usr/lib/firmware.bin
sign "$c"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 300 /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 --directory pub >/dev/null 2>&1 &
http_pid=$!
wait_for "the HTTP server" 10 sh -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null || true
ostree --repo=root/ostree/repo remote delete moat
ostree --repo=root/ostree/repo remote add --no-gpg-verify moat "http://127.0.0.1:$port"
printf '[Update]\nMaxPullMiB=1\n' >limit.conf
refused "a pull larger than the limit (MaxPullMiB=1, 3 MiB over HTTP)" "past the 1 MiB limit" \
  os upgrade --config limit.conf
kill "$http_pid" 2>/dev/null || true
ostree --repo=root/ostree/repo remote delete moat
ostree --repo=root/ostree/repo remote add --no-gpg-verify moat "file://$TESTDIR/pub"

# --- 4 (end): a corrupted object -----------------------------------------
# Last, so that an update deployed against expectations cannot upset the checks above. v1 runs.
# Incompressible, so the archive stores it as is and a flipped byte still inflates: only the
# object's checksum can tell.
head -c 8192 /dev/urandom >tree/usr/lib/firmware.bin
c=$(publish 3.0-flipped $((T + 31)) "$BOUND")
rm tree/usr/lib/firmware.bin
sign "$c"
object=$(ostree --repo=pub ls -C "$c" /usr/lib/firmware.bin | awk '{ print $5 }')
/usr/bin/python3 -c 'import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0xff
open(sys.argv[1], "wb").write(data)' "pub/objects/${object:0:2}/${object:2}.filez"
refused "a corrupted object in the served repo" "Corrupted|checksum" os upgrade

