/* ed25519 signatures (libsodium) on OSTree commits, stored the way upstream OSTree's ed25519
 * signer stores them, so an OSTree built with ed25519 support verifies ours: the commit's
 * detached metadata holds MOAT_SIGN_METADATA_KEY of type "aay", each element a 64-byte
 * signature over the commit object's bytes. Keys are base64 in files, as ostree's are: a
 * public key is 32 bytes, a secret key libsodium's 64.
 *
 * One implementation for OS commits and sandbox bundles; verification keeps "could not check"
 * (MOAT_ERROR_NOT_FOUND: unsigned, no metadata) apart from "invalid" (MOAT_ERROR_PERMISSION:
 * no trusted key verifies, or a revoked one signed) and from malformed input
 * (MOAT_ERROR_INVALID: a signature or key of the wrong length, refused before libsodium sees
 * it). */
#pragma once

#include <glib.h>
#include <ostree.h>

#define MOAT_SIGN_METADATA_KEY "ostree.sign.ed25519"
#define MOAT_SIGN_PUBLIC_BYTES 32
#define MOAT_SIGN_SECRET_BYTES 64
#define MOAT_SIGN_SIGNATURE_BYTES 64
#define MOAT_SIGN_MAX_SIGNATURES 16 /* more than this in one commit is refused unread */
#define MOAT_SIGN_MAX_KEYS 256      /* trusted or revoked keys loaded from one directory */

typedef struct MoatSigningKey MoatSigningKey;

/* A new key pair; the secret half lives in sodium_malloc memory, wiped on free. */
MoatSigningKey *moat_signing_key_generate (GError **error);
/* Read a secret key file (base64 of 64 bytes). It must be a regular file, not a symlink,
 * readable by its owner only. */
MoatSigningKey *moat_signing_key_load (const char *path, GError **error);
/* Write the secret half (0600) and the public half (0644); neither file may exist yet. */
gboolean moat_signing_key_save (const MoatSigningKey *key, const char *secret_path,
                                const char *public_path, GError **error);
/* The public key, base64. */
char *moat_signing_key_public (const MoatSigningKey *key);
void moat_signing_key_free (MoatSigningKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatSigningKey, moat_signing_key_free)

typedef struct MoatTrustedKeys MoatTrustedKeys;

/* Trusted public keys from DIR/\*.pub and revoked ones from DIR/\*.revoked: one base64 key a
 * line, '#' comments. A missing DIR trusts nothing. A key of the wrong length is refused
 * with the file and line. */
MoatTrustedKeys *moat_trusted_keys_load (const char *dir, GError **error);
MoatTrustedKeys *moat_trusted_keys_new (void);
/* Add one base64 key (for tests and tools). */
gboolean moat_trusted_keys_add (MoatTrustedKeys *keys, const char *base64, gboolean revoked,
                                GError **error);
guint moat_trusted_keys_count (const MoatTrustedKeys *keys);
void moat_trusted_keys_free (MoatTrustedKeys *keys);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatTrustedKeys, moat_trusted_keys_free)

/* A detached signature of DATA. */
GBytes *moat_sign_data (const MoatSigningKey *key, GBytes *data);

/* Check SIGNATURES (an "aay" GVariant, or NULL for none) over DATA. On success RET_KEY (if
 * not NULL) is the base64 key that verified. */
gboolean moat_sign_verify_data (const MoatTrustedKeys *keys, GBytes *data, GVariant *signatures,
                                char **ret_key, GError **error);

/* Append a signature by KEY to commit CHECKSUM's detached metadata in REPO. */
gboolean moat_sign_commit (OstreeRepo *repo, const char *checksum, const MoatSigningKey *key,
                           GError **error);

/* Verify commit CHECKSUM in REPO against KEYS. */
gboolean moat_sign_verify_commit (OstreeRepo *repo, const char *checksum,
                                  const MoatTrustedKeys *keys, char **ret_key, GError **error);

/* Regenerate REPO's summary with metadata "moat.expires" (t, EXPIRES Unix seconds), sign its
 * bytes with KEY and write summary.sig as OSTree does (a{sv}: MOAT_SIGN_METADATA_KEY -> aay),
 * so a hub can tell a fresh summary from a replayed one. */
gboolean moat_sign_summary (OstreeRepo *repo, const MoatSigningKey *key, guint64 expires,
                            GError **error);
