/*
 * ops/ops.h - the operation groups of sectxd: each op table declared once.
 *
 * Every operation a peer can ask for is in exactly one of these tables, with
 * the sockets it is served on and whether it is root-only (the server checks
 * both before the handler runs); daemon/subsystems.c hands the list to the
 * server.  An operation in no table does not exist.
 */
#ifndef SECTX_OPS_H
#define SECTX_OPS_H

#include "core/daemon.h"
#include "server/server.h"

extern const struct sectx_op_table sectxd_admin_ops;   /* admin.c: status, debug level, caches */
extern const struct sectx_op_table sectxd_nss_ops;     /* nss.c: identity reads */
extern const struct sectx_op_table sectxd_pam_ops;     /* pam.c: the PAM groups */
extern const struct sectx_op_table sectxd_pam_gss_ops; /* pam_tickets.c: auth by tickets */
extern const struct sectx_op_table sectxd_ctx_ops;     /* ctx.c: security contexts */
extern const struct sectx_op_table sectxd_query_ops;   /* admin_query.c: tickets, log tail */
extern const struct sectx_op_table sectxd_cache_ops;   /* admin_cache.c: cache list, drop */

/* ctx_state.c: the contexts' accounting (hctx->contexts) is a subsystem of
 * its own. */
extern const struct sectxd_subsystem sectxd_contexts_subsystem;

#endif /* SECTX_OPS_H */
