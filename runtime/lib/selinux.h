/* SELinux labels for sandboxes. The type names are ours (os/selinux/moat.te): Debian 12's
 * reference policy has no container_t. */
#pragma once

#include "identity.h"

#define MOAT_SELINUX_PROCESS_TYPE "moat_sandbox_t"
/* moat-init, before it execs an nspawn sandbox's payload into MOAT_SELINUX_PROCESS_TYPE. */
#define MOAT_SELINUX_INIT_TYPE "moat_init_t"
#define MOAT_SELINUX_FILE_TYPE "moat_sandbox_file_t"

/* Whether the running kernel has SELinux enabled (libselinux's is_selinux_enabled). */
gboolean moat_selinux_enabled (void);

/* "system_u:system_r:moat_sandbox_t:s0:cLOW,cHIGH" */
char *moat_selinux_process_label (const MoatIdentity *identity);

/* "system_u:system_r:moat_init_t:s0:cLOW,cHIGH": what systemd-nspawn starts moat-init as. */
char *moat_selinux_init_label (const MoatIdentity *identity);

/* "system_u:object_r:moat_sandbox_file_t:s0:cLOW,cHIGH" */
char *moat_selinux_file_label (const MoatIdentity *identity);

/* Give the directory PATH and everything beneath it (on the same file system, symlinks not
 * followed) the file label of IDENTITY, unless PATH already has it: a sandbox's /data, which
 * only its own category pair may then touch. Files the sandbox creates there later inherit
 * its label, so the walk happens once, or after the data came from elsewhere. */
gboolean moat_selinux_label_tree (const char *path, const MoatIdentity *identity, GError **error);
