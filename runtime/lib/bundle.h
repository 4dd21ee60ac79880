/* Sandbox bundles: a signed OSTree commit on sandbox/NAME/ARCH/BRANCH whose tree is
 * `manifest` and `rootfs/`, shipped either in a repo or as one .moatb file. A .moatb is an
 * OSTree static delta from nothing with every part inline (what `ostree static-delta generate
 * --empty --inline --min-fallback-size=0 --filename=` writes): the commit object and its
 * detached metadata, so its ed25519 signatures, travel in the superblock. See docs/bundles.md.
 *
 * Everything here reads hostile input. Parsing, the commit's claims and the tree rules are
 * pure functions (unit-tested and fuzzed); bundle-install.c changes state with them. */
#pragma once

#include <glib.h>
#include <ostree.h>

#define MOAT_BUNDLE_MAX_FILE_BYTES (512 * 1024 * 1024)    /* one .moatb */
#define MOAT_BUNDLE_MAX_TREE_BYTES (1024LL * 1024 * 1024) /* regular files in the tree, summed */
#define MOAT_BUNDLE_MAX_ENTRIES 200000                    /* files, dirs and links in the tree */
#define MOAT_BUNDLE_MAX_DEPTH 48                          /* directories deep below the tree */
#define MOAT_BUNDLE_MAX_TARGET 1024                       /* bytes of one symlink's target */
#define MOAT_BUNDLE_MAX_BRANCH 64
#define MOAT_BUNDLE_EXPIRES_KEY "moat.expires"           /* commit metadata, t, Unix seconds */
#define MOAT_BUNDLE_REF_BINDING_KEY "ostree.ref-binding" /* commit metadata, as */
#define MOAT_BUNDLE_VERSION_KEY "version"                /* commit metadata, s */

/* What a bundle's commit says about itself, and (after verification) who signed it. */
typedef struct
{
  char *checksum; /* the commit */
  char *ref;      /* sandbox/NAME/ARCH/BRANCH: its one ref binding */
  char *name;
  char *arch;
  char *branch;
  char *version;     /* commit metadata "version", equal to the manifest's Version= */
  guint64 timestamp; /* the commit's own, Unix seconds */
  guint64 expires;   /* 0: never */
  char *signed_by;   /* base64 public key that verified it; NULL until verified */
} MoatBundleInfo;

void moat_bundle_info_free (MoatBundleInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatBundleInfo, moat_bundle_info_free)

/* Split a .moatb's bytes into the commit object (RET_COMMIT, type OSTREE_COMMIT_GVARIANT),
 * its checksum (checked against the bytes) and its detached metadata (NULL when absent).
 * Refuses anything but a normal-form, native-endian, from-nothing delta without fallbacks. */
gboolean moat_bundle_parse (GBytes *data, GVariant **ret_commit, char **ret_checksum,
                            GVariant **ret_detached, GError **error);

/* Read the commit's claims: exactly one ref binding sandbox/NAME/ARCH/BRANCH with a valid
 * name, arch and branch, a version, an optional expiry. Does not check signatures. */
MoatBundleInfo *moat_bundle_info_from_commit (GVariant *commit, const char *checksum,
                                              GError **error);

/* Is "sandbox/NAME/ARCH/BRANCH" well formed? Sets the parts when asked. */
gboolean moat_bundle_ref_parse (const char *ref, char **ret_name, char **ret_arch,
                                char **ret_branch);

/* Order two Version= strings the way dpkg does (digits numerically, '~' before anything,
 * letters before other characters): <0, 0, >0. */
int moat_version_compare (const char *a, const char *b);

/* The tree rules, for one entry at PATH (relative to the tree: "manifest", "rootfs/usr/bin/x")
 * with MODE (st_mode) and, for a symlink, TARGET. DEPTH is PATH's number of components. Only
 * regular files, directories and symlinks; no setuid, setgid or world-writable entry; names
 * without "..", "." or control characters; no symlink at a path the runtime mounts over
 * (/data, /tmp, /etc, ...); a symlink's target, read lexically from the link's directory, may
 * not climb out of rootfs/. Lexically: a chain of links (up -> .., x -> up/../../..) can still
 * point above rootfs/, which is harmless only because nothing follows links in a rootfs but
 * the kernel inside the sandbox (clamped at its root) and moatd with RESOLVE_BENEATH. */
gboolean moat_bundle_check_entry (const char *path, guint depth, guint32 mode, const char *target,
                                  GError **error);

/* Walk a commit's tree (from ostree_repo_read_commit()) under the rules above and the limits,
 * and return the manifest's bytes. The top holds exactly `manifest` (a regular file) and
 * `rootfs` (a directory). */
GBytes *moat_bundle_check_tree (GFile *root, GError **error);
