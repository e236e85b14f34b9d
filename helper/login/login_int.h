/*
 * login/login_int.h - what only the Kerberos engine's own files share: the
 * driver of libkrb5's step APIs over kdc_io (tgs.c) and the keytab listing
 * (keytab.c).
 *
 * Nothing outside helper/login/ includes this; the engine's API is
 * login/login.h.  Who reaches these functions: the engine only.  They must
 * never hand out a key: the keytab listing names principals.
 */
#ifndef SECTX_LOGIN_INT_H
#define SECTX_LOGIN_INT_H

#include <krb5.h>
#include <stddef.h>
#include <stdint.h>
#include <talloc.h>
#include <tevent.h>

#include "login/login.h"
#include "proto.h"

/* --- tgs.c: driving a step API over kdc_io ---------------------------------- */

typedef krb5_error_code (*sectx_step_fn)(krb5_context ctx, void *sctx, krb5_data *in,
					 krb5_data *out, krb5_data *realm, unsigned int *flags);

/* The two step APIs, as sectx_step_fn: sctx is a krb5_init_creds_context
 * (sectx_icc_step) or a krb5_tkt_creds_context (sectx_tcc_step). */
krb5_error_code sectx_icc_step(krb5_context ctx, void *sctx, krb5_data *in, krb5_data *out,
			       krb5_data *realm, unsigned int *flags);
krb5_error_code sectx_tcc_step(krb5_context ctx, void *sctx, krb5_data *in, krb5_data *out,
			       krb5_data *realm, unsigned int *flags);

/* Run a step API context (init_creds or tkt_creds) to completion, each
 * message to a KDC of the realm libkrb5 names, by deadline (monotonic ms).
 * sctx stays the caller's and must outlive the request.  NULL only when out
 * of memory. */
struct tevent_req *sectx_step_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				   struct sectxd_krb5 *k, sectx_step_fn step, void *sctx,
				   int64_t deadline);
/* 0 when the exchange completed (*kerr 0); -EIO with *kerr the libkrb5
 * error it ended with; another -errno when no KDC answered (-ETIMEDOUT,
 * -ECONNREFUSED, -ENOENT: none configured) or the request failed (-ENOMEM),
 * *kerr then KRB5_KDC_UNREACH. */
int sectx_step_recv(struct tevent_req *req, krb5_error_code *kerr);

/* --- keytab.c --------------------------------------------------------------- */

/* Principals of realm in the keytab, host/ ones first (at most 64).
 * Returns 0 and a talloc array on mem_ctx (release it with
 * sectx_free_principals) or a krb5 error. */
krb5_error_code sectx_keytab_principals(TALLOC_CTX *mem_ctx, krb5_context ctx, krb5_keytab kt,
					const krb5_data *realm, krb5_principal **out,
					size_t *n_out);

/* Free the n principals of list and list itself (NULL is fine). */
void sectx_free_principals(krb5_context ctx, krb5_principal *list, size_t n);

#endif /* SECTX_LOGIN_INT_H */
