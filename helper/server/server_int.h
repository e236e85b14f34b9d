/*
 * server/server_int.h - what only the server's own files share: the state of
 * the server, of a listening socket and of a connection, and the functions
 * that cross between listen.c (sockets, accepting, caps and eviction),
 * conn.c (reading and writing frames on one connection, its deadlines and
 * passed descriptors) and dispatch.c (a whole frame to its handler and the
 * reply back).  Nothing outside helper/server/ includes this: operation
 * groups and the daemon see only server.h.
 *
 * Everything here runs in the root helper on bytes from any local user (see
 * server.h for who can reach it).  These structures must never be reachable
 * from a handler except through the accessors of server.h.
 */
#ifndef SECTX_SERVER_INT_H
#define SECTX_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/server.h"
#include "client.h"

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

#endif /* SECTX_SERVER_INT_H */
