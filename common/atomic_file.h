/*
 * atomic_file.h - how the helper writes and reads its own files.
 *
 * Every file the helper writes (state, mappings, NSS cache) is replaced
 * whole: a temp file in the same directory, fsync, rename over the name,
 * fsync of the directory, so a reader or a crash sees the old file or the
 * new one, never a mix.  All access is relative to a directory descriptor
 * whose owner and mode were verified, names are single components, and no
 * symlink is ever followed at the last step.  These functions never log and
 * never leave a temp file behind on failure.
 */
#ifndef SECTX_ATOMIC_FILE_H
#define SECTX_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <talloc.h>

/* Write all len bytes of data to fd, retrying after EINTR and short writes.
 * Returns 0, -errno, or -EIO if write(2) made no progress. */
int sectx_write_all(int fd, const void *data, size_t len);

/* Write len bytes of data to dirfd/name atomically: create ".name.XXXXXX"
 * (random suffix from getrandom, retried if taken) in the same directory with
 * openat(O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC), fchown(uid, gid)
 * unless uid == (uid_t)-1, fchmod(mode) (after the chown, so umask and
 * chown's clearing of set-id bits cannot change it), write all (retrying
 * EINTR and short writes), fsync, close, renameat over name (a symlink at name
 * is replaced, not followed), fsync(dirfd).
 * dirfd must be a directory descriptor (not AT_FDCWD); name a single
 * component (no '/', not "." or "..", short enough for the temp name); mode
 * within 07777; data may be NULL only if len is 0.
 * Returns 0, -EINVAL for bad arguments, or -errno of the failing step.  On
 * any failure before the rename the temp file is unlinked and name is
 * untouched; only the final fsync(dirfd) can fail after the rename, and then
 * the new content is in place but perhaps not yet durable. */
int sectx_atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			  uid_t uid, gid_t gid);

/* Open the directory at path for use as a dirfd:
 * open(path, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC), then fstat: it must be
 * owned by owner and have no permission bits outside max_mode (e.g. 0755 or
 * 0700).  If create is true and path does not exist, mkdir(path, max_mode)
 * first (the parent must exist), then fchown(owner) and fchmod(max_mode) on
 * the new directory.  Only the last component of path is refused as a symlink.
 * Returns the descriptor (>= 0, the caller closes it); -ELOOP if path is a
 * symlink; -EPERM for the wrong owner or mode; -ENOTDIR if not a directory;
 * -EINVAL if max_mode has bits outside 07777; else -errno. */
int sectx_open_dir_verified(const char *path, uid_t owner, mode_t max_mode, bool create);

/* Read the whole regular file dirfd/name (single component as for
 * sectx_atomic_write_at; opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC) of
 * at most max bytes.  On success 0, *data_out a talloc buffer on mem_ctx
 * holding the bytes plus a NUL (for convenience; the data may contain NULs),
 * *len_out the byte count without the NUL.  Returns -EFBIG if the file holds
 * more than max bytes, -ELOOP for a symlink, -EINVAL for a bad name or a file
 * that is not regular (FIFO, directory, device), -ENOMEM, else -errno. */
int sectx_read_file_at(TALLOC_CTX *mem_ctx, int dirfd, const char *name, size_t max,
		       char **data_out, size_t *len_out);

#endif /* SECTX_ATOMIC_FILE_H */
