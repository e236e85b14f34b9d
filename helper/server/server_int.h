/*
 * server/server_int.h - what only the server's own files share: the state of
 * the server, of a listening socket and of a connection, and the functions
 * that cross between listen.c (sockets, accepting, caps, the root reserve
 * and eviction), conn.c (reading and writing frames on one connection, its
 * deadlines, hang-up of a busy one and passed descriptors), dispatch.c (a
 * whole frame to its handler and the reply back) and limits.c (the memory
 * budget of partial frames and the rate limit of log lines about peers).
 * Nothing outside helper/server/ includes this: operation groups and the
 * daemon see only server.h.
 *
 * Everything here runs in the root helper on bytes from any local user (see
 * server.h for who can reach it).  These structures must never be reachable
 * from a handler except through the accessors of server.h.
 */
#ifndef SECTX_SERVER_INT_H
#define SECTX_SERVER_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/server.h"
#include "client.h"
#include "log.h"

enum conn_state {
	CONN_IDLE,    /* waiting for the first byte of a frame */
	CONN_READING, /* a frame has begun; deadline running */
	CONN_BUSY,    /* a request is being served; not reading, but watched
		       * for hang-up (which frees the request) */
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

	/* In srv's list of partial frames (oldest first) from the frame's first
	 * byte until it is whole; charged is what its buffer counts against
	 * max_partial_frames_kib. */
	struct sectx_sconn *pprev, *pnext;
	bool partial;
	size_t charged;
	int64_t frame_start_ms; /* when the partial frame's first byte came */

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

/* Kinds of log lines a peer can cause at will, each rate-limited on its own
 * (limits.c). */
enum srv_log_kind {
	SRV_LOG_BAD_HEADER, /* a frame header that does not decode */
	SRV_LOG_BAD_FRAME,  /* a whole frame refused: malformed, descriptors */
	SRV_LOG_TIMEOUT,    /* a frame or a reply not done within client_timeout */
	SRV_LOG_REFUSED,    /* a connection refused at a cap, or not accepted */
	SRV_LOG_EVICTED,    /* a connection closed for the partial-frame budget */
	SRV_LOG_DENIED,	    /* a root_only operation asked by another uid */
	SRV_LOG_OP_REFUSED, /* refused by its operation's own checks (another user's handle) */
	SRV_LOG_CALL,	    /* the summary of a non-root caller's request (one per PAM call) */
	SRV_LOG_KINDS
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
	unsigned nconns_root;		   /* of uid 0: the rest count against the reserve */
	struct sectx_sconn *phead, *ptail; /* partial frames, oldest first */
	struct sectx_log_limit peer_log[SRV_LOG_KINDS];
	struct tevent_timer *log_flush; /* reports suppressed lines at a window's end */
	struct sectx_server_stats stats;
	bool shutting_down;
};

/* The socket's file name, for logs. */
static inline const char *sectx_srv_kind_name(int kind)
{
	return kind == SECTX_SOCK_NSS ? SECTX_NSS_SOCKET : SECTX_PAM_SOCKET;
}

/* --- listen.c: the connection list, most recently active last --------------- */

/* Add c at the tail of srv's list (the most recently active end). */
void sectx_srv_lru_append(struct sectx_server *srv, struct sectx_sconn *c);
/* Take c out of srv's list; a connection not in it is left alone. */
void sectx_srv_lru_unlink(struct sectx_server *srv, struct sectx_sconn *c);
/* c was active just now: move it to the tail, last in line for eviction. */
void sectx_srv_lru_touch(struct sectx_sconn *c);

/* --- conn.c: one connection ------------------------------------------------- */

/* A request is now being served on conn (state CONN_BUSY): keep watching the
 * connection for hang-up (end of file or an error, which closes it and so
 * frees the request with all its work), without reading what the client may
 * already have sent of its next frame. */
void sectx_srv_conn_watch_busy(struct sectx_sconn *conn);

/* A buffer of size bytes on mem_ctx that is wiped when freed (frames may
 * carry secrets).  NULL when out of memory. */
uint8_t *sectx_srv_scrubbed_buffer(TALLOC_CTX *mem_ctx, size_t size);

/* Take an accepted socket fd (non-blocking, close-on-exec) of the given kind
 * with its peer credentials: a connection, child of srv, counted and in the
 * list, waiting for a frame under the idle timeout.  On failure fd is closed
 * and nothing is left behind.  Returns 0 or -ENOMEM. */
int sectx_srv_conn_new(struct sectx_server *srv, int kind, int fd, const struct ucred *cred);

/* Close conn now, for the reason why (logged at trace level), and free it with
 * its request and everything hung below.  conn is gone on return. */
void sectx_srv_conn_close(struct sectx_sconn *conn, const char *why);

/* Send out (stolen onto conn, len bytes) as the reply under client_timeout;
 * once written the connection goes back to reading, or is closed if
 * close_after_write is set.  conn may be gone on return. */
void sectx_srv_conn_start_write(struct sectx_sconn *conn, uint8_t *out, size_t len);

/* Reply to the frame with header h with status and msg; then_close closes the
 * connection once the reply is written (the stream can no longer be trusted
 * to be in step).  conn may be gone on return. */
void sectx_srv_conn_send_status(struct sectx_sconn *conn, const struct sectx_hdr *h,
				uint32_t status, const char *msg, bool then_close);

/* --- dispatch.c --------------------------------------------------------------- */

/* A whole frame has arrived in conn->frame (conn->h is its header): check it,
 * and either answer with an error status or run its operation's handler as a
 * request.  conn may be gone on return. */
void sectx_srv_dispatch(struct sectx_sconn *conn);

/* --- limits.c ------------------------------------------------------------------ */

/* Set up the log limits of srv from its config (at start). */
void sectx_srv_limits_init(struct sectx_server *srv);

/* conn's frame has begun (its first byte is in): it joins the partial frames,
 * the youngest. */
void sectx_srv_partial_begin(struct sectx_sconn *conn);

/* conn's partial frame is about to hold size bytes in all (its buffer grows):
 * charge the difference to the budget and, while the budget is exceeded,
 * close the connection whose charged partial frame began first.  Returns
 * true if conn may go on; false if conn itself was that oldest one and is
 * gone. */
bool sectx_srv_partial_charge(struct sectx_sconn *conn, size_t size);

/* conn's frame is whole, refused or dropped: it leaves the partial frames and
 * its charge is released.  Harmless if it is not one. */
void sectx_srv_partial_end(struct sectx_sconn *conn);

/* Log a line of kind about a peer, within the kind's rate limit (the kind's
 * own level; suppressed lines are counted and reported in one line at the
 * end of the window). */
void sectx_srv_log_peer(struct sectx_server *srv, enum srv_log_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sectx_srv_vlog_peer(struct sectx_server *srv, enum srv_log_kind kind, const char *fmt,
			 va_list ap) __attribute__((format(printf, 3, 0)));

#endif /* SECTX_SERVER_INT_H */
