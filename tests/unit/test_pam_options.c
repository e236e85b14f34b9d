/*
 * test_pam_options.c - unit tests for the option table and parser of
 * pam_sectx.so (pam/options.c).
 *
 * Every option in the table is set once through the parser; bad values and
 * unknown options are ignored (defaults kept) and logged, through a wrapped
 * pam_syslog (-Wl,--wrap=pam_syslog) that keeps the lines for the test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "internal.h"

/* --- pam_syslog, wrapped ---------------------------------------------------- */

static char logged[8192];
static int n_logged;

void __wrap_pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void __wrap_pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	size_t used = strlen(logged);
	va_list ap;

	(void)pamh;
	(void)priority;
	va_start(ap, fmt);
	vsnprintf(logged + used, sizeof(logged) - used, fmt, ap);
	va_end(ap);
	used = strlen(logged);
	if (used + 1 < sizeof(logged)) {
		logged[used] = '\n';
		logged[used + 1] = '\0';
	}
	n_logged++;
}

static int reset_log(void **state)
{
	(void)state;
	logged[0] = '\0';
	n_logged = 0;
	return 0;
}

/* Parse a NULL-terminated list of arguments. */
static int parse(struct pam_sectx_opts *o, const char *first, ...)
{
	const char *argv[32];
	int argc = 0;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a != NULL && argc < 32; a = va_arg(ap, const char *)) {
		argv[argc++] = a;
	}
	va_end(ap);
	return pam_sectx_opts_parse(NULL, argc, argv, o);
}

static void assert_defaults(const struct pam_sectx_opts *o)
{
	assert_false(o->debug);
	assert_false(o->use_first_pass);
	assert_false(o->try_first_pass);
	assert_false(o->forward_pass);
	assert_false(o->use_authtok);
	assert_false(o->ignore_unknown_user);
	assert_false(o->ignore_authinfo_unavail);
	assert_false(o->retain_after_close);
	assert_false(o->no_ticket_auth); /* tickets are tried where sectxd allows them */
	assert_int_equal(o->minimum_uid, PAM_SECTX_MINIMUM_UID_DEFAULT);
	assert_int_equal(o->minimum_uid, 1); /* root is ignored by default */
	assert_int_equal(o->timeout_ms, PAM_SECTX_TIMEOUT_DEFAULT_MS);
	assert_int_equal(o->timeout_ms, 10000);
	assert_string_equal(o->socket_dir, sectx_socket_dir());
}

/* --- the table ----------------------------------------------------------- */

static void test_table_is_consistent(void **state)
{
	size_t i, j;

	assert_int_equal(pam_sectx_n_options, 12);
	for (i = 0; i < pam_sectx_n_options; i++) {
		const struct pam_sectx_option *opt = &pam_sectx_options[i];

		assert_non_null(opt->name);
		assert_non_null(opt->doc);
		assert_true(strlen(opt->doc) > 10);
		assert_null(strchr(opt->name, '='));
		assert_true(opt->offset < sizeof(struct pam_sectx_opts));
		for (j = i + 1; j < pam_sectx_n_options; j++) {
			assert_string_not_equal(opt->name, pam_sectx_options[j].name);
		}
	}
}

static void test_no_arguments_gives_defaults(void **state)
{
	struct pam_sectx_opts o;

	assert_int_equal(pam_sectx_opts_parse(NULL, 0, NULL, &o), 0);
	assert_defaults(&o);
	assert_int_equal(n_logged, 0);
}

/* Each flag of the table sets its own member and no other. */
static void test_every_flag_sets_its_member(void **state)
{
	size_t i, j;
	int flags = 0;

	for (i = 0; i < pam_sectx_n_options; i++) {
		const struct pam_sectx_option *opt = &pam_sectx_options[i];
		struct pam_sectx_opts o;

		if (opt->type != PAM_SECTX_OPT_FLAG) {
			continue;
		}
		flags++;
		assert_int_equal(parse(&o, opt->name, NULL), 0);
		for (j = 0; j < pam_sectx_n_options; j++) {
			const struct pam_sectx_option *other = &pam_sectx_options[j];

			if (other->type == PAM_SECTX_OPT_FLAG) {
				bool v =
				    *(const bool *)(const void *)((const char *)&o + other->offset);

				assert_int_equal(v, i == j);
			}
		}
	}
	assert_int_equal(flags, 9);
	assert_int_equal(n_logged, 0);
}

static void test_flags_by_name(void **state)
{
	struct pam_sectx_opts o;

	assert_int_equal(parse(&o, "debug", "use_first_pass", "try_first_pass", "forward_pass",
			       "use_authtok", "ignore_unknown_user", "ignore_authinfo_unavail",
			       "retain_after_close", NULL),
			 0);
	assert_true(o.debug && o.use_first_pass && o.try_first_pass && o.forward_pass &&
		    o.use_authtok && o.ignore_unknown_user && o.ignore_authinfo_unavail &&
		    o.retain_after_close);
	assert_int_equal(o.minimum_uid, 1);
	assert_int_equal(o.timeout_ms, 10000);
}

static void test_minimum_uid(void **state)
{
	struct pam_sectx_opts o;

	assert_int_equal(parse(&o, "minimum_uid=0", NULL), 0);
	assert_int_equal(o.minimum_uid, 0);
	assert_int_equal(parse(&o, "minimum_uid=1000", NULL), 0);
	assert_int_equal(o.minimum_uid, 1000);
	assert_int_equal(parse(&o, "minimum_uid=4294967295", NULL), 0);
	assert_int_equal(o.minimum_uid, 4294967295u);
	/* the last one wins */
	assert_int_equal(parse(&o, "minimum_uid=5", "minimum_uid=7", NULL), 0);
	assert_int_equal(o.minimum_uid, 7);
	assert_int_equal(n_logged, 0);
}

static void test_bad_minimum_uid_keeps_default(void **state)
{
	static const char *const bad[] = {
	    "minimum_uid=abc",
	    "minimum_uid=",
	    "minimum_uid",
	    "minimum_uid=-1",
	    "minimum_uid=+5",
	    "minimum_uid= 5",
	    "minimum_uid=5 ",
	    "minimum_uid=1x",
	    "minimum_uid=4294967296",
	    "minimum_uid=99999999999999999999",
	    "minimum_uid=0x10",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pam_sectx_opts o;

		reset_log(NULL);
		assert_int_equal(parse(&o, bad[i], "debug", NULL), -EINVAL);
		assert_int_equal(o.minimum_uid, PAM_SECTX_MINIMUM_UID_DEFAULT);
		assert_true(o.debug); /* the rest still applies */
		assert_int_equal(n_logged, 1);
		assert_non_null(strstr(logged, "minimum_uid"));
		assert_non_null(strstr(logged, "ignored"));
	}
}

static void test_timeout_is_bounded(void **state)
{
	struct pam_sectx_opts o;

	assert_int_equal(parse(&o, "timeout=2500", NULL), 0);
	assert_int_equal(o.timeout_ms, 2500);
	assert_int_equal(parse(&o, "timeout=100", NULL), 0);
	assert_int_equal(o.timeout_ms, PAM_SECTX_TIMEOUT_MIN_MS);
	assert_int_equal(parse(&o, "timeout=120000", NULL), 0);
	assert_int_equal(o.timeout_ms, PAM_SECTX_TIMEOUT_MAX_MS);

	assert_int_equal(parse(&o, "timeout=0", NULL), -EINVAL);
	assert_int_equal(o.timeout_ms, PAM_SECTX_TIMEOUT_DEFAULT_MS);
	assert_int_equal(parse(&o, "timeout=99", NULL), -EINVAL);
	assert_int_equal(o.timeout_ms, PAM_SECTX_TIMEOUT_DEFAULT_MS);
	assert_int_equal(parse(&o, "timeout=120001", NULL), -EINVAL);
	assert_int_equal(o.timeout_ms, PAM_SECTX_TIMEOUT_DEFAULT_MS);
	assert_int_equal(parse(&o, "timeout=10s", NULL), -EINVAL);
	assert_int_equal(o.timeout_ms, PAM_SECTX_TIMEOUT_DEFAULT_MS);
}

static void test_socket_dir(void **state)
{
	char long_dir[PAM_SECTX_SOCKET_DIR_MAX + 20];
	const char *argv[1];
	struct pam_sectx_opts o;

	assert_int_equal(parse(&o, "socket_dir=/tmp/sectx-x/run", NULL), 0);
	assert_string_equal(o.socket_dir, "/tmp/sectx-x/run");

	assert_int_equal(parse(&o, "socket_dir=relative/run", NULL), -EINVAL);
	assert_string_equal(o.socket_dir, sectx_socket_dir());
	assert_int_equal(parse(&o, "socket_dir=", NULL), -EINVAL);
	assert_string_equal(o.socket_dir, sectx_socket_dir());
	assert_int_equal(parse(&o, "socket_dir", NULL), -EINVAL);
	assert_string_equal(o.socket_dir, sectx_socket_dir());

	memset(long_dir, 'a', sizeof(long_dir));
	memcpy(long_dir, "socket_dir=/", 12);
	long_dir[sizeof(long_dir) - 1] = '\0';
	argv[0] = long_dir;
	assert_int_equal(pam_sectx_opts_parse(NULL, 1, argv, &o), -EINVAL);
	assert_string_equal(o.socket_dir, sectx_socket_dir());
}

static void test_unknown_option_is_logged_and_ignored(void **state)
{
	struct pam_sectx_opts o;

	assert_int_equal(parse(&o, "frobnicate", NULL), -EINVAL);
	assert_defaults(&o);
	assert_int_equal(n_logged, 1);
	assert_non_null(strstr(logged, "\"frobnicate\""));
	assert_non_null(strstr(logged, "unknown option"));

	/* near misses are unknown too */
	reset_log(NULL);
	assert_int_equal(parse(&o, "debu", "debugx", "DEBUG", "use_first_pass=", NULL), -EINVAL);
	assert_defaults(&o);
	assert_int_equal(n_logged, 4);
}

static void test_flag_with_value_is_refused(void **state)
{
	struct pam_sectx_opts o;

	assert_int_equal(parse(&o, "debug=1", "retain_after_close=yes", NULL), -EINVAL);
	assert_false(o.debug);
	assert_false(o.retain_after_close);
	assert_int_equal(n_logged, 2);
	assert_non_null(strstr(logged, "takes no value"));
}

static void test_logged_option_is_escaped(void **state)
{
	struct pam_sectx_opts o;

	assert_int_equal(parse(&o, "evil\nsectx: forged line", NULL), -EINVAL);
	assert_int_equal(n_logged, 1);
	/* one line only: the newline of the option is shown as \x0a */
	assert_ptr_equal(strchr(logged, '\n'), logged + strlen(logged) - 1);
	assert_non_null(strstr(logged, "evil\\x0a"));
}

static void test_null_arguments_are_skipped(void **state)
{
	const char *argv[] = {NULL, "debug", NULL};
	struct pam_sectx_opts o;

	assert_int_equal(pam_sectx_opts_parse(NULL, 3, argv, &o), 0);
	assert_true(o.debug);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_table_is_consistent, reset_log),
	    cmocka_unit_test_setup(test_no_arguments_gives_defaults, reset_log),
	    cmocka_unit_test_setup(test_every_flag_sets_its_member, reset_log),
	    cmocka_unit_test_setup(test_flags_by_name, reset_log),
	    cmocka_unit_test_setup(test_minimum_uid, reset_log),
	    cmocka_unit_test_setup(test_bad_minimum_uid_keeps_default, reset_log),
	    cmocka_unit_test_setup(test_timeout_is_bounded, reset_log),
	    cmocka_unit_test_setup(test_socket_dir, reset_log),
	    cmocka_unit_test_setup(test_unknown_option_is_logged_and_ignored, reset_log),
	    cmocka_unit_test_setup(test_flag_with_value_is_refused, reset_log),
	    cmocka_unit_test_setup(test_logged_option_is_escaped, reset_log),
	    cmocka_unit_test_setup(test_null_arguments_are_skipped, reset_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
