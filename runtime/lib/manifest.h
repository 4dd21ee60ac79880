/* A sandbox manifest: a systemd-style keyfile declaring only what one integration needs.
 * The format is documented in docs/manifest.md. Manifests come from bundles, so the parser
 * treats its input as hostile: size limits, no NULs, strict UTF-8, every key known. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "name.h"
#include "network.h"

#define MOAT_MANIFEST_MAX_SIZE (64 * 1024)
#define MOAT_MANIFEST_MAX_LINE 4096
/* Most values a repeatable key may collect (Environment=, Device=, Capabilities=,
 * SystemCalls=, Allow=, Accept=, Publish=, each counted over all its lines), and most words in
 * Exec= or Command=. */
#define MOAT_MANIFEST_MAX_ENTRIES 64
#define MOAT_MANIFEST_MAX_ARGS 64

typedef enum
{
  MOAT_BACKEND_CRUN = 0,
  MOAT_BACKEND_NSPAWN,
} MoatBackend;

typedef enum
{
  MOAT_RESTART_NO = 0,
  MOAT_RESTART_ON_FAILURE,
  MOAT_RESTART_ALWAYS,
} MoatRestart;

typedef struct
{
  char *path;     /* absolute path under /dev, no "..", e.g. "/dev/ttyUSB0" */
  gboolean write; /* "rw" (TRUE) or "ro" (FALSE) */
} MoatDevice;

typedef struct
{
  char *filename; /* as given to the parser, for messages */

  /* [Sandbox] */
  char *name;                /* required; moat_name_is_valid() */
  char *version;             /* required; [0-9A-Za-z.+~-]{1,64} */
  char **exec;               /* required; argv, NULL-terminated, exec[0] absolute */
  MoatBackend backend;       /* Backend=crun|nspawn, default crun */
  MoatRestart restart;       /* Restart=no|on-failure|always, default on-failure */
  gboolean required;         /* Required=yes|no|true|false, default false */
  uint32_t user;             /* User=, numeric uid inside the sandbox, 0..65533, default 0 */
  char **environment;        /* Environment=KEY=VALUE (repeatable), NULL-terminated */
  guint64 stop_timeout_usec; /* StopTimeout=, default 10 s */

  /* [Devices] Device=PATH rw|ro (repeatable) */
  GPtrArray *devices; /* of MoatDevice* */

  /* [Network] Allow=, Accept=, Publish= (repeatable); all empty: loopback only */
  MoatNetworkPolicy network;

  /* [Resources] */
  guint64 memory_bytes; /* Memory=, 0 = unset; suffixes K M G (1024-based) */
  guint32 cpu_weight;   /* CPUWeight=1..10000, default 100 */
  guint32 pids;         /* Pids=, default 256 */

  /* [Security] */
  char **capabilities; /* Capabilities= (space separated, repeatable), "CAP_*" names, each
                          from moat_manifest_allowed_capabilities; NULL-terminated, may be empty */
  char **syscalls;     /* SystemCalls= extra syscalls beyond the floor, each known to libseccomp
                          on at least one shipped architecture and not on the never-allowed list */

  /* [Health] */
  char **health_command;        /* Command=, argv or NULL when there is no check */
  guint64 health_interval_usec; /* Interval=, default 30 s */
  guint64 health_timeout_usec;  /* Timeout=, default 10 s */
} MoatManifest;

/* Capabilities a manifest may name; all others are refused. NULL-terminated. */
extern const char *const moat_manifest_allowed_capabilities[];

/* Parse DATA (LEN bytes, need not be NUL-terminated). FILENAME is used in messages only.
 * Errors are MOAT_ERROR_INVALID with the message "FILENAME:LINE: KEY: what is wrong"
 * ("FILENAME:LINE: what is wrong" where there is no key; LINE 0 for a missing key). */
MoatManifest *moat_manifest_parse (const char *filename, const char *data, gsize len,
                                   GError **error);

/* Read and parse the file at PATH (refused if larger than MOAT_MANIFEST_MAX_SIZE). */
MoatManifest *moat_manifest_load (const char *path, GError **error);
/* The same for RELATIVE beneath DIR (moat_open_beneath()): a symlink may not lead out. */
MoatManifest *moat_manifest_load_beneath (const char *dir, const char *relative, GError **error);

void moat_manifest_free (MoatManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatManifest, moat_manifest_free)
