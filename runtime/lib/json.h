/* A small streaming JSON writer: moatd writes OCI configs and socket replies with it and
 * never parses JSON, which keeps a JSON parser out of the daemon. */
#pragma once

#include <glib.h>

typedef struct MoatJson MoatJson;

MoatJson *moat_json_new (void);
void moat_json_free (MoatJson *json);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatJson, moat_json_free)

void moat_json_begin_object (MoatJson *json);
void moat_json_end_object (MoatJson *json);
void moat_json_begin_array (MoatJson *json);
void moat_json_end_array (MoatJson *json);
/* Inside an object: the key of the next value. */
void moat_json_key (MoatJson *json, const char *key);
/* A string value; invalid UTF-8 is replaced by U+FFFD so the output stays valid JSON. */
void moat_json_string (MoatJson *json, const char *value);
void moat_json_int (MoatJson *json, gint64 value);
void moat_json_bool (MoatJson *json, gboolean value);
void moat_json_null (MoatJson *json);
/* TEXT, already one JSON value (from this writer), as the next value. */
void moat_json_raw (MoatJson *json, const char *text);
/* Each string of a NULL-terminated vector as an array. */
void moat_json_strv (MoatJson *json, const char *const *values);

/* Shorthands for "key": value inside an object. */
void moat_json_kv_string (MoatJson *json, const char *key, const char *value);
void moat_json_kv_int (MoatJson *json, const char *key, gint64 value);
void moat_json_kv_bool (MoatJson *json, const char *key, gboolean value);

/* The document so far; the writer is consumed. */
char *moat_json_steal (MoatJson *json);
