#include "bundle-install.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "moat-error.h"
#include "name.h"
#include "proc.h"
#include "sign.h"

#define INFO_GROUP "Bundle"

/* A candidate: fetched into a staging repo of its own, not yet trusted. */
typedef struct
{
  const MoatBundleContext *ctx;
  char *stage_dir;   /* STATE/tmp/stage-XXXXXX, removed at the end whatever happens */
  OstreeRepo *stage; /* STATE/tmp/stage-XXXXXX/repo */
  MoatBundleInfo *info;
  int lock_fd;
} Operation;

static void progress (const MoatBundleContext *ctx, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
progress (const MoatBundleContext *ctx, const char *format, ...)
{
  if (ctx->progress == NULL)
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  ctx->progress (message, ctx->progress_data);
}

static gboolean
ensure_dir (const char *path, mode_t mode, GError **error)
{
  if (mkdir (path, mode) < 0 && errno != EEXIST)
    return moat_error_errno (error, errno, "create", path);
  struct stat st;
  if (lstat (path, &st) < 0)
    return moat_error_errno (error, errno, "stat", path);
  if (!S_ISDIR (st.st_mode))
    return moat_error_errno (error, ENOTDIR, "use", path);
  return TRUE;
}

/* Take the state lock and clear what a crashed operation left in STATE/tmp. */
static gboolean
operation_begin (Operation *op, const MoatBundleContext *ctx, GError **error)
{
  memset (op, 0, sizeof *op);
  op->ctx = ctx;
  op->lock_fd = -1;
  g_autofree char *tmp = g_build_filename (ctx->state_dir, "tmp", NULL);
  g_autofree char *sandboxes = g_build_filename (ctx->state_dir, "sandboxes", NULL);
  g_autofree char *lock = g_build_filename (ctx->state_dir, "bundles.lock", NULL);
  if (!ensure_dir (ctx->state_dir, 0755, error) || !ensure_dir (sandboxes, 0755, error))
    return FALSE;
  op->lock_fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (op->lock_fd < 0)
    return moat_error_errno (error, errno, "open", lock);
  if (flock (op->lock_fd, LOCK_EX | LOCK_NB) < 0)
    {
      if (errno != EWOULDBLOCK)
        return moat_error_errno (error, errno, "lock", lock);
      progress (ctx, "waiting for another bundle operation to finish");
      while (flock (op->lock_fd, LOCK_EX) < 0)
        if (errno != EINTR)
          return moat_error_errno (error, errno, "lock", lock);
    }
  return moat_rm_rf (tmp, error) && ensure_dir (tmp, 0700, error);
}

static void
operation_end (Operation *op)
{
  g_clear_object (&op->stage);
  if (op->stage_dir != NULL)
    moat_rm_rf (op->stage_dir, NULL);
  g_clear_pointer (&op->stage_dir, g_free);
  g_clear_pointer (&op->info, moat_bundle_info_free);
  moat_close_fd (&op->lock_fd);
}

static OstreeRepo *
open_or_create_repo (const char *path, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (OstreeRepo) repo = ostree_repo_new (file);
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      if (!ostree_repo_open (repo, NULL, error))
        return NULL;
    }
  else if (!ostree_repo_create (repo, OSTREE_REPO_MODE_BARE_USER_ONLY, NULL, error))
    return NULL;
  return g_steal_pointer (&repo);
}

/* A fresh staging repo under STATE/tmp. */
static gboolean
make_stage (Operation *op, GError **error)
{
  g_autofree char *template = g_build_filename (op->ctx->state_dir, "tmp", "stage-XXXXXX", NULL);
  if (g_mkdtemp_full (template, 0700) == NULL)
    return moat_error_errno (error, errno, "create", template);
  /* Absolute: the stage is pulled from by file:// URL. */
  op->stage_dir = g_canonicalize_filename (template, NULL);
  g_autofree char *repo = g_build_filename (op->stage_dir, "repo", NULL);
  op->stage = open_or_create_repo (repo, error);
  return op->stage != NULL;
}

static OstreeRepo *
open_state_repo (const MoatBundleContext *ctx, GError **error)
{
  g_autofree char *path = g_build_filename (ctx->state_dir, "repo", NULL);
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (OstreeRepo) repo = ostree_repo_new (file);
  if (!ostree_repo_open (repo, NULL, error))
    return NULL;
  return g_steal_pointer (&repo);
}

/* Drop the objects no ref reaches: refs moat/NAME/{current,previous} keep what is deployed. */
static gboolean
prune_unreferenced (OstreeRepo *repo, GError **error)
{
  gint total, pruned;
  guint64 freed;
  return ostree_repo_prune (repo, OSTREE_REPO_PRUNE_FLAGS_REFS_ONLY, -1, &total, &pruned, &freed,
                            NULL, error);
}

/* --- what is installed ---------------------------------------------------------------- */

/* The commit a link (current or previous) of NAME names: "deploy/CHECKSUM". */
static char *
link_commit (const char *sandbox_dir, const char *link, GError **error)
{
  g_autofree char *path = g_build_filename (sandbox_dir, link, NULL);
  g_autofree char *target = g_file_read_link (path, NULL);
  if (target == NULL)
    {
      struct stat st;
      if (lstat (path, &st) == 0)
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                            "%s is not a link to a deployed bundle (installed by hand? remove "
                            "it first)",
                            path),
               NULL;
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "%s: none", path), NULL;
    }
  if (!g_str_has_prefix (target, "deploy/")
      || !ostree_validate_checksum_string (target + strlen ("deploy/"), NULL))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s points at '%s'", path, target),
           NULL;
  return g_strdup (target + strlen ("deploy/"));
}

static MoatBundleInfo *
read_info (const char *sandbox_dir, const char *checksum, GError **error)
{
  g_autofree char *name = g_strconcat (checksum, ".info", NULL);
  g_autofree char *path = g_build_filename (sandbox_dir, "deploy", name, NULL);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, error))
    return NULL;
  g_autoptr (MoatBundleInfo) info = g_new0 (MoatBundleInfo, 1);
  info->checksum = g_strdup (checksum);
  info->ref = g_key_file_get_string (file, INFO_GROUP, "Ref", NULL);
  info->version = g_key_file_get_string (file, INFO_GROUP, "Version", NULL);
  info->signed_by = g_key_file_get_string (file, INFO_GROUP, "SignedBy", NULL);
  info->timestamp = g_key_file_get_uint64 (file, INFO_GROUP, "Timestamp", NULL);
  info->expires = g_key_file_get_uint64 (file, INFO_GROUP, "Expires", NULL);
  if (info->ref == NULL || info->version == NULL
      || !moat_bundle_ref_parse (info->ref, &info->name, &info->arch, &info->branch))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s: incomplete", path), NULL;
  return g_steal_pointer (&info);
}

MoatBundleInfo *
moat_bundle_installed (const char *state_dir, const char *name, gboolean previous, GError **error)
{
  if (!moat_name_is_valid (name))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "'%s' is not a sandbox name", name),
           NULL;
  g_autofree char *dir = g_build_filename (state_dir, "sandboxes", name, NULL);
  g_autofree char *checksum = link_commit (dir, previous ? "previous" : "current", error);
  if (checksum == NULL)
    return NULL;
  return read_info (dir, checksum, error);
}

/* --- checks before anything changes ---------------------------------------------------- */

/* Whether INFO may replace what NAME runs now: arch, expiry, and no downgrade. */
static gboolean
check_claims (Operation *op, MoatBundleInfo *info, GError **error)
{
  const MoatBundleContext *ctx = op->ctx;
  if (strcmp (info->arch, ctx->arch) != 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s is built for %s; this hub is %s",
                        info->ref, info->arch, ctx->arch),
           FALSE;
  if (info->expires != 0 && (gint64)info->expires <= ctx->now)
    {
      g_autoptr (GDateTime) when = g_date_time_new_from_unix_utc ((gint64)info->expires);
      g_autofree char *text = when ? g_date_time_format_iso8601 (when) : g_strdup ("?");
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s %s expired on %s", info->name,
                          info->version, text),
             FALSE;
    }
  g_autoptr (GError) local_error = NULL;
  g_autoptr (MoatBundleInfo) installed
      = moat_bundle_installed (ctx->state_dir, info->name, FALSE, &local_error);
  if (installed == NULL)
    {
      if (g_error_matches (local_error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (strcmp (installed->checksum, info->checksum) == 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS, "%s %s (%.12s) is installed already",
                        info->name, info->version, info->checksum),
           FALSE;
  int order = moat_version_compare (info->version, installed->version);
  if (order <= 0 && !ctx->allow_downgrade)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        order < 0 ? "%s %s is older than the installed %s (--allow-downgrade to "
                                    "install it anyway)"
                                  : "%s %s is not newer than the installed %s, from another "
                                    "commit (--allow-downgrade to install it anyway)",
                        info->name, info->version, installed->version),
           FALSE;
  return TRUE;
}

/* Signature (over the commit's bytes, keys from ctx->keys_dir) and the commit's claims. */
static MoatBundleInfo *
verify_commit (Operation *op, GVariant *commit, const char *checksum, GVariant *detached,
               GError **error)
{
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_load (op->ctx->keys_dir, error);
  if (keys == NULL)
    return NULL;
  g_autoptr (GVariant) signatures
      = detached ? g_variant_lookup_value (detached, MOAT_SIGN_METADATA_KEY, NULL) : NULL;
  g_autoptr (GBytes) bytes = g_variant_get_data_as_bytes (commit);
  g_autofree char *signed_by = NULL;
  if (!moat_sign_verify_data (keys, bytes, signatures, &signed_by, error))
    return NULL;
  g_autoptr (MoatBundleInfo) info = moat_bundle_info_from_commit (commit, checksum, error);
  if (info == NULL || !check_claims (op, info, error))
    return NULL;
  info->signed_by = g_steal_pointer (&signed_by);
  return g_steal_pointer (&info);
}

/* The staged commit's tree obeys the tree rules and carries a manifest that the runtime
 * accepts, naming the same sandbox and version as the commit. */
static gboolean
check_staged_tree (Operation *op, GError **error)
{
  MoatBundleInfo *info = op->info;
  g_autoptr (GFile) root = NULL;
  if (!ostree_repo_read_commit (op->stage, info->checksum, &root, NULL, NULL, error))
    return FALSE;
  g_autoptr (GBytes) bytes = moat_bundle_check_tree (root, error);
  if (bytes == NULL)
    return FALSE;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr (MoatManifest) manifest = moat_manifest_parse ("manifest", data, len, error);
  if (manifest == NULL)
    return FALSE;
  if (strcmp (manifest->name, info->name) != 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "manifest: Name=%s, but the bundle is bound to %s", manifest->name,
                        info->ref),
           FALSE;
  if (strcmp (manifest->version, info->version) != 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "manifest: Version=%s, but the commit says %s", manifest->version,
                        info->version),
           FALSE;
  return TRUE;
}

/* --- fetching a candidate ------------------------------------------------------------- */

/* Copy PATH into the stage, so that what is checked is what gets applied: nobody else can
 * change or truncate the copy under us. At most MOAT_BUNDLE_MAX_FILE_BYTES. */
static char *
copy_into_stage (Operation *op, const char *path, GError **error)
{
  /* O_NONBLOCK: a FIFO or a device must not hold the install (and its lock) forever before
   * the S_ISREG check below refuses it. */
  autofd int in = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (in < 0)
    return moat_error_errno (error, errno, "open", path), NULL;
  struct stat st;
  if (fstat (in, &st) < 0)
    return moat_error_errno (error, errno, "stat", path), NULL;
  if (!S_ISREG (st.st_mode))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s is not a regular file", path),
           NULL;
  if (st.st_size > MOAT_BUNDLE_MAX_FILE_BYTES)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s is larger than the %d MiB limit",
                        path, MOAT_BUNDLE_MAX_FILE_BYTES / (1024 * 1024)),
           NULL;
  g_autofree char *copy = g_build_filename (op->stage_dir, "bundle.moatb", NULL);
  autofd int out = open (copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0)
    return moat_error_errno (error, errno, "create", copy), NULL;
  char buf[65536];
  gint64 total = 0;
  for (;;)
    {
      ssize_t n = read (in, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return moat_error_errno (error, errno, "read", path), NULL;
      if (n == 0)
        break;
      total += n;
      if (total > MOAT_BUNDLE_MAX_FILE_BYTES)
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                            "%s grew past the %d MiB limit while being read", path,
                            MOAT_BUNDLE_MAX_FILE_BYTES / (1024 * 1024)),
               NULL;
      for (ssize_t done = 0; done < n;)
        {
          ssize_t w = write (out, buf + done, (size_t)(n - done));
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            return moat_error_errno (error, errno, "write", copy), NULL;
          done += w;
        }
    }
  return g_steal_pointer (&copy);
}

static gboolean
fetch_file (Operation *op, const char *path, GError **error)
{
  progress (op->ctx, "checking %s", path);
  g_autofree char *copy = copy_into_stage (op, path, error);
  if (copy == NULL)
    return FALSE;
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (copy, FALSE, error);
  if (mapped == NULL)
    return FALSE;
  g_autoptr (GBytes) bytes = g_mapped_file_get_bytes (mapped);
  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) detached = NULL;
  g_autofree char *checksum = NULL;
  if (!moat_bundle_parse (bytes, &commit, &checksum, &detached, error))
    return FALSE;
  op->info = verify_commit (op, commit, checksum, detached, error);
  if (op->info == NULL)
    return FALSE;

  progress (op->ctx, "unpacking %s %s (%.12s)", op->info->name, op->info->version, checksum);
  g_autoptr (GFile) file = g_file_new_for_path (copy);
  if (!ostree_repo_prepare_transaction (op->stage, NULL, NULL, error))
    return FALSE;
  if (!ostree_repo_static_delta_execute_offline (op->stage, file, FALSE, NULL, error)
      || !ostree_repo_commit_transaction (op->stage, NULL, NULL, error))
    {
      ostree_repo_abort_transaction (op->stage, NULL, NULL);
      return g_prefix_error (error, "unpacking the bundle: "), FALSE;
    }
  /* What was applied must be the commit that was verified. */
  gboolean has = FALSE;
  if (!ostree_repo_has_object (op->stage, OSTREE_OBJECT_TYPE_COMMIT, checksum, &has, NULL, error))
    return FALSE;
  if (!has)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "tampered: the bundle did not hold the commit it names"),
           FALSE;
  return TRUE;
}

static gboolean
pull (Operation *op, const char *remote, const char *rev, const char *override, int flags,
      GError **error)
{
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  const char *refs[] = { rev, NULL };
  g_variant_builder_add (&builder, "{sv}", "refs", g_variant_new_strv (refs, -1));
  g_variant_builder_add (&builder, "{sv}", "flags", g_variant_new_int32 (flags));
  if (override != NULL)
    {
      const char *ids[] = { override, NULL };
      g_variant_builder_add (&builder, "{sv}", "override-commit-ids", g_variant_new_strv (ids, -1));
    }
  g_autoptr (GVariant) options = g_variant_ref_sink (g_variant_builder_end (&builder));
  return ostree_repo_pull_with_options (op->stage, remote, options, NULL, NULL, error);
}

static gboolean
fetch_remote (Operation *op, const char *url, const char *name, const char *branch, GError **error)
{
  g_autofree char *ref = g_strdup_printf ("sandbox/%s/%s/%s", name, op->ctx->arch, branch);
  if (!moat_bundle_ref_parse (ref, NULL, NULL, NULL))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "'%s' is not a bundle ref", ref),
           FALSE;
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "gpg-verify", g_variant_new_boolean (FALSE));
  g_variant_builder_add (&builder, "{sv}", "gpg-verify-summary", g_variant_new_boolean (FALSE));
  g_autoptr (GVariant) options = g_variant_ref_sink (g_variant_builder_end (&builder));
  if (!ostree_repo_remote_change (op->stage, NULL, OSTREE_REPO_REMOTE_CHANGE_ADD, "origin", url,
                                  options, NULL, error))
    return FALSE;

  /* The commit and its signatures first; the tree only once they check out. */
  progress (op->ctx, "fetching %s from %s", ref, url);
  g_autofree char *remote_ref = g_strconcat ("origin:", ref, NULL);
  g_autofree char *checksum = NULL;
  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) detached = NULL;
  if (!pull (op, "origin", ref, NULL,
             OSTREE_REPO_PULL_FLAGS_COMMIT_ONLY | OSTREE_REPO_PULL_FLAGS_UNTRUSTED, error)
      || !ostree_repo_resolve_rev (op->stage, remote_ref, FALSE, &checksum, error)
      || !ostree_repo_load_variant (op->stage, OSTREE_OBJECT_TYPE_COMMIT, checksum, &commit, error)
      || !ostree_repo_read_commit_detached_metadata (op->stage, checksum, &detached, NULL, error))
    return g_prefix_error (error, "fetching %s: ", ref), FALSE;
  op->info = verify_commit (op, commit, checksum, detached, error);
  if (op->info == NULL)
    return FALSE;
  if (strcmp (op->info->ref, ref) != 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "%s holds a commit bound to %s, not to it", ref, op->info->ref),
           FALSE;
  progress (op->ctx, "fetching %s %s (%.12s)", op->info->name, op->info->version, checksum);
  /* UNTRUSTED: a file:// remote (a USB stick) is checked object by object, as HTTP is. */
  if (!pull (op, "origin", ref, checksum, OSTREE_REPO_PULL_FLAGS_UNTRUSTED, error))
    return g_prefix_error (error, "fetching %s: ", ref), FALSE;
  return TRUE;
}

/* --- deploying ------------------------------------------------------------------------ */

static char *
local_ref (const char *name, const char *link)
{
  return g_strdup_printf ("moat/%s/%s", name, link);
}

/* Point LINK (current or previous) of SANDBOX_DIR at deploy/CHECKSUM in one rename, and keep
 * the repo ref of the same name in step, so that prune keeps its objects. */
static gboolean
set_link (OstreeRepo *repo, const char *sandbox_dir, const char *name, const char *link,
          const char *checksum, GError **error)
{
  g_autofree char *path = g_build_filename (sandbox_dir, link, NULL);
  g_autofree char *ref = local_ref (name, link);
  if (checksum == NULL)
    {
      if (unlink (path) < 0 && errno != ENOENT)
        return moat_error_errno (error, errno, "remove", path);
      return ostree_repo_set_ref_immediate (repo, NULL, ref, NULL, NULL, error);
    }
  if (!ostree_repo_set_ref_immediate (repo, NULL, ref, checksum, NULL, error))
    return FALSE;
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);
  g_autofree char *target = g_strconcat ("deploy/", checksum, NULL);
  unlink (tmp);
  if (symlink (target, tmp) < 0)
    return moat_error_errno (error, errno, "create", tmp);
  if (rename (tmp, path) < 0)
    {
      int errsv = errno;
      unlink (tmp);
      return moat_error_errno (error, errsv, "replace", path);
    }
  return TRUE;
}

/* Remove deployments neither link names, then the repo objects no ref reaches. */
static gboolean
collect (OstreeRepo *repo, const char *sandbox_dir, GError **error)
{
  g_autofree char *current = link_commit (sandbox_dir, "current", NULL);
  g_autofree char *previous = link_commit (sandbox_dir, "previous", NULL);
  g_autofree char *deploy = g_build_filename (sandbox_dir, "deploy", NULL);
  g_autoptr (GDir) dir = g_dir_open (deploy, 0, NULL);
  const char *entry;
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    {
      if ((current != NULL && g_str_has_prefix (entry, current))
          || (previous != NULL && g_str_has_prefix (entry, previous)))
        continue;
      g_autofree char *path = g_build_filename (deploy, entry, NULL);
      if (g_str_has_suffix (entry, ".info") && unlink (path) < 0 && errno != ENOENT)
        return moat_error_errno (error, errno, "remove", path);
      if (!g_str_has_suffix (entry, ".info") && !moat_rm_rf (path, error))
        return FALSE;
    }
  return prune_unreferenced (repo, error);
}

static gboolean
write_info (const char *path, const MoatBundleInfo *info, GError **error)
{
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_key_file_set_string (file, INFO_GROUP, "Ref", info->ref);
  g_key_file_set_string (file, INFO_GROUP, "Version", info->version);
  g_key_file_set_string (file, INFO_GROUP, "SignedBy", info->signed_by);
  g_key_file_set_uint64 (file, INFO_GROUP, "Timestamp", info->timestamp);
  if (info->expires != 0)
    g_key_file_set_uint64 (file, INFO_GROUP, "Expires", info->expires);
  gsize len;
  g_autofree char *data = g_key_file_to_data (file, &len, NULL);
  unlink (path);
  return moat_write_new_file (path, data, len, 0644, TRUE, error);
}

/* Bring the checked commit into STATE/repo, check it out beside the running one and switch
 * `current` to it; the one before becomes `previous`. */
static gboolean
deploy (Operation *op, GError **error)
{
  const MoatBundleContext *ctx = op->ctx;
  MoatBundleInfo *info = op->info;
  g_autofree char *repo_path = g_build_filename (ctx->state_dir, "repo", NULL);
  g_autoptr (OstreeRepo) repo = open_or_create_repo (repo_path, error);
  if (repo == NULL)
    return FALSE;
  progress (ctx, "deploying %s %s (%.12s)", info->name, info->version, info->checksum);
  g_autofree char *stage_url = g_strconcat ("file://", op->stage_dir, "/repo", NULL);
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  const char *refs[] = { info->checksum, NULL };
  g_variant_builder_add (&builder, "{sv}", "refs", g_variant_new_strv (refs, -1));
  g_variant_builder_add (&builder, "{sv}", "gpg-verify", g_variant_new_boolean (FALSE));
  g_autoptr (GVariant) options = g_variant_ref_sink (g_variant_builder_end (&builder));
  if (!ostree_repo_pull_with_options (repo, stage_url, options, NULL, NULL, error))
    return FALSE;

  g_autofree char *sandbox_dir = g_build_filename (ctx->state_dir, "sandboxes", info->name, NULL);
  g_autofree char *deploy_dir = g_build_filename (sandbox_dir, "deploy", NULL);
  g_autofree char *checkout = g_build_filename (deploy_dir, info->checksum, NULL);
  g_autofree char *checkout_tmp = g_strconcat (checkout, ".tmp", NULL);
  g_autofree char *info_name = g_strconcat (info->checksum, ".info", NULL);
  g_autofree char *info_path = g_build_filename (deploy_dir, info_name, NULL);
  if (!ensure_dir (sandbox_dir, 0755, error) || !ensure_dir (deploy_dir, 0755, error))
    return FALSE;
  if (!g_file_test (checkout, G_FILE_TEST_IS_DIR))
    {
      OstreeRepoCheckoutAtOptions checkout_options = {
        .mode = OSTREE_REPO_CHECKOUT_MODE_USER,
        .overwrite_mode = OSTREE_REPO_CHECKOUT_OVERWRITE_NONE,
        .bareuseronly_dirs = TRUE,
      };
      if (!moat_rm_rf (checkout_tmp, error)
          || !ostree_repo_checkout_at (repo, &checkout_options, AT_FDCWD, checkout_tmp,
                                       info->checksum, NULL, error))
        return FALSE;
      if (rename (checkout_tmp, checkout) < 0)
        return moat_error_errno (error, errno, "rename", checkout_tmp);
    }
  if (!write_info (info_path, info, error))
    return FALSE;

  g_autofree char *old = link_commit (sandbox_dir, "current", NULL);
  if (old != NULL && strcmp (old, info->checksum) != 0
      && !set_link (repo, sandbox_dir, info->name, "previous", old, error))
    return FALSE;
  if (!set_link (repo, sandbox_dir, info->name, "current", info->checksum, error))
    return FALSE;
  return collect (repo, sandbox_dir, error);
}

/* After a deploy that failed half-way: remove the checkout and the info file unless a link
 * names them, and the repo objects no ref reaches. */
static void
undo_deploy (Operation *op)
{
  MoatBundleInfo *info = op->info;
  g_autofree char *sandbox_dir
      = g_build_filename (op->ctx->state_dir, "sandboxes", info->name, NULL);
  g_autofree char *current = link_commit (sandbox_dir, "current", NULL);
  g_autofree char *previous = link_commit (sandbox_dir, "previous", NULL);
  g_autofree char *base = g_build_filename (sandbox_dir, "deploy", info->checksum, NULL);
  g_autofree char *tmp = g_strconcat (base, ".tmp", NULL);
  g_autofree char *info_path = g_strconcat (base, ".info", NULL);
  moat_rm_rf (tmp, NULL);
  if (g_strcmp0 (current, info->checksum) != 0 && g_strcmp0 (previous, info->checksum) != 0)
    {
      moat_rm_rf (base, NULL);
      unlink (info_path);
    }
  g_autoptr (OstreeRepo) repo = open_state_repo (op->ctx, NULL);
  if (repo != NULL)
    prune_unreferenced (repo, NULL);
}

static MoatBundleInfo *
install (const MoatBundleContext *ctx, const char *path, const char *url, const char *name,
         const char *branch, GError **error)
{
  Operation op;
  gboolean ok = operation_begin (&op, ctx, error) && make_stage (&op, error)
                && (path != NULL ? fetch_file (&op, path, error)
                                 : fetch_remote (&op, url, name, branch, error))
                && check_staged_tree (&op, error);
  if (ok && !deploy (&op, error))
    {
      undo_deploy (&op);
      ok = FALSE;
    }
  MoatBundleInfo *info = ok ? g_steal_pointer (&op.info) : NULL;
  operation_end (&op);
  return info;
}

MoatBundleInfo *
moat_bundle_install_file (const MoatBundleContext *ctx, const char *path, GError **error)
{
  return install (ctx, path, NULL, NULL, NULL, error);
}

MoatBundleInfo *
moat_bundle_install_remote (const MoatBundleContext *ctx, const char *url, const char *name,
                            const char *branch, GError **error)
{
  if (!moat_name_is_valid (name))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "'%s' is not a sandbox name", name),
           NULL;
  return install (ctx, NULL, url, name, branch, error);
}

/* --- rollback and removal ------------------------------------------------------------- */

MoatBundleInfo *
moat_bundle_rollback (const MoatBundleContext *ctx, const char *name, GError **error)
{
  Operation op;
  MoatBundleInfo *result = NULL;
  g_autofree char *sandbox_dir = g_build_filename (ctx->state_dir, "sandboxes", name, NULL);
  g_autofree char *current = NULL;
  g_autofree char *previous = NULL;
  g_autoptr (OstreeRepo) repo = NULL;
  if (!moat_name_is_valid (name))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "'%s' is not a sandbox name", name),
           NULL;
  if (operation_begin (&op, ctx, error)
      && (current = link_commit (sandbox_dir, "current", error)) != NULL)
    {
      g_autoptr (GError) local_error = NULL;
      previous = link_commit (sandbox_dir, "previous", &local_error);
      if (previous == NULL)
        g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND,
                     "%s has no previous version to go back to", name);
      else if ((repo = open_state_repo (ctx, error)) != NULL
               && (result = read_info (sandbox_dir, previous, error)) != NULL
               && (!set_link (repo, sandbox_dir, name, "current", previous, error)
                   || !set_link (repo, sandbox_dir, name, "previous", current, error)))
        g_clear_pointer (&result, moat_bundle_info_free);
    }
  operation_end (&op);
  return result;
}

gboolean
moat_bundle_remove (const MoatBundleContext *ctx, const char *name, gboolean purge, GError **error)
{
  if (!moat_name_is_valid (name))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "'%s' is not a sandbox name", name),
           FALSE;
  Operation op;
  g_autofree char *sandbox_dir = g_build_filename (ctx->state_dir, "sandboxes", name, NULL);
  g_autofree char *current_path = g_build_filename (sandbox_dir, "current", NULL);
  g_autofree char *deploy_dir = g_build_filename (sandbox_dir, "deploy", NULL);
  g_autoptr (OstreeRepo) repo = NULL;
  struct stat st;
  gboolean ok = operation_begin (&op, ctx, error);
  if (ok && lstat (current_path, &st) < 0)
    ok = (g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "no sandbox '%s' is installed",
                       name),
          FALSE);
  /* `current` goes first: from then on moatd no longer counts the sandbox as installed. */
  ok = ok && (repo = open_state_repo (ctx, error)) != NULL
       && set_link (repo, sandbox_dir, name, "current", NULL, error)
       && set_link (repo, sandbox_dir, name, "previous", NULL, error)
       && moat_rm_rf (deploy_dir, error) && (!purge || moat_rm_rf (sandbox_dir, error));
  ok = ok && prune_unreferenced (repo, error);
  operation_end (&op);
  return ok;
}
