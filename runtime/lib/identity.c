/* Per-sandbox identity. A slot is a small integer no two installed sandboxes share; the uid
 * range and the MCS pair are pure functions of it, so persisting the slot is enough. The
 * allocation is serialised by a flock on STATE_DIR/identity.lock, and each identity file is
 * written atomically, so a crash leaves either no identity or a complete one. */
#include "identity.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "manifest.h"
#include "moat-error.h"
#include "proc.h"

#define IDENTITY_FILE "identity"
/* "slot=4095\n" is 10 bytes; anything much longer is not ours. */
#define IDENTITY_MAX_SIZE 32

G_STATIC_ASSERT ((guint64)MOAT_UID_FIRST + (guint64)MOAT_SLOTS_MAX * MOAT_UID_RANGE <= G_MAXUINT32);
G_STATIC_ASSERT ((guint64)MOAT_SLOTS_MAX
                 <= (guint64)MOAT_MCS_CATEGORIES * (MOAT_MCS_CATEGORIES - 1) / 2);

void
moat_identity_from_slot (guint slot, MoatIdentity *ret_identity)
{
  g_return_if_fail (slot < MOAT_SLOTS_MAX);

  /* The slot-th pair (low, high), low < high, in lexicographic order: low = 0 has
   * MOAT_MCS_CATEGORIES - 1 partners, low = 1 one fewer, and so on. */
  guint low = 0;
  guint rest = slot;
  while (rest >= MOAT_MCS_CATEGORIES - 1 - low)
    {
      rest -= MOAT_MCS_CATEGORIES - 1 - low;
      low++;
    }

  ret_identity->slot = slot;
  ret_identity->uid_base = MOAT_UID_FIRST + slot * MOAT_UID_RANGE;
  ret_identity->mcs_low = low;
  ret_identity->mcs_high = low + 1 + rest;
}

char *
moat_identity_mcs_level (const MoatIdentity *identity)
{
  return g_strdup_printf ("s0:c%u,c%u", identity->mcs_low, identity->mcs_high);
}

/* Parse the whole content of an identity file: exactly "slot=N\n", N decimal without
 * leading zeros and below MOAT_SLOTS_MAX. */
static gboolean
parse_slot (const char *text, gsize len, guint *ret_slot)
{
  const char *prefix = "slot=";
  gsize prefix_len = strlen (prefix);
  if (len <= prefix_len + 1 || memcmp (text, prefix, prefix_len) != 0 || text[len - 1] != '\n')
    return FALSE;

  const char *digits = text + prefix_len;
  gsize n_digits = len - prefix_len - 1;
  if (n_digits > 4 || (n_digits > 1 && digits[0] == '0'))
    return FALSE;

  guint slot = 0;
  for (gsize i = 0; i < n_digits; i++)
    {
      if (!g_ascii_isdigit (digits[i]))
        return FALSE;
      slot = slot * 10 + (guint)(digits[i] - '0');
    }
  if (slot >= MOAT_SLOTS_MAX)
    return FALSE;

  *ret_slot = slot;
  return TRUE;
}

/* Read the identity file PATH (relative to DIR_FD, or absolute); DISPLAY names it in
 * messages. Fails with MOAT_ERROR_NOT_FOUND when there is none. */
static gboolean
read_identity_at (int dir_fd, const char *path, const char *display, guint *ret_slot,
                  GError **error)
{
  autofd int fd = openat (dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  /* ENOTDIR: the sandbox "directory" is something else, so it holds no identity either. */
  if (fd < 0)
    return moat_error_errno (error, errno == ENOTDIR ? ENOENT : errno, "open", display);

  char buf[IDENTITY_MAX_SIZE + 1];
  gsize len = 0;
  while (len < sizeof buf)
    {
      ssize_t n = read (fd, buf + len, sizeof buf - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return moat_error_errno (error, errno, "read", display);
      if (n == 0)
        break;
      len += (gsize)n;
    }

  if (len > IDENTITY_MAX_SIZE || !parse_slot (buf, len, ret_slot))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                   "identity '%s': not \"slot=N\\n\" with N below %u", display, MOAT_SLOTS_MAX);
      return FALSE;
    }
  return TRUE;
}

static char *
identity_path (const char *state_dir, const char *name)
{
  return g_build_filename (state_dir, "sandboxes", name, IDENTITY_FILE, NULL);
}

static gboolean
check_name (const char *name, GError **error)
{
  if (name != NULL && moat_name_is_valid (name))
    return TRUE;
  g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "invalid sandbox name '%s'",
               name != NULL ? name : "(null)");
  return FALSE;
}

/* Mark in USED (MOAT_SLOTS_MAX entries) every slot held by an identity file under
 * STATE_DIR/sandboxes. A file we cannot read or parse stops the scan: handing out a slot
 * that may be in use would let two sandboxes share uids and categories. */
static gboolean
scan_used_slots (const char *state_dir, guint8 *used, GError **error)
{
  g_autofree char *dir_path = g_build_filename (state_dir, "sandboxes", NULL);
  DIR *dir = opendir (dir_path);
  if (dir == NULL)
    return moat_error_errno (error, errno, "open", dir_path);

  gboolean ok = TRUE;
  struct dirent *entry;
  while (ok && (errno = 0, entry = readdir (dir)) != NULL)
    {
      if (!moat_name_is_valid (entry->d_name))
        continue;
      g_autofree char *relative = g_build_filename (entry->d_name, IDENTITY_FILE, NULL);
      g_autofree char *display = g_build_filename (dir_path, relative, NULL);
      g_autoptr (GError) local_error = NULL;
      guint slot = 0;
      if (read_identity_at (dirfd (dir), relative, display, &slot, &local_error))
        used[slot] = 1;
      else if (!g_error_matches (local_error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          ok = FALSE;
        }
    }
  if (ok && errno != 0)
    ok = moat_error_errno (error, errno, "read directory", dir_path);
  closedir (dir);
  return ok;
}

/* Write "slot=N\n" to PATH: a temporary file beside it, fsync, rename, fsync the directory. */
static gboolean
write_identity (const char *path, guint slot, GError **error)
{
  g_autofree char *text = g_strdup_printf ("slot=%u\n", slot);
  if (!g_file_set_contents_full (path, text, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644,
                                 error))
    return FALSE;

  g_autofree char *dir_path = g_path_get_dirname (path);
  autofd int dir_fd = open (dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return moat_error_errno (error, errno, "open", dir_path);
  if (fsync (dir_fd) < 0)
    return moat_error_errno (error, errno, "fsync", dir_path);
  return TRUE;
}

/* Allocate the lowest free slot for the identity file PATH, under the allocation lock. */
static gboolean
allocate_identity (const char *state_dir, const char *path, guint *ret_slot, GError **error)
{
  g_autofree char *lock_path = g_build_filename (state_dir, "identity.lock", NULL);
  autofd int lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0)
    return moat_error_errno (error, errno, "open", lock_path);
  while (flock (lock_fd, LOCK_EX) < 0)
    if (errno != EINTR)
      return moat_error_errno (error, errno, "lock", lock_path);

  /* Another process may have allocated this very name while we waited for the lock. */
  g_autoptr (GError) local_error = NULL;
  if (read_identity_at (AT_FDCWD, path, path, ret_slot, &local_error))
    return TRUE;
  if (!g_error_matches (local_error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  guint8 used[MOAT_SLOTS_MAX] = { 0 };
  if (!scan_used_slots (state_dir, used, error))
    return FALSE;
  guint slot = 0;
  while (slot < MOAT_SLOTS_MAX && used[slot])
    slot++;
  if (slot == MOAT_SLOTS_MAX)
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED,
                   "allocate identity '%s': all %u slots are in use", path, MOAT_SLOTS_MAX);
      return FALSE;
    }

  /* The lock is released when lock_fd is closed, after the identity is on disk. */
  if (!write_identity (path, slot, error))
    return FALSE;
  *ret_slot = slot;
  return TRUE;
}

gboolean
moat_identity_get (const char *state_dir, const char *name, MoatIdentity *ret_identity,
                   GError **error)
{
  if (!check_name (name, error))
    return FALSE;

  g_autofree char *path = identity_path (state_dir, name);
  g_autoptr (GError) local_error = NULL;
  guint slot = 0;
  if (!read_identity_at (AT_FDCWD, path, path, &slot, &local_error))
    {
      if (!g_error_matches (local_error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      if (!allocate_identity (state_dir, path, &slot, error))
        return FALSE;
    }

  moat_identity_from_slot (slot, ret_identity);
  return TRUE;
}

gboolean
moat_identity_release (const char *state_dir, const char *name, GError **error)
{
  if (!check_name (name, error))
    return FALSE;

  g_autofree char *path = identity_path (state_dir, name);
  if (unlink (path) < 0 && errno != ENOENT)
    return moat_error_errno (error, errno, "remove", path);
  return TRUE;
}
