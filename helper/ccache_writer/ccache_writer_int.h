/*
 * ccache_writer/ccache_writer_int.h - what only the files of ccache_writer/ share.
 *
 * Three processes run the code of this folder, one file each, plus the
 * parts they share:
 *   client.c, requests.c  the helper side (sectxd, root, on the tevent loop)
 *   writer.c              the writer process (root, single-threaded)
 *   child.c               a job's child (the user's uid, gid and groups)
 *   wire.c                the messages between them (common/proto frames)
 *   names.c               cache-name templates: expansion and validation
 *   reap.c                waiting for a child process until a deadline
 * This header declares the private protocol (op and tag numbers, limits),
 * the job and its outcome as the writer and the child see them, the
 * helper side's queue and lanes, and the functions one file calls in
 * another.  Nothing outside this folder includes it (the unit test of the
 * wire format aside): the folder's API is ccache_writer.h.
 *
 * Trust: a job frame reaches the writer only from the helper (a socketpair
 * private to the two), an outcome frame reaches the writer from a child
 * running as the user (untrusted) and the helper from a writer; every
 * decoder below checks every byte as if it came from a stranger.
 */
#ifndef SECTX_CCACHE_WRITER_INT_H
#define SECTX_CCACHE_WRITER_INT_H

#include <krb5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>
#include <talloc.h>
#include <tevent.h>

#include "proto.h"
#include "ccache_writer/ccache_writer.h"

/* --- the private protocol between the helper, the writer and a child ---- */

enum writer_op {
	WOP_STORE = 1,
	WOP_DESTROY = 2,
	WOP_READ = 3, /* the principal of an exact cache and, if asked, its TGT */
};

enum writer_tag {
	WT_UID = 1,	  /* u32 */
	WT_GID = 2,	  /* u32 */
	WT_GROUP = 3,	  /* u32, repeated: supplementary groups */
	WT_USER = 4,	  /* string: login name (%u, logs) */
	WT_CCACHE = 5,	  /* string: template (store), exact name (destroy, replies) */
	WT_PRINCIPAL = 6, /* string: the principal a destroyed cache must have */
	WT_CRED = 7,	  /* bytes, repeated, SECRET: krb5_marshal_credentials */
	WT_DEADLINE = 8,  /* u64: absolute CLOCK_MONOTONIC ms for the child */
	WT_ERR = 9,	  /* u32: 0 or a positive errno (replies) */
	WT_MESSAGE = 10,  /* string: what failed, for the helper's log (replies) */
	WT_WANT_TGT = 11, /* u32 0/1: read also returns the TGT (WT_CRED in the reply) */
	WT_REPLACE = 12,  /* u32 0/1: store only over an existing cache of ours (renewal) */
};

#define WRITER_VERSION	  1u
#define WRITER_JOB_MAX	  SECTX_FRAME_MAX /* bytes of a job frame */
#define WRITER_CRED_MAX	  32768u	  /* bytes of a marshalled TGT a read returns */
#define WRITER_REPLY_MAX  (8192u + SECTX_STRING_MAX + WRITER_CRED_MAX) /* a reply */
#define WRITER_MSG_MAX	  512u		   /* bytes of a reply's message */
#define WRITER_CCNAME_MAX SECTX_STRING_MAX /* bytes of a cache name */
#define WRITER_LOGIN_MAX  32u		   /* %u: bytes of a user name */
#define WRITER_MEMBER_MAX 64u		   /* bytes of a KEYRING subsidiary name */
#define WRITER_LANES	  4		   /* writer processes: users' jobs side by side */

enum cc_kind {
	CC_FILE_UNIQUE,	       /* FILE:/path...XXXXXX */
	CC_FILE,	       /* FILE:/path */
	CC_DIR_COLLECTION,     /* DIR:/path */
	CC_DIR_MEMBER,	       /* DIR::/path/tktNAME */
	CC_KEYRING_COLLECTION, /* KEYRING:persistent:UID */
	CC_KEYRING_MEMBER,     /* KEYRING:persistent:UID:NAME */
};

/* What a job produced.  err is 0 or a positive errno.  A read fills
 * principal and, if asked, cred (a marshalled TGT: SECRET, scrubbed by
 * whoever holds an outcome). */
struct outcome {
	int err;
	char ccache[WRITER_CCNAME_MAX + 1];
	char msg[WRITER_MSG_MAX];
	char principal[SECTX_STRING_MAX + 1];
	uint8_t cred[WRITER_CRED_MAX];
	size_t cred_len;
};

/* One job as the writer received it.  creds point into frame. */
struct job {
	uint16_t op;
	uint32_t reqid;
	uid_t uid;
	gid_t gid;
	gid_t groups[SECTX_WRITER_MAX_GROUPS];
	size_t n_groups;
	char user[SECTX_NAME_MAX + 1];
	char tmpl[WRITER_CCNAME_MAX + 1];   /* the cache name as sent */
	char ccache[WRITER_CCNAME_MAX + 1]; /* expanded (store) or as given (destroy) */
	enum cc_kind kind;
	char principal[SECTX_STRING_MAX + 1];
	struct sectx_field creds[SECTX_WRITER_MAX_CREDS];
	size_t n_creds;
	int64_t deadline;
	bool want_tgt;	/* read: return the TGT too */
	bool replace;	/* store: only over an existing cache of ours */
	uint8_t *frame; /* the received frame, scrubbed by the writer and the child */
	size_t frame_len;
};

/* A job as the helper sends it (the encoder's view of struct job).  Every
 * pointer is the caller's and only read. */
struct job_msg {
	uint16_t op;
	uint32_t reqid;
	const struct sectx_writer_user *who;
	const char *ccache;	 /* template (store) or exact name */
	uint64_t deadline;	 /* the child's: absolute sectx_now_ms */
	bool replace;		 /* store */
	bool want_tgt;		 /* read */
	const char *principal;	 /* destroy */
	krb5_data *const *creds; /* store: n_creds marshalled credentials (SECRET) */
	size_t n_creds;
};

/* --- wire.c: every message, on the common/proto frame codec -------------- */

/* Bytes the frame of m takes (what ccw_job_encode writes). */
size_t ccw_job_size(const struct job_msg *m);

/* Encode the job m into buf (cap bytes).  Returns 0 and *len, or a
 * SECTX_ERR_* code: SECTX_ERR_TOOBIG if it does not fit in cap or
 * WRITER_JOB_MAX, or has more groups or creds than the writer takes;
 * SECTX_ERR_BADSTR for a string the decoder would refuse; -EINVAL for an
 * unknown op. */
int ccw_job_encode(const struct job_msg *m, uint8_t *buf, size_t cap, size_t *len);

/* The op and reqid of a received job frame, read from its header whatever
 * the rest says (a refusal still answers the job's op and reqid); left as
 * they are if len is shorter than a header. */
void ccw_job_ids(const uint8_t *buf, size_t len, uint16_t *op, uint32_t *reqid);

/* Decode the job frame buf (len bytes, at most WRITER_JOB_MAX) into j, which
 * the caller zeroed: every field by its tag and type, only the tags of the
 * job's op, each singular tag once, at most SECTX_WRITER_MAX_GROUPS groups
 * and SECTX_WRITER_MAX_CREDS creds (a store has at least one).  j->creds and
 * j->frame point into buf (SECRET: the caller scrubs it).  j->ccache is left
 * empty: the names are checked and expanded by ccw_check_job.  Returns 0, or
 * -errno with out->err and out->msg set: -EPROTO a malformed frame or an
 * unknown op, -E2BIG too many groups or creds, -EINVAL a store without
 * creds. */
int ccw_job_decode(uint8_t *buf, size_t len, struct job *j, struct outcome *out);

/* Encode out as the reply to op and reqid into buf (cap bytes).  The message
 * is reduced to printable ASCII first: it may quote a path or a Kerberos
 * message.  A principal and a TGT go only in a read's reply.  Returns 0 and
 * *len, or a SECTX_ERR_* code. */
int ccw_outcome_encode(uint8_t *buf, size_t cap, uint16_t op, uint32_t reqid,
		       const struct outcome *out, size_t *len);

/* Decode a reply frame (from the child or the writer, at most
 * WRITER_REPLY_MAX bytes) that must answer op and reqid into out (zeroed
 * first; out->cred is SECRET).  Returns 0 or a SECTX_ERR_* code: the
 * frame's, SECTX_ERR_TOOBIG beyond WRITER_REPLY_MAX, SECTX_ERR_VERSION,
 * SECTX_ERR_BADFRAME for another op or reqid or a tag a reply to op never
 * has, SECTX_ERR_BADLEN for an errno beyond 4095 or an empty or oversized
 * TGT. */
int ccw_outcome_decode(const uint8_t *buf, size_t len, uint16_t op, uint32_t reqid,
		       struct outcome *out);

/* Set out->err = err and out->msg from fmt; returns -err. */
int ccw_fail(struct outcome *out, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ccw_fail, adding ": strerror(err)". */
int ccw_sys_fail(struct outcome *out, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- names.c -------------------------------------------------------------- */

/* Check who and ccache, expand ccache (store) into out.  Used by both sides:
 * the helper to fail early, the writer because it trusts nothing it did not
 * check itself.  destroy: ccache is an exact name (no template expansion, no
 * collection).  0 and *kind, or -errno with *why (static text): -EINVAL,
 * -E2BIG too many groups, -ENAMETOOLONG. */
int ccw_check_job(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, const char *user,
		  const char *ccache, bool destroy, char *out, size_t outsz, enum cc_kind *kind,
		  const char **why);

/* --- reap.c --------------------------------------------------------------- */

/* Wait for the child pid until deadline (sectx_now_ms scale), then SIGKILL
 * it; *status as waitpid's.  Returns true if it exited by itself.  Blocks:
 * the writer, and the helper only when it stops. */
bool ccw_reap_by(pid_t pid, int64_t deadline, int *status);

/* --- child.c, child_files.c: run as the user ------------------------------- */

/* child.c: like ccw_fail, adding ": <Kerberos message>"; out->err is the
 * errno that best says what kret means.  Returns -out->err. */
int ccw_krb_fail(krb5_context ctx, krb5_error_code kret, struct outcome *out, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* child.c: initialise princ's cache cc and store creds (NULL-terminated) in
 * it.  0 or -errno with out set. */
int ccw_write_creds(krb5_context ctx, krb5_ccache cc, krb5_principal princ, krb5_creds **creds,
		    const char *name, struct outcome *out);

/* child.c: the principal of cache name: 0 with *princ (the caller frees
 * it), 1 if there is no such cache, or -errno with out set. */
int ccw_read_principal(krb5_context ctx, const char *name, krb5_principal *princ,
		       struct outcome *out);

/* child_files.c: let go of the read lock the child holds on the user's
 * cache file, if any (before libkrb5 takes a conflicting one). */
void ccw_release_cache_file(void);

/* child_files.c: the directory dir must be uid's own, a directory (not a
 * link) writable by nobody else; create: mkdir(0700) it first if missing.
 * 0 or -errno with out set. */
int ccw_check_user_dir(const char *dir, uid_t uid, bool create, struct outcome *out);

/* child_files.c: the directory of j's DIR member name must be the user's
 * (ccw_check_user_dir, never created). */
int ccw_check_member_dir(const struct job *j, struct outcome *out);

/* child_files.c: j's exact FILE: or DIR member name may be destroyed or read
 * (expected NULL: any principal): its directory (DIR member), then the file:
 * a regular file of the user, not locked by another process, holding
 * expected's cache.  0 (go on), 1 (no file there), or -errno with out set:
 * -EEXIST not the user's cache file, -ESTALE another principal's, -EBUSY
 * locked. */
int ccw_check_exact_file(krb5_context ctx, const struct job *j, krb5_principal expected,
			 bool destroy, struct outcome *out);

/* child_files.c: store creds as princ's cache in a new file for j's
 * FILE:/path...XXXXXX; out->ccache gets its name.  0 or -errno with out. */
int ccw_store_file_unique(krb5_context ctx, const struct job *j, krb5_principal princ,
			  krb5_creds **creds, struct outcome *out);

/* child_files.c: store creds as princ's cache at path (j's FILE:/path or DIR
 * member), replacing a cache of princ there by rename; with j->replace only
 * if one is there (-ENOENT).  out->ccache gets j's name.  0 or -errno. */
int ccw_store_file_exact(krb5_context ctx, const struct job *j, const char *path,
			 krb5_principal princ, krb5_creds **creds, struct outcome *out);

/* In the child the writer just forked for j: drop to j's user for good, do
 * the job with libkrb5, write the outcome frame on resfd and _exit.  writer
 * is the writer's pid (the child must still be its child after the drop). */
void ccw_child_main(struct job *j, int resfd, pid_t writer) __attribute__((noreturn));

/* --- writer.c: the writer process ------------------------------------------ */

/* In the process the helper just forked: become the writer, in a new image
 * of the program if it can (see ccache_writer.h), serving jobs on fd until
 * the helper closes it.  helper is the helper's pid. */
void ccw_writer_exec(int fd, pid_t helper) __attribute__((noreturn));

/* --- the helper side (client.c, requests.c) -------------------------------- */

enum job_phase {
	JOB_QUEUED,  /* waiting for the writer */
	JOB_SENDING, /* the writer's; the frame not yet accepted by the socket */
	JOB_ACTIVE,  /* sent; the answer is awaited */
	JOB_DONE,    /* finished or detached */
};

/* One store or destroy request. */
struct writer_state {
	struct tevent_req *req;
	struct sectx_writer *w;		  /* NULL once detached */
	struct writer_state *prev, *next; /* the writer's queue */
	enum job_phase phase;
	uint16_t op;
	uint32_t reqid;
	uint8_t *frame; /* scrubbed when freed: holds credentials */
	size_t frame_len;
	int64_t deadline;
	struct tevent_timer *te;  /* deadline while queued */
	struct writer_lane *lane; /* the lane it was given to (JOB_SENDING, JOB_ACTIVE) */
	bool resent;
	unsigned uid; /* for logs */
	char *user;
	char *ccache;
	char *result;  /* store: the final cache name; read: the principal */
	uint8_t *cred; /* read: the marshalled TGT, scrubbed when freed */
	size_t cred_len;
	bool quiet_enoent; /* "no such cache" is an answer here, not an error */
};

/* One writer process and the job it runs.  Each writer runs one job at a
 * time, and a user's job can be held up (run_job bounds how long), so jobs
 * go to WRITER_LANES writers side by side, and a user has at most one job in
 * flight: one user's jobs never hold up another's while a lane is free. */
struct writer_lane {
	struct sectx_writer *w;
	unsigned idx;
	pid_t pid; /* -1: none */
	int fd;	   /* our end of the pair, -1: none */
	struct tevent_fd *fde;
	struct tevent_timer *busy_te; /* deadline of the job in flight */
	uint32_t busy_reqid;	      /* 0: idle */
	uint16_t busy_op;
	unsigned busy_uid;	     /* whose job is in flight (busy_reqid != 0) */
	struct writer_state *active; /* NULL if idle or its caller went away */
	unsigned starts;
};

struct sectx_writer {
	struct tevent_context *ev;
	struct tevent_immediate *kick_im;
	uint32_t next_reqid;
	struct writer_state *head, *tail;
	struct writer_lane
	    lanes[WRITER_LANES]; /* lane 0 starts with the writer, others on demand */
	bool stopping;
};

/* client.c: queue s (its frame built) on w and start it if a lane is free;
 * its queueing deadline runs on ev.  On failure s's request is failed. */
void ccw_job_enqueue(struct sectx_writer *w, struct writer_state *s, struct tevent_context *ev);

/* client.c: take s off the writer (queue or in flight).  Leaves the lane
 * busy if s had reached its writer: the answer is read and dropped. */
void ccw_job_detach(struct writer_state *s);

/* requests.c: detach s, log why it failed and fail its request with err (a
 * positive errno; msg may be NULL). */
void ccw_job_fail(struct writer_state *s, int err, const char *msg);

/* requests.c: detach s and finish its request with out (an answer of the
 * writer, for s's op and reqid). */
void ccw_job_done(struct writer_state *s, const struct outcome *out);

#endif /* SECTX_CCACHE_WRITER_INT_H */
