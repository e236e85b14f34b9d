/*
 * ops/ctx_state.c - the contexts subsystem of sectxd: the security contexts
 * each connection holds (a table in the connection's SECTX_SLOT_CONTEXTS,
 * freed with it) and their accounting over the whole helper (every open
 * context, for status, and the open contexts of each caller uid, for the
 * [sectxd] max_contexts_per_uid cap).  That accounting is the subsystem's
 * state (struct sectxd_contexts), allocated under the daemon context at
 * start and freed at stop.
 *
 * Who can reach this: any local process, through the context operations on
 * pam.sock (ctx.c), each creating and releasing entries of its own
 * connection only.  What they can make it do: hold at most
 * max_contexts_per_connection entries per connection and
 * max_contexts_per_uid per uid over all its connections.
 *
 * It must never let an entry be found from another connection, nor let the
 * count of a uid drift from the entries that exist (an entry's destructor
 * gives its place back, however it goes).
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "ops/ctx_int.h"
#include "ops/ops.h"

/* Open contexts of one caller uid over all its connections; a node exists
 * while n > 0.  Bounded by the connections there can be. */
struct uid_count {
	struct uid_count *next;
	uid_t uid;
	unsigned n;
};

/* hctx->contexts: the subsystem's state. */
struct sectxd_contexts {
	unsigned open_total;	      /* every connection's contexts, for status */
	struct uid_count *uid_counts; /* children of this state */
};

/* The contexts of one connection: *sectx_conn_slot(conn, SECTX_SLOT_CONTEXTS). */
struct ctx_table {
	struct sectxd_ctx *hctx; /* its contexts state may be gone: see entry_destructor */
	struct ctx_entry *head;
	unsigned n;
	uint32_t next_id;
};

static struct uid_count *uid_count_find(struct sectxd_contexts *cs, uid_t uid)
{
	struct uid_count *u;

	for (u = cs->uid_counts; u != NULL && u->uid != uid; u = u->next) {
	}
	return u;
}

/* One context fewer for uid; the node goes with its last. */
static void uid_count_drop(struct sectxd_contexts *cs, uid_t uid)
{
	struct uid_count **pp, *u;

	for (pp = &cs->uid_counts; (u = *pp) != NULL; pp = &u->next) {
		if (u->uid == uid) {
			if (--u->n == 0) {
				*pp = u->next;
				talloc_free(u);
			}
			return;
		}
	}
}

static int entry_destructor(struct ctx_entry *e)
{
	/* NULL once the subsystem stopped (the server, and with it every
	 * connection, is freed before: this is only a safeguard) */
	struct sectxd_contexts *cs = e->tab->hctx->contexts;
	struct ctx_entry **pp;

	/* The GSS context (and its credential on mcc) goes first. */
	TALLOC_FREE(e->gss);
	if (e->mcc != NULL) {
		krb5_cc_destroy(e->kctx, e->mcc);
		e->mcc = NULL;
	}
	for (pp = &e->tab->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			e->tab->n--;
			if (cs != NULL) {
				cs->open_total--;
				uid_count_drop(cs, e->uid);
			}
			break;
		}
	}
	return 0;
}

static struct ctx_table *table_of(struct sectx_request *req, bool create)
{
	void **slot = sectx_conn_slot(req->conn, SECTX_SLOT_CONTEXTS);

	if (*slot == NULL && create) {
		struct ctx_table *t = talloc_zero(sectx_conn_mem(req->conn), struct ctx_table);

		if (t != NULL) {
			t->hctx = req->hctx;
			t->next_id = 1;
		}
		*slot = t;
	}
	return *slot;
}

/* The entry id of the caller's connection, or NULL (ctx_int.h). */
struct ctx_entry *ctx_entry_find(struct sectx_request *req, uint32_t id)
{
	struct ctx_table *t = table_of(req, false);
	struct ctx_entry *e;

	for (e = t != NULL ? t->head : NULL; e != NULL; e = e->next) {
		if (e->id == id) {
			return e;
		}
	}
	return NULL;
}

/* A new entry in the connection's table, or NULL with *status set (BUSY at
 * a cap, *why saying which; INTERNAL out of memory) (ctx_int.h). */
struct ctx_entry *ctx_entry_new(struct sectx_request *req, enum sectx_ctx_role role,
				const char *service, uint32_t *status, const char **why)
{
	struct sectxd_contexts *cs = req->hctx->contexts;
	struct ctx_table *t = cs != NULL ? table_of(req, true) : NULL;
	struct uid_count *u = cs != NULL ? uid_count_find(cs, req->uid) : NULL;
	struct ctx_entry *e;

	*status = SECTX_E_INTERNAL;
	*why = "out of memory";
	if (t == NULL) {
		return NULL;
	}
	if (t->n >= req->hctx->cfg->sectxd.max_contexts_per_connection) {
		*status = SECTX_E_BUSY;
		*why = "per-connection context cap reached";
		return NULL;
	}
	if (u != NULL && u->n >= req->hctx->cfg->sectxd.max_contexts_per_uid) {
		*status = SECTX_E_BUSY;
		*why = "per-uid context cap reached";
		return NULL;
	}
	if (u == NULL) {
		u = talloc_zero(cs, struct uid_count);
		if (u == NULL) {
			return NULL;
		}
		u->uid = req->uid;
		u->next = cs->uid_counts;
		cs->uid_counts = u;
	}
	u->n++; /* the entry's destructor takes it back */
	e = talloc_zero(t, struct ctx_entry);
	if (e == NULL || (e->service = talloc_strdup(e, service)) == NULL) {
		talloc_free(e);
		uid_count_drop(cs, req->uid);
		return NULL;
	}
	e->tab = t;
	e->role = role;
	e->uid = req->uid;
	e->as_uid = req->uid;
	do {
		e->id = t->next_id++;
	} while (e->id == 0 || ctx_entry_find(req, e->id) != NULL);
	e->next = t->head;
	t->head = e;
	t->n++;
	cs->open_total++;
	talloc_set_destructor(e, entry_destructor);
	return e;
}

/* --- the subsystem ---------------------------------------------------------------- */

static int ctx_start(struct sectxd_ctx *hctx)
{
	hctx->contexts = talloc_zero(hctx, struct sectxd_contexts);
	if (hctx->contexts == NULL) {
		SECTX_ERROR("contexts: out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void ctx_stop(struct sectxd_ctx *hctx)
{
	TALLOC_FREE(hctx->contexts);
}

static void ctx_status(struct sectxd_ctx *hctx, struct sectx_wbuf *w)
{
	sectx_put_u32(w, SECTX_TAG_CTX_OPEN,
		      hctx->contexts != NULL ? hctx->contexts->open_total : 0);
}

const struct sectxd_subsystem sectxd_contexts_subsystem = {
    .name = "contexts",
    .start = ctx_start,
    .status = ctx_status,
    .stop = ctx_stop,
};
