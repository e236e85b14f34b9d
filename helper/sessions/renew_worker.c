/*
 * sessions/renew_worker.c - the renewal of one TGT with the KDC
 * (krb5_get_renewed_creds, KDC_OPT_RENEW) in a forked worker process
 * (core/worker.c) that the loop kills at the deadline: libkrb5 has no step
 * API for renewal.  The child's side (renew_child, which runs in the worker)
 * and the parent's (sectx_renew_send/_recv, on the loop) are both here
 * because the child is nothing but one library call and its answer; the
 * answer is a private frame of the common/proto codec (RENEW_OP_ANSWER,
 * tags RA_*, sessions_int.h), built by the child and decoded by the parent.
 *
 * Who reaches this: the renewal cycle (renew_cycle.c) only, with a TGT of a
 * registered session.  The worker runs as root, like the helper, and talks
 * only to the KDC; it never touches a user's cache (the ccache writer does).
 *
 * Must never: block the loop (the parent only reads a pipe), trust the
 * answer's lengths (the decoder checks every bound), or leave a renewed TGT
 * in memory that is not scrubbed: the answer buffer is wiped in the child
 * and freed scrubbed in the parent.
 */
#include "sessions/sessions_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/worker.h"

/* --- the answer frame -------------------------------------------------------- */

int sectx_renew_answer_encode(uint8_t *buf, size_t cap, krb5_error_code kerr, const char *msg,
			      const uint8_t *cred, size_t cred_len, size_t *len)
{
	struct sectx_wbuf w;
	char clean[RENEW_MSG_MAX];
	size_t mlen = strnlen(msg, RENEW_MSG_MAX - 1), i;

	if ((kerr == 0) != (cred_len > 0)) {
		return SECTX_ERR_BADFRAME;
	}
	if (cred_len > RENEW_CRED_MAX) {
		return SECTX_ERR_TOOBIG;
	}
	/* A Kerberos message is ours to pass on, not to refuse: cut it to size,
	 * and if it is not a string the codec sends, reduce it to printable ASCII. */
	memcpy(clean, msg, mlen);
	clean[mlen] = '\0';
	if (sectx_validate_string((const uint8_t *)clean, mlen, RENEW_MSG_MAX - 1) != 0) {
		for (i = 0; i < mlen; i++) {
			unsigned char c = (unsigned char)clean[i];

			clean[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	sectx_frame_begin(&w, buf, cap < RENEW_ANSWER_MAX ? cap : RENEW_ANSWER_MAX,
			  RENEW_ANSWER_VERSION, RENEW_OP_ANSWER, 0);
	sectx_put_u32(&w, RA_KERR, (uint32_t)kerr);
	sectx_put_string(&w, RA_MESSAGE, clean);
	if (cred_len > 0) {
		sectx_put_bytes(&w, RA_CRED, cred, cred_len);
	}
	explicit_bzero(clean, sizeof(clean));
	return sectx_frame_end(&w, len);
}

int sectx_renew_answer_decode(const uint8_t *buf, size_t len, struct sectx_renew_answer *out)
{
	struct sectx_msg m;
	uint32_t kerr = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (len > RENEW_ANSWER_MAX) {
		return SECTX_ERR_TOOBIG;
	}
	ret = sectx_msg_parse(buf, len, &m);
	if (ret != 0) {
		return ret;
	}
	if (m.hdr.version != RENEW_ANSWER_VERSION) {
		return SECTX_ERR_VERSION;
	}
	if (m.hdr.op != RENEW_OP_ANSWER || m.hdr.reqid != 0) {
		return SECTX_ERR_BADFRAME;
	}
	ret = sectx_msg_get_u32(&m, RA_KERR, &kerr);
	if (ret == 0) {
		ret = sectx_msg_get_string(&m, RA_MESSAGE, out->msg, sizeof(out->msg),
					   RENEW_MSG_MAX - 1);
	}
	if (ret == 0) {
		ret = sectx_msg_get_bytes(&m, RA_CRED, &out->cred, &out->cred_len);
		if (ret == SECTX_ERR_NOFIELD && kerr != 0) {
			ret = 0; /* refused: no credentials */
		} else if (ret == 0 && kerr != 0) {
			ret = SECTX_ERR_BADFRAME; /* credentials and an error: which is it? */
		} else if (ret == 0 && out->cred_len == 0) {
			ret = SECTX_ERR_BADLEN;
		} else if (ret == 0 && out->cred_len > RENEW_CRED_MAX) {
			ret = SECTX_ERR_TOOBIG;
		}
	}
	if (ret != 0) {
		memset(out, 0, sizeof(*out));
		return ret;
	}
	out->kerr = (krb5_error_code)kerr;
	return 0;
}

/* --- the worker ---------------------------------------------------------------- */

/* A renewal (TGS with KDC_OPT_RENEW) in a forked worker (worker.c), killed
 * at the deadline.  The worker answers one RENEW_OP_ANSWER frame. */
struct renew_state {
	krb5_context kctx;
	krb5_creds *out;
	krb5_error_code kerr;
	char msg[RENEW_MSG_MAX];
};

/* What the worker needs: its copy of the helper's memory holds the rest. */
struct renew_child_arg {
	krb5_context ctx;
	const krb5_creds *tgt;
};

static int renew_state_destructor(struct renew_state *st)
{
	if (st->out != NULL) {
		krb5_free_creds(st->kctx, st->out);
	}
	return 0;
}

/* In the worker: renew the TGT and report on fd. */
static void renew_child(void *arg, int fd)
{
	const struct renew_child_arg *a = arg;
	krb5_context ctx = a->ctx;
	const krb5_creds *tgt = a->tgt;
	static uint8_t out[RENEW_ANSWER_MAX];
	krb5_creds *renewed = NULL;
	krb5_ccache cc = NULL;
	krb5_data *m = NULL;
	krb5_error_code kerr;
	const char *msg = "";
	size_t len = 0;

	kerr = krb5_cc_new_unique(ctx, "MEMORY", NULL, &cc);
	if (kerr == 0) {
		kerr = krb5_cc_initialize(ctx, cc, tgt->client);
	}
	if (kerr == 0) {
		kerr = krb5_cc_store_cred(ctx, cc, (krb5_creds *)tgt);
	}
	if (kerr == 0) {
		renewed = calloc(1, sizeof(*renewed));
		kerr = renewed != NULL ? 0 : ENOMEM;
	}
	if (kerr == 0) {
		kerr = krb5_get_renewed_creds(ctx, renewed, tgt->client, cc, NULL);
	}
	if (kerr == 0) {
		kerr = krb5_marshal_credentials(ctx, renewed, &m);
	}
	if (kerr != 0) {
		msg = krb5_get_error_message(ctx, kerr);
	}
	/* Too large, or nothing marshalled: no answer, which the parent takes
	 * for a failed worker (EPROTO). */
	if (sectx_renew_answer_encode(out, sizeof(out), kerr, msg,
				      m != NULL ? (const uint8_t *)m->data : NULL,
				      m != NULL ? m->length : 0, &len) != 0) {
		if (m != NULL) {
			explicit_bzero(m->data, m->length);
		}
		explicit_bzero(out, sizeof(out));
		_exit(1);
	}
	if (m != NULL) {
		explicit_bzero(m->data, m->length);
	}
	(void)sectx_worker_write(fd, out, len);
	explicit_bzero(out, len);
}

static void renew_answered(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct renew_state *st = tevent_req_data(req, struct renew_state);
	struct sectx_renew_answer a;
	uint8_t *answer = NULL; /* scrubbed when freed: holds a TGT */
	size_t len = 0;
	int err;

	err = sectx_worker_recv(subreq, st, &answer, &len);
	TALLOC_FREE(subreq);
	if (err != 0) {
		tevent_req_error(req, -err);
		return;
	}
	if (sectx_renew_answer_decode(answer, len, &a) != 0) {
		err = EPROTO;
		goto done;
	}
	snprintf(st->msg, sizeof(st->msg), "%s", a.msg);
	st->kerr = a.kerr;
	if (a.kerr == 0) {
		krb5_data d = {.magic = KV5M_DATA, .length = a.cred_len, .data = (char *)a.cred};

		if (krb5_unmarshal_credentials(st->kctx, &d, &st->out) != 0) {
			st->out = NULL;
			err = EPROTO;
			goto done;
		}
	}
done:
	talloc_free(answer);
	if (err != 0) {
		tevent_req_error(req, err);
		return;
	}
	tevent_req_done(req);
}

struct tevent_req *sectx_renew_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				    krb5_context kctx, const krb5_creds *tgt, int64_t deadline)
{
	struct tevent_req *req, *subreq;
	struct renew_state *st;
	struct renew_child_arg arg = {.ctx = kctx, .tgt = tgt};

	req = tevent_req_create(mem_ctx, &st, struct renew_state);
	if (req == NULL) {
		return NULL;
	}
	st->kctx = kctx;
	talloc_set_destructor(st, renew_state_destructor);
	subreq = sectx_worker_send(st, ev, renew_child, &arg, RENEW_ANSWER_MAX, deadline);
	if (tevent_req_nomem(subreq, req)) {
		return tevent_req_post(req, ev);
	}
	tevent_req_set_callback(subreq, renew_answered, req);
	return req;
}

int sectx_renew_recv(struct tevent_req *req, krb5_creds **out, krb5_error_code *kerr, char *msg,
		     size_t msglen)
{
	struct renew_state *st = tevent_req_data(req, struct renew_state);
	int err;

	*out = NULL;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*kerr = st->kerr;
	snprintf(msg, msglen, "%s", st->msg);
	*out = st->out;
	st->out = NULL;
	return 0;
}
