/* moat-init --net (net.h). Four rtnetlink requests, each acknowledged by the kernel before the
 * next: what `ip addr add`, `ip link set up` and two `ip route add` would send. */

#include "net.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct
{
  struct nlmsghdr header;
  union
  {
    struct ifinfomsg link;
    struct ifaddrmsg addr;
    struct rtmsg route;
  };
  char attributes[64];
} Request;

static Request
request_new (unsigned short type, unsigned short flags, size_t body)
{
  Request r;
  memset (&r, 0, sizeof r);
  r.header.nlmsg_len = NLMSG_LENGTH (body);
  r.header.nlmsg_type = type;
  r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  return r;
}

/* Append attribute TYPE holding LEN bytes of DATA (the buffer holds the few this file adds). */
static void
add_attribute (Request *r, unsigned short type, const void *data, size_t len)
{
  struct rtattr *attribute = (struct rtattr *)((char *)r + NLMSG_ALIGN (r->header.nlmsg_len));
  attribute->rta_type = type;
  attribute->rta_len = RTA_LENGTH (len);
  memcpy (RTA_DATA (attribute), data, len);
  r->header.nlmsg_len = NLMSG_ALIGN (r->header.nlmsg_len) + RTA_ALIGN (attribute->rta_len);
}

/* Send R and wait for the kernel's acknowledgement; -1 with errno set when it refused. */
static int
transact (int fd, Request *r, unsigned int sequence)
{
  r->header.nlmsg_seq = sequence;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  if (sendto (fd, r, r->header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
    return -1;
  union
  {
    char buf[512];
    struct nlmsghdr align;
  } reply;
  for (;;)
    {
      ssize_t n = recv (fd, reply.buf, sizeof reply.buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      for (struct nlmsghdr *h = &reply.align; NLMSG_OK (h, (size_t)n); h = NLMSG_NEXT (h, n))
        if (h->nlmsg_seq == sequence && h->nlmsg_type == NLMSG_ERROR)
          {
            const struct nlmsgerr *error = NLMSG_DATA (h);
            if (error->error == 0)
              return 0;
            errno = -error->error;
            return -1;
          }
    }
}

const char *
net_configure (const char *ifname, struct in_addr address, struct in_addr gateway)
{
  int ifindex = (int)if_nametoindex (ifname);
  if (ifindex == 0)
    return "find the interface";
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return "open an rtnetlink socket";
  const char *failed = NULL;

  Request r = request_new (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof (struct ifaddrmsg));
  r.addr = (struct ifaddrmsg){ .ifa_family = AF_INET, .ifa_prefixlen = 32, .ifa_index = ifindex };
  add_attribute (&r, IFA_LOCAL, &address, sizeof address);
  add_attribute (&r, IFA_ADDRESS, &address, sizeof address);
  if (transact (fd, &r, 1) < 0)
    failed = "add the address";

  r = request_new (RTM_NEWLINK, 0, sizeof (struct ifinfomsg));
  r.link = (struct ifinfomsg){
    .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP, .ifi_change = IFF_UP
  };
  if (failed == NULL && transact (fd, &r, 2) < 0)
    failed = "bring the interface up";

  /* The gateway on-link, then the default route through it. */
  struct in_addr any = { 0 };
  for (int i = 0; i < 2 && failed == NULL; i++)
    {
      r = request_new (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof (struct rtmsg));
      r.route = (struct rtmsg){ .rtm_family = AF_INET,
                                .rtm_dst_len = i == 0 ? 32 : 0,
                                .rtm_table = RT_TABLE_MAIN,
                                .rtm_protocol = RTPROT_BOOT,
                                .rtm_scope = i == 0 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
                                .rtm_type = RTN_UNICAST };
      add_attribute (&r, RTA_DST, i == 0 ? &gateway : &any, sizeof gateway);
      if (i == 1)
        add_attribute (&r, RTA_GATEWAY, &gateway, sizeof gateway);
      add_attribute (&r, RTA_OIF, &ifindex, sizeof ifindex);
      if (transact (fd, &r, 3 + i) < 0)
        failed = i == 0 ? "route to the gateway" : "add the default route";
    }
  int errsv = errno;
  close (fd);
  errno = errsv;
  return failed;
}
