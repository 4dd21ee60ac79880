#include <stdio.h>
#include <string.h>

#include "moat-error.h"
#include "moat.h"

static const char *
text (const MoatJsonValue *object, const char *name)
{
  return moat_jv_member_string (object, name, "-");
}

/* OBJECT's member NAME if it is an object, else NULL. */
static const MoatJsonValue *
object_member (const MoatJsonValue *object, const char *name)
{
  const MoatJsonValue *member = moat_jv_member (object, name);
  return moat_jv_type (member) == MOAT_JV_OBJECT ? member : NULL;
}

static char *
join_array (const MoatJsonValue *object, const char *name)
{
  const MoatJsonValue *array = moat_jv_member (object, name);
  if (moat_jv_length (array) == 0)
    return g_strdup ("none");
  g_autoptr (GString) out = g_string_new (NULL);
  for (guint i = 0; i < moat_jv_length (array); i++)
    g_string_append_printf (out, "%s%s", i ? ", " : "",
                            moat_jv_string (moat_jv_element (array, i), "?"));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* "WHAT: N out, M in" from WHAT_out and WHAT_in, when the daemon reported them. */
static void
print_counts (const MoatJsonValue *network, const char *what)
{
  g_autofree char *out = g_strconcat (what, "_out", NULL);
  g_autofree char *in = g_strconcat (what, "_in", NULL);
  if (moat_jv_member (network, out) == NULL)
    return;
  g_autofree char *label = g_strconcat (what, ":", NULL);
  printf ("    %-12s%" G_GINT64_FORMAT " out, %" G_GINT64_FORMAT " in\n", label,
          moat_jv_member_int (network, out, 0), moat_jv_member_int (network, in, 0));
}

/* Its mode; for a sandbox with a policy, its address, flows and drop counters. */
static void
print_network (const MoatJsonValue *confinement)
{
  const MoatJsonValue *network = object_member (confinement, "network");
  printf ("  network:      %s\n", text (network, "mode"));
  if (moat_jv_member (network, "address") == NULL)
    return;
  g_autofree char *allow = join_array (network, "allow");
  g_autofree char *accept = join_array (network, "accept");
  g_autofree char *publish = join_array (network, "publish");
  g_autofree char *discover = join_array (network, "discover");
  printf ("    address:    %s on %s\n", text (network, "address"), text (network, "interface"));
  printf ("    allow:      %s\n", allow);
  printf ("    accept:     %s\n", accept);
  printf ("    publish:    %s\n", publish);
  printf ("    discover:   %s\n", discover);
  print_counts (network, "relayed");
  print_counts (network, "dropped");
}

static void
print_sandbox (const MoatJsonValue *sandbox)
{
  const MoatJsonValue *confinement = object_member (sandbox, "confinement");
  const MoatJsonValue *selinux = object_member (confinement, "selinux");
  const MoatJsonValue *limits = object_member (sandbox, "limits");
  printf ("%s %s (%s): %s, health %s, pid %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " restarts\n",
          text (sandbox, "name"), text (sandbox, "version"), text (sandbox, "backend"),
          text (sandbox, "state"), text (sandbox, "health"), moat_jv_member_int (sandbox, "pid", 0),
          moat_jv_member_int (sandbox, "restarts", 0));
  if (strcmp (text (sandbox, "last_error"), "-") != 0)
    printf ("  last error:   %s\n", text (sandbox, "last_error"));
  if (strcmp (text (sandbox, "last_exit"), "-") != 0)
    printf ("  last exit:    %s\n", text (sandbox, "last_exit"));
  if (confinement != NULL)
    {
      gint64 base = moat_jv_member_int (confinement, "uid_base", 0);
      gint64 count = moat_jv_member_int (confinement, "uid_count", 0);
      printf ("  user ns:      uid 0-%" G_GINT64_FORMAT " -> host %" G_GINT64_FORMAT
              "-%" G_GINT64_FORMAT "\n",
              count - 1, base, base + count - 1);
      g_autofree char *caps = join_array (confinement, "capabilities");
      g_autofree char *syscalls = join_array (confinement, "extra_syscalls");
      g_autofree char *devices = join_array (confinement, "devices");
      printf ("  capabilities: %s\n", caps);
      printf ("  seccomp:      %s; extra syscalls: %s\n", text (confinement, "seccomp"), syscalls);
      printf ("  root:         read-only, no new privileges; /data and /tmp writable\n");
      printf ("  devices:      %s\n", devices);
      print_network (confinement);
      if (moat_jv_member_boolean (selinux, "enabled", FALSE))
        printf ("  SELinux:      %s (MCS %s)\n", text (selinux, "process_label"),
                text (confinement, "mcs"));
      else
        printf ("  SELinux:      %s (would be MCS %s)\n", text (selinux, "note"),
                text (confinement, "mcs"));
    }
  if (limits != NULL)
    {
      gint64 memory = moat_jv_member_int (limits, "memory_bytes", 0);
      gboolean enforced = moat_jv_member_boolean (limits, "enforced", FALSE);
      g_autofree char *memory_text = memory > 0
                                         ? g_format_size_full (memory, G_FORMAT_SIZE_IEC_UNITS)
                                         : g_strdup ("unlimited");
      printf ("  limits:       memory %s, cpu weight %" G_GINT64_FORMAT ", pids %" G_GINT64_FORMAT
              "%s%s\n",
              memory_text, moat_jv_member_int (limits, "cpu_weight", 0),
              moat_jv_member_int (limits, "pids", 0), enforced ? "" : "; ",
              enforced ? "" : text (limits, "note"));
    }
  printf ("  log:          %s\n", text (sandbox, "log"));
}

/* The deployments of an OSTree sysroot, when there is one, before moatd's part. */
static char *
os_part (MoatCli *cli)
{
  g_autofree char *deploy = g_build_filename (cli->sysroot, "ostree", "deploy", NULL);
  if (!cli->sysroot_given && !g_file_test (deploy, G_FILE_TEST_IS_DIR))
    {
      if (!cli->json)
        printf ("OS: %s is not an OSTree system (moat upgrade and rollback need one)\n\n",
                cli->sysroot);
      return NULL;
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *json = moat_cli_os_status (cli, !cli->json, &error);
  if (json == NULL)
    fprintf (stderr, "moat: OS deployments: %s\n", error->message);
  else if (!cli->json)
    printf ("\n");
  return g_steal_pointer (&json);
}

int
moat_cmd_status (MoatCli *cli)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *reply_text = NULL;
  g_autofree char *os = cli->args[0] == NULL ? os_part (cli) : NULL;
  g_autoptr (MoatJsonValue) reply = moat_cli_call (cli, "status", (const char *const *)cli->args,
                                                   cli->json ? &reply_text : NULL, &code, &error);
  /* A sysroot named on the command line is often not the running system's (an image being
   * built, a test): its deployments are the answer, with or without a moatd. */
  if (reply == NULL && cli->sysroot_given && cli->args[0] == NULL
      && g_error_matches (error, MOAT_ERROR, MOAT_ERROR_NOT_RUNNING))
    {
      if (cli->json)
        {
          g_autofree char *text = g_strdup_printf ("{\"os\":%s,\"daemon\":null}", os ? os : "null");
          moat_cli_print_json (text);
        }
      else
        printf ("moatd: not running\n");
      return os != NULL ? MOAT_EXIT_OK : MOAT_EXIT_FAILED;
    }
  if (reply == NULL)
    return moat_cli_fail (error, code);
  if (cli->json)
    {
      /* moatd's object with "os" first: {"os":...,"daemon":...,"sandboxes":[...]}. */
      if (cli->args[0] == NULL && reply_text[0] == '{' && reply_text[1] != '}')
        {
          g_autofree char *text
              = g_strdup_printf ("{\"os\":%s,%s", os ? os : "null", reply_text + 1);
          moat_cli_print_json (text);
        }
      else
        moat_cli_print_json (reply_text);
      return MOAT_EXIT_OK;
    }
  if (cli->args[0] != NULL)
    {
      print_sandbox (reply);
      return MOAT_EXIT_OK;
    }
  const MoatJsonValue *daemon = moat_jv_member (reply, "daemon");
  printf ("moatd: running (pid %" G_GINT64_FORMAT "), %" G_GINT64_FORMAT
          " sandboxes running, %" G_GINT64_FORMAT " required not healthy\n",
          moat_jv_member_int (daemon, "pid", 0), moat_jv_member_int (daemon, "running", 0),
          moat_jv_member_int (daemon, "required_unhealthy", 0));
  const MoatJsonValue *sandboxes = moat_jv_member (reply, "sandboxes");
  if (moat_jv_length (sandboxes) > 0)
    {
      printf ("\n");
      moat_cli_print_sandbox_table (sandboxes);
    }
  return MOAT_EXIT_OK;
}
