/* The OS verbs: upgrade, deploy, rollback, cancel, and the deployments part of status. They
 * work on the sysroot through libostree (runtime/lib/osupdate.c); moatd is not involved. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "moat-error.h"
#include "moat.h"
#include "osupdate.h"

static void
on_progress (const char *line, gboolean done, gpointer user_data)
{
  MoatCli *cli = user_data;
  if (cli->quiet)
    return;
  /* One line that updates in place on a terminal; one line a step elsewhere. */
  if (isatty (STDERR_FILENO))
    fprintf (stderr, "\r\033[K%s%s", line, done ? "\n" : "");
  else if (done)
    fprintf (stderr, "%s\n", line);
}

/* moat.conf [Update] MaxPullMiB=, 1..65536; a missing file or key means the default. */
static guint64
max_pull_bytes (MoatCli *cli)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  if (!g_key_file_load_from_file (config, cli->config, G_KEY_FILE_NONE, NULL))
    return 0;
  g_autoptr (GError) error = NULL;
  guint64 mib = g_key_file_get_uint64 (config, "Update", "MaxPullMiB", &error);
  if (error != NULL || mib == 0 || mib > 65536)
    {
      if (!g_error_matches (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND)
          && !g_error_matches (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
        fprintf (stderr, "moat: %s: [Update] MaxPullMiB is not 1..65536; using the default\n",
                 cli->config);
      return 0;
    }
  return mib << 20;
}

static MoatOsContext
context_of (MoatCli *cli)
{
  return (MoatOsContext){
    .max_pull_bytes = max_pull_bytes (cli),
    .sysroot = cli->sysroot,
    .keys_dir = cli->keys_dir_given ? cli->keys_dir : "/etc/moat/keys/os.d",
    .allow_downgrade = cli->allow_downgrade,
    .now = (gint64)time (NULL),
    .progress = on_progress,
    .progress_data = cli,
  };
}

static char *
when (guint64 seconds)
{
  g_autoptr (GDateTime) time = g_date_time_new_from_unix_utc ((gint64)seconds);
  return time ? g_date_time_format (time, "%Y-%m-%d %H:%M UTC") : g_strdup ("?");
}

static void
write_deployment (MoatJson *json, const MoatOsDeployment *d)
{
  moat_json_begin_object (json);
  moat_json_kv_string (json, "osname", d->osname);
  moat_json_kv_string (json, "version", d->version);
  moat_json_kv_string (json, "commit", d->checksum);
  moat_json_kv_string (json, "origin", d->refspec);
  moat_json_kv_int (json, "timestamp", (gint64)d->timestamp);
  moat_json_kv_string (json, "signed_by", d->signed_by);
  moat_json_kv_bool (json, "booted", d->booted);
  moat_json_kv_bool (json, "pending", d->pending);
  moat_json_kv_bool (json, "rollback", d->rollback);
  moat_json_end_object (json);
}

static void
print_deployment (const MoatOsDeployment *d)
{
  g_autofree char *date = when (d->timestamp);
  const char *role = d->booted     ? "booted"
                     : d->pending  ? "pending (boots next)"
                     : d->rollback ? "rollback"
                                   : "";
  printf ("%s %s %s  commit %.12s  %s  signed by %.12s  %s\n", d->booted ? "*" : " ", d->osname,
          d->version ? d->version : "(no version)", d->checksum, date,
          d->signed_by ? d->signed_by : "NO TRUSTED KEY", role);
}

/* The last line of the events log, for "what happened last". */
static char *
last_event (MoatCli *cli, const char *osname)
{
  g_autofree char *path = strcmp (cli->sysroot, "/") == 0
                              ? g_strdup ("/var/lib/moat/events.log")
                              : g_build_filename (cli->sysroot, "ostree", "deploy", osname, "var",
                                                  "lib", "moat", "events.log", NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  g_strchomp (text);
  const char *line = strrchr (text, '\n');
  return g_strdup (line ? line + 1 : text);
}

char *
moat_cli_os_status (MoatCli *cli, gboolean print, GError **error)
{
  MoatOsContext ctx = context_of (cli);
  g_autoptr (GPtrArray) deployments = moat_os_status (&ctx, error);
  if (deployments == NULL)
    return NULL;
  const char *osname = deployments->len ? ((MoatOsDeployment *)deployments->pdata[0])->osname : "";
  g_autofree char *event = last_event (cli, osname);
  if (print)
    {
      printf ("OS deployments (%s), first boots next:\n", cli->sysroot);
      for (guint i = 0; i < deployments->len; i++)
        print_deployment (deployments->pdata[i]);
      if (event != NULL)
        printf ("last update event: %s\n", event);
    }
  g_autoptr (MoatJson) json = moat_json_new ();
  moat_json_begin_object (json);
  moat_json_kv_string (json, "sysroot", cli->sysroot);
  moat_json_key (json, "deployments");
  moat_json_begin_array (json);
  for (guint i = 0; i < deployments->len; i++)
    write_deployment (json, deployments->pdata[i]);
  moat_json_end_array (json);
  /* The log's lines are JSON objects written by moat (osupdate.c). */
  moat_json_key (json, "last_event");
  if (event != NULL && event[0] == '{')
    moat_json_raw (json, event);
  else
    moat_json_null (json);
  moat_json_end_object (json);
  return moat_json_steal (g_steal_pointer (&json));
}

static int
report (MoatCli *cli, const char *result, const MoatOsDeployment *d)
{
  if (cli->json)
    {
      g_autoptr (MoatJson) json = moat_json_new ();
      moat_json_begin_object (json);
      moat_json_kv_string (json, "result", result);
      moat_json_key (json, "deployment");
      write_deployment (json, d);
      moat_json_end_object (json);
      g_autofree char *text = moat_json_steal (g_steal_pointer (&json));
      moat_cli_print_json (text);
    }
  else
    {
      printf ("%s:\n", result);
      print_deployment (d);
    }
  return MOAT_EXIT_OK;
}

static int
reboot_if_asked (MoatCli *cli)
{
  if (!cli->reboot)
    return MOAT_EXIT_OK;
  printf ("rebooting\n");
  fflush (stdout);
  const char *argv[] = { "systemctl", "reboot", NULL };
  execvp (argv[0], (char **)argv);
  perror ("moat: systemctl reboot");
  return MOAT_EXIT_FAILED;
}

int
moat_cmd_upgrade (MoatCli *cli)
{
  MoatOsContext ctx = context_of (cli);
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatOsDeployment) d = moat_os_upgrade (&ctx, cli->check, &error);
  if (d == NULL)
    return moat_cli_fail_unless (error, MOAT_ERROR_EXISTS);
  report (cli, cli->check ? "an update is available" : "deployed; it boots next", d);
  return cli->check ? MOAT_EXIT_OK : reboot_if_asked (cli);
}

int
moat_cmd_deploy (MoatCli *cli)
{
  MoatOsContext ctx = context_of (cli);
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatOsDeployment) d = moat_os_deploy (&ctx, cli->args[0], &error);
  if (d == NULL)
    return moat_cli_fail_unless (error, MOAT_ERROR_EXISTS);
  report (cli, "deployed; it boots next", d);
  return reboot_if_asked (cli);
}

int
moat_cmd_rollback (MoatCli *cli)
{
  MoatOsContext ctx = context_of (cli);
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatOsDeployment) d = moat_os_rollback (&ctx, &error);
  if (d == NULL)
    return moat_cli_fail_unless (error, MOAT_ERROR_NOT_FOUND);
  report (cli, "rolled back; this boots next", d);
  return reboot_if_asked (cli);
}

int
moat_cmd_cancel (MoatCli *cli)
{
  MoatOsContext ctx = context_of (cli);
  g_autoptr (GError) error = NULL;
  if (!moat_os_cancel (&ctx, &error))
    return moat_cli_fail_unless (error, MOAT_ERROR_NOT_FOUND);
  printf ("the pending deployment is dropped; the running one boots next\n");
  return MOAT_EXIT_OK;
}
