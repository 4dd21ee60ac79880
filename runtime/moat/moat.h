/* The moat CLI: one table of verbs (main.c) over one file per verb. */
#pragma once

#include <glib.h>

#include "jsonread.h"

/* Exit codes, as rpm-ostree: 77 when there was nothing to do. */
#define MOAT_EXIT_OK 0
#define MOAT_EXIT_FAILED 1
#define MOAT_EXIT_USAGE 2
#define MOAT_EXIT_NOTHING_TO_DO 77

typedef struct
{
  const char *run_dir;
  const char *log_dir;
  const char *state_dir; /* installed sandboxes [/var/lib/moat] */
  const char *keys_dir;  /* trusted bundle keys [/etc/moat/keys/bundles.d] */
  const char *config;    /* [/etc/moat/moat.conf] */
  const char *remote;    /* --remote URL, over moat.conf's */
  const char *sysroot;   /* the OSTree sysroot [/] */
  const char *booted;    /* --booted: the deployment to treat as booted in an offline sysroot */
  gboolean sysroot_given;
  gboolean keys_dir_given;
  gboolean check;
  gboolean reboot;
  gboolean json;
  gboolean follow;
  gboolean allow_downgrade;
  gboolean purge;
  gboolean quiet;
  char **args; /* the verb's positional arguments, NULL-terminated */
} MoatCli;

typedef int (*MoatVerbFunc) (MoatCli *cli);

/* Send a request to moatd and parse the reply. An {"error":...} reply becomes a GError whose
 * message is the daemon's; RET_CODE (optional) gets its code ("exists", "not-running"...).
 * RET_REPLY (optional) gets the reply's text, for --json. */
MoatJsonValue *moat_cli_call (MoatCli *cli, const char *verb, const char *const *args,
                              char **ret_reply, char **ret_code, GError **error);

/* Print TEXT, one valid JSON document, indented for --json output. */
void moat_cli_print_json (const char *text);

/* Print one line per sandbox of the array SANDBOXES; `moat list` and `moat status` share it. */
void moat_cli_print_sandbox_table (const MoatJsonValue *sandboxes);

/* Report ERROR; exit 77 when it is NOTHING, the code that means "nothing to do" for this verb
 * (an unsigned update is NOT_FOUND inside yet a refusal: 1), else 1. */
int moat_cli_fail_unless (const GError *error, int nothing);

/* Report ERROR as "moat: message" and return the exit code it stands for. */
int moat_cli_fail (const GError *error, const char *code);

/* The bundle repo (moat.conf [Bundles] Remote=, or --remote) and branch (Branch=, default
 * "stable") that `moat install NAME` fetches from. */
gboolean moat_cli_bundle_remote (MoatCli *cli, char **ret_url, char **ret_branch, GError **error);

/* The OS deployments of cli->sysroot as JSON (printed for people too when PRINT). */
char *moat_cli_os_status (MoatCli *cli, gboolean print, GError **error);

int moat_cmd_upgrade (MoatCli *cli);
int moat_cmd_deploy (MoatCli *cli);
int moat_cmd_rollback (MoatCli *cli);
int moat_cmd_cancel (MoatCli *cli);
int moat_cmd_boot_check (MoatCli *cli);
int moat_cmd_install (MoatCli *cli);
int moat_cmd_remove (MoatCli *cli);
int moat_cmd_bundle_rollback (MoatCli *cli);
int moat_cmd_list (MoatCli *cli);
int moat_cmd_status (MoatCli *cli);
int moat_cmd_start (MoatCli *cli);
int moat_cmd_stop (MoatCli *cli);
int moat_cmd_restart (MoatCli *cli);
int moat_cmd_logs (MoatCli *cli);
int moat_cmd_remote (MoatCli *cli);

/* The sub-verbs of `moat remote`, space-separated, for shell completion. */
char *moat_cmd_remote_subverbs (void);
