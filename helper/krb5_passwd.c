/*
 * krb5_passwd.c - change a password through kpasswd, in a worker process.
 *
 * The kpasswd protocol has no step API in libkrb5 and its blocking call has
 * no bound, so it runs in a child forked for the change and killed at the
 * deadline; the event loop only reads the child's answer from a pipe.  The
 * child keeps nothing of the helper it does not need: it closes every
 * descriptor but its pipe, uses the kadmin/changepw ticket and the new
 * password it was given, writes "code\ntext" and exits.  The new password is
 * wiped in both processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "krb5_engine.h"
#include "log.h"

#define CHPW_ANSWER_MAX 4096

struct chpw_state {
	pid_t pid;
	int fd;
	struct tevent_fd *fde;
	char buf[CHPW_ANSWER_MAX];
	size_t got;
	int result_code;
	char *text;
};

static int chpw_destructor(struct chpw_state *st)
{
	int status;

	TALLOC_FREE(st->fde);
	if (st->fd >= 0) {
		close(st->fd);
	}
	if (st->pid > 0) {
		kill(st->pid, SIGKILL);
		while (waitpid(st->pid, &status, 0) < 0 && errno == EINTR) {
		}
	}
	return 0;
}

/* In the child: change the password and report.  Never returns. */
static void chpw_child(krb5_context ctx, int fd, krb5_creds *creds, char *newpw)
{
	krb5_data code_string = { 0 }, result_string = { 0 };
	char *message = NULL;
	int code = -1;
	krb5_error_code kerr;

	if (fd != 3) {
		if (dup2(fd, 3) < 0) {
			_exit(1);
		}
	}
	close_range(4, ~0u, 0);
	kerr = krb5_change_password(ctx, creds, newpw, &code, &code_string, &result_string);
	explicit_bzero(newpw, strlen(newpw));
	if (kerr != 0) {
		const char *m = krb5_get_error_message(ctx, kerr);

		dprintf(3, "-1\n%s", m);
		_exit(0);
	}
	if (krb5_chpw_message(ctx, &result_string, &message) == 0 && message != NULL) {
		dprintf(3, "%d\n%s", code, message);
	} else {
		dprintf(3, "%d\n%.*s", code, (int)code_string.length,
			code_string.data != NULL ? code_string.data : "");
	}
	_exit(0);
}

static void chpw_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			  void *private_data)
{
	struct tevent_req *req = private_data;
	struct chpw_state *st = tevent_req_data(req, struct chpw_state);
	ssize_t n = read(st->fd, st->buf + st->got, sizeof(st->buf) - 1 - st->got);
	char *nl;
	int status;

	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		return;
	}
	if (n > 0) {
		st->got += (size_t)n;
		if (st->got < sizeof(st->buf) - 1) {
			return;
		}
	}
	/* EOF (or a full buffer): the child has said what it will say */
	TALLOC_FREE(st->fde);
	st->buf[st->got] = '\0';
	if (waitpid(st->pid, &status, 0) == st->pid) {
		st->pid = 0;
	}
	nl = strchr(st->buf, '\n');
	if (nl == NULL) {
		tevent_req_error(req, EPROTO);
		return;
	}
	*nl = '\0';
	st->result_code = atoi(st->buf);
	st->text = talloc_strdup(st, nl + 1);
	tevent_req_done(req);
}

struct tevent_req *sectx_chpw_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				   struct sectxd_ctx *hctx, krb5_creds *changepw_creds,
				   const char *new_password, size_t new_len, int64_t deadline)
{
	struct tevent_req *req;
	struct chpw_state *st;
	int64_t left = deadline - sectx_now_ms();
	int pfd[2];
	char *pw;

	req = tevent_req_create(mem_ctx, &st, struct chpw_state);
	if (req == NULL) {
		return NULL;
	}
	st->fd = -1;
	talloc_set_destructor(st, chpw_destructor);
	if (left <= 0 ||
	    !tevent_req_set_endtime(req, ev,
				    tevent_timeval_current_ofs(left / 1000, (left % 1000) * 1000))) {
		tevent_req_error(req, ETIMEDOUT);
		return tevent_req_post(req, ev);
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		tevent_req_error(req, errno);
		return tevent_req_post(req, ev);
	}
	pw = strndup(new_password, new_len);
	if (pw == NULL) {
		close(pfd[0]);
		close(pfd[1]);
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	st->pid = fork();
	if (st->pid == 0) {
		close(pfd[0]);
		chpw_child(hctx->krb5->ctx, pfd[1], changepw_creds, pw);
	}
	explicit_bzero(pw, new_len);
	free(pw);
	close(pfd[1]);
	st->fd = pfd[0];
	if (st->pid < 0) {
		st->pid = 0;
		tevent_req_error(req, errno);
		return tevent_req_post(req, ev);
	}
	st->fde = tevent_add_fd(ev, st, st->fd, TEVENT_FD_READ, chpw_readable, req);
	if (tevent_req_nomem(st->fde, req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

int sectx_chpw_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, int *result_code, char **text)
{
	struct chpw_state *st = tevent_req_data(req, struct chpw_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return err;
	}
	*result_code = st->result_code;
	*text = talloc_steal(mem_ctx, st->text);
	return 0;
}
