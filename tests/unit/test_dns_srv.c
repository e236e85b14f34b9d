/*
 * tests/unit/test_dns_srv.c - the order of DNS SRV records (RFC 2782,
 * helper/core/dns_srv.c): by priority, then by weighted random choice, and
 * records that say "no service" dropped.  The query itself is driven by
 * the integration tests through resolv_wrapper (test_directory.py,
 * test_kdc_srv.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "core/dns_srv.h"

/* A fixed sequence of "random" numbers. */
static uint32_t seq_rnd(void *arg)
{
	uint32_t *state = arg;

	return (*state)++;
}

static void test_srv_order(void **state)
{
	struct sectx_srv v[5] = {
	    {.target = "c.test", .port = 389, .prio = 20, .weight = 0},
	    {.target = ".", .port = 0, .prio = 0, .weight = 0},
	    {.target = "a.test", .port = 389, .prio = 10, .weight = 0},
	    {.target = "b.test", .port = 636, .prio = 10, .weight = 0},
	    {.target = "d.test", .port = 389, .prio = 5, .weight = 9},
	};
	size_t n = 5;
	uint32_t r = 0;

	(void)state;
	sectx_srv_order(v, &n, seq_rnd, &r);
	/* "." (no service) dropped; priorities ascending */
	assert_int_equal(n, 4);
	assert_string_equal(v[0].target, "d.test");
	assert_int_equal(v[1].prio, 10);
	assert_int_equal(v[2].prio, 10);
	assert_string_equal(v[3].target, "c.test");
	/* weights: with 0 then 1 as random numbers, the first of the two equal
	 * weights is picked first */
	assert_string_equal(v[1].target, "a.test");
}

static void test_srv_weights(void **state)
{
	unsigned first_heavy = 0, round;

	(void)state;
	/* weight 98 against 0: the heavy one comes first about 99 times in 100 */
	for (round = 0; round < 100; round++) {
		struct sectx_srv v[2] = {
		    {.target = "light", .port = 1, .prio = 1, .weight = 0},
		    {.target = "heavy", .port = 1, .prio = 1, .weight = 98},
		};
		size_t n = 2;
		uint32_t r = round;

		sectx_srv_order(v, &n, seq_rnd, &r);
		first_heavy += strcmp(v[0].target, "heavy") == 0;
	}
	assert_int_equal(first_heavy, 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_srv_order),
	    cmocka_unit_test(test_srv_weights),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
