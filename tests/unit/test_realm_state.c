/*
 * test_realm_state.c - unit tests of helper/offline/realm_state.c: the
 * realm's online/offline transitions as KDC outcomes reach it through the
 * engine's observer, the probe and its backoff, sectx_realm_wanted, the
 * status fields, and stop.
 *
 * The KDC exchange is a double (sectx_kdc_send / sectx_kdc_recv /
 * sectx_kdc_set_observer below, in place of login/kdc_io.c): it captures the
 * observer realm_state registers, records every probe sent and leaves it in
 * flight until a test answers it, reporting the outcome to the observer as
 * kdc_io does.  Everything else is real: a tevent loop with probe intervals
 * of tens of milliseconds, libkrb5 building the probe's AS-REQ (with an
 * empty krb5.conf), the clock.  The loop's _tevent_add_timer is wrapped
 * (-Wl,--wrap) only to record the interval each timer is armed at, so the
 * backoff is checked exactly; the times the probes are really sent are
 * checked as lower bounds (a timer never fires early), never as upper ones,
 * so a slow host (valgrind) cannot fail them.  No network, no KDC.
 */
#include "offline/offline.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "login/login.h"
#include "proto.h"

#define REALM	   "SECTX.TEST"
#define PROBES_MAX 32

/* --- the KDC exchange double ---------------------------------------------- */

static struct {
	sectx_kdc_observer_fn fn;
	void *data;
	unsigned set_calls;
	unsigned probes;	     /* sectx_kdc_send calls */
	int64_t sent_ms[PROBES_MAX]; /* when each was sent (sectx_now_ms) */
	char realm[PROBES_MAX][64];  /* the realm each was for */
	size_t msg_len[PROBES_MAX];  /* the length of each message */
	uint8_t msg_tag[PROBES_MAX]; /* its first byte (0x6a: AS-REQ) */
	struct tevent_req *pending;  /* the last one, still in flight */
	unsigned recv_calls;
	unsigned arms;		      /* timers armed by realm_state */
	int64_t armed_ms[PROBES_MAX]; /* the interval of each, in ms */
	unsigned live_timers;	      /* of those, armed and not yet fired or freed */
} kdc;

/* A child of each of realm_state's timers: freed with it (fired or cancelled). */
static int timer_sentinel_destructor(unsigned *sentinel)
{
	(void)sentinel;
	kdc.live_timers--;
	return 0;
}

static void guard_fired(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			void *private_data)
{
	*(bool *)private_data = true;
}

struct tevent_timer *__real__tevent_add_timer(struct tevent_context *ev, TALLOC_CTX *mem_ctx,
					      struct timeval next_event,
					      tevent_timer_handler_t handler, void *private_data,
					      const char *handler_name, const char *location);

struct tevent_timer *__wrap__tevent_add_timer(struct tevent_context *ev, TALLOC_CTX *mem_ctx,
					      struct timeval next_event,
					      tevent_timer_handler_t handler, void *private_data,
					      const char *handler_name, const char *location);

/* Every timer but the test's own guard is realm_state's probe timer: record
 * the interval it asks for (rounded up to ms), arm it for real, and hang a
 * sentinel on it that counts it live until tevent or realm_state frees it. */
struct tevent_timer *__wrap__tevent_add_timer(struct tevent_context *ev, TALLOC_CTX *mem_ctx,
					      struct timeval next_event,
					      tevent_timer_handler_t handler, void *private_data,
					      const char *handler_name, const char *location)
{
	struct tevent_timer *te;
	struct timeval now = tevent_timeval_current();
	int64_t us = ((int64_t)next_event.tv_sec - now.tv_sec) * 1000000 +
		     ((int64_t)next_event.tv_usec - now.tv_usec);

	te = __real__tevent_add_timer(ev, mem_ctx, next_event, handler, private_data, handler_name,
				      location);
	if (te != NULL && handler != guard_fired) {
		unsigned *sentinel = talloc(te, unsigned);

		assert_non_null(sentinel);
		talloc_set_destructor(sentinel, timer_sentinel_destructor);
		kdc.live_timers++;
		assert_true(kdc.arms < PROBES_MAX);
		kdc.armed_ms[kdc.arms++] = (us + 999) / 1000;
	}
	return te;
}

struct fake_kdc_state {
	struct tevent_req *req;
	krb5_data realm;
	char buf[64];
};

/* Freed by its caller (realm_state stopping): no longer in flight. */
static int fake_kdc_state_destructor(struct fake_kdc_state *st)
{
	if (kdc.pending == st->req) {
		kdc.pending = NULL;
	}
	return 0;
}

void sectx_kdc_set_observer(struct sectxd_krb5 *k, sectx_kdc_observer_fn fn, void *data)
{
	kdc.set_calls++;
	kdc.fn = fn;
	kdc.data = fn != NULL ? data : NULL;
	k->observer = kdc.fn;
	k->observer_data = kdc.data;
}

struct tevent_req *sectx_kdc_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				  struct sectxd_krb5 *k, const krb5_data *realm,
				  const krb5_data *msg, bool tcp_only, int64_t deadline)
{
	struct fake_kdc_state *st;
	struct tevent_req *req = tevent_req_create(mem_ctx, &st, struct fake_kdc_state);
	unsigned i = kdc.probes;

	(void)ev;
	(void)k;
	(void)tcp_only;
	(void)deadline;
	if (req == NULL) {
		return NULL;
	}
	assert_true(i < PROBES_MAX);
	assert_true(realm->length < sizeof(st->buf));
	memcpy(st->buf, realm->data, realm->length);
	st->realm.length = realm->length;
	st->realm.data = st->buf;
	st->req = req;
	talloc_set_destructor(st, fake_kdc_state_destructor);
	kdc.sent_ms[i] = sectx_now_ms();
	memcpy(kdc.realm[i], realm->data, realm->length);
	kdc.realm[i][realm->length] = '\0';
	kdc.msg_len[i] = msg->length;
	kdc.msg_tag[i] = msg->length > 0 ? (uint8_t)msg->data[0] : 0;
	kdc.probes++;
	kdc.pending = req;
	return req;
}

/* As kdc_io's: the outcome goes to the observer, then to the caller. */
int sectx_kdc_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, uint8_t **reply, size_t *reply_len)
{
	struct fake_kdc_state *st = tevent_req_data(req, struct fake_kdc_state);
	int err;

	kdc.recv_calls++;
	if (sectx_req_failed(req, &err)) {
		if (kdc.fn != NULL) {
			kdc.fn(kdc.data, &st->realm, -err);
		}
		return -err;
	}
	if (kdc.fn != NULL) {
		kdc.fn(kdc.data, &st->realm, 0);
	}
	*reply = talloc_memdup(mem_ctx, "\x7e", 1); /* a KRB-ERROR is an answer too */
	*reply_len = 1;
	return *reply != NULL ? 0 : -ENOMEM;
}

/* Answer the probe in flight: err 0 (a KDC answered) or an errno. */
static void answer_probe(int err)
{
	struct tevent_req *req = kdc.pending;

	assert_non_null(req);
	kdc.pending = NULL;
	if (err == 0) {
		tevent_req_done(req); /* realm_state's callback runs (and frees req) */
	} else {
		tevent_req_error(req, err);
	}
}

/* Timer i was armed at ms (computed back from its expiry: a few µs less,
 * more on a slow host, never more than asked). */
static void assert_armed(unsigned i, int64_t ms)
{
	assert_true(i < kdc.arms);
	assert_true(kdc.armed_ms[i] <= ms);
	assert_true(kdc.armed_ms[i] > ms - 10);
}

/* An exchange of a login (not the probe) with realm ended: err 0 or -errno,
 * reported as kdc_io reports it. */
static void report(const char *realm, int err)
{
	krb5_data r = {
	    .magic = KV5M_DATA, .length = (unsigned)strlen(realm), .data = (char *)realm};

	assert_non_null(kdc.fn);
	kdc.fn(kdc.data, &r, err);
}

/* --- fixture -------------------------------------------------------------- */

struct fixture {
	TALLOC_CTX *mem;
	struct sectxd_ctx *hctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sectx_config *cfg = NULL;

	if (f == NULL) {
		return -1;
	}
	memset(&kdc, 0, sizeof(kdc));
	f->mem = talloc_new(NULL);
	if (f->mem == NULL || sectx_config_defaults(f->mem, &cfg) != 0) {
		return -1;
	}
	cfg->offline.probe_ms = 50;
	cfg->offline.probe_max_ms = 200;
	cfg->kerberos.kdc_timeout_ms = 5000;
	f->hctx = talloc_zero(f->mem, struct sectxd_ctx);
	f->hctx->cfg = cfg;
	f->hctx->realm = talloc_strdup(f->hctx, REALM);
	f->hctx->ev = tevent_context_init(f->hctx);
	f->hctx->krb5 = talloc_zero(f->hctx, struct sectxd_krb5);
	if (f->hctx->ev == NULL || f->hctx->krb5 == NULL ||
	    krb5_init_context(&f->hctx->krb5->ctx) != 0) {
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->hctx->realm_state != NULL) {
		sectxd_realm_subsystem.stop(f->hctx);
	}
	talloc_free(f->hctx->krb5->last_error);
	krb5_free_context(f->hctx->krb5->ctx);
	talloc_free(f->mem);
	free(f);
	return 0;
}

static void start(struct fixture *f)
{
	assert_int_equal(sectxd_realm_subsystem.start(f->hctx), 0);
}

/* Run the loop until kdc.probes reaches n or max_ms pass.  True if it did. */
static bool run_until_probes(struct fixture *f, unsigned n, int64_t max_ms)
{
	bool expired = false;
	struct tevent_timer *guard = tevent_add_timer(
	    f->hctx->ev, f->mem,
	    tevent_timeval_current_ofs((uint32_t)(max_ms / 1000), (uint32_t)(max_ms % 1000) * 1000),
	    guard_fired, &expired);

	assert_non_null(guard);
	while (kdc.probes < n && !expired) {
		assert_int_equal(tevent_loop_once(f->hctx->ev), 0);
	}
	if (!expired) {
		talloc_free(guard); /* a timer that fired is freed by tevent */
	}
	return kdc.probes >= n;
}

/* Run the loop for ms: nothing but the realm's own timers may fire. */
static void run_for(struct fixture *f, int64_t ms)
{
	unsigned before = kdc.probes;

	(void)run_until_probes(f, UINT32_MAX, ms);
	assert_true(kdc.probes >= before);
}

/* The status fields of the realm subsystem. */
struct status {
	char state[16];
	uint64_t since;
	bool has_next;
	uint64_t next;
};

static struct status status_of(struct fixture *f)
{
	uint8_t buf[512];
	struct sectx_wbuf w;
	struct sectx_msg m;
	struct status s;
	size_t len = 0;

	memset(&s, 0, sizeof(s));
	sectx_frame_begin(&w, buf, sizeof(buf), SECTX_PROTO_VERSION,
			  SECTX_OP_STATUS | SECTX_OP_REPLY, 1);
	sectxd_realm_subsystem.status(f->hctx, &w);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(sectx_msg_parse(buf, len, &m), 0);
	assert_int_equal(
	    sectx_msg_get_string(&m, SECTX_TAG_REALM_STATE, s.state, sizeof(s.state), 15), 0);
	assert_int_equal(sectx_msg_get_u64(&m, SECTX_TAG_REALM_SINCE, &s.since), 0);
	s.has_next = sectx_msg_get_u64(&m, SECTX_TAG_NEXT_PROBE, &s.next) == 0;
	return s;
}

/* --- tests ---------------------------------------------------------------- */

static void test_unreachable_errors(void **state)
{
	const int yes[] = {ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ENOENT};
	const int no[] = {0, EIO, ENOMEM, EMSGSIZE, EINVAL, EPROTO, EBADMSG, ECANCELED};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_true(sectx_realm_unreachable_error(yes[i]));
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_false(sectx_realm_unreachable_error(no[i]));
	}
}

static void test_starts_online_with_the_observer(void **state)
{
	struct fixture *f = *state;
	struct status s;

	assert_false(sectx_realm_is_offline(f->hctx)); /* not started: not offline */
	start(f);
	assert_non_null(f->hctx->realm_state);
	assert_false(sectx_realm_is_offline(f->hctx));
	assert_int_equal(kdc.set_calls, 1);
	assert_non_null(kdc.fn);
	assert_ptr_equal(kdc.data, f->hctx->realm_state);
	assert_ptr_equal(f->hctx->krb5->observer, kdc.fn);
	s = status_of(f);
	assert_string_equal(s.state, "online");
	assert_int_equal(s.since, 0);
	assert_false(s.has_next);
	/* online, nothing is probed, and a login's wish changes nothing */
	sectx_realm_wanted(f->hctx);
	run_for(f, 150);
	assert_int_equal(kdc.probes, 0);
}

/* Each error that means "no KDC could be reached" takes the host's realm
 * offline and arms a probe at offline_probe; the probe is an AS-REQ to the
 * host's realm, and its answer (of any kind) brings the realm back. */
static void test_unreachable_takes_it_offline(void **state)
{
	struct fixture *f = *state;
	const int errs[] = {ETIMEDOUT, ECONNREFUSED, ENOENT, EHOSTUNREACH, ENETUNREACH};
	size_t i;

	start(f);
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		unsigned n = kdc.probes, a = kdc.arms;
		int64_t t0 = sectx_now_ms();
		struct status s;

		report(REALM, -errs[i]);
		assert_true(sectx_realm_is_offline(f->hctx));
		assert_int_equal(kdc.arms, a + 1);
		assert_armed(a, 50);
		assert_int_equal(kdc.live_timers, 1);
		assert_non_null(f->hctx->krb5->last_error);
		assert_non_null(strstr(f->hctx->krb5->last_error, "no KDC answered"));
		assert_non_null(strstr(f->hctx->krb5->last_error, strerror(errs[i])));
		s = status_of(f);
		assert_string_equal(s.state, "offline");
		assert_true(s.has_next);
		assert_int_equal(s.next, 1);	 /* 50 ms, in whole seconds rounded up */
		assert_int_equal(kdc.probes, n); /* armed, not sent */

		assert_true(run_until_probes(f, n + 1, 5000));
		assert_true(kdc.sent_ms[n] - t0 >= (int64_t)f->hctx->cfg->offline.probe_ms);
		assert_string_equal(kdc.realm[n], REALM);
		assert_true(kdc.msg_len[n] > 0);
		assert_int_equal(kdc.msg_tag[n], 0x6a); /* [APPLICATION 10] AS-REQ */
		assert_non_null(kdc.pending);
		assert_int_equal(kdc.live_timers, 0); /* it fired */

		answer_probe(0);
		assert_false(sectx_realm_is_offline(f->hctx));
		assert_int_equal(kdc.recv_calls, n + 1);
		s = status_of(f);
		assert_string_equal(s.state, "online");
		assert_false(s.has_next);
		/* back online: no probe follows */
		run_for(f, 120);
		assert_int_equal(kdc.probes, n + 1);
		assert_int_equal(kdc.arms, a + 1);
	}
}

/* An answer from any KDC of the realm (a login's exchange, err 0) brings it
 * online at once and cancels the armed probe. */
static void test_answer_cancels_the_probe(void **state)
{
	struct fixture *f = *state;

	start(f);
	report(REALM, -ETIMEDOUT);
	assert_true(sectx_realm_is_offline(f->hctx));
	assert_int_equal(kdc.live_timers, 1);
	report(REALM, 0);
	assert_false(sectx_realm_is_offline(f->hctx));
	assert_int_equal(kdc.live_timers, 0); /* freed, not left to fire */
	assert_false(status_of(f).has_next);
	run_for(f, 3 * f->hctx->cfg->offline.probe_max_ms);
	assert_int_equal(kdc.probes, 0);
}

/* A KDC's error reply (wrong password, unknown principal) is an answer:
 * kdc_io reports it as err 0.  Neither it nor the helper's own failures
 * (memory, a message too big, a garbled reply) ever make the realm offline. */
static void test_error_reply_never_offline(void **state)
{
	struct fixture *f = *state;
	const int own[] = {ENOMEM, EMSGSIZE, EIO, EPROTO, EBADMSG, EINVAL};
	size_t i;

	start(f);
	for (i = 0; i < 5; i++) {
		report(REALM, 0);
	}
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		report(REALM, -own[i]);
		assert_false(sectx_realm_is_offline(f->hctx));
	}
	assert_null(f->hctx->krb5->last_error);
	assert_int_equal(kdc.arms, 0);
	assert_string_equal(status_of(f).state, "online");
	run_for(f, 150);
	assert_int_equal(kdc.probes, 0);

	/* nor do they bring an offline realm back: only an answer does */
	report(REALM, -ECONNREFUSED);
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		report(REALM, -own[i]);
		assert_true(sectx_realm_is_offline(f->hctx));
	}
}

/* Exchanges with other realms (a user's ccache from elsewhere) say nothing
 * about the host's: no KDC of theirs puts it offline, nor brings it back. */
static void test_other_realms_change_nothing(void **state)
{
	struct fixture *f = *state;
	const char *others[] = {"OTHER.TEST", "SECTX.TES", "SECTX.TEST.EXAMPLE", "sectx.test", ""};
	size_t i;

	start(f);
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		report(others[i], -ETIMEDOUT);
		report(others[i], -ECONNREFUSED);
		report(others[i], -ENOENT);
		assert_false(sectx_realm_is_offline(f->hctx));
	}
	assert_null(f->hctx->krb5->last_error);
	assert_int_equal(kdc.arms, 0);
	run_for(f, 150);
	assert_int_equal(kdc.probes, 0);

	report(REALM, -ETIMEDOUT);
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		report(others[i], 0);
		assert_true(sectx_realm_is_offline(f->hctx));
	}
}

/* While no KDC answers, the probe interval doubles from offline_probe up to
 * offline_probe_max: 50, 100, 200, 200, 200 ms here. */
static void test_probe_backoff_doubles_to_the_max(void **state)
{
	struct fixture *f = *state;
	const int64_t expect[] = {50, 100, 200, 200, 200};
	int64_t from;
	size_t i;

	start(f);
	from = sectx_now_ms();
	report(REALM, -ETIMEDOUT);
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		assert_int_equal(kdc.arms, i + 1);
		assert_armed((unsigned)i, expect[i]);
		assert_true(run_until_probes(f, (unsigned)i + 1, 5000));
		assert_true(kdc.sent_ms[i] - from >= expect[i]);
		assert_true(sectx_realm_is_offline(f->hctx));
		from = sectx_now_ms();
		answer_probe(i % 2 == 0 ? ETIMEDOUT : ECONNREFUSED);
		assert_true(sectx_realm_is_offline(f->hctx));
		assert_int_equal(kdc.live_timers, 1);
		assert_true(status_of(f).has_next);
	}
	/* then a KDC answers the probe: online, nothing armed after it */
	assert_true(run_until_probes(f, (unsigned)i + 1, 5000));
	answer_probe(0);
	assert_false(sectx_realm_is_offline(f->hctx));
	assert_int_equal(kdc.arms, i + 1);
	run_for(f, 3 * f->hctx->cfg->offline.probe_max_ms);
	assert_int_equal(kdc.probes, (unsigned)i + 1);
	assert_int_equal(kdc.arms, i + 1);

	/* offline again: the backoff starts over at offline_probe */
	report(REALM, -ETIMEDOUT);
	assert_int_equal(kdc.arms, i + 2);
	assert_armed((unsigned)i + 1, 50);
}

/* A login that wants the offline realm probes at once, unless a probe is in
 * flight or was sent less than offline_probe ago, and restarts the backoff
 * at offline_probe. */
static void test_wanted_probes_at_once_but_not_too_often(void **state)
{
	struct fixture *f = *state;
	int64_t from;

	f->hctx->cfg->offline.probe_ms = 60;
	f->hctx->cfg->offline.probe_max_ms = 1000;
	start(f);
	report(REALM, -ETIMEDOUT);
	assert_int_equal(kdc.arms, 1);
	assert_int_equal(kdc.probes, 0);
	sectx_realm_wanted(f->hctx); /* nothing probed yet: at once */
	assert_int_equal(kdc.probes, 1);
	assert_string_equal(kdc.realm[0], REALM);
	assert_int_equal(kdc.msg_tag[0], 0x6a);
	sectx_realm_wanted(f->hctx); /* one in flight */
	assert_int_equal(kdc.probes, 1);
	answer_probe(ETIMEDOUT);
	assert_int_equal(kdc.arms, 2);
	assert_armed(1, 120);
	sectx_realm_wanted(f->hctx); /* sent less than 60 ms ago */
	assert_int_equal(kdc.probes, 1);
	assert_int_equal(kdc.arms, 2);

	/* let the backoff grow: 120, then 240 ms, then 480 armed */
	assert_true(run_until_probes(f, 2, 5000));
	answer_probe(ETIMEDOUT);
	assert_armed(2, 240);
	assert_true(run_until_probes(f, 3, 5000));
	answer_probe(ETIMEDOUT);
	assert_int_equal(kdc.arms, 4);
	assert_armed(3, 480);
	while (sectx_now_ms() - kdc.sent_ms[2] < 60) {
		usleep(5000); /* the loop does not run: the timer cannot fire */
	}
	sectx_realm_wanted(f->hctx);
	assert_int_equal(kdc.probes, 4); /* at once */
	from = sectx_now_ms();
	answer_probe(ETIMEDOUT);
	/* restarted at offline_probe: the next one armed at 120 ms, not 960 */
	assert_int_equal(kdc.arms, 5);
	assert_armed(4, 120);
	assert_true(run_until_probes(f, 5, 5000));
	assert_true(kdc.sent_ms[4] - from >= 120);

	/* a wish while the timer is armed but the last probe is recent: no */
	answer_probe(ETIMEDOUT);
	sectx_realm_wanted(f->hctx);
	assert_int_equal(kdc.probes, 5);

	/* once online, wishes probe nothing */
	report(REALM, 0);
	sectx_realm_wanted(f->hctx);
	run_for(f, 300);
	assert_int_equal(kdc.probes, 5);
}

/* Status: the state, how long it has held, and (offline) the seconds to the
 * next probe, rounded up. */
static void test_status_fields(void **state)
{
	struct fixture *f = *state;
	struct status s;

	f->hctx->cfg->offline.probe_ms = 2500;
	f->hctx->cfg->offline.probe_max_ms = 10000;
	start(f);
	usleep(1100 * 1000);
	s = status_of(f);
	assert_string_equal(s.state, "online");
	assert_int_equal(s.since, 1);
	assert_false(s.has_next);

	report(REALM, -ETIMEDOUT);
	s = status_of(f);
	assert_string_equal(s.state, "offline");
	assert_int_equal(s.since, 0); /* the offline state just began */
	assert_true(s.has_next);
	assert_int_equal(s.next, 3); /* 2.5 s, rounded up */

	/* a probe in flight (none armed): 0 seconds to the next */
	sectx_realm_wanted(f->hctx);
	assert_int_equal(kdc.probes, 1);
	s = status_of(f);
	assert_true(s.has_next);
	assert_int_equal(s.next, 0);
}

/* Stop clears the observer and frees the state with its timer and the
 * probe in flight: nothing fires afterwards. */
static void test_stop_clears_the_observer(void **state)
{
	struct fixture *f = *state;

	start(f);
	report(REALM, -ETIMEDOUT);
	assert_int_equal(kdc.live_timers, 1);
	sectxd_realm_subsystem.stop(f->hctx);
	assert_int_equal(kdc.live_timers, 0);
	assert_null(f->hctx->realm_state);
	assert_null(kdc.fn);
	assert_null(f->hctx->krb5->observer);
	assert_null(f->hctx->krb5->observer_data);
	assert_int_equal(kdc.set_calls, 2);
	assert_false(sectx_realm_is_offline(f->hctx));
	sectx_realm_wanted(f->hctx); /* stopped: nothing */
	run_for(f, 150);
	assert_int_equal(kdc.probes, 0);

	/* again with a probe in flight: it is cancelled (freed) with the state */
	start(f);
	report(REALM, -ETIMEDOUT);
	sectx_realm_wanted(f->hctx);
	assert_int_equal(kdc.probes, 1);
	assert_non_null(kdc.pending);
	sectxd_realm_subsystem.stop(f->hctx);
	assert_null(kdc.pending);
	assert_null(kdc.fn);
	run_for(f, 150);
	assert_int_equal(kdc.probes, 1);
	assert_int_equal(kdc.recv_calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unreachable_errors),
	    cmocka_unit_test_setup_teardown(test_starts_online_with_the_observer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable_takes_it_offline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_answer_cancels_the_probe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_reply_never_offline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_realms_change_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_backoff_doubles_to_the_max, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wanted_probes_at_once_but_not_too_often, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_status_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_clears_the_observer, setup, teardown),
	};

	/* libkrb5 builds the probe's AS-REQ from built-in defaults only */
	setenv("KRB5_CONFIG", "/dev/null", 1);
	unsetenv("KRB5_KDC_PROFILE");
	sectx_log_init("test_realm_state", 1, SECTX_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
