#include "boot.h"

#include <gio/gio.h>
#include <string.h>
#include <syslog.h>

#include "jsonread.h"
#include "osupdate.h"

#define TICK_SECONDS 2

struct BootGate
{
  char *moat_path;
  MoatSupervisor *supervisor;
  BootLogFunc log;
  gpointer user_data;
  GCancellable *cancellable;
  gint64 started; /* monotonic usec, when moatd started */
  gint64 timeout_usec;
  char *what; /* the version on trial */
  guint attempt, attempts;
  guint tick;
};

static void gate_log (BootGate *gate, int priority, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
gate_log (BootGate *gate, int priority, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  gate->log (priority, message, gate->user_data);
}

/* The output of a finished `moat boot-check`, or NULL (said in the log) when it did not run
 * to a successful end. */
static char *
finish (BootGate *gate, GObject *source, GAsyncResult *result)
{
  GSubprocess *process = G_SUBPROCESS (source);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  if (!g_subprocess_communicate_utf8_finish (process, result, &out, NULL, &error))
    {
      /* Cancelled: moatd is going away, and GATE with it. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        gate_log (gate, LOG_ERR, "boot check: %s", error->message);
      return NULL;
    }
  if (!g_subprocess_get_successful (process))
    {
      gate_log (gate, LOG_ERR, "boot check: %s boot-check exited with status %d", gate->moat_path,
                g_subprocess_get_exit_status (process));
      return NULL;
    }
  return g_steal_pointer (&out);
}

static void
on_verdict_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree char *out = finish (user_data, source, result);
}

/* Run `moat boot-check ARGS...`, its output to DONE. */
static void
run_boot_check (BootGate *gate, GAsyncReadyCallback done, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, gate->moat_path);
  g_ptr_array_add (argv, "boot-check");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  g_ptr_array_add (argv, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) process = g_subprocess_newv ((const char *const *)argv->pdata,
                                                       G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  if (process == NULL)
    {
      gate_log (gate, LOG_ERR, "boot check: %s", error->message);
      return;
    }
  g_subprocess_communicate_utf8_async (process, NULL, gate->cancellable, done, gate);
}

static gboolean
on_tick (gpointer user_data)
{
  BootGate *gate = user_data;
  guint running, unhealthy;
  moat_supervisor_counts (gate->supervisor, &running, &unhealthy);
  if (unhealthy == 0)
    {
      gate_log (gate, LOG_INFO, "boot check: every Required sandbox is healthy: %s is good",
                gate->what);
      const char *args[] = { "good", NULL };
      run_boot_check (gate, on_verdict_done, args);
      gate->tick = 0;
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () - gate->started < gate->timeout_usec)
    return G_SOURCE_CONTINUE;
  g_autofree char *problems = moat_supervisor_required_problems (gate->supervisor);
  g_autofree char *reason = g_strdup_printf ("not healthy within %" G_GINT64_FORMAT " s: %s",
                                             gate->timeout_usec / G_USEC_PER_SEC, problems);
  gate_log (gate, LOG_ERR, "boot check: %s failed attempt %u of %u, %s; rebooting%s", gate->what,
            gate->attempt, gate->attempts, reason,
            gate->attempt >= gate->attempts ? " into the previous deployment" : "");
  const char *args[] = { "failed", reason, "--reboot", NULL };
  run_boot_check (gate, on_verdict_done, args);
  gate->tick = 0;
  return G_SOURCE_REMOVE;
}

static void
on_check_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BootGate *gate = user_data;
  g_autofree char *out = finish (gate, source, result);
  if (out == NULL)
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatJsonValue) boot = moat_jv_parse (out, strlen (out), &error);
  if (boot == NULL)
    {
      gate_log (gate, LOG_ERR, "boot check: %s boot-check --json: %s", gate->moat_path,
                error->message);
      return;
    }
  const char *state = moat_jv_member_string (boot, "state", "");
  gate->what = g_strdup (moat_jv_member_string (
      boot, "version", moat_jv_member_string (boot, "deployment", "the new deployment")));
  if (strcmp (state, "rolled-back") == 0)
    gate_log (gate, LOG_WARNING, "boot check: the update to %s failed and was rolled back: %s",
              gate->what, moat_jv_member_string (boot, "reason", "?"));
  if (strcmp (state, "trial") != 0)
    return;
  gate->attempt = (guint)moat_jv_member_int (boot, "attempt", 1);
  gate->attempts = (guint)moat_jv_member_int (boot, "attempts", 1);
  gate->timeout_usec = moat_jv_member_int (boot, "health_timeout", MOAT_OS_DEFAULT_HEALTH_TIMEOUT)
                       * G_USEC_PER_SEC;
  gate_log (gate, LOG_INFO,
            "boot check: this boot is attempt %u of %u at %s; it is good once every Required "
            "sandbox is healthy, within %" G_GINT64_FORMAT " s",
            gate->attempt, gate->attempts, gate->what, gate->timeout_usec / G_USEC_PER_SEC);
  gate->tick = g_timeout_add_seconds (TICK_SECONDS, on_tick, gate);
}

BootGate *
boot_gate_start (const char *moat_path, MoatSupervisor *supervisor, BootLogFunc log,
                 gpointer user_data)
{
  BootGate *gate = g_new0 (BootGate, 1);
  gate->moat_path = g_strdup (moat_path);
  gate->supervisor = supervisor;
  gate->log = log;
  gate->user_data = user_data;
  gate->cancellable = g_cancellable_new ();
  gate->started = g_get_monotonic_time ();
  const char *args[] = { "--json", NULL };
  run_boot_check (gate, on_check_done, args);
  return gate;
}

void
boot_gate_free (BootGate *gate)
{
  if (gate == NULL)
    return;
  g_cancellable_cancel (gate->cancellable);
  g_clear_object (&gate->cancellable);
  if (gate->tick)
    g_source_remove (gate->tick);
  g_free (gate->what);
  g_free (gate->moat_path);
  g_free (gate);
}
