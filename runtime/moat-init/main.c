/* moat-init: the first program of a systemd-nspawn sandbox, so that it gets the floor crun
 * sandboxes get. moatd exports the seccomp filter with moat_seccomp_export_bpf(), binds it and
 * this static binary read-only into the sandbox, and nspawn runs
 *
 *   moat-init --seccomp BPF_FILE [--unmount PATH]... [--net IFNAME ADDRESS GATEWAY]
 *             [--keep-cap N]... [--uid N] [--gid N] [--exec-label LABEL] -- COMMAND [ARGS...]
 *
 * which confines itself and then becomes COMMAND. Plain libc, linked statically: it runs in
 * any root filesystem and needs no library from the sandbox, and it reads nothing from the
 * image before the exec. When nspawn starts it, nothing of the sandbox has run yet.
 *
 * Why each step is safe:
 * - moat-init is not setuid and has no file capabilities. It runs with what its caller gave
 *   it: under nspawn, the sandbox's own user namespace and, in that namespace only,
 *   CAP_SYS_ADMIN and CAP_SETPCAP (plus CAP_SETUID/CAP_SETGID for a non-root user and the
 *   manifest's named capabilities); for moatd's health checks, which nsenter a running
 *   sandbox, every capability of that namespace, without --unmount (nspawn's moat-init has
 *   already unmounted in the same mount namespace). It only ever gives something up; nothing
 *   it does widens what the caller had.
 * - It reads one file, named by its caller (moatd binds it read-only), into a fixed buffer:
 *   a regular file, non-empty, a whole number of BPF instructions and at most BPF_MAXINSNS
 *   of them. The kernel checks the program itself when it is loaded; a bad one fails the
 *   load and the command never runs.
 * - --unmount detaches the mounts at PATH and everything below them (nspawn mounts the cgroup
 *   file system writable at /sys/fs/cgroup, and no nspawn option turns that off), then fails
 *   unless PATH lies on a read-only mount and no mount at or below it is writable, as the
 *   kernel's /proc/self/mountinfo lists them (a mount it could not detach included). It is
 *   the one use of CAP_SYS_ADMIN, which holds only over the sandbox's own mount namespace:
 *   an unmount there can only take something away from the sandbox.
 * - --net (a sandbox with [Network] flows) gives IFNAME, the veth end nspawn moved into the
 *   sandbox's own network namespace, ADDRESS/32 and routes through GATEWAY, with
 *   CAP_NET_ADMIN, which nspawn gave it for this alone and which is dropped with the rest
 *   below. It holds only over that namespace, whose one other interface is lo; what the
 *   sandbox may reach is decided on the hub (moatd's nftables table), not here.
 * - PR_SET_NO_NEW_PRIVS cannot be undone: from here on no exec (setuid binary, file
 *   capabilities, SELinux transition to a wider domain) can add privileges.
 * - Ambient capabilities are cleared and every capability not named by --keep-cap is dropped
 *   from the bounding set (this needs CAP_SETPCAP, dropped with the rest). All of it only
 *   removes. moatd names only the manifest's capabilities, from a short list that has
 *   neither CAP_SYS_ADMIN nor CAP_SETPCAP, so those two never reach COMMAND.
 * - setgroups(0)/setgid/setuid move to ids of the sandbox's own user namespace; the kernel
 *   lets them reach only mapped ids, and they need CAP_SETGID/CAP_SETUID, so they fail (and
 *   moat-init with them) rather than do something unexpected. The switch away from uid 0
 *   clears every capability, so --keep-cap and a non-zero --uid are refused together.
 * - capset() then sets the effective, permitted and inheritable sets to exactly the kept
 *   capabilities (it can only lower them; asking for one the sandbox lacks fails), and the
 *   result is read back: those three and the bounding set must hold exactly those, and the
 *   ambient set nothing, or moat-init fails. An exec as root then gets the kept ones, as
 *   non-root none.
 * - --exec-label (moatd's health checks under SELinux, which nsenter starts in moatd's own
 *   domain) writes LABEL, the sandbox's process label, to /proc/self/attr/exec: the exec of
 *   COMMAND then moves it into the sandbox's domain and category pair, or fails. Under nspawn
 *   the policy makes that move itself (moat_init_t to moat_sandbox_t).
 * - The filter is loaded last, with SECCOMP_FILTER_FLAG_TSYNC (moot in this single-threaded
 *   program, but it makes "every thread" explicit), so none of the steps above depends on it.
 *   Filters only restrict, and a process can never remove one.
 * - Any failure is reported on stderr, naming what failed, and ends with exit status 127
 *   before exec: the command never runs unconfined.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "net.h"

#define EXIT_SETUP_FAILED 127
/* More than moatd ever asks for (one path). */
#define MAX_UNMOUNTS 8
/* Mounts stacked on one path that --unmount takes off before it gives up. */
#define MAX_STACKED_MOUNTS 16

static const char usage[]
    = "usage: moat-init --seccomp BPF_FILE [--unmount PATH]... [--net IFNAME ADDRESS GATEWAY]"
      " [--keep-cap N]... [--uid N] [--gid N] [--exec-label LABEL] -- COMMAND [ARGS...]";

static struct sock_filter filter[BPF_MAXINSNS];

static void die (const char *format, ...) __attribute__ ((noreturn, format (printf, 1, 2)));
static void die_errno (const char *verb, const char *object) __attribute__ ((noreturn));

static void
die (const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  fputs ("moat-init: ", stderr);
  vfprintf (stderr, format, ap);
  fputc ('\n', stderr);
  va_end (ap);
  exit (EXIT_SETUP_FAILED);
}

/* "VERB 'OBJECT': strerror (errno)" and exit. */
static void
die_errno (const char *verb, const char *object)
{
  die ("%s '%s': %s", verb, object, strerror (errno));
}

/* A decimal number below LIMIT: digits only, no sign, no overflow. */
static unsigned long
parse_number (const char *option, const char *text, unsigned long limit, const char *what)
{
  if (text == NULL)
    die ("%s needs a value\n%s", option, usage);
  char *end = NULL;
  errno = 0;
  unsigned long value = strtoul (text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || value >= limit)
    die ("%s '%s': not %s (0..%lu)", option, text, what, limit - 1);
  return value;
}

/* A uid or gid, not the reserved (uid_t) -1. */
static unsigned int
parse_id (const char *option, const char *text)
{
  return (unsigned int)parse_number (option, text, UINT_MAX, "a uid/gid");
}

/* A capability number this kernel knows. */
static uint64_t
parse_capability (const char *text)
{
  unsigned long cap = parse_number ("--keep-cap", text, 64, "a capability number");
  if (prctl (PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
    die ("--keep-cap '%s': not a capability of this kernel: %s", text, strerror (errno));
  return UINT64_C (1) << cap;
}

/* An SELinux context as moatd writes one: printable, no blank, at most 255 bytes. The kernel
 * judges the rest when it is written. */
static const char *
parse_label (const char *text)
{
  if (text == NULL || text[0] == '\0')
    die ("--exec-label needs a value\n%s", usage);
  size_t len = strlen (text);
  if (len > 255)
    die ("--exec-label: longer than 255 bytes");
  for (size_t i = 0; i < len; i++)
    if (text[i] <= ' ' || text[i] > '~')
      die ("--exec-label '%s': not a printable label without blanks", text);
  return text;
}

/* The next exec runs as LABEL (SELinux's /proc/self/attr/exec). */
static void
set_exec_label (const char *label)
{
  const char *path = "/proc/self/attr/exec";
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    die_errno ("open", path);
  size_t len = strlen (label);
  if (write (fd, label, len) != (ssize_t)len)
    die_errno ("write", path);
  close (fd);
}

/* An interface name as moatd makes them: 1 to 15 of a-z, 0-9 and '-'. */
static const char *
parse_ifname (const char *text)
{
  if (text == NULL)
    die ("--net needs IFNAME ADDRESS GATEWAY\n%s", usage);
  size_t len = strlen (text);
  if (len == 0 || len >= IF_NAMESIZE
      || strspn (text, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
    die ("--net '%s': not an interface name", text);
  return text;
}

static struct in_addr
parse_ipv4 (const char *text)
{
  struct in_addr address;
  if (text == NULL)
    die ("--net needs IFNAME ADDRESS GATEWAY\n%s", usage);
  if (inet_pton (AF_INET, text, &address) != 1)
    die ("--net '%s': not an IPv4 address", text);
  return address;
}

static const char *
parse_path (const char *option, const char *text)
{
  if (text == NULL)
    die ("%s needs a value\n%s", option, usage);
  if (text[0] != '/')
    die ("%s '%s': not an absolute path", option, text);
  return text;
}

/* Read the raw BPF program at PATH into `filter`; returns the number of instructions. */
static unsigned short
read_filter (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    die_errno ("open", path);
  struct stat st;
  if (fstat (fd, &st) != 0)
    die_errno ("stat", path);
  if (!S_ISREG (st.st_mode))
    die ("read '%s': not a regular file", path);
  if (st.st_size <= 0 || st.st_size > (off_t)sizeof filter
      || st.st_size % sizeof (struct sock_filter) != 0)
    die ("read '%s': %lld bytes is not a BPF program (1 to %d instructions of %zu bytes)", path,
         (long long)st.st_size, BPF_MAXINSNS, sizeof (struct sock_filter));

  size_t len = 0;
  while (len < (size_t)st.st_size)
    {
      ssize_t n = read (fd, (char *)filter + len, (size_t)st.st_size - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die_errno ("read", path);
      if (n == 0)
        die ("read '%s': file shrank while being read", path);
      len += (size_t)n;
    }
  close (fd);
  return (unsigned short)(len / sizeof (struct sock_filter));
}

/* Undo the octal escapes (\040 for a space, ...) /proc/self/mountinfo writes in a path. */
static void
unescape_mount_point (char *text)
{
  char *out = text;
  for (const char *in = text; *in != '\0'; out++)
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7'
        && in[3] >= '0' && in[3] <= '7')
      {
        *out = (char)((in[1] - '0') << 6 | (in[2] - '0') << 3 | (in[3] - '0'));
        in += 4;
      }
    else
      *out = *in++;
  *out = '\0';
}

/* Fails when any mount at or below PATH, shadowed ones included, is mounted read-write. The
 * kernel writes the list; nothing in the sandbox has run yet to change what it shows. */
static void
check_nothing_writable_below (const char *path)
{
  static const char mountinfo[] = "/proc/self/mountinfo";
  FILE *f = fopen (mountinfo, "re");
  if (f == NULL)
    die_errno ("open", mountinfo);
  size_t len = strlen (path);
  char *line = NULL;
  size_t size = 0;
  while (getline (&line, &size, f) > 0)
    {
      /* ID PARENT MAJOR:MINOR ROOT MOUNT_POINT OPTIONS ... */
      char *save = NULL, *field = strtok_r (line, " ", &save);
      for (int i = 1; i < 5 && field != NULL; i++)
        field = strtok_r (NULL, " ", &save);
      char *options = strtok_r (NULL, " ", &save);
      if (field == NULL || options == NULL)
        die ("read '%s': a line without mount options", mountinfo);
      unescape_mount_point (field);
      bool below = strncmp (field, path, len) == 0 && (field[len] == '\0' || field[len] == '/');
      if (below && strcmp (options, "ro") != 0 && strncmp (options, "ro,", 3) != 0)
        die ("unmount '%s': '%s' is still mounted writable (%s)", path, field, options);
    }
  if (ferror (f))
    die_errno ("read", mountinfo);
  free (line);
  fclose (f);
}

/* Take every mount at PATH off (with what is mounted below it), then insist that nothing
 * writable is left there: no mount at or below PATH is read-write, and PATH itself lies on a
 * read-only mount. umount2 answers EINVAL once PATH is no mount point, or for a mount it may
 * not take off (one nspawn made before the sandbox's mount namespace existed is locked); the
 * checks after the loop decide either way. */
static void
unmount_path (const char *path)
{
  for (int i = 0; i < MAX_STACKED_MOUNTS; i++)
    if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
      {
        if (errno != EINVAL)
          die_errno ("unmount", path);
        break;
      }
  check_nothing_writable_below (path);
  struct statvfs st;
  if (statvfs (path, &st) != 0)
    die_errno ("statvfs", path);
  if ((st.f_flag & ST_RDONLY) == 0)
    die ("unmount '%s': still on a writable mount", path);
}

/* Everything but KEEP out of the bounding set, and no ambient capabilities. */
static void
bound_capabilities (uint64_t keep)
{
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    die ("clear ambient capabilities: %s", strerror (errno));

  /* Up to the kernel's last capability, which answers EINVAL past it. */
  for (unsigned long cap = 0;; cap++)
    {
      int in_set = prctl (PR_CAPBSET_READ, cap, 0, 0, 0);
      if (in_set < 0 && errno == EINVAL)
        break;
      if (in_set < 0)
        die ("read capability %lu of the bounding set: %s", cap, strerror (errno));
      if (in_set == 1 && (cap >= 64 || (keep & UINT64_C (1) << cap) == 0)
          && prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
        die ("drop capability %lu from the bounding set: %s", cap, strerror (errno));
    }
}

static void
change_ids (bool set_gid, gid_t gid, bool set_uid, uid_t uid)
{
  if (!set_gid && !set_uid)
    return;
  /* No supplementary groups carried over from the caller. */
  if (setgroups (0, NULL) != 0)
    die ("setgroups (no supplementary groups): %s", strerror (errno));
  char text[16];
  if (set_gid && setresgid (gid, gid, gid) != 0)
    {
      snprintf (text, sizeof text, "%u", (unsigned int)gid);
      die_errno ("setgid", text);
    }
  if (set_uid && setresuid (uid, uid, uid) != 0)
    {
      snprintf (text, sizeof text, "%u", (unsigned int)uid);
      die_errno ("setuid", text);
    }
}

/* Effective, permitted and inheritable sets: exactly KEEP. */
static void
set_capabilities (uint64_t keep)
{
  struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset (data, 0, sizeof data);
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
    data[i].effective = data[i].permitted = data[i].inheritable = (uint32_t)(keep >> (32 * i));
  if (syscall (SYS_capset, &header, data) != 0)
    die ("capset (keep capabilities %#llx): %s", (unsigned long long)keep, strerror (errno));
}

/* Read back what the steps above left: the effective, permitted, inheritable and bounding
 * sets exactly KEEP, the ambient set empty. */
static void
check_capabilities (uint64_t keep)
{
  struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  if (syscall (SYS_capget, &header, data) != 0)
    die ("capget: %s", strerror (errno));
  uint64_t bounding = 0, ambient = 0;
  for (unsigned long cap = 0; cap < 64; cap++)
    {
      if (prctl (PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
        bounding |= UINT64_C (1) << cap;
      if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1)
        ambient |= UINT64_C (1) << cap;
    }
  uint64_t effective = data[0].effective | (uint64_t)data[1].effective << 32;
  uint64_t permitted = data[0].permitted | (uint64_t)data[1].permitted << 32;
  uint64_t inheritable = data[0].inheritable | (uint64_t)data[1].inheritable << 32;
  if (effective != keep || permitted != keep || inheritable != keep || bounding != keep
      || ambient != 0)
    die ("capabilities are not the ones to keep (%#llx): effective %#llx, permitted %#llx, "
         "inheritable %#llx, bounding %#llx, ambient %#llx",
         (unsigned long long)keep, (unsigned long long)effective, (unsigned long long)permitted,
         (unsigned long long)inheritable, (unsigned long long)bounding,
         (unsigned long long)ambient);
}

int
main (int argc, char **argv)
{
  const char *bpf_path = NULL;
  const char *unmounts[MAX_UNMOUNTS];
  int n_unmounts = 0;
  bool set_uid = false, set_gid = false;
  const char *exec_label = NULL;
  const char *net_ifname = NULL;
  struct in_addr net_address = { 0 }, net_gateway = { 0 };
  uint64_t keep = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  int i = 1;

  for (; i < argc && strcmp (argv[i], "--") != 0; i++)
    {
      /* argv[argc] is NULL, so argv[++i] is safe: a missing value reads as NULL */
      if (strcmp (argv[i], "--seccomp") == 0)
        bpf_path = argv[++i];
      else if (strcmp (argv[i], "--unmount") == 0)
        {
          if (n_unmounts == MAX_UNMOUNTS)
            die ("--unmount: at most %d paths", MAX_UNMOUNTS);
          unmounts[n_unmounts++] = parse_path ("--unmount", argv[++i]);
        }
      else if (strcmp (argv[i], "--net") == 0)
        {
          net_ifname = parse_ifname (argv[++i]);
          net_address = parse_ipv4 (i + 1 < argc ? argv[++i] : NULL);
          net_gateway = parse_ipv4 (i + 1 < argc ? argv[++i] : NULL);
        }
      else if (strcmp (argv[i], "--keep-cap") == 0)
        keep |= parse_capability (argv[++i]);
      else if (strcmp (argv[i], "--uid") == 0)
        {
          uid = parse_id ("--uid", argv[++i]);
          set_uid = true;
        }
      else if (strcmp (argv[i], "--exec-label") == 0)
        exec_label = parse_label (argv[++i]);
      else if (strcmp (argv[i], "--gid") == 0)
        {
          gid = parse_id ("--gid", argv[++i]);
          set_gid = true;
        }
      else
        die ("unknown option '%s'\n%s", argv[i], usage);
    }
  if (bpf_path == NULL)
    die ("--seccomp BPF_FILE is required\n%s", usage);
  if (i + 1 >= argc)
    die ("no command after '--'\n%s", usage);
  /* The kernel clears every capability when the uid changes away from 0. */
  if (keep != 0 && set_uid && uid != 0)
    die ("--keep-cap cannot be combined with a non-root --uid\n%s", usage);
  char **command = &argv[i + 1];

  struct sock_fprog prog = { .len = read_filter (bpf_path), .filter = filter };

  for (int m = 0; m < n_unmounts; m++)
    unmount_path (unmounts[m]);
  const char *failed
      = net_ifname != NULL ? net_configure (net_ifname, net_address, net_gateway) : NULL;
  if (failed != NULL)
    die ("--net %s: %s: %s", net_ifname, failed, strerror (errno));
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    die_errno ("prctl", "PR_SET_NO_NEW_PRIVS");
  bound_capabilities (keep);
  change_ids (set_gid, gid, set_uid, uid);
  set_capabilities (keep);
  check_capabilities (keep);
  if (exec_label != NULL)
    set_exec_label (exec_label);
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    die_errno ("load seccomp filter", bpf_path);

  execvp (command[0], command);
  die_errno ("exec", command[0]);
}
