/*
 * daemon/subsystems.c - what sectxd is made of: its subsystems in start order and
 * its operation tables.  Adding a subsystem or an operation group is one line
 * here; everything else lives in the subsystem's own files.
 */
#include "ccache_writer/ccache_writer.h"
#include "core/daemon.h"
#include "daemon/daemon_int.h"
#include "identity/identity.h"
#include "login/login.h"
#include "offline/offline.h"
#include "ops/ops.h"
#include "sessions/sessions.h"

/* The writer first: it is forked before any secret is in our memory. */
const struct sectxd_subsystem *const sectxd_subsystems[] = {
    &sectxd_writer_subsystem,
    &sectxd_krb5_subsystem,
    &sectxd_realm_subsystem,   /* realm_state.c: online/offline, probe */
    &sectxd_offline_subsystem, /* offline_cache.c: cached credentials */
    &sectxd_creds_subsystem,
    &sectxd_throttle_subsystem, /* login/throttle.c: failed-login delays */
    &sectxd_identity_subsystem,
    &sectxd_contexts_subsystem,
    &sectxd_renewal_subsystem,
};
const size_t sectxd_n_subsystems = sizeof(sectxd_subsystems) / sizeof(sectxd_subsystems[0]);

const struct sectx_op_table *const sectxd_op_tables[] = {
    &sectxd_admin_ops, &sectxd_pam_ops,	  &sectxd_pam_gss_ops, &sectxd_nss_ops,
    &sectxd_ctx_ops,   &sectxd_query_ops, &sectxd_cache_ops,
};
const size_t sectxd_n_op_tables = sizeof(sectxd_op_tables) / sizeof(sectxd_op_tables[0]);
