/* The bootloader's environment, where the boot counter for automatic rollback lives
 * (docs/updates.md): a file the bootloader itself can write, so that it counts a boot before
 * the kernel starts. Two homes, one per bootloader:
 *   - x86-64, GRUB: its environment block /boot/grub/grubenv. The file is exactly 1024 bytes:
 *     "# GRUB Environment Block\n", then "name=value\n" lines, then '#' padding. GRUB's save_env
 *     rewrites it in place.
 *   - arm64, U-Boot: /boot/firmware/moat/bootenv on the FAT firmware partition, which the boot
 *     script (os/uboot/boot.cmd) reads with `env import -t` and rewrites with `env export -t`
 *     and fatwrite. The file is U-Boot's text environment: "name=value" lines, '#' lines skipped,
 *     ended by a NUL that U-Boot may or may not have written.
 * Either way moat replaces the file with one rename, and reads and writes only what both
 * bootloaders read back unchanged: names of [A-Za-z0-9_], values without a control character or
 * a backslash. */
#pragma once

#include <glib.h>

#define MOAT_GRUBENV_SIZE 1024
#define MOAT_UBOOTENV_MAX_SIZE 4096

typedef enum
{
  MOAT_BOOTENV_GRUB,  /* GRUB's environment block */
  MOAT_BOOTENV_UBOOT, /* U-Boot's text environment */
} MoatBootEnvFormat;

/* The variables of an environment block, name to value. Refused: a block that is not 1024
 * bytes, lacks the header, or holds a line that is not name=value; values GRUB escaped with a
 * backslash are refused too (moat never writes them). */
GHashTable *moat_grubenv_parse (const char *data, gsize len, GError **error);

/* VARS as a 1024-byte block, names sorted. Refused: a name that is not [A-Za-z0-9_]+, a value
 * with a backslash or a control character, or more than fits. */
GBytes *moat_grubenv_format (GHashTable *vars, GError **error);

/* The variables of a U-Boot text environment, name to value. It ends at the first NUL; blank
 * lines and lines starting with '#' are skipped, and the last line needs no newline. Refused:
 * more than 4096 bytes, anything but NULs after the first NUL, or a line that is not name=value
 * with a name and value as moat_grubenv_format () takes them. */
GHashTable *moat_ubootenv_parse (const char *data, gsize len, GError **error);

/* VARS as a U-Boot text environment: "name=value\n" lines, names sorted, no NUL. Refused as
 * moat_grubenv_format () refuses, and beyond 4096 bytes. */
GBytes *moat_ubootenv_format (GHashTable *vars, GError **error);

/* Read PATH, in FORMAT; G_FILE_ERROR_NOENT when it does not exist. */
GHashTable *moat_bootenv_read (MoatBootEnvFormat format, const char *path, GError **error);

/* Replace PATH with VARS in FORMAT, durably. */
gboolean moat_bootenv_write (MoatBootEnvFormat format, const char *path, GHashTable *vars,
                             GError **error);
