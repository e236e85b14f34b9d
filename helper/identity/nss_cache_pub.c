/*
 * identity/nss_cache_pub.c - seal a built NSS cache memfd and hand it to
 * readers (contract in nss_cache_writer.h, format in common/nss_cache.h).
 *
 * Why a memfd: libnss_sectx maps the cache into every process that resolves
 * a user.  A mapped file can be truncated in place by root (a stray
 * "> cache", cp over it, a cleaner), and every later access past the new
 * end is SIGBUS in that process; no flag or check in the reader prevents
 * it.  A memfd sealed with F_SEAL_SHRINK can never get shorter, whoever
 * holds it, root included, so its mappings stay valid for as long as they
 * exist.  F_SEAL_GROW and F_SEAL_FUTURE_WRITE make its content final too,
 * except through the one writable mapping sectxd made before sealing (the
 * header page: the stale word), and F_SEAL_SEAL keeps anyone from changing
 * the seals.  Readers get a read-only descriptor of a mode 0444 inode, so
 * even on a kernel whose FUTURE_WRITE seal could be worked around they
 * could not open it for writing again.
 *
 * Why an owner lock: a stopping sectxd flags its memfd RETIRED, but a killed
 * one cannot, and its successor cannot write the memfd either.  So the
 * event loop thread locks a process-shared robust mutex placed in the
 * memfd's owner area, for as long as the memfd is current: when that thread
 * dies, the kernel itself marks the lock word FUTEX_OWNER_DIED, which
 * readers read as RETIRED (common/nss_cache.h).  The word is published
 * (owner_off) only after checking that it holds our thread id, so a libc
 * laying its mutex out otherwise just goes without.  It is unlocked, by
 * the thread that locked it, when the memfd is flagged (and before the
 * mapping goes: a locked robust mutex must stay mapped).
 *
 * Who reaches this: sectxd's identity subsystem (publish.c) on its event
 * loop, and, through nss_cache_pub_send, any local process that connects to
 * cache.sock: it gets the descriptor and nothing else, without sending a
 * byte.  Must never: hand out a memfd that is not sealed, block on a client,
 * or write to a published memfd anything but its stale word.
 */
#include "identity/nss_cache_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

_Static_assert(sizeof(pthread_mutex_t) <= SECTX_NSS_CACHE_OWNER_SIZE, "owner area size");

struct nss_cache_pub {
	int ro_fd;
	uint8_t *hdr; /* the header page, writable */
	size_t hdr_len;
	uint64_t generation;
	size_t size;
	pid_t owner;	       /* only the process that sealed it flags it (not a forked child) */
	pthread_mutex_t *lock; /* the owner lock in the header page, or NULL */
	pid_t lock_tid;	       /* the thread that holds it */
};

static pid_t this_thread(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Lock the owner area as a robust process-shared mutex and publish its
 * word, if it behaves as the kernel's robust futex ABI says (the word holds
 * our thread id).  Without it readers still work: they learn of a killed
 * helper from misses (nss/cache_map.c). */
static void owner_lock(struct nss_cache_pub *p)
{
	uint32_t area, word;
	pthread_mutexattr_t attr;
	pthread_mutex_t *m;

	memcpy(&area, p->hdr + offsetof(struct sectx_nss_cache_header, owner_area), sizeof(area));
	if (area < SECTX_NSS_CACHE_HEADER_SIZE || (area & 7) != 0 ||
	    (size_t)area + SECTX_NSS_CACHE_OWNER_SIZE > p->hdr_len) {
		return;
	}
	m = (pthread_mutex_t *)(void *)(p->hdr + area);
	if (pthread_mutexattr_init(&attr) != 0) {
		return;
	}
	if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(m, &attr) != 0) {
		pthread_mutexattr_destroy(&attr);
		return;
	}
	pthread_mutexattr_destroy(&attr);
	if (pthread_mutex_trylock(m) != 0) {
		pthread_mutex_destroy(m);
		return;
	}
	word = __atomic_load_n((uint32_t *)(void *)m, __ATOMIC_RELAXED);
	if ((word & SECTX_NSS_OWNER_TID_MASK) != (uint32_t)this_thread()) {
		pthread_mutex_unlock(m);
		pthread_mutex_destroy(m);
		return;
	}
	p->lock = m;
	p->lock_tid = this_thread();
	__atomic_store_n(
	    (uint32_t *)(void *)(p->hdr + offsetof(struct sectx_nss_cache_header, owner_off)), area,
	    __ATOMIC_RELEASE);
}

/* Release the owner lock (after the stale word is set).  False if this
 * thread cannot: then the mapping must stay (a locked robust mutex is on
 * its owner thread's list). */
static bool owner_unlock(struct nss_cache_pub *p)
{
	if (p->lock == NULL) {
		return true;
	}
	if (p->owner != getpid()) {
		return true; /* a forked child: the lock is not ours, nor on our list */
	}
	if (p->lock_tid != this_thread()) {
		return false;
	}
	pthread_mutex_unlock(p->lock);
	p->lock = NULL;
	return true;
}

static int pub_destructor(struct nss_cache_pub *p)
{
	if (p->hdr != NULL && owner_unlock(p)) {
		munmap(p->hdr, p->hdr_len);
	}
	if (p->ro_fd >= 0) {
		close(p->ro_fd);
	}
	return 0;
}

/* Check that memfd holds a valid cache of size bytes: 0 and *generation, or
 * -errno. */
static int check_cache(int memfd, size_t size, uint64_t *generation)
{
	struct sectx_nss_cache_map m;
	void *p;
	int ret;

	p = mmap(NULL, size, PROT_READ, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED) {
		return -errno;
	}
	ret = sectx_nss_cache_attach(p, size, &m);
	if (ret == 0 && sectx_nss_cache_state(&m) != SECTX_NSS_CACHE_CURRENT) {
		ret = -EINVAL;
	}
	*generation = m.generation;
	munmap(p, size);
	return ret;
}

int nss_cache_pub_seal(TALLOC_CTX *mem_ctx, int memfd, struct nss_cache_pub **out)
{
	struct nss_cache_pub *p;
	struct stat st, rst;
	char path[64];
	long page = sysconf(_SC_PAGESIZE);
	int seals, ret;

	p = talloc_zero(mem_ctx, struct nss_cache_pub);
	if (p == NULL) {
		return -ENOMEM;
	}
	p->ro_fd = -1;
	p->owner = getpid();
	talloc_set_destructor(p, pub_destructor);
	if (fstat(memfd, &st) != 0) {
		ret = -errno;
		goto done;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)SECTX_NSS_CACHE_HEADER_SIZE ||
	    (uint64_t)st.st_size > SECTX_NSS_CACHE_MAX_SIZE) {
		ret = -EINVAL;
		goto done;
	}
	p->size = (size_t)st.st_size;
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0 || seals != 0) {
		ret = seals < 0 ? -errno : -EINVAL; /* not a fresh memfd of ours */
		goto done;
	}
	ret = check_cache(memfd, p->size, &p->generation);
	if (ret != 0) {
		goto done;
	}
	/* The writable mapping first: after F_SEAL_FUTURE_WRITE no new one can
	 * be made, but this one keeps working. */
	p->hdr_len = page > 0 && (size_t)page < p->size ? (size_t)page : p->size;
	p->hdr = mmap(NULL, p->hdr_len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p->hdr == MAP_FAILED) {
		p->hdr = NULL;
		ret = -errno;
		goto done;
	}
	owner_lock(p);
	if (fcntl(memfd, F_ADD_SEALS, (int)SECTX_NSS_CACHE_SEALS | F_SEAL_FUTURE_WRITE) != 0 ||
	    fchmod(memfd, 0444) != 0) {
		ret = -errno;
		goto done;
	}
	/* A new open file description, read-only: a dup would share our
	 * read-write one. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	p->ro_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->ro_fd < 0) {
		ret = -errno;
		goto done;
	}
	if (fstat(p->ro_fd, &rst) != 0 || rst.st_ino != st.st_ino || rst.st_dev != st.st_dev) {
		ret = -EIO;
		goto done;
	}
	*out = p;
	p = NULL;
	ret = 0;
done:
	talloc_free(p);
	return ret;
}

void nss_cache_pub_flag(struct nss_cache_pub *p, uint32_t state)
{
	if (p == NULL || p->hdr == NULL || p->owner != getpid()) {
		return;
	}
	__atomic_store_n(
	    (uint32_t *)(void *)(p->hdr + offsetof(struct sectx_nss_cache_header, stale)), state,
	    __ATOMIC_RELEASE);
	(void)owner_unlock(p); /* flagged for good: the word is no longer needed */
}

uint64_t nss_cache_pub_generation(const struct nss_cache_pub *p)
{
	return p->generation;
}

size_t nss_cache_pub_size(const struct nss_cache_pub *p)
{
	return p->size;
}

int nss_cache_pub_send(int sock, const struct nss_cache_pub *p, uint32_t status)
{
	uint8_t frame[SECTX_HDR_LEN + 2 * SECTX_FIELD_HDR_LEN + 16];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct sectx_wbuf w;
	size_t len = 0;
	ssize_t n;

	sectx_frame_begin(&w, frame, sizeof(frame), SECTX_PROTO_VERSION,
			  SECTX_OP_NSS_CACHE_FD | SECTX_OP_REPLY, 0);
	sectx_put_u32(&w, SECTX_TAG_STATUS, p != NULL ? (uint32_t)SECTX_OK : status);
	if (p != NULL) {
		sectx_put_u64(&w, SECTX_TAG_GENERATION, p->generation);
	}
	if (sectx_frame_end(&w, &len) != 0) {
		return -EINVAL;
	}
	iov.iov_base = frame;
	iov.iov_len = len;
	if (p != NULL) {
		struct cmsghdr *cm;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &p->ro_fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	return (size_t)n == len ? 0 : -EAGAIN;
}
