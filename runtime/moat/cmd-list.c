#include <stdio.h>

#include "moat.h"

static const char *
member_string (JsonObject *object, const char *name)
{
  if (!json_object_has_member (object, name) || json_object_get_null_member (object, name))
    return "-";
  return json_object_get_string_member_with_default (object, name, "-");
}

/* Print one line per sandbox; shared with `moat status`. */
void moat_cli_print_sandbox_table (JsonArray *sandboxes);

void
moat_cli_print_sandbox_table (JsonArray *sandboxes)
{
  printf ("%-20s %-12s %-7s %-9s %-10s %-8s %s\n", "NAME", "VERSION", "BACKEND", "STATE", "HEALTH",
          "PID", "RESTARTS");
  for (guint i = 0; i < json_array_get_length (sandboxes); i++)
    {
      JsonObject *sandbox = json_array_get_object_element (sandboxes, i);
      gint64 pid = json_object_get_int_member_with_default (sandbox, "pid", 0);
      g_autofree char *pid_text
          = pid > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, pid) : g_strdup ("-");
      printf ("%-20s %-12s %-7s %-9s %-10s %-8s %" G_GINT64_FORMAT "\n",
              member_string (sandbox, "name"), member_string (sandbox, "version"),
              member_string (sandbox, "backend"), member_string (sandbox, "state"),
              member_string (sandbox, "health"), pid_text,
              json_object_get_int_member_with_default (sandbox, "restarts", 0));
      const char *error = member_string (sandbox, "last_error");
      if (g_strcmp0 (error, "-") != 0)
        printf ("  ! %s\n", error);
    }
}

int
moat_cmd_list (MoatCli *cli)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *code = NULL;
  g_autoptr (JsonNode) reply = moat_cli_call (cli, "list", NULL, &code, &error);
  if (reply == NULL)
    return moat_cli_fail (error, code);
  if (cli->json)
    {
      moat_cli_print_json (reply);
      return MOAT_EXIT_OK;
    }
  JsonArray *sandboxes = json_object_get_array_member (json_node_get_object (reply), "sandboxes");
  if (sandboxes == NULL || json_array_get_length (sandboxes) == 0)
    {
      printf ("No sandboxes installed.\n");
      return MOAT_EXIT_OK;
    }
  moat_cli_print_sandbox_table (sandboxes);
  return MOAT_EXIT_OK;
}
