/* The seccomp floor: what a sandboxed process can and cannot call, on each architecture the
 * OS ships. Filters for both architectures are exported as BPF and run through a small
 * interpreter here; the native one is also loaded into a child that makes the calls. */
#include "seccomp.h"

#include "moat-error.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static const uint32_t audit_arch[MOAT_ARCH_COUNT] = {
  [MOAT_ARCH_X86_64] = AUDIT_ARCH_X86_64,
  [MOAT_ARCH_AARCH64] = AUDIT_ARCH_AARCH64,
};
static const uint32_t scmp_arch[MOAT_ARCH_COUNT] = {
  [MOAT_ARCH_X86_64] = SCMP_ARCH_X86_64,
  [MOAT_ARCH_AARCH64] = SCMP_ARCH_AARCH64,
};

#define RET_EPERM (SECCOMP_RET_ERRNO | EPERM)
#define RET_ENOSYS (SECCOMP_RET_ERRNO | ENOSYS)

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (scmp_filter_ctx, seccomp_release, NULL)

/* A built filter as the kernel would get it. */
typedef struct
{
  MoatArch arch;
  GArray *prog; /* of struct sock_filter */
} Bpf;

static void
bpf_clear (Bpf *bpf)
{
  g_clear_pointer (&bpf->prog, g_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Bpf, bpf_clear)

static GArray *
read_fd (int fd)
{
  g_assert_no_errno (lseek (fd, 0, SEEK_SET));
  GArray *prog = g_array_new (FALSE, FALSE, sizeof (struct sock_filter));
  struct sock_filter chunk[256];
  ssize_t n;
  while ((n = read (fd, chunk, sizeof chunk)) > 0)
    {
      g_assert_cmpint (n % sizeof (struct sock_filter), ==, 0);
      g_array_append_vals (prog, chunk, n / sizeof (struct sock_filter));
    }
  g_assert_cmpint (n, ==, 0);
  return prog;
}

static Bpf
bpf_build (MoatArch arch, const char *const *extra)
{
  g_autoptr (GError) error = NULL;
  g_auto (scmp_filter_ctx) ctx = moat_seccomp_build (arch, extra, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ctx);

  int fd = memfd_create ("bpf", MFD_CLOEXEC);
  g_assert_no_errno (fd);
  g_assert_cmpint (seccomp_export_bpf (ctx, fd), ==, 0);
  Bpf bpf = { .arch = arch, .prog = read_fd (fd) };
  close (fd);
  g_assert_cmpuint (bpf.prog->len, >, 0);
  g_assert_cmpuint (bpf.prog->len, <=, BPF_MAXINSNS);
  return bpf;
}

/* Not a seccomp action: any assertion on the verdict fails after this. */
#define BPF_BROKEN 0xffffffffu

static uint32_t
bpf_fail (const char *what, unsigned int code, unsigned int pc)
{
  g_test_message ("BPF program: %s (0x%x at %u)", what, code, pc);
  g_test_fail ();
  return BPF_BROKEN;
}

/* Classic BPF as seccomp runs it, for the instructions libseccomp emits; anything else fails
 * the test rather than being guessed at. */
static uint32_t
bpf_run (const GArray *prog, const struct seccomp_data *data)
{
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };
  for (guint pc = 0; pc < prog->len; pc++)
    {
      const struct sock_filter *f = &g_array_index (prog, struct sock_filter, pc);
      uint32_t src = BPF_SRC (f->code) == BPF_X ? x : f->k;
      switch (BPF_CLASS (f->code))
        {
        case BPF_LD:
          if (f->code == (BPF_LD | BPF_W | BPF_ABS))
            {
              g_assert_cmpuint (f->k % 4, ==, 0);
              g_assert_cmpuint (f->k, <, sizeof *data);
              memcpy (&a, (const char *)data + f->k, sizeof a);
            }
          else if (f->code == (BPF_LD | BPF_MEM))
            a = mem[f->k % BPF_MEMWORDS];
          else if (f->code == (BPF_LD | BPF_IMM))
            a = f->k;
          else
            return bpf_fail ("unhandled BPF load", f->code, pc);
          break;
        case BPF_LDX:
          if (f->code == (BPF_LDX | BPF_MEM))
            x = mem[f->k % BPF_MEMWORDS];
          else if (f->code == (BPF_LDX | BPF_IMM))
            x = f->k;
          else
            return bpf_fail ("unhandled BPF loadx", f->code, pc);
          break;
        case BPF_ST:
          mem[f->k % BPF_MEMWORDS] = a;
          break;
        case BPF_STX:
          mem[f->k % BPF_MEMWORDS] = x;
          break;
        case BPF_ALU:
          switch (BPF_OP (f->code))
            {
            case BPF_AND:
              a &= src;
              break;
            case BPF_OR:
              a |= src;
              break;
            default:
              return bpf_fail ("unhandled BPF alu", f->code, pc);
            }
          break;
        case BPF_JMP:
          {
            gboolean taken;
            switch (BPF_OP (f->code))
              {
              case BPF_JA:
                pc += f->k;
                continue;
              case BPF_JEQ:
                taken = a == src;
                break;
              case BPF_JGT:
                taken = a > src;
                break;
              case BPF_JGE:
                taken = a >= src;
                break;
              case BPF_JSET:
                taken = (a & src) != 0;
                break;
              default:
                return bpf_fail ("unhandled BPF jump", f->code, pc);
              }
            pc += taken ? f->jt : f->jf;
            break;
          }
        case BPF_RET:
          return BPF_RVAL (f->code) == BPF_A ? a : f->k;
        case BPF_MISC:
          if (BPF_MISCOP (f->code) == BPF_TAX)
            x = a;
          else
            a = x;
          break;
        default:
          return bpf_fail ("unhandled BPF class", f->code, pc);
        }
    }
  return bpf_fail ("fell off the end", 0, prog->len);
}

/* What the filter answers for syscall NAME (on the filter's architecture) with ARG0. */
static uint32_t
verdict_arg (const Bpf *bpf, const char *name, uint64_t arg0)
{
  int nr = seccomp_syscall_resolve_name_arch (scmp_arch[bpf->arch], name);
  g_assert_cmpint (nr, >=, 0);
  struct seccomp_data data = { .nr = nr, .arch = audit_arch[bpf->arch], .args = { arg0 } };
  return bpf_run (bpf->prog, &data);
}

static uint32_t
verdict (const Bpf *bpf, const char *name)
{
  return verdict_arg (bpf, name, 0);
}

/* What the filter answers for syscall number NR of audit architecture ARCH. */
static uint32_t
verdict_raw (const Bpf *bpf, uint32_t arch, int nr)
{
  struct seccomp_data data = { .nr = nr, .arch = arch };
  return bpf_run (bpf->prog, &data);
}

static gboolean
exists_on (MoatArch arch, const char *name)
{
  return seccomp_syscall_resolve_name_arch (scmp_arch[arch], name) >= 0;
}

static void
test_arch_names (void)
{
  g_assert_cmpstr (moat_arch_name (MOAT_ARCH_X86_64), ==, "x86_64");
  g_assert_cmpstr (moat_arch_name (MOAT_ARCH_AARCH64), ==, "aarch64");
  g_assert_cmpstr (moat_arch_oci_name (MOAT_ARCH_X86_64), ==, "SCMP_ARCH_X86_64");
  g_assert_cmpstr (moat_arch_oci_name (MOAT_ARCH_AARCH64), ==, "SCMP_ARCH_AARCH64");
#if defined(__x86_64__)
  g_assert_cmpint (moat_arch_native (), ==, MOAT_ARCH_X86_64);
#elif defined(__aarch64__)
  g_assert_cmpint (moat_arch_native (), ==, MOAT_ARCH_AARCH64);
#endif
}

static void
test_base_list_is_known_and_never_forbidden (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (const char *const *n = moat_seccomp_base_syscalls (); *n != NULL; n++)
    {
      g_assert_true (moat_seccomp_syscall_known (*n));
      g_assert_false (moat_seccomp_syscall_forbidden (*n));
      g_assert_true (g_hash_table_add (seen, (gpointer)*n)); /* listed once */
    }
  /* the DESIGN.md §4 list, by name */
  const char *const design[] = { "kexec_load",
                                 "init_module",
                                 "finit_module",
                                 "bpf",
                                 "perf_event_open",
                                 "keyctl",
                                 "add_key",
                                 "request_key",
                                 "userfaultfd",
                                 "io_uring_setup",
                                 "io_uring_enter",
                                 "io_uring_register",
                                 "ptrace",
                                 "mount",
                                 "umount2",
                                 "pivot_root",
                                 "unshare",
                                 "setns",
                                 "open_by_handle_at",
                                 "swapon",
                                 "reboot",
                                 NULL };
  for (const char *const *n = design; *n != NULL; n++)
    g_assert_true (moat_seccomp_syscall_forbidden (*n));
  g_assert_false (moat_seccomp_syscall_forbidden ("read"));
  g_assert_false (moat_seccomp_syscall_forbidden ("sethostname"));
  g_assert_true (moat_seccomp_syscall_known ("open")); /* x86_64 only */
  g_assert_true (moat_seccomp_syscall_known ("renameat2"));
  g_assert_false (moat_seccomp_syscall_known ("socketcall")); /* i386 and arm only */
  g_assert_false (moat_seccomp_syscall_known ("frobnicate"));
  g_assert_false (moat_seccomp_syscall_known (""));
}

static void
test_builds_for_every_arch (void)
{
  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    {
      g_autoptr (GError) error = NULL;
      g_auto (scmp_filter_ctx) ctx = moat_seccomp_build (arch, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (ctx);
      /* the filter holds exactly one architecture: the target */
      g_assert_cmpint (seccomp_arch_exist (ctx, scmp_arch[arch]), ==, 0);
      for (MoatArch other = 0; other < MOAT_ARCH_COUNT; other++)
        if (other != arch)
          g_assert_cmpint (seccomp_arch_exist (ctx, scmp_arch[other]), ==, -EEXIST);
      g_assert_cmpint (seccomp_arch_exist (ctx, SCMP_ARCH_X86), ==, -EEXIST);
      g_assert_cmpint (seccomp_arch_exist (ctx, SCMP_ARCH_X32), ==, -EEXIST);
      g_assert_cmpint (seccomp_arch_exist (ctx, SCMP_ARCH_ARM), ==, -EEXIST);
    }
}

static void
test_forbidden_get_eperm_on_every_arch (void)
{
  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    {
      g_auto (Bpf) bpf = bpf_build (arch, NULL);
      guint checked = 0;
      for (const char *const *n = moat_seccomp_forbidden_syscalls (); *n != NULL; n++)
        {
          if (!exists_on (arch, *n))
            continue;
          g_test_message ("%s: %s", moat_arch_name (arch), *n);
          g_assert_cmphex (verdict (&bpf, *n), ==, RET_EPERM);
          g_assert_cmphex (verdict_arg (&bpf, *n, G_MAXUINT64), ==, RET_EPERM);
          checked++;
        }
      g_assert_cmpuint (checked, >=, 40);
      /* and what is not listed anywhere also gets EPERM (the default) */
      g_assert_cmphex (verdict (&bpf, "sethostname"), ==, RET_EPERM);
      g_assert_cmphex (verdict (&bpf, "fanotify_init"), ==, RET_EPERM);
      g_assert_cmphex (verdict (&bpf, "process_madvise"), ==, RET_EPERM);
    }
}

/* Each architecture's own numbers: libseccomp reads rule numbers as the host's, so a filter
 * built for the other architecture from its numbers would allow the wrong calls (read is 0 on
 * x86_64 and 63 on aarch64). */
static void
test_base_allowed_on_every_arch (void)
{
  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    {
      g_auto (Bpf) bpf = bpf_build (arch, NULL);
      guint allowed = 0;
      for (const char *const *n = moat_seccomp_base_syscalls (); *n != NULL; n++)
        if (exists_on (arch, *n))
          {
            g_assert_cmphex (verdict (&bpf, *n), ==, SECCOMP_RET_ALLOW);
            allowed++;
          }
      g_test_message ("%s: %u base syscalls", moat_arch_name (arch), allowed);
      g_assert_cmpuint (allowed, >=, 150);
    }
  g_assert_cmpint (seccomp_syscall_resolve_name_arch (SCMP_ARCH_AARCH64, "read"), ==, 63);
  g_assert_false (exists_on (MOAT_ARCH_AARCH64, "open"));
}

static void
test_argument_rules (void)
{
  const uint64_t ns_flags[] = { CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
                                CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME };
  const uint64_t thread_flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
                                | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID
                                | CLONE_CHILD_CLEARTID;

  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    {
      g_auto (Bpf) bpf = bpf_build (arch, NULL);

      /* fork(), pthread_create() and posix_spawn() shapes pass */
      g_assert_cmphex (verdict_arg (&bpf, "clone", SIGCHLD), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "clone", thread_flags), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "clone", CLONE_VM | CLONE_VFORK | SIGCHLD), ==,
                       SECCOMP_RET_ALLOW);
      /* any namespace flag, alone or hidden among others, does not */
      for (gsize i = 0; i < G_N_ELEMENTS (ns_flags); i++)
        {
          g_assert_cmphex (verdict_arg (&bpf, "clone", ns_flags[i] | SIGCHLD), ==, RET_EPERM);
          g_assert_cmphex (verdict_arg (&bpf, "clone", ns_flags[i] | thread_flags), ==, RET_EPERM);
        }
      g_assert_cmphex (verdict (&bpf, "clone3"), ==, RET_ENOSYS);

      g_assert_cmphex (verdict_arg (&bpf, "socket", AF_UNIX), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "socket", AF_INET), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "socket", AF_INET6), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "socket", AF_NETLINK), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "socket", AF_ALG), ==, RET_EPERM);
      g_assert_cmphex (verdict_arg (&bpf, "socket", AF_VSOCK), ==, RET_EPERM);
      g_assert_cmphex (verdict_arg (&bpf, "socket", AF_PACKET), ==, RET_EPERM);
      g_assert_cmphex (verdict_arg (&bpf, "socket", AF_BLUETOOTH), ==, RET_EPERM);
      /* the family compared whole: junk in the upper half is refused, not ignored */
      g_assert_cmphex (verdict_arg (&bpf, "socket", (1ULL << 32) | AF_UNIX), ==, RET_EPERM);
      g_assert_cmphex (verdict_arg (&bpf, "socketpair", AF_UNIX), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "socketpair", AF_INET), ==, RET_EPERM);

      g_assert_cmphex (verdict_arg (&bpf, "personality", PER_LINUX), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "personality", 0xffffffff), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "personality", G_MAXUINT64), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict_arg (&bpf, "personality", READ_IMPLIES_EXEC), ==, RET_EPERM);
      g_assert_cmphex (verdict_arg (&bpf, "personality", ADDR_NO_RANDOMIZE), ==, RET_EPERM);
    }
}

/* i386 and x32 on x86_64, arm on aarch64: the filter only speaks the native ABI and kills
 * a caller that switches (libseccomp's bad-arch action, the same under crun). */
static void
test_foreign_abi_never_gets_through (void)
{
  g_auto (Bpf) x86_64 = bpf_build (MOAT_ARCH_X86_64, NULL);
  g_assert_cmphex (verdict_raw (&x86_64, AUDIT_ARCH_I386, 20), ==, SECCOMP_RET_KILL_THREAD);
  g_assert_cmphex (verdict_raw (&x86_64, AUDIT_ARCH_I386, 21), ==, SECCOMP_RET_KILL_THREAD);
  /* x32 calls carry the native audit arch and bit 30 in the number (39 getpid, 272 unshare) */
  g_assert_cmphex (verdict_raw (&x86_64, AUDIT_ARCH_X86_64, 0x40000000 | 39), ==,
                   SECCOMP_RET_KILL_THREAD);
  g_assert_cmphex (verdict_raw (&x86_64, AUDIT_ARCH_X86_64, 0x40000000 | 272), ==,
                   SECCOMP_RET_KILL_THREAD);

  g_auto (Bpf) aarch64 = bpf_build (MOAT_ARCH_AARCH64, NULL);
  g_assert_cmphex (verdict_raw (&aarch64, AUDIT_ARCH_ARM, 20), ==, SECCOMP_RET_KILL_THREAD);
  g_assert_cmphex (verdict_raw (&aarch64, AUDIT_ARCH_X86_64, 0), ==, SECCOMP_RET_KILL_THREAD);
}

static void
test_extra_syscall_is_added (void)
{
  const char *const extra[] = { "sethostname", "modify_ldt", NULL };
  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    {
      g_auto (Bpf) bpf = bpf_build (arch, extra);
      g_assert_cmphex (verdict (&bpf, "sethostname"), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict (&bpf, "read"), ==, SECCOMP_RET_ALLOW);
      g_assert_cmphex (verdict (&bpf, "bpf"), ==, RET_EPERM);
    }
  /* modify_ldt exists on x86_64 only: added there, skipped (not refused) on aarch64 */
  g_auto (Bpf) x86_64 = bpf_build (MOAT_ARCH_X86_64, extra);
  g_assert_cmphex (verdict (&x86_64, "modify_ldt"), ==, SECCOMP_RET_ALLOW);
  g_assert_false (exists_on (MOAT_ARCH_AARCH64, "modify_ldt"));
}

static void
assert_extra_refused (const char *name, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (moat_seccomp_check_extra (name, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_autofree char *prefix = g_strdup_printf ("syscall '%s': ", name);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, prefix));
  g_assert_nonnull (strstr (error->message, why));
  g_clear_error (&error);

  const char *const extra[] = { "sethostname", name, NULL };
  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    {
      g_auto (scmp_filter_ctx) ctx = moat_seccomp_build (arch, extra, &error);
      g_assert_null (ctx);
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
      g_assert_true (g_str_has_prefix (error->message, prefix));
      g_clear_error (&error);
    }
  g_assert_false (moat_seccomp_export_bpf (extra, -1, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
}

static void
test_extra_refused_with_reason (void)
{
  for (const char *const *n = moat_seccomp_forbidden_syscalls (); *n != NULL; n++)
    if (moat_seccomp_syscall_known (*n))
      assert_extra_refused (*n, "never allowed");
  assert_extra_refused ("frobnicate", "unknown on every architecture");
  assert_extra_refused ("", "unknown on every architecture");
  assert_extra_refused ("socketcall", "unknown on every architecture");
  /* a manifest cannot lift an argument check by naming the call */
  assert_extra_refused ("clone", "its own rule");
  assert_extra_refused ("clone3", "its own rule");
  assert_extra_refused ("socket", "its own rule");
  assert_extra_refused ("socketpair", "its own rule");
  assert_extra_refused ("personality", "its own rule");

  g_autoptr (GError) error = NULL;
  g_assert_true (moat_seccomp_check_extra ("sethostname", &error));
  g_assert_true (moat_seccomp_check_extra ("read", &error)); /* already there: harmless */
  g_assert_no_error (error);
}

/* The native filter loaded for real, the way moat-init loads it, in a child that then makes
 * the calls raw. Each check that fails writes its line to the pipe. */
#define CHECK(cond)                                                                                \
  do                                                                                               \
    {                                                                                              \
      if (!(cond))                                                                                 \
        {                                                                                          \
          dprintf (report, "line %d: %s (errno %d)\n", __LINE__, #cond, errno);                    \
          failures++;                                                                              \
        }                                                                                          \
    }                                                                                              \
  while (0)
#define DENIED(call, err) (errno = 0, (call) == -1 && errno == (err))

static int
child_checks (const struct sock_fprog *prog, int report)
{
  int failures = 0;
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
      || syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog) != 0)
    {
      dprintf (report, "loading the filter: errno %d\n", errno);
      return 1;
    }
  CHECK (syscall (SYS_getpid) == getpid ());
  CHECK (write (report, "", 0) == 0);
  CHECK (DENIED (syscall (SYS_unshare, CLONE_NEWUSER), EPERM));
  CHECK (DENIED (syscall (SYS_unshare, CLONE_NEWNS), EPERM));
  CHECK (DENIED (syscall (SYS_setns, 0, 0), EPERM));
  CHECK (DENIED (syscall (SYS_keyctl, 0, 0, 0, 0, 0), EPERM));
  CHECK (DENIED (syscall (SYS_add_key, "user", "k", "v", 1, 0), EPERM));
  CHECK (DENIED (syscall (SYS_bpf, 0, NULL, 0), EPERM));
  CHECK (DENIED (syscall (SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM));
  CHECK (DENIED (syscall (SYS_userfaultfd, 0), EPERM));
  CHECK (DENIED (syscall (SYS_io_uring_setup, 1, NULL), EPERM));
  CHECK (DENIED (syscall (SYS_ptrace, 0, 0, 0, 0), EPERM));
  CHECK (DENIED (syscall (SYS_mount, "none", "/", "tmpfs", 0, NULL), EPERM));
  CHECK (DENIED (syscall (SYS_umount2, "/", 0), EPERM));
  CHECK (DENIED (syscall (SYS_pivot_root, "/", "/"), EPERM));
  CHECK (DENIED (syscall (SYS_kexec_load, 0, 0, NULL, 0), EPERM));
  CHECK (DENIED (syscall (SYS_finit_module, -1, "", 0), EPERM));
  CHECK (DENIED (syscall (SYS_open_by_handle_at, -1, NULL, 0), EPERM));
  CHECK (DENIED (syscall (SYS_reboot, 0, 0, 0, NULL), EPERM));
  CHECK (DENIED (syscall (SYS_clock_settime, CLOCK_REALTIME, NULL), EPERM));
  CHECK (DENIED (syscall (SYS_socket, AF_ALG, SOCK_SEQPACKET, 0), EPERM));
  CHECK (DENIED (syscall (SYS_socket, AF_VSOCK, SOCK_STREAM, 0), EPERM));
  CHECK (DENIED (syscall (SYS_socket, AF_PACKET, SOCK_RAW, 0), EPERM));
  CHECK (DENIED (syscall (SYS_personality, READ_IMPLIES_EXEC), EPERM));
  CHECK (syscall (SYS_personality, 0xffffffff) >= 0);

  int fd = syscall (SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK (fd >= 0);
  close (fd);
  fd = syscall (SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK (fd >= 0);
  close (fd);

  /* clone with a namespace flag is refused before the kernel sees it; were it not, the
   * child leaves at once */
  long pid = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid == 0)
    _exit (0);
  CHECK (pid == -1 && errno == EPERM);
  uint64_t clone_args[11] = { CLONE_NEWUSER, 0, 0, 0, SIGCHLD };
  pid = syscall (SYS_clone3, clone_args, sizeof clone_args);
  if (pid == 0)
    _exit (0);
  CHECK (pid == -1 && errno == ENOSYS);

  /* fork as glibc does it (clone without namespace flags) still works */
  pid = fork ();
  if (pid == 0)
    _exit (42);
  int status = 0;
  CHECK (pid > 0 && waitpid (pid, &status, 0) == pid && WIFEXITED (status)
         && WEXITSTATUS (status) == 42);
  return failures;
}

static void
test_native_filter_enforced_in_child (void)
{
  int bpf_fd = memfd_create ("bpf", MFD_CLOEXEC);
  g_assert_no_errno (bpf_fd);
  g_autoptr (GError) error = NULL;
  g_assert_true (moat_seccomp_export_bpf (NULL, bpf_fd, &error));
  g_assert_no_error (error);
  g_autoptr (GArray) prog = read_fd (bpf_fd);
  close (bpf_fd);
  struct sock_fprog fprog = { .len = prog->len, .filter = (struct sock_filter *)prog->data };

  int fds[2];
  g_assert_no_errno (pipe2 (fds, O_CLOEXEC));
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      close (fds[0]);
      /* _exit: no atexit handlers (a leak checker would need ptrace) */
      _exit (child_checks (&fprog, fds[1]) == 0 ? 0 : 1);
    }
  close (fds[1]);
  char buf[4096] = "";
  gsize len = 0;
  ssize_t n;
  while (len < sizeof buf - 1 && (n = read (fds[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += n;
  close (fds[0]);
  int status = 0;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (len > 0)
    g_test_message ("child: %s", buf);
  g_assert_cmpstr (buf, ==, "");
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
}

static JsonNode *
oci_seccomp (MoatArch arch, const char *const *extra)
{
  g_autoptr (MoatJson) json = moat_json_new ();
  moat_seccomp_write_oci (json, arch, extra);
  g_autofree char *text = moat_json_steal (g_steal_pointer (&json));
  g_autoptr (GError) error = NULL;
  JsonNode *root = json_from_string (text, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return root;
}

/* The unconditionally allowed names of an OCI object: its first entry, by construction. */
static GHashTable *
oci_allowed_names (JsonObject *seccomp)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  JsonArray *syscalls = json_object_get_array_member (seccomp, "syscalls");
  for (guint i = 0; i < json_array_get_length (syscalls); i++)
    {
      JsonObject *entry = json_array_get_object_element (syscalls, i);
      if (json_object_has_member (entry, "args")
          || g_strcmp0 (json_object_get_string_member (entry, "action"), "SCMP_ACT_ALLOW") != 0)
        continue;
      JsonArray *list = json_object_get_array_member (entry, "names");
      for (guint j = 0; j < json_array_get_length (list); j++)
        g_assert_true (
            g_hash_table_add (names, g_strdup (json_array_get_string_element (list, j))));
    }
  return names;
}

static void
assert_arg (JsonObject *entry, gint64 index, gint64 value, gint64 value_two, const char *op)
{
  JsonArray *args = json_object_get_array_member (entry, "args");
  g_assert_cmpuint (json_array_get_length (args), ==, 1);
  JsonObject *arg = json_array_get_object_element (args, 0);
  g_assert_cmpint (json_object_get_int_member (arg, "index"), ==, index);
  g_assert_cmpint (json_object_get_int_member (arg, "value"), ==, value);
  g_assert_cmpint (json_object_get_int_member (arg, "valueTwo"), ==, value_two);
  g_assert_cmpstr (json_object_get_string_member (arg, "op"), ==, op);
}

static void
test_oci_object (void)
{
  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    {
      g_autoptr (JsonNode) root = oci_seccomp (arch, NULL);
      JsonObject *seccomp = json_node_get_object (root);
      g_assert_cmpstr (json_object_get_string_member (seccomp, "defaultAction"), ==,
                       "SCMP_ACT_ERRNO");
      g_assert_cmpint (json_object_get_int_member (seccomp, "defaultErrnoRet"), ==, EPERM);
      JsonArray *archs = json_object_get_array_member (seccomp, "architectures");
      g_assert_cmpuint (json_array_get_length (archs), ==, 1);
      g_assert_cmpstr (json_array_get_string_element (archs, 0), ==, moat_arch_oci_name (arch));

      JsonArray *syscalls = json_object_get_array_member (seccomp, "syscalls");
      guint clone_rules = 0, clone3_rules = 0, socket_rules = 0;
      for (guint i = 0; i < json_array_get_length (syscalls); i++)
        {
          JsonObject *entry = json_array_get_object_element (syscalls, i);
          JsonArray *names = json_object_get_array_member (entry, "names");
          g_assert_cmpuint (json_array_get_length (names), >=, 1);
          for (guint j = 0; j < json_array_get_length (names); j++)
            {
              const char *name = json_array_get_string_element (names, j);
              g_assert_false (moat_seccomp_syscall_forbidden (name));
              g_assert_true (exists_on (arch, name));
            }
          const char *first = json_array_get_string_element (names, 0);
          const char *action = json_object_get_string_member (entry, "action");
          if (g_str_equal (first, "clone"))
            {
              clone_rules++;
              g_assert_cmpstr (action, ==, "SCMP_ACT_ALLOW");
              assert_arg (entry, 0,
                          CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
                              | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME,
                          0, "SCMP_CMP_MASKED_EQ");
            }
          else if (g_str_equal (first, "clone3"))
            {
              clone3_rules++;
              g_assert_cmpstr (action, ==, "SCMP_ACT_ERRNO");
              g_assert_cmpint (json_object_get_int_member (entry, "errnoRet"), ==, ENOSYS);
            }
          else if (g_str_equal (first, "socket"))
            {
              socket_rules++;
              g_assert_cmpstr (action, ==, "SCMP_ACT_ALLOW");
              JsonObject *arg
                  = json_array_get_object_element (json_object_get_array_member (entry, "args"), 0);
              gint64 family = json_object_get_int_member (arg, "value");
              g_assert_true (family == AF_UNIX || family == AF_INET || family == AF_INET6
                             || family == AF_NETLINK);
              assert_arg (entry, 0, family, 0, "SCMP_CMP_EQ");
            }
        }
      g_assert_cmpuint (clone_rules, ==, 1);
      g_assert_cmpuint (clone3_rules, ==, 1);
      g_assert_cmpuint (socket_rules, ==, 4);

      g_autoptr (GHashTable) allowed = oci_allowed_names (seccomp);
      g_assert_true (g_hash_table_contains (allowed, "read"));
      g_assert_false (g_hash_table_contains (allowed, "clone"));
      g_assert_false (g_hash_table_contains (allowed, "socket"));
      g_assert_false (g_hash_table_contains (allowed, "sethostname"));
      g_assert_cmpint (g_hash_table_contains (allowed, "open"), ==, arch == MOAT_ARCH_X86_64);
      g_assert_cmpint (g_hash_table_contains (allowed, "arch_prctl"), ==, arch == MOAT_ARCH_X86_64);
    }
}

/* One source of truth: for every syscall number of each architecture, the OCI object and the
 * libseccomp filter agree on whether it is allowed outright, refused, or argument-checked. */
static void
test_oci_and_filter_agree (void)
{
  const char *const extra[] = { "sethostname", NULL };
  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    {
      g_autoptr (JsonNode) root = oci_seccomp (arch, extra);
      g_autoptr (GHashTable) allowed = oci_allowed_names (json_node_get_object (root));
      g_assert_true (g_hash_table_contains (allowed, "sethostname"));
      g_auto (Bpf) bpf = bpf_build (arch, extra);
      const char *const checked[]
          = { "clone", "clone3", "socket", "socketpair", "personality", NULL };
      guint compared = 0;
      for (int nr = 0; nr < 1024; nr++)
        {
          g_autofree char *name = seccomp_syscall_resolve_num_arch (scmp_arch[arch], nr);
          if (name == NULL || g_strv_contains (checked, name))
            continue;
          struct seccomp_data data = { .nr = nr, .arch = audit_arch[arch] };
          uint32_t expected = g_hash_table_contains (allowed, name) ? SECCOMP_RET_ALLOW : RET_EPERM;
          if (bpf_run (bpf.prog, &data) != expected)
            g_error ("%s: %s (%d): OCI and filter disagree", moat_arch_name (arch), name, nr);
          compared++;
        }
      g_assert_cmpuint (compared, >=, 250);
    }
}

static void
test_oci_never_writes_a_refused_extra (void)
{
  const char *const extra[] = { "bpf", "socket", "frobnicate", "sethostname", "sethostname", NULL };
  g_autoptr (JsonNode) root = oci_seccomp (moat_arch_native (), extra);
  g_autoptr (GHashTable) allowed = oci_allowed_names (json_node_get_object (root));
  g_assert_true (g_hash_table_contains (allowed, "sethostname")); /* once: asserted on add */
  g_assert_false (g_hash_table_contains (allowed, "bpf"));
  g_assert_false (g_hash_table_contains (allowed, "socket"));
  g_assert_false (g_hash_table_contains (allowed, "frobnicate"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/seccomp/arch-names", test_arch_names);
  g_test_add_func ("/seccomp/base-list-is-known-and-never-forbidden",
                   test_base_list_is_known_and_never_forbidden);
  g_test_add_func ("/seccomp/builds-for-every-arch", test_builds_for_every_arch);
  g_test_add_func ("/seccomp/forbidden-get-eperm-on-every-arch",
                   test_forbidden_get_eperm_on_every_arch);
  g_test_add_func ("/seccomp/base-allowed-on-every-arch", test_base_allowed_on_every_arch);
  g_test_add_func ("/seccomp/argument-rules", test_argument_rules);
  g_test_add_func ("/seccomp/foreign-abi-never-gets-through", test_foreign_abi_never_gets_through);
  g_test_add_func ("/seccomp/extra-syscall-is-added", test_extra_syscall_is_added);
  g_test_add_func ("/seccomp/extra-refused-with-reason", test_extra_refused_with_reason);
  g_test_add_func ("/seccomp/native-filter-enforced-in-child",
                   test_native_filter_enforced_in_child);
  g_test_add_func ("/seccomp/oci-object", test_oci_object);
  g_test_add_func ("/seccomp/oci-and-filter-agree", test_oci_and_filter_agree);
  g_test_add_func ("/seccomp/oci-never-writes-a-refused-extra",
                   test_oci_never_writes_a_refused_extra);
  return g_test_run ();
}
