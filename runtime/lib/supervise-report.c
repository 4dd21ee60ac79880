/* What moatd reports about its sandboxes: the JSON of `moat list` and `moat status`. */
#include "supervise-private.h"

#include "bundle-install.h"
#include "json.h"
#include "moat-error.h"
#include "proc.h"
#include "selinux.h"

/* --- reporting ------------------------------------------------------------------------ */

static void
write_summary (MoatJson *json, Sandbox *sandbox)
{
  if (sandbox->manifest == NULL && sandbox->state != STATE_RUNNING)
    {
      g_autofree char *path = supervise_manifest_path (sandbox->supervisor, sandbox->name);
      g_autoptr (GError) error = NULL;
      sandbox->manifest = moat_manifest_load (path, &error);
      if (sandbox->manifest == NULL)
        supervise_set_error (sandbox, error->message);
    }
  const MoatManifest *manifest = sandbox->manifest;
  moat_json_kv_string (json, "name", sandbox->name);
  moat_json_kv_string (json, "version", manifest ? manifest->version : NULL);
  /* Which commit `current` names and who signed it; null for a sandbox not from a bundle. */
  g_autoptr (MoatBundleInfo) bundle
      = moat_bundle_installed (sandbox->supervisor->state_dir, sandbox->name, FALSE, NULL);
  moat_json_kv_string (json, "commit", bundle ? bundle->checksum : NULL);
  moat_json_kv_string (json, "signed_by", bundle ? bundle->signed_by : NULL);
  moat_json_kv_string (json, "backend",
                       manifest && manifest->backend == MOAT_BACKEND_NSPAWN ? "nspawn" : "crun");
  moat_json_kv_string (json, "state", supervise_state_names[sandbox->state]);
  moat_json_kv_int (json, "pid", sandbox->main_pid);
  moat_json_kv_string (json, "health", supervise_health_names[sandbox->health]);
  moat_json_kv_bool (json, "required", manifest ? manifest->required : FALSE);
  moat_json_kv_int (json, "restarts", sandbox->restarts);
  moat_json_key (json, "last_exit");
  if (sandbox->has_exited)
    {
      g_autofree char *how = moat_describe_wait_status (sandbox->last_exit_status);
      moat_json_string (json, how);
    }
  else
    moat_json_null (json);
  moat_json_kv_string (json, "last_error", sandbox->last_error);
}

char *
moat_supervisor_list_json (MoatSupervisor *supervisor)
{
  g_autoptr (GPtrArray) sandboxes = supervise_installed (supervisor);
  g_autoptr (MoatJson) json = moat_json_new ();
  moat_json_begin_object (json);
  moat_json_key (json, "sandboxes");
  moat_json_begin_array (json);
  for (guint i = 0; i < sandboxes->len; i++)
    {
      moat_json_begin_object (json);
      write_summary (json, sandboxes->pdata[i]);
      moat_json_end_object (json);
    }
  moat_json_end_array (json);
  moat_json_end_object (json);
  return moat_json_steal (g_steal_pointer (&json));
}

typedef char *(*FormatFunc) (gconstpointer item);

/* KEY: an array of ITEMS, each as FORMAT writes it (as a manifest would). */
static void
write_items (MoatJson *json, const char *key, GPtrArray *items, FormatFunc format)
{
  moat_json_key (json, key);
  moat_json_begin_array (json);
  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *text = format (items->pdata[i]);
      moat_json_string (json, text);
    }
  moat_json_end_array (json);
}

/* "network": its mode, and for a sandbox with a policy its address, the flows it declares and
 * how many packets the policy dropped (while it runs). */
static void
write_network (MoatJson *json, Sandbox *sandbox)
{
  moat_json_key (json, "network");
  moat_json_begin_object (json);
  if (!supervise_has_network (sandbox))
    {
      moat_json_kv_string (json, "mode", "loopback only");
      moat_json_end_object (json);
      return;
    }
  const MoatNetworkPolicy *policy = &sandbox->manifest->network;
  moat_json_kv_string (json, "mode", "own namespace, default deny");
  g_autofree char *address
      = moat_network_format_address (moat_network_address (sandbox->identity.slot));
  g_autofree char *ifname = moat_network_interface (sandbox->identity.slot);
  moat_json_kv_string (json, "address", address);
  moat_json_kv_string (json, "interface", ifname);
  write_items (json, "allow", policy->allow, (FormatFunc)moat_flow_to_string);
  write_items (json, "accept", policy->accept, (FormatFunc)moat_flow_to_string);
  write_items (json, "publish", policy->publish, (FormatFunc)moat_publish_to_string);
  write_items (json, "discover", policy->discover, (FormatFunc)moat_discover_to_string);
  guint64 relayed_out, relayed_in;
  if (moat_relay_counts (sandbox->supervisor->relay, sandbox->name, &relayed_out, &relayed_in))
    {
      moat_json_kv_int (json, "relayed_out", (gint64)relayed_out);
      moat_json_kv_int (json, "relayed_in", (gint64)relayed_in);
    }
  guint64 dropped_out, dropped_in;
  if (sandbox->network_up
      && moat_network_counters (&sandbox->supervisor->network_tools, sandbox->name, &dropped_out,
                                &dropped_in, NULL))
    {
      moat_json_kv_int (json, "dropped_out", (gint64)dropped_out);
      moat_json_kv_int (json, "dropped_in", (gint64)dropped_in);
    }
  moat_json_end_object (json);
}

static void
write_confinement (MoatJson *json, Sandbox *sandbox)
{
  MoatSupervisor *supervisor = sandbox->supervisor;
  const MoatManifest *manifest = sandbox->manifest;
  moat_json_key (json, "confinement");
  moat_json_begin_object (json);
  if (sandbox->have_identity)
    {
      moat_json_kv_int (json, "uid_base", sandbox->identity.uid_base);
      moat_json_kv_int (json, "uid_count", MOAT_UID_RANGE);
      g_autofree char *level = moat_identity_mcs_level (&sandbox->identity);
      moat_json_kv_string (json, "mcs", level);
    }
  moat_json_key (json, "selinux");
  moat_json_begin_object (json);
  moat_json_kv_bool (json, "enabled", supervisor->config.selinux);
  if (supervisor->config.selinux && sandbox->have_identity)
    {
      g_autofree char *label = moat_selinux_process_label (&sandbox->identity);
      g_autofree char *file_label = moat_selinux_file_label (&sandbox->identity);
      moat_json_kv_string (json, "process_label", label);
      moat_json_kv_string (json, "file_label", file_label);
    }
  else
    moat_json_kv_string (json, "note", "SELinux is not enabled on this host: no labels applied");
  moat_json_end_object (json);
  moat_json_kv_string (json, "seccomp", "allowlist, default EPERM");
  moat_json_kv_bool (json, "no_new_privileges", TRUE);
  moat_json_kv_bool (json, "read_only_root", TRUE);
  moat_json_key (json, "capabilities");
  moat_json_strv (json, manifest ? (const char *const *)manifest->capabilities : NULL);
  moat_json_key (json, "extra_syscalls");
  moat_json_strv (json, manifest ? (const char *const *)manifest->syscalls : NULL);
  moat_json_key (json, "devices");
  moat_json_begin_array (json);
  for (guint i = 0; manifest && i < manifest->devices->len; i++)
    {
      const MoatDevice *device = manifest->devices->pdata[i];
      g_autofree char *entry = g_strdup_printf ("%s %s", device->path, device->write ? "rw" : "ro");
      moat_json_string (json, entry);
    }
  moat_json_end_array (json);
  write_network (json, sandbox);
  moat_json_end_object (json);

  moat_json_key (json, "limits");
  moat_json_begin_object (json);
  if (manifest)
    {
      moat_json_kv_int (json, "memory_bytes", (gint64)manifest->memory_bytes);
      moat_json_kv_int (json, "cpu_weight", manifest->cpu_weight);
      moat_json_kv_int (json, "pids", manifest->pids);
    }
  gboolean enforced = g_strcmp0 (supervisor->cgroup_manager, "disabled") != 0;
  moat_json_kv_bool (json, "enforced", enforced);
  if (!enforced)
    moat_json_kv_string (json, "note",
                         "no cgroup manager on this host: limits are written but not enforced");
  moat_json_end_object (json);
}

char *
moat_supervisor_status_json (MoatSupervisor *supervisor, const char *name, GError **error)
{
  Sandbox *sandbox = supervise_lookup (supervisor, name, error);
  if (sandbox == NULL)
    return NULL;
  g_autoptr (MoatJson) json = moat_json_new ();
  moat_json_begin_object (json);
  write_summary (json, sandbox);
  if (sandbox->manifest != NULL && !sandbox->have_identity)
    sandbox->have_identity
        = moat_identity_get (supervisor->state_dir, name, &sandbox->identity, NULL);
  write_confinement (json, sandbox);
  g_autofree char *log = supervisor->config.use_journal
                             ? g_strdup_printf ("journal (SYSLOG_IDENTIFIER=%s)", name)
                             : g_strdup_printf ("%s/%s.log", supervisor->log_dir, name);
  moat_json_kv_string (json, "log", log);
  moat_json_end_object (json);
  return moat_json_steal (g_steal_pointer (&json));
}

/* A Required= sandbox that is not running, or whose health check does not pass. One whose
 * manifest could not be read at all counts too: nothing says it is not required, and an OS
 * update that breaks reading manifests must not pass a trial boot. */
static gboolean
required_unhealthy (const Sandbox *sandbox)
{
  if (sandbox->manifest == NULL)
    return sandbox->state == STATE_FAILED;
  return sandbox->manifest->required
         && (sandbox->state != STATE_RUNNING
             || (sandbox->health != HEALTH_HEALTHY && sandbox->health != HEALTH_NONE));
}

void
moat_supervisor_counts (MoatSupervisor *supervisor, guint *ret_running,
                        guint *ret_required_unhealthy)
{
  guint running = 0, unhealthy = 0;
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, supervisor->sandboxes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Sandbox *sandbox = value;
      if (sandbox->state == STATE_RUNNING)
        running++;
      if (required_unhealthy (sandbox))
        unhealthy++;
    }
  *ret_running = running;
  *ret_required_unhealthy = unhealthy;
}

char *
moat_supervisor_required_problems (MoatSupervisor *supervisor)
{
  g_autoptr (GString) text = g_string_new (NULL);
  g_autofree gpointer *names = g_hash_table_get_keys_as_array (supervisor->sandboxes, NULL);
  for (guint i = 0; names[i] != NULL; i++)
    {
      Sandbox *sandbox = g_hash_table_lookup (supervisor->sandboxes, names[i]);
      if (!required_unhealthy (sandbox))
        continue;
      g_string_append_printf (text, "%s%s is %s (health %s%s%s)", text->len ? "; " : "",
                              sandbox->name, supervise_state_names[sandbox->state],
                              supervise_health_names[sandbox->health],
                              sandbox->last_error ? ", last error: " : "",
                              sandbox->last_error ? sandbox->last_error : "");
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}
