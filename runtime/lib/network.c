/* Per-sandbox networking. The values of [Network] are parsed here (manifest.c calls in, so
 * that one file knows what a flow is), turned into nft scripts by pure functions the unit
 * tests read, and applied with `ip` and `nft -f FILE`, spawned with an argv and never through
 * a shell. Everything moatd adds lives in `table inet moat` and RUN_DIR/netns/, so that a new
 * moatd can remove all of it after a crash without touching anything else. */

#include "network.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "moat-error.h"
#include "proc.h"
#include "tool.h"

/* The peer "internet" is every address outside these. */
static const char *const private_ranges[] = {
  "0.0.0.0/8",     "10.0.0.0/8",     "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
  "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",   NULL,
};

#define LOOPBACK_NET 0x7f000000u

/* --- the policy ------------------------------------------------------------------------ */

void
moat_flow_free (MoatFlow *flow)
{
  if (flow == NULL)
    return;
  g_free (flow->sandbox);
  g_free (flow);
}

void
moat_network_policy_init (MoatNetworkPolicy *policy)
{
  policy->allow = g_ptr_array_new_with_free_func ((GDestroyNotify)moat_flow_free);
  policy->accept = g_ptr_array_new_with_free_func ((GDestroyNotify)moat_flow_free);
  policy->publish = g_ptr_array_new_with_free_func (g_free);
  policy->discover = g_ptr_array_new_with_free_func (g_free);
}

void
moat_network_policy_clear (MoatNetworkPolicy *policy)
{
  g_clear_pointer (&policy->allow, g_ptr_array_unref);
  g_clear_pointer (&policy->accept, g_ptr_array_unref);
  g_clear_pointer (&policy->publish, g_ptr_array_unref);
  g_clear_pointer (&policy->discover, g_ptr_array_unref);
}

gboolean
moat_network_policy_is_empty (const MoatNetworkPolicy *policy)
{
  return (policy->allow == NULL || policy->allow->len == 0)
         && (policy->accept == NULL || policy->accept->len == 0)
         && (policy->publish == NULL || policy->publish->len == 0)
         && (policy->discover == NULL || policy->discover->len == 0);
}

/* --- parsing --------------------------------------------------------------------------- */

/* A decimal number MIN..MAX of at most 5 digits, without leading zeros. */
static gboolean
parse_decimal (const char *s, guint min, guint max, guint *ret_value)
{
  gsize len = strlen (s);
  if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
    return FALSE;
  guint value = 0;
  for (const char *c = s; *c != '\0'; c++)
    {
      if (!g_ascii_isdigit (*c))
        return FALSE;
      value = value * 10 + (*c - '0');
    }
  if (value < min || value > max)
    return FALSE;
  *ret_value = value;
  return TRUE;
}

static gboolean
parse_port (const char *text, guint16 *ret_port, char **ret_problem)
{
  guint port;
  if (!parse_decimal (text, 1, 65535, &port))
    {
      *ret_problem = g_strdup_printf ("port '%s' is not 1..65535", text);
      return FALSE;
    }
  *ret_port = port;
  return TRUE;
}

static gboolean
parse_ports (const char *text, MoatFlow *flow, char **ret_problem)
{
  g_auto (GStrv) ends = g_strsplit (text, "-", 3);
  if (ends[0] == NULL || (ends[1] != NULL && ends[2] != NULL))
    return *ret_problem = g_strdup_printf ("'%s' is not a port or a range FIRST-LAST", text), FALSE;
  if (!parse_port (ends[0], &flow->port_first, ret_problem))
    return FALSE;
  flow->port_last = flow->port_first;
  if (ends[1] != NULL && !parse_port (ends[1], &flow->port_last, ret_problem))
    return FALSE;
  if (flow->port_last < flow->port_first)
    return *ret_problem = g_strdup_printf ("port range '%s' ends before it starts", text), FALSE;
  return TRUE;
}

static gboolean
parse_proto (const char *text, MoatProto *ret_proto, char **ret_problem)
{
  if (g_str_equal (text, "tcp"))
    *ret_proto = MOAT_PROTO_TCP;
  else if (g_str_equal (text, "udp"))
    *ret_proto = MOAT_PROTO_UDP;
  else
    return *ret_problem = g_strdup_printf ("'%s' is not a protocol (use tcp or udp)", text), FALSE;
  return TRUE;
}

static uint32_t
prefix_mask (guint prefix)
{
  return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static gboolean
ranges_intersect (uint32_t a, guint a_prefix, uint32_t b, guint b_prefix)
{
  uint32_t mask = prefix_mask (MIN (a_prefix, b_prefix));
  return (a & mask) == (b & mask);
}

/* "A.B.C.D" or "A.B.C.D/PREFIX": four decimal octets without leading zeros (which some tools
 * read as octal), a prefix 1..32, and no bits set past the prefix. */
static gboolean
parse_address (const char *text, MoatFlow *flow, char **ret_problem)
{
  g_auto (GStrv) parts = g_strsplit (text, "/", 2);
  guint prefix = 32;
  if (parts[1] != NULL && !parse_decimal (parts[1], 1, 32, &prefix))
    return *ret_problem = g_strdup_printf ("'%s' has a prefix that is not 1..32", text), FALSE;
  g_auto (GStrv) octets = g_strsplit (parts[0], ".", 5);
  uint32_t address = 0;
  guint count = g_strv_length (octets);
  for (guint i = 0; i < count; i++)
    {
      guint octet;
      if (count != 4 || !parse_decimal (octets[i], 0, 255, &octet))
        return *ret_problem = g_strdup_printf (
                   "'%s' is not an IPv4 address (four numbers 0..255, no leading zeros)", text),
               FALSE;
      address = (address << 8) | octet;
    }
  if ((address & ~prefix_mask (prefix)) != 0)
    {
      g_autofree char *network = moat_network_format_address (address & prefix_mask (prefix));
      return *ret_problem = g_strdup_printf ("'%s' has bits set past its prefix (write %s/%u)",
                                             text, network, prefix),
             FALSE;
    }
  if (ranges_intersect (address, prefix, LOOPBACK_NET, 8))
    return *ret_problem = g_strdup_printf ("'%s' is loopback, which is the sandbox's own", text),
           FALSE;
  if (ranges_intersect (address, prefix, MOAT_NET_SUBNET, MOAT_NET_PREFIX))
    return *ret_problem = g_strdup_printf (
               "'%s' overlaps the sandboxes' own 10.89.0.0/16 (name the sandbox instead)", text),
           FALSE;
  flow->kind = MOAT_PEER_ADDRESS;
  flow->address = address;
  flow->prefix = prefix;
  return TRUE;
}

static gboolean
parse_peer (const char *text, gboolean internet, MoatFlow *flow, char **ret_problem)
{
  if (g_str_equal (text, "internet"))
    {
      if (!internet)
        return *ret_problem = g_strdup ("'internet' cannot be named here (only in Allow=)"), FALSE;
      flow->kind = MOAT_PEER_INTERNET;
      return TRUE;
    }
  /* Sandbox names hold no '.', so anything with one is meant as an address. */
  if (strchr (text, '.') != NULL || strchr (text, '/') != NULL)
    return parse_address (text, flow, ret_problem);
  if (!moat_name_is_valid (text))
    return *ret_problem = g_strdup_printf (
               "'%s' is not a sandbox name (a-z, 0-9 and '-'), an IPv4 address or 'internet'",
               text),
           FALSE;
  flow->kind = MOAT_PEER_SANDBOX;
  flow->sandbox = g_strdup (text);
  return TRUE;
}

MoatFlow *
moat_flow_parse (const char *value, gboolean internet, char **ret_problem)
{
  const char *colon = strrchr (value, ':');
  const char *slash = strrchr (value, '/');
  if (colon == NULL || slash == NULL || slash < colon)
    return *ret_problem
           = g_strdup_printf ("'%s' is not PEER:PORT/PROTO (e.g. mqtt:1883/tcp)", value),
           NULL;
  g_autofree char *peer = g_strndup (value, colon - value);
  g_autofree char *ports = g_strndup (colon + 1, slash - colon - 1);
  g_autoptr (MoatFlow) flow = g_new0 (MoatFlow, 1);
  if (!parse_peer (peer, internet, flow, ret_problem) || !parse_ports (ports, flow, ret_problem)
      || !parse_proto (slash + 1, &flow->proto, ret_problem))
    return NULL;
  return g_steal_pointer (&flow);
}

MoatPublish *
moat_publish_parse (const char *value, char **ret_problem)
{
  const char *slash = strchr (value, '/');
  if (slash == NULL)
    return *ret_problem
           = g_strdup_printf ("'%s' is not [HOSTPORT:]PORT/PROTO (e.g. 8080:80/tcp)", value),
           NULL;
  g_autofree char *ports = g_strndup (value, slash - value);
  g_autofree MoatPublish *publish = g_new0 (MoatPublish, 1);
  const char *colon = strchr (ports, ':');
  g_autofree char *host_port = g_strndup (ports, colon ? (gsize)(colon - ports) : strlen (ports));
  if (!parse_port (host_port, &publish->host_port, ret_problem)
      || !parse_port (colon ? colon + 1 : ports, &publish->port, ret_problem)
      || !parse_proto (slash + 1, &publish->proto, ret_problem))
    return NULL;
  return g_steal_pointer (&publish);
}

/* The discovery protocols known by name; anything else is broadcast:PORT. */
static const struct
{
  const char *name;
  uint32_t group;
  guint16 port;
} discover_names[] = {
  { "mdns", 0xe00000fbu, 5353 }, /* 224.0.0.251 */
  { "ssdp", 0xeffffffau, 1900 }, /* 239.255.255.250 */
};

MoatDiscover *
moat_discover_parse (const char *value, char **ret_problem)
{
  g_autofree MoatDiscover *discover = g_new0 (MoatDiscover, 1);
  for (gsize i = 0; i < G_N_ELEMENTS (discover_names); i++)
    if (g_str_equal (value, discover_names[i].name))
      {
        discover->group = discover_names[i].group;
        discover->port = discover_names[i].port;
        return g_steal_pointer (&discover);
      }
  if (!g_str_has_prefix (value, "broadcast:"))
    return *ret_problem = g_strdup_printf (
               "'%s' is not a discovery protocol (mdns, ssdp or broadcast:PORT)", value),
           NULL;
  discover->group = MOAT_DISCOVER_BROADCAST;
  if (!parse_port (value + strlen ("broadcast:"), &discover->port, ret_problem))
    return NULL;
  /* The relay binds the port on the hub: not one of the hub's own services, not a port
   * another protocol's socket holds. */
  if (discover->port < 1024)
    return *ret_problem = g_strdup_printf ("broadcast port %u is below 1024, where the hub's "
                                           "own services are",
                                           discover->port),
           NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (discover_names); i++)
    if (discover->port == discover_names[i].port)
      return *ret_problem
             = g_strdup_printf ("broadcast port %u is %s's (use Discover=%s)", discover->port,
                                discover_names[i].name, discover_names[i].name),
             NULL;
  return g_steal_pointer (&discover);
}

char *
moat_discover_to_string (const MoatDiscover *discover)
{
  for (gsize i = 0; i < G_N_ELEMENTS (discover_names); i++)
    if (discover->group == discover_names[i].group && discover->port == discover_names[i].port)
      return g_strdup (discover_names[i].name);
  return g_strdup_printf ("broadcast:%u", discover->port);
}

gboolean
moat_flow_overlaps (const MoatFlow *a, const MoatFlow *b)
{
  if (a->kind != b->kind || a->proto != b->proto || a->port_last < b->port_first
      || b->port_last < a->port_first)
    return FALSE;
  switch (a->kind)
    {
    case MOAT_PEER_SANDBOX:
      return g_str_equal (a->sandbox, b->sandbox);
    case MOAT_PEER_ADDRESS:
      return ranges_intersect (a->address, a->prefix, b->address, b->prefix);
    case MOAT_PEER_INTERNET:
      return TRUE;
    }
  return TRUE;
}

static const char *
proto_name (MoatProto proto)
{
  return proto == MOAT_PROTO_UDP ? "udp" : "tcp";
}

char *
moat_network_format_address (uint32_t address)
{
  return g_strdup_printf ("%u.%u.%u.%u", address >> 24, (address >> 16) & 0xff,
                          (address >> 8) & 0xff, address & 0xff);
}

static char *
format_peer (const MoatFlow *flow)
{
  if (flow->kind == MOAT_PEER_SANDBOX)
    return g_strdup (flow->sandbox);
  if (flow->kind == MOAT_PEER_INTERNET)
    return g_strdup ("internet");
  g_autofree char *address = moat_network_format_address (flow->address);
  if (flow->prefix == 32)
    return g_steal_pointer (&address);
  return g_strdup_printf ("%s/%u", address, flow->prefix);
}

/* "80" or "80-90", as both manifests and nft write them. */
static char *
format_ports (const MoatFlow *flow)
{
  if (flow->port_first == flow->port_last)
    return g_strdup_printf ("%u", flow->port_first);
  return g_strdup_printf ("%u-%u", flow->port_first, flow->port_last);
}

char *
moat_flow_to_string (const MoatFlow *flow)
{
  g_autofree char *peer = format_peer (flow);
  g_autofree char *ports = format_ports (flow);
  return g_strdup_printf ("%s:%s/%s", peer, ports, proto_name (flow->proto));
}

char *
moat_publish_to_string (const MoatPublish *publish)
{
  return g_strdup_printf ("%u:%u/%s", publish->host_port, publish->port,
                          proto_name (publish->proto));
}

/* --- addresses ------------------------------------------------------------------------- */

uint32_t
moat_network_address (guint slot)
{
  return MOAT_NET_SUBNET + 2 + slot;
}

static void
add_host_line (GString *hosts, GHashTable *seen, uint32_t address, const char *name)
{
  if (!g_hash_table_add (seen, (gpointer)name))
    return;
  g_autofree char *text = moat_network_format_address (address);
  g_string_append_printf (hosts, "%s\t%s\n", text, name);
}

char *
moat_network_hosts (const char *name, guint slot, const MoatNetworkPolicy *policy,
                    MoatPeerLookup lookup, gpointer lookup_data)
{
  GString *hosts = g_string_new ("127.0.0.1\tlocalhost\n::1\tlocalhost\n");
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  add_host_line (hosts, seen, moat_network_address (slot), name);
  GPtrArray *lists[] = { policy->allow, policy->accept };
  for (gsize l = 0; l < G_N_ELEMENTS (lists); l++)
    for (guint i = 0; i < lists[l]->len; i++)
      {
        const MoatFlow *flow = lists[l]->pdata[i];
        uint32_t address;
        if (flow->kind == MOAT_PEER_SANDBOX && lookup (flow->sandbox, &address, lookup_data))
          add_host_line (hosts, seen, address, flow->sandbox);
      }
  return g_string_free (hosts, FALSE);
}

char *
moat_network_interface (guint slot)
{
  return g_strdup_printf ("mt-%u", slot);
}

char *
moat_network_sandbox_interface (guint slot)
{
  return g_strdup_printf ("ms-%u", slot);
}

/* --- rulesets -------------------------------------------------------------------------- */

char *
moat_network_ruleset_hub (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *private = g_strjoinv (", ", (char **)private_ranges);
  /* Creating the table first makes the delete succeed when there was none. */
  g_string_append (out, "table inet " MOAT_NET_TABLE "\n"
                        "delete table inet " MOAT_NET_TABLE "\n"
                        "table inet " MOAT_NET_TABLE " {\n");
  g_string_append_printf (
      out, "  set private4 { type ipv4_addr; flags interval; elements = { %s } }\n", private);
  g_string_append (out,
                   "  map egress { type ifname : verdict; }\n"
                   "  map ingress { type ifname : verdict; }\n"
                   "  map publish { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
                   "  chain prerouting {\n"
                   "    type nat hook prerouting priority dstnat; policy accept;\n"
                   "    fib daddr type local dnat ip to meta l4proto . th dport map @publish\n"
                   "  }\n"
                   "  chain postrouting {\n"
                   "    type nat hook postrouting priority srcnat; policy accept;\n"
                   "    ip saddr 10.89.0.0/16 ip daddr != 10.89.0.0/16 masquerade\n"
                   "  }\n"
                   "  chain forward {\n"
                   "    type filter hook forward priority filter; policy accept;\n"
                   "    ct state established,related accept\n"
                   "    ct state invalid drop\n"
                   "    iifname vmap @egress\n"
                   "    oifname vmap @ingress\n"
                   "    ip daddr 10.89.0.0/16 drop\n"
                   "  }\n"
                   "  chain input {\n"
                   "    type filter hook input priority filter; policy accept;\n"
                   /* The discovery relay's broadcasts (its sockets' MOAT_RELAY_MARK), which
                    * the kernel always loops back to the hub: into a sandbox's veth they
                    * would count as its drops. */
                   "    meta mark 0x6d6f6174 drop\n"
                   "    ct state established,related accept\n"
                   "    iifname vmap @egress\n"
                   "  }\n"
                   "}\n");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* "tcp dport 80" for FLOW's protocol and ports. */
static char *
match_ports (const MoatFlow *flow)
{
  g_autofree char *ports = format_ports (flow);
  return g_strdup_printf ("%s dport %s", proto_name (flow->proto), ports);
}

/* The match on the peer's address (DIRECTION "daddr" or "saddr"), or NULL when the peer is a
 * sandbox that LOOKUP cannot place. */
static char *
match_peer (const MoatFlow *flow, const char *direction, MoatPeerLookup lookup, gpointer data)
{
  uint32_t address;
  switch (flow->kind)
    {
    case MOAT_PEER_INTERNET:
      return g_strdup_printf ("ip %s != @private4", direction);
    case MOAT_PEER_ADDRESS:
      {
        g_autofree char *peer = format_peer (flow);
        return g_strdup_printf ("ip %s %s", direction, peer);
      }
    case MOAT_PEER_SANDBOX:
      if (lookup == NULL || !lookup (flow->sandbox, &address, data))
        return NULL;
      g_autofree char *peer = moat_network_format_address (address);
      return g_strdup_printf ("ip %s %s", direction, peer);
    }
  return NULL;
}

/* One chain of flows, ending in a counted, logged drop. A flow to another sandbox only
 * returns: that sandbox's ingress chain has the last word, so both ends must agree. */
static void
append_chain (GString *out, const char *chain, const char *counter, const char *first_rule,
              GPtrArray *flows, gboolean outgoing, MoatPeerLookup lookup, gpointer data)
{
  const char *table = "inet " MOAT_NET_TABLE;
  if (first_rule != NULL)
    g_string_append_printf (out, "add rule %s %s %s counter name \"%s\" drop\n", table, chain,
                            first_rule, counter);
  for (guint i = 0; i < flows->len; i++)
    {
      const MoatFlow *flow = flows->pdata[i];
      g_autofree char *peer = match_peer (flow, outgoing ? "daddr" : "saddr", lookup, data);
      if (peer == NULL)
        continue;
      g_autofree char *ports = match_ports (flow);
      const char *verdict = outgoing && flow->kind == MOAT_PEER_SANDBOX ? "return" : "accept";
      g_string_append_printf (out, "add rule %s %s %s %s %s\n", table, chain, peer, ports, verdict);
    }
}

/* What a sandbox sends to moatd's discovery relay (relay.c), which listens on the hub's side
 * of its veth. The IGMP reports its kernel sends on joining a group are dropped uncounted:
 * the relay joins for it. */
static void
append_discover (GString *out, const char *chain, GPtrArray *discover)
{
  const char *table = "inet " MOAT_NET_TABLE;
  for (guint i = 0; i < discover->len; i++)
    {
      const MoatDiscover *d = discover->pdata[i];
      g_autofree char *group = moat_network_format_address (d->group);
      g_string_append_printf (out, "add rule %s %s ip daddr %s udp dport %u accept\n", table, chain,
                              group, d->port);
    }
  if (discover->len > 0)
    g_string_append_printf (out, "add rule %s %s ip protocol igmp drop\n", table, chain);
}

static void
append_drop (GString *out, const char *chain, const char *counter, const char *name,
             const char *direction)
{
  const char *table = "inet " MOAT_NET_TABLE;
  g_string_append_printf (out,
                          "add rule %s %s limit rate 10/second log prefix \"moat %s %s drop: \" "
                          "level info\n",
                          table, chain, name, direction);
  g_string_append_printf (out, "add rule %s %s counter name \"%s\" drop\n", table, chain, counter);
}

char *
moat_network_ruleset_add (const char *name, guint slot, const MoatNetworkPolicy *policy,
                          MoatPeerLookup lookup, gpointer lookup_data)
{
  const char *table = "inet " MOAT_NET_TABLE;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *ifname = moat_network_interface (slot);
  g_autofree char *address = moat_network_format_address (moat_network_address (slot));
  g_autofree char *out_chain = g_strdup_printf ("out-%s", name);
  g_autofree char *in_chain = g_strdup_printf ("in-%s", name);
  g_autofree char *out_counter = g_strdup_printf ("drop-out-%s", name);
  g_autofree char *in_counter = g_strdup_printf ("drop-in-%s", name);

  g_string_append_printf (out, "add counter %s %s\nadd counter %s %s\n", table, out_counter, table,
                          in_counter);
  g_string_append_printf (out, "add chain %s %s\nadd chain %s %s\n", table, out_chain, table,
                          in_chain);
  /* A sandbox given CAP_NET_RAW could forge its source address. */
  g_autofree char *spoof = g_strdup_printf ("ip saddr != %s", address);
  append_chain (out, out_chain, out_counter, spoof, policy->allow, TRUE, lookup, lookup_data);
  append_discover (out, out_chain, policy->discover);
  append_drop (out, out_chain, out_counter, name, "out");
  append_chain (out, in_chain, in_counter, NULL, policy->accept, FALSE, lookup, lookup_data);
  for (guint i = 0; i < policy->publish->len; i++)
    {
      const MoatPublish *publish = policy->publish->pdata[i];
      g_string_append_printf (out, "add rule %s %s ct status dnat %s dport %u accept\n", table,
                              in_chain, proto_name (publish->proto), publish->port);
    }
  append_drop (out, in_chain, in_counter, name, "in");

  g_string_append_printf (out, "add element %s egress { \"%s\" : jump %s }\n", table, ifname,
                          out_chain);
  g_string_append_printf (out, "add element %s ingress { \"%s\" : jump %s }\n", table, ifname,
                          in_chain);
  for (guint i = 0; i < policy->publish->len; i++)
    {
      const MoatPublish *publish = policy->publish->pdata[i];
      g_string_append_printf (out, "add element %s publish { %s . %u : %s . %u }\n", table,
                              proto_name (publish->proto), publish->host_port, address,
                              publish->port);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
moat_network_ruleset_remove (const char *name, guint slot, const MoatNetworkPolicy *policy)
{
  const char *table = "inet " MOAT_NET_TABLE;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *ifname = moat_network_interface (slot);
  /* Map elements first: a chain cannot go while a verdict map still jumps to it. */
  g_string_append_printf (out, "delete element %s egress { \"%s\" }\n", table, ifname);
  g_string_append_printf (out, "delete element %s ingress { \"%s\" }\n", table, ifname);
  for (guint i = 0; i < policy->publish->len; i++)
    {
      const MoatPublish *publish = policy->publish->pdata[i];
      g_string_append_printf (out, "delete element %s publish { %s . %u }\n", table,
                              proto_name (publish->proto), publish->host_port);
    }
  static const char *const directions[] = { "out", "in" };
  for (gsize i = 0; i < G_N_ELEMENTS (directions); i++)
    {
      g_string_append_printf (out, "flush chain %s %s-%s\n", table, directions[i], name);
      g_string_append_printf (out, "delete chain %s %s-%s\n", table, directions[i], name);
      g_string_append_printf (out, "delete counter %s drop-%s-%s\n", table, directions[i], name);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* --- applying -------------------------------------------------------------------------- */

static char *
netns_dir (const MoatNetworkTools *tools)
{
  return g_build_filename (tools->run_dir, "netns", NULL);
}

/* Run ARGV to its end (moat_tool_run: fails naming the command and what it said on stderr,
 * unless it exits 0). *RET_OUTPUT (optional) gets its stdout. */
static gboolean
run_tool (const char *const *argv, char **ret_output, GError **error)
{
  g_autoptr (GString) output = ret_output != NULL ? g_string_new (NULL) : NULL;
  if (!moat_tool_run (argv, NULL, NULL, 0, output, error))
    return FALSE;
  if (ret_output != NULL)
    *ret_output = g_string_free (g_steal_pointer (&output), FALSE);
  return TRUE;
}

static gboolean
write_script (const char *path, const char *contents, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  if (!g_file_set_contents_full (path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                 &local_error))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "%s", local_error->message), FALSE;
  return TRUE;
}

/* nft -f SCRIPT, the script kept beside the namespaces under NAME for reading afterwards. */
static gboolean
apply_nft (const MoatNetworkTools *tools, const char *name, const char *script, GError **error)
{
  g_autofree char *dir = netns_dir (tools);
  g_autofree char *path = g_strdup_printf ("%s/%s.nft", dir, name);
  if (!write_script (path, script, error))
    return FALSE;
  const char *argv[] = { tools->nft_path, "-f", path, NULL };
  return run_tool (argv, NULL, error);
}

/* A network namespace is unmounted when it is no longer wanted; its veth goes with it. */
static void
unmount_and_remove (const char *path)
{
  umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW);
  unlink (path);
}

gboolean
moat_network_reset (const MoatNetworkTools *tools, GError **error)
{
  g_autofree char *dir = netns_dir (tools);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  const char *argv[] = { tools->nft_path, "delete", "table", "inet", MOAT_NET_TABLE, NULL };
  g_autoptr (GError) nft_error = NULL;
  if (!run_tool (argv, NULL, &nft_error) && strstr (nft_error->message, "No such file") == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&nft_error));
      return FALSE;
    }
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  const char *entry;
  while (listing != NULL && (entry = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, entry, NULL);
      unmount_and_remove (path);
    }
  if (rmdir (dir) < 0)
    return moat_error_errno (error, errno, "remove", dir);
  return TRUE;
}

/* Forwarding between interfaces, which a hub of routed sandboxes needs. */
static gboolean
enable_forwarding (GError **error)
{
  const char *path = "/proc/sys/net/ipv4/ip_forward";
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return moat_error_errno (error, errno, "open", path);
  gboolean ok = write (fd, "1\n", 2) == 2;
  int errsv = errno;
  close (fd);
  if (!ok)
    return moat_error_errno (error, errsv, "write", path);
  return TRUE;
}

/* The table and forwarding, once per daemon: RUN_DIR/netns/ exists from then on. */
static gboolean
ensure_hub (const MoatNetworkTools *tools, GError **error)
{
  g_autofree char *dir = netns_dir (tools);
  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  if (mkdir (dir, 0700) < 0)
    return moat_error_errno (error, errno, "create", dir);
  g_autofree char *hub = moat_network_ruleset_hub ();
  if (!enable_forwarding (error) || !apply_nft (tools, "hub", hub, error))
    {
      g_autofree char *script = g_build_filename (dir, "hub.nft", NULL);
      unlink (script);
      rmdir (dir);
      return FALSE;
    }
  return TRUE;
}

static gboolean
create_netns (const MoatNetworkTools *tools, const char *path, GError **error)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return moat_error_errno (error, errno, "create", path);
  close (fd);
  g_autofree char *net = g_strdup_printf ("--net=%s", path);
  const char *argv[] = { tools->unshare_path, net, "/bin/true", NULL };
  return run_tool (argv, NULL, error);
}

/* `ip -b FILE` (inside the namespace at NETNS when it is not NULL). */
static gboolean
run_ip_batch (const MoatNetworkTools *tools, const char *path, const char *commands,
              const char *netns, GError **error)
{
  if (!write_script (path, commands, error))
    return FALSE;
  g_autofree char *net = netns ? g_strdup_printf ("--net=%s", netns) : NULL;
  const char *inside[] = { tools->nsenter_path, net, "--", tools->ip_path, "-b", path, NULL };
  const char *outside[] = { tools->ip_path, "-b", path, NULL };
  return run_tool (netns ? inside : outside, NULL, error);
}

/* udev initializes every new interface; nspawn 252 refuses to move one it has not finished
 * ("Network interface ... is not initialized yet"). Where udev does not run (a container, or
 * the host tier), there is nothing to wait for. */
static gboolean
wait_for_udev (const MoatNetworkTools *tools, const char *ifname, GError **error)
{
  if (!g_file_test ("/run/udev/control", G_FILE_TEST_EXISTS))
    return TRUE;
  g_autofree char *device = g_strdup_printf ("/sys/class/net/%s", ifname);
  const char *argv[] = { tools->udevadm_path, "wait", "--timeout=10", device, NULL };
  return run_tool (argv, NULL, error);
}

/* The veth pair: mt-SLOT on the hub and a /32 each way; the sandbox end is eth0 inside NETNS,
 * configured, or (NETNS NULL) ms-SLOT on the hub for nspawn, left to moat-init. */
static gboolean
create_link (const MoatNetworkTools *tools, const char *name, guint slot, const char *netns,
             GError **error)
{
  g_autofree char *ifname = moat_network_interface (slot);
  g_autofree char *peer = moat_network_sandbox_interface (slot);
  g_autofree char *address = moat_network_format_address (moat_network_address (slot));
  g_autofree char *gateway = moat_network_format_address (MOAT_NET_GATEWAY);
  const char *inside_argv[] = { tools->ip_path, "link", "add",  "name",  ifname, "type", "veth",
                                "peer",         "name", "eth0", "netns", netns,  NULL };
  const char *nspawn_argv[] = { tools->ip_path, "link", "add",  "name", ifname, "type",
                                "veth",         "peer", "name", peer,   NULL };
  if (!run_tool (netns != NULL ? inside_argv : nspawn_argv, NULL, error))
    return FALSE;
  g_autofree char *dir = netns_dir (tools);
  g_autofree char *hub_path = g_strdup_printf ("%s/%s.ip-hub", dir, name);
  g_autofree char *hub = g_strdup_printf ("addr add %s/32 dev %s\n"
                                          "link set %s up\n"
                                          "route add %s/32 dev %s\n",
                                          gateway, ifname, ifname, address, ifname);
  if (!run_ip_batch (tools, hub_path, hub, NULL, error))
    return FALSE;
  if (netns == NULL)
    return wait_for_udev (tools, peer, error);
  g_autofree char *inside_path = g_strdup_printf ("%s/%s.ip-sandbox", dir, name);
  g_autofree char *inside = g_strdup_printf ("link set lo up\n"
                                             "addr add %s/32 dev eth0\n"
                                             "link set eth0 up\n"
                                             "route add %s/32 dev eth0 scope link\n"
                                             "route add default via %s dev eth0\n",
                                             address, gateway, gateway);
  return run_ip_batch (tools, inside_path, inside, netns, error);
}

gboolean
moat_network_setup (const MoatNetworkTools *tools, const char *name, guint slot,
                    const MoatNetworkPolicy *policy, MoatPeerLookup lookup, gpointer lookup_data,
                    char **ret_netns_path, GError **error)
{
  if (!ensure_hub (tools, error))
    return FALSE;
  /* Whatever a previous run of this sandbox left. */
  moat_network_teardown (tools, name, slot, policy, NULL);
  g_autofree char *dir = netns_dir (tools);
  g_autofree char *path = ret_netns_path != NULL ? g_build_filename (dir, name, NULL) : NULL;
  g_autofree char *rules = moat_network_ruleset_add (name, slot, policy, lookup, lookup_data);
  if ((path != NULL && !create_netns (tools, path, error))
      || !create_link (tools, name, slot, path, error) || !apply_nft (tools, name, rules, error))
    {
      moat_network_teardown (tools, name, slot, policy, NULL);
      return FALSE;
    }
  if (ret_netns_path != NULL)
    *ret_netns_path = g_steal_pointer (&path);
  return TRUE;
}

gboolean
moat_network_refresh (const MoatNetworkTools *tools, const char *name, guint slot,
                      const MoatNetworkPolicy *policy, MoatPeerLookup lookup, gpointer lookup_data,
                      GError **error)
{
  g_autofree char *remove = moat_network_ruleset_remove (name, slot, policy);
  g_autofree char *add = moat_network_ruleset_add (name, slot, policy, lookup, lookup_data);
  g_autofree char *both = g_strconcat (remove, add, NULL);
  return apply_nft (tools, name, both, error);
}

gboolean
moat_network_policy_names (const MoatNetworkPolicy *policy, const char *peer)
{
  GPtrArray *lists[] = { policy->allow, policy->accept };
  for (gsize l = 0; l < G_N_ELEMENTS (lists); l++)
    for (guint i = 0; i < lists[l]->len; i++)
      {
        const MoatFlow *flow = lists[l]->pdata[i];
        if (flow->kind == MOAT_PEER_SANDBOX && strcmp (flow->sandbox, peer) == 0)
          return TRUE;
      }
  return FALSE;
}

gboolean
moat_network_teardown (const MoatNetworkTools *tools, const char *name, guint slot,
                       const MoatNetworkPolicy *policy, GError **error)
{
  g_autofree char *dir = netns_dir (tools);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *nft_path = g_strdup_printf ("%s/%s.nft", dir, name);
  gboolean ok = TRUE;
  /* Rules exist only when the last setup got as far as its ruleset file. */
  if (g_file_test (nft_path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *rules = moat_network_ruleset_remove (name, slot, policy);
      ok = apply_nft (tools, name, rules, error);
      unlink (nft_path);
    }
  g_autofree char *ifname = moat_network_interface (slot);
  const char *argv[] = { tools->ip_path, "link", "del", "dev", ifname, NULL };
  run_tool (argv, NULL, NULL);
  unmount_and_remove (path);
  static const char *const suffixes[] = { ".ip-hub", ".ip-sandbox" };
  for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *script = g_strconcat (path, suffixes[i], NULL);
      unlink (script);
    }
  return ok;
}

/* The packet count in `nft list counter` output ("packets 3 bytes 180"). */
static gboolean
read_counter (const MoatNetworkTools *tools, const char *counter, guint64 *ret_packets,
              GError **error)
{
  const char *argv[]
      = { tools->nft_path, "list", "counter", "inet", MOAT_NET_TABLE, counter, NULL };
  g_autofree char *output = NULL;
  if (!run_tool (argv, &output, error))
    return FALSE;
  const char *packets = strstr (output, "packets ");
  g_autofree char *digits
      = packets ? g_strndup (packets + 8, strspn (packets + 8, "0123456789")) : NULL;
  if (digits == NULL || !g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64, ret_packets, NULL))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "nft list counter %s: no count",
                        counter),
           FALSE;
  return TRUE;
}

gboolean
moat_network_counters (const MoatNetworkTools *tools, const char *name, guint64 *ret_dropped_out,
                       guint64 *ret_dropped_in, GError **error)
{
  g_autofree char *out_counter = g_strdup_printf ("drop-out-%s", name);
  g_autofree char *in_counter = g_strdup_printf ("drop-in-%s", name);
  return read_counter (tools, out_counter, ret_dropped_out, error)
         && read_counter (tools, in_counter, ret_dropped_in, error);
}
