/* The OS verbs: upgrade, deploy, rollback, cancel, and the deployments part of status. They
 * work on the sysroot through libostree (runtime/lib/osupdate.c); moatd is not involved. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "jsonread.h"
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

/* moat.conf [Update] KEY=, MIN..MAX; a missing file or key means FALLBACK, and so does a bad
 * value (said on stderr): a typo must not stop updates. */
static guint64
update_setting (MoatCli *cli, const char *key, guint64 min, guint64 max, guint64 fallback)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  if (!g_key_file_load_from_file (config, cli->config, G_KEY_FILE_NONE, NULL))
    return fallback;
  g_autoptr (GError) error = NULL;
  guint64 value = g_key_file_get_uint64 (config, "Update", key, &error);
  if (error != NULL || value < min || value > max)
    {
      if (!g_error_matches (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND)
          && !g_error_matches (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
        fprintf (stderr,
                 "moat: %s: [Update] %s is not %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
                 "; using %" G_GUINT64_FORMAT "\n",
                 cli->config, key, min, max, fallback);
      return fallback;
    }
  return value;
}

static MoatOsContext
context_of (MoatCli *cli)
{
  return (MoatOsContext){
    .max_pull_bytes = update_setting (cli, "MaxPullMiB", 1, 65536, MOAT_OS_DEFAULT_MAX_PULL >> 20)
                      << 20,
    .boot_attempts = (guint)update_setting (cli, "BootAttempts", 1, MOAT_OS_MAX_BOOT_ATTEMPTS,
                                            MOAT_OS_DEFAULT_BOOT_ATTEMPTS),
    .assume_booted = cli->booted,
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
  moat_json_kv_string (json, "id", d->id);
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

/* From the events log: its last line ("what happened last"), and the last automatic rollback
 * (which update failed, and why). */
static void
read_events (MoatCli *cli, const char *osname, char **ret_last, char **ret_failed)
{
  g_autofree char *path = moat_os_events_path (cli->sysroot, osname);
  g_autofree char *text = NULL;
  *ret_last = *ret_failed = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return;
  g_auto (GStrv) lines = g_strsplit (g_strchomp (text), "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (MoatJsonValue) event = moat_jv_parse (lines[i], strlen (lines[i]), NULL);
      if (event != NULL && g_strcmp0 (moat_jv_member_string (event, "event", NULL), "rollback") == 0
          && g_str_has_prefix (moat_jv_member_string (event, "detail", ""), "automatic"))
        g_free (*ret_failed), *ret_failed = g_strdup (lines[i]);
    }
  /* Only what parses goes into --json output as it is. */
  guint n = g_strv_length (lines);
  g_autoptr (MoatJsonValue) last
      = n > 0 ? moat_jv_parse (lines[n - 1], strlen (lines[n - 1]), NULL) : NULL;
  *ret_last = last != NULL ? g_strdup (lines[n - 1]) : NULL;
}

char *
moat_cli_os_status (MoatCli *cli, gboolean print, GError **error)
{
  MoatOsContext ctx = context_of (cli);
  g_autoptr (GPtrArray) deployments = moat_os_status (&ctx, error);
  if (deployments == NULL)
    return NULL;
  const char *osname = deployments->len ? ((MoatOsDeployment *)deployments->pdata[0])->osname : "";
  g_autofree char *event = NULL;
  g_autofree char *failed = NULL;
  read_events (cli, osname, &event, &failed);
  if (print)
    {
      printf ("OS deployments (%s), first boots next:\n", cli->sysroot);
      for (guint i = 0; i < deployments->len; i++)
        print_deployment (deployments->pdata[i]);
      if (event != NULL)
        printf ("last update event: %s\n", event);
      if (failed != NULL)
        {
          g_autoptr (MoatJsonValue) parsed = moat_jv_parse (failed, strlen (failed), NULL);
          printf ("last failed update (%s): commit %.12s, %s\n",
                  moat_jv_member_string (parsed, "time", "?"),
                  moat_jv_member_string (parsed, "from", "?"),
                  moat_jv_member_string (parsed, "detail", "?"));
        }
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
  if (event != NULL)
    moat_json_raw (json, event);
  else
    moat_json_null (json);
  moat_json_key (json, "last_failed_update");
  if (failed != NULL)
    moat_json_raw (json, failed);
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

static void
print_boot (const MoatOsBoot *boot, guint64 health_timeout)
{
  const char *what = boot->version ? boot->version : boot->deployment;
  switch (boot->state)
    {
    case MOAT_OS_BOOT_UNCOUNTED:
      printf ("this boot: not counted (no boot counter in /boot: no automatic rollback)\n");
      break;
    case MOAT_OS_BOOT_NORMAL:
      if (boot->deployment != NULL)
        printf ("this boot: normal; %s waits on trial (attempt %u of %u next)\n", what,
                boot->attempt, boot->attempts);
      else
        printf ("this boot: normal (no deployment on trial)\n");
      break;
    case MOAT_OS_BOOT_TRIAL:
      printf ("this boot: trial of %s, attempt %u of %u; it is good once every Required sandbox "
              "is healthy, within %" G_GUINT64_FORMAT " s\n",
              what, boot->attempt, boot->attempts, health_timeout);
      break;
    case MOAT_OS_BOOT_ROLLED_BACK:
      printf ("this boot: rolled back: %s failed and was dropped: %s\n", what, boot->reason);
      break;
    }
}

static void
write_boot (MoatJson *json, const MoatOsBoot *boot, guint64 health_timeout)
{
  moat_json_begin_object (json);
  moat_json_kv_string (json, "state", moat_os_boot_state_name (boot->state));
  moat_json_kv_string (json, "deployment", boot->deployment);
  moat_json_kv_string (json, "commit", boot->checksum);
  moat_json_kv_string (json, "version", boot->version);
  moat_json_kv_int (json, "attempt", boot->attempt);
  moat_json_kv_int (json, "attempts", boot->attempts);
  moat_json_kv_int (json, "health_timeout", (gint64)health_timeout);
  moat_json_kv_string (json, "reason", boot->reason);
  moat_json_end_object (json);
}

/* moat boot-check [good | failed REASON]: moatd runs it at startup and again with its
 * verdict on a trial boot (runtime/moatd/boot.c). */
int
moat_cmd_boot_check (MoatCli *cli)
{
  MoatOsContext ctx = context_of (cli);
  guint64 health_timeout
      = update_setting (cli, "HealthTimeout", MOAT_OS_MIN_HEALTH_TIMEOUT,
                        MOAT_OS_MAX_HEALTH_TIMEOUT, MOAT_OS_DEFAULT_HEALTH_TIMEOUT);
  const char *verdict = cli->args[0];
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatOsBoot) boot = NULL;
  if (verdict == NULL)
    boot = moat_os_boot_check (&ctx, &error);
  else if (strcmp (verdict, "good") == 0 && cli->args[1] == NULL)
    boot = moat_os_boot_verdict (&ctx, TRUE, NULL, &error);
  else if (strcmp (verdict, "failed") == 0 && cli->args[1] != NULL)
    boot = moat_os_boot_verdict (&ctx, FALSE, cli->args[1], &error);
  else
    {
      fprintf (stderr, "moat boot-check: expected nothing, 'good', or 'failed REASON'\n");
      return MOAT_EXIT_USAGE;
    }
  if (boot == NULL)
    return moat_cli_fail_unless (error, MOAT_ERROR_NOT_FOUND);
  if (cli->json)
    {
      g_autoptr (MoatJson) json = moat_json_new ();
      write_boot (json, boot, health_timeout);
      g_autofree char *text = moat_json_steal (g_steal_pointer (&json));
      moat_cli_print_json (text);
    }
  else if (verdict == NULL)
    print_boot (boot, health_timeout);
  else if (cli->args[1] == NULL)
    printf ("%s is good on attempt %u of %u; counting stops\n",
            boot->version ? boot->version : boot->deployment, boot->attempt, boot->attempts);
  else
    printf ("attempt %u of %u at %s failed: %s%s\n", boot->attempt, boot->attempts,
            boot->version ? boot->version : boot->deployment, cli->args[1],
            boot->attempt >= boot->attempts ? "; the next boot falls back" : "");
  return verdict != NULL && cli->args[1] != NULL ? reboot_if_asked (cli) : MOAT_EXIT_OK;
}
