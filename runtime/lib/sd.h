/* The few systemd protocols moatd speaks, without libsystemd: with its dependencies that
 * library was about 1 MiB of moatd's resident memory, for a handful of socket writes.
 * - readiness and watchdog: sd_notify(3)'s datagram to $NOTIFY_SOCKET;
 * - a sandbox's output: journald's stdout stream protocol (a header, then lines);
 * - moatd's own events: journald's native protocol (KEY=VALUE fields in one datagram). */
#pragma once

#include <glib.h>

#define MOAT_JOURNAL_STDOUT "/run/systemd/journal/stdout"
#define MOAT_JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Whether systemd is PID 1 (as sd_booted(3) decides: /run/systemd/system exists). */
gboolean moat_sd_booted (void);

/* Send STATE ("READY=1", ...) to the service manager. FALSE with no error when
 * $NOTIFY_SOCKET is unset. */
gboolean moat_sd_notify (const char *state, GError **error);

/* The watchdog interval systemd asks for ($WATCHDOG_USEC, if $WATCHDOG_PID is unset or ours). */
gboolean moat_sd_watchdog_usec (guint64 *ret_usec);

/* A stream into the journal at SOCKET_PATH for a program's output, logged under IDENTIFIER
 * at PRIORITY. Returns the fd (CLOEXEC) or -1. */
int moat_journal_stream_fd (const char *socket_path, const char *identifier, int priority,
                            GError **error);

/* One structured entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and, when not NULL,
 * MOAT_SANDBOX, through the native protocol at SOCKET_PATH. */
gboolean moat_journal_send (const char *socket_path, int priority, const char *identifier,
                            const char *sandbox, const char *message, GError **error);
