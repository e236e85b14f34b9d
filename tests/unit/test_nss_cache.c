/*
 * test_nss_cache.c - unit tests of the NSS cache format: the writer
 * (helper/nss_cache_writer.c) and the libc-only reader (common/nss_cache.c).
 *
 * Round trips of every record kind, buffer sizes (ERANGE at one byte short),
 * expiry, completeness, hash-slot collisions and full 32-bit key collisions,
 * duplicate keys refused, corrupt files of every kind (header fields, table
 * bounds, record bounds, strings, member lists, probe runs, and every byte
 * of a small file overwritten) answered without a crash, and a writer
 * republishing while reader threads map, check the stale flag, remap and
 * verify that no record they return is torn.  Works in a fresh directory
 * under $TMPDIR (or /tmp); no network.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "nss_cache.h"
#include "identity/nss_cache_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW   1700000000
#define LATER (NOW + 3600)

struct fixture {
	char path[PATH_MAX];
	int dirfd;
	TALLOC_CTX *mem_ctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL) {
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/test_nss_cache.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->path) == NULL) {
		free(f);
		return -1;
	}
	f->dirfd = open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->mem_ctx = talloc_new(NULL);
	*state = f;
	return f->dirfd >= 0 && f->mem_ctx != NULL ? 0 : -1;
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

/* --- building test files ---------------------------------------------------------------------- */

static void add_user(struct nss_cache_builder *b, const char *name, const char *alias, uint32_t uid,
		     int64_t expires)
{
	char home[300];
	struct nss_cache_user u = {
	    .name = name,
	    .alias = alias,
	    .gecos = "Test User",
	    .home = home,
	    .shell = "/bin/bash",
	    .principal = alias,
	    .uid = uid,
	    .gid = uid,
	    .expires = expires,
	    .auto_mapped = true,
	};

	snprintf(home, sizeof(home), "/home/%s", name);
	assert_int_equal(nss_cache_add_user(b, &u), 0);
}

/* A small cache: alice (alias alice@R), bob, a group with members, a user
 * private group, memberships, and negative entries. */
static struct nss_cache_builder *sample(TALLOC_CTX *mem_ctx, int64_t expires)
{
	static const char *const devs[] = {"alice", "bob", "carol@OTHER.REALM"};
	static const uint32_t alice_groups[] = {5000, 5001};
	struct nss_cache_builder *b = NULL;
	struct nss_cache_group g = {
	    .name = "devs",
	    .alias = NULL,
	    .gid = 5000,
	    .members = devs,
	    .nmem = 3,
	    .expires = expires,
	};
	struct nss_cache_group upg = {
	    .name = "alice",
	    .alias = "alice@R",
	    .gid = 10001,
	    .members = NULL,
	    .nmem = 0,
	    .expires = expires,
	};

	assert_int_equal(nss_cache_builder_new(mem_ctx, 0, &b), 0);
	add_user(b, "alice", "alice@R", 10001, expires);
	add_user(b, "bob", NULL, 10002, expires);
	assert_int_equal(nss_cache_add_group(b, &g), 0);
	assert_int_equal(nss_cache_add_group(b, &upg), 0);
	assert_int_equal(nss_cache_add_membership(b, "alice", "alice@R", alice_groups, 2, expires),
			 0);
	assert_int_equal(nss_cache_add_negative(b, SECTX_NSS_TABLE_PW_NAME, "ghost", 0, expires),
			 0);
	assert_int_equal(nss_cache_add_negative(b, SECTX_NSS_TABLE_PW_UID, NULL, 66666, expires),
			 0);
	assert_int_equal(nss_cache_add_negative(b, SECTX_NSS_TABLE_GR_NAME, "nogroup", 0, expires),
			 0);
	assert_int_equal(nss_cache_add_negative(b, SECTX_NSS_TABLE_GR_GID, NULL, 77777, expires),
			 0);
	return b;
}

static void publish(struct fixture *f, struct nss_cache_builder *b, uint64_t gen)
{
	assert_int_equal(nss_cache_write(b, f->dirfd, "cache", gen, NOW, NULL), 0);
}

/* Map dirfd/name shared, as a reader of an older module does (the helper's
 * own nss_cache_map_file reads a private copy, which never sees a flag). */
static int map_shared(int dirfd, const char *name, struct sectx_nss_cache_map *m)
{
	struct stat st;
	void *p;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	int ret;

	memset(m, 0, sizeof(*m));
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) != 0 || st.st_size < (off_t)SECTX_NSS_CACHE_HEADER_SIZE) {
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		return -errno;
	}
	ret = sectx_nss_cache_attach(p, (size_t)st.st_size, m);
	if (ret != 0) {
		munmap(p, (size_t)st.st_size);
	}
	return ret;
}

/* Read the published file into an 8-aligned heap buffer (for corruption). */
static uint8_t *slurp(struct fixture *f, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = openat(f->dirfd, "cache", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = aligned_alloc(8, ((size_t)st.st_size + 7) & ~(size_t)7);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static int collect_gid(void *arg, gid_t gid)
{
	gid_t *out = arg;
	size_t n = out[0];

	if (n < 15) {
		out[1 + n] = gid;
		out[0] = (gid_t)(n + 1);
	}
	return 0;
}

/* --- round trip ------------------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct sectx_nss_cache_map m;
	struct passwd pw;
	struct group gr;
	char buf[1024];
	gid_t gids[16] = {0};

	publish(f, sample(f->mem_ctx, LATER), 7);
	assert_int_equal(nss_cache_map_file(f->dirfd, "cache", &m), 0);
	assert_int_equal(m.generation, 7);
	assert_false(sectx_nss_cache_is_stale(&m));

	assert_int_equal(sectx_nss_cache_getpwnam(&m, "alice", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_string_equal(pw.pw_name, "alice");
	assert_string_equal(pw.pw_passwd, "*");
	assert_int_equal(pw.pw_uid, 10001);
	assert_int_equal(pw.pw_gid, 10001);
	assert_string_equal(pw.pw_gecos, "Test User");
	assert_string_equal(pw.pw_dir, "/home/alice");
	assert_string_equal(pw.pw_shell, "/bin/bash");

	/* the alias finds the same entry, which keeps its own name */
	memset(&pw, 0, sizeof(pw));
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "alice@R", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_string_equal(pw.pw_name, "alice");

	assert_int_equal(sectx_nss_cache_getpwuid(&m, 10002, NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_string_equal(pw.pw_name, "bob");
	assert_string_equal(pw.pw_dir, "/home/bob");

	assert_int_equal(sectx_nss_cache_getgrnam(&m, "devs", NOW, &gr, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_int_equal(gr.gr_gid, 5000);
	assert_string_equal(gr.gr_passwd, "*");
	assert_string_equal(gr.gr_mem[0], "alice");
	assert_string_equal(gr.gr_mem[1], "bob");
	assert_string_equal(gr.gr_mem[2], "carol@OTHER.REALM");
	assert_null(gr.gr_mem[3]);

	assert_int_equal(sectx_nss_cache_getgrgid(&m, 10001, NOW, &gr, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_string_equal(gr.gr_name, "alice");
	assert_null(gr.gr_mem[0]);
	assert_int_equal(sectx_nss_cache_getgrnam(&m, "alice@R", NOW, &gr, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);

	assert_int_equal(sectx_nss_cache_initgroups(&m, "alice@R", NOW, collect_gid, gids),
			 SECTX_NSS_CACHE_HIT);
	assert_int_equal(gids[0], 2);
	assert_int_equal(gids[1], 5000);
	assert_int_equal(gids[2], 5001);

	/* negative entries, unknown keys (not complete: ask the helper) */
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "ghost", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_NEGATIVE);
	assert_int_equal(sectx_nss_cache_getpwuid(&m, 66666, NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_NEGATIVE);
	assert_int_equal(sectx_nss_cache_getgrnam(&m, "nogroup", NOW, &gr, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_NEGATIVE);
	assert_int_equal(sectx_nss_cache_getgrgid(&m, 77777, NOW, &gr, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_NEGATIVE);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "zed", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	assert_int_equal(sectx_nss_cache_getpwuid(&m, 4242, NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	assert_int_equal(sectx_nss_cache_initgroups(&m, "bob", NOW, collect_gid, gids),
			 SECTX_NSS_CACHE_MISS);
	/* a negative uid entry is not a negative name and vice versa */
	assert_int_equal(sectx_nss_cache_getpwuid(&m, 0, NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	nss_cache_unmap(&m);
}

static void test_expiry_and_complete(void **state)
{
	struct fixture *f = *state;
	struct nss_cache_builder *b = sample(f->mem_ctx, NOW + 10);
	struct sectx_nss_cache_map m;
	struct passwd pw;
	struct group gr;
	char buf[1024];
	gid_t gids[16] = {0};

	nss_cache_set_complete(b,
			       SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_PW_NAME) |
				   SECTX_NSS_COMPLETE(SECTX_NSS_TABLE_INITGR),
			       NOW + 20);
	publish(f, b, 1);
	assert_int_equal(nss_cache_map_file(f->dirfd, "cache", &m), 0);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "alice", NOW + 9, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "alice", NOW + 10, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "ghost", NOW + 10, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	/* complete table: an unknown name is NOTFOUND until complete_until */
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "zed", NOW + 19, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_NEGATIVE);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "zed", NOW + 20, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	assert_int_equal(sectx_nss_cache_initgroups(&m, "bob", NOW, collect_gid, gids),
			 SECTX_NSS_CACHE_NEGATIVE);
	/* other tables are not complete */
	assert_int_equal(sectx_nss_cache_getgrnam(&m, "zed", NOW, &gr, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_MISS);
	nss_cache_unmap(&m);
}

static void test_erange(void **state)
{
	struct fixture *f = *state;
	struct sectx_nss_cache_map m;
	struct passwd pw;
	struct group gr;
	char buf[1024];
	size_t need, n;

	publish(f, sample(f->mem_ctx, LATER), 1);
	assert_int_equal(nss_cache_map_file(f->dirfd, "cache", &m), 0);
	/* "alice" "*" "Test User" "/home/alice" "/bin/bash" with NULs */
	need = 6 + 2 + 10 + 12 + 10;
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "alice", NOW, &pw, buf, need - 1),
			 SECTX_NSS_CACHE_ERANGE);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "alice", NOW, &pw, NULL, 0),
			 SECTX_NSS_CACHE_ERANGE);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, "alice", NOW, &pw, buf, need),
			 SECTX_NSS_CACHE_HIT);
	assert_string_equal(pw.pw_shell, "/bin/bash");
	/* groups: find the smallest buffer that works, then one byte less fails */
	for (n = 1; n < sizeof(buf); n++) {
		if (sectx_nss_cache_getgrnam(&m, "devs", NOW, &gr, buf, n) == SECTX_NSS_CACHE_HIT) {
			break;
		}
		assert_int_equal(sectx_nss_cache_getgrnam(&m, "devs", NOW, &gr, buf, n),
				 SECTX_NSS_CACHE_ERANGE);
	}
	assert_true(n > 4 * sizeof(char *) + 5 + 2 + 6 + 4 + 18 - 1);
	assert_string_equal(gr.gr_mem[2], "carol@OTHER.REALM");
	/* a misaligned buffer still gets aligned pointers */
	assert_int_equal(sectx_nss_cache_getgrnam(&m, "devs", NOW, &gr, buf + 1, sizeof(buf) - 1),
			 SECTX_NSS_CACHE_HIT);
	assert_int_equal((uintptr_t)gr.gr_mem % sizeof(char *), 0);
	nss_cache_unmap(&m);
}

static void test_many_and_slot_collisions(void **state)
{
	struct fixture *f = *state;
	struct nss_cache_builder *b = NULL;
	struct sectx_nss_cache_map m;
	struct passwd pw;
	char buf[512], name[32];
	const uint32_t n = 50000;
	uint32_t i;

	assert_int_equal(nss_cache_builder_new(f->mem_ctx, 0, &b), 0);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		add_user(b, name, NULL, 100000 + i * 7, LATER);
	}
	publish(f, b, 1);
	assert_int_equal(nss_cache_map_file(f->dirfd, "cache", &m), 0);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		assert_int_equal(sectx_nss_cache_getpwnam(&m, name, NOW, &pw, buf, sizeof(buf)),
				 SECTX_NSS_CACHE_HIT);
		assert_int_equal(pw.pw_uid, 100000 + i * 7);
		assert_int_equal(
		    sectx_nss_cache_getpwuid(&m, 100000 + i * 7, NOW, &pw, buf, sizeof(buf)),
		    SECTX_NSS_CACHE_HIT);
		assert_string_equal(pw.pw_name, name);
	}
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "other%u", i);
		assert_int_equal(sectx_nss_cache_getpwnam(&m, name, NOW, &pw, buf, sizeof(buf)),
				 SECTX_NSS_CACHE_MISS);
		assert_int_equal(
		    sectx_nss_cache_getpwuid(&m, 100001 + i * 7, NOW, &pw, buf, sizeof(buf)),
		    SECTX_NSS_CACHE_MISS);
	}
	nss_cache_unmap(&m);
}

/* Two names whose 32-bit slot keys are equal (found by brute force with a
 * fixed seed) must both be found, each as itself. */
static void test_key_collision(void **state)
{
	struct fixture *f = *state;
	const uint64_t seed = 0x1234567890abcdefull;
	const uint32_t n = 300000;
	struct nss_cache_builder *b = NULL;
	struct sectx_nss_cache_map m;
	struct passwd pw;
	char buf[512], a[32] = "", c[32] = "";
	uint64_t *keys = calloc(n, sizeof(*keys));
	uint32_t i;

	assert_non_null(keys);
	for (i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "u%u", i);
		keys[i] = (sectx_nss_cache_hash(seed, name, strlen(name)) >> 32) << 32 | i;
	}
	/* sort by key and look for neighbours with equal upper halves */
	for (size_t gap = n / 2; gap > 0; gap /= 2) { /* shell sort: no qsort_r needed */
		for (size_t j = gap; j < n; j++) {
			uint64_t v = keys[j];
			size_t k = j;

			for (; k >= gap && keys[k - gap] > v; k -= gap) {
				keys[k] = keys[k - gap];
			}
			keys[k] = v;
		}
	}
	for (i = 1; i < n; i++) {
		if (keys[i] >> 32 == keys[i - 1] >> 32) {
			snprintf(a, sizeof(a), "u%u", (uint32_t)keys[i - 1]);
			snprintf(c, sizeof(c), "u%u", (uint32_t)keys[i]);
			break;
		}
	}
	free(keys);
	assert_int_not_equal(a[0], '\0'); /* expected ~10 pairs among 300000 names */
	assert_int_equal(nss_cache_builder_new(f->mem_ctx, seed, &b), 0);
	add_user(b, a, NULL, 20001, LATER);
	add_user(b, c, NULL, 20002, LATER);
	publish(f, b, 1);
	assert_int_equal(nss_cache_map_file(f->dirfd, "cache", &m), 0);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, a, NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_int_equal(pw.pw_uid, 20001);
	assert_int_equal(sectx_nss_cache_getpwnam(&m, c, NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_int_equal(pw.pw_uid, 20002);
	nss_cache_unmap(&m);
}

static void test_duplicates_refused(void **state)
{
	struct fixture *f = *state;
	struct nss_cache_builder *b = NULL;
	struct sectx_nss_cache_map m;

	assert_int_equal(nss_cache_builder_new(f->mem_ctx, 0, &b), 0);
	add_user(b, "alice", NULL, 1, LATER);
	add_user(b, "alice", NULL, 2, LATER);
	assert_int_equal(nss_cache_write(b, f->dirfd, "cache", 1, NOW, NULL), -EEXIST);

	assert_int_equal(nss_cache_builder_new(f->mem_ctx, 0, &b), 0);
	add_user(b, "alice", NULL, 1, LATER);
	add_user(b, "bob", "alice", 2, LATER); /* an alias equal to another's name */
	assert_int_equal(nss_cache_write(b, f->dirfd, "cache", 1, NOW, NULL), -EEXIST);

	assert_int_equal(nss_cache_builder_new(f->mem_ctx, 0, &b), 0);
	add_user(b, "alice", NULL, 1, LATER);
	add_user(b, "bob", NULL, 1, LATER);
	assert_int_equal(nss_cache_write(b, f->dirfd, "cache", 1, NOW, NULL), -EEXIST);
	/* nothing was published, and no temp file is left */
	assert_int_equal(nss_cache_map_file(f->dirfd, "cache", &m), -ENOENT);
	{
		char cmd[PATH_MAX + 64];

		snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", f->path);
		assert_int_equal(system(cmd), 0);
	}
	/* invalid input */
	{
		struct nss_cache_user u = {.name = ""};
		char big[SECTX_NSS_CACHE_STR_MAX + 2];

		assert_int_equal(nss_cache_add_user(b, &u), -EINVAL);
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		u.name = big;
		assert_int_equal(nss_cache_add_user(b, &u), -EINVAL);
		assert_int_equal(nss_cache_add_negative(b, SECTX_NSS_TABLE_INITGR, "x", 0, LATER),
				 -EINVAL);
	}
}

static void test_republish_marks_stale(void **state)
{
	struct fixture *f = *state;
	struct sectx_nss_cache_map m1, m2;
	struct passwd pw;
	char buf[512];

	publish(f, sample(f->mem_ctx, LATER), 1);
	assert_int_equal(map_shared(f->dirfd, "cache", &m1), 0);
	assert_false(sectx_nss_cache_is_stale(&m1));
	publish(f, sample(f->mem_ctx, LATER), 2);
	assert_true(sectx_nss_cache_is_stale(&m1));
	assert_int_equal(sectx_nss_cache_state(&m1), SECTX_NSS_CACHE_REPLACED);
	/* the old mapping stays readable (never truncated) */
	assert_int_equal(sectx_nss_cache_getpwnam(&m1, "alice", NOW, &pw, buf, sizeof(buf)),
			 SECTX_NSS_CACHE_HIT);
	assert_int_equal(map_shared(f->dirfd, "cache", &m2), 0);
	assert_int_equal(m2.generation, 2);
	assert_false(sectx_nss_cache_is_stale(&m2));
	assert_int_equal(nss_cache_mark_stale(f->dirfd, "cache"), 0);
	assert_true(sectx_nss_cache_is_stale(&m2));
	nss_cache_unmap(&m1);
	nss_cache_unmap(&m2);
	assert_int_equal(nss_cache_mark_stale(f->dirfd, "missing"), -ENOENT);
}

/* --- corruption ------------------------------------------------------------------------------- */

/* Every lookup the module makes, on a possibly corrupt map: must not crash
 * and must return a known result; a HIT must be for the key asked. */
static void all_lookups(const struct sectx_nss_cache_map *m)
{
	static const char *const names[] = {"alice", "alice@R", "bob", "devs",
					    "ghost", "nogroup", "zed"};
	static const uint32_t ids[] = {10001, 10002, 5000, 66666, 77777, 0, 1};
	struct passwd pw;
	struct group gr;
	char buf[2048];
	gid_t gids[16];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enum sectx_nss_cache_result r;

		r = sectx_nss_cache_getpwnam(m, names[i], NOW, &pw, buf, sizeof(buf));
		assert_true(r <= SECTX_NSS_CACHE_CORRUPT);
		r = sectx_nss_cache_getgrnam(m, names[i], NOW, &gr, buf, sizeof(buf));
		assert_true(r <= SECTX_NSS_CACHE_CORRUPT);
		if (r == SECTX_NSS_CACHE_HIT) {
			for (char **p = gr.gr_mem; *p != NULL; p++) {
				assert_true(*p >= buf && *p < buf + sizeof(buf));
			}
		}
		gids[0] = 0;
		r = sectx_nss_cache_initgroups(m, names[i], NOW, collect_gid, gids);
		assert_true(r <= SECTX_NSS_CACHE_CORRUPT);
	}
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		enum sectx_nss_cache_result r;

		r = sectx_nss_cache_getpwuid(m, ids[i], NOW, &pw, buf, sizeof(buf));
		assert_true(r <= SECTX_NSS_CACHE_CORRUPT);
		if (r == SECTX_NSS_CACHE_HIT) {
			assert_int_equal(pw.pw_uid, ids[i]);
		}
		r = sectx_nss_cache_getgrgid(m, ids[i], NOW, &gr, buf, sizeof(buf));
		assert_true(r <= SECTX_NSS_CACHE_CORRUPT);
		if (r == SECTX_NSS_CACHE_HIT) {
			assert_int_equal(gr.gr_gid, ids[i]);
		}
	}
}

static void put32(uint8_t *buf, size_t off, uint32_t v)
{
	memcpy(buf + off, &v, 4);
}

static void put64(uint8_t *buf, size_t off, uint64_t v)
{
	memcpy(buf + off, &v, 8);
}

static uint32_t get32(const uint8_t *buf, size_t off)
{
	uint32_t v;

	memcpy(&v, buf + off, 4);
	return v;
}

#define HDR(field_) offsetof(struct sectx_nss_cache_header, field_)
#define TABLE(t_, field_)                                                                          \
	(HDR(tables) + (t_) * sizeof(struct sectx_nss_cache_table) +                               \
	 offsetof(struct sectx_nss_cache_table, field_))

static void test_corrupt_header(void **state)
{
	struct fixture *f = *state;
	struct sectx_nss_cache_map m;
	size_t len;
	uint8_t *orig, *buf;
	struct {
		size_t off;
		int width;
		uint64_t value;
	} cases[] = {
	    {HDR(magic), 4, 0x12345678},
	    {HDR(version), 4, 2},
	    {HDR(version), 4, 0},
	    {HDR(header_size), 4, 64},
	    {HDR(file_size), 8, 0},
	    {HDR(file_size), 8, 1ull << 40},
	    {HDR(n_tables), 4, 4},
	    {TABLE(0, nslots), 4, 3},	     /* not a power of two */
	    {TABLE(0, nslots), 4, 1u << 30}, /* beyond the file */
	    {TABLE(1, off), 4, 4},	     /* inside the header */
	    {TABLE(2, off), 4, 0xfffffff8u}, /* beyond the file */
	    {TABLE(3, off), 4, 130},	     /* misaligned */
	    {HDR(data_off), 4, 0xfffffff0u},
	    {HDR(data_off), 4, 12},
	    {HDR(data_size), 4, 0xffffff00u},
	    {HDR(owner_off), 4, 130},	      /* misaligned */
	    {HDR(owner_off), 4, 8},	      /* inside the header */
	    {HDR(owner_off), 4, 0xfffffff8u}, /* beyond the file */
	};
	size_t i;

	publish(f, sample(f->mem_ctx, LATER), 1);
	orig = slurp(f, &len);
	assert_int_equal(sectx_nss_cache_attach(orig, len, &m), 0);
	all_lookups(&m);
	buf = aligned_alloc(8, (len + 7) & ~(size_t)7);
	assert_non_null(buf);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(buf, orig, len);
		if (cases[i].width == 4) {
			put32(buf, cases[i].off, (uint32_t)cases[i].value);
		} else {
			put64(buf, cases[i].off, cases[i].value);
		}
		assert_int_equal(sectx_nss_cache_attach(buf, len, &m), -EINVAL);
		all_lookups(&m); /* an unattached map answers MISS */
	}
	/* truncated files of every length up to the header and beyond */
	for (i = 0; i < len; i += (i < 256 ? 1 : 97)) {
		memcpy(buf, orig, len);
		assert_int_equal(sectx_nss_cache_attach(buf, i, &m), -EINVAL);
	}
	/* misaligned base and NULL */
	assert_int_equal(sectx_nss_cache_attach(NULL, len, &m), -EINVAL);
	free(buf);
	free(orig);
}

/* The state a reader sees: the stale word, and the owner word when the
 * header points at one (a live owner's thread id; no id, or
 * FUTEX_OWNER_DIED, is a helper gone: RETIRED). */
static void test_state_and_owner_word(void **state)
{
	struct fixture *f = *state;
	struct sectx_nss_cache_map m;
	size_t len;
	uint8_t *buf;
	uint32_t area;
	struct {
		uint32_t stale, word;
		uint32_t want;
	} cases[] = {
	    {SECTX_NSS_CACHE_CURRENT, 4242, SECTX_NSS_CACHE_CURRENT},
	    {SECTX_NSS_CACHE_CURRENT, 4242 | 0x80000000u, SECTX_NSS_CACHE_CURRENT}, /* waiters */
	    {SECTX_NSS_CACHE_CURRENT, 0, SECTX_NSS_CACHE_RETIRED},
	    {SECTX_NSS_CACHE_CURRENT, 4242 | SECTX_NSS_OWNER_DIED, SECTX_NSS_CACHE_RETIRED},
	    {SECTX_NSS_CACHE_CURRENT, SECTX_NSS_OWNER_DIED, SECTX_NSS_CACHE_RETIRED},
	    {SECTX_NSS_CACHE_RETIRED, 4242, SECTX_NSS_CACHE_RETIRED},
	    {SECTX_NSS_CACHE_REPLACED, 4242, SECTX_NSS_CACHE_REPLACED},
	    {SECTX_NSS_CACHE_REPLACED, 0, SECTX_NSS_CACHE_REPLACED},
	    {7, 4242, SECTX_NSS_CACHE_REPLACED}, /* unknown: replaced */
	};
	size_t i;

	publish(f, sample(f->mem_ctx, LATER), 1);
	buf = slurp(f, &len);
	area = get32(buf, HDR(owner_area));
	assert_int_equal(area, SECTX_NSS_CACHE_HEADER_SIZE);
	assert_int_equal(get32(buf, HDR(owner_off)), 0); /* the file never has one */
	assert_int_equal(sectx_nss_cache_attach(buf, len, &m), 0);
	assert_int_equal(m.owner_off, 0);
	put32(buf, area, 0);
	assert_int_equal(sectx_nss_cache_state(&m),
			 SECTX_NSS_CACHE_CURRENT); /* no word: no check */
	put32(buf, HDR(owner_off), area);
	assert_int_equal(sectx_nss_cache_attach(buf, len, &m), 0);
	assert_int_equal(m.owner_off, area);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put32(buf, HDR(stale), cases[i].stale);
		put32(buf, area, cases[i].word);
		assert_int_equal(sectx_nss_cache_state(&m), cases[i].want);
		assert_int_equal(sectx_nss_cache_is_stale(&m),
				 cases[i].stale != SECTX_NSS_CACHE_CURRENT);
	}
	all_lookups(&m);
	free(buf);
}

/* Offset of the record a lookup of name in table t would reach first. */
static uint32_t first_rec(const uint8_t *buf, int t, const char *name, uint32_t id, int by_id)
{
	struct sectx_nss_cache_map m;
	uint64_t h;
	uint32_t nslots, off, key, i;

	assert_int_equal(sectx_nss_cache_attach(buf, get32(buf, HDR(file_size)), &m), 0);
	nslots = m.tables[t].nslots;
	h = by_id ? sectx_nss_cache_id_hash(m.seed, id)
		  : sectx_nss_cache_hash(m.seed, name, strlen(name));
	key = by_id ? id : (uint32_t)(h >> 32);
	for (i = 0; i < nslots; i++) {
		size_t s = m.tables[t].off + (((uint32_t)h + i) & (nslots - 1)) * 8;

		if (get32(buf, s) == key) {
			off = get32(buf, s + 4);
			return off;
		}
	}
	fail();
	return 0;
}

static void test_corrupt_records(void **state)
{
	struct fixture *f = *state;
	struct sectx_nss_cache_map m;
	struct passwd pw;
	struct group gr;
	char out[2048];
	size_t len, i;
	uint8_t *orig, *buf;
	uint32_t alice, devs, memb, slot_off;

	publish(f, sample(f->mem_ctx, LATER), 1);
	orig = slurp(f, &len);
	buf = aligned_alloc(8, (len + 7) & ~(size_t)7);
	assert_non_null(buf);
	alice = first_rec(orig, SECTX_NSS_TABLE_PW_NAME, "alice", 0, 0);
	devs = first_rec(orig, SECTX_NSS_TABLE_GR_NAME, "devs", 0, 0);
	memb = first_rec(orig, SECTX_NSS_TABLE_INITGR, "alice", 0, 0);

	struct {
		uint32_t rec;
		size_t field;
		int width;
		uint32_t value;
	} cases[] = {
	    {alice, offsetof(struct sectx_nss_cache_rec, size), 4, 0},
	    {alice, offsetof(struct sectx_nss_cache_rec, size), 4, 12},		/* unaligned */
	    {alice, offsetof(struct sectx_nss_cache_rec, size), 4, 0x7ffffff8}, /* past data */
	    {alice, offsetof(struct sectx_nss_cache_rec, kind), 2, 99},
	    {alice, offsetof(struct sectx_nss_cache_rec, kind), 2, SECTX_NSS_REC_GROUP},
	    {alice, offsetof(struct sectx_nss_cache_user, name_len), 2, 0xffff},
	    {alice, offsetof(struct sectx_nss_cache_user, shell_len), 2, 200},
	    {alice, offsetof(struct sectx_nss_cache_user, principal_len), 2, 4000},
	    {alice, offsetof(struct sectx_nss_cache_user, name_len), 2, 0},
	    {devs, offsetof(struct sectx_nss_cache_group, nmem), 4, 4}, /* one NUL short */
	    {devs, offsetof(struct sectx_nss_cache_group, nmem), 4, 2}, /* one NUL too many */
	    {devs, offsetof(struct sectx_nss_cache_group, nmem), 4, 0xffffffff},
	    {devs, offsetof(struct sectx_nss_cache_group, members_size), 4, 0xfffffff0},
	    {devs, offsetof(struct sectx_nss_cache_group, members_size), 4, 0},
	    {devs, offsetof(struct sectx_nss_cache_group, name_len), 2, 1000},
	    {memb, offsetof(struct sectx_nss_cache_membership, ngids), 4, 0x40000000},
	    {memb, offsetof(struct sectx_nss_cache_membership, ngids), 4, 70000},
	    {memb, offsetof(struct sectx_nss_cache_membership, alias_len), 2, 0x8000},
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(buf, orig, len);
		if (cases[i].width == 2) {
			uint16_t v = (uint16_t)cases[i].value;

			memcpy(buf + cases[i].rec + cases[i].field, &v, 2);
		} else {
			put32(buf, cases[i].rec + cases[i].field, cases[i].value);
		}
		assert_int_equal(sectx_nss_cache_attach(buf, len, &m), 0);
		all_lookups(&m);
	}
	/* members without their NUL: the group must not be returned */
	memcpy(buf, orig, len);
	for (i = devs + sizeof(struct sectx_nss_cache_group); i < len; i++) {
		if (memcmp(buf + i, "carol@OTHER.REALM", 18) == 0) {
			buf[i + 17] = 'X';
			break;
		}
	}
	assert_int_equal(sectx_nss_cache_attach(buf, len, &m), 0);
	assert_int_equal(sectx_nss_cache_getgrnam(&m, "devs", NOW, &gr, out, sizeof(out)),
			 SECTX_NSS_CACHE_CORRUPT);

	/* slots pointing outside the data area, misaligned, or at the header */
	for (i = 0; i < 5; i++) {
		static const uint32_t bad[] = {8, 0xfffffff8u, 1, 0};

		memcpy(buf, orig, len);
		assert_int_equal(sectx_nss_cache_attach(buf, len, &m), 0);
		for (uint32_t s = 0; s < m.tables[SECTX_NSS_TABLE_PW_NAME].nslots; s++) {
			slot_off = m.tables[SECTX_NSS_TABLE_PW_NAME].off + s * 8 + 4;
			if (get32(buf, slot_off) != 0) {
				put32(buf, slot_off,
				      i < 3 ? bad[i] : get32(buf, slot_off) + 8 * (uint32_t)i);
			}
		}
		assert_int_equal(sectx_nss_cache_attach(buf, len, &m), 0);
		all_lookups(&m);
	}
	/* a uid slot whose record has another uid is not a hit */
	memcpy(buf, orig, len);
	put32(buf, alice + offsetof(struct sectx_nss_cache_user, uid), 10002);
	assert_int_equal(sectx_nss_cache_attach(buf, len, &m), 0);
	assert_int_not_equal(sectx_nss_cache_getpwuid(&m, 10001, NOW, &pw, out, sizeof(out)),
			     SECTX_NSS_CACHE_HIT);

	/* a full table (no empty slot): bounded probing, then CORRUPT */
	memcpy(buf, orig, len);
	assert_int_equal(sectx_nss_cache_attach(buf, len, &m), 0);
	for (uint32_t s = 0; s < m.tables[SECTX_NSS_TABLE_PW_UID].nslots; s++) {
		slot_off = m.tables[SECTX_NSS_TABLE_PW_UID].off + s * 8;
		put32(buf, slot_off, 1);
		put32(buf, slot_off + 4, alice);
	}
	assert_int_equal(sectx_nss_cache_getpwuid(&m, 4242, NOW, &pw, out, sizeof(out)),
			 SECTX_NSS_CACHE_CORRUPT);
	free(buf);
	free(orig);
}

/* Every byte of a small file set to a few values, every lookup tried. */
static void test_corrupt_every_byte(void **state)
{
	struct fixture *f = *state;
	static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
	struct sectx_nss_cache_map m;
	size_t len, i, v;
	uint8_t *orig, *buf;

	publish(f, sample(f->mem_ctx, LATER), 1);
	orig = slurp(f, &len);
	buf = aligned_alloc(8, (len + 7) & ~(size_t)7);
	assert_non_null(buf);
	for (i = 0; i < len; i++) {
		for (v = 0; v < sizeof(values); v++) {
			memcpy(buf, orig, len);
			buf[i] = values[v];
			if (sectx_nss_cache_attach(buf, len, &m) == 0) {
				all_lookups(&m);
			}
		}
	}
	free(buf);
	free(orig);
}

/* --- concurrent republication ----------------------------------------------------------------- */

#define RACE_USERS  200
#define RACE_ROUNDS 60

struct race {
	struct fixture *f;
	volatile int stop;
	unsigned long hits, remaps, bad; /* cmocka asserts only in the main thread */
};

/* Map dirfd/cache as an older module did: open, fstat, mmap, close. */
static int race_map(int dirfd, struct sectx_nss_cache_map *m)
{
	return map_shared(dirfd, "cache", m);
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	struct sectx_nss_cache_map m = {0};
	struct passwd pw;
	char buf[512], name[32], want[64];
	unsigned i = 0;

	while (!r->stop) {
		enum sectx_nss_cache_result res;

		if (m.base == NULL || sectx_nss_cache_is_stale(&m)) {
			nss_cache_unmap(&m);
			if (race_map(r->f->dirfd, &m) != 0) {
				continue;
			}
			__atomic_add_fetch(&r->remaps, 1, __ATOMIC_RELAXED);
		}
		snprintf(name, sizeof(name), "user%u", i % RACE_USERS);
		res = sectx_nss_cache_getpwnam(&m, name, NOW, &pw, buf, sizeof(buf));
		/* generation g wrote gecos "g" and home "/home/g/i": any mix of
		 * two generations or a partial write would show here */
		if (res == SECTX_NSS_CACHE_HIT) {
			snprintf(want, sizeof(want), "/home/%s/%u", pw.pw_gecos, i % RACE_USERS);
		}
		if (res != SECTX_NSS_CACHE_HIT || strcmp(pw.pw_dir, want) != 0 ||
		    pw.pw_uid != 1000000 + i % RACE_USERS) {
			__atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&r->hits, 1, __ATOMIC_RELAXED);
		}
		i++;
	}
	nss_cache_unmap(&m);
	return NULL;
}

static void race_publish(struct fixture *f, unsigned gen)
{
	struct nss_cache_builder *b = NULL;
	TALLOC_CTX *tmp = talloc_new(NULL);
	char name[32], gecos[32], home[64];
	unsigned i;

	assert_int_equal(nss_cache_builder_new(tmp, 0, &b), 0);
	for (i = 0; i < RACE_USERS; i++) {
		struct nss_cache_user u = {
		    .name = name,
		    .gecos = gecos,
		    .home = home,
		    .shell = "/bin/sh",
		    .uid = 1000000 + i,
		    .gid = 1000000 + i,
		    .expires = LATER,
		};

		snprintf(name, sizeof(name), "user%u", i);
		snprintf(gecos, sizeof(gecos), "%u", gen);
		snprintf(home, sizeof(home), "/home/%u/%u", gen, i);
		assert_int_equal(nss_cache_add_user(b, &u), 0);
	}
	assert_int_equal(nss_cache_write(b, f->dirfd, "cache", gen, NOW, NULL), 0);
	talloc_free(tmp);
}

static void test_concurrent_republish(void **state)
{
	struct fixture *f = *state;
	struct race r = {.f = f};
	pthread_t th[4];
	unsigned gen;
	size_t i;

	race_publish(f, 1);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, race_reader, &r), 0);
	}
	for (gen = 2; gen < 2 + RACE_ROUNDS; gen++) {
		race_publish(f, gen);
		usleep(2000);
	}
	r.stop = 1;
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
	}
	assert_int_equal(r.bad, 0);
	assert_true(r.hits > 0);
	assert_true(r.remaps >= 4);
}

/* A reader that opens the name while the helper republishes (as a new
 * process copying the file does, and as every reader did at each helper
 * start) must always find a current file there: the replaced one is
 * flagged only after the new one has taken its name, so a reader that finds
 * its file flagged finds another at the name.  Flagging first left a window
 * in which the name held a flagged file and nothing else, and readers fell
 * back to a helper that was not listening yet. */
struct name_watch {
	int dirfd;
	volatile int stop;
	unsigned long looks, flagged, stale_at_name, missing;
};

/* Open the name: its inode and stale word.  0 or -1. */
static int look_at_name(int dirfd, ino_t *ino, uint32_t *word)
{
	struct stat st;
	int fd = openat(dirfd, "cache", O_RDONLY | O_CLOEXEC);
	int ret = -1;

	if (fd < 0) {
		return -1;
	}
	if (fstat(fd, &st) == 0 &&
	    pread(fd, word, sizeof(*word), offsetof(struct sectx_nss_cache_header, stale)) ==
		(ssize_t)sizeof(*word)) {
		*ino = st.st_ino;
		ret = 0;
	}
	close(fd);
	return ret;
}

static void *watch_name(void *arg)
{
	struct name_watch *w = arg;

	while (!w->stop) {
		uint32_t word = 0, again = 0;
		ino_t ino = 0, ino2 = 0;

		if (look_at_name(w->dirfd, &ino, &word) != 0) {
			__atomic_add_fetch(&w->missing, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_add_fetch(&w->looks, 1, __ATOMIC_RELAXED);
		if (word == SECTX_NSS_CACHE_CURRENT) {
			continue;
		}
		/* flagged: replaced meanwhile, or still the one at the name? */
		__atomic_add_fetch(&w->flagged, 1, __ATOMIC_RELAXED);
		if (look_at_name(w->dirfd, &ino2, &again) == 0 && ino2 == ino) {
			__atomic_add_fetch(&w->stale_at_name, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void test_name_never_stale_while_republishing(void **state)
{
	struct fixture *f = *state;
	struct name_watch w = {.dirfd = f->dirfd};
	pthread_t th[2];
	unsigned gen;
	size_t i;

	race_publish(f, 1);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, watch_name, &w), 0);
	}
	for (gen = 2; gen < 2 + 200; gen++) {
		race_publish(f, gen);
	}
	w.stop = 1;
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
	}
	print_message("%lu looks at the name: %lu found their file flagged, %lu of them found "
		      "it still at the name, %lu found nothing\n",
		      w.looks, w.flagged, w.stale_at_name, w.missing);
	assert_true(w.looks > 0);
	assert_int_equal(w.stale_at_name, 0);
	assert_int_equal(w.missing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_and_complete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_erange, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_and_slot_collisions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_collision, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_republish_marks_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_and_owner_word, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_every_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_republish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_never_stale_while_republishing, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
