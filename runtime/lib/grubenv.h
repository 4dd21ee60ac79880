/* GRUB's environment block (/boot/grub/grubenv): the one place GRUB itself can write, so the
 * boot counter for automatic rollback lives there (docs/updates.md). The file is exactly
 * 1024 bytes: "# GRUB Environment Block\n", then "name=value\n" lines, then '#' padding. GRUB's
 * save_env rewrites it in place; moat replaces it with one rename. */
#pragma once

#include <glib.h>

#define MOAT_GRUBENV_SIZE 1024

/* The variables of an environment block, name to value. Refused: a block that is not 1024
 * bytes, lacks the header, or holds a line that is not name=value; values GRUB escaped with a
 * backslash are refused too (moat never writes them). */
GHashTable *moat_grubenv_parse (const char *data, gsize len, GError **error);

/* VARS as a 1024-byte block, names sorted. Refused: a name that is not [A-Za-z0-9_]+, a value
 * with a backslash or a control character, or more than fits. */
GBytes *moat_grubenv_format (GHashTable *vars, GError **error);

/* Read PATH; G_FILE_ERROR_NOENT when it does not exist. */
GHashTable *moat_grubenv_read (const char *path, GError **error);

/* Replace PATH with VARS, durably. */
gboolean moat_grubenv_write (const char *path, GHashTable *vars, GError **error);
