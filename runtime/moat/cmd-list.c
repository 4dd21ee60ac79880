#include <stdio.h>
#include <string.h>

#include "moat.h"

void
moat_cli_print_sandbox_table (const MoatJsonValue *sandboxes)
{
  printf ("%-16s %-12s %-12s %-12s %-7s %-9s %-10s %-8s %s\n", "NAME", "VERSION", "COMMIT", "KEY",
          "BACKEND", "STATE", "HEALTH", "PID", "RESTARTS");
  for (guint i = 0; i < moat_jv_length (sandboxes); i++)
    {
      const MoatJsonValue *sandbox = moat_jv_element (sandboxes, i);
      gint64 pid = moat_jv_member_int (sandbox, "pid", 0);
      g_autofree char *pid_text
          = pid > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, pid) : g_strdup ("-");
      /* Commit and key cut to 12 characters, as git and ostree show them; --json has all. */
      printf ("%-16s %-12s %-12.12s %-12.12s %-7s %-9s %-10s %-8s %" G_GINT64_FORMAT "\n",
              moat_jv_member_string (sandbox, "name", "-"),
              moat_jv_member_string (sandbox, "version", "-"),
              moat_jv_member_string (sandbox, "commit", "-"),
              moat_jv_member_string (sandbox, "signed_by", "-"),
              moat_jv_member_string (sandbox, "backend", "-"),
              moat_jv_member_string (sandbox, "state", "-"),
              moat_jv_member_string (sandbox, "health", "-"), pid_text,
              moat_jv_member_int (sandbox, "restarts", 0));
      const char *error = moat_jv_member_string (sandbox, "last_error", "-");
      if (strcmp (error, "-") != 0)
        printf ("  ! %s\n", error);
    }
}

int
moat_cmd_list (MoatCli *cli)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *text = NULL;
  g_autoptr (MoatJsonValue) reply
      = moat_cli_call (cli, "list", NULL, cli->json ? &text : NULL, &code, &error);
  if (reply == NULL)
    return moat_cli_fail (error, code);
  if (cli->json)
    {
      moat_cli_print_json (text);
      return MOAT_EXIT_OK;
    }
  const MoatJsonValue *sandboxes = moat_jv_member (reply, "sandboxes");
  if (moat_jv_length (sandboxes) == 0)
    {
      printf ("No sandboxes installed.\n");
      return MOAT_EXIT_OK;
    }
  moat_cli_print_sandbox_table (sandboxes);
  return MOAT_EXIT_OK;
}
