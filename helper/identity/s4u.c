/*
 * identity/s4u.c - existence checks by S4U2Self in a killable worker (see
 * s4u.h): the helper's side.
 *
 * A queue of checks, one outstanding in the worker, a timer per check;
 * workers come from the spawner (the "zygote", forked at start).  The
 * spawner and the workers are in s4u_worker.c; every message to and from
 * them is a frame of the common/proto codec (identity_int.h, wire.c), and
 * an answer that does not decode as the reply to the request outstanding
 * gets the worker killed and replaced.  Who reaches this: service.c, with
 * principals it has validated.  Must never: wait for the worker on the
 * event loop (only the spawner's immediate answer is waited for, bounded),
 * or take a worker's answer for another request than its own.
 */
#include "identity/s4u.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "core/daemon.h"
#include "identity/identity_int.h"
#include "log.h"
#include "proto.h"

#define ZYGOTE_TIMEOUT_MS 2000 /* it only forks: an answer comes at once */

struct s4u_job;

struct id_s4u {
	struct tevent_context *ev;
	char *keytab, *realm, *host_principal;
	uint64_t timeout_ms;
	pid_t zpid; /* the zygote that forks workers */
	int zfd;
	pid_t pid; /* 0: no worker */
	int fd;
	struct tevent_fd *fde;
	struct tevent_timer *timer;
	struct tevent_immediate *im; /* kicks the queue from outside _send */
	bool busy;		     /* a request is out in the worker */
	struct s4u_job *current;     /* its job (NULL if the caller went away) */
	struct s4u_job *head, *tail;
	size_t queued;
	uint32_t seq; /* id of the last request sent (worker or zygote) */
	uint8_t rbuf[ID_S4U_FRAME_MAX];
	size_t rlen;
};

struct s4u_job {
	struct id_s4u *s;
	struct tevent_req *req;
	struct s4u_job *prev, *next;
	bool queued;
	char principal[SECTX_NAME_MAX + 1];
	bool exists;
	char why[ID_S4U_MSG_MAX + 1];
};

/* --- the parent side -------------------------------------------------------------------------- */

static void kick(struct id_s4u *s);
static void worker_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			    void *pvt);

/* --- processes: the zygote and its workers ---------------------------------------------------- */

static void zygote_stop(struct id_s4u *s)
{
	if (s->zfd >= 0) {
		close(s->zfd); /* it exits on EOF */
		s->zfd = -1;
	}
	if (s->zpid > 0) {
		kill(s->zpid, SIGKILL);
		(void)waitpid(s->zpid, NULL, 0);
		s->zpid = 0;
	}
}

static int zygote_start(struct id_s4u *s)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int ret = -errno;

		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (pid == 0) {
		id_s4u_child_setup(sv[1], "sectxd-s4u-spawn");
		id_s4u_zygote_main(3, s->keytab, s->realm, s->host_principal);
	}
	close(sv[1]);
	s->zpid = pid;
	s->zfd = sv[0];
	return 0;
}

/* Ask the zygote for a worker: its pid and our end of its socket.  The
 * zygote answers as soon as it has forked; a bounded wait all the same. */
static int zygote_spawn(struct id_s4u *s, pid_t *pid, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct pollfd pfd = {.fd = s->zfd, .events = POLLIN};
	uint8_t frame[ID_S4U_FRAME_MAX];
	struct msghdr msg = {0};
	struct cmsghdr *cm;
	struct iovec iov;
	uint32_t pid32 = 0, reqid = ++s->seq;
	size_t len = 0;
	int got = -1, ret = -EIO;
	ssize_t n;

	if (s->zfd < 0 || id_wire_spawn_encode(frame, sizeof(frame), reqid, &len) != 0 ||
	    sectx_write_all(s->zfd, frame, len) != 0 || poll(&pfd, 1, ZYGOTE_TIMEOUT_MS) != 1) {
		return -EIO;
	}
	iov.iov_base = frame;
	iov.iov_len = sizeof(frame);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	do {
		n = recvmsg(s->zfd, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
		memcpy(&got, CMSG_DATA(cm), sizeof(int));
	}
	/* the whole answer comes in one piece: it is sent in one and is small */
	if (n <= 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    id_wire_spawned_decode(frame, (size_t)n, reqid, &pid32) != 0 || pid32 == 0 || got < 0) {
		goto done;
	}
	*fd = got;
	*pid = (pid_t)pid32;
	got = -1;
	ret = 0;
done:
	if (got >= 0) {
		close(got);
	}
	return ret;
}

/* Kill the worker (the zygote reaps it). */
static void worker_kill(struct id_s4u *s)
{
	TALLOC_FREE(s->fde);
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		s->pid = 0;
	}
	s->busy = false;
	s->rlen = 0;
	TALLOC_FREE(s->timer);
}

static int worker_spawn(struct id_s4u *s)
{
	pid_t pid = 0;
	int fd = -1, ret;

	ret = zygote_spawn(s, &pid, &fd);
	if (ret != 0) {
		/* The zygote is gone: a new one (from today's sectxd, the
		 * best we can do) and one more try. */
		SECTX_WARN("existence-check spawner did not answer; restarting it");
		zygote_stop(s);
		ret = zygote_start(s);
		if (ret == 0) {
			ret = zygote_spawn(s, &pid, &fd);
		}
		if (ret != 0) {
			return ret;
		}
	}
	s->pid = pid;
	s->fd = fd;
	s->rlen = 0;
	s->fde = tevent_add_fd(s->ev, s, s->fd, TEVENT_FD_READ, worker_readable, s);
	if (s->fde == NULL) {
		worker_kill(s);
		return -ENOMEM;
	}
	SECTX_DEBUG("existence-check worker started (pid %d)", (int)pid);
	return 0;
}

static void job_unqueue(struct s4u_job *j)
{
	struct id_s4u *s = j->s;

	if (!j->queued) {
		return;
	}
	if (j->prev != NULL) {
		j->prev->next = j->next;
	} else {
		s->head = j->next;
	}
	if (j->next != NULL) {
		j->next->prev = j->prev;
	} else {
		s->tail = j->prev;
	}
	j->prev = j->next = NULL;
	j->queued = false;
	s->queued--;
}

static int job_destructor(struct s4u_job *j)
{
	if (j->s != NULL) {
		job_unqueue(j);
		if (j->s->current == j) {
			j->s->current = NULL; /* its answer will be read and dropped */
		}
	}
	return 0;
}

static void finish_current(struct id_s4u *s, int err, bool exists, const char *why)
{
	struct s4u_job *j = s->current;

	s->current = NULL;
	s->busy = false;
	TALLOC_FREE(s->timer);
	if (j != NULL) {
		j->exists = exists;
		snprintf(j->why, sizeof(j->why), "%s", why != NULL ? why : "");
		if (err != 0) {
			tevent_req_error(j->req, err);
		} else {
			tevent_req_done(j->req);
		}
	}
}

static void check_timeout(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			  void *pvt)
{
	struct id_s4u *s = pvt;
	char principal[SECTX_NAME_MAX + 1] = "";

	s->timer = NULL;
	if (s->current != NULL) {
		snprintf(principal, sizeof(principal), "%s", s->current->principal);
	}
	SECTX_WARN("existence check of %s: no answer from the realm within %llu ms; worker "
		   "restarted",
		   principal[0] != '\0' ? principal : "(abandoned request)",
		   (unsigned long long)s->timeout_ms);
	worker_kill(s);
	finish_current(s, ETIMEDOUT, false, "timeout");
	kick(s);
}

static void worker_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			    void *pvt)
{
	struct id_s4u *s = pvt;
	char why[ID_S4U_MSG_MAX + 1];
	uint32_t code = 0;
	size_t need = 0;
	ssize_t n;
	int ret;

	n = read(s->fd, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		return;
	}
	if (n <= 0 || !s->busy) {
		SECTX_WARN("existence-check worker (pid %d) %s; restarting it", (int)s->pid,
			   n <= 0 ? "exited" : "sent an unasked answer");
		worker_kill(s);
		finish_current(s, EHOSTUNREACH, false, "worker exited");
		kick(s);
		return;
	}
	s->rlen += (size_t)n;
	ret = id_wire_frame_need(s->rbuf, s->rlen, sizeof(s->rbuf), &need);
	if (ret == SECTX_ERR_SHORT || (ret == 0 && s->rlen < need)) {
		return;
	}
	if (ret == 0) {
		ret = id_wire_s4u_answer_decode(s->rbuf, s->rlen, s->seq, &code, why, sizeof(why));
	}
	if (ret != 0) {
		worker_kill(s);
		finish_current(s, EHOSTUNREACH, false, "bad answer from the worker");
		kick(s);
		return;
	}
	s->rlen = 0;
	if (code == ID_S4U_ERROR) {
		finish_current(s, EHOSTUNREACH, false, why);
	} else {
		finish_current(s, 0, code == ID_S4U_EXISTS, NULL);
	}
	kick(s);
}

/* Start the next queued check if the worker is free. */
static void kick(struct id_s4u *s)
{
	struct s4u_job *j;
	uint8_t req[ID_S4U_FRAME_MAX];
	size_t len;
	int ret;

	while (!s->busy && s->head != NULL) {
		j = s->head;
		job_unqueue(j);
		if (s->pid == 0) {
			ret = worker_spawn(s);
			if (ret != 0) {
				SECTX_ERROR("cannot start the existence-check worker: %s",
					    strerror(-ret));
				snprintf(j->why, sizeof(j->why), "cannot start the worker");
				tevent_req_error(j->req, EHOSTUNREACH);
				continue;
			}
		}
		len = 0;
		if (id_wire_s4u_check_encode(req, sizeof(req), ++s->seq, j->principal, &len) != 0) {
			snprintf(j->why, sizeof(j->why),
				 "not a principal the worker can be asked about");
			tevent_req_error(j->req, EINVAL);
			continue;
		}
		if (sectx_write_all(s->fd, req, len) != 0) {
			worker_kill(s);
			snprintf(j->why, sizeof(j->why), "worker gone");
			tevent_req_error(j->req, EHOSTUNREACH);
			continue;
		}
		s->busy = true;
		s->current = j;
		s->timer = tevent_add_timer(
		    s->ev, s,
		    tevent_timeval_current_ofs(s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000),
		    check_timeout, s);
		if (s->timer == NULL) {
			worker_kill(s);
			finish_current(s, ENOMEM, false, "out of memory");
		}
	}
}

static void kick_handler(struct tevent_context *ev, struct tevent_immediate *im, void *pvt)
{
	kick(pvt);
}

static int s4u_destructor(struct id_s4u *s)
{
	struct s4u_job *j;

	while ((j = s->head) != NULL) {
		job_unqueue(j);
		j->s = NULL;
	}
	if (s->current != NULL) {
		s->current->s = NULL;
		s->current = NULL;
	}
	worker_kill(s);
	zygote_stop(s);
	return 0;
}

int id_s4u_start(TALLOC_CTX *mem_ctx, struct tevent_context *ev, const char *keytab,
		 const char *realm, const char *host_principal, uint64_t timeout_ms,
		 struct id_s4u **out)
{
	struct id_s4u *s;
	int ret;

	s = talloc_zero(mem_ctx, struct id_s4u);
	if (s == NULL) {
		return -ENOMEM;
	}
	s->ev = ev;
	s->fd = s->zfd = -1;
	s->timeout_ms = timeout_ms;
	s->keytab = talloc_strdup(s, keytab);
	s->realm = talloc_strdup(s, realm);
	s->host_principal = talloc_strdup(s, host_principal != NULL ? host_principal : "");
	s->im = tevent_create_immediate(s);
	if (s->keytab == NULL || s->realm == NULL || s->host_principal == NULL || s->im == NULL) {
		talloc_free(s);
		return -ENOMEM;
	}
	talloc_set_destructor(s, s4u_destructor);
	ret = zygote_start(s);
	if (ret == 0) {
		ret = worker_spawn(s);
	}
	if (ret != 0) {
		talloc_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void id_s4u_stop(struct id_s4u *s)
{
	if (s != NULL) {
		worker_kill(s);
	}
}

struct tevent_req *id_s4u_check_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				     struct id_s4u *s, const char *principal)
{
	struct tevent_req *req;
	struct s4u_job *j;

	req = tevent_req_create(mem_ctx, &j, struct s4u_job);
	if (req == NULL) {
		return NULL;
	}
	j->s = s;
	j->req = req;
	if (strlen(principal) > SECTX_NAME_MAX || principal[0] == '\0') {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	if (s->queued >= ID_S4U_QUEUE_MAX) {
		tevent_req_error(req, EBUSY);
		return tevent_req_post(req, ev);
	}
	snprintf(j->principal, sizeof(j->principal), "%s", principal);
	talloc_set_destructor(j, job_destructor);
	j->queued = true;
	j->prev = s->tail;
	if (s->tail != NULL) {
		s->tail->next = j;
	} else {
		s->head = j;
	}
	s->tail = j;
	s->queued++;
	/* never complete the request inside _send: kick from the loop */
	tevent_schedule_immediate(s->im, ev, kick_handler, s);
	return req;
}

int id_s4u_check_recv(struct tevent_req *req, bool *exists, const char **why)
{
	struct s4u_job *j = tevent_req_data(req, struct s4u_job);
	int err;

	*why = j->why;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*exists = j->exists;
	return 0;
}
