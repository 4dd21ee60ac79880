#!/usr/bin/python3
"""An independent check of Moat's commit signatures: PyNaCl (not libsodium through our C code)
verifies each ostree.sign.ed25519 signature over the commit object's bytes, which are read
straight from the repository, with the detached metadata read through the ostree CLI.

usage: verify-ed25519.py REPO CHECKSUM PUBLIC_KEY_BASE64
exit 0 when one signature verifies with the key, 1 otherwise."""
import base64
import os
import subprocess
import sys

import nacl.exceptions
import nacl.signing
from gi.repository import GLib


def main(repo, checksum, public_b64):
    key = nacl.signing.VerifyKey(base64.b64decode(public_b64, validate=True))
    # archive and bare repositories keep commit objects as their serialized GVariant.
    with open(os.path.join(repo, "objects", checksum[:2], checksum[2:] + ".commit"), "rb") as f:
        commit = f.read()
    text = subprocess.run(
        ["ostree", "show", "--repo=" + repo,
         "--print-detached-metadata-key=ostree.sign.ed25519", checksum],
        check=True, capture_output=True, text=True).stdout
    signatures = GLib.Variant.parse(GLib.VariantType.new("aay"), text, None, None)
    for i in range(signatures.n_children()):
        signature = bytes(signatures.get_child_value(i).unpack())
        try:
            key.verify(commit, signature)
            print(f"signature {i + 1} verifies with {public_b64}")
            return 0
        except nacl.exceptions.BadSignatureError:
            continue
    print("no signature verifies", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
