/*
 * identity/identity.h - the identity subsystem of sectxd as the rest of the
 * helper sees it: its subsystem hooks, its lookups (which may wait for an
 * existence check) and the cache flush.  The store itself is store.h.
 *
 * Who reaches this: nss_ops.c on behalf of any local user (lookups) and of
 * root (flush, id-map).  Lookups never block the event loop: an existence
 * check is an asynchronous request to the S4U2Self worker, rate-limited per
 * caller uid and shared by every lookup of the same principal.
 */
#ifndef SECTX_IDENTITY_SERVICE_H
#define SECTX_IDENTITY_SERVICE_H

#include <stdint.h>
#include <sys/types.h>
#include <talloc.h>
#include <tevent.h>

#include "identity/store.h"
#include "core/daemon.h"

extern const struct sectxd_subsystem sectxd_identity_subsystem; /* service.c */

enum identity_kind {
	IDENTITY_USER_BY_NAME,
	IDENTITY_USER_BY_UID,
	IDENTITY_GROUP_BY_NAME,
	IDENTITY_GROUP_BY_GID,
};

/* Look up a user or group (name for the BY_NAME kinds, id otherwise) for a
 * caller of uid caller. */
struct tevent_req *identity_lookup_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					enum identity_kind kind, const char *name, uint32_t id,
					uid_t caller);
/* 0 with *lk filled (pointers valid until control returns to the event
 * loop) and *ttl the seconds the answer may be cached; -ENOENT (no such
 * entry); -EBUSY (the caller's uid is over its rate of existence checks);
 * -EHOSTUNREACH (the realm could not be asked and nothing is known). */
int identity_lookup_recv(struct tevent_req *req, struct id_lookup *lk, uint32_t *ttl);

/* The current store (for synchronous reads: initgroups, enumeration, id-map). */
struct id_store *identity_store(struct sectxd_ctx *hctx);

/* Forget existence checks and negative entries, flag the published cache
 * stale at once, and finish when a fresh file is in place. */
struct tevent_req *identity_flush_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx);
/* 0 with the generation published, or -errno. */
int identity_flush_recv(struct tevent_req *req, uint64_t *generation);

#endif /* SECTX_IDENTITY_SERVICE_H */
