#include "grubenv.h"

#include <string.h>

#include "moat-error.h"
#include "proc.h"

#define HEADER "# GRUB Environment Block\n"
#define GRUB_WHAT "GRUB environment"
#define UBOOT_WHAT "U-Boot environment"

/* --- what both bootloaders read back unchanged ----------------------------------------- */

static gboolean
valid_name (const char *name, gsize len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (name[i]) && name[i] != '_')
      return FALSE;
  return TRUE;
}

static gboolean
valid_value (const char *value, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f || value[i] == '\\')
      return FALSE;
  return TRUE;
}

/* The "name=value" lines of TEXT, skipping blank lines and '#' comments. GRUB ends every
 * variable with a newline (NEED_NEWLINE); its padding is a comment without one. */
static GHashTable *
parse_lines (const char *text, gsize len, const char *what, gboolean need_newline, GError **error)
{
  g_autoptr (GHashTable) vars = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gsize pos = 0;
  while (pos < len)
    {
      const char *line = text + pos;
      const char *end = memchr (line, '\n', len - pos);
      gsize line_len = end ? (gsize)(end - line) : len - pos;
      pos += line_len + 1;
      if (line_len == 0 || line[0] == '#')
        continue;
      const char *equals = memchr (line, '=', line_len);
      if (equals == NULL || !valid_name (line, (gsize)(equals - line)))
        return moat_error_invalid (error, "%s: a line that is not name=value", what), NULL;
      const char *value = equals + 1;
      gsize value_len = line_len - (gsize)(value - line);
      if (!valid_value (value, value_len) || (need_newline && end == NULL))
        return moat_error_invalid (error, "%s: %.*s has a value moat cannot read", what,
                                   (int)(equals - line), line),
               NULL;
      g_hash_table_replace (vars, g_strndup (line, (gsize)(equals - line)),
                            g_strndup (value, value_len));
    }
  return g_steal_pointer (&vars);
}

static gint
compare_names (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* Append VARS to TEXT as "name=value\n" lines, names sorted. */
static gboolean
append_lines (GString *text, GHashTable *vars, const char *what, GError **error)
{
  g_autofree const char **names = (const char **)g_hash_table_get_keys_as_array (vars, NULL);
  g_qsort_with_data (names, (gint)g_hash_table_size (vars), sizeof *names, compare_names, NULL);
  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *value = g_hash_table_lookup (vars, names[i]);
      if (!valid_name (names[i], strlen (names[i])) || !valid_value (value, strlen (value)))
        return moat_error_invalid (error, "%s: cannot write %s", what, names[i]);
      g_string_append_printf (text, "%s=%s\n", names[i], value);
    }
  return TRUE;
}

/* --- GRUB ------------------------------------------------------------------------------ */

GHashTable *
moat_grubenv_parse (const char *data, gsize len, GError **error)
{
  if (len != MOAT_GRUBENV_SIZE)
    return moat_error_invalid (error, "a GRUB environment block is %d bytes, not %" G_GSIZE_FORMAT,
                               MOAT_GRUBENV_SIZE, len),
           NULL;
  if (memcmp (data, HEADER, strlen (HEADER)) != 0)
    return moat_error_invalid (error, "not a GRUB environment block (no header)"), NULL;
  return parse_lines (data + strlen (HEADER), len - strlen (HEADER), GRUB_WHAT, TRUE, error);
}

GBytes *
moat_grubenv_format (GHashTable *vars, GError **error)
{
  g_autoptr (GString) block = g_string_new (HEADER);
  if (!append_lines (block, vars, GRUB_WHAT, error))
    return NULL;
  if (block->len > MOAT_GRUBENV_SIZE)
    return moat_error_invalid (error, "%s: the variables do not fit in %d bytes", GRUB_WHAT,
                               MOAT_GRUBENV_SIZE),
           NULL;
  while (block->len < MOAT_GRUBENV_SIZE)
    g_string_append_c (block, '#');
  return g_string_free_to_bytes (g_steal_pointer (&block));
}

/* --- U-Boot ---------------------------------------------------------------------------- */

GHashTable *
moat_ubootenv_parse (const char *data, gsize len, GError **error)
{
  if (len > MOAT_UBOOTENV_MAX_SIZE)
    return moat_error_invalid (error,
                               "a U-Boot environment is at most %d bytes, not %" G_GSIZE_FORMAT,
                               MOAT_UBOOTENV_MAX_SIZE, len),
           NULL;
  /* `env export -t` ends the text with a NUL, which fatwrite may or may not have written. */
  const char *nul = memchr (data, '\0', len);
  gsize text_len = nul ? (gsize)(nul - data) : len;
  for (gsize i = text_len; i < len; i++)
    if (data[i] != '\0')
      return moat_error_invalid (error, "U-Boot environment: more after the NUL that ends it"),
             NULL;
  return parse_lines (data, text_len, UBOOT_WHAT, FALSE, error);
}

GBytes *
moat_ubootenv_format (GHashTable *vars, GError **error)
{
  g_autoptr (GString) text = g_string_new (NULL);
  if (!append_lines (text, vars, UBOOT_WHAT, error))
    return NULL;
  if (text->len > MOAT_UBOOTENV_MAX_SIZE)
    return moat_error_invalid (error, "%s: the variables do not fit in %d bytes", UBOOT_WHAT,
                               MOAT_UBOOTENV_MAX_SIZE),
           NULL;
  return g_string_free_to_bytes (g_steal_pointer (&text));
}

/* --- files ----------------------------------------------------------------------------- */

static const struct
{
  GHashTable *(*parse) (const char *data, gsize len, GError **error);
  GBytes *(*format) (GHashTable *vars, GError **error);
} formats[] = {
  [MOAT_BOOTENV_GRUB] = { moat_grubenv_parse, moat_grubenv_format },
  [MOAT_BOOTENV_UBOOT] = { moat_ubootenv_parse, moat_ubootenv_format },
};

GHashTable *
moat_bootenv_read (MoatBootEnvFormat format, const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  GHashTable *vars = formats[format].parse (data, len, error);
  if (vars == NULL)
    g_prefix_error (error, "%s: ", path);
  return vars;
}

gboolean
moat_bootenv_write (MoatBootEnvFormat format, const char *path, GHashTable *vars, GError **error)
{
  g_autoptr (GBytes) bytes = formats[format].format (vars, error);
  if (bytes == NULL)
    return g_prefix_error (error, "%s: ", path), FALSE;
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  return moat_replace_file (path, data, len, 0644, error);
}
