/*
 * test_state_file.c - unit tests of helper/state_file.c: the header format,
 * the round trip through the atomic writer, the modes of the directory and
 * files, and that every class of corrupt file is moved aside (never
 * deleted, never loaded) while the caller is told to start empty.
 *
 * Each test works in a fresh directory under $TMPDIR (or /tmp) and removes
 * it afterwards.  The owner case needs root and skip()s otherwise.  No
 * network, nothing outside the temp directory is touched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif

#include "core/state_file.h"

#include <dirent.h>
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

#include "atomic_file.h"
#include "log.h"

#define KIND SECTX_STATE_KIND('T', 'E', 'S', 'T')
#define MAXV 2u

struct fixture {
	char path[PATH_MAX - 64];
	char state[PATH_MAX]; /* path/state: made by sectx_state_dir_open */
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
	snprintf(f->path, sizeof(f->path), "%s/test_state_file.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->path) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->state, sizeof(f->state), "%s/state", f->path);
	f->dirfd = sectx_state_dir_open(f->state);
	f->mem_ctx = talloc_new(NULL);
	*state = f;
	return f->dirfd >= 0 && f->mem_ctx != NULL ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (f->dirfd >= 0) {
		close(f->dirfd);
	}
	talloc_free(f->mem_ctx);
	free(f);
	return 0;
}

/* Create dirfd/name with len raw bytes, plainly (as a broken writer might). */
static void put_raw(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* Number of entries named prefix* in the state directory; the last one's
 * name goes to last (if not NULL). */
static int count_prefix(struct fixture *f, const char *prefix, char *last, size_t lastsz)
{
	DIR *d = opendir(f->state);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			n++;
			if (last != NULL) {
				snprintf(last, lastsz, "%s", de->d_name);
			}
		}
	}
	closedir(d);
	return n;
}

static void test_round_trip_and_modes(void **state)
{
	struct fixture *f = *state;
	static const uint8_t payload[] = {0, 1, 2, 'a', 0, 0xff, '\n'};
	uint8_t *out = NULL;
	size_t len = 0;
	uint32_t version = 0;
	struct stat st;

	/* the directory was created 0700, owned by us */
	assert_int_equal(stat(f->state, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, geteuid());

	umask(0); /* the file mode must not depend on it */
	assert_int_equal(sectx_state_save(f->dirfd, "s", KIND, 2, payload, sizeof(payload)), 0);
	umask(022);
	assert_int_equal(fstatat(f->dirfd, "s", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SECTX_STATE_HDR_LEN + sizeof(payload));
	assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, "s", "test", KIND, MAXV, 1024, &out,
					  &len, &version),
			 0);
	assert_int_equal(len, sizeof(payload));
	assert_memory_equal(out, payload, len);
	assert_int_equal(out[len], 0); /* NUL-terminated for convenience */
	assert_int_equal(version, 2);

	/* an older version is still read, and reported as such */
	assert_int_equal(sectx_state_save(f->dirfd, "s", KIND, 1, payload, 3), 0);
	assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, "s", "test", KIND, MAXV, 1024, &out,
					  &len, &version),
			 0);
	assert_int_equal(len, 3);
	assert_int_equal(version, 1);

	/* empty payload */
	assert_int_equal(sectx_state_save(f->dirfd, "e", KIND, 1, NULL, 0), 0);
	assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, "e", "test", KIND, MAXV, 1024, &out,
					  &len, &version),
			 0);
	assert_int_equal(len, 0);

	/* nothing else was left in the directory (temp files) */
	assert_int_equal(count_prefix(f, ".", NULL, 0), 2); /* . and .. */
	assert_int_equal(count_prefix(f, "", NULL, 0), 4);
}

static void test_missing_is_enoent(void **state)
{
	struct fixture *f = *state;
	uint8_t *out = NULL;
	size_t len = 0;
	uint32_t version = 0;

	assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, "none", "test", KIND, MAXV, 1024,
					  &out, &len, &version),
			 -ENOENT);
	assert_int_equal(count_prefix(f, "none", NULL, 0), 0);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	uint8_t *out = NULL;
	size_t len = 0;
	char why[64];
	const uint8_t *p;
	uint32_t v;

	assert_int_equal(sectx_state_encode(f->mem_ctx, KIND, 0, "x", 1, &out, &len), -EINVAL);
	assert_int_equal(sectx_state_encode(f->mem_ctx, KIND, 1, NULL, 1, &out, &len), -EINVAL);
	assert_int_equal(
	    sectx_state_encode(f->mem_ctx, KIND, 1, "x", SECTX_STATE_PAYLOAD_MAX + 1u, &out, &len),
	    -EINVAL);
	assert_int_equal(sectx_state_save(f->dirfd, "a/b", KIND, 1, "x", 1), -EINVAL);
	assert_int_equal(sectx_state_save(-1, "s", KIND, 1, "x", 1), -EINVAL);
	assert_int_equal(sectx_state_decode(NULL, 0, KIND, 1, 10, &p, &len, &v, why, sizeof(why)),
			 -EBADMSG);
}

/* One corruption class: a transformation of a good image and the reason
 * decode must give. */
struct corruption {
	const char *label;
	const char *reason; /* substring of why */
	void (*apply)(uint8_t *img, size_t *len);
};

static void c_magic(uint8_t *img, size_t *len)
{
	(void)len;
	img[0] ^= 0x20;
}
static void c_kind(uint8_t *img, size_t *len)
{
	(void)len;
	img[11] = 'X';
}
static void c_version0(uint8_t *img, size_t *len)
{
	(void)len;
	memset(img + 12, 0, 4);
}
static void c_version_new(uint8_t *img, size_t *len)
{
	(void)len;
	img[15] = MAXV + 1;
}
static void c_trunc_header(uint8_t *img, size_t *len)
{
	(void)img;
	*len = 20;
}
static void c_empty(uint8_t *img, size_t *len)
{
	(void)img;
	*len = 0;
}
static void c_trunc_payload(uint8_t *img, size_t *len)
{
	(void)img;
	*len -= 1;
}
static void c_trailing(uint8_t *img, size_t *len)
{
	img[*len] = 'z';
	*len += 1;
}
static void c_checksum_payload(uint8_t *img, size_t *len)
{
	img[*len - 1] ^= 1;
}
static void c_checksum_field(uint8_t *img, size_t *len)
{
	(void)len;
	img[24] ^= 0x80;
}
static void c_reserved(uint8_t *img, size_t *len)
{
	(void)len;
	img[31] = 1;
}
static void c_huge_length(uint8_t *img, size_t *len)
{
	(void)len;
	memset(img + 16, 0xff, 8);
}

static const struct corruption corruptions[] = {
    {"bad magic", "bad magic", c_magic},
    {"other kind", "wrong kind", c_kind},
    {"version 0", "unknown format version 0", c_version0},
    {"newer version", "unknown format version 3", c_version_new},
    {"truncated header", "truncated header", c_trunc_header},
    {"empty file", "truncated header", c_empty},
    {"truncated payload", "truncated", c_trunc_payload},
    {"trailing bytes", "after the payload", c_trailing},
    {"payload bit flip", "bad checksum", c_checksum_payload},
    {"checksum bit flip", "bad checksum", c_checksum_field},
    {"reserved field", "reserved", c_reserved},
    {"absurd length", "exceeds", c_huge_length},
};

static void test_every_corruption_moved_aside(void **state)
{
	struct fixture *f = *state;
	static const char payload[] = "session record bytes";
	size_t i;

	for (i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++) {
		const struct corruption *c = &corruptions[i];
		uint8_t *good = NULL, img[256], *out = NULL, *aside_data = NULL;
		size_t good_len = 0, len, out_len = 0, aside_len = 0;
		const uint8_t *p = NULL;
		uint32_t v = 0;
		char why[160] = "", name[32], aside[NAME_MAX + 1] = "", prefix[48];

		print_message("corruption: %s\n", c->label);
		assert_int_equal(sectx_state_encode(f->mem_ctx, KIND, 1, payload, strlen(payload),
						    &good, &good_len),
				 0);
		assert_true(good_len < sizeof(img) - 1);
		memcpy(img, good, good_len);
		len = good_len;
		c->apply(img, &len);

		/* decode names the reason */
		assert_int_equal(sectx_state_decode(img, len, KIND, MAXV, 1024, &p, &out_len, &v,
						    why, sizeof(why)),
				 -EBADMSG);
		if (strstr(why, c->reason) == NULL) {
			fail_msg("%s: reason \"%s\" lacks \"%s\"", c->label, why, c->reason);
		}

		/* load moves the file aside, byte for byte, and says start empty */
		snprintf(name, sizeof(name), "c%zu", i);
		snprintf(prefix, sizeof(prefix), "%s.corrupt-", name);
		put_raw(f->dirfd, name, img, len, 0600);
		assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, name, "test", KIND, MAXV,
						  1024, &out, &out_len, &v),
				 -EBADMSG);
		assert_int_equal(faccessat(f->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW), -1);
		assert_int_equal(count_prefix(f, prefix, aside, sizeof(aside)), 1);
		assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, aside, 4096,
						    (char **)&aside_data, &aside_len),
				 0);
		assert_int_equal(aside_len, len);
		if (len > 0) {
			assert_memory_equal(aside_data, img, len);
		}
		/* and a fresh save then works under the same name */
		assert_int_equal(sectx_state_save(f->dirfd, name, KIND, 1, "ok", 2), 0);
		assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, name, "test", KIND, MAXV,
						  1024, &out, &out_len, &v),
				 0);
		assert_int_equal(out_len, 2);
	}
}

/* A payload larger than the caller's bound is refused before it is read. */
static void test_too_big_moved_aside(void **state)
{
	struct fixture *f = *state;
	static char payload[2048];
	uint8_t *out = NULL;
	size_t len = 0;
	uint32_t v = 0;

	memset(payload, 'p', sizeof(payload));
	assert_int_equal(sectx_state_save(f->dirfd, "big", KIND, 1, payload, sizeof(payload)), 0);
	assert_int_equal(
	    sectx_state_load(f->mem_ctx, f->dirfd, "big", "test", KIND, MAXV, 1024, &out, &len, &v),
	    -EBADMSG);
	assert_int_equal(count_prefix(f, "big.corrupt-", NULL, 0), 1);
}

/* Not a regular file, or a mode beyond 0600: not trusted, moved aside. */
static void test_untrusted_files_moved_aside(void **state)
{
	struct fixture *f = *state;
	uint8_t *img = NULL, *out = NULL;
	size_t img_len = 0, len = 0;
	uint32_t v = 0;
	struct stat st;

	assert_int_equal(sectx_state_encode(f->mem_ctx, KIND, 1, "x", 1, &img, &img_len), 0);

	/* a symlink to a good file: never followed, moved aside as a link */
	put_raw(f->dirfd, "target", img, img_len, 0600);
	assert_int_equal(symlinkat("target", f->dirfd, "link"), 0);
	assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, "link", "test", KIND, MAXV, 1024,
					  &out, &len, &v),
			 -EBADMSG);
	assert_int_equal(count_prefix(f, "link.corrupt-", NULL, 0), 1);
	assert_int_equal(fstatat(f->dirfd, "target", &st, AT_SYMLINK_NOFOLLOW), 0);

	/* a directory */
	assert_int_equal(mkdirat(f->dirfd, "dir", 0700), 0);
	assert_int_equal(
	    sectx_state_load(f->mem_ctx, f->dirfd, "dir", "test", KIND, MAXV, 1024, &out, &len, &v),
	    -EBADMSG);
	assert_int_equal(count_prefix(f, "dir.corrupt-", NULL, 0), 1);

	/* group- or world-accessible */
	put_raw(f->dirfd, "loose", img, img_len, 0644);
	assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, "loose", "test", KIND, MAXV, 1024,
					  &out, &len, &v),
			 -EBADMSG);
	assert_int_equal(count_prefix(f, "loose.corrupt-", NULL, 0), 1);
}

static void test_other_owner_moved_aside(void **state)
{
	struct fixture *f = *state;
	uint8_t *img = NULL, *out = NULL;
	size_t img_len = 0, len = 0;
	uint32_t v = 0;

	if (geteuid() != 0) {
		skip();
	}
	assert_int_equal(sectx_state_encode(f->mem_ctx, KIND, 1, "x", 1, &img, &img_len), 0);
	put_raw(f->dirfd, "theirs", img, img_len, 0600);
	assert_int_equal(fchownat(f->dirfd, "theirs", 1, 1, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, "theirs", "test", KIND, MAXV, 1024,
					  &out, &len, &v),
			 -EBADMSG);
	assert_int_equal(count_prefix(f, "theirs.corrupt-", NULL, 0), 1);
}

/* Two corrupt files in the same second: the second never replaces the first. */
static void test_aside_never_replaces(void **state)
{
	struct fixture *f = *state;
	uint8_t *out = NULL;
	size_t len = 0;
	uint32_t v = 0;
	int i;

	for (i = 0; i < 3; i++) {
		put_raw(f->dirfd, "s", "garbage", 7, 0600);
		assert_int_equal(sectx_state_load(f->mem_ctx, f->dirfd, "s", "test", KIND, MAXV,
						  1024, &out, &len, &v),
				 -EBADMSG);
	}
	/* at least 3 distinct names, whatever the clock did meanwhile */
	assert_int_equal(count_prefix(f, "s.corrupt-", NULL, 0), 3);
	assert_int_equal(sectx_state_move_aside(f->dirfd, "s", "test", "gone"), -ENOENT);
}

/* Temp files an interrupted save of a name left are removed; the file
 * itself, other names' temps, look-alikes and non-files are kept. */
static void test_leftover_temps_removed(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(sectx_state_save(f->dirfd, "sessions", 0x53455353u, 1, "x", 1), 0);
	put_raw(f->dirfd, ".sessions.a1B2c3", "half", 4, 0600);
	put_raw(f->dirfd, ".sessions.Zz9yY8", "", 0, 0600);
	put_raw(f->dirfd, ".idmap.a1B2c3", "other", 5, 0600);
	put_raw(f->dirfd, ".sessions.toolong7", "keep", 4, 0600);
	assert_int_equal(mkdirat(f->dirfd, ".sessions.dir123", 0700), 0);

	assert_int_equal(sectx_state_remove_temps(f->dirfd, "sessions"), 2);
	assert_int_equal(fstatat(f->dirfd, ".sessions.a1B2c3", &st, 0), -1);
	assert_int_equal(fstatat(f->dirfd, ".sessions.Zz9yY8", &st, 0), -1);
	assert_int_equal(fstatat(f->dirfd, "sessions", &st, 0), 0);
	assert_int_equal(fstatat(f->dirfd, ".idmap.a1B2c3", &st, 0), 0);
	assert_int_equal(fstatat(f->dirfd, ".sessions.toolong7", &st, 0), 0);
	assert_int_equal(fstatat(f->dirfd, ".sessions.dir123", &st, 0), 0);
	assert_int_equal(sectx_state_remove_temps(f->dirfd, "sessions"), 0);
}

/* The directory must be ours and 0700: a looser existing one is refused. */
static void test_dir_mode_checked(void **state)
{
	struct fixture *f = *state;
	char loose[PATH_MAX];

	snprintf(loose, sizeof(loose), "%s/loose", f->path);
	assert_int_equal(mkdir(loose, 0755), 0);
	assert_int_equal(chmod(loose, 0755), 0);
	assert_int_equal(sectx_state_dir_open(loose), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip_and_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_is_enoent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_corruption_moved_aside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_big_moved_aside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_untrusted_files_moved_aside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_owner_moved_aside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_aside_never_replaces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir_mode_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leftover_temps_removed, setup, teardown),
	};

	sectx_log_init("test_state_file", 1, SECTX_LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
