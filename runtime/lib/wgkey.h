/* WireGuard keys: X25519 through libsodium, in the base64 form `wg` reads and writes.
 * A private key lives only in sodium_malloc memory (guarded, kept out of swap, wiped when freed).
 */
#pragma once

#include <glib.h>

#define MOAT_WG_KEY_LEN 32
#define MOAT_WG_KEY_BASE64_LEN 44 /* 32 bytes in padded base64, without the NUL */

/* A private key and its base64 text, both in sodium_malloc memory. */
typedef struct
{
  guint8 key[MOAT_WG_KEY_LEN];
  char base64[MOAT_WG_KEY_BASE64_LEN + 1];
} MoatWgSecret;

/* Text that holds a secret (a client config with its private key), in sodium_malloc memory. */
typedef char MoatSecretText;

/* A new private key: 32 random bytes (randombytes_buf), clamped as WireGuard does. */
MoatWgSecret *moat_wg_secret_generate (GError **error);

/* A private key from its base64 text (trailing whitespace allowed); must be clamped already,
 * as every key `wg genkey` makes is. */
MoatWgSecret *moat_wg_secret_from_base64 (const char *text, GError **error);

/* Wipe and free. */
void moat_wg_secret_free (MoatWgSecret *secret);

/* Clamp 32 bytes into an X25519 private key: clear bits 0-2 and 255, set bit 254. */
void moat_wg_clamp (guint8 key[MOAT_WG_KEY_LEN]);

/* The public key of SECRET (crypto_scalarmult_base), as base64. */
gboolean moat_wg_secret_public (const MoatWgSecret *secret,
                                char ret_base64[MOAT_WG_KEY_BASE64_LEN + 1], GError **error);

/* KEY as padded base64, the form of `wg genkey` and `wg pubkey`. */
void moat_wg_key_to_base64 (const guint8 key[MOAT_WG_KEY_LEN],
                            char ret_base64[MOAT_WG_KEY_BASE64_LEN + 1]);

/* Decode a key written by moat_wg_key_to_base64 or `wg`; refuses anything but exactly 32 bytes
 * in 44 characters of padded base64 (trailing whitespace allowed). */
gboolean moat_wg_key_from_base64 (const char *text, guint8 ret_key[MOAT_WG_KEY_LEN],
                                  GError **error);

/* printf into sodium_malloc memory, for text that carries a secret. */
MoatSecretText *moat_secret_text_printf (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Wipe and free (NULL is fine). */
void moat_secret_text_free (MoatSecretText *text);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatWgSecret, moat_wg_secret_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatSecretText, moat_secret_text_free)
