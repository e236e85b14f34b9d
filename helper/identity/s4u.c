/*
 * identity/s4u.c - existence checks by S4U2Self in a killable worker (see
 * identity_s4u.h).
 *
 * Parent side: a queue of checks, one outstanding in the worker, a timer per
 * check; workers come from the spawner (the "zygote", forked at start).
 * Worker side: libkrb5 only, reading requests
 * "u32 length + principal" and answering "u32 code + u32 length + message"
 * on its socket.  Who reaches this: identity.c, with principals it has
 * validated; the worker takes nothing else from anyone.  The worker must
 * never outlive sectxd (PR_SET_PDEATHSIG), hold any descriptor but its socket
 * and stderr, or write anything but its socket and stderr.
 */
#include "identity/s4u.h"

#include <errno.h>
#include <fcntl.h>
#include <krb5.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "log.h"
#include "proto.h"
#include "core/daemon.h"

/* S4U2Self.  MIT libkrb5 exports this (krb5_3_MIT, since 1.8; kvno -U and
 * gss_acquire_cred_impersonate_name use it) but declares it only in its
 * private k5-int.h, so we declare it as Samba does. */
krb5_error_code KRB5_CALLCONV krb5_get_credentials_for_user(krb5_context context,
							    krb5_flags options, krb5_ccache ccache,
							    krb5_creds *in_creds,
							    krb5_data *subject_cert,
							    krb5_creds **out_creds);

enum { ANSWER_EXISTS = 0, ANSWER_UNKNOWN = 1, ANSWER_ERROR = 2 };
#define ANSWER_MSG_MAX	  512u
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
	uint8_t rbuf[8 + ANSWER_MSG_MAX];
	size_t rlen;
};

struct s4u_job {
	struct id_s4u *s;
	struct tevent_req *req;
	struct s4u_job *prev, *next;
	bool queued;
	char principal[SECTX_NAME_MAX + 1];
	bool exists;
	char why[ANSWER_MSG_MAX + 1];
};

/* --- the worker ------------------------------------------------------------------------------- */

struct worker {
	krb5_context ctx;
	krb5_keytab kt;
	krb5_principal host;
	krb5_ccache cc;
	time_t tgt_end;
};

static int read_all(int fd, void *p, size_t len)
{
	uint8_t *b = p;

	while (len > 0) {
		ssize_t n = read(fd, b, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static void answer(int fd, uint32_t code, const char *msg)
{
	uint32_t hdr[2];
	size_t len = msg != NULL ? strnlen(msg, ANSWER_MSG_MAX) : 0;

	hdr[0] = code;
	hdr[1] = (uint32_t)len;
	if (sectx_write_all(fd, hdr, sizeof(hdr)) != 0 || sectx_write_all(fd, msg, len) != 0) {
		_exit(1);
	}
}

static void krb5_why(struct worker *w, krb5_error_code code, const char *what, char *why,
		     size_t whylen)
{
	const char *m = krb5_get_error_message(w->ctx, code);

	snprintf(why, whylen, "%s: %s", what, m);
	krb5_free_error_message(w->ctx, m);
}

/* The host principal: as configured, or the first keytab entry of the realm
 * that is not a krbtgt. */
static krb5_error_code find_host(struct worker *w, const char *realm, const char *configured,
				 char *why, size_t whylen)
{
	krb5_kt_cursor cur;
	krb5_keytab_entry ent;
	krb5_error_code code;

	if (configured[0] != '\0') {
		code = krb5_parse_name(w->ctx, configured, &w->host);
		if (code != 0) {
			krb5_why(w, code, "host_principal", why, whylen);
		}
		return code;
	}
	code = krb5_kt_start_seq_get(w->ctx, w->kt, &cur);
	if (code != 0) {
		krb5_why(w, code, "cannot read the keytab", why, whylen);
		return code;
	}
	while ((code = krb5_kt_next_entry(w->ctx, w->kt, &ent, &cur)) == 0) {
		krb5_principal p = ent.principal;
		bool ok = krb5_princ_realm(w->ctx, p)->length == strlen(realm) &&
			  memcmp(krb5_princ_realm(w->ctx, p)->data, realm, strlen(realm)) == 0 &&
			  !(krb5_princ_size(w->ctx, p) >= 1 &&
			    krb5_princ_component(w->ctx, p, 0)->length == 6 &&
			    memcmp(krb5_princ_component(w->ctx, p, 0)->data, "krbtgt", 6) == 0);

		if (ok && w->host == NULL) {
			code = krb5_copy_principal(w->ctx, p, &w->host);
		}
		krb5_free_keytab_entry_contents(w->ctx, &ent);
		if (w->host != NULL || code != 0) {
			break;
		}
	}
	krb5_kt_end_seq_get(w->ctx, w->kt, &cur);
	if (w->host == NULL) {
		snprintf(why, whylen, "no key of realm %s in the keytab", realm);
		return KRB5_KT_NOTFOUND;
	}
	return 0;
}

/* A TGT for the host principal from its key, in a memory ccache. */
static krb5_error_code host_tgt(struct worker *w, char *why, size_t whylen)
{
	krb5_get_init_creds_opt *opt = NULL;
	krb5_creds creds;
	krb5_error_code code;

	memset(&creds, 0, sizeof(creds));
	if (w->cc != NULL && w->tgt_end > time(NULL) + 60) {
		return 0;
	}
	if (w->cc != NULL) {
		krb5_cc_destroy(w->ctx, w->cc);
		w->cc = NULL;
	}
	code = krb5_get_init_creds_opt_alloc(w->ctx, &opt);
	if (code == 0) {
		krb5_get_init_creds_opt_set_forwardable(opt, 0);
		krb5_get_init_creds_opt_set_proxiable(opt, 0);
		code = krb5_get_init_creds_keytab(w->ctx, &creds, w->host, w->kt, 0, NULL, opt);
	}
	if (code != 0) {
		krb5_why(w, code, "cannot get a ticket with the host key", why, whylen);
		goto done;
	}
	code = krb5_cc_new_unique(w->ctx, "MEMORY", NULL, &w->cc);
	if (code == 0) {
		code = krb5_cc_initialize(w->ctx, w->cc, w->host);
	}
	if (code == 0) {
		code = krb5_cc_store_cred(w->ctx, w->cc, &creds);
	}
	if (code != 0) {
		krb5_why(w, code, "cannot keep the host ticket", why, whylen);
		goto done;
	}
	w->tgt_end = creds.times.endtime;
done:
	krb5_free_cred_contents(w->ctx, &creds);
	if (opt != NULL) {
		krb5_get_init_creds_opt_free(w->ctx, opt);
	}
	return code;
}

static uint32_t check_one(struct worker *w, const char *realm, const char *configured,
			  const char *principal, char *why, size_t whylen)
{
	krb5_principal client = NULL;
	krb5_creds in, *out = NULL;
	krb5_error_code code;
	uint32_t result = ANSWER_ERROR;
	int attempt;

	if (w->host == NULL && find_host(w, realm, configured, why, whylen) != 0) {
		return ANSWER_ERROR;
	}
	/* a plain principal: no enterprise name, so no AS-REQ for the user */
	code =
	    krb5_parse_name_flags(w->ctx, principal, KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &client);
	if (code != 0) {
		krb5_why(w, code, "invalid principal", why, whylen);
		return ANSWER_ERROR;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (host_tgt(w, why, whylen) != 0) {
			break;
		}
		memset(&in, 0, sizeof(in));
		in.client = client;
		in.server = w->host;
		code =
		    krb5_get_credentials_for_user(w->ctx, KRB5_GC_NO_STORE, w->cc, &in, NULL, &out);
		if (code == 0) {
			result = ANSWER_EXISTS;
			break;
		}
		if (code == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN) {
			result = ANSWER_UNKNOWN;
			break;
		}
		if (code == KRB5KDC_ERR_CLIENT_REVOKED || code == KRB5KDC_ERR_KEY_EXP) {
			result = ANSWER_EXISTS; /* locked or expired, but known */
			break;
		}
		krb5_why(w, code, "S4U2Self", why, whylen);
		if (code != KRB5KRB_AP_ERR_TKT_EXPIRED && code != KRB5KDC_ERR_TGT_REVOKED) {
			break;
		}
		w->tgt_end = 0; /* our ticket went stale: once more with a fresh one */
	}
	if (out != NULL) {
		krb5_free_creds(w->ctx, out);
	}
	krb5_free_principal(w->ctx, client);
	return result;
}

static void worker_main(int fd, const char *keytab, const char *realm, const char *configured)
{
	struct worker w;
	char why[ANSWER_MSG_MAX + 1];
	char path[4200];
	krb5_error_code code;

	memset(&w, 0, sizeof(w));
	code = krb5_init_context(&w.ctx);
	if (code != 0) {
		_exit(1);
	}
	snprintf(path, sizeof(path), "FILE:%s", keytab);
	code = krb5_kt_resolve(w.ctx, path, &w.kt);
	if (code != 0) {
		_exit(1);
	}
	for (;;) {
		char principal[SECTX_NAME_MAX + 1];
		uint32_t len, result;

		if (read_all(fd, &len, sizeof(len)) != 0 || len == 0 || len > SECTX_NAME_MAX ||
		    read_all(fd, principal, len) != 0) {
			_exit(0); /* the parent closed the socket, or talks nonsense */
		}
		principal[len] = '\0';
		why[0] = '\0';
		result = check_one(&w, realm, configured, principal, why, sizeof(why));
		answer(fd, result, why);
	}
}

/* --- the parent side -------------------------------------------------------------------------- */

static void kick(struct id_s4u *s);
static void worker_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			    void *pvt);

/* --- processes: the zygote and its workers ---------------------------------------------------- */

/* Become a clean child: die with our parent, default signals, nothing
 * blocked, only fd (as 3) and stderr open. */
static void child_setup(int fd, const char *name)
{
	sigset_t none;
	int sig;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP) {
			signal(sig, SIG_DFL);
		}
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (fd != 3 && dup2(fd, 3) != 3) {
		_exit(1);
	}
	close_range(4, ~0U, 0);
	prctl(PR_SET_NAME, name, 0, 0, 0);
}

/* The zygote: forked once, before any request has brought a secret into
 * sectxd, it forks a worker for each byte it reads and passes back the
 * worker's pid and socket (SCM_RIGHTS).  Workers restarted after a kill
 * thus never carry a copy of the helper's later memory.  It reaps them
 * (SIGCHLD ignored) and dies with sectxd. */
static void zygote_main(int fd, const char *keytab, const char *realm, const char *configured)
{
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct msghdr msg = {0};
		struct iovec iov;
		struct cmsghdr *cm;
		uint32_t pid32;
		int sv[2];
		pid_t pid;
		char c;
		ssize_t n;

		do {
			n = read(fd, &c, 1);
		} while (n < 0 && errno == EINTR);
		if (n != 1) {
			_exit(0); /* sectxd closed its end */
		}
		pid32 = 0;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
			sv[0] = sv[1] = -1;
		} else {
			pid = fork();
			if (pid == 0) {
				close(fd);
				close(sv[0]);
				child_setup(sv[1], "sectxd-s4u");
				worker_main(3, keytab, realm, configured);
				_exit(0);
			}
			pid32 = pid > 0 ? (uint32_t)pid : 0;
		}
		iov.iov_base = &pid32;
		iov.iov_len = sizeof(pid32);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (pid32 != 0) {
			memset(&ctl, 0, sizeof(ctl));
			msg.msg_control = ctl.buf;
			msg.msg_controllen = sizeof(ctl.buf);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &sv[0], sizeof(int));
		}
		if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(pid32)) {
			_exit(1);
		}
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
	}
}

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
		child_setup(sv[1], "sectxd-s4u-spawn");
		zygote_main(3, s->keytab, s->realm, s->host_principal);
		_exit(0);
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
	struct msghdr msg = {0};
	struct cmsghdr *cm;
	struct iovec iov;
	uint32_t pid32 = 0;
	char c = 'w';
	ssize_t n;

	if (s->zfd < 0 || write(s->zfd, &c, 1) != 1 || poll(&pfd, 1, ZYGOTE_TIMEOUT_MS) != 1) {
		return -EIO;
	}
	iov.iov_base = &pid32;
	iov.iov_len = sizeof(pid32);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	do {
		n = recvmsg(s->zfd, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	cm = CMSG_FIRSTHDR(&msg);
	if (n != (ssize_t)sizeof(pid32) || pid32 == 0 || cm == NULL ||
	    cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int))) {
		return -EIO;
	}
	memcpy(fd, CMSG_DATA(cm), sizeof(int));
	*pid = (pid_t)pid32;
	return 0;
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
	uint32_t code, len;
	ssize_t n;

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
	if (s->rlen < 8) {
		return;
	}
	memcpy(&code, s->rbuf, 4);
	memcpy(&len, s->rbuf + 4, 4);
	if (len > ANSWER_MSG_MAX || code > ANSWER_ERROR) {
		worker_kill(s);
		finish_current(s, EHOSTUNREACH, false, "bad answer from the worker");
		kick(s);
		return;
	}
	if (s->rlen < 8 + len) {
		return;
	}
	{
		char why[ANSWER_MSG_MAX + 1];

		memcpy(why, s->rbuf + 8, len);
		why[len] = '\0';
		s->rlen = 0;
		if (code == ANSWER_ERROR) {
			finish_current(s, EHOSTUNREACH, false, why);
		} else {
			finish_current(s, 0, code == ANSWER_EXISTS, NULL);
		}
	}
	kick(s);
}

/* Start the next queued check if the worker is free. */
static void kick(struct id_s4u *s)
{
	struct s4u_job *j;
	uint8_t req[4 + SECTX_NAME_MAX];
	uint32_t len;
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
		len = (uint32_t)strlen(j->principal);
		memcpy(req, &len, 4);
		memcpy(req + 4, j->principal, len);
		if (sectx_write_all(s->fd, req, 4 + len) != 0) {
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
