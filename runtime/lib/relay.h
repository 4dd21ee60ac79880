/* moatd's discovery relay: carries the multicast and broadcast datagrams that LAN discovery
 * uses (mDNS, SSDP, a broadcast port) between the hub's LAN interfaces and the sandboxes
 * whose manifests declare them with Discover=. Multicast does not cross the hub's routing, so
 * without this a sandbox on its routed /32 never hears the LAN. The design is in
 * docs/runtime.md ("Discovery"). */
#pragma once

#include <glib.h>
#include <stdint.h>

/* SO_MARK of every relay socket ("moat"). The shipped host firewall lets in what is addressed
 * to a socket with this mark (`socket mark`), and nothing is listening with it unless a
 * running sandbox declares discovery. */
#define MOAT_RELAY_MARK 0x6d6f6174u

typedef struct MoatRelay MoatRelay;

MoatRelay *moat_relay_new (void);
void moat_relay_free (MoatRelay *relay);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatRelay, moat_relay_free)

/* Relay DISCOVER (of MoatDiscover*) for the running sandbox NAME, whose veth's hub side is
 * IFNAME and whose address is ADDRESS (host byte order). Opens (or shares) one socket per
 * protocol, bound to its port on every hub address. */
gboolean moat_relay_attach (MoatRelay *relay, const char *name, const char *ifname,
                            uint32_t address, GPtrArray *discover, GError **error);

/* Stop relaying for NAME; a protocol no other sandbox uses has its socket closed. */
void moat_relay_detach (MoatRelay *relay, const char *name);

/* Datagrams relayed from NAME to the LAN and from the LAN (or a reply) to NAME; FALSE when
 * NAME is not attached. */
gboolean moat_relay_counts (MoatRelay *relay, const char *name, guint64 *ret_out, guint64 *ret_in);
