#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat.h"
#include "name.h"

/* Copy what FD has from its current offset to stdout; FALSE on a read error. */
static gboolean
copy_out (int fd)
{
  char buf[65536];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      if (n == 0)
        return TRUE;
      if (fwrite (buf, 1, (size_t)n, stdout) != (size_t)n)
        return FALSE;
    }
}

static int
show_file (const char *path, gboolean follow)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      fprintf (stderr, "moat: open '%s': %s\n", path, g_strerror (errno));
      return MOAT_EXIT_FAILED;
    }
  gboolean ok = copy_out (fd);
  while (ok && follow)
    {
      fflush (stdout);
      g_usleep (200 * 1000);
      struct stat st;
      off_t offset = lseek (fd, 0, SEEK_CUR);
      /* Truncated (rotated by hand): start over from the beginning. */
      if (fstat (fd, &st) == 0 && st.st_size < offset)
        lseek (fd, 0, SEEK_SET);
      ok = copy_out (fd);
    }
  close (fd);
  return ok ? MOAT_EXIT_OK : MOAT_EXIT_FAILED;
}

int
moat_cmd_logs (MoatCli *cli)
{
  const char *name = cli->args[0];
  if (!moat_name_is_valid (name))
    {
      fprintf (stderr, "moat logs: '%s' is not a sandbox name\n", name);
      return MOAT_EXIT_USAGE;
    }
  /* Where moatd sends this sandbox's output; without a daemon, guess the same way it does. */
  g_autoptr (GError) error = NULL;
  const char *const args[] = { name, NULL };
  g_autoptr (MoatJsonValue) reply = moat_cli_call (cli, "status", args, NULL, NULL, &error);
  const char *log = moat_jv_member_string (reply, "log", NULL);
  gboolean journal = log != NULL ? g_str_has_prefix (log, "journal")
                                 : access ("/run/systemd/journal/stdout", W_OK) == 0;
  if (journal)
    {
      g_autofree char *match = g_strdup_printf ("SYSLOG_IDENTIFIER=%s", name);
      const char *argv[]
          = { "journalctl", "--no-pager", "-o", "cat", match, cli->follow ? "-f" : NULL, NULL };
      execvp (argv[0], (char *const *)argv);
      fprintf (stderr, "moat: run journalctl: %s\n", g_strerror (errno));
      return MOAT_EXIT_FAILED;
    }
  g_autofree char *path = log != NULL && log[0] == '/'
                              ? g_strdup (log)
                              : g_strdup_printf ("%s/%s.log", cli->log_dir, name);
  return show_file (path, cli->follow);
}
