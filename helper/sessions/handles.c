/*
 * sessions/handles.c - login handles: the TGT of a login kept in the helper
 * until the session claims it (sessions.h).
 *
 * Who reaches this: the PAM ops (ops/), which check the binding of a handle
 * (user, service, remote host) before they use it, and the renewal of
 * sessions (renewal.c); nothing here is reachable by a peer directly.
 *
 * Must never: write a TGT or a handle to disk (everything here is in the
 * helper's memory only), or leak through a lookup which handles exist:
 * handles are found by a constant-time comparison; they are random
 * (getrandom) and bounded in number, oldest unclaimed first out.  The
 * failed-login throttle is login/throttle.c.
 */
#include "sessions/sessions.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "login/login.h"
#include "log.h"

struct sectxd_creds {
	struct sectxd_ctx *hctx;
	struct sectx_handle *head, *tail;
	size_t n;
};

/* --- handles --------------------------------------------------------------- */

struct sectx_handle *sectx_handles_head(struct sectxd_ctx *hctx)
{
	return hctx->creds != NULL ? hctx->creds->head : NULL;
}

size_t sectx_handles_count(struct sectxd_ctx *hctx)
{
	return hctx->creds != NULL ? hctx->creds->n : 0;
}

static void handle_free_krb5(struct sectxd_ctx *hctx, struct sectx_handle *h)
{
	if (h->creds != NULL) {
		krb5_free_creds(hctx->krb5->ctx, h->creds);
		h->creds = NULL;
	}
	if (h->principal != NULL) {
		krb5_free_principal(hctx->krb5->ctx, h->principal);
		h->principal = NULL;
	}
}

void sectx_handle_drop(struct sectxd_ctx *hctx, struct sectx_handle *h)
{
	struct sectxd_creds *cs = hctx->creds;

	if (h->prev != NULL) {
		h->prev->next = h->next;
	} else {
		cs->head = h->next;
	}
	if (h->next != NULL) {
		h->next->prev = h->prev;
	} else {
		cs->tail = h->prev;
	}
	cs->n--;
	handle_free_krb5(hctx, h);
	talloc_free(h);
}

static void handle_expired(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			   void *private_data)
{
	struct sectx_handle *h = private_data;
	struct sectxd_creds *cs = talloc_get_type_abort(talloc_parent(h), struct sectxd_creds);
	struct sectxd_ctx *hctx = cs->hctx;

	h->expiry = NULL;
	SECTX_INFO("login handle of %s (%s) expired unclaimed", h->user, h->service);
	sectx_handle_drop(hctx, h);
}

int sectx_handle_new(struct sectxd_ctx *hctx, const char *user, const char *service,
		     const char *rhost, krb5_const_principal principal, krb5_creds *creds,
		     bool expired, struct sectx_handle **out)
{
	static const char hex[] = "0123456789abcdef";
	struct sectxd_creds *cs = hctx->creds;
	uint64_t life = hctx->cfg->kerberos.handle_lifetime_ms;
	struct sectx_handle *h, *old;
	uint8_t rnd[SECTX_HANDLE_LEN / 2];
	size_t per_user = 0, i;

	for (old = cs->head; old != NULL; old = old->next) {
		per_user += strcmp(old->user, user) == 0;
	}
	/* At a cap, the oldest unclaimed handle (of this user first) goes. */
	if (per_user >= SECTX_HANDLES_PER_USER || cs->n >= SECTX_HANDLES_MAX) {
		for (old = cs->head; old != NULL; old = old->next) {
			if (!old->claimed &&
			    (per_user < SECTX_HANDLES_PER_USER || strcmp(old->user, user) == 0)) {
				break;
			}
		}
		if (old == NULL) {
			return -EAGAIN;
		}
		/* routine for services that only authenticate (no session) */
		SECTX_DEBUG("dropping the oldest unclaimed login handle of %s to make room",
			    old->user);
		sectx_handle_drop(hctx, old);
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		return -EIO;
	}
	h = talloc_zero(cs, struct sectx_handle);
	if (h == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		h->id[2 * i] = hex[rnd[i] >> 4];
		h->id[2 * i + 1] = hex[rnd[i] & 15];
	}
	explicit_bzero(rnd, sizeof(rnd));
	h->user = talloc_strdup(h, user);
	h->service = talloc_strdup(h, service);
	h->rhost = talloc_strdup(h, rhost != NULL ? rhost : "");
	h->created_ms = sectx_now_ms();
	h->expiry = tevent_add_timer(hctx->ev, h,
				     tevent_timeval_current_ofs(life / 1000, (life % 1000) * 1000),
				     handle_expired, h);
	if (h->user == NULL || h->service == NULL || h->rhost == NULL || h->expiry == NULL ||
	    krb5_copy_principal(hctx->krb5->ctx, principal, &h->principal) != 0) {
		talloc_free(h);
		return -ENOMEM;
	}
	h->creds = creds;
	h->expired = expired;
	h->prev = cs->tail;
	if (cs->tail != NULL) {
		cs->tail->next = h;
	} else {
		cs->head = h;
	}
	cs->tail = h;
	cs->n++;
	*out = h;
	return 0;
}

struct sectx_handle *sectx_handle_find(struct sectxd_ctx *hctx, const char *id)
{
	struct sectx_handle *h, *found = NULL;

	if (id == NULL || strlen(id) != SECTX_HANDLE_LEN) {
		return NULL;
	}
	for (h = hctx->creds->head; h != NULL; h = h->next) {
		if (CRYPTO_memcmp(h->id, id, SECTX_HANDLE_LEN) == 0) {
			found = h;
		}
	}
	return found;
}

void sectx_handle_set_creds(struct sectxd_ctx *hctx, struct sectx_handle *h, krb5_creds *creds,
			    bool expired)
{
	if (h->creds != NULL) {
		krb5_free_creds(hctx->krb5->ctx, h->creds);
	}
	h->creds = creds;
	h->expired = expired;
}

void sectx_handle_claim(struct sectx_handle *h)
{
	h->claimed = true;
	TALLOC_FREE(h->expiry);
}

/* --- subsystem ------------------------------------------------------------- */

static int creds_start(struct sectxd_ctx *hctx)
{
	struct sectxd_creds *cs = talloc_zero(hctx, struct sectxd_creds);

	if (cs == NULL) {
		return -ENOMEM;
	}
	cs->hctx = hctx;
	hctx->creds = cs;
	return 0;
}

static void creds_stop(struct sectxd_ctx *hctx)
{
	if (hctx->creds == NULL) {
		return;
	}
	while (hctx->creds->head != NULL) {
		sectx_handle_drop(hctx, hctx->creds->head);
	}
	TALLOC_FREE(hctx->creds);
}

const struct sectxd_subsystem sectxd_creds_subsystem = {
    .name = "credential store",
    .start = creds_start,
    .stop = creds_stop,
};
