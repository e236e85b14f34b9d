/*
 * server/server.h - sectxd's two sockets, its connections and request dispatch.
 *
 * Who can reach this: any local process can connect to nss.sock and pam.sock
 * (mode 0666, so that every program can resolve users and every login
 * service can authenticate).  What it can make it do: send frames of at most
 * SECTX_FRAME_MAX bytes, one request at a time per connection, each
 * authorised by the uid the kernel reports for the connection (SO_PEERCRED
 * at connect time), never by anything in the frame.  A connection must send a
 * frame it has started within client_timeout and read its reply in the same
 * time, or it is closed; an idle one is closed after idle_timeout.  A client
 * that goes away while its request is served takes the request with it: the
 * connection is still watched for hang-up, and closing it frees the request
 * and everything hung below (a KDC exchange included) at once.  Caps on
 * connections in total and per uid are enforced by evicting the longest-idle
 * connection (of that uid, for the per-uid cap) or refusing the new one;
 * root_reserved_connections of the total are never given to non-root uids,
 * so no number of users can lock root's PAM services or NSS calls out.  The
 * memory of frames still arriving is bounded by max_partial_frames_kib for
 * all connections together: beyond it the connection whose partial frame
 * began first is closed.  Lines logged about what clients do wrong are
 * rate-limited per kind (peer_log_lines per peer_log_interval) with a count
 * of those suppressed.
 */
#ifndef SECTX_SERVER_H
#define SECTX_SERVER_H

#include <stdint.h>

#include "core/daemon.h"
#include "proto.h"

/* A request being served.  A talloc child of its connection: when the client
 * goes away (end of file or an error on the connection, seen even while the
 * request is served), the connection is closed and the request and
 * everything hung below it are freed, without a reply.  A handler's
 * asynchronous work must therefore hang below req (or unlink itself in a
 * destructor), never keep req where a later event could reach it. */
struct sectx_request {
	struct sectxd_ctx *hctx;
	struct sectx_sconn *conn;
	struct sectx_msg msg; /* parsed request; points into frame */
	uint8_t *frame;
	uid_t uid; /* SO_PEERCRED of the connection */
	gid_t gid;
	pid_t pid;
	int sock_kind;	    /* SECTX_SOCK_NSS or SECTX_SOCK_PAM */
	int passed_fd;	    /* descriptor sent with the frame, or -1 (sectx_request_take_fd) */
	int64_t started_ms; /* sectx_now_ms() when the frame was dispatched */
	bool replied;	    /* a reply was sent: status below */
	uint32_t status;    /* enum sectx_status of that reply (SECTX_OK: data) */
	/* Called once, when req is freed (answered, or abandoned by its
	 * client: then replied is false): sectx_request_on_finish. */
	void (*on_finish)(struct sectx_request *req, void *data);
	void *on_finish_data;
};

/* Have fn(req, data) called once when req is freed, whether it was answered
 * (req->replied, req->status) or its client went away first; for a line
 * that sums up the request (ops/pam_common.c).  data must outlive req or be
 * one of its talloc children (still valid when fn runs).  A second call
 * replaces the first. */
void sectx_request_on_finish(struct sectx_request *req,
			     void (*fn)(struct sectx_request *req, void *data), void *data);

/* An operation handler.  It either replies (sectx_request_reply) before
 * returning 0, or keeps req alive and replies later (asynchronous work as a
 * tevent_req child of req), returning 0.  A positive enum sectx_status
 * return makes the server reply with that status and its standard text. */
typedef int (*sectx_op_handler)(struct sectx_request *req);

/* One operation: where it is served, who may ask, what runs it. */
struct sectx_op_def {
	uint16_t op;
	unsigned sockets; /* SECTX_SOCK_* where it is served (server.h) */
	bool root_only;	  /* checked by the server before the handler runs */
	sectx_op_handler handler;
};

struct sectx_op_table {
	const struct sectx_op_def *ops;
	size_t n;
};
/* clang-format off */
#define SECTX_OP_TABLE(ops_) { (ops_), sizeof(ops_) / sizeof((ops_)[0]) }
/* clang-format on */

enum sectx_sock_kind {
	SECTX_SOCK_NSS = 1 << 0,
	SECTX_SOCK_PAM = 1 << 1,
};

struct sectx_server_stats {
	unsigned conn_nss;
	unsigned conn_pam;
	uint64_t requests;
	uint64_t refused;	  /* connections refused or evicted at a cap */
	uint64_t hangups;	  /* requests freed because their client went away */
	uint64_t evicted_partial; /* connections closed for the partial-frame budget */
	uint64_t partial_bytes;	  /* now held by frames still arriving */
	uint64_t log_suppressed;  /* lines about peers not logged (rate limit) */
};

/* Create (or verify) the socket directory as root 0755, take its lock file,
 * bind and listen on both sockets (0666) and start accepting on hctx->ev,
 * serving the operations of tables (n_tables of them; an operation in none
 * does not exist).  tables must outlive the server.
 * Returns 0 and *srv_out (child of mem_ctx), or -errno with a logged reason
 * (-EADDRINUSE: another sectxd holds the directory). */
int sectx_server_start(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
		       const struct sectx_op_table *const *tables, size_t n_tables,
		       struct sectx_server **srv_out);

/* Stop accepting and remove the socket files; close idle connections and let
 * in-flight requests finish.  sectx_server_drained() tells when none is left. */
void sectx_server_shutdown(struct sectx_server *srv);
bool sectx_server_drained(const struct sectx_server *srv);

void sectx_server_get_stats(const struct sectx_server *srv, struct sectx_server_stats *st);

/* Start a reply to req in a buffer of cap bytes (<= SECTX_FRAME_MAX) with
 * the OK status already in it.  Returns 0 or -ENOMEM. */
int sectx_request_reply_begin(struct sectx_request *req, size_t cap, struct sectx_wbuf *w);
/* Send the reply built in w (or, if w->err is set, an E_INTERNAL reply) and
 * free req.  Never fails from the handler's point of view. */
void sectx_request_reply(struct sectx_request *req, struct sectx_wbuf *w);
/* Reply with status and optional message and free req. */
void sectx_request_reply_status(struct sectx_request *req, uint32_t status, const char *msg);

/* Log a warning that req was refused by its operation's own checks (a uid
 * that may not act for that user, a login handle presented for another
 * user).  Any local uid can send such requests as often as it likes, so the
 * line goes through the server's rate limit for lines about peers: at most
 * peer_log_lines per peer_log_interval, the rest counted and reported in one
 * line at the end of the window. */
void sectx_request_log_refusal(struct sectx_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log an info line summing req up (ops/pam_common.c: one per PAM call).
 * As is for a root caller (the login services); for any other uid through
 * the same kind of rate limit as sectx_request_log_refusal, with a budget of
 * its own, so that no user can flood the log with calls of its own. */
void sectx_request_log_call(struct sectx_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The descriptor the client passed with this request's frame (SCM_RIGHTS,
 * pam.sock only), or -1.  The caller owns it from then on and must close it;
 * a second call returns -1.  An untaken descriptor is closed with the request.
 * A frame that carried more than one descriptor was refused (E_PROTO) before
 * any handler ran.  The descriptor is whatever the client chose to send:
 * fstat it and check its type and owner before reading from it. */
int sectx_request_take_fd(struct sectx_request *req);

/* Per-connection state an operation group keeps across requests (security
 * contexts).  *sectx_conn_slot(conn, slot) is a pointer owned by that group;
 * whatever it points to must be a talloc child of sectx_conn_mem(conn), so it
 * is freed when the client goes away (closed, timed out or evicted). */
enum sectx_conn_slot { SECTX_SLOT_CONTEXTS = 0, SECTX_SLOT_MAX };
void **sectx_conn_slot(struct sectx_sconn *conn, enum sectx_conn_slot slot);
TALLOC_CTX *sectx_conn_mem(struct sectx_sconn *conn);

#endif /* SECTX_SERVER_H */
