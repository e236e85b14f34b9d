/*
 * passwd.c - the passwd entry points of libnss_sectx: getpwnam_r,
 * getpwuid_r and enumeration (setpwent, getpwent_r, endpwent).
 *
 * Each lookup tries the mapped cache first (no system call on a hit or a
 * negative entry), then asks sectxd.  Results go only into the caller's
 * buffer; a buffer too small is NSS_STATUS_TRYAGAIN with ERANGE so glibc
 * retries with a bigger one.  uid 0 is never a sectx user and is answered
 * NOTFOUND without asking anyone.  Enumeration walks the helper's list by
 * index (the helper answers nothing unless [identity] enumerate or
 * [directory] enumerate is true).
 * Must never block past the deadline, or write outside the caller's buffer.
 */
#include "nss_sectx.h"

#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

SECTX_HOT int nss_sectx_name_len_ok(const char *name)
{
	size_t len;

	if (name == NULL) {
		return 0;
	}
	len = strnlen(name, SECTX_NAME_MAX + 1);
	return len > 0 && len <= SECTX_NAME_MAX;
}

int nss_sectx_name_ok(const char *name)
{
	return nss_sectx_name_len_ok(name) &&
	       sectx_validate_string((const uint8_t *)name, strlen(name), SECTX_NAME_MAX) == 0;
}

/* --- from the cache --------------------------------------------------------------------------- */

struct pw_query {
	const char *name; /* NULL: by uid */
	uid_t uid;
	struct passwd *pw;
	char *buf;
	size_t buflen;
};

SECTX_HOT static enum sectx_nss_cache_result pw_cache_fn(const struct sectx_nss_cache_map *m,
							 int64_t now, void *arg)
{
	struct pw_query *q = arg;

	if (q->name != NULL) {
		return sectx_nss_cache_getpwnam(m, q->name, now, q->pw, q->buf, q->buflen);
	}
	return sectx_nss_cache_getpwuid(m, q->uid, now, q->pw, q->buf, q->buflen);
}

/* --- from the helper -------------------------------------------------------------------------- */

/* A field of a reply as a string that can stand in a passwd or group line:
 * valid, bounded, and without ':' or a newline.  0 or -1. */
static int reply_str(const struct sectx_msg *msg, uint16_t tag, int optional, const uint8_t **p,
		     size_t *len)
{
	static const uint8_t empty[1] = {0};

	if (sectx_msg_get_bytes(msg, tag, p, len) != 0) {
		if (!optional) {
			return -1;
		}
		*p = empty;
		*len = 0;
		return 0;
	}
	if ((*len > 0 && sectx_validate_string(*p, *len, SECTX_STRING_MAX) != 0) ||
	    memchr(*p, ':', *len) != NULL) {
		return -1;
	}
	return 0;
}

static char *put(char *buf, size_t *pos, const void *s, size_t len)
{
	char *d = buf + *pos;

	memcpy(d, s, len);
	d[len] = '\0';
	*pos += len + 1;
	return d;
}

static enum nss_status pw_reply_fn(const struct sectx_msg *msg, void *arg, int *errnop)
{
	struct pw_query *q = arg;
	const uint8_t *name, *gecos, *home, *shell;
	size_t nl, gl, hl, sl, pos = 0;
	uint32_t uid, gid;

	if (reply_str(msg, SECTX_TAG_NAME, 0, &name, &nl) != 0 || nl == 0 ||
	    reply_str(msg, SECTX_TAG_GECOS, 1, &gecos, &gl) != 0 ||
	    reply_str(msg, SECTX_TAG_HOME, 0, &home, &hl) != 0 ||
	    reply_str(msg, SECTX_TAG_SHELL, 0, &shell, &sl) != 0 ||
	    sectx_msg_get_u32(msg, SECTX_TAG_UID, &uid) != 0 ||
	    sectx_msg_get_u32(msg, SECTX_TAG_GID, &gid) != 0 || uid == 0 || gid == 0 ||
	    (q->name == NULL && q->uid != (uid_t)-1 && uid != q->uid)) {
		*errnop = ENOENT;
		return NSS_STATUS_UNAVAIL;
	}
	if (q->buf == NULL || nl + 1 + 2 + gl + 1 + hl + 1 + sl + 1 > q->buflen) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	q->pw->pw_name = put(q->buf, &pos, name, nl);
	q->pw->pw_passwd = put(q->buf, &pos, "*", 1);
	q->pw->pw_uid = uid;
	q->pw->pw_gid = gid;
	q->pw->pw_gecos = put(q->buf, &pos, gecos, gl);
	q->pw->pw_dir = put(q->buf, &pos, home, hl);
	q->pw->pw_shell = put(q->buf, &pos, shell, sl);
	return NSS_STATUS_SUCCESS;
}

SECTX_HOT static enum nss_status pw_lookup(struct pw_query *q, int *errnop)
{
	enum nss_status status;

	if (nss_sectx_cache_settles(nss_sectx_cache_run(pw_cache_fn, q), &status, errnop)) {
		return status;
	}
	if (q->name != NULL) {
		if (!nss_sectx_name_ok(q->name)) {
			*errnop = ENOENT; /* no user can have it: not worth asking */
			return NSS_STATUS_NOTFOUND;
		}
		return nss_sectx_ask(SECTX_OP_NSS_GETPWNAM, q->name, 0, 0, pw_reply_fn, q, errnop);
	}
	return nss_sectx_ask(SECTX_OP_NSS_GETPWUID, NULL, SECTX_TAG_UID, (uint32_t)q->uid,
			     pw_reply_fn, q, errnop);
}

SECTX_HOT NSS_SECTX_EXPORT enum nss_status
_nss_sectx_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_sectx_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
				      int *errnop)
{
	struct pw_query q = {.name = name, .pw = pw, .buf = buf, .buflen = buflen};

	if (nss_sectx_disabled(errnop)) {
		return NSS_STATUS_UNAVAIL;
	}
	if (!nss_sectx_name_len_ok(name)) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return pw_lookup(&q, errnop);
}

SECTX_HOT NSS_SECTX_EXPORT enum nss_status
_nss_sectx_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_sectx_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen,
				      int *errnop)
{
	struct pw_query q = {.name = NULL, .uid = uid, .pw = pw, .buf = buf, .buflen = buflen};

	if (nss_sectx_disabled(errnop)) {
		return NSS_STATUS_UNAVAIL;
	}
	if (uid == 0 || uid == (uid_t)-1) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return pw_lookup(&q, errnop);
}

/* --- enumeration ------------------------------------------------------------------------------ */

static pthread_mutex_t pwent_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t pwent_index; /* guarded by pwent_lock */

NSS_SECTX_EXPORT enum nss_status _nss_sectx_setpwent(int stayopen);
enum nss_status _nss_sectx_setpwent(int stayopen)
{
	if (nss_sectx_lock_bounded(&pwent_lock) != 0) {
		return NSS_STATUS_UNAVAIL;
	}
	pwent_index = 0;
	pthread_mutex_unlock(&pwent_lock);
	return NSS_STATUS_SUCCESS;
}

NSS_SECTX_EXPORT enum nss_status _nss_sectx_endpwent(void);
enum nss_status _nss_sectx_endpwent(void)
{
	return _nss_sectx_setpwent(0);
}

NSS_SECTX_EXPORT enum nss_status _nss_sectx_getpwent_r(struct passwd *pw, char *buf, size_t buflen,
						       int *errnop);
enum nss_status _nss_sectx_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	struct pw_query q = {
	    .name = NULL, .uid = (uid_t)-1, .pw = pw, .buf = buf, .buflen = buflen};
	enum nss_status ret;

	if (nss_sectx_disabled(errnop)) {
		return NSS_STATUS_UNAVAIL;
	}
	if (nss_sectx_lock_bounded(&pwent_lock) != 0) {
		*errnop = EAGAIN;
		return NSS_STATUS_TRYAGAIN;
	}
	ret = nss_sectx_ask(SECTX_OP_NSS_ENUM_USERS, NULL, SECTX_TAG_INDEX, pwent_index,
			    pw_reply_fn, &q, errnop);
	if (ret == NSS_STATUS_SUCCESS) {
		pwent_index++;
	}
	pthread_mutex_unlock(&pwent_lock);
	return ret;
}
