/* Remote access over WireGuard (remote.h). Privileged, and fed by the command line: every
 * value that reaches a tool or a file (interface name, port, address, peer name, endpoint) is
 * checked against a strict pattern first, tools get argv (never a shell), and the hub's private
 * key is written once, 0600, and handed to `wg` only as a path. */
#include "remote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "moat-error.h"
#include "proc.h"
#include "tool.h"

#define IP_PATH "/usr/sbin/ip"
#define WG_PATH "/usr/bin/wg"
#define NFT_PATH "/usr/sbin/nft"
#define WIREGUARD_GO_PATH "/usr/bin/wireguard-go"
#define IFNAME_MAX 15
#define GROUP "Remote"

/* The settings in remote.conf. */
typedef struct
{
  gboolean enabled;
  char *interface;
  guint port;
  char *address; /* CIDR */
  char **allow;
} Settings;

static void
settings_clear (Settings *settings)
{
  g_clear_pointer (&settings->interface, g_free);
  g_clear_pointer (&settings->address, g_free);
  g_clear_pointer (&settings->allow, g_strfreev);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Settings, settings_clear)

static void
peer_free (MoatRemotePeer *peer)
{
  g_free (peer->name);
  g_free (peer->public_key);
  g_free (peer->address);
  g_free (peer->endpoint);
  g_free (peer);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatRemotePeer, peer_free)

void
moat_remote_status_free (MoatRemoteStatus *status)
{
  if (status == NULL)
    return;
  g_free (status->interface);
  g_free (status->public_key);
  g_free (status->address);
  g_strfreev (status->allow);
  if (status->peers != NULL)
    g_ptr_array_unref (status->peers);
  g_free (status);
}

/* ---- checks on what comes from the command line and the config dir ---- */

static gboolean
check_interface (const char *name, GError **error)
{
  if (!moat_name_is_valid (name) || strlen (name) > IFNAME_MAX)
    return moat_error_invalid (
        error, "interface '%s': a name of a-z, 0-9 and '-', at most %d characters, is needed", name,
        IFNAME_MAX);
  return TRUE;
}

/* "a.b.c.d/N" with N in 8-30 and a host part that is neither all zeros nor all ones. */
static gboolean
parse_cidr (const char *text, guint32 *ret_address, guint *ret_prefix, GError **error)
{
  const char *slash = strchr (text, '/');
  guint64 prefix = 0;
  struct in_addr in;
  g_autofree char *host = slash ? g_strndup (text, (gsize)(slash - text)) : NULL;
  if (host == NULL || inet_pton (AF_INET, host, &in) != 1
      || !g_ascii_string_to_unsigned (slash + 1, 10, 8, 30, &prefix, NULL))
    return moat_error_invalid (error,
                               "address '%s': an IPv4 address with a prefix of 8 to 30 is needed "
                               "(e.g. 10.90.0.1/24)",
                               text);
  guint32 address = ntohl (in.s_addr);
  guint32 host_mask = (1u << (32 - prefix)) - 1;
  if ((address & host_mask) == 0 || (address & host_mask) == host_mask)
    return moat_error_invalid (error, "address '%s' is its subnet's network or broadcast address",
                               text);
  *ret_address = address;
  *ret_prefix = (guint)prefix;
  return TRUE;
}

static char *
dotted (guint32 address)
{
  struct in_addr in = { .s_addr = htonl (address) };
  char text[INET_ADDRSTRLEN];
  inet_ntop (AF_INET, &in, text, sizeof text);
  return g_strdup (text);
}

/* "PORT/tcp" or "PORT/udp" */
static gboolean
parse_allow (const char *text, guint *ret_port, const char **ret_protocol, GError **error)
{
  const char *slash = strchr (text, '/');
  guint64 port = 0;
  g_autofree char *number = slash ? g_strndup (text, (gsize)(slash - text)) : NULL;
  if (number == NULL || !g_ascii_string_to_unsigned (number, 10, 1, 65535, &port, NULL)
      || (strcmp (slash + 1, "tcp") != 0 && strcmp (slash + 1, "udp") != 0))
    return moat_error_invalid (error, "allow '%s': PORT/tcp or PORT/udp is needed, PORT 1-65535",
                               text);
  *ret_port = (guint)port;
  *ret_protocol = strcmp (slash + 1, "tcp") == 0 ? "tcp" : "udp";
  return TRUE;
}

/* HOST:PORT or [IPV6]:PORT; HOST a name or address. It goes into a config file line, so
 * nothing else may be in it. */
static gboolean
check_endpoint (const char *endpoint, GError **error)
{
  const char *colon = strrchr (endpoint, ':');
  guint64 port;
  gboolean ok = colon != NULL && colon != endpoint && strlen (endpoint) <= 255
                && g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL);
  gboolean bracketed = ok && endpoint[0] == '[';
  if (ok && bracketed)
    ok = colon[-1] == ']' && colon - endpoint > 2;
  for (const char *c = endpoint + (bracketed ? 1 : 0); ok && c < colon - (bracketed ? 1 : 0); c++)
    ok = g_ascii_isalnum (*c) || *c == '.' || *c == '-' || (bracketed && *c == ':');
  if (!ok)
    return moat_error_invalid (error,
                               "endpoint '%s': HOST:PORT is needed (a name, an IPv4 address or "
                               "[an IPv6 address], and a port 1-65535)",
                               endpoint);
  return TRUE;
}

static gboolean
check_peer_name (const char *name, GError **error)
{
  if (!moat_name_is_valid (name))
    return moat_error_invalid (
        error,
        "peer name '%s': a-z, 0-9 and '-' only, 1-32 characters, not starting or "
        "ending with '-'",
        name);
  return TRUE;
}

/* ---- files in the config dir ---- */

static char *
config_path (const char *config_dir, const char *name)
{
  return g_build_filename (config_dir, name, NULL);
}

static char *
peer_path (const char *config_dir, const char *name)
{
  g_autofree char *file = g_strconcat (name, ".conf", NULL);
  return g_build_filename (config_dir, "peers", file, NULL);
}

static gboolean
load_settings (const char *config_dir, Settings *ret, GError **error)
{
  g_autofree char *path = config_path (config_dir, "remote.conf");
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND,
                     "remote access is not set up (%s is missing; run moat remote enable)", path);
      else
        g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "%s: %s", path, local_error->message);
      return FALSE;
    }
  g_auto (Settings) settings = { 0 };
  settings.enabled = g_key_file_get_boolean (file, GROUP, "Enabled", NULL);
  settings.interface = g_key_file_get_string (file, GROUP, "Interface", NULL);
  settings.port = (guint)g_key_file_get_integer (file, GROUP, "ListenPort", NULL);
  settings.address = g_key_file_get_string (file, GROUP, "Address", NULL);
  settings.allow = g_key_file_get_string_list (file, GROUP, "Allow", NULL, NULL);
  if (settings.allow == NULL)
    settings.allow = g_new0 (char *, 1);

  /* The file is root's, but a hand edit must still not reach a tool unchecked. */
  guint32 address;
  guint prefix, port;
  const char *protocol;
  if (settings.interface == NULL || settings.address == NULL || settings.port < 1
      || settings.port > 65535)
    return moat_error_invalid (error, "%s: Interface, ListenPort (1-65535) and Address are needed",
                               path);
  if (!check_interface (settings.interface, error)
      || !parse_cidr (settings.address, &address, &prefix, error))
    return g_prefix_error (error, "%s: ", path), FALSE;
  for (char **a = settings.allow; *a != NULL; a++)
    if (!parse_allow (*a, &port, &protocol, error))
      return g_prefix_error (error, "%s: ", path), FALSE;
  *ret = settings;
  memset (&settings, 0, sizeof settings);
  return TRUE;
}

static gboolean
save_settings (const char *config_dir, const Settings *settings, GError **error)
{
  g_autofree char *path = config_path (config_dir, "remote.conf");
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_key_file_set_boolean (file, GROUP, "Enabled", settings->enabled);
  g_key_file_set_string (file, GROUP, "Interface", settings->interface);
  g_key_file_set_integer (file, GROUP, "ListenPort", (gint)settings->port);
  g_key_file_set_string (file, GROUP, "Address", settings->address);
  g_key_file_set_string_list (file, GROUP, "Allow", (const char *const *)settings->allow,
                              g_strv_length (settings->allow));
  gsize len;
  g_autofree char *data = g_key_file_to_data (file, &len, NULL);
  g_autoptr (GError) local_error = NULL;
  if (!g_file_set_contents_full (path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                 &local_error))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "%s", local_error->message);
      return FALSE;
    }
  return TRUE;
}

static char *
read_public_key (const char *config_dir, GError **error)
{
  g_autofree char *path = config_path (config_dir, "public.key");
  g_autofree char *text = NULL;
  guint8 key[MOAT_WG_KEY_LEN];
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return moat_error_errno (error, ENOENT, "read", path), NULL;
  if (!moat_wg_key_from_base64 (text, key, error))
    return g_prefix_error (error, "%s: ", path), NULL;
  return g_strstrip (g_steal_pointer (&text));
}

/* The hub's key pair: made once, kept ever after. */
static gboolean
ensure_hub_key (const char *config_dir, GError **error)
{
  g_autofree char *private_path = config_path (config_dir, "private.key");
  g_autofree char *public_path = config_path (config_dir, "public.key");
  if (access (private_path, F_OK) == 0 && access (public_path, F_OK) == 0)
    return TRUE;
  if (access (private_path, F_OK) == 0)
    return moat_error_invalid (
        error,
        "%s is there but %s is not: restore it, or remove both to make a new "
        "key pair (every peer then needs a new config)",
        private_path, public_path);
  g_autoptr (MoatWgSecret) secret = moat_wg_secret_generate (error);
  char public_key[MOAT_WG_KEY_BASE64_LEN + 1];
  if (secret == NULL || !moat_wg_secret_public (secret, public_key, error))
    return FALSE;
  g_autofree char *public_line = g_strconcat (public_key, "\n", NULL);
  unlink (public_path);
  if (!moat_write_new_file (public_path, public_line, strlen (public_line), 0600, TRUE, error))
    return FALSE;
  /* The newline is written apart so that the key never sits in unguarded memory. */
  return moat_write_new_file (private_path, secret->base64, MOAT_WG_KEY_BASE64_LEN, 0600, TRUE,
                              error);
}

/* An exclusive lock on the config dir for as long as the returned fd is open. */
static int
lock_config (const char *config_dir, GError **error)
{
  g_autofree char *path = config_path (config_dir, ".lock");
  int fd = open (path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return moat_error_errno (error, errno, "open", path), -1;
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      {
        int errsv = errno;
        close (fd);
        return moat_error_errno (error, errsv, "lock", path), -1;
      }
  return fd;
}

static void
unlock_config (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

/* Lock the config dir and read the settings under the lock. Reading first, unlocked, turns a
 * config dir that was never set up into "not set up" rather than a failure to create the lock. */
static int
lock_and_load (const char *config_dir, Settings *settings, GError **error)
{
  if (!load_settings (config_dir, settings, error))
    return -1;
  settings_clear (settings);
  int fd = lock_config (config_dir, error);
  if (fd >= 0 && !load_settings (config_dir, settings, error))
    {
      close (fd);
      return -1;
    }
  return fd;
}

static MoatRemotePeer *
load_peer (const char *config_dir, const char *name, GError **error)
{
  g_autofree char *path = peer_path (config_dir, name);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "%s: %s", path, local_error->message);
      return NULL;
    }
  MoatRemotePeer *peer = g_new0 (MoatRemotePeer, 1);
  peer->name = g_strdup (name);
  peer->public_key = g_key_file_get_string (file, "Peer", "PublicKey", NULL);
  peer->address = g_key_file_get_string (file, "Peer", "Address", NULL);
  guint8 key[MOAT_WG_KEY_LEN];
  struct in_addr in;
  if (peer->public_key == NULL || !moat_wg_key_from_base64 (peer->public_key, key, NULL)
      || peer->address == NULL || inet_pton (AF_INET, peer->address, &in) != 1)
    {
      peer_free (peer);
      return moat_error_invalid (error, "%s: a PublicKey (base64) and an IPv4 Address are needed",
                                 path),
             NULL;
    }
  return peer;
}

static gint
compare_peers (gconstpointer a, gconstpointer b)
{
  const MoatRemotePeer *pa = *(MoatRemotePeer *const *)a;
  const MoatRemotePeer *pb = *(MoatRemotePeer *const *)b;
  return strcmp (pa->name, pb->name);
}

/* Every saved peer, by name. */
static GPtrArray *
load_peers (const char *config_dir, GError **error)
{
  g_autofree char *dir_path = config_path (config_dir, "peers");
  g_autoptr (GPtrArray) peers = g_ptr_array_new_with_free_func ((GDestroyNotify)peer_free);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, &local_error);
  if (dir == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&peers);
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "%s", local_error->message);
      return NULL;
    }
  const char *entry;
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      if (!g_str_has_suffix (entry, ".conf"))
        continue;
      g_autofree char *name = g_strndup (entry, strlen (entry) - strlen (".conf"));
      if (!moat_name_is_valid (name))
        continue;
      MoatRemotePeer *peer = load_peer (config_dir, name, error);
      if (peer == NULL)
        return NULL;
      g_ptr_array_add (peers, peer);
    }
  g_ptr_array_sort (peers, compare_peers);
  return g_steal_pointer (&peers);
}

/* ---- the interface ---- */

/* Run a tool with the given arguments, no input, output discarded. */
#define RUN(error, ...)                                                                            \
  moat_tool_run ((const char *const[]){ __VA_ARGS__, NULL }, NULL, NULL, 0, NULL, (error))

static gboolean
interface_exists (const char *interface)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", interface, NULL);
  return access (path, F_OK) == 0;
}

/* wireguard-go's interface is a tun device; the kernel's is not. */
static const char *
interface_backend (const char *interface)
{
  if (!interface_exists (interface))
    return NULL;
  g_autofree char *tun = g_build_filename ("/sys/class/net", interface, "tun_flags", NULL);
  return access (tun, F_OK) == 0 ? "wireguard-go" : "kernel";
}

/* Kernel WireGuard when the module is there (the image), else wireguard-go (hosts without it). */
static gboolean
create_interface (const char *interface, GError **error)
{
  g_autoptr (GError) kernel_error = NULL;
  if (RUN (&kernel_error, IP_PATH, "link", "add", "dev", interface, "type", "wireguard"))
    return TRUE;
  g_debug ("no kernel WireGuard (%s); trying wireguard-go", kernel_error->message);
  if (access (WIREGUARD_GO_PATH, X_OK) < 0)
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_UNSUPPORTED,
                   "no WireGuard here: the kernel has none (%s) and %s is not installed",
                   kernel_error->message, WIREGUARD_GO_PATH);
      return FALSE;
    }
  /* wireguard-go refuses to start on Linux without this; it forks its daemon and exits once
   * the interface and its control socket exist. */
  const char *const env[] = { "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1", NULL };
  const char *const argv[] = { WIREGUARD_GO_PATH, interface, NULL };
  return moat_tool_run (argv, env, NULL, 0, NULL, error);
}

/* Remove from the interface every peer that is not saved (a peer removed while it was down). */
static gboolean
drop_unknown_peers (const char *interface, GPtrArray *peers, GError **error)
{
  g_autoptr (GString) listed = g_string_new (NULL);
  const char *const argv[] = { WG_PATH, "show", interface, "peers", NULL };
  if (!moat_tool_run (argv, NULL, NULL, 0, listed, error))
    return FALSE;
  g_auto (GStrv) keys = g_strsplit (listed->str, "\n", -1);
  for (char **key = keys; *key != NULL; key++)
    {
      gboolean saved = **key == '\0';
      for (guint i = 0; i < peers->len && !saved; i++)
        saved = strcmp (((MoatRemotePeer *)peers->pdata[i])->public_key, *key) == 0;
      if (!saved && !RUN (error, WG_PATH, "set", interface, "peer", *key, "remove"))
        return FALSE;
    }
  return TRUE;
}

static gboolean
add_peer_to_interface (const char *interface, const MoatRemotePeer *peer, GError **error)
{
  g_autofree char *allowed = g_strconcat (peer->address, "/32", NULL);
  return RUN (error, WG_PATH, "set", interface, "peer", peer->public_key, "allowed-ips", allowed);
}

static gboolean
load_firewall (const char *ruleset, GError **error)
{
  const char *const argv[] = { NFT_PATH, "-f", "-", NULL };
  if (!moat_tool_run (argv, NULL, ruleset, strlen (ruleset), NULL, error))
    return g_prefix_error (error, "firewall: "), FALSE;
  return TRUE;
}

/* Bring the interface to what SETTINGS and the saved peers say; fine to repeat. */
static gboolean
bring_up (const char *config_dir, const Settings *settings, GError **error)
{
  const char *interface = settings->interface;
  g_autofree char *private_path = config_path (config_dir, "private.key");
  g_autofree char *port = g_strdup_printf ("%u", settings->port);
  g_autoptr (GPtrArray) peers = load_peers (config_dir, error);
  if (peers == NULL)
    return FALSE;
  if (!interface_exists (interface) && !create_interface (interface, error))
    return FALSE;
  if (!RUN (error, WG_PATH, "set", interface, "listen-port", port, "private-key", private_path)
      || !drop_unknown_peers (interface, peers, error))
    return FALSE;
  for (guint i = 0; i < peers->len; i++)
    if (!add_peer_to_interface (interface, peers->pdata[i], error))
      return FALSE;
  if (!RUN (error, IP_PATH, "address", "flush", "dev", interface)
      || !RUN (error, IP_PATH, "address", "add", settings->address, "dev", interface)
      || !RUN (error, IP_PATH, "link", "set", "dev", interface, "up"))
    return FALSE;
  g_autofree char *ruleset
      = moat_remote_nft_ruleset (interface, settings->port, (const char *const *)settings->allow);
  return load_firewall (ruleset, error);
}

char *
moat_remote_nft_ruleset (const char *interface, guint port, const char *const *allow)
{
  GString *rules = g_string_new (NULL);
  /* Declaring the table first makes the delete succeed on a first run: the whole file is one
   * transaction, so the old table is replaced atomically. */
  g_string_append_printf (rules,
                          "table inet %s {}\n"
                          "delete table inet %s\n"
                          "table inet %s {\n"
                          "  chain input {\n"
                          "    type filter hook input priority filter - 1; policy accept;\n"
                          "    udp dport %u accept\n"
                          "    iifname \"%s\" ct state established,related accept\n"
                          "    iifname \"%s\" icmp type echo-request accept\n",
                          MOAT_REMOTE_NFT_TABLE, MOAT_REMOTE_NFT_TABLE, MOAT_REMOTE_NFT_TABLE, port,
                          interface, interface);
  for (gsize i = 0; allow != NULL && allow[i] != NULL; i++)
    {
      guint allow_port;
      const char *protocol;
      if (parse_allow (allow[i], &allow_port, &protocol, NULL))
        g_string_append_printf (rules, "    iifname \"%s\" %s dport %u accept\n", interface,
                                protocol, allow_port);
    }
  g_string_append_printf (rules,
                          "    iifname \"%s\" counter drop\n"
                          "  }\n"
                          "  chain forward {\n"
                          "    type filter hook forward priority filter - 1; policy accept;\n"
                          "    iifname \"%s\" counter drop\n"
                          "    oifname \"%s\" counter drop\n"
                          "  }\n"
                          "}\n",
                          interface, interface, interface);
  return g_string_free (rules, FALSE);
}

static const char firewall_off[] = "table inet " MOAT_REMOTE_NFT_TABLE " {}\n"
                                   "delete table inet " MOAT_REMOTE_NFT_TABLE "\n";

/* ---- the verbs ---- */

static gboolean
make_config_dir (const char *config_dir, GError **error)
{
  g_autofree char *peers = config_path (config_dir, "peers");
  if (g_mkdir_with_parents (peers, 0700) < 0)
    return moat_error_errno (error, errno, "create", peers);
  if (chmod (config_dir, 0700) < 0)
    return moat_error_errno (error, errno, "chmod", config_dir);
  return TRUE;
}

/* Check every value in OPTIONS before anything is created or changed. */
static gboolean
check_options (const MoatRemoteOptions *options, GError **error)
{
  guint32 address;
  guint prefix, port;
  const char *protocol;
  if (options->interface != NULL && !check_interface (options->interface, error))
    return FALSE;
  if (options->port > 65535)
    return moat_error_invalid (error, "port %u: 1-65535 is needed", options->port);
  if (options->address != NULL && !parse_cidr (options->address, &address, &prefix, error))
    return FALSE;
  for (gsize i = 0; options->allow != NULL && options->allow[i] != NULL; i++)
    if (!parse_allow (options->allow[i], &port, &protocol, error))
      return FALSE;
  return TRUE;
}

static void
replace_string (char **field, const char *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

/* OPTIONS (checked) over SETTINGS. */
static void
apply_options (Settings *settings, const MoatRemoteOptions *options)
{
  if (options->interface != NULL)
    replace_string (&settings->interface, options->interface);
  if (options->port != 0)
    settings->port = options->port;
  if (options->address != NULL)
    replace_string (&settings->address, options->address);
  if (options->allow != NULL)
    {
      g_strfreev (settings->allow);
      settings->allow = g_strdupv ((char **)options->allow);
    }
}

gboolean
moat_remote_enable (const char *config_dir, const MoatRemoteOptions *options, GError **error)
{
  if (!check_options (options, error) || !make_config_dir (config_dir, error))
    return FALSE;
  __attribute__ ((cleanup (unlock_config))) int lock = lock_config (config_dir, error);
  if (lock < 0)
    return FALSE;
  g_auto (Settings) settings = { 0 };
  g_autoptr (GError) load_error = NULL;
  if (!load_settings (config_dir, &settings, &load_error))
    {
      if (!g_error_matches (load_error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND))
        return g_propagate_error (error, g_steal_pointer (&load_error)), FALSE;
      settings.interface = g_strdup (MOAT_REMOTE_DEFAULT_INTERFACE);
      settings.port = MOAT_REMOTE_DEFAULT_PORT;
      settings.address = g_strdup (MOAT_REMOTE_DEFAULT_ADDRESS);
      settings.allow = g_new0 (char *, 1);
    }
  g_autoptr (GPtrArray) peers = load_peers (config_dir, error);
  if (peers == NULL)
    return FALSE;
  /* Peers hold addresses in the old subnet, and their configs name the old hub address. */
  if (options->address != NULL && peers->len > 0
      && strcmp (options->address, settings.address) != 0)
    return moat_error_invalid (
        error,
        "the address cannot change from %s while peers have addresses in its "
        "subnet (remove them first)",
        settings.address);
  g_autofree char *old_interface = g_strdup (settings.interface);
  apply_options (&settings, options);
  if (!ensure_hub_key (config_dir, error))
    return FALSE;
  /* A renamed interface: the old one goes. */
  if (strcmp (old_interface, settings.interface) != 0 && interface_exists (old_interface)
      && !RUN (error, IP_PATH, "link", "delete", "dev", old_interface))
    return FALSE;
  settings.enabled = TRUE;
  if (!save_settings (config_dir, &settings, error))
    return FALSE;
  return bring_up (config_dir, &settings, error);
}

gboolean
moat_remote_disable (const char *config_dir, GError **error)
{
  g_auto (Settings) settings = { 0 };
  __attribute__ ((cleanup (unlock_config))) int lock = lock_and_load (config_dir, &settings, error);
  if (lock < 0)
    return FALSE;
  if (!settings.enabled && !interface_exists (settings.interface))
    {
      g_set_error_literal (error, MOAT_ERROR, MOAT_ERROR_NOT_RUNNING,
                           "remote access is not enabled");
      return FALSE;
    }
  settings.enabled = FALSE;
  if (!save_settings (config_dir, &settings, error) || !load_firewall (firewall_off, error))
    return FALSE;
  /* wireguard-go exits when its tun device is deleted, as wg-quick relies on. */
  if (interface_exists (settings.interface)
      && !RUN (error, IP_PATH, "link", "delete", "dev", settings.interface))
    return FALSE;
  return TRUE;
}

gboolean
moat_remote_restore (const char *config_dir, GError **error)
{
  g_auto (Settings) settings = { 0 };
  g_autoptr (GError) local_error = NULL;
  if (!load_settings (config_dir, &settings, &local_error))
    {
      if (g_error_matches (local_error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (!settings.enabled)
    return TRUE;
  __attribute__ ((cleanup (unlock_config))) int lock = lock_config (config_dir, error);
  if (lock < 0)
    return FALSE;
  if (!bring_up (config_dir, &settings, error))
    return g_prefix_error (error, "remote access: "), FALSE;
  return TRUE;
}

char *
moat_remote_next_address (const char *hub_cidr, const char *const *used, GError **error)
{
  guint32 hub, prefix_mask;
  guint prefix;
  if (!parse_cidr (hub_cidr, &hub, &prefix, error))
    return NULL;
  prefix_mask = ~((1u << (32 - prefix)) - 1);
  guint32 network = hub & prefix_mask, broadcast = network | ~prefix_mask;
  for (guint32 candidate = network + 1; candidate < broadcast; candidate++)
    {
      gboolean taken = candidate == hub;
      for (gsize i = 0; used != NULL && used[i] != NULL && !taken; i++)
        {
          struct in_addr in;
          taken = inet_pton (AF_INET, used[i], &in) == 1 && ntohl (in.s_addr) == candidate;
        }
      if (!taken)
        return dotted (candidate);
    }
  g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "no free address left in %s", hub_cidr);
  return NULL;
}

static MoatSecretText *
client_config (const MoatWgSecret *secret, const char *address, const char *hub_public_key,
               const char *endpoint, const char *hub_address)
{
  return moat_secret_text_printf ("[Interface]\n"
                                  "PrivateKey = %s\n"
                                  "Address = %s/32\n"
                                  "\n"
                                  "[Peer]\n"
                                  "PublicKey = %s\n"
                                  "Endpoint = %s\n"
                                  "AllowedIPs = %s/32\n"
                                  "PersistentKeepalive = 25\n",
                                  secret->base64, address, hub_public_key, endpoint, hub_address);
}

static gboolean
save_peer (const char *config_dir, const MoatRemotePeer *peer, GError **error)
{
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_key_file_set_string (file, "Peer", "PublicKey", peer->public_key);
  g_key_file_set_string (file, "Peer", "Address", peer->address);
  gsize len;
  g_autofree char *data = g_key_file_to_data (file, &len, NULL);
  g_autofree char *path = peer_path (config_dir, peer->name);
  if (!moat_write_new_file (path, data, len, 0600, TRUE, error))
    {
      if (g_error_matches (*error, MOAT_ERROR, MOAT_ERROR_EXISTS))
        {
          g_clear_error (error);
          g_set_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS, "peer '%s' exists already",
                       peer->name);
        }
      return FALSE;
    }
  return TRUE;
}

MoatSecretText *
moat_remote_add_peer (const char *config_dir, const char *name, const char *endpoint,
                      GError **error)
{
  g_auto (Settings) settings = { 0 };
  if (!check_peer_name (name, error) || (endpoint != NULL && !check_endpoint (endpoint, error)))
    return NULL;
  __attribute__ ((cleanup (unlock_config))) int lock = lock_and_load (config_dir, &settings, error);
  if (lock < 0)
    return NULL;
  g_autoptr (GPtrArray) peers = load_peers (config_dir, error);
  if (peers == NULL)
    return NULL;
  g_autoptr (GPtrArray) used = g_ptr_array_new ();
  for (guint i = 0; i < peers->len; i++)
    {
      MoatRemotePeer *other = peers->pdata[i];
      if (strcmp (other->name, name) == 0)
        {
          g_set_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS, "peer '%s' exists already", name);
          return NULL;
        }
      g_ptr_array_add (used, other->address);
    }
  g_ptr_array_add (used, NULL);

  g_autofree char *hub_public_key = read_public_key (config_dir, error);
  g_autoptr (MoatWgSecret) secret = moat_wg_secret_generate (error);
  char public_key[MOAT_WG_KEY_BASE64_LEN + 1];
  if (hub_public_key == NULL || secret == NULL
      || !moat_wg_secret_public (secret, public_key, error))
    return NULL;
  g_autofree char *address
      = moat_remote_next_address (settings.address, (const char *const *)used->pdata, error);
  if (address == NULL)
    return NULL;
  MoatRemotePeer peer = { .name = (char *)name, .public_key = public_key, .address = address };
  if (!save_peer (config_dir, &peer, error))
    return NULL;
  if (settings.enabled && interface_exists (settings.interface)
      && !add_peer_to_interface (settings.interface, &peer, error))
    {
      g_autofree char *path = peer_path (config_dir, name);
      unlink (path);
      return NULL;
    }

  g_autofree char *hub_host = g_strndup (settings.address, strcspn (settings.address, "/"));
  g_autofree char *default_endpoint = g_strdup_printf ("%s:%u", g_get_host_name (), settings.port);
  if (endpoint == NULL && !check_endpoint (default_endpoint, error))
    return g_prefix_error (error, "this host's name does not make an endpoint (use --endpoint): "),
           NULL;
  MoatSecretText *config = client_config (secret, address, hub_public_key,
                                          endpoint ? endpoint : default_endpoint, hub_host);
  if (config == NULL)
    g_set_error_literal (error, MOAT_ERROR, MOAT_ERROR_FAILED,
                         "sodium_malloc: no locked memory for the client config");
  return config;
}

gboolean
moat_remote_remove_peer (const char *config_dir, const char *name, GError **error)
{
  g_auto (Settings) settings = { 0 };
  if (!check_peer_name (name, error))
    return FALSE;
  __attribute__ ((cleanup (unlock_config))) int lock = lock_and_load (config_dir, &settings, error);
  if (lock < 0)
    return FALSE;
  g_autofree char *path = peer_path (config_dir, name);
  if (access (path, F_OK) < 0)
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "no peer '%s'", name);
      return FALSE;
    }
  g_autoptr (MoatRemotePeer) peer = load_peer (config_dir, name, error);
  if (peer == NULL)
    return FALSE;
  /* Off the interface first: a peer that is gone from disk must not keep a live tunnel. */
  if (interface_exists (settings.interface)
      && !RUN (error, WG_PATH, "set", settings.interface, "peer", peer->public_key, "remove"))
    return FALSE;
  if (unlink (path) < 0)
    return moat_error_errno (error, errno, "remove", path);
  return TRUE;
}

void
moat_remote_parse_dump (const char *dump, GPtrArray *peers)
{
  g_auto (GStrv) lines = g_strsplit (dump, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    {
      if (line == lines)
        continue; /* the interface's own line: private key, public key, port, fwmark */
      g_auto (GStrv) fields = g_strsplit (*line, "\t", -1);
      gboolean whole = g_strv_length (fields) == 8;
      for (guint i = 0; whole && i < peers->len; i++)
        {
          MoatRemotePeer *peer = peers->pdata[i];
          if (strcmp (peer->public_key, fields[0]) != 0)
            continue;
          g_free (peer->endpoint);
          peer->endpoint = strcmp (fields[2], "(none)") == 0 ? NULL : g_strdup (fields[2]);
          peer->latest_handshake = g_ascii_strtoll (fields[4], NULL, 10);
          peer->rx_bytes = g_ascii_strtoull (fields[5], NULL, 10);
          peer->tx_bytes = g_ascii_strtoull (fields[6], NULL, 10);
        }
      /* The preshared key column would be a secret; wipe each line once read. */
      for (char **f = fields; *f != NULL; f++)
        explicit_bzero (*f, strlen (*f));
    }
  if (lines[0] != NULL)
    explicit_bzero (lines[0], strlen (lines[0]));
}

MoatRemoteStatus *
moat_remote_status (const char *config_dir, GError **error)
{
  g_auto (Settings) settings = { 0 };
  if (!load_settings (config_dir, &settings, error))
    return NULL;
  g_autoptr (MoatRemoteStatus) status = g_new0 (MoatRemoteStatus, 1);
  status->enabled = settings.enabled;
  status->interface = g_steal_pointer (&settings.interface);
  status->backend = interface_backend (status->interface);
  status->port = settings.port;
  status->address = g_steal_pointer (&settings.address);
  status->allow = g_steal_pointer (&settings.allow);
  status->public_key = read_public_key (config_dir, error);
  status->peers = load_peers (config_dir, error);
  if (status->public_key == NULL || status->peers == NULL)
    return NULL;
  if (status->backend == NULL)
    return g_steal_pointer (&status);

  /* The dump's first line holds the private key: the text is wiped before it is freed. */
  g_autoptr (GString) dump = g_string_sized_new (64 * 1024); /* no realloc leaves a copy */
  const char *const argv[] = { WG_PATH, "show", status->interface, "dump", NULL };
  gboolean ok = moat_tool_run (argv, NULL, NULL, 0, dump, error);
  if (ok)
    moat_remote_parse_dump (dump->str, status->peers);
  explicit_bzero (dump->str, dump->allocated_len);
  return ok ? g_steal_pointer (&status) : NULL;
}
