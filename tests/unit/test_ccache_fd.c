/*
 * test_ccache_fd.c - unit tests of helper/ccache_fd.c: what a passed ccache
 * descriptor must be before the root helper reads it, and that only the TGT
 * of the cache principal's realm is kept.  No KDC: the caches are written
 * with made-up credentials by libkrb5's FILE type.
 */
#include "login/ccache_fd.h"

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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
	krb5_context k;
	char dir[PATH_MAX - 32];
	char path[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL || krb5_init_context(&f->k) != 0) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/test_ccache_fd.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL) {
		krb5_free_context(f->k);
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/cc", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char fifo[PATH_MAX];

	snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
	unlink(fifo);
	unlink(f->path);
	rmdir(f->dir);
	krb5_free_context(f->k);
	free(f);
	return 0;
}

/* Store a made-up credential client -> server in cc. */
static void store(krb5_context k, krb5_ccache cc, const char *client, const char *server)
{
	static uint8_t key[32];
	static char ticket[] = "not a real ticket";
	krb5_creds c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(krb5_parse_name(k, client, &c.client), 0);
	assert_int_equal(krb5_parse_name(k, server, &c.server), 0);
	c.keyblock.enctype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
	c.keyblock.length = sizeof(key);
	c.keyblock.contents = key;
	c.times.authtime = (krb5_timestamp)time(NULL);
	c.times.endtime = c.times.authtime + 3600;
	c.ticket.length = sizeof(ticket) - 1;
	c.ticket.data = ticket;
	assert_int_equal(krb5_cc_store_cred(k, cc, &c), 0);
	krb5_free_principal(k, c.client);
	krb5_free_principal(k, c.server);
}

/* Write f->path as a FILE ccache of alice@R with a TGT (if tgt) and n
 * service tickets; return it open read-only. */
static int write_cache(struct fixture *f, bool tgt, int n)
{
	krb5_principal me = NULL;
	krb5_ccache cc = NULL;
	char name[PATH_MAX + 8];
	int i, fd;

	snprintf(name, sizeof(name), "FILE:%s", f->path);
	assert_int_equal(krb5_cc_resolve(f->k, name, &cc), 0);
	assert_int_equal(krb5_parse_name(f->k, "alice@R.TEST", &me), 0);
	assert_int_equal(krb5_cc_initialize(f->k, cc, me), 0);
	if (tgt) {
		store(f->k, cc, "alice@R.TEST", "krbtgt/R.TEST@R.TEST");
	}
	store(f->k, cc, "alice@R.TEST", "krbtgt/OTHER.TEST@R.TEST");
	for (i = 0; i < n; i++) {
		char svc[64];

		snprintf(svc, sizeof(svc), "host/h%d.r.test@R.TEST", i);
		store(f->k, cc, "alice@R.TEST", svc);
	}
	krb5_cc_close(f->k, cc);
	krb5_free_principal(f->k, me);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Count the credentials of cc (config entries aside); the server of the
 * last one goes to *last (krb5_free_principal). */
static int count_creds(krb5_context k, krb5_ccache cc, krb5_principal *last)
{
	krb5_cc_cursor cur;
	krb5_creds c;
	int n = 0;

	assert_int_equal(krb5_cc_start_seq_get(k, cc, &cur), 0);
	while (krb5_cc_next_cred(k, cc, &cur, &c) == 0) {
		if (!krb5_is_config_principal(k, c.server)) {
			n++;
			krb5_free_principal(k, *last);
			*last = NULL;
			assert_int_equal(krb5_copy_principal(k, c.server, last), 0);
		}
		krb5_free_cred_contents(k, &c);
	}
	krb5_cc_end_seq_get(k, cc, &cur);
	return n;
}

/* Whatever else the file holds, the MEMORY cache has its principal and
 * exactly one credential: the TGT of the principal's own realm. */
static void test_only_the_tgt_is_kept(void **state)
{
	struct fixture *f = *state;
	krb5_principal p = NULL, tgs = NULL, last = NULL, alice = NULL;
	krb5_ccache mcc = NULL;
	const char *why = NULL;
	uid_t owner = 12345;
	int fd = write_cache(f, true, 40);

	assert_int_equal(sectx_ccache_from_fd(f->k, fd, getuid(), &mcc, &owner, &why), 0);
	assert_int_equal(owner, getuid());
	assert_string_equal(krb5_cc_get_type(f->k, mcc), "MEMORY");
	assert_int_equal(krb5_cc_get_principal(f->k, mcc, &p), 0);
	assert_int_equal(krb5_parse_name(f->k, "krbtgt/R.TEST@R.TEST", &tgs), 0);
	assert_int_equal(count_creds(f->k, mcc, &last), 1);
	assert_true(krb5_principal_compare(f->k, last, tgs));
	assert_int_equal(krb5_parse_name(f->k, "alice@R.TEST", &alice), 0);
	assert_true(krb5_principal_compare(f->k, p, alice));
	krb5_free_principal(f->k, last);
	krb5_free_principal(f->k, alice);
	krb5_free_principal(f->k, p);
	krb5_free_principal(f->k, tgs);
	krb5_cc_destroy(f->k, mcc);
	close(fd);
}

static void test_no_tgt_refused(void **state)
{
	struct fixture *f = *state;
	krb5_ccache mcc = NULL;
	const char *why = NULL;
	uid_t owner;
	int fd = write_cache(f, false, 2);

	assert_int_equal(sectx_ccache_from_fd(f->k, fd, SECTX_ANY_OWNER, &mcc, &owner, &why),
			 -EINVAL);
	assert_null(mcc);
	assert_non_null(strstr(why, "no TGT"));
	close(fd);
}

static void test_other_owner_refused(void **state)
{
	struct fixture *f = *state;
	krb5_ccache mcc = NULL;
	const char *why = NULL;
	uid_t owner = 0;
	int fd = write_cache(f, true, 0);

	assert_int_equal(sectx_ccache_from_fd(f->k, fd, getuid() + 1, &mcc, &owner, &why), -EPERM);
	assert_int_equal(owner, getuid());
	assert_null(mcc);
	close(fd);
}

/* Not regular files: refused before any read, so nothing can hang. */
static void test_fifo_and_device_refused(void **state)
{
	struct fixture *f = *state;
	krb5_ccache mcc = NULL;
	const char *why = NULL;
	char fifo[PATH_MAX];
	uid_t owner;
	int fd;

	snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sectx_ccache_from_fd(f->k, fd, SECTX_ANY_OWNER, &mcc, &owner, &why),
			 -EINVAL);
	close(fd);
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sectx_ccache_from_fd(f->k, fd, SECTX_ANY_OWNER, &mcc, &owner, &why),
			 -EINVAL);
	close(fd);
	assert_null(mcc);
}

/* Empty, too large (a sparse file: refused by size, never read) and bytes
 * that are not a ccache. */
static void test_bad_contents_refused(void **state)
{
	struct fixture *f = *state;
	krb5_ccache mcc = NULL;
	const char *why = NULL;
	uid_t owner;
	int fd;

	fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(sectx_ccache_from_fd(f->k, fd, SECTX_ANY_OWNER, &mcc, &owner, &why),
			 -EINVAL);
	assert_int_equal(ftruncate(fd, (off_t)SECTX_CCACHE_FILE_MAX + 1), 0);
	assert_int_equal(sectx_ccache_from_fd(f->k, fd, SECTX_ANY_OWNER, &mcc, &owner, &why),
			 -EINVAL);
	assert_non_null(strstr(why, "too large"));
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, "\x05\x04garbage, not a ccache", 24, 0), 24);
	assert_int_equal(sectx_ccache_from_fd(f->k, fd, SECTX_ANY_OWNER, &mcc, &owner, &why),
			 -EINVAL);
	assert_null(mcc);
	close(fd);
}

static void test_tmpfs_is_not_fuse(void **state)
{
	struct fixture *f = *state;
	int fd = write_cache(f, true, 0);

	assert_false(sectx_fd_on_fuse(fd));
	close(fd);
	assert_true(sectx_fd_on_fuse(-1)); /* cannot tell: treated as unsafe */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_only_the_tgt_is_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_tgt_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_owner_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_and_device_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_contents_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tmpfs_is_not_fuse, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
