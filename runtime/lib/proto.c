#include "proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "json.h"
#include "moat-error.h"

void
moat_request_free (MoatRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->verb);
  g_strfreev (request->args);
  g_free (request);
}

MoatRequest *
moat_request_parse (const char *line, gsize len, GError **error)
{
  if (len == 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "empty request"), NULL;
  if (len > MOAT_PROTO_MAX_REQUEST)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "request longer than %d bytes",
                        MOAT_PROTO_MAX_REQUEST),
           NULL;
  for (gsize i = 0; i < len; i++)
    if (line[i] < 0x20 || line[i] > 0x7e)
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                          "request byte %zu is not printable ASCII", i),
             NULL;

  g_autofree char *copy = g_strndup (line, len);
  g_auto (GStrv) words = g_strsplit (copy, " ", MOAT_PROTO_MAX_ARGS + 2);
  guint n = g_strv_length (words);
  if (n > MOAT_PROTO_MAX_ARGS + 1)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "more than %d arguments",
                        MOAT_PROTO_MAX_ARGS),
           NULL;
  for (guint i = 0; i < n; i++)
    if (words[i][0] == '\0')
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                          "empty word in request (words are separated by one space)"),
             NULL;

  MoatRequest *request = g_new0 (MoatRequest, 1);
  request->verb = g_strdup (words[0]);
  request->args = g_new0 (char *, n);
  for (guint i = 1; i < n; i++)
    request->args[i - 1] = g_strdup (words[i]);
  return request;
}

static const char *
error_code_name (const GError *error)
{
  if (error->domain != MOAT_ERROR)
    return "failed";
  switch ((MoatErrorCode)error->code)
    {
    case MOAT_ERROR_INVALID:
      return "invalid";
    case MOAT_ERROR_NOT_FOUND:
      return "not-found";
    case MOAT_ERROR_EXISTS:
      return "exists";
    case MOAT_ERROR_NOT_RUNNING:
      return "not-running";
    case MOAT_ERROR_UNSUPPORTED:
      return "unsupported";
    case MOAT_ERROR_PERMISSION:
      return "permission";
    case MOAT_ERROR_FAILED:
    default:
      return "failed";
    }
}

gboolean
moat_proto_socket_address (const char *socket_path, struct sockaddr_un *addr, GError **error)
{
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen (socket_path) >= sizeof addr->sun_path)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "socket path too long: %s",
                        socket_path),
           FALSE;
  strcpy (addr->sun_path, socket_path);
  return TRUE;
}

char *
moat_proto_error_reply (const GError *error)
{
  g_autoptr (MoatJson) json = moat_json_new ();
  moat_json_begin_object (json);
  moat_json_key (json, "error");
  moat_json_begin_object (json);
  moat_json_kv_string (json, "code", error_code_name (error));
  moat_json_kv_string (json, "message", error->message);
  moat_json_end_object (json);
  moat_json_end_object (json);
  return moat_json_steal (g_steal_pointer (&json));
}

static gboolean
write_all (int fd, const char *data, gsize len, GError **error)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return moat_error_errno (error, errno, "send to", "moatd");
      data += n;
      len -= (gsize)n;
    }
  return TRUE;
}

char *
moat_proto_call (const char *socket_path, const char *verb, const char *const *args, GError **error)
{
  struct sockaddr_un addr;
  if (!moat_proto_socket_address (socket_path, &addr, error))
    return NULL;

  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return moat_error_errno (error, errno, "create socket for", socket_path), NULL;
  if (connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      int errsv = errno;
      close (fd);
      g_set_error (error, MOAT_ERROR,
                   errsv == ENOENT || errsv == ECONNREFUSED ? MOAT_ERROR_NOT_RUNNING
                                                            : MOAT_ERROR_FAILED,
                   "connect to '%s': %s (is moatd running?)", socket_path, g_strerror (errsv));
      return NULL;
    }

  g_autoptr (GString) request = g_string_new (verb);
  for (; args != NULL && *args != NULL; args++)
    g_string_append_printf (request, " %s", *args);
  g_string_append_c (request, '\n');
  /* moatd may refuse a connection (non-root peer) before reading it: its reply is still
   * there to read after a failed send. */
  g_autoptr (GError) send_error = NULL;
  write_all (fd, request->str, request->len, &send_error);

  g_autoptr (GString) reply = g_string_new (NULL);
  char buf[8192];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == ECONNRESET && reply->len > 0)
        break;
      if (n < 0)
        {
          int errsv = errno;
          close (fd);
          return moat_error_errno (error, errsv, "read from", socket_path), NULL;
        }
      if (n == 0)
        break;
      if (reply->len + (gsize)n > MOAT_PROTO_MAX_REPLY)
        {
          close (fd);
          return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "reply from moatd too large"),
                 NULL;
        }
      g_string_append_len (reply, buf, n);
    }
  close (fd);
  if (reply->len == 0 && send_error != NULL)
    return g_propagate_error (error, g_steal_pointer (&send_error)), NULL;
  if (reply->len == 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "moatd closed without a reply"), NULL;
  return g_string_free (g_steal_pointer (&reply), FALSE);
}
