#include "bundle.h"

#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "moat-error.h"
#include "name.h"
#include "seccomp.h"

/* ostree's static delta superblock: metadata, timestamp, from, to, the commit, dependencies,
 * part entries, fallbacks. */
#define SUPERBLOCK_TYPE "(a{sv}tayay" OSTREE_COMMIT_GVARIANT_STRING "aya(uayttay)a(yaytt))"

void
moat_bundle_info_free (MoatBundleInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->checksum);
  g_free (info->ref);
  g_free (info->name);
  g_free (info->arch);
  g_free (info->branch);
  g_free (info->version);
  g_free (info->signed_by);
  g_free (info);
}

/* --- the .moatb file ------------------------------------------------------------------ */

gboolean
moat_bundle_parse (GBytes *data, GVariant **ret_commit, char **ret_checksum,
                   GVariant **ret_detached, GError **error)
{
  if (g_bytes_get_size (data) > MOAT_BUNDLE_MAX_FILE_BYTES)
    return moat_error_invalid (error, "bundle is larger than the %d MiB limit",
                               MOAT_BUNDLE_MAX_FILE_BYTES / (1024 * 1024));
  g_autoptr (GVariant) superblock = g_variant_ref_sink (
      g_variant_new_from_bytes (G_VARIANT_TYPE (SUPERBLOCK_TYPE), data, FALSE));
  /* Outside normal form a GVariant reads as defaults, and a commit's bytes would not be the
   * ones its checksum names: a truncated or altered file ends here. */
  if (!g_variant_is_normal_form (superblock))
    return moat_error_invalid (error, "not a bundle: truncated, or not an OSTree static delta");

  g_autoptr (GVariant) metadata = g_variant_get_child_value (superblock, 0);
  guint8 endianness = 0;
  if (!g_variant_lookup (metadata, "ostree.endianness", "y", &endianness)
      || endianness != (G_BYTE_ORDER == G_LITTLE_ENDIAN ? 'l' : 'B'))
    return moat_error_invalid (error, "not a bundle: the delta's byte order is missing or foreign");
  g_autoptr (GVariant) from = g_variant_get_child_value (superblock, 2);
  if (g_variant_n_children (from) != 0)
    return moat_error_invalid (
        error, "not a bundle: a delta from another commit (bundles start from nothing)");
  g_autoptr (GVariant) to = g_variant_get_child_value (superblock, 3);
  if (g_variant_n_children (to) != OSTREE_SHA256_DIGEST_LEN)
    return moat_error_invalid (error, "not a bundle: the target checksum is %zu bytes",
                               g_variant_n_children (to));
  g_autoptr (GVariant) fallbacks = g_variant_get_child_value (superblock, 7);
  if (g_variant_n_children (fallbacks) != 0)
    return moat_error_invalid (error, "not a bundle: it needs %zu objects fetched from elsewhere",
                               g_variant_n_children (fallbacks));

  g_autoptr (GVariant) commit = g_variant_get_child_value (superblock, 4);
  g_autofree char *checksum = ostree_checksum_from_bytes (g_variant_get_data (to));
  g_autofree char *actual = g_compute_checksum_for_data (
      G_CHECKSUM_SHA256, g_variant_get_data (commit), g_variant_get_size (commit));
  if (strcmp (checksum, actual) != 0)
    return moat_error_invalid (error, "tampered: the commit's bytes do not match its checksum %s",
                               checksum);

  /* ostree keeps the detached metadata under the delta's own path, "deltas/XX/REST/commitmeta"
   * with XX/REST the modified base64 of the target. */
  g_autofree char *b64 = ostree_checksum_b64_from_bytes (g_variant_get_data (to));
  g_autofree char *key = g_strdup_printf ("deltas/%.2s/%s/commitmeta", b64, b64 + 2);
  g_autoptr (GVariant) detached = g_variant_lookup_value (metadata, key, NULL);
  if (detached != NULL && !g_variant_is_of_type (detached, G_VARIANT_TYPE_VARDICT))
    return moat_error_invalid (error, "the detached metadata is of type %s, not a{sv}",
                               g_variant_get_type_string (detached));

  *ret_commit = g_steal_pointer (&commit);
  *ret_checksum = g_steal_pointer (&checksum);
  *ret_detached = g_steal_pointer (&detached);
  return TRUE;
}

/* --- what a commit claims ------------------------------------------------------------- */

static gboolean
branch_is_valid (const char *branch)
{
  gsize len = strlen (branch);
  if (len == 0 || len > MOAT_BUNDLE_MAX_BRANCH || branch[0] == '.' || branch[0] == '-')
    return FALSE;
  for (const char *c = branch; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '.' && *c != '_' && *c != '-')
      return FALSE;
  return TRUE;
}

static gboolean
arch_is_known (const char *arch)
{
  for (MoatArch a = 0; a < MOAT_ARCH_COUNT; a++)
    if (strcmp (arch, moat_arch_name (a)) == 0)
      return TRUE;
  return FALSE;
}

gboolean
moat_bundle_ref_parse (const char *ref, char **ret_name, char **ret_arch, char **ret_branch)
{
  g_auto (GStrv) parts = g_strsplit (ref, "/", -1);
  if (g_strv_length (parts) != 4 || strcmp (parts[0], "sandbox") != 0
      || !moat_name_is_valid (parts[1]) || !arch_is_known (parts[2]) || !branch_is_valid (parts[3]))
    return FALSE;
  if (ret_name != NULL)
    *ret_name = g_strdup (parts[1]);
  if (ret_arch != NULL)
    *ret_arch = g_strdup (parts[2]);
  if (ret_branch != NULL)
    *ret_branch = g_strdup (parts[3]);
  return TRUE;
}

/* A string of the commit metadata, printable in messages. */
static gboolean
printable (const char *text)
{
  if (!g_utf8_validate (text, -1, NULL))
    return FALSE;
  /* C0, DEL and C1 (U+0080-U+009F: CSI, NEL...) would act on a terminal that shows them. */
  for (const char *c = text; *c != '\0'; c = g_utf8_next_char (c))
    if (g_unichar_iscntrl (g_utf8_get_char (c)))
      return FALSE;
  return TRUE;
}

MoatBundleInfo *
moat_bundle_info_from_commit (GVariant *commit, const char *checksum, GError **error)
{
  if (!g_variant_is_of_type (commit, G_VARIANT_TYPE (OSTREE_COMMIT_GVARIANT_STRING)))
    return moat_error_invalid (error, "not a commit"), NULL;
  g_autoptr (GVariant) metadata = g_variant_get_child_value (commit, 0);
  g_autoptr (MoatBundleInfo) info = g_new0 (MoatBundleInfo, 1);
  info->checksum = g_strdup (checksum);
  info->timestamp = ostree_commit_get_timestamp (commit);

  g_autoptr (GVariant) refs
      = g_variant_lookup_value (metadata, MOAT_BUNDLE_REF_BINDING_KEY, G_VARIANT_TYPE ("as"));
  if (refs == NULL || g_variant_n_children (refs) == 0)
    return moat_error_invalid (error, "the commit is not bound to a ref (no %s)",
                               MOAT_BUNDLE_REF_BINDING_KEY),
           NULL;
  if (g_variant_n_children (refs) != 1)
    return moat_error_invalid (error,
                               "the commit is bound to %zu refs; a bundle is bound to exactly one",
                               g_variant_n_children (refs)),
           NULL;
  g_variant_get_child (refs, 0, "s", &info->ref);
  if (!printable (info->ref)
      || !moat_bundle_ref_parse (info->ref, &info->name, &info->arch, &info->branch))
    return moat_error_invalid (error,
                               "the commit is bound to a ref that is not sandbox/NAME/ARCH/BRANCH"),
           NULL;

  if (!g_variant_lookup (metadata, MOAT_BUNDLE_VERSION_KEY, "s", &info->version))
    return moat_error_invalid (error, "the commit has no version"), NULL;
  if (!printable (info->version) || strlen (info->version) == 0 || strlen (info->version) > 64)
    return moat_error_invalid (error,
                               "the commit's version is not printable or not 1-64 characters"),
           NULL;

  g_autoptr (GVariant) expires = g_variant_lookup_value (metadata, MOAT_BUNDLE_EXPIRES_KEY, NULL);
  if (expires != NULL)
    {
      if (!g_variant_is_of_type (expires, G_VARIANT_TYPE_UINT64))
        return moat_error_invalid (error, "%s is of type %s, not t", MOAT_BUNDLE_EXPIRES_KEY,
                                   g_variant_get_type_string (expires)),
               NULL;
      info->expires = g_variant_get_uint64 (expires);
      if (info->expires == 0)
        return moat_error_invalid (error, "%s is 0", MOAT_BUNDLE_EXPIRES_KEY), NULL;
    }
  return g_steal_pointer (&info);
}

/* --- versions ------------------------------------------------------------------------- */

/* dpkg's order of a non-digit: '~' first, then the end of the string, letters, the rest. */
static int
char_order (char c)
{
  if (c == '~')
    return -1;
  if (c == '\0' || g_ascii_isdigit (c))
    return 0;
  if (g_ascii_isalpha (c))
    return c;
  return c + 256;
}

int
moat_version_compare (const char *a, const char *b)
{
  while (*a != '\0' || *b != '\0')
    {
      while ((*a != '\0' && !g_ascii_isdigit (*a)) || (*b != '\0' && !g_ascii_isdigit (*b)))
        {
          int diff = char_order (*a) - char_order (*b);
          if (diff != 0)
            return diff;
          a++;
          b++;
        }
      while (*a == '0')
        a++;
      while (*b == '0')
        b++;
      int first_diff = 0;
      while (g_ascii_isdigit (*a) && g_ascii_isdigit (*b))
        {
          if (first_diff == 0)
            first_diff = *a - *b;
          a++;
          b++;
        }
      if (g_ascii_isdigit (*a))
        return 1;
      if (g_ascii_isdigit (*b))
        return -1;
      if (first_diff != 0)
        return first_diff;
    }
  return 0;
}

/* --- the tree ------------------------------------------------------------------------- */

/* Paths the runtime mounts over or binds into: each must be what it looks like, never a
 * symlink that sends a host-side mount somewhere else. */
static const char *const mount_points[] = {
  "rootfs/data", "rootfs/tmp", "rootfs/dev", "rootfs/proc",
  "rootfs/sys",  "rootfs/run", "rootfs/etc", "rootfs/etc/hosts",
};

static gboolean
name_is_safe (const char *name)
{
  if (name[0] == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (*c == '/' || (guchar)*c < 0x20 || *c == 0x7f)
      return FALSE;
  return TRUE;
}

/* Does TARGET, read from a link DEPTH components deep (its own name included), climb above
 * the tree's top? */
static gboolean
target_escapes (const char *target, guint depth)
{
  int level = (int)depth - 1;
  g_auto (GStrv) parts = g_strsplit (target, "/", -1);
  for (char **p = parts; *p != NULL; p++)
    {
      if (strcmp (*p, "..") == 0)
        level--;
      else if (**p != '\0' && strcmp (*p, ".") != 0)
        level++;
      if (level < 1) /* above rootfs/ itself */
        return TRUE;
    }
  return FALSE;
}

gboolean
moat_bundle_check_entry (const char *path, guint depth, guint32 mode, const char *target,
                         GError **error)
{
  g_autofree char *shown = g_strescape (path, NULL);
  const char *base = strrchr (path, '/');
  if (!name_is_safe (base != NULL ? base + 1 : path))
    return moat_error_invalid (
        error, "%s: a name that is empty, '.', '..' or holds control characters", shown);
  if (depth > MOAT_BUNDLE_MAX_DEPTH)
    return moat_error_invalid (error, "%s: deeper than %d directories", shown,
                               MOAT_BUNDLE_MAX_DEPTH);
  if (!S_ISREG (mode) && !S_ISDIR (mode) && !S_ISLNK (mode))
    return moat_error_invalid (error,
                               "%s: a device node, socket or FIFO (only files, directories and "
                               "symlinks are allowed)",
                               shown);
  if (mode & (S_ISUID | S_ISGID))
    return moat_error_invalid (error, "%s: setuid or setgid (mode %04o)", shown, mode & 07777);
  if (!S_ISLNK (mode) && (mode & S_IWOTH))
    return moat_error_invalid (error, "%s: world-writable (mode %04o)", shown, mode & 07777);
  if (!S_ISLNK (mode))
    return TRUE;

  for (gsize i = 0; i < G_N_ELEMENTS (mount_points); i++)
    if (strcmp (path, mount_points[i]) == 0)
      return moat_error_invalid (
          error, "%s: a symlink where the runtime mounts (it must be the real thing)", shown);
  if (target == NULL || target[0] == '\0' || strlen (target) > MOAT_BUNDLE_MAX_TARGET)
    return moat_error_invalid (error, "%s: a symlink with an empty or overlong target", shown);
  if (target[0] != '/' && target_escapes (target, depth))
    {
      g_autofree char *shown_target = g_strescape (target, NULL);
      return moat_error_invalid (error, "%s: a symlink to '%s', which leads out of the bundle",
                                 shown, shown_target);
    }
  return TRUE;
}

typedef struct
{
  guint64 entries;
  guint64 bytes;
} TreeCount;

static gboolean
check_dir (GFile *dir, const char *path, guint depth, TreeCount *count, GError **error)
{
  g_autoptr (GFileEnumerator) children = g_file_enumerate_children (
      dir, "standard::name,standard::type,standard::size,standard::symlink-target,unix::mode",
      G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, error);
  if (children == NULL)
    return FALSE;
  for (;;)
    {
      GFileInfo *info = NULL;
      GFile *child = NULL;
      if (!g_file_enumerator_iterate (children, &info, &child, NULL, error))
        return FALSE;
      if (info == NULL)
        return TRUE;
      /* Joined by hand: g_build_filename() would drop an empty name, which must be refused. */
      g_autofree char *child_path = g_strconcat (path, "/", g_file_info_get_name (info), NULL);
      guint32 mode = g_file_info_get_attribute_uint32 (info, "unix::mode");
      if (++count->entries > MOAT_BUNDLE_MAX_ENTRIES)
        return moat_error_invalid (error, "more than %d files in the bundle",
                                   MOAT_BUNDLE_MAX_ENTRIES);
      if (!moat_bundle_check_entry (child_path, depth + 1, mode,
                                    g_file_info_get_symlink_target (info), error))
        return FALSE;
      if (S_ISREG (mode))
        {
          count->bytes += (guint64)g_file_info_get_size (info);
          if (count->bytes > MOAT_BUNDLE_MAX_TREE_BYTES)
            return moat_error_invalid (error, "the files add up to more than the %lld MiB limit",
                                       MOAT_BUNDLE_MAX_TREE_BYTES / (1024 * 1024));
        }
      if (S_ISDIR (mode) && !check_dir (child, child_path, depth + 1, count, error))
        return FALSE;
    }
}

GBytes *
moat_bundle_check_tree (GFile *root, GError **error)
{
  g_autoptr (GFileEnumerator) top
      = g_file_enumerate_children (root, "standard::name,unix::mode,standard::size",
                                   G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, error);
  if (top == NULL)
    return NULL;
  gboolean have_rootfs = FALSE;
  g_autoptr (GFile) manifest = NULL;
  for (;;)
    {
      GFileInfo *info = NULL;
      GFile *child = NULL;
      if (!g_file_enumerator_iterate (top, &info, &child, NULL, error))
        return NULL;
      if (info == NULL)
        break;
      const char *name = g_file_info_get_name (info);
      guint32 mode = g_file_info_get_attribute_uint32 (info, "unix::mode");
      if (strcmp (name, "manifest") == 0 && S_ISREG (mode))
        {
          if (g_file_info_get_size (info) > MOAT_MANIFEST_MAX_SIZE)
            return moat_error_invalid (error, "manifest: larger than %d bytes",
                                       MOAT_MANIFEST_MAX_SIZE),
                   NULL;
          manifest = g_object_ref (child);
        }
      else if (strcmp (name, "rootfs") == 0 && S_ISDIR (mode))
        have_rootfs = TRUE;
      else
        {
          g_autofree char *shown = g_strescape (name, NULL);
          return moat_error_invalid (error,
                                     "'%s' at the top of the bundle (only a manifest file and a "
                                     "rootfs directory belong there)",
                                     shown),
                 NULL;
        }
      if (!moat_bundle_check_entry (name, 1, mode, NULL, error))
        return NULL;
    }
  if (manifest == NULL || !have_rootfs)
    return moat_error_invalid (error, "the bundle lacks its %s",
                               manifest == NULL ? "manifest" : "rootfs"),
           NULL;

  TreeCount count = { 0 };
  g_autoptr (GFile) rootfs = g_file_get_child (root, "rootfs");
  if (!check_dir (rootfs, "rootfs", 1, &count, error))
    return NULL;
  g_autoptr (GBytes) bytes = g_file_load_bytes (manifest, NULL, NULL, error);
  if (bytes == NULL)
    return NULL;
  return g_steal_pointer (&bytes);
}
