/* Running short command-line tools (ip, wg, nft, qrencode) to completion: input on stdin,
 * output captured, a non-zero exit turned into a GError that carries the tool's own message.
 * posix_spawn with argv, never a shell; secrets travel on stdin or in files, never in argv. */
#pragma once

#include <glib.h>

/* Run ARGV (argv[0] absolute) with a minimal environment plus ENV ("KEY=VALUE", NULL-terminated,
 * may be NULL), INPUT (INPUT_LEN bytes, may be NULL: /dev/null) on stdin, and append its stdout
 * to OUTPUT (may be NULL: discarded). The caller wipes OUTPUT when it may hold a secret. Fails
 * when the tool cannot start or does not exit 0, with "TOOL ARGS: STATUS: its stderr". */
gboolean moat_tool_run (const char *const *argv, const char *const *env, const char *input,
                        gsize input_len, GString *output, GError **error);
