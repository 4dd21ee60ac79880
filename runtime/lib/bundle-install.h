/* Installing, updating, rolling back and removing sandbox bundles in a device's state
 * directory (docs/bundles.md):
 *
 *   STATE/repo/                          bare-user-only OSTree repo of every deployed commit
 *   STATE/sandboxes/NAME/deploy/C/       the checkout of commit C: manifest, rootfs/
 *   STATE/sandboxes/NAME/deploy/C.info   who signed C, its ref and version
 *   STATE/sandboxes/NAME/current         symlink to deploy/C: what moatd runs
 *   STATE/sandboxes/NAME/previous        symlink to the commit before, for bundle-rollback
 *   STATE/sandboxes/NAME/data/           the sandbox's own; never touched here but by --purge
 *
 * Every candidate is fetched into a private staging repo and checked there (signature, ref,
 * name, arch, version, expiry, the tree rules and the manifest) before anything under
 * STATE changes; a refusal removes the staging repo and leaves STATE as it was. The switch
 * to a new commit is one rename of `current`. One operation at a time (STATE/bundles.lock). */
#pragma once

#include "bundle.h"

typedef void (*MoatBundleProgress) (const char *message, gpointer user_data);

typedef struct
{
  const char *state_dir; /* /var/lib/moat */
  const char *keys_dir;  /* /etc/moat/keys/bundles.d */
  const char *arch;      /* this hub's, "x86_64" */
  gboolean allow_downgrade;
  gint64 now;                  /* Unix seconds, for expiry */
  MoatBundleProgress progress; /* optional: one line per step */
  gpointer progress_data;
} MoatBundleContext;

/* Install or update from a .moatb file. Installing the commit that is already current fails
 * with MOAT_ERROR_EXISTS. */
MoatBundleInfo *moat_bundle_install_file (const MoatBundleContext *ctx, const char *path,
                                          GError **error);

/* Install or update NAME from the repo at URL (http(s):// or file://), ref
 * sandbox/NAME/ARCH/BRANCH. */
MoatBundleInfo *moat_bundle_install_remote (const MoatBundleContext *ctx, const char *url,
                                            const char *name, const char *branch, GError **error);

/* Make the previous commit current again (and the current one previous).
 * MOAT_ERROR_NOT_FOUND when there is none. */
MoatBundleInfo *moat_bundle_rollback (const MoatBundleContext *ctx, const char *name,
                                      GError **error);

/* Remove NAME's deployments; PURGE also its data and identity. */
gboolean moat_bundle_remove (const MoatBundleContext *ctx, const char *name, gboolean purge,
                             GError **error);

/* What NAME's current (or, with PREVIOUS, previous) link names. MOAT_ERROR_NOT_FOUND when
 * NAME has none; MOAT_ERROR_INVALID when it is not a link to a deployment (a sandbox put
 * there by hand, as the integration tests do). */
MoatBundleInfo *moat_bundle_installed (const char *state_dir, const char *name, gboolean previous,
                                       GError **error);
