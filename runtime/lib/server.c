#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "json.h"
#include "manifest.h"
#include "moat-error.h"
#include "proto.h"

struct MoatServer
{
  char *socket_path;
  int listen_fd;
  guint listen_source;
  guint resume_source;
  MoatSupervisor *supervisor;
  GHashTable *clients; /* Client* set */
};

typedef struct
{
  MoatServer *server;
  int fd;
  GString *request;
  guint read_source;
  guint timeout_source;
  char *name; /* sandbox an asynchronous request is about */
  char *verb;
} Client;

static void
client_free (Client *client)
{
  g_clear_handle_id (&client->read_source, g_source_remove);
  g_clear_handle_id (&client->timeout_source, g_source_remove);
  if (client->fd >= 0)
    close (client->fd);
  g_string_free (client->request, TRUE);
  g_free (client->name);
  g_free (client->verb);
  g_free (client);
}

/* Send the reply and end the connection. Replies are small enough that a blocking send with
 * a timeout is simpler than queueing them. */
static void
client_finish (Client *client, const char *reply)
{
  int flags = fcntl (client->fd, F_GETFL);
  if (flags >= 0)
    fcntl (client->fd, F_SETFL, flags & ~O_NONBLOCK);
  struct timeval timeout = { .tv_sec = 5 };
  setsockopt (client->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  g_autofree char *line = g_strconcat (reply, "\n", NULL);
  gsize len = strlen (line);
  for (const char *p = line; len > 0;)
    {
      ssize_t n = send (client->fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      p += n;
      len -= (gsize)n;
    }
  /* Closing a Unix socket with unread input resets the peer, which can then lose the reply:
   * read what is waiting (bounded) before closing. */
  char scratch[4096];
  for (int i = 0; i < 16 && recv (client->fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; i++)
    ;
  g_hash_table_remove (client->server->clients, client);
}

static void
client_fail (Client *client, const GError *error)
{
  g_autofree char *reply = moat_proto_error_reply (error);
  client_finish (client, reply);
}

static void
on_done (const GError *error, gpointer user_data)
{
  Client *client = user_data;
  if (error != NULL)
    {
      client_fail (client, error);
      return;
    }
  g_autoptr (MoatJson) json = moat_json_new ();
  moat_json_begin_object (json);
  moat_json_kv_bool (json, "ok", TRUE);
  moat_json_kv_string (json, "name", client->name);
  moat_json_kv_string (json, "action", client->verb);
  moat_json_end_object (json);
  g_autofree char *reply = moat_json_steal (g_steal_pointer (&json));
  client_finish (client, reply);
}

typedef gboolean (*AsyncVerb) (MoatSupervisor *, const char *, MoatDoneFunc, gpointer, GError **);

static const struct
{
  const char *verb;
  AsyncVerb func;
} async_verbs[] = {
  { "start", moat_supervisor_start },
  { "stop", moat_supervisor_stop },
  { "restart", moat_supervisor_restart },
};

static char *
daemon_status (MoatServer *server)
{
  guint running, unhealthy;
  moat_supervisor_counts (server->supervisor, &running, &unhealthy);
  g_autofree char *list = moat_supervisor_list_json (server->supervisor);
  /* list is {"sandboxes":[...]}: splice the daemon's own fields in front of it. */
  return g_strdup_printf ("{\"daemon\":{\"pid\":%d,\"running\":%u,\"required_unhealthy\":%u},%s",
                          (int)getpid (), running, unhealthy, list + 1);
}

static void
handle_request (Client *client, const char *line, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatRequest) request = moat_request_parse (line, len, &error);
  if (request == NULL)
    return client_fail (client, error);

  guint nargs = g_strv_length (request->args);
  MoatServer *server = client->server;
  for (gsize i = 0; i < G_N_ELEMENTS (async_verbs); i++)
    {
      if (strcmp (request->verb, async_verbs[i].verb) != 0)
        continue;
      if (nargs != 1)
        {
          g_set_error (&error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s takes one sandbox name",
                       request->verb);
          return client_fail (client, error);
        }
      client->name = g_strdup (request->args[0]);
      client->verb = g_strdup (request->verb);
      /* The client waits for the outcome; no more input is read from it. */
      g_clear_handle_id (&client->read_source, g_source_remove);
      g_clear_handle_id (&client->timeout_source, g_source_remove);
      if (!async_verbs[i].func (server->supervisor, client->name, on_done, client, &error))
        client_fail (client, error);
      return;
    }

  g_autofree char *reply = NULL;
  if (strcmp (request->verb, "ping") == 0 && nargs == 0)
    reply = g_strdup ("{\"ok\":true}");
  else if (strcmp (request->verb, "list") == 0 && nargs == 0)
    reply = moat_supervisor_list_json (server->supervisor);
  else if (strcmp (request->verb, "status") == 0 && nargs == 0)
    reply = daemon_status (server);
  else if (strcmp (request->verb, "status") == 0 && nargs == 1)
    reply = moat_supervisor_status_json (server->supervisor, request->args[0], &error);
  else
    g_set_error (&error, MOAT_ERROR, MOAT_ERROR_INVALID, "unknown request '%s' with %u arguments",
                 request->verb, nargs);
  if (reply == NULL)
    return client_fail (client, error);
  client_finish (client, reply);
}

static gboolean
on_client_timeout (gpointer user_data)
{
  Client *client = user_data;
  client->timeout_source = 0;
  g_autoptr (GError) error
      = g_error_new (MOAT_ERROR, MOAT_ERROR_INVALID, "no complete request within %d ms",
                     MOAT_SERVER_REQUEST_TIMEOUT_MS);
  client_fail (client, error);
  return G_SOURCE_REMOVE;
}

static gboolean
on_client_readable (int fd, GIOCondition condition, gpointer user_data)
{
  Client *client = user_data;
  char buf[MOAT_PROTO_MAX_REQUEST + 1];
  ssize_t n = recv (fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      client->read_source = 0;
      g_hash_table_remove (client->server->clients, client);
      return G_SOURCE_REMOVE;
    }
  g_string_append_len (client->request, buf, n);
  const char *newline = memchr (client->request->str, '\n', client->request->len);
  if (newline == NULL && client->request->len <= MOAT_PROTO_MAX_REQUEST)
    return G_SOURCE_CONTINUE;

  client->read_source = 0;
  g_clear_handle_id (&client->timeout_source, g_source_remove);
  if (newline == NULL)
    {
      g_autoptr (GError) error = g_error_new (
          MOAT_ERROR, MOAT_ERROR_INVALID, "request longer than %d bytes", MOAT_PROTO_MAX_REQUEST);
      client_fail (client, error);
      return G_SOURCE_REMOVE;
    }
  handle_request (client, client->request->str, (gsize)(newline - client->request->str));
  return G_SOURCE_REMOVE;
}

static gboolean on_accept (int fd, GIOCondition condition, gpointer user_data);

static void
resume_listening (gpointer user_data)
{
  MoatServer *server = user_data;
  server->resume_source = 0;
  if (server->listen_source == 0)
    server->listen_source = g_unix_fd_add (server->listen_fd, G_IO_IN, on_accept, server);
}

static gboolean
on_accept (int fd, GIOCondition condition, gpointer user_data)
{
  MoatServer *server = user_data;
  int client_fd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (client_fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS))
    {
      /* The pending connection stays queued and the socket readable: listening again at once
       * would spin. Pause, and let connections close meanwhile. */
      server->listen_source = 0;
      server->resume_source = g_timeout_add_once (MOAT_SERVER_RESUME_MS, resume_listening, server);
      return G_SOURCE_REMOVE;
    }
  if (client_fd < 0)
    return G_SOURCE_CONTINUE;

  Client *client = g_new0 (Client, 1);
  client->server = server;
  client->fd = client_fd;
  client->request = g_string_new (NULL);
  g_hash_table_add (server->clients, client);

  struct ucred cred;
  socklen_t cred_len = sizeof cred;
  g_autoptr (GError) error = NULL;
  if (getsockopt (client_fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 || cred.uid != 0)
    {
      g_set_error (&error, MOAT_ERROR, MOAT_ERROR_PERMISSION, "moatd answers only root");
      client_fail (client, error);
      return G_SOURCE_CONTINUE;
    }
  if (g_hash_table_size (server->clients) > MOAT_SERVER_MAX_CLIENTS)
    {
      g_set_error (&error, MOAT_ERROR, MOAT_ERROR_FAILED, "too many connections; try again");
      client_fail (client, error);
      return G_SOURCE_CONTINUE;
    }
  client->read_source = g_unix_fd_add (client_fd, G_IO_IN | G_IO_HUP, on_client_readable, client);
  client->timeout_source
      = g_timeout_add (MOAT_SERVER_REQUEST_TIMEOUT_MS, on_client_timeout, client);
  return G_SOURCE_CONTINUE;
}

MoatServer *
moat_server_new (const char *socket_path, MoatSupervisor *supervisor, GError **error)
{
  struct sockaddr_un addr;
  if (!moat_proto_socket_address (socket_path, &addr, error))
    return NULL;

  g_autoptr (MoatServer) server = g_new0 (MoatServer, 1);
  server->socket_path = g_strdup (socket_path);
  server->supervisor = supervisor;
  server->clients = g_hash_table_new_full (NULL, NULL, (GDestroyNotify)client_free, NULL);
  server->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (server->listen_fd < 0)
    return moat_error_errno (error, errno, "create socket", socket_path), NULL;
  if (unlink (socket_path) < 0 && errno != ENOENT)
    return moat_error_errno (error, errno, "remove stale", socket_path), NULL;
  /* Created 0600 from the start: no window in which another user could connect. */
  mode_t old_umask = umask (0177);
  int r = bind (server->listen_fd, (struct sockaddr *)&addr, sizeof addr);
  int errsv = errno;
  umask (old_umask);
  if (r < 0)
    return moat_error_errno (error, errsv, "bind", socket_path), NULL;
  if (listen (server->listen_fd, 32) < 0)
    return moat_error_errno (error, errno, "listen on", socket_path), NULL;
  server->listen_source = g_unix_fd_add (server->listen_fd, G_IO_IN, on_accept, server);
  return g_steal_pointer (&server);
}

void
moat_server_free (MoatServer *server)
{
  if (server == NULL)
    return;
  g_clear_handle_id (&server->listen_source, g_source_remove);
  g_clear_handle_id (&server->resume_source, g_source_remove);
  if (server->listen_fd >= 0)
    {
      close (server->listen_fd);
      unlink (server->socket_path);
    }
  g_clear_pointer (&server->clients, g_hash_table_unref);
  g_free (server->socket_path);
  g_free (server);
}
