/*
 * nss_sectx.h - the parts of libnss_sectx shared by its lookup files.
 *
 * libnss_sectx.so.2 is loaded by glibc into every process on the host that
 * resolves a user or group: sshd before authentication, ls, ps, id, PID 1.
 * Who can reach it: any program, with any environment, any euid, any number
 * of threads, forking at any moment.  What it can make it do: look names and
 * ids up in the read-only cache sectxd publishes, or ask sectxd over nss.sock.
 * It must never block longer than NSS_SECTX_DEADLINE_MS, never call NSS
 * itself (no recursion through getpwnam), never crash on what the cache file
 * or the helper holds, never use anything but libc, and never export a
 * symbol other than the _nss_sectx_* entry points (exports.map).
 */
#ifndef NSS_SECTX_H
#define NSS_SECTX_H

#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/types.h>

#include "nss_cache.h"
#include "proto.h"

#define NSS_SECTX_EXPORT __attribute__((visibility("default")))

/* Longest a lookup may take, helper included. */
#define NSS_SECTX_DEADLINE_MS 3000
/* Views tried when the cache is replaced during a lookup. */
#define NSS_SECTX_REMAP_TRIES 3
/* After failing to get the helper's memfd (no helper, foreign, corrupt):
 * do not ask again for this long; lookups use a fallback (a RETIRED memfd,
 * a copy of the file) or go to the helper meanwhile. */
#define NSS_SECTX_RETRY_MAP_MS 100
/* After the helper said it is republishing (a flush): look again after
 * this long. */
#define NSS_SECTX_RETRY_STALE_MS 5
/* A miss on a memfd that has not been checked for this long asks
 * cache.sock whether another is current (a killed helper's successor). */
#define NSS_SECTX_RECHECK_MS 1000
/* Longest wait for cache.sock's answer before falling back. */
#define NSS_SECTX_FETCH_MS 250
/* Largest cache file copied into a process when the helper is away. */
#define NSS_SECTX_COPY_MAX (64u << 20)

/* True inside sectxd (or when the caller asked for it): answer UNAVAIL
 * without touching the helper.  Sets *errnop. */
int nss_sectx_disabled(int *errnop);

/* --- the mapped cache (cache_map.c) ----------------------------------------------------------- */

/* One lookup on the current mapping at time now (CLOCK_REALTIME seconds). */
typedef enum sectx_nss_cache_result (*nss_sectx_cache_fn)(const struct sectx_nss_cache_map *m,
							  int64_t now, void *arg);

/* Run fn on the current cache, getting (or replacing) the view of it as
 * needed: the helper's sealed memfd, or a private copy of the cache file
 * when the helper cannot be reached.  Never blocks on a lock (a swap in
 * progress elsewhere makes this a MISS) nor longer than NSS_SECTX_FETCH_MS
 * on cache.sock, makes no system call on a hit or a negative answer from a
 * current memfd, and returns MISS when there is no usable cache. */
enum sectx_nss_cache_result nss_sectx_cache_run(nss_sectx_cache_fn fn, void *arg);

/* Map fd as the module maps what cache.sock hands out, checks included
 * (read-only, sealed, root's, size): 0 with *m (release with
 * munmap(m->base, m->size)), or -errno.  Not exported (exports.map): for the
 * unit tests. */
int nss_sectx_map_sealed(int fd, struct sectx_nss_cache_map *m);

/* Drop the current view and forget every back-off (unit tests). */
void nss_sectx_cache_drop(void);

/* Whether a cache result settles a lookup: a hit (SUCCESS), a negative
 * record (NOTFOUND/ENOENT) or a buffer too small (TRYAGAIN/ERANGE) do, with
 * *status and *errnop set; a miss does not (ask the helper).  Inline: it is
 * on the hit path. */
static inline int nss_sectx_cache_settles(enum sectx_nss_cache_result r, enum nss_status *status,
					  int *errnop)
{
	switch (r) {
	case SECTX_NSS_CACHE_HIT:
		*status = NSS_STATUS_SUCCESS;
		return 1;
	case SECTX_NSS_CACHE_NEGATIVE:
		*errnop = ENOENT;
		*status = NSS_STATUS_NOTFOUND;
		return 1;
	case SECTX_NSS_CACHE_ERANGE:
		*errnop = ERANGE;
		*status = NSS_STATUS_TRYAGAIN;
		return 1;
	default:
		return 0;
	}
}

/* --- the helper (conn.c) ---------------------------------------------------------------------- */

/* Fill the caller's result from a reply that said OK.  Returns an nss
 * status and sets *errnop (ERANGE with NSS_STATUS_TRYAGAIN for a small
 * buffer). */
typedef enum nss_status (*nss_sectx_reply_fn)(const struct sectx_msg *msg, void *arg, int *errnop);

/* Ask the helper: op with a NAME field (name != NULL) or a u32 field
 * (id_tag, id).  On an OK reply calls fn; E_NOTFOUND is NOTFOUND/ENOENT;
 * E_BUSY TRYAGAIN/EAGAIN; anything else, an absent helper or the deadline
 * passing UNAVAIL/ENOENT.  Thread-safe: one connection per process, reopened
 * after fork or a change of euid, waited for no longer than the deadline. */
enum nss_status nss_sectx_ask(uint16_t op, const char *name, uint16_t id_tag, uint32_t id,
			      nss_sectx_reply_fn fn, void *arg, int *errnop);

/* Lock m (an enumeration cursor's lock), waiting no longer than the NSS
 * deadline.  0, or the error of pthread_mutex_clocklock (ETIMEDOUT). */
int nss_sectx_lock_bounded(pthread_mutex_t *m);

/* --- filling results (passwd.c, group.c) ------------------------------------------------------ */

/* A name the helper could know: 1..SECTX_NAME_MAX bytes of valid UTF-8 with
 * no control character.  Others are NOTFOUND without asking.  The cache is
 * searched after the length check alone (a byte comparison cannot be fooled
 * by an invalid string); the full check comes before anything is sent. */
int nss_sectx_name_len_ok(const char *name);
int nss_sectx_name_ok(const char *name);

/* The current time for cache expiry (CLOCK_REALTIME_COARSE: vDSO, no
 * system call). */
int64_t nss_sectx_now(void);

#endif /* NSS_SECTX_H */
