/*
 * ops/ctx.c - security contexts on behalf of local services: accept and
 * init steps, wrap/unwrap, MICs and release (protocol in common/proto.h,
 * tags 0x0301-0x033f), over common/gss_ctx.c.
 *
 * Who can reach this: any local process, through pam.sock.  A request names
 * a [service/NAME] section; root and the uids its `uid` key lists may use it,
 * everyone else gets E_PERM before anything else happens.  What they can make
 * the helper do:
 *  - accept: run GSS-API acceptor legs on tokens they send, with the keys of
 *    the [kerberos] keytab that the service's `principal` names (any key if
 *    empty), by the service's `mechs` only (SPNEGO restricted to them), and
 *    learn the authenticated peer name and flags.  The keytab itself never
 *    leaves the helper; delegated credentials are kept only with
 *    allow_delegation and are never handed out.
 *  - init: initiate a context to SERVICE@HOST with Kerberos credentials from
 *    a ccache they pass as an open descriptor (SCM_RIGHTS).  The helper never
 *    opens a path from a request: it fstat()s the descriptor, requires a
 *    regular file of at most SECTX_CCACHE_FILE_MAX bytes owned by the caller
 *    (root may pass anyone's and then acts as its owner), reads it with pread
 *    (no blocking on a FIFO, no following of links) and loads it into a
 *    MEMORY ccache of its own that dies with the context.  So a caller can
 *    only ever use tickets it could already read.  Root may instead name a
 *    login HANDLE (sessions/sessions.h): the TGT of a login it has just made, copied,
 *    the handle left as it was.  The helper names the target service
 *    principal SERVICE/HOST@REALM itself (the helper's realm, no DNS: a
 *    caller's host name never reaches a resolver) and never asks for
 *    delegation (forwarding a TGT would be a KDC exchange inside libgssapi,
 *    off the loop's deadline): GSS_C_DELEG_FLAG is always dropped.
 *  - protect and check messages with contexts of its own connection.
 * Contexts belong to the connection that made them (a slot of the
 * connection, freed with it), at most [sectxd] max_contexts_per_connection
 * at once, and at most max_contexts_per_uid for one caller uid over all its
 * connections (an init context holds a copy of a passed ccache); a handle
 * means nothing on another connection.  Every context
 * event is logged in one line (service, uid, mechanism, peer, result); tokens
 * and messages never are.
 *
 * The loop never waits on a KDC: before the first init leg the service
 * ticket is fetched by a TGS exchange on the loop (sectx_tgs_send, bounded
 * by [kerberos] kdc_timeout) into the context's MEMORY ccache, where
 * gss_init_sec_context then finds it.
 *
 * This file holds the operations and their replies; the [service/NAME]
 * checks and the credential sources are ctx_policy.c, the entries of each
 * connection and their accounting (the contexts subsystem) ctx_state.c.
 */
#include <errno.h>
#include <gssapi/gssapi.h>
#include <krb5.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "gss_ctx.h"
#include "log.h"
#include "login/login.h"
#include "ops/ctx_int.h"
#include "ops/ops.h"
#include "server/server.h"

#define SECTX_CTX_DATA_MAX (64u * 1024u)      /* bytes of a message to wrap or sign */
#define CTX_REASON_MAX	   512u		      /* bytes of a reason sent in MESSAGE */
#define CTX_LOG_NAME_MAX   256u		      /* bytes of a peer name in a log line */
#define CTX_RCACHE_FILE	   "contexts.rcache2" /* acceptors' replay cache, in state_dir */

/* Flags a caller may ask an initiator for; anything else is dropped. */
#define CTX_FLAGS_KNOWN                                                                            \
	(GSS_C_DELEG_FLAG | GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG |          \
	 GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG | GSS_C_DELEG_POLICY_FLAG)
#define CTX_FLAGS_DEFAULT                                                                          \
	(GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_CONF_FLAG |           \
	 GSS_C_INTEG_FLAG)

/* --- replies ------------------------------------------------------------------ */

/* Make s safe for a MESSAGE field and a log: printable ASCII only. */
static void make_printable(char *s)
{
	for (char *p = s; p != NULL && *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
			*p = '?';
		}
	}
}

/* text made safe for a MESSAGE field, bounded; a child of mem_ctx. */
static char *reason_text(TALLOC_CTX *mem_ctx, const char *text)
{
	char *s = talloc_strndup(mem_ctx, text != NULL ? text : "unknown failure", CTX_REASON_MAX);

	make_printable(s);
	return s;
}

/* Reply with status and msg (made safe).  msg may be a child of req: it is
 * copied first, as replying frees req (ctx_int.h). */
void ctx_reply_status(struct sectx_request *req, uint32_t status, const char *msg)
{
	char m[CTX_REASON_MAX + 1];

	if (msg != NULL) {
		snprintf(m, sizeof(m), "%s", msg);
		make_printable(m);
	}
	sectx_request_reply_status(req, status, msg != NULL ? m : NULL);
}

static const char *role_name(enum sectx_ctx_role role)
{
	return role == SECTX_ROLE_INITIATOR ? "init" : "accept";
}

/* One log line for a context that completed or failed (ctx_int.h). */
void ctx_log_event(const struct ctx_entry *e, const struct sectx_ctx_info *info, const char *result)
{
	char peer[CTX_LOG_NAME_MAX], why[CTX_REASON_MAX + 64], as[SECTX_NAME_MAX + 16] = "";
	const char *p = info != NULL ? info->peer_name : "";

	sectx_log_escape(p, strlen(p), peer, sizeof(peer));
	sectx_log_escape(result, strlen(result), why, sizeof(why));
	if (e->as_user != NULL) {
		snprintf(as, sizeof(as), " as user ");
		sectx_log_escape(e->as_user, strlen(e->as_user), as + strlen(as),
				 sizeof(as) - strlen(as));
	} else if (e->as_uid != e->uid) {
		snprintf(as, sizeof(as), " as uid %u", (unsigned)e->as_uid);
	}
	sectx_log(
	    info != NULL ? SECTX_LOG_INFO : SECTX_LOG_WARNING,
	    "context %s: service %s uid %u%s mech %s%s peer %s: %s", role_name(e->role), e->service,
	    (unsigned)e->uid, as, info != NULL ? sectx_mech_name(info->mech) : "-",
	    info != NULL && info->via_spnego ? " (spnego)" : "", peer[0] != '\0' ? peer : "-", why);
}

/* Reply to a step: handle, state, token, and on COMPLETE the description.
 * On FAILED the entry is freed after logging. */
static void reply_step(struct sectx_request *req, struct ctx_entry *e, enum sectx_ctx_state st,
		       const uint8_t *tok, size_t toklen, const char *reason)
{
	struct sectx_ctx_info info;
	struct sectx_wbuf w;

	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		if (st == SECTX_CTX_FAILED) {
			talloc_free(e);
		}
		sectx_request_reply_status(req, SECTX_E_INTERNAL, NULL);
		return;
	}
	sectx_put_u32(&w, SECTX_TAG_CTX_HANDLE, e->id);
	sectx_put_u32(&w, SECTX_TAG_CTX_STATE, st);
	if (toklen > 0) {
		sectx_put_bytes(&w, SECTX_TAG_TOKEN, tok, toklen);
	}
	if (st == SECTX_CTX_COMPLETE && sectx_gss_info(e->gss, &info) == 0) {
		sectx_put_string(&w, SECTX_TAG_MECH, sectx_mech_name(info.mech));
		sectx_put_u32(&w, SECTX_TAG_CTX_FLAGS, info.ret_flags);
		sectx_put_u32(&w, SECTX_TAG_MUTUAL, info.mutual ? 1 : 0);
		sectx_put_string(&w, SECTX_TAG_PEER_NAME, info.peer_name);
		sectx_put_string(&w, SECTX_TAG_LOCAL_NAME, info.local_name);
		sectx_put_u32(&w, SECTX_TAG_LIFETIME, info.lifetime);
		ctx_log_event(e, &info, info.mutual ? "complete, mutual" : "complete, not mutual");
	} else if (st == SECTX_CTX_FAILED) {
		char *m = reason_text(req, reason);

		sectx_put_string(&w, SECTX_TAG_MESSAGE, m != NULL ? m : "failed");
		ctx_log_event(e, NULL, m != NULL ? m : "failed");
		talloc_free(e);
	} else {
		SECTX_DEBUG("context %s: service %s uid %u handle %u continues", role_name(e->role),
			    e->service, (unsigned)e->uid, (unsigned)e->id);
	}
	sectx_request_reply(req, &w);
}

/* Run one leg on e with the request's TOKEN (optional for an initiator's
 * first leg) and reply. */
static void step_and_reply(struct sectx_request *req, struct ctx_entry *e, bool token_required)
{
	const uint8_t *in = NULL;
	size_t inlen = 0;
	uint8_t *out = NULL;
	size_t outlen = 0;
	char *reason = NULL;
	enum sectx_ctx_state st;
	int ret;

	ret = sectx_msg_get_bytes(&req->msg, SECTX_TAG_TOKEN, &in, &inlen);
	if (ret != 0 && (token_required || ret != SECTX_ERR_NOFIELD)) {
		ctx_reply_status(req, SECTX_E_PROTO, "TOKEN: missing or given twice");
		return;
	}
	st = sectx_gss_step(e->gss, in, inlen, req, &out, &outlen, &reason);
	reply_step(req, e, st, out, outlen, reason);
}

/* --- accept --------------------------------------------------------------------- */

/* An accept leg whose caller may use service name (ctx_authorise). */
static void accept_authorised(struct sectx_request *req, const struct sectx_config_service *svc,
			      const char *name)
{
	struct sectx_gss_acceptor_args args;
	struct ctx_entry *e;
	const char *why = NULL;
	char *reason = NULL;
	uint32_t id, status;
	int ret;

	if (req->uid != 0 && svc->principal[0] == '\0') {
		/* no principal would let the service accept with any key of the
		 * keytab, the host key included: root only */
		sectx_request_log_refusal(
		    req,
		    "context accept: service %s names no principal; uid %u refused (only "
		    "root may accept with any keytab key)",
		    name, (unsigned)req->uid);
		ctx_reply_status(req, SECTX_E_PERM, "this service names no principal: root only");
		return;
	}
	ret = sectx_msg_get_u32(&req->msg, SECTX_TAG_CTX_HANDLE, &id);
	if (ret == 0) {
		e = ctx_entry_find(req, id);
		if (e == NULL || e->role != SECTX_ROLE_ACCEPTOR || strcmp(e->service, name) != 0) {
			ctx_reply_status(
			    req, SECTX_E_NOTFOUND,
			    "no such acceptor context for this service on this connection");
			return;
		}
		step_and_reply(req, e, true);
		return;
	}
	if (ret != SECTX_ERR_NOFIELD) {
		ctx_reply_status(req, SECTX_E_PROTO, "CTX_HANDLE: invalid");
		return;
	}

	e = ctx_entry_new(req, SECTX_ROLE_ACCEPTOR, name, &status, &why);
	if (e == NULL) {
		SECTX_WARN("context accept: service %s uid %u: %s", name, (unsigned)req->uid, why);
		ctx_reply_status(req, status, status == SECTX_E_BUSY ? why : NULL);
		return;
	}
	memset(&args, 0, sizeof(args));
	args.keytab = req->hctx->cfg->kerberos.keytab;
	args.principal = svc->principal;
	args.ntlm_user_file = svc->ntlm_user_file;
	args.allowed = ctx_service_mechs(svc);
	args.keep_delegated = svc->allow_delegation;
	/* Replays are remembered in the helper's own 0700 state directory, not
	 * in a root-owned file of /var/tmp that a user could have planted. */
	args.rcache =
	    talloc_asprintf(e, "file2:%s/" CTX_RCACHE_FILE, req->hctx->cfg->sectxd.state_dir);
	ret = sectx_gss_acceptor_new_with(e, &args, &e->gss, &reason);
	if (ret != 0) {
		char *m = reason_text(req, reason);

		ctx_log_event(e, NULL, m != NULL ? m : "cannot set up the acceptor");
		talloc_free(e);
		ctx_reply_status(req, ret == -EINVAL ? SECTX_E_INVAL : SECTX_E_UNAVAIL, m);
		return;
	}
	step_and_reply(req, e, true);
}

static int op_accept_step(struct sectx_request *req)
{
	ctx_authorise(req, accept_authorised);
	return 0;
}

/* --- init ------------------------------------------------------------------------ */
/* A first init leg waiting for its service ticket; a child of the request. */
struct init_state {
	struct sectx_request *req;
	struct ctx_entry *e;
	char *target;	 /* SERVICE@HOST, as the caller named it */
	char *principal; /* SERVICE/HOST@REALM: what the context initiates to */
	unsigned mech;
	uint32_t flags;
};

static void init_tgs_done(struct tevent_req *subreq);

/* The first init leg: SERVICE TARGET [MECH] [CTX_FLAGS] and a descriptor.
 * Replies now on any error, or later from init_tgs_done. */
static void init_first(struct sectx_request *req, const struct sectx_config_service *svc,
		       const char *name)
{
	char target[SECTX_NAME_MAX + 1], mechname[16];
	struct init_state *st = NULL;
	struct tevent_req *subreq;
	krb5_principal server = NULL;
	char *host, *unparsed = NULL;
	krb5_error_code kret;
	unsigned allowed = ctx_service_mechs(svc), mech;
	uint32_t flags = CTX_FLAGS_DEFAULT;
	struct ctx_entry *e = NULL;
	struct sectx_field tokf;
	int fd = sectx_request_take_fd(req);
	int ret;

	ret = sectx_msg_get_string(&req->msg, SECTX_TAG_TARGET, target, sizeof(target),
				   SECTX_NAME_MAX);
	if (ret != 0 || strchr(target, '@') == NULL) {
		ctx_reply_status(req, SECTX_E_PROTO, "TARGET: missing or not SERVICE@HOST");
		goto done;
	}
	ret = sectx_msg_get_string(&req->msg, SECTX_TAG_MECH, mechname, sizeof(mechname),
				   sizeof(mechname) - 1);
	if (ret == SECTX_ERR_NOFIELD) {
		mech = (allowed & SECTX_MECH_KRB5) != 0 ? SECTX_MECH_KRB5 : SECTX_MECH_SPNEGO;
	} else if (ret != 0 || (mech = sectx_mech_from_name(mechname)) == 0) {
		ctx_reply_status(req, SECTX_E_INVAL, "MECH: not krb5, spnego or ntlm");
		goto done;
	}
	if ((allowed & mech) == 0) {
		ctx_reply_status(req, SECTX_E_PERM,
				 "this mechanism is not allowed for this service");
		goto done;
	}
	if (mech == SECTX_MECH_NTLM ||
	    (mech == SECTX_MECH_SPNEGO && (allowed & SECTX_MECH_KRB5) == 0)) {
		ctx_reply_status(req, SECTX_E_INVAL,
				 "the helper initiates with Kerberos credentials only (krb5 or "
				 "spnego with krb5 allowed)");
		goto done;
	}
	ret = sectx_msg_get_u32(&req->msg, SECTX_TAG_CTX_FLAGS, &flags);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		ctx_reply_status(req, SECTX_E_PROTO, "CTX_FLAGS: invalid");
		goto done;
	}
	flags &= CTX_FLAGS_KNOWN;
	if ((flags & (GSS_C_DELEG_FLAG | GSS_C_DELEG_POLICY_FLAG)) != 0) {
		/* libgssapi would fetch a forwarded TGT from the KDC inside
		 * gss_init_sec_context, blocking the loop: never. */
		SECTX_DEBUG("context init: service %s uid %u asked for delegation: dropped", name,
			    (unsigned)req->uid);
		flags &= ~(uint32_t)(GSS_C_DELEG_FLAG | GSS_C_DELEG_POLICY_FLAG);
	}
	if (sectx_msg_find(&req->msg, SECTX_TAG_TOKEN, &tokf) != SECTX_ERR_NOFIELD) {
		ctx_reply_status(req, SECTX_E_PROTO, "a first init step carries no TOKEN");
		goto done;
	}

	e = ctx_init_entry(req, name, fd);
	if (e == NULL) {
		goto done;
	}
	st = talloc_zero(req, struct init_state);
	if (st == NULL || (st->target = talloc_strdup(st, target)) == NULL) {
		talloc_free(e);
		ctx_reply_status(req, SECTX_E_INTERNAL, NULL);
		goto done;
	}
	st->req = req;
	st->e = e;
	st->mech = mech;
	st->flags = flags;
	/* The service ticket first, on the loop (see the file header), for
	 * SERVICE/HOST in the helper's realm, built without DNS; the context
	 * initiates to exactly that principal, so it finds this ticket. */
	host = strchr(target, '@');
	*host++ = '\0';
	if (target[0] == '\0' || host[0] == '\0' || strchr(target, '/') != NULL ||
	    strpbrk(host, "@/") != NULL) {
		kret = KRB5_PARSE_MALFORMED;
	} else {
		kret = krb5_build_principal(e->kctx, &server, (unsigned)strlen(req->hctx->realm),
					    req->hctx->realm, target, host, (char *)NULL);
	}
	if (kret == 0) {
		kret = krb5_unparse_name(e->kctx, server, &unparsed);
	}
	if (kret == 0) {
		st->principal = talloc_strdup(st, unparsed);
		krb5_free_unparsed_name(e->kctx, unparsed);
		kret = st->principal != NULL ? 0 : ENOMEM;
	}
	if (kret != 0) {
		krb5_free_principal(e->kctx, server);
		ctx_log_event(e, NULL, "invalid target");
		talloc_free(e);
		ctx_reply_status(req, SECTX_E_INVAL, "TARGET: not a valid SERVICE@HOST");
		goto done;
	}
	subreq =
	    sectx_tgs_send(st, req->hctx->ev, req->hctx->krb5, e->mcc, server,
			   sectx_deadline_after((int64_t)req->hctx->cfg->kerberos.kdc_timeout_ms));
	krb5_free_principal(e->kctx, server);
	if (subreq == NULL) {
		talloc_free(e);
		ctx_reply_status(req, SECTX_E_INTERNAL, NULL);
		goto done;
	}
	tevent_req_set_callback(subreq, init_tgs_done, st);
done:
	if (fd >= 0) {
		close(fd);
	}
}

/* The service ticket is in the context's ccache (or not): start the GSS
 * initiator on it and run its first leg. */
static void init_tgs_done(struct tevent_req *subreq)
{
	struct init_state *st = tevent_req_callback_data(subreq, struct init_state);
	struct sectx_request *req = st->req;
	struct ctx_entry *e = st->e;
	char ccname[128];
	char *reason = NULL;
	krb5_error_code kret = 0;
	int ret;

	ret = sectx_tgs_recv(subreq, &kret);
	TALLOC_FREE(subreq);
	if (ret != 0 && ret != -EIO) {
		char *m = talloc_asprintf(req, "no KDC answered: %s", strerror(-ret));

		ctx_log_event(e, NULL, m != NULL ? m : "no KDC answered");
		talloc_free(e);
		ctx_reply_status(req, SECTX_E_UNAVAIL, m);
		return;
	}
	if (kret != 0) {
		const char *kmsg = krb5_get_error_message(e->kctx, kret);

		reason = talloc_asprintf(req, "cannot get a ticket for %s: %s", st->target, kmsg);
		krb5_free_error_message(e->kctx, kmsg);
		reply_step(req, e, SECTX_CTX_FAILED, NULL, 0, reason);
		return;
	}
	snprintf(ccname, sizeof(ccname), "MEMORY:%s", krb5_cc_get_name(e->kctx, e->mcc));
	ret = sectx_gss_initiator_new_with(e, ccname, st->principal, st->mech, SECTX_MECH_KRB5,
					   st->flags, &e->gss, &reason);
	if (ret != 0) {
		char *m = reason_text(req, reason);

		ctx_log_event(e, NULL, m != NULL ? m : "cannot set up the initiator");
		talloc_free(e);
		ctx_reply_status(req, ret == -ENOENT ? SECTX_E_INVAL : SECTX_E_INTERNAL, m);
		return;
	}
	step_and_reply(req, e, false);
}

static int op_init_step(struct sectx_request *req)
{
	struct ctx_entry *e;
	uint32_t id;
	int ret;

	ret = sectx_msg_get_u32(&req->msg, SECTX_TAG_CTX_HANDLE, &id);
	if (ret == SECTX_ERR_NOFIELD) {
		ctx_authorise(req, init_first);
		return 0;
	}
	if (ret != 0) {
		ctx_reply_status(req, SECTX_E_PROTO, "CTX_HANDLE: invalid");
		return 0;
	}
	e = ctx_entry_find(req, id);
	if (e == NULL || e->role != SECTX_ROLE_INITIATOR) {
		ctx_reply_status(req, SECTX_E_NOTFOUND,
				 "no such initiator context on this connection");
		return 0;
	}
	step_and_reply(req, e, true);
	return 0;
}

/* --- messages ------------------------------------------------------------------- */

/* The entry named by CTX_HANDLE, or NULL after replying. */
static struct ctx_entry *handle_arg(struct sectx_request *req)
{
	struct ctx_entry *e;
	uint32_t id;

	if (sectx_msg_get_u32(&req->msg, SECTX_TAG_CTX_HANDLE, &id) != 0) {
		ctx_reply_status(req, SECTX_E_PROTO, "CTX_HANDLE: missing or invalid");
		return NULL;
	}
	e = ctx_entry_find(req, id);
	if (e == NULL) {
		ctx_reply_status(req, SECTX_E_NOTFOUND, "no such context on this connection");
	}
	return e;
}

/* A required bytes field of at most max bytes, or false after replying. */
static bool bytes_arg(struct sectx_request *req, uint16_t tag, size_t max, const uint8_t **p,
		      size_t *len)
{
	if (sectx_msg_get_bytes(&req->msg, tag, p, len) != 0) {
		ctx_reply_status(req, SECTX_E_PROTO,
				 tag == SECTX_TAG_DATA ? "DATA: missing or given twice"
						       : "TOKEN: missing or given twice");
		return false;
	}
	if (*len > max) {
		ctx_reply_status(req, SECTX_E_INVAL, "message too large");
		return false;
	}
	return true;
}

/* Reply to a failed message call: the mechanism's reason. */
static void reply_msg_error(struct sectx_request *req, struct ctx_entry *e, const char *what,
			    int ret, const char *reason)
{
	char *m = reason_text(req, reason);
	char esc[CTX_REASON_MAX + 64];

	sectx_log_escape(m != NULL ? m : "", m != NULL ? strlen(m) : 0, esc, sizeof(esc));
	SECTX_INFO("context %s: service %s uid %u handle %u: %s refused: %s", role_name(e->role),
		   e->service, (unsigned)e->uid, (unsigned)e->id, what, esc);
	ctx_reply_status(req, ret == -EBADMSG || ret == -EAGAIN ? SECTX_E_INVAL : SECTX_E_INTERNAL,
			 m);
}

static int op_wrap(struct sectx_request *req)
{
	struct ctx_entry *e = handle_arg(req);
	const uint8_t *data;
	size_t len, outlen;
	uint8_t *out;
	uint32_t conf = 1;
	bool applied;
	char *reason = NULL;
	struct sectx_wbuf w;
	int ret;

	if (e == NULL || !bytes_arg(req, SECTX_TAG_DATA, SECTX_CTX_DATA_MAX, &data, &len)) {
		return 0;
	}
	ret = sectx_msg_get_u32(&req->msg, SECTX_TAG_CONF, &conf);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		ctx_reply_status(req, SECTX_E_PROTO, "CONF: invalid");
		return 0;
	}
	ret = sectx_gss_wrap(e->gss, conf != 0, data, len, req, &out, &outlen, &applied, &reason);
	if (ret != 0) {
		reply_msg_error(req, e, "wrap", ret, reason);
		return 0;
	}
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	sectx_put_bytes(&w, SECTX_TAG_TOKEN, out, outlen);
	sectx_put_u32(&w, SECTX_TAG_CONF, applied ? 1 : 0);
	sectx_request_reply(req, &w);
	return 0;
}

static int op_unwrap(struct sectx_request *req)
{
	struct ctx_entry *e = handle_arg(req);
	const uint8_t *tok;
	size_t len, outlen;
	uint8_t *out;
	bool applied;
	char *reason = NULL;
	struct sectx_wbuf w;
	int ret;

	if (e == NULL || !bytes_arg(req, SECTX_TAG_TOKEN, SECTX_FRAME_MAX, &tok, &len)) {
		return 0;
	}
	ret = sectx_gss_unwrap(e->gss, tok, len, req, &out, &outlen, &applied, &reason);
	if (ret != 0) {
		reply_msg_error(req, e, "unwrap", ret, reason);
		return 0;
	}
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		explicit_bzero(out, outlen);
		return SECTX_E_INTERNAL;
	}
	sectx_put_bytes(&w, SECTX_TAG_DATA, out, outlen);
	sectx_put_u32(&w, SECTX_TAG_CONF, applied ? 1 : 0);
	explicit_bzero(out, outlen);
	sectx_request_reply(req, &w);
	return 0;
}

static int op_get_mic(struct sectx_request *req)
{
	struct ctx_entry *e = handle_arg(req);
	const uint8_t *data;
	size_t len, miclen;
	uint8_t *mic;
	char *reason = NULL;
	struct sectx_wbuf w;
	int ret;

	if (e == NULL || !bytes_arg(req, SECTX_TAG_DATA, SECTX_CTX_DATA_MAX, &data, &len)) {
		return 0;
	}
	ret = sectx_gss_get_mic(e->gss, data, len, req, &mic, &miclen, &reason);
	if (ret != 0) {
		reply_msg_error(req, e, "get_mic", ret, reason);
		return 0;
	}
	if (sectx_request_reply_begin(req, SECTX_FRAME_MAX, &w) != 0) {
		return SECTX_E_INTERNAL;
	}
	sectx_put_bytes(&w, SECTX_TAG_TOKEN, mic, miclen);
	sectx_request_reply(req, &w);
	return 0;
}

static int op_verify_mic(struct sectx_request *req)
{
	struct ctx_entry *e = handle_arg(req);
	const uint8_t *data, *mic;
	size_t len, miclen;
	char *reason = NULL;
	int ret;

	if (e == NULL || !bytes_arg(req, SECTX_TAG_DATA, SECTX_CTX_DATA_MAX, &data, &len) ||
	    !bytes_arg(req, SECTX_TAG_TOKEN, SECTX_FRAME_MAX, &mic, &miclen)) {
		return 0;
	}
	ret = sectx_gss_verify_mic(e->gss, data, len, mic, miclen, req, &reason);
	if (ret != 0) {
		reply_msg_error(req, e, "verify_mic", ret, reason);
		return 0;
	}
	sectx_request_reply_status(req, SECTX_OK, NULL);
	return 0;
}

static int op_release(struct sectx_request *req)
{
	struct ctx_entry *e = handle_arg(req);

	if (e == NULL) {
		return 0;
	}
	SECTX_DEBUG("context %s: service %s uid %u handle %u released", role_name(e->role),
		    e->service, (unsigned)e->uid, (unsigned)e->id);
	talloc_free(e);
	sectx_request_reply_status(req, SECTX_OK, NULL);
	return 0;
}

static const struct sectx_op_def ctx_ops[] = {
    {SECTX_OP_CTX_ACCEPT_STEP, SECTX_SOCK_PAM, false, op_accept_step},
    {SECTX_OP_CTX_INIT_STEP, SECTX_SOCK_PAM, false, op_init_step},
    {SECTX_OP_CTX_WRAP, SECTX_SOCK_PAM, false, op_wrap},
    {SECTX_OP_CTX_UNWRAP, SECTX_SOCK_PAM, false, op_unwrap},
    {SECTX_OP_CTX_GET_MIC, SECTX_SOCK_PAM, false, op_get_mic},
    {SECTX_OP_CTX_VERIFY_MIC, SECTX_SOCK_PAM, false, op_verify_mic},
    {SECTX_OP_CTX_RELEASE, SECTX_SOCK_PAM, false, op_release},
};
const struct sectx_op_table sectxd_ctx_ops = SECTX_OP_TABLE(ctx_ops);
