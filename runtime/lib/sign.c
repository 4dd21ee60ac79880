#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat-error.h"
#include "proc.h"

#define KEY_FILE_MAX 4096 /* a secret key file is 89 bytes */
#define KEYS_FILE_MAX (64 * 1024)

struct MoatSigningKey
{
  guint8 *secret; /* sodium_malloc'd, MOAT_SIGN_SECRET_BYTES */
  guint8 public_key[MOAT_SIGN_PUBLIC_BYTES];
};

struct MoatTrustedKeys
{
  GArray *trusted; /* of guint8[32] */
  GArray *revoked;
};

typedef struct
{
  guint8 bytes[MOAT_SIGN_PUBLIC_BYTES];
} PublicKey;

static gboolean
ensure_sodium (GError **error)
{
  if (sodium_init () < 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_FAILED, "libsodium failed to initialise"),
           FALSE;
  return TRUE;
}

/* Decode base64 TEXT (LEN bytes, no padding slack, no stray characters) into exactly
 * EXPECTED bytes at OUT. Strict so a truncated or padded key is refused, not misread. */
static gboolean
decode_exact (const char *text, gsize len, guint8 *out, gsize expected)
{
  gsize want = 4 * ((expected + 2) / 3);
  if (len != want)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (text[i]) && text[i] != '+' && text[i] != '/'
        && !(text[i] == '=' && i >= len - 2))
      return FALSE;
  char buf[128];
  if (len >= sizeof buf)
    return FALSE;
  memcpy (buf, text, len);
  buf[len] = '\0';
  gsize decoded = 0;
  g_base64_decode_inplace (buf, &decoded);
  gboolean ok = decoded == expected;
  if (ok)
    memcpy (out, buf, expected);
  sodium_memzero (buf, sizeof buf);
  return ok;
}

MoatSigningKey *
moat_signing_key_generate (GError **error)
{
  if (!ensure_sodium (error))
    return NULL;
  MoatSigningKey *key = g_new0 (MoatSigningKey, 1);
  key->secret = sodium_malloc (MOAT_SIGN_SECRET_BYTES);
  if (key->secret == NULL)
    {
      g_free (key);
      return moat_error_errno (error, ENOMEM, "allocate", "secret key"), NULL;
    }
  crypto_sign_keypair (key->public_key, key->secret);
  return key;
}

void
moat_signing_key_free (MoatSigningKey *key)
{
  if (key == NULL)
    return;
  sodium_free (key->secret); /* wipes */
  g_free (key);
}

char *
moat_signing_key_public (const MoatSigningKey *key)
{
  return g_base64_encode (key->public_key, sizeof key->public_key);
}

MoatSigningKey *
moat_signing_key_load (const char *path, GError **error)
{
  if (!ensure_sodium (error))
    return NULL;
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return moat_error_errno (error, errno, "open secret key", path), NULL;
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > KEY_FILE_MAX)
    {
      close (fd);
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                          "secret key '%s': not a regular file of a key's size", path),
             NULL;
    }
  if (st.st_mode & 077)
    {
      close (fd);
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_PERMISSION,
                          "secret key '%s' is readable by others (mode %03o): chmod 600 it", path,
                          st.st_mode & 0777),
             NULL;
    }
  char *text = sodium_malloc (KEY_FILE_MAX + 1);
  ssize_t n = text ? read (fd, text, KEY_FILE_MAX) : -1;
  int errsv = errno;
  close (fd);
  if (n < 0)
    {
      sodium_free (text);
      return moat_error_errno (error, errsv, "read secret key", path), NULL;
    }
  gsize len = (gsize)n;
  while (len > 0 && g_ascii_isspace (text[len - 1]))
    len--;
  g_autoptr (MoatSigningKey) key = g_new0 (MoatSigningKey, 1);
  key->secret = sodium_malloc (MOAT_SIGN_SECRET_BYTES);
  gboolean ok
      = key->secret != NULL && decode_exact (text, len, key->secret, MOAT_SIGN_SECRET_BYTES);
  sodium_free (text);
  if (!ok)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "secret key '%s': not an ed25519 secret key (64 bytes, base64)", path),
           NULL;
  /* The file carries seed and public half; a mismatched pair can leak the key when used, so
   * derive the public half from the seed and refuse a file whose halves disagree. */
  guint8 *check = sodium_malloc (MOAT_SIGN_SECRET_BYTES);
  gboolean consistent = check != NULL;
  if (consistent)
    {
      crypto_sign_seed_keypair (key->public_key, check, key->secret);
      consistent = sodium_memcmp (check, key->secret, MOAT_SIGN_SECRET_BYTES) == 0;
      sodium_free (check);
    }
  if (!consistent)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "secret key '%s': its public half does not match its seed", path),
           NULL;
  return g_steal_pointer (&key);
}

gboolean
moat_signing_key_save (const MoatSigningKey *key, const char *secret_path, const char *public_path,
                       GError **error)
{
  gsize text_len
      = sodium_base64_ENCODED_LEN (MOAT_SIGN_SECRET_BYTES, sodium_base64_VARIANT_ORIGINAL);
  char *text = sodium_malloc (text_len + 1);
  if (text == NULL)
    return moat_error_errno (error, ENOMEM, "allocate", "secret key text");
  sodium_bin2base64 (text, text_len, key->secret, MOAT_SIGN_SECRET_BYTES,
                     sodium_base64_VARIANT_ORIGINAL);
  size_t used = strlen (text);
  text[used] = '\n';
  text[used + 1] = '\0';
  gboolean ok = moat_write_new_file (secret_path, text, strlen (text), 0600, TRUE, error);
  sodium_free (text);
  if (!ok)
    return FALSE;
  g_autofree char *public_b64 = moat_signing_key_public (key);
  g_autofree char *public_text = g_strconcat (public_b64, "\n", NULL);
  if (!moat_write_new_file (public_path, public_text, strlen (public_text), 0644, TRUE, error))
    {
      unlink (secret_path);
      return FALSE;
    }
  return TRUE;
}

/* --- trusted keys --------------------------------------------------------------------- */

MoatTrustedKeys *
moat_trusted_keys_new (void)
{
  MoatTrustedKeys *keys = g_new0 (MoatTrustedKeys, 1);
  keys->trusted = g_array_new (FALSE, TRUE, sizeof (PublicKey));
  keys->revoked = g_array_new (FALSE, TRUE, sizeof (PublicKey));
  return keys;
}

void
moat_trusted_keys_free (MoatTrustedKeys *keys)
{
  if (keys == NULL)
    return;
  g_array_unref (keys->trusted);
  g_array_unref (keys->revoked);
  g_free (keys);
}

guint
moat_trusted_keys_count (const MoatTrustedKeys *keys)
{
  return keys->trusted->len;
}

static gboolean
add_key (MoatTrustedKeys *keys, const char *text, gsize len, gboolean revoked)
{
  PublicKey key;
  if (!decode_exact (text, len, key.bytes, sizeof key.bytes))
    return FALSE;
  GArray *list = revoked ? keys->revoked : keys->trusted;
  if (list->len >= MOAT_SIGN_MAX_KEYS)
    return FALSE;
  g_array_append_val (list, key);
  return TRUE;
}

gboolean
moat_trusted_keys_add (MoatTrustedKeys *keys, const char *base64, gboolean revoked, GError **error)
{
  if (!add_key (keys, base64, strlen (base64), revoked))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                        "'%s' is not an ed25519 public key (32 bytes, base64)", base64),
           FALSE;
  return TRUE;
}

static gboolean
load_keys_file (MoatTrustedKeys *keys, const char *path, gboolean revoked, GError **error)
{
  /* Regular files only (a FIFO would block), read up to a bound. */
  int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return moat_error_errno (error, errno, "open", path);
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > KEYS_FILE_MAX)
    {
      close (fd);
      return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s: not a key file", path), FALSE;
    }
  g_autofree char *contents = g_malloc (KEYS_FILE_MAX + 1);
  ssize_t n = read (fd, contents, KEYS_FILE_MAX);
  int errsv = errno;
  close (fd);
  if (n < 0)
    return moat_error_errno (error, errsv, "read", path);
  gsize size = (gsize)n;
  contents[size] = '\0';
  if (memchr (contents, '\0', size) != NULL)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s: not a key file", path), FALSE;
  g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      if (*line == '\0' || *line == '#')
        continue;
      if (!add_key (keys, line, strlen (line), revoked))
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                            "%s:%u: not an ed25519 public key (32 bytes, base64), or too many keys",
                            path, i + 1),
               FALSE;
    }
  return TRUE;
}

MoatTrustedKeys *
moat_trusted_keys_load (const char *dir, GError **error)
{
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_new ();
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &local_error);
  if (d == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&keys);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      gboolean trusted = g_str_has_suffix (name, ".pub");
      gboolean revoked = g_str_has_suffix (name, ".revoked");
      if (!trusted && !revoked)
        continue;
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (!load_keys_file (keys, path, revoked, error))
        return NULL;
    }
  return g_steal_pointer (&keys);
}

/* --- signatures ----------------------------------------------------------------------- */

GBytes *
moat_sign_data (const MoatSigningKey *key, GBytes *data)
{
  guint8 *signature = g_malloc (MOAT_SIGN_SIGNATURE_BYTES);
  gsize len;
  const guint8 *bytes = g_bytes_get_data (data, &len);
  crypto_sign_detached (signature, NULL, bytes, len, key->secret);
  return g_bytes_new_take (signature, MOAT_SIGN_SIGNATURE_BYTES);
}

static gboolean
key_in (GArray *list, const PublicKey *key)
{
  for (guint i = 0; i < list->len; i++)
    if (sodium_memcmp (g_array_index (list, PublicKey, i).bytes, key->bytes, sizeof key->bytes)
        == 0)
      return TRUE;
  return FALSE;
}

static gboolean
verifies (const guint8 *signature, const guint8 *data, gsize len, const PublicKey *key)
{
  return crypto_sign_verify_detached (signature, data, len, key->bytes) == 0;
}

gboolean
moat_sign_verify_data (const MoatTrustedKeys *keys, GBytes *data, GVariant *signatures,
                       char **ret_key, GError **error)
{
  if (!ensure_sodium (error))
    return FALSE;
  /* Type before size: the metadata comes from the commit's author, who picks the type. */
  if (signatures == NULL)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "unsigned: no %s signature",
                        MOAT_SIGN_METADATA_KEY),
           FALSE;
  if (!g_variant_is_of_type (signatures, G_VARIANT_TYPE ("aay")))
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%s is of type %s, not aay",
                        MOAT_SIGN_METADATA_KEY, g_variant_get_type_string (signatures)),
           FALSE;
  if (g_variant_n_children (signatures) == 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_NOT_FOUND, "unsigned: no %s signature",
                        MOAT_SIGN_METADATA_KEY),
           FALSE;
  gsize count = g_variant_n_children (signatures);
  if (count > MOAT_SIGN_MAX_SIGNATURES)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID, "%zu signatures (at most %d)", count,
                        MOAT_SIGN_MAX_SIGNATURES),
           FALSE;
  /* Lengths first: nothing of the wrong size reaches libsodium. */
  for (gsize i = 0; i < count; i++)
    {
      g_autoptr (GVariant) signature = g_variant_get_child_value (signatures, i);
      if (g_variant_get_size (signature) != MOAT_SIGN_SIGNATURE_BYTES)
        return g_set_error (error, MOAT_ERROR, MOAT_ERROR_INVALID,
                            "signature %zu is %zu bytes, not %d", i + 1,
                            g_variant_get_size (signature), MOAT_SIGN_SIGNATURE_BYTES),
               FALSE;
    }
  if (keys->trusted->len == 0)
    return g_set_error (error, MOAT_ERROR, MOAT_ERROR_PERMISSION, "no trusted keys are configured"),
           FALSE;

  gsize len;
  const guint8 *bytes = g_bytes_get_data (data, &len);
  gboolean revoked_signed = FALSE;
  for (gsize i = 0; i < count; i++)
    {
      g_autoptr (GVariant) signature = g_variant_get_child_value (signatures, i);
      const guint8 *sig = g_variant_get_data (signature);
      for (guint k = 0; k < keys->trusted->len; k++)
        {
          const PublicKey *key = &g_array_index (keys->trusted, PublicKey, k);
          if (!verifies (sig, bytes, len, key))
            continue;
          if (key_in (keys->revoked, key))
            {
              revoked_signed = TRUE;
              continue;
            }
          if (ret_key != NULL)
            *ret_key = g_base64_encode (key->bytes, sizeof key->bytes);
          return TRUE;
        }
      for (guint k = 0; k < keys->revoked->len; k++)
        revoked_signed
            = revoked_signed
              || verifies (sig, bytes, len, &g_array_index (keys->revoked, PublicKey, k));
    }
  return g_set_error (error, MOAT_ERROR, MOAT_ERROR_PERMISSION,
                      revoked_signed ? "signed only by a revoked key"
                                     : "not signed by a trusted key"),
         FALSE;
}

/* --- OSTree commits ------------------------------------------------------------------- */

/* What a signature covers (the commit object's bytes) and the detached metadata beside it
 * (NULL when there is none). */
static gboolean
load_commit (OstreeRepo *repo, const char *checksum, GBytes **ret_data, GVariant **ret_metadata,
             GError **error)
{
  if (!ostree_validate_checksum_string (checksum, error))
    return FALSE;
  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) metadata = NULL;
  if (!ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_COMMIT, checksum, &commit, error)
      || !ostree_repo_read_commit_detached_metadata (repo, checksum, &metadata, NULL, error))
    return FALSE;
  *ret_data = g_variant_get_data_as_bytes (commit);
  *ret_metadata = g_steal_pointer (&metadata);
  return TRUE;
}

gboolean
moat_sign_commit (OstreeRepo *repo, const char *checksum, const MoatSigningKey *key, GError **error)
{
  g_autoptr (GBytes) data = NULL;
  g_autoptr (GVariant) metadata = NULL;
  if (!load_commit (repo, checksum, &data, &metadata, error))
    return FALSE;

  /* Keep every other key; append to the signatures already there. */
  g_autoptr (GVariantBuilder) signatures = g_variant_builder_new (G_VARIANT_TYPE ("aay"));
  g_autoptr (GVariantDict) dict = g_variant_dict_new (metadata);
  g_autoptr (GVariant) existing
      = g_variant_dict_lookup_value (dict, MOAT_SIGN_METADATA_KEY, G_VARIANT_TYPE ("aay"));
  for (gsize i = 0; existing != NULL && i < g_variant_n_children (existing); i++)
    {
      g_autoptr (GVariant) child = g_variant_get_child_value (existing, i);
      g_variant_builder_add_value (signatures, child);
    }
  g_autoptr (GBytes) signature = moat_sign_data (key, data);
  g_variant_builder_add_value (
      signatures, g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, signature, TRUE));
  g_variant_dict_insert_value (dict, MOAT_SIGN_METADATA_KEY, g_variant_builder_end (signatures));
  g_autoptr (GVariant) updated = g_variant_ref_sink (g_variant_dict_end (dict));
  return ostree_repo_write_commit_detached_metadata (repo, checksum, updated, NULL, error);
}

gboolean
moat_sign_verify_commit (OstreeRepo *repo, const char *checksum, const MoatTrustedKeys *keys,
                         char **ret_key, GError **error)
{
  g_autoptr (GBytes) data = NULL;
  g_autoptr (GVariant) metadata = NULL;
  if (!load_commit (repo, checksum, &data, &metadata, error))
    return FALSE;
  g_autoptr (GVariant) signatures = NULL;
  if (metadata != NULL)
    {
      g_autoptr (GVariantDict) dict = g_variant_dict_new (metadata);
      signatures = g_variant_dict_lookup_value (dict, MOAT_SIGN_METADATA_KEY, NULL);
    }
  return moat_sign_verify_data (keys, data, signatures, ret_key, error);
}

gboolean
moat_sign_summary (OstreeRepo *repo, const MoatSigningKey *key, guint64 expires, GError **error)
{
  GVariantBuilder extra;
  g_variant_builder_init (&extra, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&extra, "{sv}", "moat.expires", g_variant_new_uint64 (expires));
  g_autoptr (GVariant) extra_v = g_variant_ref_sink (g_variant_builder_end (&extra));
  if (!ostree_repo_regenerate_summary (repo, extra_v, NULL, error))
    return FALSE;
  int repo_fd = ostree_repo_get_dfd (repo);
  g_autoptr (GMappedFile) mapped = NULL;
  {
    int fd = openat (repo_fd, "summary", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      return moat_error_errno (error, errno, "open", "summary");
    mapped = g_mapped_file_new_from_fd (fd, FALSE, error);
    close (fd);
    if (mapped == NULL)
      return FALSE;
  }
  g_autoptr (GBytes) summary = g_mapped_file_get_bytes (mapped);
  g_autoptr (GBytes) signature = moat_sign_data (key, summary);
  GVariantBuilder sigs;
  g_variant_builder_init (&sigs, G_VARIANT_TYPE ("aay"));
  g_variant_builder_add_value (
      &sigs, g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, signature, TRUE));
  GVariantBuilder dict;
  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&dict, "{sv}", MOAT_SIGN_METADATA_KEY, g_variant_builder_end (&sigs));
  g_autoptr (GVariant) dict_v = g_variant_ref_sink (g_variant_builder_end (&dict));
  g_autoptr (GBytes) data = g_variant_get_data_as_bytes (dict_v);
  g_autofree char *path
      = g_build_filename (g_file_peek_path (ostree_repo_get_path (repo)), "summary.sig", NULL);
  return g_file_set_contents_full (
      path, g_bytes_get_data (data, NULL), (gssize)g_bytes_get_size (data),
      G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644, error);
}
