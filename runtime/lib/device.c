#include "device.h"

#include <acl/libacl.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/acl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "moat-error.h"

/* The node itself, opened without following a symlink, named through /proc so the ACL calls
 * act on exactly what was checked. */
/* Nodes no sandbox may have whatever its manifest says: block devices (a disk holds the
 * host's own files) and the memory class (major 1) but for its harmless members. */
static gboolean
device_allowed (const char *path, const struct stat *st, GError **error)
{
  if (S_ISBLK (st->st_mode))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_PERMISSION,
                        "device '%s' is a block device: sandboxes may not have one", path),
           FALSE;
  unsigned minor_number = minor (st->st_rdev);
  if (major (st->st_rdev) == 1 && minor_number != 3 && minor_number != 5 && minor_number != 7
      && minor_number != 8 && minor_number != 9)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_PERMISSION,
                        "device '%s' (1:%u) exposes kernel memory or logs: not allowed", path,
                        minor_number),
           FALSE;
  return TRUE;
}

static int
open_device (const char *path, gboolean grant, GError **error)
{
  int fd = open (path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return moat_error_errno (error, errno, "open device", path), -1;
  struct stat st;
  if (fstat (fd, &st) < 0 || !(S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode)))
    {
      close (fd);
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "'%s' is not a device node", path);
      return -1;
    }
  if (grant && !device_allowed (path, &st, error))
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* Find UID's entry in ACL, or NULL. */
static acl_entry_t
find_user_entry (acl_t acl, uid_t uid)
{
  acl_entry_t entry;
  for (int which = ACL_FIRST_ENTRY; acl_get_entry (acl, which, &entry) == 1; which = ACL_NEXT_ENTRY)
    {
      acl_tag_t tag;
      if (acl_get_tag_type (entry, &tag) < 0 || tag != ACL_USER)
        continue;
      uid_t *qualifier = acl_get_qualifier (entry);
      gboolean match = qualifier != NULL && *qualifier == uid;
      acl_free (qualifier);
      if (match)
        return entry;
    }
  return NULL;
}

static gboolean
update_acl (const char *path, uid_t uid, gboolean grant, gboolean write, GError **error)
{
  int fd = open_device (path, grant, error);
  if (fd < 0)
    return FALSE;
  g_autofree char *proc_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  acl_t acl = acl_get_file (proc_path, ACL_TYPE_ACCESS);
  gboolean ok = acl != NULL;
  acl_entry_t entry = ok ? find_user_entry (acl, uid) : NULL;
  if (ok && grant)
    {
      acl_permset_t perms;
      if (entry == NULL)
        ok = acl_create_entry (&acl, &entry) == 0 && acl_set_tag_type (entry, ACL_USER) == 0
             && acl_set_qualifier (entry, &uid) == 0;
      ok = ok && acl_get_permset (entry, &perms) == 0 && acl_clear_perms (perms) == 0
           && acl_add_perm (perms, ACL_READ) == 0
           && (!write || acl_add_perm (perms, ACL_WRITE) == 0)
           && acl_set_permset (entry, perms) == 0;
    }
  else if (ok && entry != NULL)
    ok = acl_delete_entry (acl, entry) == 0;
  else if (ok)
    {
      acl_free (acl);
      close (fd);
      return TRUE;
    }
  ok = ok && acl_calc_mask (&acl) == 0 && acl_set_file (proc_path, ACL_TYPE_ACCESS, acl) == 0;
  int errsv = errno;
  if (acl != NULL)
    acl_free (acl);
  close (fd);
  if (!ok)
    return moat_error_errno (error, errsv,
                             grant ? "grant access to device" : "revoke access to device", path);
  return TRUE;
}

gboolean
moat_device_grant (const char *path, uid_t uid, gboolean write, GError **error)
{
  return update_acl (path, uid, TRUE, write, error);
}

gboolean
moat_device_revoke (const char *path, uid_t uid, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  if (update_acl (path, uid, FALSE, FALSE, &local_error))
    return TRUE;
  if (g_error_matches (local_error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND))
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}
