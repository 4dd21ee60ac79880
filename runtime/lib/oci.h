/* OCI runtime-spec config.json for a sandbox run by crun, and the systemd-nspawn command
 * line that gives an nspawn sandbox the same floor. */
#pragma once

#include "identity.h"
#include "manifest.h"
#include "seccomp.h"

typedef struct
{
  const MoatManifest *manifest;
  MoatIdentity identity;
  const char *rootfs;   /* absolute host path of the read-only root */
  const char *data_dir; /* absolute host path mounted read-write at /data */
  MoatArch arch;        /* architecture the seccomp filter is written for */
  gboolean selinux;     /* write process and mount labels */
} MoatSandboxSpec;

/* The complete config.json for SPEC. Fails when a declared device is missing on the host
 * (devices are resolved to type/major/minor here). */
char *moat_oci_config (const MoatSandboxSpec *spec, GError **error);

/* argv for systemd-nspawn running SPEC with the floor. INIT_PATH is the host path of the
 * static moat-init and BPF_PATH the exported seccomp filter; both are bound read-only into
 * the sandbox. SYSTEMD_BOOTED says whether resource limits can go through a scope. */
GStrv moat_nspawn_argv (const MoatSandboxSpec *spec, const char *init_path, const char *bpf_path,
                        gboolean systemd_booted, GError **error);
