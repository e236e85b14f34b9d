/*
 * core/worker.c - one blocking call in a forked worker process, killed at its
 * deadline (worker.h).
 *
 * For the libkrb5 calls with no step API and no bound of their own: the
 * kpasswd exchange (login/passwd.c) and the renewal of a TGT (sessions/renew_worker.c).  The
 * helper forks a worker for the call; the worker runs the caller's function,
 * writes its answer to a pipe and exits; the loop reads that answer as it
 * comes and kills the worker at the deadline or when the request is freed.
 *
 * Must never: run in the child anything but the given function (the child
 * returns into no loop, no talloc destructor, no atexit handler: it
 * _exit()s); leak a child (every exit path of the request reaps it, killing
 * it first if it is still there, and the child dies with the helper:
 * PR_SET_PDEATHSIG); block the loop (the answer is read only when the pipe is
 * readable; a worker is reaped with WNOHANG only, and one killed but not yet
 * gone, say in an uninterruptible sleep on a dead NFS server, is handed to a
 * reaper that polls it from a timer on the event context until it is).
 *
 * Fork safety: sectxd has threads (the KDF of cached credentials runs on one,
 * helper/offline_cache.c), and fork copies only the thread that forks.  A
 * lock another thread held at that moment stays held in the child forever:
 * glibc's malloc takes care of its own, OpenSSL does not (a PBKDF2 in flight
 * holds its locks).  So the child function must not call into OpenSSL (MIT
 * libk5crypto here uses its built-in crypto, not OpenSSL) nor take any other
 * lock the helper's threads use; if it did and deadlocked, the deadline kill
 * bounds the damage to a failed call.  The child gets a copy of the helper's
 * memory, secrets included: it must not write anything but its answer, and
 * the caller scrubs its own copy of what it passed as soon as this returns.
 */
#include "core/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "core/daemon.h"

struct worker_state {
	struct tevent_context *ev; /* for the reaper of a worker killed but not yet gone */
	pid_t pid;		   /* 0 once reaped or handed to the reaper */
	int fd;			   /* read end of the answer pipe, -1 once closed */
	struct tevent_fd *fde;
	struct tevent_timer *te; /* the deadline */
	uint8_t *buf;		 /* max + 1 bytes, scrubbed when freed: may hold a TGT */
	size_t max, got;
};

static int scrub_answer(uint8_t *b)
{
	explicit_bzero(b, talloc_get_size(b));
	return 0;
}

/* A killed worker not gone yet: polled until waitpid has it, on a timer
 * owned by the event context (so it outlives the request that freed it). */
struct worker_reaper {
	pid_t pid;
	unsigned polls;
};

#define REAP_POLL_MS 10

/* 1 once pid is reaped (or is not our child any more), 0 while it lives. */
static int reap_now(pid_t pid)
{
	int status;
	pid_t r;

	do {
		r = waitpid(pid, &status, WNOHANG);
	} while (r < 0 && errno == EINTR);
	return r != 0;
}

static void reaper_poll(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			void *private_data)
{
	struct worker_reaper *rp = talloc_get_type_abort(private_data, struct worker_reaper);

	(void)te;
	(void)now;
	if (reap_now(rp->pid)) {
		talloc_free(rp);
		return;
	}
	if (++rp->polls == 1000) { /* 10 s: worth a line, once */
		SECTX_WARN("worker process %d was killed but has not exited after 10 s; still "
			   "waiting for it",
			   (int)rp->pid);
	}
	if (tevent_add_timer(ev, rp, tevent_timeval_current_ofs(0, REAP_POLL_MS * 1000),
			     reaper_poll, rp) == NULL) {
		talloc_free(rp); /* out of memory: a zombie until sectxd exits */
	}
}

/* Stop listening; kill the worker if it is still there and reap it, now if
 * it is gone already, else from the reaper's timer. */
static void worker_stop(struct worker_state *st)
{
	struct worker_reaper *rp;

	TALLOC_FREE(st->fde);
	TALLOC_FREE(st->te);
	if (st->fd >= 0) {
		close(st->fd);
		st->fd = -1;
	}
	if (st->pid <= 0) {
		return;
	}
	kill(st->pid, SIGKILL);
	if (!reap_now(st->pid)) {
		rp = talloc_zero(st->ev, struct worker_reaper);
		if (rp != NULL) {
			rp->pid = st->pid;
			if (tevent_add_timer(st->ev, rp,
					     tevent_timeval_current_ofs(0, REAP_POLL_MS * 1000),
					     reaper_poll, rp) == NULL) {
				talloc_free(rp); /* out of memory: a zombie until sectxd exits */
			}
		}
	}
	st->pid = 0;
}

static int worker_destructor(struct worker_state *st)
{
	worker_stop(st);
	return 0;
}

/* In the child: only the caller's function, then _exit.  Never returns. */
static void worker_child(sectx_worker_fn child_fn, void *child_arg, const int pfd[2], pid_t helper)
    __attribute__((noreturn));
static void worker_child(sectx_worker_fn child_fn, void *child_arg, const int pfd[2], pid_t helper)
{
	close(pfd[0]);
	/* never outlive the helper (kill -9 of sectxd): the answer has nowhere to go */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != helper) {
		_exit(1);
	}
	if (pfd[1] != SECTX_WORKER_FD && dup2(pfd[1], SECTX_WORKER_FD) < 0) {
		_exit(1);
	}
	close_range(SECTX_WORKER_FD + 1, ~0u, 0);
	child_fn(child_arg, SECTX_WORKER_FD);
	_exit(0);
}

static void worker_timedout(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			    void *private_data)
{
	struct tevent_req *req = talloc_get_type_abort(private_data, struct tevent_req);
	struct worker_state *st = tevent_req_data(req, struct worker_state);

	(void)ev;
	(void)te;
	(void)now;
	st->te = NULL; /* tevent frees it */
	worker_stop(st);
	tevent_req_error(req, ETIMEDOUT);
}

static void worker_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			    void *private_data)
{
	struct tevent_req *req = talloc_get_type_abort(private_data, struct tevent_req);
	struct worker_state *st = tevent_req_data(req, struct worker_state);
	ssize_t n = read(st->fd, st->buf + st->got, st->max - st->got);
	int status;

	(void)ev;
	(void)fde;
	(void)flags;
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		return;
	}
	if (n < 0) {
		SECTX_ERROR("cannot read the answer of worker process %d: %s", (int)st->pid,
			    strerror(errno));
		worker_stop(st);
		tevent_req_error(req, EIO);
		return;
	}
	if (n > 0) {
		st->got += (size_t)n;
		if (st->got < st->max) {
			return;
		}
	}
	/* EOF (or a full buffer): the worker has said what it will say.  It
	 * exits now; if it has not yet, the destructor kills and reaps it. */
	TALLOC_FREE(st->fde);
	TALLOC_FREE(st->te);
	close(st->fd);
	st->fd = -1;
	if (waitpid(st->pid, &status, WNOHANG) == st->pid) {
		st->pid = 0;
	}
	st->buf[st->got] = '\0';
	tevent_req_done(req);
}

struct tevent_req *sectx_worker_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				     sectx_worker_fn child_fn, void *child_arg, size_t answer_max,
				     int64_t deadline)
{
	struct tevent_req *req;
	struct worker_state *st;
	int64_t left = deadline - sectx_now_ms();
	int pfd[2], flags;
	pid_t helper, pid;

	req = tevent_req_create(mem_ctx, &st, struct worker_state);
	if (req == NULL) {
		return NULL;
	}
	st->fd = -1;
	st->ev = ev;
	talloc_set_destructor(st, worker_destructor);
	if (child_fn == NULL || answer_max == 0 || answer_max > SECTX_WORKER_ANSWER_MAX) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	st->max = answer_max;
	st->buf = talloc_size(st, answer_max + 1);
	if (tevent_req_nomem(st->buf, req)) {
		return tevent_req_post(req, ev);
	}
	talloc_set_destructor(st->buf, scrub_answer);
	if (left <= 0) {
		tevent_req_error(req, ETIMEDOUT);
		return tevent_req_post(req, ev);
	}
	st->te = tevent_add_timer(
	    ev, st,
	    tevent_timeval_current_ofs((uint32_t)(left / 1000), (uint32_t)(left % 1000) * 1000),
	    worker_timedout, req);
	if (tevent_req_nomem(st->te, req)) {
		return tevent_req_post(req, ev);
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		SECTX_ERROR("cannot start a worker process: pipe: %s", strerror(errno));
		tevent_req_error(req, EIO);
		return tevent_req_post(req, ev);
	}
	helper = getpid();
	pid = fork();
	if (pid == 0) {
		worker_child(child_fn, child_arg, pfd, helper);
	}
	close(pfd[1]);
	if (pid < 0) {
		SECTX_ERROR("cannot start a worker process: fork: %s", strerror(errno));
		close(pfd[0]);
		tevent_req_error(req, EIO);
		return tevent_req_post(req, ev);
	}
	st->pid = pid;
	st->fd = pfd[0];
	/* the read end only: the worker's writes may block, the loop's reads never */
	flags = fcntl(st->fd, F_GETFL);
	if (flags < 0 || fcntl(st->fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		SECTX_ERROR("cannot start a worker process: fcntl: %s", strerror(errno));
		tevent_req_error(req, EIO); /* the destructor kills and reaps it */
		return tevent_req_post(req, ev);
	}
	st->fde = tevent_add_fd(ev, st, st->fd, TEVENT_FD_READ, worker_readable, req);
	if (tevent_req_nomem(st->fde, req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

int sectx_worker_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, uint8_t **bytes, size_t *len)
{
	struct worker_state *st = tevent_req_data(req, struct worker_state);
	int err;

	*bytes = NULL;
	*len = 0;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*len = st->got;
	*bytes = talloc_steal(mem_ctx, st->buf); /* its scrubbing destructor goes with it */
	st->buf = NULL;
	return 0;
}

int sectx_worker_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}
