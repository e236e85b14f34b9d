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
 * ccache (login/ccache_fd.c); root: copy the TGT of a login handle.
 *
 * It must never open a path from a request, let a non-root caller use a
 * login handle or a ccache of another uid, or let a uid the service does
 * not list use it.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "login/ccache_fd.h"
#include "login/login.h"
#include "ops/ctx_int.h"
#include "sessions/sessions.h"

#define PW_BUF_MAX 16384u /* getpwnam_r buffer */

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

/* May uid use svc?  Root always; others if listed by name or number. */
static bool service_allows_uid(const struct sectx_config_service *svc, uid_t uid)
{
	if (uid == 0) {
		return true;
	}
	for (size_t i = 0; i < svc->n_uid; i++) {
		const char *entry = svc->uid[i];
		char *end = NULL;
		unsigned long n;

		if (entry[0] >= '0' && entry[0] <= '9') {
			errno = 0;
			n = strtoul(entry, &end, 10);
			if (errno == 0 && *end == '\0' && n == (unsigned long)uid) {
				return true;
			}
		} else {
			struct passwd pw, *res = NULL;
			char buf[PW_BUF_MAX];

			if (getpwnam_r(entry, &pw, buf, sizeof(buf), &res) == 0 && res != NULL &&
			    res->pw_uid == uid) {
				return true;
			}
		}
	}
	return false;
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

/* Parse SERVICE, find it and authorise the caller.  Replies and returns
 * NULL if refused (ctx_int.h). */
const struct sectx_config_service *ctx_authorise(struct sectx_request *req, char *name,
						 size_t namesz)
{
	const struct sectx_config_service *svc;
	int ret;

	ret = sectx_msg_get_string(&req->msg, SECTX_TAG_SERVICE, name, namesz,
				   SECTX_CONFIG_SERVICE_NAME_MAX);
	if (ret != 0) {
		ctx_reply_status(req, SECTX_E_PROTO, "SERVICE: missing or invalid");
		return NULL;
	}
	svc = service_find(req->hctx->cfg, name);
	if (svc == NULL) {
		SECTX_INFO("context refused: no [service/%s] (uid %u)", name, (unsigned)req->uid);
		ctx_reply_status(req, SECTX_E_NOTFOUND, "no such service");
		return NULL;
	}
	if (!service_allows_uid(svc, req->uid)) {
		SECTX_WARN("context refused: uid %u may not use service %s", (unsigned)req->uid,
			   name);
		ctx_reply_status(req, SECTX_E_PERM, "this uid may not use this service");
		return NULL;
	}
	return svc;
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
			SECTX_WARN(
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
			SECTX_WARN("context init: service %s uid %u passed a ccache owned by uid "
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
