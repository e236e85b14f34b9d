/*
 * subsystems.c - what sectxd is made of: its subsystems in start order and
 * its operation tables.  Adding a subsystem or an operation group is one line
 * here; everything else lives in the subsystem's own files.
 */
#include "ccache_writer.h"
#include "credstore.h"
#include "identity_service.h"
#include "krb5_engine.h"
#include "offline_cache.h"
#include "realm_state.h"
#include "renewal.h"
#include "sectxd.h"

extern const struct sectx_op_table sectxd_pam_ops; /* pam_ops.c */
extern const struct sectx_op_table sectxd_ctx_ops; /* ctx_ops.c */
extern const struct sectxd_subsystem sectxd_contexts_subsystem; /* ctx_ops.c */
extern const struct sectx_op_table sectxd_pam_gss_ops; /* pam_gss_ops.c */

/* The writer first: it is forked before any secret is in our memory. */
const struct sectxd_subsystem *const sectxd_subsystems[] = {
	&sectxd_writer_subsystem,
	&sectxd_krb5_subsystem,
	&sectxd_realm_subsystem,   /* realm_state.c: online/offline, probe */
	&sectxd_offline_subsystem, /* offline_cache.c: cached credentials */
	&sectxd_creds_subsystem,
	&sectxd_identity_subsystem,
	&sectxd_contexts_subsystem,
	&sectxd_renewal_subsystem,
};
const size_t sectxd_n_subsystems = sizeof(sectxd_subsystems) / sizeof(sectxd_subsystems[0]);

const struct sectx_op_table *const sectxd_op_tables[] = {
	&sectxd_admin_ops,
	&sectxd_pam_ops,
	&sectxd_pam_gss_ops,
	&sectxd_nss_ops,
	&sectxd_ctx_ops,
};
const size_t sectxd_n_op_tables = sizeof(sectxd_op_tables) / sizeof(sectxd_op_tables[0]);
