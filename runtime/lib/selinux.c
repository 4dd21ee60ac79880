/* SELinux labels for sandboxes: one type for every sandbox's processes and one for its files,
 * kept apart from each other by the MCS category pair of the sandbox's identity. */
#include "selinux.h"

#include <selinux/selinux.h>

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
moat_selinux_file_label (const MoatIdentity *identity)
{
  return label ("system_u:object_r:" MOAT_SELINUX_FILE_TYPE, identity);
}
