/*
 * client.h - connect to the helper and exchange one frame, with deadlines.
 *
 * Linked into the PAM and NSS modules, i.e. into every process on the host:
 * libc only, no allocation, no global state, no signals (MSG_NOSIGNAL), every
 * descriptor close-on-exec, and no call that can block past its deadline.
 *
 * Trust: a client talks only to a helper whose SO_PEERCRED uid is 0, so a
 * user who manages to bind a socket at the path (wrong SECTX_SOCKET_DIR, a
 * stale directory) cannot impersonate it.  The expected uid can be changed
 * only at compile time (SECTX_EXPECTED_SERVER_UID, for unit tests), never from
 * the environment.  The socket directory comes from SECTX_SOCKET_DIR read
 * with secure_getenv, so setuid and setgid programs ignore it.
 */
#ifndef SECTX_CLIENT_H
#define SECTX_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"

#define SECTX_NSS_SOCKET     "nss.sock" /* identity reads; clients may keep it open */
#define SECTX_PAM_SOCKET     "pam.sock" /* everything else; connect per call */
#define SECTX_SOCKET_DIR_ENV "SECTX_SOCKET_DIR"

struct sectx_conn {
	int fd;	    /* -1 when closed */
	pid_t pid;  /* process that connected: a child must not reuse it */
	uid_t euid; /* euid at connect time: after setuid the peer sees the old one */
};
#define SECTX_CONN_INIT                                                                            \
	{                                                                                          \
		-1, 0, 0                                                                           \
	}

/* The socket directory: $SECTX_SOCKET_DIR if set (secure_getenv) and
 * absolute, else the configured default.  Never NULL. */
const char *sectx_socket_dir(void);

/* Connect to dir/name before deadline (absolute, sectx_now_ms scale) and
 * check that the server's uid is the expected one.  Returns 0 with c filled,
 * or -errno: -ENOENT/-ECONNREFUSED (no helper), -ETIMEDOUT, -EPERM (server
 * has the wrong uid), -ENAMETOOLONG. */
int sectx_client_connect(const char *dir, const char *name, int64_t deadline, struct sectx_conn *c);

/* True if c is open and was opened by this pid and euid (NSS keeps a
 * connection: after fork or setuid it must reconnect, see client.h). */
int sectx_client_usable(const struct sectx_conn *c);

/* Close c (idempotent). */
void sectx_client_close(struct sectx_conn *c);

/* Send len bytes before deadline.  0 or -errno (-ETIMEDOUT, -EPIPE...). */
int sectx_client_send(struct sectx_conn *c, const void *buf, size_t len, int64_t deadline);

/* Receive one whole frame into buf (cap bytes) before deadline.  Returns 0
 * with *len, -ETIMEDOUT, -ECONNRESET (EOF mid-frame or before), -EMSGSIZE
 * (frame larger than cap) or a SECTX_ERR_* code for a bad header.  After an
 * error the connection is in an unknown state: close it. */
int sectx_client_recv(struct sectx_conn *c, void *buf, size_t cap, size_t *len, int64_t deadline);

/* As sectx_client_recv, and take the descriptor the frame carried
 * (SCM_RIGHTS, received close-on-exec): on 0, *fd is it or -1 if there was
 * none, and the caller owns it.  A frame with more than one descriptor is
 * -EPROTO (all closed).  On any error *fd is -1 and nothing is left open.
 * The descriptor is whatever the server sent: check it before use. */
int sectx_client_recv_fd(struct sectx_conn *c, void *buf, size_t cap, size_t *len, int *fd,
			 int64_t deadline);

/* Send req and receive its reply into resp, checking that the reply is for
 * this request (op | SECTX_OP_REPLY and the same reqid) and parses.  On 0 the
 * reply has been parsed into *msg (pointing into resp) and *status holds its
 * SECTX_TAG_STATUS.  Errors as above, plus SECTX_ERR_BADFRAME for a reply to
 * another request. */
struct sectx_msg;
int sectx_client_call(struct sectx_conn *c, const void *req, size_t reqlen, void *resp,
		      size_t respcap, struct sectx_msg *msg, uint32_t *status, int64_t deadline);

/* As sectx_client_call, and pass the open descriptor fd (-1: none) to the helper
 * with the request (SCM_RIGHTS on its first byte).  The caller keeps fd and
 * closes it.  Used to hand over a user's ccache that this process opened as
 * the user, so the root helper never opens a user-chosen path. */
int sectx_client_call_fd(struct sectx_conn *c, const void *req, size_t reqlen, int fd, void *resp,
			 size_t respcap, struct sectx_msg *msg, uint32_t *status, int64_t deadline);

#endif /* SECTX_CLIENT_H */
