/* moat remote: WireGuard access to the hub. Its own small table of sub-verbs and options,
 * which is also where `moat remote --help` and completion come from. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "moat-error.h"
#include "moat.h"
#include "remote.h"
#include "tool.h"

#define QRENCODE_PATH "/usr/bin/qrencode"

enum
{
  OPT_PORT = 1 << 0,
  OPT_ADDRESS = 1 << 1,
  OPT_INTERFACE = 1 << 2,
  OPT_ALLOW = 1 << 3,
  OPT_ENDPOINT = 1 << 4,
  OPT_JSON = 1 << 5,
  OPT_QR = 1 << 6,
};

typedef struct
{
  const char *config_dir;
  guint port;
  const char *address;
  const char *interface;
  const char *endpoint;
  GPtrArray *allow; /* NULL unless --allow or --allow-none was given */
  gboolean json;
  gboolean qr;
  unsigned given;  /* OPT_* seen */
  GPtrArray *args; /* positional arguments after the sub-verb */
} Call;

typedef struct
{
  const char *name;
  int min_args;
  int max_args;
  unsigned options;
  int (*function) (Call *call);
  const char *args_help;
  const char *summary;
} SubVerb;

static int remote_enable (Call *call);
static int remote_add_peer (Call *call);
static int remote_remove_peer (Call *call);
static int remote_show (Call *call);
static int remote_disable (Call *call);

static const SubVerb subverbs[] = {
  { "enable", 0, 0, OPT_PORT | OPT_ADDRESS | OPT_INTERFACE | OPT_ALLOW, remote_enable,
    "[--port N] [--address CIDR] [--interface NAME] [--allow PORT/tcp|udp]... [--allow-none]",
    "make the hub's key pair (once), bring up the interface and its firewall" },
  { "add-peer", 1, 1, OPT_ENDPOINT | OPT_QR, remote_add_peer, "NAME [--endpoint HOST:PORT] [--qr]",
    "give a new peer a key pair and an address; print its client config" },
  { "remove-peer", 1, 1, 0, remote_remove_peer, "NAME",
    "take a peer off the interface and forget it" },
  { "show", 0, 0, OPT_JSON, remote_show, "[--json]",
    "interface, backend, public key, peers with handshake and transfer" },
  { "disable", 0, 0, 0, remote_disable, "", "take the interface and firewall down; keep keys" },
};

char *
moat_cmd_remote_subverbs (void)
{
  GString *names = g_string_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (subverbs); i++)
    g_string_append_printf (names, "%s%s", i ? " " : "", subverbs[i].name);
  return g_string_free (names, FALSE);
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: moat remote [--config-dir DIR] SUBVERB [OPTIONS] [ARGS]\n\n"
                "WireGuard access to the hub from outside.\n\nSub-verbs:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (subverbs); i++)
    fprintf (out, "  %s%s%s\n      %s\n", subverbs[i].name, subverbs[i].args_help[0] ? " " : "",
             subverbs[i].args_help, subverbs[i].summary);
  fprintf (out, "\nOptions:\n"
                "  --config-dir DIR     keys, settings and peers [" MOAT_REMOTE_CONFIG_DIR "]\n"
                "\nSee docs/remote.md.\n");
}

static int
fail (const GError *error)
{
  fprintf (stderr, "moat remote: %s\n", error->message);
  if (g_error_matches (error, MOAT_ERROR, MOAT_ERROR_INVALID))
    return MOAT_EXIT_USAGE;
  if (g_error_matches (error, MOAT_ERROR, MOAT_ERROR_NOT_RUNNING))
    return MOAT_EXIT_NOTHING_TO_DO;
  return MOAT_EXIT_FAILED;
}

static int
remote_enable (Call *call)
{
  g_autoptr (GError) error = NULL;
  if (call->allow != NULL)
    g_ptr_array_add (call->allow, NULL);
  MoatRemoteOptions options = {
    .interface = call->interface,
    .port = call->port,
    .address = call->address,
    .allow = call->allow ? (const char *const *)call->allow->pdata : NULL,
  };
  if (!moat_remote_enable (call->config_dir, &options, &error))
    return fail (error);
  g_autoptr (MoatRemoteStatus) status = moat_remote_status (call->config_dir, &error);
  if (status == NULL)
    return fail (error);
  printf ("remote access enabled: %s (%s), %s, UDP port %u\npublic key: %s\n", status->interface,
          status->backend ? status->backend : "down", status->address, status->port,
          status->public_key);
  return MOAT_EXIT_OK;
}

/* write(2) straight from the secret's memory: stdio would keep a copy in its buffer. */
static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0)
        return FALSE;
      data += n;
      len -= (gsize)n;
    }
  return TRUE;
}

/* qrencode reads the config on stdin; its picture is wiped once written. */
static gboolean
print_qr (const MoatSecretText *config, GError **error)
{
  const char *const argv[] = { QRENCODE_PATH, "-t", "ansiutf8", NULL };
  g_autoptr (GString) picture = g_string_sized_new (64 * 1024);
  gboolean ok = moat_tool_run (argv, NULL, config, strlen (config), picture, error)
                && write_all (STDOUT_FILENO, "\n", 1)
                && write_all (STDOUT_FILENO, picture->str, picture->len);
  explicit_bzero (picture->str, picture->allocated_len);
  return ok;
}

static int
remote_add_peer (Call *call)
{
  g_autoptr (GError) error = NULL;
  const char *name = call->args->pdata[0];
  g_autoptr (MoatSecretText) config
      = moat_remote_add_peer (call->config_dir, name, call->endpoint, &error);
  if (config == NULL)
    return fail (error);
  fflush (stdout);
  if (!write_all (STDOUT_FILENO, config, strlen (config)))
    {
      fprintf (stderr, "moat remote: write the client config: %s\n", g_strerror (errno));
      return MOAT_EXIT_FAILED;
    }
  gboolean want_qr = call->qr || isatty (STDOUT_FILENO);
  if (want_qr && access (QRENCODE_PATH, X_OK) == 0)
    {
      if (!print_qr (config, &error))
        fprintf (stderr, "moat remote: no QR code: %s\n", error->message);
    }
  else if (call->qr)
    fprintf (stderr, "moat remote: no QR code: %s is not installed\n", QRENCODE_PATH);
  fprintf (stderr, "peer '%s' added; its private key is in this config only\n", name);
  return MOAT_EXIT_OK;
}

static int
remote_remove_peer (Call *call)
{
  g_autoptr (GError) error = NULL;
  if (!moat_remote_remove_peer (call->config_dir, call->args->pdata[0], &error))
    return fail (error);
  printf ("peer '%s' removed\n", (const char *)call->args->pdata[0]);
  return MOAT_EXIT_OK;
}

static int
remote_disable (Call *call)
{
  g_autoptr (GError) error = NULL;
  if (!moat_remote_disable (call->config_dir, &error))
    return fail (error);
  printf ("remote access disabled (keys and peers kept)\n");
  return MOAT_EXIT_OK;
}

static char *
status_json (const MoatRemoteStatus *status)
{
  g_autoptr (MoatJson) json = moat_json_new ();
  moat_json_begin_object (json);
  moat_json_kv_bool (json, "enabled", status->enabled);
  moat_json_kv_string (json, "interface", status->interface);
  moat_json_kv_bool (json, "up", status->backend != NULL);
  moat_json_kv_string (json, "backend", status->backend); /* null when down */
  moat_json_kv_string (json, "public_key", status->public_key);
  moat_json_kv_int (json, "listen_port", status->port);
  moat_json_kv_string (json, "address", status->address);
  moat_json_key (json, "allow");
  moat_json_strv (json, (const char *const *)status->allow);
  moat_json_key (json, "peers");
  moat_json_begin_array (json);
  for (guint i = 0; i < status->peers->len; i++)
    {
      const MoatRemotePeer *peer = status->peers->pdata[i];
      moat_json_begin_object (json);
      moat_json_kv_string (json, "name", peer->name);
      moat_json_kv_string (json, "public_key", peer->public_key);
      moat_json_kv_string (json, "address", peer->address);
      moat_json_kv_string (json, "endpoint", peer->endpoint); /* null when never seen */
      moat_json_kv_int (json, "latest_handshake", peer->latest_handshake);
      moat_json_kv_int (json, "rx_bytes", (gint64)peer->rx_bytes);
      moat_json_kv_int (json, "tx_bytes", (gint64)peer->tx_bytes);
      moat_json_end_object (json);
    }
  moat_json_end_array (json);
  moat_json_end_object (json);
  return moat_json_steal (g_steal_pointer (&json));
}

static char *
describe_handshake (gint64 when)
{
  if (when <= 0)
    return g_strdup ("never");
  gint64 ago = (gint64)time (NULL) - when;
  return g_strdup_printf ("%" G_GINT64_FORMAT " s ago", MAX (ago, 0));
}

static void
print_status (const MoatRemoteStatus *status)
{
  g_autofree char *allow = status->allow[0] ? g_strjoinv (" ", status->allow) : NULL;
  printf ("interface:  %s (%s)\n"
          "enabled:    %s\n"
          "public key: %s\n"
          "port:       %u/udp\n"
          "address:    %s\n"
          "peers may reach: ping%s%s\n",
          status->interface, status->backend ? status->backend : "down",
          status->enabled ? "yes" : "no", status->public_key, status->port, status->address,
          allow ? ", " : "", allow ? allow : "");
  for (guint i = 0; i < status->peers->len; i++)
    {
      const MoatRemotePeer *peer = status->peers->pdata[i];
      g_autofree char *handshake = describe_handshake (peer->latest_handshake);
      g_autofree char *rx = g_format_size (peer->rx_bytes);
      g_autofree char *tx = g_format_size (peer->tx_bytes);
      printf ("\npeer %s\n  public key: %s\n  address:    %s\n  endpoint:   %s\n"
              "  handshake:  %s\n  transfer:   %s received, %s sent\n",
              peer->name, peer->public_key, peer->address, peer->endpoint ? peer->endpoint : "-",
              handshake, rx, tx);
    }
}

static int
remote_show (Call *call)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatRemoteStatus) status = moat_remote_status (call->config_dir, &error);
  if (status == NULL)
    return fail (error);
  if (call->json)
    {
      g_autofree char *text = status_json (status);
      moat_cli_print_json (text);
    }
  else
    print_status (status);
  return MOAT_EXIT_OK;
}

/* Take "--opt VALUE" or "--opt=VALUE" at ARGS[*i]; returns the value or NULL. */
static const char *
option_value (char **args, guint *i, const char *option)
{
  gsize len = strlen (option);
  if (strncmp (args[*i], option, len) != 0)
    return NULL;
  if (args[*i][len] == '=')
    return args[*i] + len + 1;
  if (args[*i][len] == '\0' && args[*i + 1] != NULL)
    return args[++*i];
  return NULL;
}

/* Parse ARGS into CALL; returns -1 to go on, else an exit code. */
static int
parse (char **args, Call *call, const SubVerb **ret_subverb)
{
  const SubVerb *subverb = NULL;
  for (guint i = 0; args[i] != NULL; i++)
    {
      const char *value;
      guint64 number;
      if ((value = option_value (args, &i, "--config-dir")) != NULL)
        call->config_dir = value;
      else if ((value = option_value (args, &i, "--port")) != NULL)
        {
          if (!g_ascii_string_to_unsigned (value, 10, 1, 65535, &number, NULL))
            {
              fprintf (stderr, "moat remote: --port '%s': 1-65535 is needed\n", value);
              return MOAT_EXIT_USAGE;
            }
          call->port = (guint)number;
          call->given |= OPT_PORT;
        }
      else if ((value = option_value (args, &i, "--address")) != NULL)
        call->address = value, call->given |= OPT_ADDRESS;
      else if ((value = option_value (args, &i, "--interface")) != NULL)
        call->interface = value, call->given |= OPT_INTERFACE;
      else if ((value = option_value (args, &i, "--endpoint")) != NULL)
        call->endpoint = value, call->given |= OPT_ENDPOINT;
      else if ((value = option_value (args, &i, "--allow")) != NULL
               || strcmp (args[i], "--allow-none") == 0)
        {
          if (call->allow == NULL)
            call->allow = g_ptr_array_new ();
          if (value != NULL)
            g_ptr_array_add (call->allow, (gpointer)value);
          call->given |= OPT_ALLOW;
        }
      else if (strcmp (args[i], "--json") == 0)
        call->json = TRUE, call->given |= OPT_JSON;
      else if (strcmp (args[i], "--qr") == 0)
        call->qr = TRUE, call->given |= OPT_QR;
      else if (strcmp (args[i], "-h") == 0 || strcmp (args[i], "--help") == 0)
        {
          usage (stdout);
          return MOAT_EXIT_OK;
        }
      else if (args[i][0] == '-' && args[i][1] != '\0')
        {
          fprintf (stderr,
                   "moat remote: unknown option '%s', or it needs a value "
                   "(see moat remote --help)\n",
                   args[i]);
          return MOAT_EXIT_USAGE;
        }
      else if (subverb == NULL)
        {
          for (gsize s = 0; s < G_N_ELEMENTS (subverbs) && subverb == NULL; s++)
            if (strcmp (args[i], subverbs[s].name) == 0)
              subverb = &subverbs[s];
          if (subverb == NULL)
            {
              fprintf (stderr, "moat remote: unknown sub-verb '%s' (see moat remote --help)\n",
                       args[i]);
              return MOAT_EXIT_USAGE;
            }
        }
      else
        g_ptr_array_add (call->args, args[i]);
    }
  if (subverb == NULL)
    {
      usage (stderr);
      return MOAT_EXIT_USAGE;
    }
  if ((call->given & ~subverb->options) != 0 || (int)call->args->len < subverb->min_args
      || (int)call->args->len > subverb->max_args)
    {
      fprintf (stderr, "Usage: moat remote %s %s\n\n%s\n", subverb->name, subverb->args_help,
               subverb->summary);
      return MOAT_EXIT_USAGE;
    }
  *ret_subverb = subverb;
  return -1;
}

int
moat_cmd_remote (MoatCli *cli)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autoptr (GPtrArray) allow = NULL;
  Call call = { .config_dir = MOAT_REMOTE_CONFIG_DIR, .json = cli->json, .args = args };
  if (cli->json)
    call.given |= OPT_JSON;
  const SubVerb *subverb = NULL;
  int code = parse (cli->args, &call, &subverb);
  allow = call.allow;
  if (code >= 0)
    return code;
  return subverb->function (&call);
}
