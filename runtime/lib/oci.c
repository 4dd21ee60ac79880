/* The confinement floor (DESIGN.md §4, docs/security.md) written two ways: an OCI runtime-spec
 * config.json for crun, and a systemd-nspawn command line plus moat-init for nspawn. Both are
 * built from the same MoatSandboxSpec, and nothing in a manifest can remove a part of it: a
 * manifest only adds devices, named capabilities, syscalls and environment. */
#include "oci.h"

#include "capability.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "moat-error.h"
#include "network.h"
#include "selinux.h"

#define OCI_VERSION "1.0.2"
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NOFILE_LIMIT 1024

/* Docker's masked and read-only paths, which crun and runc users know. */
/* clang-format off */
static const char *const masked_paths[] = {
  "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
  "/sys/devices/virtual/powercap", NULL,
};
/* clang-format on */

static const char *const readonly_paths[] = {
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* The masked paths nspawn 252 does not mask itself (it masks kallsyms, kcore, keys,
 * sysrq-trigger and timer_list, and only makes acpi, asound and scsi read-only). /sys paths
 * are missing: --inaccessible= resolves them before sysfs is mounted, and nspawn's /sys holds
 * only block, bus, class, dev, devices and kernel (read-only), so /sys/firmware is absent. */
static const char *const nspawn_extra_masked_paths[] = {
  "/proc/acpi", "/proc/asound", "/proc/latency_stats", "/proc/timer_stats", "/proc/sched_debug",
  "/proc/scsi", NULL,
};

/* What moat-init itself needs, and drops before exec: CAP_SYS_ADMIN to unmount the cgroup file
 * system nspawn mounts writable (NSPAWN_CGROUP_PATH), CAP_SETPCAP to empty the bounding set. */
static const char *const init_capabilities[] = { "CAP_SYS_ADMIN", "CAP_SETPCAP", NULL };

/* ... and for a non-root user, what the switch to it needs. */
static const char *const init_switch_capabilities[] = { "CAP_SETUID", "CAP_SETGID", NULL };

/* nspawn 252 mounts the sandbox's cgroup (cgroup2, chowned to its root) here read-write, and
 * refuses --tmpfs= or --bind-ro= over it; moat-init unmounts it (see add_nspawn_payload). */
#define NSPAWN_CGROUP_PATH "/sys/fs/cgroup"

typedef struct
{
  const char *path; /* as declared, the same inside and outside */
  gboolean write;
  char type; /* 'c' or 'b' */
  guint major;
  guint minor;
  guint mode; /* permission bits of the host node */
} HostDevice;

static gboolean
check_spec (const MoatSandboxSpec *spec, GError **error)
{
  const MoatManifest *manifest = spec->manifest;
  if (manifest == NULL || manifest->name == NULL || manifest->exec == NULL
      || manifest->exec[0] == NULL)
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "sandbox spec: manifest without Exec=");
      return FALSE;
    }
  if (spec->rootfs == NULL || !g_path_is_absolute (spec->rootfs) || spec->data_dir == NULL
      || !g_path_is_absolute (spec->data_dir))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                   "sandbox '%s': root and data directories must be absolute paths",
                   manifest->name);
      return FALSE;
    }
  return TRUE;
}

/* Resolve each declared device on the host: the runtime needs its type and numbers, and a
 * device that is missing now is an error now rather than a sandbox that fails to start. */
static GArray *
resolve_devices (const MoatManifest *manifest, GError **error)
{
  g_autoptr (GArray) devices = g_array_new (FALSE, TRUE, sizeof (HostDevice));
  for (guint i = 0; manifest->devices != NULL && i < manifest->devices->len; i++)
    {
      const MoatDevice *declared = g_ptr_array_index (manifest->devices, i);
      struct stat st;
      if (stat (declared->path, &st) < 0)
        {
          moat_error_errno (error, errno, "device", declared->path);
          return NULL;
        }
      if (!S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
        {
          g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                       "device '%s': not a character or block device", declared->path);
          return NULL;
        }
      HostDevice device = {
        .path = declared->path,
        .write = declared->write,
        .type = S_ISCHR (st.st_mode) ? 'c' : 'b',
        .major = major (st.st_rdev),
        .minor = minor (st.st_rdev),
        /* crun makes the node inside owned by the sandbox's user; its mode alone then decides
         * what that user may do where no device cgroup runs. */
        .mode = declared->write ? 0600 : 0400,
      };
      g_array_append_val (devices, device);
    }
  return g_steal_pointer (&devices);
}

static gboolean
env_sets (char *const *environment, const char *key)
{
  gsize len = strlen (key);
  for (; environment != NULL && *environment != NULL; environment++)
    if (strncmp (*environment, key, len) == 0 && (*environment)[len] == '=')
      return TRUE;
  return FALSE;
}

guint64
moat_oci_cpu_shares (guint32 weight)
{
  /* crun: weight = 1 + (shares - 2) * 9999 / 262142 (integer division). The smallest shares
   * that give WEIGHT back is 2 + ceil ((weight - 1) * 262142 / 9999). */
  guint64 w = CLAMP (weight, 1, 10000);
  return 2 + ((w - 1) * 262142 + 9998) / 9999;
}

/* process.capabilities: the manifest's named capabilities (usually none) in every set, so a
 * non-root user keeps them across exec through the ambient set. */
static void
write_capabilities (MoatJson *json, const MoatManifest *manifest)
{
  static const char *const sets[]
      = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  const char *const *names = (const char *const *)manifest->capabilities;

  moat_json_key (json, "capabilities");
  moat_json_begin_object (json);
  for (gsize i = 0; i < G_N_ELEMENTS (sets); i++)
    {
      moat_json_key (json, sets[i]);
      moat_json_strv (json, names);
    }
  moat_json_end_object (json);
}

static void
write_process (MoatJson *json, const MoatSandboxSpec *spec)
{
  const MoatManifest *manifest = spec->manifest;

  moat_json_key (json, "process");
  moat_json_begin_object (json);
  moat_json_kv_bool (json, "terminal", FALSE);

  moat_json_key (json, "user");
  moat_json_begin_object (json);
  moat_json_kv_int (json, "uid", manifest->user);
  moat_json_kv_int (json, "gid", manifest->user);
  moat_json_end_object (json);

  moat_json_key (json, "args");
  moat_json_strv (json, (const char *const *)manifest->exec);

  moat_json_key (json, "env");
  moat_json_begin_array (json);
  if (!env_sets (manifest->environment, "PATH"))
    moat_json_string (json, DEFAULT_PATH);
  for (char **env = manifest->environment; env != NULL && *env != NULL; env++)
    moat_json_string (json, *env);
  moat_json_end_array (json);

  moat_json_kv_string (json, "cwd", "/");
  write_capabilities (json, manifest);
  moat_json_kv_bool (json, "noNewPrivileges", TRUE);

  moat_json_key (json, "rlimits");
  moat_json_begin_array (json);
  moat_json_begin_object (json);
  moat_json_kv_string (json, "type", "RLIMIT_NOFILE");
  moat_json_kv_int (json, "soft", NOFILE_LIMIT);
  moat_json_kv_int (json, "hard", NOFILE_LIMIT);
  moat_json_end_object (json);
  moat_json_end_array (json);

  if (spec->selinux)
    {
      g_autofree char *label = moat_selinux_process_label (&spec->identity);
      moat_json_kv_string (json, "selinuxLabel", label);
    }
  moat_json_end_object (json);
}

static void
write_root (MoatJson *json, const MoatSandboxSpec *spec)
{
  moat_json_key (json, "root");
  moat_json_begin_object (json);
  moat_json_kv_string (json, "path", spec->rootfs);
  moat_json_kv_bool (json, "readonly", TRUE);
  moat_json_end_object (json);
}

static void
write_mount (MoatJson *json, const char *destination, const char *type, const char *source,
             const char *const *options)
{
  moat_json_begin_object (json);
  moat_json_kv_string (json, "destination", destination);
  moat_json_kv_string (json, "type", type);
  moat_json_kv_string (json, "source", source);
  moat_json_key (json, "options");
  moat_json_strv (json, options);
  moat_json_end_object (json);
}

/* The API file systems, a private /tmp, and /data: the only writable mount that outlives the
 * sandbox. No gid= on devpts: the kernel picks the gid, which is always mapped. */
static void
write_mounts (MoatJson *json, const MoatSandboxSpec *spec)
{
  static const char *const proc[] = { "nosuid", "noexec", "nodev", NULL };
  static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
  static const char *const pts[]
      = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", NULL };
  static const char *const shm[]
      = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
  static const char *const mqueue[] = { "nosuid", "noexec", "nodev", NULL };
  static const char *const sys[] = { "nosuid", "noexec", "nodev", "ro", NULL };
  static const char *const sys_bind[] = { "bind", "nosuid", "noexec", "nodev", "ro", NULL };
  static const char *const tmp[] = { "nosuid", "nodev", "mode=1777", "size=64m", NULL };
  static const char *const data[] = { "rbind", "rw", "nosuid", "nodev", NULL };
  static const char *const hosts[] = { "bind", "ro", "nosuid", "nodev", "noexec", NULL };

  moat_json_key (json, "mounts");
  moat_json_begin_array (json);
  write_mount (json, "/proc", "proc", "proc", proc);
  write_mount (json, "/dev", "tmpfs", "tmpfs", dev);
  write_mount (json, "/dev/pts", "devpts", "devpts", pts);
  write_mount (json, "/dev/shm", "tmpfs", "shm", shm);
  write_mount (json, "/dev/mqueue", "mqueue", "mqueue", mqueue);
  /* sysfs can only be mounted by the owner of the network namespace; moatd's namespace
   * belongs to the host, so crun would fall back to a writable recursive bind of the host's
   * /sys. A plain read-only bind (no submounts) keeps /sys as read-only as elsewhere. */
  if (spec->netns_path != NULL)
    write_mount (json, "/sys", "bind", "/sys", sys_bind);
  else
    write_mount (json, "/sys", "sysfs", "sysfs", sys);
  write_mount (json, "/tmp", "tmpfs", "tmpfs", tmp);
  write_mount (json, "/data", "bind", spec->data_dir, data);
  if (spec->hosts_file != NULL)
    write_mount (json, "/etc/hosts", "bind", spec->hosts_file, hosts);
  moat_json_end_array (json);
}

/* All new, but the network namespace when moatd made one: crun 1.8.1 joins a namespace the
 * host owns from the sandbox's user namespace (docs/runtime.md, "Network"). */
static void
write_namespaces (MoatJson *json, const MoatSandboxSpec *spec)
{
  static const char *const types[] = { "pid", "network", "ipc", "uts", "mount", "user", "cgroup" };
  moat_json_key (json, "namespaces");
  moat_json_begin_array (json);
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    {
      moat_json_begin_object (json);
      moat_json_kv_string (json, "type", types[i]);
      if (g_str_equal (types[i], "network") && spec->netns_path != NULL)
        moat_json_kv_string (json, "path", spec->netns_path);
      moat_json_end_object (json);
    }
  moat_json_end_array (json);
}

/* uid (or gid) 0..65535 inside -> the sandbox's own range outside. */
static void
write_id_mapping (MoatJson *json, const char *key, const MoatIdentity *identity)
{
  moat_json_key (json, key);
  moat_json_begin_array (json);
  moat_json_begin_object (json);
  moat_json_kv_int (json, "containerID", 0);
  moat_json_kv_int (json, "hostID", identity->uid_base);
  moat_json_kv_int (json, "size", MOAT_UID_RANGE);
  moat_json_end_object (json);
  moat_json_end_array (json);
}

static void
write_devices (MoatJson *json, GArray *devices, guint32 user)
{
  moat_json_key (json, "devices");
  moat_json_begin_array (json);
  for (guint i = 0; i < devices->len; i++)
    {
      const HostDevice *device = &g_array_index (devices, HostDevice, i);
      char type[2] = { device->type, '\0' };
      moat_json_begin_object (json);
      moat_json_kv_string (json, "path", device->path);
      moat_json_kv_string (json, "type", type);
      moat_json_kv_int (json, "major", device->major);
      moat_json_kv_int (json, "minor", device->minor);
      moat_json_kv_int (json, "fileMode", device->mode);
      moat_json_kv_int (json, "uid", user);
      moat_json_kv_int (json, "gid", user);
      moat_json_end_object (json);
    }
  moat_json_end_array (json);
}

/* The device cgroup: deny everything, then allow each declared device. crun adds the
 * standard nodes (null, zero, full, random, urandom, tty, ptmx, pts) after these rules. */
static void
write_device_rules (MoatJson *json, GArray *devices)
{
  moat_json_key (json, "devices");
  moat_json_begin_array (json);
  moat_json_begin_object (json);
  moat_json_kv_bool (json, "allow", FALSE);
  moat_json_kv_string (json, "access", "rwm");
  moat_json_end_object (json);
  for (guint i = 0; i < devices->len; i++)
    {
      const HostDevice *device = &g_array_index (devices, HostDevice, i);
      char type[2] = { device->type, '\0' };
      moat_json_begin_object (json);
      moat_json_kv_bool (json, "allow", TRUE);
      moat_json_kv_string (json, "type", type);
      moat_json_kv_int (json, "major", device->major);
      moat_json_kv_int (json, "minor", device->minor);
      moat_json_kv_string (json, "access", device->write ? "rw" : "r");
      moat_json_end_object (json);
    }
  moat_json_end_array (json);
}

static void
write_limit (MoatJson *json, const char *controller, const char *key, gint64 value)
{
  moat_json_key (json, controller);
  moat_json_begin_object (json);
  moat_json_kv_int (json, key, value);
  moat_json_end_object (json);
}

static void
write_resources (MoatJson *json, const MoatManifest *manifest, GArray *devices)
{
  moat_json_key (json, "resources");
  moat_json_begin_object (json);
  write_device_rules (json, devices);
  if (manifest->memory_bytes > 0)
    write_limit (json, "memory", "limit", (gint64)MIN (manifest->memory_bytes, G_MAXINT64));
  if (manifest->cpu_weight > 0)
    write_limit (json, "cpu", "shares", (gint64)moat_oci_cpu_shares (manifest->cpu_weight));
  if (manifest->pids > 0)
    write_limit (json, "pids", "limit", manifest->pids);
  moat_json_end_object (json);
}

static void
write_linux (MoatJson *json, const MoatSandboxSpec *spec, GArray *devices)
{
  moat_json_key (json, "linux");
  moat_json_begin_object (json);
  write_namespaces (json, spec);
  write_id_mapping (json, "uidMappings", &spec->identity);
  write_id_mapping (json, "gidMappings", &spec->identity);
  write_devices (json, devices, spec->manifest->user);
  write_resources (json, spec->manifest, devices);
  moat_json_key (json, "maskedPaths");
  moat_json_strv (json, masked_paths);
  moat_json_key (json, "readonlyPaths");
  moat_json_strv (json, readonly_paths);
  moat_json_key (json, "seccomp");
  moat_seccomp_write_oci (json, spec->arch, (const char *const *)spec->manifest->syscalls);
  if (spec->selinux)
    {
      g_autofree char *label = moat_selinux_file_label (&spec->identity);
      moat_json_kv_string (json, "mountLabel", label);
    }
  moat_json_end_object (json);
}

char *
moat_oci_config (const MoatSandboxSpec *spec, GError **error)
{
  if (!check_spec (spec, error))
    return NULL;
  g_autoptr (GArray) devices = resolve_devices (spec->manifest, error);
  if (devices == NULL)
    return NULL;

  g_autoptr (MoatJson) json = moat_json_new ();
  moat_json_begin_object (json);
  moat_json_kv_string (json, "ociVersion", OCI_VERSION);
  write_process (json, spec);
  write_root (json, spec);
  moat_json_kv_string (json, "hostname", spec->manifest->name);
  write_mounts (json, spec);
  write_linux (json, spec, devices);
  moat_json_end_object (json);
  return moat_json_steal (g_steal_pointer (&json));
}

/* systemd-nspawn interprets backslash escapes in --bind= paths and splits them at ':'. */
static char *
escape_bind_path (const char *path)
{
  GString *out = g_string_sized_new (strlen (path));
  for (const char *p = path; *p != '\0'; p++)
    {
      if (*p == ':' || *p == '\\')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

G_GNUC_PRINTF (2, 3)
static void
add (GPtrArray *argv, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_ptr_array_add (argv, g_strdup_vprintf (format, ap));
  va_end (ap);
}

static void
add_bind (GPtrArray *argv, gboolean writable, const char *source, const char *destination)
{
  g_autofree char *from = escape_bind_path (source);
  g_autofree char *to = escape_bind_path (destination);
  add (argv, "--bind%s=%s:%s", writable ? "" : "-ro", from, to);
}

static gboolean
has_capabilities (const MoatManifest *manifest)
{
  return manifest->capabilities != NULL && manifest->capabilities[0] != NULL;
}

/* moat-init can keep named capabilities (--keep-cap) or switch to a non-root user, not both:
 * the kernel clears them at the switch, and nspawn cannot make them ambient for it. */
static gboolean
check_nspawn_capabilities (const MoatManifest *manifest, GError **error)
{
  for (char **cap = manifest->capabilities; cap != NULL && *cap != NULL; cap++)
    if (moat_capability_number (*cap) < 0)
      {
        g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                     "sandbox '%s': '%s' is not a capability nspawn knows", manifest->name, *cap);
        return FALSE;
      }
  if (manifest->user == 0 || !has_capabilities (manifest))
    return TRUE;
  g_set_error (error, MOAT_ERROR, MOAT_ERROR_UNSUPPORTED,
               "sandbox '%s': the nspawn backend cannot give capabilities to a non-root User=; "
               "use Backend=crun or User=0",
               manifest->name);
  return FALSE;
}

/* What nspawn leaves to moat-init: its own working set and the manifest's named capabilities
 * (root inside); moat-init keeps only the named ones (--keep-cap) and drops the rest before
 * exec. --drop-capability=all would also drop what --capability= names, so every other
 * capability is listed. */
static void
add_nspawn_capabilities (GPtrArray *argv, const MoatSandboxSpec *spec)
{
  const MoatManifest *manifest = spec->manifest;
  g_autoptr (GPtrArray) keep = g_ptr_array_new ();
  g_autoptr (GPtrArray) drop = g_ptr_array_new ();
  for (const char *const *cap = moat_capability_names; *cap != NULL; cap++)
    {
      gboolean kept = g_strv_contains (init_capabilities, *cap)
                      || (manifest->user != 0 && g_strv_contains (init_switch_capabilities, *cap))
                      || (spec->nspawn_network && g_str_equal (*cap, "CAP_NET_ADMIN"))
                      || (manifest->capabilities != NULL
                          && g_strv_contains ((const char *const *)manifest->capabilities, *cap));
      g_ptr_array_add (kept ? keep : drop, (char *)*cap);
    }
  g_ptr_array_add (keep, NULL);
  g_ptr_array_add (drop, NULL);

  g_autofree char *dropped = g_strjoinv (",", (char **)drop->pdata);
  g_autofree char *kept = g_strjoinv (",", (char **)keep->pdata);
  add (argv, "--drop-capability=%s", dropped);
  add (argv, "--capability=%s", kept);
}

/* Namespaces, the read-only root and nspawn's own fixed behaviour. --settings=no keeps
 * .nspawn files on the host from loosening any of it. */
static void
add_nspawn_floor (GPtrArray *argv, const MoatSandboxSpec *spec)
{
  add (argv, "--quiet");
  add (argv, "--settings=no");
  add (argv, "--register=no");
  add (argv, "--directory=%s", spec->rootfs);
  add (argv, "--machine=moat-%s", spec->manifest->name);
  add (argv, "--hostname=%s", spec->manifest->name);
  add (argv, "--private-users=%" G_GUINT32_FORMAT ":%u", spec->identity.uid_base, MOAT_UID_RANGE);
  add (argv, "--private-users-ownership=off");
  if (spec->nspawn_network)
    {
      /* Implies a private network namespace; nspawn moves the interface back at exit. */
      g_autofree char *ifname = moat_network_sandbox_interface (spec->identity.slot);
      add (argv, "--network-interface=%s", ifname);
    }
  else
    add (argv, "--private-network");
  add (argv, "--read-only");
  add (argv, "--no-new-privileges=yes");
  add_nspawn_capabilities (argv, spec);
  add (argv, "--as-pid2");
  /* The stub init turns this into SIGTERM (then SIGHUP) for the payload. */
  add (argv, "--kill-signal=SIGRTMIN+3");
  add (argv, "--timezone=off");
  add (argv, "--resolv-conf=off");
  add (argv, "--link-journal=no");
  /* stdin/stdout/stderr go to the payload as they are: moatd's journal streams. */
  add (argv, "--console=pipe");
}

/* nspawn 252 masks with nodes under /run/systemd/inaccessible inside the container, which a
 * payload other than systemd never creates; without them its own masks of kallsyms, kcore,
 * keys, sysrq-trigger and timer_list silently fail and --inaccessible= fails the start. */
static void
add_nspawn_masks (GPtrArray *argv, const MoatSandboxSpec *spec)
{
  if (spec->nspawn_inaccessible_dir == NULL)
    {
      /* nspawn's own nodes: enough for its masks, but they sit on a nosuid,nodev,noexec
       * mount, and remounting a bind of them read-only in the user namespace fails. */
      add (argv, "--bind-ro=+/run/host/inaccessible:/run/systemd/inaccessible");
      return;
    }

  add_bind (argv, FALSE, spec->nspawn_inaccessible_dir, "/run/systemd/inaccessible");
  /* --inaccessible= fails on a path that does not exist, and /proc is the host's kernel. */
  for (const char *const *path = nspawn_extra_masked_paths; *path != NULL; path++)
    if (access (*path, F_OK) == 0)
      add (argv, "--inaccessible=%s", *path);
}

static void
add_nspawn_mounts (GPtrArray *argv, const MoatSandboxSpec *spec, GArray *devices,
                   const char *init_path, const char *bpf_path)
{
  add_bind (argv, TRUE, spec->data_dir, "/data");
  add (argv, "--tmpfs=/tmp:mode=1777,nosuid,nodev,size=64m");
  for (guint i = 0; i < devices->len; i++)
    {
      const HostDevice *device = &g_array_index (devices, HostDevice, i);
      add_bind (argv, device->write, device->path, device->path);
    }
  add_bind (argv, FALSE, init_path, MOAT_NSPAWN_INIT_PATH);
  add_bind (argv, FALSE, bpf_path, MOAT_NSPAWN_BPF_PATH);
  if (spec->hosts_file != NULL)
    add_bind (argv, FALSE, spec->hosts_file, "/etc/hosts");
}

static void
add_nspawn_environment (GPtrArray *argv, const MoatManifest *manifest)
{
  if (!env_sets (manifest->environment, "PATH"))
    add (argv, "--setenv=%s", DEFAULT_PATH);
  for (char **env = manifest->environment; env != NULL && *env != NULL; env++)
    add (argv, "--setenv=%s", *env);
}

static void
add_nspawn_selinux (GPtrArray *argv, const MoatSandboxSpec *spec)
{
  if (!spec->selinux)
    return;
  /* moat-init needs what the payload must not have (unmounting, dropping the bounding set):
   * it runs in a domain of its own, and the policy moves the payload to moat_sandbox_t. */
  g_autofree char *init = moat_selinux_init_label (&spec->identity);
  g_autofree char *file = moat_selinux_file_label (&spec->identity);
  add (argv, "--selinux-context=%s", init);
  add (argv, "--selinux-apifs-context=%s", file);
}

/* Limits go on the transient scope nspawn asks systemd for. Without a running systemd there
 * is no scope (--keep-unit) and nothing to put them on: see docs/security.md. */
static void
add_nspawn_resources (GPtrArray *argv, const MoatManifest *manifest, GArray *devices,
                      gboolean systemd_booted)
{
  if (!systemd_booted)
    {
      add (argv, "--keep-unit");
      return;
    }
  if (manifest->memory_bytes > 0)
    add (argv, "--property=MemoryMax=%" G_GUINT64_FORMAT, manifest->memory_bytes);
  if (manifest->pids > 0)
    add (argv, "--property=TasksMax=%" G_GUINT32_FORMAT, manifest->pids);
  if (manifest->cpu_weight > 0)
    add (argv, "--property=CPUWeight=%u", CLAMP (manifest->cpu_weight, 1, 10000));
  for (guint i = 0; i < devices->len; i++)
    {
      const HostDevice *device = &g_array_index (devices, HostDevice, i);
      add (argv, "--property=DeviceAllow=%s %s", device->path, device->write ? "rw" : "r");
    }
}

/* moat-init (runtime/moat-init/main.c) unmounts the writable cgroup file system while it still
 * holds CAP_SYS_ADMIN, sets no_new_privs, drops every capability but the manifest's named ones
 * (--keep-cap NUMBER), switches to the manifest's user, loads the seccomp floor (nspawn's own
 * filter is an allowlist of nspawn's choosing) and execs the payload. */
static void
add_nspawn_payload (GPtrArray *argv, const MoatSandboxSpec *spec)
{
  const MoatManifest *manifest = spec->manifest;
  add (argv, "--");
  add (argv, "%s", MOAT_NSPAWN_INIT_PATH);
  add (argv, "--seccomp");
  add (argv, "%s", MOAT_NSPAWN_BPF_PATH);
  add (argv, "--unmount");
  add (argv, "%s", NSPAWN_CGROUP_PATH);
  if (spec->nspawn_network)
    {
      /* Configured with CAP_NET_ADMIN of nspawn's namespace, which moat-init then drops. */
      add (argv, "--net");
      g_ptr_array_add (argv, moat_network_sandbox_interface (spec->identity.slot));
      g_ptr_array_add (argv,
                       moat_network_format_address (moat_network_address (spec->identity.slot)));
      g_ptr_array_add (argv, moat_network_format_address (MOAT_NET_GATEWAY));
    }
  for (char **cap = manifest->capabilities; cap != NULL && *cap != NULL; cap++)
    {
      add (argv, "--keep-cap");
      add (argv, "%d", moat_capability_number (*cap));
    }
  /* Root inside needs no switch, and so no CAP_SETUID/CAP_SETGID (see above). */
  if (manifest->user != 0)
    {
      add (argv, "--uid");
      add (argv, "%" G_GUINT32_FORMAT, manifest->user);
      add (argv, "--gid");
      add (argv, "%" G_GUINT32_FORMAT, manifest->user);
    }
  add (argv, "--");
  for (char **arg = manifest->exec; *arg != NULL; arg++)
    add (argv, "%s", *arg);
}

GStrv
moat_nspawn_argv (const MoatSandboxSpec *spec, const char *init_path, const char *bpf_path,
                  gboolean systemd_booted, GError **error)
{
  if (!check_spec (spec, error) || !check_nspawn_capabilities (spec->manifest, error))
    return NULL;
  if (init_path == NULL || !g_path_is_absolute (init_path) || bpf_path == NULL
      || !g_path_is_absolute (bpf_path))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                   "sandbox '%s': moat-init and seccomp filter paths must be absolute",
                   spec->manifest->name);
      return NULL;
    }
  g_autoptr (GArray) devices = resolve_devices (spec->manifest, error);
  if (devices == NULL)
    return NULL;

  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  add (argv, "systemd-nspawn");
  add_nspawn_floor (argv, spec);
  add_nspawn_masks (argv, spec);
  add_nspawn_mounts (argv, spec, devices, init_path, bpf_path);
  add_nspawn_environment (argv, spec->manifest);
  add_nspawn_selinux (argv, spec);
  add_nspawn_resources (argv, spec->manifest, devices, systemd_booted);
  add_nspawn_payload (argv, spec);
  g_ptr_array_add (argv, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&argv), FALSE);
}

static gboolean
make_node (const char *dir, const char *name, gboolean directory, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  int r = directory ? mkdir (path, 0000) : mknod (path, S_IFREG | 0000, 0);
  if (r < 0 && errno != EEXIST)
    return moat_error_errno (error, errno, "create", path);

  struct stat st;
  if (lstat (path, &st) < 0)
    return moat_error_errno (error, errno, "stat", path);
  if (directory ? !S_ISDIR (st.st_mode) : !S_ISREG (st.st_mode))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS, "create '%s': exists and is not a %s",
                   path, directory ? "directory" : "regular file");
      return FALSE;
    }
  /* One left over from an older run may have another mode. */
  if ((st.st_mode & 07777) != 0 && chmod (path, 0000) < 0)
    return moat_error_errno (error, errno, "chmod", path);
  return TRUE;
}

gboolean
moat_nspawn_make_inaccessible_dir (const char *dir, GError **error)
{
  if (mkdir (dir, 0755) < 0 && errno != EEXIST)
    return moat_error_errno (error, errno, "create", dir);
  return make_node (dir, "reg", FALSE, error) && make_node (dir, "dir", TRUE, error);
}
