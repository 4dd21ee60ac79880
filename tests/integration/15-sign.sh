#!/bin/bash
# Commit signatures: moat-sign writes them in upstream OSTree's ed25519 format, an independent
# verifier (PyNaCl) accepts them, and verification refuses each kind of bad signature.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

SIGN=${MOAT_SIGN:-$BUILD/moat-sign}
VERIFY=$(cd "$(dirname "$0")" && pwd)/verify-ed25519.py
cd "$TESTDIR"
ostree init --repo=repo --mode=archive
mkdir -p tree/usr/bin && echo v1 >tree/usr/bin/tool
commit() { ostree commit --repo=repo -b "$1" --tree=dir=tree -s "$2" | tail -n 1; }
c1=$(commit os/x86_64/stable v1)
echo v2 >tree/usr/bin/tool
c2=$(commit os/x86_64/stable v2)

pub1=$("$SIGN" keygen hub.key hub.pub)
"$SIGN" keygen other.key other.pub >/dev/null
mkdir -p keys
cp hub.pub keys/hub.pub

check "keygen writes the secret key 0600" test "$(stat -c %a hub.key)" = 600
check "keygen never overwrites a key" sh -c "! $SIGN keygen hub.key x.pub 2>/dev/null"
check "the public key is 32 bytes of base64" test "$(base64 -d <<<"$pub1" | wc -c)" = 32
check "moat-sign signs a commit" "$SIGN" commit repo hub.key "$c1"
check "moat-sign verifies it with the trusted key" "$SIGN" verify repo keys "$c1"
check "PyNaCl, reading the commit bytes and metadata itself, verifies it too" \
  /usr/bin/python3 "$VERIFY" repo "$c1" "$pub1"
"$SIGN" commit repo other.key "$c1" >/dev/null
signature_count() {
  ostree show --repo=repo --print-detached-metadata-key=ostree.sign.ed25519 "$1" |
    /usr/bin/python3 -c 'import sys
from gi.repository import GLib
print(GLib.Variant.parse(GLib.VariantType.new("aay"), sys.stdin.read(), None, None).n_children())'
}
check "a second signature is appended, not replacing the first" test "$(signature_count "$c1")" = 2

# refused: verify_refuses DESCRIPTION EXPECTED-MESSAGE REV [KEYS]
verify_refuses() {
  local out rc=0
  out=$("$SIGN" verify repo "${4:-keys}" "$3" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] && grep -q "$2" <<<"$out"; then ok "$1 ($out)"; else not_ok "$1 (exit $rc: $out)"; fi
}
verify_refuses "an unsigned commit is refused" "unsigned" "$c2"
"$SIGN" commit repo other.key "$c2" >/dev/null
verify_refuses "a commit signed by an untrusted key is refused" "not signed by a trusted key" "$c2"
cp hub.pub keys/hub.revoked
"$SIGN" commit repo hub.key "$c2" >/dev/null
verify_refuses "a commit signed only by a revoked key is refused" "revoked" "$c2"
rm keys/hub.revoked

# Forged metadata, written with libostree from Python: a short signature, and a signature that
# belongs to another commit.
forge() {
  /usr/bin/python3 - "$@" <<'PY'
import sys
import gi
gi.require_version("OSTree", "1.0")
from gi.repository import GLib, Gio, OSTree
repo = OSTree.Repo.new(Gio.File.new_for_path("repo"))
repo.open(None)
target, how = sys.argv[1], sys.argv[2]
if how == "short":
    sigs = [bytes(63)]
else:
    ok, meta = repo.read_commit_detached_metadata(sys.argv[3], None)
    sigs = [bytes(s) for s in meta.lookup_value("ostree.sign.ed25519", None).unpack()]
value = GLib.Variant("aay", sigs)
meta = GLib.Variant("a{sv}", {"ostree.sign.ed25519": value})
repo.write_commit_detached_metadata(target, meta, None)
PY
}
echo v3 >tree/usr/bin/tool
c3=$(commit os/x86_64/stable v3)
forge "$c3" short
verify_refuses "a signature of the wrong length is refused before it is checked" "63 bytes, not 64" "$c3"
forge "$c3" copy "$c1"
verify_refuses "a signature copied from another commit does not verify" "not signed by a trusted key" "$c3"
check "... and PyNaCl agrees" sh -c "! /usr/bin/python3 $VERIFY repo $c3 $pub1 2>/dev/null"

mkdir -p badkeys && echo "AAAA" >badkeys/short.pub
verify_refuses "a trusted key of the wrong length is refused with its file and line" "short.pub:1: not an ed25519 public key" "$c1" badkeys
chmod 644 other.key
out=$("$SIGN" commit repo other.key "$c1" 2>&1 || true)
check "a secret key readable by others is refused ($out)" grep -q 'readable by others' <<<"$out"
