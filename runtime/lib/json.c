#include "json.h"

struct MoatJson
{
  GString *out;
  /* One bit per nesting level: whether a value was already written there (comma needed). */
  GArray *has_value;
  gboolean after_key;
};

MoatJson *
moat_json_new (void)
{
  MoatJson *json = g_new0 (MoatJson, 1);
  json->out = g_string_sized_new (256);
  json->has_value = g_array_new (FALSE, TRUE, sizeof (gboolean));
  return json;
}

void
moat_json_free (MoatJson *json)
{
  if (json == NULL)
    return;
  if (json->out != NULL)
    g_string_free (json->out, TRUE);
  g_array_unref (json->has_value);
  g_free (json);
}

/* Write the separator a new value (or key) needs at the current level. */
static void
separate (MoatJson *json)
{
  if (json->after_key)
    {
      json->after_key = FALSE;
      return;
    }
  if (json->has_value->len == 0)
    return;
  gboolean *seen = &g_array_index (json->has_value, gboolean, json->has_value->len - 1);
  if (*seen)
    g_string_append_c (json->out, ',');
  *seen = TRUE;
}

static void
open_level (MoatJson *json, char c)
{
  separate (json);
  g_string_append_c (json->out, c);
  gboolean no = FALSE;
  g_array_append_val (json->has_value, no);
}

static void
close_level (MoatJson *json, char c)
{
  g_return_if_fail (json->has_value->len > 0);
  g_array_set_size (json->has_value, json->has_value->len - 1);
  g_string_append_c (json->out, c);
}

void
moat_json_raw (MoatJson *json, const char *text)
{
  separate (json);
  g_string_append (json->out, text);
}

void
moat_json_begin_object (MoatJson *json)
{
  open_level (json, '{');
}

void
moat_json_end_object (MoatJson *json)
{
  close_level (json, '}');
}

void
moat_json_begin_array (MoatJson *json)
{
  open_level (json, '[');
}

void
moat_json_end_array (MoatJson *json)
{
  close_level (json, ']');
}

static void
append_escaped (GString *out, const char *value)
{
  g_autofree char *valid = g_utf8_make_valid (value, -1);
  g_string_append_c (out, '"');
  for (const unsigned char *p = (const unsigned char *)valid; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        default:
          if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, (char)*p);
        }
    }
  g_string_append_c (out, '"');
}

void
moat_json_key (MoatJson *json, const char *key)
{
  separate (json);
  append_escaped (json->out, key);
  g_string_append_c (json->out, ':');
  json->after_key = TRUE;
}

void
moat_json_string (MoatJson *json, const char *value)
{
  separate (json);
  if (value == NULL)
    g_string_append (json->out, "null");
  else
    append_escaped (json->out, value);
}

void
moat_json_int (MoatJson *json, gint64 value)
{
  separate (json);
  g_string_append_printf (json->out, "%" G_GINT64_FORMAT, value);
}

void
moat_json_bool (MoatJson *json, gboolean value)
{
  separate (json);
  g_string_append (json->out, value ? "true" : "false");
}

void
moat_json_null (MoatJson *json)
{
  separate (json);
  g_string_append (json->out, "null");
}

void
moat_json_strv (MoatJson *json, const char *const *values)
{
  moat_json_begin_array (json);
  for (; values != NULL && *values != NULL; values++)
    moat_json_string (json, *values);
  moat_json_end_array (json);
}

void
moat_json_kv_string (MoatJson *json, const char *key, const char *value)
{
  moat_json_key (json, key);
  moat_json_string (json, value);
}

void
moat_json_kv_int (MoatJson *json, const char *key, gint64 value)
{
  moat_json_key (json, key);
  moat_json_int (json, value);
}

void
moat_json_kv_bool (MoatJson *json, const char *key, gboolean value)
{
  moat_json_key (json, key);
  moat_json_bool (json, value);
}

char *
moat_json_steal (MoatJson *json)
{
  char *text = g_string_free (g_steal_pointer (&json->out), FALSE);
  moat_json_free (json);
  return text;
}
