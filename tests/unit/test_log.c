/*
 * test_log.c - unit tests for common/log.c: level names and parsing, and the
 * escaping that keeps peer strings from forging or corrupting log lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void test_levels(void **state)
{
	assert_int_equal(sectx_log_level_parse("error"), SECTX_LOG_ERROR);
	assert_int_equal(sectx_log_level_parse("trace"), SECTX_LOG_TRACE);
	assert_int_equal(sectx_log_level_parse("3"), SECTX_LOG_DEBUG);
	assert_int_equal(sectx_log_level_parse("5"), -1);
	assert_int_equal(sectx_log_level_parse("33"), -1);
	assert_int_equal(sectx_log_level_parse("Info"), -1);
	assert_int_equal(sectx_log_level_parse(""), -1);
	assert_int_equal(sectx_log_level_parse(NULL), -1);
	assert_string_equal(sectx_log_level_name(SECTX_LOG_WARNING), "warning");
	assert_string_equal(sectx_log_level_name(17), "?");
	sectx_log_set_level(99);
	assert_int_equal(sectx_log_get_level(), SECTX_LOG_TRACE);
	sectx_log_set_level(-3);
	assert_int_equal(sectx_log_get_level(), SECTX_LOG_ERROR);
}

static void test_escape(void **state)
{
	char out[32];
	const char forged[] = "bob\nJan 1 sectxd: login ok";

	assert_string_equal(sectx_log_escape("alice", 5, out, sizeof(out)), "alice");
	sectx_log_escape(forged, sizeof(forged) - 1, out, sizeof(out));
	assert_null(strchr(out, '\n'));
	assert_memory_equal(out, "bob\\x0aJan 1 sectxd: login", 25);
	assert_string_equal(sectx_log_escape("a\\b", 3, out, sizeof(out)), "a\\x5cb");
	assert_string_equal(sectx_log_escape("\xc3\xbc", 2, out, sizeof(out)), "\\xc3\\xbc");
	/* truncation is marked and always terminated */
	assert_string_equal(sectx_log_escape("abcdefghij", 10, out, 8), "abcd...");
	assert_string_equal(sectx_log_escape("a\n", 2, out, 6), "a...");
	assert_string_equal(sectx_log_escape("abc", 10, out, 8), "abc"); /* stops at NUL */
	assert_string_equal(sectx_log_escape(NULL, 0, out, sizeof(out)), "(null)");
	assert_string_equal(sectx_log_escape("abc", 3, out, 1), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
