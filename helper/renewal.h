/*
 * renewal.h - the registry of open sessions whose TGT sectxd renews.
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
 * <state_dir>/sessions (state_file.h), so a restarted helper picks them up.
 *
 * Who reaches this: pam_ops.c, for sessions it has authorised; nothing here
 * is reachable by a peer directly.  What a user can make it do: renew their
 * own TGT and rewrite their own cache, as themselves.
 */
#ifndef SECTX_RENEWAL_H
#define SECTX_RENEWAL_H

#include <stdbool.h>
#include <talloc.h>
#include <tevent.h>

#include "ccache_writer.h"
#include "credstore.h"
#include "sectxd.h"
#include "state_file.h"

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

#endif /* SECTX_RENEWAL_H */
