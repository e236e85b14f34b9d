/*
 * server/server.c - sectxd's sockets, connections and request dispatch.
 *
 * The trust boundary of the whole project runs through this file: bytes from
 * any local user arrive here in a root process.  See server.h for who can
 * reach it and what they can make it do.  Rules kept here:
 *  - a connection's identity is SO_PEERCRED taken at accept, nothing else;
 *  - a frame is read into a buffer that grows only as bytes arrive, up to the
 *    length its header announced, which is bounded by SECTX_FRAME_MAX;
 *  - a frame, once started, must complete within client_timeout (a deadline
 *    per frame, not per byte, so a trickle cannot keep it open), and a reply
 *    must be read within the same time;
 *  - one request at a time per connection: reading stops while it is served;
 *  - request frames and replies are scrubbed when freed (they may carry
 *    passwords and tokens);
 *  - the socket directory is root-owned 0755 and locked, so no other process
 *    can plant or remove a socket in it while we run.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "atomic_file.h"
#include "client.h"
#include "log.h"

#define FRAME_CHUNK 4096u     /* initial read buffer; doubled as bytes arrive */
#define ACCEPT_BURST 64       /* accepts per wake-up, to stay fair to clients */
#define ACCEPT_PAUSE_MS 100   /* back-off when out of descriptors */
#define LOCK_FILE "sectxd.lock"

enum conn_state {
	CONN_IDLE,    /* waiting for the first byte of a frame */
	CONN_READING, /* a frame has begun; deadline running */
	CONN_BUSY,    /* a request is being served; not reading */
	CONN_WRITING, /* a reply is being sent; deadline running */
};

struct listener {
	struct sectx_server *srv;
	int kind;
	const char *name;
	int fd;
	struct tevent_fd *fde;
	struct tevent_timer *pause;
};

struct sectx_sconn {
	struct sectx_server *srv;
	struct sectx_sconn *prev, *next; /* LRU: head was active longest ago */
	int kind;
	int fd;
	struct ucred peer;
	struct tevent_fd *fde;
	struct tevent_timer *timer;
	enum conn_state state;

	uint8_t hdr[SECTX_HDR_LEN];
	size_t hdr_got;
	struct sectx_hdr h;
	uint8_t *frame;
	size_t frame_cap;
	size_t frame_got;

	struct sectx_request *req;
	uint8_t *out;
	size_t out_len;
	size_t out_off;
	bool close_after_write;

	/* A descriptor passed with the frame being read (pam.sock only), and
	 * whether the frame carried more than one, or a truncated set. */
	int passed_fd;
	bool passed_fd_refused;
	void *slots[SECTX_SLOT_MAX]; /* sectx_conn_slot: per-connection state */
};

struct sectx_server {
	struct sectxd_ctx *hctx;
	const struct sectx_op_table *const *tables; /* what is served (daemon/subsystems.c) */
	size_t n_tables;
	int dirfd;
	int lockfd;
	struct listener nss;
	struct listener pam;
	struct sectx_sconn *head, *tail;
	unsigned nconns;
	struct sectx_server_stats stats;
	bool shutting_down;
};

static void conn_readable(struct sectx_sconn *conn);
static void conn_writable(struct sectx_sconn *conn);
static void conn_send_status(struct sectx_sconn *conn, const struct sectx_hdr *h, uint32_t status,
			     const char *msg, bool then_close);

static const char *kind_name(int kind)
{
	return kind == SECTX_SOCK_NSS ? SECTX_NSS_SOCKET : SECTX_PAM_SOCKET;
}

/* --- connection list (LRU) ------------------------------------------------ */

static void lru_unlink(struct sectx_server *srv, struct sectx_sconn *c)
{
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else if (srv->head == c) {
		srv->head = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	} else if (srv->tail == c) {
		srv->tail = c->prev;
	}
	c->prev = c->next = NULL;
}

static void lru_append(struct sectx_server *srv, struct sectx_sconn *c)
{
	c->prev = srv->tail;
	c->next = NULL;
	if (srv->tail != NULL) {
		srv->tail->next = c;
	} else {
		srv->head = c;
	}
	srv->tail = c;
}

static void lru_touch(struct sectx_sconn *c)
{
	lru_unlink(c->srv, c);
	lru_append(c->srv, c);
}

/* --- connection lifetime -------------------------------------------------- */

static int scrub_buffer(uint8_t *buf)
{
	explicit_bzero(buf, talloc_get_size(buf));
	return 0;
}

/* Allocate a buffer that is wiped when freed: frames may carry secrets. */
static uint8_t *scrubbed_buffer(TALLOC_CTX *mem_ctx, size_t size)
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
	conn_drop_passed_fd(c);
	TALLOC_FREE(c->fde);
	TALLOC_FREE(c->timer);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	lru_unlink(srv, c);
	srv->nconns--;
	if (c->kind == SECTX_SOCK_NSS) {
		srv->stats.conn_nss--;
	} else {
		srv->stats.conn_pam--;
	}
	return 0;
}

static void conn_close(struct sectx_sconn *conn, const char *why)
{
	SECTX_TRACE("closing %s connection of uid %u pid %d: %s", kind_name(conn->kind),
		    (unsigned)conn->peer.uid, (int)conn->peer.pid, why);
	talloc_free(conn);
}

static void conn_timeout(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			 void *private_data)
{
	struct sectx_sconn *conn = talloc_get_type_abort(private_data, struct sectx_sconn);

	conn->timer = NULL; /* tevent frees a timer once it fires */
	if (conn->state == CONN_IDLE) {
		conn_close(conn, "idle timeout");
	} else {
		SECTX_INFO("closing %s connection of uid %u pid %d: no complete %s within the "
			   "client timeout",
			   kind_name(conn->kind), (unsigned)conn->peer.uid, (int)conn->peer.pid,
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
		conn_close(conn, "helper stopping");
		return;
	}
	conn->state = CONN_IDLE;
	conn_drop_passed_fd(conn);
	conn->hdr_got = 0;
	conn->frame_got = 0;
	conn->frame_cap = 0;
	TALLOC_FREE(conn->frame);
	lru_touch(conn);
	if (conn_set_timer(conn, srv->hctx->cfg->sectxd.idle_timeout_ms) != 0) {
		conn_close(conn, "out of memory");
		return;
	}
	TEVENT_FD_NOT_WRITEABLE(conn->fde);
	TEVENT_FD_READABLE(conn->fde);
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
		conn_close(conn, "peer went away before reading its reply");
		return;
	}
	conn->srv->stats.requests++;
	TALLOC_FREE(conn->out);
	conn->out_len = conn->out_off = 0;
	if (conn->close_after_write) {
		conn_close(conn, "closed after an error reply");
		return;
	}
	conn_go_idle(conn);
}

/* Queue out (stolen onto conn) and start writing it. */
static void conn_start_write(struct sectx_sconn *conn, uint8_t *out, size_t len)
{
	conn->out = talloc_steal(conn, out);
	conn->out_len = len;
	conn->out_off = 0;
	conn->state = CONN_WRITING;
	TEVENT_FD_NOT_READABLE(conn->fde);
	if (conn_set_timer(conn, conn->srv->hctx->cfg->sectxd.client_timeout_ms) != 0) {
		conn_close(conn, "out of memory");
		return;
	}
	conn_writable(conn);
}

static void conn_send_status(struct sectx_sconn *conn, const struct sectx_hdr *h, uint32_t status,
			     const char *msg, bool then_close)
{
	uint8_t *out = scrubbed_buffer(conn, 1024);
	size_t len = 0;

	conn->close_after_write = then_close;
	if (out == NULL || sectx_reply_status(out, 1024, h, status, msg, &len) != 0) {
		talloc_free(out);
		conn_close(conn, "cannot build a reply");
		return;
	}
	conn_start_write(conn, out, len);
}

/* --- requests ------------------------------------------------------------- */

int sectx_request_reply_begin(struct sectx_request *req, size_t cap, struct sectx_wbuf *w)
{
	uint8_t *buf;

	if (cap > SECTX_FRAME_MAX) {
		cap = SECTX_FRAME_MAX;
	}
	buf = scrubbed_buffer(req, cap);
	if (buf == NULL) {
		memset(w, 0, sizeof(*w));
		w->err = -ENOMEM;
		return -ENOMEM;
	}
	sectx_frame_begin(w, buf, cap, req->msg.hdr.version,
			  (uint16_t)(req->msg.hdr.op | SECTX_OP_REPLY), req->msg.hdr.reqid);
	sectx_put_u32(w, SECTX_TAG_STATUS, SECTX_OK);
	return 0;
}

static int request_destructor(struct sectx_request *req)
{
	if (req->passed_fd >= 0) {
		close(req->passed_fd);
		req->passed_fd = -1;
	}
	return 0;
}

int sectx_request_take_fd(struct sectx_request *req)
{
	int fd = req->passed_fd;

	req->passed_fd = -1;
	return fd;
}

void **sectx_conn_slot(struct sectx_sconn *conn, enum sectx_conn_slot slot)
{
	return &conn->slots[slot];
}

TALLOC_CTX *sectx_conn_mem(struct sectx_sconn *conn)
{
	return conn;
}

/* Detach req from its connection and free it; returns the connection. */
static struct sectx_sconn *request_finish(struct sectx_request *req)
{
	struct sectx_sconn *conn = req->conn;

	conn->req = NULL;
	talloc_free(req);
	return conn;
}

void sectx_request_reply(struct sectx_request *req, struct sectx_wbuf *w)
{
	struct sectx_hdr h = req->msg.hdr;
	size_t len = 0;
	int ret;

	ret = w->data != NULL ? sectx_frame_end(w, &len) : -ENOMEM;
	if (ret != 0) {
		SECTX_ERROR("cannot encode the %s reply for uid %u: %s", sectx_op_name(h.op),
			    (unsigned)req->uid, sectx_strerror(ret));
		sectx_request_reply_status(req, SECTX_E_INTERNAL, NULL);
		return;
	}
	SECTX_DEBUG("%s for uid %u pid %d: ok", sectx_op_name(h.op), (unsigned)req->uid,
		    (int)req->pid);
	{
		uint8_t *out = talloc_steal(req->conn, w->data);
		struct sectx_sconn *conn = request_finish(req);

		conn_start_write(conn, out, len);
	}
}

void sectx_request_reply_status(struct sectx_request *req, uint32_t status, const char *msg)
{
	struct sectx_hdr h = req->msg.hdr;
	struct sectx_sconn *conn;

	SECTX_DEBUG("%s for uid %u pid %d: %s%s%s", sectx_op_name(h.op), (unsigned)req->uid,
		    (int)req->pid, sectx_status_name(status), msg != NULL ? ": " : "",
		    msg != NULL ? msg : "");
	conn = request_finish(req);
	conn_send_status(conn, &h, status, msg != NULL ? msg : sectx_status_name(status), false);
}

/* The operation's entry in the server's dispatch tables, or NULL. */
static const struct sectx_op_def *find_op(const struct sectx_server *srv, uint16_t op)
{
	size_t t, i;

	for (t = 0; t < srv->n_tables; t++) {
		for (i = 0; i < srv->tables[t]->n; i++) {
			if (srv->tables[t]->ops[i].op == op) {
				return &srv->tables[t]->ops[i];
			}
		}
	}
	return NULL;
}

/* A whole frame has arrived in conn->frame: check it and run its handler. */
static void conn_dispatch(struct sectx_sconn *conn)
{
	struct sectx_server *srv = conn->srv;
	const struct sectx_op_def *def;
	struct sectx_request *req;
	struct sectx_msg msg;
	int ret;

	TALLOC_FREE(conn->timer);
	if (conn->passed_fd_refused) {
		SECTX_INFO("refused a frame on %s from uid %u pid %d: more than one descriptor "
			   "passed with it",
			   kind_name(conn->kind), (unsigned)conn->peer.uid, (int)conn->peer.pid);
		conn_send_status(conn, &conn->h, SECTX_E_PROTO, "at most one descriptor per request",
				 true);
		return;
	}
	ret = sectx_msg_parse(conn->frame, conn->h.length, &msg);
	if (ret != 0) {
		SECTX_INFO("malformed frame on %s from uid %u pid %d: %s", kind_name(conn->kind),
			   (unsigned)conn->peer.uid, (int)conn->peer.pid, sectx_strerror(ret));
		conn_send_status(conn, &conn->h, SECTX_E_PROTO, sectx_strerror(ret), true);
		return;
	}
	if (!sectx_version_ok(msg.hdr.version)) {
		/* Well delimited, so the connection stays usable for a retry. */
		SECTX_DEBUG("protocol version %u from uid %u pid %d not served", msg.hdr.version,
			    (unsigned)conn->peer.uid, (int)conn->peer.pid);
		conn_send_status(conn, &msg.hdr, SECTX_E_VERSION, "protocol version not served",
				 false);
		return;
	}
	def = find_op(srv, msg.hdr.op);
	if (def == NULL || !(def->sockets & conn->kind)) {
		conn_send_status(conn, &msg.hdr, SECTX_E_NOOP,
				 def == NULL ? "unknown operation" : "operation not served on this socket",
				 false);
		return;
	}
	if (def->root_only && conn->peer.uid != 0) {
		SECTX_WARN("refused %s from uid %u pid %d: permission denied", sectx_op_name(def->op),
			   (unsigned)conn->peer.uid, (int)conn->peer.pid);
		conn_send_status(conn, &msg.hdr, SECTX_E_PERM, "permission denied", false);
		return;
	}

	req = talloc_zero(conn, struct sectx_request);
	if (req == NULL) {
		conn_send_status(conn, &msg.hdr, SECTX_E_BUSY, "out of memory", true);
		return;
	}
	req->hctx = srv->hctx;
	req->conn = conn;
	req->frame = talloc_steal(req, conn->frame);
	conn->frame = NULL;
	req->msg = msg;
	req->uid = conn->peer.uid;
	req->gid = conn->peer.gid;
	req->pid = conn->peer.pid;
	req->sock_kind = conn->kind;
	req->passed_fd = conn->passed_fd;
	conn->passed_fd = -1;
	talloc_set_destructor(req, request_destructor);
	conn->req = req;
	conn->state = CONN_BUSY;
	TEVENT_FD_NOT_READABLE(conn->fde);
	lru_touch(conn);

	ret = def->handler(req);
	if (ret > 0 && conn->req == req) {
		sectx_request_reply_status(req, (uint32_t)ret, NULL);
	}
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
	struct iovec iov = { .iov_base = dst, .iov_len = want };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
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
				/* talloc_realloc would free the old block without
				 * scrubbing it: copy into a new scrubbed one instead */
				grown = scrubbed_buffer(conn, cap);
				if (grown == NULL) {
					conn_close(conn, "out of memory");
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
			conn_close(conn, conn->state == CONN_IDLE ? "peer closed" :
								    "peer closed mid-frame");
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				return 0;
			}
			conn_close(conn, "read error");
			return -1;
		}
		if (conn->state == CONN_IDLE) {
			/* The per-frame deadline starts with its first byte. */
			conn->state = CONN_READING;
			if (conn_set_timer(conn, srv->hctx->cfg->sectxd.client_timeout_ms) != 0) {
				conn_close(conn, "out of memory");
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
				SECTX_INFO("bad frame header on %s from uid %u pid %d: %s",
					   kind_name(conn->kind), (unsigned)conn->peer.uid,
					   (int)conn->peer.pid, sectx_strerror(ret));
				conn_send_status(conn, &conn->h, SECTX_E_PROTO, sectx_strerror(ret),
						 true);
				return -1;
			}
			conn->frame_cap = conn->h.length < FRAME_CHUNK ? conn->h.length : FRAME_CHUNK;
			conn->frame = scrubbed_buffer(conn, conn->frame_cap);
			if (conn->frame == NULL) {
				conn_close(conn, "out of memory");
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

static void conn_readable(struct sectx_sconn *conn)
{
	if (conn->state != CONN_IDLE && conn->state != CONN_READING) {
		TEVENT_FD_NOT_READABLE(conn->fde);
		return;
	}
	if (conn_read_frame(conn) == 1) {
		conn_dispatch(conn);
	}
}

/* --- accepting ------------------------------------------------------------ */

/* The connection that has been idle longest, of uid if uid != -1. */
static struct sectx_sconn *oldest_idle(struct sectx_server *srv, uid_t uid)
{
	struct sectx_sconn *c;

	for (c = srv->head; c != NULL; c = c->next) {
		if (c->state == CONN_IDLE && (uid == (uid_t)-1 || c->peer.uid == uid)) {
			return c;
		}
	}
	return NULL;
}

static unsigned conns_of_uid(struct sectx_server *srv, uid_t uid)
{
	struct sectx_sconn *c;
	unsigned n = 0;

	for (c = srv->head; c != NULL; c = c->next) {
		n += c->peer.uid == uid;
	}
	return n;
}

/* Make room for a connection of uid.  Returns true if there is room. */
static bool make_room(struct sectx_server *srv, uid_t uid)
{
	const struct sectx_config *cfg = srv->hctx->cfg;
	struct sectx_sconn *victim;

	if (conns_of_uid(srv, uid) >= cfg->sectxd.max_connections_per_uid) {
		victim = oldest_idle(srv, uid);
		if (victim == NULL) {
			return false;
		}
		srv->stats.refused++;
		conn_close(victim, "evicted: per-uid connection cap");
	}
	if (srv->nconns >= cfg->sectxd.max_connections) {
		victim = oldest_idle(srv, (uid_t)-1);
		if (victim == NULL) {
			return false;
		}
		srv->stats.refused++;
		conn_close(victim, "evicted: connection cap");
	}
	return true;
}

static void listener_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			     void *private_data);

static void listener_resume(struct tevent_context *ev, struct tevent_timer *te,
			    struct timeval now, void *private_data)
{
	struct listener *l = private_data;

	l->pause = NULL;
	if (l->fde != NULL) {
		TEVENT_FD_READABLE(l->fde);
	}
}

static void accept_one(struct listener *l, int fd)
{
	struct sectx_server *srv = l->srv;
	struct sectx_sconn *conn;
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || clen != sizeof(cred)) {
		SECTX_WARN("cannot read SO_PEERCRED on %s: %s", l->name, strerror(errno));
		close(fd);
		return;
	}
	if (!make_room(srv, cred.uid)) {
		srv->stats.refused++;
		SECTX_WARN("refused a %s connection of uid %u pid %d: connection cap reached and "
			   "no idle connection to evict",
			   l->name, (unsigned)cred.uid, (int)cred.pid);
		close(fd);
		return;
	}
	conn = talloc_zero(srv, struct sectx_sconn);
	if (conn == NULL) {
		close(fd);
		return;
	}
	conn->srv = srv;
	conn->fd = fd;
	conn->kind = l->kind;
	conn->peer = cred;
	conn->state = CONN_IDLE;
	conn->passed_fd = -1;
	lru_append(srv, conn);
	srv->nconns++;
	if (l->kind == SECTX_SOCK_NSS) {
		srv->stats.conn_nss++;
	} else {
		srv->stats.conn_pam++;
	}
	talloc_set_destructor(conn, conn_destructor);
	conn->fde = tevent_add_fd(srv->hctx->ev, conn, fd, TEVENT_FD_READ, conn_fd_handler, conn);
	if (conn->fde == NULL ||
	    conn_set_timer(conn, srv->hctx->cfg->sectxd.idle_timeout_ms) != 0) {
		talloc_free(conn);
		return;
	}
	SECTX_TRACE("accepted %s connection of uid %u pid %d", l->name, (unsigned)cred.uid,
		    (int)cred.pid);
}

static void listener_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			     void *private_data)
{
	struct listener *l = private_data;
	int i;

	for (i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			accept_one(l, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED) {
			continue;
		}
		if (errno == EMFILE || errno == ENFILE) {
			struct sectx_sconn *victim = oldest_idle(l->srv, (uid_t)-1);

			if (victim != NULL) {
				l->srv->stats.refused++;
				conn_close(victim, "evicted: out of descriptors");
				continue;
			}
			/* Nothing to evict: stop polling the listener for a moment
			 * rather than spin on a readable socket we cannot accept. */
			SECTX_WARN("out of file descriptors on %s; pausing accepts", l->name);
			TEVENT_FD_NOT_READABLE(l->fde);
			if (l->pause == NULL) {
				l->pause = tevent_add_timer(ev, l->srv,
							    tevent_timeval_current_ofs(0, ACCEPT_PAUSE_MS * 1000),
							    listener_resume, l);
			}
		}
		return; /* EAGAIN or an error accept cannot recover from now */
	}
}

/* --- start and stop ------------------------------------------------------- */

static int listener_open(struct sectx_server *srv, struct listener *l, const char *dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int n;

	l->srv = srv;
	l->fd = -1;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, l->name);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		SECTX_ERROR("socket path %s/%s is too long", dir, l->name);
		return -ENAMETOOLONG;
	}
	/* We hold the directory lock, so whatever is here is stale.  Remove it
	 * only if it is a socket: anything else means the directory is not ours. */
	if (fstatat(srv->dirfd, l->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			SECTX_ERROR("%s exists and is not a socket; refusing to replace it",
				    sun.sun_path);
			return -EEXIST;
		}
		if (unlinkat(srv->dirfd, l->name, 0) != 0) {
			SECTX_ERROR("cannot remove stale socket %s: %s", sun.sun_path,
				    strerror(errno));
			return -errno;
		}
	}
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		return -errno;
	}
	if (bind(l->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		n = -errno;
		SECTX_ERROR("cannot bind %s: %s", sun.sun_path, strerror(errno));
		return n;
	}
	/* Anyone may connect; what they may do is decided per request. */
	if (fchmodat(srv->dirfd, l->name, 0666, 0) != 0 || listen(l->fd, SOMAXCONN) != 0) {
		n = -errno;
		SECTX_ERROR("cannot set up %s: %s", sun.sun_path, strerror(errno));
		return n;
	}
	l->fde = tevent_add_fd(srv->hctx->ev, srv, l->fd, TEVENT_FD_READ, listener_handler, l);
	return l->fde != NULL ? 0 : -ENOMEM;
}

static void listener_close(struct sectx_server *srv, struct listener *l)
{
	TALLOC_FREE(l->fde);
	TALLOC_FREE(l->pause);
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
		unlinkat(srv->dirfd, l->name, 0);
	}
}

static int server_destructor(struct sectx_server *srv)
{
	struct sectx_sconn *c;

	while ((c = srv->head) != NULL) {
		talloc_free(c);
	}
	listener_close(srv, &srv->nss);
	listener_close(srv, &srv->pam);
	if (srv->lockfd >= 0) {
		close(srv->lockfd);
	}
	if (srv->dirfd >= 0) {
		close(srv->dirfd);
	}
	return 0;
}

/* Take the directory's lock file so two helpers never share a directory. */
static int take_lock(struct sectx_server *srv, const char *dir)
{
	char pid[32];
	int n;

	srv->lockfd = openat(srv->dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (srv->lockfd < 0) {
		n = -errno;
		SECTX_ERROR("cannot open %s/%s: %s", dir, LOCK_FILE, strerror(errno));
		return n;
	}
	if (flock(srv->lockfd, LOCK_EX | LOCK_NB) != 0) {
		n = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		SECTX_ERROR("another sectxd is serving %s (%s is locked)", dir, LOCK_FILE);
		return n;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(srv->lockfd, 0) != 0 || write(srv->lockfd, pid, (size_t)n) != n) {
		SECTX_WARN("cannot record our pid in %s/%s: %s", dir, LOCK_FILE, strerror(errno));
	}
	return 0;
}

int sectx_server_start(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
		       const struct sectx_op_table *const *tables, size_t n_tables,
		       struct sectx_server **srv_out)
{
	const char *dir = hctx->cfg->sectxd.socket_dir;
	struct sectx_server *srv;
	int ret;

	srv = talloc_zero(mem_ctx, struct sectx_server);
	if (srv == NULL) {
		return -ENOMEM;
	}
	srv->hctx = hctx;
	srv->tables = tables;
	srv->n_tables = n_tables;
	srv->dirfd = srv->lockfd = -1;
	srv->nss = (struct listener){ .kind = SECTX_SOCK_NSS, .name = SECTX_NSS_SOCKET, .fd = -1 };
	srv->pam = (struct listener){ .kind = SECTX_SOCK_PAM, .name = SECTX_PAM_SOCKET, .fd = -1 };
	talloc_set_destructor(srv, server_destructor);

	ret = sectx_open_dir_verified(dir, geteuid(), 0755, true);
	if (ret < 0) {
		SECTX_ERROR("socket directory %s must be a directory owned by uid %u and writable "
			    "only by it: %s",
			    dir, (unsigned)geteuid(), strerror(-ret));
		goto done;
	}
	srv->dirfd = ret;
	/* Clients of every uid must be able to reach the sockets. */
	if (fchmod(srv->dirfd, 0755) != 0) {
		ret = -errno;
		SECTX_ERROR("cannot chmod %s: %s", dir, strerror(errno));
		goto done;
	}
	ret = take_lock(srv, dir);
	if (ret != 0) {
		goto done;
	}
	ret = listener_open(srv, &srv->nss, dir);
	if (ret == 0) {
		ret = listener_open(srv, &srv->pam, dir);
	}
	if (ret != 0) {
		goto done;
	}
	*srv_out = srv;
	srv = NULL;
done:
	talloc_free(srv);
	return ret;
}

void sectx_server_shutdown(struct sectx_server *srv)
{
	struct sectx_sconn *c, *next;

	srv->shutting_down = true;
	listener_close(srv, &srv->nss);
	listener_close(srv, &srv->pam);
	for (c = srv->head; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_IDLE || c->state == CONN_READING) {
			conn_close(c, "helper stopping");
		} else {
			c->close_after_write = true; /* its request is answered first */
		}
	}
}

bool sectx_server_drained(const struct sectx_server *srv)
{
	return srv->nconns == 0;
}

void sectx_server_get_stats(const struct sectx_server *srv, struct sectx_server_stats *st)
{
	*st = srv->stats;
}
