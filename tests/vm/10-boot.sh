#!/bin/bash
# The image boots to multi-user on its own, moatd runs, and the system is the read-only OSTree
# system DESIGN.md §3 describes: / and /usr read-only, /etc and /var writable, the booted
# deployment known to OSTree and in GRUB's menu, the host firewall default-deny.
# Usage: tests/vm/10-boot.sh IMAGE.qcow2
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

# On a disk 2 GiB larger than the image, as when it is written to a bigger card.
VM_DISK_SIZE=$(($(qemu-img info --output=json "$IMAGE" | python3 -c 'import json, sys; print(json.load(sys.stdin)["virtual-size"])') + (2 << 30)))
vm_start
if vm_wait_booted 600; then
  ok "boots to multi-user (systemd: $VM_STATE)"
else
  not_ok "boots to multi-user (systemd: ${VM_STATE:-no answer})"
  exit 1
fi
diag "time to multi-user under TCG: ${BOOT_SECONDS} s (QEMU start to the end of boot)"
guest 'systemd-analyze time' | sed 's/^/# /' || true
[ "$VM_STATE" = running ] || guest 'systemctl --failed --no-legend' | sed 's/^/# failed: /'

check "moatd is active" test "$(guest 'systemctl is-active moatd')" = active
check "moat status answers through moatd's socket" guest 'moat status'

# / is the deployment's root: OSTree makes it immutable (chattr +i) rather than a read-only mount.
writes_fail() { ! guest "touch $1/.moat-vm-test" >/dev/null; }
writes_work() { guest "touch $1/.moat-vm-test && rm $1/.moat-vm-test" >/dev/null; }
check "/ is read-only" writes_fail ""
check "/usr is read-only" writes_fail /usr
check "/sysroot is mounted read-only (sysroot.readonly)" \
  guest 'findmnt -no OPTIONS /sysroot | grep -qw ro'
check "/etc is writable" writes_work /etc
check "/var is writable" writes_work /var
check "/var is the stateroot's, mounted by OSTree" \
  guest 'findmnt -no SOURCE /var | grep -q "ostree/deploy/moat/var"'
check "/boot is mounted (the moat-boot partition)" \
  guest 'findmnt -no SOURCE /boot && test -d /boot/loader/entries'

disk=$(guest 'lsblk -bdno SIZE /dev/vda')
root_part=$(guest 'lsblk -bno SIZE /dev/vda3')
root_fs=$(guest 'findmnt -bno SIZE /sysroot')
diag "disk $disk bytes, root partition $root_part, root file system $root_fs"
check "moat-grow-root grew the root partition to the end of the larger disk" \
  test "$((disk - root_part))" -lt $((300 << 20))
check "... and its file system with it (more than 5 GiB now)" test "$root_fs" -gt $((5 << 30))
check "/boot kept its 256 MiB" test "$(guest 'lsblk -bno SIZE /dev/vda2')" = $((256 << 20))
check "moat-grow-root.service succeeded" test "$(guest 'systemctl is-active moat-grow-root')" = active
check "the automatic-update timer is on (moat-upgrade.timer)" \
  test "$(guest 'systemctl is-active moat-upgrade.timer')" = active
check "... and so is the trial-boot deadline (moat-boot-deadline.timer)" \
  test "$(guest 'systemctl is-active moat-boot-deadline.timer')" = active
check "Debian's apt timers are masked" \
  test "$(guest 'systemctl is-enabled apt-daily.timer apt-daily-upgrade.timer' | sort -u)" = masked

status=$(guest 'ostree admin status')
printf '%s\n' "$status" | sed 's/^/# /'
booted=$(printf '%s\n' "$status" | awk '$1 == "*" && $2 == "moat" { print $3 }')
check "ostree admin status shows the booted deployment" test -n "$booted"
check "the booted deployment is the signed ref's commit" \
  guest "test \"\$(ostree rev-parse moat:os/x86_64/stable).0\" = '$booted'"
# GRUB's menu boots what the kernel was booted with: the ostree= argument, which leads to the
# booted deployment.
karg=$(guest 'grep -o "ostree=[^ ]*" /proc/cmdline')
check "the kernel command line names the booted deployment ($karg)" \
  guest "readlink -f /sysroot${karg#ostree=} | grep -q '/$booted\$'"
check "GRUB's menu (/boot/loader/grub.cfg) has that entry, first" \
  guest "grep -m1 '^  linux ' /boot/loader/grub.cfg | grep -q ' $karg'"

check "the hostname is moat's, not the build host's" test "$(guest 'hostname')" = moat
check "names resolve through systemd-resolved, not the build host's resolv.conf" \
  guest 'systemctl is-active -q systemd-resolved && grep -q "^nameserver 127.0.0.53" /etc/resolv.conf'

ruleset=$(guest 'nft list ruleset')
check "nftables: table inet filter is loaded" grep -q 'table inet filter' <<<"$ruleset"
check "nftables: input and forward are default-deny" \
  test "$(grep -cE 'hook (input|forward) priority filter; policy drop;' <<<"$ruleset")" -eq 2

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
