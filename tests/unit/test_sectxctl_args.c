/*
 * test_sectxctl_args.c - the options every sectxctl command shares
 * (helper/sectxctl/client.c): --json and --help are taken out wherever they
 * stand, the other arguments keep their order, and a wrong count is a usage
 * error (exit 2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sectxctl.h"

static int noop(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	return 0;
}

static const struct command cmd = {"user", "user [--json] NAME", "help text\n", noop};

static struct ctl *new_ctl(void)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));

	assert_non_null(ctl);
	ctl->cmd = &cmd;
	return ctl;
}

static void test_json_anywhere_args_in_order(void **state)
{
	char *argv[] = {"user", "a", "--json", "b", NULL};
	struct ctl *ctl = new_ctl();
	int argc = 4;
	bool json = false;

	(void)state;
	assert_int_equal(ctl_common_opts(ctl, &argc, argv, &json), -1);
	assert_true(json);
	assert_int_equal(argc, 3);
	assert_string_equal(argv[1], "a");
	assert_string_equal(argv[2], "b");
	free(ctl);
}

static void test_json_refused_where_not_taken(void **state)
{
	char *argv[] = {"debug-level", "--json", NULL};
	struct ctl *ctl = new_ctl();
	int argc = 2;

	(void)state;
	/* a command without --json keeps it as an argument: one too many here */
	assert_int_equal(ctl_opts_args(ctl, &argc, argv, NULL, 0, 0, "takes no arguments"),
			 EXIT_USAGE);
	free(ctl);
}

static void test_help_wins(void **state)
{
	char *argv[] = {"user", "x", "y", "z", "--help", NULL};
	struct ctl *ctl = new_ctl();
	int argc = 5;
	bool json;

	(void)state;
	assert_int_equal(ctl_opts_args(ctl, &argc, argv, &json, 1, 1, "one NAME"), EXIT_OK);
	free(ctl);
}

static void test_counts(void **state)
{
	char *none[] = {"user", "--json", NULL};
	char *one[] = {"user", "alice", NULL};
	struct ctl *ctl = new_ctl();
	int argc;
	bool json;

	(void)state;
	argc = 2;
	assert_int_equal(ctl_opts_args(ctl, &argc, none, &json, 1, 1, "one NAME"), EXIT_USAGE);
	argc = 2;
	assert_int_equal(ctl_opts_args(ctl, &argc, one, &json, 1, 1, "one NAME"), -1);
	assert_false(json);
	assert_int_equal(argc, 2);
	free(ctl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_anywhere_args_in_order),
	    cmocka_unit_test(test_json_refused_where_not_taken),
	    cmocka_unit_test(test_help_wins),
	    cmocka_unit_test(test_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
