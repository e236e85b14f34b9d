/*
 * identity/publish.c - publication of the identity store as the NSS cache
 * file (format in common/nss_cache.h, writer in nss_cache_writer.c), and the
 * cache flush that waits for a fresh file.
 *
 * Each generation is built in a memfd (nss_cache_writer.c), stored as the
 * file, and then sealed and handed to readers through cache.sock
 * (nss_cache_pub.c): readers map the sealed memfd, which nobody can
 * truncate, and only copy the file when sectxd cannot be reached.  At start
 * the cache is written in-process before the sockets open; afterwards every
 * change is built by a short-lived child forked from the helper (it sees a
 * copy-on-write snapshot of the store, fills the memfd the helper made for
 * it, stores the file, reports its result on a pipe as one frame
 * (ID_OP_PUBLISHED, see identity_int.h) and exits), debounced so that a
 * burst of lookups costs one publication, and refreshed every
 * positive_ttl / 2 so static records never expire while the helper runs.
 * The cache directory <socket_dir>/nss-cache (root 0755) holds only the
 * cache, cache.sock and a lock that keeps a second helper out.
 *
 * Restarts: a new helper never flags anything its predecessor published
 * (the file is replaced by rename, so a current file is at the name at every
 * moment, and a dead helper's memfd cannot be written by anyone), so readers
 * keep answering from the old cache until they find the new one; a
 * stopping helper flags its memfd RETIRED (still valid, look for a
 * successor).  cache.sock listens from the first turn of the event loop: a
 * reader that comes earlier gets no answer it would have to wait for, and
 * copies the file.
 *
 * Who reaches this: the identity service, after lookups of any local user
 * and root's flush; any local process through cache.sock, which sends one
 * frame and a descriptor and closes (no state kept per client).  Must
 * never: wait for the publisher or a client on the event loop (its report
 * is read when the pipe is readable), trust the report beyond its decoder,
 * or make the published file disappear (a stopping helper leaves it, so
 * valid records outlive a restart).
 */
#include "identity/identity_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "clock.h"
#include "core/daemon.h"
#include "identity/identity.h"
#include "identity/nss_cache_writer.h"
#include "log.h"

#define PUBLISH_MIN_MS	100 /* between two publications */
#define CACHE_LOCK	".lock"
#define ACCEPT_BATCH	64  /* cache.sock clients answered per turn of the loop */
#define ACCEPT_PAUSE_MS 100 /* out of descriptors: stop accepting for this long */

/* The sealed memfd readers map, and cache.sock that hands it out. */
struct id_cache_pub {
	struct nss_cache_pub *cur; /* handed out; NULL: none (flushed, or no sealing here) */
	bool flushing;		   /* cur dropped by a flush: E_BUSY until the next one */
	int pending_fd;		   /* the memfd the publisher child fills, or -1 */
	int dirfd;		   /* the cache directory (a dup: outlives id's) */
	int lock_fd;		   /* a dup of id's lock: held until cache.sock is gone */
	int lfd;		   /* cache.sock, or -1 */
	char *sock_path;
	struct tevent_fd *lfde;
	struct tevent_timer *timer; /* listen at the first turn of the loop; resume accepting */
	bool seal_warned;
	pid_t owner; /* a forked child never retires or unlinks anything */
};

struct flush_waiter {
	struct flush_waiter *prev, *next;
	struct sectxd_identity *id;
	struct tevent_req *req;
	uint64_t want_gen;
	uint64_t got_gen;
};

/* --- publication ------------------------------------------------------------------------------ */

/* Build generation gen into memfd (new and empty) and store it as the
 * file.  0 with *size, or -errno.  Runs in the publisher child too. */
static int publish_build(struct sectxd_identity *id, uint64_t gen, int memfd, size_t *size)
{
	TALLOC_CTX *tmp = talloc_new(NULL);
	struct nss_cache_builder *b = NULL;
	int64_t now = id_realtime_now();
	int ret;

	if (tmp == NULL) {
		return -ENOMEM;
	}
	ret = nss_cache_builder_new(tmp, 0, &b);
	if (ret == 0) {
		ret = id_store_build_cache(id->store, b, now);
	}
	if (ret == 0) {
		ret = nss_cache_build_fd(b, memfd, gen, now, size);
	}
	if (ret == 0) {
		ret = nss_cache_store(memfd, *size, id->cache_dirfd, SECTX_NSS_CACHE_FILE);
	}
	talloc_free(tmp);
	return ret;
}

/* Make the cache built in memfd the one readers map: seal it, flag the one
 * before REPLACED.  Without sealing (an old kernel, no /proc) readers get
 * none and copy the file instead. */
static void cache_pub_install(struct id_cache_pub *cp, int memfd)
{
	struct nss_cache_pub *fresh = NULL;
	int ret = nss_cache_pub_seal(cp, memfd, &fresh);

	if (ret != 0 && !cp->seal_warned) {
		SECTX_WARN("cannot seal the NSS cache memfd (%s): NSS readers will copy the cache "
			   "file instead of mapping it",
			   strerror(-ret));
		cp->seal_warned = true;
	}
	if (cp->cur != NULL) {
		nss_cache_pub_flag(cp->cur, SECTX_NSS_CACHE_REPLACED);
		TALLOC_FREE(cp->cur);
	}
	cp->cur = fresh;
	cp->flushing = false;
}

int id_publish_write(struct sectxd_identity *id, uint64_t gen, size_t *size)
{
	size_t got = 0;
	int fd = nss_cache_memfd_new();
	int ret;

	if (fd < 0) {
		return fd;
	}
	ret = publish_build(id, gen, fd, &got);
	if (ret == 0 && id->cache_pub != NULL) {
		cache_pub_install(id->cache_pub, fd);
	}
	close(fd);
	if (ret == 0 && size != NULL) {
		*size = got;
	}
	return ret;
}

static int waiter_destructor(struct flush_waiter *w);

static void waiters_notify(struct sectxd_identity *id, uint64_t gen, int err)
{
	struct flush_waiter *w, *next;

	for (w = id->waiters; w != NULL; w = next) {
		next = w->next;
		if (w->want_gen > gen) {
			continue;
		}
		w->got_gen = gen;
		waiter_destructor(w); /* unlink before the callback may free it */
		if (err != 0) {
			tevent_req_error(w->req, err);
		} else {
			tevent_req_done(w->req);
		}
	}
}

static void publish_finished(struct sectxd_identity *id, int err)
{
	struct id_cache_pub *cp = id->cache_pub;
	int64_t now = sectx_now_ms();
	uint64_t gen = id->generation;

	TALLOC_FREE(id->pub_fde);
	if (id->pub_fd >= 0) {
		close(id->pub_fd);
		id->pub_fd = -1;
	}
	if (id->pub_pid > 0) {
		int status = 0;

		/* it has written its result and is exiting */
		(void)waitpid(id->pub_pid, &status, 0);
		id->pub_pid = 0;
	}
	id->last_pub_end_ms = now;
	id->last_pub_ms = now - id->pub_started_ms;
	if (cp != NULL && cp->pending_fd >= 0) {
		if (err == 0) {
			cache_pub_install(cp, cp->pending_fd);
		} else {
			cp->flushing = false; /* nothing is coming: readers copy the file */
		}
		close(cp->pending_fd);
		cp->pending_fd = -1;
	}
	if (err != 0) {
		SECTX_ERROR("cannot publish the NSS cache (generation %" PRIu64 "): %s", gen,
			    strerror(-err));
	} else {
		id->published_gen = gen;
		SECTX_DEBUG("NSS cache generation %" PRIu64 " published in %lld ms", gen,
			    (long long)id->last_pub_ms);
	}
	waiters_notify(id, gen, err != 0 ? -err : 0);
	if (id_store_version(id->store) != id->pub_snapshot) {
		id_publish_schedule(id, false);
	}
}

/* The child's report, read as it comes (a pipe may deliver it in pieces);
 * end of file before a whole report means the child died before it could
 * say. */
static void publish_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			     void *pvt)
{
	struct sectxd_identity *id = pvt;
	int result = -EIO;
	size_t need = 0;
	ssize_t n;
	int ret;

	do {
		n = read(id->pub_fd, id->pub_rbuf + id->pub_rlen,
			 sizeof(id->pub_rbuf) - id->pub_rlen);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		return;
	}
	if (n > 0) {
		id->pub_rlen += (size_t)n;
		ret = id_wire_frame_need(id->pub_rbuf, id->pub_rlen, sizeof(id->pub_rbuf), &need);
		if (ret == SECTX_ERR_SHORT || (ret == 0 && id->pub_rlen < need)) {
			return; /* more to come */
		}
		if (ret == 0) {
			ret = id_wire_published_decode(id->pub_rbuf, id->pub_rlen,
						       (uint32_t)id->generation, &result);
		}
		if (ret != 0) {
			SECTX_ERROR("NSS cache publisher sent a bad report: %s",
				    sectx_strerror(ret));
			result = -EIO;
		}
	}
	publish_finished(id, result);
}

/* Fork the publisher.  The child writes from its copy of the store and
 * reports the result on a pipe. */
static void publish_start(struct sectxd_identity *id)
{
	struct id_cache_pub *cp = id->cache_pub;
	int pfd[2];
	pid_t pid;

	id->pub_snapshot = id_store_version(id->store);
	id->scheduled_version = id->pub_snapshot;
	id->generation++;
	id->pub_started_ms = sectx_now_ms();
	/* The memfd is ours from the start: the child fills it, we seal it. */
	cp->pending_fd = nss_cache_memfd_new();
	if (cp->pending_fd < 0) {
		int err = cp->pending_fd;

		cp->pending_fd = -1;
		publish_finished(id, err);
		return;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		publish_finished(id, -errno);
		return;
	}
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(pfd[0]);
		close(pfd[1]);
		publish_finished(id, err);
		return;
	}
	if (pid == 0) {
		uint8_t report[ID_PUB_FRAME_MAX];
		size_t len = 0, size = 0;
		int result;

		close(pfd[0]);
		if (cp->lfd >= 0) {
			close(cp->lfd); /* not ours to serve, nor to keep open */
		}
		/* Finish the file even if our process group is told to stop: a
		 * publication cut short after flagging the old file would leave
		 * readers without a cache while sectxd is down.  sectxd waits. */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		result = publish_build(id, id->generation, cp->pending_fd, &size);
		if (id_wire_published_encode(report, sizeof(report), (uint32_t)id->generation,
					     result, &len) == 0) {
			(void)sectx_write_all(pfd[1], report, len);
		}
		_exit(result == 0 ? 0 : 1);
	}
	close(pfd[1]);
	id->pub_pid = pid;
	id->pub_fd = pfd[0];
	id->pub_rlen = 0;
	id->pub_fde =
	    tevent_add_fd(id->hctx->ev, id, id->pub_fd, TEVENT_FD_READ, publish_readable, id);
	if (id->pub_fde == NULL) {
		kill(pid, SIGKILL);
		publish_finished(id, -ENOMEM);
	}
}

static void publish_timer_fired(struct tevent_context *ev, struct tevent_timer *te,
				struct timeval now, void *pvt)
{
	struct sectxd_identity *id = pvt;

	id->pub_timer = NULL;
	if (id->pub_pid > 0) {
		return; /* publish_finished schedules again */
	}
	publish_start(id);
}

/* Publish soon: urgent right away (unless one is being written: then as soon
 * as it is done), otherwise no sooner than PUBLISH_MIN_MS (or twice the last
 * publication's duration) after the last one. */
void id_publish_schedule(struct sectxd_identity *id, bool urgent)
{
	int64_t gap = id->last_pub_ms * 2 > PUBLISH_MIN_MS ? id->last_pub_ms * 2 : PUBLISH_MIN_MS;
	int64_t delay = urgent ? 0 : id->last_pub_end_ms + gap - sectx_now_ms();

	if (id->pub_pid > 0) {
		return; /* publish_finished looks at the version again */
	}
	if (id->pub_timer != NULL) {
		if (!urgent) {
			return;
		}
		TALLOC_FREE(id->pub_timer);
	}
	if (delay < 0) {
		delay = 0;
	}
	id->pub_timer = tevent_add_timer(
	    id->hctx->ev, id, tevent_timeval_current_ofs(delay / 1000, (delay % 1000) * 1000),
	    publish_timer_fired, id);
	if (id->pub_timer == NULL) {
		SECTX_ERROR("cannot schedule the NSS cache publication: out of memory");
	}
}

/* Publish if the store changed since the last publication started. */
void id_publish_changed(struct sectxd_identity *id)
{
	if (id_store_version(id->store) != id->scheduled_version) {
		id->scheduled_version = id_store_version(id->store);
		id_publish_schedule(id, false);
	}
}

static void refresh_fired(struct tevent_context *ev, struct tevent_timer *te, struct timeval tv,
			  void *pvt);

void id_publish_refresh_arm(struct sectxd_identity *id)
{
	int64_t now = id_realtime_now();
	int64_t secs = id_store_next_expiry(id->store, now) - now;

	TALLOC_FREE(id->refresh_timer);
	id->refresh_timer =
	    tevent_add_timer(id->hctx->ev, id, tevent_timeval_current_ofs(secs > 0 ? secs : 1, 0),
			     refresh_fired, id);
}

static void refresh_fired(struct tevent_context *ev, struct tevent_timer *te, struct timeval tv,
			  void *pvt)
{
	struct sectxd_identity *id = pvt;

	id->refresh_timer = NULL;
	id_publish_schedule(id, true);
	id_publish_refresh_arm(id);
}

/* --- flush ------------------------------------------------------------------------------------ */

static int waiter_destructor(struct flush_waiter *w)
{
	if (w->id == NULL) {
		return 0; /* already unlinked */
	}
	if (w->prev != NULL) {
		w->prev->next = w->next;
	} else if (w->id != NULL && w->id->waiters == w) {
		w->id->waiters = w->next;
	}
	if (w->next != NULL) {
		w->next->prev = w->prev;
	}
	w->prev = w->next = NULL;
	w->id = NULL;
	return 0;
}

struct tevent_req *identity_flush_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx)
{
	struct sectxd_identity *id = hctx->identity;
	struct flush_waiter *w;
	struct tevent_req *req;
	int ret;

	req = tevent_req_create(mem_ctx, &w, struct flush_waiter);
	if (req == NULL) {
		return NULL;
	}
	if (id == NULL) {
		tevent_req_error(req, ENOSYS);
		return tevent_req_post(req, hctx->ev);
	}
	id_store_flush(id->store);
	/* Readers drop the cache now and ask us until the new one is there. */
	ret = nss_cache_mark_stale(id->cache_dirfd, SECTX_NSS_CACHE_FILE);
	if (ret != 0 && ret != -ENOENT) {
		SECTX_WARN("cannot flag the NSS cache stale: %s", strerror(-ret));
	}
	if (id->cache_pub != NULL && id->cache_pub->cur != NULL) {
		nss_cache_pub_flag(id->cache_pub->cur, SECTX_NSS_CACHE_REPLACED);
		TALLOC_FREE(id->cache_pub->cur);
		id->cache_pub->flushing = true;
	}
	w->id = id;
	w->req = req;
	w->want_gen = id->generation + 1;
	w->next = id->waiters;
	if (id->waiters != NULL) {
		id->waiters->prev = w;
	}
	id->waiters = w;
	talloc_set_destructor(w, waiter_destructor);
	id->scheduled_version = id_store_version(id->store);
	id_publish_schedule(id, true);
	return req;
}

int identity_flush_recv(struct tevent_req *req, uint64_t *generation)
{
	struct flush_waiter *w = tevent_req_data(req, struct flush_waiter);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*generation = w->got_gen;
	return 0;
}

/* --- cache.sock ------------------------------------------------------------------------------- */

static void cache_sock_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
				void *pvt);

static void accept_resume(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			  void *pvt)
{
	struct id_cache_pub *cp = pvt;

	cp->timer = NULL;
	if (cp->lfde != NULL) {
		tevent_fd_set_flags(cp->lfde, TEVENT_FD_READ);
	}
}

/* Every client gets the current memfd (or a status) and is closed: nothing
 * is read from it and nothing is kept, so no client can hold anything of
 * ours for longer than one sendmsg. */
static void cache_sock_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
				void *pvt)
{
	struct id_cache_pub *cp = pvt;
	unsigned i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		int c = accept4(cp->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* still readable: do not spin on it */
				tevent_fd_set_flags(cp->lfde, 0);
				cp->timer = tevent_add_timer(
				    ev, cp, tevent_timeval_current_ofs(0, ACCEPT_PAUSE_MS * 1000),
				    accept_resume, cp);
				if (cp->timer == NULL) {
					tevent_fd_set_flags(cp->lfde, TEVENT_FD_READ);
				}
			}
			return;
		}
		(void)nss_cache_pub_send(c, cp->cur, cp->flushing ? SECTX_E_BUSY : SECTX_E_UNAVAIL);
		close(c);
	}
}

/* Bind and listen on cache.sock: at the first turn of the event loop, so
 * that no reader waits on a socket nobody serves yet. */
static void cache_sock_listen(struct tevent_context *ev, struct tevent_timer *te,
			      struct timeval now, void *pvt)
{
	struct id_cache_pub *cp = pvt;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	cp->timer = NULL;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cp->sock_path) >=
	    (int)sizeof(sun.sun_path)) {
		SECTX_WARN("%s: path too long for a socket; NSS readers will copy the cache file",
			   cp->sock_path);
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		SECTX_WARN("cannot create %s: %s", cp->sock_path, strerror(errno));
		return;
	}
	(void)unlinkat(cp->dirfd, SECTX_NSS_CACHE_SOCKET, 0);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    fchmodat(cp->dirfd, SECTX_NSS_CACHE_SOCKET, 0666, 0) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		SECTX_WARN("cannot listen on %s: %s; NSS readers will copy the cache file",
			   cp->sock_path, strerror(errno));
		close(fd);
		return;
	}
	cp->lfd = fd;
	cp->lfde = tevent_add_fd(ev, cp, fd, TEVENT_FD_READ, cache_sock_readable, cp);
	if (cp->lfde == NULL) {
		SECTX_WARN("cannot serve %s: out of memory", cp->sock_path);
	}
}

/* A stopping helper: its memfd stays valid for the readers that hold it,
 * who look for the next helper's (RETIRED); cache.sock goes, then the lock. */
static int cache_pub_destructor(struct id_cache_pub *cp)
{
	bool ours = cp->owner == getpid();

	if (ours && cp->cur != NULL) {
		nss_cache_pub_flag(cp->cur, SECTX_NSS_CACHE_RETIRED);
	}
	TALLOC_FREE(cp->lfde);
	if (cp->lfd >= 0) {
		close(cp->lfd);
		if (ours) {
			(void)unlinkat(cp->dirfd, SECTX_NSS_CACHE_SOCKET, 0);
		}
	}
	if (cp->pending_fd >= 0) {
		close(cp->pending_fd);
	}
	if (cp->dirfd >= 0) {
		close(cp->dirfd);
	}
	if (cp->lock_fd >= 0) {
		close(cp->lock_fd);
	}
	return 0;
}

/* The memfd publication and cache.sock of id, whose cache directory is open
 * and locked.  0 or -errno. */
static int cache_pub_start(struct sectxd_identity *id, const char *socket_dir)
{
	struct id_cache_pub *cp = talloc_zero(id, struct id_cache_pub);

	if (cp == NULL) {
		return -ENOMEM;
	}
	cp->pending_fd = cp->lfd = -1;
	cp->owner = getpid();
	cp->dirfd = fcntl(id->cache_dirfd, F_DUPFD_CLOEXEC, 0);
	cp->lock_fd = fcntl(id->lock_fd, F_DUPFD_CLOEXEC, 0);
	talloc_set_destructor(cp, cache_pub_destructor);
	cp->sock_path = talloc_asprintf(cp, "%s/%s/%s", socket_dir, SECTX_NSS_CACHE_DIR,
					SECTX_NSS_CACHE_SOCKET);
	if (cp->dirfd < 0 || cp->lock_fd < 0 || cp->sock_path == NULL) {
		talloc_free(cp);
		return -ENOMEM;
	}
	/* A dead helper's socket: readers find nothing there (and copy the
	 * file) until we listen. */
	(void)unlinkat(cp->dirfd, SECTX_NSS_CACHE_SOCKET, 0);
	cp->timer =
	    tevent_add_timer(id->hctx->ev, cp, tevent_timeval_zero(), cache_sock_listen, cp);
	if (cp->timer == NULL) {
		talloc_free(cp);
		return -ENOMEM;
	}
	id->cache_pub = cp;
	return 0;
}

/* --- the subsystem ---------------------------------------------------------------------------- */

/* Open (creating) <socket_dir>/nss-cache, root 0755, take its lock,
 * remove temp files a killed publisher left, and prepare the memfd
 * publication and cache.sock. */
int id_publish_open_dir(struct sectxd_identity *id, const char *socket_dir)
{
	int sockfd, ret, fd;
	DIR *d;
	struct dirent *de;

	sockfd = sectx_open_dir_verified(socket_dir, geteuid(), 0755, true);
	if (sockfd < 0) {
		SECTX_ERROR("socket directory %s must be a directory owned by uid %u and writable "
			    "only by it: %s",
			    socket_dir, (unsigned)geteuid(), strerror(-sockfd));
		return sockfd;
	}
	if (mkdirat(sockfd, SECTX_NSS_CACHE_DIR, 0755) != 0 && errno != EEXIST) {
		ret = -errno;
		SECTX_ERROR("cannot create %s/%s: %s", socket_dir, SECTX_NSS_CACHE_DIR,
			    strerror(errno));
		close(sockfd);
		return ret;
	}
	fd = openat(sockfd, SECTX_NSS_CACHE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(sockfd);
	if (fd < 0) {
		ret = -errno;
		SECTX_ERROR("cannot open %s/%s: %s", socket_dir, SECTX_NSS_CACHE_DIR,
			    strerror(errno));
		return ret;
	}
	{
		struct stat st;

		if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || fchmod(fd, 0755) != 0) {
			SECTX_ERROR("%s/%s must be a directory owned by uid %u", socket_dir,
				    SECTX_NSS_CACHE_DIR, (unsigned)geteuid());
			close(fd);
			return -EPERM;
		}
	}
	id->cache_dirfd = fd;
	id->lock_fd = openat(fd, CACHE_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (id->lock_fd < 0 || flock(id->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		SECTX_ERROR("another sectxd publishes in %s/%s (its lock is held)", socket_dir,
			    SECTX_NSS_CACHE_DIR);
		return -EADDRINUSE;
	}
	d = fdopendir(dup(fd));
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "." SECTX_NSS_CACHE_FILE ".", 7) == 0) {
				(void)unlinkat(fd, de->d_name, 0);
			}
		}
		closedir(d);
	}
	ret = cache_pub_start(id, socket_dir);
	if (ret != 0) {
		SECTX_ERROR("cannot prepare the NSS cache publication: %s", strerror(-ret));
	}
	return ret;
}
