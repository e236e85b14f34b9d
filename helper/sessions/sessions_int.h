/*
 * sessions/sessions_int.h - what only the files of the renewal share: the
 * registry's structures (renewal.c), the timing of a session's next step,
 * one renewal cycle (renew_cycle.c), the renewal worker and its private
 * answer frame (renew_worker.c), and the sessions state file (sessions_file.c).
 *
 * Nothing outside helper/sessions/ includes this; the subsystem's API is
 * sessions.h.  The private frames below travel only between sectxd and its
 * own renewal worker, or between sectxd and its own state directory: both
 * are built with the common/proto writer and read with its cursor.
 */
#ifndef SECTX_SESSIONS_INT_H
#define SECTX_SESSIONS_INT_H

#include <krb5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <talloc.h>
#include <tevent.h>

#include "proto.h"
#include "sessions/sessions.h"

#define SESSION_ID_LEN	  64u /* hex digits of SHA-256 */
#define RENEW_MSG_MAX	  512u
#define RENEW_LAST_MAX	  240u /* status text: the reply frame is small */
#define RENEW_MIN_DELAY_S 1

/* --- the registry (renewal.c) ---------------------------------------------- */

struct sectxd_renewal;

struct renew_session {
	struct renew_session *prev, *next;
	struct sectxd_renewal *rn;
	char id[SESSION_ID_LEN + 1];
	char handle[SECTX_HANDLE_LEN + 1]; /* in memory only; "" after a restart */
	char *user, *service, *rhost, *ccache, *principal;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	int64_t endtime, renew_till; /* seconds since the epoch */
	int64_t last_renewal;	     /* the last renewal by this sectxd, or 0 */
	krb5_creds *tgt;	     /* memory only; NULL until read back after a restart */
	unsigned failures;
	bool done;		 /* nothing left to renew: kept until endtime for close */
	struct tevent_timer *te; /* next cycle, or the drop of a done session */
	TALLOC_CTX *cycle;	 /* the cycle in progress: its requests hang here */
};

struct sectxd_renewal {
	struct sectxd_ctx *hctx;
	int dirfd;		    /* the state directory, or -1: nothing is saved */
	struct renew_session *head; /* newest first */
	size_t n;
	uint64_t renewed, failed;
	char last[RENEW_LAST_MAX];
};

/* The registered session with this id (SESSION_ID_LEN hex digits), or NULL.
 * Compares in constant time. */
struct renew_session *sectx_renew_find_id(struct sectxd_renewal *rn, const char *id);

/* A new, empty session at the head of rn's list (a child of rn; freeing it
 * unlinks it, cancels its cycle and frees its TGT), or NULL (no memory).
 * The caller fills it in; it is not saved nor scheduled. */
struct renew_session *sectx_renew_session_new(struct sectxd_renewal *rn);

/* Stop renewing s for good, with one log line, forget it (s is freed) and
 * save the registry. */
void sectx_renew_session_stop(struct renew_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set the status line of the last renewal event ("<time> <text>"). */
void sectx_renew_set_last(struct sectxd_renewal *rn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* t (seconds since the epoch) as "YYYY-MM-DDTHH:MM:SSZ" into buf (or the
 * number, if it cannot be formatted). */
void sectx_renew_fmt_time(int64_t t, char *buf, size_t len);

/* --- when the next step of a session is due (renewal.c) ---------------------- */

/* What sectx_renew_next_delay looks at. */
struct sectx_renew_timing {
	int64_t endtime;    /* the TGT's end, seconds since the epoch */
	int64_t renew_till; /* the end of its renewable lifetime */
	bool have_tgt;	    /* a TGT is in memory (after a restart: once read back) */
	bool renewable;	    /* that TGT has TKT_FLG_RENEWABLE */
	bool done;	    /* the session is already known to have nothing left to renew */
	unsigned failures;  /* renewals failed in a row since the last success */
};

/*
 * Seconds from now (seconds since the epoch) to the next step of a session
 * timed t, under [kerberos] renew_interval_ms (0: none).  Pure: no clock, no
 * state.  Sets *done when there is nothing left to renew (t->done, or the TGT
 * in memory is not renewable or its renewable lifetime ends by now or by its
 * end time): the step is then the session's drop at the TGT's end.
 * Otherwise the step is a renewal: after a failure, a backoff of
 * SECTX_RENEW_RETRY_MIN_MS doubling per failure up to SECTX_RENEW_RETRY_MAX_MS,
 * but no later than half the lifetime left; else renew_interval, but no later
 * than four fifths of the lifetime left; without renew_interval, at half the
 * lifetime left.  A renewal is always due by the TGT's end (before it, with
 * 5 s or more left), hence before renew-till.  Never less than
 * RENEW_MIN_DELAY_S.
 */
int64_t sectx_renew_next_delay(const struct sectx_renew_timing *t, int64_t now,
			       uint64_t renew_interval_ms, bool *done);

/* Arm the next step of s (a cycle, or, once there is nothing left to
 * renew, its drop at the TGT's end), replacing any step armed before. */
void sectx_renew_schedule(struct renew_session *s);

/* --- one renewal cycle (renew_cycle.c) -------------------------------------- */

/* The timer handler of a session's step (private_data: the session): read
 * the ccache as the user, renew the TGT, rewrite the ccache as the user; or
 * drop a session that is done.  Each outcome re-arms or stops the session. */
void sectx_renew_cycle_start(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			     void *private_data);

/* --- the renewal worker (renew_worker.c) -------------------------------------- */

/* The worker's answer: one frame of the codec, version RENEW_ANSWER_VERSION,
 * op RENEW_OP_ANSWER, reqid 0. */
#define RENEW_ANSWER_VERSION 1u
#define RENEW_ANSWER_MAX     (64u * 1024u) /* a renewed TGT and a message from the worker */
#define RENEW_CRED_MAX	     (RENEW_ANSWER_MAX - RENEW_MSG_MAX - 64u) /* marshalled TGT */

enum renew_answer_op {
	RENEW_OP_ANSWER = 1,
};

enum renew_answer_tag {
	RA_KERR = 1,	/* u32: the krb5 error code, 0 when renewed */
	RA_MESSAGE = 2, /* string (< RENEW_MSG_MAX bytes): the Kerberos error text, or "" */
	RA_CRED = 3,	/* bytes, SECRET: krb5_marshal_credentials; present iff KERR is 0 */
};

/* A decoded answer.  cred points into the decoded buffer. */
struct sectx_renew_answer {
	krb5_error_code kerr;
	char msg[RENEW_MSG_MAX];
	const uint8_t *cred;
	size_t cred_len;
};

/*
 * Build the worker's answer into buf (cap bytes): kerr, msg (cut to
 * RENEW_MSG_MAX - 1 bytes; reduced to printable ASCII if it is not a valid
 * string) and, when kerr is 0, the marshalled credentials cred (1 to
 * RENEW_CRED_MAX bytes).  No allocation, no lock: safe in the forked worker.
 * 0 and *len, or a SECTX_ERR_* code (SECTX_ERR_TOOBIG: cred or the frame too
 * large; SECTX_ERR_BADFRAME: cred given with kerr, or none without).
 */
int sectx_renew_answer_encode(uint8_t *buf, size_t cap, krb5_error_code kerr, const char *msg,
			      const uint8_t *cred, size_t cred_len, size_t *len);

/*
 * Decode an answer of exactly len bytes (untrusted: it comes from a process
 * the KDC talked to).  0 and *out (out->cred points into buf); or a
 * SECTX_ERR_* code: not one whole frame, not this version or op, a field
 * missing, repeated or out of bounds (message of RENEW_MSG_MAX bytes or more,
 * credentials over RENEW_CRED_MAX, a frame over RENEW_ANSWER_MAX), or
 * credentials with an error code or none without.
 */
int sectx_renew_answer_decode(const uint8_t *buf, size_t len, struct sectx_renew_answer *out);

/* Renew tgt with the KDC (krb5_get_renewed_creds) in a worker process
 * killed at deadline (monotonic ms).  NULL only when out of memory. */
struct tevent_req *sectx_renew_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				    krb5_context kctx, const krb5_creds *tgt, int64_t deadline);

/* 0 with *out (the caller frees it with krb5_free_creds) and *kerr 0, or 0
 * with *kerr != 0 and *msg (the KDC or the library said no); or -errno: the
 * worker failed (-EIO), timed out (-ETIMEDOUT), or answered what does not
 * decode (-EPROTO); -ENOMEM. */
int sectx_renew_recv(struct tevent_req *req, krb5_creds **out, krb5_error_code *kerr, char *msg,
		     size_t msglen);

/* --- the sessions state file (sessions_file.c) ------------------------------- */

#define RECORD_OP 1u /* the "op" of a session record frame in the state file */

/* Tags of a session record (a frame of the codec, in the state file). */
enum record_tag {
	RT_ID = 1,	    /* string: SESSION_ID_LEN hex digits */
	RT_USER = 2,	    /* string */
	RT_SERVICE = 3,	    /* string */
	RT_RHOST = 4,	    /* string, may be empty */
	RT_UID = 5,	    /* u32 */
	RT_GID = 6,	    /* u32 */
	RT_GROUP = 7,	    /* u32, repeated */
	RT_CCACHE = 8,	    /* string: exact cache name */
	RT_PRINCIPAL = 9,   /* string */
	RT_ENDTIME = 10,    /* u64: TGT end, seconds since the epoch */
	RT_RENEW_TILL = 11, /* u64 */
	RT_DONE = 12,	    /* u32 0/1: renewable lifetime over, kept for close */
};

/* The body of the sessions file for every session of rn: one record frame
 * per session, newest first.  0 with *body (on mem_ctx) and *len, or
 * -ENOMEM / -E2BIG / -EINVAL. */
int sectx_sessions_file_encode(TALLOC_CTX *mem_ctx, const struct sectxd_renewal *rn, uint8_t **body,
			       size_t *len);

/* Decode a body of len bytes (untrusted: a file on disk) into new sessions of
 * rn (which holds none yet), in the file's order.  0; or a SECTX_ERR_* code
 * or -ENOMEM with *bad_off the offset of the record that failed, and rn left
 * without any session. */
int sectx_sessions_file_decode(struct sectxd_renewal *rn, const uint8_t *body, size_t len,
			       size_t *bad_off);

/* Rewrite <state_dir>/sessions with every registered session (no-op
 * without a state directory).  Failures are logged. */
void sectx_sessions_save(struct sectxd_renewal *rn);

/* Load <state_dir>/sessions into rn.  A file that cannot be trusted, or
 * whose records do not parse, is moved aside (logged) and rn stays empty. */
void sectx_sessions_load(struct sectxd_renewal *rn);

#endif /* SECTX_SESSIONS_INT_H */
