# Moat OS, arm64: the U-Boot boot script (boot.scr, made with `mkimage -T script`) on the FAT
# partition, where U-Boot's distro boot finds it: on a Raspberry Pi 4 after the Pi firmware
# started U-Boot (u-boot-rpi), under QEMU's virt machine from u-boot-qemu. ${devtype} and
# ${devnum} are the disk distro boot found it on.
#   partition 1 (FAT): the firmware, this script, the boot counter moat/bootenv;
#   partition 2 (ext4, moat-boot): OSTree's /boot. OSTree rewrites loader/uEnv.txt on every
#   deploy: kernel_image, ramdisk_image, bootargs for the default deployment, and the same
#   with a 2 for the one before it.
#
# Boot counting (docs/updates.md), as os/grub/grub.cfg does on x86-64: `moat upgrade` puts a
# new deployment on trial with moat_trial and moat_boots_left in moat/bootenv. Each boot of it
# counts one down here, before the kernel is loaded, so a kernel that never reaches userspace
# counts too; moatd ends the trial once the boot is healthy. With none left, the previous
# deployment boots, and moatd there drops the failed one. Debian's U-Boot has no bootcount
# support, and fatwrite is the one write this U-Boot can make on both machines.
setenv moat_fw ${devnum}:1
setenv moat_boot ${devnum}:2
setenv moat_trial
setenv moat_boots_left
setenv moat_boot_attempts
# (An empty file, as the image ships it, is not imported: a size of 0 means "up to a NUL".)
if load ${devtype} ${moat_fw} ${kernel_addr_r} moat/bootenv && test "${filesize}" != 0; then
  env import -t ${kernel_addr_r} ${filesize} moat_trial moat_boots_left moat_boot_attempts
fi
# (U-Boot's `exit` does not leave a script from inside an `if`: each step tests moat_ok.)
setenv moat_ok
if load ${devtype} ${moat_boot} ${kernel_addr_r} loader/uEnv.txt; then
  env import -t ${kernel_addr_r} ${filesize} kernel_image ramdisk_image bootargs kernel_image2 ramdisk_image2 bootargs2
  setenv moat_ok 1
else
  echo "Moat: no loader/uEnv.txt on ${devtype} ${moat_boot}"
fi
if test -n "${moat_ok}" && test -n "${moat_trial}"; then
  if test "${moat_boots_left}" -gt 0; then
    setexpr moat_boots_left ${moat_boots_left} - 1
    echo "Moat: trial boot of ${moat_trial}, ${moat_boots_left} left after this one"
    env export -t ${kernel_addr_r} moat_boot_attempts moat_boots_left moat_trial
    fatwrite ${devtype} ${moat_fw} ${kernel_addr_r} moat/bootenv ${filesize}
  elif test -n "${kernel_image2}"; then
    echo "Moat: ${moat_trial} used up its boots; booting the deployment before it"
    setenv kernel_image ${kernel_image2}
    setenv ramdisk_image ${ramdisk_image2}
    setenv bootargs ${bootargs2}
  fi
fi
if test -n "${moat_ok}" && load ${devtype} ${moat_boot} ${kernel_addr_r} ${kernel_image}; then
  # A compressed Image is unpacked by booti into this scratch area, well past the initramfs.
  setenv kernel_comp_size ${filesize}
  if test -z "${kernel_comp_addr_r}"; then
    setexpr kernel_comp_addr_r ${ramdisk_addr_r} + 0x8000000
  fi
  if load ${devtype} ${moat_boot} ${ramdisk_addr_r} ${ramdisk_image}; then
    booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
  fi
fi
