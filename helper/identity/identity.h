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

/* --- the account resolver (account.c) ------------------------------------------------ */

/* Supplementary groups identity_account_groups returns at most. */
#define IDENTITY_ACCOUNT_GROUPS_MAX 1024u

/* A user's account, from the local passwd database (local) or the identity
 * store: copies, owned by the caller (talloc). */
struct identity_account {
	char *name;  /* the name it was asked by; by uid: pw_name, or the store's display name */
	char *alias; /* the store's other name of the user, or NULL */
	uid_t uid;
	gid_t gid;
	char *home; /* "" when the store has none */
	bool local; /* from the local passwd database */
};

/* The account of user name: the local passwd database first, then a realm
 * user the store already knows (stale entries served).  0 with *out (child
 * of mem_ctx); -ENOENT neither knows it (yet: the realm was not asked);
 * -ENOMEM. */
int identity_account_by_name(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, const char *name,
			     struct identity_account **out);
/* The same by uid: the local account of uid, else the realm user mapped to
 * it.  0 with *out (child of mem_ctx), -ENOENT, -ENOMEM. */
int identity_account_by_uid(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx, uid_t uid,
			    struct identity_account **out);
/* The groups of a (the primary group included): getgrouplist for a local
 * account, the store's for a realm user (at most IDENTITY_ACCOUNT_GROUPS_MAX,
 * the rest dropped).  0 with *groups (child of mem_ctx) and *n_groups;
 * -E2BIG a local account in more groups than that; -ENOMEM. */
int identity_account_groups(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
			    const struct identity_account *a, gid_t **groups, size_t *n_groups);

/* identity_account_by_name, and when neither source knows the name yet, ask
 * the store to check it with the realm (identity_lookup_send, charged to the
 * helper: uid 0).  When passwd or the store answers at once the request is
 * already finished when this returns (tevent_req_is_in_progress() false):
 * the caller may _recv it immediately instead of waiting for the loop.
 * NULL when out of memory. */
struct tevent_req *identity_account_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					 const char *name);
/* 0 with *out (child of mem_ctx); -ENOENT (no such user), -EBUSY,
 * -EHOSTUNREACH (as identity_lookup_recv), -ENOMEM. */
int identity_account_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
			  struct identity_account **out);

#endif /* SECTX_IDENTITY_SERVICE_H */
