/*
 * open_as.h - open a file with another uid's file-system rights.
 *
 * For the two places where root must open a path a user chose or controls:
 * pam_sectx.so under sudo (euid 0) opening the invoking user's credential
 * cache, and sectxd reading a user's ~/.k5login.  The open runs with the
 * user's fsuid/fsgid (this thread only: Linux keeps them per thread), so it
 * reaches nothing the user could not open; the caller still fstat()s the
 * result.  Linked into the PAM module: libc only, no allocation, no state.
 */
#ifndef SECTX_OPEN_AS_H
#define SECTX_OPEN_AS_H

#include <sys/types.h>

/* open(path, flags) (flags should carry O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
 * for a path from a user) with the file-system rights of uid and gid, then
 * restore this thread's rights.  Without privilege to switch (the caller is
 * that user already, or not root), plain open() when euid and egid already
 * are uid and gid.  Returns the descriptor, or -errno; -EPERM when the rights
 * could not be switched or restored (then no descriptor is returned). */
int sectx_open_as(const char *path, int flags, uid_t uid, gid_t gid);

#endif /* SECTX_OPEN_AS_H */
