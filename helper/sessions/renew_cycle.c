/*
 * sessions/renew_cycle.c - one renewal cycle of a registered session: read
 * its ccache as the user (is it still there, with the session's principal?
 * and, after a restart, the TGT to renew), renew the TGT with the KDC in a
 * worker (renew_worker.c), and rewrite the ccache as the user through the
 * ccache writer; then the next step is scheduled (renewal.c), or the session
 * stops for good.
 *
 * Who reaches this: the session's timer only (armed by renewal.c).  What a
 * user can make it do: renew their own TGT and rewrite their own cache, as
 * themselves.
 *
 * Must never: touch a user's cache as root (every read and write goes
 * through the ccache writer, which drops to the user), recreate a cache its
 * user destroyed, or block the loop on a KDC.  A cycle belongs to its
 * session (s->cycle): closing the session frees it, which cancels the writer
 * jobs and kills the worker.
 */
#include "sessions/sessions_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ccache_writer/ccache_writer.h"
#include "clock.h"
#include "core/daemon.h"
#include "login/login.h"
#include "log.h"

static void who_of(const struct renew_session *s, struct sectx_writer_user *who)
{
	who->uid = s->uid;
	who->gid = s->gid;
	who->groups = s->groups;
	who->n_groups = s->n_groups;
	who->name = s->user;
}

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
	sectx_renew_set_last(rn, "%s: renewal failed: %s", s->user, why);
	sectx_renew_schedule(s);
}

void sectx_renew_cycle_start(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
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
		sectx_sessions_save(hctx->renewal);
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
		sectx_renew_session_stop(s, "the ccache is gone (kdestroy)");
		return;
	}
	if (ret == -ESTALE) {
		sectx_renew_session_stop(s, "the ccache is no longer the user's cache file");
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
		sectx_renew_session_stop(
		    s, "the ccache now holds %s, not %s (kinit as someone else)",
		    sectx_log_escape(principal, strlen(principal), esc, sizeof(esc)), s->principal);
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
		sectx_renew_session_stop(s, "the ccache holds no TGT");
		return;
	}
	s->endtime = s->tgt->times.endtime;
	s->renew_till = s->tgt->times.renew_till;
	if (!(s->tgt->ticket_flags & TKT_FLG_RENEWABLE) || s->renew_till <= now ||
	    s->renew_till <= s->endtime) {
		TALLOC_FREE(s->cycle);
		sectx_renew_schedule(s); /* done: kept until its end for close_session */
		return;
	}
	if (s->endtime <= now) {
		sectx_renew_session_stop(s, "the TGT expired before it could be renewed");
		return;
	}
	subreq =
	    sectx_renew_send(s->cycle, hctx->ev, kctx, s->tgt,
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

	err = sectx_renew_recv(subreq, &renewed, &kerr, msg, sizeof(msg));
	TALLOC_FREE(subreq);
	if (err != 0) {
		cycle_retry(s, "%s",
			    err == -ETIMEDOUT ? "no KDC answered in time" : strerror(-err));
		return;
	}
	if (kerr != 0) {
		if (renewal_final(kerr)) {
			s->rn->failed++;
			sectx_renew_session_stop(s, "the KDC refused to renew: %s", msg);
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
		sectx_renew_session_stop(s, "the ccache is gone (kdestroy)");
		return;
	}
	if (ret == -ESTALE || ret == -EEXIST) {
		sectx_renew_session_stop(s, "the ccache no longer holds this session's principal");
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
	s->last_renewal = (int64_t)time(NULL);
	rn->renewed++;
	sectx_renew_fmt_time(s->endtime, until, sizeof(until));
	SECTX_INFO("TGT of %s renewed until %s; ccache %s rewritten", s->user, until, s->ccache);
	sectx_renew_set_last(rn, "%s: renewed until %s", s->user, until);
	/* setcred REFRESH after this must write the renewed TGT, not the old */
	h = s->handle[0] != '\0' ? sectx_handle_find(hctx, s->handle) : NULL;
	if (h != NULL && krb5_copy_creds(hctx->krb5->ctx, s->tgt, &copy) == 0) {
		sectx_handle_set_creds(hctx, h, copy, false);
	}
	sectx_sessions_save(rn);
	sectx_renew_schedule(s);
}
