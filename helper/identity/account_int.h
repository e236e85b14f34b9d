/*
 * identity/account_int.h - what the account resolver's files share: one
 * glibc lookup of the local user and group databases, asked on the loop
 * (account_lookup.c, for account.c), run by a thread (account_threads.c).
 *
 * Who reaches this: those three files only.  Must never: be included from
 * another folder, or hand the loop a pointer into a glibc buffer (answers
 * are copies).
 */
#ifndef SECTX_IDENTITY_ACCOUNT_INT_H
#define SECTX_IDENTITY_ACCOUNT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <talloc.h>
#include <tevent.h>

struct sectxd_ctx;

/* Bytes of the buffer getpwnam_r / getpwuid_r / getgrgid_r get (an entry
 * that does not fit is not found, as ERANGE always was here). */
#define ACCOUNT_NSS_BUF 16384u

enum acct_query_kind {
	ACCT_Q_PW_BY_NAME, /* getpwnam_r(name) */
	ACCT_Q_PW_BY_UID,  /* getpwuid_r(id) */
	ACCT_Q_GROUPLIST,  /* getgrouplist(name, id) */
	ACCT_Q_GR_NAMES,   /* getgrgid_r of each of gids */
};

/* One lookup; everything is copied by acct_nss_send. */
struct acct_query {
	enum acct_query_kind kind;
	const char *name;  /* PW_BY_NAME, GROUPLIST */
	uint32_t id;	   /* PW_BY_UID: the uid; GROUPLIST: the primary gid */
	const gid_t *gids; /* GR_NAMES, n_gids of them (<= IDENTITY_ACCOUNT_GROUPS_MAX) */
	size_t n_gids;
};

/* What glibc answered: copies, children of the mem_ctx given to
 * acct_nss_recv. */
struct acct_answer {
	bool found;    /* PW_*: the database has the entry */
	char *pw_name; /* PW_*, found: pw_name */
	char *pw_dir;  /* PW_*, found: pw_dir ("" for none) */
	uid_t pw_uid;  /* PW_*, found */
	gid_t pw_gid;  /* PW_*, found */
	gid_t *groups; /* GROUPLIST: the groups, primary included */
	size_t n_groups;
	char **gr_names; /* GR_NAMES: n_gids entries, NULL where the database has none */
};

/* Ask q on a lookup thread of hctx's identity subsystem (started on first
 * use), joining an identical lookup already waiting or running.  The
 * request's deadline is half [sectxd] client_timeout.  NULL when out of
 * memory. */
struct tevent_req *acct_nss_send(TALLOC_CTX *mem_ctx, struct sectxd_ctx *hctx,
				 const struct acct_query *q);
/* 0 with *a filled (a PW_* lookup that found nothing is 0 with !found, as
 * any glibc failure there was); -E2BIG (GROUPLIST: more groups than
 * IDENTITY_ACCOUNT_GROUPS_MAX); -ETIMEDOUT, -EBUSY, -ECANCELED, -ENOMEM
 * (identity.h). */
int acct_nss_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, struct acct_answer *a);

/* --- between the loop and the threads (account_lookup.c, account_threads.c) ---------------- */

struct acct_nss_state;

enum acct_job_state { ACCT_JOB_QUEUED, ACCT_JOB_RUNNING, ACCT_JOB_DONE };

/* One lookup, shared by the requests that wait for it; malloc'd (a thread
 * touches it: never talloc). */
struct acct_job {
	/* the query: set before the job is queued, read-only afterwards */
	enum acct_query_kind kind;
	char *name;
	uint32_t id;
	gid_t *gids;
	size_t n_gids;

	/* the thread's answer (malloc'd copies), read by the loop once done */
	int result; /* 0, -E2BIG, -ENOMEM */
	bool found;
	char *pw_name, *pw_dir;
	uid_t pw_uid;
	gid_t pw_gid;
	gid_t *groups;
	size_t n_groups;
	char **gr_names; /* n_gids entries */

	/* the threads' side, under the core's mutex */
	enum acct_job_state state;
	struct acct_job *qnext; /* in the queue, or the list of finished jobs */

	/* the loop's thread only */
	struct acct_job *prev, *next;	/* among the jobs requests wait for */
	struct acct_nss_state *waiters; /* the requests waiting for it */
	bool orphan;			/* none left: its answer is dropped */
};

/* The threads and what they share with the loop (account_threads.c). */
struct acct_core;

/* A job asking q (copied), or NULL when out of memory. */
struct acct_job *acct_job_new(const struct acct_query *q);
/* Free j and its answer (NULL is fine). */
void acct_job_free(struct acct_job *j);

/* No thread yet, an empty queue, and the pipe that wakes the loop.  NULL
 * when out of memory or descriptors. */
struct acct_core *acct_core_new(void);
/* The descriptor that becomes readable when jobs are done. */
int acct_core_fd(const struct acct_core *c);
/* Queue j (then the threads' until done), starting a thread if every one is
 * busy and there is room for one.  0; -EBUSY IDENTITY_ACCOUNT_QUEUE_MAX
 * jobs wait already, or no thread runs and none could be started (its
 * errno in *spawn_err, also set when a thread could not be added to
 * running ones); -ECANCELED closed. */
int acct_core_submit(struct acct_core *c, struct acct_job *j, int *spawn_err);
/* j is no longer wanted: if it had not started it leaves the queue and
 * true is returned (the caller frees it); else false (it runs, or is done:
 * it comes back through acct_core_take_done). */
bool acct_core_unqueue(struct acct_core *c, struct acct_job *j);
/* The jobs done since the last call, oldest first, linked by qnext (the
 * caller frees them); empties the wake-up pipe. */
struct acct_job *acct_core_take_done(struct acct_core *c);
/* The loop's side goes: jobs not started and jobs done are freed, idle
 * threads leave (waited for up to a second), a thread still in glibc frees
 * its own job when it returns, and the last thread out frees c (or this
 * call, when none is left).  c must not be used afterwards. */
void acct_core_close(struct acct_core *c);
/* Threads started and not exited, running a job, jobs queued, jobs started
 * in all. */
void acct_core_counts(struct acct_core *c, unsigned *threads, unsigned *running, unsigned *queued,
		      uint64_t *lookups);

#endif /* SECTX_IDENTITY_ACCOUNT_INT_H */
