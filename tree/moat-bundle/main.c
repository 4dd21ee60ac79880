/* moat-bundle: build a sandbox bundle on the build host. A directory holding `manifest` and
 * `rootfs/` becomes a signed commit on sandbox/NAME/ARCH/BRANCH in an archive repo that any
 * web server can publish, and, with --output, a single .moatb file for offline installs.
 * The tree rules and signatures are the runtime's own (runtime/lib/bundle.c, sign.c), so a
 * bundle this builds is one the hub accepts. See docs/bundles.md. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "manifest.h"
#include "moat-error.h"
#include "proc.h"
#include "seccomp.h"
#include "sign.h"

typedef struct
{
  const char *dir;
  const char *repo;
  const char *key;
  const char *branch;
  const char *arch;
  const char *output;
  guint64 expires_in_days;
} BuildOptions;

static int
fail (const GError *error)
{
  fprintf (stderr, "moat-bundle: %s\n", error->message);
  return 1;
}

/* --- the source tree ------------------------------------------------------------------ */

typedef struct
{
  guint seen;  /* links to the file found inside the tree */
  guint total; /* st_nlink */
  char *path;  /* the first one found */
} Links;

static void
links_free (gpointer data)
{
  Links *links = data;
  g_free (links->path);
  g_free (links);
}

typedef struct
{
  guint64 entries;
  guint64 bytes;
  GHashTable *links; /* "dev:ino" of files with st_nlink > 1 -> Links */
} SourceCount;

static gboolean
check_source_dir (int parent_fd, const char *name, const char *path, guint depth,
                  SourceCount *count, GError **error)
{
  autofd int fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return moat_error_errno (error, errno, "open", path);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  {
    int list_fd = dup (fd);
    DIR *dir = list_fd >= 0 ? fdopendir (list_fd) : NULL;
    if (dir == NULL)
      return moat_error_errno (error, errno, "read", path);
    struct dirent *entry;
    while ((entry = readdir (dir)) != NULL)
      if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
        g_ptr_array_add (names, g_strdup (entry->d_name));
    closedir (dir);
  }
  for (guint i = 0; i < names->len; i++)
    {
      const char *child = names->pdata[i];
      g_autofree char *child_path = g_strconcat (path, "/", child, NULL);
      struct stat st;
      if (fstatat (fd, child, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return moat_error_errno (error, errno, "stat", child_path);
      g_autofree char *target = NULL;
      if (S_ISLNK (st.st_mode))
        {
          char buf[MOAT_BUNDLE_MAX_TARGET + 1];
          ssize_t n = readlinkat (fd, child, buf, sizeof buf);
          if (n < 0)
            return moat_error_errno (error, errno, "read link", child_path);
          target = g_strndup (buf, (gsize)n);
        }
      if (++count->entries > MOAT_BUNDLE_MAX_ENTRIES)
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "more than %d files",
                            MOAT_BUNDLE_MAX_ENTRIES),
               FALSE;
      if (!moat_bundle_check_entry (child_path, depth + 1, st.st_mode, target, error))
        return FALSE;
      if (S_ISREG (st.st_mode))
        {
          count->bytes += (guint64)st.st_size;
          if (st.st_nlink > 1)
            {
              g_autofree char *key
                  = g_strdup_printf ("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
              Links *links = g_hash_table_lookup (count->links, key);
              if (links == NULL)
                {
                  links = g_new0 (Links, 1);
                  links->total = (guint)st.st_nlink;
                  links->path = g_strdup (child_path);
                  g_hash_table_insert (count->links, g_steal_pointer (&key), links);
                }
              links->seen++;
            }
        }
      if (S_ISDIR (st.st_mode)
          && !check_source_dir (fd, child, child_path, depth + 1, count, error))
        return FALSE;
    }
  return TRUE;
}

/* The tree rules, plus what only the source can show: a hard link to a file outside the tree
 * would copy that file (perhaps a secret of the build host's) into the bundle. */
static gboolean
check_source (const char *dir, GError **error)
{
  /* The top as the hub wants it: a manifest and a rootfs, nothing else. */
  g_autoptr (GDir) top = g_dir_open (dir, 0, error);
  if (top == NULL)
    return FALSE;
  const char *entry;
  while ((entry = g_dir_read_name (top)) != NULL)
    if (strcmp (entry, "manifest") != 0 && strcmp (entry, "rootfs") != 0)
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                          "%s: '%s' (only manifest and rootfs/ belong in a bundle's directory)",
                          dir, entry),
             FALSE;

  g_autofree char *rootfs = g_build_filename (dir, "rootfs", NULL);
  SourceCount count = { 0, 0, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, links_free) };
  gboolean ok = check_source_dir (AT_FDCWD, rootfs, "rootfs", 1, &count, error);
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, count.links);
  while (ok && g_hash_table_iter_next (&iter, NULL, &value))
    {
      const Links *links = value;
      if (links->seen < links->total)
        ok = (g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                           "%s: a hard link to a file outside the tree (%u links, %u inside)",
                           links->path, links->total, links->seen),
              FALSE);
    }
  if (ok && count.bytes > (guint64)MOAT_BUNDLE_MAX_TREE_BYTES)
    ok = (g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                       "rootfs: the files add up to more than the %lld MiB limit",
                       MOAT_BUNDLE_MAX_TREE_BYTES / (1024 * 1024)),
          FALSE);
  g_hash_table_unref (count.links);
  return ok;
}

/* --- build ---------------------------------------------------------------------------- */

static OstreeRepo *
open_or_create_archive (const char *path, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (OstreeRepo) repo = ostree_repo_new (file);
  gboolean ok = g_file_test (path, G_FILE_TEST_IS_DIR)
                    ? ostree_repo_open (repo, NULL, error)
                    : ostree_repo_create (repo, OSTREE_REPO_MODE_ARCHIVE, NULL, error);
  return ok ? g_steal_pointer (&repo) : NULL;
}

static char *
commit_tree (OstreeRepo *repo, const BuildOptions *options, const MoatManifest *manifest,
             const char *ref, GError **error)
{
  g_autofree char *parent = NULL;
  if (!ostree_repo_resolve_rev (repo, ref, TRUE, &parent, error))
    return NULL;
  GVariantBuilder metadata;
  g_variant_builder_init (&metadata, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&metadata, "{sv}", MOAT_BUNDLE_VERSION_KEY,
                         g_variant_new_string (manifest->version));
  const char *refs[] = { ref, NULL };
  g_variant_builder_add (&metadata, "{sv}", MOAT_BUNDLE_REF_BINDING_KEY,
                         g_variant_new_strv (refs, -1));
  if (options->expires_in_days > 0)
    g_variant_builder_add (&metadata, "{sv}", MOAT_BUNDLE_EXPIRES_KEY,
                           g_variant_new_uint64 ((guint64)(g_get_real_time () / G_USEC_PER_SEC)
                                                 + options->expires_in_days * 86400));
  g_autoptr (GVariant) metadata_v = g_variant_ref_sink (g_variant_builder_end (&metadata));

  g_autoptr (OstreeMutableTree) mtree = ostree_mutable_tree_new ();
  /* Every file root's, modes reduced to what a bare-user-only repo keeps. */
  g_autoptr (OstreeRepoCommitModifier) modifier = ostree_repo_commit_modifier_new (
      OSTREE_REPO_COMMIT_MODIFIER_FLAGS_CANONICAL_PERMISSIONS, NULL, NULL, NULL);
  g_autoptr (GFile) root = NULL;
  g_autofree char *checksum = NULL;
  g_autofree char *subject = g_strdup_printf ("%s %s", manifest->name, manifest->version);
  if (!ostree_repo_prepare_transaction (repo, NULL, NULL, error))
    return NULL;
  if (!ostree_repo_write_dfd_to_mtree (repo, AT_FDCWD, options->dir, mtree, modifier, NULL, error)
      || !ostree_repo_write_mtree (repo, mtree, &root, NULL, error)
      || !ostree_repo_write_commit (repo, parent, subject, NULL, metadata_v,
                                    OSTREE_REPO_FILE (root), &checksum, NULL, error))
    {
      ostree_repo_abort_transaction (repo, NULL, NULL);
      return NULL;
    }
  ostree_repo_transaction_set_ref (repo, NULL, ref, checksum);
  if (!ostree_repo_commit_transaction (repo, NULL, NULL, error))
    return NULL;
  return g_steal_pointer (&checksum);
}

static gboolean
write_moatb (OstreeRepo *repo, const char *checksum, const char *output, GError **error)
{
  GVariantBuilder params;
  g_variant_builder_init (&params, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&params, "{sv}", "filename", g_variant_new_bytestring (output));
  g_variant_builder_add (&params, "{sv}", "inline-parts", g_variant_new_boolean (TRUE));
  /* 0: no object is left out as a "fallback" to be fetched from elsewhere. */
  g_variant_builder_add (&params, "{sv}", "min-fallback-size", g_variant_new_uint32 (0));
  g_autoptr (GVariant) params_v = g_variant_ref_sink (g_variant_builder_end (&params));
  if (unlink (output) < 0 && errno != ENOENT)
    return moat_error_errno (error, errno, "replace", output);
  return ostree_repo_static_delta_generate (repo, OSTREE_STATIC_DELTA_GENERATE_OPT_MAJOR, NULL,
                                            checksum, NULL, params_v, NULL, error);
}

static int
build (const BuildOptions *options)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *manifest_path = g_build_filename (options->dir, "manifest", NULL);
  g_autoptr (MoatManifest) manifest = moat_manifest_load (manifest_path, &error);
  if (manifest == NULL)
    return fail (error);
  g_autofree char *ref
      = g_strdup_printf ("sandbox/%s/%s/%s", manifest->name, options->arch, options->branch);
  if (!moat_bundle_ref_parse (ref, NULL, NULL, NULL))
    {
      fprintf (stderr, "moat-bundle: '%s' is not a bundle ref (check --arch and --branch)\n", ref);
      return 2;
    }
  g_autoptr (MoatSigningKey) key = moat_signing_key_load (options->key, &error);
  if (key == NULL || !check_source (options->dir, &error))
    return fail (error);

  g_autoptr (OstreeRepo) repo = open_or_create_archive (options->repo, &error);
  g_autofree char *checksum = repo ? commit_tree (repo, options, manifest, ref, &error) : NULL;
  if (checksum == NULL || !moat_sign_commit (repo, checksum, key, &error)
      || !ostree_repo_regenerate_summary (repo, NULL, NULL, &error))
    return fail (error);

  /* What the hub will check, checked here too: the committed tree, as the hub reads it. */
  g_autoptr (GFile) root = NULL;
  g_autoptr (GBytes) manifest_bytes = NULL;
  if (!ostree_repo_read_commit (repo, checksum, &root, NULL, NULL, &error)
      || (manifest_bytes = moat_bundle_check_tree (root, &error)) == NULL)
    return fail (error);
  if (options->output != NULL && !write_moatb (repo, checksum, options->output, &error))
    return fail (error);
  printf ("%s %s %s\n", ref, manifest->version, checksum);
  if (options->output != NULL)
    {
      struct stat st;
      if (stat (options->output, &st) == 0)
        printf ("wrote %s (%jd bytes)\n", options->output, (intmax_t)st.st_size);
    }
  return 0;
}

/* --- inspect -------------------------------------------------------------------------- */

static int
inspect (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (path, FALSE, &error);
  if (mapped == NULL)
    return fail (error);
  g_autoptr (GBytes) bytes = g_mapped_file_get_bytes (mapped);
  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) detached = NULL;
  g_autofree char *checksum = NULL;
  if (!moat_bundle_parse (bytes, &commit, &checksum, &detached, &error))
    return fail (error);
  g_autoptr (MoatBundleInfo) info = moat_bundle_info_from_commit (commit, checksum, &error);
  if (info == NULL)
    return fail (error);
  g_autoptr (GVariant) signatures
      = detached ? g_variant_lookup_value (detached, MOAT_SIGN_METADATA_KEY, NULL) : NULL;
  printf ("ref:        %s\nversion:    %s\ncommit:     %s\nsignatures: %zu (not checked: "
          "`moat install` checks them against the hub's keys)\n",
          info->ref, info->version, info->checksum,
          signatures && g_variant_is_container (signatures) ? g_variant_n_children (signatures)
                                                            : 0);
  if (info->expires != 0)
    {
      g_autoptr (GDateTime) when = g_date_time_new_from_unix_utc ((gint64)info->expires);
      g_autofree char *text = when ? g_date_time_format_iso8601 (when) : g_strdup ("?");
      printf ("expires:    %s\n", text);
    }
  return 0;
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: moat-bundle VERB ...\n\n"
                "  build --repo REPO --key SECRET_FILE [--branch BRANCH] [--arch ARCH]\n"
                "        [--expires-in DAYS] [--output FILE.moatb] DIR\n"
                "      commit DIR (its manifest and rootfs/) to sandbox/NAME/ARCH/BRANCH in the\n"
                "      archive repo REPO (made if missing), sign it, and write FILE.moatb\n"
                "      (defaults: --branch stable, --arch this machine's)\n"
                "  keygen SECRET_FILE PUBLIC_FILE\n"
                "      make a signing key pair (secret 0600, never overwritten)\n"
                "  inspect FILE.moatb\n"
                "      show what a bundle claims (ref, version, commit), without trusting it\n");
}

int
main (int argc, char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  const char *verb = argv[1];
  if (strcmp (verb, "keygen") == 0 && argc == 4)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MoatSigningKey) key = moat_signing_key_generate (&error);
      if (key == NULL || !moat_signing_key_save (key, argv[2], argv[3], &error))
        return fail (error);
      g_autofree char *public_key = moat_signing_key_public (key);
      printf ("%s\n", public_key);
      return 0;
    }
  if (strcmp (verb, "inspect") == 0 && argc == 3)
    return inspect (argv[2]);
  if (strcmp (verb, "build") != 0)
    {
      usage (stderr);
      return 2;
    }

  BuildOptions options = { .branch = "stable", .arch = moat_arch_name (moat_arch_native ()) };
  static const struct option long_options[] = {
    { "repo", required_argument, NULL, 'r' },
    { "key", required_argument, NULL, 'k' },
    { "branch", required_argument, NULL, 'b' },
    { "arch", required_argument, NULL, 'a' },
    { "output", required_argument, NULL, 'o' },
    { "expires-in", required_argument, NULL, 'e' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  optind = 2;
  while ((c = getopt_long (argc, argv, "", long_options, NULL)) != -1)
    switch (c)
      {
      case 'r':
        options.repo = optarg;
        break;
      case 'k':
        options.key = optarg;
        break;
      case 'b':
        options.branch = optarg;
        break;
      case 'a':
        options.arch = optarg;
        break;
      case 'o':
        options.output = optarg;
        break;
      case 'e':
        {
          char *end;
          guint64 days = g_ascii_strtoull (optarg, &end, 10);
          if (*optarg == '\0' || *end != '\0' || days == 0 || days > 36500)
            {
              fprintf (stderr, "moat-bundle: --expires-in: '%s' is not 1..36500 days\n", optarg);
              return 2;
            }
          options.expires_in_days = days;
          break;
        }
      default:
        usage (stderr);
        return 2;
      }
  if (optind != argc - 1 || options.repo == NULL || options.key == NULL)
    {
      usage (stderr);
      return 2;
    }
  options.dir = argv[optind];
  return build (&options);
}
