/* moatd's side of the local API (see proto.h): a Unix socket that only root may use,
 * checked with SO_PEERCRED on every connection. Bad requests get an error reply; nothing a
 * client sends can stop the daemon. */
#pragma once

#include "supervise.h"

#define MOAT_SERVER_MAX_CLIENTS 64
#define MOAT_SERVER_REQUEST_TIMEOUT_MS 5000
#define MOAT_SERVER_RESUME_MS 100 /* pause after running out of fds */

typedef struct MoatServer MoatServer;

/* Listen on SOCKET_PATH (replacing a stale socket), mode 0600. */
MoatServer *moat_server_new (const char *socket_path, MoatSupervisor *supervisor, GError **error);
void moat_server_free (MoatServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatServer, moat_server_free)
