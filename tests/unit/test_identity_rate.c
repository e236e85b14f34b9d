/*
 * tests/unit/test_identity_rate.c - the per-uid rate of existence checks
 * (helper/identity/rate.c): a bucket per uid keyed by the uid itself, so
 * two uids that collide modulo the table size (5 and 5 + RATE_BUCKETS) keep
 * separate buckets instead of sharing and resetting one; the rate, its
 * bursts and its refill; the table bounded, its least recently used entry
 * taken over when full.
 *
 * Built with rate.c only; time is passed in, so nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "identity/identity_int.h"

#define RATE 10.0 /* checks a second: bursts of 20 */

static struct rate_bucket table[RATE_BUCKETS];

static int setup(void **state)
{
	(void)state;
	memset(table, 0, sizeof(table));
	return 0;
}

/* Take tokens for uid at now until refused; how many were granted. */
static unsigned drain(uid_t uid, int64_t now)
{
	unsigned n = 0;

	while (id_rate_take(table, RATE_BUCKETS, uid, RATE, now)) {
		n++;
		assert_true(n <= 1000);
	}
	return n;
}

static void test_burst_then_rate(void **state)
{
	(void)state;
	assert_int_equal(drain(1000, 5000), 2 * RATE);
	/* refilled at RATE a second */
	assert_false(id_rate_take(table, RATE_BUCKETS, 1000, RATE, 5050));
	assert_true(id_rate_take(table, RATE_BUCKETS, 1000, RATE, 5100));
	assert_false(id_rate_take(table, RATE_BUCKETS, 1000, RATE, 5100));
	/* never more than the burst, however long it was idle */
	assert_int_equal(drain(1000, 500000), 2 * RATE);
}

static void test_colliding_uids_have_separate_buckets(void **state)
{
	uid_t a = 5, b = 5 + RATE_BUCKETS; /* the same slot under uid % RATE_BUCKETS */
	unsigned round;

	(void)state;
	/* a spends its burst; b asking must neither reset a's bucket nor take
	 * from it, however they alternate */
	assert_int_equal(drain(a, 1000), 2 * RATE);
	for (round = 0; round < 5; round++) {
		assert_false(id_rate_take(table, RATE_BUCKETS, a, RATE, 1000));
		assert_true(id_rate_take(table, RATE_BUCKETS, b, RATE, 1000));
		assert_false(id_rate_take(table, RATE_BUCKETS, a, RATE, 1000));
	}
	/* b's own burst, less what it took above */
	assert_int_equal(drain(b, 1000), 2 * RATE - 5);
	assert_false(id_rate_take(table, RATE_BUCKETS, a, RATE, 1000));
	/* and a third in the same slot is a third bucket */
	assert_int_equal(drain(5 + 2 * RATE_BUCKETS, 1000), 2 * RATE);
}

static void test_table_is_bounded_lru_goes(void **state)
{
	uid_t uid;

	(void)state;
	/* uid 1 spends its burst first, then RATE_BUCKETS - 1 other uids ask */
	assert_int_equal(drain(1, 999), 2 * RATE);
	for (uid = 2; uid <= RATE_BUCKETS; uid++) {
		assert_true(id_rate_take(table, RATE_BUCKETS, uid, RATE, 1000));
	}
	/* the table is full; uid 1 asks again (so uid 2 is now the oldest) */
	assert_false(id_rate_take(table, RATE_BUCKETS, 1, RATE, 1001));
	/* a new uid takes over the least recently used entry: uid 2's */
	assert_true(id_rate_take(table, RATE_BUCKETS, 50000, RATE, 1002));
	for (size_t i = 0; i < RATE_BUCKETS; i++) {
		assert_true(table[i].used);
		assert_false(table[i].uid == 2);
	}
	/* uid 1's spent bucket was kept */
	assert_false(id_rate_take(table, RATE_BUCKETS, 1, RATE, 1003));
}

static void test_no_table_refuses(void **state)
{
	(void)state;
	assert_false(id_rate_take(table, 0, 1000, RATE, 1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_burst_then_rate, setup),
	    cmocka_unit_test_setup(test_colliding_uids_have_separate_buckets, setup),
	    cmocka_unit_test_setup(test_table_is_bounded_lru_goes, setup),
	    cmocka_unit_test_setup(test_no_table_refuses, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
