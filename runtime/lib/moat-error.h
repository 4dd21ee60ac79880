/* The one error domain of the Moat runtime. */
#pragma once

#include <glib.h>

#define MOAT_ERROR (moat_error_quark ())

typedef enum
{
  MOAT_ERROR_FAILED,      /* anything without a better code */
  MOAT_ERROR_INVALID,     /* input (a manifest, a request, an argument) was refused */
  MOAT_ERROR_NOT_FOUND,   /* no such sandbox, file or syscall */
  MOAT_ERROR_EXISTS,      /* already there / already running */
  MOAT_ERROR_NOT_RUNNING, /* the sandbox is not running */
  MOAT_ERROR_UNSUPPORTED, /* the host cannot do what was asked */
  MOAT_ERROR_PERMISSION,  /* the caller may not do this */
} MoatErrorCode;

GQuark moat_error_quark (void);

/* Set *error from errno for an operation on an object, as "VERB 'OBJECT': strerror".
 * Always returns FALSE so callers can `return moat_error_errno (...)`. */
gboolean moat_error_errno (GError **error, int errsv, const char *verb, const char *object);

/* The same for libraries that return -errno (libseccomp, libselinux). */
gboolean moat_error_neg (GError **error, int neg_errno, const char *verb, const char *object);

/* Set a MOAT_ERROR_INVALID error from FORMAT; always returns FALSE, for
 * `return moat_error_invalid (error, ...)` in parsers of hostile input. */
gboolean moat_error_invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);
