/*
 * account.c - pam_sm_acct_mgmt: may the user sectx authenticated log in now?
 *
 * The helper decides (access rules, expired account, expired password) from
 * the login handle; the module relays its warnings (password about to
 * expire) and returns its answer.  A user sectx did not authenticate (ssh
 * keys, root's su) has no handle: PAM_IGNORE, without asking the helper.
 * When the password has expired the module notes it, so that chauthtok can
 * take the password just typed as the old one.  It must never treat a reply
 * it cannot act on as success.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

int pam_sectx_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
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
		}
		goto done;
	}
	if (pam_sectx_ignored_uid(&c)) {
		ret = PAM_IGNORE;
		goto done;
	}
	if (pam_sectx_handle_find(&c, handle, &from_env) != 0) {
		PAM_SECTX_DEBUG(&c, "account of %s: not authenticated by sectx, ignored",
				c.user_log);
		ret = PAM_IGNORE;
		goto done;
	}
	if (pam_sectx_req_new(&c, SECTX_OP_PAM_ACCT_MGMT, &req) != 0) {
		ret = PAM_BUF_ERR;
		goto done;
	}
	sectx_put_string(&req->w, SECTX_TAG_HANDLE, handle);
	call_ret = pam_sectx_call(&c, req, &rep);
	ret = pam_sectx_map_result(PAM_SECTX_GROUP_ACCT, call_ret, rep.result, &c.opts);

	if (ret == PAM_NEW_AUTHTOK_REQD) {
		/* Not a secret: only says the password just used has expired. */
		pam_set_data(pamh, PAM_SECTX_DATA_EXPIRED, (void *)"1", NULL);
	}
	pam_syslog(pamh, ret == PAM_SUCCESS ? LOG_INFO : LOG_NOTICE,
		   "account of %s (service %s): %s", c.user_log, c.service_log,
		   pam_strerror(pamh, ret));
done:
	pam_sectx_req_free(req);
	explicit_bzero(handle, sizeof(handle));
	explicit_bzero(rep.handle, sizeof(rep.handle));
	return ret;
}
