/*
 * ops/ctx_policy.c - the contexts operation group's policy: which
 * [service/NAME] a request names, whether its caller's uid may use it
 * (root always; else listed by its `uid` key, by name or number), which
 * mechanisms it allows, and where an initiator's credentials come from: a
 * ccache the caller passes as an open descriptor, or (root only) the TGT of
 * a login handle.
 *
 * Who can reach this: any local process, through pam.sock, by way of the
 * context operations (ctx.c).  What they can make it do: local passwd
 * lookups of the names a service lists; read a ccache descriptor they pass
 * (a regular file of at most SECTX_CCACHE_FILE_MAX bytes owned by the
 * caller; root may pass anyone's and then acts as its owner) into a MEMORY
 * ccache (login/ccache_fd.c); root: copy the TGT of a login handle.  The
 * passwd lookups run on the account resolver's threads
 * (identity/account.c), never on the loop; the request waits for them.
 *
 * It must never open a path from a request, let a non-root caller use a
 * login handle or a ccache of another uid, or let a uid the service does
 * not list use it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "identity/identity.h"
#include "log.h"
#include "login/ccache_fd.h"
#include "login/login.h"
#include "ops/ctx_int.h"
#include "sessions/sessions.h"

/* --- [service/NAME] ----------------------------------------------------------- */

static const struct sectx_config_service *service_find(const struct sectx_config *cfg,
						       const char *name)
{
	for (size_t i = 0; i < cfg->n_services; i++) {
		if (strcmp(cfg->services[i].name, name) == 0) {
			return &cfg->services[i];
		}
	}
	return NULL;
}

/* A name of a service's `uid` key, looked up. */
struct authz_known {
	char *entry;
	bool found; /* the local passwd database has it */
	uid_t uid;
};

/* One request being authorised for its service: the names of the
 * service's `uid` key looked up so far (a child of the request). */
struct authz_state {
	struct sectx_request *req;
	ctx_authorised_fn next;
	char name[SECTX_CONFIG_SERVICE_NAME_MAX + 1];
	char *pending; /* the name being looked up */
	struct authz_known *known;
	size_t n_known;
};

enum authz_answer { AUTHZ_YES, AUTHZ_NO, AUTHZ_LOOKUP };

static const struct authz_known *authz_find(const struct authz_state *a, const char *entry)
{
	for (size_t i = 0; i < a->n_known; i++) {
		if (strcmp(a->known[i].entry, entry) == 0) {
			return &a->known[i];
		}
	}
	return NULL;
}

/* May uid use svc?  Root always; others if listed by name or number: each
 * entry in turn, as far as the names looked up so far tell.  AUTHZ_LOOKUP
 * with *lookup the first name of the list whose uid is not known yet. */
static enum authz_answer service_allows_uid(const struct sectx_config_service *svc, uid_t uid,
					    const struct authz_state *a, const char **lookup)
{
	if (uid == 0) {
		return AUTHZ_YES;
	}
	for (size_t i = 0; i < svc->n_uid; i++) {
		const char *entry = svc->uid[i];
		char *end = NULL;
		unsigned long n;

		if (entry[0] >= '0' && entry[0] <= '9') {
			errno = 0;
			n = strtoul(entry, &end, 10);
			if (errno == 0 && *end == '\0' && n == (unsigned long)uid) {
				return AUTHZ_YES;
			}
		} else {
			const struct authz_known *k = authz_find(a, entry);

			if (k == NULL) {
				*lookup = entry;
				return AUTHZ_LOOKUP;
			}
			if (k->found && k->uid == uid) {
				return AUTHZ_YES;
			}
		}
	}
	return AUTHZ_NO;
}

static void authz_looked_up(struct tevent_req *subreq);

/* Find a's service in the current config and decide, looking the next name
 * up if need be (then again from the start, the config as it is then). */
static void authz_step(struct authz_state *a)
{
	struct sectx_request *req = a->req;
	const struct sectx_config_service *svc;
	const char *lookup = NULL;
	struct tevent_req *subreq;

	svc = service_find(req->hctx->cfg, a->name);
	if (svc == NULL) {
		sectx_request_log_refusal(req, "context refused: no [service/%s] (uid %u)", a->name,
					  (unsigned)req->uid);
		ctx_reply_status(req, SECTX_E_NOTFOUND, "no such service");
		return;
	}
	switch (service_allows_uid(svc, req->uid, a, &lookup)) {
	case AUTHZ_YES:
		a->next(req, svc, a->name);
		return;
	case AUTHZ_NO:
		sectx_request_log_refusal(req, "context refused: uid %u may not use service %s",
					  (unsigned)req->uid, a->name);
		ctx_reply_status(req, SECTX_E_PERM, "this uid may not use this service");
		return;
	case AUTHZ_LOOKUP:
		break;
	}
	talloc_free(a->pending);
	a->pending = talloc_strdup(a, lookup);
	subreq = a->pending != NULL ? identity_local_account_send(a, req->hctx, a->pending) : NULL;
	if (subreq == NULL) {
		ctx_reply_status(req, SECTX_E_INTERNAL, NULL);
		return;
	}
	tevent_req_set_callback(subreq, authz_looked_up, a);
}

static void authz_looked_up(struct tevent_req *subreq)
{
	struct authz_state *a = tevent_req_callback_data(subreq, struct authz_state);
	struct identity_account *acct = NULL;
	struct authz_known *k;
	int ret;

	ret = identity_local_account_recv(subreq, a, &acct);
	TALLOC_FREE(subreq);
	if (ret == -ETIMEDOUT || ret == -EBUSY || ret == -ECANCELED) {
		SECTX_WARN("context for uid %u: cannot tell whether service %s lists it: user %s: "
			   "%s",
			   (unsigned)a->req->uid, a->name, a->pending,
			   ret == -ETIMEDOUT ? "the passwd database did not answer in time"
			   : ret == -EBUSY   ? "too many account lookups waiting"
					     : strerror(-ret));
		ctx_reply_status(a->req, SECTX_E_UNAVAIL, "the passwd database did not answer");
		return;
	}
	k = talloc_realloc(a, a->known, struct authz_known, a->n_known + 1);
	if (k == NULL) {
		ctx_reply_status(a->req, SECTX_E_INTERNAL, NULL);
		return;
	}
	a->known = k;
	k = &a->known[a->n_known++];
	k->entry = talloc_steal(a->known, a->pending);
	a->pending = NULL;
	/* not found, or any failure of the lookup: that name gives no uid */
	k->found = ret == 0;
	k->uid = ret == 0 ? acct->uid : 0;
	talloc_free(acct);
	authz_step(a);
}

/* The SECTX_MECH_* set svc allows (ctx_int.h). */
unsigned ctx_service_mechs(const struct sectx_config_service *svc)
{
	unsigned set = 0;

	for (size_t i = 0; i < svc->n_mechs; i++) {
		set |= sectx_mech_from_name(svc->mechs[i]);
	}
	return set;
}

/* Parse SERVICE, find it and authorise the caller, then run next; replies
 * if refused (ctx_int.h). */
void ctx_authorise(struct sectx_request *req, ctx_authorised_fn next)
{
	struct authz_state *a = talloc_zero(req, struct authz_state);
	int ret;

	if (a == NULL) {
		ctx_reply_status(req, SECTX_E_INTERNAL, NULL);
		return;
	}
	a->req = req;
	a->next = next;
	ret = sectx_msg_get_string(&req->msg, SECTX_TAG_SERVICE, a->name, sizeof(a->name),
				   SECTX_CONFIG_SERVICE_NAME_MAX);
	if (ret != 0) {
		ctx_reply_status(req, SECTX_E_PROTO, "SERVICE: missing or invalid");
		return;
	}
	authz_step(a);
}

/* --- credential sources ------------------------------------------------------------ */

/* Copy the TGT of a login handle into a new MEMORY ccache of kctx. */
static krb5_error_code load_handle(krb5_context kctx, const struct sectx_handle *h,
				   krb5_ccache *out)
{
	krb5_ccache mcc = NULL;
	krb5_error_code kret;

	kret = krb5_cc_new_unique(kctx, "MEMORY", NULL, &mcc);
	if (kret == 0) {
		kret = krb5_cc_initialize(kctx, mcc, h->creds->client);
	}
	if (kret == 0) {
		kret = krb5_cc_store_cred(kctx, mcc, h->creds);
	}
	if (kret != 0 && mcc != NULL) {
		krb5_cc_destroy(kctx, mcc);
		mcc = NULL;
	}
	*out = mcc;
	return kret;
}

/*
 * A new initiator entry of the connection holding, in a MEMORY ccache of
 * its own, the credentials the request names: the ccache file open at fd
 * (checked here: a regular file of the caller, any owner for root, who then
 * acts as that owner), or, for root only, the TGT of a login HANDLE (a login
 * service initiating for the user it has just authenticated).  Returns the
 * entry, or NULL after replying (ctx_int.h).
 */
struct ctx_entry *ctx_init_entry(struct sectx_request *req, const char *name, int fd)
{
	char id[SECTX_HANDLE_LEN + 1];
	struct sectx_handle *h = NULL;
	struct ctx_entry *e;
	const char *why = NULL;
	uid_t file_uid = 0;
	uint32_t status;
	int ret;

	ret = sectx_msg_get_string(&req->msg, SECTX_TAG_HANDLE, id, sizeof(id), SECTX_HANDLE_LEN);
	if (ret != 0 && ret != SECTX_ERR_NOFIELD) {
		ctx_reply_status(req, SECTX_E_PROTO, "HANDLE: invalid");
		return NULL;
	}
	if (ret == 0) {
		if (fd >= 0) {
			ctx_reply_status(req, SECTX_E_INVAL,
					 "pass a ccache descriptor or a login HANDLE, not both");
			return NULL;
		}
		if (req->uid != 0) {
			sectx_request_log_refusal(
			    req,
			    "context init: service %s uid %u offered a login handle: refused "
			    "(root only)",
			    name, (unsigned)req->uid);
			ctx_reply_status(req, SECTX_E_PERM,
					 "only root may initiate with a login handle");
			return NULL;
		}
		h = sectx_handle_find(req->hctx, id);
		if (h == NULL || h->creds == NULL || h->expired) {
			ctx_reply_status(req, SECTX_E_NOTFOUND,
					 "no login handle with a TGT by that name");
			return NULL;
		}
	} else if (fd < 0) {
		ctx_reply_status(req, SECTX_E_INVAL, "pass the user's ccache as a descriptor");
		return NULL;
	}

	e = ctx_entry_new(req, SECTX_ROLE_INITIATOR, name, &status, &why);
	if (e == NULL) {
		SECTX_WARN("context init: service %s uid %u: %s", name, (unsigned)req->uid, why);
		ctx_reply_status(req, status, status == SECTX_E_BUSY ? why : NULL);
		return NULL;
	}
	e->kctx = req->hctx->krb5->ctx;
	if (h != NULL) {
		e->as_user = talloc_strdup(e, h->user);
		ret = load_handle(e->kctx, h, &e->mcc) == 0 && e->as_user != NULL ? 0 : -EIO;
		why = "cannot load the login's credentials";
	} else {
		/* a non-root caller initiates only as itself */
		ret = sectx_ccache_from_fd(e->kctx, fd, req->uid != 0 ? req->uid : SECTX_ANY_OWNER,
					   &e->mcc, &file_uid, &why);
		e->as_uid = file_uid;
		if (ret == -EPERM) {
			sectx_request_log_refusal(
			    req,
			    "context init: service %s uid %u passed a ccache owned by uid "
			    "%u: refused",
			    name, (unsigned)req->uid, (unsigned)file_uid);
		}
	}
	if (ret != 0) {
		ctx_log_event(e, NULL, why);
		talloc_free(e);
		ctx_reply_status(req,
				 ret == -EPERM			 ? SECTX_E_PERM
				 : ret == -ENOMEM || ret == -EIO ? SECTX_E_INTERNAL
								 : SECTX_E_INVAL,
				 why);
		return NULL;
	}
	return e;
}
