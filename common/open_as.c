/*
 * open_as.c - open a file with another uid's file-system rights (open_as.h).
 *
 * setfsuid() and setfsgid() report nothing useful on failure: each switch is
 * checked by asking again with an invalid id, which returns the current
 * value.  The rights are restored before returning whatever happened, and a
 * descriptor opened under rights that could not be restored is closed.
 */
#include "open_as.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <unistd.h>

int sectx_open_as(const char *path, int flags, uid_t uid, gid_t gid)
{
	uid_t old_uid;
	gid_t old_gid;
	int fd, err = 0;

	if (geteuid() == uid && getegid() == gid) {
		fd = open(path, flags);
		return fd >= 0 ? fd : -errno;
	}
	old_gid = (gid_t)setfsgid(gid);
	if ((gid_t)setfsgid((gid_t)-1) != gid) {
		setfsgid(old_gid);
		return -EPERM;
	}
	old_uid = (uid_t)setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid) {
		setfsuid(old_uid);
		setfsgid(old_gid);
		return -EPERM;
	}
	fd = open(path, flags);
	if (fd < 0) {
		err = errno;
	}
	setfsuid(old_uid);
	setfsgid(old_gid);
	if ((uid_t)setfsuid((uid_t)-1) != old_uid || (gid_t)setfsgid((gid_t)-1) != old_gid) {
		if (fd >= 0) {
			close(fd);
		}
		return -EPERM;
	}
	return fd >= 0 ? fd : -err;
}
