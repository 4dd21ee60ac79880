/* Unit tests for the GRUB environment block (grubenv.h), where the boot counter lives: what
 * moat writes reads back, is the 1024 bytes GRUB expects, and a damaged block is refused
 * rather than half read. (tests/integration/85-os-update checks it against grub-editenv.) */
#include <string.h>

#include "grubenv.h"
#include "moat-error.h"

static GHashTable *
vars_of (const char *const *pairs)
{
  GHashTable *vars = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; pairs[i] != NULL; i += 2)
    g_hash_table_replace (vars, g_strdup (pairs[i]), g_strdup (pairs[i + 1]));
  return vars;
}

static void
test_round_trip (void)
{
  const char *pairs[] = { "moat_trial", "0123abcd.0", "moat_boots_left", "2", "empty", "", NULL };
  g_autoptr (GHashTable) vars = vars_of (pairs);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) block = moat_grubenv_format (vars, &error);
  g_assert_no_error (error);
  gsize len = 0;
  const char *data = g_bytes_get_data (block, &len);
  g_assert_cmpuint (len, ==, MOAT_GRUBENV_SIZE);
  g_assert_true (g_str_has_prefix (data, "# GRUB Environment Block\nempty=\nmoat_boots_left=2\n"));
  g_assert_cmpint (data[len - 1], ==, '#');
  g_autoptr (GHashTable) back = moat_grubenv_parse (data, len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (back), ==, 3);
  g_assert_cmpstr (g_hash_table_lookup (back, "moat_trial"), ==, "0123abcd.0");
  g_assert_cmpstr (g_hash_table_lookup (back, "empty"), ==, "");
}

static void
assert_refused (const char *data, gsize len, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) vars = moat_grubenv_parse (data, len, &error);
  if (vars != NULL)
    g_error ("accepted a block with %s", why);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
}

static char *
block_with (const char *body)
{
  char *block = g_malloc (MOAT_GRUBENV_SIZE);
  memset (block, '#', MOAT_GRUBENV_SIZE);
  g_autofree char *text = g_strconcat ("# GRUB Environment Block\n", body, NULL);
  memcpy (block, text, strlen (text));
  return block;
}

static void
test_refuses_damage (void)
{
  g_autofree char *good = block_with ("a=1\n");
  assert_refused (good, MOAT_GRUBENV_SIZE - 1, "a short length");
  g_autofree char *header = block_with ("a=1\n");
  header[2] = 'X';
  assert_refused (header, MOAT_GRUBENV_SIZE, "no header");
  g_autofree char *no_equals = block_with ("moat_trial\n");
  assert_refused (no_equals, MOAT_GRUBENV_SIZE, "a line without '='");
  g_autofree char *bad_name = block_with ("bad-name=1\n");
  assert_refused (bad_name, MOAT_GRUBENV_SIZE, "a name with '-'");
  g_autofree char *escaped = block_with ("a=x\\\ny\n");
  assert_refused (escaped, MOAT_GRUBENV_SIZE, "an escaped newline");
  g_autofree char *nul = block_with ("a=1\n");
  nul[28] = '\0';
  assert_refused (nul, MOAT_GRUBENV_SIZE, "a NUL in a value");
  /* The last line runs into the end of the block without a newline. */
  g_autofree char *unterminated = block_with ("");
  memset (unterminated + 25, 'a', MOAT_GRUBENV_SIZE - 25);
  unterminated[26] = '=';
  assert_refused (unterminated, MOAT_GRUBENV_SIZE, "an unterminated line");
}

static void
test_refuses_what_cannot_be_written (void)
{
  g_autoptr (GString) big = g_string_new (NULL);
  for (int i = 0; i < 1100; i++)
    g_string_append_c (big, 'x');
  const char *too_big[] = { "a", big->str, NULL };
  const char *newline[] = { "a", "x\ny", NULL };
  const char *bad_name[] = { "a=b", "1", NULL };
  const char *const *cases[] = { too_big, newline, bad_name };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GHashTable) vars = vars_of (cases[i]);
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) block = moat_grubenv_format (vars, &error);
      g_assert_null (block);
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/grubenv/round-trip", test_round_trip);
  g_test_add_func ("/grubenv/refuses-damage", test_refuses_damage);
  g_test_add_func ("/grubenv/refuses-what-cannot-be-written", test_refuses_what_cannot_be_written);
  return g_test_run ();
}
