/* The seccomp floor. One policy, written as the tables below, drives both outputs: the
 * libseccomp filter (exported as BPF for moat-init under systemd-nspawn) and the OCI
 * linux.seccomp object (which crun compiles with libseccomp itself). docs/seccomp.md says
 * what is allowed and why. */
#include "seccomp.h"

#include "moat-error.h"

#include <errno.h>
#include <sched.h>
#include <sys/socket.h>

/* Namespace flags that clone(2) must not carry. CLONE_NEWTIME (0x80) sits inside CSIGNAL,
 * the exit-signal byte of legacy clone, where no valid signal (1..64) sets that bit, so
 * masking it refuses nothing legitimate. */
#define CLONE_NAMESPACE_FLAGS                                                                      \
  (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET         \
   | CLONE_NEWCGROUP | CLONE_NEWTIME)

/* personality(2) takes an unsigned int: the kernel ignores the upper half of the register. */
#define LOW_32_BITS 0xffffffffULL

static const struct
{
  const char *name;
  const char *oci_name;
  uint32_t token;
} arches[MOAT_ARCH_COUNT] = {
  [MOAT_ARCH_X86_64] = { "x86_64", "SCMP_ARCH_X86_64", SCMP_ARCH_X86_64 },
  [MOAT_ARCH_AARCH64] = { "aarch64", "SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64 },
};

/* Allowed with any arguments, on each architecture that has them. What an ordinary daemon
 * needs (busybox, mosquitto, python, a serial-port daemon, glibc and musl): memory, threads,
 * signals, time, files, sockets, polling, identity within the user namespace. Nothing here
 * may be on forbidden_syscalls and every name must be known to libseccomp (unit-tested). */
static const char *const base_syscalls[] = {
  /* processes and threads; clone and clone3 are argument rules below */
  "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "set_tid_address",
  "set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv", "arch_prctl", "prctl",
  "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
  "restart_syscall",
  /* identity (the user namespace maps it; setuid and friends only reach mapped ids) */
  "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
  "getgroups", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
  "setfsgid", "setgroups", "capget", "capset", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
  "umask", "uname", "sysinfo", "getcpu",
  /* scheduling and limits (raising any of them needs a capability the sandbox lacks) */
  "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
  "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
  "sched_rr_get_interval", "sched_getattr", "sched_setattr", "getpriority", "setpriority",
  "ioprio_get", "ioprio_set", "getrlimit", "setrlimit", "prlimit64", "getrusage", "times",
  /* memory */
  "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2",
  "munlock", "mlockall", "munlockall", "membarrier", "memfd_create", "pkey_alloc", "pkey_free",
  "pkey_mprotect", "map_shadow_stack",
  /* randomness: OpenSSL 3 and glibc's arc4random use nothing else on Linux */
  "getrandom",
  /* signals */
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
  "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "kill", "tkill",
  "tgkill", "pidfd_open", "pidfd_send_signal", "pause", "alarm",
  /* time (reading it; setting the clock is forbidden) */
  "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday", "time", "nanosleep",
  "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
  "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
  /* file descriptors and I/O */
  "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
  "pwritev2", "lseek", "close", "close_range", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl",
  "ioctl", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "sendfile", "splice",
  "tee", "vmsplice", "copy_file_range", "fallocate", "fadvise64", "readahead", "eventfd",
  "eventfd2", "signalfd", "signalfd4",
  /* polling */
  "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
  "epoll_pwait", "epoll_pwait2", "inotify_init", "inotify_init1", "inotify_add_watch",
  "inotify_rm_watch",
  /* files and directories (the root is read-only; the mount table is not theirs to change) */
  "open", "openat", "openat2", "creat", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs",
  "fstatfs", "access", "faccessat", "faccessat2", "getdents", "getdents64", "getcwd", "chdir",
  "fchdir", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat",
  "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "mknod", "mknodat",
  "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "truncate",
  "ftruncate", "utime", "utimes", "futimesat", "utimensat", "getxattr", "lgetxattr", "fgetxattr",
  "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
  "lremovexattr", "fremovexattr",
  /* asynchronous I/O (the old AIO; io_uring is forbidden) */
  "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
  /* sockets; socket and socketpair are argument rules below */
  "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername", "sendto",
  "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt", "getsockopt",
  /* System V and POSIX IPC (the IPC namespace is the sandbox's own) */
  "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl", "shmget",
  "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
  "mq_notify", "mq_getsetattr", NULL
};

/* Never allowed, whatever a manifest says (DESIGN.md §4). Names a shipped architecture lacks
 * (umount, vm86, stime) are kept so the list reads whole; they resolve nowhere and are refused as
 * unknown. */
static const char *const forbidden_syscalls[] = {
  /* loading or replacing kernel code */
  "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
  "get_kernel_syms", "query_module", "uselib", "nfsservctl",
  /* kernel attack surface with a history, none of it needed by a daemon */
  "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "io_uring_setup",
  "io_uring_enter", "io_uring_register", "lookup_dcookie",
  /* reaching into other processes */
  "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
  /* the mount table and namespaces are set up once, by the runtime */
  "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_by_handle_at",
  "name_to_handle_at", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
  "mount_setattr",
  /* host-wide state: swap, power, quota, accounting, the kernel log, the clock, I/O ports */
  "swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "syslog", "settimeofday",
  "stime", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm", "vm86", "vm86old", NULL
};

/* Rules that look at arguments or return something other than EPERM. Each row is one
 * libseccomp rule and one OCI "syscalls" entry with at most one comparison; several rows for
 * the same name are alternatives (OCI ANDs the args of one entry, so they cannot share one).
 * A syscall listed here cannot be allowed outright by a manifest. */
typedef struct
{
  const char *name;
  int errno_ret;          /* 0 allows; otherwise the call fails with this errno */
  guint n_args;           /* 0 or 1 */
  unsigned int arg;       /* argument index */
  enum scmp_compare op;   /* SCMP_CMP_EQ or SCMP_CMP_MASKED_EQ */
  scmp_datum_t value;     /* EQ: the value; MASKED_EQ: the mask */
  scmp_datum_t value_two; /* MASKED_EQ: what (arg & mask) must equal */
} ArgRule;

static const ArgRule arg_rules[] = {
  /* flags is the first argument on x86_64 and aarch64 */
  { "clone", 0, 1, 0, SCMP_CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0 },
  /* clone3 passes its flags in memory, out of a filter's reach. ENOSYS, not EPERM, makes
   * glibc (2.34+) fall back to clone, whose flags the rule above inspects. */
  { "clone3", ENOSYS, 0, 0, 0, 0, 0 },
  /* AF_ALG, AF_VSOCK, AF_PACKET, AF_BLUETOOTH ... get the default EPERM */
  { "socket", 0, 1, 0, SCMP_CMP_EQ, AF_UNIX, 0 },
  { "socket", 0, 1, 0, SCMP_CMP_EQ, AF_INET, 0 },
  { "socket", 0, 1, 0, SCMP_CMP_EQ, AF_INET6, 0 },
  { "socket", 0, 1, 0, SCMP_CMP_EQ, AF_NETLINK, 0 },
  { "socketpair", 0, 1, 0, SCMP_CMP_EQ, AF_UNIX, 0 },
  /* reading the persona and setting PER_LINUX only: no READ_IMPLIES_EXEC, no
   * ADDR_NO_RANDOMIZE */
  { "personality", 0, 1, 0, SCMP_CMP_MASKED_EQ, LOW_32_BITS, 0 },
  { "personality", 0, 1, 0, SCMP_CMP_MASKED_EQ, LOW_32_BITS, LOW_32_BITS },
};

MoatArch
moat_arch_native (void)
{
#if defined(__x86_64__)
  return MOAT_ARCH_X86_64;
#elif defined(__aarch64__)
  return MOAT_ARCH_AARCH64;
#else
  /* cppcheck-suppress preprocessorErrorDirective */
#error "Moat ships for x86_64 and aarch64 only"
#endif
}

const char *
moat_arch_name (MoatArch arch)
{
  g_return_val_if_fail (arch < MOAT_ARCH_COUNT, NULL);
  return arches[arch].name;
}

const char *
moat_arch_oci_name (MoatArch arch)
{
  g_return_val_if_fail (arch < MOAT_ARCH_COUNT, NULL);
  return arches[arch].oci_name;
}

const char *const *
moat_seccomp_base_syscalls (void)
{
  return base_syscalls;
}

const char *const *
moat_seccomp_forbidden_syscalls (void)
{
  return forbidden_syscalls;
}

/* Whether ARCH has a syscall called NAME (libseccomp answers a negative pseudo-number for
 * a name it knows from another architecture). */
static gboolean
exists_on (MoatArch arch, const char *name)
{
  return seccomp_syscall_resolve_name_arch (arches[arch].token, name) >= 0;
}

gboolean
moat_seccomp_syscall_known (const char *name)
{
  g_return_val_if_fail (name != NULL, FALSE);
  for (MoatArch arch = 0; arch < MOAT_ARCH_COUNT; arch++)
    if (exists_on (arch, name))
      return TRUE;
  return FALSE;
}

static gboolean
in_list (const char *const *list, const char *name)
{
  for (; *list != NULL; list++)
    if (strcmp (*list, name) == 0)
      return TRUE;
  return FALSE;
}

gboolean
moat_seccomp_syscall_forbidden (const char *name)
{
  g_return_val_if_fail (name != NULL, FALSE);
  return in_list (forbidden_syscalls, name);
}

static gboolean
has_arg_rule (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (arg_rules); i++)
    if (strcmp (arg_rules[i].name, name) == 0)
      return TRUE;
  return FALSE;
}

gboolean
moat_seccomp_check_extra (const char *name, GError **error)
{
  g_return_val_if_fail (name != NULL, FALSE);
  if (!moat_seccomp_syscall_known (name))
    {
      g_autofree char *shown = g_strescape (name, NULL);
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                   "syscall '%s': unknown on every architecture Moat ships (x86_64, aarch64)",
                   shown);
      return FALSE;
    }
  if (moat_seccomp_syscall_forbidden (name))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                   "syscall '%s': never allowed in a sandbox (see docs/seccomp.md)", name);
      return FALSE;
    }
  if (has_arg_rule (name))
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                   "syscall '%s': the floor has its own rule for it (argument checks or a fixed "
                   "error); a manifest cannot allow it outright",
                   name);
      return FALSE;
    }
  return TRUE;
}

/* The names ARCH allows with any arguments: the base list and EXTRA, in that order, each
 * once, only those ARCH has. Extras that moat_seccomp_check_extra() refuses are left out,
 * so no caller can get a forbidden name through. The strings are borrowed. */
static GPtrArray *
allowed_names (MoatArch arch, const char *const *extra)
{
  GPtrArray *names = g_ptr_array_new ();
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  const char *const *lists[] = { base_syscalls, extra };

  for (gsize l = 0; l < G_N_ELEMENTS (lists); l++)
    for (const char *const *n = lists[l]; n != NULL && *n != NULL; n++)
      {
        if (lists[l] == extra && !moat_seccomp_check_extra (*n, NULL))
          continue;
        if (moat_seccomp_syscall_forbidden (*n) || !exists_on (arch, *n))
          continue;
        if (g_hash_table_add (seen, (gpointer)*n))
          g_ptr_array_add (names, (gpointer)*n);
      }
  return names;
}

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (scmp_filter_ctx, seccomp_release, NULL)

/* seccomp_rule_add() reads syscall numbers as the host's and translates them, by name, to
 * each architecture in the filter; so a filter for another architecture is built from host
 * numbers (pseudo-numbers where the host lacks the call), never from the target's. */
static int
host_number (const char *name)
{
  return seccomp_syscall_resolve_name_arch (SCMP_ARCH_NATIVE, name);
}

static gboolean
add_rule (scmp_filter_ctx ctx, const ArgRule *rule, GError **error)
{
  uint32_t action = rule->errno_ret != 0 ? SCMP_ACT_ERRNO (rule->errno_ret) : SCMP_ACT_ALLOW;
  struct scmp_arg_cmp cmp = {
    .arg = rule->arg,
    .op = rule->op,
    .datum_a = rule->value,
    .datum_b = rule->value_two,
  };
  int rc = seccomp_rule_add_array (ctx, action, host_number (rule->name), rule->n_args, &cmp);
  if (rc < 0)
    return moat_error_neg (error, rc, "seccomp rule for syscall", rule->name);
  return TRUE;
}

scmp_filter_ctx
moat_seccomp_build (MoatArch arch, const char *const *extra, GError **error)
{
  g_return_val_if_fail (arch < MOAT_ARCH_COUNT, NULL);

  for (const char *const *n = extra; n != NULL && *n != NULL; n++)
    if (!moat_seccomp_check_extra (*n, error))
      return NULL;

  g_auto (scmp_filter_ctx) ctx = seccomp_init (SCMP_ACT_ERRNO (EPERM));
  if (ctx == NULL)
    {
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "seccomp_init failed");
      return NULL;
    }
  /* Only the target ABI: i386 and x32 on x86_64, arm on aarch64 meet the bad-arch action
   * (libseccomp's default, kill, the same crun gets from the OCI object). */
  if (arches[arch].token != seccomp_arch_native ())
    {
      int rc = seccomp_arch_remove (ctx, SCMP_ARCH_NATIVE);
      if (rc == 0)
        rc = seccomp_arch_add (ctx, arches[arch].token);
      if (rc < 0)
        {
          moat_error_neg (error, rc, "seccomp architecture", arches[arch].name);
          return NULL;
        }
    }

  g_autoptr (GPtrArray) names = allowed_names (arch, extra);
  for (guint i = 0; i < names->len; i++)
    {
      const ArgRule allow = { .name = names->pdata[i] };
      if (!add_rule (ctx, &allow, error))
        return NULL;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (arg_rules); i++)
    if (exists_on (arch, arg_rules[i].name) && !add_rule (ctx, &arg_rules[i], error))
      return NULL;

  return g_steal_pointer (&ctx);
}

gboolean
moat_seccomp_export_bpf (const char *const *extra, int fd, GError **error)
{
  g_auto (scmp_filter_ctx) ctx = moat_seccomp_build (moat_arch_native (), extra, error);
  if (ctx == NULL)
    return FALSE;
  int rc = seccomp_export_bpf (ctx, fd);
  if (rc < 0)
    {
      g_autofree char *what = g_strdup_printf ("fd %d", fd);
      return moat_error_neg (error, rc, "export seccomp filter to", what);
    }
  return TRUE;
}

static const char *
oci_op (enum scmp_compare op)
{
  switch (op)
    {
    case SCMP_CMP_EQ:
      return "SCMP_CMP_EQ";
    case SCMP_CMP_MASKED_EQ:
      return "SCMP_CMP_MASKED_EQ";
    default:
      g_return_val_if_reached (NULL);
    }
}

static void
write_oci_rule (MoatJson *json, const ArgRule *rule)
{
  moat_json_begin_object (json);
  moat_json_key (json, "names");
  moat_json_strv (json, (const char *const[]){ rule->name, NULL });
  if (rule->errno_ret != 0)
    {
      moat_json_kv_string (json, "action", "SCMP_ACT_ERRNO");
      moat_json_kv_int (json, "errnoRet", rule->errno_ret);
    }
  else
    moat_json_kv_string (json, "action", "SCMP_ACT_ALLOW");
  if (rule->n_args > 0)
    {
      /* the JSON writer takes gint64; every value in arg_rules fits */
      g_assert (rule->value <= G_MAXINT64 && rule->value_two <= G_MAXINT64);
      moat_json_key (json, "args");
      moat_json_begin_array (json);
      moat_json_begin_object (json);
      moat_json_kv_int (json, "index", rule->arg);
      moat_json_kv_int (json, "value", (gint64)rule->value);
      moat_json_kv_int (json, "valueTwo", (gint64)rule->value_two);
      moat_json_kv_string (json, "op", oci_op (rule->op));
      moat_json_end_object (json);
      moat_json_end_array (json);
    }
  moat_json_end_object (json);
}

void
moat_seccomp_write_oci (MoatJson *json, MoatArch arch, const char *const *extra)
{
  g_return_if_fail (json != NULL);
  g_return_if_fail (arch < MOAT_ARCH_COUNT);

  moat_json_begin_object (json);
  moat_json_kv_string (json, "defaultAction", "SCMP_ACT_ERRNO");
  moat_json_kv_int (json, "defaultErrnoRet", EPERM);
  moat_json_key (json, "architectures");
  moat_json_strv (json, (const char *const[]){ arches[arch].oci_name, NULL });

  moat_json_key (json, "syscalls");
  moat_json_begin_array (json);
  g_autoptr (GPtrArray) names = allowed_names (arch, extra);
  g_ptr_array_add (names, NULL);
  moat_json_begin_object (json);
  moat_json_key (json, "names");
  moat_json_strv (json, (const char *const *)names->pdata);
  moat_json_kv_string (json, "action", "SCMP_ACT_ALLOW");
  moat_json_end_object (json);
  for (gsize i = 0; i < G_N_ELEMENTS (arg_rules); i++)
    if (exists_on (arch, arg_rules[i].name))
      write_oci_rule (json, &arg_rules[i]);
  moat_json_end_array (json);

  moat_json_end_object (json);
}
