/*
 * login/tgs.c - the driver of libkrb5's step APIs over the engine's own KDC
 * I/O, shared by the login (login.c: AS exchanges, armour, validation), and
 * the TGS exchange that puts a service ticket into a caller's ccache (the
 * context init steps, authentication by existing tickets).
 *
 * Who reaches this: the engine (login.c) and, through sectx_tgs_send, the ops
 * that have authorised their caller and hold a MEMORY ccache of theirs.
 * What it can be made to do: run libkrb5's exchange to its end, each message
 * sent to a KDC of the realm libkrb5 names, by the caller's deadline.  It
 * must never wait on a KDC (kdc_io does the I/O on the loop) nor read a
 * ticket itself: libkrb5 checks every reply.
 */
#include "login/login_int.h"

#include <errno.h>
#include <string.h>

#include "log.h"

/* --- driving a step API over kdc_io ---------------------------------------- */

krb5_error_code sectx_icc_step(krb5_context ctx, void *sctx, krb5_data *in, krb5_data *out,
			       krb5_data *realm, unsigned int *flags)
{
	return krb5_init_creds_step(ctx, sctx, in, out, realm, flags);
}

krb5_error_code sectx_tcc_step(krb5_context ctx, void *sctx, krb5_data *in, krb5_data *out,
			       krb5_data *realm, unsigned int *flags)
{
	return krb5_tkt_creds_step(ctx, sctx, in, out, realm, flags);
}

struct step_state {
	struct tevent_context *ev;
	struct sectxd_krb5 *k;
	sectx_step_fn step;
	void *sctx;
	int64_t deadline;
	uint8_t *reply; /* the last KDC reply, fed to the next step */
	size_t reply_len;
	krb5_error_code kerr; /* from libkrb5 */
	int io_err;	      /* from kdc_io: ETIMEDOUT, ECONNREFUSED, ENOENT */
	bool tcp_only;	      /* a UDP reply was too big: TCP from now on */
};

static void step_kdc_done(struct tevent_req *subreq);

/* One step; either finishes req or sends the next message to a KDC. */
static void step_once(struct tevent_req *req)
{
	struct step_state *st = tevent_req_data(req, struct step_state);
	krb5_data in = {.magic = KV5M_DATA, .length = 0, .data = NULL};
	krb5_data out = {0}, realm = {0};
	unsigned int flags = 0;
	struct tevent_req *subreq;

	if (st->reply != NULL) {
		in.data = (char *)st->reply;
		in.length = (unsigned int)st->reply_len;
	}
	st->kerr = st->step(st->k->ctx, st->sctx, &in, &out, &realm, &flags);
	TALLOC_FREE(st->reply);
	if (st->kerr == KRB5KRB_ERR_RESPONSE_TOO_BIG && !st->tcp_only) {
		/* libkrb5 hands back the same request: resend it over TCP */
		st->tcp_only = true;
		st->kerr = 0;
		flags |= KRB5_INIT_CREDS_STEP_FLAG_CONTINUE;
	}
	if (st->kerr != 0 || !(flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE)) {
		krb5_free_data_contents(st->k->ctx, &out);
		krb5_free_data_contents(st->k->ctx, &realm);
		tevent_req_done(req);
		return;
	}
	subreq = sectx_kdc_send(st, st->ev, st->k, &realm, &out, st->tcp_only, st->deadline);
	krb5_free_data_contents(st->k->ctx, &out);
	krb5_free_data_contents(st->k->ctx, &realm);
	if (tevent_req_nomem(subreq, req)) {
		return;
	}
	tevent_req_set_callback(subreq, step_kdc_done, req);
}

static void step_kdc_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct step_state *st = tevent_req_data(req, struct step_state);

	st->io_err = -sectx_kdc_recv(subreq, st, &st->reply, &st->reply_len);
	TALLOC_FREE(subreq);
	if (st->io_err != 0) {
		talloc_free(st->k->last_error);
		st->k->last_error =
		    talloc_asprintf(st->k, "no KDC answered: %s", strerror(st->io_err));
		tevent_req_done(req);
		return;
	}
	step_once(req);
}

struct tevent_req *sectx_step_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				   struct sectxd_krb5 *k, sectx_step_fn step, void *sctx,
				   int64_t deadline)
{
	struct tevent_req *req;
	struct step_state *st;

	req = tevent_req_create(mem_ctx, &st, struct step_state);
	if (req == NULL) {
		return NULL;
	}
	*st =
	    (struct step_state){.ev = ev, .k = k, .step = step, .sctx = sctx, .deadline = deadline};
	step_once(req);
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

int sectx_step_recv(struct tevent_req *req, krb5_error_code *kerr)
{
	struct step_state *st = tevent_req_data(req, struct step_state);
	int err;

	*kerr = KRB5_KDC_UNREACH;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	if (st->io_err != 0) {
		return -st->io_err;
	}
	*kerr = st->kerr;
	return st->kerr != 0 ? -EIO : 0;
}

/* --- a service ticket into a ccache (context init steps, tickets auth) ----- */

struct tgs_state {
	krb5_context ctx;
	krb5_tkt_creds_context tcc;
	krb5_error_code kerr;
	int ret; /* as sectx_tgs_recv returns it */
};

static int tgs_state_destructor(struct tgs_state *st)
{
	if (st->tcc != NULL) {
		krb5_tkt_creds_free(st->ctx, st->tcc);
	}
	return 0;
}

static void tgs_done(struct tevent_req *subreq);

struct tevent_req *sectx_tgs_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				  struct sectxd_krb5 *k, krb5_ccache cc,
				  krb5_const_principal server, int64_t deadline)
{
	struct tevent_req *req, *subreq;
	struct tgs_state *st;
	krb5_principal client = NULL;
	krb5_creds in;

	req = tevent_req_create(mem_ctx, &st, struct tgs_state);
	if (req == NULL) {
		return NULL;
	}
	st->ctx = k->ctx;
	talloc_set_destructor(st, tgs_state_destructor);
	memset(&in, 0, sizeof(in));
	st->kerr = krb5_cc_get_principal(k->ctx, cc, &client);
	if (st->kerr == 0) {
		in.client = client;
		in.server = (krb5_principal)server;
		st->kerr = krb5_tkt_creds_init(k->ctx, cc, &in, 0, &st->tcc);
		krb5_free_principal(k->ctx, client);
	}
	if (st->kerr != 0) {
		st->ret = -EIO;
		tevent_req_done(req);
		return tevent_req_post(req, ev);
	}
	subreq = sectx_step_send(st, ev, k, sectx_tcc_step, st->tcc, deadline);
	if (tevent_req_nomem(subreq, req)) {
		return tevent_req_post(req, ev);
	}
	tevent_req_set_callback(subreq, tgs_done, req);
	return req;
}

static void tgs_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct tgs_state *st = tevent_req_data(req, struct tgs_state);

	st->ret = sectx_step_recv(subreq, &st->kerr);
	TALLOC_FREE(subreq);
	tevent_req_done(req);
}

int sectx_tgs_recv(struct tevent_req *req, krb5_error_code *kerr)
{
	struct tgs_state *st = tevent_req_data(req, struct tgs_state);
	int err;

	*kerr = 0;
	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	if (st->ret == -EIO) {
		*kerr = st->kerr;
	}
	return st->ret;
}
