/* Unit tests for the sandbox manifest parser: what a bundle author can write, what they get by
 * default, and that every mistake is refused with a message naming the file, line, key and the
 * token that is wrong. */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "moat-error.h"

#define MINIMAL "[Sandbox]\nName=demo\nVersion=1.0\nExec=/usr/bin/demo\n"
#define HEALTH MINIMAL "[Health]\nCommand=/usr/bin/demo --check\n"
#define USEC_PER_MSEC G_GUINT64_CONSTANT (1000)
#define USEC_PER_SEC (1000 * USEC_PER_MSEC)

static MoatManifest *
parse_len (const char *text, gsize len, GError **error)
{
  return moat_manifest_parse ("test.manifest", text, len, error);
}

static MoatManifest *
parse_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  MoatManifest *manifest = parse_len (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_nonnull (manifest);
  return manifest;
}

/* Assert that TEXT (LEN bytes) is refused with a message matching PATTERN, which is exact unless
 * it holds a '*' (then a g_pattern_match_simple() glob). */
static void
assert_refused_len (const char *text, gsize len, const char *pattern)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatManifest) manifest = parse_len (text, len, &error);
  g_assert_null (manifest);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  if (strchr (pattern, '*') == NULL)
    g_assert_cmpstr (error->message, ==, pattern);
  else if (!g_pattern_match_simple (pattern, error->message))
    g_error ("message '%s' does not match '%s'", error->message, pattern);
}

static void
assert_refused (const char *text, const char *pattern)
{
  assert_refused_len (text, strlen (text), pattern);
}

/* COUNT lines (or words) BEFORE<n>AFTER, n counting from 0. */
static char *
repeat_lines (const char *before, const char *after, guint count)
{
  GString *text = g_string_new (NULL);
  for (guint i = 0; i < count; i++)
    g_string_append_printf (text, "%s%u%s", before, i, after);
  return g_string_free (text, FALSE);
}

/* What the parser accepts. */

static const char full_manifest[]
    = "# A thermostat on a USB serial adapter.\n"
      "[Sandbox]\n"
      "Name = thermostat\n"
      "Version = 2.1.0+moat1~rc2\n"
      "Exec = /usr/bin/thermostatd --port /dev/ttyUSB0 --label \"living room\" "
      "\"say \\\"hi\\\"\" \"back\\\\slash\" --empty \"\" a\\b\n"
      "Backend = nspawn\n"
      "Restart = always\n"
      "Required = yes\n"
      "User = 1000\n"
      "Environment = TZ=Europe/Berlin\n"
      "Environment = EMPTY=\n"
      "Environment=GREETING=hello world = yes\n"
      "StopTimeout = 500ms\n"
      "\n"
      "[Devices]\n"
      "Device = /dev/ttyUSB0 rw\n"
      "Device = /dev/serial/by-id/usb-Silicon_Labs_CP2102-if00-port0\tro\n"
      "\n"
      "[Network]\n"
      "\n"
      "[Resources]\n"
      "Memory = 64M\n"
      "CPUWeight = 50\n"
      "Pids = 32\n"
      "\n"
      "[Security]\n"
      "Capabilities = CAP_NET_BIND_SERVICE CAP_CHOWN\n"
      "Capabilities = CAP_KILL\n"
      "SystemCalls = ioprio_set\tsched_setattr\n"
      "\n"
      "[Health]\n"
      "Command = /usr/bin/thermostatd --check\n"
      "Interval = 1m\n"
      "Timeout = 5s\n";

static void
test_parses_every_key (void)
{
  g_autoptr (MoatManifest) m = parse_ok (full_manifest);
  const char *exec[] = { "/usr/bin/thermostatd",
                         "--port",
                         "/dev/ttyUSB0",
                         "--label",
                         "living room",
                         "say \"hi\"",
                         "back\\slash",
                         "--empty",
                         "",
                         "a\\b",
                         NULL };
  const char *environment[] = { "TZ=Europe/Berlin", "EMPTY=", "GREETING=hello world = yes", NULL };
  const char *capabilities[] = { "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_KILL", NULL };
  const char *syscalls[] = { "ioprio_set", "sched_setattr", NULL };
  const char *health[] = { "/usr/bin/thermostatd", "--check", NULL };

  g_assert_cmpstr (m->filename, ==, "test.manifest");
  g_assert_cmpstr (m->name, ==, "thermostat");
  g_assert_cmpstr (m->version, ==, "2.1.0+moat1~rc2");
  g_assert_cmpstrv (m->exec, exec);
  g_assert_cmpint (m->backend, ==, MOAT_BACKEND_NSPAWN);
  g_assert_cmpint (m->restart, ==, MOAT_RESTART_ALWAYS);
  g_assert_true (m->required);
  g_assert_cmpuint (m->user, ==, 1000);
  g_assert_cmpstrv (m->environment, environment);
  g_assert_cmpuint (m->stop_timeout_usec, ==, 500 * USEC_PER_MSEC);

  g_assert_cmpuint (m->devices->len, ==, 2);
  MoatDevice *tty = g_ptr_array_index (m->devices, 0);
  MoatDevice *by_id = g_ptr_array_index (m->devices, 1);
  g_assert_cmpstr (tty->path, ==, "/dev/ttyUSB0");
  g_assert_true (tty->write);
  g_assert_cmpstr (by_id->path, ==, "/dev/serial/by-id/usb-Silicon_Labs_CP2102-if00-port0");
  g_assert_false (by_id->write);

  g_assert_cmpuint (m->memory_bytes, ==, 64 << 20);
  g_assert_cmpuint (m->cpu_weight, ==, 50);
  g_assert_cmpuint (m->pids, ==, 32);
  g_assert_cmpstrv (m->capabilities, capabilities);
  g_assert_cmpstrv (m->syscalls, syscalls);
  g_assert_cmpstrv (m->health_command, health);
  g_assert_cmpuint (m->health_interval_usec, ==, 60 * USEC_PER_SEC);
  g_assert_cmpuint (m->health_timeout_usec, ==, 5 * USEC_PER_SEC);
}

static void
test_defaults (void)
{
  g_autoptr (MoatManifest) m = parse_ok (MINIMAL);
  const char *exec[] = { "/usr/bin/demo", NULL };
  const char *empty[] = { NULL };

  g_assert_cmpstr (m->name, ==, "demo");
  g_assert_cmpstr (m->version, ==, "1.0");
  g_assert_cmpstrv (m->exec, exec);
  g_assert_cmpint (m->backend, ==, MOAT_BACKEND_CRUN);
  g_assert_cmpint (m->restart, ==, MOAT_RESTART_ON_FAILURE);
  g_assert_false (m->required);
  g_assert_cmpuint (m->user, ==, 0);
  /* Lists are empty, never NULL, so callers can iterate without checking. */
  g_assert_cmpstrv (m->environment, empty);
  g_assert_cmpuint (m->stop_timeout_usec, ==, 10 * USEC_PER_SEC);
  g_assert_nonnull (m->devices);
  g_assert_cmpuint (m->devices->len, ==, 0);
  g_assert_cmpuint (m->memory_bytes, ==, 0);
  g_assert_cmpuint (m->cpu_weight, ==, 100);
  g_assert_cmpuint (m->pids, ==, 256);
  g_assert_cmpstrv (m->capabilities, empty);
  g_assert_cmpstrv (m->syscalls, empty);
  g_assert_null (m->health_command);
  g_assert_cmpuint (m->health_interval_usec, ==, 30 * USEC_PER_SEC);
  g_assert_cmpuint (m->health_timeout_usec, ==, 10 * USEC_PER_SEC);
}

static void
test_accepts_comments_blank_lines_and_whitespace (void)
{
  g_autoptr (MoatManifest) m = parse_ok ("# hash comment\n"
                                         "; semicolon comment\n"
                                         "\n"
                                         "   \t\n"
                                         "  [Sandbox]  \n"
                                         "\t# indented comment\n"
                                         "  Name\t=\t demo  \n"
                                         "Version=1\n"
                                         "Exec   =   /bin/demo    a   b   \n"
                                         "[Devices]\n"
                                         "[Network]\n"
                                         "[Resources]\n"
                                         "[Security]\n"
                                         "[Health]\n");
  const char *exec[] = { "/bin/demo", "a", "b", NULL };
  g_assert_cmpstr (m->name, ==, "demo");
  g_assert_cmpstrv (m->exec, exec);
}

static void
test_accepts_sections_in_any_order (void)
{
  g_autoptr (MoatManifest) m
      = parse_ok ("[Resources]\nPids=10\n[Sandbox]\nName=demo\nVersion=1\nExec=/bin/demo\n");
  g_assert_cmpuint (m->pids, ==, 10);
}

static void
test_accepts_last_line_without_newline (void)
{
  g_autoptr (MoatManifest) m = parse_ok ("[Sandbox]\nName=demo\nVersion=1\nExec=/bin/demo");
  g_assert_cmpstr (m->exec[0], ==, "/bin/demo");
}

static void
test_reads_only_len_bytes (void)
{
  /* The caller's buffer need not end in a NUL; what follows LEN must not be read. */
  const char buffer[] = MINIMAL "Bogus=yes";
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatManifest) m = parse_len (buffer, strlen (MINIMAL), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->name, ==, "demo");
}

static void
test_accepts_every_boolean_spelling (void)
{
  const struct
  {
    const char *value;
    gboolean expected;
  } cases[] = {
    { "yes", TRUE },  { "true", TRUE }, { "on", TRUE },  { "1", TRUE },
    { "Yes", TRUE },  { "TRUE", TRUE }, { "no", FALSE }, { "false", FALSE },
    { "off", FALSE }, { "0", FALSE },   { "No", FALSE }, { "OFF", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = g_strdup_printf (MINIMAL "Required=%s\n", cases[i].value);
      g_autoptr (MoatManifest) m = parse_ok (text);
      g_assert_cmpint (m->required, ==, cases[i].expected);
    }
}

static void
test_accepts_time_units (void)
{
  const struct
  {
    const char *value;
    guint64 usec;
  } cases[] = {
    { "10", 10 * USEC_PER_SEC },      { "10s", 10 * USEC_PER_SEC },
    { "500ms", 500 * USEC_PER_MSEC }, { "2m", 120 * USEC_PER_SEC },
    { "2min", 120 * USEC_PER_SEC },   { "1h", 3600 * USEC_PER_SEC },
    { "100ms", 100 * USEC_PER_MSEC }, { "007s", 7 * USEC_PER_SEC },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = g_strdup_printf (MINIMAL "StopTimeout=%s\n", cases[i].value);
      g_autoptr (MoatManifest) m = parse_ok (text);
      g_assert_cmpuint (m->stop_timeout_usec, ==, cases[i].usec);
    }
  g_autoptr (MoatManifest) day = parse_ok (HEALTH "Interval=1d\n");
  g_assert_cmpuint (day->health_interval_usec, ==, 86400 * USEC_PER_SEC);
}

static void
test_accepts_size_suffixes (void)
{
  const struct
  {
    const char *value;
    guint64 bytes;
  } cases[] = {
    { "4M", 4 << 20 },
    { "4194304", 4 << 20 },
    { "8192K", 8 << 20 },
    { "1G", 1 << 30 },
    { "64G", G_GUINT64_CONSTANT (64) << 30 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = g_strdup_printf (MINIMAL "[Resources]\nMemory=%s\n", cases[i].value);
      g_autoptr (MoatManifest) m = parse_ok (text);
      g_assert_cmpuint (m->memory_bytes, ==, cases[i].bytes);
    }
}

static void
test_default_health_timeout_fits_short_interval (void)
{
  /* A 5 s interval with the 10 s default timeout would overlap checks: the default shrinks. */
  g_autoptr (MoatManifest) m = parse_ok (HEALTH "Interval=5s\n");
  g_assert_cmpuint (m->health_interval_usec, ==, 5 * USEC_PER_SEC);
  g_assert_cmpuint (m->health_timeout_usec, ==, 5 * USEC_PER_SEC);
}

static void
test_accepts_limits_exactly (void)
{
  /* 64 of each repeatable key, a 64-word Exec=, a 4096-byte line and a 64 KiB file. */
  g_autofree char *env = repeat_lines ("Environment=V", "=x\n", MOAT_MANIFEST_MAX_ENTRIES);
  g_autofree char *devices = repeat_lines ("Device=/dev/tty", " rw\n", MOAT_MANIFEST_MAX_ENTRIES);
  g_autofree char *words = repeat_lines (" w", "", MOAT_MANIFEST_MAX_ARGS - 1);
  g_autofree char *text = g_strdup_printf ("[Sandbox]\nName=demo\nVersion=1\nExec=/bin/demo%s\n%s"
                                           "[Devices]\n%s",
                                           words, env, devices);
  g_autoptr (MoatManifest) m = parse_ok (text);
  g_assert_cmpuint (g_strv_length (m->exec), ==, MOAT_MANIFEST_MAX_ARGS);
  g_assert_cmpuint (g_strv_length (m->environment), ==, MOAT_MANIFEST_MAX_ENTRIES);
  g_assert_cmpuint (m->devices->len, ==, MOAT_MANIFEST_MAX_ENTRIES);

  GString *big = g_string_new (MINIMAL);
  g_string_append_c (big, '#');
  while (big->len < MOAT_MANIFEST_MAX_SIZE - 1 - MOAT_MANIFEST_MAX_LINE)
    {
      g_string_append_c (big, '\n');
      g_string_append_c (big, '#');
      for (int i = 1; i < MOAT_MANIFEST_MAX_LINE; i++)
        g_string_append_c (big, 'x');
    }
  gsize remaining = MOAT_MANIFEST_MAX_SIZE - big->len;
  g_string_append_c (big, '\n');
  for (gsize i = 1; i < remaining; i++)
    g_string_append_c (big, '#');
  g_assert_cmpuint (big->len, ==, MOAT_MANIFEST_MAX_SIZE);
  g_autoptr (MoatManifest) big_manifest = parse_ok (big->str);
  g_string_free (big, TRUE);
}

static void
test_accepts_dots_inside_device_names (void)
{
  /* Only whole "." and ".." components are refused; dots within a name are ordinary. */
  g_autoptr (MoatManifest) m = parse_ok (MINIMAL "[Devices]\nDevice=/dev/a..b rw\n"
                                                 "Device=/dev/..c ro\nDevice=/dev/d. rw\n");
  g_assert_cmpuint (m->devices->len, ==, 3);
}

static void
test_name_is_valid (void)
{
  g_assert_true (moat_name_is_valid ("a"));
  g_assert_true (moat_name_is_valid ("zigbee2mqtt"));
  g_assert_true (moat_name_is_valid ("0day"));
  g_assert_true (moat_name_is_valid ("mqtt-broker"));
  g_assert_true (moat_name_is_valid ("abcdefghijklmnopqrstuvwxyz012345"));
  g_assert_false (moat_name_is_valid ("abcdefghijklmnopqrstuvwxyz0123456"));
  g_assert_false (moat_name_is_valid (NULL));
  g_assert_false (moat_name_is_valid (""));
  g_assert_false (moat_name_is_valid ("-x"));
  g_assert_false (moat_name_is_valid ("x-"));
  g_assert_false (moat_name_is_valid ("Mqtt"));
  g_assert_false (moat_name_is_valid ("a_b"));
  g_assert_false (moat_name_is_valid ("a.b"));
  g_assert_false (moat_name_is_valid (".."));
  g_assert_false (moat_name_is_valid ("a/b"));
  g_assert_false (moat_name_is_valid ("caf\xc3\xa9"));
  g_assert_false (moat_name_is_valid ("\xff"));
}

static void
test_allowed_capabilities (void)
{
  const char *expected[]
      = { "CAP_CHOWN",  "CAP_DAC_OVERRIDE",     "CAP_FOWNER",  "CAP_KILL", "CAP_SETGID",
          "CAP_SETUID", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", NULL };
  g_assert_cmpstrv (moat_manifest_allowed_capabilities, expected);
  for (const char *const *cap = expected; *cap != NULL; cap++)
    {
      g_autofree char *text = g_strdup_printf (MINIMAL "[Security]\nCapabilities=%s\n", *cap);
      g_autoptr (MoatManifest) m = parse_ok (text);
      g_assert_cmpstr (m->capabilities[0], ==, *cap);
    }
}

/* What the parser refuses, each with the message a bundle author sees. */

typedef struct
{
  const char *path;
  const char *text;
  const char *message;
} Refusal;

static const Refusal refusals[] = {
  /* Structure */
  { "/manifest/refuses-unknown-key", MINIMAL "Colour=blue\n",
    "test.manifest:5: Colour: unknown key in [Sandbox] (known: Name Version Exec Backend Restart "
    "Required User Environment StopTimeout)" },
  { "/manifest/keys-are-case-sensitive", MINIMAL "name=demo\n",
    "test.manifest:5: name: unknown key in [Sandbox] (known: *)" },
  { "/manifest/refuses-key-in-wrong-section", MINIMAL "Memory=64M\n",
    "test.manifest:5: Memory: unknown key in [Sandbox] (Memory= belongs in [Resources])" },
  { "/manifest/refuses-key-outside-section", "Name=demo\n[Sandbox]\n",
    "test.manifest:1: Name: key before any [Section] header (Name= belongs in [Sandbox])" },
  { "/manifest/refuses-unknown-key-outside-section", "# top\nFoo=bar\n",
    "test.manifest:2: Foo: key before any [Section] header" },
  { "/manifest/refuses-unknown-section", MINIMAL "[Mounts]\n",
    "test.manifest:5: unknown section [Mounts] (known: [Sandbox] [Devices] [Network] [Resources] "
    "[Security] [Health])" },
  { "/manifest/section-names-are-case-sensitive", "[sandbox]\n",
    "test.manifest:1: unknown section [sandbox] (known: *)" },
  { "/manifest/refuses-repeated-section", MINIMAL "[Devices]\n[Sandbox]\n",
    "test.manifest:6: [Sandbox] appears twice (first on line 1); write each section once" },
  { "/manifest/refuses-unclosed-section-header", "[Sandbox\n",
    "test.manifest:1: '[Sandbox' is not a section header (it must end with ']')" },
  { "/manifest/refuses-text-after-section-header", "[Sandbox] # main\n",
    "test.manifest:1: '[Sandbox] # main' is not a section header (it must end with ']')" },
  { "/manifest/refuses-line-without-equals", MINIMAL "Backend crun\n",
    "test.manifest:5: 'Backend crun' is not Key=Value, a [Section] header or a comment" },
  { "/manifest/refuses-equals-without-key", MINIMAL " = crun\n",
    "test.manifest:5: no key before '='" },
  { "/manifest/refuses-repeated-key", MINIMAL "Name=other\n",
    "test.manifest:5: Name: set twice (first on line 2)" },
  { "/manifest/refuses-empty-value", MINIMAL "Backend=\n",
    "test.manifest:5: Backend: has no value" },
  { "/manifest/has-no-inline-comments", MINIMAL "Backend=crun # fast\n",
    "test.manifest:5: Backend: 'crun # fast' is not a backend (use crun or nspawn)" },
  { "/manifest/requires-name", "[Sandbox]\nVersion=1\nExec=/bin/demo\n",
    "test.manifest:0: [Sandbox] Name: missing" },
  { "/manifest/requires-version", "[Sandbox]\nName=demo\nExec=/bin/demo\n",
    "test.manifest:0: [Sandbox] Version: missing" },
  { "/manifest/requires-exec", "[Sandbox]\nName=demo\nVersion=1\n",
    "test.manifest:0: [Sandbox] Exec: missing" },
  { "/manifest/refuses-empty-file", "", "test.manifest:0: [Sandbox] Name: missing" },

  /* Bytes */
  { "/manifest/refuses-carriage-return", "[Sandbox]\r\n",
    "test.manifest:1: carriage return at column 10 (use Unix line endings)" },
  { "/manifest/refuses-escape-sequences", MINIMAL "Environment=A=\x1b[31m\n",
    "test.manifest:5: control character U+001B at column 15 (only tab is allowed)" },
  { "/manifest/refuses-c1-control-characters",
    MINIMAL "Environment=A=\xc2\x9b"
            "31m\n",
    "test.manifest:5: control character U+009B at column 15 (only tab is allowed)" },
  { "/manifest/refuses-invalid-utf8", MINIMAL "Environment=A=\xff\n",
    "test.manifest:5: invalid UTF-8 at column 15" },
  { "/manifest/refuses-overlong-utf8", "[Sandbox]\nName=\xc0\xae\xc0\xae\n",
    "test.manifest:2: invalid UTF-8 at column 6" },

  /* [Sandbox] */
  { "/manifest/refuses-upper-case-name", "[Sandbox]\nName=Demo\n",
    "test.manifest:2: Name: 'Demo' contains 'D' (a name may hold only a-z, 0-9 and '-')" },
  { "/manifest/refuses-non-ascii-name", "[Sandbox]\nName=caf\xc3\xa9\n",
    "test.manifest:2: Name: 'caf\xc3\xa9' contains '\xc3\xa9' (a name may hold only a-z, 0-9 and "
    "'-')" },
  { "/manifest/refuses-path-as-name", "[Sandbox]\nName=../etc\n",
    "test.manifest:2: Name: '../etc' contains '.' (a name may hold only a-z, 0-9 and '-')" },
  { "/manifest/refuses-name-ending-in-dash", "[Sandbox]\nName=demo-\n",
    "test.manifest:2: Name: 'demo-' must not start or end with '-'" },
  { "/manifest/refuses-long-name", "[Sandbox]\nName=abcdefghijklmnopqrstuvwxyz0123456\n",
    "test.manifest:2: Name: 'abcdefghijklmnopqrstuvwxyz0123456' is longer than 32 characters" },
  { "/manifest/refuses-version-with-space", "[Sandbox]\nVersion=1.0 beta\n",
    "test.manifest:2: Version: '1.0 beta' contains ' ' (a version may hold only 0-9, A-Z, a-z and "
    ". + ~ -)" },
  { "/manifest/refuses-long-version",
    "[Sandbox]\nVersion=1234567890123456789012345678901234567890123456789012345678901234.5\n",
    "test.manifest:2: Version: '*' is longer than 64 characters" },
  { "/manifest/refuses-relative-exec", "[Sandbox]\nExec=mosquitto -c /etc/mosquitto.conf\n",
    "test.manifest:2: Exec: 'mosquitto' is not an absolute path (the first word must start with "
    "'/')" },
  { "/manifest/refuses-empty-quoted-exec", "[Sandbox]\nExec=\"\" /bin/demo\n",
    "test.manifest:2: Exec: '' is not an absolute path (the first word must start with '/')" },
  { "/manifest/refuses-unterminated-quote", "[Sandbox]\nExec=/bin/echo \"hello\n",
    "test.manifest:2: Exec: a '\"' is never closed" },
  { "/manifest/refuses-backslash-at-end-of-quote", "[Sandbox]\nExec=/bin/echo \"hello\\\n",
    "test.manifest:2: Exec: a '\"' is never closed" },
  { "/manifest/refuses-unknown-escape", "[Sandbox]\nExec=/bin/echo \"a\\nb\"\n",
    "test.manifest:2: Exec: '\\n' is not an escape (inside quotes only \\\" and \\\\ are)" },
  { "/manifest/refuses-unknown-backend", "[Sandbox]\nBackend=docker\n",
    "test.manifest:2: Backend: 'docker' is not a backend (use crun or nspawn)" },
  { "/manifest/refuses-unknown-restart-policy", "[Sandbox]\nRestart=sometimes\n",
    "test.manifest:2: Restart: 'sometimes' is not a restart policy (use no, on-failure or "
    "always)" },
  { "/manifest/refuses-non-boolean-required", "[Sandbox]\nRequired=maybe\n",
    "test.manifest:2: Required: 'maybe' is not a boolean (use yes, no, true, false, on, off, 1 or "
    "0)" },
  { "/manifest/refuses-user-name", "[Sandbox]\nUser=root\n",
    "test.manifest:2: User: 'root' is not a number (expected 0..65533)" },
  { "/manifest/refuses-negative-user", "[Sandbox]\nUser=-1\n",
    "test.manifest:2: User: '-1' is not a number (expected 0..65533)" },
  { "/manifest/refuses-nobody-user", "[Sandbox]\nUser=65534\n",
    "test.manifest:2: User: '65534' is out of range (0..65533)" },
  { "/manifest/refuses-overflowing-user", "[Sandbox]\nUser=184467440737095516160\n",
    "test.manifest:2: User: '184467440737095516160' is out of range (0..65533)" },
  { "/manifest/refuses-environment-without-equals", "[Sandbox]\nEnvironment=PATH\n",
    "test.manifest:2: Environment: 'PATH' is not NAME=VALUE" },
  { "/manifest/refuses-bad-environment-name", "[Sandbox]\nEnvironment=1X=y\n",
    "test.manifest:2: Environment: '1X' is not a variable name (a letter or '_', then letters, "
    "digits or '_')" },
  { "/manifest/refuses-environment-name-with-dash", "[Sandbox]\nEnvironment=A-B=y\n",
    "test.manifest:2: Environment: 'A-B' is not a variable name (*)" },
  { "/manifest/refuses-repeated-environment-variable",
    "[Sandbox]\nEnvironment=A=1\nEnvironment=AB=1\nEnvironment=A=2\n",
    "test.manifest:4: Environment: A is set twice" },
  { "/manifest/refuses-non-time-stop-timeout", "[Sandbox]\nStopTimeout=soon\n",
    "test.manifest:2: StopTimeout: 'soon' is not a time (use e.g. 30s, 500ms or 2m)" },
  { "/manifest/refuses-time-with-space", "[Sandbox]\nStopTimeout=5 s\n",
    "test.manifest:2: StopTimeout: '5 s' is not a time (use e.g. 30s, 500ms or 2m)" },
  { "/manifest/refuses-long-stop-timeout", "[Sandbox]\nStopTimeout=2h\n",
    "test.manifest:2: StopTimeout: '2h' is more than the maximum 1h" },
  { "/manifest/refuses-short-stop-timeout", "[Sandbox]\nStopTimeout=10ms\n",
    "test.manifest:2: StopTimeout: '10ms' is less than the minimum 100ms" },
  { "/manifest/refuses-overflowing-time", "[Sandbox]\nStopTimeout=18446744073709551615d\n",
    "test.manifest:2: StopTimeout: '18446744073709551615d' is more than the maximum 1h" },

  /* [Devices] */
  { "/manifest/refuses-device-outside-dev", "[Devices]\nDevice=/etc/shadow rw\n",
    "test.manifest:2: Device: '/etc/shadow' is not a path under /dev/" },
  { "/manifest/refuses-dev-itself", "[Devices]\nDevice=/dev/ rw\n",
    "test.manifest:2: Device: '/dev/' is not a path under /dev/" },
  { "/manifest/refuses-device-dotdot", "[Devices]\nDevice=/dev/../etc/shadow rw\n",
    "test.manifest:2: Device: '/dev/../etc/shadow' has a '..' component" },
  { "/manifest/refuses-device-dot", "[Devices]\nDevice=/dev/./ttyUSB0 rw\n",
    "test.manifest:2: Device: '/dev/./ttyUSB0' has a '.' component" },
  { "/manifest/refuses-device-double-slash", "[Devices]\nDevice=/dev//sda rw\n",
    "test.manifest:2: Device: '/dev//sda' has an empty component ('//')" },
  { "/manifest/refuses-device-trailing-slash", "[Devices]\nDevice=/dev/bus/usb/ rw\n",
    "test.manifest:2: Device: '/dev/bus/usb/' ends with '/'" },
  { "/manifest/refuses-device-glob", "[Devices]\nDevice=/dev/tty* rw\n",
    "test.manifest:2: Device: '/dev/tty*' contains '*' (a device path may hold only A-Z, a-z, "
    "0-9 and _ . / - + :)" },
  { "/manifest/requires-device-access-mode", "[Devices]\nDevice=/dev/ttyUSB0\n",
    "test.manifest:2: Device: '/dev/ttyUSB0' has no access mode (add rw or ro after the path)" },
  { "/manifest/refuses-unknown-access-mode", "[Devices]\nDevice=/dev/ttyUSB0 rwm\n",
    "test.manifest:2: Device: 'rwm' is not an access mode (use rw or ro)" },
  { "/manifest/refuses-words-after-access-mode", "[Devices]\nDevice=/dev/ttyUSB0 rw now\n",
    "test.manifest:2: Device: unexpected 'now' after the access mode" },
  { "/manifest/refuses-repeated-device",
    "[Devices]\nDevice=/dev/ttyUSB0 rw\nDevice=/dev/ttyUSB0 ro\n",
    "test.manifest:3: Device: '/dev/ttyUSB0' is declared twice" },

  /* [Network] */
  { "/manifest/refuses-unknown-network-key", "[Network]\nPeer=mqtt\n",
    "test.manifest:2: Peer: unknown key in [Network] (known: Allow Accept Publish Discover)" },
  { "/manifest/refuses-flow-without-port", "[Network]\nAllow=mqtt\n",
    "test.manifest:2: Allow: 'mqtt' is not PEER:PORT/PROTO (e.g. mqtt:1883/tcp)" },
  { "/manifest/refuses-flow-without-protocol", "[Network]\nAllow=mqtt:1883\n",
    "test.manifest:2: Allow: 'mqtt:1883' is not PEER:PORT/PROTO (e.g. mqtt:1883/tcp)" },
  { "/manifest/refuses-unknown-protocol", "[Network]\nAllow=mqtt:1883/sctp\n",
    "test.manifest:2: Allow: 'sctp' is not a protocol (use tcp or udp)" },
  { "/manifest/refuses-port-zero", "[Network]\nAllow=mqtt:0/tcp\n",
    "test.manifest:2: Allow: port '0' is not 1..65535" },
  { "/manifest/refuses-port-above-65535", "[Network]\nAllow=mqtt:65536/tcp\n",
    "test.manifest:2: Allow: port '65536' is not 1..65535" },
  { "/manifest/refuses-port-with-leading-zero", "[Network]\nAllow=mqtt:0080/tcp\n",
    "test.manifest:2: Allow: port '0080' is not 1..65535" },
  { "/manifest/refuses-backwards-port-range", "[Network]\nAllow=mqtt:90-80/tcp\n",
    "test.manifest:2: Allow: port range '90-80' ends before it starts" },
  { "/manifest/refuses-peer-that-is-not-a-name", "[Network]\nAllow=MQTT_broker:1883/tcp\n",
    "test.manifest:2: Allow: 'MQTT_broker' is not a sandbox name (a-z, 0-9 and '-'), an IPv4 "
    "address or 'internet'" },
  { "/manifest/refuses-peer-name-ending-in-dash", "[Network]\nAccept=mqtt-:1883/tcp\n",
    "test.manifest:2: Accept: 'mqtt-' is not a sandbox name (a-z, 0-9 and '-'), an IPv4 address "
    "or 'internet'" },
  { "/manifest/refuses-short-address", "[Network]\nAllow=192.168.1:554/tcp\n",
    "test.manifest:2: Allow: '192.168.1' is not an IPv4 address (four numbers 0..255, no leading "
    "zeros)" },
  { "/manifest/refuses-octet-above-255", "[Network]\nAllow=192.168.1.256:554/tcp\n",
    "test.manifest:2: Allow: '192.168.1.256' is not an IPv4 address (four numbers 0..255, no "
    "leading zeros)" },
  { "/manifest/refuses-octal-looking-octet", "[Network]\nAllow=192.168.01.20:554/tcp\n",
    "test.manifest:2: Allow: '192.168.01.20' is not an IPv4 address (four numbers 0..255, no "
    "leading zeros)" },
  { "/manifest/refuses-prefix-above-32", "[Network]\nAllow=192.168.1.0/33:554/tcp\n",
    "test.manifest:2: Allow: '192.168.1.0/33' has a prefix that is not 1..32" },
  { "/manifest/refuses-prefix-zero", "[Network]\nAllow=0.0.0.0/0:443/tcp\n",
    "test.manifest:2: Allow: '0.0.0.0/0' has a prefix that is not 1..32" },
  { "/manifest/refuses-host-bits-past-prefix", "[Network]\nAllow=192.168.1.20/24:554/tcp\n",
    "test.manifest:2: Allow: '192.168.1.20/24' has bits set past its prefix (write "
    "192.168.1.0/24)" },
  { "/manifest/refuses-loopback-peer", "[Network]\nAllow=127.0.0.1:80/tcp\n",
    "test.manifest:2: Allow: '127.0.0.1' is loopback, which is the sandbox's own" },
  { "/manifest/refuses-hub-subnet-peer", "[Network]\nAllow=10.0.0.0/8:80/tcp\n",
    "test.manifest:2: Allow: '10.0.0.0/8' overlaps the sandboxes' own 10.89.0.0/16 (name the "
    "sandbox instead)" },
  { "/manifest/refuses-internet-in-accept", "[Network]\nAccept=internet:80/tcp\n",
    "test.manifest:2: Accept: 'internet' cannot be named here (only in Allow=)" },
  { "/manifest/refuses-duplicate-flow", "[Network]\nAllow=mqtt:1883/tcp\nAllow=mqtt:1883/tcp\n",
    "test.manifest:3: Allow: 'mqtt:1883/tcp' is declared twice" },
  { "/manifest/refuses-overlapping-subnets",
    "[Network]\nAllow=192.168.1.0/24:554/tcp\nAllow=192.168.1.20:500-600/tcp\n",
    "test.manifest:3: Allow: '192.168.1.20:500-600/tcp' overlaps '192.168.1.0/24:554/tcp', "
    "declared before" },
  { "/manifest/refuses-overlapping-port-ranges",
    "[Network]\nAccept=thermostat:1000-2000/udp\nAccept=thermostat:2000/udp\n",
    "test.manifest:3: Accept: 'thermostat:2000/udp' overlaps 'thermostat:1000-2000/udp', declared "
    "before" },
  { "/manifest/refuses-overlapping-internet",
    "[Network]\nAllow=internet:443/tcp\nAllow=internet:"
    "400-500/tcp\n",
    "test.manifest:3: Allow: 'internet:400-500/tcp' overlaps 'internet:443/tcp', declared before" },
  { "/manifest/refuses-publish-without-protocol", "[Network]\nPublish=8080\n",
    "test.manifest:2: Publish: '8080' is not [HOSTPORT:]PORT/PROTO (e.g. 8080:80/tcp)" },
  { "/manifest/refuses-publish-port-out-of-range", "[Network]\nPublish=8080:70000/tcp\n",
    "test.manifest:2: Publish: port '70000' is not 1..65535" },
  { "/manifest/refuses-hub-port-published-twice",
    "[Network]\nPublish=8080:80/tcp\nPublish=8080:81/tcp\n",
    "test.manifest:3: Publish: hub port 8080/tcp is published twice" },
  { "/manifest/refuses-unknown-discovery", "[Network]\nDiscover=bonjour\n",
    "test.manifest:2: Discover: 'bonjour' is not a discovery protocol (mdns, ssdp or "
    "broadcast:PORT)" },
  { "/manifest/refuses-broadcast-port-zero", "[Network]\nDiscover=broadcast:0\n",
    "test.manifest:2: Discover: port '0' is not 1..65535" },
  { "/manifest/refuses-broadcast-without-port", "[Network]\nDiscover=broadcast:\n",
    "test.manifest:2: Discover: port '' is not 1..65535" },
  { "/manifest/refuses-privileged-broadcast-port", "[Network]\nDiscover=broadcast:67\n",
    "test.manifest:2: Discover: broadcast port 67 is below 1024, where the hub's own services "
    "are" },
  { "/manifest/refuses-broadcast-on-mdns-port", "[Network]\nDiscover=broadcast:5353\n",
    "test.manifest:2: Discover: broadcast port 5353 is mdns's (use Discover=mdns)" },
  { "/manifest/refuses-discovery-twice", "[Network]\nDiscover=mdns\nDiscover=mdns\n",
    "test.manifest:3: Discover: 'mdns' is declared twice" },

  /* [Resources] */
  { "/manifest/refuses-unknown-size-suffix", "[Resources]\nMemory=12Q\n",
    "test.manifest:2: Memory: '12Q' is not a size (use e.g. 64M)" },
  { "/manifest/size-suffixes-are-upper-case", "[Resources]\nMemory=64m\n",
    "test.manifest:2: Memory: '64m' is not a size (use e.g. 64M)" },
  { "/manifest/refuses-fractional-size", "[Resources]\nMemory=1.5G\n",
    "test.manifest:2: Memory: '1.5G' is not a size (use e.g. 64M)" },
  { "/manifest/refuses-memory-below-4m", "[Resources]\nMemory=2M\n",
    "test.manifest:2: Memory: '2M' is less than the minimum 4M" },
  { "/manifest/refuses-zero-memory", "[Resources]\nMemory=0\n",
    "test.manifest:2: Memory: '0' is less than the minimum 4M" },
  { "/manifest/refuses-memory-above-64g", "[Resources]\nMemory=65G\n",
    "test.manifest:2: Memory: '65G' is more than the maximum 64G" },
  { "/manifest/refuses-overflowing-memory", "[Resources]\nMemory=17179869184G\n",
    "test.manifest:2: Memory: '17179869184G' is more than the maximum 64G" },
  { "/manifest/refuses-zero-cpu-weight", "[Resources]\nCPUWeight=0\n",
    "test.manifest:2: CPUWeight: '0' is out of range (1..10000)" },
  { "/manifest/refuses-large-cpu-weight", "[Resources]\nCPUWeight=10001\n",
    "test.manifest:2: CPUWeight: '10001' is out of range (1..10000)" },
  { "/manifest/refuses-zero-pids", "[Resources]\nPids=0\n",
    "test.manifest:2: Pids: '0' is out of range (1..32768)" },
  { "/manifest/refuses-unlimited-pids", "[Resources]\nPids=infinity\n",
    "test.manifest:2: Pids: 'infinity' is not a number (expected 1..32768)" },

  /* [Security] */
  { "/manifest/refuses-capability-outside-allowed-list", "[Security]\nCapabilities=CAP_SYS_ADMIN\n",
    "test.manifest:2: Capabilities: CAP_SYS_ADMIN is not allowed for sandboxes (allowed: "
    "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_KILL CAP_SETGID CAP_SETUID CAP_NET_BIND_SERVICE "
    "CAP_NET_RAW)" },
  { "/manifest/refuses-unknown-capability", "[Security]\nCapabilities=CAP_KILL CAP_FLY\n",
    "test.manifest:2: Capabilities: 'CAP_FLY' is not a Linux capability" },
  { "/manifest/refuses-capability-without-prefix", "[Security]\nCapabilities=NET_RAW\n",
    "test.manifest:2: Capabilities: 'NET_RAW' is not a Linux capability" },
  { "/manifest/refuses-lower-case-capability", "[Security]\nCapabilities=cap_kill\n",
    "test.manifest:2: Capabilities: 'cap_kill' is not a capability (names are upper case: "
    "CAP_KILL)" },
  { "/manifest/refuses-repeated-capability",
    "[Security]\nCapabilities=CAP_KILL\nCapabilities=CAP_CHOWN CAP_KILL\n",
    "test.manifest:3: Capabilities: CAP_KILL is named twice" },
  { "/manifest/refuses-forbidden-syscall", "[Security]\nSystemCalls=ioprio_set ptrace\n",
    "test.manifest:2: SystemCalls: 'ptrace' is never allowed in a sandbox" },
  { "/manifest/refuses-io-uring", "[Security]\nSystemCalls=io_uring_setup\n",
    "test.manifest:2: SystemCalls: 'io_uring_setup' is never allowed in a sandbox" },
  { "/manifest/refuses-unknown-syscall", "[Security]\nSystemCalls=frobnicate\n",
    "test.manifest:2: SystemCalls: 'frobnicate' is not a system call on x86_64 or aarch64" },
  { "/manifest/refuses-syscall-name-with-punctuation", "[Security]\nSystemCalls=open;reboot\n",
    "test.manifest:2: SystemCalls: 'open;reboot' is not a system call name" },
  { "/manifest/refuses-syscall-the-floor-checks-arguments-of", "[Security]\nSystemCalls=clone\n",
    "test.manifest:2: SystemCalls: syscall 'clone': *" },
  { "/manifest/syscall-names-are-lower-case", "[Security]\nSystemCalls=MLOCK\n",
    "test.manifest:2: SystemCalls: 'MLOCK' is not a system call name" },
  { "/manifest/refuses-repeated-syscall", "[Security]\nSystemCalls=mlock mlock\n",
    "test.manifest:2: SystemCalls: mlock is named twice" },

  /* [Health] */
  { "/manifest/refuses-relative-health-command", "[Health]\nCommand=check\n",
    "test.manifest:2: Command: 'check' is not an absolute path (the first word must start with "
    "'/')" },
  { "/manifest/refuses-health-interval-below-1s", "[Health]\nInterval=500ms\n",
    "test.manifest:2: Interval: '500ms' is less than the minimum 1s" },
  { "/manifest/refuses-health-interval-above-1d", "[Health]\nInterval=2d\n",
    "test.manifest:2: Interval: '2d' is more than the maximum 1d" },
  { "/manifest/refuses-health-timeout-longer-than-interval", HEALTH "Timeout=45s\n",
    "test.manifest:7: Timeout: 45s is longer than the Interval= of 30s" },
  { "/manifest/refuses-health-interval-without-command", MINIMAL "[Health]\nInterval=1m\n",
    "test.manifest:6: Interval: set, but [Health] has no Command=" },
  { "/manifest/refuses-health-timeout-without-command", MINIMAL "[Health]\nTimeout=1s\n",
    "test.manifest:6: Timeout: set, but [Health] has no Command=" },
};

static void
test_refusal (gconstpointer data)
{
  const Refusal *refusal = data;
  assert_refused (refusal->text, refusal->message);
}

static void
test_refuses_nul_byte (void)
{
  const char text[] = "[Sandbox]\nName=de\0mo\nVersion=1\nExec=/bin/demo\n";
  assert_refused_len (text, sizeof text - 1, "test.manifest:2: NUL byte at column 8");
}

static void
test_refuses_oversized_manifest (void)
{
  g_autofree char *text = g_strnfill (MOAT_MANIFEST_MAX_SIZE + 1, '\n');
  assert_refused (text, "test.manifest:0: manifest is larger than 65536 bytes");
}

static void
test_refuses_long_line (void)
{
  g_autofree char *comment = g_strnfill (MOAT_MANIFEST_MAX_LINE, '#');
  g_autofree char *text = g_strdup_printf (MINIMAL "%s\n", comment);
  g_autoptr (MoatManifest) m = parse_ok (text);
  g_autofree char *longer = g_strdup_printf (MINIMAL "#%s\n", comment);
  assert_refused (longer, "test.manifest:5: line is longer than 4096 bytes");
}

static void
test_refuses_too_many_entries (void)
{
  g_autofree char *env = repeat_lines ("Environment=V", "=x\n", MOAT_MANIFEST_MAX_ENTRIES + 1);
  g_autofree char *text = g_strconcat (MINIMAL, env, NULL);
  assert_refused (text, "test.manifest:69: Environment: more than 64 entries");

  g_autofree char *devices
      = repeat_lines ("Device=/dev/tty", " rw\n", MOAT_MANIFEST_MAX_ENTRIES + 1);
  g_autofree char *text2 = g_strconcat ("[Devices]\n", devices, NULL);
  assert_refused (text2, "test.manifest:66: Device: more than 64 entries");
}

static void
test_refuses_too_many_flows (void)
{
  g_autoptr (GString) text = g_string_new ("[Network]\n");
  for (guint port = 1; port <= MOAT_MANIFEST_MAX_ENTRIES + 1; port++)
    g_string_append_printf (text, "Allow=internet:%u/tcp\n", port);
  assert_refused (text->str, "test.manifest:66: Allow: more than 64 entries");
}

/* What [Network] says is kept in order, each value in its canonical form. */
static void
test_parses_network (void)
{
  g_autoptr (MoatManifest) m = parse_ok (MINIMAL "[Network]\n"
                                                 "Allow=mqtt:1883/tcp\n"
                                                 "Allow=192.168.1.20:554/tcp\n"
                                                 "Allow=192.168.2.0/24:5000-5010/udp\n"
                                                 "Allow=internet:443/tcp\n"
                                                 "Accept=thermostat:1883/tcp\n"
                                                 "Accept=192.168.1.0/24:1883/tcp\n"
                                                 "Publish=8080:80/tcp\n"
                                                 "Publish=5353/udp\n"
                                                 "Discover=ssdp\n"
                                                 "Discover=broadcast:6667\n"
                                                 "Discover=mdns\n");
  const char *allow[] = { "mqtt:1883/tcp", "192.168.1.20:554/tcp", "192.168.2.0/24:5000-5010/udp",
                          "internet:443/tcp" };
  g_assert_cmpuint (m->network.allow->len, ==, G_N_ELEMENTS (allow));
  for (guint i = 0; i < G_N_ELEMENTS (allow); i++)
    {
      g_autofree char *text = moat_flow_to_string (m->network.allow->pdata[i]);
      g_assert_cmpstr (text, ==, allow[i]);
    }
  const MoatFlow *mqtt = m->network.allow->pdata[0];
  g_assert_cmpint (mqtt->kind, ==, MOAT_PEER_SANDBOX);
  g_assert_cmpstr (mqtt->sandbox, ==, "mqtt");
  const MoatFlow *camera = m->network.allow->pdata[1];
  g_assert_cmpint (camera->kind, ==, MOAT_PEER_ADDRESS);
  g_assert_cmphex (camera->address, ==, 0xc0a80114);
  g_assert_cmpuint (camera->prefix, ==, 32);
  g_assert_cmpint (((MoatFlow *)m->network.allow->pdata[3])->kind, ==, MOAT_PEER_INTERNET);
  g_assert_cmpuint (m->network.accept->len, ==, 2);
  g_assert_cmpuint (m->network.publish->len, ==, 2);
  g_autofree char *published = moat_publish_to_string (m->network.publish->pdata[1]);
  g_assert_cmpstr (published, ==, "5353:5353/udp");
  const char *discover[] = { "ssdp", "broadcast:6667", "mdns" };
  g_assert_cmpuint (m->network.discover->len, ==, G_N_ELEMENTS (discover));
  for (guint i = 0; i < G_N_ELEMENTS (discover); i++)
    {
      g_autofree char *text = moat_discover_to_string (m->network.discover->pdata[i]);
      g_assert_cmpstr (text, ==, discover[i]);
    }
  const MoatDiscover *broadcast = m->network.discover->pdata[1];
  g_assert_cmphex (broadcast->group, ==, MOAT_DISCOVER_BROADCAST);
  g_assert_cmpuint (broadcast->port, ==, 6667);
  g_assert_false (moat_network_policy_is_empty (&m->network));
}

/* Discovery alone gives a sandbox a network: the relay needs its veth. */
static void
test_discovery_alone_is_a_network (void)
{
  g_autoptr (MoatManifest) m = parse_ok (MINIMAL "[Network]\nDiscover=mdns\n");
  g_assert_false (moat_network_policy_is_empty (&m->network));
}

/* No [Network] entries (or none at all) means loopback only: no namespace of moatd's. */
static void
test_empty_network_is_loopback_only (void)
{
  g_autoptr (MoatManifest) m = parse_ok (MINIMAL "[Network]\n");
  g_assert_true (moat_network_policy_is_empty (&m->network));
  g_autoptr (MoatManifest) m2 = parse_ok (MINIMAL);
  g_assert_true (moat_network_policy_is_empty (&m2->network));
}

/* The same port on different protocols, or different peers, does not overlap. */
static void
test_accepts_distinct_flows (void)
{
  g_autoptr (MoatManifest) m = parse_ok (MINIMAL "[Network]\n"
                                                 "Allow=mqtt:1883/tcp\n"
                                                 "Allow=mqtt:1883/udp\n"
                                                 "Allow=zigbee:1883/tcp\n"
                                                 "Allow=192.168.1.0/25:80/tcp\n"
                                                 "Allow=192.168.1.128/25:80/tcp\n"
                                                 "Allow=internet:80/tcp\n");
  g_assert_cmpuint (m->network.allow->len, ==, 6);
}

static void
test_refuses_too_many_words (void)
{
  g_autofree char *words = repeat_lines (" w", "", MOAT_MANIFEST_MAX_ARGS);
  g_autofree char *text = g_strdup_printf ("[Sandbox]\nExec=/bin/demo%s\n", words);
  assert_refused (text, "test.manifest:2: Exec: more than 64 words");
}

static void
test_uses_filename_in_messages (void)
{
  const char text[] = "[Resources]\nMemory=12Q\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatManifest) m
      = moat_manifest_parse ("thermostat.manifest", text, strlen (text), &error);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==,
                   "thermostat.manifest:2: Memory: '12Q' is not a size (use e.g. 64M)");
}

/* moat_manifest_load */

static void
test_load_reads_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatManifest) m
      = moat_manifest_load (SRCDIR "/tests/fuzz/corpus/thermostat.manifest", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->name, ==, "thermostat");
  g_assert_cmpstr (m->filename, ==, SRCDIR "/tests/fuzz/corpus/thermostat.manifest");
}

static void
test_load_refuses_missing_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatManifest) m = moat_manifest_load ("/nonexistent/x.manifest", &error);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "open '/nonexistent/x.manifest': No such file or directory");
}

static void
test_load_refuses_directory (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatManifest) m = moat_manifest_load ("/", &error);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, "/:0: not a regular file");
}

static void
test_load_refuses_oversized_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("moat-manifest-XXXXXX", &path, &error);
  g_assert_no_error (error);
  close (fd);
  g_autofree char *text = g_strnfill (MOAT_MANIFEST_MAX_SIZE + 1, '\n');
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);

  g_autoptr (MoatManifest) m = moat_manifest_load (path, &error);
  g_autofree char *expected = g_strdup_printf ("%s:0: manifest is larger than 65536 bytes", path);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, expected);
  g_assert_cmpint (unlink (path), ==, 0);
}

/* The manual's examples are the first manifests most authors copy: each ```ini block in
 * docs/manifest.md must parse. */
static void
test_documented_examples_parse (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *doc = NULL;
  g_file_get_contents (SRCDIR "/docs/manifest.md", &doc, NULL, &error);
  g_assert_no_error (error);

  guint examples = 0;
  for (const char *start = strstr (doc, "```ini\n"); start != NULL;
       start = strstr (start, "```ini\n"))
    {
      start += strlen ("```ini\n");
      const char *end = strstr (start, "```\n");
      g_assert_nonnull (end);
      g_autofree char *name = g_strdup_printf ("docs/manifest.md example %u", ++examples);
      g_autoptr (MoatManifest) m = moat_manifest_parse (name, start, end - start, &error);
      g_assert_no_error (error);
      start = end;
    }
  g_assert_cmpuint (examples, >=, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/manifest/parses-every-key", test_parses_every_key);
  g_test_add_func ("/manifest/defaults", test_defaults);
  g_test_add_func ("/manifest/accepts-comments-blank-lines-and-whitespace",
                   test_accepts_comments_blank_lines_and_whitespace);
  g_test_add_func ("/manifest/accepts-sections-in-any-order", test_accepts_sections_in_any_order);
  g_test_add_func ("/manifest/accepts-last-line-without-newline",
                   test_accepts_last_line_without_newline);
  g_test_add_func ("/manifest/reads-only-len-bytes", test_reads_only_len_bytes);
  g_test_add_func ("/manifest/accepts-every-boolean-spelling", test_accepts_every_boolean_spelling);
  g_test_add_func ("/manifest/accepts-time-units", test_accepts_time_units);
  g_test_add_func ("/manifest/accepts-size-suffixes", test_accepts_size_suffixes);
  g_test_add_func ("/manifest/default-health-timeout-fits-short-interval",
                   test_default_health_timeout_fits_short_interval);
  g_test_add_func ("/manifest/accepts-limits-exactly", test_accepts_limits_exactly);
  g_test_add_func ("/manifest/accepts-dots-inside-device-names",
                   test_accepts_dots_inside_device_names);
  g_test_add_func ("/manifest/name-is-valid", test_name_is_valid);
  g_test_add_func ("/manifest/allowed-capabilities", test_allowed_capabilities);

  for (gsize i = 0; i < G_N_ELEMENTS (refusals); i++)
    g_test_add_data_func (refusals[i].path, &refusals[i], test_refusal);
  g_test_add_func ("/manifest/refuses-nul-byte", test_refuses_nul_byte);
  g_test_add_func ("/manifest/refuses-oversized-manifest", test_refuses_oversized_manifest);
  g_test_add_func ("/manifest/refuses-long-line", test_refuses_long_line);
  g_test_add_func ("/manifest/refuses-too-many-entries", test_refuses_too_many_entries);
  g_test_add_func ("/manifest/refuses-too-many-words", test_refuses_too_many_words);
  g_test_add_func ("/manifest/refuses-too-many-flows", test_refuses_too_many_flows);
  g_test_add_func ("/manifest/parses-network", test_parses_network);
  g_test_add_func ("/manifest/discovery-alone-is-a-network", test_discovery_alone_is_a_network);
  g_test_add_func ("/manifest/empty-network-is-loopback-only", test_empty_network_is_loopback_only);
  g_test_add_func ("/manifest/accepts-distinct-flows", test_accepts_distinct_flows);
  g_test_add_func ("/manifest/uses-filename-in-messages", test_uses_filename_in_messages);

  g_test_add_func ("/manifest/load-reads-file", test_load_reads_file);
  g_test_add_func ("/manifest/load-refuses-missing-file", test_load_refuses_missing_file);
  g_test_add_func ("/manifest/load-refuses-directory", test_load_refuses_directory);
  g_test_add_func ("/manifest/load-refuses-oversized-file", test_load_refuses_oversized_file);
  g_test_add_func ("/manifest/documented-examples-parse", test_documented_examples_parse);

  return g_test_run ();
}
