/*
 * login/throttle.c - the failed-login throttle: failed logins are counted per
 * user and per calling uid (each attempt as it starts, given back if it turns
 * out not to be a failure), and further attempts delayed before they reach
 * the KDC.  Its own state (struct sectx_throttle), allocated under the daemon
 * context by sectxd_throttle_subsystem.
 *
 * Who reaches this: the PAM ops (ops/), for logins they have authorised,
 * before and after each password or ticket check; nothing here is reachable
 * by a peer directly.  A peer can only make it count its own attempts.
 *
 * Must never: write a counter to disk (it lives in the helper's memory only),
 * grow past SECTX_THROTTLE_ENTRIES entries (the oldest is forgotten instead),
 * penalise parallel attempts that succeed, let parallel attempts do better
 * than serial ones, hold an attempt past its client's deadline (it is
 * answered at once instead, without reaching the KDC), queue more than
 * SECTX_THROTTLE_QUEUE_USER attempts of one user or uid or
 * SECTX_THROTTLE_QUEUE_MAX in all, or log more than one line per
 * THROTTLE_LOG_EVERY_MS about the attempts it turns away (peers choose how
 * many there are).
 */
#include "login/login.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define THROTTLE_FORGET_MS    (15 * 60 * 1000) /* a quiet quarter hour resets it */
#define THROTTLE_RECHECK_MS   1000  /* at the latest; an attempt ending wakes it at once */
#define THROTTLE_LOG_EVERY_MS 10000 /* one line about refused attempts, then a count */

struct throttle_entry {
	char key[SECTX_NAME_MAX + 16]; /* "u:<user>" or "id:<uid>" */
	unsigned failures;
	unsigned pending; /* attempts begun and not yet ended */
	int64_t last_ms;
};

/* An attempt waiting for the throttle (sectx_throttle_wait). */
struct throttle_waiter {
	struct throttle_waiter *prev, *next;
	struct sectx_throttle *th;
	char key[SECTX_NAME_MAX + 16]; /* the user's key: woken when one of its attempts ends */
	uid_t uid;		       /* its caller, counted against the queue unless root */
	struct tevent_timer *te;
	tevent_timer_handler_t fn;
	void *arg;
};

struct sectx_throttle {
	struct sectxd_ctx *hctx;
	struct throttle_entry *entries;			/* SECTX_THROTTLE_ENTRIES */
	struct throttle_waiter *waiters, *waiters_tail; /* oldest first */
	unsigned n_waiters;
	bool logged; /* a refusal was logged at log_ms */
	int64_t log_ms;
	unsigned suppressed; /* refusals not logged since */
};

static struct throttle_entry *throttle_slot(struct sectx_throttle *th, const char *key, bool create)
{
	struct throttle_entry *oldest = NULL;
	int64_t now = sectx_now_ms();
	size_t i;

	for (i = 0; i < SECTX_THROTTLE_ENTRIES; i++) {
		struct throttle_entry *e = &th->entries[i];

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
	a = delay_for(hctx->cfg, throttle_slot(hctx->throttle, key, false));
	snprintf(key, sizeof(key), "id:%u", (unsigned)uid);
	b = uid == 0 ? 0 : delay_for(hctx->cfg, throttle_slot(hctx->throttle, key, false));
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
		struct throttle_entry *e = throttle_slot(hctx->throttle, key[i], true);

		if (e != NULL) {
			e->pending++;
			e->last_ms = sectx_now_ms();
		}
	}
}

static int waiter_destructor(struct throttle_waiter *w)
{
	if (w->th == NULL) {
		return 0; /* the throttle is gone (throttle_stop) */
	}
	if (w->prev != NULL) {
		w->prev->next = w->next;
	} else {
		w->th->waiters = w->next;
	}
	if (w->next != NULL) {
		w->next->prev = w->prev;
	} else {
		w->th->waiters_tail = w->prev;
	}
	w->th->n_waiters--;
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

/* One line about an attempt turned away at once, at most every
 * THROTTLE_LOG_EVERY_MS: the others are counted and the count given with the
 * next line. */
static void log_refusal(struct sectx_throttle *th, enum sectx_log_level level, const char *user,
			uid_t uid, const char *why)
{
	int64_t now = sectx_now_ms();

	if (th->logged && now - th->log_ms < THROTTLE_LOG_EVERY_MS) {
		th->suppressed++;
		return;
	}
	sectx_log(level,
		  "login of %s from uid %u answered at once: %s (%u more turned away since "
		  "the last such line)",
		  user, (unsigned)uid, why, th->suppressed);
	th->logged = true;
	th->log_ms = now;
	th->suppressed = 0;
}

/* Attempts waiting whose user key is key, or (uid not root) whose caller is
 * uid. */
static unsigned count_waiting(const struct sectx_throttle *th, const char *key, uid_t uid,
			      unsigned *of_uid)
{
	const struct throttle_waiter *w;
	unsigned n = 0;

	*of_uid = 0;
	for (w = th->waiters; w != NULL; w = w->next) {
		if (strcmp(w->key, key) == 0) {
			n++;
		}
		if (uid != 0 && w->uid == uid) {
			(*of_uid)++;
		}
	}
	return n;
}

/* The queue's bound, of one user (or uid) or in all: every waiting attempt
 * holds a connection, most of them root's (every login service runs as
 * root), so the queue never takes more than half of one uid's connections. */
static unsigned queue_cap(const struct sectxd_ctx *hctx, bool of_one)
{
	unsigned all = hctx->cfg->sectxd.max_connections_per_uid / 2;

	if (all > SECTX_THROTTLE_QUEUE_MAX) {
		all = SECTX_THROTTLE_QUEUE_MAX;
	}
	return of_one && all > SECTX_THROTTLE_QUEUE_USER ? SECTX_THROTTLE_QUEUE_USER : all;
}

int sectx_throttle_wait(struct sectxd_ctx *hctx, TALLOC_CTX *mem_ctx, const char *user, uid_t uid,
			int64_t delay_ms, int64_t deadline, tevent_timer_handler_t fn, void *arg,
			void **wait)
{
	struct sectx_throttle *th = hctx->throttle;
	struct throttle_waiter *w;
	int64_t now = sectx_now_ms();
	int64_t until = deadline - SECTX_THROTTLE_REPLY_MS; /* the latest it may end */
	int64_t ms = delay_ms > 0 ? delay_ms : THROTTLE_RECHECK_MS;
	char key[SECTX_NAME_MAX + 16];
	char why[128];
	unsigned of_user, of_uid;

	*wait = NULL;
	snprintf(key, sizeof(key), "u:%s", user);
	/* a wait its client would not see the end of is answered now: the
	 * client gets a clear answer, and the KDC never sees the attempt */
	if (delay_ms > 0 && now + delay_ms > until) {
		snprintf(why, sizeof(why),
			 "its delay of %lld ms after failures outlasts its client's timeout",
			 (long long)delay_ms);
		log_refusal(th, SECTX_LOG_INFO, user, uid, why);
		return -ETIMEDOUT;
	}
	if (delay_ms <= 0 && now >= until) {
		log_refusal(th, SECTX_LOG_INFO, user, uid,
			    "its client's timeout ran out while the attempts in flight went on");
		return -ETIMEDOUT;
	}
	of_user = count_waiting(th, key, uid, &of_uid);
	if (of_user >= queue_cap(hctx, true) || of_uid >= queue_cap(hctx, true) ||
	    th->n_waiters >= queue_cap(hctx, false)) {
		snprintf(why, sizeof(why),
			 "%u attempts of the user, %u of the uid and %u in all wait already",
			 of_user, of_uid, th->n_waiters);
		log_refusal(th, SECTX_LOG_WARNING, user, uid, why);
		return -EBUSY;
	}
	if (ms > until - now) {
		ms = until - now; /* to be answered before its client gives up */
	}
	w = talloc_zero(mem_ctx, struct throttle_waiter);
	if (w == NULL) {
		return -ENOMEM;
	}
	w->th = th;
	snprintf(w->key, sizeof(w->key), "%s", key);
	w->uid = uid;
	w->fn = fn;
	w->arg = arg;
	w->te = tevent_add_timer(
	    hctx->ev, w, tevent_timeval_current_ofs(ms / 1000, (ms % 1000) * 1000), waiter_fire, w);
	if (w->te == NULL) {
		talloc_free(w);
		return -ENOMEM;
	}
	/* at the tail: woken oldest first, so a busy user's logins are served
	 * in the order they came */
	w->prev = th->waiters_tail;
	if (th->waiters_tail != NULL) {
		th->waiters_tail->next = w;
	} else {
		th->waiters = w;
	}
	th->waiters_tail = w;
	th->n_waiters++;
	talloc_set_destructor(w, waiter_destructor);
	*wait = w;
	return 0;
}

unsigned sectx_throttle_waiting(struct sectxd_ctx *hctx, const char *user)
{
	char key[SECTX_NAME_MAX + 16];
	unsigned of_uid;

	if (user == NULL) {
		return hctx->throttle->n_waiters;
	}
	snprintf(key, sizeof(key), "u:%s", user);
	return count_waiting(hctx->throttle, key, 0, &of_uid);
}

/* An attempt of the user with key ended: its oldest waiter looks again now
 * (one slot was freed; the others are woken by later ends, or their timer). */
static void wake_waiter(struct sectx_throttle *th, const char *key)
{
	struct throttle_waiter *w;

	for (w = th->waiters; w != NULL; w = w->next) {
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

	wake_waiter(hctx->throttle, key[0]);
	for (i = 0; i < n; i++) {
		struct throttle_entry *e =
		    throttle_slot(hctx->throttle, key[i], outcome == SECTX_THROTTLE_FAILED);

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

static int throttle_start(struct sectxd_ctx *hctx)
{
	struct sectx_throttle *th = talloc_zero(hctx, struct sectx_throttle);

	if (th == NULL) {
		return -ENOMEM;
	}
	th->hctx = hctx;
	th->entries = talloc_zero_array(th, struct throttle_entry, SECTX_THROTTLE_ENTRIES);
	if (th->entries == NULL) {
		talloc_free(th);
		return -ENOMEM;
	}
	hctx->throttle = th;
	return 0;
}

static void throttle_stop(struct sectxd_ctx *hctx)
{
	if (hctx->throttle == NULL) {
		return;
	}
	/* waits still alive belong to requests: they must not reach back */
	while (hctx->throttle->waiters != NULL) {
		struct throttle_waiter *w = hctx->throttle->waiters;

		hctx->throttle->waiters = w->next;
		w->prev = w->next = NULL;
		w->th = NULL;
	}
	hctx->throttle->waiters_tail = NULL;
	hctx->throttle->n_waiters = 0;
	TALLOC_FREE(hctx->throttle);
}

const struct sectxd_subsystem sectxd_throttle_subsystem = {
    .name = "login throttle",
    .start = throttle_start,
    .stop = throttle_stop,
};
