/*
 * test_identity.c - unit tests of the identity store (helper/identity/names.c,
 * helper/identity/store.c and its sources): name rules, the documented auto_id hash, static
 * files (id 0, ids below min_id, duplicates, malformed lines refused and
 * reported), short and qualified names, fully qualified display, groups and
 * memberships agreeing, mappings persisted and reloaded, a collision refused
 * and reported (never probed to another id), a changed id_range refused, the
 * negative cache capped, and the published view read back through the
 * cache reader.  Works in a fresh directory under $TMPDIR (or /tmp).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "identity/store.h"

#include <errno.h>
#include <fcntl.h>
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

#include "log.h"

#define NOW   1700000000
#define REALM "SECTX.TEST"

struct fixture {
	char path[PATH_MAX];
	int dirfd;
	TALLOC_CTX *mem_ctx;
	struct sectx_config *cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL) {
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/test_identity.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->path) == NULL) {
		free(f);
		return -1;
	}
	f->dirfd = open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->mem_ctx = talloc_new(NULL);
	if (f->mem_ctx == NULL || sectx_config_defaults(f->mem_ctx, &f->cfg) != 0) {
		return -1;
	}
	*state = f;
	return f->dirfd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];

	close(f->dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->path);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot remove %s\n", f->path);
	}
	talloc_free(f->mem_ctx);
	free(f);
	return 0;
}

/* Write name in the fixture directory (0644) and return its path. */
static const char *write_file(struct fixture *f, const char *name, const char *text)
{
	char *path = talloc_asprintf(f->mem_ctx, "%s/%s", f->path, name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, 0644);
	return path;
}

static struct id_store *new_store(struct fixture *f)
{
	struct id_store *st = NULL;
	char why[512] = "";

	assert_int_equal(id_store_new(f->mem_ctx, f->cfg, REALM, &st), 0);
	assert_int_equal(id_store_load_static(st, why, sizeof(why)), 0);
	assert_int_equal(id_store_load_mappings(st, f->dirfd, why, sizeof(why)), 0);
	return st;
}

/* --- names ------------------------------------------------------------------------------------ */

static void test_names(void **state)
{
	struct id_name n;
	char big[SECTX_NAME_MAX + 2];

	assert_int_equal(id_name_parse("alice", REALM, &n), 0);
	assert_string_equal(n.principal, "alice@SECTX.TEST");
	assert_true(n.has_short);
	assert_false(n.was_qualified);
	assert_int_equal(id_name_parse("alice@SECTX.TEST", REALM, &n), 0);
	assert_true(n.has_short);
	assert_true(n.was_qualified);
	assert_string_equal(n.name, "alice");
	/* another realm, or a '/': qualified only */
	assert_int_equal(id_name_parse("carol@OTHER.REALM", REALM, &n), 0);
	assert_false(n.has_short);
	assert_int_equal(id_name_parse("svc/web@SECTX.TEST", REALM, &n), 0);
	assert_false(n.has_short);
	assert_int_equal(id_name_parse("svc/web", REALM, &n), -EINVAL);
	/* refused: separators, control characters, spaces, odd forms */
	static const char *const bad[] = {
	    "",	      "a:b",	"a,b",	  "a b",	"a\tb",		"a\nb",		"a\\b",
	    "-alice", "+alice", "12345",  "alice@",	"@REALM",	"a@b@c",	"a/../b@R",
	    "./a@R",  "a//b@R", "al\x7f", "al\xc3\xa9", "alice@RE/ALM", "alice@RE$ALM", "a#b",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(id_name_parse(bad[i], REALM, &n), -EINVAL);
	}
	assert_int_equal(id_name_parse("alice", "", &n), -EINVAL); /* no realm: no short names */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(id_name_parse(big, REALM, &n), -EINVAL);
	big[SECTX_NAME_MAX - strlen("@SECTX.TEST")] = '\0';
	assert_int_equal(id_name_parse(big, REALM, &n), 0);
	assert_int_equal(strlen(n.principal), SECTX_NAME_MAX);
	big[SECTX_NAME_MAX - strlen("@SECTX.TEST")] = 'a';
	big[SECTX_NAME_MAX - strlen("@SECTX.TEST") + 1] = '\0';
	assert_int_equal(id_name_parse(big, REALM, &n), -EINVAL);
	/* user names may have a '$' (machine accounts) and digits */
	assert_int_equal(id_name_parse("host1$", REALM, &n), 0);
}

static void test_hash_documented(void **state)
{
	uint32_t lo, hi;

	/* FNV-1a-64 test vectors */
	assert_true(id_fnv1a64("") == 0xcbf29ce484222325ull);
	assert_true(id_fnv1a64("a") == 0xaf63dc4c8601ec8cull);
	assert_true(id_fnv1a64("foobar") == 0x85944171f73967e8ull);
	/* uid = MIN + h mod (MAX - MIN + 1) */
	assert_int_equal(id_auto_uid("alice@SECTX.TEST", 200000, 2000200000),
			 200000 + id_fnv1a64("alice@SECTX.TEST") % 2000000001ull);
	assert_int_equal(id_range_parse("200000-2000200000", &lo, &hi), 0);
	assert_int_equal(lo, 200000);
	assert_int_equal(hi, 2000200000);
	assert_int_equal(id_range_parse("0-5000", &lo, &hi), -EINVAL);
	assert_int_equal(id_range_parse("5000-5100", &lo, &hi), -EINVAL); /* < 1000 ids */
	assert_int_equal(id_range_parse("1-2147483648", &lo, &hi), -EINVAL);
	assert_int_equal(id_range_parse("x", &lo, &hi), -EINVAL);
}

static void test_templates(void **state)
{
	char out[64];

	assert_int_equal(
	    id_expand_template(out, sizeof(out), "/home/%u", "alice", 5, "alice@R", "R"), 0);
	assert_string_equal(out, "/home/alice");
	assert_int_equal(id_expand_template(out, sizeof(out), "/h/%r/%U/%p%%", "a", 7, "a@R", "R"),
			 0);
	assert_string_equal(out, "/h/R/7/a@R%");
	assert_int_equal(id_expand_template(out, sizeof(out), "/h/%x", "a", 7, "a@R", "R"),
			 -EINVAL);
	assert_int_equal(id_expand_template(out, 8, "/home/%u", "alice", 7, "a@R", "R"),
			 -ENAMETOOLONG);
	assert_false(id_field_ok("a:b", 100));
	assert_false(id_field_ok("a\nb", 100));
	assert_true(id_field_ok("Alice Example, room 5", 100));
}

/* --- static files ----------------------------------------------------------------------------- */

static void test_static_files(void **state)
{
	struct fixture *f = *state;
	struct id_store *st;
	struct id_lookup lk;
	const uint32_t *gids;
	size_t n;

	f->cfg->identity.users_file =
	    write_file(f, "users",
		       "# comment\n\n"
		       "alice:5001:5001:Alice:/home/alice:/bin/bash\n"
		       "bob@SECTX.TEST:5002:5002:Bob:/home/bob:/bin/sh\n"
		       "carol@OTHER.REALM:5003:5003::/home/carol:/bin/sh\n"
		       "svc/web@SECTX.TEST:5004:5004::/srv/web:/bin/false\n"
		       "root2:0:0::/root:/bin/sh\n"		  /* id 0 */
		       "low:999:5000::/home/low:/bin/sh\n"	  /* below min_id */
		       "lowgid:5005:10::/home/lg:/bin/sh\n"	  /* gid below min_id */
		       "alice@SECTX.TEST:5006:5006::/h:/bin/sh\n" /* same principal */
		       "dup:5001:5001::/h:/bin/sh\n"		  /* same uid */
		       "short:5007:5007\n"			  /* malformed */
		       "bad:name:5008:5008::/h:/bin/sh\n"	  /* too many fields */
		       "rel:5009:5009::home:/bin/sh\n"		  /* relative home */
		       "ctl:5010:5010:a\x01:/h:/bin/sh\n");	  /* control character */
	f->cfg->identity.groups_file =
	    write_file(f, "groups",
		       "devs:6000:alice,bob@SECTX.TEST,carol@OTHER.REALM,alice\n"
		       "ops:6001:bob\n"
		       "root:0:alice\n"	      /* gid 0 */
		       "devs:6002:\n"	      /* same name */
		       "dup:6000:\n"	      /* same gid */
		       "badm:6003:al ice\n"); /* invalid member */
	st = new_store(f);
	assert_int_equal(id_store_n_static_users(st), 4);
	assert_int_equal(id_store_n_problems(st), 9 + 4);
	for (size_t i = 0; i < id_store_n_problems(st); i++) {
		assert_non_null(strstr(id_store_problem_at(st, i), "line ignored"));
	}
	assert_non_null(strstr(id_store_problem_at(st, 0), "id 0 is never served"));

	/* short and qualified names both resolve; the short one is returned */
	assert_int_equal(id_store_user_by_name(st, "alice", NOW, false, &lk), ID_FOUND);
	assert_string_equal(lk.user->display, "alice");
	assert_string_equal(lk.user->principal, "alice@SECTX.TEST");
	assert_int_equal(id_store_user_by_name(st, "alice@SECTX.TEST", NOW, false, &lk), ID_FOUND);
	assert_string_equal(lk.user->display, "alice");
	assert_int_equal(id_store_user_by_name(st, "bob", NOW, false, &lk), ID_FOUND);
	assert_int_equal(lk.user->uid, 5002);
	/* another realm and '/': no short name */
	assert_int_equal(id_store_user_by_name(st, "carol", NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(id_store_user_by_name(st, "carol@OTHER.REALM", NOW, false, &lk), ID_FOUND);
	assert_string_equal(lk.user->display, "carol@OTHER.REALM");
	assert_int_equal(id_store_user_by_name(st, "svc/web@SECTX.TEST", NOW, false, &lk),
			 ID_FOUND);
	assert_string_equal(lk.user->display, "svc/web@SECTX.TEST");
	/* refused lines serve nothing */
	assert_int_equal(id_store_user_by_name(st, "root2", NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(id_store_user_by_uid(st, 0, NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(id_store_user_by_name(st, "low", NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(id_store_user_by_uid(st, 5001, NOW, false, &lk), ID_FOUND);
	assert_string_equal(lk.user->display, "alice");
	assert_int_equal(id_store_user_by_name(st, "nosuch", NOW, false, &lk), ID_NOTFOUND);

	/* groups, members in display form, and initgroups agreeing */
	assert_int_equal(id_store_group_by_name(st, "devs", NOW, false, &lk), ID_FOUND);
	assert_int_equal(lk.group->gid, 6000);
	assert_int_equal(lk.group->nmem, 3);
	assert_string_equal(lk.group->members[0], "alice");
	assert_string_equal(lk.group->members[1], "bob");
	assert_string_equal(lk.group->members[2], "carol@OTHER.REALM");
	assert_int_equal(id_store_group_by_gid(st, 6001, NOW, false, &lk), ID_FOUND);
	assert_string_equal(lk.group->name, "ops");
	assert_int_equal(id_store_group_by_gid(st, 0, NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(id_store_groups_of(st, "bob", &gids, &n), ID_FOUND);
	assert_int_equal(n, 2);
	assert_int_equal(gids[0], 6000);
	assert_int_equal(gids[1], 6001);
	assert_int_equal(id_store_groups_of(st, "bob@SECTX.TEST", &gids, &n), ID_FOUND);
	assert_int_equal(n, 2);
	assert_int_equal(id_store_groups_of(st, "alice", &gids, &n), ID_FOUND);
	assert_int_equal(n, 1);
	assert_int_equal(id_store_groups_of(st, "root", &gids, &n), ID_NOTFOUND);
}

static void test_fully_qualified(void **state)
{
	struct fixture *f = *state;
	struct id_store *st;
	struct id_lookup lk;

	f->cfg->identity.use_fully_qualified_names = true;
	f->cfg->identity.users_file = write_file(f, "users", "alice:5001:5001::/h:/bin/sh\n");
	f->cfg->identity.groups_file = write_file(f, "groups", "devs:6000:alice\n");
	st = new_store(f);
	assert_int_equal(id_store_user_by_name(st, "alice", NOW, false, &lk), ID_FOUND);
	assert_string_equal(lk.user->display, "alice@SECTX.TEST");
	assert_string_equal(lk.user->alias, "alice");
	assert_int_equal(id_store_group_by_name(st, "devs", NOW, false, &lk), ID_FOUND);
	assert_string_equal(lk.group->members[0], "alice@SECTX.TEST");
}

static void test_unreadable_static(void **state)
{
	struct fixture *f = *state;
	struct id_store *st = NULL;
	char why[512] = "";
	const char *path;

	f->cfg->identity.users_file = talloc_asprintf(f->mem_ctx, "%s/missing", f->path);
	assert_int_equal(id_store_new(f->mem_ctx, f->cfg, REALM, &st), 0);
	assert_int_equal(id_store_load_static(st, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "missing"));
	path = write_file(f, "users", "alice:5001:5001::/h:/bin/sh\n");
	chmod(path, 0666);
	f->cfg->identity.users_file = path;
	assert_int_equal(id_store_new(f->mem_ctx, f->cfg, REALM, &st), 0);
	assert_int_equal(id_store_load_static(st, why, sizeof(why)), -EPERM);
}

/* --- auto mapping ----------------------------------------------------------------------------- */

static void enable_auto(struct fixture *f, const char *range)
{
	f->cfg->identity.auto_id = true;
	f->cfg->identity.id_range = range;
}

static void test_auto_mapping_persisted(void **state)
{
	struct fixture *f = *state;
	struct id_store *st, *again;
	struct id_lookup lk;
	uint32_t want = id_auto_uid("dave@SECTX.TEST", 200000, 2000200000);

	enable_auto(f, "200000-2000200000");
	st = new_store(f);
	/* unknown: the realm must be asked first */
	assert_int_equal(id_store_user_by_name(st, "dave", NOW, false, &lk), ID_CHECK);
	assert_string_equal(lk.check_principal, "dave@SECTX.TEST");
	assert_int_equal(id_store_user_by_uid(st, want, NOW, false, &lk), ID_NOTFOUND);
	/* other realms and '/' are never auto-mapped */
	assert_int_equal(id_store_user_by_name(st, "dave@OTHER.REALM", NOW, false, &lk),
			 ID_NOTFOUND);
	assert_int_equal(id_store_check_result(st, "dave@SECTX.TEST", true, NOW, f->dirfd), 0);
	assert_int_equal(id_store_user_by_name(st, "dave", NOW, false, &lk), ID_FOUND);
	assert_int_equal(lk.user->uid, want);
	assert_int_equal(lk.user->gid, want);
	assert_string_equal(lk.user->home, "/home/dave");
	assert_string_equal(lk.user->shell, "/bin/bash");
	assert_string_equal(lk.user->display, "dave");
	/* now the uid answers (the negative uid entry was dropped), and the UPG */
	assert_int_equal(id_store_user_by_uid(st, want, NOW, false, &lk), ID_FOUND);
	assert_int_equal(id_store_group_by_gid(st, want, NOW, false, &lk), ID_FOUND);
	assert_string_equal(lk.group->name, "dave");
	assert_int_equal(lk.group->nmem, 0);
	assert_int_equal(id_store_group_by_name(st, "dave@SECTX.TEST", NOW, false, &lk), ID_FOUND);
	/* expired knowledge: ask again, or serve stale when the realm is down */
	assert_int_equal(id_store_user_by_name(st, "dave", NOW + 7200, false, &lk), ID_CHECK);
	assert_int_equal(id_store_user_by_name(st, "dave", NOW + 7200, true, &lk), ID_FOUND);
	assert_true(lk.stale);

	/* persisted: a new store (a restart, another host) maps it the same */
	again = new_store(f);
	assert_int_equal(id_store_n_mappings(again), 1);
	assert_int_equal(id_store_mapping_at(again, 0)->uid, want);
	/* not verified after a restart until the realm says so */
	assert_int_equal(id_store_user_by_name(again, "dave", NOW, false, &lk), ID_CHECK);
	id_store_adopt(again, st);
	assert_int_equal(id_store_user_by_name(again, "dave", NOW, false, &lk), ID_FOUND);

	/* the realm says it is gone: NOTFOUND, the mapping stays */
	assert_int_equal(id_store_check_result(st, "dave@SECTX.TEST", false, NOW, f->dirfd), 0);
	assert_int_equal(id_store_user_by_name(st, "dave", NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(id_store_user_by_uid(st, want, NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(id_store_n_mappings(st), 1);
}

static void test_range_change_refused(void **state)
{
	struct fixture *f = *state;
	struct id_store *st = NULL;
	char why[512] = "";

	enable_auto(f, "200000-300000");
	st = new_store(f);
	assert_int_equal(id_store_check_result(st, "erin@SECTX.TEST", true, NOW, f->dirfd), 0);
	enable_auto(f, "200000-400000");
	assert_int_equal(id_store_new(f->mem_ctx, f->cfg, REALM, &st), 0);
	assert_int_equal(id_store_load_static(st, why, sizeof(why)), 0);
	assert_int_equal(id_store_load_mappings(st, f->dirfd, why, sizeof(why)), -ESTALE);
	assert_non_null(strstr(why, "200000-300000"));
}

/* A corrupt id map (here: the unversioned text of an older build, and a
 * checksum failure) is moved aside and the store starts without mappings. */
static void test_corrupt_mapfile_moved_aside(void **state)
{
	struct fixture *f = *state;
	struct id_store *st;
	struct stat sb;
	char *aside;
	int fd;

	enable_auto(f, "200000-300000");
	write_file(f, ID_MAPFILE, "range 200000-300000\nmap 200001 x@SECTX.TEST\n");
	chmod(talloc_asprintf(f->mem_ctx, "%s/%s", f->path, ID_MAPFILE), 0600);
	st = new_store(f);
	assert_int_equal(id_store_n_mappings(st), 0);
	assert_int_equal(fstatat(f->dirfd, ID_MAPFILE, &sb, 0), -1);
	aside =
	    talloc_asprintf(f->mem_ctx, "ls '%s' | grep -q '^%s\\.corrupt-'", f->path, ID_MAPFILE);
	assert_int_equal(system(aside), 0);

	/* a good file written by the store, then one payload byte flipped */
	assert_int_equal(id_store_check_result(st, "erin@SECTX.TEST", true, NOW, f->dirfd), 0);
	assert_int_equal(id_store_n_mappings(new_store(f)), 1);
	fd = openat(f->dirfd, ID_MAPFILE, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, SECTX_STATE_HDR_LEN + 2), 1);
	close(fd);
	assert_int_equal(id_store_n_mappings(new_store(f)), 0);
	assert_int_equal(fstatat(f->dirfd, ID_MAPFILE, &sb, 0), -1);
}

/* Two principals with the same uid in a 1000-id range: the second is
 * refused, reported, and never moved to a neighbouring id. */
static void test_collision_refused(void **state)
{
	struct fixture *f = *state;
	char a[32] = "", b[32] = "", pa[64], pb[64];
	uint32_t seen[1000];
	struct id_store *st;
	struct id_lookup lk;
	unsigned i;

	memset(seen, 0xff, sizeof(seen));
	for (i = 0; i < 100000 && b[0] == '\0'; i++) {
		char p[64];
		uint32_t uid;

		snprintf(p, sizeof(p), "u%u@SECTX.TEST", i);
		uid = id_auto_uid(p, 300000, 300999);
		if (seen[uid - 300000] != 0xffffffffu) {
			snprintf(a, sizeof(a), "u%u", seen[uid - 300000]);
			snprintf(b, sizeof(b), "u%u", i);
		}
		seen[uid - 300000] = i;
	}
	assert_int_not_equal(b[0], '\0');
	snprintf(pa, sizeof(pa), "%s@SECTX.TEST", a);
	snprintf(pb, sizeof(pb), "%s@SECTX.TEST", b);
	enable_auto(f, "300000-300999");
	st = new_store(f);
	assert_int_equal(id_store_check_result(st, pa, true, NOW, f->dirfd), 0);
	assert_int_equal(id_store_check_result(st, pb, true, NOW, f->dirfd), 0);
	assert_int_equal(id_store_user_by_name(st, a, NOW, false, &lk), ID_FOUND);
	assert_int_equal(lk.user->uid, id_auto_uid(pa, 300000, 300999));
	assert_int_equal(id_store_user_by_name(st, b, NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(id_store_n_mappings(st), 1);
	assert_int_equal(id_store_n_collisions(st), 1);
	assert_string_equal(id_store_collision_at(st, 0)->principal, pb);
	assert_string_equal(id_store_collision_at(st, 0)->holder, pa);
	/* a second report of the same collision is not a second entry */
	assert_int_equal(id_store_check_result(st, pb, true, NOW + 120, f->dirfd), 0);
	assert_int_equal(id_store_n_collisions(st), 1);

	/* a static id is held too: a principal hashing onto it is refused */
	{
		char text[128];
		uint32_t held = id_auto_uid("u7@SECTX.TEST", 300000, 300999);

		snprintf(text, sizeof(text), "static:%u:%u::/h:/bin/sh\n", held, held);
		f->cfg->identity.users_file = write_file(f, "users", text);
		unlink(talloc_asprintf(f->mem_ctx, "%s/%s", f->path, ID_MAPFILE));
		st = new_store(f);
		assert_int_equal(id_store_check_result(st, "u7@SECTX.TEST", true, NOW, f->dirfd),
				 0);
		assert_int_equal(id_store_user_by_name(st, "u7", NOW, false, &lk), ID_NOTFOUND);
		assert_int_equal(id_store_n_collisions(st), 1);
		assert_int_equal(id_store_user_by_uid(st, held, NOW, false, &lk), ID_FOUND);
		assert_string_equal(lk.user->display, "static");
	}
}

static void test_negative_cache_capped(void **state)
{
	struct fixture *f = *state;
	struct id_store *st;
	struct id_lookup lk;
	struct nss_cache_builder *b = NULL;
	char name[32];
	unsigned i;

	f->cfg->identity.negative_cache_size = 16;
	st = new_store(f); /* auto_id off: unknown names are final */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "nobody%u", i);
		assert_int_equal(id_store_user_by_name(st, name, NOW, false, &lk), ID_NOTFOUND);
		assert_int_equal(id_store_user_by_uid(st, 100000 + i, NOW, false, &lk),
				 ID_NOTFOUND);
	}
	assert_int_equal(nss_cache_builder_new(f->mem_ctx, 0, &b), 0);
	assert_int_equal(id_store_build_cache(st, b, NOW), 0);
	/* 16 names, each as principal and short name, in two tables */
	assert_int_equal(nss_cache_builder_count(b, SECTX_NSS_TABLE_PW_NAME), 32);
	assert_int_equal(nss_cache_builder_count(b, SECTX_NSS_TABLE_GR_NAME), 32);
	assert_int_equal(nss_cache_builder_count(b, SECTX_NSS_TABLE_PW_UID), 16);
	/* the newest survive */
	assert_int_equal(nss_cache_write(b, f->dirfd, "cache", 1, NOW, NULL), 0);
	{
		struct sectx_nss_cache_map m;
		struct passwd pw;
		char buf[512];

		assert_int_equal(nss_cache_map_file(f->dirfd, "cache", &m), 0);
		/* tables are complete without auto_id: everything unknown is NOTFOUND */
		assert_int_equal(
		    sectx_nss_cache_getpwnam(&m, "nobody99", NOW, &pw, buf, sizeof(buf)),
		    SECTX_NSS_CACHE_NEGATIVE);
		assert_int_equal(sectx_nss_cache_getpwuid(&m, 100099, NOW, &pw, buf, sizeof(buf)),
				 SECTX_NSS_CACHE_NEGATIVE);
		nss_cache_unmap(&m);
	}
	id_store_flush(st);
	assert_int_equal(nss_cache_builder_new(f->mem_ctx, 0, &b), 0);
	assert_int_equal(id_store_build_cache(st, b, NOW), 0);
	assert_int_equal(nss_cache_builder_count(b, SECTX_NSS_TABLE_PW_NAME), 0);
}

/* The published view, read back the way libnss_sectx reads it. */
static void test_published_view(void **state)
{
	struct fixture *f = *state;
	struct nss_cache_builder *b = NULL;
	struct sectx_nss_cache_map m;
	struct id_store *st;
	struct id_lookup lk;
	struct passwd pw;
	struct group gr;
	char buf[1024];
	uint32_t dave = id_auto_uid("dave@SECTX.TEST", 200000, 2000200000);

	enable_auto(f, "200000-2000200000");
	f->cfg->identity.users_file =
	    write_file(f, "users", "alice:5001:5001:A:/home/alice:/bin/sh\n");
	f->cfg->identity.groups_file = write_file(f, "groups", "devs:6000:alice,dave\n");
	st = new_store(f);
	assert_int_equal(id_store_check_result(st, "dave@SECTX.TEST", true, NOW, f->dirfd), 0);
	assert_int_equal(id_store_check_result(st, "ghost@SECTX.TEST", false, NOW, f->dirfd), 0);
	assert_int_equal(id_store_user_by_uid(st, 123456, NOW, false, &lk), ID_NOTFOUND);
	assert_int_equal(nss_cache_builder_new(f->mem_ctx, 0, &b), 0);
	assert_int_equal(id_store_build_cache(st, b, NOW), 0);
	assert_int_equal(nss_cache_write(b, f->dirfd, "cache", 3, NOW, NULL), 0);
	assert_int_equal(nss_cache_map_file(f->dirfd, "cache", &m), 0);

	assert_int_equal(
	    sectx_nss_cache_getpwnam(&m, "alice@SECTX.TEST", NOW, &pw, buf, sizeof(buf)),
	    SECTX_NSS_CACHE_HIT);
	assert_string_equal(pw.pw_name, "alice");
	assert_string_equal(pw.pw_passwd, "*");
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "dave", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_int_equal(pw.pw_uid, dave);
	assert_int_equal(sectx_nss_cache_getgrgid(&m, dave, NOW, &gr, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_string_equal(gr.gr_name, "dave");
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "ghost", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_NEGATIVE);
	assert_int_equal(
	    sectx_nss_cache_getpwnam(&m, "ghost@SECTX.TEST", NOW, &pw, buf, sizeof(buf)),
	    SECTX_NSS_CACHE_NEGATIVE);
	assert_int_equal(sectx_nss_cache_getpwuid(&m, 123456, NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_NEGATIVE);
	/* with auto_id, unknown names go to the helper */
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "frank", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	/* a restart seeds existence from the previous file */
	{
		struct id_store *again = new_store(f);

		assert_int_equal(id_store_user_by_name(again, "dave", NOW, false, &lk), ID_CHECK);
		id_store_seed_from_cache(again, &m, NOW);
		assert_int_equal(id_store_user_by_name(again, "dave", NOW, false, &lk), ID_FOUND);
	}
	nss_cache_unmap(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_hash_documented),
	    cmocka_unit_test(test_templates),
	    cmocka_unit_test_setup_teardown(test_static_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fully_qualified, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_static, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auto_mapping_persisted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_range_change_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_mapfile_moved_aside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_collision_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_negative_cache_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_published_view, setup, teardown),
	};

	sectx_log_init("test_identity", 1, SECTX_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
