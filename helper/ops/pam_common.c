/*
 * ops/pam_common.c - what every PAM operation group of sectxd does the same
 * way (declared in pam_int.h): parse USER, SERVICE, RHOST and HANDLE, decide
 * whether the caller may act for the user, turn a PAM user name into a
 * principal of the realm, take a password out of a request, find the login
 * handle a request may claim, tell how long its client waits (the deadline
 * of its throttled checks), and shape a PAM reply.
 *
 * Who can reach this: any local process, through pam.sock, by way of the
 * PAM operations (pam_auth.c, pam_account.c, pam_password.c,
 * pam_session.c, pam_tickets.c).  Root (every login service: login, sshd,
 * su's PAM stack) may act for any user; any other uid only for its own user
 * (a screen locker re-checking its user's password, `passwd`), so a user
 * cannot use the helper as a password oracle for others nor claim someone
 * else's login.  Users are resolved by identity/account.c: the local passwd
 * database first (on the resolver's threads: a remote passwd source never
 * stalls the loop; root is decided at once, without a lookup), then the
 * identity store.  An operation continues from the loop once its caller is
 * authorised (sectx_pam_authorise); a lookup that does not answer in time is
 * neither a yes nor a no: the caller is told E_UNAVAIL.
 *
 * This file must never trust a field it has not bounded, let a user name
 * that is not a plain name of the realm become a principal, keep a password
 * in a buffer that is not scrubbed when freed, or hand a login handle to a
 * request for another user, service or remote host.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "identity/identity.h"
#include "log.h"
#include "login/login.h"
#include "ops/pam_int.h"
#include "server/server.h"
#include "sessions/sessions.h"

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

/* --- the one line per PAM call ------------------------------------------------------------- */

/* What the summary line of a PAM request needs: its fields (copied, as
 * the operation's state may go before the request) and the PAM result it
 * was answered with.  Never the handle or a password. */
struct pam_call_log {
	char user[SECTX_NAME_MAX + 1];
	char service[SECTX_NAME_MAX + 1];
	char rhost[SECTX_NAME_MAX + 1];
	bool has_result;
	uint32_t result; /* enum sectx_pam_result */
};

static const char *pam_result_name(uint32_t result)
{
	static const char *const names[] = {
	    [SECTX_PAM_SUCCESS] = "PAM_SUCCESS",
	    [SECTX_PAM_IGNORE] = "PAM_IGNORE",
	    [SECTX_PAM_AUTH_ERR] = "PAM_AUTH_ERR",
	    [SECTX_PAM_USER_UNKNOWN] = "PAM_USER_UNKNOWN",
	    [SECTX_PAM_AUTHINFO_UNAVAIL] = "PAM_AUTHINFO_UNAVAIL",
	    [SECTX_PAM_CRED_INSUFFICIENT] = "PAM_CRED_INSUFFICIENT",
	    [SECTX_PAM_MAXTRIES] = "PAM_MAXTRIES",
	    [SECTX_PAM_NEW_AUTHTOK_REQD] = "PAM_NEW_AUTHTOK_REQD",
	    [SECTX_PAM_ACCT_EXPIRED] = "PAM_ACCT_EXPIRED",
	    [SECTX_PAM_PERM_DENIED] = "PAM_PERM_DENIED",
	    [SECTX_PAM_AUTHTOK_ERR] = "PAM_AUTHTOK_ERR",
	    [SECTX_PAM_AUTHTOK_RECOVERY_ERR] = "PAM_AUTHTOK_RECOVERY_ERR",
	    [SECTX_PAM_CRED_ERR] = "PAM_CRED_ERR",
	    [SECTX_PAM_SESSION_ERR] = "PAM_SESSION_ERR",
	    [SECTX_PAM_SYSTEM_ERR] = "PAM_SYSTEM_ERR",
	};

	return result < sizeof(names) / sizeof(names[0]) && names[result] != NULL ? names[result]
										  : "PAM_?";
}

/* The one word of result=: success, ignored, unavailable or failed for a
 * PAM answer (its code in pam=); for a reply without one (pam=-), refused
 * (the caller may not act for the user), unavailable (busy, stopping, a
 * lookup not answered in time) or error; abandoned when the client left
 * before the reply. */
static const char *pam_call_outcome(const struct sectx_request *req, bool answered, uint32_t result)
{
	if (!req->replied) {
		return "abandoned";
	}
	if (!answered) {
		switch (req->status) {
		case SECTX_E_PERM:
			return "refused";
		case SECTX_E_UNAVAIL:
		case SECTX_E_BUSY:
		case SECTX_E_SHUTDOWN:
		case SECTX_E_TIMEOUT:
			return "unavailable";
		default:
			return "error";
		}
	}
	switch (result) {
	case SECTX_PAM_SUCCESS:
		return "success";
	case SECTX_PAM_IGNORE:
		return "ignored";
	case SECTX_PAM_AUTHINFO_UNAVAIL:
		return "unavailable";
	default:
		return "failed";
	}
}

/* May the line name the user?  Not one the realm does not know (the name is
 * often a password typed into the login field), nor that of an
 * authentication that got no PAM answer (not known either way). */
static bool pam_call_names_user(const struct sectx_request *req, bool answered, uint32_t result)
{
	uint16_t op = req->msg.hdr.op & ~SECTX_OP_REPLY;

	if (answered) {
		return result != SECTX_PAM_USER_UNKNOWN;
	}
	return op != SECTX_OP_PAM_AUTHENTICATE && op != SECTX_OP_PAM_GSS_AUTH;
}

/* Runs when the request is freed (sectx_request_on_finish): the line that
 * sums the call up.  Only the fields below: never a password, handle or
 * ticket, nor a name pam_call_names_user() withholds; the strings of the
 * request escaped. */
static void pam_call_finished(struct sectx_request *req, void *data)
{
	const struct pam_call_log *l = data;
	const char *op = sectx_op_name(req->msg.hdr.op);
	char user[SECTX_NAME_MAX * 4 + 8], service[SECTX_NAME_MAX * 4 + 8];
	char rhost[SECTX_NAME_MAX * 4 + 8];
	int64_t ms = sectx_now_ms() - req->started_ms;
	/* a PAM answer that went out (not one whose encoding failed) */
	bool answered = l->has_result && req->replied && req->status == SECTX_OK;

	if (strncmp(op, "pam-", 4) == 0) {
		op += 4;
	}
	if (pam_call_names_user(req, answered, l->result)) {
		sectx_log_escape(l->user, strlen(l->user), user, sizeof(user));
	} else {
		snprintf(user, sizeof(user), "?");
	}
	sectx_log_escape(l->service, strlen(l->service), service, sizeof(service));
	sectx_log_escape(l->rhost, strlen(l->rhost), rhost, sizeof(rhost));
	sectx_request_log_call(req,
			       "pam call %s: service=%s user=%s rhost=%s uid=%u pid=%d result=%s "
			       "pam=%s ms=%lld",
			       op, service[0] != '\0' ? service : "-", user[0] != '\0' ? user : "-",
			       rhost[0] != '\0' ? rhost : "-", (unsigned)req->uid, (int)req->pid,
			       pam_call_outcome(req, answered, l->result),
			       answered ? pam_result_name(l->result) : "-",
			       (long long)(ms > 0 ? ms : 0));
}

/* Parse USER, SERVICE and the optional RHOST / HANDLE.  Replies and returns
 * false on a malformed request (pam_int.h). */
bool sectx_pam_parse_args(struct sectx_request *req, struct pam_args *a)
{
	struct pam_call_log *l;
	int ret;

	memset(a, 0, sizeof(*a));
	l = talloc_zero(req, struct pam_call_log);
	if (l != NULL) {
		sectx_request_on_finish(req, pam_call_finished, l);
	}
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
	if (l != NULL) {
		/* each field is empty or checked by the codec (bounded, no NUL) */
		memcpy(l->user, a->user, sizeof(l->user));
		memcpy(l->service, a->service, sizeof(l->service));
		memcpy(l->rhost, a->rhost, sizeof(l->rhost));
	}
	if (ret != 0) {
		sectx_request_reply_status(req, SECTX_E_PROTO, sectx_strerror(ret));
		return false;
	}
	return true;
}

/* --- who may act for a user ------------------------------------------------------------------- */

struct may_act_state {
	char *user;
	bool allowed;
};

static void may_act_looked_up(struct tevent_req *subreq);

/* May the caller act for user?  Root may, at once; anyone else only for
 * itself: its local account, or the realm user mapped to its uid, looked up
 * off the loop (pam_int.h). */
struct tevent_req *sectx_pam_may_act_for_send(TALLOC_CTX *mem_ctx, struct sectx_request *req,
					      const char *user)
{
	struct sectxd_ctx *hctx = req->hctx;
	struct tevent_req *treq, *subreq;
	struct may_act_state *s;

	treq = tevent_req_create(mem_ctx, &s, struct may_act_state);
	if (treq == NULL) {
		return NULL;
	}
	if (req->uid == 0) {
		s->allowed = true;
		tevent_req_done(treq);
		return tevent_req_post(treq, hctx->ev);
	}
	s->user = talloc_strdup(s, user);
	if (tevent_req_nomem(s->user, treq)) {
		return tevent_req_post(treq, hctx->ev);
	}
	subreq = identity_account_by_uid_send(s, hctx, req->uid);
	if (tevent_req_nomem(subreq, treq)) {
		return tevent_req_post(treq, hctx->ev);
	}
	tevent_req_set_callback(subreq, may_act_looked_up, treq);
	return treq;
}

static void may_act_looked_up(struct tevent_req *subreq)
{
	struct tevent_req *treq = tevent_req_callback_data(subreq, struct tevent_req);
	struct may_act_state *s = tevent_req_data(treq, struct may_act_state);
	struct identity_account *acct = NULL;
	int ret;

	ret = identity_account_by_uid_recv(subreq, s, &acct);
	TALLOC_FREE(subreq);
	if (ret == -ETIMEDOUT || ret == -EBUSY || ret == -ECANCELED) {
		/* not known: neither yes nor no */
		tevent_req_error(treq, -ret);
		return;
	}
	/* a uid neither source knows (or out of memory): refused, as ever */
	s->allowed = ret == 0 && (strcmp(acct->name, s->user) == 0 ||
				  (acct->alias != NULL && strcmp(acct->alias, s->user) == 0));
	talloc_free(acct);
	tevent_req_done(treq);
}

/* 0 with *allowed, or why it cannot be told (pam_int.h). */
int sectx_pam_may_act_for_recv(struct tevent_req *treq, bool *allowed)
{
	struct may_act_state *s = tevent_req_data(treq, struct may_act_state);
	int err;

	*allowed = false;
	if (sectx_req_failed(treq, &err)) {
		return -err;
	}
	*allowed = s->allowed;
	return 0;
}

/* One operation waiting to be authorised. */
struct authorise_state {
	struct sectx_request *req;
	void *op;
	sectx_pam_next_fn next;
	const char *what;
};

/* Finish a (freed here, with subreq): 0 after running the rest of the
 * operation (its return value in *next_ret), or the status to reply with. */
static uint32_t authorised(struct authorise_state *a, struct tevent_req *subreq, int *next_ret)
{
	struct sectx_request *req = a->req;
	sectx_pam_next_fn next = a->next;
	const char *what = a->what;
	void *op = a->op;
	bool allowed = false;
	int ret;

	*next_ret = 0;
	ret = sectx_pam_may_act_for_recv(subreq, &allowed);
	talloc_free(a);
	if (ret != 0) {
		SECTX_WARN("%s from uid %u pid %d: cannot tell whether it may act for that user: "
			   "%s",
			   sectx_op_name(req->msg.hdr.op), (unsigned)req->uid, (int)req->pid,
			   ret == -ETIMEDOUT ? "the passwd database did not answer in time"
			   : ret == -EBUSY   ? "too many account lookups waiting"
					     : strerror(-ret));
		return SECTX_E_UNAVAIL;
	}
	if (!allowed) {
		if (what != NULL) {
			sectx_request_log_refusal(req, "uid %u pid %d may not %s; refused",
						  (unsigned)req->uid, (int)req->pid, what);
		}
		return SECTX_E_PERM;
	}
	*next_ret = next(op);
	return 0;
}

static void authorise_done(struct tevent_req *subreq)
{
	struct authorise_state *a = tevent_req_callback_data(subreq, struct authorise_state);
	struct sectx_request *req = a->req;
	uint32_t status;
	int ret;

	status = authorised(a, subreq, &ret);
	if (status != 0) {
		sectx_request_reply_status(req, status, NULL);
		return;
	}
	if (ret > 0) {
		sectx_request_reply_status(req, (uint32_t)ret, NULL);
	}
}

/* Authorise the caller for user, then run next(op) (pam_int.h). */
int sectx_pam_authorise(struct sectx_request *req, void *op, const char *user, const char *what,
			sectx_pam_next_fn next)
{
	struct authorise_state *a = talloc_zero(op, struct authorise_state);
	struct tevent_req *subreq;
	uint32_t status;
	int ret;

	if (a == NULL) {
		return SECTX_E_INTERNAL;
	}
	a->req = req;
	a->op = op;
	a->next = next;
	a->what = what;
	subreq = sectx_pam_may_act_for_send(a, req, user);
	if (subreq == NULL) {
		talloc_free(a);
		return SECTX_E_INTERNAL;
	}
	if (tevent_req_is_in_progress(subreq)) {
		tevent_req_set_callback(subreq, authorise_done, a);
		return 0;
	}
	/* root: on at once, as the operation always did */
	status = authorised(a, subreq, &ret);
	return status != 0 ? (int)status : ret;
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

/* Reply with a PAM result, an optional handle or ccache and user messages
 * (pam_int.h). */
void sectx_pam_reply(struct sectx_request *req, uint32_t result, uint16_t extra_tag,
		     const char *extra, const char *info, const char *error)
{
	struct sectx_wbuf w;

	if (req->on_finish == pam_call_finished) {
		struct pam_call_log *l = req->on_finish_data;

		l->has_result = true;
		l->result = result;
	}
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

/* When the client of req stops waiting for its reply (pam_int.h). */
int64_t sectx_pam_client_deadline(const struct sectx_request *req)
{
	uint32_t ms = SECTX_CLIENT_TIMEOUT_DEFAULT_MS;

	/* a hint for the client's own sake: a malformed one is as if absent */
	if (sectx_msg_get_u32(&req->msg, SECTX_TAG_TIMEOUT, &ms) != 0) {
		ms = SECTX_CLIENT_TIMEOUT_DEFAULT_MS;
	}
	if (ms > SECTX_CLIENT_TIMEOUT_MAX_MS) {
		ms = SECTX_CLIENT_TIMEOUT_MAX_MS;
	}
	return sectx_deadline_after((int64_t)ms);
}

/* The principal of a PAM user, for a valid user name only (pam_int.h). */
int sectx_pam_user_principal(struct sectxd_ctx *hctx, const char *user, krb5_principal *out)
{
	if (!valid_user(user)) {
		return -ENOENT;
	}
	return user_principal(hctx, user, out);
}

/* A password field, copied into a scrubbed buffer on mem_ctx. */
static int scrub_secret(char *s)
{
	explicit_bzero(s, talloc_get_size(s));
	return 0;
}

/* The password field tag of req in a scrubbed buffer (pam_int.h). */
int sectx_pam_get_secret(TALLOC_CTX *mem_ctx, struct sectx_request *req, uint16_t tag,
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
 * host; NULL (and a log line) if there is none or it does not match
 * (pam_int.h). */
struct sectx_handle *sectx_pam_claimable_handle(struct sectx_request *req, const struct pam_args *a)
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
		sectx_request_log_refusal(
		    req,
		    "%s from uid %u pid %d: login handle of %s (%s, rhost %s) presented for "
		    "%s (%s, rhost %s); refused",
		    sectx_op_name(req->msg.hdr.op), (unsigned)req->uid, (int)req->pid, h->user,
		    h->service, h->rhost[0] ? h->rhost : "-", a->user, a->service,
		    a->has_rhost && a->rhost[0] ? a->rhost : "-");
		return NULL;
	}
	return h;
}
