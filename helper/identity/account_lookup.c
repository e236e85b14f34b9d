/*
 * identity/account_lookup.c - the loop's side of the account resolver's
 * glibc lookups (account_int.h): a request per lookup, bounded by a
 * deadline, sharing one job with the identical lookups waiting at the same
 * time, answered from the loop when a thread (account_threads.c) is done.
 *
 * Who reaches this: account.c, on behalf of the PAM and context operations
 * (any local process, through pam.sock).  What they can make it do: queue a
 * lookup of a user name, a uid, a user's groups or the names of groups: at
 * most IDENTITY_ACCOUNT_QUEUE_MAX wait (beyond that a request fails at once,
 * EBUSY), and a uid repeating its own lookup shares one place; each request
 * gives up at its deadline (half [sectxd] client_timeout, ETIMEDOUT).  A
 * request freed (its client gone) or timed out leaves its job to its thread;
 * the answer is dropped when it comes back, and never reaches a freed
 * request.  One warning line per ACCOUNT_WARN_EVERY_MS about timeouts and
 * refusals, with the count of those left out.
 *
 * The threads' state lives in the identity subsystem's state (set up on
 * first use) and goes with it; requests still waiting then fail
 * (ECANCELED).  It must never: block on a thread, or hand out a pointer into
 * a job (answers are copied into the request).
 */
#include "identity/account_int.h"

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "identity/identity.h"
#include "identity/identity_int.h"
#include "log.h"

#define ACCOUNT_WARN_EVERY_MS 10000 /* one log line about the lookups per this */

/* The loop's side: a talloc child of the identity subsystem's state. */
struct identity_account_pool {
	struct tevent_context *ev;
	struct acct_core *core;
	struct tevent_fd *fde;
	struct acct_job *jobs; /* the jobs requests wait for, to share them */
	uint64_t shared, timed_out, refused, dropped;
	int64_t warn_next_ms;
	unsigned warn_suppressed;
};

/* One request: waits for one job. */
struct acct_nss_state {
	struct acct_nss_state *prev, *next; /* in job->waiters */
	struct tevent_req *req;
	struct identity_account_pool *pool;
	struct acct_job *job;
	const char *what; /* for a log line */
	struct acct_answer answer;
};

/* Does j ask what q asks? */
static bool job_same(const struct acct_job *j, const struct acct_query *q)
{
	if (j->kind != q->kind || j->orphan) {
		return false;
	}
	switch (q->kind) {
	case ACCT_Q_PW_BY_NAME:
		return strcmp(j->name, q->name) == 0;
	case ACCT_Q_PW_BY_UID:
		return j->id == q->id;
	case ACCT_Q_GROUPLIST:
		return j->id == q->id && strcmp(j->name, q->name) == 0;
	case ACCT_Q_GR_NAMES:
		return j->n_gids == q->n_gids &&
		       (q->n_gids == 0 || memcmp(j->gids, q->gids, q->n_gids * sizeof(gid_t)) == 0);
	}
	return false;
}

/* One warning about the threads per ACCOUNT_WARN_EVERY_MS, counting those
 * left out: a slow database makes every request say the same. */
static void pool_warn(struct identity_account_pool *pool, const char *what, const char *which)
{
	int64_t now = sectx_now_ms();
	unsigned threads, running, queued;
	uint64_t lookups;

	if (now < pool->warn_next_ms) {
		pool->warn_suppressed++;
		return;
	}
	acct_core_counts(pool->core, &threads, &running, &queued, &lookups);
	SECTX_WARN("account lookup of %s: %s (%u threads, %u lookups waiting; %u such lines "
		   "suppressed before this one)",
		   which, what, threads, queued, pool->warn_suppressed);
	pool->warn_suppressed = 0;
	pool->warn_next_ms = now + ACCOUNT_WARN_EVERY_MS;
}

static void job_link(struct identity_account_pool *pool, struct acct_job *j)
{
	j->prev = NULL;
	j->next = pool->jobs;
	if (pool->jobs != NULL) {
		pool->jobs->prev = j;
	}
	pool->jobs = j;
}

static void job_unlink(struct identity_account_pool *pool, struct acct_job *j)
{
	if (j->prev != NULL) {
		j->prev->next = j->next;
	} else if (pool->jobs == j) {
		pool->jobs = j->next;
	}
	if (j->next != NULL) {
		j->next->prev = j->prev;
	}
	j->prev = j->next = NULL;
}

static void waiter_add(struct acct_job *j, struct acct_nss_state *w)
{
	w->job = j;
	w->prev = NULL;
	w->next = j->waiters;
	if (j->waiters != NULL) {
		j->waiters->prev = w;
	}
	j->waiters = w;
}

static void waiter_remove(struct acct_nss_state *w)
{
	struct acct_job *j = w->job;

	if (w->prev != NULL) {
		w->prev->next = w->next;
	} else {
		j->waiters = w->next;
	}
	if (w->next != NULL) {
		w->next->prev = w->prev;
	}
	w->prev = w->next = NULL;
	w->job = NULL;
}

/* The last request waiting for j has gone: a job not started yet is
 * forgotten, a running one is left to its thread and its answer dropped. */
static void job_abandon(struct identity_account_pool *pool, struct acct_job *j)
{
	job_unlink(pool, j);
	if (acct_core_unqueue(pool->core, j)) {
		acct_job_free(j);
		return;
	}
	j->orphan = true;
}

/* A request finished (done, failed, timed out) or was freed: it no longer
 * waits for its job. */
static void acct_nss_cleanup(struct tevent_req *req, enum tevent_req_state state)
{
	struct acct_nss_state *st = tevent_req_data(req, struct acct_nss_state);
	struct acct_job *j = st->job;

	if (j == NULL) {
		return;
	}
	if (state == TEVENT_REQ_TIMED_OUT) {
		st->pool->timed_out++;
		pool_warn(st->pool, "no answer before the deadline", st->what);
	}
	waiter_remove(st);
	if (j->waiters == NULL) {
		job_abandon(st->pool, j);
	}
}

/* Copy j's answer into w (talloc, children of w).  0 or -ENOMEM. */
static int answer_copy(struct acct_nss_state *w, const struct acct_job *j)
{
	struct acct_answer *a = &w->answer;
	size_t i;

	a->found = j->found;
	if (j->found) {
		a->pw_name = talloc_strdup(w, j->pw_name);
		a->pw_dir = talloc_strdup(w, j->pw_dir);
		if (a->pw_name == NULL || a->pw_dir == NULL) {
			return -ENOMEM;
		}
		a->pw_uid = j->pw_uid;
		a->pw_gid = j->pw_gid;
	}
	if (j->groups != NULL) {
		a->groups = talloc_array(w, gid_t, j->n_groups > 0 ? j->n_groups : 1);
		if (a->groups == NULL) {
			return -ENOMEM;
		}
		memcpy(a->groups, j->groups, j->n_groups * sizeof(gid_t));
		a->n_groups = j->n_groups;
	}
	if (j->gr_names != NULL) {
		a->gr_names = talloc_zero_array(w, char *, j->n_gids > 0 ? j->n_gids : 1);
		if (a->gr_names == NULL) {
			return -ENOMEM;
		}
		for (i = 0; i < j->n_gids; i++) {
			if (j->gr_names[i] != NULL &&
			    (a->gr_names[i] = talloc_strdup(a->gr_names, j->gr_names[i])) == NULL) {
				return -ENOMEM;
			}
		}
	}
	return 0;
}

/* Threads finished jobs: answer every request waiting for them (their
 * callbacks deferred to the loop, so none runs inside this one) and drop
 * the answers nobody waits for any more. */
static void pool_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			  void *private_data)
{
	struct identity_account_pool *pool =
	    talloc_get_type_abort(private_data, struct identity_account_pool);
	struct acct_job *list = acct_core_take_done(pool->core), *j;

	while ((j = list) != NULL) {
		struct acct_nss_state *w;

		list = j->qnext;
		if (j->orphan) {
			pool->dropped++;
			acct_job_free(j);
			continue;
		}
		job_unlink(pool, j);
		while ((w = j->waiters) != NULL) {
			int ret = j->result;

			waiter_remove(w);
			if (ret == 0) {
				ret = answer_copy(w, j);
			}
			tevent_req_defer_callback(w->req, ev);
			if (ret != 0) {
				tevent_req_error(w->req, -ret);
			} else {
				tevent_req_done(w->req);
			}
		}
		acct_job_free(j);
	}
}

/* The subsystem stops: every request still waiting fails (ECANCELED), jobs
 * not started are freed, idle threads leave, and threads still in glibc
 * free their own jobs and, the last of them, what the threads share. */
static int pool_destructor(struct identity_account_pool *pool)
{
	struct acct_job *j;

	TALLOC_FREE(pool->fde);
	while ((j = pool->jobs) != NULL) {
		struct acct_nss_state *w;

		job_unlink(pool, j);
		while ((w = j->waiters) != NULL) {
			waiter_remove(w);
			tevent_req_defer_callback(w->req, pool->ev);
			tevent_req_error(w->req, ECANCELED);
		}
		j->orphan = true; /* freed below, or by its thread */
	}
	acct_core_close(pool->core);
	return 0;
}

/* The lookup threads of hctx, set up on first use.  0 with *out; -ECANCELED
 * (the identity subsystem is not running), -ENOMEM. */
static int pool_get(struct sectxd_ctx *hctx, struct identity_account_pool **out)
{
	struct sectxd_identity *id = hctx->identity;
	struct identity_account_pool *pool;

	*out = NULL;
	if (id == NULL) {
		return -ECANCELED;
	}
	if (id->accounts != NULL) {
		*out = id->accounts;
		return 0;
	}
	pool = talloc_zero(id, struct identity_account_pool);
	if (pool == NULL) {
		return -ENOMEM;
	}
	pool->ev = hctx->ev;
	pool->core = acct_core_new();
	if (pool->core == NULL) {
		talloc_free(pool);
		return -ENOMEM;
	}
	talloc_set_destructor(pool, pool_destructor);
	pool->fde = tevent_add_fd(hctx->ev, pool, acct_core_fd(pool->core), TEVENT_FD_READ,
				  pool_readable, pool);
	if (pool->fde == NULL) {
		talloc_free(pool);
		return -ENOMEM;
	}
	id->accounts = pool;
	*out = pool;
	return 0;
}

/* --- the request ------------------------------------------------------------------------------ */

/* What q asks, for a log line (a child of mem_ctx). */
static const char *query_text(TALLOC_CTX *mem_ctx, const struct acct_query *q)
{
	switch (q->kind) {
	case ACCT_Q_PW_BY_NAME:
		return talloc_asprintf(mem_ctx, "user %s", q->name);
	case ACCT_Q_PW_BY_UID:
		return talloc_asprintf(mem_ctx, "uid %u", (unsigned)q->id);
	case ACCT_Q_GROUPLIST:
		return talloc_asprintf(mem_ctx, "the groups of %s", q->name);
	case ACCT_Q_GR_NAMES:
		return talloc_asprintf(mem_ctx, "the names of %zu groups", q->n_gids);
	}
	return NULL;
}

struct tevent_req *acct_nss_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
				 const struct acct_query *q)
{
	struct identity_account_pool *pool = NULL;
	struct acct_nss_state *st;
	struct tevent_req *req;
	struct acct_job *j;
	uint64_t ms;
	int ret, spawn_err = 0;

	req = tevent_req_create(mem_ctx, &st, struct acct_nss_state);
	if (req == NULL) {
		return NULL;
	}
	st->req = req;
	tevent_req_set_cleanup_fn(req, acct_nss_cleanup);
	st->what = query_text(st, q);
	if (tevent_req_nomem(st->what, req)) {
		return tevent_req_post(req, hctx->ev);
	}
	if ((q->kind == ACCT_Q_GR_NAMES && q->n_gids > IDENTITY_ACCOUNT_GROUPS_MAX) ||
	    (q->kind != ACCT_Q_PW_BY_UID && q->kind != ACCT_Q_GR_NAMES && q->name == NULL)) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, hctx->ev);
	}
	ret = pool_get(hctx, &pool);
	if (ret != 0) {
		tevent_req_error(req, -ret);
		return tevent_req_post(req, hctx->ev);
	}
	/* half the client's time: a failure still reaches a client that waits */
	ms = hctx->cfg->sectxd.client_timeout_ms / 2;
	if (!tevent_req_set_endtime(
		req, hctx->ev,
		tevent_timeval_current_ofs((uint32_t)(ms / 1000), (uint32_t)(ms % 1000) * 1000))) {
		tevent_req_oom(req);
		return tevent_req_post(req, hctx->ev);
	}
	for (j = pool->jobs; j != NULL && !job_same(j, q); j = j->next) {
	}
	if (j != NULL) {
		pool->shared++;
	} else {
		j = acct_job_new(q);
		if (tevent_req_nomem(j, req)) {
			return tevent_req_post(req, hctx->ev);
		}
		ret = acct_core_submit(pool->core, j, &spawn_err);
		if (spawn_err != 0) {
			SECTX_ERROR("cannot start an account lookup thread: %s",
				    strerror(spawn_err));
		}
		if (ret != 0) {
			acct_job_free(j);
			if (ret == -EBUSY) {
				pool->refused++;
				pool_warn(pool, "refused: too many lookups waiting", st->what);
			}
			tevent_req_error(req, -ret);
			return tevent_req_post(req, hctx->ev);
		}
		job_link(pool, j);
	}
	st->pool = pool;
	waiter_add(j, st);
	return req;
}

int acct_nss_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct acct_answer *a)
{
	struct acct_nss_state *st = tevent_req_data(req, struct acct_nss_state);
	int err;

	memset(a, 0, sizeof(*a));
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*a = st->answer;
	talloc_steal(mem_ctx, a->pw_name);
	talloc_steal(mem_ctx, a->pw_dir);
	talloc_steal(mem_ctx, a->groups);
	talloc_steal(mem_ctx, a->gr_names);
	memset(&st->answer, 0, sizeof(st->answer));
	return 0;
}

void identity_account_stats(struct sectxd_ctx *hctx, struct identity_account_stats *st)
{
	struct identity_account_pool *pool =
	    hctx->identity != NULL ? hctx->identity->accounts : NULL;

	memset(st, 0, sizeof(*st));
	if (pool == NULL) {
		return;
	}
	acct_core_counts(pool->core, &st->threads, &st->running, &st->queued, &st->lookups);
	st->shared = pool->shared;
	st->timed_out = pool->timed_out;
	st->refused = pool->refused;
	st->dropped = pool->dropped;
}
