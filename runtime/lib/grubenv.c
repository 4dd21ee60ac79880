#include "grubenv.h"

#include <string.h>

#include "moat-error.h"
#include "proc.h"

#define HEADER "# GRUB Environment Block\n"

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

GHashTable *
moat_grubenv_parse (const char *data, gsize len, GError **error)
{
  if (len != MOAT_GRUBENV_SIZE)
    return moat_error_invalid (error, "a GRUB environment block is %d bytes, not %" G_GSIZE_FORMAT,
                               MOAT_GRUBENV_SIZE, len),
           NULL;
  if (memcmp (data, HEADER, strlen (HEADER)) != 0)
    return moat_error_invalid (error, "not a GRUB environment block (no header)"), NULL;
  g_autoptr (GHashTable) vars = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gsize pos = strlen (HEADER);
  while (pos < len)
    {
      const char *line = data + pos;
      const char *end = memchr (line, '\n', len - pos);
      gsize line_len = end ? (gsize)(end - line) : len - pos;
      pos += line_len + 1;
      /* Comments, and the padding: '#' up to the end, with no newline. */
      if (line_len == 0 || line[0] == '#')
        continue;
      const char *equals = memchr (line, '=', line_len);
      if (equals == NULL || !valid_name (line, (gsize)(equals - line)))
        return moat_error_invalid (error, "GRUB environment: a line that is not name=value"), NULL;
      const char *value = equals + 1;
      gsize value_len = line_len - (gsize)(value - line);
      if (!valid_value (value, value_len) || end == NULL)
        return moat_error_invalid (error, "GRUB environment: %.*s has a value moat cannot read",
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

GBytes *
moat_grubenv_format (GHashTable *vars, GError **error)
{
  g_autoptr (GString) block = g_string_new (HEADER);
  g_autofree const char **names = (const char **)g_hash_table_get_keys_as_array (vars, NULL);
  g_qsort_with_data (names, (gint)g_hash_table_size (vars), sizeof *names, compare_names, NULL);
  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *value = g_hash_table_lookup (vars, names[i]);
      if (!valid_name (names[i], strlen (names[i])) || !valid_value (value, strlen (value)))
        return moat_error_invalid (error, "GRUB environment: cannot write %s", names[i]), NULL;
      g_string_append_printf (block, "%s=%s\n", names[i], value);
    }
  if (block->len > MOAT_GRUBENV_SIZE)
    return moat_error_invalid (error, "GRUB environment: the variables do not fit in %d bytes",
                               MOAT_GRUBENV_SIZE),
           NULL;
  while (block->len < MOAT_GRUBENV_SIZE)
    g_string_append_c (block, '#');
  return g_string_free_to_bytes (g_steal_pointer (&block));
}

GHashTable *
moat_grubenv_read (const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  GHashTable *vars = moat_grubenv_parse (data, len, error);
  if (vars == NULL)
    g_prefix_error (error, "%s: ", path);
  return vars;
}

gboolean
moat_grubenv_write (const char *path, GHashTable *vars, GError **error)
{
  g_autoptr (GBytes) block = moat_grubenv_format (vars, error);
  if (block == NULL)
    return g_prefix_error (error, "%s: ", path), FALSE;
  gsize len = 0;
  const char *data = g_bytes_get_data (block, &len);
  return moat_replace_file (path, data, len, 0644, error);
}
