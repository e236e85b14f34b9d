/*
 * test_client.c - unit tests for the helper client (common/client.c).
 *
 * A tiny in-process server (a thread on a socket in a temp dir) misbehaves in
 * each way a helper or an impostor might: never answers, answers half a
 * header, hangs up, answers another request, answers too much, never accepts
 * (full listen queue), never reads.  Each call must come back with the right
 * error before its deadline.  The client only trusts a root server, so the
 * tests that need a connection run as root (as CI does) and are skipped
 * otherwise; test_client_uid.c covers the refusal of a non-root server.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "proto.h"

/* Upper bound for "returned by its deadline": generous, this is not a
 * benchmark, it only proves nothing hangs. */
#define DEADLINE_MS 200
#define SLACK_MS    2000

enum behaviour { ANSWER, SILENT, HALF_HEADER, HANG_UP, WRONG_REQID, HUGE_REPLY, NEVER_READ };

struct server {
	char dir[64];
	int lfd;
	enum behaviour how;
	pthread_t thread;
};

static void make_server(struct server *s, int backlog)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	strcpy(s->dir, "/tmp/sectx-test-client-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", s->dir, SECTX_PAM_SOCKET);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(s->lfd, backlog), 0);
}

static void destroy_server(struct server *s)
{
	char path[128];

	close(s->lfd);
	snprintf(path, sizeof(path), "%s/%s", s->dir, SECTX_PAM_SOCKET);
	unlink(path);
	rmdir(s->dir);
}

static void *serve(void *arg)
{
	struct server *s = arg;
	uint8_t buf[SECTX_FRAME_MAX];
	struct sectx_hdr h;
	size_t len;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0) {
		return NULL;
	}
	if (s->how != NEVER_READ) {
		if (recv(fd, buf, SECTX_HDR_LEN, MSG_WAITALL) != SECTX_HDR_LEN ||
		    sectx_hdr_decode(buf, SECTX_HDR_LEN, &h) != 0) {
			close(fd);
			return NULL;
		}
		if (h.length > SECTX_HDR_LEN) {
			(void)!recv(fd, buf, h.length - SECTX_HDR_LEN, MSG_WAITALL);
		}
	}
	switch (s->how) {
	case ANSWER:
	case WRONG_REQID:
		if (s->how == WRONG_REQID) {
			h.reqid++;
		}
		sectx_reply_status(buf, sizeof(buf), &h, SECTX_E_PERM, "no", &len);
		(void)!send(fd, buf, len, MSG_NOSIGNAL);
		break;
	case HALF_HEADER:
		(void)!send(fd, "\0\0", 2, MSG_NOSIGNAL);
		break;
	case HUGE_REPLY: {
		static const uint8_t filler[4096];
		struct sectx_wbuf w;

		sectx_frame_begin(&w, buf, sizeof(buf), 1, h.op | SECTX_OP_REPLY, h.reqid);
		sectx_put_u32(&w, SECTX_TAG_STATUS, 0);
		sectx_put_bytes(&w, SECTX_TAG_MESSAGE, filler, sizeof(filler));
		sectx_frame_end(&w, &len);
		(void)!send(fd, buf, len, MSG_NOSIGNAL);
		break;
	}
	case HANG_UP:
		close(fd);
		return NULL;
	case SILENT:
		break;
	case NEVER_READ: {
		/* hold the connection without reading until the client gives up */
		struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};

		(void)poll(&pfd, 1, 10000);
		close(fd);
		return NULL;
	}
	}
	/* hold the connection open until the client closes it */
	while (recv(fd, buf, sizeof(buf), 0) > 0) {
	}
	close(fd);
	return NULL;
}

static int root_or_skip(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: the client trusts only a root server; run as root\n");
		skip();
	}
	return 0;
}

/* Run one ping against a server behaving as how; return the call's result
 * and check it came back by its deadline. */
static int call_against(enum behaviour how, size_t respcap, uint32_t *status)
{
	struct server s;
	struct sectx_conn c = SECTX_CONN_INIT;
	uint8_t req[64], resp[SECTX_FRAME_MAX];
	struct sectx_wbuf w;
	struct sectx_msg msg;
	int64_t start, deadline;
	size_t len;
	int ret;

	make_server(&s, 8);
	s.how = how;
	assert_int_equal(pthread_create(&s.thread, NULL, serve, &s), 0);
	start = sectx_now_ms();
	deadline = start + DEADLINE_MS;
	ret = sectx_client_connect(s.dir, SECTX_PAM_SOCKET, deadline, &c);
	assert_int_equal(ret, 0);
	assert_true(sectx_client_usable(&c));
	sectx_frame_begin(&w, req, sizeof(req), SECTX_PROTO_VERSION, SECTX_OP_PING, 7);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	ret = sectx_client_call(&c, req, len, resp, respcap, &msg, status, deadline);
	assert_true(sectx_now_ms() - start < DEADLINE_MS + SLACK_MS);
	sectx_client_close(&c);
	sectx_client_close(&c); /* idempotent */
	pthread_join(s.thread, NULL);
	destroy_server(&s);
	return ret;
}

static void test_answer(void **state)
{
	uint32_t status = 0;

	root_or_skip();
	assert_int_equal(call_against(ANSWER, SECTX_FRAME_MAX, &status), 0);
	assert_int_equal(status, SECTX_E_PERM);
}

static void test_silent_server_times_out(void **state)
{
	uint32_t status;

	root_or_skip();
	assert_int_equal(call_against(SILENT, SECTX_FRAME_MAX, &status), -ETIMEDOUT);
}

static void test_half_header_times_out(void **state)
{
	uint32_t status;

	root_or_skip();
	assert_int_equal(call_against(HALF_HEADER, SECTX_FRAME_MAX, &status), -ETIMEDOUT);
}

static void test_hang_up(void **state)
{
	uint32_t status;
	int ret;

	root_or_skip();
	ret = call_against(HANG_UP, SECTX_FRAME_MAX, &status);
	assert_true(ret == -ECONNRESET || ret == -EPIPE);
}

static void test_reply_to_another_request(void **state)
{
	uint32_t status;

	root_or_skip();
	assert_int_equal(call_against(WRONG_REQID, SECTX_FRAME_MAX, &status), SECTX_ERR_BADFRAME);
}

static void test_reply_larger_than_buffer(void **state)
{
	uint32_t status;

	root_or_skip();
	assert_int_equal(call_against(HUGE_REPLY, 1024, &status), -EMSGSIZE);
}

static void test_never_reading_server(void **state)
{
	struct server s;
	struct sectx_conn c = SECTX_CONN_INIT;
	size_t big = 16u << 20; /* far beyond any socket buffer */
	uint8_t *data = calloc(1, big);
	int64_t start;

	root_or_skip();
	assert_non_null(data);
	make_server(&s, 8);
	s.how = NEVER_READ;
	assert_int_equal(pthread_create(&s.thread, NULL, serve, &s), 0);
	start = sectx_now_ms();
	assert_int_equal(sectx_client_connect(s.dir, SECTX_PAM_SOCKET, start + DEADLINE_MS, &c), 0);
	assert_int_equal(sectx_client_send(&c, data, big, start + DEADLINE_MS), -ETIMEDOUT);
	assert_true(sectx_now_ms() - start < DEADLINE_MS + SLACK_MS);
	sectx_client_close(&c);
	pthread_join(s.thread, NULL);
	destroy_server(&s);
	free(data);
}

static void test_full_listen_queue_times_out(void **state)
{
	struct server s;
	struct sectx_conn held[4];
	struct sectx_conn c = SECTX_CONN_INIT;
	int64_t start;
	int i, n = 0, ret = 0;

	root_or_skip();
	make_server(&s, 0); /* never accepted: the queue fills at once */
	for (i = 0; i < 4; i++) {
		held[i].fd = -1;
		ret = sectx_client_connect(s.dir, SECTX_PAM_SOCKET, sectx_deadline_after(50),
					   &held[i]);
		if (ret != 0) {
			break;
		}
		n++;
	}
	assert_int_equal(ret, -ETIMEDOUT); /* the queue did fill */
	start = sectx_now_ms();
	assert_int_equal(sectx_client_connect(s.dir, SECTX_PAM_SOCKET, start + DEADLINE_MS, &c),
			 -ETIMEDOUT);
	assert_true(sectx_now_ms() - start >= DEADLINE_MS - 10); /* it did retry */
	assert_true(sectx_now_ms() - start < DEADLINE_MS + SLACK_MS);
	for (i = 0; i < n; i++) {
		sectx_client_close(&held[i]);
	}
	destroy_server(&s);
}

static void test_no_helper(void **state)
{
	struct sectx_conn c = SECTX_CONN_INIT;
	char dir[] = "/tmp/sectx-test-client-XXXXXX";
	char path[128];
	int fd;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	assert_int_equal(sectx_client_connect("/nonexistent-sectx", SECTX_PAM_SOCKET,
					      sectx_deadline_after(DEADLINE_MS), &c),
			 -ENOENT);
	assert_int_equal(c.fd, -1);
	/* a stale socket nobody listens on: refused at once */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, SECTX_PAM_SOCKET);
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(
	    sectx_client_connect(dir, SECTX_PAM_SOCKET, sectx_deadline_after(DEADLINE_MS), &c),
	    -ECONNREFUSED);
	unlink(path);
	rmdir(dir);
}

static void test_path_too_long(void **state)
{
	struct sectx_conn c = SECTX_CONN_INIT;
	char dir[200];

	memset(dir, 'a', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	assert_int_equal(sectx_client_connect(dir, SECTX_PAM_SOCKET, sectx_deadline_after(100), &c),
			 -ENAMETOOLONG);
}

static void test_socket_dir_from_environment(void **state)
{
	setenv(SECTX_SOCKET_DIR_ENV, "/tmp/elsewhere", 1);
	assert_string_equal(sectx_socket_dir(), "/tmp/elsewhere");
	setenv(SECTX_SOCKET_DIR_ENV, "relative/path", 1); /* ignored */
	assert_string_equal(sectx_socket_dir(), SECTX_DEFAULT_SOCKET_DIR);
	unsetenv(SECTX_SOCKET_DIR_ENV);
	assert_string_equal(sectx_socket_dir(), SECTX_DEFAULT_SOCKET_DIR);
}

static void test_not_usable_after_fork(void **state)
{
	struct sectx_conn c = {.fd = 0, .pid = getpid(), .euid = geteuid()};
	pid_t pid;
	int wstatus;

	assert_true(sectx_client_usable(&c));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		_exit(sectx_client_usable(&c) ? 1 : 0); /* a child must reconnect */
	}
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
	c.euid = geteuid() + 1; /* as after a setuid */
	assert_false(sectx_client_usable(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answer),
	    cmocka_unit_test(test_silent_server_times_out),
	    cmocka_unit_test(test_half_header_times_out),
	    cmocka_unit_test(test_hang_up),
	    cmocka_unit_test(test_reply_to_another_request),
	    cmocka_unit_test(test_reply_larger_than_buffer),
	    cmocka_unit_test(test_never_reading_server),
	    cmocka_unit_test(test_full_listen_queue_times_out),
	    cmocka_unit_test(test_no_helper),
	    cmocka_unit_test(test_path_too_long),
	    cmocka_unit_test(test_socket_dir_from_environment),
	    cmocka_unit_test(test_not_usable_after_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
