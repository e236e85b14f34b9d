/*
 * ops/pam_account.c - the PAM account group of sectxd
 * (SECTX_OP_PAM_ACCT_MGMT): may the user of a login handle log in here
 * ([access] allow_users / allow_groups), has the account expired, must the
 * password be changed now, will it expire soon.
 *
 * Who can reach this: any local process, through pam.sock; root for any
 * user, anyone else only for its own (pam_common.c).  What they can make it
 * do: read the login handle issued for that same user, service and remote
 * host, and look the user and its groups up (identity/account.c: the local
 * passwd database first, then the identity store; groups by getgrgid_r,
 * then the store).  No KDC exchange.
 *
 * It must never allow a login that [access] does not allow, nor answer for a
 * login it did not make (IGNORE: another module's).
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "identity/identity.h"
#include "log.h"
#include "ops/pam_int.h"
#include "server/server.h"
#include "sessions/sessions.h"

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

/* Is one of groups (n of them) listed in [access] allow_groups?  Each gid
 * is named by the local group database, else by the identity store. */
static bool group_allowed(struct sectxd_ctx *hctx, const gid_t *groups, size_t n)
{
	const struct sectx_config *cfg = hctx->cfg;
	size_t i;

	for (i = 0; i < n; i++) {
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

/* [access]: allowed if both lists are empty, the user is listed, or one of
 * its groups is (the account and its groups: identity/account.c). */
static bool access_allowed(struct sectxd_ctx *hctx, const char *user)
{
	const struct sectx_config *cfg = hctx->cfg;
	TALLOC_CTX *tmp_ctx;
	struct identity_account *acct = NULL;
	gid_t *groups = NULL;
	size_t ngroups = 0;
	bool allowed = false;

	if (cfg->access.n_allow_users == 0 && cfg->access.n_allow_groups == 0) {
		return true;
	}
	if (in_list(cfg->access.allow_users, cfg->access.n_allow_users, user)) {
		return true;
	}
	if (cfg->access.n_allow_groups == 0) {
		return false;
	}
	tmp_ctx = talloc_new(NULL);
	if (tmp_ctx == NULL) {
		return false;
	}
	/* no such user, or a local one in too many groups: not allowed */
	if (identity_account_by_name(tmp_ctx, hctx, user, &acct) != 0 ||
	    identity_account_groups(tmp_ctx, hctx, acct, &groups, &ngroups) != 0) {
		goto done;
	}
	allowed = group_allowed(hctx, groups, ngroups);
done:
	talloc_free(tmp_ctx);
	return allowed;
}

/* SECTX_OP_PAM_ACCT_MGMT (pam_int.h): USER, SERVICE, [RHOST], HANDLE.
 * Always replies (or returns a positive enum sectx_status for the server
 * to): IGNORE for a login sectx did not make. */
int sectx_pam_op_acct_mgmt(struct sectx_request *req)
{
	struct sectx_handle *h;
	struct pam_args a;
	char info[128];
	int64_t warn;
	time_t now;

	if (!sectx_pam_parse_args(req, &a)) {
		return 0;
	}
	if (!sectx_pam_caller_may_act_for(req, a.user)) {
		return SECTX_E_PERM;
	}
	h = sectx_pam_claimable_handle(req, &a);
	if (h == NULL) {
		sectx_pam_reply(req, SECTX_PAM_IGNORE, 0, NULL, NULL, NULL);
		return 0;
	}
	if (!access_allowed(req->hctx, a.user)) {
		SECTX_INFO("%s may not log in to %s ([access])", a.user, a.service);
		sectx_pam_reply(req, SECTX_PAM_PERM_DENIED, 0, NULL, NULL,
				"You are not allowed to log in here.");
		return 0;
	}
	now = time(NULL);
	if (h->acct_expiry != 0 && (time_t)h->acct_expiry <= now) {
		sectx_pam_reply(req, SECTX_PAM_ACCT_EXPIRED, 0, NULL, NULL,
				"Your account has expired.");
		return 0;
	}
	if (h->expired) {
		sectx_pam_reply(req, SECTX_PAM_NEW_AUTHTOK_REQD, 0, NULL, NULL,
				"Your password has expired; you must change it now.");
		return 0;
	}
	warn = (int64_t)req->hctx->cfg->kerberos.pwd_expire_warning * 86400;
	if (h->pw_expiry != 0 && (int64_t)h->pw_expiry - now <= warn) {
		int64_t days = ((int64_t)h->pw_expiry - now) / 86400;

		snprintf(info, sizeof(info), "Your password will expire in %lld day%s.",
			 (long long)days, days == 1 ? "" : "s");
		sectx_pam_reply(req, SECTX_PAM_SUCCESS, 0, NULL, info, NULL);
		return 0;
	}
	sectx_pam_reply(req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
	return 0;
}
