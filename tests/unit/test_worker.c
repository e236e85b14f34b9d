/*
 * test_worker.c - unit tests of helper/worker.c: a forked worker's answer
 * read whole, cut at its maximum, or empty; a worker past its deadline, or
 * whose request is freed, killed and reaped; a deadline already past forks
 * nothing.
 *
 * "Reaped" is checked as the kernel sees it: after the request is over and
 * the loop has run its reaper, this process has no child left (waitpid
 * answers ECHILD); and a killed worker is never waited for on the loop.  The workers that must
 * be killed wait in pause() forever, so only the kill can end them.
 */
#include "core/worker.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
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

/* A worker that makes its exit slow (64 MiB to tear down), tells the test
 * it is ready with SIGUSR1 (every descriptor but its answer's is closed in
 * a worker), then waits to be killed. */
static void child_heavy(void *arg, int fd)
{
	size_t size = 64u << 20;
	char *mem = malloc(size);

	(void)arg;
	(void)fd;
	if (mem != NULL) {
		memset(mem, 1, size);
	}
	kill(getppid(), SIGUSR1);
	for (;;) {
		pause();
	}
}

/* Whether this process has a child not reaped yet, without reaping it. */
static bool have_child(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static void tick(struct tevent_context *ev, struct tevent_timer *te, struct timeval now, void *p)
{
	(void)ev;
	(void)te;
	(void)now;
	(void)p;
}

/* Run ev until every child is reaped (the reaper of killed workers polls
 * from a timer), at most 10 s. */
static void settle(struct tevent_context *ev)
{
	int64_t end = sectx_deadline_after(10000);

	while (have_child() && sectx_now_ms() < end) {
		assert_non_null(
		    tevent_add_timer(ev, ev, tevent_timeval_current_ofs(0, 20000), tick, NULL));
		tevent_loop_once(ev);
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
	settle(ev);
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
	settle(ev);
	assert_no_child();
	talloc_free(mem);
}

/* Freeing the request kills the worker without waiting for it on the loop:
 * a worker whose exit takes time (here 64 MiB to unmap; a process in an
 * uninterruptible sleep takes as long as it takes) is reaped by the loop's
 * reaper once it is gone, so no child is left behind. */
static void test_free_does_not_wait(void **state)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	struct tevent_context *ev = tevent_context_init(mem);
	struct tevent_req *req;
	sigset_t usr1, old;
	int sig = 0;

	(void)state;
	assert_non_null(ev);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old), 0);
	req = sectx_worker_send(mem, ev, child_heavy, NULL, 64, sectx_deadline_after(DEADLINE_MS));
	assert_non_null(req);
	assert_int_equal(sigwait(&usr1, &sig), 0);
	assert_int_equal(sig, SIGUSR1);
	talloc_free(req); /* kills it; whether it is gone yet is the scheduler's to say */
	settle(ev);
	assert_no_child();
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
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
	    cmocka_unit_test(test_answer),	  cmocka_unit_test(test_answer_cut_at_max),
	    cmocka_unit_test(test_no_answer),	  cmocka_unit_test(test_deadline_kills),
	    cmocka_unit_test(test_free_kills),	  cmocka_unit_test(test_free_does_not_wait),
	    cmocka_unit_test(test_past_deadline), cmocka_unit_test(test_bad_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
