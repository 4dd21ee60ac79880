/* The CLI's JSON reader: what moatd writes (json.c) reads back exactly, and malformed or
 * hostile input is refused rather than misread. */
#include <string.h>

#include "json.h"
#include "jsonread.h"
#include "moat-error.h"

static void
test_reads_what_the_writer_writes (void)
{
  g_autoptr (MoatJson) json = moat_json_new ();
  moat_json_begin_object (json);
  moat_json_kv_string (json, "name", "thermo\"stat\n\x01");
  moat_json_kv_int (json, "pid", -42);
  moat_json_kv_bool (json, "required", TRUE);
  moat_json_key (json, "none");
  moat_json_null (json);
  moat_json_key (json, "list");
  const char *items[] = { "a", "é", NULL };
  moat_json_strv (json, items);
  moat_json_end_object (json);
  g_autofree char *text = moat_json_steal (g_steal_pointer (&json));

  g_autoptr (GError) error = NULL;
  g_autoptr (MoatJsonValue) value = moat_jv_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (moat_jv_member_string (value, "name", NULL), ==, "thermo\"stat\n\x01");
  g_assert_cmpint (moat_jv_member_int (value, "pid", 0), ==, -42);
  g_assert_true (moat_jv_member_boolean (value, "required", FALSE));
  g_assert_cmpint (moat_jv_type (moat_jv_member (value, "none")), ==, MOAT_JV_NULL);
  const MoatJsonValue *list = moat_jv_member (value, "list");
  g_assert_cmpuint (moat_jv_length (list), ==, 2);
  g_assert_cmpstr (moat_jv_string (moat_jv_element (list, 1), NULL), ==, "é");
  g_assert_null (moat_jv_element (list, 2));
  g_assert_cmpstr (moat_jv_member_string (value, "missing", "dflt"), ==, "dflt");
  g_assert_cmpint (moat_jv_member_int (value, "name", 7), ==, 7);
}

static void
test_unicode_escapes (void)
{
  const char *text = "[\"\\u00e9\\ud83d\\ude00\\n\"]";
  g_autoptr (MoatJsonValue) value = moat_jv_parse (text, strlen (text), NULL);
  g_assert_nonnull (value);
  g_assert_cmpstr (moat_jv_string (moat_jv_element (value, 0), NULL), ==, "é😀\n");
}

static void
test_refuses_malformed (void)
{
  const char *bad[] = {
    "",    "{",     "[1,]",       "{\"a\"}",     "{\"a\":}", "[1 2]",      "\"open", "[\"\\x\"]",
    "tru", "[1] 2", "{\"a\":1,}", "[\"\\u12\"]", "01x",      "[\"a\tb\"]", "nul",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MoatJsonValue) value = moat_jv_parse (bad[i], strlen (bad[i]), &error);
      if (value != NULL)
        g_error ("accepted malformed JSON: %s", bad[i]);
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
    }
}

static void
test_refuses_deep_nesting (void)
{
  g_autoptr (GString) deep = g_string_new (NULL);
  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatJsonValue) value = moat_jv_parse (deep->str, deep->len, &error);
  g_assert_null (value);
  g_assert_nonnull (strstr (error->message, "nested too deeply"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/jsonread/reads-what-the-writer-writes", test_reads_what_the_writer_writes);
  g_test_add_func ("/jsonread/unicode-escapes", test_unicode_escapes);
  g_test_add_func ("/jsonread/refuses-malformed", test_refuses_malformed);
  g_test_add_func ("/jsonread/refuses-deep-nesting", test_refuses_deep_nesting);
  return g_test_run ();
}
