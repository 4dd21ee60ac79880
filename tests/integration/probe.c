/* probe: prints the confinement of the sandbox it runs in, one "key=value" line each, for the
 * integration tests to assert on.
 *
 * Values the kernel reports are printed as it reports them (seccomp=2, cap_eff in hex,
 * no_new_privs=1); what the probe finds out itself is "yes" or "no"; a value it could not
 * get is "error:ENAME". It only reads, except for one file it creates and removes in /data
 * and in /tmp. Exit status 0 unless stdout fails.
 */

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static const char *
errname (int err)
{
  const char *name = strerrorname_np (err);
  return name ? name : "E?";
}

static void
print_error (const char *key, int err)
{
  printf ("%s=error:%s\n", key, errname (err));
}

static const char *
yes_no (bool value)
{
  return value ? "yes" : "no";
}

/* The first line of PATH, without its newline, into BUF. */
static bool
read_line (const char *path, char *buf, size_t size, int *ret_errno)
{
  FILE *f = fopen (path, "re");
  if (!f)
    {
      *ret_errno = errno;
      return false;
    }
  bool ok = fgets (buf, size, f) != NULL;
  *ret_errno = ok ? 0 : (ferror (f) ? errno : 0);
  fclose (f);
  if (!ok)
    buf[0] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
  return true;
}

/* Print the /proc/self/status fields we care about under our own names, in this order. */
static void
print_status (void)
{
  static const struct
  {
    const char *field; /* with the colon */
    const char *key;
  } fields[] = {
    { "Seccomp:", "seccomp" }, { "NoNewPrivs:", "no_new_privs" }, { "CapEff:", "cap_eff" },
    { "CapPrm:", "cap_prm" },  { "CapBnd:", "cap_bnd" },          { "CapAmb:", "cap_amb" },
    { "CapInh:", "cap_inh" },
  };
  enum
  {
    N_FIELDS = sizeof fields / sizeof fields[0]
  };
  char line[256];
  char values[N_FIELDS][64] = { { 0 } };
  int err = 0;

  FILE *f = fopen ("/proc/self/status", "re");
  if (!f)
    err = errno;
  while (f && fgets (line, sizeof line, f))
    for (size_t i = 0; i < N_FIELDS; i++)
      {
        size_t len = strlen (fields[i].field);
        if (strncmp (line, fields[i].field, len) != 0)
          continue;
        char *value = line + len + strspn (line + len, " \t");
        value[strcspn (value, "\n")] = '\0';
        snprintf (values[i], sizeof values[i], "%s", value);
      }
  if (f)
    fclose (f);
  for (size_t i = 0; i < N_FIELDS; i++)
    if (err)
      print_error (fields[i].key, err);
    else
      printf ("%s=%s\n", fields[i].key, values[i][0] ? values[i] : "absent");
}

/* The first line of a uid_map or gid_map as "inside outside count". */
static void
print_id_map (const char *key, const char *path)
{
  char line[256], normal[256];
  unsigned long inside, outside, count;
  int err;

  if (!read_line (path, line, sizeof line, &err))
    {
      print_error (key, err);
      return;
    }
  if (sscanf (line, "%lu %lu %lu", &inside, &outside, &count) != 3)
    {
      printf ("%s=none\n", key);
      return;
    }
  snprintf (normal, sizeof normal, "%lu %lu %lu", inside, outside, count);
  printf ("%s=%s\n", key, normal);
}

/* Whether a file can be created (and is then removed) in DIR. */
static void
print_writable (const char *key, const char *dir)
{
  char path[256];

  snprintf (path, sizeof path, "%s/.probe", dir);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  printf ("%s=%s\n", key, yes_no (fd >= 0));
  if (fd >= 0)
    {
      close (fd);
      unlink (path);
    }
}

/* Mount flag FLAG of the mount holding PATH. */
static void
print_mount_flag (const char *key, const char *path, unsigned long flag)
{
  struct statvfs sv;

  if (statvfs (path, &sv) < 0)
    {
      print_error (key, errno);
      return;
    }
  printf ("%s=%s\n", key, yes_no (sv.f_flag & flag));
}

/* Masked: absent, unopenable, or bound to /dev/null so that it reads empty. */
static void
print_kcore_masked (void)
{
  char byte;

  int fd = open ("/proc/kcore", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      printf ("kcore_masked=yes\n");
      return;
    }
  printf ("kcore_masked=%s\n", yes_no (read (fd, &byte, 1) <= 0));
  close (fd);
}

/* Read-only: on a read-only mount, or absent (a kernel without magic SysRq). */
static void
print_sysrq_readonly (void)
{
  struct statvfs sv;

  if (statvfs ("/proc/sysrq-trigger", &sv) < 0)
    {
      if (errno == ENOENT)
        printf ("sysrq_readonly=yes\n");
      else
        print_error ("sysrq_readonly", errno);
      return;
    }
  printf ("sysrq_readonly=%s\n", yes_no (sv.f_flag & ST_RDONLY));
}

/* Interface names in index order, comma-separated. */
static void
print_net_interfaces (void)
{
  struct if_nameindex *list = if_nameindex ();

  if (!list)
    {
      print_error ("net_interfaces", errno);
      return;
    }
  printf ("net_interfaces=");
  for (struct if_nameindex *i = list; i->if_index; i++)
    printf ("%s%s", i == list ? "" : ",", i->if_name);
  printf ("\n");
  if_freenameindex (list);
}

static void
print_hostname (void)
{
  char name[256];

  if (gethostname (name, sizeof name) < 0)
    {
      print_error ("hostname", errno);
      return;
    }
  name[sizeof name - 1] = '\0';
  printf ("hostname=%s\n", name);
}

/* The process's LSM label; "none" where no LSM provides one (EINVAL) or it is empty. */
static void
print_selinux (void)
{
  char label[4096];

  int fd = open ("/proc/self/attr/current", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read (fd, label, sizeof label - 1);
  int err = errno;
  if (fd >= 0)
    close (fd);
  if (n < 0 && err != EINVAL && err != ENOENT)
    {
      print_error ("selinux", err);
      return;
    }
  if (n < 0)
    n = 0;
  label[n] = '\0';
  label[strcspn (label, "\n")] = '\0';
  printf ("selinux=%s\n", label[0] ? label : "none");
}

int
main (void)
{
  print_status ();
  printf ("uid=%d\ngid=%d\n", (int)getuid (), (int)getgid ());
  print_id_map ("uid_map", "/proc/self/uid_map");
  print_id_map ("gid_map", "/proc/self/gid_map");
  print_mount_flag ("root_readonly", "/", ST_RDONLY);
  print_writable ("data_writable", "/data");
  print_writable ("tmp_writable", "/tmp");
  print_mount_flag ("data_nosuid", "/data", ST_NOSUID);
  print_mount_flag ("tmp_nosuid", "/tmp", ST_NOSUID);
  print_kcore_masked ();
  print_sysrq_readonly ();
  print_net_interfaces ();
  print_hostname ();
  printf ("pid=%d\n", (int)getpid ());
  print_selinux ();
  return fflush (stdout) == 0 && !ferror (stdout) ? 0 : 1;
}
