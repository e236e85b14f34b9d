/*
 * tickets.c - authentication by the Kerberos tickets the user already holds
 * (sudo, su): find the user's credential cache, open it as the real uid, and
 * hand the open descriptor to the helper, which decides.
 *
 * Under sudo the module runs with euid 0 while KRB5CCNAME comes from the
 * user, so the path is attacker-chosen: it is opened only with the real
 * uid's file-system rights (setfsuid/setfsgid around the open(), this thread
 * only, restored before returning), with O_NOFOLLOW|O_NONBLOCK (a FIFO opens
 * at once and is then refused, it never blocks us), and kept only if it is a
 * regular file owned by the real uid.  The helper never sees the path, only
 * the descriptor and the real uid, and checks it again: the cache is the
 * invoking user's, and its principal must map to PAM_USER (sudo: the same
 * user; su: the target, by its ~/.k5login, as ksu does).  The module links no Kerberos code and
 * reads no configuration: the helper says which services may use tickets
 * (IGNORE otherwise).  Anything short of SUCCESS sends the caller back to the
 * password prompt; this file must never tell the user why, never log the
 * cache's contents or PAM_USER (not yet known to the helper: it may be a
 * password typed as a name; the real uid is logged instead), and never keep
 * the descriptor past the call.  A real uid of 0 never authenticates by
 * tickets (no cache is even opened): root needs no tickets for sudo or su,
 * and a root daemon's cache must not log anyone in; the helper refuses it
 * too.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "open_as.h"

#define CCNAME_ENV  "KRB5CCNAME"
#define FILE_PREFIX "FILE:"

/* The path of the user's FILE ccache into path (PATH_MAX bytes): KRB5CCNAME
 * from the PAM environment, else from the process environment, else
 * /tmp/krb5cc_<ruid> (libkrb5's compiled-in default; krb5.conf is not read
 * here).  The process environment is read with getenv, not secure_getenv:
 * under sudo it is the invoking user's on purpose, and the path is only ever
 * opened with that user's rights.  Returns 0, or -ENOTSUP for a cache that
 * is not a file (KEYRING:, KCM:, DIR:, MEMORY:, a relative path). */
static int ccache_path(const struct pam_sectx_ctx *c, uid_t ruid, char *path, size_t pathsz)
{
	const char *name = pam_getenv(c->pamh, CCNAME_ENV);
	int n;

	if (name == NULL) {
		name = getenv(CCNAME_ENV);
	}
	if (name == NULL || name[0] == '\0') {
		n = snprintf(path, pathsz, "/tmp/krb5cc_%lu", (unsigned long)ruid);
		return n > 0 && (size_t)n < pathsz ? 0 : -ENAMETOOLONG;
	}
	if (strncmp(name, FILE_PREFIX, strlen(FILE_PREFIX)) == 0) {
		name += strlen(FILE_PREFIX);
	} else if (strchr(name, ':') != NULL) {
		return -ENOTSUP; /* another cache type: libkrb5 would read the prefix so */
	}
	if (name[0] != '/') {
		return -ENOTSUP;
	}
	if (strlen(name) >= pathsz) {
		return -ENAMETOOLONG;
	}
	strcpy(path, name);
	return 0;
}

/* Open the real uid's ccache.  Returns the descriptor of a regular file
 * owned by the real uid, or -errno (-ENOENT none, -ENOTSUP not a file cache,
 * -EPERM/-EINVAL not a regular file of that uid). */
static int open_ccache(const struct pam_sectx_ctx *c)
{
	uid_t ruid = getuid();
	gid_t rgid = getgid();
	char path[PATH_MAX];
	char shown[256];
	struct stat st;
	int fd, ret;

	ret = ccache_path(c, ruid, path, sizeof(path));
	if (ret != 0) {
		PAM_SECTX_DEBUG(c, "tickets of uid %lu: the credential cache is not a file: %s",
				(unsigned long)ruid,
				ret == -ENOTSUP ? "type not supported" : "too long");
		return ret;
	}
	fd = sectx_open_as(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, ruid,
			   rgid);
	if (fd < 0) {
		if (c->opts.debug) {
			sectx_log_escape(path, strlen(path), shown, sizeof(shown));
			pam_syslog(c->pamh, LOG_DEBUG, "tickets of uid %lu: cannot open %s: %s",
				   (unsigned long)ruid, shown, strerror(-fd));
		}
		return fd;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ruid) {
		sectx_log_escape(path, strlen(path), shown, sizeof(shown));
		pam_syslog(
		    c->pamh, LOG_NOTICE,
		    "tickets of uid %lu: %s is not a regular file owned by uid %lu: not used",
		    (unsigned long)ruid, shown, (unsigned long)ruid);
		close(fd);
		return -EPERM;
	}
	return fd;
}

int pam_sectx_ticket_auth(const struct pam_sectx_ctx *c, struct pam_sectx_reply *rep)
{
	struct pam_sectx_req *req = NULL;
	int call_ret;
	int fd = -1;
	int ret = PAM_IGNORE;

	memset(rep, 0, sizeof(*rep));
	if (c->opts.no_ticket_auth) {
		goto done;
	}
	if (getuid() == 0) {
		PAM_SECTX_DEBUG(c, "tickets of uid 0: never used");
		goto done;
	}
	fd = open_ccache(c);
	if (fd < 0) {
		goto done; /* no cache: the helper is not even asked */
	}
	if (pam_sectx_req_new(c, SECTX_OP_PAM_GSS_AUTH, &req) != 0) {
		goto done;
	}
	req->fd = fd;
	sectx_put_u32(&req->w, SECTX_TAG_REAL_UID, (uint32_t)getuid()); /* the cache's owner */
	call_ret = pam_sectx_call(c, req, rep);
	if (call_ret == 0 && rep->result == SECTX_PAM_SUCCESS) {
		ret = PAM_SUCCESS;
	} else if (call_ret == 0 && rep->result == SECTX_PAM_IGNORE) {
		PAM_SECTX_DEBUG(c, "tickets of uid %lu: not used for service %s",
				(unsigned long)getuid(), c->service_log);
	} else {
		pam_syslog(c->pamh, LOG_NOTICE,
			   "authentication by the tickets of uid %lu (service %s) failed: asking "
			   "for the password",
			   (unsigned long)getuid(), c->service_log);
	}
done:
	if (ret != PAM_SUCCESS) {
		explicit_bzero(rep->handle, sizeof(rep->handle));
		rep->has_handle = false;
	}
	pam_sectx_req_free(req);
	if (fd >= 0) {
		close(fd);
	}
	return ret;
}
