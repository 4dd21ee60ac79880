/* A small JSON reader for the CLI, which reads moatd's replies with it. Replaces json-glib,
 * whose GObject and GIO dependencies were most of the time `moat` took to start.
 * Bounded: nesting depth MOAT_JSON_MAX_DEPTH, input at most MOAT_JSON_MAX_INPUT bytes. */
#pragma once

#include <glib.h>

#define MOAT_JSON_MAX_DEPTH 64
#define MOAT_JSON_MAX_INPUT (16 * 1024 * 1024)

typedef enum
{
  MOAT_JV_NULL,
  MOAT_JV_BOOL,
  MOAT_JV_NUMBER,
  MOAT_JV_STRING,
  MOAT_JV_ARRAY,
  MOAT_JV_OBJECT,
} MoatJsonType;

typedef struct MoatJsonValue MoatJsonValue;

/* Parse one JSON document (trailing whitespace allowed, nothing else). */
MoatJsonValue *moat_jv_parse (const char *text, gsize len, GError **error);
void moat_jv_value_free (MoatJsonValue *value);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatJsonValue, moat_jv_value_free)

MoatJsonType moat_jv_type (const MoatJsonValue *value);
/* OBJECT's member KEY, or NULL (also when VALUE is NULL or not an object). */
const MoatJsonValue *moat_jv_member (const MoatJsonValue *object, const char *key);
/* Array length and elements (0 / NULL for anything but an array). */
guint moat_jv_length (const MoatJsonValue *array);
const MoatJsonValue *moat_jv_element (const MoatJsonValue *array, guint index);
/* Scalars, with FALLBACK when VALUE is NULL or of another type. */
const char *moat_jv_string (const MoatJsonValue *value, const char *fallback);
gint64 moat_jv_int (const MoatJsonValue *value, gint64 fallback);
gboolean moat_jv_boolean (const MoatJsonValue *value, gboolean fallback);
/* Shorthands: a member's scalar. */
const char *moat_jv_member_string (const MoatJsonValue *object, const char *key,
                                   const char *fallback);
gint64 moat_jv_member_int (const MoatJsonValue *object, const char *key, gint64 fallback);
gboolean moat_jv_member_boolean (const MoatJsonValue *object, const char *key, gboolean fallback);
