/*
 * auth.c - pam_sm_authenticate: the user's password goes to the helper,
 * which gets and validates a TGT and keeps it under a login handle; the
 * module keeps the handle for the session calls.
 *
 * Returns only SUCCESS, AUTH_ERR, CRED_INSUFFICIENT, AUTHINFO_UNAVAIL,
 * USER_UNKNOWN, MAXTRIES (IGNORE through minimum_uid and the ignore_*
 * options; INCOMPLETE when the conversation asks to be called again), and
 * fails closed on anything unexpected.  It must never add a message of its
 * own that tells an unknown user from a wrong password (the helper's
 * USER_ERROR lines are the same for both), never log the name of a user the
 * helper does not know, and never keep the password past this call.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define PASSWORD_PROMPT "Password: "

/* Read the password the options ask for.  Returns PAM_SUCCESS with pw set
 * and *from_item telling whether it was a stored PAM_AUTHTOK, or the PAM
 * code to return. */
static int get_password(const struct pam_sectx_ctx *c, bool allow_item, struct pam_sectx_secret *pw,
			bool *from_item)
{
	int ret;

	*from_item = false;
	if (allow_item && (c->opts.use_first_pass || c->opts.try_first_pass)) {
		ret = pam_sectx_secret_from_item(c->pamh, PAM_AUTHTOK, pw);
		if (ret == 0) {
			*from_item = true;
			return PAM_SUCCESS;
		}
		if (ret == -E2BIG) {
			pam_syslog(c->pamh, LOG_NOTICE, "stored password for %s is too long",
				   c->user_log);
			return PAM_AUTH_ERR;
		}
		if (c->opts.use_first_pass) {
			pam_syslog(c->pamh, LOG_NOTICE, "use_first_pass: no stored password for %s",
				   c->user_log);
			return PAM_AUTH_ERR;
		}
	}
	ret = pam_sectx_secret_prompt(c->pamh, PASSWORD_PROMPT, pw);
	if (ret == -EAGAIN) {
		return PAM_INCOMPLETE;
	}
	if (ret != 0) {
		pam_syslog(c->pamh, LOG_NOTICE, "no password for %s: %s", c->user_log,
			   ret == -E2BIG ? "too long" : "the conversation failed");
		return PAM_AUTH_ERR;
	}
	if (c->opts.forward_pass && pam_sectx_secret_store(c->pamh, PAM_AUTHTOK, pw) != 0) {
		pam_syslog(c->pamh, LOG_WARNING, "forward_pass: cannot store PAM_AUTHTOK");
	}
	return PAM_SUCCESS;
}

/* One PAM_AUTHENTICATE exchange.  Returns pam_sectx_call's value. */
static int ask_helper(const struct pam_sectx_ctx *c, const struct pam_sectx_secret *pw,
		      struct pam_sectx_reply *rep)
{
	struct pam_sectx_req *req = NULL;
	const void *tty = NULL;
	int ret;

	ret = pam_sectx_req_new(c, SECTX_OP_PAM_AUTHENTICATE, &req);
	if (ret != 0) {
		memset(rep, 0, sizeof(*rep));
		ret = PAM_SECTX_BADREPLY;
		goto done;
	}
	if (pam_get_item(c->pamh, PAM_TTY, &tty) != PAM_SUCCESS || tty == NULL) {
		tty = "";
	}
	sectx_put_bytes(&req->w, SECTX_TAG_PASSWORD, pw->buf, pw->len);
	sectx_put_string(&req->w, SECTX_TAG_TTY, tty); /* RHOST: pam_sectx_req_new */
	ret = pam_sectx_call(c, req, rep);
done:
	pam_sectx_req_free(req);
	return ret;
}

/* A refusal that a second password typed by the user may overcome.  An
 * unknown user is retried like a wrong password, so that the prompts do
 * not tell the two apart. */
static bool retryable(int call_ret, const struct pam_sectx_reply *rep)
{
	return call_ret == 0 &&
	       (rep->result == SECTX_PAM_AUTH_ERR || rep->result == SECTX_PAM_USER_UNKNOWN);
}

int pam_sectx_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pam_sectx_ctx c;
	struct pam_sectx_secret pw;
	struct pam_sectx_reply rep;
	bool from_item = false;
	bool by_tickets = false;
	int call_ret = 0;
	int ret;

	memset(&rep, 0, sizeof(rep));
	pw.set = false;
	pam_sectx_secret_clear(&pw);

	ret = pam_sectx_ctx_init(&c, pamh, flags, argc, argv, true);
	if (ret != PAM_SUCCESS) {
		if (ret == PAM_USER_UNKNOWN) {
			pam_fail_delay(pamh, PAM_SECTX_FAIL_DELAY_USEC);
		}
		if (ret == PAM_USER_UNKNOWN && c.opts.ignore_unknown_user) {
			ret = PAM_IGNORE;
		} else if (ret != PAM_USER_UNKNOWN && ret != PAM_INCOMPLETE) {
			ret = PAM_AUTH_ERR;
		}
		goto done;
	}
	if (pam_sectx_ignored_uid(&c)) {
		ret = PAM_IGNORE;
		goto done;
	}
	pam_fail_delay(pamh, PAM_SECTX_FAIL_DELAY_USEC);

	if (pam_sectx_ticket_auth(&c, &rep) == PAM_SUCCESS) {
		ret = PAM_SUCCESS;
		by_tickets = true;
		goto succeeded;
	}
	ret = get_password(&c, true, &pw, &from_item);
	if (ret != PAM_SUCCESS) {
		goto done;
	}
	call_ret = ask_helper(&c, &pw, &rep);
	if (from_item && !c.opts.use_first_pass && retryable(call_ret, &rep)) {
		PAM_SECTX_DEBUG(&c, "stored password refused for %s: prompting",
				rep.result == SECTX_PAM_USER_UNKNOWN ? "this user" : c.user_log);
		ret = get_password(&c, false, &pw, &from_item);
		if (ret != PAM_SUCCESS) {
			goto done;
		}
		call_ret = ask_helper(&c, &pw, &rep);
	}
	ret = pam_sectx_map_result(PAM_SECTX_GROUP_AUTH, call_ret, rep.result, &c.opts);
succeeded:
	if (ret == PAM_SUCCESS) {
		if (!rep.has_handle || pam_sectx_handle_store(&c, rep.handle, true) != 0) {
			pam_syslog(pamh, LOG_ERR,
				   "authentication of %s (service %s): no usable login handle",
				   c.user_log, c.service_log);
			ret = PAM_AUTH_ERR;
			goto done;
		}
		pam_set_data(pamh, PAM_SECTX_DATA_EXPIRED, NULL, NULL);
		pam_syslog(pamh, LOG_INFO, "authentication succeeded for %s (service %s%s)",
			   c.user_log, c.service_log, by_tickets ? ", by tickets" : "");
	} else if (call_ret == 0 && rep.result == SECTX_PAM_USER_UNKNOWN) {
		/* The name may be a password typed in the wrong field. */
		pam_syslog(pamh, LOG_NOTICE, "authentication failed: unknown user (service %s)",
			   c.service_log);
	} else {
		pam_syslog(pamh, LOG_NOTICE, "authentication failed for %s (service %s): %s",
			   c.user_log, c.service_log, pam_strerror(pamh, ret));
	}
done:
	pam_sectx_secret_clear(&pw);
	explicit_bzero(rep.handle, sizeof(rep.handle));
	return ret;
}
