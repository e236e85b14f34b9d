/*
 * sessions/renewal.c - renew the TGTs of open sessions and rewrite their ccaches as
 * the user; the registry of those sessions and its state file (renewal.h).
 *
 * Must never: write a ticket to the helper's own files (the sessions file is
 * metadata), touch a user's cache as root (every read and write goes through
 * the ccache writer, which drops to the user), recreate a cache its user
 * destroyed, or block the loop on a KDC (the renewal runs in a worker process
 * killed at the deadline).  A cycle belongs to its session: closing the
 * session frees it, which cancels the writer jobs and kills the worker.
 */
#include "sessions/sessions.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "login/login.h"
#include "log.h"
#include "proto.h"
#include "core/worker.h"

#define SESSION_ID_LEN	  64u		/* hex digits of SHA-256 */
#define RENEW_ANSWER_MAX  (64u * 1024u) /* a renewed TGT and a message from the worker */
#define RENEW_MSG_MAX	  512u
#define RENEW_LAST_MAX	  240u /* status text: the reply frame is small */
#define RENEW_MIN_DELAY_S 1
#define RECORD_OP	  1u /* the "op" of a session record frame in the state file */

/* Tags of a session record (a frame of the codec, in the state file). */
enum record_tag {
	RT_ID = 1,	    /* string: SESSION_ID_LEN hex digits */
	RT_USER = 2,	    /* string */
	RT_SERVICE = 3,	    /* string */
	RT_RHOST = 4,	    /* string, may be empty */
	RT_UID = 5,	    /* u32 */
	RT_GID = 6,	    /* u32 */
	RT_GROUP = 7,	    /* u32, repeated */
	RT_CCACHE = 8,	    /* string: exact cache name */
	RT_PRINCIPAL = 9,   /* string */
	RT_ENDTIME = 10,    /* u64: TGT end, seconds since the epoch */
	RT_RENEW_TILL = 11, /* u64 */
	RT_DONE = 12,	    /* u32 0/1: renewable lifetime over, kept for close */
};

struct sectxd_renewal;

struct renew_session {
	struct renew_session *prev, *next;
	struct sectxd_renewal *rn;
	char id[SESSION_ID_LEN + 1];
	char handle[SECTX_HANDLE_LEN + 1]; /* in memory only; "" after a restart */
	char *user, *service, *rhost, *ccache, *principal;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	int64_t endtime, renew_till; /* seconds since the epoch */
	krb5_creds *tgt;	     /* memory only; NULL until read back after a restart */
	unsigned failures;
	bool done;		 /* nothing left to renew: kept until endtime for close */
	struct tevent_timer *te; /* next cycle, or the drop of a done session */
	TALLOC_CTX *cycle;	 /* the cycle in progress: its requests hang here */
};

struct sectxd_renewal {
	struct sectxd_ctx *hctx;
	int dirfd;
	struct renew_session *head;
	size_t n;
	uint64_t renewed, failed;
	char last[RENEW_LAST_MAX];
};

static void schedule(struct renew_session *s);
static void save(struct sectxd_renewal *rn);

/* --- small helpers ---------------------------------------------------------------------------- */

static struct sectxd_renewal *renewal_of(struct sectxd_ctx *hctx)
{
	return hctx->renewal;
}

/* The session id of handle: hex SHA-256 of "sectx-session:" || handle. */
static int session_id(const char *handle, char out[SESSION_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(c, "sectx-session:", 14) == 1 &&
	     EVP_DigestUpdate(c, handle, strlen(handle)) == 1 &&
	     EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen * 2 == SESSION_ID_LEN;
	EVP_MD_CTX_free(c);
	if (!ok) {
		return -EIO;
	}
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[SESSION_ID_LEN] = '\0';
	return 0;
}

static struct renew_session *find_id(struct sectxd_renewal *rn, const char *id)
{
	struct renew_session *s, *found = NULL;

	for (s = rn->head; s != NULL; s = s->next) {
		if (CRYPTO_memcmp(s->id, id, SESSION_ID_LEN) == 0) {
			found = s;
		}
	}
	return found;
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(buf, len, "%" PRId64, t);
	}
}

static void set_last(struct sectxd_renewal *rn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_last(struct sectxd_renewal *rn, const char *fmt, ...)
{
	char ts[32];
	size_t n;
	va_list ap;

	fmt_time((int64_t)time(NULL), ts, sizeof(ts));
	n = (size_t)snprintf(rn->last, sizeof(rn->last), "%s ", ts);
	if (n >= sizeof(rn->last)) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(rn->last + n, sizeof(rn->last) - n, fmt, ap);
	va_end(ap);
}

static void who_of(const struct renew_session *s, struct sectx_writer_user *who)
{
	who->uid = s->uid;
	who->gid = s->gid;
	who->groups = s->groups;
	who->n_groups = s->n_groups;
	who->name = s->user;
}

static int session_destructor(struct renew_session *s)
{
	struct sectxd_renewal *rn = s->rn;

	TALLOC_FREE(s->cycle); /* cancels the writer jobs, kills the worker */
	if (s->tgt != NULL) {
		krb5_free_creds(rn->hctx->krb5->ctx, s->tgt); /* zeroes the session key */
		s->tgt = NULL;
	}
	if (s->prev != NULL) {
		s->prev->next = s->next;
	} else if (rn->head == s) {
		rn->head = s->next;
	}
	if (s->next != NULL) {
		s->next->prev = s->prev;
	}
	rn->n--;
	return 0;
}

static struct renew_session *session_new(struct sectxd_renewal *rn)
{
	struct renew_session *s = talloc_zero(rn, struct renew_session);

	if (s == NULL) {
		return NULL;
	}
	s->rn = rn;
	s->next = rn->head;
	if (rn->head != NULL) {
		rn->head->prev = s;
	}
	rn->head = s;
	rn->n++;
	talloc_set_destructor(s, session_destructor);
	return s;
}

/* Stop renewing s for good, with one log line, and forget it. */
static void session_stop(struct renew_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void session_stop(struct renew_session *s, const char *fmt, ...)
{
	struct sectxd_renewal *rn = s->rn;
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	SECTX_INFO("renewal of the session of %s (%s) stops: %s", s->user, s->ccache, why);
	set_last(rn, "%s: renewal stopped: %s", s->user, why);
	talloc_free(s);
	save(rn);
}

/* --- the state file -----------------------------------------------------------------------------
 */

static int append_record(TALLOC_CTX *mem_ctx, uint8_t **buf, size_t *len,
			 const struct renew_session *s)
{
	size_t cap = SECTX_HDR_LEN + 12 * (SECTX_FIELD_HDR_LEN + 8) +
		     s->n_groups * (SECTX_FIELD_HDR_LEN + 4) + SESSION_ID_LEN + strlen(s->user) +
		     strlen(s->service) + strlen(s->rhost) + strlen(s->ccache) +
		     strlen(s->principal);
	struct sectx_wbuf w;
	size_t flen = 0, i;
	uint8_t *nb;

	if (cap > SECTX_FRAME_MAX) {
		return -E2BIG;
	}
	nb = talloc_realloc(mem_ctx, *buf, uint8_t, *len + cap);
	if (nb == NULL) {
		return -ENOMEM;
	}
	*buf = nb;
	sectx_frame_begin(&w, nb + *len, cap, 1, RECORD_OP, 0);
	sectx_put_string(&w, RT_ID, s->id);
	sectx_put_string(&w, RT_USER, s->user);
	sectx_put_string(&w, RT_SERVICE, s->service);
	sectx_put_string(&w, RT_RHOST, s->rhost);
	sectx_put_u32(&w, RT_UID, (uint32_t)s->uid);
	sectx_put_u32(&w, RT_GID, (uint32_t)s->gid);
	for (i = 0; i < s->n_groups; i++) {
		sectx_put_u32(&w, RT_GROUP, (uint32_t)s->groups[i]);
	}
	sectx_put_string(&w, RT_CCACHE, s->ccache);
	sectx_put_string(&w, RT_PRINCIPAL, s->principal);
	sectx_put_u64(&w, RT_ENDTIME, (uint64_t)s->endtime);
	sectx_put_u64(&w, RT_RENEW_TILL, (uint64_t)s->renew_till);
	sectx_put_u32(&w, RT_DONE, s->done ? 1 : 0);
	if (sectx_frame_end(&w, &flen) != 0) {
		return -EINVAL;
	}
	*len += flen;
	return 0;
}

/* Rewrite <state_dir>/sessions with every registered session. */
static void save(struct sectxd_renewal *rn)
{
	TALLOC_CTX *tmp = talloc_new(rn);
	const struct renew_session *s;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = tmp != NULL ? 0 : -ENOMEM;

	if (rn->dirfd < 0) {
		talloc_free(tmp);
		return;
	}
	for (s = rn->head; ret == 0 && s != NULL; s = s->next) {
		ret = append_record(tmp, &buf, &len, s);
	}
	if (ret == 0) {
		ret = sectx_state_save(rn->dirfd, SECTX_RENEW_FILE, SECTX_RENEW_FILE_KIND,
				       SECTX_RENEW_FILE_VERSION, buf, len);
	}
	if (ret != 0) {
		SECTX_ERROR("cannot save the sessions to renew in %s: %s", SECTX_RENEW_FILE,
			    strerror(-ret));
	}
	talloc_free(tmp);
}

static int record_string(const struct sectx_msg *m, uint16_t tag, TALLOC_CTX *mem_ctx, char **out,
			 size_t max)
{
	char buf[SECTX_STRING_MAX + 1];
	int ret = sectx_msg_get_string(m, tag, buf, sizeof(buf), max);

	if (ret != 0) {
		return ret;
	}
	*out = talloc_strdup(mem_ctx, buf);
	return *out != NULL ? 0 : -ENOMEM;
}

/* One record into a new session of rn.  0, or a codec error / -errno. */
static int load_record(struct sectxd_renewal *rn, const struct sectx_msg *m)
{
	struct renew_session *s;
	struct sectx_field f;
	char id[SECTX_STRING_MAX + 1];
	uint64_t end = 0, till = 0;
	uint32_t u = 0, done = 0;
	size_t pos = 0, n = 0;
	int ret;

	if (m->hdr.op != RECORD_OP) {
		return SECTX_ERR_BADFRAME;
	}
	ret = sectx_msg_get_string(m, RT_ID, id, sizeof(id), SESSION_ID_LEN);
	if (ret == 0 && strlen(id) != SESSION_ID_LEN) {
		ret = SECTX_ERR_BADLEN;
	}
	if (ret != 0) {
		return ret;
	}
	if (find_id(rn, id) != NULL || rn->n >= SECTX_RENEW_SESSIONS_MAX) {
		return SECTX_ERR_DUPFIELD;
	}
	s = session_new(rn);
	if (s == NULL) {
		return -ENOMEM;
	}
	memcpy(s->id, id, SESSION_ID_LEN + 1);
	ret = record_string(m, RT_USER, s, &s->user, SECTX_NAME_MAX);
	if (ret == 0) {
		ret = record_string(m, RT_SERVICE, s, &s->service, SECTX_NAME_MAX);
	}
	if (ret == 0) {
		ret = record_string(m, RT_RHOST, s, &s->rhost, SECTX_NAME_MAX);
	}
	if (ret == 0) {
		ret = record_string(m, RT_CCACHE, s, &s->ccache, SECTX_STRING_MAX);
	}
	if (ret == 0) {
		ret = record_string(m, RT_PRINCIPAL, s, &s->principal, SECTX_NAME_MAX);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(m, RT_UID, &u);
		s->uid = (uid_t)u;
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(m, RT_GID, &u);
		s->gid = (gid_t)u;
	}
	if (ret == 0) {
		ret = sectx_msg_get_u64(m, RT_ENDTIME, &end);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u64(m, RT_RENEW_TILL, &till);
	}
	if (ret == 0) {
		ret = sectx_msg_get_u32(m, RT_DONE, &done);
	}
	if (ret == 0 && (s->uid == 0 || s->uid == (uid_t)-1 || s->gid == (gid_t)-1 ||
			 end > INT64_MAX || till > INT64_MAX)) {
		ret = SECTX_ERR_BADLEN;
	}
	while (ret == 0 && sectx_msg_next(m, RT_GROUP, &pos, &f) == 0) {
		n++;
	}
	if (ret == 0 && n > SECTX_RENEW_GROUPS_MAX) {
		ret = SECTX_ERR_TOOBIG;
	}
	if (ret == 0 && n > 0) {
		s->groups = talloc_array(s, gid_t, n);
		ret = s->groups != NULL ? 0 : -ENOMEM;
	}
	for (pos = 0; ret == 0 && sectx_msg_next(m, RT_GROUP, &pos, &f) == 0;) {
		ret = sectx_field_u32(&f, &u);
		s->groups[s->n_groups++] = (gid_t)u;
	}
	if (ret != 0) {
		talloc_free(s);
		return ret;
	}
	s->endtime = (int64_t)end;
	s->renew_till = (int64_t)till;
	s->done = done != 0;
	return 0;
}

/* Load <state_dir>/sessions.  A file that cannot be trusted, or whose
 * records do not parse, is moved aside (logged) and we start empty. */
static void load(struct sectxd_renewal *rn)
{
	TALLOC_CTX *tmp = talloc_new(rn);
	struct sectx_cur cur;
	uint8_t *payload = NULL;
	size_t len = 0;
	uint32_t version = 0;
	int ret;

	if (tmp == NULL) {
		return;
	}
	(void)sectx_state_remove_temps(rn->dirfd, SECTX_RENEW_FILE);
	ret = sectx_state_load(tmp, rn->dirfd, SECTX_RENEW_FILE, "sessions to renew",
			       SECTX_RENEW_FILE_KIND, SECTX_RENEW_FILE_VERSION,
			       SECTX_RENEW_FILE_MAX, &payload, &len, &version);
	if (ret != 0) {
		if (ret != -ENOENT && ret != -EBADMSG) {
			SECTX_ERROR("cannot read %s in the state directory: %s; no session is "
				    "renewed until the next login",
				    SECTX_RENEW_FILE, strerror(-ret));
		}
		goto done;
	}
	sectx_cur_init(&cur, payload, len);
	while (sectx_cur_left(&cur) > 0) {
		struct sectx_cur peek = cur; /* the header says how long the record is */
		struct sectx_hdr h;
		struct sectx_msg m;
		const uint8_t *p = NULL;

		ret = sectx_cur_get_bytes(&peek, SECTX_HDR_LEN, &p);
		if (ret == 0) {
			ret = sectx_hdr_decode(p, SECTX_HDR_LEN, &h);
		}
		if (ret == 0) {
			ret = sectx_cur_get_bytes(&cur, h.length, &p);
		}
		if (ret == 0) {
			ret = sectx_msg_parse(p, h.length, &m);
		}
		if (ret == 0) {
			ret = load_record(rn, &m);
		}
		if (ret != 0) {
			char why[96];

			snprintf(why, sizeof(why), "session record at offset %zu: %s", cur.off,
				 sectx_strerror(ret));
			while (rn->head != NULL) {
				talloc_free(rn->head);
			}
			(void)sectx_state_move_aside(rn->dirfd, SECTX_RENEW_FILE,
						     "sessions to renew", why);
			goto done;
		}
	}
	/* The file is newest first, as the list; loading at the head reversed it. */
	{
		struct renew_session *s = rn->head, *next;

		rn->head = NULL;
		for (; s != NULL; s = next) {
			next = s->next;
			s->prev = NULL;
			s->next = rn->head;
			if (rn->head != NULL) {
				rn->head->prev = s;
			}
			rn->head = s;
		}
	}
	if (rn->n > 0) {
		SECTX_INFO("%zu session(s) to renew picked up from %s", rn->n, SECTX_RENEW_FILE);
	}
done:
	talloc_free(tmp);
}

/* --- the renewal worker -------------------------------------------------------------------------
 */

/* A renewal (TGS with KDC_OPT_RENEW) in a forked worker (worker.c), killed
 * at the deadline.  The worker answers u32 krb5 error, u32 length + message,
 * u32 length + marshalled credentials. */
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

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
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
	size_t len, mlen;

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
	mlen = strnlen(msg, RENEW_MSG_MAX - 1);
	len = 12 + mlen + (m != NULL ? m->length : 0);
	if (len > sizeof(out)) {
		_exit(1);
	}
	put_be32(out, (uint32_t)kerr);
	put_be32(out + 4, (uint32_t)mlen);
	memcpy(out + 8, msg, mlen);
	put_be32(out + 8 + mlen, m != NULL ? m->length : 0);
	if (m != NULL) {
		memcpy(out + 12 + mlen, m->data, m->length);
		explicit_bzero(m->data, m->length);
	}
	(void)sectx_worker_write(fd, out, len);
	explicit_bzero(out, len);
}

static void renew_answered(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct renew_state *st = tevent_req_data(req, struct renew_state);
	struct sectx_cur cur;
	uint32_t kerr = 0, mlen = 0, clen = 0;
	const uint8_t *mp = NULL, *cp = NULL;
	uint8_t *answer = NULL; /* scrubbed when freed: holds a TGT */
	size_t len = 0;
	int err;

	err = sectx_worker_recv(subreq, st, &answer, &len);
	TALLOC_FREE(subreq);
	if (err != 0) {
		tevent_req_error(req, -err);
		return;
	}
	sectx_cur_init(&cur, answer, len);
	if (sectx_cur_get_u32(&cur, &kerr) != 0 || sectx_cur_get_u32(&cur, &mlen) != 0 ||
	    mlen >= RENEW_MSG_MAX || sectx_cur_get_bytes(&cur, mlen, &mp) != 0 ||
	    sectx_cur_get_u32(&cur, &clen) != 0 || sectx_cur_get_bytes(&cur, clen, &cp) != 0 ||
	    sectx_cur_left(&cur) != 0) {
		err = EPROTO;
		goto done;
	}
	memcpy(st->msg, mp, mlen);
	st->msg[mlen] = '\0';
	st->kerr = (krb5_error_code)kerr;
	if (kerr == 0) {
		krb5_data d = {.magic = KV5M_DATA, .length = clen, .data = (char *)cp};

		if (clen == 0 || krb5_unmarshal_credentials(st->kctx, &d, &st->out) != 0) {
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

/* Renew tgt with the KDC in a worker killed at deadline (monotonic ms). */
static struct tevent_req *renew_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
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

/* 0 with *out (the caller frees it) or with *kerr != 0 and *msg (the KDC or
 * library said no); or a positive errno (the worker failed or timed out). */
static int renew_recv(struct tevent_req *req, krb5_creds **out, krb5_error_code *kerr, char *msg,
		      size_t msglen)
{
	struct renew_state *st = tevent_req_data(req, struct renew_state);
	int err;

	*out = NULL;
	if (sectx_req_failed(req, &err)) {
		return err;
	}
	*kerr = st->kerr;
	snprintf(msg, msglen, "%s", st->msg);
	*out = st->out;
	st->out = NULL;
	return 0;
}

/* --- one renewal cycle: read as the user, renew, rewrite as the user ------------------------ */

static void cycle_read_done(struct tevent_req *subreq);
static void cycle_renewed(struct tevent_req *subreq);
static void cycle_written(struct tevent_req *subreq);

/* A failure worth a retry: log it, count it, back off. */
static void cycle_retry(struct renew_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void cycle_retry(struct renew_session *s, const char *fmt, ...)
{
	struct sectxd_renewal *rn = s->rn;
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	TALLOC_FREE(s->cycle);
	s->failures++;
	rn->failed++;
	SECTX_WARN("renewal of the TGT of %s (%s) failed (attempt %u): %s; retrying", s->user,
		   s->ccache, s->failures, why);
	set_last(rn, "%s: renewal failed: %s", s->user, why);
	schedule(s);
}

static void cycle_start(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			void *private_data)
{
	struct renew_session *s = talloc_get_type_abort(private_data, struct renew_session);
	struct sectxd_ctx *hctx = s->rn->hctx;
	struct sectx_writer_user who;
	struct tevent_req *subreq;

	(void)te;
	(void)now;
	s->te = NULL;
	if (s->done) {
		SECTX_INFO("session of %s (%s): its TGT has expired; forgotten", s->user,
			   s->ccache);
		talloc_free(s);
		save(hctx->renewal);
		return;
	}
	TALLOC_FREE(s->cycle);
	s->cycle = talloc_new(s);
	if (s->cycle == NULL) {
		cycle_retry(s, "out of memory");
		return;
	}
	/* As the user: is the cache still there, with our principal?  And,
	 * after a restart, the TGT to renew. */
	who_of(s, &who);
	subreq = sectx_writer_read_send(
	    s->cycle, ev, hctx->writer, &who, s->ccache, s->tgt == NULL,
	    sectx_deadline_after((int64_t)hctx->cfg->sectxd.client_timeout_ms));
	if (subreq == NULL) {
		cycle_retry(s, "out of memory");
		return;
	}
	tevent_req_set_callback(subreq, cycle_read_done, s);
}

static void cycle_read_done(struct tevent_req *subreq)
{
	struct renew_session *s = tevent_req_callback_data(subreq, struct renew_session);
	struct sectxd_ctx *hctx = s->rn->hctx;
	krb5_context kctx = hctx->krb5->ctx;
	krb5_creds *tgt = NULL;
	char *principal = NULL, esc[300];
	int64_t now = (int64_t)time(NULL);
	int ret;

	ret = sectx_writer_read_recv(subreq, s->cycle, kctx, &principal, &tgt);
	TALLOC_FREE(subreq);
	if (ret == -ENOENT) {
		session_stop(s, "the ccache is gone (kdestroy)");
		return;
	}
	if (ret == -ESTALE) {
		session_stop(s, "the ccache is no longer the user's cache file");
		return;
	}
	if (ret == -EBUSY) {
		cycle_retry(s, "the ccache is locked by another process (not waited for)");
		return;
	}
	if (ret != 0) {
		cycle_retry(s, "cannot read the ccache as the user: %s", strerror(-ret));
		return;
	}
	if (strcmp(principal, s->principal) != 0) {
		if (tgt != NULL) {
			krb5_free_creds(kctx, tgt);
		}
		session_stop(s, "the ccache now holds %s, not %s (kinit as someone else)",
			     sectx_log_escape(principal, strlen(principal), esc, sizeof(esc)),
			     s->principal);
		return;
	}
	if (tgt != NULL) {
		/* read back after a restart, or newer than ours (the user ran kinit) */
		if (s->tgt == NULL || tgt->times.endtime > s->tgt->times.endtime) {
			if (s->tgt != NULL) {
				krb5_free_creds(kctx, s->tgt);
			}
			s->tgt = tgt;
		} else {
			krb5_free_creds(kctx, tgt);
		}
	}
	if (s->tgt == NULL) {
		session_stop(s, "the ccache holds no TGT");
		return;
	}
	s->endtime = s->tgt->times.endtime;
	s->renew_till = s->tgt->times.renew_till;
	if (!(s->tgt->ticket_flags & TKT_FLG_RENEWABLE) || s->renew_till <= now ||
	    s->renew_till <= s->endtime) {
		TALLOC_FREE(s->cycle);
		schedule(s); /* done: kept until its end for close_session */
		return;
	}
	if (s->endtime <= now) {
		session_stop(s, "the TGT expired before it could be renewed");
		return;
	}
	subreq = renew_send(s->cycle, hctx->ev, kctx, s->tgt,
			    sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms));
	if (subreq == NULL) {
		cycle_retry(s, "out of memory");
		return;
	}
	tevent_req_set_callback(subreq, cycle_renewed, s);
}

/* KDC answers after which another attempt is pointless. */
static bool renewal_final(krb5_error_code kerr)
{
	switch (kerr) {
	case KRB5KDC_ERR_BADOPTION:	 /* not renewable */
	case KRB5KRB_AP_ERR_TKT_EXPIRED: /* too late */
	case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
	case KRB5KDC_ERR_CLIENT_REVOKED:
	case KRB5KDC_ERR_POLICY:
	case KRB5KDC_ERR_TGT_REVOKED:
		return true;
	}
	return false;
}

static void cycle_renewed(struct tevent_req *subreq)
{
	struct renew_session *s = tevent_req_callback_data(subreq, struct renew_session);
	struct sectxd_ctx *hctx = s->rn->hctx;
	krb5_creds *renewed = NULL, *list[2] = {NULL, NULL};
	krb5_error_code kerr = 0;
	struct sectx_writer_user who;
	char msg[RENEW_MSG_MAX] = "";
	int err;

	err = renew_recv(subreq, &renewed, &kerr, msg, sizeof(msg));
	TALLOC_FREE(subreq);
	if (err != 0) {
		cycle_retry(s, "%s", err == ETIMEDOUT ? "no KDC answered in time" : strerror(err));
		return;
	}
	if (kerr != 0) {
		if (renewal_final(kerr)) {
			s->rn->failed++;
			session_stop(s, "the KDC refused to renew: %s", msg);
		} else {
			cycle_retry(s, "%s", msg);
		}
		return;
	}
	if (!krb5_principal_compare(hctx->krb5->ctx, renewed->client, s->tgt->client)) {
		krb5_free_creds(hctx->krb5->ctx, renewed);
		cycle_retry(s, "the renewed TGT is for another client");
		return;
	}
	krb5_free_creds(hctx->krb5->ctx, s->tgt);
	s->tgt = renewed;
	s->endtime = renewed->times.endtime;
	s->renew_till = renewed->times.renew_till;
	/* As the user, and never recreating a cache the user destroyed. */
	list[0] = s->tgt;
	who_of(s, &who);
	subreq = sectx_writer_rewrite_send(
	    s->cycle, hctx->ev, hctx->writer, &who, s->ccache, hctx->krb5->ctx, list,
	    sectx_deadline_after((int64_t)hctx->cfg->sectxd.client_timeout_ms));
	if (subreq == NULL) {
		cycle_retry(s, "out of memory");
		return;
	}
	tevent_req_set_callback(subreq, cycle_written, s);
}

static void cycle_written(struct tevent_req *subreq)
{
	struct renew_session *s = tevent_req_callback_data(subreq, struct renew_session);
	struct sectxd_renewal *rn = s->rn;
	struct sectxd_ctx *hctx = rn->hctx;
	struct sectx_handle *h;
	krb5_creds *copy = NULL;
	char *name = NULL, until[32];
	int ret;

	ret = sectx_writer_store_recv(subreq, s->cycle, &name);
	TALLOC_FREE(subreq);
	if (ret == -ENOENT) {
		session_stop(s, "the ccache is gone (kdestroy)");
		return;
	}
	if (ret == -ESTALE || ret == -EEXIST) {
		session_stop(s, "the ccache no longer holds this session's principal");
		return;
	}
	if (ret == -EBUSY) {
		cycle_retry(s, "the ccache is locked by another process (not waited for)");
		return;
	}
	if (ret != 0) {
		cycle_retry(s, "cannot rewrite the ccache as the user: %s", strerror(-ret));
		return;
	}
	TALLOC_FREE(s->cycle);
	s->failures = 0;
	rn->renewed++;
	fmt_time(s->endtime, until, sizeof(until));
	SECTX_INFO("TGT of %s renewed until %s; ccache %s rewritten", s->user, until, s->ccache);
	set_last(rn, "%s: renewed until %s", s->user, until);
	/* setcred REFRESH after this must write the renewed TGT, not the old */
	h = s->handle[0] != '\0' ? sectx_handle_find(hctx, s->handle) : NULL;
	if (h != NULL && krb5_copy_creds(hctx->krb5->ctx, s->tgt, &copy) == 0) {
		sectx_handle_set_creds(hctx, h, copy, false);
	}
	save(rn);
	schedule(s);
}

/* Arm the next cycle of s (or, once there is nothing left to renew, its
 * drop at the TGT's end). */
static void schedule(struct renew_session *s)
{
	struct sectxd_renewal *rn = s->rn;
	const struct sectx_config *cfg = rn->hctx->cfg;
	int64_t now = (int64_t)time(NULL), left = s->endtime - now, delay;
	char until[32];

	TALLOC_FREE(s->te);
	if (!s->done && s->tgt != NULL &&
	    (!(s->tgt->ticket_flags & TKT_FLG_RENEWABLE) || s->renew_till <= s->endtime ||
	     s->renew_till <= now)) {
		s->done = true;
		fmt_time(s->endtime, until, sizeof(until));
		SECTX_INFO("the renewable lifetime of the TGT of %s has ended; it expires at %s "
			   "and is not renewed again",
			   s->user, until);
		set_last(rn, "%s: renewable lifetime ended", s->user);
		save(rn);
	}
	if (s->done) {
		delay = left > 0 ? left : 0;
	} else if (s->failures > 0) {
		int64_t ms = SECTX_RENEW_RETRY_MIN_MS;
		unsigned i;

		for (i = 1; i < s->failures && ms < SECTX_RENEW_RETRY_MAX_MS; i++) {
			ms *= 2;
		}
		delay = (ms < SECTX_RENEW_RETRY_MAX_MS ? ms : SECTX_RENEW_RETRY_MAX_MS) / 1000;
		if (delay > left / 2) {
			delay = left / 2; /* try again while the TGT is still good */
		}
	} else if (cfg->kerberos.renew_interval_ms > 0) {
		delay = (int64_t)(cfg->kerberos.renew_interval_ms / 1000);
		if (delay > left - left / 5) {
			delay = left - left / 5; /* never later than four fifths of the way */
		}
	} else {
		delay = left / 2;
	}
	if (delay < RENEW_MIN_DELAY_S) {
		delay = RENEW_MIN_DELAY_S;
	}
	s->te = tevent_add_timer(rn->hctx->ev, s, tevent_timeval_current_ofs((uint32_t)delay, 0),
				 cycle_start, s);
	if (s->te == NULL) {
		SECTX_ERROR("cannot schedule the renewal of the TGT of %s: out of memory", s->user);
	}
	SECTX_DEBUG("next renewal step for %s (%s) in %" PRId64 " s", s->user, s->ccache, delay);
}

/* --- registry --------------------------------------------------------------------------------- */

void sectx_renewal_register(struct sectxd_ctx *hctx, const struct sectx_handle *h,
			    const struct sectx_writer_user *who)
{
	struct sectxd_renewal *rn = renewal_of(hctx);
	krb5_context kctx = hctx->krb5->ctx;
	struct renew_session *s = NULL;
	char id[SESSION_ID_LEN + 1], *pname = NULL;
	size_t i;
	int ret = -ENOMEM;

	if (rn == NULL || h->creds == NULL || h->ccache == NULL) {
		return;
	}
	if (!(h->creds->ticket_flags & TKT_FLG_RENEWABLE) ||
	    h->creds->times.renew_till <= h->creds->times.endtime) {
		SECTX_DEBUG("the TGT of %s is not renewable: its session is not renewed", h->user);
		return;
	}
	if (session_id(h->id, id) != 0) {
		ret = -EIO;
		goto done;
	}
	if (find_id(rn, id) != NULL) {
		return; /* already registered */
	}
	/* One user's forgotten sessions (a crashed sshd never closes them) must
	 * not crowd out everyone else's: past the cap, the oldest stops. */
	{
		struct renew_session *t, *oldest = NULL;
		size_t mine = 0;

		for (t = rn->head; t != NULL; t = t->next) {
			if (strcmp(t->user, h->user) == 0) {
				mine++;
				oldest = t; /* the list is newest first */
			}
		}
		if (mine >= SECTX_RENEW_PER_USER && oldest != NULL) {
			session_stop(oldest, "%s has more than %u sessions", h->user,
				     SECTX_RENEW_PER_USER);
		}
	}
	if (rn->n >= SECTX_RENEW_SESSIONS_MAX) {
		ret = -EAGAIN;
		goto done;
	}
	s = session_new(rn);
	if (s == NULL) {
		goto done;
	}
	memcpy(s->id, id, sizeof(id));
	snprintf(s->handle, sizeof(s->handle), "%s", h->id);
	s->user = talloc_strdup(s, h->user);
	s->service = talloc_strdup(s, h->service);
	s->rhost = talloc_strdup(s, h->rhost);
	s->ccache = talloc_strdup(s, h->ccache);
	s->uid = who->uid;
	s->gid = who->gid;
	s->n_groups =
	    who->n_groups < SECTX_RENEW_GROUPS_MAX ? who->n_groups : SECTX_RENEW_GROUPS_MAX;
	s->groups = s->n_groups > 0 ? talloc_array(s, gid_t, s->n_groups) : NULL;
	if (s->user == NULL || s->service == NULL || s->rhost == NULL || s->ccache == NULL ||
	    (s->n_groups > 0 && s->groups == NULL) ||
	    krb5_unparse_name(kctx, h->creds->client, &pname) != 0 ||
	    (s->principal = talloc_strdup(s, pname)) == NULL ||
	    krb5_copy_creds(kctx, h->creds, &s->tgt) != 0) {
		s->tgt = NULL;
		goto done;
	}
	for (i = 0; i < s->n_groups; i++) {
		s->groups[i] = who->groups[i];
	}
	s->endtime = s->tgt->times.endtime;
	s->renew_till = s->tgt->times.renew_till;
	ret = 0;
	SECTX_INFO("session of %s (%s): its TGT is renewed until close_session", s->user,
		   s->ccache);
	save(rn);
	schedule(s);
	s = NULL;
done:
	krb5_free_unparsed_name(kctx, pname);
	talloc_free(s);
	if (ret != 0) {
		SECTX_ERROR("cannot register the session of %s for renewal: %s", h->user,
			    strerror(-ret));
	}
}

void sectx_renewal_unregister(struct sectxd_ctx *hctx, const char *handle, const char *why)
{
	struct sectxd_renewal *rn = renewal_of(hctx);
	struct renew_session *s;
	char id[SESSION_ID_LEN + 1];

	if (rn == NULL || handle == NULL || session_id(handle, id) != 0) {
		return;
	}
	s = find_id(rn, id);
	if (s == NULL) {
		return;
	}
	SECTX_INFO("renewal of the session of %s (%s) stops: %s", s->user, s->ccache, why);
	talloc_free(s);
	save(rn);
}

/* --- close after a restart -------------------------------------------------------------------- */

struct close_state {
	char *user, *ccache;
	gid_t *groups;
	struct sectx_writer_user who;
	krb5_principal princ;
	krb5_context kctx;
};

static int close_state_destructor(struct close_state *st)
{
	if (st->princ != NULL) {
		krb5_free_principal(st->kctx, st->princ);
	}
	return 0;
}

static void close_destroyed(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct close_state *st = tevent_req_data(req, struct close_state);
	int ret = sectx_writer_destroy_recv(subreq);

	TALLOC_FREE(subreq);
	if (ret == -ENOENT) {
		ret = 0;
	}
	SECTX_INFO("session of %s closed (opened before the helper restarted); ccache %s %s",
		   st->user, st->ccache, ret == 0 ? "destroyed" : "could not be destroyed");
	if (ret != 0) {
		tevent_req_error(req, -ret);
		return;
	}
	tevent_req_done(req);
}

struct tevent_req *sectx_renewal_close_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					    const char *handle, const char *user,
					    const char *service, const char *rhost, bool retain)
{
	struct sectxd_renewal *rn = renewal_of(hctx);
	struct renew_session *s;
	struct tevent_req *req, *subreq;
	struct close_state *st;
	char id[SESSION_ID_LEN + 1];

	if (rn == NULL || handle == NULL || session_id(handle, id) != 0) {
		return NULL;
	}
	s = find_id(rn, id);
	if (s == NULL || strcmp(s->user, user) != 0 || strcmp(s->service, service) != 0 ||
	    strcmp(s->rhost, rhost != NULL ? rhost : "") != 0) {
		return NULL;
	}
	req = tevent_req_create(mem_ctx, &st, struct close_state);
	if (req == NULL) {
		return NULL;
	}
	tevent_req_defer_callback(req, hctx->ev);
	st->kctx = hctx->krb5->ctx;
	talloc_set_destructor(st, close_state_destructor);
	st->user = talloc_strdup(st, s->user);
	st->ccache = talloc_strdup(st, s->ccache);
	st->groups =
	    s->n_groups > 0 ? talloc_memdup(st, s->groups, s->n_groups * sizeof(gid_t)) : NULL;
	if (st->user == NULL || st->ccache == NULL || (s->n_groups > 0 && st->groups == NULL) ||
	    krb5_parse_name(st->kctx, s->principal, &st->princ) != 0) {
		st->princ = NULL;
		talloc_free(req);
		return NULL;
	}
	st->who.uid = s->uid;
	st->who.gid = s->gid;
	st->who.groups = st->groups;
	st->who.n_groups = s->n_groups;
	st->who.name = st->user;
	SECTX_INFO("renewal of the session of %s (%s) stops: session closed", s->user, s->ccache);
	talloc_free(s);
	save(rn);
	if (retain) {
		SECTX_INFO("session of %s closed; ccache %s kept (retain_after_close)", st->user,
			   st->ccache);
		tevent_req_done(req);
		return tevent_req_post(req, hctx->ev);
	}
	subreq = sectx_writer_destroy_send(
	    st, hctx->ev, hctx->writer, &st->who, st->ccache, st->kctx, st->princ,
	    sectx_deadline_after((int64_t)hctx->cfg->sectxd.client_timeout_ms));
	if (tevent_req_nomem(subreq, req)) {
		return tevent_req_post(req, hctx->ev);
	}
	tevent_req_set_callback(subreq, close_destroyed, req);
	return req;
}

int sectx_renewal_close_recv(struct tevent_req *req)
{
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	return 0;
}

/* --- subsystem ----------------------------------------------------------------------------------
 */

static int renewal_destructor(struct sectxd_renewal *rn)
{
	/* sessions first: their destructors use rn */
	while (rn->head != NULL) {
		talloc_free(rn->head);
	}
	if (rn->dirfd >= 0) {
		close(rn->dirfd);
	}
	return 0;
}

static int renewal_start(struct sectxd_ctx *hctx)
{
	struct sectxd_renewal *rn = talloc_zero(hctx, struct sectxd_renewal);
	struct renew_session *s;
	int ret;

	if (rn == NULL) {
		return -ENOMEM;
	}
	rn->hctx = hctx;
	rn->dirfd = -1;
	talloc_set_destructor(rn, renewal_destructor);
	ret = sectx_state_dir_open(hctx->cfg->sectxd.state_dir);
	if (ret < 0) {
		SECTX_ERROR("state directory %s must be a directory owned by uid %u, mode 0700: %s",
			    hctx->cfg->sectxd.state_dir, (unsigned)geteuid(), strerror(-ret));
		talloc_free(rn);
		return ret;
	}
	rn->dirfd = ret;
	hctx->renewal = rn;
	load(rn);
	for (s = rn->head; s != NULL; s = s->next) {
		schedule(s);
	}
	return 0;
}

static void renewal_status(struct sectxd_ctx *hctx, struct sectx_wbuf *w)
{
	struct sectxd_renewal *rn = renewal_of(hctx);
	const struct renew_session *s;
	uint32_t active = 0;

	if (rn == NULL) {
		return;
	}
	for (s = rn->head; s != NULL; s = s->next) {
		active += !s->done;
	}
	sectx_put_u32(w, SECTX_TAG_RENEW_SESSIONS, active);
	sectx_put_u64(w, SECTX_TAG_RENEW_DONE, rn->renewed);
	sectx_put_u64(w, SECTX_TAG_RENEW_FAILED, rn->failed);
	if (rn->last[0] != '\0') {
		char clean[RENEW_LAST_MAX];

		sectx_put_string(
		    w, SECTX_TAG_RENEW_LAST,
		    sectx_log_escape(rn->last, strlen(rn->last), clean, sizeof(clean)));
	}
}

static void renewal_stop(struct sectxd_ctx *hctx)
{
	struct sectxd_renewal *rn = renewal_of(hctx);

	hctx->renewal = NULL;
	talloc_free(rn);
}

const struct sectxd_subsystem sectxd_renewal_subsystem = {
    .name = "session renewal",
    .start = renewal_start,
    .status = renewal_status,
    .stop = renewal_stop,
};
