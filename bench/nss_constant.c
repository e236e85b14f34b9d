/*
 * nss_constant.c - libnss_sectxconst.so.2, the benchmark's floor: an NSS
 * module whose getpwnam_r answers every name from a constant entry, so that
 * "getpwnam_r through glibc" with it measures glibc's own cost per call (it
 * stats nsswitch.conf and walks the service list every time).  Only for
 * bench/nss_bench.py; never installed.  It must not do anything a real module
 * would not do at least: it copies the name into the caller's buffer.
 */
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>

__attribute__((visibility("default"))) enum nss_status
_nss_sectxconst_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
			   int *errnop);

enum nss_status _nss_sectxconst_getpwnam_r(const char *name, struct passwd *pw, char *buf,
					   size_t buflen, int *errnop)
{
	size_t len = strlen(name);

	if (len + 1 + 2 + 1 + 6 + 10 > buflen) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	memcpy(buf, name, len + 1);
	pw->pw_name = buf;
	memcpy(buf + len + 1, "*", 2);
	pw->pw_passwd = buf + len + 1;
	pw->pw_gecos = buf + len + 2;
	buf[len + 2] = '\0';
	memcpy(buf + len + 3, "/home", 6);
	pw->pw_dir = buf + len + 3;
	memcpy(buf + len + 9, "/bin/sh", 8);
	pw->pw_shell = buf + len + 9;
	pw->pw_uid = 100000;
	pw->pw_gid = 100000;
	return NSS_STATUS_SUCCESS;
}
