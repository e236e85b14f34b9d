/*
 * tests/unit/test_account.c - the account resolver of sectxd
 * (helper/identity/account.c) with its glibc lookups on threads
 * (account_lookup.c, account_threads.c), on a real tevent loop and real
 * threads.
 *
 * The host's databases are doubled through -Wl,--wrap: getpwnam_r,
 * getpwuid_r, getgrouplist and getgrgid_r answer from fixed tables, and for
 * the names and ids that start with "slow" (or uid/gid 4444) they block
 * until the test opens a gate: a remote NSS source that does not answer.
 * The identity store and the realm check are doubled too (fixed tables).
 *
 * What is shown: (a) the loop keeps running its timers and other lookups
 * while a lookup blocks; (b) the answers are those of the synchronous
 * resolver this replaced (kept below as the oracle, verbatim but for its
 * name) for local users, realm users and unknown ones, by name, by uid, for
 * groups and group names; (c) a request freed while its thread is blocked
 * (its client gone) or still queued never sees the late answer, which is
 * dropped; (d) the bounds: at most IDENTITY_ACCOUNT_THREADS_MAX threads,
 * IDENTITY_ACCOUNT_QUEUE_MAX lookups waiting (the next is refused, EBUSY),
 * identical lookups shared, a deadline of half client_timeout (ETIMEDOUT,
 * never taken for "not local"), and a stop while a thread is blocked.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "identity/identity.h"
#include "identity/identity_int.h"

#define CLIENT_TIMEOUT_MS 400 /* lookups give up after half of it */

/* --- the gate: what a slow NSS source waits for ----------------------------------------------- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static unsigned blocked;   /* threads waiting at the gate now */
static unsigned nss_calls; /* wrapped glibc calls, all threads */

static bool is_slow_name(const char *name)
{
	return strncmp(name, "slow", 4) == 0;
}

/* Called by every wrapped lookup (on a thread): count it, and wait at the
 * gate when slow (at most 10 s: a broken test must not hang). */
static void nss_enter(bool slow)
{
	struct timespec ts;

	pthread_mutex_lock(&gate_mu);
	nss_calls++;
	if (slow) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		blocked++;
		pthread_cond_broadcast(&gate_cv);
		while (!gate_open) {
			if (pthread_cond_timedwait(&gate_cv, &gate_mu, &ts) != 0) {
				break;
			}
		}
		blocked--;
		pthread_cond_broadcast(&gate_cv);
	}
	pthread_mutex_unlock(&gate_mu);
}

static void gate_set(bool open)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = open;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Wait (at most 5 s) until exactly n threads wait at the gate. */
static void wait_blocked(unsigned n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&gate_mu);
	while (blocked != n) {
		if (pthread_cond_timedwait(&gate_cv, &gate_mu, &ts) != 0) {
			break;
		}
	}
	pthread_mutex_unlock(&gate_mu);
	assert_int_equal(blocked, n);
}

static unsigned calls(void)
{
	unsigned n;

	pthread_mutex_lock(&gate_mu);
	n = nss_calls;
	pthread_mutex_unlock(&gate_mu);
	return n;
}

/* --- the host's databases (-Wl,--wrap) -------------------------------------------------------- */

struct fake_pw {
	const char *name;
	uid_t uid;
	gid_t gid;
	const char *home;
};
static const struct fake_pw local_users[] = {
    {"root", 0, 0, "/root"},
    {"alice", 1000, 1000, "/home/alice"},
    {"bob", 1001, 1001, NULL},
    {"big", 1002, 1002, "/home/big"}, /* in more groups than the resolver takes */
    {"slowpoke", 4444, 4444, "/home/slowpoke"},
};
#define N_LOCAL (sizeof(local_users) / sizeof(local_users[0]))

static int fill_pw(const struct fake_pw *f, struct passwd *pw, char *buf, size_t buflen,
		   struct passwd **res)
{
	const char *home = f->home != NULL ? f->home : "";
	size_t n = strlen(f->name) + 1, h = strlen(home) + 1;

	if (buflen < n + h + 1) {
		return ERANGE;
	}
	memset(pw, 0, sizeof(*pw));
	memcpy(buf, f->name, n);
	memcpy(buf + n, home, h);
	buf[n + h] = '\0';
	pw->pw_name = buf;
	pw->pw_dir = f->home != NULL ? buf + n : NULL;
	pw->pw_passwd = buf + n + h;
	pw->pw_gecos = buf + n + h;
	pw->pw_shell = buf + n + h;
	pw->pw_uid = f->uid;
	pw->pw_gid = f->gid;
	*res = pw;
	return 0;
}

int __wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
		      struct passwd **res);
int __wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
		      struct passwd **res)
{
	nss_enter(is_slow_name(name));
	*res = NULL;
	for (size_t i = 0; i < N_LOCAL; i++) {
		if (strcmp(local_users[i].name, name) == 0) {
			return fill_pw(&local_users[i], pw, buf, buflen, res);
		}
	}
	return 0;
}

int __wrap_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, struct passwd **res);
int __wrap_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, struct passwd **res)
{
	nss_enter(uid == 4444);
	*res = NULL;
	for (size_t i = 0; i < N_LOCAL; i++) {
		if (local_users[i].uid == uid) {
			return fill_pw(&local_users[i], pw, buf, buflen, res);
		}
	}
	return 0;
}

int __wrap_getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups);
int __wrap_getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups)
{
	static const gid_t alice_extra[] = {27, 100, 80001};
	int n = 1, i;

	nss_enter(is_slow_name(user));
	if (strcmp(user, "big") == 0) {
		*ngroups = 2000;
		return -1;
	}
	if (*ngroups < 1) {
		*ngroups = 1;
		return -1;
	}
	groups[0] = group;
	if (strcmp(user, "alice") == 0) {
		for (i = 0; i < 3 && n < *ngroups; i++) {
			groups[n++] = alice_extra[i];
		}
	}
	*ngroups = n;
	return n;
}

int __wrap_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen, struct group **res);
int __wrap_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen, struct group **res)
{
	static const struct {
		gid_t gid;
		const char *name;
	} local_groups[] = {{0, "root"}, {27, "sudo"}, {100, "users"}, {1000, "alice"}};

	nss_enter(gid == 4444);
	*res = NULL;
	for (size_t i = 0; i < sizeof(local_groups) / sizeof(local_groups[0]); i++) {
		size_t n = strlen(local_groups[i].name) + 1;

		if (local_groups[i].gid != gid) {
			continue;
		}
		if (buflen < n + sizeof(char *)) {
			return ERANGE;
		}
		memset(gr, 0, sizeof(*gr));
		memcpy(buf, local_groups[i].name, n);
		gr->gr_name = buf;
		gr->gr_passwd = buf + n - 1;
		gr->gr_gid = gid;
		gr->gr_mem = NULL;
		*res = gr;
		return 0;
	}
	return 0;
}

/* --- the identity store and the realm (doubles) ----------------------------------------------- */

/* Realm users mapped by sectxd.  "mallory" holds uid 1000 too, which only
 * the local passwd database may answer (it is asked first); "eve" holds
 * the slow uid 4444: a passwd lookup that times out must not become eve. */
static const struct id_user realm_users[] = {
    {.principal = "carol@EXAMPLE.ORG",
     .display = "carol",
     .alias = "carol@EXAMPLE.ORG",
     .home = "/home/carol",
     .uid = 70001,
     .gid = 70001},
    {.principal = "dave@EXAMPLE.ORG",
     .display = "dave@EXAMPLE.ORG",
     .alias = NULL,
     .home = NULL,
     .uid = 70002,
     .gid = 70002},
    {.principal = "mallory@EXAMPLE.ORG",
     .display = "mallory",
     .alias = "alice",
     .home = "/home/mallory",
     .uid = 1000,
     .gid = 1000},
    {.principal = "eve@EXAMPLE.ORG",
     .display = "eve",
     .alias = "slowpoke",
     .home = "/home/eve",
     .uid = 4444,
     .gid = 4444},
};
#define N_REALM (sizeof(realm_users) / sizeof(realm_users[0]))

/* Known only once the realm is asked (identity_lookup_send). */
static const struct id_user erin = {.principal = "erin@EXAMPLE.ORG",
				    .display = "erin",
				    .alias = "erin@EXAMPLE.ORG",
				    .home = "/home/erin",
				    .uid = 70005,
				    .gid = 70005};
static const struct id_group realm_group = {.name = "realmgrp", .gid = 80001};

static int store_asked;
static int realm_asked;

struct id_store *identity_store(struct sectxd_ctx *hctx)
{
	(void)hctx;
	return (struct id_store *)(uintptr_t)1; /* never dereferenced here */
}

enum id_result id_store_user_by_uid(struct id_store *st, uint32_t uid, int64_t now,
				    bool allow_stale, struct id_lookup *lk)
{
	(void)st;
	(void)now;
	(void)allow_stale;
	memset(lk, 0, sizeof(*lk));
	store_asked++;
	for (size_t i = 0; i < N_REALM; i++) {
		if (realm_users[i].uid == uid) {
			lk->user = &realm_users[i];
			return ID_FOUND;
		}
	}
	return ID_NOTFOUND;
}

enum id_result id_store_user_by_name(struct id_store *st, const char *name, int64_t now,
				     bool allow_stale, struct id_lookup *lk)
{
	(void)st;
	(void)now;
	(void)allow_stale;
	memset(lk, 0, sizeof(*lk));
	store_asked++;
	for (size_t i = 0; i < N_REALM; i++) {
		if (strcmp(realm_users[i].display, name) == 0 ||
		    (realm_users[i].alias != NULL && strcmp(realm_users[i].alias, name) == 0)) {
			lk->user = &realm_users[i];
			return ID_FOUND;
		}
	}
	return ID_NOTFOUND;
}

enum id_result id_store_groups_of(struct id_store *st, const char *name, const uint32_t **gids,
				  size_t *n)
{
	static const uint32_t carol_groups[] = {80001, 80002};

	(void)st;
	store_asked++;
	if (strcmp(name, "carol") == 0) {
		*gids = carol_groups;
		*n = 2;
		return ID_FOUND;
	}
	*gids = NULL;
	*n = 0;
	return ID_NOTFOUND;
}

enum id_result id_store_group_by_gid(struct id_store *st, uint32_t gid, int64_t now,
				     bool allow_stale, struct id_lookup *lk)
{
	(void)st;
	(void)now;
	(void)allow_stale;
	memset(lk, 0, sizeof(*lk));
	store_asked++;
	if (gid == realm_group.gid) {
		lk->group = &realm_group;
		return ID_FOUND;
	}
	return ID_NOTFOUND;
}

struct realm_state {
	bool found;
};

struct tevent_req *identity_lookup_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					enum identity_kind kind, const char *name, uint32_t id,
					uid_t caller)
{
	struct tevent_req *req;
	struct realm_state *s;

	(void)id;
	assert_int_equal(kind, IDENTITY_USER_BY_NAME);
	assert_int_equal(caller, 0);
	realm_asked++;
	req = tevent_req_create(mem_ctx, &s, struct realm_state);
	if (req == NULL) {
		return NULL;
	}
	s->found = strcmp(name, "erin") == 0;
	tevent_req_done(req);
	return tevent_req_post(req, hctx->ev);
}

int identity_lookup_recv(struct tevent_req *req, struct id_lookup *lk, uint32_t *ttl)
{
	struct realm_state *s = tevent_req_data(req, struct realm_state);

	memset(lk, 0, sizeof(*lk));
	*ttl = 0;
	if (!s->found) {
		return -ENOENT;
	}
	lk->user = &erin;
	return 0;
}

/* --- the synchronous resolver this replaced: the oracle of (b) -------------------------------- */

#define ACCOUNT_PWBUF 16384u

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

static int account_from_store(TALLOC_CTX *mem_ctx, const char *name, const struct id_user *u,
			      struct identity_account **out)
{
	return account_new(mem_ctx, name, u->alias, (uid_t)u->uid, (gid_t)u->gid, u->home, false,
			   out);
}

static int old_account_by_name(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, const char *name,
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

static int old_account_by_uid(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, uid_t uid,
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

static int old_account_groups(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
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

/* The name pam_account.c's group_allowed gave a gid: the local group
 * database's, else the store's, else none. */
static const char *old_group_name(TALLOC_CTX *mem_ctx, gid_t gid)
{
	struct group gr, *gres = NULL;
	char gbuf[16384];
	struct id_lookup lk;

	if (getgrgid_r(gid, &gr, gbuf, sizeof(gbuf), &gres) == 0 && gres != NULL) {
		return talloc_strdup(mem_ctx, gr.gr_name);
	}
	memset(&lk, 0, sizeof(lk));
	if (id_store_group_by_gid(identity_store(NULL), gid, time(NULL), true, &lk) == ID_FOUND &&
	    lk.group != NULL) {
		return talloc_strdup(mem_ctx, lk.group->name);
	}
	return NULL;
}

/* --- fixture ---------------------------------------------------------------------------------- */

struct fixture {
	TALLOC_CTX *mem;
	struct sectxd_ctx *hctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sectx_config *cfg = NULL;

	if (f == NULL) {
		return -1;
	}
	f->mem = talloc_new(NULL);
	if (f->mem == NULL || sectx_config_defaults(f->mem, &cfg) != 0) {
		return -1;
	}
	cfg->sectxd.client_timeout_ms = CLIENT_TIMEOUT_MS;
	f->hctx = talloc_zero(f->mem, struct sectxd_ctx);
	if (f->hctx == NULL) {
		return -1;
	}
	f->hctx->cfg = cfg;
	f->hctx->ev = tevent_context_init(f->hctx);
	f->hctx->identity = talloc_zero(f->hctx, struct sectxd_identity);
	if (f->hctx->ev == NULL || f->hctx->identity == NULL) {
		return -1;
	}
	f->hctx->identity->hctx = f->hctx;
	gate_set(false);
	store_asked = 0;
	realm_asked = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gate_set(true); /* let every blocked thread go before the pool does */
	wait_blocked(0);
	talloc_free(f->mem);
	free(f);
	return 0;
}

/* Run the loop until req is finished (at most 5 s). */
static void wait_for(struct fixture *f, struct tevent_req *req)
{
	int64_t end = sectx_now_ms() + 5000;

	while (tevent_req_is_in_progress(req) && sectx_now_ms() < end) {
		assert_int_equal(tevent_loop_once(f->hctx->ev), 0);
	}
	assert_false(tevent_req_is_in_progress(req));
}

/* Run the loop for ms milliseconds. */
static void run_for(struct fixture *f, int ms)
{
	struct tevent_req *sleep =
	    tevent_wakeup_send(f->mem, f->hctx->ev, tevent_timeval_current_ofs(0, ms * 1000));

	assert_non_null(sleep);
	wait_for(f, sleep);
	talloc_free(sleep);
}

static int by_name(struct fixture *f, const char *name, struct identity_account **out)
{
	struct tevent_req *req = identity_account_by_name_send(f->mem, f->hctx, name);
	int ret;

	assert_non_null(req);
	assert_true(tevent_req_is_in_progress(req)); /* never on the caller's stack */
	wait_for(f, req);
	ret = identity_account_by_name_recv(req, f->mem, out);
	talloc_free(req);
	return ret;
}

static int by_uid(struct fixture *f, uid_t uid, struct identity_account **out)
{
	struct tevent_req *req = identity_account_by_uid_send(f->mem, f->hctx, uid);
	int ret;

	assert_non_null(req);
	wait_for(f, req);
	ret = identity_account_by_uid_recv(req, f->mem, out);
	talloc_free(req);
	return ret;
}

static int groups_of(struct fixture *f, const struct identity_account *a, gid_t **g, size_t *n)
{
	struct tevent_req *req = identity_account_groups_send(f->mem, f->hctx, a);
	int ret;

	assert_non_null(req);
	wait_for(f, req);
	ret = identity_account_groups_recv(req, f->mem, g, n);
	talloc_free(req);
	return ret;
}

static void assert_same_account(const struct identity_account *a, const struct identity_account *b)
{
	assert_string_equal(a->name, b->name);
	if (a->alias == NULL || b->alias == NULL) {
		assert_null(a->alias);
		assert_null(b->alias);
	} else {
		assert_string_equal(a->alias, b->alias);
	}
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_string_equal(a->home, b->home);
	assert_int_equal(a->local, b->local);
}

/* --- (b) the same answers as the synchronous resolver ----------------------------------------- */

static void test_same_answers_by_name(void **state)
{
	static const char *names[] = {
	    "root",    "alice",	 "bob",	 "big", "carol", "carol@EXAMPLE.ORG", "dave@EXAMPLE.ORG",
	    "mallory", "nobody", "erin", ""};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct identity_account *a = NULL, *o = NULL;
		gid_t *ga = NULL, *go = NULL;
		size_t na = 0, no = 0;
		int ra = by_name(f, names[i], &a);
		int ro = old_account_by_name(f->mem, f->hctx, names[i], &o);

		assert_int_equal(ra, ro);
		if (ra != 0) {
			assert_null(a);
			continue;
		}
		assert_same_account(a, o);
		ra = groups_of(f, a, &ga, &na);
		ro = old_account_groups(f->mem, f->hctx, o, &go, &no);
		assert_int_equal(ra, ro);
		if (ra == 0) {
			assert_int_equal(na, no);
			assert_memory_equal(ga, go, na * sizeof(gid_t));
		}
	}
	/* the realm is never asked by these */
	assert_int_equal(realm_asked, 0);
}

static void test_same_answers_by_uid(void **state)
{
	static const uid_t uids[] = {0, 1000, 1001, 70001, 70002, 5555, 70005};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(uids) / sizeof(uids[0]); i++) {
		struct identity_account *a = NULL, *o = NULL;
		int ra = by_uid(f, uids[i], &a);
		int ro = old_account_by_uid(f->mem, f->hctx, uids[i], &o);

		assert_int_equal(ra, ro);
		if (ra == 0) {
			assert_same_account(a, o);
		}
	}
}

static void test_local_passwd_comes_first(void **state)
{
	struct fixture *f = *state;
	struct identity_account *a = NULL;

	/* uid 1000 is alice locally and mallory in the store: alice */
	assert_int_equal(by_uid(f, 1000, &a), 0);
	assert_string_equal(a->name, "alice");
	assert_true(a->local);
	/* "alice" is also mallory's alias in the store: the local one answers */
	store_asked = 0;
	assert_int_equal(by_name(f, "alice", &a), 0);
	assert_true(a->local);
	assert_int_equal(a->uid, 1000);
	assert_string_equal(a->home, "/home/alice");
	assert_int_equal(store_asked, 0);
	/* a local account without a home */
	assert_int_equal(by_name(f, "bob", &a), 0);
	assert_string_equal(a->home, "");
}

static void test_local_only(void **state)
{
	struct fixture *f = *state;
	struct identity_account *a = NULL;
	struct tevent_req *req;

	req = identity_local_account_send(f->mem, f->hctx, "alice");
	wait_for(f, req);
	assert_int_equal(identity_local_account_recv(req, f->mem, &a), 0);
	assert_int_equal(a->uid, 1000);
	/* carol is the store's only: not a local account */
	req = identity_local_account_send(f->mem, f->hctx, "carol");
	wait_for(f, req);
	store_asked = 0;
	assert_int_equal(identity_local_account_recv(req, f->mem, &a), -ENOENT);
	assert_int_equal(store_asked, 0);
}

static void test_same_group_names(void **state)
{
	static const gid_t gids[] = {1000, 27, 100, 80001, 5, 0, 80002};
	struct fixture *f = *state;
	struct tevent_req *req;
	char **names = NULL;
	size_t n = sizeof(gids) / sizeof(gids[0]);

	req = identity_group_names_send(f->mem, f->hctx, gids, n);
	assert_non_null(req);
	wait_for(f, req);
	assert_int_equal(identity_group_names_recv(req, f->mem, &names), 0);
	for (size_t i = 0; i < n; i++) {
		const char *o = old_group_name(f->mem, gids[i]);

		if (o == NULL) {
			assert_null(names[i]);
		} else {
			assert_non_null(names[i]);
			assert_string_equal(names[i], o);
		}
	}
	assert_string_equal(names[3], "realmgrp");
	/* none; too many */
	req = identity_group_names_send(f->mem, f->hctx, gids, 0);
	wait_for(f, req);
	assert_int_equal(identity_group_names_recv(req, f->mem, &names), 0);
	req = identity_group_names_send(f->mem, f->hctx, gids, IDENTITY_ACCOUNT_GROUPS_MAX + 1);
	wait_for(f, req);
	assert_int_equal(identity_group_names_recv(req, f->mem, &names), -EINVAL);
}

static void test_realm_asked_last(void **state)
{
	struct fixture *f = *state;
	struct identity_account *a = NULL;
	struct tevent_req *req;

	/* passwd answers: the realm is not asked */
	req = identity_account_send(f->mem, f->hctx, "alice");
	wait_for(f, req);
	assert_int_equal(identity_account_recv(req, f->mem, &a), 0);
	assert_true(a->local);
	assert_int_equal(realm_asked, 0);
	/* neither knows erin: the realm does */
	req = identity_account_send(f->mem, f->hctx, "erin");
	wait_for(f, req);
	assert_int_equal(identity_account_recv(req, f->mem, &a), 0);
	assert_false(a->local);
	assert_int_equal(a->uid, 70005);
	assert_int_equal(realm_asked, 1);
	/* nobody knows ghost */
	req = identity_account_send(f->mem, f->hctx, "ghost");
	wait_for(f, req);
	assert_int_equal(identity_account_recv(req, f->mem, &a), -ENOENT);
	assert_int_equal(realm_asked, 2);
}

/* --- (a) the loop keeps running while a lookup blocks ----------------------------------------- */

static void tick(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		 void *private_data)
{
	unsigned *ticks = private_data;

	(*ticks)++;
	(void)now;
	(void)te;
	assert_non_null(
	    tevent_add_timer(ev, ev, tevent_timeval_current_ofs(0, 10000), tick, private_data));
}

static void test_loop_runs_while_blocked(void **state)
{
	struct fixture *f = *state;
	struct identity_account *a = NULL;
	struct tevent_req *slow, *fast;
	unsigned ticks = 0;
	int64_t t0, dt;

	/* a long deadline for this one: the lookup is let go by the gate */
	f->hctx->cfg->sectxd.client_timeout_ms = 20000;
	slow = identity_account_by_name_send(f->mem, f->hctx, "slowpoke");
	assert_non_null(slow);
	wait_blocked(1);
	assert_non_null(tevent_add_timer(f->hctx->ev, f->hctx->ev,
					 tevent_timeval_current_ofs(0, 10000), tick, &ticks));
	/* another user's lookup answers while slowpoke's blocks */
	t0 = sectx_now_ms();
	fast = identity_account_by_uid_send(f->mem, f->hctx, 1001);
	wait_for(f, fast);
	dt = sectx_now_ms() - t0;
	printf("# lookup of uid 1001 while another blocks: %lld ms\n", (long long)dt);
	assert_true(dt < 1000);
	assert_int_equal(identity_account_by_uid_recv(fast, f->mem, &a), 0);
	assert_string_equal(a->name, "bob");
	assert_true(tevent_req_is_in_progress(slow));
	/* and the loop's timers fire */
	run_for(f, 200);
	printf("# timer ticks in 200 ms while a lookup blocks: %u\n", ticks);
	assert_true(ticks >= 5);
	assert_true(tevent_req_is_in_progress(slow));
	/* the blocked lookup answers when the database does */
	gate_set(true);
	wait_for(f, slow);
	assert_int_equal(identity_account_by_name_recv(slow, f->mem, &a), 0);
	assert_int_equal(a->uid, 4444);
	assert_true(a->local);
}

/* --- (c) a request freed while its lookup blocks ---------------------------------------------- */

static int late_callbacks;

static void must_not_run(struct tevent_req *req)
{
	(void)req;
	late_callbacks++;
}

static void test_freed_request_drops_late_answer(void **state)
{
	struct fixture *f = *state;
	struct identity_account_stats st;
	struct tevent_req *req, *ok;
	struct identity_account *a = NULL;
	TALLOC_CTX *client = talloc_new(f->mem);

	f->hctx->cfg->sectxd.client_timeout_ms = 20000;
	late_callbacks = 0;
	req = identity_account_by_name_send(client, f->hctx, "slowpoke");
	tevent_req_set_callback(req, must_not_run, NULL);
	wait_blocked(1);
	talloc_free(client); /* the client went away */
	gate_set(true);
	wait_blocked(0);
	/* the answer comes back to the loop and is dropped */
	for (int i = 0; i < 50; i++) {
		identity_account_stats(f->hctx, &st);
		if (st.dropped == 1) {
			break;
		}
		run_for(f, 20);
	}
	identity_account_stats(f->hctx, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(late_callbacks, 0);
	/* and the threads serve the next one */
	ok = identity_account_by_name_send(f->mem, f->hctx, "alice");
	wait_for(f, ok);
	assert_int_equal(identity_account_by_name_recv(ok, f->mem, &a), 0);
}

static void test_freed_while_queued_never_runs(void **state)
{
	struct fixture *f = *state;
	struct tevent_req *slow[IDENTITY_ACCOUNT_THREADS_MAX], *queued;
	struct identity_account_stats st;
	char name[32];
	unsigned before;

	f->hctx->cfg->sectxd.client_timeout_ms = 20000;
	for (unsigned i = 0; i < IDENTITY_ACCOUNT_THREADS_MAX; i++) {
		snprintf(name, sizeof(name), "slow%u", i);
		slow[i] = identity_account_by_name_send(f->mem, f->hctx, name);
		assert_non_null(slow[i]);
	}
	wait_blocked(IDENTITY_ACCOUNT_THREADS_MAX);
	queued = identity_account_by_name_send(f->mem, f->hctx, "alice");
	identity_account_stats(f->hctx, &st);
	assert_int_equal(st.threads, IDENTITY_ACCOUNT_THREADS_MAX);
	assert_int_equal(st.queued, 1);
	talloc_free(queued);
	identity_account_stats(f->hctx, &st);
	assert_int_equal(st.queued, 0);
	before = calls();
	gate_set(true);
	for (unsigned i = 0; i < IDENTITY_ACCOUNT_THREADS_MAX; i++) {
		wait_for(f, slow[i]);
	}
	run_for(f, 50);
	/* alice was never looked up */
	assert_int_equal(calls(), before);
	identity_account_stats(f->hctx, &st);
	assert_int_equal(st.lookups, IDENTITY_ACCOUNT_THREADS_MAX);
	assert_int_equal(st.dropped, 0);
}

/* --- (d) the bounds --------------------------------------------------------------------------- */

static void test_deadline(void **state)
{
	struct fixture *f = *state;
	struct identity_account_stats st;
	struct identity_account *a = NULL;
	struct tevent_req *req;
	int64_t t0, dt;

	/* uid 4444 blocks in passwd; the store maps it to eve: a timeout is
	 * not "not local", so eve is never the answer */
	t0 = sectx_now_ms();
	req = identity_account_by_uid_send(f->mem, f->hctx, 4444);
	wait_for(f, req);
	dt = sectx_now_ms() - t0;
	printf("# lookup blocked in passwd gave up after %lld ms (deadline %d ms)\n", (long long)dt,
	       CLIENT_TIMEOUT_MS / 2);
	store_asked = 0;
	assert_int_equal(identity_account_by_uid_recv(req, f->mem, &a), -ETIMEDOUT);
	assert_null(a);
	assert_int_equal(store_asked, 0);
	assert_true(dt >= CLIENT_TIMEOUT_MS / 2 - 20);
	assert_true(dt < 2000);
	identity_account_stats(f->hctx, &st);
	assert_int_equal(st.timed_out, 1);
	assert_int_equal(st.running, 1); /* its thread still waits for glibc */
	/* the late answer is dropped */
	gate_set(true);
	wait_blocked(0);
	for (int i = 0; i < 50 && st.dropped == 0; i++) {
		run_for(f, 20);
		identity_account_stats(f->hctx, &st);
	}
	assert_int_equal(st.dropped, 1);
	/* the same for groups and group names */
	gate_set(false);
	{
		struct identity_account slowacct = {.name = "slowpoke", .gid = 4444, .local = true};
		static const gid_t g[] = {100, 4444};
		gid_t *groups = NULL;
		char **names = NULL;
		size_t n = 0;

		assert_int_equal(groups_of(f, &slowacct, &groups, &n), -ETIMEDOUT);
		req = identity_group_names_send(f->mem, f->hctx, g, 2);
		wait_for(f, req);
		assert_int_equal(identity_group_names_recv(req, f->mem, &names), -ETIMEDOUT);
	}
}

static void test_queue_bound_and_sharing(void **state)
{
	struct fixture *f = *state;
	struct tevent_req *slow[IDENTITY_ACCOUNT_THREADS_MAX];
	struct tevent_req *q[IDENTITY_ACCOUNT_QUEUE_MAX], *more, *twin;
	struct identity_account_stats st;
	struct identity_account *a = NULL;
	char name[32];
	int64_t t0;

	f->hctx->cfg->sectxd.client_timeout_ms = 20000;
	for (unsigned i = 0; i < IDENTITY_ACCOUNT_THREADS_MAX; i++) {
		snprintf(name, sizeof(name), "slow%u", i);
		slow[i] = identity_account_by_name_send(f->mem, f->hctx, name);
	}
	wait_blocked(IDENTITY_ACCOUNT_THREADS_MAX);
	for (unsigned i = 0; i < IDENTITY_ACCOUNT_QUEUE_MAX; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		q[i] = identity_account_by_name_send(f->mem, f->hctx, name);
		assert_non_null(q[i]);
	}
	identity_account_stats(f->hctx, &st);
	printf("# %u threads, %u lookups queued\n", st.threads, st.queued);
	assert_int_equal(st.threads, IDENTITY_ACCOUNT_THREADS_MAX);
	assert_int_equal(st.running, IDENTITY_ACCOUNT_THREADS_MAX);
	assert_int_equal(st.queued, IDENTITY_ACCOUNT_QUEUE_MAX);
	/* one more is refused at once */
	t0 = sectx_now_ms();
	more = identity_account_by_name_send(f->mem, f->hctx, "one-too-many");
	wait_for(f, more);
	assert_true(sectx_now_ms() - t0 < 1000);
	assert_int_equal(identity_account_by_name_recv(more, f->mem, &a), -EBUSY);
	/* the same lookup as one queued shares its place */
	twin = identity_account_by_name_send(f->mem, f->hctx, "user7");
	assert_true(tevent_req_is_in_progress(twin));
	identity_account_stats(f->hctx, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.shared, 1);
	assert_int_equal(st.queued, IDENTITY_ACCOUNT_QUEUE_MAX);
	/* the database answers: every one is served, none twice */
	gate_set(true);
	for (unsigned i = 0; i < IDENTITY_ACCOUNT_QUEUE_MAX; i++) {
		wait_for(f, q[i]);
		assert_int_equal(identity_account_by_name_recv(q[i], f->mem, &a), -ENOENT);
	}
	wait_for(f, twin);
	assert_int_equal(identity_account_by_name_recv(twin, f->mem, &a), -ENOENT);
	for (unsigned i = 0; i < IDENTITY_ACCOUNT_THREADS_MAX; i++) {
		wait_for(f, slow[i]);
	}
	identity_account_stats(f->hctx, &st);
	assert_int_equal(st.lookups, IDENTITY_ACCOUNT_THREADS_MAX + IDENTITY_ACCOUNT_QUEUE_MAX);
}

static void test_identical_lookups_share_a_thread(void **state)
{
	struct fixture *f = *state;
	struct tevent_req *r[10];
	struct identity_account *a = NULL;
	struct identity_account_stats st;
	unsigned before = calls();

	f->hctx->cfg->sectxd.client_timeout_ms = 20000;
	for (unsigned i = 0; i < 10; i++) {
		r[i] = identity_account_by_uid_send(f->mem, f->hctx, 4444);
	}
	wait_blocked(1);
	/* one leaves early: the others still get the answer */
	talloc_free(r[3]);
	r[3] = NULL;
	gate_set(true);
	for (unsigned i = 0; i < 10; i++) {
		if (r[i] == NULL) {
			continue;
		}
		wait_for(f, r[i]);
		assert_int_equal(identity_account_by_uid_recv(r[i], f->mem, &a), 0);
		assert_string_equal(a->name, "slowpoke");
	}
	assert_int_equal(calls() - before, 1);
	identity_account_stats(f->hctx, &st);
	assert_int_equal(st.shared, 9);
	assert_int_equal(st.dropped, 0);
}

static void test_stop_while_blocked(void **state)
{
	struct fixture *f = *state;
	struct tevent_req *running, *queued[2];
	struct identity_account *a = NULL;
	char name[32];

	f->hctx->cfg->sectxd.client_timeout_ms = 20000;
	running = identity_account_by_name_send(f->mem, f->hctx, "slowpoke");
	for (unsigned i = 1; i < IDENTITY_ACCOUNT_THREADS_MAX; i++) {
		snprintf(name, sizeof(name), "slow%u", i);
		(void)identity_account_by_name_send(f->mem, f->hctx, name);
	}
	wait_blocked(IDENTITY_ACCOUNT_THREADS_MAX);
	queued[0] = identity_account_by_name_send(f->mem, f->hctx, "alice");
	queued[1] = identity_account_by_uid_send(f->mem, f->hctx, 1001);
	/* the subsystem stops while every thread is in glibc: not waited for */
	TALLOC_FREE(f->hctx->identity);
	wait_for(f, running);
	assert_int_equal(identity_account_by_name_recv(running, f->mem, &a), -ECANCELED);
	wait_for(f, queued[0]);
	assert_int_equal(identity_account_by_name_recv(queued[0], f->mem, &a), -ECANCELED);
	wait_for(f, queued[1]);
	assert_int_equal(identity_account_by_uid_recv(queued[1], f->mem, &a), -ECANCELED);
	/* a lookup now: the subsystem is not running */
	running = identity_account_by_name_send(f->mem, f->hctx, "alice");
	wait_for(f, running);
	assert_int_equal(identity_account_by_name_recv(running, f->mem, &a), -ECANCELED);
	/* the threads come back from glibc later and clean up after themselves */
	gate_set(true);
	wait_blocked(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_same_answers_by_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_same_answers_by_uid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_passwd_comes_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_same_group_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_realm_asked_last, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loop_runs_while_blocked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_freed_request_drops_late_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_freed_while_queued_never_runs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bound_and_sharing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identical_lookups_share_a_thread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_while_blocked, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
