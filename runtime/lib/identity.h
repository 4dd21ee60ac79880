/* Per-sandbox identity: a slot number that no other installed sandbox holds, from which
 * its host uid/gid range and its SELinux MCS category pair follow. Slots are persisted in
 * STATE_DIR/sandboxes/NAME/identity, so a sandbox keeps its uids (and its data's ownership)
 * across restarts, reboots and updates. */
#pragma once

#include <glib.h>
#include <stdint.h>

#define MOAT_UID_FIRST 0x100000u  /* first host uid handed to sandboxes (1048576) */
#define MOAT_UID_RANGE 65536u     /* uids per sandbox, 0..65535 inside */
#define MOAT_SLOTS_MAX 4096u      /* sandboxes per hub; 0x100000 + 4096 * 65536 < 2^32 */
#define MOAT_MCS_CATEGORIES 1024u /* c0..c1023, as the reference policy defines */

typedef struct
{
  guint slot;
  uint32_t uid_base; /* host uid (and gid) that uid 0 inside maps to */
  guint mcs_low;     /* c<low>,c<high>: low < high, the pair unique per slot */
  guint mcs_high;
} MoatIdentity;

/* The identity that SLOT (< MOAT_SLOTS_MAX) stands for. Pure, for tests. */
void moat_identity_from_slot (guint slot, MoatIdentity *ret_identity);

/* "s0:cLOW,cHIGH" */
char *moat_identity_mcs_level (const MoatIdentity *identity);

/* Return NAME's persisted identity, allocating the lowest free slot (under a lock on
 * STATE_DIR/identity.lock) when it has none. STATE_DIR/sandboxes/NAME/ must exist. */
gboolean moat_identity_get (const char *state_dir, const char *name, MoatIdentity *ret_identity,
                            GError **error);

/* Forget NAME's identity (when a sandbox is purged), freeing its slot. */
gboolean moat_identity_release (const char *state_dir, const char *name, GError **error);
