#!/bin/bash
# Hostile bundles: each bad .moatb (or remote) below differs from an acceptable bundle in one
# fault, and `moat install` must refuse it with exit 1 and a message that names the fault,
# leave the state directory exactly as it was, and leave the installed v1.0 running (same
# process, same commit). Bad bundles are made with moat-bundle where it can express the fault,
# otherwise with the stock ostree CLI, moat-sign and byte-level edits; faults moat-bundle
# itself refuses to build are checked there too. Controls show the refusals are not noise: the
# fault-free variants install in a scratch state, and at the end a downgrade with
# --allow-downgrade, a signed v1.1 file and a signed v1.2 remote are accepted.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

BUNDLE=$BUILD/moat-bundle
SIGN=$BUILD/moat-sign
PY=/usr/bin/python3
ARCH=$(uname -m)
case $ARCH in
  x86_64) OTHER_ARCH=aarch64 ;;
  *) OTHER_ARCH=x86_64 ;;
esac
REF=sandbox/demo/$ARCH/stable
SLEEP="/bin/sh -c \"trap 'exit 0' TERM; sleep 1000 & wait\""
umask 022
cd "$TESTDIR"
started=$(date +%s)

# --- tools ------------------------------------------------------------------------------

quiet() { "$@" >/dev/null; }
# HUB_TIMEOUT=SECONDS: kill an install that takes longer.
hub_install() {
  local -a limit=()
  [ -z "${HUB_TIMEOUT:-}" ] || limit=(timeout "$HUB_TIMEOUT")
  "${limit[@]}" "$MOAT" --run-dir "$RUN" --log-dir "$LOGS" --state-dir "$STATE" \
    --keys-dir "$TESTDIR/keys" --config "$TESTDIR/none.conf" -q install "$@"
}
# A state of its own, and a run dir where no moatd listens (so v1.0 is never restarted).
scratch_install() {
  quiet "$MOAT" --run-dir "$TESTDIR/no-run" --state-dir "$1" --keys-dir "$TESTDIR/keys" \
    --config "$TESTDIR/none.conf" -q install "$2"
}

# Everything install may change, but not what moatd or the sandbox write (data/).
fingerprint() {
  find "$STATE" -path "$STATE/sandboxes/*/data" -prune -o -printf '%p %y %m %s %l\n' |
    LC_ALL=C sort
  ostree --repo="$STATE/repo" refs | LC_ALL=C sort
  find "$STATE/repo/objects" -type f | wc -l
  cat "$STATE"/sandboxes/*/deploy/*.info
}

# What moatd says of demo: state, main pid, commit, version.
running() {
  moat status demo --json 2>&1 | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
print(s["state"], s["pid"], s["commit"], s["version"])' 2>/dev/null || echo "no status"
}

# runs COMMIT: moatd runs demo from COMMIT.
runs() {
  local now
  now=$(running)
  [ "${now%% *}" = running ] && [ "$(cut -d' ' -f3 <<<"$now")" = "$1" ]
}

# manifest NAME VERSION EXEC [LINE...]
manifest() {
  printf '[Sandbox]\nName=%s\nVersion=%s\nExec=%s\n' "$1" "$2" "$3"
  shift 3
  [ $# -eq 0 ] || printf '%s\n' "$@"
}

# variant NAME: a fresh copy of the tiny tree, to put one fault in.
variant() {
  rm -rf "v/$1"
  mkdir -p v
  cp -a tiny "v/$1"
  echo "v/$1"
}

# mb OUT DIR [OPTION...]: a bundle built by moat-bundle (signed by hub.key unless --key);
# prints its commit.
mb() {
  local out=$1 dir=$2
  shift 2
  "$BUNDLE" build --repo pub --key hub.key "$@" --output "$out" "$dir" | awk 'NR == 1 { print $3 }'
}

# commit DIR [OPTION...]: DIR committed with the stock ostree CLI into raw/, files root's,
# version ${V-2.0} ("none": no version), bound to ${BIND-$REF} (empty: no binding); prints
# the commit. The body makes each commit new, even of the same tree in the same second.
commit() {
  local dir=$1
  shift
  local -a meta=()
  [ "${V-2.0}" = none ] || meta+=(--add-metadata-string=version="${V-2.0}")
  [ -z "${BIND-$REF}" ] || meta+=(--bind-ref="${BIND-$REF}")
  ostree commit --repo=raw --orphan --tree=dir="$dir" --owner-uid=0 --owner-gid=0 \
    -s "demo ${V-2.0}" --body="made at $(date +%s.%N)" "${meta[@]}" "$@"
}

# pack OUT REV [KEY|unsigned] [DELTA-OPTION...]: sign REV (hub.key) and write it as
# `ostree static-delta generate --empty --inline --min-fallback-size=0` does.
pack() {
  local out=$1 rev=$2 key=${3:-hub.key}
  shift 2
  [ $# -eq 0 ] || shift
  [ "$key" = unsigned ] || "$SIGN" commit raw "$key" "$rev" >/dev/null
  ostree static-delta generate --repo=raw --empty --inline --min-fallback-size=0 \
    --filename="$out" "$@" "$rev" >/dev/null 2>&1
}

# forge REV HOW: replace REV's detached signatures in raw/ through libostree: "N" one N-byte
# signature, "many" 17 of 64 bytes, "copy:OTHER" the signatures of commit OTHER.
forge() {
  "$PY" - "$@" <<'PY'
import sys
import gi
gi.require_version("OSTree", "1.0")
from gi.repository import GLib, Gio, OSTree
repo = OSTree.Repo.new(Gio.File.new_for_path("raw"))
repo.open(None)
rev, how = sys.argv[1:3]
if how.startswith("copy:"):
    _, meta = repo.read_commit_detached_metadata(how[5:], None)
    sigs = [bytes(s) for s in meta.lookup_value("ostree.sign.ed25519", None).unpack()]
elif how == "many":
    sigs = [bytes([i]) * 64 for i in range(17)]
else:
    sigs = [b"\x01" * int(how)]
meta = GLib.Variant("a{sv}", {"ostree.sign.ed25519": GLib.Variant("aay", sigs)})
repo.write_commit_detached_metadata(rev, meta, None)
PY
}

# tamper HOW IN OUT: edit a .moatb the way an attacker would.
#   part-flip      flip a byte inside the compressed delta part
#   content        change a file's bytes in the part, recompress it and fix the part's
#                  checksum and sizes (only the object checksums can catch it)
#   commit-flip    change the commit's subject in place (its checksum no longer matches)
#   commit-rehash  the same, with the target checksum and the metadata keys recomputed
#   detached-type  the detached metadata replaced by a string
tamper() {
  "$PY" - "$@" <<'PY'
import base64, hashlib, lzma, sys
from gi.repository import GLib
how, src, dst = sys.argv[1:4]
SUPER = "(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))"
data = bytearray(open(src, "rb").read())
sb = GLib.Variant.new_from_bytes(GLib.VariantType.new(SUPER), GLib.Bytes.new(bytes(data)), False)
kids = [sb.get_child_value(i) for i in range(sb.n_children())]
meta = {}
for i in range(kids[0].n_children()):
    entry = kids[0].get_child_value(i)
    meta[entry.get_child_value(0).get_string()] = entry.get_child_value(1).get_variant()
def b64(raw):
    return base64.b64encode(raw).decode().rstrip("=").replace("/", "_")
to = bytes(kids[3].get_data_as_bytes().get_data())
prefix = "deltas/%s/%s/" % (b64(to)[:2], b64(to)[2:])
part_key, meta_key = prefix + "0", prefix + "commitmeta"
assert part_key in meta and meta_key in meta, sorted(meta)
part = meta[part_key]
compressed = bytes(part.get_child_value(1).get_data_as_bytes().get_data())
commit = bytes(kids[4].get_data_as_bytes().get_data())

def rebuild():
    return GLib.Variant.new_tuple(GLib.Variant("a{sv}", meta), *kids[1:]).get_data_as_bytes().get_data()

if how == "part-flip":
    at = data.find(compressed) + len(compressed) // 2
    data[at] ^= 0xFF
    out = bytes(data)
elif how == "content":
    payload = lzma.decompress(compressed)
    assert payload.count(b"hello-moat") == 1
    payload = payload.replace(b"hello-moat", b"HELLO-MOAT")
    part = GLib.Variant("(yay)", (ord("x"), lzma.compress(payload)))
    meta[part_key] = part
    raw = bytes(part.get_data_as_bytes().get_data())
    entry = kids[6].get_child_value(0)
    objects = bytes(entry.get_child_value(4).get_data_as_bytes().get_data())
    kids[6] = GLib.Variant("a(uayttay)", [(0, hashlib.sha256(raw).digest(), len(raw), len(payload), objects)])
    out = rebuild()
elif how in ("commit-flip", "commit-rehash"):
    assert commit.count(b"demo 2.0") == 1
    forged = commit.replace(b"demo 2.0", b"demo 6.6")
    if how == "commit-flip":
        out = bytes(data).replace(commit, forged)
    else:
        kids[4] = GLib.Variant.new_from_bytes(kids[4].get_type(), GLib.Bytes.new(forged), False)
        new_to = hashlib.sha256(forged).digest()
        kids[3] = GLib.Variant("ay", new_to)
        new_prefix = "deltas/%s/%s/" % (b64(new_to)[:2], b64(new_to)[2:])
        meta = {k.replace(prefix, new_prefix): v for k, v in meta.items()}
        out = rebuild()
elif how == "detached-type":
    meta[meta_key] = GLib.Variant("s", "signed, honestly")
    out = rebuild()
else:
    sys.exit("unknown tampering " + how)
open(dst, "wb").write(out)
PY
}

# handmade BASE NAME: a commit written object by object with libostree: BASE's tree with the
# rootfs holding one file called NAME; prints it, or why ostree refused to store it.
handmade() {
  "$PY" - "$@" "$REF" <<'PY'
import sys, time
import gi
gi.require_version("OSTree", "1.0")
from gi.repository import GLib, Gio, OSTree
repo = OSTree.Repo.new(Gio.File.new_for_path("raw"))
repo.open(None)
base, name, ref = sys.argv[1:4]
_, root, _ = repo.read_commit(base, None)
def child(f, n):
    c = f.get_child(n)
    c.ensure_resolved()
    return c
rootfs, manifest = child(root, "rootfs"), child(root, "manifest")
tool = child(child(rootfs, "bin"), "tool")
repo.prepare_transaction(None)
def write(kind, value):
    return bytes(repo.write_metadata(kind, None, value, None)[1])
try:
    rootfs_tree = write(OSTree.ObjectType.DIR_TREE, GLib.Variant(
        "(a(say)a(sayay))", ([(name, bytes.fromhex(tool.get_checksum()))], [])))
except GLib.Error as e:
    repo.abort_transaction(None)
    print("refused: " + e.message)
    sys.exit(0)
top = write(OSTree.ObjectType.DIR_TREE, GLib.Variant("(a(say)a(sayay))", (
    [("manifest", bytes.fromhex(manifest.get_checksum()))],
    [("rootfs", rootfs_tree, bytes.fromhex(rootfs.tree_get_metadata_checksum()))])))
now = int(time.time()).to_bytes(8, "big")  # ostree keeps the timestamp big-endian
commit = GLib.Variant("(a{sv}aya(say)sstayay)", (
    {"version": GLib.Variant("s", "2.0"), "ostree.ref-binding": GLib.Variant("as", [ref])},
    b"", [], "demo 2.0", "", int.from_bytes(now, sys.byteorder), top,
    bytes.fromhex(root.tree_get_metadata_checksum())))
checksum = write(OSTree.ObjectType.COMMIT, commit)
repo.commit_transaction(None)
print(checksum.hex())
PY
}

# refused DESCRIPTION PATTERN INSTALL-ARGUMENT...: install exits ${WANT:-1} with a message
# matching PATTERN (ERE), and the state and the running v1.0 are as they were.
refused() {
  local what=$1 pattern=$2 out rc=0
  shift 2
  out=$(hub_install "$@" 2>&1) || rc=$?
  out=${out//$'\n'/ }
  local -a wrong=()
  [ "$rc" -eq "${WANT:-1}" ] || wrong+=("exit $rc, not ${WANT:-1};")
  grep -Eq -- "$pattern" <<<"$out" || wrong+=("the message does not match /$pattern/;")
  local now
  now=$(running)
  [ "$now" = "$RUNNING" ] || wrong+=("demo is not as it ran: $now;")
  if [ "$(fingerprint)" != "$BASELINE" ]; then
    wrong+=("the state changed;")
    diff <(echo "$BASELINE") <(fingerprint) | head -n 20 | sed 's/^/# /' || true
  fi
  if [ ${#wrong[@]} -eq 0 ]; then
    ok "$what: refused ($out)"
  else
    not_ok "$what: ${wrong[*]} ($out)"
    # Judge the next case on its own: settle the state (an install of the current commit
    # clears STATE/tmp) and take it as the new baseline.
    hub_install v1.moatb >/dev/null 2>&1 || true
    BASELINE=$(fingerprint)
    RUNNING=$(running)
  fi
}

# build_refuses DESCRIPTION PATTERN DIR: moat-bundle build fails naming the fault, and
# writes no bundle.
build_refuses() {
  local what=$1 pattern=$2 out rc=0
  rm -f refused.moatb
  out=$("$BUNDLE" build --repo pub --key hub.key --output refused.moatb "$3" 2>&1) || rc=$?
  out=${out//$'\n'/ }
  if [ "$rc" -ne 0 ] && grep -Eq -- "$pattern" <<<"$out" && [ ! -e refused.moatb ]; then
    ok "moat-bundle build refuses $what ($out)"
  else
    not_ok "moat-bundle build refuses $what (exit $rc: $out)"
  fi
}

# --- the hub: v1.0 installed and running --------------------------------------------------

for k in hub other old; do "$BUNDLE" keygen "$k.key" "$k.pub" >/dev/null; done
mkdir keys
cp hub.pub keys/hub.pub
# old was trusted once, then revoked: the revocation wins.
cp old.pub keys/old.pub
cp old.pub keys/old.revoked

mkdir src
cp -a "$ROOTFS" src/rootfs
manifest demo 1.0 "$SLEEP" >src/manifest
c10=$(mb v1.moatb src)
manifest demo 0.9 "$SLEEP" >src/manifest
c09=$(mb v0.9.moatb src)
manifest demo 1.1 "$SLEEP" >src/manifest
c11=$(mb v1.1.moatb src)
manifest demo 1.2 "$SLEEP" >src/manifest
c12=$("$BUNDLE" build --repo good-remote --key hub.key src | awk 'NR == 1 { print $3 }')
ostree init --repo=raw --mode=archive

check "v1.0 installs" quiet hub_install v1.moatb
start_moatd
check "moatd runs v1.0" wait_for v1.0 10 runs "$c10"
RUNNING=$(running)
BASELINE=$(fingerprint)
diag "demo: $RUNNING"

# The tiny tree every bad variant starts from, and proof that it is acceptable when no fault
# is put in: built by moat-bundle, and by the ostree CLI, each installs in a scratch state.
mkdir -p tiny/rootfs/bin
echo hello-moat >tiny/rootfs/bin/tool
manifest demo 2.0 /bin/tool >tiny/manifest
good_mb=$(mb good.moatb tiny)
good_cli=$(commit tiny)
pack good-cli.moatb "$good_cli"
check "control: the tiny v2.0 bundle from moat-bundle installs (scratch state)" \
  scratch_install "$TESTDIR/scratch1" good.moatb
check "control: the tiny v2.0 bundle from ostree + moat-sign installs (scratch state)" \
  scratch_install "$TESTDIR/scratch2" good-cli.moatb
diag "v1.0 is $c10; tiny controls $good_mb (moat-bundle) and $good_cli (ostree CLI)"

# --- signatures and keys ----------------------------------------------------------------

pack unsigned.moatb "$(commit tiny)" unsigned
refused "an unsigned bundle" "unsigned: no ostree.sign.ed25519 signature" unsigned.moatb
mb untrusted.moatb tiny --key other.key >/dev/null
refused "a bundle signed by an untrusted key" "not signed by a trusted key" untrusted.moatb
mb revoked.moatb tiny --key old.key >/dev/null
refused "a bundle signed only by a revoked (once trusted) key" "signed only by a revoked key" \
  revoked.moatb
for len in 63 65; do
  rev=$(commit tiny)
  forge "$rev" "$len"
  pack "sig$len.moatb" "$rev" unsigned
  refused "a $len-byte signature" "signature 1 is $len bytes, not 64" "sig$len.moatb"
done
rev=$(commit tiny)
forge "$rev" many
pack many.moatb "$rev" unsigned
refused "17 signatures" "17 signatures \(at most 16\)" many.moatb
rev=$(commit tiny)
forge "$rev" "copy:$good_cli"
pack copied.moatb "$rev" unsigned
refused "a signature copied from another commit" "not signed by a trusted key" copied.moatb
pack sigtype.moatb "$(commit tiny --add-detached-metadata-string=ostree.sign.ed25519=trust-me)" unsigned
refused "a signature entry that is a string" "ostree.sign.ed25519 is of type s, not aay" sigtype.moatb
echo AAAA >keys/short.pub
refused "a good bundle while the keys dir holds a key of the wrong length" \
  "short.pub:1: not an ed25519 public key" good.moatb
rm keys/short.pub

# --- the file itself ----------------------------------------------------------------------

size=$(stat -c %s good.moatb)
head -c $((size / 2)) good.moatb >half.moatb
refused "a bundle cut in half" "not a bundle: truncated" half.moatb
head -c 10 good.moatb >ten.moatb
refused "a bundle cut to 10 bytes" "not a bundle: truncated" ten.moatb
: >empty.moatb
refused "an empty file" "not a bundle: truncated" empty.moatb
head -c 4096 /dev/urandom >random.moatb
refused "4 KiB of random bytes" "not a bundle" random.moatb
truncate -s 600M big.moatb
t0=$(date +%s%N)
refused "a 600 MiB (sparse) file" "larger than the 512 MiB limit" big.moatb
ms=$((($(date +%s%N) - t0) / 1000000))
check "... refused by its size, without reading it (${ms} ms)" test "$ms" -lt 3000
rm big.moatb
mkdir dir.moatb
refused "a directory" "not a regular file" dir.moatb
mkfifo fifo.moatb
# Nobody writes to it: it must be refused as not a regular file, not waited on.
HUB_TIMEOUT=3 refused "a FIFO (given 3 s)" "not a regular file" fifo.moatb
refused "a file that does not exist" "No such file or directory" missing.moatb
pack swapped.moatb "$(commit tiny)" hub.key --swap-endianness
refused "a delta of foreign byte order" "byte order is missing or foreign" swapped.moatb
rev=$(commit tiny)
"$SIGN" commit raw hub.key "$rev" >/dev/null
ostree static-delta generate --repo=raw --from="$good_cli" --to="$rev" --inline \
  --min-fallback-size=0 --filename=from.moatb >/dev/null 2>&1
refused "a delta from another commit, not from nothing" "a delta from another commit" from.moatb
d=$(variant fallback)
head -c 1500000 /dev/urandom >"$d/rootfs/bin/blob"
rev=$(commit "$d")
"$SIGN" commit raw hub.key "$rev" >/dev/null
ostree static-delta generate --repo=raw --empty --inline --min-fallback-size=1 \
  --filename=fallback.moatb "$rev" >/dev/null 2>&1
refused "a delta that leaves an object to be fetched elsewhere" "objects? fetched from elsewhere" \
  fallback.moatb

# --- tampering ----------------------------------------------------------------------------

tamper part-flip good.moatb part-flip.moatb
refused "a byte flipped inside the compressed delta part" "unpacking the bundle: .*corrupt" \
  part-flip.moatb
tamper content good.moatb content.moatb
refused "a file's content changed, the part recompressed with its checksum fixed" \
  "unpacking the bundle: .*Corrupted file object" content.moatb
tamper commit-flip good.moatb commit-flip.moatb
refused "the commit's metadata altered (its checksum no longer matches)" \
  "tampered: the commit's bytes do not match its checksum" commit-flip.moatb
tamper commit-rehash good.moatb commit-rehash.moatb
refused "the commit altered and its checksum recomputed" "not signed by a trusted key" \
  commit-rehash.moatb
tamper detached-type good.moatb detached-type.moatb
refused "detached metadata that is not a{sv}" "detached metadata is of type s, not a\{sv\}" \
  detached-type.moatb

# --- what the commit claims ---------------------------------------------------------------

pack other-ref.moatb "$(BIND=sandbox/other/$ARCH/stable commit tiny)"
refused "a commit bound to another sandbox's ref (manifest Name=demo)" \
  "Name=demo, but the bundle is bound to sandbox/other/" other-ref.moatb
pack two-refs.moatb "$(commit tiny --bind-ref="sandbox/demo/$ARCH/beta")"
refused "a commit bound to two refs" "bound to 2 refs" two-refs.moatb
pack no-ref.moatb "$(BIND='' commit tiny)"
refused "a commit bound to no ref" "not bound to a ref" no-ref.moatb
mb arch.moatb tiny --arch "$OTHER_ARCH" >/dev/null
refused "a bundle for $OTHER_ARCH on $ARCH" "built for $OTHER_ARCH; this hub is $ARCH" arch.moatb
refused "an older version (0.9) than installed" "0.9 is older than the installed 1.0" v0.9.moatb
d=$(variant same-version)
manifest demo 1.0 /bin/tool >"$d/manifest"
mb same-version.moatb "$d" >/dev/null
refused "the same version (1.0) from another commit" "1.0 is not newer than the installed 1.0" \
  same-version.moatb
WANT=77 refused "the installed commit again (exit 77, nothing to do)" "installed already" v1.moatb
pack expired.moatb "$(commit tiny --add-metadata=moat.expires='uint64 1000000000')"
refused "an expired bundle (moat.expires in 2001)" "demo 2.0 expired on 2001-09-09" expired.moatb
pack expires-type.moatb "$(commit tiny --add-metadata=moat.expires='"2099-01-01"')"
refused "moat.expires of type s" "moat.expires is of type s, not t" expires-type.moatb
pack expires-zero.moatb "$(commit tiny --add-metadata=moat.expires='uint64 0')"
refused "moat.expires of 0" "moat.expires is 0" expires-zero.moatb
pack no-version.moatb "$(V=none commit tiny)"
refused "a commit without a version" "the commit has no version" no-version.moatb
pack bad-name.moatb "$(BIND="sandbox/Bad_Name/$ARCH/stable" commit tiny)"
refused "a ref whose name is not a safe identifier (sandbox/Bad_Name/...)" \
  "not sandbox/NAME/ARCH/BRANCH" bad-name.moatb

# --- the manifest -------------------------------------------------------------------------

d=$(variant unknown-key)
manifest demo 2.0 /bin/tool Colour=blue >"$d/manifest"
pack unknown-key.moatb "$(commit "$d")"
refused "a manifest with an unknown key" "manifest:5: Colour" unknown-key.moatb
d=$(variant capability)
manifest demo 2.0 /bin/tool "[Security]" Capabilities=CAP_SYS_ADMIN >"$d/manifest"
build_refuses "a manifest with a forbidden capability" "CAP_SYS_ADMIN is not allowed" "$d"
pack capability.moatb "$(commit "$d")"
refused "a manifest asking for CAP_SYS_ADMIN" "CAP_SYS_ADMIN is not allowed for sandboxes" \
  capability.moatb
d=$(variant syscall)
manifest demo 2.0 /bin/tool "[Security]" SystemCalls=kexec_load >"$d/manifest"
pack syscall.moatb "$(commit "$d")"
refused "a manifest allowing the kexec_load system call" "kexec_load" syscall.moatb
d=$(variant manifest-name)
manifest other 2.0 /bin/tool >"$d/manifest"
pack manifest-name.moatb "$(commit "$d")"
refused "a manifest Name (other) that differs from the ref" \
  "Name=other, but the bundle is bound to $REF" manifest-name.moatb
d=$(variant manifest-version)
manifest demo 2.1 /bin/tool >"$d/manifest"
pack manifest-version.moatb "$(commit "$d")"
refused "a manifest Version (2.1) that differs from the commit's (2.0)" \
  "Version=2.1, but the commit says 2.0" manifest-version.moatb

# --- the tree -----------------------------------------------------------------------------

d=$(variant no-manifest)
rm "$d/manifest"
pack no-manifest.moatb "$(commit "$d")"
refused "no manifest" "lacks its manifest" no-manifest.moatb
d=$(variant extra)
echo "#!/bin/sh" >"$d/install.sh"
build_refuses "an extra top-level entry" "install.sh" "$d"
pack extra.moatb "$(commit "$d")"
refused "an extra top-level entry" "'install.sh' at the top of the bundle" extra.moatb
d=$(variant rootfs-link)
rm -r "$d/rootfs"
ln -s / "$d/rootfs"
pack rootfs-link.moatb "$(commit "$d")"
refused "rootfs a symlink to /" "'rootfs' at the top of the bundle" rootfs-link.moatb

# tree_fault NAME DESCRIPTION PATTERN: v/NAME (made by the caller) is refused by moat-bundle,
# and the same tree committed with the ostree CLI is refused by the hub.
tree_fault() {
  build_refuses "$2" "$3" "v/$1"
  pack "$1.moatb" "$(commit "v/$1")"
  refused "$2" "$3" "$1.moatb"
}
# A file's mode may be refused by ostree itself, as the bare-user-only stage takes the delta
# apart, before moat's rules see the tree; either refusal names the bits.
d=$(variant setuid)
chmod 4755 "$d/rootfs/bin/tool"
tree_fault setuid "a setuid file" \
  "setuid or setgid \(mode 4755\)|invalid mode 0104755 with bits 04000"
d=$(variant setgid)
chmod 2755 "$d/rootfs/bin/tool"
tree_fault setgid "a setgid file" \
  "setuid or setgid \(mode 2755\)|invalid mode 0102755 with bits 02000"
d=$(variant setgid-dir)
chmod 2755 "$d/rootfs/bin"
tree_fault setgid-dir "a setgid directory" "rootfs/bin: setuid or setgid \(mode 2755\)"
d=$(variant ww-file)
chmod 0666 "$d/rootfs/bin/tool"
tree_fault ww-file "a world-writable file" \
  "rootfs/bin/tool: world-writable|invalid mode 0100666 with bits 00002"
d=$(variant ww-dir)
chmod 0777 "$d/rootfs/bin"
tree_fault ww-dir "a world-writable directory" "rootfs/bin: world-writable"
d=$(variant data-link)
ln -s /var/lib "$d/rootfs/data"
tree_fault data-link "rootfs/data an absolute symlink" "rootfs/data: a symlink where the runtime mounts"
d=$(variant etc-link)
ln -s /etc "$d/rootfs/etc"
tree_fault etc-link "rootfs/etc an absolute symlink" "rootfs/etc: a symlink where the runtime mounts"
d=$(variant escape)
ln -s ../../../etc/shadow "$d/rootfs/bin/shadow"
tree_fault escape "a symlink escaping by ../../.." "leads out of the bundle"
d=$(variant newline)
echo x >"$d/rootfs/bin/"$'evil\nname'
tree_fault newline "a file name with a newline" 'evil\\nname: a name .*control characters'
d=$(variant control)
echo x >"$d/rootfs/bin/"$'esc\033[2J'
tree_fault control "a file name with an escape character" 'esc\\033\[2J: a name .*control characters'
d=$(variant deep)
deep=$d/rootfs
for i in $(seq 50); do deep=$deep/d$i; done
mkdir -p "$deep"
tree_fault deep "a tree 51 directories deep" "deeper than 48 directories"

rev=$(handmade "$good_cli" "")
if [ "${#rev}" -eq 64 ]; then
  pack empty-name.moatb "$rev"
  refused "a file with an empty name (written object by object)" \
    "a name that is empty" empty-name.moatb
else
  diag "ostree would not store a file with an empty name: $rev"
fi
for name in "a/b" ".." "."; do
  out=$(handmade "$good_cli" "$name")
  diag "a file named '$name', written object by object: ostree $out"
done

# Faults ostree cannot carry: moat-bundle must refuse them before they are lost in the commit.
d=$(variant device)
mknod "$d/rootfs/null" c 1 3
out=$(commit "$d" 2>&1 || true)
diag "ostree commit of a tree with a device node: ${out//$'\n'/ }"
build_refuses "a device node" "rootfs/null: a device node" "$d"
d=$(variant hardlink)
echo "a secret of the build host" >outside-secret
ln outside-secret "$d/rootfs/bin/secret"
build_refuses "a hard link to a file outside the tree" "rootfs/bin/secret: a hard link to a file outside" "$d"
d=$(variant hardlink-inside)
ln "$d/rootfs/bin/tool" "$d/rootfs/bin/tool2"
check "... but a hard link inside the tree is fine" \
  quiet "$BUNDLE" build --repo pub --key hub.key "$d"

# --- remotes ------------------------------------------------------------------------------

# serve DIR REV: an archive repo at DIR with $REF at REV, published as a web server would.
serve() {
  ostree init --repo="$1" --mode=archive
  ostree pull-local --repo="$1" raw "$2" >/dev/null
  ostree refs --repo="$1" --create="$REF" "$2"
  ostree summary --repo="$1" -u
}
rev=$(commit tiny)
serve r-unsigned "$rev"
refused "remote: an unsigned commit" "unsigned: no ostree.sign.ed25519 signature" demo --remote "file://$TESTDIR/r-unsigned"
rev=$(commit tiny)
"$SIGN" commit raw other.key "$rev" >/dev/null
serve r-untrusted "$rev"
refused "remote: a commit signed by an untrusted key" "not signed by a trusted key" \
  demo --remote "file://$TESTDIR/r-untrusted"
d=$(variant r-other)
manifest other 2.0 /bin/tool >"$d/manifest"
rev=$(BIND=sandbox/other/$ARCH/stable commit "$d")
"$SIGN" commit raw hub.key "$rev" >/dev/null
serve r-wrong-ref "$rev"
refused "remote: $REF holding a commit bound to sandbox/other" \
  "$REF holds a commit bound to sandbox/other/$ARCH/stable|no requested ref .$REF. in ref binding" \
  demo --remote "file://$TESTDIR/r-wrong-ref"
rev=$(V=0.9 commit tiny)
"$SIGN" commit raw hub.key "$rev" >/dev/null
serve r-older "$rev"
refused "remote: an older version" "0.9 is older than the installed 1.0" \
  demo --remote "file://$TESTDIR/r-older"
refused "remote: a sandbox the remote does not have" "sandbox/ghost/$ARCH/stable" \
  ghost --remote "file://$TESTDIR/r-untrusted"
refused "remote: a name that is not a sandbox name" "'Bad_Name' is not a sandbox name" \
  Bad_Name --remote "file://$TESTDIR/r-unsigned"

# --- accepted at last ---------------------------------------------------------------------

check "--allow-downgrade installs v0.9" quiet hub_install v0.9.moatb --allow-downgrade
check "... and moatd runs v0.9" wait_for v0.9 10 runs "$c09"
check "control: the signed v1.1 bundle is accepted" quiet hub_install v1.1.moatb
check "... and moatd runs v1.1" wait_for v1.1 10 runs "$c11"
check "control: v1.2 from a remote is accepted" \
  quiet hub_install demo --remote "file://$TESTDIR/good-remote"
check "... and moatd runs v1.2" wait_for v1.2 10 runs "$c12"
check "the hub's repo passes ostree fsck" sh -c "ostree fsck --repo='$STATE/repo' >/dev/null 2>&1"
diag "$n checks in $(($(date +%s) - started)) s"
