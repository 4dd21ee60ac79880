#!/bin/bash
# Attacks on the hub's updates, each a repo served over HTTP on the guest's loopback whose
# os/x86_64/stable head is bad in one way: `moat upgrade` on the booted hub refuses each with a
# message naming the reason (exit 1, never 77), and the deployments and the tracked ref are as
# they were. A good update served the same way is accepted, so the refusals are not an
# artefact of the setup. tests/integration/85-os-update.sh covers the same on a folder sysroot.
# Usage: tests/vm/70-refusals.sh IMAGE.qcow2
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

REF=os/x86_64/stable
KEY=${OS_KEY:-$VM_BUILD/os/keys/os.secret}
SIGN=$VM_BUILD/moat-sign
FORGE=$VM_REPO/tests/integration/forge-os
STICK=$VMDIR/prep/stick
ATTACKS=$STICK/attacks
V1=$(ostree rev-parse --repo="$VM_BUILD/os/repo" "$REF")
T1=$(date -d "$(ostree show --repo="$VM_BUILD/os/repo" "$V1" | sed -n 's/^Date: *//p')" +%s)
mkdir -p "$ATTACKS"
"$SIGN" keygen "$VMDIR/other.key" "$VMDIR/other.pub" >/dev/null

# bad_head NAME [OSTREE-COMMIT-OPTION...]: ATTACKS/NAME, a copy of the published repo (hard links)
# with a new head of $REF over v1 holding one more file; prints the commit. Bound to $REF unless
# the options say otherwise; neither the commit nor the summary is signed yet.
bad_head() {
  local name=$1 layer
  shift
  cp -al "$VM_BUILD/os/repo" "$ATTACKS/$name"
  layer=$(mktemp -d "$VMDIR/layer.XXXXXX")
  chmod 0755 "$layer"
  install -d -m 0755 "$layer/usr" "$layer/usr/lib" "$layer/usr/lib/moat"
  echo "$name" >"$layer/usr/lib/moat/attack"
  [ -z "${BLOB:-}" ] || head -c "$BLOB" /dev/urandom >"$layer/usr/lib/moat/blob"
  [[ "$*" == *ref-binding* ]] || set -- "--add-metadata=ostree.ref-binding=['$REF']" "$@"
  ostree commit --repo="$ATTACKS/$name" -b "$REF" --tree=ref="$V1" --tree=dir="$layer" \
    --add-metadata-string=version="attack-$name" "$@"
  rm -rf "$layer"
}
# signed NAME COMMIT [KEY]: sign the commit (the OS key unless told) and the summary.
signed() {
  "$SIGN" commit "$ATTACKS/$1" "${3:-$KEY}" "$2" >/dev/null
  "$SIGN" summary "$ATTACKS/$1" "$KEY" 30 >/dev/null
}

if {
  c=$(bad_head unsigned) && "$SIGN" summary "$ATTACKS/unsigned" "$KEY" 30 >/dev/null &&
    c=$(bad_head untrusted) && signed untrusted "$c" "$VMDIR/other.key" &&
    c=$(bad_head revoked) && signed revoked "$c" &&
    c=$(bad_head short) && "$FORGE" short "$ATTACKS/short" "$c" &&
    "$SIGN" summary "$ATTACKS/short" "$KEY" 30 >/dev/null &&
    c=$(bad_head other-ref "--add-metadata=ostree.ref-binding=['os/aarch64/stable']") &&
    signed other-ref "$c" &&
    c=$(bad_head older --timestamp="@$((T1 - 3600))") && signed older "$c" &&
    c=$(bad_head same-time --timestamp="@$T1") && signed same-time "$c" &&
    c=$(bad_head expired "--add-metadata=moat.expires=uint64 $(($(date +%s) - 60))") &&
    signed expired "$c" &&
    c=$(bad_head summary-expired) && signed summary-expired "$c" &&
    ostree summary --repo="$ATTACKS/summary-expired" -u --add-metadata="moat.expires=uint64 1" &&
    "$FORGE" summary "$ATTACKS/summary-expired" "$KEY" &&
    c=$(bad_head summary-unsigned) && signed summary-unsigned "$c" &&
    rm "$ATTACKS/summary-unsigned/summary.sig" &&
    c=$(BLOB=8192 bad_head corrupted) && signed corrupted "$c" &&
    object=$(ostree ls --repo="$ATTACKS/corrupted" -C "$c" /usr/lib/moat/blob | awk '{ print $5 }') &&
    python3 -c 'import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0xff
open(sys.argv[1], "wb").write(data)' "$ATTACKS/corrupted/objects/${object:0:2}/${object:2}.filez" &&
    c=$(BLOB=3000000 bad_head too-big) && signed too-big "$c" &&
    c=$(bad_head good) && signed good "$c"
} >"$VMDIR/attacks.log" 2>&1; then
  ok "13 repos are published: 12 attacks and a good update"
else
  not_ok "13 repos are published: 12 attacks and a good update"
  sed 's/^/# /' "$VMDIR/attacks.log"
  exit 1
fi
# libostree keeps the last summary of the remote "moat" and asks the server whether summary.sig
# changed since (If-Modified-Since); busybox httpd answers by mtime. The repos are served in
# turn under one remote name, so each one's summary is made newer than the one before.
when=$(date +%s)
for name in unsigned untrusted revoked short other-ref older same-time expired summary-expired \
  summary-unsigned corrupted too-big good; do
  when=$((when + 10))
  touch -d "@$when" "$ATTACKS/$name"/summary*
done
cp /usr/bin/busybox "$STICK/busybox"
vm_boot_with_stick "$STICK"
check "the attack repos are served on the guest's loopback" quietly vm_serve_updates /mnt/stick/attacks
guest 'printf "[Update]\nMaxPullMiB=1\n" > /run/limit.conf' >/dev/null

fingerprint() { guest "ostree admin status; ostree rev-parse moat:$REF; ls /ostree/deploy/moat/deploy" 60; }
# refused NAME REASON-REGEX [MOAT-OPTION...]: moat upgrade from ATTACKS/NAME exits 1 naming the
# reason, and the hub is as it was.
refused() {
  local name=$1 reason=$2 before out rc=0
  shift 2
  guest "sed -i 's|^url=.*|url=http://127.0.0.1:8080/$name|' /etc/ostree/remotes.d/moat.conf" >/dev/null
  before=$(fingerprint)
  out=$(guest "moat upgrade $*" 600) || rc=$?
  diag "$name: exit $rc: $(grep '^moat' <<<"$out" | head -n 1)"
  check "$name: refused (exit $rc)" test "$rc" = 1
  check "$name: the message names the reason" grep -qE "$reason" <<<"$out"
  check "$name: the deployments and the tracked ref are unchanged" test "$(fingerprint)" = "$before"
}

refused unsigned "unsigned"
refused untrusted "not signed by a trusted key"
guest 'cp /etc/moat/keys/os.d/build.pub /etc/moat/keys/os.d/build.revoked' >/dev/null
refused revoked "revoked"
guest 'rm /etc/moat/keys/os.d/build.revoked' >/dev/null
refused short "63 bytes, not 64"
refused other-ref "not bound to $REF|ref binding"
refused older "older than the running one"
refused same-time "the running one's timestamp"
refused expired "expired on"
refused summary-expired "summary expired"
refused summary-unsigned "summary is not signed"
refused corrupted "Corrupted|checksum"
refused too-big "past the 1 MiB limit" --config /run/limit.conf

guest "sed -i 's|^url=.*|url=http://127.0.0.1:8080/good|' /etc/ostree/remotes.d/moat.conf" >/dev/null
check "control: the good update served the same way is offered (upgrade --check exits 0)" \
  quietly guest 'moat upgrade --check' 300
refusals=$(guest 'grep -c "\"event\":\"refused\"" /var/lib/moat/events.log' 30)
check "every refusal is in the events log (12, got $refusals)" test "$refusals" = 12

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
