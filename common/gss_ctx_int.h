/*
 * gss_ctx_int.h - what the context library's files share (gss_ctx.c: the
 * token loop; gss_msg.c: per-message calls).  Private to common/gss_*.c.
 */
#ifndef SECTX_GSS_CTX_INT_H
#define SECTX_GSS_CTX_INT_H

#include <gssapi/gssapi.h>
#include <stdbool.h>
#include <stdint.h>
#include <talloc.h>

#include "gss_ctx.h"

struct sectx_gss_ctx {
	enum sectx_ctx_role role;
	unsigned allowed; /* acceptor: SECTX_MECH_* it may complete with */
	unsigned mech;	  /* initiator: asked for; both: negotiated */
	bool via_spnego;
	bool failed;
	bool complete;
	bool want_mutual;      /* initiator: caller asked for GSS_C_MUTUAL_FLAG */
	bool keep_delegated;   /* acceptor: keep a delegated credential */
	const char *principal; /* acceptor: enforce this local name ("" none) */
	uint32_t req_flags;
	gss_cred_id_t cred;
	gss_name_t target;
	gss_ctx_id_t gctx;
	gss_cred_id_t delegated;
	struct sectx_ctx_info info;
};

/* *reason = "what: <major and minor status text>" (on mem_ctx), if reason. */
void sectx_gss_reason_int(TALLOC_CTX *mem_ctx, char **reason, const char *what, uint32_t maj,
			  uint32_t min, gss_OID mech);
/* *reason = a copy of text (on mem_ctx), if reason. */
void sectx_gss_set_reason_int(TALLOC_CTX *mem_ctx, char **reason, const char *text);
/* The OID of a SECTX_MECH_* value (GSS_C_NO_OID for none). */
gss_OID sectx_gss_oid_of_mech_int(unsigned mech);

#endif /* SECTX_GSS_CTX_INT_H */
