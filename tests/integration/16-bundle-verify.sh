#!/bin/bash
# Bundles checked with tools that are not Moat's: the stock ostree CLI unpacks each .moatb
# moat-bundle writes (two versions, signed by two keys), and PyNaCl (verify-ed25519.py)
# accepts each ed25519 signature over the commit's bytes, as unpacked, as published in the
# archive repo, and as kept in the hub's repo after `moat install`. ostree fsck passes on the
# builder's and the hub's repos. A tampered commit and a tampered signature are rejected, so
# the checks can fail.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

BUNDLE=$BUILD/moat-bundle
VERIFY=$(cd "$(dirname "$0")" && pwd)/verify-ed25519.py
PY=/usr/bin/python3
umask 022
cd "$TESTDIR"

verify() { "$PY" "$VERIFY" "$@" >/dev/null 2>&1; }
# The verifier read everything and found no good signature (not: it could not run).
rejects() {
  local out rc=0
  out=$("$PY" "$VERIFY" "$@" 2>&1) || rc=$?
  [ "$rc" -eq 1 ] && [ "$out" = "no signature verifies" ]
}
fsck() { ostree fsck --repo="$1" >/dev/null 2>&1; }
fsck_fails() { ! fsck "$1"; }

declare -A key commit
key[1.0]=$("$BUNDLE" keygen a.key a.pub)
key[2.0]=$("$BUNDLE" keygen b.key b.pub)
mkdir src keys
cp a.pub b.pub keys/
cp -a "$ROOTFS" src/rootfs
for version in 1.0 2.0; do
  secret=a.key
  [ "$version" = 1.0 ] || secret=b.key
  printf '[Sandbox]\nName=demo\nVersion=%s\nExec=/bin/true\n' "$version" >src/manifest
  commit[$version]=$("$BUNDLE" build --repo pub --key "$secret" --output "demo-$version.moatb" src |
    head -n 1 | cut -d' ' -f3)
done
other() { if [ "$1" = 1.0 ]; then echo 2.0; else echo 1.0; fi; }

for version in 1.0 2.0; do
  c=${commit[$version]} repo=unpacked-$version
  ostree init --repo="$repo" --mode=bare-user-only
  check "stock ostree unpacks demo-$version.moatb (static-delta apply-offline)" \
    ostree --repo="$repo" static-delta apply-offline "demo-$version.moatb"
  check "... into the commit moat-bundle printed (${c:0:12}), version $version" \
    test "$(ostree --repo="$repo" show --print-metadata-key=version "$c" 2>/dev/null)" = "'$version'"
  check "... which moat-bundle inspect names too" \
    sh -c "$BUNDLE inspect demo-$version.moatb | grep -qx 'commit: *$c'"
  check "PyNaCl accepts the unpacked demo $version signature with its key" verify "$repo" "$c" "${key[$version]}"
  check "PyNaCl rejects it with the other key" rejects "$repo" "$c" "${key[$(other "$version")]}"
  check "ostree fsck passes on the unpacked demo $version" fsck "$repo"
  check "PyNaCl accepts demo $version as published in the archive repo" verify pub "$c" "${key[$version]}"
done
check "ostree fsck passes on the builder's archive repo" fsck pub

# Tampered: a commit whose bytes changed after signing, and a .moatb whose signature changed.
c=${commit[1.0]}
cp -a unpacked-1.0 tampered-commit
object=tampered-commit/objects/${c:0:2}/${c:2}.commit
"$PY" - "$object" <<'PY'
import sys
path = sys.argv[1]
data = open(path, "rb").read()
assert data.count(b"demo 1.0") == 1
open(path, "wb").write(data.replace(b"demo 1.0", b"demo 6.6"))
PY
check "PyNaCl rejects a commit altered after signing" rejects tampered-commit "$c" "${key[1.0]}"
check "... and ostree fsck notices it too" fsck_fails tampered-commit
"$PY" - demo-1.0.moatb tampered-signature.moatb "$(ostree --repo=unpacked-1.0 show \
  --print-detached-metadata-key=ostree.sign.ed25519 "$c")" <<'PY'
import sys
from gi.repository import GLib
src, dst, text = sys.argv[1:4]
signature = bytes(GLib.Variant.parse(GLib.VariantType.new("aay"), text, None, None)[0])
data = bytearray(open(src, "rb").read())
at = data.find(signature)
assert at >= 0 and data.find(signature, at + 1) < 0
data[at + 10] ^= 0x01
open(dst, "wb").write(bytes(data))
PY
ostree init --repo=tampered-signature --mode=bare-user-only
check "stock ostree unpacks a .moatb with one signature bit flipped (it checks no signatures)" \
  ostree --repo=tampered-signature static-delta apply-offline tampered-signature.moatb
check "... and PyNaCl rejects that signature" rejects tampered-signature "$c" "${key[1.0]}"

# The hub: both installed (no moatd runs; install says so and succeeds).
for version in 1.0 2.0; do
  check "moat install demo-$version.moatb" sh -c "$MOAT --run-dir $RUN --state-dir $STATE \
    --keys-dir $TESTDIR/keys -q install demo-$version.moatb >/dev/null"
done
check "ostree fsck passes on the hub's repo" fsck "$STATE/repo"
for version in 1.0 2.0; do
  check "PyNaCl accepts demo $version as the hub keeps it (current and previous)" \
    verify "$STATE/repo" "${commit[$version]}" "${key[$version]}"
done
