/*
 * ops/pam_auth.c - the PAM auth group of sectxd: authenticate a user by
 * password (SECTX_OP_PAM_AUTHENTICATE): one throttled AS exchange with the
 * realm, validated with the host key (login/), or the cached credential
 * when the realm cannot be reached (offline/); on success a login handle.
 *
 * Who can reach this: any local process, through pam.sock.  Root may act for
 * any user; any other uid only for its own (pam_common.c), so a user cannot
 * use the helper as a password oracle for others.  What they can make it do:
 * one bounded, throttled AS exchange per request (or one offline check); a
 * request the throttle would hold past its client's timeout, or that finds
 * its queue full, is answered at once (MAXTRIES, AUTHINFO_UNAVAIL) without
 * reaching the KDC.
 *
 * Every answer to a failed authentication looks the same to the user (wrong
 * password, unknown user, disabled account); the log tells them apart, but
 * must never record the name of an unknown user (often a password typed into
 * the wrong field) or any password.  The password is kept (scrubbed with the
 * request) only as long as the offline cache needs it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "login/login.h"
#include "offline/offline.h"
#include "ops/pam_int.h"
#include "server/server.h"
#include "sessions/sessions.h"

#define AUTH_FAILED_TEXT   "Authentication failed."
#define REALM_UNAVAIL_TEXT "The Kerberos realm cannot be reached."
#define OFFLINE_INFO_TEXT                                                                          \
	"Offline login: the Kerberos realm cannot be reached, so this session has no Kerberos "    \
	"tickets."

struct auth_op {
	struct sectx_request *req;
	struct pam_args a;
	char *password;
	size_t password_len;
	krb5_principal principal;
	void *delay;	      /* the start timer, or a throttle wait (a child of op) */
	int64_t client_until; /* when the client stops waiting: bounds the waits */
	bool pw_kept;	      /* op->password still holds the password (offline cache) */
	bool charged;	      /* counted by the throttle as a failure until it ends */
	bool waited;	      /* delayed by the throttle once already */
};

/* End the throttled attempt op began (once).  If op goes without this (the
 * caller left mid-way), its destructor ends it as a failure: the KDC may have
 * seen it. */
static void auth_throttle_end(struct auth_op *op, enum sectx_throttle_outcome outcome)
{
	if (op->charged) {
		op->charged = false;
		sectx_throttle_end(op->req->hctx, op->a.user, op->req->uid, outcome);
	}
}

static int auth_op_destructor(struct auth_op *op)
{
	/* the caller left mid-way: the KDC may have seen the password */
	auth_throttle_end(op, SECTX_THROTTLE_FAILED);
	if (op->principal != NULL) {
		krb5_free_principal(op->req->hctx->krb5->ctx, op->principal);
	}
	return 0;
}

static void auth_login_done(struct tevent_req *subreq);
static void auth_offline_done(struct tevent_req *subreq);

/* The realm cannot be reached: the cached credential, if there is one and
 * [offline] cache_credentials is on; else AUTHINFO_UNAVAIL at once. */
static void auth_offline(struct auth_op *op, const char *why)
{
	struct sectxd_ctx *hctx = op->req->hctx;
	struct tevent_req *subreq;

	if (!sectx_offline_enabled(hctx) || !op->pw_kept) {
		SECTX_WARN("authentication of %s for %s: realm unreachable: %s", op->a.user,
			   op->a.service, why);
		auth_throttle_end(op, SECTX_THROTTLE_UNTRIED);
		sectx_pam_reply(op->req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL,
				REALM_UNAVAIL_TEXT);
		return;
	}
	subreq = sectx_offline_verify_send(op, hctx->ev, hctx, op->a.user, op->password,
					   op->password_len);
	if (subreq == NULL) {
		auth_throttle_end(op, SECTX_THROTTLE_UNTRIED);
		sectx_pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
		return;
	}
	tevent_req_set_callback(subreq, auth_offline_done, op);
}

static void auth_offline_done(struct tevent_req *subreq)
{
	struct auth_op *op = tevent_req_callback_data(subreq, struct auth_op);
	struct sectx_request *req = op->req;
	struct sectxd_ctx *hctx = req->hctx;
	enum sectx_offline_result result = SECTX_OFFLINE_ERROR;
	struct sectx_handle *h = NULL;
	int64_t retry_ms = 0;
	time_t stored = 0;
	char msg[128];
	int ret;

	ret = sectx_offline_verify_recv(subreq, &result, &retry_ms, &stored);
	TALLOC_FREE(subreq);
	if (ret != 0) {
		result = SECTX_OFFLINE_ERROR;
	}
	switch (result) {
	case SECTX_OFFLINE_OK:
		/* a handle without a TGT: the session opens without a ccache */
		ret = sectx_handle_new(hctx, op->a.user, op->a.service, op->a.rhost, op->principal,
				       NULL, false, &h);
		if (ret != 0) {
			SECTX_ERROR("cannot keep the offline login of %s: %s", op->a.user,
				    strerror(-ret));
			auth_throttle_end(op, SECTX_THROTTLE_UNTRIED);
			sectx_pam_reply(req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
			return;
		}
		auth_throttle_end(op, SECTX_THROTTLE_OK);
		SECTX_INFO("authenticated %s for %s (uid %u, rhost %s) offline: cached credential "
			   "stored %lld s ago",
			   op->a.user, op->a.service, (unsigned)req->uid,
			   op->a.rhost[0] ? op->a.rhost : "-", (long long)(time(NULL) - stored));
		sectx_pam_reply(req, SECTX_PAM_SUCCESS, SECTX_TAG_HANDLE, h->id, OFFLINE_INFO_TEXT,
				NULL);
		return;
	case SECTX_OFFLINE_BAD_PASSWORD:
		auth_throttle_end(op, SECTX_THROTTLE_FAILED);
		SECTX_INFO("offline authentication of %s for %s (uid %u, rhost %s) failed: the "
			   "password does not match the cached credential",
			   op->a.user, op->a.service, (unsigned)req->uid,
			   op->a.rhost[0] ? op->a.rhost : "-");
		sectx_pam_reply(req, SECTX_PAM_AUTH_ERR, 0, NULL, NULL, AUTH_FAILED_TEXT);
		return;
	case SECTX_OFFLINE_LOCKED:
		auth_throttle_end(op, SECTX_THROTTLE_UNTRIED); /* its own lock applies */
		SECTX_INFO("offline authentication of %s for %s (uid %u) refused: too many failed "
			   "attempts, next one allowed in %lld ms",
			   op->a.user, op->a.service, (unsigned)req->uid, (long long)retry_ms);
		snprintf(msg, sizeof(msg),
			 "Too many failed offline logins; try again in %lld seconds.",
			 (long long)((retry_ms + 999) / 1000));
		sectx_pam_reply(req, SECTX_PAM_AUTH_ERR, 0, NULL, NULL, msg);
		return;
	case SECTX_OFFLINE_TOO_OLD:
		SECTX_INFO("offline authentication of %s for %s refused: its cached credential is "
			   "too old (stored %lld s ago, [offline] max_age)",
			   op->a.user, op->a.service, (long long)(time(NULL) - stored));
		break;
	case SECTX_OFFLINE_NONE:
		SECTX_INFO("offline authentication of %s for %s: no cached credential", op->a.user,
			   op->a.service);
		break;
	default:
		SECTX_ERROR("offline authentication of %s for %s failed: helper error", op->a.user,
			    op->a.service);
		break;
	}
	auth_throttle_end(op, SECTX_THROTTLE_UNTRIED); /* no password was tried */
	sectx_pam_reply(req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL, REALM_UNAVAIL_TEXT);
}

/* The throttle turned the attempt away before it started (ret from
 * sectx_throttle_wait, delay from sectx_throttle_try_begin): answered now,
 * nothing sent to the KDC, nothing counted.  Logged by the throttle. */
static void auth_turned_away(struct auth_op *op, int ret, int64_t delay)
{
	char msg[128];

	if (ret == -ETIMEDOUT && delay > 0) {
		/* as a login program's own retry limit: stop asking */
		snprintf(msg, sizeof(msg), "Too many failed logins; try again in %lld seconds.",
			 (long long)((delay + 999) / 1000));
		sectx_pam_reply(op->req, SECTX_PAM_MAXTRIES, 0, NULL, NULL, msg);
	} else if (ret == -ETIMEDOUT || ret == -EBUSY) {
		sectx_pam_reply(op->req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL,
				"Too many logins of this user are in progress; try again later.");
	} else {
		sectx_pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
	}
}

static void auth_start(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		       void *private_data)
{
	struct auth_op *op = private_data;
	struct sectxd_ctx *hctx = op->req->hctx;
	struct tevent_req *subreq;
	int64_t delay;
	int ret;

	op->delay = NULL;
	/* Checked (again, after a wait) as it starts: attempts begun meanwhile
	 * count as failures until they end, so parallel attempts are spaced as
	 * serial ones would be. */
	delay = sectx_throttle_try_begin(hctx, op->a.user, op->req->uid);
	if (delay != 0) {
		/* on a bounded queue, never past the client's deadline */
		ret = sectx_throttle_wait(hctx, op, op->a.user, op->req->uid, delay,
					  op->client_until, auth_start, op, &op->delay);
		if (ret != 0) {
			auth_turned_away(op, ret, delay);
			return;
		}
		if (delay == SECTX_THROTTLE_BUSY) {
			SECTX_TRACE("authentication of %s from uid %u waits for one in flight to "
				    "end",
				    op->a.user, (unsigned)op->req->uid);
		} else {
			/* once a line: many waiting attempts re-check each time one ends */
			sectx_log(op->waited ? SECTX_LOG_DEBUG : SECTX_LOG_INFO,
				  "delaying authentication of %s from uid %u by %lld ms after "
				  "failures",
				  op->a.user, (unsigned)op->req->uid, (long long)delay);
			op->waited = true;
		}
		return;
	}
	op->charged = true;
	op->pw_kept = sectx_offline_enabled(hctx);
	if (sectx_realm_is_offline(hctx)) {
		/* known unreachable: no new wait for the KDC timeout (realm_state.c
		 * probes it in the background, now if the last probe is old) */
		sectx_realm_wanted(hctx);
		auth_offline(op, "realm offline");
		return;
	}
	subreq = sectx_login_send(
	    op, hctx->ev, hctx, op->principal, op->password, op->password_len, NULL,
	    sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms));
	/* libkrb5 and the login request hold their own copies now; ours is kept
	 * (scrubbed with op) only for the cached credential or an offline check */
	if (!op->pw_kept) {
		explicit_bzero(op->password, op->password_len);
	}
	if (subreq == NULL) {
		auth_throttle_end(op, SECTX_THROTTLE_UNTRIED);
		sectx_pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
		return;
	}
	tevent_req_set_callback(subreq, auth_login_done, op);
}

/* Answer a successful online login with its handle; then, with the reply
 * on its way, cache the password's hash (the KDF runs on a thread: it adds
 * nothing to this login nor to any other). */
static void auth_reply_and_cache(struct auth_op *op, struct sectx_handle *h)
{
	struct sectxd_ctx *hctx = op->req->hctx;
	char user[SECTX_NAME_MAX + 1];
	char *principal = NULL;
	char *password = NULL;
	size_t len = op->password_len;

	if (sectx_offline_enabled(hctx) && op->pw_kept) {
		/* the reply frees op and with it the password: keep it past that */
		password = talloc_steal(hctx, op->password);
		op->password = NULL;
		snprintf(user, sizeof(user), "%s", op->a.user);
		if (krb5_unparse_name(hctx->krb5->ctx, op->principal, &principal) != 0) {
			principal = NULL;
		}
	}
	sectx_pam_reply(op->req, SECTX_PAM_SUCCESS, SECTX_TAG_HANDLE, h->id, NULL, NULL);
	if (password != NULL && principal != NULL) {
		sectx_offline_store(hctx, user, principal, password, len);
	}
	krb5_free_unparsed_name(hctx->krb5->ctx, principal);
	talloc_free(password); /* scrubbed by its destructor */
}

static void auth_login_done(struct tevent_req *subreq)
{
	struct auth_op *op = tevent_req_callback_data(subreq, struct auth_op);
	struct sectx_request *req = op->req;
	struct sectxd_ctx *hctx = req->hctx;
	struct sectx_login_out out = {0};
	struct sectx_handle *h = NULL;
	const char *what = op->a.user;
	uint32_t result;
	int ret;

	ret = sectx_login_recv(subreq, op, &out);
	TALLOC_FREE(subreq);
	if (ret != 0) {
		out.result = SECTX_LOGIN_ERROR;
	}
	switch (out.result) {
	case SECTX_LOGIN_OK:
	case SECTX_LOGIN_EXPIRED:
		ret = sectx_handle_new(hctx, op->a.user, op->a.service, op->a.rhost, op->principal,
				       out.creds, out.result == SECTX_LOGIN_EXPIRED, &h);
		if (ret != 0) {
			krb5_free_creds(hctx->krb5->ctx, out.creds);
			SECTX_ERROR("cannot keep the login of %s: %s", op->a.user, strerror(-ret));
			auth_throttle_end(op, SECTX_THROTTLE_UNTRIED);
			sectx_pam_reply(req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
			return;
		}
		h->pw_expiry = out.pw_expiry;
		h->acct_expiry = out.acct_expiry;
		auth_throttle_end(op, SECTX_THROTTLE_OK);
		SECTX_INFO("authenticated %s for %s (uid %u, rhost %s): %s", op->a.user,
			   op->a.service, (unsigned)req->uid, op->a.rhost[0] ? op->a.rhost : "-",
			   out.result == SECTX_LOGIN_EXPIRED ? "password expired, must be changed"
			   : out.message != NULL	     ? out.message
							     : "ok");
		if (out.result == SECTX_LOGIN_EXPIRED) {
			sectx_offline_forget(hctx, op->a.user, "the KDC says the password expired");
			sectx_pam_reply(req, SECTX_PAM_SUCCESS, SECTX_TAG_HANDLE, h->id, NULL,
					NULL);
			return;
		}
		auth_reply_and_cache(op, h);
		return;
	case SECTX_LOGIN_UNKNOWN:
		/* No name in the log, not even inside the KDC's message (which
		 * quotes the principal): it is often a password typed as a name. */
		what = "an unknown user";
		out.message = NULL;
		result = SECTX_PAM_USER_UNKNOWN;
		sectx_offline_forget(hctx, op->a.user, "the KDC does not know the principal");
		break;
	case SECTX_LOGIN_BAD_PASSWORD:
		result = SECTX_PAM_AUTH_ERR;
		break;
	case SECTX_LOGIN_DISABLED:
		result = SECTX_PAM_AUTH_ERR;
		sectx_offline_forget(hctx, op->a.user, "the KDC says the principal is disabled");
		break;
	case SECTX_LOGIN_UNAVAIL:
		if (sectx_realm_is_offline(hctx)) {
			/* still the same attempt: the cached credential decides it */
			auth_offline(op, out.message ? out.message : "no KDC answered");
			return;
		}
		SECTX_WARN("authentication of %s for %s: realm unreachable: %s", op->a.user,
			   op->a.service, out.message ? out.message : "");
		auth_throttle_end(op, SECTX_THROTTLE_UNTRIED);
		sectx_pam_reply(req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL, REALM_UNAVAIL_TEXT);
		return;
	case SECTX_LOGIN_INVALID:
		SECTX_ERROR("authentication of %s for %s refused: %s", op->a.user, op->a.service,
			    out.message ? out.message : "");
		result = SECTX_PAM_AUTH_ERR;
		what = NULL;
		break;
	default:
		/* the helper's or the exchange's own failure, not the password's */
		SECTX_ERROR("authentication of %s for %s failed: %s", op->a.user, op->a.service,
			    out.message ? out.message : "");
		auth_throttle_end(op, SECTX_THROTTLE_UNTRIED);
		sectx_pam_reply(req, SECTX_PAM_AUTH_ERR, 0, NULL, NULL, AUTH_FAILED_TEXT);
		return;
	}
	auth_throttle_end(op, SECTX_THROTTLE_FAILED);
	if (what != NULL) {
		SECTX_INFO("authentication of %s for %s (uid %u, rhost %s) failed: %s", what,
			   op->a.service, (unsigned)req->uid, op->a.rhost[0] ? op->a.rhost : "-",
			   out.message ? out.message : "principal not found");
	}
	sectx_pam_reply(req, result, 0, NULL, NULL, AUTH_FAILED_TEXT);
}

static int auth_authorised(void *private_data);

/* SECTX_OP_PAM_AUTHENTICATE (pam_int.h): USER, SERVICE, [RHOST], PASSWORD.
 * Replies now on a malformed or refused request, else later from the
 * throttled login; a positive enum sectx_status asks the server to reply. */
int sectx_pam_op_authenticate(struct sectx_request *req)
{
	struct auth_op *op;
	int ret;

	op = talloc_zero(req, struct auth_op);
	if (op == NULL) {
		return SECTX_E_INTERNAL;
	}
	op->req = req;
	if (!sectx_pam_parse_args(req, &op->a)) {
		return 0;
	}
	ret = sectx_pam_get_secret(op, req, SECTX_TAG_PASSWORD, false, &op->password,
				   &op->password_len);
	if (ret != 0) {
		sectx_request_reply_status(req, SECTX_E_PROTO, "a password is required");
		return 0;
	}
	return sectx_pam_authorise(req, op, op->a.user, "authenticate another user",
				   auth_authorised);
}

/* The caller may authenticate op's user: on to the throttled login. */
static int auth_authorised(void *private_data)
{
	struct auth_op *op = private_data;
	struct sectx_request *req = op->req;
	struct sectxd_ctx *hctx = req->hctx;

	talloc_set_destructor(op, auth_op_destructor);
	if (sectx_pam_user_principal(hctx, op->a.user, &op->principal) != 0) {
		SECTX_INFO(
		    "authentication of an unknown user for %s (uid %u): not a name of realm %s",
		    op->a.service, (unsigned)req->uid, hctx->realm);
		sectx_pam_reply(req, SECTX_PAM_USER_UNKNOWN, 0, NULL, NULL, AUTH_FAILED_TEXT);
		return 0;
	}
	/* the throttle is checked as the attempt starts, on the loop; its waits
	 * end before the client stops waiting */
	op->client_until = sectx_pam_client_deadline(req);
	op->delay = tevent_add_timer(hctx->ev, op, tevent_timeval_current(), auth_start, op);
	return op->delay != NULL ? 0 : SECTX_E_INTERNAL;
}
