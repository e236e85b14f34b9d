/*
 * credstore.h - login handles: the TGT of a login kept in the helper until
 * the session claims it, and the sessions that hold a written ccache.
 *
 * A handle is 256 random bits, bound to the user, service and remote host of
 * the authentication, usable only for that user, and dropped after
 * [kerberos] handle_lifetime unless a session claims it.  Whoever presents
 * the handle gets nothing but the right to have that user's own ccache
 * written for that user; the binding checks happen in pam_ops.c.  TGTs live
 * only in memory here, freed (and their keys wiped by libkrb5) with the
 * handle.  Failed logins are counted per user and per calling uid (each
 * attempt as it starts, given back if it turns out not to be a failure),
 * and further attempts delayed, before they reach the KDC.
 */
#ifndef SECTX_CREDSTORE_H
#define SECTX_CREDSTORE_H

#include <krb5.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sectxd.h"

#define SECTX_HANDLES_MAX      4096 /* live handles, all users */
#define SECTX_HANDLES_PER_USER 64   /* live handles of one user */
#define SECTX_THROTTLE_ENTRIES 4096 /* users and uids remembered */

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

/* sectx_throttle_delay and _try_begin: no penalty, but as many attempts of
 * the user are in flight as may be; wait until one ends. */
#define SECTX_THROTTLE_BUSY (-1)

/* How long (ms) the next login for user from uid must wait; 0: at once;
 * SECTX_THROTTLE_BUSY: until an attempt in flight ends.
 * Attempts begun and not yet ended are not failures, but no more of them may
 * run at once than free failures are left (see delay_for in credstore.c). */
int64_t sectx_throttle_delay(struct sectxd_ctx *hctx, const char *user, uid_t uid);

/* How an attempt ended. */
enum sectx_throttle_outcome {
	SECTX_THROTTLE_FAILED,	/* the password (or ticket) was refused: stays counted */
	SECTX_THROTTLE_OK,	/* accepted: clears the user's count, gives back the uid's */
	SECTX_THROTTLE_UNTRIED, /* undecided (no KDC answered, internal error): given back */
};
/* An attempt for user from uid starts, right after sectx_throttle_delay said
 * 0: it is in flight until it ends, and the attempts in flight plus the
 * failures may not exceed the free failures, so attempts made in parallel
 * meet the delay as serial ones do instead of all passing the check before
 * the first result is in.  Each begin is followed by exactly one
 * sectx_throttle_end; an attempt abandoned in between (caller gone) is ended
 * by its owner as FAILED: the KDC may have seen it. */
void sectx_throttle_begin(struct sectxd_ctx *hctx, const char *user, uid_t uid);
/* Check and begin in one: 0 and the attempt has begun (sectx_throttle_begin),
 * or how long (ms) it must still wait (or SECTX_THROTTLE_BUSY), nothing
 * counted.  Check again after
 * the wait: attempts begun meanwhile may have made it longer. */
int64_t sectx_throttle_try_begin(struct sectxd_ctx *hctx, const char *user, uid_t uid);
void sectx_throttle_end(struct sectxd_ctx *hctx, const char *user, uid_t uid,
			enum sectx_throttle_outcome outcome);
/* Wait as sectx_throttle_try_begin said: call fn(ev, NULL, now, arg) after
 * delay_ms (SECTX_THROTTLE_BUSY: a second at most), or as soon as an attempt
 * of user ends (then check again: it may
 * have to wait longer).  Returns the wait, a child of mem_ctx (free it to
 * cancel; it is gone once fn runs), or NULL if out of memory. */
void *sectx_throttle_wait(struct sectxd_ctx *hctx, TALLOC_CTX *mem_ctx, const char *user,
			  int64_t delay_ms, tevent_timer_handler_t fn, void *arg);

#endif /* SECTX_CREDSTORE_H */
