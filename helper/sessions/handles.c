/*
 * sessions/handles.c - login handles and the failed-login throttle (credstore.h).
 *
 * Everything here is in the helper's memory only: no TGT, handle or counter
 * is ever written to disk.  Handles are found by a constant-time comparison
 * so that the lookup itself leaks nothing about stored handles; they are
 * random (getrandom) and bounded in number, oldest unclaimed first out.
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

#define THROTTLE_FORGET_MS  (15 * 60 * 1000) /* a quiet quarter hour resets it */
#define THROTTLE_RECHECK_MS 1000	     /* at the latest; an attempt ending wakes it at once */

struct throttle_entry {
	char key[SECTX_NAME_MAX + 16]; /* "u:<user>" or "id:<uid>" */
	unsigned failures;
	unsigned pending; /* attempts begun and not yet ended */
	int64_t last_ms;
};

/* An attempt waiting for the throttle (sectx_throttle_wait). */
struct throttle_waiter {
	struct throttle_waiter *prev, *next;
	struct sectxd_creds *cs;
	char key[SECTX_NAME_MAX + 16]; /* the user's key: woken when one of its attempts ends */
	struct tevent_timer *te;
	tevent_timer_handler_t fn;
	void *arg;
};

struct sectxd_creds {
	struct sectxd_ctx *hctx;
	struct sectx_handle *head, *tail;
	size_t n;
	struct throttle_entry *throttle;		/* SECTX_THROTTLE_ENTRIES */
	struct throttle_waiter *waiters, *waiters_tail; /* oldest first */
};

/* --- handles --------------------------------------------------------------- */

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

/* --- throttle --------------------------------------------------------------- */

static struct throttle_entry *throttle_slot(struct sectxd_creds *cs, const char *key, bool create)
{
	struct throttle_entry *oldest = NULL;
	int64_t now = sectx_now_ms();
	size_t i;

	for (i = 0; i < SECTX_THROTTLE_ENTRIES; i++) {
		struct throttle_entry *e = &cs->throttle[i];

		if (e->key[0] != '\0' && now - e->last_ms > THROTTLE_FORGET_MS) {
			e->key[0] = '\0';
		}
		if (e->key[0] != '\0' && strcmp(e->key, key) == 0) {
			return e;
		}
		if (oldest == NULL || e->key[0] == '\0' ||
		    (oldest->key[0] != '\0' && e->last_ms < oldest->last_ms)) {
			oldest = e;
		}
	}
	if (!create || oldest == NULL) {
		return NULL;
	}
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->key, sizeof(oldest->key), "%s", key);
	oldest->last_ms = now;
	return oldest;
}

/*
 * How long an attempt for this key must wait.  Serial attempts get
 * failure_delay_after free failures, then a doubling delay from the last
 * failure.  Parallel ones must not do better, yet a busy user whose logins
 * succeed must not be penalised: so attempts in flight are not failures, but
 * no more may be in flight than free failures are left (failures + pending
 * < failure_delay_after); one more waits for an attempt to end (woken by
 * sectx_throttle_end, THROTTLE_RECHECK_MS at the latest) and then meets
 * whatever its outcome left.
 */
static int64_t delay_for(const struct sectx_config *cfg, const struct throttle_entry *e)
{
	unsigned after = cfg->kerberos.failure_delay_after;
	int64_t d = 0;

	if (e == NULL) {
		return 0;
	}
	if (e->failures >= after) {
		unsigned over = e->failures - after;

		d = over >= 20 ? INT64_MAX : (int64_t)1000 << over; /* 1s, 2s, 4s, ... */
		if (d > (int64_t)cfg->kerberos.failure_delay_max_ms) {
			d = (int64_t)cfg->kerberos.failure_delay_max_ms;
		}
		/* the delay runs from the last failure */
		d -= sectx_now_ms() - e->last_ms;
	}
	if (d > 0) {
		return d;
	}
	return e->pending > 0 && e->failures + e->pending >= after ? SECTX_THROTTLE_BUSY : 0;
}

int64_t sectx_throttle_delay(struct sectxd_ctx *hctx, const char *user, uid_t uid)
{
	char key[SECTX_NAME_MAX + 16];
	int64_t a, b;

	snprintf(key, sizeof(key), "u:%s", user);
	a = delay_for(hctx->cfg, throttle_slot(hctx->creds, key, false));
	snprintf(key, sizeof(key), "id:%u", (unsigned)uid);
	b = uid == 0 ? 0 : delay_for(hctx->cfg, throttle_slot(hctx->creds, key, false));
	/* a penalty first; else busy if either is */
	return a > 0 || b > 0 ? (a > b ? a : b) : a < 0 || b < 0 ? SECTX_THROTTLE_BUSY : 0;
}

/* The keys of an attempt: the user's, and its caller's uid unless root (root
 * runs every login service: its uid is not a useful key).  Returns how many. */
static size_t throttle_keys(char key[2][SECTX_NAME_MAX + 16], const char *user, uid_t uid)
{
	snprintf(key[0], sizeof(key[0]), "u:%s", user);
	snprintf(key[1], sizeof(key[1]), "id:%u", (unsigned)uid);
	return uid == 0 ? 1u : 2u;
}

int64_t sectx_throttle_try_begin(struct sectxd_ctx *hctx, const char *user, uid_t uid)
{
	int64_t delay = sectx_throttle_delay(hctx, user, uid);

	if (delay == 0) {
		sectx_throttle_begin(hctx, user, uid);
	}
	return delay;
}

void sectx_throttle_begin(struct sectxd_ctx *hctx, const char *user, uid_t uid)
{
	char key[2][SECTX_NAME_MAX + 16];
	size_t i, n = throttle_keys(key, user, uid);

	for (i = 0; i < n; i++) {
		struct throttle_entry *e = throttle_slot(hctx->creds, key[i], true);

		if (e != NULL) {
			e->pending++;
			e->last_ms = sectx_now_ms();
		}
	}
}

static int waiter_destructor(struct throttle_waiter *w)
{
	if (w->cs == NULL) {
		return 0; /* the store is gone (creds_stop) */
	}
	if (w->prev != NULL) {
		w->prev->next = w->next;
	} else {
		w->cs->waiters = w->next;
	}
	if (w->next != NULL) {
		w->next->prev = w->prev;
	} else {
		w->cs->waiters_tail = w->prev;
	}
	return 0;
}

static void waiter_fire(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			void *private_data)
{
	struct throttle_waiter *w = private_data;
	tevent_timer_handler_t fn = w->fn;
	void *arg = w->arg;

	(void)te;
	w->te = NULL; /* tevent frees a timer once it fires */
	talloc_free(w);
	fn(ev, NULL, now, arg);
}

void *sectx_throttle_wait(struct sectxd_ctx *hctx, TALLOC_CTX *mem_ctx, const char *user,
			  int64_t delay_ms, tevent_timer_handler_t fn, void *arg)
{
	struct sectxd_creds *cs = hctx->creds;
	struct throttle_waiter *w = talloc_zero(mem_ctx, struct throttle_waiter);

	if (w == NULL) {
		return NULL;
	}
	w->cs = cs;
	snprintf(w->key, sizeof(w->key), "u:%s", user);
	w->fn = fn;
	w->arg = arg;
	if (delay_ms < 0) { /* SECTX_THROTTLE_BUSY: until an attempt ends */
		delay_ms = THROTTLE_RECHECK_MS;
	}
	w->te = tevent_add_timer(
	    hctx->ev, w, tevent_timeval_current_ofs(delay_ms / 1000, (delay_ms % 1000) * 1000),
	    waiter_fire, w);
	if (w->te == NULL) {
		talloc_free(w);
		return NULL;
	}
	/* at the tail: woken oldest first, so a busy user's logins are served
	 * in the order they came */
	w->prev = cs->waiters_tail;
	if (cs->waiters_tail != NULL) {
		cs->waiters_tail->next = w;
	} else {
		cs->waiters = w;
	}
	cs->waiters_tail = w;
	talloc_set_destructor(w, waiter_destructor);
	return w;
}

/* An attempt of the user with key ended: its oldest waiter looks again now
 * (one slot was freed; the others are woken by later ends, or their timer). */
static void wake_waiter(struct sectxd_creds *cs, const char *key)
{
	struct throttle_waiter *w;

	for (w = cs->waiters; w != NULL; w = w->next) {
		if (w->te != NULL && strcmp(w->key, key) == 0) {
			tevent_update_timer(w->te, tevent_timeval_current());
			return;
		}
	}
}

void sectx_throttle_end(struct sectxd_ctx *hctx, const char *user, uid_t uid,
			enum sectx_throttle_outcome outcome)
{
	char key[2][SECTX_NAME_MAX + 16];
	size_t i, n = throttle_keys(key, user, uid);

	wake_waiter(hctx->creds, key[0]);
	for (i = 0; i < n; i++) {
		struct throttle_entry *e =
		    throttle_slot(hctx->creds, key[i], outcome == SECTX_THROTTLE_FAILED);

		if (e == NULL) {
			continue; /* its slot was reused meanwhile */
		}
		if (e->pending > 0) {
			e->pending--;
		}
		if (outcome == SECTX_THROTTLE_FAILED) {
			e->failures++;
			e->last_ms = sectx_now_ms(); /* the delay runs from the failure */
		} else if (outcome == SECTX_THROTTLE_OK && i == 0) {
			e->failures = 0; /* a success clears the user's count */
			if (e->pending == 0) {
				e->key[0] = '\0';
			}
		}
	}
}

/* --- subsystem ------------------------------------------------------------- */

static int creds_start(struct sectxd_ctx *hctx)
{
	struct sectxd_creds *cs = talloc_zero(hctx, struct sectxd_creds);

	if (cs == NULL) {
		return -ENOMEM;
	}
	cs->hctx = hctx;
	cs->throttle = talloc_zero_array(cs, struct throttle_entry, SECTX_THROTTLE_ENTRIES);
	if (cs->throttle == NULL) {
		talloc_free(cs);
		return -ENOMEM;
	}
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
	/* waits still alive belong to requests: they must not reach back */
	while (hctx->creds->waiters != NULL) {
		struct throttle_waiter *w = hctx->creds->waiters;

		hctx->creds->waiters = w->next;
		w->prev = w->next = NULL;
		w->cs = NULL;
	}
	hctx->creds->waiters_tail = NULL;
	TALLOC_FREE(hctx->creds);
}

const struct sectxd_subsystem sectxd_creds_subsystem = {
    .name = "credential store",
    .start = creds_start,
    .stop = creds_stop,
};
