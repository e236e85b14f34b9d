/*
 * client.c - the helper client connection (see client.h for the contract).
 *
 * Runs inside arbitrary processes (every program that resolves a user, every
 * login service): it must never block past the caller's deadline, never
 * raise SIGPIPE, never leak a descriptor across exec, and never believe a
 * server that is not root.  The socket is non-blocking and every wait is a
 * poll() bounded by the remaining time.
 */
#include "client.h"
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SECTX_EXPECTED_SERVER_UID
#define SECTX_EXPECTED_SERVER_UID 0
#endif
#ifndef SECTX_DEFAULT_SOCKET_DIR
#define SECTX_DEFAULT_SOCKET_DIR "/run/sectx"
#endif

/* How long to back off when the helper's listen queue is full. */
#define CONNECT_RETRY_MS 5

const char *sectx_socket_dir(void)
{
	const char *dir = secure_getenv(SECTX_SOCKET_DIR_ENV);

	if (dir != NULL && dir[0] == '/') {
		return dir;
	}
	return SECTX_DEFAULT_SOCKET_DIR;
}

/* Wait for events on fd until deadline.  0 when ready, -ETIMEDOUT, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int64_t left = deadline - sectx_now_ms();
		int n;

		if (left <= 0) {
			return -ETIMEDOUT;
		}
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0) {
			/* POLLHUP/POLLERR: let the following read or write report it */
			return 0;
		}
		if (n < 0 && errno != EINTR) {
			return -errno;
		}
	}
}

static int check_server(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		return -errno;
	}
	if (len != sizeof(cred) || cred.uid != (uid_t)SECTX_EXPECTED_SERVER_UID) {
		return -EPERM;
	}
	return 0;
}

int sectx_client_connect(const char *dir, const char *name, int64_t deadline, struct sectx_conn *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = -1;
	int ret;
	int n;

	c->fd = -1;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		ret = -ENAMETOOLONG;
		goto done;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto done;
	}
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			break;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno == EAGAIN) {
			/* Listen queue full: a busy helper, not a dead one. */
			if (sectx_now_ms() + CONNECT_RETRY_MS >= deadline) {
				ret = -ETIMEDOUT;
				goto done;
			}
			poll(NULL, 0, CONNECT_RETRY_MS);
			continue;
		}
		if (errno == EINPROGRESS) {
			int err = 0;
			socklen_t elen = sizeof(err);

			ret = wait_fd(fd, POLLOUT, deadline);
			if (ret != 0) {
				goto done;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
				ret = -errno;
				goto done;
			}
			if (err != 0) {
				ret = -err;
				goto done;
			}
			break;
		}
		ret = -errno;
		goto done;
	}
	ret = check_server(fd);
	if (ret != 0) {
		goto done;
	}
	c->fd = fd;
	c->pid = getpid();
	c->euid = geteuid();
	fd = -1;
done:
	if (fd >= 0) {
		close(fd);
	}
	return ret;
}

int sectx_client_usable(const struct sectx_conn *c)
{
	return c->fd >= 0 && c->pid == getpid() && c->euid == geteuid();
}

void sectx_client_close(struct sectx_conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	c->fd = -1;
}

/* Send len bytes before deadline; if pass_fd >= 0, attach it (SCM_RIGHTS)
 * to the first byte that goes out, so the helper sees it with the frame. */
static int send_frame(struct sectx_conn *c, const void *buf, size_t len, int pass_fd,
		      int64_t deadline)
{
	const uint8_t *p = buf;
	size_t off = 0;

	while (off < len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = {.iov_base = (void *)(p + off), .iov_len = len - off};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		if (pass_fd >= 0) {
			struct cmsghdr *cm;

			memset(&control, 0, sizeof(control));
			mh.msg_control = control.buf;
			mh.msg_controllen = sizeof(control.buf);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			pass_fd = -1; /* went out with the bytes just sent */
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int ret = wait_fd(c->fd, POLLOUT, deadline);

			if (ret != 0) {
				return ret;
			}
			continue;
		}
		return n < 0 ? -errno : -EPIPE;
	}
	return 0;
}

int sectx_client_send(struct sectx_conn *c, const void *buf, size_t len, int64_t deadline)
{
	return send_frame(c, buf, len, -1, deadline);
}

/* Read exactly len bytes into p before deadline. */
static int recv_exact(int fd, uint8_t *p, size_t len, int64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv(fd, p + off, len - off, MSG_DONTWAIT);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == 0) {
			return -ECONNRESET;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int ret = wait_fd(fd, POLLIN, deadline);

			if (ret != 0) {
				return ret;
			}
			continue;
		}
		return -errno;
	}
	return 0;
}

int sectx_client_recv(struct sectx_conn *c, void *buf, size_t cap, size_t *len, int64_t deadline)
{
	struct sectx_hdr hdr;
	uint8_t *p = buf;
	int ret;

	if (cap < SECTX_HDR_LEN) {
		return -EMSGSIZE;
	}
	ret = recv_exact(c->fd, p, SECTX_HDR_LEN, deadline);
	if (ret != 0) {
		return ret;
	}
	ret = sectx_hdr_decode(p, SECTX_HDR_LEN, &hdr);
	if (ret != 0) {
		return ret;
	}
	if (hdr.length > cap) {
		return -EMSGSIZE;
	}
	ret = recv_exact(c->fd, p + SECTX_HDR_LEN, hdr.length - SECTX_HDR_LEN, deadline);
	if (ret != 0) {
		return ret;
	}
	*len = hdr.length;
	return 0;
}

/* Close every descriptor an SCM_RIGHTS message of mh carried; returns how
 * many there were and, if keep is not NULL and *keep is -1, keeps the first
 * one there instead of closing it. */
static int take_fds(struct msghdr *mh, int *keep)
{
	struct cmsghdr *cm;
	int count = 0;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n, i;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0)) {
			continue;
		}
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (keep != NULL && *keep < 0) {
				*keep = fd;
			} else {
				close(fd);
			}
			count++;
		}
	}
	return count;
}

/* As recv_exact, also taking the descriptors the bytes carry: the first goes
 * to *fd if that is -1, any other is closed and counted in *extra. */
static int recv_exact_fds(int sock, uint8_t *p, size_t len, int *fd, int *extra, int64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} control;
		struct iovec iov = {.iov_base = p + off, .iov_len = len - off};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control.buf,
				    .msg_controllen = sizeof(control.buf)};
		int had = *fd;
		ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n >= 0) {
			int got = take_fds(&mh, fd);

			*extra += got - (had < 0 && *fd >= 0 ? 1 : 0);
			if ((mh.msg_flags & MSG_CTRUNC) != 0) {
				*extra += 1; /* the kernel dropped some: refuse the lot */
			}
		}
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == 0) {
			return -ECONNRESET;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int ret = wait_fd(sock, POLLIN, deadline);

			if (ret != 0) {
				return ret;
			}
			continue;
		}
		return -errno;
	}
	return 0;
}

int sectx_client_recv_fd(struct sectx_conn *c, void *buf, size_t cap, size_t *len, int *fd,
			 int64_t deadline)
{
	struct sectx_hdr hdr;
	uint8_t *p = buf;
	int extra = 0;
	int ret;

	*fd = -1;
	if (cap < SECTX_HDR_LEN) {
		return -EMSGSIZE;
	}
	ret = recv_exact_fds(c->fd, p, SECTX_HDR_LEN, fd, &extra, deadline);
	if (ret == 0) {
		ret = sectx_hdr_decode(p, SECTX_HDR_LEN, &hdr);
	}
	if (ret == 0 && hdr.length > cap) {
		ret = -EMSGSIZE;
	}
	if (ret == 0) {
		ret = recv_exact_fds(c->fd, p + SECTX_HDR_LEN, hdr.length - SECTX_HDR_LEN, fd,
				     &extra, deadline);
	}
	if (ret == 0 && extra > 0) {
		ret = -EPROTO; /* one descriptor per frame, or none */
	}
	if (ret != 0) {
		if (*fd >= 0) {
			close(*fd);
		}
		*fd = -1;
		return ret;
	}
	*len = hdr.length;
	return 0;
}

int sectx_client_call_fd(struct sectx_conn *c, const void *req, size_t reqlen, int fd, void *resp,
			 size_t respcap, struct sectx_msg *msg, uint32_t *status, int64_t deadline)
{
	struct sectx_hdr rhdr;
	size_t len = 0;
	int ret;

	ret = sectx_hdr_decode(req, reqlen, &rhdr);
	if (ret != 0) {
		return ret;
	}
	ret = send_frame(c, req, reqlen, fd, deadline);
	if (ret != 0) {
		return ret;
	}
	ret = sectx_client_recv(c, resp, respcap, &len, deadline);
	if (ret != 0) {
		return ret;
	}
	ret = sectx_msg_parse(resp, len, msg);
	if (ret != 0) {
		return ret;
	}
	if (msg->hdr.reqid != rhdr.reqid || msg->hdr.op != (rhdr.op | SECTX_OP_REPLY)) {
		return SECTX_ERR_BADFRAME;
	}
	return sectx_msg_get_u32(msg, SECTX_TAG_STATUS, status);
}

int sectx_client_call(struct sectx_conn *c, const void *req, size_t reqlen, void *resp,
		      size_t respcap, struct sectx_msg *msg, uint32_t *status, int64_t deadline)
{
	return sectx_client_call_fd(c, req, reqlen, -1, resp, respcap, msg, status, deadline);
}
