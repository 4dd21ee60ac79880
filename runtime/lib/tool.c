#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "moat-error.h"
#include "proc.h"

/* A tool's complaint is kept up to this many bytes: enough for a message, not a flood. */
#define STDERR_MAX 4096

/* Read what is there on FD into TO (at most LIMIT bytes kept); FALSE at end of file. */
static gboolean
drain (int fd, GString *to, gsize limit)
{
  char buf[4096];
  ssize_t n = read (fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return TRUE;
  if (n <= 0)
    return FALSE;
  if (to != NULL && to->len < limit)
    g_string_append_len (to, buf, MIN ((gsize)n, limit - to->len));
  explicit_bzero (buf, sizeof buf);
  return TRUE;
}

/* Feed INPUT and collect stdout and stderr until both end. stdin is a socket so that a tool
 * which exits without reading gives EPIPE to send (MSG_NOSIGNAL), not SIGPIPE to us. */
static void
exchange (int in_fd, const char *input, gsize input_len, int out_fd, GString *output, int err_fd,
          GString *errors)
{
  gsize sent = 0;
  if (in_fd >= 0 && input_len == 0)
    shutdown (in_fd, SHUT_WR);
  while (out_fd >= 0 || err_fd >= 0)
    {
      struct pollfd fds[3] = {
        { .fd = out_fd, .events = POLLIN },
        { .fd = err_fd, .events = POLLIN },
        { .fd = sent < input_len ? in_fd : -1, .events = POLLOUT },
      };
      if (poll (fds, 3, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (fds[2].revents != 0)
        {
          ssize_t n = send (in_fd, input + sent, input_len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n > 0)
            sent += (gsize)n;
          if ((n < 0 && errno != EINTR && errno != EAGAIN) || sent == input_len)
            {
              sent = input_len;
              shutdown (in_fd, SHUT_WR);
            }
        }
      if (fds[0].revents != 0 && !drain (out_fd, output, G_MAXSIZE))
        moat_close_fd (&out_fd);
      if (fds[1].revents != 0 && !drain (err_fd, errors, STDERR_MAX))
        moat_close_fd (&err_fd);
    }
  moat_close_fd (&out_fd);
  moat_close_fd (&err_fd);
}

gboolean
moat_tool_run (const char *const *argv, const char *const *env, const char *input, gsize input_len,
               GString *output, GError **error)
{
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
  if ((input != NULL && socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
      || pipe2 (out, O_CLOEXEC) < 0 || pipe2 (err, O_CLOEXEC) < 0)
    {
      int errsv = errno;
      for (int i = 0; i < 2; i++)
        {
          moat_close_fd (&in[i]);
          moat_close_fd (&out[i]);
          moat_close_fd (&err[i]);
        }
      return moat_error_errno (error, errsv, "make pipes for", argv[0]);
    }
  pid_t pid;
  gboolean spawned = moat_spawn_fds (argv, env, in[1], out[1], err[1], FALSE, &pid, error);
  moat_close_fd (&in[1]);
  moat_close_fd (&out[1]);
  moat_close_fd (&err[1]);
  if (!spawned)
    {
      moat_close_fd (&in[0]);
      moat_close_fd (&out[0]);
      moat_close_fd (&err[0]);
      return FALSE;
    }
  g_autoptr (GString) errors = g_string_new (NULL);
  exchange (in[0], input, input_len, out[0], output, err[0], errors);
  moat_close_fd (&in[0]);
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return moat_error_errno (error, errno, "wait for", argv[0]);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return TRUE;

  g_autofree char *command = g_strjoinv (" ", (char **)argv);
  g_autofree char *how = moat_describe_wait_status (status);
  g_strstrip (errors->str);
  g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "%s: %s%s%s", command, how,
               errors->str[0] ? ": " : "", errors->str);
  return FALSE;
}
