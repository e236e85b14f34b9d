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
 * passwd and group databases first, on the resolver's threads, then the
 * identity store).  No KDC exchange, no lookup on the loop.
 *
 * It must never allow a login that [access] does not allow, nor answer for a
 * login it did not make (IGNORE: another module's).
 */
#include <errno.h>
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

/* One acct_mgmt request; a child of it, so a client that goes away cancels
 * the lookups. */
struct acct_op {
	struct sectx_request *req;
	struct pam_args a;
	struct identity_account *acct;
	gid_t *groups;
	size_t n_groups;
	int at_once; /* access_at_once's answer */
};

/* Must a directory user's entry match [directory] access_filter? */
static bool filter_needed(const struct sectx_config *cfg)
{
	return identity_directory_configured(cfg) && cfg->directory.access_filter[0] != '\0';
}

/* [access] without a lookup: 1 allowed (both lists empty, or the user is
 * listed), 0 not (no group list), -1 its groups decide. */
static int access_at_once(const struct sectx_config *cfg, const char *user)
{
	if (cfg->access.n_allow_users == 0 && cfg->access.n_allow_groups == 0) {
		return 1;
	}
	if (in_list(cfg->access.allow_users, cfg->access.n_allow_users, user)) {
		return 1;
	}
	return cfg->access.n_allow_groups == 0 ? 0 : -1;
}

static void acct_account_found(struct tevent_req *subreq);
static void acct_groups_found(struct tevent_req *subreq);
static void acct_group_names_found(struct tevent_req *subreq);
static void acct_reply(struct acct_op *op, bool allowed);
static void acct_filter_checked(struct tevent_req *subreq);

/* [access] by the user's groups: the account, its groups, their names
 * (identity/account.c: the local databases on a thread, then the store),
 * then acct_reply.  Returns as a handler does. */
static int access_by_groups(struct acct_op *op)
{
	struct tevent_req *subreq;

	/* with a directory the user may not be known yet: ask it */
	subreq = identity_directory_configured(op->req->hctx->cfg)
		     ? identity_account_send(op, op->req->hctx, op->a.user)
		     : identity_account_by_name_send(op, op->req->hctx, op->a.user);
	if (subreq == NULL) {
		return SECTX_E_INTERNAL;
	}
	tevent_req_set_callback(subreq, acct_account_found, op);
	return 0;
}

/* A lookup under access_by_groups failed: no such user, or a local one in
 * too many groups, is not allowed (as ever); a database that did not answer
 * in time is not an answer. */
static void access_failed(struct acct_op *op, int ret)
{
	if (ret == -ETIMEDOUT || ret == -EBUSY || ret == -ECANCELED || ret == -EHOSTUNREACH ||
	    ret == -EPROTO) {
		SECTX_WARN("[access] of %s for %s cannot be checked: %s", op->a.user, op->a.service,
			   ret == -ETIMEDOUT ? "the user and group databases did not answer in time"
			   : ret == -EBUSY   ? "too many account lookups waiting"
			   : ret == -EHOSTUNREACH ? "no directory server answered"
						  : strerror(-ret));
		sectx_request_reply_status(op->req, SECTX_E_UNAVAIL, NULL);
		return;
	}
	acct_reply(op, false);
}

/* The user passed [access]: a directory user must also match
 * access_filter (a local account is not the directory's to judge). */
static void acct_check_filter(struct acct_op *op)
{
	struct tevent_req *subreq;

	if (!filter_needed(op->req->hctx->cfg) || op->acct->local) {
		acct_reply(op, true);
		return;
	}
	subreq = identity_access_filter_send(op, op->req->hctx, op->acct->name);
	if (subreq == NULL) {
		access_failed(op, -ENOMEM);
		return;
	}
	tevent_req_set_callback(subreq, acct_filter_checked, op);
}

static void acct_filter_checked(struct tevent_req *subreq)
{
	struct acct_op *op = tevent_req_callback_data(subreq, struct acct_op);
	bool ok = false;
	int ret;

	ret = identity_access_filter_recv(subreq, &ok);
	TALLOC_FREE(subreq);
	if (ret != 0) {
		access_failed(op, ret);
		return;
	}
	if (!ok) {
		SECTX_INFO("%s does not match [directory] access_filter", op->a.user);
	}
	acct_reply(op, ok);
}

static void acct_account_found(struct tevent_req *subreq)
{
	struct acct_op *op = tevent_req_callback_data(subreq, struct acct_op);
	int ret;

	ret = identity_directory_configured(op->req->hctx->cfg)
		  ? identity_account_recv(subreq, op, &op->acct)
		  : identity_account_by_name_recv(subreq, op, &op->acct);
	TALLOC_FREE(subreq);
	if (ret != 0) {
		access_failed(op, ret);
		return;
	}
	if (op->at_once == 1) {
		acct_check_filter(op);
		return;
	}
	subreq = identity_account_groups_send(op, op->req->hctx, op->acct);
	if (subreq == NULL) {
		access_failed(op, -ENOMEM);
		return;
	}
	tevent_req_set_callback(subreq, acct_groups_found, op);
}

static void acct_groups_found(struct tevent_req *subreq)
{
	struct acct_op *op = tevent_req_callback_data(subreq, struct acct_op);
	int ret;

	ret = identity_account_groups_recv(subreq, op, &op->groups, &op->n_groups);
	TALLOC_FREE(subreq);
	if (ret != 0) {
		access_failed(op, ret);
		return;
	}
	subreq = identity_group_names_send(op, op->req->hctx, op->groups, op->n_groups);
	if (subreq == NULL) {
		access_failed(op, -ENOMEM);
		return;
	}
	tevent_req_set_callback(subreq, acct_group_names_found, op);
}

/* Is one of the groups listed in [access] allow_groups?  Each gid is named
 * by the local group database, else by the identity store. */
static void acct_group_names_found(struct tevent_req *subreq)
{
	struct acct_op *op = tevent_req_callback_data(subreq, struct acct_op);
	const struct sectx_config *cfg = op->req->hctx->cfg;
	char **names = NULL;
	bool allowed = false;
	size_t i;
	int ret;

	ret = identity_group_names_recv(subreq, op, &names);
	TALLOC_FREE(subreq);
	if (ret != 0) {
		access_failed(op, ret);
		return;
	}
	for (i = 0; i < op->n_groups && !allowed; i++) {
		allowed = names[i] != NULL &&
			  in_list(cfg->access.allow_groups, cfg->access.n_allow_groups, names[i]);
	}
	if (!allowed) {
		acct_reply(op, false);
		return;
	}
	acct_check_filter(op);
}

/* The caller may act for op's user: is it a login sectx made, may the user
 * log in here ([access]: at once, or by its groups)? */
static int acct_authorised(void *private_data)
{
	struct acct_op *op = private_data;
	struct sectx_request *req = op->req;
	int at_once;

	if (sectx_pam_claimable_handle(req, &op->a) == NULL) {
		sectx_pam_reply(req, SECTX_PAM_IGNORE, 0, NULL, NULL, NULL);
		return 0;
	}
	at_once = access_at_once(req->hctx->cfg, op->a.user);
	op->at_once = at_once;
	if (at_once < 0 || (at_once == 1 && filter_needed(req->hctx->cfg))) {
		return access_by_groups(op);
	}
	acct_reply(op, at_once == 1);
	return 0;
}

/* SECTX_OP_PAM_ACCT_MGMT (pam_int.h): USER, SERVICE, [RHOST], HANDLE.
 * Always replies (or returns a positive enum sectx_status for the server
 * to): IGNORE for a login sectx did not make. */
int sectx_pam_op_acct_mgmt(struct sectx_request *req)
{
	struct acct_op *op = talloc_zero(req, struct acct_op);

	if (op == NULL) {
		return SECTX_E_INTERNAL;
	}
	op->req = req;
	if (!sectx_pam_parse_args(req, &op->a)) {
		return 0;
	}
	return sectx_pam_authorise(req, op, op->a.user, NULL, acct_authorised);
}

/* The answer, [access] decided: the login's handle (found again: it may
 * have gone while the groups were looked up) says the rest. */
static void acct_reply(struct acct_op *op, bool allowed)
{
	struct sectx_request *req = op->req;
	struct sectx_handle *h;
	char info[128];
	int64_t warn;
	time_t now;

	h = sectx_pam_claimable_handle(req, &op->a);
	if (h == NULL) {
		sectx_pam_reply(req, SECTX_PAM_IGNORE, 0, NULL, NULL, NULL);
		return;
	}
	if (!allowed) {
		SECTX_INFO("%s may not log in to %s ([access])", op->a.user, op->a.service);
		sectx_pam_reply(req, SECTX_PAM_PERM_DENIED, 0, NULL, NULL,
				"You are not allowed to log in here.");
		return;
	}
	now = time(NULL);
	if (h->acct_expiry != 0 && (time_t)h->acct_expiry <= now) {
		sectx_pam_reply(req, SECTX_PAM_ACCT_EXPIRED, 0, NULL, NULL,
				"Your account has expired.");
		return;
	}
	if (h->expired) {
		sectx_pam_reply(req, SECTX_PAM_NEW_AUTHTOK_REQD, 0, NULL, NULL,
				"Your password has expired; you must change it now.");
		return;
	}
	warn = (int64_t)req->hctx->cfg->kerberos.pwd_expire_warning * 86400;
	if (h->pw_expiry != 0 && (int64_t)h->pw_expiry - now <= warn) {
		int64_t days = ((int64_t)h->pw_expiry - now) / 86400;

		snprintf(info, sizeof(info), "Your password will expire in %lld day%s.",
			 (long long)days, days == 1 ? "" : "s");
		sectx_pam_reply(req, SECTX_PAM_SUCCESS, 0, NULL, info, NULL);
		return;
	}
	sectx_pam_reply(req, SECTX_PAM_SUCCESS, 0, NULL, NULL, NULL);
}
