/*
 * atomic_file.c - whole-file replace and bounded read relative to a verified
 * directory descriptor.
 *
 * The helper runs as root and writes into directories other programs read,
 * so this file must never follow a symlink at the last component, never
 * create a file without O_EXCL and an explicit mode, never leave a partly
 * written file under its real name, and never leave a temp file behind when
 * it fails.  It does not log; callers report the returned errno.
 */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_SUFFIX_LEN 6u		     /* random characters in ".name.XXXXXX" */
#define TMP_EXTRA      (2u + TMP_SUFFIX_LEN) /* the two dots and the suffix */
#define TMP_TRIES      16u		     /* fresh suffixes tried if one is taken */

/* A name we create or read in a directory: one component, not . or .., short
 * enough that ".name.XXXXXX" fits NAME_MAX. */
static bool name_ok(const char *name)
{
	size_t len;

	if (name == NULL) {
		return false;
	}
	len = strlen(name);
	return len > 0 && len + TMP_EXTRA <= NAME_MAX && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* ".name.XXXXXX" into buf (NAME_MAX + 1 bytes), suffix from getrandom. */
static int make_temp_name(const char *name, char *buf)
{
	static const char chars[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[TMP_SUFFIX_LEN];
	size_t len = strlen(name);
	size_t got = 0;
	size_t i;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		got += (size_t)n;
	}
	buf[0] = '.';
	memcpy(buf + 1, name, len);
	buf[1 + len] = '.';
	for (i = 0; i < TMP_SUFFIX_LEN; i++) {
		buf[2 + len + i] = chars[rnd[i] % (sizeof(chars) - 1)];
	}
	buf[2 + len + TMP_SUFFIX_LEN] = '\0';
	return 0;
}

int sectx_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *data = buf;

	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		if (n == 0) {
			return -EIO;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int sectx_atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			  uid_t uid, gid_t gid)
{
	char tmp[NAME_MAX + 1];
	bool created = false;
	int fd = -1;
	unsigned tries;
	int ret;

	if (dirfd < 0 || !name_ok(name) || (mode & ~(mode_t)07777) != 0 ||
	    (data == NULL && len != 0)) {
		return -EINVAL;
	}
	for (tries = 0; tries < TMP_TRIES; tries++) {
		ret = make_temp_name(name, tmp);
		if (ret != 0) {
			goto done;
		}
		/* 0600 until the owner and mode are set below */
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST) {
			break;
		}
	}
	if (fd < 0) {
		ret = tries == TMP_TRIES ? -EEXIST : -errno;
		goto done;
	}
	created = true;
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) != 0) {
		ret = -errno;
		goto done;
	}
	if (fchmod(fd, mode) != 0) {
		ret = -errno;
		goto done;
	}
	ret = sectx_write_all(fd, data, len);
	if (ret != 0) {
		goto done;
	}
	if (fsync(fd) != 0) {
		ret = -errno;
		goto done;
	}
	ret = close(fd);
	fd = -1;
	if (ret != 0) {
		ret = -errno;
		goto done;
	}
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		ret = -errno;
		goto done;
	}
	created = false; /* tmp is now name */
	if (fsync(dirfd) != 0) {
		ret = -errno;
		goto done;
	}
	ret = 0;
done:
	if (fd >= 0) {
		close(fd);
	}
	if (created) {
		unlinkat(dirfd, tmp, 0); /* best effort: we are already failing */
	}
	return ret;
}

int sectx_open_dir_verified(const char *path, uid_t owner, mode_t max_mode, bool create)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	bool created = false;
	struct stat st;
	int fd = -1;
	int ret;

	if (path == NULL || path[0] == '\0' || (max_mode & ~(mode_t)07777) != 0) {
		return -EINVAL;
	}
	fd = open(path, flags);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(path, max_mode) == 0) {
			created = true;
		} else if (errno != EEXIST) { /* EEXIST: someone was quicker; verify theirs */
			ret = -errno;
			goto done;
		}
		fd = open(path, flags);
	}
	if (fd < 0) {
		ret = -errno;
		/* O_DIRECTORY wins over O_NOFOLLOW: a symlink gives ENOTDIR */
		if (ret == -ENOTDIR && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
			ret = -ELOOP;
		}
		goto done;
	}
	if (created && (fchown(fd, owner, (gid_t)-1) != 0 || fchmod(fd, max_mode) != 0)) {
		ret = -errno;
		goto done;
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		goto done;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = -ENOTDIR;
		goto done;
	}
	if (st.st_uid != owner || (st.st_mode & 07777 & ~max_mode) != 0) {
		ret = -EPERM;
		goto done;
	}
	ret = fd;
	fd = -1;
	created = false;
done:
	if (fd >= 0) {
		close(fd);
	}
	if (created) {
		rmdir(path); /* ours and still empty: do not leave it half set up */
	}
	return ret;
}

int sectx_read_file_at(TALLOC_CTX *mem_ctx, int dirfd, const char *name, size_t max,
		       char **data_out, size_t *len_out)
{
	TALLOC_CTX *tmp_ctx = NULL;
	struct stat st;
	char *buf = NULL;
	size_t cap, len = 0;
	int fd = -1;
	int ret;

	if (dirfd < 0 || !name_ok(name) || max >= SIZE_MAX / 2) {
		return -EINVAL;
	}
	tmp_ctx = talloc_new(NULL);
	if (tmp_ctx == NULL) {
		return -ENOMEM;
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		goto done;
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto done;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		ret = -EFBIG;
		goto done;
	}
	/* room for the size fstat saw, the NUL, and one byte to notice growth */
	cap = (size_t)st.st_size + 2;
	buf = talloc_array(tmp_ctx, char, cap);
	if (buf == NULL) {
		ret = -ENOMEM;
		goto done;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;

			buf = talloc_realloc(tmp_ctx, buf, char, ncap);
			if (buf == NULL) {
				ret = -ENOMEM;
				goto done;
			}
			cap = ncap;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			ret = -errno;
			goto done;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
		if (len > max) {
			ret = -EFBIG; /* it grew while we read */
			goto done;
		}
	}
	buf[len] = '\0';
	*data_out = talloc_steal(mem_ctx, buf);
	*len_out = len;
	ret = 0;
done:
	if (fd >= 0) {
		close(fd);
	}
	talloc_free(tmp_ctx);
	return ret;
}
