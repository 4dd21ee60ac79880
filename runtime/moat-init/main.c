/* moat-init: the first program of a systemd-nspawn sandbox, so that it gets the seccomp
 * floor crun sandboxes get. moatd exports the filter with moat_seccomp_export_bpf(), binds
 * it and this static binary read-only into the sandbox, and nspawn runs
 *
 *   moat-init --seccomp BPF_FILE [--uid N] [--gid N] [--keep-caps] -- COMMAND [ARGS...]
 *
 * which confines itself and then becomes COMMAND. Plain libc, linked statically: it runs in
 * any root filesystem and needs no library from the sandbox.
 *
 * Why each step is safe:
 * - moat-init is not setuid and has no file capabilities. It runs with what nspawn already
 *   gave the sandbox (its user namespace, no or few capabilities) and only ever gives
 *   something up; nothing it does widens what the caller had.
 * - It reads one file, named by its caller (moatd binds it read-only), into a fixed buffer:
 *   a regular file, non-empty, a whole number of BPF instructions and at most BPF_MAXINSNS
 *   of them. The kernel checks the program itself when it is loaded; a bad one fails the
 *   load and the command never runs.
 * - PR_SET_NO_NEW_PRIVS cannot be undone: from here on no exec (setuid binary, file
 *   capabilities, SELinux transition to a wider domain) can add privileges.
 * - Ambient capabilities are cleared, every capability still in the bounding set is dropped,
 *   and capset() empties the effective, permitted and inheritable sets. All of these only
 *   remove. Dropping from the bounding set needs CAP_SETPCAP: when nspawn already emptied the
 *   set (--drop-capability=all) there is nothing to drop and nothing is needed.
 * - setgroups(0)/setgid/setuid move to ids of the sandbox's own user namespace; the kernel
 *   lets them reach only mapped ids, and they need CAP_SETGID/CAP_SETUID, so they fail (and
 *   moat-init with them) rather than do something unexpected.
 * - --keep-caps skips the three capability steps, for a sandbox whose manifest was granted
 *   capabilities (nspawn's --capability= already bounds them). A change of uid away from 0
 *   still clears them, as the kernel does for any process.
 * - The filter is loaded last, with SECCOMP_FILTER_FLAG_TSYNC (moot in this single-threaded
 *   program, but it makes "every thread" explicit), so none of the steps above depends on it.
 *   Filters only restrict, and a process can never remove one.
 * - Any failure is reported on stderr, naming what failed, and ends with exit status 127
 *   before exec: the command never runs unconfined.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define EXIT_SETUP_FAILED 127

static const char usage[] = "usage: moat-init --seccomp BPF_FILE [--uid N] [--gid N] [--keep-caps]"
                            " -- COMMAND [ARGS...]";

static struct sock_filter filter[BPF_MAXINSNS];

static void die(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_errno(const char *verb, const char *object) __attribute__((noreturn));

static void
die(const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  fputs("moat-init: ", stderr);
  vfprintf(stderr, format, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(EXIT_SETUP_FAILED);
}

/* "VERB 'OBJECT': strerror (errno)" and exit. */
static void
die_errno(const char *verb, const char *object)
{
  die("%s '%s': %s", verb, object, strerror(errno));
}

/* A uid or gid: decimal digits only, not the reserved (uid_t) -1. */
static unsigned int
parse_id(const char *option, const char *text)
{
  if (text == NULL)
    die("%s needs a value\n%s", option, usage);
  char *end = NULL;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || value >= UINT_MAX)
    die("%s '%s': not a uid/gid (0..%u)", option, text, UINT_MAX - 1);
  return (unsigned int)value;
}

/* Read the raw BPF program at PATH into `filter`; returns the number of instructions. */
static unsigned short
read_filter(const char *path)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    die_errno("open", path);
  struct stat st;
  if (fstat(fd, &st) != 0)
    die_errno("stat", path);
  if (!S_ISREG(st.st_mode))
    die("read '%s': not a regular file", path);
  if (st.st_size <= 0 || st.st_size > (off_t)sizeof filter
      || st.st_size % sizeof(struct sock_filter) != 0)
    die("read '%s': %lld bytes is not a BPF program (1 to %d instructions of %zu bytes)", path,
        (long long)st.st_size, BPF_MAXINSNS, sizeof(struct sock_filter));

  size_t len = 0;
  while (len < (size_t)st.st_size)
    {
      ssize_t n = read(fd, (char *)filter + len, (size_t)st.st_size - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die_errno("read", path);
      if (n == 0)
        die("read '%s': file shrank while being read", path);
      len += (size_t)n;
    }
  close(fd);
  return (unsigned short)(len / sizeof(struct sock_filter));
}

static void
drop_capabilities(void)
{
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    die("clear ambient capabilities: %s", strerror(errno));

  /* Up to the kernel's last capability, which answers EINVAL past it. */
  for (unsigned long cap = 0;; cap++)
    {
      int in_set = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
      if (in_set < 0 && errno == EINVAL)
        break;
      if (in_set < 0)
        die("read capability %lu of the bounding set: %s", cap, strerror(errno));
      if (in_set == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
        die("drop capability %lu from the bounding set: %s", cap, strerror(errno));
    }
}

/* Effective, permitted and inheritable sets: all empty. */
static void
clear_capability_sets(void)
{
  struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) != 0)
    die("capset (clear all capability sets): %s", strerror(errno));
}

static void
change_ids(bool set_gid, gid_t gid, bool set_uid, uid_t uid)
{
  if (!set_gid && !set_uid)
    return;
  /* No supplementary groups carried over from the caller. */
  if (setgroups(0, NULL) != 0)
    die("setgroups (no supplementary groups): %s", strerror(errno));
  char text[16];
  if (set_gid && setresgid(gid, gid, gid) != 0)
    {
      snprintf(text, sizeof text, "%u", (unsigned int)gid);
      die_errno("setgid", text);
    }
  if (set_uid && setresuid(uid, uid, uid) != 0)
    {
      snprintf(text, sizeof text, "%u", (unsigned int)uid);
      die_errno("setuid", text);
    }
}

int
main(int argc, char **argv)
{
  const char *bpf_path = NULL;
  bool set_uid = false, set_gid = false, keep_caps = false;
  uid_t uid = 0;
  gid_t gid = 0;
  int i = 1;

  for (; i < argc && strcmp(argv[i], "--") != 0; i++)
    {
      /* argv[argc] is NULL, so argv[++i] is safe: a missing value reads as NULL */
      if (strcmp(argv[i], "--seccomp") == 0)
        bpf_path = argv[++i];
      else if (strcmp(argv[i], "--uid") == 0)
        {
          uid = parse_id("--uid", argv[++i]);
          set_uid = true;
        }
      else if (strcmp(argv[i], "--gid") == 0)
        {
          gid = parse_id("--gid", argv[++i]);
          set_gid = true;
        }
      else if (strcmp(argv[i], "--keep-caps") == 0)
        keep_caps = true;
      else
        die("unknown option '%s'\n%s", argv[i], usage);
    }
  if (bpf_path == NULL)
    die("--seccomp BPF_FILE is required\n%s", usage);
  if (i + 1 >= argc)
    die("no command after '--'\n%s", usage);
  char **command = &argv[i + 1];

  struct sock_fprog prog = { .len = read_filter(bpf_path), .filter = filter };

  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    die_errno("prctl", "PR_SET_NO_NEW_PRIVS");
  if (!keep_caps)
    drop_capabilities();
  change_ids(set_gid, gid, set_uid, uid);
  if (!keep_caps)
    clear_capability_sets();
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    die_errno("load seccomp filter", bpf_path);

  execvp(command[0], command);
  die_errno("exec", command[0]);
}
