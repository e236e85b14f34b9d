/*
 * ops/pam_tickets.c - authentication by the Kerberos tickets a user already
 * holds (SECTX_OP_PAM_GSS_AUTH): sudo and su let a user with a TGT in without
 * a password, where [pam] gssapi_services lists the service.
 *
 * Who can reach this: any local process, through pam.sock.  Root (sudo, su:
 * setuid programs whose PAM stack runs with euid 0) may ask for any user;
 * any other uid only for its own user (as in pam_common.c).  The request names
 * USER, SERVICE and REAL_UID and carries one descriptor: the credential
 * cache of the invoking user, opened by pam_sectx.so with the real uid's
 * rights.  What the caller can make the helper do: for a listed service,
 * read at most SECTX_CCACHE_FILE_MAX bytes from that descriptor if it is a
 * regular file owned by the invoking user (see below), one TGS
 * exchange with that TGT for the host principal of the keytab (bounded by
 * [kerberos] kdc_timeout, on the loop), one local GSS context initiated with
 * those credentials and accepted with the host key, and a read of USER's
 * ~/.k5login opened with USER's rights.  On success it gets a login handle
 * for USER holding that TGT, exactly as a password login would; failures are
 * throttled like password logins.
 *
 * Why this proves anything: the acceptor decrypts the service ticket with
 * the host key, which only the real KDC and this host know, so a cache
 * forged or issued by a spoofed KDC cannot pass; what it proves is that the
 * caller could read a cache with a live TGT of the principal.  Any process
 * holding the user's TGT therefore passes this check; that is the point of
 * the feature and the README says so.  The authenticated principal must map
 * to USER by an explicit rule: if USER's ~/.k5login exists (a regular file
 * owned by USER or root, not writable by group or others) the principal must
 * be listed there, as krb5_kuserok does; otherwise it must be USER@REALM in
 * the effective realm.  The cache must be owned by the invoking user: the
 * caller's uid when it is not root (it may only act for itself, so that is
 * USER); for root (sudo, su), the REAL_UID the module sends, the real uid of
 * the setuid program, i.e. the user at the keyboard (without it, USER's uid).
 * So sudo needs the user's own TGT, and `su bob` accepts a cache of the
 * invoking user holding a principal that maps to bob: bob's own TGT, or one
 * bob lists in ~bob/.k5login, as ksu does.  A root caller is trusted with the
 * REAL_UID it names, as with every other claim root makes to the helper.
 * An invoking user of uid 0 is always refused, before the cache is read:
 * root never needs tickets for sudo or su, and the cache of a root daemon
 * must not log anyone in.
 *
 * This file must never open a path the user chose as root (the cache comes
 * as a descriptor; ~/.k5login is opened with the user's fsuid, O_NOFOLLOW
 * and O_NONBLOCK, and refused unread on FUSE, where a read can hang), never block the loop on a KDC
 * or a file (the cache is a regular file, checked before it is read), never log ticket contents,
 * and never answer a failure with more than "not authenticated" to the caller: the module then asks
 * for the password.  One log line per attempt.
 */
#include <errno.h>
#include <fcntl.h>
#include <krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/ops.h"
#include "login/ccache_fd.h"
#include "clock.h"
#include "sessions/sessions.h"
#include "gss_ctx.h"
#include "identity/identity.h"
#include "login/login.h"
#include "log.h"
#include "open_as.h"
#include "ops/pam_int.h"
#include "server/server.h"

#define PAM_GSS_K5LOGIN_MAX	 (64u * 1024u) /* bytes of a ~/.k5login */
#define PAM_GSS_K5LOGIN_LINE_MAX 1024u	       /* bytes of one principal in it */
#define PAM_GSS_LEGS_MAX	 8u	       /* context tokens before we give up */
#define PAM_GSS_PATH_MAX	 4096u

/* One attempt; a child of its request, so a client that goes away cancels
 * the TGS exchange and frees everything. */
struct gss_auth_op {
	struct sectx_request *req;
	struct sectxd_ctx *hctx;
	krb5_context kctx;
	struct pam_args a;
	int fd;		/* the invoking user's ccache, as passed */
	uid_t owner;	/* who must own it: the invoking user */
	bool has_owner; /* REAL_UID given by a root caller */
	uid_t uid;	/* USER's account */
	gid_t gid;
	char *home;
	krb5_principal user_princ; /* USER@REALM */
	krb5_ccache mcc;	   /* MEMORY copy of the user's cache */
	char *mcc_name;
	krb5_principal client; /* the cache's principal */
	krb5_creds *tgt;       /* its TGT, for the login handle */
	krb5_principal server; /* host/NAME@REALM, the keytab's */
	char *acceptor;	       /* the same, unparsed: initiated to and accepted as */
	void *delay;	       /* the start timer, or a throttle wait (a child of op) */
	int64_t client_until;  /* when the client stops waiting: bounds the waits */
	bool charged;	       /* counted by the throttle until finished */
};

static int gss_auth_op_destructor(struct gss_auth_op *op)
{
	krb5_context k = op->kctx;

	if (op->charged) { /* the caller left mid-way: counted as a failure */
		op->charged = false;
		sectx_throttle_end(op->hctx, op->a.user, op->req->uid, SECTX_THROTTLE_FAILED);
	}
	if (op->fd >= 0) {
		close(op->fd);
	}
	if (op->mcc != NULL) {
		krb5_cc_destroy(k, op->mcc);
	}
	if (op->tgt != NULL) {
		krb5_free_creds(k, op->tgt);
	}
	krb5_free_principal(k, op->user_princ);
	krb5_free_principal(k, op->client);
	krb5_free_principal(k, op->server);
	return 0;
}

/* End the attempt: one log line, throttle bookkeeping, the reply.  why is
 * for the log only.  Frees op with the request. */
static void gss_auth_finish(struct gss_auth_op *op, uint32_t result, const char *handle,
			    const char *why)
{
	const char *rhost = op->a.rhost[0] != '\0' ? op->a.rhost : "-";

	if (why == NULL) {
		why = "out of memory";
	}
	if (op->charged) {
		/* a refusal stays counted; no KDC or an internal error gives it back */
		op->charged = false;
		sectx_throttle_end(op->hctx, op->a.user, op->req->uid,
				   result == SECTX_PAM_SUCCESS	  ? SECTX_THROTTLE_OK
				   : result == SECTX_PAM_AUTH_ERR ? SECTX_THROTTLE_FAILED
								  : SECTX_THROTTLE_UNTRIED);
	}
	if (result == SECTX_PAM_SUCCESS) {
		SECTX_INFO("authenticated %s for %s by tickets (uid %u, rhost %s): %s", op->a.user,
			   op->a.service, (unsigned)op->req->uid, rhost, why);
		sectx_pam_reply(op->req, result, SECTX_TAG_HANDLE, handle, NULL, NULL);
		return;
	}
	SECTX_INFO("authentication of %s for %s by tickets (uid %u, rhost %s) failed: %s",
		   op->a.user, op->a.service, (unsigned)op->req->uid, rhost, why);
	sectx_pam_reply(op->req, result, 0, NULL, NULL, NULL);
}

/* A krb5 error as text for a log line, a child of op. */
static const char *kerr_text(struct gss_auth_op *op, krb5_error_code kerr)
{
	const char *msg = krb5_get_error_message(op->kctx, kerr);
	char *copy = talloc_strdup(op, msg != NULL ? msg : "unknown Kerberos error");

	krb5_free_error_message(op->kctx, msg);
	return copy != NULL ? copy : "out of memory";
}

static bool service_listed(const struct sectx_config *cfg, const char *service)
{
	size_t i;

	for (i = 0; i < cfg->pam.n_gssapi_services; i++) {
		if (strcmp(cfg->pam.gssapi_services[i], service) == 0) {
			return true;
		}
	}
	return false;
}

/* --- the account ------------------------------------------------------------- */

static void gss_auth_account_found(struct tevent_req *subreq);

/* USER's uid, gid and home: the local passwd database (on the resolver's
 * threads), else a realm user the identity store knows (identity/account.c);
 * then gss_auth_account_found.  0 or -ENOMEM. */
static int lookup_account(struct gss_auth_op *op)
{
	struct tevent_req *subreq;

	subreq = identity_account_by_name_send(op, op->hctx, op->a.user);
	if (subreq == NULL) {
		return -ENOMEM;
	}
	tevent_req_set_callback(subreq, gss_auth_account_found, op);
	return 0;
}

/* USER's account, from lookup_account: 0, -ENOENT, -ENOMEM, or the
 * resolver's -ETIMEDOUT, -EBUSY, -ECANCELED. */
static int account_found(struct gss_auth_op *op, struct tevent_req *subreq)
{
	struct identity_account *acct = NULL;
	int ret;

	ret = identity_account_by_name_recv(subreq, op, &acct);
	if (ret != 0) {
		return ret;
	}
	op->uid = acct->uid;
	op->gid = acct->gid;
	op->home = talloc_steal(op, acct->home);
	talloc_free(acct);
	return 0;
}

/* --- the user's credential cache --------------------------------------------------- */

/* Read all of fd (a regular file of at most max bytes) into a buffer on
 * mem_ctx.  0, -EFBIG, -EIO, -ENOMEM. */
static int read_regular(TALLOC_CTX *mem_ctx, int fd, size_t max, uint8_t **out, size_t *len)
{
	uint8_t *buf = talloc_size(mem_ctx, max + 1);
	size_t n = 0;

	*out = NULL;
	if (buf == NULL) {
		return -ENOMEM;
	}
	/* A regular file: reads do not wait on the user (no FIFO, no socket). */
	while (n <= max) {
		ssize_t r = pread(fd, buf + n, max + 1 - n, (off_t)n);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			talloc_free(buf);
			return -EIO;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	if (n > max) {
		talloc_free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Copy the passed cache into a MEMORY ccache (op->mcc, see ccache_fd.h: no
 * path of the user's is ever opened) and find its principal and TGT.  NULL,
 * or why not (for the log). */
static const char *load_ccache(struct gss_auth_op *op)
{
	krb5_creds match, *tgt = NULL, found;
	krb5_principal tgs = NULL;
	const char *why = NULL;
	krb5_error_code kerr;
	uid_t file_uid = 0;
	int ret;

	memset(&found, 0, sizeof(found));
	ret = sectx_ccache_from_fd(op->kctx, op->fd, op->owner, &op->mcc, &file_uid, &why);
	if (ret == -EPERM) {
		return talloc_asprintf(op,
				       "the credential cache passed belongs to uid %u, not to "
				       "the invoking user (uid %u)",
				       (unsigned)file_uid, (unsigned)op->owner);
	}
	if (ret != 0) {
		return why;
	}
	kerr = krb5_cc_get_principal(op->kctx, op->mcc, &op->client);
	if (kerr == 0) {
		op->mcc_name = talloc_asprintf(op, "%s:%s", krb5_cc_get_type(op->kctx, op->mcc),
					       krb5_cc_get_name(op->kctx, op->mcc));
		if (op->mcc_name == NULL) {
			kerr = ENOMEM;
		}
	}
	if (kerr != 0) {
		why = talloc_asprintf(op, "cannot copy the credential cache: %s",
				      kerr_text(op, kerr));
		goto done;
	}
	/* The TGT of the cache's own realm: what the login handle keeps. */
	kerr = krb5_build_principal_ext(op->kctx, &tgs, op->client->realm.length,
					op->client->realm.data, KRB5_TGS_NAME_SIZE, KRB5_TGS_NAME,
					op->client->realm.length, op->client->realm.data, 0);
	if (kerr == 0) {
		memset(&match, 0, sizeof(match));
		match.client = op->client;
		match.server = tgs;
		kerr = krb5_cc_retrieve_cred(op->kctx, op->mcc, 0, &match, &found);
	}
	if (kerr == 0) {
		kerr = krb5_copy_creds(op->kctx, &found, &tgt);
	}
	if (kerr != 0) {
		why = "the credential cache holds no TGT of its principal";
		goto done;
	}
	op->tgt = tgt;
done:
	krb5_free_cred_contents(op->kctx, &found);
	krb5_free_principal(op->kctx, tgs);
	return why;
}

/* --- the principal and the account ----------------------------------------------------- */

/* Is peer listed in USER's ~/.k5login?  Returns 1 listed, 0 not listed,
 * -ENOENT no such file (then the name rule applies), another -errno for a
 * file that exists but may not be trusted (refused, as krb5_kuserok does). */
static int k5login_lists(struct gss_auth_op *op, krb5_const_principal peer)
{
	TALLOC_CTX *tmp_ctx = talloc_new(op);
	char *path, *text, *line, *save = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	struct stat st;
	int fd = -1, ret;

	if (tmp_ctx == NULL) {
		return -ENOMEM;
	}
	if (op->home == NULL || op->home[0] != '/') {
		ret = -ENOENT;
		goto done;
	}
	path = talloc_asprintf(tmp_ctx, "%s/.k5login", op->home);
	if (path == NULL || strlen(path) >= PAM_GSS_PATH_MAX) {
		ret = -ENAMETOOLONG;
		goto done;
	}
	/* The user's rights, no link at the end, no wait on a FIFO. */
	fd = sectx_open_as(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, op->uid,
			   op->gid);
	if (fd == -ENOENT || fd == -ENOTDIR) {
		ret = -ENOENT;
		goto done;
	}
	if (fd < 0) {
		ret = fd;
		goto done;
	}
	/* On FUSE a read is answered by a user's process and may never end:
	 * refused before any read, as untrusted. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != op->uid && st.st_uid != 0) || (st.st_mode & 022) != 0 ||
	    st.st_size > (off_t)PAM_GSS_K5LOGIN_MAX || sectx_fd_on_fuse(fd)) {
		ret = -EPERM;
		goto done;
	}
	ret = read_regular(tmp_ctx, fd, PAM_GSS_K5LOGIN_MAX, &data, &len);
	if (ret != 0) {
		goto done;
	}
	text = talloc_strndup(tmp_ctx, (const char *)data, len);
	if (text == NULL || strlen(text) != len) {
		ret = -EINVAL; /* a NUL inside: not a list of names */
		goto done;
	}
	ret = 0;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		krb5_principal p = NULL;
		size_t n;

		line += strspn(line, " \t");
		n = strcspn(line, " \t\r");
		if (n == 0 || n > PAM_GSS_K5LOGIN_LINE_MAX) {
			continue;
		}
		line[n] = '\0';
		if (krb5_parse_name(op->kctx, line, &p) == 0) {
			bool same = krb5_principal_compare(op->kctx, p, peer);

			krb5_free_principal(op->kctx, p);
			if (same) {
				ret = 1;
				break;
			}
		}
	}
done:
	if (fd >= 0) {
		close(fd);
	}
	talloc_free(tmp_ctx);
	return ret;
}

/* Does the authenticated principal peer map to USER?  NULL yes (and *rule
 * says by which rule), else why not. */
static const char *maps_to_user(struct gss_auth_op *op, krb5_const_principal peer,
				const char **rule)
{
	int listed = k5login_lists(op, peer);

	if (listed == 1) {
		*rule = "listed in ~/.k5login";
		return NULL;
	}
	if (listed == 0) {
		return "the principal is not listed in the user's ~/.k5login";
	}
	if (listed != -ENOENT) {
		return talloc_asprintf(op, "the user's ~/.k5login cannot be trusted or read (%s)",
				       strerror(-listed));
	}
	if (krb5_principal_compare(op->kctx, peer, op->user_princ)) {
		*rule = "same name in the realm";
		return NULL;
	}
	return "the principal is not the user's (USER@REALM) and there is no ~/.k5login";
}

/* --- the context --------------------------------------------------------------------- */

/* Initiate a context to op->acceptor from the MEMORY cache and accept it with
 * the keytab, both here.  Both contexts are released before returning (the
 * initiator holds the MEMORY cache).  NULL with *peer_name (child of
 * mem_ctx), or why not (child of mem_ctx). */
static const char *run_context(struct gss_auth_op *op, TALLOC_CTX *mem_ctx, char **peer_name)
{
	TALLOC_CTX *tmp_ctx = talloc_new(mem_ctx);
	struct sectx_gss_ctx *side[2] = {NULL, NULL};
	enum sectx_ctx_state state[2] = {SECTX_CTX_CONTINUE, SECTX_CTX_CONTINUE};
	struct sectx_ctx_info info;
	const uint8_t *in = NULL;
	uint8_t *out = NULL;
	size_t inlen = 0, outlen = 0;
	char *reason = NULL;
	const char *why = NULL;
	unsigned leg, i = 0;
	int ret;

	*peer_name = NULL;
	if (tmp_ctx == NULL) {
		return "out of memory";
	}
	ret = sectx_gss_initiator_new(tmp_ctx, op->mcc_name, op->acceptor, SECTX_MECH_KRB5, 0,
				      &side[0], &reason);
	if (ret != 0) {
		why = talloc_asprintf(mem_ctx, "cannot initiate with the user's tickets: %s",
				      reason != NULL ? reason : strerror(-ret));
		goto done;
	}
	ret = sectx_gss_acceptor_new(tmp_ctx, op->hctx->cfg->kerberos.keytab, op->acceptor,
				     SECTX_MECH_KRB5, &side[1], &reason);
	if (ret != 0) {
		why = talloc_asprintf(mem_ctx, "cannot accept with the keytab: %s",
				      reason != NULL ? reason : strerror(-ret));
		goto done;
	}
	for (leg = 0; leg < PAM_GSS_LEGS_MAX; leg++, i ^= 1) {
		if (state[i] == SECTX_CTX_COMPLETE) {
			why = "the context sent a token after it was complete";
			goto done;
		}
		state[i] = sectx_gss_step(side[i], in, inlen, tmp_ctx, &out, &outlen, &reason);
		if (state[i] == SECTX_CTX_FAILED) {
			why = talloc_asprintf(mem_ctx, "%s: %s",
					      i == 0 ? "initiating failed"
						     : "the host key refused it",
					      reason != NULL ? reason : "?");
			goto done;
		}
		in = out;
		inlen = outlen;
		if (state[0] == SECTX_CTX_COMPLETE && state[1] == SECTX_CTX_COMPLETE) {
			break;
		}
		if (inlen == 0) {
			why = "the context stalled";
			goto done;
		}
	}
	if (state[0] != SECTX_CTX_COMPLETE || state[1] != SECTX_CTX_COMPLETE) {
		why = "the context took too many legs";
	} else if (sectx_gss_info(side[1], &info) != 0 || info.peer_name == NULL) {
		why = "the accepted context has no peer";
	} else if ((*peer_name = talloc_strdup(mem_ctx, info.peer_name)) == NULL) {
		why = "out of memory";
	}
done:
	talloc_free(tmp_ctx);
	return why != NULL ? why : (*peer_name != NULL ? NULL : "out of memory");
}

static void gss_auth_accept(struct gss_auth_op *op)
{
	/* Not a child of op: finishing frees op with the request. */
	TALLOC_CTX *tmp_ctx = talloc_new(NULL);
	krb5_context kctx = op->kctx;
	struct sectx_handle *h = NULL;
	krb5_principal peer = NULL;
	const char *why, *rule = NULL;
	char *peer_name = NULL;
	int ret;

	if (tmp_ctx == NULL) {
		gss_auth_finish(op, SECTX_PAM_SYSTEM_ERR, NULL, "out of memory");
		return;
	}
	why = run_context(op, tmp_ctx, &peer_name);
	if (why != NULL) {
		gss_auth_finish(op, SECTX_PAM_AUTH_ERR, NULL, why);
		goto done;
	}
	if (krb5_parse_name(kctx, peer_name, &peer) != 0 ||
	    !krb5_principal_compare(kctx, peer, op->client)) {
		gss_auth_finish(op, SECTX_PAM_AUTH_ERR, NULL,
				talloc_asprintf(tmp_ctx,
						"the host key authenticated %s, not the "
						"cache's principal",
						peer_name));
		goto done;
	}
	why = maps_to_user(op, peer, &rule);
	if (why != NULL) {
		gss_auth_finish(op, SECTX_PAM_AUTH_ERR, NULL,
				talloc_asprintf(tmp_ctx, "%s: %s", peer_name, why));
		goto done;
	}
	ret = sectx_handle_new(op->hctx, op->a.user, op->a.service, op->a.rhost, peer, op->tgt,
			       false, &h);
	if (ret != 0) {
		gss_auth_finish(
		    op, SECTX_PAM_SYSTEM_ERR, NULL,
		    talloc_asprintf(tmp_ctx, "cannot keep the login: %s", strerror(-ret)));
		goto done;
	}
	op->tgt = NULL; /* the handle's now */
	gss_auth_finish(
	    op, SECTX_PAM_SUCCESS, h->id,
	    talloc_asprintf(tmp_ctx, "%s accepted with the host key, %s", peer_name, rule));
done:
	/* op is gone here */
	krb5_free_principal(kctx, peer);
	talloc_free(tmp_ctx);
}

/* --- the request ----------------------------------------------------------------------- */

static void gss_auth_ticket_done(struct tevent_req *subreq)
{
	struct gss_auth_op *op = tevent_req_callback_data(subreq, struct gss_auth_op);
	krb5_error_code kerr = 0;
	int ret;

	ret = sectx_tgs_recv(subreq, &kerr);
	TALLOC_FREE(subreq);
	if (ret != 0 && ret != -EIO) {
		gss_auth_finish(op, SECTX_PAM_AUTHINFO_UNAVAIL, NULL,
				talloc_asprintf(op, "no KDC answered: %s", strerror(-ret)));
		return;
	}
	if (ret != 0) {
		gss_auth_finish(op, SECTX_PAM_AUTH_ERR, NULL,
				talloc_asprintf(op, "no ticket for %s with the user's TGT: %s",
						op->acceptor, kerr_text(op, kerr)));
		return;
	}
	/* the ticket is in op->mcc: the context finds it there and never goes
	 * to a KDC from inside libgssapi (blocking). */
	gss_auth_accept(op);
}

/* The host service to initiate to: the keytab's host/NAME@REALM itself, as
 * an exact Kerberos principal both for the TGS exchange and for the GSS
 * initiator, so the ticket fetched here is the one the context finds in the
 * cache.  Never a host-based name: that follows krb5.conf's
 * dns_canonicalize_hostname, whose MIT 1.20 default is true, i.e. a blocking
 * DNS lookup on the loop (and possibly another inside libgssapi, whose
 * canonical name could miss the fetched ticket and make a second, blocking
 * KDC exchange).  NULL or why not. */
static const char *pick_target(struct gss_auth_op *op)
{
	krb5_principal host = NULL;
	char *name = NULL, *unparsed = NULL;
	const char *why = NULL;
	krb5_error_code kerr;

	kerr = sectx_keytab_first_principal(op->kctx, op->hctx->cfg->kerberos.keytab,
					    op->hctx->realm, &host);
	if (kerr != 0) {
		return talloc_asprintf(op, "no principal of %s in the keytab: %s", op->hctx->realm,
				       kerr_text(op, kerr));
	}
	if (host->length != 2 || host->data[0].length != 4 ||
	    memcmp(host->data[0].data, "host", 4) != 0 || host->data[1].length == 0 ||
	    host->data[1].length >= SECTX_NAME_MAX) {
		why = "the keytab has no host/NAME principal of the realm";
		goto done;
	}
	name = talloc_strndup(op, host->data[1].data, host->data[1].length);
	if (krb5_unparse_name(op->kctx, host, &unparsed) == 0) {
		op->acceptor = talloc_strdup(op, unparsed);
		krb5_free_unparsed_name(op->kctx, unparsed);
	}
	if (name == NULL || op->acceptor == NULL || strlen(name) != host->data[1].length) {
		why = "the keytab's host principal is not a usable name";
		goto done;
	}
	op->server = host;
	host = NULL;
done:
	krb5_free_principal(op->kctx, host);
	return why;
}

static void gss_auth_start(struct tevent_context *ev, struct tevent_timer *te, struct timeval now,
			   void *private_data)
{
	struct gss_auth_op *op = private_data;
	struct sectxd_ctx *hctx = op->hctx;
	int64_t delay;
	int ret;

	op->delay = NULL;
	/* checked (again, after a wait) as it starts, as in pam_auth.c */
	delay = sectx_throttle_try_begin(hctx, op->a.user, op->req->uid);
	if (delay != 0) {
		SECTX_DEBUG("delaying authentication of %s by tickets from uid %u: %s", op->a.user,
			    (unsigned)op->req->uid,
			    delay > 0 ? "after failures" : "until one in flight ends");
		ret = sectx_throttle_wait(hctx, op, op->a.user, op->req->uid, delay,
					  op->client_until, gss_auth_start, op, &op->delay);
		if (ret == -ENOMEM) {
			gss_auth_finish(op, SECTX_PAM_SYSTEM_ERR, NULL, "out of memory");
		} else if (ret != 0) { /* past the client's timeout, or the queue is full */
			gss_auth_finish(op, SECTX_PAM_AUTHINFO_UNAVAIL, NULL,
					"turned away at once by the failed-login throttle");
		}
		return;
	}
	op->charged = true;
	if (lookup_account(op) != 0) {
		gss_auth_finish(op, SECTX_PAM_AUTH_ERR, NULL, "no local or realm account");
	}
}

/* USER's account is known (or not): on to the cache and the TGS exchange. */
static void gss_auth_account_found(struct tevent_req *subreq)
{
	struct gss_auth_op *op = tevent_req_callback_data(subreq, struct gss_auth_op);
	struct sectxd_ctx *hctx = op->hctx;
	const char *why;
	int ret;

	ret = account_found(op, subreq);
	TALLOC_FREE(subreq);
	if (ret == -ETIMEDOUT || ret == -EBUSY || ret == -ECANCELED) {
		/* not an answer: the attempt is not counted as a failure */
		gss_auth_finish(op, SECTX_PAM_AUTHINFO_UNAVAIL, NULL,
				ret == -ETIMEDOUT ? "the passwd database did not answer in time"
				: ret == -EBUSY	  ? "too many account lookups waiting"
						  : strerror(-ret));
		return;
	}
	if (ret != 0) {
		gss_auth_finish(op, SECTX_PAM_AUTH_ERR, NULL, "no local or realm account");
		return;
	}
	if (!op->has_owner) {
		op->owner = op->req->uid != 0 ? op->req->uid : op->uid;
	}
	if (op->owner == 0) {
		/* root never needs this for sudo or su, and a root daemon's cache
		 * must not log anyone in: refused before the cache is read. */
		gss_auth_finish(
		    op, SECTX_PAM_AUTH_ERR, NULL,
		    "the invoking user is root: ticket authentication is not offered to "
		    "uid 0");
		return;
	}
	why = load_ccache(op);
	if (why == NULL) {
		why = pick_target(op);
	}
	if (why != NULL) {
		gss_auth_finish(op, SECTX_PAM_AUTH_ERR, NULL, why);
		return;
	}
	subreq = sectx_tgs_send(op, hctx->ev, hctx->krb5, op->mcc, op->server,
				sectx_deadline_after((int64_t)hctx->cfg->kerberos.kdc_timeout_ms));
	if (subreq == NULL) {
		gss_auth_finish(op, SECTX_PAM_SYSTEM_ERR, NULL, "out of memory");
		return;
	}
	tevent_req_set_callback(subreq, gss_auth_ticket_done, op);
}

static int gss_auth_authorised(void *private_data);

static int op_pam_gss_auth(struct sectx_request *req)
{
	struct sectxd_ctx *hctx = req->hctx;
	struct gss_auth_op *op;

	op = talloc_zero(req, struct gss_auth_op);
	if (op == NULL) {
		return SECTX_E_INTERNAL;
	}
	op->req = req;
	op->hctx = hctx;
	op->kctx = hctx->krb5->ctx;
	op->fd = sectx_request_take_fd(req);
	talloc_set_destructor(op, gss_auth_op_destructor);
	if (!sectx_pam_parse_args(req, &op->a)) {
		return 0;
	}
	return sectx_pam_authorise(req, op, op->a.user, "authenticate another user by tickets",
				   gss_auth_authorised);
}

/* The caller may authenticate op's user: check the service and the
 * request, then start the throttled attempt. */
static int gss_auth_authorised(void *private_data)
{
	struct gss_auth_op *op = private_data;
	struct sectx_request *req = op->req;
	struct sectxd_ctx *hctx = op->hctx;

	if (!service_listed(hctx->cfg, op->a.service)) {
		SECTX_INFO("authentication of %s for %s by tickets (uid %u): the service is not in "
			   "[pam] gssapi_services; ignored",
			   op->a.user, op->a.service, (unsigned)req->uid);
		sectx_pam_reply(req, SECTX_PAM_IGNORE, 0, NULL, NULL, NULL);
		return 0;
	}
	if (req->uid == 0) {
		uint32_t ruid = 0;

		op->has_owner = sectx_msg_get_u32(&req->msg, SECTX_TAG_REAL_UID, &ruid) == 0;
		op->owner = (uid_t)ruid;
	}
	if (op->fd < 0) {
		SECTX_INFO("authentication of %s for %s by tickets (uid %u): no credential cache "
			   "passed",
			   op->a.user, op->a.service, (unsigned)req->uid);
		sectx_request_reply_status(req, SECTX_E_PROTO,
					   "the credential cache must be passed as a descriptor");
		return 0;
	}
	if (sectx_pam_user_principal(hctx, op->a.user, &op->user_princ) != 0) {
		/* no name in the log: see pam_auth.c */
		SECTX_INFO("authentication of an unknown user for %s by tickets (uid %u): not a "
			   "name of realm %s",
			   op->a.service, (unsigned)req->uid, hctx->realm);
		sectx_pam_reply(req, SECTX_PAM_USER_UNKNOWN, 0, NULL, NULL, NULL);
		return 0;
	}
	/* the throttle is checked as the attempt starts, on the loop */
	op->client_until = sectx_pam_client_deadline(req);
	op->delay = tevent_add_timer(hctx->ev, op, tevent_timeval_current(), gss_auth_start, op);
	return op->delay != NULL ? 0 : SECTX_E_INTERNAL;
}

static const struct sectx_op_def pam_gss_ops[] = {
    {SECTX_OP_PAM_GSS_AUTH, SECTX_SOCK_PAM, false, op_pam_gss_auth},
};
const struct sectx_op_table sectxd_pam_gss_ops = SECTX_OP_TABLE(pam_gss_ops);
