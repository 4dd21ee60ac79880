/* Sandbox identities: no two slots share a uid range or an MCS pair, and allocation in a state
 * directory hands out the lowest free slot, keeps it, frees it, refuses garbage and never gives
 * the same slot to two processes racing for it. */
#include <errno.h>
#include <glib/gstdio.h>
#include <selinux/selinux.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "identity.h"
#include "moat-error.h"
#include "selinux.h"

typedef struct
{
  char *state_dir;
} Fixture;

static void
make_sandbox_dir (const char *state_dir, const char *name)
{
  g_autofree char *path = g_build_filename (state_dir, "sandboxes", name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  fixture->state_dir = g_dir_make_tmp ("moat-identity-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *sandboxes = g_build_filename (fixture->state_dir, "sandboxes", NULL);
  g_assert_cmpint (g_mkdir (sandboxes, 0755), ==, 0);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    {
      const char *entry;
      while ((entry = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, entry, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR)
              && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            remove_tree (child);
          else
            g_unlink (child);
        }
    }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  remove_tree (fixture->state_dir);
  g_free (fixture->state_dir);
}

static char *
read_identity_file (const char *state_dir, const char *name)
{
  g_autofree char *path = g_build_filename (state_dir, "sandboxes", name, "identity", NULL);
  char *contents = NULL;
  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

static void
write_identity_file (const char *state_dir, const char *name, const char *contents, gssize len)
{
  g_autofree char *path = g_build_filename (state_dir, "sandboxes", name, "identity", NULL);
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);
}

static guint
get_slot (const char *state_dir, const char *name)
{
  g_autoptr (GError) error = NULL;
  MoatIdentity identity;
  gboolean ok = moat_identity_get (state_dir, name, &identity, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  return identity.slot;
}

static void
test_slots_never_share_uids_or_categories (void)
{
  g_autofree guint8 *pair_used = g_new0 (guint8, MOAT_MCS_CATEGORIES * MOAT_MCS_CATEGORIES);
  guint64 previous_end = MOAT_UID_FIRST;

  for (guint slot = 0; slot < MOAT_SLOTS_MAX; slot++)
    {
      MoatIdentity identity;
      moat_identity_from_slot (slot, &identity);
      g_assert_cmpuint (identity.slot, ==, slot);

      g_assert_cmpuint (identity.mcs_low, <, identity.mcs_high);
      g_assert_cmpuint (identity.mcs_high, <, MOAT_MCS_CATEGORIES);
      guint pair = identity.mcs_low * MOAT_MCS_CATEGORIES + identity.mcs_high;
      g_assert_cmpuint (pair_used[pair], ==, 0);
      pair_used[pair] = 1;

      /* Ranges follow one another without overlap, above every host uid below 0x100000. */
      g_assert_cmpuint (identity.uid_base, ==, previous_end);
      previous_end = (guint64)identity.uid_base + MOAT_UID_RANGE;
      g_assert_cmpuint (previous_end, <=, G_MAXUINT32);
    }
}

static void
test_slot_pairs_are_lexicographic (void)
{
  const struct
  {
    guint slot, low, high;
  } cases[] = {
    { 0, 0, 1 },           { 1, 0, 2 }, { 1022, 0, 1023 }, { 1023, 1, 2 }, { 1023 + 1021, 1, 1023 },
    { 1023 + 1022, 2, 3 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      MoatIdentity identity;
      moat_identity_from_slot (cases[i].slot, &identity);
      g_assert_cmpuint (identity.mcs_low, ==, cases[i].low);
      g_assert_cmpuint (identity.mcs_high, ==, cases[i].high);
    }
}

static void
test_labels_carry_the_pair (void)
{
  MoatIdentity identity;
  moat_identity_from_slot (1023, &identity);
  g_autofree char *level = moat_identity_mcs_level (&identity);
  g_autofree char *process = moat_selinux_process_label (&identity);
  g_autofree char *init = moat_selinux_init_label (&identity);
  g_autofree char *file = moat_selinux_file_label (&identity);
  g_assert_cmpstr (level, ==, "s0:c1,c2");
  g_assert_cmpstr (process, ==, "system_u:system_r:moat_sandbox_t:s0:c1,c2");
  g_assert_cmpstr (init, ==, "system_u:system_r:moat_init_t:s0:c1,c2");
  g_assert_cmpstr (file, ==, "system_u:object_r:moat_sandbox_file_t:s0:c1,c2");
  /* This host has SELinux compiled in but not enabled (DESIGN.md §7); only check it answers. */
  (void)moat_selinux_enabled ();
}

static char *
label_of (const char *path)
{
  char *context = NULL;
  if (lgetfilecon (path, &context) < 0)
    return NULL;
  char *copy = g_strdup (context);
  freecon (context);
  return copy;
}

/* A sandbox's /data gets its file label all the way down, and nothing a symlink in it points
 * at. Labels are extended attributes, which root can write with SELinux off, as here. */
static void
test_data_tree_is_labelled (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_build_filename (fixture->state_dir, "data", NULL);
  g_autofree char *deep = g_build_filename (dir, "a", "b", NULL);
  g_autofree char *file = g_build_filename (deep, "reading", NULL);
  g_autofree char *outside = g_build_filename (fixture->state_dir, "host-file", NULL);
  g_autofree char *link = g_build_filename (dir, "escape", NULL);
  g_assert_cmpint (g_mkdir_with_parents (deep, 0700), ==, 0);
  g_assert_true (g_file_set_contents (file, "21.5", -1, NULL));
  g_assert_true (g_file_set_contents (outside, "host", -1, NULL));
  g_assert_cmpint (symlink (outside, link), ==, 0);
  if (lsetfilecon (outside, "system_u:object_r:etc_t:s0") < 0)
    {
      g_test_skip_printf ("cannot write security.selinux here: %s", g_strerror (errno));
      return;
    }

  MoatIdentity identity;
  moat_identity_from_slot (5, &identity);
  g_autofree char *expected = moat_selinux_file_label (&identity);
  g_assert_true (moat_selinux_label_tree (dir, &identity, &error));
  g_assert_no_error (error);
  for (const char *const *path = (const char *const[]){ dir, deep, file, link, NULL }; *path;
       path++)
    {
      g_autofree char *label = label_of (*path);
      g_assert_cmpstr (label, ==, expected);
    }
  g_autofree char *host = label_of (outside);
  g_assert_cmpstr (host, ==, "system_u:object_r:etc_t:s0");

  /* Another sandbox's pair relabels everything; the same pair again is a no-op. */
  moat_identity_from_slot (6, &identity);
  g_autofree char *other = moat_selinux_file_label (&identity);
  g_assert_true (moat_selinux_label_tree (dir, &identity, &error));
  g_autofree char *relabelled = label_of (file);
  g_assert_cmpstr (relabelled, ==, other);
  g_assert_true (moat_selinux_label_tree (dir, &identity, &error));
  g_assert_no_error (error);

  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_assert_false (moat_selinux_label_tree (missing, &identity, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND);
}

static void
test_allocation_is_lowest_free_and_persisted (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  const char *state = fixture->state_dir;
  for (const char *const *name = (const char *const[]){ "a", "b", "c", "d", NULL }; *name; name++)
    make_sandbox_dir (state, *name);

  g_assert_cmpuint (get_slot (state, "a"), ==, 0);
  g_assert_cmpuint (get_slot (state, "b"), ==, 1);
  g_assert_cmpuint (get_slot (state, "a"), ==, 0);
  g_autofree char *contents = read_identity_file (state, "b");
  g_assert_cmpstr (contents, ==, "slot=1\n");

  MoatIdentity identity;
  g_autoptr (GError) error = NULL;
  g_assert_true (moat_identity_get (state, "b", &identity, &error));
  MoatIdentity expected;
  moat_identity_from_slot (1, &expected);
  g_assert_cmpmem (&identity, sizeof identity, &expected, sizeof expected);

  /* Releasing frees the slot for the next sandbox; the released one gets a new slot. */
  g_assert_true (moat_identity_release (state, "a", &error));
  g_assert_no_error (error);
  g_autofree char *gone = read_identity_file (state, "a");
  g_assert_null (gone);
  g_assert_cmpuint (get_slot (state, "c"), ==, 0);
  g_assert_cmpuint (get_slot (state, "a"), ==, 2);

  /* A gap left by hand is filled first. */
  write_identity_file (state, "d", "slot=7\n", -1);
  g_assert_true (moat_identity_release (state, "b", &error));
  g_assert_true (moat_identity_release (state, "b", &error)); /* already gone: fine */
  g_assert_no_error (error);
  make_sandbox_dir (state, "e");
  g_assert_cmpuint (get_slot (state, "e"), ==, 1);
  g_assert_cmpuint (get_slot (state, "d"), ==, 7);
}

static void
test_garbage_identity_is_refused (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  const char *state = fixture->state_dir;
  static const char *const garbage[] = {
    "",
    "slot=",
    "slot=\n",
    "slot=1",
    "slot=01\n",
    "slot=+1\n",
    "slot=-1\n",
    "slot=4096\n",
    "slot=99999999999\n",
    " slot=1\n",
    "SLOT=1\n",
    "slot=1\n\n",
    "slot=1 \n",
    "slot=1\nslot=2\n",
    "slot=0x1\n",
    "slot=1\r\n",
    "slot=１\n",
  };
  make_sandbox_dir (state, "bad");
  g_autofree char *path = g_build_filename (state, "sandboxes", "bad", "identity", NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      write_identity_file (state, "bad", garbage[i], -1);
      g_autoptr (GError) error = NULL;
      MoatIdentity identity;
      g_assert_false (moat_identity_get (state, "bad", &identity, &error));
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, path));
    }

  /* NUL bytes and oversized files too. */
  write_identity_file (state, "bad", "slot=1\0\n", 8);
  g_autoptr (GError) nul_error = NULL;
  MoatIdentity identity;
  g_assert_false (moat_identity_get (state, "bad", &identity, &nul_error));
  g_assert_error (nul_error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_autofree char *big = g_strnfill (4096, '1');
  g_autofree char *big_file = g_strconcat ("slot=", big, "\n", NULL);
  write_identity_file (state, "bad", big_file, -1);
  g_autoptr (GError) big_error = NULL;
  g_assert_false (moat_identity_get (state, "bad", &identity, &big_error));
  g_assert_error (big_error, MOAT_ERROR, MOAT_ERROR_INVALID);

  /* While one sandbox's identity is unreadable no new slot is handed out: it might be in use. */
  make_sandbox_dir (state, "new");
  g_autoptr (GError) scan_error = NULL;
  g_assert_false (moat_identity_get (state, "new", &identity, &scan_error));
  g_assert_error (scan_error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_assert_nonnull (strstr (scan_error->message, path));
}

static void
test_symlinked_identity_is_refused (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  const char *state = fixture->state_dir;
  make_sandbox_dir (state, "a");
  make_sandbox_dir (state, "b");
  g_assert_cmpuint (get_slot (state, "a"), ==, 0);
  g_autofree char *target = g_build_filename (state, "sandboxes", "a", "identity", NULL);
  g_autofree char *link = g_build_filename (state, "sandboxes", "b", "identity", NULL);
  g_assert_cmpint (symlink (target, link), ==, 0);

  g_autoptr (GError) error = NULL;
  MoatIdentity identity;
  g_assert_false (moat_identity_get (state, "b", &identity, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, link));
}

static void
test_bad_names_and_missing_dirs (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  static const char *const names[] = { "", "..", "../a", "a/b", "A", "-a", "a-", NULL };
  MoatIdentity identity;
  for (const char *const *name = names; *name != NULL; name++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (moat_identity_get (fixture->state_dir, *name, &identity, &error));
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
      g_autoptr (GError) release_error = NULL;
      g_assert_false (moat_identity_release (fixture->state_dir, *name, &release_error));
      g_assert_error (release_error, MOAT_ERROR, MOAT_ERROR_INVALID);
    }

  /* The sandbox's directory must exist: the identity is not created anywhere else. */
  g_autoptr (GError) error = NULL;
  g_assert_false (moat_identity_get (fixture->state_dir, "absent", &identity, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "absent"));
}

/* Each child allocates one name once all are forked, and reports its slot on a pipe. */
static void
test_concurrent_allocation_never_shares (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  enum
  {
    CHILDREN = 16
  };
  int start[2], results[2];
  g_assert_cmpint (pipe (start), ==, 0);
  g_assert_cmpint (pipe (results), ==, 0);
  for (guint i = 0; i < CHILDREN; i++)
    {
      g_autofree char *name = g_strdup_printf ("racer%u", i);
      make_sandbox_dir (fixture->state_dir, name);
    }

  pid_t pids[CHILDREN];
  for (guint i = 0; i < CHILDREN; i++)
    {
      pids[i] = fork ();
      g_assert_cmpint (pids[i], >=, 0);
      if (pids[i] == 0)
        {
          close (start[1]);
          char byte;
          /* Blocks until the parent closes its end: all children start together. */
          if (read (start[0], &byte, 1) != 0)
            _exit (2);
          char name[32];
          g_snprintf (name, sizeof name, "racer%u", i);
          MoatIdentity identity;
          if (!moat_identity_get (fixture->state_dir, name, &identity, NULL))
            _exit (3);
          guint32 slot = identity.slot;
          _exit (write (results[1], &slot, sizeof slot) == sizeof slot ? 0 : 4);
        }
    }
  close (start[0]);
  close (start[1]);
  close (results[1]);

  for (guint i = 0; i < CHILDREN; i++)
    {
      int status;
      g_assert_cmpint (waitpid (pids[i], &status, 0), ==, pids[i]);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    }

  gboolean seen[CHILDREN] = { FALSE };
  guint32 slot;
  guint count = 0;
  while (read (results[0], &slot, sizeof slot) == sizeof slot)
    {
      g_assert_cmpuint (slot, <, CHILDREN);
      g_assert_false (seen[slot]);
      seen[slot] = TRUE;
      count++;
    }
  close (results[0]);
  g_assert_cmpuint (count, ==, CHILDREN);

  /* And each persisted what it reported. */
  for (guint i = 0; i < CHILDREN; i++)
    {
      g_autofree char *name = g_strdup_printf ("racer%u", i);
      g_assert_cmpuint (get_slot (fixture->state_dir, name), <, CHILDREN);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/identity/slots-never-share-uids-or-categories",
                   test_slots_never_share_uids_or_categories);
  g_test_add_func ("/identity/slot-pairs-are-lexicographic", test_slot_pairs_are_lexicographic);
  g_test_add_func ("/identity/labels-carry-the-pair", test_labels_carry_the_pair);
  g_test_add ("/identity/data-tree-is-labelled", Fixture, NULL, fixture_set_up,
              test_data_tree_is_labelled, fixture_tear_down);
  g_test_add ("/identity/allocation-is-lowest-free-and-persisted", Fixture, NULL, fixture_set_up,
              test_allocation_is_lowest_free_and_persisted, fixture_tear_down);
  g_test_add ("/identity/garbage-identity-is-refused", Fixture, NULL, fixture_set_up,
              test_garbage_identity_is_refused, fixture_tear_down);
  g_test_add ("/identity/symlinked-identity-is-refused", Fixture, NULL, fixture_set_up,
              test_symlinked_identity_is_refused, fixture_tear_down);
  g_test_add ("/identity/bad-names-and-missing-dirs", Fixture, NULL, fixture_set_up,
              test_bad_names_and_missing_dirs, fixture_tear_down);
  g_test_add ("/identity/concurrent-allocation-never-shares", Fixture, NULL, fixture_set_up,
              test_concurrent_allocation_never_shares, fixture_tear_down);

  return g_test_run ();
}
