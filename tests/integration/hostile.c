/* hostile: runs inside a Moat sandbox and tries what the floor (DESIGN.md §4) forbids.
 *
 * usage: hostile [--other-data PATH] [--undeclared-device PATH] [--victim-pid PID]
 *
 * Each attempt prints one TAP line. "ok" means the sandbox or the kernel said no (EPERM,
 * EACCES, ENOSYS, and EROFS or ENOENT where a path was the point). "not ok" means the thing
 * worked, or failed with another error: an EINVAL or EBADF comes from code that runs after the
 * permission check, so the call got through and only its arguments stopped it. Where EPERM is
 * the only proof, the arguments are valid. ENOSYS refuses too: the floor answers it for clone3,
 * and a kernel built without a call cannot be made to run it. A filter that kills instead
 * (SIGSYS) also counts as refused. Exit status: 0 when all were refused, 1 when one was not,
 * 2 on a usage error.
 *
 * Safety. This program is meant to fail at everything, but a broken sandbox (or a developer
 * running it as root by mistake) would let attempts through, so each one is chosen to leave
 * nothing behind on the host if it works: arguments that the kernel rejects after its
 * permission check, state changed only in a throwaway child (every attempt runs in its own
 * forked child), files created under a scratch directory in /tmp and removed, devices and
 * kernel files opened but never written. The comment above each attempt says why it is safe.
 * Still, never run it as real root outside a user namespace.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/kexec.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/userfaultfd.h>

/* Syscall numbers from 424 on are the same on x86_64 and aarch64; older glibc may lack them. */
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x1
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* struct clone_args, version 0 (64 bytes); <linux/sched.h> clashes with <sched.h>. */
struct clone_args_v0
{
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* struct io_uring_params is 120 bytes; all zero asks for a default ring. <linux/io_uring.h>
 * pulls in <linux/fs.h>, which clashes with <sys/mount.h>. */
typedef struct
{
  uint32_t words[30];
} IoUringParams;

typedef struct
{
  bool refused;
  bool skipped;
  char text[240];
} Result;

typedef struct
{
  const char *name;
  void (*fn) (Result *r);
} Attempt;

static struct
{
  const char *other_data;
  const char *device;
  pid_t victim; /* 0: none given */
} opt = { .device = "/dev/sda" };

/* A directory of our own under /tmp; attempts that need files make them here. */
static char scratch[] = "/tmp/hostile.XXXXXX";

/* Errors that mean "no". Which ones count depends on the attempt: ENOENT refuses a path that
 * must not be visible, but from delete_module it means the permission check passed. */
static const int denied[] = { EPERM, EACCES, ENOSYS, 0 };
static const int denied_path[] = { EPERM, EACCES, ENOSYS, EROFS, ENOENT, 0 };
static const int denied_pid[] = { EPERM, EACCES, ENOSYS, ESRCH, 0 };
/* EADDRNOTAVAIL: no source address from which the destination could be reached. */
static const int denied_route[]
    = { EPERM, EACCES, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, EAFNOSUPPORT, 0 };

static void verdict (Result *r, bool refused, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static void append (Result *r, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static const char *
errname (int err)
{
  const char *name = strerrorname_np (err);
  return name ? name : "E?";
}

static void
verdict (Result *r, bool refused, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (r->text, sizeof r->text, fmt, ap);
  va_end (ap);
  r->refused = refused;
}

/* Add to the text of R, e.g. the path an attempt chose. */
static void
append (Result *r, const char *fmt, ...)
{
  size_t len = strlen (r->text);
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (r->text + len, sizeof r->text - len, fmt, ap);
  va_end (ap);
}

static void
skip (Result *r, const char *why)
{
  r->skipped = true;
  r->refused = true;
  snprintf (r->text, sizeof r->text, "%s", why);
}

static bool
is_denial (int err, const int *denials)
{
  for (; *denials; denials++)
    if (err == *denials)
      return true;
  return false;
}

/* Judge the outcome RET of STEP (NULL when the attempt has one step), with errno as the call
 * left it: call this straight after the call, or with the call as its argument (arguments are
 * evaluated before the body runs, in whatever order, so errno must not be an argument). */
static void
judge_step (Result *r, long ret, const int *denials, const char *step)
{
  int err = errno;
  const char *at = step ? " at " : "";

  if (!step)
    step = "";
  if (ret >= 0)
    verdict (r, false, "SUCCEEDED");
  else if (is_denial (err, denials))
    verdict (r, true, "refused%s%s (%s)", at, step, errname (err));
  else
    verdict (r, false, "not refused%s%s (%s: got past the permission check)", at, step,
             errname (err));
}

static void
judge (Result *r, long ret, const int *denials)
{
  judge_step (r, ret, denials, NULL);
}

/* Judge an fd-returning call and close what it returned. */
static void
judge_fd (Result *r, int fd, const int *denials)
{
  judge (r, fd, denials);
  if (fd >= 0)
    close (fd);
}

static void
scratch_path (char *buf, size_t size, const char *name)
{
  snprintf (buf, size, "%s/%s", scratch, name);
}

/* Create an empty file NAME in the scratch directory; its path goes to BUF. */
static bool
scratch_file (Result *r, char *buf, size_t size, const char *name)
{
  scratch_path (buf, size, name);
  int fd = open (buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      verdict (r, false, "cannot test: create %s: %s", buf, errname (errno));
      return false;
    }
  close (fd);
  return true;
}

/* A child that waits to be killed: a target on which only the sandbox stops us. */
static volatile uint64_t secret = 0x6d6f61742d736563;

static pid_t
spawn_sleeper (void)
{
  pid_t pid = fork ();
  if (pid == 0)
    for (;;)
      pause ();
  return pid;
}

static void
reap (pid_t pid)
{
  kill (pid, SIGKILL);
  waitpid (pid, NULL, __WALL);
}

/* --- mounts and namespaces ------------------------------------------------------------- */

/* Safe: a small tmpfs on an empty scratch directory, unmounted at once. */
static void
try_mount_tmpfs (Result *r)
{
  char dir[PATH_MAX];

  scratch_path (dir, sizeof dir, "mnt");
  if (mkdir (dir, 0700) < 0)
    {
      verdict (r, false, "cannot test: mkdir %s: %s", dir, errname (errno));
      return;
    }
  int ret = mount ("hostile", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k");
  judge (r, ret, denied);
  if (ret == 0)
    umount2 (dir, MNT_DETACH);
  rmdir (dir);
}

/* Safe: a filesystem context that is never configured or mounted. */
static void
try_fsopen (Result *r)
{
  int fd = syscall (SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
  judge_fd (r, fd, denied);
}

/* Safe: a detached copy of the root mount, dropped when the fd closes. */
static void
try_open_tree_clone (Result *r)
{
  int fd = syscall (SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | O_CLOEXEC);
  judge_fd (r, fd, denied);
}

/* Safe: MNT_EXPIRE never unmounts on the first call; it marks the mount and returns EAGAIN
 * (or EBUSY, as /proc carries the masks), so a kernel that lets us through changes nothing. */
static void
try_umount_proc (Result *r)
{
  judge (r, umount2 ("/proc", MNT_EXPIRE), denied);
}

/* The masks are mounts over /proc files (/dev/null binds, or empty read-only tmpfs); removing
 * one would unmask what it hides. The first mask target that exists here: the path lookup
 * comes before the permission check, so only an existing path proves anything. Safe: on a host
 * these are no mount points (EINVAL); in a sandbox only the sandbox's own view changes. */
static void
try_umount_mask (Result *r)
{
  static const char *const masked[] = { "/proc/kcore", "/proc/keys", "/proc/timer_list", NULL };
  const char *path = NULL;

  for (const char *const *m = masked; *m && !path; m++)
    if (access (*m, F_OK) == 0)
      path = *m;
  if (!path)
    {
      verdict (r, true, "refused (ENOENT: nothing masked is here)");
      return;
    }
  judge (r, umount2 (path, MNT_DETACH), denied);
  append (r, " [%s]", path);
}

/* Safe: the new root is a plain directory, not a mount point, so the kernel refuses it with
 * EINVAL after the permission check; pivot_root cannot succeed with these arguments. */
static void
try_pivot_root (Result *r)
{
  char new_root[PATH_MAX], put_old[PATH_MAX];

  scratch_path (new_root, sizeof new_root, "newroot");
  scratch_path (put_old, sizeof put_old, "newroot/old");
  if (mkdir (new_root, 0700) < 0 || mkdir (put_old, 0700) < 0)
    {
      verdict (r, false, "cannot test: mkdir %s: %s", put_old, errname (errno));
      return;
    }
  judge (r, syscall (SYS_pivot_root, new_root, put_old), denied);
  rmdir (put_old);
  rmdir (new_root);
}

/* Safe (both unshares): the new namespace belongs to the attempt's child, which exits. */
static void
try_unshare_user (Result *r)
{
  judge (r, unshare (CLONE_NEWUSER), denied);
}

static void
try_unshare_mount (Result *r)
{
  judge (r, unshare (CLONE_NEWNS), denied);
}

/* The raw syscall: its first argument is the flags word a seccomp argument rule inspects
 * (glibc's clone() wants a stack and a function). Safe: the new process exits at once. */
static void
try_clone_user (Result *r)
{
  long pid = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid == 0)
    syscall (SYS_exit, 0);
  judge (r, pid, denied);
  if (pid > 0)
    waitpid (pid, NULL, 0);
}

/* Seccomp cannot read clone3's flags (they sit behind a pointer), so the floor answers
 * ENOSYS to all of clone3 and libc falls back to clone. Safe: the child exits at once. */
static void
try_clone3_mount (Result *r)
{
  struct clone_args_v0 args = { .flags = CLONE_NEWNS, .exit_signal = SIGCHLD };
  long pid = syscall (SYS_clone3, &args, sizeof args);
  if (pid == 0)
    syscall (SYS_exit, 0);
  judge (r, pid, denied);
  if (pid > 0)
    waitpid (pid, NULL, 0);
}

/* Safe: only the attempt's child would join the network namespace. */
static void
try_setns (Result *r)
{
  int fd = open ("/proc/1/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      judge_step (r, -1, denied_path, "open /proc/1/ns/net");
      return;
    }
  judge_step (r, setns (fd, CLONE_NEWNET), denied, "setns");
  close (fd);
}

/* Safe: only the attempt's child changes its root. */
static void
try_chroot (Result *r)
{
  judge (r, chroot (scratch), denied);
}

/* --- keys --------------------------------------------------------------------------------- */

/* Safe: a new anonymous session keyring for a child that exits. */
static void
try_keyctl (Result *r)
{
  judge (r, syscall (SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL), denied);
}

/* Safe: a one-byte key in the child's process keyring, which dies with it. */
static void
try_add_key (Result *r)
{
  judge (r, syscall (SYS_add_key, "user", "moat-hostile", "x", 1, KEY_SPEC_PROCESS_KEYRING),
         denied);
}

/* Safe: no callout info, so the kernel never runs /sbin/request-key; ENOKEY means the call
 * reached the keyring search. */
static void
try_request_key (Result *r)
{
  judge (r, syscall (SYS_request_key, "user", "moat-hostile:absent", NULL, 0), denied);
}

/* --- other processes ------------------------------------------------------------------------ */

/* Our own child: same uid, a descendant, so without the sandbox nothing would stop us.
 * Safe: the tracee is ours and is killed afterwards. */
static void
try_ptrace_child (Result *r)
{
  pid_t pid = spawn_sleeper ();
  if (pid < 0)
    {
      verdict (r, false, "cannot test: fork: %s", errname (errno));
      return;
    }
  long ret = ptrace (PTRACE_ATTACH, pid, NULL, NULL);
  judge (r, ret, denied);
  if (ret == 0)
    {
      waitpid (pid, NULL, __WALL);
      ptrace (PTRACE_DETACH, pid, NULL, NULL);
    }
  reap (pid);
}

/* PTRACE_SEIZE goes through the same permission check as PTRACE_ATTACH but does not stop the
 * victim. Safe: detached at once. ESRCH: the victim is not visible from here. */
static void
try_ptrace_victim (Result *r)
{
  if (!opt.victim)
    {
      skip (r, "no --victim-pid given");
      return;
    }
  long ret = ptrace (PTRACE_SEIZE, opt.victim, NULL, NULL);
  judge (r, ret, denied_pid);
  if (ret == 0)
    ptrace (PTRACE_DETACH, opt.victim, NULL, NULL);
}

/* Safe: reads eight bytes of our own child. */
static void
try_process_vm_readv (Result *r)
{
  uint64_t got = 0;
  struct iovec local = { &got, sizeof got };
  struct iovec remote = { (void *)&secret, sizeof secret };

  pid_t pid = spawn_sleeper ();
  if (pid < 0)
    {
      verdict (r, false, "cannot test: fork: %s", errname (errno));
      return;
    }
  judge (r, process_vm_readv (pid, &local, 1, &remote, 1, 0), denied);
  reap (pid);
}

/* --- the kernel --------------------------------------------------------------------------- */

/* Safe: no segments and a foreign architecture; past its permission check the kernel rejects
 * the architecture with EINVAL, loading or unloading nothing. */
static void
try_kexec_load (Result *r)
{
  judge (r, syscall (SYS_kexec_load, 0UL, 0UL, NULL, (unsigned long)KEXEC_ARCH_MIPS), denied);
}

/* Safe: invalid fds; past its permission check the kernel fails with EBADF. */
static void
try_kexec_file_load (Result *r)
{
  judge (r, syscall (SYS_kexec_file_load, -1, -1, 0UL, "", 0UL), denied);
}

static const char junk_module[64] = "this is not an ELF module, and the kernel will see so";

/* Safe: not ELF, so past the permission check the loader fails (ENOEXEC, or a signature
 * error where modules must be signed). */
static void
try_init_module (Result *r)
{
  judge (r, syscall (SYS_init_module, junk_module, sizeof junk_module, ""), denied);
}

static void
try_finit_module (Result *r)
{
  char path[PATH_MAX];

  /* Safe: the same junk, from a scratch file. */
  scratch_path (path, sizeof path, "junk.ko");
  int fd = open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      verdict (r, false, "cannot test: create %s: %s", path, errname (errno));
      return;
    }
  if (write (fd, junk_module, sizeof junk_module) != (ssize_t)sizeof junk_module)
    verdict (r, false, "cannot test: write %s: %s", path, errname (errno));
  else
    judge (r, syscall (SYS_finit_module, fd, "", 0), denied);
  close (fd);
  unlink (path);
}

/* Safe: no module has this name; ENOENT means the permission check passed. */
static void
try_delete_module (Result *r)
{
  judge (r, syscall (SYS_delete_module, "moat_hostile_absent", O_NONBLOCK), denied);
}

/* A valid socket filter ("return 0"), the program an unprivileged caller may load where
 * unprivileged_bpf_disabled is 0. Safe: never attached, closed at once. */
static void
try_bpf_prog_load (Result *r)
{
  struct bpf_insn prog[] = {
    { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
    { .code = BPF_JMP | BPF_EXIT },
  };
  union bpf_attr attr;

  memset (&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insn_cnt = sizeof prog / sizeof prog[0];
  attr.insns = (uintptr_t)prog;
  attr.license = (uintptr_t) "GPL";
  int fd = syscall (SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
  judge_fd (r, fd, denied);
}

/* A user-space-only software counter on ourselves, allowed at perf_event_paranoid <= 2.
 * Safe: disabled, closed at once. */
static void
try_perf_event_open (Result *r)
{
  struct perf_event_attr attr;

  memset (&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  int fd = syscall (SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  judge_fd (r, fd, denied);
}

/* UFFD_USER_MODE_ONLY is what an unprivileged caller may ask for. Safe: closed at once. */
static void
try_userfaultfd (Result *r)
{
  int fd = syscall (SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
  judge_fd (r, fd, denied);
}

/* Safe: an empty ring, closed at once. */
static void
try_io_uring_setup (Result *r)
{
  IoUringParams params = { { 0 } };
  int fd = syscall (SYS_io_uring_setup, 4, &params);
  judge_fd (r, fd, denied);
}

/* Safe: a port access grant for the child, which never touches the port and exits. */
static void
try_ioperm (Result *r)
{
#if defined(__x86_64__) || defined(__i386__)
  judge (r, syscall (SYS_ioperm, 0x80UL, 1UL, 1), denied);
#else
  skip (r, "no port I/O on this architecture");
#endif
}

/* Safe: only reads. The kernel log names host devices and addresses. */
static void
try_syslog (Result *r)
{
  static char buf[4096];

  judge (r, klogctl (3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof buf), denied);
}

/* --- sockets ------------------------------------------------------------------------------ */

/* Safe (all four): the socket is created and closed, never bound or used. Only EPERM/EACCES
 * refuse: EAFNOSUPPORT means the call reached the kernel, which may have autoloaded a module. */
static void
try_socket (Result *r, int domain, int type, int protocol)
{
  int fd = socket (domain, type | SOCK_CLOEXEC, protocol);
  judge_fd (r, fd, denied);
}

static void
try_socket_alg (Result *r)
{
  try_socket (r, AF_ALG, SOCK_SEQPACKET, 0);
}

static void
try_socket_vsock (Result *r)
{
  try_socket (r, AF_VSOCK, SOCK_STREAM, 0);
}

static void
try_socket_packet (Result *r)
{
  try_socket (r, AF_PACKET, SOCK_RAW, htons (ETH_P_ALL));
}

static void
try_socket_raw (Result *r)
{
  try_socket (r, AF_INET, SOCK_RAW, IPPROTO_ICMP);
}

/* Whether a route leads out: connecting a UDP socket looks the route up and sends nothing.
 * Safe: TEST-NET addresses, no packet. */
static void
try_route (Result *r, const struct sockaddr *addr, socklen_t len)
{
  int fd = socket (addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      judge_step (r, -1, denied_route, "socket");
      return;
    }
  judge (r, connect (fd, addr, len), denied_route);
  close (fd);
}

static void
try_route_v4 (Result *r)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (9) };

  inet_pton (AF_INET, "192.0.2.1", &sin.sin_addr);
  try_route (r, (struct sockaddr *)&sin, sizeof sin);
}

static void
try_route_v6 (Result *r)
{
  struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons (9) };

  inet_pton (AF_INET6, "2001:db8::1", &sin6.sin6_addr);
  try_route (r, (struct sockaddr *)&sin6, sizeof sin6);
}

/* --- files -------------------------------------------------------------------------------- */

/* Safe: an empty file, removed at once. */
static void
try_create_in (Result *r, const char *dir)
{
  char path[PATH_MAX];

  snprintf (path, sizeof path, "%s/hostile-escape", strcmp (dir, "/") ? dir : "");
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  judge (r, fd, denied_path);
  if (fd >= 0)
    {
      close (fd);
      unlink (path);
    }
}

static void
try_create_root (Result *r)
{
  try_create_in (r, "/");
}

static void
try_create_usr (Result *r)
{
  try_create_in (r, "/usr/bin");
}

static void
try_create_etc (Result *r)
{
  try_create_in (r, "/etc");
}

/* Opening for writing is the gate. Safe: nothing is ever written. */
static void
try_open_for_write (Result *r, const char *path)
{
  int fd = open (path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  judge_fd (r, fd, denied_path);
}

static void
try_sysrq (Result *r)
{
  try_open_for_write (r, "/proc/sysrq-trigger");
}

static void
try_core_pattern (Result *r)
{
  try_open_for_write (r, "/proc/sys/kernel/core_pattern");
}

/* The first of these that is visible; ENOENT when none is. */
static void
try_sys_attribute (Result *r)
{
  static const char *const candidates[] = {
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/power/state",
    "/sys/kernel/uevent_helper",
    NULL,
  };
  const char *path = candidates[0];

  for (const char *const *c = candidates; *c; c++)
    if (access (*c, F_OK) == 0)
      {
        path = *c;
        break;
      }
  try_open_for_write (r, path);
  append (r, " [%s]", path);
}

/* Safe: an empty directory (a cgroup, if it works), removed at once. */
static void
try_mkdir_cgroup (Result *r)
{
  int ret = mkdir ("/sys/fs/cgroup/moat-hostile", 0755);
  judge (r, ret, denied_path);
  if (ret == 0)
    rmdir ("/sys/fs/cgroup/moat-hostile");
}

/* Masked means: not there, not openable, or bound to /dev/null (empty). Safe: reads 64
 * bytes. */
static void
try_read_kcore (Result *r)
{
  char buf[64];
  struct stat st;

  int fd = open ("/proc/kcore", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      judge (r, -1, denied_path);
      return;
    }
  ssize_t n = read (fd, buf, sizeof buf);
  if (n > 0)
    verdict (r, false, "SUCCEEDED (read %zd bytes)", n);
  else if (n == 0)
    verdict (r, true, "refused (masked: reads empty%s)",
             fstat (fd, &st) == 0 && S_ISCHR (st.st_mode) ? ", a character device" : "");
  else
    judge_step (r, -1, denied, "read");
  close (fd);
}

/* O_NONBLOCK and O_NOCTTY so a serial port neither hangs nor becomes our terminal. Safe:
 * opened read-only, nothing read. */
static void
try_open_device (Result *r)
{
  int fd = open (opt.device, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  judge_fd (r, fd, denied_path);
}

/* A device node we make ourselves; the device cgroup and the lack of CAP_MKNOD must stop it.
 * Safe: 1:3 is /dev/null, and the node is removed at once. */
static void
try_mknod (Result *r)
{
  char path[PATH_MAX];

  scratch_path (path, sizeof path, "null");
  if (mknod (path, S_IFCHR | 0600, makedev (1, 3)) < 0)
    {
      judge (r, -1, denied);
      return;
    }
  int fd = open (path, O_RDWR | O_CLOEXEC);
  verdict (r, false, "SUCCEEDED (and the node %s)", fd >= 0 ? "opens" : errname (errno));
  if (fd >= 0)
    close (fd);
  unlink (path);
}

/* Another sandbox's data must not even be visible: only ENOENT refuses. Safe: reads. */
static void
try_other_data (Result *r)
{
  struct stat st;
  char buf[64];

  if (!opt.other_data)
    {
      skip (r, "no --other-data given");
      return;
    }
  if (stat (opt.other_data, &st) < 0)
    {
      /* Any other error means some of the path is there. */
      if (errno == ENOENT)
        verdict (r, true, "refused (ENOENT: not visible)");
      else
        verdict (r, false, "visible (stat: %s)", errname (errno));
      return;
    }
  int fd = open (opt.other_data, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    {
      verdict (r, false, "visible (open: %s)", errname (errno));
      return;
    }
  ssize_t n = S_ISDIR (st.st_mode) ? syscall (SYS_getdents64, fd, buf, sizeof buf)
                                   : read (fd, buf, sizeof buf);
  if (n >= 0)
    verdict (r, false, "SUCCEEDED (read %zd bytes)", n);
  else
    verdict (r, false, "visible (read: %s)", errname (errno));
  close (fd);
}

/* In a user namespace a setuid bit is no escape by itself; it matters if it sticks on a mount
 * that honours it. Refused: chmod fails, the bit is dropped, or the mount is nosuid. Safe: an
 * empty file (nothing to execute), removed at once. */
static void
try_setuid_in (Result *r, const char *dir)
{
  char path[PATH_MAX];
  struct stat st;
  struct statvfs sv;

  snprintf (path, sizeof path, "%s/hostile-suid.%d", dir, (int)getpid ());
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  if (fd < 0)
    {
      judge_step (r, -1, denied_path, "create");
      return;
    }
  close (fd);
  if (chmod (path, 04755) < 0)
    judge_step (r, -1, denied, "chmod");
  else if (stat (path, &st) < 0 || statvfs (path, &sv) < 0)
    verdict (r, false, "cannot test: stat %s: %s", path, errname (errno));
  else if (!(st.st_mode & S_ISUID))
    verdict (r, true, "refused (setuid bit dropped)");
  else if (sv.f_flag & ST_NOSUID)
    verdict (r, true, "refused (bit kept, but %s is mounted nosuid)", dir);
  else
    verdict (r, false, "SUCCEEDED (setuid bit kept on a mount without nosuid)");
  unlink (path);
}

static void
try_setuid_tmp (Result *r)
{
  try_setuid_in (r, "/tmp");
}

static void
try_setuid_data (Result *r)
{
  try_setuid_in (r, "/data");
}

/* --- privileges and the machine -------------------------------------------------------- */

/* Safe: in the attempt's child; raising a capability one already holds changes nothing. */
static void
try_capset (Result *r)
{
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

  if (syscall (SYS_capget, &header, data) < 0)
    {
      verdict (r, false, "cannot test: capget: %s", errname (errno));
      return;
    }
  data[CAP_TO_INDEX (CAP_SYS_ADMIN)].effective |= CAP_TO_MASK (CAP_SYS_ADMIN);
  data[CAP_TO_INDEX (CAP_SYS_ADMIN)].permitted |= CAP_TO_MASK (CAP_SYS_ADMIN);
  judge (r, syscall (SYS_capset, &header, data), denied);
}

/* Safe: CAD_OFF makes Ctrl-Alt-Del signal init instead of rebooting at once, which systemd
 * sets at boot anyway; in a pid namespace the kernel answers EINVAL. */
static void
try_reboot (Result *r)
{
  judge (r,
         syscall (SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF,
                  NULL),
         denied);
}

/* Safe: an empty file is no swap area; past the permission check the kernel says EINVAL. */
static void
try_swapon (Result *r)
{
  char path[PATH_MAX];

  if (!scratch_file (r, path, sizeof path, "swap"))
    return;
  judge (r, swapon (path, 0), denied);
  unlink (path);
}

/* Safe: sets the kernel's timezone to the value it already has; the clock is not touched. */
static void
try_settimeofday (Result *r)
{
  struct timeval tv;
  struct timezone tz;

  if (syscall (SYS_gettimeofday, &tv, &tz) < 0)
    {
      verdict (r, false, "cannot test: gettimeofday: %s", errname (errno));
      return;
    }
  judge (r, syscall (SYS_settimeofday, NULL, &tz), denied);
}

/* The kernel validates the time before it checks permission, so only a valid time proves
 * anything. Safe: the clock is set to the time just read, a step of a few microseconds. */
static void
try_clock_settime (Result *r)
{
  struct timespec now;

  clock_gettime (CLOCK_REALTIME, &now);
  judge (r, clock_settime (CLOCK_REALTIME, &now), denied);
}

/* Safe: a directory cannot be an accounting file; past the permission check, EISDIR. */
static void
try_acct (Result *r)
{
  judge (r, acct (scratch), denied);
}

/* The "shocker" escape opened host files by handle. Safe: the handle names our own scratch
 * file (or nothing, when name_to_handle_at is itself refused: then ESTALE past the check). */
static void
try_open_by_handle_at (Result *r)
{
  char path[PATH_MAX];
  int mount_id;

  struct file_handle *handle = calloc (1, sizeof *handle + MAX_HANDLE_SZ);
  if (!handle)
    {
      verdict (r, false, "cannot test: out of memory");
      return;
    }
  if (!scratch_file (r, path, sizeof path, "handle"))
    {
      free (handle);
      return;
    }
  handle->handle_bytes = MAX_HANDLE_SZ;
  if (name_to_handle_at (AT_FDCWD, path, handle, &mount_id, 0) < 0)
    {
      handle->handle_bytes = 8;
      handle->handle_type = 1; /* FILEID_INO32_GEN */
    }
  int mount_fd = open (scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount_fd < 0)
    verdict (r, false, "cannot test: open %s: %s", scratch, errname (errno));
  else
    judge_fd (r, open_by_handle_at (mount_fd, handle, O_RDONLY | O_CLOEXEC), denied);
  if (mount_fd >= 0)
    close (mount_fd);
  unlink (path);
  free (handle);
}

/* --- the list ----------------------------------------------------------------------------- */

static char device_name[PATH_MAX + 32];
static char other_data_name[PATH_MAX + 32];

static Attempt attempts[] = {
  { "mount tmpfs", try_mount_tmpfs },
  { "fsopen tmpfs", try_fsopen },
  { "open_tree OPEN_TREE_CLONE of /", try_open_tree_clone },
  { "umount2 /proc (MNT_EXPIRE)", try_umount_proc },
  { "umount2 a /proc mask", try_umount_mask },
  { "pivot_root", try_pivot_root },
  { "unshare CLONE_NEWUSER", try_unshare_user },
  { "unshare CLONE_NEWNS", try_unshare_mount },
  { "clone CLONE_NEWUSER (raw syscall)", try_clone_user },
  { "clone3 CLONE_NEWNS", try_clone3_mount },
  { "setns into /proc/1/ns/net", try_setns },
  { "chroot", try_chroot },
  { "keyctl KEYCTL_JOIN_SESSION_KEYRING", try_keyctl },
  { "add_key", try_add_key },
  { "request_key", try_request_key },
  { "ptrace PTRACE_ATTACH own child", try_ptrace_child },
  { "ptrace PTRACE_SEIZE --victim-pid", try_ptrace_victim },
  { "process_vm_readv own child", try_process_vm_readv },
  { "kexec_load", try_kexec_load },
  { "kexec_file_load", try_kexec_file_load },
  { "init_module (junk)", try_init_module },
  { "finit_module (junk)", try_finit_module },
  { "delete_module", try_delete_module },
  { "bpf BPF_PROG_LOAD socket filter", try_bpf_prog_load },
  { "perf_event_open", try_perf_event_open },
  { "userfaultfd", try_userfaultfd },
  { "io_uring_setup", try_io_uring_setup },
  { "ioperm", try_ioperm },
  { "syslog READ_ALL", try_syslog },
  { "socket AF_ALG", try_socket_alg },
  { "socket AF_VSOCK", try_socket_vsock },
  { "socket AF_PACKET", try_socket_packet },
  { "socket AF_INET SOCK_RAW", try_socket_raw },
  { "route to 192.0.2.1", try_route_v4 },
  { "route to 2001:db8::1", try_route_v6 },
  { "create a file in /", try_create_root },
  { "create a file in /usr/bin", try_create_usr },
  { "create a file in /etc", try_create_etc },
  { "open /proc/sysrq-trigger for writing", try_sysrq },
  { "open /proc/sys/kernel/core_pattern for writing", try_core_pattern },
  { "open a /sys attribute for writing", try_sys_attribute },
  { "mkdir in /sys/fs/cgroup", try_mkdir_cgroup },
  { "read /proc/kcore", try_read_kcore },
  { device_name, try_open_device },
  { "mknod char 1:3 in /tmp", try_mknod },
  { other_data_name, try_other_data },
  { "setuid file in /tmp", try_setuid_tmp },
  { "setuid file in /data", try_setuid_data },
  { "capset CAP_SYS_ADMIN", try_capset },
  { "reboot LINUX_REBOOT_CMD_CAD_OFF", try_reboot },
  { "swapon", try_swapon },
  { "settimeofday (timezone only)", try_settimeofday },
  { "clock_settime CLOCK_REALTIME", try_clock_settime },
  { "acct", try_acct },
  { "open_by_handle_at", try_open_by_handle_at },
};

/* --- running ------------------------------------------------------------------------------ */

static ssize_t
read_full (int fd, void *buf, size_t size)
{
  size_t done = 0;

  while (done < size)
    {
      ssize_t n = read (fd, (char *)buf + done, size - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? -1 : (ssize_t)done;
      done += n;
    }
  return done;
}

/* Run A in a forked child, so whatever it changes (a namespace, a root, a keyring) dies with
 * the child, and a seccomp filter that kills instead of failing shows as SIGSYS. */
static Result
run (const Attempt *a)
{
  Result r = { 0 };
  int fds[2];
  int status = 0;

  if (pipe2 (fds, O_CLOEXEC) < 0)
    {
      verdict (&r, false, "cannot test: pipe: %s", errname (errno));
      return r;
    }
  fflush (stdout);
  pid_t pid = fork ();
  if (pid < 0)
    {
      verdict (&r, false, "cannot test: fork: %s", errname (errno));
      close (fds[0]);
      close (fds[1]);
      return r;
    }
  if (pid == 0)
    {
      close (fds[0]);
      alarm (20);
      a->fn (&r);
      _exit (write (fds[1], &r, sizeof r) == sizeof r ? 0 : 1);
    }
  close (fds[1]);
  ssize_t n = read_full (fds[0], &r, sizeof r);
  close (fds[0]);
  waitpid (pid, &status, 0);
  if (n == (ssize_t)sizeof r)
    return r;
  memset (&r, 0, sizeof r);
  if (WIFSIGNALED (status) && WTERMSIG (status) == SIGSYS)
    verdict (&r, true, "refused (killed by SIGSYS)");
  else if (WIFSIGNALED (status))
    verdict (&r, false, "attempt died (SIG%s)", sigabbrev_np (WTERMSIG (status)));
  else
    verdict (&r, false, "attempt gave no result (exit %d)", WEXITSTATUS (status));
  return r;
}

static void
usage (FILE *out)
{
  fprintf (out, "usage: hostile [--other-data PATH] [--undeclared-device PATH] "
                "[--victim-pid PID]\n");
}

static bool
parse_args (int argc, char **argv)
{
  static const struct option options[] = {
    { "other-data", required_argument, NULL, 'o' },
    { "undeclared-device", required_argument, NULL, 'd' },
    { "victim-pid", required_argument, NULL, 'p' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  char *end;
  long pid;
  int c;

  while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1)
    switch (c)
      {
      case 'o':
        opt.other_data = optarg;
        break;
      case 'd':
        opt.device = optarg;
        break;
      case 'p':
        errno = 0;
        pid = strtol (optarg, &end, 10);
        if (errno || *end || end == optarg || pid <= 0 || pid > INT_MAX)
          {
            fprintf (stderr, "hostile: --victim-pid: not a pid: '%s'\n", optarg);
            return false;
          }
        opt.victim = pid;
        break;
      case 'h':
        usage (stdout);
        exit (0);
      default:
        usage (stderr);
        return false;
      }
  if (optind < argc)
    {
      fprintf (stderr, "hostile: unexpected argument '%s'\n", argv[optind]);
      usage (stderr);
      return false;
    }
  return true;
}

int
main (int argc, char **argv)
{
  size_t count = sizeof attempts / sizeof attempts[0];
  int escapes = 0;

  if (!parse_args (argc, argv))
    return 2;
  setvbuf (stdout, NULL, _IOLBF, 0);
  snprintf (device_name, sizeof device_name, "open undeclared device %s", opt.device);
  snprintf (other_data_name, sizeof other_data_name, "read other sandbox's data %s",
            opt.other_data ? opt.other_data : "(none)");

  printf ("1..%zu\n", count);
  if (!mkdtemp (scratch))
    {
      printf ("Bail out! cannot create a scratch directory in /tmp: %s\n", errname (errno));
      return 1;
    }
  for (size_t i = 0; i < count; i++)
    {
      Result r = run (&attempts[i]);
      if (r.skipped)
        printf ("ok %zu - %s # SKIP %s\n", i + 1, attempts[i].name, r.text);
      else
        printf ("%s %zu - %s: %s\n", r.refused ? "ok" : "not ok", i + 1, attempts[i].name, r.text);
      escapes += !r.refused;
    }
  if (rmdir (scratch) < 0)
    printf ("# could not remove %s: %s\n", scratch, errname (errno));
  printf ("# %d of %zu attempts not refused\n", escapes, count);
  return escapes ? 1 : 0;
}
