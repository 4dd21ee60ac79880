#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "moat-error.h"

/* PATH and LANG, then EXTRA ("KEY=VALUE"): helpers never see moatd's own environment. */
static char **
make_environ (const char *const *extra)
{
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (all,
                   g_strdup ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  g_ptr_array_add (all, g_strdup ("LANG=C.UTF-8"));
  for (gsize i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (all, g_strdup (extra[i]));
  g_ptr_array_add (all, NULL);
  return (char **)g_ptr_array_free (g_steal_pointer (&all), FALSE);
}

gboolean
moat_spawn_fds (const char *const *argv, const char *const *extra_env, int in_fd, int out_fd,
                int err_fd, gboolean new_session, pid_t *ret_pid, GError **error)
{
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t empty, all;

  sigemptyset (&empty);
  sigfillset (&all);
  posix_spawn_file_actions_init (&actions);
  posix_spawnattr_init (&attr);
  /* The daemon blocks SIGCHLD for its signalfd: children must not inherit that mask. */
  posix_spawnattr_setsigmask (&attr, &empty);
  posix_spawnattr_setsigdefault (&attr, &all);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
                                       | (new_session ? POSIX_SPAWN_SETSID : 0));
  int fds[3] = { in_fd, out_fd, err_fd };
  for (int target = 0; target < 3; target++)
    {
      if (fds[target] >= 0)
        posix_spawn_file_actions_adddup2 (&actions, fds[target], target);
      else
        posix_spawn_file_actions_addopen (&actions, target, "/dev/null",
                                          target == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  g_auto (GStrv) environment = make_environ (extra_env);
  pid_t pid;
  int r = posix_spawn (&pid, argv[0], &actions, &attr, (char *const *)argv, environment);
  posix_spawn_file_actions_destroy (&actions);
  posix_spawnattr_destroy (&attr);
  if (r != 0)
    return moat_error_errno (error, r, "spawn", argv[0]);
  *ret_pid = pid;
  return TRUE;
}

gboolean
moat_spawn (const char *const *argv, int output_fd, pid_t *ret_pid, GError **error)
{
  return moat_spawn_fds (argv, NULL, -1, output_fd, output_fd, TRUE, ret_pid, error);
}

gboolean
moat_spawn_sync (const char *const *argv, int output_fd, int *ret_status, GError **error)
{
  pid_t pid;
  if (!moat_spawn (argv, output_fd, &pid, error))
    return FALSE;
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return moat_error_errno (error, errno, "wait for", argv[0]);
  *ret_status = status;
  return TRUE;
}

char *
moat_describe_wait_status (int status)
{
  if (WIFEXITED (status))
    return g_strdup_printf ("exited with status %d", WEXITSTATUS (status));
  if (WIFSIGNALED (status))
    return g_strdup_printf ("killed by signal %d (%s)", WTERMSIG (status),
                            strsignal (WTERMSIG (status)));
  return g_strdup_printf ("ended with wait status 0x%x", status);
}

static gboolean
mount_id_of (int fd, const char *name, guint64 *ret_id)
{
  struct statx stx;
  if (statx (fd, name, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0
      || !(stx.stx_mask & STATX_MNT_ID))
    return FALSE;
  *ret_id = stx.stx_mnt_id;
  return TRUE;
}

/* Remove NAME under PARENT_FD, never descending into another mount: a sandbox's data is
 * bind-mounted inside its run directory, and a cleanup must not reach through into it. */
static gboolean
rm_rf_at (int parent_fd, const char *name, guint64 parent_mount, GError **error)
{
  if (unlinkat (parent_fd, name, 0) == 0 || errno == ENOENT)
    return TRUE;
  if (errno != EISDIR)
    return moat_error_errno (error, errno, "remove", name);

  int fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return moat_error_errno (error, errno, "open", name);
  guint64 mount_id;
  if (!mount_id_of (fd, "", &mount_id) || mount_id != parent_mount)
    {
      close (fd);
      return moat_error_errno (error, EBUSY, "remove (a mount point, or unknown mount)", name);
    }
  DIR *dir = fdopendir (fd);
  if (dir == NULL)
    {
      close (fd);
      return moat_error_errno (error, errno, "read", name);
    }
  struct dirent *entry;
  gboolean ok = TRUE;
  while (ok && (entry = readdir (dir)) != NULL)
    {
      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
        continue;
      ok = rm_rf_at (dirfd (dir), entry->d_name, mount_id, error);
    }
  closedir (dir);
  if (!ok)
    return FALSE;
  if (unlinkat (parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return moat_error_errno (error, errno, "remove", name);
  return TRUE;
}

gboolean
moat_rm_rf (const char *dir, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (dir);
  guint64 parent_mount;
  if (!mount_id_of (AT_FDCWD, parent, &parent_mount))
    {
      if (errno == ENOENT)
        return TRUE;
      return moat_error_errno (error, errno, "stat", parent);
    }
  return rm_rf_at (AT_FDCWD, dir, parent_mount, error);
}

static gboolean
write_file (const char *path, const void *data, gsize len, mode_t mode, gboolean durable,
            gboolean replace, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);
  unlink (tmp);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return moat_error_errno (error, errno, "create", tmp);
  const char *bytes = data;
  gsize done = 0;
  int errsv = 0;
  /* The umask may have taken bits off MODE. */
  if (fchmod (fd, mode) < 0)
    errsv = errno;
  while (errsv == 0 && done < len)
    {
      ssize_t n = write (fd, bytes + done, len - done);
      if (n < 0 && errno != EINTR)
        errsv = errno;
      else if (n > 0)
        done += (gsize)n;
    }
  if (errsv == 0 && durable && fsync (fd) < 0)
    errsv = errno;
  close (fd);
  if (errsv == 0 && renameat2 (AT_FDCWD, tmp, AT_FDCWD, path, replace ? 0 : RENAME_NOREPLACE) < 0)
    errsv = errno;
  if (errsv != 0)
    {
      unlink (tmp);
      return moat_error_errno (error, errsv, errsv == EEXIST ? "create" : "write", path);
    }
  if (durable)
    {
      /* The rename itself is on disk only once its directory is. */
      g_autofree char *dir = g_path_get_dirname (path);
      int dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir_fd >= 0)
        {
          fsync (dir_fd);
          close (dir_fd);
        }
    }
  return TRUE;
}

gboolean
moat_write_new_file (const char *path, const void *data, gsize len, mode_t mode, gboolean durable,
                     GError **error)
{
  return write_file (path, data, len, mode, durable, FALSE, error);
}

gboolean
moat_replace_file (const char *path, const void *data, gsize len, mode_t mode, GError **error)
{
  return write_file (path, data, len, mode, TRUE, TRUE, error);
}

void
moat_close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

int
moat_open_beneath (const char *dir, const char *relative, int flags, GError **error)
{
  autofd int dir_fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return moat_error_errno (error, errno, "open", dir), -1;
  struct open_how how = {
    .flags = (guint64)(flags | O_CLOEXEC),
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall (SYS_openat2, dir_fd, relative, &how, sizeof how);
  if (fd < 0)
    {
      g_autofree char *shown = g_build_filename (dir, relative, NULL);
      if (errno == EXDEV)
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_PERMISSION,
                            "'%s' leads out of its directory '%s': refused", shown, dir),
               -1;
      return moat_error_errno (error, errno, "open", shown), -1;
    }
  return fd;
}
