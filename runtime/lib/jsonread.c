#include "jsonread.h"

#include <stdlib.h>
#include <string.h>

#include "moat-error.h"

struct MoatJsonValue
{
  MoatJsonType type;
  gboolean boolean;
  double number;
  char *string;     /* STRING */
  GPtrArray *items; /* ARRAY: values; OBJECT: values, with keys beside */
  GPtrArray *keys;  /* OBJECT */
};

typedef struct
{
  const char *p, *end;
} Reader;

void
moat_jv_value_free (MoatJsonValue *value)
{
  if (value == NULL)
    return;
  g_free (value->string);
  if (value->items)
    g_ptr_array_unref (value->items);
  if (value->keys)
    g_ptr_array_unref (value->keys);
  g_free (value);
}

static MoatJsonValue *parse_value (Reader *r, guint depth, GError **error);

static gboolean
fail (Reader *r, const char *base, GError **error, const char *what)
{
  g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: %s at byte %td", what, r->p - base);
  return FALSE;
}

static void
skip_space (Reader *r)
{
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
    r->p++;
}

static gboolean
literal (Reader *r, const char *word)
{
  gsize len = strlen (word);
  if ((gsize)(r->end - r->p) < len || memcmp (r->p, word, len) != 0)
    return FALSE;
  r->p += len;
  return TRUE;
}

static int
hex_digit (char c)
{
  return g_ascii_xdigit_value (c);
}

/* A string after its opening quote; \uXXXX escapes (and surrogate pairs) become UTF-8. */
static char *
parse_string (Reader *r, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  while (r->p < r->end && *r->p != '"')
    {
      unsigned char c = (unsigned char)*r->p++;
      if (c < 0x20)
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                            "JSON: control character in string"),
               NULL;
      if (c != '\\')
        {
          g_string_append_c (out, (char)c);
          continue;
        }
      if (r->p >= r->end)
        break;
      char e = *r->p++;
      const char *simple = strchr ("\"\\/bfnrt", e);
      if (simple != NULL && e != '\0')
        {
          static const char decoded[] = "\"\\/\b\f\n\r\t";
          g_string_append_c (out, decoded[simple - "\"\\/bfnrt"]);
          continue;
        }
      if (e != 'u' || r->end - r->p < 4)
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: bad escape"), NULL;
      gunichar u = 0;
      for (int i = 0; i < 4; i++)
        {
          int d = hex_digit (*r->p++);
          if (d < 0)
            return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: bad \\u escape"),
                   NULL;
          u = u * 16 + (gunichar)d;
        }
      if (u >= 0xd800 && u < 0xdc00 && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u')
        {
          gunichar low = 0;
          gboolean ok = TRUE;
          for (int i = 2; i < 6; i++)
            {
              int d = hex_digit (r->p[i]);
              ok = ok && d >= 0;
              low = low * 16 + (gunichar)MAX (d, 0);
            }
          if (ok && low >= 0xdc00 && low < 0xe000)
            {
              r->p += 6;
              u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
            }
        }
      if (!g_unichar_validate (u))
        u = 0xfffd;
      g_string_append_unichar (out, u);
    }
  if (r->p >= r->end)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: unterminated string"), NULL;
  r->p++;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static MoatJsonValue *
new_value (MoatJsonType type)
{
  MoatJsonValue *value = g_new0 (MoatJsonValue, 1);
  value->type = type;
  if (type == MOAT_JV_ARRAY || type == MOAT_JV_OBJECT)
    value->items = g_ptr_array_new_with_free_func ((GDestroyNotify)moat_jv_value_free);
  if (type == MOAT_JV_OBJECT)
    value->keys = g_ptr_array_new_with_free_func (g_free);
  return value;
}

static MoatJsonValue *
parse_container (Reader *r, gboolean object, guint depth, GError **error)
{
  const char *base = r->p;
  g_autoptr (MoatJsonValue) value = new_value (object ? MOAT_JV_OBJECT : MOAT_JV_ARRAY);
  char close = object ? '}' : ']';
  skip_space (r);
  if (r->p < r->end && *r->p == close)
    {
      r->p++;
      return g_steal_pointer (&value);
    }
  for (;;)
    {
      skip_space (r);
      if (object)
        {
          if (r->p >= r->end || *r->p != '"')
            return fail (r, base, error, "expected a key"), NULL;
          r->p++;
          char *key = parse_string (r, error);
          if (key == NULL)
            return NULL;
          g_ptr_array_add (value->keys, key);
          skip_space (r);
          if (r->p >= r->end || *r->p++ != ':')
            return fail (r, base, error, "expected ':'"), NULL;
        }
      MoatJsonValue *item = parse_value (r, depth + 1, error);
      if (item == NULL)
        return NULL;
      g_ptr_array_add (value->items, item);
      skip_space (r);
      if (r->p < r->end && *r->p == ',')
        {
          r->p++;
          continue;
        }
      if (r->p < r->end && *r->p == close)
        {
          r->p++;
          return g_steal_pointer (&value);
        }
      return fail (r, base, error, "expected ',' or a closing bracket"), NULL;
    }
}

static MoatJsonValue *
parse_number (Reader *r, GError **error)
{
  const char *start = r->p;
  while (r->p < r->end && strchr ("+-0123456789.eE", *r->p) != NULL && *r->p != '\0')
    r->p++;
  g_autofree char *text = g_strndup (start, r->p - start);
  char *end = NULL;
  double number = g_ascii_strtod (text, &end);
  if (text[0] == '\0' || end == NULL || *end != '\0')
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: bad number '%s'", text), NULL;
  MoatJsonValue *value = new_value (MOAT_JV_NUMBER);
  value->number = number;
  return value;
}

static MoatJsonValue *
parse_value (Reader *r, guint depth, GError **error)
{
  if (depth > MOAT_JSON_MAX_DEPTH)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: nested too deeply"), NULL;
  skip_space (r);
  if (r->p >= r->end)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: unexpected end"), NULL;
  char c = *r->p;
  if (c == '{' || c == '[')
    {
      r->p++;
      return parse_container (r, c == '{', depth, error);
    }
  if (c == '"')
    {
      r->p++;
      char *string = parse_string (r, error);
      if (string == NULL)
        return NULL;
      MoatJsonValue *value = new_value (MOAT_JV_STRING);
      value->string = string;
      return value;
    }
  if (literal (r, "true") || literal (r, "false"))
    {
      MoatJsonValue *value = new_value (MOAT_JV_BOOL);
      value->boolean = c == 't';
      return value;
    }
  if (literal (r, "null"))
    return new_value (MOAT_JV_NULL);
  return parse_number (r, error);
}

MoatJsonValue *
moat_jv_parse (const char *text, gsize len, GError **error)
{
  if (len > MOAT_JSON_MAX_INPUT)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: input too large"), NULL;
  Reader r = { text, text + len };
  g_autoptr (MoatJsonValue) value = parse_value (&r, 0, error);
  if (value == NULL)
    return NULL;
  skip_space (&r);
  if (r.p != r.end)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "JSON: trailing data"), NULL;
  return g_steal_pointer (&value);
}

MoatJsonType
moat_jv_type (const MoatJsonValue *value)
{
  return value ? value->type : MOAT_JV_NULL;
}

const MoatJsonValue *
moat_jv_member (const MoatJsonValue *object, const char *key)
{
  if (object == NULL || object->type != MOAT_JV_OBJECT)
    return NULL;
  for (guint i = 0; i < object->keys->len; i++)
    if (strcmp (object->keys->pdata[i], key) == 0)
      return object->items->pdata[i];
  return NULL;
}

guint
moat_jv_length (const MoatJsonValue *array)
{
  return array && array->type == MOAT_JV_ARRAY ? array->items->len : 0;
}

const MoatJsonValue *
moat_jv_element (const MoatJsonValue *array, guint index)
{
  return index < moat_jv_length (array) ? array->items->pdata[index] : NULL;
}

const char *
moat_jv_string (const MoatJsonValue *value, const char *fallback)
{
  return value && value->type == MOAT_JV_STRING ? value->string : fallback;
}

gint64
moat_jv_int (const MoatJsonValue *value, gint64 fallback)
{
  if (value == NULL || value->type != MOAT_JV_NUMBER || value->number < (double)G_MININT64
      || value->number >= 9223372036854775808.0 /* 2^63: not representable */)
    return fallback;
  return (gint64)value->number;
}

gboolean
moat_jv_boolean (const MoatJsonValue *value, gboolean fallback)
{
  return value && value->type == MOAT_JV_BOOL ? value->boolean : fallback;
}

const char *
moat_jv_member_string (const MoatJsonValue *object, const char *key, const char *fallback)
{
  return moat_jv_string (moat_jv_member (object, key), fallback);
}

gint64
moat_jv_member_int (const MoatJsonValue *object, const char *key, gint64 fallback)
{
  return moat_jv_int (moat_jv_member (object, key), fallback);
}

gboolean
moat_jv_member_boolean (const MoatJsonValue *object, const char *key, gboolean fallback)
{
  return moat_jv_boolean (moat_jv_member (object, key), fallback);
}
