/* libFuzzer target for what a bundle's bytes reach before any signature is checked (bundle.h).
 * Each input is read four ways: as a .moatb (and, when it parses, the commit it holds is read
 * for its claims); as a bare commit object, as a remote repo serves one; split at NULs into
 * version strings to order; and as one tree entry (path, symlink target, mode). Every input
 * must be refused with a well-formed error or accepted with the promises bundle.h makes, and
 * never crash, leak or make GLib complain. */

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "moat-error.h"
#include "name.h"

/* Refusals are MOAT_ERROR_INVALID, and their messages quote the input escaped: one line of
 * printable ASCII that a journal or a terminal can show. */
static void
check_refusal (const GError *error)
{
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  for (const char *c = error->message; *c != '\0'; c++)
    g_assert_true ((guchar)*c >= 0x20 && (guchar)*c < 0x7f);
}

static gboolean
has_control (const char *text)
{
  for (const char *c = text; *c != '\0'; c++)
    if ((guchar)*c < 0x20 || *c == 0x7f)
      return TRUE;
  return FALSE;
}

/* What moat install relies on in an accepted commit's claims. */
static void
check_info (const MoatBundleInfo *info, GVariant *commit, const char *checksum)
{
  g_assert_cmpstr (info->checksum, ==, checksum);
  g_autofree char *name = NULL;
  g_autofree char *arch = NULL;
  g_autofree char *branch = NULL;
  g_assert_true (moat_bundle_ref_parse (info->ref, &name, &arch, &branch));
  g_assert_true (g_str_has_prefix (info->ref, "sandbox/"));
  g_assert_true (moat_name_is_valid (info->name));
  g_assert_cmpstr (info->name, ==, name);
  g_assert_cmpstr (info->arch, ==, arch);
  g_assert_cmpstr (info->branch, ==, branch);
  g_assert_false (has_control (info->ref));
  g_assert_true (g_utf8_validate (info->version, -1, NULL));
  g_assert_cmpuint (strlen (info->version), >=, 1);
  g_assert_cmpuint (strlen (info->version), <=, 64);
  g_assert_false (has_control (info->version));
  g_assert_null (info->signed_by);

  g_autoptr (GVariant) metadata = g_variant_get_child_value (commit, 0);
  g_autoptr (GVariant) expires
      = g_variant_lookup_value (metadata, MOAT_BUNDLE_EXPIRES_KEY, G_VARIANT_TYPE_UINT64);
  g_assert_cmpuint (info->expires, ==, expires ? g_variant_get_uint64 (expires) : 0);
  g_assert_true (expires == NULL || info->expires != 0);
}

static void
read_claims (GVariant *commit, const char *checksum)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatBundleInfo) info = moat_bundle_info_from_commit (commit, checksum, &error);
  if (info == NULL)
    {
      check_refusal (error);
      return;
    }
  g_assert_no_error (error);
  check_info (info, commit, checksum);
}

static void
fuzz_moatb (GBytes *bytes)
{
  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) detached = NULL;
  g_autofree char *checksum = NULL;
  g_autoptr (GError) error = NULL;
  if (!moat_bundle_parse (bytes, &commit, &checksum, &detached, &error))
    {
      check_refusal (error);
      g_assert_null (commit);
      g_assert_null (checksum);
      g_assert_null (detached);
      return;
    }
  g_assert_no_error (error);
  /* The checksum names the commit's very bytes. */
  g_assert_true (g_variant_is_of_type (commit, G_VARIANT_TYPE (OSTREE_COMMIT_GVARIANT_STRING)));
  g_assert_true (g_variant_is_normal_form (commit));
  g_assert_true (ostree_validate_checksum_string (checksum, NULL));
  g_autofree char *actual = g_compute_checksum_for_data (
      G_CHECKSUM_SHA256, g_variant_get_data (commit), g_variant_get_size (commit));
  g_assert_cmpstr (checksum, ==, actual);
  g_assert_true (detached == NULL || g_variant_is_of_type (detached, G_VARIANT_TYPE_VARDICT));
  read_claims (commit, checksum);
}

/* The same bytes as a commit object, normal form or not. */
static void
fuzz_commit (GBytes *bytes)
{
  g_autoptr (GVariant) commit = g_variant_ref_sink (
      g_variant_new_from_bytes (G_VARIANT_TYPE (OSTREE_COMMIT_GVARIANT_STRING), bytes, FALSE));
  g_autofree char *checksum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
  read_claims (commit, checksum);
}

static int
sign_of (int n)
{
  return (n > 0) - (n < 0);
}

/* An order: antisymmetric, reflexive, transitive. */
static void
fuzz_versions (const char *a, const char *b, const char *c)
{
  g_assert_cmpint (moat_version_compare (a, a), ==, 0);
  int ab = sign_of (moat_version_compare (a, b));
  g_assert_cmpint (ab, ==, -sign_of (moat_version_compare (b, a)));
  if (c == NULL)
    return;
  int bc = sign_of (moat_version_compare (b, c));
  int ac = sign_of (moat_version_compare (a, c));
  if (ab <= 0 && bc <= 0)
    g_assert_cmpint (ac, <=, 0);
  if (ab >= 0 && bc >= 0)
    g_assert_cmpint (ac, >=, 0);
}

static const char *const mount_points[] = {
  "rootfs/data", "rootfs/tmp", "rootfs/dev", "rootfs/proc",
  "rootfs/sys",  "rootfs/run", "rootfs/etc", "rootfs/etc/hosts",
};

/* Does TARGET, read from a link DEPTH components deep, reach above rootfs/ at any step?
 * Counted character by character, apart from bundle.c's split-based walk. */
static gboolean
climbs_out (const char *target, guint depth)
{
  long level = (long)depth - 1;
  const char *c = target;
  while (*c != '\0')
    {
      const char *end = strchrnul (c, '/');
      gsize len = (gsize)(end - c);
      if (len == 2 && c[0] == '.' && c[1] == '.')
        level--;
      else if (len > 0 && !(len == 1 && c[0] == '.'))
        level++;
      if (level < 1)
        return TRUE;
      c = *end == '/' ? end + 1 : end;
    }
  return level < 1;
}

/* The tree rules, restated: what an accepted entry must be. */
static void
check_entry_accepted (const char *path, guint depth, guint32 mode, const char *target)
{
  const char *slash = strrchr (path, '/');
  const char *base = slash ? slash + 1 : path;
  g_assert_true (base[0] != '\0' && strcmp (base, ".") != 0 && strcmp (base, "..") != 0);
  g_assert_false (has_control (base));
  g_assert_cmpuint (depth, <=, MOAT_BUNDLE_MAX_DEPTH);
  g_assert_true (S_ISREG (mode) || S_ISDIR (mode) || S_ISLNK (mode));
  g_assert_false (mode & (S_ISUID | S_ISGID));
  if (!S_ISLNK (mode))
    {
      g_assert_false (mode & S_IWOTH);
      return;
    }
  g_assert_nonnull (target);
  g_assert_cmpuint (strlen (target), >=, 1);
  g_assert_cmpuint (strlen (target), <=, MOAT_BUNDLE_MAX_TARGET);
  for (gsize i = 0; i < G_N_ELEMENTS (mount_points); i++)
    g_assert_cmpstr (path, !=, mount_points[i]);
  g_assert_true (target[0] == '/' || !climbs_out (target, depth));
}

/* PATH and TARGET from the input's strings, the mode from its last two bytes (the type from
 * bits 12-14, permissions 07777), the depth from PATH as the tree walk counts it. */
static void
fuzz_entry (const char *path, const char *target, const uint8_t *data, size_t size)
{
  static const guint32 types[8]
      = { S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, 0 };
  guint bits = size >= 2 ? (guint)data[size - 2] | (guint)data[size - 1] << 8 : 0;
  guint32 mode = types[(bits >> 12) & 7] | (bits & 07777);
  guint depth = 1;
  for (const char *c = path; *c != '\0'; c++)
    depth += *c == '/';
  g_autoptr (GError) error = NULL;
  if (moat_bundle_check_entry (path, depth, mode, target, &error))
    {
      g_assert_no_error (error);
      check_entry_accepted (path, depth, mode, target);
    }
  else
    check_refusal (error);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* A critical or warning from GLib on hostile input is a bug too. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_FATAL_MASK);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GBytes) bytes = g_bytes_new (data, size);
  fuzz_moatb (bytes);
  fuzz_commit (bytes);

  /* The strings: up to the first NUL, then to the next, then the rest. */
  const char *text = (const char *)data;
  const char *first_nul = memchr (text, '\0', size);
  g_autofree char *a = g_strndup (text, size);
  g_autofree char *b = NULL;
  g_autofree char *c = NULL;
  if (first_nul != NULL)
    {
      gsize at = (gsize)(first_nul - text) + 1;
      b = g_strndup (text + at, size - at);
      const char *second_nul = memchr (text + at, '\0', size - at);
      if (second_nul != NULL)
        {
          gsize next = (gsize)(second_nul - text) + 1;
          c = g_strndup (text + next, size - next);
        }
    }
  fuzz_versions (a, b ? b : "", c);
  fuzz_entry (a, b, data, size);
  return 0;
}
