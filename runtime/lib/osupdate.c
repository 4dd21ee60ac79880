#include "osupdate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "grubenv.h"
#include "json.h"
#include "jsonread.h"
#include "moat-error.h"
#include "sign.h"

#define SUMMARY_TYPE "(a(s(taya{sv}))a{sv})"

void
moat_os_deployment_free (MoatOsDeployment *deployment)
{
  if (deployment == NULL)
    return;
  g_free (deployment->osname);
  g_free (deployment->checksum);
  g_free (deployment->id);
  g_free (deployment->version);
  g_free (deployment->refspec);
  g_free (deployment->signed_by);
  g_free (deployment);
}

static void progress (const MoatOsContext *ctx, gboolean done, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static void
progress (const MoatOsContext *ctx, gboolean done, const char *format, ...)
{
  if (ctx->progress == NULL)
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *line = g_strdup_vprintf (format, args);
  va_end (args);
  ctx->progress (line, done, ctx->progress_data);
}

static char *
format_time (guint64 seconds)
{
  g_autoptr (GDateTime) when = g_date_time_new_from_unix_utc ((gint64)seconds);
  return when ? g_date_time_format_iso8601 (when) : g_strdup ("?");
}

/* --- the sysroot ---------------------------------------------------------------------- */

typedef struct
{
  OstreeSysroot *sysroot;
  OstreeRepo *repo;
  OstreeDeployment *booted;  /* NULL in a folder */
  OstreeDeployment *merge;   /* the one whose /etc and origin carry over */
  OstreeDeployment *running; /* booted; in a folder the assumed one, or the default */
  char *path;                /* the sysroot ("/" on the hub) */
  char *remote;
  char *ref;
  gboolean locked;
} Sysroot;

static void
sysroot_close (Sysroot *s)
{
  if (s->locked)
    ostree_sysroot_unlock (s->sysroot);
  g_clear_object (&s->repo);
  g_clear_object (&s->sysroot);
  g_clear_pointer (&s->remote, g_free);
  g_clear_pointer (&s->ref, g_free);
  g_clear_pointer (&s->path, g_free);
}

/* CHECKSUM.SERIAL, as `ostree admin status` shows a deployment. */
static char *
deployment_id (OstreeDeployment *deployment)
{
  return g_strdup_printf ("%s.%d", ostree_deployment_get_csum (deployment),
                          ostree_deployment_get_deployserial (deployment));
}

static OstreeDeployment *
find_deployment (GPtrArray *deployments, const char *id)
{
  for (guint i = 0; i < deployments->len; i++)
    {
      g_autofree char *candidate = deployment_id (deployments->pdata[i]);
      if (strcmp (candidate, id) == 0)
        return deployments->pdata[i];
    }
  return NULL;
}

/* Load the sysroot (locked, when LOCK) and find what is tracked. */
static gboolean
sysroot_open (Sysroot *s, const MoatOsContext *ctx, gboolean lock, GError **error)
{
  memset (s, 0, sizeof *s);
  s->path = g_strdup (ctx->sysroot);
  g_autoptr (GFile) path = g_file_new_for_path (ctx->sysroot);
  s->sysroot = ostree_sysroot_new (path);
  /* On a booted system with sysroot.readonly, as `ostree admin` does: a mount namespace of our
   * own where libostree may remount /sysroot read-write (a no-op anywhere else). */
  if (!ostree_sysroot_initialize_with_mount_namespace (s->sysroot, NULL, error))
    return g_prefix_error (error, "%s: ", ctx->sysroot), FALSE;
  if (lock)
    {
      if (!ostree_sysroot_lock (s->sysroot, error))
        return FALSE;
      s->locked = TRUE;
    }
  if (!ostree_sysroot_load (s->sysroot, NULL, error)
      || !ostree_sysroot_get_repo (s->sysroot, &s->repo, NULL, error))
    return g_prefix_error (error, "%s: ", ctx->sysroot), FALSE;
  s->booted = ostree_sysroot_get_booted_deployment (s->sysroot);
  /* Not booted (a folder): the default deployment's stateroot. */
  g_autoptr (GPtrArray) deployments = ostree_sysroot_get_deployments (s->sysroot);
  const char *osname = s->booted != NULL || deployments->len == 0
                           ? NULL
                           : ostree_deployment_get_osname (deployments->pdata[0]);
  if (s->booted != NULL || osname != NULL)
    s->merge = ostree_sysroot_get_merge_deployment (s->sysroot, osname);
  if (s->merge == NULL)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "%s: no OS is deployed",
                        ctx->sysroot),
           FALSE;
  GKeyFile *origin = ostree_deployment_get_origin (s->merge);
  g_autofree char *refspec
      = origin ? g_key_file_get_string (origin, "origin", "refspec", NULL) : NULL;
  if (refspec == NULL || !ostree_parse_refspec (refspec, &s->remote, &s->ref, error))
    return g_prefix_error (error, "the deployment's origin tracks no ref: "), FALSE;
  s->running = s->booted != NULL ? s->booted : s->merge;
  if (s->booted == NULL && ctx->assume_booted != NULL)
    {
      s->running = find_deployment (deployments, ctx->assume_booted);
      if (s->running == NULL)
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND,
                            "%s: no deployment %s to act as booted", ctx->sysroot,
                            ctx->assume_booted),
               FALSE;
    }
  if (s->remote == NULL)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "the deployment tracks '%s', which names no remote", refspec),
           FALSE;
  return TRUE;
}

/* The deployment that is running: the booted one, or in a folder the default. */
static OstreeDeployment *
running_deployment (Sysroot *s)
{
  return s->running;
}

/* Make DEPLOYMENTS the boot order. libostree 2022.7 swaps /boot/loader without syncing /boot,
 * then deletes the previous boot links on the root file system (its postclean), which it does
 * sync: a power cut in between left a boot menu whose ostree= paths were gone, and the hub in
 * the initramfs's emergency shell (tests/vm/60-power-cut). So the write goes without the
 * clean-up, /boot is synced, and only then is the old boot version cleaned up. */
static gboolean
write_deployments (Sysroot *s, GPtrArray *deployments, GError **error)
{
  OstreeSysrootWriteDeploymentsOpts opts = { .do_postclean = FALSE };
  if (!ostree_sysroot_write_deployments_with_options (s->sysroot, deployments, &opts, NULL, error))
    return FALSE;
  g_autofree char *boot = g_build_filename (s->path, "boot", NULL);
  int fd = open (boot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return moat_error_errno (error, errno, "open", boot);
  int rc = syncfs (fd);
  int errsv = errno;
  close (fd);
  if (rc < 0)
    return moat_error_errno (error, errsv, "syncfs", boot);
  return ostree_sysroot_cleanup (s->sysroot, NULL, error);
}

/* --- events --------------------------------------------------------------------------- */

char *
moat_os_events_path (const char *sysroot, const char *osname)
{
  g_autofree char *var = strcmp (sysroot, "/") == 0
                             ? g_strdup ("/var")
                             : g_build_filename (sysroot, "ostree", "deploy", osname, "var", NULL);
  return g_build_filename (var, "lib", "moat", "events.log", NULL);
}

static char *
events_path (const MoatOsContext *ctx, Sysroot *s)
{
  return moat_os_events_path (ctx->sysroot, ostree_deployment_get_osname (s->merge));
}

/* Append one JSON line to the events log under the stateroot's /var (never touched by an
 * upgrade), for `moat status` and people. Failing to log does not fail the operation. */
static void
log_event (const MoatOsContext *ctx, Sysroot *s, const char *event, const char *from,
           const char *to, const char *detail)
{
  g_autofree char *path = events_path (ctx, s);
  g_autofree char *dir = g_path_get_dirname (path);
  g_mkdir_with_parents (dir, 0755);
  g_autoptr (MoatJson) json = moat_json_new ();
  g_autofree char *now = format_time ((guint64)ctx->now);
  moat_json_begin_object (json);
  moat_json_kv_string (json, "time", now);
  moat_json_kv_string (json, "event", event);
  moat_json_kv_string (json, "from", from);
  moat_json_kv_string (json, "to", to);
  moat_json_kv_string (json, "detail", detail);
  moat_json_end_object (json);
  g_autofree char *line = moat_json_steal (g_steal_pointer (&json));
  int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return;
  g_autofree char *text = g_strconcat (line, "\n", NULL);
  if (write (fd, text, strlen (text)) < 0 || fsync (fd) < 0)
    { /* best effort */
    }
  close (fd);
}

/* --- the boot counter ----------------------------------------------------------------- */

#define TRIAL_VAR "moat_trial"
#define LEFT_VAR "moat_boots_left"
#define ATTEMPTS_VAR "moat_boot_attempts"
#define GRUB_COUNTER "boot/grub/grubenv"
#define UBOOT_COUNTER "boot/firmware/moat/bootenv"
#define UBOOT_CONFIG "boot/loader/uEnv.txt" /* libostree's, for U-Boot */

/* The boot counter's variables, or NULL with no error when this sysroot has none; where they
 * are in RET_FORMAT and RET_PATH, for writing them back. The counter is GRUB's environment
 * block on x86-64, or else the file the U-Boot boot script (os/uboot/boot.cmd) counts down in
 * on arm64. A sysroot that boots with U-Boot (libostree writes it loader/uEnv.txt) but has no
 * counter file is an error rather than uncounted: the firmware partition is most likely not
 * mounted, and an update staged then could never roll back. */
static GHashTable *
counter_read (const MoatOsContext *ctx, MoatBootEnvFormat *ret_format, char **ret_path,
              GError **error)
{
  static const struct
  {
    MoatBootEnvFormat format;
    const char *path;
  } homes[] = { { MOAT_BOOTENV_GRUB, GRUB_COUNTER }, { MOAT_BOOTENV_UBOOT, UBOOT_COUNTER } };
  for (guint i = 0; i < G_N_ELEMENTS (homes); i++)
    {
      g_autofree char *path = g_build_filename (ctx->sysroot, homes[i].path, NULL);
      g_autoptr (GError) local_error = NULL;
      GHashTable *vars = moat_bootenv_read (homes[i].format, path, &local_error);
      if (vars != NULL)
        {
          if (ret_format != NULL)
            *ret_format = homes[i].format;
          if (ret_path != NULL)
            *ret_path = g_steal_pointer (&path);
          return vars;
        }
      if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_propagate_error (error, g_steal_pointer (&local_error)), NULL;
    }
  g_autofree char *uenv = g_build_filename (ctx->sysroot, UBOOT_CONFIG, NULL);
  g_autofree char *uboot = g_build_filename (ctx->sysroot, UBOOT_COUNTER, NULL);
  if (g_file_test (uenv, G_FILE_TEST_EXISTS))
    g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED,
                 "%s does not exist, but this sysroot boots with U-Boot (%s): is the firmware "
                 "partition mounted?",
                 uboot, uenv);
  return NULL;
}

static guint
counter_number (GHashTable *vars, const char *name, guint fallback)
{
  const char *text = g_hash_table_lookup (vars, name);
  guint64 value = 0;
  if (text == NULL
      || !g_ascii_string_to_unsigned (text, 10, 0, MOAT_OS_MAX_BOOT_ATTEMPTS, &value, NULL))
    return fallback;
  return (guint)value;
}

static guint
boot_attempts (const MoatOsContext *ctx)
{
  return ctx->boot_attempts ? ctx->boot_attempts : MOAT_OS_DEFAULT_BOOT_ATTEMPTS;
}

/* Put DEPLOYMENT on trial (ATTEMPTS boots), or with NULL stop counting. */
static gboolean
counter_set (const MoatOsContext *ctx, OstreeDeployment *deployment, GError **error)
{
  MoatBootEnvFormat format;
  g_autofree char *path = NULL;
  g_autoptr (GHashTable) vars = counter_read (ctx, &format, &path, error);
  if (vars == NULL)
    return error == NULL || *error == NULL;
  if (deployment == NULL)
    {
      if (!g_hash_table_contains (vars, TRIAL_VAR))
        return TRUE;
      g_hash_table_remove (vars, TRIAL_VAR);
      g_hash_table_remove (vars, LEFT_VAR);
      g_hash_table_remove (vars, ATTEMPTS_VAR);
      return moat_bootenv_write (format, path, vars, error);
    }
  guint attempts = boot_attempts (ctx);
  g_hash_table_replace (vars, g_strdup (TRIAL_VAR), deployment_id (deployment));
  g_hash_table_replace (vars, g_strdup (LEFT_VAR), g_strdup_printf ("%u", attempts));
  g_hash_table_replace (vars, g_strdup (ATTEMPTS_VAR), g_strdup_printf ("%u", attempts));
  return moat_bootenv_write (format, path, vars, error);
}

/* --- describing commits --------------------------------------------------------------- */

static MoatOsDeployment *
describe (OstreeRepo *repo, const char *osname, const char *checksum, const char *refspec,
          const MoatTrustedKeys *keys)
{
  g_autoptr (MoatOsDeployment) d = g_new0 (MoatOsDeployment, 1);
  d->osname = g_strdup (osname);
  d->checksum = g_strdup (checksum);
  d->refspec = g_strdup (refspec);
  g_autoptr (GVariant) commit = NULL;
  if (ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_COMMIT, checksum, &commit, NULL))
    {
      g_autoptr (GVariant) metadata = g_variant_get_child_value (commit, 0);
      g_variant_lookup (metadata, "version", "s", &d->version);
      d->timestamp = ostree_commit_get_timestamp (commit);
    }
  if (keys != NULL)
    moat_sign_verify_commit (repo, checksum, keys, &d->signed_by, NULL);
  return g_steal_pointer (&d);
}

GPtrArray *
moat_os_status (const MoatOsContext *ctx, GError **error)
{
  Sysroot s;
  if (!sysroot_open (&s, ctx, FALSE, error))
    {
      sysroot_close (&s);
      return NULL;
    }
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_load (ctx->keys_dir, NULL);
  g_autoptr (GPtrArray) deployments = ostree_sysroot_get_deployments (s.sysroot);
  g_autoptr (GPtrArray) result
      = g_ptr_array_new_with_free_func ((GDestroyNotify)moat_os_deployment_free);
  OstreeDeployment *running = running_deployment (&s);
  int running_index = -1;
  for (guint i = 0; i < deployments->len; i++)
    if (ostree_deployment_equal (deployments->pdata[i], running))
      running_index = (int)i;
  gboolean have_rollback = FALSE;
  for (guint i = 0; i < deployments->len; i++)
    {
      OstreeDeployment *deployment = deployments->pdata[i];
      GKeyFile *origin = ostree_deployment_get_origin (deployment);
      g_autofree char *refspec
          = origin ? g_key_file_get_string (origin, "origin", "refspec", NULL) : NULL;
      MoatOsDeployment *d = describe (s.repo, ostree_deployment_get_osname (deployment),
                                      ostree_deployment_get_csum (deployment), refspec, keys);
      d->id = deployment_id (deployment);
      d->booted = s.booted != NULL && ostree_deployment_equal (deployment, s.booted);
      d->pending = s.booted != NULL && (int)i < running_index;
      d->rollback = !have_rollback && (int)i > running_index;
      have_rollback = have_rollback || d->rollback;
      g_ptr_array_add (result, d);
    }
  sysroot_close (&s);
  return g_steal_pointer (&result);
}

/* --- checking a candidate ------------------------------------------------------------- */

gboolean
moat_os_verify_summary (GBytes *summary, GBytes *signatures, const char *keys_dir, gint64 now,
                        GError **error)
{
  if (summary == NULL)
    return moat_error_invalid (error, "the remote has no summary (publish a signed one)");
  if (signatures == NULL)
    return moat_error_invalid (error, "the remote's summary is not signed");
  g_autoptr (GVariant) sig_dict
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, signatures, FALSE));
  if (!g_variant_is_normal_form (sig_dict))
    return moat_error_invalid (error, "the remote's summary signatures are malformed");
  g_autoptr (GVariant) sigs = g_variant_lookup_value (sig_dict, MOAT_SIGN_METADATA_KEY, NULL);
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_load (keys_dir, error);
  if (keys == NULL || !moat_sign_verify_data (keys, summary, sigs, NULL, error))
    return g_prefix_error (error, "the remote's summary: "), FALSE;

  g_autoptr (GVariant) summary_v = g_variant_ref_sink (
      g_variant_new_from_bytes (G_VARIANT_TYPE (SUMMARY_TYPE), summary, FALSE));
  g_autoptr (GVariant) metadata = g_variant_get_child_value (summary_v, 1);
  g_autoptr (GVariant) expires = g_variant_lookup_value (metadata, MOAT_OS_EXPIRES_KEY, NULL);
  if (expires == NULL || !g_variant_is_of_type (expires, G_VARIANT_TYPE_UINT64))
    return moat_error_invalid (error,
                               "the remote's summary has no %s (t): a summary must "
                               "expire, or an old one could be replayed forever",
                               MOAT_OS_EXPIRES_KEY);
  guint64 when = g_variant_get_uint64 (expires);
  if ((gint64)when <= now)
    {
      g_autofree char *text = format_time (when);
      return moat_error_invalid (error, "the remote's summary expired on %s", text);
    }
  return TRUE;
}

/* The candidate CHECKSUM (its commit object and detached metadata already in the repo):
 * signed, bound to the tracked ref, not expired, and newer than what runs. */
static MoatOsDeployment *
verify_candidate (const MoatOsContext *ctx, Sysroot *s, const char *checksum, GError **error)
{
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_load (ctx->keys_dir, error);
  g_autofree char *signed_by = NULL;
  if (keys == NULL || !moat_sign_verify_commit (s->repo, checksum, keys, &signed_by, error))
    return g_prefix_error (error, "commit %.12s: ", checksum), NULL;

  g_autoptr (GVariant) commit = NULL;
  if (!ostree_repo_load_variant (s->repo, OSTREE_OBJECT_TYPE_COMMIT, checksum, &commit, error))
    return NULL;
  g_autoptr (GVariant) metadata = g_variant_get_child_value (commit, 0);
  g_autoptr (GVariant) refs
      = g_variant_lookup_value (metadata, "ostree.ref-binding", G_VARIANT_TYPE ("as"));
  gboolean bound = FALSE;
  for (gsize i = 0; refs != NULL && i < g_variant_n_children (refs); i++)
    {
      const char *ref = NULL;
      g_variant_get_child (refs, i, "&s", &ref);
      bound = bound || strcmp (ref, s->ref) == 0;
    }
  if (!bound)
    return moat_error_invalid (error,
                               "commit %.12s is not bound to %s (a commit for another "
                               "ref, or none)",
                               checksum, s->ref),
           NULL;
  g_autoptr (GVariant) expires = g_variant_lookup_value (metadata, MOAT_OS_EXPIRES_KEY, NULL);
  if (expires != NULL
      && (!g_variant_is_of_type (expires, G_VARIANT_TYPE_UINT64)
          || (gint64)g_variant_get_uint64 (expires) <= ctx->now))
    {
      g_autofree char *text = g_variant_is_of_type (expires, G_VARIANT_TYPE_UINT64)
                                  ? format_time (g_variant_get_uint64 (expires))
                                  : g_strdup ("(not a time)");
      return moat_error_invalid (error, "commit %.12s expired on %s", checksum, text), NULL;
    }

  g_autofree char *refspec = g_strconcat (s->remote, ":", s->ref, NULL);
  g_autoptr (MoatOsDeployment) candidate
      = describe (s->repo, ostree_deployment_get_osname (s->merge), checksum, refspec, NULL);
  candidate->signed_by = g_steal_pointer (&signed_by);
  OstreeDeployment *running = running_deployment (s);
  if (strcmp (ostree_deployment_get_csum (running), checksum) == 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS, "%s (%.12s) is what runs already",
                        candidate->version ? candidate->version : "the newest commit", checksum),
           NULL;
  /* Deployed already and booting next (pending): nothing to do either. */
  g_autoptr (GPtrArray) deployments = ostree_sysroot_get_deployments (s->sysroot);
  for (guint i = 0;
       i < deployments->len && !ostree_deployment_equal (deployments->pdata[i], running); i++)
    if (strcmp (ostree_deployment_get_csum (deployments->pdata[i]), checksum) == 0)
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS,
                          "%s (%.12s) is deployed already and boots next",
                          candidate->version ? candidate->version : "the newest commit", checksum),
             NULL;
  g_autoptr (GVariant) running_commit = NULL;
  if (!ostree_repo_load_variant (s->repo, OSTREE_OBJECT_TYPE_COMMIT,
                                 ostree_deployment_get_csum (running), &running_commit, error))
    return NULL;
  guint64 running_time = ostree_commit_get_timestamp (running_commit);
  if (candidate->timestamp <= running_time && !ctx->allow_downgrade)
    {
      g_autofree char *theirs = format_time (candidate->timestamp);
      g_autofree char *ours = format_time (running_time);
      return moat_error_invalid (error,
                                 candidate->timestamp < running_time
                                     ? "commit %.12s (%s) is older than the running one (%s): a "
                                       "downgrade (--allow-downgrade)"
                                     : "commit %.12s (%s) has the running one's timestamp (%s) "
                                       "but other content: refused as new",
                                 checksum, theirs, ours),
             NULL;
    }
  return g_steal_pointer (&candidate);
}

/* --- pulling -------------------------------------------------------------------------- */

typedef struct
{
  const MoatOsContext *ctx;
  guint64 limit;
  GCancellable *cancellable;
  gboolean over_limit;
} PullWatch;

static void
on_pull_progress (OstreeAsyncProgress *async, gpointer user_data)
{
  PullWatch *watch = user_data;
  guint64 bytes = ostree_async_progress_get_uint64 (async, "bytes-transferred");
  guint fetched = ostree_async_progress_get_uint (async, "fetched");
  guint requested = ostree_async_progress_get_uint (async, "requested");
  guint delta_parts = ostree_async_progress_get_uint (async, "total-delta-parts");
  if (bytes > watch->limit && !watch->over_limit)
    {
      watch->over_limit = TRUE;
      g_cancellable_cancel (watch->cancellable);
    }
  progress (watch->ctx, FALSE, "receiving: %u/%u objects%s, %" G_GUINT64_FORMAT " KiB", fetched,
            requested, delta_parts > 0 ? " (static delta)" : "", bytes / 1024);
}

static gboolean
pull (const MoatOsContext *ctx, Sysroot *s, const char *checksum, int flags, GError **error)
{
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  const char *refs[] = { s->ref, NULL };
  g_variant_builder_add (&builder, "{sv}", "refs", g_variant_new_strv (refs, -1));
  /* UNTRUSTED: a local (file://) remote is checked object by object too, as HTTP is. */
  g_variant_builder_add (&builder, "{sv}", "flags",
                         g_variant_new_int32 (flags | OSTREE_REPO_PULL_FLAGS_UNTRUSTED));
  if (checksum != NULL)
    {
      const char *ids[] = { checksum, NULL };
      g_variant_builder_add (&builder, "{sv}", "override-commit-ids", g_variant_new_strv (ids, -1));
    }
  g_autoptr (GVariant) options = g_variant_ref_sink (g_variant_builder_end (&builder));
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  PullWatch watch = {
    .ctx = ctx,
    .limit = ctx->max_pull_bytes ? ctx->max_pull_bytes : MOAT_OS_DEFAULT_MAX_PULL,
    .cancellable = cancellable,
  };
  g_autoptr (OstreeAsyncProgress) async
      = ostree_async_progress_new_and_connect (on_pull_progress, &watch);
  g_autoptr (GError) local_error = NULL;
  gboolean ok = ostree_repo_pull_with_options (s->repo, s->remote, options, async, cancellable,
                                               &local_error);
  ostree_async_progress_finish (async);
  if (watch.over_limit)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "the pull went past the %" G_GUINT64_FORMAT " MiB limit: refused",
                        watch.limit >> 20),
           FALSE;
  if (!ok)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "pulling %s from %s: ", s->ref, s->remote);
      return FALSE;
    }
  progress (ctx, TRUE, "received");
  return TRUE;
}

/* Put the tracked ref back where it was and drop what a refused pull left in the repo. */
static void
undo_pull (Sysroot *s, const char *old_checksum)
{
  ostree_repo_set_ref_immediate (s->repo, s->remote, s->ref, old_checksum, NULL, NULL);
  /* Every deployment holds a ref of its own (ostree/B/S/N), so pruning to refs keeps them. */
  gint total, pruned;
  guint64 freed;
  ostree_repo_prune (s->repo, OSTREE_REPO_PRUNE_FLAGS_REFS_ONLY, -1, &total, &pruned, &freed, NULL,
                     NULL);
}

/* Check the remote's summary, fetch the candidate's commit (REV, or the ref's newest) and
 * check it. On success the candidate's commit is in the repo, its tree not yet. */
static MoatOsDeployment *
fetch_candidate (const MoatOsContext *ctx, Sysroot *s, const char *rev, char **ret_old,
                 GError **error)
{
  g_autoptr (GBytes) summary = NULL;
  g_autoptr (GBytes) signatures = NULL;
  progress (ctx, TRUE, "checking %s:%s", s->remote, s->ref);
  if (!ostree_repo_remote_fetch_summary (s->repo, s->remote, &summary, &signatures, NULL, error)
      || !moat_os_verify_summary (summary, signatures, ctx->keys_dir, ctx->now, error))
    return NULL;
  g_autofree char *old = NULL;
  g_autofree char *remote_ref = g_strconcat (s->remote, ":", s->ref, NULL);
  if (!ostree_repo_resolve_rev (s->repo, remote_ref, TRUE, &old, error))
    return NULL;
  g_autofree char *checksum = NULL;
  if (!pull (ctx, s, rev, OSTREE_REPO_PULL_FLAGS_COMMIT_ONLY, error)
      || !ostree_repo_resolve_rev (s->repo, remote_ref, FALSE, &checksum, error))
    {
      undo_pull (s, old);
      return NULL;
    }
  MoatOsDeployment *candidate = verify_candidate (ctx, s, rev != NULL ? rev : checksum, error);
  if (candidate == NULL)
    {
      undo_pull (s, old);
      return NULL;
    }
  *ret_old = g_steal_pointer (&old);
  return candidate;
}

/* Pull the candidate's tree and deploy it as the default, keeping the running deployment as
 * the rollback. */
static gboolean
deploy_candidate (const MoatOsContext *ctx, Sysroot *s, MoatOsDeployment *candidate, GError **error)
{
  if (!pull (ctx, s, candidate->checksum, OSTREE_REPO_PULL_FLAGS_NONE, error))
    return FALSE;
  progress (ctx, TRUE, "deploying %s (%.12s)", candidate->version ? candidate->version : "",
            candidate->checksum);
  const char *osname = ostree_deployment_get_osname (s->merge);
  g_autoptr (GKeyFile) origin
      = ostree_sysroot_origin_new_from_refspec (s->sysroot, candidate->refspec);
  g_autoptr (OstreeDeployment) deployment = NULL;
  g_autoptr (GError) counter_error = NULL;
  g_autoptr (GHashTable) counter = counter_read (ctx, NULL, NULL, &counter_error);
  if (counter_error != NULL)
    return g_propagate_prefixed_error (error, g_steal_pointer (&counter_error),
                                       "the boot counter is unreadable, so a failed boot could "
                                       "not roll back: "),
           FALSE;
  if (!ostree_sysroot_deploy_tree (s->sysroot, osname, candidate->checksum, origin, s->merge, NULL,
                                   &deployment, NULL, error))
    return FALSE;
  /* On trial before it becomes the default: a power cut in between leaves a trial of a
   * deployment that does not exist, which the next boot check drops. */
  if (!counter_set (ctx, deployment, error))
    return FALSE;
  /* As ostree_sysroot_simple_write_deployment () orders them: the new one first, then the
   * running (booted) one and the one whose /etc was merged; older ones go. */
  g_autoptr (GPtrArray) deployments = ostree_sysroot_get_deployments (s->sysroot);
  g_autoptr (GPtrArray) order = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (order, g_object_ref (deployment));
  for (guint i = 0; i < deployments->len; i++)
    {
      OstreeDeployment *d = deployments->pdata[i];
      if ((s->booted != NULL && ostree_deployment_equal (d, s->booted))
          || ostree_deployment_equal (d, s->merge)
          || strcmp (ostree_deployment_get_osname (d), osname) != 0)
        g_ptr_array_add (order, g_object_ref (d));
    }
  if (!write_deployments (s, order, error))
    {
      counter_set (ctx, NULL, NULL);
      return FALSE;
    }
  candidate->id = deployment_id (deployment);
  candidate->pending = s->booted != NULL;
  if (counter != NULL)
    progress (ctx, TRUE, "on trial: %u boots to come up healthy, or the running one comes back",
              boot_attempts (ctx));
  return TRUE;
}

static MoatOsDeployment *
upgrade_to (const MoatOsContext *ctx, const char *rev, gboolean check_only, const char *event,
            GError **error)
{
  Sysroot s;
  g_autofree char *old = NULL;
  g_autoptr (MoatOsDeployment) candidate = NULL;
  gboolean opened = sysroot_open (&s, ctx, TRUE, error);
  if (opened && (candidate = fetch_candidate (ctx, &s, rev, &old, error)) == NULL
      && !g_error_matches (*error, MOAT_ERROR, MOAT_ERROR_EXISTS))
    log_event (ctx, &s, "refused", ostree_deployment_get_csum (running_deployment (&s)), NULL,
               (*error)->message);
  if (candidate != NULL)
    {
      const char *from = ostree_deployment_get_csum (running_deployment (&s));
      if (check_only)
        undo_pull (&s, old);
      else if (!deploy_candidate (ctx, &s, candidate, error))
        {
          undo_pull (&s, old);
          g_clear_pointer (&candidate, moat_os_deployment_free);
          log_event (ctx, &s, "refused", from, NULL, (*error)->message);
        }
      else
        log_event (ctx, &s, event, from, candidate->checksum, candidate->version);
    }
  sysroot_close (&s);
  return g_steal_pointer (&candidate);
}

MoatOsDeployment *
moat_os_upgrade (const MoatOsContext *ctx, gboolean check_only, GError **error)
{
  return upgrade_to (ctx, NULL, check_only, "upgrade", error);
}

MoatOsDeployment *
moat_os_deploy (const MoatOsContext *ctx, const char *checksum, GError **error)
{
  if (!ostree_validate_checksum_string (checksum, error))
    return NULL;
  return upgrade_to (ctx, checksum, FALSE, "deploy", error);
}

/* --- rollback and cancel -------------------------------------------------------------- */

/* Write DEPLOYMENTS with the one at FROM moved to the front. */
static gboolean
move_to_front (Sysroot *s, GPtrArray *deployments, guint from, GError **error)
{
  g_autoptr (GPtrArray) order = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (order, g_object_ref (deployments->pdata[from]));
  for (guint i = 0; i < deployments->len; i++)
    if (i != from)
      g_ptr_array_add (order, g_object_ref (deployments->pdata[i]));
  return write_deployments (s, order, error);
}

static int
index_of (GPtrArray *deployments, OstreeDeployment *deployment)
{
  for (guint i = 0; i < deployments->len; i++)
    if (ostree_deployment_equal (deployments->pdata[i], deployment))
      return (int)i;
  return -1;
}

MoatOsDeployment *
moat_os_rollback (const MoatOsContext *ctx, GError **error)
{
  Sysroot s;
  MoatOsDeployment *result = NULL;
  if (sysroot_open (&s, ctx, TRUE, error))
    {
      g_autoptr (GPtrArray) deployments = ostree_sysroot_get_deployments (s.sysroot);
      int running = index_of (deployments, running_deployment (&s));
      /* With a pending deployment, the running one becomes the default again; otherwise the
       * one after it does. */
      int target = running > 0 ? running : running + 1;
      if (running < 0 || (guint)target >= deployments->len)
        g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND,
                     "there is no deployment to roll "
                     "back to");
      else if (move_to_front (&s, deployments, (guint)target, error))
        {
          OstreeDeployment *d = deployments->pdata[target];
          g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_load (ctx->keys_dir, NULL);
          result = describe (s.repo, ostree_deployment_get_osname (d),
                             ostree_deployment_get_csum (d), NULL, keys);
          log_event (ctx, &s, "rollback", ostree_deployment_get_csum (deployments->pdata[0]),
                     result->checksum, "by hand");
          /* What boots next was chosen by hand: it is on no trial. */
          if (!counter_set (ctx, NULL, error))
            g_clear_pointer (&result, moat_os_deployment_free);
        }
    }
  sysroot_close (&s);
  return result;
}

gboolean
moat_os_cancel (const MoatOsContext *ctx, GError **error)
{
  Sysroot s;
  gboolean ok = sysroot_open (&s, ctx, TRUE, error);
  if (ok)
    {
      g_autoptr (GPtrArray) deployments = ostree_sysroot_get_deployments (s.sysroot);
      int running = s.booted != NULL ? index_of (deployments, s.booted) : 0;
      if (running <= 0)
        ok = (g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "no deployment is pending%s",
                           s.booted == NULL ? " (in a sysroot that is not booted, the default "
                                              "deployment is the current one)"
                                            : ""),
              FALSE);
      else
        {
          g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (g_object_unref);
          for (guint i = (guint)running; i < deployments->len; i++)
            g_ptr_array_add (keep, g_object_ref (deployments->pdata[i]));
          const char *dropped = ostree_deployment_get_csum (deployments->pdata[0]);
          g_autofree char *dropped_copy = g_strdup (dropped);
          /* Writing reloads the sysroot: its deployment objects go with it. */
          g_autofree char *booted = g_strdup (ostree_deployment_get_csum (s.booted));
          ok = write_deployments (&s, keep, error);
          if (ok)
            log_event (ctx, &s, "cancel", dropped_copy, booted, NULL);
          ok = ok && counter_set (ctx, NULL, error);
        }
    }
  sysroot_close (&s);
  return ok;
}

/* --- boot checks ---------------------------------------------------------------------- */

void
moat_os_boot_free (MoatOsBoot *boot)
{
  if (boot == NULL)
    return;
  g_free (boot->deployment);
  g_free (boot->checksum);
  g_free (boot->version);
  g_free (boot->reason);
  g_free (boot);
}

const char *
moat_os_boot_state_name (MoatOsBootState state)
{
  static const char *const names[] = { [MOAT_OS_BOOT_UNCOUNTED] = "uncounted",
                                       [MOAT_OS_BOOT_NORMAL] = "normal",
                                       [MOAT_OS_BOOT_TRIAL] = "trial",
                                       [MOAT_OS_BOOT_ROLLED_BACK] = "rolled-back" };
  return names[state];
}

/* The detail of the last boot-failed event for CHECKSUM since it was deployed, or NULL. */
static char *
last_failure (const MoatOsContext *ctx, Sysroot *s, const char *checksum)
{
  g_autofree char *path = events_path (ctx, s);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  char *found = NULL;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (MoatJsonValue) event = moat_jv_parse (lines[i], strlen (lines[i]), NULL);
      const char *kind = event ? moat_jv_member_string (event, "event", "") : "";
      if (event == NULL || g_strcmp0 (moat_jv_member_string (event, "to", NULL), checksum) != 0)
        continue;
      /* Only failures since it was last deployed count. */
      if (strcmp (kind, "upgrade") == 0 || strcmp (kind, "deploy") == 0)
        g_clear_pointer (&found, g_free);
      else if (strcmp (kind, "boot-failed") == 0)
        {
          g_free (found);
          found = g_strdup (moat_jv_member_string (event, "detail", ""));
        }
    }
  return found;
}

/* Drop FAILED, which the bootloader gave up on, from the deployments: the one running (the
 * bootloader's fallback) becomes the default. */
static gboolean
drop_failed (Sysroot *s, OstreeDeployment *failed, GError **error)
{
  g_autoptr (GPtrArray) deployments = ostree_sysroot_get_deployments (s->sysroot);
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < deployments->len; i++)
    if (!ostree_deployment_equal (deployments->pdata[i], failed))
      g_ptr_array_add (keep, g_object_ref (deployments->pdata[i]));
  return write_deployments (s, keep, error);
}

/* What this boot is, with the trial's deployment in RET_TRIAL when there is one. */
static MoatOsBoot *
boot_state (const MoatOsContext *ctx, Sysroot *s, GHashTable **ret_counter,
            OstreeDeployment **ret_trial, GError **error)
{
  g_autoptr (MoatOsBoot) boot = g_new0 (MoatOsBoot, 1);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GHashTable) counter = counter_read (ctx, NULL, NULL, &local_error);
  if (local_error != NULL)
    return g_propagate_error (error, g_steal_pointer (&local_error)), NULL;
  boot->state = counter == NULL ? MOAT_OS_BOOT_UNCOUNTED : MOAT_OS_BOOT_NORMAL;
  const char *trial_id = counter ? g_hash_table_lookup (counter, TRIAL_VAR) : NULL;
  g_autoptr (GPtrArray) deployments = ostree_sysroot_get_deployments (s->sysroot);
  OstreeDeployment *trial = trial_id ? find_deployment (deployments, trial_id) : NULL;
  if (trial != NULL)
    {
      boot->deployment = deployment_id (trial);
      boot->checksum = g_strdup (ostree_deployment_get_csum (trial));
      g_autoptr (MoatOsDeployment) d = describe (s->repo, NULL, boot->checksum, NULL, NULL);
      boot->version = g_steal_pointer (&d->version);
      boot->attempts
          = MAX (counter_number (counter, ATTEMPTS_VAR, MOAT_OS_DEFAULT_BOOT_ATTEMPTS), 1);
      /* The bootloader counts down before it boots: a garbled count reads as used up. */
      guint left = MIN (counter_number (counter, LEFT_VAR, 0), boot->attempts - 1);
      boot->attempt = boot->attempts - left;
      if (ostree_deployment_equal (trial, s->running))
        boot->state = MOAT_OS_BOOT_TRIAL;
    }
  *ret_trial = trial;
  *ret_counter = g_steal_pointer (&counter);
  return g_steal_pointer (&boot);
}

MoatOsBoot *
moat_os_boot_check (const MoatOsContext *ctx, GError **error)
{
  Sysroot s;
  g_autoptr (MoatOsBoot) boot = NULL;
  g_autoptr (GHashTable) counter = NULL;
  OstreeDeployment *trial = NULL;
  if (sysroot_open (&s, ctx, TRUE, error)
      && (boot = boot_state (ctx, &s, &counter, &trial, error)) != NULL && counter != NULL)
    {
      const char *trial_id = g_hash_table_lookup (counter, TRIAL_VAR);
      const char *left = g_hash_table_lookup (counter, LEFT_VAR);
      if (trial_id != NULL && trial == NULL)
        /* The trial's deployment is gone (a power cut before it was written, or after it was
         * dropped): nothing is on trial. */
        counter_set (ctx, NULL, NULL);
      else if (boot->state == MOAT_OS_BOOT_NORMAL && trial != NULL && g_strcmp0 (left, "0") == 0)
        {
          /* The bootloader fell back after the last attempt. Dropped first, the counter reset
           * after: a power cut in between leaves a counter naming a deployment that is gone. */
          g_autofree char *failure = last_failure (ctx, &s, boot->checksum);
          boot->reason = failure ? g_steal_pointer (&failure)
                                 : g_strdup_printf ("it never came up far enough to start moatd "
                                                    "in %u boots (the kernel or init failed)",
                                                    boot->attempts);
          /* Dropping reloads the sysroot: its deployment objects go with it. */
          g_autofree char *running = g_strdup (ostree_deployment_get_csum (s.running));
          if (!drop_failed (&s, trial, error) || !counter_set (ctx, NULL, error))
            g_clear_pointer (&boot, moat_os_boot_free);
          else
            {
              boot->state = MOAT_OS_BOOT_ROLLED_BACK;
              g_autofree char *detail
                  = g_strdup_printf ("automatic: %s failed: %s",
                                     boot->version ? boot->version : boot->checksum, boot->reason);
              log_event (ctx, &s, "rollback", boot->checksum, running, detail);
            }
        }
    }
  sysroot_close (&s);
  return g_steal_pointer (&boot);
}

MoatOsBoot *
moat_os_boot_verdict (const MoatOsContext *ctx, gboolean good, const char *reason, GError **error)
{
  Sysroot s;
  g_autoptr (MoatOsBoot) boot = NULL;
  g_autoptr (GHashTable) counter = NULL;
  OstreeDeployment *trial = NULL;
  if (sysroot_open (&s, ctx, TRUE, error)
      && (boot = boot_state (ctx, &s, &counter, &trial, error)) != NULL)
    {
      if (boot->state != MOAT_OS_BOOT_TRIAL)
        {
          g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "this boot is not on trial");
          g_clear_pointer (&boot, moat_os_boot_free);
        }
      else if (good && !counter_set (ctx, NULL, error))
        g_clear_pointer (&boot, moat_os_boot_free);
      else
        {
          g_autofree char *detail
              = good ? g_strdup_printf ("%s is good on attempt %u of %u",
                                        boot->version ? boot->version : boot->checksum,
                                        boot->attempt, boot->attempts)
                     : g_strdup_printf ("attempt %u of %u: %s", boot->attempt, boot->attempts,
                                        reason ? reason : "(no reason given)");
          log_event (ctx, &s, good ? "boot-good" : "boot-failed", NULL, boot->checksum, detail);
          if (!good)
            boot->reason = g_strdup (reason);
        }
    }
  sysroot_close (&s);
  return g_steal_pointer (&boot);
}
