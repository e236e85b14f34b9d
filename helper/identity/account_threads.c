/*
 * identity/account_threads.c - the threads that run the account resolver's
 * glibc lookups (getpwnam_r, getpwuid_r, getgrouplist, getgrgid_r), so that
 * a slow passwd or group source (LDAP through sssd or nslcd, NIS: whatever
 * nsswitch.conf names) never stalls the event loop that every login and
 * every NSS answer of the host goes through.  The loop's side (requests,
 * sharing, deadlines) is account_lookup.c.
 *
 * Who reaches this: account_lookup.c only, on the loop's thread, on behalf
 * of the PAM and context operations (any local process, through
 * pam.sock).  What they can make it do: run one lookup of a user name, a
 * uid, a user's groups or the names of groups in the host's databases; at
 * most IDENTITY_ACCOUNT_THREADS_MAX run at once and
 * IDENTITY_ACCOUNT_QUEUE_MAX wait (beyond that, EBUSY at once).
 *
 * Threads: each takes jobs from one queue under one mutex and touches
 * nothing but its job (malloc'd, not talloc: talloc is not thread-safe), the
 * queue, the list of finished jobs and the write end of a pipe that wakes
 * the loop.  Threads block every signal, are detached, and exit after
 * IDENTITY_ACCOUNT_IDLE_MS idle.  A glibc call cannot be interrupted: a job
 * nobody waits for any more runs to its end and its answer is dropped by
 * the loop; when the loop's side closes, a thread still in glibc frees its
 * own job, and the last thread out frees what the threads share.
 *
 * It must never: hand the loop a pointer into a glibc buffer (the answer is
 * copied out of it by the thread), touch talloc memory or a request from a
 * thread, or make the loop wait for a thread that may be blocked.
 */
#include "identity/account_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identity/identity.h"

#define ACCOUNT_STOP_WAIT_MS 1000 /* how long closing waits for idle threads */

struct job_list {
	struct acct_job *head, *tail;
	unsigned n;
};

/* What the threads and the loop share: malloc'd, freed by the last of them. */
struct acct_core {
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job was queued, or closing */
	pthread_cond_t gone; /* a thread exited */
	struct job_list queue, done;
	unsigned threads, idle, running;
	uint64_t lookups;
	bool closing;  /* the loop's side is going: threads finish and leave */
	bool released; /* the loop's side is gone: the last thread out frees this */
	int rfd, wfd;  /* a byte on wfd: done has jobs */
};

/* --- jobs ------------------------------------------------------------------------------------- */

void acct_job_free(struct acct_job *j)
{
	size_t i;

	if (j == NULL) {
		return;
	}
	if (j->gr_names != NULL) {
		for (i = 0; i < j->n_gids; i++) {
			free(j->gr_names[i]);
		}
		free(j->gr_names);
	}
	free(j->name);
	free(j->gids);
	free(j->pw_name);
	free(j->pw_dir);
	free(j->groups);
	free(j);
}

struct acct_job *acct_job_new(const struct acct_query *q)
{
	struct acct_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		return NULL;
	}
	j->kind = q->kind;
	j->id = q->id;
	if (q->name != NULL && (j->name = strdup(q->name)) == NULL) {
		goto fail;
	}
	if (q->n_gids > 0) {
		j->gids = malloc(q->n_gids * sizeof(gid_t));
		if (j->gids == NULL) {
			goto fail;
		}
		memcpy(j->gids, q->gids, q->n_gids * sizeof(gid_t));
		j->n_gids = q->n_gids;
	}
	return j;
fail:
	acct_job_free(j);
	return NULL;
}

/* Run j's glibc lookup: the thread's only work.  Copies what glibc
 * answered out of buf into j; any glibc failure of a passwd lookup is "not
 * found", as it always was here. */
static void job_run(struct acct_job *j)
{
	char *buf = malloc(ACCOUNT_NSS_BUF);
	struct passwd pw, *pres = NULL;
	struct group gr, *gres = NULL;
	size_t i;
	int r;

	j->result = 0;
	if (buf == NULL) {
		j->result = -ENOMEM;
		return;
	}
	switch (j->kind) {
	case ACCT_Q_PW_BY_NAME:
	case ACCT_Q_PW_BY_UID:
		r = j->kind == ACCT_Q_PW_BY_NAME
			? getpwnam_r(j->name, &pw, buf, ACCOUNT_NSS_BUF, &pres)
			: getpwuid_r((uid_t)j->id, &pw, buf, ACCOUNT_NSS_BUF, &pres);
		if (r != 0 || pres == NULL) {
			break;
		}
		j->pw_name = strdup(pw.pw_name != NULL ? pw.pw_name : "");
		j->pw_dir = strdup(pw.pw_dir != NULL ? pw.pw_dir : "");
		if (j->pw_name == NULL || j->pw_dir == NULL) {
			j->result = -ENOMEM;
			break;
		}
		j->pw_uid = pw.pw_uid;
		j->pw_gid = pw.pw_gid;
		j->found = true;
		break;
	case ACCT_Q_GROUPLIST: {
		int ng = (int)IDENTITY_ACCOUNT_GROUPS_MAX;

		j->groups = malloc(IDENTITY_ACCOUNT_GROUPS_MAX * sizeof(gid_t));
		if (j->groups == NULL) {
			j->result = -ENOMEM;
			break;
		}
		if (getgrouplist(j->name, (gid_t)j->id, j->groups, &ng) < 0) {
			j->result = -E2BIG;
			break;
		}
		j->n_groups = (size_t)ng;
		break;
	}
	case ACCT_Q_GR_NAMES:
		j->gr_names = calloc(j->n_gids > 0 ? j->n_gids : 1, sizeof(char *));
		if (j->gr_names == NULL) {
			j->result = -ENOMEM;
			break;
		}
		for (i = 0; i < j->n_gids; i++) {
			gres = NULL;
			if (getgrgid_r(j->gids[i], &gr, buf, ACCOUNT_NSS_BUF, &gres) != 0 ||
			    gres == NULL) {
				continue;
			}
			j->gr_names[i] = strdup(gr.gr_name != NULL ? gr.gr_name : "");
			if (j->gr_names[i] == NULL) {
				j->result = -ENOMEM;
				break;
			}
		}
		break;
	}
	free(buf);
}

static void list_append(struct job_list *l, struct acct_job *j)
{
	j->qnext = NULL;
	if (l->tail != NULL) {
		l->tail->qnext = j;
	} else {
		l->head = j;
	}
	l->tail = j;
	l->n++;
}

static struct acct_job *list_pop(struct job_list *l)
{
	struct acct_job *j = l->head;

	if (j != NULL) {
		l->head = j->qnext;
		if (l->head == NULL) {
			l->tail = NULL;
		}
		j->qnext = NULL;
		l->n--;
	}
	return j;
}

/* Take j out of l (where it is). */
static void list_remove(struct job_list *l, struct acct_job *j)
{
	struct acct_job **pp, *prev = NULL;

	for (pp = &l->head; *pp != NULL; prev = *pp, pp = &(*pp)->qnext) {
		if (*pp == j) {
			*pp = j->qnext;
			if (l->tail == j) {
				l->tail = prev;
			}
			j->qnext = NULL;
			l->n--;
			return;
		}
	}
}

/* --- the threads ------------------------------------------------------------------------------ */

/* Free what the threads and the loop shared: the last of them does it. */
static void core_destroy(struct acct_core *c)
{
	struct acct_job *j;

	while ((j = list_pop(&c->queue)) != NULL) {
		acct_job_free(j);
	}
	while ((j = list_pop(&c->done)) != NULL) {
		acct_job_free(j);
	}
	close(c->rfd);
	close(c->wfd);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->gone);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void *account_thread(void *arg)
{
	struct acct_core *c = arg;
	bool last;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		struct acct_job *j;
		struct timespec ts;
		int r = 0;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += IDENTITY_ACCOUNT_IDLE_MS / 1000;
		while (!c->closing && c->queue.head == NULL && r != ETIMEDOUT) {
			c->idle++;
			r = pthread_cond_timedwait(&c->work, &c->mu, &ts);
			c->idle--;
		}
		if (c->closing || c->queue.head == NULL) {
			break; /* stopping, or idle long enough */
		}
		j = list_pop(&c->queue);
		j->state = ACCT_JOB_RUNNING;
		c->running++;
		c->lookups++;
		pthread_mutex_unlock(&c->mu);

		job_run(j); /* may block for as long as the database takes */

		pthread_mutex_lock(&c->mu);
		c->running--;
		if (c->closing) {
			acct_job_free(j); /* nobody on the loop's side any more */
			continue;
		}
		j->state = ACCT_JOB_DONE;
		list_append(&c->done, j);
		/* a full pipe already has a byte waiting: the loop takes every job */
		(void)!write(c->wfd, "", 1);
	}
	c->threads--;
	last = c->released && c->threads == 0;
	pthread_cond_broadcast(&c->gone);
	pthread_mutex_unlock(&c->mu);
	if (last) {
		core_destroy(c);
	}
	return NULL;
}

/* Start one more thread, every signal blocked in it (they are the loop's).
 * Under c->mu.  0 or an errno. */
static int core_spawn(struct acct_core *c)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int err;

	err = pthread_attr_init(&attr);
	if (err != 0) {
		return err;
	}
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t, &attr, account_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err == 0) {
		c->threads++;
	}
	return err;
}

int acct_core_submit(struct acct_core *c, struct acct_job *j, int *spawn_err)
{
	int ret = 0;

	*spawn_err = 0;
	pthread_mutex_lock(&c->mu);
	if (c->closing) {
		ret = -ECANCELED;
		goto done;
	}
	if (c->queue.n >= IDENTITY_ACCOUNT_QUEUE_MAX) {
		ret = -EBUSY;
		goto done;
	}
	j->state = ACCT_JOB_QUEUED;
	list_append(&c->queue, j);
	if (c->idle < c->queue.n && c->threads < IDENTITY_ACCOUNT_THREADS_MAX) {
		*spawn_err = core_spawn(c);
		if (*spawn_err != 0 && c->threads == 0) {
			list_remove(&c->queue, j); /* nobody would ever run it */
			ret = -EBUSY;
			goto done;
		}
	}
	pthread_cond_signal(&c->work);
done:
	pthread_mutex_unlock(&c->mu);
	return ret;
}

struct acct_core *acct_core_new(void)
{
	struct acct_core *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;
	int p[2];

	if (c == NULL) {
		return NULL;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(c);
		return NULL;
	}
	c->rfd = p[0];
	c->wfd = p[1];
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->work, &ca);
	pthread_cond_init(&c->gone, &ca);
	pthread_condattr_destroy(&ca);
	return c;
}

int acct_core_fd(const struct acct_core *c)
{
	return c->rfd;
}

bool acct_core_unqueue(struct acct_core *c, struct acct_job *j)
{
	bool queued;

	pthread_mutex_lock(&c->mu);
	queued = j->state == ACCT_JOB_QUEUED;
	if (queued) {
		list_remove(&c->queue, j);
	}
	pthread_mutex_unlock(&c->mu);
	return queued;
}

struct acct_job *acct_core_take_done(struct acct_core *c)
{
	struct acct_job *list;
	char buf[64];

	while (read(c->rfd, buf, sizeof(buf)) > 0) {
	}
	pthread_mutex_lock(&c->mu);
	list = c->done.head;
	memset(&c->done, 0, sizeof(c->done));
	pthread_mutex_unlock(&c->mu);
	return list;
}

void acct_core_close(struct acct_core *c)
{
	struct acct_job *j;
	struct timespec ts;
	bool destroy;

	pthread_mutex_lock(&c->mu);
	c->closing = true;
	while ((j = list_pop(&c->queue)) != NULL) {
		acct_job_free(j);
	}
	while ((j = list_pop(&c->done)) != NULL) {
		acct_job_free(j);
	}
	pthread_cond_broadcast(&c->work);
	/* idle threads leave at once; one blocked in glibc is not waited for */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ACCOUNT_STOP_WAIT_MS / 1000;
	while (c->threads > c->running) {
		if (pthread_cond_timedwait(&c->gone, &c->mu, &ts) == ETIMEDOUT) {
			break;
		}
	}
	destroy = c->threads == 0;
	c->released = !destroy;
	pthread_mutex_unlock(&c->mu);
	if (destroy) {
		core_destroy(c);
	}
}

void acct_core_counts(struct acct_core *c, unsigned *threads, unsigned *running, unsigned *queued,
		      uint64_t *lookups)
{
	pthread_mutex_lock(&c->mu);
	*threads = c->threads;
	*running = c->running;
	*queued = c->queue.n;
	*lookups = c->lookups;
	pthread_mutex_unlock(&c->mu);
}
