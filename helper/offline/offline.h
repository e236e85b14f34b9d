/*
 * offline/offline.h - the offline subsystem's API: is the realm reachable
 * (realm_state.c), and the cached credentials that log users in while it is
 * not (offline_cache.c, with its KDF threads in kdf.c and its files in
 * cache_file.c; what only those share is in offline_int.h).
 */
#ifndef SECTX_OFFLINE_H
#define SECTX_OFFLINE_H

/* ======== realm state (realm_state.c) ======== */
/*
 * Is the realm reachable?  The helper's online/offline state
 * for its one realm, fed by every KDC exchange and by a background probe.
 *
 * The realm goes offline when an exchange ends because no KDC could be
 * reached (every attempt timed out or was refused); it comes back online on
 * the first answer from any KDC, whatever the answer says.  A KDC's error
 * reply (wrong password, unknown principal) is an answer: it never makes the
 * realm offline, so a wrong password can never be taken for "offline".
 * While offline, logins do not wait for the KDC timeout again: ops/pam_auth.c
 * asks sectx_realm_is_offline() first, and a probe (an AS-REQ whose answer,
 * of any kind, is all that matters) runs after [offline] offline_probe,
 * doubling up to offline_probe_max.  Nothing here holds a secret.
 */

#include <krb5.h>
#include <stdbool.h>

#include "core/daemon.h"

/* An errno value from kdc_io that means no KDC could be reached (as opposed
 * to the helper's own failures such as ENOMEM or EMSGSIZE). */
bool sectx_realm_unreachable_error(int err);

/* True while the realm is known to be unreachable. */
bool sectx_realm_is_offline(const struct sectxd_ctx *hctx);

/* A login wants the realm while it is offline: unless a probe is in flight
 * or one was sent less than offline_probe ago, probe now and restart the
 * backoff at offline_probe.  The login itself does not wait for the probe
 * (it is served offline); the next one is online if the KDC answered.  So a
 * realm that comes back is used again at the first logins after it, not
 * only when the backed-off timer (up to offline_probe_max) fires. */
void sectx_realm_wanted(struct sectxd_ctx *hctx);

extern const struct sectxd_subsystem sectxd_realm_subsystem;

/* ======== cached credentials (offline_cache.c) ======== */
/*
 * Cached credentials: a salted, slow hash of each user's
 * password from their last online login, to log them in while the realm
 * cannot be reached ([offline] cache_credentials).
 *
 * What is stored, per user, in STATE_DIR/offline/u-<hex of name> (dir 0700,
 * file 0600, written atomically, with a format version): PBKDF2-HMAC-SHA512
 * of the password with a 16-byte random salt, the algorithm and iteration
 * count beside it (so they can be raised later), the principal and when it
 * was stored.  Never the password, never a ticket.  The KDF always runs on
 * a thread of its own, never on the event loop, and each thread scrubs its
 * copy of the password.
 *
 * Who reaches this: ops/pam_auth.c, for a password login it has authorised.  It
 * stores after an online login the KDC accepted (and validated), forgets
 * when the KDC says the principal is revoked, expired or unknown, and
 * verifies only while realm_state.c says the realm is unreachable.  A
 * corrupt file is moved aside with a log line and never stops the helper.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <talloc.h>
#include <tevent.h>
#include <time.h>

#include "core/daemon.h"

#define SECTX_OFFLINE_DIR	    "offline" /* below state_dir */
#define SECTX_OFFLINE_FILE_MAX	    4096u     /* bytes in one cached-credential file */
#define SECTX_OFFLINE_USERS_MAX	    65536u    /* cached credentials held */
#define SECTX_OFFLINE_KDF_MAX	    8u	      /* KDF threads running at once */
#define SECTX_OFFLINE_KDF_QUEUE_MAX 64u	      /* KDFs waiting for a thread */
#define SECTX_OFFLINE_KDF_USER_MAX  4u	      /* KDFs of one user running or waiting */
#define SECTX_OFFLINE_SALT_LEN	    16u
#define SECTX_OFFLINE_HASH_LEN	    64u			      /* SHA-512 */
#define SECTX_OFFLINE_TARGET_MS	    20			      /* calibration target for one KDF */
#define SECTX_OFFLINE_ITER_MIN	    SECTX_CONFIG_KDF_ITER_MIN /* fewer: moved aside */
#define SECTX_OFFLINE_ITER_MAX	    100000000u

extern const struct sectxd_subsystem sectxd_offline_subsystem;

/* Is [offline] cache_credentials on (and the cache usable)? */
bool sectx_offline_enabled(struct sectxd_ctx *hctx);

/* After an online login of user (principal: its unparsed principal) with
 * password: hash it on a thread (waiting for one if need be; it replaces a
 * store of the same user still waiting) and replace the user's cached
 * credential when done.  The password is copied (the copy is scrubbed by the thread);
 * the caller may wipe its own at once.  Failures are logged, never
 * returned: a login never fails because its cache could not be written. */
void sectx_offline_store(struct sectxd_ctx *hctx, const char *user, const char *principal,
			 const char *password, size_t password_len);

/* The KDC said user's principal is revoked, expired or unknown: delete the
 * cached credential (file and memory), and drop any hash still being
 * computed for it.  why is for the log. */
void sectx_offline_forget(struct sectxd_ctx *hctx, const char *user, const char *why);

enum sectx_offline_result {
	SECTX_OFFLINE_OK = 0,
	SECTX_OFFLINE_BAD_PASSWORD,
	SECTX_OFFLINE_NONE,    /* no cached credential for this user */
	SECTX_OFFLINE_TOO_OLD, /* older than [offline] max_age */
	SECTX_OFFLINE_LOCKED,  /* failed_attempts reached; retry after failed_delay */
	SECTX_OFFLINE_ERROR,   /* the helper's own failure (KDF queue full, memory) */
};

/* Verify password against user's cached credential (KDF on a thread, then
 * a constant-time compare).  Counts failures per user. */
struct tevent_req *sectx_offline_verify_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectxd_ctx *hctx, const char *user,
					     const char *password, size_t password_len);
/* 0 and *result; for LOCKED *retry_ms is how long until the next attempt is
 * allowed; for OK *stored is when the credential was stored.  -errno if the
 * request itself failed. */
int sectx_offline_verify_recv(struct tevent_req *req, enum sectx_offline_result *result,
			      int64_t *retry_ms, time_t *stored);

/* --- queries (offline_query.c) --------------------------------------------- */

/* Call fn for each user with a cached credential and the time it was stored
 * (seconds since the epoch).  Returns how many. */
typedef void (*sectx_offline_list_fn)(void *arg, const char *user, int64_t stored);
size_t sectx_offline_list(struct sectxd_ctx *hctx, sectx_offline_list_fn fn, void *arg);

/* Delete every cached credential (sectx_offline_forget for each), logging
 * why.  Returns how many were deleted. */
size_t sectx_offline_forget_all(struct sectxd_ctx *hctx, const char *why);

#endif /* SECTX_OFFLINE_H */
