/*
 * ccache_writer/child_files.c - FILE caches and DIR members, as the user.
 *
 * Part of a job's child (child.c), after it dropped to the user's uid, gid
 * and groups: a cache file is created, replaced, checked before a destroy
 * or a read here.  An existing file must be a regular file of the user,
 * looked at with lstat and checked again on its descriptor.
 *
 * Where a new cache is built.  libkrb5 writes a FILE cache by name, and
 * creates it by unlinking the name and creating it again with O_EXCL
 * (krb5_cc_initialize), then reopens it by name for every credential.  In a
 * directory other users may write (a sticky /tmp, where a cache's final
 * name usually is), another user who sees the name (inotify) can take it
 * in that gap: O_EXCL then fails the job (a session that never gets its
 * cache: a denial of service; O_EXCL and the sticky bit keep it from being
 * worse, as no link is followed and nobody else's file is written).  So no
 * name libkrb5 creates or writes is in such a directory (what it only reads
 * or removes there is the user's existing file, which the sticky bit keeps
 * from anybody else; a directory writable by others and not sticky keeps
 * no file safe, ours no more than any): each new cache is built in a
 * private directory (private_dir_make: mkdir 0700 as the user, a random
 * name next to the final one, so on the same filesystem), as "<it>/cc";
 * the finished file is taken from that directory by its descriptor (a
 * regular file of the user, fchmod 0600, fsync) and renamed over the
 * final name, and the private directory removed, on every path.  A reader
 * sees the old cache or the whole new one, and a symlink at the final name
 * is replaced, never followed.  The same holds for every file the child
 * lets libkrb5 create: FILE:/path...XXXXXX (the name reserved with O_EXCL
 * by us, the cache built privately and renamed over the reservation),
 * FILE:/path, DIR::/dir/tktNAME (built privately too), and a new DIR
 * subsidiary (tktXXXXXX and primary, made by libkrb5 inside the collection
 * directory, which ccw_check_user_dir requires to be the user's and
 * writable by nobody else, group included, which also covers ACLs).
 *
 * Who can reach it: the writer, through the job it decoded and checked;
 * and the user, who owns the directory and may race any look at it (swap a
 * file for a link, lock it, rename another in); in a shared directory,
 * other local users, who may create, but in a sticky directory neither
 * rename nor remove, names next to the cache's.  Runs with the user's
 * rights only: nothing that runs as root lives in this file.
 *
 * Never: let libkrb5 create or write a name in a directory another user
 * can write, follow a link at a cache's final name, replace or destroy a file that is
 * not the user's or holds another principal's cache, leave a private
 * directory or temp file behind, or wait for a lock the user holds on their
 * own cache file (hold_cache_file: EBUSY at once; libkrb5 would wait
 * without limit).
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
#define TEMP_PREFIX ".sectx-cc." /* private directories; never "tkt*", so DIR ignores them */
#define TEMP_RANDOM 10		 /* random characters in a private directory's name */
#define TEMP_CACHE  "cc"	 /* the cache libkrb5 builds in a private directory */

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

/* A directory of the user's own, next to a cache's final name, in which
 * libkrb5 builds the new cache (see the top of this file). */
struct private_dir {
	int parent; /* the final name's directory (O_PATH), -1: none */
	int fd;	    /* the private directory, -1: none */
	char name[sizeof(TEMP_PREFIX) + TEMP_RANDOM]; /* its name in parent */
	char cache[PATH_MAX];			      /* the path libkrb5 writes */
};

/* Remove pd's cache file (if still there) and pd itself, close what is
 * open.  Safe on a pd that private_dir_make left or never made. */
static void private_dir_remove(struct private_dir *pd)
{
	if (pd->fd >= 0) {
		(void)unlinkat(pd->fd, TEMP_CACHE, 0);
		close(pd->fd);
		pd->fd = -1;
		(void)unlinkat(pd->parent, pd->name, AT_REMOVEDIR);
	}
	if (pd->parent >= 0) {
		close(pd->parent);
		pd->parent = -1;
	}
}

/* Make pd: a new directory (mode 0700, a random name beginning TEMP_PREFIX)
 * in the directory of path, checked on its descriptor to be the one we
 * made; pd->cache names the file libkrb5 is to write in it.  0, or -errno
 * with out set (pd is then removed). */
static int private_dir_make(const char *path, struct private_dir *pd, struct outcome *out)
{
	const char *slash = strrchr(path, '/');
	int dlen = (int)(slash - path);
	char dir[PATH_MAX], rnd[TEMP_RANDOM + 1];
	struct stat st;
	int tries, ret;

	pd->parent = pd->fd = -1;
	if (dlen == 0) {
		snprintf(dir, sizeof(dir), "/");
	} else {
		snprintf(dir, sizeof(dir), "%.*s", dlen, path);
	}
	/* O_PATH: search and write permission are all the *at calls need. */
	pd->parent = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pd->parent < 0) {
		return ccw_sys_fail(out, errno, "cannot open the directory of %s", path);
	}
	for (tries = 0; tries < NAME_TRIES; tries++) {
		ret = random_chars(rnd, TEMP_RANDOM);
		if (ret != 0) {
			ret = ccw_sys_fail(out, -ret, "getrandom");
			goto done;
		}
		rnd[TEMP_RANDOM] = '\0';
		snprintf(pd->name, sizeof(pd->name), TEMP_PREFIX "%s", rnd);
		if (mkdirat(pd->parent, pd->name, 0700) == 0) {
			break;
		}
		if (errno != EEXIST) {
			ret =
			    ccw_sys_fail(out, errno, "cannot create a cache file next to %s", path);
			goto done;
		}
	}
	if (tries == NAME_TRIES) {
		ret = ccw_sys_fail(out, EEXIST, "cannot create a cache file next to %s", path);
		goto done;
	}
	pd->fd = openat(pd->parent, pd->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pd->fd < 0 || fstat(pd->fd, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		/* Another's, put there since our mkdir (a directory that is
		 * neither sticky nor ours): not ours to remove. */
		if (pd->fd >= 0) {
			close(pd->fd);
			pd->fd = -1;
		}
		ret = ccw_fail(out, EEXIST, "the new cache's directory next to %s was replaced",
			       path);
		goto done;
	}
	if ((size_t)snprintf(pd->cache, sizeof(pd->cache), "%.*s/%s/" TEMP_CACHE, dlen, path,
			     pd->name) >= sizeof(pd->cache)) {
		ret = ccw_fail(out, ENAMETOOLONG, "%s: name too long", path);
		goto done;
	}
	ret = 0;
done:
	if (ret != 0) {
		private_dir_remove(pd);
	}
	return ret;
}

/* The cache libkrb5 wrote in pd, taken by pd's descriptor (never the name
 * libkrb5 used): a regular file of the user, made 0600, synced, and renamed
 * over path (whose directory pd->parent is).  0 or -errno with out set. */
static int private_dir_install(struct private_dir *pd, const char *path, struct outcome *out)
{
	struct stat st;
	int fd, ret;

	fd = openat(pd->fd, TEMP_CACHE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return ccw_sys_fail(out, errno, "cannot reopen the new cache for %s", path);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		ret = ccw_fail(out, EEXIST, "the new cache for %s was replaced under us", path);
		goto done;
	}
	if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		ret = ccw_sys_fail(out, errno, "cannot finish the new cache for %s", path);
		goto done;
	}
	if (renameat(pd->fd, TEMP_CACHE, pd->parent, strrchr(path, '/') + 1) != 0) {
		ret = ccw_sys_fail(out, errno, "cannot put the new cache in place at %s", path);
		goto done;
	}
	ret = 0;
done:
	close(fd);
	return ret;
}

/* Write a cache of princ holding creds to path, replacing whatever is there
 * only by rename(2): the cache is built in a private directory of the user
 * next to path (private_dir_make), which no reader knows and no other user
 * can write, so a reader sees the old cache or the whole new one, and a
 * symlink at path is replaced, never followed. */
static int file_replace(krb5_context ctx, const char *path, krb5_principal princ,
			krb5_creds **creds, struct outcome *out)
{
	char name[PATH_MAX + 8];
	struct private_dir pd;
	krb5_ccache cc = NULL;
	krb5_error_code kret;
	int ret;

	ret = private_dir_make(path, &pd, out);
	if (ret != 0) {
		return ret;
	}
	snprintf(name, sizeof(name), "FILE:%s", pd.cache);
	kret = krb5_cc_resolve(ctx, name, &cc);
	if (kret != 0) {
		ret = ccw_krb_fail(ctx, kret, out, "cannot resolve %s", name);
		goto done;
	}
	ret = ccw_write_creds(ctx, cc, princ, creds, path, out);
	krb5_cc_close(ctx, cc);
	if (ret == 0) {
		ret = private_dir_install(&pd, path, out);
	}
done:
	private_dir_remove(&pd);
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
