#include <stdio.h>

#include "moat.h"

void moat_cli_print_sandbox_table (JsonArray *sandboxes);

static const char *
text (JsonObject *object, const char *name)
{
  if (object == NULL || !json_object_has_member (object, name)
      || json_object_get_null_member (object, name))
    return "-";
  return json_object_get_string_member_with_default (object, name, "-");
}

static char *
join_array (JsonObject *object, const char *name)
{
  JsonArray *array = object ? json_object_get_array_member (object, name) : NULL;
  if (array == NULL || json_array_get_length (array) == 0)
    return g_strdup ("none");
  g_autoptr (GString) out = g_string_new (NULL);
  for (guint i = 0; i < json_array_get_length (array); i++)
    g_string_append_printf (out, "%s%s", i ? ", " : "", json_array_get_string_element (array, i));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Its mode; for a sandbox with a policy, its address, flows and drop counters. */
static void
print_network (JsonObject *confinement)
{
  JsonObject *network
      = json_object_get_member (confinement, "network") != NULL
                && JSON_NODE_HOLDS_OBJECT (json_object_get_member (confinement, "network"))
            ? json_object_get_object_member (confinement, "network")
            : NULL;
  printf ("  network:      %s\n", text (network, "mode"));
  if (network == NULL || !json_object_has_member (network, "address"))
    return;
  g_autofree char *allow = join_array (network, "allow");
  g_autofree char *accept = join_array (network, "accept");
  g_autofree char *publish = join_array (network, "publish");
  printf ("    address:    %s on %s\n", text (network, "address"), text (network, "interface"));
  printf ("    allow:      %s\n", allow);
  printf ("    accept:     %s\n", accept);
  printf ("    publish:    %s\n", publish);
  if (json_object_has_member (network, "dropped_out"))
    printf ("    dropped:    %" G_GINT64_FORMAT " out, %" G_GINT64_FORMAT " in\n",
            json_object_get_int_member (network, "dropped_out"),
            json_object_get_int_member (network, "dropped_in"));
}

static void
print_sandbox (JsonObject *sandbox)
{
  JsonObject *confinement = json_object_get_object_member (sandbox, "confinement");
  JsonObject *selinux = confinement ? json_object_get_object_member (confinement, "selinux") : NULL;
  JsonObject *limits = json_object_get_object_member (sandbox, "limits");
  printf ("%s %s (%s): %s, health %s, pid %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " restarts\n",
          text (sandbox, "name"), text (sandbox, "version"), text (sandbox, "backend"),
          text (sandbox, "state"), text (sandbox, "health"),
          json_object_get_int_member_with_default (sandbox, "pid", 0),
          json_object_get_int_member_with_default (sandbox, "restarts", 0));
  if (g_strcmp0 (text (sandbox, "last_error"), "-") != 0)
    printf ("  last error:   %s\n", text (sandbox, "last_error"));
  if (g_strcmp0 (text (sandbox, "last_exit"), "-") != 0)
    printf ("  last exit:    %s\n", text (sandbox, "last_exit"));
  if (confinement != NULL)
    {
      gint64 base = json_object_get_int_member_with_default (confinement, "uid_base", 0);
      gint64 count = json_object_get_int_member_with_default (confinement, "uid_count", 0);
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
      if (selinux && json_object_get_boolean_member_with_default (selinux, "enabled", FALSE))
        printf ("  SELinux:      %s (MCS %s)\n", text (selinux, "process_label"),
                text (confinement, "mcs"));
      else
        printf ("  SELinux:      %s (would be MCS %s)\n", text (selinux, "note"),
                text (confinement, "mcs"));
    }
  if (limits != NULL)
    {
      gint64 memory = json_object_get_int_member_with_default (limits, "memory_bytes", 0);
      g_autofree char *memory_text = memory > 0
                                         ? g_format_size_full (memory, G_FORMAT_SIZE_IEC_UNITS)
                                         : g_strdup ("unlimited");
      printf ("  limits:       memory %s, cpu weight %" G_GINT64_FORMAT ", pids %" G_GINT64_FORMAT
              "%s%s\n",
              memory_text, json_object_get_int_member_with_default (limits, "cpu_weight", 0),
              json_object_get_int_member_with_default (limits, "pids", 0),
              json_object_get_boolean_member_with_default (limits, "enforced", FALSE) ? "" : "; ",
              json_object_get_boolean_member_with_default (limits, "enforced", FALSE)
                  ? ""
                  : text (limits, "note"));
    }
  printf ("  log:          %s\n", text (sandbox, "log"));
}

int
moat_cmd_status (MoatCli *cli)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *code = NULL;
  g_autoptr (JsonNode) reply
      = moat_cli_call (cli, "status", (const char *const *)cli->args, &code, &error);
  if (reply == NULL)
    return moat_cli_fail (error, code);
  if (cli->json)
    {
      moat_cli_print_json (reply);
      return MOAT_EXIT_OK;
    }
  JsonObject *object = json_node_get_object (reply);
  if (cli->args[0] != NULL)
    {
      print_sandbox (object);
      return MOAT_EXIT_OK;
    }
  JsonObject *daemon = json_object_get_object_member (object, "daemon");
  printf ("moatd: running (pid %" G_GINT64_FORMAT "), %" G_GINT64_FORMAT
          " sandboxes running, %" G_GINT64_FORMAT " required not healthy\n",
          json_object_get_int_member_with_default (daemon, "pid", 0),
          json_object_get_int_member_with_default (daemon, "running", 0),
          json_object_get_int_member_with_default (daemon, "required_unhealthy", 0));
  JsonArray *sandboxes = json_object_get_array_member (object, "sandboxes");
  if (sandboxes != NULL && json_array_get_length (sandboxes) > 0)
    {
      printf ("\n");
      moat_cli_print_sandbox_table (sandboxes);
    }
  return MOAT_EXIT_OK;
}
