/* moatd's own implementation of systemd's notify and journal protocols, checked against
 * sockets the test listens on. */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "sd.h"

static int
listen_at (const char *path, int type)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  int fd = socket (AF_UNIX, type | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  if (type == SOCK_STREAM)
    g_assert_cmpint (listen (fd, 1), ==, 0);
  return fd;
}

static void
test_notify_sends_state (void)
{
  g_autofree char *dir = g_dir_make_tmp ("moat-sd-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "notify", NULL);
  int fd = listen_at (path, SOCK_DGRAM);
  g_setenv ("NOTIFY_SOCKET", path, TRUE);
  g_autoptr (GError) error = NULL;
  g_assert_true (moat_sd_notify ("READY=1\nSTATUS=ok", &error));
  g_assert_no_error (error);
  char buf[64] = { 0 };
  g_assert_cmpint (recv (fd, buf, sizeof buf - 1, 0), ==, 17);
  g_assert_cmpstr (buf, ==, "READY=1\nSTATUS=ok");
  g_unsetenv ("NOTIFY_SOCKET");
  g_assert_false (moat_sd_notify ("READY=1", NULL));
  close (fd);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_watchdog_only_for_us (void)
{
  guint64 usec = 0;
  g_unsetenv ("WATCHDOG_USEC");
  g_assert_false (moat_sd_watchdog_usec (&usec));
  g_setenv ("WATCHDOG_USEC", "30000000", TRUE);
  g_unsetenv ("WATCHDOG_PID");
  g_assert_true (moat_sd_watchdog_usec (&usec));
  g_assert_cmpuint (usec, ==, 30000000);
  g_setenv ("WATCHDOG_PID", "1", TRUE);
  g_assert_false (moat_sd_watchdog_usec (&usec));
  g_autofree char *self = g_strdup_printf ("%d", (int)getpid ());
  g_setenv ("WATCHDOG_PID", self, TRUE);
  g_assert_true (moat_sd_watchdog_usec (&usec));
  g_setenv ("WATCHDOG_USEC", "soon", TRUE);
  g_assert_false (moat_sd_watchdog_usec (&usec));
}

static void
test_journal_stream_header (void)
{
  g_autofree char *dir = g_dir_make_tmp ("moat-sd-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "stdout", NULL);
  int listener = listen_at (path, SOCK_STREAM);
  int fd = moat_journal_stream_fd (path, "thermostat", LOG_INFO, NULL);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "hello\n", 6), ==, 6);
  close (fd);
  int peer = accept (listener, NULL, NULL);
  char buf[128] = { 0 };
  gsize got = 0;
  ssize_t n;
  while ((n = read (peer, buf + got, sizeof buf - 1 - got)) > 0)
    got += (gsize)n;
  g_assert_cmpstr (buf, ==, "thermostat\n\n6\n0\n0\n0\n0\nhello\n");
  close (peer);
  close (listener);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_journal_send_fields (void)
{
  g_autofree char *dir = g_dir_make_tmp ("moat-sd-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "socket", NULL);
  int fd = listen_at (path, SOCK_DGRAM);
  g_assert_true (moat_journal_send (path, LOG_WARNING, "moatd", "broker", "two\nlines", NULL));
  guint8 buf[512];
  ssize_t n = recv (fd, buf, sizeof buf, 0);
  g_assert_cmpint (n, >, 0);
  /* MESSAGE in binary form: name, newline, 8-byte little-endian length, value, newline. */
  g_assert_cmpint (memcmp (buf, "MESSAGE\n\x09\0\0\0\0\0\0\0two\nlines\n", 26), ==, 0);
  g_assert_nonnull (memmem (buf, n, "MOAT_SANDBOX\n", 13));
  g_assert_nonnull (memmem (buf, n, "broker", 6));
  close (fd);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sd/notify-sends-state", test_notify_sends_state);
  g_test_add_func ("/sd/watchdog-only-for-us", test_watchdog_only_for_us);
  g_test_add_func ("/sd/journal-stream-header", test_journal_stream_header);
  g_test_add_func ("/sd/journal-send-fields", test_journal_send_fields);
  return g_test_run ();
}
