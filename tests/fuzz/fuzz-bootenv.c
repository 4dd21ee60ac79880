/* libFuzzer target for the boot counter's files (grubenv.h): the GRUB environment block and
 * U-Boot's text environment, which a bootloader or a damaged FAT partition may have written.
 * Each input is read both ways. A refusal is a MOAT_ERROR_INVALID; what is accepted holds only
 * names and values moat can write, and writing it back and reading that again gives the same
 * variables. Nothing may crash, leak or make GLib complain. */

#include <stdint.h>
#include <string.h>

#include "grubenv.h"
#include "moat-error.h"

typedef GHashTable *(*ParseFunc) (const char *data, gsize len, GError **error);
typedef GBytes *(*FormatFunc) (GHashTable *vars, GError **error);

static void
check_same (GHashTable *a, GHashTable *b)
{
  g_assert_cmpuint (g_hash_table_size (a), ==, g_hash_table_size (b));
  GHashTableIter iter;
  gpointer name, value;
  g_hash_table_iter_init (&iter, a);
  while (g_hash_table_iter_next (&iter, &name, &value))
    g_assert_cmpstr (g_hash_table_lookup (b, name), ==, value);
}

static void
check_one (ParseFunc parse, FormatFunc format, const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) vars = parse ((const char *)data, size, &error);
  if (vars == NULL)
    {
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
      return;
    }
  g_assert_no_error (error);
  g_autoptr (GBytes) written = format (vars, &error);
  g_assert_no_error (error);
  gsize len = 0;
  const char *text = g_bytes_get_data (written, &len);
  g_autoptr (GHashTable) back = parse (text, len, &error);
  g_assert_no_error (error);
  check_same (vars, back);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  check_one (moat_grubenv_parse, moat_grubenv_format, data, size);
  check_one (moat_ubootenv_parse, moat_ubootenv_format, data, size);
  return 0;
}
