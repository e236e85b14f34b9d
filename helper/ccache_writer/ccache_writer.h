/*
 * ccache_writer/ccache_writer.h - write and destroy users' credential caches as the user.
 *
 * sectxd is root and holds every user's TGT; a credential cache must still
 * be written with the user's own rights, or a user who controls the path (a
 * symlink in /tmp, a directory of theirs) could make root clobber or disclose
 * any file.  So the helper never writes a ccache itself: at start-up, before
 * any secret is in its memory, it forks a single-threaded writer process
 * (still root, not dumpable, holding none of the helper's descriptors, a
 * fresh image of the program), and for each job the writer forks a child
 * that drops to the user's uid, gid and groups and only then lets libkrb5
 * touch the path.  A writer runs one job at a time; up to 4 writers (more
 * started on demand) run the jobs of different users side by side, a user
 * having at most one job in flight, so one user can never hold up another's
 * jobs while a writer is free.  The writer kills a child that outlives its
 * deadline or a short per-job bound; the helper kills and later restarts a
 * writer that does not answer or dies.
 *
 * Trust: only the helper reaches the writer (a socketpair private to the
 * two); the writer nevertheless validates every job and refuses uid 0, cache
 * types it cannot write as the user (session, user, thread and process
 * keyrings belong to the login process, MEMORY/API/KCM to nobody here), and
 * names that are not absolute.  What a job can make the writer do is what the
 * user could do with their own rights, plus nothing.
 *
 * Never: write or destroy a cache as root, follow a link at the final name
 * (FILE caches are built in a temp file and renamed over it), destroy a cache
 * whose principal is not the one we wrote, or keep a TGT in the helper's own
 * state: marshalled credentials live in buffers scrubbed when freed, in the
 * helper, the writer and the child alike.
 */
#ifndef SECTX_CCACHE_WRITER_H
#define SECTX_CCACHE_WRITER_H

#include <krb5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <talloc.h>
#include <tevent.h>

struct sectx_writer;
struct sectxd_subsystem;

#define SECTX_WRITER_MAX_GROUPS 4096u /* supplementary groups of one job */
#define SECTX_WRITER_MAX_CREDS	64u   /* credentials stored by one job */
#define SECTX_WRITER_JOB_MAX_MS 60000 /* no job runs longer, whatever its deadline */

/* Who a job acts as.  uid 0 and (uid_t)-1 / (gid_t)-1 are refused.  groups
 * are set as given (include the primary gid if it should be there); name is
 * the login name, used for %u and in logs. */
struct sectx_writer_user {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
	const char *name;
};

/* Fork the writer process.  Call once, at helper start-up, before any secret
 * is in this process's memory (a restart after a death forks from the helper
 * as it is then: see client.c).  On success 0 and *out, a talloc child
 * of mem_ctx; freeing it stops the writer: pending jobs fail with
 * -ESHUTDOWN, the pair is closed and the writer reaped (waiting at most a
 * second before SIGKILL).  Returns -errno if the socketpair or fork fails. */
int sectx_writer_start(TALLOC_CTX *mem_ctx, struct tevent_context *ev, struct sectx_writer **out);

/* The pid of the first writer (the one every job goes to while no other
 * user's job is in flight), or -1 if none runs now (it is restarted by the
 * next job).  For status and tests. */
pid_t sectx_writer_pid(const struct sectx_writer *w);

/* Store creds (NULL-terminated, at least one, all of one client principal,
 * which becomes the cache's principal) in a new or rewritten cache as who.
 * ccache is a template, expanded by the writer: %U uid, %u user name (must
 * match [a-z_][a-z0-9_.-]*, at most 32 bytes), %% a percent sign.  Forms:
 *   FILE:/path...XXXXXX        a new file, the X's replaced by a random suffix
 *                              (never containing 'X'), mode 0600
 *   FILE:/path                 that file, created or atomically replaced
 *                              (built in a new 0700 directory of the user
 *                              beside it, then renamed; libkrb5 never makes
 *                              a file in a directory others can write, such
 *                              as /tmp); an existing one must be a
 *                              regular file of the user, and if it holds a
 *                              cache its principal must be ours (-ESTALE)
 *   DIR:/path                  a new subsidiary in that collection (created
 *                              0700 as the user if missing), made primary
 *   DIR::/path/tktNAME         that subsidiary, rewritten as for FILE:/path
 *   KEYRING:persistent:UID     a new subsidiary of the user's persistent
 *                              keyring (UID must be the user's), made primary
 *   KEYRING:persistent:UID:NAME  that subsidiary, reinitialised in place
 * A name returned by a store is accepted again as is (renewal rewrites it),
 * unless %% put a '%' in it.  The final cache name is not known before the
 * writer answers.  deadline_ms is absolute (sectx_now_ms scale) and bounds
 * the queueing and the job.  kctx is used only to marshal creds here.
 * The request never blocks the loop; its callback is always deferred. */
struct tevent_req *sectx_writer_store_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					   struct sectx_writer *w,
					   const struct sectx_writer_user *who, const char *ccache,
					   krb5_context kctx, krb5_creds **creds,
					   int64_t deadline_ms);

/* Result of a store: 0 and *ccache_name (talloc on mem_ctx, KRB5CCNAME form)
 * or -errno: -EINVAL refused name or arguments, -EACCES/-EPERM/-ENOENT/
 * -ENOTDIR/-ELOOP the user may not create it there, -EEXIST the name holds
 * something that is not the user's cache file, -ESTALE it holds another
 * principal's cache, -EBUSY the existing cache file is locked (fcntl lock or
 * lease) by another process (never waited for), -EOPNOTSUPP kernel keyrings
 * unavailable, -ETIMEDOUT deadline passed or the job outlived the writer's
 * per-job bound (2 s for a read or destroy, 5 s for a store: the child was
 * killed), -EPIPE the writer died during the
 * job, -ESHUTDOWN the writer was stopped, -E2BIG too many creds or groups,
 * -EIO a Kerberos failure (logged with its message), -ENOMEM. */
int sectx_writer_store_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, char **ccache_name);

/* Destroy the cache ccache (an exact name as returned by a store: FILE:/path,
 * DIR::/path/tktNAME or KEYRING:persistent:UID:NAME; no template expansion)
 * as who, if and only if its principal equals principal.  A DIR or KEYRING
 * subsidiary is destroyed alone, never its collection. */
struct tevent_req *sectx_writer_destroy_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_const_principal principal, int64_t deadline_ms);

/* Result of a destroy: 0, -ENOENT nothing is there (any more), -ESTALE the
 * cache there is not ours (another principal, a symlink, another owner), or
 * the errors of sectx_writer_store_recv. */
int sectx_writer_destroy_recv(struct tevent_req *req);

/* Rewrite the existing cache ccache (an exact name, as returned by a store)
 * with creds, as who: like a store of that exact name, except that a cache
 * that is no longer there is not created again (-ENOENT: the user ran
 * kdestroy).  Renewal writes with this.  Result: sectx_writer_store_recv. */
struct tevent_req *sectx_writer_rewrite_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					     struct sectx_writer *w,
					     const struct sectx_writer_user *who,
					     const char *ccache, krb5_context kctx,
					     krb5_creds **creds, int64_t deadline_ms);

/* Read the exact cache ccache as who: its principal and, if want_tgt, its
 * TGT (krbtgt/REALM@REALM of the principal's realm).  The cache is opened by
 * a child running as the user; a FILE or DIR member must be a regular file
 * of the user (a symlink is never followed).  The TGT crosses to the helper
 * in scrubbed buffers only. */
struct tevent_req *sectx_writer_read_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
					  struct sectx_writer *w,
					  const struct sectx_writer_user *who, const char *ccache,
					  bool want_tgt, int64_t deadline_ms);

/* Result of a read: 0 with *principal (talloc on mem_ctx, unparsed) and *tgt
 * (the caller frees it with krb5_free_creds; NULL if not asked for or the
 * cache holds none), or -errno: -ENOENT no cache there, -ESTALE something
 * that is not the user's cache file (a link, another owner), and the errors
 * of sectx_writer_store_recv. */
int sectx_writer_read_recv(struct tevent_req *req, TALLOC_CTX *mem_ctx, krb5_context kctx,
			   char **principal, krb5_creds **tgt);

/* The writer runs in a fresh image of the program that started it: the
 * helper forks and re-executes /proc/self/exe with SECTX_WRITER_ARG.  Every
 * main() that links this file calls sectx_writer_exec_main(argc, argv) first
 * thing: it returns 0 for an ordinary start, and never returns when this
 * process is the writer. */
#define SECTX_WRITER_ARG "--sectx-ccache-writer"
int sectx_writer_exec_main(int argc, char **argv);

/* The helper subsystem "ccache writer": start forks the writer into
 * hctx->writer, stop frees it. */
extern const struct sectxd_subsystem sectxd_writer_subsystem;

#endif /* SECTX_CCACHE_WRITER_H */
