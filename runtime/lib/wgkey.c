#include "wgkey.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "moat-error.h"

static gboolean
sodium_ready (GError **error)
{
  if (sodium_init () < 0)
    {
      g_set_error_literal (error, MOAT_ERROR, MOAT_ERROR_FAILED, "libsodium could not initialise");
      return FALSE;
    }
  return TRUE;
}

static MoatWgSecret *
secret_new (GError **error)
{
  if (!sodium_ready (error))
    return NULL;
  MoatWgSecret *secret = sodium_malloc (sizeof *secret);
  if (secret == NULL)
    {
      g_set_error_literal (error, MOAT_ERROR, MOAT_ERROR_FAILED,
                           "sodium_malloc: no locked memory for a private key");
      return NULL;
    }
  sodium_memzero (secret, sizeof *secret);
  return secret;
}

void
moat_wg_secret_free (MoatWgSecret *secret)
{
  if (secret != NULL)
    sodium_free (secret); /* wipes before freeing */
}

void
moat_wg_clamp (guint8 key[MOAT_WG_KEY_LEN])
{
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
}

MoatWgSecret *
moat_wg_secret_generate (GError **error)
{
  MoatWgSecret *secret = secret_new (error);
  if (secret == NULL)
    return NULL;
  randombytes_buf (secret->key, sizeof secret->key);
  moat_wg_clamp (secret->key);
  moat_wg_key_to_base64 (secret->key, secret->base64);
  return secret;
}

MoatWgSecret *
moat_wg_secret_from_base64 (const char *text, GError **error)
{
  g_autoptr (MoatWgSecret) secret = secret_new (error);
  if (secret == NULL || !moat_wg_key_from_base64 (text, secret->key, error))
    return NULL;
  guint8 clamped[MOAT_WG_KEY_LEN];
  memcpy (clamped, secret->key, sizeof clamped);
  moat_wg_clamp (clamped);
  gboolean was_clamped = sodium_memcmp (clamped, secret->key, sizeof clamped) == 0;
  sodium_memzero (clamped, sizeof clamped);
  if (!was_clamped)
    {
      g_set_error_literal (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                           "not a WireGuard private key (it is not clamped)");
      return NULL;
    }
  moat_wg_key_to_base64 (secret->key, secret->base64);
  return g_steal_pointer (&secret);
}

gboolean
moat_wg_secret_public (const MoatWgSecret *secret, char ret_base64[MOAT_WG_KEY_BASE64_LEN + 1],
                       GError **error)
{
  guint8 public_key[MOAT_WG_KEY_LEN];
  if (!sodium_ready (error))
    return FALSE;
  if (crypto_scalarmult_base (public_key, secret->key) != 0)
    {
      g_set_error_literal (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                           "X25519: this private key gives no public key");
      return FALSE;
    }
  moat_wg_key_to_base64 (public_key, ret_base64);
  return TRUE;
}

void
moat_wg_key_to_base64 (const guint8 key[MOAT_WG_KEY_LEN],
                       char ret_base64[MOAT_WG_KEY_BASE64_LEN + 1])
{
  sodium_bin2base64 (ret_base64, MOAT_WG_KEY_BASE64_LEN + 1, key, MOAT_WG_KEY_LEN,
                     sodium_base64_VARIANT_ORIGINAL);
}

gboolean
moat_wg_key_from_base64 (const char *text, guint8 ret_key[MOAT_WG_KEY_LEN], GError **error)
{
  gsize len = strlen (text);
  while (len > 0 && g_ascii_isspace (text[len - 1]))
    len--;
  guint8 key[MOAT_WG_KEY_LEN];
  size_t key_len = 0;
  const char *end = NULL;
  if (len != MOAT_WG_KEY_BASE64_LEN
      || sodium_base642bin (key, sizeof key, text, len, NULL, &key_len, &end,
                            sodium_base64_VARIANT_ORIGINAL)
             != 0
      || end != text + len || key_len != MOAT_WG_KEY_LEN)
    {
      sodium_memzero (key, sizeof key);
      g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                   "not a WireGuard key (expected %d characters of base64 for 32 bytes)",
                   MOAT_WG_KEY_BASE64_LEN);
      return FALSE;
    }
  memcpy (ret_key, key, sizeof key);
  sodium_memzero (key, sizeof key);
  return TRUE;
}

MoatSecretText *
moat_secret_text_printf (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  int len = vsnprintf (NULL, 0, format, args);
  va_end (args);
  if (len < 0 || sodium_init () < 0)
    return NULL;
  MoatSecretText *text = sodium_malloc ((size_t)len + 1);
  if (text == NULL)
    return NULL;
  va_start (args, format);
  vsnprintf (text, (size_t)len + 1, format, args);
  va_end (args);
  return text;
}

void
moat_secret_text_free (MoatSecretText *text)
{
  if (text != NULL)
    sodium_free (text);
}
