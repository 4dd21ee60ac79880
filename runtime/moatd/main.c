/* moatd: starts every installed sandbox, supervises them, and answers the local API.
 * All the work is in runtime/lib (supervise.c, server.c); this file wires it to the
 * system: options, systemd notification and watchdog, the journal, signals. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <syslog.h>
#include <unistd.h>

#include <glib-unix.h>
#include <linux/magic.h>

#include "boot.h"
#include "moat-error.h"
#include "remote.h"
#include "sd.h"
#include "selinux.h"
#include "server.h"
#include "supervise.h"

typedef struct
{
  GMainLoop *loop;
  MoatSupervisor *supervisor;
  gboolean journal;
  gboolean stopping;
} Daemon;

/* Each event is written once: to the journal with the sandbox as a field, or to stderr. */
static void
on_event (const char *name, int priority, const char *message, gpointer user_data)
{
  Daemon *daemon = user_data;
  if (daemon->journal)
    {
      g_autofree char *text
          = g_strdup_printf ("%s%s%s", name ? name : "", name ? ": " : "", message);
      moat_journal_send (MOAT_JOURNAL_SOCKET, priority, "moatd", name, text, NULL);
      return;
    }
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%H:%M:%S");
  fprintf (stderr, "moatd %s: %s%s%s\n", stamp, name ? name : "", name ? ": " : "", message);
}

static void
on_all_stopped (const GError *error, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_main_loop_quit (daemon->loop);
}

static gboolean
on_terminate (gpointer user_data)
{
  Daemon *daemon = user_data;
  if (daemon->stopping)
    return G_SOURCE_CONTINUE;
  daemon->stopping = TRUE;
  moat_sd_notify ("STOPPING=1", NULL);
  on_event (NULL, LOG_INFO, "stopping every sandbox", daemon);
  moat_supervisor_stop_all (daemon->supervisor, on_all_stopped, daemon);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog (gpointer user_data)
{
  Daemon *daemon = user_data;
  guint running, unhealthy;
  moat_supervisor_counts (daemon->supervisor, &running, &unhealthy);
  g_autofree char *state = g_strdup_printf (
      "WATCHDOG=1\nSTATUS=%u sandboxes running, %u required not healthy", running, unhealthy);
  moat_sd_notify (state, NULL);
  return G_SOURCE_CONTINUE;
}

/* crun applies limits only where it can: under systemd with a pure cgroup2 tree. */
static const char *
pick_cgroup_manager (gboolean booted)
{
  struct statfs fs;
  if (booted && statfs ("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
    return "systemd";
  return "disabled";
}

/* PROGRAM beside moatd (a build tree), else INSTALLED. */
static char *
default_path (const char *program, const char *installed)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  if (self != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (self);
      g_autofree char *beside = g_build_filename (dir, program, NULL);
      if (g_file_test (beside, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&beside);
    }
  return g_strdup (installed);
}

static void
on_boot_log (int priority, const char *message, gpointer user_data)
{
  on_event (NULL, priority, message, user_data);
}

int
main (int argc, char **argv)
{
  /* NULL until parsed: GOption replaces a string without freeing what was there. */
  g_autofree char *state_dir = NULL;
  g_autofree char *run_dir = NULL;
  g_autofree char *log_dir = NULL;
  g_autofree char *init_path = NULL;
  g_autofree char *cgroup_manager = NULL;
  g_autofree char *moat_path = NULL;
  gboolean no_boot_check = FALSE;
  gboolean boot_check = FALSE;
  int restart_delay_ms = 1000;
  int restart_max_ms = 60000;
  gboolean no_start = FALSE;
  gboolean no_journal = FALSE;
  GOptionEntry entries[] = {
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "Installed sandboxes [/var/lib/moat]",
      "DIR" },
    { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &run_dir, "Socket and runtime state [/run/moat]",
      "DIR" },
    { "log-dir", 0, 0, G_OPTION_ARG_FILENAME, &log_dir,
      "Sandbox logs when no journal runs [/var/log/moat]", "DIR" },
    { "init", 0, 0, G_OPTION_ARG_FILENAME, &init_path, "moat-init for nspawn sandboxes", "PATH" },
    { "cgroup-manager", 0, 0, G_OPTION_ARG_STRING, &cgroup_manager,
      "crun's cgroup manager: systemd, cgroupfs or disabled [systemd on cgroup2, else disabled]",
      "NAME" },
    { "restart-delay-ms", 0, 0, G_OPTION_ARG_INT, &restart_delay_ms,
      "First restart delay; doubles each time [1000]", "MS" },
    { "restart-max-ms", 0, 0, G_OPTION_ARG_INT, &restart_max_ms, "Longest restart delay [60000]",
      "MS" },
    { "no-start", 0, 0, G_OPTION_ARG_NONE, &no_start, "Do not start sandboxes at startup", NULL },
    { "moat", 0, 0, G_OPTION_ARG_FILENAME, &moat_path,
      "The moat CLI, for boot checks [beside moatd, else /usr/bin/moat]", "PATH" },
    { "no-boot-check", 0, 0, G_OPTION_ARG_NONE, &no_boot_check,
      "Never act on a trial boot of a new OS deployment", NULL },
    { "boot-check", 0, 0, G_OPTION_ARG_NONE, &boot_check,
      "Ask MOAT boot-check even when this is no booted OSTree system [only on one]", NULL },
    { "no-journal", 0, 0, G_OPTION_ARG_NONE, &no_journal,
      "Log to stderr and LOG_DIR even when journald runs", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- the Moat sandbox supervisor");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "moatd: %s\n", error->message);
      return 2;
    }
  if (state_dir == NULL)
    state_dir = g_strdup ("/var/lib/moat");
  if (run_dir == NULL)
    run_dir = g_strdup ("/run/moat");
  if (log_dir == NULL)
    log_dir = g_strdup ("/var/log/moat");
  if (cgroup_manager != NULL && g_strcmp0 (cgroup_manager, "systemd") != 0
      && g_strcmp0 (cgroup_manager, "cgroupfs") != 0 && g_strcmp0 (cgroup_manager, "disabled") != 0)
    {
      fprintf (stderr, "moatd: --cgroup-manager: '%s' is not systemd, cgroupfs or disabled\n",
               cgroup_manager);
      return 2;
    }
  if (restart_delay_ms < 1 || restart_max_ms < restart_delay_ms)
    {
      fprintf (stderr, "moatd: restart delays must be positive and max >= first\n");
      return 2;
    }
  if (geteuid () != 0)
    {
      fprintf (stderr, "moatd: must run as root\n");
      return 1;
    }
  /* Sandboxes started through crun --detach are reparented to us: we stay their parent. */
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    {
      fprintf (stderr, "moatd: become a child subreaper: %s\n", g_strerror (errno));
      return 1;
    }

  gboolean booted = moat_sd_booted ();
  Daemon daemon = {
    .journal = !no_journal && access ("/run/systemd/journal/stdout", W_OK) == 0,
  };
  if (init_path == NULL)
    init_path = default_path ("moat-init", "/usr/libexec/moat/moat-init");
  if (moat_path == NULL)
    moat_path = default_path ("moat", "/usr/bin/moat");
  MoatSupervisorConfig config = {
    .state_dir = state_dir,
    .run_dir = run_dir,
    .log_dir = log_dir,
    .init_path = init_path,
    .crun_path = "/usr/bin/crun",
    .nspawn_path = "/usr/bin/systemd-nspawn",
    .nsenter_path = "/usr/bin/nsenter",
    .cgroup_manager = cgroup_manager ? cgroup_manager : pick_cgroup_manager (booted),
    .restart_base_ms = (guint)restart_delay_ms,
    .restart_max_ms = (guint)restart_max_ms,
    .use_journal = daemon.journal,
    .selinux = moat_selinux_enabled (),
    .systemd_booted = booted,
  };
  g_autoptr (MoatSupervisor) supervisor = moat_supervisor_new (&config, on_event, &daemon, &error);
  if (supervisor == NULL)
    {
      fprintf (stderr, "moatd: %s\n", error->message);
      return 1;
    }
  daemon.supervisor = supervisor;
  g_autofree char *socket_path = g_build_filename (run_dir, "moatd.sock", NULL);
  g_autoptr (MoatServer) server = moat_server_new (socket_path, supervisor, &error);
  if (server == NULL)
    {
      fprintf (stderr, "moatd: %s\n", error->message);
      return 1;
    }

  daemon.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_terminate, &daemon);
  g_unix_signal_add (SIGINT, on_terminate, &daemon);
  guint64 watchdog_usec = 0;
  if (moat_sd_watchdog_usec (&watchdog_usec))
    g_timeout_add (MAX (watchdog_usec / 2000, 1), on_watchdog, &daemon);

  on_event (NULL, LOG_INFO,
            config.selinux ? "ready; SELinux enabled"
                           : "ready; SELinux is not enabled on this host, sandboxes get no labels",
            &daemon);
  /* Ready once the API answers, before the sandboxes start: units ordered after moatd, and the
   * boot itself (multi-user.target), do not wait for a sandbox's network and runtime. Whether
   * the sandboxes came up is the boot gate's question, and `moat status` tells. */
  moat_sd_notify ("READY=1", NULL);
  /* Remote access comes back at boot if it was enabled; a failure must not keep sandboxes down. */
  g_autoptr (GError) remote_error = NULL;
  if (!moat_remote_restore (MOAT_REMOTE_CONFIG_DIR, &remote_error))
    on_event (NULL, LOG_ERR, remote_error->message, &daemon);
  if (!no_start)
    moat_supervisor_start_all (supervisor);
  /* Only a booted OSTree system has boots to judge. */
  g_autoptr (BootGate) gate = NULL;
  if (!no_boot_check && (boot_check || access ("/run/ostree-booted", F_OK) == 0))
    gate = boot_gate_start (moat_path, supervisor, on_boot_log, &daemon);
  on_watchdog (&daemon);
  g_main_loop_run (daemon.loop);
  g_main_loop_unref (daemon.loop);
  return 0;
}
