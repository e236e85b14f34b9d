/*
 * ccache_writer/child_files.c - FILE caches and DIR members, as the user.
 *
 * Part of a job's child (child.c), after it dropped to the user's uid, gid
 * and groups: a cache file is created, replaced, checked before a destroy
 * or a read here.  A new cache is built in a temp file next to its final
 * name (O_EXCL, mode 0600) and renamed over it, so a reader sees the old
 * cache or the whole new one; an existing file must be a regular file of
 * the user, looked at with lstat and checked again on its descriptor.
 *
 * Who can reach it: the writer, through the job it decoded and checked;
 * and the user, who owns the directory and may race any look at it (swap a
 * file for a link, lock it, rename another in).  Runs with the user's
 * rights only: nothing that runs as root lives in this file.
 *
 * Never: follow a link at a cache's final name, replace or destroy a file
 * that is not the user's or holds another principal's cache, or wait for a
 * lock the user holds on their own cache file (hold_cache_file: EBUSY at
 * once; libkrb5 would wait without limit).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccache_writer/ccache_writer_int.h"

#define NAME_TRIES  32		 /* random names tried before giving up */
#define TEMP_PREFIX ".sectx-cc." /* temp files; never "tkt*", so DIR ignores them */

/* Random suffixes never contain 'X', so a name a store returned never ends in
 * XXXXXX and is taken back as an exact name.  61 characters. */
static const char rand_alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWYZ0123456789";

/* n random characters of rand_alphabet into s (no NUL added). */
static int random_chars(char *s, size_t n)
{
	const size_t a = sizeof(rand_alphabet) - 1;
	uint8_t b[32];
	size_t i = 0, k;

	while (i < n) {
		ssize_t r = getrandom(b, sizeof(b), 0);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		for (k = 0; k < (size_t)r && i < n; k++) {
			if (b[k] < 256 - 256 % a) { /* no modulo bias */
				s[i++] = rand_alphabet[b[k] % a];
			}
		}
	}
	return 0;
}

/* The child's read lock on the user's cache file (see hold_cache_file), held
 * until the child exits; -1: none. */
static int held_cache_fd = -1;

/* Let the cache file go before libkrb5 takes a lock of its own that could
 * conflict with ours (an old libkrb5 locks a cache it destroys exclusively). */
void ccw_release_cache_file(void)
{
	if (held_cache_fd >= 0) {
		close(held_cache_fd);
		held_cache_fd = -1;
	}
}

/* Before libkrb5 opens the existing cache file path (which st, from lstat,
 * describes): libkrb5 waits without limit for its fcntl lock, and the user
 * may hold a write lock (or a lease) on their own file for as long as they
 * like, which would hold the single writer and every other user's job.  So
 * open it without blocking (O_NONBLOCK: a lease or a FIFO put there since
 * the lstat fails instead of waiting), check it is still that regular file of
 * the user, and take a shared lock without waiting: a conflicting lock fails
 * the job at once with EBUSY.  The lock is then ours until the child exits,
 * so nobody can take a write lock on this file under libkrb5 (its own shared
 * lock is compatible); what is left (another file renamed in, a stopped
 * child) is bounded by the writer's per-job limit (run_job).  Returns 0 (go
 * on; an unreadable file of the user is left to libkrb5, which fails on it
 * as we did), 1 (gone meanwhile), or -errno with out set. */
static int hold_cache_file(const char *path, const struct stat *st, uid_t uid, bool destroy,
			   struct outcome *out)
{
	struct flock fl;
	struct stat now;
	int fd, ret;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			return 1;
		}
		if (errno == EACCES) {
			return 0;
		}
		if (errno == EWOULDBLOCK) {
			return ccw_fail(
			    out, EBUSY,
			    "%s is locked by another process (a lease): not waiting for it", path);
		}
		if (errno == ELOOP) {
			return ccw_fail(out, destroy ? ESTALE : EEXIST,
					"%s was replaced by a symlink: left alone", path);
		}
		return ccw_sys_fail(out, errno, "cannot open %s", path);
	}
	if (fstat(fd, &now) != 0 || !S_ISREG(now.st_mode) || now.st_uid != uid ||
	    now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		close(fd);
		return ccw_fail(out, destroy ? ESTALE : EEXIST,
				"%s was replaced while we looked at it: left alone", path);
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file, as libkrb5 locks it */
	ret = fcntl(fd, F_OFD_SETLK, &fl);
	if (ret != 0 && errno == EINVAL) {
		/* No OFD locks: only test (a classic lock of ours would go with
		 * libkrb5's close of its own descriptor). */
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_RDLCK;
		fl.l_whence = SEEK_SET;
		ret = fcntl(fd, F_GETLK, &fl);
		if (ret == 0 && fl.l_type != F_UNLCK) {
			ret = -1;
			errno = EAGAIN;
		}
	}
	if (ret != 0) {
		int err = errno;

		close(fd);
		if (err == EAGAIN || err == EACCES) {
			return ccw_fail(out, EBUSY,
					"%s is locked by another process: not waiting for it",
					path);
		}
		return ccw_sys_fail(out, err, "cannot lock %s", path);
	}
	ccw_release_cache_file();
	held_cache_fd = fd;
	return 0;
}

/* An existing file at path that we may replace (store), destroy or read: it
 * must be a regular file of the user (lstat: a symlink is never followed) that
 * no other process holds locked (hold_cache_file: -EBUSY); if
 * it holds a cache, its principal must be princ (unless princ is NULL: read).  Returns 0 (may go
 * on), 1 (no file there), -EEXIST (not the user's cache file), -ESTALE (another principal's cache,
 * or for destroy an unreadable one), or -errno. */
static int check_existing_file(krb5_context ctx, const char *path, uid_t uid,
			       krb5_const_principal princ, bool destroy, struct outcome *out)
{
	char name[PATH_MAX + 8];
	krb5_principal have = NULL;
	struct stat st;
	int ret;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT) {
			return 1;
		}
		return ccw_sys_fail(out, errno, "cannot look at %s", path);
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != uid) {
		return ccw_fail(
		    out, destroy ? ESTALE : EEXIST,
		    "%s is not a cache file of uid %u (a symlink, another owner's file or "
		    "not a regular file): left alone",
		    path, (unsigned)uid);
	}
	ret = hold_cache_file(path, &st, uid, destroy, out);
	if (ret != 0 || princ == NULL) {
		return ret;
	}
	snprintf(name, sizeof(name), "FILE:%s", path);
	ret = ccw_read_principal(ctx, name, &have, out);
	if (ret == 1) {
		return 1;
	}
	if (ret < 0) {
		if (!destroy) {
			return 0; /* the user's own unreadable file: replaced */
		}
		return ccw_fail(out, ESTALE, "%s holds no readable cache: left alone", path);
	}
	ret = 0;
	if (!krb5_principal_compare(ctx, have, princ)) {
		ret = ccw_fail(out, ESTALE, "%s holds another principal's cache: left alone", path);
	}
	krb5_free_principal(ctx, have);
	return ret;
}

/* The directory dir must be the user's own and writable by nobody else
 * (lstat: not a symlink).  create: mkdir(0700) it first if missing. */
int ccw_check_user_dir(const char *dir, uid_t uid, bool create, struct outcome *out)
{
	struct stat st;

	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		return ccw_sys_fail(out, errno, "cannot create the cache directory %s", dir);
	}
	if (lstat(dir, &st) != 0) {
		return ccw_sys_fail(out, errno, "cannot look at the cache directory %s", dir);
	}
	if (S_ISLNK(st.st_mode)) {
		return ccw_fail(out, ELOOP, "the cache directory %s is a symlink", dir);
	}
	if (!S_ISDIR(st.st_mode)) {
		return ccw_fail(out, ENOTDIR, "%s is not a directory", dir);
	}
	if (st.st_uid != uid || (st.st_mode & 022) != 0) {
		return ccw_fail(
		    out, EPERM, "the cache directory %s is not uid %u's own (owner %u, mode %04o)",
		    dir, (unsigned)uid, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	}
	return 0;
}

/* The directory of a DIR member name (DIR::/dir/tkt...) must be the user's:
 * check_user_dir on it, never created. */
int ccw_check_member_dir(const struct job *j, struct outcome *out)
{
	const char *path = j->ccache + 5;
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	return ccw_check_user_dir(dir, j->uid, false, out);
}

/* An exact FILE: or DIR member name: its directory (DIR member) and then the
 * file itself, as check_existing_file. */
int ccw_check_exact_file(krb5_context ctx, const struct job *j, krb5_principal expected,
			 bool destroy, struct outcome *out)
{
	int ret = j->kind == CC_DIR_MEMBER ? ccw_check_member_dir(j, out) : 0;

	return ret != 0 ? ret
			: check_existing_file(ctx, j->ccache + 5, j->uid, expected, destroy, out);
}

/* Write a cache of princ holding creds to path, replacing whatever is there
 * only by rename(2): the cache is built in a new temp file in the same
 * directory, which no reader knows, so a reader sees the old cache or the
 * whole new one, and a symlink at path is replaced, never followed. */
static int file_replace(krb5_context ctx, const char *path, krb5_principal princ,
			krb5_creds **creds, struct outcome *out)
{
	const char *slash = strrchr(path, '/');
	char tmp[PATH_MAX], name[PATH_MAX + 8], rnd[11];
	krb5_ccache cc = NULL;
	krb5_error_code kret;
	struct stat st;
	bool created = false;
	int fd = -1, tries, ret;

	for (tries = 0; tries < NAME_TRIES; tries++) {
		ret = random_chars(rnd, sizeof(rnd) - 1);
		if (ret != 0) {
			return ccw_sys_fail(out, -ret, "getrandom");
		}
		rnd[sizeof(rnd) - 1] = '\0';
		if ((size_t)snprintf(tmp, sizeof(tmp), "%.*s/" TEMP_PREFIX "%s",
				     (int)(slash - path), path, rnd) >= sizeof(tmp)) {
			return ccw_fail(out, ENAMETOOLONG, "%s: name too long", path);
		}
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST) {
			break;
		}
	}
	if (fd < 0) {
		return ccw_sys_fail(out, tries == NAME_TRIES ? EEXIST : errno,
				    "cannot create a cache file next to %s", path);
	}
	created = true;
	close(fd);
	fd = -1;

	/* libkrb5 writes by name; the temp name is random and in this directory
	 * only the user (or root) could replace it. */
	snprintf(name, sizeof(name), "FILE:%s", tmp);
	kret = krb5_cc_resolve(ctx, name, &cc);
	if (kret != 0) {
		ret = ccw_krb_fail(ctx, kret, out, "cannot resolve %s", name);
		goto done;
	}
	ret = ccw_write_creds(ctx, cc, princ, creds, path, out);
	krb5_cc_close(ctx, cc);
	if (ret != 0) {
		goto done;
	}
	fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = ccw_sys_fail(out, errno, "cannot reopen the new cache for %s", path);
		goto done;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid()) {
		ret = ccw_fail(out, EEXIST, "the new cache for %s was replaced under us", path);
		goto done;
	}
	if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		ret = ccw_sys_fail(out, errno, "cannot finish the new cache for %s", path);
		goto done;
	}
	if (rename(tmp, path) != 0) {
		ret = ccw_sys_fail(out, errno, "cannot put the new cache in place at %s", path);
		goto done;
	}
	created = false;
	ret = 0;
done:
	if (fd >= 0) {
		close(fd);
	}
	if (created) {
		unlink(tmp);
	}
	return ret;
}

/* FILE:/path...XXXXXX: reserve a new name (O_EXCL, never following a link),
 * then build the cache and rename it over the reservation. */
int ccw_store_file_unique(krb5_context ctx, const struct job *j, krb5_principal princ,
			  krb5_creds **creds, struct outcome *out)
{
	char path[PATH_MAX];
	size_t n = strlen(j->ccache + 5);
	int fd = -1, tries, ret;

	memcpy(path, j->ccache + 5, n + 1);
	for (tries = 0; tries < NAME_TRIES; tries++) {
		ret = random_chars(path + n - 6, 6);
		if (ret != 0) {
			return ccw_sys_fail(out, -ret, "getrandom");
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST) {
			break;
		}
	}
	if (fd < 0) {
		return ccw_sys_fail(out, tries == NAME_TRIES ? EEXIST : errno, "cannot create %s",
				    j->ccache + 5);
	}
	close(fd);
	ret = file_replace(ctx, path, princ, creds, out);
	if (ret != 0) {
		unlink(path); /* our empty reservation */
		return ret;
	}
	/* The same name as the template, its X's replaced. */
	memcpy(out->ccache, j->ccache, 5 + n + 1);
	memcpy(out->ccache + 5 + n - 6, path + n - 6, 6);
	return 0;
}

/* FILE:/path or DIR::/dir/tktNAME: replace that file if it is ours. */
int ccw_store_file_exact(krb5_context ctx, const struct job *j, const char *path,
			 krb5_principal princ, krb5_creds **creds, struct outcome *out)
{
	int ret;

	ret = check_existing_file(ctx, path, j->uid, princ, false, out);
	if (ret < 0) {
		return ret;
	}
	if (ret == 1 && j->replace) {
		return ccw_fail(out, ENOENT, "%s: no cache any more (destroyed by its user)", path);
	}
	ret = file_replace(ctx, path, princ, creds, out);
	if (ret == 0) {
		snprintf(out->ccache, sizeof(out->ccache), "%s", j->ccache);
	}
	return ret;
}
