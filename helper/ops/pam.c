/*
 * ops/pam.c - the PAM operations of sectxd: authenticate, account, password
 * change, credentials and sessions (protocol in common/proto.h).
 *
 * Who can reach this: any local process, through pam.sock.  Root (every login
 * service: login, sshd, su's PAM stack) may act for any user; any other uid
 * only for its own user (a screen locker re-checking its user's password,
 * `passwd`), so a user cannot use the helper as a password oracle for others
 * nor claim someone else's login.  What they can make it do: one bounded,
 * throttled AS exchange per request; write a ccache, as the user, only from a
 * login handle that was issued for that same user, service and remote host;
 * destroy only a ccache the helper itself wrote for that handle.
 *
 * Users are resolved from the local passwd database first, then from the
 * identity store (realm users mapped by sectxd: the NSS module does not
 * answer inside the helper, by design).
 *
 * Every answer to a failed authentication looks the same to the user (wrong
 * password, unknown user, disabled account); the log tells them apart, but
 * never records the name of an unknown user (often a password typed into the
 * wrong field) or any password.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops/ops.h"
#include "ccache_writer/ccache_writer.h"
#include "clock.h"
#include "sessions/sessions.h"
#include "identity/identity.h"
#include "login/login.h"
#include "log.h"
#include "ops/pam_int.h"
#include "offline/offline.h"
#include "server/server.h"

#define AUTH_FAILED_TEXT   "Authentication failed."
#define REALM_UNAVAIL_TEXT "The Kerberos realm cannot be reached."
#define OFFLINE_INFO_TEXT                                                                          \
	"Offline login: the Kerberos realm cannot be reached, so this session has no Kerberos "    \
	"tickets."
#define MAX_GROUPS 1024

/* --- common request checks --------------------------------------------------- */

/* A PAM user name we will turn into a principal: no '/', ':' or
 * whitespace; an @REALM suffix only for our realm. */
static bool valid_user(const char *user)
{
	size_t i;

	if (user[0] == '\0' || strlen(user) > SECTX_NAME_MAX) {
		return false;
	}
	for (i = 0; user[i] != '\0'; i++) {
		unsigned char c = (unsigned char)user[i];

		if (c <= 0x20 || c == '/' || c == ':' || c == '\\') {
			return false;
		}
	}
	return true;
}

/* Parse USER, SERVICE and the optional RHOST / HANDLE.  Replies and returns
 * false on a malformed request. */
static bool parse_args(struct sectx_request *req, struct pam_args *a)
{
	int ret;

	memset(a, 0, sizeof(*a));
	ret = sectx_msg_get_string(&req->msg, SECTX_TAG_USER, a->user, sizeof(a->user),
				   SECTX_NAME_MAX);
	if (ret == 0) {
		ret = sectx_msg_get_string(&req->msg, SECTX_TAG_SERVICE, a->service,
					   sizeof(a->service), SECTX_NAME_MAX);
	}
	if (ret == 0) {
		int r = sectx_msg_get_string(&req->msg, SECTX_TAG_RHOST, a->rhost, sizeof(a->rhost),
					     SECTX_NAME_MAX);

		a->has_rhost = r == 0;
		ret = r == SECTX_ERR_NOFIELD ? 0 : r;
	}
	if (ret == 0) {
		int r = sectx_msg_get_string(&req->msg, SECTX_TAG_HANDLE, a->handle,
					     sizeof(a->handle), SECTX_HANDLE_LEN);

		a->has_handle = r == 0;
		ret = r == SECTX_ERR_NOFIELD ? 0 : r;
	}
	if (ret != 0) {
		sectx_request_reply_status(req, SECTX_E_PROTO, sectx_strerror(ret));
		return false;
	}
	return true;
}

/* May the caller act for user?  Root may; anyone else only for itself. */
static bool caller_may_act_for(const struct sectx_request *req, const char *user)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	struct id_lookup lk;

	if (req->uid == 0) {
		return true;
	}
	if (getpwuid_r(req->uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL) {
		return strcmp(pw.pw_name, user) == 0;
	}
	/* a realm user: its uid is mapped, or it could not be running anything */
	memset(&lk, 0, sizeof(lk));
	if (id_store_user_by_uid(identity_store(req->hctx), (uint32_t)req->uid, time(NULL), true,
				 &lk) != ID_FOUND ||
	    lk.user == NULL) {
		return false;
	}
	return strcmp(lk.user->display, user) == 0 ||
	       (lk.user->alias != NULL && strcmp(lk.user->alias, user) == 0);
}

/* The principal of a PAM user: user@REALM, or user as given if it already
 * names our realm.  Returns 0, or -ENOENT for another realm. */
static int user_principal(struct sectxd_ctx *hctx, const char *user, krb5_principal *out)
{
	const char *at = strchr(user, '@');
	size_t len = at != NULL ? (size_t)(at - user) : strlen(user);
	char name[SECTX_NAME_MAX + 1];

	if (hctx->realm == NULL || hctx->realm[0] == '\0') {
		return -ENOENT;
	}
	if (at != NULL && strcmp(at + 1, hctx->realm) != 0) {
		return -ENOENT;
	}
	memcpy(name, user, len);
	name[len] = '\0';
	if (name[0] == '\0' || strchr(name, '@') != NULL) {
		return -ENOENT;
	}
	return krb5_build_principal(hctx->krb5->ctx, out, (unsigned int)strlen(hctx->realm),
				    hctx->realm, name, (char *)NULL) == 0
		   ? 0
		   : -ENOMEM;
}

/* Reply with a PAM result, an optional handle or ccache and user messages. */
static void pam_reply(struct sectx_request *req, uint32_t result, uint16_t extra_tag,
		      const char *extra, const char *info, const char *error)
{
	struct sectx_wbuf w;

	if (sectx_request_reply_begin(req, 4096, &w) != 0) {
		sectx_request_reply_status(req, SECTX_E_INTERNAL, NULL);
		return;
	}
	sectx_put_u32(&w, SECTX_TAG_PAM_RESULT, result);
	if (extra != NULL) {
		sectx_put_string(&w, extra_tag, extra);
	}
	if (info != NULL) {
		sectx_put_string(&w, SECTX_TAG_USER_INFO, info);
	}
	if (error != NULL) {
		sectx_put_string(&w, SECTX_TAG_USER_ERROR, error);
	}
	sectx_request_reply(req, &w);
}

/* The same checks for the other PAM operation groups (pam_ops.h). */
bool sectx_pam_parse_args(struct sectx_request *req, struct pam_args *a)
{
	return parse_args(req, a);
}

bool sectx_pam_caller_may_act_for(const struct sectx_request *req, const char *user)
{
	return caller_may_act_for(req, user);
}

int sectx_pam_user_principal(struct sectxd_ctx *hctx, const char *user, krb5_principal *out)
{
	if (!valid_user(user)) {
		return -ENOENT;
	}
	return user_principal(hctx, user, out);
}

void sectx_pam_reply(struct sectx_request *req, uint32_t result, uint16_t extra_tag,
		     const char *extra, const char *info, const char *error)
{
	pam_reply(req, result, extra_tag, extra, info, error);
}

/* A password field, copied into a scrubbed buffer on mem_ctx. */
static int scrub_secret(char *s)
{
	explicit_bzero(s, talloc_get_size(s));
	return 0;
}

static int get_secret(TALLOC_CTX *mem_ctx, struct sectx_request *req, uint16_t tag,
		      bool allow_empty, char **out, size_t *len)
{
	const uint8_t *p;
	size_t n;
	int ret;

	ret = sectx_msg_get_bytes(&req->msg, tag, &p, &n);
	if (ret != 0) {
		return ret;
	}
	if ((n == 0 && !allow_empty) || n > SECTX_PASSWORD_MAX || memchr(p, '\0', n) != NULL) {
		return SECTX_ERR_BADSTR;
	}
	*out = talloc_size(mem_ctx, n + 1);
	if (*out == NULL) {
		return -ENOMEM;
	}
	talloc_set_destructor(*out, scrub_secret);
	memcpy(*out, p, n);
	(*out)[n] = '\0';
	*len = n;
	return 0;
}

/* The handle named in the request, checked against user, service and remote
 * host; NULL (and a log line) if there is none or it does not match. */
static struct sectx_handle *claimable_handle(struct sectx_request *req, const struct pam_args *a)
{
	struct sectx_handle *h;

	if (!a->has_handle) {
		return NULL;
	}
	h = sectx_handle_find(req->hctx, a->handle);
	if (h == NULL) {
		/* sshd calls setcred(DELETE) after close_session has dropped the
		 * handle: routine there, worth a line elsewhere */
		sectx_log(req->msg.hdr.op == SECTX_OP_PAM_SETCRED ? SECTX_LOG_DEBUG
								  : SECTX_LOG_INFO,
			  "%s for %s from uid %u: unknown or expired login handle",
			  sectx_op_name(req->msg.hdr.op), a->user, (unsigned)req->uid);
		return NULL;
	}
	/* An absent RHOST is the empty one: a handle issued for a remote host
	 * is claimed only by a request from that same host. */
	if (strcmp(h->user, a->user) != 0 || strcmp(h->service, a->service) != 0 ||
	    strcmp(h->rhost, a->has_rhost ? a->rhost : "") != 0) {
		SECTX_WARN("%s from uid %u pid %d: login handle of %s (%s, rhost %s) presented for "
			   "%s (%s, rhost %s); refused",
			   sectx_op_name(req->msg.hdr.op), (unsigned)req->uid, (int)req->pid,
			   h->user, h->service, h->rhost[0] ? h->rhost : "-", a->user, a->service,
			   a->has_rhost && a->rhost[0] ? a->rhost : "-");
		return NULL;
	}
	return h;
}

/* --- authenticate -------------------------------------------------------------- */

struct auth_op {
	struct sectx_request *req;
	struct pam_args a;
	char *password;
	size_t password_len;
	krb5_principal principal;
	void *delay;  /* the start timer, or a throttle wait (a child of op) */
	bool pw_kept; /* op->password still holds the password (offline cache) */
	bool charged; /* counted by the throttle as a failure until it ends */
	bool waited;  /* delayed by the throttle once already */
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
		pam_reply(op->req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL, REALM_UNAVAIL_TEXT);
		return;
	}
	subreq = sectx_offline_verify_send(op, hctx->ev, hctx, op->a.user, op->password,
					   op->password_len);
	if (subreq == NULL) {
		auth_throttle_end(op, SECTX_THROTTLE_UNTRIED);
		pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
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
			pam_reply(req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
			return;
		}
		auth_throttle_end(op, SECTX_THROTTLE_OK);
		SECTX_INFO("authenticated %s for %s (uid %u, rhost %s) offline: cached credential "
			   "stored %lld s ago",
			   op->a.user, op->a.service, (unsigned)req->uid,
			   op->a.rhost[0] ? op->a.rhost : "-", (long long)(time(NULL) - stored));
		pam_reply(req, SECTX_PAM_SUCCESS, SECTX_TAG_HANDLE, h->id, OFFLINE_INFO_TEXT, NULL);
		return;
	case SECTX_OFFLINE_BAD_PASSWORD:
		auth_throttle_end(op, SECTX_THROTTLE_FAILED);
		SECTX_INFO("offline authentication of %s for %s (uid %u, rhost %s) failed: the "
			   "password does not match the cached credential",
			   op->a.user, op->a.service, (unsigned)req->uid,
			   op->a.rhost[0] ? op->a.rhost : "-");
		pam_reply(req, SECTX_PAM_AUTH_ERR, 0, NULL, NULL, AUTH_FAILED_TEXT);
		return;
	case SECTX_OFFLINE_LOCKED:
		auth_throttle_end(op, SECTX_THROTTLE_UNTRIED); /* its own lock applies */
		SECTX_INFO("offline authentication of %s for %s (uid %u) refused: too many failed "
			   "attempts, next one allowed in %lld ms",
			   op->a.user, op->a.service, (unsigned)req->uid, (long long)retry_ms);
		snprintf(msg, sizeof(msg),
			 "Too many failed offline logins; try again in %lld seconds.",
			 (long long)((retry_ms + 999) / 1000));
		pam_reply(req, SECTX_PAM_AUTH_ERR, 0, NULL, NULL, msg);
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
	pam_reply(req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL, REALM_UNAVAIL_TEXT);
}

static void auth_start(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		       void *private_data)
{
	struct auth_op *op = private_data;
	struct sectxd_ctx *hctx = op->req->hctx;
	struct tevent_req *subreq;
	int64_t delay;

	op->delay = NULL;
	/* Checked (again, after a wait) as it starts: attempts begun meanwhile
	 * count as failures until they end, so parallel attempts are spaced as
	 * serial ones would be. */
	delay = sectx_throttle_try_begin(hctx, op->a.user, op->req->uid);
	if (delay == SECTX_THROTTLE_BUSY) {
		SECTX_TRACE("authentication of %s from uid %u waits for one in flight to end",
			    op->a.user, (unsigned)op->req->uid);
	} else if (delay > 0) {
		/* once a line: many waiting attempts re-check each time one ends */
		sectx_log(op->waited ? SECTX_LOG_DEBUG : SECTX_LOG_INFO,
			  "delaying authentication of %s from uid %u by %lld ms after failures",
			  op->a.user, (unsigned)op->req->uid, (long long)delay);
		op->waited = true;
	}
	if (delay != 0) {
		op->delay = sectx_throttle_wait(hctx, op, op->a.user, delay, auth_start, op);
		if (op->delay == NULL) {
			pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
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
		pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
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
	pam_reply(op->req, SECTX_PAM_SUCCESS, SECTX_TAG_HANDLE, h->id, NULL, NULL);
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
			pam_reply(req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
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
			pam_reply(req, SECTX_PAM_SUCCESS, SECTX_TAG_HANDLE, h->id, NULL, NULL);
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
		pam_reply(req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL, REALM_UNAVAIL_TEXT);
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
		pam_reply(req, SECTX_PAM_AUTH_ERR, 0, NULL, NULL, AUTH_FAILED_TEXT);
		return;
	}
	auth_throttle_end(op, SECTX_THROTTLE_FAILED);
	if (what != NULL) {
		SECTX_INFO("authentication of %s for %s (uid %u, rhost %s) failed: %s", what,
			   op->a.service, (unsigned)req->uid, op->a.rhost[0] ? op->a.rhost : "-",
			   out.message ? out.message : "principal not found");
	}
	pam_reply(req, result, 0, NULL, NULL, AUTH_FAILED_TEXT);
}

static int op_authenticate(struct sectx_request *req)
{
	struct sectxd_ctx *hctx = req->hctx;
	struct auth_op *op;
	int ret;

	op = talloc_zero(req, struct auth_op);
	if (op == NULL) {
		return SECTX_E_INTERNAL;
	}
	op->req = req;
	if (!parse_args(req, &op->a)) {
		return 0;
	}
	ret = get_secret(op, req, SECTX_TAG_PASSWORD, false, &op->password, &op->password_len);
	if (ret != 0) {
		sectx_request_reply_status(req, SECTX_E_PROTO, "a password is required");
		return 0;
	}
	if (!caller_may_act_for(req, op->a.user)) {
		SECTX_WARN("uid %u pid %d may not authenticate another user; refused",
			   (unsigned)req->uid, (int)req->pid);
		return SECTX_E_PERM;
	}
	talloc_set_destructor(op, auth_op_destructor);
	if (!valid_user(op->a.user) || user_principal(hctx, op->a.user, &op->principal) != 0) {
		SECTX_INFO(
		    "authentication of an unknown user for %s (uid %u): not a name of realm %s",
		    op->a.service, (unsigned)req->uid, hctx->realm);
		pam_reply(req, SECTX_PAM_USER_UNKNOWN, 0, NULL, NULL, AUTH_FAILED_TEXT);
		return 0;
	}
	/* the throttle is checked as the attempt starts, on the loop */
	op->delay = tevent_add_timer(hctx->ev, op, tevent_timeval_current(), auth_start, op);
	return op->delay != NULL ? 0 : SECTX_E_INTERNAL;
}

/* --- account ----------------------------------------------------------------- */

static bool in_list(const char *const *list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], name) == 0) {
			return true;
		}
	}
	return false;
}

/* [access]: allowed if both lists are empty, the user is listed, or one of
 * its groups is. */
static bool access_allowed(struct sectxd_ctx *hctx, const char *user)
{
	const struct sectx_config *cfg = hctx->cfg;
	struct passwd pw, *res = NULL;
	gid_t groups[MAX_GROUPS];
	int ngroups = MAX_GROUPS;
	char buf[4096];
	int i;

	if (cfg->access.n_allow_users == 0 && cfg->access.n_allow_groups == 0) {
		return true;
	}
	if (in_list(cfg->access.allow_users, cfg->access.n_allow_users, user)) {
		return true;
	}
	if (cfg->access.n_allow_groups == 0) {
		return false;
	}
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) == 0 && res != NULL) {
		if (getgrouplist(user, pw.pw_gid, groups, &ngroups) < 0) {
			return false;
		}
	} else {
		/* a realm user: its groups are the identity store's */
		struct id_store *st = identity_store(hctx);
		struct id_lookup lk;
		const uint32_t *gids = NULL;
		size_t n = 0, k;

		memset(&lk, 0, sizeof(lk));
		if (id_store_user_by_name(st, user, time(NULL), true, &lk) != ID_FOUND ||
		    lk.user == NULL) {
			return false;
		}
		groups[0] = lk.user->gid;
		ngroups = 1;
		if (id_store_groups_of(st, user, &gids, &n) == ID_FOUND) {
			for (k = 0; k < n && ngroups < MAX_GROUPS; k++) {
				groups[ngroups++] = gids[k];
			}
		}
	}
	for (i = 0; i < ngroups; i++) {
		struct group gr, *gres = NULL;
		char gbuf[16384];
		struct id_lookup lk;

		if (getgrgid_r(groups[i], &gr, gbuf, sizeof(gbuf), &gres) == 0 && gres != NULL) {
			if (in_list(cfg->access.allow_groups, cfg->access.n_allow_groups,
				    gr.gr_name)) {
				return true;
			}
			continue;
		}
		memset(&lk, 0, sizeof(lk));
		if (id_store_group_by_gid(identity_store(hctx), groups[i], time(NULL), true, &lk) ==
			ID_FOUND &&
		    lk.group != NULL &&
		    in_list(cfg->access.allow_groups, cfg->access.n_allow_groups, lk.group->name)) {
			return true;
		}
	}
	return false;
}

static int op_acct_mgmt(struct sectx_request *req)
{
	struct sectx_handle *h;
	struct pam_args a;
	char info[128];
	int64_t warn;
	time_t now;

	if (!parse_args(req, &a)) {
		return 0;
	}
	if (!caller_may_act_for(req, a.user)) {
		return SECTX_E_PERM;
	}
	h = claimable_handle(req, &a);
	if (h == NULL) {
		pam_reply(req, SECTX_PAM_IGNORE, 0, NULL, NULL, NULL);
		return 0;
	}
	if (!access_allowed(req->hctx, a.user)) {
		SECTX_INFO("%s may not log in to %s ([access])", a.user, a.service);
		pam_reply(req, SECTX_PAM_PERM_DENIED, 0, NULL, NULL,
			  "You are not allowed to log in here.");
		return 0;
	}
	now = time(NULL);
	if (h->acct_expiry != 0 && (time_t)h->acct_expiry <= now) {
		pam_reply(req, SECTX_PAM_ACCT_EXPIRED, 0, NULL, NULL, "Your account has expired.");
		return 0;
	}
	if (h->expired) {
		pam_reply(req, SECTX_PAM_NEW_AUTHTOK_REQD, 0, NULL, NULL,
			  "Your password has expired; you must change it now.");
		return 0;
	}
	warn = (int64_t)req->hctx->cfg->kerberos.pwd_expire_warning * 86400;
	if (h->pw_expiry != 0 && (int64_t)h->pw_expiry - now <= warn) {
		int64_t days = ((int64_t)h->pw_expiry - now) / 86400;

		snprintf(info, sizeof(info), "Your password will expire in %lld day%s.",
			 (long long)days, days == 1 ? "" : "s");
		pam_reply(req, SECTX_PAM_SUCCESS, 0, NULL, info, NULL);
		return 0;
	}
	pam_reply(req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
	return 0;
}

/* --- password change ------------------------------------------------------------ */

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
	int64_t deadline;
	bool charged; /* the old password's check is in flight for the throttle */
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

static void chpw_change(struct chpw_op *op, krb5_creds *changepw)
{
	struct sectxd_ctx *hctx = op->req->hctx;
	struct tevent_req *subreq;

	subreq =
	    sectx_chpw_send(op, hctx->ev, hctx, changepw, op->new_pw, op->new_len, op->deadline);
	if (subreq == NULL) {
		pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
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
			pam_reply(op->req, SECTX_PAM_AUTHINFO_UNAVAIL, 0, NULL, NULL,
				  "The Kerberos realm cannot be reached.");
		} else {
			pam_reply(op->req, SECTX_PAM_AUTHTOK_RECOVERY_ERR, 0, NULL, NULL,
				  "Current password incorrect.");
		}
		return;
	}
	op->changepw = out.creds;
	if (op->phase == SECTX_CHAUTHTOK_PRELIM) {
		pam_reply(op->req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
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
			   ret != 0 ? strerror(ret) : (text != NULL ? text : "?"));
		snprintf(msg, sizeof(msg), "Password change failed: %s",
			 ret == ETIMEDOUT		     ? "the password server did not answer"
			 : (text != NULL && text[0] != '\0') ? text
							     : "refused by the realm");
		/* The KDC's text is for the user; keep it a single printable line. */
		for (char *c = msg; *c != '\0'; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				*c = ' ';
			}
		}
		pam_reply(op->req,
			  ret == ETIMEDOUT ? SECTX_PAM_AUTHINFO_UNAVAIL : SECTX_PAM_AUTHTOK_ERR, 0,
			  NULL, NULL, msg);
		return;
	}
	SECTX_INFO("password of %s changed (for %s, uid %u)", op->a.user, op->a.service,
		   (unsigned)op->req->uid);
	/* The login goes on with the new password: a fresh, validated TGT. */
	subreq =
	    sectx_login_send(op, hctx->ev, hctx, op->principal, op->new_pw, op->new_len, NULL,
			     sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms));
	if (subreq == NULL) {
		pam_reply(op->req, SECTX_PAM_SYSTEM_ERR, 0, NULL, NULL, NULL);
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
		pam_reply(op->req, SECTX_PAM_AUTHTOK_ERR, 0, NULL, NULL,
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
	pam_reply(op->req, SECTX_PAM_SUCCESS, 0, NULL, NULL, "Password changed.");
}

static int op_chauthtok(struct sectx_request *req)
{
	struct sectxd_ctx *hctx = req->hctx;
	struct tevent_req *subreq;
	struct chpw_op *op;
	int ret;

	op = talloc_zero(req, struct chpw_op);
	if (op == NULL) {
		return SECTX_E_INTERNAL;
	}
	op->req = req;
	if (!parse_args(req, &op->a)) {
		return 0;
	}
	if (!caller_may_act_for(req, op->a.user)) {
		return SECTX_E_PERM;
	}
	talloc_set_destructor(op, chpw_op_destructor);
	ret = sectx_msg_get_u32(&req->msg, SECTX_TAG_PHASE, &op->phase);
	/* The old password may be empty only where it was proved already: an
	 * expired login's handle holds its kadmin/changepw ticket (checked below;
	 * libpam has wiped PAM_AUTHTOK by then). */
	if (ret == 0) {
		ret = get_secret(op, req, SECTX_TAG_OLD_PASSWORD,
				 op->phase == SECTX_CHAUTHTOK_UPDATE && op->a.has_handle,
				 &op->old_pw, &op->old_len);
	}
	if (ret == 0 && op->phase == SECTX_CHAUTHTOK_UPDATE) {
		ret = get_secret(op, req, SECTX_TAG_NEW_PASSWORD, false, &op->new_pw, &op->new_len);
	}
	if (ret != 0 ||
	    (op->phase != SECTX_CHAUTHTOK_PRELIM && op->phase != SECTX_CHAUTHTOK_UPDATE)) {
		sectx_request_reply_status(req, SECTX_E_PROTO, "phase and passwords are required");
		return 0;
	}
	if (!valid_user(op->a.user) || user_principal(hctx, op->a.user, &op->principal) != 0) {
		pam_reply(req, SECTX_PAM_USER_UNKNOWN, 0, NULL, NULL, NULL);
		return 0;
	}
	op->deadline = sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms);
	/* An expired login already proved the old password and holds a
	 * kadmin/changepw ticket: use it for the change itself. */
	op->h = claimable_handle(req, &op->a);
	if (op->phase == SECTX_CHAUTHTOK_UPDATE && op->h != NULL && op->h->expired &&
	    op->h->creds != NULL) {
		chpw_change(op, op->h->creds);
		return 0;
	}
	if (op->old_len == 0) {
		pam_reply(req, SECTX_PAM_AUTHTOK_RECOVERY_ERR, 0, NULL, NULL,
			  "Current password required.");
		return 0;
	}
	/* Otherwise the old password is checked the only way that proves it
	 * even when expired: a kadmin/changepw ticket. */
	sectx_throttle_begin(hctx, op->a.user, req->uid);
	subreq = sectx_login_send(op, hctx->ev, hctx, op->principal, op->old_pw, op->old_len,
				  "kadmin/changepw", op->deadline);
	if (subreq == NULL) {
		sectx_throttle_end(hctx, op->a.user, req->uid, SECTX_THROTTLE_UNTRIED);
		return SECTX_E_INTERNAL;
	}
	op->charged = true;
	tevent_req_set_callback(subreq, chpw_old_checked, op);
	return 0;
}

/* --- credentials and sessions ------------------------------------------------------ */

struct cred_op;
typedef int (*cred_next_fn)(struct cred_op *op);

struct cred_op {
	struct sectx_request *req;
	struct pam_args a;
	uint32_t flag;
	bool retain;
	struct sectx_handle *h;
	gid_t groups[MAX_GROUPS];
	struct sectx_writer_user who;
	cred_next_fn next;    /* what runs once the user is resolved */
	uint32_t fail_result; /* what to answer if it cannot be */
};

/* Fill op->who from a realm user of the identity store. */
static void who_from_store(struct cred_op *op, const struct id_user *u)
{
	const uint32_t *gids = NULL;
	size_t n = 0, k;

	op->who.uid = u->uid;
	op->who.gid = u->gid;
	op->groups[0] = u->gid;
	op->who.n_groups = 1;
	if (id_store_groups_of(identity_store(op->req->hctx), op->h->user, &gids, &n) == ID_FOUND) {
		for (k = 0; k < n && op->who.n_groups < MAX_GROUPS; k++) {
			op->groups[op->who.n_groups++] = gids[k];
		}
	}
	op->who.groups = op->groups;
	op->who.name = op->h->user;
}

/* Fill op->who for the handle's user from the local passwd database or, for
 * a realm user already mapped, the identity store.  0, -ENOENT (neither
 * knows it yet), -EPERM (uid 0), -E2BIG (too many groups). */
static int lookup_user(struct cred_op *op)
{
	struct passwd pw, *res = NULL;
	struct id_lookup lk;
	char buf[4096];
	int n = MAX_GROUPS;

	if (getpwnam_r(op->h->user, &pw, buf, sizeof(buf), &res) == 0 && res != NULL) {
		if (pw.pw_uid == 0) {
			return -EPERM; /* never write a ccache as root for a realm login */
		}
		if (getgrouplist(op->h->user, pw.pw_gid, op->groups, &n) < 0) {
			return -E2BIG;
		}
		op->who.uid = pw.pw_uid;
		op->who.gid = pw.pw_gid;
		op->who.groups = op->groups;
		op->who.n_groups = (size_t)n;
		op->who.name = op->h->user;
		return 0;
	}
	memset(&lk, 0, sizeof(lk));
	if (id_store_user_by_name(identity_store(op->req->hctx), op->h->user, time(NULL), true,
				  &lk) == ID_FOUND &&
	    lk.user != NULL) {
		who_from_store(op, lk.user);
		return 0;
	}
	return -ENOENT;
}

static void cred_user_looked_up(struct tevent_req *subreq)
{
	struct cred_op *op = tevent_req_callback_data(subreq, struct cred_op);
	struct id_lookup lk;
	uint32_t ttl = 0;
	int ret;

	memset(&lk, 0, sizeof(lk));
	ret = identity_lookup_recv(subreq, &lk, &ttl);
	/* the handle may have gone while the realm was asked */
	op->h = sectx_handle_find(op->req->hctx, op->a.handle);
	if (ret == 0 && lk.user != NULL && op->h != NULL) {
		who_from_store(op, lk.user); /* lk is valid until we return to the loop */
	}
	TALLOC_FREE(subreq);
	if (ret != 0 || lk.user == NULL || op->h == NULL) {
		SECTX_ERROR("cannot resolve %s to a local or realm account: %s", op->a.user,
			    op->h == NULL ? "login handle gone"
					  : strerror(ret < 0 ? -ret : ENOENT));
		if (op->h != NULL && op->fail_result == SECTX_PAM_SESSION_ERR) {
			sectx_handle_drop(op->req->hctx, op->h);
		}
		pam_reply(op->req, op->fail_result, 0, NULL, NULL, NULL);
		return;
	}
	ret = op->next(op);
	if (ret > 0) {
		sectx_request_reply_status(op->req, (uint32_t)ret, NULL);
	}
}

/* Resolve the handle's user (at once, or asking the identity store, which
 * may check the realm), then run next.  Answers fail_result if it cannot. */
static int cred_with_user(struct cred_op *op, cred_next_fn next, uint32_t fail_result)
{
	struct sectxd_ctx *hctx = op->req->hctx;
	struct tevent_req *subreq;
	int ret = lookup_user(op);

	op->next = next;
	op->fail_result = fail_result;
	if (ret == 0) {
		return next(op);
	}
	if (ret != -ENOENT) {
		SECTX_ERROR("cannot use the account of %s for its credentials: %s", op->h->user,
			    ret == -EPERM ? "uid 0" : strerror(-ret));
		if (fail_result == SECTX_PAM_SESSION_ERR) {
			sectx_handle_drop(hctx, op->h);
		}
		pam_reply(op->req, fail_result, 0, NULL, NULL, NULL);
		return 0;
	}
	subreq = identity_lookup_send(op, hctx, IDENTITY_USER_BY_NAME, op->h->user, 0, 0);
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
		pam_reply(op->req, SECTX_PAM_CRED_ERR, 0, NULL, NULL, NULL);
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
		pam_reply(op->req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
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
		pam_reply(op->req, SECTX_PAM_CRED_ERR, 0, NULL, NULL, NULL);
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
	pam_reply(op->req, SECTX_PAM_SUCCESS, SECTX_TAG_CCACHE, op->h->ccache, NULL, NULL);
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
		pam_reply(op->req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
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
	pam_reply(op->req, ret == 0 ? SECTX_PAM_SUCCESS : SECTX_PAM_SESSION_ERR, 0, NULL, NULL,
		  NULL);
}

static void closed_after_restart(struct tevent_req *subreq)
{
	struct cred_op *op = tevent_req_callback_data(subreq, struct cred_op);
	int ret = sectx_renewal_close_recv(subreq);

	TALLOC_FREE(subreq);
	pam_reply(op->req, ret == 0 ? SECTX_PAM_SUCCESS : SECTX_PAM_SESSION_ERR, 0, NULL, NULL,
		  NULL);
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

/* setcred, open_session and close_session share the checks. */
static int cred_op_begin(struct sectx_request *req, struct cred_op **out)
{
	struct cred_op *op = talloc_zero(req, struct cred_op);

	*out = NULL;
	if (op == NULL) {
		return SECTX_E_INTERNAL;
	}
	op->req = req;
	if (!parse_args(req, &op->a)) {
		return 0;
	}
	if (!caller_may_act_for(req, op->a.user)) {
		return SECTX_E_PERM;
	}
	op->h = claimable_handle(req, &op->a);
	if (op->h == NULL && op->a.has_handle && req->msg.hdr.op == SECTX_OP_PAM_CLOSE_SESSION &&
	    close_after_restart(op)) {
		return 0; /* a session opened before the helper restarted */
	}
	if (op->h == NULL) {
		/* not a login sectx authenticated (ssh key, root's su): not ours */
		pam_reply(req, op->a.has_handle ? SECTX_PAM_CRED_ERR : SECTX_PAM_IGNORE, 0, NULL,
			  NULL, NULL);
		return 0;
	}
	if (op->h->expired) {
		pam_reply(req, SECTX_PAM_CRED_ERR, 0, NULL, NULL,
			  "The password must be changed first.");
		return 0;
	}
	*out = op;
	return 0;
}

static int op_setcred(struct sectx_request *req)
{
	struct cred_op *op;
	int ret = cred_op_begin(req, &op);

	if (op == NULL) {
		return ret;
	}
	if (sectx_msg_get_u32(&req->msg, SECTX_TAG_CRED_FLAG, &op->flag) != 0) {
		sectx_request_reply_status(req, SECTX_E_PROTO, "CRED_FLAG is required");
		return 0;
	}
	switch (op->flag) {
	case SECTX_CRED_ESTABLISH:
		if (op->h->ccache != NULL) {
			/* idempotent: sshd calls it again in each session child */
			pam_reply(req, SECTX_PAM_SUCCESS, SECTX_TAG_CCACHE, op->h->ccache, NULL,
				  NULL);
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

static int op_open_session(struct sectx_request *req)
{
	struct cred_op *op;
	int ret = cred_op_begin(req, &op);

	if (op == NULL) {
		return ret;
	}
	if (op->h->ccache != NULL) {
		pam_reply(req, SECTX_PAM_SUCCESS, SECTX_TAG_CCACHE, op->h->ccache, NULL, NULL);
		return 0;
	}
	return cred_store(op);
}

static int op_close_session(struct sectx_request *req)
{
	struct cred_op *op;
	uint32_t retain = 0;
	int ret = cred_op_begin(req, &op);

	if (op == NULL) {
		return ret;
	}
	(void)sectx_msg_get_u32(&req->msg, SECTX_TAG_RETAIN, &retain);
	op->retain = retain != 0;
	return cred_destroy(op);
}

static const struct sectx_op_def pam_ops[] = {
    {SECTX_OP_PAM_AUTHENTICATE, SECTX_SOCK_PAM, false, op_authenticate},
    {SECTX_OP_PAM_ACCT_MGMT, SECTX_SOCK_PAM, false, op_acct_mgmt},
    {SECTX_OP_PAM_CHAUTHTOK, SECTX_SOCK_PAM, false, op_chauthtok},
    {SECTX_OP_PAM_SETCRED, SECTX_SOCK_PAM, false, op_setcred},
    {SECTX_OP_PAM_OPEN_SESSION, SECTX_SOCK_PAM, false, op_open_session},
    {SECTX_OP_PAM_CLOSE_SESSION, SECTX_SOCK_PAM, false, op_close_session},
};
const struct sectx_op_table sectxd_pam_ops = SECTX_OP_TABLE(pam_ops);
