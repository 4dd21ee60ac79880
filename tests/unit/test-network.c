/* Unit tests for per-sandbox networking: addresses and interface names follow from the identity
 * slot, flows compare as the manifest parser needs, and the nft scripts moatd applies say exactly
 * the declared flows (and, where nft can run, the kernel's parser accepts them). */

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manifest.h"
#include "moat-error.h"
#include "network.h"
#include "relay.h"

static MoatFlow *
flow (const char *text, gboolean internet)
{
  g_autofree char *problem = NULL;
  MoatFlow *parsed = moat_flow_parse (text, internet, &problem);
  g_assert_null (problem);
  g_assert_nonnull (parsed);
  return parsed;
}

static void
test_address_follows_slot (void)
{
  g_autofree char *first = moat_network_format_address (moat_network_address (0));
  g_autofree char *later = moat_network_format_address (moat_network_address (300));
  g_autofree char *last = moat_network_format_address (moat_network_address (4095));
  g_assert_cmpstr (first, ==, "10.89.0.2");
  g_assert_cmpstr (later, ==, "10.89.1.46");
  g_assert_cmpstr (last, ==, "10.89.16.1");
  g_autofree char *ifname = moat_network_interface (4095);
  g_assert_cmpstr (ifname, ==, "mt-4095");
  /* IFNAMSIZ is 16 with the NUL: every slot's name fits. */
  g_assert_cmpuint (strlen (ifname), <, 16);
}

static void
test_overlaps (void)
{
  g_autoptr (MoatFlow) subnet = flow ("192.168.1.0/24:554/tcp", FALSE);
  g_autoptr (MoatFlow) host = flow ("192.168.1.20:500-600/tcp", FALSE);
  g_autoptr (MoatFlow) other_port = flow ("192.168.1.20:601/tcp", FALSE);
  g_autoptr (MoatFlow) udp = flow ("192.168.1.20:554/udp", FALSE);
  g_autoptr (MoatFlow) other_net = flow ("192.168.2.0/24:554/tcp", FALSE);
  g_autoptr (MoatFlow) mqtt = flow ("mqtt:554/tcp", FALSE);
  g_assert_true (moat_flow_overlaps (subnet, host));
  g_assert_true (moat_flow_overlaps (host, subnet));
  g_assert_false (moat_flow_overlaps (subnet, other_port));
  g_assert_false (moat_flow_overlaps (subnet, udp));
  g_assert_false (moat_flow_overlaps (subnet, other_net));
  g_assert_false (moat_flow_overlaps (subnet, mqtt));
}

static gboolean
lookup (const char *name, uint32_t *ret_address, gpointer user_data)
{
  if (!g_str_equal (name, "mqtt") && !g_str_equal (name, "thermostat"))
    return FALSE;
  *ret_address = moat_network_address (g_str_equal (name, "mqtt") ? 1 : 2);
  return TRUE;
}

static void
policy_of (MoatNetworkPolicy *policy)
{
  moat_network_policy_init (policy);
  g_ptr_array_add (policy->allow, flow ("mqtt:1883/tcp", TRUE));
  g_ptr_array_add (policy->allow, flow ("absent:80/tcp", TRUE));
  g_ptr_array_add (policy->allow, flow ("192.168.1.0/24:5000-5010/udp", TRUE));
  g_ptr_array_add (policy->allow, flow ("internet:443/tcp", TRUE));
  g_ptr_array_add (policy->accept, flow ("thermostat:8883/tcp", FALSE));
  g_ptr_array_add (policy->accept, flow ("192.168.1.20:22/tcp", FALSE));
  g_autofree char *problem = NULL;
  g_ptr_array_add (policy->publish, moat_publish_parse ("8080:80/tcp", &problem));
  g_ptr_array_add (policy->discover, moat_discover_parse ("mdns", &problem));
  g_ptr_array_add (policy->discover, moat_discover_parse ("broadcast:6667", &problem));
}

/* Every declared flow is one rule; a flow to another sandbox returns (that sandbox's ingress
 * chain decides too); a sandbox not installed gets no rule; everything else is counted, logged
 * and dropped; the interface and published port are map elements of this sandbox alone. */
static const char expected_add[]
    = "add counter inet moat drop-out-cam\n"
      "add counter inet moat drop-in-cam\n"
      "add chain inet moat out-cam\n"
      "add chain inet moat in-cam\n"
      "add rule inet moat out-cam ip saddr != 10.89.0.9 counter name \"drop-out-cam\" drop\n"
      "add rule inet moat out-cam ip daddr 10.89.0.3 tcp dport 1883 return\n"
      "add rule inet moat out-cam ip daddr 192.168.1.0/24 udp dport 5000-5010 accept\n"
      "add rule inet moat out-cam ip daddr != @private4 tcp dport 443 accept\n"
      "add rule inet moat out-cam ip daddr 224.0.0.251 udp dport 5353 accept\n"
      "add rule inet moat out-cam ip daddr 255.255.255.255 udp dport 6667 accept\n"
      "add rule inet moat out-cam ip protocol igmp drop\n"
      "add rule inet moat out-cam limit rate 10/second log prefix \"moat cam out drop: \" level "
      "info\n"
      "add rule inet moat out-cam counter name \"drop-out-cam\" drop\n"
      "add rule inet moat in-cam ip saddr 10.89.0.4 tcp dport 8883 accept\n"
      "add rule inet moat in-cam ip saddr 192.168.1.20 tcp dport 22 accept\n"
      "add rule inet moat in-cam ct status dnat tcp dport 80 accept\n"
      "add rule inet moat in-cam limit rate 10/second log prefix \"moat cam in drop: \" level "
      "info\n"
      "add rule inet moat in-cam counter name \"drop-in-cam\" drop\n"
      "add element inet moat egress { \"mt-7\" : jump out-cam }\n"
      "add element inet moat ingress { \"mt-7\" : jump in-cam }\n"
      "add element inet moat publish { tcp . 8080 : 10.89.0.9 . 80 }\n";

static const char expected_remove[] = "delete element inet moat egress { \"mt-7\" }\n"
                                      "delete element inet moat ingress { \"mt-7\" }\n"
                                      "delete element inet moat publish { tcp . 8080 }\n"
                                      "flush chain inet moat out-cam\n"
                                      "delete chain inet moat out-cam\n"
                                      "delete counter inet moat drop-out-cam\n"
                                      "flush chain inet moat in-cam\n"
                                      "delete chain inet moat in-cam\n"
                                      "delete counter inet moat drop-in-cam\n";

static void
test_ruleset_add (void)
{
  MoatNetworkPolicy policy;
  policy_of (&policy);
  g_autofree char *rules = moat_network_ruleset_add ("cam", 7, &policy, lookup, NULL);
  g_assert_cmpstr (rules, ==, expected_add);
  moat_network_policy_clear (&policy);
}

static void
test_ruleset_remove (void)
{
  MoatNetworkPolicy policy;
  policy_of (&policy);
  g_autofree char *rules = moat_network_ruleset_remove ("cam", 7, &policy);
  g_assert_cmpstr (rules, ==, expected_remove);
  moat_network_policy_clear (&policy);
}

/* The sandbox's own name and each placeable peer once (mqtt is named in no flow twice here,
 * thermostat only by Accept=); peers not installed and LAN hosts get no line. */
static void
test_hosts_name_peers (void)
{
  MoatNetworkPolicy policy;
  policy_of (&policy);
  g_ptr_array_add (policy.accept, flow ("mqtt:9000/tcp", FALSE));
  g_autofree char *hosts = moat_network_hosts ("cam", 7, &policy, lookup, NULL);
  g_assert_cmpstr (hosts, ==,
                   "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.89.0.9\tcam\n10.89.0.3\tmqtt\n"
                   "10.89.0.4\tthermostat\n");
  moat_network_policy_clear (&policy);
}

/* The hub table starts afresh each time, decides only what crosses a sandbox's interface, and
 * masquerades what leaves the sandboxes' subnet. */
static void
test_ruleset_hub (void)
{
  g_autofree char *rules = moat_network_ruleset_hub ();
  g_assert_true (g_str_has_prefix (rules, "table inet moat\ndelete table inet moat\n"));
  static const char *const lines[] = {
    "type filter hook forward priority filter; policy accept;",
    "ct state established,related accept",
    "iifname vmap @egress",
    "oifname vmap @ingress",
    /* An address no sandbox holds must not leak towards the hub's default route. */
    "oifname vmap @ingress\n    ip daddr 10.89.0.0/16 drop\n",
    "fib daddr type local dnat ip to meta l4proto . th dport map @publish",
    /* The relay's own looped-back broadcasts are no sandbox's drops. */
    "policy accept;\n    meta mark 0x6d6f6174 drop\n    ct state established,related accept\n"
    "    iifname vmap @egress\n",
    "ip saddr 10.89.0.0/16 ip daddr != 10.89.0.0/16 masquerade",
    "10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (lines); i++)
    if (strstr (rules, lines[i]) == NULL)
      g_error ("hub ruleset lacks '%s':\n%s", lines[i], rules);
  /* ... the mark is the one the relay's sockets carry. */
  g_autofree char *mark = g_strdup_printf ("meta mark %#x drop", MOAT_RELAY_MARK);
  g_assert_nonnull (strstr (rules, mark));
}

/* nft's own parser and the kernel accept the scripts, checked (-c, nothing applied) in a
 * network namespace of the test's own so that the machine's ruleset is never involved. */
static void
test_rulesets_pass_nft_check (void)
{
  if (geteuid () != 0 || !g_file_test ("/usr/sbin/nft", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("needs root and /usr/sbin/nft");
      return;
    }
  MoatNetworkPolicy policy;
  policy_of (&policy);
  g_autofree char *hub = moat_network_ruleset_hub ();
  g_autofree char *add = moat_network_ruleset_add ("cam", 7, &policy, lookup, NULL);
  g_autofree char *remove = moat_network_ruleset_remove ("cam", 7, &policy);
  g_autofree char *all = g_strconcat (hub, add, remove, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("moat-network-XXXXXX.nft", &path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (path, all, -1, &error);
  g_assert_no_error (error);
  const char *argv[] = { "/usr/bin/unshare", "--net", "/usr/sbin/nft", "-c", "-f", path, NULL };
  int status;
  g_autofree char *output = NULL;
  g_autofree char *errors = NULL;
  g_spawn_sync (NULL, (char **)argv, NULL, 0, NULL, NULL, &output, &errors, &status, &error);
  g_assert_no_error (error);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("nft -c refused:\n%s\n%s", errors, all);
  unlink (path);
  moat_network_policy_clear (&policy);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/network/address-follows-slot", test_address_follows_slot);
  g_test_add_func ("/network/overlaps", test_overlaps);
  g_test_add_func ("/network/ruleset-add", test_ruleset_add);
  g_test_add_func ("/network/ruleset-remove", test_ruleset_remove);
  g_test_add_func ("/network/ruleset-hub", test_ruleset_hub);
  g_test_add_func ("/network/hosts-name-peers", test_hosts_name_peers);
  g_test_add_func ("/network/rulesets-pass-nft-check", test_rulesets_pass_nft_check);
  return g_test_run ();
}
