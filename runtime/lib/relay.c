/* The discovery relay (relay.h). One UDP socket per protocol (group and port) serves both
 * sides: IP_PKTINFO tells on which interface a datagram arrived, and so which way it goes.
 *
 * - From a sandbox (its veth, its own source address, a protocol it declares) to every LAN
 *   interface, sent from the hub's address there. A query from the protocol's own port goes
 *   out from the shared socket; one from any other port (SSDP's M-SEARCH, an mDNS one-shot
 *   query, a broadcast probe) goes out from a socket of its own, an "exchange", so that the
 *   unicast replies to it can be told apart and returned to that sandbox and port alone.
 * - From a LAN interface to every sandbox that declares the protocol, each on its own veth.
 *
 * Nothing else is relayed: not sandbox to sandbox, not from or to the WireGuard interface or
 * an uplink with a public address. The payload is never parsed, only passed on. What comes
 * from the LAN is bounded by a rate per protocol, checked only once a datagram is known to
 * have come from a LAN interface; what a sandbox sends, by a rate of its own and the number of
 * its exchanges, so that one sandbox cannot use up another's share.
 *
 * The sockets are bound without SO_REUSEADDR: a port some hub service holds is refused (the
 * sandbox's start fails), never shared, so the firewall's `socket mark` rule cannot let
 * anything through to that service. */

#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "moat-error.h"
#include "network.h"

#define DATAGRAM_MAX 9000 /* mDNS's own limit; longer ones are dropped */
#define LAN_RATE 200      /* datagrams a second each protocol relays from the LAN */
#define LAN_BURST 400
#define SANDBOX_RATE 20 /* datagrams a second each sandbox may have relayed out */
#define SANDBOX_BURST 40
#define EXCHANGE_SECONDS 10 /* how long replies to a query are returned (SSDP MX <= 5) */
#define EXCHANGES_PER_SANDBOX 16
#define REFRESH_SECONDS 15      /* LAN interfaces come and go: look again, join again */
#define MEMBERSHIPS_WANTED 1024 /* net.ipv4.igmp_max_memberships: groups joined per socket */
#define MDNS_GROUP 0xe00000fbu

typedef struct
{
  double tokens;
  gint64 refilled; /* monotonic usec */
} Bucket;

typedef struct
{
  MoatRelay *relay;
  uint32_t group;
  guint16 port;
  int fd;
  guint source;
  guint users;
  Bucket lan;
  GArray *joined; /* of int: the LAN interfaces whose group this socket joined */
} Service;

typedef struct
{
  char *name;
  int ifindex;
  uint32_t address;
  GPtrArray *services; /* of Service*, borrowed */
  Bucket out;
  guint64 relayed_out, relayed_in;
} Member;

typedef struct
{
  MoatRelay *relay;
  Member *member;
  Service *service;
  guint16 sandbox_port;
  int fd;
  guint source;
  guint timer;
} Exchange;

/* A LAN interface: up, not point-to-point (WireGuard), not a sandbox's veth, with a private or
 * link-local IPv4 address (an uplink with a public one is not the LAN). */
typedef struct
{
  int ifindex;
  unsigned flags; /* IFF_MULTICAST, IFF_BROADCAST */
} Lan;

struct MoatRelay
{
  GPtrArray *services;  /* of Service* */
  GPtrArray *members;   /* of Member* */
  GPtrArray *exchanges; /* of Exchange* */
  GArray *lans;         /* of Lan, as last looked at */
  GArray *addresses;    /* of uint32_t: every IPv4 address of the hub, as last looked at */
  guint refresh_timer;
};

typedef struct
{
  char data[DATAGRAM_MAX];
  gsize len;
  uint32_t source;
  guint16 source_port;
  int ifindex;
} Datagram;

static gboolean
is_lan_address (uint32_t a)
{
  if ((a & 0xffff0000u) == MOAT_NET_SUBNET)
    return FALSE;
  return (a & 0xff000000u) == 0x0a000000u     /* 10/8 */
         || (a & 0xfff00000u) == 0xac100000u  /* 172.16/12 */
         || (a & 0xffff0000u) == 0xc0a80000u  /* 192.168/16 */
         || (a & 0xffff0000u) == 0xa9fe0000u; /* 169.254/16 */
}

/* Look at the hub's interfaces and addresses again (relay->lans, relay->addresses). */
static void
read_interfaces (MoatRelay *relay)
{
  struct ifaddrs *list;
  if (getifaddrs (&list) < 0)
    return;
  g_array_set_size (relay->lans, 0);
  g_array_set_size (relay->addresses, 0);
  for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next)
    {
      if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET)
        continue;
      uint32_t address = ntohl (((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr);
      g_array_append_val (relay->addresses, address);
      Lan lan
          = { if_nametoindex (ifa->ifa_name), ifa->ifa_flags & (IFF_MULTICAST | IFF_BROADCAST) };
      if (lan.ifindex <= 0 || (ifa->ifa_flags & IFF_UP) == 0
          || (ifa->ifa_flags & (IFF_LOOPBACK | IFF_POINTOPOINT)) != 0
          || g_str_has_prefix (ifa->ifa_name, "mt-") || !is_lan_address (address))
        continue;
      gboolean seen = FALSE;
      for (guint i = 0; i < relay->lans->len; i++)
        seen |= g_array_index (relay->lans, Lan, i).ifindex == lan.ifindex;
      if (!seen)
        g_array_append_val (relay->lans, lan);
    }
  freeifaddrs (list);
}

/* Whether LAN can carry SERVICE's group (multicast, or broadcast). */
static gboolean
carries (const Lan *lan, const Service *service)
{
  return (lan->flags & (service->group == MOAT_DISCOVER_BROADCAST ? IFF_BROADCAST : IFF_MULTICAST))
         != 0;
}

/* Whether IFINDEX is a LAN interface that can carry SERVICE's group. */
static gboolean
is_lan (MoatRelay *relay, const Service *service, int ifindex)
{
  for (guint i = 0; i < relay->lans->len; i++)
    {
      const Lan *lan = &g_array_index (relay->lans, Lan, i);
      if (lan->ifindex == ifindex)
        return carries (lan, service);
    }
  return FALSE;
}

static gboolean
is_own_address (MoatRelay *relay, uint32_t address)
{
  for (guint i = 0; i < relay->addresses->len; i++)
    if (g_array_index (relay->addresses, uint32_t, i) == address)
      return TRUE;
  return FALSE;
}

static gboolean
set_option (int fd, int level, int option, int value, GError **error)
{
  if (setsockopt (fd, level, option, &value, sizeof value) < 0)
    return moat_error_errno (error, errno, "set an option of", "the discovery socket");
  return TRUE;
}

/* A socket for GROUP, bound to PORT (0: any) on every hub address, marked for the host
 * firewall. Multicast it sends is not looped back to the hub, and it hears only the groups it
 * joined itself. */
static int
open_socket (uint32_t group, guint16 port, GError **error)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return moat_error_errno (error, errno, "create", "a discovery socket"), -1;
  struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons (port) };
  if (!set_option (fd, SOL_SOCKET, SO_MARK, MOAT_RELAY_MARK, error)
      || !set_option (fd, SOL_SOCKET, SO_BROADCAST, 1, error)
      || !set_option (fd, IPPROTO_IP, IP_PKTINFO, 1, error)
      || !set_option (fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0, error)
      || !set_option (fd, IPPROTO_IP, IP_MULTICAST_ALL, 0, error)
      /* mDNS receivers drop what does not arrive with TTL 255; SSDP asks for 2. */
      || !set_option (fd, IPPROTO_IP, IP_MULTICAST_TTL, group == MDNS_GROUP ? 255 : 2, error))
    return close (fd), -1;
  if (bind (fd, (struct sockaddr *)&any, sizeof any) < 0)
    {
      g_autofree char *what = g_strdup_printf ("*:%u/udp", port);
      moat_error_errno (error, errno, "bind", what);
      return close (fd), -1;
    }
  return fd;
}

/* Join (or leave) SERVICE's group on IFINDEX. The kernel keeps a socket's membership of an
 * interface that is gone, and allows a socket net.ipv4.igmp_max_memberships of them (20 by
 * default): every one that is no longer needed is left. */
static gboolean
membership (Service *service, int ifindex, gboolean join, GError **error)
{
  if (service->group == MOAT_DISCOVER_BROADCAST)
    return TRUE;
  struct ip_mreqn request
      = { .imr_multiaddr.s_addr = htonl (service->group), .imr_ifindex = ifindex };
  int option = join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP;
  if (setsockopt (service->fd, IPPROTO_IP, option, &request, sizeof request) == 0
      || (join && errno == EADDRINUSE))
    return TRUE;
  g_autofree char *what = g_strdup_printf ("interface %d", ifindex);
  return moat_error_errno (error, errno, join ? "join the discovery group on" : "leave", what);
}

/* Join the group on every LAN interface it is not joined on yet; leave the ones gone. */
static void
join_lans (MoatRelay *relay, Service *service)
{
  for (guint i = service->joined->len; i > 0; i--)
    {
      int ifindex = g_array_index (service->joined, int, i - 1);
      if (!is_lan (relay, service, ifindex))
        {
          membership (service, ifindex, FALSE, NULL);
          g_array_remove_index_fast (service->joined, i - 1);
        }
    }
  for (guint i = 0; i < relay->lans->len; i++)
    {
      const Lan *lan = &g_array_index (relay->lans, Lan, i);
      int ifindex = lan->ifindex;
      gboolean joined = FALSE;
      for (guint j = 0; j < service->joined->len; j++)
        joined |= g_array_index (service->joined, int, j) == ifindex;
      g_autoptr (GError) error = NULL;
      if (!joined && carries (lan, service) && membership (service, ifindex, TRUE, &error))
        g_array_append_val (service->joined, ifindex);
      else if (error != NULL)
        g_debug ("relay: %s", error->message);
    }
}

/* A message of one buffer to or from PEER, with room for one IP_PKTINFO. */
typedef struct
{
  struct iovec iov;
  union
  {
    char buf[CMSG_SPACE (sizeof (struct in_pktinfo))];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
} Message;

static void
message_init (Message *m, struct sockaddr_in *peer, void *data, size_t len)
{
  memset (m, 0, sizeof *m);
  m->iov = (struct iovec){ data, len };
  m->msg = (struct msghdr){ .msg_name = peer,
                            .msg_namelen = sizeof *peer,
                            .msg_iov = &m->iov,
                            .msg_iovlen = 1,
                            .msg_control = m->control.buf,
                            .msg_controllen = sizeof m->control.buf };
}

/* One datagram from FD; FALSE when there is none (or it was too long, or carried no
 * interface). */
static gboolean
receive (int fd, Datagram *d)
{
  struct sockaddr_in from;
  Message m;
  message_init (&m, &from, d->data, sizeof d->data);
  ssize_t n = recvmsg (fd, &m.msg, MSG_DONTWAIT);
  if (n < 0)
    return FALSE;
  d->ifindex = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&m.msg); c != NULL; c = CMSG_NXTHDR (&m.msg, c))
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
      {
        struct in_pktinfo info;
        memcpy (&info, CMSG_DATA (c), sizeof info);
        d->ifindex = info.ipi_ifindex;
      }
  d->len = n;
  d->source = ntohl (from.sin_addr.s_addr);
  d->source_port = ntohs (from.sin_port);
  return (m.msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0 && d->ifindex > 0
         && m.msg.msg_namelen == sizeof from;
}

/* Send D's payload from FD to ADDRESS:PORT out of interface IFINDEX. */
static gboolean
send_out (int fd, const Datagram *d, uint32_t address, guint16 port, int ifindex)
{
  struct sockaddr_in to
      = { .sin_family = AF_INET, .sin_port = htons (port), .sin_addr.s_addr = htonl (address) };
  Message m;
  message_init (&m, &to, (void *)d->data, d->len);
  struct cmsghdr *c = CMSG_FIRSTHDR (&m.msg);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_PKTINFO;
  c->cmsg_len = CMSG_LEN (sizeof (struct in_pktinfo));
  struct in_pktinfo info = { .ipi_ifindex = ifindex };
  memcpy (CMSG_DATA (c), &info, sizeof info);
  if (sendmsg (fd, &m.msg, MSG_DONTWAIT) == (ssize_t)d->len)
    return TRUE;
  g_debug ("relay: send to interface %d: %s", ifindex, g_strerror (errno));
  return FALSE;
}

/* Whether BUCKET (RATE a second, at most BURST at once) lets one more datagram through now. */
static gboolean
take_token (Bucket *bucket, double rate, double burst)
{
  gint64 now = g_get_monotonic_time ();
  bucket->tokens = MIN (burst, bucket->tokens + (now - bucket->refilled) * rate / 1e6);
  bucket->refilled = now;
  if (bucket->tokens < 1)
    return FALSE;
  bucket->tokens -= 1;
  return TRUE;
}

static gboolean
member_uses (const Member *member, const Service *service)
{
  for (guint i = 0; i < member->services->len; i++)
    if (member->services->pdata[i] == service)
      return TRUE;
  return FALSE;
}

/* To the LAN: D's payload to the group from FD, out of every LAN interface. */
static void
relay_up (MoatRelay *relay, Member *member, Service *service, int fd, const Datagram *d)
{
  gboolean sent = FALSE;
  for (guint i = 0; i < relay->lans->len; i++)
    {
      const Lan *lan = &g_array_index (relay->lans, Lan, i);
      if (carries (lan, service))
        sent |= send_out (fd, d, service->group, service->port, lan->ifindex);
    }
  if (sent)
    member->relayed_out++;
}

static void
exchange_free (Exchange *exchange)
{
  g_clear_handle_id (&exchange->source, g_source_remove);
  g_clear_handle_id (&exchange->timer, g_source_remove);
  if (exchange->fd >= 0)
    close (exchange->fd);
  g_free (exchange);
}

static gboolean
on_exchange_expired (gpointer data)
{
  Exchange *exchange = data;
  exchange->timer = 0;
  g_ptr_array_remove (exchange->relay->exchanges, exchange);
  return G_SOURCE_REMOVE;
}

/* A unicast reply from the LAN to a query a sandbox sent: back to that sandbox and port. */
static gboolean
on_exchange_readable (int fd, GIOCondition condition, gpointer data)
{
  Exchange *exchange = data;
  Service *service = exchange->service;
  Datagram d;
  for (int i = 0; i < 16 && receive (fd, &d); i++)
    if (is_lan (exchange->relay, service, d.ifindex)
        && take_token (&service->lan, LAN_RATE, LAN_BURST)
        && send_out (service->fd, &d, exchange->member->address, exchange->sandbox_port,
                     exchange->member->ifindex))
      exchange->member->relayed_in++;
  return G_SOURCE_CONTINUE;
}

/* The exchange for queries from MEMBER's port PORT to SERVICE, made if there is none and the
 * sandbox has room for one; its lifetime starts again. */
static Exchange *
exchange_for (MoatRelay *relay, Member *member, Service *service, guint16 port)
{
  Exchange *exchange = NULL;
  guint count = 0;
  for (guint i = 0; i < relay->exchanges->len; i++)
    {
      Exchange *e = relay->exchanges->pdata[i];
      count += e->member == member;
      if (e->member == member && e->service == service && e->sandbox_port == port)
        exchange = e;
    }
  if (exchange == NULL)
    {
      g_autoptr (GError) error = NULL;
      int fd = count < EXCHANGES_PER_SANDBOX ? open_socket (service->group, 0, &error) : -1;
      if (fd < 0)
        return NULL;
      exchange = g_new0 (Exchange, 1);
      *exchange = (Exchange){ relay, member, service, port, fd, 0, 0 };
      exchange->source = g_unix_fd_add (fd, G_IO_IN, on_exchange_readable, exchange);
      g_ptr_array_add (relay->exchanges, exchange);
    }
  g_clear_handle_id (&exchange->timer, g_source_remove);
  exchange->timer = g_timeout_add_seconds (EXCHANGE_SECONDS, on_exchange_expired, exchange);
  return exchange;
}

static void
from_sandbox (MoatRelay *relay, Member *member, Service *service, const Datagram *d)
{
  if (d->source != member->address || !member_uses (member, service)
      || !take_token (&member->out, SANDBOX_RATE, SANDBOX_BURST))
    return;
  if (d->source_port == service->port)
    {
      relay_up (relay, member, service, service->fd, d);
      return;
    }
  Exchange *exchange = exchange_for (relay, member, service, d->source_port);
  if (exchange != NULL)
    relay_up (relay, member, service, exchange->fd, d);
}

static void
from_lan (MoatRelay *relay, Service *service, const Datagram *d)
{
  for (guint i = 0; i < relay->members->len; i++)
    {
      Member *member = relay->members->pdata[i];
      if (member_uses (member, service)
          && send_out (service->fd, d, service->group, service->port, member->ifindex))
        member->relayed_in++;
    }
}

static gboolean
on_service_readable (int fd, GIOCondition condition, gpointer data)
{
  Service *service = data;
  MoatRelay *relay = service->relay;
  Datagram d;
  for (int n = 0; n < 16 && receive (fd, &d); n++)
    {
      Member *member = NULL;
      for (guint i = 0; i < relay->members->len; i++)
        if (((Member *)relay->members->pdata[i])->ifindex == d.ifindex)
          member = relay->members->pdata[i];
      if (member != NULL)
        from_sandbox (relay, member, service, &d);
      /* Only LAN traffic may spend the protocol's tokens; the hub's own is never relayed. */
      else if (is_lan (relay, service, d.ifindex) && !is_own_address (relay, d.source)
               && take_token (&service->lan, LAN_RATE, LAN_BURST))
        from_lan (relay, service, &d);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_refresh (gpointer data)
{
  MoatRelay *relay = data;
  read_interfaces (relay);
  for (guint i = 0; i < relay->services->len; i++)
    join_lans (relay, relay->services->pdata[i]);
  return G_SOURCE_CONTINUE;
}

static void
service_free (Service *service)
{
  g_clear_handle_id (&service->source, g_source_remove);
  close (service->fd);
  g_array_unref (service->joined);
  g_free (service);
}

static void
member_free (Member *member)
{
  g_ptr_array_unref (member->services);
  g_free (member->name);
  g_free (member);
}

MoatRelay *
moat_relay_new (void)
{
  MoatRelay *relay = g_new0 (MoatRelay, 1);
  relay->services = g_ptr_array_new_with_free_func ((GDestroyNotify)service_free);
  relay->members = g_ptr_array_new_with_free_func ((GDestroyNotify)member_free);
  relay->exchanges = g_ptr_array_new_with_free_func ((GDestroyNotify)exchange_free);
  relay->lans = g_array_new (FALSE, FALSE, sizeof (Lan));
  relay->addresses = g_array_new (FALSE, FALSE, sizeof (uint32_t));
  return relay;
}

void
moat_relay_free (MoatRelay *relay)
{
  if (relay == NULL)
    return;
  g_ptr_array_unref (relay->exchanges);
  g_ptr_array_unref (relay->members);
  g_ptr_array_unref (relay->services);
  g_array_unref (relay->lans);
  g_array_unref (relay->addresses);
  g_clear_handle_id (&relay->refresh_timer, g_source_remove);
  g_free (relay);
}

/* Room for a group membership per LAN interface and per sandbox on each socket. Best effort:
 * at the default, joins past 20 fail, and the sandbox's start with them. */
static void
raise_membership_limit (void)
{
  const char *path = "/proc/sys/net/ipv4/igmp_max_memberships";
  g_autofree char *text = NULL;
  guint64 limit = 0;
  if (!g_file_get_contents (path, &text, NULL, NULL)
      || !g_ascii_string_to_unsigned (g_strstrip (text), 10, 0, G_MAXINT, &limit, NULL)
      || limit >= MEMBERSHIPS_WANTED)
    return;
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  g_autofree char *wanted = g_strdup_printf ("%d\n", MEMBERSHIPS_WANTED);
  if (write (fd, wanted, strlen (wanted)) < 0)
    g_debug ("relay: raise %s: %s", path, g_strerror (errno));
  close (fd);
}

/* The service for D, opened (and joined on the LAN) when no sandbox used it yet. */
static Service *
service_for (MoatRelay *relay, const MoatDiscover *d, GError **error)
{
  for (guint i = 0; i < relay->services->len; i++)
    {
      Service *service = relay->services->pdata[i];
      if (service->group == d->group && service->port == d->port)
        return service;
    }
  int fd = open_socket (d->group, d->port, error);
  if (fd < 0)
    return NULL;
  if (relay->refresh_timer == 0)
    {
      raise_membership_limit ();
      read_interfaces (relay);
      relay->refresh_timer = g_timeout_add_seconds (REFRESH_SECONDS, on_refresh, relay);
    }
  Service *service = g_new0 (Service, 1);
  *service = (Service){ relay,
                        d->group,
                        d->port,
                        fd,
                        0,
                        0,
                        { LAN_BURST, g_get_monotonic_time () },
                        g_array_new (FALSE, FALSE, sizeof (int)) };
  service->source = g_unix_fd_add (fd, G_IO_IN, on_service_readable, service);
  join_lans (relay, service);
  g_ptr_array_add (relay->services, service);
  return service;
}

static Member *
find_member (MoatRelay *relay, const char *name)
{
  for (guint i = 0; i < relay->members->len; i++)
    if (g_str_equal (((Member *)relay->members->pdata[i])->name, name))
      return relay->members->pdata[i];
  return NULL;
}

gboolean
moat_relay_attach (MoatRelay *relay, const char *name, const char *ifname, uint32_t address,
                   GPtrArray *discover, GError **error)
{
  moat_relay_detach (relay, name);
  int ifindex = if_nametoindex (ifname);
  if (ifindex == 0)
    return moat_error_errno (error, errno, "find interface", ifname);
  Member *member = g_new0 (Member, 1);
  *member = (Member){ g_strdup (name),
                      ifindex,
                      address,
                      g_ptr_array_new (),
                      { SANDBOX_BURST, g_get_monotonic_time () },
                      0,
                      0 };
  g_ptr_array_add (relay->members, member);
  for (guint i = 0; i < discover->len; i++)
    {
      Service *service = service_for (relay, discover->pdata[i], error);
      if (service != NULL)
        {
          service->users++;
          g_ptr_array_add (member->services, service);
        }
      /* Without the membership the kernel drops the sandbox's multicast before the relay. */
      if (service == NULL || !membership (service, ifindex, TRUE, error))
        {
          moat_relay_detach (relay, name);
          return FALSE;
        }
    }
  return TRUE;
}

void
moat_relay_detach (MoatRelay *relay, const char *name)
{
  Member *member = find_member (relay, name);
  if (member == NULL)
    return;
  for (guint i = relay->exchanges->len; i > 0; i--)
    if (((Exchange *)relay->exchanges->pdata[i - 1])->member == member)
      g_ptr_array_remove_index (relay->exchanges, i - 1);
  for (guint i = 0; i < member->services->len; i++)
    {
      Service *service = member->services->pdata[i];
      if (--service->users == 0)
        g_ptr_array_remove (relay->services, service);
      else
        membership (service, member->ifindex, FALSE, NULL);
    }
  g_ptr_array_remove (relay->members, member);
  if (relay->services->len == 0)
    g_clear_handle_id (&relay->refresh_timer, g_source_remove);
}

gboolean
moat_relay_counts (MoatRelay *relay, const char *name, guint64 *ret_out, guint64 *ret_in)
{
  Member *member = relay != NULL ? find_member (relay, name) : NULL;
  if (member == NULL)
    return FALSE;
  *ret_out = member->relayed_out;
  *ret_in = member->relayed_in;
  return TRUE;
}
