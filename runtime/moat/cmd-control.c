#include <stdio.h>

#include "moat.h"

static int
control (MoatCli *cli, const char *verb, const char *done_text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *text = NULL;
  g_autoptr (MoatJsonValue) reply = moat_cli_call (cli, verb, (const char *const *)cli->args,
                                                   cli->json ? &text : NULL, &code, &error);
  if (reply == NULL)
    return moat_cli_fail (error, code);
  if (cli->json)
    moat_cli_print_json (text);
  else
    printf ("%s %s\n", cli->args[0], done_text);
  return MOAT_EXIT_OK;
}

int
moat_cmd_start (MoatCli *cli)
{
  return control (cli, "start", "is running");
}

int
moat_cmd_stop (MoatCli *cli)
{
  return control (cli, "stop", "is stopped");
}

int
moat_cmd_restart (MoatCli *cli)
{
  return control (cli, "restart", "is running again");
}
