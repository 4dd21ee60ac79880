/* Unit tests for the bundle format (bundle.h): a .moatb built the way moat-bundle builds one
 * parses back to the commit and signatures that went in, and a damaged or foreign one is
 * refused; what a commit may claim about itself; the order of versions; the tree rules. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "moat-error.h"
#include "proc.h"
#include "seccomp.h"
#include "sign.h"

/* ostree's static delta superblock, as bundle.c reads it. */
#define SUPERBLOCK_TYPE "(a{sv}tayay" OSTREE_COMMIT_GVARIANT_STRING "aya(uayttay)a(yaytt))"
#define SUPERBLOCK_CHILDREN 8
#define SB_METADATA 0
#define SB_TO 3
#define SB_COMMIT 4
#define SB_FALLBACKS 7
#define COMMIT_TIMESTAMP 5

#define TIMESTAMP G_GUINT64_CONSTANT (1767225600) /* 2026-01-01 */
#define EXPIRES G_GUINT64_CONSTANT (4102444800)   /* 2100-01-01 */

/* One real bundle, built once in main(): a signed commit of a tiny tree in an archive repo,
 * written as a .moatb; and a second commit on top, written as a delta from the first. */
typedef struct
{
  char *dir;
  char *ref;
  MoatSigningKey *key;
  char *checksum;
  GVariant *commit;   /* as the repo holds it */
  GVariant *detached; /* its signatures */
  GBytes *moatb;
  GBytes *delta_from_v1; /* v1 -> v2: not a bundle */
} Built;

static Built built;

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_NONE, 0644, &error);
  g_assert_no_error (error);
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;
  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

/* Commit SRC on top of PARENT (or nothing), bound to built.ref, and sign it, as moat-bundle's
 * commit_tree() does. */
static char *
commit_source (OstreeRepo *repo, const char *src, const char *parent, const char *version)
{
  g_autoptr (GError) error = NULL;
  GVariantBuilder metadata;
  g_variant_builder_init (&metadata, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&metadata, "{sv}", MOAT_BUNDLE_VERSION_KEY,
                         g_variant_new_string (version));
  const char *refs[] = { built.ref, NULL };
  g_variant_builder_add (&metadata, "{sv}", MOAT_BUNDLE_REF_BINDING_KEY,
                         g_variant_new_strv (refs, -1));
  g_variant_builder_add (&metadata, "{sv}", MOAT_BUNDLE_EXPIRES_KEY,
                         g_variant_new_uint64 (EXPIRES));
  g_autoptr (GVariant) metadata_v = g_variant_ref_sink (g_variant_builder_end (&metadata));

  g_autoptr (OstreeMutableTree) mtree = ostree_mutable_tree_new ();
  g_autoptr (OstreeRepoCommitModifier) modifier = ostree_repo_commit_modifier_new (
      OSTREE_REPO_COMMIT_MODIFIER_FLAGS_CANONICAL_PERMISSIONS, NULL, NULL, NULL);
  g_autoptr (GFile) root = NULL;
  char *checksum = NULL;
  g_assert_true (ostree_repo_prepare_transaction (repo, NULL, NULL, &error));
  g_assert_true (
      ostree_repo_write_dfd_to_mtree (repo, AT_FDCWD, src, mtree, modifier, NULL, &error));
  g_assert_true (ostree_repo_write_mtree (repo, mtree, &root, NULL, &error));
  g_assert_true (ostree_repo_write_commit_with_time (repo, parent, "demo", NULL, metadata_v,
                                                     OSTREE_REPO_FILE (root), TIMESTAMP, &checksum,
                                                     NULL, &error));
  ostree_repo_transaction_set_ref (repo, NULL, built.ref, checksum);
  g_assert_true (ostree_repo_commit_transaction (repo, NULL, NULL, &error));
  g_assert_true (moat_sign_commit (repo, checksum, built.key, &error));
  g_assert_no_error (error);
  return checksum;
}

/* A one-file delta to TO, from FROM or nothing, as moat-bundle's write_moatb() writes it. */
static GBytes *
delta_file (OstreeRepo *repo, const char *from, const char *to, const char *name)
{
  g_autofree char *path = g_build_filename (built.dir, name, NULL);
  GVariantBuilder params;
  g_variant_builder_init (&params, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&params, "{sv}", "filename", g_variant_new_bytestring (path));
  g_variant_builder_add (&params, "{sv}", "inline-parts", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&params, "{sv}", "min-fallback-size", g_variant_new_uint32 (0));
  g_autoptr (GVariant) params_v = g_variant_ref_sink (g_variant_builder_end (&params));
  g_autoptr (GError) error = NULL;
  g_assert_true (ostree_repo_static_delta_generate (repo, OSTREE_STATIC_DELTA_GENERATE_OPT_MAJOR,
                                                    from, to, NULL, params_v, NULL, &error));
  g_assert_no_error (error);
  return read_bytes (path);
}

static void
build_bundles (void)
{
  g_autoptr (GError) error = NULL;
  built.dir = g_dir_make_tmp ("moat-bundle-test-XXXXXX", &error);
  g_assert_no_error (error);
  built.ref = g_strdup_printf ("sandbox/demo/%s/stable", moat_arch_name (moat_arch_native ()));
  built.key = moat_signing_key_generate (&error);
  g_assert_no_error (error);

  g_autofree char *src = g_build_filename (built.dir, "src", NULL);
  g_autofree char *rootfs = g_build_filename (src, "rootfs", NULL);
  g_assert_cmpint (g_mkdir_with_parents (rootfs, 0755), ==, 0);
  write_file (src, "manifest", "[Sandbox]\nName=demo\nVersion=1.0\nExec=/bin/hello\n");
  write_file (rootfs, "hello.txt", "hello\n");

  g_autofree char *repo_path = g_build_filename (built.dir, "repo", NULL);
  g_autoptr (GFile) repo_file = g_file_new_for_path (repo_path);
  g_autoptr (OstreeRepo) repo = ostree_repo_new (repo_file);
  g_assert_true (ostree_repo_create (repo, OSTREE_REPO_MODE_ARCHIVE, NULL, &error));

  built.checksum = commit_source (repo, src, NULL, "1.0");
  g_assert_true (ostree_repo_load_variant (repo, OSTREE_OBJECT_TYPE_COMMIT, built.checksum,
                                           &built.commit, &error));
  g_assert_true (ostree_repo_read_commit_detached_metadata (repo, built.checksum, &built.detached,
                                                            NULL, &error));
  g_assert_nonnull (built.detached);
  built.moatb = delta_file (repo, NULL, built.checksum, "demo-1.0.moatb");

  write_file (rootfs, "hello.txt", "hello again\n");
  g_autofree char *v2 = commit_source (repo, src, built.checksum, "1.1");
  built.delta_from_v1 = delta_file (repo, built.checksum, v2, "demo-1.0-1.1.delta");

  /* The fixture is a bundle the hub would take: its tree obeys the rules. */
  g_autoptr (GFile) root = NULL;
  g_assert_true (ostree_repo_read_commit (repo, built.checksum, &root, NULL, NULL, &error));
  g_autoptr (GBytes) manifest = moat_bundle_check_tree (root, &error);
  g_assert_no_error (error);
  g_assert_nonnull (manifest);

  /* Everything the tests read is in memory now; the files can go, even if a test fails. */
  g_assert_true (moat_rm_rf (built.dir, &error));
}

static void
free_bundles (void)
{
  g_free (built.dir);
  g_free (built.ref);
  moat_signing_key_free (built.key);
  g_free (built.checksum);
  g_variant_unref (built.commit);
  g_variant_unref (built.detached);
  g_bytes_unref (built.moatb);
  g_bytes_unref (built.delta_from_v1);
}

/* --- moat_bundle_parse ------------------------------------------------------------------ */

static GVariant *
superblock_of (GBytes *bytes)
{
  return g_variant_ref_sink (
      g_variant_new_from_bytes (G_VARIANT_TYPE (SUPERBLOCK_TYPE), bytes, FALSE));
}

/* Where, in built.moatb, the bytes of the superblock's child INDEX start, and their length. */
static gsize
child_offset (gsize index, gsize *ret_len)
{
  g_autoptr (GVariant) superblock = superblock_of (built.moatb);
  g_autoptr (GVariant) child = g_variant_get_child_value (superblock, index);
  *ret_len = g_variant_get_size (child);
  return (gsize)((const guint8 *)g_variant_get_data (child)
                 - (const guint8 *)g_bytes_get_data (built.moatb, NULL));
}

/* built.moatb with the byte at OFFSET replaced by VALUE. */
static GBytes *
with_byte (gsize offset, guint8 value)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (built.moatb, &len);
  guint8 *copy = g_memdup2 (data, len);
  g_assert_cmpuint (offset, <, len);
  copy[offset] = value;
  return g_bytes_new_take (copy, len);
}

/* built.moatb with the bits MASK of the byte at OFFSET flipped. */
static GBytes *
with_flipped (gsize offset, guint8 mask)
{
  return with_byte (offset, ((const guint8 *)g_bytes_get_data (built.moatb, NULL))[offset] ^ mask);
}

/* built.moatb's superblock with child INDEX replaced by VALUE (floating, consumed), in normal
 * form again. */
static GBytes *
with_child (gsize index, GVariant *value)
{
  g_autoptr (GVariant) superblock = superblock_of (built.moatb);
  GVariant *children[SUPERBLOCK_CHILDREN];
  g_assert_cmpuint (g_variant_n_children (superblock), ==, SUPERBLOCK_CHILDREN);
  for (gsize i = 0; i < SUPERBLOCK_CHILDREN; i++)
    children[i]
        = i == index ? g_variant_ref_sink (value) : g_variant_get_child_value (superblock, i);
  g_autoptr (GVariant) rebuilt
      = g_variant_ref_sink (g_variant_new_tuple (children, SUPERBLOCK_CHILDREN));
  for (gsize i = 0; i < SUPERBLOCK_CHILDREN; i++)
    g_variant_unref (children[i]);
  g_assert_true (g_variant_is_normal_form (rebuilt));
  return g_variant_get_data_as_bytes (rebuilt);
}

/* The superblock's metadata without KEY (any key containing it) and, when VALUE is given, with
 * KEY set to VALUE. */
static GVariant *
metadata_with (const char *key, GVariant *value)
{
  g_autoptr (GVariant) superblock = superblock_of (built.moatb);
  g_autoptr (GVariant) metadata = g_variant_get_child_value (superblock, SB_METADATA);
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  GVariantIter iter;
  const char *name;
  GVariant *entry;
  g_variant_iter_init (&iter, metadata);
  while (g_variant_iter_next (&iter, "{&s@v}", &name, &entry))
    {
      if (strstr (name, key) == NULL)
        g_variant_builder_add (&builder, "{s@v}", name, entry);
      g_variant_unref (entry);
    }
  if (value != NULL)
    g_variant_builder_add (&builder, "{sv}", key, value);
  return g_variant_builder_end (&builder);
}

static void
assert_parse_refused (GBytes *bytes, const char *message)
{
  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) detached = NULL;
  g_autofree char *checksum = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_false (moat_bundle_parse (bytes, &commit, &checksum, &detached, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  if (strstr (error->message, message) == NULL)
    g_error ("message '%s' does not hold '%s'", error->message, message);
  g_assert_null (commit);
  g_assert_null (checksum);
  g_assert_null (detached);
}

static void
test_parse_returns_commit_and_signatures (void)
{
  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) detached = NULL;
  g_autofree char *checksum = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (moat_bundle_parse (built.moatb, &commit, &checksum, &detached, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (checksum, ==, built.checksum);
  g_assert_true (g_variant_is_of_type (commit, G_VARIANT_TYPE (OSTREE_COMMIT_GVARIANT_STRING)));
  g_assert_true (g_variant_equal (commit, built.commit));
  g_assert_nonnull (detached);
  g_assert_true (g_variant_equal (detached, built.detached));

  /* What install does next: the signature checks out against the key that made it. */
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_new ();
  g_autofree char *public_key = moat_signing_key_public (built.key);
  g_assert_true (moat_trusted_keys_add (keys, public_key, FALSE, NULL));
  g_autoptr (GVariant) signatures = g_variant_lookup_value (detached, MOAT_SIGN_METADATA_KEY, NULL);
  g_autoptr (GBytes) commit_bytes = g_variant_get_data_as_bytes (commit);
  g_autofree char *signer = NULL;
  g_assert_true (moat_sign_verify_data (keys, commit_bytes, signatures, &signer, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (signer, ==, public_key);

  g_autoptr (MoatBundleInfo) info = moat_bundle_info_from_commit (commit, checksum, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (info->ref, ==, built.ref);
  g_assert_cmpstr (info->name, ==, "demo");
  g_assert_cmpstr (info->arch, ==, moat_arch_name (moat_arch_native ()));
  g_assert_cmpstr (info->branch, ==, "stable");
  g_assert_cmpstr (info->version, ==, "1.0");
  g_assert_cmpuint (info->timestamp, ==, TIMESTAMP);
  g_assert_cmpuint (info->expires, ==, EXPIRES);
  g_assert_null (info->signed_by);
}

static void
test_parse_unsigned_has_no_detached_metadata (void)
{
  g_autoptr (GBytes) bytes = with_child (SB_METADATA, metadata_with ("/commitmeta", NULL));
  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) detached = NULL;
  g_autofree char *checksum = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (moat_bundle_parse (bytes, &commit, &checksum, &detached, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (checksum, ==, built.checksum);
  g_assert_null (detached);
}

static void
test_parse_refuses_empty (void)
{
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  assert_parse_refused (empty, "not a bundle");
}

static void
test_parse_refuses_truncated (void)
{
  gsize len = g_bytes_get_size (built.moatb);
  gsize commit_len;
  gsize commit_start = child_offset (SB_COMMIT, &commit_len);
  const gsize lengths[] = {
    1,
    2,
    7,
    8,
    16,
    64,
    commit_start,
    commit_start + commit_len / 2,
    len / 3,
    len / 2,
    len - 64,
    len - 9,
    len - 8,
    len - 2,
    len - 1,
  };
  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      g_test_message ("truncated to %zu of %zu bytes", lengths[i], len);
      g_autoptr (GBytes) truncated = g_bytes_new_from_bytes (built.moatb, 0, lengths[i]);
      assert_parse_refused (truncated, "not a bundle");
    }
}

static void
test_parse_refuses_tampered_commit (void)
{
  /* The commit's timestamp: any value is well formed, so only the checksum can tell. */
  gsize commit_len;
  gsize commit_start = child_offset (SB_COMMIT, &commit_len);
  g_autoptr (GVariant) timestamp = g_variant_get_child_value (built.commit, COMMIT_TIMESTAMP);
  gsize at = commit_start
             + (gsize)((const guint8 *)g_variant_get_data (timestamp)
                       - (const guint8 *)g_variant_get_data (built.commit));
  g_autoptr (GBytes) tampered = with_flipped (at, 0x01);
  assert_parse_refused (tampered, "tampered");

  /* Every byte of the commit and of the checksum naming it: one flipped bit is refused, as
   * tampered or as malformed, never accepted. */
  const gsize regions[] = { SB_TO, SB_COMMIT };
  for (gsize r = 0; r < G_N_ELEMENTS (regions); r++)
    {
      gsize region_len;
      gsize start = child_offset (regions[r], &region_len);
      for (gsize i = start; i < start + region_len; i++)
        {
          g_autoptr (GBytes) flipped = with_flipped (i, 0x01);
          g_autoptr (GVariant) commit = NULL;
          g_autoptr (GVariant) detached = NULL;
          g_autofree char *checksum = NULL;
          g_autoptr (GError) error = NULL;
          if (moat_bundle_parse (flipped, &commit, &checksum, &detached, &error))
            g_error ("a bundle with byte %zu flipped was accepted", i);
          g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
        }
    }
}

static void
test_parse_passes_tampered_signature_to_verification (void)
{
  /* The signatures are not covered by the checksum: parse hands them on, and verification
   * refuses them. */
  gsize len;
  const guint8 *data = g_bytes_get_data (built.moatb, &len);
  g_autoptr (GVariant) signatures
      = g_variant_lookup_value (built.detached, MOAT_SIGN_METADATA_KEY, NULL);
  g_autoptr (GVariant) first = g_variant_get_child_value (signatures, 0);
  const guint8 *found = memmem (data, len, g_variant_get_data (first), g_variant_get_size (first));
  g_assert_nonnull (found);
  g_autoptr (GBytes) tampered = with_flipped ((gsize)(found - data), 0x80);

  g_autoptr (GVariant) commit = NULL;
  g_autoptr (GVariant) detached = NULL;
  g_autofree char *checksum = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (moat_bundle_parse (tampered, &commit, &checksum, &detached, &error));
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_new ();
  g_autofree char *public_key = moat_signing_key_public (built.key);
  g_assert_true (moat_trusted_keys_add (keys, public_key, FALSE, NULL));
  g_autoptr (GVariant) tampered_signatures
      = g_variant_lookup_value (detached, MOAT_SIGN_METADATA_KEY, NULL);
  g_autoptr (GBytes) commit_bytes = g_variant_get_data_as_bytes (commit);
  g_assert_false (moat_sign_verify_data (keys, commit_bytes, tampered_signatures, NULL, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_PERMISSION);
}

static void
test_parse_refuses_random_bytes (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261126);
  const gsize sizes[] = { 1, 3, 8, 31, 32, 100, 256, 1000, 4096, g_bytes_get_size (built.moatb) };
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    for (guint round = 0; round < 20; round++)
      {
        guint8 *data = g_malloc (sizes[i]);
        for (gsize b = 0; b < sizes[i]; b++)
          data[b] = (guint8)g_rand_int_range (rand, 0, 256);
        g_autoptr (GBytes) bytes = g_bytes_new_take (data, sizes[i]);
        assert_parse_refused (bytes, "not a bundle");
      }
}

static void
test_parse_refuses_delta_from_a_commit (void)
{
  assert_parse_refused (built.delta_from_v1, "a delta from another commit");
}

static void
test_parse_refuses_non_normal_form (void)
{
  /* The padding between the key "ostree.endianness" (18 bytes with its NUL) and its 8-aligned
   * value must be zeros. A 1 there changes nothing a lenient reader sees, commit included. */
  gsize len;
  const guint8 *data = g_bytes_get_data (built.moatb, &len);
  const char key[] = "ostree.endianness";
  const guint8 *found = memmem (data, len, key, sizeof key);
  g_assert_nonnull (found);
  gsize at = (gsize)(found - data);
  g_assert_cmpuint (at % 8, ==, 0);
  for (gsize i = sizeof key; i < 24; i++)
    g_assert_cmpuint (data[at + i], ==, 0);
  g_assert_cmpuint (data[at + 24], ==, G_BYTE_ORDER == G_LITTLE_ENDIAN ? 'l' : 'B');
  g_autoptr (GBytes) padded = with_byte (at + 20, 1);
  assert_parse_refused (padded, "not a bundle: truncated, or not an OSTree static delta");

  /* The same byte order value, flipped to the other one: well formed, but foreign. */
  g_autoptr (GBytes) foreign = with_byte (at + 24, G_BYTE_ORDER == G_LITTLE_ENDIAN ? 'B' : 'l');
  assert_parse_refused (foreign, "byte order");
}

static void
test_parse_refuses_missing_byte_order (void)
{
  g_autoptr (GBytes) bytes = with_child (SB_METADATA, metadata_with ("ostree.endianness", NULL));
  assert_parse_refused (bytes, "byte order is missing or foreign");
  g_autoptr (GBytes) wrong_type
      = with_child (SB_METADATA, metadata_with ("ostree.endianness", g_variant_new_string ("l")));
  assert_parse_refused (wrong_type, "byte order is missing or foreign");
}

static void
test_parse_refuses_fallbacks (void)
{
  GVariantBuilder fallbacks;
  g_variant_builder_init (&fallbacks, G_VARIANT_TYPE ("a(yaytt)"));
  g_variant_builder_add_value (
      &fallbacks, g_variant_new ("(y@aytt)", (guint8)OSTREE_OBJECT_TYPE_FILE,
                                 ostree_checksum_to_bytes_v ("00000000000000000000000000000000"
                                                             "00000000000000000000000000000000"),
                                 G_GUINT64_CONSTANT (10), G_GUINT64_CONSTANT (10)));
  g_autoptr (GBytes) bytes = with_child (SB_FALLBACKS, g_variant_builder_end (&fallbacks));
  assert_parse_refused (bytes, "fetched from elsewhere");
}

static void
test_parse_refuses_short_checksum (void)
{
  gsize len;
  const guint8 *to
      = (const guint8 *)g_bytes_get_data (built.moatb, NULL) + child_offset (SB_TO, &len);
  g_assert_cmpuint (len, ==, OSTREE_SHA256_DIGEST_LEN);
  g_autoptr (GBytes) bytes
      = with_child (SB_TO, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, to, len - 1, 1));
  assert_parse_refused (bytes, "the target checksum is 31 bytes");
  g_autoptr (GBytes) none
      = with_child (SB_TO, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, NULL, 0, 1));
  assert_parse_refused (none, "the target checksum is 0 bytes");
}

static void
test_parse_refuses_detached_metadata_of_wrong_type (void)
{
  g_autofree char *b64 = NULL;
  {
    guint8 to[OSTREE_SHA256_DIGEST_LEN];
    ostree_checksum_inplace_to_bytes (built.checksum, to);
    b64 = ostree_checksum_b64_from_bytes (to);
  }
  g_autofree char *key = g_strdup_printf ("deltas/%.2s/%s/commitmeta", b64, b64 + 2);
  g_autoptr (GBytes) bytes
      = with_child (SB_METADATA, metadata_with (key, g_variant_new_string ("signed, honestly")));
  assert_parse_refused (bytes, "the detached metadata is of type s, not a{sv}");
}

static void
test_parse_refuses_oversized (void)
{
  /* calloc'd and never touched: the size alone is refused. */
  gsize size = (gsize)MOAT_BUNDLE_MAX_FILE_BYTES + 1;
  g_autoptr (GBytes) big = g_bytes_new_take (g_malloc0 (size), size);
  assert_parse_refused (big, "larger than the 512 MiB limit");
}

/* --- moat_bundle_info_from_commit --------------------------------------------------------- */

#define GOOD_CHECKSUM "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A commit (its bytes need not be anyone's) carrying METADATA (floating, consumed). */
static GVariant *
commit_with (GVariant *metadata)
{
  return g_variant_ref_sink (
      g_variant_new ("(@a{sv}@ay@a(say)sst@ay@ay)", metadata,
                     g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, NULL, 0, 1),
                     g_variant_new_array (G_VARIANT_TYPE ("(say)"), NULL, 0), "subject", "",
                     GUINT64_TO_BE (TIMESTAMP), ostree_checksum_to_bytes_v (GOOD_CHECKSUM),
                     ostree_checksum_to_bytes_v (GOOD_CHECKSUM)));
}

/* Commit metadata from KEY, VALUE (floating) pairs, ending with NULL. */
static GVariant *
metadata_of (const char *key, ...)
{
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  va_list args;
  va_start (args, key);
  for (const char *k = key; k != NULL; k = va_arg (args, const char *))
    g_variant_builder_add (&builder, "{sv}", k, va_arg (args, GVariant *));
  va_end (args);
  return g_variant_builder_end (&builder);
}

static GVariant *
refs_of (const char *first, const char *second)
{
  const char *refs[] = { first, second, NULL };
  return g_variant_new_strv (refs, -1);
}

static void
test_info_reads_claims (void)
{
  g_autofree char *ref
      = g_strdup_printf ("sandbox/mqtt-broker/%s/beta.2_x-y", moat_arch_name (moat_arch_native ()));
  g_autoptr (GVariant) commit = commit_with (metadata_of (
      MOAT_BUNDLE_REF_BINDING_KEY, refs_of (ref, NULL), MOAT_BUNDLE_VERSION_KEY,
      g_variant_new_string ("2.0.11-1+moat1"), "unrelated", g_variant_new_int32 (7), NULL));
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatBundleInfo) info = moat_bundle_info_from_commit (commit, GOOD_CHECKSUM, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (info->checksum, ==, GOOD_CHECKSUM);
  g_assert_cmpstr (info->ref, ==, ref);
  g_assert_cmpstr (info->name, ==, "mqtt-broker");
  g_assert_cmpstr (info->branch, ==, "beta.2_x-y");
  g_assert_cmpstr (info->version, ==, "2.0.11-1+moat1");
  g_assert_cmpuint (info->timestamp, ==, TIMESTAMP);
  g_assert_cmpuint (info->expires, ==, 0);
  g_assert_null (info->signed_by);

  /* Another arch is the commit's claim to make; install compares it with the hub's. */
  g_autoptr (GVariant) other = commit_with (
      metadata_of (MOAT_BUNDLE_REF_BINDING_KEY, refs_of ("sandbox/demo/aarch64/stable", NULL),
                   MOAT_BUNDLE_VERSION_KEY, g_variant_new_string ("1"), MOAT_BUNDLE_EXPIRES_KEY,
                   g_variant_new_uint64 (1), NULL));
  g_autoptr (MoatBundleInfo) other_info
      = moat_bundle_info_from_commit (other, GOOD_CHECKSUM, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (other_info->arch, ==, "aarch64");
  g_assert_cmpuint (other_info->expires, ==, 1);
}

static void
assert_info_refused (GVariant *metadata, const char *message)
{
  g_autoptr (GVariant) commit = commit_with (metadata);
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatBundleInfo) info = moat_bundle_info_from_commit (commit, GOOD_CHECKSUM, &error);
  g_assert_null (info);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  if (strstr (error->message, message) == NULL)
    g_error ("message '%s' does not hold '%s'", error->message, message);
}

static void
test_info_refuses_ref_bindings (void)
{
  const char *version = MOAT_BUNDLE_VERSION_KEY;
  assert_info_refused (metadata_of (version, g_variant_new_string ("1.0"), NULL),
                       "not bound to a ref");
  assert_info_refused (metadata_of (MOAT_BUNDLE_REF_BINDING_KEY, refs_of (NULL, NULL), version,
                                    g_variant_new_string ("1.0"), NULL),
                       "not bound to a ref");
  /* A single string is not a list of refs. */
  assert_info_refused (metadata_of (MOAT_BUNDLE_REF_BINDING_KEY,
                                    g_variant_new_string ("sandbox/demo/x86_64/stable"), version,
                                    g_variant_new_string ("1.0"), NULL),
                       "not bound to a ref");
  assert_info_refused (
      metadata_of (MOAT_BUNDLE_REF_BINDING_KEY,
                   refs_of ("sandbox/demo/x86_64/stable", "sandbox/demo/aarch64/stable"), version,
                   g_variant_new_string ("1.0"), NULL),
      "bound to 2 refs");
}

static void
test_info_refuses_bad_ref_shapes (void)
{
  static const char *const bad[] = {
    "app/demo/x86_64/stable",            /* wrong prefix */
    "Sandbox/demo/x86_64/stable",        /* prefix, case */
    "sandbox/Demo/x86_64/stable",        /* bad name */
    "sandbox/-demo/x86_64/stable",       /* bad name */
    "sandbox//x86_64/stable",            /* no name */
    "sandbox/demo/sparc64/stable",       /* unknown arch */
    "sandbox/demo/X86_64/stable",        /* arch, case */
    "sandbox/demo/x86_64/.hidden",       /* bad branch */
    "sandbox/demo/x86_64/-rc",           /* bad branch */
    "sandbox/demo/x86_64/a b",           /* bad branch */
    "sandbox/demo/x86_64/",              /* no branch */
    "sandbox/demo/x86_64",               /* three parts */
    "sandbox/demo/x86_64/stable/extra",  /* five parts */
    "sandbox/demo/x86_64/stable\n",      /* control character */
    "sandbox/demo/x86_64/stable\x1b[2J", /* terminal escape */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("ref '%s'", bad[i]);
      assert_info_refused (metadata_of (MOAT_BUNDLE_REF_BINDING_KEY, refs_of (bad[i], NULL),
                                        MOAT_BUNDLE_VERSION_KEY, g_variant_new_string ("1.0"),
                                        NULL),
                           "not sandbox/NAME/ARCH/BRANCH");
    }
}

static void
test_info_refuses_bad_versions (void)
{
  const char *ref_key = MOAT_BUNDLE_REF_BINDING_KEY;
  const char *ref = "sandbox/demo/x86_64/stable";
  assert_info_refused (metadata_of (ref_key, refs_of (ref, NULL), NULL), "has no version");
  assert_info_refused (metadata_of (ref_key, refs_of (ref, NULL), MOAT_BUNDLE_VERSION_KEY,
                                    g_variant_new_uint32 (1), NULL),
                       "has no version");
  g_autofree char *longest = g_strnfill (64, '1');
  g_autofree char *overlong = g_strnfill (65, '1');
  const char *bad[] = {
    "", overlong, "1.0\n", "1.0\r", "1.0\t", "\x1b[31m1.0", "1.0\x7f",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("version of %zu bytes", strlen (bad[i]));
      assert_info_refused (metadata_of (ref_key, refs_of (ref, NULL), MOAT_BUNDLE_VERSION_KEY,
                                        g_variant_new_string (bad[i]), NULL),
                           "not printable or not 1-64 characters");
    }
  g_autoptr (GVariant) commit = commit_with (metadata_of (
      ref_key, refs_of (ref, NULL), MOAT_BUNDLE_VERSION_KEY, g_variant_new_string (longest), NULL));
  g_autoptr (MoatBundleInfo) info = moat_bundle_info_from_commit (commit, GOOD_CHECKSUM, NULL);
  g_assert_nonnull (info);
  g_assert_cmpstr (info->version, ==, longest);
}

/* C1 controls (U+0080-U+009F) are control characters too: U+009B is CSI, the start of a
 * terminal escape, and U+0085 a line break; `moat-bundle inspect` prints the version of a
 * bundle nobody has verified yet. */
static void
test_info_refuses_c1_control_in_version (void)
{
  const char *bad[] = { "1.0\xc2\x9b"
                        "2J",
                        "1.0\xc2\x85"
                        "2.0",
                        "\xc2\x80" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("version %zu", i);
      assert_info_refused (
          metadata_of (MOAT_BUNDLE_REF_BINDING_KEY, refs_of ("sandbox/demo/x86_64/stable", NULL),
                       MOAT_BUNDLE_VERSION_KEY, g_variant_new_string (bad[i]), NULL),
          "not printable or not 1-64 characters");
    }
}

static void
test_info_refuses_bad_expiry (void)
{
  const char *ref_key = MOAT_BUNDLE_REF_BINDING_KEY;
  const char *ref = "sandbox/demo/x86_64/stable";
  const char *version = MOAT_BUNDLE_VERSION_KEY;
  assert_info_refused (metadata_of (ref_key, refs_of (ref, NULL), version,
                                    g_variant_new_string ("1.0"), MOAT_BUNDLE_EXPIRES_KEY,
                                    g_variant_new_uint32 (2000000000), NULL),
                       "moat.expires is of type u, not t");
  assert_info_refused (metadata_of (ref_key, refs_of (ref, NULL), version,
                                    g_variant_new_string ("1.0"), MOAT_BUNDLE_EXPIRES_KEY,
                                    g_variant_new_int64 (2000000000), NULL),
                       "moat.expires is of type x, not t");
  assert_info_refused (metadata_of (ref_key, refs_of (ref, NULL), version,
                                    g_variant_new_string ("1.0"), MOAT_BUNDLE_EXPIRES_KEY,
                                    g_variant_new_string ("2030-01-01"), NULL),
                       "moat.expires is of type s, not t");
  assert_info_refused (metadata_of (ref_key, refs_of (ref, NULL), version,
                                    g_variant_new_string ("1.0"), MOAT_BUNDLE_EXPIRES_KEY,
                                    g_variant_new_uint64 (0), NULL),
                       "moat.expires is 0");
}

static void
test_info_refuses_what_is_not_a_commit (void)
{
  g_autoptr (GVariant) text = g_variant_ref_sink (g_variant_new_string ("commit"));
  g_autoptr (GError) error = NULL;
  g_assert_null (moat_bundle_info_from_commit (text, GOOD_CHECKSUM, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
}

/* --- moat_bundle_ref_parse ---------------------------------------------------------------- */

static void
test_ref_parse (void)
{
  g_autofree char *name = NULL;
  g_autofree char *arch = NULL;
  g_autofree char *branch = NULL;
  g_assert_true (
      moat_bundle_ref_parse ("sandbox/thermostat/aarch64/stable", &name, &arch, &branch));
  g_assert_cmpstr (name, ==, "thermostat");
  g_assert_cmpstr (arch, ==, "aarch64");
  g_assert_cmpstr (branch, ==, "stable");
  g_assert_true (moat_bundle_ref_parse ("sandbox/a/x86_64/1", NULL, NULL, NULL));
  g_assert_true (moat_bundle_ref_parse ("sandbox/a1-b2/x86_64/v2.0_rc-1", NULL, NULL, NULL));

  g_autofree char *branch_64 = g_strnfill (MOAT_BUNDLE_MAX_BRANCH, 'b');
  g_autofree char *branch_65 = g_strnfill (MOAT_BUNDLE_MAX_BRANCH + 1, 'b');
  g_autofree char *longest = g_strconcat ("sandbox/demo/x86_64/", branch_64, NULL);
  g_autofree char *too_long = g_strconcat ("sandbox/demo/x86_64/", branch_65, NULL);
  g_assert_true (moat_bundle_ref_parse (longest, NULL, NULL, NULL));

  const char *bad[] = { too_long,
                        "",
                        "sandbox",
                        "sandbox/demo",
                        "/sandbox/demo/x86_64/stable",
                        "sandbox/demo/x86_64/stable/",
                        "sandbox/demo//x86_64/stable",
                        "sandbox/demo/x86_64/st/able",
                        "sandbox/demo/x86_64/stäble",
                        "sandbox/demo/x86_64/stable:1",
                        "sandbox/de_mo/x86_64/stable",
                        "sandbox/demo/amd64/stable",
                        "sandbox/demo/x86_64/ stable" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      char *unset = (char *)"unset";
      char *parts[3] = { unset, unset, unset };
      if (moat_bundle_ref_parse (bad[i], &parts[0], &parts[1], &parts[2]))
        g_error ("'%s' was taken for a bundle ref", bad[i]);
      /* Nothing is written on failure. */
      for (gsize p = 0; p < 3; p++)
        g_assert_true (parts[p] == unset);
    }
}

/* --- moat_version_compare ------------------------------------------------------------------ */

typedef struct
{
  const char *a;
  const char *b;
  int order; /* sign of compare (a, b) */
} VersionCase;

static const VersionCase version_cases[] = {
  { "1.0", "1.1", -1 },
  { "1.9", "1.10", -1 },
  { "1.10", "2", -1 },
  { "1.0~rc1", "1.0", -1 },
  { "1.0~rc1", "1.0~rc2", -1 },
  { "1.0~~", "1.0~", -1 },
  { "1.0~", "1.0", -1 },
  { "1.0", "1.0a", -1 },
  { "1.0", "1.0.0", -1 },
  { "1.0a", "1.0b", -1 },
  { "1.0z", "1.0.", -1 }, /* letters before other characters */
  { "1.0", "1.0-1", -1 },
  { "2.0.11-1", "2.0.11-1+moat1", -1 },
  { "2.0.11-1+moat1", "2.0.11-1+moat2", -1 },
  { "9", "10", -1 },
  { "99999999999999999999999", "100000000000000000000000", -1 }, /* no overflow */
  { "1.0", "1.0", 0 },
  { "2.0.11-1+moat1", "2.0.11-1+moat1", 0 },
  { "01", "1", 0 },
  { "1.01", "1.1", 0 },
  { "1.000", "1.0", 0 },
  { "1.0~rc01", "1.0~rc1", 0 },
  { "0", "00", 0 },
};

static int
sign_of (int n)
{
  return (n > 0) - (n < 0);
}

static void
test_version_compare (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (version_cases); i++)
    {
      const VersionCase *c = &version_cases[i];
      g_test_message ("%s vs %s", c->a, c->b);
      g_assert_cmpint (sign_of (moat_version_compare (c->a, c->b)), ==, c->order);
      g_assert_cmpint (sign_of (moat_version_compare (c->b, c->a)), ==, -c->order);
      g_assert_cmpint (moat_version_compare (c->a, c->a), ==, 0);
      g_assert_cmpint (moat_version_compare (c->b, c->b), ==, 0);
    }
}

/* --- moat_bundle_check_entry --------------------------------------------------------------- */

typedef struct
{
  const char *path;
  guint depth;
  guint32 mode;
  const char *target;
  const char *refusal; /* NULL: accepted */
} EntryCase;

#define M_REG (S_IFREG | 0644)
#define M_DIR (S_IFDIR | 0755)
#define M_LNK (S_IFLNK | 0777)
#define NAME_REFUSAL "a name that is empty, '.', '..' or holds control characters"
#define ESCAPES "which leads out of the bundle"
#define MOUNTED "a symlink where the runtime mounts"
#define NO_TARGET "a symlink with an empty or overlong target"

static const EntryCase entry_cases[] = {
  /* what a tree is made of */
  { "manifest", 1, M_REG, NULL, NULL },
  { "rootfs", 1, M_DIR, NULL, NULL },
  { "rootfs/usr/bin/x", 4, S_IFREG | 0755, NULL, NULL },
  { "rootfs/etc/group-writable", 3, S_IFREG | 0664, NULL, NULL },
  { "rootfs/srv", 2, S_IFDIR | 0775, NULL, NULL },
  { "rootfs/data", 2, M_DIR, NULL, NULL },
  { "rootfs/etc/hosts", 3, M_REG, NULL, NULL },
  { "rootfs/caf\xc3\xa9", 2, M_REG, NULL, NULL },
  { "rootfs/.profile", 2, M_REG, NULL, NULL },
  { "rootfs/...", 2, M_REG, NULL, NULL },
  /* modes */
  { "rootfs/bin/su", 3, S_IFREG | 04755, NULL, "setuid or setgid (mode 4755)" },
  { "rootfs/bin/wall", 3, S_IFREG | 02755, NULL, "setuid or setgid (mode 2755)" },
  { "rootfs/var/mail", 3, S_IFDIR | 02775, NULL, "setuid or setgid" },
  { "rootfs/etc/passwd", 3, S_IFREG | 0646, NULL, "world-writable (mode 0646)" },
  { "rootfs/etc/all", 3, S_IFREG | 0777, NULL, "world-writable" },
  { "rootfs/srv", 2, S_IFDIR | 0757, NULL, "world-writable" },
  { "rootfs/var/tmp", 3, S_IFDIR | 01777, NULL, "world-writable" },
  { "rootfs/dev/null", 3, S_IFCHR | 0644, NULL, "a device node, socket or FIFO" },
  { "rootfs/dev/sda", 3, S_IFBLK | 0600, NULL, "a device node, socket or FIFO" },
  { "rootfs/run/fifo", 3, S_IFIFO | 0644, NULL, "a device node, socket or FIFO" },
  { "rootfs/run/sock", 3, S_IFSOCK | 0755, NULL, "a device node, socket or FIFO" },
  { "rootfs/typeless", 2, 0644, NULL, "a device node, socket or FIFO" },
  /* symlinks where the runtime mounts */
  { "rootfs/data", 2, M_LNK, "/var/data", MOUNTED },
  { "rootfs/etc", 2, M_LNK, "usr/etc", MOUNTED },
  { "rootfs/etc/hosts", 3, M_LNK, "/data/hosts", MOUNTED },
  { "rootfs/tmp", 2, M_LNK, "/var/tmp", MOUNTED },
  { "rootfs/dev", 2, M_LNK, "/data", MOUNTED },
  { "rootfs/proc", 2, M_LNK, "/data", MOUNTED },
  { "rootfs/sys", 2, M_LNK, "/data", MOUNTED },
  { "rootfs/run", 2, M_LNK, "/data", MOUNTED },
  { "rootfs/etc/hostname", 3, M_LNK, "/data/hostname", NULL },
  { "rootfs/var/run", 3, M_LNK, "../run", NULL },
  /* relative targets */
  { "rootfs/usr/bin/x", 4, M_LNK, "../../lib/y", NULL },
  { "rootfs/usr/bin/x", 4, M_LNK, "../..//lib/./y/", NULL },
  { "rootfs/usr/bin/sh", 4, M_LNK, "busybox", NULL },
  { "rootfs/bin", 2, M_LNK, "usr/bin", NULL },
  { "rootfs/x", 2, M_LNK, ".", NULL },
  { "rootfs/usr/bin/x", 4, M_LNK, "../../..", ESCAPES },
  { "rootfs/usr/bin/x", 4, M_LNK, "../../../etc", ESCAPES },
  { "rootfs/usr/bin/x", 4, M_LNK, "./../.././../lib", ESCAPES },
  { "rootfs/x", 2, M_LNK, "..", ESCAPES },
  { "rootfs/x", 2, M_LNK, "a/../../b", ESCAPES },
  { "rootfs/x", 2, M_LNK, "../rootfs/y", ESCAPES },
  /* absolute targets: resolved inside the sandbox's root */
  { "rootfs/etc/localtime", 3, M_LNK, "/usr/share/zoneinfo/UTC", NULL },
  { "rootfs/lib", 2, M_LNK, "/usr/lib", NULL },
  { "rootfs/x", 2, M_LNK, "/", NULL },
  /* targets */
  { "rootfs/x", 2, M_LNK, "", NO_TARGET },
  { "rootfs/x", 2, M_LNK, NULL, NO_TARGET },
  /* names */
  { "rootfs/..", 2, M_DIR, NULL, NAME_REFUSAL },
  { "rootfs/.", 2, M_DIR, NULL, NAME_REFUSAL },
  { "..", 1, M_DIR, NULL, NAME_REFUSAL },
  { "rootfs/", 2, M_DIR, NULL, NAME_REFUSAL },
  { "", 1, M_REG, NULL, NAME_REFUSAL },
  { "rootfs/a\nb", 2, M_REG, NULL, NAME_REFUSAL },
  { "rootfs/a\rb", 2, M_REG, NULL, NAME_REFUSAL },
  { "rootfs/tab\t", 2, M_REG, NULL, NAME_REFUSAL },
  { "rootfs/\x1b[2J", 2, M_REG, NULL, NAME_REFUSAL },
  { "rootfs/del\x7f", 2, M_REG, NULL, NAME_REFUSAL },
  { "rootfs/usr/bin/x\n", 4, M_LNK, "../../lib/y", NAME_REFUSAL },
  /* depth */
  { "rootfs/d", MOAT_BUNDLE_MAX_DEPTH, M_DIR, NULL, NULL },
  { "rootfs/d", MOAT_BUNDLE_MAX_DEPTH + 1, M_DIR, NULL, "deeper than 48 directories" },
  { "rootfs/f", MOAT_BUNDLE_MAX_DEPTH + 1, M_REG, NULL, "deeper than 48 directories" },
};

static void
test_check_entry (gconstpointer data)
{
  const EntryCase *c = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = moat_bundle_check_entry (c->path, c->depth, c->mode, c->target, &error);
  if (c->refusal == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      return;
    }
  g_assert_false (ok);
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  if (strstr (error->message, c->refusal) == NULL)
    g_error ("message '%s' does not hold '%s'", error->message, c->refusal);
  /* The message quotes the path, escaped: one line of printable text. */
  for (const char *m = error->message; *m != '\0'; m++)
    g_assert_true ((guchar)*m >= 0x20 && *m != 0x7f);
}

static void
test_check_entry_target_length (void)
{
  g_autofree char *longest = g_strnfill (MOAT_BUNDLE_MAX_TARGET, 'a');
  g_autofree char *too_long = g_strnfill (MOAT_BUNDLE_MAX_TARGET + 1, 'a');
  longest[0] = too_long[0] = '/';
  g_assert_true (moat_bundle_check_entry ("rootfs/x", 2, M_LNK, longest, NULL));
  g_autoptr (GError) error = NULL;
  g_assert_false (moat_bundle_check_entry ("rootfs/x", 2, M_LNK, too_long, &error));
  g_assert_error (error, MOAT_ERROR, MOAT_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, NO_TARGET));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  build_bundles ();
  g_test_add_func ("/bundle/parse/returns-commit-and-signatures",
                   test_parse_returns_commit_and_signatures);
  g_test_add_func ("/bundle/parse/unsigned-has-no-detached-metadata",
                   test_parse_unsigned_has_no_detached_metadata);
  g_test_add_func ("/bundle/parse/refuses-empty", test_parse_refuses_empty);
  g_test_add_func ("/bundle/parse/refuses-truncated", test_parse_refuses_truncated);
  g_test_add_func ("/bundle/parse/refuses-tampered-commit", test_parse_refuses_tampered_commit);
  g_test_add_func ("/bundle/parse/passes-tampered-signature-to-verification",
                   test_parse_passes_tampered_signature_to_verification);
  g_test_add_func ("/bundle/parse/refuses-random-bytes", test_parse_refuses_random_bytes);
  g_test_add_func ("/bundle/parse/refuses-delta-from-a-commit",
                   test_parse_refuses_delta_from_a_commit);
  g_test_add_func ("/bundle/parse/refuses-non-normal-form", test_parse_refuses_non_normal_form);
  g_test_add_func ("/bundle/parse/refuses-missing-byte-order",
                   test_parse_refuses_missing_byte_order);
  g_test_add_func ("/bundle/parse/refuses-fallbacks", test_parse_refuses_fallbacks);
  g_test_add_func ("/bundle/parse/refuses-short-checksum", test_parse_refuses_short_checksum);
  g_test_add_func ("/bundle/parse/refuses-detached-metadata-of-wrong-type",
                   test_parse_refuses_detached_metadata_of_wrong_type);
  g_test_add_func ("/bundle/parse/refuses-oversized", test_parse_refuses_oversized);
  g_test_add_func ("/bundle/info/reads-claims", test_info_reads_claims);
  g_test_add_func ("/bundle/info/refuses-ref-bindings", test_info_refuses_ref_bindings);
  g_test_add_func ("/bundle/info/refuses-bad-ref-shapes", test_info_refuses_bad_ref_shapes);
  g_test_add_func ("/bundle/info/refuses-bad-versions", test_info_refuses_bad_versions);
  g_test_add_func ("/bundle/info/refuses-bad-expiry", test_info_refuses_bad_expiry);
  g_test_add_func ("/bundle/info/refuses-what-is-not-a-commit",
                   test_info_refuses_what_is_not_a_commit);
  g_test_add_func ("/bundle/ref-parse", test_ref_parse);
  g_test_add_func ("/bundle/version-compare", test_version_compare);
  for (gsize i = 0; i < G_N_ELEMENTS (entry_cases); i++)
    {
      const EntryCase *c = &entry_cases[i];
      g_autofree char *what
          = g_strdup_printf ("%zu-%s-%s%s%s", i, c->refusal ? "refuses" : "accepts", c->path,
                             c->target ? "-to-" : "", c->target ? c->target : "");
      g_strcanon (what, G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS "-.", '_');
      g_autofree char *path = g_strconcat ("/bundle/check-entry/", what, NULL);
      g_test_add_data_func (path, c, test_check_entry);
    }
  g_test_add_func ("/bundle/check-entry/target-length", test_check_entry_target_length);
  /* Added last, in a suite of its own: a failed assertion ends the program, and the tests
   * above should still report. */
  g_test_add_func ("/bundle/version-text/refuses-c1-controls",
                   test_info_refuses_c1_control_in_version);
  int status = g_test_run ();
  free_bundles ();
  return status;
}
