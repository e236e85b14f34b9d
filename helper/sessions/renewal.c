/*
 * sessions/renewal.c - the registry of open sessions whose TGT sectxd renews
 * (sessions.h), and when each one's next step is due.  One renewal cycle is
 * renew_cycle.c, the worker that talks to the KDC renew_worker.c, the state
 * file sessions_file.c; what they share is sessions_int.h.
 *
 * Who reaches this: the PAM ops (ops/), for sessions they have authorised,
 * through sectx_renewal_register / _unregister / _close_send; nothing here
 * is reachable by a peer directly.
 *
 * Must never: write a ticket to the helper's own files (the sessions file is
 * metadata), touch a user's cache as root (every read and write goes through
 * the ccache writer, which drops to the user), recreate a cache its user
 * destroyed, or block the loop on a KDC (the renewal runs in a worker process
 * killed at the deadline).  A cycle belongs to its session: closing the
 * session frees it, which cancels the writer jobs and kills the worker.
 */
#include "sessions/sessions_int.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "core/state_file.h"
#include "login/login.h"
#include "log.h"

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

struct renew_session *sectx_renew_find_id(struct sectxd_renewal *rn, const char *id)
{
	struct renew_session *s, *found = NULL;

	for (s = rn->head; s != NULL; s = s->next) {
		if (CRYPTO_memcmp(s->id, id, SESSION_ID_LEN) == 0) {
			found = s;
		}
	}
	return found;
}

void sectx_renew_fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(buf, len, "%" PRId64, t);
	}
}

void sectx_renew_set_last(struct sectxd_renewal *rn, const char *fmt, ...)
{
	char ts[32];
	size_t n;
	va_list ap;

	sectx_renew_fmt_time((int64_t)time(NULL), ts, sizeof(ts));
	n = (size_t)snprintf(rn->last, sizeof(rn->last), "%s ", ts);
	if (n >= sizeof(rn->last)) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(rn->last + n, sizeof(rn->last) - n, fmt, ap);
	va_end(ap);
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

struct renew_session *sectx_renew_session_new(struct sectxd_renewal *rn)
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

void sectx_renew_session_stop(struct renew_session *s, const char *fmt, ...)
{
	struct sectxd_renewal *rn = s->rn;
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	SECTX_INFO("renewal of the session of %s (%s) stops: %s", s->user, s->ccache, why);
	sectx_renew_set_last(rn, "%s: renewal stopped: %s", s->user, why);
	talloc_free(s);
	sectx_sessions_save(rn);
}

/* --- when the next step is due ---------------------------------------------- */

int64_t sectx_renew_next_delay(const struct sectx_renew_timing *t, int64_t now,
			       uint64_t renew_interval_ms, bool *done)
{
	int64_t left = t->endtime - now, delay;

	*done = t->done || (t->have_tgt &&
			    (!t->renewable || t->renew_till <= t->endtime || t->renew_till <= now));
	if (*done) {
		delay = left > 0 ? left : 0;
	} else if (t->failures > 0) {
		int64_t ms = SECTX_RENEW_RETRY_MIN_MS;
		unsigned i;

		for (i = 1; i < t->failures && ms < SECTX_RENEW_RETRY_MAX_MS; i++) {
			ms *= 2;
		}
		delay = (ms < SECTX_RENEW_RETRY_MAX_MS ? ms : SECTX_RENEW_RETRY_MAX_MS) / 1000;
		if (delay > left / 2) {
			delay = left / 2; /* try again while the TGT is still good */
		}
	} else if (renew_interval_ms > 0) {
		delay = (int64_t)(renew_interval_ms / 1000);
		if (delay > left - left / 5) {
			delay = left - left / 5; /* never later than four fifths of the way */
		}
	} else {
		delay = left / 2;
	}
	if (delay < RENEW_MIN_DELAY_S) {
		delay = RENEW_MIN_DELAY_S;
	}
	return delay;
}

void sectx_renew_schedule(struct renew_session *s)
{
	struct sectxd_renewal *rn = s->rn;
	const struct sectx_config *cfg = rn->hctx->cfg;
	struct sectx_renew_timing t = {
	    .endtime = s->endtime,
	    .renew_till = s->renew_till,
	    .have_tgt = s->tgt != NULL,
	    .renewable = s->tgt != NULL && (s->tgt->ticket_flags & TKT_FLG_RENEWABLE) != 0,
	    .done = s->done,
	    .failures = s->failures,
	};
	bool done = false;
	int64_t delay;
	char until[32];

	TALLOC_FREE(s->te);
	delay =
	    sectx_renew_next_delay(&t, (int64_t)time(NULL), cfg->kerberos.renew_interval_ms, &done);
	if (done && !s->done) {
		s->done = true;
		sectx_renew_fmt_time(s->endtime, until, sizeof(until));
		SECTX_INFO("the renewable lifetime of the TGT of %s has ended; it expires at %s "
			   "and is not renewed again",
			   s->user, until);
		sectx_renew_set_last(rn, "%s: renewable lifetime ended", s->user);
		sectx_sessions_save(rn);
	}
	s->te = tevent_add_timer(rn->hctx->ev, s, tevent_timeval_current_ofs((uint32_t)delay, 0),
				 sectx_renew_cycle_start, s);
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
	if (sectx_renew_find_id(rn, id) != NULL) {
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
			sectx_renew_session_stop(oldest, "%s has more than %u sessions", h->user,
						 SECTX_RENEW_PER_USER);
		}
	}
	if (rn->n >= SECTX_RENEW_SESSIONS_MAX) {
		ret = -EAGAIN;
		goto done;
	}
	s = sectx_renew_session_new(rn);
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
	sectx_sessions_save(rn);
	sectx_renew_schedule(s);
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
	s = sectx_renew_find_id(rn, id);
	if (s == NULL) {
		return;
	}
	SECTX_INFO("renewal of the session of %s (%s) stops: %s", s->user, s->ccache, why);
	talloc_free(s);
	sectx_sessions_save(rn);
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
	s = sectx_renew_find_id(rn, id);
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
	sectx_sessions_save(rn);
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
	sectx_sessions_load(rn);
	for (s = rn->head; s != NULL; s = s->next) {
		sectx_renew_schedule(s);
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
