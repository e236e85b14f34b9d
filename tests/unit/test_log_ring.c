/*
 * test_log_ring.c - sectxd's ring of its last log lines (helper/core/
 * log_ring.c): lines come back in order with their level, only the newest
 * SECTX_LOG_RING_LINES are kept, control and non-ASCII bytes are replaced,
 * and a reader asking past the end gets -ENOENT.
 */
#include "core/log_ring.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static int setup(void **state)
{
	(void)state;
	sectx_log_init("test", 1, SECTX_LOG_DEBUG);
	sectx_log_ring_install();
	return 0;
}

static void test_lines_in_order(void **state)
{
	char line[SECTX_LOG_RING_WIDTH];
	uint64_t start = sectx_log_ring_last(), seq;

	(void)state;
	SECTX_INFO("first %d", 1);
	SECTX_DEBUG("second");
	SECTX_TRACE("not logged at debug: not kept");
	assert_int_equal(sectx_log_ring_next(start, line, sizeof(line), &seq), 0);
	assert_string_equal(line, "info: first 1");
	assert_int_equal(seq, start + 1);
	assert_int_equal(sectx_log_ring_next(seq, line, sizeof(line), &seq), 0);
	assert_string_equal(line, "debug: second");
	assert_int_equal(sectx_log_ring_next(seq, line, sizeof(line), &seq), -ENOENT);
	assert_int_equal(sectx_log_ring_last(), start + 2);
}

static void test_only_the_newest_are_kept(void **state)
{
	char line[SECTX_LOG_RING_WIDTH];
	uint64_t start = sectx_log_ring_last(), seq;
	unsigned i;

	(void)state;
	for (i = 0; i < SECTX_LOG_RING_LINES + 10; i++) {
		SECTX_INFO("line %u", i);
	}
	/* asking from the start gives the oldest line still kept */
	assert_int_equal(sectx_log_ring_next(start, line, sizeof(line), &seq), 0);
	assert_string_equal(line, "info: line 10");
	assert_int_equal(seq, start + 11);
}

static void test_control_and_non_ascii_replaced(void **state)
{
	char line[SECTX_LOG_RING_WIDTH];
	uint64_t start = sectx_log_ring_last(), seq;

	(void)state;
	SECTX_WARN("a\nb\x1b[2Jc\xc3\xa9");
	assert_int_equal(sectx_log_ring_next(start, line, sizeof(line), &seq), 0);
	assert_string_equal(line, "warning: a?b?[2Jc??");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_in_order),
	    cmocka_unit_test(test_only_the_newest_are_kept),
	    cmocka_unit_test(test_control_and_non_ascii_replaced),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
