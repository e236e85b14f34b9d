/*
 * tests/unit/test_directory_entry.c - the pure parts of the directory
 * source (helper/identity/directory_entry.c): RFC 4515 escaping of values
 * put in filters, ids read whole or refused, the first RDN of a DN, and an
 * entry turned into a user (POSIX ids as given; AD entries without them
 * mapped with the store's deterministic hash), and the store's refusal of
 * directory entries with id 0 or below min_id (store_directory.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "identity/directory_int.h"
#include "identity/identity_int.h"

static void test_escape(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(dir_filter_escape(out, sizeof(out), "alice"), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(dir_filter_escape(out, sizeof(out), "*)(uid=*"), 0);
	assert_string_equal(out, "\\2a\\29\\28uid=\\2a");
	assert_int_equal(dir_filter_escape(out, sizeof(out), "a\\b"), 0);
	assert_string_equal(out, "a\\5cb");
	assert_int_equal(dir_filter_escape(out, 4, "abcd"), -ENAMETOOLONG);
	assert_int_equal(dir_filter_escape(out, 4, "a*"), -ENAMETOOLONG);
}

static void test_parse_id(void **state)
{
	uint32_t v = 7;

	(void)state;
	assert_int_equal(dir_parse_id("1000", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(dir_parse_id("4294967295", &v), 0);
	assert_int_equal(v, UINT32_MAX);
	assert_int_equal(dir_parse_id("4294967296", &v), -EINVAL);
	assert_int_equal(dir_parse_id("-1", &v), -EINVAL);
	assert_int_equal(dir_parse_id("12a", &v), -EINVAL);
	assert_int_equal(dir_parse_id("", &v), -EINVAL);
	assert_int_equal(dir_parse_id(" 1", &v), -EINVAL);
	assert_int_equal(dir_parse_id(NULL, &v), -EINVAL);
}

static void test_first_rdn(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(dir_dn_first_rdn("uid=alice,ou=people,dc=x", "uid", out, sizeof(out)), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(dir_dn_first_rdn("UID=bob,dc=x", "uid", out, sizeof(out)), 0);
	assert_string_equal(out, "bob");
	assert_int_equal(dir_dn_first_rdn("cn=admins,dc=x", "uid", out, sizeof(out)), -ENOENT);
	assert_int_equal(dir_dn_first_rdn("uid=a+cn=b,dc=x", "uid", out, sizeof(out)), -ENOENT);
	assert_int_equal(dir_dn_first_rdn("uid=a\\2cb,dc=x", "uid", out, sizeof(out)), 0);
	assert_string_equal(out, "a,b");
	assert_int_equal(dir_dn_first_rdn("uid=,dc=x", "uid", out, sizeof(out)), -EINVAL);
	assert_int_equal(dir_dn_first_rdn("uid=a\\00b,dc=x", "uid", out, sizeof(out)), -EINVAL);
	assert_int_equal(dir_dn_first_rdn("uid=averyveryverylongname,dc=x", "uid", out, 8),
			 -ENAMETOOLONG);
}

static void test_entry_posix(void **state)
{
	struct dir_entry e = {.dn = "uid=alice,dc=x",
			      .name = "alice",
			      .uid_number = "5001",
			      .gid_number = "5000",
			      .cn = "Alice A",
			      .home = "/home/alice",
			      .shell = "/bin/sh"};
	struct id_dir_user u;

	(void)state;
	assert_int_equal(dir_entry_to_user(&e, SECTX_DIR_RFC2307BIS, "R", 1000, 9999, &u), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.uid, 5001);
	assert_int_equal(u.gid, 5000);
	assert_string_equal(u.gecos, "Alice A");
	assert_false(u.upg);
	e.uid_number = NULL;
	assert_int_equal(dir_entry_to_user(&e, SECTX_DIR_RFC2307BIS, "R", 1000, 9999, &u), -EINVAL);
	e.uid_number = "12x";
	assert_int_equal(dir_entry_to_user(&e, SECTX_DIR_RFC2307, "R", 1000, 9999, &u), -EINVAL);
	e.uid_number = "5001";
	e.name = NULL;
	assert_int_equal(dir_entry_to_user(&e, SECTX_DIR_RFC2307, "R", 1000, 9999, &u), -EINVAL);
}

static void test_entry_ad_mapped(void **state)
{
	struct dir_entry e = {.dn = "CN=Carol,DC=x", .name = "carol", .cn = "Carol"};
	struct id_dir_user u, u2;
	uint32_t gid;

	(void)state;
	assert_int_equal(dir_entry_to_user(&e, SECTX_DIR_AD, "AD.TEST", 200000, 2000200000, &u), 0);
	assert_int_equal(u.uid, id_auto_uid("carol@AD.TEST", 200000, 2000200000));
	assert_int_equal(u.gid, u.uid);
	assert_true(u.upg);
	/* deterministic: the same on every call (and every host) */
	assert_int_equal(dir_entry_to_user(&e, SECTX_DIR_AD, "AD.TEST", 200000, 2000200000, &u2),
			 0);
	assert_int_equal(u2.uid, u.uid);
	e.name = "staff";
	assert_int_equal(dir_entry_group_gid(&e, SECTX_DIR_AD, "AD.TEST", 200000, 2000200000, &gid),
			 0);
	assert_int_equal(gid, id_auto_uid("staff@AD.TEST", 200000, 2000200000));
	assert_int_equal(dir_entry_group_gid(&e, SECTX_DIR_RFC2307, "AD.TEST", 1, 9999, &gid),
			 -EINVAL);
}

static void test_store_refuses(void **state)
{
	struct sectx_config *cfg = NULL;
	struct id_store *st = NULL;
	struct id_dir_user du = {.name = "root2", .uid = 0, .gid = 5000};
	struct id_dir_group dg = {.name = "wheel2", .gid = 0};
	struct id_lookup lk;
	TALLOC_CTX *tmp = talloc_new(NULL);

	(void)state;
	assert_int_equal(sectx_config_defaults(tmp, &cfg), 0);
	assert_int_equal(id_store_new(tmp, cfg, "R", &st), 0);
	id_store_set_directory(st, true);
	assert_int_equal(id_store_dir_user(st, &du, NULL, 0, 2000000000), -EPERM);
	du.uid = 5;
	assert_int_equal(id_store_dir_user(st, &du, NULL, 0, 2000000000),
			 -EPERM); /* below min_id */
	assert_int_equal(id_store_dir_group(st, &dg, 2000000000), -EPERM);
	du.uid = 5001;
	assert_int_equal(id_store_dir_user(st, &du, NULL, 0, 2000000000), 0);
	assert_int_equal(id_store_user_by_uid(st, 5001, 1000, false, &lk), ID_FOUND);
	assert_string_equal(lk.user->display, "root2");
	/* expired: ask the directory again, or serve stale when it is down */
	assert_int_equal(id_store_user_by_uid(st, 5001, 2000000001, false, &lk), ID_CHECK);
	assert_true(lk.check_dir);
	assert_int_equal(id_store_user_by_uid(st, 5001, 2000000001, true, &lk), ID_FOUND);
	assert_true(lk.stale);
	/* an unknown uid goes to the directory */
	assert_int_equal(id_store_user_by_uid(st, 7777, 1000, false, &lk), ID_CHECK);
	assert_true(lk.check_dir);
	assert_int_equal(lk.check_id, 7777);
	talloc_free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),	    cmocka_unit_test(test_parse_id),
	    cmocka_unit_test(test_first_rdn),	    cmocka_unit_test(test_entry_posix),
	    cmocka_unit_test(test_entry_ad_mapped), cmocka_unit_test(test_store_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
