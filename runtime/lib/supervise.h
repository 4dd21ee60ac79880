/* The supervisor at the heart of moatd: it starts sandboxes through crun (detached, so no
 * process stays beside the sandbox) or systemd-nspawn, is the parent of every sandbox (the
 * daemon is a child subreaper), restarts them with exponential backoff, runs their health
 * checks and stops them with SIGTERM, then SIGKILL after their StopTimeout.
 *
 * Installed sandboxes live in STATE_DIR/sandboxes/NAME/: current/manifest and
 * current/rootfs (the deployed bundle), data/ (persistent, owned by the sandbox's uids) and
 * identity. While one runs, RUN_DIR/sandboxes/NAME/ holds its config; it is removed when the
 * sandbox stops. */
#pragma once

#include <glib.h>

typedef struct MoatSupervisor MoatSupervisor;

typedef struct
{
  const char *state_dir;      /* /var/lib/moat */
  const char *run_dir;        /* /run/moat */
  const char *log_dir;        /* /var/log/moat, used when no journal runs */
  const char *init_path;      /* moat-init, bound into nspawn sandboxes */
  const char *crun_path;      /* /usr/bin/crun */
  const char *nspawn_path;    /* /usr/bin/systemd-nspawn */
  const char *nsenter_path;   /* /usr/bin/nsenter, for nspawn health checks */
  const char *cgroup_manager; /* crun's --cgroup-manager: disabled, cgroupfs or systemd */
  /* For sandboxes with a [Network] policy; NULL: /usr/sbin/ip, /usr/sbin/nft, /usr/bin/unshare */
  const char *ip_path;
  const char *nft_path;
  const char *unshare_path;
  guint restart_base_ms; /* first restart delay; doubles up to restart_max_ms */
  guint restart_max_ms;
  gboolean use_journal; /* sandbox output to the journal (else LOG_DIR/NAME.log) */
  gboolean selinux;     /* label sandboxes */
  gboolean systemd_booted;
} MoatSupervisorConfig;

/* How the supervisor reports what happened to a sandbox; moatd logs it once. NAME may be
 * NULL for the daemon itself. PRIORITY is a syslog priority. */
typedef void (*MoatEventFunc) (const char *name, int priority, const char *message,
                               gpointer user_data);

/* Completion of an asynchronous start or stop: ERROR is NULL on success. */
typedef void (*MoatDoneFunc) (const GError *error, gpointer user_data);

MoatSupervisor *moat_supervisor_new (const MoatSupervisorConfig *config, MoatEventFunc on_event,
                                     gpointer event_data, GError **error);
void moat_supervisor_free (MoatSupervisor *supervisor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatSupervisor, moat_supervisor_free)

/* Start every installed sandbox (at boot); failures are reported as events. */
void moat_supervisor_start_all (MoatSupervisor *supervisor);

/* Start NAME. Errors found at once are returned (MOAT_ERROR_EXISTS when it already runs);
 * otherwise DONE is called when the sandbox runs or has failed to start. */
gboolean moat_supervisor_start (MoatSupervisor *supervisor, const char *name, MoatDoneFunc done,
                                gpointer user_data, GError **error);

/* Stop NAME; DONE is called once no process, mount or state of it is left.
 * MOAT_ERROR_NOT_RUNNING when it is stopped already. */
gboolean moat_supervisor_stop (MoatSupervisor *supervisor, const char *name, MoatDoneFunc done,
                               gpointer user_data, GError **error);

/* Stop NAME if it runs, then start it. */
gboolean moat_supervisor_restart (MoatSupervisor *supervisor, const char *name, MoatDoneFunc done,
                                  gpointer user_data, GError **error);

/* Stop everything (daemon shutdown); DONE when the last one is gone. */
void moat_supervisor_stop_all (MoatSupervisor *supervisor, MoatDoneFunc done, gpointer user_data);

/* {"sandboxes":[{...}, ...]} for every installed sandbox. */
char *moat_supervisor_list_json (MoatSupervisor *supervisor);

/* One sandbox's full status: confinement, limits, health, restarts. */
char *moat_supervisor_status_json (MoatSupervisor *supervisor, const char *name, GError **error);

/* How many sandboxes are running, and how many are Required= and not healthy (or failed with a
 * manifest that could not be read). */
void moat_supervisor_counts (MoatSupervisor *supervisor, guint *ret_running,
                             guint *ret_required_unhealthy);

/* What is wrong with each Required= sandbox that is not healthy, for a person ("mqtt is
 * restarting (health none, last error: ...)"); empty when nothing is. */
char *moat_supervisor_required_problems (MoatSupervisor *supervisor);
