/*
 * sessions/sessions_query.c - the open sessions and login handles, for
 * sectxctl (tickets, status).
 *
 * Who reaches this: anyone through the TICKETS and status operations
 * (ops/); the operation passes only the caller's own sessions on to a
 * non-root caller.  What they can make it do: read the metadata of sessions
 * (user, ccache name, principal, times), never a ticket or a handle.
 */
#include <string.h>

#include "login/login.h"
#include "sessions/sessions.h"
#include "sessions/sessions_int.h"

static bool in_registry(const struct sectxd_renewal *rn, const struct sectx_handle *h)
{
	const struct renew_session *s;

	for (s = rn != NULL ? rn->head : NULL; s != NULL; s = s->next) {
		if (s->handle[0] != '\0' && strcmp(s->handle, h->id) == 0) {
			return true;
		}
	}
	return false;
}

size_t sectx_sessions_list(struct sectxd_ctx *hctx, sectx_session_fn fn, void *arg)
{
	const struct sectxd_renewal *rn = hctx->renewal;
	const struct renew_session *s;
	struct sectx_session_info si;
	struct sectx_handle *h;
	size_t n = 0;

	for (s = rn != NULL ? rn->head : NULL; s != NULL; s = s->next) {
		memset(&si, 0, sizeof(si));
		si.uid = s->uid;
		si.user = s->user;
		si.service = s->service;
		si.ccache = s->ccache;
		si.principal = s->principal;
		si.endtime = s->endtime;
		si.renew_till = s->renew_till;
		si.last_renewal = s->last_renewal;
		fn(arg, &si);
		n++;
	}
	/* sessions whose TGT is not renewed are known only by their handle */
	for (h = sectx_handles_head(hctx); h != NULL; h = h->next) {
		char *pname = NULL;

		if (!h->claimed || h->ccache == NULL || in_registry(rn, h)) {
			continue;
		}
		memset(&si, 0, sizeof(si));
		si.uid = h->uid;
		si.user = h->user;
		si.service = h->service;
		si.ccache = h->ccache;
		if (hctx->krb5 != NULL && h->principal != NULL &&
		    krb5_unparse_name(hctx->krb5->ctx, h->principal, &pname) != 0) {
			pname = NULL;
		}
		si.principal = pname != NULL ? pname : h->user;
		if (h->creds != NULL) {
			si.endtime = h->creds->times.endtime;
			si.renew_till = h->creds->times.renew_till;
		}
		fn(arg, &si);
		n++;
		if (pname != NULL) {
			krb5_free_unparsed_name(hctx->krb5->ctx, pname);
		}
	}
	return n;
}
