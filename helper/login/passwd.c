/*
 * login/passwd.c - change a password through kpasswd, in a worker process.
 *
 * The kpasswd protocol has no step API in libkrb5 and its blocking call has
 * no bound, so it runs in a worker forked for the change and killed at the
 * deadline (worker.c); the event loop only reads the worker's answer.  The
 * worker keeps nothing of the helper it does not need: every descriptor but
 * its pipe is closed; it uses the kadmin/changepw ticket and the new password
 * it was given, writes its answer (result code and text: one frame of the
 * common/proto codec, passwd_wire.c) and exits.  The new password is wiped in
 * both processes.  The answer is decoded as untrusted input: the worker has
 * talked to a server.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "login/login_int.h"
#include "log.h"
#include "core/worker.h"

struct chpw_state {
	int result_code;
	char *text;
};

/* What the worker needs: its copy of the helper's memory holds the rest. */
struct chpw_child_arg {
	krb5_context ctx;
	krb5_creds *creds;
	char *newpw; /* malloc'd copy, wiped in both processes */
};

/* In the worker: change the password and report on fd. */
static void chpw_child(void *arg, int fd)
{
	struct chpw_child_arg *a = arg;
	krb5_data code_string = {0}, result_string = {0};
	uint8_t answer[SECTX_CHPW_ANSWER_MAX];
	const char *text;
	size_t text_len, len = 0;
	char *message = NULL;
	int code = -1;
	krb5_error_code kerr;

	kerr =
	    krb5_change_password(a->ctx, a->creds, a->newpw, &code, &code_string, &result_string);
	explicit_bzero(a->newpw, strlen(a->newpw));
	if (kerr != 0) {
		code = -1;
		text = krb5_get_error_message(a->ctx, kerr);
		text_len = text != NULL ? strlen(text) : 0;
	} else if (krb5_chpw_message(a->ctx, &result_string, &message) == 0 && message != NULL) {
		text = message;
		text_len = strlen(message);
	} else {
		text = code_string.data;
		text_len = code_string.data != NULL ? code_string.length : 0;
	}
	/* nothing written (a code out of range) reads as a malformed answer */
	if (sectx_chpw_answer_encode(answer, sizeof(answer), code, text, text_len, &len) == 0) {
		(void)sectx_worker_write(fd, answer, len);
	}
}

static void chpw_answered(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct chpw_state *st = tevent_req_data(req, struct chpw_state);
	char text[SECTX_CHPW_TEXT_MAX + 1];
	uint8_t *answer = NULL;
	size_t len = 0;
	int err;

	err = sectx_worker_recv(subreq, st, &answer, &len);
	TALLOC_FREE(subreq);
	if (err != 0) {
		tevent_req_error(req, -err);
		return;
	}
	err = sectx_chpw_answer_decode(answer, len, &st->result_code, text, sizeof(text));
	talloc_free(answer);
	if (err != 0) {
		SECTX_DEBUG("the kpasswd worker's answer (%zu bytes) is malformed: %s", len,
			    sectx_strerror(err));
		tevent_req_error(req, EPROTO);
		return;
	}
	st->text = talloc_strdup(st, text);
	if (tevent_req_nomem(st->text, req)) {
		return;
	}
	tevent_req_done(req);
}

struct tevent_req *sectx_chpw_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				   struct sectxd_ctx *hctx, krb5_creds *changepw_creds,
				   const char *new_password, size_t new_len, int64_t deadline)
{
	struct tevent_req *req, *subreq;
	struct chpw_state *st;
	struct chpw_child_arg arg = {.ctx = hctx->krb5->ctx, .creds = changepw_creds};

	req = tevent_req_create(mem_ctx, &st, struct chpw_state);
	if (req == NULL) {
		return NULL;
	}
	arg.newpw = strndup(new_password, new_len);
	if (arg.newpw == NULL) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	/* one byte over the largest answer: a longer one is refused as such */
	subreq = sectx_worker_send(st, ev, chpw_child, &arg, SECTX_CHPW_ANSWER_MAX + 1, deadline);
	/* the worker has its own copy now */
	explicit_bzero(arg.newpw, new_len);
	free(arg.newpw);
	if (tevent_req_nomem(subreq, req)) {
		return tevent_req_post(req, ev);
	}
	tevent_req_set_callback(subreq, chpw_answered, req);
	return req;
}

/* Returns 0 with *result_code and *text (on mem_ctx), or -errno as
 * core/daemon.h says: -ETIMEDOUT (the worker was killed at the deadline),
 * -EPROTO (its answer was malformed), -ENOMEM, -EIO. */
int sectx_chpw_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, int *result_code, char **text)
{
	struct chpw_state *st = tevent_req_data(req, struct chpw_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*result_code = st->result_code;
	*text = talloc_steal(mem_ctx, st->text);
	return 0;
}
