/* SELinux labels for sandboxes: one type for every sandbox's processes and one for its files,
 * kept apart from each other by the MCS category pair of the sandbox's identity. */
#include "selinux.h"

#include <errno.h>
#include <ftw.h>
#include <string.h>

#include <selinux/selinux.h>

#include "moat-error.h"

gboolean
moat_selinux_enabled (void)
{
  /* -1 (cannot tell) counts as disabled: the labels would have nothing to enforce them. */
  return is_selinux_enabled () > 0;
}

static char *
label (const char *user_role_type, const MoatIdentity *identity)
{
  g_autofree char *level = moat_identity_mcs_level (identity);
  return g_strdup_printf ("%s:%s", user_role_type, level);
}

char *
moat_selinux_process_label (const MoatIdentity *identity)
{
  return label ("system_u:system_r:" MOAT_SELINUX_PROCESS_TYPE, identity);
}

char *
moat_selinux_init_label (const MoatIdentity *identity)
{
  return label ("system_u:system_r:" MOAT_SELINUX_INIT_TYPE, identity);
}

char *
moat_selinux_file_label (const MoatIdentity *identity)
{
  return label ("system_u:object_r:" MOAT_SELINUX_FILE_TYPE, identity);
}

/* nftw has no user pointer; moatd labels from its one thread. */
static const char *tree_label;
static int tree_errno;
static char *tree_failed;

static int
label_one (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  if (type == FTW_NS || type == FTW_DNR || lsetfilecon (path, tree_label) < 0)
    {
      tree_errno = type == FTW_NS || type == FTW_DNR ? EACCES : errno;
      tree_failed = g_strdup (path);
      return 1;
    }
  return 0;
}

gboolean
moat_selinux_label_tree (const char *path, const MoatIdentity *identity, GError **error)
{
  g_autofree char *label = moat_selinux_file_label (identity);
  char *current = NULL;
  if (lgetfilecon (path, &current) >= 0)
    {
      gboolean same = strcmp (current, label) == 0;
      freecon (current);
      if (same)
        return TRUE;
    }
  tree_label = label;
  tree_errno = 0;
  int rc = nftw (path, label_one, 16, FTW_PHYS | FTW_MOUNT);
  tree_label = NULL;
  g_autofree char *failed = g_steal_pointer (&tree_failed);
  if (rc != 0)
    return moat_error_errno (error, rc < 0 ? errno : tree_errno, "set the SELinux label of",
                             failed != NULL ? failed : path);
  return TRUE;
}
