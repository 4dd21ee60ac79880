#include "name.h"

#include <string.h>

gboolean
moat_name_is_valid (const char *name)
{
  if (name == NULL)
    return FALSE;
  gsize len = strlen (name);
  if (len == 0 || len > MOAT_NAME_MAX || name[0] == '-' || name[len - 1] == '-')
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_islower (*c) && !g_ascii_isdigit (*c) && *c != '-')
      return FALSE;
  return TRUE;
}
