/* netperf: the network benchmark's TCP throughput and round-trip tool (tests/bench/net-run).
 * Static, so that the same binary runs inside a sandbox's busybox root and on the host.
 *
 *   netperf serve PORT                    serve clients one after another, until SIGTERM
 *   netperf stream HOST PORT SECONDS      send for SECONDS; print "BYTES SECONDS MB/s"
 *   netperf rr HOST PORT COUNT SIZE       COUNT round trips of SIZE bytes; print each in ns
 *
 * A client's first byte says what it wants: 's' (the server reads to EOF, then answers with the
 * byte count as 8 bytes, so a stream is timed until the last byte has arrived) or 'r' followed
 * by a 4-byte size (the server echoes each message of that size until EOF). */

#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_CHUNK (128 * 1024)
#define MAX_MESSAGE 65536
#define IO_TIMEOUT_S 10

static char buffer[STREAM_CHUNK];

static void
die (const char *what)
{
  fprintf (stderr, "netperf: %s: %s\n", what, strerror (errno));
  exit (1);
}

static void
usage (void)
{
  fputs ("usage: netperf serve PORT | stream HOST PORT SECONDS | rr HOST PORT COUNT SIZE\n",
         stderr);
  exit (2);
}

static long
number (const char *text, long min, long max)
{
  char *end;
  errno = 0;
  long value = strtol (text, &end, 10);
  if (errno != 0 || *text == '\0' || *end != '\0' || value < min || value > max)
    {
      fprintf (stderr, "netperf: '%s' is not a number in %ld..%ld\n", text, min, max);
      exit (2);
    }
  return value;
}

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Read exactly SIZE bytes; 0 on EOF before the first byte, -1 on EOF or error after it. */
static int
read_full (int fd, void *data, size_t size)
{
  size_t done = 0;
  while (done < size)
    {
      ssize_t n = read (fd, (char *)data + done, size - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return done == 0 && n == 0 ? 0 : -1;
      done += (size_t)n;
    }
  return 1;
}

static int
write_full (int fd, const void *data, size_t size)
{
  size_t done = 0;
  while (done < size)
    {
      ssize_t n = write (fd, (const char *)data + done, size - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      done += (size_t)n;
    }
  return 0;
}

static void
set_timeouts (int fd)
{
  struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void
serve_stream (int fd)
{
  uint64_t total = 0;
  for (;;)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      total += (uint64_t)n;
    }
  write_full (fd, &total, sizeof total);
}

static void
serve_rr (int fd)
{
  uint32_t size;
  if (read_full (fd, &size, sizeof size) != 1 || size == 0 || size > MAX_MESSAGE)
    return;
  while (read_full (fd, buffer, size) == 1)
    if (write_full (fd, buffer, size) < 0)
      return;
}

static void
on_term (int sig)
{
  (void)sig;
  _exit (0);
}

/* One client at a time: the benchmark runs one measurement at a time. As a sandbox's pid 1
 * it needs a SIGTERM handler to stop at `moat stop` without waiting for SIGKILL. */
static void __attribute__ ((noreturn)) serve (int port)
{
  signal (SIGTERM, on_term);
  signal (SIGPIPE, SIG_IGN);
  int listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0)
    die ("socket");
  int one = 1;
  setsockopt (listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t)port) };
  if (bind (listener, (struct sockaddr *)&address, sizeof address) < 0)
    die ("bind");
  if (listen (listener, 16) < 0)
    die ("listen");
  for (;;)
    {
      int fd = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
      if (fd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          die ("accept");
        }
      set_timeouts (fd);
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      char mode;
      if (read_full (fd, &mode, 1) == 1)
        {
          if (mode == 's')
            serve_stream (fd);
          else if (mode == 'r')
            serve_rr (fd);
        }
      close (fd);
    }
}

static int
connect_to (const char *host, const char *port_text)
{
  struct sockaddr_in address
      = { .sin_family = AF_INET, .sin_port = htons ((uint16_t)number (port_text, 1, 65535)) };
  if (inet_pton (AF_INET, host, &address.sin_addr) != 1)
    {
      fprintf (stderr, "netperf: '%s' is not an IPv4 address\n", host);
      exit (2);
    }
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die ("socket");
  set_timeouts (fd);
  if (connect (fd, (struct sockaddr *)&address, sizeof address) < 0)
    die ("connect");
  return fd;
}

static int
stream (const char *host, const char *port, long seconds)
{
  int fd = connect_to (host, port);
  memset (buffer, 0x5a, sizeof buffer);
  uint64_t start = now_ns (), until = start + (uint64_t)seconds * 1000000000u, sent = 0;
  if (write_full (fd, "s", 1) < 0)
    die ("write");
  while (now_ns () < until)
    {
      if (write_full (fd, buffer, sizeof buffer) < 0)
        die ("write");
      sent += sizeof buffer;
    }
  shutdown (fd, SHUT_WR);
  uint64_t received;
  if (read_full (fd, &received, sizeof received) != 1)
    die ("read the server's count");
  double elapsed = (double)(now_ns () - start) / 1e9;
  if (received != sent)
    {
      fprintf (stderr, "netperf: sent %llu bytes, the server got %llu\n", (unsigned long long)sent,
               (unsigned long long)received);
      return 1;
    }
  printf ("%llu %.6f %.1f\n", (unsigned long long)received, elapsed,
          (double)received / elapsed / 1e6);
  return 0;
}

static int
round_trips (const char *host, const char *port, long count, long size)
{
  int fd = connect_to (host, port);
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  uint32_t size32 = (uint32_t)size;
  if (write_full (fd, "r", 1) < 0 || write_full (fd, &size32, sizeof size32) < 0)
    die ("write");
  uint64_t *samples = calloc ((size_t)count, sizeof *samples);
  if (samples == NULL)
    die ("calloc");
  memset (buffer, 0x5a, (size_t)size);
  for (long i = 0; i < count; i++)
    {
      uint64_t start = now_ns ();
      if (write_full (fd, buffer, (size_t)size) < 0)
        die ("write");
      if (read_full (fd, buffer, (size_t)size) != 1)
        die ("read");
      samples[i] = now_ns () - start;
    }
  close (fd);
  for (long i = 0; i < count; i++)
    printf ("%llu\n", (unsigned long long)samples[i]);
  free (samples);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "serve") == 0)
    serve ((int)number (argv[2], 1, 65535));
  if (argc == 5 && strcmp (argv[1], "stream") == 0)
    return stream (argv[2], argv[3], number (argv[4], 1, 600));
  if (argc == 6 && strcmp (argv[1], "rr") == 0)
    return round_trips (argv[2], argv[3], number (argv[4], 1, 10000000),
                        number (argv[5], 1, MAX_MESSAGE));
  usage ();
  return 2;
}
