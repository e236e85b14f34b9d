/*
 * test_worker.c - unit tests of helper/worker.c: a forked worker's answer
 * read whole, cut at its maximum, or empty; a worker past its deadline, or
 * whose request is freed, killed and reaped; a deadline already past forks
 * nothing.
 *
 * "Reaped" is checked as the kernel sees it: after the request is over, this
 * process has no child left (waitpid answers ECHILD).  The workers that must
 * be killed wait in pause() forever, so only the kill can end them.
 */
#include "core/worker.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"

#define DEADLINE_MS 10000 /* a worker that answers does so long before */

static void child_says(void *arg, int fd)
{
	const char *text = arg;

	(void)sectx_worker_write(fd, text, strlen(text));
}

static void child_silent(void *arg, int fd)
{
	(void)arg;
	(void)fd;
}

static void child_hangs(void *arg, int fd)
{
	(void)arg;
	(void)fd;
	for (;;) {
		pause();
	}
}

static void assert_no_child(void)
{
	int status;

	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* Run a worker to its end; its recv result, with *bytes on mem. */
static int run(TALLOC_CTX *mem, sectx_worker_fn fn, void *arg, size_t max, int64_t deadline,
	       uint8_t **bytes, size_t *len)
{
	struct tevent_context *ev = tevent_context_init(mem);
	struct tevent_req *req;
	int ret;

	assert_non_null(ev);
	req = sectx_worker_send(mem, ev, fn, arg, max, deadline);
	assert_non_null(req);
	assert_true(tevent_req_poll(req, ev));
	ret = sectx_worker_recv(req, mem, bytes, len);
	talloc_free(req);
	talloc_free(ev);
	return ret;
}

static void test_answer(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	uint8_t *bytes = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(
	    run(mem, child_says, "0\nchanged", 64, sectx_deadline_after(DEADLINE_MS), &bytes, &len),
	    0);
	assert_int_equal(len, 9);
	assert_string_equal((char *)bytes, "0\nchanged"); /* NUL-terminated */
	assert_no_child();
	talloc_free(mem);
}

static void test_answer_cut_at_max(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	uint8_t *bytes = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(run(mem, child_says, "0123456789abcdef", 10,
			     sectx_deadline_after(DEADLINE_MS), &bytes, &len),
			 0);
	assert_int_equal(len, 10);
	assert_string_equal((char *)bytes, "0123456789");
	assert_no_child();
	talloc_free(mem);
}

static void test_no_answer(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	uint8_t *bytes = NULL;
	size_t len = 1;

	(void)state;
	assert_int_equal(
	    run(mem, child_silent, NULL, 64, sectx_deadline_after(DEADLINE_MS), &bytes, &len), 0);
	assert_int_equal(len, 0);
	assert_non_null(bytes);
	assert_no_child();
	talloc_free(mem);
}

static void test_deadline_kills(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	uint8_t *bytes = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(run(mem, child_hangs, NULL, 64, sectx_deadline_after(200), &bytes, &len),
			 -ETIMEDOUT);
	assert_null(bytes);
	assert_no_child();
	talloc_free(mem);
}

static void test_free_kills(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	struct tevent_context *ev = tevent_context_init(mem);
	struct tevent_req *req;
	int status;

	(void)state;
	assert_non_null(ev);
	req = sectx_worker_send(mem, ev, child_hangs, NULL, 64, sectx_deadline_after(DEADLINE_MS));
	assert_non_null(req);
	assert_int_equal(waitpid(-1, &status, WNOHANG), 0); /* a child, still running */
	talloc_free(req);
	assert_no_child();
	talloc_free(mem);
}

static void test_past_deadline(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	uint8_t *bytes = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(run(mem, child_says, "x", 64, sectx_now_ms() - 1, &bytes, &len),
			 -ETIMEDOUT);
	assert_no_child();
	talloc_free(mem);
}

static void test_bad_max(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	uint8_t *bytes = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(run(mem, child_says, "x", SECTX_WORKER_ANSWER_MAX + 1,
			     sectx_deadline_after(DEADLINE_MS), &bytes, &len),
			 -EINVAL);
	assert_no_child();
	talloc_free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answer),     cmocka_unit_test(test_answer_cut_at_max),
	    cmocka_unit_test(test_no_answer),  cmocka_unit_test(test_deadline_kills),
	    cmocka_unit_test(test_free_kills), cmocka_unit_test(test_past_deadline),
	    cmocka_unit_test(test_bad_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
