/* What supervise.c and supervise-report.c share: the supervisor's and sandboxes' state.
 * Not installed, not for other modules. */
#pragma once

#include "supervise.h"

#include <sys/types.h>

#include "identity.h"
#include "manifest.h"
#include "network.h"
#include "relay.h"

typedef enum
{
  STATE_STOPPED,
  STATE_STARTING,
  STATE_RUNNING,
  STATE_STOPPING,
  STATE_BACKOFF,
  STATE_FAILED,
} SandboxState;

typedef enum
{
  HEALTH_NONE,
  HEALTH_STARTING,
  HEALTH_HEALTHY,
  HEALTH_UNHEALTHY,
} HealthState;

typedef enum
{
  ROLE_LAUNCHER, /* crun run --detach, until it has started the sandbox */
  ROLE_MAIN,     /* the sandbox's init (crun) or systemd-nspawn */
  ROLE_HEALTH,   /* a health check */
} ChildRole;

typedef struct
{
  MoatDoneFunc done;
  gpointer user_data;
  gboolean want_running;
} Waiter;

typedef struct
{
  MoatSupervisor *supervisor;
  char *name;
  MoatManifest *manifest; /* as last loaded; reloaded at every start */
  MoatIdentity identity;
  gboolean have_identity;
  gboolean network_up; /* while its network (moat_network_setup()) is up */
  char *netns_path;    /* then, for crun: the namespace it joins */
  SandboxState state;
  HealthState health;
  gboolean stop_requested; /* a stop arrived while starting */
  pid_t launcher_pid;
  pid_t main_pid;
  pid_t health_pid;
  gint64 started_at;  /* monotonic usec */
  gint64 launched_at; /* when its crun was spawned */
  guint restarts;
  guint backoff_ms;
  int last_exit_status;
  gboolean has_exited;
  guint consecutive_health_failures;
  char *last_error;
  guint kill_timer;
  guint restart_timer;
  guint health_timer;
  guint health_kill_timer;
  GArray *waiters; /* of Waiter */
} Sandbox;

typedef struct
{
  Sandbox *sandbox;
  ChildRole role;
} ChildEntry;

struct MoatSupervisor
{
  MoatSupervisorConfig config; /* strings owned below */
  char *state_dir, *run_dir, *log_dir, *init_path, *crun_path, *nspawn_path, *nsenter_path,
      *cgroup_manager, *crun_root, *inaccessible_dir, *ip_path, *nft_path, *unshare_path;
  MoatNetworkTools network_tools;
  MoatRelay *relay; /* Discover= of running sandboxes */
  MoatEventFunc on_event;
  gpointer event_data;
  GHashTable *sandboxes; /* name -> Sandbox* */
  GHashTable *children;  /* pid -> ChildEntry* */
  GHashTable *orphans;   /* pid -> Orphan* */
  int signal_fd;
  guint signal_source;
  MoatDoneFunc all_stopped;
  gpointer all_stopped_data;
};

extern const char *const supervise_state_names[];
extern const char *const supervise_health_names[];

/* Record MESSAGE as the sandbox's last error. */
void supervise_set_error (Sandbox *sandbox, const char *message);
/* STATE_DIR/sandboxes/NAME/current/manifest */
char *supervise_manifest_path (MoatSupervisor *supervisor, const char *name);
/* NAME's sandbox, found on disk if not known yet; NULL with an error when not installed. */
Sandbox *supervise_lookup (MoatSupervisor *supervisor, const char *name, GError **error);
/* Whether its manifest declares network flows. */
gboolean supervise_has_network (Sandbox *sandbox);
/* Every installed sandbox, sorted by name. */
GPtrArray *supervise_installed (MoatSupervisor *supervisor);
