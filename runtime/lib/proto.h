/* The local API between `moat` and `moatd` on /run/moat/moatd.sock (root only).
 *
 * A request is one line of printable ASCII: a verb and its arguments separated by single
 * spaces, ending in '\n', at most MOAT_PROTO_MAX_REQUEST bytes. The reply is one JSON
 * object and a '\n', then the daemon closes the connection. A reply that carries an error
 * is {"error":{"code":"...","message":"..."}}. The daemon never parses JSON. */
#pragma once

#include <glib.h>

#define MOAT_PROTO_MAX_REQUEST 1024
#define MOAT_PROTO_MAX_ARGS 8
#define MOAT_PROTO_MAX_REPLY (4 * 1024 * 1024)

typedef struct
{
  char *verb;
  char **args; /* NULL-terminated */
} MoatRequest;

void moat_request_free (MoatRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MoatRequest, moat_request_free)

/* Parse one request line (without its '\n'). Refuses empty lines, control characters,
 * non-ASCII, empty words and too many words. */
MoatRequest *moat_request_parse (const char *line, gsize len, GError **error);

/* Fill ADDR for SOCKET_PATH; refuses a path too long for sun_path. */
struct sockaddr_un;
gboolean moat_proto_socket_address (const char *socket_path, struct sockaddr_un *addr,
                                    GError **error);

/* The JSON error object for ERROR. */
char *moat_proto_error_reply (const GError *error);

/* Client side: connect to SOCKET_PATH, send VERB and ARGS, and return the reply text. */
char *moat_proto_call (const char *socket_path, const char *verb, const char *const *args,
                       GError **error);
