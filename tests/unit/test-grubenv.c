/* Unit tests for the bootloader environments (grubenv.h), where the boot counter lives: what
 * moat writes reads back, is the 1024-byte block GRUB expects or the text U-Boot's
 * `env import -t` reads, what U-Boot's `env export -t` writes reads too, and a damaged file is
 * refused rather than half read. (tests/integration/85-os-update checks the GRUB block against
 * grub-editenv.) */
#include <string.h>

#include <glib/gstdio.h>

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

/* Each of CASES (name, value pairs as vars_of () takes them) is refused by FORMAT as invalid. */
static void
assert_format_refuses (GBytes *(*format) (GHashTable *vars, GError **error),
                       const char *const *const *cases, gsize n_cases)
{
  for (gsize i = 0; i < n_cases; i++)
    {
      g_autoptr (GHashTable) vars = vars_of (cases[i]);
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) bytes = format (vars, &error);
      g_assert_null (bytes);
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
    }
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
  assert_format_refuses (moat_grubenv_format, cases, G_N_ELEMENTS (cases));
}

/* --- U-Boot ---------------------------------------------------------------------------- */

static void
test_uboot_round_trip (void)
{
  const char *pairs[] = { "moat_trial", "0123abcd.0", "moat_boots_left", "2", "empty", "", NULL };
  g_autoptr (GHashTable) vars = vars_of (pairs);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) text = moat_ubootenv_format (vars, &error);
  g_assert_no_error (error);
  gsize len = 0;
  const char *data = g_bytes_get_data (text, &len);
  const char *want = "empty=\nmoat_boots_left=2\nmoat_trial=0123abcd.0\n";
  g_assert_cmpmem (data, len, want, strlen (want));
  g_autoptr (GHashTable) back = moat_ubootenv_parse (data, len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (back), ==, 3);
  g_assert_cmpstr (g_hash_table_lookup (back, "moat_trial"), ==, "0123abcd.0");
  g_assert_cmpstr (g_hash_table_lookup (back, "empty"), ==, "");
}

static void
test_uboot_empty (void)
{
  g_autoptr (GHashTable) none = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) text = moat_ubootenv_format (none, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (text), ==, 0);
  g_autoptr (GHashTable) vars = moat_ubootenv_parse ("", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (vars), ==, 0);
}

/* What `env export -t` then fatwrite leave: the text ended by a NUL that may be counted in the
 * size written, after a final newline or not, and '#' lines someone added by hand. */
static void
test_uboot_reads_what_uboot_writes (void)
{
  static const struct
  {
    const char *data;
    gsize len;
  } cases[] = {
#define CASE(s) { s, sizeof s - 1 }
    CASE ("moat_boot_attempts=3\nmoat_boots_left=1\nmoat_trial=ab.0\n\0"),
    CASE ("moat_boot_attempts=3\nmoat_boots_left=1\nmoat_trial=ab.0\0"),
    CASE ("moat_boot_attempts=3\nmoat_boots_left=1\nmoat_trial=ab.0\n"),
    CASE ("moat_boot_attempts=3\nmoat_boots_left=1\nmoat_trial=ab.0"),
    CASE ("moat_boot_attempts=3\nmoat_boots_left=1\nmoat_trial=ab.0\n\0\0\0\0"),
    CASE ("# the boot counter\n\nmoat_boot_attempts=3\n#moat_trial=no\nmoat_boots_left=1\n"
          "moat_trial=ab.0\n"),
#undef CASE
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GHashTable) vars = moat_ubootenv_parse (cases[i].data, cases[i].len, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_hash_table_size (vars), ==, 3);
      g_assert_cmpstr (g_hash_table_lookup (vars, "moat_boot_attempts"), ==, "3");
      g_assert_cmpstr (g_hash_table_lookup (vars, "moat_boots_left"), ==, "1");
      g_assert_cmpstr (g_hash_table_lookup (vars, "moat_trial"), ==, "ab.0");
    }
}

static void
assert_uboot_refused (const char *data, gsize len, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) vars = moat_ubootenv_parse (data, len, &error);
  if (vars != NULL)
    g_error ("accepted a U-Boot environment with %s", why);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
}

static void
test_uboot_refuses_damage (void)
{
#define REFUSED(s, why) assert_uboot_refused (s, sizeof s - 1, why)
  REFUSED ("a=1\n\0b=2\n", "text after the NUL");
  REFUSED ("a=1\n\0\0x", "a byte after the NULs");
  REFUSED ("moat_trial\n", "a line without '='");
  REFUSED ("=1\n", "an empty name");
  REFUSED ("bad-name=1\n", "a name with '-'");
  REFUSED (" a=1\n", "a name with a space");
  REFUSED ("a=x\\\ny\n", "an escaped newline");
  REFUSED ("a=1\r\n", "a carriage return");
#undef REFUSED
  g_autofree char *big = g_malloc (MOAT_UBOOTENV_MAX_SIZE + 1);
  memset (big, '#', MOAT_UBOOTENV_MAX_SIZE + 1);
  assert_uboot_refused (big, MOAT_UBOOTENV_MAX_SIZE + 1, "more than 4096 bytes");
  /* Padded with NULs to a size it may not have: still too big. */
  memset (big, '\0', MOAT_UBOOTENV_MAX_SIZE + 1);
  assert_uboot_refused (big, MOAT_UBOOTENV_MAX_SIZE + 1, "more than 4096 bytes of NULs");
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) vars = moat_ubootenv_parse (big, MOAT_UBOOTENV_MAX_SIZE, &error);
  g_assert_no_error (error);
}

static void
test_uboot_refuses_what_cannot_be_written (void)
{
  g_autoptr (GString) big = g_string_new (NULL);
  for (int i = 0; i < MOAT_UBOOTENV_MAX_SIZE; i++)
    g_string_append_c (big, 'x');
  const char *too_big[] = { "a", big->str, NULL };
  const char *newline[] = { "a", "x\ny", NULL };
  const char *control[] = { "a", "x\x01", NULL };
  const char *bad_name[] = { "a=b", "1", NULL };
  const char *empty_name[] = { "", "1", NULL };
  const char *const *cases[] = { too_big, newline, control, bad_name, empty_name };
  assert_format_refuses (moat_ubootenv_format, cases, G_N_ELEMENTS (cases));
}

/* --- files ----------------------------------------------------------------------------- */

static void
test_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-grubenv-XXXXXX", &error);
  g_assert_no_error (error);
  const char *pairs[] = { "moat_trial", "ab.0", NULL };
  g_autoptr (GHashTable) vars = vars_of (pairs);
  static const struct
  {
    MoatBootEnvFormat format;
    gsize size;
  } cases[] = { { MOAT_BOOTENV_GRUB, MOAT_GRUBENV_SIZE },
                { MOAT_BOOTENV_UBOOT, sizeof "moat_trial=ab.0\n" - 1 } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_build_filename (dir, "env", NULL);
      g_autoptr (GHashTable) none = moat_bootenv_read (cases[i].format, path, &error);
      g_assert_null (none);
      g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      g_clear_error (&error);
      g_assert_true (moat_bootenv_write (cases[i].format, path, vars, &error));
      g_assert_no_error (error);
      GStatBuf st;
      g_assert_cmpint (g_stat (path, &st), ==, 0);
      g_assert_cmpuint ((gsize)st.st_size, ==, cases[i].size);
      g_autoptr (GHashTable) back = moat_bootenv_read (cases[i].format, path, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (g_hash_table_lookup (back, "moat_trial"), ==, "ab.0");
      /* A damaged file is refused, naming it. */
      g_assert_true (g_file_set_contents (path, "moat_trial\n", -1, &error));
      g_autoptr (GHashTable) damaged = moat_bootenv_read (cases[i].format, path, &error);
      g_assert_null (damaged);
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
      g_assert_true (g_str_has_prefix (error->message, path));
      g_clear_error (&error);
      g_assert_cmpint (g_unlink (path), ==, 0);
    }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/grubenv/round-trip", test_round_trip);
  g_test_add_func ("/grubenv/refuses-damage", test_refuses_damage);
  g_test_add_func ("/grubenv/refuses-what-cannot-be-written", test_refuses_what_cannot_be_written);
  g_test_add_func ("/ubootenv/round-trip", test_uboot_round_trip);
  g_test_add_func ("/ubootenv/empty", test_uboot_empty);
  g_test_add_func ("/ubootenv/reads-what-uboot-writes", test_uboot_reads_what_uboot_writes);
  g_test_add_func ("/ubootenv/refuses-damage", test_uboot_refuses_damage);
  g_test_add_func ("/ubootenv/refuses-what-cannot-be-written",
                   test_uboot_refuses_what_cannot_be_written);
  g_test_add_func ("/bootenv/files", test_files);
  return g_test_run ();
}
