/*
 * daemon/sd_notify.c - the sd_notify datagram protocol, without libsystemd.
 *
 * $NOTIFY_SOCKET is set by systemd for the service it starts; sectxd is
 * started by root only, so the variable is trusted, but it is still bounded
 * (sun_path) and only ever receives state strings, never secrets.
 */
#include "daemon/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sectx_sd_notify(const char *state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = getenv("NOTIFY_SOCKET");
	socklen_t alen;
	size_t plen;
	ssize_t n;
	int fd, ret = 0;

	if (path == NULL || path[0] == '\0') {
		return 0;
	}
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
		return -EINVAL;
	}
	memcpy(sun.sun_path, path, plen);
	if (sun.sun_path[0] == '@') {
		sun.sun_path[0] = '\0'; /* abstract namespace */
	}
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
	if (n < 0) {
		ret = -errno;
	}
	close(fd);
	return ret;
}
