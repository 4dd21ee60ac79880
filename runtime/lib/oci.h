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
  /* nspawn only: host directory made by moat_nspawn_make_inaccessible_dir(), on a mount
   * without nosuid/nodev/noexec (e.g. /var/lib/moat/inaccessible). NULL: nspawn's own masks
   * still work but the extra --inaccessible= paths are left out (see docs/security.md). */
  const char *nspawn_inaccessible_dir;
  /* crun only: a network namespace moatd made (moat_network_setup()) for the sandbox to join,
   * or NULL for a private one with loopback only. */
  const char *netns_path;
  /* nspawn only: moatd made the veth whose sandbox end (ms-SLOT, for the identity's slot)
   * nspawn moves into its own namespace (--network-interface=), and moat-init gives it the
   * slot's address and routes (--net). FALSE: --private-network, loopback only. systemd-nspawn
   * 252 cannot join a namespace the host owns from the user namespace it creates (see
   * docs/runtime.md, "Network"). */
  gboolean nspawn_network;
  /* A host file bound read-only over /etc/hosts (moat_network_hosts()), or NULL. The rootfs
   * must hold /etc/hosts for it to land on. */
  const char *hosts_file;
} MoatSandboxSpec;

/* Where moat_nspawn_argv() binds moat-init and the BPF filter inside an nspawn sandbox: on
 * the /run tmpfs nspawn mounts, so the root may stay read-only and need no mount points. */
#define MOAT_NSPAWN_INIT_PATH "/run/moat/init"
#define MOAT_NSPAWN_BPF_PATH "/run/moat/seccomp.bpf"

/* The OCI cpu.shares that crun 1.8 turns back into cgroup v2 cpu.weight WEIGHT (1..10000,
 * clamped): the inverse of its linear shares (2..262144) -> weight conversion. */
guint64 moat_oci_cpu_shares (guint32 weight);

/* The complete config.json for SPEC. Fails when a declared device is missing on the host
 * (devices are resolved to type/major/minor here). */
char *moat_oci_config (const MoatSandboxSpec *spec, GError **error);

/* argv for systemd-nspawn running SPEC with the floor. INIT_PATH is the host path of the
 * static moat-init and BPF_PATH the exported seccomp filter; both are bound read-only into
 * the sandbox (MOAT_NSPAWN_INIT_PATH, MOAT_NSPAWN_BPF_PATH), and both must be readable by
 * the sandbox's uids. SYSTEMD_BOOTED says whether resource limits can go through a scope.
 * Fails like moat_oci_config(), and with MOAT_ERROR_UNSUPPORTED for capabilities named for a
 * non-root User=, which moat-init cannot carry across its uid switch. */
GStrv moat_nspawn_argv (const MoatSandboxSpec *spec, const char *init_path, const char *bpf_path,
                        gboolean systemd_booted, GError **error);

/* Create DIR (if missing) holding "reg" and "dir", an empty file and an empty directory of
 * mode 0000, which nspawn bind-mounts over the paths it masks. Idempotent. */
gboolean moat_nspawn_make_inaccessible_dir (const char *dir, GError **error);
