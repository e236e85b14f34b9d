/*
 * daemon/daemon_int.h - what main.c and subsystems.c share: the list of
 * subsystems in start order and the operation tables the server dispatches.
 * Only daemon/ includes this; everything else reaches the subsystems through
 * the daemon context (core/daemon.h).
 */
#ifndef SECTX_DAEMON_INT_H
#define SECTX_DAEMON_INT_H

#include <stddef.h>

#include "core/daemon.h"
#include "server/server.h"

extern const struct sectxd_subsystem *const sectxd_subsystems[];
extern const size_t sectxd_n_subsystems;

extern const struct sectx_op_table *const sectxd_op_tables[];
extern const size_t sectxd_n_op_tables;

#endif /* SECTX_DAEMON_INT_H */
