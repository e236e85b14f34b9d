/*
 * test_config.c - unit tests of common/config.c and the schema in
 * common/config_schema.c.
 *
 * Parses texts from memory (and a few files in a fresh temp directory for
 * the load checks) and asserts values, defaults and the exact error
 * messages, with their lines, that check-config will show.  Types with no
 * key yet (BOOL, ENUM, LIST) are driven through sectx_config_value_parse with
 * a schema row of the test's own.  No network; nothing outside the temp
 * directory is touched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, nftw */
#endif

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* --- helpers ------------------------------------------------------------------ */

static int parse_len(TALLOC_CTX *ctx, const char *text, size_t len, struct sectx_config **cfg,
		     struct sectx_config_errors **errs)
{
	return sectx_config_parse_buffer(ctx, "t.conf", text, len, cfg, errs);
}

/* Parse text that must be valid; returns the config on a context of its own
 * (free it with talloc_free). */
static struct sectx_config *parse_ok(const char *text)
{
	struct sectx_config *cfg = NULL;
	struct sectx_config_errors *errs = NULL;
	int ret = parse_len(NULL, text, strlen(text), &cfg, &errs);

	if (ret != 0 && errs != NULL) {
		sectx_config_print_errors(stderr, errs);
		talloc_free(errs);
	}
	assert_int_equal(ret, 0);
	assert_null(errs);
	assert_non_null(cfg);
	return cfg;
}

/* Parse len bytes that must give exactly one error, on line with message. */
static void one_error_len(const char *text, size_t len, unsigned line, const char *message)
{
	struct sectx_config *cfg = (struct sectx_config *)1;
	struct sectx_config_errors *errs = NULL;

	assert_int_equal(parse_len(NULL, text, len, &cfg, &errs), -EINVAL);
	assert_null(cfg);
	assert_non_null(errs);
	if (errs->count != 1) {
		sectx_config_print_errors(stderr, errs);
	}
	assert_int_equal(errs->count, 1);
	assert_string_equal(errs->items[0].file, "t.conf");
	assert_string_equal(errs->items[0].message, message);
	assert_int_equal(errs->items[0].line, line);
	talloc_free(errs);
}

static void one_error(const char *text, unsigned line, const char *message)
{
	one_error_len(text, strlen(text), line, message);
}

/* "[section]\nkey = value\n" must fail on line 2 with message. */
static void bad_value(const char *section, const char *key, const char *value, const char *message)
{
	char *text = talloc_asprintf(NULL, "[%s]\n%s = %s\n", section, key, value);

	assert_non_null(text);
	one_error(text, 2, message);
	talloc_free(text);
}

/* "[section]\nkey = value\n" must parse; returns the config. */
static struct sectx_config *good_value(const char *section, const char *key, const char *value)
{
	char *text = talloc_asprintf(NULL, "[%s]\n%s = %s\n", section, key, value);
	struct sectx_config *cfg;

	assert_non_null(text);
	cfg = parse_ok(text);
	talloc_free(text);
	return cfg;
}

/* --- defaults and a full file ---------------------------------------------------- */

static void assert_defaults(const struct sectx_config *cfg)
{
	assert_string_equal(cfg->sectxd.socket_dir, SECTX_DEFAULT_SOCKET_DIR);
	assert_string_equal(cfg->sectxd.state_dir, SECTX_DEFAULT_STATE_DIR);
	assert_int_equal(cfg->sectxd.log_level, 2);
	assert_int_equal(cfg->sectxd.max_connections, 1024);
	assert_int_equal(cfg->sectxd.max_connections_per_uid, 256);
	assert_int_equal(cfg->sectxd.client_timeout_ms, 10000);
	assert_int_equal(cfg->sectxd.idle_timeout_ms, 300000);
	assert_string_equal(cfg->kerberos.realm, "");
	assert_int_equal(cfg->n_services, 0);
}

static void test_defaults(void **state)
{
	struct sectx_config *cfg = NULL;

	(void)state;
	cfg = parse_ok("");
	assert_defaults(cfg);
	assert_string_equal(cfg->path, "t.conf");
	talloc_free(cfg);

	/* sections present but keys absent: still defaults */
	cfg = parse_ok("# nothing set\n[sectxd]\n[kerberos]\n[identity]\n[offline]\n[access]\n"
		       "[pam]\n");
	assert_defaults(cfg);
	talloc_free(cfg);

	assert_int_equal(sectx_config_defaults(NULL, &cfg), 0);
	assert_defaults(cfg);
	talloc_free(cfg);
}

static const char full_conf[] = "# sectx.conf for the tests\n"
				"; another comment style\n"
				"\n"
				"[sectxd]\n"
				"   socket_dir = /run/sectx-test/   \n"
				"state_dir=/var/lib//sectx-test\n"
				"\tlog_level\t=\tdebug\n"
				"max_connections = 16\n"
				"max_connections_per_uid = 65536\n"
				"client_timeout = 500ms\n"
				"idle_timeout = 2h\n"
				"[kerberos]\n"
				"realm = EXAMPLE.COM\n"
				"[identity]\n"
				"[offline]\n"
				"[access]\n"
				"[pam]\n"
				"[service/web]\n"
				"[ service/db-1.main_x ]\n"
				"   # indented comment\n";

static void assert_full(const struct sectx_config *cfg)
{
	assert_string_equal(cfg->sectxd.socket_dir, "/run/sectx-test");
	assert_string_equal(cfg->sectxd.state_dir, "/var/lib/sectx-test");
	assert_int_equal(cfg->sectxd.log_level, 3);
	assert_int_equal(cfg->sectxd.max_connections, 16);
	assert_int_equal(cfg->sectxd.max_connections_per_uid, 65536);
	assert_int_equal(cfg->sectxd.client_timeout_ms, 500);
	assert_int_equal(cfg->sectxd.idle_timeout_ms, 2 * 3600 * 1000);
	assert_string_equal(cfg->kerberos.realm, "EXAMPLE.COM");
	assert_int_equal(cfg->n_services, 2);
	assert_string_equal(cfg->services[0].name, "web");
	assert_string_equal(cfg->services[1].name, "db-1.main_x");
}

static void test_full_file(void **state)
{
	TALLOC_CTX *ctx = talloc_new(NULL);
	struct sectx_config *cfg = NULL;
	struct sectx_config_errors *errs = NULL;

	(void)state;
	assert_int_equal(parse_len(ctx, full_conf, strlen(full_conf), &cfg, &errs), 0);
	assert_null(errs);
	assert_ptr_equal(talloc_parent(cfg), ctx);
	assert_full(cfg);
	talloc_free(ctx);
}

static void test_crlf_and_bom(void **state)
{
	char *crlf = talloc_strdup(NULL, "\xef\xbb\xbf");
	struct sectx_config *cfg;
	const char *p;

	(void)state;
	for (p = full_conf; *p != '\0'; p++) {
		crlf = *p == '\n' ? talloc_strdup_append(crlf, "\r\n")
				  : talloc_asprintf_append(crlf, "%c", *p);
		assert_non_null(crlf);
	}
	cfg = parse_ok(crlf);
	assert_full(cfg);
	talloc_free(cfg);
	talloc_free(crlf);

	/* no newline at the end of the last line */
	cfg = parse_ok("[kerberos]\r\nrealm = A.B");
	assert_string_equal(cfg->kerberos.realm, "A.B");
	talloc_free(cfg);
}

static void test_section_twice_merges(void **state)
{
	struct sectx_config *cfg;

	(void)state;
	cfg = parse_ok("[sectxd]\nmax_connections = 100\n[kerberos]\nrealm = R\n"
		       "[sectxd]\nidle_timeout = 1d\n");
	assert_int_equal(cfg->sectxd.max_connections, 100);
	assert_int_equal(cfg->sectxd.idle_timeout_ms, 86400000);
	assert_string_equal(cfg->kerberos.realm, "R");
	talloc_free(cfg);
	one_error("[sectxd]\nmax_connections = 100\n[kerberos]\n[sectxd]\nmax_connections = 200\n",
		  5, "duplicate key 'max_connections' in [sectxd] (first set on line 2)");
}

/* --- types through the real keys ------------------------------------------------ */

static void test_uint(void **state)
{
	struct sectx_config *cfg;

	(void)state;
	cfg = good_value("sectxd", "max_connections", "16");
	assert_int_equal(cfg->sectxd.max_connections, 16);
	talloc_free(cfg);
	cfg = good_value("sectxd", "max_connections", "65536");
	assert_int_equal(cfg->sectxd.max_connections, 65536);
	talloc_free(cfg);
	cfg = good_value("sectxd", "max_connections", "0100");
	assert_int_equal(cfg->sectxd.max_connections, 100);
	talloc_free(cfg);
	cfg = good_value("sectxd", "max_connections_per_uid", "4");
	assert_int_equal(cfg->sectxd.max_connections_per_uid, 4);
	talloc_free(cfg);

	bad_value("sectxd", "max_connections", "abc",
		  "invalid value for max_connections: 'abc' is not a whole number (16..65536)");
	bad_value("sectxd", "max_connections", "15",
		  "invalid value for max_connections: '15' is out of range (16..65536)");
	bad_value("sectxd", "max_connections", "65537",
		  "invalid value for max_connections: '65537' is out of range (16..65536)");
	bad_value("sectxd", "max_connections", "99999999999999999999999",
		  "invalid value for max_connections: '99999999999999999999999' is out of range "
		  "(16..65536)");
	bad_value("sectxd", "max_connections_per_uid", "3",
		  "invalid value for max_connections_per_uid: '3' is out of range (4..65536)");
	/* kdf_iterations: 0 (calibrate) or as many as the loader accepts */
	cfg = good_value("offline", "kdf_iterations", "0");
	assert_int_equal(cfg->offline.kdf_iterations, 0);
	talloc_free(cfg);
	cfg = good_value("offline", "kdf_iterations", "1000");
	assert_int_equal(cfg->offline.kdf_iterations, 1000);
	talloc_free(cfg);
	bad_value("offline", "kdf_iterations", "1",
		  "invalid value for kdf_iterations: '1' is out of range (0 or 1000..100000000)");
	bad_value("offline", "kdf_iterations", "999",
		  "invalid value for kdf_iterations: '999' is out of range (0 or 1000..100000000)");
	bad_value("offline", "kdf_iterations", "x",
		  "invalid value for kdf_iterations: 'x' is not a whole number (0 or "
		  "1000..100000000)");
	bad_value("sectxd", "max_connections", "",
		  "invalid value for max_connections: '' is not a whole number (16..65536)");
	bad_value("sectxd", "max_connections", "-20",
		  "invalid value for max_connections: '-20' is not a whole number (16..65536)");
	bad_value("sectxd", "max_connections", "+20",
		  "invalid value for max_connections: '+20' is not a whole number (16..65536)");
	bad_value("sectxd", "max_connections", "20.5",
		  "invalid value for max_connections: '20.5' is not a whole number (16..65536)");
	bad_value("sectxd", "max_connections", "0x20",
		  "invalid value for max_connections: '0x20' is not a whole number (16..65536)");
	bad_value("sectxd", "max_connections", "2 0",
		  "invalid value for max_connections: '2 0' is not a whole number (16..65536)");
	bad_value("sectxd", "max_connections", "100 # comment",
		  "invalid value for max_connections: '100 # comment' is not a whole number "
		  "(16..65536)");
}

static void expect_duration(const char *key, const char *value, uint64_t ms)
{
	struct sectx_config *cfg = good_value("sectxd", key, value);

	if (strcmp(key, "client_timeout") == 0) {
		assert_int_equal(cfg->sectxd.client_timeout_ms, ms);
	} else {
		assert_int_equal(cfg->sectxd.idle_timeout_ms, ms);
	}
	talloc_free(cfg);
}

static void test_duration(void **state)
{
	(void)state;
	expect_duration("client_timeout", "500ms", 500);
	expect_duration("client_timeout", "100ms", 100); /* min */
	expect_duration("client_timeout", "30s", 30000);
	expect_duration("client_timeout", "30", 30000);	 /* bare = seconds */
	expect_duration("client_timeout", "5m", 300000); /* max */
	expect_duration("client_timeout", "300000ms", 300000);
	expect_duration("idle_timeout", "1s", 1000); /* min */
	expect_duration("idle_timeout", "1000ms", 1000);
	expect_duration("idle_timeout", "2h", 7200000);
	expect_duration("idle_timeout", "1d", 86400000); /* max */
	expect_duration("idle_timeout", "24h", 86400000);
	expect_duration("idle_timeout", "1440m", 86400000);
	expect_duration("idle_timeout", "86400", 86400000);

	bad_value("sectxd", "client_timeout", "99ms",
		  "invalid value for client_timeout: '99ms' is out of range (100ms..5m)");
	bad_value("sectxd", "client_timeout", "301s",
		  "invalid value for client_timeout: '301s' is out of range (100ms..5m)");
	bad_value("sectxd", "idle_timeout", "999ms",
		  "invalid value for idle_timeout: '999ms' is out of range (1s..1d)");
	bad_value("sectxd", "idle_timeout", "7d",
		  "invalid value for idle_timeout: '7d' is out of range (1s..1d)");
	bad_value("sectxd", "idle_timeout", "0",
		  "invalid value for idle_timeout: '0' is out of range (1s..1d)");
	/* overflow of the number, and of number times unit */
	bad_value("sectxd", "idle_timeout", "99999999999999999999999d",
		  "invalid value for idle_timeout: '99999999999999999999999d' is out of range "
		  "(1s..1d)");
	bad_value("sectxd", "idle_timeout", "18446744073709551d",
		  "invalid value for idle_timeout: '18446744073709551d' is out of range (1s..1d)");
	bad_value("sectxd", "client_timeout", "10x",
		  "invalid value for client_timeout: '10x' is not a duration: a whole number with "
		  "unit ms, s, m, h or d, bare = seconds (100ms..5m)");
	bad_value("sectxd", "client_timeout", "s",
		  "invalid value for client_timeout: 's' is not a duration: a whole number with "
		  "unit ms, s, m, h or d, bare = seconds (100ms..5m)");
	bad_value("sectxd", "client_timeout", "5 m",
		  "invalid value for client_timeout: '5 m' is not a duration: a whole number with "
		  "unit ms, s, m, h or d, bare = seconds (100ms..5m)");
	bad_value("sectxd", "client_timeout", "5M",
		  "invalid value for client_timeout: '5M' is not a duration: a whole number with "
		  "unit ms, s, m, h or d, bare = seconds (100ms..5m)");
	bad_value(
	    "sectxd", "client_timeout", "1m30s",
	    "invalid value for client_timeout: '1m30s' is not a duration: a whole number with "
	    "unit ms, s, m, h or d, bare = seconds (100ms..5m)");
	bad_value("sectxd", "client_timeout", "-5s",
		  "invalid value for client_timeout: '-5s' is not a duration: a whole number with "
		  "unit ms, s, m, h or d, bare = seconds (100ms..5m)");
}

static void test_loglevel(void **state)
{
	static const char *const words[] = {"error", "warning", "info", "debug", "trace"};
	struct sectx_config *cfg;
	char digit[2] = "0";
	int i;

	(void)state;
	for (i = 0; i < 5; i++) {
		cfg = good_value("sectxd", "log_level", words[i]);
		assert_int_equal(cfg->sectxd.log_level, i);
		talloc_free(cfg);
		digit[0] = (char)('0' + i);
		cfg = good_value("sectxd", "log_level", digit);
		assert_int_equal(cfg->sectxd.log_level, i);
		talloc_free(cfg);
	}
	bad_value("sectxd", "log_level", "loud",
		  "invalid value for log_level: 'loud' (expected error, warning, info, debug or "
		  "trace)");
	bad_value(
	    "sectxd", "log_level", "5",
	    "invalid value for log_level: '5' (expected error, warning, info, debug or trace)");
	bad_value(
	    "sectxd", "log_level", "",
	    "invalid value for log_level: '' (expected error, warning, info, debug or trace)");
}

static void test_path(void **state)
{
	struct sectx_config *cfg;

	(void)state;
	cfg = good_value("sectxd", "socket_dir", "/");
	assert_string_equal(cfg->sectxd.socket_dir, "/");
	talloc_free(cfg);
	cfg = good_value("sectxd", "socket_dir", "///");
	assert_string_equal(cfg->sectxd.socket_dir, "/");
	talloc_free(cfg);
	cfg = good_value("sectxd", "state_dir", "//var//lib/sectx/");
	assert_string_equal(cfg->sectxd.state_dir, "/var/lib/sectx");
	talloc_free(cfg);
	cfg = good_value("sectxd", "state_dir", "/var/lib/.sectx/..x/a b/é");
	assert_string_equal(cfg->sectxd.state_dir, "/var/lib/.sectx/..x/a b/é");
	talloc_free(cfg);

	bad_value("sectxd", "socket_dir", "run/sectx",
		  "invalid value for socket_dir: 'run/sectx' is not an absolute path");
	bad_value("sectxd", "socket_dir", "",
		  "invalid value for socket_dir: '' is not an absolute path");
	bad_value("sectxd", "socket_dir", "~/sectx",
		  "invalid value for socket_dir: '~/sectx' is not an absolute path");
	bad_value(
	    "sectxd", "state_dir", "/var/lib/../../etc",
	    "invalid value for state_dir: '/var/lib/../../etc' is not a normalised path (has a "
	    "'.' or '..' component)");
	bad_value(
	    "sectxd", "state_dir", "/var/./lib",
	    "invalid value for state_dir: '/var/./lib' is not a normalised path (has a '.' or "
	    "'..' component)");
	bad_value(
	    "sectxd", "state_dir", "/var/lib/..",
	    "invalid value for state_dir: '/var/lib/..' is not a normalised path (has a '.' or "
	    "'..' component)");
	bad_value("sectxd", "state_dir", "/var/\x1b[2Jlib",
		  "invalid value for state_dir: '/var/\\x1b[2Jlib' contains a control character");
}

static void test_realm(void **state)
{
	char *text;
	struct sectx_config *cfg;
	char longrealm[257];

	(void)state;
	cfg = good_value("kerberos", "realm", "EXAMPLE.COM");
	assert_string_equal(cfg->kerberos.realm, "EXAMPLE.COM");
	talloc_free(cfg);
	cfg = good_value("kerberos", "realm", "");
	assert_string_equal(cfg->kerberos.realm, "");
	talloc_free(cfg);
	cfg = good_value("kerberos", "realm", "lower.case-ok_1#x");
	assert_string_equal(cfg->kerberos.realm, "lower.case-ok_1#x");
	talloc_free(cfg);

	memset(longrealm, 'R', 255);
	longrealm[255] = '\0';
	cfg = good_value("kerberos", "realm", longrealm);
	assert_int_equal(strlen(cfg->kerberos.realm), 255);
	talloc_free(cfg);
	longrealm[255] = 'R';
	longrealm[256] = '\0';
	text = talloc_asprintf(NULL, "[kerberos]\nrealm = %s\n", longrealm);
	{
		struct sectx_config_errors *errs = NULL;

		assert_int_equal(parse_len(NULL, text, strlen(text), &cfg, &errs), -EINVAL);
		assert_int_equal(errs->count, 1);
		assert_int_equal(errs->items[0].line, 2);
		assert_non_null(strstr(errs->items[0].message,
				       "...' is not a realm name (at most 255 characters)"));
		talloc_free(errs);
	}
	talloc_free(text);

#define REALM_BAD "is not a realm name (printable ASCII without whitespace, '/', '@' or ':')"
	bad_value("kerberos", "realm", "EX AMPLE",
		  "invalid value for realm: 'EX AMPLE' " REALM_BAD);
	bad_value("kerberos", "realm", "EX\tAMPLE",
		  "invalid value for realm: 'EX\\x09AMPLE' contains a control character");
	bad_value("kerberos", "realm", "A/B", "invalid value for realm: 'A/B' " REALM_BAD);
	bad_value("kerberos", "realm", "A@B", "invalid value for realm: 'A@B' " REALM_BAD);
	bad_value("kerberos", "realm", "A:B", "invalid value for realm: 'A:B' " REALM_BAD);
	bad_value("kerberos", "realm", "ÉXAMPLE", "invalid value for realm: 'ÉXAMPLE' " REALM_BAD);
#undef REALM_BAD
}

/* --- every type through sectx_config_value_parse ------------------------------ */

struct tcfg {
	bool b;
	int e;
	const char **list;
	size_t n;
	uint64_t d;
	unsigned u;
	const char *s;
};

static const char *const colours[] = {"red", "green", "blue", NULL};

static const char *no_x(const char *v)
{
	return strchr(v, 'x') != NULL ? "contains an x" : NULL;
}

static const struct sectx_config_key tkey_bool = {
    "t", "b", SECTX_CFG_BOOL, "no", offsetof(struct tcfg, b), 0, 0, 0, NULL, NULL, "", false,
};
static const struct sectx_config_key tkey_enum = {
    "t", "e", SECTX_CFG_ENUM, "red", offsetof(struct tcfg, e), 0, 0, 0, colours, NULL, "", false,
};
static const struct sectx_config_key tkey_list = {
    "t",
    "l",
    SECTX_CFG_LIST,
    "",
    offsetof(struct tcfg, list),
    offsetof(struct tcfg, n),
    0,
    0,
    NULL,
    no_x,
    "",
    false,
};
static const struct sectx_config_key tkey_dur = {
    "t", "d",	SECTX_CFG_DURATION, "0", offsetof(struct tcfg, d), 0, 0, UINT64_MAX, NULL, NULL,
    "",	 false,
};
static const struct sectx_config_key tkey_uint = {
    "t", "u", SECTX_CFG_UINT, "0", offsetof(struct tcfg, u), 0, 0, UINT_MAX, NULL, NULL, "", false,
};
static const struct sectx_config_key tkey_string = {
    "t", "s", SECTX_CFG_STRING, "", offsetof(struct tcfg, s), 0, 0, 0, NULL, no_x, "", false,
};

static int vparse(TALLOC_CTX *ctx, const struct sectx_config_key *k, const char *v, struct tcfg *t,
		  char *reason)
{
	return sectx_config_value_parse(ctx, k, v, t, reason, SECTX_CONFIG_REASON_MAX);
}

static void test_type_bool(void **state)
{
	static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
	static const char *const no[] = {"false", "no", "off", "0", "False", "OFF"};
	char reason[SECTX_CONFIG_REASON_MAX];
	struct tcfg t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		t.b = false;
		assert_int_equal(vparse(NULL, &tkey_bool, yes[i], &t, reason), 0);
		assert_true(t.b);
		assert_int_equal(vparse(NULL, &tkey_bool, no[i], &t, reason), 0);
		assert_false(t.b);
	}
	t.b = true;
	assert_int_equal(vparse(NULL, &tkey_bool, "maybe", &t, reason), -EINVAL);
	assert_string_equal(
	    reason, "'maybe' is not a boolean (expected true, false, yes, no, on, off, 1 or 0)");
	assert_int_equal(vparse(NULL, &tkey_bool, "", &t, reason), -EINVAL);
	assert_int_equal(vparse(NULL, &tkey_bool, "2", &t, reason), -EINVAL);
	assert_int_equal(vparse(NULL, &tkey_bool, "y", &t, reason), -EINVAL);
	assert_true(t.b); /* untouched by the failures */
}

static void test_type_enum(void **state)
{
	char reason[SECTX_CONFIG_REASON_MAX];
	struct tcfg t;

	(void)state;
	t.e = -1;
	assert_int_equal(vparse(NULL, &tkey_enum, "red", &t, reason), 0);
	assert_int_equal(t.e, 0);
	assert_int_equal(vparse(NULL, &tkey_enum, "blue", &t, reason), 0);
	assert_int_equal(t.e, 2);
	assert_int_equal(vparse(NULL, &tkey_enum, "Green", &t, reason), -EINVAL);
	assert_string_equal(reason, "'Green' (expected red, green or blue)");
	assert_int_equal(vparse(NULL, &tkey_enum, "", &t, reason), -EINVAL);
	assert_int_equal(t.e, 2);
}

static void test_type_list(void **state)
{
	TALLOC_CTX *ctx = talloc_new(NULL);
	char reason[SECTX_CONFIG_REASON_MAX];
	struct tcfg t = {0};

	(void)state;
	assert_int_equal(vparse(ctx, &tkey_list, "a,  b ,c\t, d.e-f", &t, reason), 0);
	assert_int_equal(t.n, 4);
	assert_string_equal(t.list[0], "a");
	assert_string_equal(t.list[1], "b");
	assert_string_equal(t.list[2], "c");
	assert_string_equal(t.list[3], "d.e-f");
	assert_null(t.list[4]);
	assert_ptr_equal(talloc_parent(t.list), ctx);

	assert_int_equal(vparse(ctx, &tkey_list, "", &t, reason), 0);
	assert_int_equal(t.n, 0);
	assert_non_null(t.list);
	assert_null(t.list[0]);

	assert_int_equal(vparse(ctx, &tkey_list, "one", &t, reason), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.list[0], "one");
	assert_null(t.list[1]);

	assert_int_equal(vparse(ctx, &tkey_list, "a,,b", &t, reason), -EINVAL);
	assert_string_equal(reason,
			    "'a,,b' has an empty item (expected words separated by commas)");
	assert_int_equal(vparse(ctx, &tkey_list, "a,b,", &t, reason), -EINVAL);
	assert_int_equal(vparse(ctx, &tkey_list, ",", &t, reason), -EINVAL);
	assert_int_equal(vparse(ctx, &tkey_list, "a b, c", &t, reason), -EINVAL);
	assert_string_equal(reason,
			    "item 'a b' contains whitespace (expected words separated by commas)");
	assert_int_equal(vparse(ctx, &tkey_list, "a, box", &t, reason), -EINVAL);
	assert_string_equal(reason, "item 'box' contains an x");
	assert_int_equal(vparse(ctx, &tkey_list, "a,\x01", &t, reason), -EINVAL);
	assert_string_equal(reason, "'a,\\x01' contains a control character");
	assert_int_equal(t.n, 1); /* failures left the last good list */
	assert_string_equal(t.list[0], "one");
	talloc_free(ctx);
}

static void test_type_duration_edges(void **state)
{
	char reason[SECTX_CONFIG_REASON_MAX];
	struct tcfg t;

	(void)state;
	assert_int_equal(vparse(NULL, &tkey_dur, "18446744073709551615ms", &t, reason), 0);
	assert_true(t.d == UINT64_MAX);
	assert_int_equal(vparse(NULL, &tkey_dur, "18446744073709551616ms", &t, reason), -EINVAL);
	assert_string_equal(
	    reason, "'18446744073709551616ms' is out of range (0s..18446744073709551615ms)");
	assert_int_equal(vparse(NULL, &tkey_dur, "18446744073709551s", &t, reason), 0);
	assert_true(t.d == 18446744073709551000ull);
	assert_int_equal(vparse(NULL, &tkey_dur, "18446744073709552s", &t, reason), -EINVAL);
	assert_int_equal(vparse(NULL, &tkey_dur, "213503982334d", &t, reason), 0);
	assert_int_equal(vparse(NULL, &tkey_dur, "213503982335d", &t, reason), -EINVAL);
	assert_int_equal(vparse(NULL, &tkey_dur, "0", &t, reason), 0);
	assert_true(t.d == 0);
	assert_int_equal(vparse(NULL, &tkey_dur, "0ms", &t, reason), 0);
	assert_int_equal(vparse(NULL, &tkey_dur, "7d", &t, reason), 0);
	assert_true(t.d == 7ull * 86400 * 1000);

	assert_int_equal(vparse(NULL, &tkey_uint, "4294967295", &t, reason), 0);
	assert_true(t.u == UINT_MAX);
	assert_int_equal(vparse(NULL, &tkey_uint, "4294967296", &t, reason), -EINVAL);
	assert_string_equal(reason, "'4294967296' is out of range (0..4294967295)");
	assert_int_equal(vparse(NULL, &tkey_uint, "0", &t, reason), 0);
	assert_true(t.u == 0);
}

static void test_type_string(void **state)
{
	TALLOC_CTX *ctx = talloc_new(NULL);
	char reason[SECTX_CONFIG_REASON_MAX];
	struct tcfg t = {0};

	(void)state;
	assert_int_equal(vparse(ctx, &tkey_string, "a # not a comment", &t, reason), 0);
	assert_string_equal(t.s, "a # not a comment");
	assert_ptr_equal(talloc_parent(t.s), ctx);
	assert_int_equal(vparse(ctx, &tkey_string, "xyz", &t, reason), -EINVAL);
	assert_string_equal(reason, "'xyz' contains an x");
	assert_int_equal(vparse(ctx, &tkey_string, "a\x7f", &t, reason), -EINVAL);
	assert_string_equal(reason, "'a\\x7f' contains a control character");
	assert_int_equal(vparse(ctx, &tkey_string,
				"a\xc2\x9b"
				"b",
				&t, reason),
			 -EINVAL);
	assert_string_equal(reason, "'a\\u009bb' contains a control character");
	assert_string_equal(t.s, "a # not a comment");
	assert_int_equal(talloc_total_blocks(ctx), 2); /* ctx and the one good string */
	talloc_free(ctx);
}

/* --- structure errors -------------------------------------------------------------- */

static void test_unknown_section(void **state)
{
	(void)state;
	one_error("[sectx]\nlog_level = info\n", 1,
		  "unknown section [sectx] (did you mean [sectxd]?)");
	one_error("[Kerberos]\nrealm = x\n", 1,
		  "unknown section [Kerberos] (did you mean [kerberos]?)");
	one_error("[identiy]\n", 1, "unknown section [identiy] (did you mean [identity]?)");
	one_error("[servce/web]\n", 1,
		  "unknown section [servce/web] (did you mean [service/web]?)");
	one_error("[foo]\nbar = 1\n", 1, "unknown section [foo]");
	one_error("[]\n", 1, "unknown section []");
	one_error("[sectxd\n", 1, "malformed section header '[sectxd' (expected [name])");
	one_error("[sectxd] # comment\n", 1,
		  "malformed section header '[sectxd] # comment' (expected [name])");
	/* keys after a bad header are not checked, but good sections after it are */
	{
		const char *text = "[foo]\nx = 1\n[sectxd]\nmax_connections = 1\n";
		struct sectx_config *cfg = NULL;
		struct sectx_config_errors *errs = NULL;

		assert_int_equal(parse_len(NULL, text, strlen(text), &cfg, &errs), -EINVAL);
		assert_int_equal(errs->count, 2);
		assert_int_equal(errs->items[0].line, 1);
		assert_int_equal(errs->items[1].line, 4);
		assert_string_equal(errs->items[1].message, "invalid value for max_connections: "
							    "'1' is out of range (16..65536)");
		talloc_free(errs);
	}
}

#define BAD_SERVICE " (section [service/...] needs a name of 1-64 characters [A-Za-z0-9._-])"

static void test_service_names(void **state)
{
	char name[80];
	char *text;
	struct sectx_config *cfg;
	char *msg;

	(void)state;
	one_error("[service]\n", 1, "unknown section [service]" BAD_SERVICE);
	one_error("[service/]\n", 1, "unknown section [service/]" BAD_SERVICE);
	one_error("[service/a b]\n", 1, "unknown section [service/a b]" BAD_SERVICE);
	one_error("[service/a/b]\n", 1, "unknown section [service/a/b]" BAD_SERVICE);
	one_error("[services/a]\n", 1, "unknown section [services/a]" BAD_SERVICE);
	one_error("[service/caf\xc3\xa9]\n", 1,
		  "unknown section [service/caf\xc3\xa9]" BAD_SERVICE);

	memset(name, 'n', 64);
	name[64] = '\0';
	text = talloc_asprintf(NULL, "[service/%s]\n[service/A.Z_0-9]\n", name);
	cfg = parse_ok(text);
	assert_int_equal(cfg->n_services, 2);
	assert_string_equal(cfg->services[0].name, name);
	assert_string_equal(cfg->services[1].name, "A.Z_0-9");
	talloc_free(cfg);
	talloc_free(text);

	name[64] = 'n';
	name[65] = '\0';
	text = talloc_asprintf(NULL, "\n[service/%s]\n", name);
	msg = talloc_asprintf(NULL, "unknown section [service/%s]" BAD_SERVICE, name);
	one_error(text, 2, msg);
	talloc_free(msg);
	talloc_free(text);
}

static void test_duplicate_service(void **state)
{
	(void)state;
	one_error("[service/a]\n[service/b]\n\n[service/a]\n", 4,
		  "duplicate section [service/a] (first on line 1)");
	/* case matters: distinct services */
	talloc_free(parse_ok("[service/a]\n[service/A]\n"));
}

static void test_unknown_key(void **state)
{
	(void)state;
	one_error("[sectxd]\nmax_conections = 100\n", 2,
		  "unknown key 'max_conections' in [sectxd] (did you mean 'max_connections'?)");
	one_error("[sectxd]\nLog_Level = info\n", 2,
		  "unknown key 'Log_Level' in [sectxd] (did you mean 'log_level'?)");
	one_error("[sectxd]\nmax connections = 100\n", 2,
		  "unknown key 'max connections' in [sectxd] (did you mean 'max_connections'?)");
	one_error("[kerberos]\nrelm = X\n", 2,
		  "unknown key 'relm' in [kerberos] (did you mean 'realm'?)");
	one_error("[sectxd]\nrealm = X\n", 2,
		  "unknown key 'realm' in [sectxd] (it belongs in [kerberos])");
	one_error("[kerberos]\nlog_level = info\n", 2,
		  "unknown key 'log_level' in [kerberos] (it belongs in [sectxd])");
	one_error("[service/web]\nrealm = X\n", 2,
		  "unknown key 'realm' in [service/web] (it belongs in [kerberos])");
	one_error("[identity]\nfoo = 1\n", 2, "unknown key 'foo' in [identity]");
	one_error("[sectxd]\nwhatever = 1\n", 2, "unknown key 'whatever' in [sectxd]");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	one_error("[sectxd]\nlog_level = info\n# again\nlog_level = debug\n", 4,
		  "duplicate key 'log_level' in [sectxd] (first set on line 2)");
	/* the first value being bad does not hide the duplicate */
	{
		struct sectx_config *cfg = NULL;
		struct sectx_config_errors *errs = NULL;
		const char *text = "[kerberos]\nrealm = A B\nrealm = C\n";

		assert_int_equal(parse_len(NULL, text, strlen(text), &cfg, &errs), -EINVAL);
		assert_int_equal(errs->count, 2);
		assert_int_equal(errs->items[0].line, 2);
		assert_int_equal(errs->items[1].line, 3);
		assert_string_equal(errs->items[1].message,
				    "duplicate key 'realm' in [kerberos] (first set on line 2)");
		talloc_free(errs);
	}
}

static void test_line_errors(void **state)
{
	(void)state;
	one_error("log_level = info\n[sectxd]\n", 1, "key outside any section");
	one_error("# c\n\nfoo\n", 3, "line without '='");
	one_error("[sectxd]\nlog_level\n", 2, "line without '='");
	one_error("[sectxd]\n = info\n", 2, "line without a key before '='");
	/* '=' in a value is part of it; '#' inside a value too */
	talloc_free(parse_ok("[kerberos]\nrealm = A=B#C\n"));
}

static void test_nul_byte(void **state)
{
	static const char text[] = "[sectxd]\nlog_level = info\n# x\0y\nmax_connections = 20\n";

	(void)state;
	one_error_len(text, sizeof(text) - 1, 3, "line contains a NUL byte");
}

static void test_invalid_utf8(void **state)
{
	static const char *const bad[] = {
	    "\xff",		/* never valid */
	    "\xc0\xaf",		/* overlong '/' */
	    "\xe0\x80\xaf",	/* overlong */
	    "\xed\xa0\x80",	/* surrogate */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\xc3",		/* truncated */
	    "\xe2\x82",		/* truncated */
	    "\x80",		/* lone continuation */
	    "\xc3\x28",		/* bad continuation */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = talloc_asprintf(NULL, "[kerberos]\n\nrealm = A%sB\n", bad[i]);

		one_error(text, 3, "line is not valid UTF-8");
		talloc_free(text);
		text = talloc_asprintf(NULL, "# comment %s\n", bad[i]);
		one_error(text, 1, "line is not valid UTF-8");
		talloc_free(text);
	}
	/* valid multibyte text in a comment and a value */
	talloc_free(parse_ok("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 \xf4\x8f\xbf\xbf\n"
			     "[sectxd]\nstate_dir = /var/lib/caf\xc3\xa9\n"));
}

static void test_long_line(void **state)
{
	char *text = talloc_array(NULL, char, 5000);
	char *cfgtext;

	(void)state;
	/* exactly SECTX_CONFIG_LINE_MAX bytes: fine, also with a CR before the LF */
	text[0] = '#';
	memset(text + 1, 'x', SECTX_CONFIG_LINE_MAX - 1);
	text[SECTX_CONFIG_LINE_MAX] = '\0';
	cfgtext = talloc_asprintf(text, "[sectxd]\n%s\r\nlog_level = info\n%s", text, text);
	talloc_free(parse_ok(cfgtext));
	/* one more byte: an error with its line; the next lines still parse */
	text[SECTX_CONFIG_LINE_MAX] = 'x';
	text[SECTX_CONFIG_LINE_MAX + 1] = '\0';
	cfgtext = talloc_asprintf(text, "[sectxd]\n%s\nlog_level = loud\n", text);
	{
		struct sectx_config *cfg = NULL;
		struct sectx_config_errors *errs = NULL;

		assert_int_equal(parse_len(NULL, cfgtext, strlen(cfgtext), &cfg, &errs), -EINVAL);
		assert_int_equal(errs->count, 2);
		assert_int_equal(errs->items[0].line, 2);
		assert_string_equal(errs->items[0].message, "line is longer than 4096 bytes");
		assert_int_equal(errs->items[1].line, 3);
		talloc_free(errs);
	}
	talloc_free(text);
}

static void test_file_too_large(void **state)
{
	size_t len = SECTX_CONFIG_FILE_MAX + 1;
	char *text = malloc(len);
	size_t i;

	(void)state;
	assert_non_null(text);
	for (i = 0; i < len; i++) {
		text[i] = (i % 64 == 63) ? '\n' : '#';
	}
	one_error_len(text, len, 0, "file is larger than 1048576 bytes");
	text[len - 1] = '\n';
	{
		struct sectx_config *cfg = NULL;

		assert_int_equal(sectx_config_parse_buffer(NULL, "t", text, len - 1, &cfg, NULL),
				 0);
		talloc_free(cfg);
	}
	free(text);
}

static void test_all_errors_reported(void **state)
{
	static const char text[] = "[sectxd]\n"		     /* 1 */
				   "max_connections = abc\n" /* 2 */
				   "log_level = info\n"	     /* 3 */
				   "[kerbros]\n"	     /* 4 */
				   "realm = ignored\n"	     /* 5 */
				   "[kerberos]\n"	     /* 6 */
				   "realm = A@B\n"	     /* 7 */
				   "junk\n"		     /* 8 */
				   "[sectxd]\n"		     /* 9 */
				   "log_level = debug\n"     /* 10 */
				   "idle_timeout = 1w\n"     /* 11 */
				   "[service/x]\n"	     /* 12 */
				   "[service/x]\n";	     /* 13 */
	static const unsigned lines[] = {2, 4, 7, 8, 10, 11, 13};
	static const char *const prefixes[] = {
	    "invalid value for max_connections: ",
	    "unknown section [kerbros] (did you mean [kerberos]?)",
	    "invalid value for realm: 'A@B'",
	    "line without '='",
	    "duplicate key 'log_level' in [sectxd] (first set on line 3)",
	    "invalid value for idle_timeout: '1w' is not a duration",
	    "duplicate section [service/x] (first on line 12)",
	};
	struct sectx_config *cfg = NULL;
	struct sectx_config_errors *errs = NULL;
	size_t i;

	(void)state;
	assert_int_equal(parse_len(NULL, text, strlen(text), &cfg, &errs), -EINVAL);
	assert_null(cfg);
	assert_int_equal(errs->count, 7);
	for (i = 0; i < errs->count; i++) {
		assert_int_equal(errs->items[i].line, lines[i]);
		assert_string_equal(errs->items[i].file, "t.conf");
		assert_true(strncmp(errs->items[i].message, prefixes[i], strlen(prefixes[i])) == 0);
	}
	talloc_free(errs);
}

static void test_error_cap(void **state)
{
	char *text = talloc_strdup(NULL, "");
	struct sectx_config *cfg = NULL;
	struct sectx_config_errors *errs = NULL;
	unsigned i;

	(void)state;
	for (i = 0; i < SECTX_CONFIG_MAX_ERRORS + 50; i++) {
		text = talloc_strdup_append_buffer(text, "bad\n");
	}
	assert_int_equal(parse_len(NULL, text, strlen(text), &cfg, &errs), -EINVAL);
	assert_int_equal(errs->count, SECTX_CONFIG_MAX_ERRORS + 1);
	assert_int_equal(errs->items[SECTX_CONFIG_MAX_ERRORS - 1].line, SECTX_CONFIG_MAX_ERRORS);
	assert_string_equal(errs->items[SECTX_CONFIG_MAX_ERRORS].message,
			    "too many errors; stopped after 1000");
	talloc_free(errs);
	talloc_free(text);
}

static void test_untrusted_text_escaped(void **state)
{
	char *text;
	char *msg;
	char longval[200];

	(void)state;
	one_error("[sectxd]\n\x1b[31mevil\\ = 1\n", 2,
		  "unknown key '\\x1b[31mevil\\\\' in [sectxd]");
	one_error("[\x1b]0;title\x07]\n", 1, "unknown section [\\x1b]0;title\\x07]");
	one_error("[sectxd]\nmax_connections = 1\r2\n", 2,
		  "invalid value for max_connections: '1\\x0d2' is not a whole number (16..65536)");
	one_error("[sectxd]\nmax_connections = \xc2\x9b"
		  "31m\n",
		  2,
		  "invalid value for max_connections: '\\u009b31m' is not a whole number "
		  "(16..65536)");
	/* a long value is cut short */
	memset(longval, 'a', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	text = talloc_asprintf(NULL, "[sectxd]\nlog_level = %s\n", longval);
	msg = talloc_asprintf(text,
			      "invalid value for log_level: '%.128s...' (expected error, "
			      "warning, info, debug or trace)",
			      longval);
	one_error(text, 2, msg);
	talloc_free(text);
}

static void test_errs_out_optional(void **state)
{
	TALLOC_CTX *ctx = talloc_new(NULL);
	struct sectx_config *cfg = NULL;

	(void)state;
	assert_int_equal(sectx_config_parse_buffer(ctx, "x", "junk\n", 5, &cfg, NULL), -EINVAL);
	assert_null(cfg);
	assert_int_equal(talloc_total_blocks(ctx), 1); /* nothing left behind */
	assert_int_equal(sectx_config_parse_buffer(ctx, "x", NULL, 1, &cfg, NULL), -EINVAL);
	assert_int_equal(sectx_config_parse_buffer(ctx, "x", NULL, 0, &cfg, NULL), 0);
	assert_defaults(cfg);
	talloc_free(ctx);
}

/* --- printing ---------------------------------------------------------------------- */

static void test_print_errors(void **state)
{
	struct sectx_config_error items[] = {
	    {"/etc/sectx/sectx.conf", 0, "not a regular file"},
	    {"/etc/sectx/sectx.conf", 12, "line without '='"},
	};
	struct sectx_config_errors errs = {items, 2};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(out);
	sectx_config_print_errors(out, &errs);
	sectx_config_print_errors(out, NULL);
	fclose(out);
	assert_string_equal(buf, "/etc/sectx/sectx.conf: not a regular file\n"
				 "/etc/sectx/sectx.conf:12: line without '='\n");
	free(buf);
}

static void test_print_schema(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	size_t i;

	(void)state;
	assert_non_null(out);
	sectx_config_print_schema(out);
	fclose(out);
	for (i = 0; i < sectx_config_n_sections; i++) {
		char head[80];

		snprintf(head, sizeof(head), "\n[%s%s]\n", sectx_config_sections[i].name,
			 sectx_config_sections[i].named ? "/NAME" : "");
		assert_non_null(strstr(buf, head));
	}
	for (i = 0; i < sectx_config_n_keys; i++) {
		char line[128];

		snprintf(line, sizeof(line), "\n%s\n    type: ", sectx_config_keys[i].name);
		assert_non_null(strstr(buf, line));
		assert_non_null(strstr(buf, sectx_config_keys[i].doc));
	}
	assert_non_null(strstr(buf, "whole number 16..65536"));
	assert_non_null(strstr(buf, "duration 100ms..5m"));
	assert_non_null(strstr(buf, "duration 1s..1d"));
	assert_non_null(strstr(buf, "default: " SECTX_DEFAULT_SOCKET_DIR "\n"));
	assert_non_null(strstr(buf, "default: 10s\n"));
	free(buf);
}

/* The table itself: every row well formed, names unique, defaults valid. */
static void test_schema_consistent(void **state)
{
	char reason[SECTX_CONFIG_REASON_MAX];
	size_t i, j;

	(void)state;
	for (i = 0; i < sectx_config_n_keys; i++) {
		const struct sectx_config_key *k = &sectx_config_keys[i];
		bool found = false;
		const char *c;

		for (j = 0; j < sectx_config_n_sections; j++) {
			found = found || strcmp(k->section, sectx_config_sections[j].name) == 0;
		}
		assert_true(found);
		assert_true(k->name[0] != '\0' && strlen(k->name) <= 64);
		for (c = k->name; *c != '\0'; c++) {
			assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
				    *c == '_');
		}
		for (j = i + 1; j < sectx_config_n_keys; j++) {
			assert_false(strcmp(k->section, sectx_config_keys[j].section) == 0 &&
				     strcmp(k->name, sectx_config_keys[j].name) == 0);
		}
		assert_non_null(k->def);
		assert_non_null(k->doc);
		assert_true(k->doc[0] != '\0');
		if (k->type == SECTX_CFG_UINT || k->type == SECTX_CFG_DURATION) {
			assert_true(k->min <= k->max);
		}
		if (k->type == SECTX_CFG_UINT) {
			assert_true(k->max <= UINT_MAX);
		}
		if (k->type == SECTX_CFG_ENUM) {
			assert_non_null(k->words);
			assert_non_null(k->words[0]);
		}
		/* whatever the default allocates (strings, lists) goes with owner */
		TALLOC_CTX *owner = talloc_new(NULL);

		assert_non_null(owner);
		if (strcmp(k->section, "service") == 0) {
			struct sectx_config_service svc = {0};

			assert_int_equal(sectx_config_value_parse(owner, k, k->def, &svc, reason,
								  sizeof(reason)),
					 0);
		} else {
			struct sectx_config cfg;

			memset(&cfg, 0, sizeof(cfg));
			assert_int_equal(sectx_config_value_parse(owner, k, k->def, &cfg, reason,
								  sizeof(reason)),
					 0);
		}
		talloc_free(owner);
	}
}

/* --- load_file ----------------------------------------------------------------------- */

struct fixture {
	char dir[PATH_MAX];
	char file[PATH_MAX + 16];
};

static int load_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL) {
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/test_config.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->file, sizeof(f->file), "%s/sectx.conf", f->dir);
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int load_teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void write_conf(struct fixture *f, const char *text, mode_t mode)
{
	int fd = open(f->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* load_file must fail with exactly one error, at line, reading message. */
static void load_one_error(struct fixture *f, unsigned line, const char *message)
{
	struct sectx_config *cfg = NULL;
	struct sectx_config_errors *errs = NULL;

	alarm(5); /* a FIFO must not hang us: die rather than pass by luck */
	assert_int_equal(sectx_config_load_file(NULL, f->file, &cfg, &errs), -EINVAL);
	alarm(0);
	assert_null(cfg);
	assert_non_null(errs);
	if (errs->count != 1) {
		sectx_config_print_errors(stderr, errs);
	}
	assert_int_equal(errs->count, 1);
	assert_string_equal(errs->items[0].file, f->file);
	assert_int_equal(errs->items[0].line, line);
	assert_string_equal(errs->items[0].message, message);
	talloc_free(errs);
}

static void test_load_ok(void **state)
{
	struct fixture *f = *state;
	struct sectx_config *cfg = NULL;
	struct sectx_config_errors *errs = NULL;

	write_conf(f, full_conf, 0644);
	assert_int_equal(sectx_config_load_file(NULL, f->file, &cfg, &errs), 0);
	assert_null(errs);
	assert_full(cfg);
	assert_string_equal(cfg->path, f->file);
	talloc_free(cfg);

	write_conf(f, "", 0400);
	assert_int_equal(sectx_config_load_file(NULL, f->file, &cfg, &errs), 0);
	assert_defaults(cfg);
	talloc_free(cfg);
}

static void test_load_parse_errors_name_file(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "[sectxd]\nmax_connections = 1\n", 0600);
	load_one_error(f, 2, "invalid value for max_connections: '1' is out of range (16..65536)");
}

static void test_load_writable_refused(void **state)
{
	struct fixture *f = *state;

	write_conf(f, "", 0664);
	load_one_error(f, 0,
		       "writable by group or other (mode 0664; it says who may do what, so run "
		       "chmod go-w)");
	write_conf(f, "", 0602);
	load_one_error(f, 0,
		       "writable by group or other (mode 0602; it says who may do what, so run "
		       "chmod go-w)");
}

static void test_load_owner_refused(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0) {
		skip(); /* only root can give a file to another uid */
	}
	write_conf(f, "", 0644);
	assert_int_equal(chown(f->file, 12345, 0), 0);
	load_one_error(f, 0, "owned by uid 12345 (must be root or uid 0)");
}

static void test_load_not_regular(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkfifo(f->file, 0600), 0);
	load_one_error(f, 0, "not a regular file");
	assert_int_equal(unlink(f->file), 0);
	assert_int_equal(mkdir(f->file, 0700), 0);
	load_one_error(f, 0, "not a regular file");
}

static void test_load_missing(void **state)
{
	struct fixture *f = *state;

	load_one_error(f, 0, "cannot open: No such file or directory");
}

static void test_load_too_large(void **state)
{
	struct fixture *f = *state;
	int fd;

	write_conf(f, "", 0644);
	fd = open(f->file, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SECTX_CONFIG_FILE_MAX + 1), 0);
	close(fd);
	load_one_error(f, 0, "file is larger than 1048576 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_crlf_and_bom),
	    cmocka_unit_test(test_section_twice_merges),
	    cmocka_unit_test(test_uint),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_loglevel),
	    cmocka_unit_test(test_path),
	    cmocka_unit_test(test_realm),
	    cmocka_unit_test(test_type_bool),
	    cmocka_unit_test(test_type_enum),
	    cmocka_unit_test(test_type_list),
	    cmocka_unit_test(test_type_duration_edges),
	    cmocka_unit_test(test_type_string),
	    cmocka_unit_test(test_unknown_section),
	    cmocka_unit_test(test_service_names),
	    cmocka_unit_test(test_duplicate_service),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_line_errors),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_file_too_large),
	    cmocka_unit_test(test_all_errors_reported),
	    cmocka_unit_test(test_error_cap),
	    cmocka_unit_test(test_untrusted_text_escaped),
	    cmocka_unit_test(test_errs_out_optional),
	    cmocka_unit_test(test_print_errors),
	    cmocka_unit_test(test_print_schema),
	    cmocka_unit_test(test_schema_consistent),
	    cmocka_unit_test_setup_teardown(test_load_ok, load_setup, load_teardown),
	    cmocka_unit_test_setup_teardown(test_load_parse_errors_name_file, load_setup,
					    load_teardown),
	    cmocka_unit_test_setup_teardown(test_load_writable_refused, load_setup, load_teardown),
	    cmocka_unit_test_setup_teardown(test_load_owner_refused, load_setup, load_teardown),
	    cmocka_unit_test_setup_teardown(test_load_not_regular, load_setup, load_teardown),
	    cmocka_unit_test_setup_teardown(test_load_missing, load_setup, load_teardown),
	    cmocka_unit_test_setup_teardown(test_load_too_large, load_setup, load_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
