/*
 * ccache_writer/client.c - the helper side of the ccache writer: its writer
 * processes, their queue and the subsystem.
 *
 * Runs in sectxd (root) on the tevent loop, and never blocks it: starts
 * writers (lane 0 at start-up, the others on demand, each forked and
 * re-executed: writer.c), gives each queued job to an idle writer (one of
 * WRITER_LANES; a user has at most one job in flight, so one user's held-up
 * job never delays another user's while a writer is free) as one
 * SOCK_SEQPACKET message, enforces the job's deadline, kills a writer that
 * does not answer or speaks out of turn, notices a dead one (EOF or EPIPE)
 * and starts a new one for the next job.  The requests themselves (the
 * _send/_recv functions) are in requests.c.
 *
 * Who can reach it: the helper's own code, through the API of
 * ccache_writer.h; and each writer, through its end of a private
 * socketpair, whose answers are decoded as untrusted bytes (wire.c).
 *
 * Never: wait for a writer on the loop (a killed one is reaped from a
 * timer; only stopping the subsystem waits, a second at most), give a job
 * to a writer before the previous answer is read, or keep a job's frame
 * (credentials) once the socket took it: it is scrubbed when freed.  The
 * first writer is forked before the helper holds secrets; a restarted one
 * is forked from the helper as it then is, but re-executes at once, so it
 * keeps none of the helper's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "core/daemon.h"
#include "ccache_writer/ccache_writer_int.h"

#define WRITER_STOP_GRACE_MS 1000 /* a stopped writer gets this long to exit */
#define WRITER_REAP_POLL_MS  50	  /* retry of waitpid for a killed writer */

/* A killed writer not yet reaped. */
struct writer_corpse {
	pid_t pid;
	struct tevent_timer *te;
};

static void writer_kick(struct sectx_writer *w);
static void writer_kick_handler(struct tevent_context *ev, struct tevent_immediate *im,
				void *private_data);
static void writer_fd_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			      void *private_data);

/* The tevent time of deadline_ms (sectx_now_ms scale); now if it passed. */
static struct timeval tv_at(int64_t deadline_ms)
{
	int64_t left = deadline_ms - sectx_now_ms();

	if (left < 0) {
		left = 0;
	}
	return tevent_timeval_current_ofs((uint32_t)(left / 1000), (uint32_t)(left % 1000) * 1000);
}

static void log_exit(pid_t pid, int status, const char *how)
{
	if (WIFSIGNALED(status)) {
		SECTX_INFO("ccache writer (pid %d) %s: killed by signal %d", (int)pid, how,
			   WTERMSIG(status));
	} else {
		SECTX_INFO("ccache writer (pid %d) %s: exit status %d", (int)pid, how,
			   WEXITSTATUS(status));
	}
}

static int corpse_destructor(struct writer_corpse *c)
{
	int status;

	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
		}
	}
	return 0;
}

static void corpse_poll(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			void *private_data)
{
	struct writer_corpse *c = talloc_get_type_abort(private_data, struct writer_corpse);
	int status = 0;
	pid_t r;

	(void)te;
	(void)now;
	c->te = NULL;
	r = waitpid(c->pid, &status, WNOHANG);
	if (r == c->pid || (r < 0 && errno != EINTR)) {
		if (r == c->pid) {
			log_exit(c->pid, status, "reaped");
		}
		c->pid = -1;
		talloc_free(c);
		return;
	}
	c->te = tevent_add_timer(ev, c, tevent_timeval_current_ofs(0, WRITER_REAP_POLL_MS * 1000),
				 corpse_poll, c);
	/* If that failed, the destructor reaps it at stop. */
}

/* Reap a killed writer now if it is gone, else from a timer: never wait. */
static void reap_later(struct sectx_writer *w, pid_t pid)
{
	struct writer_corpse *c;
	int status = 0;
	pid_t r;

	r = waitpid(pid, &status, WNOHANG);
	if (r == pid) {
		log_exit(pid, status, "reaped");
		return;
	}
	c = talloc_zero(w, struct writer_corpse);
	if (c == NULL) {
		SECTX_ERROR("ccache writer (pid %d) cannot be reaped: out of memory", (int)pid);
		return;
	}
	c->pid = pid;
	talloc_set_destructor(c, corpse_destructor);
	c->te = tevent_add_timer(
	    w->ev, c, tevent_timeval_current_ofs(0, WRITER_REAP_POLL_MS * 1000), corpse_poll, c);
}

/* Forget the writer process: close the pair, kill it, reap it.  The job in
 * flight (if any) is the caller's business. */
static void writer_abandon(struct writer_lane *l, const char *why)
{
	pid_t pid = l->pid;

	if (l->fd < 0) {
		return;
	}
	SECTX_WARN("ccache writer (pid %d) %s; a new one starts with the next job", (int)pid, why);
	TALLOC_FREE(l->fde);
	close(l->fd);
	l->fd = -1;
	l->pid = -1;
	TALLOC_FREE(l->busy_te);
	l->busy_reqid = 0;
	kill(pid, SIGKILL); /* not reaped yet, so the pid is still ours */
	reap_later(l->w, pid);
}

static int writer_spawn(struct writer_lane *l)
{
	struct sectx_writer *w = l->w;
	int bufsz = (int)(2 * SECTX_FRAME_MAX);
	pid_t helper = getpid(), pid;
	int sv[2], fl, ret;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		ret = -errno;
		SECTX_ERROR("cannot start the ccache writer: socketpair: %s", strerror(-ret));
		return ret;
	}
	/* One message holds a whole job; make sure the socket takes it. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz)) != 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz)) != 0) {
		SECTX_DEBUG("ccache writer: cannot raise SO_SNDBUF: %s", strerror(errno));
	}
	fl = fcntl(sv[0], F_GETFL);
	if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) != 0) {
		ret = -errno;
		SECTX_ERROR("cannot start the ccache writer: fcntl: %s", strerror(-ret));
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		SECTX_ERROR("cannot start the ccache writer: fork: %s", strerror(-ret));
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (pid == 0) {
		close(sv[0]);
		ccw_writer_exec(sv[1], helper);
	}
	close(sv[1]);
	l->fde = tevent_add_fd(w->ev, w, sv[0], TEVENT_FD_READ, writer_fd_handler, l);
	if (l->fde == NULL) {
		close(sv[0]);
		kill(pid, SIGKILL);
		reap_later(w, pid);
		SECTX_ERROR("cannot start the ccache writer: out of memory");
		return -ENOMEM;
	}
	l->fd = sv[0];
	l->pid = pid;
	l->starts++;
	if (l->starts == 1 && l->idx == 0) {
		SECTX_INFO("ccache writer started (pid %d)", (int)pid);
	} else if (l->starts == 1) {
		SECTX_INFO("ccache writer started (pid %d, lane %u: another user's job is running)",
			   (int)pid, l->idx);
	} else {
		SECTX_WARN("ccache writer restarted (pid %d, lane %u, start %u)", (int)pid, l->idx,
			   l->starts);
	}
	return 0;
}

/* --- jobs ------------------------------------------------------------------ */

static void queue_unlink(struct sectx_writer *w, struct writer_state *s)
{
	if (s->prev != NULL) {
		s->prev->next = s->next;
	} else {
		w->head = s->next;
	}
	if (s->next != NULL) {
		s->next->prev = s->prev;
	} else {
		w->tail = s->prev;
	}
	s->prev = s->next = NULL;
}

/* Take s off the writer (queue or in flight).  Leaves the writer busy if s
 * had reached it: its answer is read and dropped. */
void ccw_job_detach(struct writer_state *s)
{
	struct sectx_writer *w = s->w;

	TALLOC_FREE(s->te);
	if (w == NULL) {
		s->phase = JOB_DONE;
		return;
	}
	if (s->phase == JOB_QUEUED) {
		queue_unlink(w, s);
	} else if (s->lane != NULL && s->lane->active == s) {
		struct writer_lane *l = s->lane;

		l->active = NULL;
		if (s->phase == JOB_SENDING) {
			/* Nothing reached the writer: it is free again. */
			l->busy_reqid = 0;
			TALLOC_FREE(l->busy_te);
			if (l->fde != NULL) {
				TEVENT_FD_NOT_WRITEABLE(l->fde);
			}
			if (!w->stopping) {
				tevent_schedule_immediate(w->kick_im, w->ev, writer_kick_handler,
							  w);
			}
		}
	}
	s->w = NULL;
	s->lane = NULL;
	s->phase = JOB_DONE;
}

/* The job in flight is over for the writer: it may take the next one. */
static struct writer_state *writer_release(struct writer_lane *l)
{
	struct writer_state *s = l->active;

	l->active = NULL;
	l->busy_reqid = 0;
	TALLOC_FREE(l->busy_te);
	if (s != NULL) {
		s->lane = NULL;
	}
	return s;
}

/* Send the active job's frame.  Never blocks: on EAGAIN it waits for the
 * socket.  A writer found dead before the job reached it is replaced once. */
static void writer_send(struct writer_lane *l)
{
	struct sectx_writer *w = l->w;
	struct writer_state *s = l->active;
	ssize_t n;
	int err;

	if (s == NULL || s->phase != JOB_SENDING) {
		if (l->fde != NULL) {
			TEVENT_FD_NOT_WRITEABLE(l->fde);
		}
		return;
	}
	n = send(l->fd, s->frame, s->frame_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)s->frame_len) {
		s->phase = JOB_ACTIVE;
		TEVENT_FD_NOT_WRITEABLE(l->fde);
		TALLOC_FREE(s->frame); /* scrubbed: the credentials leave the helper */
		return;
	}
	err = n < 0 ? errno : EIO;
	if (err == EAGAIN || err == EINTR) {
		TEVENT_FD_WRITEABLE(l->fde);
		return;
	}
	s = writer_release(l);
	writer_abandon(l, err == EPIPE || err == ECONNRESET ? "is gone" : "cannot be written to");
	if (!s->resent && (err == EPIPE || err == ECONNRESET)) {
		/* The job never reached it: give it to the next writer. */
		s->resent = true;
		s->phase = JOB_QUEUED;
		s->prev = NULL;
		s->next = w->head;
		if (w->head != NULL) {
			w->head->prev = s;
		} else {
			w->tail = s;
		}
		w->head = s;
	} else {
		s->phase = JOB_DONE;
		ccw_job_fail(s, err, "the writer could not be reached");
	}
	writer_kick(w);
}

static void writer_busy_timeout(struct tevent_context *ev, struct tevent_timer *te,
				struct timeval now, void *private_data)
{
	struct writer_lane *l = private_data;
	struct sectx_writer *w = l->w;
	struct writer_state *s;

	(void)ev;
	(void)te;
	(void)now;
	l->busy_te = NULL;
	s = writer_release(l);
	writer_abandon(l, "did not answer before the job's deadline");
	if (s != NULL) {
		s->phase = JOB_DONE;
		ccw_job_fail(s, ETIMEDOUT, "the writer did not answer in time");
	}
	writer_kick(w);
}

static void writer_read(struct writer_lane *l)
{
	struct sectx_writer *w = l->w;
	uint8_t buf[WRITER_REPLY_MAX];
	struct iovec iov = {buf, sizeof(buf)};
	struct writer_state *s;
	struct outcome out;
	struct msghdr mh;
	char why[128] = "";
	ssize_t n;

	memset(&out, 0, sizeof(out));
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	n = recvmsg(l->fd, &mh, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n == 0) {
		snprintf(why, sizeof(why), "exited");
	} else if (n < 0) {
		snprintf(why, sizeof(why), "cannot be read from (%s)", strerror(errno));
	} else if ((mh.msg_flags & MSG_TRUNC) != 0) {
		snprintf(why, sizeof(why), "sent an oversized answer");
	} else if (l->busy_reqid == 0) {
		snprintf(why, sizeof(why), "spoke out of turn");
	} else if (ccw_outcome_decode(buf, (size_t)n, l->busy_op, l->busy_reqid, &out) != 0) {
		snprintf(why, sizeof(why), "sent a malformed answer");
	}
	s = writer_release(l);
	if (why[0] != '\0') {
		writer_abandon(l, why);
		if (s != NULL) {
			ccw_job_fail(s, n == 0 ? EPIPE : EIO,
				     "the writer went away during the job");
		}
	} else if (s != NULL) {
		ccw_job_done(s, &out);
	} else if (out.err == 0 && out.ccache[0] != '\0') {
		char c[256];

		/* The writer finished a store nobody waits for: say where it went. */
		SECTX_INFO("ccache writer: %s was written for a caller that went away",
			   sectx_log_escape(out.ccache, strlen(out.ccache), c, sizeof(c)));
	} else {
		SECTX_DEBUG("ccache writer: dropped the answer to a job whose caller went away");
	}
	explicit_bzero(&out, sizeof(out));
	explicit_bzero(buf, n > 0 ? (size_t)n : 0);
	writer_kick(w);
}

static void writer_fd_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			      void *private_data)
{
	struct writer_lane *l = private_data;

	(void)ev;
	(void)fde;
	if ((flags & TEVENT_FD_WRITE) != 0) {
		writer_send(l);
		return; /* a pending read is reported again */
	}
	if ((flags & TEVENT_FD_READ) != 0) {
		writer_read(l);
	}
}

/* The lane for a job of uid: NULL if uid has a job in flight (its jobs run in
 * order, one at a time) or no lane is idle; else the first idle lane. */
static struct writer_lane *idle_lane_for(struct sectx_writer *w, unsigned uid)
{
	struct writer_lane *idle = NULL;
	unsigned i;

	for (i = 0; i < WRITER_LANES; i++) {
		struct writer_lane *l = &w->lanes[i];

		if (l->busy_reqid != 0 && l->busy_uid == uid) {
			return NULL;
		}
		if (l->busy_reqid == 0 && idle == NULL) {
			idle = l;
		}
	}
	return idle;
}

/* Give idle lanes the first queued jobs of users who have none in flight,
 * starting their writers if needed. */
static void writer_kick(struct sectx_writer *w)
{
	struct writer_state *s, *next;

	for (s = w->head; s != NULL && !w->stopping; s = next) {
		struct writer_lane *l;
		int ret;

		next = s->next;
		if (sectx_now_ms() >= s->deadline) {
			queue_unlink(w, s);
			TALLOC_FREE(s->te);
			s->phase = JOB_DONE;
			ccw_job_fail(s, ETIMEDOUT, "its deadline passed in the queue");
			next = w->head; /* job_fail may have run callbacks: start over */
			continue;
		}
		l = idle_lane_for(w, s->uid);
		if (l == NULL) {
			continue;
		}
		queue_unlink(w, s);
		TALLOC_FREE(s->te);
		next = w->head;
		if (l->fd < 0) {
			ret = writer_spawn(l);
			if (ret != 0) {
				s->phase = JOB_DONE;
				ccw_job_fail(s, -ret, "the writer cannot be started");
				next = w->head;
				continue;
			}
		}
		l->busy_te = tevent_add_timer(w->ev, w, tv_at(s->deadline), writer_busy_timeout, l);
		if (l->busy_te == NULL) {
			s->phase = JOB_DONE;
			ccw_job_fail(s, ENOMEM, NULL);
			next = w->head;
			continue;
		}
		l->busy_reqid = s->reqid;
		l->busy_op = s->op;
		l->busy_uid = s->uid;
		l->active = s;
		s->lane = l;
		s->phase = JOB_SENDING;
		writer_send(l);
		next = w->head; /* the queue may have changed (a resend goes to its head) */
	}
}

static void writer_kick_handler(struct tevent_context *ev, struct tevent_immediate *im,
				void *private_data)
{
	(void)ev;
	(void)im;
	writer_kick(talloc_get_type_abort(private_data, struct sectx_writer));
}

static void job_queue_timeout(struct tevent_context *ev, struct tevent_timer *te,
			      struct timeval now, void *private_data)
{
	struct writer_state *s = talloc_get_type_abort(private_data, struct writer_state);

	(void)ev;
	(void)te;
	(void)now;
	s->te = NULL;
	ccw_job_fail(s, ETIMEDOUT, "its deadline passed in the queue");
}

/* Queue s (its frame built) and start it if the writer is idle. */
void ccw_job_enqueue(struct sectx_writer *w, struct writer_state *s, struct tevent_context *ev)
{
	s->w = w;
	s->phase = JOB_QUEUED;
	s->prev = w->tail;
	s->next = NULL;
	if (w->tail != NULL) {
		w->tail->next = s;
	} else {
		w->head = s;
	}
	w->tail = s;
	s->te = tevent_add_timer(ev, s, tv_at(s->deadline), job_queue_timeout, s);
	if (s->te == NULL) {
		ccw_job_fail(s, ENOMEM, NULL);
		return;
	}
	writer_kick(w);
}

/* --- start and stop ---------------------------------------------------------- */

static int writer_destructor(struct sectx_writer *w)
{
	struct writer_state *s;
	int64_t deadline;
	int status = 0;
	unsigned i;
	pid_t pid;

	w->stopping = true;
	while ((s = w->head) != NULL) {
		ccw_job_fail(s, ESHUTDOWN, "the writer is stopping");
	}
	for (i = 0; i < WRITER_LANES; i++) {
		s = writer_release(&w->lanes[i]);
		if (s != NULL) {
			s->phase = JOB_DONE;
			s->w = NULL;
			ccw_job_fail(s, ESHUTDOWN, "the writer is stopping");
		}
	}
	/* Closing the pairs tells the writers to exit; a writer busy with a
	 * job gets a grace period, then SIGKILL (its child follows:
	 * PDEATHSIG). */
	for (i = 0; i < WRITER_LANES; i++) {
		struct writer_lane *l = &w->lanes[i];

		if (l->fd < 0) {
			continue;
		}
		TALLOC_FREE(l->fde);
		close(l->fd);
		l->fd = -1;
	}
	deadline = sectx_now_ms() + WRITER_STOP_GRACE_MS;
	for (i = 0; i < WRITER_LANES; i++) {
		pid = w->lanes[i].pid;
		if (pid < 0) {
			continue;
		}
		w->lanes[i].pid = -1;
		if (ccw_reap_by(pid, deadline, &status)) {
			log_exit(pid, status, "stopped");
		} else {
			SECTX_WARN("ccache writer (pid %d) did not stop within %d ms: killed",
				   (int)pid, WRITER_STOP_GRACE_MS);
		}
	}
	return 0;
}

int sectx_writer_start(TALLOC_CTX *mem_ctx, struct tevent_context *ev, struct sectx_writer **out)
{
	struct sectx_writer *w;
	unsigned i;
	int ret;

	w = talloc_zero(mem_ctx, struct sectx_writer);
	if (w == NULL) {
		return -ENOMEM;
	}
	w->ev = ev;
	for (i = 0; i < WRITER_LANES; i++) {
		w->lanes[i].w = w;
		w->lanes[i].idx = i;
		w->lanes[i].pid = -1;
		w->lanes[i].fd = -1;
	}
	w->kick_im = tevent_create_immediate(w);
	if (w->kick_im == NULL) {
		talloc_free(w);
		return -ENOMEM;
	}
	talloc_set_destructor(w, writer_destructor);
	ret = writer_spawn(&w->lanes[0]);
	if (ret != 0) {
		talloc_free(w);
		return ret;
	}
	*out = w;
	return 0;
}

pid_t sectx_writer_pid(const struct sectx_writer *w)
{
	return w != NULL ? w->lanes[0].pid : -1;
}

/* --- the helper subsystem ------------------------------------------------------ */

static int writer_subsystem_start(struct sectxd_ctx *hctx)
{
	int ret = sectx_writer_start(hctx, hctx->ev, &hctx->writer);

	if (ret != 0) {
		SECTX_ERROR("cannot start the ccache writer: %s", strerror(-ret));
	}
	return ret;
}

static void writer_subsystem_stop(struct sectxd_ctx *hctx)
{
	TALLOC_FREE(hctx->writer);
}

const struct sectxd_subsystem sectxd_writer_subsystem = {
    .name = "ccache writer",
    .start = writer_subsystem_start,
    .stop = writer_subsystem_stop,
};
