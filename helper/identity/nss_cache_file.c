/*
 * identity/nss_cache_file.c - the NSS cache as a file: a memfd for a new
 * cache, the file stored as a copy of it, its stale flag, and the helper's
 * own reading of it (contract in nss_cache_writer.h, format in
 * common/nss_cache.h).
 *
 * Who reaches this: sectxd's identity subsystem (and its publisher child),
 * in <socket_dir>/nss-cache, a directory only root can write.  The file is
 * what readers copy when sectxd is away, what sectxctl and the tests read,
 * and what the next sectxd starts from; readers never map it.  Must never:
 * write into, truncate or rename over the file without a complete, fsynced
 * replacement; leave the name without a current file while replacing it;
 * map the file (a truncation would be SIGBUS); follow a symlink; leave a
 * temp file behind.
 */
#include "identity/nss_cache_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_CHUNK (1u << 20) /* bytes copied per read into the file */

/* Set the stale flag of the open file fd if it is a cache file: the only
 * write ever made to a published file.  0, -EINVAL (not a cache file: left
 * alone), -errno. */
static int flag_stale(int fd)
{
	struct stat st;
	uint32_t magic = 0, one = SECTX_NSS_CACHE_REPLACED;

	if (fstat(fd, &st) != 0) {
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)SECTX_NSS_CACHE_HEADER_SIZE ||
	    pread(fd, &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    magic != SECTX_NSS_CACHE_MAGIC) {
		return -EINVAL;
	}
	if (pwrite(fd, &one, sizeof(one), offsetof(struct sectx_nss_cache_header, stale)) !=
	    (ssize_t)sizeof(one)) {
		return -EIO;
	}
	return 0;
}

static int temp_name(const char *name, char *out, size_t outsz)
{
	uint8_t r[6];
	int n;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		return -errno;
	}
	n = snprintf(out, outsz, ".%s.%02x%02x%02x%02x%02x%02x", name, r[0], r[1], r[2], r[3], r[4],
		     r[5]);
	return n > 0 && (size_t)n < outsz ? 0 : -ENAMETOOLONG;
}

static bool single_component(const char *name)
{
	return name != NULL && name[0] != '\0' && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && strlen(name) < 200;
}

int nss_cache_memfd_new(void)
{
	int fd = memfd_create("sectx-nss-cache", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	return fd >= 0 ? fd : -errno;
}

/* Write all of len bytes of p to fd.  0 or -errno. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return n < 0 ? -errno : -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copy size bytes of src into the new file fd with read and write (the
 * file is never mapped).  0 or -errno; -EIO if src is shorter. */
static int copy_into(int src, size_t size, int fd)
{
	size_t chunk = size < STORE_CHUNK ? size : STORE_CHUNK;
	uint8_t *buf = malloc(chunk > 0 ? chunk : 1);
	off_t off = 0;
	int ret = 0;

	if (buf == NULL) {
		return -ENOMEM;
	}
	while ((size_t)off < size) {
		size_t want = size - (size_t)off < chunk ? size - (size_t)off : chunk;
		ssize_t n = pread(src, buf, want, off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		ret = write_all(fd, buf, (size_t)n);
		if (ret != 0) {
			break;
		}
		off += n;
	}
	free(buf);
	return ret;
}

int nss_cache_store(int src, size_t size, int dirfd, const char *name)
{
	char tmp[256];
	int fd = -1, oldfd = -1;
	bool renamed = false;
	int ret;

	if (src < 0 || dirfd < 0 || !single_component(name) || size < SECTX_NSS_CACHE_HEADER_SIZE ||
	    size > SECTX_NSS_CACHE_MAX_SIZE) {
		return -EINVAL;
	}
	ret = temp_name(name, tmp, sizeof(tmp));
	if (ret != 0) {
		return ret;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		return -errno;
	}
	if (fchmod(fd, 0644) != 0) {
		ret = -errno;
		goto done;
	}
	ret = posix_fallocate(fd, 0, (off_t)size);
	if (ret != 0) {
		ret = -ret;
		goto done;
	}
	ret = copy_into(src, size, fd);
	if (ret != 0) {
		goto done;
	}
	if (fsync(fd) != 0) {
		ret = -errno;
		goto done;
	}
	/* Rename first, then flag the file replaced: whoever opens the name
	 * finds a current file at every moment (a reader copying it when the
	 * helper is away, the next helper), so nothing is ever answered from
	 * "no cache" in between.  The flag is for those still holding the old
	 * file: readers of an older module that mapped it, and copies taken
	 * while it was being replaced (they look at the name again). */
	oldfd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		ret = -errno;
		goto done;
	}
	renamed = true;
	if (oldfd >= 0) {
		(void)flag_stale(oldfd); /* not a cache file, or gone: nothing to tell */
	}
	if (fsync(dirfd) != 0) {
		ret = -errno;
		goto done;
	}
	ret = 0;
done:
	if (fd >= 0) {
		close(fd);
	}
	if (!renamed) {
		unlinkat(dirfd, tmp, 0);
	}
	if (oldfd >= 0) {
		close(oldfd);
	}
	return ret;
}

int nss_cache_write(struct nss_cache_builder *b, int dirfd, const char *name, uint64_t generation,
		    int64_t now, size_t *size_out)
{
	size_t size = 0;
	int fd, ret;

	if (dirfd < 0 || !single_component(name)) {
		return -EINVAL;
	}
	fd = nss_cache_memfd_new();
	if (fd < 0) {
		return fd;
	}
	ret = nss_cache_build_fd(b, fd, generation, now, &size);
	if (ret == 0) {
		ret = nss_cache_store(fd, size, dirfd, name);
	}
	close(fd);
	if (ret == 0 && size_out != NULL) {
		*size_out = size;
	}
	return ret;
}

int nss_cache_mark_stale(int dirfd, const char *name)
{
	int fd, ret;

	if (!single_component(name)) {
		return -EINVAL;
	}
	fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		return -errno;
	}
	ret = flag_stale(fd);
	close(fd);
	return ret;
}

int nss_cache_map_file(int dirfd, const char *name, struct sectx_nss_cache_map *m)
{
	struct stat st;
	uint8_t *p = MAP_FAILED;
	size_t size = 0, off = 0;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	if (!single_component(name)) {
		return -EINVAL;
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		goto done;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)SECTX_NSS_CACHE_HEADER_SIZE ||
	    (uint64_t)st.st_size > SECTX_NSS_CACHE_MAX_SIZE) {
		ret = -EINVAL;
		goto done;
	}
	/* A private copy, read: a mapping of the file would be SIGBUS for
	 * sectxd if someone truncated it meanwhile. */
	size = (size_t)st.st_size;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto done;
	}
	while (off < size) {
		ssize_t n = pread(fd, p + off, size - off, (off_t)off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			ret = n < 0 ? -errno : -EINVAL; /* shorter than it said: truncated */
			goto done;
		}
		off += (size_t)n;
	}
	ret = mprotect(p, size, PROT_READ) == 0 ? sectx_nss_cache_attach(p, size, m) : -errno;
done:
	if (ret != 0 && p != MAP_FAILED) {
		munmap(p, size);
	}
	close(fd);
	return ret;
}

void nss_cache_unmap(struct sectx_nss_cache_map *m)
{
	if (m->base != NULL) {
		munmap((void *)(uintptr_t)m->base, m->size);
	}
	memset(m, 0, sizeof(*m));
}
