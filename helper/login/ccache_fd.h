/*
 * login/ccache_fd.h - a user's credential cache, loaded from a descriptor the
 * user's side opened and passed over pam.sock (SCM_RIGHTS), never from a
 * path.
 *
 * The root helper must never open a cache path a user names: a FIFO would
 * hang it and a link or another user's path would leak that cache.  So the
 * client opens the file itself (as the user) and passes the descriptor; this
 * module checks what the descriptor is (a regular file, owned by the uid the
 * caller is entitled to, of bounded size, not on FUSE), reads it without
 * blocking (a regular file on a local filesystem never waits on its writer)
 * and lets libkrb5 parse the bytes from a memfd private to the helper
 * (FILE:/proc/self/fd/N).  The result is a MEMORY ccache only the helper can
 * see, holding the one credential the callers need, the TGT of the cache
 * principal's own realm; the bytes read are scrubbed.
 * Used by the context init steps (ops/ctx.c) and by authentication by
 * existing tickets (ops/pam_tickets.c).
 */
#ifndef SECTX_CCACHE_FD_H
#define SECTX_CCACHE_FD_H

#include <krb5.h>
#include <stdbool.h>
#include <sys/types.h>

#define SECTX_CCACHE_FILE_MAX (1024u * 1024u) /* bytes of a passed ccache we read */
#define SECTX_ANY_OWNER	      ((uid_t)-1)

/* True if fd is on a FUSE filesystem (or fstatfs fails): a read there is
 * answered by a user's process and can block for ever, so the root helper
 * must not read such a file on its loop. */
bool sectx_fd_on_fuse(int fd);

/*
 * Load the TGT (krbtgt/R@R, R the cache principal's realm) of the cache open
 * at fd into a new MEMORY ccache of kctx, initialised to that principal.  owner: the uid
 * the file must belong to, or SECTX_ANY_OWNER.  Returns 0 with *out (the
 * caller destroys it) and *file_uid (the file's owner); or -EPERM (owned by
 * *file_uid, not owner), -EINVAL (not a regular file, on FUSE, empty, larger
 * than SECTX_CCACHE_FILE_MAX, changed while read, not a ccache, no TGT of
 * its principal's realm), -EIO or -ENOMEM,
 * each with *why (static text for logs and replies).  fd stays the caller's.
 */
int sectx_ccache_from_fd(krb5_context kctx, int fd, uid_t owner, krb5_ccache *out, uid_t *file_uid,
			 const char **why);

#endif /* SECTX_CCACHE_FD_H */
