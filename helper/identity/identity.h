/*
 * identity/identity.h - the identity subsystem of sectxd as the rest of the
 * helper sees it: its subsystem hooks, its lookups (which may wait for an
 * existence check) and the cache flush.  The store itself is store.h.
 *
 * Who reaches this: ops/nss.c on behalf of any local user (lookups) and of
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

/* id_store_forget on the current store, and publish the change.  Returns
 * true if the store had anything cached about name (store_query.c). */
bool identity_forget(struct sectxd_ctx *hctx, const char *name);

/* --- the account resolver (account.c, its threads account_threads.c) ------------------ */

/*
 * Which local account a user name or a uid is: the local passwd database
 * first, then the identity store.  The glibc lookups (getpwnam_r,
 * getpwuid_r, getgrouplist, getgrgid_r) may wait on a remote source (LDAP,
 * NIS): they never run on the event loop but on at most
 * IDENTITY_ACCOUNT_THREADS_MAX threads, each lookup bounded by a deadline of
 * half [sectxd] client_timeout (so that a failure still reaches a client
 * that waits), at most IDENTITY_ACCOUNT_QUEUE_MAX waiting for a thread.
 * Identical lookups waiting at the same time share one thread.  The store is
 * read on the loop, as before.  A request freed while its lookup runs only
 * drops the result when the thread is done.  Every _recv may also return
 * -ETIMEDOUT (the deadline passed: the answer is unknown, never taken as
 * "no such user"), -EBUSY (too many lookups waiting) or -ECANCELED (the
 * identity subsystem stopped).
 */

/* Supplementary groups identity_account_groups_recv returns at most. */
#define IDENTITY_ACCOUNT_GROUPS_MAX 1024u
/* glibc lookups running at once (threads). */
#define IDENTITY_ACCOUNT_THREADS_MAX 4u
/* glibc lookups waiting for a thread. */
#define IDENTITY_ACCOUNT_QUEUE_MAX 128u
/* An idle thread exits after this long. */
#define IDENTITY_ACCOUNT_IDLE_MS 30000u

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
 * user the store already knows (stale entries served); the realm is not
 * asked.  Never finished when it returns. */
struct tevent_req *identity_account_by_name_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
						 const char *name);
/* 0 with *out (child of mem_ctx); -ENOENT neither knows it; -ENOMEM, or an
 * error of the threads (above). */
int identity_account_by_name_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
				  struct identity_account **out);

/* The same by uid: the local account of uid, else the realm user mapped to
 * it (named by its display name). */
struct tevent_req *identity_account_by_uid_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
						uid_t uid);
/* As identity_account_by_name_recv. */
int identity_account_by_uid_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
				 struct identity_account **out);

/* The account of name in the local passwd database only (the store is not
 * asked). */
struct tevent_req *identity_local_account_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					       const char *name);
/* As identity_account_by_name_recv (-ENOENT: passwd does not know it). */
int identity_local_account_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
				struct identity_account **out);

/* The groups of a (the primary group included): getgrouplist for a local
 * account, the store's for a realm user (at most IDENTITY_ACCOUNT_GROUPS_MAX,
 * the rest dropped).  a is copied. */
struct tevent_req *identity_account_groups_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
						const struct identity_account *a);
/* 0 with *groups (child of mem_ctx) and *n_groups; -E2BIG a local account
 * in more groups than that; -ENOMEM, or an error of the threads. */
int identity_account_groups_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, gid_t **groups,
				 size_t *n_groups);

/* The names of n groups (n <= IDENTITY_ACCOUNT_GROUPS_MAX): each gid as the
 * local group database names it, else as the identity store does.  gids
 * is copied. */
struct tevent_req *identity_group_names_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					     const gid_t *gids, size_t n);
/* 0 with *names (child of mem_ctx, n entries in the order asked, NULL for a
 * gid neither knows); -EINVAL n too large; -ENOMEM, or an error of the
 * threads. */
int identity_group_names_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, char ***names);

/* identity_account_by_name_send, and when neither source knows the name yet, ask
 * the store to check it with the realm (identity_lookup_send, charged to the
 * helper: uid 0).  NULL when out of memory. */
struct tevent_req *identity_account_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					 const char *name);
/* 0 with *out (child of mem_ctx); -ENOENT (no such user), -EBUSY,
 * -EHOSTUNREACH (as identity_lookup_recv), -ENOMEM, or an error of the
 * threads. */
int identity_account_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx,
			  struct identity_account **out);

/* Is a directory configured ([directory] base set)? */
bool identity_directory_configured(const struct sectx_config *cfg);

/* Does the directory entry of user name match [directory] access_filter?
 * NULL when out of memory; without a directory or a filter it matches. */
struct tevent_req *identity_access_filter_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					       const char *name);
/* 0 with *ok; -EHOSTUNREACH (no directory server answered), -EPROTO,
 * -ENOMEM. */
int identity_access_filter_recv(struct tevent_req *req, bool *ok);

/* What the lookup threads are doing (status, tests). */
struct identity_account_stats {
	unsigned threads;   /* started and not exited */
	unsigned running;   /* of them, running a lookup */
	unsigned queued;    /* lookups waiting for a thread */
	uint64_t lookups;   /* lookups started on a thread */
	uint64_t shared;    /* requests that joined a lookup already waiting or running */
	uint64_t timed_out; /* requests whose deadline passed */
	uint64_t refused;   /* requests refused: queue full */
	uint64_t dropped;   /* results that came back with no request left */
};
/* Fill *st (zeros before the first lookup). */
void identity_account_stats(struct sectxd_ctx *hctx, struct identity_account_stats *st);

#endif /* SECTX_IDENTITY_SERVICE_H */
