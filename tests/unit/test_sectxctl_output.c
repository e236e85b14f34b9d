/*
 * test_sectxctl_output.c - sectxctl's writer (helper/sectxctl/output.c):
 * the JSON form is valid with escaped strings and nested objects and
 * arrays, the text form puts one "key: value" per line and never passes a
 * control character through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "output.h"

static char *render(bool json, void (*fill)(struct out *o))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct out o;

	assert_non_null(f);
	out_begin(&o, f, json);
	fill(&o);
	out_end(&o);
	fclose(f);
	return buf;
}

static void fill_doc(struct out *o)
{
	out_str(o, "name", "a\"b\\c\nd\x01");
	out_int(o, "neg", -5);
	out_uint(o, "big", UINT64_MAX);
	out_bool(o, "yes", true);
	out_str(o, "none", NULL);
	out_time(o, "never", 0);
	out_time(o, "epoch1", 86400);
	out_obj_begin(o, "inner");
	out_uint(o, "n", 1);
	out_obj_end(o);
	out_arr_begin(o, "list");
	out_uint(o, NULL, 1);
	out_str(o, NULL, "x");
	out_obj_begin(o, NULL);
	out_str(o, "k", "v");
	out_obj_end(o);
	out_arr_end(o);
	out_arr_begin(o, "empty");
	out_arr_end(o);
}

static void test_json(void **state)
{
	char *s = render(true, fill_doc);

	(void)state;
	assert_string_equal(s, "{\"name\": \"a\\\"b\\\\c\\nd\\u0001\", \"neg\": -5, "
			       "\"big\": 18446744073709551615, \"yes\": true, \"none\": null, "
			       "\"never\": null, \"epoch1\": 86400, \"inner\": {\"n\": 1}, "
			       "\"list\": [1, \"x\", {\"k\": \"v\"}], \"empty\": []}\n");
	free(s);
}

static void test_text(void **state)
{
	char *s = render(false, fill_doc);

	(void)state;
	assert_non_null(strstr(s, "name: a\"b\\c?d?\n"));
	assert_non_null(strstr(s, "neg: -5\n"));
	assert_non_null(strstr(s, "none: (none)\n"));
	assert_non_null(strstr(s, "never: never\n"));
	assert_non_null(strstr(s, "epoch1: 1970-01-02T00:00:00Z\n"));
	assert_non_null(strstr(s, "inner:\n  n: 1\n"));
	assert_non_null(strstr(s, "list:\n  - 1\n  - x\n"));
	free(s);
}

static void fill_deep(struct out *o)
{
	int i;

	for (i = 0; i < OUT_DEPTH_MAX + 3; i++) {
		out_obj_begin(o, "d");
	}
	out_uint(o, "lost", 1);
	for (i = 0; i < OUT_DEPTH_MAX + 3; i++) {
		out_obj_end(o);
	}
	out_uint(o, "after", 2);
}

static void test_too_deep_is_dropped_and_balanced(void **state)
{
	char *s = render(true, fill_deep);
	int opens = 0, closes = 0;
	const char *p;

	(void)state;
	for (p = s; *p != '\0'; p++) {
		opens += *p == '{';
		closes += *p == '}';
	}
	assert_int_equal(opens, closes);
	assert_null(strstr(s, "lost"));
	assert_non_null(strstr(s, "\"after\": 2}"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_too_deep_is_dropped_and_balanced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
