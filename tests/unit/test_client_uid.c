/*
 * test_client_uid.c - the client refuses a helper that is not the expected
 * uid.  Built with -DSECTX_EXPECTED_SERVER_UID=4242424 (see Makefile.am), so a
 * server run by this test, whatever its uid, is an impostor.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"

static void test_impostor_refused(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sectx_conn c = SECTX_CONN_INIT;
	char dir[] = "/tmp/sectx-test-uid-XXXXXX";
	int lfd;

	assert_non_null(mkdtemp(dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, SECTX_NSS_SOCKET);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_true(geteuid() != 4242424);

	assert_int_equal(
	    sectx_client_connect(dir, SECTX_NSS_SOCKET, sectx_deadline_after(1000), &c), -EPERM);
	assert_int_equal(c.fd, -1); /* nothing left open to the impostor */

	close(lfd);
	unlink(sun.sun_path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_impostor_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
