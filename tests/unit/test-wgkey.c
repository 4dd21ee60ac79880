/* WireGuard keys: clamping as WireGuard does, base64 exactly as `wg` writes it, and public keys
 * that wireguard-tools agrees with (`wg pubkey`) as well as the RFC 7748 test vector. */
#include <string.h>

#include "moat-error.h"
#include "tool.h"
#include "wgkey.h"

#define WG "/usr/bin/wg"

static void
test_clamp (void)
{
  guint8 key[MOAT_WG_KEY_LEN];
  memset (key, 0xff, sizeof key);
  moat_wg_clamp (key);
  g_assert_cmpuint (key[0], ==, 0xf8);
  g_assert_cmpuint (key[31], ==, 0x7f);
  g_assert_cmpuint (key[15], ==, 0xff);
  memset (key, 0, sizeof key);
  moat_wg_clamp (key);
  g_assert_cmpuint (key[0], ==, 0);
  g_assert_cmpuint (key[31], ==, 0x40);
}

static void
test_generate_is_clamped_and_random (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatWgSecret) a = moat_wg_secret_generate (&error);
  g_assert_no_error (error);
  g_autoptr (MoatWgSecret) b = moat_wg_secret_generate (&error);
  g_assert_no_error (error);
  g_assert_cmpuint (a->key[0] & 7, ==, 0);
  g_assert_cmpuint (a->key[31] & 0xc0, ==, 0x40);
  g_assert_cmpmem (a->base64 + 43, 1, "=", 1);
  g_assert_cmpuint (strlen (a->base64), ==, MOAT_WG_KEY_BASE64_LEN);
  g_assert_true (memcmp (a->key, b->key, MOAT_WG_KEY_LEN) != 0);
}

static void
test_base64_round_trip (void)
{
  for (int round = 0; round < 64; round++)
    {
      guint8 key[MOAT_WG_KEY_LEN], back[MOAT_WG_KEY_LEN];
      char text[MOAT_WG_KEY_BASE64_LEN + 1];
      for (gsize i = 0; i < sizeof key; i++)
        key[i] = (guint8)g_random_int ();
      moat_wg_key_to_base64 (key, text);
      g_assert_cmpuint (strlen (text), ==, MOAT_WG_KEY_BASE64_LEN);
      g_autofree char *with_newline = g_strconcat (text, "\n", NULL);
      g_assert_true (moat_wg_key_from_base64 (with_newline, back, NULL));
      g_assert_cmpmem (key, sizeof key, back, sizeof back);
    }
}

static void
test_base64_refuses_garbage (void)
{
  const char *const bad[] = {
    "",
    "abc",
    "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY",   /* 43: no padding */
    "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY==", /* 45 */
    "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZW!=",  /* a character outside base64 */
    "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNk====",  /* decodes to fewer than 32 bytes */
    " WJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY=",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      guint8 key[MOAT_WG_KEY_LEN];
      g_assert_false (moat_wg_key_from_base64 (bad[i], key, &error));
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
    }
}

static void
test_unclamped_private_key_refused (void)
{
  g_autoptr (GError) error = NULL;
  guint8 key[MOAT_WG_KEY_LEN];
  char text[MOAT_WG_KEY_BASE64_LEN + 1];
  memset (key, 0xff, sizeof key);
  moat_wg_key_to_base64 (key, text);
  g_assert_null (moat_wg_secret_from_base64 (text, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
}

static void
hex_to_bytes (const char *hex, guint8 *out, gsize len)
{
  for (gsize i = 0; i < len; i++)
    out[i]
        = (guint8)(g_ascii_xdigit_value (hex[2 * i]) * 16 + g_ascii_xdigit_value (hex[2 * i + 1]));
}

/* RFC 7748 section 6.1: Alice's key pair. X25519 clamps the scalar itself, so the unclamped
 * private key there gives the same public key as its clamped form. */
static void
test_rfc7748_vector (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatWgSecret) secret = moat_wg_secret_generate (&error);
  g_assert_no_error (error);
  hex_to_bytes ("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", secret->key,
                MOAT_WG_KEY_LEN);
  moat_wg_clamp (secret->key);
  guint8 expected[MOAT_WG_KEY_LEN];
  char expected_text[MOAT_WG_KEY_BASE64_LEN + 1], public_key[MOAT_WG_KEY_BASE64_LEN + 1];
  hex_to_bytes ("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", expected,
                MOAT_WG_KEY_LEN);
  moat_wg_key_to_base64 (expected, expected_text);
  g_assert_true (moat_wg_secret_public (secret, public_key, &error));
  g_assert_cmpstr (public_key, ==, expected_text);
}

static char *
wg_pubkey (const char *private_base64)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  const char *const argv[] = { WG, "pubkey", NULL };
  g_autofree char *input = g_strconcat (private_base64, "\n", NULL);
  g_assert_true (moat_tool_run (argv, NULL, input, strlen (input), out, &error));
  g_assert_no_error (error);
  return g_strstrip (g_string_free (g_steal_pointer (&out), FALSE));
}

/* Our X25519 against wireguard-tools': the private key goes to `wg pubkey` on stdin. */
static void
test_public_key_matches_wg (void)
{
  if (!g_file_test (WG, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip (WG " is not installed");
      return;
    }
  for (int round = 0; round < 8; round++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MoatWgSecret) secret = moat_wg_secret_generate (&error);
      g_assert_no_error (error);
      char public_key[MOAT_WG_KEY_BASE64_LEN + 1];
      g_assert_true (moat_wg_secret_public (secret, public_key, &error));
      g_autofree char *theirs = wg_pubkey (secret->base64);
      g_assert_cmpstr (public_key, ==, theirs);
    }
}

/* And a key `wg genkey` made reads back and gives the public key `wg pubkey` gives. */
static void
test_reads_wg_genkey (void)
{
  if (!g_file_test (WG, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip (WG " is not installed");
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) generated = g_string_new (NULL);
  const char *const argv[] = { WG, "genkey", NULL };
  g_assert_true (moat_tool_run (argv, NULL, NULL, 0, generated, &error));
  g_autoptr (MoatWgSecret) secret = moat_wg_secret_from_base64 (generated->str, &error);
  g_assert_no_error (error);
  char public_key[MOAT_WG_KEY_BASE64_LEN + 1];
  g_assert_true (moat_wg_secret_public (secret, public_key, &error));
  g_autofree char *theirs = wg_pubkey (secret->base64);
  g_assert_cmpstr (public_key, ==, theirs);
}

static void
test_secret_text (void)
{
  g_autoptr (MoatSecretText) text = moat_secret_text_printf ("PrivateKey = %s\n", "abc");
  g_assert_cmpstr (text, ==, "PrivateKey = abc\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wgkey/clamp", test_clamp);
  g_test_add_func ("/wgkey/generate-is-clamped-and-random", test_generate_is_clamped_and_random);
  g_test_add_func ("/wgkey/base64-round-trip", test_base64_round_trip);
  g_test_add_func ("/wgkey/base64-refuses-garbage", test_base64_refuses_garbage);
  g_test_add_func ("/wgkey/unclamped-private-key-refused", test_unclamped_private_key_refused);
  g_test_add_func ("/wgkey/rfc7748-vector", test_rfc7748_vector);
  g_test_add_func ("/wgkey/public-key-matches-wg-pubkey", test_public_key_matches_wg);
  g_test_add_func ("/wgkey/reads-wg-genkey", test_reads_wg_genkey);
  g_test_add_func ("/wgkey/secret-text", test_secret_text);
  return g_test_run ();
}
