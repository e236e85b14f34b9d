/*
 * ops/ctx_int.h - what the files of the contexts operation group share: a
 * context entry of a connection, the contexts subsystem's accounting of them
 * (ctx_state.c), the [service/NAME] policy and credential sources
 * (ctx_policy.c), and the reply and log helpers of the operations (ctx.c).
 *
 * Only helper/ops/ctx*.c include this.
 */
#ifndef SECTX_CTX_INT_H
#define SECTX_CTX_INT_H

#include <krb5.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "core/daemon.h"
#include "gss_ctx.h"
#include "server/server.h"

struct ctx_table;

/* One context of one connection. */
struct ctx_entry {
	struct ctx_table *tab;
	struct ctx_entry *next;
	uint32_t id;
	enum sectx_ctx_role role;
	char *service;
	uid_t uid;     /* the caller */
	uid_t as_uid;  /* init: the owner of the ccache the caller passed */
	char *as_user; /* init: the user of the login handle the caller passed */
	struct sectx_gss_ctx *gss;
	krb5_context kctx; /* init: owner of mcc */
	krb5_ccache mcc;   /* init: MEMORY copy of the caller's ccache */
};

/* --- ctx_state.c: the entries and their accounting ------------------------------ */

/* The entry id of the caller's connection, or NULL. */
struct ctx_entry *ctx_entry_find(struct sectx_request *req, uint32_t id);

/* A new entry in the connection's table (a talloc child of the connection;
 * freeing it gives its place back), counted for the caller's uid.  NULL
 * with *status set: SECTX_E_BUSY at a cap ([sectxd]
 * max_contexts_per_connection, max_contexts_per_uid; *why says which),
 * SECTX_E_INTERNAL out of memory or the subsystem not started. */
struct ctx_entry *ctx_entry_new(struct sectx_request *req, enum sectx_ctx_role role,
				const char *service, uint32_t *status, const char **why);

/* --- ctx_policy.c: [service/NAME] and credential sources -------------------------- */

/* What runs once a request may use its service: svc is the section of the
 * current config (valid until control returns to the loop), name its NAME
 * (valid while req lives). */
typedef void (*ctx_authorised_fn)(struct sectx_request *req, const struct sectx_config_service *svc,
				  const char *name);

/* Parse SERVICE, find its [service/NAME] and authorise the caller's uid,
 * then run next: at once, or from the loop when the service lists users by
 * name (looked up off the loop, identity/account.c; the section is found
 * again then).  Refused: a reply (E_PROTO, E_NOTFOUND, E_PERM; E_UNAVAIL the
 * passwd database did not answer in time; E_INTERNAL). */
void ctx_authorise(struct sectx_request *req, ctx_authorised_fn next);

/* The SECTX_MECH_* set a service's `mechs` allows. */
unsigned ctx_service_mechs(const struct sectx_config_service *svc);

/* A new initiator entry for service name holding the credentials the
 * request names (the ccache open at fd, or root's login HANDLE) in a
 * MEMORY ccache of its own.  fd stays the caller's.  The entry, or NULL
 * after replying. */
struct ctx_entry *ctx_init_entry(struct sectx_request *req, const char *name, int fd);

/* --- ctx.c: replies and log lines ------------------------------------------------ */

/* Reply with status and msg (made printable, bounded; may be a child of
 * req) and free req. */
void ctx_reply_status(struct sectx_request *req, uint32_t status, const char *msg);

/* One log line for a context that completed (info set) or failed (result
 * says why). */
void ctx_log_event(const struct ctx_entry *e, const struct sectx_ctx_info *info,
		   const char *result);

#endif /* SECTX_CTX_INT_H */
