/* moat: the command line for a Moat hub. Verbs, their arguments and their help all come
 * from the one table below. */
#include <stdio.h>
#include <string.h>

#include "moat-error.h"
#include "moat.h"
#include "proto.h"

enum
{
  FLAG_JSON = 1 << 0,      /* takes --json */
  FLAG_FOLLOW = 1 << 1,    /* takes -f/--follow */
  FLAG_SUBVERBS = 1 << 2,  /* has sub-verbs: every word after it is its own to parse */
  FLAG_BUNDLE = 1 << 3,    /* works on bundles: takes --state-dir */
  FLAG_DOWNGRADE = 1 << 4, /* takes --allow-downgrade */
  FLAG_PURGE = 1 << 5,     /* takes --purge */
  FLAG_REMOTE = 1 << 6,    /* takes --remote and --config */
  FLAG_KEYS = 1 << 7,      /* checks signatures: takes --keys-dir and -q */
  FLAG_OS = 1 << 8,        /* works on the OS: takes --sysroot */
  FLAG_CHECK = 1 << 9,     /* takes --check */
  FLAG_REBOOT = 1 << 10,   /* takes --reboot */
  FLAG_CONFIG = 1 << 11,   /* reads moat.conf: takes --config */
  FLAG_BOOTED = 1 << 12,   /* takes --booted */
};

typedef struct
{
  const char *name;
  int min_args;
  int max_args;
  unsigned flags;
  MoatVerbFunc function;
  const char *args_help;
  const char *summary;
} Verb;

static const Verb verbs[] = {
  { "status", 0, 1, FLAG_JSON | FLAG_OS | FLAG_KEYS, moat_cmd_status, "[NAME]",
    "OS deployments, the daemon and every sandbox; or one sandbox's confinement and health" },
  { "upgrade", 0, 0, FLAG_JSON | FLAG_OS | FLAG_KEYS | FLAG_CHECK | FLAG_REBOOT | FLAG_CONFIG,
    moat_cmd_upgrade, "", "pull, verify and deploy the newest signed commit of the tracked ref" },
  { "deploy", 1, 1, FLAG_JSON | FLAG_OS | FLAG_KEYS | FLAG_DOWNGRADE | FLAG_REBOOT | FLAG_CONFIG,
    moat_cmd_deploy, "COMMIT", "pull, verify and deploy the given commit of the tracked ref" },
  { "rollback", 0, 0, FLAG_JSON | FLAG_OS | FLAG_KEYS | FLAG_REBOOT, moat_cmd_rollback, "",
    "make the previous deployment the default (or the running one, over a pending one)" },
  { "cancel", 0, 0, FLAG_OS | FLAG_KEYS, moat_cmd_cancel, "", "drop the pending deployment" },
  { "boot-check", 0, 2, FLAG_JSON | FLAG_OS | FLAG_KEYS | FLAG_CONFIG | FLAG_REBOOT | FLAG_BOOTED,
    moat_cmd_boot_check, "[good | failed REASON]",
    "what this boot is (a trial of a new deployment?); moatd's verdict on a trial boot" },
  { "list", 0, 0, FLAG_JSON, moat_cmd_list, "", "installed sandboxes, their state and health" },
  { "start", 1, 1, FLAG_JSON, moat_cmd_start, "NAME", "start a sandbox and wait until it runs" },
  { "stop", 1, 1, FLAG_JSON, moat_cmd_stop, "NAME",
    "stop a sandbox (SIGTERM, then SIGKILL after its StopTimeout)" },
  { "restart", 1, 1, FLAG_JSON, moat_cmd_restart, "NAME",
    "stop a sandbox if it runs, then start it" },
  { "logs", 1, 1, FLAG_FOLLOW, moat_cmd_logs, "NAME", "a sandbox's output; -f to follow" },
  { "install", 1, 1,
    FLAG_JSON | FLAG_BUNDLE | FLAG_KEYS | FLAG_DOWNGRADE | FLAG_REMOTE | FLAG_CONFIG,
    moat_cmd_install, "FILE.moatb|NAME",
    "verify and install (or update) a signed bundle, then run it" },
  { "remove", 1, 1, FLAG_JSON | FLAG_BUNDLE | FLAG_KEYS | FLAG_PURGE, moat_cmd_remove, "NAME",
    "stop and remove a sandbox; its data is kept unless --purge" },
  { "bundle-rollback", 1, 1, FLAG_JSON | FLAG_BUNDLE | FLAG_KEYS, moat_cmd_bundle_rollback, "NAME",
    "go back to the sandbox's previous bundle commit" },
  { "remote", 1, -1, FLAG_SUBVERBS, moat_cmd_remote, "SUBVERB ...",
    "WireGuard access to the hub: enable, add-peer, remove-peer, show, disable" },
};

static void
usage (FILE *out)
{
  fprintf (out, "Usage: moat [--run-dir DIR] VERB [OPTIONS] [ARGS]\n\nVerbs:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      g_autofree char *call = g_strdup_printf ("%s %s", verbs[i].name, verbs[i].args_help);
      fprintf (out, "  %-20s %s\n", call, verbs[i].summary);
    }
  fprintf (out, "\nOptions:\n"
                "  --run-dir DIR        where moatd's socket is [/run/moat]\n"
                "  --log-dir DIR        sandbox logs when no journal runs [/var/log/moat]\n"
                "  --state-dir DIR      installed sandboxes [/var/lib/moat]\n"
                "  --keys-dir DIR       trusted keys [/etc/moat/keys/bundles.d for bundles,\n"
                "                       /etc/moat/keys/os.d for the OS]\n"
                "  --sysroot DIR        the OSTree sysroot the OS verbs act on [/]\n"
                "  --check              upgrade: only say whether one is available (77: none)\n"
                "  --reboot             upgrade, deploy, rollback: reboot into it;\n"
                "                       boot-check failed: reboot for the next attempt\n"
                "  --booted ID          boot-check on an offline --sysroot: act as if deployment\n"
                "                       ID (CHECKSUM.SERIAL) were booted\n"
                "  --config FILE        settings [/etc/moat/moat.conf]\n"
                "  --remote URL         bundle repo for install NAME [moat.conf: Remote=]\n"
                "  --allow-downgrade    install, deploy: accept an older version than runs\n"
                "  --purge              remove: drop the sandbox's data too\n"
                "  -q, --quiet          no progress lines\n"
                "  --json               machine-readable output (listing verbs)\n"
                "  -h, --help           this help, or a verb's with VERB --help\n"
                "  completion bash      print a bash completion script\n"
                "\nExit status: 0 done, 1 failed, 2 usage error, 77 nothing to do.\n");
}

static void
verb_usage (FILE *out, const Verb *verb)
{
  fprintf (out, "Usage: moat %s%s%s%s%s %s\n\n%s\n", verb->name,
           verb->flags & FLAG_JSON     ? " [--json]"
           : verb->flags & FLAG_FOLLOW ? " [-f]"
                                       : "",
           verb->flags & FLAG_BUNDLE ? " [-q] [--state-dir DIR] [--keys-dir DIR]"
           : verb->flags & FLAG_OS   ? " [-q] [--sysroot DIR] [--keys-dir DIR]"
                                     : "",
           verb->flags & FLAG_CHECK       ? " [--check] [--reboot]"
           : verb->flags & FLAG_DOWNGRADE ? " [--allow-downgrade]"
           : verb->flags & FLAG_REBOOT    ? " [--reboot]"
                                          : "",
           verb->flags & FLAG_REMOTE   ? " [--remote URL] [--config FILE]"
           : verb->flags & FLAG_PURGE  ? " [--purge]"
           : verb->flags & FLAG_BOOTED ? " [--booted CHECKSUM.SERIAL] [--config FILE]"
           : verb->flags & FLAG_CONFIG ? " [--config FILE]"
                                       : "",
           verb->args_help, verb->summary);
}

static int
completion (void)
{
  g_autofree char *remote_subverbs = moat_cmd_remote_subverbs ();
  printf ("_moat() {\n  local verbs=\"");
  for (gsize i = 0; i < G_N_ELEMENTS (verbs); i++)
    printf ("%s%s", i ? " " : "", verbs[i].name);
  printf ("\"\n  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
          "    mapfile -t COMPREPLY < <(compgen -W \"$verbs\" -- \"${COMP_WORDS[1]}\")\n"
          "  elif [ \"$COMP_CWORD\" -eq 2 ] && [ \"${COMP_WORDS[1]}\" = remote ]; then\n"
          "    mapfile -t COMPREPLY < <(compgen -W \"%s\" -- \"${COMP_WORDS[2]}\")\n",
          remote_subverbs);
  printf ("  else\n"
          "    mapfile -t COMPREPLY < <(compgen -W \"$(moat list --json 2>/dev/null"
          " | grep -o '\"name\":\"[^\"]*\"' | cut -d'\"' -f4)\" -- \"${COMP_WORDS[COMP_CWORD]}\")\n"
          "  fi\n}\ncomplete -F _moat moat\n");
  return MOAT_EXIT_OK;
}

/* Take "--opt VALUE" or "--opt=VALUE" at argv[*i]; returns the value or NULL. */
static const char *
option_value (int argc, char **argv, int *i, const char *option)
{
  gsize len = strlen (option);
  if (strncmp (argv[*i], option, len) != 0)
    return NULL;
  if (argv[*i][len] == '=')
    return argv[*i] + len + 1;
  if (argv[*i][len] == '\0' && *i + 1 < argc)
    return argv[++*i];
  return NULL;
}

/* libostree prints notes ("Freed objects: ...") with g_print: stdout is for results. */
static void
print_to_stderr (const char *text)
{
  fputs (text, stderr);
}

int
main (int argc, char **argv)
{
  g_set_print_handler (print_to_stderr);
  MoatCli cli = {
    .run_dir = "/run/moat",
    .log_dir = "/var/log/moat",
    .state_dir = "/var/lib/moat",
    .keys_dir = "/etc/moat/keys/bundles.d",
    .config = "/etc/moat/moat.conf",
    .sysroot = "/",
  };
  unsigned used = 0; /* FLAG_* of the options given, checked against the verb's */
  const Verb *verb = NULL;
  gboolean help = FALSE;
  g_autoptr (GPtrArray) args = g_ptr_array_new ();

  for (int i = 1; i < argc; i++)
    {
      const char *value;
      if ((value = option_value (argc, argv, &i, "--run-dir")) != NULL)
        cli.run_dir = value;
      else if ((value = option_value (argc, argv, &i, "--log-dir")) != NULL)
        cli.log_dir = value;
      else if ((value = option_value (argc, argv, &i, "--state-dir")) != NULL)
        cli.state_dir = value, used |= FLAG_BUNDLE;
      else if ((value = option_value (argc, argv, &i, "--keys-dir")) != NULL)
        cli.keys_dir = value, cli.keys_dir_given = TRUE, used |= FLAG_KEYS;
      else if ((value = option_value (argc, argv, &i, "--sysroot")) != NULL)
        cli.sysroot = value, cli.sysroot_given = TRUE, used |= FLAG_OS;
      else if ((value = option_value (argc, argv, &i, "--booted")) != NULL)
        cli.booted = value, used |= FLAG_BOOTED;
      else if (strcmp (argv[i], "--check") == 0)
        cli.check = TRUE, used |= FLAG_CHECK;
      else if (strcmp (argv[i], "--reboot") == 0)
        cli.reboot = TRUE, used |= FLAG_REBOOT;
      else if ((value = option_value (argc, argv, &i, "--config")) != NULL)
        cli.config = value, used |= FLAG_CONFIG;
      else if ((value = option_value (argc, argv, &i, "--remote")) != NULL)
        cli.remote = value, used |= FLAG_REMOTE;
      else if (strcmp (argv[i], "--allow-downgrade") == 0)
        cli.allow_downgrade = TRUE, used |= FLAG_DOWNGRADE;
      else if (strcmp (argv[i], "--purge") == 0)
        cli.purge = TRUE, used |= FLAG_PURGE;
      else if (strcmp (argv[i], "-q") == 0 || strcmp (argv[i], "--quiet") == 0)
        cli.quiet = TRUE, used |= FLAG_KEYS;
      else if (strcmp (argv[i], "--json") == 0)
        cli.json = TRUE;
      else if (strcmp (argv[i], "-f") == 0 || strcmp (argv[i], "--follow") == 0)
        cli.follow = TRUE;
      else if (strcmp (argv[i], "-h") == 0 || strcmp (argv[i], "--help") == 0)
        help = TRUE;
      else if (argv[i][0] == '-' && argv[i][1] != '\0')
        {
          fprintf (stderr, "moat: unknown option '%s' (see moat --help)\n", argv[i]);
          return MOAT_EXIT_USAGE;
        }
      else if (verb == NULL && args->len == 0 && strcmp (argv[i], "completion") == 0)
        return completion ();
      else if (verb == NULL)
        {
          for (gsize v = 0; v < G_N_ELEMENTS (verbs) && verb == NULL; v++)
            if (strcmp (argv[i], verbs[v].name) == 0)
              verb = &verbs[v];
          if (verb == NULL)
            {
              fprintf (stderr, "moat: unknown verb '%s' (see moat --help)\n", argv[i]);
              return MOAT_EXIT_USAGE;
            }
          if (verb->flags & FLAG_SUBVERBS)
            {
              if (help)
                g_ptr_array_add (args, "--help");
              for (i++; i < argc; i++)
                g_ptr_array_add (args, argv[i]);
            }
        }
      else
        g_ptr_array_add (args, argv[i]);
    }

  if (verb == NULL)
    {
      usage (help ? stdout : stderr);
      return help ? MOAT_EXIT_OK : MOAT_EXIT_USAGE;
    }
  if (help && !(verb->flags & FLAG_SUBVERBS))
    {
      verb_usage (stdout, verb);
      return MOAT_EXIT_OK;
    }
  if ((cli.json && !(verb->flags & (FLAG_JSON | FLAG_SUBVERBS)))
      || (cli.follow && !(verb->flags & FLAG_FOLLOW)) || (used & ~verb->flags) != 0)
    {
      fprintf (stderr, "moat %s: option not supported here\n", verb->name);
      verb_usage (stderr, verb);
      return MOAT_EXIT_USAGE;
    }
  if (!(verb->flags & FLAG_SUBVERBS)
      && ((int)args->len < verb->min_args || (int)args->len > verb->max_args))
    {
      fprintf (stderr, "moat %s: expected %s\n", verb->name,
               verb->max_args == 0 ? "no arguments" : verb->args_help);
      verb_usage (stderr, verb);
      return MOAT_EXIT_USAGE;
    }
  g_ptr_array_add (args, NULL);
  cli.args = (char **)args->pdata;
  return verb->function (&cli);
}

MoatJsonValue *
moat_cli_call (MoatCli *cli, const char *verb, const char *const *args, char **ret_reply,
               char **ret_code, GError **error)
{
  g_autofree char *socket_path = g_build_filename (cli->run_dir, "moatd.sock", NULL);
  g_autofree char *reply = moat_proto_call (socket_path, verb, args, error);
  if (reply == NULL)
    return NULL;
  g_autoptr (MoatJsonValue) root = moat_jv_parse (reply, strlen (reply), error);
  if (root == NULL)
    return NULL;
  if (moat_jv_type (root) != MOAT_JV_OBJECT)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "moatd sent no JSON object"), NULL;
  const MoatJsonValue *err = moat_jv_member (root, "error");
  if (moat_jv_type (err) == MOAT_JV_OBJECT)
    {
      if (ret_code != NULL)
        *ret_code = g_strdup (moat_jv_member_string (err, "code", "failed"));
      g_set_error_literal (error, MOAT_ERROR, MOAT_ERROR_FAILED,
                           moat_jv_member_string (err, "message", "?"));
      return NULL;
    }
  if (ret_reply != NULL)
    *ret_reply = g_steal_pointer (&reply);
  return g_steal_pointer (&root);
}

static void
newline (guint depth)
{
  putchar ('\n');
  for (guint i = 0; i < depth; i++)
    fputs ("  ", stdout);
}

/* Copy the string whose opening quote is at P, escapes as they are; returns its last byte. */
static const char *
put_string (const char *p)
{
  putchar (*p++);
  for (; *p != '\0' && *p != '"'; p++)
    {
      if (*p == '\\' && p[1] != '\0')
        putchar (*p++);
      putchar (*p);
    }
  if (*p == '\0')
    return p - 1;
  putchar (*p);
  return p;
}

/* Lay TEXT out as json-glib's pretty generator did before the CLI stopped linking it, so that
 * --json output keeps its shape: two spaces a level, "key" : value, [] for an empty array and,
 * as json-glib had it, an empty object's braces a level's indent apart. Strings and numbers are
 * copied as moatd wrote them. */
void
moat_cli_print_json (const char *text)
{
  guint depth = 0;
  for (const char *p = text; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"':
          p = put_string (p);
          break;
        case '{':
        case '[':
          {
            const char *next = p + 1 + strspn (p + 1, " \t\r\n");
            putchar (*p);
            if (*next == (*p == '{' ? '}' : ']'))
              {
                for (guint i = 0; *p == '{' && i < depth; i++)
                  fputs ("  ", stdout);
                putchar (*next);
                p = next;
              }
            else
              newline (++depth);
            break;
          }
        case '}':
        case ']':
          newline (depth > 0 ? --depth : 0);
          putchar (*p);
          break;
        case ',':
          putchar (',');
          newline (depth);
          break;
        case ':':
          fputs (" : ", stdout);
          break;
        case ' ':
        case '\t':
        case '\r':
        case '\n':
          break;
        default:
          putchar (*p);
        }
    }
  putchar ('\n');
}

gboolean
moat_cli_bundle_remote (MoatCli *cli, char **ret_url, char **ret_branch, GError **error)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;
  if (!g_key_file_load_from_file (config, cli->config, G_KEY_FILE_NONE, &local_error)
      && !g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s: %s", cli->config,
                        local_error->message),
           FALSE;
  g_autofree char *url = g_key_file_get_string (config, "Bundles", "Remote", NULL);
  g_autofree char *branch = g_key_file_get_string (config, "Bundles", "Branch", NULL);
  if (cli->remote != NULL)
    {
      g_free (url);
      url = g_strdup (cli->remote);
    }
  if (url == NULL)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "no bundle remote: set Remote= under [Bundles] in %s, or give --remote "
                        "URL (or install a FILE.moatb)",
                        cli->config),
           FALSE;
  *ret_url = g_steal_pointer (&url);
  *ret_branch = branch != NULL ? g_steal_pointer (&branch) : g_strdup ("stable");
  return TRUE;
}

int
moat_cli_fail_unless (const GError *error, int nothing)
{
  fprintf (stderr, "moat: %s\n", error->message);
  return g_error_matches (error, MOAT_ERROR, nothing) ? MOAT_EXIT_NOTHING_TO_DO : MOAT_EXIT_FAILED;
}

int
moat_cli_fail (const GError *error, const char *code)
{
  fprintf (stderr, "moat: %s\n", error->message);
  if (g_strcmp0 (code, "exists") == 0 || g_strcmp0 (code, "not-running") == 0)
    return MOAT_EXIT_NOTHING_TO_DO;
  if (g_strcmp0 (code, "invalid") == 0)
    return MOAT_EXIT_USAGE;
  return MOAT_EXIT_FAILED;
}
