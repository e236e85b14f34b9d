/*
 * ccache_writer/requests.c - the tevent requests of the ccache writer: the
 * _send/_recv functions of ccache_writer.h.
 *
 * Runs in sectxd (root) on the tevent loop.  Each request checks its user
 * and cache name at once (names.c: a refused job never reaches a writer),
 * builds its job frame (wire.c: the credentials marshalled into a buffer
 * scrubbed when freed), queues it (client.c) and finishes with the
 * writer's outcome: a cache name, a principal and TGT, or an errno.  Every
 * _recv returns 0 or -errno (core/daemon.h).
 *
 * Who can reach it: the helper's own code (PAM session ops, renewal), with
 * users and cache names that come from the identity service, the sessions
 * state file or the config's ccache template: checked here as if hostile.
 *
 * Never: block the loop (every callback is deferred), leave a credential in
 * a buffer it does not scrub, or log one: logs name the user, uid, cache
 * and errno, escaped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "ccache_writer/ccache_writer_int.h"

#define WRITER_MARGIN_MIN_MS 20	 /* the child's deadline comes this much ... */
#define WRITER_MARGIN_MAX_MS 500 /* ... (at most) before the helper's */

static const char *op_verb(uint16_t op)
{
	return op == WOP_STORE ? "write" : op == WOP_READ ? "read" : "destroy";
}

static int scrub_buffer(uint8_t *buf)
{
	explicit_bzero(buf, talloc_get_size(buf));
	return 0;
}

void ccw_job_fail(struct writer_state *s, int err, const char *msg)
{
	char u[64], c[256], m[WRITER_MSG_MAX];

	ccw_job_detach(s);
	if (err == ENOENT && s->quiet_enoent) {
		SECTX_INFO("ccache writer: nothing to %s at %s for user %s (uid %u)",
			   op_verb(s->op),
			   sectx_log_escape(s->ccache, strlen(s->ccache), c, sizeof(c)),
			   sectx_log_escape(s->user, strlen(s->user), u, sizeof(u)), s->uid);
	} else {
		SECTX_ERROR("ccache writer: cannot %s %s for user %s (uid %u): %s%s%s",
			    op_verb(s->op),
			    sectx_log_escape(s->ccache, strlen(s->ccache), c, sizeof(c)),
			    sectx_log_escape(s->user, strlen(s->user), u, sizeof(u)), s->uid,
			    strerror(err), msg != NULL && msg[0] != '\0' ? ": " : "",
			    msg != NULL ? sectx_log_escape(msg, strlen(msg), m, sizeof(m)) : "");
	}
	tevent_req_error(s->req, err);
}

void ccw_job_done(struct writer_state *s, const struct outcome *out)
{
	char u[64], c[256];

	if (out->err != 0) {
		ccw_job_fail(s, out->err, out->msg);
		return;
	}
	if (s->op == WOP_STORE) {
		if (out->ccache[0] == '\0') {
			ccw_job_fail(s, EIO, "the writer named no cache");
			return;
		}
		s->result = talloc_strdup(s, out->ccache);
		if (s->result == NULL) {
			ccw_job_fail(s, ENOMEM, NULL);
			return;
		}
	}
	if (s->op == WOP_READ) {
		if (out->principal[0] == '\0') {
			ccw_job_fail(s, EIO, "the writer named no principal");
			return;
		}
		s->result = talloc_strdup(s, out->principal);
		if (out->cred_len > 0) {
			s->cred = talloc_memdup(s, out->cred, out->cred_len);
			if (s->cred != NULL) {
				talloc_set_destructor(s->cred, scrub_buffer);
				s->cred_len = out->cred_len;
			}
		}
		if (s->result == NULL || (out->cred_len > 0 && s->cred == NULL)) {
			ccw_job_fail(s, ENOMEM, NULL);
			return;
		}
	}
	ccw_job_detach(s);
	SECTX_DEBUG("ccache writer: %s %s for user %s (uid %u)",
		    s->op == WOP_STORE	? "wrote"
		    : s->op == WOP_READ ? "read"
					: "destroyed",
		    sectx_log_escape(s->op == WOP_STORE ? s->result : s->ccache,
				     strlen(s->op == WOP_STORE ? s->result : s->ccache), c,
				     sizeof(c)),
		    sectx_log_escape(s->user, strlen(s->user), u, sizeof(u)), s->uid);
	tevent_req_done(s->req);
}

static void job_cleanup(struct tevent_req *req, enum tevent_req_state req_state)
{
	struct writer_state *s = tevent_req_data(req, struct writer_state);

	(void)req_state;
	ccw_job_detach(s);
	TALLOC_FREE(s->frame);
}

/* Common part of store and destroy: create the request and check who and
 * ccache.  On a refusal the request is already failed (posted). */
static struct tevent_req *job_create(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				     struct sectx_writer *w, uint16_t op, bool exact,
				     const struct sectx_writer_user *who, const char *ccache,
				     int64_t deadline_ms, struct writer_state **state_out)
{
	char expanded[WRITER_CCNAME_MAX + 1];
	struct writer_state *s;
	struct tevent_req *req;
	enum cc_kind kind;
	const char *why = "invalid arguments";
	int ret = -EINVAL;

	req = tevent_req_create(mem_ctx, &s, struct writer_state);
	if (req == NULL) {
		return NULL;
	}
	tevent_req_defer_callback(req, ev);
	tevent_req_set_cleanup_fn(req, job_cleanup);
	s->req = req;
	s->op = op;
	s->phase = JOB_DONE;
	s->deadline = deadline_ms;
	s->quiet_enoent = exact;
	s->uid = who != NULL ? (unsigned)who->uid : 0;
	s->user = talloc_strdup(s, who != NULL && who->name != NULL ? who->name : "?");
	s->ccache = talloc_strdup(s, ccache != NULL ? ccache : "?");
	*state_out = s;
	if (s->user == NULL || s->ccache == NULL) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	if (w != NULL && who != NULL && who->name != NULL && ccache != NULL &&
	    (who->n_groups == 0 || who->groups != NULL)) {
		ret = ccw_check_job(who->uid, who->gid, who->groups, who->n_groups, who->name,
				    ccache, exact, expanded, sizeof(expanded), &kind, &why);
	}
	if (ret == 0 && w->stopping) {
		ret = -ESHUTDOWN;
		why = "the writer is stopping";
	}
	if (ret != 0) {
		ccw_job_fail(s, -ret, why);
		return tevent_req_post(req, ev);
	}
	w->next_reqid = w->next_reqid == UINT32_MAX ? 1 : w->next_reqid + 1;
	s->reqid = w->next_reqid;
	return req;
}

/* The child's deadline for a job the helper waits for until deadline: it
 * comes first, so the writer answers "timed out" before the helper gives up
 * on the writer itself. */
static uint64_t child_deadline(int64_t deadline)
{
	int64_t now = sectx_now_ms();
	int64_t margin = (deadline - now) / 5;

	if (margin < WRITER_MARGIN_MIN_MS) {
		margin = WRITER_MARGIN_MIN_MS;
	}
	if (margin > WRITER_MARGIN_MAX_MS) {
		margin = WRITER_MARGIN_MAX_MS;
	}
	return (uint64_t)(deadline - margin > 0 ? deadline - margin : 0);
}

/* Build s's job frame from m (its op, reqid and deadline are s's).  secret:
 * it holds credentials, so it is scrubbed when freed.  Returns 0, E2BIG
 * (beyond WRITER_JOB_MAX), ENOMEM, or bad if the encoder refuses m. */
static int build_job(struct writer_state *s, struct job_msg *m, bool secret, int bad)
{
	size_t size;

	m->op = s->op;
	m->reqid = s->reqid;
	m->deadline = child_deadline(s->deadline);
	size = ccw_job_size(m);
	if (size > WRITER_JOB_MAX) {
		return E2BIG;
	}
	s->frame = talloc_size(s, size);
	if (s->frame == NULL) {
		return ENOMEM;
	}
	if (secret) {
		talloc_set_destructor(s->frame, scrub_buffer);
	}
	return ccw_job_encode(m, s->frame, size, &s->frame_len) == 0 ? 0 : bad;
}

static struct tevent_req *store_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				     struct sectx_writer *w, const struct sectx_writer_user *who,
				     const char *ccache, bool replace, krb5_context kctx,
				     krb5_creds **creds, int64_t deadline_ms)
{
	krb5_data *m[SECTX_WRITER_MAX_CREDS] = {NULL};
	struct writer_state *s = NULL;
	struct job_msg msg = {.who = who, .ccache = ccache, .replace = replace};
	struct tevent_req *req;
	size_t n = 0, i;
	int ret = 0;

	req = job_create(mem_ctx, ev, w, WOP_STORE, replace, who, ccache, deadline_ms, &s);
	if (req == NULL || !tevent_req_is_in_progress(req)) {
		return req;
	}
	if (kctx == NULL || creds == NULL || creds[0] == NULL) {
		ccw_job_fail(s, EINVAL, "no credentials to store");
		return tevent_req_post(req, ev);
	}
	for (n = 0; creds[n] != NULL; n++) {
		krb5_error_code kret;

		if (n == SECTX_WRITER_MAX_CREDS) {
			ret = E2BIG;
			break;
		}
		if (!krb5_principal_compare(kctx, creds[0]->client, creds[n]->client)) {
			ret = EINVAL;
			break;
		}
		kret = krb5_marshal_credentials(kctx, creds[n], &m[n]);
		if (kret != 0) {
			ret = kret == ENOMEM ? ENOMEM : EINVAL;
			break;
		}
	}
	if (ret == 0) {
		msg.creds = m;
		msg.n_creds = n;
		ret = build_job(s, &msg, true, E2BIG);
	}
	for (i = 0; i < n && i < SECTX_WRITER_MAX_CREDS; i++) {
		if (m[i] != NULL) {
			explicit_bzero(m[i]->data, m[i]->length);
			krb5_free_data(kctx, m[i]);
		}
	}
	if (ret != 0) {
		ccw_job_fail(s, ret,
			     ret == E2BIG ? "too many or too large credentials"
			     : ret == EINVAL
				 ? "the credentials are of different clients or unreadable"
				 : NULL);
		return tevent_req_post(req, ev);
	}
	ccw_job_enqueue(w, s, ev);
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

struct tevent_req *sectx_writer_store_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					   struct sectx_writer *w,
					   const struct sectx_writer_user *who, const char *ccache,
					   krb5_context kctx, krb5_creds **creds,
					   int64_t deadline_ms)
{
	return store_send(mem_ctx, ev, w, who, ccache, false, kctx, creds, deadline_ms);
}

struct tevent_req *sectx_writer_rewrite_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_creds **creds, int64_t deadline_ms)
{
	return store_send(mem_ctx, ev, w, who, ccache, true, kctx, creds, deadline_ms);
}

/* Map a finished request's error to -errno. */
static int job_recv_error(struct tevent_req *req)
{
	enum tevent_req_state st;
	uint64_t err;

	if (!tevent_req_is_error(req, &st, &err)) {
		return 0;
	}
	switch (st) {
	case TEVENT_REQ_USER_ERROR:
		return err > 0 && err < 4096 ? -(int)err : -EIO;
	case TEVENT_REQ_TIMED_OUT:
		return -ETIMEDOUT;
	case TEVENT_REQ_NO_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int sectx_writer_store_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, char **ccache_name)
{
	struct writer_state *s = tevent_req_data(req, struct writer_state);
	int ret = job_recv_error(req);

	if (ret == 0) {
		*ccache_name = talloc_steal(mem_ctx, s->result);
	}
	tevent_req_received(req);
	return ret;
}

struct tevent_req *sectx_writer_destroy_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_const_principal principal, int64_t deadline_ms)
{
	struct writer_state *s = NULL;
	struct job_msg msg = {.who = who, .ccache = ccache};
	struct tevent_req *req;
	char *pname = NULL;
	int ret = 0;

	req = job_create(mem_ctx, ev, w, WOP_DESTROY, true, who, ccache, deadline_ms, &s);
	if (req == NULL || !tevent_req_is_in_progress(req)) {
		return req;
	}
	if (kctx == NULL || principal == NULL || krb5_unparse_name(kctx, principal, &pname) != 0) {
		ccw_job_fail(s, EINVAL, "no principal to check the cache against");
		return tevent_req_post(req, ev);
	}
	msg.principal = pname;
	ret = build_job(s, &msg, false, EINVAL);
	krb5_free_unparsed_name(kctx, pname);
	if (ret != 0) {
		ccw_job_fail(s, ret, "cannot build the job");
		return tevent_req_post(req, ev);
	}
	ccw_job_enqueue(w, s, ev);
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

int sectx_writer_destroy_recv(struct tevent_req *req)
{
	int ret = job_recv_error(req);

	tevent_req_received(req);
	return ret;
}

struct tevent_req *sectx_writer_read_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					  struct sectx_writer *w,
					  const struct sectx_writer_user *who, const char *ccache,
					  bool want_tgt, int64_t deadline_ms)
{
	struct writer_state *s = NULL;
	struct job_msg msg = {.who = who, .ccache = ccache, .want_tgt = want_tgt};
	struct tevent_req *req;
	int ret;

	req = job_create(mem_ctx, ev, w, WOP_READ, true, who, ccache, deadline_ms, &s);
	if (req == NULL || !tevent_req_is_in_progress(req)) {
		return req;
	}
	ret = build_job(s, &msg, false, EINVAL);
	if (ret != 0) {
		ccw_job_fail(s, ret, "cannot build the job");
		return tevent_req_post(req, ev);
	}
	ccw_job_enqueue(w, s, ev);
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

int sectx_writer_read_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, krb5_context kctx,
			   char **principal, krb5_creds **tgt)
{
	struct writer_state *s = tevent_req_data(req, struct writer_state);
	int ret = job_recv_error(req);

	*tgt = NULL;
	if (ret == 0 && s->cred != NULL) {
		krb5_data d = {
		    .magic = KV5M_DATA, .length = (unsigned)s->cred_len, .data = (char *)s->cred};

		if (krb5_unmarshal_credentials(kctx, &d, tgt) != 0) {
			*tgt = NULL;
			ret = -EIO;
		}
	}
	if (ret == 0) {
		*principal = talloc_steal(mem_ctx, s->result);
	}
	TALLOC_FREE(s->cred);
	tevent_req_received(req);
	return ret;
}
