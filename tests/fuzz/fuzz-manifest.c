/* libFuzzer target for the manifest parser: any input must be refused with a well-formed error
 * or accepted as a manifest that keeps the promises manifest.h makes, and never crash or leak. */

#include <stdint.h>
#include <string.h>

#include "manifest.h"
#include "moat-error.h"

/* What every accepted manifest promises its users (oci.c, supervise.c): the checks are the
 * fuzzer's oracle beyond "did not crash". */
static void
check_accepted (const MoatManifest *m)
{
  g_assert_true (moat_name_is_valid (m->name));
  g_assert_nonnull (m->version);
  g_assert_nonnull (m->exec);
  g_assert_true (m->exec[0] != NULL && m->exec[0][0] == '/');
  g_assert_cmpuint (g_strv_length (m->exec), <=, MOAT_MANIFEST_MAX_ARGS);
  g_assert_nonnull (m->environment);
  g_assert_cmpuint (g_strv_length (m->environment), <=, MOAT_MANIFEST_MAX_ENTRIES);
  g_assert_cmpuint (m->devices->len, <=, MOAT_MANIFEST_MAX_ENTRIES);
  for (guint i = 0; i < m->devices->len; i++)
    {
      const MoatDevice *device = g_ptr_array_index (m->devices, i);
      g_assert_true (g_str_has_prefix (device->path, "/dev/"));
      g_assert_null (strstr (device->path, "//"));
      g_auto (GStrv) components = g_strsplit (device->path, "/", -1);
      for (char **c = components; *c != NULL; c++)
        g_assert_true (!g_str_equal (*c, ".") && !g_str_equal (*c, ".."));
    }
  for (char **cap = m->capabilities; *cap != NULL; cap++)
    g_assert_true (g_strv_contains (moat_manifest_allowed_capabilities, *cap));
  g_assert_nonnull (m->syscalls);
  g_assert_true (m->health_command == NULL || m->health_command[0][0] == '/');
  g_assert_cmpuint (m->health_timeout_usec, <=, m->health_interval_usec);
  g_assert_true (m->memory_bytes == 0 || m->memory_bytes >= (4 << 20));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatManifest) manifest
      = moat_manifest_parse ("fuzz.manifest", (const char *)data, size, &error);
  if (manifest != NULL)
    {
      g_assert_no_error (error);
      check_accepted (manifest);
      return 0;
    }
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_assert_true (g_str_has_prefix (error->message, "fuzz.manifest:"));
  /* Messages quote the input; they must stay text that a journal or a terminal can show. */
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  return 0;
}
