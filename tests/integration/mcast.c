/* mcast: the LAN discovery traffic of the integration tests, for both ends (a sandbox and a
 * fake LAN host). Static, so that it runs inside the tests' busybox root.
 *
 *   mcast listen GROUP PORT            print every datagram to PORT (joining GROUP when it
 *                                      is multicast) as "from ADDRESS:PORT PAYLOAD"
 *   mcast respond GROUP PORT REPLY     the same, and answer each one with REPLY, unicast
 *   mcast ask ADDRESS PORT FROMPORT MESSAGE SECONDS
 *                                      send MESSAGE from FROMPORT (0: any) and print every
 *                                      reply for SECONDS as "reply from ADDRESS:PORT PAYLOAD"
 *
 * Exit status 0, or 2 with a message when a socket call fails.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void
die (const char *what)
{
  perror (what);
  exit (2);
}

static struct sockaddr_in
address_of (const char *text, const char *port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons (atoi (port)) };
  if (inet_pton (AF_INET, text, &a.sin_addr) != 1)
    {
      fprintf (stderr, "mcast: '%s' is not an IPv4 address\n", text);
      exit (2);
    }
  return a;
}

/* A UDP socket bound to PORT on every address, joined to GROUP when it is multicast. */
static int
open_bound (const char *group, const char *port)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
      || setsockopt (fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0)
    die ("socket");
  struct sockaddr_in any = address_of ("0.0.0.0", port);
  if (bind (fd, (struct sockaddr *)&any, sizeof any) < 0)
    die ("bind");
  struct sockaddr_in g = address_of (group, port);
  if (IN_MULTICAST (ntohl (g.sin_addr.s_addr)))
    {
      struct ip_mreqn request = { .imr_multiaddr = g.sin_addr };
      if (setsockopt (fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request) < 0)
        die ("join");
    }
  return fd;
}

/* One datagram, printed with PREFIX; its source in *FROM. */
static void
receive_one (int fd, const char *prefix, struct sockaddr_in *from)
{
  char data[9000];
  socklen_t len = sizeof *from;
  ssize_t n = recvfrom (fd, data, sizeof data - 1, 0, (struct sockaddr *)from, &len);
  if (n < 0)
    die ("recvfrom");
  data[n] = '\0';
  char text[INET_ADDRSTRLEN];
  printf ("%sfrom %s:%u %s\n", prefix, inet_ntop (AF_INET, &from->sin_addr, text, sizeof text),
          ntohs (from->sin_port), data);
  fflush (stdout);
}

static void __attribute__ ((noreturn))
serve (const char *group, const char *port, const char *reply)
{
  int fd = open_bound (group, port);
  for (;;)
    {
      struct sockaddr_in from;
      receive_one (fd, "", &from);
      if (reply != NULL
          && sendto (fd, reply, strlen (reply), 0, (struct sockaddr *)&from, sizeof from) < 0)
        perror ("sendto");
    }
}

static int
ask (const char *address, const char *port, const char *from_port, const char *message, int seconds)
{
  int fd = open_bound ("0.0.0.0", from_port);
  struct sockaddr_in to = address_of (address, port);
  if (sendto (fd, message, strlen (message), 0, (struct sockaddr *)&to, sizeof to) < 0)
    die ("sendto");
  time_t end = time (NULL) + seconds;
  struct pollfd p = { .fd = fd, .events = POLLIN };
  while (time (NULL) < end)
    if (poll (&p, 1, 200) > 0)
      {
        struct sockaddr_in from;
        receive_one (fd, "reply ", &from);
      }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 4 && strcmp (argv[1], "listen") == 0)
    serve (argv[2], argv[3], NULL);
  if (argc == 5 && strcmp (argv[1], "respond") == 0)
    serve (argv[2], argv[3], argv[4]);
  if (argc == 7 && strcmp (argv[1], "ask") == 0)
    return ask (argv[2], argv[3], argv[4], argv[5], atoi (argv[6]));
  fprintf (stderr, "usage: mcast listen GROUP PORT | respond GROUP PORT REPLY |"
                   " ask ADDRESS PORT FROMPORT MESSAGE SECONDS\n");
  return 2;
}
