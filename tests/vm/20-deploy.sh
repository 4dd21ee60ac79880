#!/bin/bash
# GRUB follows OSTree's deployments: a deployment staged on the running hub (as `moat upgrade`
# stages one) is finalized at shutdown by ostree-finalize-staged.service, which has libostree
# regenerate GRUB's menu (/usr/sbin/grub-mkconfig, os/grub/moat-grub-cfg) on the read-only
# sysroot; the next boot runs the new deployment, the old one stays as the rollback, and /etc
# changes and /var data come along.
# Usage: tests/vm/20-deploy.sh IMAGE.qcow2
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

vm_start
vm_wait_booted 600 || { not_ok "boots to multi-user"; exit 1; }
ok "boots to multi-user (systemd: $VM_STATE, ${BOOT_SECONDS} s)"

booted() { guest 'ostree admin status' | awk '$1 == "*" && $2 == "moat" { print $3 }'; }
first=$(booted)
check "first boot runs deployment serial 0 ($first)" test "${first##*.}" = 0
guest 'echo kept > /etc/moat/vm-test-etc && mkdir -p /var/lib/moat/vm-test && echo kept > /var/lib/moat/vm-test/data' >/dev/null
check "a deployment of the tracked ref is staged" \
  guest 'ostree admin deploy --stage moat:os/x86_64/stable'
check "the staged deployment waits for the reboot" guest 'ostree admin status | grep -q "(staged)"'

if vm_reboot 600; then
  ok "reboots into the staged deployment (systemd: $VM_STATE, ${BOOT_SECONDS} s)"
else
  not_ok "reboots into the staged deployment"
  exit 1
fi
second=$(booted)
guest 'ostree admin status' | sed 's/^/# /'
check "the new deployment (serial 1) is booted" test "$second" = "${first%.*}.1"
check "the first deployment is kept as the rollback" \
  guest "ostree admin status | grep -q '^  moat $first (rollback)'"
check "GRUB's menu has both deployments" \
  test "$(guest 'grep -c ^menuentry /boot/loader/grub.cfg')" -eq 2
karg=$(guest 'grep -o "ostree=[^ ]*" /proc/cmdline')
check "GRUB's first entry is the booted deployment" \
  guest "grep -m1 '^  linux ' /boot/loader/grub.cfg | grep -q ' $karg' && readlink -f /sysroot${karg#ostree=} | grep -q '/$second\$'"
check "a change to /etc survives the deployment (3-way merge)" \
  test "$(guest 'cat /etc/moat/vm-test-etc')" = kept
check "/var data survives the deployment" test "$(guest 'cat /var/lib/moat/vm-test/data')" = kept
check "moatd is active after the deployment" test "$(guest 'systemctl is-active moatd')" = active

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
