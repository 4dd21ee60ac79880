/* Per-sandbox networking: the flows a manifest's [Network] section declares, the nftables
 * ruleset that allows exactly those, and the namespace, veth pair and addresses that give a
 * sandbox a network of its own. The design is in docs/runtime.md ("Network"). */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Sandboxes live in 10.89.0.0/16, routed one /32 per veth; the hub side of every veth is
 * 10.89.0.1 and a sandbox in identity slot N is 10.89.0.0 + 2 + N. */
#define MOAT_NET_SUBNET 0x0a590000u /* 10.89.0.0 */
#define MOAT_NET_PREFIX 16
#define MOAT_NET_GATEWAY 0x0a590001u /* 10.89.0.1 */
#define MOAT_NET_TABLE "moat"        /* table inet moat: moatd's own, and nothing else's */

typedef enum
{
  MOAT_PEER_SANDBOX,  /* another sandbox, by name */
  MOAT_PEER_ADDRESS,  /* an IPv4 host or subnet on the LAN */
  MOAT_PEER_INTERNET, /* any address that is not private, loopback, link-local or multicast */
} MoatPeerKind;

typedef enum
{
  MOAT_PROTO_TCP,
  MOAT_PROTO_UDP,
} MoatProto;

/* One flow: Allow=PEER:PORTS/PROTO (the sandbox may open it) or Accept=PEER:PORTS/PROTO (the
 * peer may open it to the sandbox). */
typedef struct
{
  MoatPeerKind kind;
  char *sandbox;    /* MOAT_PEER_SANDBOX: its name */
  uint32_t address; /* MOAT_PEER_ADDRESS: host byte order, host bits zero */
  guint prefix;     /* MOAT_PEER_ADDRESS: 1..32 */
  MoatProto proto;
  guint16 port_first, port_last; /* 1..65535, first <= last */
} MoatFlow;

/* Publish=[HOSTPORT:]PORT/PROTO: the hub's HOSTPORT forwarded to the sandbox's PORT. */
typedef struct
{
  MoatProto proto;
  guint16 host_port, port;
} MoatPublish;

/* Discover=mdns|ssdp|broadcast:PORT: LAN discovery traffic that moatd's relay (relay.h)
 * carries between the hub's LAN interfaces and the sandbox. Always UDP. */
typedef struct
{
  uint32_t group; /* host byte order: a multicast group, or 255.255.255.255 for broadcast */
  guint16 port;
} MoatDiscover;

#define MOAT_DISCOVER_BROADCAST 0xffffffffu

/* What [Network] says. Empty (all arrays empty): loopback only, no veth at all. */
typedef struct
{
  GPtrArray *allow;    /* of MoatFlow* */
  GPtrArray *accept;   /* of MoatFlow* (never MOAT_PEER_INTERNET) */
  GPtrArray *publish;  /* of MoatPublish* */
  GPtrArray *discover; /* of MoatDiscover* */
} MoatNetworkPolicy;

void moat_network_policy_init (MoatNetworkPolicy *policy);
void moat_network_policy_clear (MoatNetworkPolicy *policy);
gboolean moat_network_policy_is_empty (const MoatNetworkPolicy *policy);

/* Parse a flow ("mqtt:1883/tcp", "192.168.1.0/24:554/tcp", "internet:443/tcp",
 * "10.0.0.5:5000-5010/udp"). INTERNET says whether the peer "internet" is allowed. On failure
 * *RET_PROBLEM says what is wrong, as a sentence about VALUE. */
MoatFlow *moat_flow_parse (const char *value, gboolean internet, char **ret_problem);

/* Parse "[HOSTPORT:]PORT/PROTO". */
MoatPublish *moat_publish_parse (const char *value, char **ret_problem);

/* Parse "mdns" (224.0.0.251:5353), "ssdp" (239.255.255.250:1900) or "broadcast:PORT". */
MoatDiscover *moat_discover_parse (const char *value, char **ret_problem);
/* "mdns", "ssdp", "broadcast:6667" */
char *moat_discover_to_string (const MoatDiscover *discover);

/* Whether A and B could match the same packet (same protocol, intersecting ports, the same
 * sandbox or intersecting addresses). */
gboolean moat_flow_overlaps (const MoatFlow *a, const MoatFlow *b);

/* The flow as a manifest would write it (canonical: "10.0.0.0/8:80/tcp"). */
char *moat_flow_to_string (const MoatFlow *flow);
char *moat_publish_to_string (const MoatPublish *publish);
void moat_flow_free (MoatFlow *flow);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatFlow, moat_flow_free)

/* "10.89.0.2" */
char *moat_network_format_address (uint32_t address);

/* The sandbox address of identity slot SLOT; its hub-side interface name "mt-SLOT"; the name
 * of the sandbox's end when systemd-nspawn moves it in, "ms-SLOT" (a crun sandbox's is eth0). */
uint32_t moat_network_address (guint slot);
char *moat_network_interface (guint slot);
char *moat_network_sandbox_interface (guint slot);

/* The address of another sandbox, by name; FALSE when it has none (not installed). */
typedef gboolean (*MoatPeerLookup) (const char *name, uint32_t *ret_address, gpointer user_data);

/* The /etc/hosts moatd gives sandbox NAME (slot SLOT): localhost, its own name, and every
 * sandbox its flows name that LOOKUP can place, each once, so that "mqtt" resolves. */
char *moat_network_hosts (const char *name, guint slot, const MoatNetworkPolicy *policy,
                          MoatPeerLookup lookup, gpointer lookup_data);

/* nft scripts (for `nft -f`), pure so that tests can read them. */
/* Create table inet moat afresh (deleting whatever moatd left in it before). */
char *moat_network_ruleset_hub (void);
/* Add sandbox NAME's chains, counters and map elements; flows to peers LOOKUP cannot place
 * are left out. */
char *moat_network_ruleset_add (const char *name, guint slot, const MoatNetworkPolicy *policy,
                                MoatPeerLookup lookup, gpointer lookup_data);
/* Remove all that moat_network_ruleset_add() added for NAME. */
char *moat_network_ruleset_remove (const char *name, guint slot, const MoatNetworkPolicy *policy);

/* Tools and where moatd keeps its network namespaces (RUN_DIR/netns/NAME). */
typedef struct
{
  const char *run_dir;
  const char *ip_path;      /* /usr/sbin/ip */
  const char *nft_path;     /* /usr/sbin/nft */
  const char *unshare_path; /* /usr/bin/unshare */
  const char *nsenter_path; /* /usr/bin/nsenter */
  const char *udevadm_path; /* /usr/bin/udevadm, used only where udev runs */
} MoatNetworkTools;

/* Forget what an earlier moatd set up (its table, namespaces); at daemon start. Does nothing
 * (and runs no tool) when no earlier moatd made any. */
gboolean moat_network_reset (const MoatNetworkTools *tools, GError **error);

/* Give sandbox NAME its veth, addresses, routes and rules. With RET_NETNS_PATH (crun), also
 * its namespace, which *RET_NETNS_PATH names for the runtime to join, with the veth's sandbox
 * end in it, configured, as eth0. Without (systemd-nspawn, which cannot join a namespace the
 * host owns), the sandbox end stays on the hub as ms-SLOT, unconfigured and (where udev runs)
 * initialized, for `--network-interface=` to move into nspawn's own namespace, where moat-init
 * configures it. Undone on failure. */
gboolean moat_network_setup (const MoatNetworkTools *tools, const char *name, guint slot,
                             const MoatNetworkPolicy *policy, MoatPeerLookup lookup,
                             gpointer lookup_data, char **ret_netns_path, GError **error);

/* Rebuild running sandbox NAME's rules in one nft transaction, for when a peer its flows name
 * has come (or gone): flows LOOKUP could not place at setup are placed now. */
gboolean moat_network_refresh (const MoatNetworkTools *tools, const char *name, guint slot,
                               const MoatNetworkPolicy *policy, MoatPeerLookup lookup,
                               gpointer lookup_data, GError **error);

/* Does POLICY name the sandbox PEER in a flow? */
gboolean moat_network_policy_names (const MoatNetworkPolicy *policy, const char *peer);

/* Undo moat_network_setup(); what is already gone is fine. */
gboolean moat_network_teardown (const MoatNetworkTools *tools, const char *name, guint slot,
                                const MoatNetworkPolicy *policy, GError **error);

/* Packets dropped going out of and coming in to sandbox NAME. */
gboolean moat_network_counters (const MoatNetworkTools *tools, const char *name,
                                guint64 *ret_dropped_out, guint64 *ret_dropped_in, GError **error);
