/*
 * test_throttle.c - unit tests of helper/login/throttle.c, the failed-login
 * throttle: no delay before failure_delay_after failures, a doubling delay
 * after them, attempts in flight counted toward the limit (BUSY) without
 * penalising parallel right passwords, OK and UNTRIED outcomes, per-user and
 * per-uid keys, the bounded table, and the waiters woken oldest first; the
 * waits bounded by their client's deadline (answered at once when it cannot
 * be met, woken before it otherwise), the queue bounded per user, per uid
 * and in total, a freed wait leaving the queue, and the refusals logged at
 * most once every few seconds with a count.
 *
 * The throttle's clock (sectx_now_ms) is replaced through -Wl,--wrap by
 * fake_now, so delays are exact and no test sleeps for them; the waits run on
 * a real tevent loop with the daemon context of the config defaults.
 */
#include "login/login.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static int64_t fake_now = 1000000;

int64_t __wrap_sectx_now_ms(void);
int64_t __wrap_sectx_now_ms(void)
{
	return fake_now;
}

struct fixture {
	TALLOC_CTX *mem;
	struct sectxd_ctx *hctx;
	unsigned after;	   /* failure_delay_after */
	int64_t max_delay; /* failure_delay_max_ms */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sectx_config *cfg = NULL;

	if (f == NULL) {
		return -1;
	}
	f->mem = talloc_new(NULL);
	if (f->mem == NULL || sectx_config_defaults(f->mem, &cfg) != 0) {
		return -1;
	}
	f->hctx = talloc_zero(f->mem, struct sectxd_ctx);
	if (f->hctx == NULL) {
		return -1;
	}
	f->hctx->cfg = cfg;
	f->hctx->ev = tevent_context_init(f->hctx);
	if (f->hctx->ev == NULL || sectxd_throttle_subsystem.start(f->hctx) != 0 ||
	    f->hctx->throttle == NULL) {
		return -1;
	}
	f->after = cfg->kerberos.failure_delay_after;
	f->max_delay = (int64_t)cfg->kerberos.failure_delay_max_ms;
	fake_now = 1000000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sectxd_throttle_subsystem.stop(f->hctx);
	assert_null(f->hctx->throttle);
	talloc_free(f->mem);
	free(f);
	return 0;
}

/* One whole attempt: begun (it must be allowed at once) and ended. */
static void attempt(struct sectxd_ctx *hctx, const char *user, uid_t uid,
		    enum sectx_throttle_outcome outcome)
{
	assert_int_equal(sectx_throttle_try_begin(hctx, user, uid), 0);
	sectx_throttle_end(hctx, user, uid, outcome);
}

static void test_defaults_are_what_the_tests_assume(void **state)
{
	struct fixture *f = *state;

	/* the tests below need at least two free failures and a cap above 2s */
	assert_true(f->after >= 2);
	assert_true(f->max_delay > 2000);
}

static void test_no_delay_before_failures(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 1000), 0);
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	for (i = 0; i + 1 < f->after; i++) {
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
		assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	}
}

static void test_delay_after_failures(void **state)
{
	struct fixture *f = *state;
	int64_t expect = 1000;
	unsigned i;

	for (i = 0; i < f->after; i++) {
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	/* 1s from the last failure, counting down with the clock */
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 1000);
	assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 1000);
	fake_now += 400;
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 600);
	fake_now += 600;
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	/* then doubling with each further failure, up to failure_delay_max */
	for (i = 0; i < 20; i++) {
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
		expect = expect * 2 < f->max_delay ? expect * 2 : f->max_delay;
		assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), expect);
		fake_now += expect;
		assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	}
	assert_int_equal(expect, f->max_delay);
	/* another user is not touched */
	assert_int_equal(sectx_throttle_delay(f->hctx, "bob", 0), 0);
}

static void test_in_flight_count_and_busy(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	/* as many in flight as free failures are left, then BUSY */
	for (i = 0; i < f->after; i++) {
		assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 0);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), SECTX_THROTTLE_BUSY);
	assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), SECTX_THROTTLE_BUSY);
	/* BUSY counted nothing: one end frees one slot */
	sectx_throttle_end(f->hctx, "alice", 0, SECTX_THROTTLE_OK);
	assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 0);
	assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), SECTX_THROTTLE_BUSY);
	/* parallel right passwords are never penalised */
	for (i = 0; i < f->after; i++) {
		sectx_throttle_end(f->hctx, "alice", 0, SECTX_THROTTLE_OK);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	for (i = 0; i < f->after; i++) {
		assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 0);
	}
	for (i = 0; i < f->after; i++) {
		sectx_throttle_end(f->hctx, "alice", 0, SECTX_THROTTLE_OK);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
}

static void test_parallel_failures_meet_the_delay(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	for (i = 0; i < f->after; i++) {
		assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 0);
	}
	/* a failure already counted and the others in flight: still BUSY */
	sectx_throttle_end(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), SECTX_THROTTLE_BUSY);
	for (i = 1; i < f->after; i++) {
		sectx_throttle_end(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	/* as if they had been made one after the other */
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 1000);
}

static void test_ok_clears_the_users_count(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	for (i = 0; i + 1 < f->after; i++) {
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	attempt(f->hctx, "alice", 0, SECTX_THROTTLE_OK);
	/* counted from zero again: as many free failures as before */
	for (i = 0; i + 1 < f->after; i++) {
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
		assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	}
	attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 1000);
	/* a success after the delay clears a delayed user too */
	fake_now += 1000;
	attempt(f->hctx, "alice", 0, SECTX_THROTTLE_OK);
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
}

static void test_untried_gives_back(void **state)
{
	struct fixture *f = *state;
	unsigned i, round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < f->after; i++) {
			assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 1000), 0);
		}
		assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 1000), SECTX_THROTTLE_BUSY);
		for (i = 0; i < f->after; i++) {
			sectx_throttle_end(f->hctx, "alice", 1000, SECTX_THROTTLE_UNTRIED);
		}
		assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 1000), 0);
	}
	/* nothing was counted: all the free failures are still there */
	for (i = 0; i + 1 < f->after; i++) {
		attempt(f->hctx, "alice", 1000, SECTX_THROTTLE_FAILED);
		assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 1000), 0);
	}
	attempt(f->hctx, "alice", 1000, SECTX_THROTTLE_FAILED);
	assert_true(sectx_throttle_delay(f->hctx, "alice", 1000) > 0);
}

static void test_per_uid_and_per_user_keys(void **state)
{
	struct fixture *f = *state;
	char user[32];
	unsigned i;

	/* one uid failing as many users is delayed, whoever it tries next */
	for (i = 0; i < f->after; i++) {
		snprintf(user, sizeof(user), "user%u", i);
		attempt(f->hctx, user, 1000, SECTX_THROTTLE_FAILED);
		assert_int_equal(sectx_throttle_delay(f->hctx, user, 1001), 0);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "carol", 1000), 1000);
	/* ... but not another uid, nor root (whose uid is no key) */
	assert_int_equal(sectx_throttle_delay(f->hctx, "carol", 1001), 0);
	assert_int_equal(sectx_throttle_delay(f->hctx, "carol", 0), 0);
	/* a success clears the user's count, not the uid's */
	sectx_throttle_begin(f->hctx, "carol", 1000);
	sectx_throttle_end(f->hctx, "carol", 1000, SECTX_THROTTLE_OK);
	assert_int_equal(sectx_throttle_delay(f->hctx, "carol", 1000), 1000);
	assert_int_equal(sectx_throttle_delay(f->hctx, "carol", 1001), 0);

	/* one user failing from root and from many uids is delayed from any */
	for (i = 0; i < f->after; i++) {
		attempt(f->hctx, "erin", i == 0 ? 0 : 2000 + i, SECTX_THROTTLE_FAILED);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "erin", 0), 1000);
	assert_int_equal(sectx_throttle_delay(f->hctx, "erin", 3000), 1000);
	assert_int_equal(sectx_throttle_delay(f->hctx, "frank", 3000), 0);
	/* the larger of the two delays counts */
	for (i = 0; i < f->after + 1; i++) {
		fake_now += 100000;
		attempt(f->hctx, "grace", 4000, SECTX_THROTTLE_FAILED);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "grace", 4000), 2000);
	sectx_throttle_begin(f->hctx, "heidi", 4000);
	sectx_throttle_end(f->hctx, "heidi", 4000, SECTX_THROTTLE_FAILED);
	fake_now += 500;
	assert_int_equal(sectx_throttle_delay(f->hctx, "grace", 4000), 3500); /* the uid's */
	assert_int_equal(sectx_throttle_delay(f->hctx, "grace", 0), 1500);    /* the user's */
	assert_int_equal(sectx_throttle_delay(f->hctx, "heidi", 0), 0);
	assert_int_equal(sectx_throttle_delay(f->hctx, "heidi", 4000), 3500);
}

static void test_quiet_quarter_hour_forgets(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	for (i = 0; i < f->after + 5; i++) {
		fake_now += 100000;
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	assert_true(sectx_throttle_delay(f->hctx, "alice", 0) > 0);
	fake_now += 15 * 60 * 1000;
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	fake_now += 1;
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	/* and it counts from zero */
	for (i = 0; i + 1 < f->after; i++) {
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
}

static void test_table_is_bounded(void **state)
{
	struct fixture *f = *state;
	size_t size = talloc_total_size(f->hctx->throttle);
	size_t blocks = talloc_total_blocks(f->hctx->throttle);
	char user[32];
	unsigned i;

	for (i = 0; i < f->after; i++) {
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 1000);
	/* everyone else is newer than alice */
	fake_now += 1;
	for (i = 0; i + 1 < SECTX_THROTTLE_ENTRIES; i++) {
		snprintf(user, sizeof(user), "u%u", i);
		sectx_throttle_begin(f->hctx, user, 0);
	}
	/* the table is full, alice is still in it */
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 999);
	assert_int_equal(sectx_throttle_delay(f->hctx, "u0", 0), 0);
	sectx_throttle_begin(f->hctx, "one-more", 0);
	/* the oldest entry, alice's, made room */
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 0);
	/* twice as many keys again, from a uid too: it never grows */
	for (i = 0; i < 2 * SECTX_THROTTLE_ENTRIES; i++) {
		snprintf(user, sizeof(user), "v%u", i);
		fake_now += 1;
		sectx_throttle_begin(f->hctx, user, 5000 + i);
		sectx_throttle_end(f->hctx, user, 5000 + i, SECTX_THROTTLE_FAILED);
	}
	assert_int_equal(talloc_total_size(f->hctx->throttle), size);
	assert_int_equal(talloc_total_blocks(f->hctx->throttle), blocks);
	/* the newest are remembered, the oldest forgotten */
	snprintf(user, sizeof(user), "v%u", 2 * SECTX_THROTTLE_ENTRIES - 1);
	sectx_throttle_begin(f->hctx, user, 0);
	sectx_throttle_begin(f->hctx, user, 0);
	assert_int_equal(sectx_throttle_delay(f->hctx, user, 0),
			 f->after > 3 ? 0 : SECTX_THROTTLE_BUSY);
}

/* --- waiters ----------------------------------------------------------------- */

#define FAR_DEADLINE (fake_now + 60000) /* a client that waits a minute */

/* A wait that must be accepted, for a client with a distant deadline. */
static void *wait_ok(struct fixture *f, TALLOC_CTX *mem, const char *user, uid_t uid, int64_t delay,
		     tevent_timer_handler_t fn, void *arg)
{
	void *w = NULL;

	assert_int_equal(
	    sectx_throttle_wait(f->hctx, mem, user, uid, delay, FAR_DEADLINE, fn, arg, &w), 0);
	assert_non_null(w);
	return w;
}

struct woken {
	int order[8];
	size_t n;
};

struct waiter_arg {
	struct woken *w;
	int id;
};

static void on_wake(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		    void *private_data)
{
	struct waiter_arg *a = private_data;

	(void)ev;
	(void)now;
	assert_null(te);
	assert_true(a->w->n < 8);
	a->w->order[a->w->n++] = a->id;
}

static void on_guard(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		     void *private_data)
{
	bool *fired = private_data;

	(void)ev;
	(void)te;
	(void)now;
	*fired = true;
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until something fires, at most about ms (a guard timer). */
static bool loop_for(struct fixture *f, int64_t ms)
{
	bool fired = false;
	struct tevent_timer *guard = tevent_add_timer(
	    f->hctx->ev, f->mem, tevent_timeval_current_ofs(ms / 1000, (ms % 1000) * 1000),
	    on_guard, &fired);

	assert_non_null(guard);
	assert_int_equal(tevent_loop_once(f->hctx->ev), 0);
	if (!fired) {
		talloc_free(guard);
	}
	return !fired;
}

static void test_waiters_woken_oldest_first(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a[4] = {{&w, 1}, {&w, 2}, {&w, 3}, {&w, 4}};
	void *wait[4];
	int64_t start = real_ms();
	unsigned i;

	for (i = 0; i < f->after; i++) {
		assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 0);
	}
	/* bob waits first, then alice's three in the order they came */
	wait[3] = wait_ok(f, f->mem, "bob", 0, SECTX_THROTTLE_BUSY, on_wake, &a[3]);
	for (i = 0; i < 3; i++) {
		assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0),
				 SECTX_THROTTLE_BUSY);
		wait[i] = wait_ok(f, f->mem, "alice", 0, SECTX_THROTTLE_BUSY, on_wake, &a[i]);
	}
	assert_non_null(wait[3]);
	/* nothing is due yet */
	assert_false(loop_for(f, 50));
	assert_int_equal(w.n, 0);
	/* an attempt of alice ends: her oldest waiter looks again, at once */
	sectx_throttle_end(f->hctx, "alice", 0, SECTX_THROTTLE_OK);
	assert_true(loop_for(f, 500));
	assert_int_equal(w.n, 1);
	assert_int_equal(w.order[0], 1);
	/* one end wakes one waiter: the others keep waiting */
	assert_false(loop_for(f, 50));
	assert_int_equal(w.n, 1);
	/* a cancelled wait is skipped */
	talloc_free(wait[1]);
	sectx_throttle_end(f->hctx, "alice", 0, SECTX_THROTTLE_UNTRIED);
	assert_true(loop_for(f, 500));
	assert_int_equal(w.n, 2);
	assert_int_equal(w.order[1], 3);
	/* woken by the ends, long before their second */
	assert_true(real_ms() - start < 900);
	/* bob's wait was not woken by alice: it runs out on its own timer */
	assert_true(loop_for(f, 3000));
	assert_int_equal(w.n, 3);
	assert_int_equal(w.order[2], 4);
	assert_true(real_ms() - start >= 900);
}

static void test_wait_with_a_delay(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 7};
	int64_t start = real_ms();

	(void)wait_ok(f, f->mem, "alice", 0, 30, on_wake, &a);
	assert_true(loop_for(f, 3000));
	assert_int_equal(w.n, 1);
	assert_int_equal(w.order[0], 7);
	assert_true(real_ms() - start >= 25);
}

static void test_stop_leaves_waits_harmless(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 1};
	TALLOC_CTX *req = talloc_new(f->mem);

	(void)wait_ok(f, req, "alice", 0, SECTX_THROTTLE_BUSY, on_wake, &a);
	sectxd_throttle_subsystem.stop(f->hctx);
	assert_null(f->hctx->throttle);
	/* the request goes later: its wait must not reach into the freed table */
	talloc_free(req);
	assert_int_equal(sectxd_throttle_subsystem.start(f->hctx), 0);
	assert_int_equal(w.n, 0);
}

/* A wait that must be refused at once with err: no wait, nothing queued. */
static void wait_refused(struct fixture *f, const char *user, uid_t uid, int64_t delay,
			 int64_t deadline, int err)
{
	unsigned before = sectx_throttle_waiting(f->hctx, NULL);
	void *w = f; /* must be reset */

	assert_int_equal(
	    sectx_throttle_wait(f->hctx, f->mem, user, uid, delay, deadline, on_wake, NULL, &w),
	    err);
	assert_null(w);
	assert_int_equal(sectx_throttle_waiting(f->hctx, NULL), before);
}

static void test_delay_past_deadline_answered_at_once(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 1};
	unsigned i;

	for (i = 0; i < f->after; i++) {
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 1000);
	/* a client that gives up before the delay (and the attempt's own
	 * time after it) is over is answered now */
	wait_refused(f, "alice", 0, 1000, fake_now + 1000, -ETIMEDOUT);
	wait_refused(f, "alice", 0, 1000, fake_now + 1000 + SECTX_THROTTLE_REPLY_MS - 1,
		     -ETIMEDOUT);
	wait_refused(f, "alice", 0, 1000, fake_now - 1, -ETIMEDOUT);
	/* a longer one waits */
	(void)wait_ok(f, f->mem, "alice", 0, 1000, on_wake, &a);
	assert_int_equal(sectx_throttle_waiting(f->hctx, "alice"), 1);
	assert_int_equal(w.n, 0);
	/* the doubled delays too: past the client's timeout, at once */
	for (i = 0; i < 4; i++) {
		fake_now += 60000;
		attempt(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	assert_int_equal(sectx_throttle_delay(f->hctx, "alice", 0), 16000);
	wait_refused(f, "alice", 0, 16000, fake_now + 10000, -ETIMEDOUT);
}

static void test_busy_wait_ends_before_its_deadline(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 1};
	int64_t start = real_ms();
	void *wait = NULL;
	unsigned i;

	for (i = 0; i < f->after; i++) {
		assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 0);
	}
	/* the client stops waiting in REPLY_MS + 50 ms: the wait ends in 50 ms,
	 * not after the second a busy wait takes at most */
	assert_int_equal(sectx_throttle_wait(f->hctx, f->mem, "alice", 0, SECTX_THROTTLE_BUSY,
					     fake_now + SECTX_THROTTLE_REPLY_MS + 50, on_wake, &a,
					     &wait),
			 0);
	assert_true(loop_for(f, 3000));
	assert_int_equal(w.n, 1);
	assert_true(real_ms() - start < 900);
	assert_int_equal(sectx_throttle_waiting(f->hctx, NULL), 0);
	/* still busy at that time: too late, answered at once */
	fake_now += 50;
	assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), SECTX_THROTTLE_BUSY);
	wait_refused(f, "alice", 0, SECTX_THROTTLE_BUSY, fake_now + SECTX_THROTTLE_REPLY_MS,
		     -ETIMEDOUT);
}

static void test_queue_bounded_per_user(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 1};
	void *waits[SECTX_THROTTLE_QUEUE_USER];
	unsigned i;

	for (i = 0; i < SECTX_THROTTLE_QUEUE_USER; i++) {
		/* from root (one login service) and from alice's own uid alike */
		waits[i] =
		    wait_ok(f, f->mem, "alice", i % 2 ? 0 : 1000, SECTX_THROTTLE_BUSY, on_wake, &a);
	}
	assert_int_equal(sectx_throttle_waiting(f->hctx, "alice"), SECTX_THROTTLE_QUEUE_USER);
	wait_refused(f, "alice", 0, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	wait_refused(f, "alice", 1000, 1000, FAR_DEADLINE, -EBUSY);
	wait_refused(f, "alice", 2000, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	/* another user is not held up by alice's queue */
	(void)wait_ok(f, f->mem, "bob", 0, SECTX_THROTTLE_BUSY, on_wake, &a);
	/* one leaves, one more fits */
	talloc_free(waits[3]);
	(void)wait_ok(f, f->mem, "alice", 0, SECTX_THROTTLE_BUSY, on_wake, &a);
	wait_refused(f, "alice", 0, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	assert_int_equal(w.n, 0);
}

static void test_queue_bounded_per_uid(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 1};
	char user[32];
	unsigned i;

	/* one uid waiting as many users (an alias, a user it may act for) */
	for (i = 0; i < SECTX_THROTTLE_QUEUE_USER; i++) {
		snprintf(user, sizeof(user), "name%u", i);
		(void)wait_ok(f, f->mem, user, 1000, SECTX_THROTTLE_BUSY, on_wake, &a);
	}
	wait_refused(f, "name-more", 1000, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	/* other uids, and root (every login service), are not held up */
	(void)wait_ok(f, f->mem, "name-more", 1001, SECTX_THROTTLE_BUSY, on_wake, &a);
	for (i = 0; i < SECTX_THROTTLE_QUEUE_USER + 1; i++) {
		snprintf(user, sizeof(user), "root-user%u", i);
		(void)wait_ok(f, f->mem, user, 0, SECTX_THROTTLE_BUSY, on_wake, &a);
	}
}

static void test_queue_bounded_in_total(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 1};
	char user[32];
	unsigned i;

	assert_true(f->hctx->cfg->sectxd.max_connections_per_uid / 2 >= SECTX_THROTTLE_QUEUE_MAX);
	for (i = 0; i < SECTX_THROTTLE_QUEUE_MAX; i++) {
		snprintf(user, sizeof(user), "user%u", i / 4);
		(void)wait_ok(f, f->mem, user, 0, SECTX_THROTTLE_BUSY, on_wake, &a);
	}
	assert_int_equal(sectx_throttle_waiting(f->hctx, NULL), SECTX_THROTTLE_QUEUE_MAX);
	wait_refused(f, "newcomer", 0, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	wait_refused(f, "newcomer", 1000, 2000, FAR_DEADLINE, -EBUSY);
	assert_int_equal(sectx_throttle_waiting(f->hctx, "newcomer"), 0);
	assert_int_equal(w.n, 0);
}

static void test_queue_never_half_of_a_uids_connections(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 1};
	char user[32];
	unsigned i;

	/* a host that lets each uid 20 connections queues 10 in all */
	f->hctx->cfg->sectxd.max_connections_per_uid = 20;
	for (i = 0; i < 10; i++) {
		(void)wait_ok(f, f->mem, "alice", 0, SECTX_THROTTLE_BUSY, on_wake, &a);
	}
	wait_refused(f, "alice", 0, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	wait_refused(f, "bob", 0, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	for (i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "x%u", i);
		wait_refused(f, user, 0, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	}
}

static void test_freed_waiter_leaves_the_queue(void **state)
{
	struct fixture *f = *state;
	struct woken w = {.n = 0};
	struct waiter_arg a = {&w, 1};
	TALLOC_CTX *req[SECTX_THROTTLE_QUEUE_USER];
	unsigned i;

	for (i = 0; i < f->after; i++) {
		assert_int_equal(sectx_throttle_try_begin(f->hctx, "alice", 0), 0);
	}
	/* each wait hangs under its request, as the ops' do */
	for (i = 0; i < SECTX_THROTTLE_QUEUE_USER; i++) {
		req[i] = talloc_new(f->mem);
		assert_non_null(req[i]);
		(void)wait_ok(f, req[i], "alice", 0, SECTX_THROTTLE_BUSY, on_wake, &a);
	}
	wait_refused(f, "alice", 0, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	/* the clients hang up: the server frees their requests */
	for (i = 0; i < SECTX_THROTTLE_QUEUE_USER; i += 2) {
		talloc_free(req[i]);
	}
	assert_int_equal(sectx_throttle_waiting(f->hctx, "alice"), SECTX_THROTTLE_QUEUE_USER / 2);
	assert_int_equal(sectx_throttle_waiting(f->hctx, NULL), SECTX_THROTTLE_QUEUE_USER / 2);
	/* their places are free again, and no freed wait is ever woken */
	for (i = 0; i < SECTX_THROTTLE_QUEUE_USER; i += 2) {
		req[i] = talloc_new(f->mem);
		(void)wait_ok(f, req[i], "alice", 0, SECTX_THROTTLE_BUSY, on_wake, &a);
	}
	wait_refused(f, "alice", 0, SECTX_THROTTLE_BUSY, FAR_DEADLINE, -EBUSY);
	for (i = 0; i < SECTX_THROTTLE_QUEUE_USER; i++) {
		talloc_free(req[i]);
	}
	assert_int_equal(sectx_throttle_waiting(f->hctx, NULL), 0);
	for (i = 0; i < f->after; i++) {
		sectx_throttle_end(f->hctx, "alice", 0, SECTX_THROTTLE_FAILED);
	}
	assert_false(loop_for(f, 50));
	assert_int_equal(w.n, 0);
}

/* Lines of file that contain needle. */
static unsigned count_lines(FILE *file, const char *needle, const char *also)
{
	char line[1024];
	unsigned n = 0;

	rewind(file);
	while (fgets(line, sizeof(line), file) != NULL) {
		if (strstr(line, needle) != NULL && (also == NULL || strstr(line, also) != NULL)) {
			n++;
		}
	}
	return n;
}

static void test_refusals_logged_rate_limited(void **state)
{
	struct fixture *f = *state;
	FILE *log = tmpfile();
	int saved = dup(2);
	unsigned i;

	assert_non_null(log);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(log), 2) == 2);
	sectx_log_init("test_throttle", 1, SECTX_LOG_DEBUG);
	for (i = 0; i < 50; i++) {
		wait_refused(f, "alice", 0, 5000, fake_now + 1000, -ETIMEDOUT);
	}
	fake_now += 10000;
	wait_refused(f, "alice", 0, 5000, fake_now + 1000, -ETIMEDOUT);
	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	/* 51 refusals, two lines: the first, and one that counts the 49 others */
	assert_int_equal(count_lines(log, "answered at once", NULL), 2);
	assert_int_equal(count_lines(log, "answered at once", "(49 more turned away"), 1);
	fclose(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults_are_what_the_tests_assume, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_no_delay_before_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delay_after_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_flight_count_and_busy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parallel_failures_meet_the_delay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ok_clears_the_users_count, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_untried_gives_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_per_uid_and_per_user_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quiet_quarter_hour_forgets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_table_is_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_waiters_woken_oldest_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_with_a_delay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_leaves_waits_harmless, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delay_past_deadline_answered_at_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_busy_wait_ends_before_its_deadline, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bounded_per_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bounded_per_uid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bounded_in_total, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_never_half_of_a_uids_connections, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_freed_waiter_leaves_the_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_logged_rate_limited, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
