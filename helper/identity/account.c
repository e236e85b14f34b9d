/*
 * identity/account.c - the account resolver: which local account a user name
 * (or a uid) is, asked in one fixed order: the local passwd database first,
 * then the identity store (realm users mapped by sectxd; the NSS module does
 * not answer inside the helper, by design, so getpwnam() here never sees
 * them).  The PAM operations use it to authorise a caller, to check
 * [access], to write a ccache as the user and to find ~/.k5login.
 *
 * Who reaches this: the PAM operation groups (ops/pam_*.c), on behalf of any
 * local process that may act for the user named (root, or that user).  What
 * they can make it do: local passwd and group lookups, reads of the store,
 * and (identity_account_send only) one existence check of the name with the
 * realm, charged to the helper itself.
 *
 * It must never: block the event loop on a KDC (a realm check is the
 * identity service's asynchronous lookup), answer a name with an account of
 * another name, or hand out pointers into the store (everything it returns
 * is copied: store entries may go at the next reload).
 */
#include "identity/identity.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <time.h>

#define ACCOUNT_PWBUF 16384u /* getpwnam_r / getpwuid_r buffer */

/* A new account on mem_ctx; 0 or -ENOMEM. */
static int account_new(TALLOC_CTX *mem_ctx, const char *name, const char *alias, uid_t uid,
		       gid_t gid, const char *home, bool local, struct identity_account **out)
{
	struct identity_account *a = talloc_zero(mem_ctx, struct identity_account);

	*out = NULL;
	if (a == NULL) {
		return -ENOMEM;
	}
	a->name = talloc_strdup(a, name);
	a->alias = alias != NULL ? talloc_strdup(a, alias) : NULL;
	a->home = talloc_strdup(a, home != NULL ? home : "");
	if (a->name == NULL || a->home == NULL || (alias != NULL && a->alias == NULL)) {
		talloc_free(a);
		return -ENOMEM;
	}
	a->uid = uid;
	a->gid = gid;
	a->local = local;
	*out = a;
	return 0;
}

/* An account from a user of the store, under the name it was asked by. */
static int account_from_store(TALLOC_CTX *mem_ctx, const char *name, const struct id_user *u,
			      struct identity_account **out)
{
	return account_new(mem_ctx, name, u->alias, (uid_t)u->uid, (gid_t)u->gid, u->home, false,
			   out);
}

int identity_account_by_name(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, const char *name,
			     struct identity_account **out)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	struct identity_account *a = NULL;
	struct passwd pw, *res = NULL;
	struct id_lookup lk;
	char *buf;
	int ret;

	*out = NULL;
	buf = tmp_ctx != NULL ? talloc_size(tmp_ctx, ACCOUNT_PWBUF) : NULL;
	if (buf == NULL) {
		ret = -ENOMEM;
		goto done;
	}
	if (getpwnam_r(name, &pw, buf, ACCOUNT_PWBUF, &res) == 0 && res != NULL) {
		ret = account_new(tmp_ctx, name, NULL, pw.pw_uid, pw.pw_gid, pw.pw_dir, true, &a);
		goto done;
	}
	/* a realm user the store knows (allow_stale: the realm may be down) */
	memset(&lk, 0, sizeof(lk));
	if (id_store_user_by_name(identity_store(hctx), name, time(NULL), true, &lk) == ID_FOUND &&
	    lk.user != NULL) {
		ret = account_from_store(tmp_ctx, name, lk.user, &a);
		goto done;
	}
	ret = -ENOENT;
done:
	if (ret == 0) {
		*out = talloc_steal(mem_ctx, a);
	}
	talloc_free(tmp_ctx);
	return ret;
}

int identity_account_by_uid(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, uid_t uid,
			    struct identity_account **out)
{
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	struct identity_account *a = NULL;
	struct passwd pw, *res = NULL;
	struct id_lookup lk;
	char *buf;
	int ret;

	*out = NULL;
	buf = tmp_ctx != NULL ? talloc_size(tmp_ctx, ACCOUNT_PWBUF) : NULL;
	if (buf == NULL) {
		ret = -ENOMEM;
		goto done;
	}
	if (getpwuid_r(uid, &pw, buf, ACCOUNT_PWBUF, &res) == 0 && res != NULL) {
		ret = account_new(tmp_ctx, pw.pw_name, NULL, pw.pw_uid, pw.pw_gid, pw.pw_dir, true,
				  &a);
		goto done;
	}
	/* a realm user: its uid is mapped, or it could not be running anything */
	memset(&lk, 0, sizeof(lk));
	if (id_store_user_by_uid(identity_store(hctx), (uint32_t)uid, time(NULL), true, &lk) ==
		ID_FOUND &&
	    lk.user != NULL) {
		ret = account_from_store(tmp_ctx, lk.user->display, lk.user, &a);
		goto done;
	}
	ret = -ENOENT;
done:
	if (ret == 0) {
		*out = talloc_steal(mem_ctx, a);
	}
	talloc_free(tmp_ctx);
	return ret;
}

int identity_account_groups(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
			    const struct identity_account *a, gid_t **groups, size_t *n_groups)
{
	gid_t *g = talloc_array(mem_ctx, gid_t, IDENTITY_ACCOUNT_GROUPS_MAX);
	const uint32_t *gids = NULL;
	size_t n = 0, k;
	int ret;

	*groups = NULL;
	*n_groups = 0;
	if (g == NULL) {
		return -ENOMEM;
	}
	if (a->local) {
		int ng = (int)IDENTITY_ACCOUNT_GROUPS_MAX;

		if (getgrouplist(a->name, a->gid, g, &ng) < 0) {
			ret = -E2BIG;
			goto done;
		}
		n = (size_t)ng;
	} else {
		/* a realm user: its groups are the identity store's */
		size_t m = 0;

		g[n++] = a->gid;
		if (id_store_groups_of(identity_store(hctx), a->name, &gids, &m) == ID_FOUND) {
			for (k = 0; k < m && n < IDENTITY_ACCOUNT_GROUPS_MAX; k++) {
				g[n++] = (gid_t)gids[k];
			}
		}
	}
	ret = 0;
done:
	if (ret != 0) {
		talloc_free(g);
		return ret;
	}
	*groups = g;
	*n_groups = n;
	return 0;
}

/* --- asking the realm ------------------------------------------------------------ */

struct account_state {
	char *name;
	struct identity_account *acct;
};

static void account_looked_up(struct tevent_req *subreq);

struct tevent_req *identity_account_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					 const char *name)
{
	struct account_state *s;
	struct tevent_req *req, *subreq;
	int ret;

	req = tevent_req_create(mem_ctx, &s, struct account_state);
	if (req == NULL) {
		return NULL;
	}
	s->name = talloc_strdup(s, name);
	if (s->name == NULL) {
		talloc_free(req);
		return NULL;
	}
	ret = identity_account_by_name(s, hctx, name, &s->acct);
	if (ret == 0) {
		tevent_req_done(req);
		return tevent_req_post(req, hctx->ev);
	}
	if (ret != -ENOENT) {
		tevent_req_error(req, -ret);
		return tevent_req_post(req, hctx->ev);
	}
	/* neither knows it yet: the store asks the realm (on behalf of the
	 * helper itself, uid 0) */
	subreq = identity_lookup_send(s, hctx, IDENTITY_USER_BY_NAME, name, 0, 0);
	if (subreq == NULL) {
		talloc_free(req);
		return NULL;
	}
	tevent_req_set_callback(subreq, account_looked_up, req);
	return req;
}

static void account_looked_up(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct account_state *s = tevent_req_data(req, struct account_state);
	struct id_lookup lk;
	uint32_t ttl = 0;
	int ret;

	memset(&lk, 0, sizeof(lk));
	ret = identity_lookup_recv(subreq, &lk, &ttl);
	if (ret == 0 && lk.user == NULL) {
		ret = -ENOENT;
	}
	if (ret == 0) {
		/* lk is valid until control returns to the loop: copied now */
		ret = account_from_store(s, s->name, lk.user, &s->acct);
	}
	TALLOC_FREE(subreq);
	if (ret != 0) {
		tevent_req_error(req, -ret);
		return;
	}
	tevent_req_done(req);
}

int identity_account_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
			  struct identity_account **out)
{
	struct account_state *s = tevent_req_data(req, struct account_state);
	int err;

	*out = NULL;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*out = talloc_steal(mem_ctx, s->acct);
	return 0;
}
