/*
 * identity/account.c - the account resolver: which local account a user name
 * (or a uid) is, asked in one fixed order: the local passwd database first,
 * then the identity store (realm users mapped by sectxd; the NSS module does
 * not answer inside the helper, by design, so getpwnam() here never sees
 * them).  The PAM operations use it to authorise a caller, to check
 * [access], to write a ccache as the user and to find ~/.k5login; the
 * context operations to name the uids a service lists.
 *
 * Who reaches this: the PAM and context operation groups (ops/pam_*.c,
 * ops/ctx_policy.c), on behalf of any local process that may act for the
 * user named (root, or that user).  What they can make it do: local passwd
 * and group lookups (on the lookup threads of account_threads.c, bounded in
 * number and time), reads of the store (on the loop), and
 * (identity_account_send only) one existence check of the name with the
 * realm, charged to the helper itself.
 *
 * It must never: block the event loop on a KDC (a realm check is the
 * identity service's asynchronous lookup) or on the passwd and group
 * databases (a remote source can take seconds: account_threads.c), ask the
 * store about a name or uid the local database did not answer for (a
 * lookup that failed or timed out is an error, never "not local"), answer a
 * name with an account of another name, or hand out pointers into the store
 * or into glibc's buffers (everything it returns is copied: store entries may
 * go at the next reload).
 */
#include "identity/identity.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "identity/account_int.h"

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

/* --- by name, by uid, local only -------------------------------------------------------------- */

enum by_kind {
	BY_NAME,    /* passwd, then the store */
	BY_UID,	    /* passwd, then the store */
	LOCAL_ONLY, /* passwd only, by name */
};

struct by_state {
	struct sectxd_ctx *hctx;
	enum by_kind kind;
	char *name; /* BY_NAME, LOCAL_ONLY */
	uid_t uid;  /* BY_UID */
	struct identity_account *acct;
};

static void by_passwd_answered(struct tevent_req *subreq);

/* The passwd lookup on a thread; the store, if need be, when it answers. */
static struct tevent_req *by_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, enum by_kind kind,
				  const char *name, uid_t uid)
{
	struct tevent_req *req, *subreq;
	struct acct_query q;
	struct by_state *s;

	req = tevent_req_create(mem_ctx, &s, struct by_state);
	if (req == NULL) {
		return NULL;
	}
	s->hctx = hctx;
	s->kind = kind;
	s->uid = uid;
	memset(&q, 0, sizeof(q));
	if (kind == BY_UID) {
		q.kind = ACCT_Q_PW_BY_UID;
		q.id = (uint32_t)uid;
	} else {
		s->name = talloc_strdup(s, name);
		if (tevent_req_nomem(s->name, req)) {
			return tevent_req_post(req, hctx->ev);
		}
		q.kind = ACCT_Q_PW_BY_NAME;
		q.name = s->name;
	}
	subreq = acct_nss_send(s, hctx, &q);
	if (tevent_req_nomem(subreq, req)) {
		return tevent_req_post(req, hctx->ev);
	}
	tevent_req_set_callback(subreq, by_passwd_answered, req);
	return req;
}

static void by_passwd_answered(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct by_state *s = tevent_req_data(req, struct by_state);
	TALLOC_CTX *tmp_ctx = talloc_new(s);
	struct acct_answer a;
	struct id_lookup lk;
	int ret;

	ret = tmp_ctx != NULL ? acct_nss_recv(subreq, tmp_ctx, &a) : -ENOMEM;
	TALLOC_FREE(subreq);
	if (ret != 0) {
		goto done; /* unknown, not "not local": the store is not asked */
	}
	if (a.found) {
		ret = account_new(s, s->kind == BY_UID ? a.pw_name : s->name, NULL, a.pw_uid,
				  a.pw_gid, a.pw_dir, true, &s->acct);
		goto done;
	}
	ret = -ENOENT;
	memset(&lk, 0, sizeof(lk));
	if (s->kind == BY_NAME) {
		/* a realm user the store knows (allow_stale: the realm may be down) */
		if (id_store_user_by_name(identity_store(s->hctx), s->name, time(NULL), true,
					  &lk) == ID_FOUND &&
		    lk.user != NULL) {
			ret = account_from_store(s, s->name, lk.user, &s->acct);
		}
	} else if (s->kind == BY_UID) {
		/* a realm user: its uid is mapped, or it could not be running anything */
		if (id_store_user_by_uid(identity_store(s->hctx), (uint32_t)s->uid, time(NULL),
					 true, &lk) == ID_FOUND &&
		    lk.user != NULL) {
			ret = account_from_store(s, lk.user->display, lk.user, &s->acct);
		}
	}
done:
	talloc_free(tmp_ctx);
	if (ret != 0) {
		tevent_req_error(req, -ret);
		return;
	}
	tevent_req_done(req);
}

/* 0 with *out (child of mem_ctx), or -errno. */
static int by_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct identity_account **out)
{
	struct by_state *s = tevent_req_data(req, struct by_state);
	int err;

	*out = NULL;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*out = talloc_steal(mem_ctx, s->acct);
	s->acct = NULL;
	return 0;
}

struct tevent_req *identity_account_by_name_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
						 const char *name)
{
	return by_send(mem_ctx, hctx, BY_NAME, name, 0);
}

int identity_account_by_name_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
				  struct identity_account **out)
{
	return by_recv(req, mem_ctx, out);
}

struct tevent_req *identity_account_by_uid_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
						uid_t uid)
{
	return by_send(mem_ctx, hctx, BY_UID, NULL, uid);
}

int identity_account_by_uid_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
				 struct identity_account **out)
{
	return by_recv(req, mem_ctx, out);
}

struct tevent_req *identity_local_account_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					       const char *name)
{
	return by_send(mem_ctx, hctx, LOCAL_ONLY, name, 0);
}

int identity_local_account_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
				struct identity_account **out)
{
	return by_recv(req, mem_ctx, out);
}

/* --- groups ----------------------------------------------------------------------------------- */

struct groups_state {
	gid_t *groups;
	size_t n;
};

static void groups_answered(struct tevent_req *subreq);

struct tevent_req *identity_account_groups_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
						const struct identity_account *a)
{
	struct tevent_req *req, *subreq;
	struct groups_state *s;
	const uint32_t *gids = NULL;
	struct acct_query q;
	size_t m = 0, k;

	req = tevent_req_create(mem_ctx, &s, struct groups_state);
	if (req == NULL) {
		return NULL;
	}
	if (a->local) {
		memset(&q, 0, sizeof(q));
		q.kind = ACCT_Q_GROUPLIST;
		q.name = a->name;
		q.id = (uint32_t)a->gid;
		subreq = acct_nss_send(s, hctx, &q);
		if (tevent_req_nomem(subreq, req)) {
			return tevent_req_post(req, hctx->ev);
		}
		tevent_req_set_callback(subreq, groups_answered, req);
		return req;
	}
	/* a realm user: its groups are the identity store's, read on the loop */
	s->groups = talloc_array(s, gid_t, IDENTITY_ACCOUNT_GROUPS_MAX);
	if (tevent_req_nomem(s->groups, req)) {
		return tevent_req_post(req, hctx->ev);
	}
	s->groups[s->n++] = a->gid;
	if (id_store_groups_of(identity_store(hctx), a->name, &gids, &m) == ID_FOUND) {
		for (k = 0; k < m && s->n < IDENTITY_ACCOUNT_GROUPS_MAX; k++) {
			s->groups[s->n++] = (gid_t)gids[k];
		}
	}
	tevent_req_done(req);
	return tevent_req_post(req, hctx->ev);
}

static void groups_answered(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct groups_state *s = tevent_req_data(req, struct groups_state);
	struct acct_answer a;
	int ret;

	ret = acct_nss_recv(subreq, s, &a);
	TALLOC_FREE(subreq);
	if (ret != 0) {
		tevent_req_error(req, -ret); /* -E2BIG: in too many groups */
		return;
	}
	s->groups = a.groups;
	s->n = a.n_groups;
	tevent_req_done(req);
}

int identity_account_groups_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, gid_t **groups,
				 size_t *n_groups)
{
	struct groups_state *s = tevent_req_data(req, struct groups_state);
	int err;

	*groups = NULL;
	*n_groups = 0;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*groups = talloc_steal(mem_ctx, s->groups);
	*n_groups = s->n;
	s->groups = NULL;
	return 0;
}

/* --- group names ------------------------------------------------------------------------------ */

struct names_state {
	struct sectxd_ctx *hctx;
	gid_t *gids;
	size_t n;
	char **names;
};

static void names_answered(struct tevent_req *subreq);

struct tevent_req *identity_group_names_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					     const gid_t *gids, size_t n)
{
	struct tevent_req *req, *subreq;
	struct names_state *s;
	struct acct_query q;

	req = tevent_req_create(mem_ctx, &s, struct names_state);
	if (req == NULL) {
		return NULL;
	}
	s->hctx = hctx;
	if (n > IDENTITY_ACCOUNT_GROUPS_MAX) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, hctx->ev);
	}
	s->gids = talloc_array(s, gid_t, n > 0 ? n : 1);
	if (tevent_req_nomem(s->gids, req)) {
		return tevent_req_post(req, hctx->ev);
	}
	if (n > 0) {
		memcpy(s->gids, gids, n * sizeof(gid_t));
	}
	s->n = n;
	memset(&q, 0, sizeof(q));
	q.kind = ACCT_Q_GR_NAMES;
	q.gids = s->gids;
	q.n_gids = n;
	subreq = acct_nss_send(s, hctx, &q);
	if (tevent_req_nomem(subreq, req)) {
		return tevent_req_post(req, hctx->ev);
	}
	tevent_req_set_callback(subreq, names_answered, req);
	return req;
}

static void names_answered(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct names_state *s = tevent_req_data(req, struct names_state);
	struct acct_answer a;
	size_t i;
	int ret;

	ret = acct_nss_recv(subreq, s, &a);
	TALLOC_FREE(subreq);
	if (ret != 0) {
		tevent_req_error(req, -ret);
		return;
	}
	s->names = a.gr_names;
	/* a gid the local group database does not name: the store's, if any */
	for (i = 0; i < s->n; i++) {
		struct id_lookup lk;

		if (s->names[i] != NULL) {
			continue;
		}
		memset(&lk, 0, sizeof(lk));
		if (id_store_group_by_gid(identity_store(s->hctx), (uint32_t)s->gids[i], time(NULL),
					  true, &lk) == ID_FOUND &&
		    lk.group != NULL) {
			s->names[i] = talloc_strdup(s->names, lk.group->name);
			if (tevent_req_nomem(s->names[i], req)) {
				return;
			}
		}
	}
	tevent_req_done(req);
}

int identity_group_names_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, char ***names)
{
	struct names_state *s = tevent_req_data(req, struct names_state);
	int err;

	*names = NULL;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*names = talloc_steal(mem_ctx, s->names);
	s->names = NULL;
	return 0;
}

/* --- asking the realm ------------------------------------------------------------------------- */

struct account_state {
	struct sectxd_ctx *hctx;
	char *name;
	struct identity_account *acct;
};

static void account_known(struct tevent_req *subreq);
static void account_looked_up(struct tevent_req *subreq);

struct tevent_req *identity_account_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					 const char *name)
{
	struct account_state *s;
	struct tevent_req *req, *subreq;

	req = tevent_req_create(mem_ctx, &s, struct account_state);
	if (req == NULL) {
		return NULL;
	}
	s->hctx = hctx;
	s->name = talloc_strdup(s, name);
	if (s->name == NULL) {
		talloc_free(req);
		return NULL;
	}
	subreq = identity_account_by_name_send(s, hctx, name);
	if (subreq == NULL) {
		talloc_free(req);
		return NULL;
	}
	tevent_req_set_callback(subreq, account_known, req);
	return req;
}

static void account_known(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct account_state *s = tevent_req_data(req, struct account_state);
	int ret;

	ret = identity_account_by_name_recv(subreq, s, &s->acct);
	TALLOC_FREE(subreq);
	if (ret == 0) {
		tevent_req_done(req);
		return;
	}
	if (ret != -ENOENT) {
		tevent_req_error(req, -ret);
		return;
	}
	/* neither knows it yet: the store asks the realm (on behalf of the
	 * helper itself, uid 0) */
	subreq = identity_lookup_send(s, s->hctx, IDENTITY_USER_BY_NAME, s->name, 0, 0);
	if (tevent_req_nomem(subreq, req)) {
		return;
	}
	tevent_req_set_callback(subreq, account_looked_up, req);
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
