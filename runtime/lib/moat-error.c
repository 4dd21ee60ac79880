#include "moat-error.h"

#include <errno.h>

G_DEFINE_QUARK (moat - error - quark, moat_error)

gboolean
moat_error_errno (GError **error, int errsv, const char *verb, const char *object)
{
  int code = errsv == ENOENT                       ? MOAT_ERROR_NOT_FOUND
             : errsv == EEXIST                     ? MOAT_ERROR_EXISTS
             : (errsv == EACCES || errsv == EPERM) ? MOAT_ERROR_PERMISSION
                                                   : MOAT_ERROR_FAILED;
  g_set_error (error, MOAT_ERROR, code, "%s '%s': %s", verb, object, g_strerror (errsv));
  return FALSE;
}

gboolean
moat_error_neg (GError **error, int neg_errno, const char *verb, const char *object)
{
  return moat_error_errno (error, neg_errno < 0 ? -neg_errno : neg_errno, verb, object);
}

gboolean
moat_error_invalid (GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, MOAT_ERROR, MOAT_ERROR_INVALID, message);
  return FALSE;
}
