#include "supervise-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <glib-unix.h>

#include "device.h"
#include "identity.h"
#include "json.h"
#include "manifest.h"
#include "moat-error.h"
#include "network.h"
#include "oci.h"
#include "proc.h"
#include "sd.h"
#include "selinux.h"

/* A sandbox that ran at least this long before exiting starts its backoff afresh. */
#define STABLE_RUN_USEC (30 * G_USEC_PER_SEC)
/* Exits of unknown children remembered, in case one is a sandbox whose pid file is not read
 * yet (a short-lived sandbox can exit before crun does). Only an exit seen after that
 * sandbox's crun was started can match, and none is kept long, so a recycled pid never
 * stands for a process that ended long ago. */
#define ORPHANS_MAX 256
#define ORPHAN_TTL_USEC (30 * G_USEC_PER_SEC)

typedef struct
{
  int status;
  gint64 reaped_at; /* monotonic usec */
} Orphan;

const char *const supervise_state_names[] = {
  "stopped", "starting", "running", "stopping", "backoff", "failed",
};
const char *const supervise_health_names[] = { "none", "starting", "healthy", "unhealthy" };

static void sandbox_launch_or_fail (Sandbox *sandbox);
static void begin_stop (Sandbox *sandbox);
static void kill_health_group (Sandbox *sandbox, gboolean check_alive);
static void on_main_exit (Sandbox *sandbox, int status);

static void emit (MoatSupervisor *supervisor, const char *name, int priority, const char *format,
                  ...) G_GNUC_PRINTF (4, 5);

static void
emit (MoatSupervisor *supervisor, const char *name, int priority, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  if (supervisor->on_event != NULL)
    supervisor->on_event (name, priority, message, supervisor->event_data);
}

static void
sandbox_free (Sandbox *sandbox)
{
  g_clear_handle_id (&sandbox->kill_timer, g_source_remove);
  g_clear_handle_id (&sandbox->restart_timer, g_source_remove);
  g_clear_handle_id (&sandbox->health_timer, g_source_remove);
  g_clear_handle_id (&sandbox->health_kill_timer, g_source_remove);
  g_clear_pointer (&sandbox->manifest, moat_manifest_free);
  g_array_unref (sandbox->waiters);
  g_free (sandbox->last_error);
  g_free (sandbox->netns_path);
  g_free (sandbox->name);
  g_free (sandbox);
}

static char *
sandbox_dir (MoatSupervisor *supervisor, const char *name)
{
  return g_build_filename (supervisor->state_dir, "sandboxes", name, NULL);
}

static char *
run_dir_of (Sandbox *sandbox)
{
  return g_build_filename (sandbox->supervisor->run_dir, "sandboxes", sandbox->name, NULL);
}

void
supervise_set_error (Sandbox *sandbox, const char *message)
{
  g_free (sandbox->last_error);
  sandbox->last_error = g_strdup (message);
}

/* Complete the waiters that a state change satisfies (or disappoints). */
static void
settle_waiters (Sandbox *sandbox)
{
  gboolean running = sandbox->state == STATE_RUNNING;
  gboolean down = sandbox->state == STATE_STOPPED || sandbox->state == STATE_FAILED
                  || sandbox->state == STATE_BACKOFF;
  if (!running && !down)
    return;

  g_autoptr (GArray) pending = sandbox->waiters;
  sandbox->waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));
  for (guint i = 0; i < pending->len; i++)
    {
      Waiter *waiter = &g_array_index (pending, Waiter, i);
      if (waiter->want_running == running)
        {
          waiter->done (NULL, waiter->user_data);
          continue;
        }
      if (!waiter->want_running)
        {
          g_array_append_val (sandbox->waiters, *waiter);
          continue;
        }
      g_autoptr (GError) error
          = g_error_new (MOAT_ERROR, MOAT_ERROR_FAILED, "%s did not start: %s", sandbox->name,
                         sandbox->last_error ? sandbox->last_error : "it exited");
      waiter->done (error, waiter->user_data);
    }
}

static void
add_waiter (Sandbox *sandbox, MoatDoneFunc done, gpointer user_data, gboolean want_running)
{
  if (done == NULL)
    return;
  Waiter waiter = { done, user_data, want_running };
  g_array_append_val (sandbox->waiters, waiter);
}

static void
set_state (Sandbox *sandbox, SandboxState state)
{
  sandbox->state = state;
  settle_waiters (sandbox);
  MoatSupervisor *supervisor = sandbox->supervisor;
  if (supervisor->all_stopped != NULL)
    {
      GHashTableIter iter;
      gpointer value;
      g_hash_table_iter_init (&iter, supervisor->sandboxes);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          SandboxState s = ((Sandbox *)value)->state;
          if (s == STATE_STARTING || s == STATE_RUNNING || s == STATE_STOPPING)
            return;
        }
      MoatDoneFunc done = g_steal_pointer (&supervisor->all_stopped);
      done (NULL, supervisor->all_stopped_data);
    }
}

static void
track_child (MoatSupervisor *supervisor, pid_t pid, Sandbox *sandbox, ChildRole role)
{
  ChildEntry *entry = g_new0 (ChildEntry, 1);
  entry->sandbox = sandbox;
  entry->role = role;
  g_hash_table_replace (supervisor->children, GINT_TO_POINTER (pid), entry);
}

/* --- discovery ------------------------------------------------------------------------ */

char *
supervise_manifest_path (MoatSupervisor *supervisor, const char *name)
{
  return g_build_filename (supervisor->state_dir, "sandboxes", name, "current", "manifest", NULL);
}

/* Look NAME up, or find it installed on disk. Only names that are safe identifiers and have
 * a deployed manifest count as installed. */
Sandbox *
supervise_lookup (MoatSupervisor *supervisor, const char *name, GError **error)
{
  if (!moat_name_is_valid (name))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "'%s' is not a sandbox name", name),
           NULL;
  Sandbox *sandbox = g_hash_table_lookup (supervisor->sandboxes, name);
  if (sandbox != NULL)
    return sandbox;

  g_autofree char *path = supervise_manifest_path (supervisor, name);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "no sandbox '%s' is installed",
                        name),
           NULL;
  sandbox = g_new0 (Sandbox, 1);
  sandbox->supervisor = supervisor;
  sandbox->name = g_strdup (name);
  sandbox->waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));
  sandbox->backoff_ms = supervisor->config.restart_base_ms;
  g_hash_table_insert (supervisor->sandboxes, sandbox->name, sandbox);
  return sandbox;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(Sandbox *const *)a)->name, (*(Sandbox *const *)b)->name);
}

/* Every installed sandbox, refreshed from disk; sorted by name. */
GPtrArray *
supervise_installed (MoatSupervisor *supervisor)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new ();
  g_autofree char *dir_path = g_build_filename (supervisor->state_dir, "sandboxes", NULL);
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *entry;
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    {
      /* On disk first: a sandbox removed (moat remove) is gone even while it is cached. */
      g_autofree char *manifest = supervise_manifest_path (supervisor, entry);
      if (!g_file_test (manifest, G_FILE_TEST_IS_REGULAR))
        continue;
      Sandbox *sandbox = supervise_lookup (supervisor, entry, NULL);
      if (sandbox != NULL)
        g_ptr_array_add (found, sandbox);
    }
  /* Sandboxes removed from disk are forgotten once they no longer run. */
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, supervisor->sandboxes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Sandbox *sandbox = value;
      /* A child still tracked (a health check being reaped) points at it: keep it until then. */
      if (!g_ptr_array_find (found, sandbox, NULL) && sandbox->state == STATE_STOPPED
          && sandbox->waiters->len == 0 && sandbox->launcher_pid == 0 && sandbox->main_pid == 0
          && sandbox->health_pid == 0)
        g_hash_table_iter_remove (&iter);
    }
  g_ptr_array_sort (found, compare_names);
  return g_steal_pointer (&found);
}

/* --- starting ------------------------------------------------------------------------- */

/* The host uid the sandbox's processes run as: its range's base plus its User=. */
static uid_t
host_uid (Sandbox *sandbox)
{
  return sandbox->identity.uid_base + sandbox->manifest->user;
}

static void
revoke_devices (Sandbox *sandbox, guint count)
{
  for (guint i = 0; i < count; i++)
    {
      const MoatDevice *device = sandbox->manifest->devices->pdata[i];
      g_autoptr (GError) error = NULL;
      if (!moat_device_revoke (device->path, host_uid (sandbox), &error))
        emit (sandbox->supervisor, sandbox->name, LOG_WARNING, "%s", error->message);
    }
}

static gboolean
grant_devices (Sandbox *sandbox, GError **error)
{
  GPtrArray *devices = sandbox->manifest->devices;
  for (guint i = 0; i < devices->len; i++)
    {
      const MoatDevice *device = devices->pdata[i];
      if (!moat_device_grant (device->path, host_uid (sandbox), device->write, error))
        {
          revoke_devices (sandbox, i);
          return FALSE;
        }
    }
  return TRUE;
}

/* Create STATE/sandboxes/NAME/data owned by the sandbox's root and private to it; with SELinux,
 * labelled with its category pair. A symlink there is refused rather than followed. */
static gboolean
prepare_data_dir (Sandbox *sandbox, char **ret_path, GError **error)
{
  g_autofree char *dir = sandbox_dir (sandbox->supervisor, sandbox->name);
  g_autofree char *path = g_build_filename (dir, "data", NULL);
  if (mkdir (path, 0700) < 0 && errno != EEXIST)
    return moat_error_errno (error, errno, "create", path);
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return moat_error_errno (error, errno, "open", path);
  struct stat st;
  gboolean ok = fstat (fd, &st) == 0;
  uid_t owner = host_uid (sandbox);
  if (ok && (st.st_uid != owner || st.st_gid != owner))
    ok = fchown (fd, owner, owner) == 0;
  if (ok && (st.st_mode & 07777) != 0700)
    ok = fchmod (fd, 0700) == 0;
  int errsv = errno;
  close (fd);
  if (!ok)
    return moat_error_errno (error, errsv, "set owner of", path);
  if (sandbox->supervisor->config.selinux
      && !moat_selinux_label_tree (path, &sandbox->identity, error))
    return FALSE;
  *ret_path = g_steal_pointer (&path);
  return TRUE;
}

/* Bind DATA_DIR at BUNDLE/data with nosuid, nodev and noexec. Flags set here, outside the
 * sandbox's user namespace, are locked for it; crun 1.8.1 drops them from bind mounts it
 * makes inside a user namespace, so they cannot be left to the OCI config. */
static gboolean
mount_data (const char *data_dir, const char *bundle, char **ret_path, GError **error)
{
  g_autofree char *target = g_build_filename (bundle, "data", NULL);
  if (mkdir (target, 0700) < 0)
    return moat_error_errno (error, errno, "create", target);
  if (mount (data_dir, target, NULL, MS_BIND, NULL) < 0)
    return moat_error_errno (error, errno, "bind-mount", data_dir);
  if (mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    {
      int errsv = errno;
      umount2 (target, MNT_DETACH);
      return moat_error_errno (error, errsv, "remount nosuid,nodev,noexec", target);
    }
  *ret_path = g_steal_pointer (&target);
  return TRUE;
}

static void
unmount_data (const char *bundle)
{
  g_autofree char *target = g_build_filename (bundle, "data", NULL);
  while (umount2 (target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
    ;
}

/* Where the sandbox's stdout and stderr go: the journal under its name, or a log file. */
static int
open_log (Sandbox *sandbox, GError **error)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  if (supervisor->config.use_journal)
    {
      int fd = moat_journal_stream_fd (MOAT_JOURNAL_STDOUT, sandbox->name, LOG_INFO, NULL);
      if (fd >= 0)
        return fd;
      /* fall back to the file below */
    }
  g_autofree char *path = g_strdup_printf ("%s/%s.log", supervisor->log_dir, sandbox->name);
  int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0)
    moat_error_errno (error, errno, "open log", path);
  return fd;
}

static gboolean
launch_crun (Sandbox *sandbox, const MoatSandboxSpec *spec, const char *bundle, int log_fd,
             GError **error)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  g_autofree char *config = moat_oci_config (spec, error);
  if (config == NULL)
    return FALSE;
  g_autofree char *config_path = g_build_filename (bundle, "config.json", NULL);
  if (!moat_write_new_file (config_path, config, strlen (config), 0600, FALSE, error))
    return FALSE;
  g_autofree char *pid_file = g_build_filename (bundle, "pid", NULL);
  g_autofree char *manager = g_strdup_printf ("--cgroup-manager=%s", supervisor->cgroup_manager);
  const char *argv[] = {
    supervisor->crun_path,
    "--root",
    supervisor->crun_root,
    manager,
    "run",
    "--detach",
    "--pid-file",
    pid_file,
    "--bundle",
    bundle,
    sandbox->name,
    NULL,
  };
  pid_t pid;
  sandbox->launched_at = g_get_monotonic_time ();
  if (!moat_spawn (argv, log_fd, &pid, error))
    return FALSE;
  sandbox->launcher_pid = pid;
  track_child (supervisor, pid, sandbox, ROLE_LAUNCHER);
  return TRUE;
}

static gboolean
launch_nspawn (Sandbox *sandbox, const MoatSandboxSpec *spec, const char *bundle, int log_fd,
               GError **error)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  g_autofree char *bpf_path = g_build_filename (bundle, "seccomp.bpf", NULL);
  int fd = open (bpf_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return moat_error_errno (error, errno, "create", bpf_path);
  gboolean ok = moat_seccomp_export_bpf ((const char *const *)spec->manifest->syscalls, fd, error);
  close (fd);
  if (!ok)
    return FALSE;
  g_auto (GStrv) argv = moat_nspawn_argv (spec, supervisor->init_path, bpf_path,
                                          supervisor->config.systemd_booted, error);
  if (argv == NULL)
    return FALSE;
  g_free (argv[0]);
  argv[0] = g_strdup (supervisor->nspawn_path);
  pid_t pid;
  if (!moat_spawn ((const char *const *)argv, log_fd, &pid, error))
    return FALSE;
  /* systemd-nspawn stays as the sandbox's parent: it is the main process. */
  sandbox->main_pid = pid;
  track_child (supervisor, pid, sandbox, ROLE_MAIN);
  return TRUE;
}

static void schedule_health (Sandbox *sandbox);

static void
became_running (Sandbox *sandbox)
{
  sandbox->started_at = g_get_monotonic_time ();
  g_clear_pointer (&sandbox->last_error, g_free);
  emit (sandbox->supervisor, sandbox->name, LOG_INFO, "started (pid %d)", (int)sandbox->main_pid);
  sandbox->health = sandbox->manifest->health_command != NULL ? HEALTH_STARTING : HEALTH_NONE;
  sandbox->consecutive_health_failures = 0;
  set_state (sandbox, STATE_RUNNING);
  schedule_health (sandbox);
  if (sandbox->stop_requested)
    begin_stop (sandbox);
}

/* Another sandbox's address, for flows that name it: only installed sandboxes have one. */
static gboolean
lookup_peer (const char *name, uint32_t *ret_address, gpointer user_data)
{
  MoatSupervisor *supervisor = user_data;
  g_autofree char *path = supervise_manifest_path (supervisor, name);
  MoatIdentity identity;
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)
      || !moat_identity_get (supervisor->state_dir, name, &identity, NULL))
    return FALSE;
  *ret_address = moat_network_address (identity.slot);
  return TRUE;
}

gboolean
supervise_has_network (Sandbox *sandbox)
{
  return sandbox->manifest != NULL && sandbox->have_identity
         && !moat_network_policy_is_empty (&sandbox->manifest->network);
}

/* A hub port goes to one sandbox: refuse one that another running sandbox publishes. */
static gboolean
check_published (Sandbox *sandbox, GError **error)
{
  GPtrArray *mine = sandbox->manifest->network.publish;
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, sandbox->supervisor->sandboxes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Sandbox *other = value;
      if (other == sandbox || !other->network_up)
        continue;
      GPtrArray *theirs = other->manifest->network.publish;
      for (guint i = 0; i < mine->len; i++)
        for (guint j = 0; j < theirs->len; j++)
          {
            const MoatPublish *a = mine->pdata[i], *b = theirs->pdata[j];
            if (a->proto == b->proto && a->host_port == b->host_port)
              return g_set_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS,
                                  "hub port %u/%s is already published by %s", a->host_port,
                                  a->proto == MOAT_PROTO_TCP ? "tcp" : "udp", other->name),
                     FALSE;
          }
    }
  return TRUE;
}

static void network_down (Sandbox *sandbox);

static gboolean
network_up (Sandbox *sandbox, GError **error)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  if (!supervise_has_network (sandbox))
    return TRUE;
  if (!check_published (sandbox, error))
    return FALSE;
  /* nspawn joins a given network namespace only after it made its user namespace, which does
   * not own ours ("Failed to join network namespace: Operation not permitted"): it gets the
   * veth's end to move into a namespace of its own instead. */
  const MoatNetworkPolicy *policy = &sandbox->manifest->network;
  gboolean nspawn = sandbox->manifest->backend == MOAT_BACKEND_NSPAWN;
  if (!moat_network_setup (&supervisor->network_tools, sandbox->name, sandbox->identity.slot,
                           policy, lookup_peer, supervisor, nspawn ? NULL : &sandbox->netns_path,
                           error))
    return FALSE;
  sandbox->network_up = TRUE;
  if (policy->discover->len == 0)
    return TRUE;
  g_autofree char *ifname = moat_network_interface (sandbox->identity.slot);
  if (!moat_relay_attach (supervisor->relay, sandbox->name, ifname,
                          moat_network_address (sandbox->identity.slot), policy->discover, error))
    {
      g_prefix_error (error, "discovery: ");
      network_down (sandbox);
      return FALSE;
    }
  return TRUE;
}

/* A sandbox that has just come up may be named by the flows of others that run already and
 * could not place it when they started (a bundle installed on a running hub): their rules and
 * /etc/hosts are rebuilt now. A failure is logged; it leaves their old rules, which deny. */
static void
refresh_peers (Sandbox *sandbox)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, supervisor->sandboxes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Sandbox *other = value;
      if (other == sandbox || !other->network_up
          || !moat_network_policy_names (&other->manifest->network, sandbox->name))
        continue;
      g_autoptr (GError) error = NULL;
      if (!moat_network_refresh (&supervisor->network_tools, other->name, other->identity.slot,
                                 &other->manifest->network, lookup_peer, supervisor, &error))
        emit (supervisor, other->name, LOG_WARNING, "network: %s", error->message);
      /* Rewritten in place: the sandbox's /etc/hosts is a bind mount of this very inode. */
      g_autofree char *hosts = moat_network_hosts (
          other->name, other->identity.slot, &other->manifest->network, lookup_peer, supervisor);
      g_autofree char *bundle = run_dir_of (other);
      g_autofree char *path = g_build_filename (bundle, "hosts", NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR)
          && !g_file_set_contents_full (path, hosts, -1, G_FILE_SET_CONTENTS_NONE, 0644, &error))
        emit (supervisor, other->name, LOG_WARNING, "hosts: %s", error->message);
    }
}

/* RUN_DIR/hosts, naming the peers a networked sandbox's flows reach. It lands on the rootfs's
 * own /etc/hosts, which must be a regular file under a real /etc: otherwise (and without a
 * network) there is nothing to write, and *RET_PATH stays NULL. */
static gboolean
write_hosts (Sandbox *sandbox, const char *rootfs, const char *bundle, char **ret_path,
             GError **error)
{
  struct stat st;
  autofd int root_fd = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (!sandbox->network_up || root_fd < 0 || fstatat (root_fd, "etc", &st, AT_SYMLINK_NOFOLLOW) < 0
      || !S_ISDIR (st.st_mode) || fstatat (root_fd, "etc/hosts", &st, AT_SYMLINK_NOFOLLOW) < 0
      || !S_ISREG (st.st_mode))
    return TRUE;
  g_autofree char *hosts
      = moat_network_hosts (sandbox->name, sandbox->identity.slot, &sandbox->manifest->network,
                            lookup_peer, sandbox->supervisor);
  g_autofree char *path = g_build_filename (bundle, "hosts", NULL);
  if (!moat_write_new_file (path, hosts, strlen (hosts), 0644, FALSE, error))
    return FALSE;
  *ret_path = g_steal_pointer (&path);
  return TRUE;
}

static void
network_down (Sandbox *sandbox)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  if (!sandbox->network_up)
    return;
  moat_relay_detach (supervisor->relay, sandbox->name);
  g_autoptr (GError) error = NULL;
  if (!moat_network_teardown (&supervisor->network_tools, sandbox->name, sandbox->identity.slot,
                              &sandbox->manifest->network, &error))
    emit (supervisor, sandbox->name, LOG_WARNING, "network: %s", error->message);
  g_clear_pointer (&sandbox->netns_path, g_free);
  sandbox->network_up = FALSE;
}

/* The rootfs `current` names, as an absolute path for crun and nspawn, resolved beneath the
 * sandbox's directory: `current` -> deploy/COMMIT may not lead anywhere else. */
static char *
resolve_rootfs (Sandbox *sandbox, GError **error)
{
  g_autofree char *dir = sandbox_dir (sandbox->supervisor, sandbox->name);
  autofd int fd = moat_open_beneath (dir, "current/rootfs", O_PATH | O_DIRECTORY, error);
  if (fd < 0)
    return NULL;
  g_autofree char *proc = g_strdup_printf ("/proc/self/fd/%d", fd);
  g_autofree char *path = g_file_read_link (proc, NULL);
  if (path == NULL || !g_path_is_absolute (path))
    return moat_error_errno (error, EINVAL, "resolve", proc), NULL;
  return g_steal_pointer (&path);
}

static gboolean
sandbox_launch (Sandbox *sandbox, GError **error)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  g_autofree char *dir = sandbox_dir (supervisor, sandbox->name);
  g_autoptr (MoatManifest) manifest = moat_manifest_load_beneath (dir, "current/manifest", error);
  if (manifest == NULL)
    return FALSE;
  if (g_strcmp0 (manifest->name, sandbox->name) != 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "%s: Name=%s does not match the sandbox directory '%s'", manifest->filename,
                        manifest->name, sandbox->name),
           FALSE;
  g_clear_pointer (&sandbox->manifest, moat_manifest_free);
  sandbox->manifest = g_steal_pointer (&manifest);

  if (!sandbox->have_identity)
    {
      if (!moat_identity_get (supervisor->state_dir, sandbox->name, &sandbox->identity, error))
        return FALSE;
      sandbox->have_identity = TRUE;
    }

  g_autofree char *rootfs = resolve_rootfs (sandbox, error);
  if (rootfs == NULL)
    return FALSE;
  g_autofree char *data_dir = NULL;
  if (!prepare_data_dir (sandbox, &data_dir, error))
    return FALSE;
  if (!grant_devices (sandbox, error))
    return FALSE;

  g_autofree char *bundle = run_dir_of (sandbox);
  g_autofree char *data_mount = NULL;
  g_autofree char *hosts_file = NULL;
  int log_fd = -1;
  unmount_data (bundle);
  /* 0755: crun resolves the /data source inside the sandbox's user namespace. */
  gboolean ok = moat_rm_rf (bundle, error)
                && (mkdir (bundle, 0755) == 0 || moat_error_errno (error, errno, "create", bundle))
                && mount_data (data_dir, bundle, &data_mount, error) && network_up (sandbox, error)
                && write_hosts (sandbox, rootfs, bundle, &hosts_file, error)
                && (log_fd = open_log (sandbox, error)) >= 0;
  if (ok)
    {
      MoatSandboxSpec spec = {
        .manifest = sandbox->manifest,
        .identity = sandbox->identity,
        .rootfs = rootfs,
        .data_dir = data_mount,
        .arch = moat_arch_native (),
        .selinux = supervisor->config.selinux,
        .nspawn_inaccessible_dir = supervisor->inaccessible_dir,
        .netns_path = sandbox->netns_path,
        .nspawn_network = sandbox->network_up && sandbox->netns_path == NULL,
        .hosts_file = hosts_file,
      };
      ok = sandbox->manifest->backend == MOAT_BACKEND_NSPAWN
               ? launch_nspawn (sandbox, &spec, bundle, log_fd, error)
               : launch_crun (sandbox, &spec, bundle, log_fd, error);
    }
  if (log_fd >= 0)
    close (log_fd);
  if (!ok)
    {
      /* Leave nothing of a start that did not happen: rules, mount, run dir, device ACLs. */
      network_down (sandbox);
      unmount_data (bundle);
      moat_rm_rf (bundle, NULL);
      revoke_devices (sandbox, sandbox->manifest->devices->len);
      return FALSE;
    }
  sandbox->state = STATE_STARTING;
  if (sandbox->network_up)
    refresh_peers (sandbox);
  if (sandbox->manifest->backend == MOAT_BACKEND_NSPAWN)
    became_running (sandbox);
  return TRUE;
}

/* Remove what a stopped sandbox leaves: crun's state (and cgroup) and our run directory. */
static void
cleanup (Sandbox *sandbox)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  g_autoptr (GError) error = NULL;
  if (sandbox->manifest == NULL || sandbox->manifest->backend == MOAT_BACKEND_CRUN)
    {
      g_autofree char *manager
          = g_strdup_printf ("--cgroup-manager=%s", supervisor->cgroup_manager);
      const char *argv[] = {
        supervisor->crun_path, "--root", supervisor->crun_root, manager, "delete", "--force",
        sandbox->name,         NULL,
      };
      int status;
      if (!moat_spawn_sync (argv, -1, &status, &error))
        emit (supervisor, sandbox->name, LOG_WARNING, "cleanup: %s", error->message);
      g_clear_error (&error);
    }
  network_down (sandbox);
  g_autofree char *bundle = run_dir_of (sandbox);
  unmount_data (bundle);
  if (!moat_rm_rf (bundle, &error))
    emit (supervisor, sandbox->name, LOG_WARNING, "cleanup: %s", error->message);
  if (sandbox->manifest != NULL && sandbox->have_identity)
    revoke_devices (sandbox, sandbox->manifest->devices->len);
}

static gboolean
on_restart_timer (gpointer user_data)
{
  Sandbox *sandbox = user_data;
  sandbox->restart_timer = 0;
  sandbox->restarts++;
  sandbox_launch_or_fail (sandbox);
  return G_SOURCE_REMOVE;
}

/* After a sandbox ended on its own: restart it per Restart= with backoff, or leave it. */
static void
after_unexpected_exit (Sandbox *sandbox, gboolean clean)
{
  MoatRestart policy = sandbox->manifest != NULL ? sandbox->manifest->restart : MOAT_RESTART_NO;
  gboolean again = policy == MOAT_RESTART_ALWAYS || (policy == MOAT_RESTART_ON_FAILURE && !clean);
  if (!again)
    {
      set_state (sandbox, clean ? STATE_STOPPED : STATE_FAILED);
      return;
    }
  MoatSupervisor *supervisor = sandbox->supervisor;
  if (sandbox->started_at != 0 && g_get_monotonic_time () - sandbox->started_at >= STABLE_RUN_USEC)
    sandbox->backoff_ms = supervisor->config.restart_base_ms;
  guint delay = sandbox->backoff_ms;
  sandbox->backoff_ms = MIN (delay * 2, supervisor->config.restart_max_ms);
  emit (supervisor, sandbox->name, LOG_NOTICE, "restarting in %u ms (restart %u)", delay,
        sandbox->restarts + 1);
  sandbox->restart_timer = g_timeout_add (delay, on_restart_timer, sandbox);
  set_state (sandbox, STATE_BACKOFF);
}

static void
sandbox_launch_or_fail (Sandbox *sandbox)
{
  g_autoptr (GError) error = NULL;
  if (sandbox_launch (sandbox, &error))
    return;
  emit (sandbox->supervisor, sandbox->name, LOG_ERR, "cannot start: %s", error->message);
  supervise_set_error (sandbox, error->message);
  sandbox->started_at = 0;
  after_unexpected_exit (sandbox, FALSE);
}

/* --- children ------------------------------------------------------------------------- */

static void
on_launcher_exit (Sandbox *sandbox, int status)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  sandbox->launcher_pid = 0;
  if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0))
    {
      g_autofree char *how = moat_describe_wait_status (status);
      g_autofree char *message = g_strdup_printf ("crun run %s (its output is in the log)", how);
      emit (supervisor, sandbox->name, LOG_ERR, "cannot start: %s", message);
      supervise_set_error (sandbox, message);
      cleanup (sandbox);
      sandbox->started_at = 0;
      if (sandbox->stop_requested)
        set_state (sandbox, STATE_STOPPED);
      else
        after_unexpected_exit (sandbox, FALSE);
      return;
    }

  g_autofree char *bundle = run_dir_of (sandbox);
  g_autofree char *pid_file = g_build_filename (bundle, "pid", NULL);
  g_autofree char *text = NULL;
  guint64 pid = 0;
  if (!g_file_get_contents (pid_file, &text, NULL, NULL)
      || !g_ascii_string_to_unsigned (g_strstrip (text), 10, 2, G_MAXINT32, &pid, NULL))
    {
      supervise_set_error (sandbox, "crun wrote no usable pid file");
      emit (supervisor, sandbox->name, LOG_ERR, "cannot start: %s", sandbox->last_error);
      cleanup (sandbox);
      after_unexpected_exit (sandbox, FALSE);
      return;
    }
  sandbox->main_pid = (pid_t)pid;
  Orphan *orphan = g_hash_table_lookup (supervisor->orphans, GINT_TO_POINTER (pid));
  if (orphan != NULL && orphan->reaped_at >= sandbox->launched_at)
    {
      /* It already ended, before crun did: it ran, but there is nothing left to signal. */
      int orphan_status = orphan->status;
      g_hash_table_remove (supervisor->orphans, GINT_TO_POINTER (pid));
      sandbox->started_at = g_get_monotonic_time ();
      set_state (sandbox, STATE_RUNNING);
      on_main_exit (sandbox, orphan_status);
      return;
    }
  track_child (supervisor, (pid_t)pid, sandbox, ROLE_MAIN);
  became_running (sandbox);
}

static void
on_main_exit (Sandbox *sandbox, int status)
{
  g_clear_handle_id (&sandbox->kill_timer, g_source_remove);
  g_clear_handle_id (&sandbox->health_timer, g_source_remove);
  sandbox->main_pid = 0;
  sandbox->last_exit_status = status;
  sandbox->has_exited = TRUE;
  kill_health_group (sandbox, FALSE); /* the kernel ends the rest with its pid namespace */
  cleanup (sandbox);

  g_autofree char *how = moat_describe_wait_status (status);
  if (sandbox->state == STATE_STOPPING || sandbox->stop_requested)
    {
      sandbox->stop_requested = FALSE;
      emit (sandbox->supervisor, sandbox->name, LOG_INFO, "stopped (%s)", how);
      set_state (sandbox, STATE_STOPPED);
      return;
    }
  gboolean clean = WIFEXITED (status) && WEXITSTATUS (status) == 0;
  emit (sandbox->supervisor, sandbox->name, clean ? LOG_INFO : LOG_WARNING, "%s", how);
  if (!clean)
    supervise_set_error (sandbox, how);
  after_unexpected_exit (sandbox, clean);
}

static void on_health_exit (Sandbox *sandbox, int status);

/* Not ours to track: a process reparented to us (see ORPHANS_MAX). */
static void
remember_orphan (MoatSupervisor *supervisor, pid_t pid, int status)
{
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, supervisor->orphans);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (now - ((Orphan *)value)->reaped_at > ORPHAN_TTL_USEC
        || g_hash_table_size (supervisor->orphans) >= ORPHANS_MAX)
      g_hash_table_iter_remove (&iter);
  Orphan *orphan = g_new (Orphan, 1);
  orphan->status = status;
  orphan->reaped_at = now;
  g_hash_table_replace (supervisor->orphans, GINT_TO_POINTER (pid), orphan);
}

static void
dispatch_exit (MoatSupervisor *supervisor, pid_t pid, int status)
{
  ChildEntry *entry = g_hash_table_lookup (supervisor->children, GINT_TO_POINTER (pid));
  if (entry == NULL)
    {
      remember_orphan (supervisor, pid, status);
      return;
    }
  Sandbox *sandbox = entry->sandbox;
  ChildRole role = entry->role;
  g_hash_table_remove (supervisor->children, GINT_TO_POINTER (pid));
  switch (role)
    {
    case ROLE_LAUNCHER:
      on_launcher_exit (sandbox, status);
      break;
    case ROLE_MAIN:
      on_main_exit (sandbox, status);
      break;
    case ROLE_HEALTH:
      on_health_exit (sandbox, status);
      break;
    }
}

static gboolean
on_sigchld (int fd, GIOCondition condition, gpointer user_data)
{
  MoatSupervisor *supervisor = user_data;
  struct signalfd_siginfo info;
  while (read (fd, &info, sizeof info) == sizeof info)
    ;
  for (;;)
    {
      int status;
      pid_t pid = waitpid (-1, &status, WNOHANG);
      if (pid <= 0)
        break;
      dispatch_exit (supervisor, pid, status);
    }
  return G_SOURCE_CONTINUE;
}

/* --- stopping ------------------------------------------------------------------------- */

static guint
stop_timeout_ms (Sandbox *sandbox)
{
  guint timeout_ms = sandbox->manifest ? sandbox->manifest->stop_timeout_usec / 1000 : 10000;
  return MAX (timeout_ms, 1);
}

static gboolean
on_kill_timer (gpointer user_data)
{
  Sandbox *sandbox = user_data;
  sandbox->kill_timer = 0;
  if (sandbox->main_pid > 0)
    {
      emit (sandbox->supervisor, sandbox->name, LOG_NOTICE,
            "did not stop within its StopTimeout; killing it");
      kill (sandbox->main_pid, SIGKILL);
    }
  else if (sandbox->launcher_pid > 0)
    {
      emit (sandbox->supervisor, sandbox->name, LOG_NOTICE,
            "still starting after its StopTimeout; killing crun");
      kill (sandbox->launcher_pid, SIGKILL);
    }
  return G_SOURCE_REMOVE;
}

static void
begin_stop (Sandbox *sandbox)
{
  sandbox->state = STATE_STOPPING;
  g_clear_handle_id (&sandbox->health_timer, g_source_remove);
  /* The sandbox's init is our child until we reap it, so its pid cannot be reused. */
  if (sandbox->main_pid > 0)
    kill (sandbox->main_pid, SIGTERM);
  g_clear_handle_id (&sandbox->kill_timer, g_source_remove);
  sandbox->kill_timer = g_timeout_add (stop_timeout_ms (sandbox), on_kill_timer, sandbox);
}

/* --- health --------------------------------------------------------------------------- */

/* A check runs in a process group of its own (moat_spawn starts a session), which nsenter
 * and moat-init keep; crun exec, though, puts the check in a new session inside the
 * sandbox, found through the pid file crun writes. Killing only crun or nsenter would leave
 * the check running. */
static void
kill_health_group (Sandbox *sandbox, gboolean check_alive)
{
  if (sandbox->health_pid <= 0)
    return;
  g_autofree char *bundle = run_dir_of (sandbox);
  g_autofree char *pid_file = g_build_filename (bundle, "health.pid", NULL);
  g_autofree char *text = NULL;
  guint64 pid;
  /* Only while crun exec still waits for it is that pid surely still the check's. */
  if (check_alive && g_file_get_contents (pid_file, &text, NULL, NULL)
      && g_ascii_string_to_unsigned (g_strstrip (text), 10, 2, G_MAXINT32, &pid, NULL))
    {
      pid_t group = getpgid ((pid_t)pid);
      if (group > 1 && group != getpgid (0))
        kill (-group, SIGKILL);
    }
  unlink (pid_file);
  kill (-sandbox->health_pid, SIGKILL);
}

static gboolean
on_health_kill_timer (gpointer user_data)
{
  Sandbox *sandbox = user_data;
  sandbox->health_kill_timer = 0;
  kill_health_group (sandbox, TRUE);
  return G_SOURCE_REMOVE;
}

static GStrv
health_argv (Sandbox *sandbox)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  if (sandbox->manifest->backend == MOAT_BACKEND_CRUN)
    {
      g_autofree char *bundle = run_dir_of (sandbox);
      g_autofree char *pid_file = g_build_filename (bundle, "health.pid", NULL);
      g_strv_builder_add_many (builder, supervisor->crun_path, "--root", supervisor->crun_root,
                               "exec", "--pid-file", pid_file, sandbox->name, NULL);
    }
  else
    {
      /* Enter the sandbox's namespaces and root; moat-init then drops every capability and
       * loads the same seccomp filter before the check runs. */
      /* The sandbox's init is nspawn's child; without one (nspawn still setting up) there is
       * nothing to check yet: never enter nspawn itself, which lives in the host's namespaces. */
      g_autofree char *leader = NULL;
      g_autofree char *children_path
          = g_strdup_printf ("/proc/%d/task/%d/children", sandbox->main_pid, sandbox->main_pid);
      if (!g_file_get_contents (children_path, &leader, NULL, NULL) || *g_strstrip (leader) == '\0')
        return NULL;
      char *space = strchr (leader, ' ');
      if (space != NULL)
        *space = '\0';
      g_autofree char *target = g_strdup_printf ("--target=%s", leader);
      g_strv_builder_add_many (builder, supervisor->nsenter_path, target, "--all", "--root", "--wd",
                               MOAT_NSPAWN_INIT_PATH, "--seccomp", MOAT_NSPAWN_BPF_PATH, NULL);
      /* nsenter and moat-init run in moatd's domain; the check itself runs in the sandbox's. */
      if (supervisor->config.selinux)
        {
          g_autofree char *label = moat_selinux_process_label (&sandbox->identity);
          g_strv_builder_add_many (builder, "--exec-label", label, NULL);
        }
      g_strv_builder_add (builder, "--");
    }
  g_strv_builder_addv (builder, (const char **)sandbox->manifest->health_command);
  return g_strv_builder_end (builder);
}

static gboolean
on_health_timer (gpointer user_data)
{
  Sandbox *sandbox = user_data;
  if (sandbox->state != STATE_RUNNING || sandbox->health_pid > 0)
    return G_SOURCE_CONTINUE;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = health_argv (sandbox);
  if (argv == NULL)
    return G_SOURCE_CONTINUE;
  int log_fd = open_log (sandbox, NULL);
  pid_t pid;
  gboolean ok = moat_spawn ((const char *const *)argv, log_fd, &pid, &error);
  if (log_fd >= 0)
    close (log_fd);
  if (!ok)
    {
      emit (sandbox->supervisor, sandbox->name, LOG_ERR, "health check: %s", error->message);
      return G_SOURCE_CONTINUE;
    }
  sandbox->health_pid = pid;
  track_child (sandbox->supervisor, pid, sandbox, ROLE_HEALTH);
  sandbox->health_kill_timer = g_timeout_add (
      MAX (sandbox->manifest->health_timeout_usec / 1000, 1), on_health_kill_timer, sandbox);
  return G_SOURCE_CONTINUE;
}

static void
schedule_health (Sandbox *sandbox)
{
  if (sandbox->manifest->health_command == NULL)
    return;
  guint interval_ms = MAX (sandbox->manifest->health_interval_usec / 1000, 100);
  sandbox->health_timer = g_timeout_add (interval_ms, on_health_timer, sandbox);
}

static void
on_health_exit (Sandbox *sandbox, int status)
{
  /* Whatever the check left behind in its group goes with it (a pid stays reserved while it
   * names a process group, so this reaches only that group). */
  kill_health_group (sandbox, FALSE);
  sandbox->health_pid = 0;
  g_clear_handle_id (&sandbox->health_kill_timer, g_source_remove);
  if (sandbox->state != STATE_RUNNING)
    return;
  HealthState before = sandbox->health;
  gboolean passed = WIFEXITED (status) && WEXITSTATUS (status) == 0;
  sandbox->consecutive_health_failures = passed ? 0 : sandbox->consecutive_health_failures + 1;
  sandbox->health = passed ? HEALTH_HEALTHY : HEALTH_UNHEALTHY;
  if (sandbox->health != before)
    {
      g_autofree char *how = moat_describe_wait_status (status);
      emit (sandbox->supervisor, sandbox->name, passed ? LOG_INFO : LOG_WARNING,
            "health: %s (check %s)", supervise_health_names[sandbox->health], how);
    }
}

/* --- public --------------------------------------------------------------------------- */

MoatSupervisor *
moat_supervisor_new (const MoatSupervisorConfig *config, MoatEventFunc on_event,
                     gpointer event_data, GError **error)
{
  g_autoptr (MoatSupervisor) supervisor = g_new0 (MoatSupervisor, 1);
  supervisor->signal_fd = -1;
  supervisor->config = *config;
  supervisor->state_dir = g_strdup (config->state_dir);
  supervisor->run_dir = g_strdup (config->run_dir);
  supervisor->log_dir = g_strdup (config->log_dir);
  supervisor->init_path = g_strdup (config->init_path);
  supervisor->crun_path = g_strdup (config->crun_path);
  supervisor->nspawn_path = g_strdup (config->nspawn_path);
  supervisor->nsenter_path = g_strdup (config->nsenter_path);
  supervisor->cgroup_manager = g_strdup (config->cgroup_manager);
  supervisor->crun_root = g_build_filename (config->run_dir, "crun", NULL);
  supervisor->ip_path = g_strdup (config->ip_path ? config->ip_path : "/usr/sbin/ip");
  supervisor->nft_path = g_strdup (config->nft_path ? config->nft_path : "/usr/sbin/nft");
  supervisor->unshare_path
      = g_strdup (config->unshare_path ? config->unshare_path : "/usr/bin/unshare");
  supervisor->network_tools = (MoatNetworkTools){
    .run_dir = supervisor->run_dir,
    .ip_path = supervisor->ip_path,
    .nft_path = supervisor->nft_path,
    .unshare_path = supervisor->unshare_path,
    .nsenter_path = supervisor->nsenter_path,
    .udevadm_path = "/usr/bin/udevadm",
  };
  supervisor->relay = moat_relay_new ();
  supervisor->on_event = on_event;
  supervisor->event_data = event_data;
  supervisor->sandboxes
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)sandbox_free);
  supervisor->children = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  supervisor->orphans = g_hash_table_new_full (NULL, NULL, NULL, g_free);

  g_autofree char *sandboxes_dir = g_build_filename (config->state_dir, "sandboxes", NULL);
  g_autofree char *run_sandboxes = g_build_filename (config->run_dir, "sandboxes", NULL);
  /* 0755 on the way down: crun sets up the root inside the sandbox's user namespace, where
   * host root's directories are only traversable through their "other" bits. */
  const char *dirs[] = { config->state_dir, sandboxes_dir,         config->run_dir,
                         run_sandboxes,     supervisor->crun_root, config->log_dir };
  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    if (g_mkdir_with_parents (dirs[i], 0755) < 0)
      return moat_error_errno (error, errno, "create", dirs[i]), NULL;

  sigset_t mask;
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  if (sigprocmask (SIG_BLOCK, &mask, NULL) < 0)
    return moat_error_errno (error, errno, "block", "SIGCHLD"), NULL;
  supervisor->signal_fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (supervisor->signal_fd < 0)
    return moat_error_errno (error, errno, "create", "signalfd"), NULL;
  supervisor->signal_source
      = g_unix_fd_add (supervisor->signal_fd, G_IO_IN, on_sigchld, supervisor);

  /* Nodes nspawn binds over the paths it masks; it must live on a mount without nodev. */
  g_autofree char *inaccessible = g_build_filename (config->state_dir, "inaccessible", NULL);
  if (!moat_nspawn_make_inaccessible_dir (inaccessible, error))
    return NULL;
  supervisor->inaccessible_dir = g_steal_pointer (&inaccessible);
  /* Namespaces and rules of a moatd that died; its sandboxes are cleaned before they start. */
  if (!moat_network_reset (&supervisor->network_tools, error))
    return NULL;
  return g_steal_pointer (&supervisor);
}

void
moat_supervisor_free (MoatSupervisor *supervisor)
{
  if (supervisor == NULL)
    return;
  g_clear_handle_id (&supervisor->signal_source, g_source_remove);
  if (supervisor->signal_fd >= 0)
    close (supervisor->signal_fd);
  g_clear_pointer (&supervisor->sandboxes, g_hash_table_unref);
  g_clear_pointer (&supervisor->children, g_hash_table_unref);
  g_clear_pointer (&supervisor->orphans, g_hash_table_unref);
  g_clear_pointer (&supervisor->relay, moat_relay_free);
  g_free (supervisor->state_dir);
  g_free (supervisor->run_dir);
  g_free (supervisor->log_dir);
  g_free (supervisor->init_path);
  g_free (supervisor->crun_path);
  g_free (supervisor->nspawn_path);
  g_free (supervisor->nsenter_path);
  g_free (supervisor->cgroup_manager);
  g_free (supervisor->crun_root);
  g_free (supervisor->inaccessible_dir);
  g_free (supervisor->ip_path);
  g_free (supervisor->nft_path);
  g_free (supervisor->unshare_path);
  g_free (supervisor);
}

void
moat_supervisor_start_all (MoatSupervisor *supervisor)
{
  g_autoptr (GPtrArray) sandboxes = supervise_installed (supervisor);
  for (guint i = 0; i < sandboxes->len; i++)
    {
      Sandbox *sandbox = sandboxes->pdata[i];
      /* Left over from a daemon that did not stop cleanly: clear it first. */
      g_autofree char *bundle = run_dir_of (sandbox);
      if (g_file_test (bundle, G_FILE_TEST_EXISTS))
        cleanup (sandbox);
      if (sandbox->state == STATE_STOPPED || sandbox->state == STATE_FAILED)
        sandbox_launch_or_fail (sandbox);
    }
}

gboolean
moat_supervisor_start (MoatSupervisor *supervisor, const char *name, MoatDoneFunc done,
                       gpointer user_data, GError **error)
{
  Sandbox *sandbox = supervise_lookup (supervisor, name, error);
  if (sandbox == NULL)
    return FALSE;
  switch (sandbox->state)
    {
    case STATE_STARTING:
    case STATE_RUNNING:
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS, "%s is already running", name),
             FALSE;
    case STATE_STOPPING:
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "%s is stopping", name), FALSE;
    case STATE_BACKOFF:
      g_clear_handle_id (&sandbox->restart_timer, g_source_remove);
      break;
    case STATE_STOPPED:
    case STATE_FAILED:
      break;
    }
  /* A start by hand begins a fresh backoff. */
  sandbox->restarts = 0;
  sandbox->backoff_ms = supervisor->config.restart_base_ms;
  sandbox->stop_requested = FALSE;
  if (!sandbox_launch (sandbox, error))
    {
      supervise_set_error (sandbox, (*error)->message);
      sandbox->state = STATE_FAILED;
      return FALSE;
    }
  add_waiter (sandbox, done, user_data, TRUE);
  settle_waiters (sandbox);
  return TRUE;
}

gboolean
moat_supervisor_stop (MoatSupervisor *supervisor, const char *name, MoatDoneFunc done,
                      gpointer user_data, GError **error)
{
  Sandbox *sandbox = supervise_lookup (supervisor, name, error);
  if (sandbox == NULL)
    return FALSE;
  switch (sandbox->state)
    {
    case STATE_STOPPED:
    case STATE_FAILED:
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_RUNNING, "%s is not running", name),
             FALSE;
    case STATE_BACKOFF:
      g_clear_handle_id (&sandbox->restart_timer, g_source_remove);
      emit (supervisor, name, LOG_INFO, "stopped (was waiting to restart)");
      add_waiter (sandbox, done, user_data, FALSE);
      set_state (sandbox, STATE_STOPPED);
      return TRUE;
    case STATE_STARTING:
      /* Stopped as soon as crun is done; a crun that hangs is killed after StopTimeout. */
      sandbox->stop_requested = TRUE;
      if (sandbox->kill_timer == 0)
        sandbox->kill_timer = g_timeout_add (stop_timeout_ms (sandbox), on_kill_timer, sandbox);
      break;
    case STATE_RUNNING:
      begin_stop (sandbox);
      break;
    case STATE_STOPPING:
      break;
    }
  add_waiter (sandbox, done, user_data, FALSE);
  return TRUE;
}

typedef struct
{
  MoatSupervisor *supervisor;
  char *name;
  MoatDoneFunc done;
  gpointer user_data;
} RestartRequest;

static void
restart_after_stop (const GError *stop_error, gpointer user_data)
{
  RestartRequest *request = user_data;
  g_autoptr (GError) error = NULL;
  if (stop_error != NULL)
    error = g_error_copy (stop_error);
  else if (moat_supervisor_start (request->supervisor, request->name, request->done,
                                  request->user_data, &error))
    request->done = NULL;
  if (request->done != NULL)
    request->done (error, request->user_data);
  g_free (request->name);
  g_free (request);
}

gboolean
moat_supervisor_restart (MoatSupervisor *supervisor, const char *name, MoatDoneFunc done,
                         gpointer user_data, GError **error)
{
  RestartRequest *request = g_new0 (RestartRequest, 1);
  request->supervisor = supervisor;
  request->name = g_strdup (name);
  request->done = done;
  request->user_data = user_data;
  g_autoptr (GError) local_error = NULL;
  if (moat_supervisor_stop (supervisor, name, restart_after_stop, request, &local_error))
    return TRUE;
  g_free (request->name);
  g_free (request);
  if (!g_error_matches (local_error, MOAT_ERROR, MOAT_ERROR_NOT_RUNNING))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return moat_supervisor_start (supervisor, name, done, user_data, error);
}

void
moat_supervisor_stop_all (MoatSupervisor *supervisor, MoatDoneFunc done, gpointer user_data)
{
  supervisor->all_stopped = done;
  supervisor->all_stopped_data = user_data;
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, supervisor->sandboxes);
  gboolean any = FALSE;
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Sandbox *sandbox = value;
      if (sandbox->state == STATE_BACKOFF)
        {
          g_clear_handle_id (&sandbox->restart_timer, g_source_remove);
          sandbox->state = STATE_STOPPED;
        }
      else if (sandbox->state == STATE_RUNNING)
        begin_stop (sandbox), any = TRUE;
      else if (sandbox->state == STATE_STARTING)
        sandbox->stop_requested = TRUE, any = TRUE;
      else if (sandbox->state == STATE_STOPPING)
        any = TRUE;
    }
  if (!any)
    {
      supervisor->all_stopped = NULL;
      done (NULL, user_data);
    }
}
