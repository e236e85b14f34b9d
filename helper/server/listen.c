/*
 * server/listen.c - sectxd's two listening sockets: the socket directory and
 * its lock file, binding, accepting, and the caps on connections per uid and
 * in total, kept by evicting the connection idle longest, with
 * root_reserved_connections of the total kept for uid 0.
 *
 * Who can reach this: any local process, by connecting to nss.sock or
 * pam.sock (0666).  What it decides here is only whether a connection is
 * taken, and whose it is: the uid, gid and pid SO_PEERCRED reports at
 * accept, never anything the client sends.  It must never let one uid hold
 * more than max_connections_per_uid connections, non-root uids together
 * more than max_connections minus the root reserve (so that any number of
 * users filling their caps cannot lock out root's PAM services and NSS
 * calls), nor the helper more than max_connections, nor spin on a listener
 * it cannot accept from; and it must never plant a socket in, or remove
 * anything but a socket from, a directory that is not root-owned 0755 and
 * locked by this process.
 * Reading and answering frames is conn.c's.
 */
#include "server/server_int.h"

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
#include "log.h"

#define ACCEPT_BURST	64  /* accepts per wake-up, to stay fair to clients */
#define ACCEPT_PAUSE_MS 100 /* back-off when out of descriptors */
#define LOCK_FILE	"sectxd.lock"

/* --- connection list (LRU) ------------------------------------------------ */

/* Contract in server_int.h. */
void sectx_srv_lru_unlink(struct sectx_server *srv, struct sectx_sconn *c)
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

/* Contract in server_int.h. */
void sectx_srv_lru_append(struct sectx_server *srv, struct sectx_sconn *c)
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

/* Contract in server_int.h. */
void sectx_srv_lru_touch(struct sectx_sconn *c)
{
	sectx_srv_lru_unlink(c->srv, c);
	sectx_srv_lru_append(c->srv, c);
}

/* --- accepting ------------------------------------------------------------ */

/* Whose connections oldest_idle looks at. */
enum idle_of { IDLE_OF_UID, IDLE_OF_ANYONE, IDLE_OF_NON_ROOT };

/* The connection that has been idle longest, of uid, of anyone, or of any
 * uid but 0. */
static struct sectx_sconn *oldest_idle(struct sectx_server *srv, enum idle_of of, uid_t uid)
{
	struct sectx_sconn *c;

	for (c = srv->head; c != NULL; c = c->next) {
		if (c->state != CONN_IDLE) {
			continue;
		}
		if (of == IDLE_OF_ANYONE || (of == IDLE_OF_UID && c->peer.uid == uid) ||
		    (of == IDLE_OF_NON_ROOT && c->peer.uid != 0)) {
			return c;
		}
	}
	return NULL;
}

/* The connections non-root uids may hold together: max_connections less the
 * root reserve, which is at most half of it. */
static unsigned non_root_cap(const struct sectx_config *cfg)
{
	unsigned reserve = cfg->sectxd.root_reserved_connections;

	if (reserve > cfg->sectxd.max_connections / 2) {
		reserve = cfg->sectxd.max_connections / 2;
	}
	return cfg->sectxd.max_connections - reserve;
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

/* Make room for a connection of uid.  Returns NULL if there is room, else
 * the cap that is full. */
static const char *make_room(struct sectx_server *srv, uid_t uid)
{
	const struct sectx_config *cfg = srv->hctx->cfg;
	struct sectx_sconn *victim;

	if (conns_of_uid(srv, uid) >= cfg->sectxd.max_connections_per_uid) {
		victim = oldest_idle(srv, IDLE_OF_UID, uid);
		if (victim == NULL) {
			return "max_connections_per_uid";
		}
		srv->stats.refused++;
		sectx_srv_conn_close(victim, "evicted: per-uid connection cap");
	}
	if (uid != 0 && srv->nconns - srv->nconns_root >= non_root_cap(cfg)) {
		victim = oldest_idle(srv, IDLE_OF_NON_ROOT, 0);
		if (victim == NULL) {
			return "max_connections less root_reserved_connections";
		}
		srv->stats.refused++;
		sectx_srv_conn_close(victim, "evicted: connection cap of non-root uids");
	}
	if (srv->nconns >= cfg->sectxd.max_connections) {
		victim = oldest_idle(srv, IDLE_OF_ANYONE, 0);
		if (victim == NULL) {
			return "max_connections";
		}
		srv->stats.refused++;
		sectx_srv_conn_close(victim, "evicted: connection cap");
	}
	return NULL;
}

static void listener_handler(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			     void *private_data);

static void listener_resume(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			    void *private_data)
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
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	const char *full;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || clen != sizeof(cred)) {
		sectx_srv_log_peer(srv, SRV_LOG_REFUSED, "cannot read SO_PEERCRED on %s: %s",
				   l->name, strerror(errno));
		close(fd);
		return;
	}
	full = make_room(srv, cred.uid);
	if (full != NULL) {
		srv->stats.refused++;
		sectx_srv_log_peer(srv, SRV_LOG_REFUSED,
				   "refused a %s connection of uid %u pid %d: %s reached and no "
				   "idle connection to evict",
				   l->name, (unsigned)cred.uid, (int)cred.pid, full);
		close(fd);
		return;
	}
	if (sectx_srv_conn_new(srv, l->kind, fd, &cred) != 0) {
		return; /* fd closed with what was set up */
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
			struct sectx_sconn *victim = oldest_idle(l->srv, IDLE_OF_ANYONE, 0);

			if (victim != NULL) {
				l->srv->stats.refused++;
				sectx_srv_conn_close(victim, "evicted: out of descriptors");
				continue;
			}
			/* Nothing to evict: stop polling the listener for a moment
			 * rather than spin on a readable socket we cannot accept. */
			sectx_srv_log_peer(l->srv, SRV_LOG_REFUSED,
					   "out of file descriptors on %s; pausing accepts",
					   l->name);
			TEVENT_FD_NOT_READABLE(l->fde);
			if (l->pause == NULL) {
				l->pause = tevent_add_timer(
				    ev, l->srv,
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
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
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

	srv->lockfd =
	    openat(srv->dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
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

/* Contract in server.h. */
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
	srv->nss = (struct listener){.kind = SECTX_SOCK_NSS, .name = SECTX_NSS_SOCKET, .fd = -1};
	srv->pam = (struct listener){.kind = SECTX_SOCK_PAM, .name = SECTX_PAM_SOCKET, .fd = -1};
	sectx_srv_limits_init(srv);
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

/* Contract in server.h. */
void sectx_server_shutdown(struct sectx_server *srv)
{
	struct sectx_sconn *c, *next;

	srv->shutting_down = true;
	listener_close(srv, &srv->nss);
	listener_close(srv, &srv->pam);
	for (c = srv->head; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_IDLE || c->state == CONN_READING) {
			sectx_srv_conn_close(c, "helper stopping");
		} else {
			c->close_after_write = true; /* its request is answered first */
		}
	}
}

/* Contract in server.h. */
bool sectx_server_drained(const struct sectx_server *srv)
{
	return srv->nconns == 0;
}

/* Contract in server.h. */
void sectx_server_get_stats(const struct sectx_server *srv, struct sectx_server_stats *st)
{
	*st = srv->stats;
}
