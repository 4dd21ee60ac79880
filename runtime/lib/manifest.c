/* The sandbox manifest parser. Manifests arrive inside bundles, so every byte is treated as
 * hostile: the whole input and each line are size-limited, NULs, invalid UTF-8 and control
 * characters are refused before anything looks at the text, every section and key must be
 * known, and each repeatable key collects a bounded number of values. The parser keeps its own
 * line numbers (GKeyFile keeps none) so that each error names the file, line and key. */

#include "manifest.h"

#include "capability.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat-error.h"
#include "proc.h"
#include "seccomp.h"

#define USEC_PER_MSEC G_GUINT64_CONSTANT (1000)
#define USEC_PER_SEC (1000 * USEC_PER_MSEC)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)

#define VERSION_MAX 64
#define USER_MAX 65533 /* 65534 is the overflow uid ("nobody"), 65535 is not a uid */
#define CPU_WEIGHT_MAX 10000
#define PIDS_MAX 32768
#define MEMORY_MIN (G_GUINT64_CONSTANT (4) << 20)
#define MEMORY_MAX (G_GUINT64_CONSTANT (64) << 30)
#define SYSCALL_NAME_MAX 64

#define DEFAULT_STOP_TIMEOUT (10 * USEC_PER_SEC)
#define DEFAULT_HEALTH_INTERVAL (30 * USEC_PER_SEC)
#define DEFAULT_HEALTH_TIMEOUT (10 * USEC_PER_SEC)

const char *const moat_manifest_allowed_capabilities[] = {
  "CAP_CHOWN",  "CAP_DAC_OVERRIDE",     "CAP_FOWNER",  "CAP_KILL", "CAP_SETGID",
  "CAP_SETUID", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", NULL,
};

typedef enum
{
  SECTION_NONE = -1,
  SECTION_SANDBOX,
  SECTION_DEVICES,
  SECTION_NETWORK,
  SECTION_RESOURCES,
  SECTION_SECURITY,
  SECTION_HEALTH,
  N_SECTIONS,
} Section;

static const char *const section_names[N_SECTIONS] = {
  "Sandbox", "Devices", "Network", "Resources", "Security", "Health",
};

#define MAX_KEYS 32

typedef struct
{
  const char *filename;
  guint line;      /* the line being parsed, for messages */
  const char *key; /* the key being parsed, NULL when a message is about the whole line */
  Section section;
  guint section_lines[N_SECTIONS]; /* where each section began, 0 = not seen */
  guint key_lines[MAX_KEYS];       /* where each key was first set, 0 = not set */
  MoatManifest *manifest;
  GPtrArray *environment; /* "KEY=VALUE" */
  GPtrArray *capabilities;
  GPtrArray *syscalls;
} Parser;

static void
parser_clear (Parser *p)
{
  g_clear_pointer (&p->manifest, moat_manifest_free);
  g_clear_pointer (&p->environment, g_ptr_array_unref);
  g_clear_pointer (&p->capabilities, g_ptr_array_unref);
  g_clear_pointer (&p->syscalls, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Parser, parser_clear)

/* Fail with "FILENAME:LINE: KEY: what" (or "FILENAME:LINE: what" outside a key). Always
 * returns FALSE so parsers can `return invalid (...)`. */
static gboolean invalid (Parser *p, GError **error, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
invalid (Parser *p, GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);

  if (p->key != NULL)
    g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s:%u: %s: %s", p->filename, p->line,
                 p->key, what);
  else
    g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s:%u: %s", p->filename, p->line, what);
  return FALSE;
}

static gboolean
is_blank (char c)
{
  return c == ' ' || c == '\t';
}

/* S without leading and trailing blanks, in place. */
static char *
strip (char *s)
{
  while (is_blank (*s))
    s++;
  char *end = s + strlen (s);
  while (end > s && is_blank (end[-1]))
    end--;
  *end = '\0';
  return s;
}

/* The words of VALUE between blanks. */
static GStrv
split_words (const char *value)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  const char *s = value;
  for (;;)
    {
      while (is_blank (*s))
        s++;
      if (*s == '\0')
        break;
      const char *start = s;
      while (*s != '\0' && !is_blank (*s))
        s++;
      g_ptr_array_add (words, g_strndup (start, s - start));
    }
  g_ptr_array_add (words, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&words), FALSE);
}

/* The UTF-8 character at S, for naming it in a message. Only for validated text. */
static char *
one_char (const char *s)
{
  return g_strndup (s, g_utf8_next_char (s) - s);
}

/* The first byte of S that is not in ALLOWED (ASCII letters and digits always are), or NULL.
 * Because ALLOWED is ASCII, the byte returned always starts a UTF-8 character. */
static const char *
first_disallowed (const char *s, const char *allowed)
{
  for (; *s != '\0'; s++)
    if (!g_ascii_isalnum (*s) && strchr (allowed, *s) == NULL)
      return s;
  return NULL;
}

static gboolean
strv_contains (GPtrArray *array, const char *s)
{
  for (guint i = 0; i < array->len; i++)
    if (g_str_equal (g_ptr_array_index (array, i), s))
      return TRUE;
  return FALSE;
}

/* Whether one more value fits into a repeatable key that holds COUNT already. */
static gboolean
check_room (Parser *p, guint count, GError **error)
{
  if (count >= MOAT_MANIFEST_MAX_ENTRIES)
    return invalid (p, error, "more than %d entries", MOAT_MANIFEST_MAX_ENTRIES);
  return TRUE;
}

/* Numbers. */

typedef enum
{
  NUMBER_OK,
  NUMBER_NONE,     /* no digits */
  NUMBER_OVERFLOW, /* more than 64 bits */
} NumberResult;

/* The decimal number S starts with; *RET_REST points past all its digits, even on overflow,
 * so that the caller can check the syntax of what follows before the size. */
static NumberResult
leading_number (const char *s, const char **ret_rest, guint64 *ret_value)
{
  guint64 value = 0;
  gboolean overflow = FALSE;
  const char *c = s;
  for (; g_ascii_isdigit (*c); c++)
    {
      guint digit = *c - '0';
      if (value > (G_MAXUINT64 - digit) / 10)
        overflow = TRUE;
      else
        value = value * 10 + digit;
    }
  *ret_rest = c;
  *ret_value = value;
  if (c == s)
    return NUMBER_NONE;
  return overflow ? NUMBER_OVERFLOW : NUMBER_OK;
}

static gboolean
parse_number (Parser *p, const char *value, guint32 min, guint32 max, guint32 *ret_number,
              GError **error)
{
  const char *rest;
  guint64 number;
  NumberResult result = leading_number (value, &rest, &number);
  if (result == NUMBER_NONE || *rest != '\0')
    return invalid (p, error, "'%s' is not a number (expected %u..%u)", value, min, max);
  if (result == NUMBER_OVERFLOW || number < min || number > max)
    return invalid (p, error, "'%s' is out of range (%u..%u)", value, min, max);
  *ret_number = number;
  return TRUE;
}

/* A byte count: digits with an optional K, M or G (powers of 1024). */
static gboolean
parse_size (Parser *p, const char *value, guint64 *ret_bytes, GError **error)
{
  const char *rest;
  guint64 number;
  NumberResult result = leading_number (value, &rest, &number);
  guint shift = 0;
  if (g_str_equal (rest, "K"))
    shift = 10;
  else if (g_str_equal (rest, "M"))
    shift = 20;
  else if (g_str_equal (rest, "G"))
    shift = 30;
  else if (*rest != '\0')
    result = NUMBER_NONE;
  if (result == NUMBER_NONE)
    return invalid (p, error, "'%s' is not a size (use e.g. 64M)", value);
  /* Compare before shifting so that the shift cannot overflow. */
  if (result == NUMBER_OVERFLOW || number > (MEMORY_MAX >> shift))
    return invalid (p, error, "'%s' is more than the maximum 64G", value);
  if ((number << shift) < MEMORY_MIN)
    return invalid (p, error, "'%s' is less than the minimum 4M", value);
  *ret_bytes = number << shift;
  return TRUE;
}

static const struct
{
  const char *suffix;
  guint64 usec;
} time_units[] = {
  { "", USEC_PER_SEC },     { "ms", USEC_PER_MSEC },    { "s", USEC_PER_SEC },
  { "m", USEC_PER_MINUTE }, { "min", USEC_PER_MINUTE }, { "h", USEC_PER_HOUR },
  { "d", USEC_PER_DAY },
};

/* A duration: digits with an optional unit (ms s m min h d); bare digits are seconds. MIN_TEXT
 * and MAX_TEXT spell the bounds for messages. */
static gboolean
parse_time (Parser *p, const char *value, guint64 min, const char *min_text, guint64 max,
            const char *max_text, guint64 *ret_usec, GError **error)
{
  const char *rest;
  guint64 number;
  NumberResult result = leading_number (value, &rest, &number);
  guint64 unit = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (time_units); i++)
    if (g_str_equal (rest, time_units[i].suffix))
      unit = time_units[i].usec;
  if (result == NUMBER_NONE || unit == 0)
    return invalid (p, error, "'%s' is not a time (use e.g. 30s, 500ms or 2m)", value);
  if (result == NUMBER_OVERFLOW || number > max / unit)
    return invalid (p, error, "'%s' is more than the maximum %s", value, max_text);
  if (number * unit < min)
    return invalid (p, error, "'%s' is less than the minimum %s", value, min_text);
  *ret_usec = number * unit;
  return TRUE;
}

/* USEC in the largest unit that divides it, for messages. */
static char *
format_time (guint64 usec)
{
  static const struct
  {
    const char *suffix;
    guint64 usec;
  } units[] = {
    { "d", USEC_PER_DAY }, { "h", USEC_PER_HOUR },  { "m", USEC_PER_MINUTE },
    { "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (usec % units[i].usec == 0)
      return g_strdup_printf ("%" G_GUINT64_FORMAT "%s", usec / units[i].usec, units[i].suffix);
  return g_strdup_printf ("%" G_GUINT64_FORMAT "us", usec);
}

static gboolean
parse_boolean (Parser *p, const char *value, gboolean *ret_boolean, GError **error)
{
  static const char *const yes[] = { "yes", "true", "on", "1" };
  static const char *const no[] = { "no", "false", "off", "0" };
  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (g_ascii_strcasecmp (value, yes[i]) == 0)
        {
          *ret_boolean = TRUE;
          return TRUE;
        }
      if (g_ascii_strcasecmp (value, no[i]) == 0)
        {
          *ret_boolean = FALSE;
          return TRUE;
        }
    }
  return invalid (p, error, "'%s' is not a boolean (use yes, no, true, false, on, off, 1 or 0)",
                  value);
}

/* Split a command line into argv: words between blanks; double quotes group words into one;
 * inside quotes \" and \\ stand for " and \. Nothing is expanded and no shell is involved,
 * and the first word must be an absolute path because nothing searches $PATH. */
static gboolean
parse_command (Parser *p, const char *value, char ***ret_argv, GError **error)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  const char *s = value;
  for (;;)
    {
      while (is_blank (*s))
        s++;
      if (*s == '\0')
        break;
      if (words->len == MOAT_MANIFEST_MAX_ARGS)
        return invalid (p, error, "more than %d words", MOAT_MANIFEST_MAX_ARGS);

      g_autoptr (GString) word = g_string_new (NULL);
      gboolean quoted = FALSE;
      for (; *s != '\0' && (quoted || !is_blank (*s)); s++)
        {
          if (*s == '"')
            {
              quoted = !quoted;
              continue;
            }
          if (quoted && *s == '\\')
            {
              if (s[1] == '\0')
                break;
              if (s[1] != '"' && s[1] != '\\')
                {
                  g_autofree char *escaped = one_char (s + 1);
                  return invalid (p, error,
                                  "'\\%s' is not an escape (inside quotes only \\\" and \\\\ are)",
                                  escaped);
                }
              s++;
            }
          g_string_append_c (word, *s);
        }
      if (quoted)
        return invalid (p, error, "a '\"' is never closed");
      g_ptr_array_add (words, g_string_free (g_steal_pointer (&word), FALSE));
    }

  const char *argv0 = words->len > 0 ? g_ptr_array_index (words, 0) : "";
  if (argv0[0] != '/')
    return invalid (p, error, "'%s' is not an absolute path (the first word must start with '/')",
                    argv0);
  g_ptr_array_add (words, NULL);
  *ret_argv = (char **)g_ptr_array_free (g_steal_pointer (&words), FALSE);
  return TRUE;
}

/* [Sandbox] */

static gboolean
parse_name (Parser *p, const char *value, GError **error)
{
  if (!moat_name_is_valid (value))
    {
      const char *bad = NULL;
      for (const char *c = value; *c != '\0' && bad == NULL; c++)
        if (!g_ascii_islower (*c) && !g_ascii_isdigit (*c) && *c != '-')
          bad = c;
      if (bad != NULL)
        {
          g_autofree char *bad_char = one_char (bad);
          return invalid (p, error, "'%s' contains '%s' (a name may hold only a-z, 0-9 and '-')",
                          value, bad_char);
        }
      if (strlen (value) > MOAT_NAME_MAX)
        return invalid (p, error, "'%s' is longer than %d characters", value, MOAT_NAME_MAX);
      return invalid (p, error, "'%s' must not start or end with '-'", value);
    }
  p->manifest->name = g_strdup (value);
  return TRUE;
}

static gboolean
parse_version (Parser *p, const char *value, GError **error)
{
  const char *bad = first_disallowed (value, ".+~-");
  if (bad != NULL)
    {
      g_autofree char *bad_char = one_char (bad);
      return invalid (p, error,
                      "'%s' contains '%s' (a version may hold only 0-9, A-Z, a-z and . + ~ -)",
                      value, bad_char);
    }
  if (strlen (value) > VERSION_MAX)
    return invalid (p, error, "'%s' is longer than %d characters", value, VERSION_MAX);
  p->manifest->version = g_strdup (value);
  return TRUE;
}

static gboolean
parse_exec (Parser *p, const char *value, GError **error)
{
  return parse_command (p, value, &p->manifest->exec, error);
}

static gboolean
parse_backend (Parser *p, const char *value, GError **error)
{
  if (g_str_equal (value, "crun"))
    p->manifest->backend = MOAT_BACKEND_CRUN;
  else if (g_str_equal (value, "nspawn"))
    p->manifest->backend = MOAT_BACKEND_NSPAWN;
  else
    return invalid (p, error, "'%s' is not a backend (use crun or nspawn)", value);
  return TRUE;
}

static gboolean
parse_restart (Parser *p, const char *value, GError **error)
{
  if (g_str_equal (value, "no"))
    p->manifest->restart = MOAT_RESTART_NO;
  else if (g_str_equal (value, "on-failure"))
    p->manifest->restart = MOAT_RESTART_ON_FAILURE;
  else if (g_str_equal (value, "always"))
    p->manifest->restart = MOAT_RESTART_ALWAYS;
  else
    return invalid (p, error, "'%s' is not a restart policy (use no, on-failure or always)", value);
  return TRUE;
}

static gboolean
parse_required (Parser *p, const char *value, GError **error)
{
  return parse_boolean (p, value, &p->manifest->required, error);
}

static gboolean
parse_user (Parser *p, const char *value, GError **error)
{
  return parse_number (p, value, 0, USER_MAX, &p->manifest->user, error);
}

static gboolean
parse_environment (Parser *p, const char *value, GError **error)
{
  const char *equals = strchr (value, '=');
  if (equals == NULL)
    return invalid (p, error, "'%s' is not NAME=VALUE", value);
  g_autofree char *name = g_strndup (value, equals - value);
  const char *bad = first_disallowed (name, "_");
  if (name[0] == '\0' || g_ascii_isdigit (name[0]) || bad != NULL)
    return invalid (p, error,
                    "'%s' is not a variable name (a letter or '_', then letters, digits or '_')",
                    name);
  for (guint i = 0; i < p->environment->len; i++)
    {
      const char *set = g_ptr_array_index (p->environment, i);
      if (strncmp (set, value, equals - value + 1) == 0)
        return invalid (p, error, "%s is set twice", name);
    }
  if (!check_room (p, p->environment->len, error))
    return FALSE;
  g_ptr_array_add (p->environment, g_strdup (value));
  return TRUE;
}

static gboolean
parse_stop_timeout (Parser *p, const char *value, GError **error)
{
  return parse_time (p, value, 100 * USEC_PER_MSEC, "100ms", USEC_PER_HOUR, "1h",
                     &p->manifest->stop_timeout_usec, error);
}

/* [Devices] */

static void
device_free (MoatDevice *device)
{
  g_free (device->path);
  g_free (device);
}

/* What is wrong with PATH as a device path (a predicate for "'PATH' ..."), or NULL. The
 * device cgroup and the bind mount both match paths by string, so only one spelling of each
 * path is accepted: no "//", no "." or ".." components, no trailing '/'. */
static char *
device_path_problem (const char *path)
{
  if (!g_str_has_prefix (path, "/dev/") || path[5] == '\0')
    return g_strdup ("is not a path under /dev/");
  const char *bad = first_disallowed (path, "_./-+:");
  if (bad != NULL)
    {
      g_autofree char *bad_char = one_char (bad);
      return g_strdup_printf (
          "contains '%s' (a device path may hold only A-Z, a-z, 0-9 and _ . / - + :)", bad_char);
    }
  if (strstr (path, "//") != NULL)
    return g_strdup ("has an empty component ('//')");
  if (g_str_has_suffix (path, "/"))
    return g_strdup ("ends with '/'");
  g_auto (GStrv) components = g_strsplit (path, "/", -1);
  for (char **c = components; *c != NULL; c++)
    if (g_str_equal (*c, ".") || g_str_equal (*c, ".."))
      return g_strdup_printf ("has a '%s' component", *c);
  return NULL;
}

static gboolean
parse_device (Parser *p, const char *value, GError **error)
{
  g_auto (GStrv) words = split_words (value);
  const char *path = words[0];
  g_autofree char *problem = device_path_problem (path);
  if (problem != NULL)
    return invalid (p, error, "'%s' %s", path, problem);
  if (words[1] == NULL)
    return invalid (p, error, "'%s' has no access mode (add rw or ro after the path)", path);
  if (!g_str_equal (words[1], "rw") && !g_str_equal (words[1], "ro"))
    return invalid (p, error, "'%s' is not an access mode (use rw or ro)", words[1]);
  if (words[2] != NULL)
    return invalid (p, error, "unexpected '%s' after the access mode", words[2]);

  GPtrArray *devices = p->manifest->devices;
  for (guint i = 0; i < devices->len; i++)
    if (g_str_equal (((MoatDevice *)g_ptr_array_index (devices, i))->path, path))
      return invalid (p, error, "'%s' is declared twice", path);
  if (!check_room (p, devices->len, error))
    return FALSE;

  MoatDevice *device = g_new0 (MoatDevice, 1);
  device->path = g_strdup (path);
  device->write = g_str_equal (words[1], "rw");
  g_ptr_array_add (devices, device);
  return TRUE;
}

/* [Network] */

/* A flow for Allow= (INTERNET) or Accept=, refused when it overlaps one already declared
 * under the same key: each packet should be allowed by one line only. */
static gboolean
parse_flow (Parser *p, const char *value, gboolean internet, GPtrArray *flows, GError **error)
{
  g_autofree char *problem = NULL;
  g_autoptr (MoatFlow) flow = moat_flow_parse (value, internet, &problem);
  if (flow == NULL)
    return invalid (p, error, "%s", problem);
  for (guint i = 0; i < flows->len; i++)
    {
      g_autofree char *earlier = moat_flow_to_string (flows->pdata[i]);
      g_autofree char *canonical = moat_flow_to_string (flow);
      if (g_str_equal (earlier, canonical))
        return invalid (p, error, "'%s' is declared twice", value);
      if (moat_flow_overlaps (flow, flows->pdata[i]))
        return invalid (p, error, "'%s' overlaps '%s', declared before", value, earlier);
    }
  if (!check_room (p, flows->len, error))
    return FALSE;
  g_ptr_array_add (flows, g_steal_pointer (&flow));
  return TRUE;
}

static gboolean
parse_allow (Parser *p, const char *value, GError **error)
{
  return parse_flow (p, value, TRUE, p->manifest->network.allow, error);
}

static gboolean
parse_accept (Parser *p, const char *value, GError **error)
{
  return parse_flow (p, value, FALSE, p->manifest->network.accept, error);
}

static gboolean
parse_publish (Parser *p, const char *value, GError **error)
{
  g_autofree char *problem = NULL;
  g_autofree MoatPublish *publish = moat_publish_parse (value, &problem);
  if (publish == NULL)
    return invalid (p, error, "%s", problem);
  GPtrArray *published = p->manifest->network.publish;
  for (guint i = 0; i < published->len; i++)
    {
      const MoatPublish *earlier = published->pdata[i];
      if (earlier->proto == publish->proto && earlier->host_port == publish->host_port)
        return invalid (p, error, "hub port %u/%s is published twice", publish->host_port,
                        publish->proto == MOAT_PROTO_TCP ? "tcp" : "udp");
    }
  if (!check_room (p, published->len, error))
    return FALSE;
  g_ptr_array_add (published, g_steal_pointer (&publish));
  return TRUE;
}

static gboolean
parse_discover (Parser *p, const char *value, GError **error)
{
  g_autofree char *problem = NULL;
  g_autofree MoatDiscover *discover = moat_discover_parse (value, &problem);
  if (discover == NULL)
    return invalid (p, error, "%s", problem);
  GPtrArray *declared = p->manifest->network.discover;
  for (guint i = 0; i < declared->len; i++)
    {
      const MoatDiscover *earlier = declared->pdata[i];
      if (earlier->group == discover->group && earlier->port == discover->port)
        return invalid (p, error, "'%s' is declared twice", value);
    }
  if (!check_room (p, declared->len, error))
    return FALSE;
  g_ptr_array_add (declared, g_steal_pointer (&discover));
  return TRUE;
}

/* [Resources] */

static gboolean
parse_memory (Parser *p, const char *value, GError **error)
{
  return parse_size (p, value, &p->manifest->memory_bytes, error);
}

static gboolean
parse_cpu_weight (Parser *p, const char *value, GError **error)
{
  return parse_number (p, value, 1, CPU_WEIGHT_MAX, &p->manifest->cpu_weight, error);
}

static gboolean
parse_pids (Parser *p, const char *value, GError **error)
{
  return parse_number (p, value, 1, PIDS_MAX, &p->manifest->pids, error);
}

/* [Security] */

static gboolean
parse_capabilities (Parser *p, const char *value, GError **error)
{
  g_auto (GStrv) words = split_words (value);
  for (char **cap = words; *cap != NULL; cap++)
    {
      if (!g_strv_contains (moat_capability_names, *cap))
        {
          g_autofree char *upper = g_ascii_strup (*cap, -1);
          if (g_strv_contains (moat_capability_names, upper))
            return invalid (p, error, "'%s' is not a capability (names are upper case: %s)", *cap,
                            upper);
          return invalid (p, error, "'%s' is not a Linux capability", *cap);
        }
      if (!g_strv_contains (moat_manifest_allowed_capabilities, *cap))
        {
          g_autofree char *allowed = g_strjoinv (" ", (char **)moat_manifest_allowed_capabilities);
          return invalid (p, error, "%s is not allowed for sandboxes (allowed: %s)", *cap, allowed);
        }
      if (strv_contains (p->capabilities, *cap))
        return invalid (p, error, "%s is named twice", *cap);
      if (!check_room (p, p->capabilities->len, error))
        return FALSE;
      g_ptr_array_add (p->capabilities, g_strdup (*cap));
    }
  return TRUE;
}

/* [a-z_][a-z0-9_]*, as every system call libseccomp knows is spelt. */
static gboolean
is_syscall_name (const char *name)
{
  if (g_ascii_isdigit (name[0]) || strlen (name) > SYSCALL_NAME_MAX)
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_islower (*c) && !g_ascii_isdigit (*c) && *c != '_')
      return FALSE;
  return TRUE;
}

static gboolean
parse_syscalls (Parser *p, const char *value, GError **error)
{
  g_auto (GStrv) words = split_words (value);
  for (char **name = words; *name != NULL; name++)
    {
      /* Checked here so that libseccomp only ever sees short names of a plain alphabet. */
      if (!is_syscall_name (*name))
        return invalid (p, error, "'%s' is not a system call name", *name);
      if (moat_seccomp_syscall_forbidden (*name))
        return invalid (p, error, "'%s' is never allowed in a sandbox", *name);
      if (!moat_seccomp_syscall_known (*name))
        return invalid (p, error, "'%s' is not a system call on x86_64 or aarch64", *name);
      /* The seccomp module has the last word (it also refuses names the floor only allows
       * with checked arguments), so that no manifest that parses fails later at start. */
      g_autoptr (GError) refused = NULL;
      if (!moat_seccomp_check_extra (*name, &refused))
        return invalid (p, error, "%s", refused->message);
      if (strv_contains (p->syscalls, *name))
        return invalid (p, error, "%s is named twice", *name);
      if (!check_room (p, p->syscalls->len, error))
        return FALSE;
      g_ptr_array_add (p->syscalls, g_strdup (*name));
    }
  return TRUE;
}

/* [Health] */

static gboolean
parse_health_command (Parser *p, const char *value, GError **error)
{
  return parse_command (p, value, &p->manifest->health_command, error);
}

static gboolean
parse_health_interval (Parser *p, const char *value, GError **error)
{
  return parse_time (p, value, USEC_PER_SEC, "1s", USEC_PER_DAY, "1d",
                     &p->manifest->health_interval_usec, error);
}

static gboolean
parse_health_timeout (Parser *p, const char *value, GError **error)
{
  return parse_time (p, value, 100 * USEC_PER_MSEC, "100ms", USEC_PER_HOUR, "1h",
                     &p->manifest->health_timeout_usec, error);
}

/* The keys, in the order the manual lists them. */

typedef gboolean (*ParseValue) (Parser *p, const char *value, GError **error);

static const struct Key
{
  Section section;
  const char *name;
  gboolean repeatable;
  ParseValue parse;
} keys[] = {
  { SECTION_SANDBOX, "Name", FALSE, parse_name },
  { SECTION_SANDBOX, "Version", FALSE, parse_version },
  { SECTION_SANDBOX, "Exec", FALSE, parse_exec },
  { SECTION_SANDBOX, "Backend", FALSE, parse_backend },
  { SECTION_SANDBOX, "Restart", FALSE, parse_restart },
  { SECTION_SANDBOX, "Required", FALSE, parse_required },
  { SECTION_SANDBOX, "User", FALSE, parse_user },
  { SECTION_SANDBOX, "Environment", TRUE, parse_environment },
  { SECTION_SANDBOX, "StopTimeout", FALSE, parse_stop_timeout },
  { SECTION_DEVICES, "Device", TRUE, parse_device },
  { SECTION_NETWORK, "Allow", TRUE, parse_allow },
  { SECTION_NETWORK, "Accept", TRUE, parse_accept },
  { SECTION_NETWORK, "Publish", TRUE, parse_publish },
  { SECTION_NETWORK, "Discover", TRUE, parse_discover },
  { SECTION_RESOURCES, "Memory", FALSE, parse_memory },
  { SECTION_RESOURCES, "CPUWeight", FALSE, parse_cpu_weight },
  { SECTION_RESOURCES, "Pids", FALSE, parse_pids },
  { SECTION_SECURITY, "Capabilities", TRUE, parse_capabilities },
  { SECTION_SECURITY, "SystemCalls", TRUE, parse_syscalls },
  { SECTION_HEALTH, "Command", FALSE, parse_health_command },
  { SECTION_HEALTH, "Interval", FALSE, parse_health_interval },
  { SECTION_HEALTH, "Timeout", FALSE, parse_health_timeout },
};
G_STATIC_ASSERT (G_N_ELEMENTS (keys) <= MAX_KEYS);

typedef struct Key Key;

/* The key NAME in SECTION, or in any section when SECTION is SECTION_NONE. */
static const Key *
find_key (Section section, const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    if ((section == SECTION_NONE || keys[i].section == section) && g_str_equal (keys[i].name, name))
      return &keys[i];
  return NULL;
}

static guint *
key_line (Parser *p, Section section, const char *name)
{
  return &p->key_lines[find_key (section, name) - keys];
}

static gboolean
unknown_key (Parser *p, const char *name, GError **error)
{
  const Key *elsewhere = find_key (SECTION_NONE, name);
  if (p->section == SECTION_NONE)
    {
      if (elsewhere == NULL)
        return invalid (p, error, "key before any [Section] header");
      return invalid (p, error, "key before any [Section] header (%s= belongs in [%s])", name,
                      section_names[elsewhere->section]);
    }
  const char *section = section_names[p->section];
  if (elsewhere != NULL)
    return invalid (p, error, "unknown key in [%s] (%s= belongs in [%s])", section, name,
                    section_names[elsewhere->section]);
  g_autoptr (GString) known = g_string_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    if (keys[i].section == p->section)
      g_string_append_printf (known, "%s%s", known->len > 0 ? " " : "", keys[i].name);
  return invalid (p, error, "unknown key in [%s] (known: %s)", section, known->str);
}

static gboolean
parse_entry (Parser *p, const char *name, const char *value, GError **error)
{
  p->key = name;
  const Key *key = p->section == SECTION_NONE ? NULL : find_key (p->section, name);
  if (key == NULL)
    return unknown_key (p, name, error);

  guint *first_line = &p->key_lines[key - keys];
  if (*first_line != 0 && !key->repeatable)
    return invalid (p, error, "set twice (first on line %u)", *first_line);
  if (*first_line == 0)
    *first_line = p->line;
  if (*value == '\0')
    return invalid (p, error, "has no value");
  if (!key->parse (p, value, error))
    return FALSE;
  p->key = NULL;
  return TRUE;
}

static gboolean
parse_section_header (Parser *p, const char *header, GError **error)
{
  gsize len = strlen (header);
  if (header[len - 1] != ']')
    return invalid (p, error, "'%s' is not a section header (it must end with ']')", header);
  g_autofree char *name = g_strndup (header + 1, len - 2);
  for (int i = 0; i < N_SECTIONS; i++)
    if (g_str_equal (section_names[i], name))
      {
        if (p->section_lines[i] != 0)
          return invalid (p, error,
                          "[%s] appears twice (first on line %u); write each section once", name,
                          p->section_lines[i]);
        p->section_lines[i] = p->line;
        p->section = i;
        return TRUE;
      }
  return invalid (p, error,
                  "unknown section [%s] (known: [Sandbox] [Devices] [Network] [Resources] "
                  "[Security] [Health])",
                  name);
}

/* Refuse what must never reach the key parsers: over-long lines, NULs, invalid UTF-8 and
 * control characters (which could forge log lines or terminal output when echoed). */
static gboolean
check_line (Parser *p, const char *line, gsize len, GError **error)
{
  if (len > MOAT_MANIFEST_MAX_LINE)
    return invalid (p, error, "line is longer than %d bytes", MOAT_MANIFEST_MAX_LINE);
  const char *nul = memchr (line, '\0', len);
  if (nul != NULL)
    return invalid (p, error, "NUL byte at column %" G_GSIZE_FORMAT, (gsize)(nul - line) + 1);
  const char *end;
  if (!g_utf8_validate_len (line, len, &end))
    return invalid (p, error, "invalid UTF-8 at column %" G_GSIZE_FORMAT, (gsize)(end - line) + 1);
  for (const char *c = line; c < line + len; c = g_utf8_next_char (c))
    {
      gunichar u = g_utf8_get_char (c);
      if (u == '\r')
        return invalid (p, error,
                        "carriage return at column %" G_GSIZE_FORMAT " (use Unix line endings)",
                        (gsize)(c - line) + 1);
      if ((u < 0x20 && u != '\t') || (u >= 0x7f && u <= 0x9f))
        return invalid (p, error,
                        "control character U+%04X at column %" G_GSIZE_FORMAT
                        " (only tab is allowed)",
                        u, (gsize)(c - line) + 1);
    }
  return TRUE;
}

static gboolean
parse_line (Parser *p, char *line, GError **error)
{
  char *s = strip (line);
  if (*s == '\0' || *s == '#' || *s == ';')
    return TRUE;
  if (*s == '[')
    return parse_section_header (p, s, error);
  char *equals = strchr (s, '=');
  if (equals == NULL)
    return invalid (p, error, "'%s' is not Key=Value, a [Section] header or a comment", s);
  *equals = '\0';
  const char *name = strip (s);
  if (*name == '\0')
    return invalid (p, error, "no key before '='");
  return parse_entry (p, name, strip (equals + 1), error);
}

static MoatManifest *
manifest_new (const char *filename)
{
  MoatManifest *manifest = g_new0 (MoatManifest, 1);
  manifest->filename = g_strdup (filename);
  manifest->backend = MOAT_BACKEND_CRUN;
  manifest->restart = MOAT_RESTART_ON_FAILURE;
  manifest->stop_timeout_usec = DEFAULT_STOP_TIMEOUT;
  manifest->devices = g_ptr_array_new_with_free_func ((GDestroyNotify)device_free);
  moat_network_policy_init (&manifest->network);
  manifest->cpu_weight = 100;
  manifest->pids = 256;
  manifest->health_interval_usec = DEFAULT_HEALTH_INTERVAL;
  manifest->health_timeout_usec = DEFAULT_HEALTH_TIMEOUT;
  return manifest;
}

static char **
steal_strv (GPtrArray **array)
{
  g_ptr_array_add (*array, NULL);
  return (char **)g_ptr_array_free (g_steal_pointer (array), FALSE);
}

/* Checks that need the whole file: required keys, and how the [Health] keys fit together. */
static gboolean
finish (Parser *p, GError **error)
{
  static const char *const required[] = { "Name", "Version", "Exec" };
  for (gsize i = 0; i < G_N_ELEMENTS (required); i++)
    if (*key_line (p, SECTION_SANDBOX, required[i]) == 0)
      {
        g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s:0: [Sandbox] %s: missing",
                     p->filename, required[i]);
        return FALSE;
      }

  MoatManifest *manifest = p->manifest;
  guint interval_line = *key_line (p, SECTION_HEALTH, "Interval");
  guint timeout_line = *key_line (p, SECTION_HEALTH, "Timeout");
  if (manifest->health_command == NULL && (interval_line != 0 || timeout_line != 0))
    {
      p->line = interval_line != 0 ? interval_line : timeout_line;
      p->key = interval_line != 0 ? "Interval" : "Timeout";
      return invalid (p, error, "set, but [Health] has no Command=");
    }
  /* A check must end before the next one starts; the default timeout shrinks to fit a short
   * interval, an explicit one is the author's mistake. */
  if (timeout_line == 0)
    manifest->health_timeout_usec
        = MIN (manifest->health_timeout_usec, manifest->health_interval_usec);
  else if (manifest->health_timeout_usec > manifest->health_interval_usec)
    {
      g_autofree char *timeout = format_time (manifest->health_timeout_usec);
      g_autofree char *interval = format_time (manifest->health_interval_usec);
      p->line = timeout_line;
      p->key = "Timeout";
      return invalid (p, error, "%s is longer than the Interval= of %s", timeout, interval);
    }

  manifest->environment = steal_strv (&p->environment);
  manifest->capabilities = steal_strv (&p->capabilities);
  manifest->syscalls = steal_strv (&p->syscalls);
  return TRUE;
}

MoatManifest *
moat_manifest_parse (const char *filename, const char *data, gsize len, GError **error)
{
  if (filename == NULL)
    filename = "manifest";
  g_auto (Parser) p = {
    .filename = filename,
    .section = SECTION_NONE,
    .manifest = manifest_new (filename),
    .environment = g_ptr_array_new_with_free_func (g_free),
    .capabilities = g_ptr_array_new_with_free_func (g_free),
    .syscalls = g_ptr_array_new_with_free_func (g_free),
  };

  if (len > MOAT_MANIFEST_MAX_SIZE)
    {
      invalid (&p, error, "manifest is larger than %d bytes", MOAT_MANIFEST_MAX_SIZE);
      return NULL;
    }
  /* A private copy that lines can be cut and stripped in; DATA need not end in a NUL. */
  g_autofree char *text = g_malloc (len + 1);
  if (len > 0)
    memcpy (text, data, len);
  text[len] = '\0';

  for (char *line = text; line < text + len;)
    {
      char *newline = memchr (line, '\n', text + len - line);
      char *end = newline != NULL ? newline : text + len;
      *end = '\0';
      p.line++;
      if (!check_line (&p, line, end - line, error) || !parse_line (&p, line, error))
        return NULL;
      line = end + 1;
    }

  if (!finish (&p, error))
    return NULL;
  return g_steal_pointer (&p.manifest);
}

static MoatManifest *
load_fd (int fd, const char *path, GError **error)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    {
      moat_error_errno (error, errno, "stat", path);
      return NULL;
    }
  /* O_NONBLOCK and this check keep a FIFO or a device from blocking or feeding us forever. */
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s:0: not a regular file", path);
      return NULL;
    }

  /* Read one byte past the limit, whatever fstat said, so a file that grows is still caught. */
  g_autofree char *data = g_malloc (MOAT_MANIFEST_MAX_SIZE + 1);
  gsize len = 0;
  while (len < MOAT_MANIFEST_MAX_SIZE + 1)
    {
      ssize_t n = read (fd, data + len, MOAT_MANIFEST_MAX_SIZE + 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          moat_error_errno (error, errno, "read", path);
          return NULL;
        }
      if (n == 0)
        break;
      len += n;
    }
  return moat_manifest_parse (path, data, len, error);
}

void
moat_manifest_free (MoatManifest *manifest)
{
  if (manifest == NULL)
    return;
  g_free (manifest->filename);
  g_free (manifest->name);
  g_free (manifest->version);
  g_strfreev (manifest->exec);
  g_strfreev (manifest->environment);
  if (manifest->devices != NULL)
    g_ptr_array_unref (manifest->devices);
  moat_network_policy_clear (&manifest->network);
  g_strfreev (manifest->capabilities);
  g_strfreev (manifest->syscalls);
  g_strfreev (manifest->health_command);
  g_free (manifest);
}

MoatManifest *
moat_manifest_load (const char *path, GError **error)
{
  autofd int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return moat_error_errno (error, errno, "open", path), NULL;
  return load_fd (fd, path, error);
}

MoatManifest *
moat_manifest_load_beneath (const char *dir, const char *relative, GError **error)
{
  autofd int fd = moat_open_beneath (dir, relative, O_RDONLY | O_NOCTTY | O_NONBLOCK, error);
  if (fd < 0)
    return NULL;
  g_autofree char *path = g_build_filename (dir, relative, NULL);
  return load_fd (fd, path, error);
}
