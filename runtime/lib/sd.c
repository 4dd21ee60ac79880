#include "sd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "moat-error.h"

gboolean
moat_sd_booted (void)
{
  return access ("/run/systemd/system/", F_OK) == 0;
}

/* A socket address for PATH; a leading '@' names an abstract socket, as systemd allows. */
static gboolean
address_of (const char *path, struct sockaddr_un *addr, socklen_t *ret_len)
{
  gsize len = strlen (path);
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (len == 0 || len >= sizeof addr->sun_path || (path[0] != '/' && path[0] != '@'))
    return FALSE;
  memcpy (addr->sun_path, path, len);
  if (path[0] == '@')
    addr->sun_path[0] = '\0';
  *ret_len = (socklen_t)(offsetof (struct sockaddr_un, sun_path) + len + (path[0] == '/'));
  return TRUE;
}

static gboolean
send_datagram (const char *path, const void *data, gsize len, GError **error)
{
  struct sockaddr_un addr;
  socklen_t addr_len;
  if (!address_of (path, &addr, &addr_len))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "bad socket address '%s'", path),
           FALSE;
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return moat_error_errno (error, errno, "create socket for", path);
  ssize_t n = sendto (fd, data, len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
  int errsv = errno;
  close (fd);
  if (n != (ssize_t)len)
    return moat_error_errno (error, n < 0 ? errsv : EMSGSIZE, "send to", path);
  return TRUE;
}

gboolean
moat_sd_notify (const char *state, GError **error)
{
  const char *path = g_getenv ("NOTIFY_SOCKET");
  if (path == NULL)
    return FALSE;
  return send_datagram (path, state, strlen (state), error);
}

gboolean
moat_sd_watchdog_usec (guint64 *ret_usec)
{
  const char *usec = g_getenv ("WATCHDOG_USEC");
  const char *pid = g_getenv ("WATCHDOG_PID");
  guint64 value, owner;
  if (usec == NULL || !g_ascii_string_to_unsigned (usec, 10, 1, G_MAXUINT64, &value, NULL))
    return FALSE;
  if (pid != NULL
      && (!g_ascii_string_to_unsigned (pid, 10, 1, G_MAXINT32, &owner, NULL)
          || owner != (guint64)getpid ()))
    return FALSE;
  *ret_usec = value;
  return TRUE;
}

int
moat_journal_stream_fd (const char *socket_path, const char *identifier, int priority,
                        GError **error)
{
  struct sockaddr_un addr;
  socklen_t addr_len;
  if (!address_of (socket_path, &addr, &addr_len))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "bad socket address '%s'",
                        socket_path),
           -1;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return moat_error_errno (error, errno, "create socket for", socket_path), -1;
  if (connect (fd, (struct sockaddr *)&addr, addr_len) < 0)
    {
      int errsv = errno;
      close (fd);
      return moat_error_errno (error, errsv, "connect to", socket_path), -1;
    }
  shutdown (fd, SHUT_RD);
  /* Identifier, unit (none), priority, level prefix, then forward to syslog, kmsg and
   * console: each a line, before the program's own output. */
  g_autofree char *header = g_strdup_printf ("%s\n\n%d\n0\n0\n0\n0\n", identifier, priority);
  gsize len = strlen (header);
  if (send (fd, header, len, MSG_NOSIGNAL) != (ssize_t)len)
    {
      int errsv = errno;
      close (fd);
      return moat_error_errno (error, errsv, "write to", socket_path), -1;
    }
  return fd;
}

/* A field in the native protocol's binary form, which allows newlines in the value:
 * NAME '\n' little-endian 64-bit length, the value, '\n'. */
static void
add_field (GByteArray *entry, const char *name, const char *value)
{
  guint64 len = GUINT64_TO_LE ((guint64)strlen (value));
  g_byte_array_append (entry, (const guint8 *)name, strlen (name));
  g_byte_array_append (entry, (const guint8 *)"\n", 1);
  g_byte_array_append (entry, (const guint8 *)&len, sizeof len);
  g_byte_array_append (entry, (const guint8 *)value, strlen (value));
  g_byte_array_append (entry, (const guint8 *)"\n", 1);
}

gboolean
moat_journal_send (const char *socket_path, int priority, const char *identifier,
                   const char *sandbox, const char *message, GError **error)
{
  g_autoptr (GByteArray) entry = g_byte_array_new ();
  g_autofree char *priority_text = g_strdup_printf ("%d", priority);
  add_field (entry, "MESSAGE", message);
  add_field (entry, "PRIORITY", priority_text);
  add_field (entry, "SYSLOG_IDENTIFIER", identifier);
  if (sandbox != NULL)
    add_field (entry, "MOAT_SANDBOX", sandbox);
  return send_datagram (socket_path, entry->data, entry->len, error);
}
