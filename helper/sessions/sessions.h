/*
 * sessions/sessions.h - the sessions subsystem's API: login handles
 * (handles.c) and the sessions whose TGT is renewed (renewal.c, with
 * renew_cycle.c, renew_worker.c and sessions_file.c; what only they share is
 * in sessions_int.h).
 */
#ifndef SECTX_SESSIONS_H
#define SECTX_SESSIONS_H

/* --- login handles (handles.c) ---------------------------------------------- */
/*
 * Login handles: the TGT of a login kept in the helper until the session
 * claims it, and the sessions that hold a written ccache.
 *
 * A handle is 256 random bits, bound to the user, service and remote host of
 * the authentication, usable only for that user, and dropped after
 * [kerberos] handle_lifetime unless a session claims it.  Whoever presents
 * the handle gets nothing but the right to have that user's own ccache
 * written for that user; the binding checks happen in ops/.  TGTs live
 * only in memory here, freed (and their keys wiped by libkrb5) with the
 * handle.  The failed-login throttle is login/throttle.c (login/login.h).
 */

#include <krb5.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/daemon.h"

#define SECTX_HANDLES_MAX      4096 /* live handles, all users */
#define SECTX_HANDLES_PER_USER 64   /* live handles of one user */

struct sectx_handle {
	struct sectx_handle *prev, *next;
	char id[SECTX_HANDLE_LEN + 1];
	char *user;
	char *service;
	char *rhost;
	krb5_principal principal;
	krb5_creds *creds; /* the TGT, or a kadmin/changepw ticket when expired */
	bool expired;	   /* the password must be changed before a session */
	bool claimed;	   /* a session holds it: no expiry */
	char *ccache;	   /* the ccache written for the session */
	uid_t uid;	   /* the user's uid and gid, when claimed */
	gid_t gid;
	int64_t created_ms;
	krb5_timestamp pw_expiry; /* from the AS exchange; 0: not told */
	krb5_timestamp acct_expiry;
	struct tevent_timer *expiry;
};

extern const struct sectxd_subsystem sectxd_creds_subsystem;

/* Store creds (taken over: freed with the handle) for user.  Returns 0 and
 * the new handle (owned by the store), or -ENOMEM / -EAGAIN (caps). */
int sectx_handle_new(struct sectxd_ctx *hctx, const char *user, const char *service,
		     const char *rhost, krb5_const_principal principal, krb5_creds *creds,
		     bool expired, struct sectx_handle **out);
/* The handle with this id, or NULL.  Compares in constant time. */
struct sectx_handle *sectx_handle_find(struct sectxd_ctx *hctx, const char *id);
/* Replace the credentials of h (taken over) and clear or set expired. */
void sectx_handle_set_creds(struct sectxd_ctx *hctx, struct sectx_handle *h, krb5_creds *creds,
			    bool expired);
/* A session holds h now: it no longer expires. */
void sectx_handle_claim(struct sectx_handle *h);
/* Forget h and its credentials. */
void sectx_handle_drop(struct sectxd_ctx *hctx, struct sectx_handle *h);
/* The live handles, oldest first (follow ->next), or NULL; and how many. */
struct sectx_handle *sectx_handles_head(struct sectxd_ctx *hctx);
size_t sectx_handles_count(struct sectxd_ctx *hctx);

/* --- renewal (renewal.c) ----------------------------------------------------- */
/*
 * The registry of open sessions whose TGT sectxd renews.
 *
 * open_session (or setcred ESTABLISH) registers a session once its ccache is
 * written: user, uid, gid and groups, the ccache name, the principal, the
 * TGT's end and renew-till times, and the session's id (SHA-256 of its
 * login handle: the handle itself never reaches a file).  Before the TGT
 * expires ([kerberos] renew_interval, or at half the lifetime left) the
 * helper reads the ccache as the user (is it still there, with this
 * principal?), renews the TGT with the KDC (KDC_OPT_RENEW, in a worker
 * process killed at the deadline: libkrb5 has no step API for renewal), and
 * rewrites the ccache as the user through the ccache writer.  Renewal stops
 * at close_session, when the renewable lifetime ends, or when the cache no
 * longer holds the session's principal (kdestroy, kinit as someone else); a
 * failed renewal is logged and retried with backoff.
 *
 * The TGT is kept in memory from session open; after a helper restart it is
 * read back from the user's ccache by the writer, as the user, never as
 * root.  The sessions (metadata only, never a ticket) persist in
 * <state_dir>/sessions (sessions_file.c), so a restarted helper picks them up.
 *
 * Who reaches this: the PAM ops (ops/), for sessions they have authorised; nothing here
 * is reachable by a peer directly.  What a user can make it do: renew their
 * own TGT and rewrite their own cache, as themselves.
 */

#include <stdbool.h>
#include <talloc.h>
#include <tevent.h>

#include "ccache_writer/ccache_writer.h"
#include "core/daemon.h"
#include "core/state_file.h"

#define SECTX_RENEW_SESSIONS_MAX 4096u /* sessions registered, all users */
#define SECTX_RENEW_PER_USER	 64u   /* of one user: the oldest goes first */
#define SECTX_RENEW_GROUPS_MAX	 1024u /* groups remembered per session */
#define SECTX_RENEW_FILE	 "sessions"
#define SECTX_RENEW_FILE_KIND	 SECTX_STATE_KIND('S', 'E', 'S', 'S')
#define SECTX_RENEW_FILE_VERSION 1u
#define SECTX_RENEW_FILE_MAX	 (64u * 1024u * 1024u)
#define SECTX_RENEW_RETRY_MIN_MS 5000	/* first retry after a failure ... */
#define SECTX_RENEW_RETRY_MAX_MS 300000 /* ... doubling up to this */

extern const struct sectxd_subsystem sectxd_renewal_subsystem;

/* The session of handle h has just had its ccache written as who: renew its
 * TGT from now on (if it is renewable; otherwise nothing happens).  Copies
 * what it needs (the TGT too); logs its own failures. */
void sectx_renewal_register(struct sectxd_ctx *hctx, const struct sectx_handle *h,
			    const struct sectx_writer_user *who);

/* The session of handle id handle is closing (close_session, setcred
 * DELETE): stop renewing it and forget it.  Unknown handles are ignored. */
void sectx_renewal_unregister(struct sectxd_ctx *hctx, const char *handle, const char *why);

/* close_session for a handle the credential store does not know, because the
 * helper restarted since the session opened: if a registered session has
 * this handle, user, service and remote host, stop renewing it and, unless
 * retain, destroy its ccache as the user (only if it still holds the
 * session's principal).  Returns NULL if there is no such session (or no
 * memory): the caller answers as before.  Result: sectx_renewal_close_recv. */
struct tevent_req *sectx_renewal_close_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
					    const char *handle, const char *user,
					    const char *service, const char *rhost, bool retain);

/* 0 (closed; the cache destroyed, kept, or already gone) or -errno. */
int sectx_renewal_close_recv(struct tevent_req *req);

/* --- queries (sessions_query.c) --------------------------------------------- */

/* One open session as sectxctl tickets shows it; strings valid during the
 * callback only. */
struct sectx_session_info {
	uid_t uid;
	const char *user, *service, *ccache, *principal;
	int64_t endtime, renew_till; /* seconds since the epoch; 0: unknown */
	int64_t last_renewal;	     /* 0: not renewed yet by this sectxd */
};
typedef void (*sectx_session_fn)(void *arg, const struct sectx_session_info *si);

/* Call fn for every open session: those registered for renewal, then the
 * claimed handles of sessions that are not.  Returns how many. */
size_t sectx_sessions_list(struct sectxd_ctx *hctx, sectx_session_fn fn, void *arg);

#endif /* SECTX_SESSIONS_H */
