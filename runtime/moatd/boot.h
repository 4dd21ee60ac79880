/* The health gate of a trial boot (docs/updates.md, "Rollback after a failed update"). At
 * startup moatd asks `moat boot-check` what this boot is; when it is an attempt at a new OS
 * deployment, the boot is called good once every Required= sandbox is healthy, and failed,
 * with the reason recorded and a reboot, when HealthTimeout passes first. */
#pragma once

#include <glib.h>

#include "supervise.h"

typedef void (*BootLogFunc) (int priority, const char *message, gpointer user_data);

typedef struct BootGate BootGate;

/* Run MOAT_PATH boot-check now and, on a trial boot, watch SUPERVISOR. */
BootGate *boot_gate_start (const char *moat_path, MoatSupervisor *supervisor, BootLogFunc log,
                           gpointer user_data);
void boot_gate_free (BootGate *gate);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BootGate, boot_gate_free)
