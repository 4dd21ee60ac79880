/* The seccomp floor every sandbox gets: an allowlist whose default action is EPERM, built
 * with libseccomp for each architecture the OS ships. The same policy is written into OCI
 * configs (crun) and exported as BPF for moat-init (systemd-nspawn). */
#pragma once

#include <glib.h>

/* libseccomp's header, which shares this file's name: the build puts runtime/lib on the quote
 * path only (-iquote), so angle brackets reach libseccomp and never this file. */
#include <seccomp.h>

#include "json.h"

typedef enum
{
  MOAT_ARCH_X86_64 = 0,
  MOAT_ARCH_AARCH64,
  MOAT_ARCH_COUNT,
} MoatArch;

/* The architecture this build runs on. */
MoatArch moat_arch_native (void);
/* "x86_64" / "aarch64" */
const char *moat_arch_name (MoatArch arch);
/* The OCI / libseccomp name, "SCMP_ARCH_X86_64" / "SCMP_ARCH_AARCH64" */
const char *moat_arch_oci_name (MoatArch arch);

/* Whether libseccomp knows NAME on at least one shipped architecture. */
gboolean moat_seccomp_syscall_known (const char *name);

/* Whether NAME is on the never-allowed list (DESIGN.md §4), which no manifest can lift. */
gboolean moat_seccomp_syscall_forbidden (const char *name);

/* Whether NAME may be added to the floor by a manifest (SystemCalls=): known on at least one
 * shipped architecture, not forbidden, and not one the floor has its own rule for (argument
 * checks or a fixed error: clone, clone3, socket, socketpair, personality). Otherwise
 * MOAT_ERROR_INVALID, "syscall 'NAME': why". The manifest parser and moat_seccomp_build()
 * both call it. */
gboolean moat_seccomp_check_extra (const char *name, GError **error);

/* The base allowlist and the never-allowed list, NULL-terminated, for tests and docs. */
const char *const *moat_seccomp_base_syscalls (void);
const char *const *moat_seccomp_forbidden_syscalls (void);

/* Build the filter for ARCH: the base allowlist (names unknown on ARCH are skipped), the
 * argument rules (clone without namespace flags, socket families, ...), clone3 -> ENOSYS,
 * and EXTRA (manifest SystemCalls=, may be NULL). Refuses EXTRA names that are unknown on
 * every arch, forbidden, or have their own rule (moat_seccomp_check_extra()). */
scmp_filter_ctx moat_seccomp_build (MoatArch arch, const char *const *extra, GError **error);

/* Write the native filter as raw BPF (struct sock_filter[]) to FD, for moat-init. */
gboolean moat_seccomp_export_bpf (const char *const *extra, int fd, GError **error);

/* Write the OCI linux.seccomp object (the value, not the key) for ARCH and EXTRA: default
 * action SCMP_ACT_ERRNO (EPERM), the same rules moat_seccomp_build() loads. Call only with
 * EXTRA that moat_seccomp_build() accepted (the manifest parser checks names). */
void moat_seccomp_write_oci (MoatJson *json, MoatArch arch, const char *const *extra);
