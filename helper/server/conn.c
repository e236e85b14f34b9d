/*
 * server/conn.c - one client connection of sectxd: reading a frame with its
 * deadline, taking a descriptor passed with it (SCM_RIGHTS), watching a busy
 * connection for hang-up, writing the reply with its deadline, and the idle
 * and client timeouts.
 *
 * The trust boundary of the whole project runs through this file: bytes from
 * any local user arrive here in a root process.  See server.h for who can
 * reach it and what they can make it do.  Rules kept here:
 *  - a connection's identity is SO_PEERCRED taken at accept, nothing else;
 *  - a frame is read into a buffer that grows only as bytes arrive, up to the
 *    length its header announced, which is bounded by SECTX_FRAME_MAX; a
 *    header announcing more is answered E_PROTO and the connection closed
 *    without reading the rest; every growth is charged to the budget of
 *    partial frames first (limits.c), which may close this connection;
 *  - a frame, once started, must complete within client_timeout (a deadline
 *    per frame, not per byte, so a trickle cannot keep it open), and a reply
 *    must be read within the same time;
 *  - one request at a time per connection: reading stops while it is served,
 *    but the connection is still watched: end of file or an error closes it
 *    at once, and with it the request and all its work (a client that left
 *    keeps no slot and no KDC exchange running); bytes of a next frame sent
 *    ahead are left unread, and hang-up is then polled every HUP_POLL_MS;
 *  - request frames and replies are scrubbed when freed (they may carry
 *    passwords and tokens);
 *  - at most one descriptor per frame, only on pam.sock; more is refused.
 * It never interprets a field: a whole frame goes to dispatch.c.
 */
#include "server/server_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define FRAME_CHUNK 4096u /* initial read buffer; doubled as bytes arrive */
#define HUP_POLL_MS 200u  /* hang-up check of a busy client that sent ahead */

static void conn_readable(struct sectx_sconn *conn);
static void conn_writable(struct sectx_sconn *conn);

/* --- connection lifetime -------------------------------------------------- */

static int scrub_buffer(uint8_t *buf)
{
	explicit_bzero(buf, talloc_get_size(buf));
	return 0;
}

/* Allocate a buffer that is wiped when freed: frames may carry secrets.
 * Contract in server_int.h. */
uint8_t *sectx_srv_scrubbed_buffer(TALLOC_CTX *mem_ctx, size_t size)
{
	uint8_t *buf = talloc_size(mem_ctx, size);

	if (buf != NULL) {
		talloc_set_destructor(buf, scrub_buffer);
	}
	return buf;
}

/* Close the descriptor passed with the current frame, if any. */
static void conn_drop_passed_fd(struct sectx_sconn *c)
{
	if (c->passed_fd >= 0) {
		close(c->passed_fd);
		c->passed_fd = -1;
	}
	c->passed_fd_refused = false;
}

static int conn_destructor(struct sectx_sconn *c)
{
	struct sectx_server *srv = c->srv;

	/* the request (and its async work) goes first, while the conn is whole */
	TALLOC_FREE(c->req);
	sectx_srv_partial_end(c);
	conn_drop_passed_fd(c);
	TALLOC_FREE(c->fde);
	TALLOC_FREE(c->timer);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	sectx_srv_lru_unlink(srv, c);
	srv->nconns--;
	if (c->peer.uid == 0) {
		srv->nconns_root--;
	}
	if (c->kind == SECTX_SOCK_NSS) {
		srv->stats.conn_nss--;
	} else {
		srv->stats.conn_pam--;
	}
	return 0;
}

/* Contract in server_int.h. */
void sectx_srv_conn_close(struct sectx_sconn *conn, const char *why)
{
	SECTX_TRACE("closing %s connection of uid %u pid %d: %s", sectx_srv_kind_name(conn->kind),
		    (unsigned)conn->peer.uid, (int)conn->peer.pid, why);
	talloc_free(conn);
}

static void conn_timeout(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			 void *private_data)
{
	struct sectx_sconn *conn = talloc_get_type_abort(private_data, struct sectx_sconn);

	conn->timer = NULL; /* tevent frees a timer once it fires */
	if (conn->state == CONN_IDLE) {
		sectx_srv_conn_close(conn, "idle timeout");
	} else {
		sectx_srv_log_peer(conn->srv, SRV_LOG_TIMEOUT,
				   "closing %s connection of uid %u pid %d: no complete %s within "
				   "the client timeout",
				   sectx_srv_kind_name(conn->kind), (unsigned)conn->peer.uid,
				   (int)conn->peer.pid,
				   conn->state == CONN_READING ? "request" : "read of the reply");
		talloc_free(conn);
	}
}

static int conn_set_timer(struct sectx_sconn *conn, uint64_t ms)
{
	TALLOC_FREE(conn->timer);
	conn->timer = tevent_add_timer(conn->srv->hctx->ev, conn,
				       tevent_timeval_current_ofs(ms / 1000, (ms % 1000) * 1000),
				       conn_timeout, conn);
	return conn->timer != NULL ? 0 : -ENOMEM;
}

static void conn_fd_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			    void *private_data)
{
	struct sectx_sconn *conn = talloc_get_type_abort(private_data, struct sectx_sconn);

	if (flags & TEVENT_FD_WRITE) {
		conn_writable(conn); /* may free conn */
		return;
	}
	if (flags & TEVENT_FD_READ) {
		conn_readable(conn); /* may free conn */
	}
}

/* Back to waiting for the next frame. */
static void conn_go_idle(struct sectx_sconn *conn)
{
	struct sectx_server *srv = conn->srv;

	if (srv->shutting_down) {
		sectx_srv_conn_close(conn, "helper stopping");
		return;
	}
	conn->state = CONN_IDLE;
	sectx_srv_partial_end(conn);
	conn_drop_passed_fd(conn);
	conn->hdr_got = 0;
	conn->frame_got = 0;
	conn->frame_cap = 0;
	TALLOC_FREE(conn->frame);
	sectx_srv_lru_touch(conn);
	if (conn_set_timer(conn, srv->hctx->cfg->sectxd.idle_timeout_ms) != 0) {
		sectx_srv_conn_close(conn, "out of memory");
		return;
	}
	TEVENT_FD_NOT_WRITEABLE(conn->fde);
	TEVENT_FD_READABLE(conn->fde);
}

/* Contract in server_int.h. */
int sectx_srv_conn_new(struct sectx_server *srv, int kind, int fd, const struct ucred *cred)
{
	struct sectx_sconn *conn;

	conn = talloc_zero(srv, struct sectx_sconn);
	if (conn == NULL) {
		close(fd);
		return -ENOMEM;
	}
	conn->srv = srv;
	conn->fd = fd;
	conn->kind = kind;
	conn->peer = *cred;
	conn->state = CONN_IDLE;
	conn->passed_fd = -1;
	sectx_srv_lru_append(srv, conn);
	srv->nconns++;
	if (cred->uid == 0) {
		srv->nconns_root++;
	}
	if (kind == SECTX_SOCK_NSS) {
		srv->stats.conn_nss++;
	} else {
		srv->stats.conn_pam++;
	}
	talloc_set_destructor(conn, conn_destructor);
	conn->fde = tevent_add_fd(srv->hctx->ev, conn, fd, TEVENT_FD_READ, conn_fd_handler, conn);
	if (conn->fde == NULL ||
	    conn_set_timer(conn, srv->hctx->cfg->sectxd.idle_timeout_ms) != 0) {
		talloc_free(conn);
		return -ENOMEM;
	}
	return 0;
}

/* --- writing replies ------------------------------------------------------ */

static void conn_writable(struct sectx_sconn *conn)
{
	while (conn->out_off < conn->out_len) {
		ssize_t n = send(conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			conn->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			TEVENT_FD_WRITEABLE(conn->fde);
			return;
		}
		sectx_srv_conn_close(conn, "peer went away before reading its reply");
		return;
	}
	conn->srv->stats.requests++;
	TALLOC_FREE(conn->out);
	conn->out_len = conn->out_off = 0;
	if (conn->close_after_write) {
		sectx_srv_conn_close(conn, "closed after an error reply");
		return;
	}
	conn_go_idle(conn);
}

/* Queue out (stolen onto conn) and start writing it.  Contract in server_int.h. */
void sectx_srv_conn_start_write(struct sectx_sconn *conn, uint8_t *out, size_t len)
{
	conn->out = talloc_steal(conn, out);
	conn->out_len = len;
	conn->out_off = 0;
	conn->state = CONN_WRITING;
	sectx_srv_partial_end(conn); /* a frame refused mid-way is no longer read */
	TEVENT_FD_NOT_READABLE(conn->fde);
	if (conn_set_timer(conn, conn->srv->hctx->cfg->sectxd.client_timeout_ms) != 0) {
		sectx_srv_conn_close(conn, "out of memory");
		return;
	}
	conn_writable(conn);
}

/* Contract in server_int.h. */
void sectx_srv_conn_send_status(struct sectx_sconn *conn, const struct sectx_hdr *h,
				uint32_t status, const char *msg, bool then_close)
{
	uint8_t *out = sectx_srv_scrubbed_buffer(conn, 1024);
	size_t len = 0;

	conn->close_after_write = then_close;
	if (out == NULL || sectx_reply_status(out, 1024, h, status, msg, &len) != 0) {
		talloc_free(out);
		sectx_srv_conn_close(conn, "cannot build a reply");
		return;
	}
	sectx_srv_conn_start_write(conn, out, len);
}

/* --- per-connection state of operation groups ------------------------------ */

/* Contract in server.h. */
void **sectx_conn_slot(struct sectx_sconn *conn, enum sectx_conn_slot slot)
{
	return &conn->slots[slot];
}

/* Contract in server.h. */
TALLOC_CTX *sectx_conn_mem(struct sectx_sconn *conn)
{
	return conn;
}

/* --- reading requests ----------------------------------------------------- */

/* recv() on conn, taking any descriptors passed with the bytes (pam.sock).
 * One descriptor per frame is kept; more, or a truncated set, marks the frame
 * refused (the kernel has closed the ones that did not fit, we close ours). */
static ssize_t conn_recv(struct sectx_sconn *conn, uint8_t *dst, size_t want)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 2)];
	} control;
	struct iovec iov = {.iov_base = dst, .iov_len = want};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t n;

	if (conn->kind != SECTX_SOCK_PAM) {
		/* descriptors sent to nss.sock are discarded by the kernel */
		return recv(conn->fd, dst, want, MSG_DONTWAIT);
	}
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	n = recvmsg(conn->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		return n;
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		conn->passed_fd_refused = true;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t i, nfds;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0)) {
			continue;
		}
		nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (conn->passed_fd < 0 && !conn->passed_fd_refused) {
				conn->passed_fd = fd;
				continue;
			}
			close(fd);
			conn->passed_fd_refused = true;
		}
	}
	if (conn->passed_fd_refused && conn->passed_fd >= 0) {
		close(conn->passed_fd);
		conn->passed_fd = -1;
	}
	return n;
}

/* Read what is there of the current frame.  Returns 1 when the frame is
 * complete, 0 when more is needed, -1 when conn was closed or answered. */
static int conn_read_frame(struct sectx_sconn *conn)
{
	struct sectx_server *srv = conn->srv;

	for (;;) {
		uint8_t *dst;
		size_t want;
		ssize_t n;

		if (conn->hdr_got < SECTX_HDR_LEN) {
			dst = conn->hdr + conn->hdr_got;
			want = SECTX_HDR_LEN - conn->hdr_got;
		} else {
			if (conn->frame_got == conn->frame_cap) {
				size_t cap = conn->frame_cap * 2;
				uint8_t *grown;

				if (cap > conn->h.length) {
					cap = conn->h.length;
				}
				if (!sectx_srv_partial_charge(conn, cap)) {
					return -1; /* conn was the oldest: closed */
				}
				/* talloc_realloc would free the old block without
				 * scrubbing it: copy into a new scrubbed one instead */
				grown = sectx_srv_scrubbed_buffer(conn, cap);
				if (grown == NULL) {
					sectx_srv_conn_close(conn, "out of memory");
					return -1;
				}
				memcpy(grown, conn->frame, conn->frame_got);
				talloc_free(conn->frame);
				conn->frame = grown;
				conn->frame_cap = cap;
			}
			dst = conn->frame + conn->frame_got;
			want = conn->frame_cap - conn->frame_got;
		}
		n = conn_recv(conn, dst, want);
		if (n == 0) {
			sectx_srv_conn_close(conn, conn->state == CONN_IDLE
						       ? "peer closed"
						       : "peer closed mid-frame");
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				return 0;
			}
			sectx_srv_conn_close(conn, "read error");
			return -1;
		}
		if (conn->state == CONN_IDLE) {
			/* The per-frame deadline starts with its first byte. */
			conn->state = CONN_READING;
			sectx_srv_partial_begin(conn);
			if (conn_set_timer(conn, srv->hctx->cfg->sectxd.client_timeout_ms) != 0) {
				sectx_srv_conn_close(conn, "out of memory");
				return -1;
			}
		}
		if (conn->hdr_got < SECTX_HDR_LEN) {
			int ret;

			conn->hdr_got += (size_t)n;
			if (conn->hdr_got < SECTX_HDR_LEN) {
				continue;
			}
			ret = sectx_hdr_decode(conn->hdr, SECTX_HDR_LEN, &conn->h);
			if (ret != 0) {
				sectx_srv_log_peer(srv, SRV_LOG_BAD_HEADER,
						   "bad frame header on %s from uid %u pid %d: %s",
						   sectx_srv_kind_name(conn->kind),
						   (unsigned)conn->peer.uid, (int)conn->peer.pid,
						   sectx_strerror(ret));
				sectx_srv_conn_send_status(conn, &conn->h, SECTX_E_PROTO,
							   sectx_strerror(ret), true);
				return -1;
			}
			conn->frame_cap =
			    conn->h.length < FRAME_CHUNK ? conn->h.length : FRAME_CHUNK;
			if (!sectx_srv_partial_charge(conn, conn->frame_cap)) {
				return -1; /* conn was the oldest: closed */
			}
			conn->frame = sectx_srv_scrubbed_buffer(conn, conn->frame_cap);
			if (conn->frame == NULL) {
				sectx_srv_conn_close(conn, "out of memory");
				return -1;
			}
			memcpy(conn->frame, conn->hdr, SECTX_HDR_LEN);
			conn->frame_got = SECTX_HDR_LEN;
		} else {
			conn->frame_got += (size_t)n;
		}
		if (conn->frame_got == conn->h.length) {
			return 1;
		}
	}
}

/* --- hang-up of a busy connection ------------------------------------------ */

/* The client of a busy connection has gone: close it, which frees its
 * request and everything hung below (KDC exchange, worker, timers). */
static void conn_hung_up(struct sectx_sconn *conn, const char *how)
{
	if (conn->req != NULL) {
		conn->srv->stats.hangups++;
		SECTX_DEBUG("%s of uid %u pid %d cancelled: the client %s",
			    sectx_op_name(conn->req->msg.hdr.op), (unsigned)conn->peer.uid,
			    (int)conn->peer.pid, how);
	}
	sectx_srv_conn_close(conn, "peer went away while its request was served");
}

static int conn_set_hup_poll(struct sectx_sconn *conn);

/* Bytes of the next frame wait unread, so readability says nothing: ask the
 * kernel whether the peer has shut down or the socket failed. */
static void conn_hup_poll(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			  void *private_data)
{
	struct sectx_sconn *conn = talloc_get_type_abort(private_data, struct sectx_sconn);
	struct pollfd p = {.fd = conn->fd, .events = POLLRDHUP};

	conn->timer = NULL; /* tevent frees a timer once it fires */
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
		conn_hung_up(conn, "went away");
		return;
	}
	if (conn_set_hup_poll(conn) != 0) {
		sectx_srv_conn_close(conn, "out of memory");
	}
}

static int conn_set_hup_poll(struct sectx_sconn *conn)
{
	TALLOC_FREE(conn->timer);
	conn->timer = tevent_add_timer(conn->srv->hctx->ev, conn,
				       tevent_timeval_current_ofs(0, HUP_POLL_MS * 1000),
				       conn_hup_poll, conn);
	return conn->timer != NULL ? 0 : -ENOMEM;
}

/* A busy connection is readable: end of file or an error means the client
 * has gone; data is its next frame, sent ahead, left for after the reply. */
static void conn_busy_readable(struct sectx_sconn *conn)
{
	uint8_t b;
	ssize_t n = recv(conn->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n > 0) {
		TEVENT_FD_NOT_READABLE(conn->fde);
		if (conn_set_hup_poll(conn) != 0) {
			sectx_srv_conn_close(conn, "out of memory");
		}
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		return;
	}
	conn_hung_up(conn, n == 0 ? "closed its end" : "connection failed");
}

/* Contract in server_int.h. */
void sectx_srv_conn_watch_busy(struct sectx_sconn *conn)
{
	TALLOC_FREE(conn->timer); /* no client deadline while it is served */
	TEVENT_FD_NOT_WRITEABLE(conn->fde);
	TEVENT_FD_READABLE(conn->fde);
}

static void conn_readable(struct sectx_sconn *conn)
{
	if (conn->state == CONN_BUSY) {
		conn_busy_readable(conn); /* may free conn */
		return;
	}
	if (conn->state != CONN_IDLE && conn->state != CONN_READING) {
		TEVENT_FD_NOT_READABLE(conn->fde);
		return;
	}
	if (conn_read_frame(conn) == 1) {
		sectx_srv_dispatch(conn);
	}
}
