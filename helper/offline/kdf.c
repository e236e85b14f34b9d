/*
 * offline/kdf.c - the password hash of cached credentials (PBKDF2-HMAC-SHA512)
 * on threads of its own, never on the event loop (offline_int.h).
 *
 * Who reaches this: offline_cache.c only, to hash a password the KDC has
 * just accepted (store) or one typed while the realm is offline (verify).
 * It never logs a password and keeps none beyond one job: the copy a job
 * holds is scrubbed by its thread as soon as it is hashed, or when the job
 * is freed unstarted.
 *
 * Threads: each KDF runs on a thread of its own that touches nothing but its
 * job (malloc'd, not talloc: talloc is not thread-safe) and a pipe back to
 * the loop; at most SECTX_OFFLINE_KDF_MAX run at once, at most one per user.
 * The others wait in one FIFO (its password copy held, scrubbed when the job
 * is freed), bounded by SECTX_OFFLINE_KDF_QUEUE_MAX and, per user, by
 * SECTX_OFFLINE_KDF_USER_MAX; beyond those a request fails (EBUSY, a log
 * line), for that user alone in the second case.  A request freed while its
 * thread runs joins it (waiting at most one KDF, ~20 ms).  The scheduler's
 * lists live in a struct sectx_kdf_pool of the subsystem's state, touched by
 * the loop's thread only.
 */
#include "offline/offline_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct kdf_job {
	char *password; /* malloc'd copy, scrubbed by the thread */
	size_t len;
	uint8_t salt[SECTX_OFFLINE_SALT_LEN];
	unsigned iterations;
	uint8_t out[SECTX_OFFLINE_HASH_LEN];
	int ok;
	int wfd;
};

struct kdf_state {
	struct kdf_state *prev, *next; /* in pool->running or pool->waiting */
	struct sectx_kdf_pool *pool;   /* NULL once the pool is gone */
	struct tevent_context *ev;
	struct tevent_req *req;
	char *user; /* whose password: one KDF of a user runs at a time */
	struct kdf_job *job;
	pthread_t thread;
	bool running; /* a thread was started (joined: false again) */
	bool listed;  /* in one of the pool's lists */
	bool orphan;  /* a cancelled KDF's thread, kept by the pool (kdf_orphan) */
	int pipefd[2];
	struct tevent_fd *fde;
	uint8_t out[SECTX_OFFLINE_HASH_LEN];
};

/*
 * The scheduler, the loop's thread only: at most SECTX_OFFLINE_KDF_MAX jobs
 * run, at most one of them per user; the others wait, oldest first, at most
 * SECTX_OFFLINE_KDF_QUEUE_MAX in all and SECTX_OFFLINE_KDF_USER_MAX (running
 * or waiting) per user.  So one user logging in over and over holds one
 * thread and a few places in the queue, never every slot, and the others'
 * logins and stores wait their turn instead of failing.
 */
struct kdf_list {
	struct kdf_state *head, *tail;
	unsigned n;
};

struct sectx_kdf_pool {
	struct kdf_list running, waiting;
};

static void kdf_list_add(struct kdf_list *l, struct kdf_state *st)
{
	st->prev = l->tail;
	st->next = NULL;
	if (l->tail != NULL) {
		l->tail->next = st;
	} else {
		l->head = st;
	}
	l->tail = st;
	l->n++;
	st->listed = true;
}

static void kdf_list_remove(struct kdf_list *l, struct kdf_state *st)
{
	if (st->prev != NULL) {
		st->prev->next = st->next;
	} else {
		l->head = st->next;
	}
	if (st->next != NULL) {
		st->next->prev = st->prev;
	} else {
		l->tail = st->prev;
	}
	st->prev = st->next = NULL;
	l->n--;
	st->listed = false;
}

static unsigned kdf_count_user(const struct kdf_list *l, const char *user)
{
	const struct kdf_state *st;
	unsigned n = 0;

	for (st = l->head; st != NULL; st = st->next) {
		n += strcmp(st->user, user) == 0;
	}
	return n;
}

static void *kdf_thread(void *arg)
{
	struct kdf_job *j = arg;
	char done = 'x';

	j->ok =
	    PKCS5_PBKDF2_HMAC(j->password, (int)j->len, j->salt, (int)sizeof(j->salt),
			      (int)j->iterations, EVP_sha512(), (int)sizeof(j->out), j->out) == 1;
	explicit_bzero(j->password, j->len + 1);
	while (write(j->wfd, &done, 1) < 0 && errno == EINTR) {
	}
	return NULL;
}

static void kdf_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			 void *private_data);

/* Start st's thread.  0 or an errno. */
static int kdf_start(struct kdf_state *st)
{
	int err;

	if (pipe2(st->pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
		return errno;
	}
	st->job->wfd = st->pipefd[1];
	st->fde = tevent_add_fd(st->ev, st, st->pipefd[0], TEVENT_FD_READ, kdf_readable, st->req);
	if (st->fde == NULL) {
		return ENOMEM;
	}
	err = pthread_create(&st->thread, NULL, kdf_thread, st->job);
	if (err != 0) {
		return err;
	}
	st->running = true;
	return 0;
}

/* Start waiting jobs, oldest first, while threads are free, skipping those
 * whose user has one running.  A job that cannot start fails (its callback
 * deferred to the loop, so no caller's callback runs inside this one). */
static void kdf_pump(struct sectx_kdf_pool *pool)
{
	struct kdf_state *st, *next;

	for (st = pool->waiting.head; st != NULL && pool->running.n < SECTX_OFFLINE_KDF_MAX;
	     st = next) {
		int err;

		next = st->next;
		if (kdf_count_user(&pool->running, st->user) > 0) {
			continue;
		}
		kdf_list_remove(&pool->waiting, st);
		err = kdf_start(st);
		if (err != 0) {
			SECTX_ERROR("cannot start a KDF thread: %s", strerror(err));
			tevent_req_defer_callback(st->req, st->ev);
			tevent_req_error(st->req, err);
			continue;
		}
		kdf_list_add(&pool->running, st);
	}
}

static void kdf_finish_thread(struct kdf_state *st)
{
	if (st->running) {
		pthread_join(st->thread, NULL);
		st->running = false;
	}
	if (st->listed) {
		kdf_list_remove(&st->pool->running, st);
	}
}

static int kdf_state_destructor(struct kdf_state *st);

/* An orphan's thread has finished: join it (it is past its last write, so
 * this does not wait for a KDF) and give its slot back. */
static void kdf_orphan_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
				void *private_data)
{
	struct kdf_state *o = talloc_get_type_abort(private_data, struct kdf_state);
	char c;

	if (read(o->pipefd[0], &c, 1) < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	talloc_free(o);
}

/*
 * st's request is being freed (its client went away) while its thread runs.
 * Joining here would hold the event loop for the rest of the KDF (seconds
 * with a high [offline] kdf_iterations), and a user could then stall every
 * login by starting and cancelling offline logins.  Instead the thread, its
 * job and its pipe move to an orphan owned by the pool, which keeps the
 * thread's place in the running list (so cancelled KDFs still count against
 * SECTX_OFFLINE_KDF_MAX and the user's one-at-a-time rule) until the thread
 * reports, then joins it and scrubs the job.  Returns false if out of memory
 * (the caller then joins, as before).
 */
static bool kdf_orphan(struct kdf_state *st)
{
	struct kdf_state *o = talloc_zero(st->pool, struct kdf_state);

	if (o == NULL || (o->user = talloc_strdup(o, st->user)) == NULL) {
		talloc_free(o);
		return false;
	}
	o->pool = st->pool;
	o->ev = st->ev;
	o->pipefd[0] = st->pipefd[0];
	o->pipefd[1] = st->pipefd[1];
	o->fde = tevent_add_fd(o->ev, o, o->pipefd[0], TEVENT_FD_READ, kdf_orphan_readable, o);
	if (o->fde == NULL) {
		talloc_free(o);
		return false;
	}
	o->job = st->job;
	o->thread = st->thread;
	o->running = true;
	o->orphan = true;
	talloc_set_destructor(o, kdf_state_destructor);
	kdf_list_remove(&st->pool->running, st);
	kdf_list_add(&o->pool->running, o);
	st->job = NULL;
	st->running = false;
	st->pipefd[0] = st->pipefd[1] = -1;
	return true;
}

static int kdf_state_destructor(struct kdf_state *st)
{
	bool was_running = st->running;

	TALLOC_FREE(st->fde);
	if (st->listed && !st->running) {
		kdf_list_remove(&st->pool->waiting, st); /* never started */
	} else if (st->running && !st->orphan && st->pool != NULL && kdf_orphan(st)) {
		was_running = false; /* its thread still holds the slot, as an orphan */
	} else {
		kdf_finish_thread(st); /* only at stop, or out of memory */
	}
	if (st->job != NULL) {
		if (st->job->password != NULL) {
			explicit_bzero(st->job->password, st->job->len + 1);
			free(st->job->password);
		}
		explicit_bzero(st->job, sizeof(*st->job));
		free(st->job);
	}
	explicit_bzero(st->out, sizeof(st->out));
	if (st->pipefd[0] >= 0) {
		close(st->pipefd[0]);
	}
	if (st->pipefd[1] >= 0) {
		close(st->pipefd[1]);
	}
	if (was_running && st->pool != NULL) {
		kdf_pump(st->pool); /* a thread is free */
	}
	return 0;
}

static void kdf_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			 void *private_data)
{
	struct tevent_req *req = talloc_get_type_abort(private_data, struct tevent_req);
	struct kdf_state *st = tevent_req_data(req, struct kdf_state);
	char c;

	if (read(st->pipefd[0], &c, 1) < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	TALLOC_FREE(st->fde);
	kdf_finish_thread(st);
	if (st->pool != NULL) {
		kdf_pump(st->pool);
	}
	if (!st->job->ok) {
		tevent_req_error(req, EIO);
		return;
	}
	memcpy(st->out, st->job->out, sizeof(st->out));
	explicit_bzero(st->job->out, sizeof(st->job->out));
	tevent_req_done(req);
}

/* The pool goes (the subsystem stops): the jobs still waiting fail, the
 * running ones finish on their own and are joined when their requests are
 * freed; none of them touches the pool again. */
static int kdf_pool_destructor(struct sectx_kdf_pool *pool)
{
	struct kdf_state *st;

	while ((st = pool->waiting.head) != NULL) {
		kdf_list_remove(&pool->waiting, st);
		st->pool = NULL;
		tevent_req_defer_callback(st->req, st->ev);
		tevent_req_error(st->req, ECANCELED);
	}
	while ((st = pool->running.head) != NULL) {
		kdf_list_remove(&pool->running, st);
		st->pool = NULL;
	}
	return 0;
}

struct sectx_kdf_pool *sectx_kdf_pool_new(TALLOC_CTX *mem_ctx)
{
	struct sectx_kdf_pool *pool = talloc_zero(mem_ctx, struct sectx_kdf_pool);

	if (pool != NULL) {
		talloc_set_destructor(pool, kdf_pool_destructor);
	}
	return pool;
}

struct tevent_req *sectx_kdf_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				  struct sectx_kdf_pool *pool, const char *user,
				  const char *password, size_t password_len, const uint8_t *salt,
				  unsigned iterations)
{
	struct tevent_req *req;
	struct kdf_state *st;
	unsigned mine;
	bool wait;
	int err;

	req = tevent_req_create(mem_ctx, &st, struct kdf_state);
	if (req == NULL) {
		return NULL;
	}
	st->pipefd[0] = st->pipefd[1] = -1;
	st->pool = pool;
	st->ev = ev;
	st->req = req;
	talloc_set_destructor(st, kdf_state_destructor);
	if (password_len > SECTX_PASSWORD_MAX) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	st->user = talloc_strdup(st, user);
	if (tevent_req_nomem(st->user, req)) {
		return tevent_req_post(req, ev);
	}
	mine = kdf_count_user(&pool->running, user) + kdf_count_user(&pool->waiting, user);
	if (mine >= SECTX_OFFLINE_KDF_USER_MAX) {
		SECTX_WARN("password hash for %s refused: %u of that user's are running or "
			   "waiting already",
			   user, mine);
		tevent_req_error(req, EBUSY);
		return tevent_req_post(req, ev);
	}
	wait = pool->running.n >= SECTX_OFFLINE_KDF_MAX || mine > 0;
	if (wait && pool->waiting.n >= SECTX_OFFLINE_KDF_QUEUE_MAX) {
		SECTX_WARN("password hash for %s refused: %u running and %u waiting already", user,
			   pool->running.n, pool->waiting.n);
		tevent_req_error(req, EBUSY);
		return tevent_req_post(req, ev);
	}
	st->job = calloc(1, sizeof(*st->job));
	if (st->job == NULL || (st->job->password = malloc(password_len + 1)) == NULL) {
		tevent_req_error(req, ENOMEM);
		return tevent_req_post(req, ev);
	}
	memcpy(st->job->password, password, password_len);
	st->job->password[password_len] = '\0';
	st->job->len = password_len;
	memcpy(st->job->salt, salt, sizeof(st->job->salt));
	st->job->iterations = iterations;
	if (wait) {
		kdf_list_add(&pool->waiting, st); /* its copy scrubbed when freed */
		return req;
	}
	err = kdf_start(st);
	if (err != 0) {
		tevent_req_error(req, err);
		return tevent_req_post(req, ev);
	}
	kdf_list_add(&pool->running, st);
	return req;
}

bool sectx_kdf_waits(struct tevent_req *req)
{
	struct kdf_state *st = tevent_req_data(req, struct kdf_state);

	return st->listed && !st->running;
}

int sectx_kdf_recv(struct tevent_req *req, uint8_t out[SECTX_OFFLINE_HASH_LEN])
{
	struct kdf_state *st = tevent_req_data(req, struct kdf_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	memcpy(out, st->out, SECTX_OFFLINE_HASH_LEN);
	return 0;
}

unsigned sectx_kdf_calibrate(void)
{
	static const uint8_t salt[SECTX_OFFLINE_SALT_LEN];
	const unsigned probe = 2000;
	uint8_t out[SECTX_OFFLINE_HASH_LEN];
	int64_t best = 0;
	uint64_t iter;
	int i;

	for (i = 0; i < 3; i++) {
		struct timespec a, b;
		int64_t ns;

		clock_gettime(CLOCK_MONOTONIC, &a);
		(void)PKCS5_PBKDF2_HMAC("calibration", 11, salt, sizeof(salt), (int)probe,
					EVP_sha512(), sizeof(out), out);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec);
		if (ns > 0 && (best == 0 || ns < best)) {
			best = ns;
		}
	}
	if (best <= 0) {
		best = 1;
	}
	iter = (uint64_t)probe * SECTX_OFFLINE_TARGET_MS * 1000000ull / (uint64_t)best;
	iter = iter / 1000 * 1000;
	if (iter < SECTX_OFFLINE_ITER_MIN) {
		iter = SECTX_OFFLINE_ITER_MIN;
	}
	if (iter > SECTX_OFFLINE_ITER_MAX) {
		iter = SECTX_OFFLINE_ITER_MAX;
	}
	return (unsigned)iter;
}

unsigned sectx_kdf_running(const struct sectx_kdf_pool *pool)
{
	return pool->running.n;
}
