/*
 * login/login.h - sectxd's Kerberos engine: the krb5 context, non-blocking
 * KDC exchanges on the event loop, and the login (AS exchange + validation).
 *
 * libkrb5's blocking calls have no bound on their send loop and cannot be
 * cancelled, so the engine drives MIT's step APIs (krb5_init_creds_step,
 * krb5_tkt_creds_step) and does the KDC I/O itself on the tevent loop: the
 * loop never waits on a KDC, every exchange has a deadline, and freeing a
 * request cancels it.  Only kpasswd, which has no step API, runs in a forked
 * worker that is killed at its deadline.
 *
 * Trust: requests arrive from the ops (ops/), already authorised.  Passwords are
 * held only in scrubbed buffers for the length of one request; TGTs stay in
 * memory (krb5_creds) and are never written to the helper's own files.
 */
#ifndef SECTX_KRB5_ENGINE_H
#define SECTX_KRB5_ENGINE_H

#include <krb5.h>
#include <stdbool.h>
#include <stdint.h>
#include <talloc.h>
#include <tevent.h>

#include "core/daemon.h"

#define SECTX_KDC_REPLY_MAX	(256u * 1024u) /* largest KDC reply we read */
#define SECTX_KDC_STAGGER_MS	1000	       /* try the next KDC after this */
#define SECTX_KDC_UDP_MAX	1465u	       /* larger requests go by TCP (MIT's default) */
#define SECTX_KDC_UDP_REPLY_MAX 65536u	       /* a datagram cannot be larger */

/* FAST armour: a host TGT from the keytab in a MEMORY ccache.  Shared by the
 * logins that armour with it (libkrb5 reads the ccache during the whole
 * exchange), so it is reference-counted: replaced in sectxd_krb5 when it
 * nears its end, destroyed when the last login holding it is done. */
struct sectx_armor {
	krb5_context ctx;
	krb5_ccache cc;
	krb5_timestamp end;
	unsigned refs;
};

/* Drop one reference to a (NULL is fine). */
void sectx_armor_release(struct sectx_armor *a);

/* Told of the outcome of every KDC exchange, as sectx_kdc_recv ends it:
 * realm is the exchange's, err 0 when a KDC answered (sectxd_krb5.last_kdc
 * names it) or the -errno of sectx_kdc_recv.  The offline subsystem
 * registers one at start, so the engine never calls up into it. */
typedef void (*sectx_kdc_observer_fn)(void *data, const krb5_data *realm, int err);

struct sectxd_krb5 {
	krb5_context ctx;
	char *last_kdc;			/* "host:port" of the last KDC that answered */
	char *last_error;		/* last KDC-level failure, for status */
	struct sectx_armor *armor;	/* the current armour (one reference), or NULL */
	sectx_kdc_observer_fn observer; /* told of every exchange's outcome, or NULL */
	void *observer_data;
	struct sectx_kdc_cache *kdc_cache; /* realms' KDC addresses (kdc_cache.c), or NULL */
};

extern const struct sectxd_subsystem sectxd_krb5_subsystem;

/* --- kdc_io.c --------------------------------------------------------------- */

/* Send msg to a KDC of realm and return its reply.  KDCs come from the
 * krb5.conf profile ([realms] REALM kdc = host[:port]); they are tried by UDP
 * (a message of at most SECTX_KDC_UDP_MAX bytes, unless tcp_only) and then
 * TCP, the next attempt started after SECTX_KDC_STAGGER_MS or at once when
 * one fails, the first complete answer wins.  Fails with ETIMEDOUT at
 * deadline (monotonic ms), ECONNREFUSED when every attempt was refused,
 * ENOENT when the realm has no KDC configured. */
struct tevent_req *sectx_kdc_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				  struct sectxd_krb5 *k, const krb5_data *realm,
				  const krb5_data *msg, bool tcp_only, int64_t deadline);
/* The reply, allocated on mem_ctx.  0 or -errno.  Every outcome is also
 * reported to the observer (sectx_kdc_set_observer), if one is set. */
int sectx_kdc_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, uint8_t **reply, size_t *reply_len);

/* Forget every realm's KDC addresses (kdc_cache.c): the next exchange reads
 * krb5.conf again.  Called when the configuration is reloaded. */
void sectx_kdc_cache_flush(struct sectxd_krb5 *k);

/* Set (fn non-NULL) or clear (NULL) the one observer of KDC exchanges. */
void sectx_kdc_set_observer(struct sectxd_krb5 *k, sectx_kdc_observer_fn fn, void *data);

/* --- login.c ---------------------------------------------------------------- */

enum sectx_login_result {
	SECTX_LOGIN_OK = 0,
	SECTX_LOGIN_EXPIRED, /* password expired, and the password typed is right */
	SECTX_LOGIN_BAD_PASSWORD,
	SECTX_LOGIN_UNKNOWN,  /* no such principal */
	SECTX_LOGIN_DISABLED, /* revoked, locked out, or principal expired */
	SECTX_LOGIN_UNAVAIL,  /* no KDC answered in time */
	SECTX_LOGIN_INVALID,  /* TGT validation with the host key failed */
	SECTX_LOGIN_ERROR,    /* anything else: fail closed */
};

struct sectx_login_out {
	enum sectx_login_result result;
	krb5_creds *creds;	    /* the validated TGT (OK) or a kadmin/changepw ticket
				     * (EXPIRED); free with krb5_free_creds */
	char *message;		    /* for the log: the Kerberos error text, never a secret */
	krb5_timestamp pw_expiry;   /* when the password expires (0: not told) */
	krb5_timestamp acct_expiry; /* when the principal expires (0: not told) */
};

/* Authenticate principal with password: AS exchange (with FAST armour per
 * [kerberos] fast), then, for a TGT and [kerberos] validate, validation with
 * a host key from the keytab.  If the KDC says the password has expired, the
 * password is verified by obtaining a kadmin/changepw ticket instead.  The
 * password is copied into a scrubbed buffer; the caller may wipe its own at
 * once.  service: NULL for a TGT, or "kadmin/changepw". */
struct tevent_req *sectx_login_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				    struct sectxd_ctx *hctx, krb5_const_principal client,
				    const char *password, size_t password_len, const char *service,
				    int64_t deadline);
/* 0 and *out filled (out->creds owned by the caller), or -errno for a
 * failure of the helper itself (ENOMEM). */
int sectx_login_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct sectx_login_out *out);

/* --- keytab.c -------------------------------------------------------------- */

/* The principal of realm that logins validate with: the first host/ entry of
 * the keytab file (a keytab name such as FILE:/etc/krb5.keytab or a path),
 * else its first entry of realm.  0 with *out (krb5_free_principal), or a
 * krb5 error (KRB5_KT_NOTFOUND: none of realm). */
krb5_error_code sectx_keytab_first_principal(krb5_context ctx, const char *keytab,
					     const char *realm, krb5_principal *out);

/* --- tgs.c ----------------------------------------------------------------- */

/* A ticket for server with the TGT in cc (a MEMORY ccache of the caller),
 * by a TGS exchange on the loop, stored into cc (libkrb5 stores it under the
 * requested name too), so that a GSS-API initiator on cc finds it there and
 * never waits on a KDC itself.  Used by the context init steps. */
struct tevent_req *sectx_tgs_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				  struct sectxd_krb5 *k, krb5_ccache cc,
				  krb5_const_principal server, int64_t deadline);
/* 0 when the ticket is in cc; -EIO with *kerr the Kerberos error when the
 * KDC refused; another -errno (-ETIMEDOUT, -ECONNREFUSED, -ENOENT: no KDC
 * configured, -ENOMEM) when no KDC answered by the deadline. */
int sectx_tgs_recv(struct tevent_req *req, krb5_error_code *kerr);

/* --- passwd.c -------------------------------------------------------------- */

/* Change the password with a kadmin/changepw ticket (kpasswd protocol) in a
 * worker process killed at deadline.  On 0, *result_code is the kpasswd
 * result (0 = changed) and *text the server's explanation (policy, quality);
 * else -errno: -ETIMEDOUT when the worker was killed at deadline, -EPROTO,
 * -ENOMEM, -EIO. */
struct tevent_req *sectx_chpw_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				   struct sectxd_ctx *hctx, krb5_creds *changepw_creds,
				   const char *new_password, size_t new_len, int64_t deadline);
int sectx_chpw_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, int *result_code, char **text);

/* --- throttle.c ------------------------------------------------------------ */

/* Failed logins are counted per user and per calling uid (each attempt as it
 * starts, given back if it turns out not to be a failure), and further
 * attempts delayed, before they reach the KDC.  The counts live in the
 * helper's memory only (struct sectx_throttle, sectxd_throttle_subsystem).
 * Every password or ticket check of the PAM ops goes through it: auth, the
 * old password of a change, authentication by tickets.
 *
 * A delayed attempt waits on a bounded queue, never past its client's
 * deadline: one that cannot start in time, or finds the queue full, is
 * answered at once and never reaches the KDC. */

#define SECTX_THROTTLE_ENTRIES 4096 /* users and uids remembered */
/* attempts waiting (each holds a connection), of one user or one uid but
 * root, and in all; both at most half of [sectxd] max_connections_per_uid */
#define SECTX_THROTTLE_QUEUE_USER 32
#define SECTX_THROTTLE_QUEUE_MAX  128
/* a wait ends this long before its client's deadline at the latest: time
 * left for the attempt itself and its answer */
#define SECTX_THROTTLE_REPLY_MS 500

extern const struct sectxd_subsystem sectxd_throttle_subsystem;

/* sectx_throttle_delay and _try_begin: no penalty, but as many attempts of
 * the user are in flight as may be; wait until one ends. */
#define SECTX_THROTTLE_BUSY (-1)

/* How long (ms) the next login for user from uid must wait; 0: at once;
 * SECTX_THROTTLE_BUSY: until an attempt in flight ends.
 * Attempts begun and not yet ended are not failures, but no more of them may
 * run at once than free failures are left (see delay_for in throttle.c). */
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
/* The attempt for user from uid begun by sectx_throttle_begin (or _try_begin)
 * ended with outcome; wakes the oldest waiter of the user (sectx_throttle_wait). */
void sectx_throttle_end(struct sectxd_ctx *hctx, const char *user, uid_t uid,
			enum sectx_throttle_outcome outcome);
/* Wait as sectx_throttle_try_begin said for an attempt of user from uid
 * whose client waits for its answer until deadline (monotonic ms): call
 * fn(ev, NULL, now, arg) after delay_ms (SECTX_THROTTLE_BUSY: a second at
 * most), as soon as an attempt of user ends, or SECTX_THROTTLE_REPLY_MS
 * before deadline, whichever is first; then check again (it may have to wait
 * longer, or be too late).
 * Returns 0 and *wait, a child of mem_ctx (free it to cancel: it leaves the
 * queue; it is gone once fn runs); or, with *wait NULL and fn never called:
 *   -ETIMEDOUT  the wait cannot end SECTX_THROTTLE_REPLY_MS before deadline
 *               (a delay after failures that outlasts it, or still BUSY
 *               then): answer the client now;
 *   -EBUSY      SECTX_THROTTLE_QUEUE_USER attempts of user (or of uid, if
 *               not root) or SECTX_THROTTLE_QUEUE_MAX in all wait already
 *               (fewer under a small max_connections_per_uid): answer the
 *               client now;
 *   -ENOMEM.
 * The refusals are logged here, one line every few seconds at most with a
 * count of the others. */
int sectx_throttle_wait(struct sectxd_ctx *hctx, TALLOC_CTX *mem_ctx, const char *user, uid_t uid,
			int64_t delay_ms, int64_t deadline, tevent_timer_handler_t fn, void *arg,
			void **wait);
/* How many attempts wait (sectx_throttle_wait): of user, or in all (NULL). */
unsigned sectx_throttle_waiting(struct sectxd_ctx *hctx, const char *user);

#endif /* SECTX_KRB5_ENGINE_H */
