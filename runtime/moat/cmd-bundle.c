/* install, remove and bundle-rollback: the bundle work is done here, in the CLI, by
 * runtime/lib/bundle-install.c on the state directory; moatd is then asked to run (or stop)
 * what changed. Without a running moatd the state still changes and moatd picks it up when it
 * starts. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bundle-install.h"
#include "json.h"
#include "moat-error.h"
#include "moat.h"
#include "seccomp.h"

static void
on_progress (const char *message, gpointer user_data)
{
  MoatCli *cli = user_data;
  /* Progress goes to stderr, so that stdout stays the result (and --json stays JSON). */
  if (!cli->quiet)
    fprintf (stderr, "%s...\n", message);
}

static MoatBundleContext
context_of (MoatCli *cli)
{
  return (MoatBundleContext){
    .state_dir = cli->state_dir,
    .keys_dir = cli->keys_dir,
    .arch = moat_arch_name (moat_arch_native ()),
    .allow_downgrade = cli->allow_downgrade,
    .now = (gint64)time (NULL),
    .progress = on_progress,
    .progress_data = cli,
  };
}

/* Ask moatd to run NAME's new current commit: restart stops it first if it runs. A moatd
 * that is not running is no error: it starts the sandbox when it starts. */
static gboolean
tell_moatd (MoatCli *cli, const char *verb, const char *name, char **ret_note)
{
  const char *args[] = { name, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *code = NULL;
  g_autoptr (MoatJsonValue) reply = moat_cli_call (cli, verb, args, NULL, &code, &error);
  if (reply != NULL)
    return TRUE;
  if (g_error_matches (error, MOAT_ERROR, MOAT_ERROR_NOT_RUNNING))
    *ret_note = g_strdup ("moatd is not running; it will run the sandbox when it starts");
  else if (g_strcmp0 (code, "not-running") == 0)
    return TRUE;
  else
    {
      *ret_note = g_strdup_printf ("moatd: %s", error->message);
      return FALSE;
    }
  return TRUE;
}

static void
print_result (MoatCli *cli, const char *done, const MoatBundleInfo *info, const char *note)
{
  if (cli->json)
    {
      g_autoptr (MoatJson) json = moat_json_new ();
      moat_json_begin_object (json);
      moat_json_kv_string (json, "result", done);
      moat_json_kv_string (json, "name", info->name);
      moat_json_kv_string (json, "version", info->version);
      moat_json_kv_string (json, "commit", info->checksum);
      moat_json_kv_string (json, "ref", info->ref);
      moat_json_kv_string (json, "signed_by", info->signed_by);
      moat_json_kv_string (json, "note", note);
      moat_json_end_object (json);
      g_autofree char *text = moat_json_steal (g_steal_pointer (&json));
      moat_cli_print_json (text);
      return;
    }
  printf ("%s %s %s (commit %.12s, signed by %.12s)\n", info->name, info->version, done,
          info->checksum, info->signed_by ? info->signed_by : "?");
  if (note != NULL)
    printf ("  %s\n", note);
}

/* Have moatd run INFO's commit, now current, and say what was DONE. */
static int
run_new_commit (MoatCli *cli, const MoatBundleInfo *info, const char *done)
{
  g_autofree char *note = NULL;
  gboolean started = tell_moatd (cli, "restart", info->name, &note);
  print_result (cli, done, info, note);
  return started ? MOAT_EXIT_OK : MOAT_EXIT_FAILED;
}

/* A FILE (has a '/' or ends in .moatb) or a NAME from the configured remote. */
static gboolean
is_file_argument (const char *arg)
{
  return strchr (arg, '/') != NULL || g_str_has_suffix (arg, ".moatb");
}

int
moat_cmd_install (MoatCli *cli)
{
  const char *arg = cli->args[0];
  MoatBundleContext ctx = context_of (cli);
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatBundleInfo) info = NULL;
  if (is_file_argument (arg))
    info = moat_bundle_install_file (&ctx, arg, &error);
  else
    {
      g_autofree char *url = NULL;
      g_autofree char *branch = NULL;
      if (!moat_cli_bundle_remote (cli, &url, &branch, &error))
        return moat_cli_fail (error, "failed");
      info = moat_bundle_install_remote (&ctx, url, arg, branch, &error);
    }
  if (info == NULL)
    return moat_cli_fail_unless (error, MOAT_ERROR_EXISTS);
  return run_new_commit (cli, info, "installed");
}

int
moat_cmd_bundle_rollback (MoatCli *cli)
{
  MoatBundleContext ctx = context_of (cli);
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatBundleInfo) info = moat_bundle_rollback (&ctx, cli->args[0], &error);
  if (info == NULL)
    return moat_cli_fail_unless (error, MOAT_ERROR_NOT_FOUND);
  return run_new_commit (cli, info, "is current again");
}

int
moat_cmd_remove (MoatCli *cli)
{
  const char *name = cli->args[0];
  MoatBundleContext ctx = context_of (cli);
  g_autoptr (GError) error = NULL;
  g_autofree char *note = NULL;
  /* Stopped first, so that nothing runs from a deployment about to go. */
  if (!tell_moatd (cli, "stop", name, &note) && strstr (note, "no sandbox") == NULL)
    {
      fprintf (stderr, "moat: %s\n", note);
      return MOAT_EXIT_FAILED;
    }
  if (!moat_bundle_remove (&ctx, name, cli->purge, &error))
    return moat_cli_fail_unless (error, MOAT_ERROR_NOT_FOUND);
  if (cli->json)
    {
      g_autoptr (MoatJson) json = moat_json_new ();
      moat_json_begin_object (json);
      moat_json_kv_string (json, "result", "removed");
      moat_json_kv_string (json, "name", name);
      moat_json_kv_bool (json, "data_kept", !cli->purge);
      moat_json_end_object (json);
      g_autofree char *text = moat_json_steal (g_steal_pointer (&json));
      moat_cli_print_json (text);
    }
  else
    printf ("%s removed%s\n", name,
            cli->purge ? ", with its data" : "; its data is kept (moat remove --purge drops it)");
  return MOAT_EXIT_OK;
}
