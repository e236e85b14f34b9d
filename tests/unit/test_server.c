/*
 * test_server.c - unit tests of helper/server/: a real server on a temporary
 * socket directory, serving a test operation table to real Unix-socket
 * clients, checked by the replies they read and by what the handlers saw.
 *
 * The server runs on this process's tevent loop; clients are non-blocking
 * sockets that the tests drive between turns of the loop, except the non-root
 * caller, a forked child that (as root) drops to uid 65534 before it
 * connects and reports what it read through its exit status.
 *
 * Covered: a whole frame gets its reply, on either socket, with the caller's
 * SO_PEERCRED uid; a truncated frame (cut header, header only, a field cut
 * short, a length below the header's) gets E_PROTO or a close and never a
 * handler call; a frame announcing more than SECTX_FRAME_MAX is refused from
 * its header, while one of exactly SECTX_FRAME_MAX is served; a client that
 * starts a frame and stops, or trickles it, is closed after client_timeout,
 * an idle one after idle_timeout, one that does not read its replies after
 * client_timeout; a frame on the wrong socket, an unknown operation or
 * version, and a root_only operation from a non-root uid are refused; two
 * frames in one write are served one at a time and in order; descriptors
 * passed with a frame (one taken, two refused, none through nss.sock); the
 * caps per uid and in total evict the connection idle longest or refuse;
 * a client gone mid-frame or mid-request leaves nothing behind; shutdown
 * answers what is in flight, then drains; a second server on the same
 * directory is refused.
 *
 * Hardening (issue 12): a client that hangs up while its request is served
 * frees the request and its asynchronous work at once (and, having sent its
 * next frame ahead, within the hang-up poll), so its slot comes back; uids
 * other than root filling every connection they may hold leave root's
 * reserve, on both sockets; the budget of partial frames closes the
 * connection whose frame began first; lines about bad frames are
 * rate-limited and the suppressed ones counted in one line.
 *
 * Longer than the ~800 lines of a source file: one harness (a server on the
 * loop, clients beside it) shared by every case, which a second file could
 * only share through a header of its own.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "clock.h"
#include "config.h"
#include "log.h"

#define CLIENT_TIMEOUT_MS 200
#define IDLE_TIMEOUT_MS	  1500
#define STEP_MS		  5    /* one turn of the loop waits at most this */
#define WAIT_MS		  5000 /* bound on any wait; reached only when a test fails */
#define NOBODY		  65534
#define OP_UNKNOWN	  0x7777
#define MAX_HELD	  32
#define HOLD_WORK_MS	  300 /* the held request's "asynchronous work" */

/* What the handlers saw.  The daemon context comes first so that a handler
 * finds the fixture from req->hctx. */
struct fixture {
	struct sectxd_ctx hctx;
	TALLOC_CTX *mem;
	struct sectx_server *srv;
	char base[64]; /* mkdtemp */
	char dir[96];  /* base/run: the socket directory */

	unsigned calls; /* handler calls, every test op */
	uid_t last_uid;
	int last_kind;
	struct sectx_request *held[MAX_HELD]; /* requests of the hold op, in order */
	unsigned n_held;
	unsigned held_freed;
	unsigned held_work_done; /* timers below held requests that fired */
};

/* --- the test operations -------------------------------------------------- */

static struct fixture *fixture_of(struct sectx_request *req)
{
	return (struct fixture *)((char *)req->hctx - offsetof(struct fixture, hctx));
}

/* Replies OK with the caller's uid (UID), the socket (INDEX) and, if a
 * descriptor came with the frame, its inode (GENERATION). */
static int op_echo(struct sectx_request *req)
{
	struct fixture *f = fixture_of(req);
	struct sectx_wbuf w;
	int fd;

	f->calls++;
	f->last_uid = req->uid;
	f->last_kind = req->sock_kind;
	fd = sectx_request_take_fd(req);
	if (sectx_request_reply_begin(req, 256, &w) == 0) {
		sectx_put_u32(&w, SECTX_TAG_UID, (uint32_t)req->uid);
		sectx_put_u32(&w, SECTX_TAG_INDEX, (uint32_t)req->sock_kind);
		if (fd >= 0) {
			struct stat st;

			if (fstat(fd, &st) == 0) {
				sectx_put_u64(&w, SECTX_TAG_GENERATION, (uint64_t)st.st_ino);
			}
		}
	}
	if (fd >= 0) {
		close(fd);
	}
	sectx_request_reply(req, &w);
	return 0;
}

struct held_mark {
	struct fixture *f;
	unsigned slot;
};

static int held_mark_destructor(struct held_mark *m)
{
	m->f->held_freed++;
	m->f->held[m->slot] = NULL;
	return 0;
}

static void hold_work_done(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			   void *private_data)
{
	((struct fixture *)private_data)->held_work_done++;
}

/* Keeps the request without replying, as asynchronous work does; the test
 * replies later.  A child of the request records when it is freed, and a
 * timer below it stands for its work (a KDC exchange): it must never fire
 * once the request is gone. */
static int op_hold(struct sectx_request *req)
{
	struct fixture *f = fixture_of(req);
	struct held_mark *m;

	f->calls++;
	if (f->n_held == MAX_HELD) {
		return SECTX_E_BUSY;
	}
	m = talloc(req, struct held_mark);
	if (m == NULL ||
	    tevent_add_timer(req->hctx->ev, req, tevent_timeval_current_ofs(0, HOLD_WORK_MS * 1000),
			     hold_work_done, f) == NULL) {
		return SECTX_E_INTERNAL;
	}
	m->f = f;
	m->slot = f->n_held;
	f->held[f->n_held++] = req;
	talloc_set_destructor(m, held_mark_destructor);
	return 0;
}

/* Refuses with a status of its own: the server sends it. */
static int op_inval(struct sectx_request *req)
{
	fixture_of(req)->calls++;
	return SECTX_E_INVAL;
}

static const struct sectx_op_def table_a_ops[] = {
    {SECTX_OP_PING, SECTX_SOCK_NSS | SECTX_SOCK_PAM, false, op_echo},
    {SECTX_OP_DEBUG_LEVEL, SECTX_SOCK_PAM, true, op_echo},
    {SECTX_OP_NSS_GETPWNAM, SECTX_SOCK_NSS, false, op_echo},
};
static const struct sectx_op_def table_b_ops[] = {
    {SECTX_OP_STATUS, SECTX_SOCK_PAM, false, op_hold},
    {SECTX_OP_CACHE_FLUSH, SECTX_SOCK_PAM, false, op_inval},
};
static const struct sectx_op_table table_a = SECTX_OP_TABLE(table_a_ops);
static const struct sectx_op_table table_b = SECTX_OP_TABLE(table_b_ops);
static const struct sectx_op_table *const test_tables[] = {&table_a, &table_b};

/* --- the server ------------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *f;
	struct sectx_config *cfg;

	f = talloc_zero(NULL, struct fixture);
	assert_non_null(f);
	f->mem = talloc_new(f);
	assert_non_null(f->mem);
	f->hctx.ev = tevent_context_init(f->mem);
	assert_non_null(f->hctx.ev);
	assert_int_equal(sectx_config_defaults(f->mem, &cfg), 0);
	cfg->sectxd.client_timeout_ms = CLIENT_TIMEOUT_MS;
	cfg->sectxd.idle_timeout_ms = IDLE_TIMEOUT_MS;

	snprintf(f->base, sizeof(f->base), "/tmp/test_server.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	/* a caller dropped to another uid must be able to reach the sockets */
	assert_int_equal(chmod(f->base, 0755), 0);
	snprintf(f->dir, sizeof(f->dir), "%s/run", f->base);
	cfg->sectxd.socket_dir = f->dir;
	f->hctx.cfg = cfg;

	assert_int_equal(sectx_server_start(f->mem, &f->hctx, test_tables, 2, &f->srv), 0);
	f->hctx.srv = f->srv;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[160];

	talloc_free(f->srv); /* its connections and their requests first */
	snprintf(path, sizeof(path), "%s/sectxd.lock", f->dir);
	unlink(path);
	rmdir(f->dir);
	rmdir(f->base);
	talloc_free(f);
	return 0;
}

static struct sectx_server_stats stats(struct fixture *f)
{
	struct sectx_server_stats st;

	sectx_server_get_stats(f->srv, &st);
	return st;
}

/* --- driving the loop ------------------------------------------------------- */

static void woken(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
		  void *private_data)
{
	*(bool *)private_data = true;
}

/* One turn of the loop, never longer than STEP_MS when nothing happens. */
static void loop_step(struct fixture *f)
{
	bool fired = false;
	struct tevent_timer *te;

	te = tevent_add_timer(f->hctx.ev, f->mem, tevent_timeval_current_ofs(0, STEP_MS * 1000),
			      woken, &fired);
	assert_non_null(te);
	assert_int_equal(tevent_loop_once(f->hctx.ev), 0);
	if (!fired) {
		talloc_free(te);
	}
}

static void loop_for(struct fixture *f, int64_t ms)
{
	int64_t end = sectx_now_ms() + ms;

	while (sectx_now_ms() < end) {
		loop_step(f);
	}
}

/* --- clients ---------------------------------------------------------------- */

static int connect_to(const char *dir, const char *sock)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	/* completes from the backlog, before the server accepts */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A non-blocking client of sock, accepted by the server before returning. */
static int client(struct fixture *f, const char *sock)
{
	struct sectx_server_stats before = stats(f), now;
	int64_t end = sectx_now_ms() + WAIT_MS;
	int fd = connect_to(f->dir, sock);

	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	do {
		loop_step(f);
		now = stats(f);
	} while (now.conn_nss + now.conn_pam + now.refused ==
		     before.conn_nss + before.conn_pam + before.refused &&
		 sectx_now_ms() < end);
	return fd;
}

/* A frame of op with one NAME field. */
static size_t frame(uint8_t *buf, size_t cap, uint16_t version, uint16_t op, uint32_t reqid)
{
	struct sectx_wbuf w;
	size_t len = 0;

	sectx_frame_begin(&w, buf, cap, version, op, reqid);
	sectx_put_string(&w, SECTX_TAG_NAME, "alice");
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	return len;
}

/* Send all of p, turning the loop while the socket is full.  Returns 0, or
 * -EPIPE if the server closed the connection first. */
static int send_all(struct fixture *f, int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	int64_t end = sectx_now_ms() + WAIT_MS;

	while (len > 0) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			b += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			return -EPIPE;
		}
		assert_true(n < 0 && (errno == EAGAIN || errno == EINTR));
		assert_true(sectx_now_ms() < end);
		loop_step(f);
	}
	return 0;
}

/* Send p with descriptors (SCM_RIGHTS) in one sendmsg. */
static void send_with_fds(int fd, const void *p, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	assert_true(nfds >= 1 && nfds <= 4);
	memset(&control, 0, sizeof(control));
	mh.msg_control = control.buf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

struct reply {
	uint8_t buf[1024];
	size_t len;
	struct sectx_msg msg;
	uint32_t status;
};

/* Read exactly n bytes, turning the loop meanwhile.  Returns 0; -EPIPE if
 * the server closed first; -ETIMEDOUT after wait_ms. */
static int read_exact(struct fixture *f, int fd, uint8_t *dst, size_t n, int64_t wait_ms)
{
	int64_t end = sectx_now_ms() + wait_ms;
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, dst + got, n - got, MSG_DONTWAIT);

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			return -EPIPE;
		}
		assert_true(errno == EAGAIN || errno == EINTR);
		if (sectx_now_ms() >= end) {
			return -ETIMEDOUT;
		}
		loop_step(f);
	}
	return 0;
}

/* Read one reply frame and parse it.  Returns 0, -EPIPE or -ETIMEDOUT. */
static int read_reply(struct fixture *f, int fd, struct reply *r)
{
	struct sectx_hdr h;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = read_exact(f, fd, r->buf, SECTX_HDR_LEN, WAIT_MS);
	if (ret != 0) {
		return ret;
	}
	assert_int_equal(sectx_hdr_decode(r->buf, SECTX_HDR_LEN, &h), 0);
	assert_true(h.length <= sizeof(r->buf));
	ret = read_exact(f, fd, r->buf + SECTX_HDR_LEN, h.length - SECTX_HDR_LEN, WAIT_MS);
	if (ret != 0) {
		return ret;
	}
	r->len = h.length;
	assert_int_equal(sectx_msg_parse(r->buf, r->len, &r->msg), 0);
	assert_int_equal(sectx_msg_get_u32(&r->msg, SECTX_TAG_STATUS, &r->status), 0);
	return 0;
}

/* Read a reply to (op, reqid) with status. */
static void expect_reply(struct fixture *f, int fd, uint16_t op, uint32_t reqid, uint32_t status,
			 struct reply *r)
{
	assert_int_equal(read_reply(f, fd, r), 0);
	assert_int_equal(r->msg.hdr.op, op | SECTX_OP_REPLY);
	assert_int_equal(r->msg.hdr.reqid, reqid);
	assert_int_equal(r->status, status);
}

/* Send a frame of op (one NAME field) on fd; the server must take it. */
static void ask(struct fixture *f, int fd, uint16_t version, uint16_t op, uint32_t reqid)
{
	uint8_t buf[256];

	assert_int_equal(send_all(f, fd, buf, frame(buf, sizeof(buf), version, op, reqid)), 0);
}

/* Ask op on fd and read a reply with status. */
static void call(struct fixture *f, int fd, uint16_t op, uint32_t reqid, uint32_t status,
		 struct reply *r)
{
	ask(f, fd, SECTX_PROTO_VERSION, op, reqid);
	expect_reply(f, fd, op, reqid, status, r);
}

/* The server closes fd within wait_ms, without sending anything more. */
static void expect_closed(struct fixture *f, int fd, int64_t wait_ms)
{
	uint8_t b;

	assert_int_equal(read_exact(f, fd, &b, 1, wait_ms), -EPIPE);
}

/* Nothing arrives on fd for ms, and it stays open. */
static void expect_silence(struct fixture *f, int fd, int64_t ms)
{
	uint8_t b;

	assert_int_equal(read_exact(f, fd, &b, 1, ms), -ETIMEDOUT);
}

/* Turn the loop until the server holds n connections in all. */
static void wait_conns(struct fixture *f, unsigned n)
{
	int64_t end = sectx_now_ms() + WAIT_MS;

	while (stats(f).conn_nss + stats(f).conn_pam != n && sectx_now_ms() < end) {
		loop_step(f);
	}
	assert_int_equal(stats(f).conn_nss + stats(f).conn_pam, n);
}

/* Turn the loop until the hold op has been asked n times in all. */
static void wait_held(struct fixture *f, unsigned n)
{
	int64_t end = sectx_now_ms() + WAIT_MS;

	while (f->n_held < n && sectx_now_ms() < end) {
		loop_step(f);
	}
	assert_int_equal(f->n_held, n);
}

/* A ping on fd answered OK, with the caller's uid. */
static void ping_ok(struct fixture *f, int fd, uint32_t reqid)
{
	struct reply r;
	uint32_t uid;

	call(f, fd, SECTX_OP_PING, reqid, SECTX_OK, &r);
	assert_int_equal(sectx_msg_get_u32(&r.msg, SECTX_TAG_UID, &uid), 0);
	assert_int_equal(uid, geteuid());
}

/* --- tests ---------------------------------------------------------------- */

/* A whole frame gets its reply on either socket, with SO_PEERCRED's uid and
 * the socket it came in on; the connection serves the next frame. */
static void test_whole_frame(void **state)
{
	struct fixture *f = *state;
	int pam = client(f, SECTX_PAM_SOCKET);
	int nss = client(f, SECTX_NSS_SOCKET);
	struct reply r;
	uint32_t v;

	assert_int_equal(stats(f).conn_pam, 1);
	assert_int_equal(stats(f).conn_nss, 1);

	call(f, pam, SECTX_OP_PING, 7, SECTX_OK, &r);
	assert_int_equal(sectx_msg_get_u32(&r.msg, SECTX_TAG_UID, &v), 0);
	assert_int_equal(v, geteuid());
	assert_int_equal(sectx_msg_get_u32(&r.msg, SECTX_TAG_INDEX, &v), 0);
	assert_int_equal(v, SECTX_SOCK_PAM);
	assert_int_equal(r.msg.hdr.version, SECTX_PROTO_VERSION);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->last_uid, geteuid());
	assert_int_equal(f->last_kind, SECTX_SOCK_PAM);

	call(f, nss, SECTX_OP_PING, 8, SECTX_OK, &r);
	assert_int_equal(sectx_msg_get_u32(&r.msg, SECTX_TAG_INDEX, &v), 0);
	assert_int_equal(v, SECTX_SOCK_NSS);

	/* an operation of the second table, on the same connection */
	call(f, nss, SECTX_OP_NSS_GETPWNAM, 9, SECTX_OK, &r);
	/* a handler's own status is sent as the reply */
	call(f, pam, SECTX_OP_CACHE_FLUSH, 10, SECTX_E_INVAL, &r);
	assert_int_equal(f->calls, 4);
	ping_ok(f, pam, 11);
	assert_int_equal(stats(f).requests, 5);
	assert_int_equal(stats(f).refused, 0);
	close(pam);
	close(nss);
	wait_conns(f, 0);
}

/* A frame of exactly SECTX_FRAME_MAX bytes is read whole (the buffer grows
 * as it arrives) and served. */
static void test_largest_frame(void **state)
{
	struct fixture *f = *state;
	int fd = client(f, SECTX_PAM_SOCKET);
	uint8_t *buf = talloc_zero_size(f->mem, SECTX_FRAME_MAX);
	uint8_t *token = talloc_zero_size(f->mem, SECTX_FRAME_MAX);
	struct sectx_wbuf w;
	struct reply r;
	size_t len = 0;

	assert_non_null(buf);
	assert_non_null(token);
	sectx_frame_begin(&w, buf, SECTX_FRAME_MAX, SECTX_PROTO_VERSION, SECTX_OP_PING, 3);
	sectx_put_bytes(&w, SECTX_TAG_TOKEN, token,
			SECTX_FRAME_MAX - SECTX_HDR_LEN - SECTX_FIELD_HDR_LEN);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(len, SECTX_FRAME_MAX);
	assert_int_equal(send_all(f, fd, buf, len), 0);
	expect_reply(f, fd, SECTX_OP_PING, 3, SECTX_OK, &r);
	assert_int_equal(f->calls, 1);
	close(fd);
}

/* Cut frames: a header cut short or a header alone, then the client stops
 * sending (shutdown) or closes: the connection is closed, no reply, no
 * handler. */
static void test_truncated_header_or_body(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	size_t len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, 1);
	size_t cuts[] = {1, 5, SECTX_HDR_LEN - 1, SECTX_HDR_LEN, len - 1};
	size_t i;

	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		int fd = client(f, SECTX_PAM_SOCKET);

		assert_int_equal(send_all(f, fd, buf, cuts[i]), 0);
		assert_int_equal(shutdown(fd, SHUT_WR), 0);
		expect_closed(f, fd, WAIT_MS);
		close(fd);
		wait_conns(f, 0);
	}
	/* and gone entirely, mid-frame */
	{
		int fd = client(f, SECTX_NSS_SOCKET);

		assert_int_equal(send_all(f, fd, buf, SECTX_HDR_LEN + 2), 0);
		loop_for(f, 20);
		close(fd);
		wait_conns(f, 0);
	}
	assert_int_equal(f->calls, 0);
	assert_int_equal(stats(f).requests, 0);
}

/* Frames whose inside is cut short: a field's length runs past the frame's
 * end, a field header is cut, a frame length below the header's.  Each gets
 * E_PROTO with the request id echoed, then a close; no handler runs. */
static void test_truncated_field(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	size_t len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, 21);
	struct reply r;
	int fd;

	/* NAME's length (bytes 14..17) one more than the bytes that follow */
	buf[17]++;
	fd = client(f, SECTX_PAM_SOCKET);
	assert_int_equal(send_all(f, fd, buf, len), 0);
	expect_reply(f, fd, SECTX_OP_PING, 21, SECTX_E_PROTO, &r);
	expect_closed(f, fd, WAIT_MS);
	close(fd);

	/* a frame that ends inside a field header: length says 12 + 3 */
	len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, 22);
	buf[0] = 0;
	buf[1] = 0;
	buf[2] = 0;
	buf[3] = SECTX_HDR_LEN + 3;
	fd = client(f, SECTX_NSS_SOCKET);
	assert_int_equal(send_all(f, fd, buf, SECTX_HDR_LEN + 3), 0);
	expect_reply(f, fd, SECTX_OP_PING, 22, SECTX_E_PROTO, &r);
	expect_closed(f, fd, WAIT_MS);
	close(fd);

	/* a length smaller than the header itself */
	len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, 23);
	buf[3] = 4;
	fd = client(f, SECTX_PAM_SOCKET);
	assert_int_equal(send_all(f, fd, buf, SECTX_HDR_LEN), 0);
	expect_reply(f, fd, SECTX_OP_PING, 23, SECTX_E_PROTO, &r);
	expect_closed(f, fd, WAIT_MS);
	close(fd);

	assert_int_equal(f->calls, 0);
	wait_conns(f, 0);
}

/* A header announcing more than SECTX_FRAME_MAX is refused as soon as the
 * header is in: E_PROTO and a close, while the client has sent nothing of
 * the body. */
static void test_oversized_frame(void **state)
{
	struct fixture *f = *state;
	const uint32_t lengths[] = {SECTX_FRAME_MAX + 1, 0x7fffffffu, 0xffffffffu};
	size_t i;

	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		uint8_t buf[256];
		struct reply r;
		int fd = client(f, i % 2 ? SECTX_NSS_SOCKET : SECTX_PAM_SOCKET);

		frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, 30 + (uint32_t)i);
		buf[0] = (uint8_t)(lengths[i] >> 24);
		buf[1] = (uint8_t)(lengths[i] >> 16);
		buf[2] = (uint8_t)(lengths[i] >> 8);
		buf[3] = (uint8_t)lengths[i];
		assert_int_equal(send_all(f, fd, buf, SECTX_HDR_LEN), 0);
		expect_reply(f, fd, SECTX_OP_PING, 30 + (uint32_t)i, SECTX_E_PROTO, &r);
		expect_closed(f, fd, WAIT_MS);
		close(fd);
	}
	assert_int_equal(f->calls, 0);
	wait_conns(f, 0);
}

/* A client that starts a frame and stops is closed after client_timeout,
 * not idle_timeout; one that trickles a byte at a time is closed just the
 * same (a deadline per frame, not per byte). */
static void test_slow_client(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	size_t len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, 40);
	int64_t t0, elapsed;
	size_t sent;
	int fd;

	fd = client(f, SECTX_PAM_SOCKET);
	t0 = sectx_now_ms();
	assert_int_equal(send_all(f, fd, buf, 6), 0);
	expect_closed(f, fd, WAIT_MS);
	elapsed = sectx_now_ms() - t0;
	assert_true(elapsed >= CLIENT_TIMEOUT_MS - 5);
	assert_true(elapsed < IDLE_TIMEOUT_MS);
	close(fd);

	/* the whole header and part of the body */
	fd = client(f, SECTX_NSS_SOCKET);
	t0 = sectx_now_ms();
	assert_int_equal(send_all(f, fd, buf, SECTX_HDR_LEN + 4), 0);
	expect_closed(f, fd, WAIT_MS);
	elapsed = sectx_now_ms() - t0;
	assert_true(elapsed >= CLIENT_TIMEOUT_MS - 5);
	assert_true(elapsed < IDLE_TIMEOUT_MS);
	close(fd);

	/* a byte every 40 ms: the whole frame would take len * 40 ms, well past
	 * client_timeout (and each byte comes long before it) */
	assert_true(len * 40 > 3 * CLIENT_TIMEOUT_MS);
	fd = client(f, SECTX_PAM_SOCKET);
	t0 = sectx_now_ms();
	for (sent = 0; sent < len; sent++) {
		uint8_t b;

		if (send_all(f, fd, buf + sent, 1) != 0) {
			break;
		}
		if (read_exact(f, fd, &b, 1, 40) == -EPIPE) {
			break;
		}
	}
	elapsed = sectx_now_ms() - t0;
	assert_true(sent < len);
	assert_true(elapsed >= CLIENT_TIMEOUT_MS - 5);
	assert_true(elapsed < IDLE_TIMEOUT_MS);
	close(fd);

	assert_int_equal(f->calls, 0);
	wait_conns(f, 0);
}

/* A connection that sends nothing is kept until idle_timeout, then closed;
 * one that was served goes back under idle_timeout too. */
static void test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	int fd = client(f, SECTX_NSS_SOCKET);
	int64_t t0 = sectx_now_ms(), elapsed;

	expect_closed(f, fd, IDLE_TIMEOUT_MS + WAIT_MS);
	elapsed = sectx_now_ms() - t0;
	assert_true(elapsed >= IDLE_TIMEOUT_MS - 5);
	close(fd);

	fd = client(f, SECTX_PAM_SOCKET);
	ping_ok(f, fd, 1);
	expect_silence(f, fd, 2 * CLIENT_TIMEOUT_MS); /* no client deadline while idle */
	expect_closed(f, fd, IDLE_TIMEOUT_MS + WAIT_MS);
	close(fd);
	wait_conns(f, 0);
}

/* A client that sends requests but never reads the replies is closed once a
 * reply has waited client_timeout to be written. */
static void test_reader_that_does_not_read(void **state)
{
	struct fixture *f = *state;
	const size_t n = 4096;
	uint8_t one[64];
	size_t len = frame(one, sizeof(one), SECTX_PROTO_VERSION, SECTX_OP_PING, 1);
	uint8_t *many = talloc_size(f->mem, n * len);
	struct reply r;
	size_t i, replies = 0;
	int fd = client(f, SECTX_PAM_SOCKET);

	assert_non_null(many);
	for (i = 0; i < n; i++) {
		memcpy(many + i * len, one, len);
	}
	(void)send_all(f, fd, many, n * len); /* may be cut by the close */
	loop_for(f, 3 * CLIENT_TIMEOUT_MS);
	wait_conns(f, 0);
	while (read_reply(f, fd, &r) == 0) {
		assert_int_equal(r.status, SECTX_OK);
		replies++;
	}
	assert_true(replies > 0);
	assert_true(replies < n);
	close(fd);
}

/* An operation not served on the socket it came in on, an unknown one and
 * an unserved version are refused without a handler, and the connection
 * stays usable. */
static void test_wrong_socket_and_unknown(void **state)
{
	struct fixture *f = *state;
	int pam = client(f, SECTX_PAM_SOCKET);
	int nss = client(f, SECTX_NSS_SOCKET);
	struct reply r;

	call(f, pam, SECTX_OP_NSS_GETPWNAM, 1, SECTX_E_NOOP, &r);
	call(f, nss, SECTX_OP_DEBUG_LEVEL, 2, SECTX_E_NOOP, &r);
	call(f, nss, SECTX_OP_STATUS, 3, SECTX_E_NOOP, &r);
	call(f, pam, OP_UNKNOWN, 4, SECTX_E_NOOP, &r);
	ask(f, pam, SECTX_PROTO_VERSION + 7, SECTX_OP_PING, 5);
	expect_reply(f, pam, SECTX_OP_PING, 5, SECTX_E_VERSION, &r);
	assert_int_equal(f->calls, 0);

	ping_ok(f, pam, 6);
	ping_ok(f, nss, 7);
	assert_int_equal(f->calls, 2);
	close(pam);
	close(nss);
}

/* In a forked child: drop to NOBODY if root, ask for the root_only op and
 * then a ping.  Exit 0 if the first was refused E_PERM and the second served
 * with the child's uid; another code says what went wrong. */
static int nobody_child(const char *dir)
{
	uint8_t buf[256], rep[1024];
	struct timeval tv = {.tv_sec = WAIT_MS / 1000};
	uint16_t ops[2] = {SECTX_OP_DEBUG_LEVEL, SECTX_OP_PING};
	uint32_t want[2] = {SECTX_E_PERM, SECTX_OK};
	int i, fd;

	if (geteuid() == 0 &&
	    (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)) {
		return 10;
	}
	fd = connect_to(dir, SECTX_PAM_SOCKET);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		return 11;
	}
	for (i = 0; i < 2; i++) {
		struct sectx_wbuf w;
		struct sectx_hdr h;
		struct sectx_msg msg;
		uint32_t status, uid;
		size_t len = 0, got;

		sectx_frame_begin(&w, buf, sizeof(buf), SECTX_PROTO_VERSION, ops[i], 50 + i);
		if (sectx_frame_end(&w, &len) != 0 ||
		    send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
			return 12;
		}
		if (recv(fd, rep, SECTX_HDR_LEN, MSG_WAITALL) != SECTX_HDR_LEN ||
		    sectx_hdr_decode(rep, SECTX_HDR_LEN, &h) != 0 || h.length > sizeof(rep)) {
			return 13;
		}
		got = h.length - SECTX_HDR_LEN;
		if (got > 0 && recv(fd, rep + SECTX_HDR_LEN, got, MSG_WAITALL) != (ssize_t)got) {
			return 14;
		}
		if (sectx_msg_parse(rep, h.length, &msg) != 0 || h.reqid != (uint32_t)(50 + i) ||
		    sectx_msg_get_u32(&msg, SECTX_TAG_STATUS, &status) != 0) {
			return 15;
		}
		if (status != want[i]) {
			return 20 + (int)status;
		}
		if (ops[i] == SECTX_OP_PING &&
		    (sectx_msg_get_u32(&msg, SECTX_TAG_UID, &uid) != 0 || uid != geteuid())) {
			return 16;
		}
	}
	close(fd);
	return 0;
}

/* A root_only operation from a non-root uid is refused E_PERM without its
 * handler; root is served. */
static void test_root_only(void **state)
{
	struct fixture *f = *state;
	int64_t end = sectx_now_ms() + WAIT_MS;
	int status = -1;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		_exit(nobody_child(f->dir));
	}
	while (sectx_now_ms() < end) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		assert_true(r >= 0);
		if (r == pid) {
			break;
		}
		loop_step(f);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(f->calls, 1); /* the ping only */
	if (geteuid() == 0) {
		assert_int_equal(f->last_uid, NOBODY);
	}
	assert_int_not_equal(f->last_uid, 0);

	if (geteuid() == 0) {
		int fd = client(f, SECTX_PAM_SOCKET);
		struct reply r;

		call(f, fd, SECTX_OP_DEBUG_LEVEL, 60, SECTX_OK, &r);
		assert_int_equal(f->calls, 2);
		close(fd);
	}
	wait_conns(f, 0);
}

/* Two frames in one write: the second is not even read while the first is
 * served; the replies come in order. */
static void test_two_frames_one_write(void **state)
{
	struct fixture *f = *state;
	int fd = client(f, SECTX_PAM_SOCKET);
	uint8_t buf[512];
	size_t len;
	struct reply r;

	len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, 1);
	len += frame(buf + len, sizeof(buf) - len, SECTX_PROTO_VERSION, SECTX_OP_PING, 2);
	assert_int_equal(send_all(f, fd, buf, len), 0);
	expect_reply(f, fd, SECTX_OP_PING, 1, SECTX_OK, &r);
	expect_reply(f, fd, SECTX_OP_PING, 2, SECTX_OK, &r);
	assert_int_equal(f->calls, 2);

	/* the first one held (asynchronous work): the second waits for it */
	len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_STATUS, 3);
	len += frame(buf + len, sizeof(buf) - len, SECTX_PROTO_VERSION, SECTX_OP_PING, 4);
	assert_int_equal(send_all(f, fd, buf, len), 0);
	expect_silence(f, fd, 3 * CLIENT_TIMEOUT_MS); /* and no client deadline while busy */
	assert_int_equal(f->calls, 3);
	assert_int_equal(f->n_held, 1);
	assert_non_null(f->held[0]);
	assert_int_equal(f->held[0]->msg.hdr.reqid, 3);

	sectx_request_reply_status(f->held[0], SECTX_E_NOTFOUND, "held");
	assert_int_equal(f->held_freed, 1);
	expect_reply(f, fd, SECTX_OP_STATUS, 3, SECTX_E_NOTFOUND, &r);
	expect_reply(f, fd, SECTX_OP_PING, 4, SECTX_OK, &r);
	assert_int_equal(f->calls, 4);
	close(fd);
	wait_conns(f, 0);
}

/* A client gone while its request is being served: the request is freed,
 * and the connection with it, once the handler answers; nothing is left. */
static void test_disconnect_mid_request(void **state)
{
	struct fixture *f = *state;
	int fd = client(f, SECTX_PAM_SOCKET);

	ask(f, fd, SECTX_PROTO_VERSION, SECTX_OP_STATUS, 1);
	wait_held(f, 1);
	close(fd);
	loop_for(f, 20);
	/* the handler answers when its work is done (unless the request went
	 * with its client already) */
	if (f->held[0] != NULL) {
		sectx_request_reply_status(f->held[0], SECTX_OK, NULL);
	}
	assert_int_equal(f->held_freed, 1);
	wait_conns(f, 0);
	assert_int_equal(stats(f).requests, 0); /* nobody read it */

	/* freeing the server frees a request in flight with its connection */
	fd = client(f, SECTX_PAM_SOCKET);
	ask(f, fd, SECTX_PROTO_VERSION, SECTX_OP_STATUS, 2);
	wait_held(f, 2);
	assert_non_null(f->held[1]);
	TALLOC_FREE(f->srv);
	assert_int_equal(f->held_freed, 2);
	expect_closed(f, fd, WAIT_MS);
	close(fd);
}

/* One descriptor with a frame on pam.sock reaches the handler; two refuse
 * the frame (E_PROTO, close); on nss.sock none arrives. */
static void test_passed_fd(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	size_t len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, 1);
	struct reply r;
	struct stat st;
	uint64_t ino;
	int p[2], fd;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(fstat(p[0], &st), 0);

	fd = client(f, SECTX_PAM_SOCKET);
	send_with_fds(fd, buf, len, &p[0], 1);
	expect_reply(f, fd, SECTX_OP_PING, 1, SECTX_OK, &r);
	assert_int_equal(sectx_msg_get_u64(&r.msg, SECTX_TAG_GENERATION, &ino), 0);
	assert_int_equal(ino, (uint64_t)st.st_ino);
	/* the next frame on the connection carries none */
	send_all(f, fd, buf, len);
	expect_reply(f, fd, SECTX_OP_PING, 1, SECTX_OK, &r);
	assert_int_not_equal(sectx_msg_get_u64(&r.msg, SECTX_TAG_GENERATION, &ino), 0);

	send_with_fds(fd, buf, len, p, 2);
	expect_reply(f, fd, SECTX_OP_PING, 1, SECTX_E_PROTO, &r);
	expect_closed(f, fd, WAIT_MS);
	close(fd);
	assert_int_equal(f->calls, 2);

	fd = client(f, SECTX_NSS_SOCKET);
	send_with_fds(fd, buf, len, &p[0], 1);
	expect_reply(f, fd, SECTX_OP_PING, 1, SECTX_OK, &r);
	assert_int_not_equal(sectx_msg_get_u64(&r.msg, SECTX_TAG_GENERATION, &ino), 0);
	close(fd);
	assert_int_equal(f->calls, 3);
	wait_conns(f, 0);

	/* the server kept no copy: once ours are closed, the pipe's reader is gone */
	close(p[0]);
	assert_int_equal(write(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(p[1]);
}

/* At a cap the connection idle longest is evicted for the new one; when
 * every connection is busy the new one is refused. */
static void check_cap(struct fixture *f, bool per_uid)
{
	int c[4];
	struct reply r;
	unsigned i;

	if (per_uid) {
		f->hctx.cfg->sectxd.max_connections_per_uid = 2;
	} else {
		f->hctx.cfg->sectxd.max_connections = 2;
	}
	c[0] = client(f, SECTX_PAM_SOCKET);
	c[1] = client(f, SECTX_NSS_SOCKET);
	ping_ok(f, c[0], 1); /* c[1] is now the one idle longest */
	c[2] = client(f, SECTX_PAM_SOCKET);
	expect_closed(f, c[1], WAIT_MS);
	assert_int_equal(stats(f).refused, 1);
	ping_ok(f, c[0], 2);
	ping_ok(f, c[2], 3);

	/* both busy: nothing to evict */
	for (i = 0; i < 2; i++) {
		int fd = c[i == 0 ? 0 : 2];

		ask(f, fd, SECTX_PROTO_VERSION, SECTX_OP_STATUS, 10 + i);
	}
	wait_held(f, 2);
	c[3] = client(f, SECTX_PAM_SOCKET);
	expect_closed(f, c[3], WAIT_MS);
	assert_int_equal(stats(f).refused, 2);
	assert_int_equal(stats(f).conn_nss + stats(f).conn_pam, 2);

	sectx_request_reply_status(f->held[0], SECTX_OK, NULL);
	sectx_request_reply_status(f->held[1], SECTX_OK, NULL);
	expect_reply(f, c[0], SECTX_OP_STATUS, 10, SECTX_OK, &r);
	expect_reply(f, c[2], SECTX_OP_STATUS, 11, SECTX_OK, &r);
	for (i = 0; i < 4; i++) {
		close(c[i]);
	}
	wait_conns(f, 0);
}

static void test_cap_per_uid(void **state)
{
	check_cap(*state, true);
}

static void test_cap_total(void **state)
{
	check_cap(*state, false);
}

/* Shutdown removes the sockets and closes idle connections at once; a
 * request in flight is answered, then its connection closed. */
static void test_shutdown(void **state)
{
	struct fixture *f = *state;
	int idle = client(f, SECTX_NSS_SOCKET);
	int busy = client(f, SECTX_PAM_SOCKET);
	char path[160];
	struct reply r;

	ask(f, busy, SECTX_PROTO_VERSION, SECTX_OP_STATUS, 1);
	wait_held(f, 1);
	sectx_server_shutdown(f->srv);
	snprintf(path, sizeof(path), "%s/%s", f->dir, SECTX_PAM_SOCKET);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/%s", f->dir, SECTX_NSS_SOCKET);
	assert_int_equal(access(path, F_OK), -1);
	assert_true(connect_to(f->dir, SECTX_PAM_SOCKET) < 0);
	expect_closed(f, idle, WAIT_MS);
	assert_false(sectx_server_drained(f->srv));

	sectx_request_reply_status(f->held[0], SECTX_OK, NULL);
	expect_reply(f, busy, SECTX_OP_STATUS, 1, SECTX_OK, &r);
	expect_closed(f, busy, WAIT_MS);
	assert_true(sectx_server_drained(f->srv));
	close(idle);
	close(busy);
}

/* A second server on the same directory is refused while the first runs. */
static void test_second_server(void **state)
{
	struct fixture *f = *state;
	struct sectx_server *other = NULL;

	assert_int_equal(sectx_server_start(f->mem, &f->hctx, test_tables, 2, &other), -EADDRINUSE);
	assert_null(other);
	/* and the first one still serves */
	{
		int fd = client(f, SECTX_PAM_SOCKET);

		ping_ok(f, fd, 1);
		close(fd);
	}
}

/* --- hardening -------------------------------------------------------------- */

/* A client that closes while its request is served takes the request with it
 * at once: freed without a reply, its work (the timer below it) never runs,
 * and its slot is free for the next client.  One that sent its next frame
 * ahead is found gone by the hang-up poll, within a fraction of a second;
 * while it is there, it keeps its request. */
static void test_hangup_frees_busy_request(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	size_t len;
	int64_t t0;
	int fd, other;

	f->hctx.cfg->sectxd.max_connections_per_uid = 2;
	fd = client(f, SECTX_PAM_SOCKET);
	other = client(f, SECTX_NSS_SOCKET);
	ask(f, fd, SECTX_PROTO_VERSION, SECTX_OP_STATUS, 1);
	wait_held(f, 1);
	t0 = sectx_now_ms();
	close(fd);
	while (f->held_freed == 0 && sectx_now_ms() - t0 < WAIT_MS) {
		loop_step(f);
	}
	assert_int_equal(f->held_freed, 1);
	assert_true(sectx_now_ms() - t0 < 100); /* a turn or two of the loop */
	assert_int_equal(stats(f).hangups, 1);
	wait_conns(f, 1);
	loop_for(f, HOLD_WORK_MS + 100);
	assert_int_equal(f->held_work_done, 0); /* its work went with it */

	/* the slot is back: a new client of this uid is served while the
	 * other one is still connected */
	fd = client(f, SECTX_PAM_SOCKET);
	assert_int_equal(stats(f).refused, 0);
	ping_ok(f, fd, 2);

	/* sent ahead, then gone: the poll finds it */
	len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_STATUS, 3);
	len += frame(buf + len, sizeof(buf) - len, SECTX_PROTO_VERSION, SECTX_OP_PING, 4);
	assert_int_equal(send_all(f, fd, buf, len), 0);
	wait_held(f, 2);
	expect_silence(f, fd, 500); /* still there: kept, no deadline while busy */
	assert_non_null(f->held[1]);
	t0 = sectx_now_ms();
	close(fd);
	while (f->held_freed < 2 && sectx_now_ms() - t0 < WAIT_MS) {
		loop_step(f);
	}
	assert_int_equal(f->held_freed, 2);
	assert_true(sectx_now_ms() - t0 < 1000);
	assert_int_equal(stats(f).hangups, 2);
	wait_conns(f, 1);

	/* no reply was counted but the ping's */
	assert_int_equal(stats(f).requests, 1);
	assert_int_equal(f->calls, 3);
	ping_ok(f, other, 5);
	close(other);
	wait_conns(f, 0);
}

/* In a forked child, as uid: open n connections alternately to dir's
 * pam.sock and nss.sock and make each busy, tell the parent on ready and
 * wait until go is closed.  Exit 0, or a code saying what failed. */
static int holding_child(const char *dir, uid_t uid, unsigned n, int ready, int go)
{
	uint8_t buf[256];
	int fds[16];
	unsigned i;
	char c = 'r';

	if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
		return 10;
	}
	for (i = 0; i < n && i < 16; i++) {
		size_t len = frame(buf, sizeof(buf), SECTX_PROTO_VERSION,
				   i % 2 ? SECTX_OP_NSS_GETPWNAM : SECTX_OP_STATUS, i + 1);

		fds[i] = connect_to(dir, i % 2 ? SECTX_NSS_SOCKET : SECTX_PAM_SOCKET);
		if (fds[i] < 0) {
			return 11;
		}
		/* nss.sock serves no held op: that connection is kept busy by a
		 * frame it never completes instead (a slow loris) */
		if (send(fds[i], buf, i % 2 ? len - 1 : len, MSG_NOSIGNAL) < 0) {
			return 12;
		}
	}
	if (write(ready, &c, 1) != 1 || read(go, &c, 1) < 0) {
		return 13;
	}
	return 0;
}

/* Four uids other than root each open as many connections as they may
 * (max_connections_per_uid), which together would be max_connections, and
 * keep every one busy: they hold no more than max_connections less the root
 * reserve, and root still connects to both sockets and is served.  The
 * default config keeps a reserve too. */
static void test_root_reserve(void **state)
{
	struct fixture *f = *state;
	struct sectx_config *defaults;
	const unsigned per_uid = 4, uids = 4, reserve = 4;
	pid_t pids[4];
	int ready[2], go[2];
	unsigned i;
	char c;
	int nss, pam;

	assert_int_equal(sectx_config_defaults(f->mem, &defaults), 0);
	assert_true(defaults->sectxd.root_reserved_connections >= 1);
	assert_true(defaults->sectxd.root_reserved_connections <=
		    defaults->sectxd.max_connections / 2);
	assert_true(uids * defaults->sectxd.max_connections_per_uid >
		    defaults->sectxd.max_connections - defaults->sectxd.root_reserved_connections);
	if (geteuid() != 0) {
		skip(); /* needs other uids */
	}

	f->hctx.cfg->sectxd.max_connections = 16;
	f->hctx.cfg->sectxd.max_connections_per_uid = per_uid;
	f->hctx.cfg->sectxd.root_reserved_connections = reserve;
	f->hctx.cfg->sectxd.client_timeout_ms = WAIT_MS; /* the slow lorises stay */
	assert_int_equal(uids * per_uid, f->hctx.cfg->sectxd.max_connections);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	for (i = 0; i < uids; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			_exit(holding_child(f->dir, NOBODY - 1 - i, per_uid, ready[1], go[0]));
		}
	}
	close(ready[1]);
	close(go[0]);
	for (i = 0; i < uids; i++) {
		assert_int_equal(read(ready[0], &c, 1), 1);
	}
	/* every frame is in: the server takes what it may */
	loop_for(f, 300);
	assert_int_equal(stats(f).conn_nss + stats(f).conn_pam,
			 f->hctx.cfg->sectxd.max_connections - reserve);
	assert_true(stats(f).refused >= reserve);
	assert_true(f->n_held > 0);

	/* root, on both sockets, although nothing of the others is idle */
	pam = client(f, SECTX_PAM_SOCKET);
	nss = client(f, SECTX_NSS_SOCKET);
	ping_ok(f, pam, 1);
	ping_ok(f, nss, 2);
	assert_int_equal(f->last_uid, 0);
	close(pam);
	close(nss);

	for (i = 0; i < f->n_held; i++) {
		if (f->held[i] != NULL) {
			sectx_request_reply_status(f->held[i], SECTX_OK, NULL);
		}
	}
	close(go[1]); /* the children exit, their connections close */
	for (i = 0; i < uids; i++) {
		int64_t end = sectx_now_ms() + WAIT_MS;
		int status = -1;

		while (waitpid(pids[i], &status, WNOHANG) == 0 && sectx_now_ms() < end) {
			loop_step(f);
		}
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	close(ready[0]);
	wait_conns(f, 0);
}

/* A client that announces a frame of SECTX_FRAME_MAX (big) and sends body
 * bytes of it, read by the server before this returns. */
static int partial_client(struct fixture *f, const uint8_t *big, size_t body)
{
	int fd = client(f, SECTX_PAM_SOCKET);
	uint64_t before = stats(f).partial_bytes;
	int64_t end = sectx_now_ms() + WAIT_MS;

	assert_int_equal(send_all(f, fd, big, SECTX_HDR_LEN + body), 0);
	while (stats(f).partial_bytes == before && sectx_now_ms() < end) {
		loop_step(f);
	}
	loop_for(f, 20); /* the rest of what was sent */
	return fd;
}

/* With the budget of partial frames at its least (128 KiB), two frames half
 * in hold 64 KiB each; a third one growing past the budget closes the
 * connection whose frame began first; then the third, completing, closes
 * the second, and is served. */
static void test_partial_budget_evicts_oldest(void **state)
{
	struct fixture *f = *state;
	uint8_t *big = talloc_zero_size(f->mem, SECTX_FRAME_MAX);
	uint8_t *token = talloc_zero_size(f->mem, SECTX_FRAME_MAX);
	struct sectx_wbuf w;
	struct reply r;
	size_t len = 0;
	int a, b, c;

	assert_non_null(big);
	assert_non_null(token);
	f->hctx.cfg->sectxd.max_partial_frames_kib = 128;
	f->hctx.cfg->sectxd.client_timeout_ms = WAIT_MS;
	sectx_frame_begin(&w, big, SECTX_FRAME_MAX, SECTX_PROTO_VERSION, SECTX_OP_PING, 9);
	sectx_put_bytes(&w, SECTX_TAG_TOKEN, token,
			SECTX_FRAME_MAX - SECTX_HDR_LEN - SECTX_FIELD_HDR_LEN);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(len, SECTX_FRAME_MAX);

	a = partial_client(f, big, 40000);
	assert_int_equal(stats(f).partial_bytes, 65536);
	b = partial_client(f, big, 40000);
	assert_int_equal(stats(f).partial_bytes, 2 * 65536);
	assert_int_equal(stats(f).evicted_partial, 0);

	c = partial_client(f, big, 5000); /* 8 KiB more: over the budget */
	expect_closed(f, a, WAIT_MS);
	assert_int_equal(stats(f).evicted_partial, 1);
	assert_true(stats(f).partial_bytes <= 128 * 1024);
	expect_silence(f, b, 50);

	assert_int_equal(send_all(f, c, big + SECTX_HDR_LEN + 5000, len - SECTX_HDR_LEN - 5000), 0);
	expect_reply(f, c, SECTX_OP_PING, 9, SECTX_OK, &r);
	expect_closed(f, b, WAIT_MS);
	assert_int_equal(stats(f).evicted_partial, 2);
	assert_int_equal(stats(f).partial_bytes, 0);
	assert_int_equal(f->calls, 1);
	close(a);
	close(b);
	close(c);
	wait_conns(f, 0);
}

/* How many times needle occurs in text. */
static unsigned count_in(const char *text, const char *needle)
{
	unsigned n = 0;
	const char *p = text;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* What the server logged at info level (to stderr, redirected to a file)
 * while fn ran. */
static char *logged_during(struct fixture *f, void (*fn)(struct fixture *f))
{
	char path[160];
	int saved = dup(STDERR_FILENO);
	struct stat st;
	char *text;
	int fd;

	snprintf(path, sizeof(path), "%s/log", f->base);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	sectx_log_set_level(SECTX_LOG_INFO);
	fn(f);
	sectx_log_set_level(SECTX_LOG_ERROR);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	assert_int_equal(fstat(fd, &st), 0);
	text = talloc_zero_size(f->mem, (size_t)st.st_size + 1);
	assert_non_null(text);
	assert_int_equal(pread(fd, text, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	unlink(path);
	return text;
}

#define BAD_HEADERS 40
#define LOG_LINES   5
#define LOG_WINDOW  300

/* BAD_HEADERS connections each send a header announcing too long a frame;
 * then, once the window is over, one more. */
static void flood_bad_headers(struct fixture *f)
{
	unsigned i;

	for (i = 0; i <= BAD_HEADERS; i++) {
		uint8_t buf[256];
		struct reply r;
		int fd;

		if (i == BAD_HEADERS) {
			loop_for(f, LOG_WINDOW + 100); /* the summary is due, then a new window */
		}
		fd = client(f, i % 2 ? SECTX_NSS_SOCKET : SECTX_PAM_SOCKET);
		frame(buf, sizeof(buf), SECTX_PROTO_VERSION, SECTX_OP_PING, i);
		buf[0] = 0xff;
		assert_int_equal(send_all(f, fd, buf, SECTX_HDR_LEN), 0);
		expect_reply(f, fd, SECTX_OP_PING, i, SECTX_E_PROTO, &r);
		expect_closed(f, fd, WAIT_MS);
		close(fd);
	}
	wait_conns(f, 0);
}

/* A flood of bad frame headers logs LOG_LINES lines in its window, then
 * one line with the count of the others; the next window logs again. */
static void test_peer_log_rate_limited(void **state)
{
	struct fixture *f = *state;
	char want[128];
	char *text;

	f->hctx.cfg->sectxd.peer_log_lines = LOG_LINES;
	f->hctx.cfg->sectxd.peer_log_interval_ms = LOG_WINDOW;
	text = logged_during(f, flood_bad_headers);
	assert_int_equal(count_in(text, "bad frame header on"), LOG_LINES + 1);
	snprintf(want, sizeof(want), "%u more lines about bad frame headers suppressed",
		 BAD_HEADERS - LOG_LINES);
	assert_int_equal(count_in(text, want), 1);
	assert_int_equal(count_in(text, "suppressed"), 1);
	assert_int_equal(stats(f).log_suppressed, BAD_HEADERS - LOG_LINES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_whole_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_largest_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_header_or_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reader_that_does_not_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_socket_and_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_root_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_frames_one_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_mid_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_passed_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap_per_uid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap_total, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hangup_frees_busy_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_root_reserve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_budget_evicts_oldest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_log_rate_limited, setup, teardown),
	};

	sectx_log_init("test_server", 1, SECTX_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* test_passed_fd writes to a pipe with no reader */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
