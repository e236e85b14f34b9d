/*
 * offline/realm_state.c - the realm's online/offline state and its background probe
 * (offline.h).
 *
 * Who reaches this: the Kerberos engine at the end of every KDC exchange,
 * through the observer this file registers at start (sectx_kdc_set_observer:
 * login/ never calls up into offline/), ops/pam_auth.c before a login, the status
 * operation.  No client can change the state directly: only the outcome of
 * the helper's own KDC exchanges does.  The probe sends an AS-REQ for
 * krbtgt/REALM without any key: it proves nothing about anyone, and any
 * reply from a KDC (an error is the usual one) counts as "reachable".  It
 * never holds a password or a ticket.
 */
#include "offline/offline.h"

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "login/login.h"
#include "log.h"

struct sectx_realm_state {
	struct sectxd_ctx *hctx;
	bool offline;
	int64_t since_ms;      /* monotonic: when the current state began */
	uint64_t interval_ms;  /* the probe interval now (doubles while offline) */
	int64_t next_probe_ms; /* monotonic; 0: none armed */
	int64_t last_probe_ms; /* monotonic: when the last probe was sent */
	struct tevent_timer *timer;
	struct tevent_req *probe; /* the probe exchange in flight, or NULL */
};

bool sectx_realm_unreachable_error(int err)
{
	switch (err) {
	case ETIMEDOUT:
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENOENT: /* no KDC address: krb5.conf lists none, or none resolves */
		return true;
	default:
		return false;
	}
}

static void probe_arm(struct sectx_realm_state *rs);

static void probe_done(struct tevent_req *subreq)
{
	struct sectx_realm_state *rs = tevent_req_callback_data(subreq, struct sectx_realm_state);
	uint8_t *reply = NULL;
	size_t len = 0;

	/* sectx_kdc_recv reports the outcome through realm_observe */
	(void)sectx_kdc_recv(subreq, subreq, &reply, &len);
	TALLOC_FREE(subreq);
	rs->probe = NULL;
	if (rs->offline) {
		uint64_t max = rs->hctx->cfg->offline.probe_max_ms;

		rs->interval_ms = rs->interval_ms * 2 > max ? max : rs->interval_ms * 2;
		probe_arm(rs);
	}
}

/* Build the first AS-REQ of an exchange for krbtgt/REALM and send it. */
static void probe_fire(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		       void *private_data)
{
	struct sectx_realm_state *rs = private_data;
	struct sectxd_ctx *hctx = rs->hctx;
	krb5_context ctx = hctx->krb5->ctx;
	krb5_init_creds_context icc = NULL;
	krb5_principal client = NULL;
	krb5_data in = {.magic = KV5M_DATA, .length = 0, .data = NULL};
	krb5_data out = {0}, realm = {0};
	unsigned int flags = 0;
	krb5_error_code kerr;

	rs->timer = NULL;
	rs->next_probe_ms = 0;
	if (!rs->offline || rs->probe != NULL || hctx->realm == NULL || hctx->realm[0] == '\0') {
		return;
	}
	kerr = krb5_build_principal(ctx, &client, (unsigned int)strlen(hctx->realm), hctx->realm,
				    "krbtgt", hctx->realm, (char *)NULL);
	if (kerr == 0) {
		kerr = krb5_init_creds_init(ctx, client, NULL, NULL, 0, NULL, &icc);
	}
	if (kerr == 0) {
		kerr = krb5_init_creds_step(ctx, icc, &in, &out, &realm, &flags);
	}
	if (kerr == 0 && (flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE)) {
		rs->probe = sectx_kdc_send(
		    rs, hctx->ev, hctx->krb5, &realm, &out, false,
		    sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms));
	}
	if (rs->probe != NULL) {
		rs->last_probe_ms = sectx_now_ms();
		SECTX_DEBUG("probing realm %s", hctx->realm);
		tevent_req_set_callback(rs->probe, probe_done, rs);
	} else {
		SECTX_WARN("cannot probe realm %s: %s", hctx->realm,
			   kerr != 0 ? "cannot build a request" : "out of memory");
		probe_arm(rs); /* try again at the same interval */
	}
	krb5_free_data_contents(ctx, &out);
	krb5_free_data_contents(ctx, &realm);
	if (icc != NULL) {
		krb5_init_creds_free(ctx, icc);
	}
	krb5_free_principal(ctx, client);
}

static void probe_arm(struct sectx_realm_state *rs)
{
	uint64_t ms = rs->interval_ms;

	TALLOC_FREE(rs->timer);
	rs->timer = tevent_add_timer(rs->hctx->ev, rs,
				     tevent_timeval_current_ofs(ms / 1000, (ms % 1000) * 1000),
				     probe_fire, rs);
	rs->next_probe_ms = rs->timer != NULL ? sectx_now_ms() + (int64_t)ms : 0;
	if (rs->timer == NULL) {
		SECTX_ERROR("cannot arm the probe of realm %s: out of memory", rs->hctx->realm);
	}
}

/* The KDC observer (sectx_kdc_set_observer): a KDC exchange with realm has
 * ended, err 0 when a KDC answered, else the -errno of sectx_kdc_recv.  Moves
 * the host's realm online or offline and (re)arms the probe.  An exchange
 * with any other realm changes nothing: users choose those (the TGT realm of
 * a ccache they pass), and "no KDC for realm X" must never put the host's
 * realm offline, where logins are checked against cached hashes only. */
static void realm_observe(void *data, const krb5_data *realm, int err)
{
	struct sectx_realm_state *rs = data;
	struct sectxd_krb5 *k = rs->hctx->krb5;
	const char *home;

	err = -err;
	home = rs->hctx->realm;
	if (home == NULL || realm == NULL || realm->length != strlen(home) ||
	    memcmp(realm->data, home, realm->length) != 0) {
		return; /* another realm's KDCs say nothing about ours */
	}
	if (err == 0) {
		if (rs->offline) {
			SECTX_INFO("realm %s is back online (KDC %s answered after %lld s offline)",
				   rs->hctx->realm, k->last_kdc != NULL ? k->last_kdc : "?",
				   (long long)((sectx_now_ms() - rs->since_ms) / 1000));
			rs->offline = false;
			rs->since_ms = sectx_now_ms();
			rs->next_probe_ms = 0;
			TALLOC_FREE(rs->timer);
		}
		return;
	}
	if (!sectx_realm_unreachable_error(err)) {
		return;
	}
	talloc_free(k->last_error);
	k->last_error = talloc_asprintf(k, "no KDC answered: %s", strerror(err));
	if (rs->offline) {
		return;
	}
	rs->offline = true;
	rs->since_ms = sectx_now_ms();
	rs->interval_ms = rs->hctx->cfg->offline.probe_ms;
	SECTX_WARN("realm %s is offline: no KDC answered (%s); probing in %llu ms, backing off "
		   "to %llu ms",
		   rs->hctx->realm, strerror(err), (unsigned long long)rs->interval_ms,
		   (unsigned long long)rs->hctx->cfg->offline.probe_max_ms);
	if (rs->probe == NULL) {
		probe_arm(rs);
	}
}

bool sectx_realm_is_offline(const struct sectxd_ctx *hctx)
{
	return hctx->realm_state != NULL && hctx->realm_state->offline;
}

void sectx_realm_wanted(struct sectxd_ctx *hctx)
{
	struct sectx_realm_state *rs = hctx->realm_state;
	uint64_t base;

	if (rs == NULL || !rs->offline || rs->probe != NULL) {
		return;
	}
	base = hctx->cfg->offline.probe_ms;
	if (sectx_now_ms() - rs->last_probe_ms < (int64_t)base) {
		return; /* logins never probe more often than the base interval */
	}
	/* someone wants the realm now: the backoff was for an idle host */
	rs->interval_ms = base;
	TALLOC_FREE(rs->timer);
	probe_fire(hctx->ev, NULL, tevent_timeval_zero(), rs);
}

/* --- subsystem -------------------------------------------------------------- */

static int realm_start(struct sectxd_ctx *hctx)
{
	struct sectx_realm_state *rs = talloc_zero(hctx, struct sectx_realm_state);

	if (rs == NULL) {
		return -ENOMEM;
	}
	rs->hctx = hctx;
	rs->since_ms = sectx_now_ms();
	rs->interval_ms = hctx->cfg->offline.probe_ms;
	hctx->realm_state = rs;
	sectx_kdc_set_observer(hctx->krb5, realm_observe, rs);
	return 0;
}

static void realm_status(struct sectxd_ctx *hctx, struct sectx_wbuf *w)
{
	struct sectx_realm_state *rs = hctx->realm_state;
	int64_t now = sectx_now_ms();

	if (rs == NULL) {
		return;
	}
	sectx_put_string(w, SECTX_TAG_REALM_STATE, rs->offline ? "offline" : "online");
	sectx_put_u64(w, SECTX_TAG_REALM_SINCE, (uint64_t)((now - rs->since_ms) / 1000));
	if (rs->offline) {
		int64_t left = rs->next_probe_ms > now ? rs->next_probe_ms - now : 0;

		sectx_put_u64(w, SECTX_TAG_NEXT_PROBE, (uint64_t)((left + 999) / 1000));
	}
}

static void realm_stop(struct sectxd_ctx *hctx)
{
	if (hctx->krb5 != NULL) {
		sectx_kdc_set_observer(hctx->krb5, NULL, NULL);
	}
	TALLOC_FREE(hctx->realm_state);
}

const struct sectxd_subsystem sectxd_realm_subsystem = {
    .name = "realm state",
    .start = realm_start,
    .status = realm_status,
    .stop = realm_stop,
};
