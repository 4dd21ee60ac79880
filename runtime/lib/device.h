/* Access to the device nodes a manifest declares. A sandbox's uids are unprivileged on the
 * host, so a node like /dev/ttyUSB0 (root:dialout 0660) is granted to the sandbox's uid with
 * a POSIX ACL entry while it runs, and the entry is removed when it stops. Where there is no
 * device cgroup (this build host), the ACL is also what keeps an "ro" device read-only. */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* Give UID read (and write when WRITE) access to the device node at PATH. Refuses anything
 * that is not a character or block device, and does not follow a symlink at PATH. */
gboolean moat_device_grant (const char *path, uid_t uid, gboolean write, GError **error);

/* Remove UID's ACL entry from PATH; a missing node or entry is fine. */
gboolean moat_device_revoke (const char *path, uid_t uid, GError **error);
