/*
 * password.c - pam_sm_chauthtok: change the user's Kerberos password through
 * the helper (which talks to kpasswd), for `passwd` and for a password that
 * expired at login.
 *
 * PRELIM_CHECK gets the old password (stored with use/try_first_pass, or
 * prompted) and lets the helper verify it; UPDATE_AUTHTOK gets the new one
 * (prompted twice, or PAM_AUTHTOK with use_authtok) and sends both.  After
 * a login whose password had expired (acct_mgmt said NEW_AUTHTOK_REQD) the
 * old password is not asked again: libpam has already scrubbed PAM_AUTHTOK
 * at the end of pam_authenticate, and the helper holds what that login
 * proved (a kadmin/changepw ticket) under the login handle, so the update
 * sends the handle with an empty OLD_PASSWORD.  Asked with
 * PAM_CHANGE_EXPIRED_AUTHTOK when the password has not expired, it changes
 * nothing and returns PAM_IGNORE.  The helper's USER_ERROR
 * lines carry the KDC's reason for a refusal.  Passwords live in scrubbed
 * buffers for one call; between the phases the old one is in libpam's
 * PAM_OLDAUTHTOK item, as the PAM API intends.  This file must never log a
 * password or say which of two typed passwords differed.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define OLD_PROMPT    "Current Kerberos password: "
#define NEW_PROMPT    "New password: "
#define RETYPE_PROMPT "Retype new password: "

/* PAM_SECTX_DATA_PRELIM values: what PRELIM found, for UPDATE. */
static const char prelim_ok[] = "ok";		/* old password in PAM_OLDAUTHTOK */
static const char prelim_expired[] = "expired"; /* the handle stands for it */
static const char prelim_ignore[] = "ignore";	/* not sectx's user */

/* Show a message of the module's own, unless PAM_SILENT. */
static void say_error(const struct pam_sectx_ctx *c, const char *text)
{
	if (!(c->flags & PAM_SILENT)) {
		pam_error(c->pamh, "%s", text);
	}
}

/* True after acct_mgmt found the password of this login expired: the
 * helper holds the login's proof under the handle. */
static bool expired_login(const struct pam_sectx_ctx *c, const char *handle)
{
	const void *expired = NULL;

	return handle[0] != '\0' &&
	       pam_get_data(c->pamh, PAM_SECTX_DATA_EXPIRED, &expired) == PAM_SUCCESS &&
	       expired != NULL;
}

/* The old password for PRELIM.  Returns PAM_SUCCESS with old set, or the
 * PAM code to return. */
static int get_old_password(const struct pam_sectx_ctx *c, struct pam_sectx_secret *old)
{
	int ret;

	if ((c->opts.use_first_pass || c->opts.try_first_pass) &&
	    pam_sectx_secret_from_item(c->pamh, PAM_OLDAUTHTOK, old) == 0) {
		return PAM_SUCCESS;
	}
	if (c->opts.use_first_pass) {
		pam_syslog(c->pamh, LOG_NOTICE, "use_first_pass: no stored old password for %s",
			   c->user_log);
		return PAM_AUTHTOK_RECOVERY_ERR;
	}
	ret = pam_sectx_secret_prompt(c->pamh, OLD_PROMPT, old);
	if (ret == -EAGAIN) {
		return PAM_INCOMPLETE;
	}
	if (ret != 0) {
		return PAM_AUTHTOK_RECOVERY_ERR;
	}
	return PAM_SUCCESS;
}

/* The new password for UPDATE.  PAM_SUCCESS with new set, or the PAM code. */
static int get_new_password(const struct pam_sectx_ctx *c, struct pam_sectx_secret *new_pw)
{
	struct pam_sectx_secret again;
	int ret;

	again.set = false;
	pam_sectx_secret_clear(&again);
	if (c->opts.use_authtok) {
		if (pam_sectx_secret_from_item(c->pamh, PAM_AUTHTOK, new_pw) != 0) {
			pam_syslog(c->pamh, LOG_NOTICE, "use_authtok: no new password for %s",
				   c->user_log);
			ret = PAM_AUTHTOK_ERR;
			goto done;
		}
		ret = PAM_SUCCESS;
		goto done;
	}
	ret = pam_sectx_secret_prompt(c->pamh, NEW_PROMPT, new_pw);
	if (ret == 0) {
		ret = pam_sectx_secret_prompt(c->pamh, RETYPE_PROMPT, &again);
	}
	if (ret == -EAGAIN) {
		ret = PAM_INCOMPLETE;
		goto done;
	}
	if (ret != 0) {
		ret = PAM_AUTHTOK_ERR;
		goto done;
	}
	if (new_pw->len == 0) {
		say_error(c, "No password has been supplied.");
		ret = PAM_AUTHTOK_ERR;
		goto done;
	}
	if (new_pw->len != again.len || memcmp(new_pw->buf, again.buf, new_pw->len) != 0) {
		say_error(c, "Sorry, passwords do not match.");
		ret = PAM_AUTHTOK_ERR;
		goto done;
	}
	ret = PAM_SUCCESS;
done:
	if (ret != PAM_SUCCESS) {
		pam_sectx_secret_clear(new_pw);
	}
	pam_sectx_secret_clear(&again);
	return ret;
}

/* Build and send one CHAUTHTOK request. */
static int ask_helper(const struct pam_sectx_ctx *c, uint32_t phase,
		      const struct pam_sectx_secret *old, const struct pam_sectx_secret *new_pw,
		      const char *handle, struct pam_sectx_reply *rep)
{
	struct pam_sectx_req *req = NULL;
	int ret;

	memset(rep, 0, sizeof(*rep));
	ret = pam_sectx_req_new(c, SECTX_OP_PAM_CHAUTHTOK, &req);
	if (ret != 0) {
		ret = PAM_SECTX_BADREPLY;
		goto done;
	}
	sectx_put_u32(&req->w, SECTX_TAG_PHASE, phase);
	sectx_put_bytes(&req->w, SECTX_TAG_OLD_PASSWORD, old->buf, old->len);
	if (new_pw != NULL) {
		sectx_put_bytes(&req->w, SECTX_TAG_NEW_PASSWORD, new_pw->buf, new_pw->len);
	}
	if (handle[0] != '\0') {
		sectx_put_string(&req->w, SECTX_TAG_HANDLE, handle);
	}
	ret = pam_sectx_call(c, req, rep);
done:
	pam_sectx_req_free(req);
	return ret;
}

static int prelim(const struct pam_sectx_ctx *c, const char *handle)
{
	struct pam_sectx_secret old;
	struct pam_sectx_reply rep;
	int call_ret;
	int ret;

	old.set = false;
	pam_sectx_secret_clear(&old);
	memset(&rep, 0, sizeof(rep));
	pam_set_data(c->pamh, PAM_SECTX_DATA_PRELIM, NULL, NULL);

	if (expired_login(c, handle)) {
		PAM_SECTX_DEBUG(c,
				"password change for %s: expired at login, the login handle "
				"stands for the old password",
				c->user_log);
		pam_set_data(c->pamh, PAM_SECTX_DATA_PRELIM, (void *)prelim_expired, NULL);
		ret = PAM_SUCCESS;
		goto done;
	}
	ret = get_old_password(c, &old);
	if (ret != PAM_SUCCESS) {
		goto done;
	}
	call_ret = ask_helper(c, SECTX_CHAUTHTOK_PRELIM, &old, NULL, handle, &rep);
	ret = pam_sectx_map_result(PAM_SECTX_GROUP_PASSWORD_PRELIM, call_ret, rep.result, &c->opts);
	if (ret == PAM_IGNORE) {
		pam_set_data(c->pamh, PAM_SECTX_DATA_PRELIM, (void *)prelim_ignore, NULL);
		goto done;
	}
	if (ret != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_NOTICE,
			   "password change for %s (service %s): old "
			   "password not accepted: %s",
			   c->user_log, c->service_log, pam_strerror(c->pamh, ret));
		goto done;
	}
	if (pam_sectx_secret_store(c->pamh, PAM_OLDAUTHTOK, &old) != 0) {
		pam_syslog(c->pamh, LOG_ERR, "cannot store PAM_OLDAUTHTOK");
		ret = PAM_AUTHTOK_ERR;
		goto done;
	}
	pam_set_data(c->pamh, PAM_SECTX_DATA_PRELIM, (void *)prelim_ok, NULL);
done:
	pam_sectx_secret_clear(&old);
	explicit_bzero(rep.handle, sizeof(rep.handle));
	return ret;
}

static int update(const struct pam_sectx_ctx *c, const char *handle)
{
	struct pam_sectx_secret old, new_pw;
	struct pam_sectx_reply rep;
	const void *state = NULL;
	int call_ret;
	int ret;

	old.set = new_pw.set = false;
	pam_sectx_secret_clear(&old);
	pam_sectx_secret_clear(&new_pw);
	memset(&rep, 0, sizeof(rep));

	if (pam_get_data(c->pamh, PAM_SECTX_DATA_PRELIM, &state) != PAM_SUCCESS || state == NULL) {
		pam_syslog(c->pamh, LOG_ERR, "password change for %s: no preliminary check",
			   c->user_log);
		ret = PAM_AUTHTOK_ERR;
		goto done;
	}
	if (state == (const void *)prelim_ignore) {
		ret = PAM_IGNORE;
		goto done;
	}
	if (state == (const void *)prelim_expired) {
		old.set = true; /* empty: the handle proves it */
	} else if (pam_sectx_secret_from_item(c->pamh, PAM_OLDAUTHTOK, &old) != 0) {
		ret = PAM_AUTHTOK_RECOVERY_ERR;
		goto done;
	}
	ret = get_new_password(c, &new_pw);
	if (ret != PAM_SUCCESS) {
		goto done;
	}
	call_ret = ask_helper(c, SECTX_CHAUTHTOK_UPDATE, &old, &new_pw, handle, &rep);
	ret = pam_sectx_map_result(PAM_SECTX_GROUP_PASSWORD_UPDATE, call_ret, rep.result, &c->opts);
	if (ret != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_NOTICE, "password change for %s (service %s): %s",
			   c->user_log, c->service_log, pam_strerror(c->pamh, ret));
		goto done;
	}
	if (pam_sectx_secret_store(c->pamh, PAM_AUTHTOK, &new_pw) != 0) {
		pam_syslog(c->pamh, LOG_WARNING, "cannot store PAM_AUTHTOK");
	}
	pam_set_data(c->pamh, PAM_SECTX_DATA_EXPIRED, NULL, NULL);
	if (rep.has_handle) {
		/* The helper keeps the login's new TGT under a new handle. */
		bool env = pam_getenv(c->pamh, PAM_SECTX_ENV_HANDLE) != NULL;

		if (pam_sectx_handle_store(c, rep.handle, env) != 0) {
			ret = PAM_AUTHTOK_ERR;
			goto done;
		}
	}
	pam_syslog(c->pamh, LOG_INFO, "password changed for %s (service %s)", c->user_log,
		   c->service_log);
done:
	pam_sectx_secret_clear(&old);
	pam_sectx_secret_clear(&new_pw);
	explicit_bzero(rep.handle, sizeof(rep.handle));
	return ret;
}

int pam_sectx_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct pam_sectx_ctx c;
	char handle[SECTX_HANDLE_LEN + 1] = "";
	bool from_env = false;
	int ret;

	ret = pam_sectx_ctx_init(&c, pamh, flags, argc, argv, true);
	if (ret != PAM_SUCCESS) {
		if (ret == PAM_USER_UNKNOWN && c.opts.ignore_unknown_user) {
			ret = PAM_IGNORE;
		}
		goto done;
	}
	if (pam_sectx_ignored_uid(&c)) {
		ret = PAM_IGNORE;
		goto done;
	}
	if (pam_sectx_handle_find(&c, handle, &from_env) != 0) {
		handle[0] = '\0'; /* `passwd`: no login behind it */
	}
	if ((flags & PAM_CHANGE_EXPIRED_AUTHTOK) && !expired_login(&c, handle)) {
		/* The application asks for a change only if the password has
		 * expired (login, sshd, display managers after acct_mgmt), and
		 * this transaction found ours valid: change nothing, prompt for
		 * nothing, in either phase, and let the other modules decide
		 * (as pam_krb5 does). */
		pam_syslog(pamh, LOG_DEBUG,
			   "password of %s has not expired: nothing to change (service %s)",
			   c.user_log, c.service_log);
		ret = PAM_IGNORE;
		goto done;
	}
	if (flags & PAM_PRELIM_CHECK) {
		ret = prelim(&c, handle);
	} else if (flags & PAM_UPDATE_AUTHTOK) {
		ret = update(&c, handle);
	} else {
		pam_syslog(pamh, LOG_ERR,
			   "chauthtok called without PRELIM_CHECK or UPDATE_AUTHTOK");
		ret = PAM_SERVICE_ERR;
	}
done:
	explicit_bzero(handle, sizeof(handle));
	return ret;
}
