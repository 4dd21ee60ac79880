/* Sandbox names. Its own file so that programs which only check a name (the CLI) do not link
 * the manifest parser, and with it libseccomp. */
#pragma once

#include <glib.h>

#define MOAT_NAME_MAX 32

/* Whether NAME is a safe identifier for a sandbox: [a-z0-9][a-z0-9-]{0,31}, no trailing '-'. */
gboolean moat_name_is_valid (const char *name);
