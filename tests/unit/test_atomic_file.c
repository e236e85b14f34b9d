/*
 * test_atomic_file.c - unit tests of common/atomic_file.c.
 *
 * Each test works in a fresh directory under $TMPDIR (or /tmp) and removes
 * it afterwards.  Cases that only make sense as root (chown to another uid)
 * or only as an ordinary user (a directory root could still write) skip()
 * otherwise; run the binary both ways to cover all of them.  No network,
 * nothing outside the temp directory is touched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif

#include "atomic_file.h"

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

struct fixture {
	char path[PATH_MAX];
	int dirfd;
	TALLOC_CTX *mem_ctx;
	mode_t old_umask;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL) {
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/test_atomic_file.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->path) == NULL) {
		free(f);
		return -1;
	}
	f->dirfd = open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->mem_ctx = talloc_new(NULL);
	f->old_umask = umask(022);
	umask(f->old_umask);
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

	umask(f->old_umask);
	chmod(f->path, 0700); /* a test may have made it read-only */
	nftw(f->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (f->dirfd >= 0) {
		close(f->dirfd);
	}
	talloc_free(f->mem_ctx);
	free(f);
	return 0;
}

/* Create dirfd/name with content, plainly. */
static void put_file(int dirfd, const char *name, const char *content, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(close(fd), 0);
}

/* Assert dirfd/name holds exactly content. */
static void assert_content(struct fixture *f, const char *name, const char *content)
{
	char *data = NULL;
	size_t len = 0;

	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, name, 1 << 20, &data, &len), 0);
	assert_int_equal(len, strlen(content));
	assert_memory_equal(data, content, len);
	talloc_free(data);
}

/* Entries in the directory other than . and .. */
static int count_entries(struct fixture *f)
{
	DIR *d = opendir(f->path);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			n++;
		}
	}
	closedir(d);
	return n;
}

static void test_write_mode_exact_despite_umask(void **state)
{
	struct fixture *f = *state;
	static const mode_t modes[] = {0600, 0644};
	static const mode_t masks[] = {077, 000};
	size_t i, j;

	for (i = 0; i < 2; i++) {
		for (j = 0; j < 2; j++) {
			char name[32];
			struct stat st;

			snprintf(name, sizeof(name), "f%zu%zu", i, j);
			umask(masks[j]);
			assert_int_equal(sectx_atomic_write_at(f->dirfd, name, "hello", 5, modes[i],
							       (uid_t)-1, (gid_t)-1),
					 0);
			assert_int_equal(fstatat(f->dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
			assert_true(S_ISREG(st.st_mode));
			assert_int_equal(st.st_mode & 07777, modes[i]);
			assert_int_equal(st.st_uid, geteuid());
			assert_content(f, name, "hello");
		}
	}
	assert_int_equal(count_entries(f), 4); /* no temp file left */
}

static void test_write_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sectx_atomic_write_at(f->dirfd, "e", NULL, 0, 0600, (uid_t)-1, (gid_t)-1),
			 0);
	assert_content(f, "e", "");
}

static void test_overwrite(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	put_file(f->dirfd, "state", "old content", 0666);
	assert_int_equal(
	    sectx_atomic_write_at(f->dirfd, "state", "new", 3, 0640, (uid_t)-1, (gid_t)-1), 0);
	assert_content(f, "state", "new");
	assert_int_equal(fstatat(f->dirfd, "state", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(count_entries(f), 1);
}

static void test_bad_arguments_keep_old(void **state)
{
	struct fixture *f = *state;
	char longname[NAME_MAX];
	static const char *const bad[] = {"", "a/b", "/state", ".", "..", "state/"};
	size_t i;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0'; /* 254: no room for ".name.XXXXXX" */
	put_file(f->dirfd, "state", "old", 0600);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    sectx_atomic_write_at(f->dirfd, bad[i], "new", 3, 0600, (uid_t)-1, (gid_t)-1),
		    -EINVAL);
	}
	assert_int_equal(
	    sectx_atomic_write_at(f->dirfd, longname, "new", 3, 0600, (uid_t)-1, (gid_t)-1),
	    -EINVAL);
	assert_int_equal(
	    sectx_atomic_write_at(f->dirfd, NULL, "new", 3, 0600, (uid_t)-1, (gid_t)-1), -EINVAL);
	assert_int_equal(
	    sectx_atomic_write_at(f->dirfd, "state", "new", 3, 010600, (uid_t)-1, (gid_t)-1),
	    -EINVAL);
	assert_int_equal(sectx_atomic_write_at(-1, "state", "new", 3, 0600, (uid_t)-1, (gid_t)-1),
			 -EINVAL);
	assert_int_equal(
	    sectx_atomic_write_at(AT_FDCWD, "state", "new", 3, 0600, (uid_t)-1, (gid_t)-1),
	    -EINVAL);
	assert_int_equal(
	    sectx_atomic_write_at(f->dirfd, "state", NULL, 3, 0600, (uid_t)-1, (gid_t)-1), -EINVAL);
	assert_content(f, "state", "old");
	assert_int_equal(count_entries(f), 1);
}

/* rename fails (EISDIR) after the temp file is written: temp removed, target intact. */
static void test_rename_failure_cleans_up(void **state)
{
	struct fixture *f = *state;
	int sub;

	assert_int_equal(mkdirat(f->dirfd, "d", 0700), 0);
	sub = openat(f->dirfd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	put_file(sub, "inside", "kept", 0600);
	close(sub);
	assert_int_equal(sectx_atomic_write_at(f->dirfd, "d", "new", 3, 0600, (uid_t)-1, (gid_t)-1),
			 -EISDIR);
	assert_int_equal(count_entries(f), 1);
	assert_int_equal(faccessat(f->dirfd, "d/inside", F_OK, 0), 0);
}

static void test_readonly_dir_keeps_old(void **state)
{
	struct fixture *f = *state;

	if (geteuid() == 0) {
		skip(); /* root writes into a 0555 directory anyway */
	}
	put_file(f->dirfd, "state", "old", 0600);
	assert_int_equal(fchmod(f->dirfd, 0555), 0);
	assert_int_equal(
	    sectx_atomic_write_at(f->dirfd, "state", "new", 3, 0600, (uid_t)-1, (gid_t)-1),
	    -EACCES);
	assert_int_equal(fchmod(f->dirfd, 0700), 0);
	assert_content(f, "state", "old");
	assert_int_equal(count_entries(f), 1);
}

static void test_chown_refused_keeps_old(void **state)
{
	struct fixture *f = *state;

	if (geteuid() == 0) {
		skip(); /* root may chown */
	}
	put_file(f->dirfd, "state", "old", 0600);
	assert_int_equal(sectx_atomic_write_at(f->dirfd, "state", "new", 3, 0600, 0, 0), -EPERM);
	assert_content(f, "state", "old");
	assert_int_equal(count_entries(f), 1); /* the temp file was unlinked */
}

static void test_chown_as_root(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	if (geteuid() != 0) {
		skip();
	}
	/* chown after chmod would clear the set-uid bit: the order matters */
	assert_int_equal(sectx_atomic_write_at(f->dirfd, "owned", "x", 1, 04750, 65534, 65534), 0);
	assert_int_equal(fstatat(f->dirfd, "owned", &st, 0), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(st.st_mode & 07777, 04750);
}

/* A symlink at the target name is replaced, its target left alone. */
static void test_symlink_target_replaced(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	put_file(f->dirfd, "victim", "precious", 0600);
	assert_int_equal(symlinkat("victim", f->dirfd, "link"), 0);
	assert_int_equal(
	    sectx_atomic_write_at(f->dirfd, "link", "new", 3, 0600, (uid_t)-1, (gid_t)-1), 0);
	assert_int_equal(fstatat(f->dirfd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_content(f, "link", "new");
	assert_content(f, "victim", "precious");
}

/* --- sectx_open_dir_verified --------------------------------------------------- */

static void sub_path(struct fixture *f, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", f->path, name);

	assert_true(n > 0 && n < PATH_MAX);
}

static void test_open_dir_ok(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct stat a, b;
	int fd;

	sub_path(f, "d", p);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, 0750), 0);
	fd = sectx_open_dir_verified(p, geteuid(), 0755, false);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void test_open_dir_symlink(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], l[PATH_MAX];

	sub_path(f, "d", p);
	sub_path(f, "link", l);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(symlink(p, l), 0);
	assert_int_equal(sectx_open_dir_verified(l, geteuid(), 0755, false), -ELOOP);
	assert_int_equal(sectx_open_dir_verified(l, geteuid(), 0755, true), -ELOOP);
}

static void test_open_dir_wrong_mode(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];

	sub_path(f, "d", p);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, 0757), 0);
	assert_int_equal(sectx_open_dir_verified(p, geteuid(), 0755, false), -EPERM);
	assert_int_equal(chmod(p, 0755), 0);
	assert_int_equal(sectx_open_dir_verified(p, geteuid(), 0700, true), -EPERM);
	assert_int_equal(chmod(p, 01700), 0); /* sticky is outside 0700 too */
	assert_int_equal(sectx_open_dir_verified(p, geteuid(), 0700, false), -EPERM);
}

static void test_open_dir_wrong_owner(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];

	sub_path(f, "d", p);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(sectx_open_dir_verified(p, geteuid() + 1, 0755, false), -EPERM);
}

static void test_open_dir_create_mode(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], q[PATH_MAX];
	struct stat st;
	int fd;

	sub_path(f, "pub", p);
	sub_path(f, "priv", q);
	umask(077);
	fd = sectx_open_dir_verified(p, geteuid(), 0755, true);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	umask(0);
	fd = sectx_open_dir_verified(q, geteuid(), 0700, true);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* existing and fine: opened again, mode not changed */
	assert_int_equal(chmod(p, 0711), 0);
	fd = sectx_open_dir_verified(p, geteuid(), 0755, true);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
}

static void test_open_dir_create_other_owner(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct stat st;
	int fd;

	sub_path(f, "other", p);
	if (geteuid() == 0) {
		fd = sectx_open_dir_verified(p, 65534, 0700, true);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_uid, 65534);
	} else {
		assert_int_equal(sectx_open_dir_verified(p, 0, 0700, true), -EPERM);
		assert_int_equal(stat(p, &st), -1); /* not left behind half set up */
	}
}

static void test_open_dir_missing_and_not_dir(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];

	sub_path(f, "nope", p);
	assert_int_equal(sectx_open_dir_verified(p, geteuid(), 0755, false), -ENOENT);
	sub_path(f, "nope/deeper", p);
	assert_int_equal(sectx_open_dir_verified(p, geteuid(), 0755, true), -ENOENT);
	put_file(f->dirfd, "file", "x", 0600);
	sub_path(f, "file", p);
	assert_int_equal(sectx_open_dir_verified(p, geteuid(), 0755, false), -ENOTDIR);
	assert_int_equal(sectx_open_dir_verified(p, geteuid(), 0755, true), -ENOTDIR);
	assert_int_equal(sectx_open_dir_verified(f->path, geteuid(), 010755, false), -EINVAL);
	assert_int_equal(sectx_open_dir_verified("", geteuid(), 0755, false), -EINVAL);
}

/* --- sectx_read_file_at ------------------------------------------------------- */

static void test_read_sizes(void **state)
{
	struct fixture *f = *state;
	char *data = NULL;
	size_t len = 99;

	put_file(f->dirfd, "empty", "", 0600);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "empty", 10, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(data[0], '\0');
	assert_ptr_equal(talloc_parent(data), f->mem_ctx);
	talloc_free(data);

	put_file(f->dirfd, "ten", "0123456789", 0600);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "ten", 10, &data, &len), 0);
	assert_int_equal(len, 10);
	assert_string_equal(data, "0123456789");
	talloc_free(data);
	data = NULL;
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "ten", 9, &data, &len), -EFBIG);
	assert_null(data);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "empty", 0, &data, &len), 0);
	talloc_free(data);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "ten", 0, &data, &len), -EFBIG);
}

static void test_read_binary(void **state)
{
	struct fixture *f = *state;
	static const char bytes[] = {'a', '\0', 'b', '\n', '\xff'};
	char *data = NULL;
	size_t len = 0;

	assert_int_equal(sectx_atomic_write_at(f->dirfd, "bin", bytes, sizeof(bytes), 0600,
					       (uid_t)-1, (gid_t)-1),
			 0);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "bin", 100, &data, &len), 0);
	assert_int_equal(len, sizeof(bytes));
	assert_memory_equal(data, bytes, sizeof(bytes));
	assert_int_equal(data[len], '\0');
	talloc_free(data);
}

static void test_read_refuses(void **state)
{
	struct fixture *f = *state;
	char *data = NULL;
	size_t len = 0;

	put_file(f->dirfd, "real", "secret", 0600);
	assert_int_equal(symlinkat("real", f->dirfd, "link"), 0);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "link", 100, &data, &len),
			 -ELOOP);
	assert_int_equal(mkfifoat(f->dirfd, "fifo", 0600), 0);
	alarm(5); /* a FIFO must not hang us: die instead of passing by luck */
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "fifo", 100, &data, &len),
			 -EINVAL);
	alarm(0);
	assert_int_equal(mkdirat(f->dirfd, "dir", 0700), 0);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "dir", 100, &data, &len),
			 -EINVAL);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "missing", 100, &data, &len),
			 -ENOENT);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "../real", 100, &data, &len),
			 -EINVAL);
	assert_int_equal(sectx_read_file_at(f->mem_ctx, f->dirfd, "..", 100, &data, &len), -EINVAL);
	assert_null(data);
	assert_int_equal(talloc_total_blocks(f->mem_ctx), 1); /* nothing left on mem_ctx */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_mode_exact_despite_umask, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments_keep_old, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rename_failure_cleans_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly_dir_keeps_old, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chown_refused_keeps_old, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chown_as_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_target_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_dir_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_dir_symlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_dir_wrong_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_dir_wrong_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_dir_create_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_dir_create_other_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_dir_missing_and_not_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_binary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_refuses, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
