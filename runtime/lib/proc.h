/* Starting helper processes (crun, systemd-nspawn, health checks) without a shell and
 * without anything but exec between fork and exec: posix_spawn with file actions. */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* Spawn ARGV (argv[0] an absolute path) in a new session with stdin from /dev/null and
 * stdout and stderr on OUTPUT_FD (or /dev/null when -1), an empty signal mask and default
 * dispositions, and a minimal environment. */
gboolean moat_spawn (const char *const *argv, int output_fd, pid_t *ret_pid, GError **error);

/* The general form: IN_FD, OUT_FD and ERR_FD become stdin, stdout and stderr (-1: /dev/null),
 * EXTRA_ENV ("KEY=VALUE", may be NULL) is added to the minimal environment, and NEW_SESSION
 * puts the child in a session (and process group) of its own. */
gboolean moat_spawn_fds (const char *const *argv, const char *const *extra_env, int in_fd,
                         int out_fd, int err_fd, gboolean new_session, pid_t *ret_pid,
                         GError **error);

/* Spawn and wait (for short, bounded helpers like `crun delete`). RET_STATUS is the
 * waitpid status. */
gboolean moat_spawn_sync (const char *const *argv, int output_fd, int *ret_status, GError **error);

/* "exited with status 1", "killed by signal 9 (Killed)" */
char *moat_describe_wait_status (int status);

/* Close *FD when it is open, and mark it closed: `autofd int fd = open (...)`. */
void moat_close_fd (int *fd);
#define autofd __attribute__ ((cleanup (moat_close_fd)))

/* Open RELATIVE beneath the directory DIR with FLAGS (openat2 RESOLVE_BENEATH and no magic
 * links): neither `..` nor a symlink, absolute or relative, may lead out of DIR. */
int moat_open_beneath (const char *dir, const char *relative, int flags, GError **error);

/* Write LEN bytes of DATA to PATH, which must not exist yet (MOAT_ERROR_EXISTS), with MODE.
 * Written under PATH.new and linked in without replacing, so PATH never holds half a file;
 * DURABLE fsyncs the data first. */
gboolean moat_write_new_file (const char *path, const void *data, gsize len, mode_t mode,
                              gboolean durable, GError **error);

/* The same for a PATH that may exist: it is replaced in one rename, durably (data and the
 * directory entry are synced), so a power cut leaves the old file or the new one. */
gboolean moat_replace_file (const char *path, const void *data, gsize len, mode_t mode,
                            GError **error);

/* Remove DIR and everything beneath it without following symlinks; missing is fine. */
gboolean moat_rm_rf (const char *dir, GError **error);
