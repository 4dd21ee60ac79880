/* thermostatd: bridges a serial thermostat to MQTT. Every --interval seconds it asks the
 * device for a reading (README.md has the line protocol) and publishes the answer as JSON.
 * The device and the broker may each go away and come back: thermostatd reopens and
 * reconnects on its own and only exits when told to. Once the broker has acknowledged a
 * reading it writes the time to LAST_READING, which `thermostatd --check` reads for the
 * health check.
 *
 * One thread, one ppoll() loop over the serial fd and libmosquitto's socket. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reading.h"
#include "serial.h"

#define LAST_READING "/tmp/last-reading"
#define REOPEN_MS 2000
#define CONNECT_TIMEOUT_MS 10000
#define BACKOFF_MAX_MS 30000
#define KEEPALIVE_S 30
/* Skipped answers logged in full per interval; the rest are only counted. */
#define SKIP_LOGS_PER_INTERVAL 3

typedef struct
{
  const char *device;
  const char *broker;
  int port;
  int interval; /* seconds */
  const char *topic;
} Options;

typedef struct
{
  Options options;

  int serial_fd; /* -1 while closed */
  SerialLines lines;
  int64_t reopen_at;
  int open_errno; /* the last failure logged, so that retries stay quiet */
  int64_t request_at;
  bool awaiting; /* READ sent, not answered yet */
  bool silence_logged;
  int skipped; /* answers skipped since the last request */

  struct mosquitto *mqtt;
  bool connected;           /* the broker accepted us (CONNACK) */
  int64_t connect_at;       /* next attempt; INT64_MAX while one is under way or up */
  int64_t connect_deadline; /* when an attempt without CONNACK is given up; 0: none */
  int backoff_ms;
  char broker_error[128];
} Daemon;

static volatile sig_atomic_t stop_requested;

__attribute__ ((format (printf, 1, 2))) static void
say (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  fputs ("thermostatd: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
}

static int64_t
clock_ms (clockid_t clock)
{
  struct timespec ts;
  clock_gettime (clock, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
now_ms (void)
{
  return clock_ms (CLOCK_MONOTONIC);
}

/* --- health ---------------------------------------------------------------------------- */

/* Boot time, not wall time: the check compares two readings of the same clock, and NTP
 * setting the wall clock after boot must neither fail nor pass it. */
static void
record_acknowledged (void)
{
  char text[32];
  int len = snprintf (text, sizeof text, "%" PRId64 "\n", clock_ms (CLOCK_BOOTTIME) / 1000);
  int fd = open (LAST_READING ".new", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write (fd, text, len) == len;
  if (fd >= 0)
    close (fd);
  if (!ok || rename (LAST_READING ".new", LAST_READING) < 0)
    say ("write '%s': %s", LAST_READING, strerror (errno));
}

/* --check MAX_AGE: exit 0 when the broker acknowledged a reading in the last MAX_AGE s. */
static int
check_health (int max_age)
{
  char text[32] = "";
  FILE *file = fopen (LAST_READING, "re");
  if (file == NULL)
    {
      fprintf (stderr, "thermostatd: no reading acknowledged yet (%s: %s)\n", LAST_READING,
               strerror (errno));
      return 1;
    }
  bool read_ok = fgets (text, sizeof text, file) != NULL;
  fclose (file);
  char *end;
  errno = 0;
  long long stamp = read_ok ? strtoll (text, &end, 10) : 0;
  if (!read_ok || errno != 0 || end == text || *end != '\n')
    {
      fprintf (stderr, "thermostatd: %s does not hold a time\n", LAST_READING);
      return 1;
    }
  long long age = clock_ms (CLOCK_BOOTTIME) / 1000 - stamp;
  if (age > max_age)
    {
      fprintf (stderr, "thermostatd: last reading acknowledged %llds ago (limit %ds)\n", age,
               max_age);
      return 1;
    }
  return 0;
}

/* --- the broker ------------------------------------------------------------------------ */

static const char *
mqtt_error (int rc)
{
  if (rc == MOSQ_ERR_ERRNO)
    return strerror (errno);
  /* libmosquitto leaves getaddrinfo()'s code in errno. */
  if (rc == MOSQ_ERR_EAI)
    return gai_strerror (errno);
  return mosquitto_strerror (rc);
}

/* The connection attempt or connection failed: log it (once, until the reason changes or the
 * broker works again) and schedule the next attempt. Several paths report one failure
 * (the disconnect callback, the loop's return codes); the first one counts. */
static void
broker_failed (Daemon *d, const char *what)
{
  if (d->connect_at != INT64_MAX || stop_requested)
    return;
  if (strcmp (what, d->broker_error) != 0)
    say ("broker %s:%d: %s; retrying", d->options.broker, d->options.port, what);
  snprintf (d->broker_error, sizeof d->broker_error, "%s", what);
  d->connected = false;
  d->connect_deadline = 0;
  d->connect_at = now_ms () + d->backoff_ms;
  d->backoff_ms = d->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d->backoff_ms * 2;
}

static void
on_connect (struct mosquitto *mqtt, void *data, int rc)
{
  (void)mqtt;
  Daemon *d = data;
  if (rc != 0)
    {
      broker_failed (d, mosquitto_connack_string (rc));
      return;
    }
  say ("broker %s:%d: connected", d->options.broker, d->options.port);
  d->connected = true;
  d->connect_deadline = 0;
  d->backoff_ms = 1000;
  d->broker_error[0] = '\0';
}

static void
on_disconnect (struct mosquitto *mqtt, void *data, int rc)
{
  (void)mqtt;
  broker_failed (data, rc == 0 ? "disconnected" : "connection lost");
}

static void
on_publish (struct mosquitto *mqtt, void *data, int mid)
{
  (void)mqtt, (void)data, (void)mid;
  record_acknowledged ();
}

/* Start a connection without blocking on TCP (the name is looked up in /etc/hosts); CONNACK
 * arrives through the loop. libmosquitto closes the previous socket, if any, first. */
static void
broker_connect (Daemon *d)
{
  d->connect_at = INT64_MAX;
  d->connect_deadline = now_ms () + CONNECT_TIMEOUT_MS;
  int rc = mosquitto_connect_async (d->mqtt, d->options.broker, d->options.port, KEEPALIVE_S);
  if (rc != MOSQ_ERR_SUCCESS)
    broker_failed (d, mqtt_error (rc));
}

static void
publish (Daemon *d, const Reading *reading)
{
  char json[256];
  int len = reading_to_json (reading, time (NULL), json, sizeof json);
  if (len < 0)
    {
      say ("cannot format the reading");
      return;
    }
  if (!d->connected)
    return; /* broker_failed() has said why; readings are live data, not queued */
  int rc = mosquitto_publish (d->mqtt, NULL, d->options.topic, len, json, 1, false);
  if (rc != MOSQ_ERR_SUCCESS)
    say ("publish to %s: %s", d->options.topic, mqtt_error (rc));
}

/* --- the device ------------------------------------------------------------------------ */

static void
serial_close (Daemon *d, const char *why)
{
  say ("'%s': %s; reopening", d->options.device, why);
  close (d->serial_fd);
  d->serial_fd = -1;
  d->awaiting = false;
  d->reopen_at = now_ms () + REOPEN_MS;
}

static void
serial_reopen (Daemon *d)
{
  const char *step = "open";
  d->serial_fd = serial_open (d->options.device, &step);
  if (d->serial_fd < 0)
    {
      if (errno != d->open_errno)
        say ("%s '%s': %s; retrying every %ds", step, d->options.device, strerror (errno),
             REOPEN_MS / 1000);
      d->open_errno = errno;
      d->reopen_at = now_ms () + REOPEN_MS;
      return;
    }
  say ("'%s': open, 9600 8N1", d->options.device);
  d->open_errno = 0;
  d->lines = (SerialLines){ 0 };
  d->request_at = now_ms ();
}

static void
skip (Daemon *d, const char *line, const char *why)
{
  if (d->skipped++ < SKIP_LOGS_PER_INTERVAL)
    say ("skipped answer '%s': %s", line, why);
}

/* The first line after a READ is its answer, good or bad; a line nobody asked for is skipped
 * even when it parses, so that a chattering device cannot flood the broker. */
static void
handle_line (Daemon *d, SerialEvent event)
{
  bool answer = d->awaiting;
  Reading reading;
  char why[128];
  d->awaiting = false;
  if (answer)
    d->silence_logged = false;
  if (event == SERIAL_OVERLONG)
    {
      snprintf (why, sizeof why, "longer than %d bytes", READING_LINE_MAX);
      skip (d, d->lines.line, why);
    }
  else if (!reading_parse (d->lines.line, &reading, why, sizeof why))
    skip (d, d->lines.line, why);
  else if (!answer)
    skip (d, d->lines.line, "not an answer to READ");
  else
    publish (d, &reading);
}

static void
serial_readable (Daemon *d)
{
  char buf[256];
  ssize_t n = read (d->serial_fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      serial_close (d, n == 0 ? "hung up" : strerror (errno));
      return;
    }
  for (ssize_t i = 0; i < n; i++)
    {
      SerialEvent event = serial_lines_push (&d->lines, buf[i]);
      if (event != SERIAL_MORE)
        handle_line (d, event);
    }
}

/* Ask for the next reading, and say once when the device stopped answering. */
static void
request_reading (Daemon *d)
{
  d->request_at += (int64_t)d->options.interval * 1000;
  if (d->request_at < now_ms ())
    d->request_at = now_ms () + (int64_t)d->options.interval * 1000;
  if (d->skipped > SKIP_LOGS_PER_INTERVAL)
    say ("skipped %d more answers", d->skipped - SKIP_LOGS_PER_INTERVAL);
  d->skipped = 0;
  if (d->awaiting && !d->silence_logged)
    {
      say ("'%s': no answer to READ within %ds", d->options.device, d->options.interval);
      d->silence_logged = true;
    }
  static const char request[] = "READ\n";
  ssize_t n = write (d->serial_fd, request, sizeof request - 1);
  if (n < 0 && errno != EAGAIN)
    serial_close (d, strerror (errno));
  else
    d->awaiting = true;
}

/* --- the loop -------------------------------------------------------------------------- */

static int
ms_until (int64_t deadline, int64_t now)
{
  if (deadline <= now)
    return 0;
  return deadline - now > 1000 ? 1000 : (int)(deadline - now);
}

/* Whatever is due: reopen the device, (re)connect, give up on a silent broker, ask for a
 * reading. Returns how long poll may sleep; at most a second, for libmosquitto's keepalive. */
static int
run_timers (Daemon *d)
{
  int64_t now = now_ms ();
  if (d->serial_fd < 0 && now >= d->reopen_at)
    serial_reopen (d);
  if (now >= d->connect_at)
    broker_connect (d);
  if (d->connect_deadline != 0 && !d->connected && now >= d->connect_deadline)
    {
      broker_failed (d, "no answer to CONNECT");
      mosquitto_disconnect (d->mqtt);
    }
  if (d->serial_fd >= 0 && now >= d->request_at)
    request_reading (d);
  int timeout = 1000;
  if (d->serial_fd < 0)
    timeout = ms_until (d->reopen_at, now);
  else if (ms_until (d->request_at, now) < timeout)
    timeout = ms_until (d->request_at, now);
  return timeout;
}

static void
mqtt_io (Daemon *d, short revents)
{
  int rc = MOSQ_ERR_SUCCESS;
  if (revents & (POLLIN | POLLHUP | POLLERR))
    rc = mosquitto_loop_read (d->mqtt, 1);
  if (rc == MOSQ_ERR_SUCCESS && (revents & POLLOUT))
    rc = mosquitto_loop_write (d->mqtt, 1);
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
    broker_failed (d, mqtt_error (rc));
}

static void
on_signal (int signo)
{
  (void)signo;
  stop_requested = 1;
}

/* SIGTERM and SIGINT are blocked but inside ppoll(), so a stop never waits for a timeout. */
static int
run (Daemon *d)
{
  sigset_t blocked, during_poll;
  struct sigaction action = { .sa_handler = on_signal };
  sigemptyset (&blocked);
  sigaddset (&blocked, SIGTERM);
  sigaddset (&blocked, SIGINT);
  sigprocmask (SIG_BLOCK, &blocked, &during_poll);
  sigaction (SIGTERM, &action, NULL);
  sigaction (SIGINT, &action, NULL);
  signal (SIGPIPE, SIG_IGN);

  while (!stop_requested)
    {
      int timeout = run_timers (d);
      struct pollfd fds[2] = { { .fd = d->serial_fd, .events = POLLIN },
                               { .fd = mosquitto_socket (d->mqtt), .events = POLLIN } };
      if (mosquitto_want_write (d->mqtt))
        fds[1].events |= POLLOUT;
      struct timespec wait = { .tv_sec = timeout / 1000, .tv_nsec = timeout % 1000 * 1000000L };
      if (ppoll (fds, 2, &wait, &during_poll) < 0 && errno != EINTR)
        {
          say ("poll: %s", strerror (errno));
          return 1;
        }
      if (fds[0].fd >= 0 && fds[0].revents != 0)
        serial_readable (d);
      if (fds[1].fd >= 0 && fds[1].revents != 0)
        mqtt_io (d, fds[1].revents);
      int rc = mosquitto_loop_misc (d->mqtt);
      if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
        broker_failed (d, mqtt_error (rc));
    }
  say ("stopping");
  if (d->connected)
    mosquitto_disconnect (d->mqtt);
  return 0;
}

/* --- options --------------------------------------------------------------------------- */

static void
usage (FILE *out)
{
  fputs ("usage: thermostatd [--device PATH] [--broker HOST] [--port PORT] [--interval SECONDS]\n"
         "                   [--topic TOPIC]\n"
         "       thermostatd --check MAX_AGE\n"
         "Publish the serial thermostat's readings to MQTT; --check exits 0 when the broker\n"
         "acknowledged one in the last MAX_AGE seconds.\n",
         out);
}

/* Read a decimal number MIN..MAX from the argument of OPTION, or say which token is wrong. */
static bool
parse_number (const char *option, const char *text, int min, int max, int *ret_value)
{
  char *end;
  errno = 0;
  long value = strtol (text, &end, 10);
  if (*text < '0' || *text > '9' || *end != '\0' || errno != 0 || value < min || value > max)
    {
      fprintf (stderr, "thermostatd: --%s: '%s' is not a number %d..%d\n", option, text, min, max);
      return false;
    }
  *ret_value = (int)value;
  return true;
}

/* Returns 0 to run, 1 to exit 0 (--help), 2 on a usage error; *RET_CHECK is --check's value. */
static int
parse_options (int argc, char **argv, Options *options, int *ret_check)
{
  static const struct option longopts[] = {
    { "device", required_argument, NULL, 'd' }, { "broker", required_argument, NULL, 'b' },
    { "port", required_argument, NULL, 'p' },   { "interval", required_argument, NULL, 'i' },
    { "topic", required_argument, NULL, 't' },  { "check", required_argument, NULL, 'c' },
    { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
  };
  int opt, index;
  while ((opt = getopt_long (argc, argv, "", longopts, &index)) != -1)
    {
      bool ok = true;
      switch (opt)
        {
        case 'd':
          options->device = optarg;
          break;
        case 'b':
          options->broker = optarg;
          break;
        case 't':
          options->topic = optarg;
          break;
        case 'p':
          ok = parse_number ("port", optarg, 1, 65535, &options->port);
          break;
        case 'i':
          ok = parse_number ("interval", optarg, 1, 3600, &options->interval);
          break;
        case 'c':
          ok = parse_number ("check", optarg, 1, 86400, ret_check);
          break;
        case 'h':
          usage (stdout);
          return 1;
        default:
          ok = false;
        }
      if (!ok)
        return 2;
    }
  if (optind < argc)
    {
      fprintf (stderr, "thermostatd: unexpected argument '%s'\n", argv[optind]);
      return 2;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  Daemon d = {
    .options = { .device = "/dev/ttyUSB0",
                 .broker = "mqtt",
                 .port = 1883,
                 .interval = 5,
                 .topic = "home/thermostat/reading" },
    .serial_fd = -1,
    .backoff_ms = 1000,
  };
  int check = 0;
  switch (parse_options (argc, argv, &d.options, &check))
    {
    case 1:
      return 0;
    case 2:
      usage (stderr);
      return 2;
    }
  if (check > 0)
    return check_health (check);

  mosquitto_lib_init ();
  d.mqtt = mosquitto_new ("thermostat", true, &d);
  if (d.mqtt == NULL)
    {
      say ("mosquitto_new: %s", strerror (errno));
      return 1;
    }
  mosquitto_connect_callback_set (d.mqtt, on_connect);
  mosquitto_disconnect_callback_set (d.mqtt, on_disconnect);
  mosquitto_publish_callback_set (d.mqtt, on_publish);
  say ("publishing '%s' every %ds to %s:%d, topic %s", d.options.device, d.options.interval,
       d.options.broker, d.options.port, d.options.topic);
  int status = run (&d);
  mosquitto_destroy (d.mqtt);
  mosquitto_lib_cleanup ();
  if (d.serial_fd >= 0)
    close (d.serial_fd);
  return status;
}
