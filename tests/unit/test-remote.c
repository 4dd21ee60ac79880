/* Remote access without touching the network: address allocation in the hub's subnet, the
 * firewall ruleset, reading `wg show dump`, and the config dir (peers saved without their
 * private keys, duplicates and bad names refused, restore doing nothing when disabled). */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "moat-error.h"
#include "remote.h"

static void
test_next_address (void)
{
  g_autoptr (GError) error = NULL;
  const char *const none[] = { NULL };
  const char *const some[] = { "10.90.0.2", "10.90.0.4", NULL };
  g_autofree char *first = moat_remote_next_address ("10.90.0.1/24", none, &error);
  g_assert_cmpstr (first, ==, "10.90.0.2");
  g_autofree char *gap = moat_remote_next_address ("10.90.0.1/24", some, &error);
  g_assert_cmpstr (gap, ==, "10.90.0.3");
  g_autofree char *below_hub = moat_remote_next_address ("192.168.7.5/29", none, &error);
  g_assert_cmpstr (below_hub, ==, "192.168.7.1");
  g_assert_no_error (error);

  /* A /30 has two hosts: the hub and one peer. */
  const char *const full[] = { "10.0.0.2", NULL };
  g_assert_null (moat_remote_next_address ("10.0.0.1/30", full, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_FAILED);
  g_clear_error (&error);

  const char *const bad[] = { "10.90.0.1",     "10.90.0.1/31", "10.90.0.0/24", "10.90.0.255/24",
                              "10.90.0.1/abc", "300.1.1.1/24", "10.90.0.1/7",  "fd00::1/64" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_null (moat_remote_next_address (bad[i], none, &error));
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
      g_clear_error (&error);
    }
}

static void
test_ruleset (void)
{
  const char *const allow[] = { "22/tcp", "5353/udp", NULL };
  g_autofree char *rules = moat_remote_nft_ruleset ("moat-wg", 51820, allow);
  /* Replaced as one transaction; WireGuard's port in; from the tunnel only what is allowed. */
  g_assert_true (g_str_has_prefix (rules, "table inet moat_remote {}\n"
                                          "delete table inet moat_remote\n"));
  g_assert_nonnull (strstr (rules, "udp dport 51820 accept\n"));
  g_assert_nonnull (strstr (rules, "iifname \"moat-wg\" tcp dport 22 accept\n"));
  g_assert_nonnull (strstr (rules, "iifname \"moat-wg\" udp dport 5353 accept\n"));
  g_assert_nonnull (strstr (rules, "iifname \"moat-wg\" counter drop\n  }\n  chain forward"));
  g_assert_nonnull (strstr (rules, "oifname \"moat-wg\" counter drop\n"));
}

static void
test_parse_dump (void)
{
  MoatRemotePeer phone = { .name = "phone", .public_key = "PHONEKEY=", .address = "10.90.0.2" };
  MoatRemotePeer laptop = { .name = "laptop", .public_key = "LAPTOPKEY=", .address = "10.90.0.3" };
  g_autoptr (GPtrArray) peers = g_ptr_array_new ();
  g_ptr_array_add (peers, &phone);
  g_ptr_array_add (peers, &laptop);
  g_autofree char *dump
      = g_strdup ("PRIVATE=\tHUBPUB=\t51820\toff\n"
                  "PHONEKEY=\t(none)\t192.0.2.2:40000\t10.90.0.2/32\t1700000000\t1234\t5678\toff\n"
                  "LAPTOPKEY=\t(none)\t(none)\t10.90.0.3/32\t0\t0\t0\toff\n"
                  "STRANGER=\t(none)\t(none)\t10.90.0.9/32\t1\t1\t1\toff\n");
  moat_remote_parse_dump (dump, peers);
  g_assert_cmpstr (phone.endpoint, ==, "192.0.2.2:40000");
  g_assert_cmpint (phone.latest_handshake, ==, 1700000000);
  g_assert_cmpuint (phone.rx_bytes, ==, 1234);
  g_assert_cmpuint (phone.tx_bytes, ==, 5678);
  g_assert_null (laptop.endpoint);
  g_assert_cmpint (laptop.latest_handshake, ==, 0);
  g_free (phone.endpoint);
  /* Nothing, or a line cut short, changes nothing. */
  moat_remote_parse_dump ("", peers);
  moat_remote_parse_dump ("PRIVATE=\tHUBPUB=\t51820\toff\nLAPTOPKEY=\t(none)\t1.2.3.4:5\n", peers);
  g_assert_null (laptop.endpoint);
}

typedef struct
{
  char *dir;
} Fixture;

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

/* A config dir as `enable` leaves it, but disabled: no tool ever runs. */
static void
fixture_set_up (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  fixture->dir = g_dir_make_tmp ("moat-remote-XXXXXX", NULL);
  g_autofree char *peers = g_build_filename (fixture->dir, "peers", NULL);
  g_assert_cmpint (g_mkdir (peers, 0700), ==, 0);
  write_file (fixture->dir, "remote.conf",
              "[Remote]\nEnabled=false\nInterface=moat-wg\nListenPort=51820\n"
              "Address=10.90.0.1/24\nAllow=\n");
  write_file (fixture->dir, "public.key", "pnEs9pejXQ4OkYeUAl2yZT/nefiu+elNhhXzhwKtmXk=\n");
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GDir) peers_dir = NULL;
  g_autofree char *peers = g_build_filename (fixture->dir, "peers", NULL);
  peers_dir = g_dir_open (peers, 0, NULL);
  const char *entry;
  while (peers_dir != NULL && (entry = g_dir_read_name (peers_dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (peers, entry, NULL);
      g_unlink (path);
    }
  g_rmdir (peers);
  const char *const files[] = { "remote.conf", "public.key", ".lock" };
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (fixture->dir, files[i], NULL);
      g_unlink (path);
    }
  g_assert_cmpint (g_rmdir (fixture->dir), ==, 0);
  g_free (fixture->dir);
}

static void
test_add_peer_saves_no_private_key (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatSecretText) config
      = moat_remote_add_peer (fixture->dir, "phone", "hub.example.net:51820", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (config, "[Interface]\nPrivateKey = "));
  g_assert_nonnull (strstr (config, "\nAddress = 10.90.0.2/32\n"));
  g_assert_nonnull (
      strstr (config, "\nPublicKey = pnEs9pejXQ4OkYeUAl2yZT/nefiu+elNhhXzhwKtmXk=\n"));
  g_assert_nonnull (strstr (config, "\nEndpoint = hub.example.net:51820\n"));
  g_assert_nonnull (strstr (config, "\nAllowedIPs = 10.90.0.1/32\n"));

  g_autofree char *path = g_build_filename (fixture->dir, "peers", "phone.conf", NULL);
  g_autofree char *saved = NULL;
  g_assert_true (g_file_get_contents (path, &saved, NULL, NULL));
  g_autofree char *private_key = g_strndup (config + strlen ("[Interface]\nPrivateKey = "), 44);
  g_assert_null (strstr (saved, private_key));
  g_assert_nonnull (strstr (saved, "Address=10.90.0.2\n"));
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0600);

  g_autoptr (MoatSecretText) second = moat_remote_add_peer (fixture->dir, "tablet", NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (second, "\nAddress = 10.90.0.3/32\n"));

  g_autoptr (MoatRemoteStatus) status = moat_remote_status (fixture->dir, &error);
  g_assert_no_error (error);
  g_assert_null (status->backend);
  g_assert_cmpuint (status->peers->len, ==, 2);
  g_assert_cmpstr (((MoatRemotePeer *)status->peers->pdata[0])->name, ==, "phone");
}

static void
test_add_peer_refusals (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatSecretText) config = moat_remote_add_peer (fixture->dir, "phone", NULL, &error);
  g_assert_no_error (error);
  const char *const bad_names[]
      = { "", "Phone", "../x", "a b", "-x", "x-", "a/b", "abcdefghijklmnopqrstuvwxyz0123456" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad_names); i++)
    {
      g_assert_null (moat_remote_add_peer (fixture->dir, bad_names[i], NULL, &error));
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
      g_clear_error (&error);
    }
  g_assert_null (moat_remote_add_peer (fixture->dir, "phone", NULL, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_EXISTS);
  g_clear_error (&error);
  const char *const bad_endpoints[]
      = { "hub", "hub:", "hub:0", "hub:70000", ":51820", "h b:1", "h:1\nPostUp = evil", "[]:1" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad_endpoints); i++)
    {
      g_assert_null (moat_remote_add_peer (fixture->dir, "tablet", bad_endpoints[i], &error));
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
      g_clear_error (&error);
    }
  g_assert_false (moat_remote_remove_peer (fixture->dir, "tablet", &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (moat_remote_remove_peer (fixture->dir, "phone", &error));
  g_autoptr (MoatRemoteStatus) status = moat_remote_status (fixture->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (status->peers->len, ==, 0);
}

static void
test_restore (Fixture *fixture, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  /* Disabled, or never set up: nothing to bring back, and no error. */
  g_assert_true (moat_remote_restore (fixture->dir, &error));
  g_autofree char *missing = g_build_filename (fixture->dir, "nowhere", NULL);
  g_assert_true (moat_remote_restore (missing, &error));
  g_assert_no_error (error);
  /* A config that reaches tools is checked first. */
  write_file (fixture->dir, "remote.conf",
              "[Remote]\nEnabled=true\nInterface=x;rm -rf /\nListenPort=51820\n"
              "Address=10.90.0.1/24\n");
  g_assert_false (moat_remote_restore (fixture->dir, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/remote/next-address", test_next_address);
  g_test_add_func ("/remote/ruleset", test_ruleset);
  g_test_add_func ("/remote/parse-dump", test_parse_dump);
  g_test_add ("/remote/add-peer-saves-no-private-key", Fixture, NULL, fixture_set_up,
              test_add_peer_saves_no_private_key, fixture_tear_down);
  g_test_add ("/remote/add-peer-refusals", Fixture, NULL, fixture_set_up, test_add_peer_refusals,
              fixture_tear_down);
  g_test_add ("/remote/restore", Fixture, NULL, fixture_set_up, test_restore, fixture_tear_down);
  return g_test_run ();
}
