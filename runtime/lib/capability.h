/* Linux capability names, indexed by their number: one table for the manifest parser (which
 * tells a real name it refuses from a typo) and the nspawn command line. */
#pragma once

#include <glib.h>

/* CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40), NULL-terminated. */
extern const char *const moat_capability_names[];

/* NAME's number, or -1 when Linux has no such capability. */
gint moat_capability_number (const char *name);
