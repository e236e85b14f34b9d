/*
 * session.c - pam_sm_setcred, pam_sm_open_session and pam_sm_close_session:
 * the helper writes, refreshes and destroys the user's credential cache for
 * the login handle, and the module exports KRB5CCNAME.
 *
 * A user sectx did not authenticate has no handle: PAM_IGNORE without asking
 * the helper.  setcred may be called again for the same handle (sshd calls
 * it in each session child): the helper answers idempotently.  Once the
 * helper has opened the session, SECTX_LOGIN_HANDLE leaves the PAM
 * environment (which becomes the session's environment), while pam_data
 * keeps the handle for close_session.  This file must never log the handle
 * or put into the environment a string the codec has not checked.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum session_step { STEP_SETCRED, STEP_OPEN, STEP_CLOSE };

/* Put KRB5CCNAME=ccache in the PAM environment.  0 or -EIO. */
static int export_ccache(const struct pam_sectx_ctx *c, const char *ccache)
{
	char env[sizeof(PAM_SECTX_ENV_CCACHE) + SECTX_STRING_MAX + 1];
	int n = snprintf(env, sizeof(env), "%s=%s", PAM_SECTX_ENV_CCACHE, ccache);

	if (n < 0 || (size_t)n >= sizeof(env) || pam_putenv(c->pamh, env) != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_ERR, "cannot set %s in the PAM environment",
			   PAM_SECTX_ENV_CCACHE);
		return -EIO;
	}
	return 0;
}

static void unset_env(const struct pam_sectx_ctx *c, const char *name)
{
	if (pam_getenv(c->pamh, name) != NULL) {
		pam_putenv(c->pamh, name); /* "NAME" without '=' deletes it */
	}
}

/* The ccache a refresh should rewrite: the session's KRB5CCNAME (a screen
 * locker runs inside the session), if it is a string we may send. */
static const char *current_ccache(const struct pam_sectx_ctx *c)
{
	const char *cc = pam_getenv(c->pamh, PAM_SECTX_ENV_CCACHE);

	if (cc == NULL) {
		cc = secure_getenv(PAM_SECTX_ENV_CCACHE);
	}
	if (cc == NULL || cc[0] == '\0' ||
	    sectx_validate_string((const uint8_t *)cc, strlen(cc), SECTX_STRING_MAX) != 0) {
		return NULL;
	}
	return cc;
}

static const char *step_name(enum session_step step)
{
	return step == STEP_SETCRED ? "setcred"
	       : step == STEP_OPEN  ? "open_session"
				    : "close_session";
}

/* The common path of the three calls.  cred_flag is a SECTX_CRED_* value for
 * setcred, else 0. */
static int session_call(pam_handle_t *pamh, int flags, int argc, const char **argv,
			enum session_step step, uint32_t cred_flag)
{
	enum pam_sectx_group group =
	    step == STEP_SETCRED ? PAM_SECTX_GROUP_SETCRED : PAM_SECTX_GROUP_SESSION;
	struct pam_sectx_ctx c;
	struct pam_sectx_req *req = NULL;
	struct pam_sectx_reply rep;
	char handle[SECTX_HANDLE_LEN + 1] = "";
	bool from_env = false;
	int call_ret;
	int ret;

	memset(&rep, 0, sizeof(rep));
	ret = pam_sectx_ctx_init(&c, pamh, flags, argc, argv, false);
	if (ret != PAM_SUCCESS) {
		if (ret == PAM_USER_UNKNOWN && c.opts.ignore_unknown_user) {
			ret = PAM_IGNORE;
		} else if (ret == PAM_USER_UNKNOWN) {
			ret = step == STEP_SETCRED ? PAM_USER_UNKNOWN : PAM_SESSION_ERR;
		}
		goto done;
	}
	if (pam_sectx_ignored_uid(&c)) {
		ret = PAM_IGNORE;
		goto done;
	}
	if (step == STEP_SETCRED && cred_flag == SECTX_CRED_DELETE &&
	    pam_sectx_handle_was_closed(&c)) {
		/* login and sshd delete the credentials after close_session:
		 * the helper destroyed them with the session, nothing is left */
		PAM_SECTX_DEBUG(&c, "setcred delete for %s: the session is already closed",
				c.user_log);
		ret = PAM_SUCCESS;
		goto done;
	}
	if (pam_sectx_handle_find(&c, handle, &from_env) != 0) {
		PAM_SECTX_DEBUG(&c, "%s for %s: not authenticated by sectx, ignored",
				step_name(step), c.user_log);
		ret = PAM_IGNORE;
		goto done;
	}

	ret = pam_sectx_req_new(&c,
				step == STEP_SETCRED ? SECTX_OP_PAM_SETCRED
				: step == STEP_OPEN  ? SECTX_OP_PAM_OPEN_SESSION
						     : SECTX_OP_PAM_CLOSE_SESSION,
				&req);
	if (ret != 0) {
		ret = PAM_BUF_ERR;
		goto done;
	}
	sectx_put_string(&req->w, SECTX_TAG_HANDLE, handle);
	if (step == STEP_SETCRED) {
		sectx_put_u32(&req->w, SECTX_TAG_CRED_FLAG, cred_flag);
		if (cred_flag == SECTX_CRED_REINITIALIZE || cred_flag == SECTX_CRED_REFRESH) {
			const char *cc = current_ccache(&c);

			if (cc != NULL) {
				sectx_put_string(&req->w, SECTX_TAG_CCACHE, cc);
			}
		}
	} else if (step == STEP_CLOSE) {
		sectx_put_u32(&req->w, SECTX_TAG_RETAIN, c.opts.retain_after_close ? 1 : 0);
	}
	call_ret = pam_sectx_call(&c, req, &rep);
	ret = pam_sectx_map_result(group, call_ret, rep.result, &c.opts);

	if (ret == PAM_SUCCESS) {
		bool opens = step == STEP_OPEN ||
			     (step == STEP_SETCRED && cred_flag == SECTX_CRED_ESTABLISH);

		if (rep.has_ccache && step != STEP_CLOSE && cred_flag != SECTX_CRED_DELETE &&
		    export_ccache(&c, rep.ccache) != 0) {
			ret = step == STEP_SETCRED ? PAM_CRED_ERR : PAM_SESSION_ERR;
			goto done;
		}
		if (opens) {
			pam_sectx_handle_claimed(&c, handle);
		}
		if (step == STEP_CLOSE || cred_flag == SECTX_CRED_DELETE) {
			pam_sectx_handle_closed(&c);
			unset_env(&c, PAM_SECTX_ENV_HANDLE);
			if (!c.opts.retain_after_close || cred_flag == SECTX_CRED_DELETE) {
				unset_env(&c, PAM_SECTX_ENV_CCACHE);
			}
		}
		pam_syslog(pamh, LOG_INFO, "%s for %s (service %s): done", step_name(step),
			   c.user_log, c.service_log);
	} else {
		pam_syslog(pamh, LOG_NOTICE, "%s for %s (service %s): %s", step_name(step),
			   c.user_log, c.service_log, pam_strerror(pamh, ret));
	}
done:
	pam_sectx_req_free(req);
	explicit_bzero(handle, sizeof(handle));
	explicit_bzero(rep.handle, sizeof(rep.handle));
	return ret;
}

int pam_sectx_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	int what = flags & ~PAM_SILENT;
	uint32_t cred_flag;

	switch (what) {
	case 0: /* libpam passes ESTABLISH for 0, be as lenient */
	case PAM_ESTABLISH_CRED:
		cred_flag = SECTX_CRED_ESTABLISH;
		break;
	case PAM_REINITIALIZE_CRED:
		cred_flag = SECTX_CRED_REINITIALIZE;
		break;
	case PAM_REFRESH_CRED:
		cred_flag = SECTX_CRED_REFRESH;
		break;
	case PAM_DELETE_CRED:
		cred_flag = SECTX_CRED_DELETE;
		break;
	default:
		pam_syslog(pamh, LOG_ERR, "setcred: invalid flags %#x", (unsigned)flags);
		return PAM_CRED_ERR;
	}
	return session_call(pamh, flags, argc, argv, STEP_SETCRED, cred_flag);
}

int pam_sectx_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return session_call(pamh, flags, argc, argv, STEP_OPEN, 0);
}

int pam_sectx_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return session_call(pamh, flags, argc, argv, STEP_CLOSE, 0);
}
