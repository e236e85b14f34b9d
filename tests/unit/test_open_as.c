/*
 * test_open_as.c - unit tests for common/open_as.c: an open with another
 * uid's file-system rights reaches only what that uid may open, follows no
 * final link with O_NOFOLLOW, never blocks on a FIFO with O_NONBLOCK, and
 * leaves this thread's rights as they were.  Switching rights needs root:
 * those tests skip otherwise (CI runs them as root).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "open_as.h"

#define NOBODY 65534
#define FLAGS  (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/sectx-openas-XXXXXX");
	if (mkdtemp(dir) == NULL || chmod(dir, 0755) != 0) {
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* path of name in dir, in a static buffer */
static const char *in_dir(const char *name)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void make_file(const char *name, mode_t mode, uid_t owner)
{
	int fd = open(in_dir(name), O_WRONLY | O_CREAT | O_EXCL, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(chmod(in_dir(name), mode), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(in_dir(name), owner, owner), 0);
	}
}

static void test_as_self_is_a_plain_open(void **state)
{
	int fd;

	(void)state;
	make_file("mine", 0600, geteuid());
	fd = sectx_open_as(in_dir("mine"), FLAGS, geteuid(), getegid());
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sectx_open_as(in_dir("absent"), FLAGS, geteuid(), getegid()), -ENOENT);
}

static void test_other_uid_gets_only_its_rights(void **state)
{
	int fd;

	(void)state;
	if (geteuid() != 0) {
		skip();
	}
	make_file("root-only", 0600, 0);
	make_file("nobodys", 0600, NOBODY);
	assert_int_equal(sectx_open_as(in_dir("root-only"), FLAGS, NOBODY, NOBODY), -EACCES);
	fd = sectx_open_as(in_dir("nobodys"), FLAGS, NOBODY, NOBODY);
	assert_true(fd >= 0);
	close(fd);
	/* and this thread is root again for the file system */
	assert_int_equal((int)setfsuid((uid_t)-1), 0);
	assert_int_equal((int)setfsgid((gid_t)-1), 0);
	fd = open(in_dir("root-only"), FLAGS);
	assert_true(fd >= 0);
	close(fd);
}

static void test_final_link_not_followed(void **state)
{
	char target[128];

	(void)state;
	make_file("target", 0644, geteuid());
	snprintf(target, sizeof(target), "%s", in_dir("target"));
	assert_int_equal(symlink(target, in_dir("link")), 0);
	assert_int_equal(sectx_open_as(in_dir("link"), FLAGS, geteuid(), getegid()), -ELOOP);
}

static void test_fifo_does_not_block(void **state)
{
	struct stat st;
	int fd;

	(void)state;
	assert_int_equal(mkfifo(in_dir("fifo"), 0666), 0);
	fd = sectx_open_as(in_dir("fifo"), FLAGS, geteuid() == 0 ? NOBODY : geteuid(),
			   geteuid() == 0 ? NOBODY : getegid());
	assert_true(fd >= 0); /* no writer, yet no wait: the caller refuses it by type */
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_as_self_is_a_plain_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_uid_gets_only_its_rights, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_final_link_not_followed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_does_not_block, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
