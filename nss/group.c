/*
 * group.c - the group entry points of libnss_sectx: getgrnam_r, getgrgid_r,
 * enumeration (setgrent, getgrent_r, endgrent) and initgroups_dyn.
 *
 * Same order as passwd.c: the mapped cache, then the helper; the caller's
 * buffer holds the member pointer array (aligned) and every string, or the
 * answer is TRYAGAIN/ERANGE.  initgroups_dyn appends the user's groups to
 * glibc's array, growing it with realloc as glibc's contract asks, never past
 * limit, skipping the primary group and duplicates.  gid 0 is never a sectx
 * group.  Must never block past the deadline or write outside the buffers.
 */
#include "nss_sectx.h"

#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gr_query {
	const char *name; /* NULL: by gid */
	gid_t gid;
	struct group *gr;
	char *buf;
	size_t buflen;
};

SECTX_HOT static enum sectx_nss_cache_result gr_cache_fn(const struct sectx_nss_cache_map *m,
							 int64_t now, void *arg)
{
	struct gr_query *q = arg;

	if (q->name != NULL) {
		return sectx_nss_cache_getgrnam(m, q->name, now, q->gr, q->buf, q->buflen);
	}
	return sectx_nss_cache_getgrgid(m, q->gid, now, q->gr, q->buf, q->buflen);
}

/* A reply string fit for a group line: valid, and no ':' ',' or newline. */
static int member_ok(const uint8_t *p, size_t len)
{
	return len > 0 && sectx_validate_string(p, len, SECTX_NAME_MAX) == 0 &&
	       memchr(p, ':', len) == NULL && memchr(p, ',', len) == NULL;
}

static enum nss_status gr_reply_fn(const struct sectx_msg *msg, void *arg, int *errnop)
{
	struct gr_query *q = arg;
	struct sectx_field f;
	const uint8_t *name;
	size_t nl, nmem = 0, strbytes = 0, pos = 0, pad, i;
	uint32_t gid;
	char **mem;

	if (sectx_msg_get_bytes(msg, SECTX_TAG_NAME, &name, &nl) != 0 || !member_ok(name, nl) ||
	    sectx_msg_get_u32(msg, SECTX_TAG_GID, &gid) != 0 || gid == 0 ||
	    (q->name == NULL && q->gid != (gid_t)-1 && gid != q->gid)) {
		goto bad;
	}
	while (sectx_msg_next(msg, SECTX_TAG_MEMBER, &pos, &f) == 0) {
		if (!member_ok(f.value, f.len) || nmem >= SECTX_NSS_CACHE_MAX_MEMBERS) {
			goto bad;
		}
		nmem++;
		strbytes += f.len + 1;
	}
	if (q->buf == NULL) {
		goto erange;
	}
	pad =
	    (alignof(char *) - ((uintptr_t)q->buf & (alignof(char *) - 1))) & (alignof(char *) - 1);
	if (pad + (nmem + 1) * sizeof(char *) + nl + 1 + 2 + strbytes > q->buflen) {
		goto erange;
	}
	mem = (char **)(void *)(q->buf + pad);
	pos = pad + (nmem + 1) * sizeof(char *);
	memcpy(q->buf + pos, name, nl);
	q->buf[pos + nl] = '\0';
	q->gr->gr_name = q->buf + pos;
	pos += nl + 1;
	memcpy(q->buf + pos, "*", 2);
	q->gr->gr_passwd = q->buf + pos;
	pos += 2;
	{
		size_t it = 0;

		for (i = 0; i < nmem && sectx_msg_next(msg, SECTX_TAG_MEMBER, &it, &f) == 0; i++) {
			memcpy(q->buf + pos, f.value, f.len);
			q->buf[pos + f.len] = '\0';
			mem[i] = q->buf + pos;
			pos += f.len + 1;
		}
	}
	mem[nmem] = NULL;
	q->gr->gr_mem = mem;
	q->gr->gr_gid = gid;
	return NSS_STATUS_SUCCESS;
erange:
	*errnop = ERANGE;
	return NSS_STATUS_TRYAGAIN;
bad:
	*errnop = ENOENT;
	return NSS_STATUS_UNAVAIL;
}

SECTX_HOT static enum nss_status gr_lookup(struct gr_query *q, int *errnop)
{
	enum nss_status status;

	if (nss_sectx_cache_settles(nss_sectx_cache_run(gr_cache_fn, q), &status, errnop)) {
		return status;
	}
	if (q->name != NULL) {
		if (!nss_sectx_name_ok(q->name)) {
			*errnop = ENOENT;
			return NSS_STATUS_NOTFOUND;
		}
		return nss_sectx_ask(SECTX_OP_NSS_GETGRNAM, q->name, 0, 0, gr_reply_fn, q, errnop);
	}
	return nss_sectx_ask(SECTX_OP_NSS_GETGRGID, NULL, SECTX_TAG_GID, (uint32_t)q->gid,
			     gr_reply_fn, q, errnop);
}

SECTX_HOT NSS_SECTX_EXPORT enum nss_status
_nss_sectx_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_sectx_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
				      int *errnop)
{
	struct gr_query q = {.name = name, .gr = gr, .buf = buf, .buflen = buflen};

	if (nss_sectx_disabled(errnop)) {
		return NSS_STATUS_UNAVAIL;
	}
	if (!nss_sectx_name_len_ok(name)) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return gr_lookup(&q, errnop);
}

SECTX_HOT NSS_SECTX_EXPORT enum nss_status
_nss_sectx_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_sectx_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen,
				      int *errnop)
{
	struct gr_query q = {.name = NULL, .gid = gid, .gr = gr, .buf = buf, .buflen = buflen};

	if (nss_sectx_disabled(errnop)) {
		return NSS_STATUS_UNAVAIL;
	}
	if (gid == 0 || gid == (gid_t)-1) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return gr_lookup(&q, errnop);
}

/* --- enumeration ------------------------------------------------------------------------------ */

static pthread_mutex_t grent_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t grent_index; /* guarded by grent_lock */

NSS_SECTX_EXPORT enum nss_status _nss_sectx_setgrent(int stayopen);
enum nss_status _nss_sectx_setgrent(int stayopen)
{
	if (nss_sectx_lock_bounded(&grent_lock) != 0) {
		return NSS_STATUS_UNAVAIL;
	}
	grent_index = 0;
	pthread_mutex_unlock(&grent_lock);
	return NSS_STATUS_SUCCESS;
}

NSS_SECTX_EXPORT enum nss_status _nss_sectx_endgrent(void);
enum nss_status _nss_sectx_endgrent(void)
{
	return _nss_sectx_setgrent(0);
}

NSS_SECTX_EXPORT enum nss_status _nss_sectx_getgrent_r(struct group *gr, char *buf, size_t buflen,
						       int *errnop);
enum nss_status _nss_sectx_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop)
{
	struct gr_query q = {
	    .name = NULL, .gid = (gid_t)-1, .gr = gr, .buf = buf, .buflen = buflen};
	enum nss_status ret;

	if (nss_sectx_disabled(errnop)) {
		return NSS_STATUS_UNAVAIL;
	}
	if (nss_sectx_lock_bounded(&grent_lock) != 0) {
		*errnop = EAGAIN;
		return NSS_STATUS_TRYAGAIN;
	}
	ret = nss_sectx_ask(SECTX_OP_NSS_ENUM_GROUPS, NULL, SECTX_TAG_INDEX, grent_index,
			    gr_reply_fn, &q, errnop);
	if (ret == NSS_STATUS_SUCCESS) {
		grent_index++;
	}
	pthread_mutex_unlock(&grent_lock);
	return ret;
}

/* --- initgroups ------------------------------------------------------------------------------- */

struct ig_state {
	const char *user;
	gid_t primary;
	long int *start, *size;
	gid_t **groupsp;
	long int limit;
	int full;  /* limit reached */
	int nomem; /* realloc failed */
};

/* Add gid to glibc's array unless it is there already or is the primary. */
SECTX_HOT static int ig_add(void *arg, gid_t gid)
{
	struct ig_state *s = arg;
	long int i;

	if (gid == s->primary || gid == 0) {
		return 0;
	}
	for (i = 0; i < *s->start; i++) {
		if ((*s->groupsp)[i] == gid) {
			return 0;
		}
	}
	if (s->limit > 0 && *s->start >= s->limit) {
		s->full = 1;
		return 1;
	}
	if (*s->start >= *s->size) {
		long int nsize = *s->size > 0 ? *s->size * 2 : 16;
		gid_t *n;

		if (s->limit > 0 && nsize > s->limit) {
			nsize = s->limit;
		}
		n = realloc(*s->groupsp, (size_t)nsize * sizeof(gid_t));
		if (n == NULL) {
			s->nomem = 1;
			return 1;
		}
		*s->groupsp = n;
		*s->size = nsize;
	}
	(*s->groupsp)[(*s->start)++] = gid;
	return 0;
}

SECTX_HOT static enum sectx_nss_cache_result ig_cache_fn(const struct sectx_nss_cache_map *m,
							 int64_t now, void *arg)
{
	struct ig_state *s = arg;

	return sectx_nss_cache_initgroups(m, s->user, now, ig_add, s);
}

static enum nss_status ig_reply_fn(const struct sectx_msg *msg, void *arg, int *errnop)
{
	struct ig_state *s = arg;
	struct sectx_field f;
	size_t pos = 0;
	uint32_t gid;

	while (sectx_msg_next(msg, SECTX_TAG_GID, &pos, &f) == 0) {
		if (sectx_field_u32(&f, &gid) != 0) {
			*errnop = ENOENT;
			return NSS_STATUS_UNAVAIL;
		}
		if (ig_add(s, gid) != 0) {
			break;
		}
	}
	if (s->nomem) {
		*errnop = ENOMEM;
		return NSS_STATUS_TRYAGAIN;
	}
	return NSS_STATUS_SUCCESS;
}

SECTX_HOT NSS_SECTX_EXPORT enum nss_status
_nss_sectx_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
			  gid_t **groupsp, long int limit, int *errnop);
enum nss_status _nss_sectx_initgroups_dyn(const char *user, gid_t group, long int *start,
					  long int *size, gid_t **groupsp, long int limit,
					  int *errnop)
{
	struct ig_state s = {.user = user,
			     .primary = group,
			     .start = start,
			     .size = size,
			     .groupsp = groupsp,
			     .limit = limit};

	if (nss_sectx_disabled(errnop)) {
		return NSS_STATUS_UNAVAIL;
	}
	if (!nss_sectx_name_len_ok(user)) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	switch (nss_sectx_cache_run(ig_cache_fn, &s)) {
	case SECTX_NSS_CACHE_HIT:
		if (s.nomem) {
			*errnop = ENOMEM;
			return NSS_STATUS_TRYAGAIN;
		}
		return NSS_STATUS_SUCCESS;
	case SECTX_NSS_CACHE_NEGATIVE:
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	default:
		break;
	}
	if (!nss_sectx_name_ok(user)) {
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	return nss_sectx_ask(SECTX_OP_NSS_INITGROUPS, user, 0, 0, ig_reply_fn, &s, errnop);
}
