/*
 * subsystems.c - what sectxd is made of: its subsystems in start order and
 * its operation tables.  Adding a subsystem or an operation group is one line
 * here; everything else lives in the subsystem's own files.
 */
#include "sectxd.h"

const struct sectxd_subsystem *const sectxd_subsystems[] = {
	NULL, /* keeps the array non-empty; skipped */
};
const size_t sectxd_n_subsystems = sizeof(sectxd_subsystems) / sizeof(sectxd_subsystems[0]);

const struct sectx_op_table *const sectxd_op_tables[] = {
	&sectxd_admin_ops,
};
const size_t sectxd_n_op_tables = sizeof(sectxd_op_tables) / sizeof(sectxd_op_tables[0]);
