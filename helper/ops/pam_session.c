/*
 * ops/pam_session.c - the PAM credential and session groups of sectxd
 * (SECTX_OP_PAM_SETCRED, _OPEN_SESSION, _CLOSE_SESSION): write the TGT of a
 * login handle into the user's ccache, have it renewed while the session
 * lasts, and destroy it when the session closes.
 *
 * Who can reach this: any local process, through pam.sock; root for any
 * user, anyone else only for its own (pam_common.c).  What they can make it
 * do: write a ccache, as the user (the ccache writer forks and drops to the
 * user's uid, gid and groups), only from a login handle that was issued for
 * that same user, service and remote host; destroy only a ccache the helper
 * itself wrote for that handle (and only while it still holds that login's
 * principal); close a session the helper registered before a restart.
 *
 * The user and its groups are resolved by identity/account.c: the local
 * passwd and group databases first (on the resolver's threads, never on the
 * loop), then the identity store (which may ask the realm).  This file must
 * never write a ccache as root, nor for an account other than the handle's
 * user.
 */
#include <errno.h>
#include <string.h>

#include "ccache_writer/ccache_writer.h"
#include "clock.h"
#include "identity/identity.h"
#include "log.h"
#include "login/login.h"
#include "ops/pam_int.h"
#include "server/server.h"
#include "sessions/sessions.h"

struct cred_op;
typedef int (*cred_next_fn)(struct cred_op *op);

struct cred_op {
	struct sectx_request *req;
	struct pam_args a;
	uint32_t flag;
	bool retain;
	struct sectx_handle *h;
	struct sectx_writer_user who; /* its groups are a child of op */
	cred_next_fn begun;	      /* the operation, once cred_op_begin's checks pass */
	cred_next_fn next;	      /* what runs once the user is resolved */
	uint32_t fail_result;	      /* what to answer if it cannot be */
};

static void cred_user_looked_up(struct tevent_req *subreq);
static void cred_groups_looked_up(struct tevent_req *subreq);

/* The user could not be resolved, or its account cannot be used (why: for
 * the log): answer fail_result, dropping the handle of a session that
 * cannot be closed as its user. */
static void cred_user_failed(struct cred_op *op, bool resolved, const char *why)
{
	if (resolved) {
		SECTX_ERROR("cannot use the account of %s for its credentials: %s", op->a.user,
			    why);
	} else {
		SECTX_ERROR("cannot resolve %s to a local or realm account: %s", op->a.user, why);
	}
	if (op->h != NULL && op->fail_result == SECTX_PAM_SESSION_ERR) {
		sectx_handle_drop(op->req->hctx, op->h);
	}
	sectx_pam_reply(op->req, op->fail_result, 0, NULL, NULL, NULL);
}

static void cred_user_looked_up(struct tevent_req *subreq)
{
	struct cred_op *op = tevent_req_callback_data(subreq, struct cred_op);
	struct identity_account *acct = NULL;
	int ret;

	ret = identity_account_recv(subreq, op, &acct);
	TALLOC_FREE(subreq);
	/* the handle may have gone while the account was looked up */
	op->h = sectx_handle_find(op->req->hctx, op->a.handle);
	if (ret != 0 || op->h == NULL) {
		cred_user_failed(op, false, op->h == NULL ? "login handle gone" : strerror(-ret));
		return;
	}
	if (acct->uid == 0) {
		/* never write a ccache as root for a realm login */
		cred_user_failed(op, true, "uid 0");
		return;
	}
	op->who.uid = acct->uid;
	op->who.gid = acct->gid;
	op->who.name = op->h->user;
	subreq = identity_account_groups_send(op, op->req->hctx, acct);
	talloc_free(acct);
	if (subreq == NULL) {
		cred_user_failed(op, true, strerror(ENOMEM));
		return;
	}
	tevent_req_set_callback(subreq, cred_groups_looked_up, op);
}

/* Fill op->who's groups (identity/account.c: getgrouplist on a thread for a
 * local account, the store's for a realm user), then run next. */
static void cred_groups_looked_up(struct tevent_req *subreq)
{
	struct cred_op *op = tevent_req_callback_data(subreq, struct cred_op);
	gid_t *groups = NULL;
	size_t n = 0;
	int ret;

	ret = identity_account_groups_recv(subreq, op, &groups, &n);
	TALLOC_FREE(subreq);
	op->h = sectx_handle_find(op->req->hctx, op->a.handle);
	if (ret != 0 || op->h == NULL) {
		cred_user_failed(op, op->h != NULL,
				 op->h == NULL ? "login handle gone" : strerror(-ret));
		return;
	}
	op->who.groups = groups;
	op->who.n_groups = n;
	op->who.name = op->h->user;
	ret = op->next(op);
	if (ret > 0) {
		sectx_request_reply_status(op->req, (uint32_t)ret, NULL);
	}
}

/* Resolve the handle's user (the local passwd database on a thread, else
 * the identity store, which may check the realm) and its groups, then run
 * next.  Answers fail_result if it cannot. */
static int cred_with_user(struct cred_op *op, cred_next_fn next, uint32_t fail_result)
{
	struct tevent_req *subreq;

	op->next = next;
	op->fail_result = fail_result;
	subreq = identity_account_send(op, op->req->hctx, op->h->user);
	if (subreq == NULL) {
		return SECTX_E_INTERNAL;
	}
	tevent_req_set_callback(subreq, cred_user_looked_up, op);
	return 0;
}

static void cred_stored(struct tevent_req *subreq);
static void cred_destroyed(struct tevent_req *subreq);

/* Write (or rewrite) the ccache of op->h, as the resolved user. */
static int cred_store_write(struct cred_op *op)
{
	struct sectxd_ctx *hctx = op->req->hctx;
	krb5_creds *list[2] = {op->h->creds, NULL};
	struct tevent_req *subreq;

	if (op->h->ccache != NULL && (op->who.uid != op->h->uid || op->who.gid != op->h->gid)) {
		sectx_pam_reply(op->req, SECTX_PAM_CRED_ERR, 0, NULL, NULL, NULL);
		return 0;
	}
	subreq = sectx_writer_store_send(
	    op, hctx->ev, hctx->writer, &op->who,
	    op->h->ccache != NULL ? op->h->ccache : hctx->cfg->kerberos.ccache, hctx->krb5->ctx,
	    list, sectx_deadline_after((int64_t)hctx->cfg->sectxd.client_timeout_ms));
	if (subreq == NULL) {
		return SECTX_E_INTERNAL;
	}
	tevent_req_set_callback(subreq, cred_stored, op);
	return 0;
}

static int cred_store(struct cred_op *op)
{
	if (op->h->creds == NULL) {
		/* an offline login: a session, but no tickets to write */
		sectx_handle_claim(op->h);
		sectx_pam_reply(op->req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
		return 0;
	}
	return cred_with_user(op, cred_store_write, SECTX_PAM_CRED_ERR);
}

static void cred_stored(struct tevent_req *subreq)
{
	struct cred_op *op = tevent_req_callback_data(subreq, struct cred_op);
	char *name = NULL;
	int ret;

	ret = sectx_writer_store_recv(subreq, op, &name);
	TALLOC_FREE(subreq);
	/* the handle may have gone while the writer worked */
	op->h = sectx_handle_find(op->req->hctx, op->a.handle);
	if (ret != 0 || op->h == NULL) {
		SECTX_ERROR("cannot write the ccache of %s: %s", op->a.user,
			    ret != 0 ? strerror(-ret) : "login handle gone");
		sectx_pam_reply(op->req, SECTX_PAM_CRED_ERR, 0, NULL, NULL, NULL);
		return;
	}
	if (op->h->ccache == NULL) {
		op->h->ccache = talloc_strdup(op->h, name);
		op->h->uid = op->who.uid;
		op->h->gid = op->who.gid;
		sectx_handle_claim(op->h);
		SECTX_INFO("credentials of %s for %s stored in %s", op->h->user, op->h->service,
			   name);
		/* from now on the session's TGT is renewed until it closes */
		sectx_renewal_register(op->req->hctx, op->h, &op->who);
	}
	sectx_pam_reply(op->req, SECTX_PAM_SUCCESS, SECTX_TAG_CCACHE, op->h->ccache, NULL, NULL);
}

static int cred_destroy_write(struct cred_op *op);

static int cred_destroy(struct cred_op *op)
{
	struct sectxd_ctx *hctx = op->req->hctx;

	sectx_renewal_unregister(hctx, op->h->id, "session closed");
	if (op->h->ccache == NULL || op->retain) {
		if (op->h->ccache != NULL) {
			SECTX_INFO("session of %s closed; ccache %s kept (retain_after_close)",
				   op->h->user, op->h->ccache);
		}
		sectx_handle_drop(hctx, op->h);
		sectx_pam_reply(op->req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
		return 0;
	}
	return cred_with_user(op, cred_destroy_write, SECTX_PAM_SESSION_ERR);
}

/* Destroy the ccache of op->h, as the resolved user. */
static int cred_destroy_write(struct cred_op *op)
{
	struct sectxd_ctx *hctx = op->req->hctx;
	struct tevent_req *subreq;

	/* the writer destroys it only if it still holds this login's principal */
	subreq = sectx_writer_destroy_send(
	    op, hctx->ev, hctx->writer, &op->who, op->h->ccache, hctx->krb5->ctx, op->h->principal,
	    sectx_deadline_after((int64_t)hctx->cfg->sectxd.client_timeout_ms));
	if (subreq == NULL) {
		return SECTX_E_INTERNAL;
	}
	tevent_req_set_callback(subreq, cred_destroyed, op);
	return 0;
}

static void cred_destroyed(struct tevent_req *subreq)
{
	struct cred_op *op = tevent_req_callback_data(subreq, struct cred_op);
	int ret = sectx_writer_destroy_recv(subreq);

	TALLOC_FREE(subreq);
	if (ret == -ENOENT) {
		ret = 0; /* already gone (the user ran kdestroy): nothing to do */
	}
	op->h = sectx_handle_find(op->req->hctx, op->a.handle);
	if (op->h != NULL) {
		SECTX_INFO("session of %s closed; ccache %s %s", op->h->user, op->h->ccache,
			   ret == 0 ? "destroyed" : "could not be destroyed");
		sectx_handle_drop(op->req->hctx, op->h);
	}
	sectx_pam_reply(op->req, ret == 0 ? SECTX_PAM_SUCCESS : SECTX_PAM_SESSION_ERR, 0, NULL,
			NULL, NULL);
}

static void closed_after_restart(struct tevent_req *subreq)
{
	struct cred_op *op = tevent_req_callback_data(subreq, struct cred_op);
	int ret = sectx_renewal_close_recv(subreq);

	TALLOC_FREE(subreq);
	sectx_pam_reply(op->req, ret == 0 ? SECTX_PAM_SUCCESS : SECTX_PAM_SESSION_ERR, 0, NULL,
			NULL, NULL);
}

/* close_session with a handle the credential store lost in a restart: the
 * renewal registry still knows the session (by the handle's hash, bound to
 * the same user, service and remote host) and closes it.  True if it took
 * the request over. */
static bool close_after_restart(struct cred_op *op)
{
	struct tevent_req *subreq;
	uint32_t retain = 0;

	(void)sectx_msg_get_u32(&op->req->msg, SECTX_TAG_RETAIN, &retain);
	subreq =
	    sectx_renewal_close_send(op, op->req->hctx, op->a.handle, op->a.user, op->a.service,
				     op->a.has_rhost ? op->a.rhost : "", retain != 0);
	if (subreq == NULL) {
		return false;
	}
	tevent_req_set_callback(subreq, closed_after_restart, op);
	return true;
}

/* setcred, open_session and close_session share the checks: the caller
 * may act for the user, and the login handle is one sectx made for that
 * user, service and remote host; then begun(op). */
static int cred_op_authorised(void *private_data)
{
	struct cred_op *op = private_data;
	struct sectx_request *req = op->req;

	op->h = sectx_pam_claimable_handle(req, &op->a);
	if (op->h == NULL && op->a.has_handle && req->msg.hdr.op == SECTX_OP_PAM_CLOSE_SESSION &&
	    close_after_restart(op)) {
		return 0; /* a session opened before the helper restarted */
	}
	if (op->h == NULL) {
		/* not a login sectx authenticated (ssh key, root's su): not ours */
		sectx_pam_reply(req, op->a.has_handle ? SECTX_PAM_CRED_ERR : SECTX_PAM_IGNORE, 0,
				NULL, NULL, NULL);
		return 0;
	}
	if (op->h->expired) {
		sectx_pam_reply(req, SECTX_PAM_CRED_ERR, 0, NULL, NULL,
				"The password must be changed first.");
		return 0;
	}
	return op->begun(op);
}

static int cred_op_begin(struct sectx_request *req, cred_next_fn begun)
{
	struct cred_op *op = talloc_zero(req, struct cred_op);

	if (op == NULL) {
		return SECTX_E_INTERNAL;
	}
	op->req = req;
	op->begun = begun;
	if (!sectx_pam_parse_args(req, &op->a)) {
		return 0;
	}
	return sectx_pam_authorise(req, op, op->a.user, NULL, cred_op_authorised);
}

static int setcred_begun(struct cred_op *op)
{
	struct sectx_request *req = op->req;

	if (sectx_msg_get_u32(&req->msg, SECTX_TAG_CRED_FLAG, &op->flag) != 0) {
		sectx_request_reply_status(req, SECTX_E_PROTO, "CRED_FLAG is required");
		return 0;
	}
	switch (op->flag) {
	case SECTX_CRED_ESTABLISH:
		if (op->h->ccache != NULL) {
			/* idempotent: sshd calls it again in each session child */
			sectx_pam_reply(req, SECTX_PAM_SUCCESS, SECTX_TAG_CCACHE, op->h->ccache,
					NULL, NULL);
			return 0;
		}
		return cred_store(op);
	case SECTX_CRED_REINITIALIZE:
	case SECTX_CRED_REFRESH:
		return cred_store(op);
	case SECTX_CRED_DELETE:
		return cred_destroy(op);
	}
	sectx_request_reply_status(req, SECTX_E_INVAL, "unknown CRED_FLAG");
	return 0;
}

/* SECTX_OP_PAM_SETCRED (pam_int.h): USER, SERVICE, [RHOST], HANDLE,
 * CRED_FLAG.  Replies now or once the writer is done; a positive enum
 * sectx_status asks the server to reply. */
int sectx_pam_op_setcred(struct sectx_request *req)
{
	return cred_op_begin(req, setcred_begun);
}

static int open_session_begun(struct cred_op *op)
{
	if (op->h->ccache != NULL) {
		sectx_pam_reply(op->req, SECTX_PAM_SUCCESS, SECTX_TAG_CCACHE, op->h->ccache, NULL,
				NULL);
		return 0;
	}
	return cred_store(op);
}

/* SECTX_OP_PAM_OPEN_SESSION (pam_int.h): USER, SERVICE, [RHOST], HANDLE.
 * Writes the login's ccache unless setcred did; replies as setcred. */
int sectx_pam_op_open_session(struct sectx_request *req)
{
	return cred_op_begin(req, open_session_begun);
}

static int close_session_begun(struct cred_op *op)
{
	uint32_t retain = 0;

	(void)sectx_msg_get_u32(&op->req->msg, SECTX_TAG_RETAIN, &retain);
	op->retain = retain != 0;
	return cred_destroy(op);
}

/* SECTX_OP_PAM_CLOSE_SESSION (pam_int.h): USER, SERVICE, [RHOST], HANDLE,
 * [RETAIN].  Stops renewal, destroys the ccache the helper wrote (unless
 * retained) and drops the handle; replies as setcred. */
int sectx_pam_op_close_session(struct sectx_request *req)
{
	return cred_op_begin(req, close_session_begun);
}
