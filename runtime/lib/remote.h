/* Remote access to the hub over WireGuard: the hub's key pair, its interface (kernel WireGuard
 * or wireguard-go), its peers and its firewall table, all kept under one config directory:
 *
 *   CONFIG_DIR/remote.conf        [Remote] Enabled, Interface, ListenPort, Address, Allow
 *   CONFIG_DIR/private.key        the hub's private key, base64, mode 0600; never printed
 *   CONFIG_DIR/public.key         the hub's public key
 *   CONFIG_DIR/peers/NAME.conf    [Peer] PublicKey, Address (a peer's private key is not kept)
 *
 * The interface is configured through `ip`, `wg` and `nft -f`, which work alike for both
 * backends; a private key reaches `wg` as a file, never on a command line. */
#pragma once

#include <glib.h>

#include "wgkey.h"

#define MOAT_REMOTE_CONFIG_DIR "/etc/moat/remote"
#define MOAT_REMOTE_DEFAULT_INTERFACE "moat-wg"
#define MOAT_REMOTE_DEFAULT_PORT 51820
#define MOAT_REMOTE_DEFAULT_ADDRESS "10.90.0.1/24"
#define MOAT_REMOTE_NFT_TABLE "moat_remote" /* in family inet */

/* What `moat remote enable` may change; NULL or 0 keeps the saved (or default) value. */
typedef struct
{
  const char *interface;    /* [a-z0-9-], at most 15 characters */
  guint port;               /* UDP listen port, 1-65535 */
  const char *address;      /* the hub's address and subnet, IPv4 CIDR with prefix 8-30 */
  const char *const *allow; /* ports peers may reach on the hub: "PORT/tcp" or "PORT/udp";
                               an empty list allows none (ping is always allowed) */
} MoatRemoteOptions;

typedef struct
{
  char *name;
  char *public_key;
  char *address;           /* without prefix */
  char *endpoint;          /* as the interface last saw it, or NULL */
  gint64 latest_handshake; /* seconds since the epoch, 0 for never */
  guint64 rx_bytes;
  guint64 tx_bytes;
} MoatRemotePeer;

typedef struct
{
  gboolean enabled;
  char *interface;
  const char *backend; /* "kernel", "wireguard-go", or NULL when the interface is not there */
  char *public_key;
  guint port;
  char *address;
  char **allow;
  GPtrArray *peers; /* MoatRemotePeer, by name */
} MoatRemoteStatus;

/* Create the hub's key pair if there is none, save OPTIONS, bring up the interface with every
 * saved peer and load the firewall table. Running it again keeps the key. */
gboolean moat_remote_enable (const char *config_dir, const MoatRemoteOptions *options,
                             GError **error);

/* Take the interface and firewall table down; keys and peers stay. MOAT_ERROR_NOT_RUNNING
 * when remote access was not enabled. */
gboolean moat_remote_disable (const char *config_dir, GError **error);

/* Give peer NAME (moat_name_is_valid) a new key pair and the next free address, add it to the
 * interface and save it. Returns its client configuration (wg-quick format, with its private
 * key, which is kept nowhere else). ENDPOINT is "HOST:PORT" for the client to reach the hub, or
 * NULL for this host's name and the listen port. MOAT_ERROR_EXISTS for a name already used. */
MoatSecretText *moat_remote_add_peer (const char *config_dir, const char *name,
                                      const char *endpoint, GError **error);

/* Remove peer NAME from the interface and the config dir. MOAT_ERROR_NOT_FOUND if unknown. */
gboolean moat_remote_remove_peer (const char *config_dir, const char *name, GError **error);

/* Settings, backend, public key and peers with their handshake and transfer counters. Never
 * holds a private key. MOAT_ERROR_NOT_FOUND when remote access was never enabled. */
MoatRemoteStatus *moat_remote_status (const char *config_dir, GError **error);
void moat_remote_status_free (MoatRemoteStatus *status);

/* At boot: bring the interface back when remote access is enabled; nothing when it is not
 * (or was never set up). */
gboolean moat_remote_restore (const char *config_dir, GError **error);

/* The lowest address in the subnet of HUB_CIDR ("10.90.0.1/24") that is neither the network,
 * the broadcast, the hub, nor one of USED (NULL-terminated dotted quads). */
char *moat_remote_next_address (const char *hub_cidr, const char *const *used, GError **error);

/* The nftables ruleset (for `nft -f`) that replaces table inet moat_remote: WireGuard's UDP port
 * in; from INTERFACE only ping, replies, and the ALLOW ports; nothing forwarded from or to it. */
char *moat_remote_nft_ruleset (const char *interface, guint port, const char *const *allow);

/* Peer lines of `wg show IFACE dump` (tab-separated; the first line, the interface's, holds
 * its private key and is skipped) into PEERS' endpoint, handshake and transfer, matched by
 * public key. */
void moat_remote_parse_dump (const char *dump, GPtrArray *peers);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatRemoteStatus, moat_remote_status_free)
