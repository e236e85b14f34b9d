/*
 * identity/service.c - the identity subsystem of sectxd: owns the store
 * (identity_store.c), the existence checker (identity_s4u.c) and the
 * publication of the NSS cache (nss_cache_writer.c).
 *
 * Publication: at start the cache is written in-process before the sockets
 * open; afterwards every change is published by a short-lived child forked
 * from the helper (it sees a copy-on-write snapshot of the store, writes the
 * new file and exits), debounced so that a burst of lookups costs one file,
 * and refreshed every positive_ttl / 2 so static records never expire while
 * the helper runs.  The cache directory <socket_dir>/nss-cache (root 0755)
 * holds only the cache and a lock that keeps a second helper out.
 *
 * Who reaches this: nss_ops.c for every local user's lookups, and root's
 * flush.  Must never: wait for a KDC or a child on the event loop, let one
 * uid run unbounded existence checks, or make the published file disappear
 * (a stopping helper leaves it, so valid records outlive a restart).
 */
#include "identity/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "clock.h"
#include "identity/s4u.h"
#include "log.h"
#include "identity/nss_cache_writer.h"

#define PUBLISH_MIN_MS 100 /* between two publications */
#define RATE_BUCKETS   1024
#define CACHE_LOCK     ".lock"

struct rate_bucket {
	uid_t uid;
	bool used;
	double tokens;
	int64_t last_ms;
};

struct pcheck;

struct flush_waiter {
	struct flush_waiter *prev, *next;
	struct sectxd_identity *id;
	struct tevent_req *req;
	uint64_t want_gen;
	uint64_t got_gen;
};

struct sectxd_identity {
	struct sectxd_ctx *hctx;
	struct id_store *store;
	struct id_store *pending; /* built by check_reload, adopted by reloaded */
	struct id_store *retired; /* the one before: answers already posted may point into it */
	int state_dirfd;
	int cache_dirfd;
	int lock_fd;
	struct id_s4u *s4u; /* auto_id only */
	char *s4u_key;	    /* keytab|realm|host|timeout the worker was started with */

	/* publication */
	uint64_t generation;	    /* last one started */
	uint64_t published_gen;	    /* last one in place */
	uint64_t scheduled_version; /* store version the last publication covers */
	pid_t pub_pid;
	int pub_fd;
	struct tevent_fd *pub_fde;
	int64_t pub_started_ms;
	uint64_t pub_snapshot;
	int64_t last_pub_end_ms;
	int64_t last_pub_ms; /* duration */
	struct tevent_timer *pub_timer;
	struct tevent_timer *refresh_timer;
	struct flush_waiter *waiters;

	struct pcheck *checks;
	struct rate_bucket rate[RATE_BUCKETS];
};

static struct sectxd_identity *ident(struct sectxd_ctx *hctx)
{
	return hctx->identity;
}

struct id_store *identity_store(struct sectxd_ctx *hctx)
{
	return hctx->identity != NULL ? hctx->identity->store : NULL;
}

static int64_t realtime_now(void)
{
	return (int64_t)time(NULL);
}

/* --- publication ------------------------------------------------------------------------------ */

static void publish_schedule(struct sectxd_identity *id, bool urgent);

/* Build and write the cache file: 0 or -errno. */
static int publish_write(struct sectxd_identity *id, uint64_t gen, size_t *size)
{
	TALLOC_CTX *tmp = talloc_new(NULL);
	struct nss_cache_builder *b = NULL;
	int64_t now = realtime_now();
	int ret;

	if (tmp == NULL) {
		return -ENOMEM;
	}
	ret = nss_cache_builder_new(tmp, 0, &b);
	if (ret == 0) {
		ret = id_store_build_cache(id->store, b, now);
	}
	if (ret == 0) {
		ret = nss_cache_write(b, id->cache_dirfd, SECTX_NSS_CACHE_FILE, gen, now, size);
	}
	talloc_free(tmp);
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
		publish_schedule(id, false);
	}
}

static void publish_readable(struct tevent_context *ev, struct tevent_fd *fde, uint16_t flags,
			     void *pvt)
{
	struct sectxd_identity *id = pvt;
	int32_t result = -EIO;
	ssize_t n;

	do {
		n = read(id->pub_fd, &result, sizeof(result));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(result)) {
		result = -EIO; /* the child died before it could say */
	}
	publish_finished(id, result);
}

/* Fork the publisher.  The child writes from its copy of the store and
 * reports the result on a pipe. */
static void publish_start(struct sectxd_identity *id)
{
	int pfd[2];
	pid_t pid;

	id->pub_snapshot = id_store_version(id->store);
	id->scheduled_version = id->pub_snapshot;
	id->generation++;
	id->pub_started_ms = sectx_now_ms();
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
		int32_t result;

		close(pfd[0]);
		/* Finish the file even if our process group is told to stop: a
		 * publication cut short after flagging the old file would leave
		 * readers without a cache while sectxd is down.  sectxd waits. */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		result = publish_write(id, id->generation, NULL);
		(void)!write(pfd[1], &result, sizeof(result));
		_exit(result == 0 ? 0 : 1);
	}
	close(pfd[1]);
	id->pub_pid = pid;
	id->pub_fd = pfd[0];
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
static void publish_schedule(struct sectxd_identity *id, bool urgent)
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
static void identity_changed(struct sectxd_identity *id)
{
	if (id_store_version(id->store) != id->scheduled_version) {
		id->scheduled_version = id_store_version(id->store);
		publish_schedule(id, false);
	}
}

static void refresh_fired(struct tevent_context *ev, struct tevent_timer *te, struct timeval tv,
			  void *pvt);

static void refresh_arm(struct sectxd_identity *id)
{
	int64_t now = realtime_now();
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
	publish_schedule(id, true);
	refresh_arm(id);
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
	struct sectxd_identity *id = ident(hctx);
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
	/* Readers drop the file now and ask us until the new one is there. */
	ret = nss_cache_mark_stale(id->cache_dirfd, SECTX_NSS_CACHE_FILE);
	if (ret != 0 && ret != -ENOENT) {
		SECTX_WARN("cannot flag the NSS cache stale: %s", strerror(-ret));
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
	publish_schedule(id, true);
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

/* --- lookups and existence checks ------------------------------------------------------------- */

struct lookup_state {
	struct lookup_state *prev, *next; /* waiting on the same check */
	struct tevent_req *req;
	struct sectxd_identity *id;
	struct pcheck *check;
	enum identity_kind kind;
	char name[SECTX_NAME_MAX + 1];
	uint32_t num;
	struct id_lookup lk;
	uint32_t ttl;
};

/* One existence check, shared by every lookup that needs it. */
struct pcheck {
	struct pcheck *prev, *next;
	struct sectxd_identity *id;
	char principal[SECTX_NAME_MAX + 1];
	struct lookup_state *waiting;
};

static enum id_result run_lookup(struct sectxd_identity *id, struct lookup_state *s,
				 bool allow_stale)
{
	int64_t now = realtime_now();

	switch (s->kind) {
	case IDENTITY_USER_BY_NAME:
		return id_store_user_by_name(id->store, s->name, now, allow_stale, &s->lk);
	case IDENTITY_USER_BY_UID:
		return id_store_user_by_uid(id->store, s->num, now, allow_stale, &s->lk);
	case IDENTITY_GROUP_BY_NAME:
		return id_store_group_by_name(id->store, s->name, now, allow_stale, &s->lk);
	case IDENTITY_GROUP_BY_GID:
		return id_store_group_by_gid(id->store, s->num, now, allow_stale, &s->lk);
	}
	return ID_NOTFOUND;
}

static uint32_t ttl_of(struct sectxd_identity *id, const struct id_lookup *lk)
{
	const struct id_user *u = lk->user != NULL    ? lk->user
				  : lk->group != NULL ? lk->group->upg_of
						      : NULL;
	int64_t now = realtime_now();

	if (lk->stale) {
		return 0;
	}
	if (u != NULL && !u->is_static) {
		return u->verified_until > now ? (uint32_t)(u->verified_until - now) : 0;
	}
	return (uint32_t)(id->hctx->cfg->identity.positive_ttl_ms / 1000);
}

/* Finish s according to a store result. */
static void lookup_finish(struct tevent_req *req, struct lookup_state *s, enum id_result r,
			  int unavailable_err)
{
	switch (r) {
	case ID_FOUND:
		s->ttl = ttl_of(s->id, &s->lk);
		tevent_req_done(req);
		break;
	case ID_NOTFOUND:
		tevent_req_error(req, ENOENT);
		break;
	case ID_CHECK:
		tevent_req_error(req, unavailable_err);
		break;
	}
}

/* May caller start another existence check now?  Token bucket per uid:
 * checks_per_uid a second, bursts of twice that. */
static bool rate_ok(struct sectxd_identity *id, uid_t caller)
{
	struct rate_bucket *b = &id->rate[caller % RATE_BUCKETS];
	double rate = id->hctx->cfg->identity.checks_per_uid;
	int64_t now = sectx_now_ms();

	if (!b->used || b->uid != caller) {
		b->used = true;
		b->uid = caller;
		b->tokens = 2 * rate;
		b->last_ms = now;
	}
	b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
	if (b->tokens > 2 * rate) {
		b->tokens = 2 * rate;
	}
	b->last_ms = now;
	if (b->tokens < 1.0) {
		return false;
	}
	b->tokens -= 1.0;
	return true;
}

static void pcheck_unlink(struct pcheck *c)
{
	struct sectxd_identity *id = c->id;

	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else if (id->checks == c) {
		id->checks = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	c->prev = c->next = NULL;
}

static int pcheck_destructor(struct pcheck *c)
{
	struct lookup_state *s;

	pcheck_unlink(c);
	for (s = c->waiting; s != NULL; s = s->next) {
		s->check = NULL;
	}
	return 0;
}

static void lookup_unwait(struct lookup_state *s)
{
	if (s->check == NULL) {
		return;
	}
	if (s->prev != NULL) {
		s->prev->next = s->next;
	} else {
		s->check->waiting = s->next;
	}
	if (s->next != NULL) {
		s->next->prev = s->prev;
	}
	s->prev = s->next = NULL;
	s->check = NULL;
}

static int lookup_state_destructor(struct lookup_state *s)
{
	lookup_unwait(s);
	return 0;
}

static void check_done(struct tevent_req *subreq)
{
	struct pcheck *c = tevent_req_callback_data(subreq, struct pcheck);
	struct sectxd_identity *id = c->id;
	const char *why = "";
	bool exists = false;
	int ret;

	ret = id_s4u_check_recv(subreq, &exists, &why);
	if (ret == 0) {
		SECTX_DEBUG("existence check of %s: %s", c->principal,
			    exists ? "known to the realm" : "unknown to the realm");
		ret = id_store_check_result(id->store, c->principal, exists, realtime_now(),
					    id->state_dirfd);
	} else {
		SECTX_WARN("existence check of %s failed: %s%s%s", c->principal, strerror(-ret),
			   why[0] != '\0' ? ": " : "", why);
	}
	talloc_free(subreq);
	/* Answer every lookup that waited: again from the store, which now
	 * knows (or, the realm unreachable, may serve what it knew). */
	while (c->waiting != NULL) {
		struct lookup_state *s = c->waiting;
		struct tevent_req *req = s->req;

		lookup_unwait(s);
		lookup_finish(req, s, run_lookup(id, s, ret != 0), EHOSTUNREACH);
	}
	talloc_free(c);
	identity_changed(id);
}

struct tevent_req *identity_lookup_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					enum identity_kind kind, const char *name, uint32_t num,
					uid_t caller)
{
	struct sectxd_identity *id = ident(hctx);
	struct lookup_state *s;
	struct tevent_req *req, *subreq;
	struct pcheck *c;
	enum id_result r;

	req = tevent_req_create(mem_ctx, &s, struct lookup_state);
	if (req == NULL) {
		return NULL;
	}
	if (id == NULL || id->store == NULL) {
		tevent_req_error(req, ENOENT);
		return tevent_req_post(req, hctx->ev);
	}
	s->req = req;
	s->id = id;
	s->kind = kind;
	s->num = num;
	snprintf(s->name, sizeof(s->name), "%s", name != NULL ? name : "");
	talloc_set_destructor(s, lookup_state_destructor);
	r = run_lookup(id, s, false);
	identity_changed(id);
	if (r != ID_CHECK) {
		lookup_finish(req, s, r, EHOSTUNREACH);
		return tevent_req_post(req, hctx->ev);
	}
	for (c = id->checks; c != NULL; c = c->next) {
		if (strcmp(c->principal, s->lk.check_principal) == 0) {
			break;
		}
	}
	if (c == NULL) {
		if (id->s4u == NULL) {
			lookup_finish(req, s, run_lookup(id, s, true), EHOSTUNREACH);
			return tevent_req_post(req, hctx->ev);
		}
		if (!rate_ok(id, caller)) {
			SECTX_INFO("existence check of %s for uid %u refused: over checks_per_uid",
				   s->lk.check_principal, (unsigned)caller);
			tevent_req_error(req, EBUSY);
			return tevent_req_post(req, hctx->ev);
		}
		c = talloc_zero(id, struct pcheck);
		if (c == NULL) {
			tevent_req_error(req, ENOMEM);
			return tevent_req_post(req, hctx->ev);
		}
		c->id = id;
		snprintf(c->principal, sizeof(c->principal), "%s", s->lk.check_principal);
		subreq = id_s4u_check_send(c, hctx->ev, id->s4u, c->principal);
		if (subreq == NULL) {
			talloc_free(c);
			tevent_req_error(req, ENOMEM);
			return tevent_req_post(req, hctx->ev);
		}
		tevent_req_set_callback(subreq, check_done, c);
		c->next = id->checks;
		if (id->checks != NULL) {
			id->checks->prev = c;
		}
		id->checks = c;
		talloc_set_destructor(c, pcheck_destructor);
	}
	s->check = c;
	s->next = c->waiting;
	if (c->waiting != NULL) {
		c->waiting->prev = s;
	}
	c->waiting = s;
	return req;
}

int identity_lookup_recv(struct tevent_req *req, struct id_lookup *lk, uint32_t *ttl)
{
	struct lookup_state *s = tevent_req_data(req, struct lookup_state);
	int err;

	if (sectx_req_failed(req, &err)) {
		return -err;
	}
	*lk = s->lk;
	if (lk->group == &s->lk.upg) {
		lk->group = &lk->upg; /* it pointed into s */
	}
	*ttl = s->ttl;
	return 0;
}

/* --- the subsystem ---------------------------------------------------------------------------- */

/* Open (creating) <socket_dir>/nss-cache, root 0755, take its lock and
 * remove temp files a killed publisher left. */
static int open_cache_dir(struct sectxd_identity *id, const char *socket_dir)
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
	return 0;
}

/* The key of what the S4U worker depends on. */
static char *s4u_key(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, const struct sectx_config *cfg,
		     const char *realm)
{
	return talloc_asprintf(mem_ctx, "%s|%s|%s|%llu", cfg->kerberos.keytab, realm,
			       cfg->identity.host_principal,
			       (unsigned long long)cfg->kerberos.kdc_timeout_ms);
}

/* Start, restart or stop the worker to match cfg. */
static int s4u_configure(struct sectxd_identity *id, const struct sectx_config *cfg,
			 const char *realm)
{
	char *key;
	int ret;

	if (!cfg->identity.auto_id) {
		TALLOC_FREE(id->s4u);
		TALLOC_FREE(id->s4u_key);
		return 0;
	}
	key = s4u_key(id, id->hctx, cfg, realm);
	if (key == NULL) {
		return -ENOMEM;
	}
	if (id->s4u != NULL && id->s4u_key != NULL && strcmp(key, id->s4u_key) == 0) {
		talloc_free(key);
		return 0;
	}
	TALLOC_FREE(id->s4u);
	talloc_free(id->s4u_key);
	id->s4u_key = key;
	ret = id_s4u_start(id, id->hctx->ev, cfg->kerberos.keytab, realm,
			   cfg->identity.host_principal, cfg->kerberos.kdc_timeout_ms, &id->s4u);
	if (ret != 0) {
		SECTX_ERROR("cannot start the existence-check worker: %s", strerror(-ret));
	}
	return ret;
}

/* A store for cfg, loaded from the static files and the map file. */
static int build_store(struct sectxd_identity *id, const struct sectx_config *cfg,
		       const char *realm, struct id_store **out, char *why, size_t whylen)
{
	struct id_store *st = NULL;
	int ret;

	if (cfg->identity.auto_id && (realm == NULL || realm[0] == '\0')) {
		snprintf(why, whylen, "auto_id needs a realm ([kerberos] realm or krb5.conf)");
		return -EINVAL;
	}
	ret = id_store_new(id, cfg, realm, &st);
	if (ret != 0) {
		snprintf(why, whylen, "invalid [identity] id_range or min_id");
		return ret;
	}
	ret = id_store_load_static(st, why, whylen);
	if (ret == 0) {
		ret = id_store_load_mappings(st, id->state_dirfd, why, whylen);
	}
	if (ret != 0) {
		talloc_free(st);
		return ret;
	}
	*out = st;
	return 0;
}

static int identity_destructor(struct sectxd_identity *id)
{
	if (id->pub_pid > 0) {
		/* Let it finish (see publish_start): bounded by one file write. */
		(void)waitpid(id->pub_pid, NULL, 0);
	}
	if (id->pub_fd >= 0) {
		close(id->pub_fd);
	}
	if (id->lock_fd >= 0) {
		close(id->lock_fd);
	}
	if (id->cache_dirfd >= 0) {
		close(id->cache_dirfd);
	}
	if (id->state_dirfd >= 0) {
		close(id->state_dirfd);
	}
	return 0;
}

static int identity_start(struct sectxd_ctx *hctx)
{
	const struct sectx_config *cfg = hctx->cfg;
	struct sectxd_identity *id;
	struct sectx_nss_cache_map old;
	char why[1024] = "";
	size_t size = 0;
	int ret;

	id = talloc_zero(hctx, struct sectxd_identity);
	if (id == NULL) {
		return -ENOMEM;
	}
	id->hctx = hctx;
	id->state_dirfd = id->cache_dirfd = id->lock_fd = id->pub_fd = -1;
	talloc_set_destructor(id, identity_destructor);

	ret = sectx_open_dir_verified(cfg->sectxd.state_dir, geteuid(), 0700, true);
	if (ret < 0) {
		SECTX_ERROR("state directory %s must be a directory owned by uid %u, mode 0700: %s",
			    cfg->sectxd.state_dir, (unsigned)geteuid(), strerror(-ret));
		goto done;
	}
	id->state_dirfd = ret;
	ret = open_cache_dir(id, cfg->sectxd.socket_dir);
	if (ret != 0) {
		goto done;
	}
	ret = build_store(id, cfg, hctx->realm, &id->store, why, sizeof(why));
	if (ret != 0) {
		SECTX_ERROR("identity store: %s", why);
		goto done;
	}
	/* What the last run published: its generation, and the existence
	 * checks still valid in it. */
	if (nss_cache_map_file(id->cache_dirfd, SECTX_NSS_CACHE_FILE, &old) == 0) {
		id->generation = old.generation;
		id_store_seed_from_cache(id->store, &old, realtime_now());
		nss_cache_unmap(&old);
	}
	ret = s4u_configure(id, cfg, hctx->realm);
	if (ret != 0) {
		goto done;
	}
	/* The first publication in-process, before the sockets open. */
	id->pub_started_ms = sectx_now_ms();
	id->generation++;
	id->scheduled_version = id_store_version(id->store);
	ret = publish_write(id, id->generation, &size);
	if (ret != 0) {
		SECTX_ERROR("cannot publish the NSS cache in %s/%s: %s", cfg->sectxd.socket_dir,
			    SECTX_NSS_CACHE_DIR, strerror(-ret));
		goto done;
	}
	id->published_gen = id->generation;
	id->last_pub_end_ms = sectx_now_ms();
	id->last_pub_ms = id->last_pub_end_ms - id->pub_started_ms;
	refresh_arm(id);
	SECTX_INFO("identity: %zu static users, %zu mappings (range %s), auto_id %s; NSS cache "
		   "generation %" PRIu64 " (%zu bytes) in %s/%s",
		   id_store_n_static_users(id->store), id_store_n_mappings(id->store),
		   id_store_range(id->store), cfg->identity.auto_id ? "on" : "off", id->generation,
		   size, cfg->sectxd.socket_dir, SECTX_NSS_CACHE_DIR);
	hctx->identity = id;
	id = NULL;
	ret = 0;
done:
	talloc_free(id);
	return ret;
}

static int identity_check_reload(struct sectxd_ctx *hctx, const struct sectx_config *newcfg,
				 char *why, size_t whylen)
{
	struct sectxd_identity *id = ident(hctx);
	char *realm;
	int ret;

	if (id == NULL) {
		return 0;
	}
	if (strcmp(newcfg->identity.id_range, hctx->cfg->identity.id_range) != 0 &&
	    id_store_n_mappings(id->store) > 0) {
		snprintf(why, whylen,
			 "[identity] id_range cannot change from %s to %s while %zu principals are "
			 "mapped (every one would get another uid)",
			 hctx->cfg->identity.id_range, newcfg->identity.id_range,
			 id_store_n_mappings(id->store));
		return -EINVAL;
	}
	TALLOC_FREE(id->pending);
	realm = sectxd_effective_realm(id, newcfg);
	if (realm == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	ret = build_store(id, newcfg, realm, &id->pending, why, whylen);
	talloc_free(realm);
	return ret != 0 ? -EINVAL : 0;
}

static void identity_reloaded(struct sectxd_ctx *hctx)
{
	struct sectxd_identity *id = ident(hctx);

	if (id == NULL || id->pending == NULL) {
		return;
	}
	/* Lookups waiting for a check re-run against the new store when it
	 * answers: they hold no pointer into the old one. */
	id_store_adopt(id->pending, id->store);
	talloc_free(id->retired);
	id->retired = id->store;
	id->store = id->pending;
	id->pending = NULL;
	(void)s4u_configure(id, hctx->cfg, hctx->realm);
	id->scheduled_version = id_store_version(id->store);
	publish_schedule(id, true);
	refresh_arm(id);
}

static void identity_stop(struct sectxd_ctx *hctx)
{
	TALLOC_FREE(hctx->identity);
}

const struct sectxd_subsystem sectxd_identity_subsystem = {
    .name = "identity",
    .start = identity_start,
    .check_reload = identity_check_reload,
    .reloaded = identity_reloaded,
    .status = NULL,
    .stop = identity_stop,
};
