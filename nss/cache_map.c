/*
 * cache_map.c - libnss_sectx's one mapping of the NSS cache file.
 *
 * The file <socket dir>/nss-cache/cache is mapped once (open, fstat, mmap,
 * close) and then read without any system call until sectxd flags it stale;
 * then it is mapped again.  The mapping is the module's only shared state
 * besides its connection, guarded by a reader count and a writer flag that
 * are only ever *tried* (two atomics on the hit path, no call into libc): a
 * lookup that finds a remap in progress asks the helper instead of waiting,
 * and a remap that finds readers still inside gives up after a short spin.
 *
 * Trust: the file must be a regular file owned by the helper's uid
 * (SECTX_EXPECTED_SERVER_UID, root) and writable by nobody else, or it is not
 * mapped; its contents are still checked at every use (common/nss_cache.c).
 * Must never: unmap a mapping another thread may be reading, block, or map a
 * file a user could have written.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SECTX_EXPECTED_SERVER_UID
#define SECTX_EXPECTED_SERVER_UID 0
#endif

/* The guard of map (Dekker-style, all sequentially consistent): a reader
 * counts itself in, then checks that no writer is there; a writer raises its
 * flag, then waits for the count to drop to zero.  One of the two always
 * sees the other. */
static unsigned map_readers;
static int map_writer;
static struct sectx_nss_cache_map map; /* base NULL: none; guarded as above */
static int64_t map_next_try;	       /* monotonic ms; written by the writer only */
static pthread_once_t map_once = PTHREAD_ONCE_INIT;

#define WRITER_SPIN 100000 /* polls of the reader count before a remap gives up */

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
 * threads of the parent would never drop.  The mapping itself is inherited
 * and stays valid. */
static void map_atfork_child(void)
{
	__atomic_store_n(&map_readers, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&map_writer, 0, __ATOMIC_SEQ_CST);
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

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open and map the cache file into *m.  0 or -errno. */
static int map_file(struct sectx_nss_cache_map *m)
{
	char path[PATH_MAX];
	struct stat st;
	void *p;
	int fd, n, ret;

	n = snprintf(path, sizeof(path), "%s/%s/%s", sectx_socket_dir(), SECTX_NSS_CACHE_DIR,
		     SECTX_NSS_CACHE_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != (uid_t)SECTX_EXPECTED_SERVER_UID ||
	    (st.st_mode & 022) != 0 || st.st_size < (off_t)SECTX_NSS_CACHE_HEADER_SIZE ||
	    (uint64_t)st.st_size > SECTX_NSS_CACHE_MAX_SIZE) {
		close(fd);
		return -EPERM;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		return -errno;
	}
	ret = sectx_nss_cache_attach(p, (size_t)st.st_size, m);
	if (ret != 0) {
		munmap(p, (size_t)st.st_size);
	}
	return ret;
}

/* Replace the mapping if it is missing or stale.  Returns 1 if a current
 * mapping may now be there, 0 if the caller should ask the helper. */
static int remap(void)
{
	struct sectx_nss_cache_map fresh = {0};
	int64_t now = mono_ms();
	int ret = 0;

	if (!writer_enter()) {
		return 0;
	}
	if (map.base != NULL && !sectx_nss_cache_is_stale(&map)) {
		ret = 1; /* another thread was quicker */
		goto done;
	}
	if (map.base == NULL && now < map_next_try) {
		goto done;
	}
	if (map_file(&fresh) != 0 || sectx_nss_cache_is_stale(&fresh)) {
		/* Missing, foreign or corrupt: leave the file alone for a while.
		 * Flagged stale with no successor yet (its successor is being
		 * renamed into place, or a flush is publishing): look again soon.
		 * Meanwhile lookups ask the helper. */
		bool stale = fresh.base != NULL;

		if (fresh.base != NULL) {
			munmap((void *)(uintptr_t)fresh.base, fresh.size);
		}
		if (map.base != NULL) {
			munmap((void *)(uintptr_t)map.base, map.size);
			memset(&map, 0, sizeof(map));
		}
		map_next_try = now + (stale ? NSS_SECTX_RETRY_STALE_MS : NSS_SECTX_RETRY_MAP_MS);
		goto done;
	}
	if (map.base != NULL) {
		/* We are the writer: no reader is inside the old mapping. */
		munmap((void *)(uintptr_t)map.base, map.size);
	}
	map = fresh;
	ret = 1;
done:
	writer_exit();
	return ret;
}

SECTX_HOT enum sectx_nss_cache_result nss_sectx_cache_run(nss_sectx_cache_fn fn, void *arg)
{
	enum sectx_nss_cache_result res = SECTX_NSS_CACHE_MISS;
	int tries;

	pthread_once(&map_once, map_init_once);
	for (tries = 0; tries < NSS_SECTX_REMAP_TRIES; tries++) {
		if (!reader_enter()) {
			return SECTX_NSS_CACHE_MISS;
		}
		if (map.base != NULL && !sectx_nss_cache_is_stale(&map)) {
			res = fn(&map, nss_sectx_now(), arg);
			reader_exit();
			return res;
		}
		reader_exit();
		if (!remap()) {
			return SECTX_NSS_CACHE_MISS;
		}
	}
	return SECTX_NSS_CACHE_MISS;
}
