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
 * database first, then the identity store.
 *
 * This file must never trust a field it has not bounded, let a user name
 * that is not a plain name of the realm become a principal, keep a password
 * in a buffer that is not scrubbed when freed, or hand a login handle to a
 * request for another user, service or remote host.
 */
#include <errno.h>
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

/* Parse USER, SERVICE and the optional RHOST / HANDLE.  Replies and returns
 * false on a malformed request (pam_int.h). */
bool sectx_pam_parse_args(struct sectx_request *req, struct pam_args *a)
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

/* May the caller act for user?  Root may; anyone else only for itself: its
 * local account, or the realm user mapped to its uid (pam_int.h). */
bool sectx_pam_caller_may_act_for(const struct sectx_request *req, const char *user)
{
	struct identity_account *acct = NULL;
	bool ok;

	if (req->uid == 0) {
		return true;
	}
	if (identity_account_by_uid(NULL, req->hctx, req->uid, &acct) != 0) {
		return false;
	}
	ok = strcmp(acct->name, user) == 0 ||
	     (acct->alias != NULL && strcmp(acct->alias, user) == 0);
	talloc_free(acct);
	return ok;
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
		SECTX_WARN("%s from uid %u pid %d: login handle of %s (%s, rhost %s) presented for "
			   "%s (%s, rhost %s); refused",
			   sectx_op_name(req->msg.hdr.op), (unsigned)req->uid, (int)req->pid,
			   h->user, h->service, h->rhost[0] ? h->rhost : "-", a->user, a->service,
			   a->has_rhost && a->rhost[0] ? a->rhost : "-");
		return NULL;
	}
	return h;
}
