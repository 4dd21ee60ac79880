/* Signatures over data, as commits and bundles use them: what verifies, and each way a
 * signature or key is refused. */
#include <glib/gstdio.h>
#include <string.h>

#include "moat-error.h"
#include "sign.h"

static GVariant *
signatures_of (GBytes *const *signatures, gsize count)
{
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aay"));
  for (gsize i = 0; i < count; i++)
    g_variant_builder_add_value (
        &builder, g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, signatures[i], TRUE));
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

typedef struct
{
  MoatSigningKey *key;
  MoatSigningKey *other;
  MoatTrustedKeys *trusted;
  GBytes *data;
} Fixture;

static void
setup (Fixture *f, gconstpointer user_data)
{
  f->key = moat_signing_key_generate (NULL);
  f->other = moat_signing_key_generate (NULL);
  f->trusted = moat_trusted_keys_new ();
  g_autofree char *public_key = moat_signing_key_public (f->key);
  g_assert_true (moat_trusted_keys_add (f->trusted, public_key, FALSE, NULL));
  f->data = g_bytes_new_static ("commit object bytes", 19);
}

static void
teardown (Fixture *f, gconstpointer user_data)
{
  moat_signing_key_free (f->key);
  moat_signing_key_free (f->other);
  moat_trusted_keys_free (f->trusted);
  g_bytes_unref (f->data);
}

static void
test_good_signature_verifies (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GBytes) signature = moat_sign_data (f->key, f->data);
  g_autoptr (GVariant) signatures = signatures_of (&signature, 1);
  g_autofree char *signer = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (moat_sign_verify_data (f->trusted, f->data, signatures, &signer, &error));
  g_assert_no_error (error);
  g_autofree char *expected = moat_signing_key_public (f->key);
  g_assert_cmpstr (signer, ==, expected);
}

static void
test_any_trusted_signature_is_enough (Fixture *f, gconstpointer user_data)
{
  GBytes *signatures[2] = { moat_sign_data (f->other, f->data), moat_sign_data (f->key, f->data) };
  g_autoptr (GVariant) variant = signatures_of (signatures, 2);
  g_assert_true (moat_sign_verify_data (f->trusted, f->data, variant, NULL, NULL));
  g_bytes_unref (signatures[0]);
  g_bytes_unref (signatures[1]);
}

static void
expect_refusal (Fixture *f, GVariant *signatures, GBytes *data, int code, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (moat_sign_verify_data (f->trusted, data, signatures, NULL, &error));
  g_assert_error (error, MOAT_ERROR, code);
  g_assert_nonnull (strstr (error->message, message));
}

static void
test_unsigned_is_refused (Fixture *f, gconstpointer user_data)
{
  expect_refusal (f, NULL, f->data, MOAT_ERROR_NOT_FOUND, "unsigned");
  g_autoptr (GVariant) none = signatures_of (NULL, 0);
  expect_refusal (f, none, f->data, MOAT_ERROR_NOT_FOUND, "unsigned");
}

static void
test_untrusted_key_is_refused (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GBytes) signature = moat_sign_data (f->other, f->data);
  g_autoptr (GVariant) signatures = signatures_of (&signature, 1);
  expect_refusal (f, signatures, f->data, MOAT_ERROR_PERMISSION, "not signed by a trusted key");
}

static void
test_tampered_data_is_refused (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GBytes) signature = moat_sign_data (f->key, f->data);
  g_autoptr (GVariant) signatures = signatures_of (&signature, 1);
  g_autoptr (GBytes) tampered = g_bytes_new_static ("commit object bytez", 19);
  expect_refusal (f, signatures, tampered, MOAT_ERROR_PERMISSION, "not signed by a trusted key");
}

static void
test_revoked_key_is_refused (Fixture *f, gconstpointer user_data)
{
  g_autofree char *public_key = moat_signing_key_public (f->key);
  g_assert_true (moat_trusted_keys_add (f->trusted, public_key, TRUE, NULL));
  g_autoptr (GBytes) signature = moat_sign_data (f->key, f->data);
  g_autoptr (GVariant) signatures = signatures_of (&signature, 1);
  expect_refusal (f, signatures, f->data, MOAT_ERROR_PERMISSION, "revoked");
}

static void
test_wrong_length_signature_is_refused (Fixture *f, gconstpointer user_data)
{
  for (gsize len = 0; len <= 65; len++)
    {
      if (len == 64)
        continue;
      g_autoptr (GBytes) bad = g_bytes_new_take (g_malloc0 (len ? len : 1), len);
      g_autoptr (GVariant) signatures = signatures_of (&bad, 1);
      expect_refusal (f, signatures, f->data, MOAT_ERROR_INVALID, "not 64");
    }
}

static void
test_too_many_signatures_are_refused (Fixture *f, gconstpointer user_data)
{
  GBytes *many[MOAT_SIGN_MAX_SIGNATURES + 1];
  for (gsize i = 0; i < G_N_ELEMENTS (many); i++)
    many[i] = moat_sign_data (f->key, f->data);
  g_autoptr (GVariant) signatures = signatures_of (many, G_N_ELEMENTS (many));
  expect_refusal (f, signatures, f->data, MOAT_ERROR_INVALID, "at most");
  for (gsize i = 0; i < G_N_ELEMENTS (many); i++)
    g_bytes_unref (many[i]);
}

static void
test_wrong_type_is_refused (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GVariant) one = g_variant_ref_sink (g_variant_new_strv ((const char *[]){ "x" }, 1));
  expect_refusal (f, one, f->data, MOAT_ERROR_INVALID, "not aay");
  /* Not even a container: the commit's author picks the type, and it must not crash us. */
  g_autoptr (GVariant) scalar = g_variant_ref_sink (g_variant_new_string ("x"));
  expect_refusal (f, scalar, f->data, MOAT_ERROR_INVALID, "not aay");
  g_autoptr (GVariant) number = g_variant_ref_sink (g_variant_new_uint32 (7));
  expect_refusal (f, number, f->data, MOAT_ERROR_INVALID, "not aay");
}

static void
test_no_trusted_keys_trusts_nothing (Fixture *f, gconstpointer user_data)
{
  g_autoptr (MoatTrustedKeys) empty = moat_trusted_keys_new ();
  g_autoptr (GBytes) signature = moat_sign_data (f->key, f->data);
  g_autoptr (GVariant) signatures = signatures_of (&signature, 1);
  g_autoptr (GError) error = NULL;
  g_assert_false (moat_sign_verify_data (empty, f->data, signatures, NULL, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_PERMISSION);
}

static void
test_malformed_keys_are_refused (void)
{
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_new ();
  g_autoptr (MoatSigningKey) key = moat_signing_key_generate (NULL);
  g_autofree char *good = moat_signing_key_public (key);
  g_autofree char *short_key = g_strndup (good, strlen (good) - 4);
  g_autofree char *long_key = g_strconcat (good, "AAAA", NULL);
  g_autofree char *junk = g_strdup (good);
  junk[5] = '!';
  const char *bad[]
      = { "", short_key, long_key, junk, "not base64 at all, not at all!!!!!!!!!!!!!" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (moat_trusted_keys_add (keys, bad[i], FALSE, &error));
      g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
    }
  g_assert_cmpuint (moat_trusted_keys_count (keys), ==, 0);
  g_assert_true (moat_trusted_keys_add (keys, good, FALSE, NULL));
}

static void
test_secret_key_round_trip (void)
{
  g_autofree char *dir = g_dir_make_tmp ("moat-sign-XXXXXX", NULL);
  g_autofree char *secret = g_build_filename (dir, "k.key", NULL);
  g_autofree char *public_path = g_build_filename (dir, "k.pub", NULL);
  g_autoptr (MoatSigningKey) key = moat_signing_key_generate (NULL);
  g_assert_true (moat_signing_key_save (key, secret, public_path, NULL));
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatSigningKey) loaded = moat_signing_key_load (secret, &error);
  g_assert_no_error (error);
  g_autofree char *a = moat_signing_key_public (key);
  g_autofree char *b = moat_signing_key_public (loaded);
  g_assert_cmpstr (a, ==, b);
  g_assert_false (moat_signing_key_save (key, secret, public_path, NULL)); /* never overwrite */
  g_unlink (secret);
  g_unlink (public_path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add ("/sign/" path, Fixture, NULL, setup, func, teardown)
  ADD ("good-signature-verifies", test_good_signature_verifies);
  ADD ("any-trusted-signature-is-enough", test_any_trusted_signature_is_enough);
  ADD ("refuses-unsigned", test_unsigned_is_refused);
  ADD ("refuses-untrusted-key", test_untrusted_key_is_refused);
  ADD ("refuses-tampered-data", test_tampered_data_is_refused);
  ADD ("refuses-revoked-key", test_revoked_key_is_refused);
  ADD ("refuses-wrong-length-signature", test_wrong_length_signature_is_refused);
  ADD ("refuses-too-many-signatures", test_too_many_signatures_are_refused);
  ADD ("refuses-wrong-metadata-type", test_wrong_type_is_refused);
  ADD ("no-trusted-keys-trusts-nothing", test_no_trusted_keys_trusts_nothing);
#undef ADD
  g_test_add_func ("/sign/refuses-malformed-keys", test_malformed_keys_are_refused);
  g_test_add_func ("/sign/secret-key-round-trip", test_secret_key_round_trip);
  return g_test_run ();
}
