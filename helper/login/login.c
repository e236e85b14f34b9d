/*
 * login/login.c - the password login: AS exchange, FAST armour, expired
 * passwords, and validation of the TGT with a host key.
 *
 * Who reaches this: the PAM ops (ops/), for an authenticate or password
 * change that they have authorised.  What it can be made to do: one AS
 * exchange for the named principal with the given password, bounded by the
 * deadline, and for a TGT one TGS exchange for a host principal of the
 * keytab plus a local AP exchange.  Validation is what makes a login
 * trustworthy: a TGT proves nothing until a ticket issued with it has been
 * decrypted with a key only the real KDC and this host know, so a spoofed
 * KDC (which can issue any TGT for a password it chose) cannot log anyone
 * in.  A failed validation refuses the login and says why in the log.
 *
 * An expired password is answered by the KDC before it checks preauth, so
 * KEY_EXP proves nothing about the password typed: the password is then
 * checked by obtaining a kadmin/changepw ticket with it, which the KDC
 * allows for expired passwords and which does check it.
 *
 * The password lives in a buffer that is wiped when the request is freed;
 * libkrb5 keeps its own copy in the init_creds context and wipes it there.
 * The exchanges themselves run through the step driver of tgs.c; the host
 * principals come from keytab.c.
 */
#include "login/login_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/* --- the login request ------------------------------------------------------ */

struct login_state {
	struct tevent_context *ev;
	struct sectxd_ctx *hctx;
	struct sectxd_krb5 *k;
	krb5_context ctx;
	int64_t deadline;
	krb5_principal client;
	char *password;
	const char *service;
	bool verifying_expired; /* KEY_EXP seen: now checking via kadmin/changepw */

	krb5_get_init_creds_opt *opts;
	krb5_init_creds_context icc;
	krb5_creds *creds;

	/* armour */
	struct sectx_armor *armor; /* the armour this login uses (a reference) */
	krb5_init_creds_context armor_icc;
	krb5_get_init_creds_opt *armor_opts;
	krb5_ccache armor_cc; /* being filled; becomes the armour on success */
	krb5_principal armor_client;

	/* validation */
	krb5_keytab kt;
	krb5_principal *hosts;
	size_t n_hosts;
	size_t host_idx;
	krb5_ccache mcc;
	krb5_tkt_creds_context tcc;

	struct sectx_login_out out;
};

static int login_state_destructor(struct login_state *st)
{
	krb5_context ctx = st->ctx;

	if (st->password != NULL) {
		explicit_bzero(st->password, talloc_get_size(st->password));
	}
	if (st->icc != NULL) {
		krb5_init_creds_free(ctx, st->icc);
	}
	if (st->armor_icc != NULL) {
		krb5_init_creds_free(ctx, st->armor_icc);
	}
	if (st->armor_opts != NULL) {
		krb5_get_init_creds_opt_free(ctx, st->armor_opts);
	}
	if (st->armor_cc != NULL) {
		krb5_cc_destroy(ctx, st->armor_cc);
	}
	if (st->tcc != NULL) {
		krb5_tkt_creds_free(ctx, st->tcc);
	}
	if (st->opts != NULL) {
		krb5_get_init_creds_opt_free(ctx, st->opts);
	}
	if (st->creds != NULL) {
		krb5_free_creds(ctx, st->creds);
	}
	if (st->mcc != NULL) {
		krb5_cc_destroy(ctx, st->mcc);
	}
	if (st->kt != NULL) {
		krb5_kt_close(ctx, st->kt);
	}
	if (st->hosts != NULL) {
		sectx_free_principals(ctx, st->hosts, st->n_hosts);
	}
	krb5_free_principal(ctx, st->client);
	krb5_free_principal(ctx, st->armor_client);
	sectx_armor_release(st->armor); /* after icc, which may still read it */
	if (st->out.creds != NULL) {
		krb5_free_creds(ctx, st->out.creds);
	}
	return 0;
}

/* Finish with result and a log message (printf-style, never a secret). */
static void login_finish(struct tevent_req *req, enum sectx_login_result result, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));
static void login_finish(struct tevent_req *req, enum sectx_login_result result, const char *fmt,
			 ...)
{
	struct login_state *st = tevent_req_data(req, struct login_state);
	va_list ap;

	st->out.result = result;
	if (fmt != NULL) {
		va_start(ap, fmt);
		st->out.message = talloc_vasprintf(st, fmt, ap);
		va_end(ap);
	}
	tevent_req_done(req);
}

static const char *kerr_text(struct login_state *st, krb5_error_code kerr)
{
	const char *msg = krb5_get_error_message(st->ctx, kerr);
	char *copy = talloc_strdup(st, msg != NULL ? msg : "unknown Kerberos error");

	krb5_free_error_message(st->ctx, msg);
	return copy != NULL ? copy : "unknown Kerberos error";
}

static void login_start_as(struct tevent_req *req);
static void login_as_done(struct tevent_req *subreq);
static void login_armor_done(struct tevent_req *subreq);
static void login_validate_next(struct tevent_req *req);
static void login_validate_done(struct tevent_req *subreq);

/* Armour: make sure k->armor holds a fresh host TGT, then start the AS
 * exchange.  The armour ticket is shared by all logins and renewed when it
 * has less than five minutes left. */
static void login_start(struct tevent_req *req)
{
	struct login_state *st = tevent_req_data(req, struct login_state);
	const struct sectx_config *cfg = st->hctx->cfg;
	krb5_timestamp now = 0;
	struct tevent_req *subreq;
	krb5_error_code kerr;

	if (cfg->kerberos.fast == SECTX_FAST_NEVER) {
		login_start_as(req);
		return;
	}
	krb5_timeofday(st->ctx, &now);
	if (st->k->armor != NULL && st->k->armor->end - now > 300) {
		st->armor = st->k->armor;
		st->armor->refs++;
		login_start_as(req);
		return;
	}
	kerr = krb5_kt_resolve(st->ctx, cfg->kerberos.keytab, &st->kt);
	if (kerr == 0) {
		kerr = sectx_keytab_principals(st, st->ctx, st->kt, &st->client->realm, &st->hosts,
					       &st->n_hosts);
	}
	if (kerr != 0 || st->n_hosts == 0) {
		if (cfg->kerberos.fast == SECTX_FAST_DEMAND) {
			login_finish(req, SECTX_LOGIN_ERROR,
				     "FAST is demanded but keytab %s has no key for realm %.*s",
				     cfg->kerberos.keytab, (int)st->client->realm.length,
				     st->client->realm.data);
			return;
		}
		login_start_as(req);
		return;
	}
	/* libkrb5 writes the armour TGT into a fresh MEMORY ccache itself, and
	 * with it the fast_avail marker when the KDC offers FAST: with that
	 * marker the first AS request of a login is armoured already; without
	 * it every login costs one round trip more. */
	kerr = krb5_copy_principal(st->ctx, st->hosts[0], &st->armor_client);
	if (kerr == 0) {
		kerr = krb5_cc_new_unique(st->ctx, "MEMORY", NULL, &st->armor_cc);
	}
	if (kerr == 0) {
		kerr = krb5_get_init_creds_opt_alloc(st->ctx, &st->armor_opts);
	}
	if (kerr == 0) {
		kerr =
		    krb5_get_init_creds_opt_set_out_ccache(st->ctx, st->armor_opts, st->armor_cc);
	}
	if (kerr == 0) {
		kerr = krb5_init_creds_init(st->ctx, st->armor_client, NULL, NULL, 0,
					    st->armor_opts, &st->armor_icc);
	}
	if (kerr == 0) {
		kerr = krb5_init_creds_set_keytab(st->ctx, st->armor_icc, st->kt);
	}
	if (kerr != 0) {
		login_finish(req, SECTX_LOGIN_ERROR, "cannot set up FAST armour: %s",
			     kerr_text(st, kerr));
		return;
	}
	subreq = sectx_step_send(st, st->ev, st->k, sectx_icc_step, st->armor_icc, st->deadline);
	if (tevent_req_nomem(subreq, req)) {
		return;
	}
	tevent_req_set_callback(subreq, login_armor_done, req);
}

static void login_armor_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct login_state *st = tevent_req_data(req, struct login_state);
	krb5_ticket_times times;
	krb5_error_code kerr;
	int io_err = 0;
	int ret;

	ret = sectx_step_recv(subreq, &kerr);
	io_err = ret != -EIO ? -ret : 0; /* no KDC answered */
	TALLOC_FREE(subreq);
	memset(&times, 0, sizeof(times));
	if (kerr == 0) {
		kerr = krb5_init_creds_get_times(st->ctx, st->armor_icc, &times);
	}
	if (kerr == 0) {
		struct sectx_armor *a = calloc(1, sizeof(*a));

		if (a == NULL) {
			login_finish(req, SECTX_LOGIN_ERROR, "out of memory");
			return;
		}
		*a = (struct sectx_armor){
		    .ctx = st->ctx, .cc = st->armor_cc, .end = times.endtime, .refs = 2};
		st->armor_cc = NULL;
		/* the store's reference replaces the old one; logins that armour
		 * with the old ticket keep theirs until they are done */
		sectx_armor_release(st->k->armor);
		st->k->armor = a;
		st->armor = a;
		SECTX_DEBUG("FAST armour ticket obtained with the host keytab");
		login_start_as(req);
		return;
	}
	if (io_err != 0) {
		login_finish(req, SECTX_LOGIN_UNAVAIL, "no KDC answered for the armour ticket: %s",
			     strerror(io_err));
		return;
	}
	if (st->hctx->cfg->kerberos.fast == SECTX_FAST_DEMAND) {
		login_finish(req, SECTX_LOGIN_ERROR, "FAST is demanded but no armour ticket: %s",
			     kerr_text(st, kerr));
		return;
	}
	SECTX_WARN("no FAST armour (continuing without): %s", kerr_text(st, kerr));
	login_start_as(req);
}

/* libkrb5 (1.18+) calls this from krb5_init_creds_step when the AS-REP tells
 * when the password or the principal expires. */
static void login_expire_cb(krb5_context ctx, void *data, krb5_timestamp password_expiration,
			    krb5_timestamp account_expiration, krb5_boolean is_last_req)
{
	struct login_state *st = data;

	st->out.pw_expiry = password_expiration;
	st->out.acct_expiry = account_expiration;
}

static void login_start_as(struct tevent_req *req)
{
	struct login_state *st = tevent_req_data(req, struct login_state);
	const struct sectx_config *cfg = st->hctx->cfg;
	const char *service = st->verifying_expired ? "kadmin/changepw" : st->service;
	struct tevent_req *subreq;
	krb5_error_code kerr;

	if (st->icc != NULL) {
		krb5_init_creds_free(st->ctx, st->icc);
		st->icc = NULL;
	}
	if (st->opts != NULL) {
		krb5_get_init_creds_opt_free(st->ctx, st->opts);
		st->opts = NULL;
	}
	kerr = krb5_get_init_creds_opt_alloc(st->ctx, &st->opts);
	if (kerr != 0) {
		goto fail;
	}
	if (service == NULL) {
		krb5_get_init_creds_opt_set_tkt_life(
		    st->opts, (krb5_deltat)(cfg->kerberos.ticket_lifetime_ms / 1000));
		if (cfg->kerberos.renew_lifetime_ms > 0) {
			krb5_get_init_creds_opt_set_renew_life(
			    st->opts, (krb5_deltat)(cfg->kerberos.renew_lifetime_ms / 1000));
		}
		krb5_get_init_creds_opt_set_forwardable(st->opts, cfg->kerberos.forwardable);
		kerr = krb5_get_init_creds_opt_set_expire_callback(st->ctx, st->opts,
								   login_expire_cb, st);
		if (kerr != 0) {
			goto fail;
		}
	} else {
		/* a password-change ticket: short, not renewable, not forwardable */
		krb5_get_init_creds_opt_set_tkt_life(st->opts, 5 * 60);
		krb5_get_init_creds_opt_set_renew_life(st->opts, 0);
		krb5_get_init_creds_opt_set_forwardable(st->opts, 0);
		krb5_get_init_creds_opt_set_proxiable(st->opts, 0);
	}
	if (st->armor != NULL && cfg->kerberos.fast != SECTX_FAST_NEVER) {
		kerr = krb5_get_init_creds_opt_set_fast_ccache(st->ctx, st->opts, st->armor->cc);
		if (kerr == 0) {
			kerr = krb5_get_init_creds_opt_set_fast_flags(
			    st->ctx, st->opts,
			    cfg->kerberos.fast == SECTX_FAST_DEMAND ? KRB5_FAST_REQUIRED : 0);
		}
		if (kerr != 0) {
			goto fail;
		}
	} else if (cfg->kerberos.fast == SECTX_FAST_DEMAND) {
		login_finish(req, SECTX_LOGIN_ERROR,
			     "FAST is demanded but there is no armour ticket");
		return;
	}
	kerr = krb5_init_creds_init(st->ctx, st->client, NULL, NULL, 0, st->opts, &st->icc);
	if (kerr == 0) {
		kerr = krb5_init_creds_set_password(st->ctx, st->icc, st->password);
	}
	if (kerr == 0 && service != NULL) {
		kerr = krb5_init_creds_set_service(st->ctx, st->icc, service);
	}
	if (kerr != 0) {
		goto fail;
	}
	subreq = sectx_step_send(st, st->ev, st->k, sectx_icc_step, st->icc, st->deadline);
	if (tevent_req_nomem(subreq, req)) {
		return;
	}
	tevent_req_set_callback(subreq, login_as_done, req);
	return;
fail:
	login_finish(req, SECTX_LOGIN_ERROR, "cannot set up the AS exchange: %s",
		     kerr_text(st, kerr));
}

static void login_as_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct login_state *st = tevent_req_data(req, struct login_state);
	krb5_error_code kerr;
	int io_err = 0;
	int ret;

	ret = sectx_step_recv(subreq, &kerr);
	io_err = ret != -EIO ? -ret : 0; /* no KDC answered */
	TALLOC_FREE(subreq);
	if (io_err != 0) {
		login_finish(req, SECTX_LOGIN_UNAVAIL, "no KDC answered: %s", strerror(io_err));
		return;
	}
	switch (kerr) {
	case 0:
		break;
	case KRB5KDC_ERR_KEY_EXP:
		if (st->verifying_expired || st->service != NULL) {
			login_finish(req, SECTX_LOGIN_ERROR, "%s", kerr_text(st, kerr));
			return;
		}
		/* Says nothing about the password yet: check it via kadmin/changepw. */
		st->verifying_expired = true;
		login_start_as(req);
		return;
	case KRB5KDC_ERR_PREAUTH_FAILED:
	case KRB5KRB_AP_ERR_BAD_INTEGRITY:
		login_finish(req, SECTX_LOGIN_BAD_PASSWORD, "%s", kerr_text(st, kerr));
		return;
	case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
		login_finish(req, SECTX_LOGIN_UNKNOWN, "%s", kerr_text(st, kerr));
		return;
	case KRB5KDC_ERR_CLIENT_REVOKED:
	case KRB5KDC_ERR_NAME_EXP:
	case KRB5KDC_ERR_POLICY:
		login_finish(req, SECTX_LOGIN_DISABLED, "%s", kerr_text(st, kerr));
		return;
	case KRB5_KDC_UNREACH:
	case KRB5_REALM_CANT_RESOLVE:
	case KRB5_REALM_UNKNOWN:
		login_finish(req, SECTX_LOGIN_UNAVAIL, "%s", kerr_text(st, kerr));
		return;
	default:
		login_finish(req, SECTX_LOGIN_ERROR, "%s", kerr_text(st, kerr));
		return;
	}
	/* krb5_free_creds() releases the struct with free() */
	st->creds = calloc(1, sizeof(*st->creds));
	if (st->creds == NULL) {
		login_finish(req, SECTX_LOGIN_ERROR, "cannot read the new ticket: out of memory");
		return;
	}
	kerr = krb5_init_creds_get_creds(st->ctx, st->icc, st->creds);
	if (kerr != 0) {
		login_finish(req, SECTX_LOGIN_ERROR, "cannot read the new ticket: %s",
			     kerr_text(st, kerr));
		return;
	}
	if (st->verifying_expired) {
		/* The password is right and has expired: the caller must change it. */
		st->out.creds = st->creds;
		st->creds = NULL;
		login_finish(req, SECTX_LOGIN_EXPIRED, "password expired");
		return;
	}
	if (st->service != NULL || !st->hctx->cfg->kerberos.validate) {
		st->out.creds = st->creds;
		st->creds = NULL;
		login_finish(req, SECTX_LOGIN_OK, "%s",
			     st->service != NULL ? "password-change ticket"
						 : "not validated ([kerberos] validate = false)");
		return;
	}
	/* Validation: a service ticket for a host key, decrypted with that key. */
	if (st->kt == NULL) {
		kerr = krb5_kt_resolve(st->ctx, st->hctx->cfg->kerberos.keytab, &st->kt);
		if (kerr != 0) {
			login_finish(req, SECTX_LOGIN_INVALID, "cannot open keytab %s: %s",
				     st->hctx->cfg->kerberos.keytab, kerr_text(st, kerr));
			return;
		}
	}
	if (st->hosts == NULL) {
		kerr = sectx_keytab_principals(st, st->ctx, st->kt, &st->client->realm, &st->hosts,
					       &st->n_hosts);
		if (kerr != 0) {
			login_finish(req, SECTX_LOGIN_INVALID, "cannot read keytab %s: %s",
				     st->hctx->cfg->kerberos.keytab, kerr_text(st, kerr));
			return;
		}
	}
	if (st->n_hosts == 0) {
		login_finish(req, SECTX_LOGIN_INVALID, "keytab %s has no key for realm %.*s",
			     st->hctx->cfg->kerberos.keytab, (int)st->client->realm.length,
			     st->client->realm.data);
		return;
	}
	kerr = krb5_cc_new_unique(st->ctx, "MEMORY", NULL, &st->mcc);
	if (kerr == 0) {
		kerr = krb5_cc_initialize(st->ctx, st->mcc, st->client);
	}
	if (kerr == 0) {
		kerr = krb5_cc_store_cred(st->ctx, st->mcc, st->creds);
	}
	if (kerr != 0) {
		login_finish(req, SECTX_LOGIN_ERROR, "cannot hold the TGT: %s",
			     kerr_text(st, kerr));
		return;
	}
	st->host_idx = 0;
	login_validate_next(req);
}

/* Ask for a ticket to the next host principal of the keytab. */
static void login_validate_next(struct tevent_req *req)
{
	struct login_state *st = tevent_req_data(req, struct login_state);
	krb5_creds in;
	struct tevent_req *subreq;
	krb5_error_code kerr;

	if (st->tcc != NULL) {
		krb5_tkt_creds_free(st->ctx, st->tcc);
		st->tcc = NULL;
	}
	memset(&in, 0, sizeof(in));
	in.client = st->client;
	in.server = st->hosts[st->host_idx];
	kerr = krb5_tkt_creds_init(st->ctx, st->mcc, &in, 0, &st->tcc);
	if (kerr != 0) {
		login_finish(req, SECTX_LOGIN_ERROR, "cannot set up validation: %s",
			     kerr_text(st, kerr));
		return;
	}
	subreq = sectx_step_send(st, st->ev, st->k, sectx_tcc_step, st->tcc, st->deadline);
	if (tevent_req_nomem(subreq, req)) {
		return;
	}
	tevent_req_set_callback(subreq, login_validate_done, req);
}

static void login_validate_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq, struct tevent_req);
	struct login_state *st = tevent_req_data(req, struct login_state);
	krb5_principal host = st->hosts[st->host_idx];
	krb5_auth_context ac_init = NULL, ac_accept = NULL;
	enum sectx_login_result result = SECTX_LOGIN_INVALID;
	krb5_data ap_req = {0};
	const char *why = NULL;
	char *hostname = NULL;
	char *message = NULL;
	krb5_creds svc;
	krb5_error_code kerr;
	int io_err = 0;
	int ret;

	ret = sectx_step_recv(subreq, &kerr);
	io_err = ret != -EIO ? -ret : 0; /* no KDC answered */
	TALLOC_FREE(subreq);
	memset(&svc, 0, sizeof(svc));
	krb5_unparse_name(st->ctx, host, &hostname);
	if (io_err != 0) {
		result = SECTX_LOGIN_UNAVAIL;
		message =
		    talloc_asprintf(st, "no KDC answered during validation: %s", strerror(io_err));
		goto done;
	}
	if (kerr == KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN && st->host_idx + 1 < st->n_hosts) {
		SECTX_DEBUG("validation: the KDC does not know %s; trying the next keytab entry",
			    hostname != NULL ? hostname : "?");
		krb5_free_unparsed_name(st->ctx, hostname);
		st->host_idx++;
		login_validate_next(req);
		return;
	}
	if (kerr == 0) {
		kerr = krb5_tkt_creds_get_creds(st->ctx, st->tcc, &svc);
	}
	if (kerr != 0) {
		why = "no ticket for host key";
		goto failed;
	}
	/* The AP exchange, both ends here: the acceptor side decrypts the ticket
	 * with our copy of the host key, which a spoofed KDC does not have. */
	kerr = krb5_mk_req_extended(st->ctx, &ac_init, 0, NULL, &svc, &ap_req);
	/* No replay cache: this AP-REQ was made here a moment ago, and the
	 * default one is a file root would write in /var/tmp. */
	if (kerr == 0) {
		kerr = krb5_auth_con_init(st->ctx, &ac_accept);
	}
	if (kerr == 0) {
		kerr = krb5_auth_con_setflags(st->ctx, ac_accept, 0);
	}
	if (kerr == 0) {
		kerr = krb5_rd_req(st->ctx, &ac_accept, &ap_req, host, st->kt, NULL, NULL);
	}
	if (kerr != 0) {
		why = "TGT validation failed with the host key of";
		goto failed;
	}
	result = SECTX_LOGIN_OK;
	st->out.creds = st->creds;
	st->creds = NULL;
	message = talloc_asprintf(st, "validated with the host key of %s",
				  hostname != NULL ? hostname : "?");
	goto done;
failed:
	message = talloc_asprintf(st, "%s %s: %s", why, hostname != NULL ? hostname : "?",
				  kerr_text(st, kerr));
done:
	krb5_free_data_contents(st->ctx, &ap_req);
	if (ac_init != NULL) {
		krb5_auth_con_free(st->ctx, ac_init);
	}
	if (ac_accept != NULL) {
		krb5_auth_con_free(st->ctx, ac_accept);
	}
	krb5_free_cred_contents(st->ctx, &svc);
	krb5_free_unparsed_name(st->ctx, hostname);
	/* last: finishing runs the caller's callback, which frees st */
	login_finish(req, result, "%s", message != NULL ? message : "out of memory");
}

struct tevent_req *sectx_login_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				    struct sectxd_ctx *hctx, krb5_const_principal client,
				    const char *password, size_t password_len, const char *service,
				    int64_t deadline)
{
	struct tevent_req *req;
	struct login_state *st;
	krb5_error_code kerr;

	req = tevent_req_create(mem_ctx, &st, struct login_state);
	if (req == NULL) {
		return NULL;
	}
	st->ev = ev;
	st->hctx = hctx;
	st->k = hctx->krb5;
	st->ctx = hctx->krb5->ctx;
	st->deadline = deadline;
	st->service = service;
	talloc_set_destructor(st, login_state_destructor);
	st->password = talloc_size(st, password_len + 1);
	if (st->password == NULL) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	memcpy(st->password, password, password_len);
	st->password[password_len] = '\0';
	kerr = krb5_copy_principal(st->ctx, client, &st->client);
	if (kerr != 0) {
		tevent_req_oom(req);
		return tevent_req_post(req, ev);
	}
	login_start(req);
	if (!tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

int sectx_login_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct sectx_login_out *out)
{
	struct login_state *st = tevent_req_data(req, struct login_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*out = st->out;
	out->message = talloc_steal(mem_ctx, st->out.message);
	st->out.creds = NULL; /* now the caller's */
	return 0;
}
