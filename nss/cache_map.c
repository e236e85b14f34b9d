/*
 * cache_map.c - libnss_sectx's one view of the NSS cache.
 *
 * What it maps, and why.  The module is loaded into every process that
 * resolves a user and answers hits from a read-only mapping of the cache
 * without a system call.  Mapping the cache *file* was not safe: when a file
 * is truncated in place (root only, but a stray "> cache", a cp over it or
 * a cleaning job will do), the kernel zaps the pages past the new end from
 * every mapping (truncate_pagecache, copy-on-write pages of private
 * mappings included), and the next access there is SIGBUS in whatever
 * process was resolving a user.  None of the cheaper guards hold: checking
 * fstat before each access is a system call on the hit path and still
 * races; MAP_POPULATE or mlock only pre-fault pages that a truncation zaps
 * all the same; a private copy of the whole file costs its size in every
 * process; and a SIGBUS handler is not something a library loaded into
 * every process (with its own handlers, threads and signal masks) may
 * install.  What does hold is a file that cannot shrink: sectxd lays each
 * generation out in a memfd and seals it (F_SEAL_SHRINK | F_SEAL_GROW |
 * F_SEAL_FUTURE_WRITE | F_SEAL_SEAL: no one, root included, can make it
 * shorter, longer or different, except sectxd through the header page it
 * mapped writable before sealing, to set the stale word), and hands a
 * read-only descriptor of it to whoever connects to
 * <socket dir>/nss-cache/cache.sock (SCM_RIGHTS; a socket of its own rather
 * than an op on nss.sock: it answers every connection with one frame and
 * closes it, so it keeps no state per client and no client can hold a slot
 * of nss.sock's).  Before mapping, this file checks that the descriptor
 * came from a root peer (common/client.c), is read-only, is a regular file
 * owned by root with no write bit, carries the seals, and has a size the
 * format allows; then it maps exactly that size, which can no longer
 * change, and closes the descriptor.  Hits stay free of system calls; the
 * mapping is shared by every process like the file's was.
 *
 * When sectxd cannot be reached (stopped, restarting, its loop not turning
 * yet), a process that has no usable view copies the file (at most
 * NSS_SECTX_COPY_MAX bytes) into a memfd of its own, which it seals before
 * mapping it (sendfile: the kernel copies, and lookups fault in only the
 * pages they touch; read() into anonymous memory where memfds are not
 * allowed), and answers from the copy, which no truncation can touch; it
 * keeps looking for the helper's memfd every NSS_SECTX_RETRY_MAP_MS.  The
 * file is also what sectxctl and the tests read.
 *
 * Restarts.  Only the helper that made a memfd can write its stale word.
 * A stopping helper flags it RETIRED; a killed one cannot, but it held a
 * robust mutex in the memfd, whose lock word the kernel marks
 * FUTEX_OWNER_DIED when it dies, which reads as RETIRED too
 * (common/nss_cache.h).  A RETIRED memfd still answers (its records carry
 * their expiry, and tables are complete only until complete_until) while
 * the reader looks for its successor every NSS_SECTX_RETRY_MAP_MS (a
 * connect refused at worst).  As a last resort, should the owner word be
 * missing, a miss on a memfd not checked for NSS_SECTX_RECHECK_MS asks
 * cache.sock whether another is current (the miss goes to the helper
 * anyway).  A new helper never flags what its predecessor published, and it
 * replaces the file by rename, so between two helpers every reader still
 * has a cache: the old memfd, or a copy of whichever file is at the name.
 * Nothing is answered NOTFOUND that the cache does not say; with no cache
 * and no helper the answer is UNAVAIL.
 *
 * Concurrency: the view is the module's only shared state besides its
 * connection, guarded by a reader count and a writer flag that are only
 * ever *tried* (two atomics on the hit path, no call into libc): a lookup
 * that finds a swap in progress asks the helper instead of waiting, and a
 * swap that finds readers still inside gives up after a short spin.  One
 * thread at a time looks for a new view (a flag, also only tried), outside
 * the writer section, so other threads keep answering from the old view.
 *
 * Trust: see above; the contents are still checked at every use
 * (common/nss_cache.c).  Must never: map a file or a descriptor that could
 * shrink, map a descriptor that is not the root helper's sealed memfd,
 * unmap a view another thread may be reading, block past a short deadline,
 * or keep a descriptor open.
 */
#include "nss_sectx.h"

#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SECTX_EXPECTED_SERVER_UID
#define SECTX_EXPECTED_SERVER_UID 0
#endif

enum view_kind {
	VIEW_NONE = 0,
	VIEW_SHARED = 1, /* the helper's sealed memfd */
	VIEW_COPY = 2,	 /* a private copy of the file */
};

struct view {
	struct sectx_nss_cache_map m; /* m.base NULL: none */
	int kind;
	size_t len; /* bytes mapped at m.base */
	dev_t dev;  /* the memfd's identity (VIEW_SHARED) */
	ino_t ino;
};

/* What a view is good for. */
enum use {
	USE_NONE,     /* nothing, or REPLACED: look for another */
	USE_CURRENT,  /* a current memfd */
	USE_FALLBACK, /* a copy, or a RETIRED memfd: answers, but look for the memfd */
};

enum refresh {
	REFRESH_NONE, /* no usable view: ask the helper */
	REFRESH_SAME, /* the view is as good as it gets for now */
	REFRESH_NEW,  /* another view is in place */
};

/* The guard of view (Dekker-style, all sequentially consistent): a reader
 * counts itself in, then checks that no writer is there; a writer raises its
 * flag, then waits for the count to drop to zero.  One of the two always
 * sees the other. */
static unsigned map_readers;
static int map_writer;
static int map_refreshing;  /* one thread looks for a new view (tried, never waited for) */
static struct view view;    /* guarded as above; written by the refreshing thread only */
static int64_t next_try_ms; /* monotonic: no attempt at cache.sock before (atomic) */
static int64_t recheck_ms;  /* monotonic: a miss after this rechecks the memfd (atomic) */
static pthread_once_t map_once = PTHREAD_ONCE_INIT;

#define WRITER_SPIN 100000 /* polls of the reader count before a swap gives up */

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

SECTX_HOT static bool reader_enter(void)
{
	if (__atomic_load_n(&map_writer, __ATOMIC_SEQ_CST) != 0) {
		return false;
	}
	__atomic_add_fetch(&map_readers, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&map_writer, __ATOMIC_SEQ_CST) != 0) {
		__atomic_sub_fetch(&map_readers, 1, __ATOMIC_SEQ_CST);
		return false;
	}
	return true;
}

SECTX_HOT static void reader_exit(void)
{
	__atomic_sub_fetch(&map_readers, 1, __ATOMIC_SEQ_CST);
}

/* Become the only one inside, or give up at once (another writer) or after
 * a bounded wait (a reader preempted inside). */
static bool writer_enter(void)
{
	int zero = 0;
	unsigned i;

	if (!__atomic_compare_exchange_n(&map_writer, &zero, 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST)) {
		return false;
	}
	for (i = 0; i < WRITER_SPIN; i++) {
		if (__atomic_load_n(&map_readers, __ATOMIC_SEQ_CST) == 0) {
			return true;
		}
		__builtin_ia32_pause();
	}
	__atomic_store_n(&map_writer, 0, __ATOMIC_SEQ_CST);
	return false;
}

static void writer_exit(void)
{
	__atomic_store_n(&map_writer, 0, __ATOMIC_SEQ_CST);
}

/* A child of fork() has only the forking thread: counts held by other
 * threads of the parent would never drop.  The view itself is inherited
 * and stays valid (a shared mapping of a sealed memfd, or a private copy). */
static void map_atfork_child(void)
{
	__atomic_store_n(&map_readers, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&map_writer, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&map_refreshing, 0, __ATOMIC_SEQ_CST);
}

static void map_init_once(void)
{
	(void)pthread_atfork(NULL, NULL, map_atfork_child);
}

SECTX_HOT int64_t nss_sectx_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec;
}

/* CLOCK_MONOTONIC_COARSE: vDSO, no system call. */
SECTX_HOT static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

SECTX_HOT static enum use view_use(const struct view *v)
{
	uint32_t st;

	if (v->m.base == NULL) {
		return USE_NONE;
	}
	if (v->kind == VIEW_COPY) {
		return USE_FALLBACK; /* private: its flag was CURRENT when copied and stays so */
	}
	st = sectx_nss_cache_state(&v->m);
	return st == SECTX_NSS_CACHE_CURRENT   ? USE_CURRENT
	       : st == SECTX_NSS_CACHE_RETIRED ? USE_FALLBACK
					       : USE_NONE;
}

static void view_release(struct view *v)
{
	if (v->m.base != NULL) {
		munmap((void *)(uintptr_t)v->m.base, v->len);
	}
	memset(v, 0, sizeof(*v));
}

/* --- the helper's sealed memfd ---------------------------------------------------------------- */

/* Map the descriptor fd into *v if it is what sectxd hands out: read-only,
 * a regular file of the helper's uid that nobody may write, sealed so that
 * it can never shrink, grow or be written through a new descriptor or
 * mapping, and of a size the format allows.  0 or -errno (-EPERM: not
 * such a descriptor, -EINVAL: not a valid cache). */
static int map_sealed(int fd, struct view *v)
{
	struct stat st;
	void *p;
	int fl, seals, ret;

	memset(v, 0, sizeof(*v));
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY) {
		return -EPERM;
	}
	seals = fcntl(fd, F_GET_SEALS); /* EINVAL for anything but a memfd */
	if (seals < 0 || ((unsigned)seals & SECTX_NSS_CACHE_SEALS) != SECTX_NSS_CACHE_SEALS ||
	    ((unsigned)seals & SECTX_NSS_CACHE_WRITE_SEALS) == 0) {
		return -EPERM;
	}
	/* Sealed (F_SEAL_SEAL included): nothing below can change any more. */
	if (fstat(fd, &st) != 0) {
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != (uid_t)SECTX_EXPECTED_SERVER_UID ||
	    (st.st_mode & 0222) != 0 || st.st_size < (off_t)SECTX_NSS_CACHE_HEADER_SIZE ||
	    (uint64_t)st.st_size > SECTX_NSS_CACHE_MAX_SIZE) {
		return -EPERM;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		return -errno;
	}
	ret = sectx_nss_cache_attach(p, (size_t)st.st_size, &v->m);
	if (ret != 0) {
		munmap(p, (size_t)st.st_size);
		memset(v, 0, sizeof(*v));
		return ret;
	}
	v->kind = VIEW_SHARED;
	v->len = (size_t)st.st_size;
	v->dev = st.st_dev;
	v->ino = st.st_ino;
	return 0;
}

int nss_sectx_map_sealed(int fd, struct sectx_nss_cache_map *m)
{
	struct view v;
	int ret = map_sealed(fd, &v);

	*m = v.m;
	return ret;
}

/* Ask cache.sock for the current memfd and map it into *v.  0, or -errno
 * with *busy set if the helper said it is republishing (look again soon). */
static int fetch_shared(struct view *v, int *busy)
{
	char dir[PATH_MAX];
	uint8_t frame[256];
	struct sectx_conn c = SECTX_CONN_INIT;
	struct sectx_msg msg;
	int64_t deadline = sectx_deadline_after(NSS_SECTX_FETCH_MS);
	uint32_t status = SECTX_E_INTERNAL;
	size_t len = 0;
	int fd = -1, n, ret;

	memset(v, 0, sizeof(*v));
	n = snprintf(dir, sizeof(dir), "%s/%s", sectx_socket_dir(), SECTX_NSS_CACHE_DIR);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		return -ENAMETOOLONG;
	}
	ret = sectx_client_connect(dir, SECTX_NSS_CACHE_SOCKET, deadline, &c);
	if (ret != 0) {
		return ret;
	}
	ret = sectx_client_recv_fd(&c, frame, sizeof(frame), &len, &fd, deadline);
	sectx_client_close(&c);
	if (ret != 0) {
		return ret < 0 ? ret : -EPROTO;
	}
	if (sectx_msg_parse(frame, len, &msg) != 0 ||
	    msg.hdr.op != (SECTX_OP_NSS_CACHE_FD | SECTX_OP_REPLY) ||
	    sectx_msg_get_u32(&msg, SECTX_TAG_STATUS, &status) != 0) {
		ret = -EPROTO;
	} else if (status != SECTX_OK) {
		*busy = status == SECTX_E_BUSY;
		ret = -EAGAIN;
	} else if (fd < 0) {
		ret = -EPROTO;
	} else {
		ret = map_sealed(fd, v);
	}
	if (ret == 0 && sectx_nss_cache_state(&v->m) == SECTX_NSS_CACHE_REPLACED) {
		view_release(v); /* replaced while on its way to us */
		*busy = 1;
		ret = -ESTALE;
	}
	if (fd >= 0) {
		close(fd);
	}
	return ret;
}

/* --- the file, copied ------------------------------------------------------------------------- */

/* size bytes of fd into a memfd of our own, sealed so that nobody can
 * shrink it, mapped read-only: the kernel copies (sendfile) and only the
 * pages a lookup touches are ever faulted in.  The mapping, or NULL
 * (errno set; EIO: the file was shorter, i.e. truncated meanwhile). */
static uint8_t *copy_to_memfd(int fd, size_t size)
{
	off_t off = 0;
	void *p = NULL;
	int m = memfd_create("sectx-nss-filecopy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int err = 0;

	if (m < 0) {
		return NULL;
	}
	while ((size_t)off < size && err == 0) {
		ssize_t n = sendfile(m, fd, &off, size - (size_t)off);

		if (n == 0) {
			err = EIO;
		} else if (n < 0 && errno != EINTR) {
			err = errno;
		}
	}
	if (err == 0 &&
	    fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
		err = errno;
	}
	if (err == 0) {
		p = mmap(NULL, size, PROT_READ, MAP_SHARED, m, 0);
		err = p == MAP_FAILED ? errno : 0;
	}
	close(m);
	errno = err;
	return err == 0 ? p : NULL;
}

/* The same with read() into anonymous memory, where memfds or sendfile are
 * not allowed (a seccomp filter): every page is touched up front. */
static uint8_t *copy_to_anon(int fd, size_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t off = 0;
	int err = 0;

	if (p == MAP_FAILED) {
		return NULL;
	}
	while (off < size && err == 0) {
		ssize_t got = pread(fd, p + off, size - off, (off_t)off);

		if (got > 0) {
			off += (size_t)got;
		} else if (got == 0) {
			err = EIO;
		} else if (errno != EINTR) {
			err = errno;
		}
	}
	if (err == 0 && mprotect(p, size, PROT_READ) != 0) {
		err = errno;
	}
	if (err != 0) {
		munmap(p, size);
		errno = err;
		return NULL;
	}
	return p;
}

/* Copy the cache file into memory of our own as *v (never a mapping of the
 * file: a truncation gives a short copy, refused, not SIGBUS).  0 or
 * -errno: -ESTALE if it is flagged (flushed, or replaced under us twice). */
static int copy_file(struct view *v)
{
	char path[PATH_MAX];
	int n, attempt;

	memset(v, 0, sizeof(*v));
	n = snprintf(path, sizeof(path), "%s/%s/%s", sectx_socket_dir(), SECTX_NSS_CACHE_DIR,
		     SECTX_NSS_CACHE_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		return -ENAMETOOLONG;
	}
	/* Flagged after it was replaced: its successor is at the name, once. */
	for (attempt = 0; attempt < 2; attempt++) {
		struct stat st;
		uint8_t *p;
		size_t size;
		int fd, ret;

		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
		if (fd < 0) {
			return -errno;
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_uid != (uid_t)SECTX_EXPECTED_SERVER_UID || (st.st_mode & 022) != 0 ||
		    st.st_size < (off_t)SECTX_NSS_CACHE_HEADER_SIZE ||
		    (uint64_t)st.st_size > NSS_SECTX_COPY_MAX) {
			close(fd);
			return -EPERM;
		}
		size = (size_t)st.st_size;
		p = copy_to_memfd(fd, size);
		if (p == NULL && errno != EIO) {
			p = copy_to_anon(fd, size);
		}
		ret = p != NULL ? 0 : -errno;
		close(fd);
		if (ret == 0) {
			ret = sectx_nss_cache_attach(p, size, &v->m);
			if (ret != 0) {
				munmap(p, size);
			}
		}
		if (ret != 0) {
			memset(v, 0, sizeof(*v));
			return ret;
		}
		v->kind = VIEW_COPY;
		v->len = size;
		if (sectx_nss_cache_state(&v->m) == SECTX_NSS_CACHE_CURRENT) {
			return 0;
		}
		view_release(v);
	}
	return -ESTALE;
}

/* --- swapping views --------------------------------------------------------------------------- */

/* Put fresh (possibly empty) in place of the view.  False if readers kept
 * us out (fresh released). */
static bool view_install(struct view *fresh)
{
	struct view old;

	if (!writer_enter()) {
		view_release(fresh);
		return false;
	}
	old = view;
	view = *fresh;
	writer_exit();
	/* No reader can be inside old: they all left before writer_enter
	 * returned, and those after it see fresh. */
	view_release(&old);
	return true;
}

static void set_ms(int64_t *at, int64_t value)
{
	__atomic_store_n(at, value, __ATOMIC_RELAXED);
}

SECTX_HOT static int64_t get_ms(const int64_t *at)
{
	return __atomic_load_n(at, __ATOMIC_RELAXED);
}

/* Look for a better view: the helper's current memfd, else (with nothing
 * usable) a copy of the file.  force: even before next_try_ms (a miss on a
 * current memfd, at most every NSS_SECTX_RECHECK_MS).  Never waits for
 * another thread doing the same. */
static enum refresh refresh(bool force)
{
	struct view fresh;
	int64_t now = mono_ms();
	int busy = 0, zero = 0, ret;
	enum refresh r;
	enum use use;

	if (!__atomic_compare_exchange_n(&map_refreshing, &zero, 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST)) {
		return REFRESH_NONE;
	}
	/* Only the refreshing thread writes view: reading it here needs no
	 * reader count. */
	use = view_use(&view);
	if (!force && now < get_ms(&next_try_ms)) {
		r = use != USE_NONE ? REFRESH_SAME : REFRESH_NONE;
		goto done;
	}
	set_ms(&recheck_ms, now + NSS_SECTX_RECHECK_MS);
	ret = fetch_shared(&fresh, &busy);
	if (ret == 0 && view.kind == VIEW_SHARED && fresh.dev == view.dev &&
	    fresh.ino == view.ino) {
		view_release(&fresh); /* the one we map: the helper has not changed */
		r = use != USE_NONE ? REFRESH_SAME : REFRESH_NONE;
		goto done;
	}
	if (ret != 0) {
		int64_t wait = busy ? NSS_SECTX_RETRY_STALE_MS : NSS_SECTX_RETRY_MAP_MS;

		set_ms(&next_try_ms, now + wait);
		if (use != USE_NONE) {
			r = REFRESH_SAME; /* keep answering from what we have */
			goto done;
		}
		ret = copy_file(&fresh);
		set_ms(&next_try_ms, mono_ms() + wait); /* from the end of a long copy */
		if (ret != 0) {
			if (view.m.base != NULL) {
				(void)view_install(&fresh); /* drop the replaced one */
			}
			r = REFRESH_NONE;
			goto done;
		}
	}
	r = view_install(&fresh) ? REFRESH_NEW : REFRESH_NONE;
done:
	__atomic_store_n(&map_refreshing, 0, __ATOMIC_SEQ_CST);
	return r;
}

void nss_sectx_cache_drop(void)
{
	struct view empty;

	memset(&empty, 0, sizeof(empty));
	(void)view_install(&empty);
	set_ms(&next_try_ms, 0);
	set_ms(&recheck_ms, 0);
}

SECTX_HOT enum sectx_nss_cache_result nss_sectx_cache_run(nss_sectx_cache_fn fn, void *arg)
{
	enum sectx_nss_cache_result res;
	enum use use;
	int tries;

	pthread_once(&map_once, map_init_once);
	for (tries = 0; tries < NSS_SECTX_REMAP_TRIES; tries++) {
		if (!reader_enter()) {
			return SECTX_NSS_CACHE_MISS;
		}
		use = view_use(&view);
		if (use == USE_NONE) {
			reader_exit();
			if (refresh(false) != REFRESH_NEW) {
				return SECTX_NSS_CACHE_MISS;
			}
			continue;
		}
		res = fn(&view.m, nss_sectx_now(), arg);
		reader_exit();
		if (use == USE_CURRENT) {
			/* the hit path: nothing more */
			if ((res != SECTX_NSS_CACHE_MISS && res != SECTX_NSS_CACHE_CORRUPT) ||
			    mono_ms() < get_ms(&recheck_ms)) {
				return res;
			}
		} else if (mono_ms() < get_ms(&next_try_ms)) {
			return res;
		}
		/* A miss on a memfd not checked for a while (its helper may have
		 * been killed and replaced), or a fallback due for a look at
		 * cache.sock: what we answered stands unless a new view could
		 * answer a miss. */
		if (refresh(use == USE_CURRENT) != REFRESH_NEW ||
		    (res != SECTX_NSS_CACHE_MISS && res != SECTX_NSS_CACHE_CORRUPT)) {
			return res;
		}
	}
	return SECTX_NSS_CACHE_MISS;
}
