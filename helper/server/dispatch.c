/*
 * server/dispatch.c - from a whole frame to its operation's handler and back:
 * finding the operation in the tables the server was started with, checking
 * that it is served on this socket and, for root_only operations, that the
 * caller is root, running the handler as a request, and the replies.
 *
 * Who can reach this: any local process that completed a frame on nss.sock
 * or pam.sock.  The caller is the connection's SO_PEERCRED uid; nothing in
 * the frame can change it.  This file must never run a handler for a frame
 * that did not parse, for an operation not served on the socket it came in
 * on, or for a root_only operation asked by anyone but uid 0; and never
 * free a request behind its handler's back except with its connection
 * (which conn.c closes as soon as the client hangs up: handlers hang their
 * asynchronous work below the request for that reason).
 */
#include "server/server_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* --- requests ------------------------------------------------------------- */

/* Contract in server.h. */
int sectx_request_reply_begin(struct sectx_request *req, size_t cap, struct sectx_wbuf *w)
{
	uint8_t *buf;

	if (cap > SECTX_FRAME_MAX) {
		cap = SECTX_FRAME_MAX;
	}
	buf = sectx_srv_scrubbed_buffer(req, cap);
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
	if (req->on_finish != NULL) {
		void (*fn)(struct sectx_request *, void *) = req->on_finish;

		req->on_finish = NULL;
		fn(req, req->on_finish_data);
	}
	if (req->passed_fd >= 0) {
		close(req->passed_fd);
		req->passed_fd = -1;
	}
	return 0;
}

/* Contract in server.h. */
void sectx_request_on_finish(struct sectx_request *req,
			     void (*fn)(struct sectx_request *req, void *data), void *data)
{
	req->on_finish = fn;
	req->on_finish_data = data;
}

/* Contract in server.h. */
void sectx_request_log_refusal(struct sectx_request *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sectx_srv_vlog_peer(req->conn->srv, SRV_LOG_OP_REFUSED, fmt, ap);
	va_end(ap);
}

/* Contract in server.h. */
void sectx_request_log_call(struct sectx_request *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (req->uid == 0) {
		char line[1024];

		vsnprintf(line, sizeof(line), fmt, ap);
		SECTX_INFO("%s", line);
	} else {
		sectx_srv_vlog_peer(req->conn->srv, SRV_LOG_CALL, fmt, ap);
	}
	va_end(ap);
}

/* Contract in server.h. */
int sectx_request_take_fd(struct sectx_request *req)
{
	int fd = req->passed_fd;

	req->passed_fd = -1;
	return fd;
}

/* Detach req from its connection and free it; returns the connection. */
static struct sectx_sconn *request_finish(struct sectx_request *req)
{
	struct sectx_sconn *conn = req->conn;

	conn->req = NULL;
	talloc_free(req);
	return conn;
}

/* Contract in server.h. */
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
		struct sectx_sconn *conn;

		req->replied = true;
		req->status = SECTX_OK;
		conn = request_finish(req);

		sectx_srv_conn_start_write(conn, out, len);
	}
}

/* Contract in server.h. */
void sectx_request_reply_status(struct sectx_request *req, uint32_t status, const char *msg)
{
	struct sectx_hdr h = req->msg.hdr;
	struct sectx_sconn *conn;

	SECTX_DEBUG("%s for uid %u pid %d: %s%s%s", sectx_op_name(h.op), (unsigned)req->uid,
		    (int)req->pid, sectx_status_name(status), msg != NULL ? ": " : "",
		    msg != NULL ? msg : "");
	req->replied = true;
	req->status = status;
	conn = request_finish(req);
	sectx_srv_conn_send_status(conn, &h, status, msg != NULL ? msg : sectx_status_name(status),
				   false);
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

/* A whole frame has arrived in conn->frame: check it and run its handler.
 * Contract in server_int.h. */
void sectx_srv_dispatch(struct sectx_sconn *conn)
{
	struct sectx_server *srv = conn->srv;
	const struct sectx_op_def *def;
	struct sectx_request *req;
	struct sectx_msg msg;
	int ret;

	TALLOC_FREE(conn->timer);
	sectx_srv_partial_end(conn); /* whole: no longer charged to the budget */
	if (conn->passed_fd_refused) {
		sectx_srv_log_peer(srv, SRV_LOG_BAD_FRAME,
				   "refused a frame on %s from uid %u pid %d: more than one "
				   "descriptor passed with it",
				   sectx_srv_kind_name(conn->kind), (unsigned)conn->peer.uid,
				   (int)conn->peer.pid);
		sectx_srv_conn_send_status(conn, &conn->h, SECTX_E_PROTO,
					   "at most one descriptor per request", true);
		return;
	}
	ret = sectx_msg_parse(conn->frame, conn->h.length, &msg);
	if (ret != 0) {
		sectx_srv_log_peer(srv, SRV_LOG_BAD_FRAME,
				   "malformed frame on %s from uid %u pid %d: %s",
				   sectx_srv_kind_name(conn->kind), (unsigned)conn->peer.uid,
				   (int)conn->peer.pid, sectx_strerror(ret));
		sectx_srv_conn_send_status(conn, &conn->h, SECTX_E_PROTO, sectx_strerror(ret),
					   true);
		return;
	}
	if (!sectx_version_ok(msg.hdr.version)) {
		/* Well delimited, so the connection stays usable for a retry. */
		SECTX_DEBUG("protocol version %u from uid %u pid %d not served", msg.hdr.version,
			    (unsigned)conn->peer.uid, (int)conn->peer.pid);
		sectx_srv_conn_send_status(conn, &msg.hdr, SECTX_E_VERSION,
					   "protocol version not served", false);
		return;
	}
	def = find_op(srv, msg.hdr.op);
	if (def == NULL || !(def->sockets & conn->kind)) {
		sectx_srv_conn_send_status(conn, &msg.hdr, SECTX_E_NOOP,
					   def == NULL ? "unknown operation"
						       : "operation not served on this socket",
					   false);
		return;
	}
	if (def->root_only && conn->peer.uid != 0) {
		sectx_srv_log_peer(
		    srv, SRV_LOG_DENIED, "refused %s from uid %u pid %d: permission denied",
		    sectx_op_name(def->op), (unsigned)conn->peer.uid, (int)conn->peer.pid);
		sectx_srv_conn_send_status(conn, &msg.hdr, SECTX_E_PERM, "permission denied",
					   false);
		return;
	}

	req = talloc_zero(conn, struct sectx_request);
	if (req == NULL) {
		sectx_srv_conn_send_status(conn, &msg.hdr, SECTX_E_BUSY, "out of memory", true);
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
	req->started_ms = sectx_now_ms();
	conn->passed_fd = -1;
	talloc_set_destructor(req, request_destructor);
	conn->req = req;
	conn->state = CONN_BUSY;
	sectx_srv_conn_watch_busy(conn); /* a client that leaves takes req along */
	sectx_srv_lru_touch(conn);

	ret = def->handler(req);
	if (ret > 0 && conn->req == req) {
		sectx_request_reply_status(req, (uint32_t)ret, NULL);
	}
}
