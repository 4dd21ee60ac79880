/* The confinement floor as written for crun (config.json) and for systemd-nspawn (argv): every
 * generated config is valid against the OCI schema and keeps the floor whatever the manifest
 * adds; the nspawn command line carries the same floor and never goes through a shell. */
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "moat-error.h"
#include "oci.h"
#include "selinux.h"

#define ROOTFS "/var/lib/moat/sandboxes/zigbee/rootfs"
#define DATA_DIR "/var/lib/moat/sandboxes/zigbee/data"
#define INIT "/usr/libexec/moat/moat-init"
#define BPF "/run/moat/zigbee/seccomp.bpf"

static char *exec_argv[] = { "/usr/bin/zigbee2mqtt", "--config", "/data/a b; rm -rf / #", NULL };
static char *environment[] = { "TZ=UTC", "GREETING=hello world", NULL };
static char *no_capabilities[] = { NULL };
static char *net_capabilities[] = { "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", NULL };
static MoatDevice dev_null = { "/dev/null", TRUE };
static MoatDevice dev_zero = { "/dev/zero", FALSE };

static const char *const docker_masked[] = {
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
  NULL,
};
static const char *const docker_readonly[] = {
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* A manifest as the parser would return it for a typical integration; DEVICES: /dev/null rw
 * and /dev/zero ro, real nodes on any host. */
static MoatManifest *
test_manifest_new (gboolean devices)
{
  MoatManifest *manifest = g_new0 (MoatManifest, 1);
  manifest->name = "zigbee";
  manifest->version = "1.0";
  manifest->exec = exec_argv;
  manifest->environment = environment;
  manifest->capabilities = no_capabilities;
  manifest->devices = g_ptr_array_new ();
  if (devices)
    {
      g_ptr_array_add (manifest->devices, &dev_null);
      g_ptr_array_add (manifest->devices, &dev_zero);
    }
  manifest->memory_bytes = 128 * 1024 * 1024;
  manifest->cpu_weight = 100;
  manifest->pids = 256;
  return manifest;
}

/* Only the containers are ours to free: the strings are static. A type of its own, so that
 * moat_manifest_free() is never called on it. */
typedef MoatManifest TestManifest;

static void
test_manifest_free (TestManifest *manifest)
{
  g_ptr_array_unref (manifest->devices);
  g_free (manifest);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestManifest, test_manifest_free)

static MoatSandboxSpec
test_spec (const MoatManifest *manifest, MoatArch arch, gboolean selinux, guint slot)
{
  MoatSandboxSpec spec = {
    .manifest = manifest,
    .rootfs = ROOTFS,
    .data_dir = DATA_DIR,
    .arch = arch,
    .selinux = selinux,
  };
  moat_identity_from_slot (slot, &spec.identity);
  return spec;
}

/* Run tests/unit/validate-oci.py (Debian's python3 and jsonschema) over CONFIG. */
static void
assert_valid_oci (const char *config)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("moat-oci-XXXXXX.json", &path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (path, config, -1, &error);
  g_assert_no_error (error);

  const char *argv[] = { "/usr/bin/python3", SRCDIR "/tests/unit/validate-oci.py", path, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;
  g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_test_message ("validate-oci.py:\n%s%s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_unlink (path);
}

static JsonNode *
parse_config (const char *config)
{
  g_autoptr (GError) error = NULL;
  JsonNode *root = json_from_string (config, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return root;
}

static void
assert_string_array (JsonArray *array, const char *const *expected)
{
  guint n = expected == NULL ? 0 : g_strv_length ((char **)expected);
  g_assert_cmpuint (json_array_get_length (array), ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpstr (json_array_get_string_element (array, i), ==, expected[i]);
}

static gboolean
array_has_string (JsonArray *array, const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (g_strcmp0 (json_array_get_string_element (array, i), value) == 0)
      return TRUE;
  return FALSE;
}

static void
assert_process (JsonObject *config, const MoatSandboxSpec *spec)
{
  const MoatManifest *manifest = spec->manifest;
  JsonObject *process = json_object_get_object_member (config, "process");
  g_assert_false (json_object_get_boolean_member (process, "terminal"));
  g_assert_true (json_object_get_boolean_member (process, "noNewPrivileges"));
  g_assert_cmpstr (json_object_get_string_member (process, "cwd"), ==, "/");
  assert_string_array (json_object_get_array_member (process, "args"),
                       (const char *const *)manifest->exec);

  JsonObject *user = json_object_get_object_member (process, "user");
  g_assert_cmpint (json_object_get_int_member (user, "uid"), ==, manifest->user);
  g_assert_cmpint (json_object_get_int_member (user, "gid"), ==, manifest->user);

  JsonObject *caps = json_object_get_object_member (process, "capabilities");
  g_assert_cmpuint (json_object_get_size (caps), ==, 5);
  for (const char *const *set = (const char *const[]){ "bounding", "effective", "inheritable",
                                                       "permitted", "ambient", NULL };
       *set != NULL; set++)
    assert_string_array (json_object_get_array_member (caps, *set),
                         (const char *const *)manifest->capabilities);

  /* The manifest's environment, after the default PATH unless it sets its own. */
  JsonArray *env = json_object_get_array_member (process, "env");
  gboolean own_path = FALSE;
  for (char **var = manifest->environment; *var != NULL; var++)
    {
      g_assert_true (array_has_string (env, *var));
      own_path |= g_str_has_prefix (*var, "PATH=");
    }
  g_assert_cmpuint (json_array_get_length (env), ==,
                    g_strv_length (manifest->environment) + (own_path ? 0 : 1));
  if (!own_path)
    g_assert_cmpstr (json_array_get_string_element (env, 0), ==,
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

  JsonObject *nofile
      = json_array_get_object_element (json_object_get_array_member (process, "rlimits"), 0);
  g_assert_cmpstr (json_object_get_string_member (nofile, "type"), ==, "RLIMIT_NOFILE");
  g_assert_cmpint (json_object_get_int_member (nofile, "hard"), ==, 1024);

  g_autofree char *label = moat_selinux_process_label (&spec->identity);
  g_assert_cmpint (json_object_has_member (process, "selinuxLabel"), ==, spec->selinux);
  if (spec->selinux)
    g_assert_cmpstr (json_object_get_string_member (process, "selinuxLabel"), ==, label);
}

static gboolean
mount_is_bind (JsonObject *mount)
{
  JsonArray *options = json_object_get_array_member (mount, "options");
  return g_strcmp0 (json_object_get_string_member (mount, "type"), "bind") == 0
         || array_has_string (options, "bind") || array_has_string (options, "rbind");
}

static void
assert_mounts (JsonObject *config, const MoatSandboxSpec *spec)
{
  static const char *const destinations[]
      = { "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/tmp", "/data", NULL };
  JsonObject *root = json_object_get_object_member (config, "root");
  g_assert_cmpstr (json_object_get_string_member (root, "path"), ==, spec->rootfs);
  g_assert_true (json_object_get_boolean_member (root, "readonly"));

  JsonArray *mounts = json_object_get_array_member (config, "mounts");
  g_assert_cmpuint (json_array_get_length (mounts), ==, g_strv_length ((char **)destinations));
  for (guint i = 0; i < json_array_get_length (mounts); i++)
    {
      JsonObject *mount = json_array_get_object_element (mounts, i);
      const char *destination = json_object_get_string_member (mount, "destination");
      JsonArray *options = json_object_get_array_member (mount, "options");
      g_assert_cmpstr (destination, ==, destinations[i]);
      /* Nothing from the host is mounted but the sandbox's data directory. */
      g_assert_cmpint (mount_is_bind (mount), ==, g_str_equal (destination, "/data"));
      if (mount_is_bind (mount))
        {
          g_assert_cmpstr (json_object_get_string_member (mount, "source"), ==, spec->data_dir);
          g_assert_true (array_has_string (options, "nosuid"));
          g_assert_true (array_has_string (options, "nodev"));
        }
      if (g_str_equal (destination, "/sys"))
        g_assert_true (array_has_string (options, "ro"));
      if (g_str_equal (destination, "/dev/pts"))
        g_assert_false (array_has_string (options, "gid=5"));
    }
}

static void
assert_linux (JsonObject *config, const MoatSandboxSpec *spec, const char *arch_name)
{
  JsonObject *linux_ = json_object_get_object_member (config, "linux");

  JsonArray *namespaces = json_object_get_array_member (linux_, "namespaces");
  static const char *const types[] = { "pid", "network", "ipc", "uts", "mount", "user", "cgroup" };
  g_assert_cmpuint (json_array_get_length (namespaces), ==, G_N_ELEMENTS (types));
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      JsonObject *ns = json_array_get_object_element (namespaces, i);
      g_assert_cmpstr (json_object_get_string_member (ns, "type"), ==, types[i]);
      g_assert_false (json_object_has_member (ns, "path"));
    }

  for (const char *const *key = (const char *const[]){ "uidMappings", "gidMappings", NULL };
       *key != NULL; key++)
    {
      JsonArray *mappings = json_object_get_array_member (linux_, *key);
      g_assert_cmpuint (json_array_get_length (mappings), ==, 1);
      JsonObject *mapping = json_array_get_object_element (mappings, 0);
      g_assert_cmpint (json_object_get_int_member (mapping, "containerID"), ==, 0);
      g_assert_cmpint (json_object_get_int_member (mapping, "hostID"), ==, spec->identity.uid_base);
      g_assert_cmpint (json_object_get_int_member (mapping, "size"), ==, MOAT_UID_RANGE);
    }

  assert_string_array (json_object_get_array_member (linux_, "maskedPaths"), docker_masked);
  assert_string_array (json_object_get_array_member (linux_, "readonlyPaths"), docker_readonly);

  JsonObject *seccomp = json_object_get_object_member (linux_, "seccomp");
  g_assert_cmpstr (json_object_get_string_member (seccomp, "defaultAction"), ==, "SCMP_ACT_ERRNO");
  g_assert_true (
      array_has_string (json_object_get_array_member (seccomp, "architectures"), arch_name));

  g_autofree char *label = moat_selinux_file_label (&spec->identity);
  g_assert_cmpint (json_object_has_member (linux_, "mountLabel"), ==, spec->selinux);
  if (spec->selinux)
    g_assert_cmpstr (json_object_get_string_member (linux_, "mountLabel"), ==, label);
}

/* linux.devices and the device cgroup: deny all first, then exactly the declared nodes. */
static void
assert_devices (JsonObject *config, const MoatManifest *manifest)
{
  JsonObject *linux_ = json_object_get_object_member (config, "linux");
  JsonArray *devices = json_object_get_array_member (linux_, "devices");
  JsonObject *resources = json_object_get_object_member (linux_, "resources");
  JsonArray *rules = json_object_get_array_member (resources, "devices");

  g_assert_cmpuint (json_array_get_length (devices), ==, manifest->devices->len);
  g_assert_cmpuint (json_array_get_length (rules), ==, manifest->devices->len + 1);
  JsonObject *deny = json_array_get_object_element (rules, 0);
  g_assert_false (json_object_get_boolean_member (deny, "allow"));
  g_assert_cmpstr (json_object_get_string_member (deny, "access"), ==, "rwm");
  g_assert_false (json_object_has_member (deny, "major"));

  for (guint i = 0; i < manifest->devices->len; i++)
    {
      const MoatDevice *declared = g_ptr_array_index (manifest->devices, i);
      struct stat st;
      g_assert_cmpint (stat (declared->path, &st), ==, 0);

      JsonObject *device = json_array_get_object_element (devices, i);
      g_assert_cmpstr (json_object_get_string_member (device, "path"), ==, declared->path);
      g_assert_cmpstr (json_object_get_string_member (device, "type"), ==, "c");
      g_assert_cmpint (json_object_get_int_member (device, "major"), ==, major (st.st_rdev));
      g_assert_cmpint (json_object_get_int_member (device, "minor"), ==, minor (st.st_rdev));
      /* Owned by the sandbox's user, and only as writable as declared. */
      g_assert_cmpint (json_object_get_int_member (device, "fileMode"), ==,
                       declared->write ? 0600 : 0400);
      g_assert_cmpint (json_object_get_int_member (device, "uid"), ==, manifest->user);
      g_assert_cmpint (json_object_get_int_member (device, "gid"), ==, manifest->user);

      JsonObject *allow = json_array_get_object_element (rules, i + 1);
      g_assert_true (json_object_get_boolean_member (allow, "allow"));
      g_assert_cmpstr (json_object_get_string_member (allow, "type"), ==, "c");
      g_assert_cmpint (json_object_get_int_member (allow, "major"), ==, major (st.st_rdev));
      g_assert_cmpint (json_object_get_int_member (allow, "minor"), ==, minor (st.st_rdev));
      g_assert_cmpstr (json_object_get_string_member (allow, "access"), ==,
                       declared->write ? "rw" : "r");
    }
}

static void
assert_resources (JsonObject *config, const MoatManifest *manifest)
{
  JsonObject *resources = json_object_get_object_member (
      json_object_get_object_member (config, "linux"), "resources");
  g_assert_cmpint (
      json_object_get_int_member (json_object_get_object_member (resources, "memory"), "limit"), ==,
      manifest->memory_bytes);
  g_assert_cmpint (
      json_object_get_int_member (json_object_get_object_member (resources, "pids"), "limit"), ==,
      manifest->pids);
  g_assert_cmpint (
      json_object_get_int_member (json_object_get_object_member (resources, "cpu"), "shares"), ==,
      moat_oci_cpu_shares (manifest->cpu_weight));
}

typedef struct
{
  MoatArch arch;
  gboolean devices;
  gboolean selinux;
} Variant;

static void
test_every_config_is_valid_and_keeps_the_floor (void)
{
  for (guint v = 0; v < 8; v++)
    {
      Variant variant
          = { v & 1 ? MOAT_ARCH_AARCH64 : MOAT_ARCH_X86_64, (v & 2) != 0, (v & 4) != 0 };
      g_test_message ("arch %s, devices %d, selinux %d", moat_arch_oci_name (variant.arch),
                      variant.devices, variant.selinux);
      g_autoptr (TestManifest) manifest = test_manifest_new (variant.devices);
      MoatSandboxSpec spec = test_spec (manifest, variant.arch, variant.selinux, 5 + v);

      g_autoptr (GError) error = NULL;
      g_autofree char *config = moat_oci_config (&spec, &error);
      g_assert_no_error (error);
      assert_valid_oci (config);

      g_autoptr (JsonNode) root = parse_config (config);
      JsonObject *object = json_node_get_object (root);
      g_assert_cmpstr (json_object_get_string_member (object, "ociVersion"), ==, "1.0.2");
      g_assert_cmpstr (json_object_get_string_member (object, "hostname"), ==, "zigbee");
      assert_process (object, &spec);
      assert_mounts (object, &spec);
      assert_linux (object, &spec, moat_arch_oci_name (variant.arch));
      assert_devices (object, manifest);
      assert_resources (object, manifest);
    }
}

/* A manifest adds only what it names: capabilities go to every set (ambient for non-root),
 * its PATH replaces the default rather than shadowing it, and unset limits stay unset. */
static void
test_manifest_additions (void)
{
  static char *own_path[] = { "PATH=/opt/bin", "A=1", NULL };
  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  manifest->capabilities = net_capabilities;
  manifest->user = 1000;
  manifest->environment = own_path;
  manifest->memory_bytes = 0;
  manifest->pids = 0;
  manifest->cpu_weight = 0;
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);

  g_autoptr (GError) error = NULL;
  g_autofree char *config = moat_oci_config (&spec, &error);
  g_assert_no_error (error);
  assert_valid_oci (config);
  g_autoptr (JsonNode) root = parse_config (config);
  JsonObject *object = json_node_get_object (root);
  assert_process (object, &spec);

  JsonObject *process = json_object_get_object_member (object, "process");
  assert_string_array (json_object_get_array_member (process, "env"),
                       (const char *const *)own_path);
  JsonObject *resources = json_object_get_object_member (
      json_object_get_object_member (object, "linux"), "resources");
  g_assert_false (json_object_has_member (resources, "memory"));
  g_assert_false (json_object_has_member (resources, "pids"));
  g_assert_false (json_object_has_member (resources, "cpu"));
}

/* A sandbox with a [Network] policy joins the namespace moatd made for it (crun joins one the
 * host owns), and gets the host's /sys bound read-only and without submounts, because sysfs
 * can only be mounted by the namespace's owner; every other namespace stays new. */
static void
test_joins_network_namespace (void)
{
  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);
  spec.netns_path = "/run/moat/netns/zigbee";
  g_autoptr (GError) error = NULL;
  g_autofree char *config = moat_oci_config (&spec, &error);
  g_assert_no_error (error);
  assert_valid_oci (config);
  g_autoptr (JsonNode) root = parse_config (config);
  JsonObject *object = json_node_get_object (root);

  JsonArray *namespaces = json_object_get_array_member (
      json_object_get_object_member (object, "linux"), "namespaces");
  guint with_path = 0;
  for (guint i = 0; i < json_array_get_length (namespaces); i++)
    {
      JsonObject *ns = json_array_get_object_element (namespaces, i);
      if (!json_object_has_member (ns, "path"))
        continue;
      with_path++;
      g_assert_cmpstr (json_object_get_string_member (ns, "type"), ==, "network");
      g_assert_cmpstr (json_object_get_string_member (ns, "path"), ==, spec.netns_path);
    }
  g_assert_cmpuint (with_path, ==, 1);

  JsonArray *mounts = json_object_get_array_member (object, "mounts");
  for (guint i = 0; i < json_array_get_length (mounts); i++)
    {
      JsonObject *mount = json_array_get_object_element (mounts, i);
      if (!g_str_equal (json_object_get_string_member (mount, "destination"), "/sys"))
        continue;
      static const char *const sys[] = { "bind", "nosuid", "noexec", "nodev", "ro", NULL };
      g_assert_cmpstr (json_object_get_string_member (mount, "type"), ==, "bind");
      g_assert_cmpstr (json_object_get_string_member (mount, "source"), ==, "/sys");
      assert_string_array (json_object_get_array_member (mount, "options"), sys);
    }
}

/* crun 1.8: cpu.weight = 1 + (shares - 2) * 9999 / 262142. Every weight must survive. */
static void
test_cpu_weight_round_trips_through_crun (void)
{
  g_assert_cmpuint (moat_oci_cpu_shares (1), ==, 2);
  g_assert_cmpuint (moat_oci_cpu_shares (10000), ==, 262144);
  for (guint32 weight = 1; weight <= 10000; weight++)
    {
      guint64 shares = moat_oci_cpu_shares (weight);
      g_assert_cmpuint (shares, >=, 2);
      g_assert_cmpuint (shares, <=, 262144);
      g_assert_cmpuint (1 + (shares - 2) * 9999 / 262142, ==, weight);
    }
  g_assert_cmpuint (moat_oci_cpu_shares (0), ==, 2);
  g_assert_cmpuint (moat_oci_cpu_shares (20000), ==, 262144);
}

static void
test_missing_device_is_named (void)
{
  static MoatDevice missing = { "/dev/moat-test-no-such-device", TRUE };
  static MoatDevice directory = { "/dev/pts", TRUE };
  g_autoptr (TestManifest) manifest = test_manifest_new (TRUE);
  g_ptr_array_add (manifest->devices, &missing);
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);

  g_autoptr (GError) error = NULL;
  g_autofree char *config = moat_oci_config (&spec, &error);
  g_assert_null (config);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==,
                   "device '/dev/moat-test-no-such-device': No such file or directory");

  g_autoptr (GError) nspawn_error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, TRUE, &nspawn_error);
  g_assert_null (argv);
  g_assert_error (nspawn_error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND);

  g_ptr_array_remove (manifest->devices, &missing);
  g_ptr_array_add (manifest->devices, &directory);
  g_autoptr (GError) type_error = NULL;
  g_autofree char *config2 = moat_oci_config (&spec, &type_error);
  g_assert_null (config2);
  g_assert_error (type_error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_assert_nonnull (strstr (type_error->message, "'/dev/pts'"));
}

static void
test_relative_paths_are_refused (void)
{
  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);
  spec.data_dir = "data";
  g_autoptr (GError) error = NULL;
  g_autofree char *config = moat_oci_config (&spec, &error);
  g_assert_null (config);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);

  spec.data_dir = DATA_DIR;
  g_autoptr (GError) nspawn_error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, "moat-init", BPF, TRUE, &nspawn_error);
  g_assert_null (argv);
  g_assert_error (nspawn_error, MOAT_ERROR, MOAT_ERROR_INVALID);
}

static gint
argv_index (GStrv argv, const char *value)
{
  for (gint i = 0; argv[i] != NULL; i++)
    if (g_str_equal (argv[i], value))
      return i;
  return -1;
}

static gboolean
argv_has_prefix (GStrv argv, const char *prefix)
{
  for (gint i = 0; argv[i] != NULL; i++)
    if (g_str_has_prefix (argv[i], prefix))
      return TRUE;
  return FALSE;
}

#define assert_argv_has(argv, value) g_assert_cmpint (argv_index ((argv), (value)), >=, 0)

/* Every capability by name, with its number from the kernel's header. */
#define CAPABILITY(name)                                                                           \
  {                                                                                                \
#name, name                                                                                    \
  }
static const struct
{
  const char *name;
  int number;
} kernel_capabilities[] = {
  CAPABILITY (CAP_CHOWN),
  CAPABILITY (CAP_DAC_OVERRIDE),
  CAPABILITY (CAP_DAC_READ_SEARCH),
  CAPABILITY (CAP_FOWNER),
  CAPABILITY (CAP_FSETID),
  CAPABILITY (CAP_KILL),
  CAPABILITY (CAP_SETGID),
  CAPABILITY (CAP_SETUID),
  CAPABILITY (CAP_SETPCAP),
  CAPABILITY (CAP_LINUX_IMMUTABLE),
  CAPABILITY (CAP_NET_BIND_SERVICE),
  CAPABILITY (CAP_NET_BROADCAST),
  CAPABILITY (CAP_NET_ADMIN),
  CAPABILITY (CAP_NET_RAW),
  CAPABILITY (CAP_IPC_LOCK),
  CAPABILITY (CAP_IPC_OWNER),
  CAPABILITY (CAP_SYS_MODULE),
  CAPABILITY (CAP_SYS_RAWIO),
  CAPABILITY (CAP_SYS_CHROOT),
  CAPABILITY (CAP_SYS_PTRACE),
  CAPABILITY (CAP_SYS_PACCT),
  CAPABILITY (CAP_SYS_ADMIN),
  CAPABILITY (CAP_SYS_BOOT),
  CAPABILITY (CAP_SYS_NICE),
  CAPABILITY (CAP_SYS_RESOURCE),
  CAPABILITY (CAP_SYS_TIME),
  CAPABILITY (CAP_SYS_TTY_CONFIG),
  CAPABILITY (CAP_MKNOD),
  CAPABILITY (CAP_LEASE),
  CAPABILITY (CAP_AUDIT_WRITE),
  CAPABILITY (CAP_AUDIT_CONTROL),
  CAPABILITY (CAP_SETFCAP),
  CAPABILITY (CAP_MAC_OVERRIDE),
  CAPABILITY (CAP_MAC_ADMIN),
  CAPABILITY (CAP_SYSLOG),
  CAPABILITY (CAP_WAKE_ALARM),
  CAPABILITY (CAP_BLOCK_SUSPEND),
  CAPABILITY (CAP_AUDIT_READ),
  CAPABILITY (CAP_PERFMON),
  CAPABILITY (CAP_BPF),
  CAPABILITY (CAP_CHECKPOINT_RESTORE),
};

static int
kernel_capability_number (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (kernel_capabilities); i++)
    if (g_str_equal (kernel_capabilities[i].name, name))
      return kernel_capabilities[i].number;
  g_assert_not_reached ();
}

/* The options end at the first "--"; what follows is moat-init's command line: the cgroup
 * file system nspawn mounts writable is unmounted, and exactly the manifest's capabilities
 * are kept, by the kernel's numbers. */
static void
assert_payload (GStrv argv, const MoatManifest *manifest)
{
  gint start = argv_index (argv, "--");
  g_assert_cmpint (start, >, 0);
  GStrv payload = argv + start + 1;
  g_assert_cmpstr (payload[0], ==, MOAT_NSPAWN_INIT_PATH);
  g_assert_cmpstr (payload[1], ==, "--seccomp");
  g_assert_cmpstr (payload[2], ==, MOAT_NSPAWN_BPF_PATH);
  g_assert_cmpstr (payload[3], ==, "--unmount");
  g_assert_cmpstr (payload[4], ==, "/sys/fs/cgroup");
  gint next = 5;
  for (char **cap = manifest->capabilities; *cap != NULL; cap++)
    {
      g_autofree char *number = g_strdup_printf ("%d", kernel_capability_number (*cap));
      g_assert_cmpstr (payload[next++], ==, "--keep-cap");
      g_assert_cmpstr (payload[next++], ==, number);
    }
  if (manifest->user != 0)
    {
      g_autofree char *id = g_strdup_printf ("%u", manifest->user);
      g_assert_cmpstr (payload[next++], ==, "--uid");
      g_assert_cmpstr (payload[next++], ==, id);
      g_assert_cmpstr (payload[next++], ==, "--gid");
      g_assert_cmpstr (payload[next++], ==, id);
    }
  g_assert_cmpstr (payload[next], ==, "--");
  /* Exec= arrives as the same vector: no element was joined, split or quoted. */
  g_assert_true (
      g_strv_equal ((const char *const *)payload + next + 1, (const char *const *)manifest->exec));
}

static char **
option_list (GStrv argv, const char *option)
{
  for (gint i = 0; argv[i] != NULL; i++)
    if (g_str_has_prefix (argv[i], option))
      return g_strsplit (argv[i] + strlen (option), ",", -1);
  return NULL;
}

/* nspawn leaves exactly KEEP in the bounding set: --capability= names them and
 * --drop-capability= every other one (never "all", which would drop KEEP too). */
static void
assert_nspawn_keeps (GStrv argv, const char *const *keep)
{
  g_auto (GStrv) kept = option_list (argv, "--capability=");
  g_auto (GStrv) dropped = option_list (argv, "--drop-capability=");
  g_assert_nonnull (kept);
  g_assert_nonnull (dropped);
  g_assert_cmpuint (g_strv_length (kept), ==, g_strv_length ((char **)keep));
  g_assert_cmpuint (g_strv_length (dropped), ==,
                    G_N_ELEMENTS (kernel_capabilities) - g_strv_length ((char **)keep));
  for (gsize i = 0; i < G_N_ELEMENTS (kernel_capabilities); i++)
    {
      const char *name = kernel_capabilities[i].name;
      gboolean wanted = g_strv_contains (keep, name);
      g_assert_cmpint (g_strv_contains ((const char *const *)kept, name), ==, wanted);
      g_assert_cmpint (g_strv_contains ((const char *const *)dropped, name), ==, !wanted);
    }
}

static void
test_nspawn_argv_keeps_the_floor (void)
{
  g_autoptr (TestManifest) manifest = test_manifest_new (TRUE);
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 3);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, FALSE, &error);
  g_assert_no_error (error);

  g_assert_cmpstr (argv[0], ==, "systemd-nspawn");
  static const char *const floor[] = {
    "--quiet",
    "--settings=no",
    "--register=no",
    "--directory=" ROOTFS,
    "--machine=moat-zigbee",
    "--private-users-ownership=off",
    "--private-network",
    "--read-only",
    "--no-new-privileges=yes",
    "--as-pid2",
    "--timezone=off",
    "--resolv-conf=off",
    "--link-journal=no",
    "--console=pipe",
    "--bind=" DATA_DIR ":/data",
    "--tmpfs=/tmp:mode=1777,nosuid,nodev,size=64m",
    "--bind=/dev/null:/dev/null",
    "--bind-ro=/dev/zero:/dev/zero",
    "--bind-ro=" INIT ":" MOAT_NSPAWN_INIT_PATH,
    "--bind-ro=" BPF ":" MOAT_NSPAWN_BPF_PATH,
    "--bind-ro=+/run/host/inaccessible:/run/systemd/inaccessible",
    "--setenv=GREETING=hello world",
    "--keep-unit",
    NULL,
  };
  for (const char *const *flag = floor; *flag != NULL; flag++)
    {
      g_test_message ("expecting %s", *flag);
      assert_argv_has (argv, *flag);
    }
  g_autofree char *users
      = g_strdup_printf ("--private-users=%u:65536", (guint)spec.identity.uid_base);
  assert_argv_has (argv, users);
  g_assert_cmpstr (users, ==, "--private-users=1245184:65536");
  g_assert_true (argv_has_prefix (argv, "--setenv=PATH=/"));

  /* Without systemd there is no scope for limits; no SELinux flags when it is off. */
  g_assert_false (argv_has_prefix (argv, "--property="));
  g_assert_false (argv_has_prefix (argv, "--selinux"));
  g_assert_false (argv_has_prefix (argv, "--inaccessible="));
  /* Only moat-init's own working set, which it drops before exec (assert_payload). */
  assert_nspawn_keeps (argv, (const char *const[]){ "CAP_SETPCAP", "CAP_SYS_ADMIN", NULL });
  assert_payload (argv, manifest);

  /* Nothing runs through a shell: the only shell-looking words are the manifest's own. */
  g_assert_cmpint (argv_index (argv, "/bin/sh"), ==, -1);
  g_assert_cmpint (argv_index (argv, "-c"), ==, -1);
}

static void
test_nspawn_limits_go_to_the_scope (void)
{
  g_autoptr (TestManifest) manifest = test_manifest_new (TRUE);
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, TRUE, 0);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, TRUE, &error);
  g_assert_no_error (error);

  g_assert_cmpint (argv_index (argv, "--keep-unit"), ==, -1);
  assert_argv_has (argv, "--property=MemoryMax=134217728");
  assert_argv_has (argv, "--property=TasksMax=256");
  assert_argv_has (argv, "--property=CPUWeight=100");
  assert_argv_has (argv, "--property=DeviceAllow=/dev/null rw");
  assert_argv_has (argv, "--property=DeviceAllow=/dev/zero r");

  g_autofree char *init = moat_selinux_init_label (&spec.identity);
  g_autofree char *file = moat_selinux_file_label (&spec.identity);
  g_autofree char *context = g_strconcat ("--selinux-context=", init, NULL);
  g_assert_true (g_str_has_prefix (init, "system_u:system_r:moat_init_t:s0:c"));
  g_autofree char *apifs = g_strconcat ("--selinux-apifs-context=", file, NULL);
  assert_argv_has (argv, context);
  assert_argv_has (argv, apifs);
  assert_payload (argv, manifest);
}

/* Named capabilities survive nspawn beside moat-init's working set, and moat-init is told to
 * keep only them (assert_payload): never CAP_SYS_ADMIN or CAP_SETPCAP. */
static void
test_nspawn_named_capabilities (void)
{
  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  manifest->capabilities = net_capabilities;
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, FALSE, &error);
  g_assert_no_error (error);

  assert_nspawn_keeps (argv, (const char *const[]){ "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
                                                    "CAP_SETPCAP", "CAP_SYS_ADMIN", NULL });
  assert_payload (argv, manifest);
}

/* moat-init is told capabilities by number: each name maps to the kernel's own number. */
static void
test_nspawn_capability_numbers (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (kernel_capabilities); i++)
    {
      char *one[] = { (char *)kernel_capabilities[i].name, NULL };
      g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
      manifest->capabilities = one;
      MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);
      g_autoptr (GError) error = NULL;
      g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, FALSE, &error);
      g_assert_no_error (error);
      assert_payload (argv, manifest);
    }

  char *unknown[] = { "CAP_FLY", NULL };
  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  manifest->capabilities = unknown;
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, FALSE, &error);
  g_assert_null (argv);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
}

/* A networked nspawn sandbox: nspawn moves the veth end moatd made (ms-SLOT) into its own
 * namespace instead of --private-network, moat-init alone gets CAP_NET_ADMIN to configure it
 * (--net, before everything else it is told; it drops the capability with the rest), and the
 * hosts file lands on /etc/hosts. */
static void
test_nspawn_network (void)
{
  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 7);
  spec.nspawn_network = TRUE;
  spec.hosts_file = "/run/moat/sandboxes/zigbee/hosts";
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, FALSE, &error);
  g_assert_no_error (error);

  assert_argv_has (argv, "--network-interface=ms-7");
  g_assert_cmpint (argv_index (argv, "--private-network"), ==, -1);
  assert_argv_has (argv, "--bind-ro=/run/moat/sandboxes/zigbee/hosts:/etc/hosts");
  assert_nspawn_keeps (
      argv, (const char *const[]){ "CAP_NET_ADMIN", "CAP_SETPCAP", "CAP_SYS_ADMIN", NULL });
  gint net = argv_index (argv, "--net");
  g_assert_cmpint (net, >, argv_index (argv, MOAT_NSPAWN_INIT_PATH));
  g_assert_cmpstr (argv[net + 1], ==, "ms-7");
  g_assert_cmpstr (argv[net + 2], ==, "10.89.0.9");
  g_assert_cmpstr (argv[net + 3], ==, "10.89.0.1");
  g_assert_cmpint (argv_index (argv, "--keep-cap"), ==, -1);
}

/* A non-root user: nspawn leaves moat-init exactly what it needs to switch and then drop
 * everything, and the payload gets --uid/--gid. */
static void
test_nspawn_non_root_user (void)
{
  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  manifest->user = 1000;
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, FALSE, &error);
  g_assert_no_error (error);
  assert_nspawn_keeps (argv, (const char *const[]){ "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP",
                                                    "CAP_SYS_ADMIN", NULL });
  g_assert_cmpint (argv_index (argv, "--keep-cap"), ==, -1);
  assert_payload (argv, manifest);

  /* Capabilities for a non-root user cannot cross moat-init's uid switch: refused. */
  manifest->capabilities = net_capabilities;
  g_autoptr (GError) caps_error = NULL;
  g_auto (GStrv) refused = moat_nspawn_argv (&spec, INIT, BPF, FALSE, &caps_error);
  g_assert_null (refused);
  g_assert_error (caps_error, MOAT_ERROR, MOAT_ERROR_UNSUPPORTED);
}

static void
test_nspawn_escapes_bind_paths (void)
{
  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);
  spec.data_dir = "/var/lib/moat/a:b\\c";
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, FALSE, &error);
  g_assert_no_error (error);
  assert_argv_has (argv, "--bind=/var/lib/moat/a\\:b\\\\c:/data");
}

static void
test_nspawn_masks_with_inaccessible_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("moat-inaccessible-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *dir = g_build_filename (tmp, "inaccessible", NULL);
  g_assert_true (moat_nspawn_make_inaccessible_dir (dir, &error));
  g_assert_no_error (error);
  g_autofree char *reg = g_build_filename (dir, "reg", NULL);
  g_autofree char *sub = g_build_filename (dir, "dir", NULL);
  g_assert_cmpint (chmod (reg, 0644), ==, 0);
  g_assert_true (moat_nspawn_make_inaccessible_dir (dir, &error)); /* again: repairs */
  g_assert_no_error (error);
  struct stat st;
  g_assert_cmpint (lstat (reg, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0);
  g_assert_cmpint (lstat (sub, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0);

  g_autoptr (TestManifest) manifest = test_manifest_new (FALSE);
  MoatSandboxSpec spec = test_spec (manifest, MOAT_ARCH_X86_64, FALSE, 0);
  spec.nspawn_inaccessible_dir = dir;
  g_auto (GStrv) argv = moat_nspawn_argv (&spec, INIT, BPF, TRUE, &error);
  g_assert_no_error (error);
  g_autofree char *bind = g_strdup_printf ("--bind-ro=%s:/run/systemd/inaccessible", dir);
  assert_argv_has (argv, bind);
  /* Masked only where the kernel has the path: nspawn refuses to mask what is not there. */
  for (const char *const *path = docker_masked; *path != NULL; path++)
    {
      g_autofree char *flag = g_strconcat ("--inaccessible=", *path, NULL);
      gboolean nspawn_masks
          = g_str_has_prefix (*path, "/sys/")
            || g_strv_contains (
                (const char *const[]){ "/proc/kcore", "/proc/keys", "/proc/timer_list", NULL },
                *path);
      gboolean expected = !nspawn_masks && access (*path, F_OK) == 0;
      g_assert_cmpint (argv_index (argv, flag) >= 0, ==, expected);
    }

  g_rmdir (sub);
  g_unlink (reg);
  g_assert_cmpint (g_mkdir (reg, 0755), ==, 0);
  g_assert_false (moat_nspawn_make_inaccessible_dir (dir, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS);
  g_rmdir (reg);
  g_rmdir (dir);
  g_rmdir (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/oci/every-config-is-valid-and-keeps-the-floor",
                   test_every_config_is_valid_and_keeps_the_floor);
  g_test_add_func ("/oci/manifest-additions", test_manifest_additions);
  g_test_add_func ("/oci/joins-network-namespace", test_joins_network_namespace);
  g_test_add_func ("/oci/cpu-weight-round-trips-through-crun",
                   test_cpu_weight_round_trips_through_crun);
  g_test_add_func ("/oci/missing-device-is-named", test_missing_device_is_named);
  g_test_add_func ("/oci/relative-paths-are-refused", test_relative_paths_are_refused);
  g_test_add_func ("/nspawn/argv-keeps-the-floor", test_nspawn_argv_keeps_the_floor);
  g_test_add_func ("/nspawn/network", test_nspawn_network);
  g_test_add_func ("/nspawn/limits-go-to-the-scope", test_nspawn_limits_go_to_the_scope);
  g_test_add_func ("/nspawn/named-capabilities", test_nspawn_named_capabilities);
  g_test_add_func ("/nspawn/capability-numbers", test_nspawn_capability_numbers);
  g_test_add_func ("/nspawn/non-root-user", test_nspawn_non_root_user);
  g_test_add_func ("/nspawn/escapes-bind-paths", test_nspawn_escapes_bind_paths);
  g_test_add_func ("/nspawn/masks-with-inaccessible-dir", test_nspawn_masks_with_inaccessible_dir);

  return g_test_run ();
}
