/* OS updates through libostree, rpm-ostree style (docs/updates.md): what is deployed, and
 * upgrade, deploy, rollback and cancel on a sysroot ("/" on the hub, a folder in tests and on
 * the build host).
 *
 * The tracked ref and remote come from the default deployment's origin
 * ("refspec=moat:os/x86_64/stable"). Nothing is deployed until the candidate has been checked:
 * the remote's summary is signed by a trusted OS key and not expired; the commit is signed by
 * one, bound to the tracked ref, not expired, and newer than the running commit (unless a
 * downgrade is asked for); the pull stays under a byte limit. */
#pragma once

#include <glib.h>
#include <ostree.h>

#define MOAT_OS_EXPIRES_KEY "moat.expires"       /* commit and summary metadata, t */
#define MOAT_OS_DEFAULT_MAX_PULL (2048ULL << 20) /* bytes one pull may fetch */
#define MOAT_OS_DEFAULT_BOOT_ATTEMPTS 3          /* boots a new deployment gets, 1..9 */
#define MOAT_OS_MAX_BOOT_ATTEMPTS 9
#define MOAT_OS_DEFAULT_HEALTH_TIMEOUT 300 /* seconds moatd gives a trial boot, 10..3600 */
#define MOAT_OS_MIN_HEALTH_TIMEOUT 10
#define MOAT_OS_MAX_HEALTH_TIMEOUT 3600

typedef void (*MoatOsProgress) (const char *line, gboolean done, gpointer user_data);

typedef struct
{
  const char *sysroot;  /* "/" */
  const char *keys_dir; /* /etc/moat/keys/os.d */
  gboolean allow_downgrade;
  guint64 max_pull_bytes; /* 0: MOAT_OS_DEFAULT_MAX_PULL */
  guint boot_attempts;    /* 0: MOAT_OS_DEFAULT_BOOT_ATTEMPTS */
  gint64 now;             /* Unix seconds, for expiry */
  /* An offline sysroot has no booted deployment: act as if this one (CHECKSUM.SERIAL) were
   * booted, for boot checks in tests and repairs. NULL: the booted one, else the default. */
  const char *assume_booted;
  MoatOsProgress progress;
  gpointer progress_data;
} MoatOsContext;

/* One deployment, or one candidate commit. */
typedef struct
{
  char *osname;
  char *checksum;
  char *id;      /* CHECKSUM.SERIAL, as `ostree admin status` names a deployment; NULL for a
                  * commit not deployed */
  char *version; /* commit metadata "version", or NULL */
  char *refspec; /* from the origin: "moat:os/x86_64/stable" */
  guint64 timestamp;
  char *signed_by; /* base64 key that verifies it, or NULL */
  gboolean booted;
  gboolean pending; /* will be booted next, not booted now */
  gboolean rollback;
} MoatOsDeployment;

void moat_os_deployment_free (MoatOsDeployment *deployment);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatOsDeployment, moat_os_deployment_free)

/* The events log of SYSROOT's stateroot OSNAME: /var/lib/moat/events.log on the hub ("/"),
 * beneath the stateroot's var/ for a sysroot in a folder. One JSON object a line. */
char *moat_os_events_path (const char *sysroot, const char *osname);

/* Every deployment, in boot order (the first is the default). */
GPtrArray *moat_os_status (const MoatOsContext *ctx, GError **error);

/* Fetch and check the newest commit of the tracked ref. With CHECK_ONLY, report it and stop;
 * otherwise pull it and deploy it as the default, keeping the running one as rollback.
 * MOAT_ERROR_EXISTS when the newest is what runs already (nothing to do). */
MoatOsDeployment *moat_os_upgrade (const MoatOsContext *ctx, gboolean check_only, GError **error);

/* The same for a given commit checksum of the tracked ref. */
MoatOsDeployment *moat_os_deploy (const MoatOsContext *ctx, const char *checksum, GError **error);

/* Make the previous deployment the default (or, with one pending, the running one again). */
MoatOsDeployment *moat_os_rollback (const MoatOsContext *ctx, GError **error);

/* Drop the pending deployment. MOAT_ERROR_NOT_FOUND when there is none. */
gboolean moat_os_cancel (const MoatOsContext *ctx, GError **error);

/* Check a summary and its summary.sig bytes (a{sv} holding ostree.sign.ed25519): signed by a
 * key of KEYS_DIR and, by its moat.expires, not expired at NOW. Pure; unit-tested. */
gboolean moat_os_verify_summary (GBytes *summary, GBytes *signatures, const char *keys_dir,
                                 gint64 now, GError **error);

/* --- boot counting and automatic rollback (docs/updates.md) ------------------------------
 * A new deployment is on trial: the bootloader boots it at most BootAttempts times, counting
 * down moat_boots_left, then boots the one before it. GRUB (os/grub/grub.cfg, x86-64) keeps the
 * count in /boot/grub/grubenv; U-Boot's boot script (os/uboot/boot.cmd, arm64) in
 * /boot/firmware/moat/bootenv. moatd calls the boot good once every Required sandbox is
 * healthy, or records why not and reboots. Without either file there is no counting (an image
 * without either bootloader); with U-Boot's loader/uEnv.txt but no bootenv, an upgrade is
 * refused rather than staged without a way back. */

typedef enum
{
  MOAT_OS_BOOT_UNCOUNTED,   /* no boot counter on this sysroot */
  MOAT_OS_BOOT_NORMAL,      /* no deployment is on trial */
  MOAT_OS_BOOT_TRIAL,       /* this boot is an attempt at a new deployment */
  MOAT_OS_BOOT_ROLLED_BACK, /* the new deployment used up its attempts: it was dropped */
} MoatOsBootState;

typedef struct
{
  MoatOsBootState state;
  char *deployment; /* TRIAL: the one on trial; ROLLED_BACK: the one that failed */
  char *checksum;
  char *version;
  guint attempt; /* TRIAL: this boot is attempt ATTEMPT of ATTEMPTS */
  guint attempts;
  char *reason; /* ROLLED_BACK: why it failed */
} MoatOsBoot;

void moat_os_boot_free (MoatOsBoot *boot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatOsBoot, moat_os_boot_free)

const char *moat_os_boot_state_name (MoatOsBootState state);

/* What this boot is. When the bootloader has fallen back from a deployment that used up its
 * attempts, make that permanent: drop the failed deployment, record why in the events log and
 * stop counting. */
MoatOsBoot *moat_os_boot_check (const MoatOsContext *ctx, GError **error);

/* The trial boot is good (GOOD) and counting stops, or it failed for REASON, recorded for
 * `moat status`; the caller then reboots. MOAT_ERROR_NOT_FOUND when this boot is no trial. */
MoatOsBoot *moat_os_boot_verdict (const MoatOsContext *ctx, gboolean good, const char *reason,
                                  GError **error);
