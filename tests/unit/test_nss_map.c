/*
 * test_nss_map.c - unit tests of libnss_sectx's view of the NSS cache
 * (nss/cache_map.c) against the helper's writer and sealer
 * (helper/identity/nss_cache_writer.c, nss_cache_pub.c).
 *
 * A fake helper thread serves cache.sock in a fresh socket directory
 * (SECTX_SOCKET_DIR); the module's own lookup path, nss_sectx_cache_run, is
 * driven as NSS would drive it.  What is checked: the published file
 * truncated in place under a reader (no SIGBUS: the reader holds a private
 * copy, and a new copy of the truncated file is refused cleanly); every
 * attempt to shrink, grow or write the sealed memfd refused by the kernel
 * while a reader maps it, which keeps answering; descriptors that are not
 * sealed, not read-only, not a memfd, writable by mode or not a valid cache
 * refused before anything is mapped; a REPLACED memfd swapped for the next,
 * a RETIRED one kept until a successor appears, a helper killed with
 * SIGKILL seen through the owner word the kernel marks, a memfd that stays
 * CURRENT rechecked on a miss, and a flush (E_BUSY, file flagged) answered
 * MISS.
 * Built with SECTX_EXPECTED_SERVER_UID=geteuid() so that the test's own uid
 * plays the root helper.  No network.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "client.h"
#include "identity/nss_cache_writer.h"
#include "nss_sectx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

/* --- a fake helper serving cache.sock ------------------------------------------------------- */

struct server {
	int lfd;
	pthread_t th;
	pthread_mutex_t lock;
	struct nss_cache_pub *pub; /* sent with nss_cache_pub_send, or */
	int raw_fd;		   /* a descriptor of the test's, sent as is (-1: none) */
	uint32_t status;	   /* without either */
	uint16_t op;		   /* of raw frames (0: the right one) */
	int stop;
	unsigned served;
};

struct fixture {
	char dir[64];	/* the socket directory */
	char cache[80]; /* dir/nss-cache */
	int cache_dirfd;
	TALLOC_CTX *mem_ctx;
	struct server srv;
	bool serving;
};

/* A frame like nss_cache_pub_send's (op 0: its op), with any descriptor. */
static void send_raw(int c, int fd, uint32_t status, uint16_t op)
{
	uint8_t frame[64];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct sectx_wbuf w;
	size_t len = 0;

	sectx_frame_begin(&w, frame, sizeof(frame), SECTX_PROTO_VERSION,
			  op != 0 ? op : SECTX_OP_NSS_CACHE_FD | SECTX_OP_REPLY, 0);
	sectx_put_u32(&w, SECTX_TAG_STATUS, status);
	sectx_put_u64(&w, SECTX_TAG_GENERATION, 1);
	if (sectx_frame_end(&w, &len) != 0) {
		return;
	}
	iov.iov_base = frame;
	iov.iov_len = len;
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	(void)sendmsg(c, &mh, MSG_NOSIGNAL);
}

static void *serve(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		int c;

		pthread_mutex_lock(&s->lock);
		if (s->stop) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		pthread_mutex_unlock(&s->lock);
		if (poll(&p, 1, 20) <= 0) {
			continue;
		}
		c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			continue;
		}
		pthread_mutex_lock(&s->lock);
		if (s->pub != NULL) {
			(void)nss_cache_pub_send(c, s->pub, 0);
		} else if (s->raw_fd >= 0) {
			send_raw(c, s->raw_fd, SECTX_OK, s->op);
		} else {
			send_raw(c, -1, s->status, s->op);
		}
		s->served++;
		pthread_mutex_unlock(&s->lock);
		close(c);
	}
}

static void server_start(struct fixture *f)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct server *s = &f->srv;

	assert_true(snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", f->cache,
			     SECTX_NSS_CACHE_SOCKET) < (int)sizeof(sun.sun_path));
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	s->stop = 0;
	assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
	f->serving = true;
}

static void server_stop(struct fixture *f)
{
	struct server *s = &f->srv;

	if (!f->serving) {
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->th, NULL);
	close(s->lfd);
	unlinkat(f->cache_dirfd, SECTX_NSS_CACHE_SOCKET, 0);
	f->serving = false;
}

/* What the server hands out from now on. */
static void server_set(struct fixture *f, struct nss_cache_pub *pub, int raw_fd, uint32_t status)
{
	pthread_mutex_lock(&f->srv.lock);
	f->srv.pub = pub;
	f->srv.raw_fd = raw_fd;
	f->srv.status = status;
	pthread_mutex_unlock(&f->srv.lock);
}

static unsigned server_served(struct fixture *f)
{
	unsigned n;

	pthread_mutex_lock(&f->srv.lock);
	n = f->srv.served;
	pthread_mutex_unlock(&f->srv.lock);
	return n;
}

/* --- fixture ---------------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/sectx-nssmap-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->cache, sizeof(f->cache), "%s/%s", f->dir, SECTX_NSS_CACHE_DIR);
	if (mkdir(f->cache, 0755) != 0) {
		return -1;
	}
	f->cache_dirfd = open(f->cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->mem_ctx = talloc_new(NULL);
	pthread_mutex_init(&f->srv.lock, NULL);
	f->srv.raw_fd = -1;
	f->srv.status = SECTX_E_UNAVAIL;
	setenv(SECTX_SOCKET_DIR_ENV, f->dir, 1);
	nss_sectx_cache_drop();
	*state = f;
	return f->cache_dirfd >= 0 && f->mem_ctx != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	server_stop(f);
	nss_sectx_cache_drop();
	close(f->cache_dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot remove %s\n", f->dir);
	}
	talloc_free(f->mem_ctx);
	pthread_mutex_destroy(&f->srv.lock);
	free(f);
	return 0;
}

/* --- caches ----------------------------------------------------------------------------------- */

#define FILLER 300 /* users that make a cache span several pages */

/* A builder with users alice (gecos "gen G"), if with_bob bob, and filler
 * users user0..user<filler - 1>. */
static struct nss_cache_builder *sample_n(struct fixture *f, unsigned gen, bool with_bob,
					  unsigned filler)
{
	struct nss_cache_builder *b = NULL;
	int64_t later = (int64_t)time(NULL) + 3600;
	char gecos[32];
	struct nss_cache_user alice = {
	    .name = "alice",
	    .gecos = gecos,
	    .home = "/home/alice",
	    .shell = "/bin/sh",
	    .uid = 10001,
	    .gid = 10001,
	    .expires = later,
	};
	struct nss_cache_user bob = {
	    .name = "bob",
	    .gecos = gecos,
	    .home = "/home/bob",
	    .shell = "/bin/sh",
	    .uid = 10002,
	    .gid = 10002,
	    .expires = later,
	};

	snprintf(gecos, sizeof(gecos), "gen %u", gen);
	assert_int_equal(nss_cache_builder_new(f->mem_ctx, 0, &b), 0);
	assert_int_equal(nss_cache_add_user(b, &alice), 0);
	if (with_bob) {
		assert_int_equal(nss_cache_add_user(b, &bob), 0);
	}
	for (unsigned i = 0; i < filler; i++) {
		char name[32];
		struct nss_cache_user u = {
		    .name = name,
		    .gecos = gecos,
		    .home = "/home/user",
		    .shell = "/bin/sh",
		    .uid = 20000 + i,
		    .gid = 20000 + i,
		    .expires = later,
		};

		snprintf(name, sizeof(name), "user%u", i);
		assert_int_equal(nss_cache_add_user(b, &u), 0);
	}
	return b;
}

static struct nss_cache_builder *sample(struct fixture *f, unsigned gen, bool with_bob)
{
	return sample_n(f, gen, with_bob, 0);
}

/* A built memfd of generation gen (unsealed). */
static int built_memfd(struct fixture *f, unsigned gen, bool with_bob)
{
	int fd = nss_cache_memfd_new();

	assert_true(fd >= 0);
	assert_int_equal(
	    nss_cache_build_fd(sample_n(f, gen, with_bob, FILLER), fd, gen, time(NULL), NULL), 0);
	return fd;
}

/* A sealed publication of generation gen; *rw_fd (may be NULL) gets the
 * read-write memfd it was made from, else that is closed. */
static struct nss_cache_pub *sealed(struct fixture *f, unsigned gen, bool with_bob, int *rw_fd)
{
	struct nss_cache_pub *p = NULL;
	int fd = built_memfd(f, gen, with_bob);

	assert_int_equal(nss_cache_pub_seal(f->mem_ctx, fd, &p), 0);
	if (rw_fd != NULL) {
		*rw_fd = fd;
	} else {
		close(fd);
	}
	return p;
}

/* A read-only descriptor of the file behind fd. */
static int reopen_ro(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* --- lookups through the module's path -------------------------------------------------------- */

struct query {
	const char *name;
	struct passwd pw;
	char buf[512];
};

static enum sectx_nss_cache_result pw_fn(const struct sectx_nss_cache_map *m, int64_t now,
					 void *arg)
{
	struct query *q = arg;

	return sectx_nss_cache_getpwnam(m, q->name, now, &q->pw, q->buf, sizeof(q->buf));
}

/* Look name up; on a HIT returns its gecos in *gecos (static). */
static enum sectx_nss_cache_result lookup(const char *name, const char **gecos)
{
	static struct query q;
	enum sectx_nss_cache_result r;

	memset(&q, 0, sizeof(q));
	q.name = name;
	r = nss_sectx_cache_run(pw_fn, &q);
	if (gecos != NULL) {
		*gecos = r == SECTX_NSS_CACHE_HIT ? q.pw.pw_gecos : NULL;
	}
	return r;
}

/* How many mappings of cache memfds this process has. */
static int memfd_maps(void)
{
	char line[512];
	int found = 0;
	FILE *fp = fopen("/proc/self/maps", "r");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strstr(line, "memfd:sectx-nss-cache") != NULL) {
			found++;
		}
	}
	fclose(fp);
	return found;
}

/* Whether this process maps a memfd of the cache. */
static bool maps_memfd(void)
{
	return memfd_maps() > 0;
}

/* Look name up until the answer's gecos is want (at most ~3 s): the
 * module looks for a new view only every so many milliseconds. */
static bool eventually_gecos(const char *name, const char *want)
{
	int i;

	for (i = 0; i < 300; i++) {
		const char *g = NULL;

		if (lookup(name, &g) == SECTX_NSS_CACHE_HIT && strcmp(g, want) == 0) {
			return true;
		}
		usleep(10000);
	}
	return false;
}

/* --- tests ------------------------------------------------------------------------------------ */

/* The reader's fallback, a copy of the file, and the file (several pages)
 * truncated in place under it: answers go on (a mapping of the file would
 * be SIGBUS here), and a new copy of the truncated file is refused
 * cleanly. */
static void test_file_truncated_under_reader(void **state)
{
	struct fixture *f = *state;
	const char *g = NULL;
	size_t size = 0;
	int fd, i;

	assert_int_equal(nss_cache_write(sample_n(f, 1, true, FILLER), f->cache_dirfd,
					 SECTX_NSS_CACHE_FILE, 1, time(NULL), &size),
			 0);
	assert_true(size > 4 * 4096);
	/* no cache.sock: no helper */
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 1");
	fd = openat(f->cache_dirfd, SECTX_NSS_CACHE_FILE, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64), 0);
	for (i = 0; i < 1000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "user%d", i % FILLER);
		assert_int_equal(lookup(i % 3 == 0   ? "alice"
					: i % 3 == 1 ? "bob"
						     : name,
					NULL),
				 SECTX_NSS_CACHE_HIT);
	}
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lookup("bob", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 1");
	/* a process starting now finds nothing it can use: ask the helper */
	nss_sectx_cache_drop();
	assert_int_equal(lookup("alice", NULL), SECTX_NSS_CACHE_MISS);
	assert_int_equal(ftruncate(fd, 4096), 0); /* zeros: not a cache */
	nss_sectx_cache_drop();
	assert_int_equal(lookup("alice", NULL), SECTX_NSS_CACHE_MISS);
	close(fd);
}

/* The helper's sealed memfd, mapped by the reader: every way to shrink,
 * grow or write it is refused, and the reader keeps answering; the file
 * being truncated does not matter to it. */
static void test_memfd_cannot_be_truncated(void **state)
{
	struct fixture *f = *state;
	const char *g = NULL;
	int rw = -1, ro, again, i, maps;
	struct nss_cache_pub *pub = sealed(f, 1, true, &rw);
	size_t size = nss_cache_pub_size(pub);
	void *p;

	assert_int_equal(nss_cache_write(sample_n(f, 1, true, FILLER), f->cache_dirfd,
					 SECTX_NSS_CACHE_FILE, 1, time(NULL), NULL),
			 0);
	server_set(f, pub, -1, 0);
	server_start(f);
	maps = memfd_maps(); /* the sealer's own */
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 1");
	assert_int_equal(memfd_maps(), maps + 1); /* the reader maps the memfd */

	/* the kernel refuses everything, to the helper's own read-write
	 * descriptor and to a reader's read-only one alike */
	assert_int_equal(ftruncate(rw, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(rw, (off_t)size / 2), -1);
	assert_int_equal(ftruncate(rw, (off_t)size * 2), -1);
	assert_int_equal(fallocate(rw, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)size),
			 -1);
	assert_int_equal(pwrite(rw, "x", 1, 200), -1);
	assert_int_equal(errno, EPERM);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	assert_true(p == MAP_FAILED);
	assert_int_equal(fcntl(rw, F_ADD_SEALS, F_SEAL_WRITE), -1); /* F_SEAL_SEAL */
	ro = reopen_ro(rw);
	assert_true(ro >= 0);
	assert_int_equal(ftruncate(ro, 0), -1);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, ro, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mprotect(p, size, PROT_READ | PROT_WRITE), -1);
	munmap(p, size);
	close(ro);
	/* and the file may be truncated: readers do not map it */
	again = openat(f->cache_dirfd, SECTX_NSS_CACHE_FILE, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(again >= 0);
	close(again);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(lookup(i % 2 ? "alice" : "bob", NULL), SECTX_NSS_CACHE_HIT);
	}
	/* the helper gone: a current memfd answers without it */
	server_stop(f);
	assert_int_equal(lookup("bob", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 1");
	assert_int_equal(memfd_maps(), maps + 1);
	close(rw);
}

/* Descriptors that are not the helper's sealed, read-only memfd are never
 * mapped, whoever hands them over. */
static void test_refuses_unsealed(void **state)
{
	struct fixture *f = *state;
	struct sectx_nss_cache_map m;
	int fd, ro, file, sv[2];

	/* a built, unsealed memfd, read-only */
	fd = built_memfd(f, 1, false);
	ro = reopen_ro(fd);
	assert_int_equal(nss_sectx_map_sealed(ro, &m), -EPERM);
	/* handed over by "the helper": not mapped, and no file: a miss */
	server_set(f, NULL, ro, 0);
	server_start(f);
	assert_int_equal(lookup("alice", NULL), SECTX_NSS_CACHE_MISS);
	assert_true(server_served(f) >= 1);
	assert_false(maps_memfd());
	close(ro);

	/* sealed against shrinking and growing, but still writable */
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
	assert_int_equal(fchmod(fd, 0444), 0);
	ro = reopen_ro(fd);
	assert_int_equal(nss_sectx_map_sealed(ro, &m), -EPERM);
	close(ro);
	close(fd);

	/* every seal, but writable by its mode */
	fd = built_memfd(f, 1, false);
	assert_int_equal(
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL),
	    0);
	ro = reopen_ro(fd);
	assert_int_equal(nss_sectx_map_sealed(ro, &m), -EPERM);
	close(ro);
	/* and a read-write descriptor of a sealed one */
	assert_int_equal(fchmod(fd, 0444), 0);
	assert_int_equal(nss_sectx_map_sealed(fd, &m), -EPERM);
	close(fd);

	/* no seal to ask for: a regular file, a socket */
	assert_int_equal(nss_cache_write(sample(f, 1, false), f->cache_dirfd, SECTX_NSS_CACHE_FILE,
					 1, time(NULL), NULL),
			 0);
	file = openat(f->cache_dirfd, SECTX_NSS_CACHE_FILE, O_RDONLY | O_CLOEXEC);
	assert_int_equal(nss_sectx_map_sealed(file, &m), -EPERM);
	close(file);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(nss_sectx_map_sealed(sv[0], &m), -EPERM);
	close(sv[0]);
	close(sv[1]);

	/* sealed properly, but not a cache */
	fd = nss_cache_memfd_new();
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL),
	    0);
	assert_int_equal(fchmod(fd, 0444), 0);
	ro = reopen_ro(fd);
	assert_int_equal(nss_sectx_map_sealed(ro, &m), -EINVAL);
	close(ro);
	close(fd);
	assert_false(maps_memfd());

	/* the real thing */
	{
		struct nss_cache_pub *pub = sealed(f, 2, false, NULL);
		int maps = memfd_maps();

		server_set(f, pub, -1, 0);
		nss_sectx_cache_drop();
		assert_int_equal(lookup("alice", NULL), SECTX_NSS_CACHE_HIT);
		assert_int_equal(memfd_maps(), maps + 1);
	}
}

/* REPLACED: the next lookup maps the helper's new memfd.  RETIRED (the
 * helper stopped): answers go on from it until a successor appears. */
static void test_replaced_and_retired(void **state)
{
	struct fixture *f = *state;
	struct nss_cache_pub *p1 = sealed(f, 1, true, NULL);
	struct nss_cache_pub *p2, *p3;
	const char *g = NULL;
	int i;

	server_set(f, p1, -1, 0);
	server_start(f);
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 1");
	p2 = sealed(f, 2, true, NULL);
	server_set(f, p2, -1, 0);
	nss_cache_pub_flag(p1, SECTX_NSS_CACHE_REPLACED);
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 2");

	/* the helper stops: retired, and nobody listens */
	nss_cache_pub_flag(p2, SECTX_NSS_CACHE_RETIRED);
	server_stop(f);
	for (i = 0; i < 50; i++) {
		assert_int_equal(lookup(i % 2 ? "alice" : "bob", &g), SECTX_NSS_CACHE_HIT);
		assert_string_equal(g, "gen 2");
		usleep(5000);
	}
	/* the next helper */
	p3 = sealed(f, 3, true, NULL);
	server_set(f, p3, -1, 0);
	server_start(f);
	assert_true(eventually_gecos("alice", "gen 3"));
}

/* A memfd that stays CURRENT while another is handed out (a killed helper
 * whose owner word was not marked): a miss on it, once it has not been
 * checked for NSS_SECTX_RECHECK_MS, finds the successor's. */
static void test_killed_helper_recheck(void **state)
{
	struct fixture *f = *state;
	struct nss_cache_pub *p1 = sealed(f, 1, false, NULL);
	const char *g = NULL;

	server_set(f, p1, -1, 0);
	server_start(f);
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
	/* p1 stays CURRENT; the new helper has bob */
	server_set(f, sealed(f, 2, true, NULL), -1, 0);
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 1"); /* hits never look */
	usleep((NSS_SECTX_RECHECK_MS + 100) * 1000);
	assert_int_equal(lookup("bob", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 2");
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 2");
}

/* A helper killed with SIGKILL flags nothing, but the kernel marks its
 * owner word: readers keep answering from its memfd (RETIRED) and take the
 * next helper's as soon as cache.sock hands it out. */
static void test_sigkill_marks_owner_dead(void **state)
{
	struct fixture *f = *state;
	struct sectx_conn c = SECTX_CONN_INIT;
	struct sectx_nss_cache_map m;
	uint8_t frame[256];
	const char *g = NULL;
	size_t len = 0;
	int sv[2], ro = -1, status = 0, i;
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the helper: seal (and hold the owner lock), hand it over, wait */
		struct nss_cache_pub *pub = NULL;
		int fd = built_memfd(f, 1, true);

		close(sv[0]);
		if (nss_cache_pub_seal(f->mem_ctx, fd, &pub) != 0 ||
		    nss_cache_pub_send(sv[1], pub, 0) != 0) {
			_exit(1);
		}
		for (;;) {
			pause();
		}
	}
	close(sv[1]);
	c.fd = sv[0];
	assert_int_equal(
	    sectx_client_recv_fd(&c, frame, sizeof(frame), &len, &ro, sectx_deadline_after(5000)),
	    0);
	close(sv[0]);
	assert_true(ro >= 0);
	assert_int_equal(nss_sectx_map_sealed(ro, &m), 0);
	assert_true(m.owner_off != 0); /* the lock word is published */
	assert_int_equal(sectx_nss_cache_state(&m), SECTX_NSS_CACHE_CURRENT);

	server_set(f, NULL, ro, 0);
	server_start(f);
	assert_int_equal(memfd_maps(), 1); /* m */
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
	assert_string_equal(g, "gen 1");
	assert_int_equal(memfd_maps(), 2); /* and the reader's */

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(sectx_nss_cache_state(&m), SECTX_NSS_CACHE_RETIRED);
	/* no helper for a while: still answered */
	server_stop(f);
	for (i = 0; i < 30; i++) {
		assert_int_equal(lookup(i % 2 ? "alice" : "bob", &g), SECTX_NSS_CACHE_HIT);
		assert_string_equal(g, "gen 1");
		usleep(5000);
	}
	/* the next helper */
	server_set(f, sealed(f, 2, true, NULL), -1, 0);
	server_start(f);
	assert_true(eventually_gecos("bob", "gen 2"));
	munmap((void *)(uintptr_t)m.base, m.size);
	close(ro);
}

static int open_fds(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++) {
		if (fcntl(fd, F_GETFD) >= 0) {
			n++;
		}
	}
	return n;
}

/* The descriptor-taking receive: one descriptor or none per frame; two,
 * an oversized frame, a frame cut short, or a frame of another op are
 * refused with nothing left open and nothing mapped. */
static void test_recv_fd_refusals(void **state)
{
	struct fixture *f = *state;
	struct sectx_conn c = SECTX_CONN_INIT;
	uint8_t frame[64], big[SECTX_HDR_LEN + SECTX_FIELD_HDR_LEN + 200];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} control;
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	struct sectx_wbuf w;
	size_t len = 0, got = 0;
	int sv[2], fds[2], fd = 7, before;
	struct nss_cache_pub *pub = sealed(f, 1, true, NULL);

	/* a frame with two descriptors */
	sectx_frame_begin(&w, frame, sizeof(frame), SECTX_PROTO_VERSION,
			  SECTX_OP_NSS_CACHE_FD | SECTX_OP_REPLY, 0);
	sectx_put_u32(&w, SECTX_TAG_STATUS, SECTX_OK);
	assert_int_equal(sectx_frame_end(&w, &len), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	before = open_fds();
	iov.iov_base = frame;
	iov.iov_len = len;
	memset(&control, 0, sizeof(control));
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	assert_int_equal(sendmsg(sv[1], &mh, 0), (ssize_t)len);
	c.fd = sv[0];
	assert_int_equal(
	    sectx_client_recv_fd(&c, big, sizeof(big), &got, &fd, sectx_deadline_after(1000)),
	    -EPROTO);
	assert_int_equal(fd, -1);
	assert_int_equal(open_fds(), before);

	/* a frame larger than the buffer, with a descriptor */
	assert_int_equal(nss_cache_pub_send(sv[1], pub, 0), 0);
	assert_int_equal(sectx_client_recv_fd(&c, frame, SECTX_HDR_LEN + 4, &got, &fd,
					      sectx_deadline_after(1000)),
			 -EMSGSIZE);
	assert_int_equal(fd, -1);
	assert_int_equal(open_fds(), before);
	close(sv[0]);
	close(sv[1]);

	/* cut short: the header and half the rest, then the end */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	before = open_fds();
	iov.iov_len = len - 3;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	mh.msg_controllen = CMSG_SPACE(sizeof(int));
	assert_int_equal(sendmsg(sv[1], &mh, 0), (ssize_t)len - 3);
	close(sv[1]);
	c.fd = sv[0];
	assert_int_equal(
	    sectx_client_recv_fd(&c, big, sizeof(big), &got, &fd, sectx_deadline_after(1000)),
	    -ECONNRESET);
	assert_int_equal(fd, -1);
	assert_int_equal(open_fds(), before - 1);
	close(sv[0]);
	close(fds[0]);
	close(fds[1]);

	/* a sealed memfd, but in a frame of another op: not mapped */
	{
		struct sectx_nss_cache_map m;
		int rw = -1, ro, maps;

		talloc_free(sealed(f, 2, true, &rw));
		maps = memfd_maps();
		ro = reopen_ro(rw);
		assert_int_equal(nss_sectx_map_sealed(ro, &m), 0); /* it would do */
		munmap((void *)(uintptr_t)m.base, m.size);
		f->srv.op = SECTX_OP_NSS_GETPWNAM | SECTX_OP_REPLY;
		server_set(f, NULL, ro, 0);
		server_start(f);
		assert_int_equal(lookup("alice", NULL), SECTX_NSS_CACHE_MISS);
		assert_int_equal(memfd_maps(), maps);
		server_stop(f);
		close(ro);
		close(rw);
	}
}

/* A flush: the memfd REPLACED, the file flagged, the helper answering
 * E_BUSY: lookups are misses (they go to the helper), never answers from
 * the flushed cache; then the new one is found within milliseconds. */
static void test_flush_is_a_miss(void **state)
{
	struct fixture *f = *state;
	struct nss_cache_pub *p1 = sealed(f, 1, true, NULL);
	const char *g = NULL;
	int i;

	assert_int_equal(nss_cache_write(sample(f, 1, true), f->cache_dirfd, SECTX_NSS_CACHE_FILE,
					 1, time(NULL), NULL),
			 0);
	server_set(f, p1, -1, 0);
	server_start(f);
	assert_int_equal(lookup("alice", NULL), SECTX_NSS_CACHE_HIT);
	server_set(f, NULL, -1, SECTX_E_BUSY);
	assert_int_equal(nss_cache_mark_stale(f->cache_dirfd, SECTX_NSS_CACHE_FILE), 0);
	nss_cache_pub_flag(p1, SECTX_NSS_CACHE_REPLACED);
	for (i = 0; i < 20; i++) {
		assert_int_equal(lookup("alice", NULL), SECTX_NSS_CACHE_MISS);
		usleep(2000);
	}
	server_set(f, sealed(f, 2, true, NULL), -1, 0);
	assert_true(eventually_gecos("alice", "gen 2"));
	assert_int_equal(lookup("alice", &g), SECTX_NSS_CACHE_HIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_file_truncated_under_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memfd_cannot_be_truncated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_unsealed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replaced_and_retired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_killed_helper_recheck, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigkill_marks_owner_dead, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_is_a_miss, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recv_fd_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
