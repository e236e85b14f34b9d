/*
 * ops/pam_password.c - the PAM password group of sectxd
 * (SECTX_OP_PAM_CHAUTHTOK): check the current password (PRELIM), change it
 * with the realm's password service and log in again with the new one
 * (UPDATE), so the session gets a fresh, validated TGT.
 *
 * Who can reach this: any local process, through pam.sock; root for any
 * user (passwd run by root, an expired login's forced change), anyone else
 * only for its own (pam_common.c).  What they can make it do: one throttled
 * AS exchange for a kadmin/changepw ticket with the old password (or reuse
 * the one an expired login's handle holds), one bounded kpasswd exchange,
 * one AS exchange with the new password.  The old password's check meets the
 * failed-login throttle as authentication does (login/throttle.c), in PRELIM
 * as in UPDATE: it is a password check like any other, and answered at once
 * (AUTHINFO_UNAVAIL) when the throttle would hold it past its client's
 * timeout or its queue is full.
 *
 * It must never change a password without proof of the current one (the old
 * password, or the changepw ticket of a login that just proved it), log a
 * password, or pass the KDC's text to the user as anything but one
 * printable line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "login/login.h"
#include "ops/pam_int.h"
#include "server/server.h"
#include "sessions/sessions.h"

struct chpw_op {
	struct sectx_request *req;
	struct pam_args a;
	uint32_t phase;
	char *old_pw;
	size_t old_len;
	char *new_pw;
	size_t new_len;
	krb5_principal principal;
	krb5_creds *changepw; /* ours to free */
	struct sectx_handle *h;
	int64_t deadline;     /* of the KDC and kpasswd exchanges */
	int64_t client_until; /* when the client stops waiting: bounds the throttle's waits */
	void *delay;	      /* the start timer, or a throttle wait (a child of op) */
	bool charged;	      /* the old password's check is in flight for the throttle */
	bool waited;	      /* delayed by the throttle once already */
};

static int chpw_op_destructor(struct chpw_op *op)
{
	krb5_context ctx = op->req->hctx->krb5->ctx;

	if (op->charged) { /* the caller left mid-way: counted as a failure */
		sectx_throttle_end(op->req->hctx, op->a.user, op->req->uid, SECTX_THROTTLE_FAILED);
	}
	if (op->principal != NULL) {
		krb5_free_principal(ctx, op->principal);
	}
	if (op->changepw != NULL) {
		krb5_free_creds(ctx, op->changepw);
	}
	return 0;
}

static void chpw_old_checked(struct tevent_req *subreq);
static void chpw_changed(struct tevent_req *subreq);
static void chpw_relogged(struct tevent_req *subreq);

/* Check the old password, the only way that proves it even when expired: a
 * kadmin/changepw ticket.  Throttled as authentication is (pam_auth.c):
 * checked as it starts and again after each wait. */
static void chpw_check_start(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			     void *private_data)
{
	struct chpw_op *op = private_data;
	struct sectxd_ctx *hctx = op->req->hctx;
	struct tevent_req *subreq;
	char msg[128];
	int64_t delay;
	int ret;

	op->delay = NULL;
	delay = sectx_throttle_try_begin(hctx, op->a.user, op->req->uid);
	if (delay != 0) {
		ret = sectx_throttle_wait(hctx, op, op->a.user, op->req->uid, delay,
					  op->client_until, chpw_check_start, op, &op->delay);
		if (ret == -ETIMEDOUT && delay > 0) {
			/* logged by the throttle; PAM_TRY_AGAIN for the caller */
			snprintf(msg, sizeof(msg),
				 "Too many failed attempts; try again in %lld seconds.",
				 (long long)((delay + 999) / 1000));
			sectx_pam_reply(op->req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL, msg);
		} else if (ret == -ETIMEDOUT || ret == -EBUSY) {
			sectx_pam_reply(op->req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL,
					"Too many attempts of this user are in progress; try "
					"again later.");
		} else if (ret != 0) {
			sectx_pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
		} else if (delay > 0) {
			sectx_log(op->waited ? SECTX_LOG_DEBUG : SECTX_LOG_INFO,
				  "delaying the password change check of %s from uid %u by %lld "
				  "ms after failures",
				  op->a.user, (unsigned)op->req->uid, (long long)delay);
			op->waited = true;
		}
		return;
	}
	op->charged = true;
	/* the exchanges' own deadline runs from here, after any wait */
	op->deadline = sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms);
	subreq = sectx_login_send(op, hctx->ev, hctx, op->principal, op->old_pw, op->old_len,
				  "kadmin/changepw", op->deadline);
	if (subreq == NULL) {
		op->charged = false;
		sectx_throttle_end(hctx, op->a.user, op->req->uid, SECTX_THROTTLE_UNTRIED);
		sectx_pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
		return;
	}
	tevent_req_set_callback(subreq, chpw_old_checked, op);
}

static void chpw_change(struct chpw_op *op, krb5_creds *changepw)
{
	struct sectxd_ctx *hctx = op->req->hctx;
	struct tevent_req *subreq;

	subreq =
	    sectx_chpw_send(op, hctx->ev, hctx, changepw, op->new_pw, op->new_len, op->deadline);
	if (subreq == NULL) {
		sectx_pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
		return;
	}
	tevent_req_set_callback(subreq, chpw_changed, op);
}

static void chpw_old_checked(struct tevent_req *subreq)
{
	struct chpw_op *op = tevent_req_callback_data(subreq, struct chpw_op);
	struct sectx_login_out out = {0};
	bool refused;
	int ret;

	ret = sectx_login_recv(subreq, op, &out);
	TALLOC_FREE(subreq);
	/* in flight since it started: a refusal is a failure; an accepted
	 * password (which never clears the count here), an unreachable realm or
	 * an internal error is not */
	refused = ret == 0 && out.result != SECTX_LOGIN_OK && out.result != SECTX_LOGIN_UNAVAIL &&
		  out.result != SECTX_LOGIN_ERROR;
	op->charged = false;
	sectx_throttle_end(op->req->hctx, op->a.user, op->req->uid,
			   refused ? SECTX_THROTTLE_FAILED : SECTX_THROTTLE_UNTRIED);
	if (ret != 0 || out.result != SECTX_LOGIN_OK) {
		SECTX_INFO("password change for %s: current password not accepted: %s", op->a.user,
			   out.result == SECTX_LOGIN_UNKNOWN ? "principal not found"
			   : out.message != NULL	     ? out.message
							     : "error");
		if (out.result == SECTX_LOGIN_UNAVAIL) {
			sectx_pam_reply(op->req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL,
					"The Kerberos realm cannot be reached.");
		} else {
			sectx_pam_reply(op->req, SECTX_PAM_AUTHTOK_RECOVERY_ERR, 0, NULL, NULL,
					"Current password incorrect.");
		}
		return;
	}
	op->changepw = out.creds;
	if (op->phase == SECTX_CHAUTHTOK_PRELIM) {
		sectx_pam_reply(op->req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
		return;
	}
	chpw_change(op, op->changepw);
}

static void chpw_changed(struct tevent_req *subreq)
{
	struct chpw_op *op = tevent_req_callback_data(subreq, struct chpw_op);
	struct sectxd_ctx *hctx = op->req->hctx;
	char *text = NULL;
	int code = -1;
	int ret;

	ret = sectx_chpw_recv(subreq, op, &code, &text);
	TALLOC_FREE(subreq);
	if (ret != 0 || code != 0) {
		char msg[SECTX_STRING_MAX / 2];

		SECTX_INFO("password change for %s refused: %s", op->a.user,
			   ret != 0 ? strerror(-ret) : (text != NULL ? text : "?"));
		snprintf(msg, sizeof(msg), "Password change failed: %s",
			 ret == -ETIMEDOUT		     ? "the password server did not answer"
			 : (text != NULL && text[0] != '\0') ? text
							     : "refused by the realm");
		/* The KDC's text is for the user; keep it a single printable line. */
		for (char *c = msg; *c != '\0'; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				*c = ' ';
			}
		}
		sectx_pam_reply(
		    op->req, ret == -ETIMEDOUT ? SECTX_PAM_AUTHINFO_UNAVAIL : SECTX_PAM_AUTHTOK_ERR,
		    0, NULL, NULL, msg);
		return;
	}
	SECTX_INFO("password of %s changed (for %s, uid %u)", op->a.user, op->a.service,
		   (unsigned)op->req->uid);
	/* The login goes on with the new password: a fresh, validated TGT. */
	subreq =
	    sectx_login_send(op, hctx->ev, hctx, op->principal, op->new_pw, op->new_len, NULL,
			     sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms));
	if (subreq == NULL) {
		sectx_pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
		return;
	}
	tevent_req_set_callback(subreq, chpw_relogged, op);
}

static void chpw_relogged(struct tevent_req *subreq)
{
	struct chpw_op *op = tevent_req_callback_data(subreq, struct chpw_op);
	struct sectxd_ctx *hctx = op->req->hctx;
	struct sectx_login_out out = {0};
	int ret;

	ret = sectx_login_recv(subreq, op, &out);
	TALLOC_FREE(subreq);
	if (ret != 0 || out.result != SECTX_LOGIN_OK) {
		if (out.creds != NULL) {
			krb5_free_creds(hctx->krb5->ctx, out.creds);
		}
		SECTX_ERROR("login of %s with the new password failed: %s", op->a.user,
			    out.message != NULL ? out.message : "error");
		sectx_pam_reply(op->req, SECTX_PAM_AUTHTOK_ERR, 0, NULL, NULL,
				"The new password was set but logging in with it failed.");
		return;
	}
	/* The handle was looked up again: it may have expired meanwhile. */
	op->h = op->a.has_handle ? sectx_handle_find(hctx, op->a.handle) : NULL;
	if (op->h != NULL) {
		sectx_handle_set_creds(hctx, op->h, out.creds, false);
	} else {
		krb5_free_creds(hctx->krb5->ctx, out.creds);
	}
	sectx_pam_reply(op->req, SECTX_PAM_SUCCESS, 0, NULL, NULL, "Password changed.");
}

static int chpw_authorised(void *private_data);

/* SECTX_OP_PAM_CHAUTHTOK (pam_int.h): USER, SERVICE, [RHOST], [HANDLE],
 * PHASE, OLD_PASSWORD and (UPDATE) NEW_PASSWORD.  Replies now on a
 * malformed or refused request, else later from the kpasswd exchange; a
 * positive enum sectx_status asks the server to reply. */
int sectx_pam_op_chauthtok(struct sectx_request *req)
{
	struct chpw_op *op;

	op = talloc_zero(req, struct chpw_op);
	if (op == NULL) {
		return SECTX_E_INTERNAL;
	}
	op->req = req;
	if (!sectx_pam_parse_args(req, &op->a)) {
		return 0;
	}
	return sectx_pam_authorise(req, op, op->a.user, NULL, chpw_authorised);
}

/* The caller may change the password of op's user: check the request, then
 * the old password. */
static int chpw_authorised(void *private_data)
{
	struct chpw_op *op = private_data;
	struct sectx_request *req = op->req;
	struct sectxd_ctx *hctx = req->hctx;
	int ret;

	talloc_set_destructor(op, chpw_op_destructor);
	ret = sectx_msg_get_u32(&req->msg, SECTX_TAG_PHASE, &op->phase);
	/* The old password may be empty only where it was proved already: an
	 * expired login's handle holds its kadmin/changepw ticket (checked below;
	 * libpam has wiped PAM_AUTHTOK by then). */
	if (ret == 0) {
		ret = sectx_pam_get_secret(op, req, SECTX_TAG_OLD_PASSWORD,
					   op->phase == SECTX_CHAUTHTOK_UPDATE && op->a.has_handle,
					   &op->old_pw, &op->old_len);
	}
	if (ret == 0 && op->phase == SECTX_CHAUTHTOK_UPDATE) {
		ret = sectx_pam_get_secret(op, req, SECTX_TAG_NEW_PASSWORD, false, &op->new_pw,
					   &op->new_len);
	}
	if (ret != 0 ||
	    (op->phase != SECTX_CHAUTHTOK_PRELIM && op->phase != SECTX_CHAUTHTOK_UPDATE)) {
		sectx_request_reply_status(req, SECTX_E_PROTO, "phase and passwords are required");
		return 0;
	}
	if (sectx_pam_user_principal(hctx, op->a.user, &op->principal) != 0) {
		sectx_pam_reply(req, SECTX_PAM_USER_UNKNOWN, 0, NULL, NULL, NULL);
		return 0;
	}
	op->deadline = sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms);
	/* An expired login already proved the old password and holds a
	 * kadmin/changepw ticket: use it for the change itself. */
	op->h = sectx_pam_claimable_handle(req, &op->a);
	if (op->phase == SECTX_CHAUTHTOK_UPDATE && op->h != NULL && op->h->expired &&
	    op->h->creds != NULL) {
		chpw_change(op, op->h->creds);
		return 0;
	}
	if (op->old_len == 0) {
		sectx_pam_reply(req, SECTX_PAM_AUTHTOK_RECOVERY_ERR, 0, NULL, NULL,
				"Current password required.");
		return 0;
	}
	/* Otherwise the old password is checked, throttled, as the check
	 * starts on the loop; its waits end before the client stops waiting. */
	op->client_until = sectx_pam_client_deadline(req);
	op->delay = tevent_add_timer(hctx->ev, op, tevent_timeval_current(), chpw_check_start, op);
	return op->delay != NULL ? 0 : SECTX_E_INTERNAL;
}
