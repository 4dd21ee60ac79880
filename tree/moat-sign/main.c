/* moat-sign: keys and ed25519 signatures for OSTree commits, on the build host. The OS
 * image and sandbox bundles are signed with it; runtime/lib/sign.c does the work. */
#include <stdio.h>
#include <string.h>

#include "sign.h"

typedef int (*VerbFunc) (int argc, char **argv);

static int
fail (const GError *error)
{
  fprintf (stderr, "moat-sign: %s\n", error->message);
  return 1;
}

static OstreeRepo *
open_repo (const char *path, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (OstreeRepo) repo = ostree_repo_new (file);
  if (!ostree_repo_open (repo, NULL, error))
    return NULL;
  return g_steal_pointer (&repo);
}

/* Resolve REV (a ref or a checksum) in REPO. */
static char *
resolve (OstreeRepo *repo, const char *rev, GError **error)
{
  char *checksum = NULL;
  if (!ostree_repo_resolve_rev (repo, rev, FALSE, &checksum, error))
    return NULL;
  return checksum;
}

static int
cmd_keygen (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatSigningKey) key = moat_signing_key_generate (&error);
  if (key == NULL || !moat_signing_key_save (key, argv[0], argv[1], &error))
    return fail (error);
  g_autofree char *public_key = moat_signing_key_public (key);
  printf ("%s\n", public_key);
  return 0;
}

static int
cmd_public (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatSigningKey) key = moat_signing_key_load (argv[0], &error);
  if (key == NULL)
    return fail (error);
  g_autofree char *public_key = moat_signing_key_public (key);
  printf ("%s\n", public_key);
  return 0;
}

static int
cmd_commit (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatSigningKey) key = moat_signing_key_load (argv[1], &error);
  g_autoptr (OstreeRepo) repo = key ? open_repo (argv[0], &error) : NULL;
  g_autofree char *checksum = repo ? resolve (repo, argv[2], &error) : NULL;
  if (checksum == NULL || !moat_sign_commit (repo, checksum, key, &error))
    return fail (error);
  printf ("signed %s\n", checksum);
  return 0;
}

static int
cmd_verify (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MoatTrustedKeys) keys = moat_trusted_keys_load (argv[1], &error);
  g_autoptr (OstreeRepo) repo = keys ? open_repo (argv[0], &error) : NULL;
  g_autofree char *checksum = repo ? resolve (repo, argv[2], &error) : NULL;
  g_autofree char *signer = NULL;
  if (checksum == NULL || !moat_sign_verify_commit (repo, checksum, keys, &signer, &error))
    return fail (error);
  printf ("%s: good signature by %s\n", checksum, signer);
  return 0;
}

static int
cmd_summary (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  char *end;
  guint64 days = g_ascii_strtoull (argv[2], &end, 10);
  if (*argv[2] == '\0' || *end != '\0' || days == 0 || days > 3650)
    {
      fprintf (stderr, "moat-sign: '%s' is not 1..3650 days\n", argv[2]);
      return 2;
    }
  g_autoptr (MoatSigningKey) key = moat_signing_key_load (argv[1], &error);
  g_autoptr (OstreeRepo) repo = key ? open_repo (argv[0], &error) : NULL;
  guint64 expires = (guint64)(g_get_real_time () / G_USEC_PER_SEC) + days * 86400;
  if (repo == NULL || !moat_sign_summary (repo, key, expires, &error))
    return fail (error);
  printf ("summary signed, expires in %" G_GUINT64_FORMAT " days\n", days);
  return 0;
}

static const struct
{
  const char *name;
  int args;
  VerbFunc func;
  const char *usage;
  const char *summary;
} verbs[] = {
  { "keygen", 2, cmd_keygen, "SECRET_FILE PUBLIC_FILE",
    "make a key pair (secret 0600, never overwritten); prints the public key" },
  { "public", 1, cmd_public, "SECRET_FILE", "print the public key of a secret key" },
  { "commit", 3, cmd_commit, "REPO SECRET_FILE REV",
    "add a signature to a commit's detached metadata" },
  { "summary", 3, cmd_summary, "REPO SECRET_FILE DAYS",
    "regenerate the repo's summary, expiring in DAYS, and sign it (summary.sig)" },
  { "verify", 3, cmd_verify, "REPO KEYS_DIR REV",
    "check a commit against KEYS_DIR/*.pub (and *.revoked); exit 1 when it does not verify" },
};

static void
usage (FILE *out)
{
  fprintf (out, "Usage: moat-sign VERB ARGS\n\n");
  for (gsize i = 0; i < G_N_ELEMENTS (verbs); i++)
    fprintf (out, "  %s %s\n      %s\n", verbs[i].name, verbs[i].usage, verbs[i].summary);
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0))
    {
      usage (stdout);
      return 0;
    }
  for (gsize i = 0; argc >= 2 && i < G_N_ELEMENTS (verbs); i++)
    {
      if (strcmp (argv[1], verbs[i].name) != 0)
        continue;
      if (argc - 2 != verbs[i].args)
        {
          fprintf (stderr, "Usage: moat-sign %s %s\n", verbs[i].name, verbs[i].usage);
          return 2;
        }
      return verbs[i].func (argc - 2, argv + 2);
    }
  usage (stderr);
  return 2;
}
